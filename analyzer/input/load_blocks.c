/* load_blocks.c - block reads of a rank file's rows for the window streams
 * (load_blocks.h): HDF5 on the loader's thread (step, clock_hz, the stored
 * bytes of each wait and tokens chunk), chunk decoding in the trace's inflate
 * pool. A chunk HDF5 cannot give raw (unallocated, a filter skipped) and a
 * dataset with a pipeline the pool does not know are read the plain way.
 * Owner: the loader/report engineer (A2; issue 15). */
#include "load_blocks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

dxt_block *dxt_block_alloc(int64_t rows, int64_t n, int with_tokens)
{
    dxt_block *b = calloc(1, sizeof *b);
    size_t r = (size_t)rows, cells = r * (size_t)n;
    if (!b)
        return NULL;
    b->cap = rows;
    b->step = malloc(r * sizeof *b->step);
    b->hz = malloc(r * sizeof *b->hz);
    b->wait = malloc(cells * sizeof *b->wait);
    if (with_tokens)
        b->tokens = malloc(cells * sizeof *b->tokens);
    if (!b->step || !b->hz || !b->wait || (with_tokens && !b->tokens)) {
        dxt_block_free(NULL, b);
        return NULL;
    }
    return b;
}

void dxt_block_free(dxt_trace_state *t, dxt_block *b)
{
    if (!b)
        return;
    if (b->in_flight && t && t->pool)
        (void)dxt_inflate_wait(t->pool, &b->batch); /* its jobs write into b */
    free(b->step);
    free(b->hz);
    free(b->wait);
    free(b->tokens);
    free(b);
}

/* Tags name a failed chunk: the chunk index and the dataset. */
#define TAG(chunk, is_tokens) ((chunk) * 2 + (is_tokens))

/* Queue the chunks of dataset name (rows [b->first, + b->n)) into dest;
 * plain reads where the raw path cannot serve. 0 or -1 with err. */
static int read_dataset(dxt_trace_state *t, dxt_block *b, dxt_name name, int64_t *dest,
                        dxt_error *err)
{
    dxt_reader *r = b->file->reader;
    int op = b->file_op, is_tokens = name == DXT_D_TOKENS;
    int64_t n = dxt_reader_meta(r)->world_size, last = b->first + b->n;
    dxt_chunk_layout lay;
    if (dxt_reader_chunk_layout(r, op, name, &lay, err) < 0)
        return -1;
    if (!lay.usable) /* a pipeline of our own would be a guess: HDF5 reads it */
        return dxt_reader_read(r, op, b->first, b->n, NULL, NULL, is_tokens ? NULL : dest,
                               is_tokens ? dest : NULL, NULL, err) == b->n ? 0 : -1;
    for (int64_t c = b->first / lay.chunk_rows; c * lay.chunk_rows < last; c++) {
        int64_t lo = c * lay.chunk_rows, hi = lo + lay.chunk_rows;
        lo = lo < b->first ? b->first : lo;
        hi = hi > last ? last : hi;
        int64_t *to = dest + (lo - b->first) * n;
        dxt_inflate_job *job = dxt_inflate_job_get(t->pool);
        if (!job) {
            dxt_set_error(err, "%s: out of memory for a chunk", b->file->path);
            return -1;
        }
        int rc = dxt_reader_read_chunk(r, op, name, lay.chunk_rows, c, &job->raw, &job->raw_cap,
                                       &job->raw_len, err);
        if (rc <= 0) {
            dxt_inflate_job_put(t->pool, job);
            if (rc < 0 || dxt_reader_read(r, op, lo, hi - lo, NULL, NULL, is_tokens ? NULL : to,
                                          is_tokens ? to : NULL, NULL, err) != hi - lo)
                return -1;
            continue;
        }
        job->shuffle = lay.shuffle;
        job->deflate = lay.deflate;
        job->chunk_elems = (size_t)(lay.chunk_rows * n);
        job->first = (size_t)((lo - c * lay.chunk_rows) * n);
        job->n = (size_t)((hi - lo) * n);
        job->dest = to;
        job->tag = TAG(c, is_tokens);
        dxt_inflate_submit(t->pool, &b->batch, job);
        b->in_flight = 1;
    }
    return 0;
}

/* The HDF5 half of a block read. 0 or -1 with err. */
static int start_reads(dxt_trace_state *t, dxt_block *b, dxt_error *err)
{
    dxt_reader *r = b->file->reader;
    const dxt_op_info *info = dxt_reader_op(r, b->file_op);
    if (!t->pool) {
        if (dxt_inflate_pool_create(dxt_inflate_default_threads(), &t->pool, err) < 0)
            return -1;
    }
    if (dxt_reader_read(r, b->file_op, b->first, b->n, b->step, NULL, NULL, NULL,
                        info->has_clock_hz ? b->hz : NULL, err) != b->n)
        return -1;
    if (!info->has_clock_hz)
        memset(b->hz, 0, (size_t)b->n * sizeof *b->hz);
    if (read_dataset(t, b, DXT_D_WAIT, b->wait, err) < 0)
        return -1;
    if (b->tokens && info->has_tokens && read_dataset(t, b, DXT_D_TOKENS, b->tokens, err) < 0)
        return -1;
    return 0;
}

void dxt_block_start(dxt_trace_state *t, dxt_trace_file *f, int file_op, int64_t first,
                     int64_t want, dxt_block *b)
{
    double t0 = now_s();
    b->file = f;
    b->file_op = file_op;
    b->first = first;
    b->n = want < b->cap ? want : b->cap;
    b->failed = 0;
    b->err.msg[0] = '\0';
    b->in_flight = 0;
    memset(&b->batch, 0, sizeof b->batch);
    dxt_trace_make_room(t, f);
    int was_open = dxt_reader_is_open(f->reader);
    if (start_reads(t, b, &b->err) < 0) {
        b->failed = 1;
        if (b->err.msg[0] == '\0')
            dxt_set_error(&b->err, "%s: rows %lld.. unreadable", f->path, (long long)first);
    }
    dxt_trace_count_open(t, f, was_open);
    t->read_s += now_s() - t0;
}

int dxt_block_finish(dxt_trace_state *t, dxt_block *b, dxt_error *err)
{
    double t0 = now_s();
    int rc = 0;
    if (b->in_flight) {
        rc = dxt_inflate_wait(t->pool, &b->batch);
        b->in_flight = 0;
    }
    t->wait_s += now_s() - t0;
    if (b->failed) {
        *err = b->err;
        return -1;
    }
    if (rc < 0) {
        int64_t chunk = b->batch.failed_tag / 2;
        const char *name = dxt_name_str(b->batch.failed_tag % 2 ? DXT_D_TOKENS : DXT_D_WAIT);
        dxt_set_error(err, "%s: dataset 'ops/%s/%s': chunk %lld cannot be decoded: %s",
                      b->file->path, dxt_reader_op(b->file->reader, b->file_op)->name, name,
                      (long long)chunk, b->batch.why);
        return -1;
    }
    return 0;
}
