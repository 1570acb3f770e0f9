/*
 * knn.c - weighted kNN classification (include/contrastive/knn.h documents
 * the protocol): blocked GEMM similarities, a bounded candidate buffer per
 * test row reduced by selection to the k best, exp(s / sigma) class votes.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "common/blas.h"
#include "common/core.h"
#include "common/params.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define DEFAULT_K 200
#define DEFAULT_SIGMA 0.07
#define DEFAULT_BLOCK_ROWS 512
#define DEFAULT_TILE_ROWS 1024

/* Candidate buffer per test row, in multiples of k (see scan_row). */
#define CAND_FACTOR 2

struct ctr_knn {
    ctr__alloc alloc;
    ctr__error err;
    int64_t k;
    int64_t metric;
    int64_t block_rows;
    int64_t tile_rows;
    double sigma;
    unsigned char *ws;
    size_t ws_bytes;
};

/* One classification problem, as the caller gave it. */
typedef struct knn_problem {
    const float *train;
    int64_t n_train, ld_train;
    const int64_t *train_labels;
    const float *test;
    int64_t n_test, ld_test;
    int64_t dim, n_classes;
} knn_problem;

/* Workspace carving: byte offsets of each array (64-byte aligned). */
typedef struct knn_layout {
    int64_t block, tile, k;
    size_t sims, xhat, yhat, cand_sim, cand_idx, cand_count, cand_thr;
    size_t votes, total;
} knn_layout;

CTR_API int ctr_knn_create(ctr_knn **out, const ctr_allocator *alloc)
{
    ctr__alloc a;
    ctr__error err;
    ctr_knn *knn;
    int rc = ctr__create_begin(&a, &err, alloc, out);
    if (rc != CTR_OK)
        return ctr__create_report(alloc, rc, "ctr_knn_create", &err);
    knn = (ctr_knn *)ctr__calloc(&a, sizeof(*knn));
    if (knn == NULL)
        return ctr__create_report(alloc, CTR_E_NOMEM, "ctr_knn_create", NULL);
    knn->alloc = a;
    knn->k = DEFAULT_K;
    knn->metric = CTR_KNN_COSINE;
    knn->block_rows = DEFAULT_BLOCK_ROWS;
    knn->tile_rows = DEFAULT_TILE_ROWS;
    knn->sigma = DEFAULT_SIGMA;
    *out = knn;
    return ctr__create_report(alloc, CTR_OK, "ctr_knn_create", NULL);
}

CTR_API void ctr_knn_destroy(ctr_knn *knn)
{
    if (knn != NULL) {
        ctr__alloc a = knn->alloc;
        ctr__free(&a, knn->ws, knn->ws_bytes);
        ctr__free(&a, knn, sizeof(*knn));
    }
}

/* ---- parameters ------------------------------------------------------------ */

CTR_API int ctr_knn_param_bounds(int32_t param, double *lo, double *hi)
{
    double l, h;
    switch (param) {
    case CTR_KNN_P_K: l = 1; h = 2147483647.0; break;
    case CTR_KNN_P_SIGMA: l = 1e-6; h = 1e6; break;
    case CTR_KNN_P_METRIC: l = CTR_KNN_COSINE; h = CTR_KNN_DOT; break;
    case CTR_KNN_P_BLOCK_ROWS: l = 1; h = 1048576.0; break;
    case CTR_KNN_P_TILE_ROWS: l = 1; h = 16777216.0; break;
    default: return CTR_E_INVALID_ARG;
    }
    if (lo == NULL || hi == NULL)
        return CTR_E_INVALID_ARG;
    *lo = l;
    *hi = h;
    return CTR_OK;
}

static int64_t *i64_param(ctr_knn *knn, int32_t param)
{
    switch (param) {
    case CTR_KNN_P_K: return &knn->k;
    case CTR_KNN_P_METRIC: return &knn->metric;
    case CTR_KNN_P_BLOCK_ROWS: return &knn->block_rows;
    case CTR_KNN_P_TILE_ROWS: return &knn->tile_rows;
    default: return NULL;
    }
}

#define GROUP "CTR_KNN_P_"

/* The parameter as common/params.h describes it (*out), or NULL. */
static const ctr__param *describe(int32_t param, ctr__param *out)
{
    out->id = param;
    out->is_int = param != CTR_KNN_P_SIGMA;
    out->read_only = param == CTR_KNN_P_WORKSPACE_BYTES;
    out->lo = 0.0;
    out->hi = 9.2e18;
    if (out->read_only)
        return out;
    return ctr_knn_param_bounds(param, &out->lo, &out->hi) == CTR_OK ? out
                                                                     : NULL;
}

