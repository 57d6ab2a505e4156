/* ep_gpu.cu - dxt-ep-gpu: a low-latency (DeepEP LL-style) dispatch and combine
 * between V virtual ranks on one GPU, instrumented with the probe
 * (recorder/dxt_probe.cuh) and recorded through libdxtrec's CUDA path into a
 * trace of V rank files. Faults can be injected (slow rank, slow destination,
 * slow path) from an onset step; --bench (ep_gpu_bench.cu) measures the
 * recorder's overhead. This file: set-up, launches, recording, the trace run
 * and its summary, the command line.
 *
 * Owner: the GPU side of dxtrace; see samples/README.md.
 *
 * Model, per op and step (ep_gpu_kernel.cuh; one cooperative kernel, one
 * 512-thread block per virtual rank, so that every spinning block is
 * co-resident: cudaLaunchCooperativeKernel refuses a grid that cannot all run
 * at once instead of deadlocking):
 *   - the block routes its tokens (top-k of V * experts_per_rank experts,
 *     deduplicated per rank) and "computes" for compute_ns (+-jitter);
 *   - 12 sender warps copy the tokens routed to each destination d into d's
 *     receive buffer slot for r, then release-store the flag flags[d][r] = seq;
 *   - 128 receiver lanes, one per source s, read clock64(), poll flags[r][s]
 *     with acquire loads and add the cycles waited to wait[r][s] (one atomic),
 *     and the token count to tokens[r][s]: DeepEP's *_wait_recv_cost_stats.
 * Combine sends each received token back to its source the same way.
 * Faults touch only what they name: a slow rank delays its sender warps only
 * (its receive lanes start on time, so its own row stays normal); a slow
 * destination starts polling late, inside its timed wait; a slow path delays
 * one flag, which its warp releases after all its other destinations, so no
 * other cell is delayed. */
#include <cuda_runtime.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dxt_probe.cuh"
#include "dxtrec.h"

#include "ep_gpu.h"
#include "ep_gpu_kernel.cuh"

const char *const ep_op_names[EP_NOPS] = {"dispatch", "combine"};

static const char *const ep_fault_findings[] = {
#define EP_FAULT_FINDING(id, opt, finding) finding,
    EP_FAULT_KINDS(EP_FAULT_FINDING)
#undef EP_FAULT_FINDING
};

/* ------------------------------------------------------------------ host side */

double ep_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int ep_cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* q-quantile of v[0..n) (sorts v). */
double ep_quantile(double *v, size_t n, double q)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof(double), ep_cmp_double);
    return v[(size_t)(q * (double)(n - 1) + 0.5)];
}

static void ep_gpu_free(ep_gpu *g)
{
    cudaFree(g->tokens);
    for (int op = 0; op < EP_NOPS; ++op) {
        cudaFree(g->recv[op]);
        cudaFree(g->counts[op]);
        cudaFree(g->flags[op]);
        cudaFree(g->stats[op]);
    }
    if (g->stream)
        cudaStreamDestroy(g->stream);
}

