/* classify_finding.c - a significant segment of a subject's series turned
 * into a finding (classify_view.h): its onset, rise in wait (severity),
 * excess wait, kind (load_imbalance when its tokens explain it), whether it
 * is under min_severity, and the rows and columns it makes no evidence about
 * paths. Owner: the classifier engineer (A1). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "classify_view.h"

/* The first step of a segment from window first: where the data start when
 * no usable window comes before it (the warm-up left out hides no onset). */
static int64_t segment_start(const tview *v, int first)
{
    int w = 0;
    while (w < first && !v->use[w]) w++;
    return v->t->first_steps[w == first && v->first_data >= 0 ? v->first_data : first];
}

/* An onset needs normal windows before it (at least 3, and 5 % of the judged
 * ones): a segment from the start of the run has none, the subject's level fell
 * later (a late rank's row drops to ~0 and its earlier windows look high
 * against the drop), it did not rise. What was slow from the start is the
 * static judgement's. */
static int too_few_before(const tview *v, int before)
{
    return before < 3 || before < 0.05 * v->usable;
}

int dxt_starts_run(const tview *v, int first)
{
    int before = 0;
    for (int w = 0; w < first; w++) before += v->use[w];
    return too_few_before(v, before);
}

int dxt_first_onset(const tview *v)
{
    int w = 0, before = 0;
    for (; w < v->W && too_few_before(v, before); w++) before += v->use[w];
    return w;
}

/* Wait above the subject's usual level in window w (trace unit, whole window). */
static double subject_excess(tview *v, subject s, int w, double shift)
{
    const dxt_tracker *t = v->t;
    const float *vals = t->vals + (size_t)w * v->nn;
    double sum = 0.0, steps = (double)(t->last_steps[w] - t->first_steps[w] + 1);
    for (int a = 0; a < v->n; a++)
        for (int b = 0; b < v->n; b++) {
            float f = vals[(size_t)a * v->n + b];
            if (subject_cell(v, s, a, b) && f > 0.0f) sum += f;
        }
    return sum * (1.0 - exp(-shift)) * steps;
}

/* The subject's rise in wait (a ratio) from its rise `shift` in log(wait +
 * floor): where its cells usually wait T - f (T: the median of their usual
 * wait + floor, f: of their floors), a rise of shift there is a wait of
 * (T e^shift - f) / (T - f) times the usual (the floor took the rest: a
 * 1.25x slow receiver read 1.17x, a 2x one 1.5x); at most e^(2 shift), for
 * cells near or under a floor (clipped pairs, whose ratios say little:
 * lesson 10). */
static double wait_severity(tview *v, subject s, double shift)
{
    double *usual = v->scratch, *floors = v->scratch + v->nn; /* nn each at most */
    size_t m = 0;
    for (int a = 0; a < v->n; a++)
        for (int b = 0; b < v->n; b++) {
            size_t c = (size_t)a * v->n + b;
            if (!subject_cell(v, s, a, b) || !v->ever[c] || isnan(v->base[c])) continue;
            usual[m] = exp(v->base[c]), floors[m++] = cell_floor(v, c);
        }
    double t = dxt_median_inplace(usual, m), f = dxt_median_inplace(floors, m);
    double cap = exp(2.0 * shift);
    if (!(m > 0 && t > f)) return cap;
    double sev = (t * exp(shift) - f) / (t - f);
    return sev < cap ? sev : cap;
}

/* Mask the rows and columns a rank or node finding makes no evidence about paths. */
static void mask_subject(tview *v, subject s, const dxt_segment *seg)
{
    const dxt_judge *j = &v->t->judge;
    for (int w = seg->first; w <= seg->last; w++)
        for (int r = 0; r < v->n; r++) {
            int mine = s.kind == SUBJ_SRC || s.kind == SUBJ_DST ? r == s.id
                       : s.kind == SUBJ_NODE_SRC || s.kind == SUBJ_NODE_DST
                           ? j->node_of[r] == s.id : 0;
            if (!mine) continue;
            int source = s.kind == SUBJ_SRC || s.kind == SUBJ_NODE_SRC;
            v->mask_row[(size_t)w * v->n + r] = 1; /* a late rank waits for nobody */
            if (source) v->mask_col[(size_t)w * v->n + r] = 1;
        }
}

