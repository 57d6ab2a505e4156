/* classify_time.c - the classifier's judgement of a whole op (track_internal.h):
 * every kept window at once, each decision a test against a null measured on
 * the trace itself, the false-alarm rate controlled over the whole op.
 * Owner: the classifier engineer (A1).
 *
 *  1. y = log(wait per step + floor) per cell and window; floor: a fifth of
 *     the op's median positive wait (exact zeros, real DeepEP dispatch, and
 *     clipped intra-node cells do not explode). A cell never above zero is no
 *     traffic (missing). Leading windows far above the run's level are warm-up
 *     and left out.
 *  2. base: each cell's lower quartile over the windows (a fault on for up to
 *     three quarters of the run is not learnt; no window's luck locks in).
 *     The base matrix itself is judged by the one-window classifier
 *     (classify.c): faults present from step 0 (track.c).
 *  3. per window, D = y - base split by median polish into an overall level,
 *     row effects (slow destination), column effects (slow source) and cell
 *     residuals (slow path); node effects are the median of their ranks'.
 *  4. each subject's series is standardized by its own scale (MAD of its
 *     window-to-window differences: a change of level does not inflate it),
 *     shrunk to its class's; windows above the threshold are exceedances, the
 *     class's rate of them (the other subjects') is the null, and the scan of
 *     classify_scan.c finds the least likely segment: its onset, end, duty and
 *     p-value (Bonferroni over every subject and segment of the op).
 *  5. paths are judged without the windows in which their row or column was
 *     found slow (a late rank's row is no evidence; its column's cells rise
 *     unevenly); most ranks of a node alike make a slow_node; a rank whose
 *     tokens rose with its wait is a load_imbalance. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "track_internal.h"

#define EXCEED_Z 3.0          /* standardized effect that marks a window */
#define MIN_RATE 0.002        /* null rate floor: one clean class proves little */
#define PRIOR_WINDOWS 20.0    /* most weight of the class's rates, in windows of a subject */
#define SHRINK_WINDOWS 10.0   /* weight of the class scale, in windows */
#define MIN_RANK_SCALE 0.01   /* log units */
#define MIN_CELL_SCALE 0.02
#define BASE_QUANTILE 0.25
#define WARMUP_MAX 3          /* leading windows that may be warm-up */
#define NODE_FRACTION 0.75    /* share of a node's ranks flagged alike: a slow_node */
#define MIN_WINDOWS 4         /* fewer usable windows: the static judgement only */
#define MIN_OUTSIDE 0.1       /* share of judged windows outside a segment (a change) */
#define POLISH_ITERS 1        /* D is centred on each cell already: one sweep settles it */
#define DESIGN_PRIOR 2.0      /* transitions shrinking P(1|1) towards P(1|0) */
#define MAX_RHO 0.9           /* autocorrelation cap of exceedances (tau <= 19) */

enum { SUBJ_SRC, SUBJ_DST, SUBJ_NODE_SRC, SUBJ_NODE_DST, SUBJ_CELL_INTRA, SUBJ_CELL_INTER };

typedef struct tview {
    dxt_tracker *t;
    int n, W, usable;
    size_t nn;
    double floor_;
    float *y;                 /* W x nn: log wait, then residuals */
    float *yc;                /* nn x W: the same by cell (contiguous series) */
    double *base, *rowe, *cole, *x, *scratch, *own;
    double *ywin, *lbuf;      /* one window's log matrix; line standings (early_rank) */
    unsigned char *use, *ever, *ex, *mask_col, *mask_row;
    int *work;
    double log_alpha_subject; /* log(alpha / subjects of the op) */
} tview;

static void view_free(tview *v)
{
    free(v->y), free(v->yc), free(v->base), free(v->rowe), free(v->cole), free(v->x);
    free(v->scratch), free(v->own), free(v->use), free(v->ever), free(v->ex);
    free(v->mask_col), free(v->mask_row), free(v->work), free(v->ywin), free(v->lbuf);
}

static int view_alloc(tview *v, dxt_tracker *t)
{
    memset(v, 0, sizeof *v);
    v->t = t, v->n = t->n, v->W = t->windows, v->nn = (size_t)t->n * t->n;
    size_t W = (size_t)v->W, n = (size_t)v->n, big = v->nn > W ? v->nn : W;
    v->y = malloc(W * v->nn * sizeof *v->y);
    v->yc = malloc(W * v->nn * sizeof *v->yc);
    v->base = malloc(v->nn * sizeof *v->base);
    v->rowe = malloc(W * n * sizeof *v->rowe);
    v->cole = malloc(W * n * sizeof *v->cole);
    v->x = malloc(W * sizeof *v->x);
    v->scratch = malloc((2 * big + 3 * W + 2 * n) * sizeof *v->scratch);
    v->own = malloc(v->nn * sizeof *v->own);
    v->use = malloc(W), v->ever = calloc(v->nn, 1), v->ex = malloc(W);
    v->mask_col = calloc(W * n, 1), v->mask_row = calloc(W * n, 1);
    v->work = malloc((4 * W + 2) * sizeof *v->work);
    v->ywin = malloc(v->nn * sizeof *v->ywin);
    v->lbuf = malloc((2 * n + 2 * W) * sizeof *v->lbuf);
    return v->y && v->yc && v->base && v->rowe && v->cole && v->x && v->scratch && v->own && v->use &&
           v->ever && v->ex && v->mask_col && v->mask_row && v->work && v->ywin && v->lbuf ? 0 : -1;
}