/* Device buffers, the stream, the clock rate; tokens filled with a pattern. */
static int ep_gpu_init(const ep_opts *o, ep_gpu *g)
{
    const size_t V = (size_t)o->V, T = (size_t)o->T, H = (size_t)o->hidden_bytes / 16;
    cudaDeviceProp prop;
    int khz = 0, per_sm = 0;
    memset(g, 0, sizeof(*g));
    CUDA_TRY(cudaGetDevice(&g->device));
    CUDA_TRY(cudaGetDeviceProperties(&prop, g->device));
    snprintf(g->name, sizeof(g->name), "%s", prop.name);
    CUDA_TRY(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, g->device));
    g->clock_hz = (double)khz * 1e3;
    CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, ep_exchange_kernel,
                                                           EP_THREADS, 0));
    g->coop_blocks = per_sm * prop.multiProcessorCount;
    if (o->V > g->coop_blocks) {
        fprintf(stderr, "dxt-ep-gpu: %d ranks need %d co-resident blocks; this GPU runs %d\n",
                o->V, o->V, g->coop_blocks);
        goto fail;
    }
    CUDA_TRY(cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking));
    CUDA_TRY(cudaMalloc(&g->tokens, V * T * H * sizeof(int4)));
    CUDA_TRY(cudaMemset(g->tokens, 0x5a, V * T * H * sizeof(int4)));
    for (int op = 0; op < EP_NOPS; ++op) {
        CUDA_TRY(cudaMalloc(&g->recv[op], V * V * T * H * sizeof(int4)));
        CUDA_TRY(cudaMalloc(&g->counts[op], V * V * sizeof(int)));
        CUDA_TRY(cudaMalloc(&g->flags[op], V * V * sizeof(uint32_t)));
        CUDA_TRY(cudaMalloc(&g->stats[op], 2 * V * V * sizeof(int64_t)));
        g->wait[op] = g->stats[op];
        g->tok[op] = g->stats[op] + V;
        CUDA_TRY(cudaMemset(g->counts[op], 0, V * V * sizeof(int)));
        CUDA_TRY(cudaMemset(g->flags[op], 0, V * V * sizeof(uint32_t)));
        CUDA_TRY(cudaMemset(g->stats[op], 0, 2 * V * V * sizeof(int64_t)));
    }
    CUDA_TRY(cudaDeviceSynchronize());
    return 0;
fail:
    ep_gpu_free(g);
    return -1;
}

/* The faults active for op at step. */
static ep_fault_now ep_fault_at(const ep_opts *o, int op, int64_t step)
{
    ep_fault_now f = {-1, -1, -1, -1, 0};
    if (o->fault == EP_FAULT_NONE || step < o->onset || (o->fault_op >= 0 && o->fault_op != op))
        return f;
    f.delay_ns = o->delay_ns;
    if (o->fault == EP_FAULT_SLOW_RANK)
        f.slow_src = o->fault_rank;
    else if (o->fault == EP_FAULT_SLOW_DEST)
        f.slow_dst = o->fault_rank;
    else {
        f.path_src = o->path_src;
        f.path_dst = o->path_dst;
    }
    return f;
}

/* Queue one op of one step on the stream (cooperative launch: co-residency). */
static int ep_launch(const ep_opts *o, ep_gpu *g, int op, int64_t step)
{
    ep_args a;
    memset(&a, 0, sizeof(a));
    a.V = o->V;
    a.T = o->T;
    a.topk = o->topk;
    a.experts_per_rank = o->experts_per_rank;
    a.hidden_int4 = o->hidden_bytes / 16;
    a.op = op;
    a.seq = ++g->seq[op];
    a.seed = o->seed;
    a.step = step;
    a.compute_ns = o->compute_ns;
    a.jitter = o->jitter;
    a.src_data = op == 0 ? g->tokens : g->recv[0];
    a.dst_data = g->recv[op];
    a.in_counts = g->counts[0];
    a.counts = g->counts[op];
    a.flags = g->flags[op];
    a.wait = g->wait[op];
    a.tokens = g->tok[op];
    a.stride = 2 * o->V;
    a.fault = ep_fault_at(o, op, step);
    void *params[] = {&a};
    CUDA_TRY(cudaLaunchCooperativeKernel((const void *)ep_exchange_kernel, dim3(o->V),
                                         dim3(EP_THREADS), params, 0, g->stream));
    return 0;
fail:
    return -1;
}

/* ---- recording ---- */

void ep_recorders_close(ep_recorders *rs)
{
    for (int r = 0; rs->rec && r < rs->V; ++r) {
        if (!rs->rec[r])
            continue;
        dxtrec_counters c;
        dxtrec_get_counters(rs->rec[r], &c);
        if (c.rows_dropped)
            fprintf(stderr, "dxt-ep-gpu: rank %d: %llu rows dropped\n", r,
                    (unsigned long long)c.rows_dropped);
        dxtrecResult_t res = dxtrec_close(rs->rec[r]);
        if (res != DXTREC_SUCCESS)
            fprintf(stderr, "dxt-ep-gpu: rank %d: close: %s\n", r, dxtrec_result_string(res));
    }
    free(rs->rec);
    rs->rec = NULL;
}

