/* analysis.h - one run of dxt-analyze's analysis: windows of each op streamed
 * from an input (input.h), fed to a tracker per op (classify.h), and what the
 * reports and plots need afterwards: per op the tracker and the whole-range
 * matrix. Internal to the analyzer.
 * Owner: the loader/report engineer (A2); plots (plots/) read these results. */
#ifndef DXT_ANALYSIS_H
#define DXT_ANALYSIS_H

#include <stdint.h>
#include <stdio.h>

#include "classify.h"
#include "input.h"

typedef struct dxt_op_result {
    char name[DXT_OP_NAME_MAX];
    int input_op;            /* index in the input's ops */
    dxt_tracker *tracker;    /* findings, per-window series of a finding */
    int windows;             /* windows fed */
    int64_t first_step, last_step; /* of the windows fed; -1 when none */
    double *total;           /* n x n wait summed over every window, input unit; 0: none */
    double *total_tokens;    /* n x n, or NULL without tokens */
    int64_t *rank_rows;      /* n: rows summed per rank */
} dxt_op_result;

typedef struct dxt_analysis {
    dxt_input *in;           /* not owned */
    dxt_topology topo;       /* points into in */
    int64_t window_steps, from, to;
    int nops;
    dxt_op_result ops[DXT_MAX_OPS];
} dxt_analysis;

typedef void (*dxt_progress_fn)(void *user, const char *op, double fraction);

typedef struct dxt_analysis_opts {
    int64_t window_steps;    /* 0: dxt_default_window of the step span */
    int64_t from, to;        /* steps analyzed; INT64_MIN / INT64_MAX: all */
    int nops;                /* ops chosen by name; 0: every op */
    const char *ops[DXT_MAX_OPS];
    dxt_classify_opts classify;
    dxt_progress_fn progress;/* NULL: none */
    void *progress_user;
} dxt_analysis_opts;

void dxt_analysis_opts_init(dxt_analysis_opts *opts);

/* Steps per window for a span of steps: the smallest 1, 2, 5 x 10^k giving at
 * most 100 windows (so 40 .. 100 windows on traces of 40 steps or more). */
int64_t dxt_default_window(int64_t span);

/* Run the analysis. Returns 0; -2 when the request selects nothing (an
 * unknown op, an empty step range); -1 when it failed midway (read error, out
 * of memory). On error *out is NULL and err says why. */
int dxt_analysis_run(dxt_input *in, const dxt_analysis_opts *opts, dxt_analysis **out,
                     dxt_error *err);
void dxt_analysis_free(dxt_analysis *a);

/* Reports (report_text.c, report_json.c). Return 0, or -1 on a write error or
 * out of memory. */
int dxt_report_text(FILE *out, const dxt_analysis *a, int quiet);
int dxt_report_json(FILE *out, const dxt_analysis *a);
/* report_csv.c: the findings as CSV (a header line, one finding per line), or
 * the per-window matrices (op,first_step,last_step,i,j,wait_per_step). */
int dxt_report_csv(FILE *out, const dxt_analysis *a);
int dxt_report_csv_matrices(FILE *out, const dxt_analysis *a);

/* Shared by the reports (report_stats.c): per-step medians of the whole-range
 * matrix within and across nodes (NAN when none), and the worst cells. */
typedef struct dxt_cell {
    int dst, src;
    double per_step;         /* wait per recorded step of dst */
    double vs_typical;       /* per_step over the median of its kind (intra/inter) */
} dxt_cell;

typedef struct dxt_op_summary {
    double intra_median, inter_median;
    int ncells;
    dxt_cell worst[5];
} dxt_op_summary;

int dxt_op_summarize(const dxt_analysis *a, const dxt_op_result *r, dxt_op_summary *out);

/* Every op's findings, most important first across ops (severity x share, as
 * the tracker ranks one op's). *out: a malloc'd array the caller frees (NULL
 * when none). Returns the count, or -1 on out of memory. */
int dxt_ranked_findings(const dxt_analysis *a, const dxt_finding ***out);

#endif
