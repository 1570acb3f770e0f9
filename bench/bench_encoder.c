/*
 * bench_encoder.c - times an encoder training step against the bare cBLAS
 * GEMMs its math needs ("floor") and reports the library's extra memory.
 *
 *   bench_encoder --threads T [--cases a,b] [--reps N]
 *
 * Prints one JSON object per case and line:
 *   {"case":..., "threads":T, "ours_ms":x, "floor_ms":y, "ours_extra_mib":z}
 * Times are medians of N runs after two warm-up runs. The program is the
 * host: it sets the BLAS thread count itself (the library never does).
 * CTR_BENCH_DIAG=1: mlp_simclr_step also prints to stderr how many steps
 * and floors it ran (to turn a profile's samples into samples per step).
 *
 * Case mlp_simclr_step: MLP 784-512-512-128 (linear+BN+ReLU twice, linear,
 * L2-normalise), SimCLR batch 256 with two views, run as one forward of the
 * 512 concatenated views (as most SimCLR code does), backward, SGD step
 * (momentum 0.9, weight decay 1e-6). The loss is a stand-in: the gradient
 * fed to backward is dL/dz = z - target for a fixed unit-norm target, so
 * that only the encoder and the optimizer are timed. The floor is the eight
 * GEMMs of that step: three forward, three weight gradients, two input
 * gradients (the first layer's input gradient is not needed).
 *
 * Case cnn_step: 1 x 28 x 28 images, conv 32 (3x3, pad 1) + BN + ReLU,
 * conv 64 (3x3, stride 2, pad 1) + BN + ReLU, global average pool, linear
 * 128; batch 256; forward, backward (dL/dy = (y - target) / 256, the mean
 * squared error's), SGD step. Floor:
 * the convolutions' GEMMs over the whole batch at once (im2col shapes) and
 * the linear layer's.
 *
 * Case demo_cnn_step: the main demo's default step (examples/demo): conv 32
 * (5x5, stride 2, pad 2) + BN + ReLU, conv 64 (3x3, stride 2, pad 1) + BN +
 * ReLU, flatten, head linear 512 + BN + ReLU + linear 128 + L2 norm, the
 * two views of 256 images as one batch of 512, NT-Xent (tau 0.1), backward,
 * AdamW (lr 2e-3, weight decay 1e-5). Augmentations are the host's and not
 * timed. Floor: every GEMM of the step (convolutions as im2col GEMMs over
 * the whole batch, no input gradient for the first; the linear layers'
 * three each but the first layer's; NT-Xent's similarity and gradient as
 * two full GEMMs), each on operands of its own.
 *
 * Case gru_step: GRU 64 -> 128 over 32 steps, batch 64, forward + backward
 * (dL/dh_t given for every step). Floor: the input projection, one
 * recurrent GEMM per step, one GEMM per step for dL/dh_{t-1}, and the two
 * weight gradients as one GEMM each over all steps.
 *
 * bench/torch_encoder.py times the same steps in PyTorch.
 */
#include <math.h>

#include <cblas.h>

#include "bench_util.h"

static void check(int rc, const char *what, const char *detail)
{
    if (rc != CTR_OK) {
        fprintf(stderr, "%s: %s (%s)\n", what, ctr_strerror(rc), detail);
        exit(1);
    }
}

static float *random_floats(ctr_rng *rng, int64_t n, float std)
{
    float *x = (float *)malloc((size_t)n * sizeof(float));
    check(ctr_rng_normal(rng, x, n, 0.0f, std), "rng", "");
    return x;
}

/* ---- the MLP SimCLR step ------------------------------------------------------ */

#define MLP_IN 784
#define MLP_HID 512
#define MLP_OUT 128
#define MLP_BATCH 512 /* 256 samples x 2 views */

