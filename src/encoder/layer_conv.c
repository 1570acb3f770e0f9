/*
 * layer_conv.c - convolutions as im2col + cblas_sgemm.
 *
 * conv2d: image C x H x W -> O x H' x W', square kernel k, one stride and
 *   one zero padding for both axes; weight O x C x k x k (PyTorch layout).
 *   The batch is processed in chunks of samples whose columns, their
 *   gradient and output block fill about CHUNK_FLOATS: cols (C*k*k x
 *   chunk*H'*W') = im2col of the chunk, then one GEMM Y = W . cols
 *   (O x chunk*H'*W'), scattered to the samples (+ b). Big GEMMs let the
 *   BLAS threads help. The cache keeps every chunk's columns (one after
 *   the other) for backward, which would otherwise redo im2col (a pass as
 *   costly as the layer's non-GEMM work; the memory is C*k*k*H'*W' floats
 *   per sample), then one chunk's column gradient and output block.
 * conv1d: sequence T x F (F input channels over T steps) -> T' x O,
 *   weight O x F x k (PyTorch layout, as Conv1d on the transposed N x F x T
 *   input). The whole batch is one GEMM: cols (n*T' x F*k), y = cols . W^T.
 *
 * Hyper-parameters: hi[0] out channels, hi[1] kernel, hi[2] stride,
 * hi[3] padding, hi[4] bias (0/1).
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "common/blas.h"
#include "common/parallel.h"
#include "common/vec.h"
#include "encoder/conv_winograd.h"
#include "encoder/encoder_build.h"

#define CHUNK_FLOATS ((int64_t)1 << 21)

static int check_conv_args(const ctr__layer *l, ctr__error *err)
{
    if (l->hi[0] < 1 || l->hi[0] > INT_MAX)
        return ctr__fail(err, CTR_E_INVALID_ARG, "out_channels must be in [1, %d] (got %lld)",
                         INT_MAX, (long long)l->hi[0]);
    if (l->hi[1] < 1 || l->hi[1] > 4096 || l->hi[2] < 1 || l->hi[2] > 4096 ||
        l->hi[3] < 0 || l->hi[3] > 4096)
        return ctr__fail(err, CTR_E_INVALID_ARG,
                         "kernel and stride must be in [1, 4096], padding in [0, 4096]");
    if (l->hi[4] != 0 && l->hi[4] != 1)
        return ctr__fail(err, CTR_E_INVALID_ARG, "bias must be 0 or 1 (got %lld)",
                         (long long)l->hi[4]);
    return CTR_OK;
}

/* Weight O x fan_in then optional bias; tensor dims given by the caller. */
static int conv_tensors(const ctr__layer *l, ctr__tensor_desc *d, int32_t ndims,
                        int64_t in_channels)
{
    int64_t k = l->hi[1];
    memset(d, 0, 2 * sizeof(*d));
    d[0].role = CTR_TENSOR_WEIGHT;
    d[0].ndims = ndims;
    d[0].dims[0] = l->hi[0];
    d[0].dims[1] = in_channels;
    d[0].dims[2] = k;
    d[0].dims[3] = ndims == 4 ? k : 1;
    d[0].count = l->hi[0] * in_channels * k * (ndims == 4 ? k : 1);
    if (!l->hi[4])
        return 1;
    d[1].role = CTR_TENSOR_BIAS;
    d[1].ndims = 1;
    d[1].dims[0] = l->hi[0];
    d[1].dims[1] = d[1].dims[2] = d[1].dims[3] = 1;
    d[1].count = l->hi[0];
    return 2;
}

static void init_uniform(float *w, int64_t count, int64_t fan_in, ctr__prng *g)
{
    double bound = 1.0 / sqrt((double)fan_in);
    int64_t i;
    for (i = 0; i < count; i++)
        w[i] = ctr__uniform_sym(g, bound);
}

/* y = x + b */
static void add_scalar(float *restrict y, const float *restrict x, float b, int64_t n)
{
    int64_t i;
    CTR__VEC_FOR(i, n, y[i] = x[i] + b);
}

/* ---- conv2d -------------------------------------------------------------- */

typedef struct conv_geom {
    int64_t c, h, w, o, k, s, p, oh, ow, ckk, ohw;
} conv_geom;

static conv_geom conv2d_geom(const ctr__layer *l)
{
    conv_geom g;
    g.c = l->in.d[0];
    g.h = l->in.d[1];
    g.w = l->in.d[2];
    g.o = l->hi[0];
    g.k = l->hi[1];
    g.s = l->hi[2];
    g.p = l->hi[3];
    g.oh = ctr__window_count(g.h, g.k, g.s, g.p);
    g.ow = ctr__window_count(g.w, g.k, g.s, g.p);
    g.ckk = g.c * g.k * g.k;
    g.ohw = g.oh * g.ow;
    return g;
}

static int conv2d_configure(ctr__layer *l, ctr__error *err)
{
    conv_geom g;
    size_t count;
    int rc = check_conv_args(l, err);
    if (rc != CTR_OK)
        return rc;
    if (l->in.ndims != 3)
        return ctr__fail(err, CTR_E_SHAPE, "conv2d needs an image (C x H x W) input");
    g = conv2d_geom(l);
    if (g.oh < 1 || g.ow < 1)
        return ctr__fail(err, CTR_E_SHAPE, "conv2d kernel %lld does not fit the %lld x %lld input",
                         (long long)g.k, (long long)g.h, (long long)g.w);
    if (g.ckk > INT_MAX || g.ohw > INT_MAX ||
        ctr__matrix_bytes(&count, g.o, g.ckk + l->hi[4], 1) != CTR_OK)
        return ctr__fail(err, CTR_E_OVERFLOW, "conv2d layer too large");
    l->out.ndims = 3;
    l->out.d[0] = g.o;
    l->out.d[1] = g.oh;
    l->out.d[2] = g.ow;
    l->param_count = (int64_t)count;
    l->stat_count = 0;
    return CTR_OK;
}

