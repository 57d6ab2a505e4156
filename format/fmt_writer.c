/* fmt_writer.c - creating a trace file, appending rows, flushing, closing.
 * Owner: the format module (format/). Used by the recorder's writer thread and
 * by dxt_file_compress (fmt_compress.c).
 *
 * Crash safety (FORMAT.md): files are written uncompressed while recording
 * (chunks are rewritten in place), with no reuse of freed file space, default
 * library version bounds (no superblock v3 "open for write" flag) and a
 * metadata cache that never evicts: metadata reaches the file only in
 * dxt_writer_flush, so a SIGKILL leaves the file as of the last flush plus
 * raw data past its end, which readers ignore. A flush must also never
 * restructure metadata that an earlier flush wrote: the chunk index of a live
 * file is one version-1 B-tree node of 2 * DXT_LIVE_BTREE_K entries, allocated
 * whole at creation and only filled in place, and the writer refuses appends
 * that would split it (dxt_writer_room: the recorder rotates to a new segment
 * file first); every attribute a flush updates is created with the file. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fmt_internal.h"

typedef struct writer_op {
    char name[DXT_OP_NAME_MAX];
    hid_t group;
    hid_t dset[DSET_COUNT]; /* H5I_INVALID_HID when absent */
    int64_t rows;
    int64_t last_step;
} writer_op;

struct dxt_writer {
    char *path;
    hid_t file;
    int64_t world_size;
    int nops;
    int fsync;
    int live;           /* uncompressed, being recorded: closed_unix_ns is set at close */
    int64_t max_rows;   /* rows per op before the chunk index would split (live files) */
    writer_op op[DXT_MAX_OPS];
};

/* ---- attributes ------------------------------------------------------------ */

static int write_attr(hid_t loc, dxt_name name, hid_t type, const void *value)
{
    const char *aname = dxt_name_str(name);
    hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    int rc = -1;
    htri_t exists = H5Aexists(loc, aname);
    if (exists < 0)
        goto fail;
    if (exists) {
        attr = H5Aopen(loc, aname, H5P_DEFAULT);
    } else {
        if ((space = H5Screate(H5S_SCALAR)) < 0)
            goto fail;
        attr = H5Acreate2(loc, aname, type, space, H5P_DEFAULT, H5P_DEFAULT);
    }
    if (attr < 0 || H5Awrite(attr, type, value) < 0)
        goto fail;
    rc = 0;
fail:
    if (attr >= 0)
        H5Aclose(attr);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

static int write_i64_attr(hid_t loc, dxt_name name, int64_t value)
{
    return write_attr(loc, name, H5T_STD_I64LE, &value);
}

/* Strings are fixed-length, NUL-terminated UTF-8 (h5py reads them as bytes).
 * Not variable-length: a damaged global heap makes HDF5 allocate whatever size
 * it finds there when a reader reads a variable-length string (fuzzing found
 * 20 GB from 8 damaged bytes); a fixed string's size is in the header, and
 * the reader caps it. */
static int write_str_attr(hid_t loc, dxt_name name, const char *value)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    int rc = -1;
    if (type < 0)
        return -1;
    if (H5Tset_size(type, strlen(value) + 1) >= 0 && H5Tset_strpad(type, H5T_STR_NULLTERM) >= 0 &&
        H5Tset_cset(type, H5T_CSET_UTF8) >= 0)
        rc = write_attr(loc, name, type, value);
    H5Tclose(type);
    return rc;
}

/* closed_unix_ns: 0 in a live file (created with the file, as every attribute
 * that is rewritten later: dxt_writer_close stores the time in place); a
 * compressed copy keeps the value it was given. */
