/*
 * probe.c - the linear probe: multinomial logistic regression on frozen
 * features, fitted by full-batch L-BFGS (lbfgs.c).
 *
 * The optimiser works on parameters θ = (W, b) in the space of standardised
 * features x̃ = (x − μ)·s with s = 1/σ. Standardisation is never
 * materialised: it is folded into the weights used by the GEMMs,
 *   logits = x·(W∘s)ᵀ + (b − (W∘s)·μ),
 * and the gradient is unfolded the same way,
 *   ∂L/∂W[c,j] = s_j·(A[c,j] − μ_j·ḡ_c),  A = Gᵀx / n,  ḡ_c = Σ_i G[i,c] / n,
 * where G = softmax − onehot. So the data is read in row blocks and never
 * copied: memory is O(block·C + history·C·d).
 *
 * With a few classes (C <= FUSED_MAX_CLASSES) the two products are skinny
 * (N = C) and BLAS spends most of their time packing x, twice per
 * evaluation; there one fused pass does both (probe_kernel.c): per block
 * of BLOCK rows, the logits, the softmax gradient, and the block's share
 * of Gᵀx while the block is still in cache. The rows are cut into at most
 * MAX_CHUNKS chunks by their count alone; each chunk sums into its own
 * partial Gᵀx, and the partials are added in chunk order, so the bits do
 * not depend on how chunks are shared out: the OpenMP build gives each
 * thread its chunks (src/common/parallel.h) and equals the serial build.
 */
#include <math.h>
#include <string.h>

#include "common/blas.h"
#include "common/core.h"
#include "common/parallel.h"
#include "common/params.h"
#include "eval/lbfgs.h"
#include "eval/probe_kernel.h"

/* The fused pass (above) for C up to this many classes; BLAS beyond. */
#define FUSED_MAX_CLASSES 16
/* Rows of a block of the fused pass: 32 rows of the demo's 3136 features
 * are 400 KB, in L2 with the chunk's partial Gᵀx between the products. */
#define BLOCK 32
/* Chunks of rows (each with its partial Gᵀx) and their smallest size. */
#define MAX_CHUNKS 16
#define MIN_CHUNK_ROWS 256

struct ctr_probe {
    ctr__alloc alloc;
    ctr__error err;
    int64_t dim, classes;
    /* parameters */
    double l2, tolerance;
    int64_t max_iter, history, standardize, block_rows;
    /* fixed-size state, allocated at create */
    float *weight;   /* classes × dim, folded (raw-feature space) */
    float *bias;     /* classes, folded */
    float *mean;     /* dim */
    float *scale;    /* dim: 1/σ (1 where σ = 0 or not standardising) */
    float *grad_acc; /* classes × dim: A = Gᵀx */
    double *theta;   /* classes·dim + classes: the optimiser's variables */
    double *class_sum; /* classes: Σ_i G[i,c] */
    /* workspace sized by block_rows and history, allocated at fit */
    float *logits;   /* block × classes */
    size_t logits_bytes;
    int64_t block;   /* rows per block of the current workspace */
    double *lbfgs_work;
    size_t lbfgs_bytes;
    /* the fused pass's partial Gᵀx (chunks × classes × dim) and per chunk
     * Σ_i G[i,c] then the loss (chunks × (classes + 1)); the statistics'
     * double sums (2·dim) */
    float *partial;
    size_t partial_bytes;
    double *chunk_sums;
    size_t chunk_bytes;
    int64_t chunks, chunk_rows;
    int use_blas; /* ctr__probe_use_blas: the BLAS path for any C */
    /* result of the last fit */
    int fitted;
    double loss;
    int64_t iterations;
    int32_t converged;
};

/* ---- parameters ------------------------------------------------------------ */

typedef struct param_info {
    int32_t key;
    int is_int;
    double lo, hi, def;
} param_info;

