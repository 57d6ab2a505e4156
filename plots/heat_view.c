/* heat_view.c - a wait matrix as the cells of a picture, for the PNG heatmap
 * and the terminal view alike: which ranks each cell covers along each side
 * (one rank, a block of ranks, whole nodes), the panel around a finding (its
 * node and one node either side), and the values of the cells: a block shows
 * the median of its cells or, when higher, the median of a whole row or
 * column of ranks running through it, so that a slow rank or node shows as a
 * line at full strength while noise and single spikes are averaged away.
 * Owned by the plots engineer (plots/). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot_internal.h"
#include "stats.h"

#define NEIGHBOURHOOD_MAX_RANKS 48
#define NEIGHBOURHOOD_RANKS 8 /* either side, without nodes */

int plot_uniform_node_size(int n, const dxt_topology *t)
{
    if (!t || t->n != n || !t->node_of || n < 2)
        return 0;
    int size = 1;
    while (size < n && t->node_of[size] == t->node_of[0])
        size++;
    if (n % size != 0)
        return 0;
    for (int i = 0; i < n; i++)
        if (t->node_of[i] != t->node_of[(i / size) * size] ||
            (i % size == 0 && i > 0 && t->node_of[i] == t->node_of[i - 1]))
            return 0;
    return size;
}

/* Cells of group ranks each over first..last. */
static int axis_groups(heat_axis *a, int first, int last, int group, int nodes_per_cell)
{
    int span = last - first + 1;
    memset(a, 0, sizeof *a);
    a->group = group;
    a->nodes_per_cell = nodes_per_cell;
    a->count = (span + group - 1) / group;
    a->start = malloc((size_t)(a->count + 1) * sizeof *a->start);
    if (!a->start)
        return -1;
    for (int k = 0; k < a->count; k++)
        a->start[k] = first + k * group;
    a->start[a->count] = last + 1;
    return 0;
}

int heat_axis_whole(heat_axis *a, int n, const dxt_topology *t, int max_cells)
{
    if (max_cells < 1)
        max_cells = 1;
    if (n <= max_cells)
        return axis_groups(a, 0, n - 1, 1, 0);
    int node = plot_uniform_node_size(n, t);
    if (node > 0) {
        int nodes = n / node, per_cell = (nodes + max_cells - 1) / max_cells;
        return axis_groups(a, 0, n - 1, node * per_cell, per_cell);
    }
    return axis_groups(a, 0, n - 1, (n + max_cells - 1) / max_cells, 0);
}

int heat_axis_range(heat_axis *a, int first, int last, int max_cells)
{
    int span = last - first + 1;
    if (max_cells < 1)
        max_cells = 1;
    return axis_groups(a, first, last, span <= max_cells ? 1 : (span + max_cells - 1) / max_cells,
                       0);
}

int heat_axis_cell(const heat_axis *a, int r)
{
    if (!a->start || r < a->start[0] || r >= a->start[a->count])
        return -1;
    int k = (r - a->start[0]) / a->group;
    return k < a->count ? k : a->count - 1;
}

/* First rank of the node run holding rank r (contiguous ranks of one node). */
static int run_first(const dxt_topology *t, int r)
{
    while (r > 0 && t->node_of[r - 1] == t->node_of[r])
        r--;
    return r;
}

static int run_last(const dxt_topology *t, int n, int r)
{
    while (r + 1 < n && t->node_of[r + 1] == t->node_of[r])
        r++;
    return r;
}

void heat_neighbourhood(int n, const dxt_topology *t, int first, int last, int *lo, int *hi)
{
    int a = first - NEIGHBOURHOOD_RANKS, b = last + NEIGHBOURHOOD_RANKS;
    if (t && t->n == n && t->node_of) {
        int na = run_first(t, first), nb = run_last(t, n, last);
        int wa = na > 0 ? run_first(t, na - 1) : na, wb = nb + 1 < n ? run_last(t, n, nb + 1) : nb;
        if (wb - wa + 1 <= NEIGHBOURHOOD_MAX_RANKS) {
            a = wa;
            b = wb;
        } else if (nb - na + 1 <= NEIGHBOURHOOD_MAX_RANKS) {
            a = na;
            b = nb;
        }
    }
    if (b - a + 1 > NEIGHBOURHOOD_MAX_RANKS && last - first + 1 <= NEIGHBOURHOOD_MAX_RANKS) {
        int pad = (NEIGHBOURHOOD_MAX_RANKS - (last - first + 1)) / 2;
        a = first - pad;
        b = last + pad;
    }
    *lo = a < 0 ? 0 : a;
    *hi = b >= n ? n - 1 : b;
}

/* The ranks of node (contiguous or not: their span). -1 when it has none. */
static int node_span(const dxt_topology *t, int n, int node, int *first, int *last)
{
    *first = *last = -1;
    for (int i = 0; t && t->n == n && t->node_of && i < n; i++)
        if (t->node_of[i] == node) {
            *first = *first < 0 ? i : *first;
            *last = i;
        }
    return *first < 0 ? -1 : 0;
}