static void store(ctr_knn *knn, const ctr__param *d, double v)
{
    if (d->is_int)
        *i64_param(knn, d->id) = (int64_t)v;
    else
        knn->sigma = v;
}

CTR_API int ctr_knn_set_i64(ctr_knn *knn, int32_t param, int64_t value)
{
    ctr__param d;
    const ctr__param *dp = describe(param, &d);
    double v;
    int rc;
    if (knn == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&knn->err);
    rc = ctr__param_set_i64(&knn->err, GROUP, param, dp, value, &v);
    if (rc == CTR_OK)
        store(knn, dp, v);
    return rc;
}

CTR_API int ctr_knn_set_f64(ctr_knn *knn, int32_t param, double value)
{
    ctr__param d;
    const ctr__param *dp = describe(param, &d);
    int rc;
    if (knn == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&knn->err);
    rc = ctr__param_set_f64(&knn->err, GROUP, param, dp, value);
    if (rc == CTR_OK)
        store(knn, dp, value);
    return rc;
}

/* The integer parameter's value (the workspace size included). */
static int64_t read_int(const ctr_knn *knn, int32_t param)
{
    if (param == CTR_KNN_P_WORKSPACE_BYTES)
        return (int64_t)knn->ws_bytes;
    return *i64_param((ctr_knn *)knn, param);
}

