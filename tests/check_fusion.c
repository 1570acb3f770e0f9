/*
 * check_fusion.c - the fused passes of the encoder against their unfused
 * reference, bit for bit (issue 17): a batch norm followed by a ReLU runs
 * as one pass each way (encoder_run.c, layer_norm.c). The reference is
 * the same network cut into three handles after each batch norm, so that
 * every ReLU is the first layer of its handle and runs alone:
 *   fused      [conv, BN, ReLU, flatten, linear, BN, ReLU, linear]
 *   reference  [conv, BN] -> [ReLU, flatten, linear, BN] -> [ReLU, linear]
 * with the same parameters. Outputs, the batch norms' own outputs, input
 * and parameter gradients and running statistics must be equal, in train
 * and eval mode, for image (per-channel planes) and vector batch norms.
 *
 * A conv2d followed by a batch norm hands it each output plane's sum and
 * squared deviation in a train forward (the batch norm's moments without a
 * pass of their own), and on its GEMM path makes its dy from the batch
 * norm's planes in backward (the batch norm's dx not written); the
 * reference cuts the net between them:
 *   fused      [conv, BN, ReLU, conv, BN, flatten, linear]
 *   reference  [conv] -> [BN, ReLU, conv] -> [BN, flatten, linear]
 * with one and two batch norm groups (CTR_ENCODER_P_BN_GROUPS), the first
 * conv on its direct path (3 x 3) or its GEMM path (5 x 5: the ReLU's
 * mask in the planes made for it).
 *
 * A batch norm over rows of features (inner 1) runs its train forward and
 * backward as one parallel region each (layer_norm.c's bn_rows_*), with
 * the ReLU's mask recomputed from its input; on a batch large enough for
 * the region to start threads (OpenMP build, 2 threads), with a partial
 * chunk of rows and a partial block of channels:
 *   fused      [linear, BN, ReLU, linear]
 *   reference  [linear, BN] -> [ReLU, linear]
 * with one and two batch norm groups.
 *
 * The bias gradient of a linear layer before a batch norm over rows is
 * summed by the batch norm while it writes the linear's dy (chunks of
 * rows, so a different order from the linear's own pass): against the
 * net cut between them,
 *   fused      [linear, BN, ReLU, linear]
 *   reference  [linear] -> [BN, ReLU, linear]
 * everything has the same bits but that bias gradient, which must equal
 * the double-precision column sums of the reference's dy of the linear.
 *
 * A fused train forward (image planes or rows) writes only the ReLU's
 * output; ctr_encoder_layer_output recomputes the batch norm's from its
 * input and the cached statistics: checked against the reference's
 * written output.
 *
 * A batch norm over image planes, its ReLU and a global average pool run
 * as one pass each way in a train step (neither the batch norm's nor the
 * ReLU's output written, the pool's gradient planes not made; the conv
 * before on its GEMM path takes its dy planes from the batch norm in both
 * nets):
 *   fused      [conv, BN, ReLU, GAP, linear]
 *   reference  [conv, BN] -> [ReLU, GAP] -> [linear]
 * with planes of 144 and of 36 values (ctr__sum's two paths), one and two
 * batch norm groups; the BN's and the ReLU's layer outputs recomputed.
 *
 * A conv2d after a batch norm over image planes and its ReLU reads the
 * ReLU's values through the batch norm's statistics from the batch norm's
 * input in a train step (neither output written; both recomputed for
 * ctr_encoder_layer_output), on the GEMM and on the direct path, and in
 * backward the GEMM path's conv takes the batch norm's sums over each
 * plane of its dx while writing it:
 *   fused      [conv, BN, ReLU, conv, BN, ReLU, conv, flatten, linear]
 *   reference  [conv, BN, ReLU] -> [conv, BN, ReLU] -> [conv, flatten, linear]
 * with one and two batch norm groups, at two threads.
 *
 * A flatten after the first layer is a view of its input in the workspace
 * (no copy either way); a flatten first in its handle still copies:
 *   view       [conv, BN, ReLU, flatten, linear]
 *   reference  [conv, BN, ReLU] -> [flatten] -> [linear]
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define N 32
#define IN (2 * 12 * 12)
#define HID 48
#define OUT 8

static ctr_encoder *make(const int64_t *dims, int32_t ndims)
{
    ctr_encoder *enc = NULL;
    ck_assert_int_eq(ctr_encoder_create(&enc, dims, ndims, 3, NULL), CTR_OK);
    return enc;
}

/* net[0] fused; net[1..3] the reference's three parts. */
static void build(ctr_encoder *net[4])
{
    int64_t img[3] = {2, 12, 12}, conv_out[3] = {8, 12, 12}, hid = HID;
    int k;
    net[0] = make(img, 3);
    net[1] = make(img, 3);
    net[2] = make(conv_out, 3);
    net[3] = make(&hid, 1);
    for (k = 0; k < 2; k++) { /* conv, BN in the fused net and in part 1 */
        ck_assert_int_eq(ctr_encoder_add_conv2d(net[k], 8, 3, 1, 1, 1), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_batchnorm(net[k], 1e-5, 0.1, 1), CTR_OK);
    }
    for (k = 0; k < 3; k += 2) { /* ReLU, flatten, linear, BN */
        ck_assert_int_eq(ctr_encoder_add_activation(net[k], CTR_LAYER_RELU), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_flatten(net[k]), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_linear(net[k], HID, 1), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_batchnorm(net[k], 1e-5, 0.1, 1), CTR_OK);
    }
    for (k = 0; k < 4; k += 3) { /* ReLU, linear */
        ck_assert_int_eq(ctr_encoder_add_activation(net[k], CTR_LAYER_RELU), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_linear(net[k], OUT, 1), CTR_OK);
    }
}

