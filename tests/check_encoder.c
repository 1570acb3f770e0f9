/*
 * check_encoder.c - the encoder: every layer against a double-precision
 * reference written here (forward) and central finite differences of that
 * reference (backward); golden values from PyTorch (tests/gen_encoder.py);
 * copies, momentum update, checkpoints, determinism, bad input, memory;
 * the registry of layer kinds that checkpoints are read through.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/checkpoint.h"
#include "encoder/layer_registry.h"
#include "golden_util.h"
#include "test_util.h"

#define GOLDEN "encoder_golden.txt"

/* ---- a one-layer network and its double-precision reference -------------- */

typedef struct spec {
    int32_t kind;
    int32_t ndims;
    int64_t dims[3];
    int64_t n;
    int64_t hi0;    /* linear/conv: out features; norms: affine; pool: kernel */
    int64_t hi1;    /* linear: bias; conv: kernel; pool: stride */
    int64_t hi2;    /* conv: stride; pool: padding */
    int64_t hi3;    /* conv: padding */
    int64_t hi4;    /* conv: bias */
    int64_t out_sz; /* per-sample output size (filled from the encoder) */
    double hf0;     /* eps */
    double hf1;     /* batch norm momentum */
    int64_t groups; /* batch norm groups */
} spec;

static int64_t shape_size(int32_t ndims, const int64_t *d)
{
    int64_t s = 1;
    int i;
    for (i = 0; i < ndims; i++)
        s *= d[i];
    return s;
}

static void rows_of(const spec *s, int64_t *rows, int64_t *len)
{
    *rows = s->ndims == 2 ? s->dims[0] : 1;
    *len = s->ndims == 2 ? s->dims[1] : shape_size(s->ndims, s->dims);
}

static void channels_of(const spec *s, int64_t *outer, int64_t *c, int64_t *inner)
{
    *outer = s->ndims == 2 ? s->dims[0] : 1;
    *c = s->ndims == 2 ? s->dims[1] : s->dims[0];
    *inner = s->ndims == 3 ? s->dims[1] * s->dims[2] : 1;
}

static int64_t out_size(const spec *s)
{
    return s->out_sz;
}

static int64_t windows(int64_t len, int64_t k, int64_t st, int64_t p)
{
    return (len + 2 * p - k) / st + 1;
}

static void ref_conv2d(const spec *s, const double *x, const double *w, double *y)
{
    int64_t C = s->dims[0], H = s->dims[1], W = s->dims[2], O = s->hi0, k = s->hi1;
    int64_t st = s->hi2, p = s->hi3, OH = windows(H, k, st, p), OW = windows(W, k, st, p);
    int64_t n, o, c, i, j, a, b;
    for (n = 0; n < s->n; n++)
        for (o = 0; o < O; o++)
            for (i = 0; i < OH; i++)
                for (j = 0; j < OW; j++) {
                    double acc = s->hi4 ? w[O * C * k * k + o] : 0.0;
                    for (c = 0; c < C; c++)
                        for (a = 0; a < k; a++)
                            for (b = 0; b < k; b++) {
                                int64_t ih = i * st - p + a, iw = j * st - p + b;
                                if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                                    acc += w[((o * C + c) * k + a) * k + b] *
                                           x[((n * C + c) * H + ih) * W + iw];
                            }
                    y[((n * O + o) * OH + i) * OW + j] = acc;
                }
}

static void ref_conv1d(const spec *s, const double *x, const double *w, double *y)
{
    int64_t T = s->dims[0], F = s->dims[1], O = s->hi0, k = s->hi1, st = s->hi2, p = s->hi3;
    int64_t OT = windows(T, k, st, p), n, t, o, f, a;
    for (n = 0; n < s->n; n++)
        for (t = 0; t < OT; t++)
            for (o = 0; o < O; o++) {
                double acc = s->hi4 ? w[O * F * k + o] : 0.0;
                for (f = 0; f < F; f++)
                    for (a = 0; a < k; a++) {
                        int64_t it = t * st - p + a;
                        if (it >= 0 && it < T)
                            acc += w[(o * F + f) * k + a] * x[(n * T + it) * F + f];
                    }
                y[(n * OT + t) * O + o] = acc;
            }
}

static void ref_pool(const spec *s, const double *x, double *y)
{
    int64_t C = s->dims[0], H = s->dims[1], W = s->dims[2], k = s->hi0, st = s->hi1;
    int64_t p = s->hi2, OH = windows(H, k, st, p), OW = windows(W, k, st, p);
    int64_t n, c, i, j, a, b;
    for (n = 0; n < s->n; n++)
        for (c = 0; c < C; c++)
            for (i = 0; i < OH; i++)
                for (j = 0; j < OW; j++) {
                    double acc = 0.0, m = -INFINITY;
                    for (a = 0; a < k; a++)
                        for (b = 0; b < k; b++) {
                            int64_t ih = i * st - p + a, iw = j * st - p + b;
                            double v;
                            if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                continue;
                            v = x[((n * C + c) * H + ih) * W + iw];
                            acc += v;
                            m = v > m ? v : m;
                        }
                    y[((n * C + c) * OH + i) * OW + j] =
                        s->kind == CTR_LAYER_MAXPOOL2D ? m : acc / (double)(k * k);
                }
}

