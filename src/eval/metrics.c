/*
 * metrics.c - Wang & Isola's alignment and uniformity of representations
 * ("Understanding Contrastive Representation Learning through Alignment
 * and Uniformity on the Hypersphere", ICML 2020).
 */
#include <math.h>

#include "common/core.h"

static int check_view(const float *x, int64_t ld, int64_t n, int64_t d,
                      int64_t min_n)
{
    if (x == NULL || n < min_n || d < 1 || ld < d)
        return CTR_E_INVALID_ARG;
    return ctr__check_finite_matrix(NULL, x, n, d, ld, "x");
}

CTR_API int ctr_alignment(double *out, const float *x, int64_t ldx,
                          const float *y, int64_t ldy, int64_t n, int64_t d,
                          double alpha)
{
    double sum = 0.0;
    int64_t i, j;
    int rc;
    if (out == NULL || !(alpha > 0.0) || isinf(alpha))
        return CTR_E_INVALID_ARG;
    if ((rc = check_view(x, ldx, n, d, 1)) != CTR_OK ||
        (rc = check_view(y, ldy, n, d, 1)) != CTR_OK)
        return rc;
    for (i = 0; i < n; i++) {
        double sq = 0.0;
        for (j = 0; j < d; j++) {
            double diff = (double)x[i * ldx + j] - y[i * ldy + j];
            sq += diff * diff;
        }
        sum += pow(sqrt(sq), alpha);
    }
    *out = sum / (double)n;
    return CTR_OK;
}

CTR_API int ctr_uniformity(double *out, const float *x, int64_t ld, int64_t n,
                           int64_t d, double t)
{
    /* log mean exp(-t·dist²) over pairs, accumulated as a running
     * log-sum-exp (m = max so far, s = Σ exp(v − m)). */
    double m = -INFINITY, s = 0.0, pairs;
    int64_t i, k, j;
    int rc;
    if (out == NULL || !(t > 0.0) || isinf(t))
        return CTR_E_INVALID_ARG;
    if ((rc = check_view(x, ld, n, d, 2)) != CTR_OK)
        return rc;
    for (i = 0; i < n; i++) {
        for (k = i + 1; k < n; k++) {
            double sq = 0.0, v;
            for (j = 0; j < d; j++) {
                double diff = (double)x[i * ld + j] - x[k * ld + j];
                sq += diff * diff;
            }
            v = -t * sq;
            if (v > m) {
                s = s * exp(m - v) + 1.0;
                m = v;
            } else {
                s += exp(v - m);
            }
        }
    }
    pairs = (double)n * (double)(n - 1) / 2.0;
    *out = m + log(s) - log(pairs);
    return CTR_OK;
}
