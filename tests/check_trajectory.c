/*
 * check_trajectory.c - the whole training step against PyTorch over 30
 * steps: a small CNN with batch norm, NT-Xent and AdamW under the cosine
 * schedule, as the demo trains SimCLR (tests/gen_trajectory.py writes the
 * float64 reference). A defect anywhere in the step (a layer's backward,
 * batch norm over both views, the objective's gradient, the optimizer, the
 * schedule) makes the trajectory leave the reference; float rounding alone
 * keeps it within a few times PyTorch's own float32 run.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "golden_util.h"
#include "test_util.h"

#define GOLDEN "trajectory_golden.txt"
#define B 12
#define SIDE 12
#define PIXELS (SIDE * SIDE)
#define STEPS 30
#define WARMUP 3
#define LR 1e-2
#define WD 1e-3
#define TAU 0.1
#define NOISE 1.5f
#define EMB 16

/* The generator's inputs, bit for bit: murmur3's finaliser over a stream. */
static uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

static void uniform(float *out, uint32_t stream, int64_t n)
{
    uint32_t base = stream * 0x9E3779B1u;
    int64_t i;
    for (i = 0; i < n; i++)
        out[i] = (float)(fmix32(base + (uint32_t)i) >> 8) / 16777216.0f;
}

/* 2B views of step `step`: view v of sample i at row v*B + i. */
static void batch_views(float *views, int step)
{
    float base[B * PIXELS], u[B * PIXELS];
    int v, i;
    uniform(base, 1, B * PIXELS);
    for (v = 0; v < 2; v++) {
        uniform(u, (uint32_t)(1000 + 2 * step + v), B * PIXELS);
        for (i = 0; i < B * PIXELS; i++)
            views[v * B * PIXELS + i] = base[i] + NOISE * (u[i] - 0.5f);
    }
}

static ctr_encoder *build_network(void)
{
    int64_t dims[3] = {1, SIDE, SIDE};
    ctr_encoder *e = NULL;
    ck_assert_int_eq(ctr_encoder_create(&e, dims, 3, 7, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_conv2d(e, 6, 3, 2, 1, 0), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(e, CTR_LAYER_RELU), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_conv2d(e, 8, 3, 2, 1, 0), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(e, CTR_LAYER_RELU), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_flatten(e), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(e, 32, 0), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(e, CTR_LAYER_RELU), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(e, EMB, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_l2norm(e, 1e-12), CTR_OK);
    return e;
}

/* ||got - want|| / ||want - start||: the distance from the reference in
 * units of the distance the reference travelled. */
static double relative_to_step(const float *got, const float *want, const float *start,
                               long n)
{
    double num = 0.0, den = 0.0;
    long i;
    for (i = 0; i < n; i++) {
        num += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        den += ((double)want[i] - start[i]) * ((double)want[i] - start[i]);
    }
    return sqrt(num / den);
}

START_TEST(test_simclr_cnn_adamw_matches_pytorch)
{
    long n_params, n_stats, n;
    float *start = golden_read(GOLDEN, "params0", &n_params);
    float *want = golden_read(GOLDEN, "params", &n);
    float *want_loss = golden_read(GOLDEN, "loss", &n);
    float *want_stats = golden_read(GOLDEN, "stats", &n_stats);
    float *f32_dev = golden_read(GOLDEN, "f32_param_dev", &n);
    float *got = malloc((size_t)n_params * sizeof(float));
    float views[2 * B * PIXELS], z[2 * B * EMB], grad[2 * B * EMB], stats[2 * (6 + 8 + 32)];
    ctr_encoder *e = build_network();
    ctr_optimizer *opt = NULL;
    ctr_objective *obj = NULL;
    int64_t count;
    double dev;
    int s;
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(ctr_encoder_num_params(e, &count), CTR_OK);
    ck_assert_int_eq(count, n_params);
    ck_assert_int_eq(ctr_encoder_set_params(e, start, count), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_create_for_encoder(&opt, CTR_OPTIMIZER_ADAMW, e, NULL),
                     CTR_OK);
    ck_assert_int_eq(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_WEIGHT_DECAY, WD), CTR_OK);
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_NTXENT, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, TAU), CTR_OK);
    for (s = 0; s < STEPS; s++) {
        double lr, loss;
        batch_views(views, s);
        ck_assert_int_eq(ctr_optimizer_cosine_lr(&lr, s, WARMUP, STEPS, LR, 0.0), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_LR, lr), CTR_OK);
        ck_assert_int_eq(ctr_encoder_zero_grad(e), CTR_OK);
        ck_assert_int_eq(ctr_encoder_forward(e, z, views, 2 * B, CTR_ENCODER_TRAIN), CTR_OK);
        ck_assert_int_eq(ctr_objective_ntxent(obj, &loss, z, EMB, z + B * EMB, EMB, B, EMB,
                                              NULL, grad, grad + B * EMB),
                         CTR_OK);
        ck_assert_int_eq(ctr_encoder_backward(e, NULL, grad), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_step(opt), CTR_OK);
        ck_assert_msg(fabs(loss - want_loss[s]) <= 2e-5,
                      "step %d: loss %.7f, PyTorch %.7f", s, loss, (double)want_loss[s]);
    }
    ck_assert_int_eq(ctr_encoder_get_params(e, got, count), CTR_OK);
    dev = relative_to_step(got, want, start, n_params);
    /* PyTorch's own float32 run is ~1e-6 of the step away; a defect is
     * orders of magnitude more. */
    ck_assert_msg(dev <= fmax(30.0 * f32_dev[0], 3e-5),
                  "parameters %.3g of the step away from PyTorch (its float32 run: %.3g)",
                  dev, (double)f32_dev[0]);
    ck_assert_int_eq(ctr_encoder_num_stats(e, &count), CTR_OK);
    ck_assert_int_eq(count, n_stats);
    ck_assert_int_eq(ctr_encoder_get_stats(e, stats, count), CTR_OK);
    for (s = 0; s < count; s++)
        ck_assert_close(stats[s], want_stats[s], 1e-4, 1e-5);
    ctr_objective_destroy(obj);
    ctr_optimizer_destroy(opt);
    ctr_encoder_destroy(e);
    free(got);
    free(start);
    free(want);
    free(want_loss);
    free(want_stats);
    free(f32_dev);
}
END_TEST

Suite *ctr_test_trajectory_suite(void);

Suite *ctr_test_trajectory_suite(void)
{
    Suite *s = suite_create("trajectory");
    TCase *tc = tcase_create("pytorch");
    tcase_add_test(tc, test_simclr_cnn_adamw_matches_pytorch);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}
