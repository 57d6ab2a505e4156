/* fmt_reader.c - opening and validating a rank's trace file, finding the readable
 * prefix of each op, block reads. Owner: the format module (format/).
 * Used by dxt-analyze's loader, dxt_file_compress and the tests; dxt_rows_io
 * (one hyperslab read or write) serves the writer too.
 *
 * Validation reads the attributes, the shapes and types of every dataset,
 * the whole step dataset (8 bytes a row) and only the tail of the others:
 * op.rows is the longest prefix that reads without an HDF5 error (a last
 * chunk that fails to inflate, addresses past the end after a kill) and has
 * strictly increasing steps (a torn flush leaves zero-filled rows). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt_internal.h"

#define STEP_BLOCK_ROWS  65536              /* step is checked in blocks of this many rows */
#define SCRATCH_MAX      (16 * 1024 * 1024) /* largest tail read when probing readability */
#define READER_MDC_BYTES (64 * 1024)        /* metadata cache per open file (see reader_fapl) */

struct dxt_reader {
    char *path;
    hid_t file;
    dxt_meta meta;
    int nops;
    dxt_op_info *info;                   /* nops of each, allocated for the ops the */
    hid_t (*dset)[DSET_COUNT];           /* file has (DXT_MAX_OPS of them were 83 KB a
                                          * reader: 340 MB for 4,096 files); a dataset
                                          * H5I_INVALID_HID when absent */
    int direct;                          /* chunk addresses checked: 0 not yet, 1 good, -1 not */
    int defer;                           /* opening: leave decodable tails to the caller */
    int64_t (*tail_rows)[2];             /* nops: the rows of wait, tokens whose last
                                          * chunk is left to the caller; 0: none */
};

int *dxt_reader_direct_state(dxt_reader *r) { return &r->direct; }

int64_t dxt_reader_tail_rows(const dxt_reader *r, int op, dxt_name name)
{
    int k = name == DXT_D_WAIT ? 0 : name == DXT_D_TOKENS ? 1 : -1;
    return r && op >= 0 && op < r->nops && k >= 0 ? r->tail_rows[op][k] : 0;
}

/* ---- root attributes --------------------------------------------------------- */

static int read_format_attrs(dxt_reader *r, dxt_error *err)
{
    char magic[DXT_STR_MAX];
    int64_t version = 0;
    const char *p = r->path;
    if (dxt_read_str_attr(p, r->file, "", DXT_A_FORMAT, 1, magic, sizeof magic, err) < 0)
        return -1;
    if (strcmp(magic, DXT_FORMAT_MAGIC) != 0)
        return dxt_fail(err, "%s: attribute 'format' is '%s', not '%s'", p, magic,
                        DXT_FORMAT_MAGIC);
    if (dxt_read_int_attr(p, r->file, "", DXT_A_FORMAT_VERSION, 1, &version, err) < 0)
        return -1;
    if (version < 1 || version > DXT_FORMAT_VERSION)
        return dxt_fail(err, "%s: attribute 'format_version': unsupported format_version %lld "
                             "(this reader knows %d)", p, (long long)version, DXT_FORMAT_VERSION);
    return 0;
}

