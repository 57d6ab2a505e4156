/* fmt_chunkread.c - the fast path of the reader's block reads: whole chunks
 * of an int64 dataset filtered by exactly shuffle + deflate (what
 * dxt_file_compress writes) are read raw (H5Dread_chunk) and decoded here.
 * Owner: the format module; written by the performance engineer (measured
 * reason below), called from read_rows (fmt_reader.c) only.
 *
 * Why: dxt-analyze on 256 ranks x 2,000 steps spent 15% of its time in zlib's
 * adler32 (HDF5's deflate filter checks the zlib check value of every chunk),
 * about 10% in HDF5's byte-by-byte unshuffle and 6% copying each chunk from
 * HDF5's buffer into the caller's. Here: inflate with the check value off
 * (zlib's inflateValidate; the stream must still end exactly where the chunk
 * ends, at its full size), unshuffle straight into the caller's buffer.
 *
 * Anything else (another filter pipeline or type, a chunk stored unfiltered
 * or not allocated, an unaligned first row, a chunk that does not inflate)
 * returns 0 and the caller reads through H5Dread, whose verdict stands: a
 * damaged chunk is still reported by HDF5 as before. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fmt_internal.h"

#define FAST_ELEM_BYTES 8

/* Rows per chunk when dset (rank 1, or 2 of width columns) is an int64
 * dataset chunked with exactly shuffle(8) + deflate; 0 otherwise. */
static int64_t fast_chunk_rows(hid_t dset, int64_t width)
{
    hid_t dcpl = H5Dget_create_plist(dset), type = H5Dget_type(dset);
    hsize_t chunk[2] = {0, 0};
    int rank = width > 0 ? 2 : 1;
    int64_t rows = 0;
    unsigned flags, shuffle_cd[1] = {0}, deflate_cd[1] = {0};
    size_t shuffle_n = 1, deflate_n = 1;
    if (dcpl < 0 || type < 0 || H5Tequal(type, H5T_STD_I64LE) <= 0 ||
        H5Pget_layout(dcpl) != H5D_CHUNKED || H5Pget_chunk(dcpl, 2, chunk) != rank ||
        H5Pget_nfilters(dcpl) != 2 ||
        H5Pget_filter2(dcpl, 0, &flags, &shuffle_n, shuffle_cd, 0, NULL, NULL) !=
            H5Z_FILTER_SHUFFLE ||
        H5Pget_filter2(dcpl, 1, &flags, &deflate_n, deflate_cd, 0, NULL, NULL) !=
            H5Z_FILTER_DEFLATE)
        goto done;
    if (shuffle_n < 1 || shuffle_cd[0] != FAST_ELEM_BYTES)
        goto done;
    if ((rank == 2 && chunk[1] != (hsize_t)width) || chunk[0] == 0 ||
        chunk[0] > (hsize_t)(INT64_MAX / 8 / (width > 0 ? width : 1)))
        goto done;
    rows = (int64_t)chunk[0];
done:
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (type >= 0)
        H5Tclose(type);
    return rows;
}

/* Inflate a zlib stream of exactly out_len bytes, check value not computed. */
static int inflate_exact(const void *in, size_t in_len, void *out, size_t out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (in_len > UINT32_MAX || out_len > UINT32_MAX || inflateInit(&zs) != Z_OK)
        return -1;
    int rc = -1;
    if (inflateValidate(&zs, 0) != Z_OK)
        goto done;
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)in_len;
    zs.next_out = out;
    zs.avail_out = (uInt)out_len;
    if (inflate(&zs, Z_FINISH) == Z_STREAM_END && zs.total_out == out_len)
        rc = 0;
done:
    inflateEnd(&zs);
    return rc;
}

/* Swap the bits of mask << shift in a with the bits of mask in b. */
#define SWAP_BLOCKS(a, b, shift, mask)                 \
    do {                                               \
        uint64_t t_ = (((a) >> (shift)) ^ (b)) & (mask); \
        (a) ^= t_ << (shift);                          \
        (b) ^= t_;                                     \
    } while (0)

/* Transpose the 8 x 8 bytes of r: byte i of r[b] becomes byte b of r[i]
 * (swap 4 x 4, then 2 x 2, then 1 x 1 blocks), in registers. */
