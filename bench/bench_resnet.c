/*
 * bench_resnet.c - ResNet-18 (CIFAR form) against the bare cBLAS GEMMs its
 * math needs ("floor"), with the library's extra memory.
 *
 *   bench_resnet --threads T [--cases a,b] [--reps N] [--list]
 *
 * Prints one JSON object per case and line (bench/run.py merges them with
 * bench/torch_resnet.py's):
 *   {"case":..., "threads":T, "ours_ms":x, "floor_ms":y, "ours_extra_mib":z}
 *
 * The network: conv3x3 64 (no bias) + BN + ReLU on 3 x 32 x 32 (no
 * max-pool), four stages of two basic blocks (64, 128/2, 256/2, 512/2
 * channels; projection shortcuts where the shape changes), global average
 * pool, then SimCLR's projection head linear 512-512 + BN + ReLU + linear
 * 128. Batch norm eps 1e-5, momentum 0.1.
 *
 * Case resnet18_cifar_step: one SimCLR step on B = 64 images x 2 views (one
 * forward of 128, as most SimCLR code does): forward, NT-Xent (tau 0.5,
 * ctr_objective_ntxent) on the two halves, backward (no input gradient),
 * SGD step (momentum 0.9, weight decay 5e-4). The floor is every
 * convolution's three GEMMs over the whole batch (im2col shapes: output,
 * weight gradient, column gradient; the stem has no column gradient) and
 * the head's linear layers'.
 *
 * Case resnet18_key_forward (and resnet_small_key_forward, the demo's
 * small ResNet on 1 x 28 x 28 at batch 256): MoCo's key encoder: a forward of the 128
 * images with batch statistics and no backward. ours_ms is
 * CTR_ENCODER_TRAIN | CTR_ENCODER_NO_GRAD; train_ms the plain
 * CTR_ENCODER_TRAIN forward, timed alternately in the same loop;
 * ours_extra_mib the no-grad encoder's bytes (parameters, statistics,
 * workspace), train_extra_mib those of the train forward; floor_ms the
 * forward GEMMs.
 */
#include <cblas.h>

#include "bench_util.h"

#define RN_VIEWS 64
#define RN_BATCH (2 * RN_VIEWS)
#define RN_IN (3 * 32 * 32)
#define RN_OUT 128
#define RN_MAX_GEMMS 96

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
    if (x == NULL) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    check(ctr_rng_normal(rng, x, n, 0.0f, std), "rng", "");
    return x;
}

static double median_of(double *t, int n)
{
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* ---- CPU time ------------------------------------------------------------------ */

/* The process's CPU time in ms (all threads): on a machine shared with
 * other jobs, the CPU time of a one-thread step measures its work where
 * wall time measures the scheduler. */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

typedef struct cpu_timed {
    bench_fn f;
    void *ctx;
    double cpu[64];
    int count;
} cpu_timed;

/* Calls the wrapped function and records its CPU time (median_ms gives
 * the wall time of the same calls). */
static void cpu_wrap(void *p)
{
    cpu_timed *c = (cpu_timed *)p;
    double t0 = cpu_ms();
    c->f(c->ctx);
    if (c->count < 64)
        c->cpu[c->count++] = cpu_ms() - t0;
}

/* ---- the network and its GEMMs ---------------------------------------------- */

/* One GEMM of the floor: C (m x n) = op(A) op(B), inner size k. */
typedef struct gemm_shape {
    int ta, tb, m, n, k;
} gemm_shape;

typedef struct floor_plan {
    gemm_shape g[RN_MAX_GEMMS];
    int count, forward_count; /* the first forward_count are the forward's */
    int batch;
    float *a, *b, *c;
} floor_plan;

static void plan_add(floor_plan *p, int ta, int tb, int m, int n, int k)
{
    gemm_shape s = {ta, tb, m, n, k};
    p->g[p->count++] = s;
}

/* A convolution (out x ckk weights over cols of n_pix columns): forward
 * GEMM now, the two backward ones with plan_backward. */
static void plan_conv(floor_plan *p, int out, int ckk, int n_pix)
{
    plan_add(p, 0, 0, out, n_pix, ckk);
}

static void add_conv(ctr_encoder *enc, floor_plan *p, int64_t out, int64_t k, int64_t stride,
                     int64_t pad)
{
    int64_t d[3];
    int32_t nd;
    check(ctr_encoder_shape(enc, d, &nd, NULL, CTR_ENCODER_OUTPUT), "shape", "");
    check(ctr_encoder_add_conv2d(enc, out, k, stride, pad, 0), "conv", ctr_encoder_last_error(enc));
    plan_conv(p, (int)out, (int)(d[0] * k * k),
              (int)(p->batch * ((d[1] + 2 * pad - k) / stride + 1) *
                    ((d[2] + 2 * pad - k) / stride + 1)));
}

static void add_bn_relu(ctr_encoder *enc, int relu)
{
    check(ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1), "bn", ctr_encoder_last_error(enc));
    if (relu)
        check(ctr_encoder_add_activation(enc, CTR_LAYER_RELU), "relu", "");
}