/* Cells with traffic, the floor, and y = log(wait + floor). */
static int build_logs(tview *v)
{
    const dxt_tracker *t = v->t;
    /* the floor from positive waits sampled across every window (at most nn of
     * them: the first nn would all come from window 0, the warm-up) */
    size_t count = 0, stride = (size_t)v->W, seen = 0;
    for (int w = 0; w < v->W; w++)
        for (size_t c = 0; c < v->nn; c++) {
            float f = t->vals[(size_t)w * v->nn + c];
            if (f > 0.0f && t->row_ok[(size_t)w * v->n + c / v->n]) {
                v->ever[c] = 1;
                if (seen++ % stride == 0 && count < v->nn) v->scratch[count++] = f;
            }
        }
    double med = dxt_median_inplace(v->scratch, count);
    if (!(med > 0.0)) return -1;
    v->floor_ = 0.2 * med;
    for (int w = 0; w < v->W; w++)
        for (size_t c = 0; c < v->nn; c++) {
            size_t k = (size_t)w * v->nn + c;
            float f = t->vals[k];
            int ok = v->ever[c] && t->row_ok[(size_t)w * v->n + c / v->n];
            v->y[k] = ok ? logf((isnan(f) || f < 0.0f ? 0.0f : f) + (float)v->floor_) : NAN;
        }
    return 0;
}

/* Median of window w's cells (sampled). */
static double window_level(tview *v, int w)
{
    size_t count = 0, stride = v->nn / 4096 + 1;
    for (size_t c = 0; c < v->nn; c += stride)
        if (!isnan(v->y[(size_t)w * v->nn + c])) v->scratch[count++] = v->y[(size_t)w * v->nn + c];
    return dxt_median_inplace(v->scratch, count);
}

/* Usable windows: with data, and not leading warm-up (a level far above the run's). */
static void find_usable(tview *v)
{
    double *level = v->x;
    size_t count = 0;
    for (int w = 0; w < v->W; w++) {
        level[w] = window_level(v, w);
        v->use[w] = !isnan(level[w]);
    }
    double *buf = v->scratch + v->nn;
    for (int w = 0; w < v->W; w++)
        if (v->use[w]) buf[count++] = level[w];
    if (count >= 5) {
        for (int w = 0; w < v->W; w++) v->scratch[w] = level[w];
        double center = dxt_median_inplace(buf, count);
        for (size_t k = 0, m = 0; k < (size_t)v->W; k++)
            if (v->use[k]) buf[m++] = fabs(v->scratch[k] - center);
        double spread = 1.4826 * dxt_median_inplace(buf, count);
        double limit = fmax(log(1.5), 6.0 * spread);
        for (int w = 0; w < v->W && w < WARMUP_MAX; w++) {
            if (!v->use[w]) continue;
            if (v->scratch[w] - center <= limit) break;
            v->use[w] = 0;
        }
    }
    v->usable = 0;
    for (int w = 0; w < v->W; w++) v->usable += v->use[w];
}

/* y (window-major) into yc (cell-major), in cache-sized blocks. */
static void transpose(tview *v)
{
    enum { BLOCK = 64 };
    for (size_t c0 = 0; c0 < v->nn; c0 += BLOCK)
        for (int w0 = 0; w0 < v->W; w0 += BLOCK)
            for (size_t c = c0; c < c0 + BLOCK && c < v->nn; c++)
                for (int w = w0; w < w0 + BLOCK && w < v->W; w++)
                    v->yc[c * v->W + w] = v->y[(size_t)w * v->nn + c];
}

/* base[c]: the lower quartile of the cell's usable windows. */
static void build_base(tview *v)
{
    transpose(v);
    for (size_t c = 0; c < v->nn; c++) {
        size_t count = 0;
        const float *series = v->yc + c * v->W;
        for (int w = 0; w < v->W; w++)
            if (v->use[w] && !isnan(series[w])) v->scratch[count++] = series[w];
        v->base[c] = count ? dxt_select_kth(v->scratch, count,
                                            (size_t)(BASE_QUANTILE * (double)(count - 1)))
                           : NAN;
    }
}

/* Median of line l of window w's residuals (by_col: a column). */
static double line_median(tview *v, float *r, int l, int by_col)
{
    size_t count = 0;
    for (int k = 0; k < v->n; k++) {
        float f = by_col ? r[(size_t)k * v->n + l] : r[(size_t)l * v->n + k];
        if (!isnan(f)) v->scratch[count++] = f;
    }
    return dxt_median_inplace(v->scratch, count);
}

/* Shift of the whole job in this window: the lower quartile of the effects
 * (not their median: a slow node may be half the ranks) is taken out; with
 * fewer than 8 ranks (one node) the median. */
static void recenter(tview *v, double *eff)
{
    size_t count = 0;
    for (int l = 0; l < v->n; l++)
        if (!isnan(eff[l])) v->scratch[count++] = eff[l];
    if (count == 0) return;
    /* under 8 ranks the lower quartile is the lowest rank alone: the median */
    double q = count < 8 ? 0.5 : BASE_QUANTILE;
    double low = dxt_select_kth(v->scratch, count, (size_t)(q * (double)(count - 1)));
    for (int l = 0; l < v->n; l++) eff[l] -= low;
}

