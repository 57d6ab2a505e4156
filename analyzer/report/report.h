/* report.h - what the reports share (report_stats.c): per-step medians of
 * the whole-range matrix within and across nodes, the worst cells, and every
 * op's findings ranked. The reports themselves are public (dxtanalysis.h).
 * Owner: the loader/report engineer (A2). */
#ifndef DXT_REPORT_H
#define DXT_REPORT_H

#include "analysis.h"

/* Per-step medians of the whole-range
 * matrix within and across nodes (NAN when none), and the worst cells. */
typedef struct dxt_cell {
    int dst, src;
    double per_step;         /* wait per recorded step of dst */
    double vs_typical;       /* per_step over the median of its kind (intra/inter) */
} dxt_cell;

typedef struct dxt_op_summary {
    double intra_median, inter_median;
    int ncells;
    dxt_cell worst[5];
} dxt_op_summary;

int dxt_op_summarize(const dxt_analysis *a, const dxt_op_result *r, dxt_op_summary *out);

/* Every op's findings, most important first across ops (severity x share, as
 * the tracker ranks one op's). *out: a malloc'd array the caller frees (NULL
 * when none). Returns the count, or -1 on out of memory. */
int dxt_ranked_findings(const dxt_analysis *a, const dxt_finding ***out);

/* A JSON string of text from a trace (run id, node and op names, paths,
 * messages): as it is when it is valid UTF-8, else made ASCII-safe with
 * dxt_text_safe (\xHH for the bytes JSON cannot hold). A json_t * (jansson);
 * NULL on out of memory. */
struct json_t;
struct json_t *dxt_json_text(const char *s);

/* A finding's fields into JSON object o (report_json.c), in the report's
 * order: kind, op, its subject (rank | src+dst | node+ranks+as), first_step,
 * last_step, then with measures its severity ... windows_seen. 0, or -1 on
 * out of memory. dxt-analyze --follow's events share it. */
int dxt_finding_json_put(struct json_t *o, const dxt_analysis *a, const dxt_finding *f,
                         int measures);

/* The finding's subject in words (report_text.c): "rank 5 (node-0)",
 * "rank 11 waits for rank 3", "node-1 (ranks 8-15) as sources". */
void dxt_finding_subject(const dxt_analysis *a, const dxt_finding *f, char *buf, size_t size);

/* How sure a finding is, in words, from its p_value (report_text.c). */
const char *dxt_certainty_words(double p_value);

#endif
