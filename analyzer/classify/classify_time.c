/* classify_time.c - the classifier's judgement of a whole op (track_internal.h):
 * every kept window at once, each decision a test against a null measured on
 * the trace itself, the false-alarm rate controlled over the whole op. This
 * file builds the view (classify_view.h) and runs the stages; the subjects'
 * tests are classify_subjects.c, the scan classify_scan.c.
 * Owner: the classifier engineer (A1).
 *
 *  1. y = log(wait per step + floor) per cell and window; floor: a fifth of
 *     the typical positive wait of the cell's class, intra- or inter-node
 *     (exact zeros, real DeepEP dispatch, and clipped intra-node cells do not
 *     explode; a ratio against a zero baseline is meaningless). A cell never
 *     above zero is no traffic (missing). Leading windows far above the
 *     run's level are warm-up and left out.
 *  2. the static judgement (what was slow from step 0 to the end): the
 *     one-window classifier (classify.c) on the first and on the last
 *     quarter's usual matrix; a finding must come out of both.
 *  3. base: each cell's usual level (base_level: the lower quartile over the
 *     windows, or the median of the run's first or last eighth where that sits
 *     far below it; a fault on for up to seven eighths of the run is not
 *     learnt; no window's luck locks in).
 *     Per window, D = y - base split by median polish into row effects (slow
 *     destination), column effects (slow source) and cell residuals (slow
 *     path); a node's effect is the one most of its ranks reach.
 *  4. each subject's series is standardized by its own scale (MAD of its
 *     window-to-window differences, shrunk to its class's); windows above
 *     the threshold are exceedances (in the pass at 6 scales,
 *     a rank's or node's also 6 spreads above its class's cross-section of
 *     that window: a load that wanders moves every rank), and the scan
 *     (classify_scan.c) finds the least likely segment under a null taken
 *     from the subject's class: the
 *     spread of their rates (beta-binomial), how their exceedances cluster in
 *     time (the design effect of regimes and drifts), and the subject's own
 *     history outside the segment; p-values are Bonferroni over every subject
 *     and effective segment of the op, at half its alpha (the static
 *     judgement has the other half; all of it without enough windows), that
 *     half split between the lines (ranks, nodes) and the cells (count_tests).
 *     A fault on and off in bursts from step 0 has no normal stretch before
 *     it: the duty test (classify_scan.c) judges the subject's exceedances
 *     over the whole run against the class's rates, with a quarter of each
 *     subject's share of alpha (the segments have the rest); cells on
 *     exceedances of twice the scan's threshold (a path's bursts stand on a
 *     plateau far above it; a healthy cell's tail thins out there). A rank
 *     or node up for 1-3 windows, which no count can tell from the class's
 *     rate, is judged by how high: the class's tail of rises or its own
 *     history (dxt_burst_exceedances; not cells: spikes hit single cells).
 *  5. paths are judged without the windows in which their row or column stood
 *     out (a late rank's row is no evidence; its column's cells rise
 *     unevenly) and must carry most of their rise themselves; a high row whose
 *     rank nobody waits for is an early rank, not a slow receiver; a rank
 *     whose wait follows its tokens is a load_imbalance (classify_tokens.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify_view.h"

#define MIN_WINDOWS 4         /* fewer usable windows: the static judgement only */
#define WARMUP_MAX 3          /* leading windows that may be warm-up */
#define POLISH_ITERS 1        /* D is centred on each cell already: one sweep settles it */
#define CONFIRM_SCORE 3.0     /* robust z a static finding needs at the run's end */
#define STATIC_ALPHA_SHARE 0.5 /* the op's alpha given to the judgement from step 0 */
#define LINE_ALPHA_SHARE 0.5   /* the tests over time's alpha lines get at least (count_tests) */

static void view_free(tview *v)
{
    free(v->y), free(v->yc), free(v->base), free(v->rowe), free(v->cole), free(v->x);
    free(v->scratch), free(v->own), free(v->use), free(v->ever), free(v->ex);
    free(v->mask_col), free(v->mask_row), free(v->work), free(v->ywin), free(v->lbuf);
    free(v->mask_tmp), free(v->lbuf_node), free(v->mid);
}

/* The most ranks a node holds (at least 1). */
static size_t largest_node(const dxt_judge *j)
{
    int most = 1;
    for (int a = 0; a < j->nnodes; a++)
        if (node_size(j, a) > most) most = node_size(j, a);
    return (size_t)most;
}

static int view_alloc(tview *v, dxt_tracker *t)
{
    memset(v, 0, sizeof *v);
    v->t = t, v->n = t->n, v->W = t->windows, v->nn = (size_t)t->n * t->n;
    size_t W = (size_t)v->W, n = (size_t)v->n, big = v->nn > W ? v->nn : W;
    size_t node = largest_node(&t->judge);
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
    v->lbuf = malloc((2 * n + 4 * W * node) * sizeof *v->lbuf);
    v->lbuf_node = malloc(4 * node * sizeof *v->lbuf_node);
    v->mid = malloc(8 * n * sizeof *v->mid);
    v->mask_tmp = malloc(v->nn);
    return v->y && v->yc && v->base && v->rowe && v->cole && v->x && v->scratch && v->own && v->use &&
           v->ever && v->ex && v->mask_col && v->mask_row && v->work && v->ywin && v->lbuf &&
           v->lbuf_node && v->mid && v->mask_tmp ? 0 : -1;
}

