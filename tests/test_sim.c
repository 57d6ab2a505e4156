/* test_sim.c - cmocka tests of the cluster model (samples/sim.h): determinism,
 * a plausible healthy job, every fault kind moving the right column / row /
 * cell by its magnitude, the fault parser, onset / end / duty.
 * Owner: the simulator engineer. Quick: 16 ranks, a few hundred steps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define N 16
#define STEPS 400
#define CELLS (N * N)

static const char *const op_names[] = {"dispatch", "combine"};

/* Window sums of a run: sum[op][i*N+j] over steps [0, STEPS). */
typedef struct run_sums {
    double wait[2][CELLS];
    double tokens[2][CELLS];
} run_sums;

static sim_config base_config(void)
{
    sim_config cfg;
    sim_config_init(&cfg);
    sim_noise_calm(&cfg); /* the magnitude tests need a quiet model */
    cfg.world = N;
    cfg.steps = STEPS;
    cfg.seed = 7;
    return cfg;
}

static void add_fault(sim_config *cfg, const char *spec)
{
    char err[256] = "";
    int rc = sim_fault_parse(spec, op_names, 2, cfg->per_node, &cfg->faults[cfg->nfaults], err,
                             sizeof err);
    if (rc) print_error("%s: %s\n", spec, err);
    assert_int_equal(rc, 0);
    cfg->nfaults++;
}

static run_sums *simulate(const sim_config *cfg)
{
    run_sums *sums = calloc(1, sizeof *sums);
    double *wait = malloc(CELLS * sizeof *wait);
    int64_t *tokens = malloc(CELLS * sizeof *tokens);
    sim *s = sim_new(cfg);
    assert_non_null(sums);
    assert_non_null(wait);
    assert_non_null(tokens);
    assert_non_null(s);
    for (int64_t step = 0; step < STEPS; step++) {
        for (int op = 0; op < 2; op++) {
            sim_step(s, op, step, wait, tokens);
            for (int c = 0; c < CELLS; c++) {
                sums->wait[op][c] += wait[c];
                sums->tokens[op][c] += (double)tokens[c];
            }
        }
    }
    sim_free(s);
    free(wait);
    free(tokens);
    return sums;
}

static double col_sum(const double *m, int r, int skip_node, int per_node)
{
    double sum = 0;
    for (int i = 0; i < N; i++)
        if (i != r && !(skip_node && i / per_node == r / per_node)) sum += m[i * N + r];
    return sum;
}

static double row_sum(const double *m, int r)
{
    double sum = 0;
    for (int j = 0; j < N; j++)
        if (j != r) sum += m[r * N + j];
    return sum;
}

static void test_deterministic(void **state)
{
    (void)state;
    sim_config cfg = base_config();
    add_fault(&cfg, "slow_source:rank=2,onset=5,x=3,duty=0.5");
    add_fault(&cfg, "load_imbalance:rank=9,x=2");
    sim *a = sim_new(&cfg), *b = sim_new(&cfg), *c;
    double wa[CELLS], wb[CELLS];
    int64_t ta[CELLS], tb[CELLS];
    assert_non_null(a);
    assert_non_null(b);
    for (int64_t step = 0; step < 50; step++) {
        for (int op = 0; op < 2; op++) {
            sim_step(a, op, step, wa, ta);
            sim_step(b, op, step, wb, tb);
            assert_memory_equal(wa, wb, sizeof wa);
            assert_memory_equal(ta, tb, sizeof ta);
        }
    }
    /* A step's output depends on the step alone, not on the calls before it. */
    sim_step(a, 1, 37, wa, ta);
    sim_step(b, 0, 12, wb, tb);
    sim_step(b, 1, 37, wb, tb);
    assert_memory_equal(wa, wb, sizeof wa);
    assert_memory_equal(ta, tb, sizeof ta);
    cfg.seed = 8;
    c = sim_new(&cfg);
    assert_non_null(c);
    sim_step(c, 1, 37, wb, tb);
    assert_memory_not_equal(wa, wb, sizeof wa);
    sim_free(a);
    sim_free(b);
    sim_free(c);
}

