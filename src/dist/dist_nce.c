/*
 * dist_nce.c - NCE against a memory bank sharded over the ranks (Wu et
 * al.'s Instance Discrimination, CMC, CRD), exactly the single-process
 * ctr_objective_nce over the global batch and the whole bank.
 *
 * Partial logits, not gathered rows: every rank gathers the B anchors and
 * their B (kn + 1) row indices, computes the logits of the entries whose
 * rows it owns (zero elsewhere) and one all-reduce gives every rank all
 * the logits - each the same bits as one process's, one value plus zeros.
 * Every rank then computes Z, the loss and the coefficients of all B
 * anchors (scalar work), the owners the gradient terms of their rows into
 * a B x d block, and a second all-reduce sums them. Moving rows instead
 * would cost B (kn + 1) d floats (docs/distributed.md, scaling).
 */
#include <math.h>
#include <string.h>

#include "common/kernels.h"
#include "dist/dist_bank_loss.h"
#include "objectives/nce.h"

/* The workspace, int64 and double blocks first. */
typedef struct nce_ws {
    int64_t *idx_all, *idx_send; /* B (kn+1), b (kn+1) */
    double *lz;                  /* B */
    float *l, *zsend, *zall, *qs, *inv, *acc;
} nce_ws;

static int nce_ws_bytes(const ctr_comm *c, int64_t b, int64_t d, int64_t kn,
                        size_t *bytes)
{
    const int64_t w = kn + 1, big = b * c->size;
    size_t ints, floats;
    if (b < 1 || d < 1 || kn < 1 || kn >= INT64_MAX / big / 2 ||
        ctr__matrix_bytes(&ints, big + b, w + 1, sizeof(int64_t)) != CTR_OK ||
        ctr__matrix_bytes(&floats, big, w + 4 * d + 1, sizeof(float)) != CTR_OK ||
        ctr__add_size(bytes, ints, floats) != CTR_OK)
        return CTR_E_OVERFLOW;
    return CTR_OK;
}

static void nce_carve(ctr_comm *c, nce_ws *ws, int64_t b, int64_t d,
                      int64_t kn)
{
    const int64_t w = kn + 1, big = b * c->size;
    ws->idx_all = (int64_t *)c->ws;
    ws->idx_send = ws->idx_all + big * w;
    ws->lz = (double *)(void *)(ws->idx_send + b * w);
    ws->l = (float *)(void *)(ws->lz + big);
    ws->zsend = ws->l + big * w;
    ws->zall = ws->zsend + b * d;
    ws->qs = ws->zall + big * d;
    ws->inv = ws->qs + big * d;
    ws->acc = ws->inv + big;
}

/* This rank's own status beyond the shared checks. */
static int nce_status(ctr_comm *c, const ctr_objective *obj,
                      const int64_t *noise_idx, int64_t b, int64_t d,
                      int64_t n, int64_t kn, size_t *bytes)
{
    if (obj != NULL && ctr_objective_kind(obj) == CTR_OBJECTIVE_NCE &&
        obj->nce_z_mode == CTR_NCE_Z_EXACT)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                         "CTR_NCE_Z_EXACT is not available over a sharded "
                         "bank (use FIXED or EMA)");
    if (kn < 1 || nce_ws_bytes(c, b > 0 ? b : 1, d > 0 ? d : 1, kn, bytes) !=
                      CTR_OK)
        return ctr__fail(&c->err, kn < 1 ? CTR_E_INVALID_ARG : CTR_E_OVERFLOW,
                         "kn must be >= 1 and size x b x kn x d fit");
    return ctr__shard_check_indices(c, noise_idx, b > 0 ? b * kn : 0, n,
                                    "noise_idx");
}

/* Logits of the entries this rank owns, zero elsewhere. */
static void owned_logits(const ctr__bank_call *k, const nce_ws *ws,
                         int64_t kn)
{
    const int64_t w = kn + 1;
    int64_t i, j;
    for (i = 0; i < k->big; i++)
        for (j = 0; j < w; j++) {
            const int64_t r = ws->idx_all[i * w + j] - k->first;
            ws->l[i * w + j] =
                r >= 0 && r < k->count
                    ? ctr__vdot(ws->qs + i * k->d, k->rows + r * k->d, k->d)
                    : 0.0f;
        }
}

