/*
 * ridge.c - the regression probe (contrastive/ridge.h): ridge regression
 * on frozen features in closed form. The normal equations
 * (ZᵀZ/n + λI) W = ZᵀY_c/n are accumulated in double over row blocks
 * (dsyrk, dgemm), factorised by a Cholesky written here (no LAPACK), and
 * the solution folded back into the space of the raw features:
 *   weight[t,j] = W[j,t]·s_j,  bias_t = ȳ_t − Σ_j weight[t,j]·μ_j.
 */
#include <math.h>
#include <string.h>

#include "common/blas.h"
#include "common/core.h"
#include "common/kernels.h"

/* Rows per block of the accumulation. */
#define RIDGE_BLOCK 256

struct ctr_ridge {
    ctr__alloc alloc;
    ctr__error err;
    int64_t dim, targets;
    float *weight; /* targets × dim, raw-feature space */
    float *bias;   /* targets */
    int fitted;
    double *ws;    /* the fit's workspace, allocated at the first fit */
    size_t ws_bytes;
};

/* The fit's workspace, carved from ws. */
typedef struct ridge_ws {
    double *gram, *rhs, *mean, *scale, *ymean, *zblk, *yblk;
} ridge_ws;

static int ws_doubles(size_t *out, int64_t d, int64_t t)
{
    size_t n = 0, part;
    int rc = ctr__matrix_bytes(&n, d, d, 1);
    if (rc == CTR_OK)
        rc = ctr__matrix_bytes(&part, d, t + 2, 1);
    if (rc == CTR_OK)
        rc = ctr__add_size(&n, n, part);
    if (rc == CTR_OK)
        rc = ctr__matrix_bytes(&part, RIDGE_BLOCK, d + t, 1);
    if (rc == CTR_OK)
        rc = ctr__add_size(&n, n, part + (size_t)t);
    if (rc == CTR_OK)
        *out = n;
    return rc;
}

static void carve(ctr_ridge *r, ridge_ws *w)
{
    const size_t d = (size_t)r->dim, t = (size_t)r->targets;
    w->gram = r->ws;
    w->rhs = w->gram + d * d;
    w->mean = w->rhs + d * t;
    w->scale = w->mean + d;
    w->ymean = w->scale + d;
    w->zblk = w->ymean + t;
    w->yblk = w->zblk + RIDGE_BLOCK * d;
}

CTR_API void ctr_ridge_destroy(ctr_ridge *r)
{
    ctr__alloc a;
    if (r == NULL)
        return;
    a = r->alloc;
    ctr__free(&a, r->ws, r->ws_bytes);
    ctr__free(&a, r->weight, (size_t)(r->dim * r->targets) * sizeof(float));
    ctr__free(&a, r->bias, (size_t)r->targets * sizeof(float));
    ctr__free(&a, r, sizeof(*r));
}

CTR_API int ctr_ridge_create(ctr_ridge **out, int64_t dim, int64_t targets,
                             const ctr_allocator *alloc)
{
    ctr__alloc a;
    ctr_ridge *r;
    size_t wbytes, doubles;
    if (out == NULL || dim < 1 || targets < 1 || dim > 46340 ||
        ctr__alloc_init(&a, alloc) != CTR_OK)
        return CTR_E_INVALID_ARG;
    if (ctr__matrix_bytes(&wbytes, dim, targets, sizeof(float)) != CTR_OK ||
        targets > INT32_MAX || ws_doubles(&doubles, dim, targets) != CTR_OK ||
        doubles > SIZE_MAX / sizeof(double))
        return CTR_E_OVERFLOW;
    r = (ctr_ridge *)ctr__calloc(&a, sizeof(*r));
    if (r == NULL)
        return CTR_E_NOMEM;
    r->alloc = a;
    r->dim = dim;
    r->targets = targets;
    r->weight = (float *)ctr__malloc(&a, wbytes);
    r->bias = (float *)ctr__malloc(&a, (size_t)targets * sizeof(float));
    if (r->weight == NULL || r->bias == NULL) {
        ctr_ridge_destroy(r);
        return CTR_E_NOMEM;
    }
    *out = r;
    return CTR_OK;
}