/* One recorder for each rank in [first, first + count). */
int ep_recorders_open(const ep_opts *o, const ep_gpu *g, const char *dir, int first,
                             int count, ep_recorders *rs)
{
    rs->V = o->V;
    rs->errors = 0;
    rs->rec = (dxtrec_t **)calloc((size_t)o->V, sizeof(dxtrec_t *));
    if (!rs->rec)
        return -1;
    for (int r = first; r < first + count; ++r) {
        dxtrec_config cfg;
        dxtrec_config_init(&cfg);
        cfg.dir = dir;
        cfg.rank = r;
        cfg.world_size = o->V;
        cfg.run_id = o->run_id;
        cfg.local_rank = r;
        cfg.ops = ep_op_names;
        cfg.nops = EP_NOPS;
        cfg.unit = DXTREC_UNIT_CYCLES;
        cfg.clock_hz = g->clock_hz;
        cfg.counting = DXTREC_CUMULATIVE;
        cfg.record_tokens = 1;
        dxtrecResult_t res = dxtrec_open(&cfg, &rs->rec[r]);
        if (res != DXTREC_SUCCESS) {
            fprintf(stderr, "dxt-ep-gpu: rank %d: dxtrec_open(%s): %s\n", r, dir,
                    dxtrec_result_string(res));
            ep_recorders_close(rs);
            return -1;
        }
    }
    return 0;
}

/* Snapshot op's counters of every recorded rank (the CUDA path). */
static void ep_record(ep_recorders *rs, const ep_gpu *g, int op, int64_t step)
{
    for (int r = 0; rs->rec && r < rs->V; ++r) {
        if (!rs->rec[r])
            continue;
        double t0 = rs->samples ? ep_now_s() : 0;
        dxtrecResult_t res = dxtrec_record_device(rs->rec[r], op, step, g->wait[op] + 2 * r * rs->V,
                                                  g->tok[op] + 2 * r * rs->V, g->stream);
        if (rs->samples && rs->samples->n < rs->samples->cap)
            rs->samples->us[rs->samples->n++] = (ep_now_s() - t0) * 1e6;
        if (res != DXTREC_SUCCESS && rs->errors++ == 0)
            fprintf(stderr, "dxt-ep-gpu: rank %d: record_device: %s\n", r,
                    dxtrec_result_string(res));
    }
}

/* Queue steps [first, first + n): dispatch, record, combine, record. */
int ep_run_steps(const ep_opts *o, ep_gpu *g, ep_recorders *rs, int64_t first, int64_t n)
{
    for (int64_t step = first; step < first + n; ++step) {
        for (int op = 0; op < EP_NOPS; ++op) {
            if (ep_launch(o, g, op, step))
                return -1;
            if (rs)
                ep_record(rs, g, op, step);
        }
    }
    return 0;
}

/* ---- the trace run and its summary ---- */

/* Copy the wait counters of both ops to host (synchronizes the stream). */
static int ep_snapshot(ep_gpu *g, int V, int64_t *host /* [EP_NOPS][V][V] */)
{
    CUDA_TRY(cudaStreamSynchronize(g->stream));
    for (int op = 0; op < EP_NOPS; ++op)
        CUDA_TRY(cudaMemcpy2D(host + (size_t)op * V * V, (size_t)V * sizeof(int64_t), g->wait[op],
                              2 * (size_t)V * sizeof(int64_t), (size_t)V * sizeof(int64_t),
                              (size_t)V, cudaMemcpyDeviceToHost));
    return 0;
fail:
    return -1;
}

static int ep_is_faulted(const ep_opts *o, int op, int i, int j)
{
    if (o->fault == EP_FAULT_NONE || (o->fault_op >= 0 && o->fault_op != op))
        return 0;
    if (o->fault == EP_FAULT_SLOW_RANK)
        return j == o->fault_rank;
    if (o->fault == EP_FAULT_SLOW_DEST)
        return i == o->fault_rank;
    return i == o->path_dst && j == o->path_src;
}

