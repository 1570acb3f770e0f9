/*
 * blas.c - what the library reports about its BLAS backend. Reads the
 * backend's settings; never changes them (the host owns BLAS threads).
 */
#include "blas.h"

#include <stdio.h>

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

#else
#error "define CTR_BLAS_OPENBLAS or CTR_BLAS_BLIS (the Makefile does)"
#endif
