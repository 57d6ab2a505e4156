/* classify_time_tokens.c - does a finding of the tests over time
 * (classify_subjects.c) rise with its tokens? Each cell's change of wait and
 * of tokens from outside the finding's windows to inside them, across the
 * subject's cells or, for a rank, across the ranks' lines (the line through
 * them: dxt_tokens_explain, classify_tokens.c): a load imbalance, the
 * routing's own wander, or no answer.
 * Owner: the classifier engineer (A1). */
#include <math.h>

#include "classify_view.h"

/* Median over the windows of seg (inside: its exceedances only when
 * flagged) or over the usable windows outside seg of cell c's log wait
 * (tokens: log tokens + 1); the duty test's seg is the whole run: inside,
 * its exceedances (flagged or not), outside, its windows off. */
static double cell_median(tview *v, size_t c, const dxt_segment *seg, int inside, int flagged,
                          int tokens)
{
    const dxt_tracker *t = v->t;
    size_t m = 0;
    for (int w = 0; w < v->W; w++) {
        int in = w >= seg->first && w <= seg->last && !(seg->whole && v->ex[w] != 1);
        if (!v->use[w] || in != inside || (inside && flagged && v->ex[w] != 1)) continue;
        float f = (tokens ? t->toks : t->vals)[(size_t)w * v->nn + c];
        if (tokens) {
            if (!isnan(f) && f >= 0.0f) v->lbuf[m++] = log(f + 1.0);
        } else if (t->row_ok[(size_t)w * v->n + c / v->n]) {
            v->lbuf[m++] = log((isnan(f) || f < 0.0f ? 0.0 : f) + cell_floor(v, c));
        }
    }
    return dxt_median_inplace(v->lbuf, m);
}

/* Does a line's wait follow its tokens (dxt_tokens_explain)? 1: yes, and
 * they rose by need or more; -1: yes, by less; 0: no. */
static int explains(const double *dwait, const double *dtok, const unsigned char *in,
                    size_t count, double need, int others_only)
{
    if (!dxt_tokens_explain(dwait, dtok, in, count, -INFINITY, others_only)) return 0;
    return dxt_tokens_explain(dwait, dtok, in, count, need, others_only) ? 1 : -1;
}

/* Does the wait of rank (node) s's line follow its tokens (explains, by
 * need), given each cell's change of log wait (dwait) and of log tokens
 * (dtok)? Across the cells, or for a rank across the lines: each rank's
 * column (row for a destination) as the median of its cells. In combine a
 * rank's expert compute follows the tokens it received, and its whole column
 * moves with its load, each cell by no more than its noise: the token noise
 * of the other cells dilutes the cells' slope (errors in the variables:
 * 0.76-0.85 where the other ranks' lines give 1.4-2.1; a 2.6 % load drift,
 * 10 % more wait at compute_load 0.96, was a 1.13x slow source). Only in a
 * job of DROP_MIN ranks or more, and the lines' slope comes from the other
 * ranks alone (a line far off makes its own: a 2.2x slow rank of 4 in
 * h200-nccl-k4-slow-rank was a token wander). The larger answer of the two
 * (1 over -1 over 0). Uses v->mask_tmp, v->lbuf and v->scratch from nn on. */
static int follows_tokens(tview *v, subject s, const double *dwait, const double *dtok,
                          double need)
{
    unsigned char *in = v->mask_tmp;
    for (size_t c = 0; c < v->nn; c++) /* the diagonal's changes are NAN: no matter */
        in[c] = (unsigned char)subject_cell(v, s, (int)(c / v->n), (int)(c % v->n));
    int cells = explains(dwait, dtok, in, v->nn, need, 0);
    if (cells > 0 || (s.kind != SUBJ_SRC && s.kind != SUBJ_DST) || v->n < DROP_MIN) return cells;
    double *lwait = v->scratch + v->nn, *ltok = lwait + v->n;
    dxt_line_medians(dwait, v->n, s.kind == SUBJ_SRC, v->lbuf, lwait);
    dxt_line_medians(dtok, v->n, s.kind == SUBJ_SRC, v->lbuf, ltok);
    for (int l = 0; l < v->n; l++) in[l] = l == s.id;
    int lines = explains(lwait, ltok, in, (size_t)v->n, need, 1);
    return lines > 0 ? 1 : cells ? cells : lines;
}

/* Each cell's change from outside seg to inside it, wait and tokens: both
 * finite, or both NAN (a line's medians are over the same cells). */
static void cell_changes(tview *v, const dxt_segment *seg, int flagged, double *dwait, double *dtok)
{
    for (size_t c = 0; c < v->nn; c++) {
        dwait[c] = dtok[c] = NAN;
        if (c / v->n == c % v->n || !v->ever[c]) continue;
        dwait[c] = cell_median(v, c, seg, 1, flagged, 0) - cell_median(v, c, seg, 0, flagged, 0);
        dtok[c] = cell_median(v, c, seg, 1, flagged, 1) - cell_median(v, c, seg, 0, flagged, 1);
        if (!isfinite(dwait[c]) || !isfinite(dtok[c])) dwait[c] = dtok[c] = NAN;
    }
}

/* Did rank (node) s's wait rise because its tokens did? The change of every
 * cell from outside seg to its flagged windows, wait against tokens
 * (follows_tokens), or to all its windows: the flagged ones are the wait's
 * highest (its noise on top: 0.16 there, 0.12 over all of them), which its
 * tokens need not follow. 1: yes, and its tokens rose by min_token_ratio or
 * more (a rank's: a hot expert, load_imbalance); -1: yes, by less (the
 * routing's own wander: no fault, as from step 0 in hit_tokens); 0: no. */
int dxt_subject_tokens(tview *v, subject s, const dxt_segment *seg)
{
    if (!v->t->have_tokens || s.kind == SUBJ_CELL_INTRA || s.kind == SUBJ_CELL_INTER) return 0;
    double *dwait = v->scratch, *dtok = v->ywin, need = log(v->t->opts.min_token_ratio);
    for (int flagged = 1; flagged >= (seg->whole ? 1 : 0); flagged--) {
        cell_changes(v, seg, flagged, dwait, dtok);
        int follows = follows_tokens(v, s, dwait, dtok, need);
        if (follows) return follows;
    }
    return 0;
}
