/*
 * check_residual.c - residual blocks (ctr_encoder_add_residual): a
 * two-block ResNet against PyTorch (tests/gen_resnet.py: forward, input
 * and parameter gradients, running statistics, eval), nested and shared
 * blocks against central finite differences, shapes, checkpoints, copies,
 * bad arguments, corrupt files and every allocation failure.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/checkpoint.h"
#include "golden_util.h"
#include "test_util.h"

#define GOLDEN "resnet_golden.txt"

/* The projection shortcut's batch norm: eps 1e-3, momentum 0.2, as
 * gen_resnet.py. */
static int basic_block(ctr_encoder *enc, int64_t out, int64_t stride)
{
    return test_basic_block(enc, out, stride, 1e-3, 0.2);
}

/* gen_resnet.py's network: stem, an identity block, a projection block,
 * global pool, linear 5, on 3 x 8 x 8. */
static int two_blocks(ctr_encoder **out, uint64_t seed, const ctr_allocator *a)
{
    int64_t dims[3] = {3, 8, 8};
    ctr_encoder *enc = NULL;
    int rc = ctr_encoder_create(&enc, dims, 3, seed, a);
    if (rc != CTR_OK)
        return rc;
    if ((rc = ctr_encoder_add_conv2d(enc, 4, 3, 1, 1, 0)) != CTR_OK ||
        (rc = ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1)) != CTR_OK ||
        (rc = ctr_encoder_add_activation(enc, CTR_LAYER_RELU)) != CTR_OK ||
        (rc = basic_block(enc, 4, 1)) != CTR_OK || (rc = basic_block(enc, 8, 2)) != CTR_OK ||
        (rc = ctr_encoder_add_global_avgpool(enc)) != CTR_OK ||
        (rc = ctr_encoder_add_linear(enc, 5, 1)) != CTR_OK) {
        ctr_encoder_destroy(enc);
        return rc;
    }
    *out = enc;
    return CTR_OK;
}

/* max |got - want| / (atol + |want|) over n values */
static double max_rel_error(const float *got, const float *want, long n, double atol)
{
    double worst = 0.0;
    long i;
    for (i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / (atol + fabs((double)want[i]));
        if (e > worst)
            worst = e;
    }
    return worst;
}

START_TEST(test_golden_two_blocks)
{
    long k, np, ns, nx;
    float *x = golden_read(GOLDEN, "x", &nx), *dy = golden_read(GOLDEN, "dy", &k);
    float *p = golden_read(GOLDEN, "params", &np), *s0 = golden_read(GOLDEN, "stats0", &ns);
    float *want_y = golden_read(GOLDEN, "y_train", &k), *want_dx = golden_read(GOLDEN, "dx", &k);
    float *want_g = golden_read(GOLDEN, "grads", &k), *want_s = golden_read(GOLDEN, "stats", &k);
    float *want_e = golden_read(GOLDEN, "y_eval", &k);
    float y[20], *dx = malloc((size_t)nx * sizeof(float));
    float *g = malloc((size_t)np * sizeof(float)), st[72];
    ctr_encoder *enc = NULL;
    int64_t n;
    ck_assert_int_eq(two_blocks(&enc, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_num_params(enc, &n), CTR_OK);
    ck_assert_int_eq(n, np);
    ck_assert_int_eq(ctr_encoder_num_stats(enc, &n), CTR_OK);
    ck_assert_int_eq(n, ns);
    ck_assert_int_eq(ctr_encoder_set_params(enc, p, np), CTR_OK);
    ck_assert_int_eq(ctr_encoder_set_stats(enc, s0, ns), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 4, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_double_lt(max_rel_error(y, want_y, 20, 1e-3), 1e-4);
    ck_assert_int_eq(ctr_encoder_backward(enc, dx, dy), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(enc, g, np), CTR_OK);
    ck_assert_double_lt(max_rel_error(g, want_g, np, 1e-3), 1e-3);
    ck_assert_double_lt(max_rel_error(dx, want_dx, nx, 1e-3), 1e-3);
    ck_assert_int_eq(ctr_encoder_get_stats(enc, st, ns), CTR_OK);
    ck_assert_double_lt(max_rel_error(st, want_s, ns, 1e-3), 1e-5);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 4, CTR_ENCODER_EVAL), CTR_OK);
    ck_assert_double_lt(max_rel_error(y, want_e, 20, 1e-3), 1e-4);
    free(x), free(dy), free(p), free(s0), free(want_y), free(want_dx), free(want_g);
    free(want_s), free(want_e), free(dx), free(g);
    ctr_encoder_destroy(enc);
}
END_TEST


