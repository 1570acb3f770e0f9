/*
 * tiled.c - the online (running-max) softmax of b queries over n key rows
 * visited in tiles (tiled.h), shared by INFONCE_SHARED, BANK_SOFTMAX and
 * NCE with exact Z: no b x n logits buffer exists. Per tile one GEMM makes
 * the logits, a vector exp pass turns them into weights, and one GEMM
 * accumulates the query gradient sum_j p_ij k_j. Gradients to the keys
 * need the final log-sum-exp, hence a second pass (ctr__tiled_key_grad).
 */
#include "objectives/tiled.h"

#include <math.h>
#include <string.h>

#include "common/blas.h"
#include "common/kernels.h"

/* ---- the tiled online softmax ---------------------------------------------- */

/* |k|^2 in double, for the rows whose float sum of squares overflows or
 * loses its digits to underflow. */
static double sum_squares(const float *k, int64_t d)
{
    double s = 0.0;
    int64_t j;
    for (j = 0; j < d; j++)
        s += (double)k[j] * k[j];
    return s;
}

static void key_inv_norms(float *out, const float *kt, int64_t rows,
                          int64_t d, int64_t ld)
{
    int64_t t;
    for (t = 0; t < rows; t++) {
        const float *k = kt + t * ld;
        double ss = ctr__vdot(k, k, d), nrm;
        if (!(ss < 1e38 && ss > 1e-30))
            ss = sum_squares(k, d);
        nrm = sqrt(ss);
        out[t] = (float)(1.0 / (nrm > 1e-12 ? nrm : 1e-12));
    }
}

/* ---- masking by instance id ------------------------------------------------ */

static int64_t slot_count(int64_t b)
{
    int64_t p = 16;
    while (p < 2 * b)
        p *= 2;
    return p;
}

int64_t ctr__tiled_scratch_floats(int64_t b)
{
    /* slots + next (int32) + masked_cnt and cursor (8 bytes), plus the
     * 64-byte rounding of its four blocks */
    return slot_count(b) + b + 4 * b + 4 * 16;
}

