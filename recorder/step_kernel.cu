// step_kernel.cu - the step kernel of libdxtrec's capture-safe CUDA path
// (layout, modes and contract: step_kernel.h) and the %globaltimer reader
// the writer uses to put GPU times on the Unix clock. Built into libdxtrec by
// nvcc where it is found (Makefile: recorder/*.cu).
//
// Owner: the GPU side of dxtrace.
//
// One block, written for latency (an eager launch runs on the job's stream,
// between the job's kernels, so its whole duration is the job's cost):
//   1. at once, in parallel: a thread of its own warp reads %globaltimer and claims a slot
//      (a load of the claim position and of the writer's position as last
//      seen, then one CAS; the host's position is read over the bus only
//      when the ring looks full); another warp takes the step number;
//      every thread loads the word of the slot it will write (the counters,
//      through the attach table; with programmatic dependent launch, the
//      counters only once the kernel ahead has finished);
//   2. after one barrier, every thread stores its word into the slot in
//      host memory (one coalesced pass) and fences at system scope;
//   3. after a second barrier, the claiming thread stores the slot's sequence word.
// A REPLAY or CLOSE launch numbers its pending row before it claims (it runs
// beside the job's kernels, or at close: its latency costs the job nothing),
// and claims nothing when no row is pending.
// A full ring drops the step (counted in the device block, and copied to
// the host block for the writer) and is never overwritten. The counts the
// host reads only at close (launches run) are fire-and-forget reductions.
#include <cuda_runtime.h>

#include "step_kernel.h"

