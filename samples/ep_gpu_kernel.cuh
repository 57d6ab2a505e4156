/* ep_gpu_kernel.cuh - the device side of dxt-ep-gpu (samples/ep_gpu.cu): the
 * LL-style exchange kernel of V virtual ranks on one GPU, instrumented with
 * the probe. Included by ep_gpu.cu only; the model is described there.
 *
 * Owner: the GPU side of dxtrace. */
#ifndef EP_GPU_KERNEL_CUH
#define EP_GPU_KERNEL_CUH

#include <stdint.h>

#include "dxt_probe.cuh"
#include "ep_gpu.h"

#define EP_THREADS 512
#define EP_SEND_WARPS 12
#define EP_RECV_WARPS 4
#define EP_MAX_RANKS (EP_RECV_WARPS * 32)
#define EP_MAX_TOKENS 1024
#define EP_MAX_TOPK 16
#define EP_UNROLL 8

/* What the faults do in one launch (-1: nobody). */
struct ep_fault_now {
    int slow_src, slow_dst, path_src, path_dst;
    int64_t delay_ns;
};

struct ep_args {
    int V, T, topk, experts_per_rank, hidden_int4, op;
    uint32_t seq;
    uint64_t seed;
    int64_t step, compute_ns;
    float jitter;
    const int4 *src_data;   /* dispatch: tokens [V][T][H]; combine: dispatch recv [V][V][T][H] */
    int4 *dst_data;         /* this op's receive buffers [V dst][V src][T][H] */
    const int *in_counts;   /* combine: dispatch message sizes [V][V] */
    int *counts;            /* this op's message sizes [V dst][V src] */
    uint32_t *flags;        /* [V dst][V src] */
    int64_t *wait, *tokens; /* [V receiver][V source], cumulative, rows stride apart */
    int stride;             /* 2V: a rank's tokens follow its waits (one copy records both) */
    ep_fault_now fault;
};