static uint64_t mix_id(int64_t id)
{
    uint64_t z = (uint64_t)id + 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* The first query whose id is `id`, or -1. */
static int32_t find_query(const ctr__tiled *t, int64_t id)
{
    uint64_t h = mix_id(id) & (uint64_t)t->slot_mask;
    while (t->slot[h] >= 0) {
        if (t->q_ids[t->slot[h]] == id)
            return t->slot[h];
        h = (h + 1) & (uint64_t)t->slot_mask;
    }
    return -1;
}

static void build_index(ctr__tiled *t)
{
    int64_t i, n = t->slot_mask + 1;
    for (i = 0; i < n; i++)
        t->slot[i] = -1;
    for (i = t->b - 1; i >= 0; i--) {
        uint64_t h = mix_id(t->q_ids[i]) & (uint64_t)t->slot_mask;
        while (t->slot[h] >= 0 && t->q_ids[t->slot[h]] != t->q_ids[i])
            h = (h + 1) & (uint64_t)t->slot_mask;
        t->next[i] = t->slot[h]; /* -1 or the next query of this id */
        t->slot[h] = (int32_t)i;
    }
}

void ctr__tiled_carve(ctr__tiled *t, ctr__carve *c)
{
    const int64_t p = slot_count(t->b);
    t->slot = (int32_t *)(void *)ctr__carve_floats(c, (size_t)p);
    t->next = (int32_t *)(void *)ctr__carve_floats(c, (size_t)t->b);
    t->masked_cnt = (int64_t *)(void *)ctr__carve_floats(c, (size_t)(2 * t->b));
    t->cursor = (int64_t *)(void *)ctr__carve_floats(c, (size_t)(2 * t->b));
    t->slot_mask = p - 1;
    if (t->q_ids != NULL)
        build_index(t);
}

static void mask_entry(ctr__tiled *t, int64_t i, int64_t c, int64_t w)
{
    t->masked_cnt[i]++;
    t->s[i * w + c] = -INFINITY;
}

/* Sets the masked logits of the tile [j0, j0 + w) to -inf, counting them
 * per row: one hash look-up per key. */
static void mask_tile(ctr__tiled *t, int64_t j0, int64_t w)
{
    int64_t i, c;
    for (i = 0; i < t->b; i++)
        t->masked_cnt[i] = 0;
    if (t->q_ids != NULL) {
        for (c = 0; c < w; c++) {
            int32_t q = find_query(t, t->key_ids[j0 + c]);
            for (; q >= 0; q = t->next[q])
                mask_entry(t, q, c, w);
        }
    }
    if (t->self_idx != NULL) {
        for (i = 0; i < t->b; i++) {
            c = t->self_idx[i] - j0;
            if (c >= 0 && c < w)
                mask_entry(t, i, c, w);
        }
    }
}

/* Column scaling and masks of a freshly computed tile. */
static void prepare_tile(ctr__tiled *t, int64_t j0, int64_t w)
{
    int64_t i;
    if (t->normalize_keys)
        for (i = 0; i < t->b; i++)
            ctr__vmul(t->s + i * w, t->colscale, w);
    mask_tile(t, j0, w);
}

/* ---- capturing chosen logits ------------------------------------------------ */

#define RADIX_BITS 11

void ctr__tiled_sort_keys(uint64_t *keys, uint64_t *tmp, int64_t cnt,
                          int64_t tile, int64_t n, int64_t *hist)
{
    const int64_t last = (n - 1) / tile; /* the largest tile number */
    int shift;
    int64_t i, sum;
    for (shift = 0; shift == 0 || (last >> shift) > 0; shift += RADIX_BITS) {
        const int64_t mask = (1 << RADIX_BITS) - 1;
        memset(hist, 0, sizeof(int64_t) << RADIX_BITS);
        for (i = 0; i < cnt; i++)
            hist[((int64_t)(keys[i] >> 32) / tile >> shift) & mask]++;
        for (i = 0, sum = 0; i <= mask; i++) {
            const int64_t h = hist[i];
            hist[i] = sum;
            sum += h;
        }
        for (i = 0; i < cnt; i++)
            tmp[hist[((int64_t)(keys[i] >> 32) / tile >> shift) & mask]++] =
                keys[i];
        memcpy(keys, tmp, (size_t)cnt * sizeof(uint64_t));
    }
}

/* Copies the captured logits of the tile [j0, j0 + w) out of it. */
static void capture_tile(ctr__tiled *t, int64_t j0, int64_t w)
{
    int64_t i;
    for (i = 0; i < t->b; i++) {
        const uint64_t *keys = t->capture_keys + i * t->capture_per;
        const float *row = t->s + i * w;
        float *out = t->capture_out + i * t->capture_per;
        int64_t *k = &t->cursor[i];
        while (*k < t->capture_per && (int64_t)(keys[*k] >> 32) < j0 + w) {
            out[keys[*k] & 0xffffffffu] = row[(int64_t)(keys[*k] >> 32) - j0];
            (*k)++;
        }
    }
}

/* Logits of the tile [j0, j0 + w), column-scaled and masked. */
static void tile_logits(ctr__tiled *t, int64_t j0, int64_t w)
{
    const float *kt = t->keys + j0 * t->ld;
    if (t->normalize_keys)
        key_inv_norms(t->colscale, kt, w, t->d, t->ld);
    ctr__sgemm_plus(CblasNoTrans, CblasTrans, (int)t->b, (int)w, (int)t->d,
                    1.0f, t->qs, (int)t->d, kt, (int)t->ld, 0.0f, NULL, 0,
                    t->s, (int)w);
}

/* How far a tile's logits may rise above the running reference before it
 * moves: exp(16) ~ 9e6 keeps the sums and the gradient accumulator far
 * from overflow, and a move (a rescale) stays rare. */
#define REFERENCE_SLACK 16.0f

static void online_row(ctr__tiled *t, int64_t i, int64_t w)
{
    float *row = t->s + i * w;
    ctr__online_row o;
    double tile_sum;
    o.shift = t->m[i];
    tile_sum = ctr__vexp_online(row, w, REFERENCE_SLACK, &o);
    t->negmax[i] = o.max > t->negmax[i] ? o.max : t->negmax[i];
    t->negsum[i] += o.raw;
    t->negcnt[i] += w - t->masked_cnt[i];
    t->alpha[i] = o.shift == t->m[i]
                      ? 1.0f
                      : (float)exp((double)t->m[i] - (double)o.shift);
    t->sum[i] = t->sum[i] * t->alpha[i] + tile_sum;
    t->m[i] = o.shift;
    if (t->g != NULL && t->normalize_keys)
        ctr__vmul(row, t->colscale, w);
}

int ctr__tiled_forward(ctr_objective *obj, ctr__tiled *t)
{
    int64_t j0, i;
    for (i = 0; i < t->b; i++)
        t->cursor[i] = 0;
    for (j0 = 0; j0 < t->n; j0 += t->tile) {
        const int64_t w = t->n - j0 < t->tile ? t->n - j0 : t->tile;
        const float *kt = t->keys + j0 * t->ld;
        if (!ctr__all_finite(kt, w, t->d, t->ld))
            return ctr__fail(&obj->err, CTR_E_NUMERIC,
                             "a row in [%lld, %lld) of the negatives holds "
                             "NaN or Inf", (long long)j0, (long long)(j0 + w));
        tile_logits(t, j0, w);
        prepare_tile(t, j0, w);
        if (t->capture_keys != NULL)
            capture_tile(t, j0, w);
        for (i = 0; i < t->b; i++)
            online_row(t, i, w);
        if (t->g == NULL)
            continue;
        for (i = 0; i < t->b; i++)
            if (t->alpha[i] != 1.0f)
                ctr__vscale(t->g + i * t->d, t->alpha[i], t->d);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)t->b,
                    (int)t->d, (int)w, 1.0f, t->s, (int)w, kt, (int)t->ld,
                    1.0f, t->g, (int)t->d);
    }
    return CTR_OK;
}

