/* input.c - dxt-analyze's input: kind detection, the messages collected while
 * loading, node grouping by count, and the op stream that hides whether the
 * windows come from a trace or from text.
 * Owner: the loader/report engineer (A2). */
#include "input.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const input_kind_names[] = {
#define DXT_INPUT_STR(id, str, what) str,
    DXT_INPUT_KINDS(DXT_INPUT_STR)
#undef DXT_INPUT_STR
};

const char *dxt_input_kind_str(dxt_input_kind kind)
{
    if ((int)kind < 0 || kind >= DXT_INPUT_KIND_COUNT)
        return "?";
    return input_kind_names[kind];
}

const char *dxt_text_safe(const char *s, char *buf, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t used = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        int plain = *p >= 0x20 && *p < 0x7f && *p != '\\';
        size_t need = plain ? 1 : *p == '\\' ? 2 : 4;
        if (used + need >= cap)
            break;
        if (plain)
            buf[used++] = (char)*p;
        else if (*p == '\\')
            buf[used++] = '\\', buf[used++] = '\\';
        else
            buf[used++] = '\\', buf[used++] = 'x', buf[used++] = hex[*p >> 4],
            buf[used++] = hex[*p & 15];
    }
    if (cap > 0)
        buf[used] = '\0';
    return buf;
}

void dxt_set_error(dxt_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

void dxt_input_opts_init(dxt_input_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->per_node = 8;
    opts->text_op = "dispatch";
}

int dxt_input_warn(dxt_input *in, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    char **grown = realloc(in->warnings, (size_t)(in->nwarnings + 1) * sizeof *grown);
    if (!grown)
        return -1;
    in->warnings = grown;
    in->warnings[in->nwarnings] = strdup(line);
    if (!in->warnings[in->nwarnings])
        return -1;
    in->nwarnings++;
    return 0;
}

int dxt_input_skip(dxt_input *in, const char *path, const char *reason)
{
    dxt_skipped *grown = realloc(in->skipped, (size_t)(in->nskipped + 1) * sizeof *grown);
    if (!grown)
        return -1;
    in->skipped = grown;
    dxt_skipped *s = &in->skipped[in->nskipped];
    s->path = strdup(path);
    s->reason = strdup(reason);
    if (!s->path || !s->reason) {
        free(s->path);
        free(s->reason);
        return -1;
    }
    in->nskipped++;
    return 0;
}

int dxt_input_nodes_by_count(dxt_input *in, int per_node)
{
    int n = in->n;
    int nnodes = (per_node > 0 && n > per_node && n % per_node == 0) ? n / per_node : 1;
    int size = n / nnodes;
    in->node_of = calloc((size_t)n, sizeof *in->node_of);
    in->node_names = calloc((size_t)nnodes, sizeof *in->node_names);
    if (!in->node_of || !in->node_names)
        return -1;
    in->nnodes = nnodes;
    for (int i = 0; i < n; i++)
        in->node_of[i] = i / size;
    for (int k = 0; k < nnodes; k++) {
        char name[32];
        snprintf(name, sizeof name, "node-%d", k);
        in->node_names[k] = strdup(name);
        if (!in->node_names[k])
            return -1;
    }
    return 0;
}

int dxt_input_find_op(const dxt_input *in, const char *name)
{
    for (int k = 0; k < in->nops; k++)
        if (strcmp(in->ops[k], name) == 0)
            return k;
    return -1;
}

int dxt_input_open(const char *path, const dxt_input_opts *opts, dxt_input **out,
                   dxt_error *err)
{
    *out = NULL;
    struct stat st;
    dxt_input *in = NULL;
    int rc = -1;
    if (stat(path, &st) != 0)
        dxt_set_error(err, "%s: no such file or directory", path);
    else if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) /* a FIFO would block the reads */
        dxt_set_error(err, "%s: not a directory or regular file (FIFO, device or socket)", path);
    else if (!(in = calloc(1, sizeof *in)) || !(in->path = strdup(path)))
        dxt_set_error(err, "%s: out of memory", path);
    else
        rc = 0;
    int trace = rc == 0 && (S_ISDIR(st.st_mode) || dxt_is_hdf5_file(path));
    /* a partitioned load exchanges (a trace's files): every process goes on, or none */
    if (opts->partition && opts->partition->count > 1 &&
        dxt_partition_agree(opts->partition, rc, err) != 0)
        rc = -1;
    if (rc != 0) {
        if (in)
            free(in->path);
        free(in);
        return -1;
    }
    in->first_step = in->last_step = -1;
    in->row_every = 1;
    if (trace) {
        in->kind = DXT_INPUT_TRACE;
        rc = dxt_trace_load(in, path, opts, err);
    } else {
        rc = dxt_text_load(in, path, opts, err);
    }
    if (rc != 0) {
        dxt_input_free(in);
        return -1;
    }
    *out = in;
    return 0;
}

