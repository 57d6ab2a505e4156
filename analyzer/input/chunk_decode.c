/* chunk_decode.c - the chunk decoder (zlib inflate + HDF5's byte unshuffle)
 * of the trace loader (chunk_decode.h): one decoder per reading thread
 * (load_rows.c). No HDF5, no shared state here.
 * Owner: the loader/report engineer (A2; issue 15). */
#include "chunk_decode.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#ifdef DXT_HAVE_LIBDEFLATE
#include <libdeflate.h>
#else
#include <zlib.h>
#endif

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

int dxt_open_identified(const char *path, uint64_t dev, uint64_t ino)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && (fstat(fd, &st) != 0 || (uint64_t)st.st_dev != dev ||
                    (uint64_t)st.st_ino != ino)) {
        close(fd); /* replaced since the chunk addresses were fetched */
        fd = -1;
    }
    return fd;
}

int dxt_pread_stored(int fd, uint64_t offset, uint64_t size, void **buf, size_t *cap)
{
    if (size > *cap) {
        void *grown = realloc(*buf, (size_t)size);
        if (!grown)
            return -1;
        *buf = grown;
        *cap = (size_t)size;
    }
    return pread(fd, *buf, (size_t)size, (off_t)offset) == (ssize_t)size;
}
