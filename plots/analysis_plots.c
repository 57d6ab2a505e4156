/* analysis_plots.c - dxt-analyze's pictures from an analysis: per op the
 * heatmap of the analyzed range (a->ops[k].total, shown per recorded step) or
 * of --plot-window A:B, one heatmap per finding over its flagged steps (the
 * input streamed again as one window), the timeline (dxt_tracker_series; for
 * an op without findings the mean wait per window, streamed again), and the
 * terminal view. Owned by the plots engineer (plots/). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis.h"
#include "analysis_plots.h"
#include "dxt_format.h"
#include "plot_internal.h"

#define PLOTS_PATH_MAX 4096

void dxt_plots_request_init(dxt_plots_request *req)
{
    memset(req, 0, sizeof *req);
    req->color = -1;
    req->palette = DXT_PALETTE_HEAT;
}

int dxt_plots_parse_window(const char *arg, int64_t *from, int64_t *to, char *err,
                           size_t errlen)
{
    char *end = NULL;
    errno = 0;
    long long a = strtoll(arg, &end, 10);
    if (errno == 0 && end != arg && *end == ':') {
        const char *second = end + 1;
        long long b = strtoll(second, &end, 10);
        if (errno == 0 && end != second && *end == '\0' && a <= b) {
            *from = a;
            *to = b;
            return 0;
        }
    }
    plot_fail(DXT_PLOT_EINVAL, err, errlen,
              "--plot-window wants FIRST:LAST steps with FIRST <= LAST, not '%s'", arg);
    return -1;
}

/* The picture's view of summed waits: per step of the waiting rank (steps: the
 * steps its rows cover, input.h; a row every K steps covers K); NAN for the
 * diagonal, no traffic and ranks without rows (as the classifier). */
static void per_step(int n, const double *wait, const int64_t *steps, double *out)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            size_t k = (size_t)i * n + j;
            out[k] = (i == j || steps[i] <= 0 || wait[k] == 0) ? NAN : wait[k] / (double)steps[i];
        }
}

/* Sum the op's windows over steps from..to (window_steps each; one window when
 * window_steps covers the range) into per-step matrices; each window's
 * per-step matrix also goes to on_window when given (timeline). */
typedef void (*window_fn)(void *user, int64_t first, const double *m, int n);

static int stream_range(dxt_input *in, int op, int64_t from, int64_t to, int64_t window_steps,
                        double *matrix, window_fn on_window, void *user, char *err,
                        size_t errlen)
{
    size_t n = (size_t)in->n;
    double *wait = malloc(n * n * sizeof *wait), *total = calloc(n * n, sizeof *total);
    double *m = on_window ? malloc(n * n * sizeof *m) : NULL;
    int64_t *rows = malloc(n * sizeof *rows), *steps = malloc(n * sizeof *steps);
    int64_t *total_steps = calloc(n, sizeof *total_steps);
    dxt_op_stream *s = NULL;
    dxt_error e = {{0}};
    int rc = -1, got;
    int64_t first, last;
    if (!wait || !total || !rows || !steps || !total_steps || (on_window && !m)) {
        plot_fail(DXT_PLOT_ENOMEM, err, errlen, "out of memory for %zu ranks", n);
        goto fail;
    }
    if (dxt_op_stream_open(in, op, from, to, window_steps, &s, &e) != 0) {
        plot_fail(DXT_PLOT_EIO, err, errlen, "%s", e.msg);
        goto fail;
    }
    while ((got = dxt_op_stream_next_steps(s, &first, &last, wait, NULL, rows, steps, &e)) == 1) {
        for (size_t k = 0; k < n * n; k++)
            total[k] += wait[k];
        for (size_t i = 0; i < n; i++)
            total_steps[i] += steps[i];
        if (on_window) {
            per_step((int)n, wait, steps, m);
            on_window(user, first, m, (int)n);
        }
    }
    if (got < 0) {
        plot_fail(DXT_PLOT_EIO, err, errlen, "%s", e.msg);
        goto fail;
    }
    if (matrix)
        per_step((int)n, total, total_steps, matrix);
    rc = 0;
fail:
    dxt_op_stream_close(s);
    free(wait);
    free(total);
    free(m);
    free(rows);
    free(steps);
    free(total_steps);
    return rc;
}

