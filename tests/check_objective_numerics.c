/*
 * check_objective_numerics.c - every objective against a naive
 * double-precision reference written here, every gradient against central
 * finite differences of that reference, edge cases (B = 1, K = 0/1, d = 1,
 * duplicate ids, tiny and huge temperatures, identical and unnormalised
 * inputs), and the tiled kernels against themselves at other tile sizes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/prng.h"
#include "objectives/tiled.h"
#include "objective_ref.h"
#include "test_util.h"

/* ---- inputs ----------------------------------------------------------------- */

static void to_double(double *out, const float *x, int64_t rows, int64_t d,
                      int64_t ld)
{
    int64_t i, j;
    for (i = 0; i < rows; i++)
        for (j = 0; j < d; j++)
            out[i * d + j] = x[i * ld + j];
}

static void unit_rows(float *x, int64_t rows, int64_t d)
{
    int64_t i, j;
    for (i = 0; i < rows; i++) {
        double s = 0;
        for (j = 0; j < d; j++)
            s += (double)x[i * d + j] * x[i * d + j];
        for (j = 0; j < d; j++)
            x[i * d + j] = (float)(x[i * d + j] / sqrt(s));
    }
}

/* ---- the double-precision reference (objective_ref.h) ---------------------- */

static double ref_dot(const double *x, const double *y, int64_t d, int norm)
{
    double u[64], v[64];
    ref_unit(u, x, d, norm);
    ref_unit(v, y, d, norm);
    return ref_dotd(u, v, d);
}

/* The losses alone, for finite differences. */
static double ref_infonce(const ref_ctx *c) { return ref_inbatch(c, 0.0, NULL, NULL); }
static double ref_npair(const ref_ctx *c) { return ref_inbatch(c, c->lambda, NULL, NULL); }
static double ref_ntxent(const ref_ctx *c) { return ref_ntxent_full(c, NULL, NULL); }
static double ref_shared(const ref_ctx *c) { return ref_shared_full(c, NULL, NULL, NULL); }
static double ref_bank_softmax(const ref_ctx *c) { return ref_bank_softmax_full(c, NULL); }
static double ref_nce(const ref_ctx *c) { return ref_nce_full(c, NULL); }

typedef double (*ref_fn)(const ref_ctx *);

/* Central differences of f with respect to x[0..n). */
static void ref_grad(ref_fn f, ref_ctx *c, double *x, int64_t n, double *g)
{
    double unit = 0; /* the inputs' scale, at most 1: steps are relative */
    int64_t i;
    for (i = 0; i < n; i++)
        unit = fmax(unit, fabs(x[i]));
    unit = fmin(unit, 1.0);
    for (i = 0; i < n; i++) {
        double keep = x[i], up, down, h = 1e-5 * fmax(unit, fabs(keep));
        x[i] = keep + h;
        up = f(c);
        x[i] = keep - h;
        down = f(c);
        x[i] = keep;
        g[i] = (up - down) / (2 * h);
    }
}

/* A float gradient (rows x d contiguous) against finite differences. */
static void check_grad(const char *what, const float *got, ref_fn f,
                       ref_ctx *c, double *x, int64_t n)
{
    double *want = (double *)malloc((size_t)n * sizeof(double));
    double scale = 0, unit = 0;
    int64_t i;
    ref_grad(f, c, x, n, want);
    /* gradients all ~0 (e.g. K = 0) are compared against 1e-9 of the
     * scale of 1 / |x|, not against an absolute floor that tiny
     * gradients of huge inputs would slip under */
    for (i = 0; i < n; i++)
        unit = fmax(unit, fabs(x[i]));
    unit = unit > 0 ? 1.0 / unit : 1.0;
    for (i = 0; i < n; i++)
        scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
    for (i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= 2e-3 * fabs(want[i]) +
                                                     1e-4 * scale + 1e-9 * unit,
                      "%s[%lld] = %.8g, finite differences %.8g", what,
                      (long long)i, (double)got[i], want[i]);
    free(want);
}

/* The reference's hand-derived gradient (objective_ref.h) against the
 * finite differences of its loss: check_objective_scale.c trusts it. */
