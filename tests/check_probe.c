/*
 * check_probe.c - the linear probe (checked by the optimality conditions of
 * its strictly convex objective, computed independently in double) and the
 * alignment / uniformity metrics (against naive double formulas).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

enum { D = 6, C = 3, N = 240 };

/* Three Gaussian blobs in D dims with overlapping tails, features on
 * different scales; feature 4 is `wild` times larger still, which only a
 * standardised fit can handle at float precision. */
static void make_blobs_scaled(float *x, int64_t *y, int64_t n, uint64_t seed,
                              float wild)
{
    ctr_rng *rng = NULL;
    int64_t i, j;
    ck_assert_int_eq(ctr_rng_create(&rng, seed, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(rng, x, n * D, 0.0f, 1.0f), CTR_OK);
    for (i = 0; i < n; i++) {
        y[i] = i % C;
        x[i * D + y[i]] += 2.0f;
        for (j = 0; j < D; j++)
            x[i * D + j] *= (float)(j + 1) * (j == 4 ? wild : 1.0f);
    }
    ctr_rng_destroy(rng);
}

static void make_blobs(float *x, int64_t *y, int64_t n, uint64_t seed)
{
    make_blobs_scaled(x, y, n, seed, 100.0f);
}

/* The objective's gradient at the probe's solution, in double, in the
 * space the probe optimises (standardised when `standardize`). Returns the
 * max-norm and the objective value in *loss. */
static double reference_gradient(const float *x, const int64_t *y, int64_t n,
                                 const float *weight, const float *bias,
                                 double l2, int standardize, double *loss)
{
    double mean[D] = {0}, sd[D], W[C][D], b[C], gW[C][D] = {{0}}, gb[C] = {0};
    double total = 0.0, pen = 0.0, gmax = 0.0;
    int64_t i;
    int c, j;
    for (j = 0; j < D; j++) {
        double s = 0, q = 0;
        for (i = 0; i < n; i++)
            s += x[i * D + j];
        mean[j] = standardize ? s / n : 0.0;
        for (i = 0; i < n; i++)
            q += (x[i * D + j] - mean[j]) * (x[i * D + j] - mean[j]);
        sd[j] = standardize ? sqrt(q / n) : 1.0;
    }
    /* raw-space weight = W / sd, bias = b - Σ weight·mean */
    for (c = 0; c < C; c++) {
        b[c] = bias[c];
        for (j = 0; j < D; j++) {
            W[c][j] = (double)weight[c * D + j] * sd[j];
            b[c] += (double)weight[c * D + j] * mean[j];
        }
    }
    for (i = 0; i < n; i++) {
        double z[C], zmax = -INFINITY, sum = 0.0, xs[D];
        for (j = 0; j < D; j++)
            xs[j] = (x[i * D + j] - mean[j]) / sd[j];
        for (c = 0; c < C; c++) {
            z[c] = b[c];
            for (j = 0; j < D; j++)
                z[c] += W[c][j] * xs[j];
            zmax = fmax(zmax, z[c]);
        }
        for (c = 0; c < C; c++)
            sum += exp(z[c] - zmax);
        total += log(sum) + zmax - z[y[i]];
        for (c = 0; c < C; c++) {
            double g = exp(z[c] - zmax) / sum - (c == y[i]);
            gb[c] += g / n;
            for (j = 0; j < D; j++)
                gW[c][j] += g * xs[j] / n;
        }
    }
    for (c = 0; c < C; c++) {
        gmax = fmax(gmax, fabs(gb[c]));
        for (j = 0; j < D; j++) {
            gmax = fmax(gmax, fabs(gW[c][j] + l2 * W[c][j]));
            pen += W[c][j] * W[c][j];
        }
    }
    *loss = total / n + 0.5 * l2 * pen;
    return gmax;
}

static void check_optimal(int standardize, double l2)
{
    float x[N * D], weight[C * D], bias[C];
    int64_t y[N], iters;
    int32_t converged;
    double loss, ref_loss, gmax;
    ctr_probe *p = NULL;
    make_blobs_scaled(x, y, N, 11, standardize ? 100.0f : 1.0f);
    ck_assert_int_eq(ctr_probe_create(&p, D, C, NULL), CTR_OK);
    ck_assert_int_eq(ctr_probe_set_i64(p, CTR_PROBE_P_STANDARDIZE, standardize), CTR_OK);
    ck_assert_int_eq(ctr_probe_set_f64(p, CTR_PROBE_P_L2, l2), CTR_OK);
    ck_assert_int_eq(ctr_probe_set_i64(p, CTR_PROBE_P_BLOCK_ROWS, 37), CTR_OK);
    ck_assert_int_eq(ctr_probe_fit(p, x, N, D, y), CTR_OK);
    ck_assert_int_eq(ctr_probe_fit_info(p, &loss, &iters, &converged), CTR_OK);
    ck_assert_int_eq(ctr_probe_get_weights(p, weight, bias), CTR_OK);
    gmax = reference_gradient(x, y, N, weight, bias, l2, standardize, &ref_loss);
    ck_assert_msg(gmax < 2e-4, "gradient max-norm %g at the solution (%lld iterations, converged %d, loss %.9g vs %.9g)", gmax, (long long)iters, (int)converged, loss, ref_loss);
    ck_assert_close(loss, ref_loss, 1e-5, 1e-6);
    ck_assert_int_gt(iters, 1);
    ctr_probe_destroy(p);
}

START_TEST(test_fit_is_optimal_standardized)
{
    check_optimal(1, 1e-2);
}
END_TEST

START_TEST(test_fit_is_optimal_raw)
{
    check_optimal(0, 1e-1);
}
END_TEST

START_TEST(test_predict_and_accuracy)
{
    float x[N * D], xt[N * D], probs[N * C], weight[C * D], bias[C];
    int64_t y[N], yt[N], pred[N], i, correct = 0;
    double acc, acc_other_block;
    ctr_probe *p = NULL;
    int c, j;
    make_blobs(x, y, N, 1);
    make_blobs(xt, yt, N, 2);
    ck_assert_int_eq(ctr_probe_create(&p, D, C, NULL), CTR_OK);
    ck_assert_int_eq(ctr_probe_fit(p, x, N, D, y), CTR_OK);
    ck_assert_int_eq(ctr_probe_predict(p, xt, N, D, pred, probs), CTR_OK);
    ck_assert_int_eq(ctr_probe_get_weights(p, weight, bias), CTR_OK);
    for (i = 0; i < N; i++) {
        double sum = 0.0, z[C];
        int best = 0;
        for (c = 0; c < C; c++) {
            z[c] = bias[c];
            for (j = 0; j < D; j++)
                z[c] += (double)weight[c * D + j] * xt[i * D + j];
            if (z[c] > z[best])
                best = c;
            sum += probs[i * C + c];
        }
        ck_assert_close(sum, 1.0, 0, 1e-5);
        ck_assert_int_eq(pred[i], best);
        correct += pred[i] == yt[i];
    }
    ck_assert_int_eq(ctr_probe_accuracy(p, xt, N, D, yt, &acc), CTR_OK);
    ck_assert_close(acc, (double)correct / N, 0, 1e-12);
    ck_assert_msg(acc > 0.8, "accuracy %g on separable-ish blobs", acc);
    /* a parameter change after the fit does not disturb prediction */
    ck_assert_int_eq(ctr_probe_set_i64(p, CTR_PROBE_P_BLOCK_ROWS, 1000000), CTR_OK);
    ck_assert_int_eq(ctr_probe_accuracy(p, xt, N, D, yt, &acc_other_block), CTR_OK);
    ck_assert_close(acc_other_block, acc, 0, 1e-12);
    ctr_probe_destroy(p);
}
END_TEST

START_TEST(test_views_with_leading_dimension)
{
    float x[N * D], wide[N * (D + 3)], w1[C * D], w2[C * D];
    int64_t y[N], i;
    ctr_probe *a = NULL, *b = NULL;
    make_blobs(x, y, N, 5);
    for (i = 0; i < N * (D + 3); i++)
        wide[i] = NAN; /* padding must never be read */
    for (i = 0; i < N; i++)
        memcpy(wide + i * (D + 3), x + i * D, D * sizeof(float));
    ck_assert_int_eq(ctr_probe_create(&a, D, C, NULL), CTR_OK);
    ck_assert_int_eq(ctr_probe_create(&b, D, C, NULL), CTR_OK);
    ck_assert_int_eq(ctr_probe_fit(a, x, N, D, y), CTR_OK);
    ck_assert_int_eq(ctr_probe_fit(b, wide, N, D + 3, y), CTR_OK);
    ck_assert_int_eq(ctr_probe_get_weights(a, w1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_probe_get_weights(b, w2, NULL), CTR_OK);
    for (i = 0; i < C * D; i++)
        ck_assert_close(w2[i], w1[i], 1e-4, 1e-6);
    ctr_probe_destroy(a);
    ctr_probe_destroy(b);
}
END_TEST

START_TEST(test_parameters)
{
    ctr_probe *p = NULL;
    double lo, hi, v;
    int64_t k;
    ck_assert_int_eq(ctr_probe_create(&p, D, C, NULL), CTR_OK);
    ck_assert_int_eq(ctr_probe_get_f64(p, CTR_PROBE_P_L2, &v), CTR_OK);
    ck_assert_close(v, 1e-4, 0, 0);
    ck_assert_int_eq(ctr_probe_get_i64(p, CTR_PROBE_P_MAX_ITER, &k), CTR_OK);
    ck_assert_int_eq(k, 300);
    ck_assert_int_eq(ctr_probe_param_bounds(CTR_PROBE_P_HISTORY, &lo, &hi), CTR_OK);
    ck_assert(lo == 1.0 && hi == 100.0);
    ck_assert_int_eq(ctr_probe_param_bounds(999, &lo, &hi), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_probe_set_f64(p, CTR_PROBE_P_L2, -1.0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_probe_set_f64(p, CTR_PROBE_P_L2, NAN), CTR_E_NUMERIC);
    ck_assert_int_eq(ctr_probe_set_f64(p, CTR_PROBE_P_MAX_ITER, 5.5), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_probe_set_i64(p, CTR_PROBE_P_L2, -1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_probe_set_i64(p, CTR_PROBE_P_HISTORY, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_probe_set_i64(p, 12345, 0), CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr_probe_last_error(p), "unknown parameter 12345 (no CTR_PROBE_P_* constant)");
    ck_assert_int_eq(ctr_probe_get_f64(p, CTR_PROBE_P_L2, &v), CTR_OK);
    ck_assert_close(v, 1e-4, 0, 0); /* unchanged by the failed sets */
    ck_assert_int_eq(ctr_probe_get_i64(p, CTR_PROBE_P_L2, &k), CTR_E_INVALID_ARG);
    ctr_probe_destroy(p);
}
END_TEST

START_TEST(test_bad_input)
{
    float x[N * D], before[C * D], after[C * D];
    int64_t y[N], pred[N];
    double acc;
    ctr_probe *p = NULL;
    make_blobs(x, y, N, 3);
    ck_assert_int_eq(ctr_probe_create(NULL, D, C, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_probe_create(&p, 0, C, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_probe_create(&p, D, 1, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_probe_create(&p, INT64_MAX / 2, 4, NULL), CTR_E_OVERFLOW);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(ctr_probe_create(&p, D, C, NULL), CTR_OK);
    ck_assert_int_eq(ctr_probe_predict(p, x, N, D, pred, NULL), CTR_E_STAGE);
    ck_assert_int_eq(ctr_probe_fit_info(p, NULL, NULL, NULL), CTR_E_STAGE);
    ck_assert_int_eq(ctr_probe_get_weights(p, before, NULL), CTR_E_STAGE);
    ck_assert_int_eq(ctr_probe_fit(p, x, N, D, y), CTR_OK);
    ck_assert_int_eq(ctr_probe_get_weights(p, before, NULL), CTR_OK);

    ck_assert_int_eq(ctr_probe_fit(p, NULL, N, D, y), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_probe_fit(p, x, 0, D, y), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_probe_fit(p, x, N, D - 1, y), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_probe_fit(p, x, N, D, NULL), CTR_E_INVALID_ARG);
    y[7] = C;
    ck_assert_int_eq(ctr_probe_fit(p, x, N, D, y), CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr_probe_last_error(p), "labels[7] = 3 is not in [0, 3)");
    y[7] = -1;
    ck_assert_int_eq(ctr_probe_fit(p, x, N, D, y), CTR_E_INVALID_ARG);
    y[7] = 1;
    x[5 * D + 2] = NAN;
    ck_assert_int_eq(ctr_probe_fit(p, x, N, D, y), CTR_E_NUMERIC);
    ck_assert_int_eq(ctr_probe_predict(p, x, N, D, pred, NULL), CTR_E_NUMERIC);
    x[5 * D + 2] = 0.0f;
    ck_assert_int_eq(ctr_probe_predict(p, x, N, D, NULL, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_probe_accuracy(p, x, N, D, y, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_probe_accuracy(p, x, N, D, NULL, &acc), CTR_E_INVALID_ARG);
    /* the earlier fit survived every failed call */
    ck_assert_int_eq(ctr_probe_get_weights(p, after, NULL), CTR_OK);
    ck_assert_int_eq(memcmp(before, after, sizeof(after)), 0);
    ck_assert_int_eq(ctr_probe_fit(NULL, x, N, D, y), CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(ctr_probe_last_error(NULL));
    ctr_probe_destroy(p);
    ctr_probe_destroy(NULL);
}
END_TEST

static int attempt_create_fit(const ctr_allocator *a, void *ctx)
{
    const float *x = (const float *)ctx;
    int64_t y[N], i;
    ctr_probe *p = NULL;
    int rc;
    for (i = 0; i < N; i++)
        y[i] = i % C;
    rc = ctr_probe_create(&p, D, C, a);
    if (rc == CTR_OK)
        rc = ctr_probe_fit(p, x, N, D, y);
    ctr_probe_destroy(p);
    return rc;
}

START_TEST(test_out_of_memory)
{
    float x[N * D];
    int64_t y[N];
    make_blobs(x, y, N, 4);
    ck_assert_int_ge(test_every_alloc_failure(attempt_create_fit, x), 9);
}
END_TEST

/* ---- metrics ---- */

START_TEST(test_alignment)
{
    float x[4 * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1};
    float y[4 * 5];
    double out, ref = 0.0;
    int i, j;
    for (i = 0; i < 4; i++)
        for (j = 0; j < 5; j++)
            y[i * 5 + j] = j < 3 ? x[i * 3 + j] + 0.5f * (float)(i - j) : NAN;
    for (i = 0; i < 4; i++) {
        double sq = 0.0;
        for (j = 0; j < 3; j++)
            sq += 0.25 * (i - j) * (i - j);
        ref += pow(sq, 1.5);
    }
    ck_assert_int_eq(ctr_alignment(&out, x, 3, y, 5, 4, 3, 3.0), CTR_OK);
    ck_assert_close(out, ref / 4, 1e-12, 0);
    ck_assert_int_eq(ctr_alignment(&out, x, 3, x, 3, 4, 3, 2.0), CTR_OK);
    ck_assert_close(out, 0.0, 0, 0);
    ck_assert_int_eq(ctr_alignment(&out, x, 3, y, 5, 4, 3, 0.0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_alignment(&out, x, 2, y, 5, 4, 3, 2.0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_alignment(NULL, x, 3, y, 5, 4, 3, 2.0), CTR_E_INVALID_ARG);
    y[0] = INFINITY;
    ck_assert_int_eq(ctr_alignment(&out, x, 3, y, 5, 4, 3, 2.0), CTR_E_NUMERIC);
}
END_TEST

START_TEST(test_uniformity)
{
    enum { M = 50, K = 4 };
    float two[4] = {1, 0, 0, 1}, x[M * K];
    double out, sum = 0.0;
    ctr_rng *rng = NULL;
    int i, k, j;
    /* two orthogonal unit vectors: dist² = 2, log exp(-2t) = -2t */
    ck_assert_int_eq(ctr_uniformity(&out, two, 2, 2, 2, 2.0), CTR_OK);
    ck_assert_close(out, -4.0, 1e-12, 0);
    ck_assert_int_eq(ctr_rng_create(&rng, 9, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(rng, x, M * K, 0.0f, 1.0f), CTR_OK);
    for (i = 0; i < M; i++)
        for (k = i + 1; k < M; k++) {
            double sq = 0.0;
            for (j = 0; j < K; j++)
                sq += ((double)x[i * K + j] - x[k * K + j]) *
                      ((double)x[i * K + j] - x[k * K + j]);
            sum += exp(-2.0 * sq);
        }
    ck_assert_int_eq(ctr_uniformity(&out, x, K, M, K, 2.0), CTR_OK);
    ck_assert_close(out, log(sum / (M * (M - 1) / 2.0)), 1e-10, 0);
    /* far-apart points: exp underflows in a naive sum, not here */
    two[0] = 100.0f;
    ck_assert_int_eq(ctr_uniformity(&out, two, 2, 2, 2, 2.0), CTR_OK);
    ck_assert_close(out, -2.0 * (100.0 * 100.0 + 1.0), 1e-12, 0);
    ck_assert_int_eq(ctr_uniformity(&out, x, K, 1, K, 2.0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_uniformity(&out, x, K, M, K, -1.0), CTR_E_INVALID_ARG);
    x[3] = NAN;
    ck_assert_int_eq(ctr_uniformity(&out, x, K, M, K, 2.0), CTR_E_NUMERIC);
    ctr_rng_destroy(rng);
}
END_TEST

Suite *ctr_test_probe_suite(void);

Suite *ctr_test_probe_suite(void)
{
    Suite *s = suite_create("probe");
    TCase *fit = tcase_create("fit");
    TCase *api = tcase_create("api");
    TCase *metrics = tcase_create("metrics");
    tcase_add_test(fit, test_fit_is_optimal_standardized);
    tcase_add_test(fit, test_fit_is_optimal_raw);
    tcase_add_test(fit, test_predict_and_accuracy);
    tcase_add_test(fit, test_views_with_leading_dimension);
    tcase_add_test(api, test_parameters);
    tcase_add_test(api, test_bad_input);
    tcase_add_test(api, test_out_of_memory);
    tcase_add_test(metrics, test_alignment);
    tcase_add_test(metrics, test_uniformity);
    tcase_set_timeout(fit, 60);
    tcase_set_timeout(api, 60);
    suite_add_tcase(s, fit);
    suite_add_tcase(s, api);
    suite_add_tcase(s, metrics);
    return s;
}
