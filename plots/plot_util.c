/* plot_util.c - the shared pieces of plots/: script buffer and quoting, error
 * text, palettes, value formatting, finding labels.
 * Owned by the plots engineer (plots/). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot_internal.h"

static const char *const plot_rc_names[] = {
#define DXT_PLOT_RC_STR(id, str) str,
    DXT_PLOT_RESULTS(DXT_PLOT_RC_STR)
#undef DXT_PLOT_RC_STR
};

const char *dxt_plot_rc_str(dxt_plot_rc rc)
{
    if ((int)rc < 0 || rc >= DXT_PLOT_RC_COUNT)
        return "unknown result";
    return plot_rc_names[rc];
}

void dxt_plot_opts_init(dxt_plot_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->unit = "us";
    opts->color_mode = DXT_COLOR_AUTO;
    opts->palette = DXT_PALETTE_HEAT;
}

void pb_free(plot_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int pb_reserve(plot_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown) {
        b->failed = 1;
        return -1;
    }
    b->data = grown;
    b->cap = cap;
    return 0;
}

void pb_printf(plot_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0) {
        b->failed = 1;
        return;
    }
    if (pb_reserve(b, (size_t)need) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)need;
}

void pb_quoted(plot_buf *b, const char *s)
{
    /* gnuplot 5.4's scanner mis-tokenizes '' next to a " in single quotes:
     * quote characters become sprintf('%c', code) pieces joined with '.' */
    int open = 0, pieces = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '\'' || *p == '"') {
            pb_printf(b, "%s%ssprintf('%%c',%d)", open ? "'" : "", pieces ? "." : "", *p);
            open = 0;
            pieces++;
            continue;
        }
        if (!open) {
            pb_printf(b, "%s'", pieces ? "." : "");
            open = 1;
            pieces++;
        }
        char c = (*p < 0x20 || *p == 0x7f) ? ' ' : (char)*p;
        pb_printf(b, "%c", c);
    }
    if (open)
        pb_printf(b, "'");
    if (pieces == 0)
        pb_printf(b, "''");
}

int plot_check_path(const char *path, const char *field, char *err, size_t errlen)
{
    if (!path || !*path) {
        plot_fail(DXT_PLOT_EINVAL, err, errlen, "%s: empty path", field);
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            plot_fail(DXT_PLOT_EINVAL, err, errlen,
                      "%s: path contains a control character (byte 0x%02x)", field, *p);
            return -1;
        }
    }
    return 0;
}

dxt_plot_rc plot_fail(dxt_plot_rc rc, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* The palettes' stops: ColorBrewer's YlOrRd (sequential, lightness
 * monotonic: color-blind safe) and DeepXTrace's green-yellow-red. */
typedef struct palette_stop {
    double at;
    int rgb[3];
} palette_stop;

static const palette_stop heat_stops[] = {
    {0.0, {0xff, 0xff, 0xcc}}, {0.25, {0xfe, 0xd9, 0x76}}, {0.5, {0xfd, 0x8d, 0x3c}},
    {0.75, {0xe3, 0x1a, 0x1c}}, {1.0, {0x80, 0x00, 0x26}},
};
static const palette_stop deepxtrace_stops[] = {
    {0.0, {0x1a, 0x98, 0x50}}, {0.5, {0xfd, 0xd8, 0x35}}, {1.0, {0xd7, 0x30, 0x27}},
};

static const struct {
    const char *name;
    const palette_stop *stops;
    size_t nstops;
    const char *gnuplot;
} palettes[] = {
    {"heat", heat_stops, sizeof heat_stops / sizeof heat_stops[0],
     "(0 '#ffffcc', 0.25 '#fed976', 0.5 '#fd8d3c', 0.75 '#e31a1c', 1 '#800026')"},
    {"deepxtrace", deepxtrace_stops, sizeof deepxtrace_stops / sizeof deepxtrace_stops[0],
     "(0 '#1a9850', 0.5 '#fdd835', 1 '#d73027')"},
};

_Static_assert(sizeof palettes / sizeof palettes[0] == DXT_PALETTE_COUNT,
               "one entry per DXT_PLOT_PALETTES");

static int palette_index(dxt_palette p)
{
    return (int)p >= 0 && p < DXT_PALETTE_COUNT ? (int)p : 0;
}

const char *dxt_palette_str(dxt_palette p) { return palettes[palette_index(p)].name; }

int dxt_palette_from_str(const char *name)
{
    for (int k = 0; name && k < DXT_PALETTE_COUNT; k++)
        if (strcmp(name, palettes[k].name) == 0)
            return k;
    return -1;
}

const char *plot_palette_gnuplot(dxt_palette p) { return palettes[palette_index(p)].gnuplot; }

void plot_palette_rgb(dxt_palette p, double t, int rgb[3])
{
    const palette_stop *stops = palettes[palette_index(p)].stops;
    size_t nstops = palettes[palette_index(p)].nstops, k = 0;
    if (!(t > 0.0))
        t = 0.0;
    if (t > 1.0)
        t = 1.0;
    while (k + 2 < nstops && t > stops[k + 1].at)
        k++;
    double f = (t - stops[k].at) / (stops[k + 1].at - stops[k].at);
    for (int c = 0; c < 3; c++) {
        double a = stops[k].rgb[c], z = stops[k + 1].rgb[c];
        rgb[c] = (int)lround(a + (z - a) * f);
    }
}

int plot_dark_text_on(const int rgb[3])
{
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] > 140;
}

void plot_format_value(double v, char *buf, size_t len)
{
    static const char suffix[] = {'\0', 'k', 'M', 'G', 'T', 'P'};
    if (!isfinite(v)) {
        snprintf(buf, len, "%s", isnan(v) ? "" : "inf");
        return;
    }
    double a = fabs(v);
    size_t k = 0;
    while (a >= 999.5 && k + 1 < sizeof(suffix)) {
        a /= 1000.0;
        v /= 1000.0;
        k++;
    }
    if (k == 0)
        snprintf(buf, len, "%.3g", v);
    else
        snprintf(buf, len, "%.3g%c", v, suffix[k]);
}

int plot_finding_matches(const dxt_finding *f, const char *op)
{
    if (!op)
        return 1;
    return strncmp(f->op, op, sizeof(f->op)) == 0;
}

static const char *const finding_kind_names[] = {
#define DXT_PLOT_KIND_STR(id, str, what) str,
    DXT_FINDING_KINDS(DXT_PLOT_KIND_STR)
#undef DXT_PLOT_KIND_STR
};

void dxt_finding_label(const dxt_finding *f, const dxt_topology *topo, char *buf, size_t len)
{
    const char *kind = ((int)f->kind >= 0 && f->kind < DXT_KIND_COUNT)
                           ? finding_kind_names[f->kind] : "finding";
    switch (f->kind) {
    case DXT_SLOW_PATH:
        snprintf(buf, len, "%s %d->%d", kind, f->src, f->dst);
        break;
    case DXT_SLOW_NODE:
        if (topo && topo->node_names && f->node >= 0 && f->node < topo->nnodes &&
            topo->node_names[f->node])
            snprintf(buf, len, "%s %s (as %s)", kind, topo->node_names[f->node],
                     f->as_source ? "source" : "destination");
        else
            snprintf(buf, len, "%s %d (as %s)", kind, f->node,
                     f->as_source ? "source" : "destination");
        break;
    default:
        snprintf(buf, len, "%s rank %d", kind, f->rank);
        break;
    }
}
