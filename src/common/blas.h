/*
 * blas.h - the one place that includes the BLAS backend's cblas.h and
 * knows which backend it is (the Makefile defines CTR_BLAS_OPENBLAS or
 * CTR_BLAS_BLIS).
 */
#ifndef CTR_BLAS_H
#define CTR_BLAS_H

#include <stddef.h>

#include <cblas.h>

/* The backend's name, e.g. "openblas". */
const char *ctr__blas_name(void);
/* Writes the backend's own version/configuration text into buf (snprintf
 * semantics); returns the full length. */
size_t ctr__blas_describe(char *buf, size_t cap);
/* The backend's current thread count (read, never changed). */
int ctr__blas_threads(void);

/* Row-major C (m x n, leading dimension ldc) = alpha op(A) op(B) + gamma X
 * for X (m x n, ldx), or alpha op(A) op(B) when X is NULL: cblas_sgemm with
 * beta = 0 and an axpy after. On OpenBLAS C is instead filled with gamma X
 * (or zeros) first and the GEMM accumulates into it (beta = 1), because
 * OpenBLAS 0.3's own beta = 0 pass over C costs more than that fill (about
 * 10 us of a 70 us 256 x 256 x 128 GEMM at two threads, docs/performance.md);
 * BLIS folds beta = 0 into its micro-kernel, so there the plain call wins. */
void ctr__sgemm_plus(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb,
                     int m, int n, int k, float alpha, const float *a,
                     int lda, const float *b, int ldb, float gamma,
                     const float *x, int ldx, float *c, int ldc);

/* Row-major C = alpha A A^T (n x n; A is n x k, leading dimension lda) in
 * the upper triangle of C only (cblas_ssyrk): every product a_i . a_j is
 * computed once, so the result is symmetric by construction, and half of
 * sgemm's work. The lower triangle is not touched. OpenBLAS gets the
 * fill-then-accumulate treatment of ctr__sgemm_plus. */
void ctr__ssyrk_upper(int n, int k, float alpha, const float *a, int lda,
                      float *c, int ldc);

/* Row-major C (m x n, ldc) = alpha S B for S symmetric m x m given by its
 * upper triangle (lds; the lower one is not read) and B m x n (ldb):
 * cblas_ssymm, the work of one sgemm. */
void ctr__ssymm_upper(int m, int n, float alpha, const float *s, int lds,
                      const float *b, int ldb, float *c, int ldc);

#endif /* CTR_BLAS_H */
