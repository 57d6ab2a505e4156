/* fuzz_trace.c - libFuzzer target: the trace validation layer (dxt_reader_open
 * and dxt_reader_read, format/fmt_reader.c) and dxt-analyze's trace loader and
 * window streaming (analyzer/input/load_trace.c, load_stream.c) on one rank file.
 * Owner: reliability (tests/fuzz/). Corpus: tests/fuzz/corpus/trace/ holds
 * small valid rank files (written by libdxtrec and by h5py in other layouts);
 * libFuzzer mutates their bytes: metadata (mostly checksummed, so refused by
 * HDF5) and raw data (steps, waits: not checksummed, so they reach our checks).
 *
 * Each input is a whole HDF5 file, given through a memory file. Everything the
 * reader accepts is read back in blocks; everything the loader accepts is
 * streamed in windows. Failures must carry a message, and no HDF5 object may
 * stay open afterwards (our handle leaks; HDF5's own leaks on corrupt files are
 * suppressed in tests/fuzz/lsan.supp). */
#include <stdlib.h>

#include <hdf5.h>

#include "dxt_format.h"
#include "fuzz_common.h"
#include "input.h"

#define READ_BUDGET_VALUES 65536 /* values per block read */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1); /* memory files, one process */
    return 0;
}

static void read_every_op(dxt_reader *r)
{
    const dxt_meta *meta = dxt_reader_meta(r);
    if (meta->world_size < 1 || meta->world_size > DXT_MAX_WORLD || meta->rank < 0 ||
        meta->rank >= meta->world_size)
        abort(); /* the reader promised to validate these */
    int64_t n = meta->world_size, block = READ_BUDGET_VALUES / n;
    if (block < 1)
        block = 1;
    int64_t *step = malloc((size_t)block * sizeof *step);
    int64_t *time_ns = malloc((size_t)block * sizeof *time_ns);
    int64_t *wait = malloc((size_t)(block * n) * sizeof *wait);
    int64_t *tokens = malloc((size_t)(block * n) * sizeof *tokens);
    double *clock_hz = malloc((size_t)block * sizeof *clock_hz);
    for (int op = 0; step && time_ns && wait && tokens && clock_hz && op < dxt_reader_op_count(r);
         op++) {
        const dxt_op_info *info = dxt_reader_op(r, op);
        for (int64_t first = 0; first < info->rows; first += block) {
            dxt_error err = {{0}};
            int64_t want = info->rows - first < block ? info->rows - first : block;
            if (dxt_reader_read(r, op, first, want, step, info->has_time_ns ? time_ns : NULL,
                                wait, info->has_tokens ? tokens : NULL,
                                info->has_clock_hz ? clock_hz : NULL, &err) < 0)
                break;
        }
    }
    free(step);
    free(time_ns);
    free(wait);
    free(tokens);
    free(clock_hz);
}

static void stream_every_op(dxt_input *in)
{
    size_t cells = (size_t)in->n * (size_t)in->n;
    if (cells > ((size_t)1 << 22))
        return; /* a world this large is legal but too slow to fuzz */
    double *wait = malloc(cells * sizeof *wait), *tokens = malloc(cells * sizeof *tokens);
    int64_t *rows = malloc((size_t)in->n * sizeof *rows);
    int64_t span = in->last_step - in->first_step;
    int64_t window = span > 0 && span < INT64_MAX / 2 ? span / 3 + 1 : 1;
    for (int op = 0; wait && tokens && rows && op < in->nops; op++) {
        dxt_op_stream *s = NULL;
        dxt_error err = {{0}};
        if (dxt_op_stream_open(in, op, in->first_step, in->last_step, window, &s, &err) != 0)
            continue;
        int64_t first, last;
        for (int k = 0; k < 64 && dxt_op_stream_next(s, &first, &last, wait, tokens, rows,
                                                     &err) == 1; k++)
            ;
        dxt_op_stream_close(s);
    }
    free(wait);
    free(tokens);
    free(rows);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd;
    if (fuzz_memfile(data, size, &fd, path, sizeof path) != 0)
        return 0;
    dxt_reader *r = NULL;
    dxt_error err = {{0}};
    if (dxt_reader_open(path, &r, &err) == 0) {
        read_every_op(r);
        dxt_reader_close(r);
    } else if (err.msg[0] == '\0') {
        abort();
    }
    dxt_input_opts opts;
    dxt_input_opts_init(&opts);
    dxt_input *in = NULL;
    err.msg[0] = '\0';
    if (dxt_input_open(path, &opts, &in, &err) == 0) {
        stream_every_op(in);
        dxt_input_free(in);
    } else if (err.msg[0] == '\0') {
        abort();
    }
    close(fd);
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0)
        abort(); /* a file, group, dataset, type or attribute left open */
    return 0;
}
