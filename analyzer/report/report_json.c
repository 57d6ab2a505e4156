/* report_json.c - dxt-analyze --format json: the report of
 * shared/contracts/report.md (format, version, run_id, world_size, unit,
 * steps, findings with kind, op, rank | src+dst | node+ranks, first_step,
 * last_step, severity, score), plus extensions: per finding share, excess,
 * persistent, windows_flagged, windows_seen, test_window_steps (the steps of
 * the windows those count) and "as" for slow_node; at the
 * top generator (tool and version), input, window_steps, test_window_steps,
 * nodes, ops, skipped, dropped, warnings. Every field: docs/report.schema.json.
 * Reals keep full precision (17 significant digits). Built with
 * jansson. Owner: the loader/report engineer (A2). */
#include "report.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* json_real refuses NAN and infinities: those become null. */
static json_t *real_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* Set key to value (stolen); a NULL value marks the whole object bad. */
json_t *dxt_json_text(const char *s)
{
    json_t *j = json_string(s ? s : "");
    if (j)
        return j;
    size_t cap = 4 * strlen(s) + 1;
    char *safe = malloc(cap);
    if (safe) {
        j = json_string(dxt_text_safe(s, safe, cap));
        free(safe);
    }
    return j;
}

static int put(json_t *obj, const char *key, json_t *value)
{
    return value ? json_object_set_new(obj, key, value) : -1;
}

static json_t *node_rank_list(const dxt_analysis *a, int node)
{
    json_t *ranks = json_array();
    for (int i = 0; ranks && i < a->in->n; i++)
        if (a->topo.node_of[i] == node && json_array_append_new(ranks, json_integer(i)) != 0) {
            json_decref(ranks);
            return NULL;
        }
    return ranks;
}

static int put_subject(json_t *o, const dxt_analysis *a, const dxt_finding *f)
{
    switch (f->kind) {
    case DXT_SLOW_PATH:
        return put(o, "src", json_integer(f->src)) | put(o, "dst", json_integer(f->dst));
    case DXT_SLOW_NODE:
        return put(o, "node", dxt_json_text(f->node >= 0 && f->node < a->topo.nnodes
                                                ? a->topo.node_names[f->node]
                                                : "?")) |
               put(o, "ranks", node_rank_list(a, f->node)) |
               put(o, "as", json_string(f->as_source ? "source" : "destination"));
    default:
        return put(o, "rank", json_integer(f->rank));
    }
}

int dxt_finding_json_put(json_t *o, const dxt_analysis *a, const dxt_finding *f, int measures)
{
    int bad = put(o, "kind", json_string(dxt_kind_str(f->kind))) |
              put(o, "op", dxt_json_text(f->op)) | put_subject(o, a, f) |
              put(o, "first_step", json_integer(f->first_step)) |
              put(o, "last_step", json_integer(f->last_step));
    if (!bad && measures)
        bad = put(o, "severity", real_or_null(f->severity)) |
              put(o, "score", real_or_null(f->score)) |
              put(o, "p_value", real_or_null(f->p_value)) |
              put(o, "share", real_or_null(f->share)) |
              put(o, "excess", real_or_null(f->excess)) |
              put(o, "persistent", json_boolean(f->persistent)) |
              put(o, "windows_flagged", json_integer(f->windows_flagged)) |
              put(o, "windows_seen", json_integer(f->windows_seen)) |
              (f->window_steps > 0 ? put(o, "test_window_steps", json_integer(f->window_steps))
                                   : 0);
    return bad ? -1 : 0;
}

