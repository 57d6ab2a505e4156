#!/bin/bash
# run_live.sh - live diagnosis of real DeepEP (`from dxtrace import diagnose as ds`,
# issue 12) on a multi-GPU machine, in one command from the repository root:
#   tests/gpu/run_live.sh            (DEEPEP_SRC as for run_deepep.sh; OUT=dir)
# Builds libdxtrec (CUDA) and libdxtanalysis, DeepEP (tests/gpu/lib.sh build_deepep,
# kept when already built), then samples/deepep/ep_diagnose.py on EP2 and EP4
# (where the GPUs are): sync mode (diagnose_ll_sync every step, a diagnosis every
# 300 steps) and async mode (a gloo thread every 0.1 s), each a healthy case and a
# slow rank from the middle of the run, plus the per-step cost of diagnosing.
# Writes $OUT/live.log, $OUT/live-summary.txt (what rank 0 returned and logged,
# the overhead) and $OUT/live-ep<K>.tgz (traces, logs, results).
# Without a GPU it says so and exits 0.
#
# Owner: the DeepEP harness (samples/deepep/).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/gpu/lib.sh
gpu_setup live || exit 0
GPUS=$(nvidia-smi -L | grep -c '^GPU')
RUN="env PYTHONPATH=$DEEPEP:python DXTREC_LIB=build/lib/libdxtrec.so \
DXTANALYSIS_LIB=build/lib/libdxtanalysis.so"

# what rank 0 said in one mode: each case's first diagnosis naming the slow rank,
# anything abnormal before the onset, the log's abnormal lines; the overhead
summarize() {
    local dir=$1 mode=$2
    $PY - "$dir" "$mode" >>"$SUMMARY" 2>&1 <<'EOF'
import glob, json, os, sys
d, mode = sys.argv[1], sys.argv[2]
for case in ("healthy", "slow-source"):
    p = os.path.join(d, "%s-%s" % (mode, case), "results.json")
    if os.path.exists(p):
        r = json.load(open(p))
        print("    %s %s: %d diagnoses, onset %s, first naming the slow rank at step %s, "
              "abnormal before onset: %d, %.2f s" % (mode, case, len(r["diagnoses"]), r["onset"],
              r["first_diagnosis_naming_slow_rank"], len(r["abnormal_before_onset"]), r["seconds"]))
    log = os.path.join(d, "%s-%s" % (mode, case), "diagnose_rank0.log")
    if os.path.exists(log):
        lines = [l.rstrip() for l in open(log) if "abnormal" in l.lower() or "slow" in l.lower()]
        print("    %s %s log: %d lines with findings%s" % (mode, case, len(lines),
              (", first: " + lines[0][:200]) if lines else ""))
for p in sorted(glob.glob(os.path.join(d, "%s-overhead-rank*.json" % mode))):
    r = json.load(open(p))
    print("    %s overhead rank %d: off %.2f us, on %.2f us per step: %+.2f%%"
          % (mode, r["rank"], r["off_us"], r["on_us"], r["overhead_pct"]))
EOF
}

main() {
    nvidia-smi -L | tee -a "$LOG"
    # no jansson on the GPU machine: Debian's, carried in .devcarry/jansson (see the Makefile)
    local jansson=
    [ -f /usr/include/jansson.h ] || jansson=JANSSON_DIR=.devcarry/jansson
    step build-dxtrace 600 make NODEPS=1 -j16 $jansson build/lib/libdxtrec.so build/lib/libdxtanalysis.so ||
        { note "build failed"; return 1; }
    export SRC DEEPEP PY
    export -f build_deepep deepep_stamp
    step build-deepep 900 bash -c build_deepep || { note "DeepEP build failed: see live.log"; return 1; }
    local k dir
    for k in 2 4; do
        [ "$GPUS" -ge "$k" ] || { note "EP$k: not run, $GPUS GPUs here"; continue; }
        dir="$WORK/ep$k"
        step "ep$k-sync" 300 $RUN $PY samples/deepep/ep_diagnose.py --ranks "$k" --mode sync \
            --out "$dir" --steps 2400 --onset 1200 --sync-step 300
        summarize "$dir" sync
        step "ep$k-async" 300 $RUN $PY samples/deepep/ep_diagnose.py --ranks "$k" --mode async \
            --out "$dir" --steps 40000 --onset 20000 --interval 0.1 --bench-blocks 5
        summarize "$dir" async
        tar -C "$dir" -czf "$OUT/live-ep$k.tgz" . && du -sh "$OUT/live-ep$k.tgz" >>"$SUMMARY"
    done
}

main
gpu_finish
