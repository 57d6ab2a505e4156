/* color_range.c - which waits are green and which are red. Linear scale,
 * automatic: green up to the typical wait (the median across nodes, so fast
 * intra-node cells do not take half the palette), red from the level of the
 * weakest finding (at least 1.5 x typical: every outlined subject is red,
 * whatever stronger outliers there are); with no finding, red from
 * max(max, 2 x typical), so a healthy matrix stays green-yellow. Log scale and
 * explicit cb_min/cb_max: plain min..max.
 * Owned by the plots engineer (plots/). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "plot_internal.h"
#include "stats.h"

#define SAMPLE_MAX 1000000 /* values looked at for a percentile, at most */

/* A matrix of either type. */
typedef struct cells {
    const double *d;
    const float *f;
    int n;
} cells;

static double cell_at(const cells *c, size_t k) { return c->d ? c->d[k] : (double)c->f[k]; }

/* Finite values of the cells in rows r0..r1 x columns c0..c1, sampled to at
 * most SAMPLE_MAX, into a new array (*count of them). NULL: no memory. */
static double *gather(const cells *c, int r0, int r1, int c0, int c1, size_t *count)
{
    size_t total = (size_t)(r1 - r0 + 1) * (size_t)(c1 - c0 + 1);
    size_t stride = total / SAMPLE_MAX + 1, m = 0, k = 0;
    double *out = malloc((total / stride + 1) * sizeof(*out));
    if (!out)
        return NULL;
    for (int i = r0; i <= r1; i++)
        for (int j = c0; j <= c1; j++, k++) {
            double x = cell_at(c, (size_t)i * c->n + j);
            if (k % stride == 0 && isfinite(x))
                out[m++] = x;
        }
    *count = m;
    return out;
}

/* The median of a block of cells; NAN when none is finite. */
static double block_median(const cells *c, int r0, int r1, int c0, int c1)
{
    size_t m = 0;
    double *v = gather(c, r0, r1, c0, c1, &m);
    double median = (v && m) ? dxt_select_kth(v, m, m / 2) : NAN;
    free(v);
    return median;
}

/* The level of a finding's subject: the median of its outlined cells. */
static double subject_level(const cells *c, const dxt_finding *f, const dxt_topology *t)
{
    int n = c->n, r = f->rank;
    switch (f->kind) {
    case DXT_SLOW_SOURCE:
    case DXT_LOAD_IMBALANCE:
        return r >= 0 && r < n ? block_median(c, 0, n - 1, r, r) : NAN;
    case DXT_SLOW_DESTINATION:
        return r >= 0 && r < n ? block_median(c, r, r, 0, n - 1) : NAN;
    case DXT_SLOW_PATH:
        return f->src >= 0 && f->src < n && f->dst >= 0 && f->dst < n
                   ? cell_at(c, (size_t)f->dst * n + f->src) : NAN;
    case DXT_SLOW_NODE: {
        int first = -1, last = -1;
        for (int i = 0; t && t->n == n && t->node_of && i < n; i++)
            if (t->node_of[i] == f->node) {
                first = first < 0 ? i : first;
                last = i;
            }
        if (first < 0)
            return NAN;
        return f->as_source ? block_median(c, 0, n - 1, first, last)
                            : block_median(c, first, last, 0, n - 1);
    }
    default:
        return NAN;
    }
}

/* Where red starts: the weakest finding's level but at least 1.5 x typical
 * (at most the max); with no finding, max(max, 2 x typical). */
static double red_from(const cells *c, const dxt_plot_opts *o, double typical, double mx)
{
    double weakest = INFINITY;
    for (int k = 0; o && o->findings && k < o->nfindings; k++) {
        if (!plot_finding_matches(&o->findings[k], o->op))
            continue;
        double level = subject_level(c, &o->findings[k], o->topo);
        if (isfinite(level) && level > typical && level < weakest)
            weakest = level;
    }
    if (!isfinite(weakest))
        return 2.0 * typical > mx ? 2.0 * typical : mx;
    double red = weakest > 1.5 * typical ? weakest : 1.5 * typical;
    return red < mx ? red : mx;
}

/* The median wait across nodes (where most of an all-to-all's cells are, and
 * the slower kind); of every cell when there is one node. NAN: none. */