static inline void transpose8x8(uint64_t r[FAST_ELEM_BYTES])
{
    uint64_t r0 = r[0], r1 = r[1], r2 = r[2], r3 = r[3], r4 = r[4], r5 = r[5], r6 = r[6],
             r7 = r[7];
    const uint64_t m32 = 0x00000000FFFFFFFFull, m16 = 0x0000FFFF0000FFFFull,
                   m8 = 0x00FF00FF00FF00FFull;
    SWAP_BLOCKS(r0, r4, 32, m32);
    SWAP_BLOCKS(r1, r5, 32, m32);
    SWAP_BLOCKS(r2, r6, 32, m32);
    SWAP_BLOCKS(r3, r7, 32, m32);
    SWAP_BLOCKS(r0, r2, 16, m16);
    SWAP_BLOCKS(r1, r3, 16, m16);
    SWAP_BLOCKS(r4, r6, 16, m16);
    SWAP_BLOCKS(r5, r7, 16, m16);
    SWAP_BLOCKS(r0, r1, 8, m8);
    SWAP_BLOCKS(r2, r3, 8, m8);
    SWAP_BLOCKS(r4, r5, 8, m8);
    SWAP_BLOCKS(r6, r7, 8, m8);
    r[0] = r0, r[1] = r1, r[2] = r2, r[3] = r3, r[4] = r4, r[5] = r5, r[6] = r6, r[7] = r7;
}

/* HDF5's shuffle undone for the first `count` of nelem 8-byte elements:
 * byte b of element e is at src[b * nelem + e]. Eight elements at a time
 * by an 8 x 8 byte transpose (a byte loop took a quarter of dxt-analyze). */
static void unshuffle8(const unsigned char *src, size_t nelem, size_t count, int64_t *dst)
{
    const unsigned char *p[FAST_ELEM_BYTES];
    for (int b = 0; b < FAST_ELEM_BYTES; b++)
        p[b] = src + (size_t)b * nelem;
    size_t e = 0;
    for (; e + FAST_ELEM_BYTES <= count; e += FAST_ELEM_BYTES) {
        uint64_t r[FAST_ELEM_BYTES];
        for (int b = 0; b < FAST_ELEM_BYTES; b++)
            memcpy(&r[b], p[b] + e, sizeof r[b]);
        transpose8x8(r);
        memcpy(dst + e, r, sizeof r);
    }
    for (; e < count; e++) {
        uint64_t v = 0;
        for (int b = 0; b < FAST_ELEM_BYTES; b++)
            v |= (uint64_t)p[b][e] << (8 * b);
        memcpy(dst + e, &v, sizeof v);
    }
}

/* Read chunk number k (cr rows) raw into raw (cap bytes, grown as needed),
 * inflate into plain, unshuffle its first `rows` rows into dst. 0 or -1. */
static int decode_chunk(hid_t dset, int64_t k, int64_t cr, int64_t width, int64_t rows,
                        unsigned char **raw, size_t *cap, unsigned char *plain, int64_t *dst)
{
    hsize_t offset[2] = {(hsize_t)(k * cr), 0}, stored = 0;
    uint32_t mask = 0;
    size_t cols = (size_t)(width > 0 ? width : 1), nelem = (size_t)cr * cols;
    if (H5Dget_chunk_storage_size(dset, offset, &stored) < 0 || stored == 0 ||
        stored > (hsize_t)UINT32_MAX)
        return -1;
    if (stored > *cap) {
        unsigned char *grown = realloc(*raw, (size_t)stored);
        if (!grown)
            return -1;
        *raw = grown;
        *cap = (size_t)stored;
    }
    if (H5Dread_chunk(dset, H5P_DEFAULT, offset, &mask, *raw) < 0 || mask != 0 ||
        inflate_exact(*raw, (size_t)stored, plain, nelem * FAST_ELEM_BYTES) != 0)
        return -1;
    unshuffle8(plain, nelem, (size_t)rows * cols, dst);
    return 0;
}

int dxt_read_rows_fast(hid_t dset, hid_t mem_type, int64_t first, int64_t n, int64_t width,
                       void *buf)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n <= 0 || H5Tequal(mem_type, H5T_NATIVE_INT64) <= 0)
        return 0;
    int64_t cr = fast_chunk_rows(dset, width);
    hsize_t dims[2] = {0, 0};
    hid_t space = H5Dget_space(dset);
    int in_extent = space >= 0 && H5Sget_simple_extent_dims(space, dims, NULL) >= 0 &&
                    first >= 0 && (hsize_t)first + (hsize_t)n <= dims[0];
    if (space >= 0)
        H5Sclose(space);
    if (cr <= 0 || first % cr != 0 || !in_extent)
        return 0;
    size_t cols = (size_t)(width > 0 ? width : 1);
    unsigned char *raw = NULL, *plain = malloc((size_t)cr * cols * FAST_ELEM_BYTES);
    size_t cap = 0;
    int ok = plain != NULL;
    for (int64_t done = 0; ok && done < n; done += cr) {
        int64_t rows = n - done < cr ? n - done : cr;
        ok = decode_chunk(dset, (first + done) / cr, cr, width, rows, &raw, &cap, plain,
                          (int64_t *)buf + (size_t)done * cols) == 0;
    }
    free(raw);
    free(plain);
    return ok ? 1 : 0;
#else
    (void)dset, (void)mem_type, (void)first, (void)n, (void)width, (void)buf;
    return 0;
#endif
}
