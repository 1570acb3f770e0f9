/*
 * check_rng.c - the generator: reference values, determinism, splitting,
 * distribution sanity, argument checks and exact resume from checkpoints.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/checkpoint.h"
#include "common/prng.h"
#include "test_util.h"

START_TEST(test_reference_vectors)
{
    /* xoshiro256** from state {1,2,3,4} and SplitMix64 seeding of 42,
     * computed by an independent implementation of the published
     * algorithms (the first one is the authors' own test vector). */
    ctr__prng g = {{1, 2, 3, 4}};
    ck_assert_uint_eq(ctr__prng_next(&g), 11520u);
    ck_assert_uint_eq(ctr__prng_next(&g), 0u);
    ck_assert_uint_eq(ctr__prng_next(&g), 1509978240u);
    ck_assert_uint_eq(ctr__prng_next(&g), 1215971899390074240u);
    ctr__prng_seed(&g, 42);
    ck_assert_uint_eq(g.s[0], 0xbdd732262feb6e95u);
    ck_assert_uint_eq(g.s[3], 0x581ce1ff0e4ae394u);
    ck_assert_uint_eq(ctr__prng_next(&g), 0x15780b2e0c2ec716u);
    ck_assert_uint_eq(ctr__prng_next(&g), 0x6104d9866d113a7eu);
    ck_assert_uint_eq(ctr__prng_next(&g), 0xae17533239e499a1u);
}
END_TEST

