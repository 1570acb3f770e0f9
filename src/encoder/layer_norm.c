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

#include "common/comm.h"
#include "common/parallel.h"
#include "common/vec.h"
#include "encoder/encoder_build.h"

/* The image backward recomputes the batch norm's output to find where the
 * fused ReLU passed its gradient (masked_sums): the expression must round
 * as the forward's did, so clang may not contract it into an FMA at one
 * place and not the other (gcc does not contract in ISO C mode). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

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

/* ---- batch norm ---------------------------------------------------------- */

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

/* Per-channel arrays kept per group in the cache. */
enum { BN_MEAN, BN_INVSTD, BN_SUM_DY, BN_SUM_DYH, BN_SCALE, BN_SHIFT, BN_K, BN_ARRAYS };

/* Rows of one value per channel (inner 1) are summed by chunks of this
 * many rows, each into a partial sum of its own (bn_rows_*). */
#define BN_CHUNK_ROWS 32

/* Cache: BN_ARRAYS per-channel arrays per group, then for rows of one
 * value per channel the chunks' partial sums. The normalised input
 * xhat = (x - mean) * invstd is not stored: backward recomputes it from the
 * layer's input, which the encoder keeps (a pass of writes and the memory
 * of a whole activation saved for two subtractions and products). */
static int bn_cache_floats(const ctr__layer *l, int64_t n, int64_t groups, size_t *out)
{
    int64_t outer, c, inner;
    size_t part = 0;
    ctr__shape_channels(&l->in, &outer, &c, &inner);
    if (ctr__matrix_bytes(out, groups, BN_ARRAYS * c, 1) != CTR_OK)
        return CTR_E_OVERFLOW;
    if (inner == 1 && /* the partial sums of bn_rows_*: 2 x c per chunk of rows */
        (n > INT64_MAX / outer ||
         ctr__matrix_bytes(&part, (n * outer + BN_CHUNK_ROWS - 1) / BN_CHUNK_ROWS, 2 * c, 1) !=
             CTR_OK))
        return CTR_E_OVERFLOW;
    return ctr__add_size(out, *out, part);
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

static int bn_check_batch(const ctr__layer *l, int64_t n, int64_t groups, int train,
                          ctr__error *err)
{
    if (!train) /* eval mode uses the running statistics */
        return CTR_OK;
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

/* The geometry of one call: `rows` slices of c channels x inner values per
 * group, `groups` groups. */
typedef struct bn_geom {
    int64_t c, inner, slice, rows, groups;
    int64_t size; /* values per sample */
    float count;  /* values per channel and group */
} bn_geom;

static bn_geom bn_geometry(const ctr__layer *l, int64_t n, int64_t groups)
{
    bn_geom g;
    int64_t outer;
    ctr__shape_channels(&l->in, &outer, &g.c, &g.inner);
    g.slice = g.c * g.inner;
    g.size = outer * g.slice;
    g.groups = groups;
    g.rows = n / groups * outer;
    g.count = (float)(g.rows * g.inner);
    return g;
}

static float *bn_array(const ctr__layer_run *r, const bn_geom *g, int which, int64_t group)
{
    return r->cache + (group * BN_ARRAYS + which) * g->c;
}

/* The chunks' partial sums in the cache (inner 1). */
static float *bn_partials(const ctr__layer_run *r, const bn_geom *g)
{
    return r->cache + g->groups * BN_ARRAYS * g->c;
}

static int64_t bn_chunk_count(const bn_geom *g)
{
    return (g->rows + BN_CHUNK_ROWS - 1) / BN_CHUNK_ROWS;
}

/* Rows [*s0, *s1) of chunk k. */
static void bn_chunk_range(const bn_geom *g, int64_t k, int64_t *s0, int64_t *s1)
{
    *s0 = k * BN_CHUNK_ROWS;
    *s1 = *s0 + BN_CHUNK_ROWS < g->rows ? *s0 + BN_CHUNK_ROWS : g->rows;
}

/* acc[j] += part[k][j] for the chunks k in order (part: `chunks` rows of
 * `stride` floats). */
static void bn_add_partials(float *restrict acc, const float *restrict part, int64_t chunks,
                            int64_t stride, int64_t c)
{
    int64_t k, j;
    for (k = 0; k < chunks; k++) {
        const float *restrict pk = part + k * stride;
        CTR__VEC_FOR(j, c, acc[j] += pk[j]);
    }
}

/* Channels are reduced from the chunks' partial sums in blocks of this
 * many, one block per iteration of a split loop. */
#define BN_CHANNEL_BLOCK 64

static int64_t bn_channel_blocks(const bn_geom *g)
{
    return (g->c + BN_CHANNEL_BLOCK - 1) / BN_CHANNEL_BLOCK;
}

/* Channels [*j0, *j0 + *w) of block b. */
static void bn_channel_range(const bn_geom *g, int64_t b, int64_t *j0, int64_t *w)
{
    *j0 = b * BN_CHANNEL_BLOCK;
    *w = g->c - *j0 < BN_CHANNEL_BLOCK ? g->c - *j0 : BN_CHANNEL_BLOCK;
}

/* acc[j] = 0 + part[k][j] for the chunks k in order (part: rows of
 * `stride` floats) over channel block b, whose channels go to *j0, *w. */
static void bn_reduce_block(float *restrict acc, const float *restrict part, int64_t stride,
                            const bn_geom *g, int64_t b, int64_t *j0, int64_t *w)
{
    bn_channel_range(g, b, j0, w);
    memset(acc + *j0, 0, (size_t)*w * sizeof(float));
    bn_add_partials(acc + *j0, part + *j0, bn_chunk_count(g), stride, *w);
}

/* bn_reduce_block over every channel block, the blocks split over the
 * threads of the caller's region (CTR__FOR, parallel.h). */
static void bn_rows_reduce(float *restrict acc, const float *restrict part, int64_t stride,
                           const bn_geom *g)
{
    int64_t b;
    CTR__FOR
    for (b = 0; b < bn_channel_blocks(g); b++) {
        int64_t j0, w;
        bn_reduce_block(acc, part, stride, g, b, &j0, &w);
    }
}

/* Chunk k's rows to *s0, *s1, and its partial sum (part + k * stride)
 * zeroed over `width` floats and returned. */
static float *bn_chunk_start(float *part, int64_t stride, int64_t width, const bn_geom *g,
                             int64_t k, int64_t *s0, int64_t *s1)
{
    float *a = part + k * stride;
    bn_chunk_range(g, k, s0, s1);
    memset(a, 0, (size_t)width * sizeof(float));
    return a;
}

/* Rows of one value per channel (inner 1): each chunk of BN_CHUNK_ROWS
 * rows' sum of (x - center[j])^p, p = 1 (center NULL) or 2, in row order
 * into its partial sum (part + k * c), the chunks split over the threads
 * of the caller's region (CTR__FOR) and read as whole rows. */
static void bn_rows_chunk_sums(float *restrict part, const float *restrict x,
                               const float *restrict center, const bn_geom *g)
{
    int64_t k;
    CTR__FOR
    for (k = 0; k < bn_chunk_count(g); k++) {
        int64_t s0, s1, s, j;
        float *restrict a = bn_chunk_start(part, g->c, g->c, g, k, &s0, &s1);
        for (s = s0; s < s1; s++) {
            const float *restrict xs = x + s * g->slice;
            if (center == NULL) {
                CTR__VEC_FOR(j, g->c, a[j] += xs[j]);
            } else {
                CTR__VEC_FOR(j, g->c, a[j] += (xs[j] - center[j]) * (xs[j] - center[j]));
            }
        }
    }
}

/* acc[j] = the sum over the group's rows of (x - center[j])^p (inner 1):
 * the chunks' partial sums added in chunk order, so the result does not
 * depend on the thread count. */
static void bn_rows_accumulate(float *restrict acc, float *restrict part,
                               const float *restrict x, const float *restrict center,
                               const bn_geom *g)
{
    CTR__PARALLEL_REGION(g->rows * g->c)
    {
        bn_rows_chunk_sums(part, x, center, g);
        bn_rows_reduce(acc, part, g->c, g);
    }
}

/* acc[j] += sum over the group's rows and inner values of (x - center[j])^p,
 * p = 1 (center NULL) or 2, for channel j (inner > 1). Images are split
 * over threads by channel (parallel.h): each channel's sum is taken by one
 * thread, over the rows in order, so it does not depend on the thread
 * count. */
static void bn_accumulate_channel(float *restrict acc, const float *restrict x,
                                  const float *restrict center, const bn_geom *g, int64_t j)
{
    int64_t s;
    for (s = 0; s < g->rows; s++) {
        const float *xj = x + s * g->slice + j * g->inner;
        acc[j] += center == NULL ? ctr__sum(xj, g->inner)
                                 : ctr__sum_sq_dev(xj, center[j], g->inner);
    }
}

static void bn_accumulate(float *restrict acc, float *restrict part, const float *restrict x,
                          const float *restrict center, const bn_geom *g)
{
    int64_t j;
    if (g->inner == 1) {
        bn_rows_accumulate(acc, part, x, center, g);
        return;
    }
    CTR__PARALLEL_FOR(g->rows * g->slice)
    for (j = 0; j < g->c; j++)
        bn_accumulate_channel(acc, x, center, g, j);
}

/* z = max(y, 0) (the fused ReLU's output: layer_act.c's expression). */
static void relu_copy(float *restrict z, const float *restrict y, int64_t n)
{
    int64_t i;
    CTR__VEC_FOR(i, n, z[i] = y[i] > 0.0f ? y[i] : 0.0f);
}

/* The fused train forward over one image plane: z = max(y, 0) with y
 * bn_apply's train-mode expression, y kept in registers (not written).
 * pool not NULL: *pool = the plane's mean of z, summed in ctr__sum's lanes
 * and order (the global average pool's bits: z is never -0, so the lanes
 * ctr__sum starts at +0 give the same sums), z not written. */
static void bn_apply_relu_plane(float *restrict z, float *restrict pool, const float *restrict x,
                                float m, float is, float sc, float sh, int64_t n)
{
    float lane[CTR__VEC_BLOCK] = {0};
    int64_t b, j;
    if (pool == NULL) {
        CTR__VEC_FOR(b, n, float v = ((x[b] - m) * is) * sc + sh; z[b] = v > 0.0f ? v : 0.0f);
        return;
    }
    for (b = 0; b + CTR__VEC_BLOCK <= n; b += CTR__VEC_BLOCK)
        for (j = 0; j < CTR__VEC_BLOCK; j++) {
            float v = ((x[b + j] - m) * is) * sc + sh;
            lane[j] += v > 0.0f ? v : 0.0f;
        }
    for (j = 0; b + j < n; j++) {
        float v = ((x[b + j] - m) * is) * sc + sh;
        lane[j] += v > 0.0f ? v : 0.0f;
    }
    *pool = ctr__lane_array_total(lane) / (float)n;
}

/* y = x * scale + shift per channel; with mean and invstd (train mode),
 * y = xhat * scale + shift with xhat = (x - mean) * invstd, scale = gamma.
 * z (not NULL: a fused ReLU's output) = max(y, 0). y NULL (train mode):
 * z only (bn_fused_output recomputes y), or with pool (not NULL, image
 * planes, c values) the planes' means of max(y, 0) only. */
static void bn_apply(float *restrict y, float *restrict z, float *restrict pool,
                     const float *restrict x, const float *restrict mean,
                     const float *restrict invstd, const float *restrict scale,
                     const float *restrict shift, const bn_geom *g)
{
    int64_t j, b;
    if (g->inner == 1 && y == NULL) { /* train mode, fused: z only */
        CTR__VEC_FOR(j, g->c, float v = ((x[j] - mean[j]) * invstd[j]) * scale[j] + shift[j];
                     z[j] = v > 0.0f ? v : 0.0f);
        return;
    }
    if (g->inner == 1 && mean != NULL) {
        CTR__VEC_FOR(j, g->c, y[j] = ((x[j] - mean[j]) * invstd[j]) * scale[j] + shift[j]);
    } else if (g->inner == 1) {
        CTR__VEC_FOR(j, g->c, y[j] = x[j] * scale[j] + shift[j]);
    }
    if (g->inner == 1) {
        if (z != NULL)
            relu_copy(z, y, g->c);
        return;
    }
    for (j = 0; j < g->c; j++) {
        const float *restrict xj = x + j * g->inner;
        float *restrict yj;
        float sc = scale[j], sh = shift[j];
        if (y == NULL) {
            bn_apply_relu_plane(z != NULL ? z + j * g->inner : NULL,
                                pool != NULL ? pool + j : NULL, xj, mean[j], invstd[j], sc, sh,
                                g->inner);
            continue;
        }
        yj = y + j * g->inner;
        if (mean != NULL) {
            float m = mean[j], is = invstd[j];
            CTR__VEC_FOR(b, g->inner, yj[b] = ((xj[b] - m) * is) * sc + sh);
        } else {
            CTR__VEC_FOR(b, g->inner, yj[b] = xj[b] * sc + sh);
        }
        if (z != NULL) /* while the channel's values are in L1 */
            relu_copy(z + j * g->inner, yj, g->inner);
    }
}

/* Synchronised BN: buf[0..n) <- its sum over the ranks (nothing without a
 * communicator, or after a collective failed: the first failure is kept). */
static void bn_sync_sum(const ctr__layer_run *r, float *buf, int64_t n)
{
    int rc;
    if (r->sync == NULL || *r->sync_rc != CTR_OK)
        return;
    rc = ctr__comm_allreduce_f32(r->sync, buf, n, "synchronised batch norm");
    if (rc != CTR_OK)
        *r->sync_rc = rc;
}

/* mean[j] and sq[j] = sum of (x - mean[j])^2 over a group: a pass for the
 * sums, then one for the squared deviations; synchronised, each sum is
 * taken over every rank's batch (g->count is then the global count). */
static void bn_moments_two_pass(float *restrict mean, float *restrict sq,
                                const float *restrict x, const bn_geom *g,
                                const ctr__layer_run *r)
{
    float *part = bn_partials(r, g);
    int64_t j;
    memset(mean, 0, (size_t)g->c * sizeof(float));
    memset(sq, 0, (size_t)g->c * sizeof(float));
    bn_accumulate(mean, part, x, NULL, g);
    bn_sync_sum(r, mean, g->c);
    for (j = 0; j < g->c; j++)
        mean[j] /= g->count;
    bn_accumulate(sq, part, x, mean, g);
    bn_sync_sum(r, sq, g->c);
}

/* The geometry, with the global count when synchronised. */
static bn_geom bn_run_geometry(const ctr__layer *l, const ctr__layer_run *r)
{
    bn_geom g = bn_geometry(l, r->n, r->groups);
    if (r->sync != NULL)
        g.count *= (float)r->sync->size;
    return g;
}

/* The same in one pass over memory when a channel's values come in slices
 * of `inner` (images): each slice's sum, then its squared deviations from
 * its own mean m_s while it is in L1; the slices merge (bn_merge_*) exactly
 * as sq = sum_s sq_s + inner * sum_s (m_s - mean)^2, the last term taken
 * about the first slice's mean (shift) so that it does not cancel.
 * bn_channel_moments: one channel per call, over the rows in order (a
 * thread's share, parallel.h). */
typedef struct bn_merge {
    float inner, shift, sum_all, sq_all, d1, d2;
} bn_merge;

/* An empty merge, shifted by the first slice's mean (its sum / inner). */
static bn_merge bn_merge_start(const bn_geom *g, float first_sum)
{
    bn_merge a = {(float)g->inner, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    a.shift = first_sum / a.inner;
    return a;
}

/* One slice into the merge: its sum and the squared deviation of its
 * values from its own mean. */
static void bn_merge_slice(bn_merge *a, float sum, float sq_dev)
{
    float d = sum / a->inner - a->shift;
    a->sum_all += sum;
    a->sq_all += sq_dev;
    a->d1 += d;
    a->d2 += d * d;
}

static void bn_merge_finish(const bn_merge *a, const bn_geom *g, float *mean, float *sq)
{
    float between = a->d2 - a->d1 * a->d1 / (float)g->rows;
    *mean = a->sum_all / g->count;
    *sq = a->sq_all + a->inner * (between > 0.0f ? between : 0.0f);
}

static void bn_channel_moments(float *restrict mean, float *restrict sq,
                               const float *restrict x, const bn_geom *g, int64_t j)
{
    bn_merge a = bn_merge_start(g, ctr__sum(x + j * g->inner, g->inner));
    int64_t s;
    for (s = 0; s < g->rows; s++) {
        const float *xj = x + s * g->slice + j * g->inner;
        float sum = ctr__sum(xj, g->inner);
        bn_merge_slice(&a, sum, ctr__sum_sq_dev(xj, sum / a.inner, g->inner));
    }
    bn_merge_finish(&a, g, mean + j, sq + j);
}

static void bn_moments_by_slice(float *restrict mean, float *restrict sq,
                                const float *restrict x, const bn_geom *g)
{
    int64_t j;
    CTR__PARALLEL_FOR(g->rows * g->slice)
    for (j = 0; j < g->c; j++)
        bn_channel_moments(mean, sq, x, g, j);
}

/* bn_channel_moments of every channel from the slices' sums and squared
 * deviations that the layer before took while writing them
 * (ctr__layer_run.plane_stats, 2 floats per slice, slices in x's order):
 * the same float operations in the same order, without a pass over x. */
static void bn_moments_from_planes(float *restrict mean, float *restrict sq,
                                   const float *restrict planes, const bn_geom *g)
{
    int64_t j, s;
    for (j = 0; j < g->c; j++) {
        bn_merge a = bn_merge_start(g, planes[2 * j]);
        for (s = 0; s < g->rows; s++)
            bn_merge_slice(&a, planes[2 * (s * g->c + j)], planes[2 * (s * g->c + j) + 1]);
        bn_merge_finish(&a, g, mean + j, sq + j);
    }
}

/* bn_apply over the rows of a group (split over threads by rows). */
static void bn_apply_rows(float *y, float *z, float *pool, const float *x, const float *mean,
                          const float *invstd, const float *scale, const float *shift,
                          const bn_geom *g)
{
    int64_t s;
    CTR__PARALLEL_FOR(g->rows * g->slice)
    for (s = 0; s < g->rows; s++)
        bn_apply(y != NULL ? y + s * g->slice : NULL, z != NULL ? z + s * g->slice : NULL,
                 pool != NULL ? pool + s * g->c : NULL, x + s * g->slice, mean, invstd, scale,
                 shift, g);
}

/* Channels [j0, j0 + w) of group k after its moments: invstd from the
 * squared deviations (held in the invstd array), the scale and shift of
 * bn_apply, and the running statistics. */
static void bn_channel_stats(const ctr__layer *l, const ctr__layer_run *r, const bn_geom *g,
                             int64_t k, int64_t j0, int64_t w)
{
    float mom = (float)l->hf[1], eps = (float)l->hf[0];
    float *mean = bn_array(r, g, BN_MEAN, k), *is = bn_array(r, g, BN_INVSTD, k);
    float *scale = bn_array(r, g, BN_SCALE, k), *shift = bn_array(r, g, BN_SHIFT, k);
    int64_t j;
    for (j = j0; j < j0 + w; j++) {
        float sq = is[j];
        is[j] = 1.0f / sqrtf(sq / g->count + eps);
        scale[j] = l->hi[0] ? r->w[j] : 1.0f;
        shift[j] = l->hi[0] ? r->w[g->c + j] : 0.0f;
        /* running statistics move towards the mean over groups */
        if (k == 0) {
            r->stat[j] *= 1.0f - mom;
            r->stat[g->c + j] *= 1.0f - mom;
        }
        r->stat[j] += mom * mean[j] / (float)g->groups;
        r->stat[g->c + j] += mom * (sq / (g->count - 1.0f)) / (float)g->groups;
    }
}

/* bn_rows_mean: mean[j] = the partial sums of x added in chunk order,
 * / count; bn_rows_stats: the squared deviations' partial sums added in
 * chunk order, then bn_channel_stats. Both by channel blocks over the
 * threads of the caller's region. */
static void bn_rows_mean(float *restrict mean, const float *restrict part, const bn_geom *g)
{
    int64_t b;
    CTR__FOR
    for (b = 0; b < bn_channel_blocks(g); b++) {
        int64_t j0, w, j;
        bn_reduce_block(mean, part, g->c, g, b, &j0, &w);
        for (j = j0; j < j0 + w; j++)
            mean[j] /= g->count;
    }
}

static void bn_rows_stats(const ctr__layer *l, const ctr__layer_run *r, const bn_geom *g,
                          int64_t k)
{
    float *sq = bn_array(r, g, BN_INVSTD, k);
    const float *part = bn_partials(r, g);
    int64_t b;
    CTR__FOR
    for (b = 0; b < bn_channel_blocks(g); b++) {
        int64_t j0, w;
        bn_reduce_block(sq, part, g->c, g, b, &j0, &w);
        bn_channel_stats(l, r, g, k, j0, w);
    }
}

/* The train forward of group k over rows of one value per channel
 * (inner 1, not synchronised) in one parallel region: the sums, the
 * squared deviations, the statistics and the apply (+ ReLU) as split
 * loops with a barrier between them (the float operations and order of
 * bn_moments_two_pass, the statistics loop and bn_apply_rows). */
static void bn_rows_forward_train(const ctr__layer *l, const ctr__layer_run *r,
                                  const bn_geom *g, int64_t k)
{
    const float *x = r->x + k * g->rows * g->slice;
    float *y = r->y + k * g->rows * g->slice;
    float *z = r->relu_y != NULL ? r->relu_y + k * g->rows * g->slice : NULL;
    float *mean = bn_array(r, g, BN_MEAN, k), *is = bn_array(r, g, BN_INVSTD, k);
    const float *scale = bn_array(r, g, BN_SCALE, k), *shift = bn_array(r, g, BN_SHIFT, k);
    float *part = bn_partials(r, g);
    CTR__PARALLEL_REGION(g->rows * g->c)
    {
        int64_t s;
        bn_rows_chunk_sums(part, x, NULL, g);
        bn_rows_mean(mean, part, g);
        bn_rows_chunk_sums(part, x, mean, g);
        bn_rows_stats(l, r, g, k);
        CTR__FOR
        for (s = 0; s < g->rows; s++)
            bn_apply(z != NULL ? NULL : y + s * g->slice, z != NULL ? z + s * g->slice : NULL,
                     NULL, x + s * g->slice, mean, is, scale, shift, g);
    }
}

static void bn_forward_train(const ctr__layer *l, const ctr__layer_run *r)
{
    bn_geom g = bn_run_geometry(l, r);
    int64_t k;
    for (k = 0; k < g.groups; k++) {
        const float *x = r->x + k * g.rows * g.slice;
        float *mean = bn_array(r, &g, BN_MEAN, k), *is = bn_array(r, &g, BN_INVSTD, k);
        float *scale = bn_array(r, &g, BN_SCALE, k), *shift = bn_array(r, &g, BN_SHIFT, k);
        if (g.inner == 1 && r->sync == NULL) {
            bn_rows_forward_train(l, r, &g, k);
            continue;
        }
        if (g.inner == 1 || r->sync != NULL)
            bn_moments_two_pass(mean, is, x, &g, r);
        else if (r->plane_stats != NULL) /* slices are rows (images: outer 1) */
            bn_moments_from_planes(mean, is, r->plane_stats + 2 * k * g.rows * g.c, &g);
        else
            bn_moments_by_slice(mean, is, x, &g);
        bn_channel_stats(l, r, &g, k, 0, g.c);
        if (r->skip_output && g.inner > 1) /* the next layer reads through */
            continue;
        /* fused over image planes: the ReLU's output only, or the pool's
         * (layer.h) */
        bn_apply_rows(r->relu_y != NULL ? NULL : r->y + k * g.rows * g.slice,
                      r->relu_y != NULL && r->pool_y == NULL ? r->relu_y + k * g.rows * g.slice
                                                            : NULL,
                      r->pool_y != NULL ? r->pool_y + k * g.rows * g.c : NULL, x, mean, is,
                      scale, shift, &g);
    }
}

/* ops->fused_output: recomputed by groups with the train forward's cached
 * statistics, scale and shift (bn_apply's expression: the bits the
 * forward kept in registers; it wrote the ReLU's output only). */
static void bn_fused_output(const ctr__layer *l, const ctr__layer_run *r, float *out, int relu)
{
    bn_geom g = bn_geometry(l, r->n, r->groups);
    int64_t k;
    for (k = 0; k < g.groups; k++) {
        int64_t first = k * g.rows * g.slice;
        bn_apply_rows(relu ? NULL : out + first, relu ? out + first : NULL, NULL, r->x + first,
                      bn_array(r, &g, BN_MEAN, k),
                      bn_array(r, &g, BN_INVSTD, k), bn_array(r, &g, BN_SCALE, k),
                      bn_array(r, &g, BN_SHIFT, k), &g);
    }
}

/* ops->relu_input: the cached statistics, scale and shift of the last
 * train forward, by groups. */
static void bn_relu_input(const ctr__layer *l, const ctr__layer_run *r, ctr__bn_relu_in *in)
{
    bn_geom g = bn_geometry(l, r->n, r->groups);
    in->mean = bn_array(r, &g, BN_MEAN, 0);
    in->invstd = bn_array(r, &g, BN_INVSTD, 0);
    in->scale = bn_array(r, &g, BN_SCALE, 0);
    in->shift = bn_array(r, &g, BN_SHIFT, 0);
    in->group_stride = BN_ARRAYS * g.c;
    in->group_samples = r->n / r->groups;
}

static void bn_forward_eval(const ctr__layer *l, const ctr__layer_run *r)
{
    bn_geom g = bn_geometry(l, r->n, 1);
    float *scale = bn_array(r, &g, BN_SCALE, 0), *shift = bn_array(r, &g, BN_SHIFT, 0);
    int64_t j;
    for (j = 0; j < g.c; j++) {
        float is = 1.0f / sqrtf(r->stat[g.c + j] + (float)l->hf[0]);
        float ga = l->hi[0] ? r->w[j] : 1.0f, be = l->hi[0] ? r->w[g.c + j] : 0.0f;
        scale[j] = ga * is;
        shift[j] = be - r->stat[j] * ga * is;
    }
    bn_apply_rows(r->y, r->relu_y, NULL, r->x, NULL, NULL, scale, shift, &g);
}

static void bn_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    if (r->train)
        bn_forward_train(l, r);
    else
        bn_forward_eval(l, r);
}

/* sum of dy[b] * xhat[b], xhat = (x - m) * is, in CTR__VEC_BLOCK lanes. */
static float dot_normalised(const float *restrict dy, const float *restrict x, float m,
                            float is, int64_t n)
{
    float lane[CTR__VEC_BLOCK] = {0}, s = 0.0f;
    int64_t b, j;
    for (b = 0; b + CTR__VEC_BLOCK <= n; b += CTR__VEC_BLOCK)
        for (j = 0; j < CTR__VEC_BLOCK; j++)
            lane[j] += dy[b + j] * ((x[b + j] - m) * is);
    for (j = 0; b + j < n; j++)
        lane[j] += dy[b + j] * ((x[b + j] - m) * is);
    for (j = 0; j < CTR__VEC_BLOCK; j++)
        s += lane[j];
    return s;
}

/* The fused ReLU's gradient, from xhat = (x - m) * is and the batch
 * norm's output xhat * sc + sh recomputed with bn_apply's train-mode
 * expression (the bits the forward wrote): d where that output is > 0,
 * which is where the ReLU's output is > 0 (layer_act.c's test, d where
 * the output m > 0, else 0), so the ReLU's output is not read. */
static inline float bn_masked_h(float d, float h, float sc, float sh)
{
    return h * sc + sh > 0.0f ? d : 0.0f;
}

/* ctr__sum and dot_normalised of the masked dy of one image plane in one
 * loop, with the same lanes and order (the same bits as the ReLU's dx
 * summed apart); sc, sh the channel's forward scale and shift. */
static void masked_sums(const float *restrict dy, const float *restrict x, float m, float is,
                        float sc, float sh, int64_t n, float *sum, float *dot)
{
    float ls[CTR__VEC_BLOCK] = {0}, ld[CTR__VEC_BLOCK] = {0}, s = 0.0f, t = 0.0f;
    int64_t b, j;
    for (b = 0; b + CTR__VEC_BLOCK <= n; b += CTR__VEC_BLOCK)
        for (j = 0; j < CTR__VEC_BLOCK; j++) {
            float h = (x[b + j] - m) * is, d = bn_masked_h(dy[b + j], h, sc, sh);
            ls[j] += d;
            ld[j] += d * h;
        }
    for (j = 0; b + j < n; j++) {
        float h = (x[b + j] - m) * is, d = bn_masked_h(dy[b + j], h, sc, sh);
        ls[j] += d;
        ld[j] += d * h;
    }
    for (j = 0; j < CTR__VEC_BLOCK; j++) {
        s += ls[j];
        t += ld[j];
    }
    *sum += s;
    *dot += t;
}

/* masked_sums of a plane whose dy is d everywhere (the global average
 * pool's gradient, layer.h's pool_dy): the same lanes and order, so the
 * bits of masked_sums over the pool's dx plane. */
static void masked_sums_const(float dc, const float *restrict x, float m, float is, float sc,
                              float sh, int64_t n, float *sum, float *dot)
{
    float ls[CTR__VEC_BLOCK] = {0}, ld[CTR__VEC_BLOCK] = {0};
    int64_t b, j;
    for (b = 0; b + CTR__VEC_BLOCK <= n; b += CTR__VEC_BLOCK)
        for (j = 0; j < CTR__VEC_BLOCK; j++) {
            float h = (x[b + j] - m) * is, d = bn_masked_h(dc, h, sc, sh);
            ls[j] += d;
            ld[j] += d * h;
        }
    for (j = 0; b + j < n; j++) {
        float h = (x[b + j] - m) * is, d = bn_masked_h(dc, h, sc, sh);
        ls[j] += d;
        ld[j] += d * h;
    }
    *sum += ctr__lane_array_total(ls);
    *dot += ctr__lane_array_total(ld);
}

/* The per-channel arrays of the backward: the statistics, the forward's
 * scale and shift, k and the sums over the group. */
typedef struct bn_grad_coef {
    const float *mean, *is, *scale, *shift, *k, *sdy, *sdh;
    const float *pool_dy; /* the group's pool_dy (layer.h), or NULL */
} bn_grad_coef;

/* The backward's per-channel arrays of group k. */
static bn_grad_coef bn_coef(const ctr__layer_run *r, const bn_geom *g, int64_t k)
{
    bn_grad_coef c;
    c.mean = bn_array(r, g, BN_MEAN, k), c.is = bn_array(r, g, BN_INVSTD, k);
    c.k = bn_array(r, g, BN_K, k);
    c.sdy = bn_array(r, g, BN_SUM_DY, k), c.sdh = bn_array(r, g, BN_SUM_DYH, k);
    c.scale = bn_array(r, g, BN_SCALE, k), c.shift = bn_array(r, g, BN_SHIFT, k);
    c.pool_dy = r->pool_dy != NULL ? r->pool_dy + k * g->rows * g->c : NULL;
    return c;
}

/* Rows of one value per channel (inner 1): sdy, sdh over the c channels
 * of one row; fused (the mask not NULL): dy masked by the fused ReLU,
 * found from the batch norm's output recomputed from x (bn_masked_h, as
 * the image planes), so that the ReLU's output is not read. */
static void bn_row_sums(float *restrict a, float *restrict e, const float *restrict d,
                        int fused, const float *restrict xs, const bn_grad_coef *c,
                        int64_t n)
{
    const float *restrict m = c->mean, *restrict v = c->is;
    const float *restrict sc = c->scale, *restrict sh = c->shift;
    int64_t j;
    if (!fused) {
        CTR__VEC_FOR(j, n, a[j] += d[j]; e[j] += d[j] * ((xs[j] - m[j]) * v[j]));
    } else {
        CTR__VEC_FOR(j, n, float h = (xs[j] - m[j]) * v[j];
                     float dd = bn_masked_h(d[j], h, sc[j], sh[j]); a[j] += dd;
                     e[j] += dd * h);
    }
}

/* sdy[j] += sum dy, sdh[j] += sum dy * xhat over the group's rows and
 * inner values of channel j (inner > 1: one thread's share, as
 * bn_accumulate_channel); dy masked by the fused ReLU when mask is not
 * NULL (recomputed from x, masked_sums). */
static void bn_backward_sums_channel(float *restrict sdy, float *restrict sdh,
                                     const float *restrict dy, const float *restrict mask,
                                     const float *restrict x, const bn_grad_coef *c,
                                     const bn_geom *g, int64_t j)
{
    float m = c->mean[j], is = c->is[j];
    int64_t s;
    for (s = 0; s < g->rows; s++) {
        int64_t at = s * g->slice + j * g->inner;
        if (c->pool_dy != NULL) { /* the pool's dx plane: its dy / (H * W) */
            masked_sums_const(c->pool_dy[s * g->c + j] / (float)g->inner, x + at, m, is,
                              c->scale[j], c->shift[j], g->inner, &sdy[j], &sdh[j]);
            continue;
        }
        if (mask != NULL) {
            masked_sums(dy + at, x + at, m, is, c->scale[j], c->shift[j], g->inner, &sdy[j],
                        &sdh[j]);
            continue;
        }
        sdy[j] += ctr__sum(dy + at, g->inner);
        sdh[j] += dot_normalised(dy + at, x + at, m, is, g->inner);
    }
}

/* The same for rows of one value per channel (inner 1), by chunks of rows
 * as bn_rows_chunk_sums: each chunk's sums of dy and dy * xhat in row
 * order into its partial sums (2 x c), chunks split over the threads of
 * the caller's region. */
static void bn_rows_grad_chunks(float *part, const float *dy, int fused, const float *x,
                                const bn_grad_coef *c, const bn_geom *g)
{
    int64_t k;
    CTR__FOR
    for (k = 0; k < bn_chunk_count(g); k++) {
        int64_t s0, s1, s;
        float *a = bn_chunk_start(part, 2 * g->c, 2 * g->c, g, k, &s0, &s1), *e = a + g->c;
        for (s = s0; s < s1; s++)
            bn_row_sums(a, e, dy + s * g->slice, fused, x + s * g->slice, c, g->c);
    }
}

/* sdy, sdh (zeroed by the caller) += the chunks' partial sums in chunk
 * order (the result does not depend on the thread count). */
static void bn_rows_backward_sums(float *sdy, float *sdh, float *part, const float *dy,
                                  const float *mask, const float *x, const bn_grad_coef *c,
                                  const bn_geom *g)
{
    CTR__PARALLEL_REGION(3 * g->rows * g->c)
    {
        bn_rows_grad_chunks(part, dy, mask != NULL, x, c, g);
        bn_rows_reduce(sdy, part, 2 * g->c, g);
        bn_rows_reduce(sdh, part + g->c, 2 * g->c, g);
    }
}

/* ops->plane_grad_sums, for the fused ReLU's gradient (the only use:
 * encoder_run.c's read_through): bn_backward_sums_channel's masked sums
 * of one plane from +0 (added to a running sum that starts at +0 they
 * give its bits). */
static void bn_plane_grad_sums(const ctr__layer *l, const ctr__layer_run *r, const float *dy,
                               int64_t i, int64_t j, float *out)
{
    bn_geom g = bn_run_geometry(l, r);
    bn_grad_coef c = bn_coef(r, &g, i / g.rows);
    out[0] = out[1] = 0.0f;
    masked_sums(dy, r->x + i * g.slice + j * g.inner, c.mean[j], c.is[j], c.scale[j],
                c.shift[j], g.inner, &out[0], &out[1]);
}

/* sdy, sdh (zeroed by the caller) += the planes' sums of group k
 * (ctr__layer_run.grad_stats), rows in order. */
static void bn_sums_from_planes(float *sdy, float *sdh, const float *planes, const bn_geom *g,
                                int64_t k)
{
    int64_t j, s;
    planes += 2 * k * g->rows * g->c;
    for (j = 0; j < g->c; j++)
        for (s = 0; s < g->rows; s++) {
            sdy[j] += planes[2 * (s * g->c + j)];
            sdh[j] += planes[2 * (s * g->c + j) + 1];
        }
}

static void bn_backward_sums(float *sdy, float *sdh, float *part, const float *dy,
                             const float *mask, const float *x, const bn_grad_coef *c,
                             const bn_geom *g)
{
    int64_t j;
    if (g->inner == 1) {
        bn_rows_backward_sums(sdy, sdh, part, dy, mask, x, c, g);
        return;
    }
    CTR__PARALLEL_FOR(2 * g->rows * g->slice)
    for (j = 0; j < g->c; j++)
        bn_backward_sums_channel(sdy, sdh, dy, mask, x, c, g, j);
}

/* bn_input_grad over the plane of channel j (inner > 1): dxj, dyj, xj
 * its values, pdy the row's pool_dy or NULL, masked: a fused ReLU. */
static void bn_plane_input_grad(float *restrict dxj, const float *restrict dyj,
                                const float *restrict pdy, int masked,
                                const float *restrict xj, const bn_grad_coef *c,
                                const bn_geom *g, int64_t j)
{
    float kj = c->k[j], a = c->sdy[j], e = c->sdh[j], m = c->mean[j], s = c->is[j];
    float sc = c->scale[j], sh = c->shift[j], count = g->count;
    int64_t b;
    if (pdy != NULL) {
        float d = pdy[j] / (float)g->inner;
        CTR__VEC_FOR(b, g->inner, float h = (xj[b] - m) * s;
                     dxj[b] = kj * (count * bn_masked_h(d, h, sc, sh) - a - h * e));
    } else if (!masked) {
        CTR__VEC_FOR(b, g->inner, dxj[b] = kj * (count * dyj[b] - a - ((xj[b] - m) * s) * e));
    } else {
        CTR__VEC_FOR(b, g->inner, float h = (xj[b] - m) * s;
                     dxj[b] = kj * (count * bn_masked_h(dyj[b], h, sc, sh) - a - h * e));
    }
}

/* dx = k * (count * dy - sdy - xhat * sdh), k = gamma * invstd / count,
 * over one row; dy masked by the fused ReLU when mask is not NULL (by the
 * batch norm's output recomputed from x, bn_masked_h: the mask's values
 * are not read); pdy not NULL (the row's pool_dy, dy NULL): each plane's
 * dy is its pdy / (H * W). */
static void bn_input_grad(float *restrict dx, const float *restrict dy,
                          const float *restrict pdy, const float *restrict mask,
                          const float *restrict x, const bn_grad_coef *c, const bn_geom *g)
{
    const float *restrict mean = c->mean, *restrict is = c->is, *restrict k = c->k;
    const float *restrict sdy = c->sdy, *restrict sdh = c->sdh;
    float count = g->count;
    int64_t j;
    if (g->inner == 1 && mask == NULL) {
        CTR__VEC_FOR(j, g->c, dx[j] = k[j] * (count * dy[j] - sdy[j] -
                                               ((x[j] - mean[j]) * is[j]) * sdh[j]));
    } else if (g->inner == 1) {
        const float *restrict sc = c->scale, *restrict sh = c->shift;
        CTR__VEC_FOR(j, g->c, float h = (x[j] - mean[j]) * is[j];
                     dx[j] = k[j] * (count * bn_masked_h(dy[j], h, sc[j], sh[j]) - sdy[j] -
                                     h * sdh[j]));
    }
    for (j = 0; j < g->c && g->inner > 1; j++)
        bn_plane_input_grad(dx + j * g->inner, dy != NULL ? dy + j * g->inner : NULL, pdy,
                            mask != NULL, x + j * g->inner, c, g, j);
}

/* bn_input_grad over the rows of a group (split over threads by rows). */
static void bn_input_grad_rows(float *dx, const float *dy, const float *mask, const float *x,
                               const bn_grad_coef *c, const bn_geom *g)
{
    int64_t s;
    CTR__PARALLEL_FOR(3 * g->rows * g->slice)
    for (s = 0; s < g->rows; s++)
        bn_input_grad(dx + s * g->slice, dy != NULL ? dy + s * g->slice : NULL,
                      c->pool_dy != NULL ? c->pool_dy + s * g->c : NULL,
                      mask != NULL ? mask + s * g->slice : NULL, x + s * g->slice, c, g);
}

/* The input gradient's k over channels [j0, j0 + w): gamma * invstd /
 * count. */
static void bn_input_coef(const ctr__layer *l, const ctr__layer_run *r, const bn_geom *g,
                          const float *is, float *kk, int64_t j0, int64_t w)
{
    int64_t j;
    for (j = j0; j < j0 + w; j++)
        kk[j] = (l->hi[0] ? r->w[j] : 1.0f) * is[j] / g->count;
}

/* Channels [j0, j0 + w) after the sums: the affine parameters'
 * gradients and (want_k) the input gradient's k. */
static void bn_channel_grads(const ctr__layer *l, const ctr__layer_run *r, const bn_geom *g,
                             const bn_grad_coef *c, float *kk, int want_k, int64_t j0,
                             int64_t w)
{
    int64_t j;
    if (l->hi[0]) {
        for (j = j0; j < j0 + w; j++) {
            r->gw[j] += c->sdh[j];
            r->gw[g->c + j] += c->sdy[j];
        }
    }
    if (want_k)
        bn_input_coef(l, r, g, c->is, kk, j0, w);
}

/* The input gradient of group k (inner 1) by chunks of rows over the
 * threads of the caller's region, each chunk's column sums of dx into its
 * partial sum while its rows are in cache; then, by channel blocks,
 * dx_colsum[j] += the partial sums in chunk order (the same bits at any
 * thread count). The partial sums' space is free: the backward's sums
 * were reduced from it before the barrier. */
static void bn_rows_input_grad_colsum(const ctr__layer_run *r, const bn_geom *g,
                                      const bn_grad_coef *c, int64_t k)
{
    int64_t first = k * g->rows * g->slice, ch, b;
    float *part = bn_partials(r, g);
    const float *mask = r->relu_mask; /* a flag (bn_input_grad) */
    CTR__FOR
    for (ch = 0; ch < bn_chunk_count(g); ch++) {
        int64_t s0, s1, s;
        float *a = bn_chunk_start(part, g->c, g->c, g, ch, &s0, &s1);
        for (s = s0; s < s1; s++) {
            float *dx = r->dx + first + s * g->slice;
            bn_input_grad(dx, r->dy + first + s * g->slice, NULL, mask,
                          r->x + first + s * g->slice, c, g);
            bn_add_partials(a, dx, 1, g->c, g->c); /* restrict arguments: vectorised */
        }
    }
    CTR__FOR
    for (b = 0; b < bn_channel_blocks(g); b++) {
        int64_t j0, w;
        bn_channel_range(g, b, &j0, &w);
        bn_add_partials(r->dx_colsum + j0, part + j0, bn_chunk_count(g), g->c, w);
    }
}

/* The backward of group k over rows of one value per channel (inner 1,
 * not synchronised) in one parallel region: the chunks' sums, their
 * reduction with the parameters' gradients and k by channel blocks, the
 * input gradient by rows (the float operations and order of the passes
 * apart: bn_rows_backward_sums, bn_input_grad_rows). */
static void bn_rows_backward(const ctr__layer *l, const ctr__layer_run *r, const bn_geom *g,
                             const bn_grad_coef *c, int64_t k)
{
    int64_t first = k * g->rows * g->slice;
    const float *dy = r->dy + first, *x = r->x + first;
    float *part = bn_partials(r, g), *kk = bn_array(r, g, BN_K, k);
    float *sdy = bn_array(r, g, BN_SUM_DY, k), *sdh = bn_array(r, g, BN_SUM_DYH, k);
    int fused = r->relu_mask != NULL;
    CTR__PARALLEL_REGION(3 * g->rows * g->c)
    {
        int64_t b, s;
        bn_rows_grad_chunks(part, dy, fused, x, c, g);
        CTR__FOR
        for (b = 0; b < bn_channel_blocks(g); b++) {
            int64_t j0, w;
            bn_reduce_block(sdy, part, 2 * g->c, g, b, &j0, &w);
            bn_reduce_block(sdh, part + g->c, 2 * g->c, g, b, &j0, &w);
            bn_channel_grads(l, r, g, c, kk, r->dx != NULL, j0, w);
        }
        if (r->dx != NULL && r->dx_colsum == NULL) {
            CTR__FOR
            for (s = 0; s < g->rows; s++)
                bn_input_grad(r->dx + first + s * g->slice, dy + s * g->slice, NULL,
                              fused ? r->relu_mask : NULL, x + s * g->slice, c, g);
        } else if (r->dx != NULL) {
            bn_rows_input_grad_colsum(r, g, c, k);
        }
    }
}

/* ops->plane_dx: image planes (outer 1, so sample i is row i). */
static void bn_plane_dx(const ctr__layer *l, const ctr__layer_run *r, float *out, int64_t ld,
                        int64_t i, int64_t j, int64_t count)
{
    bn_geom g = bn_run_geometry(l, r);
    bn_grad_coef c = bn_coef(r, &g, i / g.rows);
    const float *pdy = r->pool_dy != NULL ? r->pool_dy + i * g.c : NULL;
    int64_t k;
    for (k = j; k < j + count; k++) {
        int64_t at = i * g.slice + k * g.inner;
        bn_plane_input_grad(out + (k - j) * ld, r->dy != NULL ? r->dy + at : NULL, pdy,
                            r->relu_mask != NULL, r->x + at, &c, &g, k);
    }
}

static void bn_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    bn_geom g = bn_run_geometry(l, r);
    int64_t k;
    for (k = 0; k < g.groups; k++) {
        int64_t first = k * g.rows * g.slice;
        bn_grad_coef c = bn_coef(r, &g, k);
        float *sdy = bn_array(r, &g, BN_SUM_DY, k), *sdh = bn_array(r, &g, BN_SUM_DYH, k);
        float *kk = bn_array(r, &g, BN_K, k);
        const float *mask = r->relu_mask != NULL ? r->relu_mask + first : NULL;
        const float *dy = r->dy != NULL ? r->dy + first : NULL; /* NULL: pool_dy */
        memset(sdy, 0, (size_t)g.c * sizeof(float));
        memset(sdh, 0, (size_t)g.c * sizeof(float));
        if (g.inner == 1 && r->sync == NULL) {
            bn_rows_backward(l, r, &g, &c, k);
            continue;
        }
        if (r->grad_stats != NULL && g.inner > 1) /* the layer after took them */
            bn_sums_from_planes(sdy, sdh, r->grad_stats, &g, k);
        else
            bn_backward_sums(sdy, sdh, bn_partials(r, &g), dy, mask, r->x + first, &c, &g);
        bn_channel_grads(l, r, &g, &c, kk, 0, 0, g.c);
        if (r->dx == NULL)
            continue;
        bn_sync_sum(r, sdy, 2 * g.c); /* sdy, sdh: adjacent arrays */
        bn_input_coef(l, r, &g, c.is, kk, 0, g.c);
        if (r->skip_dx && g.inner > 1) /* the layer before makes it (plane_dx) */
            continue;
        bn_input_grad_rows(r->dx + first, dy, mask, r->x + first, &c, &g);
        if (r->dx_colsum != NULL) /* rows (after a linear layer): inner 1 */
            ctr__add_rows(r->dx_colsum, r->dx + first, g.rows, g.slice);
    }
}

/* Listed in layer_registry.c. */
const ctr__layer_ops ctr__layer_batchnorm_ops = {
    .kind = CTR_LAYER_BATCHNORM,
    .fuses_relu = 1,
    .fuses_pool = 1,
    .takes_plane_stats = 1,
    .sums_dx = 1,
    .configure = bn_configure,
    .init = bn_init,
    .cache_floats = bn_cache_floats,
    .tensors = bn_tensors,
    .check_batch = bn_check_batch,
    .forward = bn_forward,
    .backward = bn_backward,
    .fused_output = bn_fused_output,
    .relu_input = bn_relu_input,
    .plane_dx = bn_plane_dx,
    .plane_grad_sums = bn_plane_grad_sums,
};

/* ---- layer norm ---------------------------------------------------------- */

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

/* One row of the forward: xhat to h, y, the row's invstd to *invstd. */
static void ln_row_forward(float *restrict y, float *restrict h, float *restrict invstd,
                           const float *restrict x, const ctr__layer *l, const float *w,
                           int64_t len)
{
    double mean = 0.0, var = 0.0;
    float m, is;
    int64_t j;
    for (j = 0; j < len; j++)
        mean += x[j];
    mean /= (double)len;
    for (j = 0; j < len; j++)
        var += (x[j] - mean) * (x[j] - mean);
    var /= (double)len;
    m = (float)mean;
    is = (float)(1.0 / sqrt(var + l->hf[0]));
    *invstd = is;
    for (j = 0; j < len; j++) {
        h[j] = (x[j] - m) * is;
        y[j] = l->hi[0] ? h[j] * w[j] + w[len + j] : h[j];
    }
}

/* Rows are independent: split over threads (parallel.h). */
static void ln_forward(const ctr__layer *l, const ctr__layer_run *r)
{
    int64_t rows, len, i;
    float *xhat, *invstd;
    ctr__shape_rows(&l->in, &rows, &len);
    rows *= r->n;
    xhat = r->cache;
    invstd = xhat + rows * len;
    CTR__PARALLEL_FOR(3 * rows * len)
    for (i = 0; i < rows; i++)
        ln_row_forward(r->y + i * len, xhat + i * len, invstd + i, r->x + i * len, l, r->w,
                       len);
}

/* The affine parameters' gradients over columns [j0, j1): gw[j] += dy h and
 * gw[len + j] += dy summed over the rows in order (one thread's share: the
 * same bits at any thread count). */
static void ln_param_grad_block(float *restrict gw, const float *restrict dy,
                                const float *restrict xhat, int64_t rows, int64_t len,
                                int64_t j0, int64_t j1)
{
    int64_t i, j;
    for (i = 0; i < rows; i++) {
        const float *restrict d = dy + i * len, *restrict h = xhat + i * len;
        for (j = j0; j < j1; j++) {
            gw[j] += d[j] * h[j];
            gw[len + j] += d[j];
        }
    }
}

#define LN_COLUMNS 64 /* columns per block of the parameter gradient */

static void ln_param_grad(float *gw, const float *dy, const float *xhat, int64_t rows,
                          int64_t len)
{
    int64_t b, blocks = (len + LN_COLUMNS - 1) / LN_COLUMNS;
    CTR__PARALLEL_FOR(2 * rows * len)
    for (b = 0; b < blocks; b++) {
        int64_t j0 = b * LN_COLUMNS, j1 = j0 + LN_COLUMNS < len ? j0 + LN_COLUMNS : len;
        ln_param_grad_block(gw, dy, xhat, rows, len, j0, j1);
    }
}

/* One row of the input gradient: dx = invstd (d - mean d - h mean(d h)),
 * d = dy * gamma. */
static void ln_row_input_grad(float *restrict dx, const float *restrict dy,
                              const float *restrict h, float invstd, const ctr__layer *l,
                              const float *w, int64_t len)
{
    float sd = 0.0f, sdh = 0.0f;
    int64_t j;
    for (j = 0; j < len; j++) {
        float d = l->hi[0] ? dy[j] * w[j] : dy[j];
        sd += d;
        sdh += d * h[j];
    }
    sd /= (float)len;
    sdh /= (float)len;
    for (j = 0; j < len; j++) {
        float d = l->hi[0] ? dy[j] * w[j] : dy[j];
        dx[j] = invstd * (d - sd - h[j] * sdh);
    }
}

static void ln_backward(const ctr__layer *l, const ctr__layer_run *r)
{
    int64_t rows, len, i;
    const float *xhat = r->cache, *invstd;
    ctr__shape_rows(&l->in, &rows, &len);
    rows *= r->n;
    invstd = xhat + rows * len;
    if (l->hi[0])
        ln_param_grad(r->gw, r->dy, xhat, rows, len);
    if (r->dx == NULL)
        return;
    CTR__PARALLEL_FOR(3 * rows * len)
    for (i = 0; i < rows; i++)
        ln_row_input_grad(r->dx + i * len, r->dy + i * len, xhat + i * len, invstd[i], l, r->w,
                          len);
}

/* Listed in layer_registry.c. */
const ctr__layer_ops ctr__layer_layernorm_ops = {
    .kind = CTR_LAYER_LAYERNORM,
    .configure = ln_configure,
    .init = ln_init,
    .cache_floats = ln_cache_floats,
    .tensors = ln_tensors,
    .forward = ln_forward,
    .backward = ln_backward,
};

CTR_API int ctr_encoder_add_batchnorm(ctr_encoder *enc, double eps,
                                      double momentum, int32_t affine)
{
    ctr__layer l = ctr__layer_template(&ctr__layer_batchnorm_ops);
    l.hi[0] = affine;
    l.hf[0] = eps;
    l.hf[1] = momentum;
    return ctr__encoder_add(enc, &l);
}

CTR_API int ctr_encoder_add_layernorm(ctr_encoder *enc, double eps,
                                      int32_t affine)
{
    ctr__layer l = ctr__layer_template(&ctr__layer_layernorm_ops);
    l.hi[0] = affine;
    l.hf[0] = eps;
    return ctr__encoder_add(enc, &l);
}
