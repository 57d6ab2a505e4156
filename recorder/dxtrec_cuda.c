/* dxtrec_cuda.c - libdxtrec's CUDA path: dxtrec_record_device, the GPU's
 * identity and clock in the file, and the clock calibration. Plain C over the
 * CUDA runtime API; compiled only where nvcc is found (-DDXT_HAVE_CUDA).
 *
 * Owner: the GPU side of dxtrace. Uses only the "CUDA path hooks" of
 * internal.h (dxtrec_ring_push, dxtrec_count_drops, dxtrec_report, poll_device).
 *
 * record_device (any thread, never blocks, never allocates after its first call):
 *   claim a slot of a pool of pinned host slots (full: drop and count);
 *   cudaEventRecord(slot.ready, caller's stream);
 *   cudaStreamWaitEvent(own stream, slot.ready); cudaMemcpyAsync(slot <- d_wait,
 *   d_tokens, own stream) (one copy when tokens follow wait in memory).
 * Nothing is queued on the caller's stream but the event, and nothing waits
 * for it. The writer thread's poll (poll_device) records a marker event on
 * the copy stream behind the slots submitted since its last marker; when a
 * marker completes, the rows it covers are pushed into the ring (pool order),
 * with the latest measured clock rate. The caller thus pays four CUDA calls
 * (a capture check, two event calls, one copy) and nothing per completion.
 *
 * Set-up: dxtrec_device_init (at open) reads the current device's name, UUID
 * and peak SM clock without creating a context; the pool, the streams and the
 * calibration kernel are made at the first record_device, on the caller's
 * device (the writer thread binds to that device before its first CUDA call).
 *
 * Calibration: clock64() counts at the current SM clock, which drops when the
 * GPU throttles. Every DEV_CALIB_INTERVAL_S while record_device's pool is in
 * use (else every DEV_CALIB_STEPS_INTERVAL_S) the writer thread launches a
 * one-thread kernel (PTX, loaded with cudaLibraryLoadData) on a stream of its
 * own: it reads %clock64 at two edges of %globaltimer DEV_CALIB_SPAN_NS apart
 * on one SM and gives the effective rate; each row carries the latest rate in
 * the per-row clock_hz dataset (NAN before the first measurement).
 *
 * The capture-safe step path (dxtrec_attach_device, dxtrec_step_device) is
 * steps_cuda.c; it shares the device, the calibration and this file's poll
 * (cuda_internal.h). */
#include "cuda_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEV_MAX_SLOTS 1024
#define DEV_MIN_SLOTS 4
#define DEV_POOL_BYTES_MAX (64u << 20)
#define DEV_CALIB_INTERVAL_S 0.02       /* while record_device's pool is in use */
#define DEV_CALIB_STEPS_INTERVAL_S 1.0  /* the step path alone: its polls make no CUDA call */
#define DEV_CALIB_SPAN_NS 10000
#define DEV_MARKERS 64

enum { SLOT_FREE = 0, SLOT_CLAIMED, SLOT_SUBMITTED, SLOT_FAILED };
enum { DEV_NONE = 0, DEV_SETTING_UP, DEV_READY, DEV_BROKEN };

typedef struct dev_slot {
    _Atomic int state;
    int op;
    int has_tokens;
    int64_t step, time_ns;
    int64_t *host; /* pinned: wait[N], tokens[N] */
    cudaEvent_t ready;
} dev_slot;

typedef struct dev_state {
    int device; /* the device of the first record_device or attach call */
    _Atomic int setup;
    pthread_mutex_t start_lock; /* started, start_ok, device, the calibration's set-up */
    int started, start_ok;
    _Atomic(dxtrec_steps *) steps; /* the step ring (steps_cuda.c), NULL until attached */
    _Alignas(64) _Atomic uint64_t head; /* slots claimed */
    _Alignas(64) _Atomic uint64_t tail; /* slots handed back by the poll */
    _Alignas(64) dev_slot *slots;
    uint64_t nslots;
    int64_t *pinned;
    cudaStream_t copy_stream, calib_stream;
    int writer_bound; /* the writer thread did cudaSetDevice */
    /* completion markers (writer thread only): marker i covers slots < cover[i] */
    cudaEvent_t markers[DEV_MARKERS];
    uint64_t marker_cover[DEV_MARKERS];
    uint64_t mk_head, mk_tail, marked;
    /* calibration (writer thread only) */
    cudaLibrary_t calib_lib;
    cudaKernel_t calib_kernel;
    cudaEvent_t calib_done;
    int64_t *calib_out; /* pinned, mapped: g1, c1, g2, c2 */
    int calib_inflight;
    double calib_last_s;
    double clock_hz; /* latest measured rate, NAN before the first */
} dev_state;

