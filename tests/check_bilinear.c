/*
 * check_bilinear.c - CURL's bilinear critic (contrastive/bilinear.h):
 * PyTorch goldens in CURL's reference form (tests/gen_bilinear.py), loss
 * and gradients against a float64 reference differentiated by central
 * finite differences (strided views, NORMALIZE and a temperature), the
 * statistics, training W with ctr_optimizer_step_buffer, bad inputs with
 * nothing written, the workspace query and the no-allocation rule, every
 * allocation failing in turn, and a checkpoint of the handle.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "golden_util.h"
#include "test_util.h"

static ctr_objective *make(const ctr_allocator *a)
{
    ctr_objective *obj = NULL;
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_BILINEAR, a), CTR_OK);
    return obj;
}

/* ---- float64 reference ------------------------------------------------------- */

typedef struct ref_problem {
    int64_t b, d, ldq, ldk;
    double tau;
    int normalize;
} ref_problem;

/* Rows of x (ld) normalised into out (b x d, contiguous) or copied. */
static void ref_rows(double *out, const double *x, const ref_problem *p, int64_t ld)
{
    int64_t i, j;
    for (i = 0; i < p->b; i++) {
        double n = 0.0;
        for (j = 0; j < p->d; j++)
            n += x[i * ld + j] * x[i * ld + j];
        n = p->normalize ? fmax(sqrt(n), 1e-12) : 1.0;
        for (j = 0; j < p->d; j++)
            out[i * p->d + j] = x[i * ld + j] / n;
    }
}

/* The loss in double: mean_i logsumexp_j S_ij - S_ii. */
static double ref_loss(const ref_problem *p, const double *q, const double *k, const double *w)
{
    const int64_t b = p->b, d = p->d;
    double *qn = malloc((size_t)(b * d) * sizeof(double));
    double *kn = malloc((size_t)(b * d) * sizeof(double));
    double *s = malloc((size_t)(b * b) * sizeof(double));
    double loss = 0.0;
    int64_t i, j, r, c;
    ref_rows(qn, q, p, p->ldq);
    ref_rows(kn, k, p, p->ldk);
    for (i = 0; i < b; i++)
        for (j = 0; j < b; j++) {
            double v = 0.0;
            for (r = 0; r < d; r++)
                for (c = 0; c < d; c++)
                    v += qn[i * d + r] * w[r * d + c] * kn[j * d + c];
            s[i * b + j] = v / p->tau;
        }
    for (i = 0; i < b; i++) {
        double m = -INFINITY, sum = 0.0;
        for (j = 0; j < b; j++)
            m = fmax(m, s[i * b + j]);
        for (j = 0; j < b; j++)
            sum += exp(s[i * b + j] - m);
        loss += m + log(sum) - s[i * b + i];
    }
    free(qn), free(kn), free(s);
    return loss / (double)b;
}

/* d loss / d x[idx] by central differences of ref_loss (x is q, k or w). */
static double ref_fd(const ref_problem *p, double *q, double *k, double *w, double *x,
                     int64_t idx)
{
    const double h = 1e-6, saved = x[idx];
    double up, down;
    x[idx] = saved + h;
    up = ref_loss(p, q, k, w);
    x[idx] = saved - h;
    down = ref_loss(p, q, k, w);
    x[idx] = saved;
    return (up - down) / (2.0 * h);
}

static double *to_double(const float *x, int64_t n)
{
    double *out = malloc((size_t)n * sizeof(double));
    int64_t i;
    for (i = 0; i < n; i++)
        out[i] = x[i];
    return out;
}

/* max |got - fd| over the rows x cols entries (ld of x), relative to the
 * largest |fd|. */
static double grad_error(const ref_problem *p, double *q, double *k, double *w, double *x,
                         int64_t rows, int64_t cols, int64_t ld, const float *got)
{
    double err = 0.0, scale = 0.0;
    int64_t i, j;
    for (i = 0; i < rows; i++)
        for (j = 0; j < cols; j++) {
            double fd = ref_fd(p, q, k, w, x, i * ld + j);
            err = fmax(err, fabs(got[i * cols + j] - fd));
            scale = fmax(scale, fabs(fd));
        }
    return err / scale;
}

