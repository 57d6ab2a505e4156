/* classify_paths.c - slow paths in one matrix for the classifier
 * (classify_internal.h): each cell's residual of the fit (classify_fit.c)
 * against its group's scale and its own noise over time, with the group's
 * own tail; a handful of cells on one line is a rank, not paths.
 * Groups: against history the whole matrix; from step 0 the intra- and the
 * inter-node cells, or, when the fit has a block per node pair, each block
 * on a scale moderated towards its class's (block_priors).
 * Owner: the classifier engineer (A1). */
#include <math.h>
#include <stdio.h>

#include "classify_internal.h"

#define PATTERN_CELLS 3 /* paths sharing a row or column in one window: a rank pattern */

/* Cells [r0, r1) x [c0, c1) of j->members; intra >= 0: only the intra- (1) or
 * inter-node (0) ones. */
typedef struct cell_group {
    int r0, r1, c0, c1, intra;
} cell_group;

/* May cell c (dst i, src k) be a slow path? Not in the row or column of a
 * late rank, nor in a slow destination's row. */
static int path_eligible(const dxt_judge *j, int i, int k)
{
    return j->confirming || (!j->late[i] && !j->late[k] && !j->hot_row[i]);
}

/* Is cell c's own window-to-window noise measured (several windows, data in
 * two of them at least)? */
static int cell_measured(const dxt_judge *j, size_t c)
{
    return j->cell_noise && isfinite(j->cell_noise[c]);
}

/* The score of cell c's residual e against its group's scale: the cell's own
 * window-to-window noise adds to the pairs' spread (a pair whose waits swing
 * 3x between windows has a level far above its peers' by its tail alone, and
 * is no path). A cell without a measured noise keeps the floor of
 * DXT_MIN_CELL_SCALE under the scale (floored_scale). */
static double cell_z(const dxt_judge *j, size_t c, double e, double scale)
{
    if (!cell_measured(j, c)) return e / (scale > DXT_MIN_CELL_SCALE ? scale : DXT_MIN_CELL_SCALE);
    return e / sqrt(scale * scale + j->cell_noise[c] * j->cell_noise[c]);
}

/* How often the group's cells stand out, measured on the group itself:
 * pairs differ for good reasons and their spread has tails far heavier than
 * a normal's (clipped launch offsets, pairs with 10x the others' noise), so a
 * 5-sigma cell among 10^4 is no path. tail[0] the cells, tail[1] and
 * tail[2] those above DXT_TAIL_Z0 and DXT_TAIL_Z1: the chance of a score beyond
 * DXT_TAIL_Z0 decays exponentially at the rate the two counts give
 * (dxt_tail_chance). Added to tail[]: a class's blocks count together. */
static void cell_tail(dxt_judge *j, cell_group g, double scale, double tail[3])
{
    int n = j->n;
    for (int p = g.r0; p < g.r1; p++)
        for (int q = g.c0; q < g.c1; q++) {
            int i = j->members[p], k = j->members[q];
            if (g.intra >= 0 && (j->node_of[i] == j->node_of[k]) != g.intra) continue;
            double r = j->res[(size_t)i * n + k];
            if (!path_eligible(j, i, k) || isnan(r)) continue;
            double z = cell_z(j, (size_t)i * n + k, r, scale);
            tail[0] += 1.0, tail[1] += z > DXT_TAIL_Z0, tail[2] += z > DXT_TAIL_Z1;
        }
}

/* From step 0 a path under min_static_severity (3x) is one at STATIC_PATH_NEAR
 * (2x) or more when it stands STATIC_PATH_NEAR_SCORE times min_score scales
 * out of its group: pairs whose spread is a few % (an exchange on one GPU, the
 * rotation fitted) hold 2-2.5x paths 60-260 scales out, while the log fit's
 * misfit of clipped waits put a healthy pair of a 24-rank sim at 2.4x and 5.1
 * scales. */
#define STATIC_PATH_NEAR 2.0
#define STATIC_PATH_NEAR_SCORE 2.0
/* A group whose pairs agree closer than DXT_MIN_CELL_SCALE, each pair's own
 * noise measured over the run's windows, has the floor TIGHT_CELL_SCALE, and a
 * path there needs min_path_severity (as against history) at
 * STATIC_PATH_NEAR_SCORE: an exchange over NVLink, rotation fitted, has pairs
 * within 0.2-1.2 % of their fit, and its 1.3-1.7x paths from step 0 stand
 * 14-25 such scales out. Healthy: in 5 of 180 GPU runs of 16 ranks a fifth of
 * the pairs sat 1.7x over the fit, up to 13 scales, and the group's own tail
 * (cell_tail: 48 of 240 cells beyond 2.5) made each p ~0.1; dxt-synth's
 * healthy sweep had a group that tight once in 200 traces, a cell at 4. */
