/* input.h - dxt-analyze's inputs behind one interface: a trace directory
 * (load_trace.c, streamed by load_stream.c), a DeepXTrace diagnose log or a
 * plain text matrix (textin.c). Internal to the analyzer.
 * Owner: the loader/report engineer (A2). The classifier (classify.h) is not here.
 *
 * An input knows the run (id, world size, topology, ops, unit, step range) and
 * what went wrong while loading (skipped files, dropped rows, warnings). Its
 * windows are read op by op through a dxt_op_stream: each call sums the rows of
 * every rank whose step lies in the next window of steps, as per-step deltas in
 * the input's unit. Memory is O(N^2) per stream plus block buffers, whatever the
 * number of steps. Nothing here prints: messages are collected for main. */
#ifndef DXT_INPUT_H
#define DXT_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "dxtanalysis.h"

#define DXT_INPUT_KINDS(X)                                  \
    X(DXT_INPUT_TRACE, "trace", "a trace directory of HDF5 files") \
    X(DXT_INPUT_LOG, "deepxtrace-log", "a DeepXTrace diagnose log") \
    X(DXT_INPUT_MATRIX, "matrix", "a plain text matrix")                \
    X(DXT_INPUT_LIVE, "live", "matrices fed by a running job")

typedef enum {
#define DXT_INPUT_ENUM(id, str, what) id,
    DXT_INPUT_KINDS(DXT_INPUT_ENUM)
#undef DXT_INPUT_ENUM
    DXT_INPUT_KIND_COUNT
} dxt_input_kind;

const char *dxt_input_kind_str(dxt_input_kind kind);

typedef struct dxt_skipped {
    char *path;
    char *reason;
} dxt_skipped;

typedef struct dxt_dropped {
    int rank;
    char op[DXT_OP_NAME_MAX];
    int64_t rows, first_step, last_step; /* steps -1 when unknown */
} dxt_dropped;


typedef struct dxt_trace_state dxt_trace_state; /* load_trace.c */
typedef struct dxt_text_state dxt_text_state;   /* textin.c */
typedef struct dxt_live_state dxt_live_state;   /* live_input.c */

typedef struct dxt_input {
    dxt_input_kind kind;
    char *path;
    char run_id[DXT_STR_MAX];
    int n;                      /* world size */
    char unit[16];              /* "us" or "cycles" */
    int64_t first_step, last_step;
    int64_t row_every;          /* steps between a rank's rows (a recorder's step_every), the
                                 * median over a trace's files; 1: a row every step */
    int nops;
    char ops[DXT_MAX_OPS][DXT_OP_NAME_MAX];
    int op_has_tokens[DXT_MAX_OPS]; /* tokens usable for this op */
    /* topology: every rank has a node */
    int nnodes;
    int *node_of;               /* n */
    char **node_names;          /* nnodes */
    unsigned char *rank_present;/* n: 1 when some file/row gives this rank */
    int nfiles;                 /* files used (trace) */
    /* a trace being written (load_meta.c; other inputs: last_step, 0, 0) */
    int64_t complete_step;      /* every present rank has rows up to here (INT64_MIN: not
                                 * every one has rows yet); last_step when none is written */
    int nwriting;               /* files whose writer has not closed them (closed_unix_ns 0,
                                 * and no newer file of their rank) */
    int nlegacy;                /* files without closed_unix_ns (older writers): taken as closed */
    /* what went wrong, for the report */
    dxt_skipped *skipped;
    int nskipped;
    dxt_dropped *dropped;
    int ndropped;
    char **warnings;
    int nwarnings;
    /* the ranks a trace stream opened now reads: [stream_first, stream_end) when
     * stream_part is 1 (a partitioned run sets it around the open: run/partition.c),
     * else every rank */
    int stream_part, stream_first, stream_end;
    dxt_trace_state *trace;
    dxt_text_state *text;
    dxt_live_state *live;
} dxt_input;


/* Index of op name in the input, or -1. */
int dxt_input_find_op(const dxt_input *in, const char *name);

/* ---- windows of one op ------------------------------------------------------ */

typedef struct dxt_op_stream dxt_op_stream;

/* Stream the windows of op over steps [from, to], window_steps steps each,
 * aligned on from. */
int dxt_op_stream_open(dxt_input *in, int op, int64_t from, int64_t to, int64_t window_steps,
                       dxt_op_stream **out, dxt_error *err);

/* The next window holding rows: wait (and tokens, when the op has them and
 * tokens is not NULL) n x n sums, 0 where a rank had rows but no wait;
 * rank_rows[i] the rows of rank i summed (0: rank i had none, its row is
 * meaningless). Returns 1 with a window, 0 at the end, -1 on error. */
int dxt_op_stream_next(dxt_op_stream *s, int64_t *first_step, int64_t *last_step,
                       double *wait, double *tokens, int64_t *rank_rows, dxt_error *err);
/* The same with rank_steps[i] (when not NULL), the steps rank i's rows cover:
 * its wait per step is wait / rank_steps. A trace row covers the steps since
 * the rank's row before (a row every K steps: K; the rank's first row: 1), less
 * those of a recorded drop (rows_dropped: their counts are in the next row, the
 * classifier leaves that window out); a text matrix or a live window: its rows. */
int dxt_op_stream_next_steps(dxt_op_stream *s, int64_t *first_step, int64_t *last_step,
                             double *wait, double *tokens, int64_t *rank_rows,
                             int64_t *rank_steps, dxt_error *err);

