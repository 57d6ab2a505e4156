/* test_load.c - cmocka tests of dxt-analyze's loaders and window streams
 * (analyzer/input/input.h): traces written with the format writer (cumulative ->
 * delta, counter reset, step gaps, ranks ending early, a missing rank, a bad
 * file among good ones, two run ids, segments, units, per-row clock_hz,
 * dropped rows, tokens, window sums) and the text inputs (DeepXTrace log,
 * plain matrix). Owner: the loader/report engineer (A2). */
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "analysis.h"
#include "input.h"

static char tmpdir[64];
static int dir_seq;
static char dir[128]; /* a fresh trace directory per test */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static int setup_all(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dxt_test_load.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_all(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int new_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s/t%d", tmpdir, dir_seq++);
    return mkdir(dir, 0755);
}

/* One rank's file: one op "dispatch", rows given. */
typedef struct rank_spec {
    const char *name;      /* file name in dir; NULL: rank-%05d.h5 */
    const char *run_id;    /* NULL: "run-1" */
    int rank, world;
    const char *node;      /* NULL: none */
    double clock_hz;
    dxt_unit unit;
    dxt_counting counting;
    int64_t nrows;
    const int64_t *step;
    const int64_t *wait;   /* nrows x world */
    const int64_t *tokens; /* NULL: no tokens */
    const double *row_hz;  /* NULL: no per-row clock_hz */
    int64_t dropped, dropped_first, dropped_last;
} rank_spec;

static void write_rank(const rank_spec *s)
{
    char path[256];
    if (s->name)
        snprintf(path, sizeof path, "%s/%s", dir, s->name);
    else
        snprintf(path, sizeof path, "%s/rank-%05d.h5", dir, s->rank);
    dxt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.run_id, sizeof meta.run_id, "%s", s->run_id ? s->run_id : "run-1");
    meta.rank = s->rank;
    meta.world_size = s->world;
    meta.local_rank = -1;
    if (s->node)
        snprintf(meta.node, sizeof meta.node, "%s", s->node);
    meta.clock_hz = s->clock_hz;
    const char *ops[] = {"dispatch"};
    dxt_writer_opts opts = {.chunk_rows = 2, .has_tokens = s->tokens != NULL,
                            .has_clock_hz = s->row_hz != NULL};
    dxt_writer *w = NULL;
    dxt_error err = {{0}};
    unlink(path); /* the writer never overwrites: a test that rewrites a rank removes it */
    int rc = dxt_writer_create(path, &meta, ops, 1, s->unit, s->counting, &opts, &w, &err);
    if (rc != 0)
        fail_msg("%s", err.msg);
    if (s->nrows > 0)
        assert_int_equal(dxt_writer_append(w, 0, s->nrows, s->step, NULL, s->wait, s->tokens,
                                           s->row_hz, &err), 0);
    if (s->dropped)
        assert_int_equal(dxt_writer_set_dropped(w, 0, s->dropped, s->dropped_first,
                                                s->dropped_last, &err), 0);
    assert_int_equal(dxt_writer_close(w, &err), 0);
}

static dxt_input *open_input(const char *path, const char *run)
{
    dxt_input_opts opts;
    dxt_input_opts_init(&opts);
    opts.run_id = run;
    dxt_input *in = NULL;
    dxt_error err = {{0}};
    if (dxt_input_open(path, &opts, &in, &err) != 0)
        fail_msg("open %s: %s", path, err.msg);
    return in;
}

typedef struct window {
    int64_t first, last;
    double wait[16];
    double tokens[16];
    int64_t rows[4];
    int64_t steps[4];
} window;

/* Every window of op 0 (n <= 4). Returns their count. */
static int read_windows(dxt_input *in, int64_t from, int64_t to, int64_t steps, window *w,
                        int max)
{
    dxt_op_stream *s = NULL;
    dxt_error err = {{0}};
    assert_true(in->n <= 4);
    assert_int_equal(dxt_op_stream_open(in, 0, from, to, steps, &s, &err), 0);
    int count = 0, rc;
    while (count < max && (rc = dxt_op_stream_next_steps(s, &w[count].first, &w[count].last,
                                                         w[count].wait, w[count].tokens,
                                                         w[count].rows, w[count].steps,
                                                         &err)) == 1)
        count++;
    dxt_op_stream_close(s);
    return count;
}

