#!/bin/sh
# test_real_traces.sh - dxt-analyze on the real traces of samples/traces/ must
# find what truth.json says was injected and showed in the matrix, and nothing
# false (tests/real_truth.py says what counts as right, allowed and false):
#   deepep-ep{2,4}-*   DeepEP's own LL kernels on H200s (samples/deepep/)
#   h200-nccl-k4-*     our NCCL device-API exchange on 4 H200s (dxt-ep-nccl)
#   h100-ep8-*         our single-GPU LL exchange on an H100 (dxt-ep-gpu)
# Prints one line per trace and the totals. Traces listed in
# samples/traces/KNOWN_WRONG.txt are still judged wrong (issue 11 is open): they
# are counted, not failed; any other wrong trace fails the test.
#
# Owner: the real-trace tests. Needs $DXT_BUILD/bin/dxt-analyze and
# /usr/bin/python3 (json only).
set -u
BUILD=${DXT_BUILD:-build}
ANALYZE="$BUILD/bin/dxt-analyze"
cd "$(dirname "$0")/.." || exit 1
if [ ! -x "$ANALYZE" ]; then
    echo "SKIP test_real_traces: $ANALYZE not built"
    exit 0
fi
REPORT="$BUILD/real-trace-report.json"
KNOWN=samples/traces/KNOWN_WRONG.txt  # traces still judged wrong (issue 11), with why
passed=0
failed=0
known=0
known_wrong() { grep -q "^$1	" "$KNOWN" 2>/dev/null; }
for dir in samples/traces/*/; do
    dir=${dir%/}
    [ -f "$dir/truth.json" ] || continue
    if ! "$ANALYZE" "$dir" --format json >"$REPORT"; then
        echo "FAIL $dir: dxt-analyze exited $?"
        failed=$((failed + 1))
        continue
    fi
    name=${dir#samples/traces/}
    if /usr/bin/python3 tests/real_truth.py "$dir/truth.json" "$REPORT" "$name"; then
        passed=$((passed + 1))
        known_wrong "$name" && echo "     now right: take $name off $KNOWN"
    elif known_wrong "$name"; then
        known=$((known + 1))
    else
        failed=$((failed + 1))
    fi
done
echo "real traces: $passed right, $known wrong as listed in $KNOWN, $failed newly wrong"
[ "$failed" = 0 ]
