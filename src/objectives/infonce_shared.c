/*
 * infonce_shared.c - InfoNCE against negatives shared by all anchors (a
 * momentum queue, bank rows, a caller matrix), and full-softmax instance
 * discrimination over a bank. Negatives are visited in tiles with an
 * online (running-max) softmax, so no b x K logits buffer exists: per tile
 * one GEMM makes the logits, a vector exp pass turns them into weights,
 * and one GEMM accumulates the query gradient sum_j p_ij k_j. Gradients to
 * the negatives need the final log-sum-exp, hence a second pass.
 */
#include <math.h>
#include <string.h>

#include "common/blas.h"
#include "objectives/objective_internal.h"
#include "common/kernels.h"

/* ---- the tiled online softmax ---------------------------------------------- */

/* |k|^2 in double, for the rows whose float sum of squares overflows or
 * loses its digits to underflow. */
static double sum_squares(const float *k, int64_t d)
{
    double s = 0.0;
    int64_t j;
    for (j = 0; j < d; j++)
        s += (double)k[j] * k[j];
    return s;
}

static void key_inv_norms(float *out, const float *kt, int64_t rows,
                          int64_t d, int64_t ld)
{
    int64_t t;
    for (t = 0; t < rows; t++) {
        const float *k = kt + t * ld;
        double ss = ctr__vdot(k, k, d), nrm;
        if (!(ss < 1e38 && ss > 1e-30))
            ss = sum_squares(k, d);
        nrm = sqrt(ss);
        out[t] = (float)(1.0 / (nrm > 1e-12 ? nrm : 1e-12));
    }
}

/* ---- masking by instance id ------------------------------------------------ */

static int64_t slot_count(int64_t b)
{
    int64_t p = 16;
    while (p < 2 * b)
        p *= 2;
    return p;
}

int64_t ctr__tiled_scratch_floats(int64_t b)
{
    /* slots + next (int32) + masked_cnt (8 bytes), plus the 64-byte
     * rounding of its three blocks */
    return slot_count(b) + b + 2 * b + 3 * 16;
}

