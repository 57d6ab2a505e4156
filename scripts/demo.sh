#!/bin/sh
# demo.sh - the README's main command (`make demo`): simulate a 16-rank
# expert-parallel job (2 nodes of 8) in which rank 5 becomes a slow source at
# step 800, record it through libdxtrec into demo-out/trace, print
# dxt-analyze's report and draw the heatmaps and timelines into demo-out/plots.
#   scripts/demo.sh [BUILD_DIR]      (default build)
# Owner: the loader/report engineer (A2).
set -eu
BUILD=${1:-build}
OUT=${DEMO_OUT:-demo-out}
SYNTH=$BUILD/bin/dxt-synth
ANALYZE=$BUILD/bin/dxt-analyze
for tool in "$SYNTH" "$ANALYZE"; do
    [ -x "$tool" ] || { echo "demo: $tool missing: run make first" >&2; exit 1; }
done
rm -rf "$OUT/trace"
mkdir -p "$OUT"
echo "demo: simulating 16 ranks x 2000 steps, rank 5 slow (3x) from step 800 -> $OUT/trace"
"$SYNTH" --out "$OUT/trace" --world 16 --per-node 8 --steps 2000 --quiet \
    --fault slow_source:rank=5,onset=800,magnitude=3
echo "demo: $ANALYZE $OUT/trace --plots $OUT/plots"
echo
"$ANALYZE" "$OUT/trace" --plots "$OUT/plots"
echo
echo "demo: pictures in $OUT/plots/:" $(cd "$OUT/plots" 2>/dev/null && ls *.png)
