/* classify.c - the judgement of one matrix of the classifier (classify.h):
 * a robust additive fit of the log wait per step, then robust z-scores of the
 * column (slow_source), row (slow_destination) and cell (slow_path) effects,
 * whole nodes (slow_node) and the token check (load_imbalance). The tracker
 * uses it as its static judgement (classify_time.c: the usual matrix of the
 * run's first and last quarters; a text matrix or DeepXTrace log of one
 * window); the history path (ref) is kept for callers with a reference.
 * Owner: the classifier engineer (A1). The tracker is in track.c.
 *
 * The fit: X = log(M / steps + floor) - ref, the floor a fifth of the
 * typical wait of the cell's class (intra- or inter-node); without history
 * one constant per topology block (node of i, node of j) when nodes hold 4 or
 * more ranks, else one for intra- and one for inter-node cells. Tukey's median
 * polish splits X into block constants, row effects r_i, column effects c_j
 * and residuals e_ij. Medians by quickselect.
 *
 * The judgement, in this order (lessons of shared/notes/analysis-lessons.md):
 *  0. whole nodes first (classify_node.c), against the other nodes' blocks
 *     (and, with 8 or more nodes, their spread); their ranks are marked late
 *     or slow receivers;
 *  1. columns: z = (c_j - center) / scale (scale: MAD of the effects, around
 *     their node's median when nodes have blocks, floored); flagged ones are
 *     late ranks;
 *  2. the rows and columns of late ranks are masked (a late rank waits for
 *     nobody: its row is no evidence) and, when they are many, the fit redone;
 *  3. rows, the same way, less early ranks (nobody waits for them: the others
 *     are late, dxt_early_standing); then cells outside flagged rows and
 *     columns, each against its group's MAD and its own noise over time, with
 *     the group's own tail (cells flagged by the dozen in one line are a weak
 *     rank, not paths; classify_paths.c);
 *  4. most ranks of one node flagged the same way -> one slow_node;
 *  5. a flagged rank whose wait follows its tokens -> load_imbalance, or no
 *     finding when its tokens are within the ranks' spread of loads;
 *  6. each hit's excess wait (observed - expected, trace unit) over the sum of
 *     every candidate's: below min_share it explains none of the slowdown.
 * Severity is observed / expected waits of the subject's cells (expected:
 * the fit without the subject's effect); score is the robust z; each hit
 * carries its group's own tail chance where measured (hit.tail; a path's
 * is its whole chance, classify_paths.c).
 * opts.verbose: 1 prints each window's hits to stderr, 2 the node evidence,
 * 3 every rank effect above z 3 and every cell above min_score. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify_internal.h"

/* Fit and scale constants (measured on the peer cases and simulated runs). */
/* Median polish sweeps: without history the blocks, rows and columns need 3
 * to settle (peer cases); against history the data are centred already and 1
 * gives the same verdicts on every simulated run at a third of the cost (a
 * 256 x 256 window was ~60 % medians of lines: 13 -> 4-5 ms). */
#define POLISH_ITERS 3
#define POLISH_ITERS_HISTORY 1
#define MIN_RANK_SCALE 0.03  /* log units: rank effects of a healthy window vary ~1-2 % */
#define MIN_BLOCK_RANKS 4    /* ranks a node needs for node-pair blocks of the fit */

static const char *const kind_names[] = {
#define DXT_KIND_NAME(id, str, what) str,
    DXT_FINDING_KINDS(DXT_KIND_NAME)
#undef DXT_KIND_NAME
};
static const char *const kind_meanings[] = {
#define DXT_KIND_WHAT(id, str, what) what,
    DXT_FINDING_KINDS(DXT_KIND_WHAT)
#undef DXT_KIND_WHAT
};

const char *dxt_kind_str(dxt_kind kind)
{
    return (int)kind >= 0 && kind < DXT_KIND_COUNT ? kind_names[kind] : "?";
}

const char *dxt_kind_meaning(dxt_kind kind)
{
    return (int)kind >= 0 && kind < DXT_KIND_COUNT ? kind_meanings[kind] : "?";
}