static void check_ref_grad(const char *what, const double *exact, ref_fn f,
                           ref_ctx *c, double *x, int64_t n)
{
    float *g = (float *)malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    int64_t i;
    for (i = 0; i < n; i++)
        g[i] = (float)exact[i];
    check_grad(what, g, f, c, x, n);
    free(g);
}

static ctr_objective *make(int32_t kind, double tau, int normalize)
{
    ctr_objective *obj = NULL;
    ck_assert_int_eq(ctr_objective_create(&obj, kind, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE,
                                           tau), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NORMALIZE,
                                           normalize), CTR_OK);
    return obj;
}

static double stat(const ctr_objective *obj, int32_t s)
{
    double v = NAN;
    ck_assert_int_eq(ctr_objective_stat(obj, s, &v), CTR_OK);
    return v;
}

/* ---- in-batch InfoNCE and N-pair --------------------------------------------- */

static void run_infonce_case(int32_t kind, int64_t b, int64_t d, double tau,
                             int normalize, int symmetric,
                             const int64_t *groups, float input_scale)
{
    const int64_t lda = d + 3, ldp = d + 1;
    float *a = test_randn(11 + (uint64_t)b, b, lda, input_scale);
    float *p = test_randn(22 + (uint64_t)d, b, ldp, input_scale);
    float *ga = (float *)malloc((size_t)(b * d) * sizeof(float));
    float *gp = (float *)malloc((size_t)(b * d) * sizeof(float));
    double *da = (double *)malloc((size_t)(b * d) * sizeof(double));
    double *dp = (double *)malloc((size_t)(b * d) * sizeof(double));
    double *ea = ref_alloc(b * d), *ep = ref_alloc(b * d);
    ctr_objective *obj = make(kind, tau, normalize);
    ref_fn f = kind == CTR_OBJECTIVE_NPAIR ? ref_npair : ref_infonce;
    ref_ctx c;
    double loss = NAN, want;
    int rc;
    memset(&c, 0, sizeof(c));
    to_double(da, a, b, d, lda);
    to_double(dp, p, b, d, ldp);
    c.a = da, c.p = dp, c.b = b, c.d = d, c.tau = tau, c.lambda = 0.002;
    c.normalize = normalize, c.symmetric = symmetric, c.groups = groups;
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_SYMMETRIC,
                                           symmetric), CTR_OK);
    if (kind == CTR_OBJECTIVE_NPAIR)
        rc = ctr_objective_npair(obj, &loss, a, lda, p, ldp, b, d, ga, gp);
    else
        rc = ctr_objective_infonce(obj, &loss, a, lda, p, ldp, b, d, groups,
                                   ga, gp);
    ck_assert_msg(rc == CTR_OK, "%s", ctr_objective_last_error(obj));
    want = f(&c);
    ck_assert_close(loss, want, 1e-5, 1e-5);
    ck_assert_close(stat(obj, CTR_OBJECTIVE_S_LOSS), loss, 0, 0);
    check_grad("grad_a", ga, f, &c, da, b * d);
    check_grad("grad_p", gp, f, &c, dp, b * d);
    ref_inbatch(&c, kind == CTR_OBJECTIVE_NPAIR ? c.lambda : 0.0, ea, ep);
    check_ref_grad("reference grad_a", ea, f, &c, da, b * d);
    check_ref_grad("reference grad_p", ep, f, &c, dp, b * d);
    ctr_objective_destroy(obj);
    free(a), free(p), free(ga), free(gp), free(da), free(dp);
    free(ea), free(ep);
}

START_TEST(test_infonce_against_reference)
{
    static const int64_t groups[6] = {3, 1, 3, 2, 1, 3};
    int norm, sym;
    for (norm = 0; norm < 2; norm++) {
        for (sym = 0; sym < 2; sym++) {
            run_infonce_case(CTR_OBJECTIVE_INFONCE, 6, 5, 0.5, norm, sym,
                             NULL, 0.5f);
            run_infonce_case(CTR_OBJECTIVE_INFONCE, 6, 5, 0.3, norm, sym,
                             groups, 0.5f);
        }
    }
    run_infonce_case(CTR_OBJECTIVE_INFONCE, 1, 4, 0.1, 1, 0, NULL, 1.0f);
    run_infonce_case(CTR_OBJECTIVE_INFONCE, 4, 1, 0.2, 0, 1, NULL, 1.0f);
    run_infonce_case(CTR_OBJECTIVE_INFONCE, 9, 17, 0.07, 1, 0, NULL, 1.0f);
    run_infonce_case(CTR_OBJECTIVE_INFONCE, 37, 3, 0.2, 1, 1, NULL, 1.0f);
}
END_TEST

