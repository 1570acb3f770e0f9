/*
 * check_knn.c - weighted kNN against a brute-force double-precision
 * reference, the tie rule, tiling independence, the bank as training set,
 * bad input, workspace reuse and out-of-memory paths.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/prng.h"
#include "test_util.h"

/* ---- reference ---- */

typedef struct ref_pair {
    double s;
    int64_t idx;
} ref_pair;

static int by_sim_then_index(const void *a, const void *b)
{
    const ref_pair *x = (const ref_pair *)a, *y = (const ref_pair *)b;
    if (x->s != y->s)
        return x->s > y->s ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Brute force in double: all similarities, full sort, vote. fragile[i]
 * is set when row i's answer could change with float rounding (the k-th
 * and (k+1)-th similarities, or the two best class votes, nearly tie). */
static void reference(const float *train, int64_t n_train, int64_t ld_train,
                      const int64_t *labels, const float *test, int64_t n_test,
                      int64_t ld_test, int64_t dim, int64_t n_classes,
                      int64_t k, double sigma, int cosine, int64_t *pred,
                      double *scores, int *fragile)
{
    ref_pair *pairs = (ref_pair *)malloc(sizeof(ref_pair) * (size_t)n_train);
    int64_t i, j, c;
    if (k > n_train)
        k = n_train;
    for (i = 0; i < n_test; i++) {
        const float *x = test + i * ld_test;
        double *v = scores + i * n_classes, total = 0, nx = 0;
        for (c = 0; c < dim; c++)
            nx += (double)x[c] * x[c];
        for (j = 0; j < n_train; j++) {
            const float *y = train + j * ld_train;
            double dot = 0, ny = 0;
            for (c = 0; c < dim; c++) {
                dot += (double)x[c] * y[c];
                ny += (double)y[c] * y[c];
            }
            if (cosine)
                dot = nx > 0 && ny > 0 ? dot / sqrt(nx * ny) : 0.0;
            pairs[j].s = dot;
            pairs[j].idx = j;
        }
        qsort(pairs, (size_t)n_train, sizeof(ref_pair), by_sim_then_index);
        for (c = 0; c < n_classes; c++)
            v[c] = 0;
        for (j = 0; j < k; j++) {
            double w = exp((pairs[j].s - pairs[0].s) / sigma);
            v[labels[pairs[j].idx]] += w;
            total += w;
        }
        pred[i] = 0;
        for (c = 0; c < n_classes; c++) {
            v[c] /= total;
            if (v[c] > v[pred[i]])
                pred[i] = c;
        }
        fragile[i] = k < n_train && pairs[k - 1].s - pairs[k].s < 1e-5;
        for (c = 0; c < n_classes; c++)
            if (c != pred[i] && v[pred[i]] - v[c] < 1e-5)
                fragile[i] = 1;
    }
    free(pairs);
}

/* Random features (with a class-dependent offset so votes are not flat). */
static void make_data(float *x, int64_t *labels, int64_t n, int64_t ld,
                      int64_t dim, int64_t n_classes, uint64_t seed)
{
    ctr__prng g;
    int64_t i, j;
    ctr__prng_seed(&g, seed);
    for (i = 0; i < n; i++) {
        labels[i] = (int64_t)ctr__prng_below(&g, (uint64_t)n_classes);
        for (j = 0; j < ld; j++)
            x[i * ld + j] = j < dim ? (float)ctr__prng_normal(&g) +
                                          (j == labels[i] % dim ? 1.5f : 0.0f)
                                    : NAN; /* padding is never read */
    }
}

typedef struct knn_case {
    int64_t n_train, n_test, dim, n_classes, k, block, tile, metric;
    double sigma;
} knn_case;

