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

/* The stored bytes outside HDF5, for the loader's rows (load_rows.c) and its
 * validation (load_check.c) alike. dxt_open_identified: path opened read-only
 * when it is still the file (dev, ino) HDF5 gave the chunk addresses of: a
 * descriptor, or -1 (gone, replaced since: then HDF5 reads). dxt_pread_stored:
 * size bytes at offset of fd into *buf (grown to *cap as needed): 1; 0 when
 * the file gives fewer (let HDF5 read it and say what is wrong); -1 out of
 * memory. */
int dxt_open_identified(const char *path, uint64_t dev, uint64_t ino);
int dxt_pread_stored(int fd, uint64_t offset, uint64_t size, void **buf, size_t *cap);

#endif
