/*
 * inbatch.h - the in-batch softmax cross-entropy shared by the kinds whose
 * negatives are the other rows of the batch: INFONCE and NPAIR run it
 * whole (check, workspace, run); NTXENT takes the same operands and keeps
 * the same sums.
 */
#ifndef CTR_INBATCH_H
#define CTR_INBATCH_H

#include "objectives/kind.h"

/* The operands of a call on b anchors a and b positives p (b x d, leading
 * dimensions lda, ldp; NTXENT's two views z1, z2), with optional group
 * labels and gradients. */
typedef struct ctr__pair_args {
    const float *a, *p;
    int64_t lda, ldp, b, d;
    const int64_t *groups;
    float *grad_a, *grad_p;
} ctr__pair_args;

/* ctr__obj_kind.check and .workspace of the in-batch kinds (args is a
 * ctr__pair_args; k is ignored). */
int ctr__pair_check(ctr_objective *obj, void *args, ctr__obj_dims *dims);
int ctr__pair_workspace(const ctr_objective *obj, size_t *bytes, int64_t b,
                        int64_t d, int64_t k);

/* CTR_E_INVALID_ARG (with a message) when DECOUPLED is set and a row of
 * a b-row batch with these labels (may be NULL) would have no negative. */
int ctr__decoupled_check(ctr_objective *obj, int64_t b,
                         const int64_t *groups);
/* In-batch InfoNCE on checked operands with the workspace reserved. reg > 0
 * adds N-pair's L2 regulariser reg / 2 * sum of |x|^2 over the rows of a
 * and p to the loss (reg = lambda / b) and reg * x to the gradients. */
int ctr__pair_run(ctr_objective *obj, const ctr__pair_args *args, double reg,
                  ctr__obj_stats *st);

/* Sums of a row-wise softmax cross-entropy (NTXENT keeps the same). */
typedef struct ctr__ce_acc {
    double loss;     /* sum of row losses */
    double correct;  /* rows whose best candidate is a positive */
    double pos_sum, neg_sum; /* sums of logits */
    double pos_cnt, neg_cnt;
} ctr__ce_acc;

#endif /* CTR_INBATCH_H */