static void basic_block(ctr_encoder *enc, floor_plan *p, int64_t out, int64_t stride)
{
    int64_t source, d[3];
    int32_t nd;
    check(ctr_encoder_last_layer(enc, &source), "last_layer", "");
    check(ctr_encoder_shape(enc, d, &nd, NULL, CTR_ENCODER_OUTPUT), "shape", "");
    add_conv(enc, p, out, 3, stride, 1);
    add_bn_relu(enc, 1);
    add_conv(enc, p, out, 3, 1, 1);
    add_bn_relu(enc, 0);
    if (stride != 1 || d[0] != out) {
        check(ctr_encoder_add_residual(enc, source, CTR_SHORTCUT_PROJECTION, stride, 1e-5, 0.1),
              "residual", ctr_encoder_last_error(enc));
        plan_conv(p, (int)out, (int)d[0],
                  (int)(p->batch * ((d[1] - 1) / stride + 1) * ((d[2] - 1) / stride + 1)));
    } else {
        check(ctr_encoder_add_residual(enc, source, CTR_SHORTCUT_IDENTITY, 1, 0.0, 0.0),
              "residual", ctr_encoder_last_error(enc));
    }
    check(ctr_encoder_add_activation(enc, CTR_LAYER_RELU), "relu", "");
}

static void add_linear(ctr_encoder *enc, floor_plan *p, int in, int out)
{
    check(ctr_encoder_add_linear(enc, out, 1), "linear", ctr_encoder_last_error(enc));
    plan_add(p, 0, 1, p->batch, out, in);
}

/* The backward GEMMs of every forward one: weight gradient and input (or
 * column) gradient, but none for the stem's input. */
static void plan_backward(floor_plan *p)
{
    int i;
    p->forward_count = p->count;
    for (i = p->forward_count - 1; i >= 0; i--) {
        gemm_shape f = p->g[i];
        if (f.tb == 0) { /* convolution: W (m x k) . cols (k x n) */
            plan_add(p, 0, 1, f.m, f.k, f.n);
            if (i > 0)
                plan_add(p, 1, 0, f.k, f.n, f.m);
        } else { /* linear: X (m x k) . W^T */
            plan_add(p, 1, 0, f.n, f.k, f.m);
            plan_add(p, 0, 0, f.m, f.k, f.n);
        }
    }
}

static ctr_encoder *build_resnet18(floor_plan *p, const ctr_allocator *a)
{
    int64_t dims[3] = {3, 32, 32};
    ctr_encoder *enc = NULL;
    int stage, b;
    memset(p, 0, sizeof(*p));
    p->batch = RN_BATCH;
    check(ctr_encoder_create(&enc, dims, 3, 1, a), "create", "");
    add_conv(enc, p, 64, 3, 1, 1);
    add_bn_relu(enc, 1);
    for (stage = 0; stage < 4; stage++)
        for (b = 0; b < 2; b++)
            basic_block(enc, p, (int64_t)64 << stage, stage > 0 && b == 0 ? 2 : 1);
    check(ctr_encoder_add_global_avgpool(enc), "gap", "");
    add_linear(enc, p, 512, 512);
    add_bn_relu(enc, 1);
    add_linear(enc, p, 512, RN_OUT);
    plan_backward(p);
    return enc;
}

