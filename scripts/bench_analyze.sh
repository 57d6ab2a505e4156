#!/bin/sh
# bench_analyze.sh - the analysis benchmark of `make bench` (scripts/bench.sh
# calls it): dxt-synth writes a simulated trace (RANKS x STEPS, one slow
# source rank), then dxt-analyze analyzes it; prints the time and peak memory
# of both and the trace's bytes per row on disk vs raw.
#   scripts/bench_analyze.sh [BUILD_DIR] [RANKS] [STEPS]     (default build 64 2000)
# Kept short for make bench (64 x 2,000: about 10 s on 2 cores); the 256-rank,
# 10,000-step figure is measured by hand with the same commands (see the note).
# Owner: the performance engineer.
set -u
BUILD=${1:-build}
RANKS=${2:-64}
STEPS=${3:-2000}
SYNTH="$BUILD/bin/dxt-synth"
ANALYZE="$BUILD/bin/dxt-analyze"
for tool in "$SYNTH" "$ANALYZE"; do
    [ -x "$tool" ] || { echo "bench_analyze: $tool not built (run make)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "bench_analyze: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/dxt-bench-analyze.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

# wall seconds, user seconds, peak RSS KiB of a command (its output to $TMP/out)
measure() {
    /usr/bin/time -f "%e %U %M" -o "$TMP/time" "$@" >"$TMP/out" 2>"$TMP/err" || {
        echo "bench_analyze: failed: $*" >&2; tail -n 5 "$TMP/err" >&2; return 1; }
    cat "$TMP/time"
}

echo "analysis of a simulated trace: $RANKS ranks x $STEPS steps, 2 ops, tokens recorded"
set -- $(measure "$SYNTH" -q -n "$RANKS" -t "$STEPS" -s 7 -o "$TMP/trace" \
                 --fault slow_source:rank=3,x=1.5) || exit 1
printf '  dxt-synth    wall %6.2f s  user %6.2f s  peak RSS %6d MiB\n' "$1" "$2" $(($3 / 1024))
bytes=$(du -sb "$TMP/trace" | cut -f1)
raw=$((RANKS * STEPS * 2 * (RANKS * 16 + 16)))
rows=$((STEPS * 2))
printf '  trace        %d MiB on disk: %d bytes per row (one rank, one op) vs %d raw (%d%%)\n' \
    $((bytes >> 20)) $((bytes / rows / RANKS)) $((raw / rows / RANKS)) $((bytes * 100 / raw))
set -- $(measure "$ANALYZE" --format json "$TMP/trace") || exit 1
findings=$(grep -o '"kind"' "$TMP/out" | wc -l)
printf '  dxt-analyze  wall %6.2f s  user %6.2f s  peak RSS %6d MiB  (%d finding(s))\n' \
    "$1" "$2" $(($3 / 1024)) "$findings"
printf '  analysis     %.2f us per rank-row (%d ranks x %d rows)\n' \
    "$(echo "$1 $RANKS $rows" | awk '{print $1 * 1e6 / ($2 * $3)}')" "$RANKS" "$rows"
