/* classify_tokens.c - load_imbalance for the classifier (classify_internal.h):
 * is a slow rank's extra wait explained by extra tokens? Not a token ratio (a
 * slow receiver that happens to get more tokens is no hot expert) but how
 * wait excess follows token excess across the op's cells: a least-squares
 * line through every cell's (token excess, wait excess), both in logs. Where
 * the waits follow the tokens the slope is positive and sure, and the rank's
 * own tokens, through that slope, predict most of its own wait excess.
 * The excesses are changes in time (classify_time.c: the flagged windows
 * against the rest) or, from step 0, deviations from the cell's class (the
 * static judge, classify.c).
 * Owner: the classifier engineer (A1). */
#include <math.h>

#include "classify_internal.h"

/* The slope must be this many standard errors above 0. */
#define TOKEN_SLOPE_Z 3.0
/* Share of the line's wait excess its token excess must predict. */
#define TOKEN_EXPLAINS 0.5

int dxt_tokens_explain(const double *dwait, const double *dtok, const unsigned char *in_line,
                       size_t cells, double min_log_ratio)
{
    double n = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0, syy = 0.0;
    double ln = 0.0, lx = 0.0, ly = 0.0;
    for (size_t c = 0; c < cells; c++) {
        double x = dtok[c], y = dwait[c];
        if (!isfinite(x) || !isfinite(y)) continue;
        n += 1.0, sx += x, sy += y, sxx += x * x, sxy += x * y, syy += y * y;
        if (in_line[c]) ln += 1.0, lx += x, ly += y;
    }
    if (n < 4.0 || ln < 1.0) return 0;
    double vx = sxx - sx * sx / n, cxy = sxy - sx * sy / n, vy = syy - sy * sy / n;
    if (!(vx > 0.0)) return 0;
    double slope = cxy / vx, resid = vy - slope * cxy;
    double se = sqrt((resid > 0.0 ? resid : 0.0) / (n - 2.0) / vx);
    lx /= ln, ly /= ln;
    /* the line's own excess over the cells' mean, as the slope predicts it */
    double line_tok = lx - sx / n, line_wait = ly - sy / n;
    return slope > TOKEN_SLOPE_Z * se && lx >= min_log_ratio && line_wait > 0.0 &&
           slope * line_tok >= TOKEN_EXPLAINS * line_wait;
}
