/* test_format.c - cmocka tests of the format module (format/): names, round
 * trips, compression, validation errors on hand-made bad files (made with the
 * HDF5 API directly: format_fixtures.c). Crash safety: test_format_crash.c.
 * Owner: the format module. */

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hdf5.h>

#include "dxt_format.h"

#include "format_fixtures.h"

/* Files of tmpdir that are not traces (temporaries left behind). */
static int count_temporaries(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".tmp") != NULL;
    if (d)
        closedir(d);
    return n;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* ---- names ---------------------------------------------------------------- */

static void test_names(void **state)
{
    (void)state;
    dxt_unit u;
    dxt_counting c;
    assert_string_equal(dxt_name_str(DXT_A_FORMAT), "format");
    assert_string_equal(dxt_name_str(DXT_D_WAIT), "wait");
    assert_string_equal(dxt_name_str(DXT_V_DELTA), "delta");
    assert_string_equal(dxt_name_str(DXT_NAME_COUNT), "?");
    assert_string_equal(dxt_unit_str(DXT_UNIT_NS), "ns");
    assert_string_equal(dxt_counting_str(DXT_COUNTING_CUMULATIVE), "cumulative");
    assert_int_equal(dxt_unit_parse("cycles", &u), 0);
    assert_int_equal(u, DXT_UNIT_CYCLES);
    assert_int_equal(dxt_unit_parse("ns", &u), 0);
    assert_int_equal(u, DXT_UNIT_NS);
    assert_int_equal(dxt_unit_parse("us", &u), -1);
    assert_int_equal(dxt_unit_parse(NULL, &u), -1);
    assert_int_equal(dxt_counting_parse("delta", &c), 0);
    assert_int_equal(c, DXT_COUNTING_DELTA);
    assert_int_equal(dxt_counting_parse("reset", &c), -1);
}

/* ---- round trip ------------------------------------------------------------ */

static void write_rows(dxt_writer *w, int op, int64_t first, int64_t n, int64_t world, int tokens,
                       int clock)
{
    dxt_error err;
    int64_t *step = calloc((size_t)n, 8), *time_ns = calloc((size_t)n, 8);
    int64_t *wait = calloc((size_t)(n * world), 8), *tok = calloc((size_t)(n * world), 8);
    double *hz = calloc((size_t)n, 8);
    assert_non_null(step && time_ns && wait && tok && hz);
    for (int64_t t = 0; t < n; t++) {
        step[t] = (first + t) * 2; /* gaps allowed */
        time_ns[t] = 1000 + first + t;
        hz[t] = 1.5e9 + (double)(first + t);
        for (int64_t j = 0; j < world; j++) {
            wait[t * world + j] = wait_value(op, first + t, j);
            tok[t * world + j] = tokens_value(op, first + t, j);
        }
    }
    int rc = dxt_writer_append(w, op, n, step, time_ns, wait, tokens ? tok : NULL,
                               clock ? hz : NULL, &err);
    if (rc != 0)
        fail_msg("append: %s", err.msg);
    free(step), free(time_ns), free(wait), free(tok), free(hz);
}

static void check_rows(dxt_reader *r, int op, int value_op, int64_t rows, int64_t world,
                       int tokens, int clock)
{
    dxt_error err;
    int64_t *step = calloc((size_t)rows + 1, 8), *time_ns = calloc((size_t)rows + 1, 8);
    int64_t *wait = calloc((size_t)(rows * world) + 1, 8);
    int64_t *tok = calloc((size_t)(rows * world) + 1, 8);
    double *hz = calloc((size_t)rows + 1, 8);
    assert_non_null(step && time_ns && wait && tok && hz);
    /* In two blocks, to exercise offsets. */
    int64_t half = rows / 2;
    for (int pass = 0; pass < 2; pass++) {
        int64_t first = pass ? half : 0, n = pass ? rows - half : half;
        int64_t got = dxt_reader_read(r, op, first, n + 5, step + first, time_ns + first,
                                      wait + first * world, tokens ? tok + first * world : NULL,
                                      clock ? hz + first : NULL, &err);
        if (got < 0)
            fail_msg("read: %s", err.msg);
        assert_int_equal(got, pass ? rows - half : n + 5 < rows ? n + 5 : rows);
    }
    for (int64_t t = 0; t < rows; t++) {
        assert_int_equal(step[t], t * 2);
        assert_int_equal(time_ns[t], 1000 + t);
        if (clock)
            assert_true(hz[t] == 1.5e9 + (double)t);
        for (int64_t j = 0; j < world; j++) {
            assert_int_equal(wait[t * world + j], wait_value(value_op, t, j));
            if (tokens)
                assert_int_equal(tok[t * world + j], tokens_value(value_op, t, j));
        }
    }
    free(step), free(time_ns), free(wait), free(tok), free(hz);
}