static void check_against_reference(const knn_case *tc)
{
    const int64_t ld_train = tc->dim + 3, ld_test = tc->dim + 1;
    float *train = (float *)malloc(sizeof(float) * (size_t)(tc->n_train * ld_train));
    float *test = (float *)malloc(sizeof(float) * (size_t)(tc->n_test * ld_test));
    int64_t *labels = (int64_t *)malloc(sizeof(int64_t) * (size_t)tc->n_train);
    int64_t *test_labels = (int64_t *)malloc(sizeof(int64_t) * (size_t)tc->n_test);
    int64_t *pred = (int64_t *)malloc(sizeof(int64_t) * (size_t)tc->n_test);
    int64_t *ref_pred = (int64_t *)malloc(sizeof(int64_t) * (size_t)tc->n_test);
    float *scores = (float *)malloc(sizeof(float) * (size_t)(tc->n_test * tc->n_classes));
    double *ref_scores = (double *)malloc(sizeof(double) * (size_t)(tc->n_test * tc->n_classes));
    int *fragile = (int *)malloc(sizeof(int) * (size_t)tc->n_test);
    double acc = -1;
    int64_t i, hits = 0, skipped = 0;
    ctr_knn *knn = NULL;

    make_data(train, labels, tc->n_train, ld_train, tc->dim, tc->n_classes, 11);
    make_data(test, test_labels, tc->n_test, ld_test, tc->dim, tc->n_classes, 12);
    ck_assert_int_eq(ctr_knn_create(&knn, NULL), CTR_OK);
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_K, tc->k), CTR_OK);
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_BLOCK_ROWS, tc->block), CTR_OK);
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_TILE_ROWS, tc->tile), CTR_OK);
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_METRIC, tc->metric), CTR_OK);
    ck_assert_int_eq(ctr_knn_set_f64(knn, CTR_KNN_P_SIGMA, tc->sigma), CTR_OK);
    ck_assert_int_eq(ctr_knn_classify(knn, train, tc->n_train, ld_train, labels,
                                      test, tc->n_test, ld_test, tc->dim,
                                      tc->n_classes, pred, scores), CTR_OK);
    reference(train, tc->n_train, ld_train, labels, test, tc->n_test, ld_test,
              tc->dim, tc->n_classes, tc->k, tc->sigma,
              tc->metric == CTR_KNN_COSINE, ref_pred, ref_scores, fragile);
    for (i = 0; i < tc->n_test; i++) {
        int64_t c;
        double sum = 0;
        hits += pred[i] == test_labels[i];
        for (c = 0; c < tc->n_classes; c++)
            sum += scores[i * tc->n_classes + c];
        ck_assert_close(sum, 1.0, 0, 1e-5);
        if (fragile[i]) { /* a near tie: float rounding may decide it */
            skipped++;
            continue;
        }
        ck_assert_int_eq(pred[i], ref_pred[i]);
        for (c = 0; c < tc->n_classes; c++)
            ck_assert_close(scores[i * tc->n_classes + c],
                            ref_scores[i * tc->n_classes + c], 0, 2e-5);
    }
    ck_assert_int_le(skipped, tc->n_test / 10);
    ck_assert_int_eq(ctr_knn_accuracy(knn, train, tc->n_train, ld_train, labels,
                                      test, tc->n_test, ld_test, tc->dim,
                                      tc->n_classes, test_labels, &acc), CTR_OK);
    ck_assert(acc == (double)hits / (double)tc->n_test);
    ctr_knn_destroy(knn);
    free(train);
    free(test);
    free(labels);
    free(test_labels);
    free(pred);
    free(ref_pred);
    free(scores);
    free(ref_scores);
    free(fragile);
}

START_TEST(test_matches_brute_force)
{
    static const knn_case cases[] = {
        /* n_train n_test dim classes  k  block tile  metric      sigma */
        {700, 37, 9, 5, 20, 16, 128, CTR_KNN_COSINE, 0.1},
        {700, 37, 9, 5, 20, 256, 4096, CTR_KNN_COSINE, 0.07},
        {513, 20, 16, 10, 200, 7, 100, CTR_KNN_COSINE, 0.07},
        {300, 25, 6, 4, 15, 8, 64, CTR_KNN_DOT, 1.0},
        {50, 9, 5, 3, 200, 4, 16, CTR_KNN_COSINE, 0.5}, /* k > n_train */
        {40, 3, 4, 2, 1, 1, 1, CTR_KNN_COSINE, 0.07},   /* 1-NN, 1x1 tiles */
    };
    size_t t;
    for (t = 0; t < sizeof(cases) / sizeof(cases[0]); t++)
        check_against_reference(&cases[t]);
}
END_TEST

