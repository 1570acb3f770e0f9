/*
 * layer_l2norm.c - y = x / max(||x||, eps) per row (the last dimension of
 * vectors and sequences, the whole sample of images), as
 * torch.nn.functional.normalize. Hyper-parameter hf[0] = eps.
 * Cache: the norm of each row. Rows are split over the OpenMP build's
 * threads.
 */
#include <math.h>

#include "common/kernels.h"
#include "common/parallel.h"
#include "common/vec.h"
#include "encoder/encoder_build.h"

static int l2_configure(ctr__layer *l, ctr__error *err)
{
    if (!(l->hf[0] > 0.0) || !isfinite(l->hf[0]))
        return ctr__fail(err, CTR_E_INVALID_ARG, "eps must be finite and > 0 (got %g)",
                         l->hf[0]);
    l->out = l->in;
    l->param_count = 0;
    l->stat_count = 0;
    return CTR_OK;
}

static int l2_cache_floats(const ctr__layer *l, int64_t n, int64_t groups, size_t *out)
{
    int64_t rows, len;
    (void)groups;
    ctr__shape_rows(&l->in, &rows, &len);
    return ctr__matrix_bytes(out, n, rows, 1);
}

static void scale_loop(float *restrict y, const float *restrict x, float s, int64_t n)
{
    int64_t j;
    CTR__VEC_FOR(j, n, y[j] = x[j] * s);
}

/* dx = (dy - y * dot) / norm */
static void project_loop(float *restrict dx, const float *restrict dy,
                         const float *restrict y, float dot, float norm, int64_t n)
{
    int64_t j;
    CTR__VEC_FOR(j, n, dx[j] = (dy[j] - y[j] * dot) / norm);
}

/* One row: y = x / max(||x||, eps), its norm to *norm. */
static void l2_row_forward(float *restrict y, float *restrict norm, const float *restrict x,
                           float eps, int64_t len)
{
    float inv;
    *norm = (float)sqrt(ctr__vdot_f64(x, x, len)); /* in lanes: not one chain of adds */
    inv = 1.0f / (*norm > eps ? *norm : eps);
    scale_loop(y, x, inv, len);
}

/* Rows are independent: split over threads (parallel.h), the same bits at
 * any thread count. */
static void l2_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    int64_t rows, len, i;
    float eps = (float)l->hf[0];
    ctr__shape_rows(&l->in, &rows, &len);
    rows *= r->n;
    CTR__PARALLEL_FOR(2 * rows * len)
    for (i = 0; i < rows; i++)
        l2_row_forward(r->y + i * len, r->cache + i, r->x + i * len, eps, len);
}

/* One row of the backward. For ||x|| > eps: dx = (dy - y (y . dy)) /
 * ||x||; otherwise the denominator is the constant eps and dx = dy / eps. */
static void l2_row_backward(float *restrict dx, const float *restrict dy,
                            const float *restrict y, float norm, float eps, int64_t len)
{
    float dot;
    int64_t j;
    if (!(norm > eps)) {
        for (j = 0; j < len; j++)
            dx[j] = dy[j] / eps;
        return;
    }
    dot = ctr__dot(y, dy, len);
    project_loop(dx, dy, y, dot, norm, len);
}

static void l2_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    int64_t rows, len, i;
    float eps = (float)l->hf[0];
    if (r->dx == NULL)
        return;
    ctr__shape_rows(&l->in, &rows, &len);
    rows *= r->n;
    CTR__PARALLEL_FOR(3 * rows * len)
    for (i = 0; i < rows; i++)
        l2_row_backward(r->dx + i * len, r->dy + i * len, r->y + i * len, r->cache[i], eps,
                        len);
}

/* Listed in layer_registry.c. */
const ctr__layer_ops ctr__layer_l2norm_ops = {
    .kind = CTR_LAYER_L2NORM,
    .configure = l2_configure,
    .cache_floats = l2_cache_floats,
    .forward = l2_forward,
    .backward = l2_backward,
};

CTR_API int ctr_encoder_add_l2norm(ctr_encoder *enc, double eps)
{
    ctr__layer l = ctr__layer_template(&ctr__layer_l2norm_ops);
    l.hf[0] = eps;
    return ctr__encoder_add(enc, &l);
}
