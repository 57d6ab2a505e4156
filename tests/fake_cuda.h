/* fake_cuda.h - a fake GPU for the CUDA path's CPU tests (tests/test_device_*.c):
 * definitions of the CUDA runtime functions libdxtrec calls, which take
 * precedence over libcudart's in the test binary, run by a thread of its own
 * with streams, events, copies, device memory, the calibration kernel, the
 * %globaltimer kernel and a model of the step kernel (recorder/step_kernel.cu:
 * the same modes, claim, drop and write steps in C, one launch at a time under
 * the fake's lock), and stream capture (launches and writes into a capturing
 * stream are kept in a graph that fake_replay queues again, after the graph's
 * root kernel node when one was added). Plus the tests'
 * common helpers. Included by one test file per binary.
 *
 * Owner: the GPU side of dxtrace. */
#ifndef DXT_FAKE_CUDA_H
#define DXT_FAKE_CUDA_H

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
#include "step_kernel.h"

/* ---- the fake GPU ------------------------------------------------------------ */

#define FAKE_QUEUE 8192
#define FAKE_STREAMS 16
#define FAKE_RATE_HZ 1.5e9
#define FAKE_DEV_ALLOCS 64
#define FAKE_GRAPH_OPS 256

enum fake_op_kind { OP_RECORD, OP_WAIT, OP_COPY, OP_WRITE, OP_CALIB, OP_ZERO, OP_TIMER, OP_STEP };

typedef struct fake_op {
    enum fake_op_kind kind;
    struct CUevent_st *event;
    void *dst;
    const void *src;
    size_t bytes;
    int64_t values[8]; /* OP_WRITE: what the "kernel" stores at dst */
    dxtrec_step_args step; /* OP_STEP: the launch's arguments */
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
    int hold_copies; /* 1: copies wait (a copy engine that is stuck) */
    struct CUstream_st *streams[FAKE_STREAMS];
    /* device memory (cudaMalloc): what cudaPointerGetAttributes calls device */
    void *dev_ptr[FAKE_DEV_ALLOCS];
    size_t dev_bytes[FAKE_DEV_ALLOCS];
    /* the graph: ops queued into a capturing stream, queued again by fake_replay */
    fake_op graph[FAKE_GRAPH_OPS];
    int graph_ops;
    fake_op graph_root; /* the root kernel node (cudaGraphAddKernelNode), queued first */
    int has_root;
    unsigned long long capture_id; /* of the latest capture */
    /* calls that copy or wait (copies, memsets, synchronizes) made by a thread
     * other than the test's own: the recorder's writer */
    pthread_t test_thread;
    _Atomic long writer_copy_calls;
} gpu = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void count_writer_call(void)
{
    if (!pthread_equal(pthread_self(), gpu.test_thread))
        atomic_fetch_add(&gpu.writer_copy_calls, 1);
}

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

/* Queue op on s (under gpu.lock); into the graph while s is capturing. */
static void enqueue(struct CUstream_st *s, fake_op op)
{
    if (s->capturing) {
        assert_true(gpu.graph_ops < FAKE_GRAPH_OPS);
        gpu.graph[gpu.graph_ops++] = op;
        return;
    }
    s->ops[s->tail++ % FAKE_QUEUE] = op;
    s->ops_queued++;
}

/* The step kernel's model (recorder/step_kernel.cu), one launch at a time:
 * the device block is the fake's device memory; the host block and the ring
 * are the recorder's mapped memory, which its writer reads while this runs
 * (C11 release/acquire where the kernel fences at system scope). */
static void fake_step_drop(const dxtrec_step_args *a, int64_t step)
{
    int64_t *ctl = a->dctl, *h = a->hctl;
    ctl[DXTREC_DCTL_DROPPED]++;
    if (step < ctl[DXTREC_DCTL_DROP_FIRST])
        ctl[DXTREC_DCTL_DROP_FIRST] = step;
    if (step > ctl[DXTREC_DCTL_DROP_LAST])
        ctl[DXTREC_DCTL_DROP_LAST] = step;
    __atomic_store_n(h + DXTREC_HCTL_DROP_FIRST, ctl[DXTREC_DCTL_DROP_FIRST], __ATOMIC_RELAXED);
    __atomic_store_n(h + DXTREC_HCTL_DROP_LAST, ctl[DXTREC_DCTL_DROP_LAST], __ATOMIC_RELAXED);
    if (a->eager)
        __atomic_store_n(h + DXTREC_HCTL_DROPPED_EAGER, ++ctl[DXTREC_DCTL_DROPPED_EAGER],
                         __ATOMIC_RELAXED);
    __atomic_store_n(h + DXTREC_HCTL_DROPPED, ctl[DXTREC_DCTL_DROPPED], __ATOMIC_RELEASE);
}