/* g <- c (g - c^2 (k . g) k): the backward of k_hat = c k, c = 1/|k|.
 * The factors are applied in an order that keeps every intermediate in
 * float's normal range for keys of any norm. */
static void key_norm_backward(float *g, const float *k, float c, int64_t d)
{
    if (c < 0.999999e12f) /* else the norm was clamped: g * c */
        ctr__vaxpy(g, k, -(c * (c * ctr__vdot(k, g, d))), d);
    ctr__vscale(g, c, d);
}

void ctr__tiled_key_grad(ctr__tiled *t, float *qw, float *grad_keys,
                         float scale)
{
    int64_t j0, i, r;
    for (i = 0; i < t->b; i++)
        ctr__vcopy_scaled(qw + i * t->d, t->qs + i * t->d,
                          (float)(1.0 / t->sum[i]), t->d);
    for (j0 = 0; j0 < t->n; j0 += t->tile) {
        const int64_t w = t->n - j0 < t->tile ? t->n - j0 : t->tile;
        const float *kt = t->keys + j0 * t->ld;
        float *gk = grad_keys + j0 * t->d;
        tile_logits(t, j0, w);
        prepare_tile(t, j0, w);
        for (i = 0; i < t->b; i++)
            ctr__vexp_shift_sum(t->s + i * w, w, t->m[i]);
        ctr__sgemm_plus(CblasTrans, CblasNoTrans, (int)w, (int)t->d, (int)t->b,
                        scale, t->s, (int)w, qw, (int)t->d, 0.0f, NULL, 0,
                        gk, (int)t->d);
        if (t->normalize_keys)
            for (r = 0; r < w; r++)
                key_norm_backward(gk + r * t->d, kt + r * t->ld,
                                  t->colscale[r], t->d);
    }
}
