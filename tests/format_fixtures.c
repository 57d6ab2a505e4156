/* format_fixtures.c - the format tests' shared fixtures (format_fixtures.h).
 * Owner: the format module. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <hdf5.h>

#include "format_fixtures.h"

char tmpdir[64];

const char *tpath(const char *name)
{
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    return p;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

int fmt_setup_dir(void **state)
{
    (void)state;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dxt_test_format.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

int fmt_teardown_dir(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

dxt_meta make_meta(int64_t rank, int64_t world_size)
{
    dxt_meta m;
    memset(&m, 0, sizeof m);
    snprintf(m.run_id, sizeof m.run_id, "run-42");
    m.rank = rank;
    m.world_size = world_size;
    snprintf(m.node, sizeof m.node, "node-%lld", (long long)(rank / 8));
    m.local_rank = rank % 8;
    m.clock_hz = 1.98e9;
    m.created_unix_ns = 1700000000123456789LL;
    snprintf(m.gpu_name, sizeof m.gpu_name, "NVIDIA H100 80GB HBM3");
    snprintf(m.gpu_uuid, sizeof m.gpu_uuid, "GPU-1234");
    snprintf(m.writer, sizeof m.writer, "test_format 1.0");
    return m;
}

int64_t wait_value(int op, int64_t t, int64_t j) { return op * 1000000 + t * 1000 + j; }
int64_t tokens_value(int op, int64_t t, int64_t j) { return op * 100 + t + j; }

/* ---- hand-made files (HDF5 API directly) ----------------------------------- */

static void h5_str(hid_t loc, const char *name, const char *value, int fixed)
{
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR);
    if (fixed) {
        assert_true(H5Tset_size(t, strlen(value)) >= 0);
        assert_true(H5Tset_strpad(t, H5T_STR_NULLPAD) >= 0);
    } else {
        assert_true(H5Tset_size(t, H5T_VARIABLE) >= 0);
        assert_true(H5Tset_cset(t, H5T_CSET_UTF8) >= 0);
    }
    hid_t a = H5Acreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Awrite(a, t, fixed ? (const void *)value : (const void *)&value) >= 0);
    H5Aclose(a), H5Sclose(s), H5Tclose(t);
}

static void h5_num(hid_t loc, const char *name, hid_t type, hid_t mem_type, const void *value)
{
    hid_t s = H5Screate(H5S_SCALAR), a = H5Acreate2(loc, name, type, s, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Awrite(a, mem_type, value) >= 0);
    H5Aclose(a), H5Sclose(s);
}

static void h5_int(hid_t loc, const char *name, hid_t type, int64_t value)
{
    h5_num(loc, name, type, H5T_NATIVE_INT64, &value);
}

