/*
 * contrastive/objective.h - contrastive objectives: loss and exact gradients
 * in one call, on plain float buffers. Included by contrastive.h; do not
 * include it on its own. docs/objectives.md gives the math of every call.
 *
 * An objective handle is created for one kind (CTR_OBJECTIVE_*); each kind
 * has one compute call (INFONCE_SHARED two: a caller matrix or a queue).
 * The handle holds the hyper-parameters, a workspace that grows on the
 * first call with given shapes (later calls with the same or smaller shapes
 * do not allocate), the statistics of the last call, and for NCE the
 * normaliser Z.
 *
 * Shared rules of the compute calls:
 *   - The loss is the MEAN over anchors; gradients are of exactly that
 *     scalar. `loss` (may be NULL) receives it.
 *   - Inputs are float32 row-major views with a leading dimension ld >= d.
 *     Gradient outputs are contiguous (leading dimension d), have the shape
 *     of the input they belong to, may be NULL (not computed), and must not
 *     overlap an input.
 *   - Logits are input dot products divided by the temperature tau, with
 *     max-subtracted log-sum-exp throughout.
 *   - NaN or Inf anywhere in an input gives CTR_E_NUMERIC (also when the
 *     logits of unnormalised inputs overflow float); nothing is written to
 *     the outputs and the handle's state (Z, statistics) is unchanged. Any
 *     error leaves outputs and state unchanged.
 *   - Errors: CTR_E_INVALID_ARG (NULL pointer, size < 1, ld < d, index out
 *     of range, call that does not match the kind), CTR_E_OVERFLOW (sizes
 *     whose byte counts do not fit), CTR_E_NUMERIC, CTR_E_NOMEM (workspace).
 *
 * Thread rule: one thread at a time per handle. The calls use cBLAS, at the
 * host's BLAS thread count (never changed by the library).
 */
#ifndef CONTRASTIVE_OBJECTIVE_H
#define CONTRASTIVE_OBJECTIVE_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctr_objective ctr_objective;

/* ---- kinds: pinned values, never reused ---------------------------------- */
/* InfoNCE with in-batch negatives: ctr_objective_infonce. */
#define CTR_OBJECTIVE_INFONCE 10
/* NT-Xent (SimCLR), 2B views: ctr_objective_ntxent. */
#define CTR_OBJECTIVE_NTXENT 20
/* InfoNCE against shared negatives (momentum queue or caller matrix):
 * ctr_objective_infonce_shared, ctr_objective_infonce_queue. */
#define CTR_OBJECTIVE_INFONCE_SHARED 30
/* Multi-class N-pair (Sohn 2016): ctr_objective_npair. */
#define CTR_OBJECTIVE_NPAIR 40
/* NCE against a memory bank (Wu et al. 2018, CMC, CRD): ctr_objective_nce. */
#define CTR_OBJECTIVE_NCE 50
/* Full-softmax instance discrimination over a bank:
 * ctr_objective_bank_softmax. */
#define CTR_OBJECTIVE_BANK_SOFTMAX 60
/* 70 is CTR_OBJECTIVE_CPC, the CPC critic (contrastive/cpc.h). */
/* 90 is CTR_OBJECTIVE_LOCAL_GLOBAL, DIM / AMDIM (contrastive/local_global.h). */
/* 130 is CTR_OBJECTIVE_DISTILL, cross-entropy + KD (contrastive/distill.h). */

/* ---- parameters (ctr_objective_set_f64 / set_i64 / get_*) -----------------
 * Every parameter is settable through both the f64 and the i64 setters (an
 * integer parameter given as f64 must be integral, a real one given as i64
 * at most 2^53 in magnitude) and readable through get_f64; get_i64 reads
 * the integer ones (the parameter rule of docs/conventions.md). The bounds
 * are those of ctr_objective_param_bounds. Defaults per kind are given
 * below. */
/* Temperature tau, in [0.001, 1000]. Default 0.07; NTXENT 0.5; NPAIR 1. */
#define CTR_OBJECTIVE_P_TEMPERATURE 100
/* 1: L2-normalise every input row inside the call (x / max(|x|, 1e-12),
 * as torch.nn.functional.normalize), with the gradient through the
 * normalisation; 0: use the rows as given. Default 1 for NTXENT, else 0. */
