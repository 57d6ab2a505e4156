#!/bin/sh
# bench_mpi.sh - dxt-analyze under mpirun (issue 15), for `make bench` (scripts/bench.sh
# calls it) and for machines with many cores: per process count P, the wall time and the
# CPU time of `mpirun -n P dxt-analyze` (user + system of every process), each against
# dxt-analyze alone, and whether the report is the serial one byte for byte.
#   scripts/bench_mpi.sh [BUILD_DIR] [TRACE [FLOOR_S] ...]
#   BENCH_MPI_PROCS="1 2 4 8 16" scripts/bench_mpi.sh build 256x2000
# FLOOR_S (a number after a trace; scripts/bench_analyze.sh passes it): the trace's read
# floor in seconds, each wall time then also against it.
# TRACE: a trace directory, or RANKSxSTEPS for a trace that dxt-synth simulates here
# (two ops, tokens, one slow source; removed afterwards). Default: $DXT_BENCH_MPI, else
# 256x2000. BENCH_MPI_PROCS: the process counts (default "1 2"; DXT_BENCH_MPI_P, the
# older name, is still read). BENCH_MPI_REPEAT: runs of each (default 1; the fastest
# wall is kept). Skips, saying why, without mpirun or a dxt-analyze built with MPI.
# POSIX sh, date, awk, cmp, mktemp: no GNU time (the CPU is the shell's `times` of a
# subshell, which counts every process mpirun started); runs where dxt-analyze was built
# with `make NODEPS=1` too (Ubuntu without our Debian packages: `make NODEPS=1
# JANSSON_DIR=.devcarry/jansson build/bin/dxt-analyze build/bin/dxt-synth`, OpenMPI's
# libopenmpi-dev for the MPI glue). The machine's load is printed: other work shows in the times.
# Owner: the parallel-analysis engineer.
set -u
BUILD=${1:-build}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- ${DXT_BENCH_MPI:-256x2000}
PROCS=${BENCH_MPI_PROCS:-${DXT_BENCH_MPI_P:-1 2}}
REPEAT=${BENCH_MPI_REPEAT:-1}
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
# one host: shared memory only; no CMA in containers; more processes than cores is fine
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1 \
       OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
ROOT=""
[ "$(id -u)" = 0 ] && ROOT=--allow-run-as-root

# B / A, two decimals
ratio() { echo "$1 $2" | awk '{printf "%.2f", ($1 > 0 ? $2 / $1 : 0)}'; }

# seconds of `times`'s XmY.YYYs
secs() { echo "$1" | awk '{ split($1, p, "m"); sub(/s$/, "", p[2]); printf "%.2f", p[1] * 60 + p[2] }'; }

# measure NAME CMD...: the report to $TMP/NAME.json; prints "WALL CPU" (seconds)
measure() {
    name=$1; shift
    (
        start=$(date +%s.%N)
        "$@" --format json >"$TMP/$name.json" 2>"$TMP/$name.err" || exit 1
        end=$(date +%s.%N)
        times >"$TMP/times" # no pipe, no $(): a forked `times` would count nothing
        set -- $(tail -n 1 "$TMP/times") # the children's user and system time
        echo "$start $end $(secs "$1") $(secs "$2")" | awk '{printf "%.2f %.2f", $2 - $1, $3 + $4}'
    ) || { echo "bench_mpi: failed: $*" >&2; tail -n 5 "$TMP/$name.err" >&2; return 1; }
}

# best NAME CMD...: the fastest of REPEAT runs ("WALL CPU")
best() {
    name=$1; shift
    keep=""
    i=0
    while [ "$i" -lt "$REPEAT" ]; do
        got=$(measure "$name" "$@") || return 1
        keep=$(printf '%s\n%s\n' "$keep" "$got" | awk 'NF == 2' | sort -n | head -n 1)
        i=$((i + 1))
    done
    echo "$keep"
}

bench_one() {
    trace=$1 floor=$2
    kind=$trace
    [ -d "$trace" ] && kind=directory # its name may look like RANKSxSTEPS: ep256x2000
    case $kind in
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
    got=$(best serial "$ANALYZE" "$dir") || return 1
    set -- $got
    wall=$1 cpu=$2
    printf '  alone         wall %7.2f s              CPU %7.2f s\n' "$wall" "$cpu"
    for p in $PROCS; do
        # --bind-to none: OpenMPI binds each process to one core when P <= 2, and a
        # process's decoding threads would then share that core
        got=$(best "p$p" mpirun -n "$p" --oversubscribe --bind-to none $ROOT "$ANALYZE" "$dir") ||
            return 1
        set -- $got
        same="REPORT DIFFERS"
        cmp -s "$TMP/serial.json" "$TMP/p$p.json" && same="same report"
        printf '  mpirun -n %-3s wall %7.2f s (%5.2f x)  CPU %7.2f s (%5.2f x)  %s%s\n' "$p" "$1" \
            "$(ratio "$wall" "$1")" "$2" "$(ratio "$cpu" "$2")" "$same" \
            "${floor:+  (wall $(ratio "$floor" "$1") x the read floor)}"
        [ "$same" = "same report" ] || status=1
    done
    echo "  (x: against dxt-analyze alone; CPU: user + system of every process)"
    echo "  load after: $(cut -d' ' -f1-3 /proc/loadavg)"
    rm -rf "$TMP/trace"
}

status=0
while [ $# -gt 0 ]; do
    trace=$1; shift
    floor=""
    case ${1:-} in
    '' | *[!0-9.]*) ;;
    *) floor=$1; shift ;;
    esac
    bench_one "$trace" "$floor" || status=1
done
exit $status
