/*
 * objective_math.c - vector kernels shared by the objectives (see
 * objective_math.h). Written with GCC/clang vector extensions so that they
 * vectorise at -O2 whatever the compiler's cost model; on x86-64 an
 * AVX2+FMA clone is selected at run time. The Makefile compiles this file
 * with -ffp-contract=fast so that the clone's a * b + c become FMAs (the
 * exp polynomial is most of the objectives' time outside the GEMMs).
 */
#include <math.h>
#include <string.h>

#include "objective_math.h"

/* Each kernel body is compiled twice, for AVX2+FMA and for the baseline, and
 * a small dispatcher picks one per call from the CPU's feature bits (a
 * cached read; no global state of ours, no ifunc). */
#if defined(__x86_64__) && defined(__GNUC__)
#  define AVX2_PATH 1
#  define AVX2_TARGET __attribute__((target("avx2,fma")))
#else
#  define AVX2_PATH 0
#  define AVX2_TARGET
#endif
#define BODY static inline __attribute__((always_inline))

static int use_avx2(void)
{
#if AVX2_PATH
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

#define DISPATCH(ret, name, params, args)                                   \
    AVX2_TARGET static ret name##_avx2 params { return name##_body args; }  \
    static ret name##_base params { return name##_body args; }              \
    ret ctr__##name params                                                  \
    {                                                                       \
        return use_avx2() ? name##_avx2 args : name##_base args;            \
    }
#define DISPATCH_VOID(name, params, args)                                   \
    AVX2_TARGET static void name##_avx2 params { name##_body args; }        \
    static void name##_base params { name##_body args; }                    \
    void ctr__##name params                                                 \
    {                                                                       \
        if (use_avx2())                                                     \
            name##_avx2 args;                                               \
        else                                                                \
            name##_base args;                                               \
    }

/* 8-lane vectors. The helpers are macros, not functions: a vector passed
 * or returned by value changes the calling convention between the AVX2
 * clone and the baseline build, which compilers (rightly) refuse. */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v8f))
#define STORE8(p, v) memcpy((p), &(v), sizeof(v8f))
#define SPLAT(x) ((v8f){(x), (x), (x), (x), (x), (x), (x), (x)})
#define SELECT8(mask, a, b) \
    ((v8f)((((v8i)(a)) & (mask)) | (((v8i)(b)) & ~(mask))))
#define HSUM8(v) \
    ((((v)[0] + (v)[4]) + ((v)[1] + (v)[5])) + \
     (((v)[2] + (v)[6]) + ((v)[3] + (v)[7])))

/* out = exp(x) for x <= 88; x < CTR__EXP_LO (and -inf) gives 0. Cephes
 * expf: n = round(x log2 e), r = x - n ln2 (two-part), degree-6
 * polynomial, times 2^n built in the exponent bits. */
#define EXP8(out, x)                                                        \
    do {                                                                    \
        const v8f magic_ = SPLAT(12582912.0f); /* 1.5 * 2^23 */             \
        v8i under_ = (x) < SPLAT(CTR__EXP_LO);                              \
        v8f xc_ = SELECT8(under_, SPLAT(CTR__EXP_LO), (x));                 \
        v8f n_ = (xc_ * SPLAT(1.44269504088896341f) + magic_) - magic_;     \
        v8f r_ = xc_ - n_ * SPLAT(0.693359375f) -                           \
                 n_ * SPLAT(-2.12194440e-4f);                               \
        v8f p_ = SPLAT(1.9875691500e-4f);                                   \
        v8i e_;                                                             \
        p_ = p_ * r_ + SPLAT(1.3981999507e-3f);                             \
        p_ = p_ * r_ + SPLAT(8.3334519073e-3f);                             \
        p_ = p_ * r_ + SPLAT(4.1665795894e-2f);                             \
        p_ = p_ * r_ + SPLAT(1.6666665459e-1f);                             \
        p_ = p_ * r_ + SPLAT(5.0000001201e-1f);                             \
        p_ = p_ * r_ * r_ + r_ + SPLAT(1.0f);                               \
        e_ = (__builtin_convertvector(n_, v8i) + 127) << 23;                \
        p_ = p_ * (v8f)e_;                                                  \
        (out) = (v8f)((v8i)p_ & ~under_);                                   \
    } while (0)

static float exp1(float x)
{
    float buf[8] = {0};
    v8f v;
    buf[0] = x;
    LOAD8(v, buf);
    EXP8(v, v);
    STORE8(buf, v);
    return buf[0];
}

