/*
 * layer_linear.c - the fully connected layer y = x W^T + b on the last
 * dimension (vectors, or every step of a sequence), through cblas_sgemm.
 * Hyper-parameters: hi[0] output features, hi[1] bias (0/1).
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "common/blas.h"
#include "encoder/encoder_build.h"

static int linear_configure(ctr__layer *l, ctr__error *err)
{
    int64_t rows, in, out = l->hi[0];
    size_t count;
    if (l->in.ndims == 3)
        return ctr__fail(err, CTR_E_SHAPE,
                         "linear needs a vector or sequence input; flatten the image first");
    if (out < 1 || out > INT_MAX)
        return ctr__fail(err, CTR_E_INVALID_ARG,
                         "out_features must be in [1, %d] (got %lld)", INT_MAX,
                         (long long)out);
    if (l->hi[1] != 0 && l->hi[1] != 1)
        return ctr__fail(err, CTR_E_INVALID_ARG, "bias must be 0 or 1 (got %lld)",
                         (long long)l->hi[1]);
    ctr__shape_rows(&l->in, &rows, &in);
    if (in > INT_MAX)
        return ctr__fail(err, CTR_E_SHAPE, "linear input of %lld features is too wide",
                         (long long)in);
    if (ctr__matrix_bytes(&count, out, in + l->hi[1], 1) != CTR_OK ||
        count > (size_t)INT64_MAX / 8)
        return ctr__fail(err, CTR_E_OVERFLOW, "linear layer too large");
    l->out = l->in;
    l->out.d[l->in.ndims - 1] = out;
    l->param_count = (int64_t)count;
    l->stat_count = 0;
    return CTR_OK;
}

static void linear_init(const ctr__layer *l, float *w, float *stat, ctr__prng *g)
{
    int64_t rows, in, i, out = l->hi[0];
    double bound;
    (void)stat;
    ctr__shape_rows(&l->in, &rows, &in);
    bound = 1.0 / sqrt((double)in);
    for (i = 0; i < out * in + l->hi[1] * out; i++)
        w[i] = ctr__uniform_sym(g, bound);
}

static int linear_tensors(const ctr__layer *l, ctr__tensor_desc *d)
{
    int64_t rows, in;
    ctr__shape_rows(&l->in, &rows, &in);
    memset(d, 0, 2 * sizeof(*d));
    d[0].role = CTR_TENSOR_WEIGHT;
    d[0].ndims = 2;
    d[0].dims[0] = l->hi[0];
    d[0].dims[1] = in;
    d[0].dims[2] = d[0].dims[3] = 1;
    d[0].count = l->hi[0] * in;
    if (l->hi[1] == 0)
        return 1;
    d[1].role = CTR_TENSOR_BIAS;
    d[1].ndims = 1;
    d[1].dims[0] = l->hi[0];
    d[1].dims[1] = d[1].dims[2] = d[1].dims[3] = 1;
    d[1].count = l->hi[0];
    return 2;
}

static int linear_check_batch(const ctr__layer *l, int64_t n, int64_t groups, int train,
                              ctr__error *err)
{
    (void)train;
    int64_t rows, in;
    (void)groups;
    ctr__shape_rows(&l->in, &rows, &in);
    if (n > INT_MAX / rows)
        return ctr__fail(err, CTR_E_SHAPE, "batch of %lld rows is too large for BLAS",
                         (long long)n * rows);
    return CTR_OK;
}

static void linear_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    int64_t rows, in, out = l->hi[0];
    float beta = 0.0f;
    ctr__shape_rows(&l->in, &rows, &in);
    rows *= r->n;
    if (l->hi[1]) {
        ctr__fill_rows(r->y, r->w + out * in, rows, out);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)out,
                (int)in, 1.0f, r->x, (int)in, r->w, (int)in, beta, r->y, (int)out);
}

static void linear_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    int64_t rows, in, out = l->hi[0];
    ctr__shape_rows(&l->in, &rows, &in);
    rows *= r->n;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in,
                (int)rows, 1.0f, r->dy, (int)out, r->x, (int)in, 1.0f, r->gw,
                (int)in);
    if (l->hi[1] && !r->bias_grad_done) /* else summed by the layer after */
        ctr__add_rows(r->gw + out * in, r->dy, rows, out);
    if (r->dx != NULL)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows,
                    (int)in, (int)out, 1.0f, r->dy, (int)out, r->w, (int)in,
                    0.0f, r->dx, (int)in);
}

/* Listed in layer_registry.c. */
const ctr__layer_ops ctr__layer_linear_ops = {
    .kind = CTR_LAYER_LINEAR,
    .configure = linear_configure,
    .init = linear_init,
    .tensors = linear_tensors,
    .check_batch = linear_check_batch,
    .forward = linear_forward,
    .backward = linear_backward,
};

CTR_API int ctr_encoder_add_linear(ctr_encoder *enc, int64_t out_features,
                                   int32_t bias)
{
    ctr__layer l = ctr__layer_template(&ctr__layer_linear_ops);
    l.hi[0] = out_features;
    l.hi[1] = bias;
    return ctr__encoder_add(enc, &l);
}