/* Mean wait per step in us of each off-diagonal cell over a window: prints the
 * median and range of the healthy cells, and the faulted cells' mean. */
static void ep_print_window(const ep_opts *o, const ep_gpu *g, int op, const int64_t *from,
                            const int64_t *to, int64_t nsteps, int faulted_window)
{
    const int V = o->V;
    double *healthy = (double *)malloc(sizeof(double) * (size_t)V * V);
    double fault_sum = 0;
    size_t nh = 0, nf = 0;
    if (!healthy || nsteps <= 0) {
        free(healthy);
        return;
    }
    for (int i = 0; i < V; ++i)
        for (int j = 0; j < V; ++j) {
            if (i == j)
                continue;
            double us = (double)(to[i * V + j] - from[i * V + j]) / (double)nsteps /
                        g->clock_hz * 1e6;
            if (faulted_window && ep_is_faulted(o, op, i, j)) {
                fault_sum += us;
                nf++;
            } else {
                healthy[nh++] = us;
            }
        }
    if (nh == 0) {
        free(healthy);
        return;
    }
    double p50 = ep_quantile(healthy, nh, 0.5);
    printf("  %-8s %-8s other cells: median %.3f us, min %.3f, max %.3f", ep_op_names[op],
           faulted_window ? "fault" : "healthy", p50, healthy[0], healthy[nh - 1]);
    if (nf)
        printf("; faulted cells (%zu): mean %.3f us (%.1fx)", nf, fault_sum / (double)nf,
               fault_sum / (double)nf / p50);
    printf("\n");
    free(healthy);
}

static int ep_write_truth(const ep_opts *o, const ep_gpu *g)
{
    FILE *f = fopen(o->truth, "w");
    if (!f) {
        perror(o->truth);
        return -1;
    }
    fprintf(f, "{\n  \"source\": \"dxt-ep-gpu\",\n  \"device\": \"%s\",\n", g->name);
    fprintf(f, "  \"ranks\": %d,\n  \"steps\": %lld,\n  \"compute_ns\": %lld,\n", o->V,
            (long long)o->steps, (long long)o->compute_ns);
    fprintf(f, "  \"hidden_bytes\": %d,\n  \"tokens\": %d,\n  \"topk\": %d,\n", o->hidden_bytes,
            o->T, o->topk);
    fprintf(f, "  \"faults\": [");
    if (o->fault != EP_FAULT_NONE) {
        fprintf(f, "{\"kind\": \"%s\", ", ep_fault_findings[o->fault]);
        if (o->fault == EP_FAULT_SLOW_PATH)
            fprintf(f, "\"src\": %d, \"dst\": %d, ", o->path_src, o->path_dst);
        else
            fprintf(f, "\"rank\": %d, ", o->fault_rank);
        fprintf(f, "\"ops\": [");
        for (int op = 0; op < EP_NOPS; ++op)
            if (o->fault_op < 0 || o->fault_op == op)
                fprintf(f, "%s\"%s\"", (o->fault_op < 0 && op) ? ", " : "", ep_op_names[op]);
        fprintf(f, "], \"onset\": %lld, \"delay_ns\": %lld}", (long long)o->onset,
                (long long)o->delay_ns);
    }
    fprintf(f, "]\n}\n");
    return fclose(f) == 0 ? 0 : -1;
}

