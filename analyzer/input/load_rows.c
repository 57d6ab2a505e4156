/* load_rows.c - a rank's rows for the window streams (load_rows.h). HDF5 is
 * called only here and only under h5_lock (HDF5 1.10 runs one call at a time,
 * and Debian's is not built thread-safe): the table of the next rows (step,
 * clock_hz, chunk addresses) in batches, and the chunks HDF5 must read itself.
 * Everything else (pread of the stored bytes, inflate, unshuffle) runs in the
 * calling thread without the lock. Owner: the loader/report engineer (A2; issue 15). */
#include "load_rows.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Every HDF5 call of the loaders' threads, process-wide (a partitioned run's
 * processes may be threads of one process: tests/test_partition.c). */
static pthread_mutex_t h5_lock = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

dxt_trace_file *dxt_rows_file(const dxt_trace_state *t, const dxt_rank_rows *c)
{
    return &t->files[c->segs[c->seg]];
}

const dxt_op_info *dxt_rows_info(const dxt_trace_state *t, int op, const dxt_rank_rows *c)
{
    const dxt_trace_file *f = dxt_rows_file(t, c);
    return dxt_reader_op(f->reader, f->op_index[op]);
}

int dxt_rows_held(const dxt_row_buf *b, const dxt_rank_rows *c)
{
    return b->owner == c && b->seg == c->seg && c->row >= b->lo && c->row < b->hi;
}

/* The dataset of index d of the tables (0 wait, 1 tokens). */
static dxt_name dset_name(int d)
{
    return d ? DXT_D_TOKENS : DXT_D_WAIT;
}

/* Chunk locations of dataset d for rows [first, first + rows) (lock held). */
static int fetch_locations(dxt_trace_file *f, int fop, dxt_rank_rows *c, int d, int64_t first,
                           int64_t rows, dxt_error *err)
{
    int64_t cr = c->lay[d].chunk_rows, k0 = first / cr, k1 = (first + rows - 1) / cr;
    if (k1 - k0 + 1 > c->loc_cap[d]) {
        dxt_chunk_loc *grown = realloc(c->loc[d], (size_t)(k1 - k0 + 1) * sizeof *grown);
        if (!grown) {
            dxt_set_error(err, "%s: out of memory for chunk addresses", f->path);
            return -1;
        }
        c->loc[d] = grown;
        c->loc_cap[d] = k1 - k0 + 1;
    }
    c->loc_first[d] = k0;
    c->nloc[d] = k1 - k0 + 1;
    for (int64_t k = k0; k <= k1; k++) {
        dxt_chunk_loc *l = &c->loc[d][k - k0];
        int rc = dxt_reader_chunk_where(f->reader, fop, dset_name(d), cr, k,
                                        &l->offset, &l->size, err);
        if (rc < 0)
            return -1;
        l->direct = rc;
    }
    return 0;
}

/* The table of rows [c->row, ..) of the current segment (lock held). */
static int fetch_table(dxt_trace_state *t, int op, dxt_rank_rows *c, int with_tokens,
                       dxt_error *err)
{
    dxt_trace_file *f = dxt_rows_file(t, c);
    int fop = f->op_index[op];
    const dxt_op_info *info = dxt_reader_op(f->reader, fop);
    int64_t want = info->rows - c->row < c->tab_alloc ? info->rows - c->row : c->tab_alloc;
    if (dxt_reader_read(f->reader, fop, c->row, want, c->step, NULL, NULL, NULL,
                        info->has_clock_hz ? c->hz : NULL, err) != want)
        return -1;
    if (!info->has_clock_hz)
        memset(c->hz, 0, (size_t)want * sizeof *c->hz);
    if (c->lay_seg != c->seg) {
        memset(c->lay, 0, sizeof c->lay);
        if (dxt_reader_chunk_layout(f->reader, fop, DXT_D_WAIT, &c->lay[0], err) < 0 ||
            (with_tokens && info->has_tokens &&
             dxt_reader_chunk_layout(f->reader, fop, DXT_D_TOKENS, &c->lay[1], err) < 0))
            return -1;
        c->lay_seg = c->seg;
    }
    for (int d = 0; d < 2; d++)
        if (c->lay[d].usable && fetch_locations(f, fop, c, d, c->row, want, err) < 0)
            return -1;
    if (!dxt_reader_file_identity(f->reader, &c->dev, &c->ino))
        for (int d = 0; d < 2; d++) /* which file the addresses are of is unknown */
            for (int64_t k = 0; c->lay[d].usable && k < c->nloc[d]; k++)
                c->loc[d][k].direct = 0;
    c->tab_first = c->row;
    c->tab_n = want;
    return 0;
}

