/*
 * model.c - the DIM model (model.h), on the public API only.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t cap, int rc, const char *what,
                const char *detail)
{
    snprintf(err, cap, "%s: %s (%s)", what, ctr_strerror(rc),
             detail != NULL ? detail : "");
    return rc;
}

/* A: 1 x 28 x 28 -> 64 x 7 x 7. */
static int build_a(ctr_encoder **e, uint64_t seed)
{
    const int64_t dims[3] = {1, 28, 28};
    int rc = ctr_encoder_create(e, dims, 3, seed, NULL);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(*e, 32, 3, 1, 1, 0);
    if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(*e, 1e-5, 0.1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(*e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_pool2d(*e, CTR_LAYER_MAXPOOL2D, 2, 2, 0);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(*e, MAP_C, 3, 1, 1, 0);
    if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(*e, 1e-5, 0.1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(*e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_pool2d(*e, CTR_LAYER_MAXPOOL2D, 2, 2, 0);
    return rc;
}

/* B: 64 x 7 x 7 -> dim (the global summary). */
static int build_b(ctr_encoder **e, int64_t dim, uint64_t seed)
{
    const int64_t dims[3] = {MAP_C, MAP_SIDE, MAP_SIDE};
    int rc = ctr_encoder_create(e, dims, 3, seed, NULL);
    if (rc == CTR_OK) rc = ctr_encoder_add_flatten(*e);
    if (rc == CTR_OK) rc = ctr_encoder_add_linear(*e, 512, 0);
    if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(*e, 1e-5, 0.1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(*e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_linear(*e, dim, 1);
    return rc;
}

/* C: 64 x 7 x 7 -> dim x 7 x 7 (1x1 convolutions: DIM's local encoder). */
static int build_c(ctr_encoder **e, int64_t dim, uint64_t seed)
{
    const int64_t dims[3] = {MAP_C, MAP_SIDE, MAP_SIDE};
    int rc = ctr_encoder_create(e, dims, 3, seed, NULL);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(*e, 128, 1, 1, 0, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(*e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(*e, dim, 1, 1, 0, 1);
    return rc;
}

static int make_opt(ctr_optimizer **o, ctr_encoder *e, double lr)
{
    int rc = ctr_optimizer_create_for_encoder(o, CTR_OPTIMIZER_ADAMW, e, NULL);
    if (rc == CTR_OK)
        rc = ctr_optimizer_set_f64(*o, CTR_OPTIMIZER_P_LR, lr);
    if (rc == CTR_OK)
        rc = ctr_optimizer_set_f64(*o, CTR_OPTIMIZER_P_WEIGHT_DECAY, 0.0);
    return rc;
}

static float *floats(int64_t n)
{
    return (float *)malloc((size_t)n * sizeof(float));
}

int model_create(model *m, const model_config *cfg, int with_train,
                 char *err, size_t cap)
{
    const int64_t b = cfg->batch, d = cfg->dim;
    int rc;
    memset(m, 0, sizeof(*m));
    m->cfg = *cfg;
    if ((rc = build_a(&m->a, cfg->seed)) != CTR_OK)
        return fail(err, cap, rc, "encoder A", ctr_encoder_last_error(m->a));
    if ((rc = build_b(&m->b, d, cfg->seed + 1)) != CTR_OK)
        return fail(err, cap, rc, "encoder B", ctr_encoder_last_error(m->b));
    if ((rc = build_c(&m->c, d, cfg->seed + 2)) != CTR_OK)
        return fail(err, cap, rc, "encoder C", ctr_encoder_last_error(m->c));
    m->map = floats(b * MAP_C * MAP_P), m->glob = floats(b * d);
    m->loc = floats(b * d * MAP_P), m->dglob = floats(b * d);
    m->dloc = floats(b * d * MAP_P), m->dmap = floats(b * MAP_C * MAP_P);
    m->dmap_c = floats(b * MAP_C * MAP_P);
    if (!m->map || !m->glob || !m->loc || !m->dglob || !m->dloc || !m->dmap ||
        !m->dmap_c)
        return fail(err, cap, CTR_E_NOMEM, "model", "buffers");
    if (!with_train)
        return CTR_OK;
    if ((rc = make_opt(&m->oa, m->a, cfg->lr)) != CTR_OK ||
        (rc = make_opt(&m->ob, m->b, cfg->lr)) != CTR_OK ||
        (rc = make_opt(&m->oc, m->c, cfg->lr)) != CTR_OK)
        return fail(err, cap, rc, "optimizers", NULL);
    if ((rc = ctr_objective_create(&m->obj, CTR_OBJECTIVE_LOCAL_GLOBAL, NULL)) != CTR_OK)
        return fail(err, cap, rc, "objective", NULL);
    return CTR_OK;
}

void model_destroy(model *m)
{
    ctr_objective_destroy(m->obj);
    ctr_optimizer_destroy(m->oa), ctr_optimizer_destroy(m->ob);
    ctr_optimizer_destroy(m->oc);
    ctr_encoder_destroy(m->a), ctr_encoder_destroy(m->b);
    ctr_encoder_destroy(m->c);
    free(m->map), free(m->glob), free(m->loc), free(m->dglob), free(m->dloc);
    free(m->dmap), free(m->dmap_c);
    memset(m, 0, sizeof(*m));
}

/* G and L of the current batch against each other (channels-first L). */
static int objective(model *m, double *loss, double *acc)
{
    ctr_local_global_args a;
    const int64_t b = m->cfg.batch, d = m->cfg.dim;
    int rc;
    ctr_local_global_args_init(&a);
    a.estimator = m->cfg.estimator;
    a.b = b, a.p = MAP_P, a.d = d;
    a.g = m->glob, a.ldg = d;
    a.l = m->loc, a.l_batch_stride = d * MAP_P;
    a.l_pos_stride = 1, a.l_chan_stride = MAP_P;
    if (m->cfg.amdim)
        a.scale_sqrt_d = 1, a.clip = 20.0, a.penalty = 0.05;
    a.grad_g = m->dglob, a.grad_l = m->dloc;
    rc = ctr_objective_local_global(m->obj, loss, &a);
    if (rc == CTR_OK)
        rc = ctr_objective_stat(m->obj, CTR_OBJECTIVE_S_ACCURACY, acc);
    return rc;
}

int model_step(model *m, const float *images, double *loss, double *acc,
               char *err, size_t cap)
{
    const int64_t b = m->cfg.batch, n = b * MAP_C * MAP_P;
    int64_t i;
    int rc = ctr_encoder_forward(m->a, m->map, images, b, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK)
        rc = ctr_encoder_forward(m->b, m->glob, m->map, b, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK)
        rc = ctr_encoder_forward(m->c, m->loc, m->map, b, CTR_ENCODER_TRAIN);
    if (rc != CTR_OK)
        return fail(err, cap, rc, "forward", NULL);
    if ((rc = objective(m, loss, acc)) != CTR_OK)
        return fail(err, cap, rc, "objective", ctr_objective_last_error(m->obj));
    ctr_encoder_zero_grad(m->a), ctr_encoder_zero_grad(m->b);
    ctr_encoder_zero_grad(m->c);
    /* dL/dM = through B (global term) + through C (local term) */
    rc = ctr_encoder_backward(m->b, m->dmap, m->dglob);
    if (rc == CTR_OK)
        rc = ctr_encoder_backward(m->c, m->dmap_c, m->dloc);
    for (i = 0; rc == CTR_OK && i < n; i++)
        m->dmap[i] += m->dmap_c[i];
    if (rc == CTR_OK)
        rc = ctr_encoder_backward(m->a, NULL, m->dmap);
    if (rc == CTR_OK) rc = ctr_optimizer_step(m->oa);
    if (rc == CTR_OK) rc = ctr_optimizer_step(m->ob);
    if (rc == CTR_OK) rc = ctr_optimizer_step(m->oc);
    return rc == CTR_OK ? rc : fail(err, cap, rc, "backward/step", NULL);
}

int model_features(model *m, const float *images, int64_t n, float *out)
{
    const int64_t b = m->cfg.batch;
    int64_t i0;
    for (i0 = 0; i0 < n; i0 += b) {
        const int64_t cnt = n - i0 < b ? n - i0 : b;
        int rc = ctr_encoder_forward(m->a, m->map, images + i0 * 28 * 28, cnt,
                                     CTR_ENCODER_EVAL | CTR_ENCODER_NO_GRAD);
        if (rc == CTR_OK)
            rc = ctr_encoder_forward(m->b, out + i0 * m->cfg.dim, m->map, cnt,
                                     CTR_ENCODER_EVAL | CTR_ENCODER_NO_GRAD);
        if (rc != CTR_OK)
            return rc;
    }
    return CTR_OK;
}
