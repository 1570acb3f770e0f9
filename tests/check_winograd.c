/*
 * check_winograd.c - the no-grad forward's Winograd F(2x2, 3x3)
 * convolutions (src/encoder/conv_winograd.c):
 *  - ctr__wino_forward against a float64 direct convolution written here,
 *    on odd and tiny shapes (1x1 images, odd H and W, padding 0 to 2,
 *    C = 1, O = 1, with and without bias, batch 1 and a batch of several
 *    chunks), within 1e-5 of the sum of the terms' magnitudes;
 *  - the dispatch rule, and a conv layer's no-grad forward through the API
 *    (Winograd) against its eval forward (im2col);
 *  - a two-block ResNet's no-grad forward against its train-mode forward
 *    (outputs and running statistics to float rounding);
 *  - the workspace query against what the allocator sees, and every
 *    allocation failure;
 *  - OpenMP build: two runs at 2 threads give the same bits, and so does
 *    a run at 1 thread (the transforms split by plane, each of the 16
 *    GEMMs runs on one thread).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(CTR_OPENMP)
#include <omp.h>
#endif

#include "encoder/conv_winograd.h"
#include "test_util.h"

/* y = direct convolution in double; mag = the sum of its terms'
 * magnitudes (the scale of float rounding). */
static void direct_conv(double *y, double *mag, const float *x, const float *w,
                        const float *bias, int64_t n, const ctr__wino_shape *s)
{
    int64_t oh = s->h + 2 * s->p - 2, ow = s->w + 2 * s->p - 2, i, o, r, q, c, ki, kj;
    for (i = 0; i < n; i++)
        for (o = 0; o < s->o; o++)
            for (r = 0; r < oh; r++)
                for (q = 0; q < ow; q++) {
                    double acc = bias != NULL ? bias[o] : 0.0, m = fabs(acc);
                    for (c = 0; c < s->c; c++)
                        for (ki = 0; ki < 3; ki++)
                            for (kj = 0; kj < 3; kj++) {
                                int64_t ih = r - s->p + ki, iw = q - s->p + kj;
                                double t;
                                if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w)
                                    continue;
                                t = (double)w[((o * s->c + c) * 3 + ki) * 3 + kj] *
                                    (double)x[((i * s->c + c) * s->h + ih) * s->w + iw];
                                acc += t;
                                m += fabs(t);
                            }
                    *y++ = acc;
                    *mag++ = m;
                }
}

/* Winograd against the direct convolution for one shape. */
static void check_shape(int64_t n, int64_t c, int64_t h, int64_t w, int64_t o, int64_t p,
                        int with_bias, uint64_t seed)
{
    ctr__wino_shape s = {c, h, w, o, p};
    int64_t oh = h + 2 * p - 2, ow = w + 2 * p - 2, count = n * o * oh * ow, i;
    float *x = test_randn(seed, n * c * h * w, 1, 1.0);
    float *wt = test_randn(seed + 1, o * c * 9 + o, 1, 0.5);
    float *y = malloc((size_t)count * sizeof(float)), *scratch;
    double *want = malloc((size_t)count * sizeof(double));
    double *mag = malloc((size_t)count * sizeof(double));
    size_t floats;
    const float *bias = with_bias ? wt + o * c * 9 : NULL;
    ck_assert_int_eq(ctr__wino_floats(&s, n, &floats), CTR_OK);
    scratch = malloc(floats * sizeof(float));
    ck_assert_ptr_nonnull(scratch);
    ctr__wino_forward(y, x, wt, bias, n, &s, scratch);
    direct_conv(want, mag, x, wt, bias, n, &s);
    for (i = 0; i < count; i++)
        ck_assert_msg(fabs((double)y[i] - want[i]) <= 1e-5 * mag[i] + 1e-30,
                      "n %lld C %lld %lldx%lld O %lld p %lld bias %d: y[%lld] = %.9g, want %.9g",
                      (long long)n, (long long)c, (long long)h, (long long)w, (long long)o,
                      (long long)p, with_bias, (long long)i, (double)y[i], want[i]);
    free(x), free(wt), free(y), free(want), free(mag), free(scratch);
}

