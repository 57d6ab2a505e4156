/* steps_cuda.c - libdxtrec's capture-safe CUDA path: dxtrec_attach_device
 * (register each op's device counters once) and dxtrec_step_device (one
 * launch per step records every attached op), and the writer's side of it.
 *
 * Owner: the GPU side of dxtrace. Shares the device, the clock calibration
 * and the writer's poll with dxtrec_cuda.c (cuda_internal.h); the kernel and
 * the ring's layout are step_kernel.cu / step_kernel.h.
 *
 * The caller pays one capture check and one kernel launch per step (all ops
 * at once). The kernel writes each step's slot straight into a ring in
 * mapped pinned host memory (a full ring is never overwritten: the step is
 * dropped on the GPU and counted). Inside a stream capture nothing is
 * launched: the capture's graph gets one root node of the kernel (mode
 * REPLAY, step_kernel.h), added at its first step() and told how many
 * step() calls it captured at each later one. It runs beside the replay's
 * first kernels, off the job's critical path: it records the row the
 * previous replay left pending (the counters after its last step) and
 * numbers this replay's steps. The last replay's row is taken by close (a
 * CLOSE launch on the recorder's own stream, by the writer, before its last
 * drain) or by the next eager step (which then holds its counts).
 *
 * The writer thread, every poll, makes no CUDA call: it reads the slots from
 * its position on with plain loads (a slot is complete when its sequence word
 * is its position + 1), pushes their rows into the host ring
 * (dxtrec_ring_push: as many as the ring has room for; the rest wait in the
 * mapped ring), hands its position back (HCTL_TAIL, a store), and counts the
 * kernel's drops from their copies in the host block. Nothing ever waits on
 * the job's streams, and no CUDA call of ours takes the context's locks while
 * the job launches. CUDA calls remain at set-up and attach, at close (the
 * device block read once, so that what never arrived is counted before the
 * file is closed), and every STEPS_TIMER_INTERVAL_S (the clock offset below).
 *
 * DXTREC_STEP_PDL=1 in the environment at the first attach launches the
 * kernel with programmatic dependent launch (Hopper on), an experiment that
 * tests/gpu/bench_step.py and ep_deepep.py's bench variants *-pdl measure.
 *
 * Times: %globaltimer of the kernel, put on the Unix clock with an offset
 * measured at set-up and every STEPS_TIMER_INTERVAL_S (a timer kernel
 * bracketed by the host clock). Clock rate: the latest calibration, as for
 * record_device. */
#include "cuda_internal.h"
#include "step_kernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEPS_RING_BYTES_MAX (64u << 20) /* the mapped ring */
#define STEPS_MIN_SLOTS 2
#define STEPS_TIMER_INTERVAL_S 10.0
#define STEPS_TIMER_TRIES 3
#define STEPS_TIMER_STALE_S 120.0

/* Loads and stores of the mapped memory the GPU shares with us. */
#define LOAD_ACQUIRE(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define LOAD_RELAXED(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE_RELEASE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

