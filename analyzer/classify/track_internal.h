/* track_internal.h - the tracker's state, shared by track.c (windows kept,
 * the static judgement), classify_time.c and classify_scan.c (the calibrated
 * tests over time) and track_series.c (findings, plot series). Not for callers.
 * Owner: the classifier engineer (A1). */
#ifndef DXT_TRACK_INTERNAL_H
#define DXT_TRACK_INTERNAL_H

#include "classify_internal.h"

/* A finding is persistent when its windows above the noise are this share of
 * the windows from its onset to its end (a 30 % duty fault gives ~30-50 %). */
#define DXT_PERSISTENT_FRACTION 0.75

/* Windows kept: at most this many float cells (wait and tokens together);
 * past it adjacent windows are merged pairwise (256 MiB). */
#define DXT_TRACK_BUDGET_CELLS ((size_t)64 << 20)

struct dxt_tracker {
    char op[64];
    int n;
    dxt_judge judge;          /* the static judgement (classify.c) */
    dxt_classify_opts opts;
    double alpha_static, alpha_time; /* opts.alpha split between the judgement from step 0
                                      * and the tests over time (classify_time.c) */
    int windows, cap_windows;
    int64_t *first_steps, *last_steps; /* windows */
    float *vals;              /* windows x n*n wait per step; NAN: missing */
    float *toks;              /* windows x n*n tokens per step, or NULL */
    unsigned char *row_ok;    /* windows x n: the row of rank i is judged */
    int64_t *prev_rows;       /* n: rows of each rank in the previous window */
    int have_prev_rows, have_tokens;
    int analyzed;             /* findings are up to date */
    int longer;               /* judges the longer windows of a join (dxt_tracker_set_longer) */
    dxt_finding *findings;
    int nfindings, cap_findings;
    double *series_subject, *series_peers; /* windows, for dxt_tracker_series */
};

/* Windows the longer size of a join needs for its paths to join, and its
 * cells to be tested over time (dxt_tracker_join, classify_subjects.c). */
#define DXT_PATH_JOIN_WINDOWS 20

/* Analysis of the kept windows (classify_time.c): fills t->findings. */
int dxt_tracker_analyze(dxt_tracker *t);

/* Findings merged (track_series.c): one per subject, most ranks of a node as
 * the node, no shift of the whole job. -1 on out of memory. */
int dxt_tracker_merge(dxt_tracker *t);

/* Append a finding (track_series.c). -1 on out of memory. */
int dxt_tracker_push_finding(dxt_tracker *t, const dxt_finding *f);

/* The static judgement of one matrix (track.c): the classifier of one window
 * on the run's usual level of every cell (per-step wait, NAN missing), its
 * hits turned into findings over the steps first..last; with confirm, only
 * those about a subject of confirm[] too (the weaker of the two kept). */
int dxt_tracker_judge_static(dxt_tracker *t, const double *level, const double *tokens,
                             int64_t first, int64_t last, int windows, const dxt_hit *confirm,
                             int nconfirm);

/* Of hits[0..nhits), those the classifier of one window also finds on level
 * (about the same subject) are kept, moved to the front (track.c): their
 * count, -1 on out of memory. */
int dxt_tracker_keep_confirmed(dxt_tracker *t, const double *level, const double *tokens,
                               dxt_hit *hits, int nhits);

/* --- calibrated scans (classify_scan.c) ----------------------------------- */

/* log P(X >= k) for X ~ Binomial(n, p); the same for real k and n. */
double dxt_log_binom_tail(int k, int n, double p);
double dxt_log_binom_tail_real(double k, double n, double p);

/* Upper-tail probability of a standard normal. */
double dxt_normal_tail(double z);


/* The most significant segment of one subject's exceedance series. */
typedef struct dxt_segment {
    int first, last;          /* windows (indices), inclusive */
    int exceed, valid;        /* windows above the threshold / judged in it */
    double log_p;             /* log of its binomial tail */
    int whole;                /* the duty test's: the whole run, bursts all along */
} dxt_segment;

/* The null of one subject's exceedances: its rate ~ Beta(a, b), the class's
 * spread of rates; tau >= 1 the design effect of autocorrelated windows (a
 * count of k in n windows is judged as k / tau in n / tau independent ones). */
typedef struct dxt_null {
    double a, b, tau;
} dxt_null;

