# lib.sh - what the shell tests share: the tools under test, a scratch
# directory removed at exit, and pass/fail bookkeeping. Sourced from the
# repository root (tests/run.sh runs every test there):
#   . tests/lib.sh; test_init NAME; check "what" command...; test_done
BUILD=${DXT_BUILD:-build}
SYNTH=$BUILD/bin/dxt-synth
ANALYZE=$BUILD/bin/dxt-analyze
PY=/usr/bin/python3
fails=0

test_init() {  # NAME: make $TMP (/tmp/dxt_NAME.XXXXXX), removed at exit
    TMP=$(mktemp -d "/tmp/dxt_$1.XXXXXX")
    trap 'rm -rf "$TMP"' EXIT
}

ok()   { echo "ok   $1"; }
bad()  { echo "FAIL $1"; fails=$((fails + 1)); }
check() { # name, command...: passes when the command succeeds
    name=$1; shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}