/* Steps from..to as one window, without overflow (at most INT64_MAX). */
static int64_t span_of(int64_t from, int64_t to)
{
    uint64_t span = (uint64_t)to - (uint64_t)from + 1u;
    return (span == 0 || span > (uint64_t)INT64_MAX) ? INT64_MAX : (int64_t)span;
}

/* A file name piece from an op name: [A-Za-z0-9._-] kept, others '_'. */
static void safe_name(const char *in, char *out, size_t len)
{
    size_t k = 0;
    for (; in[k] && k + 1 < len; k++) {
        char c = in[k];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_';
        out[k] = ok && !(k == 0 && c == '.') ? c : '_';
    }
    out[k] = '\0';
}

typedef struct plots_ctx {
    const dxt_analysis *a;
    const dxt_plots_request *req;
    const dxt_op_result *r;
    char op_file[DXT_OP_NAME_MAX];
    double *matrix;           /* n x n scratch */
    double cb_min, cb_max;    /* --abs-color: the op's color range (its overview's) */
    int pictures, done;       /* progress */
    int written;
    dxt_plot_rc first_rc;
    char first_err[512];
    int no_gnuplot;
} plots_ctx;

/* Remember the first error; a missing gnuplot stops every later PNG. */
static void note(plots_ctx *c, dxt_plot_rc rc, const char *err)
{
    if (rc == DXT_PLOT_OK) {
        c->written++;
        return;
    }
    if (rc == DXT_PLOT_ENOGNUPLOT)
        c->no_gnuplot = 1;
    if (c->first_rc == DXT_PLOT_OK) {
        c->first_rc = rc;
        snprintf(c->first_err, sizeof c->first_err, "%s", err);
    }
}

static void base_opts(const plots_ctx *c, dxt_plot_opts *o, char *unit, size_t unit_len)
{
    dxt_plot_opts_init(o);
    snprintf(unit, unit_len, "%s per step", c->a->in->unit[0] ? c->a->in->unit : "us");
    o->run_id = c->a->in->run_id;
    o->op = c->r->name;
    o->unit = unit;
    o->log_color = c->req->log_color;
    o->relative = !c->req->abs_color;
    o->topo = &c->a->topo;
    o->palette = c->req->palette;
    o->cb_min = c->cb_min;
    o->cb_max = c->cb_max;
}

/* --abs-color: one range for every picture of the op, the finite (positive,
 * on a log scale) min..max of the analyzed range's matrix. */
static void op_color_range(plots_ctx *c, const double *m)
{
    size_t count = (size_t)c->a->in->n * c->a->in->n;
    double lo = INFINITY, hi = -INFINITY;
    c->cb_min = c->cb_max = 0;
    if (!c->req->abs_color)
        return;
    for (size_t k = 0; k < count; k++)
        if (isfinite(m[k]) && !(c->req->log_color && m[k] <= 0)) {
            lo = m[k] < lo ? m[k] : lo;
            hi = m[k] > hi ? m[k] : hi;
        }
    if (isfinite(lo) && hi > lo) {
        c->cb_min = lo;
        c->cb_max = hi;
    }
}

/* One picture more done: progress. */
static void picture_done(plots_ctx *c)
{
    c->done++;
    if (c->req->progress && c->pictures > 0)
        c->req->progress(c->req->progress_user, "plots",
                         (double)c->done / c->pictures < 1 ? (double)c->done / c->pictures : 1);
}

static int make_path(const plots_ctx *c, char *path, const char *suffix)
{
    int len = snprintf(path, PLOTS_PATH_MAX, "%s/%s-%s.png", c->req->dir, c->op_file, suffix);
    return len > 0 && len < PLOTS_PATH_MAX ? 0 : -1;
}

