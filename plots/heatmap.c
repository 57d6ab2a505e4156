/* heatmap.c - the heatmap PNG of one N x N wait matrix, or the panel of one
 * finding: the view (heat_view.c: rank pairs, or blocks of whole nodes showing
 * their median or a slower whole row or column of ranks when cells would get
 * small), its layout in
 * whole pixels per cell, and the gnuplot script: palette with a labelled color bar (one
 * scale for every picture, color_range.c), axes, node boundaries, the diagonal
 * as "self" in gray and missing values hatched (with a legend), finding
 * outlines, per-cell values at small N, then the cells as float32 image data
 * (each cell's position 0..1 on the scale).
 * Owned by the plots engineer (plots/). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot_internal.h"

#define HEATMAP_AREA_PX 720     /* plot area side, at most */
#define HEATMAP_MAX_CELL_PX 60
#define HEATMAP_MAX_RANKS 8192  /* beyond: n x n matrices too large to hold twice */
#define HEATMAP_LEFT 100
#define HEATMAP_RIGHT 250
#define HEATMAP_TOP 76
#define HEATMAP_BOTTOM 120
#define HEATMAP_MIN_AREA_H 300  /* room for the color bar and the legend */
#define HEATMAP_LABEL_MIN_W 30  /* per-cell values from this cell size */
#define HEATMAP_LABEL_MIN_H 18
#define HEATMAP_NODE_LINE_MIN_PX 12
#define HEATMAP_OUTLINE_PAD_PX 2.5 /* outline centre outside the cell edge */
#define HEATMAP_MAX_OUTLINES 64
#define HEATMAP_MAX_CELL_LABELS 1024
#define OUTLINE_COLOR "#0030d0"
#define SELF_COLOR "#9a9a9a"
#define MISSING_COLOR "#6e6e6e"

static int cell_px_for(int count)
{
    int cell = HEATMAP_AREA_PX / (count > 0 ? count : 1);
    return cell < 1 ? 1 : cell > HEATMAP_MAX_CELL_PX ? HEATMAP_MAX_CELL_PX : cell;
}

static void layout_of(const heat_view *v, dxt_heatmap_layout *l)
{
    memset(l, 0, sizeof *l);
    l->rows = v->rows.count;
    l->cols = v->cols.count;
    l->cell_w = cell_px_for(l->cols);
    l->cell_h = cell_px_for(l->rows);
    if (l->rows == l->cols) /* square cells for a square matrix */
        l->cell_w = l->cell_h = l->cell_w < l->cell_h ? l->cell_w : l->cell_h;
    l->group = v->cols.group;
    l->area_w = l->cell_w * l->cols + 2; /* the border gets a pixel of its own on each side */
    l->area_h = l->cell_h * l->rows + 2;
    l->area_x = HEATMAP_LEFT;
    l->area_y = HEATMAP_TOP;
    l->width = HEATMAP_LEFT + l->area_w + HEATMAP_RIGHT;
    l->height = HEATMAP_TOP + (l->area_h > HEATMAP_MIN_AREA_H ? l->area_h : HEATMAP_MIN_AREA_H) +
                HEATMAP_BOTTOM;
    l->cell_labels = v->rows.group == 1 && v->cols.group == 1 && l->cell_w >= HEATMAP_LABEL_MIN_W &&
                     l->cell_h >= HEATMAP_LABEL_MIN_H &&
                     (size_t)l->rows * l->cols <= HEATMAP_MAX_CELL_LABELS;
}

/* The axes of the overview (zoom NULL) or of a finding's panel. */
static int view_axes(heat_view *v, int n, const dxt_topology *t, const dxt_finding *zoom)
{
    int max_cells = HEATMAP_AREA_PX / DXT_HEATMAP_MIN_CELL_PX, c0, c1, r0, r1, lo, hi;
    memset(v, 0, sizeof *v);
    v->n = n;
    if (!zoom || heat_finding_ranks(zoom, n, t, &c0, &c1, &r0, &r1) != 0)
        return heat_axis_whole(&v->rows, n, t, max_cells) | heat_axis_whole(&v->cols, n, t, max_cells);
    int rc = 0;
    if (c0 == 0 && c1 == n - 1) {
        rc |= heat_axis_whole(&v->cols, n, t, max_cells);
    } else {
        heat_neighbourhood(n, t, c0, c1, &lo, &hi);
        rc |= heat_axis_range(&v->cols, lo, hi, max_cells);
    }
    if (r0 == 0 && r1 == n - 1) {
        rc |= heat_axis_whole(&v->rows, n, t, max_cells);
    } else {
        heat_neighbourhood(n, t, r0, r1, &lo, &hi);
        rc |= heat_axis_range(&v->rows, lo, hi, max_cells);
    }
    return rc;
}

