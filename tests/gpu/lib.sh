# lib.sh - what the GPU-machine scripts share (sourced by tests/gpu/run*.sh):
#   gpu_setup NAME   OUT, WORK, LOG=$OUT/NAME.log, SUMMARY=$OUT/NAME-summary.txt, PY;
#                    returns 1 (after saying SKIP) where there is no NVIDIA GPU
#   note TEXT        a line of the summary
#   step NAME TIMEOUT COMMAND...   run with a time limit, log the output, one summary
#                    line (ok / FAIL(rc=N), seconds); WORK/NAME.out keeps the output
# Keeps NVLink multicast off (these machines are shared: NCCL_NVLS_ENABLE=0 etc.).
#
# Owner: the GPU side of dxtrace.
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
failed=0

gpu_setup() {
    if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
        echo "SKIP $0: no NVIDIA GPU here"
        return 1
    fi
    OUT=${OUT:-/tmp/dxt-$1-out}
    mkdir -p "$OUT"
    WORK=$(mktemp -d "/tmp/dxt-$1-XXXXXX")
    LOG="$OUT/$1.log"
    SUMMARY="$OUT/$1-summary.txt"
    PY=${PYTHON:-python3}
    : >"$LOG"
    : >"$SUMMARY"
}

note() { echo "$*" >>"$SUMMARY"; }

step() {
    local name=$1 limit=$2
    shift 2
    echo "=== $name: $*" >>"$LOG"
    local start=$SECONDS st
    timeout "$limit" "$@" >"$WORK/$name.out" 2>&1
    local rc=$?
    cat "$WORK/$name.out" >>"$LOG"
    if [ $rc = 0 ]; then st=ok; else st="FAIL(rc=$rc)"; failed=$((failed + 1)); fi
    note "$(printf '%-10s %-28s %4ss' "$st" "$name" $((SECONDS - start)))"
    return $rc
}