/* D = y - base of window w, median-polished: rowe, cole, residuals in y. */
static void polish_window(tview *v, int w)
{
    float *r = v->y + (size_t)w * v->nn;
    double *re = v->rowe + (size_t)w * v->n, *ce = v->cole + (size_t)w * v->n;
    for (size_t c = 0; c < v->nn; c++) r[c] = (float)(r[c] - v->base[c]);
    for (int l = 0; l < v->n; l++) re[l] = ce[l] = 0.0;
    if (!v->use[w]) {
        for (int l = 0; l < v->n; l++) re[l] = ce[l] = NAN;
        return;
    }
    /* columns first: with 2-3 ranks a line holds 1-2 cells and whatever is
     * polished first takes the whole change; a rank whose waits for the
     * others fell while theirs for it rose is late (lesson 1: a late rank
     * waits for nobody), which columns first reads as its column. With more
     * ranks one high cell moves no line median and the order does not matter. */
    for (int it = 0; it < POLISH_ITERS; it++)
        for (int by_col = 1; by_col >= 0; by_col--) {
            double *eff = by_col ? ce : re;
            for (int l = 0; l < v->n; l++) {
                double m = line_median(v, r, l, by_col);
                if (isnan(m)) {
                    if (it == 0) eff[l] = NAN;
                    continue;
                }
                eff[l] += m;
                for (int k = 0; k < v->n; k++)
                    r[by_col ? (size_t)k * v->n + l : (size_t)l * v->n + k] -= (float)m;
            }
        }
    recenter(v, ce);
    recenter(v, re);
}

/* --- subjects ------------------------------------------------------------ */

/* Ranks of node a (a node of one rank is that rank: not a node subject). */
static int node_size(const dxt_judge *j, int a)
{
    return j->node_start[a + 1] - j->node_start[a];
}

typedef struct subject {
    int kind, id;             /* SUBJ_*; rank, node or cell index */
} subject;

/* The series of a subject into v->x (NAN: not judged). */
static void series_of(tview *v, subject s)
{
    const dxt_judge *j = &v->t->judge;
    for (int w = 0; w < v->W; w++) {
        double val = NAN;
        if (!v->use[w]) {
        } else if (s.kind == SUBJ_SRC) {
            val = v->cole[(size_t)w * v->n + s.id];
        } else if (s.kind == SUBJ_DST) { /* a late rank's row is no evidence */
            val = v->mask_col[(size_t)w * v->n + s.id] ? NAN : v->rowe[(size_t)w * v->n + s.id];
        } else if (s.kind == SUBJ_NODE_SRC || s.kind == SUBJ_NODE_DST) {
            int dst = s.kind == SUBJ_NODE_DST;
            const double *e = (dst ? v->rowe : v->cole) + (size_t)w * v->n;
            size_t count = 0;
            for (int p = j->node_start[s.id]; p < j->node_start[s.id + 1]; p++) {
                int r = j->members[p];
                if (!isnan(e[r]) && !(dst && v->mask_col[(size_t)w * v->n + r]))
                    v->scratch[count++] = e[r];
            }
            /* the effect most of its ranks reach (NODE_FRACTION of them): a
             * node is slow when all its ranks are (the contract), and the
             * median of a 2-rank node is half of one slow rank */
            size_t need = (size_t)ceil(NODE_FRACTION * (double)(j->node_start[s.id + 1] -
                                                                j->node_start[s.id]));
            val = count >= need && need > 0 ? dxt_select_kth(v->scratch, count, count - need) : NAN;
        } else {
            int i = s.id / v->n, k = s.id % v->n;
            int masked = v->mask_row[(size_t)w * v->n + i] || v->mask_col[(size_t)w * v->n + k];
            val = masked ? NAN : v->yc[(size_t)s.id * v->W + w];
        }
        v->x[w] = val;
    }
}

/* Own robust scale of v->x: MAD of window-to-window differences / sqrt 2. */
static double own_scale(tview *v, int *pairs)
{
    size_t count = 0;
    double prev = NAN;
    for (int w = 0; w < v->W; w++) {
        if (isnan(v->x[w])) continue;
        if (!isnan(prev)) v->scratch[count++] = fabs(v->x[w] - prev);
        prev = v->x[w];
    }
    *pairs = (int)count;
    return count ? 1.4826 * dxt_median_inplace(v->scratch, count) / sqrt(2.0) : NAN;
}

/* Lower quartile of v->x (the subject's usual level). */
static double series_base(tview *v)
{
    size_t count = 0;
    for (int w = 0; w < v->W; w++)
        if (!isnan(v->x[w])) v->scratch[count++] = v->x[w];
    return count ? dxt_select_kth(v->scratch, count, (size_t)(BASE_QUANTILE * (double)(count - 1)))
                 : NAN;
}

typedef struct class_stats {
    double pooled, min_scale, min_shift;
    long exceed, valid;
} class_stats;

/* Standardize the subject's series and mark its exceedances in v->ex;
 * returns the count, *valid the windows judged, *level its base. */
static int mark_exceedances(tview *v, subject s, double scale, const class_stats *cs,
                            int *valid, double *level)
{
    series_of(v, s);
    double b = series_base(v);
    int count = 0;
    *valid = 0;
    *level = b;
    for (int w = 0; w < v->W; w++) {
        if (isnan(v->x[w]) || isnan(b)) {
            v->ex[w] = 2;
            continue;
        }
        double d = v->x[w] - b;
        v->ex[w] = d / scale > EXCEED_Z && d >= cs->min_shift;
        count += v->ex[w];
        (*valid)++;
    }
    return count;
}

/* A subject's scale: its own (from `pairs` differences), shrunk to the class's. */
static double shrink_scale(double own, int pairs, const class_stats *cs)
{
    double s2 = isnan(own) ? cs->pooled * cs->pooled
                           : (own * own * pairs + cs->pooled * cs->pooled * SHRINK_WINDOWS) /
                                 (pairs + SHRINK_WINDOWS);
    double sc = sqrt(s2);
    return sc > cs->min_scale ? sc : cs->min_scale;
}

/* A finding of subject s on segment seg (shift: median log rise). */
static int emit(tview *v, subject s, const dxt_segment *seg, double level, double scale,
                double p_adj);

