/*
 * layer_norm.c - batch normalisation (per channel, train/eval, running
 * statistics, optional grouped statistics for shuffle-BN emulation) and
 * layer normalisation (per row).
 *
 * Batch norm hyper-parameters: hi[0] affine, hf[0] eps, hf[1] momentum.
 * Layer norm hyper-parameters: hi[0] affine, hf[0] eps.
 * A sample is seen as outer x C x inner (batch norm) or rows x len (layer
 * norm), see ctr__shape_channels / ctr__shape_rows.
 */
#include <math.h>
#include <string.h>

#include "encoder_layer.h"

static int check_norm_args(const ctr__layer *l, ctr__error *err)
{
    if (l->hi[0] != 0 && l->hi[0] != 1)
        return ctr__fail(err, CTR_E_INVALID_ARG, "affine must be 0 or 1 (got %lld)",
                         (long long)l->hi[0]);
    if (!(l->hf[0] > 0.0) || !isfinite(l->hf[0]))
        return ctr__fail(err, CTR_E_INVALID_ARG, "eps must be finite and > 0 (got %g)",
                         l->hf[0]);
    return CTR_OK;
}

static void fill_norm_tensors(ctr__tensor_desc *d, const ctr__shape *s, int64_t count)
{
    int k, i;
    for (k = 0; k < 2; k++) {
        d[k].role = k == 0 ? CTR_TENSOR_NORM_WEIGHT : CTR_TENSOR_NORM_BIAS;
        d[k].ndims = s->ndims;
        for (i = 0; i < 4; i++)
            d[k].dims[i] = i < s->ndims ? s->d[i] : 1;
        d[k].count = count;
    }
}

static void init_affine(int64_t count, float *w)
{
    int64_t i;
    for (i = 0; i < count; i++) {
        w[i] = 1.0f;
        w[count + i] = 0.0f;
    }
}

/* ---- batch norm ------------------------------------------------------------- */

static int64_t bn_channels(const ctr__layer *l)
{
    int64_t outer, c, inner;
    ctr__shape_channels(&l->in, &outer, &c, &inner);
    return c;
}

static int bn_configure(ctr__layer *l, ctr__error *err)
{
    int rc = check_norm_args(l, err);
    int64_t c = bn_channels(l);
    if (rc != CTR_OK)
        return rc;
    if (!(l->hf[1] >= 0.0 && l->hf[1] <= 1.0))
        return ctr__fail(err, CTR_E_INVALID_ARG, "momentum must be in [0, 1] (got %g)",
                         l->hf[1]);
    l->out = l->in;
    l->param_count = l->hi[0] ? 2 * c : 0;
    l->stat_count = 2 * c;
    return CTR_OK;
}

static void bn_init(const ctr__layer *l, float *w, float *stat, ctr__prng *g)
{
    int64_t c = bn_channels(l), i;
    (void)g;
    if (l->hi[0])
        init_affine(c, w);
    for (i = 0; i < c; i++) {
        stat[i] = 0.0f;
        stat[c + i] = 1.0f;
    }
}

/* Cache: xhat (n x size), then per group and channel: mean, invstd and two
 * backward sums. */
static int bn_cache_floats(const ctr__layer *l, int64_t n, int64_t groups, size_t *out)
{
    size_t a, b;
    if (ctr__matrix_bytes(&a, n, ctr__shape_size(&l->in), 1) != CTR_OK ||
        ctr__matrix_bytes(&b, groups, 4 * bn_channels(l), 1) != CTR_OK ||
        ctr__add_size(out, a, b) != CTR_OK)
        return CTR_E_OVERFLOW;
    return CTR_OK;
}

static int bn_tensors(const ctr__layer *l, ctr__tensor_desc *d)
{
    ctr__shape s = {1, {1, 1, 1}};
    if (!l->hi[0])
        return 0;
    s.d[0] = bn_channels(l);
    fill_norm_tensors(d, &s, s.d[0]);
    return 2;
}

