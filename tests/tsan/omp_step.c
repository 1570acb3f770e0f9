/*
 * omp_step.c - the OpenMP build's split passes under ThreadSanitizer
 * (make check-tsan OPENMP=1; docs/threading.md): training steps of a CNN
 * big enough that every split loop runs on the OpenMP team (conv's im2col,
 * output scatter, bias-gradient gather and col2im; BatchNorm over images
 * and over features; ReLU; max, average and global pooling, the last also
 * fused with BatchNorm and ReLU; AdamW; and,
 * in a sequence net trained by SGD with momentum, conv1d's im2col/col2im
 * and bias gradient, LayerNorm and L2-norm; the finite checks, the input
 * copy and zero_grad), at
 * the host's thread count (OMP_NUM_THREADS, 2 in make check-tsan).
 * A race is TSan's report and a non-zero exit; two runs that differ in a
 * bit are a message and exit 1. Ends with "omp_step: N steps, same bits".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contrastive.h"

#define BATCH 64
#define OUT 16
#define STEPS 2

static int ok(int rc, const char *what)
{
    if (rc != CTR_OK)
        fprintf(stderr, "omp_step: %s: %s\n", what, ctr_strerror(rc));
    return rc == CTR_OK;
}

/* 64 steps x 8 features (the images' 512 values): conv1d, LayerNorm, ReLU,
 * L2-norm, a stride-2 conv1d, LayerNorm, a linear head. */
static int build_sequence(ctr_encoder **enc)
{
    int64_t dims[2] = {64, 8};
    int good = ok(ctr_encoder_create(enc, dims, 2, 7, NULL), "create");
    good = good && ok(ctr_encoder_add_conv1d(*enc, 16, 5, 1, 2, 1), "conv1d");
    good = good && ok(ctr_encoder_add_layernorm(*enc, 1e-5, 1), "ln");
    good = good && ok(ctr_encoder_add_activation(*enc, CTR_LAYER_RELU), "relu");
    good = good && ok(ctr_encoder_add_l2norm(*enc, 1e-12), "l2");
    good = good && ok(ctr_encoder_add_conv1d(*enc, 16, 3, 2, 1, 1), "conv1d");
    good = good && ok(ctr_encoder_add_layernorm(*enc, 1e-5, 1), "ln");
    good = good && ok(ctr_encoder_add_flatten(*enc), "flatten");
    return good && ok(ctr_encoder_add_linear(*enc, OUT, 1), "linear");
}

/* pool 0, 1: the CNN with max or average pooling; 2: the sequence net;
 * 3: the CNN with global average pooling right after BN + ReLU (the three
 * fused, encoder_run.c). */
static int build(ctr_encoder **enc, int pool)
{
    int64_t dims[3] = {2, 16, 16};
    if (pool == 2)
        return build_sequence(enc);
    int good = ok(ctr_encoder_create(enc, dims, 3, 7, NULL), "create");
    good = good && ok(ctr_encoder_add_conv2d(*enc, 8, 3, 1, 1, 1), "conv");
    good = good && ok(ctr_encoder_add_batchnorm(*enc, 1e-5, 0.1, 1), "bn");
    good = good && ok(ctr_encoder_add_activation(*enc, CTR_LAYER_RELU), "relu");
    good = good && ok(ctr_encoder_add_conv2d(*enc, 8, 3, 2, 1, 1), "conv");
    good = good && ok(ctr_encoder_add_batchnorm(*enc, 1e-5, 0.1, 1), "bn");
    good = good && ok(ctr_encoder_add_activation(*enc, CTR_LAYER_RELU), "relu");
    if (pool == 0) {
        good = good && ok(ctr_encoder_add_pool2d(*enc, CTR_LAYER_MAXPOOL2D, 2, 2, 0), "max");
        good = good && ok(ctr_encoder_add_flatten(*enc), "flatten");
    } else {
        if (pool == 1)
            good = good && ok(ctr_encoder_add_pool2d(*enc, CTR_LAYER_AVGPOOL2D, 3, 1, 1), "avg");
        good = good && ok(ctr_encoder_add_global_avgpool(*enc), "gap");
    }
    good = good && ok(ctr_encoder_add_linear(*enc, 512, 1), "linear");
    good = good && ok(ctr_encoder_add_batchnorm(*enc, 1e-5, 0.1, 1), "bn");
    good = good && ok(ctr_encoder_add_activation(*enc, CTR_LAYER_RELU), "relu");
    return good && ok(ctr_encoder_add_linear(*enc, OUT, 1), "linear");
}

/* STEPS steps (AdamW; the sequence net SGD with momentum and weight decay)
 * from fixed data; the parameters after them in *out (malloc'ed, *np
 * floats). */
static int train(int pool, float **out, int64_t *np)
{
    ctr_encoder *enc = NULL;
    ctr_optimizer *opt = NULL;
    float *x = malloc(sizeof(float) * BATCH * 512), *y = malloc(sizeof(float) * BATCH * OUT);
    float *dx = malloc(sizeof(float) * BATCH * 512);
    int64_t i;
    int k, good = x != NULL && y != NULL && dx != NULL && build(&enc, pool);
    for (i = 0; good && i < BATCH * 512; i++)
        x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    good = good && ok(ctr_optimizer_create_for_encoder(
                          &opt, pool == 2 ? CTR_OPTIMIZER_SGD : CTR_OPTIMIZER_ADAMW, enc, NULL),
                      "optimizer");
    good = good && (pool != 2 || (ok(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_MOMENTUM, 0.9),
                                     "momentum") &&
                                  ok(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_WEIGHT_DECAY,
                                                           1e-4),
                                     "weight decay")));
    for (k = 0; good && k < STEPS; k++) {
        good = ok(ctr_encoder_zero_grad(enc), "zero_grad") &&
               ok(ctr_encoder_forward(enc, y, x, BATCH, CTR_ENCODER_TRAIN), "forward");
        for (i = 0; good && i < BATCH * OUT; i++)
            y[i] = y[i] / BATCH;
        good = good && ok(ctr_encoder_backward(enc, dx, y), "backward") &&
               ok(ctr_optimizer_step(opt), "step");
    }
    good = good && ok(ctr_encoder_num_params(enc, np), "num_params");
    *out = good ? malloc(sizeof(float) * (size_t)*np) : NULL;
    good = good && *out != NULL && ok(ctr_encoder_get_params(enc, *out, *np), "get_params");
    ctr_optimizer_destroy(opt);
    ctr_encoder_destroy(enc);
    free(x), free(y), free(dx);
    return good;
}

int main(void)
{
    int pool, steps = 0;
    for (pool = 0; pool < 4; pool++) {
        float *a = NULL, *b = NULL;
        int64_t na = 0, nb = 0;
        int same;
        if (!train(pool, &a, &na) || !train(pool, &b, &nb))
            return 1;
        same = na == nb && memcmp(a, b, sizeof(float) * (size_t)na) == 0;
        free(a), free(b);
        if (!same) {
            fprintf(stderr, "omp_step: two runs differ (pool %d)\n", pool);
            return 1;
        }
        steps += 2 * STEPS;
    }
    printf("omp_step: %d steps, same bits\n", steps);
    return 0;
}
