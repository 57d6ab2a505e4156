/* format_fixtures.h - what the format tests share (tests/test_format.c,
 * tests/test_format_crash.c, linked with tests/format_fixtures.c): a temporary
 * directory per suite, metadata and values of test rows, files made with the
 * HDF5 API directly (good or bad on purpose), realistic cumulative waits.
 * Owner: the format module. */
#ifndef DXT_TESTS_FORMAT_FIXTURES_H
#define DXT_TESTS_FORMAT_FIXTURES_H

#include <stdint.h>

#include "dxt_format.h"

/* The suite's temporary directory (fmt_setup_dir makes it, fmt_teardown_dir
 * removes it with everything in it) and a path in it (one of 4 rotating buffers). */
extern char tmpdir[64];
const char *tpath(const char *name);
int fmt_setup_dir(void **state);
int fmt_teardown_dir(void **state);

dxt_meta make_meta(int64_t rank, int64_t world_size);

/* Deterministic values of row t, column j of op. */
int64_t wait_value(int op, int64_t t, int64_t j);
int64_t tokens_value(int op, int64_t t, int64_t j);

/* A file made with the HDF5 API directly: valid (BAD_NONE) or with one fault. */
typedef enum {
    BAD_NONE, BAD_NO_WORLD_SIZE, BAD_RANK_TYPE, BAD_WAIT_SHAPE, BAD_VERSION_2,
    BAD_RANK_GE_WORLD, BAD_HUGE_WORLD, BAD_UNIT, BAD_NO_OPS, BAD_STEP_SHAPE, BAD_FORMAT,
    BAD_NODE_TYPE, BAD_WAIT_FLOAT
} bad_kind;

typedef struct hand_file {
    bad_kind bad;
    int fixed_strings;      /* fixed ASCII strings, narrow integers, integer clock_hz */
    int swmr;               /* SWMR writer that "dies" (_exit) with the file open */
    int64_t rows, world;
    const int64_t *steps;   /* NULL: 0, 1, 2, ... */
    int64_t step_rows;      /* rows of step (0: rows) */
} hand_file;

void build_file(const char *path, const hand_file *h);

/* Realistic-looking cumulative rows of one op: per-column means of the waits
 * (one slow source), +-30% noise per row, tokens; back: room for rows x world
 * values read back. realistic_rows_new fails the test when out of memory. */
typedef struct realistic_rows {
    int64_t *step, *time_ns, *wait, *tokens, *back;
} realistic_rows;

realistic_rows realistic_rows_new(int64_t rows, int64_t world);
void realistic_rows_free(realistic_rows *r);

#endif
