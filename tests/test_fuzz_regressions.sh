#!/bin/sh
# test_fuzz_regressions.sh - replay every committed fuzz input without libFuzzer:
# for each tests/fuzz/fuzz_<name>.c, BUILD/fuzz/replay_<name> runs its
# LLVMFuzzerTestOneInput over tests/fuzz/corpus/<name>/ and every crash found so
# far in tests/fuzz/regressions/<name>/ (under ASan+UBSan with make SAN=1 test).
# Owner: reliability.
set -u
BUILD=${DXT_BUILD:-build}
LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS
status=0
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c); name=${name#fuzz_}
    bin="$BUILD/fuzz/replay_$name"
    if [ ! -x "$bin" ]; then
        echo "FAIL $name: $bin not built"; status=1; continue
    fi
    dirs=""
    for d in "tests/fuzz/corpus/$name" "tests/fuzz/regressions/$name"; do
        [ -d "$d" ] && [ -n "$(ls -A "$d" 2>/dev/null)" ] && dirs="$dirs $d"
    done
    [ -z "$dirs" ] && { echo "$name: no inputs"; continue; }
    # shellcheck disable=SC2086
    if out=$(timeout 120 "$bin" $dirs 2>&1); then
        echo "$name: $out"
    else
        echo "FAIL $name:"; echo "$out" | tail -n 30; status=1
    fi
done
exit $status