/* One thread; %clock64 at two edges of %globaltimer at least span_ns apart. */
static const char calib_ptx[] =
    ".version 6.4\n"
    ".target sm_75\n"
    ".address_size 64\n"
    ".visible .entry dxtrec_calibrate(.param .u64 out, .param .u64 span_ns)\n"
    "{\n"
    "  .reg .pred %p;\n"
    "  .reg .b64 %rd<10>;\n"
    "  ld.param.u64 %rd1, [out];\n"
    "  ld.param.u64 %rd2, [span_ns];\n"
    "  mov.u64 %rd3, %globaltimer;\n"
    "EDGE1:\n"
    "  mov.u64 %rd4, %globaltimer;\n"
    "  setp.eq.u64 %p, %rd4, %rd3;\n"
    "  @%p bra EDGE1;\n"
    "  mov.u64 %rd5, %clock64;\n"
    "SPAN:\n"
    "  mov.u64 %rd6, %globaltimer;\n"
    "  sub.u64 %rd7, %rd6, %rd4;\n"
    "  setp.lt.u64 %p, %rd7, %rd2;\n"
    "  @%p bra SPAN;\n"
    "EDGE2:\n"
    "  mov.u64 %rd8, %globaltimer;\n"
    "  setp.eq.u64 %p, %rd8, %rd6;\n"
    "  @%p bra EDGE2;\n"
    "  mov.u64 %rd9, %clock64;\n"
    "  st.volatile.global.u64 [%rd1], %rd4;\n"
    "  st.volatile.global.u64 [%rd1+8], %rd5;\n"
    "  st.volatile.global.u64 [%rd1+16], %rd8;\n"
    "  st.volatile.global.u64 [%rd1+24], %rd9;\n"
    "  ret;\n"
    "}\n";

void dxtrec_cuda_report(dxtrec_t *rec, const char *what, cudaError_t e)
{
    dxtrec_report(rec, DXTREC_ERR_CUDA, DXTREC_TROUBLE_DEVICE, "%s: CUDA device path: %s: %s",
                  rec->dir, what, cudaGetErrorString(e));
}

