/* follow.c - the follow API of libdxtanalysis (dxtanalysis.h): a trace
 * directory read while its recorders write it (dxt-analyze --follow).
 *
 * Each poll re-opens the trace (input/: a fresh dxt_input, so new rows, new
 * segments and new rank files are all seen), finds the step up to which every
 * window is closed (every present rank has rows past it, or every writer has
 * closed its files), runs the ordinary analysis (run/) over the windows up to
 * there, and writes one line per newly closed window that has findings: which
 * findings are new in it, still active, or ended. Windows have a fixed size
 * and are aligned on the first step of the first poll, so a window means the
 * same steps at every poll. The findings of a poll come from the whole history
 * (the classifier's tests over time), so a finding may reach back before the
 * window it is first printed in: its first_step says where it starts.
 *
 * Ownership: a dxt_follow owns its copies of the options and the input of the
 * last dxt_follow_final; each poll's input and analysis live for that poll.
 * Nothing here prints on its own: lines go to the FILE the caller gives.
 * Owner: the analysis engineers (analyzer/). */
#include "report.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define FOLLOW_CLOSED_POLLS 2 /* every file closed at this many polls in a row: done */
#define FOLLOW_HOLD_POLLS 3   /* a rank seen before and missing now holds the windows
                               * this many polls (a file being replaced, or created);
                               * so does a rank of world_size with no file at all, in
                               * the first polls that read the trace (a late rank) */

/* A finding as followed from window to window: a copy of it as last seen
 * (what it is about, the steps it was flagged in). */
typedef dxt_finding follow_key;

struct dxt_follow {
    char *dir;
    dxt_input_opts in_opts;
    char run_id[DXT_STR_MAX];  /* pinned at the first poll that read the trace */
    dxt_analysis_opts opts;    /* as given; window_steps fixed from the first window out */
    int window_given;          /* the options chose window_steps */
    int have_from;
    int64_t from;              /* windows are aligned here */
    int64_t printed_to;        /* last step of the last window out (valid with windows > 0) */
    int windows;
    int closed_polls, held_polls, read_polls;
    unsigned char *seen;       /* ranks present at an earlier poll */
    int seen_n;
    follow_key *active;        /* findings active in the last window out */
    int nactive;
    dxt_input *final_in;       /* dxt_follow_final's input */
};

int dxt_follow_new(const char *dir, const dxt_input_opts *in_opts,
                   const dxt_analysis_opts *opts, dxt_follow **out, dxt_error *err)
{
    *out = NULL;
    dxt_follow *f = calloc(1, sizeof *f);
    if (!f || !(f->dir = strdup(dir))) {
        free(f);
        dxt_set_error(err, "%s: out of memory", dir);
        return -1;
    }
    f->in_opts = *in_opts;
    f->opts = *opts;
    f->opts.progress = NULL;
    f->window_given = f->opts.window_steps > 0;
    if (!f->window_given)
        f->opts.window_steps = DXT_FOLLOW_WINDOW;
    *out = f;
    return 0;
}

void dxt_follow_free(dxt_follow *f)
{
    if (!f)
        return;
    dxt_input_free(f->final_in);
    free(f->seen);
    free(f->active);
    free(f->dir);
    free(f);
}

/* Open the trace, of the run followed so far. 0, or -1 with err. */
static int follow_open(dxt_follow *f, dxt_input **in, dxt_error *err)
{
    dxt_input_opts o = f->in_opts;
    if (f->run_id[0])
        o.run_id = f->run_id;
    if (dxt_input_open(f->dir, &o, in, err) != 0)
        return -1;
    if ((*in)->kind != DXT_INPUT_TRACE) {
        dxt_set_error(err, "%s: not a trace directory (--follow reads trace files)", f->dir);
        dxt_input_free(*in);
        *in = NULL;
        return -1;
    }
    if (!f->run_id[0])
        snprintf(f->run_id, sizeof f->run_id, "%s", (*in)->run_id);
    return 0;
}

/* 1 when a rank present at an earlier poll is missing now (its file is being
 * replaced by its compressed copy, or could not be read this time): the poll
 * closes no window, for FOLLOW_HOLD_POLLS polls at most. -1 out of memory. */