#define CTR_OBJECTIVE_P_NORMALIZE 110
/* 1: symmetric loss, the mean of the A->P and P->A directions (INFONCE and
 * NPAIR only; other kinds ignore it). Default 0. */
#define CTR_OBJECTIVE_P_SYMMETRIC 120
/* Negatives per tile for the tiled calls (INFONCE_SHARED, BANK_SOFTMAX,
 * NCE with exact Z), in [8, 1048576]; rounded up to a multiple of 8. The
 * workspace holds B x tile floats. Default 1024. */
#define CTR_OBJECTIVE_P_TILE 130
/* 1: decoupled contrastive loss (DCL, Yeh et al. 2022): a row's positives
 * are left out of its softmax denominator, loss_r = logsumexp over the
 * row's negatives - its positive logit (the mean of its positives with
 * groups). NTXENT, INFONCE and NPAIR; every row needs a negative (b >= 2,
 * and group labels not all equal). 0: the standard loss. Default 0. */
#define CTR_OBJECTIVE_P_DECOUPLED 140
/* N-pair regulariser weight lambda >= 0, in [0, 1000]: the loss adds
 * lambda * mean over the 2B embeddings of their squared L2 norm. Ignored
 * when NORMALIZE is 1 (cosine variant). Default 0.002. */
#define CTR_OBJECTIVE_P_NPAIR_LAMBDA 200
/* How NCE estimates the normaliser Z (CTR_NCE_Z_*). Default FIXED. */
#define CTR_OBJECTIVE_P_NCE_Z_MODE 300
/* EMA momentum m for CTR_NCE_Z_EMA, in [0, 1): Z <- m Z + (1 - m) Z_batch.
 * Default 0.99. */
#define CTR_OBJECTIVE_P_NCE_MOMENTUM 310

/* Values of CTR_OBJECTIVE_P_NCE_Z_MODE. */
/* Z = N * mean(exp(logits)) of the first batch, then fixed (Wu et al.). */
#define CTR_NCE_Z_FIXED 0
/* Z = EMA of the per-batch estimate, updated before the batch uses it. */
#define CTR_NCE_Z_EMA 1
/* Z_i = sum over all bank rows of exp(logit), per anchor, with its
 * gradient (exact softmax probabilities; one more pass over the bank). */
#define CTR_NCE_Z_EXACT 2

/* ---- statistics of the last successful compute call (ctr_objective_stat) */
/* Mean loss (the value the call returned). */
#define CTR_OBJECTIVE_S_LOSS 1
/* Pretext top-1 accuracy in [0, 1]: fraction of anchors whose positive
 * scores strictly above every (unmasked) negative. With groups: the top
 * scoring candidate is a positive. */
#define CTR_OBJECTIVE_S_ACCURACY 2
/* Mean similarity (dot product after optional normalisation, not divided
 * by tau) of positive pairs and of (unmasked) negative pairs. */
#define CTR_OBJECTIVE_S_POS_SIM 3
#define CTR_OBJECTIVE_S_NEG_SIM 4
/* Chance-level loss log(K + 1), K = negatives per anchor of the call. */
#define CTR_OBJECTIVE_S_CHANCE_LOSS 5
/* NCE: the current normaliser Z (FIXED/EMA; the mean over anchors of Z_i
 * for EXACT), and its natural logarithm. CTR_E_STAGE before Z exists. */
#define CTR_OBJECTIVE_S_NCE_Z 6
#define CTR_OBJECTIVE_S_NCE_LOG_Z 7
/* Number of successful compute calls since create / reset. */
#define CTR_OBJECTIVE_S_CALLS 8
/* d loss / d tau of the last call at its inputs (for a learned
 * temperature; d loss / d log tau = tau * this). Given by the calls that
 * computed the input gradient it derives from: NTXENT with grad_z1 and
 * grad_z2, INFONCE / NPAIR with grad_a or grad_p, INFONCE_SHARED with
 * grad_q; CTR_E_STAGE otherwise. */
#define CTR_OBJECTIVE_S_GRAD_TEMPERATURE 9

/* Creates an objective of the given kind with that kind's defaults.
 * alloc may be NULL (system allocator).
 * Errors: CTR_E_INVALID_ARG (out NULL, unknown kind, bad allocator),
 * CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_objective_create(ctr_objective **out, int32_t kind,
                                 const ctr_allocator *alloc);

/* Frees the handle and its workspace. NULL is accepted. Since 0.1.0. */
CTR_API void ctr_objective_destroy(ctr_objective *obj);