static int write_root_attrs(hid_t file, const dxt_meta *meta, int live)
{
    double clock_hz = meta->clock_hz;
    int64_t closed = live ? 0 : meta->closed_unix_ns;
    if (write_str_attr(file, DXT_A_FORMAT, DXT_FORMAT_MAGIC) < 0 ||
        write_i64_attr(file, DXT_A_FORMAT_VERSION, DXT_FORMAT_VERSION) < 0 ||
        write_str_attr(file, DXT_A_RUN_ID, meta->run_id) < 0 ||
        write_i64_attr(file, DXT_A_RANK, meta->rank) < 0 ||
        write_i64_attr(file, DXT_A_WORLD_SIZE, meta->world_size) < 0)
        return -1;
    /* Optional fields: written only when known. */
    if ((meta->node[0] && write_str_attr(file, DXT_A_NODE, meta->node) < 0) ||
        (meta->local_rank >= 0 && write_i64_attr(file, DXT_A_LOCAL_RANK, meta->local_rank) < 0) ||
        (clock_hz > 0 && write_attr(file, DXT_A_CLOCK_HZ, H5T_IEEE_F64LE, &clock_hz) < 0) ||
        (meta->created_unix_ns != 0 &&
         write_i64_attr(file, DXT_A_CREATED_UNIX_NS, meta->created_unix_ns) < 0) ||
        (meta->gpu_name[0] && write_str_attr(file, DXT_A_GPU_NAME, meta->gpu_name) < 0) ||
        (meta->gpu_uuid[0] && write_str_attr(file, DXT_A_GPU_UUID, meta->gpu_uuid) < 0) ||
        (meta->writer[0] && write_str_attr(file, DXT_A_WRITER, meta->writer) < 0) ||
        (closed >= 0 && write_i64_attr(file, DXT_A_CLOSED_UNIX_NS, closed) < 0))
        return -1;
    return 0;
}

/* ---- file and datasets ------------------------------------------------------- */

/* The file access list: a metadata cache that never evicts, so metadata is
 * written only by a flush; a close that closes every object of the file. */
static hid_t make_fapl(void)
{
    H5AC_cache_config_t mdc;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return H5I_INVALID_HID;
    memset(&mdc, 0, sizeof mdc);
    mdc.version = H5AC__CURR_CACHE_CONFIG_VERSION;
    if (H5Pget_mdc_config(fapl, &mdc) < 0)
        goto fail;
    mdc.evictions_enabled = 0;
    mdc.incr_mode = H5C_incr__off;
    mdc.flash_incr_mode = H5C_flash_incr__off;
    mdc.decr_mode = H5C_decr__off;
    if (H5Pset_mdc_config(fapl, &mdc) < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0)
        goto fail;
    return fapl;
fail:
    H5Pclose(fapl);
    return H5I_INVALID_HID;
}

/* live: a file the recorder appends to (crash-safe layout); else a file
 * written once, whole (dxt_file_compress). path: /proc/self/fd/N of a file we
 * created (fmt_safefile.c), so HDF5's open by name reaches our own inode. */
static hid_t create_file(const char *path, int live)
{
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE), fapl = make_fapl(), file = H5I_INVALID_HID;
    /* Freed space is never reused: a chunk or heap the last flush points to
     * is never overwritten by something else before the next flush. */
    if (fcpl >= 0 && fapl >= 0 &&
        H5Pset_file_space_strategy(fcpl, H5F_FSPACE_STRATEGY_NONE, 0, 1) >= 0 &&
        (!live || H5Pset_istore_k(fcpl, DXT_LIVE_BTREE_K) >= 0))
        file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (fapl >= 0)
        H5Pclose(fapl);
    return file;
}

/* One chunked dataset, T rows (unlimited) x width columns (width 0: 1-D). */
static hid_t create_dset(hid_t group, dxt_name name, hid_t type, int64_t width,
                         const dxt_writer_layout *layout, int64_t chunk_rows)
{
    int rank = width > 0 ? 2 : 1;
    hsize_t dims[2] = {0, (hsize_t)width}, maxdims[2] = {H5S_UNLIMITED, (hsize_t)width};
    hsize_t chunk[2] = {(hsize_t)chunk_rows, (hsize_t)width};
    size_t chunk_bytes = (size_t)chunk_rows * (size_t)(width > 0 ? width : 1) * 8;
    hid_t space = H5Screate_simple(rank, dims, maxdims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), dapl = H5Pcreate(H5P_DATASET_ACCESS);
    hid_t dset = H5I_INVALID_HID;
    if (space < 0 || dcpl < 0 || dapl < 0 || H5Pset_chunk(dcpl, rank, chunk) < 0)
        goto fail;
    if (layout->deflate_level > 0 &&
        (H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, (unsigned)layout->deflate_level) < 0))
        goto fail;
    /* Live files: rows whose chunk a killed flush never indexed read as the
     * fill value, which the reader recognizes (torn rows are cut, not read). */
    const int64_t fill_i64 = DXT_LIVE_FILL_I64;
    const double fill_f64 = NAN;
    if (layout->deflate_level == 0 &&
        H5Pset_fill_value(dcpl, type == H5T_IEEE_F64LE ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64,
                          type == H5T_IEEE_F64LE ? (const void *)&fill_f64
                                                 : (const void *)&fill_i64) < 0)
        goto fail;
    /* A cache that holds the chunk being filled (and the next one). */
    size_t cache_bytes = 2 * chunk_bytes + 64 * 1024;
    if (H5Pset_chunk_cache(dapl, 521, cache_bytes, 1.0) < 0)
        goto fail;
    dset = H5Dcreate2(group, dxt_name_str(name), type, space, H5P_DEFAULT, dcpl, dapl);
