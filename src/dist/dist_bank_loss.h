/*
 * dist_bank_loss.h - what the losses over a sharded bank (dist_nce.c,
 * dist_bank_softmax.c) share: the call's operands and checks, the
 * agreement record, the gathered and scaled anchors of every rank, and
 * this rank's gradient rows from the all-reduced sums.
 */
#ifndef CTR_DIST_BANK_LOSS_H
#define CTR_DIST_BANK_LOSS_H

#include "dist/dist_bank.h"
#include "objectives/kind.h"

typedef struct ctr__bank_call {
    ctr_objective *obj;
    double *loss;
    const float *z;
    int64_t ldz, b, d;
    const ctr_bank *shard;
    int64_t n;
    const int64_t *self_idx;
    float *grad_z;
    /* set by ctr__bank_call_begin once the ranks agree */
    int64_t big, first, count; /* B = size b; this rank's rows */
    const float *rows;         /* the shard's count x d rows */
} ctr__bank_call;

/* This rank's checks (kind, shard, sizes, finite z, self_idx in [0, n),
 * extra_status: the caller's own), then the agreement record (b, d, n,
 * gradients requested, extra value: e.g. kn, the objective's state). On
 * success fills the derived fields and reserves ws_bytes of the comm's
 * workspace (bytes computed by the caller; 0 on a failed status). */
int ctr__bank_call_begin(ctr_comm *c, ctr__bank_call *k, int32_t kind,
                         int extra_status, int64_t extra, size_t ws_bytes,
                         const char *extra_name);

/* 63 bits of the objective's parameters and NCE state (equal on every
 * rank that must compute the same thing). */
int64_t ctr__bank_obj_fingerprint(const ctr_objective *obj);

/* Every rank's b anchors gathered (zsend b x d, zall B x d scratch) and
 * scaled as the single-process objective scales them: qs (B x d) = z / tau
 * or normalize(z) / tau, inv (B) the inverse norms. */
int ctr__bank_gather_anchors(ctr_comm *c, const ctr__bank_call *k,
                             float *zsend, float *zall, float *qs, float *inv,
                             const char *what);

/* grad_z <- this rank's rows of acc (B x d, the all-reduced gradient with
 * respect to qs, times B tau) / (B tau), back through the normalisation. */
void ctr__bank_own_grads(const ctr_comm *c, const ctr__bank_call *k,
                         const float *acc, const float *qs, const float *inv);

#endif /* CTR_DIST_BANK_LOSS_H */
