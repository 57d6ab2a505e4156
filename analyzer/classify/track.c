/* track.c - the tracker of the classifier (classify.h): keeps every window of
 * one op (per-step mean wait and tokens as float, which rows are judged), and
 * when the findings are asked for, judges them all at once (classify_time.c),
 * the run's usual matrix through the one-window classifier (classify.c) here.
 * Owner: the classifier engineer (A1). Findings and plot series: track_series.c.
 *
 * Memory: windows x N^2 floats (x2 with tokens); past DXT_TRACK_BUDGET_CELLS
 * adjacent windows are merged pairwise (the default window gives <= 100). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "track_internal.h"

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
    t->opts = *opts;
    if (!(t->opts.alpha > 0.0 && t->opts.alpha < 1.0)) t->opts.alpha = 0.001; /* dxt_classify_opts_init's */
    t->n = topo->n;
    if (!(t->prev_rows = calloc((size_t)t->n, sizeof *t->prev_rows))) goto fail;
    return t;
fail:
    dxt_tracker_free(t);
    return NULL;
}

void dxt_tracker_free(dxt_tracker *t)
{
    if (!t) return;
    dxt_judge_free(&t->judge);
    free(t->first_steps);
    free(t->last_steps);
    free(t->vals);
    free(t->toks);
    free(t->row_ok);
    free(t->prev_rows);
    free(t->findings);
    free(t->series_subject);
    free(t->series_peers);
    free(t);
}

/* Per-step mean of two adjacent windows into the first (NAN: the other's). */
static void merge_cells(float *a, const float *b, size_t cells, double wa, double wb)
{
    for (size_t c = 0; c < cells; c++)
        a[c] = isnan(a[c]) ? b[c] : isnan(b[c]) ? a[c]
                                                : (float)((wa * a[c] + wb * b[c]) / (wa + wb));
}

/* Halve the windows kept: windows 2k and 2k+1 become window k. */
static void merge_pairs(dxt_tracker *t)
{
    size_t nn = (size_t)t->n * t->n, n = (size_t)t->n;
    int out = 0;
    for (int w = 0; w < t->windows; w += 2, out++) {
        int pair = w + 1 < t->windows;
        double wa = (double)(t->last_steps[w] - t->first_steps[w] + 1);
        double wb = pair ? (double)(t->last_steps[w + 1] - t->first_steps[w + 1] + 1) : 0.0;
        memmove(t->vals + out * nn, t->vals + w * nn, nn * sizeof *t->vals);
        if (t->toks) memmove(t->toks + out * nn, t->toks + w * nn, nn * sizeof *t->toks);
        memmove(t->row_ok + out * n, t->row_ok + w * n, n);
        t->first_steps[out] = t->first_steps[w];
        t->last_steps[out] = t->last_steps[w];
        if (!pair) continue;
        merge_cells(t->vals + out * nn, t->vals + (w + 1) * nn, nn, wa, wb);
        if (t->toks) merge_cells(t->toks + out * nn, t->toks + (w + 1) * nn, nn, wa, wb);
        for (size_t i = 0; i < n; i++) t->row_ok[out * n + i] &= t->row_ok[(w + 1) * n + i];
        t->last_steps[out] = t->last_steps[w + 1];
    }
    t->windows = out;
}

/* Room for one more window. */
static int grow_windows(dxt_tracker *t, int tokens)
{
    size_t nn = (size_t)t->n * t->n, n = (size_t)t->n;
    if (t->windows > 1 && (size_t)(t->windows + 1) * nn * (tokens ? 2 : 1) > DXT_TRACK_BUDGET_CELLS)
        merge_pairs(t);
    if (t->windows < t->cap_windows) return 0;
    int cap = t->cap_windows ? 2 * t->cap_windows : 16;
    int64_t *fs = realloc(t->first_steps, (size_t)cap * sizeof *fs);
    if (!fs) return -1;
    t->first_steps = fs;
    int64_t *ls = realloc(t->last_steps, (size_t)cap * sizeof *ls);
    if (!ls) return -1;
    t->last_steps = ls;
    float *v = realloc(t->vals, (size_t)cap * nn * sizeof *v);
    if (!v) return -1;
    t->vals = v;
    if (tokens) {
        float *k = realloc(t->toks, (size_t)cap * nn * sizeof *k);
        if (!k) return -1;
        t->toks = k;
    }
    unsigned char *ok = realloc(t->row_ok, (size_t)cap * n);
    if (!ok) return -1;
    t->row_ok = ok;
    t->cap_windows = cap;
    return 0;
}

