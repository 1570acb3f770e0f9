/*
 * tiled_infonce.h - InfoNCE against keys shared by every query, on the
 * tiled online softmax: the workspace and run of INFONCE_SHARED and
 * BANK_SOFTMAX (each kind checks its own call's operands), and the
 * workspace NCE adds for its exact Z.
 */
#ifndef CTR_TILED_INFONCE_H
#define CTR_TILED_INFONCE_H

#include "objectives/tiled.h"

/* The operands, checked by the kind: b queries q against their positives
 * (b rows k, or rows k_rows of neg) and the kneg shared keys neg. */
typedef struct ctr__shared_args {
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
} ctr__shared_args;

/* Bytes of workspace for b queries of dimension d, whatever the number k
 * of shared keys (the tile bounds it); a ctr__obj_kind.workspace. */
int ctr__shared_workspace(const ctr_objective *obj, size_t *bytes, int64_t b,
                          int64_t d, int64_t k);
/* Loss, statistics (chance level log(kneg + 1)) and the requested
 * gradients, with the workspace reserved. CTR_E_NUMERIC for a NaN/Inf key
 * or overflowing logits. */
int ctr__shared_run(ctr_objective *obj, const ctr__shared_args *a,
                    ctr__obj_stats *st);

#endif /* CTR_TILED_INFONCE_H */