CTR_API int ctr_knn_get_i64(const ctr_knn *knn, int32_t param,
                            int64_t *value)
{
    ctr__param d;
    int rc;
    if (knn == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__param_get(&knn->err, GROUP, param, describe(param, &d),
                        value, 1);
    if (rc == CTR_OK)
        *value = read_int(knn, param);
    return rc;
}

CTR_API int ctr_knn_get_f64(const ctr_knn *knn, int32_t param,
                            double *value)
{
    ctr__param d;
    const ctr__param *dp = describe(param, &d);
    int rc;
    if (knn == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__param_get(&knn->err, GROUP, param, dp, value, 0);
    if (rc == CTR_OK)
        *value = dp->is_int ? (double)read_int(knn, param) : knn->sigma;
    return rc;
}

/* ---- workspace ------------------------------------------------------------- */

/* Reserves `count` elements of `elem` bytes at the end of the layout,
 * 64-byte aligned. Returns CTR_OK or CTR_E_OVERFLOW. */
static int reserve(size_t *total, size_t *offset, int64_t count, size_t elem)
{
    size_t bytes, end;
    if (ctr__mul_size(&bytes, (size_t)count, elem) != CTR_OK ||
        ctr__add_size(&bytes, bytes, CTR__ALIGN - 1) != CTR_OK)
        return CTR_E_OVERFLOW;
    bytes &= ~(size_t)(CTR__ALIGN - 1);
    if (ctr__add_size(&end, *total, bytes) != CTR_OK)
        return CTR_E_OVERFLOW;
    *offset = *total;
    *total = end;
    return CTR_OK;
}

static int plan(const ctr_knn *knn, int64_t n_train, int64_t n_test,
                int64_t dim, int64_t n_classes, knn_layout *l)
{
    int rc = CTR_OK;
    size_t cells;
    l->block = knn->block_rows < n_test ? knn->block_rows : n_test;
    l->tile = knn->tile_rows < n_train ? knn->tile_rows : n_train;
    l->k = knn->k < n_train ? knn->k : n_train;
    l->total = 0;
    if (ctr__mul_size(&cells, (size_t)l->block, (size_t)l->tile) != CTR_OK)
        return CTR_E_OVERFLOW;
    rc |= reserve(&l->total, &l->sims, (int64_t)cells, sizeof(float));
    if (ctr__mul_size(&cells, (size_t)l->block, (size_t)dim) != CTR_OK)
        return CTR_E_OVERFLOW;
    rc |= reserve(&l->total, &l->xhat, (int64_t)cells, sizeof(float));
    if (ctr__mul_size(&cells, (size_t)l->tile, (size_t)dim) != CTR_OK)
        return CTR_E_OVERFLOW;
    rc |= reserve(&l->total, &l->yhat, (int64_t)cells, sizeof(float));
    if (ctr__mul_size(&cells, (size_t)l->block, CAND_FACTOR * (size_t)l->k) != CTR_OK)
        return CTR_E_OVERFLOW;
    rc |= reserve(&l->total, &l->cand_sim, (int64_t)cells, sizeof(float));
    rc |= reserve(&l->total, &l->cand_idx, (int64_t)cells, sizeof(int64_t));
    rc |= reserve(&l->total, &l->cand_count, l->block, sizeof(int64_t));
    rc |= reserve(&l->total, &l->cand_thr, l->block, sizeof(float));
    rc |= reserve(&l->total, &l->votes, n_classes, sizeof(double));
    return rc != CTR_OK ? CTR_E_OVERFLOW : CTR_OK;
}

CTR_API int ctr_knn_workspace_size(const ctr_knn *knn, int64_t n_train,
                                   int64_t n_test, int64_t dim,
                                   int64_t n_classes, size_t *bytes)
{
    knn_layout l;
    int rc;
    if (knn == NULL)
        return CTR_E_INVALID_ARG;
    if (bytes == NULL || n_train < 1 || n_test < 1 || dim < 1 ||
        n_classes < 1)
        return ctr__const_fail(&knn->err, CTR_E_INVALID_ARG,
                               "bytes is NULL or a size is < 1");
    rc = plan(knn, n_train, n_test, dim, n_classes, &l);
    if (rc != CTR_OK)
        return ctr__const_fail(&knn->err, rc, "workspace size overflows");
    *bytes = l.total;
    return ctr__const_result(&knn->err, CTR_OK, NULL);
}

static int ensure_workspace(ctr_knn *knn, size_t bytes)
{
    unsigned char *ws;
    if (bytes <= knn->ws_bytes)
        return CTR_OK;
    ws = (unsigned char *)ctr__malloc(&knn->alloc, bytes);
    if (ws == NULL)
        return ctr__fail(&knn->err, CTR_E_NOMEM,
                         "cannot allocate %zu bytes of workspace", bytes);
    ctr__free(&knn->alloc, knn->ws, knn->ws_bytes);
    knn->ws = ws;
    knn->ws_bytes = bytes;
    return CTR_OK;
}

/* ||x||^2 in double, with four independent partial sums in a fixed order
 * (reproducible, and free of one long latency chain: this runs over every
 * training row once per test block). */
static double sq_norm(const float *x, int64_t dim)
{
    double p0 = 0.0, p1 = 0.0, p2 = 0.0, p3 = 0.0;
    int64_t j = 0;
    for (; j + 4 <= dim; j += 4) {
        p0 += (double)x[j] * x[j];
        p1 += (double)x[j + 1] * x[j + 1];
        p2 += (double)x[j + 2] * x[j + 2];
        p3 += (double)x[j + 3] * x[j + 3];
    }
    for (; j < dim; j++)
        p0 += (double)x[j] * x[j];
    return (p0 + p1) + (p2 + p3);
}

/* 1 / ||x|| in double (0 for a zero row). */
static double inv_norm(const float *x, int64_t dim)
{
    double sq = sq_norm(x, dim);
    return sq > 0.0 ? 1.0 / sqrt(sq) : 0.0;
}

/* ---- validation ------------------------------------------------------------ */

static int check_labels(ctr__error *e, const int64_t *labels, int64_t n,
                        int64_t n_classes, const char *what)
{
    int64_t i;
    for (i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= n_classes)
            return ctr__fail(e, CTR_E_INVALID_ARG,
                             "%s[%lld] = %lld is outside 0..%lld", what,
                             (long long)i, (long long)labels[i],
                             (long long)(n_classes - 1));
    return CTR_OK;
}

static int check_matrix(ctr__error *e, const float *x, int64_t rows,
                        int64_t ld, int64_t dim, const char *what)
{
    size_t bytes;
    if (x == NULL)
        return ctr__fail(e, CTR_E_INVALID_ARG, "%s is NULL", what);
    if (ld < dim)
        return ctr__fail(e, CTR_E_INVALID_ARG,
                         "ld of %s must be >= dim %lld (got %lld)", what,
                         (long long)dim, (long long)ld);
    if (ctr__matrix_bytes(&bytes, rows, ld, sizeof(float)) != CTR_OK)
        return ctr__fail(e, CTR_E_OVERFLOW, "%s: rows x ld overflows", what);
    return ctr__check_finite_matrix(e, x, rows, dim, ld, what);
}

/* The largest row norm of a rows x dim view, in double. */
static double max_norm(const float *x, int64_t rows, int64_t ld, int64_t dim)
{
    double best = 0.0;
    int64_t i;
    for (i = 0; i < rows; i++) {
        double sq = sq_norm(x + i * ld, dim);
        if (sq > best)
            best = sq;
    }
    return sqrt(best);
}

/* Dot products are bounded by the product of the norms (Cauchy-Schwarz,
 * for every partial sum too): refuse inputs whose similarities could
 * overflow float, which would make the neighbour order meaningless. */
static int check_dot_range(ctr_knn *knn, const knn_problem *p)
{
    double bound = max_norm(p->train, p->n_train, p->ld_train, p->dim) *
                   max_norm(p->test, p->n_test, p->ld_test, p->dim);
    if (bound > FLT_MAX / 4)
        return ctr__fail(&knn->err, CTR_E_NUMERIC,
                         "dot products may reach %g, beyond float range "
                         "(use the cosine metric or scale the features)",
                         bound);
    return CTR_OK;
}

static int check_problem(ctr_knn *knn, const knn_problem *p)
{
    ctr__error *e = &knn->err;
    int rc;
    if (p->n_train < 1 || p->n_test < 1 || p->dim < 1 || p->n_classes < 1)
        return ctr__fail(e, CTR_E_INVALID_ARG,
                         "n_train, n_test, dim and n_classes must be >= 1 "
                         "(got %lld, %lld, %lld, %lld)",
                         (long long)p->n_train, (long long)p->n_test,
                         (long long)p->dim, (long long)p->n_classes);
    if (p->train_labels == NULL)
        return ctr__fail(e, CTR_E_INVALID_ARG, "train_labels is NULL");
    rc = check_matrix(e, p->train, p->n_train, p->ld_train, p->dim, "train");
    if (rc == CTR_OK)
        rc = check_matrix(e, p->test, p->n_test, p->ld_test, p->dim, "test");
    if (rc == CTR_OK)
        rc = check_labels(e, p->train_labels, p->n_train, p->n_classes,
                          "train_labels");
    if (rc == CTR_OK && knn->metric == CTR_KNN_DOT)
        rc = check_dot_range(knn, p);
    return rc;
}

/* ---- the computation --------------------------------------------------------- */

/* y = x * s, rounded once from double (fixed-width chunks: vectorises). */
static void scale_row(float *restrict y, const float *restrict x, int64_t dim,
                      double s)
{
    int64_t j;
    int u;
    for (j = 0; j + 8 <= dim; j += 8)
        for (u = 0; u < 8; u++)
            y[j + u] = (float)((double)x[j + u] * s);
    for (; j < dim; j++)
        y[j] = (float)((double)x[j] * s);
}

/* Copies n rows of x (leading dimension ld) into y (row stride dim),
 * L2-normalised if `normalise`. The scaling is done in double precision,
 * so that a tiny row (whose inverse norm is not a float) still becomes a
 * unit vector and every similarity stays within [-1, 1] up to rounding. */
static void copy_rows(float *y, const float *x, int64_t ld, int64_t n,
                      int64_t dim, int normalise)
{
    int64_t i;
    for (i = 0; i < n; i++) {
        const float *xi = x + i * ld;
        float *yi = y + i * dim;
        if (normalise) {
            scale_row(yi, xi, dim, inv_norm(xi, dim));
        } else {
            memcpy(yi, xi, (size_t)dim * sizeof(float));
        }
    }
}

/* Candidate buffers. Each test row keeps up to CAND_FACTOR x k
 * (similarity, index) candidates above a threshold; when the buffer is
 * full, a selection keeps the k best and the threshold rises to the k-th
 * best similarity. The order is total (higher similarity first, then lower
 * training index), so the kept set is unique whatever the visiting order;
 * training indices arrive in increasing order, so a candidate equal to the
 * threshold loses its tie and is never needed. Amortised O(1) per
 * candidate, unlike a heap's O(log k) sift per replacement. */

/* a ranks before b (written without branches: it runs in the partition
 * loop, where a branch would be mispredicted half the time). */
static int better(float sa, int64_t ia, float sb, int64_t ib)
{
    return (sa > sb) | ((sa == sb) & (ia < ib));
}

static void swap_entries(float *cs, int64_t *ci, int64_t a, int64_t b)
{
    float s = cs[a];
    int64_t i = ci[a];
    cs[a] = cs[b];
    ci[a] = ci[b];
    cs[b] = s;
    ci[b] = i;
}

/* Moves the median of positions a, b, c (by rank) to position hi. */
static void pivot_to_end(float *cs, int64_t *ci, int64_t a, int64_t b,
                         int64_t c, int64_t hi)
{
    int64_t m;
    if (better(cs[a], ci[a], cs[b], ci[b]))
        m = better(cs[b], ci[b], cs[c], ci[c])   ? b
            : better(cs[a], ci[a], cs[c], ci[c]) ? c
                                                 : a;
    else
        m = better(cs[a], ci[a], cs[c], ci[c])   ? a
            : better(cs[b], ci[b], cs[c], ci[c]) ? c
                                                 : b;
    swap_entries(cs, ci, m, hi);
}

/* Reorders cs/ci[0..n) so that the k best (k < n) come first, the k-th
 * best at position k - 1 (quickselect, median-of-three pivots, branch-free
 * Lomuto partition: every element is swapped, the store index advances by
 * the comparison's result). */
static void select_best(float *cs, int64_t *ci, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t j, store = lo;
        float ps;
        int64_t pi;
        pivot_to_end(cs, ci, lo, lo + (hi - lo) / 2, hi, hi);
        ps = cs[hi];
        pi = ci[hi];
        for (j = lo; j < hi; j++) {
            float s = cs[j];
            int64_t i = ci[j];
            int b = better(s, i, ps, pi);
            cs[j] = cs[store];
            ci[j] = ci[store];
            cs[store] = s;
            ci[store] = i;
            store += b;
        }
        swap_entries(cs, ci, store, hi);
        if (store == k - 1)
            return;
        if (store > k - 1)
            hi = store - 1;
        else
            lo = store + 1;
    }
}

/* One test row's candidates: cs/ci hold CAND_FACTOR x k entries, *count
 * of them used, *thr the acceptance threshold. */
typedef struct candidates {
    float *cs;
    int64_t *ci;
    int64_t *count;
    float *thr;
    int64_t k;
} candidates;

static void accept(const candidates *cd, int64_t *n, float *th, float s,
                   int64_t index)
{
    cd->cs[*n] = s;
    cd->ci[*n] = index;
    if (++*n == CAND_FACTOR * cd->k) {
        select_best(cd->cs, cd->ci, *n, cd->k);
        *n = cd->k;
        *th = cd->cs[cd->k - 1];
    }
}

#define CHUNK 16

/* A bit per similarity of v[0..CHUNK) above th (bit u for v[u]). */
#if defined(__SSE2__)
static unsigned above_mask(const float *v, float th)
{
    const __m128 t = _mm_set1_ps(th);
    unsigned m0 = (unsigned)_mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(v), t));
    unsigned m1 = (unsigned)_mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(v + 4), t));
    unsigned m2 = (unsigned)_mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(v + 8), t));
    unsigned m3 = (unsigned)_mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(v + 12), t));
    return m0 | m1 << 4 | m2 << 8 | m3 << 12;
}
#else
static unsigned above_mask(const float *v, float th)
{
    unsigned m = 0;
    int u;
    for (u = 0; u < CHUNK; u++)
        m |= (unsigned)(v[u] > th) << u;
    return m;
}
#endif