/* The number of parameters (stats 0) or running statistics (1). */
static int64_t count_of(ctr_encoder *enc, int stats)
{
    int64_t n = 0;
    ck_assert_int_eq((stats ? ctr_encoder_num_stats : ctr_encoder_num_params)(enc, &n), CTR_OK);
    return n;
}

/* The parts' parameters (or statistics) from the fused net's, in order. */
static void split_values(ctr_encoder *net[4], int stats)
{
    int64_t total = count_of(net[0], stats), at = 0;
    float *all = malloc((size_t)total * sizeof(float));
    int k;
    ck_assert_ptr_nonnull(all);
    ck_assert_int_eq((stats ? ctr_encoder_get_stats : ctr_encoder_get_params)(net[0], all, total),
                     CTR_OK);
    for (k = 1; k < 4; at += count_of(net[k++], stats))
        if (count_of(net[k], stats) > 0)
            ck_assert_int_eq((stats ? ctr_encoder_set_stats : ctr_encoder_set_params)(
                                 net[k], all + at, count_of(net[k], stats)),
                             CTR_OK);
    ck_assert_int_eq(at, total);
    free(all);
}

/* The parts' gradients (stats 0) or statistics (1), concatenated, against
 * the fused net's. */
static void assert_parts_equal(ctr_encoder *net[4], int stats)
{
    int64_t total = count_of(net[0], stats), at = 0;
    float *fused = malloc((size_t)total * sizeof(float));
    float *parts = malloc((size_t)total * sizeof(float));
    int (*get)(const ctr_encoder *, float *, int64_t) =
        stats ? ctr_encoder_get_stats : ctr_encoder_get_grads;
    int k;
    ck_assert_ptr_nonnull(parts);
    ck_assert_int_eq(get(net[0], fused, total), CTR_OK);
    for (k = 1; k < 4; at += count_of(net[k++], stats))
        if (count_of(net[k], stats) > 0)
            ck_assert_int_eq(get(net[k], parts + at, count_of(net[k], stats)), CTR_OK);
    ck_assert_msg(memcmp(fused, parts, (size_t)total * sizeof(float)) == 0,
                  "fused and unfused %s differ", stats ? "statistics" : "gradients");
    free(fused), free(parts);
}

static void assert_same(const float *a, const float *b, int64_t n, const char *what)
{
    ck_assert_msg(memcmp(a, b, (size_t)n * sizeof(float)) == 0, "%s: fused differs", what);
}

/* Forward of the three parts; h1, h2 their first two outputs. */
static void reference_forward(ctr_encoder *net[4], float *y, float *h1, float *h2,
                              const float *x, int32_t mode)
{
    ck_assert_int_eq(ctr_encoder_forward(net[1], h1, x, N, mode), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(net[2], h2, h1, N, mode), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(net[3], y, h2, N, mode), CTR_OK);
}

/* Backward of the fused net (dx) and of the three parts (dxr, through d2
 * and d1), then their input and parameter gradients compared. */
static void backward_both(ctr_encoder *net[4], float *dx, float *dxr, float *d1, float *d2,
                          const float *dy)
{
    ck_assert_int_eq(ctr_encoder_backward(net[0], dx, dy), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(net[3], d2, dy), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(net[2], d1, d2), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(net[1], dxr, d1), CTR_OK);
    assert_same(dx, dxr, N * IN, "input gradient");
    assert_parts_equal(net, 0);
}

