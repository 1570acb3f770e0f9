/*
 * contrastive/distill.h - the classification side of knowledge
 * distillation: softmax cross-entropy on labels plus Hinton et al.'s KD
 * term (2015) against a frozen teacher's logits, with the gradient w.r.t.
 * the student's logits. Included by contrastive.h; do not include it on
 * its own. docs/crd.md gives the math, the upstream convention
 * (RepDistiller's DistillKL) and the CRD recipe that combines this call
 * with two memory banks and ctr_objective_nce.
 *
 * It is an objective kind (CTR_OBJECTIVE_DISTILL): create it with
 * ctr_objective_create, read its statistics with ctr_objective_stat, save
 * it with ctr_objective_save, as every objective.
 *
 * Thread rule: one thread at a time per objective handle.
 */
#ifndef CONTRASTIVE_DISTILL_H
#define CONTRASTIVE_DISTILL_H

#ifdef __cplusplus
extern "C" {
#endif

/* The objective kind of ctr_objective_distill (ctr_objective_create),
 * pinned like the kinds of contrastive/objective.h. It reads
 * CTR_OBJECTIVE_P_TEMPERATURE, the KD temperature T (default 4, as
 * RepDistiller's and CRD's experiments), and ignores the other
 * parameters. Since 0.1.0. */
#define CTR_OBJECTIVE_DISTILL 130

/* Cross-entropy + KD on class logits (kind CTR_OBJECTIVE_DISTILL).
 * student: b x c logits s (leading dimension lds >= c); teacher: b x c
 * logits t (ldt >= c, no gradient); labels: b class indices in [0, c).
 * With T the temperature and p(x) = softmax(x):
 *   loss = ce_weight * (1/b) sum_i -log p(s_i)[labels_i]
 *        + kd_weight * T^2 * (1/b) sum_i KL(p(t_i / T) || p(s_i / T)),
 * the KD term exactly RepDistiller's DistillKL (kl_div summed over the
 * batch, times T^2, divided by b); log-softmax is max-subtracted and
 * evaluated in double precision. A term whose weight is 0 is not computed
 * and its operand is not read (labels or teacher may then be NULL).
 * grad_student (b x c, contiguous, may be NULL; must not overlap an input)
 * receives d loss / d s = (ce_weight / b) (p(s_i) - onehot_i)
 *   + (kd_weight T / b) (p(s_i / T) - p(t_i / T)), overwritten.
 * Weights are finite, in [0, 1e6]. c = 1 gives loss 0 and a zero gradient.
 * Statistics (ctr_objective_stat): LOSS; ACCURACY the fraction of rows
 * whose target class scores strictly above every other student logit,
 * the target being the label when labels are read, else the teacher's
 * first top class; POS_SIM / NEG_SIM the mean student logit of the target
 * class / of the other classes (0 when c = 1); CHANCE_LOSS log(c).
 * Workspace: 3 c doubles, whatever b (ctr_objective_workspace_size with
 * d = c).
 * Errors: CTR_E_INVALID_ARG (NULL obj or student, a NULL operand whose
 * weight is positive, b or c < 1, ld < c, a label outside [0, c), a
 * negative weight or one above 1e6, wrong kind), CTR_E_OVERFLOW,
 * CTR_E_NUMERIC (NaN/Inf in a logit that is read or in a weight; nothing
 * written), CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_objective_distill(ctr_objective *obj, double *loss,
                                  const float *student, int64_t lds,
                                  const float *teacher, int64_t ldt,
                                  const int64_t *labels, int64_t b, int64_t c,
                                  double ce_weight, double kd_weight,
                                  float *grad_student);

#ifdef __cplusplus
}
#endif

#endif /* CONTRASTIVE_DISTILL_H */
