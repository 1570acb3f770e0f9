/*
 * local_global_run.c - the math of the local-global kind
 * (local_global.h): the score GEMM S = G L^T (b x b p), AMDIM's scaling,
 * penalty and soft clip, the three estimators, which replace each score
 * by the gradient of the loss with respect to it, and the two gradient
 * GEMMs dG = dS L, dL = dS^T G. Row i of S holds global i against every
 * (image j, position q) at column j p + q; its positives are the p
 * columns of block j = i ("the self block"), its negatives the rest.
 */
#include <math.h>
#include <string.h>

#include "common/blas.h"
#include "common/kernels.h"
#include "objectives/local_global.h"

/* One call's state. */
typedef struct lg_ctx {
    const ctr_local_global_args *in;
    int64_t b, p, d, n;  /* n = b p columns of S */
    float *s;            /* b x n scores, then their gradients */
    float *keep;         /* b x n scaled, unclipped scores (or NULL) */
    const float *lf;     /* l as a (b p) x d matrix, leading dim ldl */
    int64_t ldl;
} lg_ctx;

/* ---- layout ----------------------------------------------------------------- */

/* out[(j p + q) d + c] = l(j, q, c), or back (scatter) into grad_l; the
 * inner loop runs along the smaller of l's position and channel strides. */
static void lg_pack(const ctr_local_global_args *in, float *flat, int back)
{
    const int64_t sp = in->l_pos_stride, sc = in->l_chan_stride;
    const int pos_inner = sp < sc;
    const int64_t no = pos_inner ? in->d : in->p, ni = pos_inner ? in->p : in->d;
    int64_t j, o, i;
    for (j = 0; j < in->b; j++) {
        float *rows = flat + j * in->p * in->d;
        const float *src = in->l + j * in->l_batch_stride;
        float *dst = back ? in->grad_l + j * in->l_batch_stride : NULL;
        for (o = 0; o < no; o++)
            for (i = 0; i < ni; i++) {
                const int64_t q = pos_inner ? i : o, c = pos_inner ? o : i;
                if (back)
                    dst[q * sp + c * sc] = rows[q * in->d + c];
                else
                    rows[q * in->d + c] = src[q * sp + c * sc];
            }
    }
}

/* ---- statistics on the raw scores ---------------------------------------------- */

/* max and sum of row's negatives (all but [i p, i p + p)). */
static float neg_max(const float *row, int64_t i, int64_t p, int64_t n)
{
    float a = ctr__vmax(row, i * p);
    float c = ctr__vmax(row + (i + 1) * p, n - (i + 1) * p);
    return a > c ? a : c;
}

static void lg_stats(const lg_ctx *x, ctr__obj_stats *st)
{
    double pos = 0, neg = 0, correct = 0;
    int64_t i, q;
    for (i = 0; i < x->b; i++) {
        const float *row = x->s + i * x->n, *self = row + i * x->p;
        const float nm = neg_max(row, i, x->p, x->n);
        double all = ctr__vsum(row, x->n), own = ctr__vsum(self, x->p);
        pos += own;
        neg += all - own;
        for (q = 0; q < x->p; q++)
            correct += self[q] > nm;
    }
    st->pos_sim = pos / (double)(x->b * x->p);
    st->neg_sim = x->b > 1 ? neg / ((double)x->b * (x->b - 1) * x->p) : 0.0;
    st->accuracy = correct / (double)(x->b * x->p);
}

/* ---- AMDIM's options ------------------------------------------------------------- */

/* Scales, keeps the scaled scores, soft-clips; returns the penalty term. */
static double lg_transform(const lg_ctx *x, float alpha)
{
    const size_t total = (size_t)(x->b * x->n);
    const double lambda = x->in->penalty;
    const float c = (float)x->in->clip;
    double sq = 0;
    size_t k;
    if (alpha != 1.0f)
        ctr__vscale(x->s, alpha, (int64_t)total);
    if (x->keep != NULL)
        memcpy(x->keep, x->s, total * sizeof(float));
    if (lambda > 0) {
        for (k = 0; k < total; k++)
            sq += (double)x->s[k] * x->s[k];
        sq = lambda * sq / (double)total;
    }
    if (c > 0)
        for (k = 0; k < total; k++)
            x->s[k] = c * tanhf(x->s[k] / c);
    return sq;
}