__device__ __forceinline__ uint64_t ep_hash(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The rank of each top-k expert of each token of rank src at this step
 * (the "router", run by the whole block during the compute phase). */
typedef uint8_t ep_routes[EP_MAX_TOKENS][EP_MAX_TOPK];

__device__ void ep_route(const ep_args &a, int src, ep_routes &dest)
{
    const uint64_t experts = (uint64_t)a.V * (uint64_t)a.experts_per_rank;
    for (int i = threadIdx.x; i < a.T * a.topk; i += blockDim.x) {
        const int t = i / a.topk, k = i % a.topk;
        uint64_t h = ep_hash(a.seed ^ ep_hash(((uint64_t)a.step << 32) ^ ((uint64_t)src << 20) ^
                                              ((uint64_t)t << 5) ^ (uint64_t)k));
        dest[t][k] = (uint8_t)(((h >> 32) * experts >> 32) / (uint64_t)a.experts_per_rank);
    }
}

/* Is token t routed to rank dst (any of its top-k experts)? */
__device__ __forceinline__ bool ep_routed(const ep_args &a, const ep_routes &dest, int t, int dst)
{
    for (int k = 0; k < a.topk; ++k)
        if (dest[t][k] == dst)
            return true;
    return false;
}

/* Copy n tokens (source rows listed in idx, or 0..n-1 when idx is NULL) with
 * EP_UNROLL independent 16-byte loads in flight per lane. */
__device__ void ep_copy_tokens(int4 *__restrict__ out, const int4 *__restrict__ in,
                               const short *idx, int n, int H, int lane)
{
    const int total = n * H;
    for (int base = lane; base < total; base += 32 * EP_UNROLL) {
        int4 v[EP_UNROLL];
#pragma unroll
        for (int u = 0; u < EP_UNROLL; ++u) {
            int e = base + u * 32;
            if (e < total) {
                int row = idx ? idx[e / H] : e / H;
                v[u] = __ldg(in + (size_t)row * H + e % H);
            }
        }
#pragma unroll
        for (int u = 0; u < EP_UNROLL; ++u)
            if (base + u * 32 < total)
                out[base + u * 32] = v[u];
    }
}

/* Sender warp of rank s: one message to rank d, then the release of its flag
 * (after delay_ns when this is the slow path). */
__device__ void ep_send_one(const ep_args &a, const ep_routes &dest, int s, int d, short *list,
                            int lane, int64_t delay_ns)
{
    const int V = a.V, T = a.T, H = a.hidden_int4;
    int4 *out = a.dst_data + (size_t)(d * V + s) * T * H;
    int n = 0;
    if (a.op == 0) {
        for (int base = 0; base < T; base += 32) {
            int t = base + lane;
            bool routed = t < T && ep_routed(a, dest, t, d);
            unsigned m = __ballot_sync(0xffffffffu, routed);
            if (routed)
                list[n + __popc(m & ((1u << lane) - 1))] = (short)t;
            n += __popc(m);
        }
        __syncwarp();
        ep_copy_tokens(out, a.src_data + (size_t)s * T * H, list, n, H, lane);
    } else {
        n = a.in_counts[s * V + d]; /* d sent n tokens to s in dispatch: send them back */
        ep_copy_tokens(out, a.src_data + (size_t)(s * V + d) * T * H, NULL, n, H, lane);
    }
    __syncwarp();
    if (lane == 0) {
        a.counts[d * V + s] = n;
        dxt_probe_spin_ns(delay_ns);
        __threadfence();
        dxt_st_release_u32(a.flags + d * V + s, a.seq);
    }
    __syncwarp();
}

__device__ void ep_sender(const ep_args &a, const ep_routes &dest, int s, int warp, int lane,
                          short *list)
{
    const ep_fault_now &f = a.fault;
    if (s == f.slow_src)
        dxt_probe_spin_ns(f.delay_ns);
    const bool has_path = (s == f.path_src);
    bool owns_path = false;
    for (int i = warp; i < a.V; i += EP_SEND_WARPS) {
        int d = (s + 1 + i) % a.V;
        if (has_path && d == f.path_dst) {
            owns_path = true; /* sent last, so that its delay holds back no other message */
            continue;
        }
        ep_send_one(a, dest, s, d, list, lane, 0);
    }
    if (owns_path)
        ep_send_one(a, dest, s, f.path_dst, list, lane, f.delay_ns);
}

/* Receiver warp of rank r, one lane per source (src >= V: idle lane): the
 * probed wait. The warp polls in step (no divergent spinning), each lane
 * taking its end time when it first sees its flag. A slow destination starts
 * looking delay_ns late, inside the timed wait: every cell of its row waits
 * at least that long. */
__device__ void ep_receiver(const ep_args &a, int r, int src)
{
    const bool mine = src < a.V;
    const uint32_t *flag = a.flags + r * a.V + (mine ? src : 0);
    const int64_t start = dxt_probe_now_cycles();
    int64_t end = start;
    bool done = !mine;
    if (r == a.fault.slow_dst)
        dxt_probe_spin_ns(a.fault.delay_ns);
    do {
        if (!done && dxt_ld_acquire_u32(flag) >= a.seq) {
            done = true;
            end = dxt_probe_now_cycles();
        }
    } while (!__all_sync(0xffffffffu, done));
    if (mine) {
        dxt_probe_add(a.wait, r * a.stride + src, end - start);
        dxt_probe_add(a.tokens, r * a.stride + src, a.counts[r * a.V + src]);
    }
}

__global__ void __launch_bounds__(EP_THREADS, 1) ep_exchange_kernel(ep_args a)
{
    __shared__ short lists[EP_SEND_WARPS][EP_MAX_TOKENS];
    __shared__ ep_routes dest;
    const int r = blockIdx.x, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t start = dxt_probe_now_ns();
    uint64_t h = ep_hash(a.seed ^ ((uint64_t)a.step * 131 + (uint64_t)r * 7 + (uint64_t)a.op));
    float u = (float)(h >> 40) / (float)(1ull << 24) * 2.0f - 1.0f;
    if (a.op == 0)
        ep_route(a, r, dest);
    __syncthreads();
    /* the rest of the compute phase */
    dxt_probe_spin_ns((int64_t)((float)a.compute_ns * (1.0f + a.jitter * u)) -
                      (dxt_probe_now_ns() - start));
    if (warp < EP_SEND_WARPS) {
        ep_sender(a, dest, r, warp, lane, lists[warp]);
    } else if ((warp - EP_SEND_WARPS) * 32 < a.V) {
        ep_receiver(a, r, (warp - EP_SEND_WARPS) * 32 + lane);
    }
}

#endif
