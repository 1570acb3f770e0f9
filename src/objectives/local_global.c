/*
 * local_global.c - the local-global kind (CTR_OBJECTIVE_LOCAL_GLOBAL):
 * DIM / AMDIM's global vectors against feature-map positions. This file
 * checks the operands, plans the workspace and holds the table and the
 * public calls; the math is in local_global_run.c.
 *
 * As the CPC kind does, the check computes the exact byte count and hands
 * it to the driver as dims {floats, 1, -1}; the table's workspace function
 * reads k < 0 as "b floats, planned" and otherwise answers the generic
 * query (k = p, every option and a packed layout: the most a call needs).
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "common/kernels.h"
#include "objectives/local_global.h"

static const int32_t PARAMS[] = {0};

/* The fields a caller's struct must hold: everything up to grad_l. */
#define LG_V1_SIZE \
    (offsetof(ctr_local_global_args, grad_l) + sizeof(float *))

CTR_API int ctr_local_global_args_init(ctr_local_global_args *a)
{
    if (a == NULL)
        return CTR_E_INVALID_ARG;
    memset(a, 0, sizeof(*a));
    a->struct_size = (uint32_t)sizeof(*a);
    a->estimator = CTR_MI_INFONCE;
    a->self_mask = CTR_SELFPAIR_EXCLUDE;
    return CTR_OK;
}

/* *total += an x by y block of floats, overflow-checked. */
static int add_block(size_t *total, int64_t x, int64_t y)
{
    size_t bytes;
    if (ctr__matrix_bytes(&bytes, x, y, 2 * sizeof(float)) != CTR_OK)
        return CTR_E_OVERFLOW;
    return ctr__obj_ws_add(total, x * y);
}

int ctr__lg_workspace(size_t *bytes, int64_t b, int64_t p, int64_t d,
                      int keep_s, int pack, int pack_grad)
{
    size_t n = 0;
    const int64_t rows = b * p; /* checked by the caller */
    int rc = add_block(&n, b, rows);
    if (rc == CTR_OK && keep_s)
        rc = add_block(&n, b, rows);
    if (rc == CTR_OK && pack)
        rc = add_block(&n, rows, d);
    if (rc == CTR_OK && pack_grad)
        rc = add_block(&n, rows, d);
    if (rc == CTR_OK)
        *bytes = n;
    return rc;
}

/* Sizes whose products the call and BLAS (int dimensions) must hold. */
static int check_sizes(ctr__error *e, int64_t b, int64_t p, int64_t d)
{
    size_t bytes;
    int rc = ctr__check_positive(e, b, "b");
    if (rc == CTR_OK)
        rc = ctr__check_positive(e, p, "p");
    if (rc == CTR_OK)
        rc = ctr__check_positive(e, d, "d");
    if (rc == CTR_OK &&
        (b > INT32_MAX / p || d > INT32_MAX ||
         ctr__matrix_bytes(&bytes, b * p, d, 2 * sizeof(float)) != CTR_OK ||
         ctr__matrix_bytes(&bytes, b, b * p, 2 * sizeof(float)) != CTR_OK))
        rc = ctr__fail(e, CTR_E_OVERFLOW,
                       "b x p x d = %lld x %lld x %lld is too large",
                       (long long)b, (long long)p, (long long)d);
    return rc;
}

