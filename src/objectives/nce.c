/*
 * nce.c - the NCE kind: NCE against a memory bank (Wu et al. 2018, reused
 * by CMC and CRD): each anchor against its own bank row and kn noise rows,
 * noise distribution uniform over the n rows, normaliser Z fixed after the
 * first batch, an EMA, or exact per anchor (tiled over the whole bank).
 * The handle keeps Z between calls.
 */
#include <math.h>
#include <string.h>

#include "common/kernels.h"
#include "objectives/nce.h"
#include "objectives/tiled_infonce.h"

static const int32_t PARAMS[] = {
    CTR_OBJECTIVE_P_TEMPERATURE, CTR_OBJECTIVE_P_NORMALIZE,
    CTR_OBJECTIVE_P_TILE, CTR_OBJECTIVE_P_NCE_Z_MODE,
    CTR_OBJECTIVE_P_NCE_MOMENTUM, 0};

static int nce_workspace(const ctr_objective *obj, size_t *bytes, int64_t b,
                         int64_t d, int64_t kn)
{
    size_t n = 0;
    int rc = CTR_OK;
    if (kn >= INT64_MAX / b / 2 - 1)
        return CTR_E_OVERFLOW;
    rc = ctr__obj_ws_add(&n, b * (kn + 1)); /* logits, then coefficients */
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, 2 * b); /* log Z per anchor (double) */
    if (rc == CTR_OK && obj->nce_z_mode == CTR_NCE_Z_EXACT) {
        size_t shared = 0;
        rc = ctr__shared_workspace(obj, &shared, b, d, 0);
        if (rc == CTR_OK)
            rc = ctr__add_size(&n, n, shared);
        if (rc == CTR_OK) /* capture keys (uint64) */
            rc = ctr__obj_ws_add(&n, 2 * b * (kn + 1));
        if (rc == CTR_OK) /* their sort's scratch and histogram */
            rc = ctr__obj_ws_add(&n, 2 * (kn + 1));
        if (rc == CTR_OK)
            rc = ctr__obj_ws_add(&n, 2 << 11);
    } else if (rc == CTR_OK) {
        rc = ctr__obj_ws_add(&n, b * d); /* scaled z */
        if (rc == CTR_OK)
            rc = ctr__obj_ws_add(&n, b);
        if (rc == CTR_OK)
            rc = ctr__obj_ws_add(&n, b * d); /* gradient accumulator */
    }
    if (rc == CTR_OK)
        *bytes = n;
    return rc;
}

typedef struct nce_args {
    const float *z;
    int64_t ldz, b, d;
    const float *bank;
    int64_t ldb, n;
    const int64_t *self_idx, *noise_idx;
    int64_t kn;
    float *grad_z;
} nce_args;

static int nce_check(ctr_objective *obj, void *args, ctr__obj_dims *dims)
{
    const nce_args *a = (const nce_args *)args;
    int rc = ctr__obj_check_sizes(obj, a->b, a->d);
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, a->z, a->b, a->d, a->ldz, "z");
    if (rc == CTR_OK)
        rc = ctr__check_positive(&obj->err, a->n, "n");
    if (rc == CTR_OK)
        rc = ctr__check_positive(&obj->err, a->kn, "kn");
    if (rc == CTR_OK && a->kn > INT64_MAX / a->b)
        rc = ctr__fail(&obj->err, CTR_E_OVERFLOW, "b * kn overflows");
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, a->bank, a->n, a->d, a->ldb, "bank");
    if (rc == CTR_OK && a->n > INT32_MAX)
        rc = ctr__fail(&obj->err, CTR_E_OVERFLOW, "n is too large");
    if (rc == CTR_OK)
        rc = ctr__obj_check_indices(obj, a->self_idx, a->b, a->n, "self_idx");
    if (rc == CTR_OK)
        rc = ctr__obj_check_indices(obj, a->noise_idx, a->b * a->kn, a->n,
                                    "noise_idx");
    dims->b = a->b;
    dims->d = a->d;
    dims->k = a->kn;
    return rc;
}

