/* fuzz_meta.c - libFuzzer target: the trace validation layer (format/fmt_reader.c,
 * fmt_attrs.c) and the loader (analyzer/input/load_trace.c, load_meta.c) on HDF5
 * files whose STRUCTURE comes from the input: each root attribute absent, of
 * the right kind or of another type, class or shape; ops groups with datasets
 * of any type, rank and shape, chunked or not, with any unit/counting
 * attributes. fuzz_trace.c mutates bytes (mostly stopped by HDF5 checksums);
 * here every file is valid HDF5, so every check of ours is reached.
 * Owner: reliability (tests/fuzz/). Corpus: tests/fuzz/corpus/meta/.
 *
 * The file is written with the HDF5 C API to a private directory in /dev/shm
 * (or /tmp), then opened with dxt_reader_open (every row read back) and loaded
 * with dxt_input_open (every op streamed). No HDF5 object may stay open. */
#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dxt_format.h"
#include "fuzz_common.h"
#include "input.h"

typedef struct fuzz_bytes {
    const uint8_t *p, *end;
} fuzz_bytes;

static uint8_t take_u8(fuzz_bytes *b)
{
    return b->p < b->end ? *b->p++ : 0;
}

static int64_t take_i64(fuzz_bytes *b)
{
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v |= (uint64_t)take_u8(b) << (8 * k);
    return (int64_t)v;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    fuzz_scratch_create("meta");
    return 0;
}

/* A string type: variable length, or fixed of len bytes. */
static hid_t string_type(int vlen, size_t len)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && H5Tset_size(t, vlen ? H5T_VARIABLE : (len ? len : 1)) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* One attribute of a kind picked by the input; "good" is the right value. */
static void put_attr(hid_t loc, const char *name, fuzz_bytes *b, const char *good_str,
                     int64_t good_int, int is_string)
{
    uint8_t kind = take_u8(b) % 9;
    hsize_t two = 2;
    hid_t space = kind == 6 ? H5Screate_simple(1, &two, NULL) : H5Screate(H5S_SCALAR);
    hid_t type = H5I_INVALID_HID;
    int64_t ints[2] = {take_i64(b), good_int};
    double real = (double)ints[0] / 7.0;
    char text[64] = "";
    const void *value = ints;
    if (kind == 8)
        kind = is_string ? 4 : 1, ints[0] = good_int;
    if (kind == 4 || kind == 5) {
        size_t len = take_u8(b) % sizeof text;
        for (size_t k = 0; k < len && k + 1 < sizeof text; k++)
            text[k] = (char)take_u8(b);
        if (good_str && (take_u8(b) & 1))
            snprintf(text, sizeof text, "%s", good_str);
        type = string_type(kind == 4, strlen(text) + 1);
        static const char *vlen_ptr;
        vlen_ptr = text;
        value = kind == 4 ? (const void *)&vlen_ptr : (const void *)text;
    } else if (kind == 0) {
        H5Sclose(space);
        return; /* absent */
    } else {
        hid_t native[] = {H5T_NATIVE_INT64, H5T_NATIVE_INT64, H5T_NATIVE_INT32, H5T_NATIVE_DOUBLE,
                          0, 0, H5T_NATIVE_INT64, H5T_NATIVE_UINT64};
        type = H5Tcopy(native[kind]);
        if (kind == 3)
            value = &real;
    }
    hid_t attr = space >= 0 && type >= 0
                     ? H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT)
                     : H5I_INVALID_HID;
    if (attr >= 0) {
        H5Awrite(attr, type, value);
        H5Aclose(attr);
    }
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
}

