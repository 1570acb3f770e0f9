/*
 * model.h - the DIM model of examples/dim, on the public API only: three
 * chained encoders, so that the local term's gradient can enter at the
 * intermediate feature map (docs/local-global.md, "chained encoders"):
 *
 *   image --A--> map M (64 x 7 x 7) --B--> global G (dim)
 *                      \------------C--> locals L (dim x 7 x 7)
 *
 * A: conv 3x3 (32) BN ReLU maxpool 2, conv 3x3 (64) BN ReLU maxpool 2;
 * B: flatten, linear 512, BN, ReLU, linear dim;
 * C: 1x1 conv 128, ReLU, 1x1 conv dim (DIM's local encoder).
 * The loss: ctr_objective_local_global of G against L.
 */
#ifndef DIM_MODEL_H
#define DIM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "contrastive.h"

#define MAP_C 64
#define MAP_SIDE 7
#define MAP_P (MAP_SIDE * MAP_SIDE)

typedef struct model_config {
    int64_t batch;      /* images per step */
    int64_t dim;        /* global and local dimension */
    int32_t estimator;  /* CTR_MI_* */
    int amdim;          /* 1: 1/sqrt(d), tanh clip 20, penalty 0.05 */
    double lr;
    uint64_t seed;
} model_config;

typedef struct model {
    model_config cfg;
    ctr_encoder *a, *b, *c;
    ctr_optimizer *oa, *ob, *oc;
    ctr_objective *obj;
    float *map, *glob, *loc;      /* forward outputs of A, B, C */
    float *dglob, *dloc, *dmap, *dmap_c; /* their gradients */
} model;

/* Builds the model (with_train 0: encoders only, for a random baseline
 * of the same architecture and seed). 0 or a CTR_E_* code with err set. */
int model_create(model *m, const model_config *cfg, int with_train,
                 char *err, size_t cap);
void model_destroy(model *m);

/* One training step on cfg.batch images (28 x 28 each): the loss and the
 * pretext accuracy of the objective. */
int model_step(model *m, const float *images, double *loss, double *acc,
               char *err, size_t cap);

/* Global features (n x dim) of n images, eval mode. */
int model_features(model *m, const float *images, int64_t n, float *out);

#endif /* DIM_MODEL_H */
