/* writer.c - libdxtrec's writer thread: the only thread that does file work.
 *
 * Owner: recorder host path. The thread drains the ring (ring.c) in batches
 * into per-op staging arrays and appends each op's rows with one
 * dxt_writer_append; flushes every flush_interval_s when something changed;
 * serves dxtrec_flush requests; keeps the dropped-row counters in the file.
 * File errors never stop it: the broken file is closed, rows are counted as
 * dropped, and a new file is tried every retry interval: rank-RRRRR.h5 first,
 * then rank-RRRRR.<k>.h5 for the k-th file after one that broke (a file that
 * held rows is never truncated). Names are created exclusively in a directory
 * walked without following planted links (format/fmt_safefile.c): a name that
 * exists (an earlier run's file) is skipped, never opened, and only segments
 * this recorder created are compressed at close. Before each append the writer checks that
 * the file keeps a margin below RLIMIT_FSIZE and the disk's free space
 * (room_to_grow): a write that fails half way leaves an HDF5 file that no
 * longer opens, so a file is closed cleanly before that happens. HDF5 calls
 * of all recorders of the process are serialized by one mutex (serial HDF5
 * is not thread-safe). The thread blocks asynchronous signals (SIGXFSZ
 * becomes EFBIG). */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define STAGING_BUDGET_BYTES (8u << 20) /* all ops' staging arrays together */
#define STAGING_MAX_ROWS 1024
/* Idle policy: the writer polls the ring (record() never wakes it: no syscall
 * on the record path). After a pass that found nothing the sleep doubles, from
 * IDLE_WAIT_MIN_NS up to the longest idle sleep (IDLE_WAIT_MAX_NS, at most
 * flush_interval / IDLE_FLUSH_FRACTION so that a row waits at most a small
 * part of the flush interval longer than it did); while rows come slowly it
 * stays long (fewer wakeups, larger appends); when a pass finds the ring more
 * than 1/IDLE_BUSY_FRACTION full it halves and the writer drains again at
 * once; a flush request, stop or due periodic flush ends a sleep early.
 * With 256 recorders in one process (dxt-synth), fixed 1 ms polls cost
 * 256,000 wakeups per second. */
#define IDLE_WAIT_MIN_NS 1000000L
#define IDLE_WAIT_MAX_NS 50000000L
#define IDLE_FLUSH_FRACTION 20
#define IDLE_BUSY_FRACTION 8
#define WRITER_NAME "libdxtrec 1.0"
#define SEGMENT_NAME_TRIES 10000 /* names tried past taken ones before giving up */
/* Room a file must keep for its next chunks (a chunk is at most 1 MiB per 2-D
 * dataset) and metadata: the writer stops a file before it reaches the file
 * size limit or fills the disk, because a write that fails half way leaves an
 * HDF5 file that no longer opens. */
#define SPACE_MARGIN_PER_OP (3u << 20)
#define SPACE_MARGIN_FILE (1u << 20)

static pthread_mutex_t hdf5_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct op_batch {
    int64_t n;
    int64_t *step, *time_ns, *wait, *tokens;
    double *clock_hz;
    int64_t last_step; /* last step staged (written) for this op */
    int has_last;
} op_batch;

struct dxtrec_writer_state {
    dxt_writer *file;     /* NULL while there is no good file */
    int file_index;       /* k of the file to create next / being written */
    char path[PATH_MAX];  /* of the current file */
    double last_attempt_s; /* monotonic time of the last create attempt or failure */
    double last_flush_s;
    int dirty;            /* rows appended or drops counted since the last flush */
    uint64_t drops_stored;
    uint64_t ring_full_seen;
    uint64_t done_gen;    /* flush generation served */
    int64_t batch_rows;
    long idle_ns;         /* the next idle sleep (see IDLE_WAIT_MIN_NS) */
    op_batch ops[DXT_MAX_OPS];
    /* the current file's identity, to notice it removed or replaced (reliability) */
    dev_t file_dev;
    ino_t file_ino;
    /* the segments this recorder created (indices k), for compress-at-close */
    int *made, nmade, made_cap;
    int told_taken;       /* "exists: writing ..." said once */
    /* rows appended since the last good flush, per op: lost if the file vanished */
    int64_t unflushed_rows[DXT_MAX_OPS], unflushed_first[DXT_MAX_OPS],
        unflushed_last[DXT_MAX_OPS];
};

