/*
 * layer_pool.c - 2-D max and average pooling (square window k, stride s,
 * zero padding p, floor mode, as PyTorch's MaxPool2d / AvgPool2d with
 * count_include_pad=True) and global average pooling (C x H x W -> a
 * vector of C, as AdaptiveAvgPool2d(1) followed by flatten).
 *
 * Pool hyper-parameters: hi[0] kernel, hi[1] stride, hi[2] padding.
 * Max pooling caches the index of each output's maximum (int32).
 */
#include <limits.h>
#include <string.h>

#include "common/parallel.h"
#include "common/vec.h"
#include "encoder/encoder_build.h"

typedef struct pool_geom {
    int64_t c, h, w, k, s, p, oh, ow;
} pool_geom;

static pool_geom pool_geometry(const ctr__layer *l)
{
    pool_geom g;
    g.c = l->in.d[0];
    g.h = l->in.d[1];
    g.w = l->in.d[2];
    g.k = l->hi[0];
    g.s = l->hi[1];
    g.p = l->hi[2];
    g.oh = ctr__window_count(g.h, g.k, g.s, g.p);
    g.ow = ctr__window_count(g.w, g.k, g.s, g.p);
    return g;
}

static int pool_configure(ctr__layer *l, ctr__error *err)
{
    pool_geom g;
    if (l->in.ndims != 3)
        return ctr__fail(err, CTR_E_SHAPE, "pooling needs an image (C x H x W) input");
    if (l->hi[0] < 1 || l->hi[0] > 4096 || l->hi[1] < 1 || l->hi[1] > 4096 ||
        l->hi[2] < 0 || l->hi[2] > l->hi[0] / 2)
        return ctr__fail(err, CTR_E_INVALID_ARG,
                         "pooling needs kernel and stride in [1, 4096], padding in [0, kernel/2]");
    g = pool_geometry(l);
    if (g.oh < 1 || g.ow < 1)
        return ctr__fail(err, CTR_E_SHAPE, "pooling window %lld does not fit the input",
                         (long long)g.k);
    if (g.c * g.h * g.w > INT_MAX)
        return ctr__fail(err, CTR_E_SHAPE, "pooling input too large");
    l->out.ndims = 3;
    l->out.d[0] = g.c;
    l->out.d[1] = g.oh;
    l->out.d[2] = g.ow;
    l->param_count = 0;
    l->stat_count = 0;
    return CTR_OK;
}

/* ---- max ----------------------------------------------------------------- */

static int maxpool_cache_floats(const ctr__layer *l, int64_t n, int64_t groups, size_t *out)
{
    (void)groups;
    return ctr__matrix_bytes(out, n, ctr__shape_size(&l->out), 1);
}

/* One sample (s) of max pooling; the samples are split over threads. */
static void maxpool_sample(const pool_geom *g, const ctr__layer_run *r, int64_t s)
{
    int32_t *arg = (int32_t *)(void *)r->cache;
    int64_t in_size = g->c * g->h * g->w, out_size = g->c * g->oh * g->ow, c, oh, ow, i, j;
    for (c = 0; c < g->c; c++)
        for (oh = 0; oh < g->oh; oh++)
            for (ow = 0; ow < g->ow; ow++) {
                int64_t o = s * out_size + (c * g->oh + oh) * g->ow + ow;
                int64_t best = -1;
                float m = 0.0f;
                for (i = oh * g->s - g->p; i < oh * g->s - g->p + g->k; i++)
                    for (j = ow * g->s - g->p; j < ow * g->s - g->p + g->k; j++) {
                        int64_t at = (c * g->h + i) * g->w + j;
                        float v;
                        if (i < 0 || i >= g->h || j < 0 || j >= g->w)
                            continue;
                        v = r->x[s * in_size + at];
                        if (best < 0 || v > m) {
                            m = v;
                            best = at;
                        }
                    }
                r->y[o] = m;
                arg[o] = (int32_t)best;
            }
}

static void maxpool_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    pool_geom g = pool_geometry(l);
    int64_t s;
    CTR__PARALLEL_FOR(r->n * g.c * g.h * g.w)
    for (s = 0; s < r->n; s++)
        maxpool_sample(&g, r, s);
}

static void maxpool_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    pool_geom g = pool_geometry(l);
    const int32_t *arg = (const int32_t *)(const void *)r->cache;
    int64_t in_size = g.c * g.h * g.w, out_size = g.c * g.oh * g.ow, s;
    if (r->dx == NULL)
        return;
    CTR__PARALLEL_FOR(r->n * in_size)
    for (s = 0; s < r->n; s++) {
        float *dx = r->dx + s * in_size;
        int64_t o;
        memset(dx, 0, (size_t)in_size * sizeof(float));
        for (o = 0; o < out_size; o++)
            dx[arg[s * out_size + o]] += r->dy[s * out_size + o];
    }
}

/* Listed in layer_registry.c. */
const ctr__layer_ops ctr__layer_maxpool2d_ops = {
    .kind = CTR_LAYER_MAXPOOL2D,
    .configure = pool_configure,
    .cache_floats = maxpool_cache_floats,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
};