static int bn_check_batch(const ctr__layer *l, int64_t n, int64_t groups,
                          ctr__error *err)
{
    int64_t outer, c, inner;
    ctr__shape_channels(&l->in, &outer, &c, &inner);
    if (n % groups != 0)
        return ctr__fail(err, CTR_E_SHAPE,
                         "batch norm: batch %lld is not a multiple of %lld groups",
                         (long long)n, (long long)groups);
    if ((n / groups) * outer * inner < 2)
        return ctr__fail(err, CTR_E_SHAPE,
                         "batch norm in train mode needs more than one value per "
                         "channel and group (batch %lld, groups %lld)",
                         (long long)n, (long long)groups);
    return CTR_OK;
}

/* acc[c] += sum over inner of (x[c][b] - center[c])^p, p = 1 or 2, for
 * one outer slice; center NULL means 0. */
static void bn_accumulate(float *acc, const float *x, const float *center,
                          int64_t c, int64_t inner, int square)
{
    int64_t j, b;
    if (inner == 1) {
        for (j = 0; j < c; j++) {
            float v = x[j] - (center != NULL ? center[j] : 0.0f);
            acc[j] += square ? v * v : v;
        }
        return;
    }
    for (j = 0; j < c; j++) {
        const float *xj = x + j * inner;
        float m = center != NULL ? center[j] : 0.0f, s = 0.0f;
        for (b = 0; b < inner; b++) {
            float v = xj[b] - m;
            s += square ? v * v : v;
        }
        acc[j] += s;
    }
}

/* y = xhat * gamma + beta with xhat = (x - mean) * invstd, per channel. */
static void bn_normalise(float *xhat, float *y, const float *x, const float *mean,
                         const float *invstd, const float *w, int64_t c,
                         int64_t inner)
{
    int64_t j, b;
    for (j = 0; j < c; j++) {
        float m = mean[j], is = invstd[j];
        float ga = w != NULL ? w[j] : 1.0f, be = w != NULL ? w[c + j] : 0.0f;
        for (b = 0; b < inner; b++) {
            float h = (x[j * inner + b] - m) * is;
            if (xhat != NULL)
                xhat[j * inner + b] = h;
            y[j * inner + b] = h * ga + be;
        }
    }
}

static void bn_forward_train(const ctr__layer *l, const ctr__layer_run *r)
{
    int64_t outer, c, inner, g, j, s, per, rows_per_group;
    int64_t size = ctr__shape_size(&l->in), slice;
    float *xhat = r->cache, *mean, *invstd;
    const float *w = l->hi[0] ? r->w : NULL;
    float mom = (float)l->hf[1];
    ctr__shape_channels(&l->in, &outer, &c, &inner);
    mean = xhat + r->n * size;
    invstd = mean + r->groups * c;
    slice = c * inner;
    per = r->n / r->groups;
    rows_per_group = per * outer;
    for (g = 0; g < r->groups; g++) {
        const float *xg = r->x + g * per * size;
        float *mg = mean + g * c, *ig = invstd + g * c;
        float count = (float)(rows_per_group * inner);
        memset(mg, 0, (size_t)c * sizeof(float));
        memset(ig, 0, (size_t)c * sizeof(float));
        for (s = 0; s < rows_per_group; s++)
            bn_accumulate(mg, xg + s * slice, NULL, c, inner, 0);
        for (j = 0; j < c; j++)
            mg[j] /= count;
        for (s = 0; s < rows_per_group; s++)
            bn_accumulate(ig, xg + s * slice, mg, c, inner, 1);
        for (j = 0; j < c; j++) {
            float var = ig[j] / count;
            float unbiased = ig[j] / (count - 1.0f);
            ig[j] = 1.0f / sqrtf(var + (float)l->hf[0]);
            /* running statistics: mean over groups of the group statistics */
            if (g == 0) {
                r->stat[j] *= 1.0f - mom;
                r->stat[c + j] *= 1.0f - mom;
            }
            r->stat[j] += mom * mg[j] / (float)r->groups;
            r->stat[c + j] += mom * unbiased / (float)r->groups;
        }
        for (s = 0; s < rows_per_group; s++)
            bn_normalise(xhat + (g * rows_per_group + s) * slice,
                         r->y + (g * rows_per_group + s) * slice, xg + s * slice,
                         mg, ig, w, c, inner);
    }
}