#define TIGHT_CELL_SCALE 0.01

/* The severity of cell c, e over its fit, in waits, not in logs of wait +
 * floor (the floor shrinks a 4x path to 3x). */
static double cell_severity(const dxt_judge *j, size_t c, double e, int same_node)
{
    double f = j->floor_cls[same_node];
    double obs = exp(j->logm[c]) - f, expd = exp(j->logm[c] - e) - f;
    return expd > 0.0 ? obs / expd : exp(e);
}

/* The median absolute residual of group g's eligible cells, every stride-th
 * cell of it; *count: how many. A cell the polish took as its line's
 * median has a residual of exactly 0 by construction, not by being typical:
 * with 3-7 cells a line such zeros are a quarter or more of the residuals,
 * and their MAD says the cells fit far better than they do. */
static double group_scale(dxt_judge *j, cell_group g, size_t stride, size_t *count)
{
    int n = j->n;
    size_t seen = 0;
    *count = 0;
    for (int p = g.r0; p < g.r1; p++)
        for (int q = g.c0; q < g.c1; q++) {
            int i = j->members[p], k = j->members[q];
            if (g.intra >= 0 && (j->node_of[i] == j->node_of[k]) != g.intra) continue;
            double r = j->res[(size_t)i * n + k];
            if (seen++ % stride == 0 && path_eligible(j, i, k) && fabs(r) > 1e-12)
                j->scratch[(*count)++] = r;
        }
    return dxt_mad_inplace(j->scratch, *count, 0.0);
}

/* Degrees of freedom of a MAD scale of `cells` residuals: the cells times the
 * MAD's efficiency against a standard deviation (37 %). */
static double mad_freedom(double cells)
{
    double df = 0.37 * (cells - 1.0);
    return df >= 1.0 ? df : 1.0;
}

/* The cells of one block of node pairs (as many as an intra-node one holds:
 * the t tail's freedom of its scale, as it always was). */
static double block_cells(const dxt_judge *j)
{
    double per_block = (double)j->n / j->nnodes;
    return per_block * per_block - per_block;
}

/* The cells of the smaller of the intra- and inter-node classes, less the
 * ranks' effects: the freedom of a class's scale. */
static double class_cells(const dxt_judge *j)
{
    double intra = 0.0, inter;
    for (int a = 0; a < j->nnodes; a++) {
        double m = node_size(j, a);
        intra += m * m - m;
    }
    inter = (double)j->n * j->n - j->n - intra;
    double cells = intra > 0.0 && intra < inter ? intra : inter;
    return cells - 2.0 * j->n + 2.0;
}

/* Flag group g's cells against scale (its t tail of df freedom, the tail
 * counts of its class and, for a block, its own: block_tail); against history
 * (min_path_severity) or from step 0 (min_static_severity, STATIC_PATH_NEAR,
 * or in a tight group min_path_severity). Each hit's tail is its chance under
 * the largest of these tails. */
static int flag_group(dxt_judge *j, cell_group g, double scale, double df, int tight,
                      const double tail[3], const double *block_tail, int history, double steps)
{
    int n = j->n;
    double min_sev = history ? j->opts.min_path_severity : j->opts.min_static_severity;
    for (int p = g.r0; p < g.r1; p++)
        for (int q = g.c0; q < g.c1; q++) {
            int i = j->members[p], k = j->members[q], same = j->node_of[i] == j->node_of[k];
            if (g.intra >= 0 && same != g.intra) continue;
            size_t c = (size_t)i * n + k;
            double e = j->res[c], z = cell_z(j, c, e, scale), sev = cell_severity(j, c, e, same);
            if (j->opts.verbose > 2 && e / scale >= j->opts.min_score)
                fprintf(stderr, "dxt-classify: cell %d <- %d residual %.3f scale %.3f own %.3f "
                        "z %.2f sev %.2f%s\n", i, k, e, scale,
                        cell_measured(j, c) ? j->cell_noise[c] : 0.0, z, sev, tight ? " (tight)" : "");
            double near = tight && cell_measured(j, c) ? j->opts.min_path_severity : STATIC_PATH_NEAR;
            if (!path_eligible(j, i, k) || !(z >= j->opts.min_score) ||
                !(sev >= min_sev || (!history && sev >= near &&
                                     z >= STATIC_PATH_NEAR_SCORE * j->opts.min_score)))
                continue;
            j->hot_cell[c] = 1;
            double chance = fmax(dxt_student_tail(z, df), dxt_tail_chance(tail, z));
            if (block_tail) chance = fmax(chance, dxt_tail_chance(block_tail, z));
            dxt_hit h = {DXT_SLOW_PATH, -1, k, i, -1, 0, sev, z,
                         (exp(j->logm[c]) - exp(j->logm[c] - e)) * steps, 0.0, chance, 0.0};
            if (dxt_judge_push_hit(j, &h)) return -1;
        }
    return 0;
}

