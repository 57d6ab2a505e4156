/* window.c - the analysis driver of dxt-analyze: choose the window, stream
 * each chosen op window by window (each lent by the stream: no window buffer
 * here), add it to the whole-range matrix kept for the reports and plots, mark
 * what is missing (no traffic, missing ranks, the diagonal) as NAN in place and
 * feed the op's tracker. With more than one thread (DXT_THREADS),
 * an op's tracker classifies in a thread of its own while the next op is read.
 * Owner: the loader/report engineer (A2). */
#include "analysis.h"
#include "par_for.h"      /* dxt_par_default_threads */
#include "load_trace.h"   /* DXT_TRACE_MAX_OPEN */
#include "partition.h"

#include <math.h>
#include <pthread.h>
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
 * at most DXT_TRACE_MAX_OPEN open (input/load_trace.h), plus its stream's ring
 * of window sums and tables (dxt_trace_stream_most_bytes). */
#define DXT_ANALYSIS_BYTES_PER_FILE (1.2 * 1024 * 1024)

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
                                    dxt_trace_stream_most_bytes(in->n) : 0);
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

/* The classifier's view of one window, in place: NAN for no traffic, missing
 * rows, the diagonal. */
static void mark_missing(int n, double *wait, double *tokens, const int64_t *rank_rows)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            size_t k = (size_t)i * n + j;
            int gone = i == j || rank_rows[i] == 0;
            wait[k] = gone || wait[k] == 0 ? NAN : wait[k];
            if (tokens)
                tokens[k] = gone ? NAN : tokens[k];
        }
}

static void accumulate(dxt_op_result *r, size_t n, const dxt_window *w)
{
    for (size_t k = 0; k < n * n; k++)
        r->total[k] += w->wait[k];
    for (size_t k = 0; r->total_tokens && k < n * n; k++)
        r->total_tokens[k] += w->tokens[k];
    for (size_t i = 0; i < n; i++) {
        r->rank_rows[i] += w->rank_rows[i];
        if (__builtin_add_overflow(r->rank_steps[i], w->rank_steps[i], &r->rank_steps[i]))
            r->rank_steps[i] = INT64_MAX;
    }
}

/* Window w, lent by the feed, marked in place, into tracker t of op r (which
 * keeps its own copy). 0 or -1. */
static int feed_tracker(dxt_tracker *t, const dxt_op_result *r, size_t n, dxt_window *w,
                        dxt_error *err)
{
    mark_missing((int)n, w->wait, w->tokens, w->rank_rows);
    if (dxt_tracker_add_window_rows(t, w->first_step, w->last_step, w->wait, w->tokens,
                                    w->rank_rows) == 0)
        return 0;
    dxt_set_error(err, "op '%s': out of memory in the classifier", r->name);
    return -1;
}

/* One window taken by process 0 (or the serial run), lent by the feed: into the
 * totals, then into the tracker. 0 or -1. */
static int take_window(dxt_op_result *r, size_t n, dxt_window *w, dxt_error *err)
{
    accumulate(r, n, w);
    if (feed_tracker(r->tracker, r, n, w, err) != 0)
        return -1;
    if (r->windows++ == 0)
        r->first_step = w->first_step;
    r->last_step = w->last_step;
    return 0;
}

/* The windows of one op: every process of a partitioned run reads its ranks
 * (run/partition.c), process 0 alone keeps the totals and the tracker. */
