/*
 * check_objective_scale.c - every objective at the scales users hit, not
 * only on unit vectors: rows of norm up to 100 without normalisation (tau
 * down to 0.01, logits up to 1e6), rows of any norm with NORMALIZE (tau
 * down to 0.001), and unit rows. The loss and every gradient are compared
 * with the double-precision reference of objective_ref.h (hand-derived
 * gradients, themselves checked against finite differences in
 * check_objective_numerics.c): loss within 1e-5 relative, each gradient
 * within 1e-4 of its largest entry.
 *
 * What float32 allows: a logit of magnitude L carries a rounding error of
 * about L * 2^-24 * sqrt(d) from its dot product, so where two logits of a
 * row are within a few units of each other at L ~ 1e5 the softmax itself
 * moves by ~1e-3 and no float32 code meets 1e-4 there (PyTorch included).
 * Such near-ties are rare for random rows (the seeds here have none within
 * the margin). What float32 does allow, and what these cases check, is
 * that nothing else adds error: a similarity is one number wherever it is
 * read, and a log-sum-exp is never rounded to float before it is
 * subtracted from a logit.
 *
 * CTR_TEST_SCALE_REPORT=1 prints each case's errors (stderr) instead of
 * stopping at the first case over its limits.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/prng.h"
#include "objective_ref.h"
#include "test_util.h"

#define LOSS_RTOL 1e-5
#define GRAD_RTOL 1e-4
/* with exact logits (integer rows, tau a power of two) all that is left
 * is the algorithm's own rounding */
#define EXACT_GRAD_RTOL 1e-6

/* ---- inputs ------------------------------------------------------------------- */

/* One input regime: raw row norms in [lo, hi] (or, with integers, entries
 * that are integers in [-hi, hi]), NORMALIZE, tau. */
typedef struct regime {
    double lo, hi;
    int normalize;
    double tau;
    int integers;
} regime;

/* rows x ld floats as the regime says (the padding past d is random too):
 * rows of random direction with a norm uniform in [lo, hi], or integer
 * entries. */
static float *draw_rows(uint64_t seed, int64_t rows, int64_t d, int64_t ld,
                        const regime *r)
{
    ctr__prng g;
    float *x = (float *)malloc((size_t)((rows > 0 ? rows : 1) * ld) *
                               sizeof(float));
    int64_t i, j;
    ctr__prng_seed(&g, seed);
    for (i = 0; i < rows * ld; i++)
        x[i] = r->integers
                   ? (float)((double)ctr__prng_below(&g, 2 * (uint64_t)r->hi + 1) - r->hi)
                   : (float)ctr__prng_normal(&g);
    for (i = 0; i < rows && !r->integers; i++) {
        double s = 0, want = r->lo + (r->hi - r->lo) * ctr__prng_uniform_f64(&g);
        for (j = 0; j < d; j++)
            s += (double)x[i * ld + j] * x[i * ld + j];
        for (j = 0; j < d; j++)
            x[i * ld + j] = (float)(x[i * ld + j] * want / sqrt(s));
    }
    return x;
}

static double *widen(const float *x, int64_t rows, int64_t d, int64_t ld)
{
    double *out = ref_alloc(rows * d);
    int64_t i, j;
    for (i = 0; i < rows; i++)
        for (j = 0; j < d; j++)
            out[i * d + j] = x[i * ld + j];
    return out;
}

/* Unnormalised rows of norm up to 100 with tau down to 0.01; rows of any
 * norm with NORMALIZE, tau down to 0.001; unit rows as given. Last, rows
 * of integers in [-40, 40] (norms up to ~110) or [-3, 3] (near-ties in
 * every row) with tau a power of two: every logit is then exact in float
 * whatever the order of its sums, so float32 owes the reference nothing
 * and only the algorithm can add error - the gradients must be within
 * 1e-6 of their largest entry there (a log-sum-exp rounded to float
 * before it is subtracted from a logit fails that). */
