/*
 * finite.h - a fast NaN/Inf pre-scan for hot calls (queue enqueue, bank
 * update, kNN inputs). It tests exponent bits with integer operations that
 * compilers vectorise at -O2: an exponent of all ones (NaN, Inf) carries
 * into bit 31 when one is added to it. The inner loop has a constant trip
 * count because gcc's cheap cost model refuses loops that need an
 * epilogue. Only when the scan finds a bad value does the caller run
 * ctr__check_finite_matrix for the message naming the element.
 */
#ifndef CTR_FINITE_H
#define CTR_FINITE_H

#include <stdint.h>

/* 1 if every element of the rows x cols view (leading dimension ld) is
 * finite, else 0. */
int ctr__rows_finite(const float *x, int64_t rows, int64_t cols, int64_t ld);

#endif /* CTR_FINITE_H */