static const param_info params[] = {
    {CTR_PROBE_P_L2, 0, 0.0, 1e6, 1e-4},
    {CTR_PROBE_P_MAX_ITER, 1, 1.0, 100000.0, 300.0},
    {CTR_PROBE_P_TOLERANCE, 0, 0.0, 1.0, 1e-5},
    {CTR_PROBE_P_HISTORY, 1, 1.0, 100.0, 10.0},
    {CTR_PROBE_P_STANDARDIZE, 1, 0.0, 1.0, 1.0},
    {CTR_PROBE_P_BLOCK_ROWS, 1, 1.0, 1048576.0, 4096.0},
};

static const param_info *find_param(int32_t key)
{
    size_t i;
    for (i = 0; i < sizeof(params) / sizeof(params[0]); i++)
        if (params[i].key == key)
            return &params[i];
    return NULL;
}

static double *param_f64_slot(ctr_probe *p, int32_t key)
{
    return key == CTR_PROBE_P_L2 ? &p->l2 : &p->tolerance;
}

static int64_t *param_i64_slot(ctr_probe *p, int32_t key)
{
    switch (key) {
    case CTR_PROBE_P_MAX_ITER: return &p->max_iter;
    case CTR_PROBE_P_HISTORY: return &p->history;
    case CTR_PROBE_P_STANDARDIZE: return &p->standardize;
    default: return &p->block_rows;
    }
}

CTR_API int ctr_probe_param_bounds(int32_t param, double *lo, double *hi)
{
    const param_info *info = find_param(param);
    if (info == NULL || lo == NULL || hi == NULL)
        return CTR_E_INVALID_ARG;
    *lo = info->lo;
    *hi = info->hi;
    return CTR_OK;
}

#define GROUP "CTR_PROBE_P_"

/* The parameter as common/params.h describes it (*out), or NULL. */
static const ctr__param *describe(int32_t key, ctr__param *out)
{
    const param_info *info = find_param(key);
    if (info == NULL)
        return NULL;
    out->id = key;
    out->is_int = info->is_int;
    out->lo = info->lo;
    out->hi = info->hi;
    out->read_only = 0;
    return out;
}

/* Stores a value the rule of common/params.h accepted. */
static void store(ctr_probe *p, const ctr__param *d, double v)
{
    if (d->is_int)
        *param_i64_slot(p, d->id) = (int64_t)v;
    else
        *param_f64_slot(p, d->id) = v;
}

CTR_API int ctr_probe_set_f64(ctr_probe *p, int32_t param, double value)
{
    ctr__param d;
    const ctr__param *dp = describe(param, &d);
    int rc;
    if (p == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&p->err);
    rc = ctr__param_set_f64(&p->err, GROUP, param, dp, value);
    if (rc == CTR_OK)
        store(p, dp, value);
    return rc;
}

CTR_API int ctr_probe_set_i64(ctr_probe *p, int32_t param, int64_t value)
{
    ctr__param d;
    const ctr__param *dp = describe(param, &d);
    double v;
    int rc;
    if (p == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&p->err);
    rc = ctr__param_set_i64(&p->err, GROUP, param, dp, value, &v);
    if (rc == CTR_OK)
        store(p, dp, v);
    return rc;
}

