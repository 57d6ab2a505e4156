/* classify_fixtures.c - the classifier suites' shared helpers
 * (classify_fixtures.h). Owner: the classifier engineer (A1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "classify_fixtures.h"

/* Deterministic normal numbers (xorshift + Box-Muller). */
uint64_t rng_state;
double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) * 0x1.0p-53;
}
double normal(void) { return sqrt(-2.0 * log(uniform())) * cos(6.283185307179586 * uniform()); }

const dxt_topology *make_topo(topo_buf *b, int n, int per_node)
{
    for (int i = 0; i < n; i++) b->node_of[i] = i / per_node;
    b->topo.n = n;
    b->topo.nnodes = (n + per_node - 1) / per_node;
    b->topo.node_of = b->node_of;
    b->topo.node_names = NULL;
    return &b->topo;
}

/* Classify one window with the defaults; returns the number of findings. */
int classify_one(const double *m, int n, int per_node, dxt_finding *out, int max)
{
    topo_buf tb;
    dxt_classify_opts opts;
    dxt_classify_opts_init(&opts);
    dxt_tracker *t = dxt_tracker_new("dispatch", make_topo(&tb, n, per_node), &opts);
    assert_non_null(t);
    assert_int_equal(dxt_tracker_add_window(t, 0, 0, m, NULL), 0);
    const dxt_finding *fs = NULL;
    int count = dxt_tracker_findings(t, &fs);
    for (int k = 0; k < count && k < max; k++) out[k] = fs[k];
    dxt_tracker_free(t);
    return count;
}

void print_findings(const char *name, const dxt_finding *fs, int count)
{
    printf("%s: %d finding(s)\n", name, count);
    for (int k = 0; k < count; k++)
        printf("  %-16s rank %2d src %2d dst %2d node %d steps %lld-%lld sev %.3g z %.3g share %.3g\n",
               dxt_kind_str(fs[k].kind), fs[k].rank, fs[k].src, fs[k].dst, fs[k].node,
               (long long)fs[k].first_step, (long long)fs[k].last_step,
               fs[k].severity, fs[k].score, fs[k].share);
}

/* A healthy window: intra-node ~5, inter-node ~50 with a per-direction factor,
 * static pair factors (sigma .15) and 3 % noise; nan_share of cells missing. */
void healthy_matrix(double *m, const double *pair, int n, int per_node, double nan_share)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            int same = i / per_node == k / per_node;
            double base = same ? 5.0 : 50.0 * (i / per_node > k / per_node ? 1.6 : 1.0);
            double v = base * pair[i * n + k] * exp(0.03 * normal());
            m[i * n + k] = i == k ? 0.0 : uniform() < nan_share ? (uniform() < 0.5 ? NAN : 0.0) : v;
        }
}

/* t's findings into fs (MAX_N at most), printed under name unless NULL;
 * t is freed. Their count. */
int take_findings(dxt_tracker *t, const char *name, dxt_finding *fs)
{
    const dxt_finding *out = NULL;
    int count = dxt_tracker_findings(t, &out);
    for (int k = 0; k < count && k < MAX_N; k++) fs[k] = out[k];
    if (name) print_findings(name, fs, count);
    dxt_tracker_free(t);
    return count;
}

void random_pairs(double *pair, int n)
{
    for (int c = 0; c < n * n; c++) {
        double p = exp(0.15 * normal());
        pair[c] = p < 0.6 ? 0.6 : p > 1.6 ? 1.6 : p;
    }
}

/* A tracker for op on n ranks, 8 a node, and the static pair factors drawn
 * from seed (the random numbers after them go on from there). */
dxt_tracker *seeded_job_opts(const char *op, int n, uint64_t seed, double *pair,
                             const dxt_classify_opts *o)
{
    topo_buf tb;
    rng_state = seed;
    random_pairs(pair, n);
    dxt_tracker *t = dxt_tracker_new(op, make_topo(&tb, n, 8), o);
    assert_non_null(t);
    return t;
}

dxt_tracker *seeded_job(const char *op, int n, uint64_t seed, double *pair)
{
    return seeded_job_opts(op, n, seed, pair, NULL);
}
