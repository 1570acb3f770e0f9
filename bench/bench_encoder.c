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
 *
 * Case mlp_simclr_step: MLP 784-512-512-128 (linear+BN+ReLU twice, linear,
 * L2-normalise), SimCLR batch 256 with two views, run as one forward of the
 * 512 concatenated views (as most SimCLR code does), backward, SGD step
 * (momentum 0.9, weight decay 1e-6). The loss is a stand-in: the gradient
 * fed to backward is dL/dz = z - target for a fixed unit-norm target, so
 * that only the encoder and the optimizer are timed. The floor is the eight
 * GEMMs of that step: three forward, three weight gradients, two input
 * gradients (the first layer's input gradient is not needed).
 * bench/torch_encoder.py times the same step in PyTorch.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "contrastive.h"

#if defined(CTR_BLAS_OPENBLAS)
void openblas_set_num_threads(int);
static void set_blas_threads(int t) { openblas_set_num_threads(t); }
#elif defined(CTR_BLAS_BLIS)
void bli_thread_set_num_threads(long);
static void set_blas_threads(int t) { bli_thread_set_num_threads(t); }
#else
static void set_blas_threads(int t) { (void)t; }
#endif

/* ---- a counting allocator: peak bytes the library holds ---------------- */

typedef struct counter {
    size_t live, peak;
} counter;

static void *count_alloc(void *user, size_t size, size_t align)
{
    counter *c = (counter *)user;
    void *p = NULL;
    if (posix_memalign(&p, align, size) != 0)
        return NULL;
    c->live += size;
    if (c->live > c->peak)
        c->peak = c->live;
    return p;
}

static void count_free(void *user, void *ptr, size_t size)
{
    counter *c = (counter *)user;
    c->live -= size;
    free(ptr);
}

/* ---- timing ---------------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef void (*bench_fn)(void *ctx);

static double median_ms(bench_fn f, void *ctx, int reps)
{
    double *t = (double *)malloc((size_t)reps * sizeof(double)), m;
    int i;
    f(ctx);
    f(ctx);
    for (i = 0; i < reps; i++) {
        double t0 = now_ms();
        f(ctx);
        t[i] = now_ms() - t0;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_double);
    m = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
    free(t);
    return m;
}

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
} mlp_ctx;

static void mlp_step(void *p)
{
    mlp_ctx *c = (mlp_ctx *)p;
    int64_t i;
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
    counter cnt = {0, 0};
    ctr_allocator a;
    ctr_rng *rng = NULL;
    double ours, floor;
    int64_t i;
    int l;
    memset(&c, 0, sizeof(c));
    ctr_allocator_init(&a);
    a.user = &cnt;
    a.alloc = count_alloc;
    a.free = count_free;
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
    ours = median_ms(mlp_step, &c, reps);
    floor = median_ms(mlp_floor, &c, reps);
    printf("{\"case\":\"mlp_simclr_step\",\"threads\":%d,\"ours_ms\":%.3f,\"floor_ms\":%.3f,"
           "\"ours_extra_mib\":%.3f}\n",
           threads, ours, floor, (double)cnt.peak / (1024.0 * 1024.0));
    fflush(stdout);
    ctr_optimizer_destroy(c.opt);
    ctr_encoder_destroy(c.enc);
    ctr_rng_destroy(rng);
    free(c.x), free(c.target), free(c.z), free(c.dz);
    for (l = 0; l < 3; l++)
        free(c.w[l]), free(c.gw[l]), free(c.dact[l]), free(c.act[l + 1]);
}

/* ---- driver ---------------------------------------------------------------------- */

typedef struct bench_case {
    const char *name;
    void (*run)(int threads, int reps);
} bench_case;

static const bench_case CASES[] = {
    {"mlp_simclr_step", mlp_case},
};

static int selected(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;
    if (list == NULL || *list == '\0')
        return 1;
    while ((p = strstr(p, name)) != NULL) {
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
        p += n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 1, reps = 11, i;
    const char *cases = NULL;
    size_t c;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--cases") == 0 && i + 1 < argc)
            cases = argv[++i];
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s --threads T [--cases a,b] [--reps N]\n", argv[0]);
            return 2;
        }
    }
    if (threads < 1 || reps < 1)
        return 2;
    set_blas_threads(threads);
    for (c = 0; c < sizeof(CASES) / sizeof(CASES[0]); c++)
        if (selected(cases, CASES[c].name))
            CASES[c].run(threads, reps);
    return 0;
}
