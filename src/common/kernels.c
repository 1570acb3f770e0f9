/*
 * kernels.c - the vector kernels (see kernels.h), most of the objectives'
 * time outside the GEMMs. Written with GCC/clang vector extensions of 16
 * lanes (one zmm register on AVX-512, two ymm on AVX2, four xmm on SSE2), so
 * they vectorise at -O2 whatever the compiler's cost model. Each kernel
 * body is compiled once per instruction set into a table; on x86-64 the
 * AVX-512 or AVX2+FMA table is chosen per call from the CPU's feature bits
 * (a cached read; no state of ours, no ifunc). The Makefile compiles this
 * file with -ffp-contract=fast so that a * b + c become FMAs where the
 * target has them (the exp polynomial is most of the objectives' time
 * outside the GEMMs).
 */
#include <math.h>
#include <string.h>

#include "common/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#  include <immintrin.h>
#  define X86_CLONES 1
#  define AVX2_TARGET __attribute__((target("avx2,fma")))
#  define AVX512_TARGET __attribute__((target("avx2,fma,avx512f")))
#else
#  define X86_CLONES 0
#endif
#define BODY static inline __attribute__((always_inline))

/* The helpers are macros or inlined bodies, never functions taking or
 * returning vectors by value: that changes the calling convention between
 * the clones, which compilers (rightly) refuse. */
#define VW 16
typedef float vf __attribute__((vector_size(VW * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(VW * sizeof(int32_t))));

#define LOADV(v, p) memcpy(&(v), (p), sizeof(vf))
#define STOREV(p, v) memcpy((p), &(v), sizeof(vf))
#define SPLAT(x) ((vf){(x), (x), (x), (x), (x), (x), (x), (x), \
                       (x), (x), (x), (x), (x), (x), (x), (x)})
#define SELECT(mask, a, b) \
    ((vf)((((vi)(a)) & (mask)) | (((vi)(b)) & ~(mask))))
#define MAXV(a, b) SELECT((a) > (b), (a), (b))

/* Sum of the 16 lanes as a balanced tree: lane k + lane k + 8, then
 * k + k + 4, and so on, folding halves of the vector. */
typedef float vf8 __attribute__((vector_size(8 * sizeof(float))));
typedef float vf4 __attribute__((vector_size(4 * sizeof(float))));
BODY float hsum(const vf *v)
{
    vf8 lo, hi;
    vf4 a, b;
    memcpy(&lo, v, sizeof(lo));
    memcpy(&hi, (const char *)v + sizeof(lo), sizeof(hi));
    lo += hi;
    memcpy(&a, &lo, sizeof(a));
    memcpy(&b, (const char *)&lo + sizeof(a), sizeof(b));
    a += b;
    return (a[0] + a[2]) + (a[1] + a[3]);
}

typedef int32_t vi8 __attribute__((vector_size(8 * sizeof(int32_t))));
typedef int32_t vi4 __attribute__((vector_size(4 * sizeof(int32_t))));
#define MAX_AS(vt, it, a, b) \
    ((vt)((((it)(a)) & ((a) > (b))) | (((it)(b)) & ~((a) > (b)))))

BODY float hmax(const vf *v)
{
    vf8 lo, hi;
    vf4 a, b;
    memcpy(&lo, v, sizeof(lo));
    memcpy(&hi, (const char *)v + sizeof(lo), sizeof(hi));
    lo = MAX_AS(vf8, vi8, lo, hi);
    memcpy(&a, &lo, sizeof(a));
    memcpy(&b, (const char *)&lo + sizeof(a), sizeof(b));
    a = MAX_AS(vf4, vi4, a, b);
    a[0] = a[0] > a[2] ? a[0] : a[2];
    a[1] = a[1] > a[3] ? a[1] : a[3];
    return a[0] > a[1] ? a[0] : a[1];
}

/* out = exp(x) for x <= 88; x < CTR__EXP_LO (and -inf) gives 0. Cephes
 * expf: n = round(x log2 e), r = x - n ln2 (two-part), degree-6
 * polynomial, times 2^n built in the exponent bits. */
#define EXPV(out, x)                                                        \
    do {                                                                    \
        const vf magic_ = SPLAT(12582912.0f); /* 1.5 * 2^23 */              \
        vi under_ = (x) < SPLAT(CTR__EXP_LO);                               \
        vf xc_ = SELECT(under_, SPLAT(CTR__EXP_LO), (x));                   \
        vf n_ = (xc_ * SPLAT(1.44269504088896341f) + magic_) - magic_;      \
        vf r_ = xc_ - n_ * SPLAT(0.693359375f) -                            \
                n_ * SPLAT(-2.12194440e-4f);                                \
        vf p_ = SPLAT(1.9875691500e-4f);                                    \
        vi e_;                                                              \
        p_ = p_ * r_ + SPLAT(1.3981999507e-3f);                             \
        p_ = p_ * r_ + SPLAT(8.3334519073e-3f);                             \
        p_ = p_ * r_ + SPLAT(4.1665795894e-2f);                             \
        p_ = p_ * r_ + SPLAT(1.6666665459e-1f);                             \
        p_ = p_ * r_ + SPLAT(5.0000001201e-1f);                             \
        p_ = p_ * r_ * r_ + r_ + SPLAT(1.0f);                               \
        e_ = (__builtin_convertvector(n_, vi) + 127) << 23;                 \
        p_ = p_ * (vf)e_;                                                   \
        (out) = (vf)((vi)p_ & ~under_);                                     \
    } while (0)

