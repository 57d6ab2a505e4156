/* classify_tokens.c - load_imbalance for the classifier (classify_internal.h):
 * is a slow rank's extra wait explained by extra tokens? Not a token ratio (a
 * slow receiver that happens to get more tokens is no hot expert) but how
 * wait excess follows token excess across the op's cells: a least-squares
 * line through every cell's (token excess, wait excess), both in logs. Where
 * the waits follow the tokens the slope is positive and sure, and the rank's
 * own tokens, through that slope, predict most of its own wait excess.
 * The excesses are changes in time (classify_subjects.c: the flagged windows
 * against the rest) or, from step 0, deviations from the cell's class (the
 * static judge, dxt_judge_tokens here). A rank whose wait follows tokens that
 * are within every rank's spread of loads (popular experts) is no fault.
 * Owner: the classifier engineer (A1). */
#include <math.h>
#include <stdio.h>

#include "classify_internal.h"

/* The slope must be this many standard errors above 0. */
#define TOKEN_SLOPE_Z 3.0
/* Share of the line's wait excess its token excess must predict. */
#define TOKEN_EXPLAINS 0.5

int dxt_tokens_explain(const double *dwait, const double *dtok, const unsigned char *in_line,
                       size_t cells, double min_log_ratio)
{
    double n = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0, syy = 0.0;
    double ln = 0.0, lx = 0.0, ly = 0.0;
    for (size_t c = 0; c < cells; c++) {
        double x = dtok[c], y = dwait[c];
        if (!isfinite(x) || !isfinite(y)) continue;
        n += 1.0, sx += x, sy += y, sxx += x * x, sxy += x * y, syy += y * y;
        if (in_line[c]) ln += 1.0, lx += x, ly += y;
    }
    if (n < 4.0 || ln < 1.0) return 0;
    double vx = sxx - sx * sx / n, cxy = sxy - sx * sy / n, vy = syy - sy * sy / n;
    if (!(vx > 0.0)) return 0;
    double slope = cxy / vx, resid = vy - slope * cxy;
    double se = sqrt((resid > 0.0 ? resid : 0.0) / (n - 2.0) / vx);
    lx /= ln, ly /= ln;
    /* the line's own excess over the cells' mean, as the slope predicts it */
    double line_tok = lx - sx / n, line_wait = ly - sy / n;
    return slope > TOKEN_SLOPE_Z * se && lx >= min_log_ratio && line_wait > 0.0 &&
           slope * line_tok >= TOKEN_EXPLAINS * line_wait;
}

/* The block of cell (i, k) in j->blk (nblocks). */
static int block_of(const dxt_judge *j, int i, int k)
{
    int a = j->node_of[i], b = j->node_of[k];
    return j->pair_blocks ? a * j->nnodes + b : a != b;
}

/* Each rank's token excess on one side (its column: side 1, its row: 0): the
 * median of its cells' log token excess (j->scratch), into j->tok_sums[0, n);
 * each node's (the median of its ranks') into j->tok_sums[n, n + nnodes).
 * Returns the ranks' (nodes 0) or the nodes' values. */
static const double *line_token_excess(dxt_judge *j, int side, int nodes)
{
    int n = j->n;
    double *line = j->tok_sums, *buf = j->rank_exp; /* free scratch here */
    for (int l = 0; l < n; l++) {
        size_t m = 0;
        for (int k = 0; k < n; k++) {
            double x = j->scratch[side ? (size_t)k * n + l : (size_t)l * n + k];
            if (k != l && isfinite(x)) buf[m++] = x;
        }
        line[l] = dxt_median_inplace(buf, m);
    }
    for (int a = 0; nodes && a < j->nnodes; a++) {
        size_t m = 0;
        for (int p = j->node_start[a]; p < j->node_start[a + 1]; p++) buf[m++] = line[j->members[p]];
        line[n + a] = dxt_median_inplace(buf, m);
    }
    return nodes ? line + n : line;
}

/* Does value idx of v[count] stand out from the others' (robust z; the larger
 * of a t tail and the values' own tail: routing by popular experts makes a
 * few ranks' loads stand far out in a healthy run), for every one of them? */
