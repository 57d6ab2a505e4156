#!/bin/sh
# test_mpi.sh - `mpirun -n 2 dxt-analyze` against `dxt-analyze`: on synthetic traces
# (faults, tokens and none, missing ranks, dropped rows and step gaps, a world that
# two processes split unevenly, a rank in two files, a damaged chunk, a file that is
# not HDF5), on a text matrix and on bad requests, the report (text, JSON, CSV of the
# matrices, the pictures) is the same byte for byte, and so are the exit code and
# dxt-analyze's lines on stderr; nothing hangs (every run under a timeout).
# Skips, saying why, where mpirun is absent or dxt-analyze was built without MPI.
# Owner: the parallel-analysis engineer (issue 15). Run by tests/run.sh.
set -u
. tests/lib.sh
test_init mpi

if ! command -v mpirun >/dev/null 2>&1; then
    echo "skip: no mpirun (scripts/deps.sh installs openmpi-bin libopenmpi-dev as root)"
    exit 0
fi
if ! ldd "$ANALYZE" 2>/dev/null | grep -q libmpi; then
    echo "skip: $ANALYZE was built without MPI (no pkg-config ompi-c when it was built)"
    exit 0
fi
# in containers: no CMA between processes; one host: shared memory only (starts
# faster); more processes than cores is fine
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1 \
       OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
