/*
 * vec.h - loops that gcc -O2 vectorises.
 *
 * gcc 12 at -O2 uses the "very cheap" vectoriser cost model, which only
 * vectorises a loop whose trip count is a known multiple of the vector
 * width. CTR__VEC_FOR runs a statement over [0, n) as blocks of a constant
 * CTR__VEC_BLOCK iterations (vectorised) plus a scalar tail; the statement
 * must treat iterations as independent and its pointers should be restrict
 * locals. clang vectorises either form.
 */
#ifndef CTR_VEC_H
#define CTR_VEC_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

#define CTR__VEC_BLOCK 16

#define CTR__VEC_FOR(i, n, stmt)                                              \
    do {                                                                      \
        int64_t vb_, vj_;                                                     \
        for (vb_ = 0; vb_ + CTR__VEC_BLOCK <= (n); vb_ += CTR__VEC_BLOCK)     \
            for (vj_ = 0; vj_ < CTR__VEC_BLOCK; vj_++) {                      \
                (i) = vb_ + vj_;                                              \
                stmt;                                                         \
            }                                                                 \
        for ((i) = vb_; (i) < (n); (i)++) {                                   \
            stmt;                                                             \
        }                                                                     \
    } while (0)

/* 1 if every x[0..n) is finite: x - x is 0 for finite values and NaN for
 * NaN and Inf, summed in independent lanes so that the loop vectorises. */
static inline int ctr__all_finite(const float *x, size_t n)
{
    float lane[CTR__VEC_BLOCK] = {0};
    size_t b, j;
    for (b = 0; b + CTR__VEC_BLOCK <= n; b += CTR__VEC_BLOCK)
        for (j = 0; j < CTR__VEC_BLOCK; j++)
            lane[j] += x[b + j] - x[b + j];
    for (j = 0; b + j < n; j++)
        lane[j] += x[b + j] - x[b + j];
    for (j = 0; j < CTR__VEC_BLOCK; j++)
        if (lane[j] != 0.0f)
            return 0;
    return 1;
}

/* ctr__check_finite with a vectorised fast path for the common case. */
static inline int ctr__check_finite_fast(ctr__error *e, const float *x, size_t n,
                                         const char *what)
{
    return ctr__all_finite(x, n) ? CTR_OK : ctr__check_finite(e, x, n, what);
}

#endif /* CTR_VEC_H */
