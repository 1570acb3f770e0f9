/*
 * bilinear.c - the BILINEAR kind: CURL's bilinear critic (Srinivas et al.
 * 2020). Logits S = Q W K^T / tau (rows of Q and K optionally normalised
 * first), cross-entropy of row i with target i, mean over rows; W is a
 * caller-owned d x d buffer and gets its gradient.
 *
 * Six GEMMs: KW = K W^T and S = Q KW^T forward; grad_q = dS KW,
 * U = dS^T Q, grad_k = U W and grad_W = U^T K backward (dS already holds
 * 1 / tau).
 */
#include "objectives/kind.h"

#include <math.h>
#include <string.h>

#include "common/blas.h"
#include "common/kernels.h"

typedef struct bilinear_args {
    const float *q, *k, *w;
    int64_t ldq, ldk, b, d;
    float *grad_q, *grad_k, *grad_w;
} bilinear_args;

static const int32_t PARAMS[] = {CTR_OBJECTIVE_P_TEMPERATURE,
                                 CTR_OBJECTIVE_P_NORMALIZE, 0};

/* CURL: raw bilinear scores, no temperature, no normalisation. */
static void bilinear_defaults(ctr_objective *obj)
{
    obj->temperature = 1.0;
    obj->normalize = 0;
}

static int bilinear_check(ctr_objective *obj, void *args, ctr__obj_dims *dims)
{
    const bilinear_args *a = (const bilinear_args *)args;
    int rc = ctr__obj_check_sizes(obj, a->b, a->d);
    if (rc == CTR_OK && a->b > 46340) /* b*b must fit an int for BLAS */
        rc = ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                       "b must be <= 46340 for in-batch logits (got %lld)",
                       (long long)a->b);
    if (rc == CTR_OK && a->d > 46340)
        rc = ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                       "d must be <= 46340 for W (got %lld)", (long long)a->d);
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, a->q, a->b, a->d, a->ldq, "q");
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, a->k, a->b, a->d, a->ldk, "k");
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, a->w, a->d, a->d, a->d, "w");
    dims->b = a->b;
    dims->d = a->d;
    return rc;
}

/* Normalised q and k (2 b*d), their inverse norms (2 b), KW and U (2 b*d),
 * S (b*b). */
static int bilinear_workspace(const ctr_objective *obj, size_t *bytes,
                              int64_t b, int64_t d, int64_t k)
{
    size_t n = 0;
    int rc = CTR_OK, i;
    (void)k;
    if (obj->normalize)
        for (i = 0; i < 2 && rc == CTR_OK; i++)
            rc = ctr__obj_ws_add(&n, b * d);
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, 2 * b);
    for (i = 0; i < 2 && rc == CTR_OK; i++)
        rc = ctr__obj_ws_add(&n, b * d);
    if (rc == CTR_OK && b > INT64_MAX / b)
        rc = CTR_E_OVERFLOW;
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, b * b);
    if (rc == CTR_OK)
        *bytes = n;
    return rc;
}

/* The operands the GEMMs read: the inputs or their normalised copies. */
typedef struct views {
    const float *q, *k;
    int64_t ldq, ldk;
    float *inv_q, *inv_k, *kw, *u, *s;
} views;

static void carve_views(const ctr_objective *obj, const bilinear_args *a,
                        views *v)
{
    ctr__carve c = {(char *)obj->ws, 0};
    const int64_t b = a->b, d = a->d;
    float *qn = NULL, *kn = NULL;
    if (obj->normalize) {
        qn = ctr__carve_floats(&c, (size_t)(b * d));
        kn = ctr__carve_floats(&c, (size_t)(b * d));
    }
    v->inv_q = ctr__carve_floats(&c, (size_t)(2 * b));
    v->inv_k = v->inv_q + b;
    v->kw = ctr__carve_floats(&c, (size_t)(b * d));
    v->u = ctr__carve_floats(&c, (size_t)(b * d));
    v->s = ctr__carve_floats(&c, (size_t)(b * b));
    v->q = a->q, v->ldq = a->ldq, v->k = a->k, v->ldk = a->ldk;
    if (!obj->normalize)
        return;
    ctr__normalize_rows(qn, a->q, b, d, a->ldq, 1.0f, v->inv_q);
    ctr__normalize_rows(kn, a->k, b, d, a->ldk, 1.0f, v->inv_k);
    v->q = qn, v->ldq = d, v->k = kn, v->ldk = d;
}

/* Row-wise cross-entropy with target i on the b x b logits s, in place:
 * s becomes dS = (softmax - I) * scale. Fills the statistics (sums). */
