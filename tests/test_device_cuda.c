/* test_device_cuda.c - cmocka tests of libdxtrec's CUDA path (recorder/dxtrec_cuda.c)
 * on any machine, GPU or not: this file defines the CUDA runtime functions the
 * recorder calls (a fake GPU, run by a thread of its own, with streams, events,
 * copies and the calibration kernel), which take precedence over libcudart's.
 * Checks: rows equal the counters after the work queued before each record;
 * GPU name/UUID and the per-row measured clock in the file; a full pool drops
 * and counts; a graph capture is refused without touching the stream; a copy
 * error is counted; close waits for copies still in flight (and gives up
 * after DXTREC_DEVICE_DRAIN_S); nothing but one event goes on the caller's
 * stream; several threads at once; no device at all. The real GPU runs are
 * tests/gpu/run.sh.
 *
 * Owner: the GPU side of dxtrace. Built where nvcc is found (DXT_HAVE_CUDA). */
#ifndef DXT_HAVE_CUDA
#include <stdio.h>
int main(void)
{
    printf("SKIP test_device_cuda: libdxtrec built without CUDA\n");
    return 0;
}
#else
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <cuda_runtime_api.h>

#include "dxt_format.h"
#include "dxtrec.h"
#include "internal.h"

/* ---- the fake GPU ------------------------------------------------------------ */

#define FAKE_QUEUE 8192
#define FAKE_STREAMS 16
#define FAKE_RATE_HZ 1.5e9

enum fake_op_kind { OP_RECORD, OP_WAIT, OP_COPY, OP_WRITE, OP_CALIB };

typedef struct fake_op {
    enum fake_op_kind kind;
    struct CUevent_st *event;
    void *dst;
    const void *src;
    size_t bytes;
    int64_t values[8]; /* OP_WRITE: what the "kernel" stores at dst */
} fake_op;

struct CUevent_st {
    int complete;
};

struct CUstream_st {
    fake_op ops[FAKE_QUEUE];
    size_t head, tail;
    int capturing;
    long ops_queued;
};

static struct {
    pthread_mutex_t lock;
    pthread_t thread;
    int running, paused, present, fail_copies;
    struct CUstream_st *streams[FAKE_STREAMS];
} gpu = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int fake_kernel_handle;

/* Every allocation of the fake, freed at the end of each test (the recorder
 * keeps pinned memory and events whose copies may still be in flight). */
#define FAKE_ALLOCS 16384
static void *fake_allocs[FAKE_ALLOCS];

static void *fake_alloc(size_t size)
{
    void *p = calloc(1, size);
    pthread_mutex_lock(&gpu.lock);
    for (int i = 0; p && i < FAKE_ALLOCS; i++)
        if (!fake_allocs[i]) {
            fake_allocs[i] = p;
            pthread_mutex_unlock(&gpu.lock);
            return p;
        }
    pthread_mutex_unlock(&gpu.lock);
    free(p);
    return NULL;
}

/* Events and pinned memory are released at the end of the test only. */
static void fake_free_all(void)
{
    for (int i = 0; i < FAKE_ALLOCS; i++) {
        free(fake_allocs[i]);
        fake_allocs[i] = NULL;
    }
}

static void enqueue(struct CUstream_st *s, fake_op op)
{
    s->ops[s->tail++ % FAKE_QUEUE] = op;
    s->ops_queued++;
}

/* Execute the front op of a stream if it can run; 1 if it did. */
static int run_front(struct CUstream_st *s)
{
    if (s->head == s->tail)
        return 0;
    fake_op *op = &s->ops[s->head % FAKE_QUEUE];
    int64_t *out = op->dst;
    switch (op->kind) {
    case OP_WAIT:
        if (!op->event->complete)
            return 0;
        break;
    case OP_RECORD: op->event->complete = 1; break;
    case OP_COPY: memcpy(op->dst, op->src, op->bytes); break;
    case OP_WRITE: memcpy(op->dst, op->values, op->bytes); break;
    case OP_CALIB: /* g1, c1, g2, c2: FAKE_RATE_HZ over 10 us */
        out[0] = 1000, out[1] = 5000, out[2] = 11000;
        out[3] = 5000 + (int64_t)(FAKE_RATE_HZ * 1e-5);
        break;
    }
    s->head++;
    return 1;
}