static void bn_forward_eval(const ctr__layer *l, const ctr__layer_run *r)
{
    int64_t outer, c, inner, j, s, rows;
    float *invstd;
    const float *w = l->hi[0] ? r->w : NULL;
    ctr__shape_channels(&l->in, &outer, &c, &inner);
    invstd = r->cache + r->n * ctr__shape_size(&l->in);
    for (j = 0; j < c; j++)
        invstd[j] = 1.0f / sqrtf(r->stat[c + j] + (float)l->hf[0]);
    rows = r->n * outer;
    for (s = 0; s < rows; s++)
        bn_normalise(NULL, r->y + s * c * inner, r->x + s * c * inner, r->stat,
                     invstd, w, c, inner);
}

static void bn_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    if (r->train)
        bn_forward_train(l, r);
    else
        bn_forward_eval(l, r);
}

/* sdy[c] += sum dy, sdx[c] += sum dy * xhat over one outer slice. */
static void bn_backward_sums(float *sdy, float *sdx, const float *dy,
                             const float *xhat, int64_t c, int64_t inner)
{
    int64_t j, b;
    for (j = 0; j < c; j++) {
        float a = 0.0f, e = 0.0f;
        for (b = 0; b < inner; b++) {
            a += dy[j * inner + b];
            e += dy[j * inner + b] * xhat[j * inner + b];
        }
        sdy[j] += a;
        sdx[j] += e;
    }
}

static void bn_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    int64_t outer, c, inner, g, j, b, s, per, rows_per_group, slice;
    int64_t size = ctr__shape_size(&l->in);
    const float *xhat = r->cache;
    const float *invstd;
    float *sdy, *sdx;
    ctr__shape_channels(&l->in, &outer, &c, &inner);
    invstd = xhat + r->n * size + r->groups * c;
    sdy = (float *)invstd + r->groups * c;
    sdx = sdy + r->groups * c;
    slice = c * inner;
    per = r->n / r->groups;
    rows_per_group = per * outer;
    for (g = 0; g < r->groups; g++) {
        int64_t first = g * rows_per_group;
        float *sg = sdy + g * c, *eg = sdx + g * c;
        float m = (float)(rows_per_group * inner);
        memset(sg, 0, (size_t)c * sizeof(float));
        memset(eg, 0, (size_t)c * sizeof(float));
        for (s = 0; s < rows_per_group; s++)
            bn_backward_sums(sg, eg, r->dy + (first + s) * slice,
                             xhat + (first + s) * slice, c, inner);
        if (l->hi[0]) {
            for (j = 0; j < c; j++) {
                r->gw[j] += eg[j];
                r->gw[c + j] += sg[j];
            }
        }
        if (r->dx == NULL)
            continue;
        for (s = 0; s < rows_per_group; s++) {
            const float *dy = r->dy + (first + s) * slice;
            const float *h = xhat + (first + s) * slice;
            float *dx = r->dx + (first + s) * slice;
            for (j = 0; j < c; j++) {
                float ga = l->hi[0] ? r->w[j] : 1.0f;
                float k = ga * invstd[g * c + j] / m;
                float mean_dy = sg[j], mean_dyh = eg[j];
                for (b = 0; b < inner; b++)
                    dx[j * inner + b] = k * (m * dy[j * inner + b] - mean_dy -
                                             h[j * inner + b] * mean_dyh);
            }
        }
    }
}

const ctr__layer_ops ctr__layer_batchnorm_ops = {
    bn_configure, bn_init, bn_cache_floats, bn_tensors, bn_check_batch,
    bn_forward, bn_backward,
};

