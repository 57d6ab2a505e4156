#!/bin/bash
# run.sh - build and run every GPU test and benchmark of dxtrace on a GPU
# machine in one go, and print a summary last.
#   tests/gpu/run.sh            (from the repository root; OUT=dir for results)
# Builds libdxtrec with the CUDA path and build/bin/dxt-ep-gpu (only those
# targets: `make gpu` builds other CUDA samples too), then: the LL-style
# exchange at V=16 healthy / slow rank / slow destination / slow path,
# recorded through the CUDA path, each trace checked (tests/gpu/check_trace.py);
# small V=8 traces of healthy / slow rank / slow path for samples/traces/;
# compute-sanitizer memcheck of a short run; the overhead benchmark at V=8, 16
# and 32; the torch test of the Python binding (tests/gpu/test_torch.py); the
# step path with CUDA graphs (tests/gpu/test_graph.py) and its cost
# (tests/gpu/bench_step.py).
# Writes $OUT/gpu.log, $OUT/traces.tgz, $OUT/gpu-summary.txt, $OUT/test_graph.txt,
# $OUT/graph-traces/, $OUT/bench_step.json.
# Without a GPU it says so and exits 0 (nothing to test).
#
# Owner: the GPU side of dxtrace.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/gpu/lib.sh
gpu_setup gpu || exit 0
TRACES="$WORK/traces"
mkdir -p "$TRACES"
EP=build/bin/dxt-ep-gpu

environment() {
    nvidia-smi -L
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw \
        --format=csv
    nvcc --version | tail -n 2
    pkg-config --modversion hdf5-serial 2>&1 || echo "no pkg-config hdf5-serial"
    ls /usr/include/hdf5/serial/hdf5.h /usr/lib/x86_64-linux-gnu/hdf5/serial/libhdf5.so 2>&1
    $PY -c 'import torch, h5py, numpy; print("torch", torch.__version__, "h5py", h5py.__version__)'
}

# trace NAME V STEPS ARGS...: one recorded exchange, its truth and its check
trace() {
    local name=$1 v=$2 steps=$3
    shift 3
    local dir="$TRACES/$name"
    step "$name" 120 "$EP" -n "$v" -s "$steps" --onset $((steps * 3 / 8)) -o "$dir" \
        --run-id "h100-$name" --truth "$dir/truth.json" "$@" &&
        step "check-$name" 60 $PY tests/gpu/check_trace.py "$dir" "$steps"
    grep -E "^  (dispatch|combine)|us per step" "$WORK/$name.out" | sed "s/^/    /" >>"$SUMMARY"
    grep -h "^check_trace" "$WORK/check-$name.out" 2>/dev/null | sed "s/^/    /" >>"$SUMMARY"
}

main() {
    environment >"$OUT/env.txt" 2>&1
    cat "$OUT/env.txt" | tee -a "$LOG"
    # another compiler may warn where this project's does not: retry without -Werror (said)
    local targets="build/lib/libdxtrec.a build/lib/libdxtrec.so $EP"
    step build 600 make NODEPS=1 -j16 $targets ||
        step build-no-werror 600 make NODEPS=1 -j16 $targets SANFLAGS=-Wno-error ||
        { note "build failed: see gpu.log"; return 1; }
    trace ep16-healthy 16 400
    trace ep16-slow-rank 16 400 --slow-rank 5
    trace ep16-slow-dest 16 400 --slow-dest 9
    trace ep16-slow-path 16 400 --slow-path 3:11
    trace ep8-healthy 8 300
    trace ep8-slow-rank 8 300 --slow-rank 2
    trace ep8-slow-path 8 300 --slow-path 6:1
    if command -v compute-sanitizer >/dev/null; then
        step memcheck 300 compute-sanitizer --tool memcheck --error-exitcode 3 \
            "$EP" -n 4 -s 3 -o "$WORK/memcheck" --compute-ns 1000
        tail -n 2 "$WORK/memcheck.out" | sed "s/^/    /" >>"$SUMMARY"
    fi
    for v in 8 16 32; do
        step "bench-v$v" 300 "$EP" --bench -n "$v" -o "$WORK/bench"
        grep -v "^dxtrec" "$WORK/bench-v$v.out" | sed "s/^/    /" >>"$SUMMARY"
    done
    step torch 300 env DXTREC_LIB=build/lib/libdxtrec.so $PY tests/gpu/test_torch.py
    sed "s/^/    /" "$WORK/torch.out" | tail -n 14 >>"$SUMMARY"
    step graph 300 env DXTREC_LIB=build/lib/libdxtrec.so OUT="$OUT" $PY tests/gpu/test_graph.py
    grep -v "^ok " "$WORK/graph.out" | sed "s/^/    /" | tail -n 14 >>"$SUMMARY"
    step bench-step 300 env DXTREC_LIB=build/lib/libdxtrec.so OUT="$OUT" $PY tests/gpu/bench_step.py
    sed "s/^/    /" "$WORK/bench-step.out" | tail -n 8 >>"$SUMMARY"
    nvidia-smi --query-gpu=clocks.sm,temperature.gpu --format=csv,noheader >>"$SUMMARY"
    tar -C "$TRACES" -czf "$OUT/traces.tgz" . && ls -la "$OUT" >>"$LOG"
    du -sh "$TRACES"/* >>"$SUMMARY"
}

main
gpu_finish