START_TEST(test_seeded_scan_matches_brute_force)
{
    /* Training sets >= 8 samples' worth: the scan starts from a guessed
     * threshold (a strided sample's g-th best), which must not change the
     * result. */
    static const knn_case cases[] = {
        /* n_train n_test dim classes  k  block tile  metric      sigma */
        {3000, 40, 8, 5, 10, 16, 128, CTR_KNN_COSINE, 0.1},
        {3000, 30, 6, 4, 10, 7, 64, CTR_KNN_DOT, 1.0},
        {2500, 21, 12, 3, 40, 32, 100, CTR_KNN_COSINE, 0.07},
    };
    size_t t;
    for (t = 0; t < sizeof(cases) / sizeof(cases[0]); t++)
        check_against_reference(&cases[t]);
}
END_TEST

/* Compares pred/scores of n_test rows with the reference. With
 * exact_ties (similarities that tie do so exactly, others are far apart)
 * every row is compared, and only a near tie of two class votes skips the
 * prediction; otherwise any near tie skips the row. */
static void expect_reference(const float *train, int64_t n_train,
                             const int64_t *labels, const float *test,
                             int64_t n_test, int64_t dim, int64_t n_classes,
                             int64_t k, double sigma, int exact_ties,
                             const int64_t *pred, const float *scores)
{
    int64_t *ref_pred = (int64_t *)malloc(sizeof(int64_t) * (size_t)n_test);
    double *ref_scores = (double *)malloc(sizeof(double) * (size_t)(n_test * n_classes));
    int *fragile = (int *)malloc(sizeof(int) * (size_t)n_test);
    int64_t i, c, skipped = 0;
    reference(train, n_train, dim, labels, test, n_test, dim, dim, n_classes, k,
              sigma, 1, ref_pred, ref_scores, fragile);
    for (i = 0; i < n_test; i++) {
        const double *v = ref_scores + i * n_classes;
        int vote_tie = 0;
        for (c = 0; c < n_classes; c++)
            vote_tie |= c != ref_pred[i] && v[ref_pred[i]] - v[c] < 1e-5;
        if (!exact_ties && fragile[i]) {
            skipped++;
            continue;
        }
        if (!vote_tie)
            ck_assert_int_eq(pred[i], ref_pred[i]);
        for (c = 0; c < n_classes; c++)
            ck_assert_close(scores[i * n_classes + c], v[c], 0, 2e-5);
    }
    ck_assert_int_le(skipped, n_test / 10);
    free(ref_pred);
    free(ref_scores);
    free(fragile);
}

START_TEST(test_unrepresentative_sample_falls_back)
{
    /* The sampled training rows (every 100th: tile 64 -> 64 samples) are
     * the nearest rows of half the test rows: their guess is the best
     * similarity, reached by fewer than k rows, so those rows are redone
     * without a guess, mixed in blocks with rows that keep theirs. */
    enum { N = 6400, D = 16, C = 6, Q = 24, K = 20 };
    float *train = (float *)malloc(sizeof(float) * N * D);
    float test[Q * D], scores[Q * C];
    int64_t *labels = (int64_t *)malloc(sizeof(int64_t) * N);
    int64_t tl[Q], pred[Q], i, j;
    ctr__prng g;
    ctr_knn *knn = NULL;
    make_data(train, labels, N, D, D, C, 21);
    make_data(test, tl, Q, D, D, C, 22);
    ctr__prng_seed(&g, 23);
    for (i = 0; i < N; i += 100)
        for (j = 0; j < D; j++)
            train[i * D + j] = (j % 2 ? -1.0f : 1.0f) + 0.2f * (float)ctr__prng_normal(&g);
    for (i = 0; i < Q; i += 2)
        for (j = 0; j < D; j++)
            test[i * D + j] = (j % 2 ? -1.0f : 1.0f) + 0.05f * (float)ctr__prng_normal(&g);
    ck_assert_int_eq(ctr_knn_create(&knn, NULL), CTR_OK);
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_K, K), CTR_OK);
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_TILE_ROWS, 64), CTR_OK);
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_BLOCK_ROWS, 5), CTR_OK);
    ck_assert_int_eq(ctr_knn_set_f64(knn, CTR_KNN_P_SIGMA, 0.1), CTR_OK);
    ck_assert_int_eq(ctr_knn_classify(knn, train, N, D, labels, test, Q, D, D, C,
                                      pred, scores), CTR_OK);
    expect_reference(train, N, labels, test, Q, D, C, K, 0.1, 0, pred, scores);
    ctr_knn_destroy(knn);
    free(train);
    free(labels);
}
END_TEST