static void random_batch(float *x, int64_t n, uint64_t seed)
{
    ctr_rng *rng = NULL;
    ck_assert_int_eq(ctr_rng_create(&rng, seed, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(rng, x, n, 0.0f, 1.0f), CTR_OK);
    ctr_rng_destroy(rng);
}

/* ---- finite differences: nested, shared-source and projection blocks ---- */

/* On 2 x 6 x 6 (smooth: tanh, no ReLU kinks): a block (source 1) holding
 * a nested block (source 4), a second block over the same source, a
 * strided branch with a projection shortcut, and one from the encoder's
 * input. */
static ctr_encoder *smooth_net(void)
{
    int64_t dims[3] = {2, 6, 6};
    ctr_encoder *enc = NULL;
    ck_assert_int_eq(ctr_encoder_create(&enc, dims, 3, 5, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_conv2d(enc, 3, 3, 1, 1, 1), CTR_OK);        /* 0 */
    ck_assert_int_eq(ctr_encoder_add_activation(enc, CTR_LAYER_TANH), CTR_OK);   /* 1 */
    ck_assert_int_eq(ctr_encoder_add_conv2d(enc, 3, 3, 1, 1, 0), CTR_OK);        /* 2 */
    ck_assert_int_eq(ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1), CTR_OK);      /* 3 */
    ck_assert_int_eq(ctr_encoder_add_activation(enc, CTR_LAYER_TANH), CTR_OK);   /* 4 */
    ck_assert_int_eq(ctr_encoder_add_conv2d(enc, 3, 3, 1, 1, 0), CTR_OK);        /* 5 */
    ck_assert_int_eq(ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1), CTR_OK);      /* 6 */
    ck_assert_int_eq(ctr_encoder_add_residual(enc, 4, CTR_SHORTCUT_IDENTITY, 1, 0, 0),
                     CTR_OK);                                                    /* 7 */
    ck_assert_int_eq(ctr_encoder_add_residual(enc, 1, CTR_SHORTCUT_IDENTITY, 1, 0, 0),
                     CTR_OK);                                                    /* 8 */
    ck_assert_int_eq(ctr_encoder_add_activation(enc, CTR_LAYER_TANH), CTR_OK);   /* 9 */
    ck_assert_int_eq(ctr_encoder_add_residual(enc, 1, CTR_SHORTCUT_IDENTITY, 1, 0, 0),
                     CTR_OK);                                                    /* 10 */
    ck_assert_int_eq(ctr_encoder_add_conv2d(enc, 4, 3, 2, 1, 0), CTR_OK);        /* 11 */
    ck_assert_int_eq(ctr_encoder_add_residual(enc, 10, CTR_SHORTCUT_PROJECTION, 2, 1e-5, 0.1),
                     CTR_OK);                                                    /* 12 */
    ck_assert_int_eq(ctr_encoder_add_activation(enc, CTR_LAYER_TANH), CTR_OK);   /* 13 */
    ck_assert_int_eq(ctr_encoder_add_residual(enc, CTR_ENCODER_INPUT,
                                              CTR_SHORTCUT_PROJECTION, 2, 1e-3, 0.5),
                     CTR_OK);                                                    /* 14 */
    ck_assert_int_eq(ctr_encoder_add_flatten(enc), CTR_OK);                      /* 15 */
    ck_assert_int_eq(ctr_encoder_add_linear(enc, 3, 1), CTR_OK);                 /* 16 */
    return enc;
}

enum { FD_N = 3, FD_IN = 72, FD_OUT = 3 };

/* sum of r * y for a train forward of x */
static double fd_loss(ctr_encoder *enc, const float *x, const float *r)
{
    float y[FD_N * FD_OUT];
    double s = 0.0;
    int i;
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, FD_N, CTR_ENCODER_TRAIN), CTR_OK);
    for (i = 0; i < FD_N * FD_OUT; i++)
        s += (double)r[i] * y[i];
    return s;
}

/* central difference of fd_loss in v[i] (v is x or the parameters p) */
static double central(ctr_encoder *enc, float *x, float *p, int64_t np, float *v, int64_t i,
                      const float *r)
{
    const float h = 3e-3f; /* 1e-2 is too coarse for this depth */
    float keep = v[i];
    double up, down;
    v[i] = keep + h;
    ck_assert_int_eq(ctr_encoder_set_params(enc, p, np), CTR_OK);
    up = fd_loss(enc, x, r);
    v[i] = keep - h;
    ck_assert_int_eq(ctr_encoder_set_params(enc, p, np), CTR_OK);
    down = fd_loss(enc, x, r);
    v[i] = keep;
    return (up - down) / (2.0 * h);
}

