/* step_kernel.h - the step kernel of libdxtrec's capture-safe CUDA path: the
 * layout shared by the kernel (step_kernel.cu, nvcc) and the host side that
 * launches it and drains its ring (steps_cuda.c, plain C). Not installed.
 *
 * Owner: the GPU side of dxtrace.
 *
 * One launch per step (dxtrec_step_device) snapshots every attached op's
 * device counters into one slot of a ring in mapped pinned host memory: the
 * kernel writes the slot straight to the host (its words, a system fence,
 * then the slot's sequence word), and the writer thread reads it with plain
 * CPU loads. No CUDA call drains the ring.
 *
 * Modes (args.mode):
 * - STEP: an eager launch on the job's stream, after the step's work: the
 *   row of its step (given, or DCTL_NEXT_STEP with auto_step);
 * - REPLAY: the node a stream capture gets (steps_cuda.c adds it as a root
 *   of the graph, with no dependency, so that it runs beside the replay's
 *   first kernels, off the job's critical path): at the start of each replay
 *   it records the row the previous replay left pending (the counters as the
 *   replay finds them: after the previous replay's last step, numbered
 *   DCTL_NEXT_STEP - 1), then numbers this replay's replay_steps steps
 *   (DCTL_NEXT_STEP += replay_steps) and leaves its last one pending;
 * - CLOSE: launched by close on the recorder's own stream: the pending row,
 *   if any. An eager launch after replays takes the pending row's place
 *   (its counters hold the pending step's counts too: nothing is lost).
 *
 * Two control blocks:
 * - the device block (device memory, DXTREC_DCTL_WORDS words): the claim
 *   position, the step counter, the drop counters; only kernels change it
 *   (device-scope atomics), the host reads it once at close;
 * - the host block (mapped pinned memory, DXTREC_HCTL_WORDS words): the
 *   writer's position (HCTL_TAIL, written by the host only, read by a kernel
 *   only when the ring looks full) and copies of the drop counters, which a
 *   kernel writes when it drops a step.
 *
 * Slot: the header words, then present[nops] (bit 0: wait attached, bit 1:
 * tokens attached), then nops rows of 2 * n words (wait[n], tokens[n]; 0
 * where not attached). SEQ is position + 1 once the slot is complete (written
 * last, after a system-scope fence): a slot is the writer's when its SEQ is
 * its position + 1, and a full ring is never overwritten. */
#ifndef DXTREC_STEP_KERNEL_H
#define DXTREC_STEP_KERNEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Device control block words (device memory; kernels only, read at close). */
enum {
    DXTREC_DCTL_HEAD = 0,      /* slots claimed */
    DXTREC_DCTL_TAIL_SEEN,     /* HCTL_TAIL as a kernel last read it (<= the true tail) */
    DXTREC_DCTL_NEXT_STEP,     /* the step an automatic (captured) launch takes */
    DXTREC_DCTL_DROPPED,       /* steps dropped: ring full */
    DXTREC_DCTL_DROP_FIRST,    /* smallest dropped step (INT64_MAX: none) */
    DXTREC_DCTL_DROP_LAST,     /* largest dropped step (INT64_MIN: none) */
    DXTREC_DCTL_DROPPED_EAGER, /* of those, launches made outside a capture */
    DXTREC_DCTL_EAGER_SEEN,    /* launches made outside a capture that have run */
    DXTREC_DCTL_PENDING,       /* 1: a replay's last step awaits its row (REPLAY, CLOSE) */
    DXTREC_DCTL_WORDS
};

/* Host control block words (mapped pinned memory). TAIL sits on a cache line
 * of its own (the CPU writes it, the GPU the others). */
enum {
    DXTREC_HCTL_TAIL = 0,           /* slots the writer consumed (host only) */
    DXTREC_HCTL_DROPPED = 8,        /* copies of the device block's drop counters, */
    DXTREC_HCTL_DROP_FIRST,         /* written by a kernel that drops (DROPPED last, */
    DXTREC_HCTL_DROP_LAST,          /* after a system fence) */
    DXTREC_HCTL_DROPPED_EAGER,
    DXTREC_HCTL_WORDS = 16
};

/* Slot header words. */
enum {
    DXTREC_SLOT_SEQ = 0,  /* position + 1, written last */
    DXTREC_SLOT_STEP,     /* the step of the row */
    DXTREC_SLOT_TIME,     /* %globaltimer when the kernel ran (ns) */
    DXTREC_SLOT_FLAGS,    /* DXTREC_SLOT_EAGER */
    DXTREC_SLOT_PRESENT   /* present[nops] start here */
};

#define DXTREC_SLOT_EAGER 1 /* FLAGS: launched outside a capture */

/* args.mode */
enum { DXTREC_STEP_MODE_STEP = 0, DXTREC_STEP_MODE_REPLAY, DXTREC_STEP_MODE_CLOSE };

/* Threads of a launch: one per slot word but SEQ, in whole warps, plus two
 * warps of their own for the claim and the step number (at most 256; wider
 * slots take several words per thread). */
static inline int dxtrec_step_threads(int slot_words)
{
    const int data = (slot_words - 1 + 31) / 32 * 32 + 2 * 32;
    return data > 256 ? 256 : data;
}

typedef struct dxtrec_step_args {
    int64_t *dctl;                /* device: DXTREC_DCTL_WORDS words */
    int64_t *hctl;                /* device address of the mapped host block */
    int64_t *ring;                /* device address of the mapped ring: capacity slots */
    const int64_t *const *table;  /* device: nops pairs (wait, tokens); NULL: not attached */
    int64_t step;                 /* the row's step unless auto_step */
    uint64_t capacity;            /* slots in the ring */
    int nops, n, slot_words, threads;
    int auto_step;                /* STEP: 1: the step is DCTL_NEXT_STEP */
    int eager;                    /* 1: launched by dxtrec_step_device outside a capture */
    int mode;                     /* DXTREC_STEP_MODE_* */
    int replay_steps;             /* REPLAY: steps one replay makes (step() calls captured) */
    int pdl;                      /* 1: programmatic dependent launch (DXTREC_STEP_PDL=1) */
} dxtrec_step_args;

/* Words of one slot. */
static inline int dxtrec_step_slot_words(int nops, int n)
{
    return DXTREC_SLOT_PRESENT + nops + 2 * nops * n;
}

/* Queue the step kernel on stream (a cudaStream_t). Returns a cudaError_t. */
int dxtrec_step_launch(const dxtrec_step_args *args, void *stream);

/* Add the step kernel with args (mode REPLAY) to graph (a cudaGraph_t being
 * captured) as a root node, *node its cudaGraphNode_t; set a node's args
 * again. Return a cudaError_t. */
int dxtrec_step_node_add(const dxtrec_step_args *args, void *graph, void **node);
int dxtrec_step_node_set(const dxtrec_step_args *args, void *node);

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
