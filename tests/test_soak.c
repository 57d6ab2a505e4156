/* test_soak.c - soak test of libdxtrec's record path: 8 threads record many rows
 * each into one recorder with a small ring and a slow writer; every row must be
 * either written once (right step, right values, never torn or repeated) or
 * counted as dropped, in the caller's return codes, the counters and the file.
 * Owner: reliability (tests/test_soak.c).
 *
 * DXT_SOAK_RECORDS sets the rows per thread: the normal `make test` uses the
 * small default so it stays quick; `make TSAN=1 test-threads` runs 10 million
 * per thread under ThreadSanitizer (races are TSan's to find, counts are ours).
 * DXT_SOAK_SLEEP_US sets the writer's sleep after each batch (default 1000);
 * producers nap 50 us every 256 records so writing and dropping interleave.
 * Prints rows/s, written and dropped per thread. */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dxt_format.h"
#include "dxtrec.h"
#include "internal.h"

enum { SOAK_THREADS = 8, SOAK_WORLD = 4, SOAK_RING = 64, SOAK_READ_BLOCK = 65536 };
#define SOAK_DEFAULT_RECORDS 200000
#define SOAK_DEFAULT_SLEEP_US 1000
#define SOAK_PACE_EVERY 256  /* records between two short naps of a producer */
#define SOAK_PACE_NS 50000   /* so the slow writer runs all along, not after the end */

static const char *const soak_ops[SOAK_THREADS] = {"t0", "t1", "t2", "t3",
                                                   "t4", "t5", "t6", "t7"};

typedef struct soak_job {
    dxtrec_t *rec;
    int op;
    int64_t records;
    int64_t accepted, dropped, other;
    int64_t first_drop, last_drop;
} soak_job;

static int64_t env_int(const char *name, int64_t fallback)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return fallback;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return errno || *end || v < 1 ? fallback : (int64_t)v;
}

/* The value thread op records for peer j at step: tells a torn or shifted row. */
static int64_t soak_value(int op, int64_t step, int j)
{
    return step * 1000 + op * 10 + j;
}

