#!/bin/bash
# run_nccl.sh - build dxt-ep-nccl on a GPU machine and run the EP exchange
# across its GPUs through NCCL, one process per GPU, in one go:
#   tests/gpu/run_nccl.sh        (from the repository root; OUT=dir for results,
#                                 K=ranks to use instead of every GPU, STEPS=400)
# K = the number of GPUs (at most 8). Runs: healthy, slow rank, slow destination,
# slow path (20 us from step 3/8 of the run), each recorded through libdxtrec's
# CUDA path into one file per rank, checked for completeness
# (tests/gpu/check_trace.py) and for the injected fault (tests/gpu/check_faults.py);
# the recording overhead (--bench); the mpirun-style start (--rank/--id-file).
# With one GPU (K=1) there are no peers: the same runs are a smoke test of the
# NCCL setup (communicator, symmetric window, device communicator, LSA barrier,
# teardown), of the kernel's store/flag path through the window (to itself),
# and of the recording; plus what NCCL says to two ranks on one GPU.
# Writes $OUT/nccl.log, $OUT/nccl-summary.txt, $OUT/nccl-traces.tgz.
# NCCL: CUDA's own, Debian's, or pip's nvidia-nccl (NCCL_HOME); headers with the
# device API from build/nccl-include if that NCCL has none (copy them there).
# Without a GPU it says so and exits 0.
#
# Owner: the multi-GPU (NCCL) side of dxtrace.
set -u
cd "$(dirname "$0")/../.." || exit 1
OUT=${OUT:-/tmp/dxt-nccl-out}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/dxt-nccl-XXXXXX)
TRACES="$WORK/traces"
mkdir -p "$TRACES"
LOG="$OUT/nccl.log"
SUMMARY="$OUT/nccl-summary.txt"
: >"$LOG"
: >"$SUMMARY"
PY=${PYTHON:-python3}
EP=build/bin/dxt-ep-nccl
STEPS=${STEPS:-400}
export NCCL_NVLS_ENABLE=0 # never NVLink multicast on these machines
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}
failed=0

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "SKIP tests/gpu/run_nccl.sh: no NVIDIA GPU here"
    exit 0
fi
GPUS=$(nvidia-smi -L | grep -c '^GPU')
K=${K:-$((GPUS < 8 ? GPUS : 8))}

note() { echo "$*" >>"$SUMMARY"; }

# step NAME TIMEOUT COMMAND...: run, log, keep pass/fail in the summary
step() {
    local name=$1 limit=$2
    shift 2
    echo "=== $name: $*" >>"$LOG"
    local start=$SECONDS
    timeout "$limit" "$@" >"$WORK/$name.out" 2>&1
    local rc=$?
    cat "$WORK/$name.out" >>"$LOG"
    if [ $rc = 0 ]; then st=ok; else st="FAIL(rc=$rc)"; failed=$((failed + 1)); fi
    note "$(printf '%-10s %-24s %4ss' "$st" "$name" $((SECONDS - start)))"
    return $rc
}

# Where is an NCCL with the device API? Sets MAKE_NCCL (make variables).
find_nccl() {
    MAKE_NCCL=()
    local inc="" lib="" pip
    for d in "${NCCL_HOME:-}" /usr/local/cuda /usr; do
        [ -n "$d" ] || continue
        [ -z "$inc" ] && [ -f "$d/include/nccl.h" ] && inc=$d/include
        for f in "$d/lib64/libnccl.so" "$d/lib/libnccl.so" "$d/lib/libnccl.so.2" \
            "$d/lib/x86_64-linux-gnu/libnccl.so.2"; do
            [ -z "$lib" ] && [ -f "$f" ] && lib=$f
        done
    done
    pip=$($PY -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2>/dev/null)
    if [ -z "$lib" ] && [ -n "$pip" ] && [ -f "$pip/lib/libnccl.so.2" ]; then
        lib=$pip/lib/libnccl.so.2
        [ -z "$inc" ] && [ -f "$pip/include/nccl.h" ] && inc=$pip/include
    fi
    if [ -z "$inc" ] || [ ! -f "$inc/nccl_device.h" ]; then
        [ -f build/nccl-include/nccl_device.h ] && inc=$PWD/build/nccl-include
    fi
    echo "nccl: headers ${inc:-none} ($(grep -hE '^#define NCCL_(MAJOR|MINOR|PATCH) ' \
        "$inc/nccl.h" 2>/dev/null | awk '{printf "%s%s", (NR > 1) ? "." : "", $3}')), library ${lib:-none}; pip: ${pip:-none}"
    [ -n "$inc" ] && [ -n "$lib" ] && MAKE_NCCL=("NCCL_INC=$inc" "NCCL_LIB=$lib")
}

environment() {
    nvidia-smi -L
    nvidia-smi topo -m 2>&1 | head -n 12
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv
    nvcc --version | tail -n 2
    find_nccl
    $PY -c 'import torch; print("torch", torch.__version__, "nccl", torch.cuda.nccl.version())' 2>&1
}

