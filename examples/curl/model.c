/*
 * model.c - the CURL model of model.h.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int curl_encoder_build(ctr_encoder **out, int64_t dim, uint64_t seed)
{
    const int64_t dims[3] = {3, CURL_CROP, CURL_CROP};
    ctr_encoder *e = NULL;
    int rc = ctr_encoder_create(&e, dims, 3, seed, NULL);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(e, 16, 3, 2, 1, 1); /* 28 */
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(e, 32, 3, 2, 1, 1); /* 14 */
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(e, 32, 3, 2, 1, 1); /* 7 */
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_flatten(e);
    if (rc == CTR_OK) rc = ctr_encoder_add_linear(e, dim, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_layernorm(e, 1e-5, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(e, CTR_LAYER_TANH);
    if (rc != CTR_OK) {
        ctr_encoder_destroy(e);
        return rc;
    }
    *out = e;
    return CTR_OK;
}

static float *alloc_floats(int64_t n)
{
    return (float *)calloc((size_t)n, sizeof(float));
}

static int make_optimizers(curl_model *m)
{
    const int64_t d = m->cfg.dim;
    int rc = ctr_optimizer_create_for_encoder(&m->opt_q, CTR_OPTIMIZER_ADAMW, m->query, NULL);
    if (rc == CTR_OK) rc = ctr_optimizer_set_f64(m->opt_q, CTR_OPTIMIZER_P_LR, m->cfg.lr);
    if (rc == CTR_OK) rc = ctr_optimizer_set_f64(m->opt_q, CTR_OPTIMIZER_P_WEIGHT_DECAY, 0.0);
    if (rc == CTR_OK) rc = ctr_optimizer_create(&m->opt_w, CTR_OPTIMIZER_ADAMW, d * d, NULL);
    if (rc == CTR_OK) rc = ctr_optimizer_set_f64(m->opt_w, CTR_OPTIMIZER_P_LR, m->cfg.lr);
    if (rc == CTR_OK) rc = ctr_optimizer_set_f64(m->opt_w, CTR_OPTIMIZER_P_WEIGHT_DECAY, 0.0);
    return rc;
}

int curl_model_init(curl_model *m, const curl_config *cfg, char *err, size_t cap)
{
    const int64_t b = cfg->batch, d = cfg->dim, in = 3 * CURL_CROP * CURL_CROP;
    int64_t i;
    int rc;
    memset(m, 0, sizeof(*m));
    m->cfg = *cfg;
    rc = curl_encoder_build(&m->query, d, cfg->seed);
    if (rc == CTR_OK) rc = ctr_encoder_clone(&m->key, m->query);
    if (rc == CTR_OK) rc = make_optimizers(m);
    if (rc == CTR_OK) rc = ctr_objective_create(&m->critic, CTR_OBJECTIVE_BILINEAR, NULL);
    if (rc != CTR_OK) {
        snprintf(err, cap, "building the model: %s", ctr_strerror(rc));
        curl_model_free(m);
        return -1;
    }
    m->w = alloc_floats(d * d), m->grad_w = alloc_floats(d * d);
    m->xq = alloc_floats(b * in), m->xk = alloc_floats(b * in);
    m->q = alloc_floats(b * d), m->k = alloc_floats(b * d), m->grad_q = alloc_floats(b * d);
    if (!m->w || !m->grad_w || !m->xq || !m->xk || !m->q || !m->k || !m->grad_q) {
        snprintf(err, cap, "out of memory");
        curl_model_free(m);
        return -1;
    }
    for (i = 0; i < d; i++) /* W = I: logits start as q . k */
        m->w[i * d + i] = 1.0f;
    return 0;
}

void curl_model_free(curl_model *m)
{
    ctr_encoder_destroy(m->query);
    ctr_encoder_destroy(m->key);
    ctr_optimizer_destroy(m->opt_q);
    ctr_optimizer_destroy(m->opt_w);
    ctr_objective_destroy(m->critic);
    free(m->w), free(m->grad_w), free(m->xq), free(m->xk);
    free(m->q), free(m->k), free(m->grad_q);
    memset(m, 0, sizeof(*m));
}

int curl_model_step(curl_model *m, double *loss, double *accuracy)
{
    const int64_t b = m->cfg.batch, d = m->cfg.dim;
    int rc = ctr_encoder_forward(m->query, m->q, m->xq, b, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK)
        rc = ctr_encoder_forward(m->key, m->k, m->xk, b, CTR_ENCODER_EVAL | CTR_ENCODER_NO_GRAD);
    /* CURL's update: the key encoder gets no gradient (grad_k NULL) */
    if (rc == CTR_OK)
        rc = ctr_objective_bilinear(m->critic, loss, m->q, d, m->k, d, b, d, m->w, m->grad_q,
                                    NULL, m->grad_w);
    if (rc == CTR_OK) rc = ctr_objective_stat(m->critic, CTR_OBJECTIVE_S_ACCURACY, accuracy);
    if (rc == CTR_OK) rc = ctr_encoder_zero_grad(m->query);
    if (rc == CTR_OK) rc = ctr_encoder_backward(m->query, NULL, m->grad_q);
    if (rc == CTR_OK) rc = ctr_optimizer_step(m->opt_q);
    if (rc == CTR_OK) rc = ctr_optimizer_step_buffer(m->opt_w, m->w, m->grad_w, d * d);
    if (rc == CTR_OK) rc = ctr_encoder_momentum_update(m->key, m->query, m->cfg.ema, 0);
    return rc;
}
