/*
 * model.c - the CMC model (model.h), on the public API only.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_CHUNK 500

static int fail(char *err, size_t cap, int rc, const char *what,
                const char *detail)
{
    snprintf(err, cap, "%s: %s (%s)", what, ctr_strerror(rc),
             detail != NULL ? detail : "");
    return rc;
}

/* One view's encoder; *feat_layer and *feat_dim: the backbone output. */
static int build_encoder(ctr_encoder **e, int64_t dim, uint64_t seed,
                         int64_t *feat_layer, int64_t *feat_dim)
{
    int64_t dims[3] = {1, CMC_VIEW_ROWS, 28};
    int32_t nd;
    int rc = ctr_encoder_create(e, dims, 3, seed, NULL);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(*e, 32, 5, 2, 2, 0);
    if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(*e, 1e-5, 0.1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(*e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(*e, 64, 3, 2, 1, 0);
    if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(*e, 1e-5, 0.1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(*e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_flatten(*e);
    if (rc == CTR_OK) rc = ctr_encoder_last_layer(*e, feat_layer);
    if (rc == CTR_OK) rc = ctr_encoder_shape(*e, dims, &nd, feat_dim, *feat_layer);
    if (rc == CTR_OK) rc = ctr_encoder_add_linear(*e, 256, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(*e, 1e-5, 0.1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(*e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_linear(*e, dim, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_l2norm(*e, 1e-12);
    return rc;
}

/* The optimizer, bank and objective of view v. */
static int build_train(cmc_model *m, int v)
{
    const cmc_config *c = &m->cfg;
    int rc = ctr_optimizer_create_for_encoder(&m->opt[v], CTR_OPTIMIZER_ADAMW,
                                              m->enc[v], NULL);
    if (rc == CTR_OK)
        rc = ctr_optimizer_set_f64(m->opt[v], CTR_OPTIMIZER_P_WEIGHT_DECAY, c->weight_decay);
    if (rc == CTR_OK)
        rc = ctr_bank_create(&m->bank[v], c->n, c->dim, c->seed + 100 + (uint64_t)v, NULL);
    if (rc == CTR_OK)
        rc = ctr_bank_set_f64(m->bank[v], CTR_BANK_P_MOMENTUM, c->bank_momentum);
    if (rc == CTR_OK)
        rc = ctr_objective_create(&m->obj[v], c->softmax ? CTR_OBJECTIVE_BANK_SOFTMAX
                                                         : CTR_OBJECTIVE_NCE, NULL);
    if (rc == CTR_OK)
        rc = ctr_objective_set_f64(m->obj[v], CTR_OBJECTIVE_P_TEMPERATURE, c->tau);
    if (rc == CTR_OK && !c->softmax)
        rc = ctr_objective_set_i64(m->obj[v], CTR_OBJECTIVE_P_NCE_Z_MODE, c->z_mode);
    return rc;
}

static float *floats(int64_t n)
{
    return (float *)malloc((size_t)n * sizeof(float));
}

int cmc_model_create(cmc_model *m, const cmc_config *cfg, int with_train,
                     char *err, size_t cap)
{
    const int64_t b = cfg->batch, d = cfg->dim;
    int rc, v;
    memset(m, 0, sizeof(*m));
    m->cfg = *cfg;
    for (v = 0; v < 2; v++) {
        rc = build_encoder(&m->enc[v], d, cfg->seed + (uint64_t)v, &m->feat_layer,
                           &m->feat_dim);
        if (rc != CTR_OK)
            return fail(err, cap, rc, "encoder", ctr_encoder_last_error(m->enc[v]));
        m->x[v] = floats(b * CMC_VIEW_PIXELS);
        m->z[v] = floats(b * d), m->g[v] = floats(b * d);
        if (!m->x[v] || !m->z[v] || !m->g[v])
            return fail(err, cap, CTR_E_NOMEM, "model", "buffers");
        if (with_train && (rc = build_train(m, v)) != CTR_OK)
            return fail(err, cap, rc, "optimizer, bank or objective", NULL);
    }
    m->noise = (int64_t *)malloc((size_t)(b * cfg->noise) * sizeof(int64_t));
    if (m->noise == NULL)
        return fail(err, cap, CTR_E_NOMEM, "model", "noise indices");
    return CTR_OK;
}

void cmc_model_destroy(cmc_model *m)
{
    int v;
    for (v = 0; v < 2; v++) {
        ctr_objective_destroy(m->obj[v]);
        ctr_bank_destroy(m->bank[v]);
        ctr_optimizer_destroy(m->opt[v]);
        ctr_encoder_destroy(m->enc[v]);
        free(m->x[v]), free(m->z[v]), free(m->g[v]);
    }
    free(m->noise);
    memset(m, 0, sizeof(*m));
}

void cmc_split(const float *image, float *top, float *bottom)
{
    memcpy(top, image, CMC_VIEW_PIXELS * sizeof(float));
    memcpy(bottom, image + CMC_VIEW_PIXELS, CMC_VIEW_PIXELS * sizeof(float));
}

/* The cross-view loss: view v's embeddings against the other view's bank
 * (self_idx = the batch's instances; the NCE noise indices shared by the
 * two directions, as CMC draws them), gradients into g[v]. */
static int cross_view(cmc_model *m, const int64_t *idx, double *loss,
                      double *acc)
{
    const int64_t b = m->cfg.batch, d = m->cfg.dim, kn = m->cfg.noise;
    double part[2], a[2];
    int v, rc = CTR_OK;
    if (!m->cfg.softmax)
        rc = ctr_bank_sample(m->bank[0], m->noise, b, kn, NULL);
    for (v = 0; v < 2 && rc == CTR_OK; v++) {
        const float *rows;
        int64_t n, ld;
        rc = ctr_bank_rows(m->bank[1 - v], &rows, &n, &ld);
        if (rc == CTR_OK && m->cfg.softmax)
            rc = ctr_objective_bank_softmax(m->obj[v], &part[v], m->z[v], d, b, d,
                                            rows, ld, n, idx, m->g[v]);
        else if (rc == CTR_OK)
            rc = ctr_objective_nce(m->obj[v], &part[v], m->z[v], d, b, d, rows, ld,
                                   n, idx, m->noise, kn, m->g[v]);
        if (rc == CTR_OK)
            rc = ctr_objective_stat(m->obj[v], CTR_OBJECTIVE_S_ACCURACY, &a[v]);
    }
    if (rc == CTR_OK)
        *loss = part[0] + part[1], *acc = 0.5 * (a[0] + a[1]);
    return rc;
}

int cmc_model_step(cmc_model *m, const float *images, const int64_t *idx,
                   double lr, double *loss, double *acc, char *err,
                   size_t cap)
{
    const int64_t b = m->cfg.batch, d = m->cfg.dim;
    int64_t i;
    int v, rc = CTR_OK;
    for (i = 0; i < b; i++)
        cmc_split(images + i * 28 * 28, m->x[0] + i * CMC_VIEW_PIXELS,
                  m->x[1] + i * CMC_VIEW_PIXELS);
    for (v = 0; v < 2 && rc == CTR_OK; v++)
        rc = ctr_encoder_forward(m->enc[v], m->z[v], m->x[v], b, CTR_ENCODER_TRAIN);
    if (rc != CTR_OK)
        return fail(err, cap, rc, "forward", ctr_encoder_last_error(m->enc[v - 1]));
    if ((rc = cross_view(m, idx, loss, acc)) != CTR_OK)
        return fail(err, cap, rc, "objective", ctr_objective_last_error(m->obj[0]));
    for (v = 0; v < 2 && rc == CTR_OK; v++) {
        rc = ctr_encoder_zero_grad(m->enc[v]);
        if (rc == CTR_OK) rc = ctr_encoder_backward(m->enc[v], NULL, m->g[v]);
        if (rc == CTR_OK) rc = ctr_optimizer_set_f64(m->opt[v], CTR_OPTIMIZER_P_LR, lr);
        if (rc == CTR_OK) rc = ctr_optimizer_step(m->opt[v]);
    }
    /* after the step (both directions read the banks as they were) */
    for (v = 0; v < 2 && rc == CTR_OK; v++)
        rc = ctr_bank_update(m->bank[v], idx, b, m->z[v], d);
    return rc == CTR_OK ? rc : fail(err, cap, rc, "backward, step or bank update", NULL);
}

int cmc_model_outputs(cmc_model *m, int v, int embed, const float *images,
                      int64_t n, float *out, int64_t ld)
{
    const int64_t w = embed ? m->cfg.dim : m->feat_dim;
    float *x = floats(EVAL_CHUNK * CMC_VIEW_PIXELS), *y = floats(EVAL_CHUNK * w);
    float *ye = floats(EVAL_CHUNK * m->cfg.dim);
    int64_t i0, i;
    int rc = x && y && ye ? CTR_OK : CTR_E_NOMEM;
    for (i0 = 0; i0 < n && rc == CTR_OK; i0 += EVAL_CHUNK) {
        const int64_t cnt = n - i0 < EVAL_CHUNK ? n - i0 : EVAL_CHUNK;
        for (i = 0; i < cnt; i++)
            memcpy(x + i * CMC_VIEW_PIXELS, images + (i0 + i) * 28 * 28 + v * CMC_VIEW_PIXELS,
                   CMC_VIEW_PIXELS * sizeof(float));
        rc = ctr_encoder_forward(m->enc[v], ye, x, cnt, CTR_ENCODER_EVAL);
        if (rc == CTR_OK && !embed)
            rc = ctr_encoder_layer_output(m->enc[v], y, m->feat_layer);
        for (i = 0; rc == CTR_OK && i < cnt; i++)
            memcpy(out + (i0 + i) * ld, (embed ? ye : y) + i * w, (size_t)w * sizeof(float));
    }
    free(x), free(y), free(ye);
    return rc;
}