START_TEST(test_npair_against_reference)
{
    run_infonce_case(CTR_OBJECTIVE_NPAIR, 7, 6, 1.0, 0, 0, NULL, 0.7f);
    run_infonce_case(CTR_OBJECTIVE_NPAIR, 7, 6, 0.1, 1, 0, NULL, 0.7f);
    run_infonce_case(CTR_OBJECTIVE_NPAIR, 5, 3, 1.0, 0, 1, NULL, 0.7f);
}
END_TEST

START_TEST(test_infonce_statistics)
{
    /* identical rows: every logit equal, loss = log b, nothing correct */
    enum { B = 4, D = 3 };
    float a[B * D], ga[B * D], gp[B * D];
    ctr_objective *obj = make(CTR_OBJECTIVE_INFONCE, 0.1, 1);
    double loss;
    int i;
    for (i = 0; i < B * D; i++)
        a[i] = 1.0f;
    ck_assert_int_eq(ctr_objective_infonce(obj, &loss, a, D, a, D, B, D, NULL,
                                           ga, gp), CTR_OK);
    ck_assert_close(loss, log(4.0), 1e-6, 1e-6);
    ck_assert_close(stat(obj, CTR_OBJECTIVE_S_CHANCE_LOSS), log(4.0), 0, 1e-12);
    ck_assert_close(stat(obj, CTR_OBJECTIVE_S_ACCURACY), 0.0, 0, 0);
    ck_assert_close(stat(obj, CTR_OBJECTIVE_S_POS_SIM), 1.0, 1e-6, 1e-6);
    ck_assert_close(stat(obj, CTR_OBJECTIVE_S_NEG_SIM), 1.0, 1e-6, 1e-6);
    for (i = 0; i < B * D; i++) {
        ck_assert_close(ga[i], 0.0, 0, 1e-5);
        ck_assert_close(gp[i], 0.0, 0, 1e-5);
    }
    /* orthogonal unit rows: perfect accuracy */
    memset(a, 0, sizeof(a));
    a[0] = a[4] = a[8] = 1.0f;
    ck_assert_int_eq(ctr_objective_infonce(obj, &loss, a, D, a, D, 3, D, NULL,
                                           NULL, NULL), CTR_OK);
    ck_assert_close(stat(obj, CTR_OBJECTIVE_S_ACCURACY), 1.0, 0, 0);
    ck_assert_close(stat(obj, CTR_OBJECTIVE_S_NEG_SIM), 0.0, 0, 1e-7);
    ck_assert_close(stat(obj, CTR_OBJECTIVE_S_CALLS), 2.0, 0, 0);
    ctr_objective_destroy(obj);
}
END_TEST

/* ---- NT-Xent -------------------------------------------------------------------- */

static void run_ntxent_case(int64_t b, int64_t d, double tau, int normalize,
                            const int64_t *groups)
{
    float *z1 = test_randn(5, b, d + 2, 1.0f);
    float *z2 = test_randn(6, b, d, 1.0f);
    float *g1 = (float *)malloc((size_t)(b * d) * sizeof(float));
    float *g2 = (float *)malloc((size_t)(b * d) * sizeof(float));
    double *d1 = (double *)malloc((size_t)(b * d) * sizeof(double));
    double *d2 = (double *)malloc((size_t)(b * d) * sizeof(double));
    double *e1 = ref_alloc(b * d), *e2 = ref_alloc(b * d);
    ctr_objective *obj = make(CTR_OBJECTIVE_NTXENT, tau, normalize);
    ref_ctx c;
    double loss;
    int rc;
    memset(&c, 0, sizeof(c));
    to_double(d1, z1, b, d, d + 2);
    to_double(d2, z2, b, d, d);
    c.a = d1, c.p = d2, c.b = b, c.d = d, c.tau = tau;
    c.normalize = normalize, c.groups = groups;
    rc = ctr_objective_ntxent(obj, &loss, z1, d + 2, z2, d, b, d, groups, g1,
                              g2);
    ck_assert_msg(rc == CTR_OK, "%s", ctr_objective_last_error(obj));
    ck_assert_close(loss, ref_ntxent(&c), 1e-5, 1e-5);
    ck_assert_close(stat(obj, CTR_OBJECTIVE_S_CHANCE_LOSS), log(2.0 * b - 1),
                    0, 1e-12);
    check_grad("grad_z1", g1, ref_ntxent, &c, d1, b * d);
    check_grad("grad_z2", g2, ref_ntxent, &c, d2, b * d);
    ref_ntxent_full(&c, e1, e2);
    check_ref_grad("reference grad_z1", e1, ref_ntxent, &c, d1, b * d);
    check_ref_grad("reference grad_z2", e2, ref_ntxent, &c, d2, b * d);
    ctr_objective_destroy(obj);
    free(z1), free(z2), free(g1), free(g2), free(d1), free(d2);
    free(e1), free(e2);
}