/* The heatmap of the analyzed range (or --plot-window), all findings outlined. */
static void range_heatmap(plots_ctx *c, const dxt_finding *f, int nf)
{
    char path[PLOTS_PATH_MAX], suffix[96], err[512] = "", unit[48];
    dxt_plot_opts o;
    int n = c->a->in->n;
    base_opts(c, &o, unit, sizeof unit);
    o.findings = f;
    o.nfindings = nf;
    o.first_step = c->r->first_step;
    o.last_step = c->r->last_step;
    snprintf(suffix, sizeof suffix, "heatmap");
    if (c->req->have_window) {
        const dxt_input *in = c->a->in;
        o.first_step = c->req->window_from > in->first_step ? c->req->window_from
                                                            : in->first_step;
        o.last_step = c->req->window_to < in->last_step ? c->req->window_to : in->last_step;
        snprintf(suffix, sizeof suffix, "heatmap-steps-%" PRId64 "-%" PRId64, o.first_step,
                 o.last_step);
        if (o.first_step > o.last_step) {
            snprintf(err, sizeof err, "--plot-window %" PRId64 ":%" PRId64 " holds no step "
                     "(the input has steps %" PRId64 "..%" PRId64 ")", c->req->window_from,
                     c->req->window_to, in->first_step, in->last_step);
            note(c, DXT_PLOT_EINVAL, err);
            return;
        }
        if (stream_range(c->a->in, c->r->input_op, o.first_step, o.last_step,
                         span_of(o.first_step, o.last_step), c->matrix, NULL, NULL, err,
                         sizeof err) != 0) {
            note(c, DXT_PLOT_EIO, err);
            return;
        }
    } else {
        per_step(n, c->r->total, c->r->rank_steps, c->matrix);
    }
    if (make_path(c, path, suffix) != 0) {
        note(c, DXT_PLOT_EINVAL, "output path too long");
        return;
    }
    note(c, dxt_plot_heatmap(path, n, c->matrix, &o, err, sizeof err), err);
    picture_done(c);
}

static const char *const kind_file_names[] = {
#define PLOTS_KIND_STR(id, str, what) str,
    DXT_FINDING_KINDS(PLOTS_KIND_STR)
#undef PLOTS_KIND_STR
};

/* One heatmap per finding (the first DXT_PLOTS_FINDING_MAPS), over its
 * flagged steps, that finding outlined. */
static void finding_heatmaps(plots_ctx *c, const dxt_finding *f, int nf)
{
    char path[PLOTS_PATH_MAX], suffix[96], err[512] = "", unit[48];
    dxt_plot_opts o;
    for (int k = 0; k < nf && k < DXT_PLOTS_FINDING_MAPS && !c->no_gnuplot; k++) {
        int64_t from = f[k].first_step, to = f[k].last_step;
        const char *kind = ((int)f[k].kind >= 0 && f[k].kind < DXT_KIND_COUNT)
                               ? kind_file_names[f[k].kind] : "finding";
        if (from > to)
            continue;
        if (stream_range(c->a->in, c->r->input_op, from, to, span_of(from, to), c->matrix,
                         NULL, NULL, err, sizeof err) != 0) {
            note(c, DXT_PLOT_EIO, err);
            continue;
        }
        base_opts(c, &o, unit, sizeof unit);
        o.findings = &f[k];
        o.nfindings = 1;
        o.zoom = &f[k];
        o.first_step = from;
        o.last_step = to;
        snprintf(suffix, sizeof suffix, "finding%d-%s", k + 1, kind);
        if (make_path(c, path, suffix) != 0) {
            note(c, DXT_PLOT_EINVAL, "output path too long");
            return;
        }
        note(c, dxt_plot_heatmap(path, c->a->in->n, c->matrix, &o, err, sizeof err), err);
        picture_done(c);
    }
}

/* Mean wait per window of an op without findings (the flat line). */
typedef struct mean_series {
    int nwin, cap;
    int64_t *steps;
    double *mean;
    int failed;
} mean_series;

static void add_window_mean(void *user, int64_t first, const double *m, int n)
{
    mean_series *s = user;
    double sum = 0;
    size_t count = 0;
    for (size_t k = 0; k < (size_t)n * n; k++)
        if (isfinite(m[k])) {
            sum += m[k];
            count++;
        }
    if (s->failed)
        return;
    if (s->nwin == s->cap) {
        int cap = s->cap ? 2 * s->cap : 128;
        int64_t *steps = realloc(s->steps, (size_t)cap * sizeof *steps);
        if (steps)
            s->steps = steps;
        double *mean = steps ? realloc(s->mean, (size_t)cap * sizeof *mean) : NULL;
        if (!steps || !mean) {
            s->failed = 1;
            return;
        }
        s->mean = mean;
        s->cap = cap;
    }
    s->steps[s->nwin] = first;
    s->mean[s->nwin++] = count ? sum / (double)count : NAN;
}

