/* test_recorder.c - cmocka tests of libdxtrec's host path (recorder/): round
 * trip through dxt_reader, many threads, ring overflow, unwritable directory,
 * recovery, file size limit, bad arguments. SIGKILL: test_recorder_kill.c.
 * Owner: recorder host path. */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dxt_format.h"
#include "dxtrec.h"
#include "internal.h"

static const char *const two_ops[] = {"dispatch", "combine"};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *make_tmpdir(void)
{
    char *dir = strdup("/tmp/dxtrec-test-XXXXXX");
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void base_config(dxtrec_config *cfg, const char *dir, int world, int nops,
                        const char *const *ops)
{
    dxtrec_config_init(cfg);
    cfg->dir = dir;
    cfg->rank = 0;
    cfg->world_size = world;
    cfg->run_id = "test-run";
    cfg->node = "node-a";
    cfg->ops = ops;
    cfg->nops = nops;
    cfg->quiet = 1;
}

static dxt_reader *open_trace(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    dxt_reader *r = NULL;
    dxt_error err;
    if (dxt_reader_open(path, &r, &err) != 0)
        fail_msg("%s", err.msg);
    return r;
}

/* ---- round trip ------------------------------------------------------------------ */

static int64_t value_of(int op, int64_t step, int j)
{
    return (int64_t)op * 1000000007LL + step * 1000 + j;
}

enum { RT_N = 8, RT_ROWS = 300 };

static void check_roundtrip_file(const char *dir, int64_t t0, int64_t t1);

static void test_roundtrip(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    enum { N = RT_N, ROWS = RT_ROWS };
    dxtrec_config cfg;
    base_config(&cfg, dir, N, 2, two_ops);
    cfg.rank = 3;
    cfg.local_rank = 1;
    cfg.clock_hz = 1.5e9;
    cfg.record_tokens = 1;
    dxtrec_t *rec = NULL;
    assert_int_equal(dxtrec_open(&cfg, &rec), DXTREC_SUCCESS);
    int64_t t0 = dxtrec_now_realtime_ns();
    for (int64_t s = 0; s < ROWS; s++) {
        for (int op = 0; op < 2; op++) {
            int64_t wait[N], tokens[N];
            for (int j = 0; j < N; j++) {
                wait[j] = value_of(op, s, j);
                tokens[j] = -value_of(op, s, j);
            }
            assert_int_equal(dxtrec_record(rec, op, s * 2 + op, wait, tokens), DXTREC_SUCCESS);
        }
    }
    int64_t t1 = dxtrec_now_realtime_ns();
    assert_int_equal(dxtrec_flush(rec), DXTREC_SUCCESS);
    dxtrec_counters c;
    dxtrec_get_counters(rec, &c);
    assert_int_equal(c.rows_recorded, 2 * ROWS);
    assert_int_equal(c.rows_written, 2 * ROWS);
    assert_int_equal(c.rows_dropped, 0);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    check_roundtrip_file(dir, t0, t1);
    remove_tree(dir);
    free(dir);
}

/* Every row of test_roundtrip, in order, all fields. */
static void check_roundtrip_file(const char *dir, int64_t t0, int64_t t1)
{
    enum { N = RT_N, ROWS = RT_ROWS };
    dxt_reader *r = open_trace(dir, "rank-00003.h5");
    const dxt_meta *m = dxt_reader_meta(r);
    assert_string_equal(m->run_id, "test-run");
    assert_string_equal(m->node, "node-a");
    assert_int_equal(m->rank, 3);
    assert_int_equal(m->world_size, N);
    assert_int_equal(m->local_rank, 1);
    assert_true(m->clock_hz == 1.5e9);
    assert_int_equal(dxt_reader_op_count(r), 2);
    static int64_t step[ROWS], time_ns[ROWS], wait[ROWS * N], tokens[ROWS * N];
    for (int op = 0; op < 2; op++) {
        int idx = dxt_reader_find_op(r, two_ops[op]);
        assert_true(idx >= 0);
        const dxt_op_info *info = dxt_reader_op(r, idx);
        assert_string_equal(info->name, two_ops[op]);
        assert_int_equal(info->rows, ROWS);
        assert_int_equal(info->unit, DXT_UNIT_CYCLES);
        assert_int_equal(info->counting, DXT_COUNTING_CUMULATIVE);
        assert_true(info->has_tokens);
        assert_int_equal(info->rows_dropped, 0);
        dxt_error err;
        assert_int_equal(dxt_reader_read(r, idx, 0, ROWS, step, time_ns, wait, tokens, NULL, &err),
                         ROWS);
        for (int64_t s = 0; s < ROWS; s++) {
            assert_int_equal(step[s], s * 2 + op);
            assert_true(time_ns[s] >= t0 && time_ns[s] <= t1);
            assert_true(s == 0 || time_ns[s] >= time_ns[s - 1]);
            for (int j = 0; j < N; j++) {
                assert_int_equal(wait[s * N + j], value_of(op, s, j));
                assert_int_equal(tokens[s * N + j], -value_of(op, s, j));
            }
        }
    }
    dxt_reader_close(r);
}

/* ---- many threads ------------------------------------------------------------------ */

enum { THREADS = 8, PER_THREAD = 20000, TN = 16 };

typedef struct thread_job {
    dxtrec_t *rec;
    int op;
    int64_t *shared_step; /* NULL: steps 0, 1, ... of its own op */
    uint64_t accepted, dropped;
} thread_job;

static void *record_thread(void *arg)
{
    thread_job *job = arg;
    int64_t wait[TN];
    for (int64_t i = 0; i < PER_THREAD; i++) {
        int64_t step = job->shared_step
                           ? __atomic_fetch_add(job->shared_step, 1, __ATOMIC_RELAXED)
                           : i;
        for (int j = 0; j < TN; j++)
            wait[j] = step * TN + j + job->op;
        dxtrecResult_t rc = dxtrec_record(job->rec, job->op, step, wait, NULL);
        if (rc == DXTREC_SUCCESS)
            job->accepted++;
        else if (rc == DXTREC_ERR_DROPPED)
            job->dropped++;
        else
            return NULL; /* accepted + dropped != PER_THREAD: caught by the test */
    }
    return NULL;
}

static void run_threads(thread_job *jobs, int nthreads)
{
    pthread_t tid[THREADS];
    for (int t = 0; t < nthreads; t++)
        assert_int_equal(pthread_create(&tid[t], NULL, record_thread, &jobs[t]), 0);
    for (int t = 0; t < nthreads; t++)
        assert_int_equal(pthread_join(tid[t], NULL), 0);
    for (int t = 0; t < nthreads; t++)
        assert_int_equal(jobs[t].accepted + jobs[t].dropped, PER_THREAD);
}

/* Check an op's rows: steps strictly increasing, each row's values match its step. */
static int64_t check_op_rows(dxt_reader *r, int op, int value_op)
{
    const dxt_op_info *info = dxt_reader_op(r, op);
    int64_t rows = info->rows;
    int64_t *step = malloc((size_t)(rows + 1) * sizeof(int64_t));
    int64_t *wait = malloc((size_t)(rows + 1) * TN * sizeof(int64_t));
    assert_non_null(step);
    assert_non_null(wait);
    dxt_error err;
    assert_int_equal(dxt_reader_read(r, op, 0, rows, step, NULL, wait, NULL, NULL, &err), rows);
    for (int64_t i = 0; i < rows; i++) {
        assert_true(i == 0 || step[i] > step[i - 1]);
        for (int j = 0; j < TN; j++)
            assert_int_equal(wait[i * TN + j], step[i] * TN + j + value_op);
    }
    free(step);
    free(wait);
    return rows;
}

static void test_threads_op_each(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    static const char *const ops[THREADS] = {"o0", "o1", "o2", "o3", "o4", "o5", "o6", "o7"};
    dxtrec_config cfg;
    base_config(&cfg, dir, TN, THREADS, ops);
    dxtrec_t *rec = NULL;
    assert_int_equal(dxtrec_open(&cfg, &rec), DXTREC_SUCCESS);
    thread_job jobs[THREADS];
    for (int t = 0; t < THREADS; t++)
        jobs[t] = (thread_job){.rec = rec, .op = t};
    run_threads(jobs, THREADS);
    assert_int_equal(dxtrec_flush(rec), DXTREC_SUCCESS);
    dxtrec_counters c;
    dxtrec_get_counters(rec, &c);
    assert_int_equal(c.rows_recorded + c.rows_dropped, THREADS * PER_THREAD);
    assert_int_equal(c.rows_written, c.rows_recorded);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);

    dxt_reader *r = open_trace(dir, "rank-00000.h5");
    for (int t = 0; t < THREADS; t++) {
        int idx = dxt_reader_find_op(r, ops[t]);
        assert_true(idx >= 0);
        int64_t rows = check_op_rows(r, idx, t);
        assert_int_equal(rows, (int64_t)jobs[t].accepted);
        assert_int_equal(dxt_reader_op(r, idx)->rows_dropped, (int64_t)jobs[t].dropped);
    }
    dxt_reader_close(r);
    remove_tree(dir);
    free(dir);
}