CTR_API int ctr_probe_get_f64(const ctr_probe *p, int32_t param, double *value)
{
    ctr__param d;
    const ctr__param *dp = describe(param, &d);
    int rc;
    if (p == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__param_get(&p->err, GROUP, param, dp, value, 0);
    if (rc == CTR_OK)
        *value = dp->is_int ? (double)*param_i64_slot((ctr_probe *)p, param)
                            : *param_f64_slot((ctr_probe *)p, param);
    return rc;
}

CTR_API int ctr_probe_get_i64(const ctr_probe *p, int32_t param, int64_t *value)
{
    ctr__param d;
    int rc;
    if (p == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__param_get(&p->err, GROUP, param, describe(param, &d),
                        value, 1);
    if (rc == CTR_OK)
        *value = *param_i64_slot((ctr_probe *)p, param);
    return rc;
}

/* ---- lifecycle --------------------------------------------------------------- */

/* Sizes of the fixed arrays, computed once with overflow checks. */
typedef struct probe_sizes {
    size_t weight, classes_f, dim_f, theta, classes_d;
} probe_sizes;

static int compute_sizes(probe_sizes *sz, int64_t dim, int64_t classes)
{
    size_t n_theta;
    if (ctr__matrix_bytes(&sz->weight, classes, dim, sizeof(float)) != CTR_OK ||
        ctr__matrix_bytes(&n_theta, classes, dim + 1, 1) != CTR_OK ||
        ctr__mul_size(&sz->theta, n_theta, sizeof(double)) != CTR_OK)
        return CTR_E_OVERFLOW;
    sz->classes_f = (size_t)classes * sizeof(float);
    sz->dim_f = (size_t)dim * sizeof(float);
    sz->classes_d = (size_t)classes * sizeof(double);
    return CTR_OK;
}

static void free_workspace(ctr_probe *p)
{
    ctr__free(&p->alloc, p->logits, p->logits_bytes);
    ctr__free(&p->alloc, p->lbfgs_work, p->lbfgs_bytes);
    ctr__free(&p->alloc, p->partial, p->partial_bytes);
    ctr__free(&p->alloc, p->chunk_sums, p->chunk_bytes);
    p->logits = NULL;
    p->lbfgs_work = NULL;
    p->partial = NULL;
    p->chunk_sums = NULL;
    p->logits_bytes = p->lbfgs_bytes = p->partial_bytes = p->chunk_bytes = 0;
}

void ctr__probe_use_blas(ctr_probe *p, int on)
{
    p->use_blas = on != 0;
}

static int fused(const ctr_probe *p)
{
    return !p->use_blas && p->classes <= FUSED_MAX_CLASSES;
}

CTR_API void ctr_probe_destroy(ctr_probe *p)
{
    probe_sizes sz;
    ctr__alloc a;
    if (p == NULL)
        return;
    a = p->alloc;
    compute_sizes(&sz, p->dim, p->classes); /* succeeded at create */
    free_workspace(p);
    ctr__free(&a, p->weight, sz.weight);
    ctr__free(&a, p->grad_acc, sz.weight);
    ctr__free(&a, p->bias, sz.classes_f);
    ctr__free(&a, p->mean, sz.dim_f);
    ctr__free(&a, p->scale, sz.dim_f);
    ctr__free(&a, p->theta, sz.theta);
    ctr__free(&a, p->class_sum, sz.classes_d);
    ctr__free(&a, p, sizeof(*p));
}

/* The probe of ctr_probe_create, arguments checked. */
static int probe_new(ctr_probe **out, int64_t dim, int64_t classes,
                     ctr__alloc a)
{
    ctr_probe *p;
    probe_sizes sz;
    size_t i;
    int rc = compute_sizes(&sz, dim, classes);
    if (rc != CTR_OK)
        return rc;
    p = (ctr_probe *)ctr__calloc(&a, sizeof(*p));
    if (p == NULL)
        return CTR_E_NOMEM;
    p->alloc = a;
    p->dim = dim;
    p->classes = classes;
    for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
        if (params[i].is_int)
            *param_i64_slot(p, params[i].key) = (int64_t)params[i].def;
        else
            *param_f64_slot(p, params[i].key) = params[i].def;
    }
    p->weight = (float *)ctr__malloc(&a, sz.weight);
    p->grad_acc = (float *)ctr__malloc(&a, sz.weight);
    p->bias = (float *)ctr__malloc(&a, sz.classes_f);
    p->mean = (float *)ctr__malloc(&a, sz.dim_f);
    p->scale = (float *)ctr__malloc(&a, sz.dim_f);
    p->theta = (double *)ctr__malloc(&a, sz.theta);
    p->class_sum = (double *)ctr__malloc(&a, sz.classes_d);
    if (!p->weight || !p->grad_acc || !p->bias || !p->mean || !p->scale ||
        !p->theta || !p->class_sum) {
        ctr_probe_destroy(p);
        return CTR_E_NOMEM;
    }
    *out = p;
    return CTR_OK;
}

CTR_API int ctr_probe_create(ctr_probe **out, int64_t dim, int64_t classes,
                             const ctr_allocator *alloc)
{
    ctr__alloc a;
    ctr__error err;
    int rc = ctr__create_begin(&a, &err, alloc, out);
    if (rc == CTR_OK && dim < 1)
        rc = ctr__fail(&err, CTR_E_INVALID_ARG, "dim must be >= 1 (got %lld)",
                       (long long)dim);
    else if (rc == CTR_OK && classes < 2)
        rc = ctr__fail(&err, CTR_E_INVALID_ARG, "classes must be >= 2 (got "
                       "%lld)", (long long)classes);
    if (rc == CTR_OK)
        rc = probe_new(out, dim, classes, a);
    return ctr__create_report(alloc, rc, "ctr_probe_create", &err);
}

/* The fused pass's chunks of n rows: at most MAX_CHUNKS, of at least
 * MIN_CHUNK_ROWS rows (but one), a whole number of blocks each. */
static void plan_chunks(int64_t n, int64_t *chunks, int64_t *chunk_rows)
{
    int64_t k = (n + MIN_CHUNK_ROWS - 1) / MIN_CHUNK_ROWS, rows;
    if (k > MAX_CHUNKS)
        k = MAX_CHUNKS;
    rows = (n + k - 1) / k;
    rows = (rows + BLOCK - 1) / BLOCK * BLOCK;
    *chunk_rows = rows;
    *chunks = (n + rows - 1) / rows;
}

/* Byte counts of the fit workspace for n rows; CTR_E_OVERFLOW if any
 * overflows. */
typedef struct work_sizes {
    size_t logits, lbfgs, partial, chunk;
} work_sizes;

static int work_bytes(const ctr_probe *p, int64_t chunks, work_sizes *w)
{
    size_t n_theta = (size_t)(p->classes * (p->dim + 1)), doubles, sums;
    int64_t partials = fused(p) ? chunks : 0;
    if (ctr__matrix_bytes(&w->logits, p->block_rows, p->classes,
                          sizeof(float)) != CTR_OK ||
        ctr__matrix_bytes(&w->partial, partials * p->classes, p->dim,
                          sizeof(float)) != CTR_OK)
        return CTR_E_OVERFLOW;
    doubles = ctr__lbfgs_workspace_doubles(n_theta, (size_t)p->history);
    if (ctr__mul_size(&w->lbfgs, doubles, sizeof(double)) != CTR_OK ||
        ctr__mul_size(&sums, (size_t)p->dim, 2) != CTR_OK ||
        ctr__add_size(&sums, sums, (size_t)(chunks * (p->classes + 1))) != CTR_OK ||
        ctr__mul_size(&w->chunk, sums, sizeof(double)) != CTR_OK)
        return CTR_E_OVERFLOW;
    return CTR_OK;
}

/* Allocates the fit workspace for n rows and the current parameters,
 * reusing what is there when the sizes agree. On failure the probe keeps
 * its old workspace. */
static int ensure_workspace(ctr_probe *p, int64_t n)
{
    work_sizes w;
    float *logits, *partial;
    double *work, *sums;
    int64_t chunks, chunk_rows;
    plan_chunks(n, &chunks, &chunk_rows);
    if (work_bytes(p, chunks, &w) != CTR_OK)
        return ctr__fail(&p->err, CTR_E_OVERFLOW, "fit workspace overflows");
    if (w.logits == p->logits_bytes && w.lbfgs == p->lbfgs_bytes &&
        w.partial == p->partial_bytes && w.chunk == p->chunk_bytes) {
        p->block = p->block_rows;
        p->chunks = chunks;
        p->chunk_rows = chunk_rows;
        return CTR_OK;
    }
    logits = (float *)ctr__malloc(&p->alloc, w.logits);
    work = (double *)ctr__malloc(&p->alloc, w.lbfgs);
    partial = w.partial > 0 ? (float *)ctr__malloc(&p->alloc, w.partial) : NULL;
    sums = (double *)ctr__malloc(&p->alloc, w.chunk);
    if (logits == NULL || work == NULL || sums == NULL ||
        (w.partial > 0 && partial == NULL)) {
        ctr__free(&p->alloc, logits, w.logits);
        ctr__free(&p->alloc, work, w.lbfgs);
        ctr__free(&p->alloc, partial, w.partial);
        ctr__free(&p->alloc, sums, w.chunk);
        return ctr__fail(&p->err, CTR_E_NOMEM,
                         "cannot allocate the fit workspace");
    }
    free_workspace(p);
    p->logits = logits;
    p->logits_bytes = w.logits;
    p->lbfgs_work = work;
    p->lbfgs_bytes = w.lbfgs;
    p->partial = partial;
    p->partial_bytes = w.partial;
    p->chunk_sums = sums;
    p->chunk_bytes = w.chunk;
    p->block = p->block_rows;
    p->chunks = chunks;
    p->chunk_rows = chunk_rows;
    return CTR_OK;
}

/* ---- the objective ------------------------------------------------------------ */

typedef struct fit_data {
    ctr_probe *p;
    const float *x;
    int64_t n, ld;
    const int64_t *labels;
} fit_data;

/* weight = W∘s, bias = b − weight·μ, from θ. */
static void fold_parameters(ctr_probe *p, const double *theta)
{
    int64_t c, j, d = p->dim;
    for (c = 0; c < p->classes; c++) {
        double b = theta[p->classes * d + c];
        for (j = 0; j < d; j++) {
            float w = (float)(theta[c * d + j] * p->scale[j]);
            p->weight[c * d + j] = w;
            b -= (double)w * p->mean[j];
        }
        p->bias[c] = (float)b;
    }
}

/* logits block (m × C) = x_blk · weightᵀ + bias. */
static void block_logits(ctr_probe *p, const float *x, int64_t m, int64_t ld)
{
    int64_t r, c, C = p->classes;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)C,
                (int)p->dim, 1.0f, x, (int)ld, p->weight, (int)p->dim, 0.0f,
                p->logits, (int)C);
    for (r = 0; r < m; r++)
        for (c = 0; c < C; c++)
            p->logits[r * C + c] += p->bias[c];
}

