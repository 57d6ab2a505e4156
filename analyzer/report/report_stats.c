/* report_stats.c - the per-op summary shared by the text and JSON reports:
 * typical (median) wait per step (a rank's wait over the steps its rows cover)
 * within a node and across nodes, and
 * the cells that stand out most against the typical wait of their kind.
 * Owner: the loader/report engineer (A2). */
#include "report.h"
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


static double cell_per_step(const dxt_op_result *r, int n, int i, int j)
{
    double v = r->total[(size_t)i * n + j];
    if (i == j || r->rank_steps[i] <= 0 || !(v > 0))
        return NAN;
    return v / (double)r->rank_steps[i];
}

/* Keep the 5 cells with the largest vs_typical, in order. */
static void keep_worst(dxt_op_summary *s, dxt_cell c)
{
    int count = s->ncells < 5 ? s->ncells : 5;
    int at = count;
    while (at > 0 && s->worst[at - 1].vs_typical < c.vs_typical)
        at--;
    if (at >= 5)
        return;
    int move = (count < 5 ? count : 4) - at;
    if (move > 0)
        memmove(&s->worst[at + 1], &s->worst[at], (size_t)move * sizeof c);
    s->worst[at] = c;
    if (s->ncells < 5)
        s->ncells++;
}

int dxt_op_summarize(const dxt_analysis *a, const dxt_op_result *r, dxt_op_summary *out)
{
    int n = a->in->n;
    const int *node = a->topo.node_of;
    memset(out, 0, sizeof *out);
    out->intra_median = out->inter_median = NAN;
    if (!r->total)
        return 0;
    double *intra = malloc((size_t)n * n * sizeof *intra);
    double *inter = malloc((size_t)n * n * sizeof *inter);
    int rc = -1;
    if (!intra || !inter)
        goto fail;
    size_t ni = 0, nx = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double v = cell_per_step(r, n, i, j);
            if (isnan(v))
                continue;
            if (node[i] == node[j])
                intra[ni++] = v;
            else
                inter[nx++] = v;
        }
    out->intra_median = dxt_median_inplace(intra, ni);
    out->inter_median = dxt_median_inplace(inter, nx);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double v = cell_per_step(r, n, i, j);
            double typical = node[i] == node[j] ? out->intra_median : out->inter_median;
            if (!isnan(v) && typical > 0)
                keep_worst(out, (dxt_cell){i, j, v, v / typical});
        }
    rc = 0;
fail:
    free(intra);
    free(inter);
    return rc;
}

static double importance(const dxt_finding *f)
{
    double v = f->severity * f->share;
    return isfinite(v) ? v : 0;
}

static int cmp_importance(const void *a, const void *b)
{
    double x = importance(*(const dxt_finding *const *)a);
    double y = importance(*(const dxt_finding *const *)b);
    return x > y ? -1 : x < y;
}

int dxt_ranked_findings(const dxt_analysis *a, const dxt_finding ***out)
{
    const dxt_finding **all = NULL;
    int count = 0;
    *out = NULL;
    for (int k = 0; k < a->nops; k++) {
        const dxt_finding *fs = NULL;
        int n = a->ops[k].tracker ? dxt_tracker_findings(a->ops[k].tracker, &fs) : 0;
        if (n <= 0)
            continue;
        const dxt_finding **grown = realloc(all, (size_t)(count + n) * sizeof *all);
        if (!grown) {
            free(all);
            return -1;
        }
        all = grown;
        for (int m = 0; m < n; m++)
            all[count++] = &fs[m];
    }
    if (count > 1)
        qsort(all, (size_t)count, sizeof *all, cmp_importance);
    *out = all;
    return count;
}