START_TEST(test_against_direct)
{
    check_shape(1, 1, 1, 1, 1, 1, 0, 1);  /* a 1x1 image: one partial tile */
    check_shape(1, 1, 1, 1, 1, 1, 1, 2);
    check_shape(2, 3, 5, 7, 4, 1, 1, 3); /* odd H and W: partial tiles */
    check_shape(1, 4, 6, 9, 1, 0, 0, 4); /* no padding, O = 1 */
    check_shape(3, 5, 3, 3, 2, 0, 1, 5); /* 1x1 output */
    check_shape(2, 2, 4, 4, 3, 2, 1, 6); /* padding 2 */
    check_shape(2, 6, 37, 35, 5, 1, 0, 7); /* more than TB tiles per row */
    check_shape(1, 33, 8, 8, 17, 1, 1, 8);
}
END_TEST

START_TEST(test_batch_of_several_chunks)
{
    ctr__wino_shape s = {4, 181, 181, 4, 1};
    size_t f4, f5;
    /* the workspace stops growing with n: the batch spans several chunks */
    ck_assert_int_eq(ctr__wino_floats(&s, 4, &f4), CTR_OK);
    ck_assert_int_eq(ctr__wino_floats(&s, 5, &f5), CTR_OK);
    ck_assert_uint_eq(f4, f5);
    check_shape(5, 4, 181, 181, 4, 1, 1, 9);
}
END_TEST

START_TEST(test_dispatch_rule)
{
    ctr__wino_shape s = {64, 32, 32, 64, 1}, stem = {3, 32, 32, 64, 1};
    size_t f;
    ck_assert_int_eq(ctr__wino_applies(&s, 3, 1), 1);
    ck_assert_int_eq(ctr__wino_applies(&s, 3, 2), 0);
    ck_assert_int_eq(ctr__wino_applies(&s, 1, 1), 0);
    ck_assert_int_eq(ctr__wino_applies(&s, 5, 1), 0);
    ck_assert_int_eq(ctr__wino_applies(&stem, 3, 1), 0);
    s.c = 15; /* narrow layers keep im2col too */
    ck_assert_int_eq(ctr__wino_applies(&s, 3, 1), 0);
    s.c = 16;
    ck_assert_int_eq(ctr__wino_applies(&s, 3, 1), 1);
    s.o = 15;
    ck_assert_int_eq(ctr__wino_applies(&s, 3, 1), 0);
    s.o = 64;
    s.c = (int64_t)1 << 20; /* beyond any real layer: im2col */
    ck_assert_int_eq(ctr__wino_applies(&s, 3, 1), 0);
    s.c = 64;
    ck_assert_int_eq(ctr__wino_floats(&s, 1, &f), CTR_OK);
    ck_assert_uint_eq(f, 16 * 64 * 64 + 16 * 128 * 256); /* U, then V and M of one image */
}
END_TEST

