/*
 * tiled_infonce.c - InfoNCE of b queries against their positive keys and
 * a set of keys shared by all of them (tiled_infonce.h): the core of
 * INFONCE_SHARED (a queue, bank rows, a caller matrix) and BANK_SOFTMAX
 * (full-softmax instance discrimination), on the tiled online softmax.
 */
#include "objectives/tiled_infonce.h"

#include <math.h>
#include <string.h>

#include "common/kernels.h"

int ctr__shared_workspace(const ctr_objective *obj, size_t *bytes, int64_t b,
                          int64_t d, int64_t k)
{
    size_t n = 0;
    int rc = CTR_OK, i;
    (void)k; /* the tiles bound the memory, whatever the key count */
    for (i = 0; i < 3 && rc == CTR_OK; i++) /* qs, kpos, g */
        rc = ctr__obj_ws_add(&n, b * d);
    for (i = 0; i < 12 && rc == CTR_OK; i++) /* per-row state (doubles x2) */
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

/* Carves the workspace and fills the queries, positives and initial state
 * (the positive is the first term of every row's online softmax). */
static void shared_setup(ctr_objective *obj, const ctr__shared_args *a,
                         ctr__tiled *t, float **kp, float **inv_q,
                         float **inv_k, float **spos)
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

int ctr__shared_run(ctr_objective *obj, const ctr__shared_args *a,
                    ctr__obj_stats *st)
{
    const int64_t b = a->b, d = a->d;
    const double tau = obj->temperature;
    ctr__tiled t;
    float *kp, *inv_q, *inv_k, *spos, *gbuf;
    double loss = 0, correct = 0, pos = 0, neg = 0, negcnt = 0;
    int64_t i;
    int rc;
    memset(&t, 0, sizeof(t)); /* no capture, every option off */
    shared_setup(obj, a, &t, &kp, &inv_q, &inv_k, &spos);
    gbuf = t.g; /* scratch of the key gradient's pass */
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
        /* the logits are qs . keys with qs = q / tau: d loss / d tau =
         * -(1 / tau) sum dloss/dS S = -<grad before the norm, qs> */
        st->grad_temperature = -ctr__rows_dot(a->grad_q, d, t.qs, d, b, d);
        st->has_grad_temperature = 1;
        if (obj->normalize)
            ctr__normalize_backward(a->grad_q, t.qs, d, (float)(1.0 / tau),
                                    inv_q, b, d);
    }
    if (a->grad_k != NULL) {
        for (i = 0; i < b; i++) {
            /* the positive's softmax entry, from the row's max and sum */
            double p_pos = exp((double)spos[i] - (double)t.m[i]) / t.sum[i];
            float *gk = a->grad_k + i * d;
            memset(gk, 0, (size_t)d * sizeof(float));
            ctr__vaxpy(gk, t.qs + i * d, (float)((p_pos - 1.0) / (double)b), d);
        }
        if (obj->normalize)
            ctr__normalize_backward(a->grad_k, kp, d, 1.0f, inv_k, b, d);
    }
    if (a->grad_neg != NULL && a->kneg > 0)
        ctr__tiled_key_grad(&t, gbuf, a->grad_neg, (float)(1.0 / (double)b));
    st->loss = loss / (double)b;
    st->accuracy = correct / (double)b;
    st->pos_sim = pos / (double)b * tau;
    st->neg_sim = negcnt > 0 ? neg / negcnt * tau : 0.0;
    st->chance_loss = log((double)a->kneg + 1.0);
    return CTR_OK;
}
