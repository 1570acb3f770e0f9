/*
 * layer_act.c - elementwise activations (ReLU, exact GELU, tanh) and the
 * flatten reshape. None has parameters or a cache: backward reads the
 * layer's input or output, which the encoder keeps.
 */
#include <math.h>
#include <string.h>

#include "encoder_layer.h"
#include "vec.h"

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

/* ---- flatten ---------------------------------------------------------------- */

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