static int check_options(ctr__error *e, const ctr_local_global_args *a)
{
    if (a->estimator != CTR_MI_INFONCE && a->estimator != CTR_MI_JSD &&
        a->estimator != CTR_MI_DV)
        return ctr__fail(e, CTR_E_INVALID_ARG, "unknown estimator %d",
                         (int)a->estimator);
    if (a->estimator != CTR_MI_INFONCE && a->b < 2)
        return ctr__fail(e, CTR_E_INVALID_ARG,
                         "the JSD and DV estimators need b >= 2 (negatives)");
    if (a->self_mask != CTR_SELFPAIR_EXCLUDE && a->self_mask != CTR_SELFPAIR_DIM)
        return ctr__fail(e, CTR_E_INVALID_ARG, "unknown self_mask %d",
                         (int)a->self_mask);
    if (a->scale_sqrt_d != 0 && a->scale_sqrt_d != 1)
        return ctr__fail(e, CTR_E_INVALID_ARG,
                         "scale_sqrt_d must be 0 or 1 (got %d)",
                         (int)a->scale_sqrt_d);
    if (!(a->clip >= 0.0 && a->clip <= 1e6))
        return ctr__fail(e, CTR_E_INVALID_ARG,
                         "clip must be in [0, 1e6] (got %g)", a->clip);
    if (!(a->penalty >= 0.0 && a->penalty <= 1e6))
        return ctr__fail(e, CTR_E_INVALID_ARG,
                         "penalty must be in [0, 1e6] (got %g)", a->penalty);
    return CTR_OK;
}

/* Strides >= 1, the furthest element addressable, and no two elements of
 * the view at one address (sorted by stride, each stride at least the
 * extent of the dimensions below it). */
static int check_layout(ctr__error *e, const ctr_local_global_args *a)
{
    int64_t ext[3] = {a->b, a->p, a->d};
    int64_t str[3] = {a->l_batch_stride, a->l_pos_stride, a->l_chan_stride};
    int64_t span = 0, t, reach = 1;
    int i, j;
    for (i = 0; i < 3; i++)
        if (str[i] < 1)
            return ctr__fail(e, CTR_E_INVALID_ARG,
                             "strides of l must be >= 1 (got %lld, %lld, "
                             "%lld)", (long long)str[0], (long long)str[1],
                             (long long)str[2]);
    for (i = 0; i < 3; i++)
        if (ctr__mul_count(&t, ext[i] - 1, str[i]) != CTR_OK ||
            ctr__add_count(&span, span, t) != CTR_OK ||
            span > INT64_MAX / (int64_t)sizeof(float) - 1)
            return ctr__fail(e, CTR_E_OVERFLOW, "l is too large");
    for (i = 1; i < 3; i++) /* insertion sort by stride */
        for (j = i; j > 0 && str[j] < str[j - 1]; j--) {
            t = str[j], str[j] = str[j - 1], str[j - 1] = t;
            t = ext[j], ext[j] = ext[j - 1], ext[j - 1] = t;
        }
    for (i = 0; i < 3; i++) {
        if (ext[i] == 1)
            continue;
        if (str[i] < reach)
            return ctr__fail(e, CTR_E_INVALID_ARG,
                             "the strides of l make two of its elements "
                             "share an address");
        reach = str[i] * ext[i]; /* <= span + 1, no overflow */
    }
    return CTR_OK;
}

/* Every element of l finite. */
static int check_l_finite(ctr__error *e, const ctr_local_global_args *a)
{
    int64_t j, q, c;
    for (j = 0; j < a->b; j++)
        for (q = 0; q < a->p; q++) {
            const float *x = a->l + j * a->l_batch_stride + q * a->l_pos_stride;
            if (a->l_chan_stride == 1 && ctr__all_finite(x, 1, a->d, a->d))
                continue;
            for (c = 0; c < a->d; c++)
                if (!isfinite(x[c * a->l_chan_stride]))
                    return ctr__fail(e, CTR_E_NUMERIC, "l[%lld][%lld][%lld] "
                                     "is %s", (long long)j, (long long)q,
                                     (long long)c,
                                     isnan(x[c * a->l_chan_stride]) ? "NaN"
                                                                    : "Inf");
        }
    return CTR_OK;
}

/* l readable in place as a (b p) x d matrix: channels contiguous and the
 * positions of consecutive images one row apart. */
static void plan_layout(ctr__lg_args *a)
{
    const ctr_local_global_args *in = &a->in;
    a->direct = 0;
    a->ldl = in->d;
    if (in->l_chan_stride != 1 && in->d > 1)
        return;
    if (in->p == 1 && in->l_batch_stride >= in->d &&
        in->l_batch_stride <= INT32_MAX)
        a->direct = 1, a->ldl = in->l_batch_stride;
    else if (in->l_pos_stride >= in->d && in->l_pos_stride <= INT32_MAX &&
             (in->b == 1 || in->l_batch_stride == in->p * in->l_pos_stride))
        a->direct = 1, a->ldl = in->l_pos_stride;
}