static int read_meta(dxt_reader *r, dxt_error *err)
{
    dxt_meta *m = &r->meta;
    const char *p = r->path;
    hid_t f = r->file;
    m->local_rank = -1;
    m->closed_unix_ns = -1; /* absent: an older writer */
    if (read_format_attrs(r, err) < 0 ||
        dxt_read_str_attr(p, f, "", DXT_A_RUN_ID, 1, m->run_id, sizeof m->run_id, err) < 0 ||
        dxt_read_int_attr(p, f, "", DXT_A_WORLD_SIZE, 1, &m->world_size, err) < 0 ||
        dxt_read_int_attr(p, f, "", DXT_A_RANK, 1, &m->rank, err) < 0)
        return -1;
    if (m->world_size < 1 || m->world_size > DXT_MAX_WORLD)
        return dxt_fail(err, "%s: attribute 'world_size' %lld out of range 1..%d", p,
                        (long long)m->world_size, DXT_MAX_WORLD);
    if (m->rank < 0 || m->rank >= m->world_size)
        return dxt_fail(err, "%s: attribute 'rank' %lld not in 0..%lld (world_size %lld)", p,
                        (long long)m->rank, (long long)m->world_size - 1,
                        (long long)m->world_size);
    if (dxt_read_str_attr(p, f, "", DXT_A_NODE, 0, m->node, sizeof m->node, err) < 0 ||
        dxt_read_int_attr(p, f, "", DXT_A_LOCAL_RANK, 0, &m->local_rank, err) < 0 ||
        dxt_read_float_attr(p, f, "", DXT_A_CLOCK_HZ, 0, &m->clock_hz, err) < 0 ||
        dxt_read_int_attr(p, f, "", DXT_A_CREATED_UNIX_NS, 0, &m->created_unix_ns, err) < 0 ||
        dxt_read_str_attr(p, f, "", DXT_A_GPU_NAME, 0, m->gpu_name, sizeof m->gpu_name, err) < 0 ||
        dxt_read_str_attr(p, f, "", DXT_A_GPU_UUID, 0, m->gpu_uuid, sizeof m->gpu_uuid, err) < 0 ||
        dxt_read_str_attr(p, f, "", DXT_A_WRITER, 0, m->writer, sizeof m->writer, err) < 0)
        return -1;
    int closed = dxt_read_int_attr(p, f, "", DXT_A_CLOSED_UNIX_NS, 0, &m->closed_unix_ns, err);
    if (closed < 0)
        return -1;
    if (closed > 0 && m->closed_unix_ns < 0)
        return dxt_fail(err, "%s: attribute 'closed_unix_ns' is negative (%lld)", p,
                        (long long)m->closed_unix_ns);
    if (m->clock_hz < 0 || m->clock_hz != m->clock_hz)
        return dxt_fail(err, "%s: attribute 'clock_hz' is not a positive number", p);
    return 0;
}

/* ---- datasets -------------------------------------------------------------- */

/* Open dataset name of op group g; check rank (width 0: 1-D, else 2-D of
 * width columns) and class. Sets *rows to its length. 1 ok, 0 absent, -1 error. */
static int open_dset(dxt_reader *r, int op, hid_t g, int d, int required, int64_t width,
                     int64_t *rows, dxt_error *err)
{
    const char *name = dxt_name_str(dxt_dset_names[d]), *opname = r->info[op].name;
    hid_t dset = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
    hsize_t dims[2] = {0, 0};
    int rc = -1, want_rank = width > 0 ? 2 : 1;
    htri_t exists = H5Lexists(g, name, H5P_DEFAULT);
    if (exists <= 0) {
        if (required || exists < 0)
            return dxt_fail(err, "%s: dataset 'ops/%s/%s' missing", r->path, opname, name);
        return 0;
    }
    if ((dset = H5Dopen2(g, name, H5P_DEFAULT)) < 0 || (space = H5Dget_space(dset)) < 0 ||
        (type = H5Dget_type(dset)) < 0) {
        dxt_fail(err, "%s: dataset 'ops/%s/%s' unreadable", r->path, opname, name);
        goto fail;
    }
    int ndims = H5Sget_simple_extent_ndims(space);
    if (ndims != want_rank || H5Sget_simple_extent_dims(space, dims, NULL) < 0 ||
        (width > 0 && dims[1] != (hsize_t)width) || dims[0] > (hsize_t)INT64_MAX) {
        char want[48];
        if (width > 0)
            snprintf(want, sizeof want, "T x %lld", (long long)width);
        else
            snprintf(want, sizeof want, "1-D, T");
        dxt_fail(err, "%s: dataset 'ops/%s/%s' has the wrong shape (want %s)", r->path, opname,
                 name, want);
        goto fail;
    }
    H5T_class_t cls = H5Tget_class(type);
    if (cls != H5T_INTEGER && !(d == DSET_CLOCK_HZ && cls == H5T_FLOAT)) {
        dxt_fail(err, "%s: dataset 'ops/%s/%s' has the wrong type (want %s)", r->path, opname,
                 name, d == DSET_CLOCK_HZ ? "float" : "integer");
        goto fail;
    }
    *rows = (int64_t)dims[0];
    r->dset[op][d] = dset;
    dset = H5I_INVALID_HID;
    rc = 1;
fail:
    if (dset >= 0)
        H5Dclose(dset);
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    return rc;
}