/* The kind the handle was created with (0 for NULL). Since 0.1.0. */
CTR_API int32_t ctr_objective_kind(const ctr_objective *obj);

/* Sets / reads a parameter (CTR_OBJECTIVE_P_*). Setting a parameter does
 * not clear the statistics or Z.
 * Errors: CTR_E_INVALID_ARG (NULL, unknown parameter, value out of bounds
 * or not integral for an integer parameter: the old value stays; get_i64
 * of a real parameter), CTR_E_NUMERIC (NaN / Inf value). Since 0.1.0. */
CTR_API int ctr_objective_set_f64(ctr_objective *obj, int32_t param,
                                  double value);
CTR_API int ctr_objective_set_i64(ctr_objective *obj, int32_t param,
                                  int64_t value);
CTR_API int ctr_objective_get_f64(const ctr_objective *obj, int32_t param,
                                  double *value);
CTR_API int ctr_objective_get_i64(const ctr_objective *obj, int32_t param,
                                  int64_t *value);

/* The inclusive bounds of a parameter. Errors: CTR_E_INVALID_ARG (NULL
 * output, unknown parameter). Thread-safe. Since 0.1.0. */
CTR_API int ctr_objective_param_bounds(int32_t param, double *lo, double *hi);

/* Reads a statistic (CTR_OBJECTIVE_S_*) of the last successful compute.
 * Errors: CTR_E_INVALID_ARG (NULL, unknown statistic), CTR_E_STAGE (no
 * successful call yet; Z not yet estimated). Since 0.1.0. */
CTR_API int ctr_objective_stat(const ctr_objective *obj, int32_t stat,
                               double *value);

/* Bytes of workspace the compute call of this handle's kind needs for b
 * anchors of dimension d with k negatives per anchor (INFONCE_SHARED: the
 * negative rows; NCE: noise rows per anchor; other kinds ignore k), with
 * the current parameters. This is all the memory a call allocates; it is
 * kept by the handle for later calls.
 * Errors: CTR_E_INVALID_ARG (NULL, b or d < 1, k < 0), CTR_E_OVERFLOW.
 * Since 0.1.0. */
CTR_API int ctr_objective_workspace_size(const ctr_objective *obj,
                                         size_t *bytes, int64_t b, int64_t d,
                                         int64_t k);

/* Clears the statistics, the call count and the NCE normaliser Z (the next
 * NCE call estimates it again); parameters and workspace stay.
 * Errors: CTR_E_INVALID_ARG (NULL). Since 0.1.0. */
CTR_API int ctr_objective_reset(ctr_objective *obj);

/* InfoNCE with in-batch negatives (CPC, CURL; kind CTR_OBJECTIVE_INFONCE).
 * a, p: b x d anchors and positives (leading dimensions lda, ldp >= d).
 * Logits S = A P^T / tau (rows normalised first when NORMALIZE is 1).
 * Without groups, row i's positive is p[i] and its negatives the other b-1
 * rows of p: loss_i = logsumexp_j S_ij - S_ii.
 * groups (may be NULL): b labels; row i's positives are every j with
 * groups[j] == groups[i] (supervised-contrastive / VIVI style):
 * loss_i = logsumexp_j S_ij - mean over positives j of S_ij.
 * SYMMETRIC 1 averages this with the same loss on S^T (P as anchors).
 * loss = mean_i loss_i. grad_a, grad_p (b x d, may be NULL) receive
 * d loss / d a and d loss / d p. Workspace: about b*b (2 b*b symmetric) +
 * 2 b*d floats. Since 0.1.0. */
CTR_API int ctr_objective_infonce(ctr_objective *obj, double *loss,
                                  const float *a, int64_t lda, const float *p,
                                  int64_t ldp, int64_t b, int64_t d,
                                  const int64_t *groups, float *grad_a,
                                  float *grad_p);

