/* test_classify.c - the classifier on single windows: every peer case of
 * shared/peer-cases (exact verdicts at default settings), the ep16 case parsed
 * from DeepXTrace's log, kind strings, healthy and NAN-heavy matrices, the
 * tracker's merge and series on a few synthetic windows, lateness from step 0
 * that follows load (no finding, a slow source beyond it, a hot expert),
 * faults over time (a long one, a large one in a noisy class); what is judged
 * from step 0 alone is test_classify_static.c's.
 * Owner: the classifier engineer (A1). Peer cases: $DXT_PEER_CASES or
 * tests/data/peer-cases (a copy of shared/peer-cases). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify_fixtures.h"

static const char *peer_dir(void)
{
    const char *d = getenv("DXT_PEER_CASES");
    return d && *d ? d : "tests/data/peer-cases";
}





/* Does finding f match the expected JSON object e? */
static int matches(const dxt_finding *f, json_t *e)
{
    const char *kind = json_string_value(json_object_get(e, "kind"));
    if (!kind || strcmp(kind, dxt_kind_str(f->kind))) return 0;
    if (f->kind == DXT_SLOW_PATH)
        return f->src == json_integer_value(json_object_get(e, "src")) &&
               f->dst == json_integer_value(json_object_get(e, "dst"));
    if (f->kind == DXT_SLOW_NODE) return f->node == json_integer_value(json_object_get(e, "node"));
    return f->rank == json_integer_value(json_object_get(e, "rank"));
}

/* Every expected finding once, nothing else. */
static void check_exact(const char *name, const dxt_finding *fs, int count, json_t *expect)
{
    size_t ne = json_array_size(expect);
    if ((size_t)count != ne) print_message("%s: %d findings, expected %zu\n", name, count, ne);
    assert_int_equal(count, (int)ne);
    for (size_t e = 0; e < ne; e++) {
        int found = 0;
        for (int k = 0; k < count; k++) found += matches(&fs[k], json_array_get(expect, e));
        if (found != 1) print_message("%s: expected finding %zu found %d times\n", name, e, found);
        assert_int_equal(found, 1);
    }
}

static int matrix_from_json(json_t *rows, double *m, int *n)
{
    *n = (int)json_array_size(rows);
    if (*n < 2 || *n > MAX_N) return -1;
    for (int i = 0; i < *n; i++) {
        json_t *row = json_array_get(rows, (size_t)i);
        if ((int)json_array_size(row) != *n) return -1;
        for (int k = 0; k < *n; k++) m[i * *n + k] = json_number_value(json_array_get(row, (size_t)k));
    }
    return 0;
}

static void test_peer_cases(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/deepxtrace-cases.json", peer_dir());
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root) {
        print_message("no peer cases at %s: missing\n", path);
        fail();
    }
    json_t *cases = json_object_get(root, "cases");
    assert_true(json_array_size(cases) >= 6);
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *cs = json_array_get(cases, c);
        const char *name = json_string_value(json_object_get(cs, "name"));
        int per_node = (int)json_integer_value(json_object_get(cs, "per_node"));
        static double m[MAX_N * MAX_N];
        dxt_finding fs[MAX_N];
        int n;
        assert_int_equal(matrix_from_json(json_object_get(cs, "matrix"), m, &n), 0);
        int count = classify_one(m, n, per_node > 0 ? per_node : n, fs, MAX_N);
        print_findings(name, fs, count);
        json_t *expect = json_object_get(cs, "expect");
        if (json_is_array(expect)) check_exact(name, fs, count, expect);
    }
    json_decref(root);
}

/* Lines "rank=i [v v ...]" of a DeepXTrace log -> n x n matrix (rows in
 * order, every row n wide). */
static int parse_deepxtrace_log(FILE *f, double *m, int *n)
{
    static char line[1 << 16];
    int width[MAX_N];
    *n = 0;
    while (fgets(line, sizeof line, f)) {
        int rank, used = 0;
        if (sscanf(line, "rank=%d [%n", &rank, &used) != 1 || used == 0) continue;
        if (rank != *n || rank >= MAX_N) return -1;
        char *p = line + used, *end;
        int k = 0;
        for (double v = strtod(p, &end); end != p && k < MAX_N; v = strtod(p, &end)) {
            m[rank * MAX_N + k++] = v;
            p = end;
        }
        width[(*n)++] = k;
    }
    for (int i = 0; i < *n; i++)
        if (width[i] != *n) return -1;
    for (int i = 0; i < *n; i++) /* compact to n x n */
        for (int k = 0; k < *n; k++) m[i * *n + k] = m[i * MAX_N + k];
    return *n >= 2 ? 0 : -1;
}