/* Turns a row of logits into softmax − onehot(y) in place; returns the
 * row's cross-entropy. */
static double softmax_grad_row(float *z, int64_t C, int64_t y, double *class_sum)
{
    double zmax = z[0], sum = 0.0, ce;
    int64_t c;
    for (c = 1; c < C; c++)
        zmax = fmax(zmax, z[c]);
    for (c = 0; c < C; c++)
        sum += exp(z[c] - zmax);
    ce = log(sum) + zmax - z[y];
    for (c = 0; c < C; c++) {
        double g = exp(z[c] - zmax) / sum - (c == y ? 1.0 : 0.0);
        z[c] = (float)g;
        class_sum[c] += g;
    }
    return ce;
}

/* Chunk k's Σ_i G[i,c] (classes doubles) and loss (one more), after the
 * statistics' 2·dim doubles. */
static double *chunk_slot(const ctr_probe *p, int64_t k)
{
    return p->chunk_sums + 2 * p->dim + k * (p->classes + 1);
}

/* The BLAS path: per block, the logits GEMM, the softmax gradient, and
 * Gᵀx accumulated by a second GEMM into grad_acc; sums in chunk 0's slot. */
static void blas_pass(ctr_probe *p, const fit_data *fd)
{
    const int64_t d = p->dim, C = p->classes;
    double *sums = chunk_slot(p, 0);
    int64_t i0, r;
    memset(p->grad_acc, 0, (size_t)(C * d) * sizeof(float));
    memset(sums, 0, (size_t)(C + 1) * sizeof(double));
    for (i0 = 0; i0 < fd->n; i0 += p->block) {
        int64_t m = fd->n - i0 < p->block ? fd->n - i0 : p->block;
        const float *xb = fd->x + i0 * fd->ld;
        block_logits(p, xb, m, fd->ld);
        for (r = 0; r < m; r++)
            sums[C] += softmax_grad_row(p->logits + r * C, C,
                                        fd->labels[i0 + r], sums);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)C, (int)d,
                    (int)m, 1.0f, p->logits, (int)C, xb, (int)fd->ld, 1.0f,
                    p->grad_acc, (int)d);
    }
}

