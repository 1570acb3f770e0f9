/*
 * dist_bank_softmax.c - full-softmax instance discrimination (Wu et al.'s
 * non-NCE path) over a memory bank sharded over the ranks: exactly
 * ctr_objective_bank_softmax over the global batch and the whole bank.
 *
 * Partial softmax: every rank gathers the B anchors and runs the tiled
 * online softmax of all of them over its own rows (its anchors' own rows
 * masked and taken as each row's first term, as the single-process call
 * does), giving per anchor a reference m_r, a sum s_r of exp(logit - m_r)
 * and g_r, the sum of exp(logit - m_r) times the row. One all-gather of
 * (m_r, s_r, the positive's logit) - 3 B values per rank - lets every rank
 * form the global log-sum-exp and the loss; one all-reduce of the B x d
 * blocks g_r exp(m_r - M) / S (minus the positive row at its owner) gives
 * the gradient. The bank itself never moves.
 */
#include <math.h>
#include <string.h>

#include "common/kernels.h"
#include "dist/dist_bank_loss.h"
#include "objectives/tiled.h"

/* Values per anchor in the all-gather: m, s (double bits), positive. */
#define STAT 3

typedef struct sm_ws {
    int64_t *self_all, *self_send, *self_local; /* B, b, B */
    int64_t *st_send, *st_all;                  /* 3 B, 3 B size */
    double *lse;                                /* B: M + log S */
    float *zsend, *zall, *qs, *inv, *kp, *spos;
    ctr__carve rest;                            /* the tiled pass's */
} sm_ws;

static int sm_ws_bytes(const ctr_comm *c, const ctr_objective *obj,
                       int64_t b, int64_t d, size_t *bytes)
{
    const int64_t big = b * c->size;
    size_t ints = 0, floats = 0, tiled = 0;
    int rc = ctr__matrix_bytes(&ints, big, 6 + 3 * c->size, sizeof(int64_t));
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&floats, big * d * 5 + 3 * big + 64);
    if (rc == CTR_OK) /* the tiled state: m, alpha, negmax, 3 doubles, tile */
        rc = ctr__obj_ws_add(&tiled, 9 * big + obj->tile +
                                         ctr__tiled_scratch_floats(big) + 64);
    if (rc == CTR_OK && big > INT64_MAX / obj->tile)
        rc = CTR_E_OVERFLOW;
    if (rc == CTR_OK)
        rc = ctr__obj_ws_add(&tiled, big * obj->tile);
    if (rc == CTR_OK)
        rc = ctr__add_size(bytes, ints, floats);
    if (rc == CTR_OK)
        rc = ctr__add_size(bytes, *bytes, tiled);
    return rc;
}

static void sm_carve(ctr_comm *c, sm_ws *w, int64_t b, int64_t d)
{
    const int64_t big = b * c->size;
    w->self_all = (int64_t *)c->ws;
    w->self_send = w->self_all + big;
    w->self_local = w->self_send + b;
    w->st_send = w->self_local + big;
    w->st_all = w->st_send + STAT * big;
    w->lse = (double *)(void *)(w->st_all + STAT * big * c->size);
    w->rest.base = (char *)(void *)(w->lse + big);
    w->rest.used = 0;
    w->zsend = ctr__carve_floats(&w->rest, (size_t)(b * d));
    w->zall = ctr__carve_floats(&w->rest, (size_t)(big * d));
    w->qs = ctr__carve_floats(&w->rest, (size_t)(big * d));
    w->kp = ctr__carve_floats(&w->rest, (size_t)(big * d));
    w->inv = ctr__carve_floats(&w->rest, (size_t)big);
    w->spos = ctr__carve_floats(&w->rest, (size_t)big);
}

/* The online softmax state of every anchor over this rank's rows; an
 * anchor whose own row is here starts from it (m = its logit, sum 1,
 * g = the row), as ctr_objective_bank_softmax starts every anchor. */
