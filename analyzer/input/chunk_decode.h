/* chunk_decode.h - decoding a trace's stored chunks (zlib inflate, then
 * HDF5's byte unshuffle) outside HDF5 (which runs one call at a time): the
 * loader's threads (load_rows.c) read the stored bytes with pread and decode
 * them here, each with its own decoder. No HDF5 call is made in this file.
 * Internal to the analyzer. Owner: the loader/report engineer (A2; issue 15). */
#ifndef DXT_CHUNK_DECODE_H
#define DXT_CHUNK_DECODE_H

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

#endif