BODY float vexp_shift_sum_body(float *x, int64_t n, float shift)
{
    v8f acc = SPLAT(0.0f), s = SPLAT(shift), v;
    float tail = 0.0f;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        LOAD8(v, x + i);
        v -= s;
        EXP8(v, v);
        STORE8(x + i, v);
        acc += v;
    }
    for (; i < n; i++) {
        x[i] = exp1(x[i] - shift);
        tail += x[i];
    }
    return HSUM8(acc) + tail;
}

DISPATCH(float, vexp_shift_sum,
         (float *x, int64_t n, float shift),
         (x, n, shift))

BODY void vexp_pair_body(float *out, const float *x, const float *shift_vec,
                         float shift, float scale, int64_t n)
{
    v8f s = SPLAT(shift), c = SPLAT(scale), v, u, w;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        LOAD8(v, x + i);
        LOAD8(w, shift_vec + i);
        u = v - s;
        EXP8(u, u);
        w = v - w;
        EXP8(w, w);
        u = (u + w) * c;
        STORE8(out + i, u);
    }
    for (; i < n; i++)
        out[i] = scale * (exp1(x[i] - shift) + exp1(x[i] - shift_vec[i]));
}

DISPATCH_VOID(vexp_pair,
         (float *out, const float *x, const float *shift_vec, float shift,
          float scale, int64_t n),
         (out, x, shift_vec, shift, scale, n))

BODY void vmul_affine_body(float *x, const float *v, float alpha, float beta,
                           int64_t n)
{
    v8f a = SPLAT(alpha), b = SPLAT(beta), u, w;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        LOAD8(u, x + i);
        LOAD8(w, v + i);
        u *= a + b * w;
        STORE8(x + i, u);
    }
    for (; i < n; i++)
        x[i] *= alpha + beta * v[i];
}

DISPATCH_VOID(vmul_affine,
         (float *x, const float *v, float alpha, float beta, int64_t n),
         (x, v, alpha, beta, n))

BODY float vmax_sum_body(const float *x, int64_t n, float *sum)
{
    v8f m = SPLAT(-INFINITY), acc = SPLAT(0.0f), v;
    float best = -INFINITY, tail = 0.0f;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        LOAD8(v, x + i);
        m = SELECT8(v > m, v, m);
        acc += v;
    }
    for (; i < n; i++) {
        best = x[i] > best ? x[i] : best;
        tail += x[i];
    }
    for (i = 0; i < 8; i++)
        best = m[i] > best ? m[i] : best;
    *sum = HSUM8(acc) + tail;
    return best;
}

DISPATCH(float, vmax_sum,
         (const float *x, int64_t n, float *sum),
         (x, n, sum))

BODY float vmax_body(const float *x, int64_t n)
{
    v8f m = SPLAT(-INFINITY), v;
    float best = -INFINITY;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        LOAD8(v, x + i);
        m = SELECT8(v > m, v, m);
    }
    for (; i < n; i++)
        best = x[i] > best ? x[i] : best;
    for (i = 0; i < 8; i++)
        best = m[i] > best ? m[i] : best;
    return best;
}

DISPATCH(float, vmax, (const float *x, int64_t n), (x, n))

BODY float vsum_body(const float *x, int64_t n)
{
    v8f acc = SPLAT(0.0f), v;
    float tail = 0.0f;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        LOAD8(v, x + i);
        acc += v;
    }
    for (; i < n; i++)
        tail += x[i];
    return HSUM8(acc) + tail;
}

DISPATCH(float, vsum, (const float *x, int64_t n), (x, n))

BODY float vdot_body(const float *a, const float *b, int64_t n)
{
    v8f acc0 = SPLAT(0.0f), acc1 = SPLAT(0.0f), u, v;
    float tail = 0.0f;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        LOAD8(u, a + i);
        LOAD8(v, b + i);
        acc0 += u * v;
        LOAD8(u, a + i + 8);
        LOAD8(v, b + i + 8);
        acc1 += u * v;
    }
    for (; i + 8 <= n; i += 8) {
        LOAD8(u, a + i);
        LOAD8(v, b + i);
        acc0 += u * v;
    }
    for (; i < n; i++)
        tail += a[i] * b[i];
    acc0 += acc1;
    return HSUM8(acc0) + tail;
}

