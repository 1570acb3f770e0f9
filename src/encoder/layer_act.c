/*
 * layer_act.c - the elementwise activation kinds (ReLU, exact GELU, tanh),
 * added by ctr_encoder_add_activation. None has parameters or a cache:
 * backward reads the layer's input or output, which the encoder keeps.
 */
#include <math.h>
#include <string.h>

#include "common/parallel.h"
#include "common/vec.h"
#include "encoder/encoder_build.h"

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
    int64_t k = elements(l, r->n), b;
    CTR__PARALLEL_FOR(k)
    for (b = 0; b < ctr__par_block_count(k); b++)
        relu_loop(r->y + b * CTR__PARALLEL_BLOCK, r->x + b * CTR__PARALLEL_BLOCK,
                  ctr__par_block_len(b, k));
}

static void relu_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    int64_t k = elements(l, r->n), b;
    if (r->dx == NULL)
        return;
    CTR__PARALLEL_FOR(k)
    for (b = 0; b < ctr__par_block_count(k); b++)
        relu_grad_loop(r->dx + b * CTR__PARALLEL_BLOCK, r->y + b * CTR__PARALLEL_BLOCK,
                       r->dy + b * CTR__PARALLEL_BLOCK, ctr__par_block_len(b, k));
}

/* Listed in layer_registry.c. */
const ctr__layer_ops ctr__layer_relu_ops = {
    .kind = CTR_LAYER_RELU,
    .configure = same_shape_configure,
    .forward = relu_forward,
    .backward = relu_backward,
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

/* Listed in layer_registry.c. */
const ctr__layer_ops ctr__layer_gelu_ops = {
    .kind = CTR_LAYER_GELU,
    .configure = same_shape_configure,
    .forward = gelu_forward,
    .backward = gelu_backward,
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

/* Listed in layer_registry.c. */
const ctr__layer_ops ctr__layer_tanh_ops = {
    .kind = CTR_LAYER_TANH,
    .configure = same_shape_configure,
    .forward = tanh_forward,
    .backward = tanh_backward,
};

/* The table of an activation kind, NULL for another value. */
static const ctr__layer_ops *activation_ops(int32_t kind)
{
    switch (kind) {
    case CTR_LAYER_RELU: return &ctr__layer_relu_ops;
    case CTR_LAYER_GELU: return &ctr__layer_gelu_ops;
    case CTR_LAYER_TANH: return &ctr__layer_tanh_ops;
    default: return NULL;
    }
}

CTR_API int ctr_encoder_add_activation(ctr_encoder *enc, int32_t kind)
{
    ctr__layer l = ctr__layer_template(activation_ops(kind));
    return ctr__encoder_add_kind(enc, &l, kind,
                                 "activation kind must be CTR_LAYER_RELU, _GELU or _TANH");
}