static const regime REGIMES[] = {
    {35, 85, 0, 0.05, 0}, /* the report: B = d = 8 */
    {10, 100, 0, 1.0, 0},  {10, 100, 0, 0.1, 0},  {10, 100, 0, 0.05, 0},
    {10, 100, 0, 0.01, 0}, {90, 100, 0, 0.05, 0}, {0.5, 100, 1, 1.0, 0},
    {0.5, 100, 1, 0.1, 0}, {0.5, 100, 1, 0.01, 0}, {0.5, 100, 1, 0.001, 0},
    {1, 1, 0, 0.05, 0},    {1, 1, 0, 0.5, 0},
    {0, 40, 0, 1.0, 1},    {0, 40, 0, 0.25, 1},   {0, 3, 0, 1.0, 1},
    {0, 3, 0, 0.5, 1},
};
#define N_REGIMES ((int)(sizeof(REGIMES) / sizeof(REGIMES[0])))
#define SEEDS 3
static const regime UNIT_ROWS = {1, 1, 0, 1.0, 0};

/* ---- comparing ---------------------------------------------------------------- */

typedef struct errors {
    double loss;  /* relative */
    double grad;  /* worst over the gradients, relative to the largest entry */
} errors;

/* max |got - want| over max(max |want|, floor) */
static double grad_error_floor(const float *got, const double *want,
                               int64_t n, double floor)
{
    double scale = floor, worst = 0;
    int64_t i;
    for (i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    for (i = 0; i < n; i++)
        worst = fmax(worst, fabs(got[i] - want[i]));
    return scale > 0 ? worst / scale : worst;
}

static double grad_error(const float *got, const double *want, int64_t n)
{
    return grad_error_floor(got, want, n, 0.0);
}

static double row_norm(const float *x, int64_t d)
{
    double s = 0;
    int64_t j;
    for (j = 0; j < d; j++)
        s += (double)x[j] * x[j];
    return sqrt(s);
}

/* NCE's gradient of anchor i is sum_k c_k v_k / (b tau) with |c_k| <= 1
 * (through the normalisation of z: divided by |z_i|). Where the exact Z
 * saturates - the own row e^600 above the others - the exact gradient
 * cancels to e^-600 of those terms, and float32 resolves a difference of
 * terms only to ~1e-7 of their size: no float32 code is relatively close
 * to such a gradient. The gradients' scale is therefore at least 1% of
 * the largest term, max |v| / (b tau min |z_i|). */
static double nce_floor(const float *z, int64_t b, const float *bank,
                        int64_t n, int64_t d, const regime *r)
{
    double vmax = 0, zmin = INFINITY;
    int64_t i;
    for (i = 0; i < n; i++)
        vmax = fmax(vmax, row_norm(bank + i * d, d));
    for (i = 0; i < b; i++)
        zmin = fmin(zmin, row_norm(z + i * d, d));
    return 1e-2 * vmax / ((double)b * r->tau * (r->normalize ? zmin : 1.0));
}

static void record(errors *e, double loss, double want)
{
    e->loss = fabs(loss - want) / fmax(fabs(want), 1e-30);
}

static void expect(const char *kind, const regime *r, uint64_t seed,
                   const errors *e)
{
    const char *rep = getenv("CTR_TEST_SCALE_REPORT");
    const double grad_limit = r->integers ? EXACT_GRAD_RTOL : GRAD_RTOL;
    if (rep != NULL && rep[0] == '1')
        fprintf(stderr,
                "scale %-14s norm %6.1f-%-6.1f norm.%d tau %-6g seed %d: "
                "loss %.2e grad %.2e\n",
                kind, r->lo, r->hi, r->normalize, r->tau, (int)seed, e->loss,
                e->grad);
    if (rep != NULL && rep[0] == '1')
        return; /* a report of every case, no stop at the first failure */
    ck_assert_msg(e->loss <= LOSS_RTOL && e->grad <= grad_limit,
                  "%s, norms %g-%g, normalize %d, tau %g, seed %d: loss "
                  "error %.3g (limit %g), gradient error %.3g of the largest "
                  "entry (limit %g)",
                  kind, r->lo, r->hi, r->normalize, r->tau, (int)seed,
                  e->loss, LOSS_RTOL, e->grad, grad_limit);
}

static ctr_objective *make(int32_t kind, const regime *r)
{
    ctr_objective *obj = NULL;
    ck_assert_int_eq(ctr_objective_create(&obj, kind, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE,
                                           r->tau), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NORMALIZE,
                                           r->normalize), CTR_OK);
    return obj;
}

static void expect_ok(int rc, const ctr_objective *obj)
{
    ck_assert_msg(rc == CTR_OK, "%s", ctr_objective_last_error(obj));
}

/* ---- two views: INFONCE (plain, symmetric, groups), NPAIR, NTXENT ------------ */

