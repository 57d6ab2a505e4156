/* load_trace.c - loading a trace directory for dxt-analyze: list the *.h5
 * files, open and validate each (a bad one is skipped and reported), keep one
 * run, agree on world_size, gather each rank's segments (the recorder's
 * rank-%05d.<k>.h5 files after a write error; a file whose steps overlap a
 * newer file of its rank is an earlier attempt and is skipped), ops, unit, step range, dropped
 * rows and nodes. The rows themselves are streamed later (load_stream.c).
 * Owner: the loader/report engineer (A2). */
#include "load_trace.h"

#include "par_for.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

int dxt_is_hdf5_file(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char head[8];
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0; /* a FIFO would block the open */
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    return got == sizeof head && memcmp(head, sig, sizeof sig) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* The *.h5 paths of dir (or dir itself when it is a file), sorted. */
static int list_files(const char *dir, char ***out, int *count, dxt_error *err)
{
    struct stat st;
    char **paths = NULL;
    int n = 0, rc = -1;
    DIR *d = NULL;
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        paths = malloc(sizeof *paths);
        if (!paths || !(paths[0] = strdup(dir)))
            goto oom;
        n = 1;
        goto done;
    }
    if (!(d = opendir(dir))) {
        dxt_set_error(err, "%s: cannot read directory: %s", dir, strerror(errno));
        goto fail;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!ends_with(e->d_name, ".h5"))
            continue;
        char **grown = realloc(paths, (size_t)(n + 1) * sizeof *paths);
        if (!grown)
            goto oom;
        paths = grown;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        if (!(paths[n] = malloc(len)))
            goto oom;
        snprintf(paths[n++], len, "%s/%s", dir, e->d_name);
    }
    if (n > 1)
        qsort(paths, (size_t)n, sizeof *paths, cmp_str);
done:
    *out = paths;
    *count = n;
    paths = NULL;
    rc = 0;
    goto fail;
oom:
    dxt_set_error(err, "%s: out of memory", dir);
fail:
    for (int k = 0; paths && k < n; k++)
        free(paths[k]);
    free(paths);
    if (d)
        closedir(d);
    return rc;
}

static void file_close(dxt_trace_file *f)
{
    dxt_reader_close(f->reader);
    f->reader = NULL;
    free(f->path);
    f->path = NULL;
}

void dxt_trace_free(dxt_trace_state *t)
{
    if (!t)
        return;
    for (int k = 0; k < t->nfiles; k++)
        file_close(&t->files[k]);
    free(t->files);
    dxt_par_free(t->par);
    free(t);
}

int dxt_trace_add_file(dxt_input *in, dxt_trace_state *t, dxt_reader *r, const char *path,
                       dxt_error *err)
{
    /* validated; the first max_open stay open for the reads (an HDF5 open costs
     * about 1 MB, half of it zeroed: opening twice was a tenth of the load), the
     * others are reopened when read (dxt_trace_make_room) */
    if (dxt_reader_is_open(r) && t->nopen < t->max_open)
        t->nopen++;
    else
        dxt_reader_suspend(r);
    dxt_trace_file *f = &t->files[t->nfiles++];
    f->reader = r;
    f->rank = (int)dxt_reader_meta(r)->rank;
    if (!(f->path = strdup(path))) {
        dxt_set_error(err, "%s: out of memory", in->path);
        return -1;
    }
    return 0;
}

/* Open every listed file, a batch at a time; the bad ones go to in->skipped. */
static int open_files(dxt_input *in, dxt_trace_state *t, char **paths, int npaths,
                      dxt_error *err)
{
    int batch = npaths < DXT_CHECK_BATCH ? npaths : DXT_CHECK_BATCH, rc = 0, done = 0;
    dxt_checked *c = calloc((size_t)(batch > 0 ? batch : 1), sizeof *c);
    if (!c) {
        dxt_set_error(err, "%s: out of memory", in->path);
        return -1;
    }
    for (int first = 0; first < npaths && rc == 0; first += batch) {
        int count = npaths - first < batch ? npaths - first : batch, k = 0;
        done = dxt_trace_validate_batch(t, paths + first, count, c);
        for (; k < done && rc == 0; k++) {
            if (c[k].status < 0) {
                *err = c[k].why;
                rc = -1;
            } else if (c[k].status == 0 && dxt_input_skip(in, paths[first + k], c[k].why.msg)) {
                dxt_set_error(err, "%s: out of memory", in->path);
                rc = -1;
            } else if (c[k].status == 1) {
                rc = dxt_trace_add_file(in, t, c[k].reader, paths[first + k], err);
                c[k].reader = NULL;
            }
        }
        for (; k < done; k++) /* not kept: the load stops */
            dxt_reader_close(c[k].reader);
    }
    free(c);
    return rc;
}

