/*
 * eval.c - features and the regression probe of eval.h.
 */
#include "eval.h"

#include <stdlib.h>

#include "model.h"

#define FEATURE_BATCH 256

int features_encoder(ctr_encoder *enc, int64_t dim, const episodes *e, float *out)
{
    const int64_t n = episodes_samples(e), in = 3 * CURL_CROP * CURL_CROP;
    const int64_t off = (GAME_SIZE - CURL_CROP) / 2;
    float *x = (float *)malloc((size_t)(FEATURE_BATCH * in) * sizeof(float));
    int64_t i0, i;
    int rc = x == NULL ? CTR_E_NOMEM : CTR_OK;
    for (i0 = 0; rc == CTR_OK && i0 < n; i0 += FEATURE_BATCH) {
        const int64_t m = n - i0 < FEATURE_BATCH ? n - i0 : FEATURE_BATCH;
        for (i = 0; i < m; i++)
            episodes_sample(e, i0 + i, off, off, CURL_CROP, x + i * in, NULL);
        rc = ctr_encoder_forward(enc, out + i0 * dim, x, m,
                                 CTR_ENCODER_EVAL | CTR_ENCODER_NO_GRAD);
    }
    free(x);
    return rc;
}

void features_raw(const episodes *e, float *out)
{
    const int64_t n = episodes_samples(e), g = GAME_SIZE / RAW_POOL;
    float stack[3 * GAME_SIZE * GAME_SIZE];
    int64_t i, c, y, x, dy, dx;
    for (i = 0; i < n; i++) {
        float *o = out + i * RAW_DIM;
        episodes_sample(e, i, 0, 0, GAME_SIZE, stack, NULL);
        for (c = 0; c < 3; c++)
            for (y = 0; y < g; y++)
                for (x = 0; x < g; x++) {
                    float s = 0.0f;
                    for (dy = 0; dy < RAW_POOL; dy++)
                        for (dx = 0; dx < RAW_POOL; dx++)
                            s += stack[(c * GAME_SIZE + y * RAW_POOL + dy) * GAME_SIZE +
                                       x * RAW_POOL + dx];
                    o[(c * g + y) * g + x] = s / (RAW_POOL * RAW_POOL);
                }
    }
}

void states_of(const episodes *e, float *out)
{
    float crop[3 * 2 * 2];
    int64_t i;
    for (i = 0; i < episodes_samples(e); i++)
        episodes_sample(e, i, 0, 0, 2, crop, out + i * GAME_STATE);
}

/* Validation R² of penalty l2: fit on rows [0, nfit), score on the rest. */
static int validate(ctr_ridge *r, const float *x, const float *y, int64_t n, int64_t nfit,
                    int64_t dim, double l2, double *score)
{
    int rc = ctr_ridge_fit(r, x, nfit, dim, y, GAME_STATE, l2, 1);
    if (rc == CTR_OK)
        rc = ctr_ridge_r2(r, x + nfit * dim, n - nfit, dim, y + nfit * GAME_STATE,
                          GAME_STATE, NULL, score);
    return rc;
}

int probe_r2(const float *xtr, const float *ytr, int64_t ntr, const float *xte,
             const float *yte, int64_t nte, int64_t dim, double *r2, double *mean,
             double *l2)
{
    static const double grid[7] = {1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0};
    ctr_ridge *r = NULL;
    double best = -1e300, score;
    int i, rc = ctr_ridge_create(&r, dim, GAME_STATE, NULL);
    *l2 = grid[0];
    for (i = 0; rc == CTR_OK && i < 7; i++) {
        rc = validate(r, xtr, ytr, ntr, ntr * 4 / 5, dim, grid[i], &score);
        if (rc == CTR_OK && score > best)
            best = score, *l2 = grid[i];
    }
    if (rc == CTR_OK)
        rc = ctr_ridge_fit(r, xtr, ntr, dim, ytr, GAME_STATE, *l2, 1);
    if (rc == CTR_OK)
        rc = ctr_ridge_r2(r, xte, nte, dim, yte, GAME_STATE, r2, mean);
    ctr_ridge_destroy(r);
    return rc;
}