static const float *bank_row(const nce_args *a, int64_t i, int64_t k)
{
    int64_t r = k == 0 ? a->self_idx[i] : a->noise_idx[i * a->kn + k - 1];
    return a->bank + r * a->ldb;
}

/* log of n * mean(exp(L)) over all b (kn + 1) logits. */
static double batch_log_z(const float *l, int64_t count, int64_t n)
{
    double m = -INFINITY, s = 0.0;
    int64_t i;
    for (i = 0; i < count; i++)
        m = l[i] > m ? l[i] : m;
    for (i = 0; i < count; i++)
        s += exp(l[i] - m);
    return log((double)n) + m + log(s / (double)count);
}

static double log_add_exp(double x, double y)
{
    double m = x > y ? x : y;
    return m + log(exp(x - m) + exp(y - m));
}

/* The gathered rows of each anchor as capture keys (row << 32 | slot),
 * grouped by tile. */
static void capture_keys(const nce_args *a, int64_t tile, ctr__carve *c,
                         uint64_t **keys_out)
{
    const int64_t w = a->kn + 1;
    uint64_t *keys = (uint64_t *)(void *)ctr__carve_floats(c, (size_t)(2 * a->b * w));
    uint64_t *tmp = (uint64_t *)(void *)ctr__carve_floats(c, (size_t)(2 * w));
    int64_t *hist = (int64_t *)(void *)ctr__carve_floats(c, (size_t)(2 << 11));
    int64_t i, k;
    for (i = 0; i < a->b; i++) {
        uint64_t *ki = keys + i * w;
        for (k = 0; k < w; k++) {
            int64_t r = k == 0 ? a->self_idx[i] : a->noise_idx[i * a->kn + k - 1];
            ki[k] = (uint64_t)r << 32 | (uint64_t)k;
        }
        ctr__tiled_sort_keys(ki, tmp, w, tile, a->n, hist);
    }
    *keys_out = keys;
}

/* Exact per-anchor log Z_i over the whole bank and the softmax mean of the
 * (normalised) bank rows, through the tiled online softmax - and the
 * logits l of the gathered rows, captured from the same tiles: Z_i and
 * each numerator x_ik = exp(l_ik - log Z_i) read one value of a
 * similarity. (A dot product of its own for l would differ from the
 * GEMM's by an ulp, which where the row dominates Z - the own row in a
 * trained bank - put h off by that much: a loss error of 8.7e-5 at logits
 * ~1e4.) */
static int exact_log_z(ctr_objective *obj, const nce_args *a,
                       ctr__carve *c, const float *zs, float *l,
                       double *lz, float **mean_rows)
{
    ctr__tiled t;
    int64_t i;
    int rc;
    memset(&t, 0, sizeof(t));
    t.g = ctr__carve_floats(c, (size_t)(a->b * a->d));
    t.m = ctr__carve_floats(c, (size_t)a->b);
    t.alpha = ctr__carve_floats(c, (size_t)a->b);
    t.negmax = ctr__carve_floats(c, (size_t)a->b);
    t.sum = (double *)(void *)ctr__carve_floats(c, (size_t)(2 * a->b));
    t.negsum = (double *)(void *)ctr__carve_floats(c, (size_t)(2 * a->b));
    t.negcnt = (int64_t *)(void *)ctr__carve_floats(c, (size_t)(2 * a->b));
    t.colscale = ctr__carve_floats(c, (size_t)obj->tile);
    t.s = ctr__carve_floats(c, (size_t)(a->b * obj->tile));
    for (i = 0; i < a->b; i++) {
        t.m[i] = -INFINITY;
        t.sum[i] = 0.0;
        t.negmax[i] = -INFINITY;
        t.negsum[i] = 0.0;
        t.negcnt[i] = 0;
    }
    memset(t.g, 0, (size_t)(a->b * a->d) * sizeof(float));
    if (a->grad_z == NULL)
        t.g = NULL;
    t.qs = zs, t.b = a->b, t.d = a->d;
    t.keys = a->bank, t.n = a->n, t.ld = a->ldb, t.tile = obj->tile;
    capture_keys(a, obj->tile, c, (uint64_t **)&t.capture_keys);
    t.capture_per = a->kn + 1;
    t.capture_out = l;
    ctr__tiled_carve(&t, c);
    rc = ctr__tiled_forward(obj, &t);
    if (rc != CTR_OK)
        return rc;
    for (i = 0; i < a->b; i++) {
        lz[i] = (double)t.m[i] + log(t.sum[i]);
        if (t.g != NULL)
            ctr__vscale(t.g + i * a->d, (float)(1.0 / t.sum[i]), a->d);
    }
    *mean_rows = t.g;
    return CTR_OK;
}

