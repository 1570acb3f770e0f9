/*
 * check_distill.c - cross-entropy + KD (contrastive/distill.h): loss and
 * gradient against a float64 reference differentiated by central finite
 * differences (odd shapes, strided views, each term alone and both),
 * PyTorch goldens in RepDistiller's DistillKL form (tests/gen_crd.py), the
 * statistics, training logits with the optimizer, bad inputs with nothing
 * written, the workspace query and the no-allocation rule, every
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
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_DISTILL, a), CTR_OK);
    return obj;
}

/* ---- float64 reference ------------------------------------------------------- */

typedef struct ref_problem {
    int64_t b, c, lds, ldt;
    double t, ce_weight, kd_weight;
} ref_problem;

/* log softmax(x / t) of one row of c values. */
static void ref_log_softmax(double *out, const double *x, int64_t c, double t)
{
    double m = -INFINITY, s = 0.0;
    int64_t j;
    for (j = 0; j < c; j++)
        m = fmax(m, x[j] / t);
    for (j = 0; j < c; j++)
        s += exp(x[j] / t - m);
    for (j = 0; j < c; j++)
        out[j] = x[j] / t - m - log(s);
}

static double ref_loss(const ref_problem *p, const double *s, const double *te,
                       const int64_t *y)
{
    double *a = malloc((size_t)p->c * sizeof(double));
    double *bb = malloc((size_t)p->c * sizeof(double));
    double loss = 0.0;
    int64_t i, j;
    for (i = 0; i < p->b; i++) {
        ref_log_softmax(a, s + i * p->lds, p->c, 1.0);
        loss -= p->ce_weight * a[y[i]];
        ref_log_softmax(a, s + i * p->lds, p->c, p->t);
        ref_log_softmax(bb, te + i * p->ldt, p->c, p->t);
        for (j = 0; j < p->c; j++)
            loss += p->kd_weight * p->t * p->t * exp(bb[j]) * (bb[j] - a[j]);
    }
    free(a), free(bb);
    return loss / (double)p->b;
}

static double *to_double(const float *x, int64_t n)
{
    double *out = malloc((size_t)n * sizeof(double));
    int64_t i;
    for (i = 0; i < n; i++)
        out[i] = x[i];
    return out;
}

static void check_against_reference(const ref_problem *p, unsigned seed)
{
    const int64_t b = p->b, c = p->c;
    float *s = malloc((size_t)(b * p->lds) * sizeof(float));
    float *te = malloc((size_t)(b * p->ldt) * sizeof(float));
    float *g = malloc((size_t)(b * c) * sizeof(float));
    int64_t *y = malloc((size_t)b * sizeof(int64_t)), i, j;
    double *ds, *dt, loss, err = 0.0, scale = 0.0;
    ctr_objective *obj = make(NULL);
    ctr_rng *r = NULL;
    ck_assert_int_eq(ctr_rng_create(&r, seed, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(r, s, b * p->lds, 0.0f, 3.0f), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(r, te, b * p->ldt, 0.0f, 3.0f), CTR_OK);
    ck_assert_int_eq(ctr_rng_below(r, y, b, c), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, p->t), CTR_OK);
    ck_assert_int_eq(ctr_objective_distill(obj, &loss, s, p->lds, te, p->ldt, y, b, c,
                                           p->ce_weight, p->kd_weight, g), CTR_OK);
    ds = to_double(s, b * p->lds);
    dt = to_double(te, b * p->ldt);
    ck_assert_close(loss, ref_loss(p, ds, dt, y), 1e-5, 0.0);
    for (i = 0; i < b; i++)
        for (j = 0; j < c; j++) {
            const double h = 1e-6, saved = ds[i * p->lds + j];
            double up, down, fd;
            ds[i * p->lds + j] = saved + h;
            up = ref_loss(p, ds, dt, y);
            ds[i * p->lds + j] = saved - h;
            down = ref_loss(p, ds, dt, y);
            ds[i * p->lds + j] = saved;
            fd = (up - down) / (2.0 * h);
            err = fmax(err, fabs(g[i * c + j] - fd));
            scale = fmax(scale, fabs(fd));
        }
    ck_assert_double_le(err / scale, 1e-5);
    free(s), free(te), free(g), free(y), free(ds), free(dt);
    ctr_rng_destroy(r);
    ctr_objective_destroy(obj);
}