/* Test every subject of a class; emit the significant ones. */
/* Scales of the class's subjects: each its own, shrunk to the class's. */
static void class_scales(tview *v, const subject *subs, int count, class_stats *cs,
                         double *scale, int *pairs)
{
    size_t m = 0;
    double *buf = v->scratch + v->nn + 2 * (size_t)v->W;
    for (int k = 0; k < count; k++) {
        series_of(v, subs[k]);
        scale[k] = own_scale(v, &pairs[k]);
        if (!isnan(scale[k])) buf[m++] = scale[k];
    }
    cs->pooled = m ? dxt_median_inplace(buf, m) : cs->min_scale;
    if (!(cs->pooled > cs->min_scale)) cs->pooled = cs->min_scale;
    for (int k = 0; k < count; k++) scale[k] = shrink_scale(scale[k], pairs[k], cs);
}

/* An onset needs normal windows before it (at least 3, and 5 % of the judged
 * ones): a segment from the start of the run has none, the subject's level fell
 * later (a late rank's row drops to ~0 and its earlier windows look high
 * against the drop), it did not rise. What was slow from the start is the
 * static judgement's. */
static int starts_run(const tview *v, int first)
{
    int before = 0;
    for (int w = 0; w < first; w++) before += v->use[w];
    return before < 3 || before < 0.05 * v->usable;
}

/* Transitions of an exceedance series between judged neighbours: t[0] from
 * a normal window, t[1] of those to an exceedance, t[2] from an exceedance,
 * t[3] of those to another. */
static void count_transitions(const unsigned char *ex, int W, long t[4])
{
    t[0] = t[1] = t[2] = t[3] = 0;
    int prev = 2;
    for (int w = 0; w < W; w++) {
        if (ex[w] == 2) continue;
        if (prev != 2) {
            t[prev ? 2 : 0]++;
            t[prev ? 3 : 1] += ex[w];
        }
        prev = ex[w];
    }
}

/* The design effect of exceedances with these transitions: under a two-state
 * Markov chain the lag-1 autocorrelation is rho = P(1|1) - P(1|0) and the
 * count over n windows varies like that of n / tau independent ones, tau =
 * (1 + rho) / (1 - rho). Regimes (real DeepEP: the rank that launches last
 * stays late for hundreds of steps) and drifts make exceedances come in runs;
 * counting them as independent windows made every regime a finding. P(1|1)
 * is shrunk towards P(1|0) by DESIGN_PRIOR transitions (few exceedances say
 * little); rho is capped (tau <= 19). */
static double design_effect(const long t[4])
{
    double p01 = (t[1] + 0.5) / (t[0] + 1.0);
    double p11 = (t[3] + DESIGN_PRIOR * p01) / (t[2] + DESIGN_PRIOR);
    double rho = p11 - p01;
    if (!(rho > 0.0)) return 1.0;
    if (rho > MAX_RHO) rho = MAX_RHO;
    return (1.0 + rho) / (1.0 - rho);
}

/* log(alpha / the tests of one subject): its share of alpha (every subject
 * of the op alike) over the segments of usable / tau effective windows. */
static double log_needed(const tview *v, double tau)
{
    double weff = v->usable / tau;
    return v->log_alpha_subject - log(0.5 * weff * (weff + 1.0) > 1.0 ? 0.5 * weff * (weff + 1.0)
                                                                      : 1.0);
}

static void print_class(tview *v, const subject *subs, int count, const class_stats *cs,
                        const double *scale, int *valid, double tau);

/* Sums over subjects of x^2, x n and n^2 (x exceedances of n windows). */
static void add_counts(double sums[3], double x, double n, double sign)
{
    sums[0] += sign * x * x, sums[1] += sign * x * n, sums[2] += sign * n * n;
}

/* The beta prior of a subject's rate from the other subjects of its class
 * (exceed of valid windows, sums: add_counts): the mean rate m, and the
 * spread by moments: their counts vary phi times as much as binomial ones,
 * phi = tau (1 + (n_w - 1) rho) (n_w the weighted mean windows, tau the
 * design effect, rho the correlation of windows of one subject), so a + b =
 * (1 - rho) / rho, at most PRIOR_WINDOWS (past that the subject's own history
 * outside a segment weighs as much as the class: a cell that flickers all
 * run long is its own null). */
static void class_prior(const double sums[3], double exceed, double valid, double tau,
                        dxt_null *null)
{
    double m = (exceed + 1.0) / (valid + 2.0);
    if (m < MIN_RATE) m = MIN_RATE;
    double ss = sums[0] - 2.0 * m * sums[1] + m * m * sums[2];
    double phi = valid > 0.0 ? ss / (m * (1.0 - m) * valid) / tau : 1.0;
    double nw = valid > 0.0 ? sums[2] / valid : 1.0;
    double rho = nw > 1.0 ? (phi - 1.0) / (nw - 1.0) : 0.0;
    double size = rho > 0.0 ? (1.0 - rho) / rho : PRIOR_WINDOWS;
    if (size > PRIOR_WINDOWS) size = PRIOR_WINDOWS;
    if (size < 1.0) size = 1.0;
    null->a = m * size;
    null->b = (1.0 - m) * size;
}

/* Window w's log wait per step (as in build_logs) into v->ywin. */
static void window_logs(tview *v, int w)
{
    const dxt_tracker *t = v->t;
    for (size_t c = 0; c < v->nn; c++) {
        float f = t->vals[(size_t)w * v->nn + c];
        int ok = v->ever[c] && t->row_ok[(size_t)w * v->n + c / v->n] && c / v->n != c % v->n;
        v->ywin[c] = ok ? log((isnan(f) || f < 0.0f ? 0.0 : f) + v->floor_) : NAN;
    }
}

/* Is a high row of rank r on seg an early rank rather than a slow receiver
 * (dxt_early_standing), in the windows of seg that are exceedances? */