static void check_meta(const dxt_meta *a, const dxt_meta *b)
{
    assert_string_equal(a->run_id, b->run_id);
    assert_int_equal(a->rank, b->rank);
    assert_int_equal(a->world_size, b->world_size);
    assert_string_equal(a->node, b->node);
    assert_int_equal(a->local_rank, b->local_rank);
    assert_true(a->clock_hz == b->clock_hz);
    assert_int_equal(a->created_unix_ns, b->created_unix_ns);
    assert_string_equal(a->gpu_name, b->gpu_name);
    assert_string_equal(a->gpu_uuid, b->gpu_uuid);
    assert_string_equal(a->writer, b->writer);
}

static const char *const round_ops[] = {"dispatch", "combine", "gate"};
static const int64_t round_rows[] = {23, 8, 0};

/* Write the round-trip file: 3 ops, tokens, clock_hz, chunks of 4 rows. */
static void write_round_file(const char *path, int64_t world)
{
    dxt_error err;
    dxt_writer *w = NULL;
    dxt_meta meta = make_meta(3, world);
    dxt_writer_opts opts = {.chunk_rows = 4, .has_tokens = 1, .has_clock_hz = 1};
    if (dxt_writer_create(path, &meta, round_ops, 3, DXT_UNIT_CYCLES, DXT_COUNTING_CUMULATIVE,
                          &opts, &w, &err) != 0)
        fail_msg("create: %s", err.msg);
    write_rows(w, 0, 0, 10, world, 1, 1);
    assert_int_equal(dxt_writer_flush(w, &err), 0);
    write_rows(w, 0, 10, 13, world, 1, 1);
    write_rows(w, 1, 0, 8, world, 1, 1);
    assert_int_equal(dxt_writer_set_dropped(w, 1, 5, 100, 140, &err), 0);
    assert_int_equal(dxt_writer_close(w, &err), 0);
}

static void check_round_file(const char *path, int64_t world)
{
    dxt_error err;
    dxt_reader *r = NULL;
    dxt_meta meta = make_meta(3, world);
    if (dxt_reader_open(path, &r, &err) != 0)
        fail_msg("open: %s", err.msg);
    check_meta(dxt_reader_meta(r), &meta);
    assert_string_equal(dxt_reader_path(r), path);
    assert_int_equal(dxt_reader_op_count(r), 3);
    assert_int_equal(dxt_reader_find_op(r, "nope"), -1);
    for (int i = 0; i < 3; i++) {
        int op = dxt_reader_find_op(r, round_ops[i]);
        assert_true(op >= 0);
        const dxt_op_info *o = dxt_reader_op(r, op);
        assert_string_equal(o->name, round_ops[i]);
        assert_int_equal(o->rows, round_rows[i]);
        assert_int_equal(o->unit, DXT_UNIT_CYCLES);
        assert_int_equal(o->counting, DXT_COUNTING_CUMULATIVE);
        assert_true(o->has_tokens && o->has_time_ns && o->has_clock_hz);
        assert_int_equal(o->rows_dropped, i == 1 ? 5 : 0);
        assert_int_equal(o->dropped_first_step, i == 1 ? 100 : -1);
        assert_int_equal(o->dropped_last_step, i == 1 ? 140 : -1);
        check_rows(r, op, i, o->rows, world, 1, 1);
    }
    assert_null(dxt_reader_op(r, 3));
    assert_int_equal(dxt_reader_read(r, 0, 24, 1, NULL, NULL, NULL, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, path));
    dxt_reader_close(r);
}

static void test_round_trip(void **state)
{
    (void)state;
    const char *path = tpath("round.h5");
    write_round_file(path, 5);
    check_round_file(path, 5);
}

