#!/bin/bash
# run_deepep.sh - real DeepEP in the loop, in one command on a multi-GPU machine:
#   DEEPEP_SRC=path tests/gpu/run_deepep.sh     (from the repository root; OUT=dir)
# DEEPEP_SRC: DeepEP's source at commit 567632d (a directory or a .tar/.tgz of
# `git archive 567632d`); default .devcarry/deepep. It is copied into
# build/deepep, patched with samples/deepep/fault_delay.patch (in-kernel delays
# for slow destination / slow path) and built in place. Then libdxtrec with the
# CUDA path, and for EP2, EP4 and EP8 (where the machine has the GPUs): the case matrix of
# samples/deepep/ep_deepep.py (healthy, slow source 3/20 us, dispatch only, from
# step 0, intermittent, slow destination 5/20 us, slow path 5/20 us, load
# imbalance), hook-mode, async and no-sync cases, a case captured into a CUDA
# graph and replayed, the recording overhead, and samples/deepep/observe.py on
# every case. The overhead: one process per EP size measures every variant of
# BENCH_VARIANTS (default: all of ep_deepep.py --bench-variants: the step path
# with and without a per-step sync, one step in 10 with and without it, the
# older record() path, hook mode, one step captured in a CUDA graph (rec.step()
# a root node of the graph), replayed with and without a sync, and the step
# kernel with programmatic dependent launch, an experiment: sync-pdl), each in
# 9 interleaved on/off blocks of 200 steps
# (medians); one summary line per variant and rank. Before
# the EP runs, on one GPU: tests/gpu/test_graph.py (the step path's rows, in
# graphs too) and tests/gpu/bench_step.py (host cost of rec.step(), GPU time
# per graph step).
# Writes $OUT/deepep.log, $OUT/deepep-summary.txt, $OUT/deepep-ep<K>.tgz,
# $OUT/bench_step.json, $OUT/test_graph.txt.
# STEPS (default 800); CASES_ONLY=1 skips the overhead runs, BENCH_ONLY=1 the cases.
# DeepEP is built once per machine: build/deepep is reused when it was built
# from the same source and patch (REBUILD_DEEPEP=1 builds it again).
# Without a GPU it says so and exits 0.
#
# Owner: the DeepEP harness (samples/deepep/).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/gpu/lib.sh
gpu_setup deepep || exit 0
STEPS=${STEPS:-800}
BENCH_VARIANTS=${BENCH_VARIANTS:-sync,graph,nosync,graph-nosync,every10,nosync-every10,graph-every10,graph-nosync-every10,sync-pdl,hook,record}
GPUS=$(nvidia-smi -L | grep -c '^GPU')

# cases K ARGS...: record the case matrix (or the cases ARGS name) on K GPUs, then observe
cases() {
    local k=$1 name=$2
    shift 2
    local dir="$WORK/ep$k"
    step "$name" 600 env PYTHONPATH="$DEEPEP:python" DXTREC_LIB=build/lib/libdxtrec.so \
        $PY samples/deepep/ep_deepep.py --ranks "$k" --steps "$STEPS" --out "$dir" "$@"
    grep -iE "error|warning: dxtrace|Traceback" "$WORK/$name.out" | head -n 5 | sed "s/^/    /" >>"$SUMMARY"
}

# bench K NAME ARGS...: the overhead on K GPUs; one summary line per variant and rank:
#   "EP4 graph        rank 0: off 120.38 us, on 120.90 us per step: +0.43% (0 rows dropped)"
bench() {
    local k=$1 name=$2
    shift 2
    step "$name" 600 env PYTHONPATH="$DEEPEP:python" DXTREC_LIB=build/lib/libdxtrec.so \
        $PY samples/deepep/ep_deepep.py --ranks "$k" --bench --out "$WORK/$name" "$@" &&
        $PY -c 'import json,glob,sys
rows = []
for p in sorted(glob.glob(sys.argv[1] + "/rank*-results.json")):
    rows += [(i, r) for i, r in enumerate(json.load(open(p))) if "overhead_pct" in r]
for _, r in sorted(rows, key=lambda ir: (ir[0], ir[1]["rank"])):
    print("    EP%s %-12s rank %d: off %.2f us, on %.2f us per step: %+.2f%% (%d rows dropped)"
          % (sys.argv[2], r.get("variant", "given"), r["rank"], r["off_us"], r["on_us"],
             r["overhead_pct"], r.get("rows_dropped", 0)))' \
        "$WORK/$name" "$k" >>"$SUMMARY"
}

main() {
    nvidia-smi -L | tee -a "$LOG"
    $PY -c 'import torch; print("torch", torch.__version__)' >>"$LOG" 2>&1
    local targets="build/lib/libdxtrec.a build/lib/libdxtrec.so"
    step build-dxtrec 600 make NODEPS=1 -j16 $targets || { note "build failed"; return 1; }
    export SRC DEEPEP PY
    export -f build_deepep deepep_stamp
    step build-deepep 900 bash -c build_deepep || { note "DeepEP build failed: see deepep.log"; return 1; }
    if [ "${CASES_ONLY:-0}" != 1 ]; then  # the step path on one GPU: right, and what it costs
        step graph 300 env DXTREC_LIB=build/lib/libdxtrec.so OUT="$OUT" $PY tests/gpu/test_graph.py
        grep -v "^ok " "$WORK/graph.out" | sed "s/^/    /" | tail -n 14 >>"$SUMMARY"
        step bench-step 300 env DXTREC_LIB=build/lib/libdxtrec.so OUT="$OUT" $PY tests/gpu/bench_step.py
        grep -v "^bench_step: ok" "$WORK/bench-step.out" | sed "s/^/    /" | tail -n 16 >>"$SUMMARY"
    fi
    local k
    for k in 2 4 8; do
        [ "$GPUS" -ge "$k" ] || { note "EP$k: not run, $GPUS GPUs here"; continue; }
        if [ "${BENCH_ONLY:-0}" != 1 ]; then
            cases "$k" "ep$k-matrix" --matrix
            cases "$k" "ep$k-hook" --hook --case hook-slow-source-20us \
                --fault "slow_source,rank=$((k - 1)),us=20,onset=$((STEPS * 3 / 8))"
            cases "$k" "ep$k-async" --async-finish --case async-healthy
            cases "$k" "ep$k-nosync" --no-sync --case nosync-healthy
            cases "$k" "ep$k-graph" --graph
            step "ep$k-observe" 120 $PY samples/deepep/observe.py "$WORK/ep$k"/*/
            sed "s/^/    /" "$WORK/ep$k-observe.out" >>"$SUMMARY"
        fi
        if [ "${CASES_ONLY:-0}" != 1 ]; then
            bench "$k" "ep$k-bench" --bench-variants "$BENCH_VARIANTS"
        fi
        [ "${BENCH_ONLY:-0}" = 1 ] && continue
        tar -C "$WORK/ep$k" -czf "$OUT/deepep-ep$k.tgz" --exclude='rank*-results.json' . &&
            du -sh "$OUT/deepep-ep$k.tgz" >>"$SUMMARY"
    done
}

main
gpu_finish