static uint64_t mix_id(int64_t id)
{
    uint64_t z = (uint64_t)id + 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* The first query whose id is `id`, or -1. */
static int32_t find_query(const ctr__tiled *t, int64_t id)
{
    uint64_t h = mix_id(id) & (uint64_t)t->slot_mask;
    while (t->slot[h] >= 0) {
        if (t->q_ids[t->slot[h]] == id)
            return t->slot[h];
        h = (h + 1) & (uint64_t)t->slot_mask;
    }
    return -1;
}

static void build_index(ctr__tiled *t)
{
    int64_t i, n = t->slot_mask + 1;
    for (i = 0; i < n; i++)
        t->slot[i] = -1;
    for (i = t->b - 1; i >= 0; i--) {
        uint64_t h = mix_id(t->q_ids[i]) & (uint64_t)t->slot_mask;
        while (t->slot[h] >= 0 && t->q_ids[t->slot[h]] != t->q_ids[i])
            h = (h + 1) & (uint64_t)t->slot_mask;
        t->next[i] = t->slot[h]; /* -1 or the next query of this id */
        t->slot[h] = (int32_t)i;
    }
}

void ctr__tiled_carve(ctr__tiled *t, ctr__carve *c)
{
    const int64_t p = slot_count(t->b);
    t->slot = (int32_t *)(void *)ctr__carve_floats(c, (size_t)p);
    t->next = (int32_t *)(void *)ctr__carve_floats(c, (size_t)t->b);
    t->masked_cnt = (int64_t *)(void *)ctr__carve_floats(c, (size_t)(2 * t->b));
    t->slot_mask = p - 1;
    if (t->q_ids != NULL)
        build_index(t);
}

static void mask_entry(ctr__tiled *t, int64_t i, int64_t c, int64_t w)
{
    t->masked_cnt[i]++;
    t->s[i * w + c] = -INFINITY;
}

/* Sets the masked logits of the tile [j0, j0 + w) to -inf, counting them
 * per row: one hash look-up per key. */
static void mask_tile(ctr__tiled *t, int64_t j0, int64_t w)
{
    int64_t i, c;
    for (i = 0; i < t->b; i++)
        t->masked_cnt[i] = 0;
    if (t->q_ids != NULL) {
        for (c = 0; c < w; c++) {
            int32_t q = find_query(t, t->key_ids[j0 + c]);
            for (; q >= 0; q = t->next[q])
                mask_entry(t, q, c, w);
        }
    }
    if (t->self_idx != NULL) {
        for (i = 0; i < t->b; i++) {
            c = t->self_idx[i] - j0;
            if (c >= 0 && c < w)
                mask_entry(t, i, c, w);
        }
    }
}

/* Column scaling and masks of a freshly computed tile. */
static void prepare_tile(ctr__tiled *t, int64_t j0, int64_t w)
{
    int64_t i;
    if (t->normalize_keys)
        for (i = 0; i < t->b; i++)
            ctr__vmul(t->s + i * w, t->colscale, w);
    mask_tile(t, j0, w);
}

/* Logits of the tile [j0, j0 + w), column-scaled and masked. */
static void tile_logits(ctr__tiled *t, int64_t j0, int64_t w)
{
    const float *kt = t->keys + j0 * t->ld;
    if (t->normalize_keys)
        key_inv_norms(t->colscale, kt, w, t->d, t->ld);
    ctr__sgemm_plus(CblasNoTrans, CblasTrans, (int)t->b, (int)w, (int)t->d,
                    1.0f, t->qs, (int)t->d, kt, (int)t->ld, 0.0f, NULL, 0,
                    t->s, (int)w);
}

/* How far a tile's logits may rise above the running reference before it
 * moves: exp(16) ~ 9e6 keeps the sums and the gradient accumulator far
 * from overflow, and a move (a rescale) stays rare. */
#define REFERENCE_SLACK 16.0f

static void online_row(ctr__tiled *t, int64_t i, int64_t w)
{
    float *row = t->s + i * w;
    ctr__online_row o;
    double tile_sum;
    o.shift = t->m[i];
    tile_sum = ctr__vexp_online(row, w, REFERENCE_SLACK, &o);
    t->negmax[i] = o.max > t->negmax[i] ? o.max : t->negmax[i];
    t->negsum[i] += o.raw;
    t->negcnt[i] += w - t->masked_cnt[i];
    t->alpha[i] = o.shift == t->m[i]
                      ? 1.0f
                      : (float)exp((double)t->m[i] - (double)o.shift);
    t->sum[i] = t->sum[i] * t->alpha[i] + tile_sum;
    t->m[i] = o.shift;
    if (t->g != NULL && t->normalize_keys)
        ctr__vmul(row, t->colscale, w);
}

int ctr__tiled_forward(ctr_objective *obj, ctr__tiled *t)
{
    int64_t j0, i;
    for (j0 = 0; j0 < t->n; j0 += t->tile) {
        const int64_t w = t->n - j0 < t->tile ? t->n - j0 : t->tile;
        const float *kt = t->keys + j0 * t->ld;
        if (!ctr__all_finite(kt, w, t->d, t->ld))
            return ctr__fail(&obj->err, CTR_E_NUMERIC,
                             "a row in [%lld, %lld) of the negatives holds "
                             "NaN or Inf", (long long)j0, (long long)(j0 + w));
        tile_logits(t, j0, w);
        prepare_tile(t, j0, w);
        for (i = 0; i < t->b; i++)
            online_row(t, i, w);
        if (t->g == NULL)
            continue;
        for (i = 0; i < t->b; i++)
            if (t->alpha[i] != 1.0f)
                ctr__vscale(t->g + i * t->d, t->alpha[i], t->d);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)t->b,
                    (int)t->d, (int)w, 1.0f, t->s, (int)w, kt, (int)t->ld,
                    1.0f, t->g, (int)t->d);
    }
    return CTR_OK;
}

/* g <- c (g - c^2 (k . g) k): the backward of k_hat = c k, c = 1/|k|.
 * The factors are applied in an order that keeps every intermediate in
 * float's normal range for keys of any norm. */
static void key_norm_backward(float *g, const float *k, float c, int64_t d)
{
    if (c < 0.999999e12f) /* else the norm was clamped: g * c */
        ctr__vaxpy(g, k, -(c * (c * ctr__vdot(k, g, d))), d);
    ctr__vscale(g, c, d);
}

