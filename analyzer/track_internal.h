/* track_internal.h - the tracker's state, shared by track.c (windows,
 * history) and track_series.c (findings, plot series). Not for callers.
 * Owner: the classifier engineer (A1). */
#ifndef DXT_TRACK_INTERNAL_H
#define DXT_TRACK_INTERNAL_H

#include "classify_internal.h"

/* A finding is persistent when flagged in this share of its windows from its
 * onset to its last flagged window (a 30 % duty fault flags ~40-60 %). */
#define DXT_PERSISTENT_FRACTION 0.8

/* One subject (a rank, cell or node, by kind) flagged in at least one window. */
typedef struct dxt_subject {
    dxt_kind kind;
    int rank, src, dst, node, as_source;
    int64_t first_step, last_step;
    int first_window, last_window, windows_flagged;
    double severity, score, excess;
    double *path_value, *path_peers; /* slow_path: series from its first window */
    int path_len, path_cap;
} dxt_subject;

struct dxt_tracker {
    char op[64];
    int n;
    dxt_judge judge;
    double *ref;      /* n*n usual log wait per step, NAN unknown */
    double *tok_ref;  /* 2n usual tokens per step (received, sent) */
    int windows, cap_windows;
    int64_t *first_steps;          /* windows */
    double *row_mean, *col_mean;   /* windows x n mean wait per step */
    dxt_subject *subs;
    int nsubs, cap_subs;
    dxt_finding *findings;
    int nfindings;
    double *series_subject, *series_peers; /* windows, for dxt_tracker_series */
};

#endif