static void ce_diagonal(float *s, int64_t b, float scale, ctr__obj_stats *st)
{
    double loss = 0.0, pos = 0.0, neg = 0.0, correct = 0.0;
    int64_t i;
    for (i = 0; i < b; i++) {
        float *row = s + i * b;
        const float diag = row[i];
        float sum, m;
        double total;
        row[i] = -INFINITY;
        m = ctr__vmax(row, b);
        correct += diag > m;
        row[i] = diag;
        total = ctr__vsum(row, b);
        pos += diag;
        neg += total - diag;
        m = diag > m ? diag : m;
        sum = ctr__vexp_shift_sum(row, b, m);
        loss += (double)m + log((double)sum) - diag;
        ctr__vscale(row, scale / sum, b);
        row[i] -= scale;
    }
    st->loss = loss / (double)b;
    st->accuracy = correct / (double)b;
    st->pos_sim = pos / (double)b;
    st->neg_sim = b > 1 ? neg / (double)(b * (b - 1)) : 0.0;
    st->chance_loss = log((double)b);
}

/* g (b x d) = op(A) M for the b x b matrix A (dS or dS^T) and M (b x d or
 * d x d when m_rows is d), then through the normalisation of x's rows. */
static void input_grad(const ctr_objective *obj, float *g,
                       enum CBLAS_TRANSPOSE ta, const float *a, int m_rows,
                       const float *m, const float *x_view, int64_t ld_view,
                       const float *inv, int64_t b, int64_t d)
{
    ctr__sgemm_plus(ta, CblasNoTrans, (int)b, (int)d, m_rows, 1.0f, a,
                    m_rows, m, (int)d, 0.0f, NULL, 0, g, (int)d);
    if (obj->normalize)
        ctr__normalize_backward(g, x_view, ld_view, 1.0f, inv, b, d);
}

static void backward(const ctr_objective *obj, const bilinear_args *a,
                     const views *v)
{
    const int b = (int)a->b, d = (int)a->d;
    if (a->grad_q != NULL)
        input_grad(obj, a->grad_q, CblasNoTrans, v->s, b, v->kw, v->q,
                   v->ldq, v->inv_q, a->b, a->d);
    if (a->grad_k == NULL && a->grad_w == NULL)
        return;
    ctr__sgemm_plus(CblasTrans, CblasNoTrans, b, d, b, 1.0f, v->s, b, v->q,
                    (int)v->ldq, 0.0f, NULL, 0, v->u, d);
    if (a->grad_k != NULL)
        input_grad(obj, a->grad_k, CblasNoTrans, v->u, d, a->w, v->k, v->ldk,
                   v->inv_k, a->b, a->d);
    if (a->grad_w != NULL)
        ctr__sgemm_plus(CblasTrans, CblasNoTrans, d, d, b, 1.0f, v->u, d,
                        v->k, (int)v->ldk, 0.0f, NULL, 0, a->grad_w, d);
}

static int bilinear_run(ctr_objective *obj, const void *args,
                        ctr__obj_stats *st)
{
    const bilinear_args *a = (const bilinear_args *)args;
    const int b = (int)a->b, d = (int)a->d;
    const float inv_tau = (float)(1.0 / obj->temperature);
    views v;
    carve_views(obj, a, &v);
    /* KW = K W^T: row j is W k_j, so S_ij = q_i . (W k_j) */
    ctr__sgemm_plus(CblasNoTrans, CblasTrans, b, d, d, 1.0f, v.k, (int)v.ldk,
                    a->w, d, 0.0f, NULL, 0, v.kw, d);
    ctr__sgemm_plus(CblasNoTrans, CblasTrans, b, b, d, inv_tau, v.q,
                    (int)v.ldq, v.kw, d, 0.0f, NULL, 0, v.s, b);
    ce_diagonal(v.s, a->b, inv_tau / (float)b, st);
    if (!isfinite(st->loss))
        return ctr__fail(&obj->err, CTR_E_NUMERIC,
                         "bilinear logits overflow float");
    st->pos_sim *= obj->temperature;
    st->neg_sim *= obj->temperature;
    backward(obj, a, &v);
    return CTR_OK;
}

/* Listed in registry.c. */
const ctr__obj_kind ctr__obj_bilinear = {
    .id = CTR_OBJECTIVE_BILINEAR,
    .name = "BILINEAR",
    .params = PARAMS,
    .defaults = bilinear_defaults,
    .check = bilinear_check,
    .workspace = bilinear_workspace,
    .run = bilinear_run,
};

CTR_API int ctr_objective_bilinear(ctr_objective *obj, double *loss,
                                   const float *q, int64_t ldq, const float *k,
                                   int64_t ldk, int64_t b, int64_t d,
                                   const float *w, float *grad_q,
                                   float *grad_k, float *grad_w)
{
    bilinear_args args = {q, k, w, ldq, ldk, b, d, grad_q, grad_k, grad_w};
    return ctr__obj_call(obj, &ctr__obj_bilinear, "ctr_objective_bilinear",
                         &args, loss);
}