int dxt_heatmap_layout_for(int n, const dxt_topology *topo, dxt_heatmap_layout *out)
{
    heat_view v;
    if (n < 1 || n > HEATMAP_MAX_RANKS)
        return -1;
    int rc = view_axes(&v, n, topo, NULL);
    if (rc == 0)
        layout_of(&v, out);
    heat_view_free(&v);
    return rc == 0 ? 0 : -1;
}

/* Screen fractions of a pixel position (gnuplot's screen y grows upwards). */
static double sx(const dxt_heatmap_layout *l, double px) { return px / l->width; }
static double sy(const dxt_heatmap_layout *l, double px) { return 1.0 - px / l->height; }

/* "source rank j (waited for)", or what a cell holds when it is a block. */
static void axis_title(const heat_axis *a, const char *what, char *buf, size_t len)
{
    if (a->group == 1)
        snprintf(buf, len, "%s", what);
    else if (a->nodes_per_cell > 0)
        snprintf(buf, len, "%s, by node: %d node%s (%d ranks) per cell", what,
                 a->nodes_per_cell, a->nodes_per_cell == 1 ? "" : "s", a->group);
    else
        snprintf(buf, len, "%s, %d ranks per cell", what, a->group);
}

/* Tics at cell positions, labelled with the cell's first rank, at least
 * min_px apart. */
static void script_axis_tics(plot_buf *b, const char *axis, const heat_axis *a, int cell_px,
                             int min_px)
{
    int step = 1;
    while (step * cell_px < min_px || a->count / step > 24)
        step *= 2;
    pb_printf(b, "set %stics (", axis);
    for (int k = 0; k < a->count; k += step)
        pb_printf(b, "%s'%d' %d", k ? ", " : "", a->start[k], k);
    pb_printf(b, ")\n");
}

static void script_scale(plot_buf *b, const dxt_heatmap_layout *l, const dxt_plot_opts *o,
                         const plot_scale *s)
{
    char text[512];
    plot_tics tics;
    plot_scale_tics(s, &tics);
    pb_printf(b, "set palette defined %s\nset palette maxcolors 0\nset cbrange [0:1]\n"
                 "set cbtics (", plot_palette_gnuplot(o->palette));
    for (int k = 0; k < tics.count; k++)
        pb_printf(b, "%s'%s' %.9f", k ? ", " : "", tics.text[k], tics.at[k]);
    pb_printf(b, ")\nset cblabel ");
    plot_color_title(o, text, sizeof text);
    pb_quoted(b, text);
    int bar_h = l->area_h > HEATMAP_MIN_AREA_H ? l->area_h : HEATMAP_MIN_AREA_H;
    bar_h -= 70; /* the legend below */
    pb_printf(b, "\nset colorbox user origin screen %.6f,%.6f size screen %.6f,%.6f\n",
              sx(l, l->area_x + l->area_w + 24), sy(l, l->area_y + bar_h), 22.0 / l->width,
              (double)bar_h / l->height);
}

/* The legend of the non-data colors: self and no data, below the color bar. */
static void script_legend(plot_buf *b, const dxt_heatmap_layout *l)
{
    int bar_h = (l->area_h > HEATMAP_MIN_AREA_H ? l->area_h : HEATMAP_MIN_AREA_H) - 70;
    double x0 = l->area_x + l->area_w + 24, y0 = l->area_y + bar_h + 30;
    static const char *const names[] = {"self (i = j)", "no data"};
    for (int k = 0; k < 2; k++) {
        double y = y0 + 22 * k;
        pb_printf(b, "set object rectangle from screen %.6f,%.6f to screen %.6f,%.6f front "
                     "fillcolor rgb '%s' fillstyle %s border lc rgb '#000000'\n",
                  sx(l, x0), sy(l, y + 14), sx(l, x0 + 22), sy(l, y),
                  k == 0 ? SELF_COLOR : MISSING_COLOR, k == 0 ? "solid" : "pattern 4");
        pb_printf(b, "set label '%s' at screen %.6f,%.6f left\n", names[k], sx(l, x0 + 30),
                  sy(l, y + 10));
    }
}