static void uuid_string(const cudaUUID_t *u, char *out, size_t len)
{
    const unsigned char *b = (const unsigned char *)u->bytes;
    snprintf(out, len,
             "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static int dev_poll(dxtrec_t *rec);
static void dev_finish(dxtrec_t *rec);

/* At open: the current GPU's name, UUID and peak clock (device queries only:
 * no stream, no memory). A machine without a GPU is no error: the host path
 * works and record_device reports it. */
int dxtrec_device_init(dxtrec_t *rec)
{
    /* aligned: head and tail sit on cache lines of their own */
    const size_t size = (sizeof(dev_state) + 63) / 64 * 64;
    dev_state *d = aligned_alloc(64, size);
    struct cudaDeviceProp prop;
    int khz = 0;
    if (!d)
        return -1;
    memset(d, 0, size);
    pthread_mutex_init(&d->start_lock, NULL);
    d->clock_hz = NAN;
    rec->device = d;
    rec->poll_device = dev_poll;
    rec->finish_device = dev_finish;
    if (cudaGetDevice(&d->device) != cudaSuccess ||
        cudaGetDeviceProperties(&prop, d->device) != cudaSuccess) {
        cudaGetLastError(); /* no device here: host path only */
        return 0;
    }
    snprintf(rec->gpu_name, sizeof(rec->gpu_name), "%s", prop.name);
    uuid_string(&prop.uuid, rec->gpu_uuid, sizeof(rec->gpu_uuid));
    if (cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, d->device) == cudaSuccess &&
        khz > 0 && rec->cfg.clock_hz == 0 && rec->cfg.unit == DXTREC_UNIT_CYCLES)
        rec->cfg.clock_hz = (double)khz * 1e3;
    rec->has_clock_hz = 1;
    return 0;
}

static uint64_t pool_slots(const dxtrec_t *rec)
{
    uint64_t n = (uint64_t)rec->cfg.ring_capacity;
    uint64_t row_bytes = 2 * (uint64_t)rec->cfg.world_size * sizeof(int64_t);
    if (n > DEV_MAX_SLOTS)
        n = DEV_MAX_SLOTS;
    if (n * row_bytes > DEV_POOL_BYTES_MAX)
        n = DEV_POOL_BYTES_MAX / row_bytes;
    return n < DEV_MIN_SLOTS ? DEV_MIN_SLOTS : n;
}

/* The calibration kernel and its output; failure only turns calibration off. */
static void setup_calibration(dxtrec_t *rec, dev_state *d)
{
    cudaError_t e = cudaLibraryLoadData(&d->calib_lib, calib_ptx, NULL, NULL, 0, NULL, NULL, 0);
    if (e == cudaSuccess)
        e = cudaLibraryGetKernel(&d->calib_kernel, d->calib_lib, "dxtrec_calibrate");
    if (e == cudaSuccess)
        e = cudaHostAlloc((void **)&d->calib_out, 4 * sizeof(int64_t),
                          cudaHostAllocMapped | cudaHostAllocPortable);
    if (e == cudaSuccess)
        e = cudaEventCreateWithFlags(&d->calib_done, cudaEventDisableTiming);
    if (e == cudaSuccess)
        e = cudaStreamCreateWithFlags(&d->calib_stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        dxtrec_cuda_report(rec, "clock calibration off", e);
        d->calib_kernel = NULL;
    }
}

/* First record_device: the pool, the copy stream, the calibration, on the
 * caller's current device. Returns 0 or -1 (reported; fini frees the rest). */
static int dev_setup(dxtrec_t *rec, dev_state *d)
{
    const size_t row = 2 * (size_t)rec->cfg.world_size;
    cudaError_t e = cudaErrorNoDevice;
    if (dxtrec_cuda_start(rec) != 0)
        goto fail;
    e = cudaSuccess;
    d->nslots = pool_slots(rec);
    d->slots = calloc(d->nslots, sizeof(dev_slot));
    if (!d->slots) {
        e = cudaErrorMemoryAllocation;
        goto fail;
    }
    e = cudaHostAlloc((void **)&d->pinned, d->nslots * row * sizeof(int64_t),
                      cudaHostAllocPortable);
    for (uint64_t i = 0; e == cudaSuccess && i < d->nslots; i++) {
        d->slots[i].host = d->pinned + i * row;
        e = cudaEventCreateWithFlags(&d->slots[i].ready, cudaEventDisableTiming);
    }
    for (int i = 0; e == cudaSuccess && i < DEV_MARKERS; i++)
        e = cudaEventCreateWithFlags(&d->markers[i], cudaEventDisableTiming);
    if (e == cudaSuccess)
        e = cudaStreamCreateWithFlags(&d->copy_stream, cudaStreamNonBlocking);
    if (e != cudaSuccess)
        goto fail;
    return 0;
fail:
    dxtrec_cuda_report(rec, "setting up the copy pool", e);
    cudaGetLastError();
    return -1;
}

int dxtrec_cuda_start(dxtrec_t *rec)
{
    dev_state *d = rec->device;
    if (!d)
        return -1;
    pthread_mutex_lock(&d->start_lock);
    if (!d->started) {
        cudaError_t e = cudaGetDevice(&d->device);
        if (e == cudaSuccess)
            setup_calibration(rec, d);
        else
            cudaGetLastError();
        d->start_ok = e == cudaSuccess;
        d->started = 1;
    }
    const int ok = d->start_ok;
    pthread_mutex_unlock(&d->start_lock);
    return ok ? 0 : -1;
}

dxtrec_steps *dxtrec_cuda_steps(dxtrec_t *rec)
{
    dev_state *d = rec->device;
    return d ? atomic_load_explicit(&d->steps, memory_order_acquire) : NULL;
}

/* The writer's idle sleep ends; with shortest, it polls at its shortest sleep from
 * now on (record_device's small pinned pool). The step path's ring in mapped
 * host memory holds ring_capacity steps: the writer's adaptive sleep serves
 * it (its polls read host memory and make no CUDA call). */
static void wake_writer_polling(dxtrec_t *rec, int shortest)
{
    if (shortest)
        atomic_store_explicit(&rec->device_active, 1, memory_order_relaxed);
    pthread_mutex_lock(&rec->lock);
    pthread_cond_signal(&rec->wake_writer);
    pthread_mutex_unlock(&rec->lock);
}

int dxtrec_cuda_install_steps(dxtrec_t *rec, dxtrec_steps *steps)
{
    dev_state *d = rec->device;
    dxtrec_steps *none = NULL;
    if (!d || !atomic_compare_exchange_strong(&d->steps, &none, steps))
        return -1;
    wake_writer_polling(rec, 0);
    return 0;
}

/* The device state once set up; NULL (reported) when it cannot be. The first
 * caller sets it up; callers meeting a set-up in progress get NULL. */
static dev_state *dev_ready(dxtrec_t *rec)
{
    dev_state *d = rec->device;
    if (!d)
        return NULL;
    int st = atomic_load_explicit(&d->setup, memory_order_acquire);
    if (st == DEV_READY)
        return d;
    if (st != DEV_NONE ||
        !atomic_compare_exchange_strong(&d->setup, &st, DEV_SETTING_UP))
        return NULL;
    st = dev_setup(rec, d) == 0 ? DEV_READY : DEV_BROKEN;
    atomic_store_explicit(&d->setup, st, memory_order_release);
    if (st == DEV_READY)
        wake_writer_polling(rec, 1);
    return st == DEV_READY ? d : NULL;
}

static int dev_setting_up(dxtrec_t *rec)
{
    dev_state *d = rec->device;
    return d && atomic_load_explicit(&d->setup, memory_order_acquire) == DEV_SETTING_UP;
}

/* Claim the next pool slot; NULL when every slot is in flight. */
static dev_slot *dev_claim(dev_state *d)
{
    uint64_t cur = atomic_load_explicit(&d->head, memory_order_relaxed);
    do {
        if (cur - atomic_load_explicit(&d->tail, memory_order_acquire) >= d->nslots)
            return NULL;
    } while (!atomic_compare_exchange_weak_explicit(&d->head, &cur, cur + 1,
                                                    memory_order_acq_rel,
                                                    memory_order_relaxed));
    dev_slot *slot = &d->slots[cur % d->nslots];
    atomic_store_explicit(&slot->state, SLOT_CLAIMED, memory_order_relaxed);
    return slot;
}

/* Queue the snapshot: an event on the caller's stream, the rest on ours. */
static cudaError_t dev_enqueue(dev_state *d, dev_slot *slot, size_t n, const int64_t *d_wait,
                               const int64_t *d_tokens, cudaStream_t stream)
{
    const size_t bytes = n * sizeof(int64_t);
    enum cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    cudaError_t e = cudaStreamIsCapturing(stream, &capture);
    if (e == cudaSuccess && capture != cudaStreamCaptureStatusNone)
        return cudaErrorStreamCaptureUnsupported; /* a graph capture: never join it */
    if (e == cudaSuccess)
        e = cudaEventRecord(slot->ready, stream);
    if (e == cudaSuccess)
        e = cudaStreamWaitEvent(d->copy_stream, slot->ready, 0);
    if (e == cudaSuccess && d_tokens == d_wait + n) /* contiguous: one copy */
        e = cudaMemcpyAsync(slot->host, d_wait, 2 * bytes, cudaMemcpyDeviceToHost,
                            d->copy_stream);
    else if (e == cudaSuccess) {
        e = cudaMemcpyAsync(slot->host, d_wait, bytes, cudaMemcpyDeviceToHost, d->copy_stream);
        if (e == cudaSuccess && d_tokens)
            e = cudaMemcpyAsync(slot->host + n, d_tokens, bytes, cudaMemcpyDeviceToHost,
                                d->copy_stream);
    }
    return e;
}

dxtrecResult_t dxtrec_record_device(dxtrec_t *rec, int op, int64_t step, const int64_t *d_wait,
                                    const int64_t *d_tokens, void *stream)
{
    if (!rec || !d_wait)
        return DXTREC_ERR_INVALID_ARG;
    if (!atomic_load_explicit(&rec->accepting, memory_order_relaxed))
        return DXTREC_ERR_CLOSED;
    if (op < 0 || op >= rec->cfg.nops)
        return DXTREC_ERR_INVALID_ARG;
    const int with_tokens = rec->cfg.record_tokens && d_tokens;
    dev_state *d = dev_ready(rec);
    dev_slot *slot = d ? dev_claim(d) : NULL;
    if (!slot) { /* pool full or set-up in progress in another thread: dropped */
        dxtrec_count_drops(rec, op, 1, step, step);
        return d || dev_setting_up(rec) ? DXTREC_ERR_DROPPED : DXTREC_ERR_CUDA;
    }
    slot->op = op;
    slot->step = step;
    slot->time_ns = dxtrec_now_realtime_ns();
    slot->has_tokens = with_tokens;
    cudaError_t e = dev_enqueue(d, slot, (size_t)rec->cfg.world_size, d_wait,
                                with_tokens ? d_tokens : NULL, (cudaStream_t)stream);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* clear a non-sticky error */
        dxtrec_count_drops(rec, op, 1, step, step);
        atomic_store_explicit(&slot->state, SLOT_FAILED, memory_order_release);
        dxtrec_cuda_report(rec, "record_device", e);
        return DXTREC_ERR_CUDA;
    }
    atomic_store_explicit(&slot->state, SLOT_SUBMITTED, memory_order_release);
    return DXTREC_SUCCESS;
}

