#!/bin/sh
# test_install.sh - `make install PREFIX=...` gives a library, its header and
# dxtrec.pc; the example job (samples/example/record.c, public header only)
# builds with pkg-config, runs, and h5py reads its trace by the contract's names.
set -eu
BUILD=${DXT_BUILD:-build}
case "$BUILD" in *san*) echo "skipped under sanitizers (the example links the plain library)"; exit 0;; esac
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
make -s install PREFIX="$TMP/prefix" BUILD="$BUILD" >/dev/null
test -f "$TMP/prefix/include/dxtrec.h" && test -f "$TMP/prefix/lib/libdxtrec.so"
export PKG_CONFIG_PATH="$TMP/prefix/lib/pkgconfig"
cc -Wall -Wextra -Werror samples/example/record.c $(pkg-config --cflags --libs dxtrec) \
   -Wl,-rpath,"$TMP/prefix/lib" -o "$TMP/record"
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