static void test_healthy_plausible(void **state)
{
    (void)state;
    sim_config cfg = base_config();
    run_sums *h = simulate(&cfg);
    for (int op = 0; op < 2; op++) {
        double intra = 0, inter = 0, diag = 0;
        for (int i = 0; i < N; i++) {
            for (int j = 0; j < N; j++) {
                double w = h->wait[op][i * N + j] / STEPS;
                assert_true(w >= 0.0);
                assert_true(h->tokens[op][i * N + j] >= 0.0);
                if (i == j) diag += w / N;
                else if (i / 8 == j / 8) intra += w / (N * 7);
                else inter += w / (N * 8);
            }
        }
        /* ns per step: the polling floor, NVLink ~ a few us, RDMA ~ tens of us */
        assert_true(diag > 1000 && diag < 3000);
        assert_true(intra > diag && intra < 15000);
        assert_true(inter > 5 * intra && inter < 200000);
    }
    /* Combine sends the dispatch tokens back: the token matrix transposed. */
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            assert_true(h->tokens[1][i * N + j] == h->tokens[0][j * N + i]);
    free(h);
}

static void test_no_negative_waits_per_step(void **state)
{
    (void)state;
    sim_config cfg = base_config();
    cfg.spike_prob = 0.01;
    add_fault(&cfg, "slow_source:rank=1,x=5");
    add_fault(&cfg, "slow_node:node=1,as=destination,x=2");
    sim *s = sim_new(&cfg);
    double w[CELLS];
    assert_non_null(s);
    for (int64_t step = 0; step < 100; step++) {
        for (int op = 0; op < 2; op++) {
            sim_step(s, op, step, w, NULL);
            for (int c = 0; c < CELLS; c++) assert_true(w[c] >= 0.0 && isfinite(w[c]));
        }
    }
    sim_free(s);
}

/* Faulty over healthy of the same seed, window sums. Spikes off: they would
 * land on different cells in the two runs only through the magnitudes. */
typedef struct ratio_run {
    run_sums *healthy, *faulty;
} ratio_run;

static ratio_run run_pair(const char *spec)
{
    sim_config cfg = base_config();
    ratio_run rr;
    cfg.spike_prob = 0.0;
    rr.healthy = simulate(&cfg);
    add_fault(&cfg, spec);
    rr.faulty = simulate(&cfg);
    return rr;
}

static void free_pair(ratio_run *rr)
{
    free(rr->healthy);
    free(rr->faulty);
}

static void assert_near(double got, double want, double tol)
{
    if (fabs(got - want) > tol) print_error("got %.4f, want %.4f +- %.4f\n", got, want, tol);
    assert_true(fabs(got - want) <= tol);
}

static void test_slow_source(void **state)
{
    (void)state;
    ratio_run rr = run_pair("slow_source:rank=3,x=1.3");
    for (int op = 0; op < 2; op++) {
        assert_near(col_sum(rr.faulty->wait[op], 3, 0, 8) / col_sum(rr.healthy->wait[op], 3, 0, 8),
                    1.3, 0.04);
        assert_true(row_sum(rr.faulty->wait[op], 3) < 0.9 * row_sum(rr.healthy->wait[op], 3));
        assert_near(col_sum(rr.faulty->wait[op], 5, 0, 8) / col_sum(rr.healthy->wait[op], 5, 0, 8),
                    1.0, 0.03);
    }
    free_pair(&rr);
}

static void test_slow_destination(void **state)
{
    (void)state;
    ratio_run rr = run_pair("slow_destination:rank=12,x=1.3,op=combine");
    assert_near(row_sum(rr.faulty->wait[1], 12) / row_sum(rr.healthy->wait[1], 12), 1.3, 0.01);
    assert_near(row_sum(rr.faulty->wait[0], 12) / row_sum(rr.healthy->wait[0], 12), 1.0, 0.001);
    assert_near(col_sum(rr.faulty->wait[1], 12, 0, 8) / col_sum(rr.healthy->wait[1], 12, 0, 8),
                1.0, 0.001);
    free_pair(&rr);
}

static void test_slow_path(void **state)
{
    (void)state;
    ratio_run rr = run_pair("slow_path:src=4,dst=9,x=1.3,op=dispatch");
    assert_near(rr.faulty->wait[0][9 * N + 4] / rr.healthy->wait[0][9 * N + 4], 1.3, 0.001);
    assert_near(rr.faulty->wait[0][4 * N + 9] / rr.healthy->wait[0][4 * N + 9], 1.0, 0.001);
    assert_near(rr.faulty->wait[1][9 * N + 4] / rr.healthy->wait[1][9 * N + 4], 1.0, 0.001);
    free_pair(&rr);
}

