/* term_view.c - the heatmap in a terminal: a glyph per cell for its level
 * (readable without color, in a pipe, with NO_COLOR), ANSI background colors
 * (256-color cube or truecolor) unless plain; one character cell per rank
 * pair (two for square-ish cells when they fit); when n does not fit the
 * terminal's width and height, blocks of ranks (heat_view.c: whole nodes when
 * possible) shown by their median or a slower whole row or column; flagged rows
 * marked at the right ('<'), flagged columns below ('^'), flagged cells with 'X'; then a legend.
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

#define TERM_DEFAULT_LINES 40
#define TERM_MIN_LINES 12
#define TERM_RESERVED_LINES 14 /* title, ruler, column marks, legend */

static const char term_glyphs[] = ".:+*#@"; /* levels, lightest first */
#define TERM_LEVELS ((int)sizeof term_glyphs - 1)
#define TERM_SELF '\\'

/* How the matrix maps onto the screen. */
typedef struct term_grid {
    heat_view v;
    int cell_chars, label_width;
    char *row_mark;         /* rows: 0 or 1 */
    char *col_mark;         /* cols */
    char *cell_mark;        /* rows x cols */
} term_grid;

/* A size from the terminal (ioctl), else $env, else fallback, clamped. */
static int term_size(FILE *out, int given, int use_cols, const char *env_name, int fallback,
                     int min, int max)
{
    struct winsize ws;
    int size = given;
    if (size <= 0 && ioctl(fileno(out), TIOCGWINSZ, &ws) == 0)
        size = use_cols ? ws.ws_col : ws.ws_row;
    if (size <= 0) {
        const char *env = getenv(env_name);
        char *end = NULL;
        long v = env ? strtol(env, &end, 10) : 0;
        size = (env && end != env && *end == '\0' && v > 0 && v < 100000) ? (int)v : 0;
    }
    if (size <= 0)
        size = fallback;
    return size < min ? min : size > max ? max : size;
}

static int choose_grid(term_grid *g, int n, int columns, int lines, const dxt_topology *topo)
{
    int digits = 1;
    for (int v = n - 1; v >= 10; v /= 10)
        digits++;
    g->label_width = digits + 1;
    int avail = columns - g->label_width - 2, rows = lines - TERM_RESERVED_LINES;
    avail = avail < 1 ? 1 : avail;
    rows = rows < 4 ? 4 : rows;
    int max_cells = avail < rows ? avail : rows;
    if (heat_axis_whole(&g->v.rows, n, topo, max_cells) != 0 ||
        heat_axis_whole(&g->v.cols, n, topo, max_cells) != 0)
        return -1;
    g->cell_chars = 2 * g->v.cols.count <= avail ? 2 : 1;
    return 0;
}

static int grid_alloc(term_grid *g)
{
    size_t cells = (size_t)g->v.rows.count * g->v.cols.count;
    g->row_mark = calloc((size_t)g->v.rows.count, 1);
    g->col_mark = calloc((size_t)g->v.cols.count, 1);
    g->cell_mark = calloc(cells, 1);
    return g->row_mark && g->col_mark && g->cell_mark ? 0 : -1;
}

static void grid_free(term_grid *g)
{
    heat_view_free(&g->v);
    free(g->row_mark);
    free(g->col_mark);
    free(g->cell_mark);
}

static void mark_span(char *marks, const heat_axis *a, int first, int last)
{
    for (int r = first; r <= last; r++) {
        int k = heat_axis_cell(a, r);
        if (k >= 0)
            marks[k] = 1;
    }
}