/* The last n % VW elements go through one padded vector: the padding is
 * `fill`, and only the real elements are written back. */
#define LOAD_TAIL(v, p, count, fill)                                        \
    do {                                                                    \
        float buf_[VW];                                                     \
        int k_;                                                             \
        for (k_ = 0; k_ < VW; k_++)                                         \
            buf_[k_] = (fill);                                              \
        memcpy(buf_, (p), (size_t)(count) * sizeof(float));                 \
        LOADV(v, buf_);                                                     \
    } while (0)
#define STORE_TAIL(p, v, count)                                             \
    do {                                                                    \
        float buf_[VW];                                                     \
        STOREV(buf_, v);                                                    \
        memcpy((p), buf_, (size_t)(count) * sizeof(float));                 \
    } while (0)

/* ---- kernel bodies ----------------------------------------------------------- */

BODY float vexp_shift_sum_body(float *x, int64_t n, float shift)
{
    vf acc = SPLAT(0.0f), s = SPLAT(shift), v;
    int64_t i = 0;
    for (; i + VW <= n; i += VW) {
        LOADV(v, x + i);
        v -= s;
        EXPV(v, v);
        STOREV(x + i, v);
        acc += v;
    }
    if (i < n) { /* -inf padding: exp gives 0 */
        LOAD_TAIL(v, x + i, n - i, -INFINITY);
        v -= s;
        EXPV(v, v);
        STORE_TAIL(x + i, v, n - i);
        acc += v;
    }
    return hsum(&acc);
}

/* ---- NT-Xent's passes over the upper triangle of S ---------------------------
 * Each takes the part of row r right of the diagonal (x, n entries) and
 * arrays indexed like it (the columns' values), so that one read of S_rc
 * serves row r and, through the column arrays, row c. */

/* One vector of vmax_col at column i: the column max stored, the row's
 * max and raw sum accumulated in m and s. */
#define MAX_COL(m, s, i)                                                    \
    do {                                                                    \
        vf v_, c_;                                                          \
        LOADV(v_, x + (i));                                                 \
        LOADV(c_, colmax + (i));                                            \
        c_ = MAXV(v_, c_);                                                  \
        STOREV(colmax + (i), c_);                                           \
        (m) = MAXV(v_, (m));                                                \
        (s) += SELECT(v_ > ninf, v_, zero);                                 \
    } while (0)

BODY float vmax_col_body(const float *x, int64_t n, float *colmax, float *raw)
{
    const vf ninf = SPLAT(-INFINITY), zero = SPLAT(0.0f);
    vf m0 = ninf, m1 = ninf, s0 = zero, s1 = zero, v, c;
    int64_t i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        MAX_COL(m0, s0, i);
        MAX_COL(m1, s1, i + VW);
    }
    if (i + VW <= n) {
        MAX_COL(m0, s0, i);
        i += VW;
    }
    if (i < n) { /* -inf padding leaves the max and the sum alone */
        LOAD_TAIL(v, x + i, n - i, -INFINITY);
        LOAD_TAIL(c, colmax + i, n - i, -INFINITY);
        c = MAXV(v, c);
        STORE_TAIL(colmax + i, c, n - i);
        m0 = MAXV(v, m0);
        s0 += SELECT(v > ninf, v, zero);
    }
    m0 = MAXV(m0, m1);
    s0 += s1;
    *raw = hsum(&s0);
    return hmax(&m0);
}

/* e = exp((x - m) + (ar - a)): the similarity minus the half shifts of its
 * row and its column */
#define EXP_SYM(e, v, w)                                                    \
    do {                                                                    \
        (e) = ((v) - vm) + (va - (w));                                      \
        EXPV(e, e);                                                         \
    } while (0)

BODY float vexp_sym_body(float *x, int64_t n, float m, float ar, float fr,
                         const float *a, const float *f, float *colacc)
{
    const vf vm = SPLAT(m), va = SPLAT(ar), vfr = SPLAT(fr);
    vf acc = SPLAT(0.0f), v, w, u, c, e;
    int64_t i = 0;
    for (; i + VW <= n; i += VW) {
        LOADV(v, x + i);
        LOADV(w, a + i);
        LOADV(u, f + i);
        LOADV(c, colacc + i);
        EXP_SYM(e, v, w);
        STOREV(x + i, e);
        acc += e * u;
        c += e * vfr;
        STOREV(colacc + i, c);
    }
    if (i < n) { /* x padded with -inf: exp gives 0 */
        LOAD_TAIL(v, x + i, n - i, -INFINITY);
        LOAD_TAIL(w, a + i, n - i, 0.0f);
        LOAD_TAIL(u, f + i, n - i, 0.0f);
        LOAD_TAIL(c, colacc + i, n - i, 0.0f);
        EXP_SYM(e, v, w);
        STORE_TAIL(x + i, e, n - i);
        acc += e * u;
        c += e * vfr;
        STORE_TAIL(colacc + i, c, n - i);
    }
    return hsum(&acc);
}

