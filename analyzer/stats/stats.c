/* stats.c - the robust statistics every part of dxt-analyze uses (the
 * classifier, the report's summary, the plots' color scale): k-th smallest by
 * quickselect (no sort in inner loops), median, scaled MAD. */
#include <math.h>

#include "stats.h"

/* Move the non-NAN values to the front; returns how many there are. */
static size_t compact(double *x, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i])) x[k++] = x[i];
    return k;
}

static inline void swap(double *x, size_t a, size_t b)
{
    double t = x[a];
    x[a] = x[b];
    x[b] = t;
}

/* The k-th smallest of x[0..n), n >= 1 (quickselect with a median-of-three
 * pivot that also guards both scans, as in Numerical Recipes' select). */
double dxt_select_kth(double *x, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    for (;;) {
        if (hi <= lo + 1) {
            if (hi == lo + 1 && x[hi] < x[lo]) swap(x, lo, hi);
            return x[k];
        }
        size_t mid = lo + (hi - lo) / 2;
        swap(x, mid, lo + 1);
        if (x[lo] > x[hi]) swap(x, lo, hi);
        if (x[lo + 1] > x[hi]) swap(x, lo + 1, hi);
        if (x[lo] > x[lo + 1]) swap(x, lo, lo + 1);
        size_t i = lo + 1, j = hi;
        double pivot = x[lo + 1];
        for (;;) {
            do i++; while (x[i] < pivot);
            do j--; while (x[j] > pivot);
            if (j < i) break;
            swap(x, i, j);
        }
        x[lo + 1] = x[j];
        x[j] = pivot;
        if (j >= k) hi = j - 1;
        if (j <= k) lo = i;
    }
}

double dxt_median_inplace(double *x, size_t n)
{
    size_t m = compact(x, n);
    if (m == 0) return NAN;
    double upper = dxt_select_kth(x, m, m / 2);
    if (m % 2) return upper;
    /* the lower middle is the largest of the left part */
    double lower = x[0];
    for (size_t i = 1; i < m / 2; i++)
        if (x[i] > lower) lower = x[i];
    return 0.5 * (lower + upper);
}

double dxt_mad_inplace(double *x, size_t n, double center)
{
    for (size_t i = 0; i < n; i++) x[i] = fabs(x[i] - center);
    return 1.4826 * dxt_median_inplace(x, n);
}

double dxt_iqr_sigma_inplace(double *x, size_t n)
{
    double low = dxt_select_kth(x, n, n / 4);
    return (dxt_select_kth(x, n, 3 * n / 4) - low) / 1.349;
}

int dxt_solve_small(double *a, double *b, int k)
{
    for (int c = 0; c < k; c++) {
        int p = c;
        for (int r = c + 1; r < k; r++)
            if (fabs(a[r * k + c]) > fabs(a[p * k + c])) p = r;
        if (!(fabs(a[p * k + c]) > 1e-12)) return -1;
        for (int q = 0; q < k; q++) {
            double tmp = a[c * k + q];
            a[c * k + q] = a[p * k + q], a[p * k + q] = tmp;
        }
        double tmp = b[c];
        b[c] = b[p], b[p] = tmp;
        for (int r = c + 1; r < k; r++) {
            double f = a[r * k + c] / a[c * k + c];
            for (int q = c; q < k; q++) a[r * k + q] -= f * a[c * k + q];
            b[r] -= f * b[c];
        }
    }
    for (int c = k - 1; c >= 0; c--) {
        for (int q = c + 1; q < k; q++) b[c] -= a[c * k + q] * b[q];
        b[c] /= a[c * k + c];
    }
    return 0;
}
