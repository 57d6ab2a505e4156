/* load_stream.c - the windows of one op of a trace, streamed: each rank's rows
 * are read in blocks (dxt_reader_read) from its segments in step order, turned
 * into per-step deltas (cumulative counters: the difference to the previous
 * row; a row where any value went down is a counter reset and counts as it
 * is; the first row counts as it is), converted to the input's unit (cycles /
 * clock_hz, per-row clock_hz when recorded; ns / 1000) and summed per window,
 * with the rows and the steps they cover (a row every K steps covers K; a
 * recorded drop's steps are not covered: row_steps) of each rank.
 * Rows whose step is not after the rank's last step (overlapping segments) are
 * duplicates: skipped, counted, reported at close. Memory: O(N^2) (the previous
 * row of every rank) plus one block buffer per rank and a few spare ones.
 * Blocks are read ahead (load_blocks.c): when a rank's block is used up, the
 * next one is usually decoded already, and the blocks of the next ranks are
 * started (HDF5 here, decoding in the pool's threads) while this one is summed.
 * Owner: the loader/report engineer (A2). */
#include "load_blocks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STREAM_BUDGET_BYTES (128u << 20) /* all block buffers together, when it fits */
#define STREAM_CHUNK_BYTES (256u << 10)   /* the writer's chunk of one dataset (about) */
#define STREAM_MAX_BLOCK 4096

typedef struct rank_cursor {
    int nseg, seg;          /* segments (file indices) in step order, the current one */
    int *segs;
    int64_t next_row;       /* next row of the current segment to read (start) */
    dxt_block *cur, *next;  /* the rows being taken; the next block, read ahead (or NULL) */
    int64_t buf_pos;        /* next row of cur to take */
    int64_t *prev_wait, *prev_tokens;
    int have_prev, have_prev_tokens;
    int64_t last_step;      /* last step taken; INT64_MIN before the first */
    int64_t stride;         /* steps the last row without a drop before it covered */
    int64_t duplicates;
    int64_t impossible;     /* values ignored: negative, or more than DXT_MAX_STEP_VALUE a step */
    const char *impossible_path;
    double last_hz;
} rank_cursor;

/* No real counter grows this much in one step (2^53 cycles: 52 days at 2 GHz):
 * a larger step, or a negative value, is damage and is ignored (and reported). */
#define DXT_MAX_STEP_VALUE ((uint64_t)1 << 53)

struct dxt_trace_stream {
    dxt_input *in;
    int op, n, with_tokens;
    int64_t from, to, window_steps, block, done_to;
    rank_cursor *ranks;
    dxt_block *spares;      /* free blocks for reading ahead */
    int lookahead;          /* ranks after the one refilled whose next block is started */
};

/* Spare blocks per decoding thread: enough to keep the threads busy while the
 * loader sums (each block: a chunk or so of each dataset). */
#define STREAM_SPARES_PER_THREAD 4

static int cmp_segments(const void *a, const void *b, void *ctx)
{
    const dxt_trace_stream *s = ctx;
    const dxt_trace_file *fa = &s->in->trace->files[*(const int *)a];
    const dxt_trace_file *fb = &s->in->trace->files[*(const int *)b];
    int64_t x = fa->op_first[s->op], y = fb->op_first[s->op];
    if (x != y)
        return x < y ? -1 : 1;
    return strcmp(fa->path, fb->path);
}

static int cursor_init(dxt_trace_stream *s, rank_cursor *c, int rank)
{
    const dxt_trace_state *t = s->in->trace;
    size_t n = (size_t)s->n, b = (size_t)s->block;
    c->last_step = INT64_MIN;
    c->stride = 1;
    if (s->in->stream_part && (rank < s->in->stream_first || rank >= s->in->stream_end))
        return 0; /* another process reads this rank (run/partition.c): no rows here */
    c->segs = calloc((size_t)t->nfiles, sizeof *c->segs);
    if (!c->segs)
        return -1;
    for (int k = 0; k < t->nfiles; k++)
        if (t->files[k].rank == rank && t->files[k].op_index[s->op] >= 0)
            c->segs[c->nseg++] = k;
    if (c->nseg == 0)
        return 0; /* no rows: no buffers */
    qsort_r(c->segs, (size_t)c->nseg, sizeof *c->segs, cmp_segments, s);
    c->cur = dxt_block_alloc((int64_t)b, (int64_t)n, s->with_tokens);
    c->prev_wait = malloc(n * sizeof *c->prev_wait);
    if (!c->cur || !c->prev_wait)
        return -1;
    if (s->with_tokens && !(c->prev_tokens = malloc(n * sizeof *c->prev_tokens)))
        return -1;
    return 0;
}