START_TEST(test_finite_differences)
{
    ctr_encoder *enc = smooth_net();
    float x[FD_N * FD_IN], dx[FD_N * FD_IN], r[FD_N * FD_OUT], y[FD_N * FD_OUT];
    float *p, *g;
    int64_t np, i;
    ck_assert_int_eq(ctr_encoder_num_params(enc, &np), CTR_OK);
    p = malloc((size_t)np * sizeof(float));
    g = malloc((size_t)np * sizeof(float));
    random_batch(x, FD_N * FD_IN, 1);
    random_batch(r, FD_N * FD_OUT, 2);
    ck_assert_int_eq(ctr_encoder_get_params(enc, p, np), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, FD_N, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(enc, dx, r), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(enc, g, np), CTR_OK);
    for (i = 0; i < np; i++)
        ck_assert_close(g[i], central(enc, x, p, np, p, i, r), 2e-2, 2e-3);
    for (i = 0; i < FD_N * FD_IN; i++)
        ck_assert_close(dx[i], central(enc, x, p, np, x, i, r), 2e-2, 2e-3);
    free(p);
    free(g);
    ctr_encoder_destroy(enc);
}
END_TEST

/* ---- no-grad forward ------------------------------------------------------ */

/* a[i] and b[i] agree to float rounding: the no-grad forward's 3x3
 * convolutions are Winograd's (conv_winograd.c), the training forward's
 * im2col, which sum in another order. */
static void check_near(const float *a, const float *b, int64_t count)
{
    int64_t i;
    for (i = 0; i < count; i++)
        ck_assert_close(b[i], a[i], 1e-4, 1e-5);
}

/* Runs x through a clone of enc twice, with and without NO_GRAD in mode,
 * and checks outputs and running statistics (to float rounding). */
static void check_nograd_matches(const ctr_encoder *enc, const float *x, int64_t n,
                                 int64_t out, int32_t mode)
{
    ctr_encoder *a = NULL, *b = NULL;
    float *ya = malloc((size_t)(n * out) * sizeof(float));
    float *yb = malloc((size_t)(n * out) * sizeof(float));
    float sa[256], sb[256];
    int64_t ns;
    ck_assert_int_eq(ctr_encoder_clone(&a, enc), CTR_OK);
    ck_assert_int_eq(ctr_encoder_clone(&b, enc), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(a, ya, x, n, mode), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(b, yb, x, n, mode | CTR_ENCODER_NO_GRAD), CTR_OK);
    check_near(ya, yb, n * out);
    ck_assert_int_eq(ctr_encoder_num_stats(a, &ns), CTR_OK);
    ck_assert_int_le(ns, 256);
    ck_assert_int_eq(ctr_encoder_get_stats(a, sa, ns), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_stats(b, sb, ns), CTR_OK);
    check_near(sa, sb, ns);
    ck_assert_int_eq(ctr_encoder_forward(a, ya, x, n, mode), CTR_OK); /* generators too */
    ck_assert_int_eq(ctr_encoder_forward(b, yb, x, n, mode | CTR_ENCODER_NO_GRAD), CTR_OK);
    check_near(ya, yb, n * out);
    free(ya);
    free(yb);
    ctr_encoder_destroy(a);
    ctr_encoder_destroy(b);
}

