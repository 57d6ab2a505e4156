/* term_view.c - the heatmap in a terminal: ANSI background colors (256-color
 * cube or truecolor), one character cell per rank pair (two for square-ish
 * cells when they fit), blocks of ranks shown by their mean when n is wider
 * than the terminal; flagged rows marked at the right ('<'), flagged columns
 * below ('^'), flagged cells with 'X'; then a legend.
 * Owned by the plots engineer (plots/). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "plot_internal.h"

#define TERM_DEFAULT_COLUMNS 80
#define TERM_MIN_COLUMNS 20
#define TERM_MAX_COLUMNS 1000

/* How the matrix maps onto the screen. */
typedef struct term_grid {
    int n, group, cells, cell_chars, label_width;
    int group_nodes;        /* > 0: a block is that many whole nodes */
    double *means;          /* cells x cells */
    char *row_mark;         /* cells: 0 or 1 */
    char *col_mark;
    char *cell_mark;        /* cells x cells */
} term_grid;

static int term_columns(FILE *out, const dxt_plot_opts *o)
{
    struct winsize ws;
    int cols = o->term_width;
    if (cols <= 0 && ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        cols = ws.ws_col;
    if (cols <= 0) {
        const char *env = getenv("COLUMNS");
        char *end = NULL;
        long v = env ? strtol(env, &end, 10) : 0;
        cols = (env && end != env && *end == '\0' && v > 0 && v < 100000) ? (int)v : 0;
    }
    if (cols <= 0)
        cols = TERM_DEFAULT_COLUMNS;
    return cols < TERM_MIN_COLUMNS ? TERM_MIN_COLUMNS
           : cols > TERM_MAX_COLUMNS ? TERM_MAX_COLUMNS : cols;
}

/* Size of the nodes when they are contiguous and all the same, else 0. */
static int uniform_node_size(int n, const dxt_topology *t)
{
    if (!t || t->n != n || !t->node_of || n < 2)
        return 0;
    int size = 1;
    while (size < n && t->node_of[size] == t->node_of[0])
        size++;
    if (n % size != 0)
        return 0;
    for (int i = 0; i < n; i++)
        if (t->node_of[i] != t->node_of[(i / size) * size] ||
            (i % size == 0 && i > 0 && t->node_of[i] == t->node_of[i - 1]))
            return 0;
    return size;
}

static void choose_grid(term_grid *g, int n, int columns, const dxt_topology *topo)
{
    int digits = 1;
    for (int v = n - 1; v >= 10; v /= 10)
        digits++;
    g->n = n;
    g->label_width = digits + 1;
    int avail = columns - g->label_width - 2;
    if (avail < 1)
        avail = 1;
    int node = uniform_node_size(n, topo);
    g->group = 1;
    if (n > avail) {
        if (node > 1) {
            int nodes = (n + node - 1) / node;
            g->group_nodes = (nodes + avail - 1) / avail;
            g->group = node * g->group_nodes;
        } else {
            g->group = (n + avail - 1) / avail;
        }
    }
    g->cells = (n + g->group - 1) / g->group;
    g->cell_chars = 2 * g->cells <= avail ? 2 : 1;
}

/* Means of the blocks, ignoring NAN; a block with no value is NAN. */
static int grid_fill(term_grid *g, const double *wait)
{
    size_t cells2 = (size_t)g->cells * g->cells;
    g->means = calloc(cells2, sizeof(*g->means));
    double *counts = calloc(cells2, sizeof(*counts));
    g->row_mark = calloc((size_t)g->cells, 1);
    g->col_mark = calloc((size_t)g->cells, 1);
    g->cell_mark = calloc(cells2, 1);
    if (!g->means || !counts || !g->row_mark || !g->col_mark || !g->cell_mark) {
        free(counts);
        return -1;
    }
    for (int i = 0; i < g->n; i++) {
        size_t row = (size_t)(i / g->group) * g->cells;
        for (int j = 0; j < g->n; j++) {
            double v = wait[(size_t)i * g->n + j];
            if (!isfinite(v))
                continue;
            g->means[row + j / g->group] += v;
            counts[row + j / g->group] += 1;
        }
    }
    for (size_t k = 0; k < cells2; k++)
        g->means[k] = counts[k] > 0 ? g->means[k] / counts[k] : NAN;
    free(counts);
    return 0;
}

static void grid_free(term_grid *g)
{
    free(g->means);
    free(g->row_mark);
    free(g->col_mark);
    free(g->cell_mark);
}

static void mark_ranks(char *marks, const term_grid *g, const dxt_topology *t, int node)
{
    for (int i = 0; t && t->node_of && t->n == g->n && i < g->n; i++)
        if (t->node_of[i] == node)
            marks[i / g->group] = 1;
}

static void grid_marks(term_grid *g, const dxt_plot_opts *o)
{
    for (int k = 0; o->findings && k < o->nfindings; k++) {
        const dxt_finding *f = &o->findings[k];
        int r = f->rank, n = g->n;
        if (!plot_finding_matches(f, o->op))
            continue;
        if ((f->kind == DXT_SLOW_SOURCE || f->kind == DXT_LOAD_IMBALANCE) && r >= 0 && r < n)
            g->col_mark[r / g->group] = 1;
        else if (f->kind == DXT_SLOW_DESTINATION && r >= 0 && r < n)
            g->row_mark[r / g->group] = 1;
        else if (f->kind == DXT_SLOW_PATH && f->src >= 0 && f->src < n && f->dst >= 0 &&
                 f->dst < n)
            g->cell_mark[(size_t)(f->dst / g->group) * g->cells + f->src / g->group] = 1;
        else if (f->kind == DXT_SLOW_NODE)
            mark_ranks(f->as_source ? g->col_mark : g->row_mark, g, o->topo, f->node);
    }
}

static int cube_level(int c)
{
    static const int levels[] = {0, 95, 135, 175, 215, 255};
    int best = 0;
    for (int k = 1; k < 6; k++)
        if (abs(levels[k] - c) < abs(levels[best] - c))
            best = k;
    return best;
}

static void put_color(FILE *out, const int rgb[3], int truecolor)
{
    if (truecolor)
        fprintf(out, "\x1b[48;2;%d;%d;%dm\x1b[38;2;0;0;0m", rgb[0], rgb[1], rgb[2]);
    else
        fprintf(out, "\x1b[48;5;%dm\x1b[38;5;16m",
                16 + 36 * cube_level(rgb[0]) + 6 * cube_level(rgb[1]) + cube_level(rgb[2]));
}

static double color_pos(double v, double lo, double hi, int log_color)
{
    if (log_color)
        return v > 0 ? (log(v) - log(lo)) / (log(hi) - log(lo)) : 0.0;
    return (v - lo) / (hi - lo);
}

static void print_rows(FILE *out, const term_grid *g, double lo, double hi,
                       const dxt_plot_opts *o, int truecolor)
{
    int rgb[3];
    for (int r = 0; r < g->cells; r++) {
        fprintf(out, "%*d ", g->label_width - 1, r * g->group);
        for (int c = 0; c < g->cells; c++) {
            double v = g->means[(size_t)r * g->cells + c];
            char mark = g->cell_mark[(size_t)r * g->cells + c] ? 'X' : ' ';
            if (isnan(v)) {
                fprintf(out, "\x1b[0m%c%s", mark == 'X' ? 'X' : '.', g->cell_chars == 2 ? " " : "");
                continue;
            }
            plot_palette_rgb(color_pos(v, lo, hi, o->log_color), rgb);
            put_color(out, rgb, truecolor);
            fprintf(out, "%c%s", mark, g->cell_chars == 2 ? " " : "");
        }
        fprintf(out, "\x1b[0m%s\n", g->row_mark[r] ? " <" : "");
    }
}

static void print_column_marks(FILE *out, const term_grid *g)
{
    int any = 0;
    for (int c = 0; c < g->cells; c++)
        any |= g->col_mark[c];
    if (!any)
        return;
    fprintf(out, "%*s", g->label_width, "");
    for (int c = 0; c < g->cells; c++)
        fprintf(out, "%c%s", g->col_mark[c] ? '^' : ' ', g->cell_chars == 2 ? " " : "");
    fprintf(out, "\n");
}

/* Column numbers every few cells, above the matrix. */
static void print_column_ruler(FILE *out, const term_grid *g)
{
    int every = g->cell_chars == 2 ? 4 : 8, pos = 0;
    fprintf(out, "%*s", g->label_width, "");
    for (int c = 0; c < g->cells; c += every) {
        char num[16];
        int len = snprintf(num, sizeof(num), "%d", c * g->group);
        int at = c * g->cell_chars;
        if (at < pos)
            continue;
        fprintf(out, "%*s%s", at - pos, "", num);
        pos = at + len;
    }
    fprintf(out, "\n");
}

/* Does the finding name ranks (or a node) that exist in this matrix? */
static int finding_fits(const dxt_finding *f, int n, const dxt_topology *t)
{
    switch (f->kind) {
    case DXT_SLOW_PATH:
        return f->src >= 0 && f->src < n && f->dst >= 0 && f->dst < n;
    case DXT_SLOW_NODE:
        return t && t->n == n && f->node >= 0 && f->node < t->nnodes;
    default:
        return f->rank >= 0 && f->rank < n;
    }
}

static void print_legend(FILE *out, const term_grid *g, double lo, double hi, int from_median,
                         const dxt_plot_opts *o, int truecolor)
{
    char lo_text[32], hi_text[32], label[160];
    int rgb[3], listed = 0;
    plot_format_value(lo, lo_text, sizeof(lo_text));
    plot_format_value(hi, hi_text, sizeof(hi_text));
    fprintf(out, "color: %s ", lo_text);
    for (int k = 0; k < 16; k++) {
        plot_palette_rgb(k / 15.0, rgb);
        put_color(out, rgb, truecolor);
        fputc(' ', out);
    }
    char title[200];
    plot_color_title(o, from_median, title, sizeof(title));
    fprintf(out, "\x1b[0m %s  %s\n", hi_text, title);
    fprintf(out, "rows: waiting rank i; columns: source rank j (waited for)\n");
    if (g->group == 1)
        fprintf(out, "cell: wait of rank i for rank j; '.' no value\n");
    else
        fprintf(out, "cell: mean wait of a %dx%d block of ranks%s%.0d%s; '.' no value\n",
                g->group, g->group, g->group_nodes == 1 ? " (one node" : g->group_nodes ? " (" : "",
                g->group_nodes > 1 ? g->group_nodes : 0,
                g->group_nodes == 1 ? ")" : g->group_nodes ? " nodes)" : "");
    for (int k = 0; o->findings && k < o->nfindings; k++) {
        const dxt_finding *f = &o->findings[k];
        if (!plot_finding_matches(f, o->op) || !finding_fits(f, g->n, o->topo))
            continue;
        if (listed++ == 8) {
            fprintf(out, "  ...\n");
            break;
        }
        dxt_finding_label(f, o->topo, label, sizeof(label));
        const char *mark = f->kind == DXT_SLOW_DESTINATION ? "<"
                           : f->kind == DXT_SLOW_PATH      ? "X"
                           : f->kind == DXT_SLOW_NODE      ? (f->as_source ? "^" : "<")
                                                           : "^";
        fprintf(out, "  %s %s\n", mark, label);
    }
}

dxt_plot_rc dxt_show_heatmap(FILE *out, int n, const double *wait, const dxt_plot_opts *opts,
                             char *err, size_t errlen)
{
    dxt_plot_rc rc = DXT_PLOT_OK;
    term_grid g;
    dxt_plot_opts defaults;
    double lo, hi;
    memset(&g, 0, sizeof(g));
    if (!opts) {
        dxt_plot_opts_init(&defaults);
        opts = &defaults;
    }
    if (!out || !wait || n < 1 || n > DXT_PLOT_MAX_RANKS)
        return plot_fail(DXT_PLOT_EINVAL, err, errlen,
                         "show: need an output and a matrix of 1..%d ranks (got %d)",
                         DXT_PLOT_MAX_RANKS, n);
    const char *colorterm = getenv("COLORTERM");
    int truecolor = opts->color_mode == DXT_COLOR_TRUECOLOR ||
                    (opts->color_mode == DXT_COLOR_AUTO && colorterm &&
                     (strcmp(colorterm, "truecolor") == 0 || strcmp(colorterm, "24bit") == 0));
    double *rel = NULL;
    if (opts->relative && !(rel = plot_relative_values(wait, NULL, n, opts->topo)))
        return plot_fail(DXT_PLOT_ENOMEM, err, errlen, "show: out of memory for %d ranks", n);
    if (rel)
        wait = rel;
    choose_grid(&g, n, term_columns(out, opts), opts->topo);
    if (grid_fill(&g, wait) != 0) {
        rc = plot_fail(DXT_PLOT_ENOMEM, err, errlen, "show: out of memory for %d ranks", n);
        goto fail;
    }
    grid_marks(&g, opts);
    int from_median = plot_color_range(wait, NULL, n, opts, &lo, &hi);
    fprintf(out, "%s | run %s | steps %lld..%lld | %d ranks\n", opts->op ? opts->op : "all ops",
            opts->run_id ? opts->run_id : "?", (long long)opts->first_step,
            (long long)opts->last_step, n);
    print_column_ruler(out, &g);
    print_rows(out, &g, lo, hi, opts, truecolor);
    print_column_marks(out, &g);
    print_legend(out, &g, lo, hi, from_median, opts, truecolor);
    if (fflush(out) != 0 || ferror(out))
        rc = plot_fail(DXT_PLOT_EIO, err, errlen, "show: cannot write the heatmap");
fail:
    grid_free(&g);
    free(rel);
    return rc;
}
