/* fuzz_chunk.c - libFuzzer target: the chunk decoder of dxt-analyze's loader
 * (dxt_chunk_decode, analyzer/input/chunk_decode.c), which inflates and
 * unshuffles trace chunks outside HDF5. Any stored bytes must decode or be
 * refused with a reason: never a crash, never a write outside the elements
 * asked for. Owner: the loader (issue 15).
 * Input: byte 0 the filters (bit 0 shuffle, bit 1 deflate), bytes 1-2 the
 * chunk's elements (little-endian, at most 8192), bytes 3-4 the first
 * element asked for, the rest the stored chunk. Corpus: tests/fuzz/corpus/chunk/
 * (zlib streams of shuffled chunks, as HDF5's filters write them). */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "chunk_decode.h"

#define GUARD 0x5a

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    size_t count = (size_t)(data[1] | data[2] << 8) % 8193;
    size_t first = count ? (size_t)(data[3] | data[4] << 8) % count : 0;
    size_t n = count - first;
    int64_t *dest = malloc((n + 1) * 8);
    dxt_chunk_decoder *dec = dxt_chunk_decoder_new();
    if (dest && dec) {
        const char *why = NULL;
        memset(dest, GUARD, (n + 1) * 8);
        if (dxt_chunk_decode(dec, data + 5, size - 5, data[0] & 1, (data[0] >> 1) & 1, count,
                             first, n, dest, &why) != 0 && !why)
            abort(); /* a refusal must say why */
        const unsigned char *tail = (const unsigned char *)(dest + n);
        for (int k = 0; k < 8; k++)
            if (tail[k] != GUARD)
                abort(); /* written past the elements asked for */
    }
    dxt_chunk_decoder_free(dec);
    free(dest);
    return 0;
}