static void test_slow_node(void **state)
{
    (void)state;
    ratio_run src = run_pair("slow_node:node=1,x=1.5");
    ratio_run dst = run_pair("slow_node:node=node-0,as=destination,x=1.5");
    for (int op = 0; op < 2; op++) {
        double node_f = 0, node_h = 0;
        for (int r = 8; r < 16; r++) { /* off-node columns of the ranks of node 1 */
            node_f += col_sum(src.faulty->wait[op], r, 1, 8);
            node_h += col_sum(src.healthy->wait[op], r, 1, 8);
            assert_near(col_sum(src.faulty->wait[op], r, 1, 8) /
                            col_sum(src.healthy->wait[op], r, 1, 8), 1.5, 0.15);
            for (int i = 8; i < 16; i++) /* inside the node: all late together */
                if (i != r)
                    assert_near(src.faulty->wait[op][i * N + r] / src.healthy->wait[op][i * N + r],
                                1.0, 0.02);
        }
        assert_near(node_f / node_h, 1.5, 0.04);
        for (int r = 0; r < 8; r++) {
            assert_near(row_sum(dst.faulty->wait[op], r) / row_sum(dst.healthy->wait[op], r), 1.5,
                        0.01);
            assert_near(row_sum(dst.faulty->wait[op], r + 8) /
                            row_sum(dst.healthy->wait[op], r + 8), 1.0, 0.001);
        }
    }
    free_pair(&src);
    free_pair(&dst);
}

static void test_load_imbalance(void **state)
{
    (void)state;
    ratio_run rr = run_pair("load_imbalance:rank=6,x=3");
    /* dispatch: rank 6 receives ~3x the tokens (less the renormalisation) */
    double tok_ratio = row_sum(rr.faulty->tokens[0], 6) / row_sum(rr.healthy->tokens[0], 6);
    assert_true(tok_ratio > 2.3 && tok_ratio < 3.1);
    /* its dispatch row and its combine column rise with the tokens */
    assert_true(row_sum(rr.faulty->wait[0], 6) > 1.1 * row_sum(rr.healthy->wait[0], 6));
    assert_true(col_sum(rr.faulty->wait[1], 6, 0, 8) > 1.3 * col_sum(rr.healthy->wait[1], 6, 0, 8));
    assert_true(col_sum(rr.faulty->tokens[1], 6, 0, 8) >
                2.0 * col_sum(rr.healthy->tokens[1], 6, 0, 8));
    free_pair(&rr);
}

static double row_sum_except(const double *m, int r, int skip)
{
    return row_sum(m, r) - m[r * N + skip];
}

static void test_several_faults(void **state)
{
    (void)state;
    sim_config cfg = base_config();
    cfg.spike_prob = 0.0;
    run_sums *h = simulate(&cfg);
    add_fault(&cfg, "slow_source:rank=3,x=1.5");
    add_fault(&cfg, "slow_destination:rank=12,x=1.5");
    add_fault(&cfg, "slow_path:src=10,dst=1,x=2");
    run_sums *f = simulate(&cfg);
    for (int op = 0; op < 2; op++) {
        double col_f = col_sum(f->wait[op], 3, 0, 8) - f->wait[op][12 * N + 3];
        double col_h = col_sum(h->wait[op], 3, 0, 8) - h->wait[op][12 * N + 3];
        assert_near(col_f / col_h, 1.5, 0.08);
        assert_near(row_sum_except(f->wait[op], 12, 3) / row_sum_except(h->wait[op], 12, 3), 1.5,
                    0.001);
        assert_near(f->wait[op][1 * N + 10] / h->wait[op][1 * N + 10], 2.0, 0.001);
    }
    free(h);
    free(f);
}