typedef struct mlp_ctx {
    ctr_encoder *enc;
    ctr_optimizer *opt;
    float *x, *z, *target, *dz;
    /* floor: weights, activations and gradients of the eight GEMMs */
    float *w[3], *gw[3], *act[4], *dact[3];
    long calls[2]; /* diagnostics: steps and floors run (CTR_BENCH_DIAG=1) */
} mlp_ctx;

static void mlp_step(void *p)
{
    mlp_ctx *c = (mlp_ctx *)p;
    int64_t i;
    c->calls[0]++;
    check(ctr_encoder_zero_grad(c->enc), "zero_grad", "");
    check(ctr_encoder_forward(c->enc, c->z, c->x, MLP_BATCH, CTR_ENCODER_TRAIN), "forward",
          ctr_encoder_last_error(c->enc));
    for (i = 0; i < (int64_t)MLP_BATCH * MLP_OUT; i++)
        c->dz[i] = c->z[i] - c->target[i];
    check(ctr_encoder_backward(c->enc, NULL, c->dz), "backward", ctr_encoder_last_error(c->enc));
    check(ctr_optimizer_step(c->opt), "step", ctr_optimizer_last_error(c->opt));
}

static void mlp_floor(void *p)
{
    mlp_ctx *c = (mlp_ctx *)p;
    static const int dims[4] = {MLP_IN, MLP_HID, MLP_HID, MLP_OUT};
    const int n = MLP_BATCH;
    int l;
    c->calls[1]++;
    for (l = 0; l < 3; l++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, dims[l + 1], dims[l], 1.0f,
                    c->act[l], dims[l], c->w[l], dims[l], 0.0f, c->act[l + 1], dims[l + 1]);
    for (l = 2; l >= 0; l--) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dims[l + 1], dims[l], n, 1.0f,
                    c->dact[l], dims[l + 1], c->act[l], dims[l], 1.0f, c->gw[l], dims[l]);
        if (l > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dims[l], dims[l + 1],
                        1.0f, c->dact[l], dims[l + 1], c->w[l], dims[l], 0.0f,
                        c->dact[l - 1], dims[l]);
    }
}

static void mlp_build(mlp_ctx *c, const ctr_allocator *a)
{
    int64_t in = MLP_IN;
    check(ctr_encoder_create(&c->enc, &in, 1, 1, a), "create", "");
    check(ctr_encoder_add_linear(c->enc, MLP_HID, 1), "linear", "");
    check(ctr_encoder_add_batchnorm(c->enc, 1e-5, 0.1, 1), "bn", "");
    check(ctr_encoder_add_activation(c->enc, CTR_LAYER_RELU), "relu", "");
    check(ctr_encoder_add_linear(c->enc, MLP_HID, 1), "linear", "");
    check(ctr_encoder_add_batchnorm(c->enc, 1e-5, 0.1, 1), "bn", "");
    check(ctr_encoder_add_activation(c->enc, CTR_LAYER_RELU), "relu", "");
    check(ctr_encoder_add_linear(c->enc, MLP_OUT, 1), "linear", "");
    check(ctr_encoder_add_l2norm(c->enc, 1e-12), "l2", "");
    check(ctr_optimizer_create_for_encoder(&c->opt, CTR_OPTIMIZER_SGD, c->enc, a), "opt", "");
    check(ctr_optimizer_set_f64(c->opt, CTR_OPTIMIZER_P_LR, 0.05), "lr", "");
    check(ctr_optimizer_set_f64(c->opt, CTR_OPTIMIZER_P_MOMENTUM, 0.9), "mu", "");
    check(ctr_optimizer_set_f64(c->opt, CTR_OPTIMIZER_P_WEIGHT_DECAY, 1e-6), "wd", "");
}

