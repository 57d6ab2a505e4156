/* fmt_chunks.c - a trace's wait and tokens chunks as stored (compressed), for
 * readers that decompress outside HDF5 (dxt-analyze inflates them in worker
 * threads: HDF5 1.10 runs one call at a time). Owner: the format module.
 *
 * dxt_reader_chunk_layout says whether a dataset's chunks can be decoded by
 * the reader itself: whole-row chunks of little-endian int64 whose filter
 * pipeline is one of none, deflate, shuffle, shuffle + deflate (what
 * dxt_file_compress writes, HDF5's own filters). Any other pipeline, type or
 * chunk option is reported unusable and the caller reads with
 * dxt_reader_read: never wrong data. dxt_reader_read_chunk returns the stored
 * bytes of one chunk, or 0 when that chunk must be read the plain way (not
 * allocated, or stored with a filter skipped). dxt_reader_chunk_where says
 * where a chunk's stored bytes are in the file, for reads without HDF5. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmt_internal.h"

/* DSET_* of a dataset name; -1 when not a dataset of an op. */
static int dset_index(dxt_name name)
{
    for (int d = 0; d < DSET_COUNT; d++)
        if (dxt_dset_names[d] == name)
            return d;
    return -1;
}

/* The open dataset name (wait or tokens) of op; -1 with err. */
static hid_t chunked_dset(dxt_reader *r, int op, dxt_name name, dxt_error *err)
{
    int d = dset_index(name);
    if (d != DSET_WAIT && d != DSET_TOKENS)
        return dxt_fail(err, "%s: dataset '%s' is not read by chunks", dxt_reader_path(r),
                        dxt_name_str(name));
    return dxt_reader_dset(r, op, d, err);
}

/* Fill out from the dataset's filter pipeline: 1 known, 0 not. */
static int known_pipeline(hid_t dcpl, dxt_chunk_layout *out)
{
    int nfilters = H5Pget_nfilters(dcpl);
    if (nfilters < 0 || nfilters > 2)
        return 0;
    for (int i = 0; i < nfilters; i++) {
        unsigned flags = 0, cd[4] = {0};
        size_t ncd = 4;
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, 0, NULL, NULL);
        if (id == H5Z_FILTER_SHUFFLE && i == 0 && !out->shuffle && (ncd == 0 || cd[0] == 8))
            out->shuffle = 1;
        else if (id == H5Z_FILTER_DEFLATE && i == nfilters - 1 && !out->deflate)
            out->deflate = 1;
        else
            return 0; /* fletcher32, szip, a plugin, or an order we do not know */
    }
    return 1;
}

int dxt_reader_chunk_layout(dxt_reader *r, int op, dxt_name name, dxt_chunk_layout *out,
                            dxt_error *err)
{
    memset(out, 0, sizeof *out);
    hid_t dset = chunked_dset(r, op, name, err);
    if (dset < 0)
        return -1;
    hid_t dcpl = H5Dget_create_plist(dset), type = H5Dget_type(dset);
    hsize_t chunk[2] = {0, 0};
    unsigned opts = 0;
    int64_t width = dxt_reader_meta(r)->world_size;
    if (dcpl < 0 || type < 0) {
        dxt_fail(err, "%s: dataset 'ops/%s/%s': creation properties unreadable",
                 dxt_reader_path(r), dxt_reader_op(r, op)->name, dxt_name_str(name));
        goto done;
    }
    if (H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 2, chunk) == 2 &&
        chunk[0] > 0 && chunk[0] <= (1u << 30) && chunk[1] == (hsize_t)width &&
        H5Pget_chunk_opts(dcpl, &opts) >= 0 && opts == 0 &&
        H5Tequal(type, H5T_STD_I64LE) > 0 && H5Tequal(H5T_NATIVE_INT64, H5T_STD_I64LE) > 0 &&
        known_pipeline(dcpl, out)) {
        out->usable = 1;
        out->chunk_rows = (int64_t)chunk[0];
        out->width = width;
    } else {
        memset(out, 0, sizeof *out);
    }