/* NT-Xent (SimCLR; kind CTR_OBJECTIVE_NTXENT). z1, z2: the two views of b
 * samples (b x d, leading dimensions ld1, ld2). The 2b rows Z = [z1; z2]
 * (normalised when NORMALIZE is 1, the default) give S = Z Z^T / tau; row
 * r's positive is the other view of its sample, its negatives the other
 * 2b-2 rows, the diagonal (self similarity) is masked out:
 * loss_r = logsumexp_{c != r} S_rc - S_r,pos(r), loss = mean over the 2b
 * rows (both directions averaged). groups (may be NULL, b labels shared by
 * both views): positives of r are all rows c != r of the same group
 * (SupCon "L_out"). grad_z1, grad_z2: b x d, may be NULL. Each
 * similarity is computed once (S is symmetric to the bit), so the gradient
 * is exact for any tau and input scale.
 * Workspace: about 4 b*b + 2 b*d floats. Since 0.1.0. */
CTR_API int ctr_objective_ntxent(ctr_objective *obj, double *loss,
                                 const float *z1, int64_t ld1,
                                 const float *z2, int64_t ld2, int64_t b,
                                 int64_t d, const int64_t *groups,
                                 float *grad_z1, float *grad_z2);

/* InfoNCE against negatives shared by all anchors (kind
 * CTR_OBJECTIVE_INFONCE_SHARED): MoCo's queue (pass the queue's filled rows
 * as neg), memory-bank rows, or any caller matrix.
 * q, k: b x d queries and positive keys (ldq, ldk >= d); neg: kneg x d
 * negatives (ldn >= d; kneg may be 0: an empty queue, loss 0; neg may be
 * NULL only then). Logits of query i: [q_i.k_i, q_i.neg_1, ...,
 * q_i.neg_kneg] / tau, loss_i = cross-entropy with the positive as target,
 * loss = mean_i loss_i.
 * q_ids (b) and neg_ids (kneg) are optional instance ids (both or neither):
 * negative j is left out of query i's logits when neg_ids[j] == q_ids[i]
 * (duplicates of the anchor's own instance in a queue).
 * grad_q, grad_k (b x d) and grad_neg (kneg x d) may each be NULL; MoCo
 * passes grad_neg = NULL (the queue gets no gradient).
 * Negatives are processed in tiles of TILE rows with an online softmax: no
 * b x kneg logits exist; the work is the logits GEMM and the gradient GEMM
 * per tile (two more per tile when grad_neg is requested: a second pass).
 * Workspace: b*TILE + 3 b*d + O(b + TILE) floats, independent of kneg
 * (ctr_objective_workspace_size). Since 0.1.0. */
CTR_API int ctr_objective_infonce_shared(
    ctr_objective *obj, double *loss, const float *q, int64_t ldq,
    const float *k, int64_t ldk, int64_t b, int64_t d, const float *neg,
    int64_t ldn, int64_t kneg, const int64_t *q_ids, const int64_t *neg_ids,
    float *grad_q, float *grad_k, float *grad_neg);

/* The same loss with a momentum queue's valid rows as the negatives (kind
 * CTR_OBJECTIVE_INFONCE_SHARED; MoCo): exactly ctr_objective_infonce_shared
 * with neg, ldn, kneg from ctr_queue_keys. queue must hold keys of
 * dimension d; it is only read (no gradient; an empty queue gives loss 0).
 * q_ids (b, may be NULL) masks the queue's copies of each query's own
 * instance: it needs a queue created with CTR_QUEUE_IDS. Enqueue the
 * batch's keys after the call, as MoCo does.
 * Errors: as ctr_objective_infonce_shared, and CTR_E_INVALID_ARG for a
 * NULL queue, a dimension other than d, or q_ids with a queue without ids.
 * Since 0.1.0. */
CTR_API int ctr_objective_infonce_queue(ctr_objective *obj, double *loss,
                                        const float *q, int64_t ldq,
                                        const float *k, int64_t ldk,
                                        int64_t b, int64_t d,
                                        const ctr_queue *queue,
                                        const int64_t *q_ids, float *grad_q,
                                        float *grad_k);

/* Multi-class N-pair loss (Sohn 2016; kind CTR_OBJECTIVE_NPAIR). a, p: b
 * pairs (b x d) from b distinct classes. S = A P^T / tau, loss = mean_i
 * (logsumexp_j S_ij - S_ii) + lambda * (1 / 2b) sum_i (|a_i|^2 + |p_i|^2).
 * Default (paper): raw dot products, tau 1, lambda NPAIR_LAMBDA = 0.002
 * (TensorFlow's npairs_loss reg_lambda = 2 lambda). NORMALIZE 1 gives the
 * cosine variant (pytorch-metric-learning): normalised rows, temperature
 * applies, no regulariser. SYMMETRIC applies as for INFONCE.
 * grad_a, grad_p: b x d, may be NULL. Workspace as INFONCE. Since 0.1.0. */
