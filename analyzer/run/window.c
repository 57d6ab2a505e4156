/* window.c - the analysis driver of dxt-analyze: choose the window, stream
 * each chosen op window by window, mark what is missing (no traffic, missing
 * ranks, the diagonal) as NAN and feed the op's tracker; keep the whole-range
 * matrix for the reports and plots.
 * Owner: the loader/report engineer (A2). */
#include "analysis.h"
#include "load_trace.h" /* DXT_TRACE_MAX_OPEN */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Worlds above this are refused: one N x N matrix of doubles is 2 GiB here and
 * an op needs several (a claimed world_size is never trusted with memory). */
#define DXT_ANALYSIS_MAX_WORLD 16384

/* Peak memory of an analysis per cell of the N x N matrix (window sums, the
 * classifier's view, the whole-range totals, tokens, the classifier's state):
 * 56 bytes measured (issue 13: world_size 16384 took 15 GB). */
#define DXT_ANALYSIS_BYTES_PER_CELL 56.0
/* An open trace file costs about 1 MB (HDF5 1.10's metadata cache alone is 0.5
 * MB; measured: 256 files, 430 MB; issue 13: 4096 files, 6 GB): the loader keeps
 * at most DXT_TRACE_MAX_OPEN open (input/load_trace.h), plus its block buffers
 * (128 MiB at most). */
#define DXT_ANALYSIS_BYTES_PER_FILE (1.2 * 1024 * 1024)
#define DXT_ANALYSIS_STREAM_BYTES (128.0 * 1024 * 1024)

/* Bytes this process may still allocate: the smaller of MemAvailable and what
 * RLIMIT_AS (ulimit -v) leaves; INFINITY when neither is known. */
static double memory_available(void)
{
    double have = INFINITY;
    char line[256];
    FILE *f = fopen("/proc/meminfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            have = (double)kb * 1024.0;
    }
    if (f)
        fclose(f);
    struct rlimit lim;
    unsigned long long pages = 0;
    if (getrlimit(RLIMIT_AS, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
        if ((f = fopen("/proc/self/statm", "r"))) {
            if (fscanf(f, "%llu", &pages) != 1)
                pages = 0;
            fclose(f);
        }
        double left = (double)lim.rlim_cur - (double)pages * (double)sysconf(_SC_PAGESIZE);
        if (left < have)
            have = left > 0 ? left : 0;
    }
    return have;
}

/* A world whose matrices do not fit in 3/4 of the memory available is refused
 * before any N x N allocation. */
static int check_memory(const dxt_input *in, dxt_error *err)
{
    int open = in->nfiles < DXT_TRACE_MAX_OPEN ? in->nfiles : DXT_TRACE_MAX_OPEN;
    double need = (double)in->n * (double)in->n * DXT_ANALYSIS_BYTES_PER_CELL +
                  (in->nfiles ? (double)open * DXT_ANALYSIS_BYTES_PER_FILE +
                                    DXT_ANALYSIS_STREAM_BYTES : 0);
    double have = memory_available();
    if (need <= 0.75 * have) /* headroom: the machine runs the job and other tools too */
        return 0;
    dxt_set_error(err, "%s: world_size %d, %d files: its %d x %d matrices and open files need "
                  "about %.1f GiB, and %.1f GiB are available (free memory, ulimit -v): "
                  "refused before allocating; analyze on a larger machine", in->path, in->n,
                  in->nfiles, in->n, in->n, need / (1u << 30), have / (1u << 30));
    return -1;
}

void dxt_analysis_opts_init(dxt_analysis_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->from = INT64_MIN;
    opts->to = INT64_MAX;
    dxt_classify_opts_init(&opts->classify);
}

/* The classifier's view of one window: NAN for no traffic, missing rows, diagonal. */
static void mark_missing(int n, const double *wait, const double *tokens,
                         const int64_t *rank_rows, double *m, double *mt)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            size_t k = (size_t)i * n + j;
            int gone = i == j || rank_rows[i] == 0;
            m[k] = gone || wait[k] == 0 ? NAN : wait[k];
            if (mt)
                mt[k] = gone ? NAN : tokens[k];
        }
}

typedef struct window_bufs {
    double *wait, *tokens, *m, *mt;
    int64_t *rows;
} window_bufs;

static void bufs_free(window_bufs *b)
{
    free(b->wait);
    free(b->tokens);
    free(b->m);
    free(b->mt);
    free(b->rows);
}

static int bufs_alloc(window_bufs *b, size_t n, int tokens)
{
    memset(b, 0, sizeof *b);
    b->wait = malloc(n * n * sizeof *b->wait);
    b->m = malloc(n * n * sizeof *b->m);
    b->rows = malloc(n * sizeof *b->rows);
    if (tokens) {
        b->tokens = malloc(n * n * sizeof *b->tokens);
        b->mt = malloc(n * n * sizeof *b->mt);
    }
    return b->wait && b->m && b->rows && (!tokens || (b->tokens && b->mt)) ? 0 : -1;
}

static void accumulate(dxt_op_result *r, size_t n, const window_bufs *b)
{
    for (size_t k = 0; k < n * n; k++)
        r->total[k] += b->wait[k];
    for (size_t k = 0; r->total_tokens && k < n * n; k++)
        r->total_tokens[k] += b->tokens[k];
    for (size_t i = 0; i < n; i++)
        r->rank_rows[i] += b->rows[i];
}