/* ---- state ------------------------------------------------------------------- */

int dxtrec_writer_state_new(dxtrec_t *rec)
{
    int n = rec->cfg.world_size, nops = rec->cfg.nops;
    dxtrec_writer_state *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return -1;
    rec->ws = ws;
    size_t row_bytes = sizeof(int64_t) * (2 + (size_t)n * (rec->cfg.record_tokens ? 2 : 1)) +
                       sizeof(double);
    size_t rows = STAGING_BUDGET_BYTES / (row_bytes * (size_t)nops);
    ws->batch_rows = rows < 1 ? 1 : rows > STAGING_MAX_ROWS ? STAGING_MAX_ROWS : (int64_t)rows;
    size_t b = (size_t)ws->batch_rows;
    for (int op = 0; op < nops; op++) {
        op_batch *ob = &ws->ops[op];
        ob->step = malloc(b * sizeof(int64_t));
        ob->time_ns = malloc(b * sizeof(int64_t));
        ob->wait = malloc(b * (size_t)n * sizeof(int64_t));
        ob->tokens = rec->cfg.record_tokens ? malloc(b * (size_t)n * sizeof(int64_t)) : NULL;
        ob->clock_hz = malloc(b * sizeof(double));
        if (!ob->step || !ob->time_ns || !ob->wait || !ob->clock_hz ||
            (rec->cfg.record_tokens && !ob->tokens))
            return -1; /* freed by dxtrec_writer_state_free */
    }
    return 0;
}

void dxtrec_writer_state_free(dxtrec_t *rec)
{
    dxtrec_writer_state *ws = rec->ws;
    if (!ws)
        return;
    for (int op = 0; op < DXT_MAX_OPS; op++) {
        free(ws->ops[op].step);
        free(ws->ops[op].time_ns);
        free(ws->ops[op].wait);
        free(ws->ops[op].tokens);
        free(ws->ops[op].clock_hz);
    }
    free(ws->made);
    free(ws);
    rec->ws = NULL;
}

/* ---- files ------------------------------------------------------------------- */

static double retry_interval_s(dxtrec_t *rec)
{
    return (double)atomic_load(&rec->retry_interval_ms) / 1000.0;
}

/* The name of segment k of this rank: rank-RRRRR.h5, then rank-RRRRR.<k>.h5. */
static void segment_path(const dxtrec_t *rec, int k, char *buf, size_t cap)
{
    if (k == 0)
        snprintf(buf, cap, "%s/rank-%05d.h5", rec->dir, rec->cfg.rank);
    else
        snprintf(buf, cap, "%s/rank-%05d.%d.h5", rec->dir, rec->cfg.rank, k);
}

/* Remember that this recorder created segment k (only those are compressed). */
static int note_made(dxtrec_writer_state *ws, int k)
{
    if (ws->nmade == ws->made_cap) {
        int cap = ws->made_cap ? 2 * ws->made_cap : 8;
        int *grown = realloc(ws->made, (size_t)cap * sizeof *grown);
        if (!grown)
            return -1;
        ws->made = grown;
        ws->made_cap = cap;
    }
    ws->made[ws->nmade++] = k;
    return 0;
}

