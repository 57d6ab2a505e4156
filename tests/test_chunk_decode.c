/* test_chunk_decode.c - the chunk decoder (analyzer/input/chunk_decode.c)
 * and the loader's parallel for (par_for.c): unshuffle of any element range, inflate of
 * zlib streams (as HDF5's deflate filter writes them), corrupt and truncated
 * streams refused with a reason (never a crash), and many runs of a parallel
 * for on 4 threads (run under ThreadSanitizer by make test-threads).
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

#include "chunk_decode.h"
#include "par_for.h"

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

/* A parallel for (par_for.c): every item run once, on a thread in range,
 * over many runs of the same pool. */
typedef struct par_check {
    int threads;
    int *runs;               /* per item, atomically incremented */
    int bad_thread;
} par_check;

static void count_item(void *ctx, int thread, int item)
{
    par_check *c = ctx;
    __atomic_add_fetch(&c->runs[item], 1, __ATOMIC_RELAXED);
    if (thread < 0 || thread >= c->threads)
        __atomic_store_n(&c->bad_thread, 1, __ATOMIC_RELAXED);
}

static void test_par_for(void **state)
{
    (void)state;
    enum { RUNS = 200, ITEMS = 97 };
    dxt_par *par = NULL;
    dxt_error err;
    assert_int_equal(dxt_par_create(4, &par, &err), 0);
    assert_int_equal(dxt_par_threads(par), 4);
    int runs[ITEMS];
    par_check c = {4, runs, 0};
    for (int r = 0; r < RUNS; r++) {
        int count = r % 3 == 0 ? 0 : r % ITEMS + 1; /* empty runs too */
        memset(runs, 0, sizeof runs);
        dxt_par_run(par, count, count_item, &c);
        for (int k = 0; k < ITEMS; k++)
            assert_int_equal(runs[k], k < count ? 1 : 0);
    }
    assert_int_equal(c.bad_thread, 0);
    dxt_par_free(par);
}

static void test_default_threads(void **state)
{
    (void)state;
    setenv("DXT_THREADS", "3", 1);
    assert_int_equal(dxt_par_default_threads(), 3);
    setenv("DXT_THREADS", "0", 1); /* out of range: the CPUs */
    assert_true(dxt_par_default_threads() >= 1);
    setenv("DXT_THREADS", "2x", 1);
    assert_true(dxt_par_default_threads() >= 1);
    unsetenv("DXT_THREADS");
    dxt_par *par = NULL;
    dxt_error err;
    assert_int_equal(dxt_par_create(0, &par, &err), -1);
    assert_null(par);
    assert_int_equal(dxt_par_create(1, &par, &err), 0); /* the caller runs every item */
    assert_int_equal(dxt_par_threads(par), 1);
    int runs[3] = {0, 0, 0};
    par_check c = {1, runs, 0};
    dxt_par_run(par, 3, count_item, &c);
    assert_true(runs[0] == 1 && runs[1] == 1 && runs[2] == 1);
    dxt_par_free(par);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unshuffle_ranges),
        cmocka_unit_test(test_inflate_and_corrupt),
        cmocka_unit_test(test_par_for),
        cmocka_unit_test(test_default_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