struct dxtrec_steps {
    int nops, n, slot_words;
    uint64_t capacity;            /* slots */
    int64_t *d_ctl;               /* device block (device memory) */
    const int64_t **d_table;      /* device: nops pairs (wait, tokens) */
    const int64_t **h_table;      /* host copy of the table (attach, under attach_lock) */
    int64_t *h_ctl, *dh_ctl;      /* host block, mapped: host and device addresses */
    int64_t *h_ring, *dh_ring;    /* the ring, mapped: host and device addresses */
    int64_t *h_final;             /* pinned: the device block, read at set-up and close */
    int64_t *h_timer, *d_timer;   /* pinned and mapped: the timer kernel's output */
    cudaStream_t stream;          /* the recorder's own: set-up, attach, timer, close */
    dxtrec_step_args args;        /* every launch's arguments but step, auto_step, eager */
    pthread_mutex_t attach_lock;
    pthread_mutex_t capture_lock; /* the capture that has the REPLAY node: */
    unsigned long long cap_id;    /* its id, its graph, */
    cudaGraph_t cap_graph;
    cudaGraphNode_t cap_node;     /* the node (NULL: none yet) */
    dxtrec_step_args cap_args;    /* and the node's arguments */
    _Atomic int *attached;        /* per op: 1 when counters are attached */
    _Atomic uint64_t launched;    /* launches outside a capture */
    _Atomic uint64_t captured;    /* graphs with a REPLAY node: the ring may outlive close */
    _Atomic int64_t step_launched; /* the latest explicit step launched (INT64_MIN: none) */
    /* writer thread only */
    uint64_t tail, dropped_seen, eager_taken;
    int accounted;                /* what never arrived is counted (steps_account) */
    int close_row_taken;          /* the last replay's pending row: CLOSE launched */
    int64_t last_step;            /* of the last slot drained; INT64_MIN: none */
    int64_t time_offset_ns;       /* Unix ns = %globaltimer + offset */
    int64_t time_width_ns;        /* the host interval that offset was measured in */
    double time_set_s, timer_last_s; /* when offset was set, when last measured */
};

static pthread_mutex_t steps_create_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t steps_capacity(const dxtrec_t *rec, size_t slot_bytes)
{
    uint64_t n = (uint64_t)rec->cfg.ring_capacity;
    if (n * slot_bytes > STEPS_RING_BYTES_MAX)
        n = STEPS_RING_BYTES_MAX / slot_bytes;
    return n < STEPS_MIN_SLOTS ? STEPS_MIN_SLOTS : n;
}

/* Writer (and set-up): the offset from %globaltimer to the Unix clock, from
 * the tightest of a few host-bracketed timer kernels. A measurement much
 * looser than the one in use (a busy GPU started the kernel late) replaces
 * it only once that one is STEPS_TIMER_STALE_S old (the clocks drift apart). */
static cudaError_t measure_time_offset(dxtrec_steps *s)
{
    int64_t best_width = INT64_MAX, offset = 0;
    cudaError_t e = cudaSuccess;
    for (int i = 0; i < STEPS_TIMER_TRIES && e == cudaSuccess; i++) {
        int64_t t0 = dxtrec_now_realtime_ns();
        e = (cudaError_t)dxtrec_globaltimer_launch(s->d_timer, s->stream);
        if (e == cudaSuccess)
            e = cudaStreamSynchronize(s->stream);
        int64_t t1 = dxtrec_now_realtime_ns();
        if (e == cudaSuccess && t1 - t0 < best_width) {
            best_width = t1 - t0;
            offset = t0 + (t1 - t0) / 2 - *(volatile int64_t *)s->h_timer;
        }
    }
    const double now = dxtrec_now_mono_s();
    if (best_width < INT64_MAX &&
        (best_width <= 2 * s->time_width_ns || now - s->time_set_s >= STEPS_TIMER_STALE_S)) {
        s->time_offset_ns = offset;
        s->time_width_ns = best_width;
        s->time_set_s = now;
    }
    s->timer_last_s = now;
    return e;
}

