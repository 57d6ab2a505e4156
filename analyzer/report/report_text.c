/* report_text.c - dxt-analyze's report for people: a header (run, ranks,
 * nodes, steps, unit, window), the findings ranked one per line with their
 * evidence, a summary per op (typical waits, worst cells), then what was
 * skipped, dropped or odd in the input. --quiet prints the findings only.
 * Owner: the loader/report engineer (A2). */
#include "report.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1204 -> "1,204" */
/* Names and paths from the input, escaped (dxt_text_safe): a buffer per use. */
#define SAFE(str) dxt_text_safe((str), (char[1024]){0}, 1024)

static const char *thousands(int64_t v, char *buf, size_t size)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%" PRId64, v < 0 ? -v : v);
    size_t at = 0;
    if (v < 0 && at + 1 < size)
        buf[at++] = '-';
    for (int k = 0; k < len && at + 2 < size; k++) {
        if (k > 0 && (len - k) % 3 == 0)
            buf[at++] = ',';
        buf[at++] = digits[k];
    }
    buf[at] = '\0';
    return buf;
}

/* "0-7" style list of the ranks of node, into buf. */
static void node_ranks(const dxt_analysis *a, int node, char *buf, size_t size)
{
    size_t used = 0;
    int n = a->in->n;
    buf[0] = '\0';
    for (int i = 0; i < n && used + 16 < size; i++) {
        if (a->topo.node_of[i] != node)
            continue;
        int j = i;
        while (j + 1 < n && a->topo.node_of[j + 1] == node)
            j++;
        used += (size_t)snprintf(buf + used, size - used, j > i ? "%s%d-%d" : "%s%d",
                                 used ? "," : "", i, j);
        i = j;
    }
}

void dxt_finding_subject(const dxt_analysis *a, const dxt_finding *f, char *buf, size_t size)
{
    const char *const *names = a->topo.node_names;
    char ranks[128];
    switch (f->kind) {
    case DXT_SLOW_PATH:
        snprintf(buf, size, "rank %d waits for rank %d", f->dst, f->src);
        break;
    case DXT_SLOW_NODE:
        node_ranks(a, f->node, ranks, sizeof ranks);
        snprintf(buf, size, "%s (ranks %s) as %s",
                 SAFE(f->node >= 0 && f->node < a->topo.nnodes ? names[f->node] : "?"), ranks,
                 f->as_source ? "sources" : "destinations");
        break;
    default:
        snprintf(buf, size, "rank %d (%s)", f->rank,
                 SAFE(f->rank >= 0 && f->rank < a->in->n ? names[a->topo.node_of[f->rank]] : "?"));
    }
}

/* How sure, in words: the chance that noise alone made it (p_value). Every
 * finding is below the classifier's alpha (0.001 per op): "likely real" is
 * the band just under it. */
const char *dxt_certainty_words(double p)
{
    return p < 1e-6 ? "certain" : p < 1e-4 ? "very likely real" : "likely real";
}

static int print_finding(FILE *out, const dxt_analysis *a, const dxt_finding *f, int index)
{
    char subject[256], size[48] = ""; /* the windows' size where it is not the report's */
    dxt_finding_subject(a, f, subject, sizeof subject);
    if (dxt_two_sizes(a) && f->window_steps > 0 && f->window_steps != a->window_steps)
        snprintf(size, sizeof size, " of %" PRId64 " steps", f->window_steps);
    return fprintf(out, "%3d. %-16s %-9s %-28s steps %" PRId64 "-%" PRId64
                   "  %.1fx expected wait, z=%.1f, %.0f%% of excess wait, %s (%d/%d windows%s)\n"
                   "     %s: noise alone would give this with p=%.2g\n",
                   index, dxt_kind_str(f->kind), SAFE(f->op), subject, f->first_step, f->last_step,
                   f->severity, f->score, 100.0 * f->share,
                   f->persistent ? "persistent" : "intermittent", f->windows_flagged,
                   f->windows_seen, size, dxt_certainty_words(f->p_value), f->p_value) < 0 ? -1 : 0;
}

static int print_findings(FILE *out, const dxt_analysis *a)
{
    const dxt_finding **fs = NULL;
    int count = dxt_ranked_findings(a, &fs), rc = -1;
    if (count < 0)
        return -1;
    for (int m = 0; m < count; m++)
        if (print_finding(out, a, fs[m], m + 1) != 0)
            goto fail;
    if (count == 0 && fprintf(out, "  no anomaly found\n") < 0)
        goto fail;
    for (int k = 0; k < a->nops; k++)
        if (a->ops[k].tracker && !dxt_tracker_has_tokens(a->ops[k].tracker) &&
            fprintf(out, "  %s: no tokens recorded, load imbalance was not testable\n",
                    a->ops[k].name) < 0)
            goto fail;
    rc = 0;
fail:
    free(fs);
    return rc;
}