static void script_frame(plot_buf *b, const heat_view *v,
                         const dxt_heatmap_layout *l, const dxt_plot_opts *o, const char *line2)
{
    char text[512];
    pb_printf(b, "set terminal pngcairo size %d,%d noenhanced font 'sans,10'\nset output",
              l->width, l->height); /* stdout: a file plot_run_gnuplot created safely */
    snprintf(text, sizeof(text), "%s | run %s | steps %lld..%lld | %d ranks",
             o->op ? o->op : "all ops", o->run_id ? o->run_id : "?",
             (long long)o->first_step, (long long)o->last_step, v->n);
    pb_printf(b, "\nset label ");
    pb_quoted(b, text);
    pb_printf(b, " at screen 0.5,%.6f center font ',12'\nset label ", sy(l, 22));
    pb_quoted(b, line2);
    pb_printf(b, " at screen 0.5,%.6f center\nset xlabel ", sy(l, 44));
    axis_title(&v->cols, "source rank j (waited for)", text, sizeof text);
    pb_quoted(b, text);
    pb_printf(b, "\nset ylabel ");
    axis_title(&v->rows, "waiting rank i", text, sizeof text);
    pb_quoted(b, text);
    pb_printf(b, "\nunset key\nset tics out nomirror\nset border lw 1\n");
    pb_printf(b, "set lmargin at screen %.6f\nset rmargin at screen %.6f\n", sx(l, l->area_x),
              sx(l, l->area_x + l->area_w));
    pb_printf(b, "set tmargin at screen %.6f\nset bmargin at screen %.6f\n", sy(l, l->area_y),
              sy(l, l->area_y + l->area_h));
    double ex = 0.5 + 1.0 / l->cell_w, ey = 0.5 + 1.0 / l->cell_h;
    pb_printf(b, "set xrange [%.9f:%.9f]\nset yrange [%.9f:%.9f]\n", -ex, l->cols - 1 + ex,
              l->rows - 1 + ey, -ey);
    script_axis_tics(b, "x", &v->cols, l->cell_w, 40);
    script_axis_tics(b, "y", &v->rows, l->cell_h, 16);
    pb_printf(b, "set object rectangle from graph 0,0 to graph 1,1 behind fillcolor rgb '%s' "
                 "fillstyle pattern 4 noborder\n", MISSING_COLOR);
}

/* Thin lines between nodes along one axis, where they are far enough apart. */
static void script_node_lines(plot_buf *b, const heat_axis *a, int other_count, int cell_px,
                              const dxt_topology *t, int vertical)
{
    if (!t || !t->node_of || a->count < 2)
        return;
    int last = -1, shortest = a->count;
    for (int k = 1; k < a->count; k++)
        if (t->node_of[a->start[k] - 1] != t->node_of[a->start[k]]) {
            if (last >= 0 && k - last < shortest)
                shortest = k - last;
            last = k;
        }
    if (last < 0 || shortest * cell_px < HEATMAP_NODE_LINE_MIN_PX)
        return;
    for (int k = 1; k < a->count; k++) {
        if (t->node_of[a->start[k] - 1] == t->node_of[a->start[k]])
            continue;
        if (vertical)
            pb_printf(b, "set arrow from %d.5,-0.5 to %d.5,%d.5 nohead front lc rgb '#40303030' lw 1\n",
                      k - 1, k - 1, other_count - 1);
        else
            pb_printf(b, "set arrow from -0.5,%d.5 to %d.5,%d.5 nohead front lc rgb '#40303030' lw 1\n",
                      k - 1, other_count - 1, k - 1);
    }
}