/* Index of the lowest set bit of m (m != 0). */
static int lowest_bit(unsigned m)
{
#if defined(__GNUC__)
    return __builtin_ctz(m);
#else
    int u = 0;
    while (!(m & 1u)) {
        m >>= 1;
        u++;
    }
    return u;
#endif
}

/* Offers similarities row[0..t) of training rows first..first+t-1. Chunks
 * with no value above the threshold, the common case once it has risen,
 * cost one vector test; in the others only the bits set are visited (the
 * threshold may rise in between, hence the second test). */
static void scan_row(const candidates *cd, const float *row, int64_t t,
                     int64_t first)
{
    int64_t c = 0, n = *cd->count;
    float th = *cd->thr;
#if defined(__GNUC__)
    /* the buffers of the block's other rows were used since: fetch the
     * lines the next candidates go to while the scan runs */
    __builtin_prefetch(cd->cs + n, 1);
    __builtin_prefetch(cd->ci + n, 1);
#endif
    for (; c + CHUNK <= t; c += CHUNK) {
        unsigned m = above_mask(row + c, th);
        while (m != 0) {
            int u = lowest_bit(m);
            m &= m - 1;
            if (row[c + u] > th)
                accept(cd, &n, &th, row[c + u], first + c + u);
        }
    }
    for (; c < t; c++)
        if (row[c] > th)
            accept(cd, &n, &th, row[c], first + c);
    *cd->count = n;
    *cd->thr = th;
}