/* ---- average ------------------------------------------------------------- */

/* Forward (dir 0): y = window mean of x. Backward (dir 1): dx += dy / k^2
 * over each window. Padding counts as zeros in the divisor. */
static void avgpool_sample(const pool_geom *g, const ctr__layer_run *r, int backward, int64_t s)
{
    int64_t in_size = g->c * g->h * g->w, out_size = g->c * g->oh * g->ow, c, oh, ow, i, j;
    float inv = 1.0f / (float)(g->k * g->k);
    for (c = 0; c < g->c; c++)
        for (oh = 0; oh < g->oh; oh++)
            for (ow = 0; ow < g->ow; ow++) {
                int64_t o = s * out_size + (c * g->oh + oh) * g->ow + ow;
                float acc = 0.0f, d = backward ? r->dy[o] * inv : 0.0f;
                for (i = oh * g->s - g->p; i < oh * g->s - g->p + g->k; i++)
                    for (j = ow * g->s - g->p; j < ow * g->s - g->p + g->k; j++) {
                        int64_t at = s * in_size + (c * g->h + i) * g->w + j;
                        if (i < 0 || i >= g->h || j < 0 || j >= g->w)
                            continue;
                        if (backward)
                            r->dx[at] += d;
                        else
                            acc += r->x[at];
                    }
                if (!backward)
                    r->y[o] = acc * inv;
            }
}

/* The samples are split over threads. */
static void avgpool_sweep(const ctr__layer *l, const ctr__layer_run *r, int backward)
{
    pool_geom g = pool_geometry(l);
    int64_t s;
    CTR__PARALLEL_FOR(r->n * g.c * g.h * g.w)
    for (s = 0; s < r->n; s++)
        avgpool_sample(&g, r, backward, s);
}

static void avgpool_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    avgpool_sweep(l, r, 0);
}

static void avgpool_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    if (r->dx == NULL)
        return;
    memset(r->dx, 0, (size_t)(r->n * ctr__shape_size(&l->in)) * sizeof(float));
    avgpool_sweep(l, r, 1);
}

/* Listed in layer_registry.c. */
const ctr__layer_ops ctr__layer_avgpool2d_ops = {
    .kind = CTR_LAYER_AVGPOOL2D,
    .configure = pool_configure,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
};

/* ---- global average ------------------------------------------------------ */

static int gap_configure(ctr__layer *l, ctr__error *err)
{
    if (l->in.ndims != 3)
        return ctr__fail(err, CTR_E_SHAPE, "global average pooling needs an image input");
    l->out.ndims = 1;
    l->out.d[0] = l->in.d[0];
    l->out.d[1] = l->out.d[2] = 1;
    l->param_count = 0;
    l->stat_count = 0;
    return CTR_OK;
}

static void gap_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    int64_t c = l->in.d[0], hw = l->in.d[1] * l->in.d[2], i;
    CTR__PARALLEL_FOR(r->n * c * hw)
    for (i = 0; i < r->n * c; i++)
        r->y[i] = ctr__sum(r->x + i * hw, hw) / (float)hw;
}

static void fill(float *restrict dst, float v, int64_t n)
{
    int64_t j;
    CTR__VEC_FOR(j, n, dst[j] = v);
}

static void gap_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    int64_t c = l->in.d[0], hw = l->in.d[1] * l->in.d[2], i;
    if (r->dx == NULL)
        return;
    CTR__PARALLEL_FOR(r->n * c * hw)
    for (i = 0; i < r->n * c; i++)
        fill(r->dx + i * hw, r->dy[i] / (float)hw, hw);
}

/* Listed in layer_registry.c. */
const ctr__layer_ops ctr__layer_global_avgpool_ops = {
    .kind = CTR_LAYER_GLOBAL_AVGPOOL,
    .configure = gap_configure,
    .forward = gap_forward,
    .backward = gap_backward,
};

/* The table of a 2-D pooling kind, NULL for another value. */
static const ctr__layer_ops *pool2d_ops(int32_t kind)
{
    switch (kind) {
    case CTR_LAYER_MAXPOOL2D: return &ctr__layer_maxpool2d_ops;
    case CTR_LAYER_AVGPOOL2D: return &ctr__layer_avgpool2d_ops;
    default: return NULL;
    }
}

CTR_API int ctr_encoder_add_pool2d(ctr_encoder *enc, int32_t kind, int64_t kernel,
                                   int64_t stride, int64_t padding)
{
    ctr__layer l = ctr__layer_template(pool2d_ops(kind));
    l.hi[0] = kernel;
    l.hi[1] = stride;
    l.hi[2] = padding;
    return ctr__encoder_add_kind(enc, &l, kind,
                                 "pool kind must be CTR_LAYER_MAXPOOL2D or _AVGPOOL2D");
}

CTR_API int ctr_encoder_add_global_avgpool(ctr_encoder *enc)
{
    ctr__layer l = ctr__layer_template(&ctr__layer_global_avgpool_ops);
    return ctr__encoder_add(enc, &l);
}