static void test_ep16_log(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/ep16-dispatch-deepxtrace.log", peer_dir());
    FILE *f = fopen(path, "r");
    if (!f) {
        print_message("no %s: missing\n", path);
        fail();
    }
    static double m[MAX_N * MAX_N];
    int n = 0;
    int rc = parse_deepxtrace_log(f, m, &n);
    fclose(f);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 16);
    dxt_finding fs[MAX_N];
    int count = classify_one(m, n, 8, fs, MAX_N);
    print_findings("ep16 log", fs, count);
    assert_int_equal(count, 1);
    assert_int_equal(fs[0].kind, DXT_SLOW_SOURCE);
    assert_int_equal(fs[0].rank, 4);
    assert_true(fs[0].severity > 2.0);
    assert_true(fs[0].share > 0.9);
}

static void test_kind_strings(void **state)
{
    (void)state;
    static const char *const names[] = {"slow_source", "slow_destination", "slow_path",
                                        "slow_node", "load_imbalance"};
    assert_int_equal(DXT_KIND_COUNT, 5);
    for (int k = 0; k < DXT_KIND_COUNT; k++) {
        assert_string_equal(dxt_kind_str((dxt_kind)k), names[k]);
        assert_true(strlen(dxt_kind_meaning((dxt_kind)k)) > 10);
    }
    assert_string_equal(dxt_kind_str(DXT_KIND_COUNT), "?");
    assert_string_equal(dxt_kind_meaning((dxt_kind)-1), "?");
    dxt_classify_opts o;
    dxt_classify_opts_init(&o);
    assert_true(o.min_severity > 1.0 && o.min_score > 0.0 && o.min_share > 0.0);
    assert_true(o.min_static_severity >= o.min_path_severity && o.alpha > 0.0 && o.alpha < 0.05);
}




static int classify_windows(const double *pair, int n, int per_node, double nan_share,
                            int windows, dxt_finding *fs)
{
    topo_buf tb;
    static double m[MAX_N * MAX_N];
    dxt_tracker *t = dxt_tracker_new("combine", make_topo(&tb, n, per_node), NULL);
    assert_non_null(t);
    for (int w = 0; w < windows; w++) {
        healthy_matrix(m, pair, n, per_node, nan_share);
        assert_int_equal(dxt_tracker_add_window(t, w * 100, w * 100 + 99, m, NULL), 0);
    }
    return take_findings(t, NULL, fs);
}



static void test_healthy_random(void **state)
{
    (void)state;
    static double pair[MAX_N * MAX_N];
    dxt_finding fs[MAX_N];
    static const int sizes[] = {8, 16, 32, 64};
    for (int s = 0; s < 4; s++)
        for (uint64_t seed = 1; seed <= 5; seed++) {
            rng_state = seed * 0x9E3779B97F4A7C15ull + (uint64_t)sizes[s];
            random_pairs(pair, sizes[s]);
            int count = classify_windows(pair, sizes[s], 8, 0.0, 1 + (int)seed % 3 * 5, fs);
            if (count) print_findings("healthy", fs, count);
            assert_int_equal(count, 0);
        }
}

static void test_nan_heavy(void **state)
{
    (void)state;
    static double pair[MAX_N * MAX_N];
    dxt_finding fs[MAX_N];
    rng_state = 42;
    random_pairs(pair, 32);
    int count = classify_windows(pair, 32, 8, 0.7, 6, fs);
    if (count) print_findings("nan-heavy", fs, count);
    assert_int_equal(count, 0);
    /* all missing, and a 2 x 2 job: no crash, nothing found */
    static double m[4] = {NAN, NAN, NAN, NAN};
    assert_int_equal(classify_one(m, 2, 8, fs, MAX_N), 0);
}

/* Windows of a 16-rank job: rank 5 a 1.6x slow source from window 6, one
 * spike on cell (2, 9) in window 3: one finding, onset right, series kept. */
