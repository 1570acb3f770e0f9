/*
 * model.h - the CPC v2 / Greedy InfoMax model of the cpc-images example:
 * two encoder modules run over the patches of an image (module 1: a small
 * CNN on one patch, pooled to a vector; module 2: an MLP with layer norm),
 * each sequence of latents a grid column (rows top to bottom), a GRU
 * context down each column, and the CPC critic predicting up to K rows
 * below with every other patch of the batch as a negative.
 *
 * The causal context over the grid is a GRU down each column: the context
 * of row r has seen rows 0..r of its column and nothing below, causal by
 * construction with no mask to get wrong, and it is the same library GRU
 * and the same (sequences of latents) critic call as cpc-speech. CPC v2
 * uses a masked convolution instead, whose context also sees the
 * neighbouring columns of the rows above; the library has no masked
 * convolution layer. The price: a column's context sees only its own
 * 8-pixel-wide strip of the image above the rows it predicts.
 *
 *   CPC v2: one head on module 2's latents; its gradient runs through
 *           both modules.
 *   GIM:    a head on each module's latents; module 2 takes module 1's
 *           output as data (no gradient back), so each module learns from
 *           its own loss only (Greedy InfoMax).
 */
#ifndef CPC_IMAGES_MODEL_H
#define CPC_IMAGES_MODEL_H

#include <stdint.h>

#include "../cpc-common/cpc_head.h"

#define GRID_PATCH 8
#define GRID_STRIDE 4

typedef struct model_config {
    int64_t batch;      /* images per step */
    int64_t dim;        /* latent and context dimension */
    int64_t steps;      /* K: rows predicted below */
    int gim;            /* 1: Greedy InfoMax */
    double lr;
    uint64_t seed;
} model_config;

typedef struct model {
    model_config cfg;
    int64_t gh, gw, patches;   /* grid and patches per image */
    ctr_encoder *m1, *m2;
    ctr_optimizer *o1, *o2;
    cpc_head head1, head2;     /* head1 only with GIM */
    float *grid, *z1, *z2, *g1, *g2; /* batch patch buffers */
} model;

/* Builds the model; `trained` 0 gives the same architecture and seed
 * without heads (the random-encoder baseline). Returns a CTR status. */
int model_create(model *m, const model_config *cfg, int with_heads,
                 char *err, size_t cap);
void model_destroy(model *m);

/* One training step on `batch` images (28 x 28 each); loss and acc (K
 * values) of the final module's head. */
int model_step(model *m, const float *images, double *loss, double *acc,
               char *err, size_t cap);

/* Features of n images for the probe: the final module's latents averaged
 * over 3 x 3 regions of the 6 x 6 grid (9 * dim floats per image). */
int64_t model_feature_dim(const model *m);
int model_features(model *m, const float *images, int64_t n, float *out);

#endif /* CPC_IMAGES_MODEL_H */
