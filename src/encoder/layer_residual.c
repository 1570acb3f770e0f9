/*
 * layer_residual.c - the residual kind: closes a block whose branch is the
 * layers after its source, y = branch + shortcut(source), as ResNet's
 * basic block before its last ReLU.
 *
 * The source is the output of an earlier layer (hi[0]; -1 the encoder's
 * input), read through the encoder's skip link (layer.h, has_skip). The
 * shortcut is the identity (source and branch of one shape) or a
 * projection: a 1x1 convolution without bias, stride hi[2], then batch
 * norm with gamma and beta (torchvision's downsample), run through the
 * conv2d and batchnorm kinds' own tables on sub-layers built here.
 *
 * Hyper-parameters: hi[0] source layer, hi[1] shortcut (CTR_SHORTCUT_*),
 * hi[2] stride; hf[0] batch norm eps, hf[1] momentum (identity: all of
 * stride 1, eps 0, momentum 0).
 * Parameters (projection): conv weight O x C x 1 x 1, gamma O, beta O;
 * statistics: running mean O, running variance O.
 * Cache (projection): the convolution's, its output (n x out), the batch
 * norm's.
 */
#include <math.h>
#include <string.h>

#include "common/vec.h"
#include "encoder/encoder_build.h"

/* The kinds the projection runs through (layer_conv.c, layer_norm.c). */
extern const ctr__layer_ops ctr__layer_conv2d_ops;
extern const ctr__layer_ops ctr__layer_batchnorm_ops;

static int is_projection(const ctr__layer *l)
{
    return l->hi[1] == CTR_SHORTCUT_PROJECTION;
}

static int same_shape(const ctr__shape *a, const ctr__shape *b)
{
    return a->ndims == b->ndims && a->d[0] == b->d[0] && a->d[1] == b->d[1] &&
           a->d[2] == b->d[2];
}

/* The projection's 1x1 convolution (on the source) and batch norm,
 * configured; the checks' messages go to err (may be NULL). */
static int projection_layers(const ctr__layer *l, ctr__layer *conv, ctr__layer *bn,
                             ctr__error *err)
{
    int rc;
    *conv = ctr__layer_template(&ctr__layer_conv2d_ops);
    conv->hi[0] = l->in.d[0];
    conv->hi[1] = 1;
    conv->hi[2] = l->hi[2];
    conv->in = conv->out = l->skip;
    if ((rc = conv->ops->configure(conv, err)) != CTR_OK)
        return rc;
    *bn = ctr__layer_template(&ctr__layer_batchnorm_ops);
    bn->hi[0] = 1;
    bn->hf[0] = l->hf[0];
    bn->hf[1] = l->hf[1];
    bn->in = bn->out = conv->out;
    return bn->ops->configure(bn, err);
}

static int configure_identity(ctr__layer *l, ctr__error *err)
{
    if (l->hi[2] != 1 || l->hf[0] != 0.0 || l->hf[1] != 0.0)
        return ctr__fail(err, CTR_E_INVALID_ARG,
                         "an identity shortcut takes stride 1 (got %lld)", (long long)l->hi[2]);
    if (!same_shape(&l->skip, &l->in))
        return ctr__fail(err, CTR_E_SHAPE,
                         "identity shortcut: the source's shape differs from the branch's");
    return CTR_OK;
}

static int configure_projection(ctr__layer *l, ctr__error *err)
{
    ctr__layer conv, bn;
    int rc;
    if (l->skip.ndims != 3 || l->in.ndims != 3)
        return ctr__fail(err, CTR_E_SHAPE, "a projection shortcut needs images (C x H x W)");
    if (l->hi[2] < 1 || l->hi[2] > 4096)
        return ctr__fail(err, CTR_E_INVALID_ARG, "stride must be in [1, 4096] (got %lld)",
                         (long long)l->hi[2]);
    if ((rc = projection_layers(l, &conv, &bn, err)) != CTR_OK)
        return rc;
    if (!same_shape(&conv.out, &l->in))
        return ctr__fail(err, CTR_E_SHAPE,
                         "projection shortcut: the strided source does not match the branch");
    l->param_count = conv.param_count + bn.param_count;
    l->stat_count = bn.stat_count;
    return CTR_OK;
}

static int residual_configure(ctr__layer *l, ctr__error *err)
{
    l->out = l->in;
    l->param_count = 0;
    l->stat_count = 0;
    if (l->hi[1] == CTR_SHORTCUT_IDENTITY)
        return configure_identity(l, err);
    if (is_projection(l))
        return configure_projection(l, err);
    return ctr__fail(err, CTR_E_INVALID_ARG,
                     "shortcut must be CTR_SHORTCUT_IDENTITY or _PROJECTION (got %lld)",
                     (long long)l->hi[1]);
}

static void residual_init(const ctr__layer *l, float *w, float *stat, ctr__prng *g)
{
    ctr__layer conv, bn;
    if (!is_projection(l))
        return;
    projection_layers(l, &conv, &bn, NULL);
    conv.ops->init(&conv, w, NULL, g);
    bn.ops->init(&bn, w + conv.param_count, stat, g);
}

/* Cache floats for n samples: the convolution's (train or no-grad), its
 * output, the batch norm's; the offsets of the last two in *at. */