namespace {

typedef unsigned long long u64;

__device__ __forceinline__ long long globaltimer_ns()
{
    u64 t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return (long long)t;
}

__device__ __forceinline__ u64 *uword(int64_t *ctl, int i)
{
    return reinterpret_cast<u64 *>(ctl + i);
}

__device__ __forceinline__ long long *sword(int64_t *ctl, int i)
{
    return reinterpret_cast<long long *>(ctl + i);
}

// The claiming thread: the next slot; -1 when the ring is full.
__device__ long long claim_slot(const dxtrec_step_args &a)
{
    u64 head = *reinterpret_cast<volatile u64 *>(uword(a.dctl, DXTREC_DCTL_HEAD));
    u64 tail = *reinterpret_cast<volatile u64 *>(uword(a.dctl, DXTREC_DCTL_TAIL_SEEN));
    for (;;) {
        if ((long long)(head - tail) >= (long long)a.capacity) {
            // looks full: the writer's own position, from host memory (rare)
            const u64 host_tail = *reinterpret_cast<volatile u64 *>(uword(a.hctl, DXTREC_HCTL_TAIL));
            if (host_tail > tail) {
                atomicMax(uword(a.dctl, DXTREC_DCTL_TAIL_SEEN), host_tail);
                tail = host_tail;
            }
            if ((long long)(head - tail) >= (long long)a.capacity)
                return -1;
        }
        const u64 seen = atomicCAS(uword(a.dctl, DXTREC_DCTL_HEAD), head, head + 1);
        if (seen == head)
            return (long long)head;
        head = seen;
    }
}

// The claiming thread: count a dropped step in the device block, copy the counts to
// the host block (the count last, after a system fence).
__device__ void count_drop(const dxtrec_step_args &a, long long step)
{
    long long first = atomicMin(sword(a.dctl, DXTREC_DCTL_DROP_FIRST), step);
    long long last = atomicMax(sword(a.dctl, DXTREC_DCTL_DROP_LAST), step);
    const u64 dropped = atomicAdd(uword(a.dctl, DXTREC_DCTL_DROPPED), 1ull) + 1;
    volatile long long *h = reinterpret_cast<volatile long long *>(a.hctl);
    h[DXTREC_HCTL_DROP_FIRST] = first < step ? first : step;
    h[DXTREC_HCTL_DROP_LAST] = last > step ? last : step;
    if (a.eager)
        h[DXTREC_HCTL_DROPPED_EAGER] =
            (long long)atomicAdd(uword(a.dctl, DXTREC_DCTL_DROPPED_EAGER), 1ull) + 1;
    __threadfence_system();
    h[DXTREC_HCTL_DROPPED] = (long long)dropped;
}

// The claiming thread of a REPLAY or CLOSE launch (one at a time: launches on
// one stream, a replay's root node, close): the pending row's step in *step;
// 1 when a row is pending. REPLAY then numbers its replay's steps and leaves
// the last one pending; CLOSE leaves nothing pending.
__device__ int take_pending(const dxtrec_step_args &a, long long *step)
{
    volatile long long *ctl = reinterpret_cast<volatile long long *>(a.dctl);
    const long long next = ctl[DXTREC_DCTL_NEXT_STEP], pending = ctl[DXTREC_DCTL_PENDING];
    *step = next - 1;
    if (a.mode == DXTREC_STEP_MODE_REPLAY) {
        ctl[DXTREC_DCTL_NEXT_STEP] = next + a.replay_steps;
        ctl[DXTREC_DCTL_PENDING] = 1;
    } else {
        ctl[DXTREC_DCTL_PENDING] = 0;
    }
    return pending != 0;
}

#define NO_ROW (-2LL) // s_pos: nothing to record (claim_slot's -1: ring full)

// Word w of the slot as far as the table says it: *value for a present word
// (header words: 0), *src the counter to read for a data word (NULL: 0).
__device__ __forceinline__ void slot_source(const dxtrec_step_args &a, int w, long long *value,
                                            const int64_t **src)
{
    *value = 0;
    *src = nullptr;
    if (w < DXTREC_SLOT_PRESENT)
        return;
    if (w < DXTREC_SLOT_PRESENT + a.nops) {
        const int op = w - DXTREC_SLOT_PRESENT;
        *value = (a.table[2 * op] != nullptr) | (a.table[2 * op + 1] != nullptr) << 1;
        return;
    }
    const int d = w - DXTREC_SLOT_PRESENT - a.nops, row = 2 * a.n;
    const int op = d / row, k = d - op * row, tok = k >= a.n;
    const int64_t *base = a.table[2 * op + tok];
    *src = base ? base + (tok ? k - a.n : k) : nullptr;
}

// Launched with programmatic stream serialization (args.pdl), the kernel may
// start before the kernel ahead of it on the stream has finished: wait for it
// (and its memory) here, before the counters are read. Otherwise a no-op.
__device__ __forceinline__ void wait_for_previous_grid()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__global__ void __launch_bounds__(256) dxtrec_step_kernel(const dxtrec_step_args a)
{
    __shared__ long long s_pos, s_step, s_time;
    const int tid = threadIdx.x;
    // the last two warps claim and number (the host makes them extra warps):
    // their round trips run beside the data warps' loads, not after them
    const int claimer = blockDim.x - 2 * 32, numberer = blockDim.x - 32;
    const int w0 = tid + 1; // word 0 (SEQ) is the claimer's, last
    long long v0 = 0;
    const int64_t *src0 = nullptr;
    if (w0 < a.slot_words)
        slot_source(a, w0, &v0, &src0);
    if (tid == claimer) {
        s_time = globaltimer_ns();
        if (a.mode == DXTREC_STEP_MODE_STEP) {
            s_pos = claim_slot(a);
        } else {
            long long step;
            s_pos = take_pending(a, &step) ? claim_slot(a) : NO_ROW;
            s_step = step;
        }
    } else if (tid == numberer && a.mode == DXTREC_STEP_MODE_STEP) {
        // an eager step after replays takes the pending row's place
        *reinterpret_cast<volatile long long *>(sword(a.dctl, DXTREC_DCTL_PENDING)) = 0;
        if (a.auto_step) {
            s_step = (long long)atomicAdd(uword(a.dctl, DXTREC_DCTL_NEXT_STEP), 1ull);
        } else {
            s_step = (long long)a.step;
            atomicMax(sword(a.dctl, DXTREC_DCTL_NEXT_STEP), (long long)a.step + 1);
        }
    }
    if (src0) {
        wait_for_previous_grid();
        v0 = *src0;
    }
    __syncthreads();
    const long long pos = s_pos;
    if (pos >= 0) {
        int64_t *slot = a.ring + (u64)pos % a.capacity * (u64)a.slot_words;
        for (int w = w0; w < a.slot_words; w += blockDim.x) {
            long long v = v0;
            if (w != w0) { // slots wider than the block
                const int64_t *src;
                slot_source(a, w, &v, &src);
                if (src) {
                    wait_for_previous_grid();
                    v = *src;
                }
            }
            if (w == DXTREC_SLOT_STEP)
                v = s_step;
            else if (w == DXTREC_SLOT_TIME)
                v = s_time;
            else if (w == DXTREC_SLOT_FLAGS)
                v = a.eager ? DXTREC_SLOT_EAGER : 0;
            slot[w] = v;
        }
        __threadfence_system();
        __syncthreads();
        if (tid == claimer)
            *reinterpret_cast<volatile long long *>(slot + DXTREC_SLOT_SEQ) = pos + 1;
    } else if (pos != NO_ROW && tid == claimer) {
        count_drop(a, s_step);
    }
    if (tid == claimer && a.eager)
        atomicAdd(uword(a.dctl, DXTREC_DCTL_EAGER_SEEN), 1ull); // result unused: a reduction
}

__global__ void dxtrec_globaltimer_kernel(int64_t *out)
{
    *reinterpret_cast<volatile int64_t *>(out) = globaltimer_ns();
}

} // namespace

