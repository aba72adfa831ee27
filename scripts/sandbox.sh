#!/usr/bin/env bash
# Runs a command in a throwaway "root namespace", the one scripts/test.sh
# runs the suite in: new network, mount and PID namespaces with private
# tmpfs over /run/netns, /etc/netns and /run/nlab. Labs made inside are
# invisible to the host and die with the sandbox, so a developer can try
# things (or run one root test) while a lab of their own stays up.
#
# Usage (as root): scripts/sandbox.sh COMMAND [ARG...]
#   scripts/sandbox.sh cargo test --test nat
#   scripts/sandbox.sh bash          # an interactive shell inside
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "scripts/sandbox.sh must run as root (it makes namespaces)" >&2
  exit 2
fi
if [ $# -eq 0 ]; then
  echo "usage: scripts/sandbox.sh COMMAND [ARG...]" >&2
  exit 2
fi
mkdir -p -m 0755 /run/netns /etc/netns /run/nlab
exec unshare --net --mount --pid --fork --mount-proc --propagation private -- \
  env NLAB_TEST_SANDBOX=1 bash -c '
    set -e
    for d in /run/netns /etc/netns /run/nlab; do mount -t tmpfs -o mode=0755 nlab-sandbox "$d"; done
    ip link set lo up
    exec "$@"' sandbox "$@"
