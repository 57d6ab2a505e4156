/* stats.h - robust statistics shared by the classifier, the report and the
 * plots (stats.c), and a small linear solve. Every function reorders or
 * overwrites its array. */
#ifndef DXT_STATS_H
#define DXT_STATS_H

#include <stddef.h>

/* The k-th smallest of x[0..n), n >= 1, k < n; no NAN in x. */
double dxt_select_kth(double *x, size_t n, size_t k);

/* Median of the non-NAN values of x[0..n) (the mean of the two middle ones
 * for an even count). NAN when there is none. */
double dxt_median_inplace(double *x, size_t n);

/* 1.4826 x the median absolute deviation of x[0..n) from center (x is
 * overwritten). NAN when there is no value. */
double dxt_mad_inplace(double *x, size_t n, double center);

/* The interquartile range of x[0..n) / 1.349 (the k-th smallest for k = n/4
 * and 3n/4; a normal's sigma), n >= 1, no NAN in x (x is reordered). */
double dxt_iqr_sigma_inplace(double *x, size_t n);

/* Solve a x = b for x, in b: a is k x k, row-major, k <= 4 (a and b are
 * overwritten; Gaussian elimination with partial pivoting). -1 when a is
 * singular. */
int dxt_solve_small(double *a, double *b, int k);

#endif
