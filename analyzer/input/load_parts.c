/* load_parts.c - a trace's files opened by the processes of a partitioned run
 * (dxt_partition, dxtanalysis.h; `mpirun -n P dxt-analyze`), and the partition's
 * helpers the run (run/partition.c) shares: the blocks (process 0's smaller: it also
 * takes every window, classifies and reports), the agreement on a result.
 * No MPI here: the exchanges are the caller's hooks.
 *
 * Validating a file (dxt_reader_open: its attributes, the whole step dataset, the
 * tails of the others) is most of a load. Each process validates its block of the
 * sorted file list; the results (a file's metadata and ops, or why it is skipped)
 * go to process 0 in one gather and to every process in one broadcast, and every
 * process then keeps the files in list order as a serial load does (the same
 * skips, in the same order): the rest of the load (run, world size, ops, ranks)
 * runs alike everywhere on the metadata alone. A file validated by another
 * process is adopted suspended (dxt_reader_adopt): the first read opens it.
 * Owner: the parallel-analysis engineer (issue 15). */
#include "load_trace.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

void dxt_partition_block(int n, int count, int index, int *first, int *end)
{
    if (n < 0 || count < 1 || index < 0 || index >= count) {
        *first = *end = 0;
        return;
    }
    int q = n / count, r = n % count;
    *first = index * q + (index < r ? index : r);
    *end = *first + q + (index < r);
}

/* Process 0's other work per window (taking every window: sums, the classifier's
 * view; classifying an op while the next is read), in percent of the whole read. */
#define ROOT_EXTRA_PERCENT 15

void dxt_partition_share(int n, int count, int index, int *first, int *end)
{
    if (n < 0 || count < 2 || index < 0 || index >= count) {
        dxt_partition_block(n, count, index, first, end);
        return;
    }
    /* process 0 in quarters of a share: balanced when its share of the read plus
     * its extra work is the others' share: (1 - x (P - 1)) / (1 + x), x the extra */
    int64_t q = (400 - 4 * ROOT_EXTRA_PERCENT * (int64_t)(count - 1) + 57) /
                (100 + ROOT_EXTRA_PERCENT);
    q = q < 0 ? 0 : q > 4 ? 4 : q;
    int64_t units = 4 * (int64_t)(count - 1) + q;
    *first = index == 0 ? 0 : (int)((int64_t)n * (q + 4 * (index - 1)) / units);
    *end = (int)((int64_t)n * (q + 4 * (int64_t)index) / units);
}

int dxt_partition_failed(dxt_error *err)
{
    dxt_set_error(err, "the exchange between the processes of a partitioned run failed");
    return -1;
}

int dxt_partition_settle(const dxt_partition *p, const int64_t *all, int stride, dxt_error *err)
{
    int from = -1;
    for (int k = 0; k < p->count && from < 0; k++)
        if (all[(size_t)k * (size_t)stride] != 0)
            from = k;
    if (from < 0)
        return 0;
    if (p->bcast(p->user, err->msg, sizeof err->msg, from) != 0)
        return dxt_partition_failed(err);
    err->msg[sizeof err->msg - 1] = '\0';
    return all[(size_t)from * (size_t)stride] == -2 ? -2 : -1;
}

int dxt_partition_too_many(const dxt_partition *p, dxt_error *err)
{
    if (p->count <= DXT_PARTITION_MAX)
        return 0;
    dxt_set_error(err, "%d processes: at most %d analyze one trace", p->count,
                  DXT_PARTITION_MAX);
    return 1;
}

int dxt_partition_agree(const dxt_partition *p, int rc, dxt_error *err)
{
    if (!p || p->count <= 1)
        return rc;
    if (dxt_partition_too_many(p, err)) /* the same on every process: no exchange */
        return -1;
    int64_t mine = rc, all[DXT_PARTITION_MAX];
    if (p->allgather(p->user, &mine, 1, all) != 0)
        return dxt_partition_failed(err);
    return dxt_partition_settle(p, all, 1, err);
}

/* ---- the files, validated once ------------------------------------------------------ */