CTR_API const char *ctr_ridge_last_error(const ctr_ridge *r)
{
    return ctr__error_message(r == NULL ? NULL : &r->err);
}

/* ---- checks ------------------------------------------------------------------ */

/* x (n × dim, ldx) and, when y is not NULL or need_y, y (n × targets). */
static int check_rows(ctr_ridge *r, const float *x, int64_t n, int64_t ldx,
                      const float *y, int64_t ldy, int need_y)
{
    int rc = ctr__check_ptr(&r->err, x, "x");
    if (rc == CTR_OK && need_y)
        rc = ctr__check_ptr(&r->err, y, "y");
    if (rc == CTR_OK)
        rc = ctr__check_positive(&r->err, n, "n");
    if (rc == CTR_OK && ldx < r->dim)
        rc = ctr__fail(&r->err, CTR_E_INVALID_ARG,
                       "ldx must be >= dim %lld (got %lld)",
                       (long long)r->dim, (long long)ldx);
    if (rc == CTR_OK && need_y && ldy < r->targets)
        rc = ctr__fail(&r->err, CTR_E_INVALID_ARG,
                       "ldy must be >= targets %lld (got %lld)",
                       (long long)r->targets, (long long)ldy);
    if (rc == CTR_OK)
        rc = ctr__check_view(&r->err, n, ldx, "x");
    if (rc == CTR_OK && need_y)
        rc = ctr__check_view(&r->err, n, ldy, "y");
    if (rc == CTR_OK)
        rc = ctr__check_finite_matrix(&r->err, x, n, r->dim, ldx, "x");
    if (rc == CTR_OK && need_y)
        rc = ctr__check_finite_matrix(&r->err, y, n, r->targets, ldy, "y");
    return rc;
}

static int ensure_workspace(ctr_ridge *r)
{
    size_t doubles, bytes;
    double *p;
    if (r->ws != NULL)
        return CTR_OK;
    ws_doubles(&doubles, r->dim, r->targets); /* checked at create */
    bytes = doubles * sizeof(double);
    p = (double *)ctr__malloc(&r->alloc, bytes);
    if (p == NULL)
        return ctr__fail(&r->err, CTR_E_NOMEM,
                         "cannot allocate %zu bytes for the fit", bytes);
    r->ws = p;
    r->ws_bytes = bytes;
    return CTR_OK;
}

/* ---- the fit ------------------------------------------------------------------ */

/* Column means of x (n × cols, ld) into mean; with scale, 1/σ per column
 * (population σ; 0 for a constant column), else 1. Two passes. */
static void column_moments(const float *x, int64_t n, int64_t cols,
                           int64_t ld, double *mean, double *scale)
{
    int64_t i, j;
    memset(mean, 0, (size_t)cols * sizeof(double));
    for (i = 0; i < n; i++)
        for (j = 0; j < cols; j++)
            mean[j] += x[i * ld + j];
    for (j = 0; j < cols; j++)
        mean[j] /= (double)n;
    if (scale == NULL)
        return;
    memset(scale, 0, (size_t)cols * sizeof(double));
    for (i = 0; i < n; i++)
        for (j = 0; j < cols; j++) {
            double v = x[i * ld + j] - mean[j];
            scale[j] += v * v;
        }
    for (j = 0; j < cols; j++) {
        double sd = sqrt(scale[j] / (double)n);
        scale[j] = sd > 0.0 ? 1.0 / sd : 0.0;
    }
}

/* out (m × cols) = (x − mean)·scale (scale NULL: 1), in double. */
static void centre_block(double *out, const float *x, int64_t m, int64_t cols,
                         int64_t ld, const double *mean, const double *scale)
{
    int64_t i, j;
    for (i = 0; i < m; i++)
        for (j = 0; j < cols; j++)
            out[i * cols + j] = (x[i * ld + j] - mean[j]) *
                                (scale != NULL ? scale[j] : 1.0);
}

