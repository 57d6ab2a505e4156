/* classify_view.h - what the files of the classifier's judgement over time
 * share (not for callers): the view of an op's kept windows (classify_time.c
 * builds it: logs, usable windows, baselines, polished effects) and the tests
 * of its subjects (classify_subjects.c).
 * Owner: the classifier engineer (A1). */
#ifndef DXT_CLASSIFY_VIEW_H
#define DXT_CLASSIFY_VIEW_H

#include <math.h>
#include <string.h>

#include "track_internal.h"

#define RECENTER_QUANTILE 0.25 /* the job's shift in a window: the lower quartile of
                                * its ranks (a slow node may be half of them) */
#define BASE_QUANTILE 0.25    /* baselines: a low quantile of the windows (a fault on
                               * for up to 75 % of the run is not learnt) ... */
#define BASE_EDGE 8           /* ... unless the first or the last 1/BASE_EDGE of the run
                               * sits far below the rest: a fault on for most of the run */
#define BASE_EDGE_MIN 3       /* windows at an edge, at least (one lucky window is no level) */
#define BASE_EDGE_Z 4.0       /* "far below": under the rest's lower quartile by this many
                               * of its level spread (interquartile range / 1.349) ... */
#define BASE_EDGE_GAP 0.26    /* ... and, against the rest of the run, by log 1.3 at
                               * least (a quiet cell of a healthy 188-rank sim, 2 % noise,
                               * 1.18x above its first 3 windows for the other 19, was a
                               * path) */

/* Index of the baseline among count sorted values: BASE_QUANTILE, but never
 * the lowest one (one lucky window would lock in). */
static inline size_t base_index(size_t count)
{
    size_t k = (size_t)(BASE_QUANTILE * (double)(count - 1));
    if (k < 1) k = 1;
    return k < count ? k : count - 1;
}

/* Median of x[a .. a+len) taken in tmp (x is left as it is). */
static inline double edge_median(const double *x, size_t a, size_t len, double *tmp)
{
    memcpy(tmp, x + a, len * sizeof *tmp);
    return dxt_median_inplace(tmp, len);
}

/* Index of the upper quartile among count sorted values. */
static inline size_t upper_index(size_t count)
{
    return (size_t)(0.75 * (double)(count - 1));
}

/* The lower and upper quartiles of x[a .. a+len), selected in tmp. */
static inline void quartiles(const double *x, size_t a, size_t len, double *tmp, double *low,
                             double *high)
{
    memcpy(tmp, x + a, len * sizeof *tmp);
    *low = dxt_select_kth(tmp, len, base_index(len));
    *high = dxt_select_kth(tmp, len, upper_index(len));
}

/* The usual level of a series: its count usable values in time order in x (which
 * it reorders), with room for count more after them. The lower quartile, unless
 * the run's first or last eighth sits far below it: then that edge's median (a
 * fault on from early in the run to its end, or from its start to late, is on
 * for more than three quarters of it; a quantile would learn it as the level).
 * Far below the quartiles of the whole series, or of the rest of it, the edge
 * left out, by log 1.3 at least: with the edge in, the lower quartile of a
 * fault on for 80 % of the run falls on the step itself and the spread
 * doubles (a 2.7x path from a fifth of the run on 64 windows was its own
 * level); a drift is still no step (the rest's spread grows with it). An
 * edge not below the whole series' lower quartile is none. */
static inline double base_level(double *x, size_t count)
{
    if (!count) return NAN;
    size_t len = count / BASE_EDGE;
    if (len < BASE_EDGE_MIN) len = BASE_EDGE_MIN;
    if (2 * len > count) return dxt_select_kth(x, count, base_index(count));
    double *tmp = x + count;
    double first = edge_median(x, 0, len, tmp), last = edge_median(x, count - len, len, tmp);
    int first_lower = first < last;
    double edge = first_lower ? first : last;
    memcpy(tmp, x, count * sizeof *tmp); /* x stays in time order for the rest's quartiles */
    double usual = dxt_select_kth(tmp, count, base_index(count));
    if (!(edge < usual)) return usual; /* the usual case: one selection */
    double high = dxt_select_kth(tmp, count, upper_index(count));
    if (edge < usual - BASE_EDGE_Z * (high - usual) / 1.349) return edge;
    double low;
    quartiles(x, first_lower ? len : 0, count - len, tmp, &low, &high);
    double spread = BASE_EDGE_Z * (high - low) / 1.349;
    return edge < low - (spread > BASE_EDGE_GAP ? spread : BASE_EDGE_GAP) ? edge : usual;
}

