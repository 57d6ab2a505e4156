/* sim_truth.c - dxt-synth's truth.json (jansson): the config, every injected
 * fault, and the findings dxt-analyze should report, in the report contract's
 * terms (shared/contracts/report.md): kind, op, rank / src+dst / node+ranks,
 * first_step, last_step. Owner: the simulator engineer.
 *
 *   {"format": "dxtrace-truth", "version": 1, "run_id", "world_size", "per_node",
 *    "steps", "seed", "unit", "clock_hz", "counting", "ops", "tokens", "reset_at",
 *    "gap_every", "drop_prob", "noise": {knob: value}, "model": {...},
 *    "static": {"launch_skew": [{"rank", "op", "ns"}]}, "nodes": [{"name", "ranks"}],
 *    "faults": [{"spec", "kind", "op", ..., "onset", "end", "magnitude", "duty"}],
 *    "expected": [{"kind", "op", "rank" | "src","dst" | "node","ranks","as_source",
 *                  "first_step", "last_step", "onset", "end", "pattern", "magnitude",
 *                  "duty", "fault"}]}
 *
 * "expected" has one entry per fault and op in which the fault is on at least
 * once; first/last_step are its first and last step on (onset and end as given,
 * end -1: to the last step). load_imbalance shows in dispatch as the hot rank's
 * row (it receives more) and in combine as its column (it sends more, later):
 * "pattern" says which. "static" lists the healthy model's stable features
 * that are not faults (the launch skew of a few ranks in dispatch). */
#include "sim_truth.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define CYCLES_HZ 1.98e9

/* json_object_set_new that remembers a failure in *bad. */
static void put(json_t *obj, const char *key, json_t *value, int *bad)
{
    if (!value || json_object_set_new(obj, key, value)) *bad = 1;
}

static json_t *node_ranks(const sim_config *c, int node)
{
    json_t *ranks = json_array();
    for (int r = node * c->per_node; ranks && r < c->world && r < (node + 1) * c->per_node; r++)
        if (json_array_append_new(ranks, json_integer(r))) {
            json_decref(ranks);
            return NULL;
        }
    return ranks;
}

static json_t *node_name(int node)
{
    char name[32];
    snprintf(name, sizeof name, "node-%d", node);
    return json_string(name);
}

/* The subject of fault f: rank, src+dst or node+ranks (shared by both lists). */
static void put_subject(json_t *obj, const sim_config *c, const sim_fault *f, int *bad)
{
    switch (f->kind) {
    case SIM_SLOW_PATH:
        put(obj, "src", json_integer(f->src), bad);
        put(obj, "dst", json_integer(f->dst), bad);
        break;
    case SIM_SLOW_NODE:
        put(obj, "node", node_name(f->node), bad);
        put(obj, "ranks", node_ranks(c, f->node), bad);
        put(obj, "as_source", json_boolean(f->as_source), bad);
        break;
    default: put(obj, "rank", json_integer(f->rank), bad); break;
    }
}