// cudaLaunchKernel rather than <<<>>>: its result is this launch's own, not
// an error some other call of the thread left behind. With args->pdl, the
// launch allows programmatic stream serialization (Hopper on): the kernel may
// be scheduled while the kernel ahead of it drains, and waits for it in
// wait_for_previous_grid().
extern "C" int dxtrec_step_launch(const dxtrec_step_args *args, void *stream)
{
    void *params[] = {const_cast<dxtrec_step_args *>(args)};
    if (!args->pdl)
        return (int)cudaLaunchKernel((const void *)dxtrec_step_kernel, dim3(1),
                                     dim3(args->threads), params, 0,
                                     static_cast<cudaStream_t>(stream));
    cudaLaunchAttribute attr;
    attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr.val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(1);
    config.blockDim = dim3(args->threads);
    config.stream = static_cast<cudaStream_t>(stream);
    config.attrs = &attr;
    config.numAttrs = 1;
    return (int)cudaLaunchKernelExC(&config, (const void *)dxtrec_step_kernel, params);
}

// The kernel node of args (params: its one argument's address).
static cudaKernelNodeParams node_params(const dxtrec_step_args *args, void **params)
{
    params[0] = const_cast<dxtrec_step_args *>(args);
    cudaKernelNodeParams p = {};
    p.func = (void *)dxtrec_step_kernel;
    p.gridDim = dim3(1);
    p.blockDim = dim3(args->threads);
    p.kernelParams = params;
    return p;
}

// A root node: no dependency, so that it runs beside the replay's first kernels.
extern "C" int dxtrec_step_node_add(const dxtrec_step_args *args, void *graph, void **node)
{
    void *params[1];
    const cudaKernelNodeParams p = node_params(args, params);
    return (int)cudaGraphAddKernelNode(reinterpret_cast<cudaGraphNode_t *>(node),
                                       static_cast<cudaGraph_t>(graph), nullptr, 0, &p);
}

extern "C" int dxtrec_step_node_set(const dxtrec_step_args *args, void *node)
{
    void *params[1];
    const cudaKernelNodeParams p = node_params(args, params);
    return (int)cudaGraphKernelNodeSetParams(static_cast<cudaGraphNode_t>(node), &p);
}

extern "C" int dxtrec_step_kernels_load(void)
{
    cudaFuncAttributes attr;
    cudaError_t e = cudaFuncGetAttributes(&attr, dxtrec_step_kernel);
    if (e == cudaSuccess)
        e = cudaFuncGetAttributes(&attr, dxtrec_globaltimer_kernel);
    return (int)e;
}

extern "C" int dxtrec_globaltimer_launch(int64_t *out, void *stream)
{
    void *params[] = {&out};
    return (int)cudaLaunchKernel((const void *)dxtrec_globaltimer_kernel, dim3(1), dim3(1), params,
                                 0, static_cast<cudaStream_t>(stream));
}
