/*
 * contrastive/ridge.h - the regression probe: ridge regression on frozen
 * features, scored by R² per target. Included by contrastive.h; do not
 * include it alone. docs/frames.md gives the math.
 *
 * What a game or robot team evaluates features with: from an encoder's
 * frozen features of frames, how well a linear map recovers the true
 * state (positions, velocities). ctr_ridge fits, for t targets at once,
 *
 *   min_{W,b}  (1/n) Σ_i ‖y_i − W z_i − b‖² + λ ‖W‖²_F
 *
 * on standardised features z = (x − μ)/σ (μ, σ per feature from the
 * training rows; optional: without it z = x − μ), the intercept b not
 * penalised, in closed form: the normal equations (ZᵀZ/n + λI) W =
 * ZᵀY_c/n (Y_c the centred targets) built in double precision by cBLAS
 * (dsyrk, dgemm) over row blocks and solved by a Cholesky factorisation.
 * Deterministic; memory O(d² + d·t) doubles plus a block of rows.
 *
 * Thread rule: one thread at a time per handle.
 */
#ifndef CONTRASTIVE_RIDGE_H
#define CONTRASTIVE_RIDGE_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctr_ridge ctr_ridge;

/* Creates a regression probe for `dim`-dimensional features and `targets`
 * regression targets. Errors: CTR_E_INVALID_ARG (NULL out, dim or targets
 * < 1, dim > 46340, bad allocator), CTR_E_OVERFLOW, CTR_E_NOMEM.
 * Since 0.1.0. */
CTR_API int ctr_ridge_create(ctr_ridge **out, int64_t dim, int64_t targets,
                             const ctr_allocator *alloc);

/* Frees the probe. NULL is accepted. Since 0.1.0. */
CTR_API void ctr_ridge_destroy(ctr_ridge *ridge);

/* Fits on n training rows: features x (n × dim, leading dimension ldx >=
 * dim) and targets y (n × targets, ldy >= targets), with penalty l2 = λ
 * (>= 0, finite; scale-free: the data term is a mean) and standardize 1
 * (divide each centred feature by its training standard deviation;
 * constant features get weight 0) or 0 (centre only). λ = 0 needs ZᵀZ
 * non-singular. Memory: (dim² + dim·(targets + 2) + block·(dim + targets))
 * doubles, allocated at the first fit and kept (a later fit does not
 * allocate). Errors: CTR_E_INVALID_ARG (NULL, n < 1, ld too small, l2 <
 * 0, standardize not 0/1), CTR_E_NUMERIC (NaN/Inf in x, y or l2; the
 * system not positive definite, e.g. λ = 0 with collinear features),
 * CTR_E_OVERFLOW, CTR_E_NOMEM; on error the previous fit is kept.
 * Since 0.1.0. */
CTR_API int ctr_ridge_fit(ctr_ridge *ridge, const float *x, int64_t n,
                          int64_t ldx, const float *y, int64_t ldy, double l2,
                          int32_t standardize);

/* Predicts n rows: pred (n × targets, contiguous) = x · weightᵀ + bias.
 * No allocation. Errors: CTR_E_STAGE (not fitted), CTR_E_INVALID_ARG
 * (NULL, n < 1, ldx < dim), CTR_E_NUMERIC (NaN/Inf in x: nothing
 * written). Since 0.1.0. */
CTR_API int ctr_ridge_predict(ctr_ridge *ridge, const float *x, int64_t n,
                              int64_t ldx, float *pred);

/* Coefficients of determination of the fitted map on n rows (x, y as in
 * ctr_ridge_fit): per target R²_t = 1 − Σ_i (y_it − ŷ_it)² / Σ_i (y_it −
 * ȳ_t)² with ȳ_t the mean of these rows (sklearn's r2_score); a target
 * constant over the rows gets 1 if predicted exactly, else 0. r2 (targets
 * doubles) and mean_r2 (their mean) may each be NULL. Sums in double; no
 * allocation. Errors: as ctr_ridge_predict, plus NaN/Inf in y.
 * Since 0.1.0. */
CTR_API int ctr_ridge_r2(ctr_ridge *ridge, const float *x, int64_t n,
                         int64_t ldx, const float *y, int64_t ldy, double *r2,
                         double *mean_r2);

/* Copies the fitted map in the space of the raw features: weight
 * (targets × dim, row-major) and bias (targets), pred = weight · x +
 * bias. Either may be NULL. Errors: CTR_E_STAGE, CTR_E_INVALID_ARG.
 * Since 0.1.0. */
CTR_API int ctr_ridge_get_weights(const ctr_ridge *ridge, float *weight,
                                  float *bias);

/* The message of the handle's most recent call ("" if it succeeded); NULL gives
 * a static "invalid handle" message. Since 0.1.0. */
CTR_API const char *ctr_ridge_last_error(const ctr_ridge *ridge);

#ifdef __cplusplus
}
#endif

#endif /* CONTRASTIVE_RIDGE_H */