/* Weighted vote of one test row's n neighbours; returns the predicted
 * class and writes the vote shares if scores is not NULL. */
static int64_t vote(const float *cs, const int64_t *ci, int64_t n,
                    const knn_problem *p, double sigma, double *votes,
                    float *scores)
{
    double top = n > 0 ? cs[0] : 0.0, total = 0.0;
    int64_t i, c, best = 0;
    for (i = 1; i < n; i++)
        if (cs[i] > top)
            top = cs[i];
    memset(votes, 0, (size_t)p->n_classes * sizeof(double));
    for (i = 0; i < n; i++) {
        double w = exp(((double)cs[i] - top) / sigma);
        votes[p->train_labels[ci[i]]] += w;
        total += w;
    }
    for (c = 1; c < p->n_classes; c++)
        if (votes[c] > votes[best])
            best = c;
    if (scores != NULL)
        for (c = 0; c < p->n_classes; c++)
            scores[c] = total > 0.0 ? (float)(votes[c] / total) : 0.0f;
    return best;
}

/* The candidates of row r of the current block. */
static candidates row_candidates(const ctr_knn *knn, const knn_layout *l,
                                 int64_t r)
{
    candidates cd;
    cd.cs = (float *)(knn->ws + l->cand_sim) + r * CAND_FACTOR * l->k;
    cd.ci = (int64_t *)(knn->ws + l->cand_idx) + r * CAND_FACTOR * l->k;
    cd.count = (int64_t *)(knn->ws + l->cand_count) + r;
    cd.thr = (float *)(knn->ws + l->cand_thr) + r;
    cd.k = l->k;
    return cd;
}

