/* step_kernel.h - the step kernel of libdxtrec's capture-safe CUDA path: the
 * layout shared by the kernel (step_kernel.cu, nvcc) and the host side that
 * launches it and drains its ring (steps_cuda.c, plain C). Not installed.
 *
 * Owner: the GPU side of dxtrace.
 *
 * One launch per step (dxtrec_step_device) snapshots every attached op's
 * device counters into one slot of a ring in device memory. Everything the
 * kernel touches is device memory: no host round trip on the job's stream,
 * and a launch can be captured into a CUDA graph and replayed any number of
 * times (each replay adds its slot). The writer thread copies the control
 * block and the finished slots out on a stream of its own and hands the
 * consumed position back (CTL_TAIL) with a small host-to-device copy.
 *
 * Control block: DXTREC_CTL_WORDS 64-bit words (below). Slot: the header
 * words, then present[nops] (bit 0: wait attached, bit 1: tokens attached),
 * then nops rows of 2 * n words (wait[n], tokens[n]; 0 where not attached). */
#ifndef DXTREC_STEP_KERNEL_H
#define DXTREC_STEP_KERNEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Control block words. DONE sits before HEAD: a copy that reads in address
 * order sees a DONE no newer than HEAD. */
enum {
    DXTREC_CTL_DONE = 0,    /* slots completely written */
    DXTREC_CTL_HEAD,        /* slots claimed */
    DXTREC_CTL_TAIL,        /* slots the writer consumed (written by the host only) */
    DXTREC_CTL_DROPPED,     /* steps dropped: ring full */
    DXTREC_CTL_DROP_FIRST,  /* smallest dropped step (INT64_MAX: none) */
    DXTREC_CTL_DROP_LAST,   /* largest dropped step (INT64_MIN: none) */
    DXTREC_CTL_NEXT_STEP,   /* the step an automatic (captured) launch takes */
    DXTREC_CTL_EAGER_SEEN,  /* launches made outside a capture that have run */
    DXTREC_CTL_WORDS
};

/* Slot header words. */
enum {
    DXTREC_SLOT_SEQ = 0,  /* position + 1, written last */
    DXTREC_SLOT_STEP,     /* the step of the row */
    DXTREC_SLOT_TIME,     /* %globaltimer when the kernel ran (ns) */
    DXTREC_SLOT_RESERVED,
    DXTREC_SLOT_PRESENT   /* present[nops] start here */
};

typedef struct dxtrec_step_args {
    int64_t *ctl;                 /* device: DXTREC_CTL_WORDS words */
    int64_t *ring;                /* device: capacity slots of slot_words words */
    const int64_t *const *table;  /* device: nops pairs (wait, tokens); NULL: not attached */
    int64_t step;                 /* the row's step unless auto_step */
    uint64_t capacity;            /* slots in the ring */
    int nops, n, slot_words, threads;
    int auto_step;                /* 1: the step is CTL_NEXT_STEP (captured launches) */
    int eager;                    /* 1: launched outside a capture (counted in EAGER_SEEN) */
} dxtrec_step_args;

/* Words of one slot. */
static inline int dxtrec_step_slot_words(int nops, int n)
{
    return DXTREC_SLOT_PRESENT + nops + 2 * nops * n;
}

/* Queue the step kernel on stream (a cudaStream_t). Returns a cudaError_t. */
int dxtrec_step_launch(const dxtrec_step_args *args, void *stream);

/* Load the kernels now (not lazily at a first launch that may be a capture).
 * Returns a cudaError_t. */
int dxtrec_step_kernels_load(void);

/* Queue a one-thread kernel storing %globaltimer at out (device address of
 * one int64, e.g. mapped pinned memory) on stream. Returns a cudaError_t. */
int dxtrec_globaltimer_launch(int64_t *out, void *stream);

#ifdef __cplusplus
}
#endif
#endif