/* The reference of a two-view kind; a and p as the rows of the call. */
static double pair_reference(int32_t kind, const ref_ctx *c, double *ga,
                             double *gp)
{
    if (kind == CTR_OBJECTIVE_NTXENT)
        return ref_ntxent_full(c, ga, gp);
    return ref_inbatch(c, kind == CTR_OBJECTIVE_NPAIR ? 0.002 : 0.0, ga, gp);
}

static void pair_case(int32_t kind, const regime *r, uint64_t seed,
                      int symmetric, const int64_t *groups, int64_t b,
                      int64_t d, const char *name)
{
    const int64_t lda = d + 1;
    float *a = draw_rows(seed * 10 + 1, b, d, lda, r);
    float *p = draw_rows(seed * 10 + 2, b, d, d, r);
    float *ga = (float *)malloc((size_t)(b * d) * sizeof(float));
    float *gp = (float *)malloc((size_t)(b * d) * sizeof(float));
    double *ea = ref_alloc(b * d), *ep = ref_alloc(b * d), loss, want;
    ctr_objective *obj = make(kind, r);
    ref_ctx c;
    errors e;
    int rc;
    memset(&c, 0, sizeof(c));
    c.a = widen(a, b, d, lda), c.p = widen(p, b, d, d);
    c.b = b, c.d = d, c.tau = r->tau, c.normalize = r->normalize;
    c.symmetric = symmetric, c.groups = groups;
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_SYMMETRIC,
                                           symmetric), CTR_OK);
    if (kind == CTR_OBJECTIVE_NPAIR)
        rc = ctr_objective_npair(obj, &loss, a, lda, p, d, b, d, ga, gp);
    else if (kind == CTR_OBJECTIVE_NTXENT)
        rc = ctr_objective_ntxent(obj, &loss, a, lda, p, d, b, d, groups, ga,
                                  gp);
    else
        rc = ctr_objective_infonce(obj, &loss, a, lda, p, d, b, d, groups, ga,
                                   gp);
    expect_ok(rc, obj);
    want = pair_reference(kind, &c, ea, ep);
    record(&e, loss, want);
    e.grad = fmax(grad_error(ga, ea, b * d), grad_error(gp, ep, b * d));
    expect(name, r, seed, &e);
    ctr_objective_destroy(obj);
    free(a), free(p), free(ga), free(gp), free(ea), free(ep);
    free(c.a), free(c.p);
}

static const int64_t GROUPS[8] = {0, 1, 0, 2, 1, 3, 0, 2};

START_TEST(test_infonce_at_scale)
{
    const int32_t k = CTR_OBJECTIVE_INFONCE;
    const regime *r = &REGIMES[_i];
    uint64_t s;
    for (s = 1; s <= SEEDS; s++) {
        pair_case(k, r, s, 0, NULL, 8, 8, "infonce");
        pair_case(k, r, s, 1, NULL, 8, 8, "infonce sym");
        pair_case(k, r, s, 0, GROUPS, 8, 8, "infonce groups");
        pair_case(k, r, s, 1, GROUPS, 8, 8, "infonce sym+gr");
    }
}
END_TEST

START_TEST(test_npair_at_scale)
{
    const regime *r = &REGIMES[_i];
    uint64_t s;
    for (s = 1; s <= SEEDS; s++) {
        pair_case(CTR_OBJECTIVE_NPAIR, r, s, 0, NULL, 8, 8, "npair");
        pair_case(CTR_OBJECTIVE_NPAIR, r, s, 1, NULL, 8, 8, "npair sym");
    }
}
END_TEST

/* NT-Xent: the case (B = d = 8), groups (SupCon), a larger odd
 * batch. */
START_TEST(test_ntxent_at_scale)
{
    const int32_t k = CTR_OBJECTIVE_NTXENT;
    const regime *r = &REGIMES[_i];
    uint64_t s;
    for (s = 1; s <= SEEDS; s++) {
        pair_case(k, r, s, 0, NULL, 8, 8, "ntxent");
        pair_case(k, r, s, 0, GROUPS, 8, 8, "ntxent groups");
        pair_case(k, r, s, 0, NULL, 37, 16, "ntxent b37");
    }
}
END_TEST

/* ---- shared negatives and the bank softmax ----------------------------------------- */