void ctr__tiled_key_grad(ctr__tiled *t, const float *lse, float *grad_keys,
                         float scale)
{
    int64_t j0, i, r;
    for (j0 = 0; j0 < t->n; j0 += t->tile) {
        const int64_t w = t->n - j0 < t->tile ? t->n - j0 : t->tile;
        const float *kt = t->keys + j0 * t->ld;
        float *gk = grad_keys + j0 * t->d;
        tile_logits(t, j0, w);
        prepare_tile(t, j0, w);
        for (i = 0; i < t->b; i++)
            ctr__vexp_shift_sum(t->s + i * w, w, lse[i]);
        ctr__sgemm_plus(CblasTrans, CblasNoTrans, (int)w, (int)t->d, (int)t->b,
                        scale, t->s, (int)w, t->qs, (int)t->d, 0.0f, NULL, 0,
                        gk, (int)t->d);
        if (t->normalize_keys)
            for (r = 0; r < w; r++)
                key_norm_backward(gk + r * t->d, kt + r * t->ld,
                                  t->colscale[r], t->d);
    }
}

/* ---- workspace --------------------------------------------------------------- */

int ctr__shared_ws(const ctr_objective *obj, size_t *bytes, int64_t b,
                   int64_t d)
{
    size_t n = 0;
    int rc = CTR_OK, i;
    for (i = 0; i < 3 && rc == CTR_OK; i++) /* qs, kpos, g */
        rc = ctr__obj_ws_add(&n, b * d);
    for (i = 0; i < 13 && rc == CTR_OK; i++) /* per-row state (doubles x2) */
        rc = ctr__obj_ws_add(&n, b);
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, obj->tile);
    if (rc == CTR_OK) /* id index and masking sums */
        rc = ctr__obj_ws_add(&n, ctr__tiled_scratch_floats(b));
    if (rc == CTR_OK && b > INT64_MAX / obj->tile)
        rc = CTR_E_OVERFLOW;
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&n, b * obj->tile);
    if (rc == CTR_OK)
        *bytes = n;
    return rc;
}

/* ---- the shared core of both calls -------------------------------------------- */

typedef struct shared_args {
    const float *q;
    int64_t ldq;
    const float *k;       /* positive keys, b rows of ldk */
    int64_t ldk;
    const int64_t *k_rows; /* or: positive of i = keys row k_rows[i] */
    int64_t b, d;
    const float *neg;
    int64_t ldn, kneg;
    const int64_t *q_ids, *neg_ids, *self_idx;
    float *grad_q, *grad_k, *grad_neg;
} shared_args;

/* Carves the workspace and fills the queries, positives and initial state
 * (the positive is the first term of every row's online softmax). */
static void shared_setup(ctr_objective *obj, const shared_args *a,
                         ctr__tiled *t, float **kp, float **inv_q,
                         float **inv_k, float **lse, float **spos)
{
    const float inv_tau = (float)(1.0 / obj->temperature);
    ctr__carve c = {(char *)obj->ws, 0};
    const int64_t b = a->b, d = a->d;
    float *qs = ctr__carve_floats(&c, (size_t)(b * d));
    int64_t i;
    *kp = ctr__carve_floats(&c, (size_t)(b * d));
    t->g = ctr__carve_floats(&c, (size_t)(b * d));
    *inv_q = ctr__carve_floats(&c, (size_t)b);
    *inv_k = ctr__carve_floats(&c, (size_t)b);
    *lse = ctr__carve_floats(&c, (size_t)b);
    *spos = ctr__carve_floats(&c, (size_t)b);
    t->m = ctr__carve_floats(&c, (size_t)b);
    t->alpha = ctr__carve_floats(&c, (size_t)b);
    t->negmax = ctr__carve_floats(&c, (size_t)b);
    t->sum = (double *)(void *)ctr__carve_floats(&c, (size_t)(2 * b));
    t->negsum = (double *)(void *)ctr__carve_floats(&c, (size_t)(2 * b));
    t->negcnt = (int64_t *)(void *)ctr__carve_floats(&c, (size_t)(2 * b));
    t->colscale = ctr__carve_floats(&c, (size_t)obj->tile);
    t->s = ctr__carve_floats(&c, (size_t)(b * obj->tile));
    if (obj->normalize)
        ctr__normalize_rows(qs, a->q, b, d, a->ldq, inv_tau, *inv_q);
    else
        ctr__copy_scaled(qs, a->q, b, d, a->ldq, inv_tau);
    for (i = 0; i < b; i++) {
        const float *src = a->k_rows ? a->neg + a->k_rows[i] * a->ldn
                                     : a->k + i * a->ldk;
        if (obj->normalize)
            ctr__normalize_rows(*kp + i * d, src, 1, d, d, 1.0f, *inv_k + i);
        else
            memcpy(*kp + i * d, src, (size_t)d * sizeof(float));
        t->m[i] = ctr__vdot(qs + i * d, *kp + i * d, d);
        t->sum[i] = 1.0;
        t->negmax[i] = -INFINITY;
        t->negsum[i] = 0.0;
        t->negcnt[i] = 0;
    }
    memcpy(t->g, *kp, (size_t)(b * d) * sizeof(float));
    t->qs = qs;
    t->b = b;
    t->d = d;
    t->keys = a->neg;
    t->n = a->kneg;
    t->ld = a->ldn;
    t->normalize_keys = obj->normalize != 0;
    t->q_ids = a->q_ids;
    t->key_ids = a->neg_ids;
    t->self_idx = a->self_idx;
    t->tile = obj->tile;
    ctr__tiled_carve(t, &c);
}

