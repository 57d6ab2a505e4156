/* classify_view.h - what the files of the classifier's judgement over time
 * share (not for callers): the view of an op's kept windows (classify_time.c
 * builds it: logs, usable windows, baselines, polished effects) and the tests
 * of its subjects (classify_subjects.c).
 * Owner: the classifier engineer (A1). */
#ifndef DXT_CLASSIFY_VIEW_H
#define DXT_CLASSIFY_VIEW_H

#include "track_internal.h"

#define BASE_QUANTILE 0.25    /* baselines: the lower quartile (a fault on for up to
                               * three quarters of the run is not learnt) */

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
    double floor_;
    float *y;                 /* W x nn: log wait, then residuals */
    float *yc;                /* nn x W: the same by cell (contiguous series) */
    double *base, *rowe, *cole, *x, *scratch, *own;
    double *ywin, *lbuf;      /* one window's log matrix; line standings (early_rank) */
    unsigned char *mask_tmp;  /* nn: a line's cells (tokens_explain) */
    unsigned char *use, *ever, *ex, *mask_col, *mask_row;
    int *work;
    double log_alpha_subject; /* log(alpha / subjects of the op) */
} tview;


/* The tests over time of every subject of the op (classify_subjects.c):
 * ranks, then nodes, then cells; findings pushed to v->t. -1 on out of memory. */
int dxt_time_tests(tview *v);

#endif
