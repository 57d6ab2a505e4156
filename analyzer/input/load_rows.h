/* load_rows.h - a rank's rows of one op for the window streams
 * (load_stream.c), read without keeping them: a table of the next rows of the
 * current segment (step, clock_hz, and where each wait and tokens chunk is
 * stored), fetched in batches with HDF5 under the process's one HDF5 lock,
 * and the rows themselves decoded a chunk (a unit) at a time into the reading
 * thread's buffer: the stored bytes read with pread(2) on a plain descriptor
 * and inflated + unshuffled outside HDF5 (any thread at once). Chunks whose
 * address HDF5 cannot give or whose bytes are unusual are read through HDF5
 * (H5Dread_chunk, else a plain read): never wrong data.
 * Internal to the analyzer. Owner: the loader/report engineer (A2; issue 15). */
#ifndef DXT_LOAD_ROWS_H
#define DXT_LOAD_ROWS_H

#include "chunk_decode.h"
#include "load_trace.h"

/* Where one stored chunk is: direct 1: pread(offset, size); 0: through HDF5. */
typedef struct dxt_chunk_loc {
    uint64_t offset, size;
    int direct;
} dxt_chunk_loc;

/* A rank's position in its segments and the table of its next rows. */
typedef struct dxt_rank_rows {
    int nseg, seg;                /* segments (file indices) in step order, the current one */
    int *segs;
    int64_t row;                  /* next row of the current segment */
    int64_t tab_first, tab_n;     /* the table: rows [tab_first, + tab_n) of seg */
    int64_t tab_cap, tab_alloc;   /* rows a table holds at most, and allocated */
    int64_t *step;
    double *hz;                   /* per-row clock_hz, 0 when the file has none */
    int lay_seg;                  /* the segment lay describes (-1: none) */
    dxt_chunk_layout lay[2];      /* wait, tokens */
    int64_t loc_first[2], nloc[2], loc_cap[2];
    dxt_chunk_loc *loc[2];        /* chunks loc_first .. + nloc of wait, tokens */
    uint64_t dev, ino;            /* the file the locations are of */
} dxt_rank_rows;

/* A reading thread's decoded rows: rows [lo, hi) of segment seg of owner. */
typedef struct dxt_row_buf {
    dxt_chunk_decoder *dec;
    void *raw;
    size_t raw_cap;
    int64_t *wait, *tokens;
    int64_t cap;                  /* rows the buffers hold */
    const dxt_rank_rows *owner;
    int seg;
    int64_t lo, hi;
    int fd, fd_file;              /* a plain descriptor of file fd_file (-1: none), */
    uint64_t fd_dev, fd_ino;      /* checked to be the file of these chunk addresses */
    double read_s, decode_s;      /* HDF5 and pread; inflate + unshuffle */
    double sums_s;                /* deltas and window sums (load_stream.c) */
} dxt_row_buf;

/* The file of c's current segment, and the op's info in it. */
dxt_trace_file *dxt_rows_file(const dxt_trace_state *t, const dxt_rank_rows *c);
const dxt_op_info *dxt_rows_info(const dxt_trace_state *t, int op, const dxt_rank_rows *c);
/* Does b hold c's next row (c->row) decoded? */
int dxt_rows_held(const dxt_row_buf *b, const dxt_rank_rows *c);

/* The rank's next row (rows.row of the current segment) in the table, moving
 * to the next segment and fetching the table as needed: 1, 0 no more rows, -1. */
int dxt_rows_next(dxt_trace_state *t, int op, dxt_rank_rows *c, int with_tokens,
                  dxt_error *err);
/* b holds row c->row (after dxt_rows_next gave 1). 0 or -1 with err. */
int dxt_rows_load(dxt_trace_state *t, int op, const dxt_rank_rows *c, dxt_row_buf *b, int64_t n,
                  int with_tokens, dxt_error *err);
void dxt_rows_free(dxt_rank_rows *c);
void dxt_row_buf_free(dxt_row_buf *b);

#endif