START_TEST(test_bn_relu_fused_equals_unfused)
{
    ctr_encoder *net[4];
    float *x = test_randn(31, N, IN, 1.0), *dy = test_randn(32, N, OUT, 0.1);
    float *y = malloc(N * OUT * sizeof(float)), *yr = malloc(N * OUT * sizeof(float));
    float *h1 = malloc(N * 8 * 144 * sizeof(float)), *h2 = malloc(N * HID * sizeof(float));
    float *bn = malloc(N * 8 * 144 * sizeof(float));
    float *dx = malloc(N * IN * sizeof(float)), *dxr = malloc(N * IN * sizeof(float));
    float *d2 = malloc(N * HID * sizeof(float)), *d1 = malloc(N * 8 * 144 * sizeof(float));
    int k, mode;
    ck_assert_ptr_nonnull(d1);
    build(net);
    split_values(net, 0);
    split_values(net, 1);
    for (mode = 0; mode < 2; mode++) { /* train, then eval */
        int32_t m = mode == 0 ? CTR_ENCODER_TRAIN : CTR_ENCODER_EVAL;
        ck_assert_int_eq(ctr_encoder_forward(net[0], y, x, N, m), CTR_OK);
        reference_forward(net, yr, h1, h2, x, m);
        assert_same(y, yr, N * OUT, "output");
        ck_assert_int_eq(ctr_encoder_layer_output(net[0], bn, 1), CTR_OK);
        assert_same(bn, h1, N * 8 * 144, "the image batch norm's output");
        ck_assert_int_eq(ctr_encoder_layer_output(net[0], bn, 5), CTR_OK);
        assert_same(bn, h2, N * HID, "the vector batch norm's output");
    }
    assert_parts_equal(net, 1);
    for (k = 0; k < 4; k++)
        ck_assert_int_eq(ctr_encoder_zero_grad(net[k]), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(net[0], y, x, N, CTR_ENCODER_TRAIN), CTR_OK);
    reference_forward(net, yr, h1, h2, x, CTR_ENCODER_TRAIN);
    backward_both(net, dx, dxr, d1, d2, dy);
    assert_parts_equal(net, 1);
    for (k = 0; k < 4; k++)
        ctr_encoder_destroy(net[k]);
    free(x), free(dy), free(y), free(yr), free(h1), free(h2), free(bn);
    free(dx), free(dxr), free(d1), free(d2);
}
END_TEST

static void set_groups(ctr_encoder *net[4], int64_t groups)
{
    int k;
    for (k = 0; k < 4; k++)
        ck_assert_int_eq(ctr_encoder_set_i64(net[k], CTR_ENCODER_P_BN_GROUPS, groups), CTR_OK);
}

/* net[0] fused conv + BN; net[1..3] the reference's parts; BN groups;
 * the first conv's kernel k1 (3: its direct path, 5: its GEMM path). */
static void build_conv_bn(ctr_encoder *net[4], int64_t groups, int64_t k1)
{
    int64_t img[3] = {2, 12, 12}, c1[3] = {8, 12, 12}, c2[3] = {6, 6, 6};
    int k;
    net[0] = make(img, 3);
    net[1] = make(img, 3);
    net[2] = make(c1, 3);
    net[3] = make(c2, 3);
    for (k = 0; k < 2; k++)
        ck_assert_int_eq(ctr_encoder_add_conv2d(net[k], 8, k1, 1, k1 / 2, 1), CTR_OK);
    for (k = 0; k < 3; k += 2) {
        ck_assert_int_eq(ctr_encoder_add_batchnorm(net[k], 1e-5, 0.1, 1), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_activation(net[k], CTR_LAYER_RELU), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_conv2d(net[k], 6, 3, 2, 1, 0), CTR_OK);
    }
    for (k = 0; k < 4; k += 3) {
        ck_assert_int_eq(ctr_encoder_add_batchnorm(net[k], 1e-5, 0.1, 1), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_flatten(net[k]), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_linear(net[k], OUT, 1), CTR_OK);
    }
    set_groups(net, groups);
}

START_TEST(test_conv_bn_plane_stats_equal_unfused)
{
    ctr_encoder *net[4];
    float *x = test_randn(33, N, IN, 1.0), *dy = test_randn(34, N, OUT, 0.1);
    float *y = malloc(N * OUT * sizeof(float)), *yr = malloc(N * OUT * sizeof(float));
    float *h1 = malloc(N * 8 * 144 * sizeof(float)), *h2 = malloc(N * 6 * 36 * sizeof(float));
    float *bn = malloc(N * 8 * 144 * sizeof(float));
    float *dx = malloc(N * IN * sizeof(float)), *dxr = malloc(N * IN * sizeof(float));
    float *d2 = malloc(N * 6 * 36 * sizeof(float)), *d1 = malloc(N * 8 * 144 * sizeof(float));
    int k, step;
    ck_assert_ptr_nonnull(d1);
    build_conv_bn(net, 1 + _i % 2, _i < 2 ? 3 : 5);
    split_values(net, 0);
    split_values(net, 1);
    for (step = 0; step < 2; step++) { /* the second forward sees updated statistics */
        for (k = 0; k < 4; k++)
            ck_assert_int_eq(ctr_encoder_zero_grad(net[k]), CTR_OK);
        ck_assert_int_eq(ctr_encoder_forward(net[0], y, x, N, CTR_ENCODER_TRAIN), CTR_OK);
        reference_forward(net, yr, h1, h2, x, CTR_ENCODER_TRAIN);
        assert_same(y, yr, N * OUT, "output");
        ck_assert_int_eq(ctr_encoder_layer_output(net[0], bn, 1), CTR_OK);
        ck_assert_int_eq(ctr_encoder_layer_output(net[2], h1, 0), CTR_OK);
        assert_same(bn, h1, N * 8 * 144, "the first batch norm's output");
        assert_parts_equal(net, 1);
        backward_both(net, dx, dxr, d1, d2, dy);
        /* the fused BN's output is recomputed (not written in training):
         * still the same after a backward */
        ck_assert_int_eq(ctr_encoder_layer_output(net[0], bn, 1), CTR_OK);
        assert_same(bn, h1, N * 8 * 144, "the first batch norm's output after backward");
    }
    for (k = 0; k < 4; k++)
        ctr_encoder_destroy(net[k]);
    free(x), free(dy), free(y), free(yr), free(h1), free(h2), free(bn);
    free(dx), free(dxr), free(d1), free(d2);
}
END_TEST