static void conv2d_init(const ctr__layer *l, float *w, float *stat, ctr__prng *g)
{
    conv_geom c = conv2d_geom(l);
    (void)stat;
    init_uniform(w, c.o * c.ckk + l->hi[4] * c.o, c.ckk, g);
}

/* Samples per chunk for a batch of n. */
static int64_t conv2d_chunk(const conv_geom *g, int64_t n)
{
    int64_t chunk = CHUNK_FLOATS / ((2 * g->ckk + g->o) * g->ohw);
    if (chunk < 1)
        chunk = 1;
    return chunk < n ? chunk : n;
}

/* Cache: the batch's columns, then one chunk's column gradient and output
 * block. */
static int conv2d_cache_floats(const ctr__layer *l, int64_t n, int64_t groups, size_t *out)
{
    conv_geom g = conv2d_geom(l);
    size_t all, chunk;
    (void)groups;
    if (ctr__matrix_bytes(&all, n, g.ckk * g.ohw, 1) != CTR_OK ||
        ctr__matrix_bytes(&chunk, g.ckk + g.o, conv2d_chunk(&g, n) * g.ohw, 1) != CTR_OK)
        return CTR_E_OVERFLOW;
    return ctr__add_size(out, all, chunk);
}

static int conv2d_check_batch(const ctr__layer *l, int64_t n, int64_t groups, int train,
                              ctr__error *err)
{
    conv_geom g = conv2d_geom(l);
    (void)groups;
    (void)train;
    if (conv2d_chunk(&g, n) > INT_MAX / g.ohw)
        return ctr__fail(err, CTR_E_SHAPE, "conv2d chunk too large for BLAS");
    return CTR_OK;
}

static int conv2d_tensors(const ctr__layer *l, ctr__tensor_desc *d)
{
    return conv_tensors(l, d, 4, l->in.d[0]);
}

/* The output columns [*lo, *hi) whose input column ow*s - p + kj lies in
 * [0, w). */
static void valid_columns(const conv_geom *g, int64_t kj, int64_t *lo, int64_t *hi)
{
    int64_t first = g->p - kj, last = g->w - 1 + g->p - kj; /* ow*s in [first, last] */
    *lo = first <= 0 ? 0 : (first + g->s - 1) / g->s;
    *hi = last < 0 ? 0 : last / g->s + 1;
    if (*hi > g->ow)
        *hi = g->ow;
    if (*lo > *hi)
        *lo = *hi;
}

/* Stride 2 (the common down-sampling convolution) with SSE2 shuffles:
 * gcc's cheap vectoriser leaves strided loops scalar. Both helpers do the
 * same float operations as the scalar loops, element by element, and only
 * touch src/dst elements the scalar loop touches or the odd elements between
 * them (read and written back unchanged), so the block loops stop one vector
 * before the end. */
#if defined(__SSE2__)
#include <emmintrin.h>

static int64_t gather_stride2(float *restrict dst, const float *restrict src, int64_t n)
{
    int64_t i;
    for (i = 0; i + 4 < n; i += 4) {
        __m128 a = _mm_loadu_ps(src + 2 * i), b = _mm_loadu_ps(src + 2 * i + 4);
        _mm_storeu_ps(dst + i, _mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
    }
    return i;
}

/* A channel's batch norm + ReLU read through (ctr__bn_relu_in) as
 * vectors: max(((x - m) * is) * sc + sh, 0), which is the scalar
 * expression's v > 0 ? v : +0 (maxps returns its second operand unless
 * the first is greater). */
typedef struct map4 {
    __m128 m, is, sc, sh;
} map4;

static __m128 map4_apply(__m128 x, const map4 *t)
{
    __m128 v = _mm_add_ps(_mm_mul_ps(_mm_mul_ps(_mm_sub_ps(x, t->m), t->is), t->sc), t->sh);
    return _mm_max_ps(v, _mm_setzero_ps());
}

static map4 map4_of(const float *c)
{
    map4 t = {_mm_set1_ps(c[0]), _mm_set1_ps(c[1]), _mm_set1_ps(c[2]), _mm_set1_ps(c[3])};
    return t;
}

/* dst[i] = the mapped src[i * stride]: stride 1 or 2 by vectors as the
 * plain loops, then the last values one by one in a vector's first lane
 * (the scalar test would be a branch, taken at random); returns n. */
static int64_t mapped_copy_sse(float *restrict dst, const float *restrict src, int64_t n,
                               int64_t stride, const float *c)
{
    map4 t = map4_of(c);
    int64_t i = 0;
    if (stride == 1)
        for (; i + 4 <= n; i += 4)
            _mm_storeu_ps(dst + i, map4_apply(_mm_loadu_ps(src + i), &t));
    if (stride == 2)
        for (; i + 4 < n; i += 4) {
            __m128 a = _mm_loadu_ps(src + 2 * i), b = _mm_loadu_ps(src + 2 * i + 4);
            _mm_storeu_ps(dst + i, map4_apply(_mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), &t));
        }
    for (; i < n; i++)
        dst[i] = _mm_cvtss_f32(map4_apply(_mm_set_ss(src[i * stride]), &t));
    return i;
}

static int64_t scatter_add_stride2(float *restrict dst, const float *restrict src, int64_t n)
{
    int64_t i;
    for (i = 0; i + 4 < n; i += 4) {
        __m128 a = _mm_loadu_ps(dst + 2 * i), b = _mm_loadu_ps(dst + 2 * i + 4);
        __m128 even = _mm_add_ps(_mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm_loadu_ps(src + i));
        __m128 odd = _mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
        _mm_storeu_ps(dst + 2 * i, _mm_unpacklo_ps(even, odd));
        _mm_storeu_ps(dst + 2 * i + 4, _mm_unpackhi_ps(even, odd));
    }
    return i;
}
#else
static int64_t gather_stride2(float *restrict dst, const float *restrict src, int64_t n)
{
    (void)dst, (void)src, (void)n;
    return 0;
}

