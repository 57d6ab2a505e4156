/* classify_internal.h - what the classifier's files share (not for callers):
 * robust statistics (stats.h), the judgement of one window
 * (classify.c) and the tracker across windows (track.c, track_series.c).
 * Owner: the classifier engineer (A1). */
#ifndef DXT_CLASSIFY_INTERNAL_H
#define DXT_CLASSIFY_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "classify.h"

#include "stats.h"

/* --- one window (classify.c) ---------------------------------------------- */

/* One subject flagged in one window. */
typedef struct dxt_hit {
    dxt_kind kind;
    int rank, src, dst, node, as_source;
    double severity, score;
    double excess; /* observed - expected wait of its cells, trace unit (whole window) */
    double share;  /* excess / the excess of every candidate of the window */
    double tail;   /* chance of a score this high for one subject of its group under
                    * the group's own tail (0: not measured, a t tail is used); a
                    * path's: its whole chance, t tail included (classify_paths.c) */
    double p_load; /* load_imbalance without history: the chance of tokens standing out
                    * this far from the routing's own spread of loads for any line of
                    * its side (classify_tokens.c); 0: not a load finding */
} dxt_hit;

/* The judge: the topology, the options and the scratch space of one window,
 * O(N^2), allocated once per tracker. */
typedef struct dxt_judge {
    int n, nnodes;
    int pair_blocks;     /* the fit has a block per node pair (else intra, inter) */
    int *node_of;        /* n */
    int *members;        /* n: ranks grouped by node */
    int *node_start;     /* nnodes + 1: members[node_start[a] .. node_start[a+1]) */
    dxt_classify_opts opts;
    double floor_cls[2]; /* added to every wait per step before its log, inter- (0) and
                          * intra-node (1) cells (0: zeros missing) */
    const double *cell_noise; /* n*n: each cell's own window-to-window scale (log), or NULL */
    int confirming;      /* judging whether earlier hits still hold: every cell may be a
                          * path (a fault that began since masks no earlier one) */
    double *logm;        /* n*n: log(wait per step), NAN missing */
    double *res;         /* n*n: residual of the fit */
    double *row, *col;   /* n: row and column effects */
    double *blk;         /* nnodes*nnodes: block constants (no history only) */
    double *rot;         /* n: rotation effects, cell (i, k) by (k - i) mod n (no history,
                          * and only where the rotation explains the pairs: rotated) */
    int rotated;         /* the fit has rotation effects (classify.c, choose_rotation) */
    double *blk_level;   /* nnodes*nnodes: median log wait per step of each block */
    double *blk_scale;   /* nnodes*nnodes: each block's moderated scale of residuals
                          * from step 0 (classify_paths.c, block_priors) */
    double *blk_df;      /* nnodes*nnodes: the freedom of that scale */
    double *blk_work;    /* 2 nnodes*nnodes: scratch of block_priors */
    double *scratch;     /* n*n + 2n */
    unsigned char *late; /* n: judged a slow source (its row carries no evidence) */
    unsigned char *hot_row; /* n: judged a slow destination */
    unsigned char *hot_cell; /* n*n: part of a flagged path */
    unsigned char *flag; /* n: scratch, ranks flagged in the current sweep */
    unsigned char *node_flag; /* nnodes: scratch, nodes flagged in the current sweep (what
                               * a nonzero value says: the writer's comment) */
    unsigned char *static_node; /* 2 nnodes: slow as destination, then as source,
                                 * against the other nodes' blocks (not history) */
    double *rank_z, *rank_obs, *rank_exp; /* n: scratch of the current sweep */
    double line_scale;   /* the current sweep's scale of rank effects */
    double line_tail[3]; /* the current sweep's lines, those above 2.5 and 3.5 scales */
    double *tok_sums;    /* 2n: token excess of each rank's line, then of each node's */
    int have_tokens;
    int static_seen;     /* a node was found slow against the other nodes' blocks */
    dxt_hit *hits;
    int nhits, cap;
} dxt_judge;

/* The fit (classify_fit.c). dxt_fit: X = log M - ref (ref NULL: no history)
 * into j->res and the effects, the rows and columns of late ranks masked, with
 * rotation effects when j->rotated; dxt_choose_rotation: without history, sets
 * j->rotated and fits; dxt_refit_without_late: the fit again, or the late
 * ranks' cells masked; dxt_residual_spread: the MAD of the residuals. */
void dxt_fit(dxt_judge *j, const double *ref, int iters);
void dxt_choose_rotation(dxt_judge *j, int iters);
void dxt_refit_without_late(dxt_judge *j, const double *ref, int iters);
double dxt_residual_spread(dxt_judge *j);

/* Upper-tail probability of Student's t with df degrees of freedom
 * (classify_scan.c): a robust z whose scale came from few values (4 ranks)
 * is far less sure. */
double dxt_student_tail(double t, double df);
/* Upper-tail probability of Snedecor's F with d1 and d2 degrees of freedom
 * (classify_scan.c): a variance ratio beyond what sampling gives. */
double dxt_f_tail(double f, double d1, double d2);

/* Share of a node's ranks slow alike that makes a slow_node (the contract:
 * all its ranks; one in four may be too noisy to show it). */
#define DXT_NODE_FRACTION 0.75

