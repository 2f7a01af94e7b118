/* SPDX-License-Identifier: MIT */
/*
 * bench.h - what the benchmarks of bench/ share: the clock, medians of
 * rounds, and how a ratio is printed.
 */
#ifndef SHMTAB_BENCH_H
#define SHMTAB_BENCH_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BENCH_MAX_SAMPLES 64	/* rounds (or runs) a median is taken of */

/* Seconds on the monotonic clock. */
static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* qsort's order of doubles. */
static inline int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of the values of v[0..n) that are not NaN (n at most
 * BENCH_MAX_SAMPLES), and when lo is set their least and greatest in *lo
 * and *hi; NaN when there is none. */
static inline double median(const double *v, int n, double *lo, double *hi)
{
	double s[BENCH_MAX_SAMPLES];
	int m = 0;

	for (int i = 0; i < n && i < BENCH_MAX_SAMPLES; i++)
		if (!isnan(v[i]))
			s[m++] = v[i];
	if (lo)
		*lo = *hi = NAN;
	if (!m)
		return NAN;
	qsort(s, (size_t)m, sizeof(double), cmpd);
	if (lo) {
		*lo = s[0];
		*hi = s[m - 1];
	}
	return m % 2 ? s[m / 2] : (s[m / 2 - 1] + s[m / 2]) / 2;
}

/* A ratio with two decimals, "-" for NaN; b. */
static inline const char *fmt_ratio(char *b, size_t sz, double v)
{
	if (isnan(v))
		snprintf(b, sz, "-");
	else
		snprintf(b, sz, "%.2f", v);
	return b;
}

#endif