/* The rows case: net[0] fused, net[1..2] the reference's two parts and
 * net[3] an encoder without layers (no parameters or statistics), so that
 * the helpers above, written for four handles, apply. */
#define ROWS_N 100
#define ROWS_IN 40
#define ROWS_HID 520

/* [linear, BN] when head, then [ReLU, linear] when tail. */
static void add_rows_layers(ctr_encoder *enc, int head, int tail)
{
    if (head) {
        ck_assert_int_eq(ctr_encoder_add_linear(enc, ROWS_HID, 1), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1), CTR_OK);
    }
    if (tail) {
        ck_assert_int_eq(ctr_encoder_add_activation(enc, CTR_LAYER_RELU), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_linear(enc, OUT, 1), CTR_OK);
    }
}

static void build_rows(ctr_encoder *net[4], int64_t groups)
{
    int64_t in = ROWS_IN, hid = ROWS_HID, out = OUT;
    net[0] = make(&in, 1);
    net[1] = make(&in, 1);
    net[2] = make(&hid, 1);
    net[3] = make(&out, 1); /* no layers: the identity */
    add_rows_layers(net[0], 1, 1);
    add_rows_layers(net[1], 1, 0);
    add_rows_layers(net[2], 0, 1);
    set_groups(net, groups);
}

/* The rows cases' buffers: input and dy (random), the outputs (fused,
 * reference), the first part's output, a layer output, the input
 * gradients (fused, reference), the parts' dy. */
typedef struct rows_bufs {
    float *x, *dy, *y, *yr, *h1, *bn, *dx, *dxr, *d1, *d2;
} rows_bufs;