static void test_tracker_onset_and_spike(void **state)
{
    (void)state;
    enum { N = 16, WINDOWS = 12, ONSET = 6 };
    static double pair[N * N], m[N * N];
    dxt_tracker *t = seeded_job("dispatch", N, 7, pair);
    for (int w = 0; w < WINDOWS; w++) {
        healthy_matrix(m, pair, N, 8, 0.0);
        if (w >= ONSET)
            for (int i = 0; i < N; i++)
                if (i != 5) m[i * N + 5] *= 1.6;
        if (w == 3) m[2 * N + 9] *= 8.0;
        assert_int_equal(dxt_tracker_add_window(t, w * 100, w * 100 + 99, m, NULL), 0);
    }
    const dxt_finding *fs = NULL;
    int count = dxt_tracker_findings(t, &fs);
    print_findings("onset", fs, count);
    assert_int_equal(count, 1);
    assert_int_equal(fs[0].kind, DXT_SLOW_SOURCE);
    assert_int_equal(fs[0].rank, 5);
    assert_int_equal(fs[0].first_step, ONSET * 100);
    assert_int_equal(fs[0].last_step, WINDOWS * 100 - 1);
    assert_int_equal(fs[0].windows_flagged, WINDOWS - ONSET);
    assert_int_equal(fs[0].windows_seen, WINDOWS - ONSET);
    assert_true(fs[0].persistent);
    /* the wait's rise (1.6x), not log(wait + floor)'s (1.5x) */
    assert_true(fs[0].severity > 1.55 && fs[0].severity < 1.7);
    assert_string_equal(fs[0].op, "dispatch");
    const int64_t *steps = NULL;
    const double *subj = NULL, *peers = NULL;
    assert_int_equal(dxt_tracker_series(t, &fs[0], &steps, &subj, &peers), WINDOWS);
    assert_int_equal(steps[ONSET], ONSET * 100);
    assert_true(subj[WINDOWS - 1] > 1.3 * subj[0]);
    assert_true(peers[WINDOWS - 1] < 1.1 * peers[0]);
    dxt_tracker_free(t);
}

/* Windows of a 16-rank job, rank 5 a 1.5x slow source from the first
 * window, on in bursts (two windows on, three off: 40 %): no normal stretch
 * before it for the scan, its bursts all run long for the duty test. One
 * intermittent finding, from its first burst. */
static void test_intermittent_from_start(void **state)
{
    (void)state;
    enum { N = 16, WINDOWS = 40 };
    static double pair[N * N], m[N * N];
    dxt_tracker *t = seeded_job("dispatch", N, 11, pair);
    for (int w = 0; w < WINDOWS; w++) {
        healthy_matrix(m, pair, N, 8, 0.0);
        if (w % 5 >= 3)
            for (int i = 0; i < N; i++)
                if (i != 5) m[i * N + 5] *= 1.5;
        assert_int_equal(dxt_tracker_add_window(t, w * 100, w * 100 + 99, m, NULL), 0);
    }
    const dxt_finding *fs = NULL;
    int count = dxt_tracker_findings(t, &fs);
    print_findings("intermittent from the start", fs, count);
    assert_int_equal(count, 1);
    assert_int_equal(fs[0].kind, DXT_SLOW_SOURCE);
    assert_int_equal(fs[0].rank, 5);
    assert_int_equal(fs[0].first_step, 300);
    assert_false(fs[0].persistent);
    assert_int_equal(fs[0].windows_flagged, 16);
    assert_true(fs[0].p_value < 1e-6);
    dxt_tracker_free(t);
}

/* A short run: 20 windows of a 16-rank job whose path 3 -> 12 is 4x slow in
 * bursts from the first window (two windows of five): no normal stretch
 * before it for the scan, so the duty test finds it, as in a long run (it
 * needed 40 windows; a healthy cell's wander in 15 windows was a false path
 * then, and is no finding since the high pass). */
static void test_bursts_in_short_run(void **state)
{
    (void)state;
    enum { N = 16, WINDOWS = 20 };
    static double pair[N * N], m[N * N];
    dxt_finding fs[MAX_N];
    dxt_tracker *t = seeded_job("combine", N, 17, pair);
    for (int w = 0; w < WINDOWS; w++) {
        healthy_matrix(m, pair, N, 8, 0.0);
        if (w % 5 < 2) m[12 * N + 3] *= 4.0;
        assert_int_equal(dxt_tracker_add_window(t, w * 20, w * 20 + 19, m, NULL), 0);
    }
    assert_int_equal(take_findings(t, "bursts in a short run", fs), 1);
    assert_int_equal(fs[0].kind, DXT_SLOW_PATH);
    assert_int_equal(fs[0].src, 3);
    assert_int_equal(fs[0].dst, 12);
    assert_false(fs[0].persistent);
}

/* Windows of a 16-rank job in which the path 1 -> 6 is slow x2 from the
 * first window to window 14 and well after it (independent held-out set:
 * f017, f023, f029); with `fall`, the path is well before window 15 and slow
 * after it, and 3 other cells of rank 1's column drop by 1.3x there (GPU
 * held-out set 11: a slow path's source serves some other peers sooner). */
static int early_path(int fall, dxt_finding *fs)
{
    enum { N = 16, WINDOWS = 40, END = 15 };
    static double pair[N * N], m[N * N];
    dxt_tracker *t = seeded_job("dispatch", N, 31, pair);
    for (int w = 0; w < WINDOWS; w++) {
        healthy_matrix(m, pair, N, 4, 0.0);
        if ((w < END) != fall) m[6 * N + 1] *= 2.0;
        for (int i = 9; fall && w < END && i < 12; i++) m[i * N + 1] *= 1.3;
        assert_int_equal(dxt_tracker_add_window(t, w * 100, w * 100 + 99, m, NULL), 0);
    }
    return take_findings(t, "early path", fs);
}