static void test_onset_end_duty(void **state)
{
    (void)state;
    sim_config cfg = base_config();
    add_fault(&cfg, "slow_path:src=1,dst=2,onset=100,end=300,x=2");
    add_fault(&cfg, "slow_destination:rank=5,onset=0,x=2,duty=0.3");
    sim_config healthy = base_config();
    sim *s = sim_new(&cfg), *h = sim_new(&healthy);
    double w[CELLS], wh[CELLS];
    int on = 0, total = 0;
    assert_non_null(s);
    assert_non_null(h);
    for (int64_t step = 0; step < 4000; step++) {
        int path_on = sim_fault_active(s, 0, 0, step);
        assert_int_equal(path_on, step >= 100 && step < 300);
        on += sim_fault_active(s, 1, 1, step);
        total++;
        if (step % 10) continue;
        sim_step(s, 0, step, w, NULL);
        sim_step(h, 0, step, wh, NULL);
        assert_true(fabs(w[2 * N + 1] / wh[2 * N + 1] - (path_on ? 2.0 : 1.0)) < 1e-9);
        double want = sim_fault_active(s, 1, 0, step) ? 2.0 : 1.0;
        assert_true(fabs(w[5 * N + 0] / wh[5 * N + 0] - want) < 1e-9);
    }
    assert_near((double)on / total, 0.3, 0.06);
    /* bursts: an intermittent fault stays on for blocks of steps, not single steps */
    int changes = 0;
    for (int64_t step = 1; step < 4000; step++)
        changes += sim_fault_active(s, 1, 0, step) != sim_fault_active(s, 1, 0, step - 1);
    assert_true(changes < 4000 / 10);
    sim_free(s);
    sim_free(h);
}

/* Any block of rows is the same as the whole step (synth streams blocks). */
static void test_rows_match_step(void **state)
{
    (void)state;
    sim_config cfg;
    sim_config_init(&cfg); /* the realistic defaults, spikes, warm-up and skew on */
    cfg.world = 19;
    cfg.per_node = 4;
    cfg.spike_prob = 0.05;
    add_fault(&cfg, "slow_source:rank=3,x=2,onset=2");
    add_fault(&cfg, "slow_path:src=1,dst=7,x=3,duty=0.5");
    add_fault(&cfg, "load_imbalance:rank=11,x=2");
    sim *s = sim_new(&cfg), *t = sim_new(&cfg);
    double whole[19 * 19], part[19 * 19];
    int64_t tw[19 * 19], tp[19 * 19];
    assert_non_null(s);
    assert_non_null(t);
    for (int64_t step = 0; step < 30; step++)
        for (int op = 0; op < 2; op++) {
            sim_step(s, op, step, whole, tw);
            for (int lo = 0; lo < 19; lo += 5) {
                int hi = lo + 5 < 19 ? lo + 5 : 19;
                sim_rows(t, op, step, lo, hi, part + lo * 19, tp + lo * 19);
            }
            assert_memory_equal(whole, part, sizeof whole);
            assert_memory_equal(tw, tp, sizeof tw);
        }
    sim_free(s);
    sim_free(t);
}

/* The default model: clipped zeros, a self-wait, warm-up, stable skew, spikes. */
static void test_realistic_defaults(void **state)
{
    (void)state;
    sim_config cfg;
    sim_config_init(&cfg);
    cfg.world = 64;
    cfg.noise.skew_ranks = 0.2;
    sim *s = sim_new(&cfg);
    int n = 64, zeros = 0, intra = 0, skewed = 0;
    double *w = malloc(sizeof(double) * n * n), diag = 0, warm = 0, later = 0;
    assert_non_null(s);
    assert_non_null(w);
    for (int64_t step = 0; step < 60; step++) {
        sim_step(s, 0, step, w, NULL);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double x = w[i * n + j];
                assert_true(x >= 0.0 && isfinite(x));
                if (step < 2) warm += x;
                else if (step >= 10) later += x;
                if (step < 10) continue;
                if (i == j) diag += x;
                else if (i / 8 == j / 8) intra++, zeros += x == 0.0;
            }
    }
    for (int r = 0; r < n; r++) {
        double skew = sim_launch_skew(s, 0, r);
        skewed += skew > 0;
        assert_true(skew == 0.0 || (skew >= 2000 && skew <= 10000));
        assert_true(sim_launch_skew(s, 1, r) == 0.0);
    }
    assert_true(zeros > intra / 20);      /* clipping: exact zeros inside nodes */
    assert_true(diag > 0);                /* the self-wait */
    assert_true(warm / 2 > 50 * later / 50); /* warm-up steps */
    assert_true(skewed > 3 && skewed < 25);
    sim_free(s);
    free(w);
}

