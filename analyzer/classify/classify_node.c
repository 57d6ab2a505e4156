/* classify_node.c - slow nodes for the classifier (classify.c): against the
 * cells' history (every window but the first), or between the topology blocks
 * (the first window, or a single one).
 * Owner: the classifier engineer (A1).
 *
 * With history, D = log M - ref per block: a node slow as destination raises
 * its whole rows (its own block too); a node slow as source raises the other
 * nodes' waits for it, not its own block, and its rows to others fall (it is
 * late). With two nodes that is what tells "node 1 sends late" from "node 0
 * receives slowly": both raise block (0, 1).
 * Without history the baseline of a node's own block is the other nodes' own
 * blocks, and of its rows to others the reverse direction: a slow node must
 * stand out by min_static_severity there (real EP16: the two inter-node
 * directions differ 2x when healthy). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "classify_internal.h"

/* Scales of the whole matrix come from at most ~DXT_SCALE_SAMPLE cells, evenly
 * strided (an odd stride, so that rows and columns are mixed): the same
 * estimate at a fraction of the cost of selecting among 65536 cells. */
size_t dxt_scale_stride(int n)
{
    size_t stride = (size_t)n * n / DXT_SCALE_SAMPLE;
    return stride < 1 ? 1 : stride | 1;
}

/* Median of D = log M - ref over every block (into j->blk) and the pooled
 * MAD of D around its block's median (the cells' noise). */
static double block_medians(dxt_judge *j, const double *ref)
{
    int n = j->n, nn = j->nnodes;
    size_t ndev = 0;
    for (int a = 0; a < nn; a++)
        for (int b = 0; b < nn; b++) {
            size_t count = 0;
            for (int p = j->node_start[a]; p < j->node_start[a + 1]; p++)
                for (int q = j->node_start[b]; q < j->node_start[b + 1]; q++) {
                    size_t c = (size_t)j->members[p] * n + j->members[q];
                    j->scratch[count++] = j->logm[c] - ref[c];
                }
            j->blk[a * nn + b] = dxt_median_inplace(j->scratch, count);
        }
    size_t stride = dxt_scale_stride(n);
    for (size_t c = 0; c < (size_t)n * n; c += stride) {
        int i = (int)(c / (size_t)n), k = (int)(c % (size_t)n);
        double d = j->logm[c] - ref[c] - j->blk[j->node_of[i] * nn + j->node_of[k]];
        if (!isnan(d)) j->scratch[ndev++] = fabs(d);
    }
    double s = 1.4826 * dxt_median_inplace(j->scratch, ndev);
    return isfinite(s) && s > DXT_MIN_CELL_SCALE ? s : DXT_MIN_CELL_SCALE;
}

/* Median over the blocks of node K's row (by_col 0) or column (1) of block
 * medians, the own block left out when skip_own. */
static double node_line(dxt_judge *j, int node, int by_col, int skip_own)
{
    int nn = j->nnodes;
    double *buf = j->scratch;
    size_t count = 0;
    for (int o = 0; o < nn; o++)
        if (!(skip_own && o == node)) buf[count++] = j->blk[by_col ? o * nn + node : node * nn + o];
    return dxt_median_inplace(buf, count);
}

/* Observed and expected (ref) wait per step of node K's rows, or of its
 * columns seen from the other nodes. */
static void node_waits(const dxt_judge *j, const double *ref, int node, int as_source,
                       double *obs, double *expd)
{
    int n = j->n;
    *obs = *expd = 0.0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            size_t c = (size_t)i * n + k;
            if (!dxt_node_cell(j->node_of, node, as_source, i, k) || isnan(j->logm[c]) || isnan(ref[c])) continue;
            *obs += exp(j->logm[c]);
            *expd += exp(ref[c]);
        }
}

/* Slow nodes against history, from the blocks' changes: as destination its
 * whole rows rose (its own block too); as source the other nodes' waits for
 * it rose, its own block did not, and its rows to others fell (it is late).
 * Every node alike is a shift of the whole job, not a slow node. */
