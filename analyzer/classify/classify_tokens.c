/* classify_tokens.c - load_imbalance for the classifier (classify_internal.h):
 * is a slow rank's extra wait explained by extra tokens? Not a token ratio (a
 * slow receiver that happens to get more tokens is no hot expert) but how
 * wait excess follows token excess across the op's cells: a least-squares
 * line through every cell's (token excess, wait excess), both in logs. Where
 * the waits follow the tokens the slope is positive and sure, and the rank's
 * own tokens, through that slope, predict most of its own wait excess.
 * The excesses are changes in time (classify_subjects.c: the flagged windows,
 * or all the segment's, against the rest; there also across the ranks' lines,
 * each the median of its cells, the slope from the other lines) or, from step
 * 0, deviations from the cell's class (the static judge, dxt_judge_tokens
 * here). From step 0 a line's lateness may
 * also follow its total load at rank level (load_residuals: lateness against
 * load over every rank; a rank late beyond what its load predicts is still
 * slow). A rank whose wait follows tokens that are within every rank's spread
 * of loads (popular experts: heavy tailed, value_chance) is no fault; one
 * whose tokens stand out is a load_imbalance whose p-value is its tokens'.
 * Owner: the classifier engineer (A1). */
#include <math.h>
#include <stdio.h>

#include "classify_internal.h"

/* The slope must be this many standard errors above 0. */
#define TOKEN_SLOPE_Z 3.0
/* Share of the line's wait excess its token excess must predict. */
#define TOKEN_EXPLAINS 0.5