# trace NAME STEPS ARGS...: one recorded exchange on K ranks, its truth and its checks
trace() {
    local name=$1 steps=$2
    shift 2
    local dir="$TRACES/$name" rc=0
    step "$name" 180 "$EP" -n "$K" -s "$steps" --onset $((steps * 3 / 8)) -o "$dir" \
        --run-id "nccl-$name" --truth "$dir/truth.json" --timeout-s 150 "$@" || rc=1
    [ $rc = 0 ] && step "check-$name" 60 $PY tests/gpu/check_trace.py "$dir" "$steps"
    [ $rc = 0 ] && step "faults-$name" 60 $PY tests/gpu/check_faults.py "$dir"
    grep -E "^dxt-ep-nccl: NCCL|us per step|^  rank" "$WORK/$name.out" | sed "s/^/    /" >>"$SUMMARY"
    grep -h "^check_" "$WORK/check-$name.out" "$WORK/faults-$name.out" 2>/dev/null |
        sed "s/^/    /" >>"$SUMMARY"
    return $rc
}

# The mpirun-style start: one process per rank, the id through a file.
by_rank() {
    local id="$WORK/nccl-id" r pids=() rc=0
    rm -f "$id"
    for ((r = 0; r < K; r++)); do
        "$EP" --rank "$r" --nranks "$K" --id-file "$id" -s 50 -o "$TRACES/by-rank" \
            --run-id nccl-by-rank --timeout-s 60 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    return $rc
}

main() {
    environment >"$OUT/nccl-env.txt" 2>&1
    tee -a "$LOG" <"$OUT/nccl-env.txt"
    find_nccl >/dev/null
    [ ${#MAKE_NCCL[@]} = 0 ] && { note "no NCCL found: see nccl-env.txt"; return 1; }
    step build 600 make NODEPS=1 -j16 "${MAKE_NCCL[@]}" build/lib/libdxtrec.a "$EP" ||
        { note "build failed: see nccl.log"; return 1; }
    note "K=$K ranks on $GPUS GPU(s)"
    local last=$((K - 1)) mid=$((K / 2))
    if ! trace "k$K-healthy" "$STEPS"; then # say why, with NCCL's own words
        NCCL_DEBUG=INFO NCCL_DEBUG_SUBSYS=INIT,ALLOC,REG timeout 60 "$EP" -n "$K" -s 5 \
            --timeout-s 50 >"$WORK/debug.out" 2>&1
        { echo "=== NCCL_DEBUG=INFO rerun: rc=$?"; cat "$WORK/debug.out"; } >>"$LOG"
        grep -iE "warn|error|fail" "$WORK/debug.out" | head -n 8 | sed "s/^/    /" >>"$SUMMARY"
    fi
    trace "k$K-slow-rank" "$STEPS" --slow-rank "$last"
    trace "k$K-slow-dest" "$STEPS" --slow-dest "$mid"
    if [ "$K" -gt 1 ]; then
        trace "k$K-slow-path" "$STEPS" --slow-path 1:0
    else
        note "slow-path: needs 2 ranks (S != D), not run with K=1"
    fi
    export EP K WORK TRACES
    export -f by_rank
    step by-rank 90 bash -c by_rank && step check-by-rank 60 $PY tests/gpu/check_trace.py "$TRACES/by-rank" 50
    step bench 300 "$EP" -n "$K" --bench -o "$WORK/bench" --timeout-s 250
    grep "bench:" "$WORK/bench.out" | sed "s/^/    /" >>"$SUMMARY"
    if [ "$GPUS" = 1 ]; then # what NCCL says to two ranks on one GPU (not counted)
        timeout 40 "$EP" -n 2 --share-gpu -s 20 --timeout-s 30 >"$WORK/share.out" 2>&1
        note "share-gpu (2 ranks, 1 GPU): rc=$? (informational)"
        grep -iE "duplicate|error|fail|us per step" "$WORK/share.out" | head -n 4 |
            sed "s/^/    /" >>"$SUMMARY"
        cat "$WORK/share.out" >>"$LOG"
    fi
    if command -v compute-sanitizer >/dev/null; then # informational: NCCL's memory too
        timeout 120 compute-sanitizer --tool memcheck --error-exitcode 3 "$EP" -n 1 -s 3 \
            --compute-ns 1000 --timeout-s 100 >"$WORK/memcheck.out" 2>&1
        note "memcheck (K=1, 3 steps): rc=$? (informational)"
        tail -n 2 "$WORK/memcheck.out" | sed "s/^/    /" >>"$SUMMARY"
        cat "$WORK/memcheck.out" >>"$LOG"
    fi
    tar -C "$TRACES" -czf "$OUT/nccl-traces.tgz" . && du -sh "$TRACES"/* >>"$SUMMARY"
}

main
echo "===== summary ($failed failed) ====="
cat "$SUMMARY"
rm -rf "$WORK"
[ "$failed" = 0 ]