/* The blocks' first state, the empty table, the zeroed ring (no slot complete). */
static cudaError_t steps_clear(dxtrec_steps *s)
{
    memset(s->h_final, 0, DXTREC_DCTL_WORDS * sizeof(int64_t));
    s->h_final[DXTREC_DCTL_DROP_FIRST] = INT64_MAX;
    s->h_final[DXTREC_DCTL_DROP_LAST] = INT64_MIN;
    memset(s->h_ctl, 0, DXTREC_HCTL_WORDS * sizeof(int64_t));
    s->h_ctl[DXTREC_HCTL_DROP_FIRST] = INT64_MAX;
    s->h_ctl[DXTREC_HCTL_DROP_LAST] = INT64_MIN;
    memset(s->h_ring, 0, s->capacity * (size_t)s->slot_words * sizeof(int64_t));
    memset(s->h_table, 0, 2 * (size_t)s->nops * sizeof(*s->h_table));
    cudaError_t e = cudaMemcpyAsync(s->d_ctl, s->h_final, DXTREC_DCTL_WORDS * sizeof(int64_t),
                                    cudaMemcpyHostToDevice, s->stream);
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(s->d_table, s->h_table, 2 * (size_t)s->nops * sizeof(*s->h_table),
                            cudaMemcpyHostToDevice, s->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(s->stream);
    return e;
}

/* Mapped pinned memory of bytes: its host and device addresses. */
static cudaError_t alloc_mapped(int64_t **host, int64_t **dev, size_t bytes)
{
    cudaError_t e = cudaHostAlloc((void **)host, bytes, cudaHostAllocMapped | cudaHostAllocPortable);
    if (e == cudaSuccess)
        e = cudaHostGetDevicePointer((void **)dev, *host, 0);
    return e;
}

static cudaError_t steps_alloc(dxtrec_steps *s)
{
    const size_t ring_bytes = s->capacity * (size_t)s->slot_words * sizeof(int64_t);
    const size_t table_bytes = 2 * (size_t)s->nops * sizeof(*s->h_table);
    cudaError_t e = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking);
    if (e == cudaSuccess)
        e = cudaMalloc((void **)&s->d_ctl, DXTREC_DCTL_WORDS * sizeof(int64_t));
    if (e == cudaSuccess)
        e = cudaMalloc((void **)&s->d_table, table_bytes);
    if (e == cudaSuccess)
        e = alloc_mapped(&s->h_ctl, &s->dh_ctl, DXTREC_HCTL_WORDS * sizeof(int64_t));
    if (e == cudaSuccess)
        e = alloc_mapped(&s->h_ring, &s->dh_ring, ring_bytes);
    if (e == cudaSuccess)
        e = alloc_mapped(&s->h_timer, &s->d_timer, sizeof(int64_t));
    if (e == cudaSuccess)
        e = cudaHostAlloc((void **)&s->h_table, table_bytes, cudaHostAllocPortable);
    if (e == cudaSuccess)
        e = cudaHostAlloc((void **)&s->h_final, DXTREC_DCTL_WORDS * sizeof(int64_t),
                          cudaHostAllocPortable);
    return e;
}

/* Free everything; what a captured graph may still write (the device block,
 * the table, the mapped host block and ring) is kept when a graph was
 * captured: a replay after close then writes into memory nobody reads. */
static void steps_release(dxtrec_steps *s)
{
    const int keep = atomic_load(&s->captured) > 0;
    if (s->stream)
        cudaStreamSynchronize(s->stream);
    if (!keep) {
        if (s->d_ctl)
            cudaFree(s->d_ctl);
        if (s->d_table)
            cudaFree((void *)s->d_table);
        if (s->h_ctl)
            cudaFreeHost(s->h_ctl);
        if (s->h_ring)
            cudaFreeHost(s->h_ring);
    }
    if (s->h_table)
        cudaFreeHost((void *)s->h_table);
    if (s->h_final)
        cudaFreeHost(s->h_final);
    if (s->h_timer)
        cudaFreeHost(s->h_timer);
    if (s->stream)
        cudaStreamDestroy(s->stream);
    cudaGetLastError();
    pthread_mutex_destroy(&s->attach_lock);
    pthread_mutex_destroy(&s->capture_lock);
    free(s->attached);
    free(s);
}

/* DXTREC_STEP_PDL=1 (read at the first attach): launch the step kernel with
 * programmatic stream serialization (an experiment, off by default: it may
 * hide part of the kernel's launch latency behind the kernel ahead of it). */
static int pdl_wanted(void)
{
    const char *v = getenv("DXTREC_STEP_PDL");
    return v && strcmp(v, "1") == 0;
}

