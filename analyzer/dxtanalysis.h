/* dxtanalysis.h - the public header of libdxtanalysis, dxtrace's analysis: the
 * one piece of code behind both front ends, dxt-analyze (the post-mortem
 * command line, tools/dxt-analyze.c) and the live diagnosis of Python jobs
 * (python/dxtrace/diagnose.py, through ctypes).
 *
 *   post-mortem:  dxt_input_open -> dxt_analysis_run -> dxt_report_* -> free
 *   live:         dxt_live_new -> dxt_live_add_window ... -> dxt_live_report
 *   follow:       dxt_follow_new -> dxt_follow_poll ... -> dxt_follow_final -> free
 *                 (a trace directory read while it is written, dxt-analyze --follow)
 *
 * M[i][j] is the wait of rank i for rank j (row i comes from rank i's
 * counters): a high column is a slow source, a high row a slow destination, a
 * high cell a slow path. What each finding means, and the JSON report, are
 * the contract shared/contracts/report.md (docs/report.schema.json).
 *
 * Handles are opaque. Calls that can fail return 0, or a negative value with
 * one line in err saying what is wrong; nothing here prints or exits.
 * Owner: the analysis engineers (analyzer/). Inside, one folder per stage,
 * each using only the ones above it in this list:
 *   stats/     robust statistics (medians, quantiles, MAD)
 *   input/     the inputs: trace directories, DeepXTrace logs, text matrices,
 *              matrices fed live; streamed window by window
 *   classify/  the classifier: per-window judgement, tests over time, findings
 *   run/       one analysis: windows of each op fed to a tracker per op
 *   report/    text, JSON and CSV reports
 *   live.c     the live API below
 *   follow.c   the follow API below */
#ifndef DXTANALYSIS_H
#define DXTANALYSIS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dxt_format.h" /* dxt_error, DXT_MAX_OPS */

#define DXTA_API __attribute__((visibility("default")))

typedef struct dxt_input dxt_input;       /* an opened input */
typedef struct dxt_analysis dxt_analysis; /* the findings of one analysis */
typedef struct dxt_live dxt_live;         /* matrices fed by a running job */

/* ---- options ------------------------------------------------------------------ */

typedef struct dxt_input_opts {
    const char *run_id;   /* a trace: the run to analyze (NULL: the only one); a text
                           * matrix or DeepXTrace log: its run id (NULL: the file name) */
    int per_node;         /* ranks per node when the input names no nodes */
    const char *text_op;  /* op name given to text inputs */
    const char *unit;     /* unit of text inputs (NULL: cycles) */
    const struct dxt_partition *partition; /* a partitioned run (mpirun -n P dxt-analyze):
                           * each process validates its share of a trace's files, all
                           * get every file's metadata (every process opens the input
                           * with it; NULL: this process opens every file) */
} dxt_input_opts;

DXTA_API void dxt_input_opts_init(dxt_input_opts *opts);

typedef struct dxt_classify_opts {
    double min_severity;  /* observed / expected below this is never a finding (from step
                           * 0 judged on the rise of log(wait + floor), the smaller) */
    double min_score;     /* robust z below this is never a finding */
    double min_share;     /* share of the window's excess wait below this is not reported */
    int verbose;          /* 1: print per-window reasoning to stderr */
    /* (added by the classifier; defaults and why: dxt_classify_opts_init) */
    double min_path_severity;   /* slow_path against the cell's own history */
    double min_static_severity; /* a cell judged without history */
    double min_static_rank_severity; /* a rank judged without history */
    double min_token_ratio;     /* load_imbalance: tokens over the rank's usual */
    double alpha;               /* family-wise false-alarm rate of one op: a finding
                                 * needs p_value below it */
} dxt_classify_opts;

DXTA_API void dxt_classify_opts_init(dxt_classify_opts *opts); /* the defaults */

typedef void (*dxt_progress_fn)(void *user, const char *op, double fraction);

/* ---- a partitioned run: one process of several analyzing one trace ------------------ *
 * dxt-analyze under mpirun. Every process opens the same input and runs the same
 * analysis with its own partition: it streams the rows (the ranks, rows of M) of its
 * block only (dxt_partition_block), and at each window the blocks go to process 0,
 * which runs the classifier: process 0's analysis is the serial one (findings,
 * matrices, warnings; report it), the others' hold no findings (free them). The
 * exchanges are the caller's (MPI in dxt-analyze: tools/mpi/): every process calls
 * the hooks in the same order, and one that fails says so at the next exchange, so
 * none is left waiting; the run then fails on every process with the error of the
 * lowest failing one. Each hook returns 0, or nonzero when the exchange failed. */
#define DXT_PARTITION_MAX 1024 /* processes of one partitioned run, at most */