enum { SUBJ_SRC, SUBJ_DST, SUBJ_NODE_SRC, SUBJ_NODE_DST, SUBJ_CELL_INTRA, SUBJ_CELL_INTER };

typedef struct tview {
    dxt_tracker *t;
    int n, W, usable;
    int first_data;           /* the first window with data, warm-up or not */
    size_t nn;
    double floor_cls[2];      /* floors of inter- (0) and intra-node (1) cells */
    float *y;                 /* W x nn: log wait, then residuals */
    float *yc;                /* nn x W: the same by cell (contiguous series) */
    double *base, *rowe, *cole, *x, *scratch, *own;
    double *ywin, *lbuf;      /* one window's log matrix; line standings of up to a
                               * node's ranks at once (classify_lines.c) */
    double *lbuf_node;        /* 4 x a node's ranks: their medians (dxt_early_node) */
    double *mid;              /* 8n: the lines' middles of ywin (dxt_line_middles) */
    int mid_ok;               /* mid is ywin's */
    unsigned char *mask_tmp;  /* nn: a line's cells, or n: the line among the lines
                               * (follows_tokens) */
    unsigned char *use, *ever, *ex, *mask_col, *mask_row;
    int *work;
    double log_alpha_line;    /* log of a rank's or node's line's share of alpha */
    double log_alpha_cell;    /* log of a cell's share (count_tests, classify_time.c) */
} tview;


typedef struct subject {
    int kind, id;             /* SUBJ_*; rank, node or cell index */
} subject;

/* log of subject s's share of the op's alpha for the tests over time */
static inline double subject_log_alpha(const tview *v, subject s)
{
    return s.kind >= SUBJ_CELL_INTRA ? v->log_alpha_cell : v->log_alpha_line;
}

#define DROP_MIN 8            /* subjects a class needs to leave out its most exceeding one */

/* Is cell (a, b) off the diagonal one of subject s's? */
static inline int subject_cell(const tview *v, subject s, int a, int b)
{
    const int *node_of = v->t->judge.node_of;
    if (a == b) return 0;
    switch (s.kind) {
    case SUBJ_SRC: return b == s.id;
    case SUBJ_DST: return a == s.id;
    case SUBJ_NODE_SRC:
    case SUBJ_NODE_DST: return dxt_node_cell(node_of, s.id, s.kind == SUBJ_NODE_SRC, a, b);
    default: return (size_t)a * v->n + b == (size_t)s.id;
    }
}

/* The floor of cell c (build_logs). */
static inline double cell_floor(const tview *v, size_t c)
{
    const int *node_of = v->t->judge.node_of;
    return v->floor_cls[node_of[c / v->n] == node_of[c % v->n]];
}

/* Does cell c stand out from its row's and column's other cells on seg,
 * and does its rise matter (classify_cells.c)? */
int dxt_cell_stands_out(tview *v, size_t c, const dxt_segment *seg);
int dxt_path_matters(tview *v, size_t c, const dxt_segment *seg);

/* Is rank r's high row on seg an early rank's, no slow receiver's (node a's:
 * most of its ranks')? Are node a's ranks slow alike on seg (as sources or as
 * destinations)? In a job of two nodes, is node a's rise as a destination the
 * other node's lateness (classify_lines.c)? */
int dxt_early_rank(tview *v, int r, const dxt_segment *seg);
int dxt_early_node(tview *v, int a, const dxt_segment *seg);
int dxt_node_alike(tview *v, int a, int as_source, const dxt_segment *seg);
int dxt_other_node_late(tview *v, int a, const dxt_segment *seg);

/* Did subject s's wait rise on seg because its tokens did
 * (classify_time_tokens.c)? 1: yes, by min_token_ratio or more (a load
 * imbalance); -1: yes, by less (the routing's wander: no fault); 0: no. */
int dxt_subject_tokens(tview *v, subject s, const dxt_segment *seg);

/* A segment from window first starts the run: fewer than 3 judged windows
 * (or 5 % of them) before it; the first window that does not (W: none)
 * (classify_finding.c). */
int dxt_starts_run(const tview *v, int first);
int dxt_first_onset(const tview *v);

/* Subject s's finding on its significant segment seg (level: its usual
 * level, scale: its noise, p_adj: the p-value), pushed to v->t unless under
 * min_severity or a token wander; the rows and columns it masks marked
 * (classify_finding.c). -1 on out of memory. */
int dxt_emit_finding(tview *v, subject s, const dxt_segment *seg, double level, double scale,
                     double p_adj);

/* The tests over time of every subject of the op (classify_subjects.c):
 * ranks, then nodes, then cells; findings pushed to v->t. -1 on out of memory. */
int dxt_time_tests(tview *v);

#endif
