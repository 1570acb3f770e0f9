/*
 * contrastive/local_global.h - the local-global objective of Deep InfoMax
 * (Hjelm et al. 2019) and AMDIM (Bachman et al. 2019): global summary
 * vectors against the positions of a feature map, with the InfoNCE, JSD
 * and Donsker-Varadhan estimators and AMDIM's score options. Included by
 * contrastive.h; do not include it on its own. docs/local-global.md gives
 * the math and the upstream conventions; examples/dim trains with it.
 *
 * It is an objective kind (CTR_OBJECTIVE_LOCAL_GLOBAL): create it with
 * ctr_objective_create, read its statistics with ctr_objective_stat, save
 * it with ctr_objective_save, as every objective. Its many operands and
 * options travel in one struct, ctr_local_global_args, versioned by its
 * size (initialise it with ctr_local_global_args_init).
 *
 * Thread rule: one thread at a time per objective handle; the call uses
 * cBLAS at the host's BLAS thread count.
 */
#ifndef CONTRASTIVE_LOCAL_GLOBAL_H
#define CONTRASTIVE_LOCAL_GLOBAL_H

#ifdef __cplusplus
extern "C" {
#endif

/* The objective kind (ctr_objective_create), pinned like the kinds of
 * contrastive/objective.h. It reads no CTR_OBJECTIVE_P_* parameter (its
 * options are in ctr_local_global_args). Since 0.1.0. */
#define CTR_OBJECTIVE_LOCAL_GLOBAL 90

/* Estimators (ctr_local_global_args.estimator). u are the scores below;
 * "positives" are the b * p pairs (i, i, q), "negatives" the
 * b * (b - 1) * p pairs (i, j != i, q). */
/* InfoNCE: one anchor per positive pair (i, q), classified against every
 * negative of global i: loss = mean over (i, q) of
 * -log(e^u_iiq / (e^u_iiq + sum_{j != i, q'} e^u_ijq' [+ mask])).
 * Chance level log((b - 1) p + 1). Works at b = 1 (loss 0). */
#define CTR_MI_INFONCE 1
/* Jensen-Shannon (DIM's softplus form): loss = mean_pos softplus(-u) +
 * mean_neg softplus(u) (DIM's value plus the constant 2 log 2). Needs
 * b >= 2. Chance level 2 log 2. */
#define CTR_MI_JSD 2
/* Donsker-Varadhan: loss = log mean_neg e^u - mean_pos u, the log-sum-exp
 * shifted by the maximum negative score. Needs b >= 2. Chance level 0. */
#define CTR_MI_DV 3

/* Self pairs in the InfoNCE denominator (ctr_local_global_args.self_mask). */
/* Left out: anchor (i, q) sees its positive and the negatives only
 * (AMDIM's code; the clean softmax). Default. */
#define CTR_SELFPAIR_EXCLUDE 0
/* Counted with the constant score -10: DIM's reference infonce_loss, whose
 * denominator holds p extra terms e^-10 (no gradient). */
#define CTR_SELFPAIR_DIM 1

/* The operands and options of ctr_objective_local_global. Initialise with
 * ctr_local_global_args_init (it sets struct_size and the defaults: every
 * pointer NULL, sizes 0, estimator CTR_MI_INFONCE, self_mask
 * CTR_SELFPAIR_EXCLUDE, no scaling, no clipping, no penalty); fields may be
 * added at the end in later versions, and struct_size tells the library
 * which of them the caller knows.
 *
 *   g, ldg: the b x d global vectors, row i at g + i * ldg (ldg >= d).
 *   l: the local features, b images x p positions x d channels: element
 *       (j, q, c) at l + j * l_batch_stride + q * l_pos_stride +
 *       c * l_chan_stride (strides >= 1, in floats; the view must not
 *       overlap itself). A channels-last map (b, p, d) has strides
 *       (p * d, d, 1); an encoder's channels-first feature map (b, d, H, W),
 *       p = H * W, has strides (d * p, 1, p).
 *   grad_g: b x d, contiguous (may be NULL: not computed).
 *   grad_l: written at the same offsets as l's elements (same strides;
 *       floats of the buffer outside the view are not touched); may be
 *       NULL. Outputs must not overlap an input.
 *   scale_sqrt_d: 1 divides the scores by sqrt(d) (AMDIM), 0 does not.
 *   clip: 0 (none) or c > 0: scores soft-clipped to c tanh(s / c) (AMDIM:
 *       c = 20). At most 1e6.
 *   penalty: lambda >= 0 (at most 1e6): adds lambda * mean(s^2) over all
 *       b * b * p scores s, taken after the scaling and before the
 *       clipping (AMDIM: 0.05).
 * Since 0.1.0. */
typedef struct ctr_local_global_args {
    uint32_t struct_size; /* sizeof(ctr_local_global_args) as the caller knows it */
    int32_t estimator;    /* CTR_MI_* */
    int64_t b, p, d;      /* images, positions, dimension */
    const float *g;
    int64_t ldg;
    const float *l;
    int64_t l_batch_stride, l_pos_stride, l_chan_stride;
    int32_t self_mask;    /* CTR_SELFPAIR_*, InfoNCE only */
    int32_t scale_sqrt_d; /* 0 or 1 */
    double clip;          /* 0: none */
    double penalty;       /* lambda */
    float *grad_g;
    float *grad_l;
} ctr_local_global_args;

/* Sets struct_size and the defaults above.
 * Errors: CTR_E_INVALID_ARG if a is NULL. Thread-safe. Since 0.1.0. */
CTR_API int ctr_local_global_args_init(ctr_local_global_args *a);

/* The local-global objective (kind CTR_OBJECTIVE_LOCAL_GLOBAL).
 * Scores: s_ijq = alpha g_i . l_jq with alpha = 1 / sqrt(d) when
 * scale_sqrt_d is set, else 1; u_ijq = clip * tanh(s_ijq / clip) when clip
 * is set, else s_ijq. The loss is the estimator's (CTR_MI_*) on u, plus
 * penalty * mean(s^2); loss receives it (may be NULL), and grad_g, grad_l
 * its gradients. For AMDIM's pairs across two augmented views call it for
 * (g of view 1, l of view 2) and (g of view 2, l of view 1) and add the
 * losses and gradients.
 * Statistics (ctr_objective_stat): LOSS; ACCURACY the fraction of anchors
 * (i, q) whose positive score is strictly above every negative of global
 * i; POS_SIM / NEG_SIM the mean dot product g_i . l_jq (unscaled) of the
 * positives / negatives (0 without negatives); CHANCE_LOSS the
 * estimator's loss when every score is equal (above).
 * Work: three GEMMs of b x (b p) x d (scores, grad_g, grad_l; fewer without
 * gradients) and O(b * b * p) elementwise; a layout other than
 * channels-last with l_pos_stride >= d is first copied. Workspace
 * (ctr_objective_workspace_size with k = p gives the most any options
 * need): b * b * p floats (twice with clip or penalty) + 2 b * p * d.
 * Errors: CTR_E_INVALID_ARG (NULL obj, args, g or l; struct_size unknown;
 * b, p or d < 1; ldg < d; a stride < 1 or a view overlapping itself;
 * unknown estimator or self_mask; b < 2 for JSD or DV; scale_sqrt_d not 0
 * or 1; clip or penalty out of range; wrong kind), CTR_E_OVERFLOW,
 * CTR_E_NUMERIC (NaN/Inf in g or l, or scores overflowing float: nothing
 * written), CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_objective_local_global(ctr_objective *obj, double *loss,
                                       const ctr_local_global_args *args);

#ifdef __cplusplus
}
#endif

#endif /* CONTRASTIVE_LOCAL_GLOBAL_H */