static int run_op(dxt_analysis *a, dxt_op_result *r, const dxt_analysis_opts *opts,
                  dxt_error *err)
{
    dxt_input *in = a->in;
    size_t n = (size_t)in->n;
    int tokens = in->op_has_tokens[r->input_op];
    int root = !opts->partition || opts->partition->index == 0;
    dxt_feed f;
    int rc = dxt_feed_open(&f, in, r->input_op, a->from, a->to, a->test_steps,
                           opts->partition, err);
    if (rc == 0 && root &&
        (!(r->total = calloc(n * n, sizeof *r->total)) ||
         !(r->rank_rows = calloc(n, sizeof *r->rank_rows)) ||
         !(r->rank_steps = calloc(n, sizeof *r->rank_steps)) ||
         (tokens && !(r->total_tokens = calloc(n * n, sizeof *r->total_tokens))) ||
         !(r->tracker = dxt_tracker_new(r->name, &a->topo, &opts->classify)))) {
        dxt_set_error(err, "%s: out of memory for op '%s' (%zu ranks)", in->path, r->name, n);
        rc = -1;
    }
    dxt_window w;
    int got = 0;
    while (rc == 0 && (got = dxt_feed_next(&f, &w, err)) == 1) {
        rc = take_window(r, n, &w, err);
        if (rc == 0 && opts->progress)
            opts->progress(opts->progress_user, r->name, dxt_feed_progress(&f));
    }
    if (got < 0)
        rc = -1;
    return dxt_feed_close(&f, rc, err);
}

/* The op's windows of coarse_steps, longer than the tests' (window_steps, or
 * the long window), again, to its coarse tracker: a short fault stands out in
 * short windows, a long weak one in long ones (a 2x slow receiver in a noisy
 * combine for 230 of 293 steps: 9 of 10 windows of 20 steps, 1 of 46 of 5). */