void dxt_classify_opts_init(dxt_classify_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    /* Measured with tests/test_accuracy.c (130 expected findings, 36 fault
     * rows, healthy runs with 10x the spike rate) and the peer cases. */
    /* A rank whose waits rose 20 % against its history: every 1.3x rank fault
     * of the sim is found at severity ~1.3 (1.1 finds nothing more). */
    opts->min_severity = 1.2;
    /* Robust z: 3 and 4 add no false finding in the sim either; 5 keeps a
     * margin for real noise, which has heavier tails than the sim's. */
    opts->min_score = 5.0;
    /* Impact: 0 reports deepxtrace_col's rows 3 and 5 (4x, but a 2e-5 share
     * next to two hot columns) and deepxtrace_row's rows 0 and 2; an inter-node
     * slow path next to a slow rank on 32 ranks keeps a few %. */
    opts->min_share = 0.002;
    /* A cell against its own history: 1.3x. A healthy sim cell near the
     * polling floor drifts up to 1.8x over 1500 steps; the history follows it
     * (track.c), and 1.5x paths are all found. */
    opts->min_path_severity = 1.3;
    /* Without history (one window, or the first) a cell is judged against its
     * row and column fit: static differences below ~2x are not faults (real
     * EP16: healthy pairs differ 2-10x), and deepxtrace_point's (6,0), 38 next
     * to ~15 (2.5x over its fit), is such a pair; its hot cell is 7.7x. At 2
     * a healthy pair of a 24-rank sim, 2.4x and 5.1 scales out (the log fit's
     * misfit of clipped waits), was a path; paths of 2-3x far out of their
     * pairs' spread are STATIC_PATH_NEAR's. */
    opts->min_static_severity = 3.0;
    /* A rank without history. Routing makes some combine columns 1.3x the
     * median (uneven expert popularity): the token check judges those. 1.5
     * missed ranks 1.3-1.45x slow from step 0 on 16-24 GPUs whose pairs differ
     * by a few % once the rotation is fitted (dxt-ep-gpu); 1.3 gave no false
     * finding more on the healthy sweep (200) and one on the fault sweeps, a
     * rank's static launch skew, which the rank effects' floor
     * (flag_lines) then removed. */
    opts->min_static_rank_severity = 1.3;
    /* load_imbalance: the rank's tokens at least 1.25x its usual (a hot
     * expert of 1.5x gives ~1.45x) and at least half the wait's rise (a slow
     * receiver that happens to get many tokens is not a hot expert). */
    opts->min_token_ratio = 1.25;
    /* Every decision is a test with a p-value adjusted for every subject and
     * window segment (over time, classify_time.c) or every line, cell and
     * node (from step 0, track.c) of the op. 0.001 per op: a healthy sweep
     * of 200 two-op traces expects well under one false finding (0.01 gave
     * one per ~50 traces, all between p 0.001 and 0.01: the level). */
    opts->alpha = 0.001;
}

int dxt_judge_init(dxt_judge *j, const dxt_topology *topo, const dxt_classify_opts *opts)
{
    memset(j, 0, sizeof *j);
    if (!topo || topo->n < 1 || topo->nnodes < 1 || topo->n > 65536 || topo->nnodes > topo->n)
        return -1;
    size_t n = (size_t)topo->n, nn = (size_t)topo->nnodes;
    j->n = topo->n;
    j->nnodes = topo->nnodes;
    j->opts = *opts;
    j->node_of = malloc(n * sizeof *j->node_of);
    j->members = malloc(n * sizeof *j->members);
    j->node_start = calloc(nn + 1, sizeof *j->node_start);
    j->logm = malloc(n * n * sizeof *j->logm);
    j->res = malloc(n * n * sizeof *j->res);
    j->scratch = malloc((n * n + 9 * n) * sizeof *j->scratch); /* n*n cells, or 9n: ranks */
    j->row = malloc(n * sizeof *j->row);
    j->col = malloc(n * sizeof *j->col);
    j->blk = malloc((nn * nn + 2) * sizeof *j->blk);
    j->late = malloc(n);
    j->hot_row = malloc(n);
    j->hot_cell = malloc(n * n);
    j->flag = malloc(n);
    j->node_flag = malloc(nn);
    j->static_node = calloc(2 * nn, 1);
    j->blk_level = calloc(nn * nn, sizeof *j->blk_level);
    j->blk_scale = malloc(nn * nn * sizeof *j->blk_scale);
    j->blk_df = malloc(nn * nn * sizeof *j->blk_df);
    j->blk_work = malloc(2 * nn * nn * sizeof *j->blk_work);
    j->rot = calloc(n, sizeof *j->rot);
    j->rank_z = malloc(n * sizeof *j->rank_z);
    j->rank_obs = malloc(n * sizeof *j->rank_obs);
    j->rank_exp = malloc(n * sizeof *j->rank_exp);
    j->tok_sums = malloc(2 * n * sizeof *j->tok_sums);
    if (!j->flag || !j->node_flag || !j->static_node || !j->blk_level || !j->blk_scale || !j->blk_df || !j->blk_work || !j->rot || !j->rank_z || !j->rank_obs || !j->rank_exp || !j->tok_sums) goto fail;
    if (!j->node_of || !j->members || !j->node_start || !j->logm || !j->res || !j->scratch ||
        !j->row || !j->col || !j->blk || !j->late || !j->hot_row || !j->hot_cell)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        int a = topo->node_of ? topo->node_of[i] : 0;
        j->node_of[i] = a >= 0 && a < topo->nnodes ? a : 0;
        j->node_start[j->node_of[i] + 1]++;
    }
    for (size_t a = 0; a < nn; a++) j->node_start[a + 1] += j->node_start[a];
    j->pair_blocks = 1;
    for (size_t a = 0; a < nn; a++)
        if (node_size(j, a) < MIN_BLOCK_RANKS) j->pair_blocks = 0;
    int *fill = j->members; /* counting sort of the ranks by node */
    for (int a = 0; a < j->nnodes; a++)
        for (int i = 0; i < j->n; i++)
            if (j->node_of[i] == a) *fill++ = i;
    return 0;
