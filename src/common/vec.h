/*
 * vec.h - loops that gcc -O2 vectorises.
 *
 * gcc 12 at -O2 uses the "very cheap" vectoriser cost model, which only
 * vectorises a loop whose trip count is a known multiple of the vector
 * width. CTR__VEC_FOR runs a statement over [0, n) as blocks of a constant
 * CTR__VEC_BLOCK iterations (vectorised) plus a scalar tail; the statement
 * must treat iterations as independent and its pointers should be restrict
 * locals. clang vectorises either form.
 */
#ifndef CTR_VEC_H
#define CTR_VEC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/core.h"

#define CTR__VEC_BLOCK 16

#define CTR__VEC_FOR(i, n, stmt)                                              \
    do {                                                                      \
        int64_t vb_, vj_;                                                     \
        for (vb_ = 0; vb_ + CTR__VEC_BLOCK <= (n); vb_ += CTR__VEC_BLOCK)     \
            for (vj_ = 0; vj_ < CTR__VEC_BLOCK; vj_++) {                      \
                (i) = vb_ + vj_;                                              \
                stmt;                                                         \
            }                                                                 \
        for ((i) = vb_; (i) < (n); (i)++) {                                   \
            stmt;                                                             \
        }                                                                     \
    } while (0)

/* Sums of x[0..n), of x[i] * w[i] and of (x[i] - c)^2. Partial sums run
 * in CTR__VEC_BLOCK independent lanes (lane j takes the elements j, j + 16,
 * ... and then the tail's element j), added in lane order at the end; the
 * order of additions is fixed, so results are deterministic.
 *
 * In ctr__sum and ctr__sum_sq_dev the 16 lanes are four 4-float GCC/clang
 * vectors (SSE registers on the baseline x86-64 target): as an array, or
 * as one 16-float vector, gcc kept them on the stack, a store and a load
 * per vector, and the sums ran at 2.5x the time for 784 values. Vector
 * operations are element by element, so the bits are those of the lane
 * array. The tail's terms go to a zeroed block t first (t[j] for lane j),
 * added to all 16 lanes: the lanes above the tail get +0, which leaves
 * the total as it was (the total starts at +0 and so is never -0). Short
 * sums keep the lanes in the array t, as before. */
typedef float ctr__v4 __attribute__((vector_size(4 * sizeof(float))));

#define CTR__V4LOAD(v, p) memcpy(&(v), (p), sizeof(ctr__v4))

/* The total of 16 lanes in an array, in lane order. */
static inline float ctr__lane_array_total(const float *lane)
{
    float s = 0.0f;
    int j;
    for (j = 0; j < CTR__VEC_BLOCK; j++)
        s += lane[j];
    return s;
}

/* The total of the lanes a[0..4) plus the tail block t, in lane order. */
static inline float ctr__lanes_total(ctr__v4 a0, ctr__v4 a1, ctr__v4 a2, ctr__v4 a3,
                                     const float *t)
{
    ctr__v4 v[4];
    float lane[CTR__VEC_BLOCK];
    CTR__V4LOAD(v[0], t), CTR__V4LOAD(v[1], t + 4);
    CTR__V4LOAD(v[2], t + 8), CTR__V4LOAD(v[3], t + 12);
    v[0] += a0, v[1] += a1, v[2] += a2, v[3] += a3;
    memcpy(lane, v, sizeof(lane));
    return ctr__lane_array_total(lane);
}

/* Below this many values the lanes stay an array (the same bits): the
 * vector form's tail costs more than it saves. */
#define CTR__VSUM_MIN (4 * CTR__VEC_BLOCK)

static inline float ctr__sum(const float *restrict x, int64_t n)
{
    ctr__v4 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, v0, v1, v2, v3;
    float t[CTR__VEC_BLOCK] = {0};
    int64_t b, j;
    if (n < CTR__VSUM_MIN) {
        for (b = 0; b + CTR__VEC_BLOCK <= n; b += CTR__VEC_BLOCK)
            for (j = 0; j < CTR__VEC_BLOCK; j++)
                t[j] += x[b + j];
        for (j = 0; b + j < n; j++)
            t[j] += x[b + j];
        return ctr__lane_array_total(t);
    }
    for (b = 0; b + CTR__VEC_BLOCK <= n; b += CTR__VEC_BLOCK) {
        CTR__V4LOAD(v0, x + b), CTR__V4LOAD(v1, x + b + 4);
        CTR__V4LOAD(v2, x + b + 8), CTR__V4LOAD(v3, x + b + 12);
        a0 += v0, a1 += v1, a2 += v2, a3 += v3;
    }
    for (j = 0; b + j < n; j++)
        t[j] = x[b + j];
    return ctr__lanes_total(a0, a1, a2, a3, t);
}