static void mlp_case(int threads, int reps)
{
    static const int dims[4] = {MLP_IN, MLP_HID, MLP_HID, MLP_OUT};
    mlp_ctx c;
    counter cnt;
    ctr_allocator a;
    ctr_rng *rng = NULL;
    double ours, floor;
    int64_t i;
    int l;
    memset(&c, 0, sizeof(c));
    counting_allocator(&a, &cnt);
    check(ctr_rng_create(&rng, 7, NULL), "rng", "");
    mlp_build(&c, &a);
    c.x = random_floats(rng, (int64_t)MLP_BATCH * MLP_IN, 1.0f);
    c.target = random_floats(rng, (int64_t)MLP_BATCH * MLP_OUT, 1.0f);
    for (i = 0; i < MLP_BATCH; i++) { /* unit-norm targets */
        double s = 0;
        int j;
        for (j = 0; j < MLP_OUT; j++)
            s += (double)c.target[i * MLP_OUT + j] * c.target[i * MLP_OUT + j];
        for (j = 0; j < MLP_OUT; j++)
            c.target[i * MLP_OUT + j] = (float)(c.target[i * MLP_OUT + j] / sqrt(s));
    }
    c.z = (float *)malloc((size_t)MLP_BATCH * MLP_OUT * sizeof(float));
    c.dz = (float *)malloc((size_t)MLP_BATCH * MLP_OUT * sizeof(float));
    for (l = 0; l < 3; l++) {
        c.w[l] = random_floats(rng, (int64_t)dims[l] * dims[l + 1], 0.05f);
        c.gw[l] = random_floats(rng, (int64_t)dims[l] * dims[l + 1], 0.0f);
        c.dact[l] = random_floats(rng, (int64_t)MLP_BATCH * dims[l + 1], 1.0f);
    }
    c.act[0] = c.x;
    for (l = 1; l < 4; l++)
        c.act[l] = random_floats(rng, (int64_t)MLP_BATCH * dims[l], 1.0f);
    ours = median_ms(mlp_step, &c, reps, 1);
    floor = median_ms(mlp_floor, &c, reps, 1);
    bench_report("mlp_simclr_step", threads, ours, floor, peak_mib(&cnt));
    if (getenv("CTR_BENCH_DIAG") != NULL) /* for profiles: samples per call */
        fprintf(stderr, "mlp_simclr_step: %ld steps, %ld floors run\n", c.calls[0],
                c.calls[1]);
    ctr_optimizer_destroy(c.opt);
    ctr_encoder_destroy(c.enc);
    ctr_rng_destroy(rng);
    free(c.x), free(c.target), free(c.z), free(c.dz);
    for (l = 0; l < 3; l++)
        free(c.w[l]), free(c.gw[l]), free(c.dact[l]), free(c.act[l + 1]);
}

/* ---- the small CNN step ---------------------------------------------------------- */

#define CNN_BATCH 256

typedef struct cnn_ctx {
    ctr_encoder *enc;
    ctr_optimizer *opt;
    float *x, *y, *target, *dy;
    float *a[12]; /* floor operands */
} cnn_ctx;

static void cnn_step(void *p)
{
    cnn_ctx *c = (cnn_ctx *)p;
    int64_t i;
    check(ctr_encoder_zero_grad(c->enc), "zero_grad", "");
    check(ctr_encoder_forward(c->enc, c->y, c->x, CNN_BATCH, CTR_ENCODER_TRAIN), "forward",
          ctr_encoder_last_error(c->enc));
    for (i = 0; i < (int64_t)CNN_BATCH * 128; i++)
        c->dy[i] = (c->y[i] - c->target[i]) * (1.0f / CNN_BATCH);
    check(ctr_encoder_backward(c->enc, NULL, c->dy), "backward", ctr_encoder_last_error(c->enc));
    check(ctr_optimizer_step(c->opt), "step", ctr_optimizer_last_error(c->opt));
}

/* C = A(m x k) B(k x n) with the given transpositions, row-major. */
static void gemm(int ta, int tb, int m, int n, int k, const float *a, const float *b, float *c)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, 0.0f, c, n);
}

