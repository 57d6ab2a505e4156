/* classify_fixtures.h - what the classifier's suites share (tests/test_classify.c,
 * tests/test_classify_static.c, tests/test_join.c, linked with
 * tests/classify_fixtures.c): a topology, one window classified, findings printed, deterministic random
 * numbers and healthy windows of static pair factors and 3 % noise.
 * Owner: the classifier engineer (A1). */
#ifndef DXT_TESTS_CLASSIFY_FIXTURES_H
#define DXT_TESTS_CLASSIFY_FIXTURES_H

#include <stdint.h>

#include "classify.h"

#define MAX_N 64

/* Topology of n ranks, per_node per node (make_topo fills b and returns it). */
typedef struct topo_buf {
    int node_of[MAX_N];
    dxt_topology topo;
} topo_buf;
const dxt_topology *make_topo(topo_buf *b, int n, int per_node);

/* Classify one window with the defaults into out (max at most); the count. */
int classify_one(const double *m, int n, int per_node, dxt_finding *out, int max);
void print_findings(const char *name, const dxt_finding *fs, int count);

/* Deterministic numbers (xorshift + Box-Muller): set rng_state to seed them. */
extern uint64_t rng_state;
double uniform(void);
double normal(void);

/* A healthy window: intra-node ~5, inter-node ~50 with a per-direction factor,
 * static pair factors pair[] and 3 % noise; nan_share of cells missing. */
void healthy_matrix(double *m, const double *pair, int n, int per_node, double nan_share);
/* Static pair factors: exp(0.15 N(0, 1)), clipped to 0.6-1.6. */
void random_pairs(double *pair, int n);
/* A tracker for op on n ranks, 8 a node, the pair factors drawn from seed;
 * seeded_job_opts with classifier options o (NULL: the defaults). */
dxt_tracker *seeded_job(const char *op, int n, uint64_t seed, double *pair);
dxt_tracker *seeded_job_opts(const char *op, int n, uint64_t seed, double *pair,
                             const dxt_classify_opts *o);
/* t's findings into fs (MAX_N at most), printed under name unless NULL; t is
 * freed. Their count. */
int take_findings(dxt_tracker *t, const char *name, dxt_finding *fs);

#endif