/* One vector of vexp_scan at column i: the column max stored, the row's
 * max and raw sum accumulated, e = exp(v - m) stored and summed into the
 * row's sum and its column's. */
#define EXP_SCAN(v, c, k)                                                   \
    do {                                                                    \
        (k) = MAXV((v), (k));                                               \
        mx = MAXV((v), mx);                                                 \
        raw += SELECT((v) > ninf, (v), zero);                               \
        e = (v) - vm;                                                       \
        EXPV(e, e);                                                         \
        acc += e;                                                           \
        (c) += e;                                                           \
    } while (0)

BODY float vexp_scan_body(float *x, int64_t n, float m, float *colacc,
                          float *colmax, ctr__online_row *o)
{
    const vf vm = SPLAT(m), ninf = SPLAT(-INFINITY), zero = SPLAT(0.0f);
    vf acc = zero, mx = ninf, raw = zero, v, c, k, e;
    int64_t i = 0;
    for (; i + VW <= n; i += VW) {
        LOADV(v, x + i);
        LOADV(c, colacc + i);
        LOADV(k, colmax + i);
        EXP_SCAN(v, c, k);
        STOREV(x + i, e);
        STOREV(colacc + i, c);
        STOREV(colmax + i, k);
    }
    if (i < n) { /* -inf padding: exp gives 0, max and raw sum unchanged */
        LOAD_TAIL(v, x + i, n - i, -INFINITY);
        LOAD_TAIL(c, colacc + i, n - i, 0.0f);
        LOAD_TAIL(k, colmax + i, n - i, -INFINITY);
        EXP_SCAN(v, c, k);
        STORE_TAIL(x + i, e, n - i);
        STORE_TAIL(colacc + i, c, n - i);
        STORE_TAIL(colmax + i, k, n - i);
    }
    o->shift = m;
    o->max = hmax(&mx);
    o->raw = hsum(&raw);
    return hsum(&acc);
}

/* e1 = exp(x - m), e2 = exp(x - mc): the entry's two softmax terms */
#define EXP_ROWCOL(v, w)                                                    \
    do {                                                                    \
        e1 = (v) - vm;                                                      \
        e2 = (v) - (w);                                                     \
        EXPV(e1, e1);                                                       \
        EXPV(e2, e2);                                                       \
    } while (0)

BODY float vexp_rowcol_body(const float *x, int64_t n, float m,
                            const float *mc, float *colacc)
{
    const vf vm = SPLAT(m);
    vf acc = SPLAT(0.0f), v, w, c, e1, e2;
    int64_t i = 0;
    for (; i + VW <= n; i += VW) {
        LOADV(v, x + i);
        LOADV(w, mc + i);
        LOADV(c, colacc + i);
        EXP_ROWCOL(v, w);
        acc += e1;
        c += e2;
        STOREV(colacc + i, c);
    }
    if (i < n) { /* x padded with -inf: both exps give 0 */
        LOAD_TAIL(v, x + i, n - i, -INFINITY);
        LOAD_TAIL(w, mc + i, n - i, 0.0f);
        LOAD_TAIL(c, colacc + i, n - i, 0.0f);
        EXP_ROWCOL(v, w);
        acc += e1;
        c += e2;
        STORE_TAIL(colacc + i, c, n - i);
    }
    return hsum(&acc);
}

/* e1 = scale (exp((x - m) - ls) + exp((x - mc) - lsc)) */
#define EXP_PAIR(v, w, l)                                                   \
    do {                                                                    \
        e1 = ((v) - vm) - vl;                                               \
        e2 = ((v) - (w)) - (l);                                             \
        EXPV(e1, e1);                                                       \
        EXPV(e2, e2);                                                       \
        e1 = (e1 + e2) * vs;                                                \
    } while (0)

BODY void vexp_pair_body(float *x, int64_t n, float m, float ls,
                         const float *mc, const float *lsc, float scale)
{
    const vf vm = SPLAT(m), vl = SPLAT(ls), vs = SPLAT(scale);
    vf v, w, l, e1, e2;
    int64_t i = 0;
    for (; i + VW <= n; i += VW) {
        LOADV(v, x + i);
        LOADV(w, mc + i);
        LOADV(l, lsc + i);
        EXP_PAIR(v, w, l);
        STOREV(x + i, e1);
    }
    if (i < n) {
        LOAD_TAIL(v, x + i, n - i, -INFINITY);
        LOAD_TAIL(w, mc + i, n - i, 0.0f);
        LOAD_TAIL(l, lsc + i, n - i, 0.0f);
        EXP_PAIR(v, w, l);
        STORE_TAIL(x + i, e1, n - i);
    }
}

