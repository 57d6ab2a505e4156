/* classify_scan.c - the calibrated test of the classifier over time
 * (track_internal.h): a subject's windows are marked where its standardized
 * effect is above a threshold; under the null each window is above it with
 * the rate measured on the subject's class in the same trace (so heavy tails,
 * spikes and clipping are in the rate, not assumed away); the segment of
 * windows least likely under Binomial(length, rate) is the candidate, and its
 * tail probability, multiplied by every segment and subject tested, is the
 * finding's p-value. The null rate is not one number: subjects of a class
 * differ (a cell near the floor crosses more often than one far above it),
 * so the rate of a subject is drawn from a beta distribution fitted to the
 * class's spread of rates and updated by the subject's own windows outside
 * the segment (a cell that flickers all run long is its own null), and the
 * count of a segment is beta-binomial. Autocorrelated windows (regimes,
 * drifts) count 1/tau each (tau and the beta are measured on the class's
 * transitions and counts, which classify_subjects.c gathers). A
 * segment needs some judged windows outside it. One window never makes a
 * finding: its probability is the rate itself.
 * Owner: the classifier engineer (A1). */
#include <math.h>

#include "track_internal.h"

/* Weight, in windows, of the class's mean rate in a subject's own rate
 * outside a segment (a cell that flickers all run long is its own null). */
#define OWN_PRIOR 5.0
#define MIN_DENSITY 0.2 /* share of a segment's windows that must exceed */
#define DUTY_MIN_WINDOWS 12 /* judged windows the duty test needs */
#define DUTY_MIN_HALF 0.25  /* share of its exceedances each half of the run must hold */
#define SPIKE_SCALES 4.0    /* a window this many scales off its neighbours' median is a
                             * spike to the step-or-bend fit (despike) */
#define MIN_RATE 0.002        /* null rate floor: one clean class proves little */
#define PRIOR_WINDOWS 1e4     /* most weight of the class's rates, in windows of a subject */
#define DESIGN_PRIOR 2.0      /* transitions shrinking P(1|1) towards P(1|0) */
#define MAX_RHO 0.9           /* autocorrelation cap of exceedances (tau <= 19) */
#define TAIL_PRIOR 5.0        /* pseudo rises of a heavy tail in a class's tail (dxt_tail_fit) */
#define TAIL_PRIOR_GAMMA 0.5  /* ... their mean log(z / u): P(Z > z) ~ z^-2 */

/* Transitions of an exceedance series between judged neighbours: t[0] from
 * a normal window, t[1] of those to an exceedance, t[2] from an exceedance,
 * t[3] of those to another. */
void dxt_count_transitions(const unsigned char *ex, int W, int t[4])
{
    t[0] = t[1] = t[2] = t[3] = 0;
    int prev = 2;
    for (int w = 0; w < W; w++) {
        if (ex[w] == 2) continue;
        if (prev != 2) {
            t[prev ? 2 : 0]++;
            t[prev ? 3 : 1] += ex[w];
        }
        prev = ex[w];
    }
}

/* The design effect of exceedances with these transitions: under a two-state
 * Markov chain the lag-1 autocorrelation is rho = P(1|1) - P(1|0) and the
 * count over n windows varies like that of n / tau independent ones, tau =
 * (1 + rho) / (1 - rho). Regimes (real DeepEP: the rank that launches last
 * stays late for hundreds of steps) and drifts make exceedances come in runs;
 * counting them as independent windows made every regime a finding. P(1|1)
 * is shrunk towards P(1|0) by DESIGN_PRIOR transitions (few exceedances say
 * little); rho is capped (tau <= 19). */
double dxt_design_effect(const long t[4])
{
    double p01 = (t[1] + 0.5) / (t[0] + 1.0);
    double p11 = (t[3] + DESIGN_PRIOR * p01) / (t[2] + DESIGN_PRIOR);
    double rho = p11 - p01;
    if (!(rho > 0.0)) return 1.0;
    if (rho > MAX_RHO) rho = MAX_RHO;
    return (1.0 + rho) / (1.0 - rho);
}

/* Sums over subjects of x^2, x n and n^2 (x exceedances of n windows). */
void dxt_add_counts(double sums[3], double x, double n, double sign)
{
    sums[0] += sign * x * x, sums[1] += sign * x * n, sums[2] += sign * n * n;
}