START_TEST(test_same_seed_same_stream)
{
    ctr_rng *a = NULL, *b = NULL, *c = NULL;
    float xa[100], xb[100], xc[100];
    ck_assert_int_eq(ctr_rng_create(&a, 123, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_create(&b, 123, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_create(&c, 124, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(a, xa, 100, 0.0f, 1.0f), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(b, xb, 100, 0.0f, 1.0f), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(c, xc, 100, 0.0f, 1.0f), CTR_OK);
    ck_assert_int_eq(memcmp(xa, xb, sizeof(xa)), 0);
    ck_assert_int_ne(memcmp(xa, xc, sizeof(xa)), 0);
    ctr_rng_destroy(a);
    ctr_rng_destroy(b);
    ctr_rng_destroy(c);
}
END_TEST

START_TEST(test_split_streams_differ)
{
    ctr__prng parent, child, again;
    uint64_t p[64], c[64];
    int i, j, equal = 0;
    ctr__prng_seed(&parent, 5);
    again = parent;
    ctr__prng_split(&parent, &child);
    /* the child starts where the parent was */
    ck_assert_uint_eq(ctr__prng_next(&child), ctr__prng_next(&again));
    for (i = 0; i < 64; i++) {
        p[i] = ctr__prng_next(&parent);
        c[i] = ctr__prng_next(&child);
    }
    for (i = 0; i < 64; i++)
        for (j = 0; j < 64; j++)
            equal += p[i] == c[j];
    ck_assert_int_eq(equal, 0);
}
END_TEST

START_TEST(test_uniform_moments_and_range)
{
    enum { N = 200000, BINS = 10 };
    ctr_rng *rng = NULL;
    float *x = (float *)malloc(N * sizeof(float));
    double sum = 0, sq = 0, chi2 = 0;
    long counts[BINS] = {0};
    int i;
    ck_assert_int_eq(ctr_rng_create(&rng, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_uniform(rng, x, N), CTR_OK);
    for (i = 0; i < N; i++) {
        ck_assert(x[i] >= 0.0f && x[i] < 1.0f);
        sum += x[i];
        sq += (double)x[i] * x[i];
        counts[(int)(x[i] * BINS)]++;
    }
    ck_assert_close(sum / N, 0.5, 0, 0.005);
    ck_assert_close(sq / N - (sum / N) * (sum / N), 1.0 / 12, 0, 0.002);
    for (i = 0; i < BINS; i++) {
        double e = (double)N / BINS;
        chi2 += (counts[i] - e) * (counts[i] - e) / e;
    }
    ck_assert_msg(chi2 < 27.88, "chi2 = %g (9 dof, p = 0.001)", chi2);
    free(x);
    ctr_rng_destroy(rng);
}
END_TEST

START_TEST(test_normal_moments)
{
    enum { N = 200000 };
    ctr_rng *rng = NULL;
    float *x = (float *)malloc(N * sizeof(float));
    double m1 = 0, m2 = 0, m4 = 0;
    int i, within1 = 0;
    ck_assert_int_eq(ctr_rng_create(&rng, 2, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(rng, x, N, 3.0f, 2.0f), CTR_OK);
    for (i = 0; i < N; i++) {
        double z = (x[i] - 3.0) / 2.0;
        m1 += z;
        m2 += z * z;
        m4 += z * z * z * z;
        within1 += fabs(z) < 1.0;
    }
    ck_assert_close(m1 / N, 0.0, 0, 0.01);
    ck_assert_close(m2 / N, 1.0, 0, 0.015);
    ck_assert_close(m4 / N, 3.0, 0, 0.1);
    ck_assert_close((double)within1 / N, 0.6827, 0, 0.005);
    ck_assert_int_eq(ctr_rng_normal(rng, x, 10, 1.0f, 0.0f), CTR_OK);
    ck_assert(x[0] == 1.0f && x[9] == 1.0f);
    free(x);
    ctr_rng_destroy(rng);
}
END_TEST

START_TEST(test_below_is_unbiased)
{
    enum { N = 140000, BOUND = 7 };
    ctr_rng *rng = NULL;
    int64_t *x = (int64_t *)malloc(N * sizeof(int64_t));
    long counts[BOUND] = {0};
    double chi2 = 0;
    int i;
    ck_assert_int_eq(ctr_rng_create(&rng, 3, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_below(rng, x, N, BOUND), CTR_OK);
    for (i = 0; i < N; i++) {
        ck_assert(x[i] >= 0 && x[i] < BOUND);
        counts[x[i]]++;
    }
    for (i = 0; i < BOUND; i++) {
        double e = (double)N / BOUND;
        chi2 += (counts[i] - e) * (counts[i] - e) / e;
    }
    ck_assert_msg(chi2 < 22.46, "chi2 = %g (6 dof, p = 0.001)", chi2);
    /* bound 1 gives zeros; a bound near 2^63 stays in range */
    ck_assert_int_eq(ctr_rng_below(rng, x, 100, 1), CTR_OK);
    for (i = 0; i < 100; i++)
        ck_assert_int_eq(x[i], 0);
    ck_assert_int_eq(ctr_rng_below(rng, x, 1000, INT64_MAX), CTR_OK);
    for (i = 0; i < 1000; i++)
        ck_assert(x[i] >= 0);
    free(x);
    ctr_rng_destroy(rng);
}
END_TEST

START_TEST(test_permutation)
{
    enum { N = 1000 };
    ctr_rng *rng = NULL;
    int64_t p[N];
    char seen[N];
    int i, fixed = 0;
    ck_assert_int_eq(ctr_rng_create(&rng, 4, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_permutation(rng, p, N), CTR_OK);
    memset(seen, 0, sizeof(seen));
    for (i = 0; i < N; i++) {
        ck_assert(p[i] >= 0 && p[i] < N);
        ck_assert(!seen[p[i]]);
        seen[p[i]] = 1;
        fixed += p[i] == i;
    }
    ck_assert_int_lt(fixed, 10); /* ~1 expected for a random permutation */
    ck_assert_int_eq(ctr_rng_permutation(rng, p, 1), CTR_OK);
    ck_assert_int_eq(p[0], 0);
    ck_assert_int_eq(ctr_rng_permutation(rng, NULL, 0), CTR_OK);
    ctr_rng_destroy(rng);
}
END_TEST

START_TEST(test_bad_arguments)
{
    ctr_rng *rng = NULL;
    float f[4];
    int64_t k[4];
    ck_assert_int_eq(ctr_rng_create(NULL, 1, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_rng_create(&rng, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_uniform(NULL, f, 4), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_rng_uniform(rng, NULL, 4), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_rng_uniform(rng, f, -1), CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr_rng_last_error(rng), "n must be >= 0 (got -1)");
    ck_assert_int_eq(ctr_rng_normal(rng, f, 4, 0.0f, -1.0f), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_rng_normal(rng, f, 4, NAN, 1.0f), CTR_E_NUMERIC);
    ck_assert_int_eq(ctr_rng_normal(rng, f, 4, 0.0f, INFINITY), CTR_E_NUMERIC);
    ck_assert_int_eq(ctr_rng_below(rng, k, 4, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_rng_below(rng, k, 4, -5), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_rng_permutation(rng, NULL, 3), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_rng_split(NULL, &rng), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_rng_split(rng, NULL), CTR_E_INVALID_ARG);
    ctr_rng_destroy(rng);
}
END_TEST

/* ---- checkpoints ---- */

/* Draws a mixed sequence, so every kind of draw must resume exactly. */
static void draw_mixed(ctr_rng *rng, float *f, int64_t *k)
{
    ck_assert_int_eq(ctr_rng_uniform(rng, f, 8), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(rng, f + 8, 8, 0.0f, 1.0f), CTR_OK);
    ck_assert_int_eq(ctr_rng_below(rng, k, 8, 1000), CTR_OK);
}

START_TEST(test_resume_from_path_and_buffer)
{
    ctr_rng *rng = NULL, *from_path = NULL, *from_buf = NULL;
    char path[256];
    unsigned char buf[256];
    size_t size = 0, query = 0;
    float f0[16], f1[16], f2[16];
    int64_t k0[8], k1[8], k2[8];

    ck_assert_int_eq(ctr_rng_create(&rng, 77, NULL), CTR_OK);
    draw_mixed(rng, f0, k0); /* advance somewhere in the middle */
    test_temp_path(path, sizeof(path), "rng.ckpt");
    ck_assert_int_eq(ctr_rng_save(rng, path), CTR_OK);
    ck_assert_int_eq(ctr_rng_save_buffer(rng, NULL, 0, &query), CTR_OK);
    ck_assert_int_eq(ctr_rng_save_buffer(rng, buf, sizeof(buf), &size), CTR_OK);
    ck_assert_uint_eq(size, query);
    ck_assert_int_eq(ctr_rng_save_buffer(rng, buf, size - 1, &query),
                     CTR_E_BUFFER_TOO_SMALL);
    ck_assert_uint_eq(query, size);

    ck_assert_int_eq(ctr_rng_load(&from_path, path, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_load_buffer(&from_buf, buf, size, NULL), CTR_OK);
    draw_mixed(rng, f0, k0);
    draw_mixed(from_path, f1, k1);
    draw_mixed(from_buf, f2, k2);
    ck_assert_int_eq(memcmp(f0, f1, sizeof(f0)), 0);
    ck_assert_int_eq(memcmp(f0, f2, sizeof(f0)), 0);
    ck_assert_int_eq(memcmp(k0, k1, sizeof(k0)), 0);
    ck_assert_int_eq(memcmp(k0, k2, sizeof(k0)), 0);
    ctr_rng_destroy(rng);
    ctr_rng_destroy(from_path);
    ctr_rng_destroy(from_buf);
    remove(path);
}
END_TEST

START_TEST(test_load_rejects_bad_input)
{
    ctr_rng *rng = NULL, *loaded = NULL;
    unsigned char buf[256], other[256];
    size_t size = 0, other_size = 0, i;
    ctr__ckw w;
    char path[256];

    ck_assert_int_eq(ctr_rng_create(&rng, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_save_buffer(rng, buf, sizeof(buf), &size), CTR_OK);
    for (i = 0; i < size; i++) /* every truncation */
        ck_assert_int_eq(ctr_rng_load_buffer(&loaded, buf, i, NULL), CTR_E_CORRUPT);
    for (i = 0; i < size * 8; i++) { /* every single-bit flip */
        int rc;
        buf[i / 8] ^= (unsigned char)(1u << (i % 8));
        rc = ctr_rng_load_buffer(&loaded, buf, size, NULL);
        ck_assert_msg(rc == CTR_E_CORRUPT || rc == CTR_E_INCOMPATIBLE,
                      "bit %zu: %d", i, rc);
        buf[i / 8] ^= (unsigned char)(1u << (i % 8));
    }
    ck_assert_ptr_null(loaded);

    /* a valid checkpoint of another object kind */
    ctr__ckw_to_buffer(&w, other, sizeof(other), CTR__CKPT_KIND_TEST, NULL);
    ctr__ckw_begin_section(&w, CTR__FOURCC('S', 'T', 'A', 'T'));
    ctr__ckw_put_u64(&w, 1);
    ctr__ckw_end_section(&w);
    ck_assert_int_eq(ctr__ckw_finish(&w, &other_size), CTR_OK);
    ck_assert_int_eq(ctr_rng_load_buffer(&loaded, other, other_size, NULL),
                     CTR_E_INCOMPATIBLE);

    ck_assert_int_eq(ctr_rng_load_buffer(NULL, buf, size, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_rng_load_buffer(&loaded, NULL, size, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_rng_load(&loaded, NULL, NULL), CTR_E_INVALID_ARG);
    test_temp_path(path, sizeof(path), "missing.ckpt");
    ck_assert_int_eq(ctr_rng_load(&loaded, path, NULL), CTR_E_IO);
    ck_assert_int_eq(ctr_rng_save(rng, "/nonexistent-dir/x.ckpt"), CTR_E_IO);
    ck_assert_int_eq(errno, ENOENT); /* the system's reason */
    ck_assert_str_eq(ctr_rng_last_error(rng),
                     "checkpoint: cannot create a temporary file beside "
                     "'/nonexistent-dir/x.ckpt': No such file or directory");
    ck_assert_int_eq(ctr_rng_save(rng, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_rng_save_buffer(rng, NULL, 4, &size), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_rng_save_buffer(rng, buf, sizeof(buf), NULL), CTR_E_INVALID_ARG);
    ck_assert_ptr_null(loaded);
    ctr_rng_destroy(rng);
}
END_TEST

Suite *ctr_test_rng_suite(void);

Suite *ctr_test_rng_suite(void)
{
    Suite *s = suite_create("rng");
    TCase *gen = tcase_create("generator");
    TCase *dist = tcase_create("distributions");
    TCase *args = tcase_create("errors");
    TCase *ckpt = tcase_create("checkpoint");
    tcase_add_test(gen, test_reference_vectors);
    tcase_add_test(gen, test_same_seed_same_stream);
    tcase_add_test(gen, test_split_streams_differ);
    tcase_add_test(dist, test_uniform_moments_and_range);
    tcase_add_test(dist, test_normal_moments);
    tcase_add_test(dist, test_below_is_unbiased);
    tcase_add_test(dist, test_permutation);
    tcase_add_test(args, test_bad_arguments);
    tcase_add_test(ckpt, test_resume_from_path_and_buffer);
    tcase_add_test(ckpt, test_load_rejects_bad_input);
    tcase_set_timeout(dist, 60);
    tcase_set_timeout(ckpt, 60);
    suite_add_tcase(s, gen);
    suite_add_tcase(s, dist);
    suite_add_tcase(s, args);
    suite_add_tcase(s, ckpt);
    return s;
}
