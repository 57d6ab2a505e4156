/* steps_cuda.c - libdxtrec's capture-safe CUDA path: dxtrec_attach_device
 * (register each op's device counters once) and dxtrec_step_device (one
 * launch per step records every attached op), and the writer's side of it.
 *
 * Owner: the GPU side of dxtrace. Shares the device, the clock calibration
 * and the writer's poll with dxtrec_cuda.c (cuda_internal.h); the kernel and
 * the ring's layout are step_kernel.cu / step_kernel.h.
 *
 * The caller pays one capture check and one kernel launch per step (all ops
 * at once). The kernel writes only device memory: a ring of slots, one per
 * step, with a device-side head, a count of finished slots and a count of
 * steps dropped because the ring was full (a full ring is never overwritten).
 * Launched inside a stream capture, the kernel is a node of the graph: every
 * replay adds a slot, its step the device's next step (the last step + 1).
 *
 * The writer thread, every poll (at its shortest sleep once attached): copies
 * the control block out on a stream of its own, counts the kernel's drops,
 * and when every claimed slot is finished copies the new slots out, pushes
 * their rows into the host ring (dxtrec_ring_push: as many as the ring has
 * room for; the rest wait on the device) and hands the position back to the
 * device (CTL_TAIL, one 8-byte copy). Nothing ever waits on the job's streams.
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

#define STEPS_RING_BYTES_MAX (64u << 20) /* device ring and its host copy, each */
#define STEPS_MIN_SLOTS 2
#define STEPS_THREADS_MAX 256
#define STEPS_TIMER_INTERVAL_S 10.0
#define STEPS_TIMER_TRIES 3
#define STEPS_TIMER_STALE_S 120.0

struct dxtrec_steps {
    int nops, n, slot_words;
    uint64_t capacity;            /* slots */
    int64_t *d_ctl, *d_ring;      /* device */
    const int64_t **d_table;      /* device: nops pairs (wait, tokens) */
    const int64_t **h_table;      /* host copy of the table (attach, under attach_lock) */
    int64_t *h_ctl, *h_tail;      /* pinned: the writer's copies */
    int64_t *h_slots;             /* pinned: capacity slots, the writer's copies */
    int64_t *h_timer, *d_timer;   /* pinned and mapped: the timer kernel's output */
    cudaStream_t stream;          /* the recorder's own: attach's and the writer's copies */
    dxtrec_step_args args;        /* every launch's arguments but step, auto_step, eager */
    pthread_mutex_t attach_lock;
    _Atomic int *attached;        /* per op: 1 when counters are attached */
    _Atomic uint64_t launched;    /* launches outside a capture */
    _Atomic uint64_t captured;    /* launches into a capture: the ring may outlive close */
    /* writer thread only */
    uint64_t tail, dropped_seen;
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

/* The control block's first state, the empty table, the zeroed ring. */
static cudaError_t steps_clear(dxtrec_steps *s)
{
    memset(s->h_ctl, 0, DXTREC_CTL_WORDS * sizeof(int64_t));
    s->h_ctl[DXTREC_CTL_DROP_FIRST] = INT64_MAX;
    s->h_ctl[DXTREC_CTL_DROP_LAST] = INT64_MIN;
    memset(s->h_table, 0, 2 * (size_t)s->nops * sizeof(*s->h_table));
    cudaError_t e = cudaMemcpyAsync(s->d_ctl, s->h_ctl, DXTREC_CTL_WORDS * sizeof(int64_t),
                                    cudaMemcpyHostToDevice, s->stream);
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(s->d_table, s->h_table, 2 * (size_t)s->nops * sizeof(*s->h_table),
                            cudaMemcpyHostToDevice, s->stream);
    if (e == cudaSuccess)
        e = cudaMemsetAsync(s->d_ring, 0, s->capacity * (size_t)s->slot_words * sizeof(int64_t),
                            s->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(s->stream);
    return e;
}

static cudaError_t steps_alloc(dxtrec_steps *s)
{
    const size_t ring_bytes = s->capacity * (size_t)s->slot_words * sizeof(int64_t);
    const size_t table_bytes = 2 * (size_t)s->nops * sizeof(*s->h_table);
    cudaError_t e = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking);
    if (e == cudaSuccess)
        e = cudaMalloc((void **)&s->d_ctl, DXTREC_CTL_WORDS * sizeof(int64_t));
    if (e == cudaSuccess)
        e = cudaMalloc((void **)&s->d_ring, ring_bytes);
    if (e == cudaSuccess)
        e = cudaMalloc((void **)&s->d_table, table_bytes);
    if (e == cudaSuccess)
        e = cudaHostAlloc((void **)&s->h_ctl, (DXTREC_CTL_WORDS + 1) * sizeof(int64_t),
                          cudaHostAllocPortable);
    if (e == cudaSuccess)
        e = cudaHostAlloc((void **)&s->h_slots, ring_bytes, cudaHostAllocPortable);
    if (e == cudaSuccess)
        e = cudaHostAlloc((void **)&s->h_table, table_bytes, cudaHostAllocPortable);
    if (e == cudaSuccess)
        e = cudaHostAlloc((void **)&s->h_timer, sizeof(int64_t),
                          cudaHostAllocMapped | cudaHostAllocPortable);
    if (e == cudaSuccess)
        e = cudaHostGetDevicePointer((void **)&s->d_timer, s->h_timer, 0);
    if (e == cudaSuccess)
        s->h_tail = s->h_ctl + DXTREC_CTL_WORDS;
    return e;
}

static void steps_release(dxtrec_steps *s)
{
    const int keep_device = atomic_load(&s->captured) > 0; /* a graph may still write it */
    if (s->stream)
        cudaStreamSynchronize(s->stream); /* the last tail copy reads h_tail */
    if (!keep_device) {
        if (s->d_ctl)
            cudaFree(s->d_ctl);
        if (s->d_ring)
            cudaFree(s->d_ring);
        if (s->d_table)
            cudaFree((void *)s->d_table);
    }
    if (s->h_ctl)
        cudaFreeHost(s->h_ctl);
    if (s->h_slots)
        cudaFreeHost(s->h_slots);
    if (s->h_table)
        cudaFreeHost((void *)s->h_table);
    if (s->h_timer)
        cudaFreeHost(s->h_timer);
    if (s->stream)
        cudaStreamDestroy(s->stream);
    cudaGetLastError();
    pthread_mutex_destroy(&s->attach_lock);
    free(s->attached);
    free(s);
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
        goto fail_early;
    }
    pthread_mutex_init(&s->attach_lock, NULL);
    s->attached = attached;
    s->nops = nops, s->n = n, s->slot_words = slot_words;
    s->capacity = steps_capacity(rec, (size_t)slot_words * sizeof(int64_t));
    s->last_step = INT64_MIN;
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
        goto fail_early;
    }
    const int elems = 2 * nops * n;
    int threads = (elems + 31) / 32 * 32;
    s->args = (dxtrec_step_args){.ctl = s->d_ctl,
                                 .ring = s->d_ring,
                                 .table = (const int64_t *const *)s->d_table,
                                 .capacity = s->capacity,
                                 .nops = nops,
                                 .n = n,
                                 .slot_words = slot_words,
                                 .threads = threads > STEPS_THREADS_MAX ? STEPS_THREADS_MAX : threads};
    return s;