/* Room in the table for the current segment's next rows. 0 or -1 with err. */
static int table_room(dxt_trace_state *t, int op, dxt_rank_rows *c, dxt_error *err)
{
    int64_t left = dxt_rows_info(t, op, c)->rows - c->row;
    int64_t want = left < c->tab_cap ? left : c->tab_cap;
    if (want <= c->tab_alloc)
        return 0;
    int64_t *step = realloc(c->step, (size_t)want * sizeof *step);
    if (step)
        c->step = step;
    double *hz = step ? realloc(c->hz, (size_t)want * sizeof *hz) : NULL;
    if (!hz) {
        dxt_set_error(err, "%s: out of memory for a table of rows", dxt_rows_file(t, c)->path);
        return -1;
    }
    c->hz = hz;
    c->tab_alloc = want;
    return 0;
}

int dxt_rows_next(dxt_trace_state *t, int op, dxt_rank_rows *c, int with_tokens,
                  dxt_error *err)
{
    for (; c->seg < c->nseg; c->seg++, c->row = 0, c->tab_n = 0) {
        if (c->row >= dxt_rows_info(t, op, c)->rows)
            continue;
        if (c->row >= c->tab_first && c->row < c->tab_first + c->tab_n)
            return 1;
        if (table_room(t, op, c, err) < 0)
            return -1;
        pthread_mutex_lock(&h5_lock);
        double t0 = now_s();
        dxt_trace_file *f = dxt_rows_file(t, c);
        dxt_trace_make_room(t, f);
        int was_open = dxt_reader_is_open(f->reader);
        int rc = fetch_table(t, op, c, with_tokens, err);
        dxt_trace_count_open(t, f, was_open);
        if (rc == 0 && c->tab_first + c->tab_n >= dxt_rows_info(t, op, c)->rows &&
            dxt_reader_is_open(f->reader)) { /* no more tables of this file and op: its
                                                * handles (about 1 MB) are not needed */
            dxt_reader_suspend(f->reader);
            t->nopen--;
        }
        t->read_s += now_s() - t0;
        pthread_mutex_unlock(&h5_lock);
        return rc < 0 ? -1 : 1;
    }
    return 0;
}

/* A plain descriptor of the current segment's file, the one the chunk
 * addresses are of: fd, or -1 (then HDF5 reads). */
static int plain_fd(dxt_trace_state *t, const dxt_rank_rows *c, dxt_row_buf *b)
{
    int file = c->segs[c->seg];
    if (b->fd >= 0 && b->fd_file == file && b->fd_dev == c->dev && b->fd_ino == c->ino)
        return b->fd;
    if (b->fd >= 0)
        close(b->fd);
    b->fd_file = file;
    b->fd = dxt_open_identified(t->files[file].path, c->dev, c->ino);
    b->fd_dev = c->dev;
    b->fd_ino = c->ino;
    return b->fd;
}

/* The stored bytes of chunk k of dataset d into b->raw: 1, 0 read it with
 * HDF5 (lock held by the caller then), -1. */
static int read_stored(dxt_trace_state *t, const dxt_rank_rows *c, dxt_row_buf *b, int d,
                       int64_t k, size_t *len, dxt_error *err)
{
    const dxt_chunk_loc *l = &c->loc[d][k - c->loc_first[d]];
    int fd = l->direct ? plain_fd(t, c, b) : -1;
    if (fd < 0)
        return 0;
    int rc = dxt_pread_stored(fd, l->offset, l->size, &b->raw, &b->raw_cap);
    if (rc < 0)
        dxt_set_error(err, "%s: out of memory for a chunk", t->files[b->fd_file].path);
    if (rc <= 0)
        return rc; /* 0: shorter than HDF5 said: let HDF5 read it (and say what is wrong) */
    *len = (size_t)l->size;
    return 1;
}

/* Rows [lo, hi) of dataset d into dest: the stored chunk k decoded here, or
 * read by HDF5. 0 or -1 with err. */