int dxt_judge_nodes_history(dxt_judge *j, const double *ref, double steps)
{
    int nn = j->nnodes, nflag = 0;
    if (nn < 2) return 0;
    double scale = block_medians(j, ref), floor_log = log(j->opts.min_severity);
    for (int a = 0; a < nn; a++) {
        double own = j->blk[a * nn + a], dst = node_line(j, a, 0, 0);
        double src = node_line(j, a, 1, 1), out = node_line(j, a, 0, 1);
        /* a node line's median over m cells varies ~1.25 scale / sqrt(m) */
        double size = node_size(j, a);
        double se_dst = 1.25 * scale / sqrt(size * j->n), se_src = 1.25 * scale / sqrt(size * (j->n - size));
        int is_dst = dst >= floor_log && own >= dst / 2 && dst / se_dst >= j->opts.min_score;
        int is_src = !is_dst && src >= floor_log && own < src / 2 && out <= -src / 2 &&
                     src / se_src >= j->opts.min_score;
        j->rank_z[a] = is_dst ? dst / se_dst : src / se_src; /* rank_z: free scratch here */
        j->node_flag[a] = (unsigned char)(is_dst ? 1 : is_src ? 2 : 0);
        if (j->opts.verbose > 1)
            fprintf(stderr, "dxt-classify: node %d own %.3f dst %.3f src %.3f out %.3f scale %.3f\n",
                    a, own, dst, src, out, scale);
        nflag += j->node_flag[a] != 0;
    }
    if (nflag == nn) return 0;
    for (int a = 0; a < nn; a++) {
        if (!j->node_flag[a]) continue;
        int as_source = j->node_flag[a] == 2;
        double obs, expd, z = j->rank_z[a];
        node_waits(j, ref, a, as_source, &obs, &expd);
        if (!(expd > 0.0) || obs < j->opts.min_severity * expd) continue;
        dxt_hit h = {DXT_SLOW_NODE, -1, -1, -1, a, as_source, obs / expd, z, (obs - expd) * steps, 0.0, 0.0, 0.0};
        if (dxt_judge_push_hit(j, &h)) return -1;
        for (int p = j->node_start[a]; p < j->node_start[a + 1]; p++)
            (as_source ? j->late : j->hot_row)[j->members[p]] = 1;
    }
    return 0;
}

/* Block medians of log M into j->blk_level; returns the pooled scale of
 * the cells around their block's median (sampled). */
static double block_levels(dxt_judge *j)
{
    int n = j->n, nn = j->nnodes;
    for (int a = 0; a < nn; a++)
        for (int b = 0; b < nn; b++) {
            size_t count = 0;
            for (int p = j->node_start[a]; p < j->node_start[a + 1]; p++)
                for (int q = j->node_start[b]; q < j->node_start[b + 1]; q++)
                    j->scratch[count++] = j->logm[(size_t)j->members[p] * n + j->members[q]];
            j->blk_level[a * nn + b] = dxt_median_inplace(j->scratch, count);
        }
    size_t count = 0, stride = dxt_scale_stride(n);
    for (size_t c = 0; c < (size_t)n * n; c += stride) {
        double d = j->logm[c] - j->blk_level[j->node_of[c / n] * nn + j->node_of[c % n]];
        if (!isnan(d)) j->scratch[count++] = d;
    }
    double s = dxt_mad_inplace(j->scratch, count, 0.0);
    return isfinite(s) && s > DXT_MIN_CELL_SCALE ? s : DXT_MIN_CELL_SCALE;
}

/* Median over the other nodes of their own block's level. */
static double other_intra(dxt_judge *j, int node)
{
    size_t count = 0;
    for (int a = 0; a < j->nnodes; a++)
        if (a != node) j->scratch[count++] = j->blk_level[a * j->nnodes + a];
    return dxt_median_inplace(j->scratch, count);
}

/* Median over the other nodes b of level[node][b] - level[b][node]: how much
 * more node's ranks wait for b than b's ranks wait for them. */
static double asymmetry(dxt_judge *j, int node)
{
    int nn = j->nnodes;
    size_t count = 0;
    for (int b = 0; b < nn; b++)
        if (b != node) j->scratch[count++] = j->blk_level[node * nn + b] - j->blk_level[b * nn + node];
    return dxt_median_inplace(j->scratch, count);
}