static void check_against_reference(ref_problem *p, unsigned seed)
{
    const int64_t b = p->b, d = p->d;
    float *q = malloc((size_t)(b * p->ldq) * sizeof(float));
    float *k = malloc((size_t)(b * p->ldk) * sizeof(float));
    float *w = malloc((size_t)(d * d) * sizeof(float));
    float *gq = malloc((size_t)(b * d) * sizeof(float));
    float *gk = malloc((size_t)(b * d) * sizeof(float));
    float *gw = malloc((size_t)(d * d) * sizeof(float));
    double *dq, *dk, *dw, loss, want;
    ctr_objective *obj = make(NULL);
    ctr_rng *g = NULL;
    ck_assert_int_eq(ctr_rng_create(&g, seed, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(g, q, b * p->ldq, 0.0f, 1.0f), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(g, k, b * p->ldk, 0.0f, 1.0f), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(g, w, d * d, 0.0f, 1.0f / (float)d), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, p->tau), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NORMALIZE, p->normalize),
                     CTR_OK);
    ck_assert_int_eq(ctr_objective_bilinear(obj, &loss, q, p->ldq, k, p->ldk, b, d, w, gq, gk,
                                            gw), CTR_OK);
    dq = to_double(q, b * p->ldq);
    dk = to_double(k, b * p->ldk);
    dw = to_double(w, d * d);
    want = ref_loss(p, dq, dk, dw);
    ck_assert_close(loss, want, 1e-5, 0.0);
    ck_assert_double_le(grad_error(p, dq, dk, dw, dq, b, d, p->ldq, gq), 1e-5);
    ck_assert_double_le(grad_error(p, dq, dk, dw, dk, b, d, p->ldk, gk), 1e-5);
    ck_assert_double_le(grad_error(p, dq, dk, dw, dw, d, d, d, gw), 1e-5);
    free(q), free(k), free(w), free(gq), free(gk), free(gw);
    free(dq), free(dk), free(dw);
    ctr_rng_destroy(g);
    ctr_objective_destroy(obj);
}

START_TEST(test_reference_and_finite_differences)
{
    ref_problem plain = {33, 17, 20, 17, 1.0, 0};
    ref_problem norm = {19, 11, 11, 13, 0.2, 1};
    ref_problem tiny = {2, 1, 1, 3, 1.0, 0};
    check_against_reference(&plain, 7);
    check_against_reference(&norm, 8);
    check_against_reference(&tiny, 9);
}
END_TEST

/* ---- PyTorch goldens ------------------------------------------------------------ */

static void golden_case(const char *c, double tau, int normalize)
{
    long nq, nk, nw, n;
    float *q, *k, *w, *want_loss, *want_gq, *want_gk, *want_gw, *gq, *gk, *gw;
    int64_t b, d, i;
    double loss;
    ctr_objective *obj = make(NULL);
#define READ(var, field, cnt) \
    (var = golden_read_field("bilinear_golden.txt", c, field, cnt))
    READ(q, "q", &nq);
    READ(k, "k", &nk);
    READ(w, "w", &nw);
    READ(want_loss, "loss", &n);
    READ(want_gq, "grad_q", &n);
    READ(want_gk, "grad_k", &n);
    READ(want_gw, "grad_w", &n);
#undef READ
    d = (int64_t)lround(sqrt((double)nw));
    b = nq / d;
    gq = calloc((size_t)nq, sizeof(float));
    gk = calloc((size_t)nk, sizeof(float));
    gw = calloc((size_t)nw, sizeof(float));
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, tau), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NORMALIZE, normalize), CTR_OK);
    ck_assert_int_eq(ctr_objective_bilinear(obj, &loss, q, d, k, d, b, d, w, gq, gk, gw),
                     CTR_OK);
    ck_assert_close(loss, want_loss[0], 1e-5, 1e-7);
    for (i = 0; i < nq; i++) {
        ck_assert_close(gq[i], want_gq[i], 1e-5, 1e-6);
        ck_assert_close(gk[i], want_gk[i], 1e-5, 1e-6);
    }
    for (i = 0; i < nw; i++)
        ck_assert_close(gw[i], want_gw[i], 1e-5, 1e-6);
    free(q), free(k), free(w), free(want_loss), free(want_gq), free(want_gk), free(want_gw);
    free(gq), free(gk), free(gw);
    ctr_objective_destroy(obj);
}