static int load_dataset(dxt_trace_state *t, int op, const dxt_rank_rows *c, dxt_row_buf *b,
                        int d, int64_t lo, int64_t hi, int64_t n, int64_t *dest, dxt_error *err)
{
    dxt_trace_file *f = dxt_rows_file(t, c);
    int fop = f->op_index[op];
    const dxt_chunk_layout *lay = &c->lay[d];
    int64_t cr = lay->chunk_rows, k = lay->usable ? lo / cr : 0;
    size_t len = 0;
    double t0 = now_s();
    int rc = lay->usable ? read_stored(t, c, b, d, k, &len, err) : 0;
    if (rc == 0) { /* through HDF5 */
        pthread_mutex_lock(&h5_lock);
        dxt_trace_make_room(t, f);
        int was_open = dxt_reader_is_open(f->reader);
        uint64_t dev = 0, ino = 0; /* the layout is of the file the table was read from */
        int same = dxt_reader_file_identity(f->reader, &dev, &ino) && dev == c->dev &&
                   ino == c->ino;
        rc = lay->usable && same ? dxt_reader_read_chunk(f->reader, fop, dset_name(d), cr, k,
                                                         &b->raw, &b->raw_cap, &len, err)
                                 : 0;
        if (rc == 0 && dxt_reader_read(f->reader, fop, lo, hi - lo, NULL, NULL, d ? NULL : dest,
                                       d ? dest : NULL, NULL, err) != hi - lo)
            rc = -1;
        else if (rc == 0)
            rc = 2; /* read plainly: nothing to decode */
        dxt_trace_count_open(t, f, was_open);
        pthread_mutex_unlock(&h5_lock);
    }
    double t1 = now_s();
    b->read_s += t1 - t0;
    if (rc != 1)
        return rc < 0 ? -1 : 0;
    const char *why = "out of memory for a decoder";
    if ((!b->dec && !(b->dec = dxt_chunk_decoder_new())) ||
        dxt_chunk_decode(b->dec, b->raw, len, lay->shuffle, lay->deflate, (size_t)(cr * n),
                         (size_t)((lo - k * cr) * n), (size_t)((hi - lo) * n), dest, &why) < 0) {
        dxt_set_error(err, "%s: dataset 'ops/%s/%s': chunk %lld cannot be decoded: %s", f->path,
                      dxt_rows_info(t, op, c)->name, dxt_name_str(dset_name(d)),
                      (long long)k, why);
        return -1;
    }
    b->decode_s += now_s() - t1;
    return 0;
}

int dxt_rows_load(dxt_trace_state *t, int op, const dxt_rank_rows *c, dxt_row_buf *b, int64_t n,
                  int with_tokens, dxt_error *err)
{
    if (dxt_rows_held(b, c))
        return 0;
    int tokens = with_tokens && dxt_rows_info(t, op, c)->has_tokens;
    if (!b->wait) {
        b->fd = -1;
        b->wait = malloc((size_t)(b->cap * n) * sizeof *b->wait);
        if (with_tokens)
            b->tokens = malloc((size_t)(b->cap * n) * sizeof *b->tokens);
        if (!b->wait || (with_tokens && !b->tokens)) {
            dxt_set_error(err, "%s: out of memory for a chunk of rows", dxt_rows_file(t, c)->path);
            return -1;
        }
    }
    int64_t lo = c->row, hi = c->tab_first + c->tab_n;
    hi = hi - lo > b->cap ? lo + b->cap : hi;
    for (int d = 0; d <= tokens; d++) /* a unit: within one chunk of each dataset */
        if (c->lay[d].usable && (lo / c->lay[d].chunk_rows + 1) * c->lay[d].chunk_rows < hi)
            hi = (lo / c->lay[d].chunk_rows + 1) * c->lay[d].chunk_rows;
    b->owner = NULL;
    for (int d = 0; d <= tokens; d++)
        if (load_dataset(t, op, c, b, d, lo, hi, n, d ? b->tokens : b->wait, err) < 0)
            return -1;
    b->owner = c;
    b->seg = c->seg;
    b->lo = lo;
    b->hi = hi;
    return 0;
}

void dxt_rows_free(dxt_rank_rows *c)
{
    free(c->segs);
    free(c->step);
    free(c->hz);
    free(c->loc[0]);
    free(c->loc[1]);
    memset(c, 0, sizeof *c);
}

void dxt_row_buf_free(dxt_row_buf *b)
{
    if (b->wait && b->fd >= 0) /* fd is set when wait is allocated */
        close(b->fd);
    dxt_chunk_decoder_free(b->dec);
    free(b->raw);
    free(b->wait);
    free(b->tokens);
    memset(b, 0, sizeof *b);
}
