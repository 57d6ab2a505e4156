/* heatmap.c - the heatmap PNG of one N x N wait matrix: layout in whole
 * pixels per cell, the gnuplot script (palette, axes, node boundaries,
 * finding outlines, per-cell values at small N) and the float32 image data.
 * Owned by the plots engineer (plots/). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot_internal.h"

#define HEATMAP_TARGET_PX 640   /* plot area side for small n */
#define HEATMAP_MAX_RANKS 8192  /* beyond: an image too large to be useful */
#define HEATMAP_LEFT 100
#define HEATMAP_RIGHT 170
#define HEATMAP_TOP 60
#define HEATMAP_BOTTOM 96
#define HEATMAP_LABEL_MIN_PX 30 /* per-cell values from this cell size */
#define HEATMAP_NODE_LINE_MIN_PX 16
#define HEATMAP_OUTLINE_PAD_PX 2.5 /* outline centre outside the cell edge */
#define HEATMAP_MAX_OUTLINES 64
#define HEATMAP_MAX_CELL_LABELS 1024
#define OUTLINE_COLOR "#0030d0"

int dxt_heatmap_layout_for(int n, dxt_heatmap_layout *out)
{
    if (n < 1 || n > HEATMAP_MAX_RANKS)
        return -1;
    int cell = (HEATMAP_TARGET_PX + n - 1) / n;
    if (cell < 1)
        cell = 1;
    memset(out, 0, sizeof(*out));
    out->cell_px = cell;
    out->area_size = cell * n + 2; /* the border gets a pixel of its own on each side */
    out->area_x = HEATMAP_LEFT;
    out->area_y = HEATMAP_TOP;
    out->width = HEATMAP_LEFT + out->area_size + HEATMAP_RIGHT;
    out->height = HEATMAP_TOP + out->area_size + HEATMAP_BOTTOM;
    out->cell_labels = cell >= HEATMAP_LABEL_MIN_PX && n * n <= HEATMAP_MAX_CELL_LABELS;
    return 0;
}

/* Screen fractions of a pixel position (gnuplot's screen y grows upwards). */
static double sx(const dxt_heatmap_layout *l, double px) { return px / l->width; }
static double sy(const dxt_heatmap_layout *l, double px) { return 1.0 - px / l->height; }

static int tic_step(int n)
{
    int step = 1;
    while (n / step > 16)
        step *= 2;
    return step;
}

/* Color bar tics of a log scale: 1-2-5 steps (1..9 when the range spans
 * less than that gives), labelled like the cells. */