static int has_warning(const dxt_input *in, const char *part)
{
    for (int k = 0; k < in->nwarnings; k++)
        if (strstr(in->warnings[k], part))
            return 1;
    return 0;
}

/* Two ranks, cumulative cycles with clock 1e6 Hz (1 cycle = 1 us), a reset. */
static void test_cumulative_reset_windows(void **state)
{
    (void)state;
    int64_t step[] = {0, 1, 2, 3};
    int64_t w0[] = {0, 10, 0, 30, 0, 60, 0, 5};   /* rank 0 waits for 1: 10, 20, 30, reset 5 */
    int64_t w1[] = {7, 0, 14, 0, 21, 0, 28, 0};   /* rank 1 waits for 0: 7 each */
    rank_spec s = {.rank = 0, .world = 2, .clock_hz = 1e6, .unit = DXT_UNIT_CYCLES,
                   .counting = DXT_COUNTING_CUMULATIVE, .nrows = 4, .step = step, .wait = w0};
    write_rank(&s);
    s.rank = 1;
    s.wait = w1;
    write_rank(&s);
    dxt_input *in = open_input(dir, NULL);
    assert_int_equal(in->n, 2);
    assert_string_equal(in->unit, "us");
    assert_int_equal(in->first_step, 0);
    assert_int_equal(in->last_step, 3);
    window w[8];
    assert_int_equal(read_windows(in, 0, 3, 2, w, 8), 2);
    assert_int_equal(w[0].first, 0);
    assert_int_equal(w[0].last, 1);
    assert_true(fabs(w[0].wait[1] - 30) < 1e-9);  /* 10 + 20 */
    assert_true(fabs(w[1].wait[1] - 35) < 1e-9);  /* 30 + reset 5 */
    assert_true(fabs(w[0].wait[2] - 14) < 1e-9);
    assert_true(fabs(w[1].wait[2] - 14) < 1e-9);
    assert_int_equal(w[0].rows[0], 2);
    /* one window of everything; --from skips the rows before it but keeps the counters */
    assert_int_equal(read_windows(in, 0, 3, 100, w, 8), 1);
    assert_true(fabs(w[0].wait[1] - 65) < 1e-9);
    assert_int_equal(read_windows(in, 2, 3, 1, w, 8), 2);
    assert_true(fabs(w[0].wait[1] - 30) < 1e-9);
    assert_true(fabs(w[0].wait[2] - 7) < 1e-9);
    dxt_input_free(in);
}

/* Step gaps, a rank that ends early, a missing rank (world 3, no rank 2). */
static void test_gaps_and_missing(void **state)
{
    (void)state;
    int64_t step0[] = {0, 1, 5, 6}, step1[] = {0, 1};
    int64_t w0[] = {0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1};
    int64_t w1[] = {2, 0, 2, 2, 0, 2};
    rank_spec s = {.rank = 0, .world = 3, .unit = DXT_UNIT_NS,
                   .counting = DXT_COUNTING_DELTA, .nrows = 4, .step = step0, .wait = w0};
    write_rank(&s);
    s.rank = 1, s.nrows = 2, s.step = step1, s.wait = w1;
    write_rank(&s);
    dxt_input *in = open_input(dir, NULL);
    assert_int_equal(in->rank_present[2], 0);
    assert_true(has_warning(in, "rank(s) 2 of 3"));
    window w[8];
    assert_int_equal(read_windows(in, 0, 6, 2, w, 8), 3); /* [0,1] [4,5] [6,7]: [2,3] empty */
    assert_int_equal(w[1].first, 4);
    assert_int_equal(w[2].first, 6);
    assert_int_equal(w[2].last, 6);
    assert_int_equal(w[0].rows[1], 2);
    assert_int_equal(w[1].rows[1], 0);   /* rank 1 ended */
    assert_int_equal(w[1].rows[2], 0);   /* rank 2 missing */
    assert_true(fabs(w[0].wait[1] - 0.002) < 1e-12); /* 2 ns -> us */
    dxt_input_free(in);
}

