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

#include "common/blas.h"
#include "common/vec.h"
#include "encoder/encoder_build.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

/* Cache, per batch of n: gi (nT x 3H; backward overwrites it with dgh),
 * gates r|z|n|gh_n (nT x 4H), dgi (nT x 3H), gh (n x 3H), carry (n x H),
 * then H zeros (h_0). */
static int gru_cache_floats(const ctr__layer *l, int64_t n, int64_t groups, size_t *out)
{
    gru_geom g = gru_geometry(l);
    size_t a;
    (void)groups;
    if (ctr__matrix_bytes(&a, n, g.h * (10 * g.t + 4), 1) != CTR_OK ||
        ctr__add_size(out, a, (size_t)g.h) != CTR_OK)
        return CTR_E_OVERFLOW;
    return CTR_OK;
}

static int gru_check_batch(const ctr__layer *l, int64_t n, int64_t groups, int train,
                           ctr__error *err)
{
    (void)train;
    gru_geom g = gru_geometry(l);
    (void)groups;
    if (n > INT_MAX / g.t)
        return ctr__fail(err, CTR_E_SHAPE, "batch too large for BLAS");
    return CTR_OK;
}

typedef struct gru_bufs {
    float *gi, *gates, *dgi, *gh, *carry, *zeros;
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
    b.zeros = b.carry + r->n * g->h;
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

static void fill_bias(float *y, const float *b, int64_t rows, int64_t cols)
{
    int64_t i;
    for (i = 0; i < rows; i++)
        memcpy(y + i * cols, b, (size_t)cols * sizeof(float));
}

static void add_column_sums(float *restrict acc, const float *restrict d, int64_t rows,
                            int64_t cols)
{
    int64_t i, j;
    for (i = 0; i < rows; i++)
        CTR__VEC_FOR(j, cols, acc[j] += d[i * cols + j]);
}

/* One lane of a sample's step: the gates r, z, n from the input (gi_*)
 * and recurrent (gh_*) pre-activations, then h. */
static float gru_lane(float *rg, float *zg, float *ng, float gi_r, float gi_z, float gi_n,
                      float gh_r, float gh_z, float gh_n, float hprev)
{
    *rg = ctr__sigmoid_approx(gi_r + gh_r);
    *zg = ctr__sigmoid_approx(gi_z + gh_z);
    *ng = ctr__tanh_approx(gi_n + *rg * gh_n);
    return (1.0f - *zg) * *ng + *zg * hprev;
}

#if defined(__SSE2__)
/* The same functions on four lanes with SSE2 (baseline on x86-64): gcc
 * -O2 does not vectorise them from plain C. Same arithmetic as vec.h. */
static __m128 exp4(__m128 x)
{
    const __m128 magic = _mm_set1_ps(12582912.0f);
    __m128 k, r, p;
    __m128i bits;
    x = _mm_min_ps(_mm_max_ps(x, _mm_set1_ps(-87.0f)), _mm_set1_ps(88.0f));
    k = _mm_sub_ps(_mm_add_ps(_mm_mul_ps(x, _mm_set1_ps(1.44269504088896341f)), magic), magic);
    r = _mm_sub_ps(_mm_sub_ps(x, _mm_mul_ps(k, _mm_set1_ps(0.693145751953125f))),
                   _mm_mul_ps(k, _mm_set1_ps(1.428606765330187045e-06f)));
    p = _mm_add_ps(_mm_set1_ps(1.0f / 120.0f), _mm_mul_ps(r, _mm_set1_ps(1.0f / 720.0f)));
    p = _mm_add_ps(_mm_set1_ps(1.0f / 24.0f), _mm_mul_ps(r, p));
    p = _mm_add_ps(_mm_set1_ps(1.0f / 6.0f), _mm_mul_ps(r, p));
    p = _mm_add_ps(_mm_set1_ps(0.5f), _mm_mul_ps(r, p));
    p = _mm_add_ps(_mm_set1_ps(1.0f), _mm_mul_ps(r, p));
    p = _mm_add_ps(_mm_set1_ps(1.0f), _mm_mul_ps(r, p));
    bits = _mm_slli_epi32(_mm_add_epi32(_mm_cvttps_epi32(k), _mm_set1_epi32(127)), 23);
    return _mm_mul_ps(p, _mm_castsi128_ps(bits));
}

static __m128 sigmoid4(__m128 v)
{
    __m128 one = _mm_set1_ps(1.0f);
    return _mm_div_ps(one, _mm_add_ps(one, exp4(_mm_sub_ps(_mm_setzero_ps(), v))));
}

static __m128 tanh4(__m128 v)
{
    const __m128 sign = _mm_set1_ps(-0.0f), one = _mm_set1_ps(1.0f);
    __m128 a = _mm_andnot_ps(sign, v), q = _mm_mul_ps(v, v);
    __m128 e = exp4(_mm_mul_ps(_mm_set1_ps(-2.0f), a));
    __m128 big = _mm_div_ps(_mm_sub_ps(one, e), _mm_add_ps(one, e));
    __m128 small = _mm_add_ps(_mm_set1_ps(2.0f / 15.0f),
                              _mm_mul_ps(q, _mm_set1_ps(-17.0f / 315.0f)));
    __m128 use_small = _mm_cmplt_ps(a, _mm_set1_ps(0.0625f)), t;
    small = _mm_add_ps(_mm_set1_ps(-1.0f / 3.0f), _mm_mul_ps(q, small));
    small = _mm_mul_ps(a, _mm_add_ps(one, _mm_mul_ps(q, small)));
    t = _mm_or_ps(_mm_and_ps(use_small, small), _mm_andnot_ps(use_small, big));
    return _mm_or_ps(t, _mm_and_ps(sign, v));
}
#endif

/* One sample's step over H lanes (gh_n is kept for backward). */
static void gru_cell_row(float *h, float *rg, float *zg, float *ng, float *ghn,
                         const float *gi_r, const float *gi_z, const float *gi_n,
                         const float *gh_r, const float *gh_z, const float *gh_n,
                         const float *hprev, int64_t H)
{
    int64_t j = 0;
#if defined(__SSE2__)
    for (; j + 4 <= H; j += 4) {
        __m128 r = sigmoid4(_mm_add_ps(_mm_loadu_ps(gi_r + j), _mm_loadu_ps(gh_r + j)));
        __m128 z = sigmoid4(_mm_add_ps(_mm_loadu_ps(gi_z + j), _mm_loadu_ps(gh_z + j)));
        __m128 hn = _mm_loadu_ps(gh_n + j);
        __m128 n = tanh4(_mm_add_ps(_mm_loadu_ps(gi_n + j), _mm_mul_ps(r, hn)));
        __m128 hp = _mm_loadu_ps(hprev + j);
        __m128 out = _mm_add_ps(_mm_mul_ps(_mm_sub_ps(_mm_set1_ps(1.0f), z), n), _mm_mul_ps(z, hp));
        _mm_storeu_ps(h + j, out);
        _mm_storeu_ps(rg + j, r);
        _mm_storeu_ps(zg + j, z);
        _mm_storeu_ps(ng + j, n);
        _mm_storeu_ps(ghn + j, hn);
    }
#endif
    for (; j < H; j++) {
        h[j] = gru_lane(&rg[j], &zg[j], &ng[j], gi_r[j], gi_z[j], gi_n[j], gh_r[j], gh_z[j],
                        gh_n[j], hprev[j]);
        ghn[j] = gh_n[j];
    }
}

/* One step's gates and hidden state for every sample. */
static void gru_cell(const gru_geom *g, const gru_bufs *b, const ctr__layer_run *r, int64_t t)
{
    int64_t s, H = g->h;
    for (s = 0; s < r->n; s++) {
        int64_t row = s * g->t + t;
        float *gates = b->gates + row * 4 * H;
        const float *gi = b->gi + row * g->g3, *gh = b->gh + s * g->g3;
        gru_cell_row(r->y + row * H, gates, gates + H, gates + 2 * H, gates + 3 * H, gi,
                     gi + H, gi + 2 * H, gh, gh + H, gh + 2 * H,
                     t > 0 ? r->y + (row - 1) * H : b->zeros, H);
    }
}

static void gru_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    gru_geom g = gru_geometry(l);
    gru_bufs b = gru_buffers(&g, r);
    int64_t rows = r->n * g.t, t;
    memset(b.zeros, 0, (size_t)g.h * sizeof(float));
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

/* One sample's step backward for the gate values r, z, n, gh_n (each H
 * floats): gate gradients into dgi (r|z|n) and dgh (r|z|hn), and the direct
 * part dh * z of the gradient to h_{t-1} into carry (which held the
 * gradient arriving from step t+1). Every block is a separate restrict
 * pointer so that the loop vectorises. */
static void gru_cell_row_backward(float *restrict dgi_r, float *restrict dgi_z,
                                  float *restrict dgi_n, float *restrict dgh_r,
                                  float *restrict dgh_z, float *restrict dgh_n,
                                  float *restrict carry, const float *restrict rg,
                                  const float *restrict zg, const float *restrict ng,
                                  const float *restrict ghn, const float *restrict dy,
                                  const float *restrict hprev, int64_t H)
{
    int64_t j;
    CTR__VEC_FOR(j, H, float dh = dy[j] + carry[j];
                 float dan = dh * (1.0f - zg[j]) * (1.0f - ng[j] * ng[j]);
                 float dar = dan * ghn[j] * rg[j] * (1.0f - rg[j]);
                 float daz = dh * (hprev[j] - ng[j]) * zg[j] * (1.0f - zg[j]);
                 dgi_r[j] = dar; dgi_z[j] = daz; dgi_n[j] = dan;
                 dgh_r[j] = dar; dgh_z[j] = daz; dgh_n[j] = dan * rg[j];
                 carry[j] = dh * zg[j]);
}

static void gru_cell_backward(const gru_geom *g, const gru_bufs *b, const ctr__layer_run *r,
                              int64_t t)
{
    int64_t s, H = g->h;
    for (s = 0; s < r->n; s++) {
        int64_t row = s * g->t + t;
        float *dgi = b->dgi + row * g->g3, *dgh = b->gi + row * g->g3;
        const float *gates = b->gates + row * 4 * H;
        gru_cell_row_backward(dgi, dgi + H, dgi + 2 * H, dgh, dgh + H, dgh + 2 * H,
                              b->carry + s * H, gates, gates + H, gates + 2 * H,
                              gates + 3 * H, r->dy + row * H,
                              t > 0 ? r->y + (row - 1) * H : b->zeros, H);
    }
}

/* The recurrent pre-activations' gradient dgh of every step goes where
 * the forward kept gi (backward never reads gi), so that dW_hh is one GEMM
 * over all steps after the loop instead of one small GEMM per step: rows
 * of dgh at step t >= 1 pair with y at t - 1, the row before in the same
 * layout; the t = 0 rows (h_0 = 0) are zeroed once b_hh has their sums. */
static void gru_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    gru_geom g = gru_geometry(l);
    gru_bufs b = gru_buffers(&g, r);
    const int ld_step = (int)(g.t * g.g3);
    int64_t rows = r->n * g.t, t, s;
    float *dgh = b.gi;
    memset(b.carry, 0, (size_t)(r->n * g.h) * sizeof(float));
    for (t = g.t - 1; t >= 0; t--) {
        gru_cell_backward(&g, &b, r, t);
        if (t > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r->n, (int)g.h,
                        (int)g.g3, 1.0f, dgh + t * g.g3, ld_step, b.w_hh, (int)g.h, 1.0f,
                        b.carry, (int)g.h);
    }
    add_column_sums(b.gb_hh, dgh, rows, g.g3);
    for (s = 0; s < r->n; s++)
        memset(dgh + s * g.t * g.g3, 0, (size_t)g.g3 * sizeof(float));
    if (rows > 1)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g.g3, (int)g.h, (int)(rows - 1),
                    1.0f, dgh + g.g3, (int)g.g3, r->y, (int)g.h, 1.0f, b.gw_hh, (int)g.h);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g.g3, (int)g.f, (int)rows, 1.0f,
                b.dgi, (int)g.g3, r->x, (int)g.f, 1.0f, b.gw_ih, (int)g.f);
    add_column_sums(b.gb_ih, b.dgi, rows, g.g3);
    if (r->dx != NULL)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)g.f, (int)g.g3,
                    1.0f, b.dgi, (int)g.g3, b.w_ih, (int)g.f, 0.0f, r->dx, (int)g.f);
}

/* Listed in layer_registry.c. */
const ctr__layer_ops ctr__layer_gru_ops = {
    .kind = CTR_LAYER_GRU,
    .configure = gru_configure,
    .init = gru_init,
    .cache_floats = gru_cache_floats,
    .tensors = gru_tensors,
    .check_batch = gru_check_batch,
    .forward = gru_forward,
    .backward = gru_backward,
};

CTR_API int ctr_encoder_add_gru(ctr_encoder *enc, int64_t hidden)
{
    ctr__layer l = ctr__layer_template(&ctr__layer_gru_ops);
    l.hi[0] = hidden;
    return ctr__encoder_add(enc, &l);
}
