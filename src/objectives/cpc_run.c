/*
 * cpc_run.c - the CPC critic's driver (cpc.h): copies the strided views
 * into time-major blocks (row u * b + s), so that the anchors of step k
 * are the first b * (t - k) rows and their positives the rows b * k
 * further; per step, the predictions of every anchor by one GEMM, the
 * policy's scores and backward (cpc_scores.c), then the W_k gradient and
 * the context gradient by one GEMM each. Gradients are accumulated in the
 * workspace and written to the caller's outputs only once every step has
 * given a finite loss, so a failing call writes nothing.
 */
#include <math.h>
#include <string.h>

#include "common/blas.h"
#include "common/kernels.h"
#include "objectives/cpc.h"

/* The workspace blocks of one call (NULL when not needed). */
typedef struct cpc_blocks {
    float *zt, *ct, *p, *dzt, *dct, *dw, *db, *block, *tmp;
    int64_t *idx;
} cpc_blocks;

static void carve(const ctr__cpc_args *a, const ctr__cpc_needs *nd, void *ws,
                  cpc_blocks *k)
{
    const size_t n = (size_t)(a->b * a->t), d = (size_t)a->d,
                 dc = (size_t)a->dc;
    ctr__carve c = {(char *)ws, 0};
    memset(k, 0, sizeof(*k));
    k->zt = ctr__carve_floats(&c, n * d);
    k->ct = ctr__carve_floats(&c, n * dc);
    k->p = ctr__carve_floats(&c, n * d);
    if (nd->dz)
        k->dzt = ctr__carve_floats(&c, n * d);
    if (nd->dc)
        k->dct = ctr__carve_floats(&c, n * dc);
    if (nd->dw)
        k->dw = ctr__carve_floats(&c, (size_t)a->steps * d * dc);
    if (nd->db)
        k->db = ctr__carve_floats(&c, (size_t)a->steps * d);
    if (a->negatives == CTR_CPC_NEG_BATCH) {
        k->block = ctr__carve_floats(&c, (size_t)(a->b * a->b));
    } else if (a->negatives == CTR_CPC_NEG_ALL) {
        k->block = ctr__carve_floats(&c, (size_t)ctr__cpc_all_rows((int64_t)n) * n);
    } else {
        k->block = ctr__carve_floats(&c, (size_t)a->n_neg + 1);
        k->tmp = ctr__carve_floats(&c, d);
        k->idx = (int64_t *)(void *)ctr__carve_floats(
            &c, 2 * n * (size_t)a->n_neg);
    }
}

/* dst (time-major rows of len floats) <- the (s, u) view of src. */
static void gather(float *dst, const float *src, int64_t ss, int64_t ts,
                   int64_t b, int64_t t, int64_t len)
{
    int64_t s, u;
    for (u = 0; u < t; u++)
        for (s = 0; s < b; s++)
            memcpy(dst + (u * b + s) * len, src + s * ss + u * ts,
                   (size_t)len * sizeof(float));
}

/* dst (b x t x len, contiguous) <- time-major rows of src. */
static void scatter(float *dst, const float *src, int64_t b, int64_t t,
                    int64_t len)
{
    int64_t s, u;
    for (u = 0; u < t; u++)
        for (s = 0; s < b; s++)
            memcpy(dst + (s * t + u) * len, src + (u * b + s) * len,
                   (size_t)len * sizeof(float));
}

/* The negatives of step k (SAMPLED) as time-major rows: the caller's
 * indices converted, or uniform draws over the other n - 1 rows. */
static void sampled_indices(const ctr__cpc_args *a, int64_t k, int64_t na,
                            int64_t *idx)
{
    const int64_t b = a->b, t = a->t, nn = a->n_neg, shift = k * b;
    int64_t r, j;
    if (a->neg_idx == NULL) {
        ctr_rng_below(a->rng, idx, na * nn, b * t - 1);
        for (r = 0; r < na; r++)
            for (j = 0; j < nn; j++)
                idx[r * nn + j] += idx[r * nn + j] >= r + shift;
        return;
    }
    for (r = 0; r < na; r++) {
        const int64_t s = r % b, u = r / b;
        const int64_t *src = a->neg_idx + (((k - 1) * b + s) * t + u) * nn;
        for (j = 0; j < nn; j++)
            idx[r * nn + j] = (src[j] % t) * b + src[j] / t;
    }
}

