#!/usr/bin/env bash
# Port creates through `nlab serve` (API + SQLite store, no kernel work):
# starts a server on a temp database on 127.0.0.1, runs bench/vnet_api.py.
# Usage: bench/vnet_api.sh [N] [CLIENTS]   (default 1000 10); no root needed.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
cargo build -q --bin nlab $([ "$profile" = release ] && echo --release)
work=$(mktemp -d /tmp/nlab-bench-vnet.XXXXXX)
chmod 0700 "$work"
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
"target/$profile/nlab" serve --listen 127.0.0.1:0 --db "$work/vnet.db" --users "$work/users.yaml" \
  > "$work/out" 2> "$work/err" &
server=$!
for _ in $(seq 100); do grep -q 'Neutron API on' "$work/out" 2>/dev/null && break; sleep 0.1; done
addr=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/out" | head -1)
token=$(awk '/^admin_token:/ {print $2}' "$work/users.yaml")
python3 bench/vnet_api.py "$addr" "$token" "${1:-1000}" "${2:-10}"
