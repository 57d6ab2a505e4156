/* inflate_pool.h - decoding a trace's stored chunks (zlib inflate, then
 * HDF5's byte unshuffle) in a small pool of worker threads, outside HDF5
 * (which runs one call at a time). The loader reads the stored bytes with
 * dxt_reader_read_chunk on its own thread and submits them here; no HDF5 call
 * is made in this file. Internal to the analyzer.
 * Threads: one thread (the loader's) submits and waits; while it waits it
 * decodes queued chunks itself, so a pool of T threads runs T - 1 workers.
 * Owner: the loader/report engineer (A2; issue 15). */
#ifndef DXT_INFLATE_POOL_H
#define DXT_INFLATE_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "dxt_format.h"

/* What one thread needs to decode chunks: the inflated bytes, the inflater
 * (libdeflate when the build found it, else zlib: the same zlib streams,
 * adler32 checked either way). NULL: out of memory. */
typedef struct dxt_chunk_decoder dxt_chunk_decoder;
dxt_chunk_decoder *dxt_chunk_decoder_new(void);
void dxt_chunk_decoder_free(dxt_chunk_decoder *dec);

/* Decode one stored chunk of chunk_elems little-endian int64 (shuffle and
 * deflate as dxt_chunk_layout says) and write elements [first, first + n) to
 * dest. 0, or -1 with *why (a static string: corrupt, wrong size, out of
 * memory). No HDF5, no shared state: any thread, one decoder per thread. */
int dxt_chunk_decode(dxt_chunk_decoder *dec, const void *raw, size_t raw_len, int shuffle,
                     int deflate, size_t chunk_elems, size_t first, size_t n, int64_t *dest,
                     const char **why);

/* The chunks of one block read: done when pending is 0. */
typedef struct dxt_inflate_batch {
    int pending;           /* jobs submitted, not yet decoded (under the pool's lock) */
    int failed;            /* 1: a job failed; tag and why say which and why */
    int64_t failed_tag;    /* the caller's tag of the first job that failed */
    const char *why;
} dxt_inflate_batch;

/* One chunk to decode. Taken with dxt_inflate_job_get (raw is kept between
 * uses, grown as needed), filled, handed over with dxt_inflate_submit. */
typedef struct dxt_inflate_job {
    void *raw;
    size_t raw_cap, raw_len;
    int shuffle, deflate;
    size_t chunk_elems, first, n;
    int64_t *dest;
    int64_t tag;           /* the caller's name for it (reported when it fails) */
    dxt_inflate_batch *batch;
    struct dxt_inflate_job *next;
} dxt_inflate_job;

typedef struct dxt_inflate_pool dxt_inflate_pool;

/* threads: decoding threads including the caller's (1: no worker, chunks are
 * decoded on the caller's thread when it waits). 0 or -1 with err. */
int dxt_inflate_pool_create(int threads, dxt_inflate_pool **out, dxt_error *err);
int dxt_inflate_pool_threads(const dxt_inflate_pool *p);
/* A free job (NULL: out of memory). */
dxt_inflate_job *dxt_inflate_job_get(dxt_inflate_pool *p);
/* Give back a job that was not submitted. */
void dxt_inflate_job_put(dxt_inflate_pool *p, dxt_inflate_job *job);
/* Queue job for decoding as part of batch (job->batch is set). */
void dxt_inflate_submit(dxt_inflate_pool *p, dxt_inflate_batch *batch, dxt_inflate_job *job);
/* Wait until every job of batch is decoded, decoding queued jobs meanwhile.
 * 0, or -1 when one failed (batch->failed_tag, batch->why). */
int dxt_inflate_wait(dxt_inflate_pool *p, dxt_inflate_batch *batch);
/* Seconds spent decoding, all threads together, and by the waiting thread. */
void dxt_inflate_pool_times(dxt_inflate_pool *p, double *decode_s, double *caller_s);
/* Stops and joins the workers (jobs still queued are decoded first). */
void dxt_inflate_pool_free(dxt_inflate_pool *p);

/* Decoding threads by default: DXT_THREADS from the environment when set
 * (1 .. 256), else the online CPUs. */
int dxt_inflate_default_threads(void);

#endif