static void grid_marks(term_grid *g, const dxt_plot_opts *o)
{
    int c0, c1, r0, r1, n = g->v.n;
    for (int k = 0; o->findings && k < o->nfindings; k++) {
        const dxt_finding *f = &o->findings[k];
        if (!plot_finding_matches(f, o->op) || heat_finding_ranks(f, n, o->topo, &c0, &c1, &r0, &r1) != 0)
            continue;
        if (f->kind == DXT_SLOW_PATH) {
            int r = heat_axis_cell(&g->v.rows, r0), c = heat_axis_cell(&g->v.cols, c0);
            if (r >= 0 && c >= 0)
                g->cell_mark[(size_t)r * g->v.cols.count + c] = 1;
        } else if (!(c0 == 0 && c1 == n - 1)) {
            mark_span(g->col_mark, &g->v.cols, c0, c1);
        } else {
            mark_span(g->row_mark, &g->v.rows, r0, r1);
        }
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
    int fg = plot_dark_text_on(rgb) ? 0 : 255;
    if (truecolor)
        fprintf(out, "\x1b[48;2;%d;%d;%dm\x1b[38;2;%d;%d;%dm", rgb[0], rgb[1], rgb[2], fg, fg, fg);
    else
        fprintf(out, "\x1b[48;5;%dm\x1b[38;5;%dm",
                16 + 36 * cube_level(rgb[0]) + 6 * cube_level(rgb[1]) + cube_level(rgb[2]),
                fg ? 231 : 16);
}

/* How to draw: colors (and which kind) or glyphs only. */
typedef struct term_style {
    int color, truecolor;
    dxt_palette palette;
} term_style;

static int level_of(double t)
{
    int k = (int)(t * TERM_LEVELS);
    return k < 0 ? 0 : k >= TERM_LEVELS ? TERM_LEVELS - 1 : k;
}

/* One cell: its glyph (or mark) cell_chars times, on its color. */
static void put_cell(FILE *out, const term_style *st, double t, char glyph, int chars)
{
    int rgb[3];
    if (st->color && !isnan(t)) {
        plot_palette_rgb(st->palette, t, rgb);
        put_color(out, rgb, st->truecolor);
    } else if (st->color) {
        fputs("\x1b[0m", out);
    }
    for (int k = 0; k < chars; k++)
        fputc(glyph, out);
}

static void print_rows(FILE *out, const term_grid *g, const plot_scale *s, const term_style *st)
{
    const heat_view *v = &g->v;
    for (int r = 0; r < v->rows.count; r++) {
        fprintf(out, "%*d ", g->label_width - 1, v->rows.start[r]);
        for (int c = 0; c < v->cols.count; c++) {
            size_t k = (size_t)r * v->cols.count + c;
            double t = plot_scale_pos(s, v->color[k]);
            char glyph = isnan(t) ? (heat_view_is_self(v, r, c) ? TERM_SELF : ' ')
                                  : term_glyphs[level_of(t)];
            put_cell(out, st, t, g->cell_mark[k] ? 'X' : glyph, g->cell_chars);
        }
        fprintf(out, "%s%s\n", st->color ? "\x1b[0m" : "", g->row_mark[r] ? " <" : "");
    }
}

static void print_column_marks(FILE *out, const term_grid *g)
{
    int any = 0, cols = g->v.cols.count;
    for (int c = 0; c < cols; c++)
        any |= g->col_mark[c];
    if (!any)
        return;
    fprintf(out, "%*s", g->label_width, "");
    for (int c = 0; c < cols; c++)
        fprintf(out, "%c%s", g->col_mark[c] ? '^' : ' ', g->cell_chars == 2 ? " " : "");
    fprintf(out, "\n");
}

/* Column numbers every few cells, above the matrix. */
static void print_column_ruler(FILE *out, const term_grid *g)
{
    int every = g->cell_chars == 2 ? 4 : 8, pos = 0;
    fprintf(out, "%*s", g->label_width, "");
    for (int c = 0; c < g->v.cols.count; c += every) {
        char num[16];
        int len = snprintf(num, sizeof(num), "%d", g->v.cols.start[c]);
        int at = c * g->cell_chars;
        if (at < pos)
            continue;
        fprintf(out, "%*s%s", at - pos, "", num);
        pos = at + len;
    }
    fprintf(out, "\n");
}

/* The value at position t of the scale. */
static double scale_value(const plot_scale *s, double t)
{
    return s->log ? s->lo * pow(s->hi / s->lo, t) : s->lo + (s->hi - s->lo) * t;
}

static void print_scale(FILE *out, const plot_scale *s, const term_style *st,
                        const dxt_plot_opts *o)
{
    char text[32], title[200];
    fprintf(out, "levels:");
    for (int k = 0; k < TERM_LEVELS; k++) {
        /* the first level up to the second's start, the others from their start */
        plot_format_value(scale_value(s, (double)(k ? k : 1) / TERM_LEVELS), text, sizeof text);
        fputc(' ', out);
        put_cell(out, st, (k + 0.5) / TERM_LEVELS, term_glyphs[k], 1);
        fprintf(out, "%s %s%s%s", st->color ? "\x1b[0m" : "", k == 0 ? "<" : "", text,
                s->relative ? "x" : "");
    }
    fprintf(out, " or more\n");
    plot_color_title(o, title, sizeof(title));
    fprintf(out, "color and glyph: %s\n", title);
}

static void print_legend(FILE *out, const term_grid *g, const plot_scale *s, const term_style *st,
                         const dxt_plot_opts *o)
{
    char label[160];
    int listed = 0, c0, c1, r0, r1;
    const heat_axis *a = &g->v.cols;
    print_scale(out, s, st, o);
    fprintf(out, "rows: waiting rank i; columns: source rank j (waited for)\n");
    if (a->group == 1)
        fprintf(out, "cell: wait of rank i for rank j; '%c' self; blank: no value\n", TERM_SELF);
    else if (a->nodes_per_cell > 0)
        fprintf(out, "cell: a %dx%d block of ranks (%d node%s): its median, or a slower "
                "whole row or column's; blank: no value\n", a->group, a->group, a->nodes_per_cell,
                a->nodes_per_cell == 1 ? "" : "s");
    else
        fprintf(out, "cell: a %dx%d block of ranks: its median, or a slower whole row or "
                "column's; blank: no value\n",
                a->group, a->group);
    for (int k = 0; o->findings && k < o->nfindings; k++) {
        const dxt_finding *f = &o->findings[k];
        if (!plot_finding_matches(f, o->op) ||
            heat_finding_ranks(f, g->v.n, o->topo, &c0, &c1, &r0, &r1) != 0)
            continue;
        if (listed++ == 8) {
            fprintf(out, "  ...\n");
            break;
        }
        dxt_finding_label(f, o->topo, label, sizeof(label));
        const char *mark = f->kind == DXT_SLOW_PATH ? "X" : (c0 == 0 && c1 == g->v.n - 1) ? "<" : "^";
        fprintf(out, "  %s %s\n", mark, label);
    }
}

/* The color values (relative or the wait) as a new array. */
static double *term_values(int n, const double *wait, const dxt_plot_opts *o)
{
    if (o->relative)
        return plot_relative_values(wait, NULL, n, o->topo);
    double *out = malloc((size_t)n * n * sizeof *out);
    if (out)
        memcpy(out, wait, (size_t)n * n * sizeof *out);
    return out;
}

dxt_plot_rc dxt_show_heatmap(FILE *out, int n, const double *wait, const dxt_plot_opts *opts,
                             char *err, size_t errlen)
{
    dxt_plot_rc rc = DXT_PLOT_OK;
    term_grid g;
    dxt_plot_opts defaults;
    plot_scale scale;
    double *values = NULL;
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
    term_style st = {!opts->plain, opts->color_mode == DXT_COLOR_TRUECOLOR ||
                     (opts->color_mode == DXT_COLOR_AUTO && colorterm &&
                      (strcmp(colorterm, "truecolor") == 0 || strcmp(colorterm, "24bit") == 0)),
                     opts->palette};
    int columns = term_size(out, opts->term_width, 1, "COLUMNS", TERM_DEFAULT_COLUMNS,
                            TERM_MIN_COLUMNS, TERM_MAX_COLUMNS);
    int lines = term_size(out, opts->term_height, 0, "LINES", TERM_DEFAULT_LINES, TERM_MIN_LINES,
                          TERM_MAX_COLUMNS);
    values = term_values(n, wait, opts);
    if (!values || choose_grid(&g, n, columns, lines, opts->topo) != 0 || grid_alloc(&g) != 0 ||
        heat_view_fill(&g.v, n, values, wait, NULL) != 0) {
        rc = plot_fail(DXT_PLOT_ENOMEM, err, errlen, "show: out of memory for %d ranks", n);
        goto fail;
    }
    grid_marks(&g, opts);
    plot_scale_for(opts, NULL, g.v.color, (size_t)g.v.rows.count * g.v.cols.count, &scale);
    fprintf(out, "%s | run %s | steps %lld..%lld | %d ranks\n", opts->op ? opts->op : "all ops",
            opts->run_id ? opts->run_id : "?", (long long)opts->first_step,
            (long long)opts->last_step, n);
    print_column_ruler(out, &g);
    print_rows(out, &g, &scale, &st);
    print_column_marks(out, &g);
    print_legend(out, &g, &scale, &st, opts);
    if (fflush(out) != 0 || ferror(out))
        rc = plot_fail(DXT_PLOT_EIO, err, errlen, "show: cannot write the heatmap");
fail:
    grid_free(&g);
    free(values);
    return rc;
}
