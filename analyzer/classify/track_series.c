/* track_series.c - the tracker's outputs (classify.h): the findings, judged
 * when asked for, filtered by impact and ranked, and the per-window series of
 * a finding's subject for plots.
 * Owner: the classifier engineer (A1). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "track_internal.h"

#define FALLEN_START_WINDOWS 3 /* windows a finding "from the start" may begin after */
#define FALLEN_GAP_WINDOWS 2   /* its end and the other's onset, each known to a window */
#define LINE_PATHS 3 /* paths on one line that are its rank (PATTERN_CELLS in one window) */

int dxt_tracker_push_finding(dxt_tracker *t, const dxt_finding *f)
{
    if (t->nfindings == t->cap_findings) {
        int cap = t->cap_findings ? 2 * t->cap_findings : 16;
        dxt_finding *grown = realloc(t->findings, (size_t)cap * sizeof *grown);
        if (!grown) return -1;
        t->findings = grown;
        t->cap_findings = cap;
    }
    t->findings[t->nfindings++] = *f;
    return 0;
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

/* Finding f into the group g of findings it belongs to (g becomes f when
 * first): their widest span, their largest p (with its score), their excess
 * summed. */
static void absorb(dxt_finding *g, const dxt_finding *f, int first)
{
    if (first) {
        *g = *f;
        return;
    }
    if (f->first_step < g->first_step) g->first_step = f->first_step;
    if (f->last_step > g->last_step) g->last_step = f->last_step;
    if (f->p_value > g->p_value) g->p_value = f->p_value, g->score = f->score;
    g->excess += f->excess;
}

/* Which findings of a group: in(t, f, a, as_source) is 1 for the members of
 * group (a, as_source). */
typedef int (*group_test)(const dxt_tracker *t, const dxt_finding *f, int a, int as_source);

/* The findings not in group (a, as_source) kept, in their order. */
static void drop_members(dxt_tracker *t, group_test in, int a, int as_source)
{
    int kept = 0;
    for (int k = 0; k < t->nfindings; k++)
        if (!in(t, &t->findings[k], a, as_source)) t->findings[kept++] = t->findings[k];
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
            int size = node_size(j, a), members = 0, node = -1;
            dxt_finding g;
            memset(&g, 0, sizeof g);
            for (int k = 0; k < t->nfindings; k++) {
                const dxt_finding *f = &t->findings[k];
                if (f->kind == DXT_SLOW_NODE && f->node == a && f->as_source == as_source) node = k;
                if (member_of(t, f, a, as_source)) absorb(&g, f, members++ == 0);
            }
            if (node < 0 && (size < 2 || members < dxt_node_need(size))) continue;
            if (node < 0) {
                g.kind = DXT_SLOW_NODE, g.rank = -1, g.node = a, g.as_source = as_source;
                if (dxt_tracker_push_finding(t, &g)) return -1;
            }
            drop_members(t, member_of, a, as_source);
        }
    return 0;
}

/* Is f a slow path on line r (its row: the rank waiting, as_source 0; its
 * column: the rank waited for, as_source 1)? */
static int path_on_line(const dxt_tracker *t, const dxt_finding *f, int r, int as_source)
{
    (void)t;
    return f->kind == DXT_SLOW_PATH && (as_source ? f->src : f->dst) == r;
}

/* LINE_PATHS paths or more on one line are that line's rank, slow unevenly
 * (a receiver late for some of its senders: held-out GPU traces gave 3 and 24
 * paths into one slow receiver, its row's median not raised), not paths: one
 * rank finding of their widest span, their largest p and their median
 * severity, unless the rank has one of that kind already; the paths go. */
