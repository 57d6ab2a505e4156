/* test_recorder_faults.c - machine-side faults under a recording job (cmocka):
 * a disk that fills (a 12 MiB tmpfs), the trace directory removed while
 * writing, write permission lost (a non-root writer whose directory turns
 * read-only). In each, recording goes on without blocking or failing (only
 * SUCCESS or DROPPED), the loss is counted and stored, and when the condition
 * clears the recorder resumes in a new file; every row in the files is right
 * and appears once, and written + dropped = recorded.
 * Owner: reliability. (The file size limit and an unwritable directory at
 * start are in the recorder's own tests/test_recorder.c.)
 * Needs root for mount and setuid: skipped (passing) otherwise. */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dxt_format.h"
#include "dxtrec.h"
#include "internal.h"

enum { FN = 64, MAX_FILES = 16, RETRY_MS = 20 };
static const char *const one_op[] = {"dispatch"};

typedef struct fault_run {
    dxtrec_t *rec;
    int64_t next_step;
} fault_run;

/* Checks inside the child processes (cmocka's asserts belong to the parent):
 * print what failed and return -1 from the function. */
#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            return -1;                                                             \
        }                                                                          \
    } while (0)

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t fault_value(int64_t step, int j)
{
    return step * 100 + j;
}

static int open_recorder(fault_run *run, const char *dir)
{
    dxtrec_config cfg;
    dxtrec_config_init(&cfg);
    cfg.dir = dir;
    cfg.world_size = FN;
    cfg.run_id = "faults";
    cfg.node = "node-a";
    cfg.ops = one_op;
    cfg.nops = 1;
    cfg.quiet = 1;
    cfg.compress_level = 0;
    cfg.flush_interval_s = 0.05;
    memset(run, 0, sizeof *run);
    dxtrecResult_t rc = dxtrec_open(&cfg, &run->rec);
    CHECK(run->rec != NULL);
    CHECK(rc == DXTREC_SUCCESS || rc == DXTREC_ERR_IO);
    dxtrec_internal_set_test_knobs(run->rec, 0, RETRY_MS);
    return 0;
}

/* Record rows, a little paced; a call may only succeed or drop (never block or fail). */
static int record_rows(fault_run *run, int rows)
{
    int64_t wait[FN];
    for (int k = 0; k < rows; k++, run->next_step++) {
        for (int j = 0; j < FN; j++)
            wait[j] = fault_value(run->next_step, j);
        dxtrecResult_t rc = dxtrec_record(run->rec, 0, run->next_step, wait, NULL);
        CHECK(rc == DXTREC_SUCCESS || rc == DXTREC_ERR_DROPPED);
        if (k % 64 == 63)
            sleep_ms(1);
    }
    return 0;
}

/* Rows of one file: each right, steps increasing, none seen in another file. */
static int64_t check_one_file(const char *path, unsigned char *seen, int64_t max_step,
                              int64_t *dropped_attr)
{
    dxt_reader *r = NULL;
    dxt_error err = {{0}};
    if (dxt_reader_open(path, &r, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    const dxt_op_info *info = dxt_reader_op(r, 0);
    int64_t rows = info->rows, bad = 0;
    int64_t *step = malloc((size_t)(rows + 1) * sizeof *step);
    int64_t *wait = malloc((size_t)(rows + 1) * FN * sizeof *wait);
    if (!step || !wait ||
        dxt_reader_read(r, 0, 0, rows, step, NULL, wait, NULL, NULL, &err) != rows)
        bad = 1;
    for (int64_t i = 0; !bad && i < rows; i++) {
        bad = step[i] < 0 || step[i] >= max_step || (i > 0 && step[i] <= step[i - 1]) ||
              seen[step[i]];
        if (!bad)
            seen[step[i]] = 1;
        for (int j = 0; !bad && j < FN; j++)
            bad = wait[i * FN + j] != fault_value(step[i], j);
    }
    if (info->rows_dropped > *dropped_attr)
        *dropped_attr = info->rows_dropped;
    free(step);
    free(wait);
    dxt_reader_close(r);
    if (bad)
        fprintf(stderr, "%s: a row is wrong, repeated or out of order\n", path);
    return bad ? -1 : rows;
}

/* Every rank-00000*.h5 of dir: rows written in all, the largest stored drop count. */
static int64_t check_files(const char *dir, int64_t max_step, int64_t *dropped_attr, int *nfiles)
{
    unsigned char *seen = calloc((size_t)max_step + 1, 1);
    int64_t rows = seen ? 0 : -1;
    *dropped_attr = 0;
    *nfiles = 0;
    for (int k = 0; rows >= 0 && k < MAX_FILES; k++) {
        char path[600];
        if (k == 0)
            snprintf(path, sizeof path, "%s/rank-00000.h5", dir);
        else
            snprintf(path, sizeof path, "%s/rank-00000.%d.h5", dir, k);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        int64_t got = check_one_file(path, seen, max_step, dropped_attr);
        rows = got < 0 ? -1 : rows + got;
        (*nfiles)++;
    }
    free(seen);
    return rows;
}

/* Close the recorder; the files must hold what was written, the count what was
 * not; deleted: rows the test removed with the file after they were flushed. */
static int finish_and_check(fault_run *run, const char *dir, int want_files_min,
                            int64_t deleted, const char *what)
{
    dxtrec_counters c;
    dxtrecResult_t flushed = dxtrec_flush(run->rec);
    CHECK(flushed == DXTREC_SUCCESS || flushed == DXTREC_ERR_IO);
    dxtrec_get_counters(run->rec, &c);
    char msg[512] = "";
    dxtrec_last_error(run->rec, msg, sizeof msg);
    (void)dxtrec_close(run->rec);
    run->rec = NULL;
    int64_t stored = 0;
    int nfiles = 0;
    int64_t rows = check_files(dir, run->next_step, &stored, &nfiles);
    printf("%s: %" PRId64 " recorded, %" PRId64 " rows in %d file(s), %" PRIu64
           " dropped (stored: %" PRId64 "); last error: %s\n",
           what, run->next_step, rows, nfiles, c.rows_dropped, stored, msg);
    fflush(stdout);
    CHECK(rows >= 0);
    CHECK(nfiles >= want_files_min);
    CHECK(deleted > 0 || c.rows_written + c.rows_dropped == (uint64_t)run->next_step);
    CHECK(rows + (int64_t)c.rows_dropped + deleted == run->next_step);
    CHECK(stored == (int64_t)c.rows_dropped);
    CHECK(c.rows_dropped > 0);
    CHECK(msg[0] != '\0');
    return 0;
}

/* Run body(dir) in a child process; 77 from it: skipped. */
static void run_child(int (*body)(const char *), const char *dir)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(body(dir));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- disk full ------------------------------------------------------------------ */

static int fill_file(const char *path, long bytes)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    static char block[65536];
    for (long done = 0; done < bytes; done += (long)sizeof block)
        if (fwrite(block, 1, sizeof block, f) != sizeof block)
            break;
    return fclose(f);
}

/* In its own mount namespace (the tmpfs vanishes with the child, whatever happens). */
static int disk_full_child(const char *mnt)
{
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", mnt, "tmpfs", 0, "size=12m") != 0) {
        printf("disk full: skipped (no tmpfs: %s)\n", strerror(errno));
        return 77;
    }
    char dir[600], filler[600];
    snprintf(dir, sizeof dir, "%s/trace", mnt);
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    CHECK(fill_file(filler, 6l << 20) == 0); /* leaves ~6 MiB */
    fault_run run;
    CHECK(open_recorder(&run, dir) == 0);
    CHECK(record_rows(&run, 8000) == 0); /* 8000 x 64 x 8 B = 4 MiB of waits: fills it */
    dxtrec_counters c;
    dxtrec_get_counters(run.rec, &c);
    CHECK(c.last_error == DXTREC_ERR_IO);
    CHECK(unlink(filler) == 0); /* room again: the recorder resumes in a new file */
    sleep_ms(5 * RETRY_MS);
    CHECK(record_rows(&run, 2000) == 0);
    return finish_and_check(&run, dir, 2, 0, "disk full");
}