/* With 4-7 nodes the nodes' own spread is known too badly, but their blocks
 * tell it: node-pair levels (links, the load of a node's experts) differ for
 * good reasons, and the blocks of one node share them. The spread of the
 * inter-node blocks' levels (MAD of those of the other nodes, 37 % efficient)
 * scales the statistic: its own block less the others' median (variance 1 + pi/2 /
 * (nn - 1) blocks' worth) or the median asymmetry (2 pi/2 / (nn - 1)); a
 * normal tail (the spread's own error from 6-30 blocks is not counted: a t
 * tail of 0.37 (m - 1) degrees of freedom missed every 4x node of four in
 * the calm sim of test_accuracy, whose pair levels differ by 1.25x). The cells' scale alone made 2-rank nodes of six, whose node-pair
 * levels were 1.5x the others', slow nodes of healthy runs. */
static double node_pair_tail(dxt_judge *j, int node, double stat, int asym)
{
    int nn = j->nnodes;
    double *buf = j->scratch, *dev;
    size_t m = 0;
    for (int a = 0; a < nn; a++)
        for (int b = 0; b < nn; b++)
            if (a != b && a != node && b != node && isfinite(j->blk_level[a * nn + b]))
                buf[m++] = j->blk_level[a * nn + b];
    dev = buf + m; /* 2 (nn - 1)(nn - 2) < n^2 + 2n for nn < 8 */
    memcpy(dev, buf, m * sizeof *dev);
    double center = dxt_median_inplace(buf, m), spread = dxt_mad_inplace(dev, m, center);
    if (!(spread > DXT_MIN_CELL_SCALE)) spread = DXT_MIN_CELL_SCALE;
    double var = asym ? 2.0 * M_PI / 2.0 / (nn - 1) : 1.0 + M_PI / 2.0 / (nn - 1);
    if (j->opts.verbose > 1)
        fprintf(stderr, "dxt-classify: node %d stat %.3f blocks %zu spread %.3f\n", node, stat, m, spread);
    return 0.5 * erfc(stat / (spread * sqrt(var)) / sqrt(2.0));
}

/* Robust z of stat[a] among the other nodes' values (8 nodes or more): its
 * distance from their median over their MAD, or, below min_static_severity
 * (the bar of what no spread judges), over half their interquartile range /
 * 1.349 where that is larger: the MAD of nodes in two groups is 0 (a node
 * waiting 1.6x longer for the nodes below it: asymmetries of +-0.47, and a
 * healthy node of eight "stood out" at t 40); for one group the MAD is the
 * larger. NAN without two others. */
static double node_z(dxt_judge *j, const double *stat, int a)
{
    double *buf = j->scratch;
    size_t m = 0;
    for (int b = 0; b < j->nnodes; b++)
        if (b != a && isfinite(stat[b])) buf[m++] = stat[b];
    if (m < 2 || !isfinite(stat[a])) return NAN;
    double center = dxt_median_inplace(buf, m), iqr = dxt_iqr_sigma_inplace(buf, m);
    double spread = dxt_mad_inplace(buf, m, center);
    if (stat[a] < log(j->opts.min_static_severity) && 0.5 * iqr > spread) spread = 0.5 * iqr;
    if (!(spread > DXT_MIN_CELL_SCALE)) spread = DXT_MIN_CELL_SCALE;
    return (stat[a] - center) / spread;
}

/* The chance for one node of a statistic this far above the other nodes'
 * (stat: every node's value): with 8 or more nodes, nodes differ for good
 * reasons (the load of their experts, their links) and a node must stand out
 * from that spread (robust z, t tail with nodes - 2 degrees of freedom);
 * with 4-7 node_pair_tail; with 2-3 there is no spread to measure (0: the
 * cells' scale alone, behind the bar of min_static_severity that
 * dxt_judge_nodes_static sets them; the other nodes of three hold 2 blocks:
 * a 4x node of 8 ranks next to one of 8 and one of 1 was missed). */
static double node_tail(dxt_judge *j, const double *stat, int a, int asym)
{
    int nn = j->nnodes;
    if (nn < 4) return 0.0; /* 3 nodes leave 2 blocks of the others: no spread */
    if (nn < 8) return node_pair_tail(j, a, stat[a], asym);
    double z = node_z(j, stat, a);
    return isnan(z) ? 1.0 : dxt_student_tail(z, nn - 2.0);
}

/* Push the hit of static slow node a (shift: log severity) and mark it; by
 * its links (links: as a destination, its own block left out). */
