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
 * finite, else 0. An exponent of all ones (NaN, Inf) carries into bit 31
 * when one is added to it. The inner loop has a constant trip count so
 * that compilers vectorise it at -O2 (gcc's cheap cost model refuses
 * loops that need an epilogue). */
static inline int ctr__rows_finite(const float *x, int64_t rows, int64_t cols,
                                   int64_t ld)
{
    enum { CHUNK = 16 };
    int64_t r, c;
    int u;
    for (r = 0; r < rows; r++) {
        const float *row = x + r * ld;
        uint32_t bad = 0;
        for (c = 0; c + CHUNK <= cols; c += CHUNK) {
            uint32_t w[CHUNK];
            memcpy(w, row + c, sizeof(w));
            for (u = 0; u < CHUNK; u++)
                bad |= (w[u] & 0x7f800000u) + 0x00800000u;
        }
        for (; c < cols; c++) {
            uint32_t w;
            memcpy(&w, row + c, sizeof(w));
            bad |= (w & 0x7f800000u) + 0x00800000u;
        }
        if (bad & 0x80000000u)
            return 0;
    }
    return 1;
}

#endif /* CTR_FINITE_H */
