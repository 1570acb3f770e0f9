/*
 * check_probe_kernel.c - the linear probe's fused pass (src/eval/
 * probe_kernel.c and the chunks of probe.c): the two skinny products of
 * every instruction set the CPU runs against float64 loops on every tile
 * edge, fits through the fused pass
 * against fits through the BLAS GEMMs and an objective evaluated here in
 * double, the same bits on every run (and, in the OpenMP build, at 1 and 2
 * threads), and every allocation failure of the BLAS path's fit.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(CTR_OPENMP)
#include <omp.h>
#endif

#include "eval/probe_kernel.h"
#include "test_util.h"

/* Shapes that cross the tiles' edges: rows around 4 and 32, classes
 * around 5, columns around 16 and 32. */
static const int64_t shapes[][3] = {
    {1, 1, 2}, {3, 15, 2}, {4, 16, 5}, {5, 17, 6}, {7, 31, 3},
    {9, 32, 10}, {33, 33, 11}, {31, 48, 16}, {70, 65, 10}, {4, 3136, 10},
};

#define N_SHAPES ((int)(sizeof(shapes) / sizeof(shapes[0])))

/* The instruction sets this CPU runs; a loop index is shape · count + set. */
static int isa_count(void)
{
    int n = 0;
    while (ctr__probe_isa_at(n) != NULL)
        n++;
    return n;
}

START_TEST(test_logits_match_double)
{
    const ctr__probe_isa *isa = ctr__probe_isa_at(_i % isa_count());
    const int64_t *shape = shapes[_i / isa_count()];
    const int64_t m = shape[0], d = shape[1], C = shape[2];
    const int64_t ld = d + 3;
    float *x = test_randn(1 + (uint64_t)_i, m, ld, 1.0);
    float *w = test_randn(50 + (uint64_t)_i, C, d, 0.5);
    float *b = test_randn(90 + (uint64_t)_i, 1, C, 1.0);
    float *z = malloc((size_t)(m * C) * sizeof(float));
    int64_t r, c, j;
    isa->logits(x, m, ld, d, w, b, C, z);
    for (r = 0; r < m; r++)
        for (c = 0; c < C; c++) {
            double ref = b[c], mag = fabs(b[c]);
            for (j = 0; j < d; j++) {
                ref += (double)x[r * ld + j] * w[c * d + j];
                mag += fabs((double)x[r * ld + j] * w[c * d + j]);
            }
            ck_assert_close(z[r * C + c], ref, 0, 1e-6 * mag + 1e-30);
        }
    free(x);
    free(w);
    free(b);
    free(z);
}
END_TEST

START_TEST(test_accumulate_matches_double)
{
    const ctr__probe_isa *isa = ctr__probe_isa_at(_i % isa_count());
    const int64_t *shape = shapes[_i / isa_count()];
    const int64_t m = shape[0], d = shape[1], C = shape[2];
    const int64_t ld = d + 5;
    float *x = test_randn(3 + (uint64_t)_i, m, ld, 1.0);
    float *g = test_randn(60 + (uint64_t)_i, m, C, 0.3);
    float *acc = test_randn(70 + (uint64_t)_i, C, d, 1.0);
    float *start = malloc((size_t)(C * d) * sizeof(float));
    int64_t r, c, j;
    memcpy(start, acc, (size_t)(C * d) * sizeof(float));
    isa->accumulate(x, m, ld, d, g, C, acc);
    for (c = 0; c < C; c++)
        for (j = 0; j < d; j++) {
            double ref = start[c * d + j], mag = fabs(ref);
            for (r = 0; r < m; r++) {
                ref += (double)g[r * C + c] * x[r * ld + j];
                mag += fabs((double)g[r * C + c] * x[r * ld + j]);
            }
            ck_assert_close(acc[c * d + j], ref, 0, 1e-6 * mag);
        }
    free(x);
    free(g);
    free(acc);
    free(start);
}
END_TEST

