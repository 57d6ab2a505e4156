#!/bin/sh
# bench_mpi.sh - dxt-analyze under mpirun (issue 15), for `make bench` (scripts/bench.sh
# calls it): the wall time of one analysis alone and under mpirun -n P, and whether
# the reports are the same byte for byte.
#   scripts/bench_mpi.sh [BUILD_DIR] [TRACE ...]
# TRACE: a trace directory, or RANKSxSTEPS for a trace that dxt-synth simulates here
# (two ops, tokens, one slow source; removed afterwards). Default: $DXT_BENCH_MPI, else
# 256x2000. DXT_BENCH_MPI_P: the process counts (default "1 2"). Skips, saying why,
# without mpirun or a dxt-analyze built with MPI. The machine's load is printed: other
# work on the same cores shows in the times.
# Owner: the parallel-analysis engineer.
set -u
BUILD=${1:-build}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- ${DXT_BENCH_MPI:-256x2000}
SYNTH="$BUILD/bin/dxt-synth"
ANALYZE="$BUILD/bin/dxt-analyze"
for tool in "$SYNTH" "$ANALYZE"; do
    [ -x "$tool" ] || { echo "bench_mpi: $tool not built (run make)" >&2; exit 1; }
done
if ! command -v mpirun >/dev/null 2>&1 || ! ldd "$ANALYZE" | grep -q libmpi; then
    echo "bench_mpi: skipped: no mpirun, or dxt-analyze built without MPI (scripts/deps.sh" \
         "installs openmpi-bin libopenmpi-dev as root)"
    exit 0
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/dxt-bench-mpi.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1 \
       OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
ROOT=""
[ "$(id -u)" = 0 ] && ROOT=--allow-run-as-root

# wall seconds of a command; its report to $TMP/$1.json
timed() {
    name=$1; shift
    start=$(date +%s.%N)
    "$@" --format json >"$TMP/$name.json" 2>"$TMP/$name.err" || {
        echo "bench_mpi: failed: $*" >&2; tail -n 5 "$TMP/$name.err" >&2; return 1; }
    echo "$start $(date +%s.%N)" | awk '{printf "%.2f", $2 - $1}'
}

bench_one() {
    trace=$1
    case $trace in
    *x*[0-9])
        ranks=${trace%x*}; steps=${trace#*x}
        echo "mpirun -n P dxt-analyze: a simulated trace, $ranks ranks x $steps steps, 2 ops, tokens"
        "$SYNTH" -q -n "$ranks" -t "$steps" -s 7 -o "$TMP/trace" \
            --fault slow_source:rank=3,x=1.5 || { echo "bench_mpi: dxt-synth failed" >&2; return 1; }
        dir=$TMP/trace ;;
    *)
        echo "mpirun -n P dxt-analyze: $trace"
        dir=$trace ;;
    esac
    echo "  load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
    serial=$(timed serial "$ANALYZE" "$dir") || return 1
    printf '  alone        wall %7.2f s\n' "$serial"
    for p in ${DXT_BENCH_MPI_P:-1 2}; do
        t=$(timed "p$p" mpirun -n "$p" --oversubscribe $ROOT "$ANALYZE" "$dir") || return 1
        same=differs
        cmp -s "$TMP/serial.json" "$TMP/p$p.json" && same="same report"
        printf '  mpirun -n %-2s wall %7.2f s  (%s x the time alone; %s)\n' "$p" "$t" \
            "$(echo "$serial $t" | awk '{printf "%.2f", $2 / $1}')" "$same"
    done
    echo "  load after: $(cut -d' ' -f1-3 /proc/loadavg)"
    rm -rf "$TMP/trace"
}

status=0
for trace in "$@"; do
    bench_one "$trace" || status=1
done
exit $status