static void *gpu_main(void *arg)
{
    (void)arg;
    for (;;) {
        int progress = 0;
        pthread_mutex_lock(&gpu.lock);
        if (!gpu.running) {
            pthread_mutex_unlock(&gpu.lock);
            return NULL;
        }
        for (int i = 0; !gpu.paused && i < FAKE_STREAMS; i++)
            for (int k = 0; gpu.streams[i] && k < 64 && run_front(gpu.streams[i]); k++)
                progress = 1;
        pthread_mutex_unlock(&gpu.lock);
        if (!progress)
            usleep(50);
    }
}

static void gpu_pause(int paused)
{
    pthread_mutex_lock(&gpu.lock);
    gpu.paused = paused;
    pthread_mutex_unlock(&gpu.lock);
}

/* The runtime functions libdxtrec calls. */
cudaError_t cudaGetDevice(int *device)
{
    *device = 0;
    return gpu.present ? cudaSuccess : cudaErrorNoDevice;
}

cudaError_t cudaSetDevice(int device)
{
    return device == 0 && gpu.present ? cudaSuccess : cudaErrorInvalidDevice;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device)
{
    if (!gpu.present || device != 0)
        return cudaErrorNoDevice;
    memset(prop, 0, sizeof(*prop));
    snprintf(prop->name, sizeof(prop->name), "Fake GPU");
    for (int i = 0; i < 16; i++)
        prop->uuid.bytes[i] = (char)(0xa0 + i);
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device)
{
    (void)device;
    *value = attr == cudaDevAttrClockRate ? 1980000 : 0;
    return gpu.present ? cudaSuccess : cudaErrorNoDevice;
}

const char *cudaGetErrorString(cudaError_t error)
{
    return error == cudaSuccess ? "no error" : "fake CUDA error";
}

cudaError_t cudaGetLastError(void)
{
    return cudaSuccess;
}

