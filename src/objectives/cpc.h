/*
 * cpc.h - the CPC critic (kind CTR_OBJECTIVE_CPC, contrastive/cpc.h):
 * its operands, its workspace plan and the per-step score functions of the
 * three negative policies. cpc.c is the kind (checks, table, public calls),
 * cpc_run.c the driver (layout, predictions, W gradients, outputs),
 * cpc_scores.c the scores, cross-entropy and their backward per policy.
 */
#ifndef CTR_CPC_H
#define CTR_CPC_H

#include "objectives/kind.h"

/* A call's operands, as given (strided views, caller layout). */
typedef struct ctr__cpc_args {
    const float *z, *c;
    int64_t zs, zt, cs, ct; /* sequence and time strides */
    int64_t b, t, d, dc, steps;
    const float *w, *bias;
    int32_t negatives;
    int64_t n_neg;
    ctr_rng *rng;
    const int64_t *neg_idx;
    float *grad_z, *grad_c, *grad_w, *grad_bias;
    double *step_acc;
    size_t ws_bytes; /* the exact workspace, computed by the check */
} ctr__cpc_args;

/* Which gradient blocks a call needs. */
typedef struct ctr__cpc_needs {
    int dz, dc, dw, db;
} ctr__cpc_needs;

/* Bytes of workspace for the shapes (CTR_E_OVERFLOW if they do not fit). */
int ctr__cpc_workspace(size_t *bytes, int64_t b, int64_t t, int64_t d,
                       int64_t dc, int64_t steps, int32_t negatives,
                       int64_t n_neg, const ctr__cpc_needs *needs);

/* Rows of the ALL policy's score block for n candidates. */
int64_t ctr__cpc_all_rows(int64_t n);

/* One step's state for the score functions. Rows are time-major
 * (row r = u * b + s); anchors are rows [0, na), the positive of anchor r
 * is row r + shift. p holds the na predictions (d floats each) and is
 * replaced by their gradients dL/dp when want_dp is set. */
typedef struct ctr__cpc_step {
    int64_t b, n, d, na, shift; /* n = b * t rows of zt */
    const float *zt;            /* n x d latents */
    float *p;                   /* na x d predictions */
    float *dzt;                 /* n x d, accumulated (may be NULL) */
    int want_dp;
    float inv_tau;
    float scale;                /* 1 / (K * na): dL/dscore factor */
    float *block;               /* score block of the policy */
    const int64_t *idx;         /* SAMPLED: na x n_neg rows of zt */
    int64_t n_neg;
    float *tmp;                 /* SAMPLED: d floats */
} ctr__cpc_step;

/* Sums of one step. */
typedef struct ctr__cpc_sums {
    double loss, correct, pos_sum, neg_sum, neg_cnt;
} ctr__cpc_sums;

/* Scores, cross-entropy, and (dzt, want_dp) their backward for one step of
 * each policy; accumulate into *sums. */
void ctr__cpc_batch_step(const ctr__cpc_step *st, ctr__cpc_sums *sums);
void ctr__cpc_all_step(const ctr__cpc_step *st, ctr__cpc_sums *sums);
void ctr__cpc_sampled_step(const ctr__cpc_step *st, ctr__cpc_sums *sums);

/* Loss, statistics and outputs of a checked call (workspace reserved). */
int ctr__cpc_run(ctr_objective *obj, const ctr__cpc_args *a,
                 ctr__obj_stats *st);

#endif /* CTR_CPC_H */