/* One conv layer (Winograd in no-grad) against the eval forward (im2col). */
START_TEST(test_layer_through_api)
{
    int64_t dims[3] = {16, 9, 7}, n = 3, count = n * 16 * 9 * 7, i;
    float *x = test_randn(11, n * 16 * 9 * 7, 1, 1.0);
    float *ya = malloc((size_t)count * sizeof(float)), *yb = malloc((size_t)count * sizeof(float));
    ctr_encoder *enc = NULL;
    ck_assert_int_eq(ctr_encoder_create(&enc, dims, 3, 5, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_conv2d(enc, 16, 3, 1, 1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(enc, ya, x, n, CTR_ENCODER_EVAL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(enc, yb, x, n, CTR_ENCODER_EVAL | CTR_ENCODER_NO_GRAD),
                     CTR_OK);
    for (i = 0; i < count; i++)
        ck_assert_close(yb[i], ya[i], 1e-5, 1e-6);
    ck_assert(memcmp(ya, yb, (size_t)count * sizeof(float)) != 0); /* really another path */
    ctr_encoder_destroy(enc);
    free(x), free(ya), free(yb);
}
END_TEST

/* ---- a small ResNet -------------------------------------------------------- */

/* Stem 3 -> 16 on 3 x 11 x 11 (im2col), an identity block of 16 and a
 * projection block of 24 / 2 (Winograd in their stride-1 3x3 convs),
 * global pool, linear 6. */
#define NET_IN (3 * 11 * 11)
#define NET_OUT 6

static int small_resnet(ctr_encoder **out, const ctr_allocator *a)
{
    int64_t dims[3] = {3, 11, 11};
    ctr_encoder *enc = NULL;
    int rc = ctr_encoder_create(&enc, dims, 3, 17, a);
    if (rc != CTR_OK)
        return rc;
    if ((rc = ctr_encoder_add_conv2d(enc, 16, 3, 1, 1, 0)) != CTR_OK ||
        (rc = ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1)) != CTR_OK ||
        (rc = ctr_encoder_add_activation(enc, CTR_LAYER_RELU)) != CTR_OK ||
        (rc = test_basic_block(enc, 16, 1, 1e-5, 0.1)) != CTR_OK ||
        (rc = test_basic_block(enc, 24, 2, 1e-5, 0.1)) != CTR_OK ||
        (rc = ctr_encoder_add_global_avgpool(enc)) != CTR_OK ||
        (rc = ctr_encoder_add_linear(enc, NET_OUT, 1)) != CTR_OK) {
        ctr_encoder_destroy(enc);
        return rc;
    }
    *out = enc;
    return CTR_OK;
}

START_TEST(test_resnet_nograd_against_train)
{
    int64_t n = 6, ns, i;
    int32_t modes[2] = {CTR_ENCODER_TRAIN, CTR_ENCODER_EVAL};
    float *x = test_randn(21, n * NET_IN, 1, 1.0), ya[6 * NET_OUT], yb[6 * NET_OUT];
    float sa[512], sb[512];
    ctr_encoder *a = NULL, *b = NULL;
    int m;
    ck_assert_int_eq(small_resnet(&a, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_clone(&b, a), CTR_OK);
    ck_assert_int_eq(ctr_encoder_num_stats(a, &ns), CTR_OK);
    ck_assert_int_le(ns, 512);
    for (m = 0; m < 2; m++) {
        ck_assert_int_eq(ctr_encoder_forward(a, ya, x, n, modes[m]), CTR_OK);
        ck_assert_int_eq(ctr_encoder_forward(b, yb, x, n, modes[m] | CTR_ENCODER_NO_GRAD),
                         CTR_OK);
        for (i = 0; i < n * NET_OUT; i++)
            ck_assert_close(yb[i], ya[i], 1e-4, 1e-5);
        ck_assert_int_eq(ctr_encoder_get_stats(a, sa, ns), CTR_OK);
        ck_assert_int_eq(ctr_encoder_get_stats(b, sb, ns), CTR_OK);
        for (i = 0; i < ns; i++)
            ck_assert_close(sb[i], sa[i], 1e-5, 1e-6);
    }
    ctr_encoder_destroy(a);
    ctr_encoder_destroy(b);
    free(x);
}
END_TEST

/* ---- workspace and allocation failures -------------------------------------- */

START_TEST(test_workspace_query)
{
    test_alloc_state st;
    ctr_allocator al;
    ctr_encoder *enc = NULL;
    ctr__wino_shape s = {24, 6, 6, 24, 1};
    float *x = test_randn(31, 6 * NET_IN, 1, 1.0), y[6 * NET_OUT];
    size_t mem, train_ws, nograd_ws, wino;
    test_alloc_setup(&al, &st);
    ck_assert_int_eq(small_resnet(&enc, &al), CTR_OK);
    ck_assert_int_eq(ctr_encoder_memory(enc, &mem, 6), CTR_OK);
    ck_assert_int_eq(ctr_encoder_workspace_size(enc, &train_ws, 6, CTR_ENCODER_EVAL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_workspace_size(enc, &nograd_ws, 6,
                                                CTR_ENCODER_EVAL | CTR_ENCODER_NO_GRAD), CTR_OK);
    /* the scratch holds the widest layer's Winograd buffers */
    ck_assert_int_eq(ctr__wino_floats(&s, 6, &wino), CTR_OK);
    ck_assert_uint_ge(nograd_ws, wino * sizeof(float));
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 6, CTR_ENCODER_EVAL | CTR_ENCODER_NO_GRAD),
                     CTR_OK);
    ck_assert_int_eq(st.live_bytes, (int64_t)(mem - train_ws + nograd_ws));
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 5, CTR_ENCODER_TRAIN | CTR_ENCODER_NO_GRAD),
                     CTR_OK); /* a smaller batch reuses it */
    ck_assert_int_eq(st.live_bytes, (int64_t)(mem - train_ws + nograd_ws));
    ctr_encoder_destroy(enc);
    ck_assert_int_eq(st.live_blocks, 0);
    free(x);
}
END_TEST