/* Is a group of this scale tight (pairs closer than DXT_MIN_CELL_SCALE, each
 * pair's own noise measured)? Floored, its scale stays under that. */
static int tight_scale(const dxt_judge *j, double scale, int history)
{
    return !history && j->cell_noise && scale < DXT_MIN_CELL_SCALE;
}

/* A group's scale, floored: TIGHT_CELL_SCALE in a tight group. */
static double floored_scale(const dxt_judge *j, double scale, int history)
{
    double min_scale = tight_scale(j, scale, history) ? TIGHT_CELL_SCALE : DXT_MIN_CELL_SCALE;
    return scale > min_scale ? scale : min_scale;
}

/* One group judged on its own scale and tail: the whole matrix (history) or
 * one class of cells. (Against history the hits' t tail is never read.) */
static int judge_group(dxt_judge *j, cell_group g, int history, double steps)
{
    size_t count;
    double scale = group_scale(j, g, dxt_scale_stride(j->n), &count), tail[3] = {0.0, 0.0, 0.0};
    scale = floored_scale(j, scale, history);
    cell_tail(j, g, scale, tail);
    return flag_group(j, g, scale, mad_freedom(class_cells(j)), tight_scale(j, scale, history),
                      tail, NULL, history, steps);
}

static cell_group block_group(const dxt_judge *j, int a, int b)
{
    return (cell_group){j->node_start[a], j->node_start[a + 1], j->node_start[b],
                        j->node_start[b + 1], -1};
}

/* The log variances (2 log MAD) of the two halves of block g's eligible cells,
 * alternate cells in each (NAN: under 3 in a half). */
static void half_log_vars(dxt_judge *j, cell_group g, double *half0, double *half1)
{
    int n = j->n;
    size_t count[2] = {0, 0}, seen = 0;
    double *buf[2] = {j->scratch, j->scratch + ((size_t)n * n + 2 * (size_t)n) / 2};
    for (int p = g.r0; p < g.r1; p++)
        for (int q = g.c0; q < g.c1; q++) {
            int i = j->members[p], k = j->members[q];
            double r = j->res[(size_t)i * n + k];
            if (path_eligible(j, i, k) && fabs(r) > 1e-12) buf[seen % 2][count[seen % 2]++] = r, seen++;
        }
    *half0 = count[0] >= 3 ? 2.0 * log(dxt_mad_inplace(buf[0], count[0], 0.0)) : NAN;
    *half1 = count[1] >= 3 ? 2.0 * log(dxt_mad_inplace(buf[1], count[1], 0.0)) : NAN;
}

/* The robust variance of v[count], reordered: the square of its MAD about
 * the median (dxt_mad_inplace's, already scaled to a normal's sd). */
static double robust_var(double *v, size_t count)
{
    double center = dxt_median_inplace(v, count);
    double spread = dxt_mad_inplace(v, count, center);
    return spread * spread;
}

/* Blocks of the same class (intra: a == b) share most of their pairs'
 * spread, and a block of 4 x 4 cells measures its own badly (a t tail of 4
 * degrees of freedom: no path from step 0 at 128 ranks in nodes of 4 could
 * reach p 1e-3; at z 10 its p was 8). Each block's variance is moderated
 * towards the class's (empirical Bayes, Smyth 2004): s^2 = (d0 s0^2 + d
 * s_b^2) / (d0 + d) with d0 + d degrees of freedom; s0 is the class's MAD.
 * Both freedoms are measured on the blocks: a block's log variance varies by
 * 2 / d from its cells alone, a quarter of how far its two halves' differ
 * (heavy-tailed residuals make that more than a normal's 2 / 0.37 m, which
 * caps d), and the blocks' log variances spread by 2 / d0 beyond that (as
 * alike as their sampling allows: d0 the class's own freedom). A block far
 * noisier than its class (F test of s_b^2 / s0^2, BLOCK_OUTLIER_P; robust
 * empirical Bayes, Phipson 2016: one node pair of noisier links, which the
 * blocks' robust spread does not see) keeps its own scale and freedom, as
 * does every block of a class of under BLOCK_PRIOR_MIN blocks. Into
 * j->blk_scale and j->blk_df, and the class's tail counts on those scales. */
