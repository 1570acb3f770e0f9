/*
 * layer_dropout.c - the dropout kind. Train mode zeroes each element with
 * probability p (hf[0]) and scales the others by 1/(1-p), drawing from the
 * encoder's generator in element order; eval mode is the identity. The
 * cache holds the mask (0 or 1/(1-p)).
 */
#include <string.h>

#include "common/vec.h"
#include "encoder/encoder_build.h"

static int dropout_configure(ctr__layer *l, ctr__error *err)
{
    if (!(l->hf[0] >= 0.0 && l->hf[0] < 1.0))
        return ctr__fail(err, CTR_E_INVALID_ARG, "dropout p must be in [0, 1) (got %g)",
                         l->hf[0]);
    l->out = l->in;
    l->param_count = 0;
    l->stat_count = 0;
    return CTR_OK;
}

static int dropout_cache_floats(const ctr__layer *l, int64_t n, int64_t groups, size_t *out)
{
    (void)groups;
    return ctr__matrix_bytes(out, n, ctr__shape_size(&l->in), 1);
}

static void mask_loop(float *restrict y, const float *restrict x, const float *restrict m,
                      int64_t k)
{
    int64_t i;
    CTR__VEC_FOR(i, k, y[i] = x[i] * m[i]);
}

static void dropout_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    int64_t i, k = r->n * ctr__shape_size(&l->in);
    float p = (float)l->hf[0], scale = (float)(1.0 / (1.0 - l->hf[0]));
    if (!r->train) {
        memcpy(r->y, r->x, (size_t)k * sizeof(float));
        return;
    }
    for (i = 0; i < k; i++)
        r->cache[i] = ctr__prng_uniform_f32(r->rng) >= p ? scale : 0.0f;
    mask_loop(r->y, r->x, r->cache, k);
}

static void dropout_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    if (r->dx != NULL)
        mask_loop(r->dx, r->dy, r->cache, r->n * ctr__shape_size(&l->in));
}

/* Listed in layer_registry.c. */
const ctr__layer_ops ctr__layer_dropout_ops = {
    .kind = CTR_LAYER_DROPOUT,
    .configure = dropout_configure,
    .cache_floats = dropout_cache_floats,
    .forward = dropout_forward,
    .backward = dropout_backward,
};

CTR_API int ctr_encoder_add_dropout(ctr_encoder *enc, double p)
{
    ctr__layer l = ctr__layer_template(&ctr__layer_dropout_ops);
    l.hf[0] = p;
    return ctr__encoder_add(enc, &l);
}
