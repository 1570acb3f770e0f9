/*
 * cpc.c - the CPC kind (CTR_OBJECTIVE_CPC): the multi-step log-bilinear
 * critic of CPC, CPC v2 and Greedy InfoMax. This file checks the
 * operands, plans the workspace and holds the table and the public calls;
 * the math is in cpc_run.c and cpc_scores.c.
 *
 * The kind's workspace depends on more than the (b, d, k) of the generic
 * interface, so its check computes the exact byte count and hands it to
 * the driver as dims {floats, 1, -1}: the table's workspace function
 * reads k < 0 (which the public query never passes) as "b floats, already
 * planned", and otherwise answers the generic query as the header says.
 */
#include "common/kernels.h"
#include "objectives/cpc.h"

#include <string.h>

static const int32_t PARAMS[] = {CTR_OBJECTIVE_P_TEMPERATURE, 0};

static void cpc_defaults(ctr_objective *obj)
{
    obj->temperature = 1.0;
}

/* *total += an x by y block of floats, overflow-checked. */
static int add_block(size_t *total, int64_t x, int64_t y)
{
    size_t bytes;
    if (ctr__matrix_bytes(&bytes, x, y, 2 * sizeof(float)) != CTR_OK)
        return CTR_E_OVERFLOW;
    return ctr__obj_ws_add(total, x * y);
}

int ctr__cpc_workspace(size_t *bytes, int64_t b, int64_t t, int64_t d,
                       int64_t dc, int64_t steps, int32_t negatives,
                       int64_t n_neg, const ctr__cpc_needs *nd)
{
    size_t n = 0;
    const int64_t rows = b * t; /* checked by the caller */
    int rc = add_block(&n, steps, 2); /* per-step accuracies (doubles) */
    if (rc == CTR_OK)
        rc = add_block(&n, rows, d); /* zt */
    if (rc == CTR_OK)
        rc = add_block(&n, rows, dc); /* ct */
    if (rc == CTR_OK)
        rc = add_block(&n, rows, d); /* p */
    if (rc == CTR_OK && nd->dz)
        rc = add_block(&n, rows, d);
    if (rc == CTR_OK && nd->dc)
        rc = add_block(&n, rows, dc);
    if (rc == CTR_OK && nd->dw)
        rc = add_block(&n, steps * d, dc);
    if (rc == CTR_OK && nd->db)
        rc = add_block(&n, steps, d);
    if (rc == CTR_OK && negatives == CTR_CPC_NEG_BATCH)
        rc = add_block(&n, b, b);
    else if (rc == CTR_OK && negatives == CTR_CPC_NEG_ALL)
        rc = add_block(&n, ctr__cpc_all_rows(rows), rows);
    else if (rc == CTR_OK) {
        rc = add_block(&n, n_neg + 1, 1);
        if (rc == CTR_OK)
            rc = add_block(&n, d, 1);
        if (rc == CTR_OK)
            rc = add_block(&n, 2 * rows, n_neg);
    }
    if (rc == CTR_OK)
        *bytes = n;
    return rc;
}

/* Sizes, steps and policy (shared by the call and the size query). */
static int check_shapes(ctr__error *e, int64_t b, int64_t t, int64_t d,
                        int64_t dc, int64_t steps, int32_t negatives,
                        int64_t n_neg)
{
    size_t bytes;
    int rc = ctr__check_positive(e, b, "b");
    if (rc == CTR_OK)
        rc = ctr__check_positive(e, d, "d");
    if (rc == CTR_OK)
        rc = ctr__check_positive(e, dc, "dc");
    if (rc == CTR_OK && t < 2)
        rc = ctr__fail(e, CTR_E_INVALID_ARG,
                       "t must be >= 2 (got %lld): nothing to predict",
                       (long long)t);
    if (rc == CTR_OK && (steps < 1 || steps > t - 1))
        rc = ctr__fail(e, CTR_E_INVALID_ARG,
                       "steps must be in [1, t - 1] = [1, %lld] (got %lld); "
                       "pass min(K, t - 1) to clip", (long long)(t - 1),
                       (long long)steps);
    if (rc == CTR_OK && negatives != CTR_CPC_NEG_BATCH &&
        negatives != CTR_CPC_NEG_SAMPLED && negatives != CTR_CPC_NEG_ALL)
        rc = ctr__fail(e, CTR_E_INVALID_ARG, "unknown negative policy %d",
                       (int)negatives);
    if (rc == CTR_OK && negatives == CTR_CPC_NEG_SAMPLED && n_neg < 1)
        rc = ctr__fail(e, CTR_E_INVALID_ARG,
                       "n_neg must be >= 1 for sampled negatives (got %lld)",
                       (long long)n_neg);
    if (rc == CTR_OK &&
        (ctr__matrix_bytes(&bytes, b, t, sizeof(float)) != CTR_OK ||
         b * t > INT32_MAX || d > INT32_MAX || dc > INT32_MAX ||
         steps > INT32_MAX / d ||
         ctr__matrix_bytes(&bytes, steps * d, dc, sizeof(float)) != CTR_OK ||
         (negatives == CTR_CPC_NEG_SAMPLED && n_neg > INT32_MAX)))
        rc = ctr__fail(e, CTR_E_OVERFLOW, "shapes are too large");
    return rc;
}