static int read_enum_attrs(dxt_reader *r, int op, dxt_error *err)
{
    dxt_op_info *o = &r->info[op];
    char where[DXT_OP_NAME_MAX + 32], value[DXT_STR_MAX];
    snprintf(where, sizeof where, "ops/%s/%s", o->name, dxt_name_str(DXT_D_WAIT));
    if (dxt_read_str_attr(r->path, r->dset[op][DSET_WAIT], where, DXT_A_UNIT, 1, value,
                          sizeof value, err) < 0)
        return -1;
    if (dxt_unit_parse(value, &o->unit) < 0)
        return dxt_fail(err, "%s: attribute '%s/unit' has unknown value '%s'", r->path, where,
                        value);
    if (dxt_read_str_attr(r->path, r->dset[op][DSET_WAIT], where, DXT_A_COUNTING, 1, value,
                          sizeof value, err) < 0)
        return -1;
    if (dxt_counting_parse(value, &o->counting) < 0)
        return dxt_fail(err, "%s: attribute '%s/counting' has unknown value '%s'", r->path, where,
                        value);
    if (!o->has_tokens)
        return 0;
    snprintf(where, sizeof where, "ops/%s/%s", o->name, dxt_name_str(DXT_D_TOKENS));
    if (dxt_read_str_attr(r->path, r->dset[op][DSET_TOKENS], where, DXT_A_COUNTING, 1, value,
                          sizeof value, err) < 0)
        return -1;
    if (dxt_counting_parse(value, &o->tokens_counting) < 0)
        return dxt_fail(err, "%s: attribute '%s/counting' has unknown value '%s'", r->path, where,
                        value);
    return 0;
}

static int read_dropped_attrs(dxt_reader *r, int op, hid_t g, dxt_error *err)
{
    dxt_op_info *o = &r->info[op];
    char where[DXT_OP_NAME_MAX + 8];
    snprintf(where, sizeof where, "ops/%s", o->name);
    o->rows_dropped = 0;
    o->dropped_first_step = o->dropped_last_step = -1;
    if (dxt_read_int_attr(r->path, g, where, DXT_A_ROWS_DROPPED, 0, &o->rows_dropped, err) < 0 ||
        dxt_read_int_attr(r->path, g, where, DXT_A_DROPPED_FIRST_STEP, 0, &o->dropped_first_step,
                          err) < 0 ||
        dxt_read_int_attr(r->path, g, where, DXT_A_DROPPED_LAST_STEP, 0, &o->dropped_last_step,
                          err) < 0)
        return -1;
    o->bad_dropped = o->rows_dropped < 0;
    if (o->bad_dropped)
        o->rows_dropped = 0;
    return 0;
}

/* ---- readable prefix ---------------------------------------------------------- */

int dxt_rows_io(hid_t dset, hid_t mem_type, int64_t first, int64_t n, int64_t width, void *buf,
                int write)
{
    int rank = width > 0 ? 2 : 1;
    hsize_t start[2] = {(hsize_t)first, 0}, count[2] = {(hsize_t)n, (hsize_t)width};
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    int rc = -1;
    if (n == 0)
        return 0;
    if ((fspace = H5Dget_space(dset)) < 0 ||
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        (mspace = H5Screate_simple(rank, count, NULL)) < 0 ||
        (write ? H5Dwrite(dset, mem_type, mspace, fspace, H5P_DEFAULT, buf)
               : H5Dread(dset, mem_type, mspace, fspace, H5P_DEFAULT, buf)) < 0)
        goto fail;
    rc = 0;
fail:
    if (fspace >= 0)
        H5Sclose(fspace);
    if (mspace >= 0)
        H5Sclose(mspace);
    return rc;
}

/* Read rows [first, first + n) of dset (width columns, 0: 1-D) into buf. */
static int read_rows(hid_t dset, hid_t mem_type, int64_t first, int64_t n, int64_t width,
                     void *buf)
{
    return dxt_rows_io(dset, mem_type, first, n, width, buf, 0);
}

/* Rows per chunk of dset (its length, at least 1, when not chunked). */
static int64_t chunk_rows_of(hid_t dset, int64_t rows)
{
    hsize_t chunk[2] = {0, 0};
    hid_t dcpl = H5Dget_create_plist(dset);
    int64_t out = rows > 0 ? rows : 1;
    if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 2, chunk) > 0 &&
        chunk[0] > 0 && chunk[0] < (hsize_t)INT64_MAX)
        out = (int64_t)chunk[0];
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return out;
}

/* The largest k in [lo, hi] such that rows [base, base + k) read (rows
 * [base, base + lo) are known to read, [base, base + hi) known not to). */
