/*
 * layer_act.c - elementwise activations (ReLU, exact GELU, tanh) and the
 * flatten reshape. None has parameters or a cache: backward reads the
 * layer's input or output, which the encoder keeps.
 */
#include <math.h>
#include <string.h>

#include "encoder/layer.h"
#include "common/vec.h"

#define SQRT1_2 0.70710678118654752440

static int same_shape_configure(ctr__layer *l, ctr__error *err)
{
    (void)err;
    l->out = l->in;
    l->param_count = 0;
    l->stat_count = 0;
    return CTR_OK;
}

static int64_t elements(const ctr__layer *l, int64_t n)
{
    return n * ctr__shape_size(&l->in);
}

/* The loops sit in helpers with restrict parameters (the buffers never
 * overlap), which gcc needs to vectorise them (vec.h). */
static void relu_loop(float *restrict y, const float *restrict x, int64_t k)
{
    int64_t i;
    CTR__VEC_FOR(i, k, y[i] = x[i] > 0.0f ? x[i] : 0.0f);
}

static void relu_grad_loop(float *restrict dx, const float *restrict y,
                           const float *restrict dy, int64_t k)
{
    int64_t i;
    CTR__VEC_FOR(i, k, float d = dy[i]; dx[i] = y[i] > 0.0f ? d : 0.0f);
}

static void relu_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    relu_loop(r->y, r->x, elements(l, r->n));
}

static void relu_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    if (r->dx != NULL)
        relu_grad_loop(r->dx, r->y, r->dy, elements(l, r->n));
}

const ctr__layer_ops ctr__layer_relu_ops = {
    same_shape_configure, NULL, NULL, NULL, NULL, relu_forward, relu_backward,
};

/* GELU(x) = x * Phi(x), Phi the standard normal CDF (PyTorch's exact form). */
static void gelu_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    int64_t i, k = elements(l, r->n);
    for (i = 0; i < k; i++) {
        double x = r->x[i];
        r->y[i] = (float)(0.5 * x * (1.0 + erf(x * SQRT1_2)));
    }
}

static void gelu_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    int64_t i, k = elements(l, r->n);
    const double inv_sqrt_2pi = 0.3989422804014327;
    if (r->dx == NULL)
        return;
    for (i = 0; i < k; i++) {
        double x = r->x[i];
        double d = 0.5 * (1.0 + erf(x * SQRT1_2)) + x * inv_sqrt_2pi * exp(-0.5 * x * x);
        r->dx[i] = (float)(r->dy[i] * d);
    }
}

const ctr__layer_ops ctr__layer_gelu_ops = {
    same_shape_configure, NULL, NULL, NULL, NULL, gelu_forward, gelu_backward,
};

static void tanh_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    int64_t i, k = elements(l, r->n);
    for (i = 0; i < k; i++)
        r->y[i] = tanhf(r->x[i]);
}

static void tanh_grad_loop(float *restrict dx, const float *restrict y,
                           const float *restrict dy, int64_t k)
{
    int64_t i;
    CTR__VEC_FOR(i, k, dx[i] = dy[i] * (1.0f - y[i] * y[i]));
}

static void tanh_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    if (r->dx != NULL)
        tanh_grad_loop(r->dx, r->y, r->dy, elements(l, r->n));
}

const ctr__layer_ops ctr__layer_tanh_ops = {
    same_shape_configure, NULL, NULL, NULL, NULL, tanh_forward, tanh_backward,
};

/* ---- flatten ------------------------------------------------------------- */

static int flatten_configure(ctr__layer *l, ctr__error *err)
{
    if (l->in.ndims == 1)
        return ctr__fail(err, CTR_E_SHAPE, "flatten needs a sequence or image input");
    l->out.ndims = 1;
    l->out.d[0] = ctr__shape_size(&l->in);
    l->out.d[1] = l->out.d[2] = 1;
    l->param_count = 0;
    l->stat_count = 0;
    return CTR_OK;
}

static void flatten_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    memcpy(r->y, r->x, (size_t)elements(l, r->n) * sizeof(float));
}

static void flatten_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    if (r->dx != NULL)
        memcpy(r->dx, r->dy, (size_t)elements(l, r->n) * sizeof(float));
}

const ctr__layer_ops ctr__layer_flatten_ops = {
    flatten_configure, NULL, NULL, NULL, NULL, flatten_forward, flatten_backward,
};

/* ---- dropout ------------------------------------------------------------- */
/* Train mode zeroes each element with probability p (hf[0]) and scales the
 * others by 1/(1-p), drawing from the encoder's generator in element order;
 * eval mode is the identity. The cache holds the mask (0 or 1/(1-p)). */

static int dropout_configure(ctr__layer *l, ctr__error *err)
{
    if (!(l->hf[0] >= 0.0 && l->hf[0] < 1.0))
        return ctr__fail(err, CTR_E_INVALID_ARG, "dropout p must be in [0, 1) (got %g)",
                         l->hf[0]);
    return same_shape_configure(l, err);
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
    int64_t i, k = elements(l, r->n);
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
        mask_loop(r->dx, r->dy, r->cache, elements(l, r->n));
}

const ctr__layer_ops ctr__layer_dropout_ops = {
    dropout_configure, NULL, dropout_cache_floats, NULL, NULL, dropout_forward,
    dropout_backward,
};