static void test_writer_rejects(void **state)
{
    (void)state;
    dxt_error err;
    dxt_writer *w = NULL;
    dxt_meta meta = make_meta(0, 4);
    const char *path = tpath("rejects.h5");
    const char *dup[] = {"a", "a"}, *ops[] = {"dispatch"};
    assert_int_equal(dxt_writer_create(path, &meta, dup, 2, DXT_UNIT_NS, DXT_COUNTING_DELTA, NULL,
                                       &w, &err), -1);
    assert_non_null(strstr(err.msg, path));
    meta.rank = 4;
    assert_int_equal(dxt_writer_create(path, &meta, ops, 1, DXT_UNIT_NS, DXT_COUNTING_DELTA, NULL,
                                       &w, &err), -1);
    assert_non_null(strstr(err.msg, "rank"));
    meta.rank = 0;
    assert_int_equal(dxt_writer_create(path, &meta, ops, 1, DXT_UNIT_NS, DXT_COUNTING_DELTA, NULL,
                                       &w, &err), 0);
    int64_t step[2] = {5, 5}, wait[8] = {0};
    assert_int_equal(dxt_writer_append(w, 0, 2, step, NULL, wait, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "step"));
    assert_int_equal(dxt_writer_append(w, 0, 1, step, NULL, wait, wait, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "tokens"));
    assert_int_equal(dxt_writer_append(w, 1, 1, step, NULL, wait, NULL, NULL, &err), -1);
    assert_int_equal(dxt_writer_append(w, 0, 1, step, NULL, wait, NULL, NULL, &err), 0);
    assert_int_equal(dxt_writer_append(w, 0, 1, step, NULL, wait, NULL, NULL, &err), -1);
    assert_int_equal(dxt_writer_close(w, &err), 0);
}

