/*
 * model.h - the CMC model of examples/cmc, on the public API only
 * (docs/cmc.md): two views of each Fashion-MNIST image - its top half
 * (rows 0-13) and its bottom half (rows 14-27) - each with its own encoder
 * and memory bank, trained by the cross-view objective: view 1's
 * embeddings against bank 2 and view 2's against bank 1 (NCE with one
 * shared set of noise indices drawn by ctr_bank_sample, each direction its
 * own objective and Z; or the full softmax over the bank), the two losses
 * summed, both banks momentum-updated after the step.
 *
 * Each encoder (input 1 x 14 x 28): conv 5x5 stride 2 (32) BN ReLU, conv
 * 3x3 stride 2 (64) BN ReLU -> 64 x 4 x 7, flatten (1792: the features the
 * probe reads), linear 256 BN ReLU, linear dim, L2 normalisation (the
 * embedding the objective and the bank use) - the demo's small CNN on half
 * an image.
 */
#ifndef CMC_MODEL_H
#define CMC_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "contrastive.h"

#define CMC_VIEW_ROWS 14
#define CMC_VIEW_PIXELS (CMC_VIEW_ROWS * 28)

typedef struct cmc_config {
    int64_t n;        /* training instances: rows of each bank */
    int64_t batch;
    int64_t dim;      /* embedding (bank) dimension */
    int64_t noise;    /* NCE noise rows per anchor */
    int softmax;      /* 1: full softmax over the bank instead of NCE */
    int32_t z_mode;   /* CTR_NCE_Z_FIXED or CTR_NCE_Z_EMA */
    double tau;
    double bank_momentum;
    double weight_decay;
    uint64_t seed;
} cmc_config;

typedef struct cmc_model {
    cmc_config cfg;
    ctr_encoder *enc[2];
    ctr_optimizer *opt[2];
    ctr_bank *bank[2];       /* bank[v] holds view v's memories */
    ctr_objective *obj[2];   /* obj[v]: view v against bank[1 - v] */
    int64_t feat_layer, feat_dim;
    float *x[2], *z[2], *g[2];
    int64_t *noise;
} cmc_model;

/* Builds the model (with_train 0: the encoders only, for a random
 * baseline of the same architecture and seed). 0 or a CTR_E_* code with
 * err set. */
int cmc_model_create(cmc_model *m, const cmc_config *cfg, int with_train,
                     char *err, size_t cap);
void cmc_model_destroy(cmc_model *m);

/* The two views of one 28 x 28 image: its top and bottom 14 rows. */
void cmc_split(const float *image, float *top, float *bottom);

/* One step on b = cfg.batch images (28 x 28, as the encoders see them)
 * of instances idx: the summed cross-view loss and the mean pretext
 * accuracy of the two directions. lr is this step's learning rate. */
int cmc_model_step(cmc_model *m, const float *images, const int64_t *idx,
                   double lr, double *loss, double *acc, char *err,
                   size_t cap);

/* Eval-mode outputs of view v for n images: the backbone features
 * (embed 0; feat_dim floats per image) or the embedding (embed 1; dim
 * floats), written to out with row stride ld. */
int cmc_model_outputs(cmc_model *m, int v, int embed, const float *images,
                      int64_t n, float *out, int64_t ld);

#endif /* CMC_MODEL_H */