static json_t *finding_json(const dxt_analysis *a, const dxt_finding *f)
{
    json_t *o = json_object();
    if (o && dxt_finding_json_put(o, a, f, 1) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *findings_json(const dxt_analysis *a)
{
    const dxt_finding **fs = NULL;
    int count = dxt_ranked_findings(a, &fs);
    json_t *arr = count >= 0 ? json_array() : NULL;
    for (int m = 0; arr && m < count; m++)
        if (json_array_append_new(arr, finding_json(a, fs[m])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    free(fs);
    return arr;
}

static json_t *ops_json(const dxt_analysis *a)
{
    json_t *arr = json_array();
    for (int k = 0; arr && k < a->nops; k++) {
        const dxt_op_result *r = &a->ops[k];
        dxt_op_summary s;
        json_t *o = json_object();
        if (!o || dxt_op_summarize(a, r, &s) != 0 || json_array_append_new(arr, o) != 0 ||
            (put(o, "name", dxt_json_text(r->name)) | put(o, "windows", json_integer(r->windows)) |
             put(o, "first_step", json_integer(r->first_step)) |
             put(o, "last_step", json_integer(r->last_step)) |
             put(o, "tokens", json_boolean(a->in->op_has_tokens[r->input_op])) |
             put(o, "intra_node_median", real_or_null(s.intra_median)) |
             put(o, "inter_node_median", real_or_null(s.inter_median)))) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *notes_json(const dxt_input *in, json_t *top)
{
    json_t *skipped = json_array(), *dropped = json_array(), *warnings = json_array();
    int bad = put(top, "skipped", skipped) | put(top, "dropped", dropped) |
              put(top, "warnings", warnings);
    for (int k = 0; !bad && k < in->nskipped; k++) {
        json_t *o = json_object();
        bad = json_array_append_new(skipped, o) | put(o, "file", dxt_json_text(in->skipped[k].path)) |
              put(o, "reason", dxt_json_text(in->skipped[k].reason));
    }
    for (int k = 0; !bad && k < in->ndropped; k++) {
        const dxt_dropped *d = &in->dropped[k];
        json_t *o = json_object();
        bad = json_array_append_new(dropped, o) | put(o, "rank", json_integer(d->rank)) |
              put(o, "op", dxt_json_text(d->op)) | put(o, "rows", json_integer(d->rows)) |
              put(o, "first_step", json_integer(d->first_step)) |
              put(o, "last_step", json_integer(d->last_step));
    }
    for (int k = 0; !bad && k < in->nwarnings; k++)
        bad = json_array_append_new(warnings, dxt_json_text(in->warnings[k]));
    return bad ? NULL : top;
}

static json_t *nodes_json(const dxt_analysis *a)
{
    json_t *arr = json_array();
    for (int k = 0; arr && k < a->topo.nnodes; k++) {
        json_t *o = json_object();
        if (json_array_append_new(arr, o) != 0 ||
            (put(o, "name", dxt_json_text(a->topo.node_names[k])) |
             put(o, "ranks", node_rank_list(a, k)))) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

int dxt_report_json(FILE *out, const dxt_analysis *a)
{
    const dxt_input *in = a->in;
    int64_t first = a->from, last = a->to;
    json_t *top = json_object(), *steps = json_object();
    int rc = -1;
    if (!top || put(top, "format", json_string("dxtrace-report")) |
                    put(top, "version", json_integer(1)) |
                    put(top, "generator", json_string("dxt-analyze " DXT_VERSION)) |
                    put(top, "run_id", dxt_json_text(in->run_id)) |
                    put(top, "world_size", json_integer(in->n)) |
                    put(top, "unit", dxt_json_text(in->unit)) | put(top, "steps", steps) |
                    put(steps, "first", json_integer(first)) |
                    put(steps, "last", json_integer(last)) |
                    put(top, "findings", findings_json(a)) |
                    put(top, "input", json_string(dxt_input_kind_str(in->kind))) |
                    put(top, "window_steps", json_integer(a->window_steps)) |
                    put(top, "test_window_steps", json_integer(a->test_steps)) |
                    put(top, "nodes", nodes_json(a)) | put(top, "ops", ops_json(a)))
        goto fail;
    if (!notes_json(in, top))
        goto fail;
    if (json_dumpf(top, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER /* 17 digits: nothing lost */) != 0 || fputc('\n', out) < 0)
        goto fail;
    rc = 0;
fail:
    json_decref(top);
    return rc;
}