/* The demo's small ResNet (examples/demo/trainer.c) on 1 x 28 x 28, batch
 * SMALL_BATCH: 3x3 stem of 16 with stride 2, basic blocks of 16, 32/2 and
 * 64/2 channels, global pool, head linear 64-128 + BN + ReLU + linear 64. */
#define SMALL_BATCH 256

static ctr_encoder *build_resnet_small(floor_plan *p, const ctr_allocator *a)
{
    int64_t dims[3] = {1, 28, 28};
    ctr_encoder *enc = NULL;
    memset(p, 0, sizeof(*p));
    p->batch = SMALL_BATCH;
    check(ctr_encoder_create(&enc, dims, 3, 1, a), "create", "");
    add_conv(enc, p, 16, 3, 2, 1);
    add_bn_relu(enc, 1);
    basic_block(enc, p, 16, 1);
    basic_block(enc, p, 32, 2);
    basic_block(enc, p, 64, 2);
    check(ctr_encoder_add_global_avgpool(enc), "gap", "");
    add_linear(enc, p, 64, 128);
    add_bn_relu(enc, 1);
    add_linear(enc, p, 128, 64);
    plan_backward(p);
    return enc;
}

static void floor_buffers(floor_plan *p, ctr_rng *rng)
{
    int64_t ma = 0, mb = 0, mc = 0;
    int i;
    for (i = 0; i < p->count; i++) {
        const gemm_shape *s = &p->g[i];
        int64_t a = (int64_t)s->m * s->k, b = (int64_t)s->k * s->n, c = (int64_t)s->m * s->n;
        ma = a > ma ? a : ma;
        mb = b > mb ? b : mb;
        mc = c > mc ? c : mc;
    }
    p->a = random_floats(rng, ma, 0.05f);
    p->b = random_floats(rng, mb, 1.0f);
    p->c = random_floats(rng, mc, 0.0f);
}

static void run_gemms(const floor_plan *p, int from, int to)
{
    int i;
    for (i = from; i < to; i++) {
        const gemm_shape *s = &p->g[i];
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                    s->tb ? CblasTrans : CblasNoTrans, s->m, s->n, s->k, 1.0f, p->a,
                    s->ta ? s->m : s->k, p->b, s->tb ? s->k : s->n, 0.0f, p->c, s->n);
    }
}

static void floor_all(void *ctx)
{
    const floor_plan *p = (const floor_plan *)ctx;
    run_gemms(p, 0, p->count);
}

static void floor_forward(void *ctx)
{
    const floor_plan *p = (const floor_plan *)ctx;
    run_gemms(p, 0, p->forward_count);
}

/* ---- the SimCLR step ------------------------------------------------------------ */

typedef struct step_ctx {
    ctr_encoder *enc;
    ctr_optimizer *opt;
    ctr_objective *obj;
    float *x, *z, *dz;
} step_ctx;

static void simclr_step(void *p)
{
    step_ctx *c = (step_ctx *)p;
    double loss;
    check(ctr_encoder_zero_grad(c->enc), "zero_grad", "");
    check(ctr_encoder_forward(c->enc, c->z, c->x, RN_BATCH, CTR_ENCODER_TRAIN), "forward",
          ctr_encoder_last_error(c->enc));
    check(ctr_objective_ntxent(c->obj, &loss, c->z, RN_OUT, c->z + RN_VIEWS * RN_OUT, RN_OUT,
                               RN_VIEWS, RN_OUT, NULL, c->dz, c->dz + RN_VIEWS * RN_OUT),
          "ntxent", ctr_objective_last_error(c->obj));
    check(ctr_encoder_backward(c->enc, NULL, c->dz), "backward", ctr_encoder_last_error(c->enc));
    check(ctr_optimizer_step(c->opt), "step", ctr_optimizer_last_error(c->opt));
}

