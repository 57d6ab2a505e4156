/* classify_lines.c - the checks a rank's or a node's finding over time must
 * pass (classify_subjects.c asks them once the scan found it): a high row of
 * an early rank is no slow receiver; a node is slow when its ranks are alike;
 * in a job of two nodes, one node's rise as a destination may be the other's
 * lateness. Owner: the classifier engineer (A1). */
#include <math.h>
#include <stdio.h>

#include "classify_view.h"

/* Window w's log wait per step (as in build_logs) into v->ywin. */
static void window_logs(tview *v, int w)
{
    const dxt_tracker *t = v->t;
    for (size_t c = 0; c < v->nn; c++) {
        float f = t->vals[(size_t)w * v->nn + c];
        int ok = v->ever[c] && t->row_ok[(size_t)w * v->n + c / v->n] && c / v->n != c % v->n;
        v->ywin[c] = ok ? log((isnan(f) || f < 0.0f ? 0.0 : f) + cell_floor(v, c)) : NAN;
    }
    v->mid_ok = 0;
}

/* Two values of subject id measured on one window's log matrix (v->ywin). */
typedef void (*window_measure)(tview *v, int id, double *a, double *b);

/* For each of the k subjects ids[i]: the medians of measure's two values over
 * seg's exceedances (in[2i], in[2i+1]) and over the other judged windows, the
 * normal ones (out[2i], out[2i+1]): NAN where none. Each window's logs (n^2)
 * and its lines' middles are built once for all k (one at a time, a node of 8
 * ranks took 7 s of a 1024-rank run's 71; now 2). Returns how many windows are in,
 * *outside (unless NULL) how many are out. Uses v->lbuf + 2n (4 W doubles a
 * subject: k at most a node's ranks); measure may use v->lbuf's first 2n. */
static size_t window_medians(tview *v, const int *ids, int k, const dxt_segment *seg,
                             window_measure measure, double *in, double *out, size_t *outside)
{
    double *base = v->lbuf + 2 * (size_t)v->n;
    size_t W = (size_t)v->W, count = 0, count0 = 0;
    for (int w = 0; w < v->W; w++) {
        int inside = w >= seg->first && w <= seg->last && v->ex[w] == 1;
        if (!v->use[w] || (!inside && v->ex[w] != 0)) continue; /* elsewhere: judged, normal */
        window_logs(v, w);
        for (int i = 0; i < k; i++) {
            double *a = base + 4 * W * (size_t)i, *b = a + W, *a0 = b + W, *b0 = a0 + W;
            if (inside) measure(v, ids[i], &a[count], &b[count]);
            else measure(v, ids[i], &a0[count0], &b0[count0]);
        }
        count += inside, count0 += !inside;
    }
    for (int i = 0; i < k; i++) {
        double *a = base + 4 * W * (size_t)i, *b = a + W, *a0 = b + W, *b0 = a0 + W;
        in[2 * i] = dxt_median_inplace(a, count), in[2 * i + 1] = dxt_median_inplace(b, count);
        out[2 * i] = dxt_median_inplace(a0, count0);
        out[2 * i + 1] = dxt_median_inplace(b0, count0);
    }
    if (outside) *outside = count0;
    return count;
}

/* Rank r's column and row standings (dxt_line_standing) in v->ywin; its
 * lines' middles, v->mid, built once a window (window_logs clears mid_ok). */
static void standing(tview *v, int r, double *col, double *row)
{
    if (!v->mid_ok) dxt_line_middles(v->ywin, v->n, v->lbuf, v->mid), v->mid_ok = 1;
    dxt_line_standing(v->ywin, v->n, r, v->mid, v->lbuf, col, row);
}

/* Is a high row of rank r on seg no slow receiver, in the windows of seg
 * that are exceedances: a rank whose column fell against its other, normal
 * windows and that is early (dxt_early_standing) or whose row does not
 * stand above its peers' (a late rank, less late there) (a rank whose
 * column sits low all run, launching early, may still be slow to receive: a
 * 1.3x one from step 0 was lost; the change alone is no rule: standings mix
 * intra- and inter-node cells, and a slow receiver's column standing fell
 * 0.7 as its row's rose 0.07 with a slow source beside it), or a row still
 * below its peers' (lesson 1: a rank late from the start waits for nobody;
 * as its lateness eases, its row rises from the floor towards the others'.
 * A healthy run: a rank of 1.6x the median load, its load drifting down 4 %,
 * its row from 0.19 to 0.28 of the typical wait, a 1.17x "slow receiver").
 * A slow receiver waits for each peer more than the other ranks do; "below":
 * by more than half a min_severity change (a hot expert's row rose 1.11x to
 * its peers' level, standing -0.002: a load_imbalance). */
static int early_standings(const tview *v, int r, const dxt_segment *seg, const double in[2],
                           const double out[2])
{
    double col = in[0], row = in[1];
    /* the standings of its other, normal windows (none: no change) */
    double col0 = isfinite(out[0]) ? out[0] : 0.0, row0 = isfinite(out[1]) ? out[1] : 0.0;
    if (v->t->opts.verbose > 1)
        fprintf(stderr, "dxt-classify: row %d on windows %d-%d: standing %.3f, column %.3f "
                "(elsewhere %.3f, %.3f)\n", r, seg->first, seg->last, row, col, row0, col0);
    /* its column fell too (by a quarter of its row's rise at least: real
     * DeepEP's launch regimes, a rank early in part of its other windows
     * already), and it is early by its standing, or its row does not stand
     * above its peers' (a late rank whose lateness eased: it waits more
     * because it is less late. A healthy 10-rank run whose rank 0 carried a
     * load that wandered up 6 % in its second half: in the first its row
     * stood -0.03 and its column 0.37, in the second -0.13 and 0.45; the first
     * read as a 1.2x "slow receiver" for 400 steps) */
    int eased = col - col0 <= -0.25 * (row - row0);
    return (eased && (dxt_early_standing(col, row) || row <= 0.0)) ||
           row < -0.5 * log(v->t->opts.min_severity);
}

