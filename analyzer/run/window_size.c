/* window_size.c - the default window of dxt-analyze: the smallest 1, 2, 5 x
 * 10^k steps giving at most 100 windows, and no shorter than the steps between
 * a rank's rows; the tests' long window likewise at most 20 (declared in
 * analysis.h; apart from
 * window.c so that the loader tests need no classifier).
 * Owner: the loader/report engineer (A2). */
#include "analysis.h"

static int64_t window_for(int64_t span, int64_t every, int64_t windows)
{
    static const int64_t mantissa[3] = {1, 2, 5};
    for (int64_t scale = 1; scale <= INT64_MAX / 10; scale *= 10)
        for (int k = 0; k < 3; k++) {
            int64_t w = mantissa[k] * scale;
            if (w >= every && span / w + (span % w != 0) <= windows) /* no overflow near INT64_MAX */
                return w;
        }
    return span;
}

int64_t dxt_default_window(int64_t span, int64_t every)
{
    return window_for(span, every, 100);
}

int64_t dxt_long_window(int64_t span, int64_t every)
{
    int64_t w = window_for(span, every, 20);
    return span / w >= 8 ? w : 0;
}
