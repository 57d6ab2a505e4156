/* bench_plots.c - plots/ benchmark (make bench): wall time of one heatmap PNG
 * (gnuplot pngcairo, binary float32 through a pipe) for N = 16, 128, 1024
 * with node lines and one outlined finding (median of REPS), a 4-panel
 * timeline of 100 windows, and the terminal view of N = 1024.
 *   bench_plots [--quick]
 * Target: under 2 s for one N = 1024 heatmap. Owner: the plots engineer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "plots.h"

#define REPS 3
#define MAX_N 1024
#define WINDOWS 100

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void fill_matrix(double *m, int n)
{
    unsigned seed = 1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            seed = seed * 1103515245u + 12345u;
            double v = 100.0 + 20.0 * ((seed >> 16) & 0x7fff) / 32768.0 + (i / 8 != j / 8) * 30;
            m[(size_t)i * n + j] = i == j ? NAN : (j == 3 ? 3 * v : v);
        }
}

/* Median seconds of reps heatmaps of n ranks; -1 on failure. */
static double bench_heatmap(const char *dir, int n, int reps, double *m, int *node_of)
{
    char path[256], err[512];
    double t[REPS];
    dxt_topology topo = {n, (n + 7) / 8, node_of, NULL};
    dxt_finding f;
    dxt_plot_opts o;
    memset(&f, 0, sizeof f);
    f.kind = DXT_SLOW_SOURCE;
    snprintf(f.op, sizeof f.op, "dispatch");
    f.rank = 3;
    dxt_plot_opts_init(&o);
    o.run_id = "bench";
    o.op = "dispatch";
    o.topo = &topo;
    o.findings = &f;
    o.nfindings = 1;
    fill_matrix(m, n);
    snprintf(path, sizeof path, "%s/heatmap-%d.png", dir, n);
    for (int r = 0; r < reps; r++) {
        double start = now_s();
        if (dxt_plot_heatmap(path, n, m, &o, err, sizeof err) != DXT_PLOT_OK) {
            fprintf(stderr, "bench_plots: %s\n", err);
            return -1;
        }
        t[r] = now_s() - start;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    return t[reps / 2];
}

static double bench_timeline(const char *dir)
{
    char path[256], err[512];
    int64_t steps[WINDOWS];
    double subject[WINDOWS], peers[WINDOWS];
    dxt_timeline_series s[4];
    dxt_plot_opts o;
    for (int w = 0; w < WINDOWS; w++) {
        steps[w] = 100 * w;
        peers[w] = 100 + (w % 7);
        subject[w] = w < 60 ? 101 + (w % 5) : 300 + (w % 3);
    }
    for (int k = 0; k < 4; k++)
        s[k] = (dxt_timeline_series){"subject", WINDOWS, steps, subject, peers, 6000};
    dxt_plot_opts_init(&o);
    snprintf(path, sizeof path, "%s/timeline.png", dir);
    double start = now_s();
    if (dxt_plot_timeline(path, s, 4, NULL, &o, err, sizeof err) != DXT_PLOT_OK) {
        fprintf(stderr, "bench_plots: %s\n", err);
        return -1;
    }
    return now_s() - start;
}

static double bench_show(double *m, int *node_of)
{
    char err[256];
    dxt_topology topo = {MAX_N, MAX_N / 8, node_of, NULL};
    dxt_plot_opts o;
    dxt_plot_opts_init(&o);
    o.topo = &topo;
    o.term_width = 160;
    FILE *null = fopen("/dev/null", "w");
    if (!null)
        return -1;
    fill_matrix(m, MAX_N);
    double start = now_s();
    dxt_plot_rc rc = dxt_show_heatmap(null, MAX_N, m, &o, err, sizeof err);
    double took = now_s() - start;
    fclose(null);
    return rc == DXT_PLOT_OK ? took : -1;
}

int main(int argc, char **argv)
{
    static const int sizes[] = {16, 128, 1024};
    int reps = (argc > 1 && strcmp(argv[1], "--quick") == 0) ? 1 : REPS, status = 0;
    char dir[] = "/tmp/dxt-bench-plots-XXXXXX";
    double *m = malloc((size_t)MAX_N * MAX_N * sizeof *m);
    int *node_of = malloc(MAX_N * sizeof *node_of);
    if (!m || !node_of || !mkdtemp(dir)) {
        fprintf(stderr, "bench_plots: out of memory or no temporary directory\n");
        free(m);
        free(node_of);
        return 1;
    }
    for (int i = 0; i < MAX_N; i++)
        node_of[i] = i / 8;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        dxt_heatmap_layout l;
        dxt_heatmap_layout_for(sizes[k], NULL, &l);
        double t = bench_heatmap(dir, sizes[k], reps, m, node_of);
        status |= t < 0;
        printf("heatmap N=%-5d %4dx%-4d px  %6.3f s%s\n", sizes[k], l.width, l.height, t,
               sizes[k] == MAX_N ? (t < 2.0 ? "  (target < 2 s: ok)" : "  (target < 2 s: MISSED)")
                                 : "");
    }
    double t = bench_timeline(dir);
    status |= t < 0;
    printf("timeline 4 panels x %d windows  %6.3f s\n", WINDOWS, t);
    t = bench_show(m, node_of);
    status |= t < 0;
    printf("terminal view N=%d (160 columns)  %6.3f s\n", MAX_N, t);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        status = 1;
    free(m);
    free(node_of);
    return status;
}
