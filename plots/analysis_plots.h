/* analysis_plots.h - what dxt-analyze draws from an analysis (--plots DIR,
 * --plot-window A:B, --log-color, --show): per op a heatmap of the analyzed
 * range (or of A:B), a heatmap of each finding's flagged steps, a timeline;
 * the terminal view. Glue between the analysis (analyzer/run/analysis.h) and plots.h.
 * Owned by the plots engineer (plots/). */
#ifndef DXT_ANALYSIS_PLOTS_H
#define DXT_ANALYSIS_PLOTS_H

#include <stdint.h>
#include <stdio.h>

#include "dxtanalysis.h"
#include "plots.h"

#define DXT_PLOTS_FINDING_MAPS 8 /* heatmaps of findings per op, at most */

typedef struct dxt_plots_request {
    const char *dir;          /* --plots DIR (created if missing); NULL: no PNGs */
    int show;                 /* --show: the terminal view of each op */
    int log_color;            /* --log-color */
    int abs_color;            /* --abs-color: color by the wait itself, not relative to its node pair */
    int have_window;          /* --plot-window A:B given: the heatmap of steps A..B */
    int64_t window_from, window_to;
    dxt_palette palette;      /* --palette */
    int color;                /* --color: -1 auto (a terminal, and no NO_COLOR), 0 never, 1 always */
    dxt_progress_fn progress; /* NULL: none; called per picture ("plots dispatch", 0..1) */
    void *progress_user;
} dxt_plots_request;

/* A request with nothing asked: color auto, the default palette. */
void dxt_plots_request_init(dxt_plots_request *req);

/* Parse "A:B" (A <= B, integers). 0, or -1 with a message in err. */
int dxt_plots_parse_window(const char *arg, int64_t *from, int64_t *to, char *err,
                           size_t errlen);

/* Draw what req asks from a (the terminal view on show_out). Files are
 * DIR/<op>-heatmap.png (or <op>-heatmap-steps-A-B.png),
 * DIR/<op>-finding<K>-<kind>.png, DIR/<op>-timeline.png; *written counts them.
 * Returns DXT_PLOT_OK or the first error; DXT_PLOT_ENOGNUPLOT stops the PNGs
 * at once (print err once and go on: the report does not depend on it). */
dxt_plot_rc dxt_plots_run(const dxt_analysis *a, const dxt_plots_request *req, FILE *show_out,
                          int *written, char *err, size_t errlen);

#endif
