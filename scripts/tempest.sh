#!/usr/bin/env bash
# Runs upstream Tempest's network API tests against `nlab serve` on a temp
# database and diffs the passing tests against tests/tempest/passing.txt:
# a test listed there that does not pass now fails this script (new passes
# are reported; add them with --update).
#
# Usage: scripts/tempest.sh [--update] [REGEX]
#        scripts/tempest.sh --prepare    (only make the venv; needs PyPI)
# The venv (tempest, python-openstackclient, openstacksdk from PyPI) is
# cached in target/venv-openstack and rebuilt when
# tests/tempest/requirements.txt changes. Needs no root and no namespace:
# the API is served on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
UPDATE=0
PREPARE=0
if [ "${1:-}" = --update ]; then UPDATE=1; shift; fi
if [ "${1:-}" = --prepare ]; then PREPARE=1; shift; fi
MODULES='test_networks|test_networks_negative|test_ports|test_routers|test_routers_negative|test_security_groups|test_security_groups_negative|test_floating_ips|test_floating_ips_negative|test_extensions|test_versions|test_allowed_address_pair'
REGEX="${1:-^tempest\.api\.network\.($MODULES)\.}"
EXTENSIONS=router,ext-gw-mode,extraroute,external-net,security-group,net-mtu,net-mtu-writable,allowed-address-pairs,port-security,binding,standard-attr-description,standard-attr-revisions,standard-attr-timestamp,project-id,pagination,sorting,subnet-external-network

VENV=$ROOT/target/venv-openstack
REQ=$ROOT/tests/tempest/requirements.txt
STAMP=$VENV/.requirements.sha256
want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/tempest" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "tempest.sh: building the venv $VENV (cached afterwards)"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || { echo "tempest.sh: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
  "$VENV/bin/pip" install -q -r "$REQ"
  echo "$want" > "$STAMP"
fi
[ "$PREPARE" = 1 ] && exit 0

cargo build -q --offline --bin nlab
WORK=$(mktemp -d /tmp/nlab-tempest.XXXXXX)
chmod 0700 "$WORK"
SERVER=
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  # The server built what Tempest left (its public network) in lab
  # `tempest`: that lab goes with the run (when run as root).
  "$ROOT/target/debug/nlab" down tempest >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

pw() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
ADMIN_TOKEN=$(pw); PA=$(pw); P1=$(pw); P2=$(pw); P3=$(pw); PR=$(pw)
( umask 077; cat > "$WORK/users.yaml" <<YAML
admin_token: $ADMIN_TOKEN
projects:
  - {id: $(pw)aaaaaaaa, name: admin}
  - {id: $(pw)11111111, name: demo1}
  - {id: $(pw)22222222, name: demo2}
  - {id: $(pw)33333333, name: demo3}
users:
  - {name: admin, password: $PA, project: admin, roles: [admin]}
  - {name: member1, password: $P1, project: demo1, roles: [member]}
  - {name: member2, password: $P2, project: demo2, roles: [member]}
  - {name: member3, password: $P3, project: demo3, roles: [member]}
  - {name: reader1, password: $PR, project: demo1, roles: [reader]}
  - {name: reader2, password: $PR, project: demo2, roles: [reader]}
  - {name: reader3, password: $PR, project: demo3, roles: [reader]}
YAML
)
"$ROOT/target/debug/nlab" serve --listen 127.0.0.1:0 --db "$WORK/vnet.db" --users "$WORK/users.yaml" \
  --lab tempest > "$WORK/serve.out" 2> "$WORK/serve.err" &
SERVER=$!
for _ in $(seq 100); do grep -q 'Neutron API on' "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
ADDR=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/serve.out" | head -1)
[ -n "$ADDR" ] || { echo "tempest.sh: nlab serve did not start:"; cat "$WORK/serve.err"; exit 1; }

api() { curl -sf -H "X-Auth-Token: $ADMIN_TOKEN" -H 'Content-Type: application/json' "$@"; }
PUBLIC=$(api -X POST "$ADDR/v2.0/networks" -d '{"network": {"name": "public", "router:external": true}}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["network"]["id"])')
api -X POST "$ADDR/v2.0/subnets" -d "{\"subnet\": {\"network_id\": \"$PUBLIC\", \"ip_version\": 4, \"cidr\": \"172.24.4.0/24\", \"name\": \"public-subnet\"}}" > /dev/null