/* A bad file among good ones is skipped and named; the rest loads. */
static void test_bad_file_skipped(void **state)
{
    (void)state;
    int64_t step[] = {0};
    int64_t w[] = {0, 5};
    rank_spec s = {.rank = 0, .world = 2, .unit = DXT_UNIT_NS, .counting = DXT_COUNTING_DELTA,
                   .nrows = 1, .step = step, .wait = w};
    write_rank(&s);
    s.rank = 1;
    write_rank(&s);
    char path[256];
    snprintf(path, sizeof path, "%s/rank-00009.h5", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not an HDF5 file\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/rank-00001.h5.tmp", dir); /* ignored */
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    dxt_input *in = open_input(dir, NULL);
    assert_int_equal(in->nskipped, 1);
    assert_non_null(strstr(in->skipped[0].path, "rank-00009.h5"));
    assert_int_equal(in->nfiles, 2);
    dxt_input_free(in);
}

/* Two run ids: refused, naming both; --run picks one. A world_size outlier is skipped. */
static void test_two_runs(void **state)
{
    (void)state;
    int64_t step[] = {0};
    int64_t w[] = {0, 5};
    rank_spec s = {.rank = 0, .world = 2, .unit = DXT_UNIT_NS, .counting = DXT_COUNTING_DELTA,
                   .nrows = 1, .step = step, .wait = w, .run_id = "alpha"};
    write_rank(&s);
    s.rank = 1, s.run_id = "beta";
    write_rank(&s);
    dxt_input_opts opts;
    dxt_input_opts_init(&opts);
    dxt_input *in = NULL;
    dxt_error err = {{0}};
    assert_int_equal(dxt_input_open(dir, &opts, &in, &err), -1);
    assert_null(in);
    assert_non_null(strstr(err.msg, "'alpha'"));
    assert_non_null(strstr(err.msg, "'beta'"));
    assert_non_null(strstr(err.msg, "--run"));
    in = open_input(dir, "beta");
    assert_string_equal(in->run_id, "beta");
    assert_int_equal(in->rank_present[0], 0);
    assert_int_equal(in->rank_present[1], 1);
    dxt_input_free(in);
    opts.run_id = "gamma";
    assert_int_equal(dxt_input_open(dir, &opts, &in, &err), -1);
    assert_non_null(strstr(err.msg, "gamma"));
}

/* Cycles without any clock rate stay cycles; per-row clock_hz converts. */
static void test_units(void **state)
{
    (void)state;
    int64_t step[] = {0, 1};
    int64_t w[] = {0, 1000, 0, 3000};
    double hz[] = {1e9, 2e9};
    rank_spec s = {.rank = 0, .world = 2, .unit = DXT_UNIT_CYCLES,
                   .counting = DXT_COUNTING_CUMULATIVE, .nrows = 2, .step = step, .wait = w};
    write_rank(&s);
    dxt_input *in = open_input(dir, NULL);
    assert_string_equal(in->unit, "cycles");
    window win[4];
    assert_int_equal(read_windows(in, 0, 1, 1, win, 4), 2);
    assert_true(fabs(win[1].wait[1] - 2000) < 1e-9);
    dxt_input_free(in);
    s.row_hz = hz; /* 1000 cycles at 1 GHz = 1 us, then 2000 at 2 GHz = 1 us */
    write_rank(&s);
    in = open_input(dir, NULL);
    assert_string_equal(in->unit, "us");
    assert_int_equal(read_windows(in, 0, 1, 1, win, 4), 2);
    assert_true(fabs(win[0].wait[1] - 1) < 1e-9);
    assert_true(fabs(win[1].wait[1] - 1) < 1e-9);
    dxt_input_free(in);
}

/* A row every 10 steps (the recorder's step_every=10: steps 0, 9, 19, ...): a
 * window's steps are those its rows cover, not its rows; a recorded drop's steps
 * are not covered. Rank 0 dropped the rows of steps 39, 49, 59; rank 1 those of
 * 39 and 59 (its drop range spans a row it kept: that row covers its stride). */
static void test_steps_covered(void **state)
{
    (void)state;
    int64_t step0[] = {0, 9, 19, 29, 69, 79}, step1[] = {0, 9, 19, 29, 49, 69, 79};
    int64_t w0[14], w1[14];
    for (int k = 0; k < 7; k++) {
        w0[2 * k] = w1[2 * k + 1] = 0;
        w0[2 * k + 1] = k < 6 ? 100 * (step0[k] + 1) : 0;
        w1[2 * k] = 100 * (step1[k] + 1);
    }
    rank_spec s = {.rank = 0, .world = 2, .clock_hz = 1e6, .unit = DXT_UNIT_CYCLES,
                   .counting = DXT_COUNTING_CUMULATIVE, .nrows = 6, .step = step0, .wait = w0,
                   .dropped = 3, .dropped_first = 39, .dropped_last = 59};
    write_rank(&s);
    s.rank = 1, s.nrows = 7, s.step = step1, s.wait = w1, s.dropped = 2;
    write_rank(&s);
    dxt_input *in = open_input(dir, NULL);
    window w[5];
    assert_int_equal(read_windows(in, 0, 79, 20, w, 5), 4);
    int64_t rows[4][2] = {{3, 3}, {1, 1}, {0, 1}, {2, 2}};
    int64_t steps[4][2] = {{20, 20}, {10, 10}, {0, 10}, {20, 20}};
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 2; i++) {
            assert_int_equal(w[k].rows[i], rows[k][i]);
            assert_int_equal(w[k].steps[i], steps[k][i]);
        }
    assert_true(fabs(w[0].wait[1] - 2000) < 1e-9); /* cumulative: step 19's 2000 */
    assert_true(fabs(w[3].wait[1] - 5000) < 1e-9); /* 8000 - 3000: the drop's wait too */
    /* from 5: the row of step 9 covers 1..9, all of it in the first window */
    assert_int_equal(read_windows(in, 5, 79, 20, w, 5), 4);
    assert_int_equal(w[0].steps[0], 19);
    assert_int_equal(w[0].rows[0], 2);
    dxt_input_free(in);
}

