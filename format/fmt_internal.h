/* fmt_internal.h - private helpers shared by the files of the format module
 * (fmt_names.c, fmt_writer.c, fmt_reader.c, fmt_attrs.c, fmt_compress.c).
 * Owner: the format module.
 * Not installed, not used outside format/. */
#ifndef DXT_FMT_INTERNAL_H
#define DXT_FMT_INTERNAL_H

#include <hdf5.h>

#include "dxt_format.h"

/* Half the entries of the one chunk-index node of a live file (fmt_writer.c):
 * 2K - 1 chunks per dataset fit before the node would split. */
#define DXT_LIVE_BTREE_K 1024

/* Fill values of live datasets: what a row reads as when a kill cut the
 * flush that would have indexed its chunk. No real value is INT64_MIN; the
 * reader cuts the readable rows at the first one (fmt_reader.c). */
#define DXT_LIVE_FILL_I64 INT64_MIN

#define DXT_STR_ATTR_MAX_BYTES (1 << 20) /* a fixed string attribute larger than this is refused */

/* The datasets of one op group, in the order the writer and reader keep them. */
enum { DSET_WAIT, DSET_STEP, DSET_TIME_NS, DSET_TOKENS, DSET_CLOCK_HZ, DSET_COUNT };
extern const dxt_name dxt_dset_names[DSET_COUNT];

/* Switch HDF5's automatic error printing off, once per process (thread-safe). */
void dxt_h5_init(void);

/* Fill err (may be NULL) with a printf-style line; always returns -1. */
int dxt_fail(dxt_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Rows per chunk of a T x N int64 dataset: about 256 KiB per chunk, at least one row. */
int64_t dxt_default_chunk_rows(int64_t world_size);

/* What one op group holds; the writer creates from it, compress copies it. */
typedef struct dxt_op_spec {
    const char *name;
    dxt_unit unit;
    dxt_counting counting;
    dxt_counting tokens_counting;
    int has_time_ns, has_tokens, has_clock_hz;
} dxt_op_spec;

typedef struct dxt_writer_layout {
    int64_t chunk_rows;  /* 0: dxt_default_chunk_rows */
    int deflate_level;   /* 0: uncompressed; 1..9: shuffle + deflate */
    int fsync;
} dxt_writer_layout;

/* Read (write 0) or write (write 1) rows [first, first + n) of dset, width
 * columns (0: a 1-D dataset), from or to buf: one hyperslab. 0 or -1. */
int dxt_rows_io(hid_t dset, hid_t mem_type, int64_t first, int64_t n, int64_t width, void *buf,
                int write);

/* The open dataset d (DSET_*) of op, reopening a suspended reader; -1 with err. */
hid_t dxt_reader_dset(dxt_reader *r, int op, int d, dxt_error *err);

/* Whether the reader's chunk file addresses were checked against HDF5's
 * own reads (fmt_chunks.c): 0 not yet, 1 they give the same bytes, -1 not. */
int *dxt_reader_direct_state(dxt_reader *r);
/* The rows of dataset name (wait, tokens) of op whose last chunk
 * dxt_reader_open_deferred left to the caller; 0: none (fmt_reader.c). */
int64_t dxt_reader_tail_rows(const dxt_reader *r, int op, dxt_name name);

/* The general writer constructor: per-op specs, optional compression; path is
 * created exclusively (errno EEXIST when it exists). */
int dxt_writer_create_specs(const char *path, const dxt_meta *meta, const dxt_op_spec *ops,
                            int nops, const dxt_writer_layout *layout, dxt_writer **out,
                            dxt_error *err);

/* The same on a file already created (h5_name: its /proc/self/fd/N name);
 * path names it in errors. */
int dxt_writer_create_on(const char *path, const char *h5_name, const dxt_meta *meta,
                         const dxt_op_spec *ops, int nops, const dxt_writer_layout *layout,
                         dxt_writer **out, dxt_error *err);

/* Single-value attributes of loc (fmt_attrs.c). Return 1 read, 0 absent and
 * optional, -1 error (err names path and where/name). where: the object's
 * path in the file, "" for the root group. Integers of any integer type;
 * floats also from integers; strings fixed or variable, truncated to cap - 1. */
int dxt_read_int_attr(const char *path, hid_t loc, const char *where, dxt_name name, int required,
                      int64_t *out, dxt_error *err);
int dxt_read_float_attr(const char *path, hid_t loc, const char *where, dxt_name name,
                        int required, double *out, dxt_error *err);
int dxt_read_str_attr(const char *path, hid_t loc, const char *where, dxt_name name, int required,
                      char *buf, size_t cap, dxt_error *err);

#endif
