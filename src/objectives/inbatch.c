/*
 * inbatch.c - the in-batch softmax cross-entropy that INFONCE and NPAIR
 * share (inbatch.h): S = A P^T / tau by one GEMM, the row-wise
 * cross-entropy (optional groups and symmetric loss), and the input
 * gradients by one GEMM each.
 */
#include "objectives/inbatch.h"

#include <math.h>
#include <string.h>

#include "common/blas.h"
#include "common/kernels.h"

/* Sums and maxima of row i's positives (same group as i) and negatives;
 * dcl sets the positives to -inf (out of the softmax). */
static void group_scan(float *row, int64_t n, int64_t label,
                       const int64_t *groups, int dcl, double *pos_sum,
                       int64_t *np, float *pos_max, float *neg_max)
{
    int64_t j;
    for (j = 0; j < n; j++) {
        if (groups[j] == label) {
            *pos_sum += row[j];
            if (dcl)
                row[j] = -INFINITY;
            (*np)++;
            *pos_max = row[j] > *pos_max ? row[j] : *pos_max;
        } else {
            *neg_max = row[j] > *neg_max ? row[j] : *neg_max;
        }
    }
}

/* Max and sum of a row's entries other than column pos, in one pass: a
 * copy of a neighbour stands in the positive's place meanwhile. */
static float negatives_max_sum(float *row, int64_t n, int64_t pos,
                               double *neg_sum)
{
    const float saved = row[pos];
    float stand_in, sum, best;
    if (n == 1) {
        *neg_sum = 0.0;
        return -INFINITY;
    }
    stand_in = row[pos > 0 ? pos - 1 : 1];
    row[pos] = stand_in;
    best = ctr__vmax_sum(row, n, &sum);
    row[pos] = saved;
    *neg_sum = (double)sum - stand_in;
    return best;
}

/* Row-wise softmax cross-entropy over an n x n logits matrix, in place: S
 * becomes dS = scale * (softmax - y), where y spreads 1 evenly over the
 * row's positives: column i for row i, or with groups every column j with
 * groups[j] == groups[i]. dcl (DECOUPLED): the softmax runs over the
 * row's negatives only (the positives are -inf in it). */
static void ce_rows(float *s, int64_t n, const int64_t *groups, int dcl,
                    float scale, ctr__ce_acc *acc)
{
    int64_t i, j;
    for (i = 0; i < n; i++) {
        float *row = s + i * n;
        double pos_sum = 0.0, neg_sum, sum, lse;
        int64_t np = 0;
        float pos_max = -INFINITY, neg_max = -INFINITY, m;
        if (groups != NULL) {
            neg_sum = ctr__vsum(row, n);
            group_scan(row, n, groups[i], groups, dcl, &pos_sum, &np,
                       &pos_max, &neg_max);
            neg_sum -= pos_sum;
        } else {
            pos_sum = pos_max = row[i];
            np = 1;
            neg_max = negatives_max_sum(row, n, i, &neg_sum);
            if (dcl)
                row[i] = -INFINITY;
        }
        m = dcl || neg_max > pos_max ? neg_max : pos_max;
        sum = ctr__vexp_shift_sum(row, n, m);
        lse = m + log(sum);
        acc->loss += lse - pos_sum / (double)np;
        acc->correct += pos_max > neg_max;
        acc->pos_sum += pos_sum;
        acc->pos_cnt += (double)np;
        acc->neg_sum += neg_sum;
        acc->neg_cnt += (double)(n - np);
        ctr__vscale(row, (float)(scale / sum), n);
        if (groups == NULL) {
            row[i] -= scale;
            continue;
        }
        for (j = 0; j < n; j++)
            if (groups[j] == groups[i])
                row[j] -= scale / (float)np;
    }
}

/* out = in^T (accumulate 0) or out += in^T (accumulate 1), n x n, by
 * 16 x 16 blocks so that the strided side stays in cache. */
