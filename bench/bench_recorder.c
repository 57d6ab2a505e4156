/* bench_recorder.c - libdxtrec benchmark (make bench): for N = 16, 256, 1024
 * the cost of one dxtrec_record call while the writer runs (median, p99),
 * the writer's sustained throughput (rows/s, file uncompressed while
 * writing), and the bytes per row on disk after close (compressed) against
 * the raw 8*N bytes of a wait row.
 *   bench_recorder [--quick] [--level L]   (L: compress_level at close, default 1)
 * Rows are realistic: cumulative waits whose per-step increments are noisy
 * around a per-column mean (one column of a slow peer three times higher).
 * Owner: recorder host path. */
#include <ftw.h>
#include <getopt.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dxtrec.h"

enum { BATCH = 16 };

typedef struct row_gen {
    int n;
    uint64_t rng;
    int64_t *mean, *cum;
} row_gen;

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int gen_init(row_gen *g, int n)
{
    g->n = n;
    g->rng = 0x9e3779b97f4a7c15ULL;
    g->mean = malloc((size_t)n * sizeof(int64_t));
    g->cum = calloc((size_t)n, sizeof(int64_t));
    if (!g->mean || !g->cum)
        return -1;
    for (int j = 0; j < n; j++) /* ~10 us at 1.8 GHz, +-50 % between peers */
        g->mean[j] = 18000 + (int64_t)(next_rand(&g->rng) % 18000) - 9000;
    g->mean[n / 3] *= 3; /* a slow peer */
    return 0;
}

/* Next cumulative row: each increment is its column's mean +- 25 %. */
static void gen_next(row_gen *g, int64_t *out)
{
    for (int j = 0; j < g->n; j++) {
        int64_t spread = g->mean[j] / 2;
        int64_t noise = (int64_t)(next_rand(&g->rng) % (uint64_t)(spread + 1)) - spread / 2;
        g->cum[j] += g->mean[j] + noise;
        out[j] = g->cum[j];
    }
}