/* ---- threshold seeding ----------------------------------------------------- *
 *
 * Almost all candidate work happens while the threshold is still low. A
 * block first meets a strided sample of the training rows (one extra small
 * GEMM); the g-th best sampled similarity of each test row is a guess of a
 * level that about SEED_SURVIVORS x k training rows reach. The scan then
 * accepts only similarities >= the guess. The result stays exact: if at
 * least k rows reached the guess, every row below it ranks behind k others
 * and cannot be a neighbour; a test row with fewer than k is recomputed
 * with no guess (rare: it needs the sample to be far from representative).
 */

#define SEED_SAMPLE_MAX 1024
#define SEED_SURVIVORS 4

/* The sample size and guess rank g for this problem, or 0 when seeding
 * would not pay (small training sets, k close to the training set). */
static int64_t seed_sample_rows(const knn_layout *l, int64_t n_train,
                                int64_t *rank)
{
    int64_t s = l->tile < SEED_SAMPLE_MAX ? l->tile : SEED_SAMPLE_MAX;
    double g;
    if (n_train / 8 < s)
        return 0;
    g = ceil((double)SEED_SURVIVORS * (double)l->k * (double)s /
             (double)n_train);
    if (g < 1.0 || g * 8.0 > (double)s)
        return 0;
    *rank = (int64_t)g;
    return s;
}

/* The g-th largest (1-based) of v[0..n), reordering v (quickselect with
 * a branch-free Lomuto partition: the comparisons are unpredictable). */
static float kth_largest(float *v, int64_t n, int64_t g)
{
    int64_t lo = 0, hi = n - 1, want = g - 1;
    while (lo < hi) {
        int64_t j, store = lo, mid = lo + (hi - lo) / 2;
        float pivot = v[mid];
        v[mid] = v[hi];
        v[hi] = pivot;
        for (j = lo; j < hi; j++) {
            float x = v[j];
            v[j] = v[store];
            v[store] = x;
            store += x > pivot;
        }
        v[hi] = v[store];
        v[store] = pivot;
        if (store == want)
            break;
        if (store > want)
            hi = store - 1;
        else
            lo = store + 1;
    }
    return v[want];
}

/* Sets each row's starting threshold: just below its guess when seeding,
 * else -inf. */
static void seed_thresholds(ctr_knn *knn, const knn_problem *p,
                            const knn_layout *l, int64_t b)
{
    const int cosine = knn->metric == CTR_KNN_COSINE;
    float *sims = (float *)(knn->ws + l->sims);
    float *xhat = (float *)(knn->ws + l->xhat);
    float *yhat = (float *)(knn->ws + l->yhat);
    int64_t rank = 0, s = seed_sample_rows(l, p->n_train, &rank), i, r;
    for (r = 0; r < b; r++) {
        candidates cd = row_candidates(knn, l, r);
        *cd.count = 0;
        *cd.thr = -INFINITY;
    }
    if (s == 0)
        return;
    for (i = 0; i < s; i++)
        copy_rows(yhat + i * p->dim,
                  p->train + i * (p->n_train / s) * p->ld_train, p->ld_train,
                  1, p->dim, cosine);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)s,
                (int)p->dim, 1.0f, xhat, (int)p->dim, yhat, (int)p->dim, 0.0f,
                sims, (int)s);
    for (r = 0; r < b; r++) {
        candidates cd = row_candidates(knn, l, r);
        *cd.thr = nextafterf(kth_largest(sims + r * s, s, rank), -INFINITY);
    }
}

