/* test_partition.c - a partitioned analysis (dxt_partition, analyzer/run/partition.c)
 * without MPI: P threads play P processes, the hooks are shared memory and a
 * barrier. Process 0's analysis equals the serial one (JSON report, whole-range
 * matrices) for P = 2 and 3, with ranks whose rows start late or end early (a
 * process then holds a window back while the others send theirs); a process
 * that fails (its load, or its stream midway: its copy of a rank file removed
 * after the load; process 0's or another's) makes every process fail with its
 * message, and none is left waiting (an alarm ends a test that hangs). The
 * processes also load one copy together (each validates its share of the files):
 * the same report.
 * Owner: the parallel-analysis engineer (issue 15). */
#include <ftw.h>
#include <pthread.h>
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
#include "dxtanalysis.h"

#define WORLD 6
#define STEPS 40
#define MAXP 3

static char tmpdir[64];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

/* dir/to: a copy of dir/from (a rank in two files: its stream warns of the overlap) */
static void copy_file(const char *dir, const char *from, const char *to)
{
    char path[256], buf[1 << 16];
    snprintf(path, sizeof path, "%s/%s", dir, from);
    FILE *in = fopen(path, "rb");
    snprintf(path, sizeof path, "%s/%s", dir, to);
    FILE *out = fopen(path, "wb");
    assert_true(in && out);
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, got, out), got);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* Trace copy k: WORLD ranks, one op with tokens; ranks 3..5 start at step 12,
 * rank 1 ends at step 25, rank 2 waits long for rank 4, rank 4 is in two files
 * (its stream warns: process 1's warning, gathered). Copies are alike. */
static void write_trace(int k)
{
    char dir[128], path[192];
    snprintf(dir, sizeof dir, "%s/copy%d", tmpdir, k);
    assert_int_equal(mkdir(dir, 0755), 0);
    for (int r = 0; r < WORLD; r++) {
        int64_t first = r >= 3 ? 12 : 0, last = r == 1 ? 25 : STEPS - 1;
        int64_t nrows = last - first + 1, step[STEPS], wait[STEPS * WORLD], tok[STEPS * WORLD];
        for (int64_t s = 0; s < nrows; s++) {
            step[s] = first + s;
            for (int j = 0; j < WORLD; j++) {
                int64_t per = 100 + 7 * r + 3 * j + (r == 2 && j == 4 ? 400 : 0) + (s * j) % 5;
                wait[s * WORLD + j] = (s + 1) * per; /* cumulative */
                tok[s * WORLD + j] = 10 + (r + j + s) % 3;
            }
        }
        dxt_meta meta;
        memset(&meta, 0, sizeof meta);
        snprintf(meta.run_id, sizeof meta.run_id, "run-p");
        meta.rank = r;
        meta.world_size = WORLD;
        meta.local_rank = -1;
        meta.clock_hz = 1e9;
        const char *ops[] = {"dispatch"};
        dxt_writer_opts opts = {.chunk_rows = 4, .has_tokens = 1};
        dxt_writer *w = NULL;
        dxt_error err = {{0}};
        snprintf(path, sizeof path, "%s/rank-%05d.h5", dir, r);
        if (dxt_writer_create(path, &meta, ops, 1, DXT_UNIT_CYCLES, DXT_COUNTING_CUMULATIVE,
                              &opts, &w, &err) != 0)
            fail_msg("%s", err.msg);
        assert_int_equal(dxt_writer_append(w, 0, nrows, step, NULL, wait, tok, NULL, &err), 0);
        assert_int_equal(dxt_writer_close(w, &err), 0);
    }
    copy_file(dir, "rank-00004.h5", "rank-00004.1.h5");
}

static int setup_all(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dxt_test_partition.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    for (int k = 0; k <= MAXP; k++) /* copy MAXP: the serial run's */
        write_trace(k);
    return 0;
}

static int teardown_all(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- processes as threads ------------------------------------------------------ */

typedef struct world {
    int count;
    pthread_barrier_t bar;
    const void *slot[MAXP];
} world;

typedef struct proc {
    world *w;
    dxt_partition part;
    char path[128];        /* this process's copy of the trace */
    const char *remove;    /* a file of its copy removed after the load, or NULL */
    int fail_load;         /* 1: its load fails */
    int shared;            /* 1: the processes load copy 0 together (dxt_input_opts.partition) */
    int rc;
    dxt_error err;
    char *json;            /* process 0: the JSON report */
    double total[WORLD * WORLD];
} proc;

static int hook_allgather(void *user, const int64_t *mine, int nvals, int64_t *all)
{
    proc *p = user;
    p->w->slot[p->part.index] = mine;
    pthread_barrier_wait(&p->w->bar);
    for (int k = 0; k < p->w->count; k++)
        memcpy(all + (size_t)k * nvals, p->w->slot[k], (size_t)nvals * sizeof *all);
    pthread_barrier_wait(&p->w->bar);
    return 0;
}

static int hook_gather_rows(void *user, void *buf, size_t row_bytes, const int *first,
                            const int *rows)
{
    proc *p = user;
    p->w->slot[p->part.index] = buf;
    pthread_barrier_wait(&p->w->bar);
    for (int k = 1; p->part.index == 0 && k < p->w->count; k++)
        memcpy((char *)buf + (size_t)first[k] * row_bytes,
               (const char *)p->w->slot[k] + (size_t)first[k] * row_bytes,
               (size_t)rows[k] * row_bytes);
    pthread_barrier_wait(&p->w->bar);
    return 0;
}

static int hook_bcast(void *user, void *buf, size_t bytes, int from)
{
    proc *p = user;
    p->w->slot[p->part.index] = buf;
    pthread_barrier_wait(&p->w->bar);
    if (p->part.index != from)
        memcpy(buf, p->w->slot[from], bytes);
    pthread_barrier_wait(&p->w->bar);
    return 0;
}

/* dxt-analyze's steps: load (agreed), analyze, process 0 reports. */
static void analyze(proc *p, const dxt_partition *part)
{
    dxt_input_opts iopts;
    dxt_input_opts_init(&iopts);
    if (p->shared)
        iopts.partition = part;
    dxt_input *in = NULL;
    dxt_analysis *a = NULL;
    p->rc = p->fail_load ? -1 : dxt_input_open(p->path, &iopts, &in, &p->err);
    if (p->fail_load)
        snprintf(p->err.msg, sizeof p->err.msg, "process %d cannot load", p->part.index);
    p->rc = dxt_partition_agree(part, p->rc, &p->err);
    if (p->rc == 0 && p->remove)
        assert_int_equal(unlink(p->remove), 0);
    dxt_analysis_opts opts;
    dxt_analysis_opts_init(&opts);
    opts.window_steps = 5;
    opts.partition = part;
    if (p->rc == 0)
        p->rc = dxt_analysis_run(in, &opts, &a, &p->err);
    if (p->rc == 0 && p->part.index == 0) {
        size_t len = 0;
        FILE *mem = open_memstream(&p->json, &len);
        assert_non_null(mem);
        assert_int_equal(dxt_report_json(mem, a), 0);
        fclose(mem);
        memcpy(p->total, a->ops[0].total, sizeof p->total);
    }
    dxt_analysis_free(a);
    dxt_input_free(in);
}

static void *proc_main(void *arg)
{
    proc *p = arg;
    analyze(p, &p->part);
    return NULL;
}

/* Run count processes; procs[k] set up by the caller (remove, fail_load). */
static void run_world(int count, proc *procs)
{
    world w = {.count = count};
    pthread_t th[MAXP];
    assert_int_equal(pthread_barrier_init(&w.bar, NULL, (unsigned)count), 0);
    alarm(60); /* a process left waiting hangs the test: end it */
    for (int k = 0; k < count; k++) {
        procs[k].w = &w;
        procs[k].part = (dxt_partition){k, count, &procs[k], hook_allgather, hook_gather_rows,
                                        hook_bcast};
        snprintf(procs[k].path, sizeof procs[k].path, "%s/copy%d", tmpdir,
                 procs[k].shared ? 0 : k);
        assert_int_equal(pthread_create(&th[k], NULL, proc_main, &procs[k]), 0);
    }
    for (int k = 0; k < count; k++)
        pthread_join(th[k], NULL);
    alarm(0);
    pthread_barrier_destroy(&w.bar);
}

/* The serial run of copy 0 (process 0's), for comparison. */
static void serial(proc *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s/copy0", tmpdir);
    analyze(s, NULL);
    assert_int_equal(s->rc, 0);
}

/* P = 2 .. MAXP processes (loading copy 0 together when shared) give serial s's
 * report and matrix; s is freed. */
static void expect_serial(proc *s, int shared)
{
    for (int count = 2; count <= MAXP; count++) {
        proc procs[MAXP];
        memset(procs, 0, sizeof procs);
        for (int k = 0; k < count; k++)
            procs[k].shared = shared;
        run_world(count, procs);
        for (int k = 0; k < count; k++)
            assert_int_equal(procs[k].rc, 0);
        assert_string_equal(procs[0].json, s->json);
        assert_memory_equal(procs[0].total, s->total, sizeof s->total);
        free(procs[0].json);
    }
    free(s->json);
}

static void test_same_as_serial(void **state)
{
    (void)state;
    proc s;
    serial(&s);
    assert_non_null(strstr(s.json, "rank 4, op 'dispatch'")); /* the stream's warning */
    expect_serial(&s, 0);
}

/* The processes validate the files of one copy together (each its share), with a
 * file that is not HDF5: the same report as serial (the skipped file included). */
static void test_shared_load(void **state)
{
    (void)state;
    char junk[160];
    snprintf(junk, sizeof junk, "%s/copy0/rank-00002.bad.h5", tmpdir);
    FILE *f = fopen(junk, "w");
    assert_non_null(f);
    fputs("not HDF5\n", f);
    assert_int_equal(fclose(f), 0);
    proc s;
    serial(&s);
    assert_non_null(strstr(s.json, "rank-00002.bad.h5"));
    expect_serial(&s, 1);
    assert_int_equal(unlink(junk), 0);
}

/* Every process fails with the failing process's message. */
static void expect_failure(int count, proc *procs, const char *needle)
{
    run_world(count, procs);
    for (int k = 0; k < count; k++) {
        assert_int_equal(procs[k].rc, -1);
        assert_string_equal(procs[k].err.msg, procs[0].err.msg);
        free(procs[k].json);
    }
    if (!strstr(procs[0].err.msg, needle))
        fail_msg("'%s' lacks '%s'", procs[0].err.msg, needle);
}

static void test_a_load_fails(void **state)
{
    (void)state;
    proc procs[MAXP];
    memset(procs, 0, sizeof procs);
    procs[2].fail_load = 1;
    expect_failure(3, procs, "process 2 cannot load");
}

/* A rank file gone after the load: its stream fails when it reopens it (one file
 * open at a time, so that it is closed after the load). */
static void stream_fails(int count, int who, int rank)
{
    char path[192];
    snprintf(path, sizeof path, "%s/copy%d/rank-%05d.h5", tmpdir, who, rank);
    proc procs[MAXP];
    memset(procs, 0, sizeof procs);
    procs[who].remove = path;
    char needle[64];
    snprintf(needle, sizeof needle, "copy%d/rank-%05d.h5", who, rank);
    setenv("DXT_TRACE_MAX_OPEN", "1", 1); /* files closed after the load, reopened to read */
    expect_failure(count, procs, needle);
    unsetenv("DXT_TRACE_MAX_OPEN");
    char dir[128];
    snprintf(dir, sizeof dir, "%s/copy%d", tmpdir, who);
    assert_int_equal(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    write_trace(who); /* whole again for the next test */
}

static void test_another_process_fails_midway(void **state)
{
    (void)state;
    stream_fails(2, 1, 4);
}

static void test_process_0_fails_midway(void **state)
{
    (void)state;
    stream_fails(2, 0, 1); /* process 0 reads ranks 0, 1 of 6 (dxt_partition_share) */
}

static void test_blocks(void **state)
{
    (void)state;
    int first, end, next = 0;
    for (int k = 0; k < 4; k++) { /* 10 ranks, 4 processes: 3 3 2 2 */
        dxt_partition_block(10, 4, k, &first, &end);
        assert_int_equal(first, next);
        assert_int_equal(end - first, k < 2 ? 3 : 2);
        next = end;
    }
    assert_int_equal(next, 10);
    dxt_partition_block(2, 3, 2, &first, &end); /* more processes than ranks */
    assert_int_equal(end - first, 0);
    dxt_partition_block(10, 4, 7, &first, &end);
    assert_int_equal(end - first, 0);
    /* the blocks read: process 0's smaller, none from 7 processes on */
    int want[][5] = {{2, 109, 147}, {4, 36, 73, 73, 74}, {7, 0, 42, 43, 43}};
    for (size_t c = 0; c < sizeof want / sizeof want[0]; c++) {
        next = 0;
        for (int k = 0; k < want[c][0]; k++) {
            dxt_partition_share(256, want[c][0], k, &first, &end);
            assert_int_equal(first, next);
            if (k < 4)
                assert_int_equal(end - first, want[c][k + 1]);
            next = end;
        }
        assert_int_equal(next, 256);
    }
    dxt_partition_share(10, 1, 0, &first, &end);
    assert_int_equal(end - first, 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_same_as_serial),
        cmocka_unit_test(test_shared_load),
        cmocka_unit_test(test_a_load_fails),
        cmocka_unit_test(test_another_process_fails_midway),
        cmocka_unit_test(test_process_0_fails_midway),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
