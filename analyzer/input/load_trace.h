/* load_trace.h - what the trace loader (load_trace.c) keeps for the window
 * streams (load_stream.c): every usable file, open, with its rank and the step
 * range of each op. Internal to the analyzer.
 * Owner: the loader/report engineer (A2). */
#ifndef DXT_LOAD_TRACE_H
#define DXT_LOAD_TRACE_H

#include "input.h"

typedef struct dxt_trace_file {
    char *path;
    dxt_reader *reader;
    int rank;
    int op_index[DXT_MAX_OPS];     /* the file's index of input op k, -1: absent */
    int64_t op_first[DXT_MAX_OPS]; /* first and last step of op k (rows > 0) */
    int64_t op_last[DXT_MAX_OPS];
} dxt_trace_file;

struct dxt_trace_state {
    int nfiles;
    dxt_trace_file *files;
    int unit_us;                   /* 1: convert to microseconds; 0: keep raw */
};

/* load_meta.c: the ops (names, step ranges, unit, tokens, dropped rows) and
 * the ranks (missing, segments, nodes) of the files kept. */
int dxt_trace_gather_ops(dxt_input *in, dxt_trace_state *t, dxt_error *err);
int dxt_trace_gather_ranks(dxt_input *in, dxt_trace_state *t, int per_node, dxt_error *err);

#endif