/* Several threads on one op: arrivals may be out of step order; every row is
 * either written or counted as dropped. */
static void test_threads_same_op(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    dxtrec_config cfg;
    base_config(&cfg, dir, TN, 1, two_ops);
    dxtrec_t *rec = NULL;
    assert_int_equal(dxtrec_open(&cfg, &rec), DXTREC_SUCCESS);
    enum { NT = 4 };
    int64_t shared_step = 0;
    thread_job jobs[NT];
    for (int t = 0; t < NT; t++)
        jobs[t] = (thread_job){.rec = rec, .op = 0, .shared_step = &shared_step};
    run_threads(jobs, NT);
    assert_int_equal(dxtrec_close(rec) == DXTREC_SUCCESS, 1);

    dxt_reader *r = open_trace(dir, "rank-00000.h5");
    int64_t rows = check_op_rows(r, 0, 0);
    int64_t dropped = dxt_reader_op(r, 0)->rows_dropped;
    assert_int_equal(rows + dropped, NT * PER_THREAD);
    dxt_reader_close(r);
    remove_tree(dir);
    free(dir);
}

/* ---- ring overflow ------------------------------------------------------------------ */

static void test_ring_overflow(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    enum { N = 4, ROWS = 200 };
    dxtrec_config cfg;
    base_config(&cfg, dir, N, 1, two_ops);
    cfg.ring_capacity = 4;
    dxtrec_t *rec = NULL;
    assert_int_equal(dxtrec_open(&cfg, &rec), DXTREC_SUCCESS);
    dxtrec_internal_set_test_knobs(rec, 20 * 1000 * 1000, DXTREC_DEFAULT_RETRY_MS);
    int64_t wait[N] = {1, 2, 3, 4};
    int dropped = 0, first_drop = -1, last_drop = -1;
    for (int s = 0; s < ROWS; s++) {
        dxtrecResult_t rc = dxtrec_record(rec, 0, s, wait, NULL);
        assert_true(rc == DXTREC_SUCCESS || rc == DXTREC_ERR_DROPPED);
        if (rc == DXTREC_ERR_DROPPED) {
            dropped++;
            last_drop = s;
            if (first_drop < 0)
                first_drop = s;
        }
    }
    assert_true(dropped > ROWS / 2);
    dxtrec_counters c;
    dxtrec_get_counters(rec, &c);
    assert_int_equal(c.rows_dropped, dropped);
    assert_int_equal(c.rows_recorded, ROWS - dropped);
    dxtrec_internal_set_test_knobs(rec, 0, DXTREC_DEFAULT_RETRY_MS);
    assert_int_equal(dxtrec_flush(rec), DXTREC_SUCCESS);
    char msg[256];
    assert_int_equal(dxtrec_last_error(rec, msg, sizeof(msg)), DXTREC_ERR_DROPPED);
    assert_non_null(strstr(msg, "ring full"));
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);

    dxt_reader *r = open_trace(dir, "rank-00000.h5");
    const dxt_op_info *info = dxt_reader_op(r, 0);
    assert_int_equal(info->rows, ROWS - dropped);
    assert_int_equal(info->rows_dropped, dropped);
    assert_int_equal(info->dropped_first_step, first_drop);
    assert_int_equal(info->dropped_last_step, last_drop);
    dxt_reader_close(r);
    remove_tree(dir);
    free(dir);
}