START_TEST(test_ntxent_against_reference)
{
    static const int64_t groups[5] = {0, 1, 0, 2, 1};
    run_ntxent_case(5, 4, 0.5, 1, NULL);
    run_ntxent_case(5, 4, 0.5, 0, NULL);
    run_ntxent_case(5, 4, 0.2, 1, groups);
    run_ntxent_case(1, 3, 0.1, 1, NULL);
    run_ntxent_case(3, 1, 0.5, 0, NULL);
    run_ntxent_case(21, 3, 0.3, 1, NULL);
}
END_TEST

/* ---- shared negatives ----------------------------------------------------------- */

static void run_shared_case(int64_t b, int64_t d, int64_t k, double tau,
                            int normalize, int with_ids, int64_t tile,
                            float scale)
{
    const int64_t ldn = d + 2;
    float *q = test_randn(71, b, d, scale);
    float *kp = test_randn(72, b, d, scale);
    float *neg = test_randn(73, k > 0 ? k : 1, ldn, scale);
    float *gq = (float *)malloc((size_t)(b * d) * sizeof(float));
    float *gk = (float *)malloc((size_t)(b * d) * sizeof(float));
    float *gn = (float *)malloc((size_t)((k > 0 ? k : 1) * d) * sizeof(float));
    double *dq = (double *)malloc((size_t)(b * d) * sizeof(double));
    double *dk = (double *)malloc((size_t)(b * d) * sizeof(double));
    double *dn = (double *)malloc((size_t)((k > 0 ? k : 1) * d) * sizeof(double));
    int64_t *q_ids = (int64_t *)malloc((size_t)b * sizeof(int64_t));
    int64_t *n_ids = (int64_t *)malloc((size_t)(k > 0 ? k : 1) * sizeof(int64_t));
    ctr_objective *obj = make(CTR_OBJECTIVE_INFONCE_SHARED, tau, normalize);
    double *eq = ref_alloc(b * d), *ek = ref_alloc(b * d), *en = ref_alloc(k * d);
    ref_ctx c;
    double loss;
    int64_t i;
    int rc;
    for (i = 0; i < b; i++)
        q_ids[i] = i % 3;
    for (i = 0; i < k; i++)
        n_ids[i] = i % 5; /* duplicates of the queries' ids */
    memset(&c, 0, sizeof(c));
    to_double(dq, q, b, d, d);
    to_double(dk, kp, b, d, d);
    to_double(dn, neg, k, d, ldn);
    c.a = dq, c.p = dk, c.neg = dn, c.b = b, c.d = d, c.k = k, c.tau = tau;
    c.normalize = normalize;
    if (with_ids)
        c.q_ids = q_ids, c.neg_ids = n_ids;
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_TILE, tile),
                     CTR_OK);
    rc = ctr_objective_infonce_shared(obj, &loss, q, d, kp, d, b, d,
                                      k > 0 ? neg : NULL, ldn, k, c.q_ids,
                                      c.neg_ids, gq, gk, gn);
    ck_assert_msg(rc == CTR_OK, "%s", ctr_objective_last_error(obj));
    ck_assert_close(loss, ref_shared(&c), 1e-5, 1e-5);
    ck_assert_close(stat(obj, CTR_OBJECTIVE_S_CHANCE_LOSS), log(k + 1.0), 0,
                    1e-12);
    check_grad("grad_q", gq, ref_shared, &c, dq, b * d);
    check_grad("grad_k", gk, ref_shared, &c, dk, b * d);
    if (k > 0)
        check_grad("grad_neg", gn, ref_shared, &c, dn, k * d);
    ref_shared_full(&c, eq, ek, en);
    check_ref_grad("reference grad_q", eq, ref_shared, &c, dq, b * d);
    check_ref_grad("reference grad_k", ek, ref_shared, &c, dk, b * d);
    check_ref_grad("reference grad_neg", en, ref_shared, &c, dn, k * d);
    free(eq), free(ek), free(en);
    ctr_objective_destroy(obj);
    free(q), free(kp), free(neg), free(gq), free(gk), free(gn);
    free(dq), free(dk), free(dn), free(q_ids), free(n_ids);
}

