/*
 * probe_kernel.c - the linear probe's skinny products (probe_kernel.h).
 *
 * Logits: a tile of 4 rows × 5 classes keeps 20 vector accumulators (16
 * lanes each) while it walks the feature dimension, so each vector of x
 * loaded serves 5 classes and each vector of w 4 rows. Rows or classes past
 * the end of a tile point at the last valid one and their results are
 * dropped, so every tile runs the same code.
 *
 * Accumulation: for 5 classes and 32 columns at a time, 10 vector
 * accumulators start from acc, take the rows of the block in order
 * (a broadcast of g times a vector of x), and are stored back.
 *
 * The Makefile compiles this file with -ffp-contract=fast so the FMA
 * clones fuse a * b + c.
 */
#include "eval/probe_kernel.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define PK_X86 1
#define PK_AVX2 __attribute__((target("avx2,fma")))
#define PK_AVX512 __attribute__((target("avx2,fma,avx512f")))
#else
#define PK_X86 0
#endif
#define PK_INLINE static inline __attribute__((always_inline))

#define LANES 16
typedef float lanes __attribute__((vector_size(LANES * sizeof(float))));

#define ROW_TILE 4   /* rows of a logits tile */
#define CLASS_TILE 5 /* classes of a logits or accumulation tile */
#define ROW_CHUNK 32 /* rows whose g values are gathered at once */

/* The sum of the lanes: the two halves added as vectors, then the
 * quarters, then the last four lanes pairwise (a fixed order). */
typedef float half_lanes __attribute__((vector_size(LANES / 2 * sizeof(float))));
typedef float quarter_lanes __attribute__((vector_size(LANES / 4 * sizeof(float))));
PK_INLINE float lane_total(const lanes *v)
{
    half_lanes h[2];
    quarter_lanes q[2];
    memcpy(h, v, sizeof(h));
    h[0] += h[1];
    memcpy(q, &h[0], sizeof(q));
    q[0] += q[1];
    return (q[0][0] + q[0][1]) + (q[0][2] + q[0][3]);
}

/* out[a][b] = xr[a] · wc[b] over d entries. */
PK_INLINE void logits_tile(const float *const xr[ROW_TILE],
                           const float *const wc[CLASS_TILE], int64_t d,
                           float out[ROW_TILE][CLASS_TILE])
{
    lanes acc[ROW_TILE][CLASS_TILE], xv[ROW_TILE], wv;
    int64_t j, t;
    int a, b;
#pragma GCC unroll 4
    for (a = 0; a < ROW_TILE; a++)
#pragma GCC unroll 5
        for (b = 0; b < CLASS_TILE; b++)
            acc[a][b] = (lanes){0};
    for (j = 0; j + LANES <= d; j += LANES) {
#pragma GCC unroll 4
        for (a = 0; a < ROW_TILE; a++)
            memcpy(&xv[a], xr[a] + j, sizeof(lanes));
#pragma GCC unroll 5
        for (b = 0; b < CLASS_TILE; b++) {
            memcpy(&wv, wc[b] + j, sizeof(lanes));
#pragma GCC unroll 4
            for (a = 0; a < ROW_TILE; a++)
                acc[a][b] += xv[a] * wv;
        }
    }
    for (a = 0; a < ROW_TILE; a++)
        for (b = 0; b < CLASS_TILE; b++) {
            float s = lane_total(&acc[a][b]);
            for (t = j; t < d; t++)
                s += xr[a][t] * wc[b][t];
            out[a][b] = s;
        }
}

PK_INLINE void logits_body(const float *x, int64_t m, int64_t ld, int64_t d,
                           const float *w, const float *bias, int64_t C,
                           float *z)
{
    int64_t r0, c0;
    for (r0 = 0; r0 < m; r0 += ROW_TILE) {
        const float *xr[ROW_TILE];
        int a, b;
        for (a = 0; a < ROW_TILE; a++)
            xr[a] = x + (r0 + a < m ? r0 + a : m - 1) * ld;
        for (c0 = 0; c0 < C; c0 += CLASS_TILE) {
            const float *wc[CLASS_TILE];
            float out[ROW_TILE][CLASS_TILE];
            for (b = 0; b < CLASS_TILE; b++)
                wc[b] = w + (c0 + b < C ? c0 + b : C - 1) * d;
            logits_tile(xr, wc, d, out);
            for (a = 0; a < ROW_TILE && r0 + a < m; a++)
                for (b = 0; b < CLASS_TILE && c0 + b < C; b++)
                    z[(r0 + a) * C + c0 + b] = out[a][b] + bias[c0 + b];
        }
    }
}

/* acc rows c0.. (ct of them) += Σ_r gt[r][b]·x[r], columns [j, j + 2·LANES). */
PK_INLINE void accumulate_cols(const float *x, int64_t m, int64_t ld,
                               const float gt[][CLASS_TILE], int ct,
                               float *acc, int64_t d, int64_t j)
{
    lanes a0[CLASS_TILE], a1[CLASS_TILE], x0, x1;
    int64_t r;
    int b;
#pragma GCC unroll 5
    for (b = 0; b < CLASS_TILE; b++) {
        a0[b] = a1[b] = (lanes){0};
        if (b < ct) {
            memcpy(&a0[b], acc + b * d + j, sizeof(lanes));
            memcpy(&a1[b], acc + b * d + j + LANES, sizeof(lanes));
        }
    }
    for (r = 0; r < m; r++) {
        memcpy(&x0, x + r * ld + j, sizeof(lanes));
        memcpy(&x1, x + r * ld + j + LANES, sizeof(lanes));
#pragma GCC unroll 5
        for (b = 0; b < CLASS_TILE; b++) {
            a0[b] += x0 * gt[r][b];
            a1[b] += x1 * gt[r][b];
        }
    }
    for (b = 0; b < ct; b++) {
        memcpy(acc + b * d + j, &a0[b], sizeof(lanes));
        memcpy(acc + b * d + j + LANES, &a1[b], sizeof(lanes));
    }
}