/* Slow from the start, then well: the static judgement needs both ends of the
 * run, the scan normal windows before an onset; a segment from the start that
 * ends with a quarter of the run still to come is a finding (from 8 ranks:
 * with 4, late launches change in regimes from the start, and
 * test_real_traces.sh's deepep-ep4-load-imbalance-4x gave a false path over
 * its first 290 steps), unless it ends where a finding of its line begins. */
static void test_early_end(void **state)
{
    (void)state;
    dxt_finding fs[MAX_N];
    assert_int_equal(early_path(0, fs), 1);
    assert_int_equal(fs[0].kind, DXT_SLOW_PATH);
    assert_int_equal(fs[0].src, 1);
    assert_int_equal(fs[0].dst, 6);
    assert_true(fs[0].first_step <= 100);
    assert_int_equal(fs[0].last_step, 1499);
    assert_int_equal(early_path(1, fs), 1);
    assert_int_equal(fs[0].kind, DXT_SLOW_PATH);
    assert_int_equal(fs[0].dst, 6);
    assert_int_equal(fs[0].first_step, 1500);
}

/* Windows of a 16-rank job in which rank 5's column creeps up 1.25x over 60
 * windows, faster and faster (a routing share drifting), and, when step > 1,
 * jumps by step from window 40 besides: the findings. */
static int drift_windows(double step, dxt_finding *fs)
{
    enum { N = 16, WINDOWS = 60, ONSET = 40 };
    static double pair[N * N], m[N * N];
    dxt_tracker *t = seeded_job("combine", N, 13, pair);
    for (int w = 0; w < WINDOWS; w++) {
        double x = w / (WINDOWS - 1.0), f = exp(log(1.25) * x * x) * (w >= ONSET ? step : 1.0);
        healthy_matrix(m, pair, N, 8, 0.0);
        for (int i = 0; i < N; i++)
            if (i != 5) m[i * N + 5] *= f;
        assert_int_equal(dxt_tracker_add_window(t, w * 100, w * 100 + 99, m, NULL), 0);
    }
    return take_findings(t, "drift", fs);
}

/* A drift is no fault (its windows cross the threshold one after another at
 * the end, as unlikely under the scan's null as a step's); a step on a drift
 * is one, from its onset. */
static void test_drift_not_step(void **state)
{
    (void)state;
    dxt_finding fs[MAX_N];
    assert_int_equal(drift_windows(1.0, fs), 0);
    assert_int_equal(drift_windows(1.3, fs), 1);
    assert_int_equal(fs[0].kind, DXT_SLOW_SOURCE);
    assert_int_equal(fs[0].rank, 5);
    assert_int_equal(fs[0].first_step, 4000);
}

/* A rise under min_severity is no finding from any onset (dxtanalysis.h):
 * rank 5's column 1.15x from window 20 of 40, 5 of its noise's scales
 * (3 %); found where min_severity allows it. */
static int small_rise(double min_severity, dxt_finding *fs)
{
    enum { N = 16, WINDOWS = 40, ONSET = 20 };
    static double pair[N * N], m[N * N];
    dxt_classify_opts o;
    dxt_classify_opts_init(&o);
    o.min_severity = min_severity;
    dxt_tracker *t = seeded_job_opts("combine", N, 17, pair, &o);
    for (int w = 0; w < WINDOWS; w++) {
        healthy_matrix(m, pair, N, 8, 0.0);
        for (int i = 0; w >= ONSET && i < N; i++)
            if (i != 5) m[i * N + 5] *= 1.15;
        assert_int_equal(dxt_tracker_add_window(t, w * 100, w * 100 + 99, m, NULL), 0);
    }
    return take_findings(t, "small rise", fs);
}

static void test_small_rise(void **state)
{
    (void)state;
    dxt_finding fs[MAX_N];
    assert_int_equal(small_rise(1.2, fs), 0);
    assert_int_equal(small_rise(1.1, fs), 1);
    assert_int_equal(fs[0].rank, 5);
    assert_int_equal(fs[0].first_step, 2000);
}

/* Windows of a 64-rank combine whose lateness follows each rank's load (a
 * rank's column rises linearly with its tokens: expert compute), loads
 * log-normal; extra_rank's load x extra_load, slow_rank's column x slow:
 * the findings. */
