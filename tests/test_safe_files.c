/* test_safe_files.c - cmocka tests of issue 13's file rules in the format
 * module and the recorder: a name that exists (an earlier run's file, a
 * planted link) is never opened, truncated or replaced; the recorder writes
 * the next free segment, says where, and compresses only what it created;
 * a directory link planted by someone else is not followed; compress leaves
 * no temporary. The shell side (other users, full disks) is test_safety.sh.
 * Owner: the safety helper (issue 13). */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
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

#include "dxt_format.h"
#include "dxtrec.h"

static char dir[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/dxt-safe-files-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *in_dir(const char *name)
{
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int holds_text(const char *path, const char *text)
{
    char buf[256] = "";
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = '\0';
    return strcmp(buf, text) == 0;
}

static dxt_meta meta_of(int rank, int world)
{
    dxt_meta m;
    memset(&m, 0, sizeof m);
    snprintf(m.run_id, sizeof m.run_id, "safe");
    m.rank = rank;
    m.world_size = world;
    m.local_rank = -1;
    return m;
}

/* The writer never opens a name that exists, file or link, and says why. */
static void test_writer_exclusive(void **state)
{
    (void)state;
    const char *ops[] = {"dispatch"};
    dxt_meta meta = meta_of(0, 2);
    dxt_writer *w = NULL;
    dxt_error err = {{0}};
    write_text(in_dir("victim"), "victim");
    assert_int_equal(symlink(in_dir("victim"), in_dir("link.h5")), 0);
    assert_int_equal(dxt_writer_create(in_dir("link.h5"), &meta, ops, 1, DXT_UNIT_NS,
                                       DXT_COUNTING_DELTA, NULL, &w, &err), -1);
    assert_non_null(strstr(err.msg, "never overwritten"));
    assert_true(holds_text(in_dir("victim"), "victim"));
    write_text(in_dir("old.h5"), "an earlier trace");
    assert_int_equal(dxt_writer_create(in_dir("old.h5"), &meta, ops, 1, DXT_UNIT_NS,
                                       DXT_COUNTING_DELTA, NULL, &w, &err), -1);
    assert_true(holds_text(in_dir("old.h5"), "an earlier trace"));
    /* a new name works, and compressing it leaves no temporary behind */
    assert_int_equal(dxt_writer_create(in_dir("new.h5"), &meta, ops, 1, DXT_UNIT_NS,
                                       DXT_COUNTING_DELTA, NULL, &w, &err), 0);
    int64_t step[2] = {1, 2}, wait[4] = {0, 5, 6, 0};
    assert_int_equal(dxt_writer_append(w, 0, 2, step, NULL, wait, NULL, NULL, &err), 0);
    assert_int_equal(dxt_writer_close(w, &err), 0);
    assert_int_equal(dxt_file_compress(in_dir("new.h5"), 1, &err), 0);
    DIR *d = opendir(dir);
    struct dirent *e;
    int temporaries = 0;
    while ((e = readdir(d)))
        temporaries += strstr(e->d_name, ".tmp") != NULL;
    closedir(d);
    assert_int_equal(temporaries, 0);
    /* compress does not follow a link either */
    assert_int_equal(dxt_file_compress(in_dir("link.h5"), 1, &err), -1);
    assert_true(holds_text(in_dir("victim"), "victim"));
}

/* The recorder: rank-00000.h5 of an earlier run is kept; the new rows go to
 * the next free segment; the message says so; only the new file is compressed. */
static void test_recorder_keeps_earlier_run(void **state)
{
    (void)state;
    static const char *const ops[] = {"dispatch"};
    char sub[200];
    snprintf(sub, sizeof sub, "%s/trace", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    write_text(in_dir("trace/rank-00000.h5"), "an earlier trace");
    dxtrec_config cfg;
    dxtrec_config_init(&cfg);
    cfg.dir = sub;
    cfg.rank = 0;
    cfg.world_size = 2;
    cfg.run_id = "safe";
    cfg.ops = ops;
    cfg.nops = 1;
    cfg.quiet = 1;
    cfg.compress_level = 1;
    dxtrec_t *rec = NULL;
    assert_int_equal(dxtrec_open(&cfg, &rec), DXTREC_SUCCESS);
    int64_t wait[2] = {0, 7};
    for (int s = 0; s < 10; s++)
        assert_int_equal(dxtrec_record(rec, 0, s, wait, NULL), DXTREC_SUCCESS);
    char msg[512];
    dxtrec_last_error(rec, msg, sizeof msg);
    assert_non_null(strstr(msg, "rank-00000.h5 exists"));
    assert_non_null(strstr(msg, "rank-00000.1.h5"));
    assert_int_equal(dxtrec_close(rec), DXTREC_SUCCESS);
    assert_true(holds_text(in_dir("trace/rank-00000.h5"), "an earlier trace"));
    dxt_reader *r = NULL;
    dxt_error err = {{0}};
    assert_int_equal(dxt_reader_open(in_dir("trace/rank-00000.1.h5"), &r, &err), 0);
    assert_int_equal(dxt_reader_op(r, 0)->rows, 10);
    dxt_reader_close(r);
}

/* A directory link planted where others may write is not followed. */
static void test_planted_dir_link(void **state)
{
    (void)state;
    char shared[200], target[200], link[256];
    snprintf(shared, sizeof shared, "%s/shared", dir);
    snprintf(target, sizeof target, "%s/elsewhere", dir);
    snprintf(link, sizeof link, "%s/sub", shared);
    assert_int_equal(mkdir(shared, 0777), 0);
    assert_int_equal(chmod(shared, 0777), 0); /* writable by others, not sticky */
    assert_int_equal(mkdir(target, 0755), 0);
    assert_int_equal(symlink(target, link), 0);
    dxt_error err = {{0}};
    int fd = dxt_dir_open(link, 0, &err); /* anyone could have swapped it there */
    assert_true(fd < 0);
    assert_non_null(strstr(err.msg, "symbolic link"));
    /* the same link in a directory only we can write to is followed */
    assert_int_equal(chmod(shared, 0755), 0);
    fd = dxt_dir_open(link, 0, &err);
    assert_true(fd >= 0);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_writer_exclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recorder_keeps_earlier_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_planted_dir_link, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
