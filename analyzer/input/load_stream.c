/* load_stream.c - the windows of one op of a trace, streamed: each rank's rows
 * are taken in step order from its segments (load_rows.c), turned into
 * per-step deltas (cumulative counters: the difference to the previous row; a
 * row where any value went down is a counter reset and counts as it is; the
 * first row counts as it is), converted to the input's unit (cycles /
 * clock_hz, per-row clock_hz when recorded; ns / 1000) and summed straight
 * into the window they belong to, with the rows and the steps they cover (a
 * row every K steps covers K; a recorded drop's steps are not covered:
 * row_steps) of each rank. Rows whose step is not after the rank's last step
 * (overlapping segments) are duplicates: skipped, counted, reported at close.
 *
 * Passes: the windows are kept in a ring of `cap` window sums; a pass runs one
 * task a rank in the loader's threads (par_for.c): the rank's rows of the
 * ring's first window, then its next rows while they are in the ring and in
 * the chunk its thread holds decoded (a chunk is decoded once when it spans
 * fewer windows than the ring holds). A rank's cells are summed by one thread
 * in step order, as serially: the same sums, bit for bit, whatever the threads.
 * After a pass every window before the ranks' earliest next step is complete
 * and handed out (those with rows), in order: lent in place (its ring slot,
 * no copy; zeroed when the caller asks for the next window).
 * Memory: the ring (cap windows, wait and tokens; the caller needs no window
 * buffer of its own), the previous row of every rank (O(N^2)), each rank's
 * table of next steps (bounded: STREAM_TABLE_BYTES) and a chunk of rows per
 * thread: not N files x chunks, not T steps.
 * Owner: the loader/report engineer (A2; issue 15). */
#include "load_rows.h"
#include "par_for.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define STREAM_CHUNK_BYTES (256u << 10)  /* the writer's chunk of one dataset (about) */
#define STREAM_UNIT_BYTES (4u << 20)     /* a thread's rows of one dataset, at most */
#define STREAM_RING_BYTES (1280u << 20)  /* the ring, when more than 2 windows are wanted */
#define STREAM_RING_MAX 64               /* windows in the ring, at most */
#define STREAM_TABLE_BYTES (32u << 20)   /* all ranks' tables of next rows together */
#define STREAM_TABLE_MIN 16              /* rows a table holds, at least */

typedef struct rank_cursor {
    dxt_rank_rows rows;
    int64_t *prev_wait, *prev_tokens;
    int have_prev, have_prev_tokens;
    int64_t last_step;      /* last step taken; INT64_MIN before the first */
    int64_t stride;         /* steps the last row without a drop before it covered */
    int64_t duplicates;
    int64_t impossible;     /* values ignored: negative, or more than DXT_MAX_STEP_VALUE a step */
    const char *impossible_path;
    double last_hz;
    int has_next;           /* after a pass: the rank has a next row, at next_step */
    int64_t next_step;
    int failed;
    dxt_error err;
} rank_cursor;

/* No real counter grows this much in one step (2^53 cycles: 52 days at 2 GHz):
 * a larger step, or a negative value, is damage and is ignored (and reported). */
#define DXT_MAX_STEP_VALUE ((uint64_t)1 << 53)