static int load_lateness(int extra_rank, double extra_load, int slow_rank, double slow,
                         dxt_finding *fs)
{
    enum { N = 64, WINDOWS = 12 };
    static double pair[N * N], m[N * N], tok[N * N], load[N];
    dxt_tracker *t = seeded_job("combine", N, 11, pair);
    for (int r = 0; r < N; r++) load[r] = exp(0.15 * normal()) * (r == extra_rank ? extra_load : 1.0);
    for (int w = 0; w < WINDOWS; w++) {
        healthy_matrix(m, pair, N, 8, 0.0);
        for (int c = 0; c < N * N; c++) {
            int k = c % N;
            double late = fmax(0.3, 2.3 * load[k] - 1.3) * (k == slow_rank ? slow : 1.0);
            m[c] *= late;
            tok[c] = c / N == k ? 0.0 : 100.0 * 16.0 * load[k] * exp(0.05 * normal());
        }
        assert_int_equal(dxt_tracker_add_window(t, w * 100, w * 100 + 99, m, tok), 0);
    }
    return take_findings(t, "load lateness", fs);
}

/* From step 0 a rank late by its load is no finding unless its tokens stand
 * out from the ranks' (heavy-tailed) spread of loads; one late beyond what
 * its load predicts is still a slow source. */
static void test_load_lateness(void **state)
{
    (void)state;
    dxt_finding fs[MAX_N];
    assert_int_equal(load_lateness(20, 2.0, -1, 1.0, fs), 0); /* a popular rank */
    /* 5x: the ranks' lines spread with their loads here (scale 0.26), and a
     * line is judged on its effect, not on its residual from the load line */
    assert_int_equal(load_lateness(20, 2.0, 40, 5.0, fs), 1);
    assert_int_equal(fs[0].kind, DXT_SLOW_SOURCE);
    assert_int_equal(fs[0].rank, 40);
    assert_int_equal(load_lateness(20, 6.0, -1, 1.0, fs), 1); /* a hot expert */
    assert_int_equal(fs[0].kind, DXT_LOAD_IMBALANCE);
    assert_int_equal(fs[0].rank, 20);
    assert_true(fs[0].p_value < 0.001);
}

/* Windows of a 64-rank combine whose lateness follows each rank's load, as
 * in load_lateness, jittered 5 % a window; rank 3's load is load_out and its row x row_out (a late
 * rank waits less), in windows 20-39 load_in and x row_in: the findings. */
static int lateness_moves(double load_out, double row_out, double load_in, double row_in,
                          dxt_finding *fs)
{
    enum { N = 64, WINDOWS = 60, RANK = 3 };
    static double pair[N * N], m[N * N], tok[N * N], load[N], jitter[N];
    dxt_tracker *t = seeded_job("combine", N, 31, pair);
    for (int r = 0; r < N; r++) load[r] = exp(0.15 * normal());
    for (int w = 0; w < WINDOWS; w++) {
        int in = w >= 20 && w < 40;
        load[RANK] = in ? load_in : load_out;
        healthy_matrix(m, pair, N, 8, 0.0);
        for (int k = 0; k < N; k++) jitter[k] = exp(0.05 * normal()); /* launch times */
        for (int c = 0; c < N * N; c++) {
            int i = c / N, k = c % N;
            m[c] *= fmax(0.3, 2.3 * load[k] - 1.3) * jitter[k] *
                    (i == RANK ? (in ? row_in : row_out) : 1.0);
            tok[c] = i == k ? 0.0 : 100.0 * 16.0 * load[k] * exp(0.05 * normal());
        }
        assert_int_equal(dxt_tracker_add_window(t, w * 10, w * 10 + 9, m, tok), 0);
    }
    return take_findings(t, "lateness moves", fs);
}

/* A late rank whose load, and lateness, eased for a while (its row rose as
 * its column fell: it waits more because it is less late) is no slow
 * receiver there: its row stood higher but still not above its peers' (a
 * healthy 10-rank dxt-synth run, a 1.2x "slow_destination" for 400 steps).
 * A receiver slow there, its column unchanged, is still found. */
static void test_lateness_eases(void **state)
{
    (void)state;
    dxt_finding fs[MAX_N];
    assert_int_equal(lateness_moves(1.6, 0.94, 1.5, 1.12, fs), 0);
    assert_int_equal(lateness_moves(1.0, 1.0, 1.0, 1.3, fs), 1);
    assert_int_equal(fs[0].kind, DXT_SLOW_DESTINATION);
    assert_int_equal(fs[0].rank, 3);
    assert_int_equal(lateness_moves(1.6, 0.94, 1.6, 1.2, fs), 1); /* late, and slow there */
    assert_int_equal(fs[0].kind, DXT_SLOW_DESTINATION);
}

/* Windows of a 64-rank combine whose cells wait in proportion to their
 * sender's load (log-normal) to the power elastic, where from window 20 rank
 * 9's tokens rise x tok_rise (its lateness follows: expert compute), every
 * other rank's by its own log-normal(wander), and rank 9's column x slow
 * besides; each cell's tokens of a window off by log-normal(tok_noise): the
 * findings. */