/* One file's result as sent: the header, then nops dxt_op_info when kept. */
typedef struct file_record {
    int32_t status;          /* 1 kept, 0 skipped (why), -1 the load stops (why) */
    int32_t nops;
    dxt_error why;
    dxt_meta meta;
} file_record;

/* The list every process made, by its names within the directory (FNV-1a): the
 * blocks are only the same files when the lists are. */
static int64_t list_hash(char **paths, int npaths)
{
    uint64_t h = 1469598103934665603ull;
    for (int k = 0; k < npaths; k++) {
        const char *base = strrchr(paths[k], '/');
        for (const char *c = base ? base + 1 : paths[k]; *c; c++)
            h = (h ^ (unsigned char)*c) * 1099511628211ull;
        h = (h ^ '/') * 1099511628211ull;
    }
    return (int64_t)(h >> 1);
}

/* Append file k's record (its status, why, meta and ops) to *buf. 0 or -1. */
static int add_record(const dxt_checked *c, char **buf, size_t *used, size_t *cap)
{
    file_record rec;
    memset(&rec, 0, sizeof rec);
    rec.status = c->status;
    rec.why = c->why;
    rec.nops = c->reader ? dxt_reader_op_count(c->reader) : 0;
    if (c->reader)
        rec.meta = *dxt_reader_meta(c->reader);
    size_t need = sizeof rec + (size_t)rec.nops * sizeof(dxt_op_info);
    if (*used + need > *cap) {
        size_t grown_cap = 2 * (*used + need);
        char *grown = realloc(*buf, grown_cap);
        if (!grown)
            return -1;
        *buf = grown;
        *cap = grown_cap;
    }
    memcpy(*buf + *used, &rec, sizeof rec);
    for (int i = 0; i < rec.nops; i++)
        memcpy(*buf + *used + sizeof rec + (size_t)i * sizeof(dxt_op_info),
               dxt_reader_op(c->reader, i), sizeof(dxt_op_info));
    *used += need;
    return 0;
}

/* Validate paths [first, end) into records at out (the bytes they take, or -1
 * out of memory); own[k - first]: the readers kept. Stops after a file that
 * stops the load. */
static int64_t validate_block(dxt_trace_state *t, char **paths, int first, int end,
                              dxt_reader **own, char **out)
{
    size_t used = 0, cap = 0;
    char *buf = NULL;
    dxt_checked *c = calloc(DXT_CHECK_BATCH, sizeof *c);
    int stop = !c;
    for (int at = first; at < end && !stop; at += DXT_CHECK_BATCH) {
        int count = end - at < DXT_CHECK_BATCH ? end - at : DXT_CHECK_BATCH;
        int done = dxt_trace_validate_batch(t, paths + at, count, c);
        for (int k = 0; k < done; k++) {
            own[at + k - first] = c[k].reader;
            stop |= c[k].status < 0;
            if (add_record(&c[k], &buf, &used, &cap) < 0) {
                for (int m = k + 1; m < done; m++)
                    dxt_reader_close(c[m].reader);
                free(c);
                free(buf);
                return -1;
            }
        }
    }
    free(c);
    if (stop && !buf) /* out of memory before any record */
        return -1;
    *out = buf;
    return (int64_t)used;
}

/* Every file's record, in list order (process order is list order), into the
 * input as a serial load would: skipped, or kept (this process's own reader, or
 * one adopted). 0, or -1 with err (the same on every process). */