/* Run o->steps steps, recording every rank into o->out_dir (if set). */
static int ep_trace_run(const ep_opts *o, ep_gpu *g)
{
    const int V = o->V;
    ep_recorders rs;
    memset(&rs, 0, sizeof(rs));
    int64_t *snap = (int64_t *)calloc((size_t)3 * EP_NOPS * V * V, sizeof(int64_t));
    int64_t split = (o->fault != EP_FAULT_NONE && o->onset > 0 && o->onset < o->steps)
                        ? o->onset : o->steps;
    int rc = -1;
    double t0, t1;
    if (!snap)
        return -1;
    if (o->out_dir && ep_recorders_open(o, g, o->out_dir, 0, V, &rs))
        goto done;
    t0 = ep_now_s();
    if (ep_snapshot(g, V, snap) || ep_run_steps(o, g, o->out_dir ? &rs : NULL, 0, split) ||
        ep_snapshot(g, V, snap + EP_NOPS * V * V) ||
        ep_run_steps(o, g, o->out_dir ? &rs : NULL, split, o->steps - split) ||
        ep_snapshot(g, V, snap + 2 * EP_NOPS * V * V))
        goto done;
    t1 = ep_now_s();
    printf("dxt-ep-gpu: %d ranks, %lld steps on %s: %.2f us per step (2 ops)\n", V,
           (long long)o->steps, g->name, (t1 - t0) / (double)o->steps * 1e6);
    for (int op = 0; op < EP_NOPS; ++op) {
        const int64_t *s0 = snap + op * V * V, *s1 = s0 + EP_NOPS * V * V;
        const int64_t *s2 = s1 + EP_NOPS * V * V;
        ep_print_window(o, g, op, s0, s1, split, 0);
        if (split < o->steps)
            ep_print_window(o, g, op, s1, s2, o->steps - split, 1);
    }
    rc = 0;
    if (o->truth && ep_write_truth(o, g))
        rc = -1;
done:
    ep_recorders_close(&rs);
    if (rs.errors)
        rc = -1;
    free(snap);
    return rc;
}

/* ---- command line ---- */

static void ep_usage(FILE *f)
{
    fprintf(f,
            "usage: dxt-ep-gpu [options]\n"
            "  -n, --ranks V            virtual ranks (2..%d, default 16)\n"
            "  -s, --steps S            steps (default 500)\n"
            "  -o, --out DIR            record every rank into the trace directory DIR\n"
            "      --run-id ID          run_id of the trace (default ep-gpu)\n"
            "      --truth FILE         write what was injected as JSON\n"
            "      --tokens T           tokens per rank (default 128, at most %d)\n"
            "      --topk K             experts per token (default 8, at most 16)\n"
            "      --experts-per-rank E (default 2)\n"
            "      --hidden-bytes B     bytes per token, a multiple of 16 (default 256)\n"
            "      --compute-ns NS      compute before each op (default 5000)\n"
            "      --jitter F           compute jitter, fraction (default 0.05)\n"
            "      --seed N\n"
            "      --slow-rank R        rank R sends late (delay before its sends)\n"
            "      --slow-dest R        rank R receives slowly (delay in its receive path)\n"
            "      --slow-path S:D      the transfer S -> D is late\n"
            "      --delay-ns NS        injected delay (default 20000)\n"
            "      --onset STEP         first faulty step (default 0)\n"
            "      --fault-op OP        dispatch, combine or both (default both)\n"
            "      --bench              overhead benchmark: recording off / one rank / all ranks\n"
            "      --bench-steps N      steps per timed block (default 400)\n"
            "      --bench-reps N       blocks per mode (default 7, at most 64)\n"
            "      --gate-steps N       steps per gated (GPU-only) block (default 40)\n"
            "  -h, --help\n",
            EP_MAX_RANKS, EP_MAX_TOKENS);
}

static void ep_opts_init(ep_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->V = 16;
    o->steps = 500;
    o->T = 128;
    o->topk = 8;
    o->experts_per_rank = 2;
    o->hidden_bytes = 256;
    o->compute_ns = 5000;
    o->jitter = 0.05f;
    o->seed = 1;
    o->delay_ns = 20000;
    o->fault_op = -1;
    o->run_id = "ep-gpu";
    o->bench_steps = 400;
    o->bench_reps = 7;
    o->gate_steps = 40;
}