static double typical_level(const cells *c, const dxt_topology *t)
{
    int n = c->n;
    if (!t || t->n != n || !t->node_of || t->nnodes < 2)
        return block_median(c, 0, n - 1, 0, n - 1);
    size_t total = (size_t)n * n, stride = total / SAMPLE_MAX + 1, m = 0;
    double *v = malloc((total / stride + 1) * sizeof(*v));
    if (!v)
        return NAN;
    for (size_t k = 0; k < total; k += stride) {
        double x = cell_at(c, k);
        if (isfinite(x) && t->node_of[k / n] != t->node_of[k % n])
            v[m++] = x;
    }
    double median = m ? dxt_select_kth(v, m, m / 2) : NAN;
    free(v);
    return isfinite(median) ? median : block_median(c, 0, n - 1, 0, n - 1);
}

/* The median of the finite cells of rows in node a x columns in node b. */
static double pair_median(const cells *c, const int *node_of, int a, int b, double *buf)
{
    size_t m = 0;
    for (int i = 0; i < c->n; i++)
        for (int j = 0; node_of[i] == a && j < c->n; j++) {
            double x = cell_at(c, (size_t)i * c->n + j);
            if (node_of[j] == b && isfinite(x) && x > 0)
                buf[m++] = x;
        }
    return m ? dxt_select_kth(buf, m, m / 2) : NAN;
}

double *plot_relative_values(const double *v, const float *vf, int n, const dxt_topology *topo)
{
    cells c = {v, vf, n};
    size_t count = (size_t)n * (size_t)n;
    int nnodes = topo && topo->n == n && topo->node_of && topo->nnodes > 0 ? topo->nnodes : 1;
    int *node_of = calloc((size_t)n, sizeof(*node_of));
    double *out = malloc(count * sizeof(*out)), *buf = malloc(count * sizeof(*buf));
    double *median = malloc((size_t)nnodes * nnodes * sizeof(*median));
    if (!node_of || !out || !buf || !median) {
        free(out);
        out = NULL;
        goto done;
    }
    for (int i = 0; nnodes > 1 && i < n; i++)
        node_of[i] = topo->node_of[i] >= 0 && topo->node_of[i] < nnodes ? topo->node_of[i] : 0;
    for (int a = 0; a < nnodes; a++)
        for (int b = 0; b < nnodes; b++)
            median[a * nnodes + b] = pair_median(&c, node_of, a, b, buf);
    for (size_t k = 0; k < count; k++) {
        double x = cell_at(&c, k), m = median[node_of[k / n] * nnodes + node_of[k % n]];
        out[k] = isfinite(x) && x > 0 && m > 0 ? x / m : NAN;
    }
done:
    free(node_of), free(buf), free(median);
    return out;
}

void plot_color_title(const dxt_plot_opts *o, int from_median, char *buf, size_t len)
{
    const char *unit = o->unit ? o->unit : "us";
    if (o->relative)
        snprintf(buf, len, "wait / typical wait of its node pair%s%s   (cell values: %s)",
                 o->log_color ? ", log scale" : "", from_median ? "  -  green: typical" : "",
                 unit);
    else
        snprintf(buf, len, "wait (%s%s)%s", unit, o->log_color ? ", log scale" : "",
                 from_median ? "  -  green: typical or less" : "");
}

static void min_max(const cells *c, int positive_only, double *mn, double *mx)
{
    size_t count = (size_t)c->n * (size_t)c->n;
    *mn = INFINITY;
    *mx = -INFINITY;
    for (size_t k = 0; k < count; k++) {
        double x = cell_at(c, k);
        if (!isfinite(x) || (positive_only && x <= 0))
            continue;
        *mn = x < *mn ? x : *mn;
        *mx = x > *mx ? x : *mx;
    }
}

int plot_color_range(const double *v, const float *vf, int n, const dxt_plot_opts *o,
                     double *lo, double *hi)
{
    cells c = {v, vf, n};
    int log_color = o && o->log_color, relative = 0;
    double mn, mx;
    min_max(&c, log_color, &mn, &mx);
    if (o && (o->cb_min != 0 || o->cb_max != 0)) {
        mn = o->cb_min;
        mx = o->cb_max;
    } else if (!log_color && isfinite(mn) && mx > mn) {
        double typical = typical_level(&c, o ? o->topo : NULL);
        if (isfinite(typical) && typical > 0) {
            double red = red_from(&c, o, typical, mx);
            relative = typical < red;
            mn = relative ? typical : mn;
            mx = relative ? red : mx;
        }
    }
    if (!isfinite(mn) || !isfinite(mx) || (log_color && mn <= 0)) {
        mn = log_color ? 1.0 : 0.0;
        mx = log_color ? 10.0 : 1.0;
    }
    if (!(mx > mn))
        mx = log_color ? mn * 10.0 : mn + (fabs(mn) > 0 ? fabs(mn) : 1.0);
    *lo = mn;
    *hi = mx;
    return relative;
}
