/* classify_view.h - what the files of the classifier's judgement over time
 * share (not for callers): the view of an op's kept windows (classify_time.c
 * builds it: logs, usable windows, baselines, polished effects) and the tests
 * of its subjects (classify_subjects.c).
 * Owner: the classifier engineer (A1). */
#ifndef DXT_CLASSIFY_VIEW_H
#define DXT_CLASSIFY_VIEW_H

#include "track_internal.h"

#define BASE_QUANTILE 0.25    /* baselines: a low quantile of the windows (a fault on
                               * for up to 75 % of the run is not learnt) */
#define RECENTER_QUANTILE 0.25 /* the job's shift in a window: the lower quartile of
                                * its ranks (a slow node may be half of them) */

/* Index of the baseline among count sorted values: BASE_QUANTILE, but never
 * the lowest one (one lucky window would lock in). */
static inline size_t base_index(size_t count)
{
    size_t k = (size_t)(BASE_QUANTILE * (double)(count - 1));
    if (k < 1) k = 1;
    return k < count ? k : count - 1;
}

/* Ranks of node a (a node of one rank is that rank: not a node subject). */
static inline int node_size(const dxt_judge *j, int a)
{
    return j->node_start[a + 1] - j->node_start[a];
}

enum { SUBJ_SRC, SUBJ_DST, SUBJ_NODE_SRC, SUBJ_NODE_DST, SUBJ_CELL_INTRA, SUBJ_CELL_INTER };

typedef struct tview {
    dxt_tracker *t;
    int n, W, usable;
    size_t nn;
    double floor_cls[2];      /* floors of inter- (0) and intra-node (1) cells */
    float *y;                 /* W x nn: log wait, then residuals */
    float *yc;                /* nn x W: the same by cell (contiguous series) */
    double *base, *rowe, *cole, *x, *scratch, *own;
    double *ywin, *lbuf;      /* one window's log matrix; line standings (early_rank) */
    unsigned char *mask_tmp;  /* nn: a line's cells (tokens_explain) */
    unsigned char *use, *ever, *ex, *mask_col, *mask_row;
    int *work;
    double log_alpha_subject; /* log(alpha / subjects of the op) */
} tview;


/* The floor of cell c (build_logs). */
static inline double cell_floor(const tview *v, size_t c)
{
    const int *node_of = v->t->judge.node_of;
    return v->floor_cls[node_of[c / v->n] == node_of[c % v->n]];
}

/* The tests over time of every subject of the op (classify_subjects.c):
 * ranks, then nodes, then cells; findings pushed to v->t. -1 on out of memory. */
int dxt_time_tests(tview *v);

#endif