static void shared_case(const regime *r, uint64_t seed, int with_ids)
{
    enum { B = 8, D = 8, K = 45, LDN = 11 };
    float *q = draw_rows(seed * 10 + 5, B, D, D, r);
    float *kp = draw_rows(seed * 10 + 6, B, D, D, r);
    float *neg = draw_rows(seed * 10 + 7, K, D, LDN, r);
    float gq[B * D], gk[B * D], gn[K * D];
    double eq[B * D], ek[B * D], en[K * D], loss, want;
    int64_t q_ids[B], n_ids[K], i;
    ctr_objective *obj = make(CTR_OBJECTIVE_INFONCE_SHARED, r);
    ref_ctx c;
    errors e;
    for (i = 0; i < B; i++)
        q_ids[i] = i % 3;
    for (i = 0; i < K; i++)
        n_ids[i] = i % 5;
    memset(&c, 0, sizeof(c));
    c.a = widen(q, B, D, D), c.p = widen(kp, B, D, D);
    c.neg = widen(neg, K, D, LDN);
    c.b = B, c.d = D, c.k = K, c.tau = r->tau, c.normalize = r->normalize;
    if (with_ids)
        c.q_ids = q_ids, c.neg_ids = n_ids;
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_TILE, 16),
                     CTR_OK);
    expect_ok(ctr_objective_infonce_shared(obj, &loss, q, D, kp, D, B, D, neg,
                                           LDN, K, c.q_ids, c.neg_ids, gq, gk,
                                           gn), obj);
    want = ref_shared_full(&c, eq, ek, en);
    record(&e, loss, want);
    e.grad = fmax(fmax(grad_error(gq, eq, B * D), grad_error(gk, ek, B * D)),
                  grad_error(gn, en, K * D));
    expect(with_ids ? "shared ids" : "shared", r, seed, &e);
    ctr_objective_destroy(obj);
    free(q), free(kp), free(neg), free(c.a), free(c.p), free(c.neg);
}

START_TEST(test_shared_at_scale)
{
    const regime *r = &REGIMES[_i];
    uint64_t s;
    for (s = 1; s <= SEEDS; s++) {
        shared_case(r, s, 0);
        shared_case(r, s, 1);
    }
}
END_TEST

static void bank_softmax_case(const regime *r, uint64_t seed)
{
    enum { B = 6, D = 8, N = 50 };
    float *z = draw_rows(seed * 10 + 8, B, D, D, r);
    float *bank = draw_rows(seed * 10 + 9, N, D, D, r);
    float gz[B * D];
    double ez[B * D], loss, want;
    int64_t self[B], i;
    ctr_objective *obj = make(CTR_OBJECTIVE_BANK_SOFTMAX, r);
    ref_ctx c;
    errors e;
    for (i = 0; i < B; i++)
        self[i] = (i * 7 + (int64_t)seed) % N;
    memset(&c, 0, sizeof(c));
    c.a = widen(z, B, D, D), c.bank = widen(bank, N, D, D);
    c.b = B, c.d = D, c.n = N, c.tau = r->tau, c.normalize = r->normalize;
    c.self_idx = self;
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_TILE, 16),
                     CTR_OK);
    expect_ok(ctr_objective_bank_softmax(obj, &loss, z, D, B, D, bank, D, N,
                                         self, gz), obj);
    want = ref_bank_softmax_full(&c, ez);
    record(&e, loss, want);
    e.grad = grad_error(gz, ez, B * D);
    expect("bank softmax", r, seed, &e);
    ctr_objective_destroy(obj);
    free(z), free(bank), free(c.a), free(c.bank);
}

START_TEST(test_bank_softmax_at_scale)
{
    uint64_t s;
    for (s = 1; s <= SEEDS; s++)
        bank_softmax_case(&REGIMES[_i], s);
}
END_TEST

/* ---- NCE ---------------------------------------------------------------------------- */

/* |z_i| as drawn, 99% along its own bank row: the memory bank's usual
 * state, in which the own row dominates the softmax (and the exact Z). */
static void toward_own_rows(float *z, const float *bank, const int64_t *self,
                            int64_t b, int64_t d)
{
    int64_t i, j;
    for (i = 0; i < b; i++) {
        double norm = row_norm(z + i * d, d);
        for (j = 0; j < d; j++)
            z[i * d + j] = (float)(0.99 * norm * bank[self[i] * d + j] +
                                   0.01 * z[i * d + j]);
    }
}