static void script_self(plot_buf *b, const heat_view *v)
{
    for (int r = 0; r < v->rows.count; r++) {
        int c = heat_axis_cell(&v->cols, v->rows.start[r]);
        if (c >= 0 && heat_view_is_self(v, r, c))
            pb_printf(b, "set object rectangle from %.1f,%.1f to %.1f,%.1f front fillcolor rgb "
                         "'%s' fillstyle solid noborder\n", c - 0.5, r - 0.5, c + 0.5, r + 0.5,
                      SELF_COLOR);
    }
}

/* The cells of ranks first..last along a, clipped to it; -1 when none shown. */
static int cell_span(const heat_axis *a, int first, int last, int *k0, int *k1)
{
    int lo = first > a->start[0] ? first : a->start[0];
    int hi = last < a->start[a->count] - 1 ? last : a->start[a->count] - 1;
    if (lo > hi)
        return -1;
    *k0 = heat_axis_cell(a, lo);
    *k1 = heat_axis_cell(a, hi);
    return 0;
}

/* The outline of one finding; 1 drawn, 0 not in this view. */
static int outline_finding(plot_buf *b, const heat_view *v, const dxt_heatmap_layout *l,
                           const dxt_topology *t, const dxt_finding *f)
{
    int c0, c1, r0, r1, x0, x1, y0, y1;
    if (heat_finding_ranks(f, v->n, t, &c0, &c1, &r0, &r1) != 0 ||
        cell_span(&v->cols, c0, c1, &x0, &x1) != 0 || cell_span(&v->rows, r0, r1, &y0, &y1) != 0)
        return 0;
    double px = HEATMAP_OUTLINE_PAD_PX / l->cell_w, py = HEATMAP_OUTLINE_PAD_PX / l->cell_h;
    pb_printf(b, "set object rectangle from %.6f,%.6f to %.6f,%.6f front noclip "
                 "fillstyle empty border lc rgb '%s' lw 2 dt %d\n",
              x0 - 0.5 - px, y0 - 0.5 - py, x1 + 0.5 + px, y1 + 0.5 + py, OUTLINE_COLOR,
              f->kind == DXT_LOAD_IMBALANCE ? 2 : 1);
    return 1;
}

/* Outlines for the findings of o->op (o->zoom's only, on its panel), and a
 * footnote listing them. */
