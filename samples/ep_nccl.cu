/* ep_nccl.cu - dxt-ep-nccl: one rank (process, GPU) of the LL-style EP
 * exchange across GPUs through NCCL 2.28's device API, instrumented with the
 * probe (recorder/dxt_probe.cuh) and recorded through libdxtrec's CUDA path
 * into this rank's own file. The kernel and its model are in
 * samples/ep_nccl_kernel.cuh; the command line and the launcher (--nranks K
 * forks K ranks and hands them the ncclUniqueId through pipes; or one process
 * per rank from mpirun/srun with --id-file) in samples/ep_nccl_cli.cu.
 *
 * Owner: the multi-GPU (NCCL) side of dxtrace.
 *
 * Per rank: ncclCommInitRank; one window (ncclMemAlloc +
 * ncclCommWindowRegister(..., NCCL_WIN_COLL_SYMMETRIC)) holding the receive
 * buffers, counts and per-source flags; ncclDevCommCreate with one LSA
 * barrier; then per step dispatch and combine, each followed by
 * dxtrec_record_device() of this rank's wait and tokens counters (one copy:
 * they are adjacent). Every peer must be load/store reachable (lsaSize ==
 * nRanks: the GPUs of one NVLink domain); NCCL_NVLS_ENABLE defaults to 0. */
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dxt_probe.cuh"
#include "dxtrec.h"

#include "ep_nccl.h"
#include "ep_nccl_kernel.cuh"

const char *const en_op_names[EN_NOPS] = {"dispatch", "combine"};
const char *const en_fault_findings[] = {
#define EN_FAULT_FINDING(id, opt, finding) finding,
    EN_FAULT_KINDS(EN_FAULT_FINDING)
#undef EN_FAULT_FINDING
};

#define EN_CUDA_TRY(call)                                                                       \
    do {                                                                                     \
        cudaError_t cuda_try_err_ = (call);                                                  \
        if (cuda_try_err_ != cudaSuccess) {                                                  \
            fprintf(stderr, EN_NAME ": rank %d: %s:%d: %s: %s\n", R->rank, __FILE__,         \
                    __LINE__, #call, cudaGetErrorString(cuda_try_err_));                     \
            goto fail;                                                                       \
        }                                                                                    \
    } while (0)

#define EN_NCCL_TRY(call)                                                                       \
    do {                                                                                     \
        ncclResult_t nccl_try_res_ = (call);                                                 \
        if (nccl_try_res_ != ncclSuccess) {                                                  \
            fprintf(stderr, EN_NAME ": rank %d: %s:%d: %s: %s (%s)\n", R->rank, __FILE__,    \
                    __LINE__, #call, ncclGetErrorString(nccl_try_res_),                      \
                    R->comm ? ncclGetLastError(R->comm) : "");                               \
            goto fail;                                                                       \
        }                                                                                    \
    } while (0)

/* One rank's state. */
struct en_rank {
    int rank, K, device;
    ncclComm_t comm;
    char *window_buf; /* ncclMemAlloc */
    ncclWindow_t win;
    ncclDevComm dev;
    int have_dev;
    en_layout lay;
    cudaStream_t stream;
    int4 *tokens;
    int64_t *stats[EN_NOPS]; /* [2K]: wait[K], then tokens[K] */
    uint32_t seq[EN_NOPS];
    double clock_hz;
    char name[256];
    dxtrec_t *rec;
    uint64_t rec_errors;
};

static double en_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void en_layout_init(const en_opts *o, en_layout *l)
{
    const size_t per_op = (size_t)o->K * (size_t)o->T * (size_t)(o->hidden_bytes / 16) * 16;
    l->recv[0] = 0;
    l->recv[1] = per_op;
    l->counts = 2 * per_op;
    l->flags = l->counts + (size_t)EN_NOPS * (size_t)o->K * sizeof(int);
    l->bytes = l->flags + (size_t)EN_NOPS * (size_t)o->K * sizeof(uint32_t);
    l->bytes = (l->bytes + NCCL_WIN_REQUIRED_ALIGNMENT - 1) / NCCL_WIN_REQUIRED_ALIGNMENT *
               NCCL_WIN_REQUIRED_ALIGNMENT;
}

/* The GPU of this rank, its name and clock. */
static int en_pick_device(const en_opts *o, en_rank *R)
{
    int ndev = 0, khz = 0, local = o->local_rank >= 0 ? o->local_rank : R->rank;
    cudaDeviceProp prop;
    EN_CUDA_TRY(cudaGetDeviceCount(&ndev));
    if (!o->share_gpu && local >= ndev) {
        fprintf(stderr, EN_NAME ": rank %d: local rank %d needs GPU %d; this machine has %d "
                "(one rank per GPU; NCCL refuses two ranks on one GPU)\n", R->rank, local, local,
                ndev);
        goto fail;
    }
    R->device = o->share_gpu ? 0 : local;
    EN_CUDA_TRY(cudaSetDevice(R->device));
    EN_CUDA_TRY(cudaGetDeviceProperties(&prop, R->device));
    snprintf(R->name, sizeof(R->name), "%s", prop.name);
    EN_CUDA_TRY(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, R->device));
    R->clock_hz = (double)khz * 1e3;
    return 0;
fail:
    return -1;
}