/* dxt_node_need: how many of a node's size ranks are most of them
 * (DXT_NODE_FRACTION); dxt_node_reach: the value that many reach among the
 * count judged values of vals (reordered), the effect most of its ranks share
 * (a node is slow when all its ranks are, and the median of a node of two is
 * half of one slow rank). NAN when fewer than that many are judged. */
static inline int dxt_node_need(int size)
{
    return (int)ceil(DXT_NODE_FRACTION * size);
}

static inline double dxt_node_reach(double *vals, size_t count, int size)
{
    size_t need = (size_t)dxt_node_need(size);
    return need > 0 && count >= need ? dxt_select_kth(vals, count, count - need) : NAN;
}

/* Is cell (i, k), rank i waiting for rank k, one of node a's (node_of: each
 * rank's node)? As a source its ranks' columns, less the waits inside the
 * node (a late node's ranks wait for each other as before); as a destination
 * its ranks' rows. */
static inline int dxt_node_cell(const int *node_of, int a, int as_source, int i, int k)
{
    return as_source ? node_of[k] == a && node_of[i] != a : node_of[i] == a;
}

/* Whole-matrix scales use at most ~DXT_SCALE_SAMPLE cells, evenly strided. */
#define DXT_SCALE_SAMPLE 4096
#define DXT_MIN_CELL_SCALE 0.05 /* log units: cells of a healthy window vary ~5 % (spikes aside) */
size_t dxt_scale_stride(int n);

int dxt_judge_push_hit(dxt_judge *j, const dxt_hit *h);

/* Slow paths of the fitted matrix (classify_paths.c): hits pushed, cells
 * marked hot; each hit's tail is its whole chance (a t tail of its scale's
 * freedom, or its class's own tail). */
int dxt_judge_cells(dxt_judge *j, int history, double steps);

/* Slow nodes (classify_node.c), against history, and in every window
 * between the topology blocks: hits pushed, ranks marked late / hot_row. */
int dxt_judge_nodes_history(dxt_judge *j, const double *ref, double steps);
int dxt_judge_nodes_static(dxt_judge *j, double steps);

/* A rank that starts before its peers waits for all of them (its row rises)
 * while they no longer wait for it (its column falls to the floor); a slow
 * receive side raises the row and leaves the column. Real DeepEP: the host
 * that launches first stays first for hundreds of steps. dxt_line_standing
 * measures both against the peers of each cell (no fit: with 2-4 ranks a
 * median polish zeroes most effects); early: the column stands below its
 * peers by at least DXT_EARLY_FRACTION of the row's standing above them. */
#define DXT_EARLY_FRACTION 0.5
/* dxt_line_middles: each line's middle (8n doubles into mid; buf n doubles),
 * once a matrix for the standings of any of its ranks (O(n) each). */
void dxt_line_middles(const double *y, int n, double *buf, double *mid);
void dxt_line_standing(const double *y, int n, int r, const double *mid, double *buf,
                       double *col, double *row);
int dxt_early_standing(double col, double row);

/* The groups' own tails (classify.c; the cells' counted in classify_paths.c):
 * a score beyond DXT_TAIL_Z0 is judged against how many of its group lie
 * beyond DXT_TAIL_Z0 and DXT_TAIL_Z1 (tail[0] the group's count, tail[1],
 * tail[2] those beyond; leave-one-out, with a normal prior). Returns the chance of z for one subject. */
#define DXT_TAIL_Z0 2.5
#define DXT_TAIL_Z1 3.5
double dxt_tail_chance(const double tail[3], double z);

/* The token check of the static judge (classify_tokens.c): hits whose wait
 * follows their tokens become load_imbalance (ranks), or are dropped when
 * their tokens are within every rank's (node's) spread of loads. */
void dxt_judge_tokens(dxt_judge *j, const double *tokens, double steps);

/* Is the wait excess of a line (in_line: its cells) explained by its token
 * excess (classify_tokens.c)? dwait, dtok: each cell's excess in logs (NAN:
 * none); the line's tokens must exceed by min_log_ratio. others_only: the
 * slope, and the mean the line's excess is taken from, from the cells off
 * the line alone (a line of many cells, a rank's among the lines, would
 * make its own). */
int dxt_tokens_explain(const double *dwait, const double *dtok, const unsigned char *in_line,
                       size_t cells, double min_log_ratio, int others_only);

/* The median of each line of the n x n matrix x, over its finite cells off
 * the diagonal (side 1: each column, 0: each row), into out[n]; buf holds n
 * (classify_tokens.c). */
void dxt_line_medians(const double *x, int n, int side, double *buf, double *out);

/* Ranks of node a (a node of one rank is that rank: not a node subject). */
static inline int node_size(const dxt_judge *j, int a)
{
    return j->node_start[a + 1] - j->node_start[a];
}

int dxt_judge_init(dxt_judge *j, const dxt_topology *topo, const dxt_classify_opts *opts);
void dxt_judge_free(dxt_judge *j);

/* Judge one window. wait, tokens: n*n (tokens may be NULL); steps: how many
 * steps the window sums; ref: n*n log wait per step of each cell in earlier
 * windows (NULL: no history, judge against the topology blocks);
 * tok_ref: 2n token sums per step (rows, then columns) of earlier windows, or
 * NULL. Fills j->hits. Returns 0, or -1 on out of memory. */
int dxt_judge_window(dxt_judge *j, const double *wait, const double *tokens, double steps,
                     const double *ref, const double *tok_ref);

#endif