fail:
    dxt_judge_free(j);
    return -1;
}

void dxt_judge_free(dxt_judge *j)
{
    free(j->node_of);
    free(j->members);
    free(j->node_start);
    free(j->logm);
    free(j->res);
    free(j->scratch);
    free(j->row);
    free(j->col);
    free(j->blk);
    free(j->rot);
    free(j->late);
    free(j->hot_row);
    free(j->hot_cell);
    free(j->flag);
    free(j->node_flag);
    free(j->static_node);
    free(j->blk_level);
    free(j->blk_scale);
    free(j->blk_df);
    free(j->blk_work);
    free(j->rank_z);
    free(j->rank_obs);
    free(j->rank_exp);
    free(j->tok_sums);
    free(j->hits);
    memset(j, 0, sizeof *j);
}

/* log(wait per step + floor): a wait far below the floor is no evidence of
 * anything (exact zeros of real DeepEP dispatch, clipped intra-node cells: a
 * ratio against a zero baseline is meaningless). Without a floor zeros,
 * negatives are missing; NAN and the diagonal always are. */
static void build_log(dxt_judge *j, const double *wait, double steps)
{
    int n = j->n;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            double w = wait[(size_t)i * n + k];
            double f = j->floor_cls[j->node_of[i] == j->node_of[k]];
            int ok = i != k && isfinite(w) && (f > 0.0 ? w >= 0.0 : w > 0.0);
            j->logm[(size_t)i * n + k] = ok ? log(w / steps + f) : NAN;
        }
}

int dxt_judge_push_hit(dxt_judge *j, const dxt_hit *h)
{
    if (j->nhits == j->cap) {
        int cap = j->cap ? 2 * j->cap : 16;
        dxt_hit *grown = realloc(j->hits, (size_t)cap * sizeof *grown);
        if (!grown) return -1;
        j->hits = grown;
        j->cap = cap;
    }
    j->hits[j->nhits++] = *h;
    return 0;
}

/* Robust center and scale of rank effects: the center is 0 against history
 * (no change expected) or the median without it; the scale is the MAD of the
 * effects around their own node's median (a slow node does not widen it). */