static int64_t bisect_rows(hid_t dset, hid_t mt, int64_t base, int64_t lo, int64_t hi,
                           int64_t width, void *scratch)
{
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (read_rows(dset, mt, base, mid, width, scratch) == 0)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Rows [0, result) of dset read without error: the tail is tried first; when
 * it fails, bisection by chunks (unit rows each), then by rows. */
static int64_t readable_prefix(hid_t dset, hid_t mt, int64_t rows, int64_t width, void *scratch,
                               int64_t scratch_rows)
{
    if (rows == 0)
        return 0;
    int64_t unit = chunk_rows_of(dset, rows);
    if (unit > scratch_rows)
        unit = scratch_rows;
    int64_t units = (rows + unit - 1) / unit, last = units - 1;
    if (read_rows(dset, mt, last * unit, rows - last * unit, width, scratch) == 0)
        return rows;
    int64_t lo = 0, hi = last; /* first bad unit is in [lo, hi]; hi is bad */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (read_rows(dset, mt, mid * unit, unit, width, scratch) == 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    int64_t len = hi == last ? rows - last * unit : unit;
    return hi * unit + bisect_rows(dset, mt, hi * unit, 0, len, width, scratch);
}

/* Is row t of an int64 dataset (1-D or 2-D: its first column) torn: unreadable,
 * or reading as the live fill value? */
static int row_torn(hid_t dset, int64_t t)
{
    int64_t cell = 0;
    hsize_t start[2] = {(hsize_t)t, 0}, count[2] = {1, 1};
    hid_t fspace = H5Dget_space(dset), mspace = H5Screate_simple(1, count, NULL);
    int ok = fspace >= 0 && mspace >= 0 &&
             H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
             H5Dread(dset, H5T_NATIVE_INT64, mspace, fspace, H5P_DEFAULT, &cell) >= 0;
    if (fspace >= 0)
        H5Sclose(fspace);
    if (mspace >= 0)
        H5Sclose(mspace);
    return !ok || cell == DXT_LIVE_FILL_I64;
}

/* Rows [0, result) of an uncompressed (live) int64 dataset that hold data: a
 * kill inside a flush can leave the last chunks unindexed, and their rows read
 * as the fill value. Torn rows are a suffix, so a binary search on the first
 * column finds them; compressed files are written whole and never torn. */
static int64_t untorn_prefix(hid_t dset, int64_t rows)
{
    hid_t dcpl = H5Dget_create_plist(dset);
    int filters = dcpl >= 0 ? H5Pget_nfilters(dcpl) : -1;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (rows == 0 || filters != 0 || !row_torn(dset, rows - 1))
        return rows;
    int64_t lo = 0, hi = rows - 1; /* rows [0, lo) hold data; row hi is torn */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (row_torn(dset, mid))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Rows of step that read and increase strictly, from the start. */
static int64_t step_prefix(hid_t step, int64_t rows, int64_t *block)
{
    int64_t prev = 0;
    for (int64_t first = 0; first < rows; first += STEP_BLOCK_ROWS) {
        int64_t n = rows - first < STEP_BLOCK_ROWS ? rows - first : STEP_BLOCK_ROWS;
        if (read_rows(step, H5T_NATIVE_INT64, first, n, 0, block) < 0) {
            int64_t ok = bisect_rows(step, H5T_NATIVE_INT64, first, 0, n, 0, block);
            read_rows(step, H5T_NATIVE_INT64, first, ok, 0, block);
            n = ok;
            rows = first + ok;
        }
        for (int64_t t = 0; t < n; t++) {
            if (block[t] == DXT_LIVE_FILL_I64 || ((first > 0 || t > 0) && block[t] <= prev))
                return first + t;
            prev = block[t];
        }
    }
    return rows;
}

/* Is the last chunk of rows [0, rows) of wait or tokens (d) one the caller can
 * decode itself (dxt_reader_open_deferred: shuffle + deflate, the chunk the
 * readable check reads whole)? Then it is left to the caller. */
static int tail_deferred(dxt_reader *r, int op, int d, int64_t rows, int64_t scratch_rows)
{
    dxt_chunk_layout lay;
    int k = d == DSET_WAIT ? 0 : d == DSET_TOKENS ? 1 : -1;
    if (!r->defer || k < 0 || rows == 0 ||
        dxt_reader_chunk_layout(r, op, dxt_dset_names[d], &lay, NULL) < 0 || !lay.usable ||
        !lay.deflate || lay.chunk_rows > scratch_rows)
        return 0;
    r->tail_rows[op][k] = rows;
    return 1;
}

static int find_rows(dxt_reader *r, int op, int64_t rows, dxt_error *err)
{
    int64_t n = r->meta.world_size, scratch_rows = SCRATCH_MAX / (n * 8);
    if (scratch_rows < 1)
        scratch_rows = 1;
    size_t bytes = (size_t)scratch_rows * (size_t)n * 8;
    if (bytes < STEP_BLOCK_ROWS * 8)
        bytes = STEP_BLOCK_ROWS * 8;
    void *scratch = malloc(bytes);
    if (!scratch)
        return dxt_fail(err, "%s: out of memory", r->path);
    dxt_op_info *o = &r->info[op];
    o->rows_stored = rows;
    o->cut_reason[0] = '\0';
    int64_t ok = step_prefix(r->dset[op][DSET_STEP], rows, scratch);
    if (ok < rows)
        snprintf(o->cut_reason, sizeof o->cut_reason,
                 "dataset 'step' unreadable or not increasing at row %lld", (long long)ok);
    rows = ok;
    for (int d = 0; d < DSET_COUNT; d++) {
        hid_t dset = r->dset[op][d];
        if (d == DSET_STEP || dset < 0 || tail_deferred(r, op, d, rows, scratch_rows))
            continue;
        int64_t width = (d == DSET_WAIT || d == DSET_TOKENS) ? n : 0;
        int64_t sr = width > 0 ? scratch_rows : scratch_rows * n;
        hid_t mt = d == DSET_CLOCK_HZ ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64;
        const char *why = "unreadable (damaged, or a filter this HDF5 lacks)";
        if ((ok = readable_prefix(dset, mt, rows, width, scratch, sr)) == rows &&
            mt == H5T_NATIVE_INT64 && (ok = untorn_prefix(dset, rows)) < rows)
            why = "never written (a kill cut the last flush)";
        if (ok < rows)
            snprintf(o->cut_reason, sizeof o->cut_reason, "dataset '%s' %s from row %lld",
                     dxt_name_str(dxt_dset_names[d]), why, (long long)ok);
        rows = ok < rows ? ok : rows;
    }
    free(scratch);
    o->rows = rows;
    o->first_step = o->last_step = 0;
    hid_t step = r->dset[op][DSET_STEP];
    if (rows > 0 && (read_rows(step, H5T_NATIVE_INT64, 0, 1, 0, &o->first_step) < 0 ||
                     read_rows(step, H5T_NATIVE_INT64, rows - 1, 1, 0, &o->last_step) < 0))
        return dxt_fail(err, "%s: dataset 'ops/%s/step' unreadable", r->path, o->name);
    return 0;
}

/* ---- ops ------------------------------------------------------------------------- */

/* Room for nops ops (1..DXT_MAX_OPS), none of their datasets open. 0 or -1. */
static int ops_alloc(dxt_reader *r, int nops)
{
    r->info = calloc((size_t)nops, sizeof *r->info);
    r->dset = calloc((size_t)nops, sizeof *r->dset);
    r->tail_rows = calloc((size_t)nops, sizeof *r->tail_rows);
    if (!r->info || !r->dset || !r->tail_rows)
        return -1;
    for (int i = 0; i < nops; i++)
        for (int d = 0; d < DSET_COUNT; d++)
            r->dset[i][d] = H5I_INVALID_HID;
    return 0;
}

static int open_op(dxt_reader *r, int op, hid_t g, dxt_error *err)
{
    dxt_op_info *o = &r->info[op];
    int64_t n = r->meta.world_size, len[DSET_COUNT] = {0};
    int present[DSET_COUNT] = {0};
    for (int d = 0; d < DSET_COUNT; d++) {
        int64_t width = (d == DSET_WAIT || d == DSET_TOKENS) ? n : 0;
        int required = d == DSET_WAIT || d == DSET_STEP;
        present[d] = open_dset(r, op, g, d, required, width, &len[d], err);
        if (present[d] < 0)
            return -1;
    }
    o->has_time_ns = present[DSET_TIME_NS];
    o->has_tokens = present[DSET_TOKENS];
    o->has_clock_hz = present[DSET_CLOCK_HZ];
    if (read_enum_attrs(r, op, err) < 0 || read_dropped_attrs(r, op, g, err) < 0)
        return -1;
    /* Datasets grow together; different lengths are a flush cut short by a
     * kill: the rows all of them hold count. */
    int64_t rows = len[DSET_WAIT];
    for (int d = 0; d < DSET_COUNT; d++)
        if (present[d] && len[d] < rows)
            rows = len[d];
    return find_rows(r, op, rows, err);
}

static int open_ops(dxt_reader *r, dxt_error *err)
{
    const char *ops_name = dxt_name_str(DXT_G_OPS);
    H5G_info_t ginfo;
    hid_t ops = H5I_INVALID_HID, g = H5I_INVALID_HID;
    int rc = -1;
    htri_t exists = H5Lexists(r->file, ops_name, H5P_DEFAULT);
    if (exists <= 0 || (ops = H5Gopen2(r->file, ops_name, H5P_DEFAULT)) < 0)
        return dxt_fail(err, "%s: group '%s' missing or not a group", r->path, ops_name);
    if (H5Gget_info(ops, &ginfo) < 0 || ginfo.nlinks == 0 || ginfo.nlinks > DXT_MAX_OPS) {
        dxt_fail(err, "%s: group '%s' must hold 1..%d ops", r->path, ops_name, DXT_MAX_OPS);
        goto fail;
    }
    if (ops_alloc(r, (int)ginfo.nlinks) < 0) {
        dxt_fail(err, "%s: out of memory", r->path);
        goto fail;
    }
    for (int i = 0; i < (int)ginfo.nlinks; i++) {
        dxt_op_info *o = &r->info[i];
        ssize_t len = H5Lget_name_by_idx(ops, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)i, o->name,
                                         sizeof o->name, H5P_DEFAULT);
        if (len <= 0 || len >= DXT_OP_NAME_MAX) {
            dxt_fail(err, "%s: group '%s' entry %d has a bad name", r->path, ops_name, i);
            goto fail;
        }
        r->nops = i + 1;
        if ((g = H5Gopen2(ops, o->name, H5P_DEFAULT)) < 0) {
            dxt_fail(err, "%s: group 'ops/%s' is not a group", r->path, o->name);
            goto fail;
        }
        if (open_op(r, i, g, err) < 0)
            goto fail;
        H5Gclose(g);
        g = H5I_INVALID_HID;
    }
    rc = 0;
fail:
    if (g >= 0)
        H5Gclose(g);
    H5Gclose(ops);
    return rc;
}

/* ---- public ------------------------------------------------------------------- */

/* A file access list without raw-data chunk cache and with a metadata cache
 * of fixed size. */
static hid_t reader_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5AC_cache_config_t mdc;
    memset(&mdc, 0, sizeof mdc);
    mdc.version = H5AC__CURR_CACHE_CONFIG_VERSION;
    /* No raw-data chunk cache: readers read in blocks, and dxt-analyze keeps every
     * rank's file open; 1 MiB per open dataset took 1.4 GB at 256 ranks (edit: A2).
     * A metadata cache of READER_MDC_BYTES (on-disk bytes; a chunk-index node of
     * ~2 KiB on disk takes ~18 KiB in memory) that never grows: the default (2 MiB,
     * growing to 32 MiB per file) keeps every chunk-index node read, and
     * dxt-analyze's memory grew with the steps (256 ranks: +66 MB from 2,000 to
     * 10,000 steps, all cached index nodes; edit: performance). */
    if (fapl >= 0 && (H5Pset_cache(fapl, 0, 521, 0, 1.0) < 0 ||
                      H5Pget_mdc_config(fapl, &mdc) < 0)) {
        H5Pclose(fapl);
        return H5I_INVALID_HID;
    }
    mdc.set_initial_size = 1;
    mdc.initial_size = mdc.max_size = READER_MDC_BYTES;
    mdc.min_size = READER_MDC_BYTES / 4;
    mdc.incr_mode = H5C_incr__off;
    mdc.flash_incr_mode = H5C_flash_incr__off;
    mdc.decr_mode = H5C_decr__off;
    /* One try per metadata read: in SWMR-read mode (the fallback open) HDF5
     * retries a failed checksum up to 100 times with sleeps that double, so a
     * damaged 20-byte file hung the reader for minutes (found by fuzzing). */
    if (fapl >= 0 && (H5Pset_mdc_config(fapl, &mdc) < 0 ||
                      H5Pset_metadata_read_attempts(fapl, 1) < 0)) {
        H5Pclose(fapl);
        fapl = H5I_INVALID_HID;
    }
#if H5_VERSION_GE(1, 10, 7)
    /* No file lock: the writer holds an exclusive one while it records, and a
     * live file is readable between its flushes by design (FORMAT.md, "Reading
     * a file while it is written"); a lock would refuse it ("unable to lock
     * file"). With an older HDF5: HDF5_USE_FILE_LOCKING=FALSE. */
    if (fapl >= 0 && H5Pset_file_locking(fapl, 0, 1) < 0) {
        H5Pclose(fapl);
        fapl = H5I_INVALID_HID;
    }
#endif
    return fapl;
}

/* A file left flagged open by a killed SWMR writer opens only in SWMR-read mode. */
static hid_t open_file(const char *path)
{
    hid_t fapl = reader_fapl(), access = fapl >= 0 ? fapl : H5P_DEFAULT;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, access);
    if (file < 0)
        file = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, access);
    if (fapl >= 0)
        H5Pclose(fapl);
    return file;
}