static int check_operands(ctr_objective *obj, ctr__lg_args *a)
{
    const ctr_local_global_args *in = &a->in;
    int rc = check_sizes(&obj->err, in->b, in->p, in->d);
    if (rc == CTR_OK)
        rc = check_options(&obj->err, in);
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, in->g, in->b, in->d, in->ldg, "g");
    if (rc == CTR_OK)
        rc = ctr__check_ptr(&obj->err, in->l, "l");
    if (rc == CTR_OK)
        rc = check_layout(&obj->err, in);
    if (rc == CTR_OK)
        rc = check_l_finite(&obj->err, in);
    return rc;
}

static int lg_check(ctr_objective *obj, void *args, ctr__obj_dims *dims)
{
    ctr__lg_args *a = (ctr__lg_args *)args;
    int rc = check_operands(obj, a);
    dims->b = 0, dims->d = 1, dims->k = -1;
    if (rc != CTR_OK)
        return rc;
    plan_layout(a);
    a->keep_s = a->in.clip > 0.0 || a->in.penalty > 0.0;
    if (ctr__lg_workspace(&a->ws_bytes, a->in.b, a->in.p, a->in.d, a->keep_s,
                          !a->direct,
                          !a->direct && a->in.grad_l != NULL) != CTR_OK)
        return ctr__fail(&obj->err, CTR_E_OVERFLOW, "workspace size overflows");
    dims->b = (int64_t)(a->ws_bytes / sizeof(float));
    return CTR_OK;
}

/* The table's workspace: k < 0 comes from lg_check (b floats, planned);
 * k >= 0 is the generic query, read as p = max(k, 1) positions. */
static int lg_workspace(const ctr_objective *obj, size_t *bytes, int64_t b,
                        int64_t d, int64_t k)
{
    const int64_t p = k < 1 ? 1 : k;
    (void)obj;
    if (k < 0)
        return ctr__matrix_bytes(bytes, b, d, sizeof(float));
    if (check_sizes(CTR__NO_MESSAGE, b, p, d) != CTR_OK)
        return CTR_E_OVERFLOW;
    return ctr__lg_workspace(bytes, b, p, d, 1, 1, 1);
}

static int lg_run(ctr_objective *obj, const void *args, ctr__obj_stats *st)
{
    return ctr__lg_run(obj, (const ctr__lg_args *)args, st);
}

/* Listed in registry.c. */
const ctr__obj_kind ctr__obj_local_global = {
    .id = CTR_OBJECTIVE_LOCAL_GLOBAL,
    .name = "LOCAL_GLOBAL",
    .params = PARAMS,
    .defaults = NULL,
    .check = lg_check,
    .workspace = lg_workspace,
    .run = lg_run,
};

CTR_API int ctr_objective_local_global(ctr_objective *obj, double *loss,
                                       const ctr_local_global_args *args)
{
    ctr__lg_args a;
    if (obj != NULL && args == NULL) {
        ctr__error_clear(&obj->err);
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG, "args is NULL");
    }
    if (obj != NULL && (args->struct_size < LG_V1_SIZE ||
                        args->struct_size > sizeof(ctr_local_global_args))) {
        ctr__error_clear(&obj->err);
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                         "args->struct_size %u is not a size this library "
                         "knows (%zu): initialise it with "
                         "ctr_local_global_args_init",
                         (unsigned)args->struct_size,
                         sizeof(ctr_local_global_args));
    }
    memset(&a, 0, sizeof(a));
    if (args != NULL)
        memcpy(&a.in, args, args->struct_size);
    return ctr__obj_call(obj, &ctr__obj_local_global,
                         "ctr_objective_local_global", &a, loss);
}