/* One chunk of the fused pass: its partial Gᵀx and sums, from zero. */
static void fused_chunk(ctr_probe *p, const fit_data *fd, int64_t k)
{
    const int64_t d = p->dim, C = p->classes;
    const int64_t end = fd->n < (k + 1) * p->chunk_rows ? fd->n
                                                        : (k + 1) * p->chunk_rows;
    float z[BLOCK * FUSED_MAX_CLASSES];
    float *acc = p->partial + k * C * d;
    double *sums = chunk_slot(p, k);
    int64_t i0, r;
    memset(acc, 0, (size_t)(C * d) * sizeof(float));
    memset(sums, 0, (size_t)(C + 1) * sizeof(double));
    for (i0 = k * p->chunk_rows; i0 < end; i0 += BLOCK) {
        int64_t m = end - i0 < BLOCK ? end - i0 : BLOCK;
        const float *xb = fd->x + i0 * fd->ld;
        ctr__probe_logits(xb, m, fd->ld, d, p->weight, p->bias, C, z);
        for (r = 0; r < m; r++)
            sums[C] += softmax_grad_row(z + r * C, C, fd->labels[i0 + r], sums);
        ctr__probe_accumulate(xb, m, fd->ld, d, z, C, acc);
    }
}

/* The chunks, shared out over the host's OpenMP threads in that build. */
static void fused_pass(ctr_probe *p, const fit_data *fd)
{
    int64_t k;
    CTR__PARALLEL_FOR(fd->n * p->dim)
    for (k = 0; k < p->chunks; k++)
        fused_chunk(p, fd, k);
}