static void transpose(float *out, const float *in, int64_t n, int accumulate)
{
    int64_t i, j, i0, j0;
    const int64_t blk = 16;
    for (i0 = 0; i0 < n; i0 += blk)
        for (j0 = 0; j0 < n; j0 += blk)
            for (i = i0; i < i0 + blk && i < n; i++)
                for (j = j0; j < j0 + blk && j < n; j++)
                    out[j * n + i] = in[i * n + j] +
                                     (accumulate ? out[j * n + i] : 0.0f);
}

int ctr__pair_workspace(const ctr_objective *obj, size_t *bytes, int64_t b,
                        int64_t d, int64_t k)
{
    size_t n = 0;
    int rc = ctr__obj_ws_add(&n, b * d);
    (void)k;
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, b * d);
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, 2 * b);
    if (rc == CTR_OK && (b > INT64_MAX / b / 2))
        rc = CTR_E_OVERFLOW;
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, b * b);
    if (rc == CTR_OK && obj->symmetric)
        rc = ctr__obj_ws_add(&n, b * b);
    if (rc == CTR_OK)
        *bytes = n;
    return rc;
}

/* Normalised copies of a and p (or the inputs themselves). */
typedef struct pair_views {
    const float *a, *p;
    int64_t lda, ldp;
    float *inv_a, *inv_p;
} pair_views;

static void prepare_views(const ctr_objective *obj, ctr__carve *c,
                          const float *a, int64_t lda, const float *p,
                          int64_t ldp, int64_t b, int64_t d, pair_views *v)
{
    float *an = ctr__carve_floats(c, (size_t)(b * d));
    float *pn = ctr__carve_floats(c, (size_t)(b * d));
    float *inv = ctr__carve_floats(c, (size_t)(2 * b));
    v->inv_a = inv;
    v->inv_p = inv + b;
    if (!obj->normalize) {
        v->a = a, v->lda = lda, v->p = p, v->ldp = ldp;
        return;
    }
    ctr__normalize_rows(an, a, b, d, lda, 1.0f, v->inv_a);
    ctr__normalize_rows(pn, p, b, d, ldp, 1.0f, v->inv_p);
    v->a = an, v->lda = d, v->p = pn, v->ldp = d;
}

/* sum of |x_i|^2 over b rows of d (ld) */
static double sum_squares(const float *x, int64_t ld, int64_t b, int64_t d)
{
    double ss = 0.0;
    int64_t i;
    for (i = 0; i < b; i++)
        ss += (double)ctr__vdot(x + i * ld, x + i * ld, d);
    return ss;
}

/* grad = inv_tau op(S) y + reg * x, then through the normalisation.
 * Returns sum over logits of dloss/dS_ij * S_ij = <inv_tau op(S) y,
 * x_view> (the logits are linear in x_view's rows), for the temperature's
 * gradient. */
static double input_grad(const ctr_objective *obj, float *grad,
                       enum CBLAS_TRANSPOSE ts, const float *s, const float *y,
                       int64_t ldy, const float *x, int64_t ldx,
                       const float *x_view, int64_t ld_view,
                       const float *inv_norm, double reg, int64_t b,
                       int64_t d)
{
    const float inv_tau = (float)(1.0 / obj->temperature);
    double gs;
    ctr__sgemm_plus(ts, CblasNoTrans, (int)b, (int)d, (int)b, inv_tau, s,
                    (int)b, y, (int)ldy, (float)reg, reg > 0.0 ? x : NULL,
                    (int)ldx, grad, (int)d);
    gs = ctr__rows_dot(grad, d, x_view, ld_view, b, d);
    if (reg > 0.0) /* x_view is x: no normalisation with a regulariser */
        gs -= reg * sum_squares(x, ldx, b, d);
    if (obj->normalize)
        ctr__normalize_backward(grad, x_view, ld_view, 1.0f, inv_norm, b, d);
    return gs;
}