START_TEST(test_nograd_matches_train_and_eval)
{
    /* the two-block ResNet, a conv net whose batch spans several chunks
     * (with pooling, dropout, layer norm), the finite-difference net with
     * grouped batch norm, a sequence net */
    int64_t img[3] = {8, 40, 40}, seq[2] = {9, 3};
    float *x = malloc(7 * 8 * 40 * 40 * sizeof(float));
    ctr_encoder *enc = NULL;
    int32_t modes[2] = {CTR_ENCODER_TRAIN, CTR_ENCODER_EVAL};
    int m;
    random_batch(x, 7 * 8 * 40 * 40, 3);
    ck_assert_int_eq(two_blocks(&enc, 2, NULL), CTR_OK);
    for (m = 0; m < 2; m++)
        check_nograd_matches(enc, x, 4, 5, modes[m]);
    ctr_encoder_destroy(enc);
    ck_assert_int_eq(ctr_encoder_create(&enc, img, 3, 3, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_conv2d(enc, 16, 3, 1, 1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1), CTR_OK);
    ck_assert_int_eq(basic_block(enc, 16, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_pool2d(enc, CTR_LAYER_MAXPOOL2D, 2, 2, 0), CTR_OK);
    ck_assert_int_eq(basic_block(enc, 24, 2), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_dropout(enc, 0.3), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_layernorm(enc, 1e-5, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_global_avgpool(enc), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(enc, 6, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_l2norm(enc, 1e-12), CTR_OK);
    for (m = 0; m < 2; m++)
        check_nograd_matches(enc, x, 7, 6, modes[m]);
    ctr_encoder_destroy(enc);
    enc = smooth_net(); /* nested, shared-source and input-source blocks */
    ck_assert_int_eq(ctr_encoder_set_i64(enc, CTR_ENCODER_P_BN_GROUPS, 3), CTR_OK);
    for (m = 0; m < 2; m++)
        check_nograd_matches(enc, x, 6, 3, modes[m]);
    ctr_encoder_destroy(enc);
    ck_assert_int_eq(ctr_encoder_create(&enc, seq, 2, 4, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_conv1d(enc, 4, 3, 2, 1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_gru(enc, 4), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_residual(enc, 0, CTR_SHORTCUT_IDENTITY, 1, 0, 0), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 0), CTR_OK);
    for (m = 0; m < 2; m++)
        check_nograd_matches(enc, x, 5, 20, modes[m]);
    free(x);
    ctr_encoder_destroy(enc);
}
END_TEST

START_TEST(test_nograd_stage_and_workspace)
{
    test_alloc_state st;
    ctr_allocator a;
    ctr_encoder *enc = NULL;
    float x[6 * 192], y[30], dx[6 * 192];
    size_t mem, train_ws, nograd_ws;
    int64_t calls;
    test_alloc_setup(&a, &st);
    random_batch(x, 6 * 192, 4);
    ck_assert_int_eq(two_blocks(&enc, 3, &a), CTR_OK);
    ck_assert_int_eq(ctr_encoder_memory(enc, &mem, 6), CTR_OK);
    ck_assert_int_eq(ctr_encoder_workspace_size(enc, &train_ws, 6, CTR_ENCODER_EVAL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_workspace_size(enc, &nograd_ws, 6,
                                                CTR_ENCODER_TRAIN | CTR_ENCODER_NO_GRAD), CTR_OK);
    ck_assert_uint_lt(3 * nograd_ws, train_ws); /* a few buffers against every activation */
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 6, CTR_ENCODER_TRAIN | CTR_ENCODER_NO_GRAD),
                     CTR_OK);
    ck_assert_int_eq(st.live_bytes, (int64_t)(mem - train_ws + nograd_ws));
    ck_assert_int_eq(ctr_encoder_backward(enc, dx, y), CTR_E_STAGE);
    ck_assert_int_eq(ctr_encoder_layer_output(enc, y, 0), CTR_E_STAGE);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 6, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(st.live_bytes, (int64_t)(mem + nograd_ws));
    calls = st.calls; /* from now on nothing allocates */
    ck_assert_int_eq(ctr_encoder_backward(enc, dx, y), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 5, CTR_ENCODER_EVAL | CTR_ENCODER_NO_GRAD),
                     CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 6, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_layer_output(enc, y, CTR_ENCODER_OUTPUT), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(enc, dx, y), CTR_OK);
    ck_assert_int_eq(st.calls, calls);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 6, CTR_ENCODER_NO_GRAD), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 6, 3), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 6, CTR_ENCODER_EVAL | 32), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_workspace_size(enc, NULL, 6, CTR_ENCODER_EVAL),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_workspace_size(enc, &mem, 0, CTR_ENCODER_EVAL),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_workspace_size(enc, &mem, 6, CTR_ENCODER_NO_GRAD),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_workspace_size(NULL, &mem, 6, CTR_ENCODER_EVAL),
                     CTR_E_INVALID_ARG);
    ctr_encoder_destroy(enc);
    ck_assert_int_eq(st.live_blocks, 0);
}
END_TEST

/* ---- layer handles and shapes --------------------------------------------- */

