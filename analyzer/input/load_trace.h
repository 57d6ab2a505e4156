/* load_trace.h - what the trace loader (load_trace.c) keeps for the window
 * streams (load_stream.c): every usable file with its rank and the step range
 * of each op. At most max_open files have their HDF5 handles open (about 1 MB
 * each); dxt_trace_read and the tables of rows (load_rows.c) reopen a file
 * when needed and suspend another; the rows themselves are read without HDF5
 * (pread at the chunk addresses HDF5 gave).
 * Internal to the analyzer.
 * Owner: the loader/report engineer (A2). */
#ifndef DXT_LOAD_TRACE_H
#define DXT_LOAD_TRACE_H

#include "input.h"

typedef struct dxt_trace_file {
    char *path;
    dxt_reader *reader;
    int rank;
    int op_index[DXT_MAX_OPS];     /* the file's index of input op k, -1: absent */
    int64_t op_first[DXT_MAX_OPS]; /* first and last step of op k (rows > 0) */
    int64_t op_last[DXT_MAX_OPS];
    uint64_t last_use;             /* the reads' clock at its last read */
} dxt_trace_file;

struct dxt_trace_state {
    int nfiles;
    dxt_trace_file *files;
    int unit_us;                   /* 1: convert to microseconds; 0: keep raw */
    int nopen, max_open;           /* files with open HDF5 handles, and the most */
    uint64_t clock;
    struct dxt_par *par;           /* the loader's threads (load_stream.c); made at first use */
    double read_s, wait_s, sums_s; /* all threads: HDF5 and pread; the caller's wall time
                                    * in the streams; all threads: sums */
    double decode_s;               /* all threads: inflate + unshuffle */
};

/* Where the loader's time went (bench/bench_read.c prints it). */
typedef struct dxt_load_times {
    double read_s;          /* HDF5 calls (step, clock_hz, chunk addresses) and pread of
                             * stored chunks, all threads together */
    double wait_s;          /* wall: the caller in the window streams (passes, hand-outs) */
    double sums_s;          /* per-step deltas and window sums, all threads together */
    double decode_s;        /* chunk decoding, all threads together (CPU seconds) */
    int threads;            /* decoding threads, the loader's included (0: none yet) */
} dxt_load_times;
void dxt_trace_load_times(const dxt_input *in, dxt_load_times *out);

/* Before an HDF5 read of f: suspend another file when max_open are open.
 * After it: dxt_trace_count_open with whether f was open before. */
void dxt_trace_make_room(dxt_trace_state *t, dxt_trace_file *f);
void dxt_trace_count_open(dxt_trace_state *t, dxt_trace_file *f, int was_open);

/* Files open at once, at most (DXT_TRACE_MAX_OPEN in the environment: fewer).
 * The rows are read without HDF5 (load_rows.c): a file is opened for a table
 * of rows (once per op for up to STREAM_TABLE_BYTES / N / 16 rows) and then
 * suspended, so few need to stay open. */
#define DXT_TRACE_MAX_OPEN 64

/* dxt_reader_read of file f (of t), reopening it if suspended, after
 * suspending the open file read most recently but f when max_open are open
 * (windows read every rank in turn: evicting the least recently read would
 * reopen every file every time). */
int64_t dxt_trace_read(dxt_trace_state *t, dxt_trace_file *f, int op, int64_t first,
                       int64_t nrows, int64_t *step, int64_t *wait, int64_t *tokens,
                       double *clock_hz, dxt_error *err);

/* load_check.c: a listed file's validation. status 1: reader validated (as
 * dxt_reader_open validates; suspended); 0: skip the file (why: not a regular
 * file, not a valid trace file); -1: the load must stop (why: out of file
 * descriptors). */
typedef struct dxt_checked {
    dxt_reader *reader;
    int status;
    dxt_error why;
} dxt_checked;
/* Files validated a batch at a time (memory: one dxt_checked each). */
#define DXT_CHECK_BATCH 256
/* Validate paths[0 .. count) in order into out, HDF5 in this thread, the tail
 * chunks decoded by t's threads; stops after a file of status -1. Returns the
 * files done (out[0 .. done)). */
int dxt_trace_validate_batch(dxt_trace_state *t, char **paths, int count, dxt_checked *out);
/* Keep validated reader r (of path) in t->files (room for it allocated): open
 * while fewer than max_open are, else suspended. 0 or -1 with err. */
int dxt_trace_add_file(dxt_input *in, dxt_trace_state *t, dxt_reader *r, const char *path,
                       dxt_error *err);
/* load_parts.c: the listed files of a partitioned run (p->count > 1), each
 * validated by one process, every process getting every file's result:
 * in->skipped and t->files as a serial load makes them. npaths -1: this
 * process failed to list them (err says why). The same result on every
 * process: 0, or -1 with the lowest failing process's err. */
int dxt_trace_open_parts(dxt_input *in, dxt_trace_state *t, char **paths, int npaths,
                         const dxt_partition *p, dxt_error *err);

/* load_meta.c: the ops (names, step ranges, unit, tokens, dropped rows) and
 * the ranks (missing, segments, nodes) of the files kept. */
int dxt_trace_gather_ops(dxt_input *in, dxt_trace_state *t, dxt_error *err);
int dxt_trace_gather_ranks(dxt_input *in, dxt_trace_state *t, int per_node, dxt_error *err);

#endif