/* Statistics of the raw logits (before they become coefficients). */
static void nce_stats(const nce_args *a, const float *l, double tau,
                      ctr__obj_stats *st)
{
    const int64_t w = a->kn + 1;
    double correct = 0, pos = 0, neg = 0;
    int64_t i;
    for (i = 0; i < a->b; i++) {
        const float *row = l + i * w;
        correct += row[0] > ctr__vmax(row + 1, a->kn);
        pos += row[0];
        neg += ctr__vsum(row + 1, a->kn);
    }
    st->accuracy = correct / (double)a->b;
    st->pos_sim = pos / (double)a->b * tau;
    st->neg_sim = neg / ((double)a->b * (double)a->kn) * tau;
    st->chance_loss = log((double)a->kn + 1.0);
}

/* Sum of the loss terms; the logits become d loss_i / d logit. With
 * h = x / (x + c), x = exp(logit - log Z), c = kn / n:
 * -log h = softplus(log c - lx), d/dlogit = -(1 - h);
 * -log(1 - h) = softplus(lx - log c), d/dlogit = h. */
double ctr__nce_terms(float *l, int64_t b, int64_t kn, int64_t n,
                      const double *lz)
{
    const int64_t w = kn + 1;
    const double log_c = log((double)kn) - log((double)n);
    double loss = 0;
    int64_t i, k;
    for (i = 0; i < b; i++) {
        float *row = l + i * w;
        double lx = (double)row[0] - lz[i];
        loss += ctr__softplus(log_c - lx);
        row[0] = (float)(-1.0 / (1.0 + exp(lx - log_c)));
        for (k = 1; k < w; k++) {
            lx = (double)row[k] - lz[i];
            loss += ctr__softplus(lx - log_c);
            row[k] = (float)(1.0 / (1.0 + exp(log_c - lx)));
        }
    }
    return loss;
}

/* grad_z_i = (1/(b tau)) (sum_k coef_ik v_k - [exact] (sum_k coef_ik) g_i),
 * then through the normalisation of z. */
static void nce_gradient(const ctr_objective *obj, const nce_args *a,
                         const float *coef, const float *zs,
                         const float *inv_z, const float *mean_rows)
{
    const int64_t w = a->kn + 1, d = a->d;
    const double tau = obj->temperature;
    int64_t i, k;
    for (i = 0; i < a->b; i++) {
        float *g = a->grad_z + i * d;
        const float *row = coef + i * w;
        memset(g, 0, (size_t)d * sizeof(float));
        for (k = 0; k < w; k++)
            ctr__vaxpy(g, bank_row(a, i, k), row[k], d);
        if (mean_rows != NULL)
            ctr__vaxpy(g, mean_rows + i * d, -ctr__vsum(row, w), d);
        ctr__vscale(g, (float)(1.0 / ((double)a->b * tau)), d);
    }
    if (obj->normalize)
        ctr__normalize_backward(a->grad_z, zs, d, (float)(1.0 / tau), inv_z,
                                a->b, d);
}

double ctr__nce_log_z(const ctr_objective *obj, const float *l,
                      int64_t count, int64_t n)
{
    double v;
    if (obj->nce_z_mode == CTR_NCE_Z_FIXED && obj->has_log_z)
        return obj->log_z;
    v = batch_log_z(l, count, n);
    if (obj->nce_z_mode == CTR_NCE_Z_EMA && obj->has_log_z)
        v = log_add_exp(log(obj->nce_momentum) + obj->log_z,
                        log1p(-obj->nce_momentum) + v);
    return v;
}

void ctr__nce_commit(ctr_objective *obj, double state)
{
    if (obj->nce_z_mode != CTR_NCE_Z_FIXED || !obj->has_log_z) {
        obj->log_z = state;
        obj->has_log_z = 1;
    }
}