/* A dataset of a type, rank and shape picked by the input, filled from it. */
static void put_dataset(hid_t g, const char *name, fuzz_bytes *b, int want_rank, int world)
{
    uint8_t shape = take_u8(b);
    if (shape == 0)
        return; /* absent */
    uint8_t kind = take_u8(b) % 5;
    int rank = (shape & 3) == 0 ? 3 : (shape & 3) == 3 ? want_rank : (shape & 3);
    hsize_t dims[3] = {take_u8(b) % 12, (shape & 4) ? (hsize_t)world : (hsize_t)(take_u8(b) % 6 + 1), 2};
    hsize_t maxdims[3] = {H5S_UNLIMITED, dims[1], dims[2]};
    hsize_t chunk[3] = {4, dims[1], dims[2]};
    hid_t types[] = {H5T_NATIVE_INT64, H5T_NATIVE_INT32, H5T_NATIVE_UINT64, H5T_NATIVE_DOUBLE,
                     H5T_NATIVE_INT8};
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int chunked = (shape & 8) != 0;
    if (chunked) {
        H5Pset_chunk(dcpl, rank, chunk);
        if (shape & 64)
            H5Pset_shuffle(dcpl); /* with deflate: the reader's own inflate path */
        if (shape & 16)
            H5Pset_deflate(dcpl, 1);
    }
    hid_t space = H5Screate_simple(rank, dims, chunked ? maxdims : NULL);
    hid_t d = H5Dcreate2(g, name, types[kind], space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    size_t count = (size_t)dims[0] * (rank > 1 ? dims[1] : 1) * (rank > 2 ? dims[2] : 1);
    int64_t *data = calloc(count + 1, sizeof *data);
    if (d >= 0 && data) {
        int64_t step = take_i64(b) % 1000;
        for (size_t k = 0; k < count; k++)
            data[k] = (shape & 32) ? (step += take_u8(b) % 3) : take_i64(b);
        H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
        if (take_u8(b) & 1) {
            put_attr(d, "unit", b, take_u8(b) & 1 ? "ns" : "cycles", 0, 1);
            put_attr(d, "counting", b, take_u8(b) & 1 ? "delta" : "cumulative", 0, 1);
        }
    }
    free(data);
    if (d >= 0)
        H5Dclose(d);
    if (space >= 0)
        H5Sclose(space);
    H5Pclose(dcpl);
}

static int write_file(fuzz_bytes *b)
{
    hid_t f = H5Fcreate(fuzz_scratch_paths()->file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        return -1;
    int world = 1 + take_u8(b) % 4;
    put_attr(f, "format", b, "dxtrace", 0, 1);
    put_attr(f, "format_version", b, NULL, 1, 0);
    put_attr(f, "run_id", b, "run", 0, 1);
    put_attr(f, "rank", b, NULL, 0, 0);
    put_attr(f, "world_size", b, NULL, world, 0);
    put_attr(f, "node", b, "node-0", 0, 1);
    put_attr(f, "local_rank", b, NULL, 0, 0);
    put_attr(f, "clock_hz", b, NULL, 1000000, 0);
    uint8_t nops = take_u8(b) % 4;
    hid_t ops = nops ? H5Gcreate2(f, "ops", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    static const char *const names[] = {"dispatch", "combine", "x", ""};
    for (int k = 0; ops >= 0 && k < nops; k++) {
        hid_t g = H5Gcreate2(ops, names[take_u8(b) % 3], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0)
            continue;
        put_dataset(g, "wait", b, 2, world);
        put_dataset(g, "step", b, 1, world);
        put_dataset(g, "time_ns", b, 1, world);
        put_dataset(g, "tokens", b, 2, world);
        put_attr(g, "rows_dropped", b, NULL, 3, 0);
        put_attr(g, "dropped_first_step", b, NULL, 0, 0);
        put_attr(g, "dropped_last_step", b, NULL, 2, 0);
        H5Gclose(g);
    }
    if (ops >= 0)
        H5Gclose(ops);
    return H5Fclose(f) < 0 ? -1 : 0;
}

static void read_back(void)
{
    dxt_reader *r = NULL;
    dxt_error err = {{0}};
    if (dxt_reader_open(fuzz_scratch_paths()->file, &r, &err) != 0) {
        if (err.msg[0] == '\0')
            abort();
        if (getenv("DXT_FUZZ_VERBOSE"))
            fprintf(stderr, "fuzz_meta: %s\n", err.msg);
        return;
    }
    int64_t n = dxt_reader_meta(r)->world_size;
    for (int op = 0; op < dxt_reader_op_count(r); op++) {
        const dxt_op_info *info = dxt_reader_op(r, op);
        int64_t rows = info->rows;
        int64_t *buf = malloc((size_t)(rows * (n + 2) + 1) * sizeof *buf);
        double *hz = malloc((size_t)(rows + 1) * sizeof *hz);
        if (buf && hz)
            dxt_reader_read(r, op, 0, rows, buf, info->has_time_ns ? buf + rows : NULL,
                            buf + 2 * rows, NULL, info->has_clock_hz ? hz : NULL, &err);
        free(buf);
        free(hz);
    }
    dxt_reader_close(r);
}

static void load_and_stream(void)
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
    for (int op = 0; wait && tokens && rows && op < in->nops; op++) {
        dxt_op_stream *s = NULL;
        if (dxt_op_stream_open(in, op, in->first_step, in->last_step, 3, &s, &err) != 0)
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
    dxt_input_free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_bytes b = {data, data + size};
    if (size > 8192 || write_file(&b) != 0)
        return 0;
    read_back();
    load_and_stream();
    unlink(fuzz_scratch_paths()->file);
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0)
        abort(); /* a file, group, dataset, type or attribute left open */
    return 0;
}
