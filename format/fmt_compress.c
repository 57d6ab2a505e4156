/* fmt_compress.c - dxt_file_compress: rewrite a closed trace with shuffle +
 * deflate chunks, through the module's own reader and writer, into
 * "<path>.tmp", fsync it, rename it over path. Owner: the format module.
 * Only the readable prefix of each op is copied (a torn tail is dropped). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmt_internal.h"

#define COPY_BLOCK_BYTES (4 * 1024 * 1024) /* rows are copied in blocks of about this size */

typedef struct copy_buffers {
    int64_t rows; /* capacity in rows */
    int64_t *step, *time_ns, *wait, *tokens;
    double *clock_hz;
} copy_buffers;

static void free_buffers(copy_buffers *b)
{
    free(b->step);
    free(b->time_ns);
    free(b->wait);
    free(b->tokens);
    free(b->clock_hz);
}

static int alloc_buffers(copy_buffers *b, int64_t world_size)
{
    int64_t rows = COPY_BLOCK_BYTES / (world_size * 8);
    b->rows = rows < 1 ? 1 : rows;
    size_t r = (size_t)b->rows, cells = r * (size_t)world_size;
    b->step = malloc(r * 8);
    b->time_ns = malloc(r * 8);
    b->clock_hz = malloc(r * 8);
    b->wait = malloc(cells * 8);
    b->tokens = malloc(cells * 8);
    return (b->step && b->time_ns && b->clock_hz && b->wait && b->tokens) ? 0 : -1;
}

static int copy_op(dxt_reader *rd, dxt_writer *w, int op, copy_buffers *b, dxt_error *err)
{
    const dxt_op_info *o = dxt_reader_op(rd, op);
    for (int64_t first = 0; first < o->rows; first += b->rows) {
        int64_t n = dxt_reader_read(rd, op, first, b->rows, b->step,
                                    o->has_time_ns ? b->time_ns : NULL, b->wait,
                                    o->has_tokens ? b->tokens : NULL,
                                    o->has_clock_hz ? b->clock_hz : NULL, err);
        if (n <= 0)
            return n < 0 ? -1 : 0;
        if (dxt_writer_append(w, op, n, b->step, o->has_time_ns ? b->time_ns : NULL, b->wait,
                              o->has_tokens ? b->tokens : NULL,
                              o->has_clock_hz ? b->clock_hz : NULL, err) < 0)
            return -1;
    }
    if ((o->rows_dropped != 0 || o->dropped_first_step != -1 || o->dropped_last_step != -1) &&
        dxt_writer_set_dropped(w, op, o->rows_dropped, o->dropped_first_step,
                               o->dropped_last_step, err) < 0)
        return -1;
    return 0;
}

/* Create tmp with the layout of rd's file and copy every op into it. */
static int copy_file(dxt_reader *rd, const char *tmp, int level, dxt_error *err)
{
    dxt_op_spec specs[DXT_MAX_OPS];
    int nops = dxt_reader_op_count(rd);
    for (int i = 0; i < nops; i++) {
        const dxt_op_info *o = dxt_reader_op(rd, i);
        specs[i] = (dxt_op_spec){.name = o->name, .unit = o->unit, .counting = o->counting,
                                 .tokens_counting = o->tokens_counting,
                                 .has_time_ns = o->has_time_ns, .has_tokens = o->has_tokens,
                                 .has_clock_hz = o->has_clock_hz};
    }
    dxt_writer_layout layout = {.chunk_rows = 0, .deflate_level = level, .fsync = 1};
    copy_buffers b = {0};
    dxt_writer *w = NULL;
    int rc = -1;
    if (alloc_buffers(&b, dxt_reader_meta(rd)->world_size) < 0) {
        dxt_fail(err, "%s: out of memory", tmp);
        goto fail;
    }
    if (dxt_writer_create_specs(tmp, dxt_reader_meta(rd), specs, nops, &layout, &w, err) < 0)
        goto fail;
    for (int i = 0; i < nops; i++)
        if (copy_op(rd, w, i, &b, err) < 0)
            goto fail;
    rc = 0;
fail:
    if (w) {
        dxt_error close_err;
        if (dxt_writer_close(w, &close_err) < 0 && rc == 0) {
            if (err)
                *err = close_err;
            rc = -1;
        }
    }
    free_buffers(&b);
    return rc;
}

/* fsync a file (or, with O_DIRECTORY, a directory) by path. */
static int fsync_path(const char *path, int flags)
{
    int fd = open(path, O_RDONLY | flags);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static void dir_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, cap, ".");
    else if (slash == path)
        snprintf(dir, cap, "/");
    else
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

int dxt_file_compress(const char *path, int level, dxt_error *err)
{
    dxt_reader *rd = NULL;
    char *tmp = NULL, *dir = NULL;
    int rc = -1;
    if (!path)
        return dxt_fail(err, "dxt_file_compress: NULL path");
    if (level < 1 || level > 9)
        return dxt_fail(err, "%s: deflate level %d not in 1..9", path, level);
    size_t len = strlen(path);
    if (!(tmp = malloc(len + 5)) || !(dir = malloc(len + 2))) {
        dxt_fail(err, "%s: out of memory", path);
        goto fail;
    }
    snprintf(tmp, len + 5, "%s.tmp", path);
    dir_of(path, dir, len + 2);
    if (unlink(tmp) != 0 && errno != ENOENT) {
        dxt_fail(err, "%s: stale file cannot be removed: %s", tmp, strerror(errno));
        goto fail;
    }
    if (dxt_reader_open(path, &rd, err) < 0 || copy_file(rd, tmp, level, err) < 0)
        goto fail;
    dxt_reader_close(rd);
    rd = NULL;
    if (fsync_path(tmp, 0) != 0) {
        dxt_fail(err, "%s: fsync failed: %s", tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        dxt_fail(err, "%s: rename from %s failed: %s", path, tmp, strerror(errno));
        goto fail;
    }
    fsync_path(dir, O_DIRECTORY); /* best effort: makes the rename durable */
    rc = 0;
fail:
    dxt_reader_close(rd);
    if (rc < 0 && tmp)
        unlink(tmp);
    free(tmp);
    free(dir);
    return rc;
}
