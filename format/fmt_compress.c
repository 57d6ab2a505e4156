/* fmt_compress.c - dxt_file_compress: rewrite a closed trace with shuffle +
 * deflate chunks, through the module's own reader and writer, into an
 * private temporary of its directory (HDF5 needs a real name; a kill leaves
 * it behind, and the next compression in that directory removes it), fsync
 * it, rename it over path if path still is the file read (fmt_safefile.c).
 * Owner: the format module.
 * Only the readable prefix of each op is copied (a torn tail is dropped). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

/* Create the new file (h5_name; tmp names it in errors) with the layout of
 * rd's file and copy every op into it. */
static int copy_file(dxt_reader *rd, const char *tmp, const char *h5_name, int level,
                     dxt_error *err)
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
    dxt_meta meta = *dxt_reader_meta(rd);
    if (meta.closed_unix_ns <= 0) { /* an older writer's file, or one never closed: a
                                     * compressed file is never written again */
        struct timespec now;
        if (clock_gettime(CLOCK_REALTIME, &now) == 0)
            meta.closed_unix_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
        if (meta.closed_unix_ns <= 0)
            meta.closed_unix_ns = 1;
    }
    if (dxt_writer_create_on(tmp, h5_name, &meta, specs, nops, &layout, &w, err) < 0)
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

/* Compress the file open as fd (orig: its identity) at dirfd/base: an
 * private new file, fsynced, renamed over base only if base still is orig. */
static int compress_fd(const char *path, int dirfd, const char *base, int fd,
                       const struct stat *orig, int level, dxt_error *err)
{
    dxt_reader *rd = NULL;
    dxt_newfile nf = {.dirfd = dirfd, .fd = -1};
    char src[32], shown[600];
    int rc = -1;
    snprintf(shown, sizeof shown, "%s (its compressed copy)", path);
    if (dxt_fd_path(fd, src, sizeof src) != 0) {
        dxt_fail(err, "%s: /proc/self/fd is not available: not compressed (mount /proc)", path);
        goto fail;
    }
    dxt_sweep_temporaries(dirfd); /* of a compression killed earlier */
    if (dxt_newfile_open(&nf, dirfd, 1, err) < 0 || dxt_reader_open(src, &rd, err) < 0 ||
        copy_file(rd, shown, nf.path, level, err) < 0)
        goto fail;
    if (fsync(nf.fd) != 0) {
        dxt_fail(err, "%s: fsync failed: %s", shown, strerror(errno));
        goto fail;
    }
    if (dxt_newfile_publish(&nf, base, orig, err) < 0) {
        dxt_error why = *err;
        dxt_fail(err, "%s: %s", path, why.msg);
        goto fail;
    }
    fsync(dirfd); /* best effort: makes the rename durable */
    rc = 0;
fail:
    dxt_reader_close(rd);
    dxt_newfile_discard(&nf);
    return rc;
}

int dxt_file_compress(const char *path, int level, dxt_error *err)
{
    const char *base;
    struct stat orig;
    int dirfd = -1, fd = -1, rc = -1;
    if (!path)
        return dxt_fail(err, "dxt_file_compress: NULL path");
    if (level < 1 || level > 9)
        return dxt_fail(err, "%s: deflate level %d not in 1..9", path, level);
    if ((dirfd = dxt_open_parent(path, &base, err)) < 0)
        return -1;
    /* the file itself, never through a link (a planted link would make us copy
     * someone else's file into one of ours) */
    fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &orig) != 0 || !S_ISREG(orig.st_mode)) {
        dxt_fail(err, "%s: not compressed: %s", path,
                 fd < 0 ? strerror(errno) : "not a regular file");
        goto fail;
    }
    rc = compress_fd(path, dirfd, base, fd, &orig, level, err);
fail:
    if (fd >= 0)
        close(fd);
    close(dirfd);
    return rc;
}
