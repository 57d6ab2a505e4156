/* inflate_pool.c - the chunk decoder (zlib inflate + HDF5's byte unshuffle)
 * and the pool of threads that runs it for the trace loader (inflate_pool.h).
 * A FIFO of jobs under one mutex; workers sleep on a condition; the loader's
 * thread decodes queued jobs while it waits for its batch. No HDF5 here.
 * Owner: the loader/report engineer (A2; issue 15). */
#include "inflate_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#ifdef DXT_HAVE_LIBDEFLATE
#include <libdeflate.h>
#else
#include <zlib.h>
#endif

#define POOL_MAX_THREADS 256

struct dxt_inflate_pool {
    pthread_mutex_t lock;
    pthread_cond_t work;        /* a job was queued, or stopping */
    pthread_cond_t done;        /* a job finished */
    dxt_inflate_job *head, *tail, *free_jobs;
    int stopping, nthreads, nworkers;
    pthread_t workers[POOL_MAX_THREADS];
    double decode_s, caller_s;  /* under lock */
    dxt_chunk_decoder *caller_dec; /* the waiting thread's */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Transpose an 8 x 8 byte matrix held as 8 little-endian words (row k: word
 * k, column e: byte e): three rounds of swaps of 1-, 2-, 4-byte blocks. */
static void transpose8(uint64_t r[8])
{
    static const uint64_t mask[3] = {0x00FF00FF00FF00FFull, 0x0000FFFF0000FFFFull,
                                     0x00000000FFFFFFFFull};
    for (int level = 0, shift = 8, step = 1; level < 3; level++, shift *= 2, step *= 2)
        for (int i = 0; i < 8; i++) {
            if (i & step)
                continue;
            uint64_t t = ((r[i] >> shift) ^ r[i + step]) & mask[level];
            r[i + step] ^= t;
            r[i] ^= t << shift;
        }
}

/* Elements [first, first + n) of a shuffled chunk of count 8-byte elements:
 * byte k of element e is at src[k * count + e] (HDF5's shuffle filter).
 * Eight elements at a time: a byte transpose of 8 words. */
static void unshuffle8(const unsigned char *restrict src, size_t count, size_t first, size_t n,
                       unsigned char *restrict dst)
{
    const unsigned char *p[8];
    for (int k = 0; k < 8; k++)
        p[k] = src + (size_t)k * count + first;
    size_t e = 0;
#ifdef __SSE2__
    for (; e + 16 <= n; e += 16) { /* 16 elements: interleave bytes, pairs, quads */
        __m128i lo[4], hi[4], out[8];
        for (int k = 0; k < 4; k++) { /* planes 2k, 2k + 1: elements 0..7, 8..15 */
            __m128i x = _mm_loadu_si128((const __m128i *)(p[2 * k] + e));
            __m128i y = _mm_loadu_si128((const __m128i *)(p[2 * k + 1] + e));
            lo[k] = _mm_unpacklo_epi8(x, y);
            hi[k] = _mm_unpackhi_epi8(x, y);
        }
        for (int half = 0; half < 2; half++) {
            const __m128i *v = half ? hi : lo;
            __m128i a = _mm_unpacklo_epi16(v[0], v[1]), b = _mm_unpackhi_epi16(v[0], v[1]);
            __m128i c = _mm_unpacklo_epi16(v[2], v[3]), d = _mm_unpackhi_epi16(v[2], v[3]);
            out[half * 4 + 0] = _mm_unpacklo_epi32(a, c);
            out[half * 4 + 1] = _mm_unpackhi_epi32(a, c);
            out[half * 4 + 2] = _mm_unpacklo_epi32(b, d);
            out[half * 4 + 3] = _mm_unpackhi_epi32(b, d);
        }
        for (int k = 0; k < 8; k++)
            _mm_storeu_si128((__m128i *)(dst + e * 8 + (size_t)k * 16), out[k]);
    }
#endif
    for (; e + 8 <= n; e += 8) {
        uint64_t r[8];
        for (int k = 0; k < 8; k++)
            memcpy(&r[k], p[k] + e, 8);
        transpose8(r);
        memcpy(dst + e * 8, r, 64);
    }
    for (; e < n; e++)
        for (int k = 0; k < 8; k++)
            dst[e * 8 + (size_t)k] = p[k][e];
}

struct dxt_chunk_decoder {
    unsigned char *scratch;     /* the inflated (still shuffled) chunk */
    size_t cap;
#ifdef DXT_HAVE_LIBDEFLATE
    struct libdeflate_decompressor *inflater;
#endif
};

dxt_chunk_decoder *dxt_chunk_decoder_new(void)
{
    dxt_chunk_decoder *dec = calloc(1, sizeof *dec);
#ifdef DXT_HAVE_LIBDEFLATE
    if (dec && !(dec->inflater = libdeflate_alloc_decompressor())) {
        free(dec);
        dec = NULL;
    }
#endif
    return dec;
}

void dxt_chunk_decoder_free(dxt_chunk_decoder *dec)
{
    if (!dec)
        return;
#ifdef DXT_HAVE_LIBDEFLATE
    libdeflate_free_decompressor(dec->inflater);
#endif
    free(dec->scratch);
    free(dec);
}

/* Inflate a zlib stream of exactly bytes bytes into dec->scratch. */
static int inflate_chunk(dxt_chunk_decoder *dec, const void *raw, size_t raw_len, size_t bytes,
                         const char **why)
{
    if (dec->cap < bytes) {
        unsigned char *grown = realloc(dec->scratch, bytes);
        if (!grown) {
            *why = "out of memory for an inflated chunk";
            return -1;
        }
        dec->scratch = grown;
        dec->cap = bytes;
    }
#ifdef DXT_HAVE_LIBDEFLATE
    size_t out_len = 0;
    enum libdeflate_result rc = libdeflate_zlib_decompress(dec->inflater, raw, raw_len,
                                                           dec->scratch, bytes, &out_len);
    if (rc != LIBDEFLATE_SUCCESS || out_len != bytes) {
        *why = rc == LIBDEFLATE_SUCCESS ? "inflates to fewer bytes than a chunk holds"
               : rc == LIBDEFLATE_INSUFFICIENT_SPACE ? "inflates to more bytes than a chunk holds"
                                                     : "deflate stream corrupt or truncated";
        return -1;
    }
#else
    uLongf out_len = (uLongf)bytes;
    uLong in_len = (uLong)raw_len;
    int rc = uncompress2(dec->scratch, &out_len, raw, &in_len);
    if (rc != Z_OK || out_len != bytes) {
        *why = rc == Z_OK ? "inflates to fewer bytes than a chunk holds"
               : rc == Z_BUF_ERROR ? "deflate stream truncated or larger than a chunk"
               : rc == Z_MEM_ERROR ? "out of memory in zlib"
                                   : "deflate stream corrupt";
        return -1;
    }
#endif
    return 0;
}

int dxt_chunk_decode(dxt_chunk_decoder *dec, const void *raw, size_t raw_len, int shuffle,
                     int deflate, size_t chunk_elems, size_t first, size_t n, int64_t *dest,
                     const char **why)
{
    size_t bytes = chunk_elems * 8;
    const unsigned char *src = raw;
    if (chunk_elems > SIZE_MAX / 8 || first > chunk_elems || n > chunk_elems - first) {
        *why = "elements asked for are outside the chunk";
        return -1;
    }
    if (deflate) {
        if (inflate_chunk(dec, raw, raw_len, bytes, why) < 0)
            return -1;
        src = dec->scratch;
    } else if (raw_len != bytes) {
        *why = "stored size is not the size of a chunk";
        return -1;
    }
    if (shuffle)
        unshuffle8(src, chunk_elems, first, n, (unsigned char *)dest);
    else
        memcpy(dest, src + first * 8, n * 8);
    return 0;
}

/* Decode job (outside the lock), then account for it and recycle it. */
static void run_job(dxt_inflate_pool *p, dxt_inflate_job *job, dxt_chunk_decoder *dec,
                    int caller)
{
    const char *why = "out of memory for a decoder";
    double t0 = now_s();
    int rc = !dec ? -1
                  : dxt_chunk_decode(dec, job->raw, job->raw_len, job->shuffle, job->deflate,
                                     job->chunk_elems, job->first, job->n, job->dest, &why);
    double spent = now_s() - t0;
    pthread_mutex_lock(&p->lock);
    dxt_inflate_batch *b = job->batch;
    if (rc != 0 && !b->failed) {
        b->failed = 1;
        b->failed_tag = job->tag;
        b->why = why;
    }
    b->pending--;
    p->decode_s += spent;
    if (caller)
        p->caller_s += spent;
    job->next = p->free_jobs;
    p->free_jobs = job;
    pthread_cond_broadcast(&p->done);
    pthread_mutex_unlock(&p->lock);
}

/* The first queued job (lock held), or NULL. */
static dxt_inflate_job *pop_job(dxt_inflate_pool *p)
{
    dxt_inflate_job *job = p->head;
    if (job) {
        p->head = job->next;
        if (!p->head)
            p->tail = NULL;
    }
    return job;
}

static void *worker_main(void *arg)
{
    dxt_inflate_pool *p = arg;
    dxt_chunk_decoder *dec = dxt_chunk_decoder_new(); /* NULL: its jobs fail, said so */
    pthread_mutex_lock(&p->lock);
    for (;;) {
        dxt_inflate_job *job = pop_job(p);
        if (!job) {
            if (p->stopping)
                break;
            pthread_cond_wait(&p->work, &p->lock);
            continue;
        }
        pthread_mutex_unlock(&p->lock);
        run_job(p, job, dec, 0);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    dxt_chunk_decoder_free(dec);
    return NULL;
}

int dxt_inflate_default_threads(void)
{
    const char *env = getenv("DXT_THREADS");
    if (env && *env) {
        char *end = NULL;
        long v = strtol(env, &end, 10);
        if (end && *end == '\0' && v >= 1 && v <= POOL_MAX_THREADS)
            return (int)v;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : cpus > POOL_MAX_THREADS ? POOL_MAX_THREADS : (int)cpus;
}

int dxt_inflate_pool_create(int threads, dxt_inflate_pool **out, dxt_error *err)
{
    dxt_inflate_pool *p = calloc(1, sizeof *p);
    *out = NULL;
    if (threads < 1 || threads > POOL_MAX_THREADS) {
        free(p);
        snprintf(err->msg, sizeof err->msg, "decoding threads %d not in 1..%d", threads,
                 POOL_MAX_THREADS);
        return -1;
    }
    if (!p || pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        snprintf(err->msg, sizeof err->msg, "out of memory for the decoding threads");
        return -1;
    }
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->nthreads = threads;
    for (int i = 0; i < threads - 1; i++) {
        if (pthread_create(&p->workers[i], NULL, worker_main, p) != 0)
            break; /* fewer workers: the caller's thread decodes the rest */
        p->nworkers++;
    }
    *out = p;
    return 0;
}

int dxt_inflate_pool_threads(const dxt_inflate_pool *p)
{
    return p->nworkers + 1;
}

dxt_inflate_job *dxt_inflate_job_get(dxt_inflate_pool *p)
{
    pthread_mutex_lock(&p->lock);
    dxt_inflate_job *job = p->free_jobs;
    if (job)
        p->free_jobs = job->next;
    pthread_mutex_unlock(&p->lock);
    if (!job)
        job = calloc(1, sizeof *job);
    if (job)
        job->next = NULL;
    return job;
}

void dxt_inflate_job_put(dxt_inflate_pool *p, dxt_inflate_job *job)
{
    pthread_mutex_lock(&p->lock);
    job->next = p->free_jobs;
    p->free_jobs = job;
    pthread_mutex_unlock(&p->lock);
}

void dxt_inflate_submit(dxt_inflate_pool *p, dxt_inflate_batch *batch, dxt_inflate_job *job)
{
    job->batch = batch;
    job->next = NULL;
    pthread_mutex_lock(&p->lock);
    batch->pending++;
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->lock);
}

int dxt_inflate_wait(dxt_inflate_pool *p, dxt_inflate_batch *batch)
{
    pthread_mutex_lock(&p->lock);
    while (batch->pending > 0) {
        dxt_inflate_job *job = pop_job(p);
        if (!job) { /* the rest are being decoded by workers */
            pthread_cond_wait(&p->done, &p->lock);
            continue;
        }
        pthread_mutex_unlock(&p->lock);
        if (!p->caller_dec)
            p->caller_dec = dxt_chunk_decoder_new();
        run_job(p, job, p->caller_dec, 1);
        pthread_mutex_lock(&p->lock);
    }
    int failed = batch->failed;
    pthread_mutex_unlock(&p->lock);
    return failed ? -1 : 0;
}

void dxt_inflate_pool_times(dxt_inflate_pool *p, double *decode_s, double *caller_s)
{
    pthread_mutex_lock(&p->lock);
    *decode_s = p->decode_s;
    *caller_s = p->caller_s;
    pthread_mutex_unlock(&p->lock);
}

void dxt_inflate_pool_free(dxt_inflate_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nworkers; i++)
        pthread_join(p->workers[i], NULL);
    for (dxt_inflate_job *job = p->head; job;) { /* none when every batch was waited for */
        dxt_inflate_job *next = job->next;
        free(job->raw);
        free(job);
        job = next;
    }
    while (p->free_jobs) {
        dxt_inflate_job *next = p->free_jobs->next;
        free(p->free_jobs->raw);
        free(p->free_jobs);
        p->free_jobs = next;
    }
    dxt_chunk_decoder_free(p->caller_dec);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