static int open_reader(const char *path, int defer, dxt_reader **out, dxt_error *err)
{
    dxt_reader *r = NULL;
    dxt_h5_init();
    if (!path || !out)
        return dxt_fail(err, "dxt_reader_open: NULL argument");
    *out = NULL;
    if ((r = calloc(1, sizeof *r)))
        r->file = H5I_INVALID_HID;
    if (!r || !(r->path = strdup(path))) {
        dxt_fail(err, "%s: out of memory", path);
        goto fail;
    }
    r->defer = defer;
    r->file = open_file(path);
    if (r->file < 0) {
        dxt_fail(err, "%s: file cannot be opened as HDF5", path);
        goto fail;
    }
    if (read_meta(r, err) < 0 || open_ops(r, err) < 0)
        goto fail;
    r->defer = 0;
    *out = r;
    return 0;
fail:
    dxt_reader_close(r);
    return -1;
}

int dxt_reader_open(const char *path, dxt_reader **out, dxt_error *err)
{
    return open_reader(path, 0, out, err);
}

int dxt_reader_open_deferred(const char *path, dxt_reader **out, dxt_error *err)
{
    return open_reader(path, 1, out, err);
}


int dxt_reader_adopt(const char *path, const dxt_meta *meta, const dxt_op_info *ops, int nops,
                     dxt_reader **out, dxt_error *err)
{
    dxt_h5_init();
    *out = NULL;
    if (nops < 1 || nops > DXT_MAX_OPS)
        return dxt_fail(err, "%s: %d ops handed over (1..%d)", path, nops, DXT_MAX_OPS);
    dxt_reader *r = calloc(1, sizeof *r);
    if (r)
        r->file = H5I_INVALID_HID;
    if (!r || !(r->path = strdup(path)) || ops_alloc(r, nops) < 0) {
        dxt_reader_close(r);
        return dxt_fail(err, "%s: out of memory", path);
    }
    r->meta = *meta;
    r->nops = nops;
    for (int i = 0; i < nops; i++) {
        r->info[i] = ops[i];
        r->info[i].name[DXT_OP_NAME_MAX - 1] = '\0';
    }
    *out = r;
    return 0;
}