static void sm_setup(const ctr__bank_call *k, sm_ws *w, ctr__tiled *t)
{
    int64_t i;
    float *kinv = ctr__carve_floats(&w->rest, (size_t)k->big);
    memset(t, 0, sizeof(*t));
    t->g = ctr__carve_floats(&w->rest, (size_t)(k->big * k->d));
    t->m = ctr__carve_floats(&w->rest, (size_t)k->big);
    t->alpha = ctr__carve_floats(&w->rest, (size_t)k->big);
    t->negmax = ctr__carve_floats(&w->rest, (size_t)k->big);
    t->sum = (double *)(void *)ctr__carve_floats(&w->rest, (size_t)(2 * k->big));
    t->negsum = (double *)(void *)ctr__carve_floats(&w->rest, (size_t)(2 * k->big));
    t->negcnt = (int64_t *)(void *)ctr__carve_floats(&w->rest, (size_t)(2 * k->big));
    t->colscale = ctr__carve_floats(&w->rest, (size_t)k->obj->tile);
    t->s = ctr__carve_floats(&w->rest, (size_t)(k->big * k->obj->tile));
    memset(t->g, 0, (size_t)(k->big * k->d) * sizeof(float));
    for (i = 0; i < k->big; i++) {
        const int64_t r = w->self_all[i] - k->first;
        float *kp = w->kp + i * k->d, *qi = w->qs + i * k->d;
        w->self_local[i] = r;
        t->m[i] = -INFINITY, t->sum[i] = 0.0;
        t->negmax[i] = -INFINITY, t->negsum[i] = 0.0, t->negcnt[i] = 0;
        if (r < 0 || r >= k->count)
            continue;
        if (k->obj->normalize)
            ctr__normalize_rows(kp, k->rows + r * k->d, 1, k->d, k->d, 1.0f,
                                kinv + i);
        else
            memcpy(kp, k->rows + r * k->d, (size_t)k->d * sizeof(float));
        w->spos[i] = t->m[i] = ctr__vdot(qi, kp, k->d);
        t->sum[i] = 1.0;
        memcpy(t->g + i * k->d, kp, (size_t)k->d * sizeof(float));
    }
    t->qs = w->qs, t->b = k->big, t->d = k->d;
    t->keys = k->rows, t->n = k->count, t->ld = k->d;
    t->normalize_keys = k->obj->normalize != 0;
    t->self_idx = w->self_local;
    t->tile = k->obj->tile;
    ctr__tiled_carve(t, &w->rest);
}

/* (m, s, positive) of every anchor, every rank's in rank order. */
static int sm_exchange(ctr_comm *c, const ctr__bank_call *k, sm_ws *w,
                       const ctr__tiled *t)
{
    int64_t i;
    for (i = 0; i < k->big; i++) {
        const int64_t r = w->self_all[i] - k->first;
        w->st_send[i * STAT] = ctr__comm_f64_bits((double)t->m[i]);
        w->st_send[i * STAT + 1] = ctr__comm_f64_bits(t->sum[i]);
        w->st_send[i * STAT + 2] = ctr__comm_f64_bits(
            r >= 0 && r < k->count ? (double)w->spos[i] : 0.0);
    }
    return ctr__comm_status(
        c, c->ops.allgather_i64(c->ops.user, w->st_send, w->st_all,
                                STAT * k->big),
        "ctr_comm_bank_softmax");
}

static double stat_of(const ctr__bank_call *k, const sm_ws *w, int64_t r,
                      int64_t i, int v)
{
    return ctr__comm_bits_f64(w->st_all[(r * k->big + i) * STAT + v]);
}

/* lse_i = log sum_r s_r exp(m_r) over the ranks; the loss (the same on
 * every rank). */