/* Spikes hit about spike_prob of the cells, multiplicative and additive. */
static void test_spike_rate(void **state)
{
    (void)state;
    sim_config a, b;
    sim_config_init(&a);
    a.world = 32;
    a.noise.warmup_steps = 0;
    a.spike_prob = 0.0;
    b = a;
    b.spike_prob = 0.01;
    sim *sa = sim_new(&a), *sb = sim_new(&b);
    int n = 32;
    long changed = 0, cells = 0;
    double wa[32 * 32], wb[32 * 32];
    for (int64_t step = 0; step < 200; step++) {
        sim_step(sa, 1, step, wa, NULL);
        sim_step(sb, 1, step, wb, NULL);
        for (int c = 0; c < n * n; c++) {
            if (c / n == c % n) continue;
            changed += wa[c] != wb[c];
            cells++;
            assert_true(wb[c] >= wa[c]);
        }
    }
    assert_near((double)changed / cells, 0.01, 0.003);
    sim_free(sa);
    sim_free(sb);
}

/* A slow source is m x its column's mean under the realistic noise too. */
static void test_slow_source_realistic(void **state)
{
    (void)state;
    sim_config cfg;
    sim_config_init(&cfg);
    cfg.world = N;
    cfg.spike_prob = 0.0;
    cfg.noise.warmup_steps = 0;
    run_sums *h = simulate(&cfg);
    add_fault(&cfg, "slow_source:rank=2,x=2");
    run_sums *f = simulate(&cfg);
    for (int op = 0; op < 2; op++)
        assert_near(col_sum(f->wait[op], 2, 0, 8) / col_sum(h->wait[op], 2, 0, 8), 2.0, 0.15);
    free(h);
    free(f);
}

static void test_noise_parse(void **state)
{
    (void)state;
    sim_config cfg;
    char err[256] = "";
    sim_config_init(&cfg);
    assert_int_equal(sim_noise_parse(&cfg, "calm,jitter=2,spike_prob=0.01", err, sizeof err), 0);
    assert_true(cfg.noise.jitter == 2.0 && cfg.spike_prob == 0.01 && cfg.noise.floor_ns == 2000);
    assert_int_equal(sim_noise_parse(&cfg, "default", err, sizeof err), 0);
    assert_true(cfg.noise.jitter == 1.0 && cfg.spike_prob == 1e-3);
    assert_int_equal(sim_noise_parse(&cfg, "jitter=99", err, sizeof err), -1);
    assert_non_null(strstr(err, "jitter"));
    assert_int_equal(sim_noise_parse(&cfg, "colour=1", err, sizeof err), -1);
    assert_non_null(strstr(err, "colour"));
    assert_int_equal(sim_noise_parse(&cfg, "skew_min_ns=5e6", err, sizeof err), 0);
    assert_int_equal(sim_config_check(&cfg, err, sizeof err), -1);
    double v;
    assert_string_equal(sim_noise_knob(&cfg, 0, &v), "spike_prob");
    assert_null(sim_noise_knob(&cfg, 1000, &v));
}

static void expect_parse_error(const char *spec, const char *needle)
{
    sim_fault f;
    char err[256] = "";
    int rc = sim_fault_parse(spec, op_names, 2, 8, &f, err, sizeof err);
    if (rc == 0 || !strstr(err, needle))
        print_error("spec '%s': rc %d, err '%s', want '%s'\n", spec, rc, err, needle);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, needle));
}

static void test_parse_good(void **state)
{
    (void)state;
    sim_fault f;
    char err[256];
    assert_int_equal(sim_fault_parse("slow_source:rank=3", op_names, 2, 8, &f, err, sizeof err), 0);
    assert_int_equal(f.kind, SIM_SLOW_SOURCE);
    assert_int_equal(f.rank, 3);
    assert_int_equal(f.op, -1);
    assert_true(f.magnitude == 2.0 && f.duty == 1.0 && f.onset == 0 && f.end == -1);
    assert_int_equal(sim_fault_parse("slow_path:src=1,dst=9,op=combine,onset=10,end=20,x=1.3,"
                                     "duty=0.25", op_names, 2, 8, &f, err, sizeof err), 0);
    assert_int_equal(f.kind, SIM_SLOW_PATH);
    assert_true(f.src == 1 && f.dst == 9 && f.op == 1 && f.onset == 10 && f.end == 20);
    assert_true(f.magnitude == 1.3 && f.duty == 0.25);
    assert_int_equal(sim_fault_parse("slow_node:node=node-1,as=destination,magnitude=4,op=all",
                                     op_names, 2, 8, &f, err, sizeof err), 0);
    assert_true(f.kind == SIM_SLOW_NODE && f.node == 1 && f.as_source == 0 && f.magnitude == 4);
    assert_int_equal(sim_fault_parse("slow_destination:rank=0,op=dispatch", op_names, 2, 8, &f,
                                     err, sizeof err), 0);
    assert_int_equal(f.op, 0);
    assert_int_equal(sim_fault_parse("load_imbalance:rank=5,x=3", op_names, 2, 8, &f, err,
                                     sizeof err), 0);
    assert_string_equal(sim_kind_str(f.kind), "load_imbalance");
}