int ctr__pair_run(ctr_objective *obj, const ctr__pair_args *args, double reg,
                  ctr__obj_stats *st)
{
    const float *a = args->a, *p = args->p;
    const int64_t lda = args->lda, ldp = args->ldp, b = args->b, d = args->d;
    const int64_t *groups = args->groups;
    float *grad_a = args->grad_a, *grad_p = args->grad_p;
    const float inv_tau = (float)(1.0 / obj->temperature);
    const int sym = obj->symmetric != 0;
    const float scale = (sym ? 0.5f : 1.0f) / (float)b;
    ctr__carve c = {(char *)obj->ws, 0};
    ctr__ce_acc acc;
    pair_views v;
    double gs = 0.0;
    float *s, *s2 = NULL;
    prepare_views(obj, &c, a, lda, p, ldp, b, d, &v);
    s = ctr__carve_floats(&c, (size_t)(b * b));
    if (sym)
        s2 = ctr__carve_floats(&c, (size_t)(b * b));
    ctr__sgemm_plus(CblasNoTrans, CblasTrans, (int)b, (int)b, (int)d, inv_tau,
                    v.a, (int)v.lda, v.p, (int)v.ldp, 0.0f, NULL, 0, s,
                    (int)b);
    memset(&acc, 0, sizeof(acc));
    if (sym)
        transpose(s2, s, b, 0);
    ce_rows(s, b, groups, obj->decoupled != 0, scale, &acc);
    if (sym)
        ce_rows(s2, b, groups, obj->decoupled != 0, scale, &acc);
    /* finite inputs give a non-finite loss only through overflowing
     * logits (+inf in a row makes its softmax NaN) */
    if (!isfinite(acc.loss))
        return ctr__fail(&obj->err, CTR_E_NUMERIC,
                         "logits overflow float (inputs too large for tau)");
    if (sym)
        transpose(s, s2, b, 1);
    if (grad_a != NULL)
        gs = input_grad(obj, grad_a, CblasNoTrans, s, v.p, v.ldp, a, lda,
                        v.a, v.lda, v.inv_a, reg, b, d);
    if (grad_p != NULL) {
        double gp = input_grad(obj, grad_p, CblasTrans, s, v.a, v.lda, p,
                               ldp, v.p, v.ldp, v.inv_p, reg, b, d);
        gs = grad_a != NULL ? gs : gp;
    }
    /* d loss / d tau = -(1 / tau) sum_ij dloss/dS_ij S_ij */
    st->has_grad_temperature = grad_a != NULL || grad_p != NULL;
    st->grad_temperature = -gs / obj->temperature;
    st->loss = acc.loss * scale;
    if (reg > 0.0)
        st->loss += 0.5 * reg * (sum_squares(a, lda, b, d) +
                                 sum_squares(p, ldp, b, d));
    st->accuracy = acc.correct / (double)(sym ? 2 * b : b);
    st->pos_sim = acc.pos_sum / acc.pos_cnt * obj->temperature;
    st->neg_sim = acc.neg_cnt > 0 ? acc.neg_sum / acc.neg_cnt * obj->temperature
                                  : 0.0;
    st->chance_loss = log((double)(obj->decoupled ? b - 1 : b));
    return CTR_OK;
}

int ctr__decoupled_check(ctr_objective *obj, int64_t b,
                         const int64_t *groups)
{
    int64_t i;
    if (!obj->decoupled)
        return CTR_OK;
    for (i = 1; groups != NULL && i < b; i++)
        if (groups[i] != groups[0])
            return CTR_OK;
    if (b < 2 || groups != NULL)
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                         "CTR_OBJECTIVE_P_DECOUPLED needs a negative for "
                         "every row: b >= 2 (got %lld) and group labels not "
                         "all equal", (long long)b);
    return CTR_OK;
}

int ctr__pair_check(ctr_objective *obj, void *args, ctr__obj_dims *dims)
{
    const ctr__pair_args *a = (const ctr__pair_args *)args;
    int rc = ctr__obj_check_sizes(obj, a->b, a->d);
    if (rc == CTR_OK && a->b > 46340) /* b*b must fit an int for BLAS */
        rc = ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                       "b must be <= 46340 for in-batch logits (got %lld)",
                       (long long)a->b);
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, a->a, a->b, a->d, a->lda, "a");
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, a->p, a->b, a->d, a->ldp, "p");
    if (rc == CTR_OK)
        rc = ctr__decoupled_check(obj, a->b, a->groups);
    dims->b = a->b;
    dims->d = a->d;
    return rc;
}