/* Copies of the tracker's series (its arrays may be reused by the next call). */
typedef struct series_copy {
    dxt_timeline_series s[DXT_TIMELINE_MAX_PANELS];
    char labels[DXT_TIMELINE_MAX_PANELS][200];
    void *blocks[DXT_TIMELINE_MAX_PANELS];
    int count;
} series_copy;

static int copy_series(series_copy *sc, dxt_tracker *t, const dxt_finding *f,
                       const dxt_topology *topo)
{
    const int64_t *steps;
    const double *subject, *peers;
    int nwin = dxt_tracker_series(t, f, &steps, &subject, &peers);
    if (nwin <= 0 || sc->count >= DXT_TIMELINE_MAX_PANELS)
        return 0;
    size_t bytes = (size_t)nwin * (sizeof(int64_t) + 2 * sizeof(double));
    char *block = malloc(bytes);
    if (!block)
        return -1;
    int k = sc->count++;
    sc->blocks[k] = block;
    int64_t *my_steps = (int64_t *)(void *)block;
    double *my_subject = (double *)(void *)(block + (size_t)nwin * sizeof(int64_t));
    double *my_peers = my_subject + nwin;
    memcpy(my_steps, steps, (size_t)nwin * sizeof *steps);
    for (int w = 0; w < nwin; w++) {
        my_subject[w] = subject ? subject[w] : NAN;
        my_peers[w] = peers ? peers[w] : NAN;
    }
    char what[160];
    dxt_finding_label(f, topo, what, sizeof what);
    snprintf(sc->labels[k], sizeof sc->labels[k], "%s: %.1fx expected wait, from step %" PRId64,
             what, f->severity, f->first_step);
    sc->s[k] = (dxt_timeline_series){sc->labels[k], nwin, my_steps, my_subject, my_peers,
                                     f->first_step};
    return 0;
}

static void timeline(plots_ctx *c, const dxt_finding *f, int nf)
{
    char path[PLOTS_PATH_MAX], err[512] = "", unit[64];
    series_copy sc;
    mean_series mean = {0};
    dxt_plot_opts o;
    memset(&sc, 0, sizeof sc);
    base_opts(c, &o, unit, sizeof unit);
    if (make_path(c, path, "timeline") != 0) {
        note(c, DXT_PLOT_EINVAL, "output path too long");
        return;
    }
    for (int k = 0; k < nf && sc.count < DXT_TIMELINE_MAX_PANELS; k++)
        if (copy_series(&sc, c->r->tracker, &f[k], &c->a->topo) != 0) {
            note(c, DXT_PLOT_ENOMEM, "out of memory for the timeline");
            goto done;
        }
    if (sc.count == 0 &&
        stream_range(c->a->in, c->r->input_op, c->a->from, c->a->to, c->a->window_steps, NULL,
                     add_window_mean, &mean, err, sizeof err) != 0) {
        note(c, DXT_PLOT_EIO, err);
        goto done;
    }
    if (mean.failed) {
        note(c, DXT_PLOT_ENOMEM, "out of memory for the timeline");
        goto done;
    }
    /* both the tracker's series and the mean line are per step, one point per window */
    snprintf(unit, sizeof unit, "%s per step, %" PRId64 "-step mean",
             c->a->in->unit[0] ? c->a->in->unit : "us",
             sc.count ? c->a->test_steps : c->a->window_steps);
    dxt_timeline_series overall = {"mean wait", mean.nwin, mean.steps, mean.mean, NULL,
                                   INT64_MIN};
    note(c, dxt_plot_timeline(path, sc.s, sc.count, sc.count ? NULL : &overall, &o, err,
                              sizeof err), err);
    picture_done(c);
done:
    for (int k = 0; k < sc.count; k++)
        free(sc.blocks[k]);
    free(mean.steps);
    free(mean.mean);
}

/* --color: always, never, or auto: on a terminal unless $NO_COLOR is set
 * (no-color.org: to anything but the empty string). */
