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
. tests/gpu/lib.sh
gpu_setup nccl || exit 0
TRACES="$WORK/traces"
mkdir -p "$TRACES"
EP=build/bin/dxt-ep-nccl
STEPS=${STEPS:-400}
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}
GPUS=$(nvidia-smi -L | grep -c '^GPU')
K=${K:-$((GPUS < 8 ? GPUS : 8))}

nccl_version() { # DIR: the version its nccl.h says
    grep -hE '^#define NCCL_(MAJOR|MINOR|PATCH) ' "$1/nccl.h" 2>/dev/null |
        awk '{printf "%s%s", (NR > 1) ? "." : "", $3}'
}

# Every NCCL with the device API found, best first, as "INCLUDE_DIR|LIBRARY" in
# CANDIDATES: NCCL_HOME; pip's (torch's) library with its headers or, where it
# ships none, build/nccl-include; CUDA's; the system's.
find_nccl() {
    CANDIDATES=()
    local d f inc lib pip carried=""
    [ -f build/nccl-include/nccl_device.h ] && carried=$PWD/build/nccl-include
    pip=$($PY -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2>/dev/null)
    for d in "${NCCL_HOME:-}" "$pip" /usr/local/cuda /usr; do
        [ -n "$d" ] || continue
        inc="" lib=""
        [ -f "$d/include/nccl_device.h" ] && inc=$d/include
        [ -z "$inc" ] && [ "$d" = "$pip" ] && inc=$carried
        for f in "$d/lib64/libnccl.so" "$d/lib/libnccl.so" "$d/lib/libnccl.so.2" \
            "$d/lib/x86_64-linux-gnu/libnccl.so.2"; do
            [ -z "$lib" ] && [ -f "$f" ] && lib=$f
        done
        [ -n "$inc" ] && [ -n "$lib" ] && CANDIDATES+=("$inc|$lib")
        echo "nccl in ${d}: headers ${inc:-none} ($(nccl_version "$inc")), library ${lib:-none}"
    done
}

# Build with the first NCCL that builds.
build_ep() {
    local c
    for c in "${CANDIDATES[@]}"; do
        rm -f "$EP"
        echo "=== build with NCCL headers ${c%%|*}, library ${c#*|}" >>"$LOG"
        if timeout 300 make NODEPS=1 -j16 "NCCL_INC=${c%%|*}" "NCCL_LIB=${c#*|}" \
            build/lib/libdxtrec.a "$EP" >>"$LOG" 2>&1; then
            note "ok         build with NCCL $(nccl_version "${c%%|*}") headers, ${c#*|}"
            return 0
        fi
        note "build with ${c%%|*} failed (see nccl.log), trying the next NCCL"
    done
    return 1
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
    step "$name" 60 "$EP" -n "$K" -s "$steps" --onset $((steps * 3 / 8)) -o "$dir" \
        --run-id "nccl-$name" --truth "$dir/truth.json" --timeout-s 40 "$@" || rc=1
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
            --run-id nccl-by-rank --timeout-s 30 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    return $rc
}

share_gpu() {
    [ "$GPUS" = 1 ] || return 0 # what NCCL says to two ranks on one GPU (not counted)
    timeout 40 "$EP" -n 2 --share-gpu -s 20 --timeout-s 30 >"$WORK/share.out" 2>&1
    note "share-gpu (2 ranks, 1 GPU): rc=$? (informational)"
    grep -iE "duplicate|error|fail|us per step" "$WORK/share.out" | head -n 4 |
        sed "s/^/    /" >>"$SUMMARY"
    cat "$WORK/share.out" >>"$LOG"
}

main() {
    environment >"$OUT/nccl-env.txt" 2>&1
    tee -a "$LOG" <"$OUT/nccl-env.txt"
    find_nccl >/dev/null
    [ ${#CANDIDATES[@]} = 0 ] && { note "no NCCL >= 2.28 found: see nccl-env.txt"; return 1; }
    build_ep || { failed=$((failed + 1)); note "FAIL       build: see nccl.log"; return 1; }
    note "K=$K ranks on $GPUS GPU(s)"
    local last=$((K - 1)) mid=$((K / 2))
    if ! trace "k$K-healthy" "$STEPS"; then # say why, with NCCL's own words
        NCCL_DEBUG=INFO NCCL_DEBUG_SUBSYS=INIT,ALLOC,REG timeout 40 "$EP" -n "$K" -s 5 \
            --timeout-s 30 >"$WORK/debug.out" 2>&1
        { echo "=== NCCL_DEBUG=INFO rerun: rc=$?"; cat "$WORK/debug.out"; } >>"$LOG"
        grep -iE "warn|error|fail" "$WORK/debug.out" | head -n 8 | sed "s/^/    /" >>"$SUMMARY"
        share_gpu
        note "healthy run failed: the other runs skipped"
        return 1
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
    step by-rank 45 bash -c by_rank && step check-by-rank 60 $PY tests/gpu/check_trace.py "$TRACES/by-rank" 50
    step bench 90 "$EP" -n "$K" --bench -o "$WORK/bench" --timeout-s 80
    grep "bench:" "$WORK/bench.out" | sed "s/^/    /" >>"$SUMMARY"
    share_gpu
    if command -v compute-sanitizer >/dev/null; then # informational; NCCL's init probes
        # kernel images and handle types and gets errors back: API errors not reported
        timeout 90 compute-sanitizer --tool memcheck --report-api-errors no --error-exitcode 3 \
            "$EP" -n 1 -s 3 \
            --compute-ns 1000 --timeout-s 80 >"$WORK/memcheck.out" 2>&1
        note "memcheck (K=1, 3 steps): rc=$? (informational)"
        tail -n 2 "$WORK/memcheck.out" | sed "s/^/    /" >>"$SUMMARY"
        cat "$WORK/memcheck.out" >>"$LOG"
    fi
    tar -C "$TRACES" -czf "$OUT/nccl-traces.tgz" . && du -sh "$TRACES"/* >>"$SUMMARY"
}

main
gpu_finish