static int early_rank(tview *v, int r, const dxt_segment *seg)
{
    double *cols = v->lbuf + 2 * (size_t)v->n, *rows = cols + v->W;
    size_t count = 0;
    for (int w = seg->first; w <= seg->last; w++) {
        if (v->ex[w] != 1) continue;
        window_logs(v, w);
        dxt_line_standing(v->ywin, v->n, r, v->lbuf, &cols[count], &rows[count]);
        count++;
    }
    return count && dxt_early_standing(dxt_median_inplace(cols, count),
                                       dxt_median_inplace(rows, count));
}

/* A rank whose line stands out in a window, found slow or not, makes that
 * window no evidence about the cells of its line: a late rank waits for
 * nobody and the others' waits for it rise unevenly (clipped cells rise most),
 * which leaves residuals in its cells that are no path (real DeepEP: the host
 * that launches last changes every few hundred steps; with 4 ranks every such
 * regime left false paths). v->ex holds the rank's exceedances. */
static void mask_rank_windows(tview *v, subject s)
{
    if (s.kind != SUBJ_SRC && s.kind != SUBJ_DST) return;
    for (int w = 0; w < v->W; w++) {
        if (v->ex[w] != 1) continue;
        v->mask_row[(size_t)w * v->n + s.id] = 1;
        if (s.kind == SUBJ_SRC) v->mask_col[(size_t)w * v->n + s.id] = 1;
    }
}

/* Test every subject of a class; emit the significant ones. The null of a
 * subject comes from the class's other subjects: their rate of exceedances
 * and how they cluster in time (its own, outside a segment, in the scan). */
static int test_class(tview *v, const subject *subs, int count, class_stats *cs)
{
    double *scale = v->own, level;
    int *ex_count = malloc((size_t)(count ? count : 1) * sizeof *ex_count);
    int *valid = malloc((size_t)(count ? count : 1) * sizeof *valid), rc = -1;
    long (*tr)[4] = malloc((size_t)(count ? count : 1) * sizeof *tr), all[4] = {0, 0, 0, 0};
    if (!ex_count || !valid || !tr) goto fail;
    class_scales(v, subs, count, cs, scale, valid);
    cs->exceed = cs->valid = 0;
    for (int k = 0; k < count; k++) {
        ex_count[k] = mark_exceedances(v, subs[k], scale[k], cs, &valid[k], &level);
        cs->exceed += ex_count[k], cs->valid += valid[k];
        count_transitions(v->ex, v->W, tr[k]);
        for (int q = 0; q < 4; q++) all[q] += tr[k][q];
        mask_rank_windows(v, subs[k]);
    }
    if (v->t->opts.verbose > 1) print_class(v, subs, count, cs, scale, valid, design_effect(all));
    double sums[3] = {0.0, 0.0, 0.0};
    for (int k = 0; k < count; k++) add_counts(sums, ex_count[k], valid[k], 1.0);
    for (int k = 0; k < count; k++) {
        long others[4];
        for (int q = 0; q < 4; q++) others[q] = all[q] - tr[k][q];
        dxt_null null;
        null.tau = design_effect(others);
        add_counts(sums, ex_count[k], valid[k], -1.0);
        class_prior(sums, cs->exceed - ex_count[k], cs->valid - valid[k], null.tau, &null);
        add_counts(sums, ex_count[k], valid[k], 1.0);
        double needed = log_needed(v, null.tau);
        if (ex_count[k] < dxt_min_exceedances(&null, valid[k], needed)) continue;
        dxt_segment seg;
        mark_exceedances(v, subs[k], scale[k], cs, &valid[k], &level);
        int min_out = (int)ceil(MIN_OUTSIDE * valid[k]);
        if (dxt_scan_exceedances(v->ex, v->W, &null, min_out > 3 ? min_out : 3, v->work, &seg) ||
            seg.log_p >= needed || starts_run(v, seg.first))
            continue;
        if (subs[k].kind == SUBJ_DST && early_rank(v, subs[k].id, &seg)) continue;
        double p_adj = exp(seg.log_p - needed) * v->t->opts.alpha;
        if (v->t->opts.verbose)
            fprintf(stderr, "dxt-classify: null rate %.3g (beta %.3g, %.3g) tau %.2f\n",
                    null.a / (null.a + null.b), null.a, null.b, null.tau);
        if (emit(v, subs[k], &seg, level, scale[k], p_adj)) goto fail;
    }
    rc = 0;
fail:
    free(ex_count);
    free(valid);
    free(tr);
    return rc;
}

static void print_class(tview *v, const subject *subs, int count, const class_stats *cs,
                        const double *scale, int *valid, double tau)
{
    double level;
    fprintf(stderr, "dxt-classify: %s class %d: %d subjects, pooled scale %.3g, %ld/%ld "
            "windows above, design effect %.2f\n", v->t->op, count ? subs[0].kind : -1, count,
            cs->pooled, cs->exceed, cs->valid, tau);
    for (int k = 0; v->t->opts.verbose > 2 && k < count && k < 64; k++) {
        mark_exceedances(v, subs[k], scale[k], cs, &valid[k], &level);
        fprintf(stderr, "dxt-classify: subject %d scale %.3g base %.3g:", subs[k].id, scale[k], level);
        for (int w = 0; w < v->W; w++) fprintf(stderr, " %.2f%s", v->x[w], v->ex[w] == 1 ? "*" : "");
        fprintf(stderr, "\n");
    }
}

