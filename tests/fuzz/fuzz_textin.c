/* fuzz_textin.c - libFuzzer target: dxt-analyze's text inputs (analyzer/input/textin.c
 * through analyzer/input/input.h): DeepXTrace diagnose logs ("rank=i [v v ...]") and
 * plain text matrices, chosen by content as dxt-analyze does.
 * Owner: reliability (tests/fuzz/). Corpus: tests/fuzz/corpus/textin/.
 *
 * The input is opened with dxt_input_open (through a memory file) and, when
 * it loads, every op is streamed in windows of 1 and of 7 matrices, so the
 * window sums (dxt_text_window) see every shape the loader accepted. */
#include <stdlib.h>

#include "fuzz_common.h"
#include "input.h"

static void stream_all(dxt_input *in, int64_t window_steps)
{
    size_t cells = (size_t)in->n * (size_t)in->n;
    double *wait = malloc(cells * sizeof *wait);
    int64_t *rows = malloc((size_t)in->n * sizeof *rows);
    for (int op = 0; wait && rows && op < in->nops; op++) {
        dxt_op_stream *s = NULL;
        dxt_error err = {{0}};
        if (dxt_op_stream_open(in, op, in->first_step, in->last_step, window_steps, &s, &err))
            continue;
        int64_t first, last;
        while (dxt_op_stream_next(s, &first, &last, wait, NULL, rows, &err) == 1)
            (void)dxt_op_stream_progress(s);
        dxt_op_stream_close(s);
    }
    free(wait);
    free(rows);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd;
    if (fuzz_memfile(data, size, &fd, path, sizeof path) != 0)
        return 0;
    dxt_input_opts opts;
    dxt_input_opts_init(&opts);
    dxt_input *in = NULL;
    dxt_error err = {{0}};
    if (dxt_input_open(path, &opts, &in, &err) == 0) {
        if (in->n < 1 || in->nops < 0 || in->nops > DXT_MAX_OPS)
            abort(); /* a loaded input always has a world and sane ops */
        stream_all(in, 1);
        stream_all(in, 7);
        dxt_input_free(in);
    } else if (err.msg[0] == '\0') {
        abort(); /* every failure says why */
    }
    close(fd);
    return 0;
}
