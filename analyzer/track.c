/* track.c - the tracker of the classifier (classify.h): feeds each window of
 * one op to the judge (classify.c) against the cells' own history, merges a
 * subject's flagged windows into one finding, ranks the findings.
 * Owner: the classifier engineer (A1). The plot series are in track_series.c.
 *
 * State, O(N^2) + O(windows) per subject: ref, each cell's usual log wait per
 * step (set from the first window without its flagged parts, then a slow
 * clipped average of the windows in which the cell was not part of a flagged
 * subject, so that a fault is not learnt as normal); tok_ref, each rank's
 * usual tokens; per window the mean wait of every row and column (series). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "track_internal.h"

/* History: the first windows average in fully (1/k), then each window pulls
 * a cell's usual level REF_ALPHA of the way to what it saw (at most REF_CLIP,
 * log, so one spike cannot move it far). Healthy cells drift: a sim intra-node
 * cell near the polling floor rose 1.8x over 1500 steps (routing drift); at
 * 0.3 per window that lags by ~1.14x, below any threshold. Cells of flagged
 * subjects are not averaged in, so a fault is never learnt as normal. */
#define REF_WARMUP 4
#define REF_ALPHA 0.3
#define REF_CLIP 0.2

dxt_tracker *dxt_tracker_new(const char *op, const dxt_topology *topo,
                             const dxt_classify_opts *opts)
{
    dxt_classify_opts defaults;
    if (!opts) {
        dxt_classify_opts_init(&defaults);
        opts = &defaults;
    }
    dxt_tracker *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    snprintf(t->op, sizeof t->op, "%s", op ? op : "");
    if (dxt_judge_init(&t->judge, topo, opts)) goto fail;
    t->n = topo->n;
    size_t n = (size_t)t->n;
    t->ref = malloc(n * n * sizeof *t->ref);
    t->tok_ref = calloc(2 * n, sizeof *t->tok_ref);
    if (!t->ref || !t->tok_ref) goto fail;
    return t;
fail:
    dxt_tracker_free(t);
    return NULL;
}

void dxt_tracker_free(dxt_tracker *t)
{
    if (!t) return;
    dxt_judge_free(&t->judge);
    for (int s = 0; s < t->nsubs; s++) {
        free(t->subs[s].path_value);
        free(t->subs[s].path_peers);
    }
    free(t->subs);
    free(t->ref);
    free(t->tok_ref);
    free(t->first_steps);
    free(t->row_mean);
    free(t->col_mean);
    free(t->findings);
    free(t->series_subject);
    free(t->series_peers);
    free(t);
}

/* Room for one more window in the per-window arrays. */
static int grow_windows(dxt_tracker *t)
{
    if (t->windows < t->cap_windows) return 0;
    int cap = t->cap_windows ? 2 * t->cap_windows : 64;
    size_t n = (size_t)t->n;
    int64_t *fs = realloc(t->first_steps, (size_t)cap * sizeof *fs);
    if (!fs) return -1;
    t->first_steps = fs;
    double *rm = realloc(t->row_mean, (size_t)cap * n * sizeof *rm);
    if (!rm) return -1;
    t->row_mean = rm;
    double *cm = realloc(t->col_mean, (size_t)cap * n * sizeof *cm);
    if (!cm) return -1;
    t->col_mean = cm;
    t->cap_windows = cap;
    return 0;
}

/* Mean wait per step of every row and column of this window (series). */
static void record_means(dxt_tracker *t, const double *wait, double steps)
{
    int n = t->n;
    double *rm = t->row_mean + (size_t)t->windows * n, *cm = t->col_mean + (size_t)t->windows * n;
    int *ccount = (int *)t->judge.scratch; /* n ints fit in n*n doubles */
    for (int k = 0; k < n; k++) cm[k] = 0.0, ccount[k] = 0;
    for (int i = 0; i < n; i++) {
        double sum = 0.0;
        int count = 0;
        for (int k = 0; k < n; k++) {
            double w = wait[(size_t)i * n + k];
            if (i == k || !(w > 0.0) || !isfinite(w)) continue;
            sum += w / steps;
            count++;
            cm[k] += w / steps;
            ccount[k]++;
        }
        rm[i] = count ? sum / count : NAN;
    }
    for (int k = 0; k < n; k++) cm[k] = ccount[k] ? cm[k] / ccount[k] : NAN;
}

static int same_subject(const dxt_subject *s, const dxt_hit *h)
{
    return s->kind == h->kind && s->rank == h->rank && s->src == h->src && s->dst == h->dst &&
           s->node == h->node && s->as_source == h->as_source;
}

/* Merge one hit of window w (steps first..last) into its subject. */
static int merge_hit(dxt_tracker *t, const dxt_hit *h, int64_t first, int64_t last)
{
    dxt_subject *s = NULL;
    for (int k = 0; k < t->nsubs && !s; k++)
        if (same_subject(&t->subs[k], h)) s = &t->subs[k];
    if (!s) {
        if (t->nsubs == t->cap_subs) {
            int cap = t->cap_subs ? 2 * t->cap_subs : 16;
            dxt_subject *grown = realloc(t->subs, (size_t)cap * sizeof *grown);
            if (!grown) return -1;
            t->subs = grown;
            t->cap_subs = cap;
        }
        s = &t->subs[t->nsubs++];
        memset(s, 0, sizeof *s);
        s->kind = h->kind;
        s->rank = h->rank;
        s->src = h->src;
        s->dst = h->dst;
        s->node = h->node;
        s->as_source = h->as_source;
        s->first_step = first;
        s->first_window = t->windows;
    }
    s->last_step = last;
    s->last_window = t->windows;
    s->windows_flagged++;
    if (h->severity > s->severity) s->severity = h->severity;
    if (h->score > s->score) s->score = h->score;
    s->excess += h->excess;
    return 0;
}