START_TEST(test_layer_handles)
{
    ctr_encoder *enc = NULL;
    int64_t dims[3] = {3, 8, 8}, d[3], last, size;
    int32_t nd, kind;
    float x[2 * 192], y[10], feat[2 * 8];
    ck_assert_int_eq(ctr_encoder_create(&enc, dims, 3, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_last_layer(enc, &last), CTR_OK);
    ck_assert_int_eq(last, CTR_ENCODER_INPUT);
    ck_assert_int_eq(ctr_encoder_shape(enc, d, &nd, &size, CTR_ENCODER_OUTPUT), CTR_OK);
    ck_assert(nd == 3 && d[0] == 3 && size == 192);
    ck_assert_int_eq(ctr_encoder_layer_kind(enc, &kind, CTR_ENCODER_OUTPUT), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_conv2d(enc, 4, 3, 1, 1, 0), CTR_OK);
    ck_assert_int_eq(basic_block(enc, 8, 2), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_global_avgpool(enc), CTR_OK);
    ck_assert_int_eq(ctr_encoder_last_layer(enc, &last), CTR_OK);
    ck_assert_int_eq(last, 8);
    ck_assert_int_eq(ctr_encoder_layer_kind(enc, &kind, last - 2), CTR_OK);
    ck_assert_int_eq(kind, CTR_LAYER_RESIDUAL);
    ck_assert_int_eq(ctr_encoder_shape(enc, d, &nd, &size, last - 2), CTR_OK);
    ck_assert(nd == 3 && d[0] == 8 && d[1] == 4 && d[2] == 4 && size == 128);
    ck_assert_int_eq(ctr_encoder_add_linear(enc, 5, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_shape(enc, d, &nd, &size, CTR_ENCODER_OUTPUT), CTR_OK);
    ck_assert(nd == 1 && d[0] == 5 && d[1] == 1 && size == 5);
    ck_assert_int_eq(ctr_encoder_layer_kind(enc, &kind, CTR_ENCODER_OUTPUT), CTR_OK);
    ck_assert_int_eq(kind, CTR_LAYER_LINEAR);
    ck_assert_int_eq(ctr_encoder_shape(enc, d, &nd, &size, -3), CTR_E_INVALID_ARG);
    random_batch(x, 2 * 192, 5);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 2, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_layer_output(enc, feat, last), CTR_OK); /* the features */
    ck_assert_int_eq(ctr_encoder_layer_output(enc, x, CTR_ENCODER_OUTPUT), CTR_OK);
    ck_assert_mem_eq(x, y, sizeof(y));
    ck_assert_int_eq(ctr_encoder_layer_output(enc, x, CTR_ENCODER_INPUT), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_last_layer(enc, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_last_layer(NULL, &last), CTR_E_INVALID_ARG);
    ctr_encoder_destroy(enc);
}
END_TEST

/* ---- bad arguments -------------------------------------------------------- */

static void expect_refused(ctr_encoder *enc, int rc, int want)
{
    int64_t before, after;
    ck_assert_int_eq(rc, want);
    ck_assert_str_ne(ctr_encoder_last_error(enc), "");
    ck_assert_int_eq(ctr_encoder_num_layers(enc, &after), CTR_OK);
    ck_assert_int_eq(ctr_encoder_last_layer(enc, &before), CTR_OK);
    ck_assert_int_eq(before, after - 1);
}

START_TEST(test_bad_arguments)
{
    ctr_encoder *enc = NULL, *vec = NULL;
    int64_t dims[3] = {3, 8, 8}, f = 6, n;
    ck_assert_int_eq(ctr_encoder_create(&enc, dims, 3, 1, NULL), CTR_OK);
    expect_refused(enc, ctr_encoder_add_residual(enc, -1, CTR_SHORTCUT_IDENTITY, 1, 0, 0),
                   CTR_E_INVALID_ARG); /* no branch */
    ck_assert_int_eq(ctr_encoder_add_conv2d(enc, 3, 3, 1, 1, 0), CTR_OK);
    expect_refused(enc, ctr_encoder_add_residual(enc, 0, CTR_SHORTCUT_IDENTITY, 1, 0, 0),
                   CTR_E_INVALID_ARG); /* empty branch */
    expect_refused(enc, ctr_encoder_add_residual(enc, -2, CTR_SHORTCUT_IDENTITY, 1, 0, 0),
                   CTR_E_INVALID_ARG);
    expect_refused(enc, ctr_encoder_add_residual(enc, -1, 0, 1, 0, 0), CTR_E_INVALID_ARG);
    expect_refused(enc, ctr_encoder_add_residual(enc, -1, 3, 1, 0, 0), CTR_E_INVALID_ARG);
    expect_refused(enc, ctr_encoder_add_residual(enc, -1, CTR_SHORTCUT_IDENTITY, 2, 0, 0),
                   CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_conv2d(enc, 4, 3, 2, 1, 0), CTR_OK); /* 4 x 4 x 4 */
    expect_refused(enc, ctr_encoder_add_residual(enc, 0, CTR_SHORTCUT_IDENTITY, 1, 0, 0),
                   CTR_E_SHAPE);
    expect_refused(enc, ctr_encoder_add_residual(enc, 0, CTR_SHORTCUT_PROJECTION, 1, 1e-5, 0.1),
                   CTR_E_SHAPE); /* 8 x 8 against 4 x 4 */
    expect_refused(enc, ctr_encoder_add_residual(enc, 0, CTR_SHORTCUT_PROJECTION, 3, 1e-5, 0.1),
                   CTR_E_SHAPE); /* 3 x 3 */
    expect_refused(enc, ctr_encoder_add_residual(enc, 0, CTR_SHORTCUT_PROJECTION, 0, 1e-5, 0.1),
                   CTR_E_INVALID_ARG);
    expect_refused(enc, ctr_encoder_add_residual(enc, 0, CTR_SHORTCUT_PROJECTION, 2, 0.0, 0.1),
                   CTR_E_INVALID_ARG);
    expect_refused(enc, ctr_encoder_add_residual(enc, 0, CTR_SHORTCUT_PROJECTION, 2, NAN, 0.1),
                   CTR_E_INVALID_ARG);
    expect_refused(enc, ctr_encoder_add_residual(enc, 0, CTR_SHORTCUT_PROJECTION, 2, 1e-5, 1.5),
                   CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_add_residual(enc, 0, CTR_SHORTCUT_PROJECTION, 2, 1e-5, 0.1),
                     CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_residual(enc, -1, CTR_SHORTCUT_PROJECTION, 2, 1e-5, 0.1),
                     CTR_OK); /* 3 -> 4 channels, 8 -> 4 */
    ck_assert_int_eq(ctr_encoder_add_residual(NULL, 0, CTR_SHORTCUT_IDENTITY, 1, 0, 0),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_encoder_create(&vec, &f, 1, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(vec, 6, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(vec, CTR_LAYER_TANH), CTR_OK);
    expect_refused(vec, ctr_encoder_add_residual(vec, -1, CTR_SHORTCUT_PROJECTION, 1, 1e-5, 0.1),
                   CTR_E_SHAPE);
    ck_assert_int_eq(ctr_encoder_add_residual(vec, -1, CTR_SHORTCUT_IDENTITY, 1, 1.0, 7.0),
                     CTR_OK); /* an MLP block; eps and momentum ignored */
    ck_assert_int_eq(ctr_encoder_num_params(vec, &n), CTR_OK);
    ck_assert_int_eq(n, 42);
    ctr_encoder_destroy(vec);
    ctr_encoder_destroy(enc);
}
END_TEST

/* ---- checkpoints and copies ----------------------------------------------- */

START_TEST(test_checkpoint_and_copies)
{
    ctr_encoder *enc = NULL, *loaded = NULL, *clone = NULL;
    float x[4 * 192], y1[20], y2[20], *p;
    unsigned char *buf;
    size_t size = 0;
    int64_t np;
    int32_t modes[3] = {CTR_ENCODER_TRAIN, CTR_ENCODER_EVAL,
                        CTR_ENCODER_EVAL | CTR_ENCODER_NO_GRAD};
    int m;
    random_batch(x, 4 * 192, 6);
    ck_assert_int_eq(two_blocks(&enc, 4, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(enc, y1, x, 4, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_save_buffer(enc, NULL, 0, &size), CTR_OK);
    buf = malloc(size);
    ck_assert_int_eq(ctr_encoder_save_buffer(enc, buf, size, &size), CTR_OK);
    ck_assert_int_eq(ctr_encoder_load_buffer(&loaded, buf, size, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_clone(&clone, enc), CTR_OK);
    for (m = 0; m < 3; m++) {
        ck_assert_int_eq(ctr_encoder_forward(enc, y1, x, 4, modes[m]), CTR_OK);
        ck_assert_int_eq(ctr_encoder_forward(loaded, y2, x, 4, modes[m]), CTR_OK);
        ck_assert_mem_eq(y1, y2, sizeof(y1));
        ck_assert_int_eq(ctr_encoder_forward(clone, y2, x, 4, modes[m]), CTR_OK);
        ck_assert_mem_eq(y1, y2, sizeof(y1));
    }
    ck_assert_int_eq(ctr_encoder_momentum_update(clone, enc, 0.5, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_num_params(enc, &np), CTR_OK);
    p = malloc((size_t)np * sizeof(float));
    ck_assert_int_eq(ctr_encoder_get_params(enc, p, np), CTR_OK);
    p[np - 1] += 1.0f;
    ck_assert_int_eq(ctr_encoder_set_params(loaded, p, np), CTR_OK);
    ck_assert_int_eq(ctr_encoder_copy_params(clone, loaded, 1), CTR_OK);
    free(p);
    free(buf);
    ctr_encoder_destroy(enc);
    ctr_encoder_destroy(loaded);
    ctr_encoder_destroy(clone);
}
END_TEST

/* A checkpoint of conv2d (2 -> 2, bias) on 2 x 4 x 4, ReLU and a residual
 * layer record hi[0..2] = source, shortcut, stride, hf = eps, momentum. */
static int load_crafted(int64_t source, int64_t shortcut, int64_t stride, double eps)
{
    unsigned char buf[1024];
    ctr_encoder *enc = NULL;
    size_t size = 0;
    ctr__ckw w;
    int64_t conv[6] = {2, 3, 1, 1, 1, 0}, res[6] = {0, 0, 0, 0, 0, 0};
    float params[38];
    int k, rc;
    res[0] = source;
    res[1] = shortcut;
    res[2] = stride;
    ctr__ckw_to_buffer(&w, buf, sizeof(buf), CTR__CKPT_KIND_ENCODER, NULL);
    ctr__ckw_begin_section(&w, CTR__FOURCC('A', 'R', 'C', 'H'));
    ctr__ckw_put_u32(&w, 3);
    ctr__ckw_put_i64(&w, 2);
    ctr__ckw_put_i64(&w, 4);
    ctr__ckw_put_i64(&w, 4);
    ctr__ckw_put_i64(&w, 1); /* groups */
    ctr__ckw_put_i64(&w, 3); /* layers */
    ctr__ckw_put_u32(&w, CTR_LAYER_CONV2D);
    for (k = 0; k < 6; k++)
        ctr__ckw_put_i64(&w, conv[k]);
    ctr__ckw_put_f64(&w, 0.0);
    ctr__ckw_put_f64(&w, 0.0);
    ctr__ckw_put_u32(&w, CTR_LAYER_RELU);
    for (k = 0; k < 6; k++)
        ctr__ckw_put_i64(&w, 0);
    ctr__ckw_put_f64(&w, 0.0);
    ctr__ckw_put_f64(&w, 0.0);
    ctr__ckw_put_u32(&w, CTR_LAYER_RESIDUAL);
    for (k = 0; k < 6; k++)
        ctr__ckw_put_i64(&w, res[k]);
    ctr__ckw_put_f64(&w, eps);
    ctr__ckw_put_f64(&w, 0.0);
    ctr__ckw_end_section(&w);
    ctr__ckw_begin_section(&w, CTR__FOURCC('P', 'A', 'R', 'M'));
    ctr__ckw_put_i64(&w, 38);
    for (k = 0; k < 38; k++)
        params[k] = 0.01f * (float)k;
    ctr__ckw_put_f32_array(&w, params, 38);
    ctr__ckw_end_section(&w);
    ctr__ckw_begin_section(&w, CTR__FOURCC('S', 'T', 'A', 'T'));
    ctr__ckw_put_i64(&w, 0);
    ctr__ckw_end_section(&w);
    ctr__ckw_begin_section(&w, CTR__FOURCC('P', 'R', 'N', 'G'));
    for (k = 0; k < 4; k++)
        ctr__ckw_put_u64(&w, 12345u + (uint64_t)k);
    ctr__ckw_end_section(&w);
    ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_OK);
    rc = ctr_encoder_load_buffer(&enc, buf, size, NULL);
    ck_assert(rc == CTR_OK ? enc != NULL : enc == NULL);
    ctr_encoder_destroy(enc);
    return rc;
}

START_TEST(test_load_checks_residual_records)
{
    ck_assert_int_eq(load_crafted(0, CTR_SHORTCUT_IDENTITY, 1, 0.0), CTR_OK);
    ck_assert_int_eq(load_crafted(-1, CTR_SHORTCUT_IDENTITY, 1, 0.0), CTR_OK);
    ck_assert_int_eq(load_crafted(1, CTR_SHORTCUT_IDENTITY, 1, 0.0), CTR_E_CORRUPT);
    ck_assert_int_eq(load_crafted(2, CTR_SHORTCUT_IDENTITY, 1, 0.0), CTR_E_CORRUPT);
    ck_assert_int_eq(load_crafted(-2, CTR_SHORTCUT_IDENTITY, 1, 0.0), CTR_E_CORRUPT);
    ck_assert_int_eq(load_crafted(INT64_MAX, CTR_SHORTCUT_IDENTITY, 1, 0.0), CTR_E_CORRUPT);
    ck_assert_int_eq(load_crafted(INT64_MIN, CTR_SHORTCUT_IDENTITY, 1, 0.0), CTR_E_CORRUPT);
    ck_assert_int_eq(load_crafted(0, 7, 1, 0.0), CTR_E_CORRUPT);
    ck_assert_int_eq(load_crafted(0, CTR_SHORTCUT_IDENTITY, 2, 0.0), CTR_E_CORRUPT);
    ck_assert_int_eq(load_crafted(0, CTR_SHORTCUT_IDENTITY, 1, 1e-5), CTR_E_CORRUPT);
    /* a projection needs its parameters and statistics: 38 do not match */
    ck_assert_int_eq(load_crafted(0, CTR_SHORTCUT_PROJECTION, 1, 1e-5), CTR_E_CORRUPT);
}
END_TEST

/* ---- allocation failures -------------------------------------------------- */

static int attempt_resnet(const ctr_allocator *a, void *ctx)
{
    ctr_encoder *enc = NULL, *copy = NULL, *loaded = NULL;
    float x[4 * 192], y[20], dx[4 * 192];
    unsigned char *buf = (unsigned char *)ctx;
    size_t size;
    int rc;
    random_batch(x, 4 * 192, 7);
    if ((rc = two_blocks(&enc, 1, a)) != CTR_OK)
        return rc;
    if ((rc = ctr_encoder_forward(enc, y, x, 4, CTR_ENCODER_TRAIN | CTR_ENCODER_NO_GRAD)) !=
            CTR_OK ||
        (rc = ctr_encoder_forward(enc, y, x, 4, CTR_ENCODER_TRAIN)) != CTR_OK ||
        (rc = ctr_encoder_backward(enc, dx, y)) != CTR_OK ||
        (rc = ctr_encoder_forward(enc, y, x, 4, CTR_ENCODER_EVAL | CTR_ENCODER_NO_GRAD)) !=
            CTR_OK ||
        (rc = ctr_encoder_clone(&copy, enc)) != CTR_OK ||
        (rc = ctr_encoder_forward(copy, y, x, 4, CTR_ENCODER_EVAL | CTR_ENCODER_NO_GRAD)) !=
            CTR_OK ||
        (rc = ctr_encoder_save_buffer(enc, buf, 65536, &size)) != CTR_OK ||
        (rc = ctr_encoder_load_buffer(&loaded, buf, size, a)) != CTR_OK) {
        ctr_encoder_destroy(enc);
        ctr_encoder_destroy(copy);
        return rc;
    }
    ctr_encoder_destroy(enc);
    ctr_encoder_destroy(copy);
    ctr_encoder_destroy(loaded);
    return CTR_OK;
}

START_TEST(test_every_allocation_failure)
{
    unsigned char *buf = malloc(65536);
    ck_assert_int_gt(test_every_alloc_failure(attempt_resnet, buf), 30);
    free(buf);
}
END_TEST

Suite *ctr_test_residual_suite(void);

Suite *ctr_test_residual_suite(void)
{
    Suite *s = suite_create("residual");
    TCase *golden = tcase_create("golden");
    TCase *grad = tcase_create("gradients");
    TCase *infer = tcase_create("no-grad");
    TCase *life = tcase_create("lifecycle");
    TCase *err = tcase_create("errors");
    tcase_set_timeout(grad, 120);
    tcase_add_test(golden, test_golden_two_blocks);
    tcase_add_test(grad, test_finite_differences);
    tcase_add_test(infer, test_nograd_matches_train_and_eval);
    tcase_add_test(infer, test_nograd_stage_and_workspace);
    tcase_add_test(life, test_layer_handles);
    tcase_add_test(life, test_checkpoint_and_copies);
    tcase_add_test(err, test_bad_arguments);
    tcase_add_test(err, test_load_checks_residual_records);
    tcase_add_test(err, test_every_allocation_failure);
    suite_add_tcase(s, golden);
    suite_add_tcase(s, grad);
    suite_add_tcase(s, infer);
    suite_add_tcase(s, life);
    suite_add_tcase(s, err);
    return s;
}
