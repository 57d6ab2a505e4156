/* partition.c - a partitioned run (dxt_partition, dxtanalysis.h): the feed of
 * windows (partition.h), serial, or merged from every process's rows at process 0,
 * with the warnings of the others' streams (the blocks and the agreement on a
 * result: input/load_parts.c). No MPI here: the exchanges are the hooks.
 * Owner: the parallel-analysis engineer (issue 15). */
#include "partition.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- the feed ------------------------------------------------------------------------ */

/* Each process's block: its ranks of a trace; a text input is read by process 0 alone. */
static void feed_blocks(dxt_feed *f)
{
    const dxt_partition *p = f->part;
    for (int k = 0; k < p->count; k++) {
        int first = 0, end = k == 0 ? f->n : 0;
        if (f->in->kind == DXT_INPUT_TRACE)
            dxt_partition_share(f->n, p->count, k, &first, &end);
        f->block_first[k] = first;
        f->block_rows[k] = end - first;
    }
}

/* The partitioned open: buffers, then this process's stream of its block. A
 * failure is kept for the first round. */
static void feed_open_block(dxt_feed *f, int op, int64_t from, int64_t to, int64_t window_steps)
{
    size_t n = (size_t)f->n;
    int me = f->part->index;
    dxt_window *m = &f->merged;
    if (me == 0) {
        m->wait = malloc(n * n * sizeof *m->wait);
        m->rank_rows = malloc(n * sizeof *m->rank_rows);
        m->rank_steps = malloc(n * sizeof *m->rank_steps);
        if (f->with_tokens)
            m->tokens = malloc(n * n * sizeof *m->tokens);
    }
    f->row_bytes = n * (f->with_tokens ? 2 : 1) * sizeof(double) + 2 * sizeof(int64_t);
    f->packed = malloc(n * f->row_bytes);
    feed_blocks(f);
    if (!f->packed || (me == 0 && (!m->wait || !m->rank_rows || !m->rank_steps ||
                                   (f->with_tokens && !m->tokens)))) {
        dxt_set_error(&f->local, "%s: out of memory for the window buffers of %d ranks",
                      f->in->path, f->n);
        f->failed = 1;
        return;
    }
    if (f->block_rows[me] == 0) {
        f->ended = 1; /* nothing to read here */
        return;
    }
    dxt_input *in = f->in;
    in->stream_part = 1;
    in->stream_first = f->block_first[me];
    in->stream_end = f->block_first[me] + f->block_rows[me];
    if (dxt_op_stream_open(in, op, from, to, window_steps, &f->s, &f->local) != 0)
        f->failed = 1;
    in->stream_part = 0;
}

int dxt_feed_open(dxt_feed *f, dxt_input *in, int op, int64_t from, int64_t to,
                  int64_t window_steps, const dxt_partition *part, dxt_error *err)
{
    memset(f, 0, sizeof *f);
    f->in = in;
    f->n = in->n;
    f->with_tokens = in->op_has_tokens[op];
    f->nwarnings = in->nwarnings;
    f->part = part && part->count > 1 ? part : NULL;
    if (f->part && dxt_partition_too_many(f->part, err)) { /* the same everywhere: no round */
        f->part = NULL;
        return -1;
    }
    if (!f->part)
        return dxt_op_stream_open(in, op, from, to, window_steps, &f->s, err);
    feed_open_block(f, op, from, to, window_steps);
    return 0;
}

/* Read this process's next window when it holds none. */
static void feed_read_ahead(dxt_feed *f)
{
    if (f->failed || f->ended || f->have_pending)
        return;
    int got = dxt_op_stream_lend(f->s, &f->pend, &f->local);
    if (got < 0)
        f->failed = 1;
    else if (got == 0)
        f->ended = 1;
    else
        f->have_pending = 1;
}

/* Process 0's window before the gather: its own rows when it sends, zeros in the
 * blocks of the processes that send none. */
