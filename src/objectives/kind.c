/*
 * kind.c - what every objective kind shares (kind.h): the compute-call
 * driver, the argument checks and the workspace carving. Knows no kind.
 */
#include "objectives/kind.h"

#include <string.h>

#include "common/kernels.h"

/* Ensures the workspace holds `bytes` (grows it; CTR_E_NOMEM leaves the
 * old one). */
static int reserve(ctr_objective *obj, size_t bytes)
{
    void *p;
    if (bytes <= obj->ws_bytes)
        return CTR_OK;
    p = ctr__malloc(&obj->alloc, bytes);
    if (p == NULL)
        return ctr__fail(&obj->err, CTR_E_NOMEM,
                         "cannot allocate %zu bytes of workspace", bytes);
    ctr__free(&obj->alloc, obj->ws, obj->ws_bytes);
    obj->ws = p;
    obj->ws_bytes = bytes;
    return CTR_OK;
}

/* Checks the operands and reserves the workspace they need. */
static int prepare(ctr_objective *obj, const ctr__obj_kind *kind, void *args)
{
    ctr__obj_dims dims = {0, 0, 0};
    size_t bytes = 0;
    int rc = kind->check(obj, args, &dims);
    if (rc != CTR_OK)
        return rc;
    if (kind->workspace(obj, &bytes, dims.b, dims.d, dims.k) != CTR_OK)
        return ctr__fail(&obj->err, CTR_E_OVERFLOW, "workspace size overflows");
    return reserve(obj, bytes);
}

int ctr__obj_call(ctr_objective *obj, const ctr__obj_kind *kind,
                  const char *call, void *args, double *loss)
{
    ctr__obj_stats st;
    int rc;
    if (obj == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&obj->err);
    if (obj->kind != kind)
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                         "%s needs an objective of kind %s (this one is %s)",
                         call, kind->name, obj->kind->name);
    memset(&st, 0, sizeof(st));
    rc = prepare(obj, kind, args);
    if (rc == CTR_OK)
        rc = kind->run(obj, args, &st);
    if (rc != CTR_OK)
        return rc;
    obj->stats = st;
    obj->has_stats = 1;
    obj->calls++;
    if (loss != NULL)
        *loss = st.loss;
    return CTR_OK;
}

/* ---- argument checks ------------------------------------------------------- */

int ctr__obj_check_sizes(ctr_objective *obj, int64_t b, int64_t d)
{
    return ctr__obj_check_sizes_into(&obj->err, b, d);
}

int ctr__obj_check_sizes_into(ctr__error *err, int64_t b, int64_t d)
{
    size_t bytes;
    int rc = ctr__check_positive(err, b, "b");
    if (rc == CTR_OK)
        rc = ctr__check_positive(err, d, "d");
    if (rc == CTR_OK && (ctr__matrix_bytes(&bytes, b, d, sizeof(float) * 4) ||
                         b > INT32_MAX || d > INT32_MAX))
        rc = ctr__fail(err, CTR_E_OVERFLOW,
                       "b x d = %lld x %lld is too large", (long long)b,
                       (long long)d);
    return rc;
}

int ctr__obj_check_matrix(ctr_objective *obj, const float *x, int64_t rows,
                          int64_t cols, int64_t ld, const char *what)
{
    size_t bytes;
    int rc = ctr__check_ptr(&obj->err, x, what);
    if (rc != CTR_OK)
        return rc;
    if (ld < cols)
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                         "leading dimension of %s (%lld) is < %lld", what,
                         (long long)ld, (long long)cols);
    if (ctr__matrix_bytes(&bytes, rows, ld, sizeof(float)) != CTR_OK ||
        ld > INT32_MAX) /* BLAS takes int dimensions */
        return ctr__fail(&obj->err, CTR_E_OVERFLOW, "%s is too large", what);
    if (!ctr__all_finite(x, rows, cols, ld))
        return ctr__check_finite_matrix(&obj->err, x, rows, cols, ld, what);
    return CTR_OK;
}

int ctr__obj_check_keys(ctr_objective *obj, const float *keys, int64_t n,
                        int64_t d, int64_t ld, const char *what)
{
    size_t bytes;
    if (n == 0)
        return CTR_OK;
    if (keys == NULL)
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG, "%s is NULL", what);
    if (ld < d)
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                         "leading dimension of %s (%lld) is < %lld", what,
                         (long long)ld, (long long)d);
    if (ctr__matrix_bytes(&bytes, n, ld, sizeof(float)) != CTR_OK ||
        n > INT32_MAX || ld > INT32_MAX) /* BLAS takes int dimensions */
        return ctr__fail(&obj->err, CTR_E_OVERFLOW, "%s is too large", what);
    return CTR_OK;
}

int ctr__obj_check_indices(ctr_objective *obj, const int64_t *idx,
                           int64_t count, int64_t n, const char *what)
{
    int64_t i;
    int rc = ctr__check_ptr(&obj->err, idx, what);
    for (i = 0; rc == CTR_OK && i < count; i++)
        if (idx[i] < 0 || idx[i] >= n)
            rc = ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                           "%s[%lld] = %lld is outside [0, %lld)", what,
                           (long long)i, (long long)idx[i], (long long)n);
    return rc;
}

/* ---- workspace ---------------------------------------------------------------- */

float *ctr__carve_floats(ctr__carve *c, size_t n)
{
    float *p = (float *)(void *)(c->base + c->used);
    c->used += (n * sizeof(float) + 63) / 64 * 64;
    return p;
}

int ctr__obj_ws_add(size_t *total, int64_t n_floats)
{
    size_t bytes;
    if (ctr__matrix_bytes(&bytes, n_floats, 1, sizeof(float)) != CTR_OK ||
        ctr__add_size(&bytes, bytes, 63) != CTR_OK)
        return CTR_E_OVERFLOW;
    return ctr__add_size(total, *total, bytes / 64 * 64);
}