static void fill_meta(dxtrec_t *rec, dxt_meta *meta)
{
    memset(meta, 0, sizeof(*meta));
    snprintf(meta->run_id, sizeof(meta->run_id), "%s", rec->run_id);
    snprintf(meta->node, sizeof(meta->node), "%s", rec->node);
    snprintf(meta->writer, sizeof(meta->writer), "%s", WRITER_NAME);
    snprintf(meta->gpu_name, sizeof(meta->gpu_name), "%s", rec->gpu_name);
    snprintf(meta->gpu_uuid, sizeof(meta->gpu_uuid), "%s", rec->gpu_uuid);
    meta->rank = rec->cfg.rank;
    meta->world_size = rec->cfg.world_size;
    meta->local_rank = rec->cfg.local_rank;
    meta->clock_hz = rec->cfg.clock_hz;
    meta->created_unix_ns = dxtrec_now_realtime_ns();
}

/* 0 when the current file (ws->path) may grow by bytes and keep the margin;
 * -1 with a sentence in why otherwise. */
static int room_to_grow(dxtrec_t *rec, dxtrec_writer_state *ws, uint64_t bytes, char *why,
                        size_t len)
{
    if (atomic_load(&rec->test_no_space_guard))
        return 0;
    uint64_t need = bytes + (uint64_t)rec->cfg.nops * SPACE_MARGIN_PER_OP + SPACE_MARGIN_FILE;
    struct stat st;
    uint64_t size = stat(ws->path, &st) == 0 ? (uint64_t)st.st_size : 0;
    struct rlimit lim;
    if (getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        size + need > (uint64_t)lim.rlim_cur) {
        snprintf(why, len, "%.400s: file size limit (RLIMIT_FSIZE, %llu bytes) reached", ws->path,
                 (unsigned long long)lim.rlim_cur);
        return -1;
    }
    struct statvfs vfs;
    if (statvfs(rec->dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < need) {
        snprintf(why, len, "%.400s: disk full (%llu bytes free)", ws->path,
                 (unsigned long long)vfs.f_bavail * vfs.f_frsize);
        return -1;
    }
    return 0;
}

/* Create segment ws->file_index, or the next free one: a name that exists
 * (an earlier run's trace, a file someone else put there) is never opened,
 * truncated or replaced; the first time, the recorder says where it went. */
static dxt_writer *create_free_segment(dxtrec_t *rec, dxtrec_writer_state *ws, dxt_error *err)
{
    dxt_meta meta;
    fill_meta(rec, &meta);
    dxt_writer_opts opts = {.chunk_rows = atomic_load(&rec->test_chunk_rows),
                            .has_tokens = rec->cfg.record_tokens,
                            .has_clock_hz = rec->has_clock_hz,
                            .fsync = rec->cfg.fsync};
    dxt_unit unit = rec->cfg.unit == DXTREC_UNIT_NS ? DXT_UNIT_NS : DXT_UNIT_CYCLES;
    dxt_counting counting =
        rec->cfg.counting == DXTREC_DELTA ? DXT_COUNTING_DELTA : DXT_COUNTING_CUMULATIVE;
    char first_taken[PATH_MAX] = "";
    dxt_writer *w = NULL;
    for (int tries = 0; tries < SEGMENT_NAME_TRIES; tries++, ws->file_index++) {
        segment_path(rec, ws->file_index, ws->path, sizeof ws->path);
        pthread_mutex_lock(&hdf5_lock);
        int rc = dxt_writer_create(ws->path, &meta, (const char *const *)rec->op_names,
                                   rec->cfg.nops, unit, counting, &opts, &w, err);
        int taken = rc != 0 && errno == EEXIST;
        if (rc == 0 && dxt_writer_flush(w, err) != 0) {
            dxt_error ignored;
            dxt_writer_close(w, &ignored);
            w = NULL;
        }
        pthread_mutex_unlock(&hdf5_lock);
        if (!taken)
            break;
        if (!first_taken[0])
            snprintf(first_taken, sizeof first_taken, "%s", ws->path);
    }
    if (w && first_taken[0] && !ws->told_taken) {
        ws->told_taken = 1;
        dxtrec_report(rec, DXTREC_SUCCESS, DXTREC_TROUBLE_EXISTING,
                      "%.400s exists (an earlier trace, kept as it is): writing %.400s",
                      first_taken, ws->path);
    }
    return w;
}

static void try_create(dxtrec_t *rec, dxtrec_writer_state *ws)
{
    ws->last_attempt_s = dxtrec_now_mono_s();
    dxt_error err = {{0}};
    int dirfd = dxt_dir_open(rec->dir, 1, &err);
    if (dirfd < 0) {
        dxtrec_report(rec, DXTREC_ERR_IO, DXTREC_TROUBLE_CREATE,
                      "cannot create the trace directory: %s", err.msg);
        return;
    }
    close(dirfd);
    segment_path(rec, ws->file_index, ws->path, sizeof ws->path);
    if (room_to_grow(rec, ws, 0, err.msg, sizeof(err.msg)) != 0) {
        dxtrec_report(rec, DXTREC_ERR_IO, DXTREC_TROUBLE_CREATE, "%s", err.msg);
        return;
    }
    dxt_writer *w = create_free_segment(rec, ws, &err);
    if (!w || note_made(ws, ws->file_index) != 0) {
        if (w) {
            pthread_mutex_lock(&hdf5_lock);
            dxt_writer_close(w, &err);
            pthread_mutex_unlock(&hdf5_lock);
            snprintf(err.msg, sizeof err.msg, "%.400s: out of memory", ws->path);
        }
        dxtrec_report(rec, DXTREC_ERR_IO, DXTREC_TROUBLE_CREATE, "%s", err.msg);
        return;
    }
    ws->file = w;
    ws->dirty = 1; /* store the drop counters at the next flush */
    memset(ws->unflushed_rows, 0, sizeof(ws->unflushed_rows));
    struct stat st;
    if (stat(ws->path, &st) == 0) {
        ws->file_dev = st.st_dev;
        ws->file_ino = st.st_ino;
    }
}

/* 1 when the current file is no longer at its path (its directory or the file
 * was removed or replaced while writing): what is written goes nowhere. */
static int file_vanished(const dxtrec_writer_state *ws)
{
    struct stat st;
    return stat(ws->path, &st) != 0 || st.st_dev != ws->file_dev || st.st_ino != ws->file_ino;
}

/* The rows appended since the last good flush went into a vanished file:
 * count them as dropped, not written. */
static void drop_unflushed(dxtrec_t *rec, dxtrec_writer_state *ws)
{
    for (int op = 0; op < rec->cfg.nops; op++) {
        int64_t n = ws->unflushed_rows[op];
        if (n <= 0)
            continue;
        atomic_fetch_sub(&rec->rows_written, (uint64_t)n);
        dxtrec_count_drops(rec, op, (uint64_t)n, ws->unflushed_first[op],
                           ws->unflushed_last[op]);
        ws->unflushed_rows[op] = 0;
    }
}

/* The current file failed: keep the message, close it, aim at the next name. */
static void file_failed(dxtrec_t *rec, dxtrec_writer_state *ws, const dxt_error *err)
{
    dxtrec_report(rec, DXTREC_ERR_IO, DXTREC_TROUBLE_WRITE,
                  "%s (rows are dropped until a new file can be created)", err->msg);
    dxt_error ignored;
    pthread_mutex_lock(&hdf5_lock);
    dxt_writer_close(ws->file, &ignored);
    pthread_mutex_unlock(&hdf5_lock);
    ws->file = NULL;
    ws->file_index++;
    ws->last_attempt_s = dxtrec_now_mono_s();
}

/* Store the drop counters and flush. */
static dxtrecResult_t flush_file(dxtrec_t *rec, dxtrec_writer_state *ws)
{
    ws->last_flush_s = dxtrec_now_mono_s();
    if (!ws->file)
        return DXTREC_ERR_IO;
    dxt_error err = {{0}};
    if (file_vanished(ws)) {
        drop_unflushed(rec, ws);
        snprintf(err.msg, sizeof(err.msg), "%.400s: file or directory removed while writing",
                 ws->path);
        file_failed(rec, ws, &err);
        return DXTREC_ERR_IO;
    }
    uint64_t dropped_total = atomic_load(&rec->rows_dropped);
    int rc = 0;
    pthread_mutex_lock(&hdf5_lock);
    for (int op = 0; op < rec->cfg.nops && rc == 0; op++) {
        dxtrec_op_drops *d = &rec->drops[op];
        uint64_t count = atomic_load_explicit(&d->count, memory_order_acquire);
        if (count > 0)
            rc = dxt_writer_set_dropped(ws->file, op, (int64_t)count,
                                        atomic_load(&d->first_step), atomic_load(&d->last_step),
                                        &err);
    }
    if (rc == 0)
        rc = dxt_writer_flush(ws->file, &err);
    pthread_mutex_unlock(&hdf5_lock);
    if (rc != 0) {
        file_failed(rec, ws, &err);
        return DXTREC_ERR_IO;
    }
    ws->drops_stored = dropped_total;
    ws->dirty = 0;
    memset(ws->unflushed_rows, 0, sizeof(ws->unflushed_rows));
    return DXTREC_SUCCESS;
}

/* ---- rows -------------------------------------------------------------------- */

/* The current file holds as many chunks as a live file may (format/FORMAT.md,
 * "What a flush never does"): store the counters, close it, go on in the next
 * segment (rank-NNNNN.<k>.h5). Returns 0 with a new file, -1 without. */
static int rotate_file(dxtrec_t *rec, dxtrec_writer_state *ws)
{
    if (flush_file(rec, ws) == DXTREC_SUCCESS) {
        dxt_error err = {{0}};
        pthread_mutex_lock(&hdf5_lock);
        int rc = dxt_writer_close(ws->file, &err);
        pthread_mutex_unlock(&hdf5_lock);
        ws->file = NULL;
        ws->file_index++;
        if (rc != 0)
            dxtrec_report(rec, DXTREC_ERR_IO, DXTREC_TROUBLE_WRITE, "%s", err.msg);
    }
    try_create(rec, ws);
    return ws->file ? 0 : -1;
}

/* Append rows [first, first + n) of op's batch to the current file. */
static int append_rows(dxtrec_t *rec, dxtrec_writer_state *ws, int op, int64_t first, int64_t n,
                       dxt_error *err)
{
    op_batch *b = &ws->ops[op];
    int64_t width = rec->cfg.world_size;
    pthread_mutex_lock(&hdf5_lock);
    int rc = dxt_writer_append(ws->file, op, n, b->step + first, b->time_ns + first,
                               b->wait + first * width,
                               rec->cfg.record_tokens ? b->tokens + first * width : NULL,
                               rec->has_clock_hz ? b->clock_hz + first : NULL, err);
    pthread_mutex_unlock(&hdf5_lock);
    return rc;
}

/* Append op's staged rows (or count them as dropped when there is no file). */
static void append_op(dxtrec_t *rec, dxtrec_writer_state *ws, int op)
{
    op_batch *b = &ws->ops[op];
    int64_t n = b->n, done = 0;
    if (n == 0)
        return;
    b->n = 0;
    ws->dirty = 1;
    dxt_error err = {{0}};
    uint64_t bytes = (uint64_t)n * sizeof(int64_t) *
                     (3 + (uint64_t)rec->cfg.world_size * (rec->cfg.record_tokens ? 2 : 1));
    if (ws->file && room_to_grow(rec, ws, bytes, err.msg, sizeof(err.msg)) != 0)
        file_failed(rec, ws, &err);
    while (ws->file && done < n) {
        int64_t room = dxt_writer_room(ws->file, op), k = n - done < room ? n - done : room;
        if (room <= 0) {
            rotate_file(rec, ws);
            continue;
        }
        if (append_rows(rec, ws, op, done, k, &err) != 0) {
            file_failed(rec, ws, &err);
            break;
        }
        atomic_fetch_add(&rec->rows_written, (uint64_t)k);
        if (ws->unflushed_rows[op] == 0)
            ws->unflushed_first[op] = b->step[done];
        ws->unflushed_rows[op] += k;
        ws->unflushed_last[op] = b->step[done + k - 1];
        done += k;
    }
    if (done < n)
        dxtrec_count_drops(rec, op, (uint64_t)(n - done), b->step[done], b->step[n - 1]);
}

static void stage_row(dxtrec_t *rec, dxtrec_writer_state *ws, dxtrec_slot *slot)
{
    int op = slot->op, n = rec->cfg.world_size;
    op_batch *b = &ws->ops[op];
    if (b->has_last && slot->step <= b->last_step) {
        dxtrec_count_drops(rec, op, 1, slot->step, slot->step);
        dxtrec_report(rec, DXTREC_ERR_DROPPED, DXTREC_TROUBLE_STEP_ORDER,
                      "op '%s': step %lld recorded after step %lld (steps must increase): "
                      "row dropped",
                      rec->op_names[op], (long long)slot->step, (long long)b->last_step);
        return;
    }
    int64_t i = b->n;
    b->step[i] = slot->step;
    b->time_ns[i] = slot->time_ns;
    b->clock_hz[i] = slot->clock_hz;
    memcpy(b->wait + i * n, dxtrec_slot_wait(slot), (size_t)n * sizeof(int64_t));
    if (b->tokens) {
        if (slot->has_tokens)
            memcpy(b->tokens + i * n, dxtrec_slot_tokens(slot, n), (size_t)n * sizeof(int64_t));
        else
            for (int j = 0; j < n; j++)
                b->tokens[i * n + j] = -1;
    }
    b->n = i + 1;
    b->last_step = slot->step;
    b->has_last = 1;
    if (b->n == ws->batch_rows)
        append_op(rec, ws, op);
}

/* Move up to max published rows from the ring to the file. Returns the rows moved. */
static int64_t drain(dxtrec_t *rec, dxtrec_writer_state *ws, int64_t max)
{
    int64_t moved = 0;
    dxtrec_slot *slot;
    while (moved < max && (slot = dxtrec_ring_peek(&rec->ring)) != NULL) {
        stage_row(rec, ws, slot);
        dxtrec_ring_release(&rec->ring, slot);
        moved++;
    }
    for (int op = 0; op < rec->cfg.nops; op++)
        append_op(rec, ws, op);
    long sleep_ns = atomic_load(&rec->test_batch_sleep_ns);
    if (moved > 0 && sleep_ns > 0) {
        struct timespec ts = {sleep_ns / 1000000000L, sleep_ns % 1000000000L};
        nanosleep(&ts, NULL);
    }
    return moved;
}

/* Drain every row claimed before position pos (producers finish a claim quickly). */
static void drain_to(dxtrec_t *rec, dxtrec_writer_state *ws, uint64_t pos)
{
    while (dxtrec_ring_dequeued(&rec->ring) < pos) {
        if (rec->poll_device)
            rec->poll_device(rec);
        if (drain(rec, ws, (int64_t)rec->ring.capacity) == 0)
            sched_yield();
    }
}

/* ---- the thread -------------------------------------------------------------- */

static void note_drops(dxtrec_t *rec, dxtrec_writer_state *ws)
{
    uint64_t full = atomic_load(&rec->rows_ring_full);
    if (full != ws->ring_full_seen) {
        ws->ring_full_seen = full;
        dxtrec_report(rec, DXTREC_ERR_DROPPED, DXTREC_TROUBLE_RING_FULL,
                      "%s: ring full (%llu rows): %llu rows dropped so far", rec->dir,
                      (unsigned long long)rec->ring.capacity, (unsigned long long)full);
    }
    if (atomic_load(&rec->rows_dropped) != ws->drops_stored)
        ws->dirty = 1;
}

static void serve_flush(dxtrec_t *rec, dxtrec_writer_state *ws, uint64_t gen, uint64_t pos)
{
    drain_to(rec, ws, pos);
    note_drops(rec, ws);
    dxtrecResult_t result = flush_file(rec, ws);
    pthread_mutex_lock(&rec->lock);
    ws->done_gen = gen;
    rec->flush_done_gen = gen;
    rec->flush_result = result;
    pthread_cond_broadcast(&rec->wake_callers);
    pthread_mutex_unlock(&rec->lock);
}

/* The next idle sleep after a pass that moved `moved` rows (see IDLE_WAIT_MIN_NS). */
static void adapt_idle(dxtrec_t *rec, dxtrec_writer_state *ws, int64_t moved)
{
    double cap_s = rec->cfg.flush_interval_s / IDLE_FLUSH_FRACTION;
    long cap = cap_s * 1e9 < (double)IDLE_WAIT_MAX_NS ? (long)(cap_s * 1e9) : IDLE_WAIT_MAX_NS;
    if (cap < IDLE_WAIT_MIN_NS)
        cap = IDLE_WAIT_MIN_NS;
    if (moved == 0)
        ws->idle_ns *= 2;
    else if ((uint64_t)moved * IDLE_BUSY_FRACTION > rec->ring.capacity)
        ws->idle_ns /= 2;
    if (ws->idle_ns < IDLE_WAIT_MIN_NS)
        ws->idle_ns = IDLE_WAIT_MIN_NS;
    if (ws->idle_ns > cap)
        ws->idle_ns = cap;
}

/* Sleep ws->idle_ns, less when a periodic flush falls due sooner; a flush
 * request or stop wakes the thread at once. */
static void idle_wait(dxtrec_t *rec, dxtrec_writer_state *ws, double now)
{
    double sleep_s = (double)ws->idle_ns * 1e-9;
    if (ws->dirty) {
        double due = ws->last_flush_s + rec->cfg.flush_interval_s - now;
        if (due < sleep_s)
            sleep_s = due > 0 ? due : 0;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    long ns = (long)(sleep_s * 1e9);
    until.tv_sec += ns / 1000000000L;
    until.tv_nsec += ns % 1000000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&rec->lock);
    if (rec->flush_req_gen == ws->done_gen && !rec->stop)
        pthread_cond_timedwait(&rec->wake_writer, &rec->lock, &until);
    pthread_mutex_unlock(&rec->lock);
}

/* Compress every segment this recorder created (a broken one is reported and left;
 * files of earlier runs are never touched). */
static int compress_segments(dxtrec_t *rec, dxtrec_writer_state *ws)
{
    int failed = 0;
    for (int m = 0; m < ws->nmade; m++) {
        char path[sizeof ws->path];
        segment_path(rec, ws->made[m], path, sizeof path);
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        dxt_error err = {{0}};
        pthread_mutex_lock(&hdf5_lock);
        int rc = dxt_file_compress(path, rec->cfg.compress_level, &err);
        pthread_mutex_unlock(&hdf5_lock);
        if (rc != 0) {
            dxtrec_report(rec, DXTREC_ERR_IO, DXTREC_TROUBLE_COMPRESS, "%s", err.msg);
            failed = 1;
        }
    }
    return failed ? -1 : 0;
}

/* Close: last flush with the counters, close, compress. */
static dxtrecResult_t finish(dxtrec_t *rec, dxtrec_writer_state *ws)
{
    if (!ws->file)
        try_create(rec, ws); /* one last try, so that the drop counters are stored */
    note_drops(rec, ws);
    dxtrecResult_t result = flush_file(rec, ws);
    if (!ws->file)
        return DXTREC_ERR_IO;
    dxt_error err = {{0}};
    pthread_mutex_lock(&hdf5_lock);
    int rc = dxt_writer_close(ws->file, &err);
    pthread_mutex_unlock(&hdf5_lock);
    ws->file = NULL;
    if (rc != 0) {
        dxtrec_report(rec, DXTREC_ERR_IO, DXTREC_TROUBLE_WRITE, "%s", err.msg);
        return DXTREC_ERR_IO;
    }
    if (rec->cfg.compress_level > 0 && compress_segments(rec, ws) != 0)
        return DXTREC_ERR_IO;
    return result;
}

/* One pass of the loop; returns 1 when the thread may stop. */
static int writer_step(dxtrec_t *rec, dxtrec_writer_state *ws, double *stop_deadline)
{
    int pending = rec->poll_device ? rec->poll_device(rec) : 0;
    int64_t moved = drain(rec, ws, (int64_t)rec->ring.capacity);
    double now = dxtrec_now_mono_s();
    if (!ws->file && now >= ws->last_attempt_s + retry_interval_s(rec))
        try_create(rec, ws);
    note_drops(rec, ws);
    pthread_mutex_lock(&rec->lock);
    uint64_t gen = rec->flush_req_gen, pos = rec->flush_req_pos;
    int stop = rec->stop;
    pthread_mutex_unlock(&rec->lock);
    if (gen != ws->done_gen) {
        serve_flush(rec, ws, gen, pos);
        return 0;
    }
    if (ws->dirty && now - ws->last_flush_s >= rec->cfg.flush_interval_s)
        flush_file(rec, ws);
    if (stop) {
        if (*stop_deadline == 0)
            *stop_deadline = now + DXTREC_DEVICE_DRAIN_S;
        if (rec->poll_device) /* again: rows recorded after the first poll, before the stop */
            pending = rec->poll_device(rec);
        int ring_empty = dxtrec_ring_dequeued(&rec->ring) == dxtrec_ring_enqueued(&rec->ring);
        if (ring_empty && (pending <= 0 || now > *stop_deadline))
            return 1;
    }
    adapt_idle(rec, ws, moved);
    /* record_device in use: its pinned pool fills unless polled at the shortest sleep
     * (the step path's ring on the GPU is served by the adaptive sleep) */
    if (atomic_load_explicit(&rec->device_active, memory_order_relaxed))
        ws->idle_ns = IDLE_WAIT_MIN_NS;
    if ((uint64_t)moved * IDLE_BUSY_FRACTION <= rec->ring.capacity)
        idle_wait(rec, ws, now);
    return 0;
}

static void *writer_main(void *arg)
{
    dxtrec_t *rec = arg;
    dxtrec_writer_state *ws = rec->ws;
    try_create(rec, ws);
    ws->last_flush_s = dxtrec_now_mono_s();
    pthread_mutex_lock(&rec->lock);
    rec->open_result = ws->file ? DXTREC_SUCCESS : DXTREC_ERR_IO;
    rec->started = 1;
    pthread_cond_broadcast(&rec->wake_callers);
    pthread_mutex_unlock(&rec->lock);

    double stop_deadline = 0;
    while (!writer_step(rec, ws, &stop_deadline)) {
    }
    if (rec->finish_device)
        rec->finish_device(rec);
    dxtrecResult_t result = finish(rec, ws);
    pthread_mutex_lock(&rec->lock);
    rec->close_result = result;
    rec->flush_done_gen = rec->flush_req_gen;
    rec->flush_result = result;
    pthread_cond_broadcast(&rec->wake_callers);
    pthread_mutex_unlock(&rec->lock);
    return NULL;
}

/* The thread starts with every asynchronous signal blocked: the job's signal
 * handlers run in its own threads, and SIGXFSZ (file size limit) turns into
 * EFBIG from write() instead of killing the job. */
int dxtrec_writer_start(dxtrec_t *rec)
{
    sigset_t all, saved;
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    pthread_sigmask(SIG_BLOCK, &all, &saved);
    int rc = pthread_create(&rec->thread, NULL, writer_main, rec);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    rec->thread_running = 1;
    return 0;
}
