/* test_join.c - dxt_tracker_join (classify/track_series.c): the findings of
 * one op tested in two window sizes joined, a subject's two p-values by Simes,
 * a rank of a node the other size found not added, and both sizes judged
 * again at half the alpha where the join would drop a finding. The findings
 * are pushed into judged trackers as their analysis would (track_internal.h).
 * Owner: the classifier engineer (A1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "classify_fixtures.h"
#include "track_internal.h"

/* A tracker of 16 ranks judged (three empty windows: no finding), then given
 * findings as its analysis would: kind, rank (or src -> dst), p-value. */
static dxt_tracker *judged_with(topo_buf *tb, const dxt_finding *fs, int count)
{
    static const double zeros[16 * 16];
    dxt_tracker *t = dxt_tracker_new("dispatch", make_topo(tb, 16, 8), NULL);
    assert_non_null(t);
    for (int w = 0; w < 3; w++) assert_int_equal(dxt_tracker_add_window(t, w, w, zeros, NULL), 0);
    assert_int_equal(dxt_tracker_findings(t, NULL), 0);
    for (int k = 0; k < count; k++) assert_int_equal(dxt_tracker_push_finding(t, &fs[k]), 0);
    return t;
}

/* Two window sizes joined (Simes, at alpha 0.001): a subject in both at
 * 6e-4 and 8e-4 stays (min(2 x 6e-4, 8e-4)), a node's p-value doubles, a path
 * keeps its own and the other size's path is not added (paths join only from
 * a size of 20 windows or more: a cell's null needs many; here 3), a rank of
 * the node is not added.
 * A finding of one size alone at 7e-4 would be dropped: both sizes are judged
 * again at half the alpha (their windows here hold nothing: no finding). */
static void test_join_sizes(void **state)
{
    (void)state;
    topo_buf tb1, tb2;
    dxt_finding source = {.kind = DXT_SLOW_SOURCE, .rank = 3, .src = -1, .dst = -1, .node = -1};
    dxt_finding node = source, path = source, long_path, member = source;
    node.kind = DXT_SLOW_NODE, node.rank = -1, node.node = 1, node.as_source = 1;
    path.kind = DXT_SLOW_PATH, path.rank = -1, path.src = 1, path.dst = 2;
    long_path = path, long_path.src = 4;
    member.rank = 9; /* node 1: ranks 8-15 */
    dxt_finding fine[3] = {source, node, path}, coarse[4] = {source, path, long_path, member};
    fine[0].p_value = 6e-4, fine[1].p_value = 1e-5, fine[2].p_value = 4e-4;
    coarse[0].p_value = 8e-4, coarse[1].p_value = 1e-9, coarse[2].p_value = 2e-4;
    coarse[3].p_value = 3e-4;
    dxt_tracker *t = judged_with(&tb1, fine, 3), *other = judged_with(&tb2, coarse, 4);
    assert_int_equal(dxt_tracker_join(t, other), 0);
    const dxt_finding *fs;
    int count = dxt_tracker_findings(t, &fs);
    assert_int_equal(count, 3);
    double want[3] = {8e-4, 2e-5, 4e-4}; /* source, node, path */
    for (int k = 0; k < count; k++) {
        int which = fs[k].kind == DXT_SLOW_SOURCE ? 0 : fs[k].kind == DXT_SLOW_NODE ? 1 : 2;
        assert_true(which != 0 || fs[k].rank == 3);
        assert_true(which != 2 || fs[k].src == 1);
        assert_true(fabs(fs[k].p_value - want[which]) < 1e-12);
    }
    dxt_tracker_free(t);
    dxt_tracker_free(other);
    dxt_finding alone = source;
    alone.p_value = 7e-4;
    t = judged_with(&tb1, &alone, 1), other = judged_with(&tb2, NULL, 0);
    assert_int_equal(dxt_tracker_join(t, other), 0);
    assert_int_equal(dxt_tracker_findings(t, NULL), 0);
    assert_true(t->opts.alpha == 0.001 && other->opts.alpha == 0.001);
    dxt_tracker_free(t);
    dxt_tracker_free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