done:
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (type >= 0)
        H5Tclose(type);
    return dcpl < 0 || type < 0 ? -1 : 0;
}

/* Chunk `chunk` of dataset dset is in range (of rows, the op's when 0), and
 * its largest plausible stored size (what the filters make of chunk_rows x
 * width int64). 0 or -1 with err. */
static int chunk_in_range(dxt_reader *r, int op, dxt_name name, int64_t chunk_rows,
                          int64_t chunk, int64_t rows, size_t *most, dxt_error *err)
{
    const dxt_op_info *o = dxt_reader_op(r, op);
    rows = rows > 0 ? rows : o->rows;
    if (chunk_rows < 1 || chunk < 0 || chunk > (rows - 1) / chunk_rows)
        return dxt_fail(err, "%s: dataset 'ops/%s/%s': chunk %lld out of range",
                        dxt_reader_path(r), o->name, dxt_name_str(name), (long long)chunk);
    size_t bytes = (size_t)chunk_rows * (size_t)dxt_reader_meta(r)->world_size * 8;
    *most = bytes + bytes / 8 + 4096;
    return 0;
}

int dxt_reader_read_chunk(dxt_reader *r, int op, dxt_name name, int64_t chunk_rows,
                          int64_t chunk, void **buf, size_t *cap, size_t *len, dxt_error *err)
{
    hid_t dset = chunked_dset(r, op, name, err);
    size_t most = 0;
    if (dset < 0 || chunk_in_range(r, op, name, chunk_rows, chunk, 0, &most, err) < 0)
        return -1;
    const dxt_op_info *o = dxt_reader_op(r, op);
    hsize_t offset[2] = {(hsize_t)(chunk * chunk_rows), 0}, stored = 0;
    uint32_t mask = 0;
    if (H5Dget_chunk_storage_size(dset, offset, &stored) < 0)
        return dxt_fail(err, "%s: dataset 'ops/%s/%s': chunk %lld: no storage size",
                        dxt_reader_path(r), o->name, dxt_name_str(name), (long long)chunk);
    if (stored == 0 || stored > most)
        return 0; /* not allocated (fill value), or not what the filters make: plain read */
    if (stored > *cap) {
        void *grown = realloc(*buf, (size_t)stored);
        if (!grown)
            return dxt_fail(err, "%s: out of memory for a chunk", dxt_reader_path(r));
        *buf = grown;
        *cap = (size_t)stored;
    }
    if (H5Dread_chunk(dset, H5P_DEFAULT, offset, &mask, *buf) < 0)
        return dxt_fail(err, "%s: dataset 'ops/%s/%s': chunk %lld (rows %lld..) unreadable",
                        dxt_reader_path(r), o->name, dxt_name_str(name), (long long)chunk,
                        (long long)offset[0]);
    *len = (size_t)stored;
    return mask == 0 ? 1 : 0; /* a filter skipped on this chunk: HDF5 knows how to read it */
}

/* 1 when pread of the file at offset gives the same size bytes as HDF5's
 * H5Dread_chunk of that chunk (a base address or userblock HDF5's address does
 * not count would not), else 0. */
static int same_bytes(dxt_reader *r, int op, dxt_name name, int64_t chunk_rows, int64_t chunk,
                      uint64_t offset, uint64_t size)
{
    void *via_hdf5 = NULL;
    size_t cap = 0, len = 0;
    unsigned char *via_fd = malloc((size_t)size ? (size_t)size : 1);
    dxt_error ignored;
    int fd = open(dxt_reader_path(r), O_RDONLY | O_CLOEXEC), same = 0;
    if (via_fd && fd >= 0 &&
        dxt_reader_read_chunk(r, op, name, chunk_rows, chunk, &via_hdf5, &cap, &len,
                              &ignored) == 1 &&
        len == size && pread(fd, via_fd, (size_t)size, (off_t)offset) == (ssize_t)size)
        same = memcmp(via_fd, via_hdf5, (size_t)size) == 0;
    if (fd >= 0)
        close(fd);
    free(via_fd);
    free(via_hdf5);
    return same;
}