static int64_t scatter_add_stride2(float *restrict dst, const float *restrict src, int64_t n)
{
    (void)dst, (void)src, (void)n;
    return 0;
}

static int64_t mapped_copy_sse(float *restrict dst, const float *restrict src, int64_t n,
                               int64_t stride, const float *c)
{
    (void)dst, (void)src, (void)n, (void)stride, (void)c;
    return 0;
}
#endif

static void strided_copy(float *restrict dst, const float *restrict src, int64_t n,
                         int64_t stride)
{
    int64_t i = 0;
    if (stride == 1) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    if (stride == 2)
        i = gather_stride2(dst, src, n);
    for (; i < n; i++)
        dst[i] = src[i * stride];
}

/* strided_copy of max(((x - m) * is) * sc + sh, 0), c = {m, is, sc, sh}:
 * the fused batch norm + ReLU's value of x (layer_norm.c's expression). */
static void mapped_copy(float *restrict dst, const float *restrict src, int64_t n,
                        int64_t stride, const float *c)
{
    int64_t i = mapped_copy_sse(dst, src, n, stride, c);
    for (; i < n; i++) {
        float v = ((src[i * stride] - c[0]) * c[1]) * c[2] + c[3];
        dst[i] = v > 0.0f ? v : 0.0f;
    }
}

static void strided_add(float *restrict dst, const float *restrict src, int64_t n,
                        int64_t stride)
{
    int64_t i = 0;
    if (stride == 1) {
        CTR__VEC_FOR(i, n, dst[i] += src[i]);
        return;
    }
    if (stride == 2)
        i = scatter_add_stride2(dst, src, n);
    for (; i < n; i++)
        dst[i * stride] += src[i];
}

/* Channel c's {mean, invstd, scale, shift} of sample i read through a
 * batch norm and its ReLU (layer.h) to map. */
static void bn_map_of(float *map, const ctr__bn_relu_in *bn, int64_t i, int64_t c)
{
    int64_t at = i / bn->group_samples * bn->group_stride + c;
    map[0] = bn->mean[at];
    map[1] = bn->invstd[at];
    map[2] = bn->scale[at];
    map[3] = bn->shift[at];
}

/* cols[(c, ki, kj)][(oh, ow)] = x[c][oh*s - p + ki][ow*s - p + kj] (0 in
 * the padding); rows of cols are ld floats apart. bn not NULL: x is read
 * through it (ctr__bn_relu_in) as sample i. */
static void im2col(float *restrict cols, int64_t ld, const float *restrict x,
                   const conv_geom *g, const ctr__bn_relu_in *bn, int64_t i)
{
    int64_t c, ki, kj, oh, lo, hi, j;
    float map[4] = {0};
    for (c = 0; c < g->c; c++) {
        if (bn != NULL)
            bn_map_of(map, bn, i, c);
        for (ki = 0; ki < g->k; ki++)
            for (kj = 0; kj < g->k; kj++) {
                float *row = cols + ((c * g->k + ki) * g->k + kj) * ld;
                valid_columns(g, kj, &lo, &hi);
                for (oh = 0; oh < g->oh; oh++) {
                    int64_t ih = oh * g->s - g->p + ki;
                    float *dst = row + oh * g->ow;
                    if (ih < 0 || ih >= g->h || lo == hi) {
                        memset(dst, 0, (size_t)g->ow * sizeof(float));
                        continue;
                    }
                    const float *src = x + (c * g->h + ih) * g->w + lo * g->s - g->p + kj;
                    for (j = 0; j < lo; j++) /* a few padding columns */
                        dst[j] = 0.0f;
                    if (bn != NULL)
                        mapped_copy(dst + lo, src, hi - lo, g->s, map);
                    else
                        strided_copy(dst + lo, src, hi - lo, g->s);
                    for (j = hi; j < g->ow; j++)
                        dst[j] = 0.0f;
                }
            }
    }
}

/* dx += the columns' gradient scattered back (dx zeroed by the caller);
 * rows of dcols are ld floats apart. */
static void col2im(float *restrict dx, const float *restrict dcols, int64_t ld,
                   const conv_geom *g)
{
    int64_t c, ki, kj, oh, lo, hi;
    for (c = 0; c < g->c; c++)
        for (ki = 0; ki < g->k; ki++)
            for (kj = 0; kj < g->k; kj++) {
                const float *row = dcols + ((c * g->k + ki) * g->k + kj) * ld;
                valid_columns(g, kj, &lo, &hi);
                for (oh = 0; oh < g->oh && lo < hi; oh++) {
                    int64_t ih = oh * g->s - g->p + ki;
                    if (ih < 0 || ih >= g->h)
                        continue;
                    strided_add(dx + (c * g->h + ih) * g->w + lo * g->s - g->p + kj,
                                row + oh * g->ow + lo, hi - lo, g->s);
                }
            }
}

/* im2col of samples [s0, s0 + nb) side by side in cols (ld = nb * ohw). */
static void chunk_columns(float *cols, const float *x, int64_t s0, int64_t nb,
                          const conv_geom *g, const ctr__bn_relu_in *bn)
{
    int64_t i, in_size = g->c * g->h * g->w;
    CTR__PARALLEL_FOR(nb * g->ckk * g->ohw)
    for (i = 0; i < nb; i++)
        im2col(cols + i * g->ohw, nb * g->ohw, x + (s0 + i) * in_size, g, bn, s0 + i);
}

/* The output block of a chunk (O x nb*ohw) scattered to the samples' Y,
 * plus the bias; with stats (not NULL: the chunk's plane statistics,
 * ctr__layer_run.plane_stats) each plane's sum and squared deviation from
 * its mean, taken while the plane is in L1 (the batch norm's expressions,
 * layer_norm.c). */
