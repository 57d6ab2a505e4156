/* dxtrec.c - libdxtrec's public API (dxtrec.h): config, open, record, flush,
 * close, counters and errors. The file work is done by the writer thread
 * (writer.c); rows travel through the lock-free ring (ring.c).
 *
 * Owner: recorder host path. dxtrec_record_device is defined here only in
 * builds without CUDA; the CUDA build takes it from dxtrec_cuda.c. */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const result_strings[] = {
#define DXTREC_RESULT_STRING(id, msg) msg,
    DXTREC_RESULTS(DXTREC_RESULT_STRING)
#undef DXTREC_RESULT_STRING
};

const char *dxtrec_result_string(dxtrecResult_t result)
{
    if ((int)result < 0 || result >= DXTREC_RESULT_COUNT)
        return "unknown result";
    return result_strings[result];
}

int dxtrec_max_ops(void)
{
    return DXT_MAX_OPS;
}

void dxtrec_config_init(dxtrec_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->local_rank = -1;
    cfg->unit = DXTREC_UNIT_CYCLES;
    cfg->counting = DXTREC_CUMULATIVE;
    cfg->flush_interval_s = 1.0;
    cfg->ring_capacity = 4096;
    cfg->compress_level = 1;
}

int64_t dxtrec_now_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double dxtrec_now_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- errors ------------------------------------------------------------------ */

