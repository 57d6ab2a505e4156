/* load_blocks.h - one block of rows of one rank file's op, read in two
 * halves: dxt_block_start makes the HDF5 calls on the loader's thread (step
 * and clock_hz, and the stored bytes of every wait and tokens chunk) and
 * queues the chunks for decoding in the trace's inflate pool; dxt_block_finish
 * waits for them. Between the two the loader sums other ranks' rows: reading
 * overlaps the analysis. A dataset whose filters the pool does not know is
 * read with plain dxt_reader_read (never wrong data). Internal to the loader.
 * Owner: the loader/report engineer (A2; issue 15). */
#ifndef DXT_LOAD_BLOCKS_H
#define DXT_LOAD_BLOCKS_H

#include "inflate_pool.h"
#include "load_trace.h"

typedef struct dxt_block {
    int64_t cap;                  /* rows the buffers hold */
    int64_t *step, *wait, *tokens; /* tokens: NULL when not read */
    double *hz;                   /* per-row clock_hz, 0 when the file has none */
    int64_t n, first;             /* rows held, the first one's index in the file */
    const dxt_trace_file *file;   /* whose rows */
    int file_op;                  /* the op's index in that file */
    int in_flight;                /* 1: started, not finished */
    dxt_inflate_batch batch;
    int failed;                   /* an error at start, returned by finish */
    dxt_error err;
    struct dxt_block *next;       /* free lists */
} dxt_block;

/* Buffers of rows x n values (tokens too when with_tokens). NULL: no memory. */
dxt_block *dxt_block_alloc(int64_t rows, int64_t n, int with_tokens);
/* Waits for its chunks if still in flight, then frees. */
void dxt_block_free(dxt_trace_state *t, dxt_block *b);

/* Start reading rows [first, first + want) (want <= cap) of f's op file_op
 * into b. Errors are kept in b and returned by dxt_block_finish. */
void dxt_block_start(dxt_trace_state *t, dxt_trace_file *f, int file_op, int64_t first,
                     int64_t want, dxt_block *b);
/* Wait until b holds its rows: 0, or -1 with err naming file, dataset, chunk. */
int dxt_block_finish(dxt_trace_state *t, dxt_block *b, dxt_error *err);

#endif
