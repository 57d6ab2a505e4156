/* test_recorder_kill.c - crash safety of libdxtrec: a forked child records at a
 * steady rate (flush_interval 0.2 s) and publishes how many steps it has
 * recorded in shared memory; the parent SIGKILLs it at 10 random moments
 * (fixed seed, a fresh trace dir each). Every file must open with
 * dxt_reader_open and hold every row recorded more than one flush interval
 * plus a margin before the kill, with steps 0, 1, 2, ... (no duplicates).
 * Owner: recorder host path. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <ftw.h>

#include <cmocka.h>

#include "dxt_format.h"
#include "dxtrec.h"

enum { N = 64, KILLS = 10, MAX_SAMPLES = 4096 };
#define FLUSH_INTERVAL_S 0.2
#define MARGIN_S 0.3

static const char *const ops[] = {"dispatch", "combine"};

typedef struct shared_state {
    _Atomic int64_t recorded; /* steps whose rows of both ops were accepted */
    _Atomic int64_t dropped;
    _Atomic int ready;
} shared_state;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static int64_t value_of(int op, int64_t step, int j)
{
    return step * 1000 + j * 3 + op;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* The child: record steps forever, about 1000 steps per second. */
static int child_main(const char *dir, shared_state *sh)
{
    dxtrec_config cfg;
    dxtrec_config_init(&cfg);
    cfg.dir = dir;
    cfg.world_size = N;
    cfg.run_id = "kill-test";
    cfg.ops = ops;
    cfg.nops = 2;
    cfg.flush_interval_s = FLUSH_INTERVAL_S;
    cfg.quiet = 1;
    dxtrec_t *rec = NULL;
    if (dxtrec_open(&cfg, &rec) != DXTREC_SUCCESS)
        return 2;
    atomic_store(&sh->ready, 1);
    int64_t wait[N];
    for (int64_t step = 0;; step++) {
        for (int op = 0; op < 2; op++) {
            for (int j = 0; j < N; j++)
                wait[j] = value_of(op, step, j);
            if (dxtrec_record(rec, op, step, wait, NULL) != DXTREC_SUCCESS)
                atomic_fetch_add(&sh->dropped, 1);
        }
        atomic_store(&sh->recorded, step + 1);
        sleep_s(0.001);
    }
}

/* Steps recorded at time t according to the samples (0 before the first). */
static int64_t recorded_at(const double *times, const int64_t *counts, int n, double t)
{
    int64_t best = 0;
    for (int i = 0; i < n && times[i] <= t; i++)
        best = counts[i];
    return best;
}

/* Returns the rows of the first op. */
static int64_t check_file(const char *dir, int64_t must_have, int64_t at_most)
{
    int64_t first_rows = -1;
    char path[512];
    snprintf(path, sizeof(path), "%s/rank-00000.h5", dir);
    dxt_reader *r = NULL;
    dxt_error err;
    if (dxt_reader_open(path, &r, &err) != 0)
        fail_msg("%s", err.msg);
    for (int op = 0; op < 2; op++) {
        int idx = dxt_reader_find_op(r, ops[op]);
        assert_true(idx >= 0);
        int64_t rows = dxt_reader_op(r, idx)->rows;
        if (first_rows < 0)
            first_rows = rows;
        if (rows < must_have || rows > at_most)
            fail_msg("%s op %s: %lld rows, expected %lld .. %lld", path, ops[op],
                     (long long)rows, (long long)must_have, (long long)at_most);
        int64_t *step = malloc((size_t)(rows + 1) * sizeof(int64_t));
        int64_t *wait = malloc((size_t)(rows + 1) * N * sizeof(int64_t));
        assert_non_null(step);
        assert_non_null(wait);
        assert_int_equal(dxt_reader_read(r, idx, 0, rows, step, NULL, wait, NULL, NULL, &err),
                         rows);
        for (int64_t i = 0; i < rows; i++) {
            assert_int_equal(step[i], i);
            for (int j = 0; j < N; j++)
                assert_int_equal(wait[i * N + j], value_of(op, i, j));
        }
        free(step);
        free(wait);
    }
    dxt_reader_close(r);
    return first_rows;
}

static void kill_once(shared_state *sh, double delay_s)
{
    char dir[] = "/tmp/dxtrec-kill-XXXXXX";
    assert_non_null(mkdtemp(dir));
    memset(sh, 0, sizeof(*sh));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_main(dir, sh));
    double start = now_s();
    while (!atomic_load(&sh->ready) && now_s() - start < 10.0)
        sleep_s(0.001);
    assert_true(atomic_load(&sh->ready));
    static double times[MAX_SAMPLES];
    static int64_t counts[MAX_SAMPLES];
    int n = 0;
    double t0 = now_s();
    while (now_s() - t0 < delay_s && n < MAX_SAMPLES) {
        counts[n] = atomic_load(&sh->recorded);
        times[n] = now_s();
        n++;
        sleep_s(0.002);
    }
    double kill_time = now_s();
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(atomic_load(&sh->dropped), 0);
    int64_t must_have = recorded_at(times, counts, n, kill_time - FLUSH_INTERVAL_S - MARGIN_S);
    int64_t at_most = atomic_load(&sh->recorded) + 1;
    int64_t rows = check_file(dir, must_have, at_most);
    print_message("killed after %.3f s: %lld steps recorded, %lld needed, %lld in the file\n",
                  kill_time - t0, (long long)at_most - 1, (long long)must_have, (long long)rows);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_sigkill(void **state)
{
    (void)state;
    shared_state *sh = mmap(NULL, sizeof(shared_state), PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(sh != MAP_FAILED);
    unsigned seed = 12345;
    for (int k = 0; k < KILLS; k++)
        kill_once(sh, 0.3 + 1.0 * (double)rand_r(&seed) / RAND_MAX);
    munmap(sh, sizeof(shared_state));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