const dxt_meta *dxt_reader_meta(const dxt_reader *r) { return r ? &r->meta : NULL; }
const char *dxt_reader_path(const dxt_reader *r) { return r ? r->path : NULL; }
int dxt_reader_op_count(const dxt_reader *r) { return r ? r->nops : 0; }

const dxt_op_info *dxt_reader_op(const dxt_reader *r, int op)
{
    return (r && op >= 0 && op < r->nops) ? &r->info[op] : NULL;
}

int dxt_reader_find_op(const dxt_reader *r, const char *name)
{
    for (int i = 0; r && name && i < r->nops; i++)
        if (strcmp(r->info[i].name, name) == 0)
            return i;
    return -1;
}

static void close_handles(dxt_reader *r)
{
    for (int i = 0; i < r->nops; i++)
        for (int d = 0; d < DSET_COUNT; d++)
            if (r->dset[i][d] >= 0) {
                H5Dclose(r->dset[i][d]);
                r->dset[i][d] = H5I_INVALID_HID;
            }
    if (r->file >= 0)
        H5Fclose(r->file);
    r->file = H5I_INVALID_HID;
}

void dxt_reader_suspend(dxt_reader *r)
{
    if (r && r->file >= 0)
        close_handles(r);
}

int dxt_reader_is_open(const dxt_reader *r)
{
    return r && r->file >= 0;
}