static void script_log_tics(plot_buf *b, double lo, double hi)
{
    static const double steps_125[] = {1, 2, 5}, steps_19[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const double *steps = steps_125;
    size_t nsteps = 3;
    char text[32];
    for (int pass = 0; pass < 2; pass++) {
        int count = 0;
        for (double decade = pow(10, floor(log10(lo))); decade <= hi; decade *= 10)
            for (size_t k = 0; k < nsteps; k++)
                count += steps[k] * decade >= lo && steps[k] * decade <= hi;
        if (count >= 3)
            break;
        steps = steps_19;
        nsteps = 9;
    }
    pb_printf(b, "set cbtics (");
    int first = 1;
    for (double decade = pow(10, floor(log10(lo))); decade <= hi; decade *= 10)
        for (size_t k = 0; k < nsteps; k++) {
            double v = steps[k] * decade;
            if (v < lo || v > hi)
                continue;
            plot_format_value(v, text, sizeof(text));
            pb_printf(b, "%s'%s' %.17g", first ? "" : ", ", text, v);
            first = 0;
        }
    pb_printf(b, ")\n");
}

static void script_frame(plot_buf *b, int n, const dxt_heatmap_layout *l,
                         const dxt_plot_opts *o, double lo, double hi, int from_median)
{
    char text[512];
    pb_printf(b, "set terminal pngcairo size %d,%d noenhanced font 'sans,10'\nset output",
              l->width, l->height); /* stdout: a file plot_run_gnuplot created safely */
    snprintf(text, sizeof(text), "%s | run %s | steps %lld..%lld | %d ranks",
             o->op ? o->op : "all ops", o->run_id ? o->run_id : "?",
             (long long)o->first_step, (long long)o->last_step, n);
    pb_printf(b, "\nset title ");
    pb_quoted(b, text);
    pb_printf(b, " font ',12'\nset xlabel 'source rank j (waited for)'\n"
                 "set ylabel 'waiting rank i'\nset cblabel ");
    plot_color_title(o, from_median, text, sizeof(text));
    pb_quoted(b, text);
    pb_printf(b, "\nunset key\nset tics out nomirror\nset border lw 1\n"
                 "set palette defined %s\nset palette maxcolors 0\n", PLOT_PALETTE_GNUPLOT);
    pb_printf(b, "set lmargin at screen %.6f\nset rmargin at screen %.6f\n", sx(l, l->area_x),
              sx(l, l->area_x + l->area_size));
    pb_printf(b, "set tmargin at screen %.6f\nset bmargin at screen %.6f\n", sy(l, l->area_y),
              sy(l, l->area_y + l->area_size));
    pb_printf(b, "set colorbox user origin screen %.6f,%.6f size screen %.6f,%.6f\n",
              sx(l, l->area_x + l->area_size + 24), sy(l, l->area_y + l->area_size),
              22.0 / l->width, (double)l->area_size / l->height);
    double edge = 0.5 + 1.0 / l->cell_px;
    pb_printf(b, "set xrange [%.9f:%.9f]\nset yrange [%.9f:%.9f]\n", -edge, n - 1 + edge,
              n - 1 + edge, -edge);
    int step = tic_step(n);
    pb_printf(b, "set xtics 0,%d,%d\nset ytics 0,%d,%d\n", step, n - 1, step, n - 1);
    if (o->log_color) {
        pb_printf(b, "set logscale cb\n");
        script_log_tics(b, lo, hi);
    }
    pb_printf(b, "set cbrange [%.17g:%.17g]\n", lo, hi);
    pb_printf(b, "set object rectangle from graph 0,0 to graph 1,1 behind "
                 "fillcolor rgb '#bdbdbd' fillstyle solid noborder\n");
}

/* Thin lines between nodes, where a node block is wide enough to show. */
static void script_node_lines(plot_buf *b, int n, const dxt_heatmap_layout *l,
                              const dxt_topology *topo)
{
    if (!topo || topo->n != n || !topo->node_of || n < 2)
        return;
    int run = 1, shortest = n, boundaries = 0;
    for (int i = 1; i < n; i++) {
        if (topo->node_of[i] != topo->node_of[i - 1]) {
            shortest = run < shortest ? run : shortest;
            run = 0;
            boundaries++;
        }
        run++;
    }
    shortest = run < shortest ? run : shortest;
    if (boundaries == 0 || shortest * l->cell_px < HEATMAP_NODE_LINE_MIN_PX)
        return;
    for (int i = 1; i < n; i++) {
        if (topo->node_of[i] == topo->node_of[i - 1])
            continue;
        pb_printf(b, "set arrow from %d.5,-0.5 to %d.5,%d.5 nohead front lc rgb '#50202020' lw 1\n",
                  i - 1, i - 1, n - 1);
        pb_printf(b, "set arrow from -0.5,%d.5 to %d.5,%d.5 nohead front lc rgb '#50202020' lw 1\n",
                  i - 1, n - 1, i - 1);
    }
}

/* One outline around ranks c0..c1 (columns) x r0..r1 (rows), just outside. */
static void outline(plot_buf *b, const dxt_heatmap_layout *l, int c0, int c1, int r0, int r1,
                    int dashed)
{
    double pad = HEATMAP_OUTLINE_PAD_PX / l->cell_px;
    pb_printf(b, "set object rectangle from %.6f,%.6f to %.6f,%.6f front noclip "
                 "fillstyle empty border lc rgb '%s' lw 2 dt %d\n",
              c0 - 0.5 - pad, r0 - 0.5 - pad, c1 + 0.5 + pad, r1 + 0.5 + pad, OUTLINE_COLOR,
              dashed ? 2 : 1);
}

/* Outlines of a slow node: one block when its ranks are contiguous, else one
 * line per rank. Returns the number of outlines drawn. */
static int outline_node(plot_buf *b, int n, const dxt_heatmap_layout *l, const dxt_topology *t,
                        const dxt_finding *f, int budget)
{
    if (!t || t->n != n || !t->node_of)
        return 0;
    int first = -1, last = -1, count = 0, drawn = 0;
    for (int i = 0; i < n; i++) {
        if (t->node_of[i] != f->node)
            continue;
        first = first < 0 ? i : first;
        last = i;
        count++;
    }
    if (count == 0)
        return 0;
    if (last - first + 1 == count) {
        if (f->as_source)
            outline(b, l, first, last, 0, n - 1, 0);
        else
            outline(b, l, 0, n - 1, first, last, 0);
        return 1;
    }
    for (int i = first; i <= last && drawn < budget; i++) {
        if (t->node_of[i] != f->node)
            continue;
        if (f->as_source)
            outline(b, l, i, i, 0, n - 1, 0);
        else
            outline(b, l, 0, n - 1, i, i, 0);
        drawn++;
    }
    return drawn;
}

static int rank_ok(int r, int n) { return r >= 0 && r < n; }

/* The outlines of one finding; returns how many were drawn (0: nothing to
 * outline, e.g. a rank out of range). */
static int outline_finding(plot_buf *b, int n, const dxt_heatmap_layout *l,
                           const dxt_topology *topo, const dxt_finding *f, int budget)
{
    switch (f->kind) {
    case DXT_SLOW_SOURCE:
    case DXT_LOAD_IMBALANCE:
        if (!rank_ok(f->rank, n))
            return 0;
        outline(b, l, f->rank, f->rank, 0, n - 1, f->kind == DXT_LOAD_IMBALANCE);
        return 1;
    case DXT_SLOW_DESTINATION:
        if (!rank_ok(f->rank, n))
            return 0;
        outline(b, l, 0, n - 1, f->rank, f->rank, 0);
        return 1;
    case DXT_SLOW_PATH:
        if (!rank_ok(f->src, n) || !rank_ok(f->dst, n))
            return 0;
        outline(b, l, f->src, f->src, f->dst, f->dst, 0);
        return 1;
    case DXT_SLOW_NODE:
        return outline_node(b, n, l, topo, f, budget);
    default:
        return 0;
    }
}

/* Outlines for the findings of o->op, and a footnote listing them. */
static void script_findings(plot_buf *b, int n, const dxt_heatmap_layout *l,
                            const dxt_plot_opts *o)
{
    char note[600] = "outlined: ", label[160];
    int drawn = 0, listed = 0, unlisted = 0;
    for (int k = 0; k < o->nfindings && o->findings && drawn < HEATMAP_MAX_OUTLINES; k++) {
        const dxt_finding *f = &o->findings[k];
        int before = drawn;
        if (!plot_finding_matches(f, o->op))
            continue;
        drawn += outline_finding(b, n, l, o->topo, f, HEATMAP_MAX_OUTLINES - drawn);
        if (drawn == before)
            continue;
        dxt_finding_label(f, o->topo, label, sizeof(label));
        if (listed < 3 && strlen(note) + strlen(label) + 3 < sizeof(note)) {
            strcat(note, listed ? "; " : "");
            strcat(note, label);
            listed++;
        } else {
            unlisted++;
        }
    }
    if (listed == 0)
        return;
    size_t used = strlen(note);
    if (unlisted > 0)
        snprintf(note + used, sizeof(note) - used, "; +%d more", unlisted);
    pb_printf(b, "set label ");
    pb_quoted(b, note);
    pb_printf(b, " at screen %.6f,%.6f left textcolor rgb '%s'\n", sx(l, l->area_x),
              sy(l, l->height - 14), OUTLINE_COLOR);
}

static void script_cell_labels(plot_buf *b, int n, const dxt_heatmap_layout *l,
                               const float *values)
{
    char text[32];
    if (!l->cell_labels)
        return;
    int font = l->cell_px >= 60 ? 10 : 8;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            plot_format_value(values[(size_t)i * n + j], text, sizeof(text));
            if (!text[0])
                continue;
            pb_printf(b, "set label '%s' at %d,%d center front textcolor rgb '#202020' "
                         "font ',%d'\n", text, j, i, font);
        }
    }
}