static int load_step(double tok_rise, double slow, double elastic, double wander,
                     double tok_noise, dxt_finding *fs)
{
    enum { N = 64, WINDOWS = 40, ONSET = 20, RANK = 9 };
    static double pair[N * N], m[N * N], tok[N * N], load[N], moved[N];
    dxt_tracker *t = seeded_job("combine", N, 23, pair);
    for (int r = 0; r < N; r++) load[r] = exp(0.15 * normal());
    for (int r = 0; r < N; r++)
        moved[r] = r == RANK ? tok_rise : wander > 0.0 ? exp(wander * normal()) : 1.0;
    for (int w = 0; w < WINDOWS; w++) {
        healthy_matrix(m, pair, N, 8, 0.0);
        for (int c = 0; c < N * N; c++) {
            int k = c % N, on = w >= ONSET;
            double l = load[k] * (on ? moved[k] : 1.0);
            m[c] *= pow(l, elastic) * (on && k == RANK ? slow : 1.0);
            tok[c] = c / N == k ? 0.0 : 100.0 * 16.0 * l * exp(tok_noise * normal());
        }
        assert_int_equal(dxt_tracker_add_window(t, w * 100, w * 100 + 99, m, tok), 0);
    }
    return take_findings(t, "load step", fs);
}

/* Over time: a rank late because its tokens rose a little (the routing's own
 * wander, under min_token_ratio) is no finding; one whose tokens doubled is a
 * load_imbalance; one late with its tokens unchanged is a slow source. Where
 * lateness is steep in the load (3x its change), every rank's load wanders
 * and a cell's tokens are noisy (10 % a window), the token noise of the cells
 * off rank 9's column dilutes the cells' slope (an 8 % wander was a 1.26x
 * slow source); the ranks' lines show it (classify_subjects.c,
 * follows_tokens). */
static void test_load_wander(void **state)
{
    (void)state;
    dxt_finding fs[MAX_N];
    assert_int_equal(load_step(1.15, 1.0, 1.0, 0.0, 0.02, fs), 0);
    assert_int_equal(load_step(2.0, 1.0, 1.0, 0.0, 0.02, fs), 1);
    assert_int_equal(fs[0].kind, DXT_LOAD_IMBALANCE);
    assert_int_equal(fs[0].rank, 9);
    assert_int_equal(fs[0].first_step, 2000);
    assert_int_equal(load_step(1.0, 1.35, 1.0, 0.0, 0.02, fs), 1);
    assert_int_equal(fs[0].kind, DXT_SLOW_SOURCE);
    assert_int_equal(fs[0].first_step, 2000);
    assert_int_equal(load_step(1.08, 1.0, 3.0, 0.01, 0.1, fs), 0);
    assert_int_equal(load_step(1.0, 1.35, 3.0, 0.01, 0.1, fs), 1);
    assert_int_equal(fs[0].kind, DXT_SLOW_SOURCE);
    assert_int_equal(fs[0].rank, 9);
}

/* Windows of a 64-rank dispatch whose ranks' shares of the tokens wander
 * (each row's load a random walk, a tenth of a log unit in 20 windows; the
 * wait is mostly the tokens'), and in which rank 9 receives `hot` x its
 * tokens from window 50 on. The findings. */
static int wandering_rows(double hot, dxt_finding *fs)
{
    enum { N = 64, WINDOWS = 100, ONSET = 50, RANK = 9 };
    static double pair[N * N], m[N * N], tok[N * N], walk[N];
    dxt_tracker *t = seeded_job("dispatch", N, 29, pair);
    for (int r = 0; r < N; r++) walk[r] = 0.15 * normal();
    for (int w = 0; w < WINDOWS; w++) {
        healthy_matrix(m, pair, N, 8, 0.0);
        for (int r = 0; r < N; r++) walk[r] += 0.025 * normal();
        for (int c = 0; c < N * N; c++) {
            int i = c / N;
            double share = exp(walk[i]) * (i == RANK && w >= ONSET ? hot : 1.0);
            m[c] *= 0.15 + 0.85 * share;
            tok[c] = c % N == i ? 0.0 : 200.0 * share * exp(0.05 * normal());
        }
        assert_int_equal(dxt_tracker_add_window(t, w * 10, w * 10 + 9, m, tok), 0);
    }
    return take_findings(t, "wandering rows", fs);
}

/* A rank that receives 3x its tokens is a load_imbalance though every rank's
 * load wanders: each row then crosses its own scale in runs, the scan's null
 * counts those runs and a count does not see that one row rose 2.5x while the
 * others moved by a tenth; against the class's cross-section of each window
 * (classify_subjects.c, cross_section) it stands out by its size. */
static void test_wandering_rows(void **state)
{
    (void)state;
    dxt_finding fs[MAX_N];
    assert_int_equal(wandering_rows(1.0, fs), 0);
    assert_int_equal(wandering_rows(3.0, fs), 1);
    assert_int_equal(fs[0].kind, DXT_LOAD_IMBALANCE);
    assert_int_equal(fs[0].rank, 9);
    assert_int_equal(fs[0].first_step, 500);
}