static int sm_loss(ctr_comm *c, const ctr__bank_call *k, sm_ws *w,
                   double *loss)
{
    double total = 0.0;
    int64_t i, r;
    for (i = 0; i < k->big; i++) {
        double m = -INFINITY, s = 0.0, pos = 0.0;
        for (r = 0; r < c->size; r++)
            if (stat_of(k, w, r, i, 1) > 0.0 && stat_of(k, w, r, i, 0) > m)
                m = stat_of(k, w, r, i, 0);
        for (r = 0; r < c->size; r++) {
            const double sr = stat_of(k, w, r, i, 1);
            if (sr > 0.0)
                s += sr * exp(stat_of(k, w, r, i, 0) - m);
            pos += stat_of(k, w, r, i, 2);
        }
        w->lse[i] = m + log(s);
        if (!isfinite(w->lse[i]) || !isfinite(w->lse[i] - pos))
            return ctr__fail(&c->err, CTR_E_NUMERIC,
                             "logits overflow float (inputs too large for tau)");
        total += w->lse[i] - pos;
    }
    *loss = total / (double)k->big;
    return CTR_OK;
}

/* t->g <- this rank's part of d loss / d qs times B tau: g_r exp(m_r -
 * lse), minus the positive row where it lives here. */
static void sm_terms(const ctr__bank_call *k, const sm_ws *w, ctr__tiled *t)
{
    int64_t i;
    for (i = 0; i < k->big; i++) {
        const int64_t r = w->self_all[i] - k->first;
        float *g = t->g + i * k->d;
        if (t->sum[i] > 0.0)
            ctr__vscale(g, (float)exp((double)t->m[i] - w->lse[i]), k->d);
        if (r >= 0 && r < k->count)
            ctr__vaxpy(g, w->kp + i * k->d, -1.0f, k->d);
    }
}

static int sm_run(ctr_comm *c, const ctr__bank_call *k)
{
    const char *what = "ctr_comm_bank_softmax";
    double loss = 0.0;
    ctr__tiled t;
    sm_ws w;
    int rc;
    sm_carve(c, &w, k->b, k->d);
    rc = ctr__bank_gather_anchors(c, k, w.zsend, w.zall, w.qs, w.inv, what);
    if (rc == CTR_OK)
        rc = ctr__shard_gather_i64(c, k->self_idx, w.self_send, w.self_all,
                                   k->b, what);
    if (rc != CTR_OK)
        return rc;
    sm_setup(k, &w, &t);
    if (k->grad_z == NULL)
        t.g = NULL;
    rc = ctr__tiled_forward(k->obj, &t);
    if (rc != CTR_OK)
        return ctr__fail(&c->err, rc, "%s: %s", what,
                         ctr_objective_last_error(k->obj));
    rc = sm_exchange(c, k, &w, &t);
    if (rc == CTR_OK)
        rc = sm_loss(c, k, &w, &loss);
    if (rc == CTR_OK && k->grad_z != NULL) {
        sm_terms(k, &w, &t);
        rc = ctr__comm_allreduce_f32(c, t.g, k->big * k->d, what);
    }
    if (rc != CTR_OK)
        return rc;
    if (k->grad_z != NULL)
        ctr__bank_own_grads(c, k, t.g, w.qs, w.inv);
    *k->loss = loss;
    return CTR_OK;
}

CTR_API int ctr_comm_bank_softmax(ctr_comm *comm, ctr_objective *obj,
                                  double *loss, const float *z, int64_t ldz,
                                  int64_t b, int64_t d, const ctr_bank *shard,
                                  int64_t n, const int64_t *self_idx,
                                  float *grad_z)
{
    ctr__bank_call k = {obj, loss, z, ldz, b, d, shard, n, self_idx, grad_z,
                        0, 0, 0, NULL};
    size_t bytes = 0;
    int status = CTR_OK, rc;
    if (comm == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&comm->err);
    if (obj != NULL && b >= 1 && d >= 1 &&
        (b > INT64_MAX / comm->size / (d + 8) ||
         sm_ws_bytes(comm, obj, b, d, &bytes) != CTR_OK))
        status = ctr__fail(&comm->err, CTR_E_OVERFLOW, "sizes overflow");
    rc = ctr__bank_call_begin(comm, &k, CTR_OBJECTIVE_BANK_SOFTMAX, status,
                              obj != NULL ? ctr__bank_obj_fingerprint(obj) : 0,
                              bytes, "the objective's parameters");
    if (rc != CTR_OK)
        return rc;
    return sm_run(comm, &k);
}