/* Segments of one rank (the recorder's rank-%05d.<k>.h5): merged, overlap kept once;
 * dropped rows and tokens reported. */
static void test_segments_dropped_tokens(void **state)
{
    (void)state;
    int64_t step_a[] = {0, 1, 2}, step_b[] = {2, 3};
    int64_t wa[] = {0, 1, 0, 2, 0, 3}, wb[] = {0, 3, 0, 4};
    int64_t ta[] = {0, 5, 0, 5, 0, 5}, tb[] = {0, 5, 0, 5};
    rank_spec s = {.rank = 0, .world = 2, .clock_hz = 1e6, .unit = DXT_UNIT_CYCLES,
                   .counting = DXT_COUNTING_CUMULATIVE, .nrows = 3, .step = step_a,
                   .wait = wa, .tokens = ta, .node = "hostA", .dropped = 1204,
                   .dropped_first = 300, .dropped_last = 900};
    write_rank(&s);
    s.name = "rank-00000.1.h5", s.nrows = 2, s.step = step_b, s.wait = wb, s.tokens = tb;
    s.dropped = 0;
    write_rank(&s);
    s.name = NULL, s.rank = 1, s.node = "hostB";
    write_rank(&s);
    dxt_input *in = open_input(dir, NULL);
    assert_true(has_warning(in, "rank 0 has 2 files"));
    assert_int_equal(in->ndropped, 1);
    assert_int_equal(in->dropped[0].rows, 1204);
    assert_int_equal(in->dropped[0].first_step, 300);
    assert_int_equal(in->nnodes, 2);
    assert_string_equal(in->node_names[in->node_of[1]], "hostB");
    assert_true(in->op_has_tokens[0]);
    window w[4];
    assert_int_equal(read_windows(in, 0, 3, 10, w, 4), 1);
    assert_true(fabs(w[0].wait[1] - 4) < 1e-9);      /* cumulative 1,2,3,(3),4 */
    assert_int_equal(w[0].rows[0], 4);
    assert_true(fabs(w[0].tokens[1] - 5) < 1e-9);    /* cumulative tokens stay at 5 */
    assert_true(has_warning(in, "overlap"));
    dxt_input_free(in);
}