START_TEST(test_reference_and_finite_differences)
{
    const ref_problem both = {13, 10, 10, 10, 4.0, 1.0, 0.9};
    const ref_problem strided = {5, 7, 9, 11, 2.5, 0.3, 1.7};
    const ref_problem ce = {3, 101, 103, 101, 4.0, 1.0, 0.0};
    const ref_problem kd = {1, 2, 2, 5, 0.5, 0.0, 1.0};
    check_against_reference(&both, 3);
    check_against_reference(&strided, 4);
    check_against_reference(&ce, 5);
    check_against_reference(&kd, 6);
}
END_TEST

/* ---- PyTorch goldens ------------------------------------------------------------ */

static void golden_case(const char *name_, double t, double ce_weight, double kd_weight)
{
    long ns, n, nl, i;
    float *s, *te, *lab, *want_loss, *want_g, *g;
    int64_t *y, b, c;
    double loss;
    ctr_objective *obj = make(NULL);
#define READ(var, field, cnt) \
    (var = golden_read_field("crd_golden.txt", name_, field, cnt))
    READ(s, "student", &ns);
    READ(te, "teacher", &n);
    READ(lab, "labels", &nl);
    READ(want_loss, "loss", &n);
    READ(want_g, "grad", &n);
#undef READ
    b = nl, c = ns / nl;
    y = malloc((size_t)b * sizeof(int64_t));
    g = calloc((size_t)ns, sizeof(float));
    for (i = 0; i < b; i++)
        y[i] = (int64_t)lab[i];
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, t), CTR_OK);
    ck_assert_int_eq(ctr_objective_distill(obj, &loss, s, c, te, c, y, b, c, ce_weight,
                                           kd_weight, g), CTR_OK);
    ck_assert_close(loss, want_loss[0], 1e-5, 1e-7);
    for (i = 0; i < ns; i++)
        ck_assert_close(g[i], want_g[i], 1e-5, 1e-7);
    free(s), free(te), free(lab), free(want_loss), free(want_g), free(g), free(y);
    ctr_objective_destroy(obj);
}

START_TEST(test_pytorch_golden)
{
    golden_case("kd", 4.0, 1.0, 0.9);
    golden_case("kdonly", 2.0, 0.0, 1.0);
    golden_case("ce", 4.0, 0.7, 0.0);
}
END_TEST

/* ---- defaults, statistics, training ------------------------------------------- */

enum { B = 4, C = 3 };

typedef struct io {
    float s[B * C], t[B * C], g[B * C];
    int64_t y[B];
} io;

static void io_init(io *x)
{
    int i;
    for (i = 0; i < B * C; i++) {
        x->s[i] = (float)sin(0.9 * i + 0.3);
        x->t[i] = 2.0f * (float)cos(1.3 * i);
        x->g[i] = 42.0f;
    }
    for (i = 0; i < B; i++)
        x->y[i] = i % C;
}

