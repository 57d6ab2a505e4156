#!/bin/sh
# deps.sh - install (as root) or name (otherwise) the Debian packages dxtrace needs.
#   scripts/deps.sh          install what is missing (root), else print the apt-get line, exit 1
#   scripts/deps.sh --check  exit 0 when everything is present, 1 otherwise (prints what is
#                            missing and the line to install it; never installs: plain `make`)
set -u
PKGS="build-essential pkg-config libhdf5-dev hdf5-tools libjansson-dev libcmocka-dev gnuplot-nox python3 python3-numpy python3-h5py python3-jsonschema clang"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "${1:-}" = "--check" ]; then
    echo "dxtrace: missing Debian packages:$missing" >&2
    echo "dxtrace: install them (as root):  make deps   or   apt-get install -y$missing" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "dxtrace: missing Debian packages:$missing" >&2
    echo "dxtrace: run as root:  apt-get update && apt-get install -y$missing" >&2
    exit 1
fi
echo "dxtrace: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
    echo "dxtrace: apt-get install failed for:$missing" >&2
    exit 1
}
