/*
 * blas.c - what the library reports about its BLAS backend. Reads the
 * backend's settings; never changes them (the host owns BLAS threads).
 */
#include "common/blas.h"

#include <stdio.h>
#include <string.h>

#include "common/kernels.h"

#if defined(CTR_BLAS_BLIS)
#include <blis.h>

const char *ctr__blas_name(void) { return "blis"; }

size_t ctr__blas_describe(char *buf, size_t cap)
{
    const char *model = bli_info_get_enable_openmp()     ? "openmp"
                        : bli_info_get_enable_pthreads() ? "pthreads"
                                                         : "serial";
    int n = snprintf(buf, cap, "BLIS %s, %s", bli_info_get_version_str(),
                     model);
    return n < 0 ? 0 : (size_t)n;
}

int ctr__blas_threads(void) { return (int)bli_thread_get_num_threads(); }

#elif defined(CTR_BLAS_OPENBLAS)

const char *ctr__blas_name(void) { return "openblas"; }

size_t ctr__blas_describe(char *buf, size_t cap)
{
    static const char *const models[] = {"serial", "pthreads", "openmp"};
    int parallel = openblas_get_parallel();
    int n = snprintf(buf, cap, "%s, core %s, %s", openblas_get_config(),
                     openblas_get_corename(),
                     parallel >= 0 && parallel <= 2 ? models[parallel]
                                                    : "unknown threading");
    return n < 0 ? 0 : (size_t)n;
}

int ctr__blas_threads(void) { return openblas_get_num_threads(); }

#endif

#if defined(CTR_BLAS_OPENBLAS)
#  define FILL_THEN_ACCUMULATE 1
#else
#  define FILL_THEN_ACCUMULATE 0
#endif

void ctr__sgemm_plus(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb,
                     int m, int n, int k, float alpha, const float *a,
                     int lda, const float *b, int ldb, float gamma,
                     const float *x, int ldx, float *c, int ldc)
{
    int r;
    if (FILL_THEN_ACCUMULATE) {
        for (r = 0; r < m; r++) {
            float *cr = c + (size_t)r * (size_t)ldc;
            if (x != NULL)
                ctr__vcopy_scaled(cr, x + (size_t)r * (size_t)ldx, gamma, n);
            else
                memset(cr, 0, (size_t)n * sizeof(float));
        }
    }
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb,
                FILL_THEN_ACCUMULATE ? 1.0f : 0.0f, c, ldc);
    if (!FILL_THEN_ACCUMULATE && x != NULL)
        for (r = 0; r < m; r++)
            ctr__vaxpy(c + (size_t)r * (size_t)ldc,
                       x + (size_t)r * (size_t)ldx, gamma, n);
}

void ctr__ssyrk_upper(int n, int k, float alpha, const float *a, int lda,
                      float *c, int ldc)
{
    int r;
    if (FILL_THEN_ACCUMULATE)
        for (r = 0; r < n; r++)
            memset(c + (size_t)r * (size_t)ldc + r, 0,
                   (size_t)(n - r) * sizeof(float));
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, k, alpha, a, lda,
                FILL_THEN_ACCUMULATE ? 1.0f : 0.0f, c, ldc);
}

void ctr__ssymm_upper(int m, int n, float alpha, const float *s, int lds,
                      const float *b, int ldb, float *c, int ldc)
{
    int r;
    if (FILL_THEN_ACCUMULATE)
        for (r = 0; r < m; r++)
            memset(c + (size_t)r * (size_t)ldc, 0, (size_t)n * sizeof(float));
    cblas_ssymm(CblasRowMajor, CblasLeft, CblasUpper, m, n, alpha, s, lds, b,
                ldb, FILL_THEN_ACCUMULATE ? 1.0f : 0.0f, c, ldc);
}

#if !defined(CTR_BLAS_BLIS) && !defined(CTR_BLAS_OPENBLAS)
#error "define CTR_BLAS_OPENBLAS or CTR_BLAS_BLIS (the Makefile does)"
#endif