START_TEST(test_shared_against_reference)
{
    int norm, ids;
    for (norm = 0; norm < 2; norm++)
        for (ids = 0; ids < 2; ids++)
            run_shared_case(5, 6, 19, 0.2, norm, ids, 8, 0.5f);
    run_shared_case(1, 3, 1, 0.1, 1, 0, 8, 1.0f);  /* B = 1, K = 1 */
    run_shared_case(4, 1, 9, 0.5, 0, 0, 8, 1.0f);  /* d = 1 */
    run_shared_case(3, 4, 0, 0.1, 1, 1, 8, 1.0f);  /* empty queue */
    run_shared_case(6, 5, 40, 0.07, 1, 1, 16, 1.0f);
}
END_TEST

START_TEST(test_shared_temperature_extremes)
{
    /* unit inputs at tau = 0.01 and 0.001: logits up to 1000, finite and
     * equal to the reference; tau = 1000: nearly uniform */
    run_shared_case(4, 5, 13, 0.01, 1, 0, 8, 1.0f);
    run_shared_case(4, 5, 13, 0.001, 1, 0, 8, 1.0f);
    run_shared_case(4, 5, 13, 1000.0, 1, 0, 8, 1.0f);
    /* unnormalised inputs of norm ~ 1000 and ~ 1e15 with the normalise
     * option (the key normalisation's backward must not underflow) */
    run_shared_case(4, 5, 13, 0.05, 1, 1, 8, 1000.0f);
    run_shared_case(4, 5, 13, 0.05, 1, 1, 8, 1e15f);
    run_shared_case(4, 5, 13, 0.05, 1, 1, 8, 1e25f);
    run_shared_case(4, 5, 13, 0.05, 1, 0, 8, 1e-15f);
    run_infonce_case(CTR_OBJECTIVE_INFONCE, 5, 4, 0.01, 1, 1, NULL, 1000.0f);
    run_ntxent_case(4, 5, 0.01, 1, NULL);
    /* row log-sum-exps hundreds apart: NT-Xent's exact slow path */
    run_ntxent_case(4, 5, 0.001, 1, NULL);
    {
        static const int64_t g[4] = {1, 0, 1, 2};
        run_ntxent_case(4, 5, 0.001, 1, g);
    }
}
END_TEST

START_TEST(test_shared_tiles_agree)
{
    /* the same call at several tile sizes, a queue view with ld > d */
    enum { B = 16, D = 32, K = 3001, LD = 40 };
    float *q = test_randn(1, B, D, 1.0f), *kp = test_randn(2, B, D, 1.0f);
    float *neg = test_randn(3, K, LD, 1.0f);
    float *g0 = (float *)malloc(B * D * sizeof(float));
    float *g1 = (float *)malloc(B * D * sizeof(float));
    static const int64_t tiles[3] = {8, 1000, 4096};
    double l0 = 0, l1;
    int t, i;
    for (t = 0; t < 3; t++) {
        ctr_objective *obj = make(CTR_OBJECTIVE_INFONCE_SHARED, 0.07, 1);
        ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_TILE,
                                               tiles[t]), CTR_OK);
        ck_assert_int_eq(ctr_objective_infonce_shared(
                             obj, t == 0 ? &l0 : &l1, q, D, kp, D, B, D, neg,
                             LD, K, NULL, NULL, t == 0 ? g0 : g1, NULL, NULL),
                         CTR_OK);
        if (t > 0) {
            ck_assert_close(l1, l0, 1e-5, 1e-6);
            for (i = 0; i < B * D; i++)
                ck_assert_close(g1[i], g0[i], 1e-3, 1e-6);
        }
        ctr_objective_destroy(obj);
    }
    free(q), free(kp), free(neg), free(g0), free(g1);
}
END_TEST