/* Entry e of A = Gᵀx: the partials added in chunk order (fused), or the
 * BLAS path's accumulator. */
static double gtx(const ctr_probe *p, int64_t e)
{
    const int64_t size = p->classes * p->dim;
    double sum = 0.0;
    int64_t k;
    if (!fused(p))
        return p->grad_acc[e];
    for (k = 0; k < p->chunks; k++)
        sum += p->partial[k * size + e];
    return sum;
}

static double probe_objective(void *ctx, const double *theta, double *grad)
{
    const fit_data *fd = (const fit_data *)ctx;
    ctr_probe *p = fd->p;
    const int64_t d = p->dim, C = p->classes;
    const int64_t chunks = fused(p) ? p->chunks : 1;
    double loss = 0.0, penalty = 0.0, inv_n = 1.0 / (double)fd->n;
    int64_t c, j, k;

    fold_parameters(p, theta);
    if (fused(p))
        fused_pass(p, fd);
    else
        blas_pass(p, fd);
    memset(p->class_sum, 0, (size_t)C * sizeof(double));
    for (k = 0; k < chunks; k++) {
        const double *sums = chunk_slot(p, k);
        for (c = 0; c < C; c++)
            p->class_sum[c] += sums[c];
        loss += sums[C];
    }
    for (c = 0; c < C; c++) {
        double gbar = p->class_sum[c] * inv_n;
        for (j = 0; j < d; j++) {
            double w = theta[c * d + j];
            grad[c * d + j] =
                p->scale[j] * (gtx(p, c * d + j) * inv_n - p->mean[j] * gbar) +
                p->l2 * w;
            penalty += w * w;
        }
        grad[C * d + c] = gbar;
    }
    return loss * inv_n + 0.5 * p->l2 * penalty;
}