/* Which rows of this window are judged: the rank has data, and neither this
 * window nor the one before lost rows (a cumulative counter carries a gap's
 * whole total into the first row after it). */
static void judge_rows(dxt_tracker *t, const double *wait, const int64_t *rank_rows,
                       unsigned char *ok)
{
    int n = t->n;
    int64_t most = 0;
    for (int i = 0; rank_rows && i < n; i++)
        if (rank_rows[i] > most) most = rank_rows[i];
    for (int i = 0; i < n; i++) {
        /* a rank with rows has data: its NAN cells are windows of zero wait
         * (a late rank waits for nobody: with 2 ranks its whole row is one
         * such cell); without row counts, a rank with some finite cell */
        int any = rank_rows && rank_rows[i] > 0;
        for (int k = 0; k < n && !any; k++) any = k != i && !isnan(wait[(size_t)i * n + k]);
        int short_now = rank_rows && rank_rows[i] < most;
        ok[i] = any && !short_now && !(t->have_prev_rows && t->prev_rows[i]);
        t->prev_rows[i] = short_now;
    }
    t->have_prev_rows = rank_rows != NULL;
}

int dxt_tracker_add_window_rows(dxt_tracker *t, int64_t first_step, int64_t last_step,
                                const double *wait, const double *tokens,
                                const int64_t *rank_rows)
{
    if (!t || !wait) return -1;
    double steps = last_step >= first_step ? (double)(last_step - first_step + 1) : 1.0;
    if (t->windows == 0) t->have_tokens = tokens != NULL;
    if (grow_windows(t, t->have_tokens)) return -1;
    size_t nn = (size_t)t->n * t->n, w = (size_t)t->windows;
    for (size_t c = 0; c < nn; c++) {
        double x = wait[c];
        t->vals[w * nn + c] = c / t->n == c % t->n || !isfinite(x) ? NAN : (float)(x / steps);
        if (t->have_tokens)
            t->toks[w * nn + c] = tokens && isfinite(tokens[c]) ? (float)(tokens[c] / steps) : NAN;
    }
    judge_rows(t, wait, rank_rows, t->row_ok + w * t->n);
    t->first_steps[w] = first_step;
    t->last_steps[w] = last_step >= first_step ? last_step : first_step;
    t->windows++;
    t->analyzed = 0;
    return 0;
}

int dxt_tracker_add_window(dxt_tracker *t, int64_t first_step, int64_t last_step,
                           const double *wait, const double *tokens)
{
    return dxt_tracker_add_window_rows(t, first_step, last_step, wait, tokens, NULL);
}

int dxt_tracker_has_tokens(const dxt_tracker *t)
{
    return t && t->have_tokens;
}

void dxt_tracker_set_longer(dxt_tracker *t)
{
    t->longer = 1;
    t->analyzed = 0;
}

/* Tests a one-window kind makes: lines for ranks, cells for paths, nodes. */
static double static_tests(const dxt_judge *j, dxt_kind kind)
{
    if (kind == DXT_SLOW_PATH) return (double)j->n * j->n;
    if (kind == DXT_SLOW_NODE) return 2.0 * j->nnodes;
    return 2.0 * j->n;
}

/* The hit of confirm[] about the same subject as x (load_imbalance and the
 * slow line it was are one), or NULL. */