START_TEST(test_identical_inputs_and_full_masking)
{
    enum { B = 3, D = 4, K = 5 };
    float x[K * D], g[B * D], g2[B * D];
    int64_t q_ids[B] = {7, 8, 9}, n_ids[K] = {7, 7, 7, 7, 7};
    ctr_objective *sh = make(CTR_OBJECTIVE_INFONCE_SHARED, 0.1, 1);
    ctr_objective *nt = make(CTR_OBJECTIVE_NTXENT, 0.5, 1);
    double loss;
    int i;
    for (i = 0; i < K * D; i++)
        x[i] = 0.25f;
    /* every logit equal: chance loss, zero gradients */
    ck_assert_int_eq(ctr_objective_infonce_shared(sh, &loss, x, D, x, D, B, D, x, D, K,
                                                  NULL, NULL, g, NULL, NULL), CTR_OK);
    ck_assert_close(loss, log(K + 1.0), 1e-6, 1e-6);
    for (i = 0; i < B * D; i++)
        ck_assert_close(g[i], 0.0, 0, 1e-5);
    ck_assert_int_eq(ctr_objective_ntxent(nt, &loss, x, D, x, D, B, D, NULL, g, g2), CTR_OK);
    ck_assert_close(loss, log(2.0 * B - 1), 1e-6, 1e-6);
    for (i = 0; i < B * D; i++)
        ck_assert_close(g2[i], 0.0, 0, 1e-5);
    /* row 0's negatives all carry its own id: only its positive is left,
     * its loss is 0; rows 1 and 2 keep all five */
    ck_assert_int_eq(ctr_objective_infonce_shared(sh, &loss, x, D, x, D, B, D, x, D, K,
                                                  q_ids, n_ids, g, NULL, NULL), CTR_OK);
    ck_assert_close(loss, 2.0 * log(K + 1.0) / 3.0, 1e-6, 1e-6);
    ck_assert_close(stat(sh, CTR_OBJECTIVE_S_ACCURACY), 1.0 / 3.0, 1e-12, 0);
    ctr_objective_destroy(sh);
    ctr_objective_destroy(nt);
}
END_TEST

/* ---- bank softmax and NCE ---------------------------------------------------- */

typedef struct bank_case {
    int64_t b, d, n, kn;
    float *z, *bank;
    double *dz, *dbank;
    int64_t *self_idx, *noise_idx;
} bank_case;

static void bank_case_init(bank_case *bc, int64_t b, int64_t d, int64_t n,
                           int64_t kn)
{
    ctr__prng g;
    int64_t i;
    bc->b = b, bc->d = d, bc->n = n, bc->kn = kn;
    bc->z = test_randn(91, b, d, 1.0f);
    bc->bank = test_randn(92, n, d, 1.0f);
    unit_rows(bc->bank, n, d);
    bc->dz = (double *)malloc((size_t)(b * d) * sizeof(double));
    bc->dbank = (double *)malloc((size_t)(n * d) * sizeof(double));
    to_double(bc->dz, bc->z, b, d, d);
    to_double(bc->dbank, bc->bank, n, d, d);
    bc->self_idx = (int64_t *)malloc((size_t)b * sizeof(int64_t));
    bc->noise_idx = (int64_t *)malloc((size_t)(b * kn + 1) * sizeof(int64_t));
    ctr__prng_seed(&g, 93);
    for (i = 0; i < b; i++)
        bc->self_idx[i] = (int64_t)ctr__prng_below(&g, (uint64_t)n);
    for (i = 0; i < b * kn; i++)
        bc->noise_idx[i] = (int64_t)ctr__prng_below(&g, (uint64_t)n);
}

static void bank_case_free(bank_case *bc)
{
    free(bc->z), free(bc->bank), free(bc->dz), free(bc->dbank);
    free(bc->self_idx), free(bc->noise_idx);
}