/* Communicator, window, device communicator (collective: every rank calls it). */
static int en_nccl_setup(const en_opts *o, const en_rendezvous *rv, en_rank *R)
{
    ncclUniqueId id;
    ncclDevCommRequirements reqs;
    if (en_rendezvous_id(R->rank, rv, &id))
        return -1;
    EN_NCCL_TRY(ncclCommInitRank(&R->comm, o->K, id, R->rank));
    en_layout_init(o, &R->lay);
    EN_NCCL_TRY(ncclMemAlloc((void **)&R->window_buf, R->lay.bytes));
    EN_CUDA_TRY(cudaMemset(R->window_buf, 0, R->lay.bytes));
    EN_CUDA_TRY(cudaDeviceSynchronize()); /* zeroed before any peer can store into it */
    EN_NCCL_TRY(ncclCommWindowRegister(R->comm, R->window_buf, R->lay.bytes, &R->win,
                                    NCCL_WIN_COLL_SYMMETRIC));
    memset(&reqs, 0, sizeof(reqs));
    reqs.lsaBarrierCount = 1;
    EN_NCCL_TRY(ncclDevCommCreate(R->comm, &reqs, &R->dev));
    R->have_dev = 1;
    if (R->dev.lsaSize != R->dev.nRanks || R->dev.nRanks != o->K) {
        fprintf(stderr, EN_NAME ": rank %d: %d of %d ranks are load/store reachable (lsaSize); "
                "this exchange needs all of them (GPUs of one NVLink domain)\n", R->rank,
                R->dev.lsaSize, R->dev.nRanks);
        return -1;
    }
    return 0;
fail:
    return -1;
}

static int en_buffers_setup(const en_opts *o, en_rank *R)
{
    const size_t K = (size_t)o->K, bytes = (size_t)o->T * (size_t)o->hidden_bytes;
    EN_CUDA_TRY(cudaStreamCreateWithFlags(&R->stream, cudaStreamNonBlocking));
    EN_CUDA_TRY(cudaMalloc(&R->tokens, bytes));
    EN_CUDA_TRY(cudaMemset(R->tokens, 0x40 + R->rank, bytes));
    for (int op = 0; op < EN_NOPS; ++op) {
        EN_CUDA_TRY(cudaMalloc(&R->stats[op], 2 * K * sizeof(int64_t)));
        EN_CUDA_TRY(cudaMemset(R->stats[op], 0, 2 * K * sizeof(int64_t)));
    }
    EN_CUDA_TRY(cudaDeviceSynchronize());
    return 0;
fail:
    return -1;
}

static int en_recorder_open(const en_opts *o, en_rank *R, const char *dir)
{
    dxtrec_config cfg;
    dxtrec_config_init(&cfg);
    cfg.dir = dir;
    cfg.rank = R->rank;
    cfg.world_size = o->K;
    cfg.run_id = o->run_id;
    cfg.local_rank = R->device;
    cfg.ops = en_op_names;
    cfg.nops = EN_NOPS;
    cfg.unit = DXTREC_UNIT_CYCLES;
    cfg.clock_hz = R->clock_hz;
    cfg.counting = DXTREC_CUMULATIVE;
    cfg.record_tokens = 1;
    dxtrecResult_t res = dxtrec_open(&cfg, &R->rec);
    if (res != DXTREC_SUCCESS) {
        fprintf(stderr, EN_NAME ": rank %d: dxtrec_open(%s): %s\n", R->rank, dir,
                dxtrec_result_string(res));
        if (R->rec)
            dxtrec_close(R->rec);
        R->rec = NULL;
        return -1;
    }
    return 0;
}