static int shared_run(ctr_objective *obj, const shared_args *a,
                      ctr__obj_stats *st)
{
    const int64_t b = a->b, d = a->d;
    const double tau = obj->temperature;
    ctr__tiled t;
    float *kp, *inv_q, *inv_k, *lse, *spos;
    double loss = 0, correct = 0, pos = 0, neg = 0, negcnt = 0;
    int64_t i;
    int rc;
    shared_setup(obj, a, &t, &kp, &inv_q, &inv_k, &lse, &spos);
    if (a->grad_q == NULL)
        t.g = NULL;
    for (i = 0; i < b; i++)
        spos[i] = t.m[i];
    rc = ctr__tiled_forward(obj, &t);
    if (rc != CTR_OK)
        return rc;
    for (i = 0; i < b; i++) {
        const float s_pos = spos[i];
        double l = (double)t.m[i] + log(t.sum[i]);
        loss += l - s_pos;
        correct += s_pos > t.negmax[i];
        pos += s_pos;
        neg += t.negsum[i];
        negcnt += (double)t.negcnt[i];
        lse[i] = (float)l;
        if (!isfinite(l) || !isfinite(l - s_pos)) /* +inf or -inf logits */
            return ctr__fail(&obj->err, CTR_E_NUMERIC,
                             "logits overflow float (inputs too large for tau)");
    }
    if (a->grad_q != NULL) {
        for (i = 0; i < b; i++) {
            float *gq = a->grad_q + i * d;
            /* (g - sum k+) / (sum b tau): subtracting first keeps an
             * exact zero exact (K = 0, or a one-hot softmax) */
            memcpy(gq, t.g + i * d, (size_t)d * sizeof(float));
            ctr__vaxpy(gq, kp + i * d, (float)-t.sum[i], d);
            ctr__vscale(gq, (float)(1.0 / (t.sum[i] * (double)b * tau)), d);
        }
        if (obj->normalize)
            ctr__normalize_backward(a->grad_q, t.qs, d, (float)(1.0 / tau),
                                    inv_q, b, d);
    }
    if (a->grad_k != NULL) {
        for (i = 0; i < b; i++) {
            double p_pos = exp((double)spos[i] - (double)lse[i]);
            float *gk = a->grad_k + i * d;
            memset(gk, 0, (size_t)d * sizeof(float));
            ctr__vaxpy(gk, t.qs + i * d, (float)((p_pos - 1.0) / (double)b), d);
        }
        if (obj->normalize)
            ctr__normalize_backward(a->grad_k, kp, d, 1.0f, inv_k, b, d);
    }
    if (a->grad_neg != NULL && a->kneg > 0)
        ctr__tiled_key_grad(&t, lse, a->grad_neg, (float)(1.0 / (double)b));
    st->loss = loss / (double)b;
    st->accuracy = correct / (double)b;
    st->pos_sim = pos / (double)b * tau;
    st->neg_sim = negcnt > 0 ? neg / negcnt * tau : 0.0;
    st->chance_loss = log((double)a->kneg + 1.0);
    return CTR_OK;
}