CTR_API int ctr_objective_npair(ctr_objective *obj, double *loss,
                                const float *a, int64_t lda, const float *p,
                                int64_t ldp, int64_t b, int64_t d,
                                float *grad_a, float *grad_p);

/* NCE against a memory bank (Wu et al. 2018; kind CTR_OBJECTIVE_NCE).
 * z: b x d embeddings (ldz; normalised inside when NORMALIZE is 1).
 * bank: n x d rows (ldb), read only, no gradient. self_idx (b): each
 * anchor's own bank row (its positive). noise_idx: b x kn indices (row i at
 * noise_idx + i*kn), drawn by the caller or the memory bank (uniform for
 * Wu et al., class-aware for CRD). Every index must be in [0, n).
 * x_ij = exp(z_i . v_j / tau) / Z, h(x) = x / (x + kn / n);
 * loss_i = -log h(x_i,self) - sum_noise log(1 - h(x_ij)); loss = mean_i.
 * Z by NCE_Z_MODE: FIXED (n * mean of exp(logits) over the first batch's
 * b (kn+1) entries, then kept), EMA, or EXACT (per anchor over all n rows,
 * with its gradient). In FIXED/EMA modes Z is a constant of the gradient,
 * as in the paper's implementation. grad_z (b x d) may be NULL.
 * Workspace: b*(kn+1) + 2 b*d floats (EXACT: + b*TILE + 2 b*(kn+1)).
 * Since 0.1.0. */
CTR_API int ctr_objective_nce(ctr_objective *obj, double *loss,
                              const float *z, int64_t ldz, int64_t b,
                              int64_t d, const float *bank, int64_t ldb,
                              int64_t n, const int64_t *self_idx,
                              const int64_t *noise_idx, int64_t kn,
                              float *grad_z);

/* Full-softmax instance discrimination (Wu et al.'s non-NCE path; kind
 * CTR_OBJECTIVE_BANK_SOFTMAX): logits z_i . bank^T / tau over all n rows,
 * loss_i = cross-entropy with target self_idx[i], loss = mean_i. Tiled like
 * infonce_shared (no b x n buffer). grad_z (b x d) may be NULL; the bank
 * gets no gradient. Workspace as INFONCE_SHARED. Since 0.1.0. */
CTR_API int ctr_objective_bank_softmax(ctr_objective *obj, double *loss,
                                       const float *z, int64_t ldz, int64_t b,
                                       int64_t d, const float *bank,
                                       int64_t ldb, int64_t n,
                                       const int64_t *self_idx,
                                       float *grad_z);

/* Checkpoints: kind, parameters, Z and statistics (not the workspace).
 * Same contract as ctr_rng_save / _save_buffer / _load / _load_buffer:
 * atomic path writes, size query with buf NULL and cap 0, every field
 * What the load may allocate is bounded by alloc->max_load_bytes, checked
 * before anything is allocated (CTR_E_LIMIT), and a failure's reason goes
 * to alloc->message (contrastive.h, ctr_allocator; docs/security.md).
 * validated on load. Errors: CTR_E_INVALID_ARG, CTR_E_IO, CTR_E_CORRUPT,
 * CTR_E_INCOMPATIBLE, CTR_E_BUFFER_TOO_SMALL, CTR_E_LIMIT, CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_objective_save(const ctr_objective *obj, const char *path);
CTR_API int ctr_objective_save_buffer(const ctr_objective *obj, void *buf,
                                      size_t cap, size_t *size_out);
CTR_API int ctr_objective_load(ctr_objective **out, const char *path,
                               const ctr_allocator *alloc);
CTR_API int ctr_objective_load_buffer(ctr_objective **out, const void *buf,
                                      size_t len, const ctr_allocator *alloc);

/* The message of the handle's most recent call ("" if it succeeded), owned by the
 * handle and valid until its next call. NULL gives a static "invalid
 * handle" message. Since 0.1.0. */
CTR_API const char *ctr_objective_last_error(const ctr_objective *obj);

#ifdef __cplusplus
}
#endif

#endif /* CONTRASTIVE_OBJECTIVE_H */