static void test_parse_bad(void **state)
{
    (void)state;
    expect_parse_error("slow_sauce:rank=3", "slow_sauce");
    expect_parse_error("slow_source", "needs rank=");
    expect_parse_error("slow_source:rank=abc", "'abc' for rank");
    expect_parse_error("slow_source:rank=-1", "for rank");
    expect_parse_error("slow_source:rank=3,x=0.5", "'0.5' for x");
    expect_parse_error("slow_source:rank=3,magnitude=inf", "for magnitude");
    expect_parse_error("slow_source:rank=3,duty=0", "'0' for duty");
    expect_parse_error("slow_source:rank=3,duty=1.5", "for duty");
    expect_parse_error("slow_source:rank=3,op=backward", "'backward' for op");
    expect_parse_error("slow_source:rank=3,colour=red", "unknown key 'colour'");
    expect_parse_error("slow_source:rank=3,src=4", "'src' does not apply to slow_source");
    expect_parse_error("slow_source:rank=3,rank=4", "'rank' given twice");
    expect_parse_error("slow_source:rank=3,x=2,magnitude=3", "'magnitude' given twice");
    expect_parse_error("slow_source:rank3", "'rank3' is not key=value");
    expect_parse_error("slow_source:rank=3,onset=50,end=40", "end=40");
    expect_parse_error("slow_path:src=3", "needs src= and dst=");
    expect_parse_error("slow_path:src=3,dst=3", "src and dst");
    expect_parse_error("slow_node:as=source", "needs node=");
    expect_parse_error("slow_node:node=1,as=sideways", "'sideways' for as");
    expect_parse_error("load_imbalance:rank=1,op=dispatch", "op must be all");
    expect_parse_error("", "unknown fault kind");
}

static void test_config_check(void **state)
{
    (void)state;
    sim_config cfg = base_config();
    char err[256];
    assert_int_equal(sim_config_check(&cfg, err, sizeof err), 0);
    add_fault(&cfg, "slow_source:rank=16");
    assert_int_equal(sim_config_check(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "rank 16"));
    assert_null(sim_new(&cfg));
    cfg = base_config();
    add_fault(&cfg, "slow_node:node=2");
    assert_int_equal(sim_config_check(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "node 2"));
    cfg = base_config();
    sim_fault_init(&cfg.faults[0], SIM_SLOW_PATH);
    cfg.faults[0].src = 1;
    cfg.faults[0].dst = 2;
    cfg.nfaults = 1;
    assert_int_equal(sim_config_check(&cfg, err, sizeof err), 0);
    cfg.faults[0].duty = 0;
    assert_int_equal(sim_config_check(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "duty"));
    cfg = base_config();
    cfg.world = 1;
    assert_null(sim_new(&cfg));
    cfg = base_config();
    cfg.world = 1 << 20;
    assert_null(sim_new(&cfg));
    cfg = base_config();
    cfg.per_node = 0;
    assert_null(sim_new(&cfg));
    assert_null(sim_new(NULL));
    assert_null(sim_baseline(NULL, 0));
    sim_step(NULL, 0, 0, NULL, NULL); /* ignored, no crash */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_healthy_plausible),
        cmocka_unit_test(test_no_negative_waits_per_step),
        cmocka_unit_test(test_slow_source),
        cmocka_unit_test(test_slow_destination),
        cmocka_unit_test(test_slow_path),
        cmocka_unit_test(test_slow_node),
        cmocka_unit_test(test_load_imbalance),
        cmocka_unit_test(test_several_faults),
        cmocka_unit_test(test_onset_end_duty),
        cmocka_unit_test(test_rows_match_step),
        cmocka_unit_test(test_realistic_defaults),
        cmocka_unit_test(test_spike_rate),
        cmocka_unit_test(test_slow_source_realistic),
        cmocka_unit_test(test_noise_parse),
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_config_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
