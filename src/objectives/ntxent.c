/*
 * ntxent.c - the NTXENT kind, NT-Xent (SimCLR): 2B views, each against the
 * 2B-2 others, self similarity masked, mean over both directions. The
 * logits are one GEMM, the gradient one GEMM per view: since S = Z Z^T is
 * symmetric, the transposed half of dS + dS^T is built row by row without
 * a transpose.
 */
#include <math.h>
#include <string.h>

#include "common/blas.h"
#include "common/kernels.h"
#include "objectives/inbatch.h"

static const int32_t PARAMS[] = {CTR_OBJECTIVE_P_TEMPERATURE,
                                 CTR_OBJECTIVE_P_NORMALIZE, 0};

/* SimCLR's setting: cosine similarity, tau 0.5. */
static void ntxent_defaults(ctr_objective *obj)
{
    obj->temperature = 0.5;
    obj->normalize = 1;
}

static int ntxent_workspace(const ctr_objective *obj, size_t *bytes,
                            int64_t b, int64_t d, int64_t k)
{
    size_t n = 0;
    int rc = ctr__obj_ws_add(&n, 2 * b * d);
    (void)obj;
    (void)k;
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, 2 * b);     /* inverse norms */
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, 4 * b);     /* 2b int64 group labels */
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, 2 * b);     /* log-sum-exp per row */
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, 2 * b);     /* positives per row */
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, 2 * b);     /* exp(L0 - lse) per row */
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, 4 * b);     /* exp sums (double) */
    if (rc == CTR_OK && b > INT64_MAX / b / 4)
        rc = CTR_E_OVERFLOW;
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, 4 * b * b); /* logits */
    if (rc == CTR_OK)
        *bytes = n;
    return rc;
}

static int ntxent_check(ctr_objective *obj, void *args, ctr__obj_dims *dims)
{
    const ctr__pair_args *a = (const ctr__pair_args *)args; /* z1, z2 */
    int rc = ctr__obj_check_sizes(obj, a->b, a->d);
    if (rc == CTR_OK && a->b > 23170) /* (2b)^2 must fit an int for BLAS */
        rc = ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                       "b must be <= 23170 (got %lld)", (long long)a->b);
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, a->a, a->b, a->d, a->lda, "z1");
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, a->p, a->b, a->d, a->ldp, "z2");
    dims->b = a->b;
    dims->d = a->d;
    return rc;
}

/* Pass 1 over row r of S: statistics, the row's log-sum-exp over c != r,
 * its number of positives, and exp(S_rc - max_r) in place of S_rc. */
static double row_lse(float *row, int64_t r, int64_t n, int64_t b,
                      const int64_t *labels, ctr__ce_acc *acc, float *np_out,
                      double *sum_out)
{
    double pos_sum = 0.0, row_sum = ctr__vsum(row, n) - row[r], lse;
    float pos_max = -INFINITY, neg_max = -INFINITY, m, keep;
    int64_t np = 0, c, pj = (r + b) % n;
    row[r] = -INFINITY;
    if (labels != NULL) {
        for (c = 0; c < n; c++) {
            if (c == r)
                continue;
            if (labels[c] == labels[r]) {
                pos_sum += row[c];
                np++;
                pos_max = row[c] > pos_max ? row[c] : pos_max;
            } else {
                neg_max = row[c] > neg_max ? row[c] : neg_max;
            }
        }
    } else {
        pos_sum = pos_max = keep = row[pj];
        np = 1;
        row[pj] = -INFINITY;
        neg_max = ctr__vmax(row, n);
        row[pj] = keep;
    }
    m = pos_max > neg_max ? pos_max : neg_max;
    *sum_out = ctr__vexp_shift_sum(row, n, m);
    lse = m + log(*sum_out);
    acc->loss += lse - pos_sum / (double)np;
    acc->correct += pos_max > neg_max;
    acc->pos_sum += pos_sum;
    acc->pos_cnt += (double)np;
    acc->neg_sum += row_sum - pos_sum;
    acc->neg_cnt += (double)(n - 1 - np);
    *np_out = (float)np;
    return lse;
}

