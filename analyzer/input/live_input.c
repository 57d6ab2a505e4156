/* live_input.c - the live input: N x N windows fed by a running job (the live
 * diagnosis of python/dxtrace/diagnose.py, through live.c), kept in memory
 * and streamed to the analysis like any other input, one fed window per
 * analysis window.
 *
 * Ownership: the input owns a ring per op of the newest windows (their sums,
 * tokens when fed, rows per rank). The ring's capacity is
 * DXT_LIVE_MAX_WINDOWS, or fewer for large worlds so that an op holds at most
 * DXT_LIVE_BYTES; the oldest window is forgotten first.
 * Owner: the analysis engineers (analyzer/). */
#include "input.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DXT_LIVE_BYTES (256.0 * 1024 * 1024) /* per op */

typedef struct live_window {
    int64_t first, last;
    double *wait, *tokens; /* n x n; tokens NULL when the op has none */
    int64_t *rows;         /* n */
} live_window;

typedef struct live_op {
    live_window *ring;
    size_t head, count;    /* oldest window at head */
} live_op;

struct dxt_live_state {
    size_t capacity;       /* windows per op */
    live_op ops[DXT_MAX_OPS];
};

static void window_free(live_window *w)
{
    free(w->wait);
    free(w->tokens);
    free(w->rows);
    memset(w, 0, sizeof *w);
}

void dxt_live_state_free(dxt_live_state *s)
{
    if (!s)
        return;
    for (int op = 0; op < DXT_MAX_OPS; op++) {
        for (size_t k = 0; s->ops[op].ring && k < s->capacity; k++)
            window_free(&s->ops[op].ring[k]);
        free(s->ops[op].ring);
    }
    free(s);
}

static int live_topology(dxt_input *in, const int *node_of, int per_node, dxt_error *err)
{
    if (!node_of)
        return dxt_input_nodes_by_count(in, per_node > 0 ? per_node : 8);
    int nnodes = 0;
    for (int i = 0; i < in->n; i++) {
        if (node_of[i] < 0 || node_of[i] >= in->n) {
            dxt_set_error(err, "live: node_of[%d] = %d: node indices are 0 .. %d", i,
                          node_of[i], in->n - 1);
            return -1;
        }
        nnodes = node_of[i] + 1 > nnodes ? node_of[i] + 1 : nnodes;
    }
    in->node_of = malloc((size_t)in->n * sizeof *in->node_of);
    in->node_names = calloc((size_t)nnodes, sizeof *in->node_names);
    if (!in->node_of || !in->node_names)
        return -1;
    memcpy(in->node_of, node_of, (size_t)in->n * sizeof *node_of);
    in->nnodes = nnodes;
    for (int k = 0; k < nnodes; k++) {
        char name[32];
        snprintf(name, sizeof name, "node-%d", k);
        if (!(in->node_names[k] = strdup(name)))
            return -1;
    }
    return 0;
}

static int live_check(const char *run_id, int n, int nops, const char *const *ops,
                      const char *unit, dxt_error *err)
{
    if (n < 2 || n > 16384) {
        dxt_set_error(err, "live: world size %d: 2 .. 16384 ranks", n);
        return -1;
    }
    if (nops < 1 || nops > DXT_MAX_OPS || !ops) {
        dxt_set_error(err, "live: %d ops: 1 .. %d", nops, DXT_MAX_OPS);
        return -1;
    }
    for (int k = 0; k < nops; k++)
        if (!ops[k] || !ops[k][0] || strlen(ops[k]) >= DXT_OP_NAME_MAX) {
            dxt_set_error(err, "live: op %d: a name of 1 .. %d characters", k,
                          DXT_OP_NAME_MAX - 1);
            return -1;
        }
    if (unit && strcmp(unit, "us") && strcmp(unit, "cycles")) {
        dxt_set_error(err, "live: unit '%s': us or cycles", unit);
        return -1;
    }
    if (run_id && strlen(run_id) >= DXT_STR_MAX) {
        dxt_set_error(err, "live: run id longer than %d characters", DXT_STR_MAX - 1);
        return -1;
    }
    return 0;
}