static void bank_ctx(ref_ctx *c, const bank_case *bc, double tau, int norm)
{
    memset(c, 0, sizeof(*c));
    c->a = bc->dz, c->bank = bc->dbank, c->b = bc->b, c->d = bc->d;
    c->n = bc->n, c->kn = bc->kn, c->tau = tau, c->normalize = norm;
    c->self_idx = bc->self_idx, c->noise_idx = bc->noise_idx;
}

START_TEST(test_bank_softmax_against_reference)
{
    bank_case bc;
    int norm;
    bank_case_init(&bc, 5, 6, 37, 0);
    for (norm = 0; norm < 2; norm++) {
        ctr_objective *obj = make(CTR_OBJECTIVE_BANK_SOFTMAX, 0.1, norm);
        float gz[30];
        double loss, ez[30];
        ref_ctx c;
        bank_ctx(&c, &bc, 0.1, norm);
        ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_TILE, 8),
                         CTR_OK);
        ck_assert_int_eq(ctr_objective_bank_softmax(obj, &loss, bc.z, 6, 5, 6,
                                                    bc.bank, 6, 37,
                                                    bc.self_idx, gz), CTR_OK);
        ck_assert_close(loss, ref_bank_softmax(&c), 1e-5, 1e-5);
        ck_assert_close(stat(obj, CTR_OBJECTIVE_S_CHANCE_LOSS), log(37.0), 0,
                        1e-12);
        check_grad("grad_z", gz, ref_bank_softmax, &c, bc.dz, 30);
        ref_bank_softmax_full(&c, ez);
        check_ref_grad("reference grad_z", ez, ref_bank_softmax, &c, bc.dz, 30);
        ctr_objective_destroy(obj);
    }
    bank_case_free(&bc);
}
END_TEST

static void run_nce_case(int64_t mode, int norm, double tau)
{
    bank_case bc;
    ctr_objective *obj = make(CTR_OBJECTIVE_NCE, tau, norm);
    float gz[4 * 6];
    double loss, log_z, first_log_z = 0, ez[4 * 6];
    ref_ctx c;
    int call;
    bank_case_init(&bc, 4, 6, 29, 7);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NCE_Z_MODE,
                                           mode), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_TILE, 8),
                     CTR_OK);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_NCE_Z, &log_z),
                     CTR_E_STAGE);
    for (call = 0; call < 2; call++) {
        int rc = ctr_objective_nce(obj, &loss, bc.z, 6, 4, 6, bc.bank, 6, 29,
                                   bc.self_idx, bc.noise_idx, 7, gz);
        ck_assert_msg(rc == CTR_OK, "%s", ctr_objective_last_error(obj));
        log_z = stat(obj, CTR_OBJECTIVE_S_NCE_LOG_Z);
        ck_assert_close(stat(obj, CTR_OBJECTIVE_S_NCE_Z), exp(log_z), 1e-12, 0);
        bank_ctx(&c, &bc, tau, norm);
        c.log_z = mode == CTR_NCE_Z_EXACT ? NAN : log_z;
        ck_assert_close(loss, ref_nce(&c), 1e-5, 1e-5);
        check_grad("grad_z", gz, ref_nce, &c, bc.dz, 4 * 6);
        ref_nce_full(&c, ez);
        check_ref_grad("reference grad_z", ez, ref_nce, &c, bc.dz, 4 * 6);
        if (call == 0)
            first_log_z = log_z;
        else if (mode == CTR_NCE_Z_FIXED)
            ck_assert_close(log_z, first_log_z, 0, 0);
        /* move z so that an EMA would change */
        bc.z[0] += 0.5f;
        bc.dz[0] += 0.5;
    }
    ctr_objective_destroy(obj);
    bank_case_free(&bc);
}

START_TEST(test_nce_against_reference)
{
    run_nce_case(CTR_NCE_Z_FIXED, 1, 0.07);
    run_nce_case(CTR_NCE_Z_FIXED, 0, 0.5);
    run_nce_case(CTR_NCE_Z_EMA, 1, 0.1);
    run_nce_case(CTR_NCE_Z_EXACT, 1, 0.1);
    run_nce_case(CTR_NCE_Z_EXACT, 0, 0.3);
}
END_TEST