START_TEST(test_defaults_and_statistics)
{
    static io x;
    ctr_objective *obj = make(NULL);
    const float s1[C] = {2.0f, 1.0f, 0.0f}, tie[C] = {1.0f, 1.0f, 0.0f};
    const int64_t y0 = 0, y1 = 1;
    double v, loss, loss_nog;
    float g[C];
    io_init(&x);
    ck_assert_int_eq(ctr_objective_kind(obj), CTR_OBJECTIVE_DISTILL);
    ck_assert_int_eq(ctr_objective_get_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, &v), CTR_OK);
    ck_assert_double_eq(v, 4.0);
    ck_assert_int_eq(ctr_objective_distill(obj, &loss, x.s, C, x.t, C, x.y, B, C, 1.0, 1.0,
                                           x.g), CTR_OK);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_LOSS, &v), CTR_OK);
    ck_assert_double_eq(v, loss);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_CHANCE_LOSS, &v), CTR_OK);
    ck_assert_double_eq_tol(v, log((double)C), 1e-12);
    /* without the gradient: the same loss, to the bit */
    ck_assert_int_eq(ctr_objective_distill(obj, &loss_nog, x.s, C, x.t, C, x.y, B, C, 1.0,
                                           1.0, NULL), CTR_OK);
    ck_assert(memcmp(&loss_nog, &loss, sizeof(loss)) == 0);
    /* one row, label 0 the top logit: accuracy 1, POS_SIM 2, NEG_SIM 0.5 */
    ck_assert_int_eq(ctr_objective_distill(obj, NULL, s1, C, NULL, 0, &y0, 1, C, 1.0, 0.0, g),
                     CTR_OK);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_ACCURACY, &v), CTR_OK);
    ck_assert_double_eq(v, 1.0);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_POS_SIM, &v), CTR_OK);
    ck_assert_double_eq(v, 2.0);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_NEG_SIM, &v), CTR_OK);
    ck_assert_double_eq(v, 0.5);
    /* a tie is not a hit */
    ck_assert_int_eq(ctr_objective_distill(obj, NULL, tie, C, NULL, 0, &y1, 1, C, 1.0, 0.0, g),
                     CTR_OK);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_ACCURACY, &v), CTR_OK);
    ck_assert_double_eq(v, 0.0);
    /* KD only: the target is the teacher's top class (0 for s1 as teacher) */
    ck_assert_int_eq(ctr_objective_distill(obj, NULL, s1, C, s1, C, NULL, 1, C, 0.0, 1.0, g),
                     CTR_OK);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_ACCURACY, &v), CTR_OK);
    ck_assert_double_eq(v, 1.0);
    /* student equal to teacher: KD loss and gradient 0 */
    ck_assert_int_eq(ctr_objective_distill(obj, &loss, s1, C, s1, C, NULL, 1, C, 0.0, 1.0, g),
                     CTR_OK);
    ck_assert_double_eq_tol(loss, 0.0, 1e-15);
    ck_assert_float_eq_tol(g[0], 0.0f, 1e-7f);
    /* c = 1: loss 0, gradient 0; no weights: loss 0 */
    ck_assert_int_eq(ctr_objective_distill(obj, &loss, s1, 1, s1, 1, &y0, 1, 1, 1.0, 1.0, g),
                     CTR_OK);
    ck_assert_double_eq(loss, 0.0);
    ck_assert_float_eq(g[0], 0.0f);
    ck_assert_int_eq(ctr_objective_distill(obj, &loss, x.s, C, NULL, 0, NULL, B, C, 0.0, 0.0,
                                           x.g), CTR_OK);
    ck_assert_double_eq(loss, 0.0);
    ck_assert_float_eq(x.g[5], 0.0f);
    ctr_objective_destroy(obj);
}
END_TEST

/* Logits trained by SGD on CE + KD reach the teacher's classes. */
START_TEST(test_train_logits_with_optimizer)
{
    static io x;
    ctr_objective *obj = make(NULL);
    ctr_optimizer *opt = NULL;
    double first, loss = 0.0, acc;
    int step;
    io_init(&x);
    ck_assert_int_eq(ctr_optimizer_create(&opt, CTR_OPTIMIZER_SGD, B * C, NULL), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_LR, 1.0), CTR_OK);
    ck_assert_int_eq(ctr_objective_distill(obj, &first, x.s, C, x.t, C, x.y, B, C, 1.0, 0.5,
                                           NULL), CTR_OK);
    for (step = 0; step < 100; step++) {
        ck_assert_int_eq(ctr_objective_distill(obj, &loss, x.s, C, x.t, C, x.y, B, C, 1.0,
                                               0.5, x.g), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_step_buffer(opt, x.s, x.g, B * C), CTR_OK);
    }
    ck_assert_double_lt(loss, 0.7 * first);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_ACCURACY, &acc), CTR_OK);
    ck_assert_double_eq(acc, 1.0);
    ctr_optimizer_destroy(opt);
    ctr_objective_destroy(obj);
}
END_TEST

