/*
 * test_util.h - shared helpers for the Check suites: allocators that count
 * and fail on demand, and tolerance checks.
 */
#ifndef CTR_TEST_UTIL_H
#define CTR_TEST_UTIL_H

#include <check.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "contrastive.h"

/* A counting allocator that can be told to fail: the call numbered
 * fail_at (0-based, counted from the last reset) and, when sticky is set,
 * every call after it return NULL. fail_at < 0 never fails. It checks that
 * every free names a live block with its requested size and alignment. */
typedef struct test_alloc_state {
    int64_t calls;       /* alloc calls since reset */
    int64_t live_blocks; /* blocks allocated and not yet freed */
    int64_t live_bytes;
    int64_t peak_bytes;
    int64_t fail_at;
    int sticky;
    int64_t bad_frees;   /* frees with a wrong size or unknown pointer */
} test_alloc_state;

/* Fills *a with the test allocator bound to *s and resets s. */
void test_alloc_setup(ctr_allocator *a, test_alloc_state *s);
/* Resets the counters and sets the failure point. */
void test_alloc_fail_at(test_alloc_state *s, int64_t fail_at, int sticky);

/* Runs `attempt` with the allocator failing at call 0, 1, 2, ... until one
 * attempt succeeds. Every failing attempt must return CTR_E_NOMEM and leave
 * no live block once it has cleaned up; the count of failing attempts is
 * returned (so a test can assert that allocations were really exercised).
 * `attempt` gets the allocator and the caller's context and must free
 * whatever it created before it returns. */
typedef int (*test_attempt_fn)(const ctr_allocator *a, void *ctx);
int64_t test_every_alloc_failure(test_attempt_fn attempt, void *ctx);

/* A malloc'ed rows x ld array of normal draws times scale, from a
 * generator seeded with seed (the same on every platform). */
float *test_randn(uint64_t seed, int64_t rows, int64_t ld, double scale);

/* Appends ResNet's basic block to enc: conv 3x3 (stride) + BN + ReLU, conv
 * 3x3 + BN, the residual from the layer before the block, ReLU. The
 * shortcut is a projection (its batch norm: proj_eps, proj_momentum) when
 * the stride or the channel count changes, the identity otherwise. The
 * block's batch norms use eps 1e-5, momentum 0.1. Returns the first error. */
int test_basic_block(ctr_encoder *enc, int64_t out, int64_t stride, double proj_eps,
                     double proj_momentum);

/* |got - want| <= atol + rtol * |want| */
#define ck_assert_close(got, want, rtol, atol)                               \
    do {                                                                     \
        double g_ = (double)(got), w_ = (double)(want);                      \
        ck_assert_msg(fabs(g_ - w_) <= (atol) + (rtol) * fabs(w_),           \
                      "%s = %.9g, expected %.9g (rtol %g, atol %g)", #got,   \
                      g_, w_, (double)(rtol), (double)(atol));               \
    } while (0)

/* A fresh path under the test's temporary directory (TMPDIR or /tmp),
 * unique per process and call. buf must hold at least 256 bytes. */
const char *test_temp_path(char *buf, size_t cap, const char *name);

/* A fresh directory under the test's temporary directory, and a path in
 * it: dir/<file>. */
typedef struct test_dir {
    char dir[256];
    char path[320];
} test_dir;
void test_dir_setup(test_dir *d, const char *name, const char *file);
/* Removes d->path, then the directory, which must then be empty. */
void test_dir_teardown(test_dir *d);
/* Removes every file in the directory, then the directory. */
void test_dir_remove_all(test_dir *d);

/* The OpenMP build's thread count for the library's passes
 * (omp_set_num_threads; the previous count returned), nothing in the
 * default build (returns 1). */
int test_set_threads(int t);

#endif /* CTR_TEST_UTIL_H */