static void en_recorder_close(en_rank *R)
{
    if (!R->rec)
        return;
    dxtrec_counters c;
    dxtrec_get_counters(R->rec, &c);
    if (c.rows_dropped)
        fprintf(stderr, EN_NAME ": rank %d: %llu rows dropped\n", R->rank,
                (unsigned long long)c.rows_dropped);
    dxtrecResult_t res = dxtrec_close(R->rec);
    if (res != DXTREC_SUCCESS) {
        fprintf(stderr, EN_NAME ": rank %d: close: %s\n", R->rank, dxtrec_result_string(res));
        R->rec_errors++;
    }
    R->rec = NULL;
}

/* Free everything (NCCL objects in reverse order of creation). After a
 * failure (failed: a peer may be gone) the communicator is aborted instead. */
static int en_teardown(en_rank *R, int failed)
{
    int rc = 0;
    en_recorder_close(R);
    if (failed && R->comm) {
        rc = ncclCommAbort(R->comm) == ncclSuccess ? 0 : -1;
        R->comm = NULL;
        R->have_dev = 0;
        R->win = NULL;
    }
    if (R->stream && !failed)
        cudaStreamSynchronize(R->stream);
    if (R->have_dev && ncclDevCommDestroy(R->comm, &R->dev) != ncclSuccess)
        rc = -1;
    if (R->win && ncclCommWindowDeregister(R->comm, R->win) != ncclSuccess)
        rc = -1;
    if (R->window_buf && !failed && ncclMemFree(R->window_buf) != ncclSuccess)
        rc = -1;
    if (R->comm && (ncclCommFinalize(R->comm) != ncclSuccess ||
                    ncclCommDestroy(R->comm) != ncclSuccess))
        rc = -1;
    cudaFree(R->tokens);
    for (int op = 0; op < EN_NOPS; ++op)
        cudaFree(R->stats[op]);
    if (R->stream)
        cudaStreamDestroy(R->stream);
    return rc;
}

/* ---- the exchange ---- */

/* The faults active for op at step (-1: nobody). */
static ep_fault_now en_fault_at(const en_opts *o, int op, int64_t step)
{
    ep_fault_now f = {-1, -1, -1, -1, 0};
    if (o->fault == EN_FAULT_NONE || step < o->onset || (o->fault_op >= 0 && o->fault_op != op))
        return f;
    f.delay_ns = o->delay_ns;
    if (o->fault == EN_FAULT_SLOW_RANK)
        f.slow_src = o->fault_rank;
    else if (o->fault == EN_FAULT_SLOW_DEST)
        f.slow_dst = o->fault_rank;
    else {
        f.path_src = o->path_src;
        f.path_dst = o->path_dst;
    }
    return f;
}

static int en_launch_op(const en_opts *o, en_rank *R, int op, int64_t step)
{
    en_args a;
    memset(&a, 0, sizeof(a));
    a.route.V = o->K;
    a.route.T = o->T;
    a.route.topk = o->topk;
    a.route.experts_per_rank = o->experts_per_rank;
    a.route.hidden_int4 = o->hidden_bytes / 16;
    a.route.op = op;
    a.route.seq = ++R->seq[op];
    a.route.seed = o->seed;
    a.route.step = step;
    a.route.compute_ns = o->compute_ns;
    a.route.jitter = o->jitter;
    a.dev = R->dev;
    a.win = R->win;
    a.lay = R->lay;
    a.tokens = R->tokens;
    a.wait = R->stats[op];
    a.tokcount = R->stats[op] + o->K;
    a.fault = en_fault_at(o, op, step);
    a.barrier = o->barrier;
    en_exchange_kernel<<<1, EP_THREADS, 0, R->stream>>>(a);
    EN_CUDA_TRY(cudaGetLastError());
    return 0;
fail:
    return -1;
}

static void en_record(en_rank *R, int op, int64_t step)
{
    dxtrecResult_t res = dxtrec_record_device(R->rec, op, step, R->stats[op],
                                              R->stats[op] + R->K, R->stream);
    if (res != DXTREC_SUCCESS && R->rec_errors++ == 0)
        fprintf(stderr, EN_NAME ": rank %d: record_device: %s\n", R->rank,
                dxtrec_result_string(res));
}

/* Queue steps [first, first + n): dispatch, record, combine, record. */
static int en_run_steps(const en_opts *o, en_rank *R, int record, int64_t first, int64_t n)
{
    for (int64_t step = first; step < first + n; ++step)
        for (int op = 0; op < EN_NOPS; ++op) {
            if (en_launch_op(o, R, op, step))
                return -1;
            if (record && R->rec)
                en_record(R, op, step);
        }
    return 0;
}

