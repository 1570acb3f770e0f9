/*
 * contrastive/probe.h - evaluation helpers: the linear probe (multinomial
 * logistic regression on frozen features) and Wang & Isola's alignment and
 * uniformity metrics. Included by contrastive.h; do not include it alone.
 *
 * The linear probe is how self-supervised features are judged: freeze the
 * encoder, fit a linear classifier on its features of the labelled
 * training set, report test accuracy. ctr_probe fits
 *
 *   min_{W,b}  mean_i CE(softmax(W z_i + b), y_i) + (λ/2)·‖W‖²
 *
 * on standardised features z = (x − μ)/σ (μ, σ per feature from the
 * training set; optional), by full-batch L-BFGS: deterministic (no
 * sampling), no learning rate to tune, and bound by the products of the
 * n×d features with d×C weights, two per function evaluation. With up to
 * 16 classes they run as one fused pass over the features (each block of
 * rows read from memory once: its logits, softmax gradient and share of
 * the weight gradient while it is in cache), in at most 16 chunks of rows
 * whose partial gradients are added in a fixed order: the same bits on
 * every run, and in the OpenMP build at every thread count (the chunks are
 * shared out over the host's OpenMP threads). Beyond 16 classes, two
 * GEMMs per evaluation in row blocks of bounded memory.
 *
 * Thread rule: one thread at a time per handle.
 */
#ifndef CONTRASTIVE_PROBE_H
#define CONTRASTIVE_PROBE_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctr_probe ctr_probe;

/* Parameters (int32_t keys; values pinned). */
/* L2 penalty λ on W (not on b), f64, [0, 1e6], default 1e-4. */
#define CTR_PROBE_P_L2 100
/* Maximum L-BFGS iterations, i64, [1, 100000], default 300. */
#define CTR_PROBE_P_MAX_ITER 101
/* Stop when the gradient's max-norm falls below this, f64, [0, 1],
 * default 1e-5. */
#define CTR_PROBE_P_TOLERANCE 102
/* L-BFGS history length, i64, [1, 100], default 10. */
#define CTR_PROBE_P_HISTORY 103
/* Standardise features with the training mean and std, i64 0 or 1,
 * default 1. */
#define CTR_PROBE_P_STANDARDIZE 104
/* Rows per GEMM block, i64, [1, 2^20], default 4096: bounds the
 * workspace to O(block·C) (with more than 16 classes; with up to 16 the
 * fit's workspace is at most 16 partial gradients, 16·C·dim floats, and
 * this sets the blocks of prediction). */
#define CTR_PROBE_P_BLOCK_ROWS 105

/* Creates a probe for `dim`-dimensional features and `classes` classes
 * (labels 0..classes-1). Errors: CTR_E_INVALID_ARG (NULL out, dim < 1,
 * classes < 2, bad allocator), CTR_E_OVERFLOW, CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_probe_create(ctr_probe **out, int64_t dim, int64_t classes,
                             const ctr_allocator *alloc);
/* Frees the probe. NULL is accepted. Since 0.1.0. */
CTR_API void ctr_probe_destroy(ctr_probe *probe);

/* Sets / reads a parameter. Setting takes effect at the next fit. The
 * parameter rule of docs/conventions.md: set_f64 sets an integer parameter
 * to an integral value, set_i64 a real one to |value| <= 2^53; get_f64
 * reads any parameter, get_i64 only integer ones.
 * Errors: CTR_E_INVALID_ARG (unknown key, out of bounds, not integral,
 * get_i64 of a real parameter, NULL), CTR_E_NUMERIC (NaN, Inf).
 * Since 0.1.0. */
CTR_API int ctr_probe_set_f64(ctr_probe *probe, int32_t param, double value);
CTR_API int ctr_probe_set_i64(ctr_probe *probe, int32_t param, int64_t value);
CTR_API int ctr_probe_get_f64(const ctr_probe *probe, int32_t param,
                              double *value);
CTR_API int ctr_probe_get_i64(const ctr_probe *probe, int32_t param,
                              int64_t *value);