static void cnn_floor(void *p)
{
    cnn_ctx *c = (cnn_ctx *)p;
    const int n1 = CNN_BATCH * 784, n2 = CNN_BATCH * 196;
    /* forward: conv1 (32 x 9)(9 x n1), conv2 (64 x 288)(288 x n2), linear */
    gemm(0, 0, 32, n1, 9, c->a[0], c->a[1], c->a[2]);
    gemm(0, 0, 64, n2, 288, c->a[3], c->a[4], c->a[5]);
    gemm(0, 1, CNN_BATCH, 128, 64, c->a[6], c->a[7], c->a[8]);
    /* backward: weight gradients, the columns' gradient of conv2, linear dx */
    gemm(1, 0, 128, 64, CNN_BATCH, c->a[8], c->a[6], c->a[9]);
    gemm(0, 1, 64, 288, n2, c->a[5], c->a[4], c->a[10]);
    gemm(1, 0, 288, n2, 64, c->a[3], c->a[5], c->a[4]);
    gemm(0, 1, 32, 9, n1, c->a[2], c->a[1], c->a[11]);
    gemm(0, 0, CNN_BATCH, 64, 128, c->a[8], c->a[7], c->a[6]);
}

static void cnn_case(int threads, int reps)
{
    static const int64_t sizes[12] = {32 * 9,        9 * CNN_BATCH * 784, 32 * CNN_BATCH * 784,
                                      64 * 288,      288 * CNN_BATCH * 196, 64 * CNN_BATCH * 196,
                                      CNN_BATCH * 64, 128 * 64,             CNN_BATCH * 128,
                                      128 * 64,      64 * 288,              32 * 9};
    int64_t dims[3] = {1, 28, 28};
    cnn_ctx c;
    counter cnt;
    ctr_allocator a;
    ctr_rng *rng = NULL;
    double ours, floor;
    int k;
    memset(&c, 0, sizeof(c));
    counting_allocator(&a, &cnt);
    check(ctr_rng_create(&rng, 8, NULL), "rng", "");
    check(ctr_encoder_create(&c.enc, dims, 3, 1, &a), "create", "");
    check(ctr_encoder_add_conv2d(c.enc, 32, 3, 1, 1, 1), "conv", "");
    check(ctr_encoder_add_batchnorm(c.enc, 1e-5, 0.1, 1), "bn", "");
    check(ctr_encoder_add_activation(c.enc, CTR_LAYER_RELU), "relu", "");
    check(ctr_encoder_add_conv2d(c.enc, 64, 3, 2, 1, 1), "conv", "");
    check(ctr_encoder_add_batchnorm(c.enc, 1e-5, 0.1, 1), "bn", "");
    check(ctr_encoder_add_activation(c.enc, CTR_LAYER_RELU), "relu", "");
    check(ctr_encoder_add_global_avgpool(c.enc), "gap", "");
    check(ctr_encoder_add_linear(c.enc, 128, 1), "linear", "");
    check(ctr_optimizer_create_for_encoder(&c.opt, CTR_OPTIMIZER_SGD, c.enc, &a), "opt", "");
    check(ctr_optimizer_set_f64(c.opt, CTR_OPTIMIZER_P_LR, 0.05), "lr", "");
    check(ctr_optimizer_set_f64(c.opt, CTR_OPTIMIZER_P_MOMENTUM, 0.9), "mu", "");
    c.x = random_floats(rng, (int64_t)CNN_BATCH * 784, 1.0f);
    c.target = random_floats(rng, (int64_t)CNN_BATCH * 128, 1.0f);
    c.y = random_floats(rng, (int64_t)CNN_BATCH * 128, 0.0f);
    c.dy = random_floats(rng, (int64_t)CNN_BATCH * 128, 0.0f);
    for (k = 0; k < 12; k++)
        c.a[k] = random_floats(rng, sizes[k], 0.1f);
    ours = median_ms(cnn_step, &c, reps, 1);
    floor = median_ms(cnn_floor, &c, reps, 1);
    bench_report("cnn_step", threads, ours, floor, peak_mib(&cnt));
    ctr_optimizer_destroy(c.opt);
    ctr_encoder_destroy(c.enc);
    ctr_rng_destroy(rng);
    free(c.x), free(c.target), free(c.y), free(c.dy);
    for (k = 0; k < 12; k++)
        free(c.a[k]);
}

