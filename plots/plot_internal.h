/* plot_internal.h - what the files of plots/ share and nobody else uses: a
 * growing text buffer for gnuplot scripts with safe quoting, the gnuplot
 * runner, the color palette, value formatting, error messages.
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

/* The palette: green -> yellow -> red. t in [0,1] (clamped) to 0..255 RGB. */
#define PLOT_PALETTE_GNUPLOT "(0 '#1a9850', 0.5 '#fdd835', 1 '#d73027')"
void plot_palette_rgb(double t, int rgb[3]);

/* Short value text: "12.3", "1.23k", "45.6M"; "" for NAN. */
void plot_format_value(double v, char *buf, size_t len);

/* The color range of an n x n matrix (color_range.c): opts' cb_min..cb_max
 * if set; log: the finite positive min..max; else (returns 1) from the typical
 * wait (median across nodes: green) to the weakest finding's level (at least
 * 1.5 x typical: red), or to max(max, 2 x typical) without findings. lo < hi. */
int plot_color_range(const double *v, const float *vf, int n, const dxt_plot_opts *o,
                     double *lo, double *hi);

/* relative[k] = v[k] / the median of v over the block of nodes (node_of[i],
 * node_of[j]) holding cell k (the whole matrix without topo). Non-finite or
 * non-positive stays NAN. Returns a new array, NULL when out of memory. */
double *plot_relative_values(const double *v, const float *vf, int n, const dxt_topology *topo);

/* The color bar's title for opts (unit, scale, relative). */
void plot_color_title(const dxt_plot_opts *o, int from_median, char *buf, size_t len);

/* Does finding f belong on a picture of op (NULL op: every finding)? */
int plot_finding_matches(const dxt_finding *f, const char *op);

#endif
