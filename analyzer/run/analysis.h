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
    dxt_tracker *tracker;    /* findings, per-window series of a finding (test_steps) */
    dxt_tracker *coarse;     /* the tests in windows of coarse_steps, where those are
                              * longer; its findings join tracker's (run/window.c) */
    int windows;             /* windows fed */
    int64_t first_step, last_step; /* of the windows fed; -1 when none */
    double *total;           /* n x n wait summed over every window, input unit; 0: none */
    double *total_tokens;    /* n x n, or NULL without tokens */
    int64_t *rank_rows;      /* n: rows summed per rank */
    int64_t *rank_steps;     /* n: the steps those rows cover (input.h): wait per step is
                              * total / rank_steps (a row every K steps covers K) */
} dxt_op_result;

typedef struct dxt_analysis {
    dxt_input *in;           /* not owned */
    dxt_topology topo;       /* points into in */
    int64_t window_steps;    /* of the matrices, pictures and report (--window) */
    int64_t test_steps;      /* of the windows fed to the trackers: window_steps, or the
                              * default window where that is shorter (setup, window.c) */
    int64_t coarse_steps;    /* of the windows fed to ops' coarse trackers: window_steps
                              * where test_steps is shorter, else the long window
                              * (dxt_long_window) unless --test-window is given; tested
                              * only where longer than test_steps */
    int64_t from, to;
    int nops;
    dxt_op_result ops[DXT_MAX_OPS];
} dxt_analysis;

/* Do the tests run in two window sizes: test_steps, and coarse_steps too (a
 * coarse tracker per op, whose findings join the other's)? */
static inline int dxt_two_sizes(const dxt_analysis *a) { return a->test_steps < a->coarse_steps; }

/* The size of the tests' windows other than the report's: test_steps where
 * those are shorter, else coarse_steps (where dxt_two_sizes). */
static inline int64_t dxt_other_size(const dxt_analysis *a)
{
    return a->test_steps < a->window_steps ? a->test_steps : a->coarse_steps;
}

/* Steps per window for a span of steps with a row every `every` steps: the
 * smallest 1, 2, 5 x 10^k of at least `every` steps giving at most 100 windows
 * (so 40 .. 100 windows on traces of 40 steps or more and a row every step). */
int64_t dxt_default_window(int64_t span, int64_t every);

/* The tests' long windows, where no --window asks for longer ones: the same
 * ladder giving at most 20 windows (a weak fault that lasts stands out of
 * the noise of longer windows); 0 where that leaves fewer than 8 windows. */
int64_t dxt_long_window(int64_t span, int64_t every);
#endif