/* The beta prior of a subject's rate from the other subjects of its class
 * (exceed of valid windows, sums: dxt_add_counts): the mean rate m, and the
 * spread by moments: their counts vary phi times as much as binomial ones,
 * phi = tau (1 + (n_w - 1) rho) (n_w the weighted mean windows, tau the
 * design effect, rho the correlation of windows of one subject), so a + b =
 * (1 - rho) / rho (at most PRIOR_WINDOWS: a class with no spread is
 * binomial); the subject's own rate outside a segment is a floor
 * (dxt_scan_exceedances). */
void dxt_class_prior(const double sums[3], double exceed, double valid, double tau,
                     dxt_null *null)
{
    double m = (exceed + 1.0) / (valid + 2.0);
    if (m < MIN_RATE) m = MIN_RATE;
    double ss = sums[0] - 2.0 * m * sums[1] + m * m * sums[2];
    double phi = valid > 0.0 ? ss / (m * (1.0 - m) * valid) / tau : 1.0;
    double nw = valid > 0.0 ? sums[2] / valid : 1.0;
    double rho = nw > 1.0 ? (phi - 1.0) / (nw - 1.0) : 0.0;
    double size = rho > 0.0 ? (1.0 - rho) / rho : PRIOR_WINDOWS;
    if (size > PRIOR_WINDOWS) size = PRIOR_WINDOWS;
    if (size < 1.0) size = 1.0;
    null->a = m * size;
    null->b = (1.0 - m) * size;
}

double dxt_normal_tail(double z)
{
    return 0.5 * erfc(z / sqrt(2.0));
}

/* The continued fraction of the incomplete beta function (modified Lentz). */
static double beta_fraction(double a, double b, double x)
{
    const double tiny = 1e-300;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
    d = 1.0 / (fabs(d) < tiny ? tiny : d);
    double h = d;
    for (int m = 1; m <= 500; m++) {
        double m2 = 2.0 * m;
        for (int half = 0; half < 2; half++) {
            double aa = half == 0 ? m * (b - m) * x / ((a + m2 - 1.0) * (a + m2))
                                  : -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
            d = 1.0 + aa * d;
            c = 1.0 + aa / c;
            d = 1.0 / (fabs(d) < tiny ? tiny : d);
            c = fabs(c) < tiny ? tiny : c;
            h *= d * c;
            if (half == 1 && fabs(d * c - 1.0) < 1e-13) return h;
        }
    }
    return h;
}

/* Regularized incomplete beta I_x(a, b). */
static double incomplete_beta(double a, double b, double x)
{
    if (x <= 0.0) return 0.0;
    if (x >= 1.0) return 1.0;
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    return x < (a + 1.0) / (a + b + 2.0) ? front * beta_fraction(a, b, x) / a
                                         : 1.0 - front * beta_fraction(b, a, 1.0 - x) / b;
}

double dxt_student_tail(double t, double df)
{
    if (!(df > 0.0)) df = 1.0;
    if (isnan(t)) return 1.0;
    if (t == 0.0) return 0.5; /* not <= 0: -0.0 would recurse for ever */
    if (t < 0.0) return 1.0 - dxt_student_tail(-t, df);
    return 0.5 * incomplete_beta(0.5 * df, 0.5, df / (df + t * t));
}