static void scatter_output(float *y, const float *block, const float *bias, int64_t nb,
                           const conv_geom *g, float *stats)
{
    int64_t t;
    CTR__PARALLEL_FOR(2 * nb * g->o * g->ohw)
    for (t = 0; t < nb * g->o; t++) {
        int64_t i = t / g->o, oc = t % g->o;
        float *yt = y + t * g->ohw;
        add_scalar(yt, block + oc * nb * g->ohw + i * g->ohw, bias != NULL ? bias[oc] : 0.0f,
                   g->ohw);
        if (stats != NULL) {
            float sum = ctr__sum(yt, g->ohw);
            stats[2 * t] = sum;
            stats[2 * t + 1] = ctr__sum_sq_dev(yt, sum / (float)g->ohw, g->ohw);
        }
    }
}

/* The no-grad forward's Winograd shape; ctr__wino_applies says if it is
 * used (conv_winograd.c). */
static ctr__wino_shape wino_shape(const conv_geom *g)
{
    ctr__wino_shape s = {g->c, g->h, g->w, g->o, g->p};
    return s;
}

/* No-grad scratch: Winograd's, or one chunk's columns and output block. */
static int conv2d_infer_floats(const ctr__layer *l, int64_t n, int64_t groups, size_t *out)
{
    conv_geom g = conv2d_geom(l);
    ctr__wino_shape ws = wino_shape(&g);
    (void)groups;
    if (ctr__wino_applies(&ws, g.k, g.s))
        return ctr__wino_floats(&ws, n, out);
    return ctr__matrix_bytes(out, g.ckk + g.o, conv2d_chunk(&g, n) * g.ohw, 1);
}

/* ---- conv2d, the direct path ----------------------------------------------
 * A convolution with few values per window (C*k*k <= DIRECT_CKK: a first
 * layer over grey or colour images) gains nothing from GEMMs in training:
 * K is 9 or 25, the output block must still be scattered to the samples,
 * and OpenBLAS runs the weight gradient (O x C*k*k outputs over a K of
 * the whole batch's positions) at a fifth of its usual rate (issue 17).
 * In train mode each sample's output is taken from its columns (kept for
 * backward as on the GEMM path, but one sample after the other: ld H'*W')
 * while they are in cache, with the bias and the plane statistics, and
 * the weight and bias gradients straight from dY in NCHW (no gather). An
 * input gradient, when wanted, takes the GEMM path's chunks. Every sum
 * runs in a fixed order (samples in order), whatever the thread count.
 * The no-grad forward keeps the GEMM path. */
#define DIRECT_CKK 32
#define DIRECT_OC_BLOCK 8 /* output channels per vector kernel call */

static int direct_applies(const conv_geom *g)
{
    return g->ckk <= DIRECT_CKK;
}

/* The two kernels below run on 8-float vectors, as inlined bodies
 * compiled twice on x86-64 (kernels.c's way): for the baseline and for
 * AVX2, chosen per call from the CPU's feature bits (not by an ifunc: its
 * resolver runs before ThreadSanitizer's runtime is up). No FMA: both do
 * the same float operations, so the bits do not depend on the CPU. */
typedef float conv_v8 __attribute__((vector_size(8 * sizeof(float))));
#if defined(__x86_64__) && defined(__GNUC__)
#define DIRECT_X86 1
#define DIRECT_AVX2 __attribute__((target("avx2")))
#else
#define DIRECT_X86 0
#endif
#define DIRECT_BODY static inline __attribute__((always_inline))
#define DIRECT_EACH8(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)
#define DIRECT_SPLAT(x) {(x), (x), (x), (x), (x), (x), (x), (x)}

/* Output channels [0, 8) of w (rows of ckk) for one sample: y[k] =
 * sum_j w[k][j] * cols[j] (j in order, from +0) + b[k], planes ohw apart,
 * 8 positions at a time; the tail as scalars (the same operations). */
DIRECT_BODY void direct_out8_body(float *restrict y, const float *restrict cols,
                                  const float *restrict w, const float *restrict b, int64_t ckk,
                                  int64_t ohw)
{
    int64_t p, j, k;
    for (p = 0; p + 8 <= ohw; p += 8) {
        conv_v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0};
        conv_v8 a7 = {0}, c;
        for (j = 0; j < ckk; j++) {
            memcpy(&c, cols + j * ohw + p, sizeof(c));
#define DIRECT_MAC(k) { conv_v8 wk = DIRECT_SPLAT(w[(k) * ckk + j]); a##k += wk * c; }
            DIRECT_EACH8(DIRECT_MAC)
#undef DIRECT_MAC
        }
#define DIRECT_STORE(k) { conv_v8 bk = DIRECT_SPLAT(b[k]); a##k += bk; \
                          memcpy(y + (k) * ohw + p, &a##k, sizeof(c)); }
        DIRECT_EACH8(DIRECT_STORE)
#undef DIRECT_STORE
    }
    for (; p < ohw; p++)
        for (k = 0; k < 8; k++) {
            float a = 0.0f;
            for (j = 0; j < ckk; j++)
                a += w[k * ckk + j] * cols[j * ohw + p];
            y[k * ohw + p] = a + b[k];
        }
}

/* acc[(j * 8 + k) * 8 + lane] += dy[k] * cols[j] over the 8-position
 * blocks (lane = position % 8) and tail[j * 8 + k] += the tail's
 * products, for the 8 dY planes dy[k] (ohw apart) of one sample. */