static void cursor_free(dxt_trace_stream *s, rank_cursor *c)
{
    free(c->segs);
    dxt_block_free(s->in->trace, c->cur);
    dxt_block_free(s->in->trace, c->next);
    free(c->prev_wait);
    free(c->prev_tokens);
}

/* The file of the rows being taken. */
static const dxt_trace_file *cursor_file(const dxt_trace_stream *s, const rank_cursor *c)
{
    (void)s;
    return c->cur->file;
}

static const dxt_op_info *cursor_info(const dxt_trace_stream *s, const rank_cursor *c)
{
    (void)s;
    return dxt_reader_op(c->cur->file->reader, c->cur->file_op);
}

/* Start reading c's next block into b: 1, or 0 when c has no more rows. */
static int cursor_start(dxt_trace_stream *s, rank_cursor *c, dxt_block *b)
{
    for (; c->seg < c->nseg; c->seg++, c->next_row = 0) {
        dxt_trace_file *f = &s->in->trace->files[c->segs[c->seg]];
        const dxt_op_info *info = dxt_reader_op(f->reader, f->op_index[s->op]);
        if (c->next_row >= info->rows)
            continue;
        int64_t want = info->rows - c->next_row < s->block ? info->rows - c->next_row : s->block;
        dxt_block_start(s->in->trace, f, f->op_index[s->op], c->next_row, want, b);
        c->next_row += want;
        return 1;
    }
    return 0;
}

/* Start the next block of the ranks after rank, while spare blocks last. */
static void read_ahead(dxt_trace_stream *s, int rank)
{
    for (int k = 1; k <= s->lookahead && s->spares; k++) {
        rank_cursor *c = &s->ranks[(rank + k) % s->n];
        if (c->next || c->seg >= c->nseg)
            continue;
        dxt_block *b = s->spares;
        if (cursor_start(s, c, b)) {
            s->spares = b->next;
            c->next = b;
        }
    }
}

/* Make a row available at buf_pos: 1, 0 when the rank has no more rows, -1. */
static int cursor_fill(dxt_trace_stream *s, rank_cursor *c, dxt_error *err)
{
    if (!c->cur)
        return 0; /* the rank has no rows of this op */
    while (!c->cur->file || c->buf_pos >= c->cur->n) {
        if (c->next) { /* read ahead: swap it in, the used block becomes a spare */
            dxt_block *used = c->cur;
            c->cur = c->next;
            c->next = NULL;
            used->next = s->spares;
            used->file = NULL;
            s->spares = used;
        } else if (!cursor_start(s, c, c->cur)) {
            return 0;
        }
        c->buf_pos = 0;
        read_ahead(s, (int)(c - s->ranks));
        if (dxt_block_finish(s->in->trace, c->cur, err) < 0)
            return -1;
    }
    return 1;
}

/* The value of one unit of the current row in the input's unit. */
static double row_scale(const dxt_trace_stream *s, rank_cursor *c)
{
    const dxt_op_info *info = cursor_info(s, c);
    if (!s->in->trace->unit_us)
        return 1.0;
    if (info->unit == DXT_UNIT_NS)
        return 1e-3;
    double hz = c->cur->hz[c->buf_pos];
    if (!(hz > 0))
        hz = dxt_reader_meta(cursor_file(s, c)->reader)->clock_hz;
    if (!(hz > 0))
        hz = c->last_hz;
    if (!(hz > 0))
        return 1.0;
    c->last_hz = hz;
    return 1e6 / hz;
}

/* Does any value of row go below prev (a counter reset)? Branch-free: vectorizes. */
static int row_went_down(const int64_t *restrict row, const int64_t *restrict prev, int n)
{
    int down = 0;
    for (int j = 0; j < n; j++)
        down |= row[j] < prev[j];
    return down;
}

/* The deltas of one row of values vs prev (updated); out += delta * scale.
 * The hot loop of the loader (a row of every rank per step and op): the
 * branches are taken once per row, the loops over n have none. */
/* Add one row's per-step values to out (when not NULL); returns how many
 * values were impossible and ignored (negative, or over DXT_MAX_STEP_VALUE). */
static int64_t add_deltas(const int64_t *restrict row, int64_t *restrict prev, int *have_prev,
                          dxt_counting counting, int n, double scale, double *restrict out)
{
    int cumulative = counting == DXT_COUNTING_CUMULATIVE;
    int reset = !cumulative || !*have_prev || row_went_down(row, prev, n);
    int64_t impossible = 0;
    for (int j = 0; out && j < n; j++) {
        /* reset: the value itself; else row >= prev: the difference fits in uint64 */
        uint64_t d = reset ? (uint64_t)row[j] : (uint64_t)row[j] - (uint64_t)prev[j];
        int bad = row[j] < 0 || d > DXT_MAX_STEP_VALUE;
        impossible += bad;
        /* d <= 2^53 when used: the signed conversion is exact and cheaper */
        out[j] += bad ? 0.0 : (double)(int64_t)d * scale;
    }
    if (cumulative)
        memcpy(prev, row, (size_t)n * sizeof *prev);
    *have_prev = cumulative;
    return impossible;
}