/* Wait above the subject's usual level in window w (trace unit, whole window). */
static double subject_excess(tview *v, subject s, int w, double shift)
{
    const dxt_tracker *t = v->t;
    const dxt_judge *j = &t->judge;
    const float *vals = t->vals + (size_t)w * v->nn;
    double sum = 0.0, steps = (double)(t->last_steps[w] - t->first_steps[w] + 1);
    for (int a = 0; a < v->n; a++)
        for (int b = 0; b < v->n; b++) {
            int in;
            switch (s.kind) {
            case SUBJ_SRC: in = b == s.id; break;
            case SUBJ_DST: in = a == s.id; break;
            case SUBJ_NODE_SRC: in = j->node_of[b] == s.id && j->node_of[a] != s.id; break;
            case SUBJ_NODE_DST: in = j->node_of[a] == s.id; break;
            default: in = (size_t)a * v->n + b == (size_t)s.id;
            }
            float f = vals[(size_t)a * v->n + b];
            if (in && a != b && f > 0.0f) sum += f;
        }
    return sum * (1.0 - exp(-shift)) * steps;
}

/* Mask the rows and columns a rank or node finding makes no evidence about paths. */
static void mask_subject(tview *v, subject s, const dxt_segment *seg)
{
    const dxt_judge *j = &v->t->judge;
    for (int w = seg->first; w <= seg->last; w++)
        for (int r = 0; r < v->n; r++) {
            int mine = s.kind == SUBJ_SRC || s.kind == SUBJ_DST ? r == s.id
                       : s.kind == SUBJ_NODE_SRC || s.kind == SUBJ_NODE_DST
                           ? j->node_of[r] == s.id : 0;
            if (!mine) continue;
            int source = s.kind == SUBJ_SRC || s.kind == SUBJ_NODE_SRC;
            v->mask_row[(size_t)w * v->n + r] = 1; /* a late rank waits for nobody */
            if (source) v->mask_col[(size_t)w * v->n + r] = 1;
        }
}

/* Tokens per step of rank r's line (received: row; sent: column) in window w. */
static double line_tokens(tview *v, int r, int by_col, int w)
{
    const float *tk = v->t->toks + (size_t)w * v->nn;
    double sum = 0.0;
    for (int k = 0; k < v->n; k++) {
        float f = by_col ? tk[(size_t)k * v->n + r] : tk[(size_t)r * v->n + k];
        if (k != r && f > 0.0f) sum += f;
    }
    return sum;
}

/* Did rank s's tokens rise with its wait (a hot expert: load_imbalance)? Its
 * tokens in the flagged windows over its own outside the segment (or, with too
 * few of those, over the median rank's in the same windows): at least
 * min_token_ratio, and at least half the wait's relative rise. */
static int tokens_explain(tview *v, subject s, const dxt_segment *seg, double severity)
{
    if (!v->t->have_tokens || (s.kind != SUBJ_SRC && s.kind != SUBJ_DST)) return 0;
    int by_col = s.kind == SUBJ_SRC;
    double *in = v->scratch + v->nn, *out = in + v->W;
    size_t nin = 0, nout = 0;
    for (int w = 0; w < v->W; w++) {
        if (!v->use[w]) continue;
        if (w >= seg->first && w <= seg->last && v->ex[w] == 1)
            in[nin++] = line_tokens(v, s.id, by_col, w);
        else if (w < seg->first || w > seg->last)
            out[nout++] = line_tokens(v, s.id, by_col, w);
    }
    if (nout < 2) { /* present all along: against the other ranks */
        nout = 0;
        for (int r = 0; r < v->n; r++)
            if (r != s.id) out[nout++] = line_tokens(v, r, by_col, seg->first);
    }
    double usual = dxt_median_inplace(out, nout), now = dxt_median_inplace(in, nin);
    double ratio = usual > 0.0 ? now / usual : 0.0;
    return ratio >= v->t->opts.min_token_ratio && ratio - 1.0 >= 0.5 * (severity - 1.0);
}

static int emit(tview *v, subject s, const dxt_segment *seg, double level, double scale,
                double p_adj)
{
    size_t count = 0;
    double excess = 0.0;
    for (int w = seg->first; w <= seg->last; w++)
        if (v->ex[w] == 1) v->scratch[v->nn + count++] = v->x[w] - level;
    for (int w = seg->first; w <= seg->last; w++)
        if (v->ex[w] == 1) excess += subject_excess(v, s, w, v->x[w] - level);
    double shift = dxt_median_inplace(v->scratch + v->nn, count);
    dxt_finding f;
    memset(&f, 0, sizeof f);
    static const dxt_kind kinds[] = {DXT_SLOW_SOURCE, DXT_SLOW_DESTINATION, DXT_SLOW_NODE,
                                     DXT_SLOW_NODE, DXT_SLOW_PATH, DXT_SLOW_PATH};
    f.kind = kinds[s.kind];
    snprintf(f.op, sizeof f.op, "%s", v->t->op);
    f.rank = s.kind <= SUBJ_DST ? s.id : -1;
    f.node = s.kind == SUBJ_NODE_SRC || s.kind == SUBJ_NODE_DST ? s.id : -1;
    f.as_source = s.kind == SUBJ_NODE_SRC;
    f.dst = f.kind == DXT_SLOW_PATH ? s.id / v->n : -1;
    f.src = f.kind == DXT_SLOW_PATH ? s.id % v->n : -1;
    f.first_step = v->t->first_steps[seg->first];
    f.last_step = v->t->last_steps[seg->last];
    f.severity = exp(shift);
    f.score = shift / scale;
    f.excess = excess;
    f.windows_flagged = seg->exceed;
    f.windows_seen = seg->valid;
    f.persistent = seg->exceed >= DXT_PERSISTENT_FRACTION * seg->valid;
    f.p_value = p_adj;
    if (tokens_explain(v, s, seg, f.severity)) f.kind = DXT_LOAD_IMBALANCE;
    if (v->t->opts.verbose)
        fprintf(stderr, "dxt-classify: %s %s subject %d windows %d-%d (%d/%d) sev %.3g z %.3g "
                "p %.3g\n", v->t->op, dxt_kind_str(f.kind), s.id, seg->first, seg->last,
                seg->exceed, seg->valid, f.severity, f.score, p_adj);
    if (s.kind != SUBJ_CELL_INTRA && s.kind != SUBJ_CELL_INTER) mask_subject(v, s, seg);
    return dxt_tracker_push_finding(v->t, &f);
}

