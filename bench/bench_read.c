/* bench_read.c - the reading side of the analysis benchmark (issue 15), run by
 * scripts/bench_analyze.sh on a trace it made (scripts/bench.sh skips it):
 *   bench_read floor TRACE    the floor: every wait and tokens dataset of every
 *                             file read once with plain H5Dread (dxt_reader_read,
 *                             whole chunks), one thread; prints floor_s, bytes
 *   bench_read stages TRACE   dxt-analyze's work in one process, timed by stage:
 *                             open (list, validate), read (HDF5 calls and pread),
 *                             decode (inflate + unshuffle), sums (deltas and window
 *                             sums): CPU seconds of all threads; wait (the wall time
 *                             in the window streams), classify (the rest of the
 *                             analysis), report (JSON to /dev/null), total; resident
 *                             memory after the open and at the end, and their peaks
 * Output: "key value" lines. DXT_THREADS sets the decoding threads.
 * Owner: the performance engineer (issue 15). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dxtanalysis.h"
#include "load_trace.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The process's resident memory now and at its peak so far, MiB (0 when unknown). */
static void rss_mib(double *now, double *peak)
{
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    *now = *peak = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
            *now = (double)kb / 1024.0;
        else if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
            *peak = (double)kb / 1024.0;
    }
    if (f)
        fclose(f);
}

/* Read wait and tokens of every op of one file, in blocks of whole chunks. */
static int read_file(const char *path, void *buf, size_t cap, double *bytes)
{
    dxt_reader *r = NULL;
    dxt_error err;
    if (dxt_reader_open(path, &r, &err) < 0) {
        fprintf(stderr, "bench_read: %s\n", err.msg);
        return -1;
    }
    int64_t n = dxt_reader_meta(r)->world_size;
    int rc = 0;
    for (int op = 0; op < dxt_reader_op_count(r) && rc == 0; op++) {
        const dxt_op_info *o = dxt_reader_op(r, op);
        dxt_chunk_layout lay;
        int64_t block = (int64_t)(cap / ((size_t)n * 8));
        if (dxt_reader_chunk_layout(r, op, DXT_D_WAIT, &lay, &err) == 0 && lay.usable &&
            block > lay.chunk_rows)
            block -= block % lay.chunk_rows;
        for (int64_t first = 0; first < o->rows && rc == 0; first += block) {
            int64_t got = dxt_reader_read(r, op, first, block, NULL, NULL, buf, NULL, NULL, &err);
            if (got > 0 && o->has_tokens)
                got = dxt_reader_read(r, op, first, block, NULL, NULL, NULL, buf, NULL, &err);
            if (got <= 0) {
                fprintf(stderr, "bench_read: %s\n", err.msg);
                rc = -1;
            }
            *bytes += (double)got * (double)n * 8 * (o->has_tokens ? 2 : 1);
        }
    }
    dxt_reader_close(r);
    return rc;
}

static int floor_main(const char *dir)
{
    DIR *d = opendir(dir);
    size_t cap = 16u << 20;
    void *buf = malloc(cap);
    double bytes = 0, t0 = now_s();
    int nfiles = 0, rc = 0;
    if (!d || !buf) {
        fprintf(stderr, "bench_read: %s: cannot read directory\n", dir);
        free(buf);
        if (d)
            closedir(d);
        return 1;
    }
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 3 || strcmp(e->d_name + len - 3, ".h5") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        rc = read_file(path, buf, cap, &bytes);
        nfiles++;
    }
    closedir(d);
    free(buf);
    if (rc != 0)
        return 1;
    printf("floor_s %.3f\nfloor_files %d\nfloor_raw_bytes %.0f\n", now_s() - t0, nfiles, bytes);
    return 0;
}

static int stages_main(const char *dir)
{
    dxt_input_opts iopts;
    dxt_analysis_opts aopts;
    dxt_input *in = NULL;
    dxt_analysis *a = NULL;
    dxt_error err;
    dxt_load_times lt;
    int rc = 1;
    dxt_input_opts_init(&iopts);
    dxt_analysis_opts_init(&aopts);
    double t0 = now_s();
    if (dxt_input_open(dir, &iopts, &in, &err) != 0)
        goto fail;
    double t1 = now_s(), open_rss, open_peak;
    rss_mib(&open_rss, &open_peak);
    if (dxt_analysis_run(in, &aopts, &a, &err) != 0)
        goto fail;
    double t2 = now_s();
    FILE *null = fopen("/dev/null", "w");
    if (!null || dxt_report_json(null, a) != 0) {
        snprintf(err.msg, sizeof err.msg, "the JSON report failed");
        if (null)
            fclose(null);
        goto fail;
    }
    fclose(null);
    double t3 = now_s(), rss, peak;
    rss_mib(&rss, &peak);
    dxt_trace_load_times(in, &lt);
    printf("threads %d\nopen_s %.3f\nread_s %.3f\ndecode_cpu_s %.3f\nwait_s %.3f\n"
           "sums_s %.3f\nclassify_s %.3f\nreport_s %.3f\ntotal_s %.3f\n",
           lt.threads, t1 - t0, lt.read_s, lt.decode_s, lt.wait_s, lt.sums_s,
           (t2 - t1) - lt.wait_s, t3 - t2, t3 - t0);
    printf("open_rss_mib %.0f\nopen_peak_mib %.0f\nend_rss_mib %.0f\npeak_mib %.0f\n", open_rss,
           open_peak, rss, peak);
    rc = 0;
fail:
    if (rc != 0)
        fprintf(stderr, "bench_read: %s\n", err.msg);
    dxt_analysis_free(a);
    dxt_input_free(in);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "floor") == 0)
        return floor_main(argv[2]);
    if (argc == 3 && strcmp(argv[1], "stages") == 0)
        return stages_main(argv[2]);
    fprintf(stderr, "usage: bench_read floor|stages TRACE_DIR (scripts/bench_analyze.sh runs it)\n");
    return 2;
}