static void gen_free(row_gen *g)
{
    free(g->mean);
    free(g->cum);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    int i = (int)(p * (n - 1) + 0.5);
    return v[i];
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static const char *const bench_ops[] = {"dispatch"};

static dxtrec_t *open_recorder(const char *dir, int n, int compress_level)
{
    dxtrec_config cfg;
    dxtrec_config_init(&cfg);
    cfg.dir = dir;
    cfg.world_size = n;
    cfg.run_id = "bench";
    cfg.ops = bench_ops;
    cfg.nops = 1;
    cfg.compress_level = compress_level;
    dxtrec_t *rec = NULL;
    if (dxtrec_open(&cfg, &rec) != DXTREC_SUCCESS) {
        fprintf(stderr, "bench_recorder: cannot open a recorder in %s\n", dir);
        dxtrec_close(rec);
        return NULL;
    }
    return rec;
}

/* Wait until the writer has caught up to within `lag` rows (keeps the ring from filling). */
static void pace(dxtrec_t *rec, uint64_t lag)
{
    dxtrec_counters c;
    for (;;) {
        dxtrec_get_counters(rec, &c);
        if (c.rows_recorded - c.rows_written - c.rows_dropped <= lag)
            return;
        sched_yield();
    }
}

typedef struct cost_result {
    double batch_med, batch_p99;   /* ns per call, averaged over BATCH calls */
    double single_med, single_p99; /* ns per call, timed alone, clock overhead removed */
    uint64_t dropped;
} cost_result;

static double clock_overhead_ns(void)
{
    enum { K = 10001 };
    static double d[K];
    for (int i = 0; i < K; i++) {
        int64_t t0 = now_ns(), t1 = now_ns();
        d[i] = (double)(t1 - t0);
    }
    return percentile(d, K, 0.5);
}

static int record_cost(const char *dir, int n, int nbatches, cost_result *res)
{
    dxtrec_t *rec = open_recorder(dir, n, 0);
    row_gen g;
    int64_t *rows = malloc((size_t)BATCH * n * sizeof(int64_t));
    double *batch = malloc((size_t)nbatches * sizeof(double));
    double *single = malloc((size_t)nbatches * BATCH * sizeof(double));
    int rc = -1, nb = 0, ns = 0;
    if (!rec || gen_init(&g, n) != 0 || !rows || !batch || !single)
        goto fail;
    double overhead = clock_overhead_ns();
    memset(res, 0, sizeof(*res));
    int64_t step = 0;
    for (int b = 0; b < nbatches; b++) {
        pace(rec, 1024);
        for (int k = 0; k < BATCH; k++)
            gen_next(&g, rows + (size_t)k * n);
        if (b % 2 == 0) {
            int64_t t0 = now_ns();
            for (int k = 0; k < BATCH; k++)
                res->dropped += dxtrec_record(rec, 0, step++, rows + (size_t)k * n, NULL) != 0;
            batch[nb++] = (double)(now_ns() - t0) / BATCH;
        } else {
            for (int k = 0; k < BATCH; k++) {
                int64_t t0 = now_ns();
                res->dropped += dxtrec_record(rec, 0, step++, rows + (size_t)k * n, NULL) != 0;
                single[ns++] = (double)(now_ns() - t0) - overhead;
            }
        }
    }
    res->batch_med = percentile(batch, nb, 0.5);
    res->batch_p99 = percentile(batch, nb, 0.99);
    res->single_med = percentile(single, ns, 0.5);
    res->single_p99 = percentile(single, ns, 0.99);
    rc = 0;
fail:
    if (rec)
        dxtrec_close(rec);
    if (rc == 0 || rows)
        gen_free(&g);
    free(rows);
    free(batch);
    free(single);
    return rc;
}

typedef struct write_result {
    double rows_per_s, close_s, bytes_per_row, raw_per_row;
} write_result;

static int compress_level = 1;

static int write_rate(const char *dir, int n, int64_t nrows, write_result *res)
{
    dxtrec_t *rec = open_recorder(dir, n, compress_level);
    row_gen g;
    int64_t *row = malloc((size_t)n * sizeof(int64_t));
    int rc = -1;
    if (!rec || gen_init(&g, n) != 0 || !row)
        goto fail;
    double t0 = now_s();
    for (int64_t s = 0; s < nrows; s++) {
        gen_next(&g, row);
        pace(rec, 3000);
        if (dxtrec_record(rec, 0, s, row, NULL) != DXTREC_SUCCESS)
            goto fail;
    }
    if (dxtrec_flush(rec) != DXTREC_SUCCESS)
        goto fail;
    double t1 = now_s();
    res->rows_per_s = (double)nrows / (t1 - t0);
    dxtrecResult_t closed = dxtrec_close(rec);
    rec = NULL;
    res->close_s = now_s() - t1;
    char path[700];
    snprintf(path, sizeof(path), "%.600s/rank-00000.h5", dir);
    struct stat st;
    if (closed != DXTREC_SUCCESS || stat(path, &st) != 0)
        goto fail;
    res->bytes_per_row = (double)st.st_size / (double)nrows;
    res->raw_per_row = 8.0 * n;
    rc = 0;
fail:
    if (rec)
        dxtrec_close(rec);
    gen_free(&g);
    free(row);
    return rc;
}

static int bench_one(const char *tmp, int n, int quick)
{
    char dir[600];
    snprintf(dir, sizeof(dir), "%.500s/n%d", tmp, n);
    cost_result cost;
    write_result wr;
    int64_t rows = n <= 16 ? 200000 : n <= 256 ? 60000 : 20000;
    if (quick)
        rows /= 10;
    int rc = record_cost(dir, n, quick ? 400 : 4000, &cost);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (rc == 0)
        rc = write_rate(dir, n, rows, &wr);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (rc != 0) {
        fprintf(stderr, "bench_recorder: N=%d failed\n", n);
        return -1;
    }
    printf("N=%-5d record: median %5.0f ns, p99 %5.0f ns (batches of %d); alone: median %5.0f "
           "ns, p99 %5.0f ns; %llu dropped\n",
           n, cost.batch_med, cost.batch_p99, BATCH, cost.single_med, cost.single_p99,
           (unsigned long long)cost.dropped);
    printf("N=%-5d writer: %8.0f rows/s (%.1f MB/s); file %.0f B/row after close vs %.0f raw "
           "(%.1f %%), close+compress %.2f s for %lld rows\n",
           n, wr.rows_per_s, wr.rows_per_s * wr.raw_per_row / 1e6, wr.bytes_per_row,
           wr.raw_per_row, 100.0 * wr.bytes_per_row / wr.raw_per_row, wr.close_s,
           (long long)rows);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"quick", no_argument, NULL, 'q'},
                                             {"level", required_argument, NULL, 'l'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int quick = 0, c;
    while ((c = getopt_long(argc, argv, "ql:h", longopts, NULL)) != -1) {
        if (c == 'q') {
            quick = 1;
        } else if (c == 'l' && atoi(optarg) >= 0 && atoi(optarg) <= 9) {
            compress_level = atoi(optarg);
        } else {
            fprintf(stderr, "usage: bench_recorder [--quick] [--level 0-9]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%.400s/dxtrec-bench-XXXXXX", base);
    if (!mkdtemp(tmp)) {
        perror("bench_recorder: mkdtemp");
        return 1;
    }
    static const int sizes[] = {16, 256, 1024};
    int status = 0;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        if (bench_one(tmp, sizes[i], quick) != 0)
            status = 1;
    nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return status;
}