static void rank_center_scale(dxt_judge *j, const double *eff, const unsigned char *skip,
                              int history, double *center, double *scale)
{
    double *buf = j->scratch, *dev = j->scratch + j->n;
    size_t ndev = 0, nall = 0;
    /* around each node's median when nodes have blocks of their own (ranks
     * of a node 1-3 strong: around the median of all) */
    int groups = j->pair_blocks ? j->nnodes : 1;
    for (int a = 0; a < groups; a++) {
        size_t count = 0;
        int p0 = j->pair_blocks ? j->node_start[a] : 0, p1 = j->pair_blocks ? j->node_start[a + 1] : j->n;
        for (int p = p0; p < p1; p++) {
            int r = j->members[p];
            if (!skip[r] && isfinite(eff[r])) buf[count++] = eff[r];
        }
        double med = dxt_median_inplace(buf, count);
        for (int p = p0; p < p1; p++) {
            int r = j->members[p];
            if (!skip[r] && isfinite(eff[r])) dev[ndev++] = fabs(eff[r] - med);
        }
    }
    for (int r = 0; r < j->n; r++)
        if (!skip[r] && isfinite(eff[r])) buf[nall++] = eff[r];
    *center = history ? 0.0 : dxt_median_inplace(buf, nall);
    if (isnan(*center)) *center = 0.0;
    double s = 1.4826 * dxt_median_inplace(dev, ndev);
    *scale = isfinite(s) && s > MIN_RANK_SCALE ? s : MIN_RANK_SCALE;
}

/* Observed and expected wait per step of line l (column if by_col): expected
 * is the fit without this line's deviation from the center. */
static void line_waits(const dxt_judge *j, int l, int by_col, double dev, double *obs,
                       double *expd)
{
    int n = j->n;
    *obs = *expd = 0.0;
    for (int k = 0; k < n; k++) {
        size_t c = by_col ? (size_t)k * n + l : (size_t)l * n + k;
        if (isnan(j->res[c]) || isnan(j->logm[c])) continue;
        *obs += exp(j->logm[c]);
        *expd += exp(j->logm[c] - j->res[c] - dev);
    }
}

/* The prior of a group's own tail (classify_paths.c, cell_tail, counts it). */
#define TAIL_PRIOR 200.0 /* cells of a normal group added to the counts: a small group
                          * cannot tell its tail, and keeps a normal one */

/* The chance of a score z for one cell of a group (cell_tail), the cell
 * itself left out of the counts: the larger of a normal tail and the group's
 * own exponential tail beyond DXT_TAIL_Z0. */
double dxt_tail_chance(const double tail[3], double z)
{
    double normal = 0.5 * erfc(z / sqrt(2.0));
    if (z <= DXT_TAIL_Z0) return normal;
    double m = tail[0] - 1.0 + TAIL_PRIOR;
    double a0 = tail[1] - 1.0 + TAIL_PRIOR * 0.5 * erfc(DXT_TAIL_Z0 / sqrt(2.0));
    double a1 = tail[2] - (z > DXT_TAIL_Z1) + TAIL_PRIOR * 0.5 * erfc(DXT_TAIL_Z1 / sqrt(2.0));
    double own = a0 / m * exp(-log(a0 / a1) / (DXT_TAIL_Z1 - DXT_TAIL_Z0) * (z - DXT_TAIL_Z0));
    return own > normal ? own : normal;
}

/* The middle of one line's values in buf (m of them, none NAN): what its
 * median needs once any one of its values is taken out, into mid[4]: the
 * count and the order statistics K-1, K, K+1 of the values, K = (m-1)/2. */
static void line_middle(double *buf, size_t m, double mid[4])
{
    mid[0] = (double)m, mid[1] = mid[2] = mid[3] = NAN;
    if (m < 2) return;
    size_t k = (m - 1) / 2;
    mid[2] = dxt_select_kth(buf, m, k); /* the values below k are at most it, above at least */
    for (size_t i = 0; i < k; i++)
        if (!(buf[i] <= mid[1])) mid[1] = buf[i];
    for (size_t i = k + 1; i < m; i++)
        if (!(buf[i] >= mid[3])) mid[3] = buf[i];
}

/* The median of a line's values less one of them, x (not NAN), from its
 * middle (line_middle): the same double dxt_median_inplace gives of the
 * rest. Sorted, the rest's i-th value is the line's i-th below the first x
 * and its (i+1)-th from there. */
static double median_without(const double mid[4], double x)
{
    if (mid[0] < 2.0) return NAN;
    double kth = mid[2] < x ? mid[2] : mid[3];
    if ((size_t)mid[0] % 2 == 0) return kth; /* the rest: an odd count, K its middle */
    double below = mid[1] < x ? mid[1] : mid[2];
    return 0.5 * (below + kth);
}

/* Value i of line l of y: of row l, or of column l (by_col). */
static inline double line_at(const double *y, int n, int l, int i, int by_col)
{
    return by_col ? y[(size_t)i * n + l] : y[(size_t)l * n + i];
}

