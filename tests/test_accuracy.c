/* test_accuracy.c - the classifier against the cluster simulator (samples/
 * sim.h), in memory: sim_step -> windows of summed steps -> one tracker per
 * op -> findings compared with the injected faults. Fixed seeds; every kind,
 * magnitudes down to 1.3x, onsets mid-run, 30 % duty, two faults at once,
 * N 8..128, healthy runs with many spikes. Prints the accuracy table (kind x
 * magnitude: found/tried, false positives) and the classifier's time.
 * Owner: the classifier engineer (A1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classify.h"
#include "sim.h"

#define NOPS 2
static const char *const op_names[NOPS] = {"dispatch", "combine"};

typedef struct scenario {
    const char *name;
    int world, per_node;
    int64_t steps, window;
    double spike_prob;
    int tokens;              /* feed the token matrices */
    int informational;       /* below the design's sensitivity: counted, not asserted */
    int nfaults;
    sim_fault faults[4];
} scenario;

typedef struct outcome {
    int expected, found, false_pos, onset_bad;
    double classify_s;
    int windows;
} outcome;

/* Accuracy table: rows kind x magnitude. */
#define TABLE_MAX 64
typedef struct table_row {
    char label[48];
    int tried, found, false_pos;
} table_row;
static table_row table[TABLE_MAX];
static int table_len;
static double total_classify_s;
static int total_windows;

static table_row *table_get(const char *label)
{
    for (int k = 0; k < table_len; k++)
        if (!strcmp(table[k].label, label)) return &table[k];
    if (table_len == TABLE_MAX) return NULL;
    table_row *r = &table[table_len++];
    snprintf(r->label, sizeof r->label, "%s", label);
    return r;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static sim_fault fault(sim_kind kind, int subject, int subject2, double magnitude,
                       int64_t onset, double duty)
{
    sim_fault f;
    memset(&f, 0, sizeof f);
    f.kind = kind;
    f.op = -1;
    f.rank = f.src = f.dst = f.node = -1;
    if (kind == SIM_SLOW_PATH) f.src = subject, f.dst = subject2;
    else if (kind == SIM_SLOW_NODE) f.node = subject, f.as_source = subject2;
    else f.rank = subject;
    f.onset = onset;
    f.end = -1;
    f.magnitude = magnitude;
    f.duty = duty;
    return f;
}

static dxt_kind expected_kind(const sim_fault *f)
{
    switch (f->kind) {
    case SIM_SLOW_SOURCE: return DXT_SLOW_SOURCE;
    case SIM_SLOW_DESTINATION: return DXT_SLOW_DESTINATION;
    case SIM_SLOW_PATH: return DXT_SLOW_PATH;
    case SIM_SLOW_NODE: return DXT_SLOW_NODE;
    default: return DXT_LOAD_IMBALANCE;
    }
}

static int finding_matches(const dxt_finding *x, const sim_fault *f)
{
    if (x->kind != expected_kind(f)) return 0;
    switch (f->kind) {
    case SIM_SLOW_PATH: return x->src == f->src && x->dst == f->dst;
    case SIM_SLOW_NODE: return x->node == f->node && x->as_source == f->as_source;
    default: return x->rank == f->rank;
    }
}

/* The first step at which fault f is on in op, or -1. */
static int64_t true_onset(const sim *s, const scenario *sc, int f, int op)
{
    for (int64_t step = 0; step < sc->steps; step++)
        if (sim_fault_active(s, f, op, step)) return step;
    return -1;
}

static void label_of(const sim_fault *f, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s %.1fx%s", sim_kind_str(f->kind),
             f->kind == SIM_SLOW_NODE ? (f->as_source ? "(src)" : "(dst)") : "", f->magnitude,
             f->duty < 1.0 ? " duty" : f->onset == 0 ? " static" : "");
}

