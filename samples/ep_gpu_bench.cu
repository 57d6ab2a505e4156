/* ep_gpu_bench.cu - dxt-ep-gpu --bench: the step time of the exchange with
 * recording off, with one rank recorded (one process's load in a real job)
 * and with all V ranks recorded from this one process; the host cost of each
 * record_device call; and, with the stream held by a gate kernel while the
 * host queues, the GPU time alone (what recording adds to the caller's stream).
 *
 * Owner: the GPU side of dxtrace. */
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dxt_probe.cuh"
#include "ep_gpu.h"

/* A stream gate for the GPU-side timing: spins ns nanoseconds. */
__global__ void ep_gate_kernel(int64_t ns)
{
    dxt_probe_spin_ns(ns);
}

/* ---- overhead benchmark ---- */

#define EP_BENCH_MODES(X)                                  \
    X(EP_BENCH_OFF, "off", "recording off")                \
    X(EP_BENCH_ONE, "one", "rank 0 recorded (one process's load)") \
    X(EP_BENCH_ALL, "all", "all V ranks recorded in this one process")

enum {
#define EP_BENCH_ENUM(id, name, what) id,
    EP_BENCH_MODES(EP_BENCH_ENUM)
#undef EP_BENCH_ENUM
    EP_BENCH_NMODES
};
static const char *const ep_bench_names[] = {
#define EP_BENCH_NAME(id, name, what) name,
    EP_BENCH_MODES(EP_BENCH_NAME)
#undef EP_BENCH_NAME
};
static const char *const ep_bench_what[] = {
#define EP_BENCH_WHAT(id, name, what) what,
    EP_BENCH_MODES(EP_BENCH_WHAT)
#undef EP_BENCH_WHAT
};

struct ep_bench_state {
    ep_recorders rs[EP_BENCH_NMODES];
    ep_samples samples[EP_BENCH_NMODES];
    cudaEvent_t ev[2];
    int64_t next_step;
};

/* One timed block of n steps in a mode: wall and stream time per step (us).
 * gate_ns > 0: the stream is held by a spinning kernel while the host queues
 * the steps, so the stream time is the GPU's alone (no host-side limit). */
static int ep_bench_block(const ep_opts *o, ep_gpu *g, ep_bench_state *b, int mode, int64_t n,
                          int64_t gate_ns, double *wall_us, double *stream_us)
{
    float ms = 0;
    double t0 = ep_now_s(), queued;
    if (gate_ns > 0)
        ep_gate_kernel<<<1, 1, 0, g->stream>>>(gate_ns);
    CUDA_TRY(cudaGetLastError());
    CUDA_TRY(cudaEventRecord(b->ev[0], g->stream));
    if (ep_run_steps(o, g, mode == EP_BENCH_OFF ? NULL : &b->rs[mode], b->next_step, n))
        goto fail;
    queued = ep_now_s();
    CUDA_TRY(cudaEventRecord(b->ev[1], g->stream));
    CUDA_TRY(cudaEventSynchronize(b->ev[1]));
    *wall_us = (ep_now_s() - t0) / (double)n * 1e6;
    CUDA_TRY(cudaEventElapsedTime(&ms, b->ev[0], b->ev[1]));
    *stream_us = (double)ms * 1e3 / (double)n;
    if (gate_ns > 0 && (queued - t0) * 1e9 > (double)gate_ns)
        fprintf(stderr, "dxt-ep-gpu: gate %.1f ms shorter than queueing %.1f ms\n",
                (double)gate_ns * 1e-6, (queued - t0) * 1e3);
    b->next_step += n;
    return 0;
fail:
    return -1;
}

static int ep_bench_open(const ep_opts *o, ep_gpu *g, ep_bench_state *b)
{
    const char *base = o->out_dir ? o->out_dir : "dxt-ep-bench";
    char dir[1024];
    memset(b, 0, sizeof(*b));
    CUDA_TRY(cudaEventCreate(&b->ev[0]));
    CUDA_TRY(cudaEventCreate(&b->ev[1]));
    for (int m = EP_BENCH_ONE; m < EP_BENCH_NMODES; ++m) {
        snprintf(dir, sizeof(dir), "%s/%s-v%d", base, ep_bench_names[m], o->V);
        if (ep_recorders_open(o, g, dir, 0, m == EP_BENCH_ONE ? 1 : o->V, &b->rs[m]))
            return -1;
        b->samples[m].cap = (size_t)o->bench_reps * (size_t)o->bench_steps * EP_NOPS *
                            (size_t)o->V;
        b->samples[m].us = (double *)malloc(b->samples[m].cap * sizeof(double));
        if (!b->samples[m].us)
            return -1;
    }
    return 0;
fail:
    return -1;
}