/* DXT_TRACE_MAX_OPEN, fewer when the environment says so or when the file
 * descriptor limit leaves less (an open file holds one; 32 kept for the rest). */
static int max_open_files(void)
{
    int most = DXT_TRACE_MAX_OPEN;
    const char *env = getenv("DXT_TRACE_MAX_OPEN");
    if (env && atoi(env) >= 1 && atoi(env) < most)
        most = atoi(env);
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        lim.rlim_cur < (rlim_t)most + 32)
        most = lim.rlim_cur > 40 ? (int)lim.rlim_cur - 32
               : lim.rlim_cur > 12 ? (int)lim.rlim_cur - 10 : 1;
    return most;
}

void dxt_trace_make_room(dxt_trace_state *t, dxt_trace_file *f)
{
    if (dxt_reader_is_open(f->reader) || t->nopen < t->max_open)
        return;
    dxt_trace_file *newest = NULL;
    for (int k = 0; k < t->nfiles; k++) {
        dxt_trace_file *g = &t->files[k];
        if (g != f && dxt_reader_is_open(g->reader) && (!newest || g->last_use > newest->last_use))
            newest = g;
    }
    if (newest) {
        dxt_reader_suspend(newest->reader);
        t->nopen--;
    }
}

void dxt_trace_count_open(dxt_trace_state *t, dxt_trace_file *f, int was_open)
{
    t->nopen += dxt_reader_is_open(f->reader) - was_open;
    f->last_use = ++t->clock;
}

int64_t dxt_trace_read(dxt_trace_state *t, dxt_trace_file *f, int op, int64_t first,
                       int64_t nrows, int64_t *step, int64_t *wait, int64_t *tokens,
                       double *clock_hz, dxt_error *err)
{
    dxt_trace_make_room(t, f);
    int was_open = dxt_reader_is_open(f->reader);
    int64_t got = dxt_reader_read(f->reader, op, first, nrows, step, NULL, wait, tokens,
                                  clock_hz, err);
    dxt_trace_count_open(t, f, was_open);
    return got;
}

void dxt_trace_load_times(const dxt_input *in, dxt_load_times *out)
{
    const dxt_trace_state *t = in->trace;
    memset(out, 0, sizeof *out);
    if (!t)
        return;
    out->read_s = t->read_s;
    out->wait_s = t->wait_s;
    out->sums_s = t->sums_s;
    out->decode_s = t->decode_s;
    if (t->par)
        out->threads = dxt_par_threads(t->par);
}

/* Drop file k (not of the chosen run, or disagreeing): close it, remove it. */
static void drop_file(dxt_trace_state *t, int k)
{
    t->nopen -= dxt_reader_is_open(t->files[k].reader);
    file_close(&t->files[k]);
    t->files[k] = t->files[--t->nfiles];
}

/* Keep the files of one run: the one named, else the only one. */
static int choose_run(dxt_input *in, dxt_trace_state *t, const char *want, dxt_error *err)
{
    char runs[1024] = "";
    int nruns = 0;
    const char *chosen = want;
    for (int k = 0; k < t->nfiles; k++) {
        const char *id = dxt_reader_meta(t->files[k].reader)->run_id;
        int seen = 0;
        for (int m = 0; m < k && !seen; m++)
            seen = strcmp(dxt_reader_meta(t->files[m].reader)->run_id, id) == 0;
        if (seen)
            continue;
        nruns++;
        size_t used = strlen(runs);
        snprintf(runs + used, sizeof runs - used, "%s'%s' (%s, ...)", used ? ", " : "", id,
                 t->files[k].path);
        if (!want)
            chosen = id;
    }
    if (want) {
        int found = 0;
        for (int k = 0; k < t->nfiles && !found; k++)
            found = strcmp(dxt_reader_meta(t->files[k].reader)->run_id, want) == 0;
        if (!found) {
            dxt_set_error(err, "%s: no file of run '%s'; runs here: %s", in->path, want, runs);
            return -1;
        }
    } else if (nruns > 1) {
        dxt_set_error(err, "%s: files of %d runs, not mixed: %s; pick one with --run ID",
                      in->path, nruns, runs);
        return -1;
    }
    snprintf(in->run_id, sizeof in->run_id, "%s", chosen ? chosen : "");
    for (int k = t->nfiles - 1; k >= 0; k--)
        if (strcmp(dxt_reader_meta(t->files[k].reader)->run_id, in->run_id) != 0)
            drop_file(t, k);
    return 0;
}

