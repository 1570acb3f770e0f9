/*
 * version.c - runtime version and build information.
 */
#include "common/core.h"

#include <stdio.h>
#include <string.h>

#include "common/blas.h"
#include "common/simd.h"

CTR_API uint32_t ctr_version_number(void)
{
    return (uint32_t)CTR_VERSION_NUMBER;
}

CTR_API const char *ctr_version_string(void)
{
    return CTR_VERSION_STRING;
}

/* Appends text to buf[*len..cap) with snprintf semantics, tracking the
 * full length in *len even when it no longer fits. */
static void append(char *buf, size_t cap, size_t *len, const char *text)
{
    size_t n = strlen(text);
    if (*len < cap) {
        size_t room = cap - *len - 1;
        size_t k = n < room ? n : room;
        memcpy(buf + *len, text, k);
        buf[*len + k] = '\0';
    }
    *len += n;
}

CTR_API int ctr_build_info(char *buf, size_t cap, size_t *needed)
{
    char blas[256], numbers[96];
    size_t len = 0;

    if (buf == NULL && cap > 0)
        return CTR_E_INVALID_ARG;
    if (cap > 0)
        buf[0] = '\0';
    ctr__blas_describe(blas, sizeof(blas));
    snprintf(numbers, sizeof(numbers), "); blas_threads=%d; cpu_simd=",
             ctr__blas_threads());

    append(buf, cap, &len, "libcontrastive " CTR_VERSION_STRING "; blas=");
    append(buf, cap, &len, ctr__blas_name());
    append(buf, cap, &len, " (");
    append(buf, cap, &len, blas);
    append(buf, cap, &len, numbers);
    append(buf, cap, &len, ctr__simd_cpu_level());
    append(buf, cap, &len, "; kernels=");
    append(buf, cap, &len, ctr__simd_kernels());
#if defined(CTR_OPENMP)
    append(buf, cap, &len, "; threads=openmp");
#else
    append(buf, cap, &len, "; threads=caller+blas");
#endif
    if (needed != NULL)
        *needed = len;
    return CTR_OK;
}
