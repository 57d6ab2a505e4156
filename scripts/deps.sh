#!/bin/sh
# deps.sh - install (as root) or name (otherwise) the Debian packages dxtrace needs.
#   scripts/deps.sh          install what is missing (root), else print the apt-get line, exit 1
#   scripts/deps.sh --check  exit 0 when everything is present, 1 otherwise (prints what is
#                            missing and the line to install it; never installs: plain `make`)
# TEST_PKGS are optional: python3-torch for some tests only (tests/test_live_diagnose.py runs
# dxtrace.diagnose on torch's CPU gloo), OpenMPI for `mpirun -n P dxt-analyze` (dxt-analyze
# is built with it where it is found; tests/test_mpi.sh). Root installs them with the others
# (CI, `make deps`, `make test`); nothing requires them: --check ignores them, and otherwise
# their absence is only named (those tests skip, dxt-analyze is built without MPI).
set -u
PKGS="build-essential pkg-config libhdf5-dev hdf5-tools libjansson-dev zlib1g-dev libdeflate-dev libcmocka-dev gnuplot-nox python3 python3-numpy python3-h5py python3-jsonschema clang"
TEST_PKGS="python3-torch openmpi-bin libopenmpi-dev"

missing_of() {  # the packages of $* that are not installed
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || printf ' %s' "$p"
    done
}
# shellcheck disable=SC2086
missing=$(missing_of $PKGS)
if [ "${1:-}" = "--check" ]; then
    [ -z "$missing" ] && exit 0
    echo "dxtrace: missing Debian packages:$missing" >&2
    echo "dxtrace: install them (as root):  make deps   or   apt-get install -y$missing" >&2
    exit 1
fi
# shellcheck disable=SC2086
missing_tests=$(missing_of $TEST_PKGS)
[ -z "$missing$missing_tests" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    if [ -n "$missing" ]; then
        echo "dxtrace: missing Debian packages:$missing" >&2
        echo "dxtrace: run as root:  apt-get update && apt-get install -y$missing$missing_tests" >&2
        exit 1
    fi
    echo "dxtrace: the tests that need$missing_tests skip (and dxt-analyze has no MPI without" \
         "libopenmpi-dev); to have them (as root):" \
         "apt-get install -y$missing_tests" >&2
    exit 0
fi
echo "dxtrace: installing$missing$missing_tests" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing $missing_tests >/dev/null || {
    echo "dxtrace: apt-get install failed for:$missing$missing_tests" >&2
    exit 1
}
