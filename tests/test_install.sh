#!/bin/sh
# test_install.sh - `make install PREFIX=...` gives a library, its headers in
# include/dxtrace/, dxtrec.pc (the Makefile's version), the tools and the Python
# package (the same version); the example job (samples/example/record.c, public
# header only) builds with the README's command line, runs, and h5py reads its
# trace by the contract's names; `make uninstall` removes every file again;
# libdxtrec.so has no RUNPATH; plain `make` never runs apt-get.
set -eu
BUILD=${DXT_BUILD:-build}
case "$BUILD" in *san*) echo "skipped under sanitizers (the example links the plain library)"; exit 0;; esac
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
make -s install PREFIX="$TMP/prefix" BUILD="$BUILD" >/dev/null
test -f "$TMP/prefix/include/dxtrace/dxtrec.h" && test -f "$TMP/prefix/lib/libdxtrec.so"
test ! -e "$TMP/prefix/include/dxtrec.h"
test -x "$TMP/prefix/bin/dxt-analyze" && test -x "$TMP/prefix/bin/dxt-synth"
if readelf -d "$TMP/prefix/lib/libdxtrec.so.1" | grep -Eq 'RPATH|RUNPATH'; then
    echo "FAIL: libdxtrec.so.1 has a RUNPATH"; exit 1
fi
export PKG_CONFIG_PATH="$TMP/prefix/lib/pkgconfig"
version=$(sed -n 's/^VERSION := //p' Makefile)
[ "$(pkg-config --modversion dxtrec)" = "$version" ] || { echo "FAIL: dxtrec.pc version"; exit 1; }
pydir=$(dirname "$(find "$TMP/prefix/lib" -path '*dist-packages/dxtrace/__init__.py')")
[ "$(PYTHONPATH="$(dirname "$pydir")" /usr/bin/python3 -c \
    'import dxtrace; print(dxtrace.__version__)')" = "$version" ] ||
    { echo "FAIL: the installed Python package is not version $version"; exit 1; }
"$TMP/prefix/bin/dxt-analyze" --version | grep -q "$version"
# the README's line for a prefix the loader does not search
cc -Wall -Wextra -Werror samples/example/record.c $(pkg-config --cflags --libs dxtrec) \
   -Wl,-rpath,"$(pkg-config --variable=libdir dxtrec)" -o "$TMP/record"
(cd "$TMP" && ./record trace) | grep -qx success
/usr/bin/python3 - "$TMP/trace" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1] + "/rank-00000.h5", "r")
assert f.attrs["format"] in ("dxtrace", b"dxtrace"), f.attrs["format"]
assert int(f.attrs["format_version"]) == 1 and int(f.attrs["world_size"]) == 4
assert int(f.attrs["rank"]) == 0
for op in ("dispatch", "combine"):
    w = f["ops/%s/wait" % op]
    assert w.shape == (100, 4), w.shape
    assert list(f["ops/%s/step" % op][:3]) == [0, 1, 2]
    assert w.attrs["counting"] in ("cumulative", b"cumulative")
    assert w.attrs["unit"] in ("cycles", b"cycles")
    assert np.all(w[99] == [100000 + 10000 * j for j in range(4)]), w[99]
print("h5py reads the example trace by the contract's names")
PY
make -s uninstall PREFIX="$TMP/prefix" BUILD="$BUILD" >/dev/null
left=$(find "$TMP/prefix" -type f)
[ -z "$left" ] || { echo "FAIL: make uninstall left: $left"; exit 1; }
# plain make only checks the packages: with a deps.sh that would install, it is not called
grep -q 'scripts/deps.sh --check' Makefile || { echo "FAIL: deps-check installs"; exit 1; }
echo "install, version, uninstall: ok"
