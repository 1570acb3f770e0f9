/*
 * knn.c - weighted kNN classification (include/contrastive/knn.h documents
 * the protocol): blocked GEMM similarities, a bounded candidate buffer per
 * test row reduced by selection to the k best, exp(s / sigma) class votes.
 */
#include <math.h>
#include <string.h>

#include "blas.h"
#include "core.h"
#include "finite.h"

#define DEFAULT_K 200
#define DEFAULT_SIGMA 0.07
#define DEFAULT_BLOCK_ROWS 256
#define DEFAULT_TILE_ROWS 4096

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
    size_t sims, xhat, col_scale, cand_sim, cand_idx, cand_count, cand_thr;
    size_t votes, total;
} knn_layout;

static ctr__error *knn_err(const ctr_knn *knn)
{
    return (ctr__error *)&((ctr_knn *)knn)->err;
}

CTR_API int ctr_knn_create(ctr_knn **out, const ctr_allocator *alloc)
{
    ctr__alloc a;
    ctr_knn *knn;
    if (out == NULL || ctr__alloc_init(&a, alloc) != CTR_OK)
        return CTR_E_INVALID_ARG;
    knn = (ctr_knn *)ctr__calloc(&a, sizeof(*knn));
    if (knn == NULL)
        return CTR_E_NOMEM;
    knn->alloc = a;
    knn->k = DEFAULT_K;
    knn->metric = CTR_KNN_COSINE;
    knn->block_rows = DEFAULT_BLOCK_ROWS;
    knn->tile_rows = DEFAULT_TILE_ROWS;
    knn->sigma = DEFAULT_SIGMA;
    *out = knn;
    return CTR_OK;
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

CTR_API int ctr_knn_set_i64(ctr_knn *knn, int32_t param, int64_t value)
{
    int64_t *slot;
    double lo, hi;
    if (knn == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&knn->err);
    slot = i64_param(knn, param);
    if (slot == NULL)
        return ctr__fail(&knn->err, CTR_E_INVALID_ARG,
                         "parameter %ld is not a settable integer",
                         (long)param);
    ctr_knn_param_bounds(param, &lo, &hi);
    if ((double)value < lo || (double)value > hi)
        return ctr__fail(&knn->err, CTR_E_INVALID_ARG,
                         "parameter %ld must be in [%.0f, %.0f] (got %lld)",
                         (long)param, lo, hi, (long long)value);
    *slot = value;
    return CTR_OK;
}

CTR_API int ctr_knn_get_i64(const ctr_knn *knn, int32_t param,
                            int64_t *value)
{
    int64_t *slot;
    if (knn == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(knn_err(knn));
    if (value == NULL)
        return ctr__fail(knn_err(knn), CTR_E_INVALID_ARG, "value is NULL");
    if (param == CTR_KNN_P_WORKSPACE_BYTES) {
        *value = (int64_t)knn->ws_bytes;
        return CTR_OK;
    }
    slot = i64_param((ctr_knn *)knn, param);
    if (slot == NULL)
        return ctr__fail(knn_err(knn), CTR_E_INVALID_ARG,
                         "parameter %ld is not an integer", (long)param);
    *value = *slot;
    return CTR_OK;
}

CTR_API int ctr_knn_set_f64(ctr_knn *knn, int32_t param, double value)
{
    if (knn == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&knn->err);
    if (param != CTR_KNN_P_SIGMA)
        return ctr__fail(&knn->err, CTR_E_INVALID_ARG,
                         "parameter %ld is not a settable real",
                         (long)param);
    if (!isfinite(value))
        return ctr__fail(&knn->err, CTR_E_NUMERIC, "sigma is not finite");
    if (value < 1e-6 || value > 1e6)
        return ctr__fail(&knn->err, CTR_E_INVALID_ARG,
                         "sigma must be in [1e-6, 1e6] (got %g)", value);
    knn->sigma = value;
    return CTR_OK;
}

CTR_API int ctr_knn_get_f64(const ctr_knn *knn, int32_t param,
                            double *value)
{
    if (knn == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(knn_err(knn));
    if (param != CTR_KNN_P_SIGMA || value == NULL)
        return ctr__fail(knn_err(knn), CTR_E_INVALID_ARG,
                         "parameter %ld is not a real, or value is NULL",
                         (long)param);
    *value = knn->sigma;
    return CTR_OK;
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
    rc |= reserve(&l->total, &l->col_scale, l->tile, sizeof(float));
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
    ctr__error_clear(knn_err(knn));
    if (bytes == NULL || n_train < 1 || n_test < 1 || dim < 1 ||
        n_classes < 1)
        return ctr__fail(knn_err(knn), CTR_E_INVALID_ARG,
                         "bytes is NULL or a size is < 1");
    rc = plan(knn, n_train, n_test, dim, n_classes, &l);
    if (rc != CTR_OK)
        return ctr__fail(knn_err(knn), rc, "workspace size overflows");
    *bytes = l.total;
    return CTR_OK;
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
    if (!ctr__rows_finite(x, rows, dim, ld))
        return ctr__check_finite_matrix(e, x, rows, dim, ld, what);
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
    return rc;
}

/* ---- the computation --------------------------------------------------------- */

/* 1 / ||x|| in double (0 for a zero row), with four independent partial
 * sums in a fixed order (reproducible, and free of one long latency
 * chain: this runs over every training row once per test block). */
static double inv_norm(const float *x, int64_t dim)
{
    double p0 = 0.0, p1 = 0.0, p2 = 0.0, p3 = 0.0, sq;
    int64_t j = 0;
    for (; j + 4 <= dim; j += 4) {
        p0 += (double)x[j] * x[j];
        p1 += (double)x[j + 1] * x[j + 1];
        p2 += (double)x[j + 2] * x[j + 2];
        p3 += (double)x[j + 3] * x[j + 3];
    }
    for (; j < dim; j++)
        p0 += (double)x[j] * x[j];
    sq = (p0 + p1) + (p2 + p3);
    return sq > 0.0 ? 1.0 / sqrt(sq) : 0.0;
}

/* Copies b test rows into xhat (row stride dim), normalised for cosine. */
static void prepare_block(float *xhat, const float *test, int64_t ld,
                          int64_t b, int64_t dim, int cosine)
{
    int64_t i, j;
    for (i = 0; i < b; i++) {
        const float *x = test + i * ld;
        float *y = xhat + i * dim;
        float s = cosine ? (float)inv_norm(x, dim) : 1.0f;
        for (j = 0; j < dim; j++)
            y[j] = x[j] * s;
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

/* a ranks before b. */
static int better(float sa, int64_t ia, float sb, int64_t ib)
{
    return sa > sb || (sa == sb && ia < ib);
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
 * best at position k - 1 (quickselect, median-of-three pivots). */
static void select_best(float *cs, int64_t *ci, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t j, store = lo;
        pivot_to_end(cs, ci, lo, lo + (hi - lo) / 2, hi, hi);
        for (j = lo; j < hi; j++)
            if (better(cs[j], ci[j], cs[hi], ci[hi]))
                swap_entries(cs, ci, j, store++);
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

/* Offers similarities row[c] * scale[c] (scale NULL: 1) of training rows
 * first..first+t-1. Chunks with no value above the threshold, the common
 * case once it has risen, are skipped by a branch-free test. */
static void scan_row(const candidates *cd, const float *row,
                     const float *scale, int64_t t, int64_t first)
{
    int64_t c = 0, n = *cd->count;
    float th = *cd->thr;
    int u;
    for (; c + CHUNK <= t; c += CHUNK) {
        int hit = 0;
        if (scale != NULL)
            for (u = 0; u < CHUNK; u++)
                hit |= row[c + u] * scale[c + u] > th;
        else
            for (u = 0; u < CHUNK; u++)
                hit |= row[c + u] > th;
        if (!hit)
            continue;
        for (u = 0; u < CHUNK; u++) {
            float s = scale != NULL ? row[c + u] * scale[c + u] : row[c + u];
            if (s > th)
                accept(cd, &n, &th, s, first + c + u);
        }
    }
    for (; c < t; c++) {
        float s = scale != NULL ? row[c] * scale[c] : row[c];
        if (s > th)
            accept(cd, &n, &th, s, first + c);
    }
    *cd->count = n;
    *cd->thr = th;
}

/* Weighted vote of one test row's n neighbours; returns the predicted
 * class and writes the vote shares if scores is not NULL. */
static int64_t vote(const float *cs, const int64_t *ci, int64_t n,
                    const knn_problem *p, double sigma, double *votes,
                    float *scores)
{
    double top = cs[0], total = 0.0;
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
            scores[c] = (float)(votes[c] / total);
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

/* The k nearest training rows of test rows [i0, i0 + b): afterwards each
 * row's candidates hold exactly its k best first. */
static void block_neighbours(ctr_knn *knn, const knn_problem *p,
                             const knn_layout *l, int64_t i0, int64_t b)
{
    const int cosine = knn->metric == CTR_KNN_COSINE;
    float *sims = (float *)(knn->ws + l->sims);
    float *xhat = (float *)(knn->ws + l->xhat);
    float *scale = (float *)(knn->ws + l->col_scale);
    int64_t j0, r, c;
    prepare_block(xhat, p->test + i0 * p->ld_test, p->ld_test, b, p->dim,
                  cosine);
    for (r = 0; r < b; r++) {
        candidates cd = row_candidates(knn, l, r);
        *cd.count = 0;
        *cd.thr = -INFINITY;
    }
    for (j0 = 0; j0 < p->n_train; j0 += l->tile) {
        const int64_t t = p->n_train - j0 < l->tile ? p->n_train - j0 : l->tile;
        const float *tile = p->train + j0 * p->ld_train;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)t,
                    (int)p->dim, 1.0f, xhat, (int)p->dim, tile,
                    (int)p->ld_train, 0.0f, sims, (int)t);
        if (cosine)
            for (c = 0; c < t; c++)
                scale[c] = (float)inv_norm(tile + c * p->ld_train, p->dim);
        for (r = 0; r < b; r++) {
            candidates cd = row_candidates(knn, l, r);
            scan_row(&cd, sims + r * t, cosine ? scale : NULL, t, j0);
        }
    }
    for (r = 0; r < b; r++) {
        candidates cd = row_candidates(knn, l, r);
        if (*cd.count > l->k)
            select_best(cd.cs, cd.ci, *cd.count, l->k);
    }
}

/* Classifies every test row; writes pred/scores if given and counts the
 * rows whose prediction equals test_labels (if given). */
static void run(ctr_knn *knn, const knn_problem *p, const knn_layout *l,
                int64_t *pred, float *scores, const int64_t *test_labels,
                int64_t *correct)
{
    double *votes = (double *)(knn->ws + l->votes);
    int64_t i0, r, hits = 0;
    for (i0 = 0; i0 < p->n_test; i0 += l->block) {
        const int64_t b = p->n_test - i0 < l->block ? p->n_test - i0 : l->block;
        block_neighbours(knn, p, l, i0, b);
        for (r = 0; r < b; r++) {
            candidates cd = row_candidates(knn, l, r);
            int64_t i = i0 + r;
            int64_t y = vote(cd.cs, cd.ci, l->k, p, knn->sigma, votes,
                             scores != NULL ? scores + i * p->n_classes : NULL);
            if (pred != NULL)
                pred[i] = y;
            if (test_labels != NULL)
                hits += y == test_labels[i];
        }
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