/* Every launch's arguments but the step's own. */
static dxtrec_step_args steps_args(const dxtrec_steps *s)
{
    return (dxtrec_step_args){.dctl = s->d_ctl,
                              .hctl = s->dh_ctl,
                              .ring = s->dh_ring,
                              .table = (const int64_t *const *)s->d_table,
                              .capacity = s->capacity,
                              .nops = s->nops,
                              .n = s->n,
                              .slot_words = s->slot_words,
                              .threads = dxtrec_step_threads(s->slot_words),
                              .pdl = pdl_wanted()};
}

/* The ring, on the caller's current device; NULL (reported) when it cannot be. */
static dxtrec_steps *steps_new(dxtrec_t *rec)
{
    const int nops = rec->cfg.nops, n = rec->cfg.world_size;
    const int slot_words = dxtrec_step_slot_words(nops, n);
    dxtrec_steps *s = calloc(1, sizeof(*s));
    _Atomic int *attached = calloc((size_t)nops, sizeof(*attached));
    cudaError_t e = cudaErrorMemoryAllocation;
    if (!s || !attached) {
        free(attached);
        free(s);
        goto fail;
    }
    pthread_mutex_init(&s->attach_lock, NULL);
    pthread_mutex_init(&s->capture_lock, NULL);
    s->attached = attached;
    s->nops = nops, s->n = n, s->slot_words = slot_words;
    s->capacity = steps_capacity(rec, (size_t)slot_words * sizeof(int64_t));
    s->last_step = INT64_MIN;
    atomic_init(&s->step_launched, INT64_MIN);
    s->time_width_ns = INT64_MAX / 4; /* the first measurement is taken */
    e = steps_alloc(s);
    if (e == cudaSuccess)
        e = (cudaError_t)dxtrec_step_kernels_load();
    if (e == cudaSuccess)
        e = steps_clear(s);
    if (e == cudaSuccess)
        e = measure_time_offset(s);
    if (e != cudaSuccess) {
        steps_release(s);
        goto fail;
    }
    s->args = steps_args(s);
    return s;
fail:
    dxtrec_cuda_report(rec, "setting up the step ring (attach)", e);
    cudaGetLastError();
    return NULL;
}

/* The recorder's ring, made by the first attach. */
static dxtrec_steps *steps_get(dxtrec_t *rec)
{
    dxtrec_steps *s = dxtrec_cuda_steps(rec);
    if (s)
        return s;
    pthread_mutex_lock(&steps_create_lock);
    s = dxtrec_cuda_steps(rec);
    if (!s && dxtrec_cuda_start(rec) != 0) {
        dxtrec_cuda_report(rec, "attach_device", cudaErrorNoDevice);
    } else if (!s) {
        s = steps_new(rec);
        if (s && dxtrec_cuda_install_steps(rec, s) != 0) {
            steps_release(s);
            s = NULL;
        }
    }
    pthread_mutex_unlock(&steps_create_lock);
    return s;
}

/* d_ptr must be memory the GPU of the ring can read (the kernel would fault
 * on anything else and take the job's context with it). */
static int device_readable(dxtrec_t *rec, const int64_t *d_ptr, const char *what)
{
    struct cudaPointerAttributes attr;
    cudaError_t e = cudaPointerGetAttributes(&attr, d_ptr);
    if (e != cudaSuccess) {
        cudaGetLastError();
        dxtrec_cuda_report(rec, what, e);
        return 0;
    }
    if (attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged ||
        (attr.type == cudaMemoryTypeHost && attr.devicePointer == d_ptr))
        return 1;
    dxtrec_report(rec, DXTREC_ERR_INVALID_ARG, DXTREC_TROUBLE_DEVICE,
                  "%s: dxtrec_attach_device: %s %p is not device memory (a host pointer?): "
                  "pass the address of world_size int64 counters on the GPU",
                  rec->dir, what, (const void *)d_ptr);
    return 0;
}

