/* load_meta.c - what the trace loader learns from the files' attributes and
 * step datasets before any wait is read: ops, their step ranges, the unit
 * (us when every file can be converted, else cycles), tokens, dropped rows,
 * ranks present and missing, segments, nodes; for a trace being written, the
 * files still written and the step every rank's rows reach.
 * Owner: the loader/report engineer (A2). */
#include "load_trace.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_op(dxt_input *in, const char *name)
{
    int k = dxt_input_find_op(in, name);
    if (k >= 0 || in->nops >= DXT_MAX_OPS)
        return k;
    snprintf(in->ops[in->nops], sizeof in->ops[0], "%s", name);
    return in->nops++;
}

/* Step range of the file's op fo (as validated: no read); rows 0 -> absent. */
static void step_range(dxt_trace_file *f, int k, int fo)
{
    const dxt_op_info *info = dxt_reader_op(f->reader, fo);
    f->op_index[k] = info->rows > 0 ? fo : -1;
    f->op_first[k] = info->first_step;
    f->op_last[k] = info->last_step;
}

static int add_dropped(dxt_input *in, int rank, const char *op, const dxt_op_info *info)
{
    for (int k = 0; k < in->ndropped; k++) {
        dxt_dropped *d = &in->dropped[k];
        if (d->rank != rank || strcmp(d->op, op) != 0)
            continue;
        d->rows += info->rows_dropped;
        if (info->dropped_first_step >= 0 &&
            (d->first_step < 0 || info->dropped_first_step < d->first_step))
            d->first_step = info->dropped_first_step;
        if (info->dropped_last_step > d->last_step)
            d->last_step = info->dropped_last_step;
        return 0;
    }
    dxt_dropped *grown = realloc(in->dropped, (size_t)(in->ndropped + 1) * sizeof *grown);
    if (!grown)
        return -1;
    in->dropped = grown;
    dxt_dropped *d = &in->dropped[in->ndropped++];
    d->rank = rank;
    snprintf(d->op, sizeof d->op, "%s", op);
    d->rows = info->rows_dropped;
    d->first_step = info->dropped_first_step;
    d->last_step = info->dropped_last_step;
    return 0;
}