BODY void vmul_mix_body(float *x, const float *u, const float *v, float alpha,
                        float beta, int64_t n)
{
    const vf va = SPLAT(alpha), vb = SPLAT(beta);
    vf y, p, q;
    int64_t i = 0;
    for (; i + VW <= n; i += VW) {
        LOADV(y, x + i);
        LOADV(p, u + i);
        LOADV(q, v + i);
        y *= va * p + vb * q;
        STOREV(x + i, y);
    }
    for (; i < n; i++)
        x[i] *= alpha * u[i] + beta * v[i];
}

/* The reductions keep four accumulators so that the loop runs at the
 * machine's throughput, not at the latency of one add or compare. */
BODY float vmax_sum_body(const float *x, int64_t n, float *sum)
{
    vf m0 = SPLAT(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
    vf s0 = SPLAT(0.0f), s1 = s0, s2 = s0, s3 = s0, v;
    float best, tail = 0.0f;
    int64_t i = 0;
    for (; i + 4 * VW <= n; i += 4 * VW) {
        LOADV(v, x + i);
        m0 = MAXV(v, m0), s0 += v;
        LOADV(v, x + i + VW);
        m1 = MAXV(v, m1), s1 += v;
        LOADV(v, x + i + 2 * VW);
        m2 = MAXV(v, m2), s2 += v;
        LOADV(v, x + i + 3 * VW);
        m3 = MAXV(v, m3), s3 += v;
    }
    for (; i + VW <= n; i += VW) {
        LOADV(v, x + i);
        m0 = MAXV(v, m0), s0 += v;
    }
    m0 = MAXV(m0, m1), m2 = MAXV(m2, m3), m0 = MAXV(m0, m2);
    s0 = (s0 + s1) + (s2 + s3);
    best = hmax(&m0);
    for (; i < n; i++) {
        best = x[i] > best ? x[i] : best;
        tail += x[i];
    }
    *sum = hsum(&s0) + tail;
    return best;
}

BODY float vmax_body(const float *x, int64_t n)
{
    vf m0 = SPLAT(-INFINITY), m1 = m0, m2 = m0, m3 = m0, v;
    float best;
    int64_t i = 0;
    for (; i + 4 * VW <= n; i += 4 * VW) {
        LOADV(v, x + i);
        m0 = MAXV(v, m0);
        LOADV(v, x + i + VW);
        m1 = MAXV(v, m1);
        LOADV(v, x + i + 2 * VW);
        m2 = MAXV(v, m2);
        LOADV(v, x + i + 3 * VW);
        m3 = MAXV(v, m3);
    }
    for (; i + VW <= n; i += VW) {
        LOADV(v, x + i);
        m0 = MAXV(v, m0);
    }
    m0 = MAXV(m0, m1), m2 = MAXV(m2, m3), m0 = MAXV(m0, m2);
    best = hmax(&m0);
    for (; i < n; i++)
        best = x[i] > best ? x[i] : best;
    return best;
}

BODY float vsum_body(const float *x, int64_t n)
{
    vf s0 = SPLAT(0.0f), s1 = s0, s2 = s0, s3 = s0, v;
    float tail = 0.0f;
    int64_t i = 0;
    for (; i + 4 * VW <= n; i += 4 * VW) {
        LOADV(v, x + i);
        s0 += v;
        LOADV(v, x + i + VW);
        s1 += v;
        LOADV(v, x + i + 2 * VW);
        s2 += v;
        LOADV(v, x + i + 3 * VW);
        s3 += v;
    }
    for (; i + VW <= n; i += VW) {
        LOADV(v, x + i);
        s0 += v;
    }
    for (; i < n; i++)
        tail += x[i];
    s0 = (s0 + s1) + (s2 + s3);
    return hsum(&s0) + tail;
}

BODY float vdot_body(const float *a, const float *b, int64_t n)
{
    vf s0 = SPLAT(0.0f), s1 = s0, s2 = s0, s3 = s0, u, v;
    float tail = 0.0f;
    int64_t i = 0;
    for (; i + 4 * VW <= n; i += 4 * VW) {
        LOADV(u, a + i), LOADV(v, b + i);
        s0 += u * v;
        LOADV(u, a + i + VW), LOADV(v, b + i + VW);
        s1 += u * v;
        LOADV(u, a + i + 2 * VW), LOADV(v, b + i + 2 * VW);
        s2 += u * v;
        LOADV(u, a + i + 3 * VW), LOADV(v, b + i + 3 * VW);
        s3 += u * v;
    }
    for (; i + VW <= n; i += VW) {
        LOADV(u, a + i), LOADV(v, b + i);
        s0 += u * v;
    }
    for (; i < n; i++)
        tail += a[i] * b[i];
    s0 = (s0 + s1) + (s2 + s3);
    return hsum(&s0) + tail;
}

BODY void vaxpy_body(float *y, const float *x, float alpha, int64_t n)
{
    vf a = SPLAT(alpha), u, v;
    int64_t i = 0;
    for (; i + VW <= n; i += VW) {
        LOADV(u, y + i);
        LOADV(v, x + i);
        u += a * v;
        STOREV(y + i, u);
    }
    for (; i < n; i++)
        y[i] += alpha * x[i];
}

BODY void vscale_body(float *x, float alpha, int64_t n)
{
    vf a = SPLAT(alpha), v;
    int64_t i = 0;
    for (; i + VW <= n; i += VW) {
        LOADV(v, x + i);
        v *= a;
        STOREV(x + i, v);
    }
    for (; i < n; i++)
        x[i] *= alpha;
}

BODY void vcopy_scaled_body(float *out, const float *x, float alpha,
                            int64_t n)
{
    vf a = SPLAT(alpha), v;
    int64_t i = 0;
    for (; i + VW <= n; i += VW) {
        LOADV(v, x + i);
        v *= a;
        STOREV(out + i, v);
    }
    for (; i < n; i++)
        out[i] = alpha * x[i];
}

BODY void vmul_body(float *x, const float *s, int64_t n)
{
    vf u, v;
    int64_t i = 0;
    for (; i + VW <= n; i += VW) {
        LOADV(u, x + i);
        LOADV(v, s + i);
        u *= v;
        STOREV(x + i, u);
    }
    for (; i < n; i++)
        x[i] *= s[i];
}

/* Double-precision lanes for the row norms: a product of two floats is
 * exact in double, so every table gives the same sums. */
typedef double vd8 __attribute__((vector_size(8 * sizeof(double))));
#define WIDEN(d8, p)                                                        \
    do {                                                                    \
        vf8 f8_;                                                            \
        memcpy(&f8_, (p), sizeof(f8_));                                     \
        (d8) = __builtin_convertvector(f8_, vd8);                           \
    } while (0)

BODY double vdot_f64_body(const float *a, const float *b, int64_t n)
{
    vd8 s0 = {0, 0, 0, 0, 0, 0, 0, 0}, s1 = s0, u, v;
    double tail = 0.0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        WIDEN(u, a + i);
        WIDEN(v, b + i);
        s0 += u * v;
        WIDEN(u, a + i + 8);
        WIDEN(v, b + i + 8);
        s1 += u * v;
    }
    if (i + 8 <= n) {
        WIDEN(u, a + i);
        WIDEN(v, b + i);
        s0 += u * v;
        i += 8;
    }
    for (; i < n; i++)
        tail += (double)a[i] * (double)b[i];
    s0 += s1;
    return (((s0[0] + s0[4]) + (s0[2] + s0[6])) +
            ((s0[1] + s0[5]) + (s0[3] + s0[7]))) + tail;
}