static json_t *fault_json(const synth_opts *o, int i, const char *const *op_names)
{
    const sim_fault *f = &o->sim.faults[i];
    json_t *obj = json_object();
    int bad = !obj;
    if (bad) return NULL;
    put(obj, "spec", json_string(o->fault_specs[i] ? o->fault_specs[i] : ""), &bad);
    put(obj, "kind", json_string(sim_kind_str(f->kind)), &bad);
    put(obj, "op", json_string(f->op < 0 ? "all" : op_names[f->op]), &bad);
    put_subject(obj, &o->sim, f, &bad);
    put(obj, "onset", json_integer(f->onset), &bad);
    put(obj, "end", json_integer(f->end), &bad);
    put(obj, "magnitude", json_real(f->magnitude), &bad);
    put(obj, "duty", json_real(f->duty), &bad);
    if (bad) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static const char *pattern_of(const sim_fault *f, int op)
{
    switch (f->kind) {
    case SIM_SLOW_SOURCE: return "column";
    case SIM_SLOW_DESTINATION: return "row";
    case SIM_SLOW_PATH: return "cell";
    case SIM_SLOW_NODE: return f->as_source ? "columns" : "rows";
    default: return op % 2 == 0 ? "row" : "column";
    }
}

/* Append the expected finding of fault i in op, if it is on at all. */
static int add_expected(json_t *list, const synth_opts *o, const sim *model, int i, int op,
                        const char *const *op_names)
{
    const sim_fault *f = &o->sim.faults[i];
    int64_t first = -1, last = -1, stop = o->sim.steps;
    if (f->end >= 0 && f->end < stop) stop = f->end;
    for (int64_t step = f->onset; step < stop; step++) {
        if (!sim_fault_active(model, i, op, step)) continue;
        if (first < 0) first = step;
        last = step;
    }
    if (first < 0) return 0;
    json_t *obj = json_object();
    int bad = !obj;
    if (bad) return -1;
    put(obj, "kind", json_string(sim_kind_str(f->kind)), &bad);
    put(obj, "op", json_string(op_names[op]), &bad);
    put_subject(obj, &o->sim, f, &bad);
    put(obj, "first_step", json_integer(first), &bad);
    put(obj, "last_step", json_integer(last), &bad);
    put(obj, "onset", json_integer(f->onset), &bad);
    put(obj, "end", json_integer(f->end), &bad);
    put(obj, "pattern", json_string(pattern_of(f, op)), &bad);
    put(obj, "magnitude", json_real(f->magnitude), &bad);
    put(obj, "duty", json_real(f->duty), &bad);
    put(obj, "fault", json_integer(i), &bad);
    if (bad || json_array_append_new(list, obj)) {
        if (bad) json_decref(obj);
        return -1;
    }
    return 0;
}

static json_t *model_json(void)
{
    json_t *m = json_object();
    int bad = !m;
    if (bad) return NULL;
    put(m, "wait", json_string("max(0, ready_src + transfer - ready_dst) + floor_ns; NVLink in "
                               "a node ~10x faster than RDMA across; spikes; warm-up; launch "
                               "skew; self-wait on the diagonal (samples/README.md)"), &bad);
    put(m, "slow_source", json_string("late start: column mean wait x magnitude, own row "
                                      "drops"), &bad);
    put(m, "slow_destination", json_string("row x magnitude"), &bad);
    put(m, "slow_path", json_string("cell wait[dst][src] x magnitude"), &bad);
    put(m, "slow_node", json_string("as source: off-node columns x magnitude; as destination: "
                                    "rows x magnitude"), &bad);
    put(m, "load_imbalance", json_string("hot rank's expert popularity x magnitude: tokens and "
                                         "waits follow"), &bad);
    put(m, "duty", json_string("on in 20-step bursts covering duty of the steps"), &bad);
    if (bad) {
        json_decref(m);
        return NULL;
    }
    return m;
}

static json_t *noise_json(const sim_config *c)
{
    json_t *obj = json_object();
    double v;
    const char *name;
    for (int k = 0; obj && (name = sim_noise_knob(c, k, &v)); k++)
        if (json_object_set_new(obj, name, json_real(v))) {
            json_decref(obj);
            return NULL;
        }
    return obj;
}

/* The stable features of the healthy model (not faults). */
static json_t *static_json(const sim *model, const sim_config *c, const char *const *op_names,
                           int nops)
{
    json_t *obj = json_object(), *skews = json_array();
    int bad = !obj || !skews;
    for (int op = 0; !bad && op < nops; op++)
        for (int r = 0; !bad && r < c->world; r++) {
            double ns = sim_launch_skew(model, op, r);
            if (ns <= 0.0) continue;
            json_t *one = json_object();
            bad = !one || json_array_append_new(skews, one);
            put(one, "rank", json_integer(r), &bad);
            put(one, "op", json_string(op_names[op]), &bad);
            put(one, "ns", json_real(ns), &bad);
        }
    put(obj, "launch_skew", json_incref(skews), &bad);
    json_decref(skews);
    if (bad) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static void put_config(json_t *root, const synth_opts *o, const char *const *op_names, int nops,
                       int *bad)
{
    const sim_config *c = &o->sim;
    json_t *ops = json_array(), *nodes = json_array();
    put(root, "format", json_string("dxtrace-truth"), bad);
    put(root, "version", json_integer(1), bad);
    put(root, "run_id", json_string(o->run_id), bad);
    put(root, "world_size", json_integer(c->world), bad);
    put(root, "per_node", json_integer(c->per_node), bad);
    put(root, "steps", json_integer(c->steps), bad);
    put(root, "seed", json_integer((json_int_t)c->seed), bad);
    put(root, "unit", json_string(o->unit == DXTREC_UNIT_NS ? "ns" : "cycles"), bad);
    put(root, "clock_hz", json_real(o->unit == DXTREC_UNIT_NS ? 0.0 : CYCLES_HZ), bad);
    put(root, "counting", json_string(o->counting == DXTREC_DELTA ? "delta" : "cumulative"), bad);
    put(root, "tokens", json_boolean(o->tokens), bad);
    put(root, "reset_at", json_integer(o->reset_at), bad);
    put(root, "gap_every", json_integer(o->gap_every), bad);
    put(root, "tokens_per_rank", json_integer(c->tokens_per_rank), bad);
    put(root, "topk", json_integer(c->topk), bad);
    put(root, "experts_per_rank", json_integer(c->experts_per_rank), bad);
    put(root, "spike_prob", json_real(c->spike_prob), bad);
    put(root, "drop_prob", json_real(o->drop_prob), bad);
    put(root, "noise", noise_json(c), bad);
    put(root, "model", model_json(), bad);
    for (int op = 0; ops && op < nops; op++)
        if (json_array_append_new(ops, json_string(op_names[op]))) *bad = 1;
    put(root, "ops", ops, bad);
    for (int k = 0; nodes && k * c->per_node < c->world; k++) {
        json_t *node = json_object();
        if (!node || json_array_append_new(nodes, node)) *bad = 1;
        if (!node) break;
        put(node, "name", node_name(k), bad);
        put(node, "ranks", node_ranks(c, k), bad);
    }
    put(root, "nodes", nodes, bad);
}

int synth_write_truth(const synth_opts *o, const sim *model, const char *const *op_names,
                      int nops, char *err, size_t errlen)
{
    char path[4096];
    int bad = 0, rc = -1;
    const char *why = "out of memory building the JSON";
    json_t *root = json_object(), *faults = json_array(), *expected = json_array();
    snprintf(path, sizeof path, "%s/truth.json", o->out);
    if (!root || !faults || !expected) goto done;
    put_config(root, o, op_names, nops, &bad);
    for (int i = 0; i < o->sim.nfaults; i++) {
        if (json_array_append_new(faults, fault_json(o, i, op_names))) bad = 1;
        for (int op = 0; op < nops; op++)
            if (add_expected(expected, o, model, i, op, op_names)) bad = 1;
    }
    put(root, "static", static_json(model, &o->sim, op_names, nops), &bad);
    put(root, "faults", json_incref(faults), &bad);
    put(root, "expected", json_incref(expected), &bad);
    if (bad) goto done;
    why = "cannot write the file";
    if (json_dump_file(root, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) goto done;
    rc = 0;
done:
    if (rc) snprintf(err, errlen, "%s: %s", path, why);
    json_decref(root);
    json_decref(faults);
    json_decref(expected);
    return rc;
}