static int run_op(dxt_analysis *a, dxt_op_result *r, const dxt_analysis_opts *opts,
                  dxt_error *err)
{
    dxt_input *in = a->in;
    size_t n = (size_t)in->n;
    int tokens = in->op_has_tokens[r->input_op];
    dxt_op_stream *s = NULL;
    window_bufs b;
    int rc = -1, got;
    if (bufs_alloc(&b, n, tokens) != 0 || !(r->total = calloc(n * n, sizeof *r->total)) ||
        !(r->rank_rows = calloc(n, sizeof *r->rank_rows)) ||
        (tokens && !(r->total_tokens = calloc(n * n, sizeof *r->total_tokens))) ||
        !(r->tracker = dxt_tracker_new(r->name, &a->topo, &opts->classify))) {
        dxt_set_error(err, "%s: out of memory for op '%s' (%zu ranks)", in->path, r->name, n);
        goto fail;
    }
    if (dxt_op_stream_open(in, r->input_op, a->from, a->to, a->window_steps, &s, err) != 0)
        goto fail;
    int64_t first, last;
    while ((got = dxt_op_stream_next(s, &first, &last, b.wait, b.tokens, b.rows, err)) == 1) {
        accumulate(r, n, &b);
        mark_missing((int)n, b.wait, b.tokens, b.rows, b.m, b.mt);
        if (dxt_tracker_add_window_rows(r->tracker, first, last, b.m, b.mt, b.rows) != 0) {
            dxt_set_error(err, "op '%s': out of memory in the classifier", r->name);
            goto fail;
        }
        if (r->windows++ == 0)
            r->first_step = first;
        r->last_step = last;
        if (opts->progress)
            opts->progress(opts->progress_user, r->name, dxt_op_stream_progress(s));
    }
    if (got < 0)
        goto fail;
    rc = 0;
fail:
    dxt_op_stream_close(s);
    bufs_free(&b);
    return rc;
}

/* The ops chosen (all when none named); an unknown name is an error. */
static int choose_ops(dxt_analysis *a, const dxt_analysis_opts *opts, dxt_error *err)
{
    const dxt_input *in = a->in;
    int count = opts->nops ? opts->nops : in->nops;
    for (int k = 0; k < count; k++) {
        int op = opts->nops ? dxt_input_find_op(in, opts->ops[k]) : k;
        if (op < 0) {
            char have[512] = "";
            for (int m = 0; m < in->nops; m++) {
                size_t used = strlen(have);
                snprintf(have + used, sizeof have - used, "%s%s", m ? ", " : "", in->ops[m]);
            }
            dxt_set_error(err, "%s: no op '%s' (ops: %s)", in->path, opts->ops[k], have);
            return -1;
        }
        int dup = 0;
        for (int m = 0; m < a->nops; m++)
            dup |= a->ops[m].input_op == op;
        if (dup)
            continue;
        dxt_op_result *r = &a->ops[a->nops++];
        snprintf(r->name, sizeof r->name, "%s", in->ops[op]);
        r->input_op = op;
        r->first_step = r->last_step = -1;
    }
    return 0;
}

int dxt_analysis_run(dxt_input *in, const dxt_analysis_opts *opts, dxt_analysis **out,
                     dxt_error *err)
{
    int rc = -2; /* nothing to analyze: the user's request */
    *out = NULL;
    dxt_analysis *a = calloc(1, sizeof *a);
    if (!a) {
        dxt_set_error(err, "%s: out of memory", in->path);
        return -1;
    }
    a->in = in;
    a->topo = (dxt_topology){in->n, in->nnodes, in->node_of,
                             (const char *const *)in->node_names};
    a->from = opts->from > in->first_step ? opts->from : in->first_step;
    a->to = opts->to < in->last_step ? opts->to : in->last_step;
    if (a->from > a->to) {
        dxt_set_error(err, "%s: no step in the range asked: steps %lld .. %lld (the input "
                      "has steps %lld .. %lld)", in->path, (long long)a->from, (long long)a->to,
                      (long long)in->first_step, (long long)in->last_step);
        goto fail;
    }
    if (in->n > DXT_ANALYSIS_MAX_WORLD) { /* refused before any N x N buffer (reliability) */
        dxt_set_error(err, "%s: world_size %d: its %d x %d matrices (%.0f GiB each) are too "
                      "large to analyze (at most %d ranks)", in->path, in->n, in->n, in->n,
                      (double)in->n * in->n * sizeof(double) / (1u << 30),
                      DXT_ANALYSIS_MAX_WORLD);
        goto fail;
    }
    if (check_memory(in, err) != 0) {
        rc = -1; /* exit 3: out of memory, said before allocating */
        goto fail;
    }
    int64_t span; /* steps in [from, to]; saturated (steps may reach INT64_MIN..MAX) */
    if (__builtin_sub_overflow(a->to, a->from, &span) || span == INT64_MAX)
        span = INT64_MAX;
    else
        span++;
    a->window_steps = opts->window_steps > 0 ? opts->window_steps : dxt_default_window(span);
    if (choose_ops(a, opts, err) != 0)
        goto fail;
    rc = -1;
    for (int k = 0; k < a->nops; k++)
        if (run_op(a, &a->ops[k], opts, err) != 0)
            goto fail;
    *out = a;
    return 0;
fail:
    dxt_analysis_free(a);
    return rc;
}

void dxt_analysis_free(dxt_analysis *a)
{
    if (!a)
        return;
    for (int k = 0; k < a->nops; k++) {
        if (a->ops[k].tracker)
            dxt_tracker_free(a->ops[k].tracker);
        free(a->ops[k].total);
        free(a->ops[k].total_tokens);
        free(a->ops[k].rank_rows);
    }
    free(a);
}
