/* live.c - the live API of libdxtanalysis (dxtanalysis.h): a running job
 * feeds one N x N matrix per window (rank 0 of python/dxtrace/diagnose.py,
 * through ctypes) and asks for a report; the report is the same analysis and
 * the same JSON or text as dxt-analyze's, over every window fed so far.
 *
 * Ownership: a dxt_live owns its input (input/live_input.c: the windows);
 * each report runs a fresh analysis over them and frees it. The returned
 * string is the caller's (dxt_live_free_string).
 * Owner: the analysis engineers (analyzer/). */
#include "report.h"

#include <stdlib.h>
#include <string.h>

struct dxt_live {
    dxt_input *in;
};

static int live_fail(char *err, size_t errlen, const dxt_error *e)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", e->msg);
    return -1;
}

int dxt_live_new(const char *run_id, int n, const int *node_of, int per_node, int nops,
                 const char *const *ops, const char *unit, dxt_live **out, char *err,
                 size_t errlen)
{
    dxt_error e = {{0}};
    *out = NULL;
    dxt_live *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(e.msg, sizeof e.msg, "live: out of memory");
        return live_fail(err, errlen, &e);
    }
    if (dxt_live_input_new(run_id, n, node_of, per_node, nops, ops, unit, &l->in, &e) != 0) {
        free(l);
        return live_fail(err, errlen, &e);
    }
    *out = l;
    return 0;
}

int dxt_live_add_window(dxt_live *l, int op, int64_t first_step, int64_t last_step,
                        const double *wait, const double *tokens,
                        const int64_t *steps_per_rank, char *err, size_t errlen)
{
    dxt_error e = {{0}};
    if (dxt_live_input_add(l->in, op, first_step, last_step, wait, tokens, steps_per_rank,
                           &e) != 0)
        return live_fail(err, errlen, &e);
    return 0;
}

/* The report of a into a malloc'd string (open_memstream). */
static int report_string(const dxt_analysis *a, int format, char **out, dxt_error *e)
{
    size_t size = 0;
    FILE *f = open_memstream(out, &size);
    if (!f) {
        snprintf(e->msg, sizeof e->msg, "live: out of memory for the report");
        return -1;
    }
    int rc = format == 1 ? dxt_report_text(f, a, 0) : dxt_report_json(f, a);
    if (fclose(f) != 0 || rc != 0) {
        free(*out);
        *out = NULL;
        snprintf(e->msg, sizeof e->msg, "live: out of memory for the report");
        return -1;
    }
    return 0;
}

int dxt_live_report(dxt_live *l, int format, char **out, char *err, size_t errlen)
{
    dxt_error e = {{0}};
    dxt_analysis *a = NULL;
    *out = NULL;
    if (l->in->last_step < 0) {
        snprintf(e.msg, sizeof e.msg, "live: no window fed yet");
        live_fail(err, errlen, &e);
        return -2;
    }
    dxt_analysis_opts opts;
    dxt_analysis_opts_init(&opts);
    opts.window_steps = 1; /* each fed window is a window (input/live_input.c) */
    opts.test_window_steps = 1; /* and no other size: the stream is the windows fed */
    int rc = dxt_analysis_run(l->in, &opts, &a, &e);
    if (rc == 0)
        rc = report_string(a, format, out, &e);
    dxt_analysis_free(a);
    return rc == 0 ? 0 : live_fail(err, errlen, &e);
}

void dxt_live_free_string(char *s)
{
    free(s);
}

void dxt_live_free(dxt_live *l)
{
    if (!l)
        return;
    dxt_input_free(l->in);
    free(l);
}