int dxt_early_rank(tview *v, int r, const dxt_segment *seg)
{
    double in[2], out[2];
    return window_medians(v, &r, 1, seg, standing, in, out, NULL) &&
           early_standings(v, r, seg, in, out);
}

/* Is node a's high rows on seg its ranks' being early (dxt_early_rank), most
 * of them (dxt_node_need), no slow receiving? A node's rows are its ranks'
 * rows: a node whose ranks are late by their load (their rows at the floor)
 * waits more whenever they are less late. (A healthy node of two ranks at
 * 3-4 % of its class's wait in combine, back to it in 19 of 82 windows: an
 * "intermittent 3.6x slow node".) */
int dxt_early_node(tview *v, int a, const dxt_segment *seg)
{
    const dxt_judge *j = &v->t->judge;
    const int *ranks = j->members + j->node_start[a];
    int k = node_size(j, a), early = 0;
    double *in = v->lbuf_node, *out = in + 2 * (size_t)k;
    if (!window_medians(v, ranks, k, seg, standing, in, out, NULL)) return 0;
    for (int i = 0; i < k; i++) early += early_standings(v, ranks[i], seg, in + 2 * i, out + 2 * i);
    return early >= dxt_node_need(k);
}

/* Are node a's ranks slow alike on seg (a slow node: all its ranks late, or
 * slow to receive, the same way)? The effect DXT_NODE_FRACTION of them reach
 * (the node's series) is at least half its most risen rank's, each rank's
 * effect its median over the flagged windows. One rank of a node far above
 * the others is that rank's fault, its echo in the others no slow node (a
 * hot expert's rank at 1.9x beside its node's other at 1.17x). */
int dxt_node_alike(tview *v, int a, int as_source, const dxt_segment *seg)
{
    const dxt_judge *j = &v->t->judge;
    const double *eff = as_source ? v->cole : v->rowe;
    double *med = v->lbuf, *buf = v->lbuf + v->n, top = -INFINITY;
    size_t ranks = 0, m = 0;
    for (int p = j->node_start[a]; p < j->node_start[a + 1]; p++) {
        int r = j->members[p];
        m = 0;
        for (int w = seg->first; w <= seg->last; w++)
            if (v->ex[w] == 1 && !isnan(eff[(size_t)w * v->n + r]))
                buf[m++] = eff[(size_t)w * v->n + r];
        if (m == 0) continue;
        med[ranks] = dxt_median_inplace(buf, m);
        if (med[ranks] > top) top = med[ranks];
        ranks++;
    }
    double reach = dxt_node_reach(med, ranks, node_size(j, a));
    if (isnan(reach)) return 0;
    if (v->t->opts.verbose > 1)
        fprintf(stderr, "dxt-classify: node %d: its ranks reach %.3f, the top one %.3f\n", a,
                reach, top);
    return reach >= 0.5 * top;
}

/* Mean log wait, in window w's v->ywin, of the cells where node a's ranks
 * wait for the other nodes' (into 1), or the others wait for a's (0). */
static double cross_block(const tview *v, int a, int into)
{
    const int *node_of = v->t->judge.node_of;
    double sum = 0.0, count = 0.0;
    for (size_t c = 0; c < v->nn; c++) {
        int dst = node_of[c / v->n], src = node_of[c % v->n];
        if ((into ? dst == a && src != a : src == a && dst != a) && !isnan(v->ywin[c]))
            sum += v->ywin[c], count += 1.0;
    }
    return count > 0.0 ? sum / count : NAN;
}

/* Node a's two cross blocks in v->ywin (both NAN unless both are measured). */
static void cross_blocks(tview *v, int a, double *into, double *from)
{
    *into = cross_block(v, a, 1), *from = cross_block(v, a, 0);
    if (isnan(*into) || isnan(*from)) *into = *from = NAN;
}

/* In a job of two nodes, is node a's rise as a destination on seg the other
 * node's lateness? A late node raises the other's waits for it and lowers
 * its own for the other (it waits for nobody), where a node slow to receive
 * leaves the other's waits for it as they were. The two cross blocks, median
 * over seg's exceedances against the other judged windows: the other node is
 * late where its waits fell by a quarter of a's rise at least (as in
 * dxt_early_rank); a node of one rank is no node subject: 0. With two nodes
 * the node sources' null is two mirror images (the one late node changes),
 * so the late node is seen here. (The second
 * independent simulator: node 1 of 2 late from step 415, 1.3x, its waits for
 * node 0 at 0.34x as node 0's for it rose 1.65x: "node 0 slow to receive".) */
int dxt_other_node_late(tview *v, int a, const dxt_segment *seg)
{
    const dxt_judge *j = &v->t->judge;
    if (j->nnodes != 2 || node_size(j, 1 - a) < 2) return 0;
    double in[2], out[2];
    window_medians(v, &a, 1, seg, cross_blocks, in, out, NULL);
    double up = in[0] - out[0], down = in[1] - out[1];
    if (!isfinite(up) || !isfinite(down)) return 0; /* no window in, or none normal */
    if (v->t->opts.verbose > 1)
        fprintf(stderr, "dxt-classify: node %d as destination: its waits %+.3f, the other's "
                "for it %+.3f\n", a, up, down);
    return up > 0.0 && down <= -0.25 * up;
}