START_TEST(test_pytorch_golden)
{
    golden_case("curl", 1.0, 0);
    golden_case("norm", 0.3, 1);
}
END_TEST

/* ---- defaults, statistics, partial outputs, training ---------------------------- */

enum { B = 5, D = 3 };

typedef struct io {
    float q[B * D], k[B * D], w[D * D], gq[B * D], gk[B * D], gw[D * D];
} io;

static void io_init(io *x)
{
    int i;
    for (i = 0; i < B * D; i++) {
        x->q[i] = (float)sin(0.9 * i + 0.3);
        x->k[i] = (float)sin(0.9 * i + 0.3) + 0.2f * (float)cos(1.7 * i);
        x->gq[i] = x->gk[i] = 42.0f;
    }
    for (i = 0; i < D * D; i++) {
        x->w[i] = (i % (D + 1) == 0 ? 1.0f : 0.0f) + 0.1f * (float)cos(2.3 * i);
        x->gw[i] = 42.0f;
    }
}

START_TEST(test_defaults_and_statistics)
{
    static io x;
    ctr_objective *obj = make(NULL);
    double v, loss, loss_q;
    int64_t iv;
    float gq[B * D];
    io_init(&x);
    ck_assert_int_eq(ctr_objective_kind(obj), CTR_OBJECTIVE_BILINEAR);
    ck_assert_int_eq(ctr_objective_get_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, &v), CTR_OK);
    ck_assert_double_eq(v, 1.0);
    ck_assert_int_eq(ctr_objective_get_i64(obj, CTR_OBJECTIVE_P_NORMALIZE, &iv), CTR_OK);
    ck_assert_int_eq(iv, 0);
    ck_assert_int_eq(ctr_objective_bilinear(obj, &loss, x.q, D, x.k, D, B, D, x.w, x.gq, x.gk,
                                            x.gw), CTR_OK);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_LOSS, &v), CTR_OK);
    ck_assert_double_eq(v, loss);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_CHANCE_LOSS, &v), CTR_OK);
    ck_assert_double_eq_tol(v, log((double)B), 1e-12);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_ACCURACY, &v), CTR_OK);
    ck_assert(v >= 0.0 && v <= 1.0);
    /* keys near the queries and W near I: the positive wins more often
     * than chance */
    ck_assert_double_gt(v, 1.0 / B);
    /* only grad_q: the same loss and the same bits */
    ck_assert_int_eq(ctr_objective_bilinear(obj, &loss_q, x.q, D, x.k, D, B, D, x.w, gq, NULL,
                                            NULL), CTR_OK);
    ck_assert(memcmp(&loss_q, &loss, sizeof(loss)) == 0);
    ck_assert(memcmp(gq, x.gq, sizeof(gq)) == 0);
    ck_assert_int_eq(ctr_objective_bilinear(obj, NULL, x.q, D, x.k, D, B, D, x.w, NULL, NULL,
                                            NULL), CTR_OK);
    /* b = 1: no negatives, loss 0, zero gradients */
    ck_assert_int_eq(ctr_objective_bilinear(obj, &loss, x.q, D, x.k, D, 1, D, x.w, x.gq, x.gk,
                                            x.gw), CTR_OK);
    ck_assert_double_eq(loss, 0.0);
    ck_assert_float_eq(x.gq[0], 0.0f);
    ck_assert_float_eq(x.gw[0], 0.0f);
    ctr_objective_destroy(obj);
}
END_TEST

START_TEST(test_train_w_with_optimizer)
{
    static io x;
    ctr_objective *obj = make(NULL);
    ctr_optimizer *opt = NULL;
    double first, loss = 0.0;
    int step;
    io_init(&x);
    ck_assert_int_eq(ctr_optimizer_create(&opt, CTR_OPTIMIZER_SGD, D * D, NULL), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_LR, 0.5), CTR_OK);
    ck_assert_int_eq(ctr_objective_bilinear(obj, &first, x.q, D, x.k, D, B, D, x.w, NULL, NULL,
                                            x.gw), CTR_OK);
    for (step = 0; step < 50; step++) {
        ck_assert_int_eq(ctr_objective_bilinear(obj, &loss, x.q, D, x.k, D, B, D, x.w, NULL,
                                                NULL, x.gw), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_step_buffer(opt, x.w, x.gw, D * D), CTR_OK);
    }
    ck_assert_double_lt(loss, 0.5 * first);
    ctr_optimizer_destroy(opt);
    ctr_objective_destroy(obj);
}
END_TEST