static int projection_cache(const ctr__layer *l, int64_t n, int64_t groups, int nograd,
                            size_t *total, size_t at[2])
{
    ctr__layer conv, bn;
    size_t c, mid, b;
    projection_layers(l, &conv, &bn, NULL);
    if (ctr__layer_cache_floats(&conv, n, groups, nograd, &c) != CTR_OK ||
        ctr__matrix_bytes(&mid, n, ctr__shape_size(&l->in), 1) != CTR_OK ||
        ctr__layer_cache_floats(&bn, n, groups, nograd, &b) != CTR_OK ||
        ctr__add_size(&at[1], c, mid) != CTR_OK || ctr__add_size(total, at[1], b) != CTR_OK)
        return CTR_E_OVERFLOW;
    at[0] = c;
    return CTR_OK;
}

static int residual_cache_floats(const ctr__layer *l, int64_t n, int64_t groups, size_t *out)
{
    size_t at[2];
    *out = 0;
    return is_projection(l) ? projection_cache(l, n, groups, 0, out, at) : CTR_OK;
}

static int residual_infer_floats(const ctr__layer *l, int64_t n, int64_t groups, size_t *out)
{
    size_t at[2];
    *out = 0;
    return is_projection(l) ? projection_cache(l, n, groups, 1, out, at) : CTR_OK;
}

static int residual_tensors(const ctr__layer *l, ctr__tensor_desc *d)
{
    ctr__layer conv, bn;
    int k;
    if (!is_projection(l))
        return 0;
    projection_layers(l, &conv, &bn, NULL);
    k = conv.ops->tensors(&conv, d);
    return k + bn.ops->tensors(&bn, d + k);
}

static int residual_check_batch(const ctr__layer *l, int64_t n, int64_t groups, int train,
                                ctr__error *err)
{
    ctr__layer conv, bn;
    int rc;
    if (!is_projection(l))
        return CTR_OK;
    projection_layers(l, &conv, &bn, NULL);
    rc = conv.ops->check_batch(&conv, n, groups, train, err);
    return rc != CTR_OK ? rc : bn.ops->check_batch(&bn, n, groups, train, err);
}

/* y = a + b */
static void add_arrays(float *restrict y, const float *restrict a, const float *restrict b,
                       int64_t n)
{
    int64_t i;
    CTR__VEC_FOR(i, n, y[i] = a[i] + b[i]);
}

/* y += a */
static void accumulate(float *restrict y, const float *restrict a, int64_t n)
{
    int64_t i;
    CTR__VEC_FOR(i, n, y[i] += a[i]);
}

/* The sub-layers' runs: the convolution (source -> mid) and batch norm
 * (mid -> y), with their parameters, statistics and caches. */
static void projection_runs(const ctr__layer *l, const ctr__layer_run *r,
                            const ctr__layer *conv, ctr__layer_run *rc, ctr__layer_run *rb)
{
    size_t total, at[2];
    projection_cache(l, r->n, r->groups, r->nograd, &total, at);
    *rc = *r;
    rc->x = r->skip;
    rc->y = r->cache + at[0];
    rc->cache = r->cache;
    *rb = *r;
    rb->x = rc->y;
    rb->w = r->w + conv->param_count;
    rb->gw = r->gw == NULL ? NULL : r->gw + conv->param_count;
    rb->cache = r->cache + at[1];
}

static void residual_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    ctr__layer conv, bn;
    ctr__layer_run rc, rb;
    int64_t count = r->n * ctr__shape_size(&l->out);
    if (!is_projection(l)) {
        add_arrays(r->y, r->x, r->skip, count);
        return;
    }
    projection_layers(l, &conv, &bn, NULL);
    projection_runs(l, r, &conv, &rc, &rb);
    conv.ops->forward(&conv, &rc);
    bn.ops->forward(&bn, &rb); /* into y, then the branch is added */
    accumulate(r->y, r->x, count);
}

static void residual_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    ctr__layer conv, bn;
    ctr__layer_run rc, rb;
    size_t count = (size_t)(r->n * ctr__shape_size(&l->out));
    if (!is_projection(l)) {
        memcpy(r->dskip, r->dy, count * sizeof(float));
    } else { /* dx holds the batch norm's input gradient on the way */
        projection_layers(l, &conv, &bn, NULL);
        projection_runs(l, r, &conv, &rc, &rb);
        rb.y = NULL;
        rb.dx = r->dx;
        bn.ops->backward(&bn, &rb);
        rc.dy = r->dx;
        rc.dx = r->dskip;
        conv.ops->backward(&conv, &rc);
    }
    memcpy(r->dx, r->dy, count * sizeof(float));
}

/* Listed in layer_registry.c. */
const ctr__layer_ops ctr__layer_residual_ops = {
    .kind = CTR_LAYER_RESIDUAL,
    .has_skip = 1,
    .configure = residual_configure,
    .init = residual_init,
    .cache_floats = residual_cache_floats,
    .infer_floats = residual_infer_floats,
    .tensors = residual_tensors,
    .check_batch = residual_check_batch,
    .forward = residual_forward,
    .backward = residual_backward,
};

CTR_API int ctr_encoder_add_residual(ctr_encoder *enc, int64_t source, int32_t shortcut,
                                     int64_t stride, double eps, double momentum)
{
    ctr__layer l = ctr__layer_template(&ctr__layer_residual_ops);
    l.hi[0] = source;
    l.hi[1] = shortcut;
    l.hi[2] = stride;
    if (shortcut == CTR_SHORTCUT_PROJECTION) {
        l.hf[0] = eps;
        l.hf[1] = momentum;
    }
    return ctr__encoder_add(enc, &l);
}
