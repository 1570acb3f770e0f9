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

#define CTR__PARALLEL_MIN 32768

#if defined(CTR_OPENMP)
#define CTR__PRAGMA(x) _Pragma(#x)
#define CTR__PARALLEL_FOR(work) \
    CTR__PRAGMA(omp parallel for schedule(static) if ((work) >= CTR__PARALLEL_MIN))
#else
#define CTR__PARALLEL_FOR(work)
#endif

/* Elementwise loops run in blocks of this many floats, one block per
 * iteration. */
#define CTR__PARALLEL_BLOCK ((int64_t)16384)

#endif
