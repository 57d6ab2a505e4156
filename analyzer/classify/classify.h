/* classify.h - the classifier of dxt-analyze: judges each window's N x N wait
 * matrix and merges the windows of one op into findings.
 *
 * M[i][j] is the wait of rank i for rank j in one window (row i comes from
 * rank i's file), in the trace's unit (us, or cycles when no clock rate is
 * known). NAN marks a missing value: no traffic (a zero in hierarchical
 * all-to-all), a missing rank, or the diagonal. The loader feeds windows in
 * step order; the tracker keeps O(N^2) state plus O(windows) per flagged
 * subject, never the matrices of past windows.
 *
 * Kinds (shared/contracts/report.md): */
#ifndef DXT_CLASSIFY_H
#define DXT_CLASSIFY_H

#include <stdint.h>

#include "dxtanalysis.h" /* dxt_classify_opts */

#define DXT_FINDING_KINDS(X)                                                   \
    X(DXT_SLOW_SOURCE, "slow_source", "peers wait for this rank (a high column)")      \
    X(DXT_SLOW_DESTINATION, "slow_destination", "this rank waits for its peers (a high row)") \
    X(DXT_SLOW_PATH, "slow_path", "dst waits for src and for no one else as much (a cell)") \
    X(DXT_SLOW_NODE, "slow_node", "all ranks of one node slow as sources or destinations") \
    X(DXT_LOAD_IMBALANCE, "load_imbalance", "extra wait explained by extra tokens")

typedef enum {
#define DXT_KIND_ENUM(id, str, what) id,
    DXT_FINDING_KINDS(DXT_KIND_ENUM)
#undef DXT_KIND_ENUM
    DXT_KIND_COUNT
} dxt_kind;

const char *dxt_kind_str(dxt_kind kind);       /* "slow_source", ... */
const char *dxt_kind_meaning(dxt_kind kind);   /* one line for people */

/* Which node each rank is on. node_of[i] in 0 .. nnodes-1 (every rank has one:
 * when the trace names no nodes, the loader groups ranks by per_node). */
typedef struct dxt_topology {
    int n;
    int nnodes;
    const int *node_of;            /* n entries */
    const char *const *node_names; /* nnodes entries */
} dxt_topology;


/* One finding, merged over the windows in which its subject was flagged. */
typedef struct dxt_finding {
    dxt_kind kind;
    char op[64];
    int rank;             /* slow_source, slow_destination, load_imbalance; else -1 */
    int src, dst;         /* slow_path; else -1 */
    int node;             /* slow_node: node index (topology); else -1 */
    int as_source;        /* slow_node: 1 slow as sources, 0 as destinations */
    int64_t first_step, last_step; /* bounds of the flagged windows */
    double severity;      /* peak observed / expected (> 1) */
    double score;         /* peak robust z */
    double share;         /* share of the excess wait it explains, 0..1 (extension) */
    double excess;        /* total excess wait over its windows, trace unit */
    int windows_flagged, windows_seen;
    int64_t window_steps; /* steps of the windows those two count (the tests' windows:
                           * with two sizes, of the size that found it); 0: unknown */
    int persistent;       /* 1: flagged in (nearly) every window since onset */
    double p_value;       /* chance that the trace's own noise gives a finding at least
                           * this strong anywhere in the op (Bonferroni over every
                           * subject, window segment and kind tested, and over the
                           * op's two families: from step 0 and over time; Simes over
                           * two window sizes, dxt_tracker_join) */
} dxt_finding;

typedef struct dxt_tracker dxt_tracker;

/* A tracker for one op. topo and opts are copied. NULL on out of memory. */
dxt_tracker *dxt_tracker_new(const char *op, const dxt_topology *topo,
                             const dxt_classify_opts *opts);

/* Add one window (steps first..last). wait and tokens are n x n row-major;
 * tokens may be NULL. Returns 0, or -1 on out of memory. The windows are kept
 * (as float per-step means, O(windows x N^2); pairs are merged past a memory
 * budget) and judged together when the findings are asked for. */
int dxt_tracker_add_window(dxt_tracker *t, int64_t first_step, int64_t last_step,
                           const double *wait, const double *tokens);

/* The same with rank_rows[i], the rows of rank i summed into the window (NULL:
 * every rank complete). A rank with fewer rows than the fullest rank lost rows
 * (a dropped-row gap): its row of this window and of the next one, where a
 * cumulative counter carries the gap's total, is not judged. */
int dxt_tracker_add_window_rows(dxt_tracker *t, int64_t first_step, int64_t last_step,
                                const double *wait, const double *tokens,
                                const int64_t *rank_rows);

/* Whether the op carried tokens (load_imbalance testable). */
int dxt_tracker_has_tokens(const dxt_tracker *t);

/* The findings so far, ranked by severity x share (most important first).
 * The array is owned by the tracker, valid until the next call on it. */
int dxt_tracker_findings(dxt_tracker *t, const dxt_finding **out);

/* Join to t's findings those of other, the same op judged in windows of
 * another (longer) size, both at the same alpha: a subject's p-value joins its
 * two sizes' (Simes: min(2 p1, p2), or 2 p where one size did not find it;
 * paths only where other has 20 windows or more, else t's p-values stand);
 * where that would drop a finding, both are judged again at half the alpha
 * first. other's findings of a subject t has none of (nor a node of it) are
 * added (copied) and t's are ranked again. 0, or -1 on out of memory. */
int dxt_tracker_join(dxt_tracker *t, dxt_tracker *other);

/* t judges the longer windows of a join (dxt_tracker_join): with fewer than
 * 20 of them its cells are not tested over time (their paths would not join). */
void dxt_tracker_set_longer(dxt_tracker *t);

/* For plots: the per-window series of a finding's subject (its mean wait) and
 * of its peers (their median), and the windows' first steps. Arrays owned by
 * the tracker; returns the number of windows, or 0. */
int dxt_tracker_series(dxt_tracker *t, const dxt_finding *f, const int64_t **first_steps,
                       const double **subject, const double **peers);

void dxt_tracker_free(dxt_tracker *t);

#endif