static const dxt_hit *same_hit(const dxt_hit *x, const dxt_hit *confirm, int nconfirm)
{
    for (int h = 0; h < nconfirm; h++) {
        const dxt_hit *y = &confirm[h];
        int rank_kind = x->kind == DXT_SLOW_SOURCE || x->kind == DXT_SLOW_DESTINATION ||
                        x->kind == DXT_LOAD_IMBALANCE;
        int same = x->kind == DXT_SLOW_PATH ? y->kind == x->kind && y->src == x->src && y->dst == x->dst
                   : x->kind == DXT_SLOW_NODE ? y->kind == x->kind && y->node == x->node &&
                                                    y->as_source == x->as_source
                   : rank_kind && y->rank == x->rank &&
                         (y->kind == x->kind || y->kind == DXT_LOAD_IMBALANCE ||
                          x->kind == DXT_LOAD_IMBALANCE);
        if (same) return y;
    }
    return NULL;
}

int dxt_tracker_keep_confirmed(dxt_tracker *t, const double *level, const double *tokens,
                               dxt_hit *hits, int nhits)
{
    if (dxt_judge_window(&t->judge, level, tokens, 1.0, NULL, NULL)) return -1;
    int kept = 0;
    for (int h = 0; h < nhits; h++)
        if (same_hit(&hits[h], t->judge.hits, t->judge.nhits)) hits[kept++] = hits[h];
    return kept;
}

int dxt_tracker_judge_static(dxt_tracker *t, const double *level, const double *tokens,
                             int64_t first, int64_t last, int windows, const dxt_hit *confirm,
                             int nconfirm)
{
    dxt_judge *j = &t->judge;
    if (dxt_judge_window(j, level, tokens, 1.0, NULL, NULL)) return -1;
    double steps = (double)(last - first + 1);
    for (int h = 0; h < j->nhits; h++) {
        dxt_hit both = j->hits[h];
        const dxt_hit *x = &both, *y = confirm ? same_hit(x, confirm, nconfirm) : x;
        if (!y) continue;
        /* the weaker of the two ends */
        if (y->severity < both.severity) both.severity = y->severity;
        if (y->score < both.score) both.score = y->score;
        if (y->excess < both.excess) both.excess = y->excess;
        /* the robust z of the test (the first quarter's: the last one only
         * confirms, at a lower bar) as a t tail (a rank's scale came from its
         * n effects; a path's hit carries its whole chance, classify_paths.c),
         * or its group's own tail, for every test of its kind (one one-sided
         * test a subject: the last quarter confirms, and a finding needs both) */
        double one = x->kind == DXT_SLOW_PATH ? 0.0 : dxt_student_tail(y->score, fmax(j->n - 1.0, 1.0));
        if (y->tail > one) one = y->tail;
        double p = static_tests(j, x->kind) * one;
        /* a load_imbalance: tokens that stand out from the routing's own
         * spread (classify_tokens.c), at both ends (the wait, flagged and
         * following them, says what they cost; a healthy rank's wait is never
         * a load finding by its noise alone) */
        if (x->kind == DXT_LOAD_IMBALANCE && y->kind == DXT_LOAD_IMBALANCE && x->p_load > 0.0)
            p = fmax(x->p_load, y->p_load);
        /* anywhere in the op: these tests hold alpha_static of its alpha */
        p *= t->opts.alpha / t->alpha_static;
        if (!(p < t->opts.alpha)) continue;
        dxt_finding f = {.kind = x->kind, .rank = -1, .src = -1, .dst = -1, .node = -1};
        snprintf(f.op, sizeof f.op, "%s", t->op);
        if (x->kind == DXT_SLOW_PATH) f.src = x->src, f.dst = x->dst;
        else if (x->kind == DXT_SLOW_NODE) f.node = x->node, f.as_source = x->as_source;
        else f.rank = x->rank;
        f.first_step = first;
        f.last_step = last;
        f.severity = x->severity;
        f.score = x->score;
        f.excess = x->excess * steps;
        f.windows_flagged = f.windows_seen = windows;
        f.persistent = 1;
        f.p_value = p;
        if (dxt_tracker_push_finding(t, &f)) return -1;
    }
    return 0;
}