static double sigmoid_d(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

/* torch.nn.GRU (batch_first), h0 = 0, all hidden states. */
static void ref_gru(const spec *s, const double *x, const double *w, double *y)
{
    int64_t T = s->dims[0], F = s->dims[1], H = s->hi0, n, t, j, f;
    const double *wih = w, *whh = w + 3 * H * F, *bih = whh + 3 * H * H, *bhh = bih + 3 * H;
    for (n = 0; n < s->n; n++)
        for (t = 0; t < T; t++) {
            const double *xt = x + (n * T + t) * F;
            const double *hp = t > 0 ? y + (n * T + t - 1) * H : NULL;
            double *h = y + (n * T + t) * H;
            for (j = 0; j < H; j++) {
                double g[3], q[3];
                int k;
                for (k = 0; k < 3; k++) {
                    int64_t i;
                    g[k] = bih[k * H + j];
                    q[k] = bhh[k * H + j];
                    for (f = 0; f < F; f++)
                        g[k] += wih[(k * H + j) * F + f] * xt[f];
                    for (i = 0; hp != NULL && i < H; i++)
                        q[k] += whh[(k * H + j) * H + i] * hp[i];
                }
                {
                    double r = sigmoid_d(g[0] + q[0]), z = sigmoid_d(g[1] + q[1]);
                    double nn = tanh(g[2] + r * q[2]);
                    h[j] = (1 - z) * nn + z * (hp != NULL ? hp[j] : 0.0);
                }
            }
        }
}

static void ref_linear(const spec *s, const double *x, const double *w, double *y)
{
    int64_t rows, in, r, o, i, out = s->hi0;
    rows_of(s, &rows, &in);
    for (r = 0; r < s->n * rows; r++)
        for (o = 0; o < out; o++) {
            double acc = s->hi1 ? w[out * in + o] : 0.0;
            for (i = 0; i < in; i++)
                acc += x[r * in + i] * w[o * in + i];
            y[r * out + o] = acc;
        }
}

/* Batch norm in train mode (batch statistics per group) or eval mode
 * (stat = running mean then variance). stat_update, if not NULL, receives
 * the running statistics after a train step from `stat`. */
static void ref_batchnorm(const spec *s, const double *x, const double *w, const double *stat,
                          int train, double *y, double *stat_update)
{
    int64_t outer, c, inner, g, j, a, sm, b, per;
    channels_of(s, &outer, &c, &inner);
    per = s->n / s->groups;
    if (stat_update != NULL)
        for (j = 0; j < 2 * c; j++)
            stat_update[j] = (1.0 - s->hf1) * stat[j];
    for (g = 0; g < (train ? s->groups : 1); g++)
        for (j = 0; j < c; j++) {
            double mean = 0, var = 0, cnt = 0, is;
            int64_t s0 = train ? g * per : 0, s1 = train ? s0 + per : s->n;
            for (sm = s0; sm < s1; sm++)
                for (a = 0; a < outer; a++)
                    for (b = 0; b < inner; b++) {
                        mean += x[((sm * outer + a) * c + j) * inner + b];
                        cnt += 1;
                    }
            mean /= cnt;
            for (sm = s0; sm < s1; sm++)
                for (a = 0; a < outer; a++)
                    for (b = 0; b < inner; b++) {
                        double d = x[((sm * outer + a) * c + j) * inner + b] - mean;
                        var += d * d;
                    }
            if (stat_update != NULL) {
                stat_update[j] += s->hf1 * mean / (double)s->groups;
                stat_update[c + j] += s->hf1 * var / (cnt - 1) / (double)s->groups;
            }
            var /= cnt;
            if (!train) {
                mean = stat[j];
                var = stat[c + j];
            }
            is = 1.0 / sqrt(var + s->hf0);
            for (sm = s0; sm < s1; sm++)
                for (a = 0; a < outer; a++)
                    for (b = 0; b < inner; b++) {
                        int64_t k = ((sm * outer + a) * c + j) * inner + b;
                        double h = (x[k] - mean) * is;
                        y[k] = s->hi0 ? h * w[j] + w[c + j] : h;
                    }
        }
}

static void ref_rowwise(const spec *s, const double *x, const double *w, double *y)
{
    int64_t rows, len, r, j;
    rows_of(s, &rows, &len);
    for (r = 0; r < s->n * rows; r++) {
        const double *xr = x + r * len;
        double *yr = y + r * len, m = 0, v = 0;
        for (j = 0; j < len; j++) {
            m += xr[j];
            v += xr[j] * xr[j];
        }
        if (s->kind == CTR_LAYER_L2NORM) {
            double norm = sqrt(v);
            for (j = 0; j < len; j++)
                yr[j] = xr[j] / (norm > s->hf0 ? norm : s->hf0);
            continue;
        }
        m /= (double)len;
        v = 0;
        for (j = 0; j < len; j++)
            v += (xr[j] - m) * (xr[j] - m);
        v /= (double)len;
        for (j = 0; j < len; j++) {
            double h = (xr[j] - m) / sqrt(v + s->hf0);
            yr[j] = s->hi0 ? h * w[j] + w[len + j] : h;
        }
    }
}

static void ref_forward(const spec *s, const double *x, const double *w, const double *stat,
                        int train, double *y)
{
    int64_t i, k = s->n * shape_size(s->ndims, s->dims);
    switch (s->kind) {
    case CTR_LAYER_CONV2D: ref_conv2d(s, x, w, y); return;
    case CTR_LAYER_CONV1D: ref_conv1d(s, x, w, y); return;
    case CTR_LAYER_MAXPOOL2D:
    case CTR_LAYER_AVGPOOL2D: ref_pool(s, x, y); return;
    case CTR_LAYER_GRU: ref_gru(s, x, w, y); return;
    case CTR_LAYER_GLOBAL_AVGPOOL: {
        int64_t hw = s->dims[1] * s->dims[2], c, j;
        for (c = 0; c < s->n * s->dims[0]; c++) {
            y[c] = 0;
            for (j = 0; j < hw; j++)
                y[c] += x[c * hw + j] / (double)hw;
        }
        return;
    }
    case CTR_LAYER_LINEAR: ref_linear(s, x, w, y); return;
    case CTR_LAYER_BATCHNORM: ref_batchnorm(s, x, w, stat, train, y, NULL); return;
    case CTR_LAYER_LAYERNORM:
    case CTR_LAYER_L2NORM: ref_rowwise(s, x, w, y); return;
    default: break;
    }
    for (i = 0; i < k; i++) {
        double v = x[i];
        if (s->kind == CTR_LAYER_RELU)
            y[i] = v > 0 ? v : 0;
        else if (s->kind == CTR_LAYER_GELU)
            y[i] = 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
        else if (s->kind == CTR_LAYER_TANH)
            y[i] = tanh(v);
        else
            y[i] = v; /* flatten */
    }
}

static ctr_encoder *build(const spec *s, uint64_t seed)
{
    ctr_encoder *enc = NULL;
    int rc;
    ck_assert_int_eq(ctr_encoder_create(&enc, s->dims, s->ndims, seed, NULL), CTR_OK);
    switch (s->kind) {
    case CTR_LAYER_LINEAR: rc = ctr_encoder_add_linear(enc, s->hi0, (int32_t)s->hi1); break;
    case CTR_LAYER_BATCHNORM:
        rc = ctr_encoder_add_batchnorm(enc, s->hf0, s->hf1, (int32_t)s->hi0);
        break;
    case CTR_LAYER_LAYERNORM: rc = ctr_encoder_add_layernorm(enc, s->hf0, (int32_t)s->hi0); break;
    case CTR_LAYER_L2NORM: rc = ctr_encoder_add_l2norm(enc, s->hf0); break;
    case CTR_LAYER_FLATTEN: rc = ctr_encoder_add_flatten(enc); break;
    case CTR_LAYER_CONV2D:
        rc = ctr_encoder_add_conv2d(enc, s->hi0, s->hi1, s->hi2, s->hi3, (int32_t)s->hi4);
        break;
    case CTR_LAYER_CONV1D:
        rc = ctr_encoder_add_conv1d(enc, s->hi0, s->hi1, s->hi2, s->hi3, (int32_t)s->hi4);
        break;
    case CTR_LAYER_MAXPOOL2D:
    case CTR_LAYER_AVGPOOL2D:
        rc = ctr_encoder_add_pool2d(enc, s->kind, s->hi0, s->hi1, s->hi2);
        break;
    case CTR_LAYER_GLOBAL_AVGPOOL: rc = ctr_encoder_add_global_avgpool(enc); break;
    case CTR_LAYER_GRU: rc = ctr_encoder_add_gru(enc, s->hi0); break;
    default: rc = ctr_encoder_add_activation(enc, s->kind); break;
    }
    ck_assert_msg(rc == CTR_OK, "add: %s", ctr_encoder_last_error(enc));
    ck_assert_int_eq(ctr_encoder_set_i64(enc, CTR_ENCODER_P_BN_GROUPS, s->groups), CTR_OK);
    return enc;
}

static void fill_normal(ctr_rng *rng, float *v, int64_t n, float std)
{
    ck_assert_int_eq(ctr_rng_normal(rng, v, n, 0.0f, std), CTR_OK);
}

static void random_batch(float *x, int64_t n, uint64_t seed)
{
    ctr_rng *rng = NULL;
    ck_assert_int_eq(ctr_rng_create(&rng, seed, NULL), CTR_OK);
    fill_normal(rng, x, n, 1.0f);
    ctr_rng_destroy(rng);
}

static double *to_double(const float *v, int64_t n)
{
    double *d = (double *)malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    int64_t i;
    for (i = 0; i < n; i++)
        d[i] = v[i];
    return d;
}

static double weighted_loss(const spec *s, const double *x, const double *w, const double *r)
{
    int64_t i, k = s->n * out_size(s);
    double *y = (double *)malloc((size_t)k * sizeof(double)), l = 0;
    ref_forward(s, x, w, NULL, 1, y);
    for (i = 0; i < k; i++)
        l += r[i] * y[i];
    free(y);
    return l;
}

/* Central difference of the weighted loss along v[i]. */
static double central_difference(const spec *s, double *x, double *w, const double *r,
                                 double *v, int64_t i)
{
    const double h = 1e-5;
    double keep = v[i], lp, lm;
    v[i] = keep + h;
    lp = weighted_loss(s, x, w, r);
    v[i] = keep - h;
    lm = weighted_loss(s, x, w, r);
    v[i] = keep;
    return (lp - lm) / (2 * h);
}

/* Forward against the reference, backward against finite differences. */
static void check_layer_spec(spec *s)
{
    ctr_encoder *enc = build(s, 7);
    ctr_rng *rng = NULL;
    int64_t np, i, nin = s->n * shape_size(s->ndims, s->dims), nout, dims[3];
    int32_t nd;
    ck_assert_int_eq(ctr_encoder_shape(enc, dims, &nd, &s->out_sz, 0), CTR_OK);
    nout = s->n * s->out_sz;
    float *x, *y, *r, *dx, *w, *gw;
    double *xd, *wd, *rd, *yd;
    ck_assert_int_eq(ctr_rng_create(&rng, (uint64_t)(s->kind * 100 + s->n), NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_num_params(enc, &np), CTR_OK);
    x = (float *)malloc((size_t)nin * sizeof(float));
    dx = (float *)malloc((size_t)nin * sizeof(float));
    y = (float *)malloc((size_t)nout * sizeof(float));
    r = (float *)malloc((size_t)nout * sizeof(float));
    w = (float *)malloc((size_t)(np + 1) * sizeof(float));
    gw = (float *)malloc((size_t)(np + 1) * sizeof(float));
    fill_normal(rng, x, nin, 1.0f);
    fill_normal(rng, r, nout, 1.0f);
    ck_assert_int_eq(ctr_encoder_get_params(enc, w, np), CTR_OK);
    for (i = 0; i < np; i++) { /* move norm parameters off 1 / 0 */
        float e;
        fill_normal(rng, &e, 1, 0.3f);
        w[i] += e;
    }
    ck_assert_int_eq(ctr_encoder_set_params(enc, w, np), CTR_OK);
    ck_assert_msg(ctr_encoder_forward(enc, y, x, s->n, CTR_ENCODER_TRAIN) == CTR_OK, "%s",
                  ctr_encoder_last_error(enc));
    ck_assert_int_eq(ctr_encoder_backward(enc, dx, r), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(enc, gw, np), CTR_OK);

    xd = to_double(x, nin);
    wd = to_double(w, np);
    rd = to_double(r, nout);
    yd = (double *)malloc((size_t)nout * sizeof(double));
    ref_forward(s, xd, wd, NULL, 1, yd);
    for (i = 0; i < nout; i++)
        ck_assert_close(y[i], yd[i], 1e-5, 1e-5);
    for (i = 0; i < nin; i++)
        ck_assert_close(dx[i], central_difference(s, xd, wd, rd, xd, i), 1e-3, 2e-4);
    for (i = 0; i < np; i++)
        ck_assert_close(gw[i], central_difference(s, xd, wd, rd, wd, i), 1e-3, 2e-4);
    free(x), free(dx), free(y), free(r), free(w), free(gw);
    free(xd), free(wd), free(rd), free(yd);
    ctr_rng_destroy(rng);
    ctr_encoder_destroy(enc);
}

static void check_layer(const spec *s0)
{
    spec s = *s0;
    check_layer_spec(&s);
}

static spec make_spec(int32_t kind, int64_t n, int32_t ndims, int64_t d0, int64_t d1, int64_t d2)
{
    spec s;
    memset(&s, 0, sizeof(s));
    s.kind = kind;
    s.n = n;
    s.ndims = ndims;
    s.dims[0] = d0;
    s.dims[1] = d1;
    s.dims[2] = d2;
    s.groups = 1;
    s.hf0 = 1e-5;
    s.hf1 = 0.1;
    return s;
}

START_TEST(test_linear_gradients)
{
    spec s = make_spec(CTR_LAYER_LINEAR, 1, 1, 5, 0, 0);
    s.hi0 = 3;
    s.hi1 = 1;
    check_layer(&s); /* batch 1, vector */
    s = make_spec(CTR_LAYER_LINEAR, 2, 2, 3, 4, 0);
    s.hi0 = 5;
    s.hi1 = 0;
    check_layer(&s); /* sequence, no bias */
    s = make_spec(CTR_LAYER_LINEAR, 7, 2, 1, 9, 0);
    s.hi0 = 1;
    s.hi1 = 1;
    check_layer(&s); /* sequence length 1, one output */
    s = make_spec(CTR_LAYER_LINEAR, 70, 1, 6, 0, 0);
    s.hi0 = 4;
    s.hi1 = 1;
    check_layer(&s); /* 70 rows */
    s = make_spec(CTR_LAYER_LINEAR, 9, 2, 8, 3, 0);
    s.hi0 = 2;
    s.hi1 = 1;
    check_layer(&s); /* sequence: 72 rows */
}
END_TEST

START_TEST(test_batchnorm_gradients)
{
    spec s = make_spec(CTR_LAYER_BATCHNORM, 5, 1, 3, 0, 0);
    s.hi0 = 1;
    check_layer(&s); /* BatchNorm1d */
    s = make_spec(CTR_LAYER_BATCHNORM, 6, 1, 4, 0, 0);
    s.hi0 = 1;
    s.groups = 3;
    check_layer(&s); /* grouped (shuffle-BN emulation), 2 per group */
    s = make_spec(CTR_LAYER_BATCHNORM, 1, 3, 2, 3, 3);
    s.hi0 = 1;
    check_layer(&s); /* BatchNorm2d, batch 1, odd spatial size */
    s = make_spec(CTR_LAYER_BATCHNORM, 1, 2, 4, 3, 0);
    s.hi0 = 0;
    check_layer(&s); /* sequence, no affine */
    s = make_spec(CTR_LAYER_BATCHNORM, 4, 3, 3, 1, 2);
    s.hi0 = 1;
    s.groups = 2;
    check_layer(&s); /* grouped 2-D */
    /* rows of one value per channel are summed by chunks of 32 rows: more
     * than one chunk, a partial last one */
    s = make_spec(CTR_LAYER_BATCHNORM, 70, 1, 5, 0, 0);
    s.hi0 = 1;
    check_layer(&s);
    s = make_spec(CTR_LAYER_BATCHNORM, 100, 1, 3, 0, 0);
    s.hi0 = 1;
    s.groups = 2;
    check_layer(&s); /* grouped, 50 rows per group */
    s = make_spec(CTR_LAYER_BATCHNORM, 9, 2, 8, 2, 0);
    s.hi0 = 0;
    check_layer(&s); /* sequence: 72 rows */
}
END_TEST

START_TEST(test_layernorm_gradients)
{
    spec s = make_spec(CTR_LAYER_LAYERNORM, 1, 1, 7, 0, 0);
    s.hi0 = 1;
    check_layer(&s);
    s = make_spec(CTR_LAYER_LAYERNORM, 2, 2, 3, 5, 0);
    s.hi0 = 0;
    check_layer(&s);
    s = make_spec(CTR_LAYER_LAYERNORM, 2, 3, 2, 2, 3);
    s.hi0 = 1;
    check_layer(&s);
}
END_TEST

START_TEST(test_activation_gradients)
{
    int32_t kinds[3] = {CTR_LAYER_RELU, CTR_LAYER_GELU, CTR_LAYER_TANH};
    int k;
    for (k = 0; k < 3; k++) {
        spec s = make_spec(kinds[k], 3, 3, 2, 3, 1);
        check_layer(&s);
        s = make_spec(kinds[k], 1, 1, 5, 0, 0);
        check_layer(&s);
    }
}
END_TEST

START_TEST(test_l2norm_and_flatten_gradients)
{
    spec s = make_spec(CTR_LAYER_L2NORM, 1, 1, 6, 0, 0);
    s.hf0 = 1e-12;
    check_layer(&s);
    s = make_spec(CTR_LAYER_L2NORM, 2, 2, 3, 4, 0);
    s.hf0 = 1e-12;
    check_layer(&s);
    s = make_spec(CTR_LAYER_FLATTEN, 2, 3, 2, 3, 1);
    check_layer(&s);
}
END_TEST

START_TEST(test_conv_gradients)
{
    spec s = make_spec(CTR_LAYER_CONV2D, 1, 3, 2, 5, 7);
    s.hi0 = 3, s.hi1 = 3, s.hi2 = 2, s.hi3 = 1, s.hi4 = 1;
    check_layer(&s); /* 3x3, stride 2, padding 1, batch 1, odd sizes */
    s = make_spec(CTR_LAYER_CONV2D, 2, 3, 3, 4, 4);
    s.hi0 = 2, s.hi1 = 2, s.hi2 = 1, s.hi3 = 0, s.hi4 = 0;
    check_layer(&s); /* 2x2, no padding, no bias */
    s = make_spec(CTR_LAYER_CONV2D, 2, 3, 2, 5, 21);
    s.hi0 = 2, s.hi1 = 3, s.hi2 = 2, s.hi3 = 1, s.hi4 = 1;
    check_layer(&s); /* stride 2 over rows long enough for the vector blocks */
    s = make_spec(CTR_LAYER_CONV2D, 1, 3, 1, 4, 20);
    s.hi0 = 2, s.hi1 = 2, s.hi2 = 2, s.hi3 = 0, s.hi4 = 0;
    check_layer(&s); /* stride 2, even kernel, no padding */
    s = make_spec(CTR_LAYER_CONV2D, 2, 3, 1, 5, 21);
    s.hi0 = 11, s.hi1 = 3, s.hi2 = 1, s.hi3 = 1, s.hi4 = 1;
    check_layer(&s); /* one input channel: the direct path, a block of 8 channels and 3 */
    s = make_spec(CTR_LAYER_CONV2D, 3, 3, 1, 9, 9);
    s.hi0 = 8, s.hi1 = 5, s.hi2 = 2, s.hi3 = 2, s.hi4 = 0;
    check_layer(&s); /* the direct path, 5x5 stride 2 (25 values per window) */
    s = make_spec(CTR_LAYER_CONV2D, 2, 3, 4, 5, 6);
    s.hi0 = 9, s.hi1 = 3, s.hi2 = 2, s.hi3 = 1, s.hi4 = 1;
    check_layer(&s); /* 36 values per window: the GEMM path */
    s = make_spec(CTR_LAYER_CONV1D, 2, 2, 7, 3, 0);
    s.hi0 = 4, s.hi1 = 3, s.hi2 = 2, s.hi3 = 1, s.hi4 = 1;
    check_layer(&s); /* strided 1-D convolution over a sequence */
    s = make_spec(CTR_LAYER_CONV1D, 3, 2, 1, 2, 0);
    s.hi0 = 2, s.hi1 = 1, s.hi2 = 1, s.hi3 = 0, s.hi4 = 0;
    check_layer(&s); /* sequence length 1 */
}
END_TEST

START_TEST(test_pool_gradients)
{
    spec s = make_spec(CTR_LAYER_MAXPOOL2D, 2, 3, 2, 5, 5);
    s.hi0 = 3, s.hi1 = 2, s.hi2 = 1;
    check_layer(&s);
    s = make_spec(CTR_LAYER_AVGPOOL2D, 1, 3, 3, 5, 4);
    s.hi0 = 2, s.hi1 = 2, s.hi2 = 1;
    check_layer(&s);
    s = make_spec(CTR_LAYER_AVGPOOL2D, 2, 3, 1, 3, 3);
    s.hi0 = 3, s.hi1 = 1, s.hi2 = 0;
    check_layer(&s);
    s = make_spec(CTR_LAYER_GLOBAL_AVGPOOL, 3, 3, 4, 3, 5);
    check_layer(&s);
}
END_TEST

START_TEST(test_gru_gradients)
{
    spec s = make_spec(CTR_LAYER_GRU, 3, 2, 4, 3, 0);
    s.hi0 = 5;
    check_layer(&s);
    s = make_spec(CTR_LAYER_GRU, 1, 2, 1, 2, 0);
    s.hi0 = 3;
    check_layer(&s); /* sequence length 1, batch 1 */
}
END_TEST

/* Backward may run twice after one forward (gradient accumulation): the
 * GRU's backward reuses forward scratch, so the second pass must match. */
START_TEST(test_gru_backward_twice)
{
    enum { N = 3, T = 4, F = 2, H = 5 };
    int64_t dims[2] = {T, F}, np, i;
    ctr_encoder *e = NULL;
    float x[N * T * F], y[N * T * H], dy[N * T * H], dx1[N * T * F], dx2[N * T * F];
    float *g1, *g2;
    ck_assert_int_eq(ctr_encoder_create(&e, dims, 2, 4, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_gru(e, H), CTR_OK);
    ck_assert_int_eq(ctr_encoder_num_params(e, &np), CTR_OK);
    g1 = (float *)malloc((size_t)np * sizeof(float));
    g2 = (float *)malloc((size_t)np * sizeof(float));
    random_batch(x, N * T * F, 5);
    random_batch(dy, N * T * H, 6);
    ck_assert_int_eq(ctr_encoder_forward(e, y, x, N, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(e, dx1, dy), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(e, g1, np), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(e, dx2, dy), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(e, g2, np), CTR_OK);
    ck_assert_int_eq(memcmp(dx1, dx2, sizeof(dx1)), 0);
    for (i = 0; i < np; i++)
        ck_assert_close(g2[i], 2.0 * g1[i], 1e-6, 1e-6);
    free(g1);
    free(g2);
    ctr_encoder_destroy(e);
}
END_TEST

START_TEST(test_dropout)
{
    enum { N = 4, F = 500 };
    int64_t in = F;
    ctr_encoder *a = NULL, *b = NULL;
    float *x = (float *)malloc(N * F * sizeof(float)), *y = (float *)malloc(N * F * sizeof(float));
    float *y2 = (float *)malloc(N * F * sizeof(float));
    float *dx = (float *)malloc(N * F * sizeof(float));
    int64_t i, zeros = 0;
    ck_assert_int_eq(ctr_encoder_create(&a, &in, 1, 3, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_dropout(a, 0.25), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_dropout(a, 1.0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_clone(&b, a), CTR_OK);
    random_batch(x, N * F, 9);
    ck_assert_int_eq(ctr_encoder_forward(a, y, x, N, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(b, y2, x, N, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(memcmp(y, y2, N * F * sizeof(float)), 0); /* same seed, same mask */
    ck_assert_int_eq(ctr_encoder_backward(a, dx, x), CTR_OK);
    for (i = 0; i < N * F; i++) {
        if (y[i] == 0.0f) {
            zeros++;
            ck_assert(dx[i] == 0.0f);
        } else {
            ck_assert_close(y[i], x[i] / 0.75, 1e-6, 0);
            ck_assert_close(dx[i], x[i] / 0.75, 1e-6, 0);
        }
    }
    ck_assert_close((double)zeros / (N * F), 0.25, 0, 0.04);
    ck_assert_int_eq(ctr_encoder_forward(a, y2, x, N, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_ne(memcmp(y, y2, N * F * sizeof(float)), 0); /* a fresh mask */
    ck_assert_int_eq(ctr_encoder_forward(a, y, x, N, CTR_ENCODER_EVAL), CTR_OK);
    ck_assert_int_eq(memcmp(y, x, N * F * sizeof(float)), 0);
    free(x), free(y), free(y2), free(dx);
    ctr_encoder_destroy(a);
    ctr_encoder_destroy(b);
}
END_TEST

START_TEST(test_batchnorm_running_stats_and_eval)
{
    /* grouped train steps move the running statistics as the reference;
     * eval then normalises with them */
    spec s = make_spec(CTR_LAYER_BATCHNORM, 6, 3, 2, 2, 1);
    ctr_encoder *enc;
    ctr_rng *rng = NULL;
    float x[24], y[24], st[4];
    double xd[24], w[4] = {1.3, 0.7, 0.2, -0.1}, stat[4] = {0, 0, 1, 1}, upd[4], yd[24];
    float wf[4] = {1.3f, 0.7f, 0.2f, -0.1f};
    int step, i;
    s.hi0 = 1;
    s.groups = 3;
    s.hf1 = 0.25;
    enc = build(&s, 1);
    ck_assert_int_eq(ctr_encoder_set_params(enc, wf, 4), CTR_OK);
    ck_assert_int_eq(ctr_rng_create(&rng, 99, NULL), CTR_OK);
    for (step = 0; step < 3; step++) {
        fill_normal(rng, x, 24, 2.0f);
        for (i = 0; i < 24; i++)
            xd[i] = x[i] + 0.5;
        for (i = 0; i < 24; i++)
            x[i] = (float)xd[i];
        ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 6, CTR_ENCODER_TRAIN), CTR_OK);
        ref_batchnorm(&s, xd, w, stat, 1, yd, upd);
        memcpy(stat, upd, sizeof(stat));
    }
    ck_assert_int_eq(ctr_encoder_get_stats(enc, st, 4), CTR_OK);
    for (i = 0; i < 4; i++)
        ck_assert_close(st[i], stat[i], 1e-5, 1e-6);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 6, CTR_ENCODER_EVAL), CTR_OK);
    ref_batchnorm(&s, xd, w, stat, 0, yd, NULL);
    for (i = 0; i < 24; i++)
        ck_assert_close(y[i], yd[i], 1e-5, 1e-5);
    ctr_rng_destroy(rng);
    ctr_encoder_destroy(enc);
}
END_TEST

START_TEST(test_batchnorm_image_statistics_with_offsets)
{
    /* per-slice statistics merged in one pass must stay as accurate as two
     * passes: a channel far from zero, one whose mean moves from sample to
     * sample, one with a tiny spread (naive E[x^2] - E[x]^2 fails these) */
    enum { N = 8, C = 3, H = 9, W = 11, SIZE = C * H * W };
    spec s = make_spec(CTR_LAYER_BATCHNORM, N, 3, C, H, W);
    static float x[N * SIZE], y[N * SIZE];
    static double xd[N * SIZE], yd[N * SIZE];
    double w[6] = {1, 1, 1, 0, 0, 0}, stat[6] = {0, 0, 0, 1, 1, 1}, upd[6];
    float st[6];
    ctr_encoder *enc;
    ctr_rng *rng = NULL;
    int64_t i, c, n;
    s.hi0 = 0;
    s.groups = 2;
    enc = build(&s, 1);
    ck_assert_int_eq(ctr_rng_create(&rng, 5, NULL), CTR_OK);
    fill_normal(rng, x, N * SIZE, 1.0f);
    for (n = 0; n < N; n++)
        for (c = 0; c < C; c++)
            for (i = 0; i < H * W; i++) {
                float *v = &x[n * SIZE + c * H * W + i];
                *v = c == 0 ? 1000.0f + *v : c == 1 ? 30.0f * (float)n + *v : 50.0f + 0.01f * *v;
            }
    for (i = 0; i < N * SIZE; i++)
        xd[i] = x[i];
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, N, CTR_ENCODER_TRAIN), CTR_OK);
    ref_batchnorm(&s, xd, w, stat, 1, yd, upd);
    for (i = 0; i < N * SIZE; i++)
        ck_assert_close(y[i], yd[i], 0, 2e-3);
    ck_assert_int_eq(ctr_encoder_get_stats(enc, st, 6), CTR_OK);
    for (i = 0; i < 6; i++)
        ck_assert_close(st[i], upd[i], 1e-4, 1e-6);
    ctr_rng_destroy(rng);
    ctr_encoder_destroy(enc);
}
END_TEST

/* ---- the golden MLP ------------------------------------------------------ */

/* Linear(20,16) BN ReLU Linear(16,16) BN GELU Linear(16,8) L2-normalise. */
static ctr_encoder *golden_mlp(uint64_t seed, const ctr_allocator *a)
{
    ctr_encoder *enc = NULL;
    int64_t in = 20;
    ck_assert_int_eq(ctr_encoder_create(&enc, &in, 1, seed, a), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(enc, 16, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(enc, CTR_LAYER_RELU), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(enc, 16, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(enc, CTR_LAYER_GELU), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(enc, 8, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_l2norm(enc, 1e-12), CTR_OK);
    return enc;
}

static void assert_all_close(const float *got, const float *want, long n, double rtol,
                             double atol)
{
    long i;
    for (i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= atol + rtol * fabs(want[i]),
                      "[%ld] %.9g, expected %.9g", i, (double)got[i], (double)want[i]);
}

START_TEST(test_golden_mlp)
{
    long nx, ndy, np, k;
    float *x = golden_read(GOLDEN, "x", &nx), *dy = golden_read(GOLDEN, "dy", &ndy);
    float *p = golden_read(GOLDEN, "params", &np);
    float *want_y = golden_read(GOLDEN, "y_train", &k);
    float *want_dx = golden_read(GOLDEN, "dx", &k);
    float *want_g = golden_read(GOLDEN, "grads", &k);
    float *want_s = golden_read(GOLDEN, "stats", &k);
    float *want_e = golden_read(GOLDEN, "y_eval", &k);
    float y[48], dx[120], g[808], st[64];
    ctr_encoder *enc = golden_mlp(3, NULL);
    int64_t n;
    ck_assert_int_eq(ctr_encoder_num_params(enc, &n), CTR_OK);
    ck_assert_int_eq(n, np);
    ck_assert_int_eq(ctr_encoder_num_stats(enc, &n), CTR_OK);
    ck_assert_int_eq(n, 64);
    ck_assert_int_eq(ctr_encoder_set_params(enc, p, np), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 6, CTR_ENCODER_TRAIN), CTR_OK);
    assert_all_close(y, want_y, 48, 1e-4, 1e-5);
    ck_assert_int_eq(ctr_encoder_backward(enc, dx, dy), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(enc, g, 808), CTR_OK);
    assert_all_close(g, want_g, 808, 1e-3, 1e-5);
    assert_all_close(dx, want_dx, 120, 1e-3, 1e-5);
    ck_assert_int_eq(ctr_encoder_get_stats(enc, st, 64), CTR_OK);
    assert_all_close(st, want_s, 64, 1e-5, 1e-6);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 6, CTR_ENCODER_EVAL), CTR_OK);
    assert_all_close(y, want_e, 48, 1e-4, 1e-5);
    free(x), free(dy), free(p), free(want_y), free(want_dx), free(want_g);
    free(want_s), free(want_e);
    ctr_encoder_destroy(enc);
}
END_TEST

START_TEST(test_golden_cnn)
{
    long k, np;
    float *x = golden_read(GOLDEN, "cnn_x", &k), *dy = golden_read(GOLDEN, "cnn_dy", &k);
    float *p = golden_read(GOLDEN, "cnn_params", &np);
    float *want_y = golden_read(GOLDEN, "cnn_y_train", &k);
    float *want_dx = golden_read(GOLDEN, "cnn_dx", &k);
    float *want_g = golden_read(GOLDEN, "cnn_grads", &k);
    float *want_e = golden_read(GOLDEN, "cnn_y_eval", &k);
    float y[15], dx[294], g[341];
    int64_t dims[3] = {2, 7, 7}, n;
    ctr_encoder *enc = NULL;
    ck_assert_int_eq(ctr_encoder_create(&enc, dims, 3, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_conv2d(enc, 4, 3, 2, 1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(enc, CTR_LAYER_RELU), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_conv2d(enc, 6, 3, 1, 1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_pool2d(enc, CTR_LAYER_MAXPOOL2D, 2, 2, 0), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_global_avgpool(enc), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(enc, 5, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_num_params(enc, &n), CTR_OK);
    ck_assert_int_eq(n, np);
    ck_assert_int_eq(ctr_encoder_set_params(enc, p, np), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 3, CTR_ENCODER_TRAIN), CTR_OK);
    assert_all_close(y, want_y, 15, 1e-4, 1e-5);
    ck_assert_int_eq(ctr_encoder_backward(enc, dx, dy), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(enc, g, np), CTR_OK);
    assert_all_close(g, want_g, np, 1e-3, 1e-5);
    assert_all_close(dx, want_dx, 294, 1e-3, 1e-5);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 3, CTR_ENCODER_EVAL), CTR_OK);
    assert_all_close(y, want_e, 15, 1e-4, 1e-5);
    free(x), free(dy), free(p), free(want_y), free(want_dx), free(want_g), free(want_e);
    ctr_encoder_destroy(enc);
}
END_TEST

START_TEST(test_golden_conv1d_gru)
{
    long k, np;
    float *x = golden_read(GOLDEN, "seq_x", &k), *dy = golden_read(GOLDEN, "seq_dy", &k);
    float *p = golden_read(GOLDEN, "seq_params", &np);
    float *want_y = golden_read(GOLDEN, "seq_y", &k);
    float *want_dx = golden_read(GOLDEN, "seq_dx", &k);
    float *want_g = golden_read(GOLDEN, "seq_grads", &k);
    float y[90], dx[54], g[244];
    int64_t dims[2] = {9, 2}, n, out[3];
    int32_t nd;
    ctr_encoder *enc = NULL;
    ck_assert_int_eq(ctr_encoder_create(&enc, dims, 2, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_conv1d(enc, 4, 3, 2, 1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_gru(enc, 6), CTR_OK);
    ck_assert_int_eq(ctr_encoder_shape(enc, out, &nd, NULL, 1), CTR_OK);
    ck_assert(nd == 2 && out[0] == 5 && out[1] == 6);
    ck_assert_int_eq(ctr_encoder_num_params(enc, &n), CTR_OK);
    ck_assert_int_eq(n, np);
    ck_assert_int_eq(ctr_encoder_set_params(enc, p, np), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 3, CTR_ENCODER_TRAIN), CTR_OK);
    assert_all_close(y, want_y, 90, 1e-4, 1e-5);
    ck_assert_int_eq(ctr_encoder_backward(enc, dx, dy), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(enc, g, np), CTR_OK);
    assert_all_close(g, want_g, np, 1e-3, 1e-5);
    assert_all_close(dx, want_dx, 54, 1e-3, 1e-5);
    free(x), free(dy), free(p), free(want_y), free(want_dx), free(want_g);
    ctr_encoder_destroy(enc);
}
END_TEST

START_TEST(test_conv_chunks_match_single_samples)
{
    /* a batch processed in several chunks (5 + 2 samples here) equals the
     * samples run one by one */
    enum { N = 7 };
    int64_t dims[3] = {8, 48, 48}, in = 8 * 48 * 48, out = 8 * 48 * 48, np, i;
    ctr_encoder *batch = NULL, *single = NULL;
    float *x = (float *)malloc(N * in * sizeof(float));
    float *dy = (float *)malloc(N * out * sizeof(float));
    float *y1 = (float *)malloc(N * out * sizeof(float));
    float *y2 = (float *)malloc(N * out * sizeof(float));
    float *dx1 = (float *)malloc(N * in * sizeof(float));
    float *dx2 = (float *)malloc(N * in * sizeof(float));
    float *g1 = (float *)malloc(8 * 73 * sizeof(float));
    float *g2 = (float *)malloc(8 * 73 * sizeof(float));
    ck_assert_int_eq(ctr_encoder_create(&batch, dims, 3, 5, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_conv2d(batch, 8, 3, 1, 1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_clone(&single, batch), CTR_OK);
    ck_assert_int_eq(ctr_encoder_num_params(batch, &np), CTR_OK);
    ck_assert_int_eq(np, 8 * 73);
    random_batch(x, N * in, 41);
    random_batch(dy, N * out, 42);
    ck_assert_int_eq(ctr_encoder_forward(batch, y1, x, N, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(batch, dx1, dy), CTR_OK);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(ctr_encoder_forward(single, y2 + i * out, x + i * in, 1,
                                             CTR_ENCODER_TRAIN), CTR_OK);
        ck_assert_int_eq(ctr_encoder_backward(single, dx2 + i * in, dy + i * out), CTR_OK);
    }
    assert_all_close(y1, y2, N * out, 1e-5, 1e-5);
    assert_all_close(dx1, dx2, N * in, 1e-5, 1e-5);
    ck_assert_int_eq(ctr_encoder_get_grads(batch, g1, np), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(single, g2, np), CTR_OK);
    assert_all_close(g1, g2, np, 1e-4, 1e-3);
    free(x), free(dy), free(y1), free(y2), free(dx1), free(dx2), free(g1), free(g2);
    ctr_encoder_destroy(batch);
    ctr_encoder_destroy(single);
}
END_TEST

/* ---- structure ----------------------------------------------------------- */

START_TEST(test_shapes_and_tensors)
{
    ctr_encoder *enc = golden_mlp(1, NULL);
    int64_t dims[3], size, layer, offset, tdims[4], count;
    int32_t nd, kind, role;
    ck_assert_int_eq(ctr_encoder_num_layers(enc, &count), CTR_OK);
    ck_assert_int_eq(count, 8);
    ck_assert_int_eq(ctr_encoder_layer_kind(enc, &kind, 5), CTR_OK);
    ck_assert_int_eq(kind, CTR_LAYER_GELU);
    ck_assert_int_eq(ctr_encoder_shape(enc, dims, &nd, &size, -1), CTR_OK);
    ck_assert(nd == 1 && dims[0] == 20 && size == 20);
    ck_assert_int_eq(ctr_encoder_shape(enc, dims, &nd, &size, 7), CTR_OK);
    ck_assert(nd == 1 && dims[0] == 8 && dims[1] == 1 && size == 8);
    ck_assert_int_eq(ctr_encoder_num_tensors(enc, &count), CTR_OK);
    ck_assert_int_eq(count, 10);
    ck_assert_int_eq(ctr_encoder_tensor_info(enc, &layer, &role, &offset, tdims, &nd, 0), CTR_OK);
    ck_assert(layer == 0 && role == CTR_TENSOR_WEIGHT && offset == 0 && nd == 2);
    ck_assert(tdims[0] == 16 && tdims[1] == 20);
    ck_assert_int_eq(ctr_encoder_tensor_info(enc, &layer, &role, &offset, tdims, &nd, 3), CTR_OK);
    ck_assert(layer == 1 && role == CTR_TENSOR_NORM_BIAS && offset == 320 + 16 + 16);
    ck_assert_int_eq(ctr_encoder_tensor_info(enc, NULL, &role, &offset, NULL, NULL, 9), CTR_OK);
    ck_assert(role == CTR_TENSOR_BIAS && offset == 800);
    ck_assert_int_eq(ctr_encoder_tensor_info(enc, NULL, NULL, NULL, NULL, NULL, 10),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_shape(enc, dims, &nd, NULL, 8), CTR_E_INVALID_ARG);
    ctr_encoder_destroy(enc);
}
END_TEST

START_TEST(test_init_matches_pytorch_defaults)
{
    ctr_encoder *a = golden_mlp(11, NULL), *b = golden_mlp(11, NULL), *c = golden_mlp(12, NULL);
    float pa[808], pb[808], pc[808], st[64];
    double bound = 1.0 / sqrt(20.0), mean = 0;
    int i;
    ck_assert_int_eq(ctr_encoder_get_params(a, pa, 808), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_params(b, pb, 808), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_params(c, pc, 808), CTR_OK);
    ck_assert_int_eq(memcmp(pa, pb, sizeof(pa)), 0);
    ck_assert_int_ne(memcmp(pa, pc, sizeof(pa)), 0);
    for (i = 0; i < 336; i++) { /* first linear: weight and bias */
        ck_assert(fabs(pa[i]) <= bound);
        mean += fabs(pa[i]);
    }
    ck_assert_close(mean / 336, bound / 2, 0.15, 0); /* |U(-b,b)| has mean b/2 */
    for (i = 336; i < 352; i++)
        ck_assert(pa[i] == 1.0f && pa[i + 16] == 0.0f); /* BN gamma 1, beta 0 */
    ck_assert(fabs(pa[800]) <= 0.25 && fabs(pa[807]) <= 0.25); /* 1/sqrt(16) */
    ck_assert_int_eq(ctr_encoder_get_stats(a, st, 64), CTR_OK);
    ck_assert(st[0] == 0.0f && st[16] == 1.0f && st[31] == 1.0f);
    ctr_encoder_destroy(a);
    ctr_encoder_destroy(b);
    ctr_encoder_destroy(c);
}
END_TEST

START_TEST(test_layer_output_and_chaining)
{
    /* backbone (linear, BN, ReLU) + head (linear, L2) chained by hand equals
     * one encoder with all five layers, forward and backward */
    ctr_encoder *whole = golden_mlp(5, NULL), *backbone = NULL, *head = NULL;
    int64_t in = 20, mid = 16;
    float x[5 * 20], y[5 * 8], yh[5 * 8], h[5 * 16], r[5 * 8], dh[5 * 16];
    float dx1[100], dx2[100], g1[808], g2[808], feat[5 * 16];
    ck_assert_int_eq(ctr_encoder_create(&backbone, &in, 1, 5, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(backbone, 16, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(backbone, 1e-5, 0.1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(backbone, CTR_LAYER_RELU), CTR_OK);
    ck_assert_int_eq(ctr_encoder_create(&head, &mid, 1, 6, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(head, 16, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(head, 1e-5, 0.1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(head, CTR_LAYER_GELU), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(head, 8, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_l2norm(head, 1e-12), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_params(whole, g1, 808), CTR_OK);
    ck_assert_int_eq(ctr_encoder_set_params(backbone, g1, 368), CTR_OK);
    ck_assert_int_eq(ctr_encoder_set_params(head, g1 + 368, 440), CTR_OK);
    random_batch(x, 100, 1);
    random_batch(r, 40, 2);

    ck_assert_int_eq(ctr_encoder_forward(whole, y, x, 5, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(whole, dx1, r), CTR_OK);
    ck_assert_int_eq(ctr_encoder_layer_output(whole, feat, 2), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(backbone, h, x, 5, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(head, yh, h, 5, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(head, dh, r), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(backbone, dx2, dh), CTR_OK);
    ck_assert_int_eq(memcmp(feat, h, sizeof(h)), 0);
    ck_assert_int_eq(memcmp(y, yh, sizeof(y)), 0);
    ck_assert_int_eq(memcmp(dx1, dx2, sizeof(dx1)), 0);
    ck_assert_int_eq(ctr_encoder_get_grads(whole, g1, 808), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(backbone, g2, 368), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(head, g2 + 368, 440), CTR_OK);
    ck_assert_int_eq(memcmp(g1, g2, sizeof(g1)), 0);
    /* backward accumulates; zero_grad clears */
    ck_assert_int_eq(ctr_encoder_backward(whole, NULL, r), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(whole, g2, 808), CTR_OK);
    ck_assert_close(g2[5], 2.0 * g1[5], 1e-6, 1e-7);
    ck_assert_int_eq(ctr_encoder_zero_grad(whole), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(whole, g2, 808), CTR_OK);
    ck_assert(g2[0] == 0.0f && g2[807] == 0.0f);
    ctr_encoder_destroy(whole);
    ctr_encoder_destroy(backbone);
    ctr_encoder_destroy(head);
}
END_TEST

/* ---- copies, momentum, checkpoints --------------------------------------- */

START_TEST(test_clone_copy_and_momentum)
{
    ctr_encoder *q = golden_mlp(1, NULL), *k = golden_mlp(2, NULL), *c = NULL;
    ctr_encoder *other = NULL;
    float x[4 * 20], y1[32], y2[32], pq[808], pk[808], pk2[808], sq[64], sk[64];
    int64_t in = 20;
    int i;
    random_batch(x, 80, 3);
    ck_assert_int_eq(ctr_encoder_forward(q, y1, x, 4, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_clone(&c, q), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(q, y1, x, 4, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(c, y2, x, 4, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(memcmp(y1, y2, sizeof(y1)), 0);
    ck_assert_int_eq(ctr_encoder_backward(c, NULL, y1), CTR_OK); /* clone is trainable */

    ck_assert_int_eq(ctr_encoder_get_params(q, pq, 808), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_params(k, pk, 808), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_stats(k, sk, 64), CTR_OK);
    ck_assert_int_eq(ctr_encoder_momentum_update(k, q, 0.99, 0), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_params(k, pk2, 808), CTR_OK);
    for (i = 0; i < 808; i++)
        ck_assert_close(pk2[i], 0.99 * pk[i] + 0.01 * pq[i], 1e-6, 1e-7);
    ck_assert_int_eq(ctr_encoder_get_stats(k, sq, 64), CTR_OK);
    ck_assert_int_eq(memcmp(sq, sk, sizeof(sq)), 0); /* stats untouched */
    ck_assert_int_eq(ctr_encoder_momentum_update(k, q, 0.0, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_params(k, pk2, 808), CTR_OK);
    ck_assert_int_eq(memcmp(pk2, pq, sizeof(pq)), 0);
    ck_assert_int_eq(ctr_encoder_get_stats(q, sq, 64), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_stats(k, sk, 64), CTR_OK);
    ck_assert_int_eq(memcmp(sq, sk, sizeof(sq)), 0);

    ck_assert_int_eq(ctr_encoder_momentum_update(k, q, 1.5, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_momentum_update(k, q, NAN, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_momentum_update(k, NULL, 0.5, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_create(&other, &in, 1, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(other, 16, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_momentum_update(k, other, 0.5, 0), CTR_E_SHAPE);
    ck_assert_int_eq(ctr_encoder_copy_params(other, q, 0), CTR_E_SHAPE);
    ck_assert_int_eq(ctr_encoder_copy_params(k, c, 2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_copy_params(k, c, 0), CTR_OK);
    ck_assert_int_eq(ctr_encoder_clone(NULL, q), CTR_E_INVALID_ARG);
    ctr_encoder_destroy(q);
    ctr_encoder_destroy(k);
    ctr_encoder_destroy(c);
    ctr_encoder_destroy(other);
}
END_TEST

START_TEST(test_save_load_bit_identical)
{
    ctr_encoder *enc = golden_mlp(9, NULL), *from_path = NULL, *from_buf = NULL;
    float x[6 * 20], y0[48], y1[48], y2[48];
    unsigned char *buf;
    size_t size = 0, query = 0, i, stride;
    char path[256];
    int64_t groups;
    random_batch(x, 120, 4);
    ck_assert_int_eq(ctr_encoder_set_i64(enc, CTR_ENCODER_P_BN_GROUPS, 2), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(enc, y0, x, 6, CTR_ENCODER_TRAIN), CTR_OK);
    test_temp_path(path, sizeof(path), "encoder.ckpt");
    ck_assert_int_eq(ctr_encoder_save(enc, path), CTR_OK);
    ck_assert_int_eq(ctr_encoder_save_buffer(enc, NULL, 0, &query), CTR_OK);
    buf = (unsigned char *)malloc(query);
    ck_assert_int_eq(ctr_encoder_save_buffer(enc, buf, query - 1, &size), CTR_E_BUFFER_TOO_SMALL);
    ck_assert_int_eq(ctr_encoder_save_buffer(enc, buf, query, &size), CTR_OK);
    ck_assert_uint_eq(size, query);
    ck_assert_int_eq(ctr_encoder_load(&from_path, path, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_load_buffer(&from_buf, buf, size, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_i64(from_buf, CTR_ENCODER_P_BN_GROUPS, &groups), CTR_OK);
    ck_assert_int_eq(groups, 2);
    ck_assert_int_eq(ctr_encoder_forward(enc, y0, x, 6, CTR_ENCODER_EVAL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(from_path, y1, x, 6, CTR_ENCODER_EVAL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(from_buf, y2, x, 6, CTR_ENCODER_EVAL), CTR_OK);
    ck_assert_int_eq(memcmp(y0, y1, sizeof(y0)), 0);
    ck_assert_int_eq(memcmp(y0, y2, sizeof(y0)), 0);
    ck_assert_int_eq(ctr_encoder_forward(enc, y0, x, 6, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(from_buf, y2, x, 6, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(memcmp(y0, y2, sizeof(y0)), 0);
    ctr_encoder_destroy(from_path);
    ctr_encoder_destroy(from_buf);
    from_buf = NULL;

    /* every truncation and (a sample of) single-bit flips are rejected */
    stride = getenv("CTR_TEST_VALGRIND") != NULL ? 61 : 7;
    for (i = 0; i < size; i += (i < 200 ? 1 : stride))
        ck_assert_int_eq(ctr_encoder_load_buffer(&from_buf, buf, i, NULL), CTR_E_CORRUPT);
    for (i = 0; i < size * 8; i += stride) {
        int rc;
        buf[i / 8] ^= (unsigned char)(1u << (i % 8));
        rc = ctr_encoder_load_buffer(&from_buf, buf, size, NULL);
        ck_assert_msg(rc == CTR_E_CORRUPT || rc == CTR_E_INCOMPATIBLE, "bit %zu: %d", i, rc);
        buf[i / 8] ^= (unsigned char)(1u << (i % 8));
    }
    ck_assert_ptr_null(from_buf);
    ck_assert_int_eq(ctr_encoder_load_buffer(NULL, buf, size, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_load(&from_buf, NULL, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_save(enc, "/nonexistent-dir/x.ckpt"), CTR_E_IO);
    ck_assert_int_eq(ctr_encoder_save_buffer(enc, NULL, 4, &size), CTR_E_INVALID_ARG);
    free(buf);
    remove(path);
    ctr_encoder_destroy(enc);
}
END_TEST

/* Every layer kind in two encoders: a CNN and a sequence model. */
static int build_zoo(ctr_encoder **cnn, ctr_encoder **seq, const ctr_allocator *a)
{
    int64_t img[3] = {3, 9, 8}, sq[2] = {12, 3};
    int rc;
    *cnn = *seq = NULL;
    if ((rc = ctr_encoder_create(cnn, img, 3, 21, a)) != CTR_OK ||
        (rc = ctr_encoder_add_conv2d(*cnn, 4, 3, 2, 1, 1)) != CTR_OK ||
        (rc = ctr_encoder_add_batchnorm(*cnn, 1e-5, 0.1, 1)) != CTR_OK ||
        (rc = ctr_encoder_add_activation(*cnn, CTR_LAYER_GELU)) != CTR_OK ||
        (rc = ctr_encoder_add_pool2d(*cnn, CTR_LAYER_MAXPOOL2D, 2, 1, 0)) != CTR_OK ||
        (rc = ctr_encoder_add_pool2d(*cnn, CTR_LAYER_AVGPOOL2D, 2, 1, 1)) != CTR_OK ||
        (rc = ctr_encoder_add_dropout(*cnn, 0.3)) != CTR_OK ||
        (rc = ctr_encoder_add_flatten(*cnn)) != CTR_OK ||
        (rc = ctr_encoder_add_linear(*cnn, 6, 1)) != CTR_OK ||
        (rc = ctr_encoder_add_l2norm(*cnn, 1e-12)) != CTR_OK)
        return rc;
    if ((rc = ctr_encoder_create(seq, sq, 2, 22, a)) != CTR_OK ||
        (rc = ctr_encoder_add_conv1d(*seq, 5, 4, 2, 1, 0)) != CTR_OK ||
        (rc = ctr_encoder_add_layernorm(*seq, 1e-5, 1)) != CTR_OK ||
        (rc = ctr_encoder_add_gru(*seq, 7)) != CTR_OK ||
        (rc = ctr_encoder_add_activation(*seq, CTR_LAYER_TANH)) != CTR_OK ||
        (rc = ctr_encoder_add_linear(*seq, 3, 0)) != CTR_OK)
        return rc;
    return CTR_OK;
}

/* Saves, reloads, and checks that train-mode forwards (dropout masks
 * included) and backward agree bit for bit. */
static int round_trip(ctr_encoder *enc, int64_t n, const ctr_allocator *a, int check_bits)
{
    ctr_encoder *loaded = NULL;
    unsigned char *buf;
    size_t size = 0;
    int64_t in, out, layers, dims[3];
    int32_t nd;
    float *x, *y1, *y2, *d1, *d2;
    int rc;
    ck_assert_int_eq(ctr_encoder_num_layers(enc, &layers), CTR_OK);
    ck_assert_int_eq(ctr_encoder_shape(enc, dims, &nd, &in, -1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_shape(enc, dims, &nd, &out, layers - 1), CTR_OK);
    x = (float *)malloc((size_t)(n * in) * sizeof(float));
    d1 = (float *)malloc((size_t)(n * in) * sizeof(float));
    d2 = (float *)malloc((size_t)(n * in) * sizeof(float));
    y1 = (float *)malloc((size_t)(n * out) * sizeof(float));
    y2 = (float *)malloc((size_t)(n * out) * sizeof(float));
    random_batch(x, n * in, 31);
    ctr_encoder_save_buffer(enc, NULL, 0, &size);
    buf = (unsigned char *)malloc(size);
    rc = ctr_encoder_save_buffer(enc, buf, size, &size);
    if (rc == CTR_OK)
        rc = ctr_encoder_load_buffer(&loaded, buf, size, a);
    if (rc == CTR_OK)
        rc = ctr_encoder_forward(enc, y1, x, n, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK)
        rc = ctr_encoder_forward(loaded, y2, x, n, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK)
        rc = ctr_encoder_backward(enc, d1, y1);
    if (rc == CTR_OK)
        rc = ctr_encoder_backward(loaded, d2, y2);
    if (rc == CTR_OK && check_bits) {
        ck_assert_int_eq(memcmp(y1, y2, (size_t)(n * out) * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(d1, d2, (size_t)(n * in) * sizeof(float)), 0);
    }
    ctr_encoder_destroy(loaded);
    free(buf), free(x), free(y1), free(y2), free(d1), free(d2);
    return rc;
}

START_TEST(test_zoo_round_trip)
{
    ctr_encoder *cnn, *seq;
    ck_assert_int_eq(build_zoo(&cnn, &seq, NULL), CTR_OK);
    ck_assert_int_eq(round_trip(cnn, 3, NULL, 1), CTR_OK);
    ck_assert_int_eq(round_trip(seq, 2, NULL, 1), CTR_OK);
    ctr_encoder_destroy(cnn);
    ctr_encoder_destroy(seq);
}
END_TEST

START_TEST(test_zoo_no_allocation_after_first_call)
{
    test_alloc_state st;
    ctr_allocator a;
    ctr_encoder *cnn, *seq;
    float x[3 * 3 * 9 * 8], y[3 * 12 * 3], dx[3 * 3 * 9 * 8];
    size_t need;
    int64_t calls, k;
    test_alloc_setup(&a, &st);
    ck_assert_int_eq(build_zoo(&cnn, &seq, &a), CTR_OK);
    random_batch(x, 3 * 3 * 9 * 8, 3);
    ck_assert_int_eq(ctr_encoder_forward(cnn, y, x, 3, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(seq, y, x, 3, CTR_ENCODER_TRAIN), CTR_OK);
    calls = st.calls;
    for (k = 0; k < 2; k++) {
        ck_assert_int_eq(ctr_encoder_backward(cnn, dx, y), CTR_OK);
        ck_assert_int_eq(ctr_encoder_backward(seq, dx, y), CTR_OK);
        ck_assert_int_eq(ctr_encoder_forward(cnn, y, x, 2, CTR_ENCODER_TRAIN), CTR_OK);
        ck_assert_int_eq(ctr_encoder_forward(seq, y, x, 3, CTR_ENCODER_EVAL), CTR_OK);
        ck_assert_int_eq(ctr_encoder_forward(seq, y, x, 3, CTR_ENCODER_TRAIN), CTR_OK);
    }
    ck_assert_int_eq(st.calls, calls);
    ck_assert_int_eq(ctr_encoder_memory(seq, &need, 3), CTR_OK);
    ctr_encoder_destroy(cnn);
    ck_assert_int_eq((int64_t)need, st.live_bytes);
    ctr_encoder_destroy(seq);
    ck_assert_int_eq(st.live_blocks, 0);
}
END_TEST

static int attempt_zoo(const ctr_allocator *a, void *ctx)
{
    ctr_encoder *cnn, *seq;
    int rc = build_zoo(&cnn, &seq, a);
    (void)ctx;
    if (rc == CTR_OK)
        rc = round_trip(cnn, 2, a, 0);
    if (rc == CTR_OK)
        rc = round_trip(seq, 2, a, 0);
    ctr_encoder_destroy(cnn);
    ctr_encoder_destroy(seq);
    return rc;
}

START_TEST(test_zoo_allocation_failure)
{
    ck_assert_int_gt(test_every_alloc_failure(attempt_zoo, NULL), 30);
}
END_TEST

START_TEST(test_bad_layer_arguments)
{
    int64_t img[3] = {2, 5, 5}, sq[2] = {4, 3}, vec = 6;
    ctr_encoder *i = NULL, *q = NULL, *v = NULL;
    ck_assert_int_eq(ctr_encoder_create(&i, img, 3, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_create(&q, sq, 2, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_create(&v, &vec, 1, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_conv2d(i, 0, 3, 1, 0, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_conv2d(i, 2, 0, 1, 0, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_conv2d(i, 2, 3, 0, 0, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_conv2d(i, 2, 3, 1, -1, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_conv2d(i, 2, 3, 1, 0, 3), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_conv2d(i, 2, 7, 1, 0, 1), CTR_E_SHAPE);
    ck_assert_int_eq(ctr_encoder_add_conv2d(q, 2, 3, 1, 0, 1), CTR_E_SHAPE);
    ck_assert_int_eq(ctr_encoder_add_conv1d(i, 2, 3, 1, 0, 1), CTR_E_SHAPE);
    ck_assert_int_eq(ctr_encoder_add_conv1d(q, 2, 5, 1, 0, 1), CTR_E_SHAPE);
    ck_assert_int_eq(ctr_encoder_add_pool2d(i, CTR_LAYER_RELU, 2, 2, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_pool2d(i, CTR_LAYER_MAXPOOL2D, 2, 2, 2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_pool2d(v, CTR_LAYER_MAXPOOL2D, 2, 2, 0), CTR_E_SHAPE);
    ck_assert_int_eq(ctr_encoder_add_global_avgpool(q), CTR_E_SHAPE);
    ck_assert_int_eq(ctr_encoder_add_gru(v, 3), CTR_E_SHAPE);
    ck_assert_int_eq(ctr_encoder_add_gru(q, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_dropout(v, -0.1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_dropout(v, NAN), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_conv2d(NULL, 2, 3, 1, 0, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_gru(NULL, 2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_num_layers(i, &vec), CTR_OK);
    ck_assert_int_eq(vec, 0);
    ctr_encoder_destroy(i);
    ctr_encoder_destroy(q);
    ctr_encoder_destroy(v);
}
END_TEST

/* A well-formed checkpoint (valid CRCs) whose architecture declares a
 * batch norm over 2^31 features: the loader must refuse it without trying
 * to allocate the statistics it declares. */
START_TEST(test_load_refuses_huge_declarations)
{
    test_alloc_state st;
    ctr_allocator a;
    ctr_encoder *enc = NULL;
    unsigned char buf[512];
    size_t size = 0;
    ctr__ckw w;
    int k;
    test_alloc_setup(&a, &st);
    ctr__ckw_to_buffer(&w, buf, sizeof(buf), CTR__CKPT_KIND_ENCODER, NULL);
    ctr__ckw_begin_section(&w, CTR__FOURCC('A', 'R', 'C', 'H'));
    ctr__ckw_put_u32(&w, 1);
    ctr__ckw_put_i64(&w, (int64_t)1 << 31);
    ctr__ckw_put_i64(&w, 1);
    ctr__ckw_put_i64(&w, 1);
    ctr__ckw_put_i64(&w, 1); /* groups */
    ctr__ckw_put_i64(&w, 1); /* one layer */
    ctr__ckw_put_u32(&w, CTR_LAYER_BATCHNORM);
    for (k = 0; k < 6; k++)
        ctr__ckw_put_i64(&w, 0); /* affine 0 */
    ctr__ckw_put_f64(&w, 1e-5);
    ctr__ckw_put_f64(&w, 0.1);
    ctr__ckw_end_section(&w);
    ctr__ckw_begin_section(&w, CTR__FOURCC('P', 'A', 'R', 'M'));
    ctr__ckw_put_i64(&w, 0);
    ctr__ckw_end_section(&w);
    ctr__ckw_begin_section(&w, CTR__FOURCC('S', 'T', 'A', 'T'));
    ctr__ckw_put_i64(&w, (int64_t)1 << 32);
    ctr__ckw_end_section(&w);
    ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_OK);
    /* over the default load limit: refused before anything is allocated */
    ck_assert_int_eq(ctr_encoder_load_buffer(&enc, buf, size, &a), CTR_E_LIMIT);
    ck_assert_ptr_null(enc);
    ck_assert_int_lt(st.peak_bytes, 1 << 20);
    /* without a limit, the missing statistics are found before they are
     * allocated */
    a.max_load_bytes = UINT64_MAX;
    ck_assert_int_eq(ctr_encoder_load_buffer(&enc, buf, size, &a), CTR_E_CORRUPT);
    ck_assert_ptr_null(enc);
    ck_assert_int_lt(st.peak_bytes, 1 << 20);
    ck_assert_int_eq(st.live_blocks, 0);
}
END_TEST

/* ---- errors -------------------------------------------------------------- */

START_TEST(test_bad_input)
{
    ctr_encoder *enc = NULL, *img = NULL;
    int64_t in = 4, bad[3] = {2, 0, 3}, im[3] = {2, 3, 3};
    float x[8] = {0}, y[8], y_keep[8], st[4], p[28];
    double lo, hi;
    ck_assert_int_eq(ctr_encoder_create(NULL, &in, 1, 1, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_create(&enc, NULL, 1, 1, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_create(&enc, &in, 0, 1, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_create(&enc, &in, 4, 1, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_create(&enc, bad, 3, 1, NULL), CTR_E_INVALID_ARG);
    ck_assert_ptr_null(enc);
    ck_assert_int_eq(ctr_encoder_create(&img, im, 3, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(img, 3, 1), CTR_E_SHAPE);
    ck_assert_int_eq(ctr_encoder_add_flatten(img), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_flatten(img), CTR_E_SHAPE);

    ck_assert_int_eq(ctr_encoder_create(&enc, &in, 1, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(enc, 0, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_linear(enc, 4, 2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(enc, 0.0, 0.1, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(enc, 1e-5, 1.5, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(enc, NAN, 0.1, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_layernorm(enc, -1.0, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_activation(enc, CTR_LAYER_LINEAR), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_l2norm(enc, 0.0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_linear(NULL, 4, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_linear(enc, 4, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1), CTR_OK);

    ck_assert_int_eq(ctr_encoder_backward(enc, NULL, y), CTR_E_STAGE);
    ck_assert_str_eq(ctr_encoder_last_error(enc), "backward before any forward");
    ck_assert_int_eq(ctr_encoder_layer_output(enc, y, 0), CTR_E_STAGE);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 1, CTR_ENCODER_TRAIN), CTR_E_SHAPE);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 1, CTR_ENCODER_EVAL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(enc, NULL, y), CTR_E_STAGE);
    ck_assert_int_eq(ctr_encoder_forward(enc, NULL, x, 2, CTR_ENCODER_TRAIN), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, NULL, 2, CTR_ENCODER_TRAIN), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 0, CTR_ENCODER_TRAIN), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 2, 7), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, INT64_MAX / 2, CTR_ENCODER_TRAIN),
                     CTR_E_OVERFLOW);
    ck_assert_int_eq(ctr_encoder_set_i64(enc, CTR_ENCODER_P_BN_GROUPS, 2), CTR_OK);
    x[1] = 1.0f;
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 2, CTR_ENCODER_TRAIN), CTR_E_SHAPE);
    ck_assert_int_eq(ctr_encoder_set_i64(enc, CTR_ENCODER_P_BN_GROUPS, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_set_i64(enc, 999, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_param_bounds(CTR_ENCODER_P_BN_GROUPS, &lo, &hi), CTR_OK);
    ck_assert(lo == 1.0 && hi > 1e9);
    ck_assert_int_eq(ctr_encoder_param_bounds(999, &lo, &hi), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_set_i64(enc, CTR_ENCODER_P_BN_GROUPS, 1), CTR_OK);

    /* NaN input: error, nothing written, running statistics unchanged */
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 2, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_stats(enc, st, 4), CTR_E_SHAPE);
    memcpy(y_keep, y, sizeof(y));
    x[5] = NAN;
    ck_assert_int_eq(ctr_encoder_num_stats(enc, &in), CTR_OK);
    ck_assert_int_eq(in, 8);
    {
        float s8[8], s8b[8];
        ck_assert_int_eq(ctr_encoder_get_stats(enc, s8, 8), CTR_OK);
        ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 2, CTR_ENCODER_TRAIN), CTR_E_NUMERIC);
        ck_assert_int_eq(ctr_encoder_get_stats(enc, s8b, 8), CTR_OK);
        ck_assert_int_eq(memcmp(s8, s8b, sizeof(s8)), 0);
        ck_assert_int_eq(memcmp(y, y_keep, sizeof(y)), 0);
        /* backward with NaN dy */
        y_keep[3] = INFINITY;
        ck_assert_int_eq(ctr_encoder_backward(enc, NULL, y_keep), CTR_E_NUMERIC);
        s8[7] = -1.0f;
        ck_assert_int_eq(ctr_encoder_set_stats(enc, s8, 8), CTR_E_INVALID_ARG);
    }
    /* parameter access */
    ck_assert_int_eq(ctr_encoder_get_params(enc, p, 27), CTR_E_SHAPE);
    ck_assert_int_eq(ctr_encoder_get_params(enc, NULL, 28), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_get_params(enc, p, 28), CTR_OK);
    p[3] = NAN;
    ck_assert_int_eq(ctr_encoder_set_params(enc, p, 28), CTR_E_NUMERIC);
    ck_assert_int_eq(ctr_encoder_memory(enc, NULL, 2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_num_params(NULL, &in), CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr_encoder_last_error(NULL), ctr_encoder_last_error(NULL));
    ctr_encoder_destroy(enc);
    ctr_encoder_destroy(img);
    ctr_encoder_destroy(NULL);
}
END_TEST

START_TEST(test_null_pointers)
{
    ctr_encoder *enc = golden_mlp(1, NULL), *out = NULL;
    float f[808];
    int64_t v, dims[4];
    int32_t k, nd;
    double lo, hi;
    size_t sz;
    /* every pointer argument NULL in turn */
    ck_assert_int_eq(ctr_encoder_forward(NULL, f, f, 1, CTR_ENCODER_EVAL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_backward(NULL, f, f), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_backward(enc, f, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_zero_grad(NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_layer_output(NULL, f, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_layer_output(enc, NULL, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_num_layers(NULL, &v), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_num_layers(enc, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_layer_kind(NULL, &k, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_layer_kind(enc, NULL, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_layer_kind(enc, &k, 8), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_layer_kind(enc, &k, -1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_shape(NULL, dims, &nd, NULL, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_shape(enc, NULL, &nd, NULL, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_shape(enc, dims, NULL, NULL, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_shape(enc, dims, &nd, NULL, -3), CTR_E_INVALID_ARG); /* -2 is CTR_ENCODER_OUTPUT */
    ck_assert_int_eq(ctr_encoder_num_params(enc, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_num_stats(NULL, &v), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_num_stats(enc, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_num_tensors(NULL, &v), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_num_tensors(enc, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_tensor_info(NULL, NULL, NULL, NULL, NULL, NULL, 0),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_tensor_info(enc, NULL, NULL, NULL, NULL, NULL, -1),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_get_params(NULL, f, 808), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_set_params(NULL, f, 808), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_set_params(enc, NULL, 808), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_get_grads(NULL, f, 808), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_get_grads(enc, NULL, 808), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_get_stats(NULL, f, 64), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_set_stats(NULL, f, 64), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_set_stats(enc, NULL, 64), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_set_i64(NULL, CTR_ENCODER_P_BN_GROUPS, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_get_i64(NULL, CTR_ENCODER_P_BN_GROUPS, &v), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_get_i64(enc, CTR_ENCODER_P_BN_GROUPS, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_get_i64(enc, 77, &v), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_param_bounds(CTR_ENCODER_P_BN_GROUPS, NULL, &hi),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_param_bounds(CTR_ENCODER_P_BN_GROUPS, &lo, NULL),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_memory(NULL, &sz, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_memory(enc, &sz, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_memory(enc, &sz, INT64_MAX / 4), CTR_E_OVERFLOW);
    ck_assert_int_eq(ctr_encoder_clone(&out, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_copy_params(NULL, enc, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_copy_params(enc, NULL, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_momentum_update(NULL, enc, 0.5, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_save(NULL, "x"), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_save_buffer(NULL, f, 4, &sz), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_save_buffer(enc, f, 4, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_load_buffer(&out, NULL, 10, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(NULL, 1e-5, 0.1, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_layernorm(NULL, 1e-5, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_activation(NULL, CTR_LAYER_RELU), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_l2norm(NULL, 1e-12), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_flatten(NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_conv1d(NULL, 2, 3, 1, 0, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_pool2d(NULL, CTR_LAYER_MAXPOOL2D, 2, 2, 0),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_global_avgpool(NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_dropout(NULL, 0.1), CTR_E_INVALID_ARG);
    /* an eval forward too large for BLAS is refused before any work */
    ck_assert_int_eq(ctr_encoder_forward(enc, f, f, (int64_t)1 << 31, CTR_ENCODER_EVAL),
                     CTR_E_SHAPE);
    ck_assert_ptr_null(out);
    ctr_encoder_destroy(enc);
}
END_TEST

/* ---- memory -------------------------------------------------------------- */

START_TEST(test_no_allocation_after_first_call)
{
    test_alloc_state s;
    ctr_allocator a;
    ctr_encoder *enc;
    float x[8 * 20], y[64], dx[8 * 20];
    size_t need;
    int64_t calls;
    test_alloc_setup(&a, &s);
    enc = golden_mlp(1, &a);
    random_batch(x, 160, 8);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 8, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_memory(enc, &need, 8), CTR_OK);
    ck_assert_int_eq((int64_t)need, s.live_bytes);
    calls = s.calls;
    ck_assert_int_eq(ctr_encoder_backward(enc, dx, y), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 8, CTR_ENCODER_EVAL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 5, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(enc, dx, y), CTR_OK);
    ck_assert_int_eq(ctr_encoder_zero_grad(enc), CTR_OK);
    ck_assert_int_eq(s.calls, calls);
    ctr_encoder_destroy(enc);
    ck_assert_int_eq(s.live_blocks, 0);
}
END_TEST

static int attempt_build_and_run(const ctr_allocator *a, void *ctx)
{
    ctr_encoder *enc = NULL, *copy = NULL, *loaded = NULL;
    int64_t in = 20;
    float x[3 * 20], y[24];
    unsigned char buf[8192];
    size_t size;
    int rc;
    (void)ctx;
    random_batch(x, 60, 5);
    rc = ctr_encoder_create(&enc, &in, 1, 1, a);
    if (rc != CTR_OK)
        return rc;
    if ((rc = ctr_encoder_add_linear(enc, 16, 1)) != CTR_OK ||
        (rc = ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1)) != CTR_OK ||
        (rc = ctr_encoder_add_layernorm(enc, 1e-5, 1)) != CTR_OK ||
        (rc = ctr_encoder_add_activation(enc, CTR_LAYER_TANH)) != CTR_OK ||
        (rc = ctr_encoder_add_linear(enc, 8, 0)) != CTR_OK ||
        (rc = ctr_encoder_add_l2norm(enc, 1e-12)) != CTR_OK ||
        (rc = ctr_encoder_forward(enc, y, x, 3, CTR_ENCODER_TRAIN)) != CTR_OK ||
        (rc = ctr_encoder_backward(enc, x, y)) != CTR_OK ||
        (rc = ctr_encoder_clone(&copy, enc)) != CTR_OK ||
        (rc = ctr_encoder_forward(copy, y, x, 3, CTR_ENCODER_EVAL)) != CTR_OK ||
        (rc = ctr_encoder_save_buffer(enc, buf, sizeof(buf), &size)) != CTR_OK ||
        (rc = ctr_encoder_load_buffer(&loaded, buf, size, a)) != CTR_OK) {
        ctr_encoder_destroy(enc);
        ctr_encoder_destroy(copy);
        return rc;
    }
    ctr_encoder_destroy(enc);
    ctr_encoder_destroy(copy);
    ctr_encoder_destroy(loaded);
    return CTR_OK;
}

START_TEST(test_every_allocation_failure)
{
    ck_assert_int_gt(test_every_alloc_failure(attempt_build_and_run, NULL), 20);
}
END_TEST

START_TEST(test_save_to_path_allocation_failure)
{
    test_alloc_state s;
    ctr_allocator a;
    ctr_encoder *enc;
    char path[256];
    int64_t k;
    test_alloc_setup(&a, &s);
    enc = golden_mlp(1, &a);
    test_temp_path(path, sizeof(path), "enc-oom.ckpt");
    for (k = 0;; k++) {
        int rc;
        test_alloc_fail_at(&s, k, 0);
        rc = ctr_encoder_save(enc, path);
        if (rc == CTR_OK)
            break;
        ck_assert_int_eq(rc, CTR_E_NOMEM);
    }
    ck_assert_int_ge(k, 1);
    remove(path);
    ctr_encoder_destroy(enc);
    ck_assert_int_eq(s.live_blocks, 0);
}
END_TEST

/* ---- the registry of layer kinds --------------------------------------------- */

START_TEST(test_layer_registry)
{
    static const int32_t kinds[] = {
        CTR_LAYER_LINEAR,    CTR_LAYER_BATCHNORM, CTR_LAYER_LAYERNORM,
        CTR_LAYER_RELU,      CTR_LAYER_GELU,      CTR_LAYER_TANH,
        CTR_LAYER_L2NORM,    CTR_LAYER_FLATTEN,   CTR_LAYER_CONV2D,
        CTR_LAYER_CONV1D,    CTR_LAYER_MAXPOOL2D, CTR_LAYER_AVGPOOL2D,
        CTR_LAYER_GLOBAL_AVGPOOL, CTR_LAYER_DROPOUT, CTR_LAYER_GRU,
        CTR_LAYER_RESIDUAL};
    const ctr__layer_ops *ops;
    size_t i;
    for (i = 0; (ops = ctr__layer_at(i)) != NULL; i++) {
        ck_assert_ptr_eq(ctr__layer_find(ops->kind), ops); /* one per kind */
        ck_assert(ops->configure != NULL && ops->forward != NULL &&
                  ops->backward != NULL);
    }
    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        ck_assert_ptr_nonnull(ctr__layer_find(kinds[i]));
    ck_assert_ptr_null(ctr__layer_find(0));
}
END_TEST

Suite *ctr_test_encoder_suite(void);

Suite *ctr_test_encoder_suite(void)
{
    Suite *s = suite_create("encoder");
    TCase *grad = tcase_create("gradients");
    TCase *golden = tcase_create("golden");
    TCase *life = tcase_create("lifecycle");
    TCase *err = tcase_create("errors");
    tcase_add_test(grad, test_linear_gradients);
    tcase_add_test(grad, test_batchnorm_gradients);
    tcase_add_test(grad, test_layernorm_gradients);
    tcase_add_test(grad, test_activation_gradients);
    tcase_add_test(grad, test_l2norm_and_flatten_gradients);
    tcase_add_test(grad, test_batchnorm_running_stats_and_eval);
    tcase_add_test(grad, test_batchnorm_image_statistics_with_offsets);
    tcase_add_test(grad, test_conv_gradients);
    tcase_add_test(grad, test_pool_gradients);
    tcase_add_test(grad, test_gru_gradients);
    tcase_add_test(grad, test_gru_backward_twice);
    tcase_add_test(grad, test_dropout);
    tcase_add_test(golden, test_golden_mlp);
    tcase_add_test(golden, test_golden_cnn);
    tcase_add_test(golden, test_golden_conv1d_gru);
    tcase_add_test(golden, test_conv_chunks_match_single_samples);
    tcase_add_test(golden, test_shapes_and_tensors);
    tcase_add_test(golden, test_init_matches_pytorch_defaults);
    tcase_add_test(golden, test_layer_output_and_chaining);
    tcase_add_test(life, test_clone_copy_and_momentum);
    tcase_add_test(life, test_save_load_bit_identical);
    tcase_add_test(life, test_load_refuses_huge_declarations);
    tcase_add_test(life, test_no_allocation_after_first_call);
    tcase_add_test(life, test_zoo_round_trip);
    tcase_add_test(life, test_zoo_no_allocation_after_first_call);
    tcase_add_test(life, test_layer_registry);
    tcase_add_test(err, test_bad_input);
    tcase_add_test(err, test_null_pointers);
    tcase_add_test(err, test_every_allocation_failure);
    tcase_add_test(err, test_save_to_path_allocation_failure);
    tcase_add_test(err, test_zoo_allocation_failure);
    tcase_add_test(err, test_bad_layer_arguments);
    tcase_set_timeout(grad, 60);
    tcase_set_timeout(life, 120);
    tcase_set_timeout(err, 120);
    suite_add_tcase(s, grad);
    suite_add_tcase(s, golden);
    suite_add_tcase(s, life);
    suite_add_tcase(s, err);
    return s;
}
