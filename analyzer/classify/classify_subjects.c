/* classify_subjects.c - the tests over time of the classifier's subjects
 * (classify_view.h): each rank's column (slow_source) and row
 * (slow_destination), each node's (slow_node) and each cell (slow_path),
 * every one a scan of its exceedances against a null measured on the trace
 * (classify_scan.c), or its bursts over the whole run (the duty test, for
 * intermittent faults on from step 0; for cells a pass of its own, on
 * exceedances above HIGH_Z), or for ranks and nodes a short burst far above
 * the class's tail of rises; the checks of a rank's or node's kind
 * (classify_lines.c: an early rank, a node's ranks alike, the other of two
 * nodes late); the finding, its kind and what it masks for the tests after
 * it: classify_finding.c. Owner: the classifier engineer (A1). */
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
#define BURST_SHARE 0.05      /* ... of the high scan's, a line's bursts (dxt_burst_exceedances) */
#define BURST_MAX 3           /* windows of a burst: from 4 the scan's count can tell them */

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
    double scan_share, duty_share, burst_share; /* of a subject's alpha (0: no such test
                                                  * in this pass) */
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

/* A segment from the start of the run (dxt_starts_run) is no change in time
 * ... unless a quarter of the run or more comes after it: slow from the start,
 * then well (the static judgement needs both ends of the run), in a job of
 * EARLY_END_RANKS or more (with 4, late launches change in regimes from the
 * start: real DeepEP) and not by its tokens (dxt_emit_finding: the routing's
 * wander starts high as often as it rises). One that ends where a finding of
 * one of its ranks begins is that one's echo (track_series.c,
 * drop_fallen_levels). */
static int ends_early(const tview *v, int last)
{
    int after = 0;
    for (int w = last + 1; w < v->W; w++) after += v->use[w];
    return after >= 0.25 * v->usable;
}

/* log(alpha / the tests of one subject): its share of alpha (its family's,
 * count_tests) for the scan of this pass, over the segments of usable / tau
 * effective windows. */