static void root_place(dxt_feed *f)
{
    size_t n = (size_t)f->n;
    const dxt_window *p = &f->pend;
    dxt_window *m = &f->merged;
    for (int k = 0; k < f->part->count; k++) {
        size_t first = (size_t)f->block_first[k], nrows = (size_t)f->block_rows[k];
        int own = k == 0 && f->send_rows[k] > 0;
        if (own) {
            memcpy(m->wait + first * n, p->wait + first * n, nrows * n * sizeof *m->wait);
            memcpy(m->rank_rows + first, p->rank_rows + first, nrows * sizeof *m->rank_rows);
            memcpy(m->rank_steps + first, p->rank_steps + first, nrows * sizeof *m->rank_steps);
        } else if (f->send_rows[k] == 0) {
            memset(m->wait + first * n, 0, nrows * n * sizeof *m->wait);
            memset(m->rank_rows + first, 0, nrows * sizeof *m->rank_rows);
            memset(m->rank_steps + first, 0, nrows * sizeof *m->rank_steps);
        }
        if (f->with_tokens && own)
            memcpy(m->tokens + first * n, p->tokens + first * n, nrows * n * sizeof *m->tokens);
        else if (f->with_tokens && f->send_rows[k] == 0)
            memset(m->tokens + first * n, 0, nrows * n * sizeof *m->tokens);
    }
}

/* Rank i's row of a window between the separate buffers and the packed one (a
 * row: wait, tokens when the op has them, rows, steps), packing when to_packed. */
static void move_row(dxt_feed *f, size_t i, int to_packed, const dxt_window *w)
{
    size_t n = (size_t)f->n;
    char *at = f->packed + i * f->row_bytes;
    void *part[4] = {w->wait + i * n, f->with_tokens ? w->tokens + i * n : NULL,
                     w->rank_rows + i, w->rank_steps + i};
    size_t len[4] = {n * sizeof(double), n * sizeof(double), sizeof(int64_t), sizeof(int64_t)};
    for (int k = 0; k < 4; k++) {
        if (!part[k])
            continue;
        if (to_packed)
            memcpy(at, part[k], len[k]);
        else
            memcpy(part[k], at, len[k]);
        at += len[k];
    }
}

/* The rows of the processes that hold window `first` go to process 0, in one
 * gather: each rank's row packed with its tokens, rows and steps. */
static int feed_gather(dxt_feed *f, int64_t first, dxt_error *err)
{
    const dxt_partition *p = f->part;
    int root = p->index == 0, me = p->index;
    for (int k = 0; k < p->count; k++)
        f->send_rows[k] = f->all[3 * k + 1] == first ? f->block_rows[k] : 0;
    if (root)
        root_place(f);
    for (int i = f->block_first[me]; !root && i < f->block_first[me] + f->send_rows[me]; i++)
        move_row(f, (size_t)i, 1, &f->pend);
    if (p->gather_rows(p->user, f->packed, f->row_bytes, f->block_first, f->send_rows) != 0)
        return dxt_partition_failed(err);
    for (int k = 1; root && k < p->count; k++)
        for (int i = f->block_first[k]; i < f->block_first[k] + f->send_rows[k]; i++)
            move_row(f, (size_t)i, 0, &f->merged);
    if (f->have_pending && f->pend.first_step == first)
        f->have_pending = 0;
    return 0;
}

/* One round: 1 with a window (process 0: f->merged), 2 a window went to process 0
 * (the others), 0 every process is done, -1 one failed (the agreed error in err). */