/* Cells with traffic, the floors, and y = log(wait + floor). The floor is a
 * fifth of the typical positive wait of the cell's class, intra- or
 * inter-node (an intra-node cell waits 10-20x less: one floor for both hid
 * a 4x intra-node path under the inter-node cells' floor). */
static int build_logs(tview *v)
{
    const dxt_tracker *t = v->t;
    const int *node_of = t->judge.node_of;
    /* positive waits sampled across every window (at most nn of them a
     * class: the first nn would all come from window 0, the warm-up) */
    size_t count[2] = {0, 0}, stride = (size_t)v->W, seen = 0;
    double *sample[2] = {v->scratch, v->scratch + v->nn};
    for (int w = 0; w < v->W; w++)
        for (size_t c = 0; c < v->nn; c++) {
            float f = t->vals[(size_t)w * v->nn + c];
            int cls = node_of[c / v->n] == node_of[c % v->n];
            if (f > 0.0f && t->row_ok[(size_t)w * v->n + c / v->n]) {
                v->ever[c] = 1;
                if (seen++ % stride == 0 && count[cls] < v->nn) sample[cls][count[cls]++] = f;
            }
        }
    for (int cls = 0; cls < 2; cls++)
        v->floor_cls[cls] = 0.2 * dxt_median_inplace(sample[cls], count[cls]);
    for (int cls = 0; cls < 2; cls++)
        if (!(v->floor_cls[cls] > 0.0)) v->floor_cls[cls] = v->floor_cls[1 - cls];
    if (!(v->floor_cls[0] > 0.0)) return -1;
    for (int w = 0; w < v->W; w++)
        for (size_t c = 0; c < v->nn; c++) {
            size_t k = (size_t)w * v->nn + c;
            float f = t->vals[k];
            int ok = v->ever[c] && t->row_ok[(size_t)w * v->n + c / v->n];
            v->y[k] = ok ? logf((isnan(f) || f < 0.0f ? 0.0f : f) + (float)cell_floor(v, c)) : NAN;
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
    v->first_data = -1;
    for (int w = 0; w < v->W; w++) {
        level[w] = window_level(v, w);
        v->use[w] = !isnan(level[w]);
        if (v->use[w] && v->first_data < 0) v->first_data = w;
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

/* base[c]: the usual level of the cell's usable windows (base_level). */
static void build_base(tview *v)
{
    transpose(v);
    for (size_t c = 0; c < v->nn; c++) {
        size_t count = 0;
        const float *series = v->yc + c * v->W;
        for (int w = 0; w < v->W; w++)
            if (v->use[w] && !isnan(series[w])) v->scratch[count++] = series[w];
        v->base[c] = base_level(v->scratch, count);
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
    double q = count < 8 ? 0.5 : RECENTER_QUANTILE;
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
    /* rows, then columns; with 2-3 ranks columns first: a line holds 1-2
     * cells and whatever is polished first takes the whole change; a rank
     * whose waits for the others fell while theirs for it rose is late
     * (lesson 1: a late rank waits for nobody), which columns first reads as
     * its column. With more ranks one high cell moves no line median and
     * the order does not matter, except when half the lines move (a slow
     * node of two): the second sweep then sorts them out. */
    int cols_first = v->n <= 3;
    for (int it = 0; it < POLISH_ITERS; it++)
        for (int sweep = 0; sweep < 2; sweep++) {
            int by_col = cols_first ? 1 - sweep : sweep;
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

/* Each subject's share of alpha: half the op's to the lines (ranks' rows and
 * columns, nodes'), or their number's share where more (2 ranks: 4 lines,
 * 2 cells), the rest to the cells, each alike within its family (a weighted
 * Bonferroni: the shares sum to alpha). Alike over every subject, the N^2
 * cells took all but 2/N of it: a 4x slow source of 5 windows in a job of
 * 130 ranks (z 58, log p -25.8) needed -27.1 as one of 17,030 subjects,
 * -24.0 as one of 390 lines. A fault is no likelier on one pair than on
 * one rank; the cells lose a factor 2 at most, the lines nothing. */
static void count_tests(tview *v)
{
    const dxt_judge *j = &v->t->judge;
    double lines = 2.0 * v->n, cells = 0.0;
    for (int a = 0; j->nnodes >= 2 && a < j->nnodes; a++) lines += 2.0 * (node_size(j, a) >= 2);
    for (size_t c = 0; c < v->nn; c++) cells += v->ever[c] && c / v->n != c % v->n;
    double line_share = fmax(LINE_ALPHA_SHARE, lines / (lines + cells));
    v->log_alpha_line = log(v->t->alpha_time * line_share) - log(lines);
    v->log_alpha_cell = cells > 0.0 ? log(v->t->alpha_time * (1.0 - line_share)) - log(cells)
                                    : -INFINITY;
}

/* Each cell's usual level (per-step wait: exp of its median log less the
 * floor; with `low`, of its lower quartile: the lowest of 3-4 windows) and
 * tokens over `count` usable windows from the from-th usable one. */
static void usual_levels(tview *v, int from, int count, int low, double *level, double *tok)
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
        double b = low && m ? dxt_select_kth(v->scratch, m, (m - 1) / 4)
                            : dxt_median_inplace(v->scratch, m);
        double l = exp(b) - cell_floor(v, c);
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
 * peers look slow). With the tests over time (4 usable windows or more) it
 * must also hold in the lower quartile of every window, at the last
 * quarter's bar: slow from step 0 to the end is slow in most windows. A
 * quarter's median is high when 2 of its 3 windows are: healthy ranks whose
 * host stalled now and then were "slow from step 0" (one stalled in 2 of 4
 * windows of 50 steps, 8x and 33x, where the quarters share 2 windows;
 * another in 6 of 9 among ranks that all stalled); those are the tests over
 * time's (the duty test, bursts). */
static int static_tests(tview *v)
{
    dxt_tracker *t = v->t;
    size_t nn = v->nn;
    double *level = malloc(nn * sizeof *level), *tok = NULL, *noise = NULL;
    dxt_hit *head_hits = NULL;
    int rc = -1, last = -1, quarter = v->usable / 4 > 3 ? v->usable / 4 : 3;
    if (!level || (t->have_tokens && !(tok = malloc(nn * sizeof *tok)))) goto fail;
    for (int w = 0; w < v->W; w++)
        if (v->use[w]) last = w;
    t->judge.floor_cls[0] = v->floor_cls[0], t->judge.floor_cls[1] = v->floor_cls[1];
    if (!(noise = malloc(nn * sizeof *noise))) goto fail;
    cell_noise(v, noise);
    /* one window measures no pair's noise (a text matrix, a DeepXTrace log) */
    t->judge.cell_noise = v->usable >= 2 ? noise : NULL;
    usual_levels(v, 0, quarter, 0, level, tok);
    if (dxt_judge_window(&t->judge, level, tok, 1.0, NULL, NULL)) goto fail;
    int nhead = t->judge.nhits;
    if (nhead == 0) {
        rc = 0;
        goto fail;
    }
    if (!(head_hits = malloc((size_t)nhead * sizeof *head_hits))) goto fail;
    memcpy(head_hits, t->judge.hits, (size_t)nhead * sizeof *head_hits);
    /* the confirmations filter what the first quarter's test found, and the
     * error stays that test's: a lower bar (CONFIRM_SCORE) */
    double min_score = t->judge.opts.min_score;
    t->judge.confirming = 1;
    t->judge.opts.min_score = CONFIRM_SCORE < min_score ? CONFIRM_SCORE : min_score;
    if (v->usable >= MIN_WINDOWS) {
        usual_levels(v, 0, v->usable, 1, level, tok);
        nhead = dxt_tracker_keep_confirmed(t, level, tok, head_hits, nhead);
    }
    rc = nhead < 0 ? -1 : 0;
    if (nhead > 0) { /* the last quarter, unless nothing is left to confirm */
        int tail = v->usable - quarter > 0 ? v->usable - quarter : 0;
        usual_levels(v, tail, quarter, 0, level, tok);
        /* from the first step with data: the warm-up left out hides no onset */
        rc = dxt_tracker_judge_static(t, level, tok, t->first_steps[v->first_data],
                                      t->last_steps[last], v->usable, head_hits, nhead);
    }
    t->judge.confirming = 0;
    t->judge.opts.min_score = min_score;
fail:
    t->judge.cell_noise = NULL;
    free(level);
    free(tok);
    free(noise);
    free(head_hits);
    return rc;
}

int dxt_tracker_analyze(dxt_tracker *t)
{
    tview v;
    int rc = -1;
    t->nfindings = 0;
    t->judge.static_seen = 0; /* judged again (dxt_tracker_join): as for the first time */
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
    /* the op's alpha: half to the judgement from step 0, half to the tests
     * over time; all of it to the first when there are too few windows for
     * the second (a text matrix, a DeepXTrace log of one window) */
    t->alpha_static = v.usable >= MIN_WINDOWS ? STATIC_ALPHA_SHARE * t->opts.alpha : t->opts.alpha;
    t->alpha_time = t->opts.alpha - t->alpha_static;
    t->judge.opts.alpha = t->alpha_static;
    if (static_tests(&v)) goto fail;
    if (v.usable >= MIN_WINDOWS) {
        count_tests(&v);
        for (int w = 0; w < v.W; w++) polish_window(&v, w);
        transpose(&v);
        if (dxt_time_tests(&v)) goto fail;
    }
    if (dxt_tracker_merge(t)) goto fail;
    rc = 0;
fail:
    view_free(&v);
    return rc;
}