fail_early:
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
    dxtrec_step_args args = s->args;
    enum cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing((cudaStream_t)stream, &capture) != cudaSuccess) {
        cudaGetLastError(); /* the launch says what is wrong with the stream */
        capture = cudaStreamCaptureStatusNone;
    }
    args.eager = capture == cudaStreamCaptureStatusNone;
    args.auto_step = !args.eager || step == DXTREC_STEP_AUTO;
    args.step = step;
    atomic_fetch_add_explicit(args.eager ? &s->launched : &s->captured, 1, memory_order_relaxed);
    cudaError_t e = (cudaError_t)dxtrec_step_launch(&args, stream);
    if (e == cudaSuccess)
        return DXTREC_SUCCESS;
    cudaGetLastError(); /* not left for the job's own error checks */
    if (args.eager)
        atomic_fetch_sub_explicit(&s->launched, 1, memory_order_relaxed);
    if (!args.auto_step)
        drop_steps(rec, s, 1, step, step);
    dxtrec_cuda_report(rec, "step_device: launching the step kernel", e);
    return DXTREC_ERR_CUDA;
}

/* Writer: push the rows of slots [tail, tail + take) of the host copy. */
static void push_slots(dxtrec_t *rec, dxtrec_steps *s, uint64_t take, double clock_hz)
{
    const int n = s->n;
    uint64_t pos = s->tail;
    for (; pos < s->tail + take; pos++) {
        const int64_t *slot = s->h_slots + pos % s->capacity * (uint64_t)s->slot_words;
        if (slot[DXTREC_SLOT_SEQ] != (int64_t)pos + 1)
            break; /* not finished after all: taken at the next poll */
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
        s->last_step = step;
    }
    s->tail = pos;
}

/* Writer: copy out and push the finished slots up to head, as many as the
 * host ring has room for. Returns a cudaError_t. */