/* Ranks, then nodes, then cells (without the masked windows). */
static int time_tests(tview *v)
{
    const dxt_judge *j = &v->t->judge;
    const dxt_classify_opts *o = &v->t->opts;
    int n = v->n, rc = -1, count = 0;
    subject *subs = malloc((v->nn + 2 * (size_t)n) * sizeof *subs);
    if (!subs) return -1;
    class_stats rank = {0, MIN_RANK_SCALE, 0.5 * log(o->min_severity), 0, 0};
    class_stats cell = {0, MIN_CELL_SCALE, 0.5 * log(o->min_path_severity), 0, 0};
    /* sources first: the rows of late ranks are masked before rows are judged */
    static const int order[4] = {SUBJ_SRC, SUBJ_NODE_SRC, SUBJ_DST, SUBJ_NODE_DST};
    for (int o = 0; o < 4; o++) {
        int nodes = order[o] == SUBJ_NODE_SRC || order[o] == SUBJ_NODE_DST;
        int subjects = 0;
        for (int r = 0; r < (nodes ? (j->nnodes >= 2 ? j->nnodes : 0) : n); r++)
            if (!nodes || node_size(j, r) >= 2) subs[subjects++] = (subject){order[o], r};
        if (subjects && test_class(v, subs, subjects, &rank)) goto fail;
    }
    for (int intra = 1; intra >= 0; intra--) {
        count = 0;
        for (size_t c = 0; c < v->nn; c++) {
            int i = (int)(c / n), k = (int)(c % n);
            if (i != k && v->ever[c] && (j->node_of[i] == j->node_of[k]) == intra)
                subs[count++] = (subject){intra ? SUBJ_CELL_INTRA : SUBJ_CELL_INTER, (int)c};
        }
        if (test_class(v, subs, count, &cell)) goto fail;
    }
    rc = 0;
fail:
    free(subs);
    return rc;
}

/* log(alpha / every subject of the op): each subject's share of alpha. */
static void count_tests(tview *v)
{
    const dxt_judge *j = &v->t->judge;
    double subjects = 2.0 * v->n;
    for (int a = 0; j->nnodes >= 2 && a < j->nnodes; a++) subjects += 2.0 * (node_size(j, a) >= 2);
    for (size_t c = 0; c < v->nn; c++) subjects += v->ever[c] && c / v->n != c % v->n;
    v->log_alpha_subject = log(v->t->opts.alpha) - log(subjects);
}

/* Each cell's usual level (per-step wait: exp of its median log less the
 * floor) and tokens over `count` usable windows from the from-th usable one. */
static void usual_levels(tview *v, int from, int count, double *level, double *tok)
{
    const dxt_tracker *t = v->t;
    unsigned char *in = v->ex; /* free here */
    for (int w = 0, k = 0; w < v->W; w++) {
        in[w] = v->use[w] && k >= from && k < from + count;
        k += v->use[w];
    }
    for (size_t c = 0; c < v->nn; c++) {
        size_t m = 0;
        for (int w = 0; w < v->W; w++) {
            float f = v->yc[c * v->W + w];
            if (in[w] && !isnan(f)) v->scratch[m++] = f;
        }
        double b = dxt_median_inplace(v->scratch, m), l = exp(b) - v->floor_;
        level[c] = isnan(b) || !v->ever[c] ? NAN : l > 0.0 ? l : 0.0;
        if (!tok) continue;
        m = 0;
        for (int w = 0; w < v->W; w++) {
            float f = t->toks[(size_t)w * v->nn + c];
            if (in[w] && !isnan(f)) v->scratch[m++] = f;
        }
        tok[c] = m ? dxt_median_inplace(v->scratch, m) : NAN;
    }
}

/* Each cell's own scale over the usable windows (MAD of window-to-window
 * differences / sqrt 2, as the time tests' own_scale), NAN without two. */
static void cell_noise(tview *v, double *noise)
{
    for (size_t c = 0; c < v->nn; c++) {
        size_t m = 0;
        double prev = NAN;
        for (int w = 0; w < v->W; w++) {
            float f = v->yc[c * v->W + w];
            if (!v->use[w] || isnan(f)) continue;
            if (!isnan(prev)) v->scratch[m++] = fabs(f - prev);
            prev = f;
        }
        noise[c] = m ? 1.4826 * dxt_median_inplace(v->scratch, m) / sqrt(2.0) : NAN;
    }
}

/* The static judgement: what was slow from the start of the run to its end.
 * The one-window classifier judges the first quarter's usual matrix (at
 * least 3 windows) and, apart, the last quarter's; a finding must come out
 * of both (the weaker of the two is reported). A cell whose level is high
 * only by a few wild windows (a pair with 10x the others' noise has a far
 * higher mean, and over 3-4 windows its median swings 3x) does not hold at
 * both ends; a fault from step 0 does; what starts later is the time tests'
 * (a late rank's row drops, so a quantile over the whole run would make its
 * peers look slow). */