/* ---- bad inputs ------------------------------------------------------------------- */

/* The call fails with `rc` and writes nothing. */
#define EXPECT_FAIL(rc, expr)                                                \
    do {                                                                     \
        io before_;                                                          \
        double l_ = 7.0;                                                     \
        memcpy(&before_, &x, sizeof(x));                                     \
        ck_assert_int_eq((expr), (rc));                                      \
        ck_assert(memcmp(&before_, &x, sizeof(x)) == 0);                     \
        ck_assert_double_eq(l_, 7.0);                                        \
        ck_assert_str_ne(ctr_objective_last_error(obj), "");                 \
    } while (0)
#define CALL(obj_, q_, ldq_, k_, ldk_, b_, d_, w_) \
    ctr_objective_bilinear(obj_, &l_, q_, ldq_, k_, ldk_, b_, d_, w_, x.gq, x.gk, x.gw)

START_TEST(test_bad_arguments)
{
    static io x;
    ctr_objective *obj = make(NULL), *other = NULL;
    double loss;
    io_init(&x);
    ck_assert_int_eq(ctr_objective_bilinear(NULL, &loss, x.q, D, x.k, D, B, D, x.w, NULL, NULL,
                                            NULL), CTR_E_INVALID_ARG);
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, NULL, D, x.k, D, B, D, x.w));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.q, D, NULL, D, B, D, x.w));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.q, D, x.k, D, B, D, NULL));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.q, D, x.k, D, 0, D, x.w));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.q, D, x.k, D, B, 0, x.w));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.q, D, x.k, D, -1, D, x.w));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.q, D - 1, x.k, D, B, D, x.w));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.q, D, x.k, 1, B, D, x.w));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.q, D, x.k, D, 46341, D, x.w));
    EXPECT_FAIL(CTR_E_OVERFLOW, CALL(obj, x.q, D, x.k, D, INT64_MAX / 2, D, x.w));
    ck_assert_int_eq(ctr_objective_create(&other, CTR_OBJECTIVE_INFONCE, NULL), CTR_OK);
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(other, x.q, D, x.k, D, B, D, x.w));
    ck_assert_int_eq(ctr_objective_npair(obj, &loss, x.q, D, x.k, D, B, D, NULL, NULL),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_LOSS, &loss), CTR_E_STAGE);
    ctr_objective_destroy(other);
    ctr_objective_destroy(obj);
}
END_TEST

START_TEST(test_non_finite_inputs)
{
    static io x;
    ctr_objective *obj = make(NULL);
    float *targets[3];
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    int t, v;
    io_init(&x);
    targets[0] = &x.q[4], targets[1] = &x.k[7], targets[2] = &x.w[5];
    for (t = 0; t < 3; t++)
        for (v = 0; v < 3; v++) {
            float saved = *targets[t];
            *targets[t] = bad[v];
            EXPECT_FAIL(CTR_E_NUMERIC, CALL(obj, x.q, D, x.k, D, B, D, x.w));
            *targets[t] = saved;
        }
    /* finite inputs whose logits overflow float */
    x.q[0] = x.q[1] = x.q[2] = 3e19f;
    x.k[0] = x.k[1] = x.k[2] = 3e19f;
    EXPECT_FAIL(CTR_E_NUMERIC, CALL(obj, x.q, D, x.k, D, B, D, x.w));
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_CALLS, NULL), CTR_E_INVALID_ARG);
    ctr_objective_destroy(obj);
}
END_TEST

/* ---- memory ------------------------------------------------------------------------- */

