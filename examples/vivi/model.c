/*
 * model.c - the encoder and steps of model.h.
 */
#include "model.h"

#include <stdlib.h>
#include <string.h>

#include "video.h"

static int conv_block(ctr_encoder *e, int64_t channels)
{
    int rc = ctr_encoder_add_conv2d(e, channels, 3, 2, 1, 0);
    if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(e, CTR_LAYER_RELU);
    return rc;
}

/* 28 -> 14 -> 7 -> 4, flatten (1024), linear 128 + BN + ReLU (the
 * features), linear to the embedding. */
static int build(model *m)
{
    const int64_t dims[3] = {1, VIDEO_SIDE, VIDEO_SIDE};
    ctr_encoder *e = NULL;
    int rc = ctr_encoder_create(&e, dims, 3, m->cfg.seed, NULL);
    if (rc == CTR_OK) rc = conv_block(e, 32);
    if (rc == CTR_OK) rc = conv_block(e, 64);
    if (rc == CTR_OK) rc = conv_block(e, 64);
    if (rc == CTR_OK) rc = ctr_encoder_add_flatten(e);
    if (rc == CTR_OK) rc = ctr_encoder_add_linear(e, MODEL_FEATURES, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_last_layer(e, &m->feat_layer);
    if (rc == CTR_OK) rc = ctr_encoder_add_linear(e, m->cfg.proj, 1);
    if (rc != CTR_OK) {
        ctr_encoder_destroy(e);
        return rc;
    }
    m->enc = e;
    return CTR_OK;
}

int model_init(model *m, const model_config *cfg)
{
    int rc;
    memset(m, 0, sizeof(*m));
    m->cfg = *cfg;
    rc = build(m);
    if (rc == CTR_OK) rc = ctr_optimizer_create_for_encoder(&m->opt, CTR_OPTIMIZER_ADAMW, m->enc, NULL);
    if (rc == CTR_OK) rc = ctr_optimizer_set_f64(m->opt, CTR_OPTIMIZER_P_LR, cfg->lr);
    if (rc == CTR_OK) rc = ctr_optimizer_set_f64(m->opt, CTR_OPTIMIZER_P_WEIGHT_DECAY, 1e-4);
    if (rc == CTR_OK) rc = ctr_objective_create(&m->ntxent, CTR_OBJECTIVE_NTXENT, NULL);
    if (rc == CTR_OK)
        rc = ctr_objective_set_f64(m->ntxent, CTR_OBJECTIVE_P_TEMPERATURE, cfg->tau_frame);
    if (rc == CTR_OK) rc = vivi_loss_init(&m->vivi, cfg->tau_frame, cfg->tau_shot, cfg->lambda);
    if (rc != CTR_OK)
        model_free(m);
    return rc;
}

void model_free(model *m)
{
    ctr_encoder_destroy(m->enc);
    ctr_optimizer_destroy(m->opt);
    ctr_objective_destroy(m->ntxent);
    vivi_loss_free(&m->vivi);
    free(m->z), free(m->grad);
    memset(m, 0, sizeof(*m));
}

static int reserve(model *m, int64_t rows)
{
    if (rows <= m->cap)
        return CTR_OK;
    free(m->z), free(m->grad);
    m->z = (float *)malloc((size_t)(rows * m->cfg.proj) * sizeof(float));
    m->grad = (float *)malloc((size_t)(rows * m->cfg.proj) * sizeof(float));
    m->cap = m->z && m->grad ? rows : 0;
    return m->cap ? CTR_OK : CTR_E_NOMEM;
}

/* Backward from m->grad and an optimizer step. */
static int update(model *m)
{
    int rc = ctr_encoder_zero_grad(m->enc);
    if (rc == CTR_OK) rc = ctr_encoder_backward(m->enc, NULL, m->grad);
    if (rc == CTR_OK) rc = ctr_optimizer_step(m->opt);
    return rc;
}

int model_step_vivi(model *m, const float *x, int64_t n, const int64_t *frame_shot,
                    int64_t n_shots, const int64_t *shot_video, int64_t n_videos, double *loss,
                    double *frame_loss, double *shot_loss)
{
    int rc = reserve(m, n);
    if (rc == CTR_OK) rc = ctr_encoder_forward(m->enc, m->z, x, n, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK)
        rc = vivi_loss_compute(&m->vivi, loss, m->z, n, m->cfg.proj, frame_shot, n_shots,
                               shot_video, n_videos, m->grad);
    if (rc == CTR_OK) {
        *frame_loss = m->vivi.frame_loss, *shot_loss = m->vivi.shot_loss;
        rc = update(m);
    }
    return rc;
}

int model_step_simclr(model *m, const float *x, int64_t b, double *loss)
{
    const int64_t d = m->cfg.proj;
    int rc = reserve(m, 2 * b);
    if (rc == CTR_OK) rc = ctr_encoder_forward(m->enc, m->z, x, 2 * b, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK)
        rc = ctr_objective_ntxent(m->ntxent, loss, m->z, d, m->z + b * d, d, b, d, NULL,
                                  m->grad, m->grad + b * d);
    if (rc == CTR_OK) rc = update(m);
    return rc;
}

#define CHUNK 256

int model_features(model *m, const float *x, int64_t n, float *out)
{
    int64_t i0;
    int rc = reserve(m, CHUNK);
    for (i0 = 0; rc == CTR_OK && i0 < n; i0 += CHUNK) {
        const int64_t c = n - i0 < CHUNK ? n - i0 : CHUNK;
        rc = ctr_encoder_forward(m->enc, m->z, x + i0 * VIDEO_PIXELS, c, CTR_ENCODER_EVAL);
        if (rc == CTR_OK)
            rc = ctr_encoder_layer_output(m->enc, out + i0 * MODEL_FEATURES, m->feat_layer);
    }
    return rc;
}