/* Paths keep their own series from their first flag (O(windows) each). */
static int record_paths(dxt_tracker *t, const double *wait, double steps)
{
    int n = t->n;
    for (int k = 0; k < t->nsubs; k++) {
        dxt_subject *s = &t->subs[k];
        if (s->kind != DXT_SLOW_PATH) continue;
        if (s->path_len == s->path_cap) {
            int cap = s->path_cap ? 2 * s->path_cap : 8;
            double *v = realloc(s->path_value, (size_t)cap * sizeof *v);
            if (!v) return -1;
            s->path_value = v;
            double *p = realloc(s->path_peers, (size_t)cap * sizeof *p);
            if (!p) return -1;
            s->path_peers = p;
            s->path_cap = cap;
        }
        const double *row = wait + (size_t)s->dst * n;
        size_t count = 0;
        for (int q = 0; q < n; q++)
            if (q != s->dst && q != s->src && row[q] > 0.0) t->judge.scratch[count++] = row[q] / steps;
        s->path_value[s->path_len] = row[s->src] > 0.0 ? row[s->src] / steps : NAN;
        s->path_peers[s->path_len++] = dxt_median_inplace(t->judge.scratch, count);
    }
    return 0;
}

/* Is cell (i, k) part of anything flagged in this window? */
static int cell_flagged(const dxt_judge *j, int i, int k)
{
    size_t c = (size_t)i * j->n + k;
    return j->late[i] || j->late[k] || j->hot_row[i] || j->hot_cell[c];
}

/* A flagged cell's usual level from the first window: the fit without the
 * flagged parts; the cells of a node slow against the other nodes' blocks
 * keep what they saw (the node is judged that way in every window). */
static double first_ref(const dxt_judge *j, int i, int k, double v)
{
    int nn = j->nnodes, a = j->node_of[i], b = j->node_of[k];
    const unsigned char *dst_node = j->static_node, *src_node = j->static_node + nn;
    if (dst_node[a] || src_node[a] || (a != b && src_node[b])) return v;
    return j->blk[a * nn + b] + (j->late[i] || j->hot_row[i] ? 0.0 : j->row[i]) +
           (j->late[k] ? 0.0 : j->col[k]);
}

/* The usual level of the cells: first window without its flagged parts,
 * later windows averaged in slowly where nothing was flagged. */
static void update_ref(dxt_tracker *t)
{
    const dxt_judge *j = &t->judge;
    int n = t->n, first = t->windows == 0;
    double alpha = t->windows < REF_WARMUP ? 1.0 / (t->windows + 1) : REF_ALPHA;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            size_t c = (size_t)i * n + k;
            double v = j->logm[c];
            if (first) {
                t->ref[c] = cell_flagged(j, i, k) && !isnan(v) ? first_ref(j, i, k, v) : v;
            } else if (!isnan(v) && !cell_flagged(j, i, k)) {
                double d = isnan(t->ref[c]) ? 0.0 : v - t->ref[c];
                if (isnan(t->ref[c])) t->ref[c] = v;
                else if (t->windows < REF_WARMUP) t->ref[c] += alpha * d;
                else t->ref[c] += alpha * (d > REF_CLIP ? REF_CLIP : d < -REF_CLIP ? -REF_CLIP : d);
            }
        }
}

/* The usual tokens of every rank, where it was not flagged. */
static void update_tok_ref(dxt_tracker *t)
{
    const dxt_judge *j = &t->judge;
    int n = t->n;
    if (!j->have_tokens) return;
    double alpha = t->windows < REF_WARMUP ? 1.0 / (t->windows + 1) : REF_ALPHA;
    for (int r = 0; r < 2 * n; r++) {
        int rank = r % n, hot = 0;
        for (int h = 0; h < j->nhits; h++) /* a hot expert is not usual */
            hot |= j->hits[h].kind == DXT_LOAD_IMBALANCE && j->hits[h].rank == rank;
        if (hot) continue;
        double v = j->tok_sums[r];
        t->tok_ref[r] = t->tok_ref[r] > 0.0 ? t->tok_ref[r] + alpha * (v - t->tok_ref[r]) : v;
    }
}

int dxt_tracker_add_window(dxt_tracker *t, int64_t first_step, int64_t last_step,
                           const double *wait, const double *tokens)
{
    if (!t || !wait) return -1;
    double steps = last_step >= first_step ? (double)(last_step - first_step + 1) : 1.0;
    if (grow_windows(t)) return -1;
    int history = t->windows > 0;
    if (dxt_judge_window(&t->judge, wait, tokens, steps, history ? t->ref : NULL,
                         history && tokens ? t->tok_ref : NULL))
        return -1;
    t->first_steps[t->windows] = first_step;
    record_means(t, wait, steps);
    for (int h = 0; h < t->judge.nhits; h++)
        if (merge_hit(t, &t->judge.hits[h], first_step, last_step)) return -1;
    if (record_paths(t, wait, steps)) return -1;
    update_ref(t);
    update_tok_ref(t);
    t->windows++;
    return 0;
}
