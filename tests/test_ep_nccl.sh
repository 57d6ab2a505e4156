#!/bin/sh
# test_ep_nccl.sh - what CI can check of dxt-ep-nccl without a GPU: it builds
# (where make found nvcc and NCCL >= 2.28), prints its help, refuses bad
# command lines with status 2, and a launch with no GPU ends (status 1, every
# rank stopped) instead of hanging; started by mpirun/srun without --id-file it
# says what is missing. Skipped where the binary is not built. The runs on GPUs
# are tests/gpu/run_nccl.sh.
#
# Owner: the multi-GPU (NCCL) side of dxtrace.
set -u
BUILD=${DXT_BUILD:-build}
EP="$BUILD/bin/dxt-ep-nccl"
[ -x "$EP" ] || EP=build/bin/dxt-ep-nccl
if [ ! -x "$EP" ]; then
    echo "SKIP: dxt-ep-nccl not built (no nvcc or no NCCL with the device API)"
    exit 0
fi
fail=0
expect() { # STATUS DESCRIPTION COMMAND...
    want=$1 what=$2
    shift 2
    "$@" >/tmp/test_ep_nccl.$$ 2>&1
    got=$?
    if [ "$got" != "$want" ]; then
        echo "FAIL: $what: status $got, want $want"
        sed 's/^/    /' /tmp/test_ep_nccl.$$
        fail=1
    else
        echo "ok: $what"
    fi
}
expect 0 "--help" "$EP" --help
expect 2 "0 ranks" "$EP" -n 0
expect 2 "too many ranks" "$EP" -n 100000
expect 2 "slow path to itself" "$EP" -n 4 --slow-path 2:2
expect 2 "slow rank beyond K" "$EP" -n 4 --slow-rank 4
expect 2 "not a number" "$EP" -s 12x
expect 2 "--rank without --id-file" "$EP" --rank 1 -n 2
expect 2 "stray argument" "$EP" extra
expect 2 "bad --fault-op" "$EP" --fault-op sideways
expect 2 "mpirun without --id-file" env OMPI_COMM_WORLD_RANK=0 OMPI_COMM_WORLD_SIZE=2 "$EP"
expect 2 "--nranks against mpirun's size" env PMI_RANK=0 PMI_SIZE=2 "$EP" -n 3 --id-file /tmp/x
if ! nvidia-smi -L >/dev/null 2>&1; then
    # no GPU: every rank fails at its first CUDA call, the launcher returns 1
    expect 1 "launch of 2 ranks without a GPU ends" timeout 60 "$EP" -n 2 -s 2 --timeout-s 30
    grep -q "rank 1" /tmp/test_ep_nccl.$$ || { echo "FAIL: no word from rank 1"; fail=1; }
fi
rm -f /tmp/test_ep_nccl.$$
exit $fail