/* The calls use the first table; the last is the portable one. */
START_TEST(test_isa_tables)
{
    int i = isa_count();
    float x[3] = {1, 2, 3}, w[6] = {1, 0, 0, 0, 1, 0}, b[2] = {0.5f, -1}, z[2];
    ck_assert_str_eq(ctr__probe_kernel_isa(), ctr__probe_isa_at(0)->name);
    ck_assert_int_ge(i, 1);
    ck_assert_int_le(i, 3);
    ck_assert_str_eq(ctr__probe_isa_at(i - 1)->name, "portable");
    ck_assert_ptr_null(ctr__probe_isa_at(-1));
    ctr__probe_logits(x, 1, 3, 3, w, b, 2, z);
    ck_assert(z[0] == 1.5f && z[1] == 1.0f);
}
END_TEST

/* ---- fits ------------------------------------------------------------- */

enum { NF = 1500, DF = 24, CF = 10 };

/* Ten overlapping Gaussian classes, features on different scales. */
static void make_problem(float *x, int64_t *y, int64_t n)
{
    float *noise = test_randn(17, n, DF, 1.0);
    int64_t i, j;
    for (i = 0; i < n; i++) {
        y[i] = (i * 7) % CF;
        for (j = 0; j < DF; j++)
            x[i * DF + j] = (noise[i * DF + j] + (j % CF == y[i] ? 1.5f : 0.0f)) *
                            (float)(1 + j % 4);
    }
    free(noise);
}

/* The objective of a fit (raw-space weight and bias from the probe), in
 * double: mean cross-entropy + l2/2 ‖W∘σ‖² (the penalty lives in the
 * standardised space). */
static double objective_f64(const float *x, const int64_t *y, int64_t n,
                            const float *w, const float *b, double l2)
{
    double sd[DF], total = 0.0, pen = 0.0;
    int64_t i, j, c;
    for (j = 0; j < DF; j++) {
        double s = 0.0, q = 0.0;
        for (i = 0; i < n; i++)
            s += x[i * DF + j];
        for (i = 0; i < n; i++)
            q += (x[i * DF + j] - s / n) * (x[i * DF + j] - s / n);
        sd[j] = sqrt(q / n);
    }
    for (i = 0; i < n; i++) {
        double z[CF], zmax = -INFINITY, sum = 0.0;
        for (c = 0; c < CF; c++) {
            z[c] = b[c];
            for (j = 0; j < DF; j++)
                z[c] += (double)w[c * DF + j] * x[i * DF + j];
            zmax = fmax(zmax, z[c]);
        }
        for (c = 0; c < CF; c++)
            sum += exp(z[c] - zmax);
        total += log(sum) + zmax - z[y[i]];
    }
    for (c = 0; c < CF; c++)
        for (j = 0; j < DF; j++)
            pen += ((double)w[c * DF + j] * sd[j]) * ((double)w[c * DF + j] * sd[j]);
    return total / n + 0.5 * l2 * pen;
}

typedef struct fit_out {
    float w[CF * DF], b[CF];
    double loss;
    int64_t iters;
} fit_out;

static void fit(const float *x, const int64_t *y, int64_t n, int use_blas,
                double tolerance, fit_out *out)
{
    ctr_probe *p = NULL;
    ck_assert_int_eq(ctr_probe_create(&p, DF, CF, NULL), CTR_OK);
    ctr__probe_use_blas(p, use_blas);
    ck_assert_int_eq(ctr_probe_set_f64(p, CTR_PROBE_P_L2, 1e-2), CTR_OK);
    ck_assert_int_eq(ctr_probe_set_f64(p, CTR_PROBE_P_TOLERANCE, tolerance), CTR_OK);
    ck_assert_int_eq(ctr_probe_set_i64(p, CTR_PROBE_P_MAX_ITER, 2000), CTR_OK);
    ck_assert_int_eq(ctr_probe_set_i64(p, CTR_PROBE_P_BLOCK_ROWS, 100), CTR_OK);
    ck_assert_int_eq(ctr_probe_fit(p, x, n, DF, y), CTR_OK);
    ck_assert_int_eq(ctr_probe_fit_info(p, &out->loss, &out->iters, NULL), CTR_OK);
    ck_assert_int_eq(ctr_probe_get_weights(p, out->w, out->b), CTR_OK);
    ctr_probe_destroy(p);
}

