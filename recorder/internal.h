/* internal.h - libdxtrec internals shared by dxtrec.c (API), writer.c (the
 * writer thread) and the CUDA path (dxtrec_cuda.c). Not installed.
 *
 * Owner: recorder host path. The CUDA path uses only the hooks of the section
 * "CUDA path hooks"; the test knobs are for tests/test_recorder*.c.
 *
 * Threads: record callers touch only the ring and the atomics; the writer
 * thread owns `ws` and is the only thread that calls HDF5 (format/); `lock`
 * guards the flush/stop handshake, `err_lock` the last error message. */
#ifndef DXTREC_INTERNAL_H
#define DXTREC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "dxt_format.h"
#include "dxtrec.h"
#include "ring.h"

/* Kinds of trouble, each printed to stderr at most once: X(id, "what"). */
#define DXTREC_TROUBLE_KINDS(X)                     \
    X(DXTREC_TROUBLE_CREATE, "creating the file")   \
    X(DXTREC_TROUBLE_WRITE, "writing the file")     \
    X(DXTREC_TROUBLE_RING_FULL, "ring full")        \
    X(DXTREC_TROUBLE_STEP_ORDER, "step order")      \
    X(DXTREC_TROUBLE_COMPRESS, "compressing")       \
    X(DXTREC_TROUBLE_THREAD, "writer thread")       \
    X(DXTREC_TROUBLE_DEVICE, "device path")         \
    X(DXTREC_TROUBLE_EXISTING, "an earlier trace's file")

typedef enum {
#define DXTREC_TROUBLE_ENUM(id, what) id,
    DXTREC_TROUBLE_KINDS(DXTREC_TROUBLE_ENUM)
#undef DXTREC_TROUBLE_ENUM
    DXTREC_TROUBLE_COUNT
} dxtrec_trouble;

/* Rows of one op that were never written (ring full, step order, file error). */
typedef struct dxtrec_op_drops {
    _Atomic uint64_t count;
    _Atomic int64_t first_step; /* smallest dropped step, INT64_MAX when none */
    _Atomic int64_t last_step;  /* largest dropped step, INT64_MIN when none */
} dxtrec_op_drops;

typedef struct dxtrec_writer_state dxtrec_writer_state; /* writer.c */

struct dxtrec {
    /* configuration (strings owned, copied at open) */
    dxtrec_config cfg;
    char *dir, *run_id, *node;
    char *op_names[DXT_MAX_OPS];
    int has_clock_hz; /* a per-row clock_hz dataset is written (set before the thread starts) */

    dxtrec_ring ring;
    _Atomic int accepting; /* 0 once closing or when the thread never started */

    /* counters (rows recorded = the ring's enqueue position: no counter of its
     * own, so the record path writes no shared line but the ring's) */
    _Alignas(64) _Atomic uint64_t rows_ring_full;
    _Alignas(64) _Atomic uint64_t rows_written;
    _Atomic uint64_t rows_dropped;
    _Atomic int last_error;
    dxtrec_op_drops drops[DXT_MAX_OPS];
    _Alignas(64) char cold_start; /* the rest is not touched by the record path */

    pthread_mutex_t err_lock; /* err_msg, reported */
    char err_msg[512];
    unsigned reported; /* bit per dxtrec_trouble already printed */

    /* writer thread handshake, under lock */
    pthread_mutex_t lock;
    pthread_cond_t wake_writer;   /* flush request, stop */
    pthread_cond_t wake_callers;  /* started, flush done */
    uint64_t flush_req_gen, flush_done_gen, flush_req_pos;
    dxtrecResult_t flush_result, open_result, close_result;
    int started, stop;
    pthread_t thread;
    int thread_running;
    dxtrec_writer_state *ws;

    /* ---- CUDA path hooks ---- */
    /* Called by the writer thread at every loop iteration (NULL: host-only).
     * Pushes rows whose device copy completed (dxtrec_ring_push) and returns
     * how many rows it still awaits; at close the writer keeps calling it
     * while it returns > 0, for at most DXTREC_DEVICE_DRAIN_S seconds. */
    int (*poll_device)(dxtrec_t *rec);
    /* Called once by the writer thread after its last poll, before the file's
     * last flush (NULL: nothing to do): counts what the device path will never
     * deliver as dropped, so that the file holds the count. */
    void (*finish_device)(dxtrec_t *rec);
    void *device; /* the CUDA path's own state */
    char gpu_name[DXT_STR_MAX], gpu_uuid[DXT_STR_MAX]; /* set by dxtrec_device_init ("" unknown) */
    _Atomic int device_active; /* record_device in use: the writer polls at its shortest sleep */

    /* ---- test knobs (atomics: set any time) ---- */
    _Atomic long test_batch_sleep_ns; /* the writer sleeps this long after each batch */
    _Atomic long retry_interval_ms;   /* between attempts to create the file; default 2000 */
    _Atomic int test_no_space_guard;  /* 1: write until the file system says no */
    _Atomic long test_chunk_rows;     /* rows per chunk of files created from now; 0: default */
    _Atomic int test_hold_steps;      /* 1: the writer leaves the step ring alone (steps_cuda.c) */
    _Atomic int test_steps_held;      /* set by a poll that left it alone */
};

#define DXTREC_DEVICE_DRAIN_S 2.0
#define DXTREC_DEFAULT_RETRY_MS 2000

/* Push one complete row into the write path, from any thread (the record
 * path and the CUDA path's poll use it). tokens NULL: unknown (-1 in the
 * file when the file has tokens). clock_hz: NAN when unknown. Never blocks,
 * never allocates: DXTREC_ERR_DROPPED (counted) when the ring is full,
 * DXTREC_ERR_INVALID_ARG for an op out of range or wait NULL. */
dxtrecResult_t dxtrec_ring_push(dxtrec_t *rec, int op, int64_t step, int64_t time_ns,
                                const int64_t *wait, const int64_t *tokens, double clock_hz);

/* Count n rows of op as dropped (steps: first..last of them). Any thread. */
void dxtrec_count_drops(dxtrec_t *rec, int op, uint64_t n, int64_t first_step, int64_t last_step);

/* Keep code + message as the last error; print it to stderr once per kind
 * unless quiet. Not for the record path (takes err_lock). */
void dxtrec_report(dxtrec_t *rec, dxtrecResult_t code, dxtrec_trouble kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* CLOCK_REALTIME / CLOCK_MONOTONIC now. */
int64_t dxtrec_now_realtime_ns(void);
double dxtrec_now_mono_s(void);

/* writer.c: allocate the writer's state (before the thread), start the thread
 * (it makes the first attempt to create the file, then sets started and
 * open_result), free the state (after the join). */
int dxtrec_writer_state_new(dxtrec_t *rec);
int dxtrec_writer_start(dxtrec_t *rec);
void dxtrec_writer_state_free(dxtrec_t *rec);

/* Test knobs. */
void dxtrec_internal_set_test_knobs(dxtrec_t *rec, long batch_sleep_ns, long retry_interval_ms);

#ifdef DXT_HAVE_CUDA
/* dxtrec_cuda.c: called by dxtrec_open before the writer starts (may set
 * has_clock_hz, poll_device, device; non-zero: device support off, reported),
 * and by dxtrec_close after the writer has stopped. */
int dxtrec_device_init(dxtrec_t *rec);
void dxtrec_device_fini(dxtrec_t *rec);
#endif

#endif