static void ep_bench_close(ep_bench_state *b)
{
    for (int m = 0; m < EP_BENCH_NMODES; ++m) {
        ep_recorders_close(&b->rs[m]);
        free(b->samples[m].us);
    }
    for (int i = 0; i < 2; ++i)
        if (b->ev[i])
            cudaEventDestroy(b->ev[i]);
}

static void ep_bench_print(const ep_opts *o, double wall[][64], double stream[][64],
                           double gated[][64], ep_bench_state *b)
{
    const int reps = o->bench_reps;
    double w[EP_BENCH_NMODES], s[EP_BENCH_NMODES], gq[EP_BENCH_NMODES];
    for (int m = 0; m < EP_BENCH_NMODES; ++m) {
        w[m] = ep_quantile(wall[m], (size_t)reps, 0.5);
        s[m] = ep_quantile(stream[m], (size_t)reps, 0.5);
        gq[m] = ep_quantile(gated[m], (size_t)reps, 0.5);
    }
    printf("bench V=%d: median of %d blocks of %d steps (us per step: dispatch + combine)\n",
           o->V, reps, o->bench_steps);
    for (int m = 0; m < EP_BENCH_NMODES; ++m) {
        printf("  %-4s wall %8.2f (%+6.2f%%)  stream %8.2f (%+6.2f%%)  gated-GPU %8.2f (%+6.2f%%)"
               "  %s\n", ep_bench_names[m], w[m], (w[m] / w[0] - 1) * 100, s[m],
               (s[m] / s[0] - 1) * 100, gq[m], (gq[m] / gq[0] - 1) * 100, ep_bench_what[m]);
        ep_samples *sm = &b->samples[m];
        if (m != EP_BENCH_OFF && sm->n) {
            size_t n = sm->n;
            double p50 = ep_quantile(sm->us, n, 0.5), p90 = ep_quantile(sm->us, n, 0.9);
            double p99 = ep_quantile(sm->us, n, 0.99);
            printf("       record_device host cost: median %.2f us, p90 %.2f, p99 %.2f "
                   "(%zu calls)\n",
                   p50, p90, p99, n);
        }
    }
}

/* Interleaved blocks of each mode (order rotated every repetition). */
int ep_bench(const ep_opts *o, ep_gpu *g)
{
    static double wall[EP_BENCH_NMODES][64], stream[EP_BENCH_NMODES][64];
    static double gated[EP_BENCH_NMODES][64];
    ep_bench_state b;
    double junk;
    int rc = -1;
    if (ep_bench_open(o, g, &b))
        goto done;
    for (int m = 0; m < EP_BENCH_NMODES; ++m) /* warm-up: module load, first records */
        if (ep_bench_block(o, g, &b, m, 50, 0, &junk, &junk))
            goto done;
    for (int m = 0; m < EP_BENCH_NMODES; ++m)
        b.samples[m].n = 0;
    for (int rep = 0; rep < o->bench_reps; ++rep)
        for (int k = 0; k < EP_BENCH_NMODES; ++k) {
            int m = (rep + k) % EP_BENCH_NMODES;
            double *sink = &junk;
            b.rs[m].samples = &b.samples[m];
            if (ep_bench_block(o, g, &b, m, o->bench_steps, 0, &wall[m][rep], &stream[m][rep]))
                goto done;
            b.rs[m].samples = NULL;
            /* gated: few enough steps that the stream's queue holds them all, a
             * gate three times longer than queueing them took just now */
            int recorded = m == EP_BENCH_OFF ? 0 : m == EP_BENCH_ONE ? 1 : o->V;
            int64_t n = o->gate_steps < 600 / (2 + 2 * recorded) ? o->gate_steps
                                                                 : 600 / (2 + 2 * recorded);
            n = n < 4 ? 4 : n;
            int64_t gate_ns = (int64_t)(3e3 * wall[m][rep] * (double)n) + 20000000;
            if (ep_bench_block(o, g, &b, m, n, gate_ns, sink, &gated[m][rep]))
                goto done;
        }
    ep_bench_print(o, wall, stream, gated, &b);
    rc = 0;
done:
    ep_bench_close(&b);
    return rc;
}