/* A class's null from its subjects' exceedance series (classify_scan.c):
 * dxt_count_transitions counts one series' transitions into t (from a
 * normal window, of those to an exceedance, from an exceedance, of those to
 * another); dxt_design_effect turns summed transitions into tau;
 * dxt_add_counts adds (sign -1: removes) a subject's x exceedances of n
 * windows to sums; dxt_class_prior fits the beta of the rates from sums and
 * the class's exceed of valid windows. */
void dxt_count_transitions(const unsigned char *ex, int W, int t[4]);
double dxt_design_effect(const long t[4]);
void dxt_add_counts(double sums[3], double x, double n, double sign);
void dxt_class_prior(const double sums[3], double exceed, double valid, double tau,
                     dxt_null *null);

/* log P(X >= k), X ~ BetaBinomial(n, a, b), real k and n. */
double dxt_log_bb_tail(double k, double n, double a, double b);

/* Scan ex[0..W) (1: above the threshold, 0: not, 2: not judged) for the
 * segment whose count of exceedances is least likely under the null updated
 * by the subject's windows outside the segment; segments with fewer than
 * min_out judged windows outside are not tried. work: 4 W + 2 ints. Returns 0
 * and *seg, or -1 when none. */
int dxt_scan_exceedances(const unsigned char *ex, int W, const dxt_null *null, int min_out,
                         int *work, dxt_segment *seg);

/* The duty test: an intermittent fault on from the start of the run (on and
 * off in bursts all along) leaves no normal stretch before it for the scan.
 * The count of its exceedances over the whole run against the class's
 * spread of rates and clustering (null, beta-binomial): seg is the run
 * from its first window above to its last (exceed, valid: the whole run's).
 * Tested only with a fifth to three quarters of the windows above (more:
 * persistent, the static judgement's), not in one run
 * (a level that fell) and each half of the run holding a quarter of them
 * (an onset or an end is the scan's). -1 when not tested. */
int dxt_duty_exceedances(const unsigned char *ex, int W, const dxt_null *null, dxt_segment *seg);

/* The tail of a class's standardized rises above u (its subjects' windows
 * more than u of their own scales above their level): P(Z > z) = rate
 * (1 + log(z / u) / scale)^-shape for z >= u, the predictive of a Pareto
 * tail (heavier than a normal one: the noise's spikes and regimes are in
 * it) whose index is not known. */
typedef struct dxt_tail {
    double u, rate, shape, scale;
} dxt_tail;

/* The tail from `excess` rises above u among `valid` windows, sum_log the
 * sum of their log(z / u) (a heavy tail's 5 pseudo rises added: few rises
 * say little; the rate no lower than the scan's floor). */
void dxt_tail_fit(double excess, double sum_log, double valid, double u, dxt_tail *tail);

/* Bursts of at most max_len windows: among the runs of ex[0..W) (1: above
 * the pass's threshold) starting at window `from` or later and no longer
 * than max_len, the least likely under the tail, each of its windows at
 * least as high as its lowest z[] (the subject's standardized rises, NAN
 * where not judged), autocorrelated windows counting 1/tau each; and never
 * below what the subject's own windows outside the run say (those as high:
 * a subject whose excursions recur is its own null). A fault of 1-3 windows
 * far above the noise, which a count of exceedances cannot tell from the
 * class's rate. Returns 0 and *seg, or -1 when none. */
int dxt_burst_exceedances(const double *z, const unsigned char *ex, int W, int from,
                          const dxt_tail *tail, double tau, int max_len, dxt_segment *seg);

/* How much better the windows of x[0..W) (NAN: not judged) fit a step on
 * [first, last] than a bend there, in variances of scale: two least-squares
 * models, each a line plus what the segment adds: a step (the level jumps
 * by one amount on the segment: a fault, persistent or in bursts, on a
 * level that may itself drift) or a bend (the slope changes at first and
 * after last, continuously: a drift that speeds up); the bend's extra
 * parameter (a segment that ends before the run does) priced as AIC does (2
 * variances). Spikes are clamped first (to 4 scales off the median of their
 * 5 neighbours: a warm-up window would pull the lines). Below 0: a drift.
 * NAN when it cannot be told. work: W doubles. */
double dxt_step_over_bend(const double *x, int W, int first, int last, double scale,
                          double *work);

/* The fewest exceedances (of valid judged windows) that can reach
 * log_p_needed (a bound to skip subjects cheaply). */
int dxt_min_exceedances(const dxt_null *null, int valid, double log_p_needed);

#endif
