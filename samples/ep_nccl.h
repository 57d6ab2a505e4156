/* ep_nccl.h - dxt-ep-nccl: the LL-style EP exchange across GPUs, one process
 * per GPU, through NCCL 2.28's device API (symmetric memory windows, load/store
 * access to the peers' receive buffers). Shared by the host files
 * samples/ep_nccl.cu (one rank: NCCL setup, the exchange loop, recording) and
 * samples/ep_nccl_cli.cu (command line, launcher, ncclUniqueId rendezvous).
 * The kernel is samples/ep_nccl_kernel.cuh.
 *
 * Owner: the multi-GPU (NCCL) side of dxtrace: samples/ep_nccl*.{h,cu,cuh},
 * tests/gpu/run_nccl.sh, tests/gpu/check_faults.py, tests/test_ep_nccl.sh.
 * Reuses the single-GPU sample's routing and copy helpers
 * (samples/ep_gpu_kernel.cuh, owned by the GPU side) without changing them. */
#ifndef EP_NCCL_H
#define EP_NCCL_H

#include <nccl.h>
#include <stdint.h>

#define EN_NAME "dxt-ep-nccl"
#define EN_NOPS 2
/* the kernel's limits (checked against samples/ep_gpu_kernel.cuh's in ep_nccl_kernel.cuh) */
#define EN_MAX_RANKS 128
#define EN_MAX_TOKENS 1024
#define EN_MAX_TOPK 16

/* X(enum, option, finding name in the truth file) */
#define EN_FAULT_KINDS(X)                                  \
    X(EN_FAULT_NONE, "none", "")                           \
    X(EN_FAULT_SLOW_RANK, "slow-rank", "slow_source")      \
    X(EN_FAULT_SLOW_DEST, "slow-dest", "slow_destination") \
    X(EN_FAULT_SLOW_PATH, "slow-path", "slow_path")

typedef enum {
#define EN_FAULT_ENUM(id, opt, finding) id,
    EN_FAULT_KINDS(EN_FAULT_ENUM)
#undef EN_FAULT_ENUM
} en_fault_kind;

extern const char *const en_op_names[EN_NOPS];
extern const char *const en_fault_findings[];

struct en_opts {
    int K;                               /* ranks (processes, one GPU each) */
    int T, topk, experts_per_rank, hidden_bytes;
    int64_t steps, compute_ns, onset, delay_ns;
    float jitter;
    uint64_t seed;
    en_fault_kind fault;
    int fault_rank, path_src, path_dst, fault_op; /* fault_op -1: both ops */
    const char *out_dir, *run_id, *truth;
    const char *id_file; /* rendezvous file for ranks started by mpirun/srun */
    int rank;            /* -1: launcher mode (fork K ranks) */
    int local_rank;      /* -1: from the environment, else rank */
    int share_gpu;       /* 1: every rank on GPU 0 (to see what NCCL says) */
    int barrier;         /* 1: an LSA barrier before each op (default) */
    int bench, bench_steps, bench_reps;
    int timeout_s;       /* launcher: kill every rank after this long */
};

/* How a rank gets the job's ncclUniqueId: rank 0 makes it and writes it to
 * each fd of write_fds (launcher) or to id_file; the others read it from
 * read_fd (launcher) or wait for id_file. */
struct en_rendezvous {
    int read_fd;
    const int *write_fds;
    int nwrite;
    const char *id_file;
    int timeout_s;
};

/* ep_nccl_cli.cu */
int en_parse_opts(int argc, char **argv, en_opts *o); /* 0 run, 1 help, -1 bad */
int en_launch(const en_opts *o);                      /* exit status of the job */
int en_rendezvous_id(int rank, const en_rendezvous *rv, ncclUniqueId *id);

/* ep_nccl.cu: one rank of the job; 0 on success. */
int en_rank_main(const en_opts *o, int rank, const en_rendezvous *rv);

#endif
