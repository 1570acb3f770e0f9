/*
 * check_bank.c - the memory bank: initialisation and momentum update
 * against double-precision references, gather/set, the alias table's exact
 * probabilities, chi-square tests of sampling, bad input, out-of-memory
 * paths and exact resume from checkpoints.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memories/alias.h"
#include "common/checkpoint.h"
#include "common/prng.h"
#include "test_util.h"

static unsigned char *snapshot(const ctr_bank *b, size_t *size)
{
    unsigned char *buf;
    ck_assert_int_eq(ctr_bank_save_buffer(b, NULL, 0, size), CTR_OK);
    buf = (unsigned char *)malloc(*size);
    ck_assert_int_eq(ctr_bank_save_buffer(b, buf, *size, size), CTR_OK);
    return buf;
}

static void assert_unchanged(const ctr_bank *b, const unsigned char *before,
                             size_t size)
{
    size_t now_size;
    unsigned char *now = snapshot(b, &now_size);
    ck_assert_uint_eq(now_size, size);
    ck_assert_int_eq(memcmp(now, before, size), 0);
    free(now);
}

static const float *rows_of(const ctr_bank *b)
{
    const float *rows = NULL;
    ck_assert_int_eq(ctr_bank_rows(b, &rows, NULL, NULL), CTR_OK);
    return rows;
}

START_TEST(test_init_as_wu_et_al)
{
    enum { N = 300, D = 12 };
    ctr_bank *b = NULL, *same = NULL, *other = NULL;
    const float *rows;
    int64_t n = 0, ld = 0, i, j;
    ctr__prng g;
    const double s = 1.0 / sqrt(D / 3.0);
    ck_assert_int_eq(ctr_bank_create(&b, N, D, 17, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_rows(b, &rows, &n, &ld), CTR_OK);
    ck_assert_int_eq(n, N);
    ck_assert_int_eq(ld, D);
    /* reference: uniform in [-s, s) from the same generator, normalised */
    ctr__prng_seed(&g, 17);
    for (i = 0; i < N; i++) {
        double u[D], sq = 0;
        for (j = 0; j < D; j++) {
            u[j] = (float)((2.0 * ctr__prng_uniform_f32(&g) - 1.0) * s);
            ck_assert(fabs(u[j]) <= s);
            sq += u[j] * u[j];
        }
        for (j = 0; j < D; j++)
            ck_assert_close(rows[i * D + j], u[j] / sqrt(sq), 1e-6, 1e-7);
    }
    ck_assert_int_eq(ctr_bank_create(&same, N, D, 17, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_create(&other, N, D, 18, NULL), CTR_OK);
    ck_assert_int_eq(memcmp(rows, rows_of(same), sizeof(float) * N * D), 0);
    ck_assert_int_ne(memcmp(rows, rows_of(other), sizeof(float) * N * D), 0);
    ctr_bank_destroy(b);
    ctr_bank_destroy(same);
    ctr_bank_destroy(other);
}
END_TEST

/* Reference momentum update in double, applied in order. */
static void ref_update(double *v, const int64_t *idx, int64_t count,
                       const float *f, int64_t ld, int64_t d, double m)
{
    int64_t i, j;
    for (i = 0; i < count; i++) {
        double *row = v + idx[i] * d, sq = 0;
        double x[16];
        for (j = 0; j < d; j++) {
            x[j] = m * row[j] + (1 - m) * f[i * ld + j];
            sq += x[j] * x[j];
        }
        if (sq == 0)
            continue;
        for (j = 0; j < d; j++)
            row[j] = x[j] / sqrt(sq);
    }
}

START_TEST(test_update_with_duplicates)
{
    enum { N = 6, D = 5, LD = 7, B = 5 };
    static const double momenta[] = {0.5, 0.9, 0.0, 1.0};
    const int64_t idx[B] = {3, 1, 3, 0, 3};
    float f[B * LD];
    double ref[N * D];
    int t;
    int64_t i;
    for (i = 0; i < B * LD; i++)
        f[i] = (i % LD) < D ? (float)sin(1.7 * i) * 2.0f : NAN;
    for (t = 0; t < 4; t++) {
        ctr_bank *b = NULL;
        const float *rows;
        double m = momenta[t];
        ck_assert_int_eq(ctr_bank_create(&b, N, D, 5, NULL), CTR_OK);
        ck_assert_int_eq(ctr_bank_set_f64(b, CTR_BANK_P_MOMENTUM, m), CTR_OK);
        rows = rows_of(b);
        for (i = 0; i < N * D; i++)
            ref[i] = rows[i];
        ref_update(ref, idx, B, f, LD, D, m);
        ck_assert_int_eq(ctr_bank_update(b, idx, B, f, LD), CTR_OK);
        for (i = 0; i < N * D; i++)
            ck_assert_close(rows[i], ref[i], 1e-6, 1e-6);
        for (i = 0; i < N; i++) { /* every row stays unit length */
            double sq = 0;
            int64_t j;
            for (j = 0; j < D; j++)
                sq += (double)rows[i * D + j] * rows[i * D + j];
            ck_assert_close(sq, 1.0, 0, 1e-6);
        }
        ctr_bank_destroy(b);
    }
}
END_TEST