#define BLOCK_PRIOR_MIN 8
#define BLOCK_OUTLIER_P 0.1
static void block_priors(dxt_judge *j, int intra, double tail[3])
{
    int nb = j->nnodes;
    size_t used = 0, halves = 0, count;
    double *logv = j->blk_work, *diff = j->blk_work + (size_t)nb * nb;
    double d = mad_freedom(block_cells(j)), d0 = 0.0;
    for (int a = 0; a < nb; a++)
        for (int b = 0; b < nb; b++) {
            if ((a == b) != intra) continue;
            size_t k = (size_t)a * nb + b;
            double h0, h1;
            half_log_vars(j, block_group(j, a, b), &h0, &h1);
            if (isfinite(h0) && isfinite(h1)) diff[halves++] = h0 - h1;
            j->blk_scale[k] = group_scale(j, block_group(j, a, b), 1, &count);
            if (count >= 6 && j->blk_scale[k] > 0.0) logv[used++] = 2.0 * log(j->blk_scale[k]);
        }
    double s0 = group_scale(j, (cell_group){0, j->n, 0, j->n, intra}, dxt_scale_stride(j->n), &count);
    double pooled = mad_freedom((double)count);
    if (used >= BLOCK_PRIOR_MIN && halves >= BLOCK_PRIOR_MIN && s0 > 0.0) {
        double sampling = 0.25 * robust_var(diff, halves), beyond = robust_var(logv, used) - sampling;
        if (sampling > 2.0 / d) d = 2.0 / sampling;
        d0 = beyond > 2.0 / pooled ? 2.0 / beyond : pooled;
    }
    for (int a = 0; a < nb; a++)
        for (int b = 0; b < nb; b++) {
            if ((a == b) != intra) continue;
            size_t k = (size_t)a * nb + b;
            double sb = isnan(j->blk_scale[k]) ? s0 : j->blk_scale[k], var = sb * sb;
            int own = !(d0 > 0.0) || (sb > s0 && dxt_f_tail(var / (s0 * s0), d, d0) < BLOCK_OUTLIER_P);
            if (!own) var = (d0 * s0 * s0 + d * var) / (d0 + d);
            j->blk_scale[k] = floored_scale(j, sqrt(var), 0);
            j->blk_df[k] = own ? d : d0 + d;
            cell_tail(j, block_group(j, a, b), j->blk_scale[k], tail);
        }
    if (j->opts.verbose > 1)
        fprintf(stderr, "dxt-classify: %s blocks: class scale %.3f, prior freedom %.1f of %.1f, "
                "own %.1f\n", intra ? "intra-node" : "inter-node", s0, d0, pooled, d);
}

/* From step 0 with a block per node pair: each block on its moderated scale,
 * against its class's tail and its own. A block whose spread the F test
 * cannot tell from its class's with so few cells (12 cells with log-sd 0.6
 * among blocks of 0.12: MAD 0.17, p 0.1) still shows it in its tail: most of
 * its cells beyond DXT_TAIL_Z0 of the moderated scale, where a block like its
 * class has none; a static 4.7x pair there is its block's spread, no path. */
static int judge_blocks(dxt_judge *j, double steps)
{
    double tail[2][3] = {{0.0, 0.0, 0.0}, {0.0, 0.0, 0.0}};
    for (int intra = 0; intra < 2; intra++) block_priors(j, intra, tail[intra]);
    for (int a = 0; a < j->nnodes; a++)
        for (int b = 0; b < j->nnodes; b++) {
            size_t k = (size_t)a * j->nnodes + b;
            double s = j->blk_scale[k], own[3] = {0.0, 0.0, 0.0};
            cell_tail(j, block_group(j, a, b), s, own);
            if (flag_group(j, block_group(j, a, b), s, j->blk_df[k], tight_scale(j, s, 0),
                           tail[a == b], own, 0, steps))
                return -1;
        }
    return 0;
}

/* Cells flagged by the dozen in one row or column are a rank too weak to
 * clear the rank thresholds (a slow source raises its intra-node cells most),
 * not paths: drop hits from `first` on that share a line with PATTERN_CELLS. */
static void drop_line_patterns(dxt_judge *j, int first)
{
    double *per_src = j->rank_obs, *per_dst = j->rank_exp; /* free scratch here */
    for (int r = 0; r < j->n; r++) per_src[r] = per_dst[r] = 0.0;
    for (int h = first; h < j->nhits; h++) per_src[j->hits[h].src]++, per_dst[j->hits[h].dst]++;
    int kept = first;
    for (int h = first; h < j->nhits; h++)
        if (per_src[j->hits[h].src] < PATTERN_CELLS && per_dst[j->hits[h].dst] < PATTERN_CELLS)
            j->hits[kept++] = j->hits[h];
    j->nhits = kept;
}

int dxt_judge_cells(dxt_judge *j, int history, double steps)
{
    int first = j->nhits;
    if (history) {
        if (judge_group(j, (cell_group){0, j->n, 0, j->n, -1}, 1, steps)) return -1;
    } else if (!j->pair_blocks) {
        for (int intra = 0; intra < 2; intra++)
            if (judge_group(j, (cell_group){0, j->n, 0, j->n, intra}, 0, steps)) return -1;
    } else if (judge_blocks(j, steps)) {
        return -1;
    }
    drop_line_patterns(j, first);
    return 0;
}