BODY void vaffine_f64_body(float *out, const float *x, const float *y,
                           double a, double sc, int64_t n)
{
    const vd8 va = {a, a, a, a, a, a, a, a};
    const vd8 vs = {sc, sc, sc, sc, sc, sc, sc, sc};
    vd8 u, v;
    vf8 r;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        WIDEN(u, x + i);
        WIDEN(v, y + i);
        r = __builtin_convertvector((u - va * v) * vs, vf8);
        memcpy(out + i, &r, sizeof(r));
    }
    for (; i < n; i++)
        out[i] = (float)(((double)x[i] - a * (double)y[i]) * sc);
}

/* x * 0 is 0 for finite x and NaN for Inf or NaN; NaN survives the sums. */
BODY int vfinite_body(const float *x, int64_t n)
{
    const vf zero = SPLAT(0.0f);
    vf s0 = zero, s1 = zero, s2 = zero, s3 = zero, v;
    float tail = 0.0f;
    int64_t i = 0;
    for (; i + 4 * VW <= n; i += 4 * VW) {
        LOADV(v, x + i);
        s0 += v * zero;
        LOADV(v, x + i + VW);
        s1 += v * zero;
        LOADV(v, x + i + 2 * VW);
        s2 += v * zero;
        LOADV(v, x + i + 3 * VW);
        s3 += v * zero;
    }
    for (; i + VW <= n; i += VW) {
        LOADV(v, x + i);
        s0 += v * zero;
    }
    for (; i < n; i++)
        tail += x[i] * 0.0f;
    s0 = (s0 + s1) + (s2 + s3);
    return hsum(&s0) + tail == 0.0f;
}

/* The online row's blocks: four vectors, -inf past the row's end. */
#define ONLINE_BLOCK (4 * VW)

BODY void load_block(vf *v, const float *x, int64_t left)
{
    int k;
    for (k = 0; k < 4; k++, left -= VW, x += VW) {
        if (left >= VW)
            LOADV(v[k], x);
        else if (left > 0)
            LOAD_TAIL(v[k], x, left, -INFINITY);
        else
            v[k] = SPLAT(-INFINITY);
    }
}

/* exp(0 - 0) for a -inf entry before any finite reference: 0, not NaN. */
#define ONLINE_SHIFT(r) ((r) == -INFINITY ? 0.0f : (r))