static int print_header(FILE *out, const dxt_analysis *a)
{
    const dxt_input *in = a->in;
    int present = 0;
    for (int i = 0; i < in->n; i++)
        present += in->rank_present[i];
    fprintf(out, "dxt-analyze: run %s (%s %s)\n", SAFE(in->run_id),
            dxt_input_kind_str(in->kind), SAFE(in->path));
    fprintf(out, "  ranks %d (%d with data), nodes %d:", in->n, present, in->nnodes);
    for (int k = 0; k < in->nnodes && k < 16; k++) {
        char ranks[128];
        node_ranks(a, k, ranks, sizeof ranks);
        fprintf(out, " %s [%s]", SAFE(in->node_names[k]), ranks);
    }
    if (in->nnodes > 16)
        fprintf(out, " ...");
    if (in->kind == DXT_INPUT_LIVE) /* input/live_input.c: each fed window is one */
        return fprintf(out, "\n  steps %" PRId64 "-%" PRId64 ", unit %s, windows as fed\n",
                       a->from, a->to, in->unit) < 0 ? -1 : 0;
    if (fprintf(out, "\n  steps %" PRId64 "-%" PRId64 ", unit %s, window %" PRId64 " step%s",
                a->from, a->to, in->unit, a->window_steps, a->window_steps == 1 ? "" : "s") < 0)
        return -1;
    if (dxt_two_sizes(a) && /* run/window.c: the tests' other windows */
        fprintf(out, " (tested in windows of %" PRId64 " too)", dxt_other_size(a)) < 0)
        return -1;
    return fputc('\n', out) == EOF ? -1 : 0;
}

/* "5.562 us", or "-" when there is no value. */
static const char *per_step_text(double v, const char *unit, char *buf, size_t size)
{
    if (isfinite(v))
        snprintf(buf, size, "%.4g %s", v, unit);
    else
        snprintf(buf, size, "-");
    return buf;
}

static void print_op_summary(FILE *out, const dxt_analysis *a, const dxt_op_result *r)
{
    const char *unit = a->in->unit;
    char intra[48], inter[48];
    dxt_op_summary s;
    if (r->windows == 0) {
        fprintf(out, "  %s: no rows in the analyzed steps\n", SAFE(r->name));
        return;
    }
    fprintf(out, "  %s: %d windows, steps %" PRId64 "-%" PRId64 "%s\n", SAFE(r->name), r->windows,
            r->first_step, r->last_step, a->in->op_has_tokens[r->input_op] ? ", tokens" : "");
    if (dxt_op_summarize(a, r, &s) != 0)
        return;
    fprintf(out, "    typical wait per step: intra-node %s, inter-node %s\n",
            per_step_text(s.intra_median, unit, intra, sizeof intra),
            per_step_text(s.inter_median, unit, inter, sizeof inter));
    for (int k = 0; k < s.ncells; k++) {
        int same = a->topo.node_of[s.worst[k].dst] == a->topo.node_of[s.worst[k].src];
        /* a cell against the typical cell of its kind, not the finding's severity
         * (observed over expected wait of the whole subject) */
        fprintf(out, "    %s rank %d waits for rank %d: %.4g %s per step (%.1fx the typical "
                "%s-node cell)\n", k == 0 ? "worst:" : "      ", s.worst[k].dst, s.worst[k].src,
                s.worst[k].per_step, unit, s.worst[k].vs_typical, same ? "intra" : "inter");
    }
}

static void print_input_notes(FILE *out, const dxt_input *in)
{
    if (in->nskipped)
        fprintf(out, "Skipped files (%d):\n", in->nskipped);
    for (int k = 0; k < in->nskipped; k++) {
        const dxt_skipped *sk = &in->skipped[k];
        if (strstr(sk->reason, sk->path))
            fprintf(out, "  %s\n", SAFE(sk->reason));
        else
            fprintf(out, "  %s: %s\n", SAFE(sk->path), SAFE(sk->reason));
    }
    if (in->ndropped)
        fprintf(out, "Dropped rows (the recorder could not keep up or write):\n");
    for (int k = 0; k < in->ndropped; k++) {
        const dxt_dropped *d = &in->dropped[k];
        char rows[32];
        fprintf(out, "  rank %d dropped %s rows of %s", d->rank,
                thousands(d->rows, rows, sizeof rows), SAFE(d->op));
        if (d->first_step >= 0)
            fprintf(out, " between steps %" PRId64 " and %" PRId64, d->first_step,
                    d->last_step);
        fprintf(out, "\n");
    }
    if (in->nwarnings)
        fprintf(out, "Warnings:\n");
    for (int k = 0; k < in->nwarnings; k++)
        fprintf(out, "  %s\n", SAFE(in->warnings[k]));
}

int dxt_report_text(FILE *out, const dxt_analysis *a, int quiet)
{
    if (quiet)
        return print_findings(out, a) == 0 && !ferror(out) ? 0 : -1;
    if (print_header(out, a) != 0)
        return -1;
    fprintf(out, "\nFindings (most important first):\n");
    if (print_findings(out, a) != 0)
        return -1;
    fprintf(out, "\nPer op:\n");
    for (int k = 0; k < a->nops; k++)
        print_op_summary(out, a, &a->ops[k]);
    if (a->in->nskipped || a->in->ndropped || a->in->nwarnings)
        fprintf(out, "\n");
    print_input_notes(out, a->in);
    return ferror(out) ? -1 : 0;
}