START_TEST(test_nce_fixed_z_is_n_mean_exp)
{
    /* the first batch sets Z = n * mean(exp(logits)) over b (kn+1) entries */
    bank_case bc;
    ctr_objective *obj = make(CTR_OBJECTIVE_NCE, 0.1, 1);
    double s = 0, zi[6], loss;
    int64_t i, k;
    bank_case_init(&bc, 3, 6, 20, 5);
    ck_assert_int_eq(ctr_objective_nce(obj, &loss, bc.z, 6, 3, 6, bc.bank, 6,
                                       20, bc.self_idx, bc.noise_idx, 5, NULL),
                     CTR_OK);
    for (i = 0; i < 3; i++) {
        ref_unit(zi, bc.dz + i * 6, 6, 1);
        for (k = 0; k <= 5; k++) {
            int64_t r = k == 0 ? bc.self_idx[i] : bc.noise_idx[i * 5 + k - 1];
            s += exp(ref_dot(zi, bc.dbank + r * 6, 6, 0) / 0.1);
        }
    }
    ck_assert_close(stat(obj, CTR_OBJECTIVE_S_NCE_Z), 20.0 * s / 18.0, 1e-5, 0);
    ck_assert_int_eq(ctr_objective_reset(obj), CTR_OK);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_NCE_Z, &s),
                     CTR_E_STAGE);
    ctr_objective_destroy(obj);
    bank_case_free(&bc);
}
END_TEST

/* NCE's exact Z reads the gathered logits out of the tiles: the keys are
 * grouped by tile by a radix sort on the tile number, 11 bits a pass.
 * Tile numbers of 1, 11, 12 and 22 bits: one pass, one full pass, two
 * and two full passes; the order within a tile is the input order. */
START_TEST(test_capture_keys_sort)
{
    enum { CNT = 3001 };
    static const int64_t shapes[4][2] = {
        {40, 16}, {2048 * 8, 8}, {4096 * 8, 8}, {(int64_t)1 << 25, 8}};
    uint64_t keys[CNT], tmp[CNT];
    int64_t hist[1 << 11], i, s;
    ctr__prng g;
    ctr__prng_seed(&g, 5);
    for (s = 0; s < 4; s++) {
        const int64_t n = shapes[s][0], tile = shapes[s][1];
        for (i = 0; i < CNT; i++)
            keys[i] = ctr__prng_below(&g, (uint64_t)n) << 32 | (uint64_t)i;
        ctr__tiled_sort_keys(keys, tmp, CNT, tile, n, hist);
        for (i = 1; i < CNT; i++) {
            const int64_t t0 = (int64_t)(keys[i - 1] >> 32) / tile;
            const int64_t t1 = (int64_t)(keys[i] >> 32) / tile;
            ck_assert(t0 < t1 || (t0 == t1 && (keys[i - 1] & 0xffffffffu) <
                                                  (keys[i] & 0xffffffffu)));
        }
    }
}
END_TEST

Suite *ctr_test_objective_numerics_suite(void);

Suite *ctr_test_objective_numerics_suite(void)
{
    Suite *s = suite_create("objective_numerics");
    TCase *inbatch = tcase_create("inbatch");
    TCase *shared = tcase_create("shared");
    TCase *bank = tcase_create("bank");
    tcase_set_timeout(shared, 60);
    tcase_add_test(inbatch, test_infonce_against_reference);
    tcase_add_test(inbatch, test_npair_against_reference);
    tcase_add_test(inbatch, test_infonce_statistics);
    tcase_add_test(inbatch, test_ntxent_against_reference);
    tcase_add_test(shared, test_shared_against_reference);
    tcase_add_test(shared, test_shared_temperature_extremes);
    tcase_add_test(shared, test_shared_tiles_agree);
    tcase_add_test(shared, test_identical_inputs_and_full_masking);
    tcase_add_test(bank, test_bank_softmax_against_reference);
    tcase_add_test(bank, test_nce_against_reference);
    tcase_add_test(bank, test_nce_fixed_z_is_n_mean_exp);
    tcase_add_test(bank, test_capture_keys_sort);
    suite_add_tcase(s, inbatch);
    suite_add_tcase(s, shared);
    suite_add_tcase(s, bank);
    return s;
}