/* The steps the row at step covers: since the rank's row before (a row every K
 * steps: K), 1 for the rank's first row. Not covered: the steps of a recorded
 * drop (the op's dropped_first_step .. dropped_last_step) in the gap; when the
 * drops go on past this row (several drops), the rank's last stride is taken. */
static int64_t row_steps(rank_cursor *c, const dxt_op_info *info, int64_t step)
{
    if (c->last_step == INT64_MIN)
        return 1;
    uint64_t gap = (uint64_t)step - (uint64_t)c->last_step; /* step > last_step */
    int64_t covered = gap > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)gap;
    int64_t df = info->dropped_first_step, dl = info->dropped_last_step;
    int dropped = info->rows_dropped > 0 && df >= 0 && dl >= df && df < step &&
                  dl > c->last_step;
    if (!dropped)
        return c->stride = covered;
    if (dl < step)
        return step - dl;
    return covered < c->stride ? covered : c->stride;
}

/* Take the row at buf_pos: add it to wait/tokens rows when they are not NULL.
 * Returns the steps it covers (row_steps). */
static int64_t cursor_take(dxt_trace_stream *s, rank_cursor *c, double *wait_row,
                           double *tokens_row)
{
    const dxt_op_info *info = cursor_info(s, c);
    size_t off = (size_t)c->buf_pos * (size_t)s->n;
    double scale = row_scale(s, c);
    int64_t bad = add_deltas(c->cur->wait + off, c->prev_wait, &c->have_prev, info->counting,
                             s->n, scale, wait_row);
    if (s->with_tokens && info->has_tokens)
        bad += add_deltas(c->cur->tokens + off, c->prev_tokens, &c->have_prev_tokens,
                          info->tokens_counting, s->n, 1.0, tokens_row);
    if (bad > 0 && c->impossible == 0)
        c->impossible_path = cursor_file(s, c)->path;
    c->impossible += bad;
    int64_t step = c->cur->step[c->buf_pos], steps = row_steps(c, info, step);
    c->last_step = step;
    c->buf_pos++;
    return steps;
}

/* The step of the rank's next usable row (rows before from are taken for
 * their counters only; duplicates skipped): 1 with *step, 0 when the rank has
 * no more rows (*step INT64_MAX; a real row may have that step too), -1 error. */
static int cursor_peek(dxt_trace_stream *s, rank_cursor *c, int64_t *step, dxt_error *err)
{
    for (;;) {
        int rc = cursor_fill(s, c, err);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            *step = INT64_MAX;
            return 0;
        }
        int64_t st = c->cur->step[c->buf_pos];
        if (st <= c->last_step) {
            c->duplicates++;
            c->buf_pos++;
        } else if (st < s->from) {
            (void)cursor_take(s, c, NULL, NULL);
        } else {
            *step = st;
            return 1;
        }
    }
}

int dxt_trace_stream_open(dxt_input *in, int op, int64_t from, int64_t to, int64_t window_steps,
                          dxt_trace_stream **out, dxt_error *err)
{
    dxt_trace_stream *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s || !(s->ranks = calloc((size_t)in->n, sizeof *s->ranks)))
        goto oom;
    s->in = in;
    s->op = op;
    s->n = in->n;
    s->with_tokens = in->op_has_tokens[op];
    s->from = from;
    s->to = to;
    s->done_to = from;
    s->window_steps = window_steps;
    uint64_t per_row = (uint64_t)in->n * (uint64_t)in->n * 8u * (s->with_tokens ? 2u : 1u);
    /* blocks of at least a chunk: the reader has no chunk cache, a chunk read in
     * two pieces is inflated twice */
    s->block = (int64_t)(STREAM_BUDGET_BYTES / per_row);
    int64_t chunk_rows = (int64_t)(STREAM_CHUNK_BYTES / ((uint64_t)in->n * 8u));
    if (s->block < chunk_rows)
        s->block = chunk_rows;
    if (s->block < 1)
        s->block = 1;
    if (s->block > STREAM_MAX_BLOCK)
        s->block = STREAM_MAX_BLOCK;
    if (chunk_rows > 0 && s->block > chunk_rows) /* whole chunks: none inflated twice */
        s->block -= s->block % chunk_rows;
    for (int i = 0; i < in->n; i++)
        if (cursor_init(s, &s->ranks[i], i) != 0)
            goto oom;
    int spares = STREAM_SPARES_PER_THREAD * dxt_inflate_default_threads();
    spares = spares > in->n ? in->n : spares;
    for (int k = 0; k < spares; k++) {
        dxt_block *b = dxt_block_alloc(s->block, in->n, s->with_tokens);
        if (!b)
            goto oom;
        b->next = s->spares;
        s->spares = b;
    }
    s->lookahead = 2 * spares;
    *out = s;
    return 0;