static void *soak_thread(void *arg)
{
    soak_job *job = arg;
    int64_t wait[SOAK_WORLD];
    job->first_drop = job->last_drop = -1;
    for (int64_t step = 0; step < job->records; step++) {
        for (int j = 0; j < SOAK_WORLD; j++)
            wait[j] = soak_value(job->op, step, j);
        dxtrecResult_t rc = dxtrec_record(job->rec, job->op, step, wait, NULL);
        if (rc == DXTREC_SUCCESS) {
            job->accepted++;
        } else if (rc == DXTREC_ERR_DROPPED) {
            job->dropped++;
            if (job->first_drop < 0)
                job->first_drop = step;
            job->last_drop = step;
        } else {
            job->other++;
        }
        if (step % SOAK_PACE_EVERY == SOAK_PACE_EVERY - 1) {
            struct timespec nap = {0, SOAK_PACE_NS};
            nanosleep(&nap, NULL);
        }
    }
    return NULL;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Every row of op in the file: steps strictly increasing (so none repeated),
 * each below records, values those of its step. Returns the rows. */
static int64_t check_written_rows(dxt_reader *r, int idx, int op, int64_t records)
{
    const dxt_op_info *info = dxt_reader_op(r, idx);
    int64_t *step = malloc(SOAK_READ_BLOCK * sizeof *step);
    int64_t *wait = malloc((size_t)SOAK_READ_BLOCK * SOAK_WORLD * sizeof *wait);
    assert_non_null(step);
    assert_non_null(wait);
    int64_t prev = -1;
    for (int64_t first = 0; first < info->rows; first += SOAK_READ_BLOCK) {
        int64_t want = info->rows - first < SOAK_READ_BLOCK ? info->rows - first : SOAK_READ_BLOCK;
        dxt_error err = {{0}};
        assert_int_equal(dxt_reader_read(r, idx, first, want, step, NULL, wait, NULL, NULL, &err),
                         want);
        for (int64_t i = 0; i < want; i++) {
            assert_true(step[i] > prev && step[i] < records);
            prev = step[i];
            for (int j = 0; j < SOAK_WORLD; j++)
                assert_int_equal(wait[i * SOAK_WORLD + j], soak_value(op, step[i], j));
        }
    }
    free(step);
    free(wait);
    return info->rows;
}

static void check_file(const char *dir, const soak_job *jobs)
{
    char path[512];
    snprintf(path, sizeof path, "%s/rank-00000.h5", dir);
    dxt_reader *r = NULL;
    dxt_error err = {{0}};
    if (dxt_reader_open(path, &r, &err) != 0)
        fail_msg("%s", err.msg);
    for (int t = 0; t < SOAK_THREADS; t++) {
        int idx = dxt_reader_find_op(r, soak_ops[t]);
        assert_true(idx >= 0);
        const dxt_op_info *info = dxt_reader_op(r, idx);
        int64_t rows = check_written_rows(r, idx, t, jobs[t].records);
        printf("soak: thread %d: %" PRId64 " written, %" PRId64 " dropped (file: %" PRId64
               " rows, rows_dropped %" PRId64 ")\n",
               t, jobs[t].accepted, jobs[t].dropped, rows, info->rows_dropped);
        assert_int_equal(rows, jobs[t].accepted);
        assert_int_equal(info->rows_dropped, jobs[t].dropped);
        assert_int_equal(rows + info->rows_dropped, jobs[t].records);
        if (jobs[t].dropped > 0) {
            assert_int_equal(info->dropped_first_step, jobs[t].first_drop);
            assert_int_equal(info->dropped_last_step, jobs[t].last_drop);
        }
    }
    dxt_reader_close(r);
}

static void test_soak(void **state)
{
    (void)state;
    int64_t records = env_int("DXT_SOAK_RECORDS", SOAK_DEFAULT_RECORDS);
    long sleep_us = (long)env_int("DXT_SOAK_SLEEP_US", SOAK_DEFAULT_SLEEP_US);
    char dir[] = "/tmp/dxt-soak-XXXXXX";
    assert_non_null(mkdtemp(dir));
    dxtrec_config cfg;
    dxtrec_config_init(&cfg);
    cfg.dir = dir;
    cfg.rank = 0;
    cfg.world_size = SOAK_WORLD;
    cfg.run_id = "soak";
    cfg.ops = soak_ops;
    cfg.nops = SOAK_THREADS;
    cfg.ring_capacity = SOAK_RING;
    cfg.compress_level = 0;
    cfg.flush_interval_s = 0.2;
    cfg.quiet = 1;
    dxtrec_t *rec = NULL;
    assert_int_equal(dxtrec_open(&cfg, &rec), DXTREC_SUCCESS);
    dxtrec_internal_set_test_knobs(rec, sleep_us * 1000, DXTREC_DEFAULT_RETRY_MS);

    soak_job jobs[SOAK_THREADS];
    pthread_t tid[SOAK_THREADS];
    double start = now_s();
    for (int t = 0; t < SOAK_THREADS; t++) {
        jobs[t] = (soak_job){.rec = rec, .op = t, .records = records};
        assert_int_equal(pthread_create(&tid[t], NULL, soak_thread, &jobs[t]), 0);
    }
    for (int t = 0; t < SOAK_THREADS; t++)
        assert_int_equal(pthread_join(tid[t], NULL), 0);
    double took = now_s() - start;

    int64_t accepted = 0, dropped = 0;
    for (int t = 0; t < SOAK_THREADS; t++) {
        assert_int_equal(jobs[t].other, 0);
        assert_int_equal(jobs[t].accepted + jobs[t].dropped, records);
        accepted += jobs[t].accepted;
        dropped += jobs[t].dropped;
    }
    dxtrec_internal_set_test_knobs(rec, 0, DXTREC_DEFAULT_RETRY_MS);
    dxtrec_counters c;
    dxtrec_get_counters(rec, &c);
    assert_int_equal(c.rows_recorded, accepted);
    assert_int_equal(c.rows_dropped, dropped);
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    printf("soak: %d threads x %" PRId64 " records in %.2f s (%.1f M records/s): "
           "%" PRId64 " written, %" PRId64 " dropped (ring %d, writer sleeps %ld us/batch)\n",
           SOAK_THREADS, records, took, (double)SOAK_THREADS * (double)records / took / 1e6,
           accepted, dropped, SOAK_RING, sleep_us);
    check_file(dir, jobs);
    assert_int_equal(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_soak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