START_TEST(test_fused_fit_equals_blas_fit)
{
    float *x = malloc(NF * DF * sizeof(float));
    int64_t *y = malloc(NF * sizeof(int64_t)), i;
    fit_out *fused = malloc(sizeof(*fused)), *blas = malloc(sizeof(*blas));
    double ref_fused, ref_blas, wmax = 0.0;
    make_problem(x, y, NF);
    fit(x, y, NF, 0, 1e-6, fused);
    fit(x, y, NF, 1, 1e-6, blas);
    ref_fused = objective_f64(x, y, NF, fused->w, fused->b, 1e-2);
    ref_blas = objective_f64(x, y, NF, blas->w, blas->b, 1e-2);
    /* each reports its own objective, and both reach the same minimum */
    ck_assert_close(fused->loss, ref_fused, 1e-6, 0);
    ck_assert_close(blas->loss, ref_blas, 1e-6, 0);
    ck_assert_close(ref_fused, ref_blas, 1e-7, 0);
    for (i = 0; i < CF * DF; i++)
        wmax = fmax(wmax, fabs(blas->w[i]));
    for (i = 0; i < CF * DF; i++)
        ck_assert_close(fused->w[i], blas->w[i], 0, 1e-3 * wmax);
    ck_assert_int_gt(fused->iters, 5);
    free(x);
    free(y);
    free(fused);
    free(blas);
}
END_TEST

/* The same bits on every run; in the OpenMP build at 1 and 2 threads too
 * (NF·DF is past CTR__PARALLEL_MIN, and NF rows make 6 chunks). */
START_TEST(test_fused_fit_bits)
{
    float *x = malloc(NF * DF * sizeof(float));
    int64_t *y = malloc(NF * sizeof(int64_t));
    fit_out *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    make_problem(x, y, NF);
#if defined(CTR_OPENMP)
    omp_set_num_threads(1);
    fit(x, y, NF, 0, 1e-5, a);
    omp_set_num_threads(2);
#else
    fit(x, y, NF, 0, 1e-5, a);
#endif
    fit(x, y, NF, 0, 1e-5, b);
    ck_assert_int_eq(memcmp(a->w, b->w, sizeof(a->w)), 0);
    ck_assert_int_eq(memcmp(a->b, b->b, sizeof(a->b)), 0);
    ck_assert_int_eq(a->iters, b->iters);
    fit(x, y, NF, 0, 1e-5, b);
    ck_assert_int_eq(memcmp(a->w, b->w, sizeof(a->w)), 0);
    free(x);
    free(y);
    free(a);
    free(b);
}
END_TEST

/* The fit's workspace on both paths, every allocation failing in turn. */
static int attempt_fit(const ctr_allocator *al, void *ctx)
{
    const float *x = (const float *)ctx;
    int64_t *y = malloc(NF * sizeof(int64_t)), i;
    ctr_probe *p = NULL;
    int rc, path;
    for (i = 0; i < NF; i++)
        y[i] = (i * 7) % CF;
    rc = ctr_probe_create(&p, DF, CF, al);
    for (path = 0; path < 2 && rc == CTR_OK; path++) {
        ctr__probe_use_blas(p, path);
        rc = ctr_probe_set_i64(p, CTR_PROBE_P_MAX_ITER, 3);
        if (rc == CTR_OK)
            rc = ctr_probe_fit(p, x, NF - 100 * path, DF, y);
    }
    ctr_probe_destroy(p);
    free(y);
    return rc;
}

START_TEST(test_fit_out_of_memory)
{
    float *x = malloc(NF * DF * sizeof(float));
    int64_t *y = malloc(NF * sizeof(int64_t));
    make_problem(x, y, NF);
    ck_assert_int_ge(test_every_alloc_failure(attempt_fit, x), 12);
    free(x);
    free(y);
}
END_TEST

Suite *ctr_test_probe_kernel_suite(void);

Suite *ctr_test_probe_kernel_suite(void)
{
    Suite *s = suite_create("probe_kernel");
    TCase *kern = tcase_create("kernel");
    TCase *fits = tcase_create("fits");
    tcase_add_loop_test(kern, test_logits_match_double, 0, N_SHAPES * isa_count());
    tcase_add_loop_test(kern, test_accumulate_matches_double, 0, N_SHAPES * isa_count());
    tcase_add_test(kern, test_isa_tables);
    tcase_add_test(fits, test_fused_fit_equals_blas_fit);
    tcase_add_test(fits, test_fused_fit_bits);
    tcase_add_test(fits, test_fit_out_of_memory);
    tcase_set_timeout(fits, 120);
    suite_add_tcase(s, kern);
    suite_add_tcase(s, fits);
    return s;
}