void dxt_input_describe(const dxt_input *in, dxt_input_info *info)
{
    int trace = in->kind == DXT_INPUT_TRACE;
    *info = (dxt_input_info){dxt_input_kind_str(in->kind), in->run_id, in->unit, in->n,
                             in->nops, in->nfiles, in->first_step, in->last_step,
                             in->nskipped, trace ? in->complete_step : in->last_step,
                             trace ? in->nwriting : 0, trace ? in->nlegacy : 0};
}

void dxt_input_skipped(const dxt_input *in, int k, const char **path, const char **reason)
{
    int ok = k >= 0 && k < in->nskipped;
    *path = ok ? in->skipped[k].path : "";
    *reason = ok ? in->skipped[k].reason : "";
}

void dxt_input_free(dxt_input *in)
{
    if (!in)
        return;
    dxt_trace_free(in->trace);
    dxt_text_free(in->text);
    dxt_live_state_free(in->live);
    for (int k = 0; in->node_names && k < in->nnodes; k++)
        free(in->node_names[k]);
    free(in->node_names);
    free(in->node_of);
    free(in->rank_present);
    for (int k = 0; k < in->nskipped; k++) {
        free(in->skipped[k].path);
        free(in->skipped[k].reason);
    }
    free(in->skipped);
    free(in->dropped);
    for (int k = 0; k < in->nwarnings; k++)
        free(in->warnings[k]);
    free(in->warnings);
    free(in->path);
    free(in);
}

/* ---- op streams ---------------------------------------------------------------- */

struct dxt_op_stream {
    dxt_input *in;
    int op;
    int64_t from, to, window_steps, next_first;
    dxt_trace_stream *trace;
    size_t live_cursor;      /* live inputs: the next fed window */
    dxt_window own;          /* text and live inputs: the lent window's buffers */
};