/* This rank's wait counters of both ops, [EN_NOPS][K] (synchronizes). */
static int en_snapshot(en_rank *R, int64_t *host)
{
    EN_CUDA_TRY(cudaStreamSynchronize(R->stream));
    for (int op = 0; op < EN_NOPS; ++op)
        EN_CUDA_TRY(cudaMemcpy(host + (size_t)op * R->K, R->stats[op], (size_t)R->K * sizeof(int64_t),
                            cudaMemcpyDeviceToHost));
    return 0;
fail:
    return -1;
}

static int en_cell_faulted(const en_opts *o, int op, int i, int j)
{
    if (o->fault == EN_FAULT_NONE || (o->fault_op >= 0 && o->fault_op != op))
        return 0;
    if (o->fault == EN_FAULT_SLOW_RANK)
        return j == o->fault_rank;
    if (o->fault == EN_FAULT_SLOW_DEST)
        return i == o->fault_rank;
    return i == o->path_dst && j == o->path_src;
}

/* One line: this rank's mean wait per step for each source (us), faulted cells
 * marked with '*'; written with one fputs so that ranks do not interleave. */
static void en_print_row(const en_opts *o, const en_rank *R, int op, const int64_t *from,
                         const int64_t *to, int64_t nsteps, int faulted_window)
{
    char line[4096];
    size_t len = 0;
    if (nsteps <= 0)
        return;
    len += (size_t)snprintf(line, sizeof(line), "  rank %d %-8s %-7s wait us/step by source:",
                            R->rank, en_op_names[op], faulted_window ? "fault" : "healthy");
    for (int j = 0; j < R->K && len < sizeof(line) - 32; ++j) {
        double us = (double)(to[j] - from[j]) / (double)nsteps / R->clock_hz * 1e6;
        len += (size_t)snprintf(line + len, sizeof(line) - len, " %.2f%s", us,
                                faulted_window && en_cell_faulted(o, op, R->rank, j) ? "*" : "");
    }
    snprintf(line + len, sizeof(line) - len, "\n");
    fputs(line, stdout);
    fflush(stdout);
}

static int en_write_truth(const en_opts *o, const en_rank *R)
{
    FILE *f = fopen(o->truth, "w");
    if (!f) {
        perror(o->truth);
        return -1;
    }
    fprintf(f, "{\n  \"source\": \"" EN_NAME "\",\n  \"device\": \"%s\",\n", R->name);
    fprintf(f, "  \"ranks\": %d,\n  \"steps\": %lld,\n  \"compute_ns\": %lld,\n", o->K,
            (long long)o->steps, (long long)o->compute_ns);
    fprintf(f, "  \"hidden_bytes\": %d,\n  \"tokens\": %d,\n  \"topk\": %d,\n", o->hidden_bytes,
            o->T, o->topk);
    fprintf(f, "  \"faults\": [");
    if (o->fault != EN_FAULT_NONE) {
        fprintf(f, "{\"kind\": \"%s\", ", en_fault_findings[o->fault]);
        if (o->fault == EN_FAULT_SLOW_PATH)
            fprintf(f, "\"src\": %d, \"dst\": %d, ", o->path_src, o->path_dst);
        else
            fprintf(f, "\"rank\": %d, ", o->fault_rank);
        fprintf(f, "\"ops\": [");
        for (int op = 0; op < EN_NOPS; ++op)
            if (o->fault_op < 0 || o->fault_op == op)
                fprintf(f, "%s\"%s\"", (o->fault_op < 0 && op) ? ", " : "", en_op_names[op]);
        fprintf(f, "], \"onset\": %lld, \"delay_ns\": %lld}", (long long)o->onset,
                (long long)o->delay_ns);
    }
    fprintf(f, "]\n}\n");
    return fclose(f) == 0 ? 0 : -1;
}