static int value_stands_out(const double *v, int count, int idx, double *buf, double alpha)
{
    size_t m = 0;
    for (int l = 0; l < count; l++)
        if (l != idx && isfinite(v[l])) buf[m++] = v[l];
    double center = dxt_median_inplace(buf, m);
    m = 0;
    for (int l = 0; l < count; l++)
        if (l != idx && isfinite(v[l])) buf[m++] = v[l];
    double spread = dxt_mad_inplace(buf, m, center);
    if (!(spread > 0.01)) spread = 0.01;
    double tail[3] = {0.0, 0.0, 0.0};
    for (int l = 0; l < count; l++) {
        if (!isfinite(v[l])) continue;
        double zl = (v[l] - center) / spread;
        tail[0] += 1.0, tail[1] += zl > DXT_TAIL_Z0, tail[2] += zl > DXT_TAIL_Z1;
    }
    double z = (v[idx] - center) / spread, one = dxt_student_tail(z, m - 1.0);
    if (dxt_tail_chance(tail, z) > one) one = dxt_tail_chance(tail, z);
    return m >= 3 && count * 2.0 * one < alpha;
}

/* Is hit h's wait explained by tokens (its line's cells, in j->hot_cell)?
 * 1: yes, and its tokens stand out from every rank's (or node's); 0: no; -1:
 * yes, within the routing's own spread of loads (no fault). */
static int hit_tokens(dxt_judge *j, const dxt_hit *h, size_t nn)
{
    int n = j->n, node = h->kind == DXT_SLOW_NODE, side = node ? h->as_source
                                                              : h->kind == DXT_SLOW_SOURCE;
    for (size_t c = 0; c < nn; c++) {
        int i = (int)(c / n), k = (int)(c % n);
        j->hot_cell[c] = node ? (side ? j->node_of[k] == h->node && j->node_of[i] != h->node
                                      : j->node_of[i] == h->node)
                              : side ? k == h->rank : i == h->rank;
    }
    if (!dxt_tokens_explain(j->res, j->scratch, j->hot_cell, nn, log(j->opts.min_token_ratio)))
        return 0;
    const double *line = line_token_excess(j, side, node);
    int out = value_stands_out(line, node ? j->nnodes : n, node ? h->node : h->rank, j->rank_exp,
                               j->opts.alpha);
    if (j->opts.verbose > 1)
        fprintf(stderr, "dxt-classify: %s %d: wait follows tokens (excess %.3f), %s\n",
                dxt_kind_str(h->kind), node ? h->node : h->rank, line[node ? h->node : h->rank],
                out ? "tokens stand out" : "within the ranks' spread of loads");
    return out ? 1 : -1;
}

/* A slow rank whose extra wait follows its extra tokens is a hot expert:
 * load_imbalance (classify_tokens.c). From step 0 the excesses are
 * deviations: a cell's log wait from its block's constant, its log tokens
 * from the median of its class (intra- or inter-node cells). Overwrites the
 * residuals (j->res) and j->hot_cell. */
void dxt_judge_tokens(dxt_judge *j, const double *tokens, double steps)
{
    int n = j->n;
    size_t nn = (size_t)n * n, stride = dxt_scale_stride(n);
    double med[2];
    for (int intra = 0; intra < 2; intra++) {
        size_t m = 0;
        for (size_t c = 0; c < nn; c += stride) {
            int i = (int)(c / n), k = (int)(c % n);
            double t = tokens[c];
            if (i != k && (j->node_of[i] == j->node_of[k]) == intra && isfinite(t) && t >= 0.0)
                j->scratch[m++] = log(t / steps + 1.0);
        }
        med[intra] = dxt_median_inplace(j->scratch, m);
    }
    for (size_t c = 0; c < nn; c++) {
        int i = (int)(c / n), k = (int)(c % n);
        double t = tokens[c];
        int ok = i != k && isfinite(t) && t >= 0.0;
        j->scratch[c] = ok ? log(t / steps + 1.0) - med[j->node_of[i] == j->node_of[k]] : NAN;
        j->res[c] = ok ? j->logm[c] - j->blk[block_of(j, i, k)] : NAN;
    }
    int kept = 0;
    for (int h = 0; h < j->nhits; h++) {
        dxt_hit *hit = &j->hits[h];
        if (hit->kind != DXT_SLOW_PATH && hit->kind != DXT_LOAD_IMBALANCE) {
            /* the routing's own spread of loads (popular experts) is no fault */
            int why = hit_tokens(j, hit, nn);
            /* a node whose wait follows its tokens is no slow node (its
             * ranks are not slow: its experts are popular, healthy or hot);
             * a healthy run's most popular node of 24 made one from step 0 */
            if (why < 0 || (why > 0 && hit->kind == DXT_SLOW_NODE)) continue;
            if (why > 0) {
                hit->as_source = hit->kind == DXT_SLOW_SOURCE; /* the line the series use */
                hit->kind = DXT_LOAD_IMBALANCE;
            }
        }
        j->hits[kept++] = *hit;
    }
    j->nhits = kept;
}

