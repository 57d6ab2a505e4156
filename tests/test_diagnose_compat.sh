#!/bin/sh
# test_diagnose_compat.sh - DeepXTrace's own tests/test_diagnose.py passes against
# dxtrace.diagnose with its import line swapped (`from deepxtrace import diagnose as ds`
# -> `from dxtrace import diagnose as ds`): diagnose_matrix keeps DeepXTrace's rule.
# DeepXTrace is taken from $DEEPXTRACE_SRC (a checkout), else from the mirror
# $DEEPXTRACE_MIRROR (a bare git directory; default /work/.mirror/antgroup+DeepXTrace/repo)
# with `git show` into a temporary directory. Neither there: says why and skips (exit 0).
# Nothing of DeepXTrace is kept in this repository.
# Owner: the live-diagnosis engineer (python/dxtrace/diagnose.py).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MIRROR=${DEEPXTRACE_MIRROR:-/work/.mirror/antgroup+DeepXTrace/repo}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/dxt-compat.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

if [ -n "${DEEPXTRACE_SRC:-}" ] && [ -f "$DEEPXTRACE_SRC/tests/test_diagnose.py" ]; then
    cp "$DEEPXTRACE_SRC/tests/test_diagnose.py" "$TMP/theirs.py"
    from="$DEEPXTRACE_SRC"
elif command -v git >/dev/null 2>&1 && [ -d "$MIRROR" ] &&
        git -C "$MIRROR" show HEAD:tests/test_diagnose.py >"$TMP/theirs.py" 2>/dev/null; then
    from="$MIRROR ($(git -C "$MIRROR" rev-parse --short HEAD))"
else
    echo "SKIP test_diagnose_compat: no DeepXTrace: set DEEPXTRACE_SRC to a checkout" \
         "(or DEEPXTRACE_MIRROR to a bare git directory of it); looked at" \
         "'${DEEPXTRACE_SRC:-}' and '$MIRROR'"
    exit 0
fi

pattern='^from deepxtrace import diagnose as ds$'
if ! grep -q "$pattern" "$TMP/theirs.py"; then
    echo "FAIL: $from: tests/test_diagnose.py has no line 'from deepxtrace import diagnose" \
         "as ds' to swap (DeepXTrace changed its test?)" >&2
    exit 1
fi
sed "s/$pattern/from dxtrace import diagnose as ds/" "$TMP/theirs.py" \
    >"$TMP/test_diagnose_swapped.py"
grep -q 'deepxtrace' "$TMP/test_diagnose_swapped.py" && {
    echo "FAIL: the swapped test still names deepxtrace:" >&2
    grep -n deepxtrace "$TMP/test_diagnose_swapped.py" >&2
    exit 1
}
echo "DeepXTrace's tests/test_diagnose.py from $from, import swapped to dxtrace"
cd "$TMP"
PYTHONPATH="$ROOT/python" /usr/bin/python3 -m unittest -v test_diagnose_swapped
