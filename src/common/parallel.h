/*
 * parallel.h - the OpenMP build's loop splitting (make OPENMP=1,
 * docs/threading.md).
 *
 * CTR__PARALLEL_FOR(work) placed before a `for` loop splits its iterations
 * into equal contiguous blocks, one per thread of the host's OpenMP pool
 * (schedule(static): the same split at every call for a given thread
 * count), when the build has OpenMP and `work` (about the floats the loop
 * touches) reaches CTR__PARALLEL_MIN; otherwise the loop runs as written.
 * The library never sets the thread count: omp_set_num_threads or
 * OMP_NUM_THREADS of the host decide, and a call made from inside the
 * host's own parallel region runs on its calling thread (nested
 * parallelism is off unless the host turns it on).
 *
 * Every loop split this way writes disjoint outputs per iteration, and
 * each sum is taken within one iteration in the serial order, so results
 * do not depend on the thread count: only BLAS's GEMMs may change their
 * last bits with it. Variables written in the body must be declared in it.
 */
#ifndef CTR_PARALLEL_H
#define CTR_PARALLEL_H

#include "common/core.h"

#define CTR__PARALLEL_MIN 32768

#if defined(CTR_OPENMP)
#define CTR__PRAGMA(x) _Pragma(#x)
#define CTR__PARALLEL_FOR(work) \
    CTR__PRAGMA(omp parallel for schedule(static) if ((work) >= CTR__PARALLEL_MIN))
#else
#define CTR__PARALLEL_FOR(work)
#endif

/* A pass of several loops in one parallel region, so that the threads
 * meet at a barrier between the loops instead of a fork and a join each:
 *
 *     CTR__PARALLEL_REGION(work)
 *     {
 *         first_pass(...);   - each with CTR__FOR before its loop
 *         second_pass(...);
 *     }
 *
 * CTR__FOR before a `for` loop (in the region's block or in a function it
 * calls) splits the loop's iterations as CTR__PARALLEL_FOR does, the same
 * blocks per thread at every call, with a barrier at its end; outside a
 * region, or when the region did not start threads (`work` below
 * CTR__PARALLEL_MIN, or no OpenMP), the loop runs whole on the calling
 * thread. Every thread runs the block's code outside the loops: keep it to
 * local variables. */
#if defined(CTR_OPENMP)
#define CTR__PARALLEL_REGION(work) CTR__PRAGMA(omp parallel if ((work) >= CTR__PARALLEL_MIN))
#define CTR__FOR CTR__PRAGMA(omp for schedule(static))
#else
#define CTR__PARALLEL_REGION(work)
#define CTR__FOR
#endif

/* The calling thread's share [*lo, *hi) of n iterations in a parallel
 * region: contiguous, in thread order; the whole range outside a region
 * or without OpenMP. CTR__BARRIER ends a loop split this way;
 * CTR__ATOMIC_WRITE goes before a store to a shared flag. */
#if defined(CTR_OPENMP)
#include <omp.h>
#define CTR__BARRIER CTR__PRAGMA(omp barrier)
#define CTR__ATOMIC_WRITE CTR__PRAGMA(omp atomic write)
#else
#define CTR__BARRIER
#define CTR__ATOMIC_WRITE
#endif

static inline void ctr__par_share(int64_t n, int64_t *lo, int64_t *hi)
{
    int64_t t = 0, nt = 1, q, r;
#if defined(CTR_OPENMP)
    t = omp_get_thread_num();
    nt = omp_get_num_threads();
#endif
    q = n / nt;
    r = n % nt;
    *lo = t * q + (t < r ? t : r);
    *hi = *lo + q + (t < r);
}

/* Elementwise loops run in blocks of this many floats, one block per
 * iteration. */
#define CTR__PARALLEL_BLOCK ((int64_t)16384)

/* How many blocks n floats make, and the length of block b (the last may
 * be short). */
static inline int64_t ctr__par_block_count(int64_t n)
{
    return (n + CTR__PARALLEL_BLOCK - 1) / CTR__PARALLEL_BLOCK;
}

static inline int64_t ctr__par_block_len(int64_t b, int64_t n)
{
    int64_t left = n - b * CTR__PARALLEL_BLOCK;
    return left < CTR__PARALLEL_BLOCK ? left : CTR__PARALLEL_BLOCK;
}

/* Whole-array passes by blocks of CTR__PARALLEL_BLOCK floats over the
 * threads (parallel.c), the same result as the serial pass at any thread
 * count. ctr__par_all_finite: 1 when no value is Inf or NaN.
 * ctr__par_check_finite: ctr__check_finite (core.h) with the check split
 * (the message of a failure is the serial check's). ctr__par_copy,
 * ctr__par_zero: memcpy and memset of n floats. */
int ctr__par_all_finite(const float *x, int64_t n);
/* ctr__par_check_copy: dst = src (n floats) when every value is finite,
 * else nothing written and ctr__check_finite's message; the check and the
 * copy in one region, each thread copying the blocks it checked. */
int ctr__par_check_copy(ctr__error *e, float *dst, const float *src, int64_t n,
                        const char *what);
int ctr__par_check_finite(ctr__error *e, const float *x, size_t n, const char *what);
void ctr__par_copy(float *dst, const float *src, int64_t n);
void ctr__par_zero(float *x, int64_t n);

#endif
