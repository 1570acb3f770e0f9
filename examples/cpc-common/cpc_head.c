/*
 * cpc_head.c - the shared context + critic of the CPC examples.
 */
#include "cpc_head.h"

#include <math.h>
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

/* W and b uniform in +-1/sqrt(c), as nn.Linear(c, d). */
static int init_w(cpc_head *h, uint64_t seed)
{
    const int64_t n = h->k * h->d * (h->c + 1);
    const float bound = 1.0f / sqrtf((float)h->c);
    ctr_rng *g = NULL;
    int64_t i;
    int rc = ctr_rng_create(&g, seed, NULL);
    if (rc == CTR_OK)
        rc = ctr_rng_uniform(g, h->w, n);
    for (i = 0; rc == CTR_OK && i < n; i++)
        h->w[i] = (2.0f * h->w[i] - 1.0f) * bound;
    ctr_rng_destroy(g);
    return rc;
}

/* AdamW on the W buffer: weights decayed, biases not. */
static int make_w_optimizer(cpc_head *h, double lr)
{
    const int64_t sizes[2] = {h->k * h->d * h->c, h->k * h->d};
    const int32_t excluded[2] = {0, 1};
    int rc = ctr_optimizer_create(&h->opt_w, CTR_OPTIMIZER_ADAMW,
                                  sizes[0] + sizes[1], NULL);
    if (rc == CTR_OK)
        rc = ctr_optimizer_set_segments(h->opt_w, sizes, excluded, 2);
    if (rc == CTR_OK)
        rc = ctr_optimizer_set_f64(h->opt_w, CTR_OPTIMIZER_P_LR, lr);
    if (rc == CTR_OK)
        rc = ctr_optimizer_set_i64(h->opt_w, CTR_OPTIMIZER_P_EXCLUDE_BIAS_NORM, 1);
    return rc;
}

int cpc_head_create(cpc_head *h, int64_t t, int64_t d, int64_t c, int64_t k,
                    int32_t negatives, int64_t n_neg, int64_t cap, double lr,
                    uint64_t seed, char *err, size_t errcap)
{
    const int64_t dims[2] = {t, d};
    int rc;
    memset(h, 0, sizeof(*h));
    h->t = t, h->d = d, h->c = c, h->k = k, h->cap = cap;
    h->negatives = negatives, h->n_neg = n_neg;
    h->w = (float *)malloc((size_t)(k * d * (c + 1)) * sizeof(float));
    h->gw = (float *)malloc((size_t)(k * d * (c + 1)) * sizeof(float));
    h->cbuf = (float *)malloc((size_t)(cap * t * c) * sizeof(float));
    h->gc = (float *)malloc((size_t)(cap * t * c) * sizeof(float));
    h->gz_ctx = (float *)malloc((size_t)(cap * t * d) * sizeof(float));
    if (!h->w || !h->gw || !h->cbuf || !h->gc || !h->gz_ctx)
        return fail(err, errcap, CTR_E_NOMEM, "cpc head", "buffers");
    if ((rc = ctr_encoder_create(&h->ctx, dims, 2, seed, NULL)) != CTR_OK ||
        (rc = ctr_encoder_add_gru(h->ctx, c)) != CTR_OK)
        return fail(err, errcap, rc, "context", ctr_encoder_last_error(h->ctx));
    if ((rc = ctr_optimizer_create_for_encoder(&h->opt_ctx, CTR_OPTIMIZER_ADAMW,
                                               h->ctx, NULL)) != CTR_OK ||
        (rc = ctr_optimizer_set_f64(h->opt_ctx, CTR_OPTIMIZER_P_LR, lr)) != CTR_OK)
        return fail(err, errcap, rc, "context optimizer", NULL);
    if ((rc = make_w_optimizer(h, lr)) != CTR_OK)
        return fail(err, errcap, rc, "W optimizer", ctr_optimizer_last_error(h->opt_w));
    if ((rc = ctr_objective_create(&h->obj, CTR_OBJECTIVE_CPC, NULL)) != CTR_OK ||
        (rc = ctr_rng_create(&h->rng, seed + 7, NULL)) != CTR_OK ||
        (rc = init_w(h, seed + 3)) != CTR_OK)
        return fail(err, errcap, rc, "critic", NULL);
    return CTR_OK;
}

void cpc_head_destroy(cpc_head *h)
{
    ctr_optimizer_destroy(h->opt_ctx);
    ctr_optimizer_destroy(h->opt_w);
    ctr_encoder_destroy(h->ctx);
    ctr_objective_destroy(h->obj);
    ctr_rng_destroy(h->rng);
    free(h->w), free(h->gw), free(h->cbuf), free(h->gc), free(h->gz_ctx);
    memset(h, 0, sizeof(*h));
}

int cpc_head_step(cpc_head *h, const float *z, float *gz, int64_t n,
                  double *loss, double *acc, char *err, size_t errcap)
{
    const int64_t t = h->t, d = h->d, c = h->c, k = h->k;
    ctr_cpc_args a;
    int64_t i;
    int rc;
    if ((rc = ctr_encoder_zero_grad(h->ctx)) != CTR_OK ||
        (rc = ctr_encoder_forward(h->ctx, h->cbuf, z, n, CTR_ENCODER_TRAIN)) != CTR_OK)
        return fail(err, errcap, rc, "context forward", ctr_encoder_last_error(h->ctx));
    ctr_cpc_args_init(&a);
    a.z = z, a.c = h->cbuf, a.b = n, a.t = t, a.d = d, a.dc = c; /* contiguous */
    a.w = h->w, a.bias = h->w + k * d * c, a.steps = k;
    a.negatives = h->negatives, a.n_neg = h->n_neg, a.rng = h->rng;
    a.neg_idx = h->neg_idx;
    a.grad_z = gz, a.grad_c = h->gc, a.grad_w = h->gw;
    a.grad_bias = h->gw + k * d * c, a.step_acc = acc;
    rc = ctr_objective_cpc(h->obj, &a, loss);
    if (rc != CTR_OK)
        return fail(err, errcap, rc, "critic", ctr_objective_last_error(h->obj));
    if (h->extra != NULL && (rc = h->extra(h->extra_user, h->cbuf, h->gc, n)) != CTR_OK)
        return fail(err, errcap, rc, "context term", NULL);
    if ((rc = ctr_encoder_backward(h->ctx, h->gz_ctx, h->gc)) != CTR_OK)
        return fail(err, errcap, rc, "context backward", ctr_encoder_last_error(h->ctx));
    for (i = 0; i < n * t * d; i++)
        gz[i] += h->gz_ctx[i];
    if ((rc = ctr_optimizer_step(h->opt_ctx)) != CTR_OK)
        return fail(err, errcap, rc, "context step", ctr_optimizer_last_error(h->opt_ctx));
    rc = ctr_optimizer_step_buffer(h->opt_w, h->w, h->gw, k * d * (c + 1));
    if (rc != CTR_OK)
        return fail(err, errcap, rc, "W step", ctr_optimizer_last_error(h->opt_w));
    return CTR_OK;
}

int cpc_head_context(cpc_head *h, const float *z, float *c, int64_t n)
{
    return ctr_encoder_forward(h->ctx, c, z, n, CTR_ENCODER_EVAL);
}

double cpc_head_chance(const cpc_head *h)
{
    double v = 0.0;
    ctr_objective_stat(h->obj, CTR_OBJECTIVE_S_CHANCE_LOSS, &v);
    return v;
}