START_TEST(test_seeded_scan_keeps_the_tie_rule)
{
    /* 4096 rows drawn from 6 directions: similarities tie in large groups
     * around the guessed threshold; the lower index must still win. */
    enum { N = 4096, D = 4, C = 5, Q = 12, K = 30 };
    static const float dirs[6 * D] = {1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 0,
                                      0, 0, 1, 0, 1, 0, 1, 1, -1, 0, 0, 1};
    float *train = (float *)malloc(sizeof(float) * N * D);
    float test[Q * D], scores[Q * C];
    int64_t *labels = (int64_t *)malloc(sizeof(int64_t) * N);
    int64_t pred[Q], i, tile;
    ctr__prng g;
    ctr__prng_seed(&g, 31);
    for (i = 0; i < N; i++) {
        memcpy(train + i * D, dirs + D * ctr__prng_below(&g, 6), sizeof(float) * D);
        labels[i] = (int64_t)ctr__prng_below(&g, C);
    }
    for (i = 0; i < Q * D; i++)
        test[i] = (float)ctr__prng_normal(&g);
    for (tile = 64; tile <= 512; tile *= 8) {
        ctr_knn *knn = NULL;
        ck_assert_int_eq(ctr_knn_create(&knn, NULL), CTR_OK);
        ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_K, K), CTR_OK);
        ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_TILE_ROWS, tile), CTR_OK);
        ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_BLOCK_ROWS, 4), CTR_OK);
        ck_assert_int_eq(ctr_knn_set_f64(knn, CTR_KNN_P_SIGMA, 0.5), CTR_OK);
        ck_assert_int_eq(ctr_knn_classify(knn, train, N, D, labels, test, Q, D, D, C,
                                          pred, scores), CTR_OK);
        expect_reference(train, N, labels, test, Q, D, C, K, 0.5, 1, pred, scores);
        ctr_knn_destroy(knn);
    }
    free(train);
    free(labels);
}
END_TEST

START_TEST(test_ties_prefer_lower_index_then_lower_class)
{
    /* Five copies of e1 (exact similarities: ties) with labels 3,3,1,0,0,
     * then rows far away. Test row e1. */
    static const float train[8 * 4] = {
        1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0,
        0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    static const int64_t labels[8] = {3, 3, 1, 0, 0, 2, 2, 2};
    static const float test[4] = {2, 0, 0, 0};
    static const int64_t ks[] = {1, 2, 3, 4, 5};
    static const int64_t want[] = {3, 3, 3, 3, 0}; /* k = 5: 0 and 3 tie */
    int metric, tile;
    size_t t;
    for (metric = 0; metric < 2; metric++) {
        for (tile = 1; tile <= 8; tile *= 2) {
            ctr_knn *knn = NULL;
            ck_assert_int_eq(ctr_knn_create(&knn, NULL), CTR_OK);
            ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_METRIC, metric), CTR_OK);
            ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_TILE_ROWS, tile), CTR_OK);
            for (t = 0; t < sizeof(ks) / sizeof(ks[0]); t++) {
                int64_t pred = -1;
                float scores[4];
                ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_K, ks[t]), CTR_OK);
                ck_assert_int_eq(ctr_knn_classify(knn, train, 8, 4, labels, test, 1,
                                                  4, 4, 4, &pred, scores), CTR_OK);
                ck_assert_msg(pred == want[t], "metric %d tile %d k %lld: %lld",
                              metric, tile, (long long)ks[t], (long long)pred);
                if (ks[t] == 5) {
                    ck_assert_close(scores[0], 0.4, 0, 1e-7);
                    ck_assert_close(scores[1], 0.2, 0, 1e-7);
                    ck_assert(scores[2] == 0.0f);
                    ck_assert_close(scores[3], 0.4, 0, 1e-7);
                }
            }
            ctr_knn_destroy(knn);
        }
    }
}
END_TEST

