/* dxtrec.h - libdxtrec, the dxtrace recorder: the one public header.
 *
 * Linked into a GPU job, it appends each step's per-peer wait vector of this
 * rank to one HDF5 file per rank (trace format v1, format/FORMAT.md).
 *
 *   dxtrec_config cfg;
 *   dxtrec_config_init(&cfg);
 *   cfg.dir = "trace"; cfg.rank = rank; cfg.world_size = n; cfg.run_id = "job-42";
 *   const char *ops[] = {"dispatch", "combine"}; cfg.ops = ops; cfg.nops = 2;
 *   dxtrec_t *rec;
 *   if (dxtrec_open(&cfg, &rec) != DXTREC_SUCCESS) ...;   // rec is usable anyway: see below
 *   dxtrec_record(rec, 0, step, wait, NULL);              // host path, never blocks
 *   dxtrec_record_device(rec, 0, step, d_wait, NULL, stream); // CUDA path
 *   dxtrec_close(rec);
 *
 * Guarantees: dxtrec_record and dxtrec_record_device never block, never
 * allocate, and are safe from several threads at once; when the in-memory ring
 * is full the row is dropped and counted (the count is stored in the file). A
 * background thread does all file work. Rows recorded more than one flush
 * interval before the process is killed (even by SIGKILL) are in the file.
 * No function exits or aborts: errors are returned, kept as the last error,
 * and printed to stderr once.
 *
 * Ownership: the caller owns every pointer it passes; the recorder copies what
 * it needs before returning. A dxtrec_t is owned by the caller until
 * dxtrec_close, which frees it. */
#ifndef DXTREC_H
#define DXTREC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define DXTREC_API __attribute__((visibility("default")))
#else
#define DXTREC_API
#endif

#define DXTREC_VERSION_MAJOR 1
#define DXTREC_VERSION_MINOR 0

/* Every result, once: X(enum, "message"). */
#define DXTREC_RESULTS(X)                                                     \
    X(DXTREC_SUCCESS, "success")                                              \
    X(DXTREC_ERR_INVALID_ARG, "invalid argument")                             \
    X(DXTREC_ERR_NO_MEMORY, "out of memory")                                  \
    X(DXTREC_ERR_IO, "file or HDF5 error")                                    \
    X(DXTREC_ERR_DROPPED, "ring full: row dropped and counted")               \
    X(DXTREC_ERR_CLOSED, "recorder is closed or failed to start")             \
    X(DXTREC_ERR_THREAD, "could not start the writer thread")                 \
    X(DXTREC_ERR_CUDA, "CUDA error")                                          \
    X(DXTREC_ERR_NO_CUDA, "this libdxtrec was built without CUDA")

typedef enum {
#define DXTREC_RESULT_ENUM(id, msg) id,
    DXTREC_RESULTS(DXTREC_RESULT_ENUM)
#undef DXTREC_RESULT_ENUM
    DXTREC_RESULT_COUNT
} dxtrecResult_t;

typedef enum { DXTREC_UNIT_CYCLES = 0, DXTREC_UNIT_NS = 1 } dxtrec_unit;
typedef enum { DXTREC_CUMULATIVE = 0, DXTREC_DELTA = 1 } dxtrec_counting;

typedef struct dxtrec dxtrec_t; /* opaque */

typedef struct dxtrec_config {
    const char *dir;          /* trace directory, created if missing (required) */
    int rank;                 /* this rank, 0 <= rank < world_size (required) */
    int world_size;           /* N: length of every wait vector (required) */
    const char *run_id;       /* same for every rank of the job (required) */
    const char *node;         /* host name; NULL: gethostname() */
    int local_rank;           /* index within the node; -1: unknown */
    const char *const *ops;   /* operation names, e.g. {"dispatch","combine"} (required) */
    int nops;                 /* 1 .. dxtrec_max_ops() */
    dxtrec_unit unit;         /* default DXTREC_UNIT_CYCLES */
    double clock_hz;          /* ticks per second for cycles; 0: unknown */
    dxtrec_counting counting; /* default DXTREC_CUMULATIVE (DeepEP's stats tensors) */
    int record_tokens;        /* 1: keep a tokens dataset (pass tokens to record) */
    double flush_interval_s;  /* default 1.0 */
    int ring_capacity;        /* rows held in memory; default 4096 */
    int compress_level;       /* shuffle+deflate level, default 1; 0: none */
    int fsync;                /* 1: fsync after each flush (survives power loss) */
    int quiet;                /* 1: never print to stderr */
} dxtrec_config;

/* Fill cfg with the defaults above (required fields zero / NULL). */
DXTREC_API void dxtrec_config_init(dxtrec_config *cfg);

/* Open a recorder writing <dir>/rank-<rank, 5 digits>.h5. On an error that
 * concerns the file (directory not writable, disk full, ...) the recorder is
 * still returned in *out: it counts rows as dropped, retries creating the file,
 * and the error is returned here and kept as the last error. *out is NULL only
 * for invalid arguments and out-of-memory (more ops than dxtrec_max_ops() is
 * also said on stderr unless quiet). */
DXTREC_API dxtrecResult_t dxtrec_open(const dxtrec_config *cfg, dxtrec_t **out);

/* Record one row of op: wait[world_size] and, if record_tokens, tokens[world_size]
 * (NULL otherwise or when unknown). Copies and returns at once; DXTREC_ERR_DROPPED
 * when the ring is full. */
