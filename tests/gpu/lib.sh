# lib.sh - what the GPU-machine scripts share (sourced by tests/gpu/run*.sh):
#   gpu_setup NAME   OUT, WORK, LOG=$OUT/NAME.log, SUMMARY=$OUT/NAME-summary.txt, PY;
#                    returns 1 (after saying SKIP) where there is no NVIDIA GPU
#   note TEXT        a line of the summary
#   gpu_finish       print the summary, remove WORK; the script's status (failed steps: 1)
#   step NAME TIMEOUT COMMAND...   run with a time limit, log the output, one summary
#                    line (ok / FAIL(rc=N), seconds); WORK/NAME.out keeps the output
#   build_deepep     DeepEP from $SRC (DEEPEP_SRC: a directory or a .tar/.tgz of `git
#                    archive 567632d`; default .devcarry/deepep) into $DEEPEP (build/deepep),
#                    patched with samples/deepep/fault_delay.patch, built in place; a
#                    build already there from the same source and patch is kept
#                    (REBUILD_DEEPEP=1 builds it again)
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

gpu_finish() {
    echo "===== summary ($failed failed) ====="
    cat "$SUMMARY"
    rm -rf "$WORK"
    [ "$failed" = 0 ]
}

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

SRC=${DEEPEP_SRC:-.devcarry/deepep}
DEEPEP=$PWD/build/deepep

# what build/deepep was built from: the source's listing and the patch
deepep_stamp() {
    { if [ -d "$SRC" ]; then (cd "$SRC" && find . -type f -printf '%P %s %T@\n' |
        sort); else ls -l --time-style=+%s "$SRC"; fi; cat samples/deepep/fault_delay.patch; } |
        md5sum | cut -d' ' -f1
}

build_deepep() {
    local stamp
    stamp=$(deepep_stamp)
    if [ "${REBUILD_DEEPEP:-0}" != 1 ] && [ -f "$DEEPEP/.dxt-stamp" ] &&
        [ "$(cat "$DEEPEP/.dxt-stamp")" = "$stamp" ] && ls "$DEEPEP"/deep_ep_cpp*.so >/dev/null 2>&1; then
        echo "build/deepep: built from this source and patch already"
        return 0
    fi
    rm -rf "$DEEPEP" && mkdir -p "$DEEPEP" || return 1
    if [ -d "$SRC" ]; then cp -r "$SRC"/. "$DEEPEP"/; else tar -xf "$SRC" -C "$DEEPEP"; fi || return 1
    (cd "$DEEPEP" && patch -p1 <"$OLDPWD/samples/deepep/fault_delay.patch") || return 1
    # NVSHMEM's headers need CCCL's cuda/std/tuple; pip's NVSHMEM is found by setup.py
    (cd "$DEEPEP" && CPLUS_INCLUDE_PATH=/usr/local/cuda/include/cccl:/usr/local/cuda/include \
        MAX_JOBS=${MAX_JOBS:-32} TORCH_CUDA_ARCH_LIST=9.0 ${PY:-python3} setup.py build_ext --inplace) &&
        echo "$stamp" >"$DEEPEP/.dxt-stamp"
}