BODY float vexp_online_body(float *x, int64_t n, float slack,
                            ctr__online_row *o)
{
    const vf zero = SPLAT(0.0f), ninf = SPLAT(-INFINITY);
    vf acc = zero, raw = zero, mx = ninf, v[4], bm, s, e;
    float r = o->shift;
    int64_t i, left;
    int k;
    for (i = 0; i < n; i += ONLINE_BLOCK) {
        load_block(v, x + i, n - i);
        bm = MAXV(MAXV(v[0], v[1]), MAXV(v[2], v[3]));
        mx = MAXV(mx, bm);
        if (hmax(&bm) > r + slack) {
            const float rn = hmax(&bm);
            const float c = (float)exp((double)r - (double)rn);
            vscale_body(x, c, i);
            acc *= SPLAT(c);
            r = rn;
        }
        s = SPLAT(ONLINE_SHIFT(r));
        for (k = 0, left = n - i; k < 4 && left > 0; k++, left -= VW) {
            raw += SELECT(v[k] > ninf, v[k], zero);
            e = v[k] - s;
            EXPV(e, e);
            if (left >= VW)
                STOREV(x + i + k * VW, e);
            else
                STORE_TAIL(x + i + k * VW, e, left);
            acc += e;
        }
    }
    o->shift = r;
    o->max = hmax(&mx);
    o->raw = hsum(&raw);
    return hsum(&acc);
}

/* ---- one table of the kernels per instruction set ----------------------------- */

/* X(return type, `return` or nothing, name, parameters, arguments) */
#define EXP_KERNELS(X)                                                      \
    X(float, return, vexp_shift_sum, (float *x, int64_t n, float shift),     \
      (x, n, shift))                                                        \
    X(float, return, vexp_online,                                           \
      (float *x, int64_t n, float slack, ctr__online_row *o),               \
      (x, n, slack, o))
/* NT-Xent's passes over the upper triangle (their clones are the generic
 * bodies in every table, AVX-512 included) */
#define SYM_KERNELS(X)                                                      \
    X(float, return, vmax_col,                                              \
      (const float *x, int64_t n, float *colmax, float *raw),               \
      (x, n, colmax, raw))                                                  \
    X(float, return, vexp_sym,                                              \
      (float *x, int64_t n, float m, float ar, float fr, const float *a,    \
       const float *f, float *colacc),                                      \
      (x, n, m, ar, fr, a, f, colacc))                                      \
    X(float, return, vexp_scan,                                             \
      (float *x, int64_t n, float m, float *colacc, float *colmax,         \
       ctr__online_row *o),                                                 \
      (x, n, m, colacc, colmax, o))                                         \
    X(float, return, vexp_rowcol,                                           \
      (const float *x, int64_t n, float m, const float *mc, float *colacc), \
      (x, n, m, mc, colacc))                                                \
    X(void, , vexp_pair,                                                    \
      (float *x, int64_t n, float m, float ls, const float *mc,             \
       const float *lsc, float scale),                                      \
      (x, n, m, ls, mc, lsc, scale))                                        \
    X(void, , vmul_mix,                                                     \
      (float *x, const float *u, const float *v, float alpha, float beta,   \
       int64_t n),                                                          \
      (x, u, v, alpha, beta, n))
#define PLAIN_KERNELS(X)                                                    \
    X(float, return, vmax_sum, (const float *x, int64_t n, float *sum),      \
      (x, n, sum))                                                          \
    X(float, return, vmax, (const float *x, int64_t n), (x, n))              \
    X(float, return, vsum, (const float *x, int64_t n), (x, n))              \
    X(float, return, vdot, (const float *a, const float *b, int64_t n),      \
      (a, b, n))                                                            \
    X(void, , vaxpy, (float *y, const float *x, float alpha, int64_t n),    \
      (y, x, alpha, n))                                                     \
    X(void, , vscale, (float *x, float alpha, int64_t n), (x, alpha, n))    \
    X(void, , vcopy_scaled,                                                 \
      (float *out, const float *x, float alpha, int64_t n),                 \
      (out, x, alpha, n))                                                   \
    X(void, , vmul, (float *x, const float *s, int64_t n), (x, s, n))       \
    X(int, return, vfinite, (const float *x, int64_t n), (x, n))            \
    X(double, return, vdot_f64, (const float *a, const float *b, int64_t n), \
      (a, b, n))                                                            \
    X(void, , vaffine_f64,                                                  \
      (float *out, const float *x, const float *y, double a, double sc,     \
       int64_t n),                                                          \
      (out, x, y, a, sc, n))
#define KERNELS(X) EXP_KERNELS(X) SYM_KERNELS(X) PLAIN_KERNELS(X)

#define CLONE(isa, attr, ret, r, name, params, args) \
    attr static ret name##_##isa params { r name##_body args; }
#define ENTRY(isa, name) .name = name##_##isa,

#define CLONE_BASE(ret, r, name, params, args) \
    CLONE(base, , ret, r, name, params, args)
