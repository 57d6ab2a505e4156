/* test_inflate_pool.c - the chunk decoder and its thread pool
 * (analyzer/input/inflate_pool.c): unshuffle of any element range, inflate of
 * zlib streams (as HDF5's deflate filter writes them), corrupt and truncated
 * streams refused with a reason (never a crash), and many batches decoded by
 * several threads at once (run under ThreadSanitizer by make test-threads).
 * Owner: the loader (issue 15). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#ifdef DXT_HAVE_LIBDEFLATE
#include <libdeflate.h>
#else
#include <zlib.h>
#endif

#include "inflate_pool.h"

/* HDF5's shuffle of count 8-byte elements: byte k of element e to k * count + e. */
static void shuffle8(const int64_t *in, size_t count, unsigned char *out)
{
    const unsigned char *b = (const unsigned char *)in;
    for (size_t e = 0; e < count; e++)
        for (size_t k = 0; k < 8; k++)
            out[k * count + e] = b[e * 8 + k];
}

static size_t zlib_compress(const void *in, size_t len, unsigned char *out, size_t cap)
{
#ifdef DXT_HAVE_LIBDEFLATE
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(1);
    size_t got = c ? libdeflate_zlib_compress(c, in, len, out, cap) : 0;
    libdeflate_free_compressor(c);
    return got;
#else
    uLongf got = (uLongf)cap;
    return compress2(out, &got, in, (uLong)len, 1) == Z_OK ? (size_t)got : 0;
#endif
}

static void fill(int64_t *v, size_t count, uint64_t seed)
{
    for (size_t e = 0; e < count; e++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        v[e] = (int64_t)(seed >> (e % 3 ? 20 : 1)) * (e % 5 ? 1 : -1);
    }
}

static void test_unshuffle_ranges(void **state)
{
    (void)state;
    dxt_chunk_decoder *dec = dxt_chunk_decoder_new();
    assert_non_null(dec);
    for (size_t count = 1; count < 80; count += 7) {
        int64_t in[80], out[80];
        unsigned char shuffled[80 * 8];
        fill(in, count, count);
        shuffle8(in, count, shuffled);
        for (size_t first = 0; first < count; first += 3)
            for (size_t n = 0; first + n <= count; n += 5) {
                const char *why = NULL;
                memset(out, 0x5a, sizeof out);
                assert_int_equal(dxt_chunk_decode(dec, shuffled, count * 8, 1, 0, count, first, n,
                                                  out, &why), 0);
                assert_memory_equal(out, in + first, n * 8);
                assert_int_equal(out[n], 0x5a5a5a5a5a5a5a5a); /* nothing written past n */
            }
    }
    const char *why = NULL;
    int64_t out[4];
    unsigned char raw[32] = {0};
    assert_int_equal(dxt_chunk_decode(dec, raw, 31, 1, 0, 4, 0, 4, out, &why), -1);
    assert_non_null(why);
    assert_int_equal(dxt_chunk_decode(dec, raw, 32, 0, 0, 4, 3, 2, out, &why), -1);
    dxt_chunk_decoder_free(dec);
}

static void test_inflate_and_corrupt(void **state)
{
    (void)state;
    enum { COUNT = 4096 };
    int64_t *in = malloc(COUNT * 8), *out = malloc(COUNT * 8);
    unsigned char *shuffled = malloc(COUNT * 8), *z = malloc(COUNT * 16);
    dxt_chunk_decoder *dec = dxt_chunk_decoder_new();
    assert_true(in && out && shuffled && z && dec);
    fill(in, COUNT, 7);
    shuffle8(in, COUNT, shuffled);
    size_t zlen = zlib_compress(shuffled, COUNT * 8, z, COUNT * 16);
    assert_true(zlen > 6);
    const char *why = NULL;
    assert_int_equal(dxt_chunk_decode(dec, z, zlen, 1, 1, COUNT, 100, 1000, out, &why), 0);
    assert_memory_equal(out, in + 100, 1000 * 8);
    /* the stream of a larger or smaller chunk than claimed */
    assert_int_equal(dxt_chunk_decode(dec, z, zlen, 1, 1, COUNT - 1, 0, 8, out, &why), -1);
    assert_int_equal(dxt_chunk_decode(dec, z, zlen, 1, 1, COUNT + 1, 0, 8, out, &why), -1);
    /* truncated anywhere, and damaged anywhere: refused with a reason */
    for (size_t cut = 0; cut < zlen; cut += zlen / 50 + 1) {
        why = NULL;
        assert_int_equal(dxt_chunk_decode(dec, z, cut, 1, 1, COUNT, 0, COUNT, out, &why), -1);
        assert_non_null(why);
    }
    for (size_t at = 0; at < zlen; at += zlen / 200 + 1) {
        unsigned char keep = z[at];
        z[at] ^= 0x5a;
        why = NULL;
        if (dxt_chunk_decode(dec, z, zlen, 1, 1, COUNT, 0, COUNT, out, &why) != 0)
            assert_non_null(why);
        else /* adler32 checked: a damaged stream never decodes to other data */
            assert_memory_equal(out, in, COUNT * 8);
        z[at] = keep;
    }
    dxt_chunk_decoder_free(dec);
    free(in);
    free(out);
    free(shuffled);
    free(z);
}