struct dxt_trace_stream {
    dxt_input *in;
    int op, n, with_tokens;
    int64_t from, to, window_steps, done_to;
    rank_cursor *ranks;
    int cap;                  /* windows in the ring */
    double *ring_wait, *ring_tokens; /* cap x N x N */
    int64_t *ring_rows, *ring_steps; /* cap x N */
    uint64_t base;            /* the ring's first window (index from `from`) */
    uint64_t emit, emit_end;  /* windows to hand out */
    int started, finished, peek_only;
    dxt_row_buf *bufs;        /* one a thread */
    int nbufs;
    int lent;                 /* the ring slot lent to the caller (-1: none), cleared
                               * at the next call */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

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

static int cursor_init(dxt_trace_stream *s, rank_cursor *c, int rank, int64_t table_rows)
{
    const dxt_trace_state *t = s->in->trace;
    size_t n = (size_t)s->n;
    c->last_step = INT64_MIN;
    c->stride = 1;
    c->rows.lay_seg = -1;
    c->rows.tab_cap = table_rows;
    if (s->in->stream_part && (rank < s->in->stream_first || rank >= s->in->stream_end))
        return 0; /* another process reads this rank (run/partition.c): no rows here */
    c->rows.segs = calloc((size_t)t->nfiles, sizeof *c->rows.segs);
    if (!c->rows.segs)
        return -1;
    for (int k = 0; k < t->nfiles; k++)
        if (t->files[k].rank == rank && t->files[k].op_index[s->op] >= 0)
            c->rows.segs[c->rows.nseg++] = k;
    if (c->rows.nseg == 0)
        return 0; /* no rows: no buffers */
    qsort_r(c->rows.segs, (size_t)c->rows.nseg, sizeof *c->rows.segs, cmp_segments, s);
    c->prev_wait = malloc(n * sizeof *c->prev_wait);
    if (!c->prev_wait)
        return -1;
    if (s->with_tokens && !(c->prev_tokens = malloc(n * sizeof *c->prev_tokens)))
        return -1;
    return 0;
}

static void cursor_free(rank_cursor *c)
{
    dxt_rows_free(&c->rows);
    free(c->prev_wait);
    free(c->prev_tokens);
}

static const dxt_trace_file *cursor_file(const dxt_trace_stream *s, const rank_cursor *c)
{
    return dxt_rows_file(s->in->trace, &c->rows);
}

static const dxt_op_info *cursor_info(const dxt_trace_stream *s, const rank_cursor *c)
{
    return dxt_rows_info(s->in->trace, s->op, &c->rows);
}

/* The value of one unit of the current row in the input's unit. */
static double row_scale(const dxt_trace_stream *s, rank_cursor *c)
{
    const dxt_op_info *info = cursor_info(s, c);
    if (!s->in->trace->unit_us)
        return 1.0;
    if (info->unit == DXT_UNIT_NS)
        return 1e-3;
    double hz = c->rows.hz[c->rows.row - c->rows.tab_first];
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

/* Add one row's per-step values to out (when not NULL); returns how many
 * values were impossible and ignored (negative, or over DXT_MAX_STEP_VALUE).
 * The hot loop of the loader (a row of every rank per step and op): the
 * branches are taken once per row, the loops over n have none. */
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

static int64_t cursor_step(const rank_cursor *c)
{
    return c->rows.step[c->rows.row - c->rows.tab_first];
}

/* Take the rank's next row: add it to wait/tokens rows when they are not
 * NULL; the steps it covers (row_steps), or -1 with c->err. */
static int64_t cursor_take(dxt_trace_stream *s, rank_cursor *c, dxt_row_buf *b,
                           double *wait_row, double *tokens_row)
{
    if (dxt_rows_load(s->in->trace, s->op, &c->rows, b, s->n, s->with_tokens, &c->err) < 0)
        return -1;
    const dxt_op_info *info = cursor_info(s, c);
    size_t off = (size_t)(c->rows.row - b->lo) * (size_t)s->n;
    double scale = row_scale(s, c);
    int64_t bad = add_deltas(b->wait + off, c->prev_wait, &c->have_prev, info->counting, s->n,
                             scale, wait_row);
    if (s->with_tokens && info->has_tokens)
        bad += add_deltas(b->tokens + off, c->prev_tokens, &c->have_prev_tokens,
                          info->tokens_counting, s->n, 1.0, tokens_row);
    if (bad > 0 && c->impossible == 0)
        c->impossible_path = cursor_file(s, c)->path;
    c->impossible += bad;
    int64_t step = cursor_step(c), steps = row_steps(c, info, step);
    c->last_step = step;
    c->rows.row++;
    return steps;
}

/* The step of the rank's next usable row (rows before from are taken for
 * their counters only; duplicates skipped): 1 with *step, 0 when the rank has
 * no more rows, -1 with c->err. */
static int cursor_peek(dxt_trace_stream *s, rank_cursor *c, dxt_row_buf *b, int64_t *step)
{
    for (;;) {
        int rc = dxt_rows_next(s->in->trace, s->op, &c->rows, s->with_tokens, &c->err);
        if (rc <= 0)
            return rc;
        int64_t st = cursor_step(c);
        if (st <= c->last_step) {
            c->duplicates++;
            c->rows.row++;
        } else if (st < s->from) {
            if (cursor_take(s, c, b, NULL, NULL) < 0)
                return -1;
        } else {
            *step = st;
            return 1;
        }
    }
}

/* The window (index from `from`) of step >= from. */
static uint64_t window_of(const dxt_trace_stream *s, int64_t step)
{
    return ((uint64_t)step - (uint64_t)s->from) / (uint64_t)s->window_steps;
}

/* Sum one of rank i's rows into ring window w. -1 with c->err. */
static int take_into(dxt_trace_stream *s, rank_cursor *c, dxt_row_buf *b, int i, uint64_t w)
{
    size_t slot = (size_t)(w % (uint64_t)s->cap), n = (size_t)s->n;
    size_t cell = slot * n * n + (size_t)i * n;
    int64_t covered = cursor_take(s, c, b, s->ring_wait + cell,
                                  s->ring_tokens ? s->ring_tokens + cell : NULL);
    if (covered < 0)
        return -1;
    int64_t *steps = &s->ring_steps[slot * n + (size_t)i];
    if (__builtin_add_overflow(*steps, covered, steps))
        *steps = INT64_MAX;
    s->ring_rows[slot * n + (size_t)i]++;
    return 0;
}

/* One rank's part of a pass (a par_for item): its rows of the ring's first
 * window, then of the ring's other windows while its thread holds them
 * decoded; then its next step. */
static void rank_pass(void *ctx, int thread, int i)
{
    dxt_trace_stream *s = ctx;
    rank_cursor *c = &s->ranks[i];
    dxt_row_buf *b = &s->bufs[thread];
    double t0 = now_s(), io0 = b->read_s + b->decode_s;
    c->has_next = 0;
    while (!c->failed && c->rows.nseg > 0) {
        int64_t st;
        int rc = cursor_peek(s, c, b, &st);
        if (rc <= 0) {
            c->failed = rc < 0;
            break;
        }
        c->has_next = 1;
        c->next_step = st;
        if (s->peek_only || st > s->to)
            break;
        uint64_t w = window_of(s, st);
        if (w - s->base >= (uint64_t)s->cap || (w != s->base && !dxt_rows_held(b, &c->rows)))
            break;
        if (take_into(s, c, b, i, w) < 0)
            c->failed = 1;
    }
    b->sums_s += now_s() - t0 - (b->read_s + b->decode_s - io0);
}

/* Run one pass; then the windows to hand out and the ring's next base. */
static int run_pass(dxt_trace_stream *s, dxt_error *err)
{
    dxt_trace_state *t = s->in->trace;
    dxt_par_run(t->par, s->n, rank_pass, s);
    for (int k = 0; k < s->nbufs; k++) { /* the threads' times, into the trace's */
        t->read_s += s->bufs[k].read_s;
        t->decode_s += s->bufs[k].decode_s;
        t->sums_s += s->bufs[k].sums_s;
        s->bufs[k].read_s = s->bufs[k].decode_s = s->bufs[k].sums_s = 0;
    }
    int any = 0;
    uint64_t next = 0;
    for (int i = 0; i < s->n; i++) {
        rank_cursor *c = &s->ranks[i];
        if (c->failed) { /* the lowest failing rank's error: the same whatever the threads */
            *err = c->err;
            return -1;
        }
        if (c->has_next && c->next_step <= s->to) {
            uint64_t w = window_of(s, c->next_step);
            if (!any || w < next)
                next = w, any = 1;
        }
    }
    if (s->peek_only) {
        s->peek_only = 0;
        s->emit = s->emit_end = s->base = next;
    } else {
        uint64_t end = s->base + (uint64_t)s->cap;
        s->emit = s->base;
        s->emit_end = any && next - s->base < (uint64_t)s->cap ? next : end;
        s->base = next;
    }
    s->finished = !any;
    return 0;
}

/* Zero rows [item * per, ..) of the lent slot's matrices (a par_for item). */
enum { CLEAR_ROWS_PER_ITEM = 64 };
static void clear_rows(void *ctx, int thread, int item)
{
    dxt_trace_stream *s = ctx;
    size_t n = (size_t)s->n, lo = (size_t)item * CLEAR_ROWS_PER_ITEM;
    size_t hi = lo + CLEAR_ROWS_PER_ITEM < n ? lo + CLEAR_ROWS_PER_ITEM : n;
    size_t at = (size_t)s->lent * n * n + lo * n, cells = (hi - lo) * n;
    (void)thread;
    memset(s->ring_wait + at, 0, cells * sizeof *s->ring_wait);
    if (s->ring_tokens)
        memset(s->ring_tokens + at, 0, cells * sizeof *s->ring_tokens);
}

/* The caller is done with the lent window: its slot is zeroed for a later window. */
static void take_back(dxt_trace_stream *s)
{
    if (s->lent < 0)
        return;
    size_t n = (size_t)s->n, slot = (size_t)s->lent;
    dxt_par_run(s->in->trace->par, (int)((n + CLEAR_ROWS_PER_ITEM - 1) / CLEAR_ROWS_PER_ITEM),
                clear_rows, s);
    memset(s->ring_rows + slot * n, 0, n * sizeof *s->ring_rows);
    memset(s->ring_steps + slot * n, 0, n * sizeof *s->ring_steps);
    s->lent = -1;
}

/* Lend window w (its ring slot) when it has rows: 1, else 0. */
static int lend_window(dxt_trace_stream *s, uint64_t w, dxt_window *out)
{
    size_t n = (size_t)s->n, slot = (size_t)(w % (uint64_t)s->cap);
    int64_t *rows = s->ring_rows + slot * n;
    int any = 0;
    for (size_t i = 0; i < n && !any; i++)
        any = rows[i] > 0;
    if (!any)
        return 0;
    s->lent = (int)slot;
    out->wait = s->ring_wait + slot * n * n;
    out->tokens = s->ring_tokens ? s->ring_tokens + slot * n * n : NULL;
    out->rank_rows = rows;
    out->rank_steps = s->ring_steps + slot * n;
    /* from <= first <= to: in unsigned arithmetic nothing overflows, whatever the
     * steps (INT64_MIN .. INT64_MAX) */
    uint64_t ws = (uint64_t)s->window_steps;
    int64_t first = (int64_t)((uint64_t)s->from + w * ws);
    out->first_step = first;
    out->last_step = (uint64_t)s->to - (uint64_t)first < ws - 1
                         ? s->to
                         : (int64_t)((uint64_t)first + ws - 1);
    s->done_to = out->last_step;
    return 1;
}

/* Windows in the ring: cap, enough for a chunk's rows when it fits the budget. */
static int ring_windows(const dxt_input *in, int64_t window_steps, int with_tokens)
{
    double window = (double)in->n * (double)in->n * 8.0 * (with_tokens ? 2.0 : 1.0);
    int64_t chunk_rows = (int64_t)(STREAM_CHUNK_BYTES / ((uint64_t)in->n * 8u));
    int64_t rows = chunk_rows > 0 ? chunk_rows : 1;
    int64_t want = rows / window_steps + (rows % window_steps != 0) + 1;
    int64_t fits = (int64_t)((double)STREAM_RING_BYTES / window);
    if (want > fits)
        want = fits;
    if (want > STREAM_RING_MAX)
        want = STREAM_RING_MAX;
    return want < 2 ? 2 : (int)want;
}

/* Zeroed memory for the ring, in huge pages where the kernel has them (its
 * first touch and its TLB misses were a tenth of the loader's time). */
static double *ring_alloc(size_t cells)
{
    void *p = mmap(NULL, cells * sizeof(double), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, cells * sizeof(double), MADV_HUGEPAGE); /* a hint: fine if refused */
#endif
    return p;
}

static void ring_free(double *ring, size_t cells)
{
    if (ring)
        munmap(ring, cells * sizeof(double));
}

static size_t ring_cells(const dxt_trace_stream *s)
{
    return (size_t)s->cap * (size_t)s->n * (size_t)s->n;
}

double dxt_trace_stream_most_bytes(int n)
{
    double window = (double)n * (double)n * 16.0, ring = STREAM_RING_MAX * window;
    ring = ring > STREAM_RING_BYTES ? STREAM_RING_BYTES : ring;
    ring = ring < 2 * window ? 2 * window : ring;
    return ring + STREAM_TABLE_BYTES + 2.0 * STREAM_UNIT_BYTES * dxt_par_default_threads();
}

static int stream_alloc(dxt_trace_stream *s, dxt_error *err)
{
    dxt_input *in = s->in;
    dxt_trace_state *t = in->trace;
    size_t n = (size_t)in->n, cells = ring_cells(s);
    int64_t table = (int64_t)(STREAM_TABLE_BYTES / (n * 16u));
    table = table < STREAM_TABLE_MIN ? STREAM_TABLE_MIN : table;
    if (!t->par && dxt_par_create(dxt_par_default_threads(), &t->par, err) < 0)
        return -1;
    s->nbufs = dxt_par_threads(t->par);
    int64_t unit = (int64_t)(STREAM_UNIT_BYTES / (n * 8u));
    if (!(s->ranks = calloc(n, sizeof *s->ranks)) ||
        !(s->bufs = calloc((size_t)s->nbufs, sizeof *s->bufs)) ||
        !(s->ring_wait = ring_alloc(cells)) ||
        (s->with_tokens && !(s->ring_tokens = ring_alloc(cells))) ||
        !(s->ring_rows = calloc((size_t)s->cap * n, sizeof *s->ring_rows)) ||
        !(s->ring_steps = calloc((size_t)s->cap * n, sizeof *s->ring_steps)))
        goto oom;
    for (int k = 0; k < s->nbufs; k++)
        s->bufs[k].cap = unit < 1 ? 1 : unit;
    for (int i = 0; i < in->n; i++)
        if (cursor_init(s, &s->ranks[i], i, table) != 0)
            goto oom;
    return 0;
oom:
    dxt_set_error(err, "%s: out of memory for the window buffers of %d ranks", in->path, in->n);
    return -1;
}

int dxt_trace_stream_open(dxt_input *in, int op, int64_t from, int64_t to, int64_t window_steps,
                          dxt_trace_stream **out, dxt_error *err)
{
    dxt_trace_stream *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s) {
        dxt_set_error(err, "%s: out of memory for a window stream", in->path);
        return -1;
    }
    s->in = in;
    s->op = op;
    s->n = in->n;
    s->with_tokens = in->op_has_tokens[op];
    s->from = from;
    s->to = to;
    s->done_to = from;
    s->window_steps = window_steps;
    s->cap = ring_windows(in, window_steps, s->with_tokens);
    s->peek_only = 1;
    s->lent = -1;
    if (stream_alloc(s, err) < 0) {
        dxt_trace_stream_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

int dxt_trace_stream_lend(dxt_trace_stream *s, dxt_window *out, dxt_error *err)
{
    double t0 = now_s();
    int rc = 0;
    take_back(s);
    for (;;) {
        while (s->emit < s->emit_end && rc == 0)
            rc = lend_window(s, s->emit++, out);
        if (rc != 0 || s->finished || (rc = run_pass(s, err)) < 0)
            break;
    }
    if (rc == 0)
        s->done_to = s->to;
    s->in->trace->wait_s += now_s() - t0;
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
        cursor_free(c);
    }
    for (int k = 0; s->bufs && k < s->nbufs; k++)
        dxt_row_buf_free(&s->bufs[k]);
    free(s->bufs);
    ring_free(s->ring_wait, ring_cells(s));
    ring_free(s->ring_tokens, ring_cells(s));
    free(s->ring_rows);
    free(s->ring_steps);
    free(s->ranks);
    free(s);
}