/* ---- public calls ---------------------------------------------------------------- */

int ctr__obj_check_indices(ctr_objective *obj, const int64_t *idx,
                           int64_t count, int64_t n, const char *what)
{
    int64_t i;
    int rc = ctr__check_ptr(&obj->err, idx, what);
    for (i = 0; rc == CTR_OK && i < count; i++)
        if (idx[i] < 0 || idx[i] >= n)
            rc = ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                           "%s[%lld] = %lld is outside [0, %lld)", what,
                           (long long)i, (long long)idx[i], (long long)n);
    return rc;
}

/* Pointer, ld and size checks of the negatives (finiteness is checked
 * tile by tile during the pass). */
static int check_keys(ctr_objective *obj, const float *keys, int64_t n,
                      int64_t d, int64_t ld, const char *what)
{
    size_t bytes;
    if (n == 0)
        return CTR_OK;
    if (keys == NULL)
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG, "%s is NULL", what);
    if (ld < d)
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                         "leading dimension of %s (%lld) is < %lld", what,
                         (long long)ld, (long long)d);
    if (ctr__matrix_bytes(&bytes, n, ld, sizeof(float)) != CTR_OK ||
        n > INT32_MAX || ld > INT32_MAX) /* BLAS takes int dimensions */
        return ctr__fail(&obj->err, CTR_E_OVERFLOW, "%s is too large", what);
    return CTR_OK;
}

static int reserve_shared(ctr_objective *obj, int64_t b, int64_t d)
{
    size_t bytes;
    if (ctr__shared_ws(obj, &bytes, b, d) != CTR_OK)
        return ctr__fail(&obj->err, CTR_E_OVERFLOW,
                         "workspace size overflows");
    return ctr__obj_reserve(obj, bytes);
}

static int shared_check(ctr_objective *obj, const shared_args *a)
{
    int rc = ctr__obj_check_sizes(obj, a->b, a->d);
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, a->q, a->b, a->d, a->ldq, "q");
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, a->k, a->b, a->d, a->ldk, "k");
    if (rc == CTR_OK)
        rc = ctr__check_nonnegative(&obj->err, a->kneg, "kneg");
    if (rc == CTR_OK)
        rc = check_keys(obj, a->neg, a->kneg, a->d, a->ldn, "neg");
    if (rc == CTR_OK && a->neg_ids != NULL && a->q_ids == NULL)
        rc = ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                       "neg_ids given without q_ids");
    if (rc == CTR_OK && a->q_ids != NULL && a->neg_ids == NULL && a->kneg > 0)
        rc = ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                       "q_ids given without neg_ids");
    if (rc == CTR_OK)
        rc = reserve_shared(obj, a->b, a->d);
    return rc;
}

static int finish(ctr_objective *obj, int rc, const ctr__obj_stats *st,
                  double *loss)
{
    if (rc != CTR_OK)
        return rc;
    ctr__obj_publish(obj, st);
    if (loss != NULL)
        *loss = st->loss;
    return CTR_OK;
}

/* The checks and the run of both InfoNCE-against-shared-negatives calls. */
static int shared_call(ctr_objective *obj, int rc, const shared_args *a,
                       double *loss)
{
    ctr__obj_stats st;
    if (rc == CTR_OK)
        rc = shared_check(obj, a);
    if (rc == CTR_OK)
        rc = shared_run(obj, a, &st);
    return finish(obj, rc, &st, loss);
}