static void script_findings(plot_buf *b, const heat_view *v, const dxt_heatmap_layout *l,
                            const dxt_plot_opts *o)
{
    char note[600] = "outlined: ", label[160];
    int drawn = 0, listed = 0, unlisted = 0;
    const dxt_finding *list = o->zoom ? o->zoom : o->findings;
    int count = o->zoom ? 1 : o->nfindings;
    for (int k = 0; list && k < count && drawn < HEATMAP_MAX_OUTLINES; k++) {
        const dxt_finding *f = &list[k];
        if (!plot_finding_matches(f, o->op) || !outline_finding(b, v, l, o->topo, f))
            continue;
        drawn++;
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

static void script_cell_labels(plot_buf *b, const heat_view *v, const dxt_heatmap_layout *l,
                               const float *pos, dxt_palette palette)
{
    char text[32];
    int rgb[3];
    if (!l->cell_labels)
        return;
    int font = l->cell_w >= 60 && l->cell_h >= 30 ? 10 : 8;
    for (int r = 0; r < v->rows.count; r++)
        for (int c = 0; c < v->cols.count; c++) {
            size_t k = (size_t)r * v->cols.count + c;
            plot_format_value(v->value[k], text, sizeof(text));
            if (!text[0] || isnan(pos[k]))
                continue;
            plot_palette_rgb(palette, pos[k], rgb);
            pb_printf(b, "set label '%s' at %d,%d center front textcolor rgb '%s' font ',%d'\n",
                      text, c, r, plot_dark_text_on(rgb) ? "#202020" : "#ffffff", font);
        }
}

/* What the picture shows, under the title. */
static void view_caption(const heat_view *v, const dxt_plot_opts *o, char *buf, size_t len)
{
    char label[160];
    if (o->zoom) {
        dxt_finding_label(o->zoom, o->topo, label, sizeof label);
        snprintf(buf, len, "%s: ranks %d-%d (columns) x %d-%d (rows)%s", label,
                 v->cols.start[0], v->cols.start[v->cols.count] - 1, v->rows.start[0],
                 v->rows.start[v->rows.count] - 1,
                 v->rows.group > 1 || v->cols.group > 1
                     ? "; a block: its median or a slower whole line" : "");
    } else if (v->rows.group > 1) {
        snprintf(buf, len, "overview: a cell is %d x %d ranks%s, colored by its median or a "
                 "slower whole row or column", v->rows.group, v->cols.group,
                 v->rows.nodes_per_cell == 1 ? " (a node pair)" : "");
    } else {
        snprintf(buf, len, "each cell: one rank pair");
    }
}

/* The color values of the matrix (relative or the wait) as a new array. */
static double *color_values(int n, const double *wd, const float *wf, const dxt_plot_opts *o)
{
    size_t count = (size_t)n * n;
    if (o->relative)
        return plot_relative_values(wd, wf, n, o->topo);
    double *out = malloc(count * sizeof *out);
    for (size_t k = 0; out && k < count; k++)
        out[k] = wd ? wd[k] : (double)wf[k];
    return out;
}

/* The image: each cell's position on the scale, NAN (transparent) for none. */
static float *image_of(const heat_view *v, const plot_scale *s)
{
    size_t count = (size_t)v->rows.count * v->cols.count;
    float *img = malloc(count * sizeof *img);
    for (size_t k = 0; img && k < count; k++) {
        double x = v->color[k];
        img[k] = isfinite(x) ? (float)plot_scale_pos(s, x) : NAN;
    }
    return img;
}

static dxt_plot_rc heatmap(const char *png_path, int n, const double *wd, const float *wf,
                           const dxt_plot_opts *opts, char *err, size_t errlen)
{
    dxt_plot_rc rc = DXT_PLOT_OK;
    plot_buf script = {0};
    float *img = NULL;
    double *colors = NULL;
    heat_view v;
    dxt_heatmap_layout layout;
    dxt_plot_opts defaults;
    plot_scale scale;
    char caption[400];
    memset(&v, 0, sizeof v);
    if (!opts) {
        dxt_plot_opts_init(&defaults);
        opts = &defaults;
    }
    if ((!wd && !wf) || n < 1 || n > HEATMAP_MAX_RANKS)
        return plot_fail(DXT_PLOT_EINVAL, err, errlen,
                         "heatmap: need a matrix of 1..%d ranks (got %d%s)", HEATMAP_MAX_RANKS, n,
                         (!wd && !wf) ? ", no data" : "");
    if (plot_check_path(png_path, "heatmap output", err, errlen) != 0)
        return DXT_PLOT_EINVAL;
    colors = color_values(n, wd, wf, opts);
    if (!colors || view_axes(&v, n, opts->topo, opts->zoom) != 0 ||
        heat_view_fill(&v, n, colors, wd, wf) != 0) {
        rc = plot_fail(DXT_PLOT_ENOMEM, err, errlen, "heatmap: out of memory for %d x %d", n, n);
        goto fail;
    }
    layout_of(&v, &layout);
    plot_scale_for(opts, NULL, v.color, (size_t)v.rows.count * v.cols.count, &scale);
    if (!(img = image_of(&v, &scale))) {
        rc = plot_fail(DXT_PLOT_ENOMEM, err, errlen, "heatmap: out of memory for %d x %d", n, n);
        goto fail;
    }
    view_caption(&v, opts, caption, sizeof caption);
    script_frame(&script, &v, &layout, opts, caption);
    script_scale(&script, &layout, opts, &scale);
    script_legend(&script, &layout);
    script_node_lines(&script, &v.cols, v.rows.count, layout.cell_w, opts->topo, 1);
    script_node_lines(&script, &v.rows, v.cols.count, layout.cell_h, opts->topo, 0);
    script_self(&script, &v);
    script_findings(&script, &v, &layout, opts);
    script_cell_labels(&script, &v, &layout, img, opts->palette);
    pb_printf(&script, "plot '-' binary array=(%d,%d) format='%%float' with image\n", v.cols.count,
              v.rows.count);
    rc = plot_run_gnuplot(opts->gnuplot, &script, img,
                          (size_t)v.rows.count * v.cols.count * sizeof(float),
                          "\nunset output\nquit\n", png_path, err, errlen);
fail:
    free(img);
    free(colors);
    heat_view_free(&v);
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