/* world_size: the value most files give; files that disagree are skipped. */
static int agree_world_size(dxt_input *in, dxt_trace_state *t)
{
    int64_t best = 0;
    int best_count = 0;
    for (int k = 0; k < t->nfiles; k++) {
        int64_t w = dxt_reader_meta(t->files[k].reader)->world_size, count = 0;
        for (int m = 0; m < t->nfiles; m++)
            count += dxt_reader_meta(t->files[m].reader)->world_size == w;
        if (count > best_count)
            best = w, best_count = (int)count;
    }
    in->n = (int)best;
    for (int k = t->nfiles - 1; k >= 0; k--) {
        int64_t w = dxt_reader_meta(t->files[k].reader)->world_size;
        if (w == best)
            continue;
        char reason[160];
        snprintf(reason, sizeof reason, "world_size %lld, the other files say %lld",
                 (long long)w, (long long)best);
        if (dxt_input_skip(in, t->files[k].path, reason) != 0)
            return -1;
        drop_file(t, k);
    }
    return 0;
}

/* 1 when files a and b (same rank) hold a step of the same op in common range. */
static int steps_overlap(const dxt_input *in, const dxt_trace_file *a, const dxt_trace_file *b)
{
    for (int k = 0; k < in->nops; k++)
        if (a->op_index[k] >= 0 && b->op_index[k] >= 0 && a->op_first[k] <= b->op_last[k] &&
            b->op_first[k] <= a->op_last[k])
            return 1;
    return 0;
}

/* Segments of one recording never overlap in steps: when two files of a rank
 * do, the older one (created_unix_ns) is an earlier attempt of the same run
 * id and is skipped, so that its rows never win over the newer ones. */
static int drop_superseded(dxt_input *in, dxt_trace_state *t)
{
    for (int k = t->nfiles - 1; k >= 0; k--) {
        const dxt_trace_file *old = &t->files[k];
        int64_t born = dxt_reader_meta(old->reader)->created_unix_ns;
        for (int m = 0; m < t->nfiles; m++) {
            const dxt_trace_file *f = &t->files[m];
            int64_t other = dxt_reader_meta(f->reader)->created_unix_ns;
            if (m == k || f->rank != old->rank || other <= born || !steps_overlap(in, old, f))
                continue;
            char reason[700];
            snprintf(reason, sizeof reason, "rank %d: an earlier recording (created_unix_ns "
                     "%lld) whose steps overlap the newer %.400s (%lld): not used",
                     old->rank, (long long)born, f->path, (long long)other);
            if (dxt_input_skip(in, old->path, reason) != 0)
                return -1;
            drop_file(t, k);
            break;
        }
    }
    return 0;
}

int dxt_trace_load(dxt_input *in, const char *dir, const dxt_input_opts *opts, dxt_error *err)
{
    char **paths = NULL;
    int npaths = 0, rc = -1;
    dxt_trace_state *t = calloc(1, sizeof *t);
    if (!t) {
        dxt_set_error(err, "%s: out of memory", dir);
        return -1;
    }
    in->trace = t;
    t->max_open = max_open_files();
    int listed = list_files(dir, &paths, &npaths, err);
    if (listed == 0 && npaths == 0) {
        dxt_set_error(err, "%s: no *.h5 file (expected a trace directory)", dir);
        listed = -1;
    }
    if (listed == 0 && !(t->files = calloc((size_t)npaths, sizeof *t->files))) {
        dxt_set_error(err, "%s: out of memory", dir);
        listed = -1;
    }
    if (opts->partition && opts->partition->count > 1) { /* each process opens its share */
        if (dxt_trace_open_parts(in, t, paths, listed == 0 ? npaths : -1, opts->partition,
                                 err) != 0)
            goto fail;
    } else if (listed != 0 || open_files(in, t, paths, npaths, err) != 0) {
        goto fail;
    }
    if (t->nfiles == 0) {
        dxt_set_error(err, "%s: none of its %d .h5 files is usable (first: %s)", dir, npaths,
                      in->nskipped ? in->skipped[0].reason : "?");
        goto fail;
    }
    if (choose_run(in, t, opts->run_id, err) != 0)
        goto fail;
    if (agree_world_size(in, t) != 0 || dxt_trace_gather_ops(in, t, err) != 0 ||
        drop_superseded(in, t) != 0 || dxt_trace_gather_ranks(in, t, opts->per_node, err) != 0)
        goto fail;
    in->nfiles = t->nfiles;
    rc = 0;
fail:
    for (int k = 0; k < npaths; k++)
        free(paths[k]);
    free(paths);
    if (rc != 0 && err->msg[0] == '\0')
        dxt_set_error(err, "%s: out of memory", dir);
    return rc;
}