/* Writer thread: collect the last calibration, start the next one when due
 * (every DEV_CALIB_INTERVAL_S while the pool is in use, else every
 * DEV_CALIB_STEPS_INTERVAL_S: each is a launch and a few queries). */
static void dev_calibrate(dxtrec_t *rec, dev_state *d, int pool)
{
    if (!d->calib_kernel)
        return;
    if (d->calib_inflight) {
        cudaError_t e = cudaEventQuery(d->calib_done);
        if (e == cudaErrorNotReady)
            return;
        d->calib_inflight = 0;
        if (e != cudaSuccess) {
            dxtrec_cuda_report(rec, "clock calibration", e);
            return;
        }
        volatile int64_t *out = d->calib_out;
        int64_t dg = out[2] - out[0], dc = out[3] - out[1];
        if (dg > 0 && dc > 0)
            d->clock_hz = (double)dc * 1e9 / (double)dg;
    }
    double now = dxtrec_now_mono_s();
    if (now - d->calib_last_s < (pool ? DEV_CALIB_INTERVAL_S : DEV_CALIB_STEPS_INTERVAL_S))
        return;
    d->calib_last_s = now;
    void *dptr = NULL;
    uint64_t span = DEV_CALIB_SPAN_NS;
    void *args[] = {&dptr, &span};
    dim3 one = {1, 1, 1};
    cudaError_t e = cudaHostGetDevicePointer(&dptr, d->calib_out, 0);
    if (e == cudaSuccess)
        e = cudaLaunchKernel((const void *)d->calib_kernel, one, one, args, 0, d->calib_stream);
    if (e == cudaSuccess)
        e = cudaEventRecord(d->calib_done, d->calib_stream);
    if (e != cudaSuccess) {
        cudaGetLastError();
        dxtrec_cuda_report(rec, "clock calibration off", e);
        d->calib_kernel = NULL;
        return;
    }
    d->calib_inflight = 1;
}