static cudaError_t drain_slots(dxtrec_t *rec, dxtrec_steps *s, uint64_t head, double clock_hz)
{
    uint64_t per_step = 0;
    for (int op = 0; op < s->nops; op++)
        per_step += atomic_load_explicit(&s->attached[op], memory_order_relaxed) != 0;
    per_step = per_step ? per_step : 1;
    const uint64_t used = dxtrec_ring_enqueued(&rec->ring) - dxtrec_ring_dequeued(&rec->ring);
    uint64_t take = head - s->tail;
    if (take * per_step > rec->ring.capacity - used)
        take = (rec->ring.capacity - used) / per_step;
    if (take == 0 && rec->ring.capacity < per_step)
        take = 1; /* a host ring smaller than one step: the excess rows drop, counted */
    if (take == 0)
        return cudaSuccess;
    const size_t slot_bytes = (size_t)s->slot_words * sizeof(int64_t);
    const uint64_t first = s->tail % s->capacity;
    const uint64_t part1 = take < s->capacity - first ? take : s->capacity - first;
    const size_t off = first * (size_t)s->slot_words;
    cudaError_t e = cudaMemcpyAsync(s->h_slots + off, s->d_ring + off, part1 * slot_bytes,
                                    cudaMemcpyDeviceToHost, s->stream);
    if (e == cudaSuccess && take > part1)
        e = cudaMemcpyAsync(s->h_slots, s->d_ring, (take - part1) * slot_bytes,
                            cudaMemcpyDeviceToHost, s->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(s->stream);
    if (e != cudaSuccess)
        return e;
    push_slots(rec, s, take, clock_hz);
    *s->h_tail = (int64_t)s->tail; /* the previous copy of it completed at the last sync */
    return cudaMemcpyAsync(s->d_ctl + DXTREC_CTL_TAIL, s->h_tail, sizeof(int64_t),
                           cudaMemcpyHostToDevice, s->stream);
}

int dxtrec_steps_poll(dxtrec_t *rec, dxtrec_steps *s, double clock_hz)
{
    if (dxtrec_now_mono_s() - s->timer_last_s >= STEPS_TIMER_INTERVAL_S &&
        measure_time_offset(s) != cudaSuccess)
        cudaGetLastError(); /* the last offset stays */
    cudaError_t e = cudaMemcpyAsync(s->h_ctl, s->d_ctl, DXTREC_CTL_WORDS * sizeof(int64_t),
                                    cudaMemcpyDeviceToHost, s->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(s->stream);
    if (e != cudaSuccess) {
        cudaGetLastError();
        dxtrec_cuda_report(rec, "reading the step ring", e);
        return 0;
    }
    const int64_t *ctl = s->h_ctl;
    const uint64_t dropped = (uint64_t)ctl[DXTREC_CTL_DROPPED];
    if (dropped > s->dropped_seen) {
        drop_steps(rec, s, dropped - s->dropped_seen, ctl[DXTREC_CTL_DROP_FIRST],
                   ctl[DXTREC_CTL_DROP_LAST]);
        dxtrec_report(rec, DXTREC_ERR_DROPPED, DXTREC_TROUBLE_RING_FULL,
                      "%s: device step ring full (%llu slots): steps dropped and counted; "
                      "a larger ring_capacity holds more",
                      rec->dir, (unsigned long long)s->capacity);
        s->dropped_seen = dropped;
    }
    const uint64_t head = (uint64_t)ctl[DXTREC_CTL_HEAD];
    if (head > s->tail && (uint64_t)ctl[DXTREC_CTL_DONE] == head) {
        e = drain_slots(rec, s, head, clock_hz);
        if (e != cudaSuccess) {
            cudaGetLastError();
            dxtrec_cuda_report(rec, "copying the step ring", e);
        }
    }
    const uint64_t launched = atomic_load_explicit(&s->launched, memory_order_relaxed);
    const uint64_t seen = (uint64_t)ctl[DXTREC_CTL_EAGER_SEEN];
    uint64_t pending = (head - s->tail) + (launched > seen ? launched - seen : 0);
    return pending > INT32_MAX ? INT32_MAX : (int)pending;
}

/* After the writer stopped: what never arrived is counted as dropped (and
 * said); the device memory is kept when a graph was captured (a replay after
 * close must not write into memory that was handed back). */
void dxtrec_steps_free(dxtrec_t *rec, dxtrec_steps *s)
{
    if (!s)
        return;
    const int64_t *ctl = s->h_ctl;
    const uint64_t launched = atomic_load(&s->launched);
    const uint64_t seen = (uint64_t)ctl[DXTREC_CTL_EAGER_SEEN];
    const uint64_t lost = ((uint64_t)ctl[DXTREC_CTL_HEAD] - s->tail) +
                          (launched > seen ? launched - seen : 0);
    if (lost) {
        const int64_t next = ctl[DXTREC_CTL_NEXT_STEP];
        drop_steps(rec, s, lost, s->last_step == INT64_MIN ? 0 : s->last_step + 1, next - 1);
        dxtrec_report(rec, DXTREC_ERR_DROPPED, DXTREC_TROUBLE_DEVICE,
                      "%s: %llu steps of the step ring not recorded by close (still queued "
                      "on the GPU?): dropped; synchronize before close to keep them",
                      rec->dir, (unsigned long long)lost);
    }
    steps_release(s);
}
