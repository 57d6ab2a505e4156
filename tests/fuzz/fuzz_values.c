/* fuzz_values.c - libFuzzer target: the values inside a well-formed trace, as
 * dxt-analyze's loader and window streaming see them (analyzer/input/load_trace.c,
 * load_meta.c, load_stream.c): any int64 waits and tokens (negative, INT64_MIN
 * and MAX, counters that go down), any step numbers (increasing, as the format
 * requires, from anywhere in int64), either unit and counting, any clock_hz,
 * any stored drop counts. Byte mutations of whole files (fuzz_trace.c) rarely
 * get past HDF5's checksums; this target writes a valid file from the input.
 * Owner: reliability (tests/fuzz/). Corpus: tests/fuzz/corpus/values/.
 *
 * Input: 8 header bytes (world 1..6; flags: unit, counting, tokens, second op,
 * compressed as dxt_file_compress does, 8 bytes of a wait chunk damaged; clock_hz;
 * drop count; damage offset and xor), the first step (8 bytes), then rows of one step
 * increment byte (>= 1) and world int64 values. The file goes to a private
 * directory in /dev/shm (or $TMPDIR), is loaded as a trace and streamed. */
#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dxt_format.h"
#include "fuzz_common.h"
#include "input.h"

#define VALUES_MAX_ROWS 64
#define VALUES_MAX_WORLD 6

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_scratch_create("values");
    return 0;
}

static int64_t take_i64(const uint8_t **p)
{
    int64_t v;
    memcpy(&v, *p, sizeof v);
    *p += sizeof v;
    return v;
}

typedef struct values_case {
    int world, nops, tokens, compress, damage;
    unsigned damage_at;
    uint8_t damage_xor;
    dxt_unit unit;
    dxt_counting counting;
    double clock_hz;
    int64_t rows, dropped;
    int64_t step[VALUES_MAX_ROWS];
    int64_t wait[VALUES_MAX_ROWS * VALUES_MAX_WORLD];
} values_case;

/* The input as a trace: 0, or -1 when it is too short. */
static int decode(const uint8_t *data, size_t size, values_case *c)
{
    if (size < 16)
        return -1;
    const uint8_t *p = data, *end = data + size;
    c->world = 1 + p[0] % VALUES_MAX_WORLD;
    c->unit = (p[1] & 1) ? DXT_UNIT_NS : DXT_UNIT_CYCLES;
    c->counting = (p[1] & 2) ? DXT_COUNTING_DELTA : DXT_COUNTING_CUMULATIVE;
    c->tokens = (p[1] & 4) != 0;
    c->nops = (p[1] & 8) ? 2 : 1;
    c->compress = (p[1] & 16) != 0;
    c->damage = (p[1] & 32) != 0;
    c->damage_at = (unsigned)p[4] | (unsigned)p[5] << 8 | (unsigned)p[6] << 16;
    c->damage_xor = p[7] ? p[7] : 0x5a;
    c->clock_hz = p[2] == 255 ? -1.0 : p[2] * 1e7;
    c->dropped = (int64_t)(int8_t)p[3] * 1000;
    p += 8;
    int64_t step = take_i64(&p);
    size_t row_bytes = 1 + (size_t)c->world * 8;
    for (c->rows = 0; c->rows < VALUES_MAX_ROWS && (size_t)(end - p) >= row_bytes; c->rows++) {
        int64_t inc = 1 + *p++;
        if (c->rows > 0) {
            if (step > INT64_MAX - inc)
                break;
            step += inc;
        }
        c->step[c->rows] = step;
        for (int j = 0; j < c->world; j++)
            c->wait[c->rows * c->world + j] = take_i64(&p);
    }
    return 0;
}

/* Where one stored chunk of ops/dispatch/wait lies in the file (the k-th,
 * k = at % chunks): 0, or -1 when there is none. */