DISPATCH(float, vdot, (const float *a, const float *b, int64_t n), (a, b, n))

BODY void vaxpy_body(float *y, const float *x, float alpha, int64_t n)
{
    v8f a = SPLAT(alpha), u, v;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        LOAD8(u, y + i);
        LOAD8(v, x + i);
        u += a * v;
        STORE8(y + i, u);
    }
    for (; i < n; i++)
        y[i] += alpha * x[i];
}

DISPATCH_VOID(vaxpy,
         (float *y, const float *x, float alpha, int64_t n),
         (y, x, alpha, n))

BODY void vscale_body(float *x, float alpha, int64_t n)
{
    v8f a = SPLAT(alpha), v;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        LOAD8(v, x + i);
        v *= a;
        STORE8(x + i, v);
    }
    for (; i < n; i++)
        x[i] *= alpha;
}

DISPATCH_VOID(vscale, (float *x, float alpha, int64_t n), (x, alpha, n))

BODY void vmul_body(float *x, const float *s, int64_t n)
{
    v8f u, v;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        LOAD8(u, x + i);
        LOAD8(v, s + i);
        u *= v;
        STORE8(x + i, u);
    }
    for (; i < n; i++)
        x[i] *= s[i];
}

DISPATCH_VOID(vmul, (float *x, const float *s, int64_t n), (x, s, n))

/* x * 0 is 0 for finite x and NaN for Inf or NaN; NaN survives the sums. */
BODY int row_finite_body(const float *x, int64_t n)
{
    v8f acc = SPLAT(0.0f), v;
    float tail = 0.0f;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        LOAD8(v, x + i);
        acc += v * SPLAT(0.0f);
    }
    for (; i < n; i++)
        tail += x[i] * 0.0f;
    return HSUM8(acc) + tail == 0.0f;
}

AVX2_TARGET static int row_finite_avx2(const float *x, int64_t n)
{
    return row_finite_body(x, n);
}

static int row_finite_base(const float *x, int64_t n)
{
    return row_finite_body(x, n);
}

static int row_finite(const float *x, int64_t n)
{
    return use_avx2() ? row_finite_avx2(x, n) : row_finite_base(x, n);
}

int ctr__all_finite(const float *x, int64_t rows, int64_t cols, int64_t ld)
{
    int64_t r;
    if (ld == cols)
        return row_finite(x, rows * cols);
    for (r = 0; r < rows; r++)
        if (!row_finite(x + r * ld, cols))
            return 0;
    return 1;
}

#define NORM_EPS 1e-12

void ctr__normalize_rows(float *out, const float *x, int64_t rows,
                         int64_t cols, int64_t ld, float scale,
                         float *inv_norm)
{
    int64_t r, c;
    for (r = 0; r < rows; r++) {
        const float *xr = x + r * ld;
        double ss = 0.0, norm, inv;
        for (c = 0; c < cols; c++)
            ss += (double)xr[c] * xr[c];
        norm = sqrt(ss);
        inv = 1.0 / (norm > NORM_EPS ? norm : NORM_EPS);
        if (inv_norm != NULL)
            inv_norm[r] = (float)inv;
        for (c = 0; c < cols; c++)
            out[r * cols + c] = (float)(xr[c] * inv * scale);
    }
}

void ctr__normalize_backward(float *g, const float *y_stored, int64_t ldy,
                             float y_scale, const float *inv_norm,
                             int64_t rows, int64_t cols)
{
    int64_t r, c;
    for (r = 0; r < rows; r++) {
        float *gr = g + r * cols;
        const float *yr = y_stored + r * ldy;
        double inv = inv_norm[r], dot = 0.0, ys = 1.0 / y_scale;
        if (inv >= 1.0 / NORM_EPS * 0.999999) { /* norm clamped at eps */
            for (c = 0; c < cols; c++)
                gr[c] = (float)(gr[c] * inv);
            continue;
        }
        for (c = 0; c < cols; c++)
            dot += (double)yr[c] * ys * gr[c];
        for (c = 0; c < cols; c++)
            gr[c] = (float)((gr[c] - yr[c] * ys * dot) * inv);
    }
}

void ctr__copy_scaled(float *out, const float *x, int64_t rows, int64_t cols,
                      int64_t ld, float scale)
{
    int64_t r, c;
    for (r = 0; r < rows; r++)
        for (c = 0; c < cols; c++)
            out[r * cols + c] = x[r * ld + c] * scale;
}

double ctr__softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}