static int take_records(dxt_input *in, dxt_trace_state *t, char **paths, int npaths,
                        const char *buf, size_t len, int first, int nown, dxt_reader **own,
                        dxt_error *err)
{
    size_t at = 0;
    for (int k = 0; k < npaths; k++) {
        file_record rec;
        if (at + sizeof rec > len)
            break; /* not reached: the block's owner stopped at a load-stopping file */
        memcpy(&rec, buf + at, sizeof rec);
        size_t ops_at = at + sizeof rec;
        at = ops_at + (size_t)rec.nops * sizeof(dxt_op_info);
        rec.why.msg[sizeof rec.why.msg - 1] = '\0';
        if (rec.status < 0) {
            *err = rec.why;
            return -1;
        }
        if (rec.status == 0) {
            if (dxt_input_skip(in, paths[k], rec.why.msg) != 0)
                goto oom;
            continue;
        }
        dxt_reader *r = k >= first && k - first < nown ? own[k - first] : NULL;
        if (r)
            own[k - first] = NULL; /* t owns it now */
        else if (rec.nops < 1 || rec.nops > DXT_MAX_OPS || at > len ||
                 dxt_reader_adopt(paths[k], &rec.meta, (const dxt_op_info *)(buf + ops_at),
                                  rec.nops, &r, err) != 0)
            return -1;
        if (dxt_trace_add_file(in, t, r, paths[k], err) != 0)
            return -1;
    }
    return 0;
oom:
    dxt_set_error(err, "%s: out of memory", in->path);
    return -1;
}

/* The exchanges: sizes, this process's records to process 0, all of them to every
 * process. *all: the records of every process (malloc'd), *len their bytes. */
static int share_records(const dxt_partition *p, const char *mine, int64_t mine_len,
                         char **all, size_t *len, dxt_error *err)
{
    int64_t lens[DXT_PARTITION_MAX], total = 0;
    int first[DXT_PARTITION_MAX], size[DXT_PARTITION_MAX];
    if (p->allgather(p->user, &mine_len, 1, lens) != 0)
        return dxt_partition_failed(err);
    for (int k = 0; k < p->count; k++) {
        first[k] = (int)total;
        size[k] = (int)lens[k];
        total += lens[k] > 0 ? lens[k] : 0;
        if (lens[k] < 0 || total >= INT_MAX) { /* the same decision everywhere */
            dxt_set_error(err, "out of memory for the files' metadata (process %d)", k);
            return -1;
        }
    }
    char *buf = malloc(total > 0 ? (size_t)total : 1);
    int rc = dxt_partition_agree(p, buf ? 0 : -1, err);
    if (rc == 0) {
        if (mine_len > 0)
            memcpy(buf + first[p->index], mine, (size_t)mine_len);
        if (p->gather_rows(p->user, buf, 1, first, size) != 0 ||
            p->bcast(p->user, buf, (size_t)total, 0) != 0)
            rc = dxt_partition_failed(err);
    }
    if (rc != 0) {
        free(buf);
        return -1;
    }
    *all = buf;
    *len = (size_t)total;
    return 0;
}

int dxt_trace_open_parts(dxt_input *in, dxt_trace_state *t, char **paths, int npaths,
                         const dxt_partition *p, dxt_error *err)
{
    if (dxt_partition_agree(p, npaths < 0 ? -1 : 0, err) != 0)
        return -1;
    int64_t mine[2] = {npaths, list_hash(paths, npaths)}, lists[2 * DXT_PARTITION_MAX];
    if (p->allgather(p->user, mine, 2, lists) != 0)
        return dxt_partition_failed(err);
    for (int k = 1; k < p->count; k++)
        if (lists[2 * k] != lists[0] || lists[2 * k + 1] != lists[1]) {
            dxt_set_error(err, "%s: the processes see different files there (%lld and "
                          "%lld .h5 files: a trace still written?)", in->path,
                          (long long)lists[0], (long long)lists[2 * k]);
            return -1;
        }
    int first, end;
    dxt_partition_share(npaths, p->count, p->index, &first, &end);
    dxt_reader **own = calloc((size_t)(end - first) + 1, sizeof *own);
    char *records = NULL, *all = NULL;
    size_t len = 0;
    int64_t used = own ? validate_block(t, paths, first, end, own, &records) : -1;
    int rc = share_records(p, records, used, &all, &len, err);
    if (rc == 0)
        rc = take_records(in, t, paths, npaths, all, len, first, end - first, own, err);
    for (int k = 0; own && k < end - first; k++)
        dxt_reader_close(own[k]); /* those not kept (the load stopped before them) */
    free(own);
    free(records);
    free(all);
    return rc;
}