static int group_lines(dxt_tracker *t)
{
    double *sev = malloc((size_t)(t->nfindings ? t->nfindings : 1) * sizeof *sev);
    if (!sev) return -1;
    for (int as_source = 0; as_source < 2; as_source++)
        for (int r = 0; r < t->judge.n; r++) {
            int members = 0, have = 0;
            dxt_finding g;
            memset(&g, 0, sizeof g);
            for (int k = 0; k < t->nfindings; k++) {
                const dxt_finding *f = &t->findings[k];
                have |= f->rank == r && f->kind == (as_source ? DXT_SLOW_SOURCE : DXT_SLOW_DESTINATION);
                if (!path_on_line(t, f, r, as_source)) continue;
                absorb(&g, f, members == 0);
                sev[members++] = f->severity;
                if (f->windows_seen > g.windows_seen)
                    g.windows_seen = f->windows_seen, g.windows_flagged = f->windows_flagged;
                g.persistent |= f->persistent;
            }
            if (members < LINE_PATHS) continue;
            g.kind = as_source ? DXT_SLOW_SOURCE : DXT_SLOW_DESTINATION;
            g.rank = r, g.src = g.dst = -1;
            g.severity = dxt_median_inplace(sev, (size_t)members);
            drop_members(t, path_on_line, r, as_source);
            if (!have && dxt_tracker_push_finding(t, &g)) {
                free(sev);
                return -1;
            }
        }
    free(sev);
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

/* Does rank r take part in finding f (its rank, a path's end, its node)? */
static int has_rank(const dxt_tracker *t, const dxt_finding *f, int r)
{
    if (f->kind == DXT_SLOW_PATH) return f->src == r || f->dst == r;
    if (f->kind == DXT_SLOW_NODE) return t->judge.node_of[r] == f->node;
    return f->rank == r;
}

/* A finding from the run's start (its first windows: warm-up may be left out)
 * that ends where another finding of one of its ranks begins (within two
 * windows) is a level that fell at that onset, not a fault that ended: a slow
 * path's source serves its other peers sooner, and their cells drop. */
static int drop_fallen_levels(dxt_tracker *t)
{
    int W = t->windows, k = W > FALLEN_START_WINDOWS ? FALLEN_START_WINDOWS : W - 1, kept = 0;
    int64_t gap_max = FALLEN_GAP_WINDOWS * (t->last_steps[0] - t->first_steps[0] + 1);
    unsigned char *fell = calloc((size_t)t->nfindings + 1, 1);
    if (!fell) return -1;
    for (int e = 0; e < t->nfindings; e++) {
        const dxt_finding *g = &t->findings[e];
        if (g->first_step > t->first_steps[k] || g->last_step >= t->last_steps[W - 1]) continue;
        for (int f = 0; f < t->nfindings && !fell[e]; f++) {
            int64_t gap = t->findings[f].first_step - (g->last_step + 1);
            if (f == e || gap > gap_max || gap < -gap_max) continue;
            for (int r = 0; r < t->n && !fell[e]; r++)
                fell[e] = has_rank(t, g, r) && has_rank(t, &t->findings[f], r);
        }
    }
    for (int e = 0; e < t->nfindings; e++)
        if (!fell[e]) t->findings[kept++] = t->findings[e];
    t->nfindings = kept;
    free(fell);
    return 0;
}

/* Findings merged: one per subject, no episode from the start that is the
 * echo of an onset, paths by the handful on one line as its rank, most ranks
 * of a node as the node, no shift of the whole job. */
int dxt_tracker_merge(dxt_tracker *t)
{
    drop_duplicates(t);
    if (drop_fallen_levels(t) || group_lines(t) || group_nodes(t)) return -1;
    drop_job_shifts(t);
    return 0;
}

static double importance(const dxt_finding *f) { return f->severity * f->share; }

static int by_importance(const void *a, const void *b)
{
    double x = importance(a), y = importance(b);
    return x < y ? 1 : x > y ? -1 : 0;
}

/* t's findings, most important first. */
static void rank_findings(dxt_tracker *t)
{
    if (t->nfindings > 1)
        qsort(t->findings, (size_t)t->nfindings, sizeof *t->findings, by_importance);
}

/* A rank or node finding below min_severity that also holds under a tenth of
 * the op's excess wait explains nothing, however sure the test is of it (a
 * 1.1x echo of a slow rank in its peers' rows, lesson 2: impact decides). */
#define MINOR_SHARE 0.1
static int severe_enough(const dxt_tracker *t, const dxt_finding *f)
{
    return f->kind == DXT_SLOW_PATH || f->severity >= t->opts.min_severity ||
           f->share >= MINOR_SHARE;
}

/* Each finding's share of the op's excess wait; below min_share it explains
 * none of the slowdown and is not reported. */
static void apply_share(dxt_tracker *t)
{
    double total = 0.0;
    for (int k = 0; k < t->nfindings; k++)
        if (t->findings[k].excess > 0.0) total += t->findings[k].excess;
    int kept = 0;
    for (int k = 0; k < t->nfindings; k++) {
        dxt_finding *f = &t->findings[k];
        f->share = total > 0.0 && f->excess > 0.0 ? f->excess / total : 0.0;
        if (f->share >= t->opts.min_share && severe_enough(t, f)) t->findings[kept++] = *f;
    }
    t->nfindings = kept;
}

/* Steps of the tracker's windows: its longest one (windows may pair, the
 * last one may be short). */
static int64_t window_steps(const dxt_tracker *t)
{
    int64_t steps = 0;
    for (int w = 0; w < t->windows; w++)
        if (t->last_steps[w] - t->first_steps[w] + 1 > steps)
            steps = t->last_steps[w] - t->first_steps[w] + 1;
    return steps;
}

int dxt_tracker_findings(dxt_tracker *t, const dxt_finding **out)
{
    if (out) *out = NULL;
    if (!t) return 0;
    if (!t->analyzed) {
        if (dxt_tracker_analyze(t) != 0) {
            t->nfindings = 0;
            return 0;
        }
        int64_t steps = window_steps(t);
        for (int k = 0; k < t->nfindings; k++) t->findings[k].window_steps = steps;
        apply_share(t);
        rank_findings(t);
        t->analyzed = 1;
    }
    if (out) *out = t->findings;
    return t->nfindings;
}

/* Are a and b about one subject, a rank's load_imbalance and its slow_source
 * one (the token check may tell them apart in one window size only)? */
static int same_place(const dxt_finding *a, const dxt_finding *b)
{
    int load = a->kind == DXT_LOAD_IMBALANCE || b->kind == DXT_LOAD_IMBALANCE;
    int source = a->kind == DXT_SLOW_SOURCE || b->kind == DXT_SLOW_SOURCE;
    return same_subject(a, b) || (load && source && a->rank == b->rank);
}


/* Does mine cover theirs: one subject (same_place), or a rank of the slow
 * node mine is, slow the same way (a node in one size, its ranks in the other)? */
static int covers(const dxt_tracker *t, const dxt_finding *mine, const dxt_finding *theirs)
{
    if (same_place(mine, theirs)) return 1;
    if (mine->kind != DXT_SLOW_NODE || theirs->rank < 0) return 0;
    int as_source = theirs->kind == DXT_SLOW_SOURCE ||
                    (theirs->kind == DXT_LOAD_IMBALANCE && theirs->as_source);
    return t->judge.node_of[theirs->rank] == mine->node && as_source == mine->as_source;
}

/* Does a finding of this kind join the other size's (of `windows` windows)?
 * Paths only where that size has DXT_PATH_JOIN_WINDOWS windows or more: a cell's
 * null (its scale from its windows' differences, its class's rate and runs of
 * exceedances) needs many windows, and in 14-16 long ones a healthy cell's
 * cluster of spikes (6 of 14 windows), a drift of 1.18x and a 4-rank job's
 * launch regime (6.5x from step 200 of real DeepEP EP4) were paths (in 22 a
 * 1.5x path of 70 steps was found there alone). Else the short windows'
 * p-value of a path stands alone. */
static int joins(const dxt_finding *f, int windows)
{
    return f->kind != DXT_SLOW_PATH || windows >= DXT_PATH_JOIN_WINDOWS;
}

/* The smallest p-value among list's findings of f's subject; NAN: none. */
static double their_p(const dxt_finding *f, const dxt_finding *list, int count)
{
    double p = NAN;
    for (int k = 0; k < count; k++)
        if (same_place(f, &list[k]) && !(list[k].p_value >= p)) p = list[k].p_value;
    return p;
}

/* The p-value of a subject tested in two window sizes, p in one and q in the
 * other (NAN: not found there). Simes: p1 <= p2 give min(2 p1, p2), valid
 * where the two tests depend positively, as two sizes of windows over the
 * same steps do; found in one size alone: 2 p. */
static double two_sizes_p(double p, double q)
{
    if (isnan(q)) return fmin(1.0, 2.0 * p);
    return fmin(1.0, fmin(2.0 * fmin(p, q), fmax(p, q)));
}

/* Is theirs covered by one of t's first mine findings? */
static int covered(const dxt_tracker *t, int mine, const dxt_finding *theirs)
{
    for (int k = 0; k < mine; k++)
        if (covers(t, &t->findings[k], theirs)) return 1;
    return 0;
}

/* Would joining drop a finding: one of a single size whose p-value, between
 * alpha / 2 and alpha, the other size (of `windows` windows) does not back? */
static int join_drops(const dxt_tracker *t, const dxt_finding *theirs, int count, int windows,
                      double alpha)
{
    int mine = t->nfindings;
    for (int k = 0; k < mine; k++) {
        const dxt_finding *f = &t->findings[k];
        if (joins(f, windows) && !(two_sizes_p(f->p_value, their_p(f, theirs, count)) < alpha))
            return 1;
    }
    for (int k = 0; k < count; k++)
        if (joins(&theirs[k], windows) && !covered(t, mine, &theirs[k]) &&
            !(two_sizes_p(theirs[k].p_value, NAN) < alpha))
            return 1;
    return 0;
}

/* Judge t again at alpha (its windows are kept). */
static void rejudge(dxt_tracker *t, double alpha)
{
    t->opts.alpha = alpha;
    t->analyzed = 0;
    (void)dxt_tracker_findings(t, NULL);
}

int dxt_tracker_join(dxt_tracker *t, dxt_tracker *other)
{
    const dxt_finding *theirs;
    double alpha = t->opts.alpha;
    int mine = dxt_tracker_findings(t, NULL), count = dxt_tracker_findings(other, &theirs);
    if (join_drops(t, theirs, count, other->windows, alpha)) {
        /* the finding dropped may have shaped the others of its size (ranks
         * grouped into its node, a share of the excess, the shift of the
         * whole job): both sizes judged again at half the alpha, where every
         * finding holds (Bonferroni at worst) */
        if (t->opts.verbose)
            fprintf(stderr, "dxt-classify: %s: a finding of one window size alone between "
                    "alpha/2 and alpha: both sizes judged again at alpha/2\n", t->op);
        rejudge(t, alpha / 2.0);
        rejudge(other, alpha / 2.0);
        mine = dxt_tracker_findings(t, NULL);
        count = dxt_tracker_findings(other, &theirs);
    }
    for (int k = 0; k < mine; k++) {
        dxt_finding *f = &t->findings[k];
        if (joins(f, other->windows))
            f->p_value = two_sizes_p(f->p_value, their_p(f, theirs, count));
    }
    int rc = 0;
    for (int k = 0; k < count && rc == 0; k++) {
        dxt_finding f = theirs[k];
        f.p_value = two_sizes_p(f.p_value, NAN);
        if (joins(&f, other->windows) && !covered(t, mine, &f))
            rc = dxt_tracker_push_finding(t, &f);
    }
    t->opts.alpha = other->opts.alpha = alpha;
    rank_findings(t);
    return rc;
}

/* Is cell (i, k) one of finding f's? */
static int in_subject(const dxt_tracker *t, const dxt_finding *f, int i, int k)
{
    const int *node_of = t->judge.node_of;
    switch (f->kind) {
    case DXT_SLOW_PATH: return i == f->dst && k == f->src;
    case DXT_SLOW_NODE: return dxt_node_cell(node_of, f->node, f->as_source, i, k);
    case DXT_SLOW_SOURCE: return k == f->rank;
    case DXT_SLOW_DESTINATION: return i == f->rank;
    default: return f->as_source ? k == f->rank : i == f->rank;
    }
}

/* Mean wait per step of the subject's cells in window w, and the median of
 * the other lines of the same kind (cells: the rest of its row). */
static void subject_point(dxt_tracker *t, const dxt_finding *f, int w, double *subj,
                          double *peers)
{
    int n = t->n, by_col = f->kind == DXT_SLOW_SOURCE || f->as_source;
    const float *v = t->vals + (size_t)w * n * n;
    double sum = 0.0, *buf = t->judge.scratch;
    size_t count = 0, np = 0;
    for (int l = 0; l < n; l++) {
        double line = 0.0;
        size_t cells = 0;
        for (int m = 0; m < n; m++) {
            int i = f->kind == DXT_SLOW_PATH ? f->dst : by_col ? m : l;
            int k = f->kind == DXT_SLOW_PATH ? l : by_col ? l : m;
            float x = v[(size_t)i * n + k];
            if (i == k || isnan(x)) continue;
            if (in_subject(t, f, i, k)) sum += x, count++;
            else line += x, cells++;
            if (f->kind == DXT_SLOW_PATH) break;
        }
        if (cells) buf[np++] = line / (double)cells;
    }
    *subj = count ? sum / (double)count : NAN;
    *peers = dxt_median_inplace(buf, np);
}

int dxt_tracker_series(dxt_tracker *t, const dxt_finding *f, const int64_t **first_steps,
                       const double **subject, const double **peers)
{
    if (!t || !f || t->windows == 0) return 0;
    free(t->series_subject);
    free(t->series_peers);
    t->series_subject = malloc((size_t)t->windows * sizeof *t->series_subject);
    t->series_peers = malloc((size_t)t->windows * sizeof *t->series_peers);
    if (!t->series_subject || !t->series_peers) return 0;
    for (int w = 0; w < t->windows; w++)
        subject_point(t, f, w, &t->series_subject[w], &t->series_peers[w]);
    if (first_steps) *first_steps = t->first_steps;
    if (subject) *subject = t->series_subject;
    if (peers) *peers = t->series_peers;
    return t->windows;
}