int dxt_emit_finding(tview *v, subject s, const dxt_segment *seg, double level, double scale,
                     double p_adj)
{
    size_t count = 0;
    double excess = 0.0;
    for (int w = seg->first; w <= seg->last; w++)
        if (v->ex[w] == 1) v->scratch[v->nn + count++] = v->x[w] - level;
    for (int w = seg->first; w <= seg->last; w++)
        if (v->ex[w] == 1) excess += subject_excess(v, s, w, v->x[w] - level);
    double shift = dxt_median_inplace(v->scratch + v->nn, count);
    dxt_finding f;
    memset(&f, 0, sizeof f);
    static const dxt_kind kinds[] = {DXT_SLOW_SOURCE, DXT_SLOW_DESTINATION, DXT_SLOW_NODE,
                                     DXT_SLOW_NODE, DXT_SLOW_PATH, DXT_SLOW_PATH};
    f.kind = kinds[s.kind];
    snprintf(f.op, sizeof f.op, "%s", v->t->op);
    f.rank = s.kind <= SUBJ_DST ? s.id : -1;
    f.node = s.kind == SUBJ_NODE_SRC || s.kind == SUBJ_NODE_DST ? s.id : -1;
    f.as_source = s.kind == SUBJ_NODE_SRC;
    f.dst = f.kind == DXT_SLOW_PATH ? s.id / v->n : -1;
    f.src = f.kind == DXT_SLOW_PATH ? s.id % v->n : -1;
    f.first_step = segment_start(v, seg->first);
    f.last_step = v->t->last_steps[seg->last];
    f.severity = wait_severity(v, s, shift);
    f.score = shift / scale;
    f.excess = excess;
    f.windows_flagged = seg->exceed;
    f.windows_seen = seg->valid;
    f.persistent = seg->exceed >= DXT_PERSISTENT_FRACTION * seg->valid;
    f.p_value = p_adj;
    int load = dxt_subject_tokens(v, s, seg), from_start = !seg->whole && dxt_starts_run(v, seg->first);
    /* from the start: no load imbalance (the routing's wander), and the rise
     * of a kind's min_severity at least (a level that fell by 12 % over 11
     * windows read as a 1.12x slow destination until then: seed 1063). Under
     * it no finding from any onset either (dxtanalysis.h: never one): a
     * node's rows 1.15x in 10 of 41 windows as its ranks' share of the
     * routing drifted (seed 12061), a healthy cell 1.18x in 7 of 10 windows
     * of 50 steps (seed 1172). A load imbalance is measured by its tokens
     * (min_token_ratio), a node's as any. From the start the rise judged is
     * the one in log(wait + floor), which the floor makes the smaller
     * (wait_severity): a healthy level that fell reads 1.17x there, 1.23x as
     * wait (seed 1063); later, the wait's (a 1.3x slow source read 1.19x in
     * log(wait + floor)). */
    double min_sev = s.kind >= SUBJ_CELL_INTRA ? v->t->opts.min_path_severity
                                               : v->t->opts.min_severity;
    int imbalance = load > 0 && (s.kind == SUBJ_SRC || s.kind == SUBJ_DST);
    int weak = from_start ? exp(shift) < min_sev : f.severity < min_sev && !imbalance;
    if (weak || (load && from_start)) load = -1;
    if (load > 0 && f.kind != DXT_SLOW_NODE) f.kind = DXT_LOAD_IMBALANCE;
    if (v->t->opts.verbose)
        fprintf(stderr, "dxt-classify: %s %s subject %d windows %d-%d (%d/%d) sev %.3g z %.3g "
                "p %.3g%s\n", v->t->op, dxt_kind_str(f.kind), s.id, seg->first, seg->last,
                seg->exceed, seg->valid, f.severity, f.score, p_adj,
                weak ? ": under min_severity, no finding"
                : load < 0 ? ": follows a token wander, no fault" : "");
    /* a late rank waits for nobody, whatever made it late (a token wander, a
     * rise under min_severity: its row dips all the same); an episode from
     * the start masks nothing (it may be a level that fell: its windows are
     * the normal ones of the finding that follows it) */
    if (s.kind != SUBJ_CELL_INTRA && s.kind != SUBJ_CELL_INTER && !from_start)
        mask_subject(v, s, seg);
    return load < 0 ? 0 : dxt_tracker_push_finding(v->t, &f);
}
