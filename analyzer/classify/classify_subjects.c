/* classify_subjects.c - the tests over time of the classifier's subjects
 * (classify_view.h): each rank's column (slow_source) and row
 * (slow_destination), each node's (slow_node) and each cell (slow_path),
 * every one a scan of its exceedances against a null measured on the trace
 * (classify_scan.c), or its bursts over the whole run (the duty test, for
 * intermittent faults on from step 0; for cells a pass of its own, on
 * exceedances above HIGH_Z); what a finding masks for the tests
 * after it; its kind (load_imbalance when tokens explain it,
 * classify_time_tokens.c); the checks of a rank's or node's kind
 * (classify_lines.c: an early rank, a node's ranks alike, the other of two
 * nodes late). Owner: the classifier engineer (A1). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify_view.h"

#define EXCEED_Z 3.0          /* standardized effect that marks a window */
#define HIGH_Z 6.0            /* ... in the high pass: a large fault in a noisy class stands
                               * out by its size, which a count at EXCEED_Z does not see (a
                               * 4x path on 9 of 19 windows where spikes put 7 % of the
                               * class's windows above 3 scales: p 4e-6, 6e-10 needed; 2 %
                               * above 6); and for the duty test of cells: a path's bursts
                               * stand on a plateau (1.3x: 11 of its own scales), a healthy
                               * cell's exceedances are its tail's, which thins out above 3 */
#define CROSS_Z 6.0           /* ... and above the class's cross-section of that window by
                               * this many of its spreads (cross_section) */
#define SHRINK_WINDOWS 10.0   /* weight of the class scale, in windows */
#define MIN_RANK_SCALE 0.01   /* log units */
#define MIN_CELL_SCALE 0.02
#define MIN_OUTSIDE 0.1       /* share of judged windows outside a segment (a change) */
#define DUTY_MIN_WINDOWS 20   /* judged windows a subject needs for the duty test */
#define EARLY_END_RANKS 8     /* ranks a job needs for a fault from its start that ends */
#define HIGH_MIN_RANKS 8      /* ... for the scan at HIGH_Z (test_class) */
/* A subject's share of alpha, by test: the scan at EXCEED_Z, the scan at
 * HIGH_Z, the duty test (one test: the whole run; ranks at EXCEED_Z, cells
 * at HIGH_Z) */
#define SCAN_SHARE 0.6
#define HIGH_SCAN_SHARE 0.15
#define DUTY_SHARE 0.25

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
            val = dxt_node_reach(v->scratch, count, node_size(j, s.id));
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

/* The subject's usual level (base_level of v->x's usable windows). */
static double series_base(tview *v)
{
    size_t count = 0;
    for (int w = 0; w < v->W; w++)
        if (!isnan(v->x[w])) v->scratch[count++] = v->x[w];
    return base_level(v->scratch, count);
}