#define ENTRY_BASE(ret, r, name, params, args) ENTRY(base, name)
KERNELS(CLONE_BASE)
static const ctr__math_isa isa_base = {"portable", KERNELS(ENTRY_BASE)};

#if X86_CLONES
#define CLONE_AVX2(ret, r, name, params, args) \
    CLONE(avx2, AVX2_TARGET, ret, r, name, params, args)
#define ENTRY_AVX2(ret, r, name, params, args) ENTRY(avx2, name)
KERNELS(CLONE_AVX2)
static const ctr__math_isa isa_avx2 = {"avx2+fma", KERNELS(ENTRY_AVX2)};

#define CLONE_AVX512(ret, r, name, params, args) \
    CLONE(avx512, AVX512_TARGET, ret, r, name, params, args)
#define ENTRY_AVX512(ret, r, name, params, args) ENTRY(avx512, name)
SYM_KERNELS(CLONE_AVX512)
PLAIN_KERNELS(CLONE_AVX512)

/* The exp kernels in AVX-512 intrinsics: the operations of EXPV as the
 * FMA clones contract them, but the power of two is one instruction
 * (scalef) and tails are masked loads. Results are bit-identical to the
 * AVX2+FMA table's (tests/check_math.c). */
#define EXP512(out, x)                                                      \
    do {                                                                    \
        const __mmask16 keep_ =                                             \
            _mm512_cmp_ps_mask((x), _mm512_set1_ps(CTR__EXP_LO), _CMP_GE_OQ); \
        __m512 xc_ = _mm512_max_ps((x), _mm512_set1_ps(CTR__EXP_LO));       \
        const __m512 magic_ = _mm512_set1_ps(12582912.0f);                  \
        __m512 n_ = _mm512_sub_ps(                                          \
            _mm512_fmadd_ps(xc_, _mm512_set1_ps(1.44269504088896341f),      \
                            magic_),                                        \
            magic_);                                                        \
        __m512 r_ = _mm512_fnmadd_ps(n_, _mm512_set1_ps(0.693359375f), xc_); \
        __m512 p_ = _mm512_set1_ps(1.9875691500e-4f);                       \
        r_ = _mm512_fnmadd_ps(n_, _mm512_set1_ps(-2.12194440e-4f), r_);     \
        p_ = _mm512_fmadd_ps(p_, r_, _mm512_set1_ps(1.3981999507e-3f));     \
        p_ = _mm512_fmadd_ps(p_, r_, _mm512_set1_ps(8.3334519073e-3f));     \
        p_ = _mm512_fmadd_ps(p_, r_, _mm512_set1_ps(4.1665795894e-2f));     \
        p_ = _mm512_fmadd_ps(p_, r_, _mm512_set1_ps(1.6666665459e-1f));     \
        p_ = _mm512_fmadd_ps(p_, r_, _mm512_set1_ps(5.0000001201e-1f));     \
        p_ = _mm512_fmadd_ps(_mm512_mul_ps(p_, r_), r_, r_);                \
        p_ = _mm512_add_ps(p_, _mm512_set1_ps(1.0f));                       \
        (out) = _mm512_maskz_scalef_ps(keep_, p_, n_);                      \
    } while (0)

static __mmask16 tail_mask(int64_t left)
{
    return (__mmask16)(left >= VW ? 0xffffu : (1u << left) - 1u);
}

AVX512_TARGET static float vexp_shift_sum_avx512(float *x, int64_t n,
                                                 float shift)
{
    const __m512 s = _mm512_set1_ps(shift);
    __m512 acc = _mm512_setzero_ps(), v;
    vf lanes;
    int64_t i = 0;
    for (; i + VW <= n; i += VW) {
        v = _mm512_sub_ps(_mm512_loadu_ps(x + i), s);
        EXP512(v, v);
        _mm512_storeu_ps(x + i, v);
        acc = _mm512_add_ps(acc, v);
    }
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        v = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), s);
        EXP512(v, v);
        v = _mm512_maskz_mov_ps(m, v);
        _mm512_mask_storeu_ps(x + i, m, v);
        acc = _mm512_add_ps(acc, v);
    }
    memcpy(&lanes, &acc, sizeof(lanes)); /* summed in hsum's tree */
    return hsum(&lanes);
}

/* vexp_online_body with masked loads and stores; the block's test is one
 * compare into a mask, the horizontal max only when it fires. */