/* The inclusive bounds of a parameter (as doubles, for both types).
 * Errors: CTR_E_INVALID_ARG. Since 0.1.0. */
CTR_API int ctr_probe_param_bounds(int32_t param, double *lo, double *hi);

/* Fits the probe on n training rows x (n × dim, leading dimension ld >=
 * dim) with labels[i] in [0, classes). Starts from zero weights each time.
 * Memory: the workspace (O(block·classes + history·dim·classes)) is
 * allocated on the first fit and kept; a later fit with the same settings
 * does not allocate. Errors: CTR_E_INVALID_ARG (NULL, n < 1, ld < dim,
 * label out of range), CTR_E_NUMERIC (NaN/Inf in x), CTR_E_NOMEM; on error
 * the previous fit is kept. Since 0.1.0. */
CTR_API int ctr_probe_fit(ctr_probe *probe, const float *x, int64_t n,
                          int64_t ld, const int64_t *labels);

/* Predicts n rows: pred[i] = argmax class (lowest index on ties), and,
 * if probs is not NULL, the n × classes softmax probabilities (row-major,
 * contiguous). Does not allocate after the first fit. Errors:
 * CTR_E_STAGE (not fitted), CTR_E_INVALID_ARG, CTR_E_NUMERIC. Since 0.1.0. */
CTR_API int ctr_probe_predict(ctr_probe *probe, const float *x, int64_t n,
                              int64_t ld, int64_t *pred, float *probs);

/* Fraction of n rows whose prediction equals labels[i], in *accuracy.
 * Errors as ctr_probe_predict, plus CTR_E_INVALID_ARG for a label out of
 * range. Since 0.1.0. */
CTR_API int ctr_probe_accuracy(ctr_probe *probe, const float *x, int64_t n,
                               int64_t ld, const int64_t *labels,
                               double *accuracy);

/* Results of the last fit: final training loss (the objective above),
 * L-BFGS iterations used, and whether the tolerance was reached (1) or the
 * iteration limit / line search ended it (0). Errors: CTR_E_STAGE (not
 * fitted), CTR_E_INVALID_ARG. Since 0.1.0. */
CTR_API int ctr_probe_fit_info(const ctr_probe *probe, double *loss,
                               int64_t *iterations, int32_t *converged);

/* Copies the classifier in the space of the raw (unstandardised)
 * features: weight (classes × dim, row-major) and bias (classes), so that
 * logits = weight · x + bias. Either may be NULL. Errors: CTR_E_STAGE,
 * CTR_E_INVALID_ARG. Since 0.1.0. */
CTR_API int ctr_probe_get_weights(const ctr_probe *probe, float *weight,
                                  float *bias);

/* The message of the handle's most recent call ("" if it succeeded). Since 0.1.0. */
CTR_API const char *ctr_probe_last_error(const ctr_probe *probe);

/* ---- representation metrics (Wang & Isola, ICML 2020) ------------------ */

/* Alignment: mean over i of ‖x_i − y_i‖₂^alpha for n positive pairs (rows
 * of x and y, each n × d with leading dimensions ldx, ldy >= d), alpha > 0
 * (the paper uses 2). Computed in double precision; no allocation.
 * Errors: CTR_E_INVALID_ARG, CTR_E_NUMERIC. Thread-safe. Since 0.1.0. */
CTR_API int ctr_alignment(double *out, const float *x, int64_t ldx,
                          const float *y, int64_t ldy, int64_t n, int64_t d,
                          double alpha);

/* Uniformity: log of the mean over pairs i < j of exp(−t·‖x_i − x_j‖₂²)
 * for n >= 2 rows of x (n × d, leading dimension ld >= d), t > 0 (the
 * paper uses 2). O(n²·d) work in double precision, computed with a
 * running log-sum-exp; no allocation. Errors: CTR_E_INVALID_ARG,
 * CTR_E_NUMERIC. Thread-safe. Since 0.1.0. */
CTR_API int ctr_uniformity(double *out, const float *x, int64_t ld,
                           int64_t n, int64_t d, double t);

#ifdef __cplusplus
}
#endif

#endif /* CONTRASTIVE_PROBE_H */