START_TEST(test_zero_rows_have_zero_cosine)
{
    static const float train[3 * 2] = {0, 0, 1, 0, -1, 0};
    static const int64_t labels[3] = {0, 1, 2};
    static const float test[2 * 2] = {0, 1, 0, 0};
    int64_t pred[2];
    float scores[2 * 3];
    ctr_knn *knn = NULL;
    ck_assert_int_eq(ctr_knn_create(&knn, NULL), CTR_OK);
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_K, 1), CTR_OK);
    /* (0,1) is orthogonal to both non-zero rows: all three tie at 0 and
     * the lowest index (the zero row, class 0) wins. */
    ck_assert_int_eq(ctr_knn_classify(knn, train, 3, 2, labels, test, 2, 2, 2, 3,
                                      pred, scores), CTR_OK);
    ck_assert_int_eq(pred[0], 0);
    ck_assert_int_eq(pred[1], 0);
    ck_assert(isfinite(scores[0]) && scores[0] == 1.0f);
    ctr_knn_destroy(knn);
}
END_TEST

START_TEST(test_extreme_magnitudes)
{
    /* Cosine: a subnormal row is still a direction (its inverse norm is
     * not a float, the normalisation is done in double). */
    static const float train[3 * 2] = {1e-42f, 0, 0, 1, -1, 0};
    static const int64_t labels[3] = {1, 0, 2};
    static const float test[2] = {3e30f, 0};
    static const float huge[2 * 2] = {3e30f, 0, 0, 3e30f};
    int64_t pred = -1;
    float scores[3];
    ctr_knn *knn = NULL;
    ck_assert_int_eq(ctr_knn_create(&knn, NULL), CTR_OK);
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_K, 1), CTR_OK);
    ck_assert_int_eq(ctr_knn_classify(knn, train, 3, 2, labels, test, 1, 2, 2, 3,
                                      &pred, scores), CTR_OK);
    ck_assert_int_eq(pred, 1);
    ck_assert(scores[1] == 1.0f);
    ck_assert_int_eq(ctr_knn_classify(knn, huge, 2, 2, labels, test, 1, 2, 2, 3,
                                      &pred, scores), CTR_OK);
    ck_assert_int_eq(pred, 1);
    /* Dot: similarities that could overflow float are refused. */
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_METRIC, CTR_KNN_DOT), CTR_OK);
    pred = -1;
    ck_assert_int_eq(ctr_knn_classify(knn, huge, 2, 2, labels, test, 1, 2, 2, 3,
                                      &pred, scores), CTR_E_NUMERIC);
    ck_assert_int_eq(pred, -1);
    ck_assert_int_eq(ctr_knn_classify(knn, train, 3, 2, labels, test, 1, 2, 2, 3,
                                      &pred, scores), CTR_OK);
    ck_assert_int_eq(pred, 1); /* dot 3e-12 beats 0 and -3e30 */
    ctr_knn_destroy(knn);
}
END_TEST

START_TEST(test_bank_as_training_set)
{
    enum { N = 500, D = 16, Q = 40 };
    ctr_bank *bank = NULL;
    ctr_knn *knn = NULL;
    const float *rows;
    int64_t n, ld, labels[N], idx[Q], pred[Q], i;
    float test[Q * D];
    for (i = 0; i < N; i++)
        labels[i] = i % 7;
    for (i = 0; i < Q; i++)
        idx[i] = (i * 37) % N;
    ck_assert_int_eq(ctr_bank_create(&bank, N, D, 3, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_rows(bank, &rows, &n, &ld), CTR_OK);
    ck_assert_int_eq(ctr_bank_gather(bank, idx, Q, test, D), CTR_OK);
    ck_assert_int_eq(ctr_knn_create(&knn, NULL), CTR_OK);
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_K, 1), CTR_OK);
    ck_assert_int_eq(ctr_knn_classify(knn, rows, n, ld, labels, test, Q, D, D, 7,
                                      pred, NULL), CTR_OK);
    for (i = 0; i < Q; i++) /* each row's nearest neighbour is itself */
        ck_assert_int_eq(pred[i], labels[idx[i]]);
    ctr_knn_destroy(knn);
    ctr_bank_destroy(bank);
}
END_TEST