static void write_text(const char *name, const char *text, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_text_inputs(void **state)
{
    (void)state;
    char path[256];
    write_text("diag.log",
               "INFO something rank=9 happened\n"
               "[diag] rank=0 [1 2 3]\n[diag] rank=1 [4, 5, 6]\nrank=2 [7 8\n 9]\n"
               "noise\nrank=0 [1 1 1]\nrank=1 [1 1 1]\n",
               path, sizeof path);
    dxt_input *in = open_input(path, NULL);
    assert_int_equal(in->kind, DXT_INPUT_LOG);
    assert_int_equal(in->n, 3);
    assert_int_equal(in->last_step, 1);     /* two windows, the second lacks rank 2 */
    assert_true(has_warning(in, "no row for rank 2"));
    window w[4];
    assert_int_equal(read_windows(in, 0, 1, 1, w, 4), 2);
    assert_true(fabs(w[0].wait[2 * 3 + 2] - 9) < 1e-9);
    assert_int_equal(w[1].rows[2], 0);
    dxt_input_free(in);
    write_text("m.txt", "# a matrix\n1 2\n3 4\n\n5 6\n7 8\n", path, sizeof path);
    in = open_input(path, NULL);
    assert_int_equal(in->kind, DXT_INPUT_MATRIX);
    assert_int_equal(read_windows(in, 0, 1, 5, w, 4), 1);
    assert_true(fabs(w[0].wait[3] - 12) < 1e-9);
    assert_int_equal(w[0].steps[1], w[0].rows[1]); /* a matrix is a step */
    dxt_input_free(in);
    write_text("bad.txt", "1 2\n3 x\n", path, sizeof path);
    dxt_input_opts opts;
    dxt_input_opts_init(&opts);
    dxt_error err = {{0}};
    assert_int_equal(dxt_input_open(path, &opts, &in, &err), -1);
    assert_non_null(strstr(err.msg, "bad.txt:2"));
}

static void test_default_window_and_nodes(void **state)
{
    (void)state;
    assert_int_equal(dxt_default_window(1, 1), 1);
    assert_int_equal(dxt_default_window(100, 1), 1);
    assert_int_equal(dxt_default_window(101, 1), 2);
    assert_int_equal(dxt_default_window(2000, 1), 20);
    assert_int_equal(dxt_default_window(10000, 1), 100);
    assert_int_equal(dxt_default_window(1500, 1), 20);
    /* a row every K steps: windows of K steps at least */
    assert_int_equal(dxt_default_window(400, 10), 10);
    assert_int_equal(dxt_default_window(80, 10), 10);
    assert_int_equal(dxt_default_window(400, 3), 5);
    assert_int_equal(dxt_default_window(2000, 50), 50);
    dxt_input in;
    memset(&in, 0, sizeof in);
    in.n = 16;
    assert_int_equal(dxt_input_nodes_by_count(&in, 8), 0);
    assert_int_equal(in.nnodes, 2);
    assert_int_equal(in.node_of[9], 1);
    for (int k = 0; k < in.nnodes; k++)
        free(in.node_names[k]);
    free(in.node_names);
    free(in.node_of);
    in.n = 8; /* N <= R: one node */
    assert_int_equal(dxt_input_nodes_by_count(&in, 8), 0);
    assert_int_equal(in.nnodes, 1);
    free(in.node_names[0]);
    free(in.node_names);
    free(in.node_of);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_cumulative_reset_windows, new_dir),
        cmocka_unit_test_setup(test_gaps_and_missing, new_dir),
        cmocka_unit_test_setup(test_bad_file_skipped, new_dir),
        cmocka_unit_test_setup(test_two_runs, new_dir),
        cmocka_unit_test_setup(test_units, new_dir),
        cmocka_unit_test_setup(test_segments_dropped_tokens, new_dir),
        cmocka_unit_test_setup(test_steps_covered, new_dir),
        cmocka_unit_test_setup(test_text_inputs, new_dir),
        cmocka_unit_test_setup(test_default_window_and_nodes, new_dir),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