static int attempt_nograd(const ctr_allocator *a, void *ctx)
{
    ctr_encoder *enc = NULL;
    const float *x = (const float *)ctx;
    float y[4 * NET_OUT];
    int rc = small_resnet(&enc, a);
    if (rc != CTR_OK)
        return rc;
    if ((rc = ctr_encoder_forward(enc, y, x, 4, CTR_ENCODER_TRAIN | CTR_ENCODER_NO_GRAD)) ==
        CTR_OK)
        rc = ctr_encoder_forward(enc, y, x, 4, CTR_ENCODER_EVAL | CTR_ENCODER_NO_GRAD);
    ctr_encoder_destroy(enc);
    return rc;
}

START_TEST(test_every_allocation_failure)
{
    float *x = test_randn(41, 4 * NET_IN, 1, 1.0);
    ck_assert_int_gt(test_every_alloc_failure(attempt_nograd, x), 0);
    free(x);
}
END_TEST

/* ---- threads (OpenMP build) --------------------------------------------------- */

/* The host's thread count (OpenMP build; the default build has one). */
#if defined(CTR_OPENMP)
#define SET_THREADS(t) omp_set_num_threads(t)
#define HOST_THREADS() omp_get_max_threads()
#else
#define SET_THREADS(t) ((void)(t))
#define HOST_THREADS() 1
#endif

/* A layer big enough that every transform splits over threads. */
static void run_big(float *y, const float *x, const float *w, float *scratch,
                    const ctr__wino_shape *s)
{
    ctr__wino_forward(y, x, w, w + s->o * s->c * 9, 4, s, scratch);
}

START_TEST(test_threads)
{
    ctr__wino_shape s = {32, 20, 20, 32, 1};
    int64_t count = 4 * 32 * 20 * 20;
    float *x = test_randn(51, 4 * 32 * 20 * 20, 1, 1.0);
    float *w = test_randn(52, 32 * 32 * 9 + 32, 1, 0.1);
    float *y1 = malloc((size_t)count * sizeof(float)), *y2 = malloc((size_t)count * sizeof(float));
    float *y3 = malloc((size_t)count * sizeof(float)), *scratch;
    size_t floats;
    int host = HOST_THREADS();
    ck_assert_int_eq(ctr__wino_floats(&s, 4, &floats), CTR_OK);
    scratch = malloc(floats * sizeof(float));
    SET_THREADS(2);
    run_big(y1, x, w, scratch, &s);
    memset(scratch, 0xff, floats * sizeof(float)); /* nothing left from the last run is read */
    run_big(y2, x, w, scratch, &s);
    ck_assert_mem_eq(y1, y2, (size_t)count * sizeof(float));
    SET_THREADS(1);
    run_big(y3, x, w, scratch, &s);
    /* each GEMM on one thread: the thread count changes nothing */
    ck_assert_mem_eq(y1, y3, (size_t)count * sizeof(float));
    SET_THREADS(host);
    free(x), free(w), free(y1), free(y2), free(y3), free(scratch);
}
END_TEST

Suite *ctr_test_winograd_suite(void);
Suite *ctr_test_winograd_suite(void)
{
    Suite *s = suite_create("winograd");
    TCase *num = tcase_create("numerics");
    TCase *enc = tcase_create("encoder");
    TCase *thr = tcase_create("threads");
    tcase_set_timeout(num, 120);
    tcase_add_test(num, test_against_direct);
    tcase_add_test(num, test_batch_of_several_chunks);
    tcase_add_test(num, test_dispatch_rule);
    tcase_add_test(enc, test_layer_through_api);
    tcase_add_test(enc, test_resnet_nograd_against_train);
    tcase_add_test(enc, test_workspace_query);
    tcase_add_test(enc, test_every_allocation_failure);
    tcase_add_test(thr, test_threads);
    suite_add_tcase(s, num);
    suite_add_tcase(s, enc);
    suite_add_tcase(s, thr);
    return s;
}