/* The normaliser the batch uses (per anchor) and the state to commit. */
static int nce_log_z(ctr_objective *obj, const nce_args *a, ctr__carve *c,
                     const float *zs, float *l, double *lz,
                     float **mean_rows, double *state)
{
    int64_t i;
    double v;
    *mean_rows = NULL;
    if (obj->nce_z_mode == CTR_NCE_Z_EXACT) {
        int rc = exact_log_z(obj, a, c, zs, l, lz, mean_rows);
        if (rc != CTR_OK)
            return rc;
        v = lz[0];
        for (i = 1; i < a->b; i++)
            v = log_add_exp(v, lz[i]);
        *state = v - log((double)a->b);
        return CTR_OK;
    }
    v = ctr__nce_log_z(obj, l, a->b * (a->kn + 1), a->n);
    for (i = 0; i < a->b; i++)
        lz[i] = v;
    *state = v;
    return CTR_OK;
}

/* softplus(u) = log(1 + e^u), returned, and sigmoid(u) in *sig, from one
 * exp and one log1p. */
static double softplus_sigmoid(double u, double *sig)
{
    double e = exp(-fabs(u));
    *sig = u >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
    return (u > 0 ? u : 0.0) + log1p(e);
}

/* Rows ahead of the one in use whose cache lines are requested early: the
 * gathered bank rows are random, so hardware prefetchers cannot guess. */
#define NCE_PREFETCH 8

static void prefetch_row(const float *row, int64_t d)
{
    int64_t j;
    for (j = 0; j < d; j += 16)
        __builtin_prefetch(row + j);
}

/* One pass for a known, fixed Z: each gathered row's logit gives its loss
 * term and gradient coefficient at once, so every bank row is read once
 * while it is in L1. The gradient accumulates in the workspace and is
 * copied out only when every logit was finite. */
static int nce_fused(ctr_objective *obj, const nce_args *a, const float *zs,
                     float *acc, double lz, ctr__obj_stats *st)
{
    const int64_t w = a->kn + 1, d = a->d;
    const double log_c = log((double)a->kn) - log((double)a->n);
    const float inv_btau = (float)(1.0 / ((double)a->b * obj->temperature));
    double loss = 0, correct = 0, pos = 0, neg = 0;
    int64_t i, k;
    for (i = 0; i < a->b; i++) {
        const float *zi = zs + i * d;
        float *g = acc + i * d, s0 = 0, negmax = -INFINITY;
        double negrow = 0;
        memset(g, 0, (size_t)d * sizeof(float));
        for (k = 0; k < w; k++) {
            const float *v = bank_row(a, i, k);
            float s, coef;
            double lx, sig;
            if (k + NCE_PREFETCH < w)
                prefetch_row(bank_row(a, i, k + NCE_PREFETCH), d);
            s = ctr__vdot(zi, v, d);
            lx = (double)s - lz;
            if (k == 0) {
                s0 = s;
                loss += softplus_sigmoid(log_c - lx, &sig);
                coef = (float)-sig;
            } else {
                negmax = s > negmax ? s : negmax;
                negrow += s;
                loss += softplus_sigmoid(lx - log_c, &sig);
                coef = (float)sig;
            }
            ctr__vaxpy(g, v, coef * inv_btau, d);
        }
        correct += s0 > negmax;
        pos += s0;
        neg += negrow;
    }
    if (!isfinite(loss) || !isfinite(pos) || !isfinite(neg))
        return ctr__fail(&obj->err, CTR_E_NUMERIC,
                         "logits overflow float (inputs too large for tau)");
    st->loss = loss / (double)a->b;
    st->accuracy = correct / (double)a->b;
    st->pos_sim = pos / (double)a->b * obj->temperature;
    st->neg_sim = neg / ((double)a->b * (double)a->kn) * obj->temperature;
    st->chance_loss = log((double)a->kn + 1.0);
    return CTR_OK;
}