START_TEST(test_workspace_and_no_hot_allocation)
{
    static io x;
    test_alloc_state st;
    ctr_allocator a;
    int normalize;
    io_init(&x);
    test_alloc_setup(&a, &st);
    for (normalize = 0; normalize < 2; normalize++) {
        ctr_objective *obj = make(&a);
        size_t bytes = 0;
        int64_t before;
        double loss;
        ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NORMALIZE, normalize),
                         CTR_OK);
        ck_assert_int_eq(ctr_objective_workspace_size(obj, &bytes, B, D, 0), CTR_OK);
        before = st.live_bytes;
        ck_assert_int_eq(ctr_objective_bilinear(obj, &loss, x.q, D, x.k, D, B, D, x.w, x.gq,
                                                x.gk, x.gw), CTR_OK);
        ck_assert_int_eq(st.live_bytes - before, (int64_t)bytes);
        before = st.calls;
        ck_assert_int_eq(ctr_objective_bilinear(obj, &loss, x.q, D, x.k, D, B - 1, D, x.w,
                                                x.gq, NULL, x.gw), CTR_OK);
        ck_assert_int_eq(st.calls, before);
        ctr_objective_destroy(obj);
    }
    ck_assert_int_eq(st.live_blocks, 0);
}
END_TEST

static int oom_attempt(const ctr_allocator *a, void *p)
{
    io *x = (io *)p;
    ctr_objective *obj = NULL;
    double loss;
    int rc = ctr_objective_create(&obj, CTR_OBJECTIVE_BILINEAR, a);
    if (rc == CTR_OK)
        rc = ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NORMALIZE, 1);
    if (rc == CTR_OK)
        rc = ctr_objective_bilinear(obj, &loss, x->q, D, x->k, D, B, D, x->w, x->gq, x->gk,
                                    x->gw);
    ctr_objective_destroy(obj);
    return rc;
}

START_TEST(test_out_of_memory)
{
    static io x;
    io_init(&x);
    ck_assert_int_ge(test_every_alloc_failure(oom_attempt, &x), 2);
}
END_TEST

START_TEST(test_checkpoint_round_trip)
{
    static io x;
    unsigned char buf[4096];
    size_t size = 0;
    ctr_objective *obj = make(NULL), *back = NULL;
    double loss, v;
    io_init(&x);
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, 0.5), CTR_OK);
    ck_assert_int_eq(ctr_objective_bilinear(obj, &loss, x.q, D, x.k, D, B, D, x.w, NULL, NULL,
                                            NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_save_buffer(obj, buf, sizeof(buf), &size), CTR_OK);
    ck_assert_int_eq(ctr_objective_load_buffer(&back, buf, size, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_kind(back), CTR_OBJECTIVE_BILINEAR);
    ck_assert_int_eq(ctr_objective_get_f64(back, CTR_OBJECTIVE_P_TEMPERATURE, &v), CTR_OK);
    ck_assert_double_eq(v, 0.5);
    ck_assert_int_eq(ctr_objective_bilinear(back, &v, x.q, D, x.k, D, B, D, x.w, NULL, NULL,
                                            NULL), CTR_OK);
    ck_assert(memcmp(&v, &loss, sizeof(loss)) == 0);
    ctr_objective_destroy(obj);
    ctr_objective_destroy(back);
}
END_TEST

Suite *ctr_test_bilinear_suite(void);

Suite *ctr_test_bilinear_suite(void)
{
    Suite *s = suite_create("bilinear");
    TCase *num = tcase_create("numerics");
    TCase *args = tcase_create("arguments");
    TCase *mem = tcase_create("memory");
    tcase_set_timeout(num, 60);
    tcase_add_test(num, test_reference_and_finite_differences);
    tcase_add_test(num, test_pytorch_golden);
    tcase_add_test(num, test_defaults_and_statistics);
    tcase_add_test(num, test_train_w_with_optimizer);
    tcase_add_test(args, test_bad_arguments);
    tcase_add_test(args, test_non_finite_inputs);
    tcase_add_test(mem, test_workspace_and_no_hot_allocation);
    tcase_add_test(mem, test_out_of_memory);
    tcase_add_test(mem, test_checkpoint_round_trip);
    suite_add_tcase(s, num);
    suite_add_tcase(s, args);
    suite_add_tcase(s, mem);
    return s;
}