static int emit_static_node(dxt_judge *j, int a, int as_source, int links, double shift,
                            double scale, double steps, double tail)
{
    int n = j->n;
    double size = node_size(j, a), excess = 0.0;
    double cells = as_source || links ? size * (n - size) : size * n;
    double z = shift / (1.25 * scale / sqrt(cells > 1 ? cells : 1));
    if (z < j->opts.min_score) return 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            size_t c = (size_t)i * n + k;
            int in = dxt_node_cell(j->node_of, a, as_source, i, k) && !(links && j->node_of[k] == a);
            if (in && !isnan(j->logm[c])) excess += exp(j->logm[c]) * (1.0 - exp(-shift));
        }
    dxt_hit h = {DXT_SLOW_NODE, -1, -1, -1, a, as_source, exp(shift), z, excess * steps, 0.0, tail, 0.0};
    if (dxt_judge_push_hit(j, &h)) return -1;
    j->static_node[(as_source ? j->nnodes : 0) + a] = 1;
    j->static_seen = 1;
    for (int p = j->node_start[a]; p < j->node_start[a + 1]; p++)
        (as_source ? j->late : j->hot_row)[j->members[p]] = 1;
    return 0;
}

/* Is node a already flagged (by history) in this window? */
static int node_marked(const dxt_judge *j, int a)
{
    int r = j->members[j->node_start[a]];
    return j->node_start[a + 1] > j->node_start[a] && (j->late[r] || j->hot_row[r]);
}

/* Median log wait of rank r's line to the ranks of the other nodes (as a
 * source: theirs for it). */
static double line_level(dxt_judge *j, int r, int as_source)
{
    size_t m = 0;
    for (int k = 0; k < j->n; k++) {
        if (j->node_of[k] == j->node_of[r]) continue;
        double x = as_source ? j->logm[(size_t)k * j->n + r] : j->logm[(size_t)r * j->n + k];
        if (!isnan(x)) j->scratch[m++] = x;
    }
    return dxt_median_inplace(j->scratch, m);
}

/* Do most of node a's ranks (DXT_NODE_FRACTION) stand out alike? Each
 * rank's line to the other nodes, less the median rank's: the one most of
 * them reach must be half the top one at least, as in the tests over time
 * (dxt_node_alike): a node is slow when all its ranks are, and a block's median
 * of a node of two is half of one slow rank (a 4x slow receiver of 162
 * ranks made its node of two a 1.6x slow node). */
static int node_ranks_alike(dxt_judge *j, int a, int as_source)
{
    double *level = j->scratch + j->n, *buf = level + j->n, top = -INFINITY; /* n^2 + 2n */
    size_t m = 0, count = 0;
    for (int r = 0; r < j->n; r++) { /* each rank's level once; buf: the judged ones */
        level[r] = line_level(j, r, as_source);
        if (!isnan(level[r])) buf[m++] = level[r];
    }
    double center = dxt_median_inplace(buf, m);
    for (int p = j->node_start[a]; p < j->node_start[a + 1]; p++) {
        double x = level[j->members[p]] - center;
        if (isnan(x)) continue;
        buf[count++] = x;
        if (x > top) top = x;
    }
    double reach = dxt_node_reach(buf, count, node_size(j, a));
    if (isnan(reach) || !(top > 0.0)) return 0;
    if (j->opts.verbose > 1)
        fprintf(stderr, "dxt-classify: static node %d: its ranks reach %.3f, the top one %.3f\n",
                a, reach, top);
    return reach >= 0.5 * top;
}

/* How far a node must stand out from step 0 over the other nodes, where
 * their spread judges it (node_tail): above a rank's bar
 * (min_static_rank_severity, 1.3), as its rows share the node's links and
 * the load of its experts. Its own block over the others' own blocks with 4
 * nodes or more; its rows to them over theirs to it (its links, or a node
 * late) with 8 or more, whose spread a t tail of their number judges (with
 * 4-7 the node-pair blocks' normal tail is too sure for it: 4 nodes gave
 * two false slow nodes in 244 fault sweep traces). Else min_static_severity
 * (3x), the bar of what no spread judges (real EP16, 2 nodes: the two
 * inter-node directions differ 2x when healthy); at 3x a node of 8 whose
 * links out were 2.9x slow was missed where 8 nodes' asymmetries spread by
 * 0.03. */