static inline float ctr__sum_sq_dev(const float *restrict x, float c, int64_t n)
{
    ctr__v4 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, v0, v1, v2, v3, cv = {c, c, c, c};
    float t[CTR__VEC_BLOCK] = {0};
    int64_t b, j;
    if (n < CTR__VSUM_MIN) {
        for (b = 0; b + CTR__VEC_BLOCK <= n; b += CTR__VEC_BLOCK)
            for (j = 0; j < CTR__VEC_BLOCK; j++)
                t[j] += (x[b + j] - c) * (x[b + j] - c);
        for (j = 0; b + j < n; j++)
            t[j] += (x[b + j] - c) * (x[b + j] - c);
        return ctr__lane_array_total(t);
    }
    for (b = 0; b + CTR__VEC_BLOCK <= n; b += CTR__VEC_BLOCK) {
        CTR__V4LOAD(v0, x + b), CTR__V4LOAD(v1, x + b + 4);
        CTR__V4LOAD(v2, x + b + 8), CTR__V4LOAD(v3, x + b + 12);
        v0 -= cv, v1 -= cv, v2 -= cv, v3 -= cv;
        a0 += v0 * v0, a1 += v1 * v1, a2 += v2 * v2, a3 += v3 * v3;
    }
    for (j = 0; b + j < n; j++)
        t[j] = (x[b + j] - c) * (x[b + j] - c);
    return ctr__lanes_total(a0, a1, a2, a3, t);
}

static inline float ctr__dot(const float *restrict x, const float *restrict w, int64_t n)
{
    float lane[CTR__VEC_BLOCK] = {0};
    int64_t b, j;
    for (b = 0; b + CTR__VEC_BLOCK <= n; b += CTR__VEC_BLOCK)
        for (j = 0; j < CTR__VEC_BLOCK; j++)
            lane[j] += x[b + j] * w[b + j];
    for (j = 0; b + j < n; j++)
        lane[j] += x[b + j] * w[b + j];
    return ctr__lane_array_total(lane);
}

/* exp(x) within about 2 ulp for x in [-87, 88] (clamped outside), written
 * so that loops calling it vectorise: round-to-nearest by the 1.5 * 2^23
 * trick, a two-part ln 2, a degree-6 polynomial, and 2^k built from bits. */
static inline float ctr__exp_approx(float x)
{
    const float log2e = 1.44269504088896341f, magic = 12582912.0f;
    const float ln2_hi = 0.693145751953125f, ln2_lo = 1.428606765330187045e-06f;
    float k, r, p, scale;
    int32_t bits;
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    k = (x * log2e + magic) - magic;
    r = x - k * ln2_hi - k * ln2_lo;
    p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6.0f + r * (1.0f / 24.0f +
        r * (1.0f / 120.0f + r * (1.0f / 720.0f))))));
    bits = ((int32_t)k + 127) << 23; /* k in [-126, 127]: no overflow */
    memcpy(&scale, &bits, sizeof(scale));
    return p * scale;
}

static inline float ctr__sigmoid_approx(float v)
{
    return 1.0f / (1.0f + ctr__exp_approx(-v));
}

/* tanh within a few ulp: a Taylor polynomial near 0 (no cancellation),
 * (1 - e) / (1 + e) with e = exp(-2|v|) elsewhere; branch-free. */
static inline float ctr__tanh_approx(float v)
{
    float a = v < 0.0f ? -v : v, q = v * v;
    float e = ctr__exp_approx(-2.0f * a);
    float big = (1.0f - e) / (1.0f + e);
    float small = a * (1.0f + q * (-1.0f / 3.0f + q * (2.0f / 15.0f + q * (-17.0f / 315.0f))));
    float t = a < 0.0625f ? small : big;
    return v < 0.0f ? -t : t;
}

#endif /* CTR_VEC_H */