/* Windows of a 64-rank dispatch in which, from window 20, rank 13 waits
 * longer for `hit` of its senders (x slow on their cells, the others
 * unchanged): a receiver late for some of its peers, its row's median not
 * raised. The findings. */
static int uneven_receiver(int hit, double slow, dxt_finding *fs)
{
    enum { N = 64, WINDOWS = 40, ONSET = 20, RANK = 13 };
    static double pair[N * N], m[N * N];
    dxt_tracker *t = seeded_job("dispatch", N, 17, pair);
    for (int w = 0; w < WINDOWS; w++) {
        healthy_matrix(m, pair, N, 8, 0.0);
        for (int k = 0; w >= ONSET && k < hit; k++) m[RANK * N + (RANK + 3 + 5 * k) % N] *= slow;
        assert_int_equal(dxt_tracker_add_window(t, w * 100, w * 100 + 99, m, NULL), 0);
    }
    return take_findings(t, "uneven receiver", fs);
}

/* One late cell is a path; late cells by the handful on one row are its
 * rank, a slow receiver, from their onset (in a class this quiet, the cells'
 * runs made each other's design effect when a cell's null kept its
 * line-mates: 4 and 12 cells gave no finding). */
static void test_uneven_receiver(void **state)
{
    (void)state;
    dxt_finding fs[MAX_N];
    assert_int_equal(uneven_receiver(1, 1.8, fs), 1);
    assert_int_equal(fs[0].kind, DXT_SLOW_PATH);
    assert_int_equal(fs[0].dst, 13);
    for (int hit = 4; hit <= 12; hit += 8) {
        assert_int_equal(uneven_receiver(hit, 1.8, fs), 1);
        assert_int_equal(fs[0].kind, DXT_SLOW_DESTINATION);
        assert_int_equal(fs[0].rank, 13);
        assert_int_equal(fs[0].first_step, 2000);
        assert_true(fs[0].severity > 1.5 && fs[0].severity < 2.1);
    }
}





/* A 16-rank job on two nodes whose node 1 launches 40 late from window 20
 * of 40: node 0 waits 1.5x longer for it and it waits less for node 0. That
 * is node 1 as source, once, not also node 0 slow to receive, though both
 * raise the same cells: the late node's own waits fell (classify_lines.c,
 * dxt_other_node_late). With two nodes the node sources' null is two mirror
 * images: node 1 as source alone is found at 1.1x, node 0's rows at 1.5x. */
static void test_late_node_of_two(void **state)
{
    (void)state;
    enum { N = 16, WINDOWS = 40, ONSET = 20 };
    static double pair[N * N], m[N * N];
    dxt_finding fs[MAX_N];
    dxt_tracker *t = seeded_job("dispatch", N, 13, pair);
    for (int w = 0; w < WINDOWS; w++) {
        healthy_matrix(m, pair, N, 8, 0.0);
        for (int i = 0; w >= ONSET && i < N; i++)
            for (int k = 0; k < N; k++) {
                if (i / 8 == 0 && k / 8 == 1) m[i * N + k] += 40.0;
                if (i / 8 == 1 && k / 8 == 0) m[i * N + k] = fmax(m[i * N + k] - 40.0, 0.5);
            }
        assert_int_equal(dxt_tracker_add_window(t, w * 100, w * 100 + 99, m, NULL), 0);
    }
    assert_int_equal(take_findings(t, "late node of two", fs), 1);
    assert_int_equal(fs[0].kind, DXT_SLOW_NODE);
    assert_int_equal(fs[0].node, 1);
    assert_true(fs[0].as_source);
    assert_int_equal(fs[0].first_step, ONSET * 100);
    assert_true(fs[0].severity > 1.3);
}

/* A 16-rank job whose pair (5 <- 9) is noisy (sigma 0.12 a window) and 2.5x
 * slow from window 12 of 64 to the end (on for 81 % of the run): the findings. */
static int long_path_windows(dxt_finding *fs)
{
    enum { N = 16, WINDOWS = 64, ONSET = 12 };
    static double pair[N * N], m[N * N];
    dxt_tracker *t = seeded_job("combine", N, 21, pair);
    for (int w = 0; w < WINDOWS; w++) {
        healthy_matrix(m, pair, N, 8, 0.0);
        m[5 * N + 9] *= exp(0.12 * normal()) * (w >= ONSET ? 2.5 : 1.0);
        assert_int_equal(dxt_tracker_add_window(t, w * 5, w * 5 + 4, m, NULL), 0);
    }
    return take_findings(t, "long path", fs);
}