static int chunk_extent(unsigned at, long *offset, long *size)
{
    hid_t f = H5Fopen(fuzz_scratch_paths()->file, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f >= 0 ? H5Dopen2(f, "ops/dispatch/wait", H5P_DEFAULT) : H5I_INVALID_HID;
    hsize_t chunks = 0, coords[2], bytes = 0;
    haddr_t addr = 0;
    unsigned mask = 0;
    int rc = -1;
    if (d >= 0 && H5Dget_num_chunks(d, H5S_ALL, &chunks) >= 0 && chunks > 0 &&
        H5Dget_chunk_info(d, H5S_ALL, at % chunks, coords, &mask, &addr, &bytes) >= 0 &&
        bytes > 0 && addr != HADDR_UNDEF) {
        *offset = (long)addr;
        *size = (long)bytes;
        rc = 0;
    }
    if (d >= 0)
        H5Dclose(d);
    if (f >= 0)
        H5Fclose(f);
    return rc;
}

/* Flip up to 8 bytes inside one stored chunk of wait: damaged raw data (not
 * checksummed) reaches the decoders. Metadata and the heap of the string
 * attributes are left alone: HDF5 trusts a damaged variable-length string's
 * length and allocates it (tests/fuzz/known/README), which is not ours to fix. */
static void damage_file(unsigned at, uint8_t xor)
{
    long offset, size;
    if (chunk_extent(at, &offset, &size) != 0)
        return;
    FILE *f = fopen(fuzz_scratch_paths()->file, "r+b");
    if (!f)
        return;
    uint8_t buf[8];
    long pos = offset + (long)((at >> 8) % (unsigned long)size);
    if (fseek(f, pos, SEEK_SET) == 0) {
        size_t got = fread(buf, 1, (size_t)(offset + size - pos) < sizeof buf
                                       ? (size_t)(offset + size - pos) : sizeof buf, f);
        for (size_t k = 0; k < got; k++)
            buf[k] ^= xor;
        if (fseek(f, pos, SEEK_SET) == 0)
            fwrite(buf, 1, got, f);
    }
    fclose(f);
}

static int write_case(const values_case *c)
{
    static const char *const ops[] = {"dispatch", "combine"};
    dxt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.run_id, sizeof meta.run_id, "fuzz");
    snprintf(meta.node, sizeof meta.node, "node-0");
    meta.world_size = c->world;
    meta.local_rank = -1;
    meta.clock_hz = c->clock_hz;
    dxt_writer_opts opts = {.chunk_rows = 8, .has_tokens = c->tokens};
    dxt_writer *w = NULL;
    dxt_error err = {{0}};
    if (dxt_writer_create(fuzz_scratch_paths()->file, &meta, ops, c->nops, c->unit, c->counting, &opts, &w,
                          &err) != 0)
        return -1;
    int rc = 0;
    for (int op = 0; op < c->nops && rc == 0; op++) {
        if (c->rows > 0)
            rc = dxt_writer_append(w, op, c->rows, c->step, NULL, c->wait,
                                   c->tokens ? c->wait : NULL, NULL, &err);
        if (rc == 0 && c->dropped != 0)
            rc = dxt_writer_set_dropped(w, op, c->dropped, c->step[0], c->step[c->rows / 2],
                                        &err);
    }
    if (dxt_writer_close(w, &err) != 0)
        rc = -1;
    if (rc == 0 && c->compress && dxt_file_compress(fuzz_scratch_paths()->file, 1, &err) != 0)
        rc = -1; /* shuffle + deflate: the reader's own inflate path (fmt_chunkread.c) */
    if (rc == 0 && c->damage)
        damage_file(c->damage_at, c->damage_xor);
    return rc;
}

static void stream_trace(void)
{
    dxt_input_opts opts;
    dxt_input_opts_init(&opts);
    dxt_input *in = NULL;
    dxt_error err = {{0}};
    if (dxt_input_open(fuzz_scratch_paths()->dir, &opts, &in, &err) != 0) {
        if (err.msg[0] == '\0')
            abort();
        return;
    }
    size_t cells = (size_t)in->n * (size_t)in->n;
    double *wait = malloc(cells * sizeof *wait), *tokens = malloc(cells * sizeof *tokens);
    int64_t *rows = malloc((size_t)in->n * sizeof *rows);
    uint64_t span = (uint64_t)in->last_step - (uint64_t)in->first_step;
    int64_t windows[2] = {1, span / 4 + 1 > (uint64_t)INT64_MAX ? INT64_MAX
                                                                : (int64_t)(span / 4 + 1)};
    for (int op = 0; wait && tokens && rows && op < in->nops; op++) {
        for (int k = 0; k < 2; k++) {
            dxt_op_stream *s = NULL;
            if (dxt_op_stream_open(in, op, in->first_step, in->last_step, windows[k], &s,
                                   &err) != 0)
                continue;
            int64_t first, last;
            for (int n = 0; n < 80 && dxt_op_stream_next(s, &first, &last, wait, tokens, rows,
                                                         &err) == 1; n++)
                ;
            dxt_op_stream_close(s);
        }
    }
    free(wait);
    free(tokens);
    free(rows);
    dxt_input_free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    values_case c;
    memset(&c, 0, sizeof c);
    if (decode(data, size, &c) != 0)
        return 0;
    if (write_case(&c) == 0)
        stream_trace();
    unlink(fuzz_scratch_paths()->file);
    return 0;
}