/* ---- the demo's step ------------------------------------------------------------- */

#define DEMO_VIEWS 512 /* 2 x 256 */
#define DEMO_EMBED 128

typedef struct gemm_shape {
    int ta, tb, m, n, k;
} gemm_shape;

static const gemm_shape DEMO_GEMMS[] = {
    {0, 0, 32, DEMO_VIEWS * 196, 25},       /* conv1 forward */
    {0, 1, 32, 25, DEMO_VIEWS * 196},       /* conv1 weight gradient */
    {0, 0, 64, DEMO_VIEWS * 49, 288},       /* conv2 forward */
    {0, 1, 64, 288, DEMO_VIEWS * 49},       /* conv2 weight gradient */
    {1, 0, 288, DEMO_VIEWS * 49, 64},       /* conv2 columns' gradient */
    {0, 1, DEMO_VIEWS, 512, 3136},          /* head linear 1 forward */
    {1, 0, 512, 3136, DEMO_VIEWS},          /* its weight gradient */
    {0, 0, DEMO_VIEWS, 3136, 512},          /* its input gradient */
    {0, 1, DEMO_VIEWS, DEMO_EMBED, 512},    /* head linear 2 forward */
    {1, 0, DEMO_EMBED, 512, DEMO_VIEWS},    /* its weight gradient */
    {0, 0, DEMO_VIEWS, 512, DEMO_EMBED},    /* its input gradient */
    {0, 1, DEMO_VIEWS, DEMO_VIEWS, DEMO_EMBED}, /* NT-Xent similarities */
    {0, 0, DEMO_VIEWS, DEMO_EMBED, DEMO_VIEWS}, /* NT-Xent gradient */
};
#define DEMO_NGEMMS ((int)(sizeof(DEMO_GEMMS) / sizeof(DEMO_GEMMS[0])))

typedef struct demo_ctx {
    ctr_encoder *enc;
    ctr_optimizer *opt;
    ctr_objective *ntxent;
    float *x, *z, *dz;
    float *a[DEMO_NGEMMS], *b[DEMO_NGEMMS], *c[DEMO_NGEMMS]; /* floor operands */
} demo_ctx;

static void demo_step(void *p)
{
    demo_ctx *c = (demo_ctx *)p;
    const int64_t half = DEMO_VIEWS / 2;
    double loss;
    check(ctr_encoder_zero_grad(c->enc), "zero_grad", "");
    check(ctr_encoder_forward(c->enc, c->z, c->x, DEMO_VIEWS, CTR_ENCODER_TRAIN), "forward",
          ctr_encoder_last_error(c->enc));
    check(ctr_objective_ntxent(c->ntxent, &loss, c->z, DEMO_EMBED, c->z + half * DEMO_EMBED,
                               DEMO_EMBED, half, DEMO_EMBED, NULL, c->dz,
                               c->dz + half * DEMO_EMBED),
          "ntxent", ctr_objective_last_error(c->ntxent));
    check(ctr_encoder_backward(c->enc, NULL, c->dz), "backward", ctr_encoder_last_error(c->enc));
    check(ctr_optimizer_step(c->opt), "step", ctr_optimizer_last_error(c->opt));
}

static void demo_floor(void *p)
{
    demo_ctx *c = (demo_ctx *)p;
    int g;
    for (g = 0; g < DEMO_NGEMMS; g++) {
        const gemm_shape *s = &DEMO_GEMMS[g];
        gemm(s->ta, s->tb, s->m, s->n, s->k, c->a[g], c->b[g], c->c[g]);
    }
}