int dxt_tokens_explain(const double *dwait, const double *dtok, const unsigned char *in_line,
                       size_t cells, double min_log_ratio, int others_only)
{
    double n = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0, syy = 0.0;
    double ln = 0.0, lx = 0.0, ly = 0.0;
    for (size_t c = 0; c < cells; c++) {
        double x = dtok[c], y = dwait[c];
        if (!isfinite(x) || !isfinite(y)) continue;
        if (in_line[c]) ln += 1.0, lx += x, ly += y;
        if (in_line[c] && others_only) continue;
        n += 1.0, sx += x, sy += y, sxx += x * x, sxy += x * y, syy += y * y;
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

void dxt_line_medians(const double *x, int n, int side, double *buf, double *out)
{
    for (int l = 0; l < n; l++) {
        size_t m = 0;
        for (int k = 0; k < n; k++) {
            double v = x[side ? (size_t)k * n + l : (size_t)l * n + k];
            if (k != l && isfinite(v)) buf[m++] = v;
        }
        out[l] = dxt_median_inplace(buf, m);
    }
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
    dxt_line_medians(j->scratch, n, side, buf, line);
    for (int a = 0; nodes && a < j->nnodes; a++) {
        size_t m = 0;
        for (int p = j->node_start[a]; p < j->node_start[a + 1]; p++) buf[m++] = line[j->members[p]];
        line[n + a] = dxt_median_inplace(buf, m);
    }
    return nodes ? line + n : line;
}

/* The chance that value idx of v[count] stands out this far from the others
 * for any one of the count values (Bonferroni). Expert popularity is heavy
 * tailed (Zipf: a load's tail falls as a power of the load, exponentially in
 * its log), so the larger of a t tail of the robust z and an exponential
 * tail fitted to the others beyond their upper quartile (its scale the mean
 * excess there): a healthy run of 191 ranks has a rank of 2.3x the median
 * load, a robust z of 6.4 (p 2e-7 under the t tail, 0.1 under this one). */
static double value_chance(const double *v, int count, int idx, double *buf)
{
    size_t m = 0;
    for (int l = 0; l < count; l++)
        if (l != idx && isfinite(v[l])) buf[m++] = v[l];
    if (m < 3 || !isfinite(v[idx])) return 1.0;
    double center = dxt_median_inplace(buf, m);
    double spread = dxt_mad_inplace(buf, m, center);
    if (!(spread > 0.01)) spread = 0.01;
    double one = dxt_student_tail((v[idx] - center) / spread, m - 1.0);
    m = 0;
    for (int l = 0; l < count; l++)
        if (l != idx && isfinite(v[l])) buf[m++] = v[l];
    double upper = dxt_select_kth(buf, m, (size_t)(0.75 * (double)(m - 1))), excess = 0.0;
    size_t above = 0;
    for (size_t k = 0; k < m; k++)
        if (buf[k] > upper) excess += buf[k] - upper, above++;
    double beta = above ? excess / (double)above : 0.0;
    if (!(beta > 0.01)) beta = 0.01;
    if (v[idx] > upper) {
        double expo = 0.25 * exp(-(v[idx] - upper) / beta);
        if (expo > one) one = expo;
    }
    double p = count * one;
    return p < 1.0 ? p : 1.0;
}

/* The least-squares line exp(eff) = a + b x over the lines (NAN: left out),
 * refitted without those beyond 3 robust scales of it; 1 when its slope is
 * TOKEN_SLOPE_Z standard errors above 0. buf: n doubles. */
static int load_line(const double *eff, const double *x, int n, double *buf, double *a, double *b)
{
    double scale = INFINITY;
    int sure = 0;
    *a = *b = 0.0;
    for (int pass = 0; pass < 2; pass++) {
        double sn = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0;
        for (int l = 0; l < n; l++) {
            double y = exp(eff[l]);
            if (!isfinite(x[l]) || !isfinite(y) || fabs(y - *a - *b * x[l]) > 3.0 * scale) continue;
            sn += 1, sx += x[l], sy += y, sxx += x[l] * x[l], sxy += x[l] * y, syy += y * y;
        }
        double vx = sxx - sx * sx / sn, cxy = sxy - sx * sy / sn, vy = syy - sy * sy / sn;
        if (sn < 4.0 || !(vx > 0.0)) return 0;
        *b = cxy / vx, *a = (sy - *b * sx) / sn;
        double resid = vy - *b * cxy, se = sqrt((resid > 0.0 ? resid : 0.0) / (sn - 2.0) / vx);
        sure = *b > TOKEN_SLOPE_Z * se;
        size_t m = 0;
        for (int l = 0; l < n; l++)
            if (isfinite(x[l]) && isfinite(eff[l])) buf[m++] = exp(eff[l]) - *a - *b * x[l];
        scale = 1.4826 * dxt_mad_inplace(buf, m, 0.0);
    }
    return sure;
}

/* Rank-level load: each line's effect (its cells' median log wait less their
 * class's, intra- or inter-node, cls, and less the other line's level; not
 * the node pairs' blocks, which hold a slow node's lateness) against its load
 * (the sum of its tokens over the median line's). Lateness follows load (an
 * expert's compute): in combine a rank's column rises about linearly with
 * its tokens (a healthy rank of 2.1x the median load: 3.3x the median
 * column). A least-squares line of exp(effect) on the load, refitted
 * without lines beyond 3 scales of it; each line's log residual from the
 * line over the residuals' robust scale into z[] (NAN: no sure positive
 * slope, or no value). side 1: columns, 0: rows. */
static void load_residuals(dxt_judge *j, const double *tokens, int side, const double cls[2],
                           double *z)
{
    int n = j->n;
    double *eff = j->scratch + (size_t)n * n, *x = eff + n, *buf = j->rank_exp;
#define LOAD_DEV(c) (j->logm[c] - cls[j->node_of[(c) / n] == j->node_of[(c) % n]])
    for (int l = 0; l < n; l++) { /* the other side's level of each line */
        size_t m = 0;
        for (int k = 0; k < n; k++) {
            size_t c = side ? (size_t)l * n + k : (size_t)k * n + l;
            if (isfinite(j->logm[c])) buf[m++] = LOAD_DEV(c);
        }
        z[l] = dxt_median_inplace(buf, m);
    }
    for (int l = 0; l < n; l++) {
        size_t m = 0;
        double load = 0.0;
        for (int k = 0; k < n; k++) {
            size_t c = side ? (size_t)k * n + l : (size_t)l * n + k;
            if (isfinite(j->logm[c]) && isfinite(z[k])) buf[m++] = LOAD_DEV(c) - z[k];
            if (isfinite(tokens[c]) && tokens[c] > 0.0) load += tokens[c];
        }
        eff[l] = dxt_median_inplace(buf, m);
        x[l] = load;
    }
#undef LOAD_DEV
    size_t m = 0;
    for (int l = 0; l < n; l++)
        if (x[l] > 0.0) buf[m++] = x[l];
    double mid = dxt_median_inplace(buf, m), a, b;
    for (int l = 0; l < n; l++) x[l] = mid > 0.0 && x[l] > 0.0 ? x[l] / mid : NAN;
    int sure = load_line(eff, x, n, buf, &a, &b);
    m = 0;
    for (int l = 0; l < n; l++) {
        double pred = a + b * x[l];
        z[l] = sure && isfinite(x[l]) && isfinite(eff[l]) ? eff[l] - log(pred > 0.2 ? pred : 0.2) : NAN;
        if (isfinite(z[l])) buf[m++] = z[l];
    }
    double rs = 1.4826 * dxt_mad_inplace(buf, m, 0.0);
    if (!(rs > 0.03)) rs = 0.03;
    for (int l = 0; l < n; l++) {
        z[l] /= rs;
        /* the load must predict most of a high line (half of it in logs, as
         * the cells' rule): a late node of normal loads is not made typical
         * by a line that its own ranks tilt */
        double pred = a + b * x[l];
        if (isfinite(z[l]) && eff[l] > 0.0 && !(pred > 1.0 && log(pred) >= TOKEN_EXPLAINS * eff[l]))
            z[l] = INFINITY;
    }
}

/* Is the line effect of hit h (a rank, or DXT_NODE_FRACTION of a node's
 * ranks) within what its load predicts (load_residuals' z below min_score)? */
static int load_predicts(const dxt_judge *j, const dxt_hit *h, const double *z)
{
    if (h->kind != DXT_SLOW_NODE) return isfinite(z[h->rank]) && z[h->rank] < j->opts.min_score;
    int beyond = 0, size = j->node_start[h->node + 1] - j->node_start[h->node];
    for (int p = j->node_start[h->node]; p < j->node_start[h->node + 1]; p++) {
        double x = z[j->members[p]];
        if (!isfinite(x)) return 0;
        beyond += x >= j->opts.min_score;
    }
    return beyond < dxt_node_need(size);
}

/* Is hit h's wait explained by tokens: its line's cells (j->hot_cell) follow
 * their token excess, or its lateness is what its load predicts among every
 * rank's (z: load_residuals of its side)? 1: yes, and its tokens stand out
 * from every rank's (or node's), *p their chance (value_chance); 0: no; -1:
 * yes, within the routing's own spread of loads (no fault). */
static int hit_tokens(dxt_judge *j, const dxt_hit *h, size_t nn, const double *z, double *p)
{
    int n = j->n, node = h->kind == DXT_SLOW_NODE, side = node ? h->as_source
                                                              : h->kind == DXT_SLOW_SOURCE;
    for (size_t c = 0; c < nn; c++) {
        int i = (int)(c / n), k = (int)(c % n);
        j->hot_cell[c] = node   ? dxt_node_cell(j->node_of, h->node, side, i, k)
                         : side ? k == h->rank
                                : i == h->rank;
    }
    if (!dxt_tokens_explain(j->res, j->scratch, j->hot_cell, nn, log(j->opts.min_token_ratio), 0) &&
        !load_predicts(j, h, z))
        return 0;
    const double *line = line_token_excess(j, side, node);
    int count = node ? j->nnodes : n, idx = node ? h->node : h->rank;
    *p = value_chance(line, count, idx, j->rank_exp);
    int out = *p < j->opts.alpha && line[idx] >= log(j->opts.min_token_ratio);
    if (j->opts.verbose > 1)
        fprintf(stderr, "dxt-classify: %s %d: wait follows tokens (excess %.3f, p %.3g), %s\n",
                dxt_kind_str(h->kind), idx, line[idx], *p,
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
    double med[2], cls[2];
    for (int intra = 0; intra < 2; intra++) {
        /* the classes' log waits (the rank-level load line: not the node
         * pairs' blocks, which hold a slow node's lateness) */
        size_t m = 0;
        for (size_t c = 0; c < nn; c += stride)
            if (c / n != c % (size_t)n && (j->node_of[c / n] == j->node_of[c % n]) == intra &&
                isfinite(j->logm[c]))
                j->scratch[m++] = j->logm[c];
        cls[intra] = dxt_median_inplace(j->scratch, m);
        m = 0;
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
    double *late_z = j->rank_z, *slow_z = j->rank_obs; /* free scratch here */
    load_residuals(j, tokens, 1, cls, late_z);
    load_residuals(j, tokens, 0, cls, slow_z);
    int kept = 0;
    for (int h = 0; h < j->nhits; h++) {
        dxt_hit *hit = &j->hits[h];
        if (hit->kind != DXT_SLOW_PATH && hit->kind != DXT_LOAD_IMBALANCE) {
            /* the routing's own spread of loads (popular experts) is no fault */
            int side = hit->kind == DXT_SLOW_NODE ? hit->as_source : hit->kind == DXT_SLOW_SOURCE;
            int why = hit_tokens(j, hit, nn, side ? late_z : slow_z, &hit->p_load);
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

