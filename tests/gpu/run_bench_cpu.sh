#!/bin/bash
# run_bench_cpu.sh - `make bench`'s analysis benchmark (scripts/bench_analyze.sh, and
# bench_mpi.sh through it) on a GPU machine's CPUs: 16 or more calm cores, where issue
# 15's ratios to the read floor can be shown (this 2-core development machine cannot).
# Nothing here uses the GPU. The machine's Ubuntu lacks three of our Debian packages,
# carried in .devcarry (ignored by git; `run` with carry [".devcarry"]): jansson/
# (include, lib), libdeflate/ (include, lib, lib/pkgconfig/libdeflate.pc with
# prefix=${pcfiledir}/../..) and bin/time (GNU time).
#   OUT=DIR BENCH_SIZES="256x2000 1024x500" tests/gpu/run_bench_cpu.sh
# BENCH_TRACES (default /tmp/dxt-bench-traces) keeps the traces for the next call on a
# machine still warm; DXT_BENCH_MPI_P sets the MPI process counts (default "1 2 4 8 16").
# Output: $OUT/bench-cpu.log (the build) and $OUT/bench-cpu.txt (the numbers).
# Owner: the performance engineer (issue 15).
set -u
OUT=${OUT:-/tmp/dxt-bench-cpu-out}
mkdir -p "$OUT" || exit 1
CARRY=$PWD/.devcarry
export PKG_CONFIG_PATH=$CARRY/libdeflate/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
[ -x /usr/bin/time ] || export GNU_TIME=$CARRY/bin/time
export BENCH_SIZES=${BENCH_SIZES:-"256x2000 1024x500"}
export BENCH_TRACES=${BENCH_TRACES:-/tmp/dxt-bench-traces}
export DXT_BENCH_MPI_P=${DXT_BENCH_MPI_P:-"1 2 4 8 16"}
jansson=
[ -f /usr/include/jansson.h ] || jansson=JANSSON_DIR=$CARRY/jansson
{
    nproc; uptime; lscpu | grep -E 'Model name|^CPU\(s\)'
    make NODEPS=1 -j"$(nproc)" $jansson build/bin/dxt-synth build/bin/dxt-analyze \
        build/bench/bench_read
} >"$OUT/bench-cpu.log" 2>&1 || { tail -n 30 "$OUT/bench-cpu.log"; exit 1; }
ldd build/bin/dxt-analyze | grep -E 'deflate|mpi|hdf5' >>"$OUT/bench-cpu.log"
{
    echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg)"
    scripts/bench_analyze.sh build
} 2>&1 | tee "$OUT/bench-cpu.txt"