static int show_colors(int color, FILE *out)
{
    const char *no_color = getenv("NO_COLOR");
    if (color >= 0)
        return color;
    return isatty(fileno(out)) && !(no_color && no_color[0]);
}

/* Pictures one op will get, for the progress. */
static int op_pictures(const dxt_op_result *r, const dxt_plots_request *req)
{
    const dxt_finding *tracked = NULL;
    int nf = r->tracker ? dxt_tracker_findings(r->tracker, &tracked) : 0;
    nf = nf < 0 ? 0 : nf > DXT_PLOTS_FINDING_MAPS ? DXT_PLOTS_FINDING_MAPS : nf;
    return req->dir ? 2 + nf : 0;
}

/* Everything for one op. */
static void op_plots(plots_ctx *c, FILE *show_out)
{
    const dxt_finding *tracked = NULL;
    int nf = c->r->tracker ? dxt_tracker_findings(c->r->tracker, &tracked) : 0;
    dxt_finding *f = nf > 0 ? malloc((size_t)nf * sizeof *f) : NULL;
    char err[512] = "", unit[48];
    if (nf > 0 && !f) {
        note(c, DXT_PLOT_ENOMEM, "out of memory for the findings");
        return;
    }
    if (nf > 0)
        memcpy(f, tracked, (size_t)nf * sizeof *f);
    nf = nf > 0 ? nf : 0;
    safe_name(c->r->name, c->op_file, sizeof c->op_file);
    per_step(c->a->in->n, c->r->total, c->r->rank_steps, c->matrix);
    op_color_range(c, c->matrix); /* before any picture of the op */
    if (c->req->show && show_out) {
        dxt_plot_opts o;
        base_opts(c, &o, unit, sizeof unit);
        o.findings = f;
        o.nfindings = nf;
        o.first_step = c->r->first_step;
        o.last_step = c->r->last_step;
        o.plain = !show_colors(c->req->color, show_out);
        dxt_plot_rc rc = dxt_show_heatmap(show_out, c->a->in->n, c->matrix, &o, err, sizeof err);
        if (rc != DXT_PLOT_OK)
            note(c, rc, err);
        else
            fputc('\n', show_out);
    }
    if (c->req->dir && !c->no_gnuplot)
        range_heatmap(c, f, nf);
    if (c->req->dir && !c->no_gnuplot)
        finding_heatmaps(c, f, nf);
    if (c->req->dir && !c->no_gnuplot && c->r->tracker)
        timeline(c, f, nf);
    free(f);
}

dxt_plot_rc dxt_plots_run(const dxt_analysis *a, const dxt_plots_request *req, FILE *show_out,
                          int *written, char *err, size_t errlen)
{
    plots_ctx c;
    memset(&c, 0, sizeof c);
    c.a = a;
    c.req = req;
    if (written)
        *written = 0;
    if (!a || !req || !a->in || a->in->n < 1)
        return plot_fail(DXT_PLOT_EINVAL, err, errlen, "no analysis");
    if (req->dir) { /* created without following a planted link (format/fmt_safefile.c) */
        dxt_error e = {{0}};
        int dirfd = dxt_dir_open(req->dir, 1, &e);
        if (dirfd < 0)
            return plot_fail(DXT_PLOT_EIO, err, errlen, "%s", e.msg);
        close(dirfd);
    }
    c.matrix = malloc((size_t)a->in->n * a->in->n * sizeof *c.matrix);
    if (!c.matrix)
        return plot_fail(DXT_PLOT_ENOMEM, err, errlen, "out of memory for %d ranks",
                         a->in->n);
    for (int k = 0; k < a->nops; k++)
        if (a->ops[k].total && a->ops[k].rank_rows && a->ops[k].windows > 0)
            c.pictures += op_pictures(&a->ops[k], req);
    for (int k = 0; k < a->nops; k++) {
        c.r = &a->ops[k];
        if (!c.r->total || !c.r->rank_rows || c.r->windows == 0)
            continue;
        op_plots(&c, show_out);
    }
    free(c.matrix);
    if (written)
        *written = c.written;
    if (c.first_rc != DXT_PLOT_OK)
        plot_fail(c.first_rc, err, errlen, "%s", c.first_err);
    return c.first_rc;
}