/* gram (upper) = ZᵀZ / n and rhs = ZᵀY_c / n over row blocks. */
static void accumulate(ctr_ridge *r, const ridge_ws *w, const float *x,
                       int64_t n, int64_t ldx, const float *y, int64_t ldy)
{
    const int d = (int)r->dim, t = (int)r->targets;
    int64_t i0;
    memset(w->gram, 0, (size_t)d * (size_t)d * sizeof(double));
    memset(w->rhs, 0, (size_t)d * (size_t)t * sizeof(double));
    for (i0 = 0; i0 < n; i0 += RIDGE_BLOCK) {
        const int m = (int)(n - i0 < RIDGE_BLOCK ? n - i0 : RIDGE_BLOCK);
        centre_block(w->zblk, x + i0 * ldx, m, d, ldx, w->mean, w->scale);
        centre_block(w->yblk, y + i0 * ldy, m, t, ldy, w->ymean, NULL);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, m,
                    1.0 / (double)n, w->zblk, d, 1.0, w->gram, d);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, t, m,
                    1.0 / (double)n, w->zblk, d, w->yblk, t, 1.0, w->rhs, t);
    }
}

/* In place: the upper triangle of a (d × d) becomes U with A = UᵀU.
 * CTR_E_NUMERIC if a pivot is not clearly positive. */
static int cholesky_upper(ctr_ridge *r, double *a, int64_t d)
{
    int64_t i, j, k;
    double top = 0.0;
    for (i = 0; i < d; i++)
        top = fmax(top, a[i * d + i]);
    for (i = 0; i < d; i++) {
        double piv = a[i * d + i];
        for (k = 0; k < i; k++)
            piv -= a[k * d + i] * a[k * d + i];
        if (!(piv > 1e-13 * top) || !isfinite(piv))
            return ctr__fail(&r->err, CTR_E_NUMERIC,
                             "the normal equations are singular at feature "
                             "%lld (collinear or constant features: raise "
                             "l2)", (long long)i);
        piv = sqrt(piv);
        a[i * d + i] = piv;
        for (j = i + 1; j < d; j++) {
            double v = a[i * d + j];
            for (k = 0; k < i; k++)
                v -= a[k * d + i] * a[k * d + j];
            a[i * d + j] = v / piv;
        }
    }
    return CTR_OK;
}

/* Solves UᵀU X = B in place for the t columns of b (d × t). */
static void cholesky_solve(const double *u, double *b, int64_t d, int64_t t)
{
    int64_t i, k, c;
    for (c = 0; c < t; c++) {
        for (i = 0; i < d; i++) { /* Uᵀ z = b */
            double v = b[i * t + c];
            for (k = 0; k < i; k++)
                v -= u[k * d + i] * b[k * t + c];
            b[i * t + c] = v / u[i * d + i];
        }
        for (i = d - 1; i >= 0; i--) { /* U x = z */
            double v = b[i * t + c];
            for (k = i + 1; k < d; k++)
                v -= u[i * d + k] * b[k * t + c];
            b[i * t + c] = v / u[i * d + i];
        }
    }
}

static void fold(ctr_ridge *r, const ridge_ws *w)
{
    const int64_t d = r->dim, t = r->targets;
    int64_t c, j;
    for (c = 0; c < t; c++) {
        double b = w->ymean[c];
        for (j = 0; j < d; j++) {
            double wj = w->rhs[j * t + c] * w->scale[j];
            r->weight[c * d + j] = (float)wj;
            b -= wj * w->mean[j];
        }
        r->bias[c] = (float)b;
    }
}

CTR_API int ctr_ridge_fit(ctr_ridge *r, const float *x, int64_t n, int64_t ldx,
                          const float *y, int64_t ldy, double l2,
                          int32_t standardize)
{
    ridge_ws w;
    int64_t j;
    int rc;
    if (r == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&r->err);
    if (isnan(l2) || isinf(l2))
        return ctr__fail(&r->err, CTR_E_NUMERIC, "l2 is not finite");
    if (l2 < 0.0 || (standardize != 0 && standardize != 1))
        return ctr__fail(&r->err, CTR_E_INVALID_ARG,
                         "l2 must be >= 0 and standardize 0 or 1");
    rc = check_rows(r, x, n, ldx, y, ldy, 1);
    if (rc == CTR_OK)
        rc = ensure_workspace(r);
    if (rc != CTR_OK)
        return rc;
    carve(r, &w);
    column_moments(x, n, r->dim, ldx, w.mean, w.scale);
    if (!standardize)
        for (j = 0; j < r->dim; j++)
            w.scale[j] = 1.0;
    column_moments(y, n, r->targets, ldy, w.ymean, NULL);
    accumulate(r, &w, x, n, ldx, y, ldy);
    for (j = 0; j < r->dim; j++)
        w.gram[j * r->dim + j] += l2;
    rc = cholesky_upper(r, w.gram, r->dim);
    if (rc != CTR_OK)
        return rc;
    cholesky_solve(w.gram, w.rhs, r->dim, r->targets);
    fold(r, &w);
    r->fitted = 1;
    return CTR_OK;
}