int heat_finding_ranks(const dxt_finding *f, int n, const dxt_topology *t, int *c0, int *c1,
                       int *r0, int *r1)
{
    int first, last;
    *c0 = *r0 = 0;
    *c1 = *r1 = n - 1;
    switch (f->kind) {
    case DXT_SLOW_SOURCE:
    case DXT_LOAD_IMBALANCE:
        if (f->rank < 0 || f->rank >= n)
            return -1;
        *c0 = *c1 = f->rank;
        return 0;
    case DXT_SLOW_DESTINATION:
        if (f->rank < 0 || f->rank >= n)
            return -1;
        *r0 = *r1 = f->rank;
        return 0;
    case DXT_SLOW_PATH:
        if (f->src < 0 || f->src >= n || f->dst < 0 || f->dst >= n)
            return -1;
        *c0 = *c1 = f->src;
        *r0 = *r1 = f->dst;
        return 0;
    case DXT_SLOW_NODE:
        if (node_span(t, n, f->node, &first, &last) != 0)
            return -1;
        if (f->as_source) {
            *c0 = first;
            *c1 = last;
        } else {
            *r0 = first;
            *r1 = last;
        }
        return 0;
    default:
        return -1;
    }
}

static double wait_at(const double *wd, const float *wf, size_t k)
{
    return wd ? wd[k] : (double)wf[k];
}

/* The median of the finite values among count, stride apart; NAN if none.
 * scratch holds count values. */
static double line_median(const double *x, int count, int stride, double *scratch)
{
    size_t m = 0;
    for (int k = 0; k < count; k++)
        if (isfinite(x[(size_t)k * stride]))
            scratch[m++] = x[(size_t)k * stride];
    return m ? dxt_select_kth(scratch, m, (m - 1) / 2) : NAN;
}

/* Medians of every whole row and column of the matrix (the color values),
 * so that a block can show a slow rank's line at its full strength. */
typedef struct line_medians {
    double *row, *col;
} line_medians;

static int line_medians_of(line_medians *m, int n, const double *color, const double *wd,
                           const float *wf)
{
    double *line = malloc((size_t)n * sizeof *line), *scratch = malloc((size_t)n * sizeof *scratch);
    m->row = malloc((size_t)n * sizeof *m->row);
    m->col = malloc((size_t)n * sizeof *m->col);
    int rc = line && scratch && m->row && m->col ? 0 : -1;
    for (int i = 0; rc == 0 && i < n; i++) {
        for (int j = 0; j < n; j++)
            line[j] = color ? color[(size_t)i * n + j] : wait_at(wd, wf, (size_t)i * n + j);
        m->row[i] = line_median(line, n, 1, scratch);
    }
    for (int j = 0; rc == 0 && j < n; j++) {
        for (int i = 0; i < n; i++)
            line[i] = color ? color[(size_t)i * n + j] : wait_at(wd, wf, (size_t)i * n + j);
        m->col[j] = line_median(line, n, 1, scratch);
    }
    free(line);
    free(scratch);
    return rc;
}

static double higher(double best, double x)
{
    return isfinite(x) && !(x <= best) ? x : best;
}

/* Block (r, c): one rank pair shows itself; a larger block the median of its
 * cells or, when higher, the median of a whole row or column of ranks running
 * through it (a slow rank's line at full strength; one noisy pair averaged
 * away). block and scratch hold rows.group x cols.group values. */
static void fill_block(heat_view *v, int r, int c, const double *color, const double *wd,
                       const float *wf, const line_medians *lines, double *block, double *scratch)
{
    int n = v->n, i0 = v->rows.start[r], j0 = v->cols.start[c];
    int h = v->rows.start[r + 1] - i0, w = v->cols.start[c + 1] - j0;
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            size_t k = (size_t)(i0 + i) * n + (j0 + j);
            block[(size_t)i * w + j] = color ? color[k] : wait_at(wd, wf, k);
        }
    double best = line_median(block, h * w, 1, scratch);
    for (int i = 0; lines && i < h; i++)
        best = higher(best, lines->row[i0 + i]);
    for (int j = 0; lines && j < w; j++)
        best = higher(best, lines->col[j0 + j]);
    v->color[(size_t)r * v->cols.count + c] = (float)best;
    v->value[(size_t)r * v->cols.count + c] =
        h == 1 && w == 1 ? (float)wait_at(wd, wf, (size_t)i0 * n + j0) : NAN;
}

int heat_view_fill(heat_view *v, int n, const double *color, const double *wd, const float *wf)
{
    size_t cells = (size_t)v->rows.count * (size_t)v->cols.count;
    size_t block_len = (size_t)v->rows.group * (size_t)v->cols.group;
    double *block = malloc(block_len * sizeof *block), *scratch = malloc(block_len * sizeof *scratch);
    line_medians lines = {NULL, NULL};
    int rc = -1, grouped = v->rows.group > 1 || v->cols.group > 1;
    v->n = n;
    v->color = malloc(cells * sizeof *v->color);
    v->value = malloc(cells * sizeof *v->value);
    if (block && scratch && v->color && v->value &&
        (!grouped || line_medians_of(&lines, n, color, wd, wf) == 0)) {
        for (int r = 0; r < v->rows.count; r++)
            for (int c = 0; c < v->cols.count; c++)
                fill_block(v, r, c, color, wd, wf, grouped ? &lines : NULL, block, scratch);
        rc = 0;
    }
    free(lines.row);
    free(lines.col);
    free(block);
    free(scratch);
    return rc;
}

void heat_view_free(heat_view *v)
{
    free(v->rows.start);
    free(v->cols.start);
    free(v->color);
    free(v->value);
    memset(v, 0, sizeof *v);
}

int heat_view_is_self(const heat_view *v, int r, int c)
{
    return v->rows.group == 1 && v->cols.group == 1 && v->rows.start[r] == v->cols.start[c];
}
