/* classify_fit.c - the additive fit of the one-matrix judgement (classify.c):
 * X = log M - ref split by Tukey's median polish into block constants (no
 * history only), row effects, column effects, rotation effects (no history,
 * and only where they explain the pairs: dxt_choose_rotation) and residuals.
 * The judge (classify_internal.h) owns every array; this file only fills
 * res, row, col, blk and rot.
 * Owner: the classifier engineer (A1). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "classify_internal.h"

/* The fit's blocks: one per ordered node pair when every node holds at least
 * MIN_BLOCK_RANKS ranks; else two, the intra- and the inter-node cells (a
 * node pair of 1-3 ranks has 1-9 cells: its constant would absorb the rows
 * and columns it is meant to leave to them; with one rank a node, every cell
 * was a block of its own and no rank could ever stand out). */
static int nblocks(const dxt_judge *j)
{
    return j->pair_blocks ? j->nnodes * j->nnodes : 2;
}

/* Gather (subtract == 0: into scratch, returns the count) or subtract m from
 * the residuals of block b. */
static size_t block_cells(dxt_judge *j, int b, int subtract, double m)
{
    int n = j->n;
    size_t count = 0;
    if (j->pair_blocks) {
        int a0 = b / j->nnodes, b0 = b % j->nnodes;
        for (int p = j->node_start[a0]; p < j->node_start[a0 + 1]; p++)
            for (int q = j->node_start[b0]; q < j->node_start[b0 + 1]; q++) {
                double *r = &j->res[(size_t)j->members[p] * n + j->members[q]];
                if (subtract) *r -= m;
                else j->scratch[count++] = *r;
            }
        return count;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            if ((j->node_of[i] == j->node_of[k]) != (b == 0)) continue;
            double *r = &j->res[(size_t)i * n + k];
            if (subtract) *r -= m;
            else j->scratch[count++] = *r;
        }
    return count;
}

/* Subtract the median of block b from its residuals, add it to blk. */
static void polish_block(dxt_judge *j, int b)
{
    double m = dxt_median_inplace(j->scratch, block_cells(j, b, 0, 0.0));
    if (isnan(m)) return;
    j->blk[b] += m;
    block_cells(j, b, 1, m);
}

/* One sweep over rows (by_col 0) or columns (1): move each line's median
 * residual into its effect. */
static void polish_lines(dxt_judge *j, int by_col)
{
    int n = j->n;
    size_t stride_in = by_col ? (size_t)n : 1, stride_line = by_col ? 1 : (size_t)n;
    double *effect = by_col ? j->col : j->row;
    for (int l = 0; l < n; l++) {
        double *line = j->res + (size_t)l * stride_line;
        for (int k = 0; k < n; k++) j->scratch[k] = line[(size_t)k * stride_in];
        double m = dxt_median_inplace(j->scratch, (size_t)n);
        if (isnan(m)) continue;
        effect[l] += m;
        for (int k = 0; k < n; k++) line[(size_t)k * stride_in] -= m;
    }
}

/* One sweep over the rotations d = 1 .. n-1: the cells (i, (i + d) mod n),
 * rank i waiting for the rank d after it, share an effect. An all-to-all that
 * sends to its peers in rotated order (pairwise exchange, as NCCL and MPI do,
 * and our dxt-ep-gpu) makes a wait depend on that distance: 5x between the
 * nearest and the farthest peer on 64 ranks, which hid a 10x path from step 0
 * in the spread of the residuals. */
static void polish_rotations(dxt_judge *j)
{
    int n = j->n;
    for (int d = 1; d < n; d++) {
        for (int i = 0; i < n; i++) j->scratch[i] = j->res[(size_t)i * n + (i + d) % n];
        double m = dxt_median_inplace(j->scratch, (size_t)n);
        if (isnan(m)) continue;
        j->rot[d] += m;
        for (int i = 0; i < n; i++) j->res[(size_t)i * n + (i + d) % n] -= m;
    }
}

/* Fit X = log M - ref into blocks (no history only), rows, columns, rotations
 * (j->rotated only) and residuals, with the rows and columns of late ranks
 * masked. */
void dxt_fit(dxt_judge *j, const double *ref, int iters)
{
    int n = j->n;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            size_t c = (size_t)i * n + k;
            double x = j->logm[c] - (ref ? ref[c] : 0.0);
            j->res[c] = !j->confirming && (j->late[i] || j->late[k] || j->hot_row[i]) ? NAN : x;
        }
    memset(j->row, 0, (size_t)n * sizeof *j->row);
    memset(j->col, 0, (size_t)n * sizeof *j->col);
    memset(j->blk, 0, (size_t)nblocks(j) * sizeof *j->blk);
    memset(j->rot, 0, (size_t)n * sizeof *j->rot);
    for (int it = 0; it < iters; it++) {
        for (int b = 0; !ref && b < nblocks(j); b++) polish_block(j, b);
        polish_lines(j, 0);
        polish_lines(j, 1);
        if (j->rotated && !ref) polish_rotations(j);
    }
}

/* The robust spread (MAD) of the fit's residuals, less the exact zeros the
 * polish leaves on the lines' medians (judge_cell_group). */
double dxt_residual_spread(dxt_judge *j)
{
    size_t count = 0, cells = (size_t)j->n * j->n;
    for (size_t c = 0; c < cells; c++)
        if (isfinite(j->res[c]) && fabs(j->res[c]) > 1e-12) j->scratch[count++] = j->res[c];
    return dxt_mad_inplace(j->scratch, count, 0.0);
}

/* Without history: does the fit take rotation effects (polish_rotations)?
 * Only when they explain most of the pairs' spread: the residuals' MAD at
 * most ROTATION_GAIN of the fit's without them, with ROTATION_MIN_RANKS ranks
 * or more (n - 1 effects of n cells each). A matrix without that pattern
 * (real DeepEP, whose EP16 pairs lose 6 % of their spread to it) is fitted
 * as before; one with it leaves residuals of its noise alone (0.57 -> 0.007
 * on a 64-rank dxt-ep-gpu run). */
#define ROTATION_MIN_RANKS 8
#define ROTATION_GAIN 0.5
void dxt_choose_rotation(dxt_judge *j, int iters)
{
    double rotated = NAN, plain = NAN;
    if (j->n >= ROTATION_MIN_RANKS) { /* rotated first: the plain fit is the usual last */
        j->rotated = 1;
        dxt_fit(j, NULL, iters);
        rotated = dxt_residual_spread(j);
    }
    j->rotated = 0;
    dxt_fit(j, NULL, iters);
    if (j->n < ROTATION_MIN_RANKS) return;
    plain = dxt_residual_spread(j);
    if (rotated <= ROTATION_GAIN * plain) {
        j->rotated = 1;
        dxt_fit(j, NULL, iters);
    }
    if (j->opts.verbose > 1)
        fprintf(stderr, "dxt-classify: residual spread %.4f, with rotations %.4f: %s\n", plain,
                rotated, j->rotated ? "rotated" : "plain");
}

/* Judge rows and cells without the late ranks' rows and columns: a full refit
 * when they are many (a slow node moves every median), else their cells are
 * just masked (one row in 16 or fewer moves no median of the others much). */
void dxt_refit_without_late(dxt_judge *j, const double *ref, int iters)
{
    int n = j->n, late = 0;
    for (int r = 0; r < n; r++) late += j->late[r];
    if (late * 16 > n) {
        dxt_fit(j, ref, iters);
        return;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++)
            if (j->late[i] || j->late[k]) j->res[(size_t)i * n + k] = NAN;
}