/* ---- bad inputs ------------------------------------------------------------------- */

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
#define CALL(obj_, s_, lds_, t_, ldt_, y_, b_, c_, wc_, wk_) \
    ctr_objective_distill(obj_, &l_, s_, lds_, t_, ldt_, y_, b_, c_, wc_, wk_, x.g)

START_TEST(test_bad_arguments)
{
    static io x;
    ctr_objective *obj = make(NULL), *other = NULL;
    double loss;
    io_init(&x);
    ck_assert_int_eq(ctr_objective_distill(NULL, &loss, x.s, C, x.t, C, x.y, B, C, 1, 1, NULL),
                     CTR_E_INVALID_ARG);
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, NULL, C, x.t, C, x.y, B, C, 1.0, 1.0));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.s, C, NULL, C, x.y, B, C, 1.0, 1.0));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.s, C, x.t, C, NULL, B, C, 1.0, 1.0));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.s, C, x.t, C, x.y, 0, C, 1.0, 1.0));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.s, C, x.t, C, x.y, B, 0, 1.0, 1.0));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.s, C, x.t, C, x.y, -1, C, 1.0, 1.0));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.s, C - 1, x.t, C, x.y, B, C, 1.0, 1.0));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.s, C, x.t, 1, x.y, B, C, 1.0, 1.0));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.s, C, x.t, C, x.y, B, C, -0.5, 1.0));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.s, C, x.t, C, x.y, B, C, 1.0, 2e6));
    EXPECT_FAIL(CTR_E_NUMERIC, CALL(obj, x.s, C, x.t, C, x.y, B, C, NAN, 1.0));
    EXPECT_FAIL(CTR_E_NUMERIC, CALL(obj, x.s, C, x.t, C, x.y, B, C, 1.0, INFINITY));
    EXPECT_FAIL(CTR_E_OVERFLOW, CALL(obj, x.s, C, x.t, C, x.y, INT64_MAX / 2, C, 1.0, 1.0));
    x.y[2] = C;
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.s, C, x.t, C, x.y, B, C, 1.0, 1.0));
    x.y[2] = -1;
    EXPECT_FAIL(CTR_E_INVALID_ARG, CALL(obj, x.s, C, x.t, C, x.y, B, C, 1.0, 0.0));
    /* a term of weight 0 does not read its operand */
    ck_assert_int_eq(ctr_objective_distill(obj, &loss, x.s, C, x.t, C, x.y, B, C, 0.0, 1.0,
                                           NULL), CTR_OK);
    x.y[2] = 2;
    ck_assert_int_eq(ctr_objective_create(&other, CTR_OBJECTIVE_NCE, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_distill(other, &loss, x.s, C, x.t, C, x.y, B, C, 1.0, 1.0,
                                           x.g), CTR_E_INVALID_ARG);
    ck_assert_str_ne(ctr_objective_last_error(other), "");
    ck_assert_int_eq(ctr_objective_npair(obj, &loss, x.s, C, x.t, C, B, C, NULL, NULL),
                     CTR_E_INVALID_ARG);
    ctr_objective_destroy(other);
    ctr_objective_destroy(obj);
}
END_TEST

START_TEST(test_non_finite_inputs)
{
    static io x;
    ctr_objective *obj = make(NULL);
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    double loss;
    int v;
    io_init(&x);
    for (v = 0; v < 3; v++) {
        float saved = x.s[4];
        x.s[4] = bad[v];
        EXPECT_FAIL(CTR_E_NUMERIC, CALL(obj, x.s, C, x.t, C, x.y, B, C, 1.0, 1.0));
        x.s[4] = saved;
        saved = x.t[7];
        x.t[7] = bad[v];
        EXPECT_FAIL(CTR_E_NUMERIC, CALL(obj, x.s, C, x.t, C, x.y, B, C, 1.0, 1.0));
        /* a teacher that is not read may hold anything */
        ck_assert_int_eq(ctr_objective_distill(obj, &loss, x.s, C, x.t, C, x.y, B, C, 1.0, 0.0,
                                               NULL), CTR_OK);
        x.t[7] = saved;
    }
    /* huge finite logits stay finite (double, max-subtracted) */
    x.s[0] = 3e38f, x.t[1] = -3e38f;
    ck_assert_int_eq(ctr_objective_distill(obj, &loss, x.s, C, x.t, C, x.y, B, C, 1.0, 1.0,
                                           x.g), CTR_OK);
    ck_assert(isfinite(loss));
    ctr_objective_destroy(obj);
}
END_TEST