cudaError_t cudaHostAlloc(void **p, size_t size, unsigned int flags)
{
    (void)flags;
    *p = fake_alloc(size);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t cudaFreeHost(void *p)
{
    (void)p;
    return cudaSuccess;
}

cudaError_t cudaHostGetDevicePointer(void **dev, void *host, unsigned int flags)
{
    (void)flags;
    *dev = host;
    return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags)
{
    (void)flags;
    *event = fake_alloc(sizeof(struct CUevent_st));
    if (!*event)
        return cudaErrorMemoryAllocation;
    (*event)->complete = 1;
    return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event)
{
    (void)event;
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags)
{
    (void)flags;
    struct CUstream_st *s = fake_alloc(sizeof(*s));
    if (!s)
        return cudaErrorMemoryAllocation;
    pthread_mutex_lock(&gpu.lock);
    for (int i = 0; i < FAKE_STREAMS; i++)
        if (!gpu.streams[i]) {
            gpu.streams[i] = s;
            break;
        }
    pthread_mutex_unlock(&gpu.lock);
    *stream = s;
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
    pthread_mutex_lock(&gpu.lock);
    for (int i = 0; i < FAKE_STREAMS; i++)
        if (gpu.streams[i] == stream)
            gpu.streams[i] = NULL;
    pthread_mutex_unlock(&gpu.lock);
    return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, enum cudaStreamCaptureStatus *status)
{
    pthread_mutex_lock(&gpu.lock);
    *status = stream->capturing ? cudaStreamCaptureStatusActive : cudaStreamCaptureStatusNone;
    pthread_mutex_unlock(&gpu.lock);
    return cudaSuccess;
}

cudaError_t cudaThreadExchangeStreamCaptureMode(enum cudaStreamCaptureMode *mode)
{
    *mode = cudaStreamCaptureModeGlobal;
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
{
    pthread_mutex_lock(&gpu.lock);
    event->complete = 0;
    enqueue(stream, (fake_op){.kind = OP_RECORD, .event = event});
    pthread_mutex_unlock(&gpu.lock);
    return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t event)
{
    pthread_mutex_lock(&gpu.lock);
    int done = event->complete;
    pthread_mutex_unlock(&gpu.lock);
    return done ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags)
{
    (void)flags;
    pthread_mutex_lock(&gpu.lock);
    enqueue(stream, (fake_op){.kind = OP_WAIT, .event = event});
    pthread_mutex_unlock(&gpu.lock);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t stream)
{
    (void)kind;
    pthread_mutex_lock(&gpu.lock);
    cudaError_t e = gpu.fail_copies ? cudaErrorInvalidValue : cudaSuccess;
    if (e == cudaSuccess)
        enqueue(stream, (fake_op){.kind = OP_COPY, .dst = dst, .src = src, .bytes = count});
    pthread_mutex_unlock(&gpu.lock);
    return e;
}

cudaError_t cudaLibraryLoadData(cudaLibrary_t *library, const void *code,
                                enum cudaJitOption *jo, void **jv, unsigned int nj,
                                enum cudaLibraryOption *lo, void **lv, unsigned int nl)
{
    (void)jo, (void)jv, (void)nj, (void)lo, (void)lv, (void)nl;
    assert_non_null(strstr(code, ".entry dxtrec_calibrate"));
    *library = (cudaLibrary_t)&fake_kernel_handle;
    return cudaSuccess;
}

cudaError_t cudaLibraryGetKernel(cudaKernel_t *kernel, cudaLibrary_t library, const char *name)
{
    (void)library;
    *kernel = (cudaKernel_t)&fake_kernel_handle;
    return strcmp(name, "dxtrec_calibrate") ? cudaErrorSymbolNotFound : cudaSuccess;
}

cudaError_t cudaLibraryUnload(cudaLibrary_t library)
{
    (void)library;
    return cudaSuccess;
}

cudaError_t cudaLaunchKernel(const void *func, dim3 grid, dim3 block, void **args,
                             size_t shared, cudaStream_t stream)
{
    (void)grid, (void)block, (void)shared;
    if (func != (const void *)&fake_kernel_handle)
        return cudaErrorInvalidDeviceFunction;
    pthread_mutex_lock(&gpu.lock);
    enqueue(stream, (fake_op){.kind = OP_CALIB, .dst = *(void **)args[0]});
    pthread_mutex_unlock(&gpu.lock);
    return cudaSuccess;
}

/* ---- helpers ------------------------------------------------------------------ */

enum { N = 4 };
static const char *const ops4[] = {"dispatch", "combine", "a", "b"};
static char tmpdir[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/dxtrec-cuda-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    gpu.present = 1, gpu.paused = 0, gpu.fail_copies = 0, gpu.running = 1;
    memset(gpu.streams, 0, sizeof(gpu.streams));
    return pthread_create(&gpu.thread, NULL, gpu_main, NULL);
}

static int teardown(void **state)
{
    (void)state;
    pthread_mutex_lock(&gpu.lock);
    gpu.running = 0;
    pthread_mutex_unlock(&gpu.lock);
    pthread_join(gpu.thread, NULL);
    fake_free_all();
    nftw(tmpdir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static dxtrec_t *open_rec(int ring_capacity, int nops)
{
    dxtrec_config cfg;
    dxtrec_t *rec = NULL;
    dxtrec_config_init(&cfg);
    cfg.dir = tmpdir;
    cfg.world_size = N;
    cfg.run_id = "cuda-test";
    cfg.ops = ops4;
    cfg.nops = nops;
    cfg.record_tokens = 1;
    cfg.ring_capacity = ring_capacity;
    cfg.quiet = 1;
    assert_int_equal(dxtrec_open(&cfg, &rec), DXTREC_SUCCESS);
    return rec;
}

static cudaStream_t user_stream(void)
{
    cudaStream_t s = NULL;
    assert_int_equal(cudaStreamCreateWithFlags(&s, 0), cudaSuccess);
    return s;
}

/* A "kernel" on stream s that stores n values at dst. */
static void user_write(cudaStream_t s, int64_t *dst, const int64_t *values, int n)
{
    fake_op op = {.kind = OP_WRITE, .dst = dst, .bytes = (size_t)n * sizeof(int64_t)};
    memcpy(op.values, values, op.bytes);
    pthread_mutex_lock(&gpu.lock);
    enqueue(s, op);
    pthread_mutex_unlock(&gpu.lock);
}

static void wait_gpu_idle(void)
{
    for (double until = now_s() + 5; now_s() < until; sleep_ms(1)) {
        int busy = 0;
        pthread_mutex_lock(&gpu.lock);
        for (int i = 0; i < FAKE_STREAMS; i++)
            busy |= gpu.streams[i] && gpu.streams[i]->head != gpu.streams[i]->tail;
        pthread_mutex_unlock(&gpu.lock);
        if (!busy)
            return;
    }
    fail_msg("the fake GPU did not go idle");
}

static dxt_reader *open_file(void)
{
    char path[128];
    dxt_reader *r = NULL;
    dxt_error err;
    snprintf(path, sizeof(path), "%s/rank-00000.h5", tmpdir);
    if (dxt_reader_open(path, &r, &err) != 0)
        fail_msg("%s", err.msg);
    return r;
}

/* The reader's index of the recorder's op (the file lists ops by name). */
static int file_op(dxt_reader *r, int op)
{
    int i = dxt_reader_find_op(r, ops4[op]);
    assert_true(i >= 0);
    return i;
}

static int64_t file_rows(int op)
{
    dxt_reader *r = open_file();
    int64_t rows = dxt_reader_op(r, file_op(r, op))->rows;
    dxt_reader_close(r);
    return rows;
}

/* ---- tests -------------------------------------------------------------------- */

static void test_rows_meta_and_clock(void **state)
{
    (void)state;
    enum { STEPS = 10 };
    int64_t dev[2 * N], vals[2 * N];
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(64, 2);
    for (int step = 0; step < STEPS; step++) {
        for (int j = 0; j < 2 * N; j++)
            vals[j] = j < N ? (int64_t)(step + 1) * (j + 1) : step + j;
        user_write(s, dev, vals, 2 * N);
        assert_int_equal(dxtrec_record_device(rec, 1, step, dev, dev + N, s), DXTREC_SUCCESS);
        wait_gpu_idle(); /* the next write must not overtake this copy (a real race too) */
        if (step == 0)
            sleep_ms(60); /* a calibration or two */
    }
    assert_int_equal(s->ops_queued, 2 * STEPS); /* per record, one event on the caller's stream */
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);

    dxt_reader *r = open_file();
    const dxt_meta *m = dxt_reader_meta(r);
    assert_string_equal(m->gpu_name, "Fake GPU");
    assert_string_equal(m->gpu_uuid, "GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf");
    assert_true(m->clock_hz == 1.98e9);
    const int op = file_op(r, 1);
    const dxt_op_info *info = dxt_reader_op(r, op);
    assert_int_equal(info->rows, STEPS);
    assert_true(info->has_clock_hz && info->has_tokens);
    int64_t step[STEPS], wait[STEPS * N], tokens[STEPS * N];
    double hz[STEPS];
    dxt_error err;
    assert_int_equal(dxt_reader_read(r, op, 0, STEPS, step, NULL, wait, tokens, hz, &err), STEPS);
    for (int t = 0; t < STEPS; t++) {
        assert_int_equal(step[t], t);
        for (int j = 0; j < N; j++) {
            assert_int_equal(wait[t * N + j], (int64_t)(t + 1) * (j + 1));
            assert_int_equal(tokens[t * N + j], t + N + j);
        }
    }
    assert_true(fabs(hz[STEPS - 1] - FAKE_RATE_HZ) < 1.0);
    dxt_reader_close(r);
}

static void test_waits_for_queued_work(void **state)
{
    (void)state;
    int64_t dev[2 * N] = {0}, vals[2 * N] = {7, 7, 7, 7, 1, 1, 1, 1};
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(64, 2);
    gpu_pause(1);
    user_write(s, dev, vals, 2 * N);
    assert_int_equal(dxtrec_record_device(rec, 0, 0, dev, dev + N, s), DXTREC_SUCCESS);
    sleep_ms(20);
    dxtrec_counters c;
    dxtrec_get_counters(rec, &c);
    assert_int_equal(c.rows_recorded, 0); /* the stream has not reached the record yet */
    gpu_pause(0);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    dxt_reader *r = open_file();
    int64_t wait[N];
    dxt_error err;
    assert_int_equal(dxt_reader_read(r, file_op(r, 0), 0, 1, NULL, NULL, wait, NULL, NULL, &err),
                     1);
    assert_int_equal(wait[0], 7);
    dxt_reader_close(r);
}

static void test_pool_full_drops(void **state)
{
    (void)state;
    int64_t dev[2 * N] = {0};
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(16, 2); /* a pool of 16 slots */
    gpu_pause(1);
    for (int step = 0; step < 20; step++)
        assert_int_equal(dxtrec_record_device(rec, 0, step, dev, NULL, s),
                         step < 16 ? DXTREC_SUCCESS : DXTREC_ERR_DROPPED);
    gpu_pause(0);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    dxt_reader *r = open_file();
    assert_int_equal(dxt_reader_op(r, file_op(r, 0))->rows, 16);
    assert_int_equal(dxt_reader_op(r, file_op(r, 0))->rows_dropped, 4);
    dxt_reader_close(r);
}

static void test_capture_and_copy_errors(void **state)
{
    (void)state;
    int64_t dev[2 * N] = {0};
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(64, 2);
    s->capturing = 1;
    assert_int_equal(dxtrec_record_device(rec, 0, 0, dev, NULL, s), DXTREC_ERR_CUDA);
    assert_int_equal(s->ops_queued, 0); /* the capture was not touched */
    s->capturing = 0;
    gpu.fail_copies = 1;
    assert_int_equal(dxtrec_record_device(rec, 0, 1, dev, NULL, s), DXTREC_ERR_CUDA);
    gpu.fail_copies = 0;
    assert_int_equal(dxtrec_record_device(rec, 0, 2, dev, NULL, s), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_record_device(NULL, 0, 3, dev, NULL, s), DXTREC_ERR_INVALID_ARG);
    assert_int_equal(dxtrec_record_device(rec, 2, 3, dev, NULL, s), DXTREC_ERR_INVALID_ARG);
    assert_int_equal(dxtrec_record_device(rec, 0, 3, NULL, NULL, s), DXTREC_ERR_INVALID_ARG);
    dxtrec_counters c;
    dxtrec_get_counters(rec, &c);
    assert_int_equal(c.rows_dropped, 2);
    assert_int_equal(c.last_error, DXTREC_ERR_CUDA);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    assert_int_equal(file_rows(0), 1);
}

static void *unpause_later(void *arg)
{
    (void)arg;
    sleep_ms(100);
    gpu_pause(0);
    return NULL;
}

static void test_close_waits_for_copies(void **state)
{
    (void)state;
    int64_t dev[2 * N] = {0};
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(64, 2);
    pthread_t t;
    gpu_pause(1);
    for (int step = 0; step < 5; step++)
        assert_int_equal(dxtrec_record_device(rec, 0, step, dev, NULL, s), DXTREC_SUCCESS);
    assert_int_equal(pthread_create(&t, NULL, unpause_later, NULL), 0);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    pthread_join(t, NULL);
    assert_int_equal(file_rows(0), 5);
}

/* Rows arriving faster than the pool drains at the idle writer's longest sleep. */
static void test_burst_after_idle(void **state)
{
    (void)state;
    int64_t dev[2 * N] = {0};
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(256, 2); /* a pool of 256 slots */
    sleep_ms(300);                    /* the idle writer sleeps its longest (50 ms) by now */
    assert_false(atomic_load(&rec->device_active));
    for (int step = 0; step < 600; step++) { /* 600 rows in ~60 ms: 256 in 25 ms */
        assert_int_equal(dxtrec_record_device(rec, 0, step, dev, NULL, s), DXTREC_SUCCESS);
        assert_true(atomic_load(&rec->device_active)); /* the writer polls at 1 ms from now */
        for (double until = now_s() + 100e-6; now_s() < until;) {
        }
    }
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    assert_int_equal(file_rows(0), 600);
}

static void test_close_gives_up_on_a_stuck_stream(void **state)
{
    (void)state;
    int64_t dev[2 * N] = {0};
    cudaStream_t s = user_stream();
    dxtrec_t *rec = open_rec(64, 2);
    gpu_pause(1); /* the caller's stream never gets there */
    assert_int_equal(dxtrec_record_device(rec, 0, 0, dev, NULL, s), DXTREC_SUCCESS);
    double t0 = now_s();
    dxtrec_close(rec);
    double took = now_s() - t0;
    assert_true(took < 2.0 + 1.5); /* DXTREC_DEVICE_DRAIN_S, then it closes */
    gpu_pause(0);
    assert_int_equal(file_rows(0), 0);
}

static void test_no_device(void **state)
{
    (void)state;
    int64_t dev[2 * N] = {0};
    gpu.present = 0;
    dxtrec_t *rec = open_rec(64, 2);
    assert_int_equal(dxtrec_record_device(rec, 0, 0, dev, NULL, NULL), DXTREC_ERR_CUDA);
    assert_int_equal(dxtrec_record(rec, 0, 1, dev, NULL), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    dxt_reader *r = open_file();
    assert_string_equal(dxt_reader_meta(r)->gpu_name, "");
    assert_int_equal(dxt_reader_op(r, file_op(r, 0))->rows, 1);
    assert_false(dxt_reader_op(r, file_op(r, 0))->has_clock_hz);
    dxt_reader_close(r);
}

enum { THREADS = 4, THREAD_ROWS = 200 }; /* 800 rows: fewer than the pool's 1024 slots */
typedef struct {
    dxtrec_t *rec;
    int op;
    cudaStream_t s;
    int64_t dev[2 * N];
    int failures, last_failure;
} rec_job;

static void *record_many(void *arg)
{
    rec_job *job = arg;
    for (int step = 0; step < THREAD_ROWS; step++) {
        dxtrecResult_t res =
            dxtrec_record_device(job->rec, job->op, step, job->dev, job->dev + N, job->s);
        if (res != DXTREC_SUCCESS) {
            job->failures++;
            job->last_failure = res;
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    dxtrec_t *rec = open_rec(4096, THREADS);
    rec_job jobs[THREADS];
    pthread_t t[THREADS];
    int64_t dev[2 * N] = {0};
    /* the first record sets the pool up; records meeting a set-up in progress are dropped */
    assert_int_equal(dxtrec_record_device(rec, 0, -1, dev, NULL, user_stream()), DXTREC_SUCCESS);
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (rec_job){.rec = rec, .op = i, .s = user_stream()};
        assert_int_equal(pthread_create(&t[i], NULL, record_many, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        if (jobs[i].failures)
            fail_msg("thread %d: %d records failed, the last with %s", i, jobs[i].failures,
                     dxtrec_result_string(jobs[i].last_failure));
    }
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(file_rows(i), THREAD_ROWS + (i == 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rows_meta_and_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waits_for_queued_work, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_full_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capture_and_copy_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_waits_for_copies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_burst_after_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_gives_up_on_a_stuck_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
