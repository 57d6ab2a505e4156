/* test_scan.c - the calibrated scan's functions (classify/classify_scan.c,
 * track_internal.h) on hand-made series: no tracker, no view.
 * Owner: the classifier engineer (A1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "track_internal.h"

/* A short burst (classify_scan.c): 3 windows 30 scales up stand out of a
 * class whose rises thin out fast above 6; the same among a subject's own
 * recurring excursions as high do not (it is its own null); nor before
 * `from`; a run longer than max_len is the scan's. */
static void test_burst_null(void **state)
{
    (void)state;
    enum { W = 100 };
    double z[W];
    unsigned char ex[W];
    dxt_tail tail;
    dxt_segment seg;
    dxt_tail_fit(40.0, 40.0 * 0.1, 10000.0, 6.0, &tail); /* light: log(z / 6) ~0.1 */
    for (int w = 0; w < W; w++) z[w] = 0.5 * sin(w), ex[w] = 0;
    for (int w = 50; w < 53; w++) z[w] = 30.0, ex[w] = 1;
    assert_int_equal(dxt_burst_exceedances(z, ex, W, 0, &tail, 1.0, 3, &seg), 0);
    assert_int_equal(seg.first, 50);
    assert_int_equal(seg.last, 52);
    assert_true(seg.log_p < -40.0);
    assert_int_equal(dxt_burst_exceedances(z, ex, W, 51, &tail, 1.0, 3, &seg), -1);
    for (int w = 10; w < 40; w += 10) z[w] = 33.0, ex[w] = 1; /* its own, as high */
    assert_int_equal(dxt_burst_exceedances(z, ex, W, 0, &tail, 1.0, 3, &seg), 0);
    assert_true(seg.log_p > -12.0);
    for (int w = 0; w < W; w++) ex[w] = 0;
    for (int w = 50; w < 54; w++) z[w] = 30.0, ex[w] = 1; /* 4 windows: the scan's */
    assert_int_equal(dxt_burst_exceedances(z, ex, W, 0, &tail, 1.0, 3, &seg), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
