#!/bin/sh
# bench_analyze.sh - the analysis benchmark of `make bench` (scripts/bench.sh
# calls it). For each size RANKSxSTEPS: dxt-synth writes a simulated trace (2
# ops, tokens, one slow source rank); then, in the same run, the floor (every
# wait and tokens dataset read once with plain H5Dread, one thread:
# bench_read floor), dxt-analyze with 1 decoding thread and with the default
# (online CPUs): wall time, ratio to the floor, peak memory; the time per stage
# (bench_read stages); and a projection to EP16384 x 10,000 steps from the
# measured throughput. Wall times need a calm machine (user: CPU seconds, less
# sensitive to other load).
#   scripts/bench_analyze.sh [BUILD_DIR]
# Environment:
#   BENCH_SIZES    sizes, default "64x2000" (short, for make bench); the issue-15
#                  set: "256x2000 1024x500 4096x200" (4096x200: 53 GB raw, ~14 GB
#                  on disk, long to generate: run it by hand)
#   BENCH_TRACES   keep the traces in this directory and reuse them (default: a
#                  temporary directory, removed at the end)
#   BENCH_THREADS  thread counts of dxt-analyze, default "1 N" (N: online CPUs)
#   GNU_TIME       GNU time (default /usr/bin/time; tests/gpu/run_bench_cpu.sh
#                  brings Debian's where it is missing)
# Owner: the performance engineer (issue 15).
set -u
BUILD=${1:-build}
SIZES=${BENCH_SIZES:-64x2000}
CPUS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
THREADS=${BENCH_THREADS:-"1 $CPUS"}
SYNTH="$BUILD/bin/dxt-synth"
ANALYZE="$BUILD/bin/dxt-analyze"
READ="$BUILD/bench/bench_read"
for tool in "$SYNTH" "$ANALYZE" "$READ"; do
    [ -x "$tool" ] || { echo "bench_analyze: $tool not built (run make)" >&2; exit 1; }