/* A fault on for most of the run is not its cell's usual level: the run's
 * first eighth sits far below the rest (base_level, classify_view.h). With
 * the edge among the values judged, the lower quartile fell on the onset
 * and the spread doubled, and this path was its own level. */
static void test_long_fault(void **state)
{
    (void)state;
    dxt_finding fs[MAX_N];
    assert_int_equal(long_path_windows(fs), 1);
    assert_int_equal(fs[0].kind, DXT_SLOW_PATH);
    assert_int_equal(fs[0].src, 9);
    assert_int_equal(fs[0].dst, 5);
    assert_true(fs[0].first_step >= 55 && fs[0].first_step <= 65);
}



/* Windows of 64 ranks whose cells spike in 30 % of windows by a log of
 * 0.06 / u^(1/3) (a tail that thins fast), cell (9 <- 40) path_x over
 * windows 20-25 of 40: the findings. */
static int spiky_path_windows(double path_x, dxt_finding *fs)
{
    enum { N = 64, WINDOWS = 40 };
    static double pair[N * N], m[N * N];
    dxt_tracker *t = seeded_job("combine", N, 5, pair);
    for (int w = 0; w < WINDOWS; w++) {
        healthy_matrix(m, pair, N, 8, 0.0);
        for (int c = 0; c < N * N; c++)
            if (uniform() < 0.3) m[c] *= exp(0.06 / cbrt(uniform()));
        if (w >= 20 && w < 26) m[9 * N + 40] *= path_x;
        assert_int_equal(dxt_tracker_add_window(t, w * 10, w * 10 + 9, m, NULL), 0);
    }
    return take_findings(t, "spiky path", fs);
}

/* Where a tenth of a class's windows cross EXCEED_Z by noise, six windows
 * of a 4x path are no rare count there, but they are above HIGH_Z, where
 * the class's rate is a tenth of that (classify_subjects.c, the high pass). */
static void test_large_in_noisy_class(void **state)
{
    (void)state;
    dxt_finding fs[MAX_N];
    assert_int_equal(spiky_path_windows(1.0, fs), 0);
    assert_int_equal(spiky_path_windows(4.0, fs), 1);
    assert_int_equal(fs[0].kind, DXT_SLOW_PATH);
    assert_int_equal(fs[0].src, 40);
    assert_int_equal(fs[0].dst, 9);
    assert_int_equal(fs[0].first_step, 200);
}


static void test_bad_input(void **state)
{
    (void)state;
    dxt_topology bad = {0, 0, NULL, NULL};
    assert_null(dxt_tracker_new("x", &bad, NULL));
    assert_int_equal(dxt_tracker_add_window(NULL, 0, 0, NULL, NULL), -1);
    assert_int_equal(dxt_tracker_findings(NULL, NULL), 0);
    assert_int_equal(dxt_tracker_series(NULL, NULL, NULL, NULL, NULL), 0);
    dxt_tracker_free(NULL);
    /* one rank; a window of zeros (no traffic at all): nothing, no crash */
    topo_buf tb;
    double one = 5.0, zeros[16 * 16] = {0};
    dxt_tracker *t = dxt_tracker_new("x", make_topo(&tb, 1, 8), NULL);
    assert_non_null(t);
    assert_int_equal(dxt_tracker_add_window(t, 0, 9, &one, NULL), 0);
    assert_int_equal(dxt_tracker_add_window(t, 10, 19, &one, &one), 0);
    assert_int_equal(dxt_tracker_findings(t, NULL), 0);
    dxt_tracker_free(t);
    t = dxt_tracker_new("x", make_topo(&tb, 16, 8), NULL);
    assert_non_null(t);
    for (int w = 0; w < 3; w++) assert_int_equal(dxt_tracker_add_window(t, w, w, zeros, zeros), 0);
    assert_int_equal(dxt_tracker_findings(t, NULL), 0);
    dxt_tracker_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peer_cases),
        cmocka_unit_test(test_ep16_log),
        cmocka_unit_test(test_kind_strings),
        cmocka_unit_test(test_healthy_random),
        cmocka_unit_test(test_nan_heavy),
        cmocka_unit_test(test_tracker_onset_and_spike),
        cmocka_unit_test(test_intermittent_from_start),
        cmocka_unit_test(test_bursts_in_short_run),
        cmocka_unit_test(test_early_end),
        cmocka_unit_test(test_load_lateness),
        cmocka_unit_test(test_lateness_eases),
        cmocka_unit_test(test_load_wander),
        cmocka_unit_test(test_wandering_rows),
        cmocka_unit_test(test_drift_not_step),
        cmocka_unit_test(test_small_rise),
        cmocka_unit_test(test_uneven_receiver),
        cmocka_unit_test(test_long_fault),
        cmocka_unit_test(test_late_node_of_two),
        cmocka_unit_test(test_large_in_noisy_class),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
