/* textin.c - text inputs of dxt-analyze: DeepXTrace diagnose logs (lines
 * "rank=<i> [v v ...]" among other text; each block of rows rank=0..N-1 is one
 * window, in file order) and plain text matrices (N lines of N numbers;
 * several matrices follow each other, blank lines allowed). Each matrix is one
 * "step" numbered from 0; values are kept as given (unit "cycles").
 * Owner: the loader/report engineer (A2). */
#include "input.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dxt_text_state {
    int n;
    int64_t count;      /* matrices */
    int64_t cap;
    double *mats;       /* count x n x n; NAN rows: rank missing in that block */
    /* the block being filled */
    double *block;
    unsigned char *have;
    int nhave;
    int64_t line_no;
};

void dxt_text_free(dxt_text_state *t)
{
    if (!t)
        return;
    free(t->mats);
    free(t->block);
    free(t->have);
    free(t);
}

/* Parse numbers from *p until ']' (sets *closed) or the end of the line.
 * Separators: blanks and commas. Returns the count, or -1 on a bad token. */
static int parse_numbers(const char **p, double *vals, int max, int *count, int *closed)
{
    const char *s = *p;
    *closed = 0;
    for (;;) {
        while (*s && (isspace((unsigned char)*s) || *s == ',' || *s == '['))
            s++;
        if (*s == ']') {
            *closed = 1;
            s++;
            break;
        }
        if (!*s)
            break;
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || errno == ERANGE || !isfinite(v)) {
            *p = s;
            return -1;
        }
        if (*count < max)
            vals[*count] = v;
        (*count)++;
        s = end;
    }
    *p = s;
    return *count;
}

/* Text inputs are held whole: the matrices of all windows together stay below
 * this (bad input never makes us allocate what it claims; reliability). */
#define TEXT_MATRICES_MAX_BYTES ((size_t)1 << 30)
#define TEXT_MAX_ROW_VALUES 11585 /* floor(sqrt(1 GiB / 8)) */

static int text_grow(dxt_text_state *t)
{
    size_t nn = (size_t)t->n * (size_t)t->n;
    if (t->count < t->cap)
        return 0;
    int64_t cap = t->cap ? t->cap * 2 : 16;
    if ((size_t)cap * nn * sizeof(double) > TEXT_MATRICES_MAX_BYTES)
        cap = t->count + 1; /* near the budget: grow by one matrix */
    if ((size_t)cap * nn * sizeof(double) > TEXT_MATRICES_MAX_BYTES)
        return -1;
    double *grown = realloc(t->mats, (size_t)cap * nn * sizeof *grown);
    if (!grown)
        return -1;
    t->mats = grown;
    t->cap = cap;
    return 0;
}

static int text_set_n(dxt_text_state *t, int n, dxt_error *err, const char *path)
{
    if (n < 1 || (size_t)n * (size_t)n * sizeof(double) > TEXT_MATRICES_MAX_BYTES) {
        dxt_set_error(err, "%s:%lld: a row of %d values: a %d x %d matrix is too large "
                      "(at most %d values per row)", path, (long long)t->line_no, n, n, n,
                      TEXT_MAX_ROW_VALUES);
        return -1;
    }
    t->n = n;
    size_t nn = (size_t)n * (size_t)n;
    t->block = malloc(nn * sizeof *t->block);
    t->have = calloc((size_t)n, 1);
    if (!t->block || !t->have) {
        dxt_set_error(err, "%s: out of memory for %d x %d", path, n, n);
        return -1;
    }
    return 0;
}

/* Close the block being filled (if any row is in it): append it as a matrix. */
static int text_close_block(dxt_input *in, dxt_text_state *t)
{
    if (t->nhave == 0)
        return 0;
    if (text_grow(t) != 0)
        return -1;
    size_t nn = (size_t)t->n * (size_t)t->n;
    for (int i = 0; i < t->n; i++) {
        if (t->have[i])
            continue;
        for (int j = 0; j < t->n; j++)
            t->block[(size_t)i * t->n + j] = NAN;
        if (dxt_input_warn(in, "%s: window %lld has no row for rank %d", in->path,
                           (long long)t->count, i) != 0)
            return -1;
    }
    memcpy(t->mats + (size_t)t->count * nn, t->block, nn * sizeof *t->block);
    t->count++;
    memset(t->have, 0, (size_t)t->n);
    t->nhave = 0;
    return 0;
}

/* Store one row of values (count of them) for rank into the current block. */
static int text_put_row(dxt_input *in, dxt_text_state *t, int rank, const double *vals,
                        int count, dxt_error *err)
{
    if (t->n == 0 && text_set_n(t, count, err, in->path) != 0)
        return -1;
    if (count != t->n || rank < 0 || rank >= t->n)
        return dxt_input_warn(in, "%s:%lld: row of rank %d with %d values ignored (N = %d)",
                              in->path, (long long)t->line_no, rank, count, t->n);
    if (t->have[rank] && text_close_block(in, t) != 0)
        return -1;
    memcpy(t->block + (size_t)rank * t->n, vals, (size_t)count * sizeof *vals);
    t->have[rank] = 1;
    t->nhave++;
    if (t->nhave == t->n)
        return text_close_block(in, t);
    return 0;
}