static double log_needed(const tview *v, subject s, const class_stats *cs, double tau)
{
    double weff = v->usable / tau;
    return subject_log_alpha(v, s) + log(cs->scan_share) -
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
    double *tail;             /* lines: 3 a subject, its rises above HIGH_Z, the sum of
                               * their log(z / HIGH_Z) and its judged windows (counted in
                               * the first pass); NULL: cells */
    double tail_total[3];     /* ... summed over the class */
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

/* Subject k's rises above HIGH_Z (v->x less its level, in scales; above the
 * class's cross-section or not: the more, the heavier) into the class's
 * tail sums (dxt_tail_fit): the height bursts are judged at. */
static void count_tail(tview *v, class_counts *cc, int k, double scale, double level)
{
    double *t = cc->tail + 3 * (size_t)k;
    t[0] = t[1] = t[2] = 0.0;
    for (int w = 0; w < v->W; w++) {
        double z = (v->x[w] - level) / scale;
        if (isnan(z)) continue;
        t[2] += 1.0;
        if (z > HIGH_Z) t[0] += 1.0, t[1] += log(z / HIGH_Z);
    }
    for (int q = 0; q < 3; q++) cc->tail_total[q] += t[q];
}

/* Mark every subject's exceedances and count them into cc. */
static void count_class(tview *v, const subject *subs, class_stats *cs, const double *scale,
                        class_counts *cc, int first_pass)
{
    double level;
    cs->exceed = cs->valid = 0;
    memset(&cc->total, 0, sizeof cc->total);
    int tail = cc->tail && first_pass;
    if (tail) memset(cc->tail_total, 0, sizeof cc->tail_total);
    for (int r = 0; cc->rows && r < cc->n; r++)
        memset(&cc->rows[r], 0, sizeof cc->rows[r]), memset(&cc->cols[r], 0, sizeof cc->cols[r]);
    cc->top[0] = cc->top[1] = -1;
    for (int k = 0; k < cc->count; k++) {
        cc->ex[k] = mark_exceedances(v, subs[k], scale[k], cs, &cc->valid[k], &level);
        cs->exceed += cc->ex[k], cs->valid += cc->valid[k];
        if (tail) count_tail(v, cc, k, scale[k], level);
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

/* A burst of line subject k, in a pass with bursts: the least likely run of
 * at most BURST_MAX windows above this pass's threshold (v->ex; its series
 * in v->x), under the class's tail of rises without the subject's own
 * (the first pass's) and the subject's own windows outside the run. Into
 * *seg when it beats needed: 1. */
static int burst_of(tview *v, const class_counts *cc, int k, double scale, double level,
                    double tau, double needed, dxt_segment *seg)
{
    const double *own = cc->tail + 3 * (size_t)k, *all = cc->tail_total;
    dxt_tail tail;
    dxt_tail_fit(all[0] - own[0], all[1] - own[1], all[2] - own[2], HIGH_Z, &tail);
    double *z = v->scratch;
    for (int w = 0; w < v->W; w++) z[w] = (v->x[w] - level) / scale;
    if (dxt_burst_exceedances(z, v->ex, v->W, dxt_first_onset(v), &tail, tau, BURST_MAX, seg) ||
        seg->log_p >= needed)
        return 0;
    if (v->t->opts.verbose > 1)
        fprintf(stderr, "dxt-classify: subject %d: burst %d-%d, log p %.1f, needed %.1f (tail "
                "rate %.3g, shape %.3g, scale %.3g)\n", cc->subs[k].id, seg->first, seg->last,
                seg->log_p, needed, tail.rate, tail.shape, tail.scale);
    return 1;
}

/* The least likely of the candidates: *best (under *best_needed) or seg
 * (under needed), by how far under; 1 when seg. */
static int take_likelier(dxt_segment *best, double *best_needed, int have, const dxt_segment *seg,
                         double needed)
{
    if (have && best->log_p - *best_needed <= seg->log_p - needed) return 0;
    *best = *seg, *best_needed = needed;
    return 1;
}

/* The checks of subject s's kind on its significant segment seg (needed:
 * the log p it had to beat), then the finding: 0 (also when a check says
 * no), -1 on out of memory. A burst's onset is its own (refine_onset looks
 * for a level's change). */
static int judge_segment(tview *v, subject s, double scale, double level, dxt_null null,
                         dxt_segment *seg, double needed, int burst)
{
    if (s.kind == SUBJ_DST && dxt_early_rank(v, s.id, seg)) return 0;
    /* the other node late: named as the source; its severity and p are this
     * node's rows' rise, the other side of the same cross cells */
    if (s.kind == SUBJ_NODE_DST && dxt_other_node_late(v, s.id, seg))
        s = (subject){SUBJ_NODE_SRC, 1 - s.id};
    else if (s.kind == SUBJ_NODE_DST && dxt_early_node(v, s.id, seg))
        return 0;
    if ((s.kind == SUBJ_NODE_SRC || s.kind == SUBJ_NODE_DST) &&
        !dxt_node_alike(v, s.id, s.kind == SUBJ_NODE_SRC, seg))
        return 0;
    if (s.kind >= SUBJ_CELL_INTRA &&
        (!dxt_cell_stands_out(v, (size_t)s.id, seg) || !dxt_path_matters(v, (size_t)s.id, seg)))
        return 0;
    if (!seg->whole && !burst) refine_onset(v, seg);
    if (!seg->whole && !step_not_drift(v, seg, scale)) return 0;
    if (v->t->opts.verbose)
        fprintf(stderr, "dxt-classify: null rate %.3g (beta %.3g, %.3g) tau %.2f\n",
                null.a / (null.a + null.b), null.a, null.b, null.tau);
    return dxt_emit_finding(v, s, seg, level, scale, exp(seg->log_p - needed) * v->t->opts.alpha);
}

/* Scan subject k against its null, its duty test and its bursts, as far as
 * this pass has them; the significant segment (the least likely under its
 * share of alpha) that passes the checks of its kind is emitted. -1 on out
 * of memory. */
static int test_subject(tview *v, subject s, double scale, class_stats *cs, class_counts *cc,
                        int k, dxt_null null)
{
    double log_alpha = subject_log_alpha(v, s), level;
    double needed = cs->scan_share > 0.0 ? log_needed(v, s, cs, null.tau) : -INFINITY;
    double duty_needed = cs->duty_share > 0.0 ? log_alpha + log(cs->duty_share) : -INFINITY;
    double burst_needed = cs->burst_share > 0.0 && cc->tail
                              ? log_alpha + log(cs->burst_share) - log((double)v->usable * BURST_MAX)
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
    /* the fewest exceedances the scan and the duty test could need (a bound:
     * below it neither can reach its level); a burst needs one */
    int counts = cc->ex[k] >= dxt_min_exceedances(&null, cc->valid[k], fmax(needed, duty_needed));
    if (cc->ex[k] == 0 || (!counts && !isfinite(burst_needed))) return 0;
    if (!counts) needed = duty_needed = -INFINITY;
    dxt_segment seg, cand;
    mark_exceedances(v, s, scale, cs, &cc->valid[k], &level);
    int min_out = (int)ceil(MIN_OUTSIDE * cc->valid[k]), have = 0, burst = 0;
    /* a change in time (the scan), bursts all run long (the duty test), or
     * a short burst far above the noise */
    if (isfinite(needed) &&
        !dxt_scan_exceedances(v->ex, v->W, &null, min_out > 3 ? min_out : 3, v->work, &cand) &&
        cand.log_p < needed &&
        (!dxt_starts_run(v, cand.first) || (ends_early(v, cand.last) && v->n >= EARLY_END_RANKS)))
        have = take_likelier(&seg, &needed, have, &cand, needed);
    if (isfinite(duty_needed) && !dxt_duty_exceedances(v->ex, v->W, &null, &cand)) {
        if (v->t->opts.verbose > 1)
            fprintf(stderr, "dxt-classify: subject %d: duty %d/%d, log p %.1f, needed %.1f\n",
                    s.id, cand.exceed, cand.valid, cand.log_p, duty_needed);
        if (cand.log_p < duty_needed) have |= take_likelier(&seg, &needed, have, &cand, duty_needed);
    }
    /* a burst where nothing longer is (a scan's segment holds its bursts) */
    if (!have && isfinite(burst_needed) &&
        burst_of(v, cc, k, scale, level, null.tau, burst_needed, &cand))
        have = burst = take_likelier(&seg, &needed, have, &cand, burst_needed);
    if (!have) return 0;
    return judge_segment(v, s, scale, level, null, &seg, needed, burst);
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

/* cc's arrays for a class of count subjects (cells: the line tallies; lines:
 * the tail sums); 0, or -1 (counts_free frees what was allocated). */
static int counts_alloc(class_counts *cc, int cells)
{
    size_t slots = (size_t)(cc->count ? cc->count : 1);
    cc->ex = malloc(slots * sizeof *cc->ex);
    cc->valid = malloc(slots * sizeof *cc->valid);
    cc->tr = malloc(slots * sizeof *cc->tr);
    if (cells) {
        cc->rows = malloc((size_t)cc->n * sizeof *cc->rows);
        cc->cols = malloc((size_t)cc->n * sizeof *cc->cols);
    } else {
        cc->tail = calloc(3 * slots, sizeof *cc->tail);
    }
    int lines_ok = cells ? cc->rows && cc->cols : cc->tail != NULL;
    return cc->ex && cc->valid && cc->tr && lines_ok ? 0 : -1;
}

static void counts_free(class_counts *cc)
{
    free(cc->ex), free(cc->valid), free(cc->tr), free(cc->rows), free(cc->cols), free(cc->tail);
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
    if (counts_alloc(&cc, cells) || !found || !first) goto fail;
    /* the scan at HIGH_Z needs a class of DROP_MIN subjects in a job of
     * HIGH_MIN_RANKS: its null is the rate of a few large exceedances among
     * the other subjects, of which fewer have next to none (EP2: one other
     * rank, 2 of 100 windows, and a launch regime above 6 scales read as
     * "p 6e-20"), and with 2-7 ranks the host that launches last changes in
     * regimes that move a rank's cells together. Its share of alpha then
     * goes back to the scan at EXCEED_Z. */
    class_stats pass[2] = {passes[0], passes[1]};
    if (count < DROP_MIN || v->n < HIGH_MIN_RANKS) {
        pass[0].scan_share += pass[1].scan_share + pass[1].burst_share;
        pass[1].scan_share = pass[1].burst_share = 0.0;
    }
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
        count_class(v, subs, cs, scale, &cc, p == 0);
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
    counts_free(&cc);
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

/* Ranks, then nodes, then cells (without the masked windows). */
int dxt_time_tests(tview *v)
{
    const dxt_judge *j = &v->t->judge;
    const dxt_classify_opts *o = &v->t->opts;
    int n = v->n, rc = -1, count = 0;
    subject *subs = malloc((v->nn + 2 * (size_t)n) * sizeof *subs);
    if (!subs) return -1;
    /* ranks: the scan and the duty test at EXCEED_Z, the scan and bursts at HIGH_Z;
     * cells: the scan at EXCEED_Z, the scan and the duty test at HIGH_Z */
    class_stats rank[2] = {{.min_scale = MIN_RANK_SCALE, .min_shift = 0.5 * log(o->min_severity),
                            .exceed_z = EXCEED_Z, .scan_share = SCAN_SHARE,
                            .duty_share = DUTY_SHARE}};
    rank[1] = rank[0];
    rank[1].exceed_z = HIGH_Z, rank[1].scan_share = HIGH_SCAN_SHARE - BURST_SHARE;
    rank[1].duty_share = 0.0, rank[1].burst_share = BURST_SHARE;
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
