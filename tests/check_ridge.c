/*
 * check_ridge.c - the regression probe (contrastive/ridge.h): weights,
 * predictions and R² against a float64 reference that solves the same
 * normal equations by Gaussian elimination (standardised and centred
 * features, strided views), exact linear data, the R² conventions,
 * constant and collinear features, bad inputs with nothing written or the
 * previous fit kept, no allocation after the first fit, and every
 * allocation failing in turn.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

/* ---- float64 reference -------------------------------------------------------- */

typedef struct problem {
    int64_t n, d, t, ldx, ldy;
    double l2;
    int standardize;
    float *x, *y;
} problem;

static void problem_make(problem *p, int64_t n, int64_t d, int64_t t, int64_t ldx,
                         int64_t ldy, unsigned seed)
{
    ctr_rng *g = NULL;
    float *w = malloc((size_t)(d * t) * sizeof(float));
    int64_t i, j, c;
    p->n = n, p->d = d, p->t = t, p->ldx = ldx, p->ldy = ldy;
    p->x = malloc((size_t)(n * ldx) * sizeof(float));
    p->y = malloc((size_t)(n * ldy) * sizeof(float));
    ck_assert_int_eq(ctr_rng_create(&g, seed, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(g, p->x, n * ldx, 0.5f, 2.0f), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(g, p->y, n * ldy, 0.0f, 0.3f), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(g, w, d * t, 0.0f, 1.0f), CTR_OK);
    for (i = 0; i < n; i++) /* y = x w + 1 + noise */
        for (c = 0; c < t; c++)
            for (j = 0; j < d; j++)
                p->y[i * ldy + c] += p->x[i * ldx + j] * w[j * t + c] + (j == 0 ? 1.0f : 0.0f);
    free(w);
    ctr_rng_destroy(g);
}

/* Solves a x = b (m x m, one right-hand side) by Gaussian elimination
 * with partial pivoting, in place. */
static void gauss(double *a, double *b, int64_t m)
{
    int64_t i, j, k;
    for (k = 0; k < m; k++) {
        int64_t best = k;
        for (i = k + 1; i < m; i++)
            if (fabs(a[i * m + k]) > fabs(a[best * m + k]))
                best = i;
        for (j = 0; j < m; j++) {
            double s = a[k * m + j];
            a[k * m + j] = a[best * m + j];
            a[best * m + j] = s;
        }
        { double s = b[k]; b[k] = b[best]; b[best] = s; }
        for (i = k + 1; i < m; i++) {
            double f = a[i * m + k] / a[k * m + k];
            for (j = k; j < m; j++)
                a[i * m + j] -= f * a[k * m + j];
            b[i] -= f * b[k];
        }
    }
    for (i = m - 1; i >= 0; i--) {
        for (j = i + 1; j < m; j++)
            b[i] -= a[i * m + j] * b[j];
        b[i] /= a[i * m + i];
    }
}

/* The reference map in raw-feature space: weight (t x d), bias (t). */
static void reference_fit(const problem *p, double *weight, double *bias)
{
    const int64_t n = p->n, d = p->d;
    double *mu = calloc((size_t)d, sizeof(double)), *s = calloc((size_t)d, sizeof(double));
    double *a = malloc((size_t)(d * d) * sizeof(double)), *b = malloc((size_t)d * sizeof(double));
    int64_t i, j, k, c;
    for (j = 0; j < d; j++) {
        double var = 0.0;
        for (i = 0; i < n; i++)
            mu[j] += p->x[i * p->ldx + j] / (double)n;
        for (i = 0; i < n; i++)
            var += pow(p->x[i * p->ldx + j] - mu[j], 2) / (double)n;
        s[j] = p->standardize ? (var > 0 ? 1.0 / sqrt(var) : 0.0) : 1.0;
    }
    for (c = 0; c < p->t; c++) {
        double ym = 0.0;
        for (i = 0; i < n; i++)
            ym += p->y[i * p->ldy + c] / (double)n;
        for (j = 0; j < d; j++) {
            b[j] = 0.0;
            for (k = 0; k < d; k++) {
                double v = 0.0;
                for (i = 0; i < n; i++)
                    v += (p->x[i * p->ldx + j] - mu[j]) * s[j] * (p->x[i * p->ldx + k] - mu[k]) *
                         s[k];
                a[j * d + k] = v / (double)n + (j == k ? p->l2 : 0.0);
            }
            for (i = 0; i < n; i++)
                b[j] += (p->x[i * p->ldx + j] - mu[j]) * s[j] * (p->y[i * p->ldy + c] - ym) /
                        (double)n;
        }
        gauss(a, b, d);
        bias[c] = ym;
        for (j = 0; j < d; j++) {
            weight[c * d + j] = b[j] * s[j];
            bias[c] -= weight[c * d + j] * mu[j];
        }
    }
    free(mu), free(s), free(a), free(b);
}

static void reference_r2(const problem *p, const double *weight, const double *bias,
                         double *r2)
{
    int64_t i, j, c;
    for (c = 0; c < p->t; c++) {
        double mean = 0.0, res = 0.0, tot = 0.0;
        for (i = 0; i < p->n; i++)
            mean += p->y[i * p->ldy + c] / (double)p->n;
        for (i = 0; i < p->n; i++) {
            double pred = bias[c];
            for (j = 0; j < p->d; j++)
                pred += weight[c * p->d + j] * p->x[i * p->ldx + j];
            res += pow(p->y[i * p->ldy + c] - pred, 2);
            tot += pow(p->y[i * p->ldy + c] - mean, 2);
        }
        r2[c] = 1.0 - res / tot;
    }
}

static void check_problem(problem *p)
{
    const int64_t d = p->d, t = p->t;
    double *ww = malloc((size_t)(t * d) * sizeof(double)), wb[8], wr2[8], r2[8], mean;
    float *w = malloc((size_t)(t * d) * sizeof(float)), b[8];
    float *pred = malloc((size_t)(p->n * t) * sizeof(float));
    double wmax = 0.0;
    int64_t i, j, c;
    ctr_ridge *r = NULL;
    ck_assert_int_le(t, 8);
    ck_assert_int_eq(ctr_ridge_create(&r, d, t, NULL), CTR_OK);
    ck_assert_int_eq(ctr_ridge_fit(r, p->x, p->n, p->ldx, p->y, p->ldy, p->l2, p->standardize),
                     CTR_OK);
    ck_assert_str_eq(ctr_ridge_last_error(r), "");
    reference_fit(p, ww, wb);
    ck_assert_int_eq(ctr_ridge_get_weights(r, w, b), CTR_OK);
    for (i = 0; i < t * d; i++)
        wmax = fmax(wmax, fabs(ww[i]));
    for (i = 0; i < t * d; i++)
        ck_assert_close(w[i], ww[i], 0.0, 1e-5 * wmax);
    for (c = 0; c < t; c++)
        ck_assert_close(b[c], wb[c], 1e-5, 1e-5 * wmax);
    ck_assert_int_eq(ctr_ridge_predict(r, p->x, p->n, p->ldx, pred), CTR_OK);
    for (i = 0; i < p->n; i++)
        for (c = 0; c < t; c++) {
            double want = wb[c];
            for (j = 0; j < d; j++)
                want += ww[c * d + j] * p->x[i * p->ldx + j];
            ck_assert_close(pred[i * t + c], want, 1e-5, 1e-5 * (1.0 + fabs(wb[c])));
        }
    reference_r2(p, ww, wb, wr2);
    ck_assert_int_eq(ctr_ridge_r2(r, p->x, p->n, p->ldx, p->y, p->ldy, r2, &mean), CTR_OK);
    wmax = 0.0; /* now the sum of the R² */
    for (c = 0; c < t; c++) {
        ck_assert_close(r2[c], wr2[c], 1e-5, 1e-7);
        wmax += r2[c];
    }
    ck_assert_double_eq_tol(mean, wmax / (double)t, 1e-12);
    free(ww), free(w), free(pred);
    ctr_ridge_destroy(r);
}

START_TEST(test_reference)
{
    problem p;
    problem_make(&p, 300, 12, 3, 15, 4, 5);
    p.l2 = 0.1, p.standardize = 1;
    check_problem(&p);
    p.l2 = 1e-4, p.standardize = 0;
    check_problem(&p);
    p.l2 = 0.0, p.standardize = 1;
    check_problem(&p);
    free(p.x), free(p.y);
    /* more rows than one block, one target */
    problem_make(&p, 700, 5, 1, 5, 1, 6);
    p.l2 = 0.01, p.standardize = 1;
    check_problem(&p);
    free(p.x), free(p.y);
}
END_TEST

START_TEST(test_exact_and_conventions)
{
    enum { N = 50, D = 3 };
    static float x[N * D], y[N * 2], pred[N * 2];
    double r2[2], mean;
    float w[2 * D], b[2];
    ctr_ridge *r = NULL;
    int i;
    for (i = 0; i < N; i++) {
        x[i * D] = (float)sin(0.3 * i);
        x[i * D + 1] = 5.0f; /* constant feature */
        x[i * D + 2] = (float)cos(0.7 * i);
        y[i * 2] = 2.0f * x[i * D] - x[i * D + 2] + 0.5f;
        y[i * 2 + 1] = 3.0f; /* constant target */
    }
    ck_assert_int_eq(ctr_ridge_create(&r, D, 2, NULL), CTR_OK);
    ck_assert_int_eq(ctr_ridge_fit(r, x, N, D, y, 2, 1e-9, 1), CTR_OK);
    ck_assert_int_eq(ctr_ridge_get_weights(r, w, NULL), CTR_OK);
    ck_assert_float_eq(w[1], 0.0f); /* the constant feature */
    ck_assert_int_eq(ctr_ridge_get_weights(r, NULL, b), CTR_OK);
    ck_assert_float_eq_tol(b[1], 3.0f, 1e-6f);
    ck_assert_int_eq(ctr_ridge_r2(r, x, N, D, y, 2, r2, &mean), CTR_OK);
    ck_assert_double_gt(r2[0], 1.0 - 1e-6);
    ck_assert_double_eq(r2[1], 1.0); /* constant target predicted exactly */
    ck_assert_int_eq(ctr_ridge_predict(r, x, N, D, pred), CTR_OK);
    for (i = 0; i < N; i++)
        y[i * 2 + 1] = 4.0f;
    ck_assert_int_eq(ctr_ridge_r2(r, x, N, D, y, 2, r2, NULL), CTR_OK);
    ck_assert_double_eq(r2[1], 0.0); /* constant target missed */
    ck_assert_int_eq(ctr_ridge_r2(r, x, N, D, y, 2, NULL, NULL), CTR_OK);
    /* centring only: the constant feature makes Z^T Z singular at l2 = 0 */
    ck_assert_int_eq(ctr_ridge_fit(r, x, N, D, y, 2, 0.0, 0), CTR_E_NUMERIC);
    ck_assert_str_ne(ctr_ridge_last_error(r), "");
    ck_assert_int_eq(ctr_ridge_get_weights(r, w, NULL), CTR_OK);
    ck_assert_float_eq(w[1], 0.0f); /* the previous fit is kept */
    ctr_ridge_destroy(r);
}
END_TEST

START_TEST(test_bad_arguments)
{
    enum { N = 6, D = 2 };
    float x[N * D], y[N], pred[N], keep[N];
    double r2 = 7.0;
    ctr_ridge *r = NULL;
    int i;
    for (i = 0; i < N * D; i++)
        x[i] = (float)sin(i + 1.0);
    for (i = 0; i < N; i++)
        y[i] = (float)i;
    ck_assert_int_eq(ctr_ridge_create(NULL, D, 1, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_ridge_create(&r, 0, 1, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_ridge_create(&r, D, 0, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_ridge_create(&r, 46341, 1, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_ridge_create(&r, 40000, INT64_MAX / 2, NULL), CTR_E_OVERFLOW);
    ck_assert_ptr_null(r);
    ctr_ridge_destroy(NULL);
    ck_assert_ptr_nonnull(ctr_ridge_last_error(NULL));
    ck_assert_int_eq(ctr_ridge_create(&r, D, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_ridge_predict(r, x, N, D, pred), CTR_E_STAGE);
    ck_assert_int_eq(ctr_ridge_r2(r, x, N, D, y, 1, &r2, NULL), CTR_E_STAGE);
    ck_assert_int_eq(ctr_ridge_get_weights(r, NULL, NULL), CTR_E_STAGE);
    ck_assert_int_eq(ctr_ridge_fit(NULL, x, N, D, y, 1, 0.1, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_ridge_fit(r, NULL, N, D, y, 1, 0.1, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_ridge_fit(r, x, N, D, NULL, 1, 0.1, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_ridge_fit(r, x, 0, D, y, 1, 0.1, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_ridge_fit(r, x, N, D - 1, y, 1, 0.1, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_ridge_fit(r, x, N, D, y, 0, 0.1, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_ridge_fit(r, x, N, D, y, 1, -0.1, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_ridge_fit(r, x, N, D, y, 1, NAN, 1), CTR_E_NUMERIC);
    ck_assert_int_eq(ctr_ridge_fit(r, x, N, D, y, 1, INFINITY, 1), CTR_E_NUMERIC);
    ck_assert_int_eq(ctr_ridge_fit(r, x, N, D, y, 1, 0.1, 2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_ridge_fit(r, x, INT64_MAX / 2, D, y, 1, 0.1, 1), CTR_E_OVERFLOW);
    x[3] = NAN;
    ck_assert_int_eq(ctr_ridge_fit(r, x, N, D, y, 1, 0.1, 1), CTR_E_NUMERIC);
    x[3] = 0.5f;
    y[2] = INFINITY;
    ck_assert_int_eq(ctr_ridge_fit(r, x, N, D, y, 1, 0.1, 1), CTR_E_NUMERIC);
    ck_assert_int_eq(ctr_ridge_get_weights(r, NULL, NULL), CTR_E_STAGE);
    y[2] = 2.0f;
    ck_assert_int_eq(ctr_ridge_fit(r, x, N, D, y, 1, 0.1, 1), CTR_OK);
    for (i = 0; i < N; i++)
        pred[i] = keep[i] = -3.0f;
    ck_assert_int_eq(ctr_ridge_predict(r, x, N, D, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_ridge_predict(r, x, N, 1, pred), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_ridge_predict(r, x, 0, D, pred), CTR_E_INVALID_ARG);
    x[0] = INFINITY;
    ck_assert_int_eq(ctr_ridge_predict(r, x, N, D, pred), CTR_E_NUMERIC);
    ck_assert_int_eq(ctr_ridge_r2(r, x, N, D, y, 1, &r2, NULL), CTR_E_NUMERIC);
    x[0] = 0.5f;
    y[0] = NAN;
    ck_assert_int_eq(ctr_ridge_r2(r, x, N, D, y, 1, &r2, NULL), CTR_E_NUMERIC);
    ck_assert_int_eq(ctr_ridge_r2(r, x, N, D, NULL, 1, &r2, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_ridge_r2(NULL, x, N, D, y, 1, &r2, NULL), CTR_E_INVALID_ARG);
    ck_assert(memcmp(pred, keep, sizeof(pred)) == 0);
    ck_assert_double_eq(r2, 7.0);
    ctr_ridge_destroy(r);
}
END_TEST

/* ---- memory ------------------------------------------------------------------------ */

START_TEST(test_no_allocation_after_fit)
{
    problem p;
    test_alloc_state st;
    ctr_allocator a;
    ctr_ridge *r = NULL;
    float pred[300 * 3];
    double r2[3];
    int64_t calls;
    problem_make(&p, 300, 12, 3, 12, 3, 9);
    test_alloc_setup(&a, &st);
    ck_assert_int_eq(ctr_ridge_create(&r, 12, 3, &a), CTR_OK);
    ck_assert_int_eq(ctr_ridge_fit(r, p.x, 300, 12, p.y, 3, 0.1, 1), CTR_OK);
    calls = st.calls;
    ck_assert_int_eq(ctr_ridge_fit(r, p.x, 200, 12, p.y, 3, 0.5, 0), CTR_OK);
    ck_assert_int_eq(ctr_ridge_predict(r, p.x, 300, 12, pred), CTR_OK);
    ck_assert_int_eq(ctr_ridge_r2(r, p.x, 300, 12, p.y, 3, r2, NULL), CTR_OK);
    ck_assert_int_eq(st.calls, calls);
    ctr_ridge_destroy(r);
    ck_assert_int_eq(st.live_blocks, 0);
    free(p.x), free(p.y);
}
END_TEST

static int oom_attempt(const ctr_allocator *a, void *ctx)
{
    problem *p = (problem *)ctx;
    ctr_ridge *r = NULL;
    double mean;
    int rc = ctr_ridge_create(&r, p->d, p->t, a);
    if (rc == CTR_OK)
        rc = ctr_ridge_fit(r, p->x, p->n, p->ldx, p->y, p->ldy, 0.1, 1);
    if (rc == CTR_OK)
        rc = ctr_ridge_r2(r, p->x, p->n, p->ldx, p->y, p->ldy, NULL, &mean);
    ctr_ridge_destroy(r);
    return rc;
}

START_TEST(test_out_of_memory)
{
    problem p;
    problem_make(&p, 40, 4, 2, 4, 2, 11);
    ck_assert_int_ge(test_every_alloc_failure(oom_attempt, &p), 3);
    free(p.x), free(p.y);
}
END_TEST

Suite *ctr_test_ridge_suite(void);

Suite *ctr_test_ridge_suite(void)
{
    Suite *s = suite_create("ridge");
    TCase *num = tcase_create("numerics");
    TCase *args = tcase_create("arguments and memory");
    tcase_add_test(num, test_reference);
    tcase_add_test(num, test_exact_and_conventions);
    tcase_add_test(args, test_bad_arguments);
    tcase_add_test(args, test_no_allocation_after_fit);
    tcase_add_test(args, test_out_of_memory);
    suite_add_tcase(s, num);
    suite_add_tcase(s, args);
    return s;
}