/* dL/du -> dL/d(g . l): through the clip, plus the penalty, times alpha. */
static void lg_chain(const lg_ctx *x, float alpha)
{
    const size_t total = (size_t)(x->b * x->n);
    const float c = (float)x->in->clip;
    const float pen = (float)(2.0 * x->in->penalty / (double)total);
    size_t k;
    if (c > 0)
        for (k = 0; k < total; k++) {
            const float t = tanhf(x->keep[k] / c);
            x->s[k] *= 1.0f - t * t;
        }
    if (x->in->penalty > 0)
        for (k = 0; k < total; k++)
            x->s[k] += pen * x->keep[k];
    if (alpha != 1.0f)
        ctr__vscale(x->s, alpha, (int64_t)total);
}

/* ---- estimators: loss, and dL/du in place of u -------------------------------- */

/* InfoNCE: per row, the negatives' exps (shared by the row's p anchors),
 * then each anchor's positive against them. */
static double lg_infonce(const lg_ctx *x)
{
    const int64_t p = x->p, n = x->n;
    const double inv = 1.0 / (double)(x->b * p);
    const int dim_mask = x->in->self_mask == CTR_SELFPAIR_DIM;
    double loss = 0;
    int64_t i, q;
    for (i = 0; i < x->b; i++) {
        float *row = x->s + i * n, *self = row + i * p;
        float m = ctr__vmax(row, n);
        double neg, mask, r = 0;
        if (dim_mask && m < -10.0f)
            m = -10.0f;
        neg = (double)ctr__vexp_shift_sum(row, i * p, m) +
              (double)ctr__vexp_shift_sum(self + p, n - (i + 1) * p, m);
        mask = dim_mask ? (double)p * exp(-10.0 - (double)m) : 0.0;
        for (q = 0; q < p; q++) {
            const double u = (double)self[q] - (double)m, e = exp(u);
            const double den = e + neg + mask;
            loss += log(den) - u;
            r += 1.0 / den;
            self[q] = (float)((e / den - 1.0) * inv);
        }
        ctr__vscale(row, (float)(r * inv), i * p);
        ctr__vscale(self + p, (float)(r * inv), n - (i + 1) * p);
    }
    return loss * inv;
}

/* JSD: softplus(-u) on positives, softplus(u) on negatives. */
static double lg_jsd(const lg_ctx *x)
{
    const int64_t p = x->p, n = x->n;
    const double wp = 1.0 / (double)(x->b * p),
                 wn = 1.0 / ((double)x->b * (x->b - 1) * p);
    double loss = 0;
    int64_t i, c;
    for (i = 0; i < x->b; i++) {
        float *row = x->s + i * n;
        double lp = 0, ln = 0;
        for (c = 0; c < n; c++) {
            const double u = row[c];
            const double sig = 1.0 / (1.0 + exp(-u)); /* sigmoid(u) */
            if (c / p == i) {
                lp += ctr__softplus(-u);
                row[c] = (float)((sig - 1.0) * wp);
            } else {
                ln += ctr__softplus(u);
                row[c] = (float)(sig * wn);
            }
        }
        loss += lp * wp + ln * wn;
    }
    return loss;
}

/* DV: log mean_neg e^u (shifted by the largest negative) - mean_pos u. */
static double lg_dv(const lg_ctx *x)
{
    const int64_t p = x->p, n = x->n;
    const double wp = 1.0 / (double)(x->b * p);
    double pos = 0, z = 0;
    float m = -INFINITY;
    int64_t i, q;
    for (i = 0; i < x->b; i++) {
        const float nm = neg_max(x->s + i * n, i, p, n);
        m = nm > m ? nm : m;
    }
    for (i = 0; i < x->b; i++) {
        float *row = x->s + i * n, *self = row + i * p;
        z += (double)ctr__vexp_shift_sum(row, i * p, m) +
             (double)ctr__vexp_shift_sum(self + p, n - (i + 1) * p, m);
        for (q = 0; q < p; q++) {
            pos += self[q];
            self[q] = (float)-wp;
        }
    }
    for (i = 0; i < x->b; i++) {
        float *row = x->s + i * n, *self = row + i * p;
        ctr__vscale(row, (float)(1.0 / z), i * p);
        ctr__vscale(self + p, (float)(1.0 / z), n - (i + 1) * p);
    }
    return (double)m + log(z / ((double)x->b * (x->b - 1) * p)) - pos * wp;
}

