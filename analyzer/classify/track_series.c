/* track_series.c - the tracker's outputs (classify.h): the findings, judged
 * when asked for, filtered by impact and ranked, and the per-window series of
 * a finding's subject for plots.
 * Owner: the classifier engineer (A1). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "track_internal.h"

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

static double importance(const dxt_finding *f) { return f->severity * f->share; }

static int by_importance(const void *a, const void *b)
{
    double x = importance(a), y = importance(b);
    return x < y ? 1 : x > y ? -1 : 0;
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

int dxt_tracker_findings(dxt_tracker *t, const dxt_finding **out)
{
    if (out) *out = NULL;
    if (!t) return 0;
    if (!t->analyzed) {
        if (dxt_tracker_analyze(t) != 0) {
            t->nfindings = 0;
            return 0;
        }
        apply_share(t);
        if (t->nfindings > 1)
            qsort(t->findings, (size_t)t->nfindings, sizeof *t->findings, by_importance);
        t->analyzed = 1;
    }
    if (out) *out = t->findings;
    return t->nfindings;
}

/* Is cell (i, k) one of finding f's? */
static int in_subject(const dxt_tracker *t, const dxt_finding *f, int i, int k)
{
    const int *node_of = t->judge.node_of;
    switch (f->kind) {
    case DXT_SLOW_PATH: return i == f->dst && k == f->src;
    case DXT_SLOW_NODE:
        return f->as_source ? node_of[k] == f->node && node_of[i] != f->node : node_of[i] == f->node;
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