/* A b x t view of rows of len floats: pointer, strides, size, finite. */
static int check_view(ctr_objective *obj, const float *x, int64_t ss,
                      int64_t ts, int64_t b, int64_t t, int64_t len,
                      const char *what)
{
    size_t span, tmp;
    int64_t s;
    int rc = ctr__check_ptr(&obj->err, x, what);
    if (rc != CTR_OK)
        return rc;
    if (ss < len || ts < len)
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                         "strides of %s (%lld, %lld) must be >= its row "
                         "length %lld", what, (long long)ss, (long long)ts,
                         (long long)len);
    if (ctr__mul_size(&span, (size_t)(b - 1), (size_t)ss) != CTR_OK ||
        ctr__mul_size(&tmp, (size_t)(t - 1), (size_t)ts) != CTR_OK ||
        ctr__add_size(&span, span, tmp) != CTR_OK ||
        ctr__add_size(&span, span, (size_t)len) != CTR_OK ||
        ctr__mul_size(&span, span, sizeof(float)) != CTR_OK ||
        span > (size_t)INT64_MAX)
        return ctr__fail(&obj->err, CTR_E_OVERFLOW, "%s is too large", what);
    for (s = 0; s < b; s++)
        if (!ctr__all_finite(x + s * ss, t, len, ts))
            return ctr__check_finite_matrix(&obj->err, x + s * ss, t, len,
                                            ts, what);
    return CTR_OK;
}

/* The caller's sampled indices of every anchor: in [0, b * t). */
static int check_neg_idx(ctr_objective *obj, const ctr__cpc_args *a)
{
    const int64_t n = a->b * a->t;
    int64_t k, s, u, j;
    for (k = 1; k <= a->steps; k++)
        for (s = 0; s < a->b; s++)
            for (u = 0; u + k < a->t; u++) {
                const int64_t at = (((k - 1) * a->b + s) * a->t + u) * a->n_neg;
                for (j = 0; j < a->n_neg; j++)
                    if (a->neg_idx[at + j] < 0 || a->neg_idx[at + j] >= n)
                        return ctr__fail(
                            &obj->err, CTR_E_INVALID_ARG,
                            "neg_idx[%lld] = %lld is outside [0, %lld)",
                            (long long)(at + j),
                            (long long)a->neg_idx[at + j], (long long)n);
            }
    return CTR_OK;
}

static int check_operands(ctr_objective *obj, const ctr__cpc_args *a)
{
    int rc = check_view(obj, a->z, a->zs, a->zt, a->b, a->t, a->d, "z");
    if (rc == CTR_OK)
        rc = check_view(obj, a->c, a->cs, a->ct, a->b, a->t, a->dc, "c");
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, a->w, a->steps * a->d, a->dc, a->dc,
                                   "w");
    if (rc == CTR_OK && a->bias != NULL)
        rc = ctr__obj_check_matrix(obj, a->bias, a->steps, a->d, a->d,
                                   "bias");
    if (rc == CTR_OK && a->grad_bias != NULL && a->bias == NULL)
        rc = ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                       "grad_bias given without bias");
    if (rc == CTR_OK && a->negatives == CTR_CPC_NEG_SAMPLED) {
        if (a->neg_idx != NULL)
            rc = check_neg_idx(obj, a);
        else if (a->rng == NULL)
            rc = ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                           "sampled negatives need rng or neg_idx");
    }
    return rc;
}

static int cpc_check(ctr_objective *obj, void *args, ctr__obj_dims *dims)
{
    ctr__cpc_args *a = (ctr__cpc_args *)args;
    ctr__cpc_needs nd = {a->grad_z != NULL, a->grad_c != NULL,
                         a->grad_w != NULL, a->grad_bias != NULL};
    int rc = check_shapes(&obj->err, a->b, a->t, a->d, a->dc, a->steps,
                          a->negatives, a->n_neg);
    if (rc == CTR_OK)
        rc = check_operands(obj, a);
    if (rc == CTR_OK &&
        ctr__cpc_workspace(&a->ws_bytes, a->b, a->t, a->d, a->dc, a->steps,
                           a->negatives, a->n_neg, &nd) != CTR_OK)
        rc = ctr__fail(&obj->err, CTR_E_OVERFLOW, "workspace size overflows");
    dims->b = (int64_t)(a->ws_bytes / sizeof(float));
    dims->d = 1;
    dims->k = -1;
    return rc;
}

/* The table's workspace: k < 0 comes from cpc_check (b floats, planned);
 * k >= 0 is the generic query of the header. */