AVX512_TARGET static float vexp_online_avx512(float *x, int64_t n,
                                              float slack, ctr__online_row *o)
{
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 acc = _mm512_setzero_ps(), raw = acc, mx = ninf, v[4], bm, s, e;
    float r = o->shift;
    vf lanes;
    int64_t i, left;
    int k;
    for (i = 0; i < n; i += ONLINE_BLOCK) {
        for (k = 0, left = n - i; k < 4; k++, left -= VW)
            v[k] = left > 0 ? _mm512_mask_loadu_ps(ninf, tail_mask(left),
                                                   x + i + k * VW)
                            : ninf;
        bm = _mm512_max_ps(_mm512_max_ps(v[0], v[1]),
                           _mm512_max_ps(v[2], v[3]));
        mx = _mm512_max_ps(mx, bm);
        if (_mm512_cmp_ps_mask(bm, _mm512_set1_ps(r + slack), _CMP_GT_OQ)) {
            const float rn = _mm512_reduce_max_ps(bm);
            const float c = (float)exp((double)r - (double)rn);
            vscale_avx512(x, c, i);
            acc = _mm512_mul_ps(acc, _mm512_set1_ps(c));
            r = rn;
        }
        s = _mm512_set1_ps(ONLINE_SHIFT(r));
        for (k = 0, left = n - i; k < 4 && left > 0; k++, left -= VW) {
            raw = _mm512_mask_add_ps(
                raw, _mm512_cmp_ps_mask(v[k], ninf, _CMP_GT_OQ), raw, v[k]);
            e = _mm512_sub_ps(v[k], s);
            EXP512(e, e);
            _mm512_mask_storeu_ps(x + i + k * VW, tail_mask(left), e);
            acc = _mm512_add_ps(acc, e);
        }
    }
    o->shift = r;
    memcpy(&lanes, &mx, sizeof(lanes));
    o->max = hmax(&lanes);
    memcpy(&lanes, &raw, sizeof(lanes));
    o->raw = hsum(&lanes);
    memcpy(&lanes, &acc, sizeof(lanes));
    return hsum(&lanes);
}

static const ctr__math_isa isa_avx512 = {"avx512f", KERNELS(ENTRY_AVX512)};
#endif

const ctr__math_isa *ctr__math_isa_at(int i)
{
#if X86_CLONES
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f"))
        i++; /* skip the AVX-512 table */
    if (i == 0)
        return &isa_avx512;
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
        i++;
    if (i == 1)
        return &isa_avx2;
    return i == 2 ? &isa_base : NULL;
#else
    return i == 0 ? &isa_base : NULL;
#endif
}

#define DISPATCH(ret, r, name, params, args) \
    ret ctr__##name params { r ctr__math_isa_at(0)->name args; }
KERNELS(DISPATCH)

int ctr__all_finite(const float *x, int64_t rows, int64_t cols, int64_t ld)
{
    const ctr__math_isa *isa = ctr__math_isa_at(0);
    int64_t r;
    if (ld == cols)
        return isa->vfinite(x, rows * cols);
    for (r = 0; r < rows; r++)
        if (!isa->vfinite(x + r * ld, cols))
            return 0;
    return 1;
}

#define NORM_EPS 1e-12

void ctr__normalize_rows(float *out, const float *x, int64_t rows,
                         int64_t cols, int64_t ld, float scale,
                         float *inv_norm)
{
    const ctr__math_isa *isa = ctr__math_isa_at(0);
    int64_t r;
    for (r = 0; r < rows; r++) {
        const float *xr = x + r * ld;
        double norm = sqrt(isa->vdot_f64(xr, xr, cols)), inv;
        inv = 1.0 / (norm > NORM_EPS ? norm : NORM_EPS);
        if (inv_norm != NULL)
            inv_norm[r] = (float)inv;
        isa->vaffine_f64(out + r * cols, xr, xr, 0.0, inv * scale, cols);
    }
}

void ctr__normalize_backward(float *g, const float *y_stored, int64_t ldy,
                             float y_scale, const float *inv_norm,
                             int64_t rows, int64_t cols)
{
    const ctr__math_isa *isa = ctr__math_isa_at(0);
    int64_t r;
    for (r = 0; r < rows; r++) {
        float *gr = g + r * cols;
        const float *yr = y_stored + r * ldy;
        double inv = inv_norm[r], ys = 1.0 / y_scale, dot;
        if (inv >= 1.0 / NORM_EPS * 0.999999) { /* norm clamped at eps */
            isa->vaffine_f64(gr, gr, gr, 0.0, inv, cols);
            continue;
        }
        dot = isa->vdot_f64(yr, gr, cols) * ys;
        isa->vaffine_f64(gr, gr, yr, ys * dot, inv, cols);
    }
}

double ctr__rows_dot(const float *x, int64_t ldx, const float *y,
                     int64_t ldy, int64_t rows, int64_t cols)
{
    const ctr__math_isa *isa = ctr__math_isa_at(0);
    double total = 0.0;
    int64_t r;
    for (r = 0; r < rows; r++)
        total += isa->vdot_f64(x + r * ldx, y + r * ldy, cols);
    return total;
}

void ctr__copy_scaled(float *out, const float *x, int64_t rows, int64_t cols,
                      int64_t ld, float scale)
{
    const ctr__math_isa *isa = ctr__math_isa_at(0);
    int64_t r;
    if (ld == cols)
        isa->vcopy_scaled(out, x, scale, rows * cols);
    else
        for (r = 0; r < rows; r++)
            isa->vcopy_scaled(out + r * cols, x + r * ld, scale, cols);
}

double ctr__softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}
