/* plots.h - pictures of dxt-analyze's wait matrices: heatmap and timeline PNGs
 * drawn by gnuplot (Debian gnuplot-nox, terminal pngcairo), and a heatmap in
 * the terminal with ANSI colors. Owned by the plots engineer (plots/).
 *
 * gnuplot runs as a child process (posix_spawnp, argv, no shell); the script
 * goes through a socket pair, the matrix as float32 binary
 * (plot '-' binary array=(N,N) format='%float' with image): no temporary
 * files. Titles and labels become gnuplot string expressions of
 * single-quoted pieces (quote characters as sprintf('%c',39)), control
 * characters replaced; paths with control characters are refused: no input
 * can inject gnuplot commands.
 *
 * Nothing here prints: every function returns a dxt_plot_rc and, on failure,
 * a message in err that says what is wrong (for a missing gnuplot:
 * "gnuplot not found: install gnuplot-nox"). A caller prints it once and goes
 * on with the text/JSON analysis. */
#ifndef DXT_PLOTS_H
#define DXT_PLOTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "classify.h"

#define DXT_PLOT_RESULTS(X)                                                    \
    X(DXT_PLOT_OK, "ok")                                                       \
    X(DXT_PLOT_EINVAL, "invalid argument")                                     \
    X(DXT_PLOT_ENOMEM, "out of memory")                                        \
    X(DXT_PLOT_ENOGNUPLOT, "gnuplot not found")                                \
    X(DXT_PLOT_EGNUPLOT, "gnuplot failed")                                     \
    X(DXT_PLOT_EIO, "input/output error")

typedef enum {
#define DXT_PLOT_RC_ENUM(id, str) id,
    DXT_PLOT_RESULTS(DXT_PLOT_RC_ENUM)
#undef DXT_PLOT_RC_ENUM
    DXT_PLOT_RC_COUNT
} dxt_plot_rc;

const char *dxt_plot_rc_str(dxt_plot_rc rc);

#define DXT_PLOT_COLOR_MODES(X)                                                \
    X(DXT_COLOR_AUTO, "auto")          /* truecolor if $COLORTERM says so */   \
    X(DXT_COLOR_256, "256")            /* xterm 256-color cube */              \
    X(DXT_COLOR_TRUECOLOR, "truecolor")

typedef enum {
#define DXT_COLOR_ENUM(id, str) id,
    DXT_PLOT_COLOR_MODES(DXT_COLOR_ENUM)
#undef DXT_COLOR_ENUM
    DXT_COLOR_MODE_COUNT
} dxt_color_mode;

/* What to draw around one N x N matrix; used by dxt_plot_heatmap and
 * dxt_show_heatmap. Every pointer may be NULL. Strings are copied into the
 * script (quoted), never interpreted. */
typedef struct dxt_plot_opts {
    const char *run_id;
    const char *op;
    int64_t first_step, last_step;  /* the matrix's step range (title) */
    const char *unit;               /* "us" or "cycles"; NULL: "us" */
    int log_color;                  /* 1: logarithmic color scale */
    int relative;                   /* 1: color by wait / typical wait of the cell's node
                                     * pair (the level follows the topology: a 10x intra-node
                                     * cell stands out like a 10x inter-node one); cell values
                                     * stay in the unit */
    double cb_min, cb_max;          /* color range; both 0: the matrix's min..max */
    const dxt_topology *topo;       /* node boundaries; NULL: none drawn */
    const dxt_finding *findings;    /* outlined; findings of other ops are skipped */
    int nfindings;
    const char *gnuplot;            /* program; NULL: "gnuplot" from PATH */
    int term_width;                 /* dxt_show_heatmap: columns; 0: detect */
    dxt_color_mode color_mode;      /* dxt_show_heatmap */
} dxt_plot_opts;

void dxt_plot_opts_init(dxt_plot_opts *opts); /* zeroes; unit "us" */

/* Where a heatmap of n ranks puts things, in pixels (top-left origin):
 * the image size and the plot area (its border on its outermost pixels), cell
 * (i, j) covering x in [area_x + 1 + j*cell_px, +cell_px),
 * y in [area_y + 1 + i*cell_px, +cell_px). Cells are whole pixels, at least 1,
 * so the picture is >= n pixels wide and no border hides a row. */
typedef struct dxt_heatmap_layout {
    int width, height;
    int area_x, area_y, area_size;
    int cell_px;
    int cell_labels;   /* 1: values printed in the cells (small n) */
} dxt_heatmap_layout;

int dxt_heatmap_layout_for(int n, dxt_heatmap_layout *out); /* 0, or -1 for bad n */

#define DXT_PLOT_MAX_RANKS 65536

/* Write a heatmap PNG of wait (n x n, row-major, wait[i*n+j] = wait of rank i
 * for rank j; NAN = missing, drawn gray) to png_path. x: source rank j (waited
 * for), y: waiting rank i (rank 0 at the top); green -> yellow -> red; node
 * boundaries and the findings of opts->op outlined. wait_f32 variant: the same
 * from float32 (what the analyzer may already hold). */
dxt_plot_rc dxt_plot_heatmap(const char *png_path, int n, const double *wait,
                             const dxt_plot_opts *opts, char *err, size_t errlen);
dxt_plot_rc dxt_plot_heatmap_f32(const char *png_path, int n, const float *wait,
                                 const dxt_plot_opts *opts, char *err, size_t errlen);

/* One line of the timeline: a flagged subject's wait per window (its mean)
 * against the median of its peers; dxt_tracker_series gives the arrays. */
typedef struct dxt_timeline_series {
    const char *label;          /* e.g. from dxt_finding_label */
    int nwin;
    const int64_t *first_steps; /* nwin, increasing */
    const double *subject;      /* nwin; NAN = no value */
    const double *peers;        /* nwin; NAN = no value */
    int64_t onset_step;         /* marked with a vertical line; INT64_MIN: none */
} dxt_timeline_series;

#define DXT_TIMELINE_MAX_PANELS 8

/* Write a timeline PNG for one op: one panel per series (the first
 * DXT_TIMELINE_MAX_PANELS, the title says how many more), subject in red,
 * peers' median in dashed green, onset as a vertical line. nseries 0 draws one
 * panel of overall (NULL: nothing) with "no findings" - a healthy run is flat.
 * Uses run_id, op, unit and gnuplot of opts. */
dxt_plot_rc dxt_plot_timeline(const char *png_path, const dxt_timeline_series *series,
                              int nseries, const dxt_timeline_series *overall,
                              const dxt_plot_opts *opts, char *err, size_t errlen);

/* "slow_source rank 4", "slow_path 9->2", "slow_node node-b (as source)" ... */
void dxt_finding_label(const dxt_finding *f, const dxt_topology *topo, char *buf,
                       size_t len);

/* Draw the heatmap on out with ANSI background colors: one character cell per
 * rank pair (two when they fit, for square cells) up to the terminal width;
 * when n is larger, blocks of ranks (a node, when nodes are contiguous and of
 * one size) are shown by their mean. Flagged rows and columns are marked,
 * then a legend (color bar with values and unit, block size, findings). */
dxt_plot_rc dxt_show_heatmap(FILE *out, int n, const double *wait, const dxt_plot_opts *opts,
                             char *err, size_t errlen);

#endif