static double chance(const ctr_local_global_args *in)
{
    if (in->estimator == CTR_MI_JSD)
        return 2.0 * log(2.0);
    if (in->estimator == CTR_MI_DV)
        return 0.0;
    return log((double)((in->b - 1) * in->p + 1));
}

/* ---- the driver ------------------------------------------------------------------ */

/* The scores S = G L^T (b x n) into x->s; CTR_E_NUMERIC if they overflow. */
static int lg_scores(ctr_objective *obj, const lg_ctx *x)
{
    const ctr_local_global_args *in = x->in;
    ctr__sgemm_plus(CblasNoTrans, CblasTrans, (int)x->b, (int)x->n,
                    (int)x->d, 1.0f, in->g, (int)in->ldg, x->lf, (int)x->ldl,
                    0.0f, NULL, 0, x->s, (int)x->n);
    if (!ctr__vfinite(x->s, x->b * x->n))
        return ctr__fail(&obj->err, CTR_E_NUMERIC,
                         "scores g . l overflow float");
    return CTR_OK;
}

/* grad_g = dS L (b x d), grad_l = dS^T G ((b p) x d, then scattered). */
static void lg_gradients(const lg_ctx *x, float *gl_flat, int64_t ldgl)
{
    const ctr_local_global_args *in = x->in;
    if (in->grad_g != NULL)
        ctr__sgemm_plus(CblasNoTrans, CblasNoTrans, (int)x->b, (int)x->d,
                        (int)x->n, 1.0f, x->s, (int)x->n, x->lf, (int)x->ldl,
                        0.0f, NULL, 0, in->grad_g, (int)x->d);
    if (in->grad_l != NULL) {
        ctr__sgemm_plus(CblasTrans, CblasNoTrans, (int)x->n, (int)x->d,
                        (int)x->b, 1.0f, x->s, (int)x->n, in->g,
                        (int)in->ldg, 0.0f, NULL, 0, gl_flat, (int)ldgl);
        if (gl_flat != in->grad_l)
            lg_pack(in, gl_flat, 1);
    }
}

int ctr__lg_run(ctr_objective *obj, const ctr__lg_args *a,
                ctr__obj_stats *st)
{
    const ctr_local_global_args *in = &a->in;
    const float alpha =
        in->scale_sqrt_d ? (float)(1.0 / sqrt((double)in->d)) : 1.0f;
    ctr__carve cv = {(char *)obj->ws, 0};
    lg_ctx x;
    float *gl_flat = in->grad_l;
    double pen, loss;
    int rc;
    x.in = in, x.b = in->b, x.p = in->p, x.d = in->d, x.n = in->b * in->p;
    x.s = ctr__carve_floats(&cv, (size_t)(x.b * x.n));
    x.keep = a->keep_s ? ctr__carve_floats(&cv, (size_t)(x.b * x.n)) : NULL;
    x.lf = in->l, x.ldl = a->ldl;
    if (!a->direct) {
        float *flat = ctr__carve_floats(&cv, (size_t)(x.n * x.d));
        lg_pack(in, flat, 0);
        x.lf = flat, x.ldl = x.d;
        if (in->grad_l != NULL)
            gl_flat = ctr__carve_floats(&cv, (size_t)(x.n * x.d));
    }
    rc = lg_scores(obj, &x);
    if (rc != CTR_OK)
        return rc;
    lg_stats(&x, st);
    pen = lg_transform(&x, alpha);
    if (in->estimator == CTR_MI_JSD)
        loss = lg_jsd(&x);
    else if (in->estimator == CTR_MI_DV)
        loss = lg_dv(&x);
    else
        loss = lg_infonce(&x);
    st->loss = loss + pen;
    st->chance_loss = chance(in);
    if (in->grad_g == NULL && in->grad_l == NULL)
        return CTR_OK;
    lg_chain(&x, alpha);
    lg_gradients(&x, gl_flat, a->direct ? a->ldl : x.d);
    return CTR_OK;
}