/* A suspended reader's file and datasets again, as validated at open (the
 * datasets it had; a file changed since, e.g. compressed at close, still holds
 * the rows validated). */
static int reopen(dxt_reader *r, dxt_error *err)
{
    if ((r->file = open_file(r->path)) < 0)
        return dxt_fail(err, "%s: file cannot be opened again as HDF5", r->path);
    for (int i = 0; i < r->nops; i++) {
        char group[DXT_OP_NAME_MAX + 8];
        snprintf(group, sizeof group, "%s/%s", dxt_name_str(DXT_G_OPS), r->info[i].name);
        hid_t g = H5Gopen2(r->file, group, H5P_DEFAULT);
        for (int d = 0; d < DSET_COUNT && g >= 0; d++) {
            const dxt_op_info *o = &r->info[i];
            int had = d == DSET_WAIT || d == DSET_STEP || (d == DSET_TIME_NS && o->has_time_ns) ||
                      (d == DSET_TOKENS && o->has_tokens) || (d == DSET_CLOCK_HZ && o->has_clock_hz);
            if (had && (r->dset[i][d] = H5Dopen2(g, dxt_name_str(dxt_dset_names[d]),
                                                 H5P_DEFAULT)) < 0) {
                H5Gclose(g);
                g = H5I_INVALID_HID;
            }
        }
        if (g < 0) {
            close_handles(r);
            return dxt_fail(err, "%s: op '%s' cannot be opened again", r->path,
                            r->info[i].name);
        }
        H5Gclose(g);
    }
    return 0;
}