static int feed_round(dxt_feed *f, dxt_error *err)
{
    const dxt_partition *p = f->part;
    feed_read_ahead(f);
    int64_t mine[3] = {f->failed ? -1 : 0, f->have_pending ? f->pend.first_step : INT64_MAX,
                       f->have_pending ? f->pend.last_step : INT64_MAX};
    if (f->failed)
        *err = f->local;
    if (p->allgather(p->user, mine, 3, f->all) != 0 ||
        dxt_partition_settle(p, f->all, 3, err) != 0) {
        f->over = 1;
        return -1;
    }
    int64_t g = INT64_MAX, glast = INT64_MAX;
    for (int k = 0; k < p->count; k++)
        if (f->all[3 * k + 1] < g)
            g = f->all[3 * k + 1], glast = f->all[3 * k + 2];
    if (g == INT64_MAX) { /* no process holds a window (a real one may start there: */
        f->over = 1;      /* windows end at or before `to`, and a stream never gives */
        return 0;         /* one starting at INT64_MAX unless to is INT64_MAX itself) */
    }
    if (feed_gather(f, g, err) != 0) {
        f->over = 1;
        return -1;
    }
    f->merged.first_step = g;
    f->merged.last_step = glast;
    return p->index == 0 ? 1 : 2;
}

int dxt_feed_next(dxt_feed *f, dxt_window *w, dxt_error *err)
{
    if (!f->part)
        return dxt_op_stream_lend(f->s, w, err);
    int rc = 2;
    while (rc == 2 && !f->over)
        rc = feed_round(f, err);
    if (rc == 1)
        *w = f->merged;
    return rc == 2 ? 0 : rc;
}

double dxt_feed_progress(const dxt_feed *f)
{
    return f->s ? dxt_op_stream_progress(f->s) : 1.0;
}

/* The warnings this process's stream added (its ranks'), to process 0's input
 * after its own: in process order, which is rank order. */
static int gather_warnings(dxt_feed *f, dxt_error *err)
{
    const dxt_partition *p = f->part;
    dxt_input *in = f->in;
    int64_t len = 0, lens[DXT_PARTITION_MAX], total = 0;
    int first[DXT_PARTITION_MAX], size[DXT_PARTITION_MAX];
    for (int k = f->nwarnings; k < in->nwarnings; k++)
        len += (int64_t)strlen(in->warnings[k]) + 1;
    if (p->allgather(p->user, &len, 1, lens) != 0)
        return dxt_partition_failed(err);
    for (int k = 0; k < p->count; k++) {
        first[k] = (int)total;
        size[k] = (int)lens[k];
        total += lens[k];
    }
    char *buf = total > 0 && total < INT_MAX ? malloc((size_t)total) : NULL;
    if (!buf && total > 0)
        dxt_set_error(err, "%s: out of memory for the warnings of %lld bytes", in->path,
                      (long long)total);
    int rc = dxt_partition_agree(p, buf || total == 0 ? 0 : -1, err);
    if (rc != 0 || total == 0) {
        free(buf);
        return rc;
    }
    char *at = buf + first[p->index];
    for (int k = f->nwarnings; k < in->nwarnings; k++)
        at = stpcpy(at, in->warnings[k]) + 1;
    if (p->gather_rows(p->user, buf, 1, first, size) != 0)
        rc = dxt_partition_failed(err);
    for (int64_t at0 = lens[0]; rc == 0 && p->index == 0 && at0 < total;
         at0 += (int64_t)strlen(buf + at0) + 1)
        (void)dxt_input_warn(in, "%s", buf + at0); /* as the serial stream: best effort */
    free(buf);
    return rc;
}

int dxt_feed_close(dxt_feed *f, int rc, dxt_error *err)
{
    if (f->part && !f->over) { /* failed before the rounds ended: tell the others */
        if (rc == 0)
            dxt_set_error(err, "%s: windows left unread", f->in->path);
        f->local = *err;
        f->failed = 1;
        rc = feed_round(f, err);
    }
    dxt_op_stream_close(f->s); /* its warnings go to the input */
    f->s = NULL;
    if (f->part && rc == 0)
        rc = gather_warnings(f, err);
    free(f->merged.wait);
    free(f->merged.tokens);
    free(f->merged.rank_rows);
    free(f->merged.rank_steps);
    free(f->packed);
    return rc;
}
