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

#endif /* CTR_BLAS_H */