/* Writer thread: hand back the slots below upto (pool order), pushing the
 * rows of those whose copy completed (ok) or counting them as dropped. */
static void dev_release_slots(dxtrec_t *rec, dev_state *d, uint64_t upto, int ok)
{
    const int n = rec->cfg.world_size;
    for (uint64_t tail = atomic_load_explicit(&d->tail, memory_order_relaxed); tail < upto;
         tail++) {
        dev_slot *slot = &d->slots[tail % d->nslots];
        if (atomic_load_explicit(&slot->state, memory_order_acquire) == SLOT_SUBMITTED) {
            if (ok)
                dxtrec_ring_push(rec, slot->op, slot->step, slot->time_ns, slot->host,
                                 slot->has_tokens ? slot->host + n : NULL, d->clock_hz);
            else
                dxtrec_count_drops(rec, slot->op, 1, slot->step, slot->step);
        }
        atomic_store_explicit(&slot->state, SLOT_FREE, memory_order_relaxed);
        atomic_store_explicit(&d->tail, tail + 1, memory_order_release);
    }
}

/* Writer thread: the markers that completed release their slots, in order. */
static void dev_collect(dxtrec_t *rec, dev_state *d)
{
    while (d->mk_tail < d->mk_head) {
        const int i = (int)(d->mk_tail % DEV_MARKERS);
        cudaError_t e = cudaEventQuery(d->markers[i]);
        if (e == cudaErrorNotReady)
            return;
        if (e != cudaSuccess) {
            cudaGetLastError();
            dxtrec_cuda_report(rec, "copying the counters", e);
        }
        dev_release_slots(rec, d, d->marker_cover[i], e == cudaSuccess);
        d->mk_tail++;
    }
}

/* Writer thread: a marker behind every slot submitted since the last one (a
 * slot seen SUBMITTED has its copy queued before this event). */