/* The fused path's wrapper: gradient out through the normalisation. */
static int nce_fixed(ctr_objective *obj, const nce_args *a, ctr__carve *c,
                     const float *zs, const float *inv_z, ctr__obj_stats *st,
                     double *state)
{
    float *acc = ctr__carve_floats(c, (size_t)(a->b * a->d));
    int rc = nce_fused(obj, a, zs, acc, obj->log_z, st);
    *state = obj->log_z;
    if (rc != CTR_OK || a->grad_z == NULL)
        return rc;
    memcpy(a->grad_z, acc, (size_t)(a->b * a->d) * sizeof(float));
    if (obj->normalize)
        ctr__normalize_backward(a->grad_z, zs, a->d,
                                (float)(1.0 / obj->temperature), inv_z, a->b,
                                a->d);
    return CTR_OK;
}

static int nce_run(ctr_objective *obj, const nce_args *a, ctr__obj_stats *st,
                   double *state)
{
    const int64_t w = a->kn + 1, b = a->b, d = a->d;
    const float inv_tau = (float)(1.0 / obj->temperature);
    ctr__carve c = {(char *)obj->ws, 0};
    float *l = ctr__carve_floats(&c, (size_t)(b * w));
    double *lz = (double *)(void *)ctr__carve_floats(&c, (size_t)(2 * b));
    float *zs = ctr__carve_floats(&c, (size_t)(b * d));
    float *inv_z = ctr__carve_floats(&c, (size_t)b);
    float *mean_rows;
    int64_t i, k;
    int rc;
    if (obj->normalize)
        ctr__normalize_rows(zs, a->z, b, d, a->ldz, inv_tau, inv_z);
    else
        ctr__copy_scaled(zs, a->z, b, d, a->ldz, inv_tau);
    if (obj->nce_z_mode == CTR_NCE_Z_FIXED && obj->has_log_z)
        return nce_fixed(obj, a, &c, zs, inv_z, st, state);
    if (obj->nce_z_mode != CTR_NCE_Z_EXACT) /* else the tiles give them */
        for (i = 0; i < b; i++)
            for (k = 0; k < w; k++)
                l[i * w + k] = ctr__vdot(zs + i * d, bank_row(a, i, k), d);
    rc = nce_log_z(obj, a, &c, zs, l, lz, &mean_rows, state);
    if (rc != CTR_OK)
        return rc;
    if (!ctr__all_finite(l, b, w, w))
        return ctr__fail(&obj->err, CTR_E_NUMERIC,
                         "logits overflow float (inputs too large for tau)");
    nce_stats(a, l, obj->temperature, st);
    st->loss = ctr__nce_terms(l, b, a->kn, a->n, lz) / (double)b;
    if (!isfinite(st->loss) || !isfinite(*state))
        return ctr__fail(&obj->err, CTR_E_NUMERIC, "loss is not finite");
    if (a->grad_z != NULL)
        nce_gradient(obj, a, l, zs, inv_z, mean_rows);
    return CTR_OK;
}

/* The loss, and on success the normaliser the handle keeps: FIXED sets
 * it once, EMA and EXACT at every call. */
static int nce_call_run(ctr_objective *obj, const void *args,
                        ctr__obj_stats *st)
{
    double state = 0.0;
    int rc = nce_run(obj, (const nce_args *)args, st, &state);
    if (rc == CTR_OK)
        ctr__nce_commit(obj, state);
    return rc;
}

/* Listed in registry.c. */
const ctr__obj_kind ctr__obj_nce = {
    .id = CTR_OBJECTIVE_NCE,
    .name = "NCE",
    .params = PARAMS,
    .check = nce_check,
    .workspace = nce_workspace,
    .run = nce_call_run,
};

CTR_API int ctr_objective_nce(ctr_objective *obj, double *loss,
                              const float *z, int64_t ldz, int64_t b,
                              int64_t d, const float *bank, int64_t ldb,
                              int64_t n, const int64_t *self_idx,
                              const int64_t *noise_idx, int64_t kn,
                              float *grad_z)
{
    nce_args a = {z, ldz, b, d, bank, ldb, n, self_idx, noise_idx, kn, grad_z};
    return ctr__obj_call(obj, &ctr__obj_nce, "ctr_objective_nce", &a, loss);
}