/* P = ct[0:na] W_k^T (+ b_k): the predictions of step k. */
static void predict(const ctr__cpc_args *a, const cpc_blocks *k, int64_t step,
                    int64_t na)
{
    const float *wk = a->w + (step - 1) * a->d * a->dc;
    int64_t r;
    if (a->bias != NULL) {
        for (r = 0; r < na; r++)
            memcpy(k->p + r * a->d, a->bias + (step - 1) * a->d,
                   (size_t)a->d * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)na,
                    (int)a->d, (int)a->dc, 1.0f, k->ct, (int)a->dc, wk,
                    (int)a->dc, 1.0f, k->p, (int)a->d);
        return;
    }
    ctr__sgemm_plus(CblasNoTrans, CblasTrans, (int)na, (int)a->d, (int)a->dc,
                    1.0f, k->ct, (int)a->dc, wk, (int)a->dc, 0.0f, NULL, 0,
                    k->p, (int)a->d);
}

/* From dL/dP of step k (in k->p): dW_k, db_k and dct += dP W_k. */
static void step_backward(const ctr__cpc_args *a, const cpc_blocks *k,
                          int64_t step, int64_t na)
{
    const int d = (int)a->d, dc = (int)a->dc;
    const float *wk = a->w + (step - 1) * a->d * a->dc;
    int64_t r;
    if (k->dw != NULL)
        ctr__sgemm_plus(CblasTrans, CblasNoTrans, d, dc, (int)na, 1.0f, k->p,
                        d, k->ct, dc, 0.0f, NULL, 0,
                        k->dw + (step - 1) * a->d * a->dc, dc);
    if (k->db != NULL) {
        float *db = k->db + (step - 1) * a->d;
        memset(db, 0, (size_t)d * sizeof(float));
        for (r = 0; r < na; r++)
            ctr__vaxpy(db, k->p + r * a->d, 1.0f, a->d);
    }
    if (k->dct != NULL)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)na, dc, d,
                    1.0f, k->p, d, wk, dc, 1.0f, k->dct, dc);
}

/* Runs step k: predictions, the policy's scores and backward, the
 * gradients of W_k and c. Returns 0 when the step's loss is not finite. */
static int run_step(ctr_objective *obj, const ctr__cpc_args *a,
                    const cpc_blocks *k, int64_t step, ctr__cpc_sums *sums)
{
    const int64_t na = (a->t - step) * a->b;
    const int want_dp = k->dct != NULL || k->dw != NULL || k->db != NULL;
    ctr__cpc_step st;
    st.b = a->b, st.n = a->b * a->t, st.d = a->d, st.na = na;
    st.shift = step * a->b;
    st.zt = k->zt, st.p = k->p, st.dzt = k->dzt, st.want_dp = want_dp;
    st.inv_tau = (float)(1.0 / obj->temperature);
    st.scale = (float)(1.0 / ((double)a->steps * (double)na));
    st.block = k->block, st.idx = k->idx, st.n_neg = a->n_neg;
    st.tmp = k->tmp;
    predict(a, k, step, na);
    if (a->negatives == CTR_CPC_NEG_BATCH) {
        ctr__cpc_batch_step(&st, sums);
    } else if (a->negatives == CTR_CPC_NEG_ALL) {
        ctr__cpc_all_step(&st, sums);
    } else {
        sampled_indices(a, step, na, k->idx);
        ctr__cpc_sampled_step(&st, sums);
    }
    if (!isfinite(sums->loss) || !isfinite(sums->pos_sum) ||
        !isfinite(sums->neg_sum))
        return 0;
    if (want_dp)
        step_backward(a, k, step, na);
    return 1;
}