fail:
    if (space >= 0)
        H5Sclose(space);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (dapl >= 0)
        H5Pclose(dapl);
    return dset;
}

static int create_op(dxt_writer *w, writer_op *op, const dxt_op_spec *spec,
                     const dxt_writer_layout *layout, int64_t chunk_rows, hid_t ops_group)
{
    int64_t n = w->world_size;
    op->group = H5Gcreate2(ops_group, spec->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (op->group < 0)
        return -1;
    op->dset[DSET_WAIT] = create_dset(op->group, DXT_D_WAIT, H5T_STD_I64LE, n, layout, chunk_rows);
    op->dset[DSET_STEP] = create_dset(op->group, DXT_D_STEP, H5T_STD_I64LE, 0, layout, chunk_rows);
    if (op->dset[DSET_WAIT] < 0 || op->dset[DSET_STEP] < 0)
        return -1;
    if (spec->has_time_ns && (op->dset[DSET_TIME_NS] = create_dset(
                                  op->group, DXT_D_TIME_NS, H5T_STD_I64LE, 0, layout, chunk_rows)) < 0)
        return -1;
    if (spec->has_tokens && (op->dset[DSET_TOKENS] = create_dset(
                                 op->group, DXT_D_TOKENS, H5T_STD_I64LE, n, layout, chunk_rows)) < 0)
        return -1;
    if (spec->has_clock_hz &&
        (op->dset[DSET_CLOCK_HZ] = create_dset(op->group, DXT_D_CLOCK_HZ, H5T_IEEE_F64LE, 0, layout,
                                               chunk_rows)) < 0)
        return -1;
    if (write_str_attr(op->dset[DSET_WAIT], DXT_A_UNIT, dxt_unit_str(spec->unit)) < 0 ||
        write_str_attr(op->dset[DSET_WAIT], DXT_A_COUNTING, dxt_counting_str(spec->counting)) < 0)
        return -1;
    if (spec->has_tokens && write_str_attr(op->dset[DSET_TOKENS], DXT_A_COUNTING,
                                           dxt_counting_str(spec->tokens_counting)) < 0)
        return -1;
    /* Created now, so that a flush only rewrites them in place. */
    if (write_i64_attr(op->group, DXT_A_ROWS_DROPPED, 0) < 0 ||
        write_i64_attr(op->group, DXT_A_DROPPED_FIRST_STEP, -1) < 0 ||
        write_i64_attr(op->group, DXT_A_DROPPED_LAST_STEP, -1) < 0)
        return -1;
    return 0;
}

static void close_ids(dxt_writer *w)
{
    for (int i = 0; i < w->nops; i++) {
        for (int d = 0; d < DSET_COUNT; d++)
            if (w->op[i].dset[d] >= 0)
                H5Dclose(w->op[i].dset[d]);
        if (w->op[i].group >= 0)
            H5Gclose(w->op[i].group);
    }
    w->nops = 0;
}

/* After a failed write (ENOSPC, EFBIG, EIO) HDF5 cannot close the file: every
 * H5Fclose flushes again, fails again and leaves the file open in the library,
 * whose exit handler then crashes on it (H5_term_library -> H5F__close_cb:
 * SIGSEGV on a full disk). So the file's descriptor is pointed at an anonymous
 * memory file first: what the close still writes goes there, the close
 * completes and frees everything, and the file on disk stays as its last
 * good flush left it (the state a kill leaves; readers handle it, FORMAT.md). */
static void detach_file(hid_t file)
{
    void *handle = NULL;
    if (H5Fget_vfd_handle(file, H5P_DEFAULT, &handle) < 0 || !handle)
        return;
    int mem = memfd_create("dxt-detached-trace", MFD_CLOEXEC);
    if (mem < 0)
        return;
    dup2(mem, *(int *)handle);
    close(mem);
}

/* Close the file and every id of it; broken: a write failed, detach first.
 * The file is opened with H5F_CLOSE_STRONG, so H5Fclose also closes any
 * dataset whose own close failed. */
static int close_file(dxt_writer *w, int broken)
{
    if (broken)
        detach_file(w->file);
    close_ids(w);
    int rc = H5Fclose(w->file) < 0 ? -1 : 0;
    if (!broken && H5Iis_valid(w->file) > 0) { /* the close's own flush failed */
        detach_file(w->file);
        H5Fclose(w->file);
        rc = -1;
    }
    w->file = H5I_INVALID_HID;
    return rc;
}

static int check_create_args(const char *path, const dxt_meta *meta, const dxt_op_spec *ops,
                             int nops, const dxt_writer_layout *layout, dxt_error *err)
{
    if (!path || !meta || !ops || !layout)
        return dxt_fail(err, "%s: dxt_writer_create: NULL argument", path ? path : "(null)");
    if (meta->world_size < 1 || meta->world_size > DXT_MAX_WORLD)
        return dxt_fail(err, "%s: attribute 'world_size' %lld out of range 1..%d", path,
                        (long long)meta->world_size, DXT_MAX_WORLD);
    if (meta->rank < 0 || meta->rank >= meta->world_size)
        return dxt_fail(err, "%s: attribute 'rank' %lld not in 0..world_size-1", path,
                        (long long)meta->rank);
    if (nops < 1 || nops > DXT_MAX_OPS)
        return dxt_fail(err, "%s: group 'ops' needs 1..%d ops, got %d", path, DXT_MAX_OPS, nops);
    if (layout->deflate_level < 0 || layout->deflate_level > 9 || layout->chunk_rows < 0)
        return dxt_fail(err, "%s: bad chunk_rows or deflate level", path);
    int64_t rows = layout->chunk_rows;
    if (rows > 0 && rows > (int64_t)(UINT32_MAX / 8) / meta->world_size)
        return dxt_fail(err, "%s: chunk_rows %lld makes a chunk over 4 GiB", path, (long long)rows);
    for (int i = 0; i < nops; i++) {
        const char *name = ops[i].name;
        if (!name || !name[0] || strlen(name) >= DXT_OP_NAME_MAX || strchr(name, '/') ||
            strcmp(name, ".") == 0)
            return dxt_fail(err, "%s: op name '%s' invalid (1..%d characters, no '/')", path,
                            name ? name : "(null)", DXT_OP_NAME_MAX - 1);
        for (int j = 0; j < i; j++)
            if (strcmp(ops[j].name, name) == 0)
                return dxt_fail(err, "%s: op name '%s' given twice", path, name);
    }
    return 0;
}

/* Split path into its directory (opened safely) and its last name. */
int dxt_open_parent(const char *path, const char **base, dxt_error *err)
{
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    if (!slash)
        return dxt_dir_open(".", 0, err);
    char *dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
    if (!dir)
        return dxt_fail(err, "%s: out of memory", path);
    int fd = dxt_dir_open(dir, 0, err);
    free(dir);
    return fd;
}

int dxt_writer_create_specs(const char *path, const dxt_meta *meta, const dxt_op_spec *ops,
                            int nops, const dxt_writer_layout *layout, dxt_writer **out,
                            dxt_error *err)
{
    const char *base;
    char h5_name[32];
    int dirfd = -1, fd = -1, rc = -1, saved_errno = 0;
    struct stat made;
    if (!out || check_create_args(path, meta, ops, nops, layout, err) < 0)
        return out ? -1 : dxt_fail(err, "dxt_writer_create: NULL out");
    *out = NULL;
    if ((dirfd = dxt_open_parent(path, &base, err)) < 0)
        return -1;
    if ((fd = dxt_file_create_excl(dirfd, base, err)) < 0) {
        saved_errno = errno;
        dxt_fail(err, "%s: cannot create: %s%s", path, strerror(saved_errno),
                 saved_errno == EEXIST ? " (an existing file is never overwritten)" : "");
        goto fail;
    }
    if (fstat(fd, &made) != 0 || dxt_fd_path(fd, h5_name, sizeof h5_name) != 0) {
        dxt_fail(err, "%s: /proc/self/fd is not available: files cannot be created safely "
                 "(mount /proc)", path);
        goto fail;
    }
    rc = dxt_writer_create_on(path, h5_name, meta, ops, nops, layout, out, err);
fail:
    if (rc != 0 && fd >= 0) { /* remove what we created, only if it still is ours */
        struct stat now;
        if (fstatat(dirfd, base, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == made.st_dev &&
            now.st_ino == made.st_ino)
            unlinkat(dirfd, base, 0);
    }
    if (fd >= 0)
        close(fd);
    if (dirfd >= 0)
        close(dirfd);
    errno = saved_errno;
    return rc;
}

int dxt_writer_create_on(const char *path, const char *h5_name, const dxt_meta *meta,
                         const dxt_op_spec *ops, int nops, const dxt_writer_layout *layout,
                         dxt_writer **out, dxt_error *err)
{
    dxt_writer *w = NULL;
    hid_t ops_group = H5I_INVALID_HID;
    dxt_h5_init();
    if (out)
        *out = NULL;
    if (!out || check_create_args(path, meta, ops, nops, layout, err) < 0)
        return out ? -1 : dxt_fail(err, "dxt_writer_create: NULL out");
    int64_t chunk_rows =
        layout->chunk_rows > 0 ? layout->chunk_rows : dxt_default_chunk_rows(meta->world_size);
    if ((w = calloc(1, sizeof *w)))
        w->file = H5I_INVALID_HID;
    if (!w || !(w->path = strdup(path))) {
        dxt_fail(err, "%s: out of memory", path);
        goto fail;
    }
    w->world_size = meta->world_size;
    w->fsync = layout->fsync;
    int live = layout->deflate_level == 0;
    w->max_rows = live ? (2 * (int64_t)DXT_LIVE_BTREE_K - 1) * chunk_rows : INT64_MAX;
    if ((w->file = create_file(h5_name, live)) < 0) {
        dxt_fail(err, "%s: file cannot be created", path);
        goto fail;
    }
    w->live = live;
    if (write_root_attrs(w->file, meta, live) < 0) {
        dxt_fail(err, "%s: root attributes cannot be written", path);
        goto fail;
    }
    ops_group = H5Gcreate2(w->file, dxt_name_str(DXT_G_OPS), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (ops_group < 0) {
        dxt_fail(err, "%s: group '%s' cannot be created", path, dxt_name_str(DXT_G_OPS));
        goto fail;
    }
    for (int i = 0; i < nops; i++) {
        writer_op *op = &w->op[w->nops++];
        op->group = H5I_INVALID_HID;
        for (int d = 0; d < DSET_COUNT; d++)
            op->dset[d] = H5I_INVALID_HID;
        snprintf(op->name, sizeof op->name, "%s", ops[i].name);
        op->last_step = INT64_MIN;
        if (create_op(w, op, &ops[i], layout, chunk_rows, ops_group) < 0) {
            dxt_fail(err, "%s: group 'ops/%s' cannot be created", path, ops[i].name);
            goto fail;
        }
    }
    H5Gclose(ops_group);
    *out = w;
    return 0;
fail:
    if (ops_group >= 0)
        H5Gclose(ops_group);
    if (w) {
        if (w->file >= 0)
            close_file(w, 1); /* nothing of it is kept: never leave HDF5 state behind */
        else
            close_ids(w);
        free(w->path);
        free(w);
    }
    return -1;
}

int dxt_writer_create(const char *path, const dxt_meta *meta, const char *const *ops, int nops,
                      dxt_unit unit, dxt_counting counting, const dxt_writer_opts *opts,
                      dxt_writer **out, dxt_error *err)
{
    dxt_op_spec specs[DXT_MAX_OPS];
    dxt_writer_opts defaults = {0};
    if (!opts)
        opts = &defaults;
    if (!ops || nops < 1 || nops > DXT_MAX_OPS)
        return dxt_fail(err, "%s: group 'ops' needs 1..%d ops, got %d", path ? path : "(null)",
                        DXT_MAX_OPS, nops);
    for (int i = 0; i < nops; i++) {
        specs[i] = (dxt_op_spec){.name = ops[i], .unit = unit, .counting = counting,
                                 .tokens_counting = counting, .has_time_ns = 1,
                                 .has_tokens = opts->has_tokens != 0,
                                 .has_clock_hz = opts->has_clock_hz != 0};
    }
    dxt_writer_layout layout = {.chunk_rows = opts->chunk_rows, .deflate_level = 0,
                                .fsync = opts->fsync};
    return dxt_writer_create_specs(path, meta, specs, nops, &layout, out, err);
}

/* ---- appends --------------------------------------------------------------- */

/* Grow dset to rows + nrows and write nrows rows of width columns (0: 1-D). */
static int append_rows(hid_t dset, hid_t mem_type, int64_t rows, int64_t nrows, int64_t width,
                       const void *data)
{
    hsize_t size[2] = {(hsize_t)(rows + nrows), (hsize_t)width};
    if (H5Dset_extent(dset, size) < 0)
        return -1;
    return dxt_rows_io(dset, mem_type, rows, nrows, width, (void *)data, 1);
}

static int check_append(dxt_writer *w, int op, int64_t nrows, const int64_t *step,
                        const int64_t *wait, const int64_t *tokens, const double *clock_hz,
                        dxt_error *err)
{
    if (!w)
        return dxt_fail(err, "dxt_writer_append: NULL writer");
    if (op < 0 || op >= w->nops)
        return dxt_fail(err, "%s: op index %d out of range 0..%d", w->path, op, w->nops - 1);
    if (nrows < 0 || (nrows > 0 && (!step || !wait)))
        return dxt_fail(err, "%s: dataset 'ops/%s/step': bad append (nrows %lld, NULL data)",
                        w->path, w->op[op].name, (long long)nrows);
    if (tokens && w->op[op].dset[DSET_TOKENS] < 0)
        return dxt_fail(err, "%s: dataset 'ops/%s/tokens' was not created", w->path,
                        w->op[op].name);
    if (clock_hz && w->op[op].dset[DSET_CLOCK_HZ] < 0)
        return dxt_fail(err, "%s: dataset 'ops/%s/clock_hz' was not created", w->path,
                        w->op[op].name);
    if (nrows > dxt_writer_room(w, op))
        return dxt_fail(err, "%s: group 'ops/%s' is full (%lld rows): rotate to a new file",
                        w->path, w->op[op].name, (long long)w->max_rows);
    int64_t prev = w->op[op].last_step;
    for (int64_t t = 0; t < nrows; t++) {
        if (t > 0 || prev != INT64_MIN) {
            int64_t before = t > 0 ? step[t - 1] : prev;
            if (step[t] <= before)
                return dxt_fail(err, "%s: dataset 'ops/%s/step' not increasing (%lld after %lld)",
                                w->path, w->op[op].name, (long long)step[t], (long long)before);
        }
    }
    return 0;
}

int dxt_writer_append(dxt_writer *w, int op, int64_t nrows, const int64_t *step,
                      const int64_t *time_ns, const int64_t *wait, const int64_t *tokens,
                      const double *clock_hz, dxt_error *err)
{
    if (check_append(w, op, nrows, step, wait, tokens, clock_hz, err) < 0)
        return -1;
    if (nrows == 0)
        return 0;
    writer_op *o = &w->op[op];
    int64_t n = w->world_size;
    void *zeros = NULL;
    int rc = -1;
    dxt_name failed = DXT_D_WAIT;
    /* Absent optional columns of a created dataset are written as zeros. */
    int need_zeros = (!time_ns && o->dset[DSET_TIME_NS] >= 0) ||
                     (!tokens && o->dset[DSET_TOKENS] >= 0) ||
                     (!clock_hz && o->dset[DSET_CLOCK_HZ] >= 0);
    if (need_zeros && !(zeros = calloc((size_t)nrows * (size_t)n, sizeof(int64_t)))) {
        dxt_fail(err, "%s: out of memory", w->path);
        goto fail;
    }
    const void *data[DSET_COUNT] = {wait, step, time_ns ? (const void *)time_ns : zeros,
                                    tokens ? (const void *)tokens : zeros,
                                    clock_hz ? (const void *)clock_hz : zeros};
    for (int d = 0; d < DSET_COUNT; d++) {
        if (o->dset[d] < 0)
            continue;
        int64_t width = (d == DSET_WAIT || d == DSET_TOKENS) ? n : 0;
        hid_t mem_type = d == DSET_CLOCK_HZ ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64;
        failed = dxt_dset_names[d];
        if (append_rows(o->dset[d], mem_type, o->rows, nrows, width, data[d]) < 0) {
            dxt_fail(err, "%s: dataset 'ops/%s/%s' append of %lld rows failed", w->path, o->name,
                     dxt_name_str(failed), (long long)nrows);
            goto fail;
        }
    }
    o->rows += nrows;
    o->last_step = step[nrows - 1];
    rc = 0;
fail:
    free(zeros);
    return rc;
}

int64_t dxt_writer_room(const dxt_writer *w, int op)
{
    if (!w || op < 0 || op >= w->nops)
        return 0;
    return w->max_rows - w->op[op].rows;
}

int dxt_writer_set_dropped(dxt_writer *w, int op, int64_t rows_dropped, int64_t first_step,
                           int64_t last_step, dxt_error *err)
{
    if (!w)
        return dxt_fail(err, "dxt_writer_set_dropped: NULL writer");
    if (op < 0 || op >= w->nops)
        return dxt_fail(err, "%s: op index %d out of range 0..%d", w->path, op, w->nops - 1);
    hid_t g = w->op[op].group;
    if (write_i64_attr(g, DXT_A_ROWS_DROPPED, rows_dropped) < 0 ||
        write_i64_attr(g, DXT_A_DROPPED_FIRST_STEP, first_step) < 0 ||
        write_i64_attr(g, DXT_A_DROPPED_LAST_STEP, last_step) < 0)
        return dxt_fail(err, "%s: attribute 'ops/%s/%s' cannot be written", w->path,
                        w->op[op].name, dxt_name_str(DXT_A_ROWS_DROPPED));
    return 0;
}

/* ---- flush and close ----------------------------------------------------------- */

int dxt_writer_flush(dxt_writer *w, dxt_error *err)
{
    if (!w)
        return dxt_fail(err, "dxt_writer_flush: NULL writer");
    /* Raw data, then metadata, go out with pwrite; fsync only when asked. */
    if (H5Fflush(w->file, H5F_SCOPE_GLOBAL) < 0)
        return dxt_fail(err, "%s: file flush failed", w->path);
    if (w->fsync) {
        void *handle = NULL;
        if (H5Fget_vfd_handle(w->file, H5P_DEFAULT, &handle) < 0 || !handle)
            return dxt_fail(err, "%s: file descriptor unavailable for fsync", w->path);
        if (fsync(*(int *)handle) != 0)
            return dxt_fail(err, "%s: fsync failed", w->path);
    }
    return 0;
}

/* The time of the close into closed_unix_ns (an attribute of the live file
 * since its creation: rewritten in place, written out by the close's flush). */
static int mark_closed(dxt_writer *w, dxt_error *err)
{
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0)
        return dxt_fail(err, "%s: attribute '%s': no clock: %s", w->path,
                        dxt_name_str(DXT_A_CLOSED_UNIX_NS), strerror(errno));
    int64_t ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    if (write_i64_attr(w->file, DXT_A_CLOSED_UNIX_NS, ns > 0 ? ns : 1) < 0)
        return dxt_fail(err, "%s: attribute '%s' cannot be written", w->path,
                        dxt_name_str(DXT_A_CLOSED_UNIX_NS));
    return 0;
}

int dxt_writer_close(dxt_writer *w, dxt_error *err)
{
    if (!w)
        return 0;
    dxt_error mark_err = {{0}};
    int marked = w->live ? mark_closed(w, &mark_err) : 0; /* the rows matter more: flush anyway */
    int rc = dxt_writer_flush(w, err);
    if (close_file(w, rc != 0) < 0 && rc == 0)
        rc = dxt_fail(err, "%s: file close failed", w->path);
    if (rc == 0 && marked != 0) {
        if (err)
            *err = mark_err;
        rc = -1;
    }
    free(w->path);
    free(w);
    return rc;
}