/* One file's ops: names, step ranges, dropped rows, unit and tokens counts. */
static int file_ops(dxt_input *in, dxt_trace_file *f, int *no_clock, int *has_ns,
                    int *with_op, int *with_tokens)
{
    for (int k = 0; k < DXT_MAX_OPS; k++)
        f->op_index[k] = -1;
    const dxt_meta *meta = dxt_reader_meta(f->reader);
    for (int fo = 0; fo < dxt_reader_op_count(f->reader); fo++) {
        const dxt_op_info *info = dxt_reader_op(f->reader, fo);
        int k = add_op(in, info->name);
        if (k < 0) {
            if (dxt_input_warn(in, "%s: op '%s' ignored (more than %d ops)", f->path,
                               info->name, DXT_MAX_OPS) != 0)
                return -1;
            continue;
        }
        step_range(f, k, fo);
        if (info->rows_dropped > 0 && add_dropped(in, f->rank, info->name, info) != 0)
            return -1;
        if (info->rows < info->rows_stored &&
            dxt_input_warn(in, "%s: op '%s': %s: %lld of %lld rows used", f->path, info->name,
                           info->cut_reason, (long long)info->rows,
                           (long long)info->rows_stored) != 0)
            return -1;
        if (info->bad_dropped &&
            dxt_input_warn(in, "%s: attribute 'ops/%s/rows_dropped' is negative: ignored",
                           f->path, info->name) != 0)
            return -1;
        if (f->op_index[k] < 0)
            continue;
        with_op[k]++;
        with_tokens[k] += info->has_tokens;
        if (info->unit == DXT_UNIT_NS)
            *has_ns = 1;
        else if (meta->clock_hz <= 0 && !info->has_clock_hz)
            *no_clock = 1;
        if (f->op_first[k] < in->first_step)
            in->first_step = f->op_first[k];
        if (f->op_last[k] > in->last_step)
            in->last_step = f->op_last[k];
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The first op file f records (in the input's order), or -1. */
static int first_op(const dxt_input *in, const dxt_trace_file *f)
{
    for (int k = 0; k < in->nops; k++)
        if (f->op_index[k] >= 0)
            return k;
    return -1;
}

/* A damaged or bogus step (one rank jumping by 2^62) must not stretch the
 * analyzed range: the range ends where the files' own ranges end, but for
 * files whose last step lies more than STEP_OUTLIER_SPANS typical spans past
 * the median last step (the same for first steps); their steps beyond it are
 * not analyzed, and a warning says so. */
#define STEP_OUTLIER_SPANS 1000.0
static int trim_step_outliers(dxt_input *in, dxt_trace_state *t)
{
    int64_t *first = malloc((size_t)t->nfiles * sizeof *first);
    int64_t *last = malloc((size_t)t->nfiles * sizeof *last);
    int n = 0, rc = -1;
    if (!first || !last)
        goto fail;
    for (int f = 0; f < t->nfiles; f++) {
        int k = first_op(in, &t->files[f]);
        if (k >= 0)
            first[n] = t->files[f].op_first[k], last[n++] = t->files[f].op_last[k];
    }
    rc = 0;
    if (n < 3)
        goto fail;
    qsort(first, (size_t)n, sizeof *first, cmp_i64);
    qsort(last, (size_t)n, sizeof *last, cmp_i64);
    double lo = (double)first[n / 2], hi = (double)last[n / 2];
    double slack = STEP_OUTLIER_SPANS * (hi - lo + 1 > 1 ? hi - lo + 1 : 1);
    int64_t new_first = in->last_step, new_last = in->first_step;
    for (int m = 0; m < n; m++) {
        if ((double)first[m] >= lo - slack && first[m] < new_first)
            new_first = first[m];
        if ((double)last[m] <= hi + slack && last[m] > new_last)
            new_last = last[m];
    }
    if (new_first > new_last || (new_first == in->first_step && new_last == in->last_step))
        goto fail;
    rc = dxt_input_warn(in, "%s: some files hold steps far outside the others' (%lld..%lld, "
                        "median range %.0f..%.0f): only steps %lld..%lld are analyzed",
                        in->path, (long long)in->first_step, (long long)in->last_step, lo, hi,
                        (long long)new_first, (long long)new_last);
    in->first_step = new_first;
    in->last_step = new_last;
fail:
    free(first);
    free(last);
    return rc;
}

/* The steps between a rank's rows (Recorder(step_every=K): a row every K
 * steps): over the files, the lower median of their first op's span over its
 * rows (dropped ones too) less one, rounded; files with steps outside the
 * range analyzed (trim_step_outliers) left out; 1 where no file has two rows. */
static int64_t typical_row_every(const dxt_input *in, const dxt_trace_state *t)
{
    int64_t *every = malloc((size_t)t->nfiles * sizeof *every), median = 1;
    int n = 0;
    if (!every)
        return 1; /* out of memory here: windows as for a row every step */
    for (int f = 0; f < t->nfiles; f++) {
        const dxt_trace_file *file = &t->files[f];
        int k = first_op(in, file);
        if (k < 0 || file->op_first[k] < in->first_step || file->op_last[k] > in->last_step)
            continue; /* no op, or bogus steps */
        const dxt_op_info *info = dxt_reader_op(file->reader, file->op_index[k]);
        double gaps = (double)info->rows + (double)info->rows_dropped - 1.0;
        /* last >= first: their difference is exact in uint64_t */
        double span = (double)((uint64_t)file->op_last[k] - (uint64_t)file->op_first[k]);
        if (gaps >= 1.0 && span >= gaps) /* no more than 2^50 */
            every[n++] = span / gaps < 0x1p50 ? llround(span / gaps) : (int64_t)1 << 50;
    }
    if (n > 0) {
        qsort(every, (size_t)n, sizeof *every, cmp_i64);
        median = every[(n - 1) / 2];
    }
    free(every);
    return median;
}

/* Known ops first (dispatch, combine), then the others in the files' order. */
static int op_rank(const char *name)
{
    return strcmp(name, "dispatch") == 0 ? 0 : strcmp(name, "combine") == 0 ? 1 : 2;
}

static void order_ops(dxt_input *in, dxt_trace_state *t)
{
    int order[DXT_MAX_OPS], count = 0;
    for (int pass = 0; pass < 3; pass++)
        for (int k = 0; k < in->nops; k++)
            if (op_rank(in->ops[k]) == pass)
                order[count++] = k;
    char names[DXT_MAX_OPS][DXT_OP_NAME_MAX];
    int tokens[DXT_MAX_OPS];
    memcpy(names, in->ops, sizeof names);
    memcpy(tokens, in->op_has_tokens, sizeof tokens);
    for (int k = 0; k < in->nops; k++) {
        memcpy(in->ops[k], names[order[k]], sizeof names[0]);
        in->op_has_tokens[k] = tokens[order[k]];
    }
    for (int f = 0; f < t->nfiles; f++) {
        dxt_trace_file *file = &t->files[f], copy = *file;
        for (int k = 0; k < in->nops; k++) {
            file->op_index[k] = copy.op_index[order[k]];
            file->op_first[k] = copy.op_first[order[k]];
            file->op_last[k] = copy.op_last[order[k]];
        }
    }
}

int dxt_trace_gather_ops(dxt_input *in, dxt_trace_state *t, dxt_error *err)
{
    int no_clock = 0, has_ns = 0;
    int with_op[DXT_MAX_OPS] = {0}, with_tokens[DXT_MAX_OPS] = {0};
    in->first_step = INT64_MAX; /* steps may be negative: min and max of what is there */
    in->last_step = INT64_MIN;
    for (int k = 0; k < t->nfiles; k++) {
        if (file_ops(in, &t->files[k], &no_clock, &has_ns, with_op, with_tokens) != 0) {
            dxt_set_error(err, "%s: out of memory", in->path);
            return -1;
        }
    }
    if (in->nops == 0 || in->first_step > in->last_step) {
        dxt_set_error(err, "%s: no op holds any row", in->path);
        return -1;
    }
    for (int k = 0; k < in->nops; k++)
        in->op_has_tokens[k] = with_op[k] > 0 && 2 * with_tokens[k] > with_op[k];
    order_ops(in, t);
    if (trim_step_outliers(in, t) != 0)
        return -1;
    in->row_every = typical_row_every(in, t);
    t->unit_us = !no_clock;
    snprintf(in->unit, sizeof in->unit, "%s", t->unit_us ? "us" : "cycles");
    if (no_clock && has_ns &&
        dxt_input_warn(in, "%s: some files count cycles with no clock_hz, others ns: "
                       "values are compared as they are", in->path) != 0)
        return -1;
    return 0;
}

/* "3, 7-9, 12" into buf. */
static void format_ranks(const unsigned char *present, int n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used + 16 < size; i++) {
        if (present[i])
            continue;
        int j = i;
        while (j + 1 < n && !present[j + 1])
            j++;
        if (j > i)
            used += (size_t)snprintf(buf + used, size - used, "%s%d-%d", used ? ", " : "", i, j);
        else
            used += (size_t)snprintf(buf + used, size - used, "%s%d", used ? ", " : "", i);
        i = j;
    }
}

/* Nodes from the node attributes (in order of first rank), when every file has one. */
static int nodes_from_files(dxt_input *in, dxt_trace_state *t, int *ok)
{
    const char **name_of = calloc((size_t)in->n, sizeof *name_of);
    int rc = -1;
    *ok = 0;
    if (!name_of || !(in->node_of = calloc((size_t)in->n, sizeof *in->node_of)) ||
        !(in->node_names = calloc((size_t)in->n, sizeof *in->node_names)))
        goto fail;
    for (int k = 0; k < t->nfiles; k++) {
        const char *node = dxt_reader_meta(t->files[k].reader)->node;
        if (node[0] == '\0') {
            rc = 0; /* no node: group by count */
            goto fail;
        }
        if (!name_of[t->files[k].rank])
            name_of[t->files[k].rank] = node;
    }
    for (int i = 0; i < in->n; i++) {
        if (!name_of[i]) /* a missing rank joins the node before it (or after, for rank 0) */
            continue;
        int found = -1;
        for (int m = 0; m < in->nnodes && found < 0; m++)
            if (strcmp(in->node_names[m], name_of[i]) == 0)
                found = m;
        if (found < 0) {
            if (!(in->node_names[in->nnodes] = strdup(name_of[i])))
                goto fail;
            found = in->nnodes++;
        }
        in->node_of[i] = found;
    }
    int last = 0;
    for (int i = 0; i < in->n; i++)
        if (name_of[i]) {
            last = in->node_of[i];
            break;
        }
    for (int i = 0; i < in->n; i++) {
        if (name_of[i])
            last = in->node_of[i];
        else
            in->node_of[i] = last;
    }
    *ok = 1;
    rc = 0;
fail:
    free(name_of);
    return rc;
}

static int trace_nodes(dxt_input *in, dxt_trace_state *t, int per_node)
{
    int ok = 0;
    if (nodes_from_files(in, t, &ok) != 0)
        return -1;
    if (ok)
        return 0;
    for (int k = 0; k < in->nnodes; k++)
        free(in->node_names[k]);
    free(in->node_names);
    free(in->node_of);
    in->node_names = NULL;
    in->node_of = NULL;
    in->nnodes = 0;
    return dxt_input_nodes_by_count(in, per_node);
}

/* 1 when file g of the same rank was started after f: created later, or its
 * rows all follow f's (the next segment of a recording). */
static int started_after(const dxt_input *in, const dxt_trace_file *f, const dxt_trace_file *g)
{
    int64_t born_f = dxt_reader_meta(f->reader)->created_unix_ns;
    int64_t born_g = dxt_reader_meta(g->reader)->created_unix_ns;
    if (born_f > 0 && born_g > 0 && born_f != born_g)
        return born_g > born_f;
    int any = 0;
    for (int k = 0; k < in->nops; k++) {
        if (f->op_index[k] < 0 || g->op_index[k] < 0)
            continue;
        if (g->op_first[k] <= f->op_last[k])
            return 0;
        any = 1;
    }
    return any;
}

/* Is f still being written? closed_unix_ns 0 (absent: an older writer, taken
 * as closed) and no newer file of its rank (a writer that went on to a new
 * segment after a write error is done with this one). */
static int file_writing(const dxt_input *in, const dxt_trace_state *t, int k)
{
    const dxt_trace_file *f = &t->files[k];
    if (dxt_reader_meta(f->reader)->closed_unix_ns != 0)
        return 0;
    for (int m = 0; m < t->nfiles; m++)
        if (m != k && t->files[m].rank == f->rank && started_after(in, f, &t->files[m]))
            return 0;
    return 1;
}

/* The rank's rows reach step *last in every op it records: the smallest of its
 * ops' last steps (0 when it has no row, *last untouched). files: the indices
 * of its nfiles files. */
static int rank_reach(const dxt_input *in, const dxt_trace_state *t, const int *files,
                      int nfiles, int64_t *last)
{
    int any = 0;
    for (int k = 0; k < in->nops; k++) {
        int64_t op_last = INT64_MIN;
        for (int m = 0; m < nfiles; m++) {
            const dxt_trace_file *f = &t->files[files[m]];
            if (f->op_index[k] >= 0 && f->op_last[k] > op_last)
                op_last = f->op_last[k];
        }
        if (op_last == INT64_MIN)
            continue;
        if (!any || op_last < *last)
            *last = op_last;
        any = 1;
    }
    return any;
}

/* A trace being written (dxt-analyze --follow): the files still written, the
 * files of older writers, and the step up to which every present rank has
 * rows (a rank with no row yet holds every window open while it is written).
 * files_of[i]: rank i's file count; writing_of[i]: those still written. */
static int trace_writing(dxt_input *in, const dxt_trace_state *t, const int *files_of,
                         const int *writing_of)
{
    in->nwriting = in->nlegacy = 0;
    for (int k = 0; k < t->nfiles; k++)
        in->nlegacy += dxt_reader_meta(t->files[k].reader)->closed_unix_ns < 0;
    for (int i = 0; i < in->n; i++)
        in->nwriting += writing_of[i];
    in->complete_step = in->last_step;
    if (in->nwriting == 0)
        return 0;
    /* the files of each rank: order[start[i] .. start[i + 1]) */
    int *start = calloc((size_t)in->n + 1, sizeof *start);
    int *next = malloc((size_t)in->n * sizeof *next);
    int *order = malloc((size_t)t->nfiles * sizeof *order);
    int rc = -1;
    if (!start || !next || !order)
        goto fail;
    for (int i = 0; i < in->n; i++)
        start[i + 1] = start[i] + files_of[i];
    memcpy(next, start, (size_t)in->n * sizeof *next);
    for (int k = 0; k < t->nfiles; k++)
        order[next[t->files[k].rank]++] = k;
    for (int i = 0; i < in->n; i++) {
        int64_t last = INT64_MIN;
        if (start[i + 1] == start[i])
            continue; /* not present */
        if (!rank_reach(in, t, order + start[i], start[i + 1] - start[i], &last)) {
            if (writing_of[i])
                in->complete_step = INT64_MIN;
            continue;
        }
        if (last < in->complete_step)
            in->complete_step = last;
    }
    rc = 0;
fail:
    free(start);
    free(next);
    free(order);
    return rc;
}

int dxt_trace_gather_ranks(dxt_input *in, dxt_trace_state *t, int per_node, dxt_error *err)
{
    int *files_of = calloc((size_t)in->n, sizeof *files_of);
    int *writing_of = calloc((size_t)in->n, sizeof *writing_of);
    int rc = -1;
    if (!files_of || !writing_of || !(in->rank_present = calloc((size_t)in->n, 1)))
        goto fail;
    for (int k = 0; k < t->nfiles; k++) {
        files_of[t->files[k].rank]++;
        writing_of[t->files[k].rank] += file_writing(in, t, k);
        in->rank_present[t->files[k].rank] = 1;
    }
    if (trace_writing(in, t, files_of, writing_of) != 0)
        goto fail;
    char list[512];
    format_ranks(in->rank_present, in->n, list, sizeof list);
    if (list[0] && dxt_input_warn(in, "%s: no file for rank(s) %s of %d: their rows are "
                                  "missing", in->path, list, in->n) != 0)
        goto fail;
    for (int i = 0; i < in->n; i++)
        if (files_of[i] > 1 &&
            dxt_input_warn(in, "%s: rank %d has %d files: merged as segments by step",
                           in->path, i, files_of[i]) != 0)
            goto fail;
    if (trace_nodes(in, t, per_node) != 0)
        goto fail;
    rc = 0;
fail:
    free(files_of);
    free(writing_of);
    if (rc != 0)
        dxt_set_error(err, "%s: out of memory", in->path);
    return rc;
}