/* ---- layer norm ------------------------------------------------------------- */

static int ln_configure(ctr__layer *l, ctr__error *err)
{
    int rc = check_norm_args(l, err);
    int64_t rows, len;
    if (rc != CTR_OK)
        return rc;
    ctr__shape_rows(&l->in, &rows, &len);
    l->out = l->in;
    l->param_count = l->hi[0] ? 2 * len : 0;
    l->stat_count = 0;
    return CTR_OK;
}

static void ln_init(const ctr__layer *l, float *w, float *stat, ctr__prng *g)
{
    int64_t rows, len;
    (void)stat;
    (void)g;
    ctr__shape_rows(&l->in, &rows, &len);
    if (l->hi[0])
        init_affine(len, w);
}

/* Cache: xhat (n x size), then one invstd per row. */
static int ln_cache_floats(const ctr__layer *l, int64_t n, int64_t groups, size_t *out)
{
    int64_t rows, len;
    (void)groups;
    ctr__shape_rows(&l->in, &rows, &len);
    return ctr__matrix_bytes(out, n, rows * (len + 1), 1);
}

static int ln_tensors(const ctr__layer *l, ctr__tensor_desc *d)
{
    int64_t rows, len;
    ctr__shape s = l->in;
    if (!l->hi[0])
        return 0;
    ctr__shape_rows(&l->in, &rows, &len);
    if (s.ndims == 2) { /* a sequence normalises its feature dimension */
        s.ndims = 1;
        s.d[0] = len;
        s.d[1] = 1;
    }
    fill_norm_tensors(d, &s, len);
    return 2;
}

static void ln_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    int64_t rows, len, i, j;
    float *xhat, *invstd;
    ctr__shape_rows(&l->in, &rows, &len);
    rows *= r->n;
    xhat = r->cache;
    invstd = xhat + rows * len;
    for (i = 0; i < rows; i++) {
        const float *x = r->x + i * len;
        float *h = xhat + i * len, *y = r->y + i * len;
        double mean = 0.0, var = 0.0;
        float m, is;
        for (j = 0; j < len; j++)
            mean += x[j];
        mean /= (double)len;
        for (j = 0; j < len; j++)
            var += (x[j] - mean) * (x[j] - mean);
        var /= (double)len;
        m = (float)mean;
        is = (float)(1.0 / sqrt(var + l->hf[0]));
        invstd[i] = is;
        for (j = 0; j < len; j++) {
            h[j] = (x[j] - m) * is;
            y[j] = l->hi[0] ? h[j] * r->w[j] + r->w[len + j] : h[j];
        }
    }
}

static void ln_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    int64_t rows, len, i, j;
    const float *xhat = r->cache, *invstd;
    ctr__shape_rows(&l->in, &rows, &len);
    rows *= r->n;
    invstd = xhat + rows * len;
    for (i = 0; i < rows; i++) {
        const float *dy = r->dy + i * len, *h = xhat + i * len;
        float sd = 0.0f, sdh = 0.0f;
        if (l->hi[0]) {
            for (j = 0; j < len; j++) {
                r->gw[j] += dy[j] * h[j];
                r->gw[len + j] += dy[j];
            }
        }
        if (r->dx == NULL)
            continue;
        for (j = 0; j < len; j++) {
            float d = l->hi[0] ? dy[j] * r->w[j] : dy[j];
            sd += d;
            sdh += d * h[j];
        }
        sd /= (float)len;
        sdh /= (float)len;
        for (j = 0; j < len; j++) {
            float d = l->hi[0] ? dy[j] * r->w[j] : dy[j];
            r->dx[i * len + j] = invstd[i] * (d - sd - h[j] * sdh);
        }
    }
}

const ctr__layer_ops ctr__layer_layernorm_ops = {
    ln_configure, ln_init, ln_cache_floats, ln_tensors, NULL,
    ln_forward, ln_backward,
};