DIRECT_BODY void direct_grad8_body(float *restrict acc, float *restrict tail,
                                   const float *restrict dy, const float *restrict cols,
                                   int64_t ckk, int64_t ohw)
{
    int64_t p, j, k;
    for (j = 0; j < ckk; j++) {
        const float *cj = cols + j * ohw;
        float *aj = acc + j * 64;
        conv_v8 a0, a1, a2, a3, a4, a5, a6, a7, c, d;
#define DIRECT_LOAD(k) memcpy(&a##k, aj + (k) * 8, sizeof(c));
        DIRECT_EACH8(DIRECT_LOAD)
#undef DIRECT_LOAD
        for (p = 0; p + 8 <= ohw; p += 8) {
            memcpy(&c, cj + p, sizeof(c));
#define DIRECT_MAC(k) memcpy(&d, dy + (k) * ohw + p, sizeof(d)); a##k += d * c;
            DIRECT_EACH8(DIRECT_MAC)
#undef DIRECT_MAC
        }
#define DIRECT_SAVE(k) memcpy(aj + (k) * 8, &a##k, sizeof(c));
        DIRECT_EACH8(DIRECT_SAVE)
#undef DIRECT_SAVE
        for (; p < ohw; p++)
            for (k = 0; k < 8; k++)
                tail[j * 8 + k] += dy[k * ohw + p] * cj[p];
    }
}

static void direct_out8_base(float *y, const float *cols, const float *w, const float *b,
                             int64_t ckk, int64_t ohw)
{
    direct_out8_body(y, cols, w, b, ckk, ohw);
}

static void direct_grad8_base(float *acc, float *tail, const float *dy, const float *cols,
                              int64_t ckk, int64_t ohw)
{
    direct_grad8_body(acc, tail, dy, cols, ckk, ohw);
}

#if DIRECT_X86
DIRECT_AVX2 static void direct_out8_avx2(float *y, const float *cols, const float *w,
                                         const float *b, int64_t ckk, int64_t ohw)
{
    direct_out8_body(y, cols, w, b, ckk, ohw);
}

DIRECT_AVX2 static void direct_grad8_avx2(float *acc, float *tail, const float *dy,
                                          const float *cols, int64_t ckk, int64_t ohw)
{
    direct_grad8_body(acc, tail, dy, cols, ckk, ohw);
}
#else
#define direct_out8_avx2 direct_out8_base
#define direct_grad8_avx2 direct_grad8_base
#endif