/* ---- neighbours ---------------------------------------------------------- */

/* The candidate count of a row already voted for. */
#define DONE (-1)

/* Offers every training tile to the m test rows in xhat[0..m). Row q of
 * xhat belongs to candidate slot q, or with `slots_of_pending` to the
 * q-th slot among [0, b) whose count is not DONE. */
static void scan_tiles(ctr_knn *knn, const knn_problem *p,
                       const knn_layout *l, int64_t m, int64_t b,
                       int slots_of_pending)
{
    const int cosine = knn->metric == CTR_KNN_COSINE;
    float *sims = (float *)(knn->ws + l->sims);
    float *xhat = (float *)(knn->ws + l->xhat);
    float *yhat = (float *)(knn->ws + l->yhat);
    int64_t j0;
    for (j0 = 0; j0 < p->n_train; j0 += l->tile) {
        const int64_t t = p->n_train - j0 < l->tile ? p->n_train - j0 : l->tile;
        const float *tile = p->train + j0 * p->ld_train;
        int64_t ld_tile = p->ld_train, q, r = 0;
        if (cosine) {
            copy_rows(yhat, tile, p->ld_train, t, p->dim, 1);
            tile = yhat;
            ld_tile = p->dim;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)t,
                    (int)p->dim, 1.0f, xhat, (int)p->dim, tile, (int)ld_tile,
                    0.0f, sims, (int)t);
        for (q = 0; q < m; q++, r++) {
            candidates cd;
            if (slots_of_pending)
                while (r < b && *row_candidates(knn, l, r).count == DONE)
                    r++;
            cd = row_candidates(knn, l, slots_of_pending ? r : q);
            scan_row(&cd, sims + q * t, t, j0);
        }
    }
}

/* Cuts each pending candidate buffer of [0, b) to its k best (best
 * first). */
static void finish_rows(ctr_knn *knn, const knn_layout *l, int64_t b)
{
    int64_t r;
    for (r = 0; r < b; r++) {
        candidates cd = row_candidates(knn, l, r);
        if (*cd.count > l->k)
            select_best(cd.cs, cd.ci, *cd.count, l->k);
    }
}

/* Votes for row r of the block starting at i0 and marks it DONE. */
static int64_t vote_row(ctr_knn *knn, const knn_problem *p,
                        const knn_layout *l, int64_t i0, int64_t r,
                        int64_t *pred, float *scores,
                        const int64_t *test_labels)
{
    candidates cd = row_candidates(knn, l, r);
    int64_t i = i0 + r, y;
    y = vote(cd.cs, cd.ci, *cd.count < l->k ? *cd.count : l->k, p, knn->sigma,
             (double *)(knn->ws + l->votes),
             scores != NULL ? scores + i * p->n_classes : NULL);
    *cd.count = DONE;
    if (pred != NULL)
        pred[i] = y;
    return test_labels != NULL && y == test_labels[i];
}

/* Classifies test rows [i0, i0 + b); returns how many match test_labels. */
static int64_t classify_block(ctr_knn *knn, const knn_problem *p,
                              const knn_layout *l, int64_t i0, int64_t b,
                              int64_t *pred, float *scores,
                              const int64_t *test_labels)
{
    const int cosine = knn->metric == CTR_KNN_COSINE;
    float *xhat = (float *)(knn->ws + l->xhat);
    int64_t r, pending = 0, hits = 0;
    copy_rows(xhat, p->test + i0 * p->ld_test, p->ld_test, b, p->dim, cosine);
    seed_thresholds(knn, p, l, b);
    scan_tiles(knn, p, l, b, b, 0);
    finish_rows(knn, l, b);
    for (r = 0; r < b; r++) {
        candidates cd = row_candidates(knn, l, r);
        if (*cd.count >= l->k) {
            hits += vote_row(knn, p, l, i0, r, pred, scores, test_labels);
            continue;
        }
        /* the guess was too high: again without it, packed to the front */
        if (pending != r)
            memcpy(xhat + pending * p->dim, xhat + r * p->dim,
                   (size_t)p->dim * sizeof(float));
        pending++;
        *cd.count = 0;
        *cd.thr = -INFINITY;
    }
    if (pending == 0)
        return hits;
    scan_tiles(knn, p, l, pending, b, 1);
    finish_rows(knn, l, b);
    for (r = 0; r < b; r++)
        if (*row_candidates(knn, l, r).count != DONE)
            hits += vote_row(knn, p, l, i0, r, pred, scores, test_labels);
    return hits;
}

