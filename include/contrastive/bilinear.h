/*
 * contrastive/bilinear.h - CURL's bilinear critic (Srinivas et al. 2020):
 * in-batch contrast of queries against keys through a learned d x d
 * matrix W. Included by contrastive.h; do not include it on its own.
 * docs/frames.md gives the math and the upstream convention;
 * examples/curl uses it.
 *
 * The critic is an objective kind (CTR_OBJECTIVE_BILINEAR): create it
 * with ctr_objective_create, read its statistics with ctr_objective_stat,
 * save it with ctr_objective_save, as every objective. W is NOT in the
 * handle: it is a caller-owned float buffer, so the host trains it like
 * any parameter (ctr_optimizer_create with d * d parameters,
 * ctr_optimizer_step_buffer) and saves it with its own state.
 *
 * Thread rule: one thread at a time per objective handle. The call uses
 * cBLAS at the host's BLAS thread count.
 */
#ifndef CONTRASTIVE_BILINEAR_H
#define CONTRASTIVE_BILINEAR_H

#ifdef __cplusplus
extern "C" {
#endif

/* The objective kind of the bilinear critic (ctr_objective_create),
 * pinned like the kinds of contrastive/objective.h. It reads
 * CTR_OBJECTIVE_P_TEMPERATURE (default 1) and CTR_OBJECTIVE_P_NORMALIZE
 * (default 0): CURL's critic has neither. It ignores the other
 * parameters. Since 0.1.0. */
#define CTR_OBJECTIVE_BILINEAR 80

/* The bilinear critic (kind CTR_OBJECTIVE_BILINEAR).
 * q: b x d queries (leading dimension ldq >= d), k: b x d keys (ldk >= d),
 * w: the d x d matrix W, row-major, contiguous (leading dimension d).
 * Logits S = Q W K^T / tau, S_ij = q_i . (W k_j) / tau (with NORMALIZE 1,
 * q and k rows L2-normalised first, as torch.nn.functional.normalize,
 * with the gradient through the normalisation). Row i's positive is key i,
 * its negatives the other b - 1 keys: loss_i = logsumexp_j S_ij - S_ii
 * (computed max-subtracted, as CURL subtracts the row maximum before its
 * cross-entropy; the value is the same), loss = mean_i loss_i. b = 1
 * gives loss 0 and zero gradients.
 * grad_q, grad_k (b x d) and grad_w (d x d), each contiguous and may be
 * NULL (not computed), receive d loss / d q, d loss / d k and
 * d loss / d W (overwritten, not accumulated). CURL passes grad_k = NULL
 * (the key encoder is an EMA and gets no gradient).
 * Statistics (ctr_objective_stat): LOSS; ACCURACY the fraction of rows
 * whose positive scores strictly above every negative; POS_SIM / NEG_SIM
 * the mean diagonal / off-diagonal score q_i W k_j; CHANCE_LOSS log(b).
 * Work: six GEMMs, K W^T (b d d), S (b b d), and for the gradients
 * dS (K W^T) (b b d), dS^T Q (b b d), then W's (d b d) and k's (b d d).
 * Workspace (ctr_objective_workspace_size with k ignored): b*b + 2 b*d +
 * 2 b floats (+ 2 b*d with NORMALIZE), grown on the first call with given
 * shapes, then reused.
 * Errors: CTR_E_INVALID_ARG (NULL obj, q, k or w, b or d < 1, b or d >
 * 46340, ld < d, wrong kind), CTR_E_OVERFLOW, CTR_E_NUMERIC (NaN/Inf in
 * q, k or w, or logits overflowing float: nothing is written),
 * CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_objective_bilinear(ctr_objective *obj, double *loss,
                                   const float *q, int64_t ldq, const float *k,
                                   int64_t ldk, int64_t b, int64_t d,
                                   const float *w, float *grad_q,
                                   float *grad_k, float *grad_w);

#ifdef __cplusplus
}
#endif

#endif /* CONTRASTIVE_BILINEAR_H */
