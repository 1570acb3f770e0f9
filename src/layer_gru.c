/*
 * layer_gru.c - a one-layer GRU over a sequence, returning every hidden
 * state (T x F -> T x H), h_0 = 0, with PyTorch's equations and layout:
 *   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
 *   z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
 *   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
 *   h' = (1 - z) * n + z * h
 * Parameters: weight_ih (3H x F, gates r|z|n), weight_hh (3H x H),
 * bias_ih (3H), bias_hh (3H). Hyper-parameter hi[0] = H.
 *
 * The input projection of all steps is one GEMM; each step adds one
 * n x H x 3H GEMM. Backward runs through time with the same shapes.
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "blas.h"
#include "encoder_layer.h"

typedef struct gru_geom {
    int64_t t, f, h, g3; /* steps, input features, hidden, 3H */
} gru_geom;

static gru_geom gru_geometry(const ctr__layer *l)
{
    gru_geom g;
    g.t = l->in.d[0];
    g.f = l->in.d[1];
    g.h = l->hi[0];
    g.g3 = 3 * g.h;
    return g;
}

static int gru_configure(ctr__layer *l, ctr__error *err)
{
    gru_geom g;
    size_t a, b;
    if (l->in.ndims != 2)
        return ctr__fail(err, CTR_E_SHAPE, "gru needs a sequence (T x F) input");
    if (l->hi[0] < 1 || l->hi[0] > INT_MAX / 10)
        return ctr__fail(err, CTR_E_INVALID_ARG, "hidden size must be in [1, %d] (got %lld)",
                         INT_MAX / 10, (long long)l->hi[0]);
    g = gru_geometry(l);
    if (g.f > INT_MAX || ctr__matrix_bytes(&a, g.g3, g.f + g.h + 2, 1) != CTR_OK ||
        ctr__matrix_bytes(&b, g.t, g.h, 1) != CTR_OK)
        return ctr__fail(err, CTR_E_OVERFLOW, "gru layer too large");
    l->out.ndims = 2;
    l->out.d[0] = g.t;
    l->out.d[1] = g.h;
    l->out.d[2] = 1;
    l->param_count = (int64_t)a;
    l->stat_count = 0;
    return CTR_OK;
}

static void gru_init(const ctr__layer *l, float *w, float *stat, ctr__prng *g)
{
    double bound = 1.0 / sqrt((double)l->hi[0]);
    int64_t i;
    (void)stat;
    for (i = 0; i < l->param_count; i++)
        w[i] = ctr__uniform_sym(g, bound);
}

static int gru_tensors(const ctr__layer *l, ctr__tensor_desc *d)
{
    gru_geom g = gru_geometry(l);
    int k;
    memset(d, 0, 4 * sizeof(*d));
    for (k = 0; k < 4; k++) {
        d[k].role = k < 2 ? CTR_TENSOR_WEIGHT : CTR_TENSOR_BIAS;
        d[k].ndims = k < 2 ? 2 : 1;
        d[k].dims[0] = g.g3;
        d[k].dims[1] = k == 0 ? g.f : k == 1 ? g.h : 1;
        d[k].dims[2] = d[k].dims[3] = 1;
        d[k].count = d[k].dims[0] * d[k].dims[1];
    }
    return 4;
}

/* Cache, per batch of n: gi (nT x 3H), gates r|z|n|gh_n (nT x 4H), dgi
 * (nT x 3H), gh (n x 3H), carry (n x H). */
static int gru_cache_floats(const ctr__layer *l, int64_t n, int64_t groups, size_t *out)
{
    gru_geom g = gru_geometry(l);
    (void)groups;
    return ctr__matrix_bytes(out, n, g.h * (10 * g.t + 4), 1);
}

static int gru_check_batch(const ctr__layer *l, int64_t n, int64_t groups, ctr__error *err)
{
    gru_geom g = gru_geometry(l);
    (void)groups;
    if (n > INT_MAX / g.t)
        return ctr__fail(err, CTR_E_SHAPE, "batch too large for BLAS");
    return CTR_OK;
}

typedef struct gru_bufs {
    float *gi, *gates, *dgi, *gh, *carry;
    const float *w_ih, *w_hh, *b_ih, *b_hh;
    float *gw_ih, *gw_hh, *gb_ih, *gb_hh;
} gru_bufs;

static gru_bufs gru_buffers(const gru_geom *g, const ctr__layer_run *r)
{
    gru_bufs b;
    int64_t rows = r->n * g->t;
    b.gi = r->cache;
    b.gates = b.gi + rows * g->g3;
    b.dgi = b.gates + rows * 4 * g->h;
    b.gh = b.dgi + rows * g->g3;
    b.carry = b.gh + r->n * g->g3;
    b.w_ih = r->w;
    b.w_hh = b.w_ih + g->g3 * g->f;
    b.b_ih = b.w_hh + g->g3 * g->h;
    b.b_hh = b.b_ih + g->g3;
    if (r->gw != NULL) {
        b.gw_ih = r->gw;
        b.gw_hh = b.gw_ih + g->g3 * g->f;
        b.gb_ih = b.gw_hh + g->g3 * g->h;
        b.gb_hh = b.gb_ih + g->g3;
    }
    return b;
}

static float sigmoid(float v)
{
    return 1.0f / (1.0f + expf(-v));
}

