/* load_check.c - validating the listed rank files for the trace loader
 * (load_trace.c; a partitioned run's share: load_parts.c), a batch at a time.
 * Each file is opened and checked by HDF5 in the calling thread, in list order
 * (dxt_reader_open_deferred), except the last stored chunk of wait and tokens
 * of each op, which the check inflates whole and which was most of an open
 * (77% of its instructions, callgrind, EP2048): those chunks are read with
 * pread and decoded (chunk_decode.c: libdeflate, adler32 checked) by the
 * loader's threads (par_for.c), with no HDF5 call. A tail that does not
 * decode, or that cannot be read without HDF5, is checked by HDF5 as
 * dxt_reader_open checks it: the same rows, the same files skipped.
 * Owner: the loader/report engineer (A2; issue 15). */
#include "load_trace.h"

#include "chunk_decode.h"
#include "par_for.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* One tail chunk to decode: file `file` of the batch, op `op`. */
typedef struct tail_job {
    int file, op, ok;
    dxt_chunk_layout lay;
    uint64_t offset, size, dev, ino;
} tail_job;

typedef struct check_batch {
    char **paths;
    dxt_checked *out;
    tail_job *jobs;
    int njobs, cap;
    int threads;
    dxt_chunk_decoder **dec; /* one a thread, made by its thread */
    void **raw;              /* a thread's stored bytes */
    size_t *raw_cap;
} check_batch;

/* 1 (with err) when path cannot be opened for want of file descriptors:
 * HDF5 would report "cannot be opened as HDF5" and the file would be skipped
 * as bad, so the loader stops and says so instead. */
static int out_of_descriptors(const char *path, dxt_error *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    if (errno != EMFILE && errno != ENFILE)
        return 0;
    struct rlimit lim = {0, 0};
    getrlimit(RLIMIT_NOFILE, &lim);
    dxt_set_error(err, "%s: too many open files (%s; the limit is %llu): raise it with "
                  "'ulimit -n'", path, strerror(errno), (unsigned long long)lim.rlim_cur);
    return 1;
}

/* Decode job `item`'s chunk (a par_for item): ok 1 when it decodes. */
static void decode_tail(void *ctx, int thread, int item)
{
    check_batch *b = ctx;
    tail_job *j = &b->jobs[item];
    int fd = dxt_open_identified(b->paths[j->file], j->dev, j->ino);
    j->ok = 0;
    if (fd < 0)
        return;
    if (!b->dec[thread])
        b->dec[thread] = dxt_chunk_decoder_new();
    int64_t first;
    const char *why = NULL;
    j->ok = b->dec[thread] &&
            dxt_pread_stored(fd, j->offset, j->size, &b->raw[thread], &b->raw_cap[thread]) == 1 &&
            dxt_chunk_decode(b->dec[thread], b->raw[thread], (size_t)j->size, j->lay.shuffle,
                             j->lay.deflate, (size_t)(j->lay.chunk_rows * j->lay.width), 0, 1,
                             &first, &why) == 0;
    close(fd);
}

/* Room for one more job: 0 or -1. */
static int job_room(check_batch *b)
{
    if (b->njobs < b->cap)
        return 0;
    int cap = b->cap ? 2 * b->cap : 256;
    tail_job *grown = realloc(b->jobs, (size_t)cap * sizeof *grown);
    if (!grown)
        return -1;
    b->jobs = grown;
    b->cap = cap;
    return 0;
}

/* Op `op` of file k's reader: a job for each tail it left, or its tails
 * checked by HDF5 now when one cannot be read without HDF5. 0 or -1 (why). */
