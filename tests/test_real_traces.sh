#!/bin/sh
# test_real_traces.sh - dxt-analyze on the real traces of samples/traces/ must
# find what truth.json says was injected and showed in the matrix, and nothing
# false (tests/real_truth.py says what counts as right, allowed and false):
#   deepep-ep{2,4}-*   DeepEP's own LL kernels on H200s (samples/deepep/)
#   h200-nccl-k4-*     our NCCL device-API exchange on 4 H200s (dxt-ep-nccl)
#   h100-ep8-*         our single-GPU LL exchange on an H100 (dxt-ep-gpu)
# Prints one line per trace and the totals.
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
passed=0
failed=0
for dir in samples/traces/*/; do
    dir=${dir%/}
    [ -f "$dir/truth.json" ] || continue
    if ! "$ANALYZE" "$dir" --format json >"$REPORT"; then
        echo "FAIL $dir: dxt-analyze exited $?"
        failed=$((failed + 1))
        continue
    fi
    if /usr/bin/python3 tests/real_truth.py "$dir/truth.json" "$REPORT" "${dir#samples/traces/}"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
done
echo "real traces: $passed right, $failed wrong"
[ "$failed" = 0 ]