static void fill_bias(float *y, const float *b, int64_t rows, int64_t cols)
{
    int64_t i;
    for (i = 0; i < rows; i++)
        memcpy(y + i * cols, b, (size_t)cols * sizeof(float));
}

static void add_column_sums(float *acc, const float *d, int64_t rows, int64_t cols)
{
    int64_t i, j;
    for (i = 0; i < rows; i++)
        for (j = 0; j < cols; j++)
            acc[j] += d[i * cols + j];
}

/* One step's gates and hidden state for every sample. */
static void gru_cell(const gru_geom *g, const gru_bufs *b, const ctr__layer_run *r, int64_t t)
{
    int64_t s, j, H = g->h;
    for (s = 0; s < r->n; s++) {
        int64_t row = s * g->t + t;
        const float *gi = b->gi + row * g->g3, *gh = b->gh + s * g->g3;
        const float *hprev = t > 0 ? r->y + (row - 1) * H : NULL;
        float *gates = b->gates + row * 4 * H, *h = r->y + row * H;
        for (j = 0; j < H; j++) {
            float rg = sigmoid(gi[j] + gh[j]);
            float zg = sigmoid(gi[H + j] + gh[H + j]);
            float ng = tanhf(gi[2 * H + j] + rg * gh[2 * H + j]);
            h[j] = (1.0f - zg) * ng + zg * (hprev != NULL ? hprev[j] : 0.0f);
            gates[j] = rg;
            gates[H + j] = zg;
            gates[2 * H + j] = ng;
            gates[3 * H + j] = gh[2 * H + j];
        }
    }
}

static void gru_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    gru_geom g = gru_geometry(l);
    gru_bufs b = gru_buffers(&g, r);
    int64_t rows = r->n * g.t, t;
    fill_bias(b.gi, b.b_ih, rows, g.g3);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)g.g3, (int)g.f,
                1.0f, r->x, (int)g.f, b.w_ih, (int)g.f, 1.0f, b.gi, (int)g.g3);
    for (t = 0; t < g.t; t++) {
        fill_bias(b.gh, b.b_hh, r->n, g.g3);
        if (t > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)r->n, (int)g.g3,
                        (int)g.h, 1.0f, r->y + (t - 1) * g.h, (int)(g.t * g.h), b.w_hh,
                        (int)g.h, 1.0f, b.gh, (int)g.g3);
        gru_cell(&g, &b, r, t);
    }
}

/* One step backward: gate gradients into dgi (row) and gh (dGh), and the
 * direct part dh * z of the gradient to h_{t-1} into carry. */
static void gru_cell_backward(const gru_geom *g, const gru_bufs *b, const ctr__layer_run *r,
                              int64_t t)
{
    int64_t s, j, H = g->h;
    for (s = 0; s < r->n; s++) {
        int64_t row = s * g->t + t;
        const float *gates = b->gates + row * 4 * H, *dy = r->dy + row * H;
        const float *hprev = t > 0 ? r->y + (row - 1) * H : NULL;
        float *dgi = b->dgi + row * g->g3, *dgh = b->gh + s * g->g3;
        float *carry = b->carry + s * H;
        for (j = 0; j < H; j++) {
            float rg = gates[j], zg = gates[H + j], ng = gates[2 * H + j];
            float ghn = gates[3 * H + j];
            float dh = dy[j] + carry[j];
            float hp = hprev != NULL ? hprev[j] : 0.0f;
            float dan = dh * (1.0f - zg) * (1.0f - ng * ng);
            float dar = dan * ghn * rg * (1.0f - rg);
            float daz = dh * (hp - ng) * zg * (1.0f - zg);
            dgi[j] = dar;
            dgi[H + j] = daz;
            dgi[2 * H + j] = dan;
            dgh[j] = dar;
            dgh[H + j] = daz;
            dgh[2 * H + j] = dan * rg;
            carry[j] = dh * zg;
        }
    }
}

static void gru_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    gru_geom g = gru_geometry(l);
    gru_bufs b = gru_buffers(&g, r);
    int64_t rows = r->n * g.t, t;
    memset(b.carry, 0, (size_t)(r->n * g.h) * sizeof(float));
    for (t = g.t - 1; t >= 0; t--) {
        gru_cell_backward(&g, &b, r, t);
        add_column_sums(b.gb_hh, b.gh, r->n, g.g3);
        if (t == 0)
            break;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g.g3, (int)g.h, (int)r->n,
                    1.0f, b.gh, (int)g.g3, r->y + (t - 1) * g.h, (int)(g.t * g.h), 1.0f,
                    b.gw_hh, (int)g.h);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r->n, (int)g.h,
                    (int)g.g3, 1.0f, b.gh, (int)g.g3, b.w_hh, (int)g.h, 1.0f, b.carry,
                    (int)g.h);
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g.g3, (int)g.f, (int)rows, 1.0f,
                b.dgi, (int)g.g3, r->x, (int)g.f, 1.0f, b.gw_ih, (int)g.f);
    add_column_sums(b.gb_ih, b.dgi, rows, g.g3);
    if (r->dx != NULL)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)g.f, (int)g.g3,
                    1.0f, b.dgi, (int)g.g3, b.w_ih, (int)g.f, 0.0f, r->dx, (int)g.f);
}

const ctr__layer_ops ctr__layer_gru_ops = {
    gru_configure, gru_init, gru_cache_floats, gru_tensors, gru_check_batch,
    gru_forward, gru_backward,
};