typedef struct dxt_partition {
    int index, count;        /* this process, of count (1: not partitioned) */
    void *user;
    /* all[k * nvals + v] = process k's mine[v], on every process */
    int (*allgather)(void *user, const int64_t *mine, int nvals, int64_t *all);
    /* process 0's buf receives rows first[k] .. first[k] + rows[k] - 1 of process k
     * (row_bytes each), which sends them from the same rows of its own buf */
    int (*gather_rows)(void *user, void *buf, size_t row_bytes, const int *first,
                       const int *rows);
    /* bytes of process from's buf to every process's buf */
    int (*bcast)(void *user, void *buf, size_t bytes, int from);
} dxt_partition;

/* The ranks [*first, *end) of process index of count, in n ranks: contiguous
 * blocks in process order, sizes differing by one at most. */
DXTA_API void dxt_partition_block(int n, int count, int index, int *first, int *end);

/* Agree on a result: rc is this process's (0: fine). 0 when every process's is 0;
 * else every process returns the rc of the lowest failing process, err its message. */
DXTA_API int dxt_partition_agree(const dxt_partition *p, int rc, dxt_error *err);

typedef struct dxt_analysis_opts {
    int64_t window_steps;    /* 0: 1, 2, 5 x 10^k steps, at most 100 windows */
    int64_t test_window_steps; /* the tests' windows when shorter than window_steps; 0: the
                              * default window (the tests also run in window_steps where
                              * longer, else in the long window of at most 20, their
                              * p-values joined: run/window.c); given, no long window but
                              * window_steps where longer: window_steps itself, the tests
                              * in window_steps alone */
    int64_t from, to;        /* steps analyzed; INT64_MIN / INT64_MAX: all */
    int nops;                /* ops chosen by name; 0: every op */
    const char *ops[DXT_MAX_OPS];
    dxt_classify_opts classify;
    dxt_progress_fn progress;/* NULL: none */
    void *progress_user;
    const dxt_partition *partition; /* NULL: this process analyzes everything */
} dxt_analysis_opts;

DXTA_API void dxt_analysis_opts_init(dxt_analysis_opts *opts);

/* ---- post-mortem ---------------------------------------------------------------- */

/* Open path, detecting the kind by content: a directory is a trace, a text
 * file holding "rank=<i> [" lines is a DeepXTrace log, other text is a plain
 * matrix. 0, or -1 with *out NULL and err saying why. */
DXTA_API int dxt_input_open(const char *path, const dxt_input_opts *opts, dxt_input **out,
                            dxt_error *err);
DXTA_API void dxt_input_free(dxt_input *in);

typedef struct dxt_input_info {
    const char *kind;        /* "trace", "deepxtrace-log", "matrix", "live" */
    const char *run_id, *unit;
    int world_size, nops, nfiles;
    int64_t first_step, last_step;
    int nskipped;            /* files not used: dxt_input_skipped */
    /* a trace being written (format/FORMAT.md, "Reading a file while it is written") */
    int64_t complete_step;   /* every present rank has rows up to this step: windows that
                              * end there are complete (INT64_MIN: a rank being written has
                              * no row yet); last_step when no file is being written */
    int nwriting;            /* files whose writer has not closed them (closed_unix_ns 0) */
    int nlegacy;             /* files without closed_unix_ns (older writers): counted as closed */
} dxt_input_info;

/* What was opened; the strings belong to in. */
DXTA_API void dxt_input_describe(const dxt_input *in, dxt_input_info *info);
/* The k-th file not used and why (0 <= k < nskipped); the strings belong to in. */
DXTA_API void dxt_input_skipped(const dxt_input *in, int k, const char **path,
                                const char **reason);

/* Run the analysis. 0; -2 when the request selects nothing (an unknown op, an
 * empty step range); -1 when it failed midway (read error, out of memory).
 * On error *out is NULL and err says why. in must outlive the analysis. */
DXTA_API int dxt_analysis_run(dxt_input *in, const dxt_analysis_opts *opts,
                              dxt_analysis **out, dxt_error *err);
DXTA_API void dxt_analysis_free(dxt_analysis *a);

/* Reports. 0, or -1 on a write error or out of memory. Text for people; JSON
 * (report format v1); CSV, one finding per line, or with _matrices the
 * per-window matrices (op,first_step,last_step,i,j,wait_per_step). */
DXTA_API int dxt_report_text(FILE *out, const dxt_analysis *a, int quiet);
DXTA_API int dxt_report_json(FILE *out, const dxt_analysis *a);
DXTA_API int dxt_report_csv(FILE *out, const dxt_analysis *a);
DXTA_API int dxt_report_csv_matrices(FILE *out, const dxt_analysis *a);

/* ---- live: windows fed by a running job ------------------------------------------ *
 * A job (rank 0 of DeepXTrace-style diagnosis) gathers every rank's counters
 * and feeds one N x N matrix per window; each report analyzes every window fed
 * so far with the same classifier as dxt-analyze, so findings carry their
 * history (onset, persistence, p-value). Memory and the cost of a report: the
 * newest 256 windows of each op (older ones are forgotten). */