static void demo_build(demo_ctx *c, const ctr_allocator *a)
{
    int64_t dims[3] = {1, 28, 28};
    check(ctr_encoder_create(&c->enc, dims, 3, 1, a), "create", "");
    check(ctr_encoder_add_conv2d(c->enc, 32, 5, 2, 2, 0), "conv", "");
    check(ctr_encoder_add_batchnorm(c->enc, 1e-5, 0.1, 1), "bn", "");
    check(ctr_encoder_add_activation(c->enc, CTR_LAYER_RELU), "relu", "");
    check(ctr_encoder_add_conv2d(c->enc, 64, 3, 2, 1, 0), "conv", "");
    check(ctr_encoder_add_batchnorm(c->enc, 1e-5, 0.1, 1), "bn", "");
    check(ctr_encoder_add_activation(c->enc, CTR_LAYER_RELU), "relu", "");
    check(ctr_encoder_add_flatten(c->enc), "flatten", "");
    check(ctr_encoder_add_linear(c->enc, 512, 1), "linear", "");
    check(ctr_encoder_add_batchnorm(c->enc, 1e-5, 0.1, 1), "bn", "");
    check(ctr_encoder_add_activation(c->enc, CTR_LAYER_RELU), "relu", "");
    check(ctr_encoder_add_linear(c->enc, DEMO_EMBED, 1), "linear", "");
    check(ctr_encoder_add_l2norm(c->enc, 1e-12), "l2norm", "");
    check(ctr_optimizer_create_for_encoder(&c->opt, CTR_OPTIMIZER_ADAMW, c->enc, a), "opt", "");
    check(ctr_optimizer_set_f64(c->opt, CTR_OPTIMIZER_P_LR, 2e-3), "lr", "");
    check(ctr_optimizer_set_f64(c->opt, CTR_OPTIMIZER_P_WEIGHT_DECAY, 1e-5), "wd", "");
    check(ctr_objective_create(&c->ntxent, CTR_OBJECTIVE_NTXENT, a), "objective", "");
    check(ctr_objective_set_f64(c->ntxent, CTR_OBJECTIVE_P_TEMPERATURE, 0.1), "tau", "");
}

static void demo_case(int threads, int reps)
{
    demo_ctx c;
    counter cnt;
    ctr_allocator a;
    ctr_rng *rng = NULL;
    double ours, floor;
    int g;
    memset(&c, 0, sizeof(c));
    counting_allocator(&a, &cnt);
    check(ctr_rng_create(&rng, 10, NULL), "rng", "");
    demo_build(&c, &a);
    c.x = random_floats(rng, (int64_t)DEMO_VIEWS * 784, 1.0f);
    c.z = random_floats(rng, (int64_t)DEMO_VIEWS * DEMO_EMBED, 0.0f);
    c.dz = random_floats(rng, (int64_t)DEMO_VIEWS * DEMO_EMBED, 0.0f);
    for (g = 0; g < DEMO_NGEMMS; g++) {
        const gemm_shape *s = &DEMO_GEMMS[g];
        c.a[g] = random_floats(rng, (int64_t)s->m * s->k, 0.1f);
        c.b[g] = random_floats(rng, (int64_t)s->k * s->n, 0.1f);
        c.c[g] = random_floats(rng, (int64_t)s->m * s->n, 0.0f);
    }
    ours = median_ms(demo_step, &c, reps, 1);
    floor = median_ms(demo_floor, &c, reps, 1);
    bench_report("demo_cnn_step", threads, ours, floor, peak_mib(&cnt));
    ctr_objective_destroy(c.ntxent);
    ctr_optimizer_destroy(c.opt);
    ctr_encoder_destroy(c.enc);
    ctr_rng_destroy(rng);
    free(c.x), free(c.z), free(c.dz);
    for (g = 0; g < DEMO_NGEMMS; g++)
        free(c.a[g]), free(c.b[g]), free(c.c[g]);
}

/* ---- the GRU step ------------------------------------------------------------------- */

#define GRU_BATCH 64
#define GRU_T 32
#define GRU_IN 64
#define GRU_H 128