START_TEST(test_bad_input_writes_nothing)
{
    float train[4 * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1};
    float test[2 * 3] = {1, 2, 3, 3, 2, 1};
    int64_t labels[4] = {0, 1, 1, 0}, tl[2] = {0, 1};
    int64_t pred[2] = {-7, -7}, v;
    float scores[4] = {-7, -7, -7, -7};
    double acc = -7, d, lo, hi;
    size_t bytes;
    ctr_knn *knn = NULL;
    ctr_allocator bad;
    ctr_allocator_init(&bad);
    bad.free = NULL;
    bad.alloc = NULL;
    bad.struct_size = 4;
    ck_assert_int_eq(ctr_knn_create(&knn, &bad), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_create(NULL, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_create(&knn, NULL), CTR_OK);
#define CLASSIFY(tr, ntr, ldtr, lab, te, nte, ldte, dim, nc, p, s) \
    ctr_knn_classify(knn, tr, ntr, ldtr, lab, te, nte, ldte, dim, nc, p, s)
    ck_assert_int_eq(CLASSIFY(NULL, 4, 3, labels, test, 2, 3, 3, 2, pred, scores), CTR_E_INVALID_ARG);
    ck_assert_int_eq(CLASSIFY(train, 4, 3, NULL, test, 2, 3, 3, 2, pred, scores), CTR_E_INVALID_ARG);
    ck_assert_int_eq(CLASSIFY(train, 4, 3, labels, NULL, 2, 3, 3, 2, pred, scores), CTR_E_INVALID_ARG);
    ck_assert_int_eq(CLASSIFY(train, 4, 3, labels, test, 2, 3, 3, 2, NULL, scores), CTR_E_INVALID_ARG);
    ck_assert_int_eq(CLASSIFY(train, 0, 3, labels, test, 2, 3, 3, 2, pred, scores), CTR_E_INVALID_ARG);
    ck_assert_int_eq(CLASSIFY(train, 4, 3, labels, test, -2, 3, 3, 2, pred, scores), CTR_E_INVALID_ARG);
    ck_assert_int_eq(CLASSIFY(train, 4, 3, labels, test, 2, 3, 0, 2, pred, scores), CTR_E_INVALID_ARG);
    ck_assert_int_eq(CLASSIFY(train, 4, 3, labels, test, 2, 3, 3, 0, pred, scores), CTR_E_INVALID_ARG);
    ck_assert_int_eq(CLASSIFY(train, 4, 2, labels, test, 2, 3, 3, 2, pred, scores), CTR_E_INVALID_ARG);
    ck_assert_int_eq(CLASSIFY(train, 4, 3, labels, test, 2, 2, 3, 2, pred, scores), CTR_E_INVALID_ARG);
    ck_assert_int_eq(CLASSIFY(train, INT64_MAX / 2, 3, labels, test, 2, 3, 3, 2, pred, scores), CTR_E_OVERFLOW);
    labels[2] = 2;
    ck_assert_int_eq(CLASSIFY(train, 4, 3, labels, test, 2, 3, 3, 2, pred, scores), CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr_knn_last_error(knn), "train_labels[2] = 2 is outside 0..1");
    labels[2] = -1;
    ck_assert_int_eq(CLASSIFY(train, 4, 3, labels, test, 2, 3, 3, 2, pred, scores), CTR_E_INVALID_ARG);
    labels[2] = 1;
    train[7] = NAN;
    ck_assert_int_eq(CLASSIFY(train, 4, 3, labels, test, 2, 3, 3, 2, pred, scores), CTR_E_NUMERIC);
    ck_assert_str_eq(ctr_knn_last_error(knn), "train[2][1] is NaN");
    train[7] = 0;
    test[5] = -INFINITY;
    ck_assert_int_eq(CLASSIFY(train, 4, 3, labels, test, 2, 3, 3, 2, pred, scores), CTR_E_NUMERIC);
    test[5] = 1;
    ck_assert_int_eq(ctr_knn_classify(NULL, train, 4, 3, labels, test, 2, 3, 3, 2, pred, scores),
                     CTR_E_INVALID_ARG);
    tl[1] = 5;
    ck_assert_int_eq(ctr_knn_accuracy(knn, train, 4, 3, labels, test, 2, 3, 3, 2, tl, &acc),
                     CTR_E_INVALID_ARG);
    tl[1] = 1;
    ck_assert_int_eq(ctr_knn_accuracy(knn, train, 4, 3, labels, test, 2, 3, 3, 2, NULL, &acc),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_accuracy(knn, train, 4, 3, labels, test, 2, 3, 3, 2, tl, NULL),
                     CTR_E_INVALID_ARG);
    ck_assert(pred[0] == -7 && pred[1] == -7 && acc == -7);
    ck_assert(scores[0] == -7 && scores[3] == -7);
    ck_assert_int_eq(ctr_knn_get_i64(knn, CTR_KNN_P_WORKSPACE_BYTES, &v), CTR_OK);
    ck_assert_int_eq(v, 0); /* nothing allocated by failed calls */

    /* parameters */
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_K, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_METRIC, 2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_BLOCK_ROWS, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_TILE_ROWS, -1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_SIGMA, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_WORKSPACE_BYTES, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_set_i64(knn, 9999, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_set_f64(knn, CTR_KNN_P_SIGMA, 0.0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_set_f64(knn, CTR_KNN_P_SIGMA, NAN), CTR_E_NUMERIC);
    ck_assert_int_eq(ctr_knn_set_f64(knn, CTR_KNN_P_K, 3.5), CTR_E_INVALID_ARG);
    /* an integer parameter reads as a double too (docs/conventions.md) */
    ck_assert_int_eq(ctr_knn_get_f64(knn, CTR_KNN_P_K, &d), CTR_OK);
    ck_assert_int_eq(ctr_knn_get_i64(knn, CTR_KNN_P_SIGMA, &v), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_get_f64(knn, CTR_KNN_P_SIGMA, &d), CTR_OK);
    ck_assert(d == 0.07);
    ck_assert_int_eq(ctr_knn_get_i64(knn, CTR_KNN_P_K, &v), CTR_OK);
    ck_assert_int_eq(v, 200);
    ck_assert_int_eq(ctr_knn_get_i64(knn, CTR_KNN_P_METRIC, &v), CTR_OK);
    ck_assert_int_eq(v, CTR_KNN_COSINE);
    ck_assert_int_eq(ctr_knn_get_i64(knn, CTR_KNN_P_SIGMA, &v), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_get_i64(knn, CTR_KNN_P_K, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_param_bounds(CTR_KNN_P_K, &lo, &hi), CTR_OK);
    ck_assert(lo == 1 && hi == 2147483647.0);
    ck_assert_int_eq(ctr_knn_param_bounds(CTR_KNN_P_SIGMA, &lo, &hi), CTR_OK);
    ck_assert_int_eq(ctr_knn_param_bounds(CTR_KNN_P_WORKSPACE_BYTES, &lo, &hi), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_param_bounds(CTR_KNN_P_K, NULL, &hi), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_workspace_size(knn, 4, 2, 3, 0, &bytes), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_workspace_size(knn, 4, 2, 3, 2, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_workspace_size(NULL, 4, 2, 3, 2, &bytes), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_knn_workspace_size(knn, INT64_MAX, INT64_MAX, INT64_MAX, 2, &bytes),
                     CTR_E_OVERFLOW);
    ck_assert_str_eq(ctr_knn_last_error(NULL), "invalid handle (NULL)");
#undef CLASSIFY
    ctr_knn_destroy(knn);
    ctr_knn_destroy(NULL);
}
END_TEST

START_TEST(test_workspace_is_bounded_and_reused)
{
    enum { NTR = 3000, NTE = 600, D = 8, C = 4 };
    float *train = (float *)malloc(sizeof(float) * NTR * D);
    float *test = (float *)malloc(sizeof(float) * NTE * D);
    int64_t *labels = (int64_t *)malloc(sizeof(int64_t) * NTR);
    int64_t *tl = (int64_t *)malloc(sizeof(int64_t) * NTE);
    int64_t *pred = (int64_t *)malloc(sizeof(int64_t) * NTE);
    test_alloc_state s;
    ctr_allocator a;
    ctr_knn *knn = NULL;
    size_t bytes = 0;
    int64_t held = 0, calls;
    make_data(train, labels, NTR, D, D, C, 1);
    make_data(test, tl, NTE, D, D, C, 2);
    test_alloc_setup(&a, &s);
    ck_assert_int_eq(ctr_knn_create(&knn, &a), CTR_OK);
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_BLOCK_ROWS, 64), CTR_OK);
    ck_assert_int_eq(ctr_knn_set_i64(knn, CTR_KNN_P_TILE_ROWS, 512), CTR_OK);
    ck_assert_int_eq(ctr_knn_workspace_size(knn, NTR, NTE, D, C, &bytes), CTR_OK);
    /* O(block x tile + block x k + classes), far below NTE x NTR floats */
    ck_assert_uint_le(bytes, 64 * 512 * 4 + 64 * D * 4 + 512 * D * 4 + 64 * 400 * 12 +
                                 64 * 8 + 64 * 4 + C * 8 + 8 * 64);
    ck_assert_uint_lt(bytes, (size_t)NTE * NTR * 4 / 10);
    ck_assert_int_eq(ctr_knn_classify(knn, train, NTR, D, labels, test, NTE, D, D, C,
                                      pred, NULL), CTR_OK);
    ck_assert_int_eq(ctr_knn_get_i64(knn, CTR_KNN_P_WORKSPACE_BYTES, &held), CTR_OK);
    ck_assert_int_eq(held, (int64_t)bytes);
    ck_assert_int_le(s.peak_bytes, (int64_t)bytes + 4096);
    calls = s.calls;
    ck_assert_int_eq(ctr_knn_classify(knn, train, NTR, D, labels, test, NTE, D, D, C,
                                      pred, NULL), CTR_OK);
    ck_assert_int_eq(ctr_knn_classify(knn, train, NTR / 2, D, labels, test, 10, D, D, C,
                                      pred, NULL), CTR_OK);
    ck_assert_int_eq(s.calls, calls); /* no allocation once warmed up */
    ctr_knn_destroy(knn);
    ck_assert_int_eq(s.live_blocks, 0);
    free(train);
    free(test);
    free(labels);
    free(tl);
    free(pred);
}
END_TEST

static int attempt_classify(const ctr_allocator *a, void *ctx)
{
    static const float train[3 * 2] = {1, 0, 0, 1, 1, 1};
    static const int64_t labels[3] = {0, 1, 1};
    static const float test[2] = {1, 0.5f};
    int64_t pred = -1;
    ctr_knn *knn = NULL;
    int rc = ctr_knn_create(&knn, a);
    (void)ctx;
    if (rc != CTR_OK)
        return rc;
    rc = ctr_knn_classify(knn, train, 3, 2, labels, test, 1, 2, 2, 2, &pred, NULL);
    if (rc != CTR_OK)
        ck_assert_int_eq(pred, -1);
    ctr_knn_destroy(knn);
    return rc;
}

START_TEST(test_every_allocation_failure)
{
    ck_assert_int_eq(test_every_alloc_failure(attempt_classify, NULL), 2);
}
END_TEST

Suite *ctr_test_knn_suite(void);

Suite *ctr_test_knn_suite(void)
{
    Suite *s = suite_create("knn");
    TCase *num = tcase_create("numerics");
    TCase *errors = tcase_create("errors");
    tcase_add_test(num, test_matches_brute_force);
    tcase_add_test(num, test_seeded_scan_matches_brute_force);
    tcase_add_test(num, test_unrepresentative_sample_falls_back);
    tcase_add_test(num, test_seeded_scan_keeps_the_tie_rule);
    tcase_add_test(num, test_ties_prefer_lower_index_then_lower_class);
    tcase_add_test(num, test_zero_rows_have_zero_cosine);
    tcase_add_test(num, test_extreme_magnitudes);
    tcase_add_test(num, test_bank_as_training_set);
    tcase_add_test(num, test_workspace_is_bounded_and_reused);
    tcase_add_test(errors, test_bad_input_writes_nothing);
    tcase_add_test(errors, test_every_allocation_failure);
    tcase_set_timeout(num, 60);
    suite_add_tcase(s, num);
    suite_add_tcase(s, errors);
    return s;
}