/* "rank=<digits>" followed by blanks and '[' in line: returns the position after
 * '[' and the rank, or NULL. */
static const char *find_rank_row(const char *line, int *rank)
{
    for (const char *p = strstr(line, "rank="); p; p = strstr(p + 1, "rank=")) {
        const char *q = p + 5;
        if (!isdigit((unsigned char)*q))
            continue;
        long r = strtol(q, (char **)&q, 10);
        while (*q == ' ' || *q == '\t' || *q == ':')
            q++;
        if (*q == '[' && r >= 0 && r < 65536) {
            *rank = (int)r;
            return q + 1;
        }
    }
    return NULL;
}

/* getline with a bound: a line is read into *line (grown up to
 * TEXT_MAX_LINE_BYTES + 1); returns its length, 0 at the end of the file,
 * TEXT_LINE_TOO_LONG for a longer line (memory never follows the input). */
#define TEXT_MAX_LINE_BYTES ((size_t)1 << 20) /* a row of TEXT_MAX_ROW_VALUES long numbers fits */
#define TEXT_LINE_TOO_LONG (-2)
static long read_line(FILE *f, char **line, size_t *cap)
{
    size_t n = 0;
    int c = 0;
    while ((c = getc_unlocked(f)) != EOF) {
        if (n + 2 > *cap) {
            if (*cap > TEXT_MAX_LINE_BYTES)
                return TEXT_LINE_TOO_LONG;
            size_t want = *cap ? 2 * *cap : 256;
            want = want > TEXT_MAX_LINE_BYTES + 2 ? TEXT_MAX_LINE_BYTES + 2 : want;
            char *grown = realloc(*line, want);
            if (!grown)
                return TEXT_LINE_TOO_LONG;
            *line = grown;
            *cap = want;
        }
        (*line)[n++] = (char)c;
        if (c == '\n')
            break;
    }
    if (n > 0)
        (*line)[n] = '\0';
    return (long)n;
}

static int line_too_long(dxt_input *in, dxt_text_state *t, dxt_error *err)
{
    dxt_set_error(err, "%s:%lld: line longer than %zu bytes (a row of %d values fits): not a "
                  "DeepXTrace log or text matrix", in->path, (long long)t->line_no + 1,
                  TEXT_MAX_LINE_BYTES, TEXT_MAX_ROW_VALUES);
    return -1;
}

static int is_log(FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    int rank, found = 0;
    while (!found && read_line(f, &line, &cap) > 0)
        found = find_rank_row(line, &rank) != NULL;
    free(line);
    rewind(f);
    return found;
}

/* One pass over a DeepXTrace log. vals holds up to max values. */
static int load_log(dxt_input *in, dxt_text_state *t, FILE *f, double *vals, int max,
                    dxt_error *err)
{
    char *line = NULL;
    size_t cap = 0;
    int rc = -1, rank = -1, open = 0, count = 0;
    long got;
    while ((got = read_line(f, &line, &cap)) > 0) {
        t->line_no++;
        const char *p = line;
        if (!open) {
            p = find_rank_row(line, &rank);
            if (!p)
                continue;
            open = 1;
            count = 0;
        }
        int closed = 0;
        if (parse_numbers(&p, vals, max, &count, &closed) < 0) {
            if (dxt_input_warn(in, "%s:%lld: row of rank %d is not a list of numbers; ignored",
                               in->path, (long long)t->line_no, rank) != 0)
                goto fail;
            open = 0;
            continue;
        }
        if (closed) {
            open = 0;
            if (text_put_row(in, t, rank, vals, count > max ? max + 1 : count, err) != 0)
                goto fail;
        }
    }
    rc = got == TEXT_LINE_TOO_LONG ? line_too_long(in, t, err) : text_close_block(in, t);
fail:
    free(line);
    return rc;
}