/* The bank's rows are unit vectors (what ctr_bank stores), or integers in
 * the exact regimes; z as the regime says, or (own) turned toward each
 * anchor's own row; Z fixed by the first call, or exact.
 * The own-row cases run at the temperatures (0.05, 0.1, 1) and
 * with unit rows: NCE's coefficients are sigmoids of logit - log Z, and
 * with the own row dominating they sit where the sigmoid turns, so they
 * carry the float rounding of the logits themselves (float dot products,
 * ~1e-7 of their size). At tau = 0.01 with rows of norm up to 100 (logits
 * ~1e4) that alone is 1.1e-4 of the largest gradient entry with a fixed
 * Z, and normalised rows at tau = 0.001 (all own logits ~1e3, near the
 * turn) give loss errors of 9e-6: float32's limit for this objective, not
 * a defect of the call (the exact-Z mode, whose own logit seeds Z, stays
 * below 1e-5 there). */
static void nce_case(const regime *r, uint64_t seed, int64_t mode, int own)
{
    enum { B = 6, D = 8, N = 40, KN = 9 };
    const uint64_t s0 = seed * 10 + (own ? 1000 : 0);
    float *z = draw_rows(s0 + 10, B, D, D, r);
    float *bank = draw_rows(s0 + 11, N, D, D, r->integers ? r : &UNIT_ROWS);
    float gz[B * D];
    double ez[B * D], loss, want, log_z;
    int64_t self[B], noise[B * KN], i;
    ctr_objective *obj = make(CTR_OBJECTIVE_NCE, r);
    ctr__prng g;
    ref_ctx c;
    errors e;
    ctr__prng_seed(&g, s0);
    for (i = 0; i < B; i++)
        self[i] = (int64_t)ctr__prng_below(&g, N);
    for (i = 0; i < B * KN; i++)
        noise[i] = (int64_t)ctr__prng_below(&g, N);
    if (own)
        toward_own_rows(z, bank, self, B, D);
    memset(&c, 0, sizeof(c));
    c.a = widen(z, B, D, D), c.bank = widen(bank, N, D, D);
    c.b = B, c.d = D, c.n = N, c.kn = KN, c.tau = r->tau;
    c.normalize = r->normalize, c.self_idx = self, c.noise_idx = noise;
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NCE_Z_MODE,
                                           mode), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_TILE, 16),
                     CTR_OK);
    expect_ok(ctr_objective_nce(obj, &loss, z, D, B, D, bank, D, N, self,
                                noise, KN, gz), obj);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_NCE_LOG_Z,
                                        &log_z), CTR_OK);
    c.log_z = mode == CTR_NCE_Z_EXACT ? NAN : log_z;
    want = ref_nce_full(&c, ez);
    record(&e, loss, want);
    e.grad = grad_error_floor(gz, ez, B * D, nce_floor(z, B, bank, N, D, r));
    expect(mode == CTR_NCE_Z_EXACT ? (own ? "nce own exact" : "nce exact")
                                   : (own ? "nce own fixed" : "nce fixed"),
           r, seed, &e);
    ctr_objective_destroy(obj);
    free(z), free(bank), free(c.a), free(c.bank);
}

START_TEST(test_nce_at_scale)
{
    const regime *r = &REGIMES[_i];
    const int own = !r->integers && r->tau >= 0.05;
    uint64_t s;
    for (s = 1; s <= SEEDS; s++) {
        nce_case(r, s, CTR_NCE_Z_FIXED, 0);
        nce_case(r, s, CTR_NCE_Z_EXACT, 0);
        if (own) {
            nce_case(r, s, CTR_NCE_Z_FIXED, 1);
            nce_case(r, s, CTR_NCE_Z_EXACT, 1);
        }
    }
}
END_TEST

Suite *ctr_test_objective_scale_suite(void);

Suite *ctr_test_objective_scale_suite(void)
{
    Suite *s = suite_create("objective_scale");
    TCase *tc = tcase_create("scale");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_infonce_at_scale, 0, N_REGIMES);
    tcase_add_loop_test(tc, test_npair_at_scale, 0, N_REGIMES);
    tcase_add_loop_test(tc, test_ntxent_at_scale, 0, N_REGIMES);
    tcase_add_loop_test(tc, test_shared_at_scale, 0, N_REGIMES);
    tcase_add_loop_test(tc, test_bank_softmax_at_scale, 0, N_REGIMES);
    tcase_add_loop_test(tc, test_nce_at_scale, 0, N_REGIMES);
    suite_add_tcase(s, tc);
    return s;
}
