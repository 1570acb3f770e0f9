/*
 * model.c - the cpc-images model (model.h), on the public API only.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIDE 28

static int fail(char *err, size_t cap, int rc, const char *what,
                const char *detail)
{
    snprintf(err, cap, "%s: %s (%s)", what, ctr_strerror(rc),
             detail != NULL ? detail : "");
    return rc;
}

/* Module 1: 1 x 8 x 8 -> conv 3x3 (32) -> ReLU -> conv 3x3 stride 2 (64)
 * -> ReLU -> global average -> dim. */
static int build_m1(model *m)
{
    const int64_t dims[3] = {1, GRID_PATCH, GRID_PATCH};
    int rc = ctr_encoder_create(&m->m1, dims, 3, m->cfg.seed, NULL);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(m->m1, 32, 3, 1, 1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(m->m1, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(m->m1, m->cfg.dim, 3, 2, 1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(m->m1, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_global_avgpool(m->m1);
    return rc;
}

/* Module 2: dim -> linear 2 dim -> ReLU -> linear dim -> layer norm. */
static int build_m2(model *m)
{
    const int64_t dims[1] = {m->cfg.dim};
    int rc = ctr_encoder_create(&m->m2, dims, 1, m->cfg.seed + 1, NULL);
    if (rc == CTR_OK) rc = ctr_encoder_add_linear(m->m2, 2 * m->cfg.dim, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(m->m2, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_linear(m->m2, m->cfg.dim, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_layernorm(m->m2, 1e-5, 1);
    return rc;
}

static int make_opt(ctr_optimizer **o, ctr_encoder *e, double lr)
{
    int rc = ctr_optimizer_create_for_encoder(o, CTR_OPTIMIZER_ADAMW, e, NULL);
    if (rc == CTR_OK)
        rc = ctr_optimizer_set_f64(*o, CTR_OPTIMIZER_P_LR, lr);
    return rc;
}

int model_create(model *m, const model_config *cfg, int with_heads,
                 char *err, size_t cap)
{
    int64_t n, d;
    int rc;
    memset(m, 0, sizeof(*m));
    m->cfg = *cfg;
    ctr_patch_grid(NULL, &m->gh, &m->gw, NULL, 1, 1, SIDE, SIDE, GRID_PATCH,
                   GRID_STRIDE, CTR_PATCH_COLUMNS);
    m->patches = m->gh * m->gw;
    n = cfg->batch * m->patches, d = cfg->dim;
    if ((rc = build_m1(m)) != CTR_OK)
        return fail(err, cap, rc, "module 1", ctr_encoder_last_error(m->m1));
    if ((rc = build_m2(m)) != CTR_OK)
        return fail(err, cap, rc, "module 2", ctr_encoder_last_error(m->m2));
    m->grid = (float *)malloc((size_t)(n * GRID_PATCH * GRID_PATCH) * sizeof(float));
    m->z1 = (float *)malloc((size_t)(n * d) * sizeof(float));
    m->z2 = (float *)malloc((size_t)(n * d) * sizeof(float));
    m->g1 = (float *)malloc((size_t)(n * d) * sizeof(float));
    m->g2 = (float *)malloc((size_t)(n * d) * sizeof(float));
    if (!m->grid || !m->z1 || !m->z2 || !m->g1 || !m->g2)
        return fail(err, cap, CTR_E_NOMEM, "model", "buffers");
    if (!with_heads)
        return CTR_OK;
    if ((rc = make_opt(&m->o1, m->m1, cfg->lr)) != CTR_OK ||
        (rc = make_opt(&m->o2, m->m2, cfg->lr)) != CTR_OK)
        return fail(err, cap, rc, "optimizers", NULL);
    /* sequences: the grid columns of every image, gh rows each */
    rc = cpc_head_create(&m->head2, m->gh, d, d, cfg->steps, CTR_CPC_NEG_ALL,
                         0, cfg->batch * m->gw, cfg->lr, cfg->seed + 100, err, cap);
    if (rc == CTR_OK && cfg->gim)
        rc = cpc_head_create(&m->head1, m->gh, d, d, cfg->steps,
                             CTR_CPC_NEG_ALL, 0, cfg->batch * m->gw, cfg->lr,
                             cfg->seed + 200, err, cap);
    return rc;
}

void model_destroy(model *m)
{
    if (m->head2.obj != NULL)
        cpc_head_destroy(&m->head2);
    if (m->head1.obj != NULL)
        cpc_head_destroy(&m->head1);
    ctr_optimizer_destroy(m->o1), ctr_optimizer_destroy(m->o2);
    ctr_encoder_destroy(m->m1), ctr_encoder_destroy(m->m2);
    free(m->grid), free(m->z1), free(m->z2), free(m->g1), free(m->g2);
    memset(m, 0, sizeof(*m));
}

/* Both modules forward on the batch's patches (train mode). */
static int forward(model *m, const float *images, int64_t b, int32_t mode)
{
    int rc = ctr_patch_grid(m->grid, NULL, NULL, images, b, 1, SIDE, SIDE,
                            GRID_PATCH, GRID_STRIDE, CTR_PATCH_COLUMNS);
    if (rc == CTR_OK)
        rc = ctr_encoder_forward(m->m1, m->z1, m->grid, b * m->patches, mode);
    if (rc == CTR_OK)
        rc = ctr_encoder_forward(m->m2, m->z2, m->z1, b * m->patches, mode);
    return rc;
}

int model_step(model *m, const float *images, double *loss, double *acc,
               char *err, size_t cap)
{
    const int64_t b = m->cfg.batch, seqs = b * m->gw;
    int rc;
    if ((rc = forward(m, images, b, CTR_ENCODER_TRAIN)) != CTR_OK)
        return fail(err, cap, rc, "forward", ctr_encoder_last_error(m->m1));
    ctr_encoder_zero_grad(m->m1), ctr_encoder_zero_grad(m->m2);
    if (m->cfg.gim) {
        /* module 1 learns from its own loss; module 2 from its own */
        if ((rc = cpc_head_step(&m->head1, m->z1, m->g1, seqs, NULL, NULL, err, cap)) != CTR_OK)
            return rc;
        if ((rc = cpc_head_step(&m->head2, m->z2, m->g2, seqs, loss, acc, err, cap)) != CTR_OK)
            return rc;
        rc = ctr_encoder_backward(m->m2, NULL, m->g2);
    } else {
        if ((rc = cpc_head_step(&m->head2, m->z2, m->g2, seqs, loss, acc, err, cap)) != CTR_OK)
            return rc;
        rc = ctr_encoder_backward(m->m2, m->g1, m->g2);
    }
    if (rc == CTR_OK)
        rc = ctr_encoder_backward(m->m1, NULL, m->g1);
    if (rc == CTR_OK)
        rc = ctr_optimizer_step(m->o1);
    if (rc == CTR_OK)
        rc = ctr_optimizer_step(m->o2);
    return rc == CTR_OK ? rc : fail(err, cap, rc, "backward/step", NULL);
}

int64_t model_feature_dim(const model *m)
{
    return 9 * m->cfg.dim;
}

/* Averages one image's gh x gw latents (column order) over 3 x 3 regions. */
static void pool_regions(const model *m, const float *z, float *out)
{
    const int64_t d = m->cfg.dim;
    int64_t col, row, j;
    float cnt[9] = {0};
    memset(out, 0, (size_t)(9 * d) * sizeof(float));
    for (col = 0; col < m->gw; col++)
        for (row = 0; row < m->gh; row++) {
            const int64_t r = (row * 3 / m->gh) * 3 + col * 3 / m->gw;
            const float *v = z + (col * m->gh + row) * d;
            for (j = 0; j < d; j++)
                out[r * d + j] += v[j];
            cnt[r] += 1.0f;
        }
    for (row = 0; row < 9; row++)
        for (j = 0; j < d; j++)
            out[row * d + j] /= cnt[row];
}

int model_features(model *m, const float *images, int64_t n, float *out)
{
    const int64_t b = m->cfg.batch, fd = model_feature_dim(m);
    int64_t i0, i;
    for (i0 = 0; i0 < n; i0 += b) {
        const int64_t cnt = n - i0 < b ? n - i0 : b;
        int rc = forward(m, images + i0 * SIDE * SIDE, cnt, CTR_ENCODER_EVAL);
        if (rc != CTR_OK)
            return rc;
        for (i = 0; i < cnt; i++)
            pool_regions(m, m->z2 + i * m->patches * m->cfg.dim, out + (i0 + i) * fd);
    }
    return CTR_OK;
}