void dxt_line_middles(const double *y, int n, double *buf, double *mid)
{
    for (int by_col = 0; by_col < 2; by_col++)
        for (int l = 0; l < n; l++) {
            size_t m = 0;
            for (int i = 0; i < n; i++) {
                double x = line_at(y, n, l, i, by_col);
                if (i != l && !isnan(x)) buf[m++] = x;
            }
            line_middle(buf, m, mid + 4 * ((size_t)by_col * n + l));
        }
}

/* The median over line r's cells (its column, by_col, or its row) of each
 * less the median of the other cells of the crossing line (a row, or a
 * column), from the lines' middles. buf: n doubles. */
static double line_side(const double *y, int n, int r, const double *mid, int by_col, double *buf)
{
    size_t nd = 0;
    for (int i = 0; i < n; i++) {
        double x = line_at(y, n, r, i, by_col);
        if (i == r || isnan(x)) continue;
        double peers = median_without(mid + 4 * ((size_t)!by_col * n + i), x);
        if (!isnan(peers)) buf[nd++] = x - peers;
    }
    return dxt_median_inplace(buf, nd);
}

/* How rank r stands in the log matrix y (n x n, NAN missing) whose lines'
 * middles are mid (dxt_line_middles): *col the median over its peers j of
 * y[j][r] less the median of j's other cells (how much more j waits for r
 * than for the rest), *row the median over k of y[r][k] less the median of
 * the other ranks' waits for k. buf: n doubles. */
void dxt_line_standing(const double *y, int n, int r, const double *mid, double *buf,
                       double *col, double *row)
{
    *col = line_side(y, n, r, mid, 1, buf);
    *row = line_side(y, n, r, mid, 0, buf);
}

int dxt_early_standing(double col, double row)
{
    return row > 0.0 && col <= -DXT_EARLY_FRACTION * row;
}

/* Is rank r early, not slow to receive (dxt_early_standing), by its standing
 * in the log matrix? */
static int early_row(dxt_judge *j, int r)
{
    double col, row, *mid = j->scratch + j->n;
    dxt_line_middles(j->logm, j->n, j->scratch, mid);
    dxt_line_standing(j->logm, j->n, r, mid, j->scratch, &col, &row);
    if (j->opts.verbose > 2)
        fprintf(stderr, "dxt-classify: row %d standing %.3f, column %.3f\n", r, row, col);
    return dxt_early_standing(col, row);
}

/* Flag lines (columns: sources; rows: destinations) into j->flag. */
static void flag_lines(dxt_judge *j, int by_col, int history)
{
    const double *eff = by_col ? j->col : j->row;
    const unsigned char *skip = j->late; /* columns: nothing is late yet */
    double center, scale;
    double min_sev = history ? j->opts.min_severity : j->opts.min_static_rank_severity;
    rank_center_scale(j, eff, skip, history, &center, &scale);
    /* From step 0 a line's effect is the median of its n - 1 cells, each off
     * its fit by the pairs' spread: the effects are judged against no less
     * than that median's standard error under independent pairs. (A sim of
     * 10 ranks, one a node, pairs off their fit by 0.55, clipped waits: its
     * column effects fell within 0.03 of each other, and the column of a rank
     * that launches 5.5 us late every step, a static skew, came out 1.49x at
     * "z 13"; against this floor, z 2.) */
    double floor = history ? 0.0 : 1.2533 * dxt_residual_spread(j) / sqrt(j->n > 2 ? j->n - 1.0 : 1.0);
    if (scale < floor) scale = floor;
    j->line_scale = scale;
    for (int l = 0; l < j->n; l++) {
        j->flag[l] = 0;
        j->rank_z[l] = NAN;
        if (skip[l] || !isfinite(eff[l])) continue;
        j->rank_z[l] = (eff[l] - center) / scale;
        j->rank_obs[l] = j->rank_exp[l] = NAN;
        if (j->opts.verbose > 2 && j->rank_z[l] > 3.0)
            fprintf(stderr, "dxt-classify: %s %d z %.2f eff %.3f center %.3f scale %.3f\n",
                    by_col ? "col" : "row", l, j->rank_z[l], eff[l], center, scale);
        if (j->rank_z[l] < j->opts.min_score) continue; /* the sums only where needed */
        line_waits(j, l, by_col, eff[l] - center, &j->rank_obs[l], &j->rank_exp[l]);
        if (j->rank_exp[l] > 0.0 && j->rank_obs[l] >= min_sev * j->rank_exp[l]) j->flag[l] = 1;
    }
    /* the ranks' own tail: expert popularity, launch skews and loads make
     * some lines of a healthy run stand far out (a column of the most
     * popular experts at 2.5x in combine) */
    j->line_tail[0] = j->line_tail[1] = j->line_tail[2] = 0.0;
    for (int l = 0; l < j->n; l++) {
        if (!isfinite(j->rank_z[l])) continue;
        /* an early rank's row is no slow receiver's: unflagged, and (above
         * DXT_TAIL_Z0) left out of the tail the other rows are judged
         * against (dxt-synth seed 5028: a 4x slow receiver from step 0 at z
         * 5.4 beside an early row at 5.8, among 192, was no finding by that
         * tail; without it p 1.6e-4) */
        if (!by_col && (j->flag[l] || j->rank_z[l] > DXT_TAIL_Z0) && early_row(j, l)) {
            j->flag[l] = 0;
            continue;
        }
        j->line_tail[0] += 1.0, j->line_tail[1] += j->rank_z[l] > DXT_TAIL_Z0,
            j->line_tail[2] += j->rank_z[l] > DXT_TAIL_Z1;
    }
}