int dxt_live_input_new(const char *run_id, int n, const int *node_of, int per_node, int nops,
                       const char *const *ops, const char *unit, dxt_input **out,
                       dxt_error *err)
{
    *out = NULL;
    if (live_check(run_id, n, nops, ops, unit, err) != 0)
        return -1;
    dxt_input *in = calloc(1, sizeof *in);
    if (!in || !(in->path = strdup("diagnosis")) || !(in->live = calloc(1, sizeof *in->live)) ||
        !(in->rank_present = calloc((size_t)n, 1)))
        goto nomem;
    in->kind = DXT_INPUT_LIVE;
    in->n = n;
    in->first_step = in->last_step = -1;
    in->row_every = 1;
    snprintf(in->run_id, sizeof in->run_id, "%s", run_id ? run_id : "live");
    snprintf(in->unit, sizeof in->unit, "%s", unit ? unit : "cycles");
    in->nops = nops;
    for (int k = 0; k < nops; k++)
        snprintf(in->ops[k], sizeof in->ops[k], "%s", ops[k]);
    double per_window = (double)n * n * sizeof(double) * 2 + (double)n * sizeof(int64_t);
    double fit = DXT_LIVE_BYTES / per_window;
    in->live->capacity = fit >= DXT_LIVE_MAX_WINDOWS ? DXT_LIVE_MAX_WINDOWS
                         : fit < 16                  ? 16
                                                     : (size_t)fit;
    err->msg[0] = '\0';
    if (live_topology(in, node_of, per_node, err) != 0) {
        if (err->msg[0])
            goto fail;
        goto nomem;
    }
    *out = in;
    return 0;
nomem:
    dxt_set_error(err, "live: out of memory for %d ranks", n);
fail:
    dxt_input_free(in);
    return -1;
}

/* The slot the next window of o goes to: a free one, or the oldest reused. */
static live_window *next_slot(dxt_live_state *s, live_op *o)
{
    if (!o->ring && !(o->ring = calloc(s->capacity, sizeof *o->ring)))
        return NULL;
    if (o->count < s->capacity)
        return &o->ring[(o->head + o->count++) % s->capacity];
    live_window *w = &o->ring[o->head];
    o->head = (o->head + 1) % s->capacity;
    return w;
}

static int add_check(const dxt_input *in, int op, int64_t first, int64_t last,
                     const double *wait, const double *tokens, dxt_error *err)
{
    if (op < 0 || op >= in->nops || !wait || first > last) {
        dxt_set_error(err, "live: bad window (op %d, steps %lld .. %lld)", op,
                      (long long)first, (long long)last);
        return -1;
    }
    const live_op *o = &in->live->ops[op];
    if (o->count) {
        const live_window *prev = &o->ring[(o->head + o->count - 1) % in->live->capacity];
        if (first <= prev->last) {
            dxt_set_error(err, "live: op '%s': window %lld .. %lld does not follow the last "
                          "one (%lld .. %lld): windows come in step order", in->ops[op],
                          (long long)first, (long long)last, (long long)prev->first,
                          (long long)prev->last);
            return -1;
        }
        if (!tokens != !prev->tokens) {
            dxt_set_error(err, "live: op '%s': tokens given for some windows only",
                          in->ops[op]);
            return -1;
        }
    }
    return 0;
}

int dxt_live_input_add(dxt_input *in, int op, int64_t first, int64_t last, const double *wait,
                       const double *tokens, const int64_t *rank_rows, dxt_error *err)
{
    if (add_check(in, op, first, last, wait, tokens, err) != 0)
        return -1;
    size_t n = (size_t)in->n, nn = n * n;
    live_window *w = next_slot(in->live, &in->live->ops[op]);
    if (!w || (!w->wait && !(w->wait = malloc(nn * sizeof *w->wait))) ||
        (!w->rows && !(w->rows = malloc(n * sizeof *w->rows))) ||
        (tokens && !w->tokens && !(w->tokens = malloc(nn * sizeof *w->tokens)))) {
        dxt_set_error(err, "live: out of memory for a window of %zu ranks", n);
        return -1;
    }
    w->first = first;
    w->last = last;
    for (size_t k = 0; k < nn; k++) /* negative or NAN: no value (the stream's 0) */
        w->wait[k] = wait[k] > 0 ? wait[k] : 0;
    if (tokens)
        for (size_t k = 0; k < nn; k++)
            w->tokens[k] = tokens[k] > 0 ? tokens[k] : 0;
    for (size_t i = 0; i < n; i++) {
        w->rows[i] = rank_rows ? (rank_rows[i] > 0 ? rank_rows[i] : 0) : last - first + 1;
        in->rank_present[i] |= w->rows[i] > 0;
    }
    in->op_has_tokens[op] = tokens != NULL;
    if (in->first_step < 0 || first < in->first_step)
        in->first_step = first;
    if (last > in->last_step)
        in->last_step = last;
    return 0;
}

int dxt_live_input_next(const dxt_input *in, int op, size_t *cursor, int64_t from, int64_t to,
                        int64_t *first, int64_t *last, double *wait, double *tokens,
                        int64_t *rank_rows)
{
    const dxt_live_state *s = in->live;
    const live_op *o = &s->ops[op];
    size_t n = (size_t)in->n, nn = n * n;
    for (; *cursor < o->count; (*cursor)++) {
        const live_window *w = &o->ring[(o->head + *cursor) % s->capacity];
        if (w->first < from || w->last > to)
            continue;
        (*cursor)++;
        *first = w->first;
        *last = w->last;
        memcpy(wait, w->wait, nn * sizeof *wait);
        if (tokens && w->tokens)
            memcpy(tokens, w->tokens, nn * sizeof *tokens);
        memcpy(rank_rows, w->rows, n * sizeof *rank_rows);
        return 1;
    }
    return 0;
}