/* ---- file errors ------------------------------------------------------------------ */

/* A trace dir below a regular file cannot be created (ENOTDIR), even as root. */
static char *blocked_dir(const char *tmp, char *blocker, size_t len)
{
    snprintf(blocker, len, "%s/blocker", tmp);
    FILE *f = fopen(blocker, "w");
    assert_non_null(f);
    fclose(f);
    char *dir = malloc(strlen(blocker) + 8);
    assert_non_null(dir);
    sprintf(dir, "%s/trace", blocker);
    return dir;
}

/* A live file takes a bounded number of chunks (format/FORMAT.md): the
 * recorder rotates to rank-NNNNN.<k>.h5 segments, losing nothing. */
static void test_segments(void **state)
{
    (void)state;
    enum { N = 4, ROWS = 5000 };
    char *tmp = make_tmpdir(), blocker[512];
    char *dir = blocked_dir(tmp, blocker, sizeof(blocker)); /* no file until the knob is set */
    dxtrec_config cfg;
    base_config(&cfg, dir, N, 1, two_ops);
    dxtrec_t *rec = NULL;
    assert_int_equal(dxtrec_open(&cfg, &rec), DXTREC_ERR_IO);
    atomic_store(&rec->test_chunk_rows, 1); /* 2047 rows a segment */
    dxtrec_internal_set_test_knobs(rec, 0, 10);
    assert_int_equal(unlink(blocker), 0);
    sleep_ms(200);
    int64_t wait[N] = {1, 2, 3, 4};
    for (int s = 0; s < ROWS; s++) {
        wait[0] = s;
        if (dxtrec_record(rec, 0, s, wait, NULL) != DXTREC_SUCCESS)
            assert_int_equal(dxtrec_flush(rec), DXTREC_SUCCESS), s--; /* ring full: wait */
    }
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    int64_t written = 0, step = 0;
    int k = 0;
    for (; written < ROWS; k++) {
        char name[64];
        snprintf(name, sizeof name, k ? "rank-00000.%d.h5" : "rank-00000.h5", k);
        dxt_reader *r = open_trace(dir, name);
        int64_t rows = dxt_reader_op(r, 0)->rows, steps[ROWS], waits[ROWS * N];
        assert_true(rows > 0 && rows <= ROWS - written);
        dxt_error err;
        assert_int_equal(dxt_reader_read(r, 0, 0, rows, steps, NULL, waits, NULL, NULL, &err), rows);
        for (int64_t t = 0; t < rows; t++, step++)
            assert_true(steps[t] == step && waits[t * N] == step);
        written += rows;
        dxt_reader_close(r);
    }
    assert_int_equal(written, ROWS);
    assert_int_equal(k, 3); /* 2047 + 2047 + 906 */
    remove_tree(tmp);
    free(tmp);
    free(dir);
}