/* μ and 1/σ per feature over the training rows (double sums, rows in
 * order, read row by row). */
static void feature_statistics(ctr_probe *p, const float *x, int64_t n, int64_t ld)
{
    int64_t i, j, d = p->dim;
    double *mu = p->chunk_sums, *sq = mu + d;
    if (!p->standardize) {
        for (j = 0; j < d; j++) {
            p->mean[j] = 0.0f;
            p->scale[j] = 1.0f;
        }
        return;
    }
    memset(mu, 0, (size_t)(2 * d) * sizeof(double));
    for (i = 0; i < n; i++)
        for (j = 0; j < d; j++)
            mu[j] += x[i * ld + j];
    for (j = 0; j < d; j++)
        mu[j] /= (double)n;
    for (i = 0; i < n; i++)
        for (j = 0; j < d; j++) {
            double dv = x[i * ld + j] - mu[j];
            sq[j] += dv * dv;
        }
    for (j = 0; j < d; j++) {
        double var = sq[j] / (double)n;
        p->mean[j] = (float)mu[j];
        p->scale[j] = var > 0.0 ? (float)(1.0 / sqrt(var)) : 1.0f;
    }
}

/* ---- fit / predict ------------------------------------------------------------ */

static int check_rows(ctr_probe *p, const float *x, int64_t n, int64_t ld)
{
    if (x == NULL)
        return ctr__fail(&p->err, CTR_E_INVALID_ARG, "x is NULL");
    if (n < 1)
        return ctr__fail(&p->err, CTR_E_INVALID_ARG, "n must be >= 1 (got %lld)",
                         (long long)n);
    if (ld < p->dim)
        return ctr__fail(&p->err, CTR_E_INVALID_ARG,
                         "ld (%lld) must be >= dim (%lld)", (long long)ld,
                         (long long)p->dim);
    if (n > INT32_MAX || ld > INT32_MAX)
        return ctr__fail(&p->err, CTR_E_OVERFLOW, "n and ld must fit in int");
    return ctr__check_finite_matrix(&p->err, x, n, p->dim, ld, "x");
}

static int check_labels(ctr_probe *p, const int64_t *labels, int64_t n)
{
    int64_t i;
    if (labels == NULL)
        return ctr__fail(&p->err, CTR_E_INVALID_ARG, "labels is NULL");
    for (i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= p->classes)
            return ctr__fail(&p->err, CTR_E_INVALID_ARG,
                             "labels[%lld] = %lld is not in [0, %lld)",
                             (long long)i, (long long)labels[i],
                             (long long)p->classes);
    return CTR_OK;
}

CTR_API int ctr_probe_fit(ctr_probe *p, const float *x, int64_t n, int64_t ld,
                          const int64_t *labels)
{
    fit_data fd;
    ctr__lbfgs_result res;
    size_t n_theta;
    int rc;
    if (p == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&p->err);
    if ((rc = check_rows(p, x, n, ld)) != CTR_OK ||
        (rc = check_labels(p, labels, n)) != CTR_OK ||
        (rc = ensure_workspace(p, n)) != CTR_OK)
        return rc;
    n_theta = (size_t)(p->classes * (p->dim + 1));
    feature_statistics(p, x, n, ld);
    memset(p->theta, 0, n_theta * sizeof(double));
    fd.p = p;
    fd.x = x;
    fd.n = n;
    fd.ld = ld;
    fd.labels = labels;
    res = ctr__lbfgs_minimize(probe_objective, &fd, p->theta, n_theta,
                              (size_t)p->history, p->max_iter, p->tolerance,
                              p->lbfgs_work);
    fold_parameters(p, p->theta);
    p->fitted = 1;
    p->loss = res.f;
    p->iterations = res.iterations;
    p->converged = (int32_t)res.converged;
    return CTR_OK;
}