/* Many batches of many jobs through 4 threads; one job of each tenth batch is
 * damaged and must be the one reported. */
static void test_pool_batches(void **state)
{
    (void)state;
    enum { BATCHES = 40, JOBS = 24, COUNT = 257 };
    dxt_inflate_pool *pool = NULL;
    dxt_error err;
    assert_int_equal(dxt_inflate_pool_create(4, &pool, &err), 0);
    assert_int_equal(dxt_inflate_pool_threads(pool), 4);
    int64_t *in = malloc(COUNT * 8), *out = malloc((size_t)JOBS * COUNT * 8);
    unsigned char *shuffled = malloc(COUNT * 8), *z = malloc(COUNT * 16);
    assert_true(in && out && shuffled && z);
    fill(in, COUNT, 3);
    shuffle8(in, COUNT, shuffled);
    size_t zlen = zlib_compress(shuffled, COUNT * 8, z, COUNT * 16);
    for (int b = 0; b < BATCHES; b++) {
        dxt_inflate_batch batch = {0};
        memset(out, 0, (size_t)JOBS * COUNT * 8);
        for (int j = 0; j < JOBS; j++) {
            dxt_inflate_job *job = dxt_inflate_job_get(pool);
            assert_non_null(job);
            if (job->raw_cap < zlen) {
                job->raw = realloc(job->raw, zlen);
                job->raw_cap = zlen;
            }
            memcpy(job->raw, z, zlen);
            job->raw_len = b % 10 == 9 && j == 5 ? zlen / 2 : zlen;
            job->shuffle = job->deflate = 1;
            job->chunk_elems = COUNT;
            job->first = (size_t)j;
            job->n = COUNT - (size_t)j;
            job->dest = out + (size_t)j * COUNT;
            job->tag = j;
            dxt_inflate_submit(pool, &batch, job);
        }
        int rc = dxt_inflate_wait(pool, &batch);
        assert_int_equal(batch.pending, 0);
        if (b % 10 == 9) {
            assert_int_equal(rc, -1);
            assert_int_equal(batch.failed_tag, 5);
            assert_non_null(batch.why);
            continue;
        }
        assert_int_equal(rc, 0);
        for (int j = 0; j < JOBS; j++)
            assert_memory_equal(out + (size_t)j * COUNT, in + j, (COUNT - (size_t)j) * 8);
    }
    double decode_s = -1, caller_s = -1;
    dxt_inflate_pool_times(pool, &decode_s, &caller_s);
    assert_true(decode_s >= caller_s && caller_s >= 0);
    dxt_inflate_pool_free(pool);
    free(in);
    free(out);
    free(shuffled);
    free(z);
}

static void test_default_threads(void **state)
{
    (void)state;
    setenv("DXT_THREADS", "3", 1);
    assert_int_equal(dxt_inflate_default_threads(), 3);
    setenv("DXT_THREADS", "0", 1); /* out of range: the CPUs */
    assert_true(dxt_inflate_default_threads() >= 1);
    setenv("DXT_THREADS", "2x", 1);
    assert_true(dxt_inflate_default_threads() >= 1);
    unsetenv("DXT_THREADS");
    dxt_inflate_pool *pool = NULL;
    dxt_error err;
    assert_int_equal(dxt_inflate_pool_create(0, &pool, &err), -1);
    assert_null(pool);
    assert_int_equal(dxt_inflate_pool_create(1, &pool, &err), 0); /* the caller decodes */
    assert_int_equal(dxt_inflate_pool_threads(pool), 1);
    dxt_inflate_pool_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unshuffle_ranges),
        cmocka_unit_test(test_inflate_and_corrupt),
        cmocka_unit_test(test_pool_batches),
        cmocka_unit_test(test_default_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