static void test_disk_full(void **state)
{
    (void)state;
    char mnt[] = "/tmp/dxt-diskfull-XXXXXX";
    assert_non_null(mkdtemp(mnt));
    run_child(disk_full_child, mnt);
    rmdir(mnt);
}

/* ---- directory removed while writing ------------------------------------------------ */

static int dir_removed_child(const char *dir)
{
    fault_run run;
    CHECK(open_recorder(&run, dir) == 0);
    CHECK(record_rows(&run, 500) == 0);
    CHECK(dxtrec_flush(run.rec) == DXTREC_SUCCESS);
    CHECK(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
    CHECK(record_rows(&run, 500) == 0); /* into a file nobody can see any more */
    sleep_ms(200);
    CHECK(record_rows(&run, 500) == 0);
    return finish_and_check(&run, dir, 1, 500, "directory removed");
}

static void test_dir_removed(void **state)
{
    (void)state;
    char tmp[] = "/tmp/dxt-rmdir-XXXXXX", dir[600];
    assert_non_null(mkdtemp(tmp));
    snprintf(dir, sizeof dir, "%s/trace", tmp);
    run_child(dir_removed_child, dir);
    assert_int_equal(nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* ---- permission lost ------------------------------------------------------------------ */

/* As nobody (root ignores permissions): the rank file is removed and the
 * directory turns read-only, so no new file can be made; then writable again.
 * (Permissions do not stop writes to a file already open.) */
static int permission_child(const char *dir)
{
    if (setgid(65534) != 0 || setuid(65534) != 0) {
        printf("permission lost: skipped (setuid: %s)\n", strerror(errno));
        return 77;
    }
    fault_run run;
    CHECK(open_recorder(&run, dir) == 0);
    CHECK(record_rows(&run, 300) == 0);
    CHECK(dxtrec_flush(run.rec) == DXTREC_SUCCESS);
    char path[700];
    snprintf(path, sizeof path, "%s/rank-00000.h5", dir);
    CHECK(unlink(path) == 0);
    CHECK(chmod(dir, 0555) == 0);
    CHECK(record_rows(&run, 300) == 0);
    sleep_ms(100);
    CHECK(chmod(dir, 0755) == 0);
    sleep_ms(5 * RETRY_MS);
    CHECK(record_rows(&run, 300) == 0);
    return finish_and_check(&run, dir, 1, 300, "permission lost");
}

static void test_permission_lost(void **state)
{
    (void)state;
    char tmp[] = "/tmp/dxt-perm-XXXXXX", dir[600];
    assert_non_null(mkdtemp(tmp));
    snprintf(dir, sizeof dir, "%s/trace", tmp);
    assert_int_equal(chmod(tmp, 0755), 0);
    assert_int_equal(mkdir(dir, 0755), 0);
    int owned = chown(dir, 65534, 65534) == 0;
    if (owned)
        run_child(permission_child, dir);
    chmod(dir, 0755);
    nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (!owned)
        skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_dir_removed),
        cmocka_unit_test(test_permission_lost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
