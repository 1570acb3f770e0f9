/*
 * parallel.c - whole-array passes split over the OpenMP build's threads
 * (parallel.h): a finite check, a copy and a zero fill by blocks of
 * CTR__PARALLEL_BLOCK floats. Each block is independent, so the results
 * are those of the serial pass at any thread count; without OpenMP (or
 * below CTR__PARALLEL_MIN floats) they run on the calling thread.
 */
#include "common/parallel.h"

#include <string.h>

#include "common/kernels.h"

int ctr__par_all_finite(const float *x, int64_t n)
{
    int64_t b, blocks = ctr__par_block_count(n);
    int bad = 0;
#if defined(CTR_OPENMP)
#pragma omp parallel for schedule(static) reduction(|| : bad) if (n >= CTR__PARALLEL_MIN)
#endif
    for (b = 0; b < blocks; b++)
        bad = bad || !ctr__vfinite(x + b * CTR__PARALLEL_BLOCK, ctr__par_block_len(b, n));
    return !bad;
}

int ctr__par_check_finite(ctr__error *e, const float *x, size_t n, const char *what)
{
    if (n <= (size_t)INT64_MAX && ctr__par_all_finite(x, (int64_t)n))
        return CTR_OK;
    return ctr__check_finite(e, x, n, what); /* the first bad value's message */
}

void ctr__par_copy(float *dst, const float *src, int64_t n)
{
    int64_t b, blocks = ctr__par_block_count(n);
    CTR__PARALLEL_FOR(2 * n)
    for (b = 0; b < blocks; b++)
        memcpy(dst + b * CTR__PARALLEL_BLOCK, src + b * CTR__PARALLEL_BLOCK,
               (size_t)ctr__par_block_len(b, n) * sizeof(float));
}

void ctr__par_zero(float *x, int64_t n)
{
    int64_t b, blocks = ctr__par_block_count(n);
    CTR__PARALLEL_FOR(n)
    for (b = 0; b < blocks; b++)
        memset(x + b * CTR__PARALLEL_BLOCK, 0,
               (size_t)ctr__par_block_len(b, n) * sizeof(float));
}

int ctr__par_check_copy(ctr__error *e, float *dst, const float *src, int64_t n,
                        const char *what)
{
    int64_t blocks = ctr__par_block_count(n);
    int bad = 0;
    CTR__PARALLEL_REGION(2 * n)
    {
        int64_t b, lo, hi;
        int mine = 0;
        ctr__par_share(blocks, &lo, &hi);
        for (b = lo; b < hi && !mine; b++)
            mine = !ctr__vfinite(src + b * CTR__PARALLEL_BLOCK, ctr__par_block_len(b, n));
        if (mine) {
            CTR__ATOMIC_WRITE
            bad = 1;
        }
        CTR__BARRIER
        for (b = lo; b < hi && !bad; b++)
            memcpy(dst + b * CTR__PARALLEL_BLOCK, src + b * CTR__PARALLEL_BLOCK,
                   (size_t)ctr__par_block_len(b, n) * sizeof(float));
    }
    return bad ? ctr__check_finite(e, src, (size_t)n, what) : CTR_OK;
}