/* The float32 image: non-finite (and, for log color, non-positive) -> NAN. */
static float *image_values(int n, const double *wd, const float *wf, int log_color)
{
    size_t count = (size_t)n * (size_t)n;
    float *img = malloc(count * sizeof(*img));
    if (!img)
        return NULL;
    for (size_t k = 0; k < count; k++) {
        double v = wd ? wd[k] : (double)wf[k];
        if (!isfinite(v) || (log_color && v <= 0))
            img[k] = NAN;
        else
            img[k] = (float)(v > FLT_MAX ? FLT_MAX : v < -FLT_MAX ? -FLT_MAX : v);
    }
    return img;
}

/* The colors of a relative heatmap (plot_relative_values) as float32. */
static float *relative_image(int n, const float *img, const dxt_plot_opts *opts)
{
    double *rel = plot_relative_values(NULL, img, n, opts->topo);
    size_t count = (size_t)n * (size_t)n;
    float *out = rel ? malloc(count * sizeof(*out)) : NULL;
    for (size_t k = 0; out && k < count; k++)
        out[k] = (float)rel[k];
    free(rel);
    return out;
}

static dxt_plot_rc heatmap(const char *png_path, int n, const double *wd, const float *wf,
                           const dxt_plot_opts *opts, char *err, size_t errlen)
{
    dxt_plot_rc rc = DXT_PLOT_OK;
    plot_buf script = {0};
    float *img = NULL, *color = NULL;
    dxt_heatmap_layout layout;
    dxt_plot_opts defaults;
    double lo, hi;
    if (!opts) {
        dxt_plot_opts_init(&defaults);
        opts = &defaults;
    }
    if ((!wd && !wf) || dxt_heatmap_layout_for(n, &layout) != 0)
        return plot_fail(DXT_PLOT_EINVAL, err, errlen,
                         "heatmap: need a matrix of 1..%d ranks (got %d%s)", HEATMAP_MAX_RANKS, n,
                         (!wd && !wf) ? ", no data" : "");
    if (plot_check_path(png_path, "heatmap output", err, errlen) != 0)
        return DXT_PLOT_EINVAL;
    img = image_values(n, wd, wf, opts->log_color);
    if (!img) {
        rc = plot_fail(DXT_PLOT_ENOMEM, err, errlen, "heatmap: out of memory for %d x %d", n, n);
        goto fail;
    }
    if (opts->relative && !(color = relative_image(n, img, opts))) {
        rc = plot_fail(DXT_PLOT_ENOMEM, err, errlen, "heatmap: out of memory for %d x %d", n, n);
        goto fail;
    }
    const float *shown = color ? color : img;
    int from_median = plot_color_range(NULL, shown, n, opts, &lo, &hi);
    script_frame(&script, n, &layout, opts, lo, hi, from_median);
    script_node_lines(&script, n, &layout, opts->topo);
    script_findings(&script, n, &layout, opts);
    script_cell_labels(&script, n, &layout, img);
    pb_printf(&script, "plot '-' binary array=(%d,%d) format='%%float' with image\n", n, n);
    rc = plot_run_gnuplot(opts->gnuplot, &script, shown, (size_t)n * n * sizeof(float),
                          "\nunset output\nquit\n", png_path, err, errlen);
fail:
    free(img);
    free(color);
    pb_free(&script);
    return rc;
}

dxt_plot_rc dxt_plot_heatmap(const char *png_path, int n, const double *wait,
                             const dxt_plot_opts *opts, char *err, size_t errlen)
{
    return heatmap(png_path, n, wait, NULL, opts, err, errlen);
}

dxt_plot_rc dxt_plot_heatmap_f32(const char *png_path, int n, const float *wait,
                                 const dxt_plot_opts *opts, char *err, size_t errlen)
{
    return heatmap(png_path, n, NULL, wait, opts, err, errlen);
}
