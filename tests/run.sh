#!/bin/sh
# run.sh - run every test of dxtrace and print "N passed, N failed".
#   tests/run.sh [BUILD_DIR]     (make test calls it)
# Runs the compiled cmocka suites (BUILD_DIR/tests/test_*), then the shell
# tests (tests/test_*.sh) and the Python tests (tests/test_*.py, Debian's
# /usr/bin/python3). Each gets DXT_BUILD=BUILD_DIR in its environment.
# TESTS="name ..." runs only those. Logs of failures: BUILD_DIR/test-logs/.
set -u
BUILD=${1:-build}
export DXT_BUILD="$BUILD"
LOGS="$BUILD/test-logs"
mkdir -p "$LOGS"
passed=0; failed=0; failures=""

run_one() {  # name, command...
    name=$1; shift
    if [ -n "${TESTS:-}" ] && ! echo " $TESTS " | grep -q " $name "; then return; fi
    start=$(date +%s)
    if "$@" >"$LOGS/$name.log" 2>&1; then
        passed=$((passed + 1)); st=ok
    else
        failed=$((failed + 1)); st=FAIL; failures="$failures $name"
    fi
    printf '%-5s %-34s %3ss\n' "$st" "$name" "$(( $(date +%s) - start ))"
    [ "$st" = FAIL ] && tail -n 30 "$LOGS/$name.log" | sed 's/^/      | /'
}

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for t in tests/test_*.sh; do
    [ -f "$t" ] || continue
    run_one "$(basename "$t" .sh)" sh "$t"
done
for t in tests/test_*.py; do
    [ -f "$t" ] || continue
    run_one "$(basename "$t" .py)" /usr/bin/python3 "$t"
done

[ -n "$failures" ] && echo "failed:$failures (logs in $LOGS/)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
