/* ep_nccl_kernel.cuh - the device side of dxt-ep-nccl (samples/ep_nccl.cu):
 * one rank's half of the LL-style dispatch or combine, one 512-thread block
 * per launch, talking to the other GPUs through NCCL 2.28's device API.
 *
 * Owner: the multi-GPU (NCCL) side of dxtrace. Routing, token copies and the
 * fault description come from the single-GPU sample (samples/ep_gpu_kernel.cuh,
 * GPU side), so both samples move the same traffic.
 *
 * Every rank holds one symmetric window (ncclMemAlloc +
 * ncclCommWindowRegister(NCCL_WIN_COLL_SYMMETRIC)) laid out as en_layout:
 * recv[op][src][T][H], counts[op][src], flags[op][src]. Per op:
 *   - (optional) an LSA barrier over all ranks, so that every op starts
 *     together as it does in the single-GPU sample (one kernel = one barrier);
 *   - every warp "computes" for compute_ns (+-jitter), dispatch routes;
 *   - 12 sender warps store the tokens for each destination d straight into
 *     d's window (ncclGetLsaPointer(window, offset, lsaPeer of d)) at
 *     recv[op][me], its count at counts[op][me], then release-store (system
 *     scope) the epoch seq into d's flag flags[op][me];
 *   - 128 receiver lanes, one per source, time with clock64() the acquire
 *     spin (system scope) on this rank's own flags[op][src] and add the cycles
 *     and the token count to wait[src] / tokens[src] (dxt_probe_add).
 * Combine sends every token received in dispatch back to its source. Faults
 * are the single-GPU sample's: a slow rank delays its sender warps, a slow
 * destination delays its receive lanes inside the timed wait, a slow path
 * delays one flag, released after the warp's other destinations. */
#ifndef EP_NCCL_KERNEL_CUH
#define EP_NCCL_KERNEL_CUH

#include <stdint.h>

/* NCCL's device headers do not build under -Wextra -Werror (unused parameters) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <nccl.h>
#include <nccl_device.h>
#pragma GCC diagnostic pop

#include "dxt_probe.cuh"
#include "ep_gpu_kernel.cuh"
#include "ep_nccl.h"

static_assert(EN_MAX_RANKS == EP_MAX_RANKS && EN_MAX_TOKENS == EP_MAX_TOKENS &&
                  EN_MAX_TOPK == EP_MAX_TOPK && EN_NOPS == EP_NOPS,
              "ep_nccl.h's limits must be the single-GPU kernel's");

/* Byte offsets into every rank's window (the same on all ranks). */
struct en_layout {
    size_t recv[EN_NOPS]; /* int4 [K src][T][H] each */
    size_t counts;        /* int [EN_NOPS][K src] */
    size_t flags;         /* uint32_t [EN_NOPS][K src] */
    size_t bytes;         /* the whole window, a multiple of NCCL_WIN_REQUIRED_ALIGNMENT */
};

struct en_args {
    ep_args route;            /* V = K ranks, T, topk, ..., op, seq, step, compute_ns, jitter */
    ncclDevComm dev;          /* rank, nRanks, lsaRank, lsaSize, lsaBarrier */
    ncclWindow_t win;         /* the symmetric window */
    en_layout lay;
    const int4 *tokens;       /* this rank's tokens [T][H] (plain device memory) */
    int64_t *wait, *tokcount; /* this rank's counters of route.op, [K] each, cumulative */
    ep_fault_now fault;
    int barrier;
};

/* This rank's own window through NCCL's mapping (ncclGetLocalPointer), the
 * same addresses as the peers' stores to it and its own stores to itself. */
__device__ __forceinline__ char *en_local_window(const en_args &a)
{
    return (char *)ncclGetLocalPointer(a.win, 0);
}

/* Base of world rank peer's window as this GPU sees it (load/store access). */
__device__ __forceinline__ char *en_peer_window(const en_args &a, int peer)
{
    const int lsa_peer = ncclTeamRankToLsa(a.dev, ncclTeamWorld(a.dev), peer);
    return (char *)ncclGetLsaPointer(a.win, 0, lsa_peer);
}

/* Sender warp of this rank me: one message to rank d, stored in d's window,
 * then the release of d's flag for me (after delay_ns on the slow path). */
