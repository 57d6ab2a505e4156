/* classify_cells.c - the checks a cell's finding over time must pass to be a
 * slow path (classify_subjects.c asks them once the scan found the cell):
 * it stands out from its row and column peers (lesson 12: the root, not an
 * echo of a rank) and its rise matters (lesson 2: impact).
 * Owner: the classifier engineer (A1). */
#include <math.h>

#include "classify_view.h"

/* Change of cell c in window w from its base (NAN: not judged). */
static double cell_change(tview *v, size_t c, int w)
{
    const dxt_tracker *t = v->t;
    if (!v->ever[c] || !t->row_ok[(size_t)w * v->n + c / v->n] || c / v->n == c % v->n) return NAN;
    float f = t->vals[(size_t)w * v->nn + c];
    return log((isnan(f) || f < 0.0f ? 0.0 : f) + cell_floor(v, c)) - v->base[c];
}

/* Change of cell c in window w from its base in wait per step (NAN: not judged). */
static double cell_rise(tview *v, size_t c, int w)
{
    double x = cell_change(v, c, w);
    return isnan(x) ? NAN : (exp(x) - 1.0) * exp(v->base[c]);
}

/* A quantile of the changes in window w of line l's cells other than cell
 * `skip` (by_col: column l; rise: in wait per step, else in logs; NAN:
 * none). buf: n doubles. */
static double peers_quantile(tview *v, int l, int by_col, int skip, int w, int rise, double q,
                             double *buf)
{
    size_t m = 0;
    for (int o = 0; o < v->n; o++) {
        if (o == skip) continue;
        size_t c = by_col ? (size_t)o * v->n + l : (size_t)l * v->n + o;
        double x = rise ? cell_rise(v, c, w) : cell_change(v, c, w);
        if (!isnan(x)) buf[m++] = x;
    }
    return m ? dxt_select_kth(buf, m, (size_t)(q * (double)(m - 1))) : NAN;
}

/* Does cell c stand out from its row and from its column peers on seg
 * (lesson 12: the root is the cell that stands out from both where it first
 * appears)? In the flagged windows its change from its base, less the upper
 * quartile of the changes of the other cells of its row, and less that of
 * its column, each apart, is at least half its change (medians over the
 * windows). Pooled, a rank that rose a little leaves its line's top cells
 * above the pool's quartile (a late rank's clipped cells rise most, its row's
 * do not: half the pool), and a healthy run of 225 ranks made 4 paths of one
 * column at its end. With 4 ranks a line holds 3 cells, and a rank's regime
 * (real DeepEP: which host launches last) moves them unevenly enough to
 * leave residuals in cells that rose less than their peers. And in wait:
 * its rise less the larger shift of its row's and its column's other cells
 * (their median change in wait per step) at least half its rise. A clipped
 * cell (lesson 10) follows its source's lateness up to that shift and no
 * further: a healthy run's column rose 2-8 us with its rank's load, and its
 * intra-node cell from 0 to 1.2-1.9 us was 1.5x in log(wait + floor). */
int dxt_cell_stands_out(tview *v, size_t c, const dxt_segment *seg)
{
    int i = (int)(c / v->n), k = (int)(c % v->n);
    double *peers = v->lbuf, *margin = v->lbuf + 2 * (size_t)v->n;
    size_t m = 0;
    for (int w = seg->first; w <= seg->last; w++) {
        if (v->ex[w] != 1) continue;
        double own = cell_change(v, c, w), rise = cell_rise(v, c, w);
        double row = peers_quantile(v, i, 0, k, w, 0, 0.75, peers);
        double col = peers_quantile(v, k, 1, i, w, 0, 0.75, peers);
        double top = isnan(row) ? col : isnan(col) ? row : fmax(row, col);
        double row_rise = peers_quantile(v, i, 0, k, w, 1, 0.5, peers);
        double col_rise = peers_quantile(v, k, 1, i, w, 1, 0.5, peers);
        double shift = isnan(row_rise) ? col_rise : isnan(col_rise) ? row_rise
                                                                    : fmax(row_rise, col_rise);
        if (isnan(own) || isnan(top) || isnan(shift)) continue;
        margin[m] = own - top;
        margin[v->W + m] = own;
        margin[2 * (size_t)v->W + m] = rise - shift;
        margin[3 * (size_t)v->W + m++] = rise;
    }
    /* most of its rise its own: at least twice its peers', in logs and in
     * wait */
    return m > 0 && dxt_median_inplace(margin, m) >= 0.5 * dxt_median_inplace(margin + v->W, m) &&
           dxt_median_inplace(margin + 2 * (size_t)v->W, m) >=
               0.5 * dxt_median_inplace(margin + 3 * (size_t)v->W, m);
}

/* Is the rise of cell c on seg worth a path (lesson 2: impact)? The median
 * over its flagged windows of its wait less its base wait (per step) must be
 * at least half what a min_path_severity path adds to a cell of its class's
 * typical wait (five floors: the floor is a fifth of it), so that a 1.3x path
 * on a cell at half the typical wait still counts. A cell near zero (the row
 * of a rank that is late from the start: it waits for nobody) that creeps
 * from 1 to 3 ns under a class of 25-37 ns (a rise of 0.03-0.07 of it) rises
 * 1.5x in log(wait + floor) and is no slow path: a healthy run of 225 ranks
 * made four such paths in one row. A 1.3x path on a cell of 26 ns in a class
 * of 36 rose 0.22 of it (0.3 lost it). */
int dxt_path_matters(tview *v, size_t c, const dxt_segment *seg)
{
    const dxt_tracker *t = v->t;
    double *rise = v->lbuf, f = cell_floor(v, c), base = exp(v->base[c]) - f;
    size_t m = 0;
    for (int w = seg->first; w <= seg->last; w++) {
        float x = t->vals[(size_t)w * v->nn + c];
        if (v->ex[w] == 1 && !isnan(x)) rise[m++] = (x > 0.0f ? x : 0.0) - base;
    }
    return m > 0 && dxt_median_inplace(rise, m) >= 0.5 * (t->opts.min_path_severity - 1.0) * 5.0 * f;
}