/* run_id NULL: "live"; n world size; node_of: n node indices (0 .. nodes-1), or
 * NULL to group ranks by per_node (<= 0: 8) as dxt-analyze does; ops: nops
 * names; unit "us" or "cycles" (NULL: cycles). 0, or -1 with err filled. */
DXTA_API int dxt_live_new(const char *run_id, int n, const int *node_of, int per_node,
                          int nops, const char *const *ops, const char *unit,
                          dxt_live **out, char *err, size_t errlen);

/* One window of op (index in ops), steps first_step..last_step: wait is n x n
 * doubles, row-major, the wait of rank i for rank j summed over the window's
 * steps; tokens the same for tokens received, or NULL; steps_per_rank: n
 * values, the steps each rank summed into the window (0: no data from that
 * rank), or NULL when all are complete. NAN marks a missing value. Windows of
 * one op come in step order. 0, or -1 with err filled. */
DXTA_API int dxt_live_add_window(dxt_live *l, int op, int64_t first_step, int64_t last_step,
                                 const double *wait, const double *tokens,
                                 const int64_t *steps_per_rank, char *err, size_t errlen);

/* Analyze every window fed so far: *out is a malloc'd NUL-terminated report,
 * format 0 JSON (report format v1), 1 text; free it with dxt_live_free_string.
 * 0, or -1 with err filled (-2: nothing fed yet). */
DXTA_API int dxt_live_report(dxt_live *l, int format, char **out, char *err, size_t errlen);
DXTA_API void dxt_live_free_string(char *s);
DXTA_API void dxt_live_free(dxt_live *l);

/* ---- follow: a trace directory read while it is written ---------------------------- *
 * dxt-analyze --follow. Each poll re-opens the trace (live files are readable
 * between the recorder's flushes: format/FORMAT.md) and analyzes every window
 * that is closed, that is every window whose steps every present rank has
 * written (dxt_input_info.complete_step): windows have a fixed size, aligned on
 * the first step seen, so they do not change as the trace grows. For each window
 * closed since the last poll that has findings it writes one line: text, or
 * one JSON object (below). Cost: every poll analyzes the whole
 * trace again (as a post-mortem run of the steps closed so far). */

#define DXT_FOLLOW_WINDOW 20 /* steps per window when the options ask for none (more
                              * where a rank's rows are further apart) */

/* One JSON object per line and window with findings:
 *   {"first_step": A, "last_step": B, "events": [{"event": "new" | "active" | "ended",
 *    "kind", "op", "rank" | "src"+"dst" | "node"+"ranks"+"as", "first_step", "last_step",
 *    "severity", "score", "p_value", "share", "persistent", ...}, ...]}
 * an event's fields are those of a finding of the JSON report (docs/report.schema.json);
 * first_step..last_step of an event: the windows its finding was flagged in so far. */

typedef struct dxt_follow dxt_follow;

typedef struct dxt_follow_status {
    int have_input;          /* 1: the trace was read at this poll; 0: not (yet), err says why */
    int done;                /* every writer has closed its files (seen at two polls in a
                              * row), or the windows up to opts.to are all out: stop polling */
    int nfiles, nwriting, nlegacy; /* as in dxt_input_info, at this poll */
    int64_t closed_to;       /* windows up to this step are out; INT64_MIN: none yet */
    int windows;             /* windows out so far (lines only for those with findings) */
    int active;              /* findings active in the newest window out */
} dxt_follow_status;

/* Follow the trace directory dir. in_opts and opts as for a post-mortem run
 * (copied; the strings they point to must outlive f); opts->window_steps 0:
 * DXT_FOLLOW_WINDOW. 0, or -1 with err. */
DXTA_API int dxt_follow_new(const char *dir, const dxt_input_opts *in_opts,
                            const dxt_analysis_opts *opts, dxt_follow **out, dxt_error *err);

/* One poll: write a line to out for each window closed since the last poll that
 * has findings (json 0: text, 1: JSON), and fill st. A trace that cannot be read
 * (yet) is no failure: st->have_input 0 and err says why. 0, or -1 when the
 * analysis failed (read error, out of memory) or out could not be written. */
DXTA_API int dxt_follow_poll(dxt_follow *f, FILE *out, int json, dxt_follow_status *st,
                             dxt_error *err);

/* The analysis of everything the trace holds now, as a post-mortem run with the
 * same options and window would give (its input belongs to f: free the
 * analysis before f). 0; -2 when there is no usable input or the request
 * selects nothing; -1 when it failed midway. */
DXTA_API int dxt_follow_final(dxt_follow *f, dxt_analysis **out, dxt_error *err);
DXTA_API void dxt_follow_free(dxt_follow *f);

#endif