/* ---- memory ------------------------------------------------------------------------- */

START_TEST(test_workspace_and_no_hot_allocation)
{
    static io x;
    test_alloc_state st;
    ctr_allocator a;
    ctr_objective *obj;
    size_t bytes = 0;
    int64_t before;
    double loss;
    io_init(&x);
    test_alloc_setup(&a, &st);
    obj = make(&a);
    ck_assert_int_eq(ctr_objective_workspace_size(obj, &bytes, 1000, C, 0), CTR_OK);
    before = st.live_bytes;
    ck_assert_int_eq(ctr_objective_distill(obj, &loss, x.s, C, x.t, C, x.y, B, C, 1.0, 1.0,
                                           x.g), CTR_OK);
    ck_assert_int_eq(st.live_bytes - before, (int64_t)bytes);
    ck_assert_uint_ge(bytes, 3 * C * sizeof(double));
    before = st.calls;
    ck_assert_int_eq(ctr_objective_distill(obj, &loss, x.s, C, x.t, C, x.y, B - 1, C, 1.0,
                                           1.0, x.g), CTR_OK);
    ck_assert_int_eq(st.calls, before);
    ctr_objective_destroy(obj);
    ck_assert_int_eq(st.live_blocks, 0);
}
END_TEST

static int oom_attempt(const ctr_allocator *a, void *p)
{
    io *x = (io *)p;
    ctr_objective *obj = NULL;
    double loss;
    int rc = ctr_objective_create(&obj, CTR_OBJECTIVE_DISTILL, a);
    if (rc == CTR_OK)
        rc = ctr_objective_distill(obj, &loss, x->s, C, x->t, C, x->y, B, C, 1.0, 1.0, x->g);
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
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, 3.0), CTR_OK);
    ck_assert_int_eq(ctr_objective_distill(obj, &loss, x.s, C, x.t, C, x.y, B, C, 0.1, 0.9,
                                           NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_save_buffer(obj, buf, sizeof(buf), &size), CTR_OK);
    ck_assert_int_eq(ctr_objective_load_buffer(&back, buf, size, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_kind(back), CTR_OBJECTIVE_DISTILL);
    ck_assert_int_eq(ctr_objective_get_f64(back, CTR_OBJECTIVE_P_TEMPERATURE, &v), CTR_OK);
    ck_assert_double_eq(v, 3.0);
    ck_assert_int_eq(ctr_objective_stat(back, CTR_OBJECTIVE_S_LOSS, &v), CTR_OK);
    ck_assert(memcmp(&v, &loss, sizeof(loss)) == 0);
    ck_assert_int_eq(ctr_objective_distill(back, &v, x.s, C, x.t, C, x.y, B, C, 0.1, 0.9,
                                           NULL), CTR_OK);
    ck_assert(memcmp(&v, &loss, sizeof(loss)) == 0);
    ctr_objective_destroy(obj);
    ctr_objective_destroy(back);
}
END_TEST

Suite *ctr_test_distill_suite(void);

Suite *ctr_test_distill_suite(void)
{
    Suite *s = suite_create("distill");
    TCase *num = tcase_create("numerics");
    TCase *args = tcase_create("arguments");
    TCase *mem = tcase_create("memory");
    tcase_set_timeout(num, 60);
    tcase_add_test(num, test_reference_and_finite_differences);
    tcase_add_test(num, test_pytorch_golden);
    tcase_add_test(num, test_defaults_and_statistics);
    tcase_add_test(num, test_train_logits_with_optimizer);
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
