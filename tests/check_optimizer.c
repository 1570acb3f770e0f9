/*
 * check_optimizer.c - SGD / AdamW / LARS against PyTorch golden values
 * (tests/gen_encoder.py) and a double-precision reference written here;
 * binding to an encoder, the cosine schedule, checkpoints, bad input and
 * allocation failures.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/checkpoint.h"
#include "golden_util.h"
#include "test_util.h"

#define GOLDEN "encoder_golden.txt"
#define NP 808

/* The golden MLP's tensors: sizes and bias/norm flags, in flat order. */
static const int64_t SIZES[10] = {320, 16, 16, 16, 256, 16, 16, 16, 128, 8};
static const int32_t EXCLUDED[10] = {0, 1, 1, 1, 0, 1, 1, 1, 0, 1};

static ctr_encoder *golden_mlp(const ctr_allocator *a)
{
    ctr_encoder *enc = NULL;
    int64_t in = 20;
    ck_assert_int_eq(ctr_encoder_create(&enc, &in, 1, 1, a), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(enc, 16, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(enc, CTR_LAYER_RELU), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(enc, 16, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(enc, CTR_LAYER_GELU), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(enc, 8, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_l2norm(enc, 1e-12), CTR_OK);
    return enc;
}

static void assert_all_close(const float *got, const float *want, long n, double rtol,
                             double atol)
{
    long i;
    for (i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= atol + rtol * fabs(want[i]),
                      "[%ld] %.9g, expected %.9g", i, (double)got[i], (double)want[i]);
}

static void set_f(ctr_optimizer *opt, int32_t p, double v)
{
    ck_assert_msg(ctr_optimizer_set_f64(opt, p, v) == CTR_OK, "%s",
                  ctr_optimizer_last_error(opt));
}

/* Configures opt as the generator's run `name`. */
static void configure(ctr_optimizer *opt, const char *name)
{
    if (strcmp(name, "sgd") == 0) {
        set_f(opt, CTR_OPTIMIZER_P_LR, 0.1);
        set_f(opt, CTR_OPTIMIZER_P_MOMENTUM, 0.9);
        set_f(opt, CTR_OPTIMIZER_P_WEIGHT_DECAY, 1e-4);
        ck_assert_int_eq(ctr_optimizer_set_i64(opt, CTR_OPTIMIZER_P_NESTEROV, 1), CTR_OK);
    } else if (strcmp(name, "sgd_plain") == 0) {
        set_f(opt, CTR_OPTIMIZER_P_LR, 0.1);
        set_f(opt, CTR_OPTIMIZER_P_MOMENTUM, 0.9);
        set_f(opt, CTR_OPTIMIZER_P_DAMPENING, 0.1);
        set_f(opt, CTR_OPTIMIZER_P_WEIGHT_DECAY, 1e-3);
    } else if (strcmp(name, "adamw") == 0) {
        set_f(opt, CTR_OPTIMIZER_P_LR, 1e-2);
        set_f(opt, CTR_OPTIMIZER_P_WEIGHT_DECAY, 0.05);
    } else {
        set_f(opt, CTR_OPTIMIZER_P_LR, 0.5);
        set_f(opt, CTR_OPTIMIZER_P_WEIGHT_DECAY, 1e-4);
    }
}

static int32_t kind_of(const char *name)
{
    if (strncmp(name, "sgd", 3) == 0)
        return CTR_OPTIMIZER_SGD;
    return strcmp(name, "adamw") == 0 ? CTR_OPTIMIZER_ADAMW : CTR_OPTIMIZER_LARS;
}

START_TEST(test_golden_two_steps)
{
    static const char *runs[4] = {"sgd", "sgd_plain", "adamw", "lars"};
    long n;
    float *start = golden_read(GOLDEN, "params", &n);
    float *grads = golden_read(GOLDEN, "grads", &n);
    float p[NP];
    int r, s;
    for (r = 0; r < 4; r++) {
        ctr_optimizer *opt = NULL;
        float *want = golden_read(GOLDEN, runs[r], &n);
        ck_assert_int_eq(ctr_optimizer_create(&opt, kind_of(runs[r]), NP, NULL), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_set_segments(opt, SIZES, EXCLUDED, 10), CTR_OK);
        configure(opt, runs[r]);
        memcpy(p, start, sizeof(p));
        for (s = 0; s < 2; s++)
            ck_assert_int_eq(ctr_optimizer_step_buffer(opt, p, grads, NP), CTR_OK);
        assert_all_close(p, want, NP, 1e-5, 1e-6);
        free(want);
        ctr_optimizer_destroy(opt);
    }
    free(start);
    free(grads);
}
END_TEST

START_TEST(test_bound_equals_buffer)
{
    /* an optimizer bound to the encoder takes the tensors from it: its
     * steps equal a buffer optimizer's with the same segments */
    long n;
    float *x = golden_read(GOLDEN, "x", &n), *dy = golden_read(GOLDEN, "dy", &n);
    float *start = golden_read(GOLDEN, "params", &n);
    float y[48], g[NP], p[NP], q[NP];
    int32_t kinds[3] = {CTR_OPTIMIZER_SGD, CTR_OPTIMIZER_ADAMW, CTR_OPTIMIZER_LARS};
    int k, s;
    for (k = 0; k < 3; k++) {
        ctr_encoder *enc = golden_mlp(NULL);
        ctr_optimizer *bound = NULL, *raw = NULL;
        ck_assert_int_eq(ctr_encoder_set_params(enc, start, NP), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_create_for_encoder(&bound, kinds[k], enc, NULL), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_create(&raw, kinds[k], NP, NULL), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_set_segments(raw, SIZES, EXCLUDED, 10), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_set_segments(bound, SIZES, EXCLUDED, 10),
                         CTR_E_INVALID_ARG);
        configure(bound, k == 0 ? "sgd" : k == 1 ? "adamw" : "lars");
        configure(raw, k == 0 ? "sgd" : k == 1 ? "adamw" : "lars");
        memcpy(q, start, sizeof(q));
        for (s = 0; s < 3; s++) {
            ck_assert_int_eq(ctr_encoder_zero_grad(enc), CTR_OK);
            ck_assert_int_eq(ctr_encoder_forward(enc, y, x, 6, CTR_ENCODER_TRAIN), CTR_OK);
            ck_assert_int_eq(ctr_encoder_backward(enc, NULL, dy), CTR_OK);
            ck_assert_int_eq(ctr_encoder_get_grads(enc, g, NP), CTR_OK);
            ck_assert_int_eq(ctr_encoder_get_params(enc, q, NP), CTR_OK);
            ck_assert_int_eq(ctr_optimizer_step(bound), CTR_OK);
            ck_assert_int_eq(ctr_optimizer_step_buffer(raw, q, g, NP), CTR_OK);
            ck_assert_int_eq(ctr_encoder_get_params(enc, p, NP), CTR_OK);
            ck_assert_int_eq(memcmp(p, q, sizeof(p)), 0);
        }
        ctr_optimizer_destroy(bound);
        ctr_optimizer_destroy(raw);
        ctr_encoder_destroy(enc);
    }
    free(x), free(dy), free(start);
}
END_TEST

/* ---- a double-precision reference over random data ----------------------- */

typedef struct ref_cfg {
    int32_t kind;
    double lr, mu, damp, wd, b1, b2, eps, eta;
    int nesterov, exclude;
} ref_cfg;

static void ref_steps(const ref_cfg *c, double *p, const double *g, int64_t nseg,
                      const int64_t *sizes, const int32_t *excl, int steps)
{
    int64_t n = 0, i, k, off;
    double *m, *v;
    int t;
    for (k = 0; k < nseg; k++)
        n += sizes[k];
    m = (double *)calloc((size_t)n, sizeof(double));
    v = (double *)calloc((size_t)n, sizeof(double));
    for (t = 1; t <= steps; t++)
        for (k = 0, off = 0; k < nseg; off += sizes[k], k++) {
            int dec = !(c->exclude && excl[k]);
            double wd = dec ? c->wd : 0, wn = 0, gn = 0, trust = 1;
            for (i = off; i < off + sizes[k]; i++) {
                double d = g[i] + wd * p[i];
                wn += p[i] * p[i];
                gn += d * d;
            }
            if (c->kind == CTR_OPTIMIZER_LARS && dec && wn > 0 && gn > 0)
                trust = c->eta * sqrt(wn) / sqrt(gn);
            for (i = off; i < off + sizes[k]; i++) {
                if (c->kind == CTR_OPTIMIZER_SGD) {
                    double d = g[i] + wd * p[i];
                    m[i] = t == 1 ? d : c->mu * m[i] + (1 - c->damp) * d;
                    if (c->mu == 0)
                        p[i] -= c->lr * d;
                    else
                        p[i] -= c->lr * (c->nesterov ? d + c->mu * m[i] : m[i]);
                } else if (c->kind == CTR_OPTIMIZER_ADAMW) {
                    p[i] *= 1 - c->lr * wd;
                    m[i] = c->b1 * m[i] + (1 - c->b1) * g[i];
                    v[i] = c->b2 * v[i] + (1 - c->b2) * g[i] * g[i];
                    p[i] -= c->lr / (1 - pow(c->b1, t)) * m[i] /
                            (sqrt(v[i]) / sqrt(1 - pow(c->b2, t)) + c->eps);
                } else {
                    double d = g[i] + wd * p[i];
                    m[i] = c->mu * m[i] + c->lr * trust * d;
                    p[i] -= c->nesterov ? c->mu * m[i] + c->lr * trust * d : m[i];
                }
            }
        }
    free(m);
    free(v);
}

static void check_against_reference(const ref_cfg *c)
{
    enum { N = 37 };
    static const int64_t sizes[4] = {12, 5, 19, 1};
    static const int32_t excl[4] = {0, 1, 0, 1};
    ctr_optimizer *opt = NULL;
    ctr_rng *rng = NULL;
    float p[N], g[N];
    double pd[N], gd[N];
    int i, t;
    ck_assert_int_eq(ctr_rng_create(&rng, 17, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(rng, p, N, 0.0f, 1.0f), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(rng, g, N, 0.0f, 0.5f), CTR_OK);
    for (i = 0; i < N; i++) {
        pd[i] = p[i];
        gd[i] = g[i];
    }
    ck_assert_int_eq(ctr_optimizer_create(&opt, c->kind, N, NULL), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_set_segments(opt, sizes, excl, 4), CTR_OK);
    set_f(opt, CTR_OPTIMIZER_P_LR, c->lr);
    set_f(opt, CTR_OPTIMIZER_P_MOMENTUM, c->mu);
    set_f(opt, CTR_OPTIMIZER_P_DAMPENING, c->damp);
    set_f(opt, CTR_OPTIMIZER_P_WEIGHT_DECAY, c->wd);
    set_f(opt, CTR_OPTIMIZER_P_BETA1, c->b1);
    set_f(opt, CTR_OPTIMIZER_P_BETA2, c->b2);
    set_f(opt, CTR_OPTIMIZER_P_EPS, c->eps);
    set_f(opt, CTR_OPTIMIZER_P_TRUST_COEF, c->eta);
    ck_assert_int_eq(ctr_optimizer_set_i64(opt, CTR_OPTIMIZER_P_NESTEROV, c->nesterov), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_set_i64(opt, CTR_OPTIMIZER_P_EXCLUDE_BIAS_NORM, c->exclude),
                     CTR_OK);
    for (t = 0; t < 3; t++)
        ck_assert_int_eq(ctr_optimizer_step_buffer(opt, p, g, N), CTR_OK);
    ref_steps(c, pd, gd, 4, sizes, excl, 3);
    for (i = 0; i < N; i++)
        ck_assert_close(p[i], pd[i], 1e-5, 1e-6);
    ctr_optimizer_destroy(opt);
    ctr_rng_destroy(rng);
}

START_TEST(test_rules_against_reference)
{
    ref_cfg c = {CTR_OPTIMIZER_SGD, 0.05, 0.9, 0, 1e-2, 0.9, 0.999, 1e-8, 0.001, 1, 1};
    check_against_reference(&c); /* nesterov, decay only on weights */
    c.nesterov = 0;
    c.damp = 0.3;
    c.exclude = 0;
    check_against_reference(&c);
    c.mu = 0;
    check_against_reference(&c); /* plain SGD */
    c.kind = CTR_OPTIMIZER_ADAMW;
    c.b1 = 0.8;
    c.b2 = 0.99;
    c.eps = 1e-6;
    check_against_reference(&c);
    c.exclude = 1;
    check_against_reference(&c);
    c.kind = CTR_OPTIMIZER_LARS;
    c.mu = 0.9;
    c.lr = 1.0;
    c.eta = 0.02;
    check_against_reference(&c);
    c.nesterov = 1;
    c.exclude = 0;
    check_against_reference(&c);
}
END_TEST

START_TEST(test_cosine_schedule)
{
    double lr;
    ck_assert_int_eq(ctr_optimizer_cosine_lr(&lr, 0, 10, 110, 1.0, 0.0), CTR_OK);
    ck_assert_close(lr, 0.1, 1e-12, 0);
    ck_assert_int_eq(ctr_optimizer_cosine_lr(&lr, 9, 10, 110, 1.0, 0.0), CTR_OK);
    ck_assert_close(lr, 1.0, 1e-12, 0);
    ck_assert_int_eq(ctr_optimizer_cosine_lr(&lr, 10, 10, 110, 1.0, 0.0), CTR_OK);
    ck_assert_close(lr, 1.0, 1e-12, 0);
    ck_assert_int_eq(ctr_optimizer_cosine_lr(&lr, 60, 10, 110, 1.0, 0.0), CTR_OK);
    ck_assert_close(lr, 0.5, 1e-12, 1e-15);
    ck_assert_int_eq(ctr_optimizer_cosine_lr(&lr, 35, 10, 110, 0.3, 0.1), CTR_OK);
    ck_assert_close(lr, 0.1 + 0.2 * 0.5 * (1 + cos(3.14159265358979323846 * 0.25)), 1e-12, 0);
    ck_assert_int_eq(ctr_optimizer_cosine_lr(&lr, 500, 0, 110, 1.0, 0.01), CTR_OK);
    ck_assert_close(lr, 0.01, 1e-12, 0);
    ck_assert_int_eq(ctr_optimizer_cosine_lr(NULL, 0, 0, 1, 1, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_cosine_lr(&lr, -1, 0, 1, 1, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_cosine_lr(&lr, 0, 5, 5, 1, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_cosine_lr(&lr, 0, 0, 5, NAN, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_cosine_lr(&lr, 0, 0, 5, 1, -1), CTR_E_INVALID_ARG);
}
END_TEST

START_TEST(test_save_load_resumes_exactly)
{
    int32_t kinds[3] = {CTR_OPTIMIZER_SGD, CTR_OPTIMIZER_ADAMW, CTR_OPTIMIZER_LARS};
    long n;
    float *grads = golden_read(GOLDEN, "grads", &n), *start = golden_read(GOLDEN, "params", &n);
    float p[NP], q[NP], base[NP];
    unsigned char *buf;
    char path[256];
    int k;
    for (k = 0; k < 3; k++) {
        ctr_optimizer *opt = NULL, *a = NULL, *b = NULL;
        size_t size = 0, i, stride = getenv("CTR_TEST_VALGRIND") != NULL ? 97 : 13;
        int64_t step;
        double lr;
        ck_assert_int_eq(ctr_optimizer_create(&opt, kinds[k], NP, NULL), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_set_segments(opt, SIZES, EXCLUDED, 10), CTR_OK);
        configure(opt, k == 0 ? "sgd" : k == 1 ? "adamw" : "lars");
        memcpy(p, start, sizeof(p));
        ck_assert_int_eq(ctr_optimizer_step_buffer(opt, p, grads, NP), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_save_buffer(opt, NULL, 0, &size), CTR_OK);
        buf = (unsigned char *)malloc(size);
        ck_assert_int_eq(ctr_optimizer_save_buffer(opt, buf, size, &size), CTR_OK);
        test_temp_path(path, sizeof(path), "opt.ckpt");
        ck_assert_int_eq(ctr_optimizer_save(opt, path), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_load_buffer(&a, buf, size, NULL, NULL), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_load(&b, path, NULL, NULL), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_get_i64(a, CTR_OPTIMIZER_P_STEP, &step), CTR_OK);
        ck_assert_int_eq(step, 1);
        ck_assert_int_eq(ctr_optimizer_get_f64(b, CTR_OPTIMIZER_P_LR, &lr), CTR_OK);
        ck_assert(lr == (k == 0 ? 0.1 : k == 1 ? 1e-2 : 0.5));
        memcpy(q, p, sizeof(q));
        memcpy(base, p, sizeof(base));
        ck_assert_int_eq(ctr_optimizer_step_buffer(opt, p, grads, NP), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_step_buffer(a, q, grads, NP), CTR_OK);
        ck_assert_int_eq(memcmp(p, q, sizeof(p)), 0);
        memcpy(q, base, sizeof(q));
        ck_assert_int_eq(ctr_optimizer_step_buffer(b, q, grads, NP), CTR_OK);
        ck_assert_int_eq(memcmp(p, q, sizeof(p)), 0);
        for (i = 0; i < size; i += (i < 300 ? 1 : stride))
            ck_assert_int_eq(ctr_optimizer_load_buffer(&a, buf, i, NULL, NULL) == CTR_OK, 0);
        for (i = 0; i < size * 8; i += stride) {
            int rc;
            ctr_optimizer *c = NULL;
            buf[i / 8] ^= (unsigned char)(1u << (i % 8));
            rc = ctr_optimizer_load_buffer(&c, buf, size, NULL, NULL);
            ck_assert_msg(rc == CTR_E_CORRUPT || rc == CTR_E_INCOMPATIBLE, "bit %zu: %d", i, rc);
            buf[i / 8] ^= (unsigned char)(1u << (i % 8));
        }
        ctr_optimizer_destroy(opt);
        ctr_optimizer_destroy(a);
        ctr_optimizer_destroy(b);
        free(buf);
        remove(path);
    }
    free(grads);
    free(start);
}
END_TEST

START_TEST(test_load_bound)
{
    ctr_encoder *enc = golden_mlp(NULL), *small = NULL;
    ctr_optimizer *opt = NULL, *again = NULL;
    unsigned char buf[16384];
    size_t size;
    int64_t in = 3;
    ck_assert_int_eq(ctr_optimizer_create_for_encoder(&opt, CTR_OPTIMIZER_LARS, enc, NULL),
                     CTR_OK);
    ck_assert_int_eq(ctr_optimizer_step(opt), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_save_buffer(opt, buf, sizeof(buf), &size), CTR_OK);
    ck_assert_int_eq(ctr_encoder_create(&small, &in, 1, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(small, 2, 1), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_load_buffer(&again, buf, size, small, NULL), CTR_E_SHAPE);
    ck_assert_int_eq(ctr_optimizer_load_buffer(&again, buf, size, enc, NULL), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_step(again), CTR_OK);
    ctr_optimizer_destroy(again);
    again = NULL;
    /* the encoder grew after binding */
    ck_assert_int_eq(ctr_encoder_add_linear(enc, 4, 1), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_step(opt), CTR_E_SHAPE);
    ctr_optimizer_destroy(opt);
    ctr_encoder_destroy(enc);
    ctr_encoder_destroy(small);
}
END_TEST

/* A well-formed checkpoint (valid CRCs) declaring 2^40 parameters with a
 * tiny state section: refused before anything of that size is allocated. */
START_TEST(test_load_refuses_huge_declarations)
{
    test_alloc_state st;
    ctr_allocator a;
    ctr_optimizer *opt = NULL;
    unsigned char buf[512];
    size_t size = 0;
    ctr__ckw w;
    int k;
    test_alloc_setup(&a, &st);
    ctr__ckw_to_buffer(&w, buf, sizeof(buf), CTR__CKPT_KIND_OPTIMIZER, NULL);
    ctr__ckw_begin_section(&w, CTR__FOURCC('O', 'P', 'T', 'H'));
    ctr__ckw_put_u32(&w, CTR_OPTIMIZER_SGD);
    ctr__ckw_put_i64(&w, (int64_t)1 << 40); /* n */
    ctr__ckw_put_i64(&w, 0);                /* step */
    ctr__ckw_put_i64(&w, 0);                /* buffer flag */
    for (k = 0; k < 8; k++)
        ctr__ckw_put_f64(&w, 0.01);
    ctr__ckw_put_i64(&w, 0);
    ctr__ckw_put_i64(&w, 0);
    ctr__ckw_put_i64(&w, 1); /* one segment */
    ctr__ckw_put_i64(&w, (int64_t)1 << 40);
    ctr__ckw_put_i64(&w, 0);
    ctr__ckw_end_section(&w);
    ctr__ckw_begin_section(&w, CTR__FOURCC('O', 'P', 'T', 'S'));
    ctr__ckw_put_i64(&w, (int64_t)1 << 40);
    ctr__ckw_end_section(&w);
    ck_assert_int_eq(ctr__ckw_finish(&w, &size), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_load_buffer(&opt, buf, size, NULL, &a), CTR_E_LIMIT);
    ck_assert_ptr_null(opt);
    ck_assert_int_lt(st.peak_bytes, 1 << 20);
    a.max_load_bytes = UINT64_MAX; /* the state is missing: found first */
    ck_assert_int_eq(ctr_optimizer_load_buffer(&opt, buf, size, NULL, &a), CTR_E_CORRUPT);
    ck_assert_ptr_null(opt);
    ck_assert_int_lt(st.peak_bytes, 1 << 20);
    ck_assert_int_eq(st.live_blocks, 0);
}
END_TEST

START_TEST(test_bad_input)
{
    ctr_optimizer *opt = NULL;
    ctr_encoder *empty = NULL;
    float p[4] = {1, 2, 3, 4}, g[4] = {0.1f, 0.2f, NAN, 0.4f}, keep[4];
    int64_t sizes[2] = {3, 1}, in = 4, v;
    int32_t excl[2] = {0, 1}, bad_flag[2] = {0, 2};
    double lo, hi, d;
    size_t sz;
    ck_assert_int_eq(ctr_optimizer_create(NULL, CTR_OPTIMIZER_SGD, 4, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_create(&opt, 99, 4, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_create(&opt, CTR_OPTIMIZER_SGD, 0, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_create(&opt, CTR_OPTIMIZER_ADAMW, INT64_MAX / 2, NULL),
                     CTR_E_OVERFLOW);
    ck_assert_int_eq(ctr_encoder_create(&empty, &in, 1, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_create_for_encoder(&opt, CTR_OPTIMIZER_SGD, empty, NULL),
                     CTR_E_SHAPE);
    ck_assert_int_eq(ctr_optimizer_create_for_encoder(&opt, CTR_OPTIMIZER_SGD, NULL, NULL),
                     CTR_E_INVALID_ARG);
    ck_assert_ptr_null(opt);
    ck_assert_int_eq(ctr_optimizer_create(&opt, CTR_OPTIMIZER_SGD, 4, NULL), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_step(opt), CTR_E_STAGE);
    /* NaN gradient: nothing changes, not even the step count */
    memcpy(keep, p, sizeof(p));
    ck_assert_int_eq(ctr_optimizer_step_buffer(opt, p, g, 4), CTR_E_NUMERIC);
    ck_assert_int_eq(memcmp(p, keep, sizeof(p)), 0);
    ck_assert_int_eq(ctr_optimizer_get_i64(opt, CTR_OPTIMIZER_P_STEP, &v), CTR_OK);
    ck_assert_int_eq(v, 0);
    g[2] = 0.3f;
    ck_assert_int_eq(ctr_optimizer_step_buffer(opt, p, g, 3), CTR_E_SHAPE);
    ck_assert_int_eq(ctr_optimizer_step_buffer(opt, NULL, g, 4), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_step_buffer(opt, p, NULL, 4), CTR_E_INVALID_ARG);
    /* Nesterov needs momentum */
    ck_assert_int_eq(ctr_optimizer_set_i64(opt, CTR_OPTIMIZER_P_NESTEROV, 1), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_step_buffer(opt, p, g, 4), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_set_i64(opt, CTR_OPTIMIZER_P_NESTEROV, 0), CTR_OK);
    /* tunables */
    ck_assert_int_eq(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_LR, -1.0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_LR, NAN), CTR_E_NUMERIC);
    ck_assert_int_eq(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_MOMENTUM, 1.0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_EPS, 0.0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_NESTEROV, 0.5), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_set_f64(opt, 12345, 1.0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_set_i64(opt, CTR_OPTIMIZER_P_STEP, 5), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_set_i64(opt, CTR_OPTIMIZER_P_NESTEROV, 2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_set_i64(opt, CTR_OPTIMIZER_P_LR, -1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_get_f64(opt, CTR_OPTIMIZER_P_LR, &d), CTR_OK);
    ck_assert(d == 0.001);
    ck_assert_int_eq(ctr_optimizer_get_f64(opt, CTR_OPTIMIZER_P_STEP, &d), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_get_i64(opt, CTR_OPTIMIZER_P_LR, &v), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_get_f64(opt, CTR_OPTIMIZER_P_LR, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_param_bounds(CTR_OPTIMIZER_P_MOMENTUM, &lo, &hi), CTR_OK);
    ck_assert(lo == 0.0 && hi < 1.0 && hi > 0.999999);
    ck_assert_int_eq(ctr_optimizer_param_bounds(1, &lo, &hi), CTR_E_INVALID_ARG);
    /* segments */
    ck_assert_int_eq(ctr_optimizer_set_segments(opt, NULL, excl, 2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_set_segments(opt, sizes, bad_flag, 2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_set_segments(opt, sizes, excl, 1), CTR_E_SHAPE);
    sizes[0] = 4;
    ck_assert_int_eq(ctr_optimizer_set_segments(opt, sizes, excl, 2), CTR_E_SHAPE);
    sizes[0] = 0;
    ck_assert_int_eq(ctr_optimizer_set_segments(opt, sizes, excl, 2), CTR_E_INVALID_ARG);
    sizes[0] = 3;
    ck_assert_int_eq(ctr_optimizer_set_segments(opt, sizes, excl, 2), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_step_buffer(opt, p, g, 4), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_reset(opt), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_get_i64(opt, CTR_OPTIMIZER_P_STEP, &v), CTR_OK);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(ctr_optimizer_save(opt, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_save(opt, "/nonexistent-dir/o.ckpt"), CTR_E_IO);
    ck_assert_int_eq(errno, ENOENT); /* the system's reason */
    ck_assert_str_eq(ctr_optimizer_last_error(opt),
                     "checkpoint: cannot create a temporary file beside "
                     "'/nonexistent-dir/o.ckpt': No such file or directory");
    ck_assert_int_eq(ctr_optimizer_load(&opt, NULL, NULL, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_reset(NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_step(NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_step_buffer(NULL, p, g, 4), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_set_f64(NULL, CTR_OPTIMIZER_P_LR, 0.1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_get_f64(NULL, CTR_OPTIMIZER_P_LR, &d), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_set_i64(NULL, CTR_OPTIMIZER_P_NESTEROV, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_get_i64(NULL, CTR_OPTIMIZER_P_STEP, &v), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_get_i64(opt, CTR_OPTIMIZER_P_STEP, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_get_i64(opt, CTR_OPTIMIZER_P_LR, &v), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_param_bounds(CTR_OPTIMIZER_P_LR, NULL, &hi), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_set_segments(NULL, sizes, excl, 2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_set_segments(opt, sizes, NULL, 2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_set_segments(opt, sizes, excl, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_save(NULL, "x"), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_save_buffer(NULL, NULL, 0, &sz), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_save_buffer(opt, NULL, 0, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_save_buffer(opt, NULL, 8, &sz), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_load_buffer(NULL, p, 16, NULL, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_optimizer_load_buffer(&opt, NULL, 16, NULL, NULL), CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr_optimizer_last_error(NULL), ctr_optimizer_last_error(NULL));
    ctr_optimizer_destroy(opt);
    ctr_optimizer_destroy(NULL);
    ctr_encoder_destroy(empty);
}
END_TEST

static int attempt_optimizer(const ctr_allocator *a, void *ctx)
{
    ctr_encoder *enc = (ctr_encoder *)ctx;
    ctr_optimizer *bound = NULL, *raw = NULL, *loaded = NULL;
    unsigned char buf[16384];
    char path[256];
    size_t size;
    float p[NP] = {0}, g[NP] = {0};
    int rc;
    rc = ctr_optimizer_create_for_encoder(&bound, CTR_OPTIMIZER_LARS, enc, a);
    if (rc != CTR_OK)
        return rc;
    if ((rc = ctr_optimizer_create(&raw, CTR_OPTIMIZER_ADAMW, NP, a)) != CTR_OK ||
        (rc = ctr_optimizer_set_segments(raw, SIZES, EXCLUDED, 10)) != CTR_OK ||
        (rc = ctr_optimizer_step_buffer(raw, p, g, NP)) != CTR_OK ||
        (rc = ctr_optimizer_step(bound)) != CTR_OK ||
        (rc = ctr_optimizer_save_buffer(raw, buf, sizeof(buf), &size)) != CTR_OK ||
        (rc = ctr_optimizer_load_buffer(&loaded, buf, size, NULL, a)) != CTR_OK) {
        ctr_optimizer_destroy(bound);
        ctr_optimizer_destroy(raw);
        return rc;
    }
    ctr_optimizer_destroy(loaded);
    loaded = NULL;
    test_temp_path(path, sizeof(path), "opt-oom.ckpt");
    if ((rc = ctr_optimizer_save(raw, path)) == CTR_OK)
        rc = ctr_optimizer_load(&loaded, path, NULL, a);
    remove(path);
    ctr_optimizer_destroy(loaded);
    loaded = NULL;
    if (rc != CTR_OK) {
        ctr_optimizer_destroy(bound);
        ctr_optimizer_destroy(raw);
        return rc;
    }
    if ((rc = ctr_optimizer_save_buffer(bound, buf, sizeof(buf), &size)) == CTR_OK)
        rc = ctr_optimizer_load_buffer(&loaded, buf, size, enc, a);
    ctr_optimizer_destroy(loaded);
    ctr_optimizer_destroy(bound);
    ctr_optimizer_destroy(raw);
    return rc;
}

START_TEST(test_every_allocation_failure)
{
    ctr_encoder *enc = golden_mlp(NULL);
    ck_assert_int_gt(test_every_alloc_failure(attempt_optimizer, enc), 6);
    ctr_encoder_destroy(enc);
}
END_TEST

Suite *ctr_test_optimizer_suite(void);

Suite *ctr_test_optimizer_suite(void)
{
    Suite *s = suite_create("optimizer");
    TCase *rules = tcase_create("rules");
    TCase *life = tcase_create("lifecycle");
    TCase *err = tcase_create("errors");
    tcase_add_test(rules, test_golden_two_steps);
    tcase_add_test(rules, test_bound_equals_buffer);
    tcase_add_test(rules, test_rules_against_reference);
    tcase_add_test(rules, test_cosine_schedule);
    tcase_add_test(life, test_save_load_resumes_exactly);
    tcase_add_test(life, test_load_bound);
    tcase_add_test(life, test_load_refuses_huge_declarations);
    tcase_add_test(err, test_bad_input);
    tcase_add_test(err, test_every_allocation_failure);
    tcase_set_timeout(life, 120);
    tcase_set_timeout(err, 60);
    suite_add_tcase(s, rules);
    suite_add_tcase(s, life);
    suite_add_tcase(s, err);
    return s;
}
