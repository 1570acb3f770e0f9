/*
 * validate.c - argument checks shared by every object: NULL pointers,
 * sizes, and NaN/Inf scans.
 */
#include "core.h"

#include <math.h>

/* ---- validation ----------------------------------------------------------- */

int ctr__check_finite(ctr__error *e, const float *x, size_t n,
                      const char *what)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return ctr__fail(e, CTR_E_NUMERIC, "%s[%zu] is %s", what, i,
                             isnan(x[i]) ? "NaN" : "Inf");
    }
    return CTR_OK;
}

int ctr__check_finite_matrix(ctr__error *e, const float *x, int64_t rows,
                             int64_t cols, int64_t ld, const char *what)
{
    int64_t r, c;
    for (r = 0; r < rows; r++) {
        const float *row = x + r * ld;
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