void dxtrec_report(dxtrec_t *rec, dxtrecResult_t code, dxtrec_trouble kind, const char *fmt, ...)
{
    char msg[sizeof(rec->err_msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&rec->err_lock);
    memcpy(rec->err_msg, msg, sizeof(msg));
    atomic_store(&rec->last_error, (int)code);
    int print = !rec->cfg.quiet && !(rec->reported & (1u << kind));
    rec->reported |= 1u << kind;
    pthread_mutex_unlock(&rec->err_lock);
    if (print)
        fprintf(stderr, "dxtrec: rank %d: %s\n", rec->cfg.rank, msg);
}

dxtrecResult_t dxtrec_last_error(dxtrec_t *rec, char *buf, size_t len)
{
    if (!rec) {
        if (buf && len)
            snprintf(buf, len, "%s", "no recorder");
        return DXTREC_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&rec->err_lock);
    if (buf && len)
        snprintf(buf, len, "%s", rec->err_msg);
    dxtrecResult_t code = (dxtrecResult_t)atomic_load(&rec->last_error);
    pthread_mutex_unlock(&rec->err_lock);
    return code;
}

void dxtrec_get_counters(dxtrec_t *rec, dxtrec_counters *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    if (!rec) {
        out->last_error = DXTREC_ERR_INVALID_ARG;
        return;
    }
    out->rows_recorded = dxtrec_ring_enqueued(&rec->ring);
    out->rows_written = atomic_load(&rec->rows_written);
    out->rows_dropped = atomic_load(&rec->rows_dropped);
    out->last_error = (dxtrecResult_t)atomic_load(&rec->last_error);
}

void dxtrec_internal_set_test_knobs(dxtrec_t *rec, long batch_sleep_ns, long retry_interval_ms)
{
    atomic_store(&rec->test_batch_sleep_ns, batch_sleep_ns);
    atomic_store(&rec->retry_interval_ms, retry_interval_ms);
}

/* ---- the record path: no locks, no allocation ----------------------------------- */

static void atomic_min_i64(_Atomic int64_t *v, int64_t x)
{
    int64_t cur = atomic_load_explicit(v, memory_order_relaxed);
    while (x < cur && !atomic_compare_exchange_weak_explicit(v, &cur, x, memory_order_relaxed,
                                                             memory_order_relaxed)) {
    }
}

static void atomic_max_i64(_Atomic int64_t *v, int64_t x)
{
    int64_t cur = atomic_load_explicit(v, memory_order_relaxed);
    while (x > cur && !atomic_compare_exchange_weak_explicit(v, &cur, x, memory_order_relaxed,
                                                             memory_order_relaxed)) {
    }
}

void dxtrec_count_drops(dxtrec_t *rec, int op, uint64_t n, int64_t first_step, int64_t last_step)
{
    if (n == 0 || op < 0 || op >= rec->cfg.nops)
        return;
    dxtrec_op_drops *d = &rec->drops[op];
    atomic_min_i64(&d->first_step, first_step);
    atomic_max_i64(&d->last_step, last_step);
    atomic_fetch_add_explicit(&d->count, n, memory_order_release);
    atomic_fetch_add_explicit(&rec->rows_dropped, n, memory_order_relaxed);
}

dxtrecResult_t dxtrec_ring_push(dxtrec_t *rec, int op, int64_t step, int64_t time_ns,
                                const int64_t *wait, const int64_t *tokens, double clock_hz)
{
    if ((unsigned)op >= (unsigned)rec->cfg.nops || !wait)
        return DXTREC_ERR_INVALID_ARG;
    uint64_t pos;
    dxtrec_slot *slot = dxtrec_ring_claim(&rec->ring, &pos);
    if (!slot) {
        atomic_fetch_add_explicit(&rec->rows_ring_full, 1, memory_order_relaxed);
        dxtrec_count_drops(rec, op, 1, step, step);
        return DXTREC_ERR_DROPPED;
    }
    int n = rec->ring.world_size;
    slot->op = op;
    slot->step = step;
    slot->time_ns = time_ns;
    slot->clock_hz = clock_hz;
    memcpy(dxtrec_slot_wait(slot), wait, (size_t)n * sizeof(int64_t));
    slot->has_tokens = 0;
    if (rec->ring.has_tokens && tokens) {
        memcpy(dxtrec_slot_tokens(slot, n), tokens, (size_t)n * sizeof(int64_t));
        slot->has_tokens = 1;
    }
    dxtrec_ring_commit(slot, pos);
    dxtrec_ring_prefetch(&rec->ring, pos + 1); /* the next record's slot, while we return */
    return DXTREC_SUCCESS;
}

dxtrecResult_t dxtrec_record(dxtrec_t *rec, int op, int64_t step, const int64_t *wait,
                             const int64_t *tokens)
{
    if (!rec || !wait)
        return DXTREC_ERR_INVALID_ARG;
    if (!atomic_load_explicit(&rec->accepting, memory_order_relaxed))
        return DXTREC_ERR_CLOSED;
    return dxtrec_ring_push(rec, op, step, dxtrec_now_realtime_ns(), wait, tokens, NAN);
}

#ifndef DXT_HAVE_CUDA
/* The device functions of a build without CUDA: said once, loudly (a CUDA
 * tensor handed to such a build would otherwise be lost without a word). */
static dxtrecResult_t no_cuda(dxtrec_t *rec, const char *what)
{
    if (rec)
        dxtrec_report(rec, DXTREC_ERR_NO_CUDA, DXTREC_TROUBLE_DEVICE,
                      "%s: %s: this libdxtrec was built without CUDA (nvcc not found at build "
                      "time): device counters cannot be recorded; rebuild where nvcc is found "
                      "or record host copies with dxtrec_record",
                      rec->dir, what);
    return DXTREC_ERR_NO_CUDA;
}

dxtrecResult_t dxtrec_record_device(dxtrec_t *rec, int op, int64_t step, const int64_t *d_wait,
                                    const int64_t *d_tokens, void *stream)
{
    (void)op, (void)step, (void)d_wait, (void)d_tokens, (void)stream;
    return no_cuda(rec, "dxtrec_record_device");
}

dxtrecResult_t dxtrec_attach_device(dxtrec_t *rec, int op, const int64_t *d_wait,
                                    const int64_t *d_tokens)
{
    (void)op, (void)d_wait, (void)d_tokens;
    return no_cuda(rec, "dxtrec_attach_device");
}

dxtrecResult_t dxtrec_step_device(dxtrec_t *rec, int64_t step, void *stream)
{
    (void)step, (void)stream;
    return no_cuda(rec, "dxtrec_step_device");
}
#endif

/* ---- flush ------------------------------------------------------------------ */

dxtrecResult_t dxtrec_flush(dxtrec_t *rec)
{
    if (!rec)
        return DXTREC_ERR_INVALID_ARG;
    if (!rec->thread_running)
        return DXTREC_ERR_CLOSED;
    pthread_mutex_lock(&rec->lock);
    uint64_t my_gen = ++rec->flush_req_gen;
    rec->flush_req_pos = dxtrec_ring_enqueued(&rec->ring);
    pthread_cond_signal(&rec->wake_writer);
    while (rec->flush_done_gen < my_gen)
        pthread_cond_wait(&rec->wake_callers, &rec->lock);
    dxtrecResult_t result = rec->flush_result;
    pthread_mutex_unlock(&rec->lock);
    return result;
}

/* ---- open and close ------------------------------------------------------------ */

static int op_name_ok(const char *const *ops, int i)
{
    const char *name = ops[i];
    if (!name || !name[0] || strlen(name) >= DXT_OP_NAME_MAX || strchr(name, '/') ||
        strcmp(name, ".") == 0)
        return 0;
    for (int k = 0; k < i; k++)
        if (strcmp(ops[k], name) == 0)
            return 0;
    return 1;
}

static int config_ok(const dxtrec_config *c)
{
    if (!c->dir || !c->dir[0] || !c->run_id || !c->ops)
        return 0;
    if (c->world_size < 1 || c->world_size > DXT_MAX_WORLD || c->rank < 0 ||
        c->rank >= c->world_size || c->nops < 1 || c->nops > DXT_MAX_OPS)
        return 0;
    if ((c->unit != DXTREC_UNIT_CYCLES && c->unit != DXTREC_UNIT_NS) ||
        (c->counting != DXTREC_CUMULATIVE && c->counting != DXTREC_DELTA))
        return 0;
    if (!isfinite(c->clock_hz) || c->clock_hz < 0 || !isfinite(c->flush_interval_s) ||
        c->flush_interval_s < 0 || c->flush_interval_s > 86400.0)
        return 0;
    if (c->ring_capacity < 1 || (unsigned)c->ring_capacity > DXTREC_RING_MAX_CAPACITY ||
        c->compress_level < 0 || c->compress_level > 9 || c->local_rank < -1)
        return 0;
    for (int i = 0; i < c->nops; i++)
        if (!op_name_ok(c->ops, i))
            return 0;
    return 1;
}

static int copy_strings(dxtrec_t *rec, const dxtrec_config *cfg)
{
    char host[DXT_STR_MAX] = "";
    const char *node = cfg->node;
    if (!node) {
        if (gethostname(host, sizeof(host) - 1) != 0)
            host[0] = '\0';
        node = host;
    }
    rec->dir = strdup(cfg->dir);
    rec->run_id = strdup(cfg->run_id);
    rec->node = strdup(node);
    if (!rec->dir || !rec->run_id || !rec->node)
        return -1;
    for (int i = 0; i < cfg->nops; i++) {
        rec->op_names[i] = strdup(cfg->ops[i]);
        if (!rec->op_names[i])
            return -1;
    }
    rec->cfg.dir = rec->dir;
    rec->cfg.run_id = rec->run_id;
    rec->cfg.node = rec->node;
    rec->cfg.ops = (const char *const *)rec->op_names;
    return 0;
}

static void rec_free(dxtrec_t *rec)
{
    if (!rec)
        return;
    dxtrec_writer_state_free(rec);
    dxtrec_ring_free(&rec->ring);
    free(rec->dir);
    free(rec->run_id);
    free(rec->node);
    for (int i = 0; i < DXT_MAX_OPS; i++)
        free(rec->op_names[i]);
    pthread_cond_destroy(&rec->wake_callers);
    pthread_cond_destroy(&rec->wake_writer);
    pthread_mutex_destroy(&rec->lock);
    pthread_mutex_destroy(&rec->err_lock);
    free(rec);
}

/* Everything but the thread: memory, strings, locks. NULL when memory is short. */
static dxtrec_t *rec_alloc(const dxtrec_config *cfg)
{
    /* aligned: the ring positions and counters sit on cache lines of their own */
    size_t size = (sizeof(dxtrec_t) + 63) / 64 * 64;
    dxtrec_t *rec = aligned_alloc(64, size);
    if (!rec)
        return NULL;
    memset(rec, 0, size);
    rec->cfg = *cfg;
    pthread_mutex_init(&rec->err_lock, NULL);
    pthread_mutex_init(&rec->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&rec->wake_writer, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&rec->wake_callers, NULL);
    for (int i = 0; i < DXT_MAX_OPS; i++) {
        atomic_init(&rec->drops[i].count, 0);
        atomic_init(&rec->drops[i].first_step, INT64_MAX);
        atomic_init(&rec->drops[i].last_step, INT64_MIN);
    }
    atomic_init(&rec->retry_interval_ms, DXTREC_DEFAULT_RETRY_MS);
    if (copy_strings(rec, cfg) != 0 ||
        dxtrec_ring_init(&rec->ring, (uint64_t)cfg->ring_capacity, cfg->world_size,
                         cfg->record_tokens) != 0 ||
        dxtrec_writer_state_new(rec) != 0)
        goto fail;
    rec->cfg.ring_capacity = (int)rec->ring.capacity; /* what was allocated (see ring.h) */
    return rec;
fail:
    rec_free(rec);
    return NULL;
}

dxtrecResult_t dxtrec_open(const dxtrec_config *cfg, dxtrec_t **out)
{
    if (!out)
        return DXTREC_ERR_INVALID_ARG;
    *out = NULL;
    if (cfg && !cfg->quiet && (cfg->nops < 1 || cfg->nops > DXT_MAX_OPS))
        fprintf(stderr, "dxtrec: rank %d: dxtrec_open: %d ops: a recorder holds 1 to %d ops (the "
                "trace format's limit, DXT_MAX_OPS); sum layers into fewer ops or open "
                "several recorders\n", cfg->rank, cfg->nops, DXT_MAX_OPS);
    if (!cfg || !config_ok(cfg))
        return DXTREC_ERR_INVALID_ARG;
    dxtrec_t *rec = rec_alloc(cfg);
    if (!rec)
        return DXTREC_ERR_NO_MEMORY;
#ifdef DXT_HAVE_CUDA
    if (dxtrec_device_init(rec) != 0) {
        rec->poll_device = NULL;
        rec->finish_device = NULL;
        rec->has_clock_hz = 0;
    }
#endif
    *out = rec;
    if (dxtrec_writer_start(rec) != 0) {
        dxtrec_report(rec, DXTREC_ERR_THREAD, DXTREC_TROUBLE_THREAD,
                      "%s: could not start the writer thread: %s", rec->dir, strerror(errno));
        return DXTREC_ERR_THREAD;
    }
    pthread_mutex_lock(&rec->lock);
    while (!rec->started)
        pthread_cond_wait(&rec->wake_callers, &rec->lock);
    dxtrecResult_t result = rec->open_result;
    pthread_mutex_unlock(&rec->lock);
    atomic_store(&rec->accepting, 1);
    return result;
}

dxtrecResult_t dxtrec_close(dxtrec_t *rec)
{
    if (!rec)
        return DXTREC_ERR_INVALID_ARG;
    atomic_store(&rec->accepting, 0);
    dxtrecResult_t result = DXTREC_ERR_CLOSED;
    if (rec->thread_running) {
        pthread_mutex_lock(&rec->lock);
        rec->stop = 1;
        pthread_cond_signal(&rec->wake_writer);
        pthread_mutex_unlock(&rec->lock);
        pthread_join(rec->thread, NULL);
        rec->thread_running = 0;
        result = rec->close_result;
    }
#ifdef DXT_HAVE_CUDA
    dxtrec_device_fini(rec);
#endif
    rec_free(rec);
    return result;
}
