#!/bin/sh
# bench.sh - print every benchmark of dxtrace (make bench calls it).
#   scripts/bench.sh [BUILD_DIR]
# Runs each BUILD_DIR/bench/bench_* binary in turn (each prints its own lines);
# other benchmarks (analysis, Python, ...) add their lines below.
# Owner of this file's first part: recorder host path.
set -u
BUILD=${1:-build}
status=0
for b in "$BUILD"/bench/bench_*; do
    [ -x "$b" ] || continue
    [ "${b##*/}" = bench_read ] && continue # run by bench_analyze.sh on its traces
    echo "== $(basename "$b")"
    "$b" || { echo "$(basename "$b") failed" >&2; status=1; }
done
echo "== bench_analyze"
scripts/bench_analyze.sh "$BUILD" || { echo "bench_analyze failed" >&2; status=1; }
echo "== bench_mpi"
scripts/bench_mpi.sh "$BUILD" || { echo "bench_mpi failed" >&2; status=1; }
exit $status