static void step_case(int threads, int reps)
{
    step_ctx c;
    floor_plan plan;
    cpu_timed ours_cpu, floor_cpu;
    counter cnt;
    ctr_allocator a;
    ctr_rng *rng = NULL;
    double ours, floor;
    memset(&c, 0, sizeof(c));
    memset(&ours_cpu, 0, sizeof(ours_cpu));
    memset(&floor_cpu, 0, sizeof(floor_cpu));
    counting_allocator(&a, &cnt);
    check(ctr_rng_create(&rng, 11, NULL), "rng", "");
    c.enc = build_resnet18(&plan, &a);
    check(ctr_optimizer_create_for_encoder(&c.opt, CTR_OPTIMIZER_SGD, c.enc, &a), "opt", "");
    check(ctr_optimizer_set_f64(c.opt, CTR_OPTIMIZER_P_LR, 0.05), "lr", "");
    check(ctr_optimizer_set_f64(c.opt, CTR_OPTIMIZER_P_MOMENTUM, 0.9), "mu", "");
    check(ctr_optimizer_set_f64(c.opt, CTR_OPTIMIZER_P_WEIGHT_DECAY, 5e-4), "wd", "");
    check(ctr_objective_create(&c.obj, CTR_OBJECTIVE_NTXENT, &a), "objective", "");
    check(ctr_objective_set_f64(c.obj, CTR_OBJECTIVE_P_TEMPERATURE, 0.5), "tau", "");
    c.x = random_floats(rng, (int64_t)RN_BATCH * RN_IN, 1.0f);
    c.z = random_floats(rng, (int64_t)RN_BATCH * RN_OUT, 0.0f);
    c.dz = random_floats(rng, (int64_t)RN_BATCH * RN_OUT, 0.0f);
    ours_cpu.f = simclr_step;
    ours_cpu.ctx = &c;
    ours = median_ms(cpu_wrap, &ours_cpu, reps, 1);
    floor_buffers(&plan, rng);
    floor_cpu.f = floor_all;
    floor_cpu.ctx = &plan;
    floor = median_ms(cpu_wrap, &floor_cpu, reps, 1);
    printf("{\"case\":\"resnet18_cifar_step\",\"threads\":%d,\"ours_ms\":%.3f,"
           "\"floor_ms\":%.3f,\"ours_extra_mib\":%.3f,\"ours_cpu_ms\":%.3f,"
           "\"floor_cpu_ms\":%.3f}\n",
           threads, ours, floor, peak_mib(&cnt), median_of(ours_cpu.cpu + 2, ours_cpu.count - 2),
           median_of(floor_cpu.cpu + 2, floor_cpu.count - 2));
    fflush(stdout);
    ctr_objective_destroy(c.obj);
    ctr_optimizer_destroy(c.opt);
    ctr_encoder_destroy(c.enc);
    ctr_rng_destroy(rng);
    free(c.x), free(c.z), free(c.dz), free(plan.a), free(plan.b), free(plan.c);
}

/* ---- the key encoder's forward ------------------------------------------------ */

/* Wall time of one forward of n samples; its CPU time in *cpu. */
static double timed_forward(ctr_encoder *enc, float *z, const float *x, int64_t n, int32_t mode,
                            double *cpu)
{
    double t0 = now_ms(), c0 = cpu_ms();
    check(ctr_encoder_forward(enc, z, x, n, mode), "forward", ctr_encoder_last_error(enc));
    *cpu = cpu_ms() - c0;
    return now_ms() - t0;
}

typedef ctr_encoder *(*builder)(floor_plan *p, const ctr_allocator *a);