/* A window lent by its stream: the sums of dxt_op_stream_next_steps (tokens NULL
 * when the op has none) in the stream's own memory, no copy: valid until the
 * stream's next call or its close. The caller may write into them (the stream
 * clears or overwrites them before its next window). */
typedef struct dxt_window {
    int64_t first_step, last_step;
    double *wait, *tokens;
    int64_t *rank_rows, *rank_steps;
} dxt_window;
/* The next window holding rows, lent: 1, 0 at the end, -1 with err. */
int dxt_op_stream_lend(dxt_op_stream *s, dxt_window *w, dxt_error *err);

/* Steps consumed so far (for progress), of the total span. */
double dxt_op_stream_progress(const dxt_op_stream *s);

/* Closing also moves the stream's warnings (overlapping segments) to the input. */
void dxt_op_stream_close(dxt_op_stream *s);

/* ---- a partitioned run's helpers (load_parts.c; dxt_partition_block and
 * dxt_partition_agree are public: dxtanalysis.h) ----------------------------------- */
/* The ranks (or files) [*first, *end) of process index of count that a
 * partitioned run reads: contiguous blocks in process order, process 0's
 * smaller (a fraction of the others' from 2 processes, none from 7: it also
 * takes every window, classifies and reports). */
void dxt_partition_share(int n, int count, int index, int *first, int *end);
/* err: the exchange failed; returns -1. */
int dxt_partition_failed(dxt_error *err);
/* After an allgather whose process k's result is all[k * stride]: 0 when every
 * result is 0, else the lowest failing process's (-1 or -2), its message in err
 * on every process (that process's err holds it already). */
int dxt_partition_settle(const dxt_partition *p, const int64_t *all, int stride,
                         dxt_error *err);
/* 1 with err when p has more than DXT_PARTITION_MAX processes (the same everywhere). */
int dxt_partition_too_many(const dxt_partition *p, dxt_error *err);

/* ---- helpers shared by the loaders (input.c) ---------------------------------- */
int dxt_input_warn(dxt_input *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int dxt_input_skip(dxt_input *in, const char *path, const char *reason);
/* Group ranks into nodes of per_node (one node when n is not a multiple or n <= per_node). */
int dxt_input_nodes_by_count(dxt_input *in, int per_node);
void dxt_set_error(dxt_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s made safe to print (reports, terminals): printable ASCII is kept, a
 * backslash and every other byte (control characters, escape sequences,
 * non-ASCII) become \\ and \xHH, so a trace cannot forge report lines or
 * drive the terminal. Truncated to cap - 1; returns buf. */
const char *dxt_text_safe(const char *s, char *buf, size_t cap);

/* Loaders (load_trace.c, textin.c). */
int dxt_is_hdf5_file(const char *path); /* 1: starts with the HDF5 signature */
int dxt_trace_load(dxt_input *in, const char *dir, const dxt_input_opts *opts, dxt_error *err);
void dxt_trace_free(dxt_trace_state *t);
typedef struct dxt_trace_stream dxt_trace_stream; /* load_stream.c */
int dxt_trace_stream_open(dxt_input *in, int op, int64_t from, int64_t to, int64_t window_steps,
                          dxt_trace_stream **out, dxt_error *err);
/* The next window, lent: its slot of the stream's ring of window sums. */
int dxt_trace_stream_lend(dxt_trace_stream *s, dxt_window *w, dxt_error *err);
double dxt_trace_stream_progress(const dxt_trace_stream *s);
void dxt_trace_stream_close(dxt_trace_stream *s);
/* The most a trace stream of world n allocates (its ring of window sums and
 * tables; load_stream.c), for the memory check before an analysis. */
double dxt_trace_stream_most_bytes(int n);
int dxt_text_load(dxt_input *in, const char *path, const dxt_input_opts *opts, dxt_error *err);
void dxt_text_free(dxt_text_state *t);
/* Text windows: matrices first..last (steps are matrix indices) summed into
 * wait. Returns the matrices summed (0: none in that range). */
int dxt_text_window(const dxt_input *in, int op, int64_t first, int64_t last, double *wait,
                    int64_t *rank_rows);

/* Live inputs (live_input.c): windows fed by the caller, kept in memory (the
 * newest DXT_LIVE_MAX_WINDOWS of each op: each report analyzes them all, at
 * about 0.05-0.3 us per cell and window, so the history is bounded to keep a
 * sync-mode diagnosis short). Each fed window is one window of the analysis,
 * whatever window_steps asks. */
#define DXT_LIVE_MAX_WINDOWS 256
int dxt_live_input_new(const char *run_id, int n, const int *node_of, int per_node, int nops,
                       const char *const *ops, const char *unit, dxt_input **out,
                       dxt_error *err);
int dxt_live_input_add(dxt_input *in, int op, int64_t first, int64_t last, const double *wait,
                       const double *tokens, const int64_t *rank_rows, dxt_error *err);
/* The next window of op at or after *cursor inside [from, to]: 1 with the
 * window's sums, 0 at the end. */
int dxt_live_input_next(const dxt_input *in, int op, size_t *cursor, int64_t from, int64_t to,
                        int64_t *first, int64_t *last, double *wait, double *tokens,
                        int64_t *rank_rows);
void dxt_live_state_free(dxt_live_state *s);

#endif