/* acc (B x d) <- the owned rows' terms sum_j coef_ij v_j. */
static void owned_terms(const ctr__bank_call *k, const nce_ws *ws, int64_t kn)
{
    const int64_t w = kn + 1;
    int64_t i, j;
    memset(ws->acc, 0, (size_t)(k->big * k->d) * sizeof(float));
    for (i = 0; i < k->big; i++)
        for (j = 0; j < w; j++) {
            const int64_t r = ws->idx_all[i * w + j] - k->first;
            if (r >= 0 && r < k->count)
                ctr__vaxpy(ws->acc + i * k->d, k->rows + r * k->d,
                           ws->l[i * w + j], k->d);
        }
}

static void pack_indices(int64_t *send, const int64_t *self_idx,
                         const int64_t *noise_idx, int64_t b, int64_t kn)
{
    int64_t i;
    for (i = 0; i < b; i++) {
        send[i * (kn + 1)] = self_idx[i];
        memcpy(send + i * (kn + 1) + 1, noise_idx + i * kn,
               (size_t)kn * sizeof(int64_t));
    }
}

/* The loss over the gathered logits (the same on every rank). */
static int nce_loss(ctr_comm *c, const ctr__bank_call *k, const nce_ws *ws,
                    int64_t kn, double *state)
{
    const int64_t w = kn + 1;
    double v, sum;
    int64_t i;
    if (!ctr__all_finite(ws->l, k->big, w, w))
        return ctr__fail(&c->err, CTR_E_NUMERIC,
                         "logits overflow float (inputs too large for tau)");
    v = ctr__nce_log_z(k->obj, ws->l, k->big * w, k->n);
    for (i = 0; i < k->big; i++)
        ws->lz[i] = v;
    sum = ctr__nce_terms(ws->l, k->big, kn, k->n, ws->lz);
    if (!isfinite(sum) || !isfinite(v))
        return ctr__fail(&c->err, CTR_E_NUMERIC, "loss is not finite");
    *state = v;
    *k->loss = sum / (double)k->big;
    return CTR_OK;
}

static int nce_run(ctr_comm *c, const ctr__bank_call *k,
                   const int64_t *noise_idx, int64_t kn)
{
    const char *what = "ctr_comm_nce";
    const int64_t w = kn + 1;
    double state = 0.0, loss = 0.0;
    ctr__bank_call kk = *k;
    nce_ws ws;
    int rc;
    nce_carve(c, &ws, k->b, k->d, kn);
    pack_indices(ws.idx_send, k->self_idx, noise_idx, k->b, kn);
    rc = ctr__bank_gather_anchors(c, k, ws.zsend, ws.zall, ws.qs, ws.inv, what);
    if (rc == CTR_OK)
        rc = ctr__comm_status(c, c->ops.allgather_i64(c->ops.user, ws.idx_send,
                                                      ws.idx_all, k->b * w),
                              what);
    if (rc != CTR_OK)
        return rc;
    owned_logits(k, &ws, kn);
    rc = ctr__comm_allreduce_f32(c, ws.l, k->big * w, what);
    kk.loss = &loss;
    if (rc == CTR_OK)
        rc = nce_loss(c, &kk, &ws, kn, &state);
    if (rc == CTR_OK && k->grad_z != NULL) {
        owned_terms(k, &ws, kn);
        rc = ctr__comm_allreduce_f32(c, ws.acc, k->big * k->d, what);
    }
    if (rc != CTR_OK)
        return rc;
    if (k->grad_z != NULL)
        ctr__bank_own_grads(c, k, ws.acc, ws.qs, ws.inv);
    *k->loss = loss;
    ctr__nce_commit(k->obj, state);
    return CTR_OK;
}

CTR_API int ctr_comm_nce(ctr_comm *comm, ctr_objective *obj, double *loss,
                         const float *z, int64_t ldz, int64_t b, int64_t d,
                         const ctr_bank *shard, int64_t n,
                         const int64_t *self_idx, const int64_t *noise_idx,
                         int64_t kn, float *grad_z)
{
    ctr__bank_call k = {obj, loss, z, ldz, b, d, shard, n, self_idx, grad_z,
                        0, 0, 0, NULL};
    size_t bytes = 0;
    int status, rc;
    if (comm == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&comm->err);
    status = nce_status(comm, obj, noise_idx, b, d, n, kn, &bytes);
    rc = ctr__bank_call_begin(
        comm, &k, CTR_OBJECTIVE_NCE, status,
        status == CTR_OK && obj != NULL
            ? (int64_t)((uint64_t)ctr__bank_obj_fingerprint(obj) ^ (uint64_t)kn)
            : 0,
        bytes, "kn or the objective's parameters and Z");
    if (rc != CTR_OK)
        return rc;
    return nce_run(comm, &k, noise_idx, kn);
}