dxtrecResult_t dxtrec_attach_device(dxtrec_t *rec, int op, const int64_t *d_wait,
                                    const int64_t *d_tokens)
{
    if (!rec)
        return DXTREC_ERR_INVALID_ARG;
    if (!atomic_load_explicit(&rec->accepting, memory_order_relaxed))
        return DXTREC_ERR_CLOSED;
    if (op < 0 || op >= rec->cfg.nops || (!d_wait && d_tokens)) {
        dxtrec_report(rec, DXTREC_ERR_INVALID_ARG, DXTREC_TROUBLE_DEVICE,
                      "%s: dxtrec_attach_device: op %d not in 0..%d, or tokens without wait",
                      rec->dir, op, rec->cfg.nops - 1);
        return DXTREC_ERR_INVALID_ARG;
    }
    if (!rec->cfg.record_tokens)
        d_tokens = NULL;
    dxtrec_steps *s = steps_get(rec);
    if (!s)
        return DXTREC_ERR_CUDA;
    if ((d_wait && !device_readable(rec, d_wait, "wait")) ||
        (d_tokens && !device_readable(rec, d_tokens, "tokens")))
        return DXTREC_ERR_INVALID_ARG;
    pthread_mutex_lock(&s->attach_lock);
    s->h_table[2 * op] = d_wait;
    s->h_table[2 * op + 1] = d_tokens;
    cudaError_t e = cudaMemcpyAsync(s->d_table + 2 * op, s->h_table + 2 * op,
                                    2 * sizeof(*s->h_table), cudaMemcpyHostToDevice, s->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(s->stream);
    if (e == cudaSuccess)
        atomic_store(&s->attached[op], d_wait != NULL);
    pthread_mutex_unlock(&s->attach_lock);
    if (e != cudaSuccess) {
        cudaGetLastError();
        dxtrec_cuda_report(rec, "attach_device: writing the table", e);
        return DXTREC_ERR_CUDA;
    }
    return DXTREC_SUCCESS;
}

/* Count n steps (first..last) of every attached op as dropped. */
static void drop_steps(dxtrec_t *rec, dxtrec_steps *s, uint64_t n, int64_t first, int64_t last)
{
    for (int op = 0; op < s->nops; op++)
        if (atomic_load_explicit(&s->attached[op], memory_order_relaxed))
            dxtrec_count_drops(rec, op, n, first, last);
}

/* The capture's status, id and graph (the signature changed in CUDA 12 and 13). */
static cudaError_t capture_info(cudaStream_t stream, enum cudaStreamCaptureStatus *status,
                                unsigned long long *id, cudaGraph_t *graph)
{
#if CUDART_VERSION >= 13000
    return cudaStreamGetCaptureInfo(stream, status, id, graph, NULL, NULL, NULL);
#elif CUDART_VERSION >= 12000
    return cudaStreamGetCaptureInfo(stream, status, id, graph, NULL, NULL);
#else
    return cudaStreamGetCaptureInfo_v2(stream, status, id, graph, NULL, NULL);
#endif
}

/* step() inside a capture of stream: the capture's REPLAY node, a root of its
 * graph, added at its first step() and told of every later one (a replay then
 * numbers that many steps). Nothing is queued on the stream. */
static dxtrecResult_t step_captured(dxtrec_t *rec, dxtrec_steps *s, cudaStream_t stream)
{
    enum cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    unsigned long long id = 0;
    cudaGraph_t graph = NULL;
    cudaError_t e = capture_info(stream, &status, &id, &graph);
    if (e == cudaSuccess && (status != cudaStreamCaptureStatusActive || !graph))
        e = cudaErrorStreamCaptureInvalidated;
    pthread_mutex_lock(&s->capture_lock);
    if (e == cudaSuccess && s->cap_node && s->cap_id == id && s->cap_graph == graph) {
        s->cap_args.replay_steps++;
        e = (cudaError_t)dxtrec_step_node_set(&s->cap_args, s->cap_node);
        if (e != cudaSuccess)
            s->cap_args.replay_steps--;
    } else if (e == cudaSuccess) {
        dxtrec_step_args args = s->args;
        args.mode = DXTREC_STEP_MODE_REPLAY, args.replay_steps = 1, args.pdl = 0;
        void *node = NULL;
        e = (cudaError_t)dxtrec_step_node_add(&args, graph, &node);
        if (e == cudaSuccess) {
            s->cap_id = id, s->cap_graph = graph, s->cap_node = node, s->cap_args = args;
            atomic_fetch_add_explicit(&s->captured, 1, memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&s->capture_lock);
    if (e == cudaSuccess)
        return DXTREC_SUCCESS;
    cudaGetLastError(); /* not left for the job's own error checks */
    dxtrec_cuda_report(rec, "step_device: adding the step node to the captured graph", e);
    return DXTREC_ERR_CUDA;
}

dxtrecResult_t dxtrec_step_device(dxtrec_t *rec, int64_t step, void *stream)
{
    if (!rec)
        return DXTREC_ERR_INVALID_ARG;
    if (!atomic_load_explicit(&rec->accepting, memory_order_relaxed))
        return DXTREC_ERR_CLOSED;
    dxtrec_steps *s = dxtrec_cuda_steps(rec);
    if (!s) {
        dxtrec_report(rec, DXTREC_ERR_INVALID_ARG, DXTREC_TROUBLE_DEVICE,
                      "%s: dxtrec_step_device before any dxtrec_attach_device: nothing to record",
                      rec->dir);
        return DXTREC_ERR_INVALID_ARG;
    }
    enum cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing((cudaStream_t)stream, &capture) != cudaSuccess) {
        cudaGetLastError(); /* the launch says what is wrong with the stream */
        capture = cudaStreamCaptureStatusNone;
    }
    if (capture != cudaStreamCaptureStatusNone)
        return step_captured(rec, s, (cudaStream_t)stream);
    dxtrec_step_args args = s->args;
    args.eager = 1;
    args.auto_step = step == DXTREC_STEP_AUTO;
    args.step = step;
    atomic_fetch_add_explicit(&s->launched, 1, memory_order_relaxed);
    if (!args.auto_step) /* for close's count of steps that never ran (steps increase) */
        atomic_store_explicit(&s->step_launched, step, memory_order_relaxed);
    cudaError_t e = (cudaError_t)dxtrec_step_launch(&args, stream);
    if (e == cudaSuccess)
        return DXTREC_SUCCESS;
    cudaGetLastError(); /* not left for the job's own error checks */
    atomic_fetch_sub_explicit(&s->launched, 1, memory_order_relaxed);
    if (!args.auto_step)
        drop_steps(rec, s, 1, step, step);
    dxtrec_cuda_report(rec, "step_device: launching the step kernel", e);
    return DXTREC_ERR_CUDA;
}

/* ---- the writer's side ---------------------------------------------------------- */

/* Writer: the steps the kernels dropped since the last look, from the host
 * block's copies (the count is stored last: first/last are as new). */
static void count_kernel_drops(dxtrec_t *rec, dxtrec_steps *s)
{
    const uint64_t dropped = (uint64_t)LOAD_ACQUIRE(s->h_ctl + DXTREC_HCTL_DROPPED);
    if (dropped <= s->dropped_seen)
        return;
    drop_steps(rec, s, dropped - s->dropped_seen, LOAD_RELAXED(s->h_ctl + DXTREC_HCTL_DROP_FIRST),
               LOAD_RELAXED(s->h_ctl + DXTREC_HCTL_DROP_LAST));
    dxtrec_report(rec, DXTREC_ERR_DROPPED, DXTREC_TROUBLE_RING_FULL,
                  "%s: step ring full (%llu slots): steps dropped and counted; "
                  "a larger ring_capacity holds more",
                  rec->dir, (unsigned long long)s->capacity);
    s->dropped_seen = dropped;
}

/* Writer: slot pos when it is complete, else NULL. */
static const int64_t *complete_slot(const dxtrec_steps *s, uint64_t pos)
{
    const int64_t *slot = s->h_ring + pos % s->capacity * (uint64_t)s->slot_words;
    return LOAD_ACQUIRE(slot + DXTREC_SLOT_SEQ) == (int64_t)pos + 1 ? slot : NULL;
}

/* Writer: push the rows of one complete slot. */
static void push_slot(dxtrec_t *rec, dxtrec_steps *s, const int64_t *slot, double clock_hz)
{
    const int n = s->n;
    const int64_t step = slot[DXTREC_SLOT_STEP];
    const int64_t time_ns = slot[DXTREC_SLOT_TIME] + s->time_offset_ns;
    const int64_t *present = slot + DXTREC_SLOT_PRESENT;
    const int64_t *data = present + s->nops;
    for (int op = 0; op < s->nops; op++) {
        const int64_t *row = data + (size_t)op * 2 * n;
        if (present[op] & 1)
            dxtrec_ring_push(rec, op, step, time_ns, row, (present[op] & 2) ? row + n : NULL,
                             clock_hz);
    }
    s->eager_taken += (slot[DXTREC_SLOT_FLAGS] & DXTREC_SLOT_EAGER) != 0;
    s->last_step = step;
}

/* Writer: push the complete slots from the writer's position on, as many as
 * the host ring has room for, and hand the new position to the kernels. */
static void drain_slots(dxtrec_t *rec, dxtrec_steps *s, double clock_hz)
{
    uint64_t per_step = 0;
    for (int op = 0; op < s->nops; op++)
        per_step += atomic_load_explicit(&s->attached[op], memory_order_relaxed) != 0;
    per_step = per_step ? per_step : 1;
    const uint64_t used = dxtrec_ring_enqueued(&rec->ring) - dxtrec_ring_dequeued(&rec->ring);
    uint64_t take = (rec->ring.capacity - used) / per_step;
    if (take == 0 && rec->ring.capacity < per_step)
        take = 1; /* a host ring smaller than one step: the excess rows drop, counted */
    const uint64_t start = s->tail;
    const int64_t *slot;
    while (s->tail - start < take && (slot = complete_slot(s, s->tail)) != NULL) {
        push_slot(rec, s, slot, clock_hz);
        s->tail++;
    }
    if (s->tail != start) /* after every read of those slots: a kernel may now reuse them */
        STORE_RELEASE(s->h_ctl + DXTREC_HCTL_TAIL, (int64_t)s->tail);
}

/* Writer: launches outside a capture not yet seen run, plus one when a
 * complete slot waits for room in the host ring. */
static int steps_pending(const dxtrec_steps *s)
{
    const uint64_t launched = atomic_load_explicit(&s->launched, memory_order_relaxed);
    const uint64_t seen =
        s->eager_taken + (uint64_t)LOAD_RELAXED(s->h_ctl + DXTREC_HCTL_DROPPED_EAGER);
    uint64_t pending = launched > seen ? launched - seen : 0;
    pending += complete_slot(s, s->tail) != NULL;
    return pending > INT32_MAX ? INT32_MAX : (int)pending;
}

/* Writer, once closing: when graphs were captured, the last replay's pending
 * row (a CLOSE launch on the recorder's stream, waited for: the job has
 * synchronized before close, so the counters are final). */
static void take_close_row(dxtrec_t *rec, dxtrec_steps *s)
{
    s->close_row_taken = 1;
    dxtrec_step_args args = s->args;
    args.mode = DXTREC_STEP_MODE_CLOSE, args.pdl = 0;
    cudaError_t e = (cudaError_t)dxtrec_step_launch(&args, s->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(s->stream);
    if (e != cudaSuccess) {
        cudaGetLastError();
        dxtrec_cuda_report(rec, "close: the last replay's row", e);
    }
}

int dxtrec_steps_poll(dxtrec_t *rec, dxtrec_steps *s, double clock_hz)
{
    if (atomic_load_explicit(&rec->test_hold_steps, memory_order_acquire)) {
        atomic_store_explicit(&rec->test_steps_held, 1, memory_order_release);
        return 0;
    }
    if (dxtrec_now_mono_s() - s->timer_last_s >= STEPS_TIMER_INTERVAL_S &&
        measure_time_offset(s) != cudaSuccess)
        cudaGetLastError(); /* the last offset stays */
    if (!s->close_row_taken && !atomic_load_explicit(&rec->accepting, memory_order_relaxed) &&
        atomic_load_explicit(&s->captured, memory_order_relaxed) > 0)
        take_close_row(rec, s);
    count_kernel_drops(rec, s);
    drain_slots(rec, s, clock_hz);
    return steps_pending(s);
}

/* The device block, read once (close); 0 when it could not be. */
static int read_device_block(dxtrec_steps *s)
{
    cudaError_t e = cudaMemcpyAsync(s->h_final, s->d_ctl, DXTREC_DCTL_WORDS * sizeof(int64_t),
                                    cudaMemcpyDeviceToHost, s->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(s->stream);
    if (e != cudaSuccess)
        cudaGetLastError();
    return e == cudaSuccess;
}

/* The last word on the steps (writer, after its last poll, before the file
 * is closed): the drops the host block's copies may have missed, and every
 * step launched or claimed but never drained, counted as dropped (and said).
 * From the device block when it can be read, else from the host's view. */
static void steps_account(dxtrec_t *rec, dxtrec_steps *s)
{
    const uint64_t launched = atomic_load(&s->launched);
    uint64_t lost;
    int64_t last = atomic_load(&s->step_launched);
    s->accounted = 1;
    count_kernel_drops(rec, s);
    if (read_device_block(s)) {
        const int64_t *ctl = s->h_final;
        const uint64_t dropped = (uint64_t)ctl[DXTREC_DCTL_DROPPED];
        const uint64_t seen = (uint64_t)ctl[DXTREC_DCTL_EAGER_SEEN];
        if (dropped > s->dropped_seen)
            drop_steps(rec, s, dropped - s->dropped_seen, ctl[DXTREC_DCTL_DROP_FIRST],
                       ctl[DXTREC_DCTL_DROP_LAST]);
        s->dropped_seen = dropped;
        lost = ((uint64_t)ctl[DXTREC_DCTL_HEAD] - s->tail) + (launched > seen ? launched - seen : 0);
        if (ctl[DXTREC_DCTL_NEXT_STEP] - 1 > last)
            last = ctl[DXTREC_DCTL_NEXT_STEP] - 1;
    } else {
        const uint64_t seen =
            s->eager_taken + (uint64_t)LOAD_RELAXED(s->h_ctl + DXTREC_HCTL_DROPPED_EAGER);
        lost = launched > seen ? launched - seen : 0;
    }
    if (lost == 0)
        return;
    /* the steps after the last one drained: up to the latest one known (steps
     * that never ran have told the device nothing) */
    const int64_t first = s->last_step == INT64_MIN ? 0 : s->last_step + 1;
    if (first + (int64_t)lost - 1 > last)
        last = first + (int64_t)lost - 1;
    drop_steps(rec, s, lost, first, last);
    dxtrec_report(rec, DXTREC_ERR_DROPPED, DXTREC_TROUBLE_DEVICE,
                  "%s: %llu steps of the step ring not recorded by close (still queued "
                  "on the GPU?): dropped; synchronize before close to keep them",
                  rec->dir, (unsigned long long)lost);
}

void dxtrec_steps_finish(dxtrec_t *rec, dxtrec_steps *s)
{
    if (s && !s->accounted)
        steps_account(rec, s);
}

/* After the writer stopped: what was not accounted for yet is (a writer that
 * ended without its last word), then everything is freed. */
void dxtrec_steps_free(dxtrec_t *rec, dxtrec_steps *s)
{
    if (!s)
        return;
    dxtrec_steps_finish(rec, s);
    steps_release(s);
}