static void fake_step_write(const dxtrec_step_args *a, uint64_t pos, int64_t step)
{
    int64_t *slot = a->ring + pos % a->capacity * (uint64_t)a->slot_words;
    int64_t *data = slot + DXTREC_SLOT_PRESENT + a->nops;
    for (int op = 0; op < a->nops; op++) {
        const int64_t *w = a->table[2 * op], *t = a->table[2 * op + 1];
        slot[DXTREC_SLOT_PRESENT + op] = (w != NULL) | (t != NULL) << 1;
        for (int j = 0; j < a->n; j++) {
            data[2 * op * a->n + j] = w ? w[j] : 0;
            data[(2 * op + 1) * a->n + j] = t ? t[j] : 0;
        }
    }
    slot[DXTREC_SLOT_STEP] = step;
    slot[DXTREC_SLOT_TIME] = dxtrec_now_realtime_ns();
    slot[DXTREC_SLOT_FLAGS] = a->eager ? DXTREC_SLOT_EAGER : 0;
    __atomic_store_n(slot + DXTREC_SLOT_SEQ, (int64_t)pos + 1, __ATOMIC_RELEASE);
}

static void fake_step_kernel(const dxtrec_step_args *a)
{
    int64_t *ctl = a->dctl, step = a->step;
    if (a->mode != DXTREC_STEP_MODE_STEP) { /* REPLAY, CLOSE: the pending row, if any */
        const int pending = ctl[DXTREC_DCTL_PENDING] != 0;
        step = ctl[DXTREC_DCTL_NEXT_STEP] - 1;
        if (a->mode == DXTREC_STEP_MODE_REPLAY)
            ctl[DXTREC_DCTL_NEXT_STEP] += a->replay_steps;
        ctl[DXTREC_DCTL_PENDING] = a->mode == DXTREC_STEP_MODE_REPLAY;
        if (!pending)
            return;
    } else if (ctl[DXTREC_DCTL_PENDING] = 0, a->auto_step) {
        step = ctl[DXTREC_DCTL_NEXT_STEP]++;
    } else if (ctl[DXTREC_DCTL_NEXT_STEP] < step + 1) {
        ctl[DXTREC_DCTL_NEXT_STEP] = step + 1;
    }
    const uint64_t head = (uint64_t)ctl[DXTREC_DCTL_HEAD];
    if (head - (uint64_t)ctl[DXTREC_DCTL_TAIL_SEEN] >= a->capacity) { /* looks full */
        const int64_t tail = __atomic_load_n(a->hctl + DXTREC_HCTL_TAIL, __ATOMIC_ACQUIRE);
        if (tail > ctl[DXTREC_DCTL_TAIL_SEEN])
            ctl[DXTREC_DCTL_TAIL_SEEN] = tail;
    }
    if (head - (uint64_t)ctl[DXTREC_DCTL_TAIL_SEEN] >= a->capacity) {
        fake_step_drop(a, step);
    } else {
        ctl[DXTREC_DCTL_HEAD]++;
        fake_step_write(a, head, step);
    }
    if (a->eager)
        ctl[DXTREC_DCTL_EAGER_SEEN]++;
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
    case OP_COPY:
        if (gpu.hold_copies)
            return 0;
        memcpy(op->dst, op->src, op->bytes);
        break;
    case OP_ZERO: memset(op->dst, 0, op->bytes); break;
    case OP_TIMER: out[0] = dxtrec_now_realtime_ns() - 5000; break; /* %globaltimer: 5 us off */
    case OP_STEP: fake_step_kernel(&op->step); break;
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

/* The capture's status, id and graph (recorder/steps_cuda.c's capture_info:
 * the signature of CUDA 13, of 12, of 11's _v2). */
static cudaError_t fake_capture_info(cudaStream_t stream, enum cudaStreamCaptureStatus *status,
                                     unsigned long long *id, cudaGraph_t *graph,
                                     const void *deps, const void *edges, const size_t *ndeps)
{
    assert_null(deps), assert_null(edges), assert_null(ndeps);
    pthread_mutex_lock(&gpu.lock);
    *status = stream->capturing ? cudaStreamCaptureStatusActive : cudaStreamCaptureStatusNone;
    *id = stream->capturing ? gpu.capture_id : 0;
    *graph = stream->capturing ? (cudaGraph_t)gpu.graph : NULL;
    pthread_mutex_unlock(&gpu.lock);
    return cudaSuccess;
}

#if CUDART_VERSION >= 13000
cudaError_t cudaStreamGetCaptureInfo(cudaStream_t stream, enum cudaStreamCaptureStatus *status,
                                     unsigned long long *id, cudaGraph_t *graph,
                                     const cudaGraphNode_t **deps,
                                     const cudaGraphEdgeData **edges, size_t *ndeps)
{
    return fake_capture_info(stream, status, id, graph, deps, edges, ndeps);
}
#elif CUDART_VERSION >= 12000
cudaError_t cudaStreamGetCaptureInfo(cudaStream_t stream, enum cudaStreamCaptureStatus *status,
                                     unsigned long long *id, cudaGraph_t *graph,
                                     const cudaGraphNode_t **deps, size_t *ndeps)
{
    return fake_capture_info(stream, status, id, graph, deps, NULL, ndeps);
}
#else
cudaError_t cudaStreamGetCaptureInfo_v2(cudaStream_t stream, enum cudaStreamCaptureStatus *status,
                                        unsigned long long *id, cudaGraph_t *graph,
                                        const cudaGraphNode_t **deps, size_t *ndeps)
{
    return fake_capture_info(stream, status, id, graph, deps, NULL, ndeps);
}
#endif

/* The step kernel as the graph's root node (one per graph in the fake). */
cudaError_t cudaGraphAddKernelNode(cudaGraphNode_t *node, cudaGraph_t graph,
                                   const cudaGraphNode_t *deps, size_t ndeps,
                                   const struct cudaKernelNodeParams *p)
{
    assert_ptr_equal(graph, (cudaGraph_t)gpu.graph);
    assert_int_equal(ndeps, 0), assert_null(deps);
    pthread_mutex_lock(&gpu.lock);
    assert_false(gpu.has_root);
    gpu.graph_root = (fake_op){.kind = OP_STEP, .step = *(const dxtrec_step_args *)p->kernelParams[0]};
    gpu.has_root = 1;
    pthread_mutex_unlock(&gpu.lock);
    *node = (cudaGraphNode_t)&gpu.graph_root;
    return cudaSuccess;
}

cudaError_t cudaGraphKernelNodeSetParams(cudaGraphNode_t node, const struct cudaKernelNodeParams *p)
{
    assert_ptr_equal(node, (cudaGraphNode_t)&gpu.graph_root);
    pthread_mutex_lock(&gpu.lock);
    gpu.graph_root.step = *(const dxtrec_step_args *)p->kernelParams[0];
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
    count_writer_call();
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

/* The calibration kernel (a cudaKernel_t of cudaLibraryLoadData), the
 * %globaltimer kernel (one thread) or the step kernel (32 threads or more). */
cudaError_t cudaLaunchKernel(const void *func, dim3 grid, dim3 block, void **args,
                             size_t shared, cudaStream_t stream)
{
    (void)grid, (void)shared;
    fake_op op = {.kind = OP_CALIB, .dst = *(void **)args[0]};
    if (func != (const void *)&fake_kernel_handle && block.x == 1)
        op.kind = OP_TIMER;
    else if (func != (const void *)&fake_kernel_handle)
        op = (fake_op){.kind = OP_STEP, .step = *(const dxtrec_step_args *)args[0]};
    pthread_mutex_lock(&gpu.lock);
    cudaError_t e = gpu.present ? cudaSuccess : cudaErrorNoDevice;
    if (e == cudaSuccess)
        enqueue(stream, op);
    pthread_mutex_unlock(&gpu.lock);
    return e;
}

/* The step kernel with launch attributes (DXTREC_STEP_PDL=1): counted, then as above. */
static _Atomic long fake_pdl_launches;

cudaError_t cudaLaunchKernelExC(const cudaLaunchConfig_t *config, const void *func, void **args)
{
    int pdl = 0;
    for (unsigned i = 0; i < config->numAttrs; i++)
        pdl |= config->attrs[i].id == cudaLaunchAttributeProgrammaticStreamSerialization &&
               config->attrs[i].val.programmaticStreamSerializationAllowed;
    atomic_fetch_add(&fake_pdl_launches, pdl);
    return cudaLaunchKernel(func, config->gridDim, config->blockDim, args,
                            config->dynamicSmemBytes, config->stream);
}

cudaError_t cudaFuncGetAttributes(struct cudaFuncAttributes *attr, const void *func)
{
    (void)func;
    memset(attr, 0, sizeof(*attr));
    return gpu.present ? cudaSuccess : cudaErrorNoDevice;
}

cudaError_t cudaMalloc(void **p, size_t size)
{
    *p = gpu.present ? fake_alloc(size) : NULL;
    if (!*p)
        return gpu.present ? cudaErrorMemoryAllocation : cudaErrorNoDevice;
    pthread_mutex_lock(&gpu.lock);
    for (int i = 0; i < FAKE_DEV_ALLOCS; i++)
        if (!gpu.dev_ptr[i]) {
            gpu.dev_ptr[i] = *p, gpu.dev_bytes[i] = size;
            break;
        }
    pthread_mutex_unlock(&gpu.lock);
    return cudaSuccess;
}

cudaError_t cudaFree(void *p)
{
    (void)p; /* freed with everything at the end of the test */
    return cudaSuccess;
}

cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes *attr, const void *ptr)
{
    memset(attr, 0, sizeof(*attr));
    attr->type = cudaMemoryTypeUnregistered;
    pthread_mutex_lock(&gpu.lock);
    for (int i = 0; i < FAKE_DEV_ALLOCS; i++) {
        const char *base = gpu.dev_ptr[i];
        if (base && (const char *)ptr >= base && (const char *)ptr < base + gpu.dev_bytes[i]) {
            attr->type = cudaMemoryTypeDevice;
            attr->devicePointer = (void *)ptr;
        }
    }
    pthread_mutex_unlock(&gpu.lock);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t count, cudaStream_t stream)
{
    assert_int_equal(value, 0);
    count_writer_call();
    pthread_mutex_lock(&gpu.lock);
    enqueue(stream, (fake_op){.kind = OP_ZERO, .dst = dst, .bytes = count});
    pthread_mutex_unlock(&gpu.lock);
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    count_writer_call();
    for (;;) {
        pthread_mutex_lock(&gpu.lock);
        int done = stream->head == stream->tail;
        pthread_mutex_unlock(&gpu.lock);
        if (done)
            return cudaSuccess;
        usleep(50);
    }
}

/* Capture on stream s (1) or end it (0); fake_replay queues the graph's ops on s. */
static inline void fake_capture(cudaStream_t s, int on)
{
    pthread_mutex_lock(&gpu.lock);
    s->capturing = on;
    if (on)
        gpu.graph_ops = 0, gpu.has_root = 0, gpu.capture_id++;
    pthread_mutex_unlock(&gpu.lock);
}

static inline void fake_replay(cudaStream_t s)
{
    pthread_mutex_lock(&gpu.lock);
    if (gpu.has_root)
        enqueue(s, gpu.graph_root);
    for (int i = 0; i < gpu.graph_ops; i++)
        enqueue(s, gpu.graph[i]);
    pthread_mutex_unlock(&gpu.lock);
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
    gpu.hold_copies = 0, gpu.graph_ops = 0, gpu.has_root = 0;
    gpu.test_thread = pthread_self();
    atomic_store(&gpu.writer_copy_calls, 0);
    memset(gpu.dev_ptr, 0, sizeof(gpu.dev_ptr));
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

static inline int64_t file_rows(int op)
{
    dxt_reader *r = open_file();
    int64_t rows = dxt_reader_op(r, file_op(r, op))->rows;
    dxt_reader_close(r);
    return rows;
}
#endif