/* The same for one vector of columns [j, j + LANES). */
PK_INLINE void accumulate_vec(const float *x, int64_t m, int64_t ld,
                              const float gt[][CLASS_TILE], int ct,
                              float *acc, int64_t d, int64_t j)
{
    lanes a0[CLASS_TILE], x0;
    int64_t r;
    int b;
    for (b = 0; b < CLASS_TILE; b++) {
        a0[b] = (lanes){0};
        if (b < ct)
            memcpy(&a0[b], acc + b * d + j, sizeof(lanes));
    }
    for (r = 0; r < m; r++) {
        memcpy(&x0, x + r * ld + j, sizeof(lanes));
#pragma GCC unroll 5
        for (b = 0; b < CLASS_TILE; b++)
            a0[b] += x0 * gt[r][b];
    }
    for (b = 0; b < ct; b++)
        memcpy(acc + b * d + j, &a0[b], sizeof(lanes));
}

/* Up to ROW_CHUNK rows and one class tile, all columns. */
PK_INLINE void accumulate_tile(const float *x, int64_t m, int64_t ld,
                               int64_t d, const float gt[][CLASS_TILE],
                               int ct, float *acc)
{
    int64_t j = 0, r;
    int b;
    for (; j + 2 * LANES <= d; j += 2 * LANES)
        accumulate_cols(x, m, ld, gt, ct, acc, d, j);
    if (j + LANES <= d) {
        accumulate_vec(x, m, ld, gt, ct, acc, d, j);
        j += LANES;
    }
    for (; j < d; j++)
        for (b = 0; b < ct; b++) {
            float s = acc[b * d + j];
            for (r = 0; r < m; r++)
                s += gt[r][b] * x[r * ld + j];
            acc[b * d + j] = s;
        }
}

PK_INLINE void accumulate_body(const float *x, int64_t m, int64_t ld,
                               int64_t d, const float *g, int64_t C,
                               float *acc)
{
    int64_t r0, c0, r;
    for (r0 = 0; r0 < m; r0 += ROW_CHUNK) {
        const int64_t rows = m - r0 < ROW_CHUNK ? m - r0 : ROW_CHUNK;
        for (c0 = 0; c0 < C; c0 += CLASS_TILE) {
            const int ct = (int)(C - c0 < CLASS_TILE ? C - c0 : CLASS_TILE);
            float gt[ROW_CHUNK][CLASS_TILE];
            int b;
            for (r = 0; r < rows; r++)
                for (b = 0; b < CLASS_TILE; b++)
                    gt[r][b] = b < ct ? g[(r0 + r) * C + c0 + b] : 0.0f;
            accumulate_tile(x + r0 * ld, rows, ld, d,
                            (const float(*)[CLASS_TILE])gt, ct, acc + c0 * d);
        }
    }
}

/* ---- one table per instruction set ------------------------------------------ */

#define PK_CLONES(isa, attr, label)                                         \
    attr static void logits_##isa(const float *x, int64_t m, int64_t ld,    \
                                  int64_t d, const float *w,                \
                                  const float *bias, int64_t C, float *z)   \
    {                                                                       \
        logits_body(x, m, ld, d, w, bias, C, z);                            \
    }                                                                       \
    attr static void accumulate_##isa(const float *x, int64_t m,            \
                                      int64_t ld, int64_t d,                \
                                      const float *g, int64_t C,            \
                                      float *acc)                           \
    {                                                                       \
        accumulate_body(x, m, ld, d, g, C, acc);                            \
    }                                                                       \
    static const ctr__probe_isa isa_##isa = {label, logits_##isa,           \
                                             accumulate_##isa};

PK_CLONES(base, , "portable")
#if PK_X86
PK_CLONES(avx2, PK_AVX2, "avx2+fma")
PK_CLONES(avx512, PK_AVX512, "avx512f")
#endif

const ctr__probe_isa *ctr__probe_isa_at(int i)
{
    const ctr__probe_isa *usable[3];
    int n = 0;
#if PK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        usable[n++] = &isa_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        usable[n++] = &isa_avx2;
#endif
    usable[n++] = &isa_base;
    return i >= 0 && i < n ? usable[i] : NULL;
}

static const ctr__probe_isa *pick(void)
{
    return ctr__probe_isa_at(0);
}

void ctr__probe_logits(const float *x, int64_t m, int64_t ld, int64_t d,
                       const float *w, const float *bias, int64_t C, float *z)
{
    pick()->logits(x, m, ld, d, w, bias, C, z);
}

void ctr__probe_accumulate(const float *x, int64_t m, int64_t ld, int64_t d,
                           const float *g, int64_t C, float *acc)
{
    pick()->accumulate(x, m, ld, d, g, C, acc);
}

const char *ctr__probe_kernel_isa(void)
{
    return pick()->name;
}