/* 1 if every gradient block is finite. */
static int blocks_finite(const ctr__cpc_args *a, const cpc_blocks *k)
{
    const int64_t n = a->b * a->t;
    return (k->dzt == NULL || ctr__vfinite(k->dzt, n * a->d)) &&
           (k->dct == NULL || ctr__vfinite(k->dct, n * a->dc)) &&
           (k->dw == NULL || ctr__vfinite(k->dw, a->steps * a->d * a->dc)) &&
           (k->db == NULL || ctr__vfinite(k->db, a->steps * a->d));
}

static void write_outputs(const ctr__cpc_args *a, const cpc_blocks *k,
                          const double *acc)
{
    if (a->grad_z != NULL)
        scatter(a->grad_z, k->dzt, a->b, a->t, a->d);
    if (a->grad_c != NULL)
        scatter(a->grad_c, k->dct, a->b, a->t, a->dc);
    if (a->grad_w != NULL)
        memcpy(a->grad_w, k->dw,
               (size_t)(a->steps * a->d * a->dc) * sizeof(float));
    if (a->grad_bias != NULL)
        memcpy(a->grad_bias, k->db, (size_t)(a->steps * a->d) * sizeof(float));
    if (a->step_acc != NULL)
        memcpy(a->step_acc, acc, (size_t)a->steps * sizeof(double));
}

int ctr__cpc_run(ctr_objective *obj, const ctr__cpc_args *a,
                 ctr__obj_stats *st)
{
    const int64_t n = a->b * a->t;
    ctr__cpc_needs nd = {a->grad_z != NULL, a->grad_c != NULL,
                         a->grad_w != NULL, a->grad_bias != NULL};
    ctr__cpc_sums tot = {0, 0, 0, 0, 0};
    double loss = 0.0, acc_sum = 0.0, pos_cnt = 0.0;
    double *acc = (double *)obj->ws; /* reused below: see ctr__cpc_workspace */
    cpc_blocks k;
    int64_t step;
    carve(a, &nd, (char *)obj->ws + ((size_t)a->steps * sizeof(double) + 63) / 64 * 64, &k);
    gather(k.zt, a->z, a->zs, a->zt, a->b, a->t, a->d);
    gather(k.ct, a->c, a->cs, a->ct, a->b, a->t, a->dc);
    if (k.dzt != NULL)
        memset(k.dzt, 0, (size_t)(n * a->d) * sizeof(float));
    if (k.dct != NULL)
        memset(k.dct, 0, (size_t)(n * a->dc) * sizeof(float));
    for (step = 1; step <= a->steps; step++) {
        ctr__cpc_sums s = {0, 0, 0, 0, 0};
        const double na = (double)((a->t - step) * a->b);
        if (!run_step(obj, a, &k, step, &s))
            return ctr__fail(&obj->err, CTR_E_NUMERIC,
                             "scores overflow float at step %lld (inputs too "
                             "large for tau)", (long long)step);
        loss += s.loss / na;
        acc[step - 1] = s.correct / na;
        acc_sum += acc[step - 1];
        tot.pos_sum += s.pos_sum, tot.neg_sum += s.neg_sum;
        tot.neg_cnt += s.neg_cnt, pos_cnt += na;
    }
    if (!blocks_finite(a, &k))
        return ctr__fail(&obj->err, CTR_E_NUMERIC,
                         "a gradient overflows float");
    write_outputs(a, &k, acc);
    st->loss = loss / (double)a->steps;
    st->accuracy = acc_sum / (double)a->steps;
    st->pos_sim = tot.pos_sum / pos_cnt * obj->temperature;
    st->neg_sim = tot.neg_cnt > 0 ? tot.neg_sum / tot.neg_cnt * obj->temperature
                                  : 0.0;
    st->chance_loss = log(a->negatives == CTR_CPC_NEG_BATCH ? (double)a->b
                          : a->negatives == CTR_CPC_NEG_ALL
                              ? (double)n
                              : (double)(a->n_neg + 1));
    return CTR_OK;
}
