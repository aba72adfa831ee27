#!/usr/bin/env bash
# Fetches the Debian guest kernel the VM tests boot (tests/vm.rs), outside
# the sandbox (which has no network): `apt-get download` of the versioned
# package linux-image-amd64 depends on, unpacked with `dpkg-deb -x` into a
# cache directory. Never installed: installing a kernel package runs the
# host's kernel hooks (initramfs, bootloader).
#
# Usage: scripts/vm-kernel.sh [CACHE_DIR]   (default: target/nlab-vm)
# Leaves CACHE_DIR/root/boot/vmlinuz-* and CACHE_DIR/root/lib/modules/*.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${1:-target/nlab-vm}
if compgen -G "$cache/root/boot/vmlinuz-*" >/dev/null; then
  exit 0
fi
mkdir -p "$cache"
# linux-image-amd64 is a metapackage: its first dependency is the kernel.
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$pkg" ]; then
  echo "vm-kernel: no versioned linux-image package behind linux-image-amd64 (apt-get update?)" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -q "$pkg" >/dev/null)
rm -rf "$cache/root.new"
dpkg-deb -x "$tmp"/"$pkg"_*.deb "$cache/root.new"
rm -rf "$cache/root"
mv "$cache/root.new" "$cache/root"
echo "vm-kernel: $pkg unpacked into $cache/root"