/* Nodes with most ranks flagged alike; 1 when every node qualifies (a shift
 * of the whole job, not a slow node: nothing is flagged then). */
static int group_nodes(dxt_judge *j, unsigned char *node_flag)
{
    int flagged_nodes = 0;
    for (int a = 0; a < j->nnodes; a++) {
        int size = node_size(j, a), count = 0;
        for (int p = j->node_start[a]; p < j->node_start[a + 1]; p++) count += j->flag[j->members[p]];
        node_flag[a] = j->nnodes >= 2 && size >= 2 && count >= dxt_node_need(size);
        flagged_nodes += node_flag[a];
    }
    return j->nnodes >= 2 && flagged_nodes == j->nnodes;
}

/* The value DXT_NODE_FRACTION of node a's ranks reach in j->rank_z (NAN: too
 * few judged). */
static double node_reach(dxt_judge *j, int a)
{
    double *buf = j->scratch + 2 * (size_t)j->n;
    size_t count = 0;
    for (int p = j->node_start[a]; p < j->node_start[a + 1]; p++)
        if (isfinite(j->rank_z[j->members[p]])) buf[count++] = j->rank_z[j->members[p]];
    return dxt_node_reach(buf, count, node_size(j, a));
}

/* The chance of node a's ranks standing out together this far under the
 * nodes' own spread. The ranks of one node share its node-pair levels (its
 * links, the load of its experts), so two of them high together is far
 * likelier than the ranks' spread says: the node's reach (node_reach) is
 * judged against the other nodes' (robust z, t tail with their count less
 * one degrees of freedom; with one other node no spread can be measured),
 * the spread at least that of a reach of ranks without node effects. */
static double node_line_tail(dxt_judge *j, int a)
{
    double *vals = j->scratch;
    size_t m = 0;
    double mine = node_reach(j, a);
    for (int b = 0; b < j->nnodes; b++) {
        double x = b == a || node_size(j, b) < 2 ? NAN : node_reach(j, b);
        if (isfinite(x)) vals[m++] = x;
    }
    if (!isfinite(mine) || m < 2) return 1.0;
    double *buf = vals + m;
    memcpy(buf, vals, m * sizeof *buf);
    double center = dxt_median_inplace(buf, m);
    double spread = dxt_mad_inplace(vals, m, center);
    double floor = 1.0 / sqrt((double)dxt_node_need(node_size(j, a)));
    if (!(spread > floor)) spread = floor;
    return dxt_student_tail((mine - center) / spread, (double)m - 1.0);
}