double dxt_f_tail(double f, double d1, double d2)
{
    if (isnan(f) || !(d1 > 0.0) || !(d2 > 0.0)) return 1.0;
    if (f <= 0.0) return 1.0;
    return incomplete_beta(0.5 * d2, 0.5 * d1, d2 / (d2 + d1 * f));
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

/* log P(X >= k) for X ~ Binomial(n, p) with real k and n (the count of a
 * series with autocorrelation, divided by its design effect): the regularized
 * incomplete beta I_p(k, n - k + 1), in logs so that tiny tails keep their
 * order. Integer k and n give dxt_log_binom_tail's value. */
double dxt_log_binom_tail_real(double k, double n, double p)
{
    if (k <= 0.0) return 0.0;
    if (k > n + 1e-9 || !(p > 0.0)) return -INFINITY;
    if (p >= 1.0) return 0.0;
    double a = k, b = n - k + 1.0;
    double log_front = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(p) + b * log1p(-p);
    double r;
    if (p < (a + 1.0) / (a + b + 2.0)) {
        r = log_front + log(beta_fraction(a, b, p) / a);
    } else {
        double rest = exp(log_front) * beta_fraction(b, a, 1.0 - p) / b;
        r = rest < 1.0 ? log1p(-rest) : -INFINITY;
    }
    return r > 0.0 ? 0.0 : r;
}

static double log_beta(double a, double b)
{
    return lgamma(a) + lgamma(b) - lgamma(a + b);
}

/* log P(X = j) for X ~ BetaBinomial(n, a, b), real j and n. */
static double log_bb_pmf(double j, double n, double a, double b)
{
    return lgamma(n + 1.0) - lgamma(j + 1.0) - lgamma(n - j + 1.0) + log_beta(j + a, n - j + b) -
           log_beta(a, b);
}

double dxt_log_bb_tail(double k, double n, double a, double b)
{
    if (k <= 0.0) return 0.0;
    if (k > n + 1e-9) return -INFINITY;
    if (a + b > 1e7) return dxt_log_binom_tail_real(k, n, a / (a + b));
    /* terms k, k + 1, ... (real k: the same continuous extension as the
     * binomial's), summed in logs from the largest */
    double top = -INFINITY, sum = 0.0;
    for (double j = k; j <= n + 1e-9; j += 1.0) {
        double t = log_bb_pmf(j, n, a, b);
        if (t > top) {
            sum = sum * exp(top - t) + 1.0;
            top = t;
        } else {
            sum += exp(t - top);
            if (t - top < -40.0) break;
        }
    }
    double r = top + log(sum);
    return r > 0.0 ? 0.0 : r;
}

int dxt_min_exceedances(const dxt_null *null, int valid, double log_p_needed)
{
    /* k exceedances in k windows, every other judged window normal: the
     * least likely k of them can be; the fewest that reach log_p_needed */
    double b = null->b + valid / null->tau;
    for (int k = 1; k <= valid; k++)
        if (log_bb_pmf(k / null->tau, k / null->tau, null->a, b) < log_p_needed) return k;
    return valid + 1;
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

int dxt_scan_exceedances(const unsigned char *ex, int W, const dxt_null *null, int min_out,
                         int *work, dxt_segment *seg)
{
    int *starts = work, *ends = work + W, *cum_ex = work + 2 * W, *cum_valid = work + 3 * W + 1;
    cum_ex[0] = cum_valid[0] = 0;
    for (int w = 0; w < W; w++) {
        cum_ex[w + 1] = cum_ex[w] + (ex[w] == 1);
        cum_valid[w + 1] = cum_valid[w] + (ex[w] != 2);
    }
    int runs = find_runs(ex, W, starts, ends), found = -1;
    double tau = null->tau;
    seg->log_p = 1.0;
    for (int a = 0; a < runs; a++)
        for (int b = a; b < runs; b++) {
            int first = starts[a], last = ends[b];
            int k = cum_ex[last + 1] - cum_ex[first], n = cum_valid[last + 1] - cum_valid[first];
            int out_ex = cum_ex[W] - k, out_valid = cum_valid[W] - n;
            if (out_valid < min_out) continue; /* no change in time: the static judgement's */
            /* a fifth of a segment's windows at least: fewer, spread over a
             * long stretch, is a subject with heavier tails than its class,
             * not bursts (an intermittent fault on 30-60 % of the time) */
            if (k < MIN_DENSITY * n) continue;
            /* the class's spread of rates, updated by the subject's own
             * windows outside the segment (autocorrelated windows count
             * 1/tau each) */
            double pa = null->a + out_ex / tau, pb = null->b + (out_valid - out_ex) / tau;
            double lp = dxt_log_bb_tail(k / tau, n / tau, pa, pb);
            /* and never below what its own rate outside says (a subject
             * whose class shows no spread of rates may still flicker) */
            double m = null->a / (null->a + null->b);
            double own = (out_ex / tau + m * OWN_PRIOR) / (out_valid / tau + OWN_PRIOR);
            if (own > m) {
                double lo = dxt_log_binom_tail_real(k / tau, n / tau, own);
                if (lo > lp) lp = lo;
            }
            if (lp < seg->log_p) {
                *seg = (dxt_segment){first, last, k, n, lp, 0};
                found = 0;
            }
        }
    return found;
}

int dxt_duty_exceedances(const unsigned char *ex, int W, const dxt_null *null, dxt_segment *seg)
{
    int n = 0, k = 0, first = -1, last = -1, run = 0, longest = 0, half_k = 0;
    for (int w = 0; w < W; w++) {
        if (ex[w] == 2) continue;
        if (first < 0 && ex[w] == 1) first = w; /* the run from its first burst to its last */
        if (ex[w] == 1) last = w;
        n++, k += ex[w] == 1;
        run = ex[w] == 1 ? run + 1 : 0;
        if (run > longest) longest = run;
    }
    for (int w = 0, m = 0; m < n / 2; w++)
        if (ex[w] != 2) m++, half_k += ex[w] == 1;
    /* bursts all along, not one level: a subject whose level fell (a late
     * rank's row, an early rank) exceeds in one run from the start, and an
     * onset or an end (the scan's) leaves one half of the run nearly clean;
     * above in most windows is no burst but the level (persistent from
     * step 0: the static judgement's; the base is a low level of the run).
     * These conditions only narrow where the test rejects: its level stays
     * that of the whole run's tail. */
    if (n < DUTY_MIN_WINDOWS || k < MIN_DENSITY * n || k >= DXT_PERSISTENT_FRACTION * n ||
        2 * longest > k ||
        half_k < DUTY_MIN_HALF * k || k - half_k < DUTY_MIN_HALF * k)
        return -1;
    double lp = dxt_log_bb_tail(k / null->tau, n / null->tau, null->a, null->b);
    *seg = (dxt_segment){first, last, k, n, lp, 1};
    return 0;
}

void dxt_tail_fit(double excess, double sum_log, double valid, double u, dxt_tail *tail)
{
    double rate = (excess + 1.0) / (valid + 2.0);
    tail->u = u;
    tail->rate = rate > MIN_RATE ? rate : MIN_RATE;
    tail->shape = TAIL_PRIOR + excess;
    tail->scale = TAIL_PRIOR * TAIL_PRIOR_GAMMA + sum_log;
}

/* log P(Z > z) under the tail (z >= u): the predictive of a Pareto whose
 * rate of log(z / u) has a gamma prior updated by the rises seen (an
 * unknown gamma weighs the heavy ones: with none seen, at z / u = 19 it is
 * 7.6 times the plug-in's). */
static double tail_log_sf(const dxt_tail *t, double z)
{
    double lz = z > t->u ? log(z / t->u) : 0.0;
    return log(t->rate) - t->shape * log1p(lz / t->scale);
}

/* log p of the run first..last of z[] (its windows judged and above): each
 * window at least its lowest z, under the tail or the subject's own windows
 * outside it, whichever is likelier; autocorrelated windows count 1/tau
 * each (for one window a guard only: a window is as likely whatever the
 * correlation, but a class's runs of exceedances may hide stalls that span
 * two). */
static double burst_log_p(const double *z, int W, int first, int last, const dxt_tail *tail,
                          double tau)
{
    double low = INFINITY;
    for (int w = first; w <= last; w++) low = z[w] < low ? z[w] : low;
    double per = tail_log_sf(tail, low);
    int out = 0, high = 0;
    for (int w = 0; w < W; w++)
        if ((w < first || w > last) && !isnan(z[w])) out++, high += z[w] >= low;
    double own = log((high + exp(per) * OWN_PRIOR) / (out + OWN_PRIOR));
    if (own > per) per = own;
    return (last - first + 1) / tau * per;
}

int dxt_burst_exceedances(const double *z, const unsigned char *ex, int W, int from,
                          const dxt_tail *tail, double tau, int max_len, dxt_segment *seg)
{
    int found = -1;
    seg->log_p = 1.0;
    for (int w = from > 0 ? from : 0; w < W; w++) {
        if (ex[w] != 1 || (w > 0 && ex[w - 1] == 1)) continue; /* a run starts here */
        int last = w;
        while (last + 1 < W && ex[last + 1] == 1) last++;
        if (last - w + 1 > max_len) continue;
        double lp = burst_log_p(z, W, w, last, tail, tau);
        if (lp < seg->log_p) {
            *seg = (dxt_segment){w, last, last - w + 1, last - w + 1, lp, 0};
            found = 0;
        }
    }
    return found;
}

/* Window w's columns in the models of dxt_step_over_bend (t: w centred and
 * scaled to the run): a line, then either a box on [first, last] (a step)
 * or hinges at first and after last (a bend); the count. */
static int model_columns(int W, int first, int last, int w, int bend, double *col)
{
    double scale = W > 1 ? W - 1.0 : 1.0, t = (w - 0.5 * (W - 1)) / scale;
    col[0] = 1.0, col[1] = t;
    if (!bend) {
        col[2] = w >= first && w <= last;
        return 3;
    }
    col[2] = w >= first ? (w - first + 0.5) / scale : 0.0;
    col[3] = w > last ? (w - last - 0.5) / scale : 0.0;
    return 4;
}

/* Model_columns of window w that a fit of x can use: a bend's hinge at first
 * only with judged windows before it (an episode from the run's start is a
 * step down or a bend after last), its hinge after last only with some
 * after it; into col, their count. */
static int used_columns(int W, int first, int last, int w, int bend, int start, int end,
                        double *col)
{
    double all[4];
    int n = model_columns(W, first, last, w, bend, all), k = 0;
    for (int r = 0; r < n; r++)
        if (!bend || ((r != 2 || start < first) && (r != 3 || end > last))) col[k++] = all[r];
    return k;
}

/* Residual sum of squares of x's judged windows fitted by least squares on
 * a model's columns (used_columns); *params the columns used. NAN when they
 * are dependent. */
static double model_rss(const double *x, int W, int first, int last, int bend, int *params)
{
    double a[16] = {0}, b[4] = {0}, col[4];
    int k = 0, start = -1, end = -1;
    for (int w = 0; w < W; w++)
        if (!isnan(x[w])) start = start < 0 ? w : start, end = w;
    for (int w = 0; w < W; w++) {
        if (isnan(x[w])) continue;
        k = used_columns(W, first, last, w, bend, start, end, col);
        for (int r = 0; r < k; r++) {
            b[r] += col[r] * x[w];
            for (int q = 0; q < k; q++) a[r * k + q] += col[r] * col[q];
        }
    }
    if (k == 0 || dxt_solve_small(a, b, k)) return NAN;
    *params = k;
    double rss = 0.0;
    for (int w = 0; w < W; w++) {
        if (isnan(x[w])) continue;
        used_columns(W, first, last, w, bend, start, end, col);
        double fit = 0.0;
        for (int r = 0; r < k; r++) fit += b[r] * col[r];
        rss += (x[w] - fit) * (x[w] - fit);
    }
    return rss;
}

/* x without its spikes, into out: each judged window clamped to within
 * SPIKE_SCALES of scale of the median of the 5 judged windows around it (a
 * warm-up window or a spike would pull a line; a step's edge and a drift
 * keep their values, their neighbours' median follows them). */
static void despike(const double *x, int W, double scale, double *out)
{
    for (int w = 0; w < W; w++) {
        out[w] = x[w];
        if (isnan(x[w])) continue;
        double near[5];
        size_t m = 0;
        near[m++] = x[w];
        for (int d = w - 1, got = 0; d >= 0 && got < 2; d--)
            if (!isnan(x[d])) near[m++] = x[d], got++;
        for (int d = w + 1, got = 0; d < W && got < 2; d++)
            if (!isnan(x[d])) near[m++] = x[d], got++;
        double mid = dxt_median_inplace(near, m), lim = SPIKE_SCALES * scale;
        out[w] = x[w] > mid + lim ? mid + lim : x[w] < mid - lim ? mid - lim : x[w];
    }
}

double dxt_step_over_bend(const double *x, int W, int first, int last, double scale,
                          double *work)
{
    int k_step = 0, k_bend = 0;
    if (!(scale > 0.0)) return NAN;
    despike(x, W, scale, work);
    double step = model_rss(work, W, first, last, 0, &k_step);
    double bend = model_rss(work, W, first, last, 1, &k_bend);
    if (isnan(step) || isnan(bend)) return NAN;
    return (bend - step) / (scale * scale) + 2.0 * (k_bend - k_step);
}