typedef struct class_stats {
    double pooled, min_scale, min_shift;
    long exceed, valid;
    double exceed_z;          /* EXCEED_Z or HIGH_Z */
    double scan_share, duty_share; /* of a subject's alpha (0: no such test in this pass) */
    const double *cross;      /* per window, the rise that stands out of the class in
                               * it (cross_section); NULL: none asked */
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
        v->ex[w] = d / scale > cs->exceed_z && d >= cs->min_shift &&
                   !(cs->cross && d <= cs->cross[w]);
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

/* The first step of a segment from window first: where the data start when
 * no usable window comes before it (the warm-up left out hides no onset). */
static int64_t segment_start(const tview *v, int first)
{
    int w = 0;
    while (w < first && !v->use[w]) w++;
    return v->t->first_steps[w == first && v->first_data >= 0 ? v->first_data : first];
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

/* ... unless a quarter of the run or more comes after it: slow from the start,
 * then well (the static judgement needs both ends of the run), in a job of
 * EARLY_END_RANKS or more (with 4, late launches change in regimes from the
 * start: real DeepEP) and not by its tokens (emit: the routing's wander starts
 * high as often as it rises). One that ends where a finding of one of its
 * ranks begins is that one's echo (track_series.c, drop_fallen_levels). */
static int ends_early(const tview *v, int last)
{
    int after = 0;
    for (int w = last + 1; w < v->W; w++) after += v->use[w];
    return after >= 0.25 * v->usable;
}

/* log(alpha / the tests of one subject): its share of alpha (every subject
 * of the op alike) for the scan of this pass, over the segments of usable /
 * tau effective windows. */
static double log_needed(const tview *v, const class_stats *cs, double tau)
{
    double weff = v->usable / tau;
    return v->log_alpha_subject + log(cs->scan_share) -
           log(0.5 * weff * (weff + 1.0) > 1.0 ? 0.5 * weff * (weff + 1.0) : 1.0);
}

static void print_class(tview *v, const subject *subs, int count, const class_stats *cs,
                        const double *scale, int *valid, double tau);

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

/* The onset of seg, refined: among the starts from 3 judged windows into the
 * run up to the scan's, the one that best splits the subject's series up to
 * seg->last into two levels (the largest two-sample t: a single change in
 * level). The scan picks the least likely run of exceedances, which starts
 * late when the first windows of a fault cross the threshold only now and
 * then (real DeepEP: a slow rank's first 150 steps under a late host). The
 * onset only moves earlier, to a judged window; exceed and valid are
 * recounted. */
static void refine_onset(tview *v, dxt_segment *seg)
{
    double n0 = 0.0, s0 = 0.0, q0 = 0.0, n1 = 0.0, s1 = 0.0, q1 = 0.0, best_t = -INFINITY;
    for (int w = 0; w <= seg->last; w++)
        if (!isnan(v->x[w])) n1 += 1.0, s1 += v->x[w], q1 += v->x[w] * v->x[w];
    int best = seg->first;
    for (int w = 0; w <= seg->first; w++) {
        /* a start is a judged window: over windows not judged (masked, no
         * data) every split is the same, and the first of them would win */
        if (n0 >= 3.0 && n1 >= 2.0 && !isnan(v->x[w])) {
            double m0 = s0 / n0, m1 = s1 / n1;
            double var = (q0 - n0 * m0 * m0 + q1 - n1 * m1 * m1) / (n0 + n1 - 2.0);
            double t = (m1 - m0) / sqrt((var > 1e-12 ? var : 1e-12) * (1.0 / n0 + 1.0 / n1));
            if (t > best_t) best_t = t, best = w;
        }
        if (!isnan(v->x[w])) n0 += 1.0, s0 += v->x[w], q0 += v->x[w] * v->x[w],
                                  n1 -= 1.0, s1 -= v->x[w], q1 -= v->x[w] * v->x[w];
    }
    if (best >= seg->first) return;
    seg->first = best;
    seg->exceed = seg->valid = 0;
    for (int w = seg->first; w <= seg->last; w++)
        if (v->ex[w] != 2) seg->valid++, seg->exceed += v->ex[w] == 1;
}

/* Is the change on seg a step rather than a drift? A subject whose level
 * creeps up all run long (a healthy rank's column 1.18x higher after 55
 * windows as its routing share drifted, its windows crossing the threshold
 * one after another at the end) makes a segment as unlikely under the
 * scan's null as a step does: the null is of exceedances, not of their
 * shape. A finding needs the step to fit v->x better (dxt_step_over_bend). */
static int step_not_drift(tview *v, const dxt_segment *seg, double scale)
{
    double gain = dxt_step_over_bend(v->x, v->W, seg->first, seg->last, scale, v->scratch);
    if (v->t->opts.verbose)
        fprintf(stderr, "dxt-classify: windows %d-%d: a step fits %.1f better than a bend\n",
                seg->first, seg->last, gain);
    return !(gain < 0.0);
}

/* What subjects did, summed: transitions (dxt_count_transitions), exceedances,
 * judged windows and the dxt_add_counts sums. */
typedef struct tally {
    long tr[4];
    double exceed, valid, sums[3];
} tally;

static void tally_add(tally *t, const tally *u, int times)
{
    for (int q = 0; q < 4; q++) t->tr[q] += times * u->tr[q];
    for (int q = 0; q < 3; q++) t->sums[q] += times * u->sums[q];
    t->exceed += times * u->exceed, t->valid += times * u->valid;
}

/* What a class's subjects did: each one's exceedances, judged windows and
 * transitions (24 bytes a subject: N^2 of them), the class's tally, the two
 * most exceeding; for cells, the tally of each row and column of the class
 * (a cell's line-mates). */
typedef struct class_counts {
    int count, *ex, *valid, (*tr)[4], top[2];
    tally total, *rows, *cols;
    const subject *subs;
    int n;
} class_counts;

/* Add subject k's counts, times times, to t. */
static void add_subject(tally *t, const class_counts *cc, int k, int times)
{
    for (int q = 0; q < 4; q++) t->tr[q] += times * cc->tr[k][q];
    dxt_add_counts(t->sums, cc->ex[k], cc->valid[k], times);
    t->exceed += times * cc->ex[k], t->valid += times * cc->valid[k];
}

/* Is subject d a cell of row i or column j? */
static int on_lines(const class_counts *cc, int d, int i, int j)
{
    return cc->subs[d].id / cc->n == i || cc->subs[d].id % cc->n == j;
}

/* The null of subject k: the class without it and, in a class of DROP_MIN
 * or more, without the most exceeding other one (two faults at once, two slow
 * ranks or a path and its echo, must not make each other's null; with fewer
 * subjects two left out leave too few to measure the class). A cell's null
 * is also without its line-mates: a receiver late for a handful of its
 * senders raises their cells together, and in a quiet class their runs made
 * each other's design effect (tau 19: 4 or 12 cells of one row at 1.8x gave
 * no finding); by the handful on one line they are that line's rank
 * (track_series.c). */
static void subject_null(const class_counts *cc, int k, dxt_null *null)
{
    int drop = cc->count >= DROP_MIN ? (cc->top[0] == k ? cc->top[1] : cc->top[0]) : -1;
    tally t = cc->total;
    add_subject(&t, cc, k, -1);
    if (drop >= 0) add_subject(&t, cc, drop, -1);
    if (cc->rows) {
        int i = cc->subs[k].id / cc->n, j = cc->subs[k].id % cc->n;
        tally_add(&t, &cc->rows[i], -1);
        tally_add(&t, &cc->cols[j], -1);
        add_subject(&t, cc, k, 2); /* on both lines, out once already */
        if (drop >= 0 && on_lines(cc, drop, i, j)) add_subject(&t, cc, drop, 1);
    }
    null->tau = dxt_design_effect(t.tr);
    dxt_class_prior(t.sums, t.exceed, t.valid, null->tau, null);
}

/* Mark every subject's exceedances and count them into cc. */
static void count_class(tview *v, const subject *subs, class_stats *cs, const double *scale,
                        class_counts *cc)
{
    double level;
    cs->exceed = cs->valid = 0;
    memset(&cc->total, 0, sizeof cc->total);
    for (int r = 0; cc->rows && r < cc->n; r++)
        memset(&cc->rows[r], 0, sizeof cc->rows[r]), memset(&cc->cols[r], 0, sizeof cc->cols[r]);
    cc->top[0] = cc->top[1] = -1;
    for (int k = 0; k < cc->count; k++) {
        cc->ex[k] = mark_exceedances(v, subs[k], scale[k], cs, &cc->valid[k], &level);
        cs->exceed += cc->ex[k], cs->valid += cc->valid[k];
        dxt_count_transitions(v->ex, v->W, cc->tr[k]);
        mask_rank_windows(v, subs[k]);
        add_subject(&cc->total, cc, k, 1);
        if (cc->rows) {
            add_subject(&cc->rows[subs[k].id / cc->n], cc, k, 1);
            add_subject(&cc->cols[subs[k].id % cc->n], cc, k, 1);
        }
        if (cc->top[0] < 0 || cc->ex[k] > cc->ex[cc->top[0]]) cc->top[1] = cc->top[0], cc->top[0] = k;
        else if (cc->top[1] < 0 || cc->ex[k] > cc->ex[cc->top[1]]) cc->top[1] = k;
    }
}

/* Scan subject k against its null, and its duty test, as far as this pass
 * has them; the significant segment (the less likely under its share of
 * alpha) that passes the checks of its kind is emitted. -1 on out of memory. */
static int test_subject(tview *v, subject s, double scale, class_stats *cs, class_counts *cc,
                        int k, dxt_null null)
{
    double needed = cs->scan_share > 0.0 ? log_needed(v, cs, null.tau) : -INFINITY, level;
    double duty_needed = cs->duty_share > 0.0 ? v->log_alpha_subject + log(cs->duty_share)
                                              : -INFINITY;
    /* the duty test's null is the class's spread of rates alone: a class
     * of fewer than DROP_MIN subjects (4 ranks) cannot measure it; cells
     * only in the high pass (at EXCEED_Z their rates spread too unevenly
     * for a beta to hold them: clipped pairs, pairs of 10x the others'
     * noise gave two healthy paths at p 3e-4 and 6e-4 in 200 traces) */
    if (cc->count < DROP_MIN) duty_needed = -INFINITY;
    /* nor in fewer than DUTY_MIN_WINDOWS windows: a share of them moves by 5 %
     * or more a window, and in long windows (the tests' own: at most 20) a
     * healthy cell's cluster of spikes was 6 of 14 (seed 5064). Bursts are the
     * short windows' to count */
    if (cc->valid[k] < DUTY_MIN_WINDOWS) duty_needed = -INFINITY;
    if (v->t->opts.verbose > 3 && cc->ex[k] >= 5)
        fprintf(stderr, "dxt-classify: subject %d: %d/%d above %.0f, null beta %.3g %.3g tau "
                "%.2f, log p needed %.1f\n", s.id, cc->ex[k], cc->valid[k], cs->exceed_z, null.a,
                null.b, null.tau, needed);
    if (cc->ex[k] < dxt_min_exceedances(&null, cc->valid[k], fmax(needed, duty_needed)))
        return 0;
    dxt_segment seg, duty;
    mark_exceedances(v, s, scale, cs, &cc->valid[k], &level);
    int min_out = (int)ceil(MIN_OUTSIDE * cc->valid[k]);
    /* a change in time (the scan), or bursts all run long (the duty test):
     * the one less likely under its share of alpha */
    int scan = isfinite(needed) &&
               !dxt_scan_exceedances(v->ex, v->W, &null, min_out > 3 ? min_out : 3, v->work, &seg) &&
               seg.log_p < needed &&
               (!starts_run(v, seg.first) || (ends_early(v, seg.last) && v->n >= EARLY_END_RANKS));
    int whole = isfinite(duty_needed) && !dxt_duty_exceedances(v->ex, v->W, &null, &duty);
    if (whole && v->t->opts.verbose > 1)
        fprintf(stderr, "dxt-classify: subject %d: duty %d/%d, log p %.1f, needed %.1f\n", s.id,
                duty.exceed, duty.valid, duty.log_p, duty_needed);
    whole = whole && duty.log_p < duty_needed &&
            (!scan || duty.log_p - duty_needed < seg.log_p - needed);
    if (!scan && !whole) return 0;
    if (whole) seg = duty, needed = duty_needed;
    if (s.kind == SUBJ_DST && dxt_early_rank(v, s.id, &seg)) return 0;
    /* the other node late: named as the source; its severity and p are this
     * node's rows' rise, the other side of the same cross cells */
    if (s.kind == SUBJ_NODE_DST && dxt_other_node_late(v, s.id, &seg))
        s = (subject){SUBJ_NODE_SRC, 1 - s.id};
    if ((s.kind == SUBJ_NODE_SRC || s.kind == SUBJ_NODE_DST) &&
        !dxt_node_alike(v, s.id, s.kind == SUBJ_NODE_SRC, &seg))
        return 0;
    if (s.kind >= SUBJ_CELL_INTRA &&
        (!dxt_cell_stands_out(v, (size_t)s.id, &seg) || !dxt_path_matters(v, (size_t)s.id, &seg)))
        return 0;
    if (!seg.whole) refine_onset(v, &seg);
    if (!seg.whole && !step_not_drift(v, &seg, scale)) return 0;
    if (v->t->opts.verbose)
        fprintf(stderr, "dxt-classify: null rate %.3g (beta %.3g, %.3g) tau %.2f\n",
                null.a / (null.a + null.b), null.a, null.b, null.tau);
    return emit(v, s, &seg, level, scale, exp(seg.log_p - needed) * v->t->opts.alpha);
}

/* The class's cross-section, for the high pass of ranks and nodes: out[w] is
 * the median rise (the series less its base) of the class's subjects in
 * window w plus CROSS_Z times their spread (interquartile range / 1.349: a
 * subject at its base rises by 0, so half a class that moved is at 0 and a
 * MAD would see only them); -INFINITY where fewer than DROP_MIN have a
 * value. Each subject against its own scale alone loses the size of a rise
 * when the whole class moves: where every rank's load wanders or steps by its
 * own amount, every subject's windows cross its own scale from then on, and
 * a rank 60 scales up (3x the tokens) was one among them (the null counts
 * exceedances, not their size). Against the class in that window it stands
 * out by its size. Where a quarter of a class or more rises at once (2 slow
 * ranks of 8) the range holds them: the pass at EXCEED_Z judges them. */
static int cross_section(tview *v, const subject *subs, int count, double *out)
{
    size_t W = (size_t)v->W;
    double *rise = malloc((size_t)count * W * sizeof *rise);
    double *col = malloc((size_t)count * sizeof *col);
    if (!rise || !col) {
        free(rise), free(col);
        return -1;
    }
    for (int k = 0; k < count; k++) {
        series_of(v, subs[k]);
        double b = series_base(v);
        for (size_t w = 0; w < W; w++) rise[(size_t)k * W + w] = v->x[w] - b;
    }
    for (size_t w = 0; w < W; w++) {
        size_t m = 0;
        for (int k = 0; k < count; k++)
            if (!isnan(rise[(size_t)k * W + w])) col[m++] = rise[(size_t)k * W + w];
        if (m < DROP_MIN) {
            out[w] = -INFINITY;
            continue;
        }
        double spread = dxt_iqr_sigma_inplace(col, m);
        out[w] = dxt_select_kth(col, m, m / 2) + CROSS_Z * spread;
    }
    free(rise), free(col);
    return 0;
}

/* The high pass's null no narrower than the first pass's: how a class's
 * exceedances come in runs (regimes, drifts) and how far its subjects'
 * rates differ are measured at EXCEED_Z, where there are enough of them;
 * above HIGH_Z a class may have too few to see either, and its null says
 * one rate for all (a healthy pair far noisier than its class's scale says,
 * 12 of 20 windows above 3 scales and 6 above 6 where the class had 45 of
 * 66,521: "p 2e-4" against a binomial 0.2 %). */
static void widen_null(dxt_null *null, const dxt_null *first)
{
    double size = null->a + null->b, m = null->a / size, first_size = first->a + first->b;
    if (first_size < size) null->a = m * first_size, null->b = (1.0 - m) * first_size;
    if (first->tau > null->tau) null->tau = first->tau;
}

/* Test every subject of a class in each pass (EXCEED_Z, then HIGH_Z);
 * emit the significant ones, each once (the high pass skips what the first
 * found). The null of a subject comes from the class's other subjects:
 * their rate of exceedances and how they cluster in time (its own, outside
 * a segment, in the scan). */
static int test_class(tview *v, const subject *subs, int count, const class_stats passes[2])
{
    double *scale = v->own;
    size_t slots = (size_t)(count ? count : 1);
    class_counts cc = {.count = count, .subs = subs, .n = v->n};
    int rc = -1, cells = count && subs[0].kind >= SUBJ_CELL_INTRA;
    unsigned char *found = calloc(slots, 1);
    double *cross = NULL;
    dxt_null *first = malloc(slots * sizeof *first), null;
    cc.ex = malloc(slots * sizeof *cc.ex);
    cc.valid = malloc(slots * sizeof *cc.valid);
    cc.tr = malloc(slots * sizeof *cc.tr);
    if (cells) {
        cc.rows = malloc((size_t)v->n * sizeof *cc.rows);
        cc.cols = malloc((size_t)v->n * sizeof *cc.cols);
    }
    if (!found || !first || !cc.ex || !cc.valid || !cc.tr || (cells && (!cc.rows || !cc.cols)))
        goto fail;
    /* the scan at HIGH_Z needs a class of DROP_MIN subjects in a job of
     * HIGH_MIN_RANKS: its null is the rate of a few large exceedances among
     * the other subjects, of which fewer have next to none (EP2: one other
     * rank, 2 of 100 windows, and a launch regime above 6 scales read as
     * "p 6e-20"), and with 2-7 ranks the host that launches last changes in
     * regimes that move a rank's cells together. Its share of alpha then
     * goes back to the scan at EXCEED_Z. */
    class_stats pass[2] = {passes[0], passes[1]};
    if (count < DROP_MIN || v->n < HIGH_MIN_RANKS)
        pass[0].scan_share += pass[1].scan_share, pass[1].scan_share = 0.0;
    /* one scale a subject for both heights (a finding of this class masks
     * nothing its own series read) */
    class_scales(v, subs, count, &pass[0], scale, cc.valid);
    pass[1].pooled = pass[0].pooled;
    for (int p = 0; p < 2; p++) {
        class_stats *cs = &pass[p];
        if (!(cs->scan_share > 0.0 || cs->duty_share > 0.0)) continue;
        if (p == 1 && !cells) {
            if (!cross && !(cross = malloc((size_t)v->W * sizeof *cross))) goto fail;
            if (cross_section(v, subs, count, cross)) goto fail;
            cs->cross = cross;
        }
        count_class(v, subs, cs, scale, &cc);
        if (v->t->opts.verbose > 1)
            print_class(v, subs, count, cs, scale, cc.valid, dxt_design_effect(cc.total.tr));
        for (int k = 0; k < count; k++) {
            int before = v->t->nfindings;
            subject_null(&cc, k, &null);
            if (p == 0) first[k] = null;
            else widen_null(&null, &first[k]);
            if (!found[k] && test_subject(v, subs[k], scale[k], cs, &cc, k, null)) goto fail;
            found[k] |= v->t->nfindings > before;
        }
    }
    rc = 0;
fail:
    free(found);
    free(cross);
    free(first);
    free(cc.ex);
    free(cc.valid);
    free(cc.tr);
    free(cc.rows);
    free(cc.cols);
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
    const float *vals = t->vals + (size_t)w * v->nn;
    double sum = 0.0, steps = (double)(t->last_steps[w] - t->first_steps[w] + 1);
    for (int a = 0; a < v->n; a++)
        for (int b = 0; b < v->n; b++) {
            float f = vals[(size_t)a * v->n + b];
            if (subject_cell(v, s, a, b) && f > 0.0f) sum += f;
        }
    return sum * (1.0 - exp(-shift)) * steps;
}

/* The subject's rise in wait (a ratio) from its rise `shift` in log(wait +
 * floor): where its cells usually wait T - f (T: the median of their usual
 * wait + floor, f: of their floors), a rise of shift there is a wait of
 * (T e^shift - f) / (T - f) times the usual (the floor took the rest: a
 * 1.25x slow receiver read 1.17x, a 2x one 1.5x); at most e^(2 shift), for
 * cells near or under a floor (clipped pairs, whose ratios say little:
 * lesson 10). */
static double wait_severity(tview *v, subject s, double shift)
{
    double *usual = v->scratch, *floors = v->scratch + v->nn; /* nn each at most */
    size_t m = 0;
    for (int a = 0; a < v->n; a++)
        for (int b = 0; b < v->n; b++) {
            size_t c = (size_t)a * v->n + b;
            if (!subject_cell(v, s, a, b) || !v->ever[c] || isnan(v->base[c])) continue;
            usual[m] = exp(v->base[c]), floors[m++] = cell_floor(v, c);
        }
    double t = dxt_median_inplace(usual, m), f = dxt_median_inplace(floors, m);
    double cap = exp(2.0 * shift);
    if (!(m > 0 && t > f)) return cap;
    double sev = (t * exp(shift) - f) / (t - f);
    return sev < cap ? sev : cap;
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
    f.first_step = segment_start(v, seg->first);
    f.last_step = v->t->last_steps[seg->last];
    f.severity = wait_severity(v, s, shift);
    f.score = shift / scale;
    f.excess = excess;
    f.windows_flagged = seg->exceed;
    f.windows_seen = seg->valid;
    f.persistent = seg->exceed >= DXT_PERSISTENT_FRACTION * seg->valid;
    f.p_value = p_adj;
    int load = dxt_subject_tokens(v, s, seg), from_start = !seg->whole && starts_run(v, seg->first);
    /* from the start: no load imbalance (the routing's wander), and the rise
     * of a kind's min_severity at least (a level that fell by 12 % over 11
     * windows read as a 1.12x slow destination until then: seed 1063). Under
     * it no finding from any onset either (dxtanalysis.h: never one): a
     * node's rows 1.15x in 10 of 41 windows as its ranks' share of the
     * routing drifted (seed 12061), a healthy cell 1.18x in 7 of 10 windows
     * of 50 steps (seed 1172). A load imbalance is measured by its tokens
     * (min_token_ratio), a node's as any. From the start the rise judged is
     * the one in log(wait + floor), which the floor makes the smaller
     * (wait_severity): a healthy level that fell reads 1.17x there, 1.23x as
     * wait (seed 1063); later, the wait's (a 1.3x slow source read 1.19x in
     * log(wait + floor)). */
    double min_sev = s.kind >= SUBJ_CELL_INTRA ? v->t->opts.min_path_severity
                                               : v->t->opts.min_severity;
    int imbalance = load > 0 && (s.kind == SUBJ_SRC || s.kind == SUBJ_DST);
    int weak = from_start ? exp(shift) < min_sev : f.severity < min_sev && !imbalance;
    if (weak || (load && from_start)) load = -1;
    if (load > 0 && f.kind != DXT_SLOW_NODE) f.kind = DXT_LOAD_IMBALANCE;
    if (v->t->opts.verbose)
        fprintf(stderr, "dxt-classify: %s %s subject %d windows %d-%d (%d/%d) sev %.3g z %.3g "
                "p %.3g%s\n", v->t->op, dxt_kind_str(f.kind), s.id, seg->first, seg->last,
                seg->exceed, seg->valid, f.severity, f.score, p_adj,
                weak ? ": under min_severity, no finding"
                : load < 0 ? ": follows a token wander, no fault" : "");
    /* a late rank waits for nobody, whatever made it late (a token wander, a
     * rise under min_severity: its row dips all the same); an episode from
     * the start masks nothing (it may be a level that fell: its windows are
     * the normal ones of the finding that follows it) */
    if (s.kind != SUBJ_CELL_INTRA && s.kind != SUBJ_CELL_INTER && !from_start)
        mask_subject(v, s, seg);
    return load < 0 ? 0 : dxt_tracker_push_finding(v->t, &f);
}

/* Ranks, then nodes, then cells (without the masked windows). */
int dxt_time_tests(tview *v)
{
    const dxt_judge *j = &v->t->judge;
    const dxt_classify_opts *o = &v->t->opts;
    int n = v->n, rc = -1, count = 0;
    subject *subs = malloc((v->nn + 2 * (size_t)n) * sizeof *subs);
    if (!subs) return -1;
    /* ranks: the scan and the duty test at EXCEED_Z, the scan at HIGH_Z;
     * cells: the scan at EXCEED_Z, the scan and the duty test at HIGH_Z */
    class_stats rank[2] = {{.min_scale = MIN_RANK_SCALE, .min_shift = 0.5 * log(o->min_severity),
                            .exceed_z = EXCEED_Z, .scan_share = SCAN_SHARE,
                            .duty_share = DUTY_SHARE}};
    rank[1] = rank[0];
    rank[1].exceed_z = HIGH_Z, rank[1].scan_share = HIGH_SCAN_SHARE, rank[1].duty_share = 0.0;
    class_stats cell[2] = {{.min_scale = MIN_CELL_SCALE,
                            .min_shift = 0.5 * log(o->min_path_severity), .exceed_z = EXCEED_Z,
                            .scan_share = SCAN_SHARE}};
    cell[1] = cell[0];
    cell[1].exceed_z = HIGH_Z, cell[1].scan_share = HIGH_SCAN_SHARE;
    cell[1].duty_share = DUTY_SHARE;
    /* sources first: the rows of late ranks are masked before rows are judged */
    static const int order[4] = {SUBJ_SRC, SUBJ_NODE_SRC, SUBJ_DST, SUBJ_NODE_DST};
    for (int o = 0; o < 4; o++) {
        int nodes = order[o] == SUBJ_NODE_SRC || order[o] == SUBJ_NODE_DST;
        int subjects = 0;
        for (int r = 0; r < (nodes ? (j->nnodes >= 2 ? j->nnodes : 0) : n); r++)
            if (!nodes || node_size(j, r) >= 2) subs[subjects++] = (subject){order[o], r};
        if (subjects && test_class(v, subs, subjects, rank)) goto fail;
    }
    /* cells over time: not in the longer windows of a join where their
     * paths would not join (dxt_tracker_set_longer) */
    int cells = !v->t->longer || v->t->windows >= DXT_PATH_JOIN_WINDOWS;
    for (int intra = 1; cells && intra >= 0; intra--) {
        count = 0;
        for (size_t c = 0; c < v->nn; c++) {
            int i = (int)(c / n), k = (int)(c % n);
            if (i != k && v->ever[c] && (j->node_of[i] == j->node_of[k]) == intra)
                subs[count++] = (subject){intra ? SUBJ_CELL_INTRA : SUBJ_CELL_INTER, (int)c};
        }
        if (test_class(v, subs, count, cell)) goto fail;
    }
    rc = 0;
fail:
    free(subs);
    return rc;
}