#define STATIC_NODE_SEVERITY 1.5
/* ... for its rows to them over theirs to it, with this many ranks at least:
 * a node of two is two ranks' launch offsets (a healthy dxt-synth run of 41
 * nodes of two had one 1.56x late at 3.2 of the others' spread) */
#define STATIC_NODE_LINKS_RANKS 4

/* Do node a's rows stand out from step 0 (a slow receiver)? 1: its own
 * block over the others' own blocks (by thr_own), and its rows to others
 * over theirs to it by half as much at least; 2: its rows to others alone,
 * a node of STATIC_NODE_LINKS_RANKS by thr_asym and min_score of the other
 * nodes' spread (its links in; its own block as the others'); 0: no. */
static int node_slow_rows(dxt_judge *j, int a, double thr_own, double thr_asym,
                          const double *own, const double *asym)
{
    if (own[a] >= thr_own && asym[a] >= own[a] / 2) return node_ranks_alike(j, a, 0);
    if (j->nnodes >= 8 && node_size(j, a) >= STATIC_NODE_LINKS_RANKS && asym[a] >= thr_asym &&
        own[a] < asym[a] / 2 && node_z(j, asym, a) >= j->opts.min_score)
        return 2 * node_ranks_alike(j, a, 0);
    return 0;
}

/* Is node a late from step 0: others wait for it far more than it waits for
 * them (late: -asym), its own block not raised by half as much? Under
 * min_static_severity only a node of STATIC_NODE_LINKS_RANKS, min_score of
 * the other nodes' spread out. */
static int node_late(dxt_judge *j, int a, double thr, double thr_asym, const double *own,
                     const double *late)
{
    int stands_out = late[a] >= thr || (node_size(j, a) >= STATIC_NODE_LINKS_RANKS &&
                                        node_z(j, late, a) >= j->opts.min_score);
    return late[a] >= thr_asym && own[a] < late[a] / 2 && stands_out && node_ranks_alike(j, a, 1);
}

int dxt_judge_nodes_static(dxt_judge *j, double steps)
{
    int nn = j->nnodes, any_dst = 0;
    if (nn < 2) return 0;
    /* with 2-3 nodes there is no spread of the nodes to judge one by
     * (node_tail): a node must then stand out as a cell without history
     * must (3 nodes of 8 ranks whose node-pair levels differ by sigma 0.26
     * made a healthy 1.5x slow node, "p 2e-9") */
    double thr = log(j->opts.min_static_severity);
    double thr_own = nn < 4 ? thr : log(STATIC_NODE_SEVERITY);
    double thr_asym = nn < 8 ? thr : log(STATIC_NODE_SEVERITY);
    double scale = block_levels(j);
    double *own = j->rank_obs, *asym = j->rank_exp, *late = j->rank_z; /* nnodes <= n: free here */
    for (int a = 0; a < nn; a++) {
        own[a] = j->blk_level[a * nn + a] - other_intra(j, a);
        asym[a] = asymmetry(j, a);
        late[a] = -asym[a];
        if (j->opts.verbose > 1)
            fprintf(stderr, "dxt-classify: static node %d own %.3f asym %.3f\n", a, own[a], asym[a]);
    }
    /* node_flag: 1 its own block, 2 its links in; only the first makes
     * the others' asymmetries no evidence of a late node */
    for (int a = 0; a < nn; a++) {
        j->node_flag[a] = (unsigned char)node_slow_rows(j, a, thr_own, thr_asym, own, asym);
        any_dst |= j->node_flag[a] == 1;
    }
    for (int a = 0; a < nn; a++) {
        /* a node of one rank is that rank: the rank tests judge it */
        if (node_marked(j, a) || node_size(j, a) < 2) continue;
        int rc = 0, links = j->node_flag[a] == 2;
        if (j->node_flag[a]) {
            const double *stat = links ? asym : own;
            rc = emit_static_node(j, a, 0, links, stat[a], scale, steps, node_tail(j, stat, a, links));
        } else if (!any_dst && node_late(j, a, thr, thr_asym, own, late)) {
            rc = emit_static_node(j, a, 1, 0, late[a], scale, steps, node_tail(j, late, a, 1));
        }
        if (rc) return -1;
    }
    return 0;
}
