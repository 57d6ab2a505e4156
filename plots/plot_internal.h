/* plot_internal.h - what the files of plots/ share and nobody else uses: a
 * growing text buffer for gnuplot scripts with safe quoting, the gnuplot
 * runner, the palettes, color scales, views of a matrix (whole or a finding's
 * panel, aggregated into blocks), value formatting, error messages.
 * Owned by the plots engineer (plots/). */
#ifndef DXT_PLOT_INTERNAL_H
#define DXT_PLOT_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "plots.h"

/* A growing NUL-terminated buffer; after a failed allocation every later call
 * is a no-op and failed stays 1. */
typedef struct plot_buf {
    char *data;
    size_t len, cap;
    int failed;
} plot_buf;

void pb_free(plot_buf *b);
void pb_printf(plot_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as a gnuplot string expression: single-quoted pieces (no
 * backquote or macro substitution inside), each ' or " as sprintf('%c',39)
 * joined by '.', control characters (newlines included) replaced by a space.
 * NULL appends ''. Usable wherever gnuplot takes a string expression. */
void pb_quoted(plot_buf *b, const char *s);

/* 0 if path is usable in a gnuplot script (non-empty, no control characters),
 * else -1 with a message naming what (field) is wrong. */
int plot_check_path(const char *path, const char *field, char *err, size_t errlen);

/* Fill err with printf-style text (NULL or 0-length err allowed); returns rc. */
dxt_plot_rc plot_fail(dxt_plot_rc rc, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Run gnuplot (program from PATH, NULL: "gnuplot") on script, followed by
 * datalen bytes of data, then trailer (may be NULL). The script's picture
 * goes to gnuplot's stdout (a bare `set output`, never a file name): it is
 * written to a new file and put at out_path when gnuplot succeeded (never
 * through a link, never over a file that is not an earlier plot of ours).
 * DXT_PLOT_ENOGNUPLOT when the program is not there, DXT_PLOT_EGNUPLOT with
 * gnuplot's last error line when it fails, DXT_PLOT_EIO for the file. */
dxt_plot_rc plot_run_gnuplot(const char *program, const plot_buf *script, const void *data,
                             size_t datalen, const char *trailer, const char *out_path,
                             char *err, size_t errlen);

/* The palette's gnuplot definition ("(0 '#rrggbb', ...)") and its color at
 * t in [0,1] (clamped) as 0..255 RGB: the PNGs and the terminal agree. */
const char *plot_palette_gnuplot(dxt_palette p);
void plot_palette_rgb(dxt_palette p, double t, int rgb[3]);
/* 1 when black text reads on rgb, 0 for white. */
int plot_dark_text_on(const int rgb[3]);

/* Short value text: "12.3", "1.23k", "45.6M"; "" for NAN. */
void plot_format_value(double v, char *buf, size_t len);

/* How values become colors (color_range.c): a relative picture maps
 * wait / typical from 1 to DXT_PLOT_RELATIVE_MAX on a log scale; an absolute
 * one opts' cb_min..cb_max (or the values' min..max), linear or log. */
typedef struct plot_scale {
    double lo, hi;
    int log, relative;
} plot_scale;

#define PLOT_SCALE_MAX_TICS 12
typedef struct plot_tics {
    int count;
    double at[PLOT_SCALE_MAX_TICS];     /* positions 0..1 */
    char text[PLOT_SCALE_MAX_TICS][24];
} plot_tics;

/* The scale of opts for these values (count of them; NAN ignored). */
void plot_scale_for(const dxt_plot_opts *o, const double *v, const float *vf, size_t count,
                    plot_scale *s);
/* v's position 0..1 on the scale (clamped); NAN for NAN. */
double plot_scale_pos(const plot_scale *s, double v);
/* Labelled tics of the color bar. */
void plot_scale_tics(const plot_scale *s, plot_tics *t);
/* The color bar's title for opts (unit, scale, relative). */
void plot_color_title(const dxt_plot_opts *o, char *buf, size_t len);

/* relative[k] = v[k] / the median of the finite positive cells of its kind:
 * within a node (node_of[i] == node_of[j]) or across nodes (every cell
 * without topo). Non-finite or non-positive stays NAN. Returns a new array,
 * NULL when out of memory. */
double *plot_relative_values(const double *v, const float *vf, int n, const dxt_topology *topo);

/* What a picture shows along one side (heat_view.c): cell k covers ranks
 * start[k] .. start[k+1]-1. */
typedef struct heat_axis {
    int count;
    int *start;          /* count + 1 entries */
    int group;           /* ranks per cell (the last may hold fewer); 1: rank level */
    int nodes_per_cell;  /* > 0: each cell is that many whole nodes */
} heat_axis;

/* A matrix as the cells of a picture: a block of ranks shows the median of its
 * cells or, when higher, the median of a whole row or column of ranks through
 * it: a slow rank or node shows as a line, noise and spikes are averaged away. */
typedef struct heat_view {
    int n;
    heat_axis rows, cols;
    float *color;        /* rows.count x cols.count: color value (relative or unit); NAN none */
    float *value;        /* a single rank pair's wait, in the unit, for cell labels; else NAN */
} heat_view;

/* Size of the nodes of topo when they are contiguous and all of one size, else 0. */
int plot_uniform_node_size(int n, const dxt_topology *t);
/* Every rank, in at most max_cells cells (whole nodes per cell when possible). */
int heat_axis_whole(heat_axis *a, int n, const dxt_topology *t, int max_cells);
/* The ranks first..last, one per cell (grouped when more than max_cells). */
int heat_axis_range(heat_axis *a, int first, int last, int max_cells);
/* The cell holding rank r, or -1 when the axis does not show it. */
int heat_axis_cell(const heat_axis *a, int r);
/* The ranks first..last of a finding's subject widened to its node and one
 * node either side (or 8 ranks, without nodes), at most 3 nodes / 48 ranks. */
void heat_neighbourhood(int n, const dxt_topology *t, int first, int last, int *lo, int *hi);
/* The ranks of f's subject along columns (*cols 1) or rows; -1 when f names
 * no rank of this matrix. For a slow path: columns src, rows dst (both). */
int heat_finding_ranks(const dxt_finding *f, int n, const dxt_topology *t, int *c0, int *c1,
                       int *r0, int *r1);
/* Fill v->color / v->value from color (n x n, the color values) and wait. */
int heat_view_fill(heat_view *v, int n, const double *color, const double *wd, const float *wf);
void heat_view_free(heat_view *v);
/* 1 when cell (r, c) is a single rank paired with itself. */
int heat_view_is_self(const heat_view *v, int r, int c);

/* Does finding f belong on a picture of op (NULL op: every finding)? */
int plot_finding_matches(const dxt_finding *f, const char *op);

#endif