/* 1 when the AVX2 bodies can run here. */
static int direct_has_avx2(void)
{
#if DIRECT_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

static void direct_out8(float *y, const float *cols, const float *w, const float *b,
                        int64_t ckk, int64_t ohw)
{
    (direct_has_avx2() ? direct_out8_avx2 : direct_out8_base)(y, cols, w, b, ckk, ohw);
}

static void direct_grad8(float *acc, float *tail, const float *dy, const float *cols,
                         int64_t ckk, int64_t ohw)
{
    (direct_has_avx2() ? direct_grad8_avx2 : direct_grad8_base)(acc, tail, dy, cols, ckk, ohw);
}

/* y = sum_j w[j] * cols[j] (j in order, from +0) + b over one output
 * plane: direct_out8's operations for a channel outside its blocks. */
static void direct_plane(float *restrict y, const float *restrict cols, const float *restrict w,
                         float b, const conv_geom *g)
{
    int64_t p, j;
    for (p = 0; p < g->ohw; p++) {
        float a = 0.0f;
        for (j = 0; j < g->ckk; j++)
            a += w[j] * cols[j * g->ohw + p];
        y[p] = a + b;
    }
}

/* Sample i: its columns, its output planes and (plane_stats not NULL)
 * their statistics, as scatter_output takes them. */
static void direct_sample(const ctr__layer_run *r, const float *bias, const conv_geom *g,
                          int64_t i)
{
    static const float zero[DIRECT_OC_BLOCK] = {0};
    float *y = r->y + i * g->o * g->ohw, *cols = r->cache + i * g->ckk * g->ohw;
    float *stats = r->plane_stats != NULL ? r->plane_stats + 2 * i * g->o : NULL;
    const float *w = r->w;
    int64_t oc;
    im2col(cols, g->ohw, r->x + i * g->c * g->h * g->w, g, r->bn_in, i);
    for (oc = 0; oc + DIRECT_OC_BLOCK <= g->o; oc += DIRECT_OC_BLOCK)
        direct_out8(y + oc * g->ohw, cols, w + oc * g->ckk, bias != NULL ? bias + oc : zero,
                    g->ckk, g->ohw);
    for (; oc < g->o; oc++)
        direct_plane(y + oc * g->ohw, cols, w + oc * g->ckk, bias != NULL ? bias[oc] : 0.0f, g);
    for (oc = 0; oc < g->o && stats != NULL; oc++) {
        const float *yt = y + oc * g->ohw;
        float sum = ctr__sum(yt, g->ohw);
        stats[2 * oc] = sum;
        stats[2 * oc + 1] = ctr__sum_sq_dev(yt, sum / (float)g->ohw, g->ohw);
    }
}

static void direct_forward(const ctr__layer *l, const ctr__layer_run *r, const conv_geom *g)
{
    int64_t i;
    const float *bias = l->hi[4] ? r->w + g->o * g->ckk : NULL;
    CTR__PARALLEL_FOR(r->n * (g->ckk + 2 * g->o) * g->ohw)
    for (i = 0; i < r->n; i++)
        direct_sample(r, bias, g, i);
}

/* Output channels [o0, o0 + 8): gw[oc][j] += the sum over the samples
 * (in order) and positions of dY[i][oc] * cols_i[j], taken by
 * direct_grad8 in lanes totalled in lane order, then its tail; gb[oc]
 * (gb not NULL) += the planes' sums, sample after sample. */
static void direct_grad_block(float *gw, float *gb, const float *dy, const float *cols,
                              int64_t n, int64_t o0, const conv_geom *g)
{
    float acc[DIRECT_CKK * 64] = {0}, tail[DIRECT_CKK * 8] = {0}, bsum[8] = {0};
    int64_t i, j, k, lane;
    for (i = 0; i < n; i++) {
        const float *d = dy + (i * g->o + o0) * g->ohw;
        direct_grad8(acc, tail, d, cols + i * g->ckk * g->ohw, g->ckk, g->ohw);
        for (k = 0; k < 8 && gb != NULL; k++)
            bsum[k] += ctr__sum(d + k * g->ohw, g->ohw);
    }
    for (j = 0; j < g->ckk; j++)
        for (k = 0; k < 8; k++) {
            float t = 0.0f;
            for (lane = 0; lane < 8; lane++)
                t += acc[(j * 8 + k) * 8 + lane];
            gw[(o0 + k) * g->ckk + j] += t + tail[j * 8 + k];
        }
    for (k = 0; k < 8 && gb != NULL; k++)
        gb[o0 + k] += bsum[k];
}

/* An output channel outside the blocks: the same sums, one dot at a
 * time (ctr__dot's lanes). */
static void direct_grad_channel(float *gw, float *gb, const float *dy, const float *cols,
                                int64_t n, int64_t oc, const conv_geom *g)
{
    int64_t i, j;
    for (i = 0; i < n; i++) {
        const float *d = dy + (i * g->o + oc) * g->ohw;
        for (j = 0; j < g->ckk; j++)
            gw[oc * g->ckk + j] += ctr__dot(d, cols + (i * g->ckk + j) * g->ohw, g->ohw);
        if (gb != NULL)
            gb[oc] += ctr__sum(d, g->ohw);
    }
}

/* The weight and bias gradients, split over threads by blocks of
 * DIRECT_OC_BLOCK output channels, then one task per channel left over
 * (each sum is one thread's). */
static void direct_weight_grad(const ctr__layer *l, const ctr__layer_run *r, const conv_geom *g)
{
    int64_t t, blocks = g->o / DIRECT_OC_BLOCK, rest = g->o % DIRECT_OC_BLOCK;
    float *gb = l->hi[4] ? r->gw + g->o * g->ckk : NULL;
    CTR__PARALLEL_FOR(r->n * (g->ckk + 1) * g->o * g->ohw)
    for (t = 0; t < blocks + rest; t++) {
        if (t < blocks)
            direct_grad_block(r->gw, gb, r->dy, r->cache, r->n, t * DIRECT_OC_BLOCK, g);
        else
            direct_grad_channel(r->gw, gb, r->dy, r->cache, r->n,
                                blocks * DIRECT_OC_BLOCK + t - blocks, g);
    }
}

static void conv2d_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    conv_geom g = conv2d_geom(l);
    int64_t chunk = conv2d_chunk(&g, r->n), s0;
    /* train: every chunk's columns are kept for backward; no-grad: one
     * chunk's, reused */
    int64_t kept = r->nograd ? 0 : r->n * g.ckk * g.ohw;
    float *block = r->cache + kept + g.ckk * chunk * g.ohw;
    ctr__wino_shape ws = wino_shape(&g);
    if (r->nograd && ctr__wino_applies(&ws, g.k, g.s)) {
        ctr__wino_forward(r->y, r->x, r->w, l->hi[4] ? r->w + g.o * g.ckk : NULL, r->n, &ws,
                          r->cache);
        return;
    }
    if (!r->nograd && direct_applies(&g)) {
        direct_forward(l, r, &g);
        return;
    }
    for (s0 = 0; s0 < r->n; s0 += chunk) {
        int64_t nb = r->n - s0 < chunk ? r->n - s0 : chunk, ld = nb * g.ohw;
        float *cols = r->cache + (r->nograd ? 0 : s0 * g.ckk * g.ohw);
        chunk_columns(cols, r->x, s0, nb, &g, r->nograd ? NULL : r->bn_in);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g.o, (int)ld, (int)g.ckk,
                    1.0f, r->w, (int)g.ckk, cols, (int)ld, 0.0f, block, (int)ld);
        scatter_output(r->y + s0 * g.o * g.ohw, block, l->hi[4] ? r->w + g.o * g.ckk : NULL,
                       nb, &g, r->plane_stats != NULL ? r->plane_stats + 2 * s0 * g.o : NULL);
    }
}

/* Copies output channel oc of the chunk's samples' dY into the chunk's
 * channel-major block (row oc, ld = nb * ohw floats), adding its sum to
 * *gb (the bias gradient) on the way when gb is not NULL. */
static void gather_output_grad(float *restrict block, const float *restrict dy, int64_t nb,
                               int64_t oc, const conv_geom *g, float *restrict gb)
{
    int64_t i;
    for (i = 0; i < nb; i++) {
        const float *src = dy + (i * g->o + oc) * g->ohw;
        memcpy(block + (oc * nb + i) * g->ohw, src, (size_t)g->ohw * sizeof(float));
        if (gb != NULL) /* the plane is in L1 */
            *gb += ctr__sum(src, g->ohw);
    }
}

/* The same with the planes made by the batch norm after the layer
 * (r->bn_dx) for the chunk's samples from s0, split over threads by
 * sample, then each bias gradient summed by one thread, samples in order
 * (gather_output_grad's sums). */
static void make_chunk_grad(float *block, const ctr__layer_run *r, int64_t s0, int64_t nb,
                            const conv_geom *g, float *gb)
{
    const ctr__bn_dx *b = r->bn_dx;
    int64_t ld = nb * g->ohw;
    CTR__PARALLEL_REGION(2 * nb * g->o * g->ohw)
    {
        int64_t i, oc;
        CTR__FOR
        for (i = 0; i < nb; i++)
            b->l->ops->plane_dx(b->l, b->r, block + i * g->ohw, ld, s0 + i, 0, g->o);
        if (gb != NULL) { /* the same for every thread */
            CTR__FOR
            for (oc = 0; oc < g->o; oc++)
                for (i = 0; i < nb; i++)
                    gb[oc] += ctr__sum(block + oc * ld + i * g->ohw, g->ohw);
        }
    }
}

/* dY of the chunk of samples [s0, s0 + nb), channel-major like Y (split
 * over threads by channel: each bias gradient is summed by one thread,
 * samples in order). */
