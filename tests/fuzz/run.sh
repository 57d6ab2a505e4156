#!/bin/sh
# run.sh - `make fuzz`: run every libFuzzer target of tests/fuzz/ for a set time.
#   tests/fuzz/run.sh FUZZ_BUILD SECONDS
# Owner: reliability (tests/fuzz/). Each FUZZ_BUILD/fuzz_<name> runs SECONDS
# seconds on its committed corpus tests/fuzz/corpus/<name>/ (read only; new
# inputs go to FUZZ_BUILD/corpus/<name>/) with tests/fuzz/<name>.dict when
# there is one. A crash, leak, timeout or out-of-memory is written to
# FUZZ_BUILD/crashes/<name>-*: copy it to tests/fuzz/regressions/<name>/ once
# fixed, and the normal test run replays it. Prints executions per target;
# exits 1 when any target failed.
set -u
FB=${1:-build-fuzz}
SECONDS_EACH=${2:-60}
failed=""
total=0
for bin in "$FB"/fuzz_*; do
    [ -x "$bin" ] || continue
    name=${bin##*/fuzz_}
    mkdir -p "$FB/corpus/$name" "$FB/crashes" "tests/fuzz/corpus/$name"
    dict=""
    [ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
    # inputs up to 64 KiB; the text loader's line bound (1 MiB) must be reachable
    max_len=65536
    [ "$name" = textin ] && max_len=1100000
    log="$FB/fuzz_$name.log"
    # leaks: HDF5 keeps library-global state until exit; report only ours
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=1:allocator_may_return_null=1" \
    LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}" \
    "$bin" -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=2048 -max_len=$max_len \
        -print_final_stats=1 -artifact_prefix="$FB/crashes/$name-" $dict \
        "$FB/corpus/$name" "tests/fuzz/corpus/$name" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    printf 'fuzz %-8s %8s executions  %-10s rc=%s\n' "$name" "${execs:-?}" "${cov:-}" "$rc"
    total=$((total + ${execs:-0}))
    if [ "$rc" != 0 ]; then
        failed="$failed $name"
        grep -E 'ERROR|SUMMARY|==[0-9]+==|artifact' "$log" | head -n 20 | sed 's/^/    | /'
    fi
done
echo "fuzz: $total executions in all${failed:+; FAILED:$failed (inputs in $FB/crashes/)}"
[ -z "$failed" ]