START_TEST(test_update_zero_mixture_keeps_row)
{
    ctr_bank *b = NULL;
    float v[4], neg[4], after[4];
    int64_t idx = 2, j;
    ck_assert_int_eq(ctr_bank_create(&b, 4, 4, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_gather(b, &idx, 1, v, 4), CTR_OK);
    for (j = 0; j < 4; j++)
        neg[j] = -v[j]; /* 0.5 v + 0.5 (-v) = 0 exactly */
    ck_assert_int_eq(ctr_bank_update(b, &idx, 1, neg, 4), CTR_OK);
    ck_assert_int_eq(ctr_bank_gather(b, &idx, 1, after, 4), CTR_OK);
    ck_assert_int_eq(memcmp(v, after, sizeof(v)), 0);
    ctr_bank_destroy(b);
}
END_TEST

START_TEST(test_gather_and_set_rows)
{
    ctr_bank *b = NULL;
    const int64_t set_idx[3] = {4, 0, 4};
    const int64_t get_idx[4] = {4, 0, 4, 1};
    float src[3 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    float out[4 * 4], row1[3];
    int64_t one = 1, j;
    ck_assert_int_eq(ctr_bank_create(&b, 5, 3, 2, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_gather(b, &one, 1, row1, 3), CTR_OK);
    ck_assert_int_eq(ctr_bank_set_rows(b, set_idx, 3, src, 3), CTR_OK);
    ck_assert_int_eq(ctr_bank_gather(b, get_idx, 4, out, 4), CTR_OK);
    for (j = 0; j < 3; j++) {
        ck_assert(out[0 * 4 + j] == src[2 * 3 + j]); /* last write wins */
        ck_assert(out[1 * 4 + j] == src[1 * 3 + j]);
        ck_assert(out[2 * 4 + j] == src[2 * 3 + j]);
        ck_assert(out[3 * 4 + j] == row1[j]);
    }
    ck_assert_int_eq(ctr_bank_gather(b, NULL, 0, NULL, 0), CTR_OK);
    ctr_bank_destroy(b);
}
END_TEST

/* ---- sampling ---- */

/* Chi-square of counts against expected probabilities p (zero-probability
 * cells must have no count). Returns the statistic; *dof the degrees of
 * freedom. */
static double chi_square(const int64_t *counts, const double *p, int64_t cells,
                         int64_t draws, int *dof)
{
    double chi2 = 0;
    int64_t i;
    *dof = -1;
    for (i = 0; i < cells; i++) {
        double e = p[i] * (double)draws;
        if (p[i] == 0) {
            ck_assert_int_eq(counts[i], 0);
            continue;
        }
        chi2 += (counts[i] - e) * (counts[i] - e) / e;
        (*dof)++;
    }
    return chi2;
}

/* Upper 0.1% points of chi-square, for the degrees of freedom used here. */
static double chi2_critical(int dof)
{
    switch (dof) {
    case 8: return 26.12;
    case 9: return 27.88;
    case 18: return 42.31;
    case 19: return 43.82;
    case 49: return 85.35;
    default: ck_abort_msg("no critical value for %d dof", dof); return 0;
    }
}

START_TEST(test_uniform_sampling_chi_square)
{
    enum { N = 50, ANCHORS = 40, K = 2500 };
    ctr_bank *b = NULL;
    int64_t *out = (int64_t *)malloc(sizeof(int64_t) * ANCHORS * K);
    int64_t counts[N] = {0}, i;
    double p[N];
    int dof;
    ck_assert_int_eq(ctr_bank_create(&b, N, 2, 3, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_sample(b, out, ANCHORS, K, NULL), CTR_OK);
    for (i = 0; i < ANCHORS * K; i++) {
        ck_assert(out[i] >= 0 && out[i] < N);
        counts[out[i]]++;
    }
    for (i = 0; i < N; i++)
        p[i] = 1.0 / N;
    {
        double chi2 = chi_square(counts, p, N, ANCHORS * K, &dof);
        ck_assert_msg(chi2 < chi2_critical(dof), "chi2 = %g", chi2);
    }
    free(out);
    ctr_bank_destroy(b);
}
END_TEST

START_TEST(test_uniform_sampling_excluding_anchor)
{
    enum { N = 20, ANCHORS = 20, K = 5000 };
    ctr_bank *b = NULL, *one = NULL;
    int64_t *out = (int64_t *)malloc(sizeof(int64_t) * ANCHORS * K);
    int64_t exclude[ANCHORS], a, j, zero = 0;
    double p[N];
    ck_assert_int_eq(ctr_bank_create(&b, N, 2, 4, NULL), CTR_OK);
    for (a = 0; a < ANCHORS; a++)
        exclude[a] = (a * 7) % N;
    ck_assert_int_eq(ctr_bank_sample(b, out, ANCHORS, K, exclude), CTR_OK);
    for (a = 0; a < ANCHORS; a++) {
        int64_t counts[N] = {0};
        int dof;
        double chi2;
        for (j = 0; j < K; j++) {
            ck_assert_int_ne(out[a * K + j], exclude[a]);
            counts[out[a * K + j]]++;
        }
        for (j = 0; j < N; j++)
            p[j] = j == exclude[a] ? 0.0 : 1.0 / (N - 1);
        chi2 = chi_square(counts, p, N, K, &dof);
        ck_assert_int_eq(dof, 18);
        ck_assert_msg(chi2 < chi2_critical(dof), "anchor %lld: chi2 = %g",
                      (long long)a, chi2);
    }
    ck_assert_int_eq(ctr_bank_create(&one, 1, 2, 4, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_sample(one, out, 1, 3, &zero), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_sample(one, out, 1, 3, NULL), CTR_OK);
    ck_assert_int_eq(out[0], 0);
    free(out);
    ctr_bank_destroy(b);
    ctr_bank_destroy(one);
}
END_TEST

static const double test_weights[12] = {1, 2, 3, 0, 4, 0.5, 7, 1, 1, 2, 0, 3};

START_TEST(test_weighted_sampling_chi_square)
{
    enum { N = 12, DRAWS = 240000 };
    ctr_bank *b = NULL;
    int64_t *out = (int64_t *)malloc(sizeof(int64_t) * DRAWS);
    int64_t counts[N] = {0}, i, weighted = 0, exclude[4] = {6, 6, 6, 6};
    double p[N], total = 0, chi2;
    int dof;
    for (i = 0; i < N; i++)
        total += test_weights[i];
    for (i = 0; i < N; i++)
        p[i] = test_weights[i] / total;
    ck_assert_int_eq(ctr_bank_create(&b, N, 3, 6, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_set_weights(b, test_weights, N), CTR_OK);
    ck_assert_int_eq(ctr_bank_get_i64(b, CTR_BANK_P_WEIGHTED, &weighted), CTR_OK);
    ck_assert_int_eq(weighted, 1);
    ck_assert_int_eq(ctr_bank_sample(b, out, 1, DRAWS, NULL), CTR_OK);
    for (i = 0; i < DRAWS; i++)
        counts[out[i]]++;
    chi2 = chi_square(counts, p, N, DRAWS, &dof);
    ck_assert_int_eq(dof, 9);
    ck_assert_msg(chi2 < chi2_critical(dof), "chi2 = %g", chi2);

    /* excluding index 6 renormalises over the others */
    ck_assert_int_eq(ctr_bank_sample(b, out, 4, DRAWS / 4, exclude), CTR_OK);
    memset(counts, 0, sizeof(counts));
    for (i = 0; i < DRAWS; i++)
        counts[out[i]]++;
    for (i = 0; i < N; i++)
        p[i] = i == 6 ? 0.0 : test_weights[i] / (total - test_weights[6]);
    chi2 = chi_square(counts, p, N, DRAWS, &dof);
    ck_assert_int_eq(dof, 8);
    ck_assert_msg(chi2 < chi2_critical(dof), "chi2 = %g", chi2);

    /* back to uniform */
    ck_assert_int_eq(ctr_bank_set_weights(b, NULL, 0), CTR_OK);
    ck_assert_int_eq(ctr_bank_get_i64(b, CTR_BANK_P_WEIGHTED, &weighted), CTR_OK);
    ck_assert_int_eq(weighted, 0);
    free(out);
    ctr_bank_destroy(b);
}
END_TEST

START_TEST(test_alias_table_is_exact)
{
    /* The probability each index gets from the table equals its weight's
     * share up to the 2^-32 quantisation, for skewed random weights. */
    enum { N = 1000 };
    static double w[N];
    static uint32_t table[2 * N];
    static uint64_t u[N];
    static uint32_t work[N], rebuilt[2 * N];
    static uint64_t masses[N];
    double mass[N], total;
    ctr__prng g;
    int64_t i;
    ctr__prng_seed(&g, 9);
    for (i = 0; i < N; i++) {
        double x = ctr__prng_uniform_f64(&g);
        w[i] = i % 10 == 0 ? 0.0 : x * x * x * 100.0;
        mass[i] = 0;
    }
    w[7] = 5000.0; /* one heavy index */
    total = 0;
    for (i = 0; i < N; i++)
        total += w[i];
    ck_assert_int_eq(ctr__alias_build(table, w, N, u, work, NULL), CTR_OK);
    /* the table is the one its own masses build: a load accepts it */
    ck_assert_int_eq(ctr__alias_verify(table, N, masses, work, rebuilt, NULL), CTR_OK);
    for (i = 0; i < N; i++) {
        mass[i] += table[2 * i];
        mass[table[2 * i + 1]] += 4294967296.0 - table[2 * i];
    }
    for (i = 0; i < N; i++) {
        double got = mass[i] / (4294967296.0 * N);
        ck_assert_close(got, w[i] / total, 0, 1e-9);
        if (w[i] == 0)
            ck_assert(got == 0);
    }
}
END_TEST

START_TEST(test_single_support_exclusion)
{
    double w[6] = {0, 0, 0, 0, 0, 2.5};
    int64_t out[8], ex_bad[2] = {1, 5}, ex_ok[2] = {1, 2}, i;
    ctr_bank *b = NULL;
    ck_assert_int_eq(ctr_bank_create(&b, 6, 2, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_set_weights(b, w, 6), CTR_OK);
    ck_assert_int_eq(ctr_bank_sample(b, out, 2, 4, ex_bad), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_sample(b, out, 2, 4, ex_ok), CTR_OK);
    for (i = 0; i < 8; i++)
        ck_assert_int_eq(out[i], 5);
    ctr_bank_destroy(b);
}
END_TEST

/* ---- errors ---- */

static void *no_alloc(void *user, size_t size, size_t alignment)
{
    (void)user;
    (void)size;
    (void)alignment;
    return NULL;
}

START_TEST(test_bad_input_leaves_bank_unchanged)
{
    ctr_bank *b = NULL;
    float f[3 * 4] = {0.5f, 0.25f, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1};
    float out[3 * 4];
    const int64_t good[3] = {0, 2, 1}, bad_hi[3] = {0, 3, 1}, bad_lo[3] = {-1, 0, 1};
    double w[3] = {1, 1, 1}, v, lo, hi;
    int64_t samples[6], iv, exclude[2] = {0, 3};
    unsigned char *before;
    size_t size;
    ctr_allocator bad;
    const float *rows;

    ck_assert_int_eq(ctr_bank_create(NULL, 3, 4, 1, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_create(&b, 0, 4, 1, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_create(&b, 3, 0, 1, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_create(&b, INT64_MAX / 2, 4, 1, NULL), CTR_E_OVERFLOW);
    ctr_allocator_init(&bad);
    bad.alloc = no_alloc;
    ck_assert_int_eq(ctr_bank_create(&b, 3, 4, 1, &bad), CTR_E_INVALID_ARG);
    ck_assert_ptr_null(b);

    ck_assert_int_eq(ctr_bank_create(&b, 3, 4, 1, NULL), CTR_OK);
    before = snapshot(b, &size);
    ck_assert_int_eq(ctr_bank_update(b, bad_hi, 3, f, 4), CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr_bank_last_error(b), "idx[1] = 3 is outside 0..2");
    ck_assert_int_eq(ctr_bank_update(b, bad_lo, 3, f, 4), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_set_rows(b, bad_hi, 3, f, 4), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_gather(b, bad_hi, 3, out, 4), CTR_E_INVALID_ARG);
    f[2 * 4 + 3] = NAN;
    ck_assert_int_eq(ctr_bank_update(b, good, 3, f, 4), CTR_E_NUMERIC);
    ck_assert_str_eq(ctr_bank_last_error(b), "feat[2][3] is NaN");
    ck_assert_int_eq(ctr_bank_set_rows(b, good, 3, f, 4), CTR_E_NUMERIC);
    f[2 * 4 + 3] = -INFINITY;
    ck_assert_int_eq(ctr_bank_update(b, good, 3, f, 4), CTR_E_NUMERIC);
    f[2 * 4 + 3] = 1;
    ck_assert_int_eq(ctr_bank_update(b, good, 3, f, 3), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_update(b, good, -1, f, 4), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_update(b, NULL, 3, f, 4), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_update(b, good, 3, NULL, 4), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_update(NULL, good, 3, f, 4), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_set_rows(b, good, 3, f, 2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_gather(b, good, 3, NULL, 4), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_gather(b, good, 3, out, 3), CTR_E_INVALID_ARG);
    /* sampling errors leave the generator where it was */
    ck_assert_int_eq(ctr_bank_sample(b, samples, 2, 3, exclude), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_sample(b, NULL, 2, 3, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_sample(b, samples, -1, 3, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_sample(b, samples, 2, -3, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_sample(b, samples, INT64_MAX, 4, NULL), CTR_E_OVERFLOW);
    ck_assert_int_eq(ctr_bank_sample(b, NULL, 0, 3, NULL), CTR_OK);
    /* weights */
    ck_assert_int_eq(ctr_bank_set_weights(b, w, 2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_set_weights(b, NULL, 3), CTR_E_INVALID_ARG);
    w[1] = -1;
    ck_assert_int_eq(ctr_bank_set_weights(b, w, 3), CTR_E_INVALID_ARG);
    w[1] = NAN;
    ck_assert_int_eq(ctr_bank_set_weights(b, w, 3), CTR_E_NUMERIC);
    w[1] = INFINITY;
    ck_assert_int_eq(ctr_bank_set_weights(b, w, 3), CTR_E_NUMERIC);
    w[0] = w[1] = w[2] = 1e308;
    ck_assert_int_eq(ctr_bank_set_weights(b, w, 3), CTR_E_NUMERIC);
    w[0] = w[1] = w[2] = 0;
    ck_assert_int_eq(ctr_bank_set_weights(b, w, 3), CTR_E_INVALID_ARG);
    /* parameters */
    ck_assert_int_eq(ctr_bank_set_f64(b, CTR_BANK_P_MOMENTUM, 1.5), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_set_f64(b, CTR_BANK_P_MOMENTUM, -0.1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_set_f64(b, CTR_BANK_P_MOMENTUM, NAN), CTR_E_NUMERIC);
    ck_assert_int_eq(ctr_bank_set_f64(b, 999, 0.5), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_get_f64(b, CTR_BANK_P_MOMENTUM, &v), CTR_OK);
    ck_assert(v == 0.5);
    ck_assert_int_eq(ctr_bank_get_f64(b, 999, &v), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_get_f64(b, CTR_BANK_P_MOMENTUM, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_param_bounds(CTR_BANK_P_MOMENTUM, &lo, &hi), CTR_OK);
    ck_assert(lo == 0.0 && hi == 1.0);
    ck_assert_int_eq(ctr_bank_param_bounds(999, &lo, &hi), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_param_bounds(CTR_BANK_P_MOMENTUM, NULL, &hi), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_get_i64(b, 999, &iv), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_get_i64(b, CTR_BANK_P_ROWS, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_get_i64(b, CTR_BANK_P_ROWS, &iv), CTR_OK);
    ck_assert_int_eq(iv, 3);
    ck_assert_int_eq(ctr_bank_get_i64(b, CTR_BANK_P_DIM, &iv), CTR_OK);
    ck_assert_int_eq(iv, 4);
    ck_assert_int_eq(ctr_bank_get_i64(b, CTR_BANK_P_MEMORY_BYTES, &iv), CTR_OK);
    ck_assert_int_ge(iv, 3 * 4 * 4);
    ck_assert_int_eq(ctr_bank_rows(b, NULL, NULL, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_rows(NULL, &rows, NULL, NULL), CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr_bank_last_error(NULL), "invalid handle (NULL)");
    assert_unchanged(b, before, size);
    free(before);
    ctr_bank_destroy(b);
    ctr_bank_destroy(NULL);
}
END_TEST

/* ---- checkpoints ---- */

/* Step s of a fixed training-like sequence: sample, then update. */
static void run_steps(ctr_bank *b, int from, int to, int64_t *samples)
{
    float f[4 * 3];
    int64_t idx[4], s, i;
    for (s = from; s < to; s++) {
        for (i = 0; i < 4; i++) {
            idx[i] = (s * 3 + i * 5) % 9;
            f[i * 3 + 0] = (float)cos((double)(s + i));
            f[i * 3 + 1] = (float)sin((double)(s * i));
            f[i * 3 + 2] = 0.5f;
        }
        ck_assert_int_eq(ctr_bank_sample(b, samples + (s - from) * 4 * 6, 4, 6, idx),
                         CTR_OK);
        ck_assert_int_eq(ctr_bank_update(b, idx, 4, f, 3), CTR_OK);
    }
}

START_TEST(test_resume_exactly)
{
    static const double w[9] = {1, 0, 2, 3, 1, 1, 0.5, 4, 2};
    int weighted;
    for (weighted = 0; weighted < 2; weighted++) {
        ctr_bank *b = NULL, *from_buf = NULL, *from_path = NULL;
        int64_t s0[7 * 24], s1[7 * 24], s2[7 * 24];
        unsigned char *saved, *a, *c, *d;
        size_t size, sa, sc, sd;
        char path[256];
        ck_assert_int_eq(ctr_bank_create(&b, 9, 3, 8, NULL), CTR_OK);
        ck_assert_int_eq(ctr_bank_set_f64(b, CTR_BANK_P_MOMENTUM, 0.7), CTR_OK);
        if (weighted)
            ck_assert_int_eq(ctr_bank_set_weights(b, w, 9), CTR_OK);
        run_steps(b, 0, 3, s0);
        saved = snapshot(b, &size);
        ck_assert_int_eq(ctr_bank_load_buffer(&from_buf, saved, size, NULL), CTR_OK);
        test_temp_path(path, sizeof(path), "bank.ckpt");
        ck_assert_int_eq(ctr_bank_save(b, path), CTR_OK);
        ck_assert_int_eq(ctr_bank_load(&from_path, path, NULL), CTR_OK);
        remove(path);
        run_steps(b, 3, 10, s0);
        run_steps(from_buf, 3, 10, s1);
        run_steps(from_path, 3, 10, s2);
        ck_assert_int_eq(memcmp(s0, s1, sizeof(s0)), 0);
        ck_assert_int_eq(memcmp(s0, s2, sizeof(s0)), 0);
        a = snapshot(b, &sa);
        c = snapshot(from_buf, &sc);
        d = snapshot(from_path, &sd);
        ck_assert_uint_eq(sa, sc);
        ck_assert_uint_eq(sa, sd);
        ck_assert_int_eq(memcmp(a, c, sa), 0);
        ck_assert_int_eq(memcmp(a, d, sa), 0);
        free(saved);
        free(a);
        free(c);
        free(d);
        ctr_bank_destroy(b);
        ctr_bank_destroy(from_buf);
        ctr_bank_destroy(from_path);
    }
}
END_TEST

START_TEST(test_multi_section_rows)
{
    /* Rows of just over 4 MiB: one checkpoint section per row. */
    const int64_t d = (int64_t)(1 << 20) + 1;
    ctr_bank *b = NULL, *loaded = NULL;
    char path[256];
    unsigned char *buf;
    size_t size;
    ck_assert_int_eq(ctr_bank_create(&b, 3, d, 2, NULL), CTR_OK);
    buf = snapshot(b, &size);
    ck_assert_uint_gt(size, 3 * (size_t)d * 4 + 4 * 20);
    test_temp_path(path, sizeof(path), "bank-big.ckpt");
    ck_assert_int_eq(ctr_bank_save(b, path), CTR_OK);
    ck_assert_int_eq(ctr_bank_load(&loaded, path, NULL), CTR_OK);
    remove(path);
    ck_assert_int_eq(memcmp(rows_of(b), rows_of(loaded), 3 * (size_t)d * 4), 0);
    ck_assert_int_eq(ctr_bank_load_buffer(&loaded, buf, size - 100, NULL) , CTR_E_CORRUPT);
    ck_assert_int_eq(ctr_bank_load_buffer(&loaded, buf, size / 2, NULL), CTR_E_CORRUPT);
    free(buf);
    ctr_bank_destroy(b);
    ctr_bank_destroy(loaded);
}
END_TEST

/* A bank checkpoint with a hand-made header (rows all 0.5, optional
 * alias table with every alias set to `alias`). */
static size_t craft(unsigned char *buf, size_t cap, int64_t n, int64_t d,
                    double m, uint32_t weighted, int64_t rows_present,
                    uint32_t alias)
{
    ctr__ckw w;
    size_t size = 0;
    int64_t i;
    float half = 0.5f;
    ctr__ckw_to_buffer(&w, buf, cap, CTR__CKPT_KIND_BANK, NULL);
    ctr__ckw_begin_section(&w, CTR__FOURCC('B', 'H', 'D', 'R'));
    ctr__ckw_put_i64(&w, n);
    ctr__ckw_put_i64(&w, d);
    ctr__ckw_put_f64(&w, m);
    ctr__ckw_put_u32(&w, weighted);
    for (i = 0; i < 4; i++)
        ctr__ckw_put_u64(&w, (uint64_t)i + 1);
    ctr__ckw_end_section(&w);
    ctr__ckw_begin_section(&w, CTR__FOURCC('B', 'R', 'O', 'W'));
    for (i = 0; i < rows_present * d; i++)
        ctr__ckw_put_f32_array(&w, &half, 1);
    ctr__ckw_end_section(&w);
    if (weighted) {
        ctr__ckw_begin_section(&w, CTR__FOURCC('B', 'A', 'L', 'I'));
        for (i = 0; i < n; i++) {
            ctr__ckw_put_u32(&w, 0);
            ctr__ckw_put_u32(&w, alias);
        }
        ctr__ckw_end_section(&w);
    }
    ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_OK);
    return size;
}

START_TEST(test_load_rejects_corruption)
{
    static const double w[5] = {1, 2, 0, 1, 1};
    ctr_bank *b = NULL, *loaded = NULL;
    unsigned char *buf, crafted[2048];
    size_t size, i, n;
    ck_assert_int_eq(ctr_bank_create(&b, 5, 3, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_set_weights(b, w, 5), CTR_OK);
    buf = snapshot(b, &size);
    for (i = 0; i < size; i++)
        ck_assert_int_eq(ctr_bank_load_buffer(&loaded, buf, i, NULL), CTR_E_CORRUPT);
    for (i = 0; i < size * 8; i++) {
        int rc;
        buf[i / 8] ^= (unsigned char)(1u << (i % 8));
        rc = ctr_bank_load_buffer(&loaded, buf, size, NULL);
        ck_assert_msg(rc == CTR_E_CORRUPT || rc == CTR_E_INCOMPATIBLE,
                      "bit %zu: %d", i, rc);
        buf[i / 8] ^= (unsigned char)(1u << (i % 8));
    }
    n = craft(crafted, sizeof(crafted), 4, 3, 0.5, 1, 4, 3);
    ck_assert_int_eq(ctr_bank_load_buffer(&loaded, crafted, n, NULL), CTR_OK);
    ctr_bank_destroy(loaded);
    loaded = NULL;
    n = craft(crafted, sizeof(crafted), 4, 3, 0.5, 1, 4, 4); /* alias = N */
    ck_assert_int_eq(ctr_bank_load_buffer(&loaded, crafted, n, NULL), CTR_E_CORRUPT);
    n = craft(crafted, sizeof(crafted), 4, 3, 1.5, 0, 4, 0); /* momentum */
    ck_assert_int_eq(ctr_bank_load_buffer(&loaded, crafted, n, NULL), CTR_E_CORRUPT);
    n = craft(crafted, sizeof(crafted), 4, 3, NAN, 0, 4, 0);
    ck_assert_int_eq(ctr_bank_load_buffer(&loaded, crafted, n, NULL), CTR_E_CORRUPT);
    n = craft(crafted, sizeof(crafted), 4, 3, 0.5, 2, 4, 0); /* flag */
    ck_assert_int_eq(ctr_bank_load_buffer(&loaded, crafted, n, NULL), CTR_E_CORRUPT);
    n = craft(crafted, sizeof(crafted), 4, 3, 0.5, 0, 3, 0); /* short rows */
    ck_assert_int_eq(ctr_bank_load_buffer(&loaded, crafted, n, NULL), CTR_E_CORRUPT);
    /* a huge declared shape is refused before anything is allocated */
    n = craft(crafted, sizeof(crafted), (int64_t)1 << 40, 128, 0.5, 0, 1, 0);
    ck_assert_int_eq(ctr_bank_load_buffer(&loaded, crafted, n, NULL), CTR_E_CORRUPT);
    n = craft(crafted, sizeof(crafted), 0, 3, 0.5, 0, 0, 0);
    ck_assert_int_eq(ctr_bank_load_buffer(&loaded, crafted, n, NULL), CTR_E_CORRUPT);
    ck_assert_ptr_null(loaded);

    ck_assert_int_eq(ctr_bank_load_buffer(NULL, buf, size, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_load_buffer(&loaded, NULL, size, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_load(&loaded, NULL, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_save(b, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_save(NULL, "x"), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_save(b, "/nonexistent-dir/b.ckpt"), CTR_E_IO);
    ck_assert_int_eq(ctr_bank_save_buffer(b, NULL, 4, &size), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_save_buffer(b, buf, 10, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_bank_save_buffer(b, buf, 10, &n), CTR_E_BUFFER_TOO_SMALL);
    ck_assert_uint_eq(n, size);
    ck_assert_ptr_null(loaded);
    free(buf);
    ctr_bank_destroy(b);
}
END_TEST

/* ---- out of memory ---- */

static int attempt_create_and_weight(const ctr_allocator *a, void *ctx)
{
    static const double w[7] = {1, 2, 3, 4, 5, 6, 7};
    ctr_bank *b = NULL;
    int64_t out[10];
    int rc = ctr_bank_create(&b, 7, 3, 1, a);
    (void)ctx;
    if (rc != CTR_OK)
        return rc;
    rc = ctr_bank_set_weights(b, w, 7);
    if (rc == CTR_OK) {
        ck_assert_int_eq(ctr_bank_sample(b, out, 2, 5, NULL), CTR_OK);
    } else {
        int64_t weighted = -1;
        ck_assert_int_eq(ctr_bank_get_i64(b, CTR_BANK_P_WEIGHTED, &weighted), CTR_OK);
        ck_assert_int_eq(weighted, 0);
    }
    ctr_bank_destroy(b);
    return rc;
}

typedef struct ckpt_ctx {
    const unsigned char *buf;
    size_t size;
    const char *path;
} ckpt_ctx;

static int attempt_load_buffer(const ctr_allocator *a, void *ctx)
{
    ckpt_ctx *c = (ckpt_ctx *)ctx;
    ctr_bank *b = NULL;
    int rc = ctr_bank_load_buffer(&b, c->buf, c->size, a);
    ctr_bank_destroy(b);
    return rc;
}

static int attempt_save_and_load_path(const ctr_allocator *a, void *ctx)
{
    ckpt_ctx *c = (ckpt_ctx *)ctx;
    ctr_bank *b = NULL, *again = NULL;
    int rc = ctr_bank_load_buffer(&b, c->buf, c->size, a);
    if (rc == CTR_OK)
        rc = ctr_bank_save(b, c->path);
    if (rc == CTR_OK)
        rc = ctr_bank_load(&again, c->path, a);
    ctr_bank_destroy(b);
    ctr_bank_destroy(again);
    return rc;
}

START_TEST(test_every_allocation_failure)
{
    static const double w[6] = {1, 0, 2, 3, 1, 1};
    ctr_bank *b = NULL;
    ckpt_ctx c;
    char path[256];
    unsigned char *buf;
    ck_assert_int_gt(test_every_alloc_failure(attempt_create_and_weight, NULL), 3);
    ck_assert_int_eq(ctr_bank_create(&b, 6, 3, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_set_weights(b, w, 6), CTR_OK);
    buf = snapshot(b, &c.size);
    c.buf = buf;
    c.path = test_temp_path(path, sizeof(path), "bank-oom.ckpt");
    ck_assert_int_gt(test_every_alloc_failure(attempt_load_buffer, &c), 2);
    ck_assert_int_gt(test_every_alloc_failure(attempt_save_and_load_path, &c), 4);
    remove(path);
    free(buf);
    ctr_bank_destroy(b);
}
END_TEST

Suite *ctr_test_bank_suite(void);

Suite *ctr_test_bank_suite(void)
{
    Suite *s = suite_create("bank");
    TCase *rows = tcase_create("rows");
    TCase *sampling = tcase_create("sampling");
    TCase *errors = tcase_create("errors");
    TCase *ckpt = tcase_create("checkpoint");
    tcase_add_test(rows, test_init_as_wu_et_al);
    tcase_add_test(rows, test_update_with_duplicates);
    tcase_add_test(rows, test_update_zero_mixture_keeps_row);
    tcase_add_test(rows, test_gather_and_set_rows);
    tcase_add_test(sampling, test_uniform_sampling_chi_square);
    tcase_add_test(sampling, test_uniform_sampling_excluding_anchor);
    tcase_add_test(sampling, test_weighted_sampling_chi_square);
    tcase_add_test(sampling, test_alias_table_is_exact);
    tcase_add_test(sampling, test_single_support_exclusion);
    tcase_add_test(errors, test_bad_input_leaves_bank_unchanged);
    tcase_add_test(errors, test_every_allocation_failure);
    tcase_add_test(ckpt, test_resume_exactly);
    tcase_add_test(ckpt, test_multi_section_rows);
    tcase_add_test(ckpt, test_load_rejects_corruption);
    tcase_set_timeout(sampling, 60);
    tcase_set_timeout(ckpt, 120);
    suite_add_tcase(s, rows);
    suite_add_tcase(s, sampling);
    suite_add_tcase(s, errors);
    suite_add_tcase(s, ckpt);
    return s;
}
