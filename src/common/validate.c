/*
 * validate.c - argument checks shared by every object: NULL pointers,
 * sizes, and NaN/Inf scans.
 */
#include "common/core.h"

#include <math.h>
#include <string.h>

/* 1 if every x[0..n) is finite. Tests exponent bits with integer
 * operations that compilers vectorise at -O2: an exponent of all ones
 * (NaN, Inf) carries into bit 31 when one is added to it. The inner loop
 * has a constant trip count because gcc's cheap cost model refuses loops
 * that need an epilogue. */
static int all_finite(const float *x, size_t n)
{
    enum { CHUNK = 16 };
    uint32_t bad = 0;
    size_t i = 0;
    int u;
    for (; i + CHUNK <= n; i += CHUNK) {
        for (u = 0; u < CHUNK; u++) {
            uint32_t w;
            memcpy(&w, x + i + u, sizeof(w));
            bad |= (w & 0x7f800000u) + 0x00800000u;
        }
    }
    for (; i < n; i++) {
        uint32_t w;
        memcpy(&w, x + i, sizeof(w));
        bad |= (w & 0x7f800000u) + 0x00800000u;
    }
    return (bad & 0x80000000u) == 0;
}

/* ---- validation ----------------------------------------------------------- */

int ctr__check_finite(ctr__error *e, const float *x, size_t n,
                      const char *what)
{
    size_t i;
    if (all_finite(x, n))
        return CTR_OK;
    for (i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return ctr__fail(e, CTR_E_NUMERIC, "%s[%zu] is %s", what, i,
                             isnan(x[i]) ? "NaN" : "Inf");
    }
    return CTR_OK;
}

int ctr__check_view(ctr__error *e, int64_t rows, int64_t ld, const char *what)
{
    size_t bytes;
    if (ctr__matrix_bytes(&bytes, rows, ld, sizeof(float)) != CTR_OK)
        return ctr__fail(e, CTR_E_OVERFLOW,
                         "%s: %lld rows with leading dimension %lld overflow",
                         what, (long long)rows, (long long)ld);
    return CTR_OK;
}

int ctr__check_finite_matrix(ctr__error *e, const float *x, int64_t rows,
                             int64_t cols, int64_t ld, const char *what)
{
    int64_t r, c;
    int rc = ctr__check_view(e, rows, ld, what);
    if (rc != CTR_OK)
        return rc;
    for (r = 0; r < rows; r++) {
        const float *row = x + r * ld;
        if (all_finite(row, (size_t)cols))
            continue;
        for (c = 0; c < cols; c++) {
            if (!isfinite(row[c]))
                return ctr__fail(e, CTR_E_NUMERIC, "%s[%lld][%lld] is %s",
                                 what, (long long)r, (long long)c,
                                 isnan(row[c]) ? "NaN" : "Inf");
        }
    }
    return CTR_OK;
}

int ctr__check_ptr(ctr__error *e, const void *p, const char *what)
{
    if (p == NULL)
        return ctr__fail(e, CTR_E_INVALID_ARG, "%s is NULL", what);
    return CTR_OK;
}

int ctr__check_positive(ctr__error *e, int64_t v, const char *what)
{
    if (v < 1)
        return ctr__fail(e, CTR_E_INVALID_ARG, "%s must be >= 1 (got %lld)",
                         what, (long long)v);
    return CTR_OK;
}

int ctr__check_nonnegative(ctr__error *e, int64_t v, const char *what)
{
    if (v < 0)
        return ctr__fail(e, CTR_E_INVALID_ARG, "%s must be >= 0 (got %lld)",
                         what, (long long)v);
    return CTR_OK;
}
