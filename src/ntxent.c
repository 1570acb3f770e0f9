/*
 * ntxent.c - NT-Xent (SimCLR): 2B views, each against the 2B-2 others,
 * self similarity masked, mean over both directions. The logits are one
 * GEMM, the gradient one GEMM per view: since S = Z Z^T is symmetric, the
 * transposed half of dS + dS^T is built row by row without a transpose.
 */
#include <math.h>
#include <string.h>

#include "blas.h"
#include "objective_internal.h"
#include "objective_math.h"

int ctr__ntxent_ws(const ctr_objective *obj, size_t *bytes, int64_t b,
                   int64_t d)
{
    size_t n = 0;
    int rc = ctr__obj_ws_add(&n, 2 * b * d);
    (void)obj;
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, 2 * b);     /* inverse norms */
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, 4 * b);     /* 2b int64 group labels */
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, 2 * b);     /* log-sum-exp per row */
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, 2 * b);     /* positives per row */
    if (rc == CTR_OK && b > INT64_MAX / b / 4)
        rc = CTR_E_OVERFLOW;
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, 4 * b * b); /* logits */
    if (rc == CTR_OK)
        *bytes = n;
    return rc;
}

static int ntxent_check(ctr_objective *obj, const float *z1, int64_t ld1,
                        const float *z2, int64_t ld2, int64_t b, int64_t d)
{
    size_t bytes;
    int rc = ctr__obj_check_sizes(obj, b, d);
    if (rc == CTR_OK && b > 23170) /* (2b)^2 must fit an int for BLAS */
        rc = ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                       "b must be <= 23170 (got %lld)", (long long)b);
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, z1, b, d, ld1, "z1");
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, z2, b, d, ld2, "z2");
    if (rc == CTR_OK && ctr__ntxent_ws(obj, &bytes, b, d) != CTR_OK)
        rc = ctr__fail(&obj->err, CTR_E_OVERFLOW, "workspace size overflows");
    if (rc == CTR_OK)
        rc = ctr__obj_reserve(obj, bytes);
    return rc;
}

/* Pass 1 over row r of S: statistics, the row's log-sum-exp over c != r,
 * and its number of positives. S is left as it was, but for S_rr = -inf. */
static double row_lse(float *row, int64_t r, int64_t n, int64_t b,
                      const int64_t *labels, ctr__ce_acc *acc, float *np_out)
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
    lse = m + log(ctr__vexp_sum(row, n, m));
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
static void row_grad(float *row, int64_t r, int64_t n, int64_t b,
                     const int64_t *labels, const float *lse, float np,
                     float scale)
{
    const float y = 2.0f * scale / np;
    int64_t c;
    ctr__vexp_pair(row, row, lse, lse[r], scale, n);
    if (labels == NULL) {
        row[(r + b) % n] -= y;
        return;
    }
    for (c = 0; c < n; c++)
        if (c != r && labels[c] == labels[r])
            row[c] -= y;
}

static int ntxent_run(ctr_objective *obj, const float *z1, int64_t ld1,
                      const float *z2, int64_t ld2, int64_t b, int64_t d,
                      const int64_t *groups, float *g1, float *g2,
                      ctr__obj_stats *st)
{
    const int64_t n = 2 * b;
    const float inv_tau = (float)(1.0 / obj->temperature);
    const float scale = 1.0f / (float)n;
    ctr__carve c = {(char *)obj->ws, 0};
    float *z = ctr__carve_floats(&c, (size_t)(n * d));
    float *inv = ctr__carve_floats(&c, (size_t)n);
    int64_t *labels = (int64_t *)(void *)ctr__carve_floats(&c, (size_t)n * 2);
    float *lse = ctr__carve_floats(&c, (size_t)n);
    float *np = ctr__carve_floats(&c, (size_t)n);
    float *s = ctr__carve_floats(&c, (size_t)(n * n));
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
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n,
                (int)d, inv_tau, z, (int)d, z, (int)d, 0.0f, s, (int)n);
    if (!ctr__all_finite(s, n, n, n))
        return ctr__fail(&obj->err, CTR_E_NUMERIC,
                         "logits overflow float (inputs too large for tau)");
    memset(&acc, 0, sizeof(acc));
    for (i = 0; i < n; i++)
        lse[i] = (float)row_lse(s + i * n, i, n, b, lab, &acc, &np[i]);
    for (i = 0; i < n; i++)
        row_grad(s + i * n, i, n, b, lab, lse, np[i], scale);
    if (g1 != NULL) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)b, (int)d,
                    (int)n, inv_tau, s, (int)n, z, (int)d, 0.0f, g1, (int)d);
        if (obj->normalize)
            ctr__normalize_backward(g1, z, d, 1.0f, inv, b, d);
    }
    if (g2 != NULL) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)b, (int)d,
                    (int)n, inv_tau, s + b * n, (int)n, z, (int)d, 0.0f, g2,
                    (int)d);
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

CTR_API int ctr_objective_ntxent(ctr_objective *obj, double *loss,
                                 const float *z1, int64_t ld1,
                                 const float *z2, int64_t ld2, int64_t b,
                                 int64_t d, const int64_t *groups,
                                 float *grad_z1, float *grad_z2)
{
    ctr__obj_stats st;
    int rc;
    if (obj == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__obj_begin(obj, CTR_OBJECTIVE_NTXENT, "ctr_objective_ntxent");
    if (rc == CTR_OK)
        rc = ntxent_check(obj, z1, ld1, z2, ld2, b, d);
    if (rc == CTR_OK)
        rc = ntxent_run(obj, z1, ld1, z2, ld2, b, d, groups, grad_z1, grad_z2,
                        &st);
    if (rc != CTR_OK)
        return rc;
    ctr__obj_publish(obj, &st);
    if (loss != NULL)
        *loss = st.loss;
    return CTR_OK;
}