/* Classifies every test row; writes pred/scores if given and counts the
 * rows whose prediction equals test_labels (if given). */
static void run(ctr_knn *knn, const knn_problem *p, const knn_layout *l,
                int64_t *pred, float *scores, const int64_t *test_labels,
                int64_t *correct)
{
    int64_t i0, hits = 0;
    for (i0 = 0; i0 < p->n_test; i0 += l->block) {
        const int64_t b = p->n_test - i0 < l->block ? p->n_test - i0 : l->block;
        hits += classify_block(knn, p, l, i0, b, pred, scores, test_labels);
    }
    if (correct != NULL)
        *correct = hits;
}

/* Validation, workspace, then the computation (which cannot fail). */
static int classify(ctr_knn *knn, const knn_problem *p, int64_t *pred,
                    float *scores, const int64_t *test_labels,
                    int64_t *correct)
{
    knn_layout l;
    int rc = check_problem(knn, p);
    if (rc != CTR_OK)
        return rc;
    if (p->dim > INT32_MAX || p->ld_train > INT32_MAX ||
        p->ld_test > INT32_MAX)
        return ctr__fail(&knn->err, CTR_E_INVALID_ARG,
                         "dim and leading dimensions must fit the BLAS int");
    if (test_labels != NULL) {
        rc = check_labels(&knn->err, test_labels, p->n_test, p->n_classes,
                          "test_labels");
        if (rc != CTR_OK)
            return rc;
    }
    rc = plan(knn, p->n_train, p->n_test, p->dim, p->n_classes, &l);
    if (rc != CTR_OK)
        return ctr__fail(&knn->err, rc, "workspace size overflows");
    rc = ensure_workspace(knn, l.total);
    if (rc != CTR_OK)
        return rc;
    run(knn, p, &l, pred, scores, test_labels, correct);
    return CTR_OK;
}

CTR_API int ctr_knn_classify(ctr_knn *knn, const float *train,
                             int64_t n_train, int64_t ld_train,
                             const int64_t *train_labels, const float *test,
                             int64_t n_test, int64_t ld_test, int64_t dim,
                             int64_t n_classes, int64_t *pred, float *scores)
{
    knn_problem p;
    if (knn == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&knn->err);
    if (pred == NULL)
        return ctr__fail(&knn->err, CTR_E_INVALID_ARG, "pred is NULL");
    p.train = train;
    p.n_train = n_train;
    p.ld_train = ld_train;
    p.train_labels = train_labels;
    p.test = test;
    p.n_test = n_test;
    p.ld_test = ld_test;
    p.dim = dim;
    p.n_classes = n_classes;
    return classify(knn, &p, pred, scores, NULL, NULL);
}

CTR_API int ctr_knn_accuracy(ctr_knn *knn, const float *train,
                             int64_t n_train, int64_t ld_train,
                             const int64_t *train_labels, const float *test,
                             int64_t n_test, int64_t ld_test, int64_t dim,
                             int64_t n_classes, const int64_t *test_labels,
                             double *accuracy)
{
    knn_problem p;
    int64_t correct = 0;
    int rc;
    if (knn == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&knn->err);
    if (test_labels == NULL || accuracy == NULL)
        return ctr__fail(&knn->err, CTR_E_INVALID_ARG,
                         "test_labels or accuracy is NULL");
    p.train = train;
    p.n_train = n_train;
    p.ld_train = ld_train;
    p.train_labels = train_labels;
    p.test = test;
    p.n_test = n_test;
    p.ld_test = ld_test;
    p.dim = dim;
    p.n_classes = n_classes;
    rc = classify(knn, &p, NULL, NULL, test_labels, &correct);
    if (rc == CTR_OK)
        *accuracy = (double)correct / (double)n_test;
    return rc;
}

CTR_API const char *ctr_knn_last_error(const ctr_knn *knn)
{
    return ctr__error_message(knn == NULL ? NULL : &knn->err);
}