static void test_unwritable_dir(void **state)
{
    (void)state;
    char *tmp = make_tmpdir(), blocker[512];
    char *dir = blocked_dir(tmp, blocker, sizeof(blocker));
    dxtrec_config cfg;
    base_config(&cfg, dir, 4, 2, two_ops);
    dxtrec_t *rec = NULL;
    assert_int_equal(dxtrec_open(&cfg, &rec), DXTREC_ERR_IO);
    assert_non_null(rec);
    char msg[512];
    assert_int_equal(dxtrec_last_error(rec, msg, sizeof(msg)), DXTREC_ERR_IO);
    assert_non_null(strstr(msg, dir));
    int64_t wait[4] = {0};
    for (int s = 0; s < 10; s++)
        assert_int_equal(dxtrec_record(rec, s % 2, s, wait, NULL), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_flush(rec), DXTREC_ERR_IO);
    dxtrec_counters c;
    dxtrec_get_counters(rec, &c);
    assert_int_equal(c.rows_recorded, 10);
    assert_int_equal(c.rows_written, 0);
    assert_int_equal(c.rows_dropped, 10);
    assert_int_equal(c.last_error, DXTREC_ERR_IO);
    assert_int_equal(dxtrec_close(rec), DXTREC_ERR_IO);
    remove_tree(tmp);
    free(tmp);
    free(dir);
}