static int plan_op(check_batch *b, int k, int op, uint64_t dev, uint64_t ino, int known)
{
    dxt_checked *c = &b->out[k];
    static const dxt_name names[2] = {DXT_D_WAIT, DXT_D_TOKENS};
    int njobs = b->njobs, by_hdf5 = 0;
    for (int d = 0; d < 2 && !by_hdf5; d++) {
        tail_job j = {.file = k, .op = op, .dev = dev, .ino = ino};
        int64_t chunk;
        int rc = dxt_reader_tail_where(c->reader, op, names[d], &j.lay, &chunk, &j.offset,
                                       &j.size, &c->why);
        if (rc == 1 && known && job_room(b) == 0)
            b->jobs[b->njobs++] = j;
        else if (rc != 0) /* an error, or no room: HDF5 checks them */
            by_hdf5 = 1;
        else if (dxt_reader_tails_checked(c->reader, op, 0, &c->why) < 0)
            return -1; /* none left (nothing to do), or not readable without HDF5 */
    }
    if (!by_hdf5)
        return 0;
    b->njobs = njobs;
    return dxt_reader_tails_checked(c->reader, op, 0, &c->why);
}

/* Open file k (HDF5, this thread) and plan its tails. Its status. */
static int open_one(check_batch *b, int k)
{
    dxt_checked *c = &b->out[k];
    const char *path = b->paths[k];
    struct stat st;
    memset(c, 0, sizeof *c);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) { /* a FIFO would block */
        dxt_set_error(&c->why, "not a regular file (FIFO, device, socket or gone)");
        return c->status = 0;
    }
    if (out_of_descriptors(path, &c->why))
        return c->status = -1;
    if (dxt_reader_open_deferred(path, &c->reader, &c->why) != 0)
        return c->status = 0;
    uint64_t dev = 0, ino = 0;
    int known = dxt_reader_file_identity(c->reader, &dev, &ino), rc = 0;
    for (int op = 0; op < dxt_reader_op_count(c->reader) && rc == 0; op++)
        rc = plan_op(b, k, op, dev, ino, known);
    dxt_reader_suspend(c->reader); /* reopened when read: an open file costs about 1 MB */
    if (rc < 0) {
        dxt_reader_close(c->reader);
        c->reader = NULL;
        return c->status = 0;
    }
    return c->status = 1;
}

/* After the decoding: each op's verdict to its reader (HDF5 checks the tails
 * of an op when one did not decode). */
static void settle(check_batch *b)
{
    for (int at = 0; at < b->njobs;) {
        const tail_job *j = &b->jobs[at];
        int ok = 1, end = at;
        for (; end < b->njobs && b->jobs[end].file == j->file && b->jobs[end].op == j->op; end++)
            ok &= b->jobs[end].ok;
        dxt_checked *c = &b->out[j->file];
        if (c->reader && dxt_reader_tails_checked(c->reader, j->op, ok, &c->why) < 0) {
            dxt_reader_close(c->reader);
            c->reader = NULL;
            c->status = 0;
        }
        if (c->reader && !ok)
            dxt_reader_suspend(c->reader);
        at = end;
    }
}

int dxt_trace_validate_batch(dxt_trace_state *t, char **paths, int count, dxt_checked *out)
{
    check_batch b = {.paths = paths, .out = out, .threads = 1};
    dxt_error ignored;
    if (!t->par && dxt_par_create(dxt_par_default_threads(), &t->par, &ignored) < 0)
        t->par = NULL; /* then decoded by this thread */
    if (t->par)
        b.threads = dxt_par_threads(t->par);
    b.dec = calloc((size_t)b.threads, sizeof *b.dec);
    b.raw = calloc((size_t)b.threads, sizeof *b.raw);
    b.raw_cap = calloc((size_t)b.threads, sizeof *b.raw_cap);
    int done = 0;
    while (done < count && open_one(&b, done) >= 0)
        done++;
    if (done < count)
        done++; /* the file that stops the load */
    for (int k = 0; k < b.njobs; k++) /* no memory for the threads' state: HDF5 checks */
        b.jobs[k].ok = 0;
    if (b.dec && b.raw && b.raw_cap && t->par)
        dxt_par_run(t->par, b.njobs, decode_tail, &b);
    else if (b.dec && b.raw && b.raw_cap)
        for (int k = 0; k < b.njobs; k++)
            decode_tail(&b, 0, k);
    settle(&b);
    for (int k = 0; b.dec && k < b.threads; k++)
        dxt_chunk_decoder_free(b.dec[k]);
    for (int k = 0; b.raw && k < b.threads; k++)
        free(b.raw[k]);
    free(b.dec);
    free(b.raw);
    free(b.raw_cap);
    free(b.jobs);
    return done;
}
