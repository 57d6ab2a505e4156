/* ep_gpu.h - what the host files of dxt-ep-gpu share (samples/ep_gpu.cu: the
 * exchange, its recording and the command line; samples/ep_gpu_bench.cu: the
 * overhead benchmark; samples/ep_gpu_kernel.cuh: the kernel).
 *
 * Owner: the GPU side of dxtrace. */
#ifndef EP_GPU_H
#define EP_GPU_H

#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>

#include "dxtrec.h"

#define EP_NOPS 2 /* dispatch, combine */

extern const char *const ep_op_names[EP_NOPS];

#define EP_FAULT_KINDS(X)                                \
    X(EP_FAULT_NONE, "none", "")                         \
    X(EP_FAULT_SLOW_RANK, "slow-rank", "slow_source")    \
    X(EP_FAULT_SLOW_DEST, "slow-dest", "slow_destination") \
    X(EP_FAULT_SLOW_PATH, "slow-path", "slow_path")

typedef enum {
#define EP_FAULT_ENUM(id, opt, finding) id,
    EP_FAULT_KINDS(EP_FAULT_ENUM)
#undef EP_FAULT_ENUM
} ep_fault_kind;

#define CUDA_TRY(call)                                                                   \
    do {                                                                                 \
        cudaError_t cuda_try_err_ = (call);                                              \
        if (cuda_try_err_ != cudaSuccess) {                                              \
            fprintf(stderr, "dxt-ep-gpu: %s:%d: %s: %s\n", __FILE__, __LINE__, #call,    \
                    cudaGetErrorString(cuda_try_err_));                                  \
            goto fail;                                                                   \
        }                                                                                \
    } while (0)

struct ep_opts {
    int V, T, topk, experts_per_rank, hidden_bytes;
    int64_t steps, compute_ns, onset, delay_ns;
    float jitter;
    uint64_t seed;
    ep_fault_kind fault;
    int fault_rank, path_src, path_dst, fault_op; /* fault_op -1: both ops */
    const char *out_dir, *run_id, *truth;
    int bench, bench_steps, bench_reps, gate_steps;
};

struct ep_gpu {
    int device;
    cudaStream_t stream;
    int4 *tokens, *recv[EP_NOPS];
    int *counts[EP_NOPS];
    uint32_t *flags[EP_NOPS];
    int64_t *stats[EP_NOPS];               /* [V][2V]: each rank's wait row, then its tokens row */
    int64_t *wait[EP_NOPS], *tok[EP_NOPS]; /* into stats, rows 2V apart */
    uint32_t seq[EP_NOPS];
    double clock_hz;
    char name[256];
    int coop_blocks; /* most co-resident blocks of the exchange kernel */
};

/* Host timing of record_device calls. */
struct ep_samples {
    double *us;
    size_t n, cap;
};

struct ep_recorders {
    dxtrec_t **rec; /* [V], NULL where the rank is not recorded */
    int V;
    uint64_t errors;
    ep_samples *samples; /* NULL: do not time the calls */
};

double ep_now_s(void);
double ep_quantile(double *v, size_t n, double q); /* q-quantile of v[0..n) (sorts v) */

/* One recorder for each rank in [first, first + count) into dir. */
int ep_recorders_open(const ep_opts *o, const ep_gpu *g, const char *dir, int first, int count,
                      ep_recorders *rs);
void ep_recorders_close(ep_recorders *rs);

/* Queue steps [first, first + n): dispatch, record, combine, record (rs NULL: no recording). */
int ep_run_steps(const ep_opts *o, ep_gpu *g, ep_recorders *rs, int64_t first, int64_t n);

/* ep_gpu_bench.cu: recording off / one rank / all ranks, printed. */
int ep_bench(const ep_opts *o, ep_gpu *g);

#endif