int dxt_reader_tails_checked(dxt_reader *r, int op, int ok, dxt_error *err)
{
    if (!r || op < 0 || op >= r->nops)
        return dxt_fail(err, "dxt_reader_tails_checked: bad reader or op");
    int pending = r->tail_rows[op][0] > 0 || r->tail_rows[op][1] > 0;
    r->tail_rows[op][0] = r->tail_rows[op][1] = 0;
    if (!pending || ok)
        return 0;
    if (r->file < 0 && reopen(r, err) < 0) /* check them as dxt_reader_open does */
        return -1;
    return find_rows(r, op, r->info[op].rows_stored, err);
}

hid_t dxt_reader_dset(dxt_reader *r, int op, int d, dxt_error *err)
{
    if (!r)
        return dxt_fail(err, "dxt_reader: NULL reader");
    if (r->file < 0 && reopen(r, err) < 0)
        return -1;
    if (op < 0 || op >= r->nops || d < 0 || d >= DSET_COUNT)
        return dxt_fail(err, "%s: op index %d out of range", r->path, op);
    if (r->dset[op][d] < 0)
        return dxt_fail(err, "%s: dataset 'ops/%s/%s' absent", r->path, r->info[op].name,
                        dxt_name_str(dxt_dset_names[d]));
    return r->dset[op][d];
}

int64_t dxt_reader_read(dxt_reader *r, int op, int64_t first, int64_t nrows, int64_t *step,
                        int64_t *time_ns, int64_t *wait, int64_t *tokens, double *clock_hz,
                        dxt_error *err)
{
    if (!r)
        return dxt_fail(err, "dxt_reader_read: NULL reader");
    if (r->file < 0 && reopen(r, err) < 0)
        return -1;
    if (op < 0 || op >= r->nops)
        return dxt_fail(err, "%s: op index %d out of range", r->path, op);
    const dxt_op_info *o = &r->info[op];
    if (first < 0 || nrows < 0 || first > o->rows)
        return dxt_fail(err, "%s: dataset 'ops/%s/step': rows %lld.. out of range 0..%lld",
                        r->path, o->name, (long long)first, (long long)o->rows);
    int64_t n = o->rows - first < nrows ? o->rows - first : nrows;
    void *dest[DSET_COUNT] = {wait, step, time_ns, tokens, clock_hz};
    for (int d = 0; d < DSET_COUNT; d++) {
        if (!dest[d])
            continue;
        const char *name = dxt_name_str(dxt_dset_names[d]);
        if (r->dset[op][d] < 0)
            return dxt_fail(err, "%s: dataset 'ops/%s/%s' absent", r->path, o->name, name);
        int64_t width = (d == DSET_WAIT || d == DSET_TOKENS) ? r->meta.world_size : 0;
        hid_t mt = d == DSET_CLOCK_HZ ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64;
        if (read_rows(r->dset[op][d], mt, first, n, width, dest[d]) < 0)
            return dxt_fail(err, "%s: dataset 'ops/%s/%s' rows %lld..%lld unreadable", r->path,
                            o->name, name, (long long)first, (long long)(first + n - 1));
    }
    return n;
}

void dxt_reader_close(dxt_reader *r)
{
    if (!r)
        return;
    close_handles(r);
    free(r->info);
    free(r->dset);
    free(r->tail_rows);
    free(r->path);
    free(r);
}