cat > "$WORK/accounts.yaml" <<YAML
- {username: admin, project_name: admin, password: '$PA', roles: [admin], types: [admin]}
- {username: member1, project_name: demo1, password: '$P1', roles: [member]}
- {username: member2, project_name: demo2, password: '$P2', roles: [member]}
- {username: member3, project_name: demo3, password: '$P3', roles: [member]}
- {username: reader1, project_name: demo1, password: '$PR', roles: [reader]}
- {username: reader2, project_name: demo2, password: '$PR', roles: [reader]}
- {username: reader3, project_name: demo3, password: '$PR', roles: [reader]}
YAML
mkdir -p "$WORK/ws/etc"
cat > "$WORK/ws/etc/tempest.conf" <<CONF
[DEFAULT]
log_file = $WORK/tempest.log
[auth]
use_dynamic_credentials = False
test_accounts_file = $WORK/accounts.yaml
default_credentials_domain_name = Default
create_isolated_networks = False
[identity]
uri_v3 = $ADDR/v3
auth_version = v3
region = RegionOne
[identity-feature-enabled]
api_v2 = False
[service_available]
neutron = True
nova = False
cinder = False
glance = False
swift = False
horizon = False
[network]
public_network_id = $PUBLIC
floating_network_name = public
project_network_cidr = 10.100.0.0/16
project_network_mask_bits = 28
project_network_v6_cidr = 2001:db8::/48
project_network_v6_mask_bits = 64
build_timeout = 20
build_interval = 1
[network-feature-enabled]
api_extensions = $EXTENSIONS
ipv6 = True
ipv6_subnet_attributes = False
[validation]
run_validation = False
CONF
cd "$WORK/ws"
"$VENV/bin/stestr" init > /dev/null 2>&1 || true
set +e
"$VENV/bin/tempest" run --workspace-path "$WORK/ws.yaml" --config-file "$WORK/ws/etc/tempest.conf" \
  --regex "$REGEX" --concurrency 2 > "$WORK/run.txt" 2>&1
set -e
cd "$ROOT"
grep -oE '^\{[0-9]+\} [^ ]+ .*\.\.\. (ok|FAILED|SKIPPED.*)$' "$WORK/run.txt" | sed -E 's/^\{[0-9]+\} //' > "$WORK/results.txt" || true
sed -E 's/(\[[^]]*\])* ?\[[0-9.]+s\] \.\.\. ok$//; t; d' "$WORK/results.txt" | sed -E 's/\[.*$//; s/ +$//' | sort -u > "$WORK/passing.txt"
grep -E '\.\.\. FAILED$' "$WORK/results.txt" | sed -E 's/\[.*$//; s/ +$//' | sort -u > "$WORK/failing.txt" || true
grep -E '\.\.\. SKIPPED' "$WORK/results.txt" | sed -E 's/ ?(\[[^]]*\])* ?\[[0-9.]+s\] \.\.\. SKIPPED: /: /' | sort -u > "$WORK/skipped.txt" || true
cp "$WORK/run.txt" "$ROOT/target/tempest-last-run.txt"
cp "$WORK/skipped.txt" "$ROOT/target/tempest-last-skipped.txt"
cp "$WORK/failing.txt" "$ROOT/target/tempest-last-failing.txt"
PASSED=$(wc -l < "$WORK/passing.txt"); FAILED=$(wc -l < "$WORK/failing.txt"); SKIPPED=$(wc -l < "$WORK/skipped.txt")
LIST=$ROOT/tests/tempest/passing.txt
if [ "$UPDATE" = 1 ]; then
  cp "$WORK/passing.txt" "$LIST"
  echo "tempest.sh: wrote $PASSED tests to tests/tempest/passing.txt"
fi
LOST=$(comm -23 <(sort -u "$LIST") "$WORK/passing.txt" || true)
NEW=$(comm -13 <(sort -u "$LIST") "$WORK/passing.txt" | wc -l)
echo "tempest.sh: $PASSED passed, $FAILED failed, $SKIPPED skipped"
echo "tempest.sh: $NEW passing not yet in tests/tempest/passing.txt; details in target/tempest-last-*.txt"
if [ -n "$LOST" ]; then
  echo "tempest.sh: these passed before and do not now:"
  echo "$LOST"
  exit 1
fi
