/* classify_stats.c - robust statistics of the classifier: median by
 * quickselect (no sort in the inner loops) and the scaled MAD.
 * Owner: the classifier engineer (A1). */
#include <math.h>

#include "classify_internal.h"

/* Move the non-NAN values to the front; returns how many there are. */
static size_t compact(double *x, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i])) x[k++] = x[i];
    return k;
}

/* The k-th smallest of x[0..n) (Hoare's selection, median-of-three pivot). */
static double select_kth(double *x, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        double a = x[lo], b = x[mid], c = x[hi];
        double pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        size_t i = lo, j = hi;
        while (i <= j) {
            while (x[i] < pivot) i++;
            while (x[j] > pivot) j--;
            if (i <= j) {
                double t = x[i];
                x[i] = x[j];
                x[j] = t;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return x[k];
    }
    return x[k];
}

double dxt_median_inplace(double *x, size_t n)
{
    size_t m = compact(x, n);
    if (m == 0) return NAN;
    double upper = select_kth(x, m, m / 2);
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