/* Predicts in blocks; any of pred, probs, labels/correct may be NULL. */
static void predict_blocks(ctr_probe *p, const float *x, int64_t n, int64_t ld,
                           int64_t *pred, float *probs, const int64_t *labels,
                           int64_t *correct)
{
    const int64_t C = p->classes;
    int64_t i0, r, c;
    for (i0 = 0; i0 < n; i0 += p->block) {
        int64_t m = n - i0 < p->block ? n - i0 : p->block;
        block_logits(p, x + i0 * ld, m, ld);
        for (r = 0; r < m; r++) {
            const float *z = p->logits + r * C;
            int64_t best = 0;
            for (c = 1; c < C; c++)
                if (z[c] > z[best])
                    best = c;
            if (pred != NULL)
                pred[i0 + r] = best;
            if (labels != NULL)
                *correct += labels[i0 + r] == best;
            if (probs != NULL) {
                float *out = probs + (i0 + r) * C;
                double sum = 0.0;
                for (c = 0; c < C; c++)
                    sum += exp((double)z[c] - z[best]);
                for (c = 0; c < C; c++)
                    out[c] = (float)(exp((double)z[c] - z[best]) / sum);
            }
        }
    }
}

static int check_predict(ctr_probe *p, const float *x, int64_t n, int64_t ld)
{
    if (!p->fitted)
        return ctr__fail(&p->err, CTR_E_STAGE, "the probe is not fitted");
    return check_rows(p, x, n, ld);
}

CTR_API int ctr_probe_predict(ctr_probe *p, const float *x, int64_t n,
                              int64_t ld, int64_t *pred, float *probs)
{
    int rc;
    if (p == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&p->err);
    if ((rc = check_predict(p, x, n, ld)) != CTR_OK)
        return rc;
    if (pred == NULL)
        return ctr__fail(&p->err, CTR_E_INVALID_ARG, "pred is NULL");
    predict_blocks(p, x, n, ld, pred, probs, NULL, NULL);
    return CTR_OK;
}

CTR_API int ctr_probe_accuracy(ctr_probe *p, const float *x, int64_t n,
                               int64_t ld, const int64_t *labels,
                               double *accuracy)
{
    int64_t correct = 0;
    int rc;
    if (p == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&p->err);
    if ((rc = check_predict(p, x, n, ld)) != CTR_OK ||
        (rc = check_labels(p, labels, n)) != CTR_OK)
        return rc;
    if (accuracy == NULL)
        return ctr__fail(&p->err, CTR_E_INVALID_ARG, "accuracy is NULL");
    predict_blocks(p, x, n, ld, NULL, NULL, labels, &correct);
    *accuracy = (double)correct / (double)n;
    return CTR_OK;
}

static int not_fitted(const ctr_probe *p)
{
    return ctr__const_fail(&p->err, CTR_E_STAGE, "the probe is not fitted yet");
}

CTR_API int ctr_probe_fit_info(const ctr_probe *p, double *loss,
                               int64_t *iterations, int32_t *converged)
{
    if (p == NULL)
        return CTR_E_INVALID_ARG;
    if (!p->fitted)
        return not_fitted(p);
    if (loss != NULL)
        *loss = p->loss;
    if (iterations != NULL)
        *iterations = p->iterations;
    if (converged != NULL)
        *converged = p->converged;
    return ctr__const_result(&p->err, CTR_OK, NULL);
}

CTR_API int ctr_probe_get_weights(const ctr_probe *p, float *weight, float *bias)
{
    if (p == NULL)
        return CTR_E_INVALID_ARG;
    if (!p->fitted)
        return not_fitted(p);
    if (weight != NULL)
        memcpy(weight, p->weight, (size_t)(p->classes * p->dim) * sizeof(float));
    if (bias != NULL)
        memcpy(bias, p->bias, (size_t)p->classes * sizeof(float));
    return ctr__const_result(&p->err, CTR_OK, NULL);
}

CTR_API const char *ctr_probe_last_error(const ctr_probe *p)
{
    return ctr__error_message(p == NULL ? NULL : &p->err);
}
