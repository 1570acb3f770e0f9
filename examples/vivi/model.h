/*
 * model.h - the vivi example's encoder and its two training steps, through
 * the public API: a small CNN (three strided 3 x 3 convolutions with batch
 * norm, a 128-unit linear layer with batch norm: the features the probe
 * reads) under a linear projection to the contrastive embedding; a VIVI
 * step (vivi_loss.h) on the frames of whole shots of whole videos, and a
 * SimCLR step (NT-Xent) on two views of single frames.
 */
#ifndef VIVI_MODEL_H
#define VIVI_MODEL_H

#include <stdint.h>

#include "contrastive.h"
#include "vivi_loss.h"

#define MODEL_FEATURES 128

typedef struct model_config {
    int64_t proj;     /* embedding width */
    double lr;        /* AdamW learning rate */
    double tau_frame; /* also SimCLR's temperature */
    double tau_shot, lambda;
    uint64_t seed;
} model_config;

typedef struct model {
    model_config cfg;
    ctr_encoder *enc;
    ctr_optimizer *opt;
    ctr_objective *ntxent; /* SimCLR's */
    vivi_loss vivi;
    int64_t feat_layer, cap;
    float *z, *grad; /* cap rows of proj */
} model;

/* The encoder of cfg->seed, AdamW, both losses. 0 or a CTR_E_* code. */
int model_init(model *m, const model_config *cfg);
void model_free(model *m);

/* One VIVI step on n frames x (VIDEO_PIXELS each) with their shot and
 * video labels (vivi_loss_compute's). Losses out. */
int model_step_vivi(model *m, const float *x, int64_t n, const int64_t *frame_shot,
                    int64_t n_shots, const int64_t *shot_video, int64_t n_videos, double *loss,
                    double *frame_loss, double *shot_loss);

/* One SimCLR step: x holds 2b images, the first view of b frames then
 * the second view of the same frames. */
int model_step_simclr(model *m, const float *x, int64_t b, double *loss);

/* The frozen features (MODEL_FEATURES per image) of n images, in eval
 * mode, in chunks. */
int model_features(model *m, const float *x, int64_t n, float *out);

#endif /* VIVI_MODEL_H */