oom:
    dxt_set_error(err, "%s: out of memory for the window buffers of %d ranks", in->path, in->n);
    dxt_trace_stream_close(s);
    return -1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int stream_next(dxt_trace_stream *s, int64_t *first_step, int64_t *last_step,
                       double *wait, double *tokens, int64_t *rank_rows, int64_t *rank_steps,
                       dxt_error *err)
{
    int64_t min_step = INT64_MAX, n = s->n;
    int any = 0;
    for (int i = 0; i < n; i++) {
        int64_t st;
        int rc = cursor_peek(s, &s->ranks[i], &st, err);
        if (rc < 0)
            return -1;
        if (rc > 0 && (!any || st < min_step))
            min_step = st, any = 1;
    }
    if (!any || min_step > s->to) {
        s->done_to = s->to;
        return 0;
    }
    /* from <= first <= min_step <= to: in unsigned arithmetic nothing overflows,
     * whatever the steps (INT64_MIN .. INT64_MAX) */
    uint64_t ws = (uint64_t)s->window_steps;
    int64_t first = (int64_t)((uint64_t)s->from +
                              ((uint64_t)min_step - (uint64_t)s->from) / ws * ws);
    int64_t last = (uint64_t)s->to - (uint64_t)first < ws - 1 ? s->to
                                                             : (int64_t)((uint64_t)first + ws - 1);
    memset(wait, 0, (size_t)(n * n) * sizeof *wait);
    if (tokens)
        memset(tokens, 0, (size_t)(n * n) * sizeof *tokens);
    for (int i = 0; i < n; i++) {
        rank_cursor *c = &s->ranks[i];
        int64_t st, steps = 0;
        rank_rows[i] = 0;
        for (;;) {
            int rc = cursor_peek(s, c, &st, err);
            if (rc < 0)
                return -1;
            if (rc == 0 || st > last)
                break;
            int64_t covered = cursor_take(s, c, wait + i * n,
                                          tokens && s->with_tokens ? tokens + i * n : NULL);
            if (__builtin_add_overflow(steps, covered, &steps))
                steps = INT64_MAX;
            rank_rows[i]++;
        }
        if (rank_steps)
            rank_steps[i] = steps;
    }
    *first_step = first;
    *last_step = last;
    s->done_to = last;
    return 1;
}

int dxt_trace_stream_next(dxt_trace_stream *s, int64_t *first_step, int64_t *last_step,
                          double *wait, double *tokens, int64_t *rank_rows,
                          int64_t *rank_steps, dxt_error *err)
{
    dxt_trace_state *t = s->in->trace;
    double t0 = now_s(), io0 = t->read_s + t->wait_s;
    int rc = stream_next(s, first_step, last_step, wait, tokens, rank_rows, rank_steps, err);
    t->sums_s += now_s() - t0 - (t->read_s + t->wait_s - io0);
    return rc;
}

double dxt_trace_stream_progress(const dxt_trace_stream *s)
{
    int64_t end = s->to < s->in->last_step ? s->to : s->in->last_step;
    if (end <= s->from)
        return 1.0;
    return ((double)s->done_to - (double)s->from) / ((double)end - (double)s->from);
}

void dxt_trace_stream_close(dxt_trace_stream *s)
{
    if (!s)
        return;
    for (int i = 0; s->ranks && i < s->n; i++) {
        rank_cursor *c = &s->ranks[i];
        if (c->duplicates > 0)
            (void)dxt_input_warn(s->in, "rank %d, op '%s': %lld rows overlap steps of an earlier "
                           "segment (duplicate rank files?): kept the first",
                           i, s->in->ops[s->op], (long long)c->duplicates);
        if (c->impossible > 0)
            (void)dxt_input_warn(s->in, "%s: op '%s': %lld impossible values (negative, or a "
                           "step's growth over 2^53) ignored", c->impossible_path,
                           s->in->ops[s->op], (long long)c->impossible);
        cursor_free(s, c);
    }
    while (s->spares) {
        dxt_block *next = s->spares->next;
        dxt_block_free(s->in->trace, s->spares);
        s->spares = next;
    }
    free(s->ranks);
    free(s);
}