MPIRUN="mpirun -n 2 --oversubscribe"
[ "$(id -u)" = 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
# The ASan build (make SAN=1 test): OpenMPI keeps blocks until exit. Its components stay
# loaded and every malloc gets a full stack (fast_unwind_on_malloc=0: their code has no
# frame pointers) so that tests/mpi_lsan.supp names them; our own leaks still fail. That
# makes each run slow: only the cases not marked `full &&` (tests/test_partition.c covers
# the rest of a partitioned run under ASan, without MPI).
MPI_ENV=""
SAN=0
if ldd "$ANALYZE" | grep -q libasan; then
    SAN=1
    export OMPI_MCA_mca_base_component_disable_dlclose=1 PMIX_MCA_mca_base_component_disable_dlclose=1
    MPI_ENV="ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}:fast_unwind_on_malloc=0
LSAN_OPTIONS=suppressions=$(pwd)/tests/mpi_lsan.supp"
    echo "ASan build: a few cases, the leaks of OpenMPI suppressed"
fi
full() { [ "$SAN" = 0 ]; } # the whole test: not under ASan

# run OUT ARGS...: stdout to OUT.out, dxt-analyze's stderr lines to OUT.err (mpirun's
# own banners left out), the exit code to OUT.rc
run() {
    out=$1; shift
    rc=0
    "$@" >"$out.out" 2>"$out.raw" || rc=$?
    echo "$rc" >"$out.rc"
    grep '^dxt-analyze' "$out.raw" >"$out.err" || true
}

# same NAME TRACE ARGS...: serial and mpirun -n 2 agree
same() {
    name=$1; trace=$2; shift 2
    run "$TMP/serial" timeout 120 "$ANALYZE" "$trace" "$@"
    # shellcheck disable=SC2086
    run "$TMP/mpi" env $MPI_ENV timeout 240 $MPIRUN "$ANALYZE" "$trace" "$@"
    for part in rc out err; do
        if ! cmp -s "$TMP/serial.$part" "$TMP/mpi.$part"; then
            bad "$name: the $part differs (serial <, mpirun -n 2 >)"
            diff "$TMP/serial.$part" "$TMP/mpi.$part" | head -n 12
            return
        fi
    done
    ok "$name (exit $(cat "$TMP/serial.rc"))"
}

# both FORMATS: text and JSON of one trace
both() { # NAME TRACE ARGS...: text and JSON (under ASan: JSON)
    case_name=$1; case_trace=$2; shift 2
    full && same "$case_name, text" "$case_trace" "$@"
    same "$case_name, json" "$case_trace" --format json "$@"
}

synth() { # DIR ARGS...
    dir=$1; shift
    "$SYNTH" -q -o "$dir" "$@" || bad "dxt-synth $*"
}

# faults, with tokens; a window and a step range of the user's
synth "$TMP/faults" -n 16 -t 600 --fault slow_source:rank=5,onset=200,x=3 \
      --fault slow_path:src=3,dst=12,x=4,onset=300 --fault load_imbalance:rank=10,x=3,onset=100
both "faults" "$TMP/faults"
full && same "faults, --window 7 --from 50 --to 480 --op combine" "$TMP/faults" --window 7 \
     --from 50 --to 480 --op combine
full && same "faults, csv" "$TMP/faults" --format csv
full && same "faults, csv --matrices" "$TMP/faults" --format csv --matrices --window 100

if full; then
    # missing ranks (one in each process's block), dropped rows, step gaps
    synth "$TMP/gaps" -n 24 -t 500 --drop-prob 0.02 --gap-every 50 \
          --fault slow_node:node=1,as=destination,x=2,onset=150
    rm -f "$TMP/gaps/rank-00004.h5" "$TMP/gaps/rank-00017.h5"
    both "missing ranks, dropped rows, gaps" "$TMP/gaps"

    # no tokens, delta counting, ns, 13 ranks: blocks of 7 and 6
    synth "$TMP/odd" -n 13 -r 4 -t 300 --no-tokens --counting delta --unit ns \
          --fault slow_destination:rank=11,onset=100,x=3
    both "13 ranks, no tokens" "$TMP/odd" --per-node 4

    # rank 12 (process 1's block) in two files: the stream's warnings come from there
    synth "$TMP/dup" -n 16 -t 300 --fault slow_source:rank=13,onset=100,x=3
    cp "$TMP/dup/rank-00012.h5" "$TMP/dup/rank-00012.1.h5"
    both "a rank in two files (warnings of process 1)" "$TMP/dup"
fi

# damaged: a chunk of rank 12 overwritten, rank 3 not HDF5 at all
synth "$TMP/bad" -n 16 -t 300 --compress 1
if "$PY" - "$TMP/bad/rank-00012.h5" <<'EOF'
import sys, h5py
path = sys.argv[1]
with h5py.File(path, "r") as f:
    d = f["ops/combine/wait"]
    info = d.id.get_chunk_info(d.id.get_num_chunks() - 1)
with open(path, "r+b") as f:
    f.seek(info.byte_offset)
    f.write(bytes((7 * k + 3) % 256 for k in range(info.size)))
EOF
then
    head -c 3000 /dev/urandom >"$TMP/bad/rank-00003.h5"
    both "a damaged chunk, a file not HDF5" "$TMP/bad"
else
    bad "could not damage $TMP/bad/rank-00012.h5 (h5py)"
fi

# a text matrix: process 0 reads it alone
printf '0 1 2 3\n1 0 2 9\n1 1 0 3\n1 1 2 0\n' >"$TMP/matrix.txt"
full && both "a text matrix" "$TMP/matrix.txt" --per-node 2

# bad requests: the same error, the same exit code, no hang
same "no such trace" "$TMP/none"
full && same "an empty step range" "$TMP/faults" --from 100000
full && same "an unknown op" "$TMP/faults" --op nosuch
full && same "a bad option" "$TMP/faults" --window 0
rm -rf "$TMP/empty" && mkdir "$TMP/empty"
full && same "an empty directory" "$TMP/empty"
# shellcheck disable=SC2086
full && run "$TMP/follow" env $MPI_ENV timeout 120 $MPIRUN "$ANALYZE" "$TMP/faults" --follow
full && check "--follow under mpirun -n 2: exit 2" [ "$(cat "$TMP/follow.rc")" = 2 ]
full && check "--follow under mpirun -n 2: says why" grep -q "one process" "$TMP/follow.err"

# the pictures (gnuplot) are the same files
if full && command -v gnuplot >/dev/null 2>&1; then
    timeout 120 "$ANALYZE" "$TMP/faults" -q --plots "$TMP/plots-serial" >/dev/null 2>&1
    timeout 120 $MPIRUN "$ANALYZE" "$TMP/faults" -q --plots "$TMP/plots-mpi" >/dev/null 2>&1
    check "--plots: the same pictures" diff -r "$TMP/plots-serial" "$TMP/plots-mpi"
fi

# a plain run never starts MPI: no MPI variable, so no mpirun needed
check "plain dxt-analyze without mpirun" sh -c "'$ANALYZE' '$TMP/faults' -q >/dev/null"

echo "test_mpi: $fails failed"
[ "$fails" = 0 ]