/* One pass over a plain matrix file: rows of numbers, '#' comments, blank lines. */
static int load_matrix(dxt_input *in, dxt_text_state *t, FILE *f, double *vals, int max,
                       dxt_error *err)
{
    char *line = NULL;
    size_t cap = 0;
    int rc = -1, row = 0;
    long got;
    while ((got = read_line(f, &line, &cap)) > 0) {
        t->line_no++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        const char *p = line;
        int count = 0, closed = 0;
        while (parse_numbers(&p, vals, max, &count, &closed) >= 0 && closed)
            ;
        if (*p) {
            char shown[24];
            size_t k = 0;
            for (; k + 1 < sizeof shown && p[k] && p[k] != '\n'; k++)
                shown[k] = isprint((unsigned char)p[k]) ? p[k] : '?';
            shown[k] = '\0';
            dxt_set_error(err, "%s:%lld: not a number: '%s' (expected a trace directory, a "
                          "DeepXTrace log or N lines of N numbers)",
                          in->path, (long long)t->line_no, shown);
            goto fail;
        }
        if (count == 0)
            continue;
        if (t->n != 0 && count != t->n) {
            dxt_set_error(err, "%s:%lld: %d values, expected %d", in->path,
                          (long long)t->line_no, count, t->n);
            goto fail;
        }
        if (text_put_row(in, t, row, vals, count, err) != 0)
            goto fail;
        row = (row + 1) % t->n;
    }
    if (got == TEXT_LINE_TOO_LONG) {
        line_too_long(in, t, err);
        goto fail;
    }
    if (row != 0) {
        dxt_set_error(err, "%s: the last matrix has %d of %d rows", in->path, row, t->n);
        goto fail;
    }
    rc = 0;
fail:
    free(line);
    return rc;
}

static int text_finish(dxt_input *in, dxt_text_state *t, const char *path,
                       const dxt_input_opts *opts, dxt_error *err)
{
    if (t->count == 0) {
        dxt_set_error(err, "%s: no matrix found (expected a trace directory, a DeepXTrace "
                      "log with rank=<i> [...] lines, or N lines of N numbers)", path);
        return -1;
    }
    in->n = t->n;
    in->first_step = 0;
    in->last_step = t->count - 1;
    in->nops = 1;
    snprintf(in->ops[0], sizeof in->ops[0], "%s", opts->text_op ? opts->text_op : "dispatch");
    snprintf(in->unit, sizeof in->unit, "%s", opts->unit ? opts->unit : "cycles");
    const char *base = strrchr(path, '/');
    snprintf(in->run_id, sizeof in->run_id, "%s",
             opts->run_id ? opts->run_id : base ? base + 1 : path);
    in->rank_present = calloc((size_t)t->n, 1);
    if (!in->rank_present) {
        dxt_set_error(err, "%s: out of memory", path);
        return -1;
    }
    size_t nn = (size_t)t->n * (size_t)t->n;
    for (int64_t k = 0; k < t->count; k++)
        for (int i = 0; i < t->n; i++)
            if (!isnan(t->mats[(size_t)k * nn + (size_t)i * t->n]))
                in->rank_present[i] = 1;
    if (dxt_input_nodes_by_count(in, opts->per_node) != 0) {
        dxt_set_error(err, "%s: out of memory", path);
        return -1;
    }
    return 0;
}

int dxt_text_load(dxt_input *in, const char *path, const dxt_input_opts *opts, dxt_error *err)
{
    enum { MAX_VALUES = 65536 };
    int rc = -1;
    double *vals = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        dxt_set_error(err, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    dxt_text_state *t = calloc(1, sizeof *t);
    vals = malloc((MAX_VALUES + 1) * sizeof *vals);
    if (!t || !vals) {
        dxt_set_error(err, "%s: out of memory", path);
        free(t);
        goto fail;
    }
    in->text = t;
    in->kind = is_log(f) ? DXT_INPUT_LOG : DXT_INPUT_MATRIX;
    if (in->kind == DXT_INPUT_LOG)
        rc = load_log(in, t, f, vals, MAX_VALUES, err);
    else
        rc = load_matrix(in, t, f, vals, MAX_VALUES, err);
    if (rc == 0)
        rc = text_finish(in, t, path, opts, err);
    if (rc != 0 && err->msg[0] == '\0')
        dxt_set_error(err, "%s: out of memory, or its matrices exceed %zu MiB", path,
                      TEXT_MATRICES_MAX_BYTES >> 20);
fail:
    free(vals);
    fclose(f);
    return rc;
}

int dxt_text_window(const dxt_input *in, int op, int64_t first, int64_t last, double *wait,
                    int64_t *rank_rows)
{
    const dxt_text_state *t = in->text;
    int n = t->n;
    size_t nn = (size_t)n * (size_t)n;
    (void)op;
    for (size_t k = 0; k < nn; k++)
        wait[k] = 0;
    for (int i = 0; i < n; i++)
        rank_rows[i] = 0;
    if (first < 0)
        first = 0;
    if (last >= t->count)
        last = t->count - 1;
    int summed = 0;
    for (int64_t m = first; m <= last; m++, summed++) {
        const double *mat = t->mats + (size_t)m * nn;
        for (int i = 0; i < n; i++) {
            if (isnan(mat[(size_t)i * n]))
                continue;
            rank_rows[i]++;
            for (int j = 0; j < n; j++)
                wait[(size_t)i * n + j] += mat[(size_t)i * n + j];
        }
    }
    return summed;
}