/* Not quiet: a file error that repeats (retries every 10 ms) is printed to
 * stderr once. */
static void test_error_printed_once(void **state)
{
    (void)state;
    char *tmp = make_tmpdir(), blocker[512], log[600];
    char *dir = blocked_dir(tmp, blocker, sizeof(blocker));
    snprintf(log, sizeof(log), "%s/stderr.txt", tmp);
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(log, "w");
    assert_true(saved >= 0 && f != NULL);
    assert_true(dup2(fileno(f), 2) >= 0);
    dxtrec_config cfg;
    base_config(&cfg, dir, 4, 1, two_ops);
    cfg.quiet = 0;
    dxtrec_t *rec = NULL;
    dxtrecResult_t opened = dxtrec_open(&cfg, &rec);
    if (rec) {
        dxtrec_internal_set_test_knobs(rec, 0, 10);
        sleep_ms(100);
        dxtrec_close(rec);
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fclose(f);
    assert_int_equal(opened, DXTREC_ERR_IO);
    f = fopen(log, "r");
    assert_non_null(f);
    char line[1024];
    int lines = 0;
    while (fgets(line, sizeof(line), f))
        lines += strstr(line, "dxtrec: rank 0: ") != NULL;
    fclose(f);
    assert_int_equal(lines, 1);
    remove_tree(tmp);
    free(tmp);
    free(dir);
}

/* The directory becomes writable later: the recorder creates the file and goes on. */
static void test_recovers_when_dir_appears(void **state)
{
    (void)state;
    char *tmp = make_tmpdir(), blocker[512];
    char *dir = blocked_dir(tmp, blocker, sizeof(blocker));
    dxtrec_config cfg;
    base_config(&cfg, dir, 4, 1, two_ops);
    dxtrec_t *rec = NULL;
    assert_int_equal(dxtrec_open(&cfg, &rec), DXTREC_ERR_IO);
    dxtrec_internal_set_test_knobs(rec, 0, 20);
    int64_t wait[4] = {7, 7, 7, 7};
    for (int s = 0; s < 5; s++)
        assert_int_equal(dxtrec_record(rec, 0, s, wait, NULL), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_flush(rec), DXTREC_ERR_IO);
    assert_int_equal(unlink(blocker), 0);
    assert_int_equal(mkdir(blocker, 0755), 0);
    sleep_ms(100);
    for (int s = 5; s < 12; s++)
        assert_int_equal(dxtrec_record(rec, 0, s, wait, NULL), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_flush(rec), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);

    dxt_reader *r = open_trace(dir, "rank-00000.h5");
    const dxt_op_info *info = dxt_reader_op(r, 0);
    assert_int_equal(info->rows, 7);
    assert_int_equal(info->rows_dropped, 5);
    assert_int_equal(info->dropped_first_step, 0);
    assert_int_equal(info->dropped_last_step, 4);
    int64_t step[7];
    dxt_error err;
    assert_int_equal(dxt_reader_read(r, 0, 0, 7, step, NULL, NULL, NULL, NULL, &err), 7);
    for (int i = 0; i < 7; i++)
        assert_int_equal(step[i], 5 + i);
    dxt_reader_close(r);
    remove_tree(tmp);
    free(tmp);
    free(dir);
}

/* In a child with RLIMIT_FSIZE: the file must never kill it (SIGXFSZ) nor
 * crash it; the child checks its counters and exits 0 when all is as expected.
 * guarded: the writer stops each file before the limit and goes on in
 * rank-00000.<k>.h5; unguarded: writes fail with EFBIG half way. */
enum { FS_N = 256, FS_ROWS = 12000 };

/* Let the writer keep up (up to 30 s a call): the ring must not drop the rows
 * before the file reaches its limit (a loaded machine under TSan fell that
 * far behind, and the second file never began). ring_full: rows the ring
 * dropped; the others dropped are the file's, no backlog. */
static void pace_writer(dxtrec_t *rec, uint64_t ring_full)
{
    sleep_ms(2);
    for (int waited = 0; waited < 30000; waited += 2) {
        dxtrec_counters c;
        dxtrec_get_counters(rec, &c);
        uint64_t done = c.rows_written + (c.rows_dropped - ring_full);
        if (c.rows_recorded < done + 2048)
            return;
        sleep_ms(2);
    }
}

static int fsize_child(const char *dir, int guarded)
{
    rlim_t limit = 16u << 20;
    struct rlimit lim = {limit, limit};
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
        return 10;
    dxtrec_config cfg;
    base_config(&cfg, dir, FS_N, 1, two_ops);
    cfg.flush_interval_s = 0.05;
    dxtrec_t *rec = NULL;
    if (dxtrec_open(&cfg, &rec) != DXTREC_SUCCESS)
        return 11;
    dxtrec_internal_set_test_knobs(rec, 0, 20);
    atomic_store(&rec->test_no_space_guard, !guarded);
    static int64_t wait[FS_N];
    uint64_t ring_full = 0;
    for (int s = 0; s < FS_ROWS; s++) {
        for (int j = 0; j < FS_N; j++)
            wait[j] = (int64_t)s * 1000 + j;
        dxtrecResult_t rc = dxtrec_record(rec, 0, s, wait, NULL);
        if (rc != DXTREC_SUCCESS && rc != DXTREC_ERR_DROPPED)
            return 12;
        ring_full += rc == DXTREC_ERR_DROPPED;
        if (s % 100 == 99)
            pace_writer(rec, ring_full);
    }
    dxtrec_flush(rec);
    dxtrec_counters c;
    dxtrec_get_counters(rec, &c);
    char msg[512];
    dxtrecResult_t last = dxtrec_last_error(rec, msg, sizeof(msg));
    dxtrec_close(rec);
    if (c.rows_dropped <= ring_full)
        return 13;
    if (c.rows_written + c.rows_dropped != FS_ROWS)
        return 14;
    /* the last error is the file's (EFBIG, or the guard's stop) or, where the
     * writer fell behind after it (a loaded machine, under TSan: CI once), the
     * ring's; the drops beyond the ring's (13) are the file's either way */
    int ring_after = last == DXTREC_ERR_DROPPED && strstr(msg, "ring full");
    if ((last != DXTREC_ERR_IO && !ring_after) || !strstr(msg, dir))
        return 15;
    return 0;
}

static void run_fsize_child(const char *dir, int guarded)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fsize_child(dir, guarded));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status))
        fail_msg("child died by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : -1);
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Rows of a file: steps strictly increasing. Returns the rows. */
static int64_t check_steps(const char *dir, const char *name)
{
    dxt_reader *r = open_trace(dir, name);
    int64_t rows = dxt_reader_op(r, 0)->rows;
    int64_t *step = malloc((size_t)(rows + 1) * sizeof(int64_t));
    assert_non_null(step);
    dxt_error err;
    assert_int_equal(dxt_reader_read(r, 0, 0, rows, step, NULL, NULL, NULL, NULL, &err), rows);
    for (int64_t i = 1; i < rows; i++)
        assert_true(step[i] > step[i - 1]);
    free(step);
    dxt_reader_close(r);
    return rows;
}

static void test_file_size_limit(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    run_fsize_child(dir, 1);
    int64_t first = check_steps(dir, "rank-00000.h5");
    int64_t second = check_steps(dir, "rank-00000.1.h5");
    assert_true(first > 1000 && second > 0);
    remove_tree(dir);
    free(dir);
}

/* Without the guard the write fails with EFBIG: no crash, a clean error. (The
 * broken file itself may not open: see the format module.) */
static void test_file_size_limit_unguarded(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    run_fsize_child(dir, 0);
    remove_tree(dir);
    free(dir);
}

/* ---- arguments ------------------------------------------------------------------ */

static void test_bad_arguments(void **state)
{
    (void)state;
    dxtrec_config cfg;
    dxtrec_t *rec = (dxtrec_t *)1;
    base_config(&cfg, "/tmp/never-created-dxtrec", 4, 2, two_ops);
    assert_int_equal(dxtrec_open(NULL, &rec), DXTREC_ERR_INVALID_ARG);
    assert_null(rec);
    assert_int_equal(dxtrec_open(&cfg, NULL), DXTREC_ERR_INVALID_ARG);
    static const char *const dup_ops[] = {"a", "a"};
    static const char *const slash_ops[] = {"a/b"};
    for (int k = 0; k < 9; k++) {
        base_config(&cfg, "/tmp/never-created-dxtrec", 4, 2, two_ops);
        switch (k) {
        case 0: cfg.rank = 4; break;
        case 1: cfg.world_size = 0; break;
        case 2: cfg.nops = dxtrec_max_ops() + 1; break; /* more than the format holds */
        case 3: cfg.ops = dup_ops; break;
        case 4: cfg.ops = slash_ops; cfg.nops = 1; break;
        case 5: cfg.ring_capacity = 0; break;
        case 6: cfg.flush_interval_s = NAN; break;
        case 7: cfg.run_id = NULL; break;
        default: cfg.compress_level = 10; break;
        }
        rec = (dxtrec_t *)1;
        assert_int_equal(dxtrec_open(&cfg, &rec), DXTREC_ERR_INVALID_ARG);
        assert_null(rec);
    }
    int64_t wait[4] = {0};
    assert_int_equal(dxtrec_record(NULL, 0, 0, wait, NULL), DXTREC_ERR_INVALID_ARG);
    assert_int_equal(dxtrec_flush(NULL), DXTREC_ERR_INVALID_ARG);
    assert_int_equal(dxtrec_close(NULL), DXTREC_ERR_INVALID_ARG);
    assert_string_equal(dxtrec_result_string(DXTREC_ERR_DROPPED),
                        "ring full: row dropped and counted");
    assert_string_equal(dxtrec_result_string((dxtrecResult_t)99), "unknown result");
}

/* Bad calls on an open recorder; steps that do not increase are dropped and counted. */
static void test_bad_records(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    dxtrec_config cfg;
    dxtrec_t *rec = NULL;
    int64_t wait[4] = {0};
    base_config(&cfg, dir, 4, 2, two_ops);
    assert_int_equal(dxtrec_open(&cfg, &rec), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_record(rec, 2, 0, wait, NULL), DXTREC_ERR_INVALID_ARG);
    assert_int_equal(dxtrec_record(rec, -1, 0, wait, NULL), DXTREC_ERR_INVALID_ARG);
    assert_int_equal(dxtrec_record(rec, 0, 0, NULL, NULL), DXTREC_ERR_INVALID_ARG);
#ifndef DXT_HAVE_CUDA
    assert_int_equal(dxtrec_record_device(rec, 0, 0, wait, NULL, NULL), DXTREC_ERR_NO_CUDA);
#endif
    assert_int_equal(dxtrec_record(rec, 0, 5, wait, NULL), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_record(rec, 0, 5, wait, NULL), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_record(rec, 0, 4, wait, NULL), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_record(rec, 0, 6, wait, NULL), DXTREC_SUCCESS);
    assert_int_equal(dxtrec_flush(rec), DXTREC_SUCCESS);
    dxtrec_counters c;
    dxtrec_get_counters(rec, &c);
    assert_int_equal(c.rows_written, 2);
    assert_int_equal(c.rows_dropped, 2);
    assert_int_equal(c.last_error, DXTREC_ERR_DROPPED);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    dxt_reader *r = open_trace(dir, "rank-00000.h5");
    const dxt_op_info *dispatch = dxt_reader_op(r, dxt_reader_find_op(r, "dispatch"));
    assert_int_equal(dispatch->rows, 2);
    assert_int_equal(dispatch->rows_dropped, 2);
    assert_int_equal(dispatch->dropped_first_step, 4);
    assert_int_equal(dispatch->dropped_last_step, 5);
    assert_int_equal(dxt_reader_op(r, dxt_reader_find_op(r, "combine"))->rows, 0);
    dxt_reader_close(r);
    remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_bad_records),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_threads_op_each),
        cmocka_unit_test(test_threads_same_op),
        cmocka_unit_test(test_ring_overflow),
        cmocka_unit_test(test_segments),
        cmocka_unit_test(test_unwritable_dir),
        cmocka_unit_test(test_error_printed_once),
        cmocka_unit_test(test_recovers_when_dir_appears),
        cmocka_unit_test(test_file_size_limit),
        cmocka_unit_test(test_file_size_limit_unguarded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
