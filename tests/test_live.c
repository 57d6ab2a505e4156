/* test_live.c - the live API of libdxtanalysis (dxtanalysis.h), used only
 * through the public header, as the Python live mode uses it: a healthy job
 * fed window by window gives no finding; a slow source appearing mid-run is
 * found from its onset, with the history of the windows before; the report's
 * JSON is the dxt-analyze report (format, findings, p_value); bad calls are
 * refused with a message, never a crash.
 * Owner: the analysis engineers (analyzer/live.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dxtanalysis.h"

#define N 16
#define STEPS_PER_WINDOW 20

static const char *const ops[] = {"dispatch", "combine"};

/* A deterministic generator (the test's own noise: gamma-like sums of uniforms). */
static double noise(uint64_t *state)
{
    double sum = 0;
    for (int k = 0; k < 4; k++) {
        *state = *state * 6364136223846793005ull + 1442695040888963407ull;
        sum += (double)(*state >> 11) / 9007199254740992.0;
    }
    return sum * 5; /* mean 10 */
}

/* Window w of a 60 us per-step exchange; column slow (if >= 0) 2.5x. */
static void window_matrix(double *m, uint64_t *state, int slow)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double per_step = 50 + noise(state);
            m[i * N + j] = (j == slow ? 2.5 : 1.0) * per_step * STEPS_PER_WINDOW;
        }
}

static json_t *report(dxt_live *l)
{
    char err[256] = "", *text = NULL;
    assert_int_equal(dxt_live_report(l, 0, &text, err, sizeof err), 0);
    json_error_t jerr;
    json_t *r = json_loads(text, 0, &jerr);
    dxt_live_free_string(text);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "format")), "dxtrace-report");
    return r;
}

/* Feed windows [from, to) of both ops; the slow column from window onset on. */
static void feed(dxt_live *l, int from, int to, int onset, uint64_t *state)
{
    double m[N * N];
    char err[256];
    for (int w = from; w < to; w++)
        for (int op = 0; op < 2; op++) {
            window_matrix(m, state, op == 0 && onset >= 0 && w >= onset ? 5 : -1);
            assert_int_equal(dxt_live_add_window(l, op, (int64_t)w * STEPS_PER_WINDOW,
                                                 (int64_t)w * STEPS_PER_WINDOW +
                                                     STEPS_PER_WINDOW - 1,
                                                 m, NULL, NULL, err, sizeof err), 0);
        }
}

static void test_healthy_then_slow_source(void **unused)
{
    (void)unused;
    dxt_live *l = NULL;
    char err[256];
    uint64_t state = 7;
    assert_int_equal(dxt_live_new("job", N, NULL, 8, 2, ops, "us", &l, err, sizeof err), 0);
    char *text = NULL;
    assert_int_equal(dxt_live_report(l, 0, &text, err, sizeof err), -2); /* nothing fed */
    assert_null(text);
    feed(l, 0, 30, -1, &state);
    json_t *r = report(l);
    assert_int_equal(json_array_size(json_object_get(r, "findings")), 0);
    json_decref(r);
    feed(l, 30, 60, 30, &state);
    r = report(l);
    json_t *findings = json_object_get(r, "findings");
    assert_int_equal(json_array_size(findings), 1);
    json_t *f = json_array_get(findings, 0);
    assert_string_equal(json_string_value(json_object_get(f, "kind")), "slow_source");
    assert_string_equal(json_string_value(json_object_get(f, "op")), "dispatch");
    assert_int_equal(json_integer_value(json_object_get(f, "rank")), 5);
    assert_int_equal(json_integer_value(json_object_get(f, "first_step")),
                     30 * STEPS_PER_WINDOW);
    assert_true(json_real_value(json_object_get(f, "p_value")) < 1e-6);
    json_decref(r);
    assert_int_equal(dxt_live_report(l, 1, &text, err, sizeof err), 0); /* text */
    assert_non_null(strstr(text, "slow_source"));
    dxt_live_free_string(text);
    dxt_live_free(l);
}

static void test_bad_calls(void **unused)
{
    (void)unused;
    dxt_live *l = NULL;
    char err[256] = "";
    int bad_nodes[N] = {0, 0, -1};
    assert_int_equal(dxt_live_new(NULL, 1, NULL, 8, 2, ops, NULL, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "world size"));
    assert_int_equal(dxt_live_new(NULL, N, bad_nodes, 8, 2, ops, NULL, &l, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "node_of"));
    assert_int_equal(dxt_live_new(NULL, N, NULL, 8, 2, ops, "parsecs", &l, err, sizeof err),
                     -1);
    assert_null(l);
    assert_int_equal(dxt_live_new(NULL, N, NULL, 8, 2, ops, NULL, &l, err, sizeof err), 0);
    double m[N * N], t[N * N];
    for (int k = 0; k < N * N; k++)
        m[k] = t[k] = 1;
    m[3] = NAN;
    assert_int_equal(dxt_live_add_window(l, 2, 0, 9, m, NULL, NULL, err, sizeof err), -1);
    assert_int_equal(dxt_live_add_window(l, 0, 10, 9, m, NULL, NULL, err, sizeof err), -1);
    assert_int_equal(dxt_live_add_window(l, 0, 0, 9, m, t, NULL, err, sizeof err), 0);
    assert_int_equal(dxt_live_add_window(l, 0, 5, 14, m, t, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "step order"));
    assert_int_equal(dxt_live_add_window(l, 0, 10, 19, m, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "tokens"));
    dxt_live_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy_then_slow_source),
        cmocka_unit_test(test_bad_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