static int static_tests(tview *v)
{
    dxt_tracker *t = v->t;
    size_t nn = v->nn;
    double *level = malloc(nn * sizeof *level), *tok = NULL, *noise = NULL;
    dxt_hit *head_hits = NULL;
    int rc = -1, first = -1, last = -1, quarter = v->usable / 4 > 3 ? v->usable / 4 : 3;
    if (!level || (t->have_tokens && !(tok = malloc(nn * sizeof *tok)))) goto fail;
    for (int w = 0; w < v->W; w++)
        if (v->use[w]) last = w, first = first < 0 ? w : first;
    t->judge.floor_ = v->floor_;
    if (!(noise = malloc(nn * sizeof *noise))) goto fail;
    cell_noise(v, noise);
    t->judge.cell_noise = noise;
    usual_levels(v, 0, quarter, level, tok);
    if (dxt_judge_window(&t->judge, level, tok, 1.0, NULL, NULL)) goto fail;
    int nhead = t->judge.nhits;
    if (nhead == 0) {
        rc = 0;
        goto fail;
    }
    if (!(head_hits = malloc((size_t)nhead * sizeof *head_hits))) goto fail;
    memcpy(head_hits, t->judge.hits, (size_t)nhead * sizeof *head_hits);
    int tail = v->usable - quarter > 0 ? v->usable - quarter : 0;
    usual_levels(v, tail, quarter, level, tok);
    rc = dxt_tracker_judge_static(t, level, tok, t->first_steps[first], t->last_steps[last],
                                  v->usable, head_hits, nhead);
fail:
    t->judge.cell_noise = NULL;
    free(level);
    free(tok);
    free(noise);
    free(head_hits);
    return rc;
}

static int same_subject(const dxt_finding *a, const dxt_finding *b)
{
    return a->kind == b->kind && a->rank == b->rank && a->src == b->src && a->dst == b->dst &&
           a->node == b->node && a->as_source == b->as_source;
}

/* Keep one finding per subject (the least likely under the null). */
static void drop_duplicates(dxt_tracker *t)
{
    int kept = 0;
    for (int a = 0; a < t->nfindings; a++) {
        int dup = 0;
        for (int b = 0; b < kept && !dup; b++)
            if (same_subject(&t->findings[a], &t->findings[b])) {
                dup = 1;
                if (t->findings[a].p_value < t->findings[b].p_value)
                    t->findings[b] = t->findings[a];
            }
        if (!dup) t->findings[kept++] = t->findings[a];
    }
    t->nfindings = kept;
}

/* Is rank finding f one of node a's ranks, slow the way the node is? */
static int member_of(const dxt_tracker *t, const dxt_finding *f, int a, int as_source)
{
    dxt_kind want = as_source ? DXT_SLOW_SOURCE : DXT_SLOW_DESTINATION;
    return f->kind == want && f->rank >= 0 && t->judge.node_of[f->rank] == a;
}

/* Most ranks of a node alike: one slow_node (their node finding, or a new one
 * from theirs); the node's ranks of that direction are then not reported. */
static int group_nodes(dxt_tracker *t)
{
    const dxt_judge *j = &t->judge;
    for (int a = 0; j->nnodes >= 2 && a < j->nnodes; a++)
        for (int as_source = 0; as_source < 2; as_source++) {
            int size = j->node_start[a + 1] - j->node_start[a], members = 0, node = -1;
            dxt_finding g;
            memset(&g, 0, sizeof g);
            for (int k = 0; k < t->nfindings; k++) {
                const dxt_finding *f = &t->findings[k];
                if (f->kind == DXT_SLOW_NODE && f->node == a && f->as_source == as_source) node = k;
                if (!member_of(t, f, a, as_source)) continue;
                if (members++ == 0) g = *f;
                if (f->first_step < g.first_step) g.first_step = f->first_step;
                if (f->last_step > g.last_step) g.last_step = f->last_step;
                if (f->p_value > g.p_value) g.p_value = f->p_value, g.score = f->score;
                g.excess += members > 1 ? f->excess : 0.0;
            }
            if (node < 0 && (size < 2 || members < ceil(NODE_FRACTION * size))) continue;
            if (node < 0) {
                g.kind = DXT_SLOW_NODE, g.rank = -1, g.node = a, g.as_source = as_source;
                if (dxt_tracker_push_finding(t, &g)) return -1;
            }
            int kept = 0;
            for (int k = 0; k < t->nfindings; k++)
                if (!member_of(t, &t->findings[k], a, as_source)) t->findings[kept++] = t->findings[k];
            t->nfindings = kept;
        }
    return 0;
}

/* Every node slow alike is a shift of the whole job, not a slow node. */
static void drop_job_shifts(dxt_tracker *t)
{
    int nn = t->judge.nnodes;
    for (int as_source = 0; nn >= 2 && as_source < 2; as_source++) {
        int count = 0;
        for (int k = 0; k < t->nfindings; k++)
            count += t->findings[k].kind == DXT_SLOW_NODE && t->findings[k].as_source == as_source;
        if (count < nn) continue;
        int kept = 0;
        for (int k = 0; k < t->nfindings; k++)
            if (!(t->findings[k].kind == DXT_SLOW_NODE && t->findings[k].as_source == as_source))
                t->findings[kept++] = t->findings[k];
        t->nfindings = kept;
    }
}

int dxt_tracker_analyze(dxt_tracker *t)
{
    tview v;
    int rc = -1;
    t->nfindings = 0;
    if (t->windows == 0) return 0;
    if (view_alloc(&v, t)) goto fail;
    if (build_logs(&v) != 0) { /* no wait at all */
        rc = 0;
        goto fail;
    }
    find_usable(&v);
    if (v.usable == 0) {
        rc = 0;
        goto fail;
    }
    build_base(&v);
    if (static_tests(&v)) goto fail;
    if (v.usable >= MIN_WINDOWS) {
        count_tests(&v);
        for (int w = 0; w < v.W; w++) polish_window(&v, w);
        transpose(&v);
        if (time_tests(&v)) goto fail;
    }
    drop_duplicates(t);
    if (group_nodes(t)) goto fail;
    drop_job_shifts(t);
    rc = 0;
fail:
    view_free(&v);
    return rc;
}