static int ranks_missing(dxt_follow *f, const dxt_input *in)
{
    if (f->seen_n != in->n) {
        free(f->seen);
        if (!(f->seen = calloc((size_t)in->n, 1)))
            return -1;
        f->seen_n = in->n;
    }
    int missing = 0, late = 0;
    for (int i = 0; i < in->n; i++) {
        missing |= f->seen[i] && !in->rank_present[i];
        late |= !in->rank_present[i];
    }
    if (late && ++f->read_polls <= FOLLOW_HOLD_POLLS)
        return 1;
    if (missing && ++f->held_polls <= FOLLOW_HOLD_POLLS)
        return 1;
    f->held_polls = 0;
    for (int i = 0; i < in->n; i++)
        f->seen[i] |= in->rank_present[i];
    return 0;
}

/* The last step of the closed windows: with every writer done, the input's
 * last step; else the end of the last whole window every rank has rows past
 * (steps may be any int64: unsigned arithmetic). 1 with *to, 0 when none. */
static int closed_end(const dxt_follow *f, const dxt_input *in, int done, int64_t *to)
{
    int64_t end = in->last_step;
    if (!done) {
        int64_t c = in->complete_step;
        if (c == INT64_MIN || c < f->from)
            return 0;
        uint64_t w = (uint64_t)f->opts.window_steps, span = (uint64_t)c - (uint64_t)f->from;
        uint64_t whole = span / w + (span % w == w - 1);
        if (whole == 0)
            return 0;
        end = (int64_t)((uint64_t)f->from + whole * w - 1);
    }
    if (f->opts.to < end)
        end = f->opts.to;
    if (end < f->from)
        return 0;
    *to = end;
    return 1;
}

/* ---- findings from window to window -------------------------------------------- */

static follow_key key_of(const dxt_finding *d)
{
    return *d;
}

static int same_subject(const follow_key *a, const follow_key *b)
{
    return a->kind == b->kind && strcmp(a->op, b->op) == 0 && a->rank == b->rank &&
           a->src == b->src && a->dst == b->dst && a->node == b->node &&
           a->as_source == b->as_source;
}

static int was_active(const dxt_follow *f, const follow_key *k)
{
    for (int m = 0; m < f->nactive; m++)
        if (same_subject(&f->active[m], k))
            return 1;
    return 0;
}

typedef enum { EVENT_NEW, EVENT_ACTIVE, EVENT_ENDED } event_kind;
static const char *const event_names[] = {"new", "active", "ended"};

/* One event of a window: a finding of this poll (d), or for an ended finding
 * that this poll no longer has, only its key. */
typedef struct follow_event {
    event_kind kind;
    follow_key key;
    const dxt_finding *d;   /* NULL: gone from this poll's findings */
} follow_event;

static int event_text(FILE *out, const dxt_analysis *a, const follow_event *e)
{
    char subject[256], op[DXT_OP_NAME_MAX * 4];
    const follow_key *k = &e->key;
    dxt_finding_subject(a, k, subject, sizeof subject);
    dxt_text_safe(k->op, op, sizeof op);
    int rc = fprintf(out, "%s %s in %s: %s", e->kind == EVENT_ACTIVE ? "still" :
                     event_names[e->kind], dxt_kind_str(k->kind), op, subject);
    if (rc >= 0 && e->kind == EVENT_ENDED)
        rc = fprintf(out, ", steps %lld-%lld", (long long)k->first_step,
                     (long long)k->last_step);
    else if (rc >= 0 && e->kind == EVENT_NEW)
        rc = fprintf(out, " from step %lld, %.1fx expected wait, z=%.1f, %s (p=%.2g)",
                     (long long)k->first_step, e->d->severity, e->d->score,
                     dxt_certainty_words(e->d->p_value), e->d->p_value);
    else if (rc >= 0)
        rc = fprintf(out, ", %.1fx expected wait, z=%.1f", e->d->severity, e->d->score);
    return rc < 0 ? -1 : 0;
}

/* ---- JSON lines ------------------------------------------------------------------ */