static void dev_mark(dxtrec_t *rec, dev_state *d)
{
    const uint64_t head = atomic_load_explicit(&d->head, memory_order_acquire);
    uint64_t s = d->marked;
    while (s < head) {
        int st = atomic_load_explicit(&d->slots[s % d->nslots].state, memory_order_acquire);
        if (st != SLOT_SUBMITTED && st != SLOT_FAILED)
            break; /* claimed, copy not yet queued */
        s++;
    }
    if (s == d->marked || d->mk_head - d->mk_tail >= DEV_MARKERS)
        return;
    const int i = (int)(d->mk_head % DEV_MARKERS);
    cudaError_t e = cudaEventRecord(d->markers[i], d->copy_stream);
    if (e != cudaSuccess) { /* tried again at the next poll; the pool fills meanwhile */
        cudaGetLastError();
        dxtrec_cuda_report(rec, "marking copies", e);
        return;
    }
    d->marker_cover[i] = s;
    d->mk_head++;
    d->marked = s;
}

/* Writer thread, every loop: push the rows whose copies completed. Returns
 * the rows still in flight. */
static int dev_poll(dxtrec_t *rec)
{
    dev_state *d = rec->device;
    const int pool = atomic_load_explicit(&d->setup, memory_order_acquire) == DEV_READY;
    dxtrec_steps *steps = atomic_load_explicit(&d->steps, memory_order_acquire);
    if (!pool && !steps)
        return 0;
    if (!d->writer_bound) {
        /* relaxed: the polls must neither fail nor break a graph capture
         * that another thread of the job runs in global mode */
        enum cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
        cudaError_t e = cudaSetDevice(d->device);
        if (e == cudaSuccess)
            e = cudaThreadExchangeStreamCaptureMode(&mode);
        if (e != cudaSuccess)
            dxtrec_cuda_report(rec, "binding the writer thread to the device", e);
        d->writer_bound = 1;
    }
    dev_calibrate(rec, d, pool);
    int pending = steps ? dxtrec_steps_poll(rec, steps, d->clock_hz) : 0;
    if (pool) {
        dev_mark(rec, d);
        dev_collect(rec, d);
        pending += (int)(atomic_load_explicit(&d->head, memory_order_acquire) -
                         atomic_load_explicit(&d->tail, memory_order_relaxed));
    }
    return pending;
}

/* Writer thread, after its last poll: the step path's last word (its lost
 * steps counted before the file's last flush). */
static void dev_finish(dxtrec_t *rec)
{
    dev_state *d = rec->device;
    dxtrec_steps *steps = d ? atomic_load_explicit(&d->steps, memory_order_acquire) : NULL;
    if (steps)
        dxtrec_steps_finish(rec, steps);
}

/* Rows still in flight at close are counted as dropped (and said); their
 * pinned memory is kept, since the copies may still land in it. */
void dxtrec_device_fini(dxtrec_t *rec)
{
    dev_state *d = rec->device;
    uint64_t in_flight = 0;
    if (!d)
        return;
    dxtrec_steps_free(rec, atomic_load(&d->steps));
    rec->device = NULL;
    for (uint64_t t = atomic_load(&d->tail); d->slots && t < atomic_load(&d->head); t++) {
        dev_slot *slot = &d->slots[t % d->nslots];
        if (atomic_load(&slot->state) == SLOT_SUBMITTED) {
            in_flight++;
            dxtrec_count_drops(rec, slot->op, 1, slot->step, slot->step);
        }
    }
    if (in_flight)
        dxtrec_report(rec, DXTREC_ERR_DROPPED, DXTREC_TROUBLE_DEVICE,
                      "%s: %llu device rows still in flight at close: dropped", rec->dir,
                      (unsigned long long)in_flight);
    for (uint64_t i = 0; d->slots && i < d->nslots; i++)
        if (d->slots[i].ready)
            cudaEventDestroy(d->slots[i].ready);
    for (int i = 0; i < DEV_MARKERS; i++)
        if (d->markers[i])
            cudaEventDestroy(d->markers[i]);
    if (d->pinned && !in_flight)
        cudaFreeHost(d->pinned);
    if (d->calib_out && !d->calib_inflight)
        cudaFreeHost(d->calib_out);
    if (d->calib_done)
        cudaEventDestroy(d->calib_done);
    if (d->calib_lib)
        cudaLibraryUnload(d->calib_lib);
    if (d->copy_stream)
        cudaStreamDestroy(d->copy_stream);
    if (d->calib_stream)
        cudaStreamDestroy(d->calib_stream);
    cudaGetLastError();
    pthread_mutex_destroy(&d->start_lock);
    free(d->slots);
    free(d);
}