static void gather_chunk_grad(float *block, const ctr__layer_run *r, int64_t s0, int64_t nb,
                              const conv_geom *g, float *gb)
{
    int64_t oc;
    if (r->bn_dx != NULL) {
        make_chunk_grad(block, r, s0, nb, g, gb);
        return;
    }
    CTR__PARALLEL_FOR(2 * nb * g->o * g->ohw)
    for (oc = 0; oc < g->o; oc++)
        gather_output_grad(block, r->dy + s0 * g->o * g->ohw, nb, oc, g,
                           gb != NULL ? gb + oc : NULL);
}

/* dx of the chunk's samples [s0, s0 + nb) from the columns' gradient
 * (zeroed here), with r->grad_sums the batch norm's sums of each of its
 * planes while the sample is in cache. */
static void chunk_input_grad(const ctr__layer_run *r, const float *dcols, int64_t s0,
                             int64_t nb, const conv_geom *g)
{
    const ctr__bn_dx *b = r->grad_sums;
    int64_t i, in_size = g->c * g->h * g->w, hw = g->h * g->w;
    CTR__PARALLEL_FOR(nb * g->ckk * g->ohw)
    for (i = 0; i < nb; i++) {
        float *dx = r->dx + (s0 + i) * in_size;
        int64_t c;
        memset(dx, 0, (size_t)in_size * sizeof(float));
        col2im(dx, dcols + i * g->ohw, nb * g->ohw, g);
        for (c = 0; b != NULL && c < g->c; c++)
            b->l->ops->plane_grad_sums(b->l, b->r, dx + c * hw, s0 + i, c,
                                       r->grad_stats + 2 * ((s0 + i) * g->c + c));
    }
}

/* The input gradient of a chunk from its dY block: the columns' gradient
 * W^T . block, scattered back. */
static void chunk_dx(const ctr__layer_run *r, const conv_geom *g, const float *block,
                     float *dcols, int64_t s0, int64_t nb)
{
    int64_t ld = nb * g->ohw;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g->ckk, (int)ld, (int)g->o,
                1.0f, r->w, (int)g->ckk, block, (int)ld, 0.0f, dcols, (int)ld);
    chunk_input_grad(r, dcols, s0, nb, g);
}

/* ops->takes_bn_dx: the GEMM path, whose chunk block takes the planes
 * made by the batch norm instead of copies of them. The direct path reads
 * dY by blocks of channels over all samples: making its planes there was
 * slower than the batch norm's own pass (1 thread, cnn_step). */
static int conv2d_takes_bn_dx(const ctr__layer *l)
{
    conv_geom g = conv2d_geom(l);
    return !direct_applies(&g);
}

static void conv2d_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    conv_geom g = conv2d_geom(l);
    int64_t chunk = conv2d_chunk(&g, r->n), s0;
    int direct = direct_applies(&g);
    float *dcols = r->cache + r->n * g.ckk * g.ohw;
    float *block = dcols + g.ckk * chunk * g.ohw;
    if (direct)
        direct_weight_grad(l, r, &g);
    for (s0 = 0; s0 < r->n && (!direct || r->dx != NULL); s0 += chunk) {
        int64_t nb = r->n - s0 < chunk ? r->n - s0 : chunk, ld = nb * g.ohw;
        const float *cols = r->cache + s0 * g.ckk * g.ohw; /* from forward */
        gather_chunk_grad(block, r, s0, nb, &g, l->hi[4] && !direct ? r->gw + g.o * g.ckk : NULL);
        if (!direct)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g.o, (int)g.ckk, (int)ld,
                        1.0f, block, (int)ld, cols, (int)ld, 1.0f, r->gw, (int)g.ckk);
        if (r->dx != NULL)
            chunk_dx(r, &g, block, dcols, s0, nb);
    }
}

/* Listed in layer_registry.c. */
const ctr__layer_ops ctr__layer_conv2d_ops = {
    .kind = CTR_LAYER_CONV2D,
    .makes_plane_stats = 1,
    .reads_bn_relu = 1,
    .takes_bn_dx = conv2d_takes_bn_dx,
    .configure = conv2d_configure,
    .init = conv2d_init,
    .cache_floats = conv2d_cache_floats,
    .infer_floats = conv2d_infer_floats,
    .tensors = conv2d_tensors,
    .check_batch = conv2d_check_batch,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
};

/* ---- conv1d -------------------------------------------------------------- */

typedef struct conv1_geom {
    int64_t t, f, o, k, s, p, ot, fk;
} conv1_geom;

static conv1_geom conv1d_geom(const ctr__layer *l)
{
    conv1_geom g;
    g.t = l->in.d[0];
    g.f = l->in.d[1];
    g.o = l->hi[0];
    g.k = l->hi[1];
    g.s = l->hi[2];
    g.p = l->hi[3];
    g.ot = ctr__window_count(g.t, g.k, g.s, g.p);
    g.fk = g.f * g.k;
    return g;
}

static int conv1d_configure(ctr__layer *l, ctr__error *err)
{
    conv1_geom g;
    size_t count;
    int rc = check_conv_args(l, err);
    if (rc != CTR_OK)
        return rc;
    if (l->in.ndims != 2)
        return ctr__fail(err, CTR_E_SHAPE, "conv1d needs a sequence (T x F) input");
    g = conv1d_geom(l);
    if (g.ot < 1)
        return ctr__fail(err, CTR_E_SHAPE, "conv1d kernel %lld does not fit %lld steps",
                         (long long)g.k, (long long)g.t);
    if (g.fk > INT_MAX || ctr__matrix_bytes(&count, g.o, g.fk + l->hi[4], 1) != CTR_OK)
        return ctr__fail(err, CTR_E_OVERFLOW, "conv1d layer too large");
    l->out.ndims = 2;
    l->out.d[0] = g.ot;
    l->out.d[1] = g.o;
    l->out.d[2] = 1;
    l->param_count = (int64_t)count;
    l->stat_count = 0;
    return CTR_OK;
}

