/* report_csv.c - dxt-analyze --format csv: the findings, one per line, and
 * with --matrices the per-window matrices (one line per cell, long format),
 * so that pandas, R and spreadsheets read results without our code. RFC 4180:
 * a header line, fields quoted when they hold a comma, quote or line break;
 * numbers with 17 significant digits (no precision lost), empty for none.
 * Owner: the users engineer (command lines, number formatting). */
#include "report.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One text field, quoted when it needs to be. */
static void csv_text(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

/* A number with every digit a double holds; empty for NAN or infinities. */
static void csv_real(FILE *out, double v)
{
    if (isfinite(v))
        fprintf(out, "%.17g", v);
}

static void csv_int(FILE *out, int64_t v, int present)
{
    if (present)
        fprintf(out, "%" PRId64, v);
}

static void finding_line(FILE *out, const dxt_analysis *a, const dxt_finding *f)
{
    int by_rank = f->kind != DXT_SLOW_PATH && f->kind != DXT_SLOW_NODE;
    int node = f->kind == DXT_SLOW_NODE && f->node >= 0 && f->node < a->topo.nnodes;
    csv_text(out, dxt_kind_str(f->kind));
    fputc(',', out);
    csv_text(out, f->op);
    fputc(',', out);
    csv_int(out, f->rank, by_rank);
    fputc(',', out);
    csv_int(out, f->src, f->kind == DXT_SLOW_PATH);
    fputc(',', out);
    csv_int(out, f->dst, f->kind == DXT_SLOW_PATH);
    fputc(',', out);
    if (node)
        csv_text(out, a->topo.node_names[f->node]);
    fprintf(out, ",%s,%" PRId64 ",%" PRId64 ",", f->kind == DXT_SLOW_NODE
            ? (f->as_source ? "source" : "destination") : "", f->first_step, f->last_step);
    csv_real(out, f->severity);
    fputc(',', out);
    csv_real(out, f->score);
    fputc(',', out);
    csv_real(out, f->share);
    fputc(',', out);
    csv_real(out, f->excess);
    fprintf(out, ",%s,%d,%d\n", f->persistent ? "true" : "false", f->windows_flagged,
            f->windows_seen);
}

int dxt_report_csv(FILE *out, const dxt_analysis *a)
{
    const dxt_finding **fs = NULL;
    int count = dxt_ranked_findings(a, &fs);
    if (count < 0)
        return -1;
    fputs("kind,op,rank,src,dst,node,as,first_step,last_step,severity,score,share,excess,"
          "persistent,windows_flagged,windows_seen\n", out);
    for (int m = 0; m < count; m++)
        finding_line(out, a, fs[m]);
    free(fs);
    return ferror(out) ? -1 : 0;
}

/* Every window of one op as lines op,first_step,last_step,i,j,wait_per_step
 * (the wait of rank i for rank j per step its rows cover: a row every K steps
 * covers K; empty when i had no rows or no wait for j; the diagonal left out). */
static int op_matrices(FILE *out, const dxt_analysis *a, const dxt_op_result *r, double *wait,
                       int64_t *rows, int64_t *steps)
{
    dxt_op_stream *s = NULL;
    dxt_error e = {{0}};
    int64_t first, last;
    int got, n = a->in->n;
    if (dxt_op_stream_open(a->in, r->input_op, a->from, a->to, a->window_steps, &s, &e) != 0) {
        fprintf(stderr, "dxt-analyze: %s\n", e.msg);
        return -1;
    }
    while ((got = dxt_op_stream_next_steps(s, &first, &last, wait, NULL, rows, steps, &e)) ==
               1 &&
           !ferror(out))
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double w = wait[(size_t)i * n + j];
                if (i == j)
                    continue;
                csv_text(out, r->name);
                fprintf(out, ",%" PRId64 ",%" PRId64 ",%d,%d,", first, last, i, j);
                if (rows[i] > 0 && steps[i] > 0 && w != 0)
                    csv_real(out, w / (double)steps[i]);
                fputc('\n', out);
            }
    if (got < 0)
        fprintf(stderr, "dxt-analyze: %s\n", e.msg);
    dxt_op_stream_close(s);
    return got < 0 || ferror(out) ? -1 : 0;
}

int dxt_report_csv_matrices(FILE *out, const dxt_analysis *a)
{
    size_t n = (size_t)a->in->n;
    double *wait = malloc(n * n * sizeof *wait);
    int64_t *rows = malloc(n * sizeof *rows), *steps = malloc(n * sizeof *steps);
    int rc = wait && rows && steps ? 0 : -1;
    if (rc == 0)
        fputs("op,first_step,last_step,i,j,wait_per_step\n", out);
    for (int k = 0; rc == 0 && k < a->nops; k++)
        rc = op_matrices(out, a, &a->ops[k], wait, rows, steps);
    free(wait);
    free(rows);
    free(steps);
    return rc;
}