static void test_validation_errors(void **state)
{
    (void)state;
    static const struct {
        bad_kind bad;
        const char *field, *problem;
    } cases[] = {
        {BAD_NO_WORLD_SIZE, "'world_size'", "missing"},
        {BAD_RANK_TYPE, "'rank'", "wrong type"},
        {BAD_WAIT_SHAPE, "'ops/dispatch/wait'", "wrong shape"},
        {BAD_WAIT_FLOAT, "'ops/dispatch/wait'", "wrong type"},
        {BAD_STEP_SHAPE, "'ops/dispatch/step'", "wrong shape"},
        {BAD_VERSION_2, "'format_version'", "unsupported format_version 2 (this reader knows 1)"},
        {BAD_RANK_GE_WORLD, "'rank'", "not in 0..3"},
        {BAD_HUGE_WORLD, "'world_size'", "out of range"},
        {BAD_UNIT, "'ops/dispatch/wait/unit'", "unknown value 'furlongs'"},
        {BAD_NO_OPS, "'ops'", "missing"},
        {BAD_FORMAT, "'format'", "dxtracy"},
        {BAD_NODE_TYPE, "'node'", "wrong type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32];
        dxt_error err = {{0}};
        dxt_reader *r = NULL;
        snprintf(name, sizeof name, "bad-%zu.h5", i);
        const char *path = tpath(name);
        hand_file h = {.bad = cases[i].bad, .rows = 6, .world = 4};
        build_file(path, &h);
        assert_int_equal(dxt_reader_open(path, &r, &err), -1);
        assert_null(r);
        if (!strstr(err.msg, path) || !strstr(err.msg, cases[i].field) ||
            !strstr(err.msg, cases[i].problem))
            fail_msg("case %zu: message '%s' lacks %s / %s", i, err.msg, cases[i].field,
                     cases[i].problem);
    }
    /* Not HDF5 at all, and no file. */
    dxt_error err;
    dxt_reader *r = NULL;
    const char *text = tpath("text.h5");
    FILE *fp = fopen(text, "w");
    assert_non_null(fp);
    fputs("not a trace\n", fp);
    fclose(fp);
    assert_int_equal(dxt_reader_open(text, &r, &err), -1);
    assert_non_null(strstr(err.msg, text));
    assert_int_equal(dxt_reader_open(tpath("absent.h5"), &r, &err), -1);
    assert_non_null(strstr(err.msg, "absent.h5"));
}

/* Fixed ASCII strings, 8/16-bit and big-endian integers, integer clock_hz,
 * an int32 wait in a contiguous dataset: all accepted. */
static void test_accepts_variants(void **state)
{
    (void)state;
    dxt_error err;
    dxt_reader *r = NULL;
    const char *path = tpath("variants.h5");
    hand_file h = {.fixed_strings = 1, .rows = 6, .world = 4};
    build_file(path, &h);
    if (dxt_reader_open(path, &r, &err) != 0)
        fail_msg("open: %s", err.msg);
    const dxt_meta *m = dxt_reader_meta(r);
    assert_string_equal(m->run_id, "hand-run");
    assert_string_equal(m->node, "host-a");
    assert_int_equal(m->rank, 1);
    assert_int_equal(m->world_size, 4);
    assert_int_equal(m->local_rank, -1);
    assert_true(m->clock_hz == 1.5e9);
    const dxt_op_info *o = dxt_reader_op(r, 0);
    assert_int_equal(o->rows, 6);
    assert_int_equal(o->counting, DXT_COUNTING_DELTA);
    assert_false(o->has_tokens || o->has_time_ns || o->has_clock_hz);
    int64_t wait[24], step[6];
    assert_int_equal(dxt_reader_read(r, 0, 0, 6, step, NULL, wait, NULL, NULL, &err), 6);
    for (int t = 0; t < 24; t++)
        assert_int_equal(wait[t], wait_value(0, t / 4, t % 4));
    assert_int_equal(dxt_reader_read(r, 0, 0, 6, NULL, step, NULL, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "'ops/dispatch/time_ns' absent"));
    dxt_reader_close(r);
}

/* ---- compression ------------------------------------------------------------ */

static void test_compress(void **state)
{
    (void)state;
    enum { ROWS = 3000, WORLD = 64 };
    dxt_error err;
    dxt_writer *w = NULL;
    dxt_reader *r = NULL;
    dxt_meta meta = make_meta(7, WORLD);
    const char *ops[] = {"dispatch"}, *path = tpath("big.h5");
    realistic_rows m = realistic_rows_new(ROWS, WORLD);
    dxt_writer_opts opts = {.has_tokens = 1};
    assert_int_equal(dxt_writer_create(path, &meta, ops, 1, DXT_UNIT_CYCLES,
                                       DXT_COUNTING_CUMULATIVE, &opts, &w, &err), 0);
    for (int64_t t = 0; t < ROWS; t += 100) {
        assert_int_equal(dxt_writer_append(w, 0, 100, m.step + t, m.time_ns + t,
                                           m.wait + t * WORLD, m.tokens + t * WORLD, NULL, &err),
                         0);
        assert_int_equal(dxt_writer_flush(w, &err), 0);
    }
    assert_int_equal(dxt_writer_set_dropped(w, 0, 3, 17, 19, &err), 0);
    assert_int_equal(dxt_writer_close(w, &err), 0);
    long before = file_size(path);
    if (dxt_file_compress(path, 4, &err) != 0)
        fail_msg("compress: %s", err.msg);
    long after = file_size(path);
    print_message("compress: N=%d T=%d: %ld -> %ld bytes (ratio %.2f)\n", WORLD, ROWS, before,
                  after, (double)before / (double)after);
    assert_true(after > 0 && after < before);
    assert_int_equal(count_temporaries(), 0); /* the copy was anonymous: nothing left */
    assert_int_equal(dxt_reader_open(path, &r, &err), 0);
    check_meta(dxt_reader_meta(r), &meta);
    const dxt_op_info *o = dxt_reader_op(r, 0);
    assert_int_equal(o->rows, ROWS);
    assert_int_equal(o->rows_dropped, 3);
    assert_int_equal(o->dropped_last_step, 19);
    assert_int_equal(dxt_reader_read(r, 0, 0, ROWS, NULL, NULL, m.back, NULL, NULL, &err), ROWS);
    assert_memory_equal(m.back, m.wait, ROWS * WORLD * 8);
    assert_int_equal(dxt_reader_read(r, 0, 0, ROWS, NULL, NULL, NULL, m.back, NULL, &err), ROWS);
    assert_memory_equal(m.back, m.tokens, ROWS * WORLD * 8);
    dxt_reader_close(r);
    /* The 3-op round-trip file survives compression too. */
    const char *round = tpath("round2.h5");
    write_round_file(round, 5);
    assert_int_equal(dxt_file_compress(round, 1, &err), 0);
    check_round_file(round, 5);
    assert_int_equal(dxt_file_compress(round, 0, &err), -1);
    realistic_rows_free(&m);
}

static void test_default_chunk_rows(void **state)
{
    (void)state;
    dxt_error err;
    dxt_writer *w = NULL;
    dxt_meta meta = make_meta(1, 256);
    const char *ops[] = {"dispatch"}, *path = tpath("chunk.h5");
    assert_int_equal(dxt_writer_create(path, &meta, ops, 1, DXT_UNIT_CYCLES,
                                       DXT_COUNTING_CUMULATIVE, NULL, &w, &err), 0);
    assert_int_equal(dxt_writer_close(w, &err), 0);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "ops/dispatch/wait", H5P_DEFAULT), dcpl = H5Dget_create_plist(d);
    hsize_t chunk[2] = {0, 0};
    assert_int_equal(H5Pget_chunk(dcpl, 2, chunk), 2);
    assert_int_equal(chunk[0], 128);
    assert_int_equal(chunk[1], 256);
    H5Pclose(dcpl), H5Dclose(d), H5Fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_writer_rejects),
        cmocka_unit_test(test_default_chunk_rows),
        cmocka_unit_test(test_compress),
        cmocka_unit_test(test_validation_errors),
        cmocka_unit_test(test_accepts_variants),
    };
    return cmocka_run_group_tests(tests, fmt_setup_dir, fmt_teardown_dir);
}