static int ep_opts_check(const ep_opts *o)
{
    const char *bad = NULL;
    if (o->V < 2 || o->V > EP_MAX_RANKS)
        bad = "--ranks";
    else if (o->steps < 1 || o->T < 1 || o->T > EP_MAX_TOKENS)
        bad = "--steps or --tokens";
    else if (o->topk < 1 || o->topk > EP_MAX_TOPK || o->experts_per_rank < 1 ||
             o->hidden_bytes < 16 || o->hidden_bytes % 16)
        bad = "--topk, --experts-per-rank or --hidden-bytes";
    else if (o->compute_ns < 0 || o->delay_ns < 0 || o->jitter < 0 || o->jitter >= 1)
        bad = "--compute-ns, --delay-ns or --jitter";
    else if (o->fault_rank < 0 || o->fault_rank >= o->V || o->path_src < 0 ||
             o->path_src >= o->V || o->path_dst < 0 || o->path_dst >= o->V ||
             (o->fault == EP_FAULT_SLOW_PATH && o->path_src == o->path_dst))
        bad = "a fault's rank";
    else if (o->bench_reps < 1 || o->bench_reps > 64 || o->bench_steps < 1 || o->gate_steps < 1)
        bad = "--bench-steps, --bench-reps or --gate-steps";
    if (bad)
        fprintf(stderr, "dxt-ep-gpu: bad value of %s\n", bad);
    return bad ? -1 : 0;
}

enum { O_RUN_ID = 256, O_TRUTH, O_TOKENS, O_TOPK, O_EPR, O_HIDDEN, O_COMPUTE, O_JITTER, O_SEED,
       O_SLOW_RANK, O_SLOW_DEST, O_SLOW_PATH, O_DELAY, O_ONSET, O_FAULT_OP, O_BENCH,
       O_BENCH_STEPS, O_BENCH_REPS, O_GATE_STEPS };

static const struct option ep_long_opts[] = {
    {"ranks", required_argument, 0, 'n'},         {"steps", required_argument, 0, 's'},
    {"out", required_argument, 0, 'o'},           {"run-id", required_argument, 0, O_RUN_ID},
    {"truth", required_argument, 0, O_TRUTH},     {"tokens", required_argument, 0, O_TOKENS},
    {"topk", required_argument, 0, O_TOPK},       {"experts-per-rank", required_argument, 0, O_EPR},
    {"hidden-bytes", required_argument, 0, O_HIDDEN},
    {"compute-ns", required_argument, 0, O_COMPUTE},
    {"jitter", required_argument, 0, O_JITTER},   {"seed", required_argument, 0, O_SEED},
    {"slow-rank", required_argument, 0, O_SLOW_RANK},
    {"slow-dest", required_argument, 0, O_SLOW_DEST},
    {"slow-path", required_argument, 0, O_SLOW_PATH},
    {"delay-ns", required_argument, 0, O_DELAY},  {"onset", required_argument, 0, O_ONSET},
    {"fault-op", required_argument, 0, O_FAULT_OP}, {"bench", no_argument, 0, O_BENCH},
    {"bench-steps", required_argument, 0, O_BENCH_STEPS},
    {"bench-reps", required_argument, 0, O_BENCH_REPS},
    {"gate-steps", required_argument, 0, O_GATE_STEPS},
    {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};

/* Parse a whole decimal number into *out; -1 on anything else. */
static int ep_parse_i64(const char *s, int64_t *out)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (!s[0] || *end)
        return -1;
    *out = v;
    return 0;
}

static int ep_parse_fault(ep_opts *o, int c, const char *arg)
{
    int64_t v = 0;
    int s = -1, d = -1, used = 0;
    switch (c) {
    case O_SLOW_RANK:
    case O_SLOW_DEST:
        o->fault = c == O_SLOW_RANK ? EP_FAULT_SLOW_RANK : EP_FAULT_SLOW_DEST;
        if (ep_parse_i64(arg, &v) || v < 0 || v >= EP_MAX_RANKS)
            return -1;
        o->fault_rank = (int)v;
        return 0;
    case O_SLOW_PATH:
        if (sscanf(arg, "%d:%d%n", &s, &d, &used) != 2 || arg[used] || s < 0 || d < 0)
            return -1;
        o->fault = EP_FAULT_SLOW_PATH;
        o->path_src = s;
        o->path_dst = d;
        return 0;
    default: /* O_FAULT_OP: an op name or both */
        used = strcmp(arg, "both") ? -2 : -1;
        for (int op = 0; op < EP_NOPS; ++op)
            if (!strcmp(arg, ep_op_names[op]))
                used = op;
        if (used == -2)
            return -1;
        o->fault_op = used;
        return 0;
    }
}