/* ---- using the fit ---------------------------------------------------------- */

static int check_use(ctr_ridge *r, const float *x, int64_t n, int64_t ldx,
                     const float *y, int64_t ldy, int need_y)
{
    if (!r->fitted)
        return ctr__fail(&r->err, CTR_E_STAGE, "the probe is not fitted");
    return check_rows(r, x, n, ldx, y, ldy, need_y);
}

CTR_API int ctr_ridge_predict(ctr_ridge *r, const float *x, int64_t n,
                              int64_t ldx, float *pred)
{
    int64_t i, c;
    int rc;
    if (r == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&r->err);
    rc = ctr__check_ptr(&r->err, pred, "pred");
    if (rc == CTR_OK)
        rc = check_use(r, x, n, ldx, NULL, 0, 0);
    if (rc == CTR_OK && n > INT32_MAX)
        rc = ctr__fail(&r->err, CTR_E_OVERFLOW, "n too large for BLAS");
    if (rc != CTR_OK)
        return rc;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n,
                (int)r->targets, (int)r->dim, 1.0f, x, (int)ldx, r->weight,
                (int)r->dim, 0.0f, pred, (int)r->targets);
    for (i = 0; i < n; i++)
        for (c = 0; c < r->targets; c++)
            pred[i * r->targets + c] += r->bias[c];
    return CTR_OK;
}

CTR_API int ctr_ridge_r2(ctr_ridge *r, const float *x, int64_t n, int64_t ldx,
                         const float *y, int64_t ldy, double *r2,
                         double *mean_r2)
{
    const int64_t d = r != NULL ? r->dim : 0, t = r != NULL ? r->targets : 0;
    int64_t i, c;
    double total = 0.0;
    int rc;
    if (r == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&r->err);
    rc = check_use(r, x, n, ldx, y, ldy, 1);
    if (rc != CTR_OK)
        return rc;
    for (c = 0; c < t; c++) {
        double mean = 0.0, ss_res = 0.0, ss_tot = 0.0, score;
        for (i = 0; i < n; i++)
            mean += y[i * ldy + c];
        mean /= (double)n;
        for (i = 0; i < n; i++) {
            double pred = ctr__vdot_f64(r->weight + c * d, x + i * ldx, d) +
                          r->bias[c];
            double e = y[i * ldy + c] - pred, v = y[i * ldy + c] - mean;
            ss_res += e * e;
            ss_tot += v * v;
        }
        score = ss_tot > 0.0 ? 1.0 - ss_res / ss_tot : (ss_res == 0.0);
        if (r2 != NULL)
            r2[c] = score;
        total += score;
    }
    if (mean_r2 != NULL)
        *mean_r2 = total / (double)t;
    return CTR_OK;
}

CTR_API int ctr_ridge_get_weights(const ctr_ridge *r, float *weight,
                                  float *bias)
{
    if (r == NULL)
        return CTR_E_INVALID_ARG;
    if (!r->fitted)
        return ctr__const_fail(&r->err, CTR_E_STAGE, "the ridge probe is not fitted yet");
    if (weight != NULL)
        memcpy(weight, r->weight,
               (size_t)(r->dim * r->targets) * sizeof(float));
    if (bias != NULL)
        memcpy(bias, r->bias, (size_t)r->targets * sizeof(float));
    return ctr__const_result(&r->err, CTR_OK, NULL);
}
