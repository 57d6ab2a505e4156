/* classify_scan.c - the calibrated test of the classifier over time
 * (track_internal.h): a subject's windows are marked where its standardized
 * effect is above a threshold; under the null each window is above it with
 * the rate measured on the subject's class in the same trace (so heavy tails,
 * spikes and clipping are in the rate, not assumed away); the segment of
 * windows least likely under Binomial(length, rate) is the candidate, and its
 * tail probability, multiplied by every segment and subject tested, is the
 * finding's p-value. One window never makes a finding: its probability is
 * the rate itself.
 * Owner: the classifier engineer (A1). */
#include <math.h>

#include "track_internal.h"

double dxt_normal_tail(double z)
{
    return 0.5 * erfc(z / sqrt(2.0));
}

double dxt_log_binom_tail(int k, int n, double p)
{
    if (k <= 0) return 0.0;
    if (k > n || !(p > 0.0)) return -INFINITY;
    if (p >= 1.0) return 0.0;
    double log_term = lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) +
                      k * log(p) + (n - k) * log1p(-p);
    double sum = 1.0, term = 1.0, odds = p / (1.0 - p);
    for (int j = k; j < n; j++) {
        double ratio = (double)(n - j) / (j + 1.0) * odds;
        term *= ratio;
        sum += term;
        if (ratio < 1.0 && term < 1e-17 * sum) break;
    }
    double r = log_term + log(sum);
    return r > 0.0 ? 0.0 : r;
}

int dxt_min_exceedances(double p, double log_p_needed)
{
    /* k exceedances in k windows: p^k is the smallest probability they reach */
    if (!(p > 0.0) || p >= 1.0) return 1;
    double k = ceil(log_p_needed / log(p));
    return k < 1.0 ? 1 : k > 1e9 ? 1000000000 : (int)k;
}

/* Runs of exceedances: starts[] and ends[] (window indices). */
static int find_runs(const unsigned char *ex, int W, int *starts, int *ends)
{
    int runs = 0;
    for (int w = 0; w < W; w++) {
        if (ex[w] != 1) continue;
        if (w == 0 || ex[w - 1] != 1) starts[runs] = w;
        if (w + 1 == W || ex[w + 1] != 1) ends[runs++] = w;
    }
    return runs;
}

int dxt_scan_exceedances(const unsigned char *ex, int W, double p, int *work,
                         dxt_segment *seg)
{
    int *starts = work, *ends = work + W, *cum_ex = work + 2 * W, *cum_valid = work + 3 * W + 1;
    cum_ex[0] = cum_valid[0] = 0;
    for (int w = 0; w < W; w++) {
        cum_ex[w + 1] = cum_ex[w] + (ex[w] == 1);
        cum_valid[w + 1] = cum_valid[w] + (ex[w] != 2);
    }
    int runs = find_runs(ex, W, starts, ends);
    seg->log_p = 1.0;
    for (int a = 0; a < runs; a++)
        for (int b = a; b < runs; b++) {
            int first = starts[a], last = ends[b];
            int k = cum_ex[last + 1] - cum_ex[first], n = cum_valid[last + 1] - cum_valid[first];
            double lp = dxt_log_binom_tail(k, n, p);
            if (lp < seg->log_p)
                *seg = (dxt_segment){first, last, k, n, lp};
        }
    return runs > 0 ? 0 : -1;
}
