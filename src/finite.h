/*
 * finite.h - a fast NaN/Inf pre-scan for hot calls (queue enqueue, bank
 * update). It tests exponent bits with integer operations that compilers
 * vectorise at -O2; only when it finds a bad value does the caller run
 * ctr__check_finite_matrix for the message naming the element.
 */
#ifndef CTR_FINITE_H
#define CTR_FINITE_H

#include <stdint.h>
#include <string.h>

/* 1 if every element of the rows x cols view (leading dimension ld) is
 * finite, else 0. */
static inline int ctr__rows_finite(const float *x, int64_t rows, int64_t cols,
                                   int64_t ld)
{
    int64_t r, c;
    for (r = 0; r < rows; r++) {
        const float *row = x + r * ld;
        uint32_t bad = 0;
        for (c = 0; c < cols; c++) {
            uint32_t u;
            memcpy(&u, &row[c], sizeof(u));
            /* exponent all ones (NaN, Inf) carries into bit 31 */
            bad |= (u & 0x7f800000u) + 0x00800000u;
        }
        if (bad & 0x80000000u)
            return 0;
    }
    return 1;
}

#endif /* CTR_FINITE_H */
