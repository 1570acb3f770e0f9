/*
 * finite.c - the fast NaN/Inf pre-scan of hot calls (finite.h).
 */
#include "finite.h"

#include <string.h>

int ctr__rows_finite(const float *x, int64_t rows, int64_t cols, int64_t ld)
{
    enum { CHUNK = 16 };
    int64_t r, c;
    int u;
    for (r = 0; r < rows; r++) {
        const float *row = x + r * ld;
        uint32_t bad = 0;
        for (c = 0; c + CHUNK <= cols; c += CHUNK) {
            for (u = 0; u < CHUNK; u++) {
                uint32_t w;
                memcpy(&w, row + c + u, sizeof(w));
                bad |= (w & 0x7f800000u) + 0x00800000u;
            }
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