int dxt_op_stream_open(dxt_input *in, int op, int64_t from, int64_t to, int64_t window_steps,
                       dxt_op_stream **out, dxt_error *err)
{
    *out = NULL;
    if (op < 0 || op >= in->nops || window_steps < 1) {
        dxt_set_error(err, "%s: bad op or window", in->path);
        return -1;
    }
    dxt_op_stream *s = calloc(1, sizeof *s);
    if (!s) {
        dxt_set_error(err, "%s: out of memory", in->path);
        return -1;
    }
    *s = (dxt_op_stream){in, op, from, to, window_steps, from, NULL, 0, {0}};
    if (in->kind == DXT_INPUT_TRACE &&
        dxt_trace_stream_open(in, op, from, to, window_steps, &s->trace, err) != 0) {
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

static int text_stream_next(dxt_op_stream *s, int64_t *first_step, int64_t *last_step,
                            double *wait, int64_t *rank_rows)
{
    int64_t end = s->in->last_step < s->to ? s->in->last_step : s->to;
    while (s->next_first <= end) {
        int64_t first = s->next_first;
        int64_t last = first + s->window_steps - 1;
        if (last > end)
            last = end;
        s->next_first = last + 1;
        if (dxt_text_window(s->in, s->op, first, last, wait, rank_rows) > 0) {
            *first_step = first;
            *last_step = last;
            return 1;
        }
    }
    return 0;
}

/* A text or live window into the caller's buffers (tokens when the op has them). */
static int own_next(dxt_op_stream *s, int64_t *first_step, int64_t *last_step, double *wait,
                    double *tokens, int64_t *rank_rows, int64_t *rank_steps)
{
    int got = s->in->kind == DXT_INPUT_LIVE
                  ? dxt_live_input_next(s->in, s->op, &s->live_cursor, s->from, s->to,
                                        first_step, last_step, wait, tokens, rank_rows)
                  : text_stream_next(s, first_step, last_step, wait, rank_rows);
    if (got == 1 && rank_steps) /* a matrix is a step; a live window's rows are its steps */
        memcpy(rank_steps, rank_rows, (size_t)s->in->n * sizeof *rank_steps);
    return got;
}

/* The lent window's buffers of a text or live stream (tokens when the op has them). */
static int own_alloc(dxt_op_stream *s, dxt_error *err)
{
    size_t n = (size_t)s->in->n;
    dxt_window *w = &s->own;
    if (!w->wait && !(w->wait = malloc(n * n * sizeof *w->wait)))
        goto oom;
    if (s->in->op_has_tokens[s->op] && !w->tokens &&
        !(w->tokens = calloc(n * n, sizeof *w->tokens)))
        goto oom;
    if ((!w->rank_rows && !(w->rank_rows = malloc(n * sizeof *w->rank_rows))) ||
        (!w->rank_steps && !(w->rank_steps = malloc(n * sizeof *w->rank_steps))))
        goto oom;
    return 0;
oom:
    dxt_set_error(err, "%s: out of memory for a window of %zu ranks", s->in->path, n);
    return -1;
}

int dxt_op_stream_lend(dxt_op_stream *s, dxt_window *w, dxt_error *err)
{
    if (s->trace)
        return dxt_trace_stream_lend(s->trace, w, err);
    if (own_alloc(s, err) < 0)
        return -1;
    *w = s->own;
    return own_next(s, &w->first_step, &w->last_step, w->wait, w->tokens, w->rank_rows,
                    w->rank_steps);
}

int dxt_op_stream_next_steps(dxt_op_stream *s, int64_t *first_step, int64_t *last_step,
                             double *wait, double *tokens, int64_t *rank_rows,
                             int64_t *rank_steps, dxt_error *err)
{
    if (!s->trace)
        return own_next(s, first_step, last_step, wait, tokens, rank_rows, rank_steps);
    dxt_window w;
    int got = dxt_trace_stream_lend(s->trace, &w, err);
    if (got != 1)
        return got;
    size_t n = (size_t)s->in->n;
    *first_step = w.first_step;
    *last_step = w.last_step;
    memcpy(wait, w.wait, n * n * sizeof *wait);
    if (tokens && w.tokens)
        memcpy(tokens, w.tokens, n * n * sizeof *tokens);
    else if (tokens)
        memset(tokens, 0, n * n * sizeof *tokens);
    memcpy(rank_rows, w.rank_rows, n * sizeof *rank_rows);
    if (rank_steps)
        memcpy(rank_steps, w.rank_steps, n * sizeof *rank_steps);
    return 1;
}

int dxt_op_stream_next(dxt_op_stream *s, int64_t *first_step, int64_t *last_step,
                       double *wait, double *tokens, int64_t *rank_rows, dxt_error *err)
{
    return dxt_op_stream_next_steps(s, first_step, last_step, wait, tokens, rank_rows, NULL,
                                    err);
}

double dxt_op_stream_progress(const dxt_op_stream *s)
{
    if (s->trace)
        return dxt_trace_stream_progress(s->trace);
    double span = (double)s->in->last_step - (double)s->from + 1; /* steps: any int64 */
    return span > 0 ? ((double)s->next_first - (double)s->from) / span : 1.0;
}

void dxt_op_stream_close(dxt_op_stream *s)
{
    if (!s)
        return;
    dxt_trace_stream_close(s->trace);
    free(s->own.wait);
    free(s->own.tokens);
    free(s->own.rank_rows);
    free(s->own.rank_steps);
    free(s);
}