/* Turn j->flag into hits (ranks, or their node), marking late / hot rows. */
static int emit_lines(dxt_judge *j, int by_col, double steps)
{
    unsigned char *node_flag = j->node_flag;
    if (group_nodes(j, node_flag)) {
        memset(j->flag, 0, (size_t)j->n);
        return 0;
    }
    unsigned char *mark = by_col ? j->late : j->hot_row;
    for (int a = 0; a < j->nnodes; a++) {
        if (!node_flag[a]) continue;
        double obs = 0.0, expd = 0.0, tail = node_line_tail(j, a);
        size_t nz = 0;
        for (int p = j->node_start[a]; p < j->node_start[a + 1]; p++) {
            int r = j->members[p];
            if (isnan(j->rank_z[r]) || (!by_col && j->late[r])) continue;
            if (isnan(j->rank_obs[r]))
                line_waits(j, r, by_col, j->rank_z[r] * j->line_scale, &j->rank_obs[r],
                           &j->rank_exp[r]);
            obs += j->rank_obs[r];
            expd += j->rank_exp[r];
            j->scratch[nz++] = j->rank_z[r];
            mark[r] = 1;
            j->flag[r] = 0;
        }
        dxt_hit h = {DXT_SLOW_NODE, -1, -1, -1, a, by_col, expd > 0 ? obs / expd : 0.0,
                     dxt_median_inplace(j->scratch, nz), (obs - expd) * steps, 0.0, tail, 0.0};
        if (dxt_judge_push_hit(j, &h)) return -1;
    }
    for (int r = 0; r < j->n; r++) {
        if (!j->flag[r]) continue;
        mark[r] = 1;
        dxt_hit h = {by_col ? DXT_SLOW_SOURCE : DXT_SLOW_DESTINATION, r, -1, -1, -1, 0,
                     j->rank_obs[r] / j->rank_exp[r], j->rank_z[r],
                     (j->rank_obs[r] - j->rank_exp[r]) * steps, 0.0,
                     dxt_tail_chance(j->line_tail, j->rank_z[r]), 0.0};
        if (dxt_judge_push_hit(j, &h)) return -1;
    }
    return 0;
}


/* Each hit's share of the window's excess; hits below min_share are dropped. */
static void apply_share(dxt_judge *j)
{
    double total = 0.0;
    for (int h = 0; h < j->nhits; h++)
        if (j->hits[h].excess > 0.0) total += j->hits[h].excess;
    int kept = 0;
    for (int h = 0; h < j->nhits; h++) {
        dxt_hit *hit = &j->hits[h];
        hit->share = total > 0.0 && hit->excess > 0.0 ? hit->excess / total : 0.0;
        if (hit->share >= j->opts.min_share) j->hits[kept++] = *hit;
    }
    j->nhits = kept;
}

static void print_hits(const dxt_judge *j)
{
    for (int h = 0; h < j->nhits; h++) {
        const dxt_hit *x = &j->hits[h];
        fprintf(stderr, "dxt-classify: %s rank %d src %d dst %d node %d sev %.3g z %.3g share %.3g\n",
                dxt_kind_str(x->kind), x->rank, x->src, x->dst, x->node, x->severity, x->score,
                x->share);
    }
}

int dxt_judge_window(dxt_judge *j, const double *wait, const double *tokens, double steps,
                     const double *ref, const double *tok_ref)
{
    int n = j->n, history = ref != NULL;
    if (!(steps > 0.0)) steps = 1.0;
    j->nhits = 0;
    memset(j->late, 0, (size_t)n);
    memset(j->hot_row, 0, (size_t)n);
    memset(j->hot_cell, 0, (size_t)n * n);
    memset(j->static_node, 0, 2 * (size_t)j->nnodes);
    build_log(j, wait, steps);
    if (history && dxt_judge_nodes_history(j, ref, steps)) return -1;
    /* against the other nodes' blocks: the first window, and every later one
     * once a node was found that way (history has its fault as usual) */
    if ((!history || j->static_seen) && dxt_judge_nodes_static(j, steps)) return -1;
    int iters = history ? POLISH_ITERS_HISTORY : POLISH_ITERS;
    if (history) dxt_fit(j, ref, iters); /* against history the fit has no rotations */
    else dxt_choose_rotation(j, iters);
    flag_lines(j, 1, history);
    if (emit_lines(j, 1, steps)) return -1;
    if (j->nhits > 0) dxt_refit_without_late(j, ref, iters);
    flag_lines(j, 0, history);
    if (emit_lines(j, 0, steps)) return -1;
    if (dxt_judge_cells(j, history, steps)) return -1;
    j->have_tokens = tokens != NULL;
    (void)tok_ref;
    if (tokens) dxt_judge_tokens(j, tokens, steps);
    apply_share(j);
    if (j->opts.verbose) print_hits(j);
    return 0;
}