__device__ void en_send_one(const en_args &a, const ep_routes &dest, int d, short *list, int lane,
                            int64_t delay_ns)
{
    const int K = a.route.V, T = a.route.T, H = a.route.hidden_int4, me = a.dev.rank;
    const int op = a.route.op;
    char *peer = en_peer_window(a, d);
    int4 *out = (int4 *)(peer + a.lay.recv[op]) + (size_t)me * T * H;
    int n = 0;
    if (op == 0) {
        for (int base = 0; base < T; base += 32) {
            int t = base + lane;
            bool routed = t < T && ep_routed(a.route, dest, t, d);
            unsigned m = __ballot_sync(0xffffffffu, routed);
            if (routed)
                list[n + __popc(m & ((1u << lane) - 1))] = (short)t;
            n += __popc(m);
        }
        __syncwarp();
        ep_copy_tokens(out, a.tokens, list, n, H, lane);
    } else {
        /* d sent n tokens to me in dispatch: send them back */
        const char *local = en_local_window(a);
        n = ((const int *)(local + a.lay.counts))[d];
        const int4 *in = (const int4 *)(local + a.lay.recv[0]) + (size_t)d * T * H;
        ep_copy_tokens(out, in, NULL, n, H, lane);
    }
    __syncwarp();
    if (lane == 0) {
        ((int *)(peer + a.lay.counts))[op * K + me] = n;
        dxt_probe_spin_ns(delay_ns);
        __threadfence_system();
        dxt_st_release_sys_u32((uint32_t *)(peer + a.lay.flags) + op * K + me, a.route.seq);
    }
    __syncwarp();
}

__device__ void en_sender(const en_args &a, const ep_routes &dest, int warp, int lane, short *list)
{
    const ep_fault_now &f = a.fault;
    const int K = a.route.V, me = a.dev.rank;
    if (me == f.slow_src)
        dxt_probe_spin_ns(f.delay_ns);
    const bool has_path = (me == f.path_src);
    bool owns_path = false;
    for (int i = warp; i < K; i += EP_SEND_WARPS) {
        int d = (me + 1 + i) % K;
        if (has_path && d == f.path_dst) {
            owns_path = true; /* sent last: its delay holds back no other message */
            continue;
        }
        en_send_one(a, dest, d, list, lane, 0);
    }
    if (owns_path)
        en_send_one(a, dest, f.path_dst, list, lane, f.delay_ns);
}

/* Receiver lane for source src (src >= K: idle lane), the warp polling in
 * step; a slow destination starts looking delay_ns late, inside the timed wait. */
__device__ void en_receiver(const en_args &a, int src)
{
    const int K = a.route.V, op = a.route.op;
    const bool mine = src < K;
    const char *local = en_local_window(a);
    const uint32_t *flag = (const uint32_t *)(local + a.lay.flags) + op * K + (mine ? src : 0);
    const int64_t start = dxt_probe_now_cycles();
    int64_t end = start;
    bool done = !mine;
    if (a.dev.rank == a.fault.slow_dst)
        dxt_probe_spin_ns(a.fault.delay_ns);
    do {
        if (!done && dxt_ld_acquire_sys_u32(flag) >= a.route.seq) {
            done = true;
            end = dxt_probe_now_cycles();
        }
    } while (!__all_sync(0xffffffffu, done));
    if (mine) {
        const int *counts = (const int *)(local + a.lay.counts);
        dxt_probe_add(a.wait, src, end - start);
        dxt_probe_add(a.tokcount, src, counts[op * K + src]);
    }
}

/* Every rank waits here for the others (not timed by the probe). */
__device__ void en_barrier(const en_args &a)
{
    ncclLsaBarrierSession<ncclCoopCta> bar(ncclCoopCta(), a.dev, ncclTeamLsa(a.dev),
                                           a.dev.lsaBarrier, 0);
    bar.sync(ncclCoopCta(), cuda::memory_order_relaxed);
}

__global__ void __launch_bounds__(EP_THREADS, 1) en_exchange_kernel(en_args a)
{
    __shared__ short lists[EP_SEND_WARPS][EP_MAX_TOKENS];
    __shared__ ep_routes dest;
    const int me = a.dev.rank, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (a.barrier)
        en_barrier(a);
    const int64_t start = dxt_probe_now_ns();
    const ep_args &r = a.route;
    uint64_t h = ep_hash(r.seed ^ ((uint64_t)r.step * 131 + (uint64_t)me * 7 + (uint64_t)r.op));
    float u = (float)(h >> 40) / (float)(1ull << 24) * 2.0f - 1.0f;
    if (r.op == 0)
        ep_route(r, me, dest);
    __syncthreads();
    dxt_probe_spin_ns((int64_t)((float)r.compute_ns * (1.0f + r.jitter * u)) -
                      (dxt_probe_now_ns() - start));
    if (warp < EP_SEND_WARPS)
        en_sender(a, dest, warp, lane, lists[warp]);
    else if ((warp - EP_SEND_WARPS) * 32 < r.V)
        en_receiver(a, (warp - EP_SEND_WARPS) * 32 + lane);
}

#endif