static int run_coarse(dxt_analysis *a, dxt_op_result *r, const dxt_analysis_opts *opts,
                      dxt_error *err)
{
    size_t n = (size_t)a->in->n;
    int root = !opts->partition || opts->partition->index == 0;
    dxt_feed f;
    int rc = dxt_feed_open(&f, a->in, r->input_op, a->from, a->to, a->coarse_steps,
                           opts->partition, err);
    if (rc == 0 && root && !(r->coarse = dxt_tracker_new(r->name, &a->topo, &opts->classify))) {
        dxt_set_error(err, "%s: out of memory for op '%s' (%zu ranks)", a->in->path, r->name, n);
        rc = -1;
    }
    if (r->coarse)
        dxt_tracker_set_longer(r->coarse);
    dxt_window w;
    int got = 0;
    while (rc == 0 && (got = dxt_feed_next(&f, &w, err)) == 1)
        rc = feed_tracker(r->coarse, r, n, &w, err);
    if (got < 0)
        rc = -1;
    return dxt_feed_close(&f, rc, err);
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

/* The analysis asked for: steps, window, ops, memory. 0; -2 it selects nothing;
 * -1 too large. */
static int setup(dxt_analysis *a, const dxt_analysis_opts *opts, dxt_error *err)
{
    dxt_input *in = a->in;
    a->topo = (dxt_topology){in->n, in->nnodes, in->node_of,
                             (const char *const *)in->node_names};
    a->from = opts->from > in->first_step ? opts->from : in->first_step;
    a->to = opts->to < in->last_step ? opts->to : in->last_step;
    if (a->from > a->to) {
        dxt_set_error(err, "%s: no step in the range asked: steps %lld .. %lld (the input "
                      "has steps %lld .. %lld)", in->path, (long long)a->from, (long long)a->to,
                      (long long)in->first_step, (long long)in->last_step);
        return -2; /* nothing to analyze: the user's request */
    }
    if (in->n > DXT_ANALYSIS_MAX_WORLD) { /* refused before any N x N buffer (reliability) */
        dxt_set_error(err, "%s: world_size %d: its %d x %d matrices (%.0f GiB each) are too "
                      "large to analyze (at most %d ranks)", in->path, in->n, in->n, in->n,
                      (double)in->n * in->n * sizeof(double) / (1u << 30),
                      DXT_ANALYSIS_MAX_WORLD);
        return -2; /* nothing to analyze: the user's request */
    }
    if (check_memory(in, err) != 0)
        return -1; /* exit 3: out of memory, said before allocating */
    int64_t span; /* steps in [from, to]; saturated (steps may reach INT64_MIN..MAX) */
    if (__builtin_sub_overflow(a->to, a->from, &span) || span == INT64_MAX)
        span = INT64_MAX;
    else
        span++;
    int64_t usual = dxt_default_window(span, a->in->row_every);
    a->window_steps = opts->window_steps > 0 ? opts->window_steps : usual;
    /* The tests also see windows no longer than the default's: a window chosen
     * for the pictures (50 steps of an 800-step run: 16 windows) left a 4x
     * slow rank of 100 steps 2 windows, which no count of exceedances can tell
     * from noise (the fault sweeps' traces of windows 20 and 50: 23 faults
     * found at their window, 45 at the default; a GPU set judged at 50-step
     * windows: 39 of 60 found, 49 at the default). And still the long ones
     * (run_coarse): a long weak fault stands out there. Where no --window is
     * longer, the long windows are dxt_long_window's (a 2x slow receiver of
     * 230 steps in combine, 1.9 of its noise's scales a 5-step window: one
     * window above 3; 9 of 10 of 20 steps), unless --test-window chose. */
    int64_t fine = opts->test_window_steps > 0 ? opts->test_window_steps : usual;
    a->test_steps = a->window_steps < fine ? a->window_steps : fine;
    a->coarse_steps = a->test_steps < a->window_steps ? a->window_steps
                      : opts->test_window_steps > 0 ? 0
                                                    : dxt_long_window(span, a->in->row_every);
    return choose_ops(a, opts, err) != 0 ? -2 : 0;
}

/* The op's findings: the tracker classifies its windows on the first ask. */
static void *classify_op(void *tracker)
{
    (void)dxt_tracker_findings(tracker, NULL);
    return NULL;
}

/* Read the ops in turn; with more than one thread, each op but the last is
 * classified in a thread of its own while the next is read (trackers share
 * nothing but the read-only topology). Every thread is joined before return. */
static int run_ops(dxt_analysis *a, const dxt_analysis_opts *opts, dxt_error *err)
{
    pthread_t thread[DXT_MAX_OPS];
    int started[DXT_MAX_OPS] = {0}, rc = 0;
    int overlap = dxt_par_default_threads() > 1;
    for (int k = 0; rc == 0 && k < a->nops; k++) {
        rc = run_op(a, &a->ops[k], opts, err) != 0 ? -1 : 0;
        if (rc == 0 && dxt_two_sizes(a)) /* each size at the full alpha: Simes joins them */
            rc = run_coarse(a, &a->ops[k], opts, err) != 0 ? -1 : 0;
        if (rc == 0 && overlap && a->ops[k].tracker && k + 1 < a->nops)
            started[k] = pthread_create(&thread[k], NULL, classify_op, a->ops[k].tracker) == 0;
    }
    for (int k = 0; k < a->nops; k++) /* a thread not started: classified when asked */
        if (started[k])
            pthread_join(thread[k], NULL);
    for (int k = 0; rc == 0 && k < a->nops; k++)
        if (a->ops[k].coarse) {
            if (dxt_tracker_join(a->ops[k].tracker, a->ops[k].coarse) != 0) {
                dxt_set_error(err, "op '%s': out of memory in the classifier", a->ops[k].name);
                rc = -1;
            }
            dxt_tracker_free(a->ops[k].coarse);
            a->ops[k].coarse = NULL;
        }
    return rc;
}

int dxt_analysis_run(dxt_input *in, const dxt_analysis_opts *opts, dxt_analysis **out,
                     dxt_error *err)
{
    *out = NULL;
    dxt_analysis *a = calloc(1, sizeof *a);
    if (a)
        a->in = in;
    else
        dxt_set_error(err, "%s: out of memory", in->path);
    /* a partitioned run goes on only where every process can */
    int rc = dxt_partition_agree(opts->partition, a ? setup(a, opts, err) : -1, err);
    if (rc == 0)
        rc = run_ops(a, opts, err);
    if (rc != 0) {
        dxt_analysis_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void dxt_analysis_free(dxt_analysis *a)
{
    if (!a)
        return;
    for (int k = 0; k < a->nops; k++) {
        if (a->ops[k].tracker)
            dxt_tracker_free(a->ops[k].tracker);
        if (a->ops[k].coarse)
            dxt_tracker_free(a->ops[k].coarse);
        free(a->ops[k].total);
        free(a->ops[k].total_tokens);
        free(a->ops[k].rank_rows);
        free(a->ops[k].rank_steps);
    }
    free(a);
}
