// step_kernel.cu - the step kernel of libdxtrec's capture-safe CUDA path
// (layout and contract: step_kernel.h) and the %globaltimer reader the
// writer uses to put GPU times on the Unix clock. Built into libdxtrec by
// nvcc where it is found (Makefile: recorder/*.cu).
//
// Owner: the GPU side of dxtrace.
//
// One block. Thread 0 takes the step (explicit, or the next automatic one)
// and claims a slot with a CAS on CTL_HEAD unless the ring is full (then the
// step is counted in CTL_DROPPED, with its first and last step, and skipped:
// a full ring is never overwritten). All threads copy the attached counters
// into the slot; after a fence thread 0 writes the header, the sequence word
// last, then counts the slot in CTL_DONE.
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

__device__ __forceinline__ u64 *word(int64_t *ctl, int i)
{
    return reinterpret_cast<u64 *>(ctl + i);
}

__device__ __forceinline__ long long *sword(int64_t *ctl, int i)
{
    return reinterpret_cast<long long *>(ctl + i);
}

// Thread 0: the step of this launch and its slot (-1: ring full, counted).
__device__ long long claim_slot(const dxtrec_step_args &a, long long *step_out)
{
    long long step;
    if (a.auto_step) {
        step = (long long)atomicAdd(word(a.ctl, DXTREC_CTL_NEXT_STEP), 1ull);
    } else {
        step = (long long)a.step;
        atomicMax(sword(a.ctl, DXTREC_CTL_NEXT_STEP), step + 1);
    }
    *step_out = step;
    volatile u64 *head_p = word(a.ctl, DXTREC_CTL_HEAD);
    volatile u64 *tail_p = word(a.ctl, DXTREC_CTL_TAIL);
    u64 head = *head_p;
    for (;;) {
        if (head - *tail_p >= a.capacity) {
            atomicAdd(word(a.ctl, DXTREC_CTL_DROPPED), 1ull);
            atomicMin(sword(a.ctl, DXTREC_CTL_DROP_FIRST), step);
            atomicMax(sword(a.ctl, DXTREC_CTL_DROP_LAST), step);
            return -1;
        }
        u64 seen = atomicCAS(word(a.ctl, DXTREC_CTL_HEAD), head, head + 1);
        if (seen == head)
            return (long long)head;
        head = seen;
    }
}

__global__ void dxtrec_step_kernel(dxtrec_step_args a)
{
    __shared__ long long s_pos, s_step, s_time;
    if (threadIdx.x == 0) {
        s_time = globaltimer_ns();
        s_pos = claim_slot(a, &s_step);
    }
    __syncthreads();
    const long long pos = s_pos;
    if (pos >= 0) {
        int64_t *slot = a.ring + (u64)pos % a.capacity * (u64)a.slot_words;
        int64_t *data = slot + DXTREC_SLOT_PRESENT + a.nops;
        const int row = 2 * a.n, total = a.nops * row;
        for (int op = threadIdx.x; op < a.nops; op += blockDim.x)
            slot[DXTREC_SLOT_PRESENT + op] =
                (a.table[2 * op] != nullptr) | (a.table[2 * op + 1] != nullptr) << 1;
        for (int i = threadIdx.x; i < total; i += blockDim.x) {
            const int op = i / row, k = i - op * row, tok = k >= a.n;
            const int64_t *src = a.table[2 * op + tok];
            data[i] = src ? src[tok ? k - a.n : k] : 0;
        }
        __threadfence();
        __syncthreads();
        if (threadIdx.x == 0) {
            slot[DXTREC_SLOT_STEP] = s_step;
            slot[DXTREC_SLOT_TIME] = s_time;
            __threadfence();
            slot[DXTREC_SLOT_SEQ] = pos + 1;
            __threadfence();
            atomicAdd(word(a.ctl, DXTREC_CTL_DONE), 1ull);
        }
    }
    if (threadIdx.x == 0 && a.eager) {
        __threadfence();
        atomicAdd(word(a.ctl, DXTREC_CTL_EAGER_SEEN), 1ull);
    }
}

__global__ void dxtrec_globaltimer_kernel(int64_t *out)
{
    *reinterpret_cast<volatile int64_t *>(out) = globaltimer_ns();
}

} // namespace

// cudaLaunchKernel rather than <<<>>>: its result is this launch's own, not
// an error some other call of the thread left behind.
extern "C" int dxtrec_step_launch(const dxtrec_step_args *args, void *stream)
{
    void *params[] = {const_cast<dxtrec_step_args *>(args)};
    return (int)cudaLaunchKernel((const void *)dxtrec_step_kernel, dim3(1), dim3(args->threads),
                                 params, 0, static_cast<cudaStream_t>(stream));
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