static float *floats(int64_t n)
{
    float *p = malloc((size_t)n * sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

static rows_bufs rows_bufs_new(uint64_t seed)
{
    rows_bufs b;
    b.x = test_randn(seed, ROWS_N, ROWS_IN, 1.0);
    b.dy = test_randn(seed + 1, ROWS_N, OUT, 0.1);
    b.y = floats(ROWS_N * OUT), b.yr = floats(ROWS_N * OUT), b.d2 = floats(ROWS_N * OUT);
    b.h1 = floats(ROWS_N * ROWS_HID), b.bn = floats(ROWS_N * ROWS_HID);
    b.d1 = floats(ROWS_N * ROWS_HID);
    b.dx = floats(ROWS_N * ROWS_IN), b.dxr = floats(ROWS_N * ROWS_IN);
    return b;
}

static void rows_bufs_free(rows_bufs *b)
{
    free(b->x), free(b->dy), free(b->y), free(b->yr), free(b->h1), free(b->bn);
    free(b->dx), free(b->dxr), free(b->d1), free(b->d2);
}

START_TEST(test_bn_rows_region_equals_unfused)
{
    ctr_encoder *net[4];
    rows_bufs b = rows_bufs_new(35);
    float *x = b.x, *dy = b.dy, *y = b.y, *yr = b.yr, *h1 = b.h1, *bn = b.bn;
    float *dx = b.dx, *dxr = b.dxr, *d1 = b.d1;
    int k, step, saved = test_set_threads(2);
    build_rows(net, _i + 1);
    split_values(net, 0);
    split_values(net, 1);
    for (step = 0; step < 2; step++) { /* the second sees updated statistics */
        for (k = 0; k < 4; k++)
            ck_assert_int_eq(ctr_encoder_zero_grad(net[k]), CTR_OK);
        ck_assert_int_eq(ctr_encoder_forward(net[0], y, x, ROWS_N, CTR_ENCODER_TRAIN), CTR_OK);
        ck_assert_int_eq(ctr_encoder_forward(net[1], h1, x, ROWS_N, CTR_ENCODER_TRAIN), CTR_OK);
        ck_assert_int_eq(ctr_encoder_forward(net[2], yr, h1, ROWS_N, CTR_ENCODER_TRAIN),
                         CTR_OK);
        assert_same(y, yr, ROWS_N * OUT, "output");
        ck_assert_int_eq(ctr_encoder_layer_output(net[0], bn, 1), CTR_OK);
        assert_same(bn, h1, ROWS_N * ROWS_HID, "the batch norm's output");
        ck_assert_int_eq(ctr_encoder_layer_output(net[0], bn, 2), CTR_OK);
        for (k = 0; k < ROWS_N * ROWS_HID; k++)
            h1[k] = h1[k] > 0.0f ? h1[k] : 0.0f; /* layer_act.c's ReLU */
        assert_same(bn, h1, ROWS_N * ROWS_HID, "the ReLU's output");
        assert_parts_equal(net, 1);
        ck_assert_int_eq(ctr_encoder_backward(net[0], dx, dy), CTR_OK);
        ck_assert_int_eq(ctr_encoder_backward(net[2], d1, dy), CTR_OK);
        ck_assert_int_eq(ctr_encoder_backward(net[1], dxr, d1), CTR_OK);
        assert_same(dx, dxr, ROWS_N * ROWS_IN, "input gradient");
        assert_parts_equal(net, 0);
    }
    for (k = 0; k < 4; k++)
        ctr_encoder_destroy(net[k]);
    rows_bufs_free(&b);
    test_set_threads(saved);
}
END_TEST

/* The bias gradient's case: net[1] = [linear], net[2] = [BN, ReLU,
 * linear], net[3] no layers. */
static void build_bias(ctr_encoder *net[4], int64_t groups)
{
    int64_t in = ROWS_IN, hid = ROWS_HID, out = OUT;
    net[0] = make(&in, 1);
    net[1] = make(&in, 1);
    net[2] = make(&hid, 1);
    net[3] = make(&out, 1);
    add_rows_layers(net[0], 1, 1);
    ck_assert_int_eq(ctr_encoder_add_linear(net[1], ROWS_HID, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(net[2], 1e-5, 0.1, 1), CTR_OK);
    add_rows_layers(net[2], 0, 1);
    set_groups(net, groups);
}

/* The gradients of net[0] against net[1..2]'s: the same bits but the
 * first linear's bias (floats [ROWS_IN * ROWS_HID, + ROWS_HID)), which is
 * checked against the column sums of d1 (dL/d its output) in double. */
static void assert_bias_grads(ctr_encoder *net[4], const float *d1)
{
    int64_t total = count_of(net[0], 0), n1 = count_of(net[1], 0), j, i;
    int64_t b0 = ROWS_IN * ROWS_HID;
    float *fused = malloc((size_t)total * sizeof(float));
    float *parts = malloc((size_t)total * sizeof(float));
    ck_assert_ptr_nonnull(parts);
    ck_assert_int_eq(ctr_encoder_get_grads(net[0], fused, total), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(net[1], parts, n1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(net[2], parts + n1, total - n1), CTR_OK);
    assert_same(fused, parts, b0, "the linear's weight gradient");
    assert_same(fused + n1, parts + n1, total - n1, "the later gradients");
    for (j = 0; j < ROWS_HID; j++) {
        double sum = 0.0;
        for (i = 0; i < ROWS_N; i++)
            sum += d1[i * ROWS_HID + j];
        ck_assert_msg(fabs(fused[b0 + j] - sum) <= 1e-5 + 1e-5 * fabs(sum),
                      "bias gradient %d: %g, column sum %g", (int)j, fused[b0 + j], sum);
        ck_assert_msg(fabs(fused[b0 + j] - parts[b0 + j]) <= 1e-5 + 1e-5 * fabs(sum),
                      "bias gradient %d: %g, the linear's own %g", (int)j, fused[b0 + j],
                      parts[b0 + j]);
    }
    free(fused), free(parts);
}

START_TEST(test_bias_grad_by_bn_equals_unfused)
{
    ctr_encoder *net[4];
    rows_bufs b = rows_bufs_new(37);
    int k, step, saved = test_set_threads(2);
    build_bias(net, _i + 1);
    split_values(net, 0);
    split_values(net, 1);
    for (step = 0; step < 2; step++) { /* the second with moved running statistics */
        ck_assert_int_eq(ctr_encoder_forward(net[0], b.y, b.x, ROWS_N, CTR_ENCODER_TRAIN),
                         CTR_OK);
        ck_assert_int_eq(ctr_encoder_forward(net[1], b.h1, b.x, ROWS_N, CTR_ENCODER_TRAIN),
                         CTR_OK);
        ck_assert_int_eq(ctr_encoder_forward(net[2], b.yr, b.h1, ROWS_N, CTR_ENCODER_TRAIN),
                         CTR_OK);
        assert_same(b.y, b.yr, ROWS_N * OUT, "output");
        for (k = 0; k < 4; k++)
            ck_assert_int_eq(ctr_encoder_zero_grad(net[k]), CTR_OK);
        ck_assert_int_eq(ctr_encoder_backward(net[0], b.dx, b.dy), CTR_OK);
        ck_assert_int_eq(ctr_encoder_backward(net[2], b.d1, b.dy), CTR_OK);
        ck_assert_int_eq(ctr_encoder_backward(net[1], b.dxr, b.d1), CTR_OK);
        assert_same(b.dx, b.dxr, ROWS_N * ROWS_IN, "input gradient");
        assert_bias_grads(net, b.d1);
    }
    for (k = 0; k < 4; k++)
        ctr_encoder_destroy(net[k]);
    rows_bufs_free(&b);
    test_set_threads(saved);
}
END_TEST

/* The buffers of a test: x and dy drawn from seed, the rest large enough
 * for any activation here (8 x 12 x 12 per sample). */
typedef struct bufs {
    float *x, *dy, *y, *yr, *h1, *h2, *got, *relu, *dx, *dxr, *d1, *d2;
} bufs;

static bufs bufs_make(uint64_t seed)
{
    bufs b;
    size_t act = N * 8 * 144 * sizeof(float);
    b.x = test_randn(seed, N, IN, 1.0), b.dy = test_randn(seed + 1, N, OUT, 0.1);
    b.y = malloc(N * OUT * sizeof(float)), b.yr = malloc(N * OUT * sizeof(float));
    b.h1 = malloc(act), b.h2 = malloc(act), b.got = malloc(act), b.relu = malloc(act);
    b.dx = malloc(N * IN * sizeof(float)), b.dxr = malloc(N * IN * sizeof(float));
    b.d1 = malloc(act), b.d2 = malloc(act);
    ck_assert_ptr_nonnull(b.d2);
    return b;
}

static void bufs_free(bufs *b)
{
    free(b->x), free(b->dy), free(b->y), free(b->yr), free(b->h1), free(b->h2);
    free(b->got), free(b->relu), free(b->dx), free(b->dxr), free(b->d1), free(b->d2);
}

/* Gradients zeroed, a forward of the net and of the reference's parts in
 * `mode`: outputs and running statistics must be equal. */
static void forward_both(ctr_encoder *net[4], bufs *b, int32_t mode)
{
    int k;
    for (k = 0; k < 4; k++)
        ck_assert_int_eq(ctr_encoder_zero_grad(net[k]), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(net[0], b->y, b->x, N, mode), CTR_OK);
    reference_forward(net, b->yr, b->h1, b->h2, b->x, mode);
    assert_same(b->y, b->yr, N * OUT, "output");
    assert_parts_equal(net, 1);
}

/* The four handles: net[0] and net[1] on the test's images, net[2] on c1
 * (8 planes of side x side), net[3] on vectors of `last`. */
static void make_four(ctr_encoder *net[4], int64_t side, int64_t last)
{
    int64_t img[3] = {2, 12, 12}, c1[3] = {8, side, side};
    net[0] = make(img, 3);
    net[1] = make(img, 3);
    net[2] = make(c1, 3);
    net[3] = make(&last, 1);
}

/* net[0] fused conv + BN + ReLU + GAP; net[1..3] the reference's parts;
 * conv stride 1 or 2 (planes of 12 x 12 or 6 x 6). */
static void build_bn_pool(ctr_encoder *net[4], int64_t groups, int64_t stride)
{
    int k;
    make_four(net, 12 / stride, 8);
    for (k = 0; k < 2; k++) { /* 2 x 5 x 5 values per window: the GEMM path */
        ck_assert_int_eq(ctr_encoder_add_conv2d(net[k], 8, 5, stride, 2, 1), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_batchnorm(net[k], 1e-5, 0.1, 1), CTR_OK);
    }
    for (k = 0; k < 3; k += 2) {
        ck_assert_int_eq(ctr_encoder_add_activation(net[k], CTR_LAYER_RELU), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_global_avgpool(net[k]), CTR_OK);
    }
    for (k = 0; k < 4; k += 3)
        ck_assert_int_eq(ctr_encoder_add_linear(net[k], OUT, 1), CTR_OK);
    for (k = 0; k < 4; k++)
        ck_assert_int_eq(ctr_encoder_set_i64(net[k], CTR_ENCODER_P_BN_GROUPS, groups), CTR_OK);
}

START_TEST(test_bn_relu_pool_equals_unfused)
{
    int64_t stride = 1 + _i / 2, plane = 8 * (12 / stride) * (12 / stride);
    ctr_encoder *net[4];
    bufs b = bufs_make(35);
    int step, k;
    build_bn_pool(net, 1 + _i % 2, stride);
    split_values(net, 0);
    split_values(net, 1);
    for (step = 0; step < 3; step++) { /* train twice (statistics move), then eval */
        int32_t mode = step < 2 ? CTR_ENCODER_TRAIN : CTR_ENCODER_EVAL;
        forward_both(net, &b, mode);
        ck_assert_int_eq(ctr_encoder_layer_output(net[0], b.got, 1), CTR_OK);
        assert_same(b.got, b.h1, plane * N, "the batch norm's output");
        ck_assert_int_eq(ctr_encoder_layer_output(net[0], b.got, 2), CTR_OK);
        ck_assert_int_eq(ctr_encoder_layer_output(net[2], b.relu, 0), CTR_OK);
        assert_same(b.got, b.relu, plane * N, "the ReLU's output");
        ck_assert_int_eq(ctr_encoder_layer_output(net[0], b.got, 3), CTR_OK);
        assert_same(b.got, b.h2, 8 * N, "the pool's output");
        if (mode == CTR_ENCODER_TRAIN)
            backward_both(net, b.dx, b.dxr, b.d1, b.d2, b.dy);
    }
    for (k = 0; k < 4; k++)
        ctr_encoder_destroy(net[k]);
    bufs_free(&b);
}
END_TEST

/* net[0] [conv, BN, ReLU, conv 3x3/2, BN, ReLU, conv, flatten, linear],
 * the parts net[1] [conv, BN, ReLU], net[2] [conv 3x3/2, BN, ReLU] and
 * net[3] [conv, flatten, linear]: in the net both ReLUs are read through
 * by the conv after them (the second's columns on the GEMM path, the
 * third's, 3 x 3 x 3 values, on the direct path); BN groups. */
static void build_read_through(ctr_encoder *net[4], int64_t groups)
{
    int64_t img[3] = {2, 12, 12}, c1[3] = {8, 12, 12}, c2[3] = {3, 6, 6};
    int k;
    net[0] = make(img, 3);
    net[1] = make(img, 3);
    net[2] = make(c1, 3);
    net[3] = make(c2, 3);
    for (k = 0; k < 2; k++) {
        ck_assert_int_eq(ctr_encoder_add_conv2d(net[k], 8, 3, 1, 1, 1), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_batchnorm(net[k], 1e-5, 0.1, 1), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_activation(net[k], CTR_LAYER_RELU), CTR_OK);
    }
    for (k = 0; k < 3; k += 2) {
        ck_assert_int_eq(ctr_encoder_add_conv2d(net[k], 3, 3, 2, 1, 0), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_batchnorm(net[k], 1e-5, 0.1, 1), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_activation(net[k], CTR_LAYER_RELU), CTR_OK);
    }
    for (k = 0; k < 4; k += 3) {
        ck_assert_int_eq(ctr_encoder_add_conv2d(net[k], 4, 3, 1, 1, 1), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_flatten(net[k]), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_linear(net[k], OUT, 1), CTR_OK);
    }
    set_groups(net, groups);
}

START_TEST(test_bn_relu_read_through_equals_unfused)
{
    ctr_encoder *net[4];
    bufs b = bufs_make(39);
    int step, k, saved = test_set_threads(2);
    build_read_through(net, 1 + _i);
    split_values(net, 0);
    split_values(net, 1);
    for (step = 0; step < 3; step++) { /* train twice (statistics move), then eval */
        forward_both(net, &b, step < 2 ? CTR_ENCODER_TRAIN : CTR_ENCODER_EVAL);
        ck_assert_int_eq(ctr_encoder_layer_output(net[0], b.got, 2), CTR_OK);
        assert_same(b.got, b.h1, N * 8 * 144, "the first ReLU's output");
        ck_assert_int_eq(ctr_encoder_layer_output(net[0], b.got, 5), CTR_OK);
        assert_same(b.got, b.h2, N * 3 * 36, "the second ReLU's output");
        ck_assert_int_eq(ctr_encoder_layer_output(net[0], b.got, 4), CTR_OK);
        ck_assert_int_eq(ctr_encoder_layer_output(net[2], b.relu, 1), CTR_OK);
        assert_same(b.got, b.relu, N * 3 * 36, "the second batch norm's output");
        if (step < 2)
            backward_both(net, b.dx, b.dxr, b.d1, b.d2, b.dy);
    }
    for (k = 0; k < 4; k++)
        ctr_encoder_destroy(net[k]);
    bufs_free(&b);
    test_set_threads(saved);
}
END_TEST

/* net[0] with the flatten as a view, net[1..3] the reference's parts. */
static void build_view(ctr_encoder *net[4])
{
    int k;
    make_four(net, 12, 8 * 144);
    for (k = 0; k < 2; k++) {
        ck_assert_int_eq(ctr_encoder_add_conv2d(net[k], 8, 3, 1, 1, 1), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_batchnorm(net[k], 1e-5, 0.1, 1), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_activation(net[k], CTR_LAYER_RELU), CTR_OK);
    }
    ck_assert_int_eq(ctr_encoder_add_flatten(net[0]), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_flatten(net[2]), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(net[0], OUT, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(net[3], OUT, 1), CTR_OK);
}

START_TEST(test_flatten_view_equals_copy)
{
    ctr_encoder *net[4];
    bufs b = bufs_make(37);
    int step, k;
    build_view(net);
    split_values(net, 0);
    split_values(net, 1);
    for (step = 0; step < 3; step++) { /* train twice, then eval */
        forward_both(net, &b, step < 2 ? CTR_ENCODER_TRAIN : CTR_ENCODER_EVAL);
        ck_assert_int_eq(ctr_encoder_layer_output(net[0], b.got, 3), CTR_OK);
        assert_same(b.got, b.h2, N * 8 * 144, "the flatten's output");
        if (step < 2)
            backward_both(net, b.dx, b.dxr, b.d1, b.d2, b.dy);
    }
    for (k = 0; k < 4; k++)
        ctr_encoder_destroy(net[k]);
    bufs_free(&b);
}
END_TEST

/* The forward's output check and copy run as one split pass (check by
 * blocks, a barrier, each thread copying the blocks it checked), and the
 * backward's dy check is split: on an output of three blocks (the last
 * partial) at two threads, y must be the layer output bit for bit, and
 * nothing may be written when only the last block overflows. */
#define CC_N 300
#define CC_OUT 128

START_TEST(test_output_check_copy_split)
{
    int64_t in = 4, i, np = 0;
    ctr_encoder *enc = make(&in, 1);
    float *x = test_randn(81, CC_N, 4, 1.0), *y = floats(CC_N * CC_OUT);
    float *ref = floats(CC_N * CC_OUT), *dy = floats(CC_N * CC_OUT);
    float *p;
    int saved = test_set_threads(2);
    ck_assert_int_eq(ctr_encoder_add_linear(enc, CC_OUT, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, CC_N, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_layer_output(enc, ref, CTR_ENCODER_OUTPUT), CTR_OK);
    assert_same(y, ref, CC_N * CC_OUT, "the output");
    memcpy(dy, y, (size_t)CC_N * CC_OUT * sizeof(float));
    dy[CC_N * CC_OUT - 1] = NAN; /* the last block only */
    ck_assert_int_eq(ctr_encoder_backward(enc, NULL, dy), CTR_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(ctr_encoder_last_error(enc), "dy"));
    ck_assert_int_eq(ctr_encoder_num_params(enc, &np), CTR_OK);
    p = floats(np);
    for (i = 0; i < np; i++)
        p[i] = 1.0f;
    ck_assert_int_eq(ctr_encoder_set_params(enc, p, np), CTR_OK);
    for (i = 0; i < 4; i++) /* finite, but its row of outputs overflows */
        x[(CC_N - 1) * 4 + i] = 3e38f;
    for (i = 0; i < CC_N * CC_OUT; i++)
        y[i] = -7.0f;
    ck_assert_int_eq(ctr_encoder_forward(enc, y, x, CC_N, CTR_ENCODER_TRAIN), CTR_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(ctr_encoder_last_error(enc), "forward: output"));
    for (i = 0; i < CC_N * CC_OUT; i++)
        ck_assert(y[i] == -7.0f);
    test_set_threads(saved);
    ctr_encoder_destroy(enc);
    free(x), free(y), free(ref), free(dy), free(p);
}
END_TEST

Suite *ctr_test_fusion_suite(void);

Suite *ctr_test_fusion_suite(void)
{
    Suite *s = suite_create("fusion");
    TCase *tc = tcase_create("bn-relu");
    TCase *planes = tcase_create("conv-bn-plane-stats");
    TCase *rows = tcase_create("bn-relu-rows-region");
    TCase *pool = tcase_create("bn-relu-pool");
    TCase *view = tcase_create("flatten-view");
    TCase *copy = tcase_create("output-check-copy");
    TCase *through = tcase_create("bn-relu-read-through");
    tcase_add_test(tc, test_bn_relu_fused_equals_unfused);
    suite_add_tcase(s, tc);
    tcase_add_loop_test(planes, test_conv_bn_plane_stats_equal_unfused, 0, 4);
    suite_add_tcase(s, planes);
    tcase_add_loop_test(rows, test_bn_rows_region_equals_unfused, 0, 2);
    tcase_add_loop_test(rows, test_bias_grad_by_bn_equals_unfused, 0, 2);
    suite_add_tcase(s, rows);
    tcase_add_loop_test(pool, test_bn_relu_pool_equals_unfused, 0, 4);
    suite_add_tcase(s, pool);
    tcase_add_test(view, test_flatten_view_equals_copy);
    suite_add_tcase(s, view);
    tcase_add_test(copy, test_output_check_copy_split);
    suite_add_tcase(s, copy);
    tcase_add_loop_test(through, test_bn_relu_read_through_equals_unfused, 0, 2);
    suite_add_tcase(s, through);
    return s;
}
