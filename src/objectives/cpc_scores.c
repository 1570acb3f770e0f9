/*
 * cpc_scores.c - one prediction step of the CPC critic for each negative
 * policy (cpc.h): the scores of every anchor against its candidates, the
 * softmax cross-entropy with the positive as target, and its backward
 * into the latents (dzt) and the predictions (p, in place).
 *
 * BATCH: per time step one b x b GEMM (anchors at u, candidates at u + k).
 * ALL: per block of anchor rows one GEMM against all n latents.
 * SAMPLED: gathered rows, vector dot products and axpys.
 */
#include <math.h>

#include "common/blas.h"
#include "common/kernels.h"
#include "objectives/cpc.h"

/* Row of m scores (already divided by tau) whose positive is column pos:
 * accumulates loss, accuracy and sums, and replaces the row by
 * scale * (softmax - onehot(pos)). */
static void ce_row(float *row, int64_t m, int64_t pos, float scale,
                   ctr__cpc_sums *s)
{
    const float sp = row[pos];
    float neg_max, mx, sum;
    double total;
    row[pos] = -INFINITY;
    neg_max = ctr__vmax(row, m); /* -inf when m == 1 */
    row[pos] = sp;
    mx = sp > neg_max ? sp : neg_max;
    total = (double)ctr__vsum(row, m);
    sum = ctr__vexp_shift_sum(row, m, mx);
    s->loss += (double)mx + log((double)sum) - (double)sp;
    s->correct += sp > neg_max;
    s->pos_sum += (double)sp;
    s->neg_sum += total - (double)sp;
    s->neg_cnt += (double)(m - 1);
    ctr__vscale(row, scale / sum, m);
    row[pos] -= scale;
}

void ctr__cpc_batch_step(const ctr__cpc_step *st, ctr__cpc_sums *sums)
{
    const int b = (int)st->b, d = (int)st->d;
    const int64_t times = st->na / st->b;
    float *s = st->block;
    int64_t u, i;
    for (u = 0; u < times; u++) {
        float *pu = st->p + u * st->b * st->d;
        const int64_t cand = u * st->b + st->shift;
        const float *zu = st->zt + cand * st->d;
        ctr__sgemm_plus(CblasNoTrans, CblasTrans, b, b, d, st->inv_tau, pu,
                        d, zu, d, 0.0f, NULL, 0, s, b);
        for (i = 0; i < b; i++)
            ce_row(s + i * b, b, i, st->scale, sums);
        if (st->dzt != NULL)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, b, d, b,
                        st->inv_tau, s, b, pu, d, 1.0f,
                        st->dzt + cand * st->d, d);
        if (st->want_dp)
            ctr__sgemm_plus(CblasNoTrans, CblasNoTrans, b, d, b, st->inv_tau,
                            s, b, zu, d, 0.0f, NULL, 0, pu, d);
    }
}

int64_t ctr__cpc_all_rows(int64_t n)
{
    const int64_t budget = (int64_t)1 << 21;
    return n >= budget ? 1 : budget / n;
}

void ctr__cpc_all_step(const ctr__cpc_step *st, ctr__cpc_sums *sums)
{
    const int n = (int)st->n, d = (int)st->d;
    const int64_t rows_max = ctr__cpc_all_rows(st->n);
    float *s = st->block;
    int64_t r0, i;
    for (r0 = 0; r0 < st->na; r0 += rows_max) {
        const int rows = (int)(st->na - r0 < rows_max ? st->na - r0 : rows_max);
        float *pc = st->p + r0 * st->d;
        ctr__sgemm_plus(CblasNoTrans, CblasTrans, rows, n, d, st->inv_tau, pc,
                        d, st->zt, d, 0.0f, NULL, 0, s, n);
        for (i = 0; i < rows; i++)
            ce_row(s + i * st->n, st->n, r0 + i + st->shift, st->scale, sums);
        if (st->dzt != NULL)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, d, rows,
                        st->inv_tau, s, n, pc, d, 1.0f, st->dzt, d);
        if (st->want_dp)
            ctr__sgemm_plus(CblasNoTrans, CblasNoTrans, rows, d, n,
                            st->inv_tau, s, n, st->zt, d, 0.0f, NULL, 0, pc,
                            d);
    }
}

/* Scores of anchor r against its positive and its n_neg negatives. */
static void sampled_scores(const ctr__cpc_step *st, int64_t r, float *row)
{
    const float *pr = st->p + r * st->d;
    const int64_t *idx = st->idx + r * st->n_neg;
    int64_t j;
    row[0] = st->inv_tau * ctr__vdot(pr, st->zt + (r + st->shift) * st->d,
                                     st->d);
    for (j = 0; j < st->n_neg; j++)
        row[j + 1] = st->inv_tau * ctr__vdot(pr, st->zt + idx[j] * st->d,
                                             st->d);
}

/* Backward of anchor r from its row of dL/dscore g. */
static void sampled_backward(const ctr__cpc_step *st, int64_t r,
                             const float *g)
{
    float *pr = st->p + r * st->d;
    const int64_t *idx = st->idx + r * st->n_neg;
    const int64_t pos = r + st->shift;
    int64_t j;
    if (st->dzt != NULL) {
        ctr__vaxpy(st->dzt + pos * st->d, pr, st->inv_tau * g[0], st->d);
        for (j = 0; j < st->n_neg; j++)
            ctr__vaxpy(st->dzt + idx[j] * st->d, pr, st->inv_tau * g[j + 1],
                       st->d);
    }
    if (!st->want_dp)
        return;
    ctr__vcopy_scaled(st->tmp, st->zt + pos * st->d, st->inv_tau * g[0],
                      st->d);
    for (j = 0; j < st->n_neg; j++)
        ctr__vaxpy(st->tmp, st->zt + idx[j] * st->d, st->inv_tau * g[j + 1],
                   st->d);
    ctr__vcopy_scaled(pr, st->tmp, 1.0f, st->d);
}

void ctr__cpc_sampled_step(const ctr__cpc_step *st, ctr__cpc_sums *sums)
{
    const int64_t m = st->n_neg + 1;
    int64_t r;
    float *row = st->block;
    for (r = 0; r < st->na; r++) {
        sampled_scores(st, r, row);
        ce_row(row, m, 0, st->scale, sums);
        sampled_backward(st, r, row);
    }
}
