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

/* The palettes (--palette NAME). The default is sequential, light to dark,
 * with lightness changing monotonically: readable with every kind of color
 * blindness and in grayscale. */
#define DXT_PLOT_PALETTES(X)                                                   \
    X(DXT_PALETTE_HEAT, "heat", "pale yellow -> orange -> red -> dark red (color-blind safe)") \
    X(DXT_PALETTE_DEEPXTRACE, "deepxtrace", "green -> yellow -> red, as DeepXTrace draws it")

typedef enum {
#define DXT_PALETTE_ENUM(id, str, what) id,
    DXT_PLOT_PALETTES(DXT_PALETTE_ENUM)
#undef DXT_PALETTE_ENUM
    DXT_PALETTE_COUNT
} dxt_palette;

const char *dxt_palette_str(dxt_palette p);
/* The palette named name; -1 when there is none of that name. */
int dxt_palette_from_str(const char *name);

/* A relative heatmap colors wait / typical wait from 1x (typical or less, the
 * lightest color) to this (or more, the darkest), on a log scale: the same
 * scale in every picture of every op and run. */
#define DXT_PLOT_RELATIVE_MAX 4.0

/* What to draw around one N x N matrix; used by dxt_plot_heatmap and
 * dxt_show_heatmap. Every pointer may be NULL. Strings are copied into the
 * script (quoted), never interpreted. */
typedef struct dxt_plot_opts {
    const char *run_id;
    const char *op;
    int64_t first_step, last_step;  /* the matrix's step range (title) */
    const char *unit;               /* "us" or "cycles"; NULL: "us" */
    int log_color;                  /* 1: logarithmic color scale */
    int relative;                   /* 1: color by wait / typical wait of its kind (the median
                                     * of the intra-node cells for an intra-node cell, of the
                                     * inter-node cells otherwise), 1x .. DXT_PLOT_RELATIVE_MAX
                                     * on a log scale; cell values stay in the unit */
    double cb_min, cb_max;          /* absolute color range; both 0: the matrix's min..max
                                     * (give one range to every picture of an op) */
    dxt_palette palette;            /* default DXT_PALETTE_HEAT */
    const dxt_finding *zoom;        /* heatmap: instead of the overview, the panel of this
                                     * finding: its columns / rows / cell and their neighbours
                                     * (its node and one node either side), the other
                                     * dimension whole (by node when large) */
    const dxt_topology *topo;       /* node boundaries; NULL: none drawn */
    const dxt_finding *findings;    /* outlined; findings of other ops are skipped */
    int nfindings;
    const char *gnuplot;            /* program; NULL: "gnuplot" from PATH */
    int term_width;                 /* dxt_show_heatmap: columns; 0: detect */
    int term_height;                /* dxt_show_heatmap: lines; 0: detect ($LINES, else 40) */
    dxt_color_mode color_mode;      /* dxt_show_heatmap */
    int plain;                      /* dxt_show_heatmap: 1: no ANSI escapes, glyphs only */
} dxt_plot_opts;

void dxt_plot_opts_init(dxt_plot_opts *opts); /* zeroes; unit "us" */

/* Where the overview heatmap of n ranks puts things, in pixels (top-left
 * origin): the image size and the plot area (its border on its outermost
 * pixels), cell (r, c) covering x in [area_x + 1 + c*cell_w, +cell_w),
 * y in [area_y + 1 + r*cell_h, +cell_h). A cell is one rank pair while cells
 * get at least DXT_HEATMAP_MIN_CELL_PX pixels; beyond, a block of group x group
 * ranks (whole nodes when topo has contiguous nodes of one size) showing its
 * median, or the median of a slower whole row or column of ranks through it. */
#define DXT_HEATMAP_MIN_CELL_PX 6
typedef struct dxt_heatmap_layout {
    int width, height;
    int area_x, area_y, area_w, area_h;
    int rows, cols;    /* cells */
    int cell_w, cell_h;
    int group;         /* ranks per cell along each side of the overview */
    int cell_labels;   /* 1: values printed in the cells (small n) */
} dxt_heatmap_layout;

/* 0, or -1 for bad n. topo may be NULL. */
int dxt_heatmap_layout_for(int n, const dxt_topology *topo, dxt_heatmap_layout *out);

#define DXT_PLOT_MAX_RANKS 65536

/* Write a heatmap PNG of wait (n x n, row-major, wait[i*n+j] = wait of rank i
 * for rank j; NAN = missing, drawn hatched; the diagonal drawn gray as "self")
 * to png_path. x: source rank j (waited for), y: waiting rank i (rank 0 at the
 * top); opts->palette with a labelled color bar; node boundaries and the
 * findings of opts->op outlined; opts->zoom: one finding's panel. wait_f32
 * variant: the same from float32 (what the analyzer may already hold). */
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
 * peers' median in dashed blue, onset as a vertical line. nseries 0 draws one
 * panel of overall (NULL: nothing) with "no findings" - a healthy run is flat.
 * Uses run_id, op, unit and gnuplot of opts. */
dxt_plot_rc dxt_plot_timeline(const char *png_path, const dxt_timeline_series *series,
                              int nseries, const dxt_timeline_series *overall,
                              const dxt_plot_opts *opts, char *err, size_t errlen);

/* "slow_source rank 4", "slow_path 9->2", "slow_node node-b (as source)" ... */
void dxt_finding_label(const dxt_finding *f, const dxt_topology *topo, char *buf,
                       size_t len);

/* Draw the heatmap on out: a glyph per cell for its level (" .:+*#@"), with
 * ANSI background colors unless opts->plain; one character cell per rank pair
 * (two when they fit, for square cells) up to the terminal's width and height;
 * when n is larger, blocks of ranks (whole nodes, when nodes are contiguous and
 * of one size) shown as in the PNG overview. Flagged rows and columns are
 * marked, then a legend (scale with glyphs and values, block size, findings). */
dxt_plot_rc dxt_show_heatmap(FILE *out, int n, const double *wait, const dxt_plot_opts *opts,
                             char *err, size_t errlen);

#endif