static hid_t h5_dset(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims,
                     const int64_t *data)
{
    hid_t s = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(loc, name, type, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0);
    if (dims[0] > 0)
        assert_true(H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Sclose(s);
    return d;
}

static void build_ops(hid_t f, const hand_file *h)
{
    int64_t t_rows = h->rows, w = h->world, width = h->bad == BAD_WAIT_SHAPE ? w + 1 : w;
    int64_t step_rows = h->step_rows ? h->step_rows : t_rows;
    int64_t *wait = calloc((size_t)(t_rows * width) + 1, 8), *step = calloc((size_t)step_rows + 1, 8);
    assert_non_null(wait && step);
    for (int64_t t = 0; t < t_rows * width; t++)
        wait[t] = wait_value(0, t / width, t % width);
    for (int64_t t = 0; t < step_rows; t++)
        step[t] = h->steps ? h->steps[t] : t;
    hid_t ops = H5Gcreate2(f, "ops", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(ops, "dispatch", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t wt = h->bad == BAD_WAIT_FLOAT ? H5T_IEEE_F64LE
               : h->fixed_strings      ? H5T_STD_I32BE : H5T_STD_I64LE;
    hsize_t wdims[2] = {(hsize_t)t_rows, (hsize_t)width}, sdims[2] = {(hsize_t)step_rows, 1};
    hid_t dw = h5_dset(g, "wait", wt, 2, wdims, wait);
    hid_t ds = h5_dset(g, "step", H5T_STD_I64LE, h->bad == BAD_STEP_SHAPE ? 2 : 1, sdims, step);
    h5_str(dw, "unit", h->bad == BAD_UNIT ? "furlongs" : "cycles", h->fixed_strings);
    h5_str(dw, "counting", "delta", h->fixed_strings);
    H5Dclose(dw), H5Dclose(ds), H5Gclose(g), H5Gclose(ops);
    free(wait), free(step);
}

void build_file(const char *path, const hand_file *h)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (h->swmr)
        assert_true(H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) >= 0);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    assert_true(f >= 0);
    int fx = h->fixed_strings;
    hid_t int_type = fx ? H5T_STD_U16BE : H5T_STD_I64LE;
    int64_t world = h->bad == BAD_HUGE_WORLD ? (int64_t)1 << 40 : h->world;
    h5_str(f, "format", h->bad == BAD_FORMAT ? "dxtracy" : "dxtrace", fx);
    h5_int(f, "format_version", fx ? H5T_STD_I8LE : H5T_STD_I64LE, h->bad == BAD_VERSION_2 ? 2 : 1);
    h5_str(f, "run_id", "hand-run", fx);
    if (h->bad == BAD_RANK_TYPE)
        h5_str(f, "rank", "1", fx);
    else
        h5_int(f, "rank", int_type, h->bad == BAD_RANK_GE_WORLD ? world : 1);
    if (h->bad != BAD_NO_WORLD_SIZE)
        h5_int(f, "world_size", h->bad == BAD_HUGE_WORLD ? H5T_STD_I64LE : int_type, world);
    if (h->bad == BAD_NODE_TYPE)
        h5_int(f, "node", int_type, 3);
    else
        h5_str(f, "node", "host-a", fx);
    double hz = 1.5e9;
    if (fx)
        h5_int(f, "clock_hz", H5T_STD_I64LE, 1500000000);
    else
        h5_num(f, "clock_hz", H5T_IEEE_F32LE, H5T_NATIVE_DOUBLE, &hz);
    if (h->bad != BAD_NO_OPS)
        build_ops(f, h);
    if (h->swmr) {
        /* The writer dies with the file flagged open for SWMR writing. */
        assert_true(H5Fstart_swmr_write(f) >= 0);
        assert_true(H5Fflush(f, H5F_SCOPE_GLOBAL) >= 0);
        _exit(0);
    }
    H5Fclose(f), H5Pclose(fapl);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static double rng_unit(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / (double)(1ULL << 53);
}

/* Per-column means of the waits (column 5 slow), +-30% noise per row. */
static void make_realistic(int64_t rows, int64_t world, int64_t *step, int64_t *time_ns,
                           int64_t *wait, int64_t *tokens)
{
    for (int64_t t = 0; t < rows; t++) {
        step[t] = t;
        time_ns[t] = 1700000000000000000LL + t * 1500000 + (int64_t)(rng_unit() * 20000);
        for (int64_t j = 0; j < world; j++) {
            double mean = 20000.0 + 2500.0 * (double)(j % 8) + (j == 5 ? 60000.0 : 0.0);
            int64_t d = (int64_t)(mean * (0.7 + 0.6 * rng_unit()));
            int64_t k = 100 + (int64_t)(rng_unit() * 60);
            wait[t * world + j] = (t ? wait[(t - 1) * world + j] : 0) + d;
            tokens[t * world + j] = (t ? tokens[(t - 1) * world + j] : 0) + k;
        }
    }
}

realistic_rows realistic_rows_new(int64_t rows, int64_t world)
{
    size_t r = (size_t)rows, cells = r * (size_t)world;
    realistic_rows m = {malloc(r * 8), malloc(r * 8), malloc(cells * 8), malloc(cells * 8),
                        malloc(cells * 8)};
    assert_non_null(m.step && m.time_ns && m.wait && m.tokens && m.back);
    make_realistic(rows, world, m.step, m.time_ns, m.wait, m.tokens);
    return m;
}

void realistic_rows_free(realistic_rows *r)
{
    free(r->step), free(r->time_ns), free(r->wait), free(r->tokens), free(r->back);
}