static int cpc_workspace(const ctr_objective *obj, size_t *bytes, int64_t b,
                         int64_t d, int64_t k)
{
    const ctr__cpc_needs all = {1, 1, 1, 1};
    const int64_t t = k < 2 ? 2 : k;
    (void)obj;
    if (k < 0)
        return ctr__matrix_bytes(bytes, b, d, sizeof(float));
    if (b > INT32_MAX / t || d > INT32_MAX / t)
        return CTR_E_OVERFLOW;
    return ctr__cpc_workspace(bytes, b, t, d, d, t - 1, CTR_CPC_NEG_BATCH, 0,
                              &all);
}

static int cpc_run(ctr_objective *obj, const void *args, ctr__obj_stats *st)
{
    return ctr__cpc_run(obj, (const ctr__cpc_args *)args, st);
}

/* Listed in registry.c. */
const ctr__obj_kind ctr__obj_cpc = {
    .id = CTR_OBJECTIVE_CPC,
    .name = "CPC",
    .params = PARAMS,
    .defaults = cpc_defaults,
    .check = cpc_check,
    .workspace = cpc_workspace,
    .run = cpc_run,
};

/* The sizes of ctr_cpc_args this library reads: 0.1.0's only. */
static int known_size(uint32_t size)
{
    return size == (uint32_t)sizeof(ctr_cpc_args);
}

/* A stride of 0 is the contiguous default `dflt`. */
static int64_t stride_or(int64_t stride, int64_t dflt)
{
    return stride == 0 ? dflt : stride;
}

/* The caller's struct into the internal arguments (defaults applied). */
static int unpack(ctr_objective *obj, const ctr_cpc_args *in, ctr__cpc_args *a)
{
    if (in == NULL)
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG, "args is NULL");
    if (!known_size(in->struct_size))
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                         "args->struct_size is %lu, not a size of ctr_cpc_args "
                         "this library knows (%lu; ctr_cpc_args_init sets it)",
                         (unsigned long)in->struct_size,
                         (unsigned long)sizeof(ctr_cpc_args));
    a->z = in->z, a->c = in->c;
    a->zs = stride_or(in->z_seq_stride, in->t * in->d);
    a->zt = stride_or(in->z_time_stride, in->d);
    a->cs = stride_or(in->c_seq_stride, in->t * in->dc);
    a->ct = stride_or(in->c_time_stride, in->dc);
    a->b = in->b, a->t = in->t, a->d = in->d, a->dc = in->dc;
    a->steps = in->steps, a->w = in->w, a->bias = in->bias;
    a->negatives = in->negatives == 0 ? CTR_CPC_NEG_BATCH : in->negatives;
    a->n_neg = in->n_neg, a->rng = in->rng, a->neg_idx = in->neg_idx;
    a->grad_z = in->grad_z, a->grad_c = in->grad_c, a->grad_w = in->grad_w;
    a->grad_bias = in->grad_bias, a->step_acc = in->step_acc, a->ws_bytes = 0;
    return CTR_OK;
}

CTR_API int ctr_objective_cpc(ctr_objective *obj, const ctr_cpc_args *args,
                              double *loss)
{
    ctr__cpc_args a;
    int rc;
    if (obj == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&obj->err);
    rc = unpack(obj, args, &a);
    if (rc != CTR_OK)
        return rc;
    return ctr__obj_call(obj, &ctr__obj_cpc, "ctr_objective_cpc", &a, loss);
}

CTR_API int ctr_cpc_args_init(ctr_cpc_args *a)
{
    if (a == NULL)
        return CTR_E_INVALID_ARG;
    memset(a, 0, sizeof(*a));
    a->struct_size = (uint32_t)sizeof(ctr_cpc_args);
    return CTR_OK;
}

CTR_API size_t ctr_cpc_args_struct_size(void)
{
    return sizeof(ctr_cpc_args);
}

CTR_API int ctr_objective_cpc_workspace_size(const ctr_objective *obj,
                                             size_t *bytes, int64_t b,
                                             int64_t t, int64_t d, int64_t dc,
                                             int64_t steps, int32_t negatives,
                                             int64_t n_neg)
{
    const ctr__cpc_needs all = {1, 1, 1, 1};
    ctr__error e = CTR__ERROR_INIT;
    size_t n = 0;
    int rc;
    if (obj == NULL)
        return CTR_E_INVALID_ARG;
    if (bytes == NULL)
        return ctr__const_fail(&obj->err, CTR_E_INVALID_ARG, "bytes is NULL");
    if (obj->kind != &ctr__obj_cpc)
        return ctr__const_fail(&obj->err, CTR_E_INVALID_ARG,
                               "ctr_objective_cpc_workspace_size needs an objective "
                               "of kind CPC (this one is %s)", obj->kind->name);
    if (negatives == 0)
        negatives = CTR_CPC_NEG_BATCH;
    rc = check_shapes(&e, b, t, d, dc, steps, negatives, n_neg);
    if (rc == CTR_OK && ctr__cpc_workspace(&n, b, t, d, dc, steps, negatives,
                                           n_neg, &all) != CTR_OK)
        rc = ctr__fail(&e, CTR_E_OVERFLOW, "workspace size overflows");
    if (rc == CTR_OK)
        *bytes = n;
    return ctr__const_result(&obj->err, rc, &e);
}