/* Pass 2: row r of M = dS + dS^T. S is symmetric, so column r of the
 * softmax of S^T is exp(S_rc - lse_c): no transpose is formed. The
 * targets are symmetric too (same group, same count of positives). */
static void subtract_targets(float *row, int64_t r, int64_t n, int64_t b,
                             const int64_t *labels, float y)
{
    int64_t c;
    if (labels == NULL) {
        row[(r + b) % n] -= y;
        return;
    }
    for (c = 0; c < n; c++)
        if (c != r && labels[c] == labels[r])
            row[c] -= y;
}

/* Largest spread of the row log-sum-exps for which the one-exp form below
 * stays exact in float (factors up to e^60, terms it flushes < e^-27). */
#define LSE_SPREAD_MAX 60.0f

/* The row holds e_rc = exp(S_rc - max_r) = P_rc * sum_r. Then
 * exp(S_rc - lse_r) + exp(S_rc - lse_c) = P_rc (1 + exp(lse_r - lse_c))
 * = e_rc / sum_r * (1 + v_c / v_r) with v = exp(L0 - lse): one multiply
 * per entry instead of two more exps. */
static void grad_rows_fast(float *s, int64_t n, int64_t b,
                           const int64_t *labels, const float *lse,
                           const double *sum, const float *np, float *v,
                           float scale)
{
    float l0 = -INFINITY;
    int64_t r;
    for (r = 0; r < n; r++)
        l0 = lse[r] > l0 ? lse[r] : l0;
    for (r = 0; r < n; r++)
        v[r] = (float)exp((double)l0 - lse[r]);
    for (r = 0; r < n; r++) {
        float *row = s + r * n;
        double alpha = scale / sum[r];
        ctr__vmul_affine(row, v, (float)alpha, (float)(alpha / v[r]), n);
        subtract_targets(row, r, n, b, labels, 2.0f * scale / np[r]);
    }
}

/* Exact for any spread: S is recomputed and both exps are taken. */
static void grad_rows_slow(float *s, const float *z, int64_t n, int64_t d,
                           int64_t b, const int64_t *labels, const float *lse,
                           const float *np, float inv_tau, float scale)
{
    int64_t r;
    ctr__sgemm_plus(CblasNoTrans, CblasTrans, (int)n, (int)n, (int)d, inv_tau,
                    z, (int)d, z, (int)d, 0.0f, NULL, 0, s, (int)n);
    for (r = 0; r < n; r++) {
        float *row = s + r * n;
        row[r] = -INFINITY;
        ctr__vexp_pair(row, row, lse, lse[r], scale, n);
        subtract_targets(row, r, n, b, labels, 2.0f * scale / np[r]);
    }
}