/* dxt_reader_chunk_where of a chunk in rows [0, rows) (the op's when 0). */
static int chunk_where(dxt_reader *r, int op, dxt_name name, int64_t chunk_rows, int64_t chunk,
                       int64_t rows, uint64_t *offset, uint64_t *size, dxt_error *err)
{
    hid_t dset = chunked_dset(r, op, name, err);
    size_t most = 0;
    if (dset < 0 || chunk_in_range(r, op, name, chunk_rows, chunk, rows, &most, err) < 0)
        return -1;
    int *direct = dxt_reader_direct_state(r);
    if (*direct < 0)
        return 0;
#if H5_VERSION_GE(1, 10, 5)
    hsize_t coord[2] = {(hsize_t)(chunk * chunk_rows), 0}, stored = 0;
    haddr_t addr = HADDR_UNDEF;
    unsigned mask = 0;
    if (H5Dget_chunk_info_by_coord(dset, coord, &mask, &addr, &stored) < 0)
        return dxt_fail(err, "%s: dataset 'ops/%s/%s': chunk %lld: no address",
                        dxt_reader_path(r), dxt_reader_op(r, op)->name, dxt_name_str(name),
                        (long long)chunk);
    if (addr == HADDR_UNDEF || stored == 0 || stored > most || mask != 0 ||
        addr > (haddr_t)INT64_MAX - stored)
        return 0; /* not allocated, a filter skipped, not what the filters make */
    if (*direct == 0)
        *direct = same_bytes(r, op, name, chunk_rows, chunk, addr, stored) ? 1 : -1;
    *offset = (uint64_t)addr;
    *size = (uint64_t)stored;
    return *direct > 0;
#else
    *direct = -1; /* no H5Dget_chunk_info_by_coord: HDF5 reads every chunk */
    (void)offset, (void)size;
    return 0;
#endif
}

int dxt_reader_chunk_where(dxt_reader *r, int op, dxt_name name, int64_t chunk_rows,
                           int64_t chunk, uint64_t *offset, uint64_t *size, dxt_error *err)
{
    return chunk_where(r, op, name, chunk_rows, chunk, 0, offset, size, err);
}

int dxt_reader_tail_where(dxt_reader *r, int op, dxt_name name, dxt_chunk_layout *lay,
                          int64_t *chunk, uint64_t *offset, uint64_t *size, dxt_error *err)
{
    int64_t rows = dxt_reader_tail_rows(r, op, name);
    if (rows <= 0)
        return 0;
    if (dxt_reader_chunk_layout(r, op, name, lay, err) < 0)
        return -1;
    if (!lay->usable)
        return 0;
    *chunk = (rows - 1) / lay->chunk_rows;
    return chunk_where(r, op, name, lay->chunk_rows, *chunk, rows, offset, size, err);
}

int dxt_reader_file_identity(dxt_reader *r, uint64_t *dev, uint64_t *ino)
{
    hid_t dset = chunked_dset(r, 0, DXT_D_WAIT, NULL);
    hid_t file = dset < 0 ? H5I_INVALID_HID : H5Iget_file_id(dset);
    hid_t fapl = file < 0 ? H5I_INVALID_HID : H5Fget_access_plist(file);
    int *fd = NULL, known = 0;
    struct stat st;
    if (fapl >= 0 && H5Pget_driver(fapl) == H5FD_SEC2 &&
        H5Fget_vfd_handle(file, fapl, (void **)&fd) >= 0 && fd && fstat(*fd, &st) == 0) {
        *dev = (uint64_t)st.st_dev;
        *ino = (uint64_t)st.st_ino;
        known = 1;
    }
    if (fapl >= 0)
        H5Pclose(fapl);
    if (file >= 0)
        H5Fclose(file);
    return known;
}
