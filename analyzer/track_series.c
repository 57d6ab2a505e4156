/* track_series.c - the tracker's outputs (classify.h): the findings, filtered
 * and ranked, and the per-window series of a finding's subject for plots.
 * Owner: the classifier engineer (A1). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "track_internal.h"

/* A slow path must persist: a spike hits one cell in one window. */
static int path_persists(const dxt_tracker *t, const dxt_subject *s)
{
    int need = t->judge.opts.min_path_windows;
    if (need > t->windows) need = t->windows;
    return s->windows_flagged >= need;
}

static int reportable(const dxt_tracker *t, const dxt_subject *s)
{
    return s->kind != DXT_SLOW_PATH || path_persists(t, s);
}

static void fill_finding(const dxt_tracker *t, const dxt_subject *s, double total,
                         dxt_finding *f)
{
    memset(f, 0, sizeof *f);
    f->kind = s->kind;
    memcpy(f->op, t->op, sizeof f->op);
    f->rank = s->kind == DXT_SLOW_SOURCE || s->kind == DXT_SLOW_DESTINATION ||
                      s->kind == DXT_LOAD_IMBALANCE ? s->rank : -1;
    f->src = s->kind == DXT_SLOW_PATH ? s->src : -1;
    f->dst = s->kind == DXT_SLOW_PATH ? s->dst : -1;
    f->node = s->kind == DXT_SLOW_NODE ? s->node : -1;
    f->as_source = s->kind == DXT_SLOW_NODE ? s->as_source : 0;
    f->first_step = s->first_step;
    f->last_step = s->last_step;
    f->severity = s->severity;
    f->score = s->score;
    f->excess = s->excess;
    f->share = total > 0.0 && s->excess > 0.0 ? s->excess / total : 0.0;
    f->windows_flagged = s->windows_flagged;
    f->windows_seen = t->windows - s->first_window;
    int span = s->last_window - s->first_window + 1;
    f->persistent = s->windows_flagged >= DXT_PERSISTENT_FRACTION * span;
}

static double importance(const dxt_finding *f) { return f->severity * f->share; }

static int by_importance(const void *a, const void *b)
{
    double x = importance(a), y = importance(b);
    return x < y ? 1 : x > y ? -1 : 0;
}

int dxt_tracker_findings(dxt_tracker *t, const dxt_finding **out)
{
    if (out) *out = NULL;
    if (!t) return 0;
    double total = 0.0;
    for (int k = 0; k < t->nsubs; k++)
        if (reportable(t, &t->subs[k]) && t->subs[k].excess > 0.0) total += t->subs[k].excess;
    free(t->findings);
    t->nfindings = 0;
    t->findings = malloc((size_t)(t->nsubs ? t->nsubs : 1) * sizeof *t->findings);
    if (!t->findings) return 0;
    for (int k = 0; k < t->nsubs; k++) {
        if (!reportable(t, &t->subs[k])) continue;
        dxt_finding *f = &t->findings[t->nfindings];
        fill_finding(t, &t->subs[k], total, f);
        if (f->share >= t->judge.opts.min_share) t->nfindings++;
    }
    qsort(t->findings, (size_t)t->nfindings, sizeof *t->findings, by_importance);
    if (out) *out = t->findings;
    return t->nfindings;
}

static const dxt_subject *find_subject(const dxt_tracker *t, const dxt_finding *f)
{
    for (int k = 0; k < t->nsubs; k++) {
        const dxt_subject *s = &t->subs[k];
        if (s->kind != f->kind || s->first_step != f->first_step) continue;
        if (s->kind == DXT_SLOW_PATH ? s->src == f->src && s->dst == f->dst
            : s->kind == DXT_SLOW_NODE ? s->node == f->node && s->as_source == f->as_source
                                      : s->rank == f->rank)
            return s;
    }
    return NULL;
}

/* Subject and peers of a rank line (column if by_col) or a node in window w. */
static void line_point(dxt_tracker *t, const dxt_subject *s, int by_col, int w, double *subj,
                       double *peers)
{
    int n = t->n;
    const double *means = (by_col ? t->col_mean : t->row_mean) + (size_t)w * n;
    double sum = 0.0;
    int count = 0;
    size_t np = 0;
    for (int r = 0; r < n; r++) {
        int mine = s->kind == DXT_SLOW_NODE ? t->judge.node_of[r] == s->node : r == s->rank;
        if (mine && isfinite(means[r])) sum += means[r], count++;
        else if (!mine) t->judge.scratch[np++] = means[r];
    }
    *subj = count ? sum / count : NAN;
    *peers = dxt_median_inplace(t->judge.scratch, np);
}

int dxt_tracker_series(dxt_tracker *t, const dxt_finding *f, const int64_t **first_steps,
                       const double **subject, const double **peers)
{
    const dxt_subject *s = t && f ? find_subject(t, f) : NULL;
    if (!s || t->windows == 0) return 0;
    free(t->series_subject);
    free(t->series_peers);
    t->series_subject = malloc((size_t)t->windows * sizeof *t->series_subject);
    t->series_peers = malloc((size_t)t->windows * sizeof *t->series_peers);
    if (!t->series_subject || !t->series_peers) return 0;
    int by_col = s->kind == DXT_SLOW_SOURCE || s->as_source;
    for (int w = 0; w < t->windows; w++) {
        if (s->kind != DXT_SLOW_PATH) {
            line_point(t, s, by_col, w, &t->series_subject[w], &t->series_peers[w]);
            continue;
        }
        int k = w - s->first_window;
        int known = k >= 0 && k < s->path_len;
        t->series_subject[w] = known ? s->path_value[k] : NAN;
        t->series_peers[w] = known ? s->path_peers[k] : NAN;
    }
    if (first_steps) *first_steps = t->first_steps;
    if (subject) *subject = t->series_subject;
    if (peers) *peers = t->series_peers;
    return t->windows;
}