/* Store an integer-valued option; 0 if c is one, -1 otherwise. */
static int ep_store_int(ep_opts *o, int c, int64_t v)
{
    int iv = (v > 1 << 30 || v < -(1 << 30)) ? -1 : (int)v; /* out of range: refused later */
    switch (c) {
    case 's': o->steps = v; break;
    case O_COMPUTE: o->compute_ns = v; break;
    case O_DELAY: o->delay_ns = v; break;
    case O_ONSET: o->onset = v; break;
    case O_SEED: o->seed = (uint64_t)v; break;
    case 'n': o->V = iv; break;
    case O_TOKENS: o->T = iv; break;
    case O_TOPK: o->topk = iv; break;
    case O_EPR: o->experts_per_rank = iv; break;
    case O_HIDDEN: o->hidden_bytes = iv; break;
    case O_BENCH_STEPS: o->bench_steps = iv; break;
    case O_BENCH_REPS: o->bench_reps = iv; break;
    case O_GATE_STEPS: o->gate_steps = iv; break;
    default: return -1;
    }
    return 0;
}

static const int ep_int_opts[] = {'s', 'n', O_COMPUTE, O_DELAY, O_ONSET, O_SEED, O_TOKENS,
                                   O_TOPK, O_EPR, O_HIDDEN, O_BENCH_STEPS, O_BENCH_REPS,
                                   O_GATE_STEPS};

static int ep_is_int_opt(int c)
{
    for (size_t i = 0; i < sizeof(ep_int_opts) / sizeof(ep_int_opts[0]); ++i)
        if (ep_int_opts[i] == c)
            return 1;
    return 0;
}

/* 0: run, 1: help printed, -1: bad command line. */
static int ep_parse_opts(int argc, char **argv, ep_opts *o)
{
    int c;
    ep_opts_init(o);
    while ((c = getopt_long(argc, argv, "n:s:o:h", ep_long_opts, NULL)) != -1) {
        int64_t v = 0;
        if (ep_is_int_opt(c)) {
            if (ep_parse_i64(optarg, &v)) {
                fprintf(stderr, "dxt-ep-gpu: not a whole number: %s\n", optarg);
                return -1;
            }
            ep_store_int(o, c, v);
            continue;
        }
        switch (c) {
        case 'o': o->out_dir = optarg; break;
        case O_RUN_ID: o->run_id = optarg; break;
        case O_TRUTH: o->truth = optarg; break;
        case O_JITTER: o->jitter = strtof(optarg, NULL); break;
        case O_BENCH: o->bench = 1; break;
        case O_SLOW_RANK: case O_SLOW_DEST: case O_SLOW_PATH: case O_FAULT_OP:
            if (ep_parse_fault(o, c, optarg)) {
                fprintf(stderr, "dxt-ep-gpu: bad fault argument: %s\n", optarg);
                return -1;
            }
            break;
        case 'h': ep_usage(stdout); return 1;
        default: ep_usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "dxt-ep-gpu: unexpected argument: %s\n", argv[optind]);
        return -1;
    }
    return ep_opts_check(o);
}

int main(int argc, char **argv)
{
    ep_opts o;
    ep_gpu g;
    int rc = ep_parse_opts(argc, argv, &o);
    if (rc)
        return rc > 0 ? 0 : 2;
    if (ep_gpu_init(&o, &g))
        return 1;
    rc = o.bench ? ep_bench(&o, &g) : ep_trace_run(&o, &g);
    ep_gpu_free(&g);
    return rc ? 1 : 0;
}