DXTREC_API dxtrecResult_t dxtrec_record(dxtrec_t *rec, int op, int64_t step, const int64_t *wait,
                                        const int64_t *tokens);

/* CUDA path: snapshot device counters d_wait[world_size] (and d_tokens) as they
 * stand after the work queued so far on stream (a cudaStream_t), without adding
 * work to or synchronizing that stream. DXTREC_ERR_NO_CUDA in builds without CUDA. */
DXTREC_API dxtrecResult_t dxtrec_record_device(dxtrec_t *rec, int op, int64_t step,
                                               const int64_t *d_wait, const int64_t *d_tokens,
                                               void *stream);

/* ---- the capture-safe step path (CUDA builds): one call per step for all ops ----
 *
 *   dxtrec_attach_device(rec, 0, d_dispatch_wait, NULL);   // once per op
 *   dxtrec_attach_device(rec, 1, d_combine_wait, NULL);
 *   for (...) { ...; dxtrec_step_device(rec, step, stream); }
 *
 * dxtrec_attach_device registers op's device counters d_wait[world_size]
 * (and d_tokens, kept when record_tokens) for every later step; the memory
 * must stay valid until dxtrec_close. Attaching again replaces them; d_wait
 * NULL detaches op. Call it before the steps (it waits for a small copy on
 * the recorder's own stream), outside any stream capture. The first attach
 * makes a ring of min(ring_capacity, 64 MiB) steps in mapped pinned host
 * memory (the kernel writes it over the bus; the writer thread reads it with
 * no CUDA call) and a small control block in device memory.
 * DXTREC_ERR_INVALID_ARG when op is out of range or a pointer is not device
 * memory (the last error says which), DXTREC_ERR_CUDA without a GPU,
 * DXTREC_ERR_NO_CUDA in builds without CUDA. */
DXTREC_API dxtrecResult_t dxtrec_attach_device(dxtrec_t *rec, int op, const int64_t *d_wait,
                                               const int64_t *d_tokens);

#define DXTREC_STEP_AUTO INT64_MIN /* step_device: the last step + 1 */

/* Record one row of every attached op at step: queues one small kernel on
 * stream (a cudaStream_t) that copies the counters, as they stand after the
 * work queued before it, into the ring; the writer thread drains it.
 * Never synchronizes; costs a capture check and one kernel launch (one
 * block: two dependent device-memory round trips and a system fence on the
 * GPU). The counters are cumulative: recording one step in K (the others
 * simply not calling it) loses no wait, only per-step detail.
 * Inside a stream capture (e.g. torch.cuda.graph) nothing is queued on
 * stream: the capture's graph gets one node of the kernel with no
 * dependency, so that each replay runs it beside its first kernels, off
 * the job's critical path. At the start of each replay it records the row
 * the previous replay left pending: the counters as the replay finds them
 * (a kernel of the replay that adds to them within its first microseconds
 * may be partly in that row), numbered on from the last step (the step
 * argument is then ignored; a capture with k calls numbers k steps per
 * replay and records one row per replay, its last step). The last replay's
 * row is taken by dxtrec_close (synchronize first) or by the next call
 * outside a capture, whose row then holds its counts too (that step has no
 * row of its own). DXTREC_STEP_AUTO outside a capture: the last step + 1.
 * A full ring drops the step on the GPU, counted in the file. Use one stream
 * at a time per recorder (steps are numbered in launch order) and the step
 * path or record/record_device for an op, not both. DXTREC_ERR_INVALID_ARG
 * before any attach, DXTREC_ERR_CUDA when the launch (or adding the node)
 * fails (counted as dropped), DXTREC_ERR_NO_CUDA in builds without CUDA.
 * Rows of launches that have not run by dxtrec_close (after a wait of a few
 * seconds) are dropped: synchronize first; they are counted as dropped in
 * the file. A graph captured with this recorder must not be replayed after
 * dxtrec_close (its ring is then never freed, so such a replay writes
 * nowhere harmful, but records nothing). */
DXTREC_API dxtrecResult_t dxtrec_step_device(dxtrec_t *rec, int64_t step, void *stream);

/* Block until every row recorded before this call is in the file and flushed. */
DXTREC_API dxtrecResult_t dxtrec_flush(dxtrec_t *rec);

/* Flush, store the counters, close the file, stop the thread, free rec. */
DXTREC_API dxtrecResult_t dxtrec_close(dxtrec_t *rec);

typedef struct dxtrec_counters {
    uint64_t rows_recorded;   /* record calls accepted into the ring */
    uint64_t rows_written;    /* rows appended to the file */
    uint64_t rows_dropped;    /* ring full, file error, or CUDA error */
    dxtrecResult_t last_error;
} dxtrec_counters;

DXTREC_API void dxtrec_get_counters(dxtrec_t *rec, dxtrec_counters *out);

/* Copy the last error, a sentence naming the file and the cause ("" if none),
 * into buf (always NUL-terminated). Returns the last error's result. */
DXTREC_API dxtrecResult_t dxtrec_last_error(dxtrec_t *rec, char *buf, size_t len);

DXTREC_API const char *dxtrec_result_string(dxtrecResult_t result);

/* The most ops one recorder (one trace file) holds: config.nops <= this. */
DXTREC_API int dxtrec_max_ops(void);

#ifdef __cplusplus
}
#endif
#endif