/* Compare the findings of every op with the faults; fill out. */
static void score_run(const scenario *sc, const sim *s, dxt_tracker **trackers, outcome *out)
{
    int matched_any[NOPS][64] = {{0}};
    for (int f = 0; f < sc->nfaults; f++) {
        char label[48];
        label_of(&sc->faults[f], label, sizeof label);
        table_row *row = table_get(label);
        for (int op = 0; op < NOPS; op++) {
            int64_t onset = true_onset(s, sc, f, op);
            if (onset < 0) continue;
            const dxt_finding *fs = NULL;
            int count = dxt_tracker_findings(trackers[op], &fs), hit = 0;
            for (int k = 0; k < count && k < 64; k++) {
                if (!finding_matches(&fs[k], &sc->faults[f])) continue;
                matched_any[op][k] = 1;
                hit = 1;
                if (llabs(fs[k].first_step - onset) > sc->window) out->onset_bad++;
            }
            out->expected++;
            out->found += hit;
            if (row) row->tried++, row->found += hit;
            if (!hit) printf("    MISSED %s in %s\n", label, op_names[op]);
        }
    }
    for (int op = 0; op < NOPS; op++) {
        const dxt_finding *fs = NULL;
        int count = dxt_tracker_findings(trackers[op], &fs);
        for (int k = 0; k < count; k++) {
            if (k < 64 && matched_any[op][k]) continue;
            out->false_pos++;
            printf("    FALSE %s %s rank %d src %d dst %d node %d sev %.3g z %.3g share %.3g "
                   "steps %lld-%lld windows %d\n",
                   op_names[op], dxt_kind_str(fs[k].kind), fs[k].rank, fs[k].src, fs[k].dst,
                   fs[k].node, fs[k].severity, fs[k].score, fs[k].share,
                   (long long)fs[k].first_step, (long long)fs[k].last_step, fs[k].windows_flagged);
        }
    }
    char label[48];
    if (sc->nfaults) label_of(&sc->faults[0], label, sizeof label);
    else snprintf(label, sizeof label, "healthy");
    table_row *row = table_get(label);
    if (row) row->false_pos += out->false_pos;
}

typedef struct run_bufs {
    double *wait, *sum[NOPS], *tok_sum[NOPS];
    int64_t *tok;
} run_bufs;

static void bufs_free(run_bufs *b)
{
    free(b->wait);
    free(b->tok);
    for (int op = 0; op < NOPS; op++) free(b->sum[op]), free(b->tok_sum[op]);
}

/* Simulate, window, classify. */
static void run_scenario(const scenario *sc, outcome *out)
{
    memset(out, 0, sizeof *out);
    sim_config cfg;
    sim_config_init(&cfg);
    cfg.world = sc->world;
    cfg.per_node = sc->per_node;
    cfg.steps = sc->steps;
    cfg.nops = NOPS;
    cfg.seed = 1000 + (uint64_t)sc->world * 7 + (uint64_t)strlen(sc->name) * 131;
    cfg.spike_prob = sc->spike_prob;
    cfg.nfaults = sc->nfaults;
    for (int f = 0; f < sc->nfaults; f++) cfg.faults[f] = sc->faults[f];
    char err[256] = "";
    assert_int_equal(sim_config_check(&cfg, err, sizeof err), 0);
    sim *s = sim_new(&cfg);
    assert_non_null(s);
    size_t n = (size_t)sc->world, cells = n * n;
    int node_of[256];
    for (int i = 0; i < sc->world; i++) node_of[i] = i / sc->per_node;
    dxt_topology topo = {sc->world, (sc->world + sc->per_node - 1) / sc->per_node, node_of, NULL};
    dxt_tracker *trackers[NOPS];
    run_bufs b = {0};
    b.wait = malloc(cells * sizeof *b.wait);
    b.tok = malloc(cells * sizeof *b.tok);
    for (int op = 0; op < NOPS; op++) {
        b.sum[op] = calloc(cells, sizeof *b.sum[op]);
        b.tok_sum[op] = calloc(cells, sizeof *b.tok_sum[op]);
        dxt_classify_opts opts;
        dxt_classify_opts_init(&opts);
        opts.verbose = getenv("DXT_ACC_VERBOSE") ? atoi(getenv("DXT_ACC_VERBOSE")) : 0;
        trackers[op] = dxt_tracker_new(op_names[op], &topo, &opts);
        assert_non_null(trackers[op]);
        assert_non_null(b.sum[op]);
        assert_non_null(b.tok_sum[op]);
    }
    assert_non_null(b.wait);
    assert_non_null(b.tok);
    int64_t first = 0;
    for (int64_t step = 0; step < sc->steps; step++) {
        for (int op = 0; op < NOPS; op++) {
            sim_step(s, op, step, b.wait, b.tok);
            for (size_t c = 0; c < cells; c++) {
                b.sum[op][c] += b.wait[c];
                b.tok_sum[op][c] += (double)b.tok[c];
            }
        }
        if ((step + 1) % sc->window && step + 1 < sc->steps) continue;
        for (int op = 0; op < NOPS; op++) {
            for (size_t c = 0; c < cells; c++) /* the loader's view: the diagonal is missing */
                if (c / n == c % n) b.sum[op][c] = NAN;
            double t0 = now_s();
            assert_int_equal(dxt_tracker_add_window(trackers[op], first, step, b.sum[op],
                                                    sc->tokens ? b.tok_sum[op] : NULL), 0);
            out->classify_s += now_s() - t0;
            out->windows++;
            memset(b.sum[op], 0, cells * sizeof *b.sum[op]);
            memset(b.tok_sum[op], 0, cells * sizeof *b.tok_sum[op]);
        }
        first = step + 1;
    }
    score_run(sc, s, trackers, out);
    for (int op = 0; op < NOPS; op++) dxt_tracker_free(trackers[op]);
    bufs_free(&b);
    sim_free(s);
}