/* Run o->steps steps, recording this rank into o->out_dir (if set). */
static int en_trace_run(const en_opts *o, en_rank *R)
{
    const int K = o->K;
    int64_t snap[3][EN_NOPS * EN_MAX_RANKS];
    int64_t split = (o->fault != EN_FAULT_NONE && o->onset > 0 && o->onset < o->steps)
                        ? o->onset : o->steps;
    double t0, t1;
    if (o->out_dir && en_recorder_open(o, R, o->out_dir))
        return -1;
    t0 = en_now_s();
    if (en_snapshot(R, snap[0]) || en_run_steps(o, R, 1, 0, split) || en_snapshot(R, snap[1]) ||
        en_run_steps(o, R, 1, split, o->steps - split) || en_snapshot(R, snap[2]))
        return -1;
    t1 = en_now_s();
    printf(EN_NAME ": rank %d of %d on GPU %d (%s): %lld steps, %.2f us per step (2 ops)\n",
           R->rank, K, R->device, R->name, (long long)o->steps,
           (t1 - t0) / (double)o->steps * 1e6);
    for (int op = 0; op < EN_NOPS; ++op) {
        en_print_row(o, R, op, snap[0] + op * K, snap[1] + op * K, split, 0);
        if (split < o->steps)
            en_print_row(o, R, op, snap[1] + op * K, snap[2] + op * K, o->steps - split, 1);
    }
    en_recorder_close(R);
    if (R->rank == 0 && o->truth && en_write_truth(o, R))
        return -1;
    return R->rec_errors ? -1 : 0;
}

static int en_cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double en_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), en_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Recording off vs on: interleaved blocks of bench_steps steps (every rank
 * runs the same schedule), median wall time per step of each mode. */
static int en_bench(const en_opts *o, en_rank *R)
{
    double per_step[2][64];
    int64_t step = 0;
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s", o->out_dir ? o->out_dir : "dxt-ep-nccl-bench");
    if (en_recorder_open(o, R, dir))
        return -1;
    if (en_run_steps(o, R, 1, step, 50) || cudaStreamSynchronize(R->stream) != cudaSuccess)
        return -1; /* warm-up: module load, first records */
    step += 50;
    for (int rep = 0; rep < o->bench_reps; ++rep)
        for (int k = 0; k < 2; ++k) {
            int on = (rep + k) % 2;
            double t0 = en_now_s();
            if (en_run_steps(o, R, on, step, o->bench_steps) ||
                cudaStreamSynchronize(R->stream) != cudaSuccess)
                return -1;
            per_step[on][rep] = (en_now_s() - t0) / (double)o->bench_steps * 1e6;
            step += o->bench_steps;
        }
    double off = en_median(per_step[0], o->bench_reps), on = en_median(per_step[1], o->bench_reps);
    printf(EN_NAME " bench: rank %d of %d: step (dispatch + combine) median of %d blocks of %d: "
           "off %.2f us, on %.2f us (%+.2f%%)\n", R->rank, o->K, o->bench_reps, o->bench_steps,
           off, on, (on / off - 1) * 100);
    fflush(stdout);
    en_recorder_close(R);
    return R->rec_errors ? -1 : 0;
}

static void en_print_setup(const en_opts *o, const en_rank *R)
{
    int v = 0;
    if (ncclGetVersion(&v) != ncclSuccess)
        v = 0;
    printf(EN_NAME ": NCCL %d.%d.%d (built with %d.%d.%d), %d ranks, lsaSize %d, window %zu "
           "bytes per rank, barrier %s, NCCL_NVLS_ENABLE=%s\n", v / 10000, v / 100 % 100, v % 100,
           NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH, o->K, R->dev.lsaSize, R->lay.bytes,
           o->barrier ? "on" : "off", getenv("NCCL_NVLS_ENABLE") ? getenv("NCCL_NVLS_ENABLE") : "");
    fflush(stdout);
}

int en_rank_main(const en_opts *o, int rank, const en_rendezvous *rv)
{
    en_rank state, *R = &state;
    int rc = -1;
    memset(R, 0, sizeof(*R));
    R->rank = rank;
    R->K = o->K;
    if (!getenv("NCCL_NVLS_ENABLE"))
        setenv("NCCL_NVLS_ENABLE", "0", 0); /* no NVLink multicast (see samples/README.md) */
    if (en_pick_device(o, R) || en_nccl_setup(o, rv, R) || en_buffers_setup(o, R))
        goto done;
    if (rank == 0)
        en_print_setup(o, R);
    rc = o->bench ? en_bench(o, R) : en_trace_run(o, R);
done:
    if (en_teardown(R, rc != 0))
        rc = -1;
    return rc;
}

int main(int argc, char **argv)
{
    en_opts o;
    int rc = en_parse_opts(argc, argv, &o);
    if (rc)
        return rc > 0 ? 0 : 2;
    if (o.rank < 0)
        return en_launch(&o);
    en_rendezvous rv = {-1, NULL, 0, o.id_file, o.timeout_s};
    return en_rank_main(&o, o.rank, &rv) ? 1 : 0;
}