static void conv1d_init(const ctr__layer *l, float *w, float *stat, ctr__prng *g)
{
    conv1_geom c = conv1d_geom(l);
    (void)stat;
    init_uniform(w, c.o * c.fk + l->hi[4] * c.o, c.fk, g);
}

/* Cache: the batch's columns and their gradient. */
static int conv1d_cache_floats(const ctr__layer *l, int64_t n, int64_t groups, size_t *out)
{
    conv1_geom g = conv1d_geom(l);
    (void)groups;
    return ctr__matrix_bytes(out, 2 * n * g.ot, g.fk, 1);
}

static int conv1d_tensors(const ctr__layer *l, ctr__tensor_desc *d)
{
    return conv_tensors(l, d, 3, l->in.d[1]);
}

static int conv1d_check_batch(const ctr__layer *l, int64_t n, int64_t groups, int train,
                              ctr__error *err)
{
    (void)train;
    conv1_geom g = conv1d_geom(l);
    (void)groups;
    if (n > INT_MAX / g.ot)
        return ctr__fail(err, CTR_E_SHAPE, "batch too large for BLAS");
    return CTR_OK;
}

/* cols[row = t][f*k + kk] = x[t*stride + kk - pad][f] (0 outside), one
 * sample (cols and x at its rows). */
static void im2col_1d(float *restrict cols, const float *restrict x, const conv1_geom *g)
{
    int64_t t, f, kk;
    for (t = 0; t < g->ot; t++) {
        float *row = cols + t * g->fk;
        for (kk = 0; kk < g->k; kk++) {
            int64_t it = t * g->s - g->p + kk;
            if (it < 0 || it >= g->t) {
                for (f = 0; f < g->f; f++)
                    row[f * g->k + kk] = 0.0f;
                continue;
            }
            for (f = 0; f < g->f; f++)
                row[f * g->k + kk] = x[it * g->f + f];
        }
    }
}

/* dx = the columns' gradient scattered back, one sample (dx zeroed here). */
static void col2im_1d(float *restrict dx, const float *restrict dcols, const conv1_geom *g)
{
    int64_t t, f, kk;
    memset(dx, 0, (size_t)(g->t * g->f) * sizeof(float));
    for (t = 0; t < g->ot; t++) {
        const float *row = dcols + t * g->fk;
        for (kk = 0; kk < g->k; kk++) {
            int64_t it = t * g->s - g->p + kk;
            if (it < 0 || it >= g->t)
                continue;
            for (f = 0; f < g->f; f++)
                dx[it * g->f + f] += row[f * g->k + kk];
        }
    }
}

/* The passes around the GEMMs split over threads by sample (parallel.h). */
static void conv1d_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    conv1_geom g = conv1d_geom(l);
    int64_t rows = r->n * g.ot, s;
    float beta = 0.0f;
    CTR__PARALLEL_FOR(rows * g.fk)
    for (s = 0; s < r->n; s++)
        im2col_1d(r->cache + s * g.ot * g.fk, r->x + s * g.t * g.f, &g);
    if (l->hi[4]) {
        ctr__fill_rows(r->y, r->w + g.o * g.fk, rows, g.o);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)g.o, (int)g.fk,
                1.0f, r->cache, (int)g.fk, r->w, (int)g.fk, beta, r->y, (int)g.o);
}

static void conv1d_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    conv1_geom g = conv1d_geom(l);
    int64_t rows = r->n * g.ot, s;
    float *dcols = r->cache + rows * g.fk;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g.o, (int)g.fk, (int)rows,
                1.0f, r->dy, (int)g.o, r->cache, (int)g.fk, 1.0f, r->gw, (int)g.fk);
    if (l->hi[4])
        ctr__add_rows(r->gw + g.o * g.fk, r->dy, rows, g.o);
    if (r->dx == NULL)
        return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)g.fk, (int)g.o,
                1.0f, r->dy, (int)g.o, r->w, (int)g.fk, 0.0f, dcols, (int)g.fk);
    CTR__PARALLEL_FOR(2 * rows * g.fk)
    for (s = 0; s < r->n; s++)
        col2im_1d(r->dx + s * g.t * g.f, dcols + s * g.ot * g.fk, &g);
}

/* Listed in layer_registry.c. */
const ctr__layer_ops ctr__layer_conv1d_ops = {
    .kind = CTR_LAYER_CONV1D,
    .configure = conv1d_configure,
    .init = conv1d_init,
    .cache_floats = conv1d_cache_floats,
    .tensors = conv1d_tensors,
    .check_batch = conv1d_check_batch,
    .forward = conv1d_forward,
    .backward = conv1d_backward,
};

/* conv1d and conv2d share their hyper-parameters. */
static int add_conv(ctr_encoder *enc, const ctr__layer_ops *ops,
                    int64_t out_channels, int64_t kernel, int64_t stride,
                    int64_t padding, int32_t bias)
{
    ctr__layer l = ctr__layer_template(ops);
    l.hi[0] = out_channels;
    l.hi[1] = kernel;
    l.hi[2] = stride;
    l.hi[3] = padding;
    l.hi[4] = bias;
    return ctr__encoder_add(enc, &l);
}

CTR_API int ctr_encoder_add_conv2d(ctr_encoder *enc, int64_t out_channels, int64_t kernel,
                                   int64_t stride, int64_t padding, int32_t bias)
{
    return add_conv(enc, &ctr__layer_conv2d_ops, out_channels, kernel, stride,
                    padding, bias);
}

CTR_API int ctr_encoder_add_conv1d(ctr_encoder *enc, int64_t out_channels, int64_t kernel,
                                   int64_t stride, int64_t padding, int32_t bias)
{
    return add_conv(enc, &ctr__layer_conv1d_ops, out_channels, kernel, stride,
                    padding, bias);
}