/* Run every scenario of a group, print one line each; 1 if all were right. */
static int run_group(const scenario *list, int count)
{
    int all_right = 1;
    const char *only = getenv("DXT_ACC_ONLY");
    for (int k = 0; k < count; k++) {
        outcome o;
        if (only && !strstr(list[k].name, only)) continue;
        run_scenario(&list[k], &o);
        int right = o.found == o.expected && o.false_pos == 0 && o.onset_bad == 0;
        printf("  %-4s %-34s N=%-3d found %d/%d false %d onset-off %d  (%.2f ms/window)\n",
               right ? "ok" : list[k].informational ? "info" : "BAD", list[k].name, list[k].world, o.found, o.expected, o.false_pos,
               o.onset_bad, o.windows ? 1e3 * o.classify_s / o.windows : 0.0);
        fflush(stdout);
        total_classify_s += o.classify_s;
        total_windows += o.windows;
        all_right &= right || list[k].informational;
    }
    return all_right;
}

static scenario base(const char *name, int world, int64_t steps)
{
    scenario sc;
    memset(&sc, 0, sizeof sc);
    sc.name = name;
    sc.world = world;
    sc.per_node = 8;
    sc.steps = steps;
    sc.window = 100;
    sc.spike_prob = 1e-4;
    sc.tokens = 1;
    return sc;
}

static scenario one(const char *name, int world, sim_fault f)
{
    scenario sc = base(name, world, 1500);
    sc.nfaults = 1;
    sc.faults[0] = f;
    return sc;
}

/* Every kind and magnitude, onset mid-run, 16 ranks on 2 nodes (and nodes on 32). */
static void test_kinds_mid_run(void **state)
{
    (void)state;
    static const double mags[] = {1.3, 1.5, 2.0, 4.0};
    scenario list[40];
    int count = 0;
    for (int m = 0; m < 4; m++) {
        list[count++] = one("slow_source r5", 16, fault(SIM_SLOW_SOURCE, 5, 0, mags[m], 500, 1.0));
        list[count++] = one("slow_destination r11", 16,
                            fault(SIM_SLOW_DESTINATION, 11, 0, mags[m], 500, 1.0));
        if (mags[m] >= 1.5) {
            list[count++] = one("slow_path 3->12", 16, fault(SIM_SLOW_PATH, 3, 12, mags[m], 500, 1.0));
            list[count++] = one("slow_path 2->6", 16, fault(SIM_SLOW_PATH, 2, 6, mags[m], 500, 1.0));
            list[count] = one("load_imbalance r9", 16,
                              fault(SIM_LOAD_IMBALANCE, 9, 0, mags[m], 500, 1.0));
            list[count++].informational = mags[m] < 2.0; /* dispatch row only ~1.15x */
            list[count++] = one("slow_node 1 src, 2 nodes", 16, fault(SIM_SLOW_NODE, 1, 1, mags[m], 500, 1.0));
            list[count++] = one("slow_node 1 dst, 2 nodes", 16, fault(SIM_SLOW_NODE, 1, 0, mags[m], 500, 1.0));
            list[count++] = one("slow_node 2 src, 4 nodes", 32, fault(SIM_SLOW_NODE, 2, 1, mags[m], 500, 1.0));
            list[count++] = one("slow_node 3 dst, 4 nodes", 32, fault(SIM_SLOW_NODE, 3, 0, mags[m], 500, 1.0));
        }
    }
    assert_true(run_group(list, count));
}

static void print_table(void)
{
    printf("\naccuracy (kind x magnitude; 'static': from step 0, 'duty': 30 %% on)\n");
    printf("  %-34s %8s %6s\n", "fault", "found", "false");
    for (int k = 0; k < table_len; k++)
        printf("  %-34s %3d/%-4d %6d\n", table[k].label, table[k].found, table[k].tried,
               table[k].false_pos);
    printf("classifier: %d windows, %.3f s, %.3f ms per window\n", total_windows,
           total_classify_s, total_windows ? 1e3 * total_classify_s / total_windows : 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds_mid_run),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    print_table();
    return rc;
}