/* A key encoder's forward, no-grad against train, alternately. */
static void key_compare(const char *name, builder build, int threads, int reps)
{
    floor_plan plan;
    counter cnt_key, cnt_train;
    ctr_allocator a_key, a_train;
    ctr_encoder *key, *train;
    ctr_rng *rng = NULL;
    double *tk = (double *)malloc((size_t)reps * sizeof(double));
    double *tt = (double *)malloc((size_t)reps * sizeof(double)), floor;
    double *ck = (double *)malloc((size_t)reps * sizeof(double));
    double *ct = (double *)malloc((size_t)reps * sizeof(double));
    float *x, *z;
    size_t ws_key, ws_train;
    int64_t n, in, out, d[3];
    int32_t nd;
    int i;
    counting_allocator(&a_key, &cnt_key);
    counting_allocator(&a_train, &cnt_train);
    check(ctr_rng_create(&rng, 12, NULL), "rng", "");
    key = build(&plan, &a_key);
    train = build(&plan, &a_train);
    n = plan.batch;
    check(ctr_encoder_shape(key, d, &nd, &in, CTR_ENCODER_INPUT), "shape", "");
    check(ctr_encoder_shape(key, d, &nd, &out, CTR_ENCODER_OUTPUT), "shape", "");
    x = random_floats(rng, n * in, 1.0f);
    z = random_floats(rng, n * out, 0.0f);
    for (i = 0; i < 2; i++) { /* warm-up */
        timed_forward(key, z, x, n, CTR_ENCODER_TRAIN | CTR_ENCODER_NO_GRAD, &ck[0]);
        timed_forward(train, z, x, n, CTR_ENCODER_TRAIN, &ct[0]);
    }
    for (i = 0; i < reps; i++) { /* alternately, so that load hits both alike */
        tk[i] = timed_forward(key, z, x, n, CTR_ENCODER_TRAIN | CTR_ENCODER_NO_GRAD, &ck[i]);
        tt[i] = timed_forward(train, z, x, n, CTR_ENCODER_TRAIN, &ct[i]);
    }
    floor_buffers(&plan, rng);
    floor = median_ms(floor_forward, &plan, reps, 1);
    check(ctr_encoder_workspace_size(key, &ws_key, n, CTR_ENCODER_TRAIN | CTR_ENCODER_NO_GRAD),
          "ws", "");
    check(ctr_encoder_workspace_size(train, &ws_train, n, CTR_ENCODER_TRAIN), "ws", "");
    printf("{\"case\":\"%s\",\"threads\":%d,\"ours_ms\":%.3f,"
           "\"floor_ms\":%.3f,\"ours_extra_mib\":%.3f,\"train_ms\":%.3f,"
           "\"train_extra_mib\":%.3f,\"workspace_mib\":%.3f,\"train_workspace_mib\":%.3f,"
           "\"ours_cpu_ms\":%.3f,\"train_cpu_ms\":%.3f}\n",
           name, threads, median_of(tk, reps), floor, peak_mib(&cnt_key), median_of(tt, reps),
           peak_mib(&cnt_train), (double)ws_key / 1048576.0, (double)ws_train / 1048576.0,
           median_of(ck, reps), median_of(ct, reps));
    fflush(stdout);
    ctr_encoder_destroy(key);
    ctr_encoder_destroy(train);
    ctr_rng_destroy(rng);
    free(tk), free(tt), free(ck), free(ct), free(x), free(z), free(plan.a), free(plan.b), free(plan.c);
}

static void key_case(int threads, int reps)
{
    key_compare("resnet18_key_forward", build_resnet18, threads, reps);
}

static void small_key_case(int threads, int reps)
{
    key_compare("resnet_small_key_forward", build_resnet_small, threads, reps);
}

/* ---- driver ---------------------------------------------------------------------- */

static const bench_entry CASES[] = {
    {"resnet18_cifar_step", step_case},
    {"resnet18_key_forward", key_case},
    {"resnet_small_key_forward", small_key_case},
};

int main(int argc, char **argv)
{
    return bench_main(argc, argv, CASES, sizeof(CASES) / sizeof(CASES[0]), 7);
}