static int ntxent_run(ctr_objective *obj, const void *args,
                      ctr__obj_stats *st)
{
    const ctr__pair_args *a = (const ctr__pair_args *)args;
    const float *z1 = a->a, *z2 = a->p;
    const int64_t ld1 = a->lda, ld2 = a->ldp, b = a->b, d = a->d;
    const int64_t *groups = a->groups;
    float *g1 = a->grad_a, *g2 = a->grad_p;
    const int64_t n = 2 * b;
    const float inv_tau = (float)(1.0 / obj->temperature);
    const float scale = 1.0f / (float)n;
    ctr__carve c = {(char *)obj->ws, 0};
    float *z = ctr__carve_floats(&c, (size_t)(n * d));
    float *inv = ctr__carve_floats(&c, (size_t)n);
    int64_t *labels = (int64_t *)(void *)ctr__carve_floats(&c, (size_t)n * 2);
    float *lse = ctr__carve_floats(&c, (size_t)n);
    float *np = ctr__carve_floats(&c, (size_t)n);
    float *v = ctr__carve_floats(&c, (size_t)n);
    double *sum = (double *)(void *)ctr__carve_floats(&c, (size_t)(2 * n));
    float *s = ctr__carve_floats(&c, (size_t)(n * n));
    float lo = INFINITY, hi = -INFINITY;
    const int64_t *lab = groups != NULL ? labels : NULL;
    ctr__ce_acc acc;
    int64_t i;
    if (obj->normalize) {
        ctr__normalize_rows(z, z1, b, d, ld1, 1.0f, inv);
        ctr__normalize_rows(z + b * d, z2, b, d, ld2, 1.0f, inv + b);
    } else {
        ctr__copy_scaled(z, z1, b, d, ld1, 1.0f);
        ctr__copy_scaled(z + b * d, z2, b, d, ld2, 1.0f);
    }
    if (groups != NULL)
        for (i = 0; i < n; i++)
            labels[i] = groups[i % b];
    ctr__sgemm_plus(CblasNoTrans, CblasTrans, (int)n, (int)n, (int)d, inv_tau,
                    z, (int)d, z, (int)d, 0.0f, NULL, 0, s, (int)n);
    memset(&acc, 0, sizeof(acc));
    for (i = 0; i < n; i++) {
        lse[i] = (float)row_lse(s + i * n, i, n, b, lab, &acc, &np[i],
                                &sum[i]);
        lo = lse[i] < lo ? lse[i] : lo;
        hi = lse[i] > hi ? lse[i] : hi;
    }
    /* finite inputs give a non-finite loss only through overflowing
     * logits (+inf in a row makes its softmax NaN) */
    if (!isfinite(acc.loss))
        return ctr__fail(&obj->err, CTR_E_NUMERIC,
                         "logits overflow float (inputs too large for tau)");
    if (hi - lo <= LSE_SPREAD_MAX)
        grad_rows_fast(s, n, b, lab, lse, sum, np, v, scale);
    else
        grad_rows_slow(s, z, n, d, b, lab, lse, np, inv_tau, scale);
    if (g1 != NULL) {
        ctr__sgemm_plus(CblasNoTrans, CblasNoTrans, (int)b, (int)d, (int)n,
                        inv_tau, s, (int)n, z, (int)d, 0.0f, NULL, 0, g1,
                        (int)d);
        if (obj->normalize)
            ctr__normalize_backward(g1, z, d, 1.0f, inv, b, d);
    }
    if (g2 != NULL) {
        ctr__sgemm_plus(CblasNoTrans, CblasNoTrans, (int)b, (int)d, (int)n,
                        inv_tau, s + b * n, (int)n, z, (int)d, 0.0f, NULL, 0,
                        g2, (int)d);
        if (obj->normalize)
            ctr__normalize_backward(g2, z + b * d, d, 1.0f, inv + b, b, d);
    }
    st->loss = acc.loss / (double)n;
    st->accuracy = acc.correct / (double)n;
    st->pos_sim = acc.pos_sum / acc.pos_cnt * obj->temperature;
    st->neg_sim = acc.neg_cnt > 0 ? acc.neg_sum / acc.neg_cnt * obj->temperature
                                  : 0.0;
    st->chance_loss = log((double)(n - 1));
    return CTR_OK;
}

/* Listed in registry.c. */
const ctr__obj_kind ctr__obj_ntxent = {
    .id = CTR_OBJECTIVE_NTXENT,
    .name = "NTXENT",
    .params = PARAMS,
    .defaults = ntxent_defaults,
    .check = ntxent_check,
    .workspace = ntxent_workspace,
    .run = ntxent_run,
};

CTR_API int ctr_objective_ntxent(ctr_objective *obj, double *loss,
                                 const float *z1, int64_t ld1,
                                 const float *z2, int64_t ld2, int64_t b,
                                 int64_t d, const int64_t *groups,
                                 float *grad_z1, float *grad_z2)
{
    ctr__pair_args args = {z1, z2, ld1, ld2, b, d, groups, grad_z1, grad_z2};
    return ctr__obj_call(obj, &ctr__obj_ntxent, "ctr_objective_ntxent",
                         &args, loss);
}
