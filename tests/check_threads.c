/*
 * check_threads.c - the thread rule of the OpenMP build (make OPENMP=1,
 * docs/threading.md), on training steps big enough that every split pass
 * (im2col/col2im, BatchNorm's sums and apply, ReLU, max/average/global
 * pooling, AdamW; on sequences conv1d's im2col/col2im and bias gradient,
 * LayerNorm and L2-norm) runs on several threads:
 *  - two runs at one thread count give the same bits (outputs, input and
 *    parameter gradients, parameters after two AdamW steps, BN statistics);
 *  - runs at 1 and 2 threads agree within float tolerance on the first
 *    step's outputs and gradients (only the GEMMs may change their sums'
 *    order with the thread count);
 *  - AdamW on a host buffer gives the same bits at 1 and 2 threads as a
 *    plain loop written here.
 * The default build runs the same cases at its one thread (the host's
 * thread count is then only BLAS's).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(CTR_OPENMP)
#include <omp.h>
#endif

#include "test_util.h"

#define BATCH 64
#define OUT 16

/* The host's thread count (OpenMP build); nothing otherwise. */
static void use_threads(int t)
{
#if defined(CTR_OPENMP)
    omp_set_num_threads(t);
#else
    (void)t;
#endif
}

static int max_threads(void)
{
#if defined(CTR_OPENMP)
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* A CNN on 2 x 16 x 16 images: conv, BN, ReLU, a stride-2 conv, BN, ReLU,
 * then max pooling (pool 0), average + global average pooling (pool 1) or
 * global average pooling alone (pool 2: BN, ReLU and pool fused),
 * and an MLP head with a BN over 512 features. */
static ctr_encoder *build(int pool)
{
    ctr_encoder *enc = NULL;
    int64_t dims[3] = {2, 16, 16};
    ck_assert_int_eq(ctr_encoder_create(&enc, dims, 3, 7, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_conv2d(enc, 8, 3, 1, 1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(enc, CTR_LAYER_RELU), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_conv2d(enc, 8, 3, 2, 1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(enc, CTR_LAYER_RELU), CTR_OK);
    if (pool == 0) {
        ck_assert_int_eq(ctr_encoder_add_pool2d(enc, CTR_LAYER_MAXPOOL2D, 2, 2, 0), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_flatten(enc), CTR_OK);
    } else {
        if (pool == 1)
            ck_assert_int_eq(ctr_encoder_add_pool2d(enc, CTR_LAYER_AVGPOOL2D, 3, 1, 1), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_global_avgpool(enc), CTR_OK);
    }
    ck_assert_int_eq(ctr_encoder_add_linear(enc, 512, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(enc, CTR_LAYER_RELU), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(enc, OUT, 1), CTR_OK);
    return enc;
}

/* A sequence net on 64 steps x 8 features (the images' 512 values per
 * sample): conv1d, LayerNorm, ReLU, L2-norm per step, a stride-2 conv1d,
 * LayerNorm, then a linear head and an L2-norm. */
static ctr_encoder *build_sequence(void)
{
    ctr_encoder *enc = NULL;
    int64_t dims[2] = {64, 8};
    ck_assert_int_eq(ctr_encoder_create(&enc, dims, 2, 7, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_conv1d(enc, 16, 5, 1, 2, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_layernorm(enc, 1e-5, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(enc, CTR_LAYER_RELU), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_l2norm(enc, 1e-12), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_conv1d(enc, 16, 3, 2, 1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_layernorm(enc, 1e-5, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_flatten(enc), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(enc, OUT, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_l2norm(enc, 1e-12), CTR_OK);
    return enc;
}

/* Nets 0 and 1: the CNNs of build(); 2: the sequence net; 3: build(2). */
static ctr_encoder *build_net(int net)
{
    return net == 2 ? build_sequence() : build(net == 3 ? 2 : net);
}

/* What a run produces. */
typedef struct run_out {
    float *y, *dx, *grads, *params, *stats;
    int64_t nx, np, ns;
} run_out;

static void run_free(run_out *o)
{
    free(o->y), free(o->dx), free(o->grads), free(o->params), free(o->stats);
}

/* Two AdamW steps at t threads; y, dx and the gradients of the first. */
static run_out train(int pool, int t)
{
    ctr_encoder *enc = build_net(pool);
    ctr_optimizer *opt = NULL;
    run_out o;
    float *x, *target, *dy, *y2;
    int64_t i, k;
    use_threads(t);
    o.nx = (int64_t)BATCH * 2 * 16 * 16;
    ck_assert_int_eq(ctr_encoder_num_params(enc, &o.np), CTR_OK);
    ck_assert_int_eq(ctr_encoder_num_stats(enc, &o.ns), CTR_OK);
    x = test_randn(11, BATCH, 2 * 16 * 16, 1.0);
    target = test_randn(12, BATCH, OUT, 1.0);
    o.y = malloc((size_t)(BATCH * OUT) * sizeof(float));
    y2 = malloc((size_t)(BATCH * OUT) * sizeof(float));
    dy = malloc((size_t)(BATCH * OUT) * sizeof(float));
    o.dx = malloc((size_t)o.nx * sizeof(float));
    o.grads = malloc((size_t)o.np * sizeof(float));
    o.params = malloc((size_t)o.np * sizeof(float));
    o.stats = malloc((size_t)(o.ns + 1) * sizeof(float)); /* the sequence net has none */
    ck_assert_ptr_nonnull(o.stats);
    ck_assert_int_eq(ctr_optimizer_create_for_encoder(&opt, CTR_OPTIMIZER_ADAMW, enc, NULL),
                     CTR_OK);
    ck_assert_int_eq(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_LR, 0.01), CTR_OK);
    for (k = 0; k < 2; k++) {
        float *yk = k == 0 ? o.y : y2;
        ck_assert_int_eq(ctr_encoder_zero_grad(enc), CTR_OK);
        ck_assert_int_eq(ctr_encoder_forward(enc, yk, x, BATCH, CTR_ENCODER_TRAIN), CTR_OK);
        for (i = 0; i < BATCH * OUT; i++)
            dy[i] = (yk[i] - target[i]) / BATCH;
        ck_assert_int_eq(ctr_encoder_backward(enc, k == 0 ? o.dx : NULL, dy), CTR_OK);
        if (k == 0)
            ck_assert_int_eq(ctr_encoder_get_grads(enc, o.grads, o.np), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_step(opt), CTR_OK);
    }
    ck_assert_int_eq(ctr_encoder_get_params(enc, o.params, o.np), CTR_OK);
    if (o.ns > 0)
        ck_assert_int_eq(ctr_encoder_get_stats(enc, o.stats, o.ns), CTR_OK);
    ctr_optimizer_destroy(opt);
    ctr_encoder_destroy(enc);
    free(x), free(target), free(dy), free(y2);
    return o;
}

static void assert_same_bits(const float *a, const float *b, int64_t n, const char *what)
{
    ck_assert_msg(memcmp(a, b, (size_t)n * sizeof(float)) == 0, "%s differs between runs",
                  what);
}

/* |a - b| <= rtol * max|b| elementwise. */
static void assert_near(const float *a, const float *b, int64_t n, double rtol,
                        const char *what)
{
    double scale = 0.0;
    int64_t i;
    for (i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)b[i]));
    for (i = 0; i < n; i++)
        ck_assert_msg(fabs((double)a[i] - (double)b[i]) <= rtol * scale + 1e-30,
                      "%s[%lld]: %g vs %g", what, (long long)i, (double)a[i], (double)b[i]);
}

static void same_bits_at(int pool, int t)
{
    run_out a = train(pool, t), b = train(pool, t);
    assert_same_bits(a.y, b.y, BATCH * OUT, "y");
    assert_same_bits(a.dx, b.dx, a.nx, "dx");
    assert_same_bits(a.grads, b.grads, a.np, "grads");
    assert_same_bits(a.params, b.params, a.np, "params");
    assert_same_bits(a.stats, b.stats, a.ns, "stats");
    run_free(&a), run_free(&b);
}

START_TEST(test_same_bits_at_a_thread_count)
{
    int saved = max_threads();
    same_bits_at(_i, 2);
    same_bits_at(_i, 1);
    use_threads(saved);
}
END_TEST

START_TEST(test_one_and_two_threads_agree)
{
    int saved = max_threads();
    run_out a = train(_i, 1), b = train(_i, 2);
    assert_near(b.y, a.y, BATCH * OUT, 1e-5, "y");
    assert_near(b.dx, a.dx, a.nx, 1e-4, "dx");
    assert_near(b.grads, a.grads, a.np, 1e-4, "grads");
    /* (not the parameters or statistics after the steps: AdamW's first
     * updates are about lr * sign(g), so a gradient near 0 whose last bits
     * differ may move its parameter the other way) */
    run_free(&a), run_free(&b);
    use_threads(saved);
}
END_TEST

/* Segments whose borders cut the optimizer's blocks of 16384 floats; the
 * second and fourth are excluded from weight decay. */
static const int64_t SGD_SIZES[4] = {5000, 20000, 3, 75000};
static const int32_t SGD_EXCLUDED[4] = {0, 1, 0, 1};

/* Steps on a host buffer at t threads: AdamW two steps, decay on; SGD
 * (momentum 0.9, weight decay 0.01 but not on the excluded segments,
 * Nesterov or not) three steps. */
static float *buffer_steps(int32_t kind, int t, const float *p0, const float *g, int64_t n,
                           int nesterov)
{
    ctr_optimizer *opt = NULL;
    float *p = malloc((size_t)n * sizeof(float));
    int k, sgd = kind == CTR_OPTIMIZER_SGD;
    ck_assert_ptr_nonnull(p);
    memcpy(p, p0, (size_t)n * sizeof(float));
    use_threads(t);
    ck_assert_int_eq(ctr_optimizer_create(&opt, kind, n, NULL), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_WEIGHT_DECAY, sgd ? 0.01 : 0.05),
                     CTR_OK);
    if (sgd) {
        ck_assert_int_eq(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_LR, 0.01), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_MOMENTUM, 0.9), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_set_i64(opt, CTR_OPTIMIZER_P_NESTEROV, nesterov), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_set_segments(opt, SGD_SIZES, SGD_EXCLUDED, 4), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_set_i64(opt, CTR_OPTIMIZER_P_EXCLUDE_BIAS_NORM, 1),
                         CTR_OK);
    }
    for (k = 0; k < (sgd ? 3 : 2); k++)
        ck_assert_int_eq(ctr_optimizer_step_buffer(opt, p, g, n), CTR_OK);
    ctr_optimizer_destroy(opt);
    return p;
}

START_TEST(test_adamw_same_bits_across_threads)
{
    const int64_t n = 100003;
    const double lr = 0.001, wd = 0.05, b1 = 0.9, b2 = 0.999;
    int saved = max_threads(), k;
    float *p0 = test_randn(21, 1, n, 1.0), *g = test_randn(22, 1, n, 1.0);
    float *one = buffer_steps(CTR_OPTIMIZER_ADAMW, 1, p0, g, n, 0);
    float *two = buffer_steps(CTR_OPTIMIZER_ADAMW, 2, p0, g, n, 0);
    float *m = calloc((size_t)n, sizeof(float)), *v = calloc((size_t)n, sizeof(float));
    int64_t i;
    ck_assert_ptr_nonnull(v);
    assert_same_bits(two, one, n, "AdamW at 1 and 2 threads");
    for (k = 1; k <= 2; k++) { /* the update rule, float by float, in one thread */
        float decay = (float)(1.0 - lr * wd), step = (float)(lr / (1.0 - pow(b1, k)));
        float bc2 = (float)sqrt(1.0 - pow(b2, k));
        for (i = 0; i < n; i++) {
            p0[i] *= decay;
            m[i] = m[i] * (float)b1 + (float)(1.0 - b1) * g[i];
            v[i] = v[i] * (float)b2 + (float)(1.0 - b2) * g[i] * g[i];
            p0[i] = p0[i] - step * (m[i] / (sqrtf(v[i]) / bc2 + 1e-8f));
        }
    }
    assert_same_bits(one, p0, n, "AdamW against its loop");
    free(p0), free(g), free(one), free(two), free(m), free(v);
    use_threads(saved);
}
END_TEST

/* The split SGD update (blocks over the threads) against its rule written
 * float by float here, at 1 and 2 threads, with and without Nesterov. */
START_TEST(test_sgd_same_bits_across_threads)
{
    const int64_t n = 100003;
    const float lr = 0.01f, mu = 0.9f, wd = 0.01f;
    int saved = max_threads(), k;
    float *p0 = test_randn(23, 1, n, 1.0), *g = test_randn(24, 1, n, 1.0);
    float *one = buffer_steps(CTR_OPTIMIZER_SGD, 1, p0, g, n, _i);
    float *two = buffer_steps(CTR_OPTIMIZER_SGD, 2, p0, g, n, _i);
    float *buf = calloc((size_t)n, sizeof(float));
    int64_t i;
    ck_assert_ptr_nonnull(buf);
    assert_same_bits(two, one, n, "SGD at 1 and 2 threads");
    for (k = 0; k < 3; k++) {
        for (i = 0; i < n; i++) {
            int excluded = (i >= 5000 && i < 25000) || i >= 25003;
            float d = g[i] + (excluded ? 0.0f : wd) * p0[i];
            if (k == 0) {
                buf[i] = d;
                p0[i] = p0[i] - lr * (buf[i] + (_i ? mu : 0.0f) * buf[i]);
            } else if (_i) {
                buf[i] = buf[i] * mu + 1.0f * d;
                p0[i] = p0[i] - lr * (d + mu * buf[i]);
            } else {
                buf[i] = buf[i] * mu + 1.0f * d;
                p0[i] = p0[i] - lr * buf[i];
            }
        }
    }
    assert_same_bits(one, p0, n, "SGD against its loop");
    free(p0), free(g), free(one), free(two), free(buf);
    use_threads(saved);
}
END_TEST

static void step_count_is(const ctr_optimizer *opt, int64_t want)
{
    int64_t v = -1;
    ck_assert_int_eq(ctr_optimizer_get_i64(opt, CTR_OPTIMIZER_P_STEP, &v), CTR_OK);
    ck_assert_int_eq(v, want);
}

/* A value that is not finite far into a big array (past the first blocks
 * of the split check) is found: the step and the forward refuse it, name
 * its index and leave the parameters and the step count as they were. */
START_TEST(test_split_finite_checks)
{
    const int64_t n = 100003, bad = 70001;
    ctr_optimizer *opt = NULL;
    ctr_encoder *enc = NULL;
    int64_t in = 1000;
    int saved = max_threads();
    float *p = test_randn(25, 1, n, 1.0), *g = test_randn(26, 1, n, 1.0);
    float *p_copy = malloc((size_t)n * sizeof(float)), *y = malloc(100 * 8 * sizeof(float));
    ck_assert_ptr_nonnull(p_copy);
    ck_assert_ptr_nonnull(y);
    memcpy(p_copy, p, (size_t)n * sizeof(float));
    use_threads(2);
    g[bad] = (float)NAN;
    ck_assert_int_eq(ctr_optimizer_create(&opt, CTR_OPTIMIZER_SGD, n, NULL), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_step_buffer(opt, p, g, n), CTR_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(ctr_optimizer_last_error(opt), "grads[70001] is NaN"));
    assert_same_bits(p, p_copy, n, "parameters after a refused step");
    step_count_is(opt, 0);
    ctr_optimizer_destroy(opt); /* AdamW: its check shares the update's region */
    ck_assert_int_eq(ctr_optimizer_create(&opt, CTR_OPTIMIZER_ADAMW, n, NULL), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_step_buffer(opt, p, g, n), CTR_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(ctr_optimizer_last_error(opt), "grads[70001] is NaN"));
    assert_same_bits(p, p_copy, n, "parameters after a refused AdamW step");
    step_count_is(opt, 0);
    g[bad] = 0.0f;
    p[bad] = (float)INFINITY;
    ck_assert_int_eq(ctr_optimizer_step_buffer(opt, p, g, n), CTR_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(ctr_optimizer_last_error(opt), "params[70001] is Inf"));
    ck_assert_int_eq(ctr_encoder_create(&enc, &in, 1, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(enc, 8, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, p, 100, CTR_ENCODER_TRAIN), CTR_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(ctr_encoder_last_error(enc), "x[70001] is Inf"));
    ctr_encoder_destroy(enc);
    ctr_optimizer_destroy(opt);
    free(p), free(g), free(p_copy), free(y);
    use_threads(saved);
}
END_TEST

Suite *ctr_test_threads_suite(void);

Suite *ctr_test_threads_suite(void)
{
    Suite *s = suite_create("threads");
    TCase *det = tcase_create("determinism");
    tcase_set_timeout(det, 120);
    tcase_add_loop_test(det, test_same_bits_at_a_thread_count, 0, 4);
    tcase_add_loop_test(det, test_one_and_two_threads_agree, 0, 4);
    tcase_add_test(det, test_adamw_same_bits_across_threads);
    tcase_add_loop_test(det, test_sgd_same_bits_across_threads, 0, 2);
    tcase_add_test(det, test_split_finite_checks);
    suite_add_tcase(s, det);
    return s;
}