CTR_API int ctr_objective_infonce_shared(
    ctr_objective *obj, double *loss, const float *q, int64_t ldq,
    const float *k, int64_t ldk, int64_t b, int64_t d, const float *neg,
    int64_t ldn, int64_t kneg, const int64_t *q_ids, const int64_t *neg_ids,
    float *grad_q, float *grad_k, float *grad_neg)
{
    shared_args a;
    int rc;
    if (obj == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__obj_begin(obj, CTR_OBJECTIVE_INFONCE_SHARED,
                        "ctr_objective_infonce_shared");
    memset(&a, 0, sizeof(a));
    a.q = q, a.ldq = ldq, a.k = k, a.ldk = ldk, a.b = b, a.d = d;
    a.neg = neg, a.ldn = ldn, a.kneg = kneg;
    a.q_ids = kneg > 0 ? q_ids : NULL;
    a.neg_ids = kneg > 0 ? neg_ids : NULL;
    a.grad_q = grad_q, a.grad_k = grad_k, a.grad_neg = grad_neg;
    return shared_call(obj, rc, &a, loss);
}

/* The queue's valid rows (and ids, when q_ids asks for masking) as the
 * negatives of a. */
static int queue_negatives(ctr_objective *obj, const ctr_queue *queue,
                           int64_t d, const int64_t *q_ids, shared_args *a)
{
    const int64_t *ids = NULL;
    int64_t dim = 0;
    if (queue == NULL)
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG, "queue is NULL");
    if (ctr_queue_get_i64(queue, CTR_QUEUE_P_DIM, &dim) != CTR_OK ||
        ctr_queue_keys(queue, &a->neg, &a->kneg, &a->ldn) != CTR_OK ||
        ctr_queue_ids(queue, &ids, NULL) != CTR_OK)
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                         "queue cannot be read: %s",
                         ctr_queue_last_error(queue));
    if (dim != d)
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                         "queue keys have dimension %lld, d is %lld",
                         (long long)dim, (long long)d);
    if (q_ids != NULL && ids == NULL)
        return ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                         "q_ids given but the queue holds no ids");
    if (q_ids != NULL && a->kneg > 0)
        a->q_ids = q_ids, a->neg_ids = ids;
    return CTR_OK;
}

CTR_API int ctr_objective_infonce_queue(ctr_objective *obj, double *loss,
                                        const float *q, int64_t ldq,
                                        const float *k, int64_t ldk,
                                        int64_t b, int64_t d,
                                        const ctr_queue *queue,
                                        const int64_t *q_ids, float *grad_q,
                                        float *grad_k)
{
    shared_args a;
    int rc;
    if (obj == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__obj_begin(obj, CTR_OBJECTIVE_INFONCE_SHARED,
                        "ctr_objective_infonce_queue");
    memset(&a, 0, sizeof(a));
    a.q = q, a.ldq = ldq, a.k = k, a.ldk = ldk, a.b = b, a.d = d;
    a.grad_q = grad_q, a.grad_k = grad_k;
    if (rc == CTR_OK)
        rc = queue_negatives(obj, queue, d, q_ids, &a);
    return shared_call(obj, rc, &a, loss);
}

CTR_API int ctr_objective_bank_softmax(ctr_objective *obj, double *loss,
                                       const float *z, int64_t ldz, int64_t b,
                                       int64_t d, const float *bank,
                                       int64_t ldb, int64_t n,
                                       const int64_t *self_idx, float *grad_z)
{
    shared_args a;
    ctr__obj_stats st;
    int rc;
    if (obj == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__obj_begin(obj, CTR_OBJECTIVE_BANK_SOFTMAX,
                        "ctr_objective_bank_softmax");
    memset(&a, 0, sizeof(a));
    a.q = z, a.ldq = ldz, a.b = b, a.d = d;
    a.neg = bank, a.ldn = ldb, a.kneg = n;
    a.k_rows = self_idx, a.self_idx = self_idx, a.grad_q = grad_z;
    if (rc == CTR_OK)
        rc = ctr__obj_check_sizes(obj, b, d);
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, z, b, d, ldz, "z");
    if (rc == CTR_OK)
        rc = ctr__check_positive(&obj->err, n, "n");
    if (rc == CTR_OK)
        rc = check_keys(obj, bank, n, d, ldb, "bank");
    if (rc == CTR_OK)
        rc = ctr__obj_check_indices(obj, self_idx, b, n, "self_idx");
    if (rc == CTR_OK)
        rc = reserve_shared(obj, b, d);
    if (rc == CTR_OK)
        rc = shared_run(obj, &a, &st);
    if (rc == CTR_OK)
        st.chance_loss = log((double)n);
    return finish(obj, rc, &st, loss);
}