static int put(json_t *o, const char *key, json_t *value)
{
    return value ? json_object_set_new(o, key, value) : -1;
}

/* An event's object: its name, then the finding's fields as in the report
 * (without measures when it is gone from this poll's findings). */
static json_t *event_json(const dxt_analysis *a, const follow_event *e)
{
    json_t *o = json_object();
    if (o && (put(o, "event", json_string(event_names[e->kind])) != 0 ||
              dxt_finding_json_put(o, a, &e->key, e->d != NULL) != 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The window's line: JSON (one object) or text ("steps A-B: event; event"). */
static int window_line(FILE *out, int json, const dxt_analysis *a, int64_t first,
                       int64_t last, const follow_event *ev, int nev)
{
    if (!json) {
        int bad = fprintf(out, "steps %lld-%lld: ", (long long)first, (long long)last) < 0;
        for (int m = 0; m < nev && !bad; m++)
            bad = (m && fputs("; ", out) < 0) || event_text(out, a, &ev[m]) != 0;
        return bad || fputc('\n', out) < 0 ? -1 : 0;
    }
    json_t *o = json_object(), *arr = json_array();
    int bad = !o || !arr;
    for (int m = 0; m < nev && !bad; m++)
        bad = json_array_append_new(arr, event_json(a, &ev[m])) != 0;
    if (!bad)
        bad = put(o, "first_step", json_integer(first)) | put(o, "last_step", json_integer(last));
    if (!bad) {
        bad = json_object_set_new(o, "events", arr) != 0; /* takes arr, even on failure */
        arr = NULL;
    }
    if (!bad)
        bad = json_dumpf(o, out, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0 || fputc('\n', out) < 0;
    json_decref(arr);
    json_decref(o);
    return bad ? -1 : 0;
}

/* ---- windows ---------------------------------------------------------------------- */

/* The findings of fs (nfs) that end before first and have k's subject, or NULL. */
static const dxt_finding *ended_as(const dxt_finding **fs, int nfs, const follow_key *k,
                                   int64_t first)
{
    for (int m = 0; m < nfs; m++) {
        follow_key other = key_of(fs[m]);
        if (same_subject(&other, k) && fs[m]->last_step < first)
            return fs[m];
    }
    return NULL;
}

/* The events of window first..last (findings fs of this poll flagged in it:
 * new or still active; those active in the window before and not now: ended),
 * its line when it has any; the window's findings become the active ones. */
static int window_events(dxt_follow *f, const dxt_analysis *a, const dxt_finding **fs, int nfs,
                         int64_t first, int64_t last, FILE *out, int json)
{
    follow_event *ev = malloc((size_t)(nfs + f->nactive + 1) * sizeof *ev);
    follow_key *now = malloc((size_t)(nfs + 1) * sizeof *now);
    int nev = 0, nnow = 0, rc = -1;
    if (!ev || !now)
        goto fail;
    for (int m = 0; m < nfs; m++) {
        const dxt_finding *d = fs[m];
        if (d->first_step > last || d->last_step < first)
            continue;
        follow_key k = key_of(d);
        ev[nev++] = (follow_event){was_active(f, &k) ? EVENT_ACTIVE : EVENT_NEW, k, d};
        now[nnow++] = k;
    }
    for (int m = 0; m < f->nactive; m++) {
        int still = 0;
        for (int q = 0; q < nnow && !still; q++)
            still = same_subject(&now[q], &f->active[m]);
        if (still)
            continue;
        const dxt_finding *d = ended_as(fs, nfs, &f->active[m], first);
        ev[nev++] = (follow_event){EVENT_ENDED, d ? key_of(d) : f->active[m], d};
    }
    if (nev > 0 && window_line(out, json, a, first, last, ev, nev) != 0)
        goto fail;
    free(f->active);
    f->active = now;
    f->nactive = nnow;
    now = NULL;
    rc = 0;
fail:
    free(ev);
    free(now);
    return rc;
}

/* Analyze the windows from f->from to `to` and write the lines of those not
 * out yet. 0; -2 when the request selects nothing (yet); -1 with err. */
static int analyze_new(dxt_follow *f, dxt_input *in, int64_t to, FILE *out, int json,
                       dxt_error *err)
{
    dxt_analysis_opts o = f->opts;
    dxt_analysis *a = NULL;
    const dxt_finding **fs = NULL;
    o.from = f->from;
    o.to = to;
    /* the tests in the window alone: the default's size grows with the steps
     * read, and a finding would come and go between polls as it changed */
    o.test_window_steps = o.window_steps;
    int rc = dxt_analysis_run(in, &o, &a, err);
    if (rc != 0)
        return rc;
    int nfs = dxt_ranked_findings(a, &fs);
    if (nfs < 0) {
        dxt_set_error(err, "%s: out of memory", f->dir);
        rc = -1;
        goto fail;
    }
    uint64_t w = (uint64_t)f->opts.window_steps;
    for (int64_t first = f->windows ? f->printed_to + 1 : f->from;;) {
        int64_t last = (uint64_t)to - (uint64_t)first < w - 1 ? to
                                                              : (int64_t)((uint64_t)first + w - 1);
        if (window_events(f, a, fs, nfs, first, last, out, json) != 0) {
            dxt_set_error(err, "cannot write the findings of steps %lld-%lld (out of memory or "
                          "output error)", (long long)first, (long long)last);
            rc = -1;
            goto fail;
        }
        f->windows++;
        f->printed_to = last;
        if (last >= to)
            break;
        first = last + 1;
    }
fail:
    free(fs);
    dxt_analysis_free(a);
    return rc;
}

/* ---- polls -------------------------------------------------------------------------- */

static void status_fill(const dxt_follow *f, const dxt_input *in, dxt_follow_status *st)
{
    dxt_input_info info;
    st->have_input = in != NULL;
    if (in) {
        dxt_input_describe(in, &info);
        st->nfiles = info.nfiles;
        st->nwriting = info.nwriting;
        st->nlegacy = info.nlegacy;
    }
    st->closed_to = f->windows ? f->printed_to : INT64_MIN;
    st->windows = f->windows;
    st->active = f->nactive;
}

int dxt_follow_poll(dxt_follow *f, FILE *out, int json, dxt_follow_status *st, dxt_error *err)
{
    dxt_input *in = NULL;
    int64_t to;
    int rc = 0;
    memset(st, 0, sizeof *st);
    if (follow_open(f, &in, err) != 0) {
        f->closed_polls = 0;
        status_fill(f, NULL, st);
        return 0;
    }
    f->closed_polls = in->nwriting == 0 ? f->closed_polls + 1 : 0;
    int closed = f->closed_polls >= FOLLOW_CLOSED_POLLS;
    if (!f->have_from) {
        f->from = f->opts.from > in->first_step ? f->opts.from : in->first_step;
        f->have_from = 1;
    }
    /* until a window is out, a window asked for by none is no shorter than the
     * steps between a rank's rows (a recorder's step_every; K - 1 at its
     * second row): the smallest 1, 2, 5 x 10^k steps of at least that */
    if (!f->window_given && f->windows == 0 && in->row_every > DXT_FOLLOW_WINDOW)
        f->opts.window_steps = dxt_default_window(1, in->row_every);
    int held = ranks_missing(f, in), selected = 1;
    if (held < 0) {
        dxt_set_error(err, "%s: out of memory", f->dir);
        rc = -1;
    } else if (!held && closed_end(f, in, closed, &to) && (!f->windows || to > f->printed_to)) {
        rc = analyze_new(f, in, to, out, json, err);
        selected = rc != -2; /* an op or step asked for is not there (yet): err says */
        rc = rc == -2 ? 0 : rc;
    }
    status_fill(f, selected ? in : NULL, st);
    st->done = rc == 0 && held == 0 &&
               (closed || (f->windows && f->printed_to >= f->opts.to));
    dxt_input_free(in);
    return rc;
}

int dxt_follow_final(dxt_follow *f, dxt_analysis **out, dxt_error *err)
{
    *out = NULL;
    dxt_input_free(f->final_in);
    f->final_in = NULL;
    if (follow_open(f, &f->final_in, err) != 0)
        return -2;
    return dxt_analysis_run(f->final_in, &f->opts, out, err);
}