typedef struct gru_ctx {
    ctr_encoder *enc;
    float *x, *y, *dy;
    float *a[8]; /* floor operands */
} gru_ctx;

static void gru_step(void *p)
{
    gru_ctx *c = (gru_ctx *)p;
    check(ctr_encoder_zero_grad(c->enc), "zero_grad", "");
    check(ctr_encoder_forward(c->enc, c->y, c->x, GRU_BATCH, CTR_ENCODER_TRAIN), "forward",
          ctr_encoder_last_error(c->enc));
    check(ctr_encoder_backward(c->enc, NULL, c->dy), "backward", ctr_encoder_last_error(c->enc));
}

static void gru_floor(void *p)
{
    gru_ctx *c = (gru_ctx *)p;
    const int rows = GRU_BATCH * GRU_T, g3 = 3 * GRU_H;
    int t;
    gemm(0, 1, rows, g3, GRU_IN, c->a[0], c->a[1], c->a[2]);
    for (t = 1; t < GRU_T; t++)
        gemm(0, 1, GRU_BATCH, g3, GRU_H, c->a[3], c->a[4], c->a[5]);
    for (t = 1; t < GRU_T; t++)
        gemm(0, 0, GRU_BATCH, GRU_H, g3, c->a[5], c->a[4], c->a[3]);
    gemm(1, 0, g3, GRU_H, rows - 1, c->a[2], c->y, c->a[6]);
    gemm(1, 0, g3, GRU_IN, rows, c->a[2], c->a[0], c->a[7]);
}

static void gru_case(int threads, int reps)
{
    static const int64_t sizes[8] = {GRU_BATCH * GRU_T * GRU_IN, 3 * GRU_H * GRU_IN,
                                     GRU_BATCH * GRU_T * 3 * GRU_H, GRU_BATCH * GRU_H,
                                     3 * GRU_H * GRU_H, GRU_BATCH * 3 * GRU_H,
                                     3 * GRU_H * GRU_H, 3 * GRU_H * GRU_IN};
    int64_t dims[2] = {GRU_T, GRU_IN};
    gru_ctx c;
    counter cnt;
    ctr_allocator a;
    ctr_rng *rng = NULL;
    double ours, floor;
    int k;
    memset(&c, 0, sizeof(c));
    counting_allocator(&a, &cnt);
    check(ctr_rng_create(&rng, 9, NULL), "rng", "");
    check(ctr_encoder_create(&c.enc, dims, 2, 1, &a), "create", "");
    check(ctr_encoder_add_gru(c.enc, GRU_H), "gru", "");
    c.x = random_floats(rng, (int64_t)GRU_BATCH * GRU_T * GRU_IN, 1.0f);
    c.y = random_floats(rng, (int64_t)GRU_BATCH * GRU_T * GRU_H, 0.0f);
    c.dy = random_floats(rng, (int64_t)GRU_BATCH * GRU_T * GRU_H, 0.1f);
    for (k = 0; k < 8; k++)
        c.a[k] = random_floats(rng, sizes[k], 0.1f);
    ours = median_ms(gru_step, &c, reps, 1);
    floor = median_ms(gru_floor, &c, reps, 1);
    bench_report("gru_step", threads, ours, floor, peak_mib(&cnt));
    ctr_encoder_destroy(c.enc);
    ctr_rng_destroy(rng);
    free(c.x), free(c.y), free(c.dy);
    for (k = 0; k < 8; k++)
        free(c.a[k]);
}

/* ---- driver ---------------------------------------------------------------------- */

static const bench_entry CASES[] = {
    {"mlp_simclr_step", mlp_case},
    {"cnn_step", cnn_case},
    {"demo_cnn_step", demo_case},
    {"gru_step", gru_case},
};

int main(int argc, char **argv)
{
    return bench_main(argc, argv, CASES, sizeof(CASES) / sizeof(CASES[0]), 11);
}