done
GNU_TIME=${GNU_TIME:-/usr/bin/time}
[ -x "$GNU_TIME" ] || { echo "bench_analyze: needs GNU time at $GNU_TIME (apt-get install time)" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/dxt-bench-analyze.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
TRACES=${BENCH_TRACES:-$TMP}
mkdir -p "$TRACES" || exit 1

# wall seconds, user seconds, peak RSS KiB of a command (its output to $TMP/out)
measure() {
    "$GNU_TIME" -f "%e %U %M" -o "$TMP/time" "$@" >"$TMP/out" 2>"$TMP/err" || {
        echo "bench_analyze: failed: $*" >&2; tail -n 5 "$TMP/err" >&2; return 1; }
    cat "$TMP/time"
}
value() { sed -n "s/^$1 //p" "$2"; }   # key, file of "key value" lines

# The trace of ranks x steps, made once (reused from BENCH_TRACES when complete).
make_trace() {
    dir="$TRACES/ep$1x$2"
    if [ -f "$dir/.complete" ]; then
        echo "  dxt-synth    (reused $dir)"
        return 0
    fi
    rm -rf "$dir"
    set -- $(measure "$SYNTH" -q -n "$1" -t "$2" -s 7 -o "$dir" \
                     --fault slow_source:rank=3,x=1.5) || return 1
    printf '  dxt-synth    wall %7.1f s  peak RSS %6d MiB\n' "$1" $(($3 / 1024))
    touch "$dir/.complete"
}

bench_size() {
    ranks=$1 steps=$2 dir="$TRACES/ep$1x$2"
    raw=$((ranks * steps * 2 * ranks * 16))
    echo "EP$ranks x $steps steps (2 ops, tokens): $((raw >> 20)) MiB of wait + tokens raw"
    make_trace "$ranks" "$steps" || return 1
    bytes=$(du -sb "$dir" | cut -f1)
    printf '  trace        %d MiB on disk (%d%% of raw)\n' $((bytes >> 20)) $((bytes * 100 / raw))
    set -- $(measure "$READ" floor "$dir") || return 1
    floor=$(value floor_s "$TMP/out")
    printf '  floor        %7.2f s  (plain H5Dread, 1 thread: %.0f MB/s raw)  peak RSS %d MiB  user %.1f s\n' \
        "$floor" "$(echo "$raw $floor" | awk '{print $1 / $2 / 1e6}')" $(($3 / 1024)) "$2" 
    for t in $THREADS; do
        set -- $(DXT_THREADS=$t measure "$ANALYZE" --format json "$dir") || return 1
        printf '  dxt-analyze  %7.2f s  %d thread(s)  ratio to the floor %.2f  peak RSS %d MiB  user %.1f s\n' \
            "$1" "$t" "$(echo "$1 $floor" | awk '{print $1 / $2}')" $(($3 / 1024)) "$2"
        echo "$ranks $steps $1 $t" >>"$TMP/runs"
    done
    DXT_THREADS=$CPUS "$READ" stages "$dir" >"$TMP/stages" || return 1
    printf '  stages       (%s threads) open %.2f  read %.2f cpu-s  decode %.2f cpu-s  sums %.2f cpu-s (streams %.2f wall)  classify %.2f  report %.2f  total %.2f s\n' \
        "$(value threads "$TMP/stages")" "$(value open_s "$TMP/stages")" \
        "$(value read_s "$TMP/stages")" "$(value decode_cpu_s "$TMP/stages")" \
        "$(value sums_s "$TMP/stages")" "$(value wait_s "$TMP/stages")" \
        "$(value classify_s "$TMP/stages")" "$(value report_s "$TMP/stages")" \
        "$(value total_s "$TMP/stages")"
    echo "$ranks $steps $(value classify_s "$TMP/stages") $(value report_s "$TMP/stages")" \
        >>"$TMP/classify"
    # more lines for this trace (the MPI analysis at P = 1, 2): scripts/bench_mpi.sh
    # BUILD TRACE FLOOR_S, when present, prints them
    if [ -f scripts/bench_mpi.sh ]; then
        sh scripts/bench_mpi.sh "$BUILD" "$dir" "$floor" || return 1
    fi
}

status=0
for size in $SIZES; do
    bench_size "${size%x*}" "${size#*x}" || status=1
done
[ -f "$TMP/runs" ] || exit 1

# Projection: the largest size measured gives the read throughput (raw bytes a
# second at the default threads, one process) and the cost of the rest per
# cell-window (classify + report scale as N^2 x windows, 100 windows).
awk -v cpus="$CPUS" '
    FNR == NR { if ($4 == cpus || !(($1 * $1 * $2) in best)) { best[$1 * $1 * $2] = $3; n[$1 * $1 * $2] = $1; t[$1 * $1 * $2] = $2 } next }
    { rest[$1] = $3 + $4 }
    END {
        big = 0; for (k in best) if (k + 0 > big + 0) big = k
        N = n[big]; T = t[big]; raw = N * N * T * 2 * 16
        cls = rest[N]; if (cls == "") cls = 0
        read = best[big] - cls; if (read <= 0) read = best[big]
        bps = raw / read
        NN = 16384; TT = 10000; RAW = NN * NN * TT * 2 * 16
        CLS = cls * (NN / N) * (NN / N)
        printf "projection   EP%d x %d steps (%.0f TB raw) from EP%d x %d: %.2f GB/s raw a process, classify + report %.0f s (one process)\n", NN, TT, RAW / 1e12, N, T, bps / 1e9, CLS
        printf "             processes P:   "
        for (p = 1; p <= 65536; p *= 4) printf "%9d", p
        printf "\n             minutes:       "
        for (p = 1; p <= 65536; p *= 4) printf "%9.1f", (RAW / bps / p + CLS) / 60
        printf "\n"
        if (CLS >= 60) printf "             a report in a minute: not reachable by reading faster alone (classify + report take %.0f s)\n", CLS
        else printf "             a report in a minute: P >= %d\n", int(RAW / bps / (60 - CLS)) + 1
    }' "$TMP/runs" "$TMP/classify"
exit $status
