/*
 * eval.h - what the curl example measures: features of every observation
 * of an episode set (a frozen encoder on the centre crop, or pooled raw
 * pixels), and the regression probe (ctr_ridge) from features to the true
 * state with its penalty chosen on held-out training episodes.
 */
#ifndef CURL_EVAL_H
#define CURL_EVAL_H

#include "contrastive.h"
#include "data.h"

#define RAW_POOL 4 /* raw-pixel baseline: 4 x 4 average pooling, 3 x 16 x 16 */
#define RAW_DIM (3 * (GAME_SIZE / RAW_POOL) * (GAME_SIZE / RAW_POOL))

/* n x dim features of the encoder (EVAL, no grad) on every sample of e,
 * centre crops. 0 or a CTR_E_* code. */
int features_encoder(ctr_encoder *enc, int64_t dim, const episodes *e, float *out);
/* n x RAW_DIM pooled pixels of the full stacks. */
void features_raw(const episodes *e, float *out);
/* n x GAME_STATE true states. */
void states_of(const episodes *e, float *out);

/* R² per target (GAME_STATE doubles) and their mean on the test rows of a
 * ridge probe fitted on the training rows, its penalty the best of
 * 1e-4 .. 100 (decades) on the last fifth of the training rows (whole episodes when the
 * rows are episode-ordered). *l2 receives the penalty. 0 or a CTR_E_* code. */
int probe_r2(const float *xtr, const float *ytr, int64_t ntr, const float *xte,
             const float *yte, int64_t nte, int64_t dim, double *r2, double *mean,
             double *l2);

#endif /* CURL_EVAL_H */
