/* color_range.c - which waits get which color. Relative pictures (the
 * default) color wait / typical wait of its kind (intra-node or inter-node
 * median) on one fixed log scale, 1x .. DXT_PLOT_RELATIVE_MAX: the same in
 * every picture of every op and run, so a color always means the same ratio.
 * Absolute pictures (--abs-color) color the wait itself over the range the
 * caller gives (one range per op, so that every picture of an op agrees) or
 * the values' min..max, linear or log; nothing is clamped to the typical wait.
 * Owned by the plots engineer (plots/). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "plot_internal.h"
#include "stats.h"

#define SAMPLE_MAX 1000000 /* values looked at for a median, at most */

static double cell_at(const double *v, const float *vf, size_t k)
{
    return v ? v[k] : (double)vf[k];
}

/* Medians of the finite positive cells within nodes (*intra) and across
 * nodes (*inter), each from at most SAMPLE_MAX cells; NAN when none. Without
 * topology every cell is "across". */
static int class_medians(const double *v, const float *vf, int n, const dxt_topology *t,
                         double *intra, double *inter)
{
    size_t total = (size_t)n * n, stride = total / SAMPLE_MAX + 1, mi = 0, mx = 0;
    int nodes = t && t->n == n && t->node_of && t->nnodes > 1;
    double *a = malloc((total / stride + 1) * sizeof *a), *b = malloc((total / stride + 1) * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return -1;
    }
    for (size_t k = 0; k < total; k += stride) {
        double x = cell_at(v, vf, k);
        if (!isfinite(x) || x <= 0)
            continue;
        if (nodes && t->node_of[k / n] == t->node_of[k % n])
            a[mi++] = x;
        else
            b[mx++] = x;
    }
    *intra = mi ? dxt_select_kth(a, mi, mi / 2) : NAN;
    *inter = mx ? dxt_select_kth(b, mx, mx / 2) : NAN;
    free(a);
    free(b);
    return 0;
}

double *plot_relative_values(const double *v, const float *vf, int n, const dxt_topology *topo)
{
    size_t count = (size_t)n * (size_t)n;
    double intra, inter;
    int nodes = topo && topo->n == n && topo->node_of && topo->nnodes > 1;
    double *out = malloc(count * sizeof *out);
    if (!out || class_medians(v, vf, n, topo, &intra, &inter) != 0) {
        free(out);
        return NULL;
    }
    if (!isfinite(intra))
        intra = inter;
    if (!isfinite(inter))
        inter = intra;
    for (size_t k = 0; k < count; k++) {
        double x = cell_at(v, vf, k);
        double m = nodes && topo->node_of[k / n] == topo->node_of[k % n] ? intra : inter;
        out[k] = isfinite(x) && x > 0 && m > 0 ? x / m : NAN;
    }
    return out;
}

void plot_scale_for(const dxt_plot_opts *o, const double *v, const float *vf, size_t count,
                    plot_scale *s)
{
    s->relative = o && o->relative;
    s->log = s->relative || (o && o->log_color);
    if (s->relative) {
        s->lo = 1.0;
        s->hi = DXT_PLOT_RELATIVE_MAX;
        return;
    }
    s->lo = INFINITY;
    s->hi = -INFINITY;
    if (o && (o->cb_min != 0 || o->cb_max != 0)) {
        s->lo = o->cb_min;
        s->hi = o->cb_max;
    } else {
        for (size_t k = 0; k < count; k++) {
            double x = cell_at(v, vf, k);
            if (!isfinite(x) || (s->log && x <= 0))
                continue;
            s->lo = x < s->lo ? x : s->lo;
            s->hi = x > s->hi ? x : s->hi;
        }
    }
    if (!isfinite(s->lo) || !isfinite(s->hi) || (s->log && s->lo <= 0)) {
        s->lo = s->log ? 1.0 : 0.0;
        s->hi = s->log ? 10.0 : 1.0;
    }
    if (!(s->hi > s->lo))
        s->hi = s->log ? s->lo * 10.0 : s->lo + (fabs(s->lo) > 0 ? fabs(s->lo) : 1.0);
}

double plot_scale_pos(const plot_scale *s, double v)
{
    if (isnan(v))
        return NAN;
    double t = s->log ? (v > 0 ? log(v / s->lo) / log(s->hi / s->lo) : 0.0)
                      : (v - s->lo) / (s->hi - s->lo);
    return t < 0 ? 0 : t > 1 ? 1 : t;
}

static void add_tic(plot_tics *t, const plot_scale *s, double v, const char *suffix)
{
    char num[20];
    if (t->count >= PLOT_SCALE_MAX_TICS || v < s->lo * (1 - 1e-9) || v > s->hi * (1 + 1e-9))
        return;
    plot_format_value(v, num, sizeof num);
    t->at[t->count] = plot_scale_pos(s, v);
    snprintf(t->text[t->count], sizeof t->text[t->count], "%s%s", num, suffix);
    t->count++;
}

void plot_scale_tics(const plot_scale *s, plot_tics *t)
{
    static const double relative[] = {1, 1.25, 1.5, 2, 3, 4, 6, 8, 10};
    static const double steps_125[] = {1, 2, 5}, steps_19[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    t->count = 0;
    if (s->relative) {
        for (size_t k = 0; k < sizeof relative / sizeof relative[0]; k++)
            add_tic(t, s, relative[k], relative[k] >= s->hi ? "x or more" : "x");
        return;
    }
    if (!s->log) {
        for (int k = 0; k <= 4; k++)
            add_tic(t, s, s->lo + (s->hi - s->lo) * k / 4.0, "");
        return;
    }
    const double *steps = steps_125;
    size_t nsteps = 3;
    if (log10(s->hi / s->lo) < 1.0) {
        steps = steps_19;
        nsteps = 9;
    }
    for (double decade = pow(10, floor(log10(s->lo))); decade <= s->hi; decade *= 10)
        for (size_t k = 0; k < nsteps; k++)
            add_tic(t, s, steps[k] * decade, "");
    if (t->count < 2) {
        t->count = 0;
        add_tic(t, s, s->lo, "");
        add_tic(t, s, s->hi, "");
    }
}

void plot_color_title(const dxt_plot_opts *o, char *buf, size_t len)
{
    const char *unit = o->unit ? o->unit : "us";
    if (o->relative)
        snprintf(buf, len, "wait / typical wait of its kind (intra- or inter-node), log"
                 "   (values: %s)", unit);
    else
        snprintf(buf, len, "wait (%s%s)", unit, o->log_color ? ", log scale" : "");
}
