/*
 * check_cpc.c - the CPC critic's numbers (CTR_OBJECTIVE_CPC,
 * contrastive/cpc.h): loss, every gradient and the per-step accuracies
 * against a naive double-precision reference for the three negative
 * policies at odd shapes (b = 1, t = 2, d != dc, steps = t - 1, strided
 * views, temperature, bias), against PyTorch's reference formulations
 * (tests/data/cpc_golden.txt from tests/gen_cpc.py), the documented draw
 * order of sampled negatives, and Greedy InfoMax's rule: a module's step
 * is bit-identical with and without the loss of the module above it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_util.h"
#include "test_util.h"

/* ---- the double-precision reference ----------------------------------- */

typedef struct cpc_shape {
    int64_t b, t, d, dc, k;
    int32_t pol;
    int64_t n_neg;
    double tau;
    int bias;
} cpc_shape;

/* Outputs of one evaluation (double for the reference, float for us). */
typedef struct cpc_out {
    double loss;
    double *gz, *gc, *gw, *gb, *acc;
} cpc_out;

static void out_alloc(cpc_out *o, const cpc_shape *s)
{
    o->gz = (double *)calloc((size_t)(s->b * s->t * s->d), sizeof(double));
    o->gc = (double *)calloc((size_t)(s->b * s->t * s->dc), sizeof(double));
    o->gw = (double *)calloc((size_t)(s->k * s->d * s->dc), sizeof(double));
    o->gb = (double *)calloc((size_t)(s->k * s->d), sizeof(double));
    o->acc = (double *)calloc((size_t)s->k, sizeof(double));
    o->loss = 0.0;
}

static void out_free(cpc_out *o)
{
    free(o->gz), free(o->gc), free(o->gw), free(o->gb), free(o->acc);
}

/* Candidates of anchor (i, u) at step k as positions i' * t + u'; the
 * positive first. Returns their count. */
static int64_t candidates(const cpc_shape *s, const int64_t *idx, int64_t k,
                          int64_t i, int64_t u, int64_t *cand)
{
    const int64_t pos = i * s->t + u + k;
    int64_t m = 0, j;
    cand[m++] = pos;
    if (s->pol == CTR_CPC_NEG_BATCH) {
        for (j = 0; j < s->b; j++)
            if (j != i)
                cand[m++] = j * s->t + u + k;
    } else if (s->pol == CTR_CPC_NEG_ALL) {
        for (j = 0; j < s->b * s->t; j++)
            if (j != pos)
                cand[m++] = j;
    } else {
        const int64_t *src = idx + (((k - 1) * s->b + i) * s->t + u) * s->n_neg;
        for (j = 0; j < s->n_neg; j++)
            cand[m++] = src[j];
    }
    return m;
}

/* One anchor: prediction, scores, loss and every gradient. */
static void ref_anchor(const cpc_shape *s, const double *z, const double *c,
                       const double *w, const double *bias, const int64_t *idx,
                       int64_t k, int64_t i, int64_t u, double scale,
                       cpc_out *o)
{
    const int64_t d = s->d, dc = s->dc;
    const double *wk = w + (k - 1) * d * dc, *cu = c + (i * s->t + u) * dc;
    double p[64], dp[64], sc[512], mx = -INFINITY, sum = 0.0, neg_max = -INFINITY;
    int64_t cand[512], m, j, x, y;
    m = candidates(s, idx, k, i, u, cand);
    for (x = 0; x < d; x++) {
        p[x] = bias != NULL ? bias[(k - 1) * d + x] : 0.0;
        for (y = 0; y < dc; y++)
            p[x] += wk[x * dc + y] * cu[y];
        dp[x] = 0.0;
    }
    for (j = 0; j < m; j++) {
        sc[j] = 0.0;
        for (x = 0; x < d; x++)
            sc[j] += z[cand[j] * d + x] * p[x];
        sc[j] /= s->tau;
        mx = sc[j] > mx ? sc[j] : mx;
        if (j > 0)
            neg_max = sc[j] > neg_max ? sc[j] : neg_max;
    }
    for (j = 0; j < m; j++)
        sum += exp(sc[j] - mx);
    o->loss += (mx + log(sum) - sc[0]) * scale;
    o->acc[k - 1] += sc[0] > neg_max;
    for (j = 0; j < m; j++) {
        const double g = (exp(sc[j] - mx) / sum - (j == 0)) * scale / s->tau;
        for (x = 0; x < d; x++) {
            o->gz[cand[j] * d + x] += g * p[x];
            dp[x] += g * z[cand[j] * d + x];
        }
    }
    for (x = 0; x < d; x++) {
        o->gb[(k - 1) * d + x] += dp[x];
        for (y = 0; y < dc; y++) {
            o->gw[(k - 1) * d * dc + x * dc + y] += dp[x] * cu[y];
            o->gc[(i * s->t + u) * dc + y] += dp[x] * wk[x * dc + y];
        }
    }
}

/* The reference on contiguous b x t x d / b x t x dc inputs. */
static void reference(const cpc_shape *s, const double *z, const double *c,
                      const double *w, const double *bias, const int64_t *idx,
                      cpc_out *o)
{
    int64_t k, i, u;
    for (k = 1; k <= s->k; k++) {
        const double na = (double)(s->b * (s->t - k));
        for (i = 0; i < s->b; i++)
            for (u = 0; u + k < s->t; u++)
                ref_anchor(s, z, c, w, bias, idx, k, i, u,
                           1.0 / (na * (double)s->k), o);
        o->acc[k - 1] /= na;
    }
}

/* ---- comparison ---------------------------------------------------------- */

/* max |got - want| <= rtol * max |want| (+ a floor for all-zero arrays). */
static void assert_array_close(const float *got, const double *want,
                               int64_t n, double rtol, const char *what)
{
    double err = 0.0, scale = 0.0;
    int64_t i;
    for (i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        err = e > err ? e : err;
        scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
    }
    ck_assert_msg(err <= rtol * scale + 1e-12,
                  "%s: max error %.3g > %.1g x max |ref| %.3g", what, err,
                  rtol, scale);
    if (getenv("CTR_TEST_VERBOSE") != NULL) /* the figures of docs/ */
        fprintf(stderr, "cpc %-9s max |err| / max |ref| = %.2e\n", what,
                scale > 0 ? err / scale : err);
}

/* Our call on the inputs (float copies of the doubles), with z and c read
 * through the given strides out of larger buffers. */
typedef struct our_run {
    float *gz, *gc, *gw, *gb;
    double acc[64], loss;
} our_run;

static void fill_view(float *buf, const double *x, int64_t b, int64_t t,
                      int64_t len, int64_t ss, int64_t ts)
{
    int64_t i, u, j;
    for (i = 0; i < b; i++)
        for (u = 0; u < t; u++)
            for (j = 0; j < len; j++)
                buf[i * ss + u * ts + j] = (float)x[(i * t + u) * len + j];
}

static float *to_float(const double *x, int64_t n)
{
    float *f = (float *)malloc((size_t)n * sizeof(float));
    int64_t i;
    for (i = 0; i < n; i++)
        f[i] = (float)x[i];
    return f;
}

static void run_ours(const cpc_shape *s, const double *z, const double *c,
                     const double *w, const double *bias, const int64_t *idx,
                     int time_major, our_run *r)
{
    const int64_t n = s->b * s->t, pz = s->d + 3, pc = s->dc + 1;
    /* time-major, padded rows: a slice of a larger buffer */
    const int64_t zs = time_major ? pz : s->t * s->d, zt = time_major ? s->b * pz : s->d;
    const int64_t cs = time_major ? pc : s->t * s->dc, ct = time_major ? s->b * pc : s->dc;
    float *zb = (float *)calloc((size_t)(n * pz), sizeof(float));
    float *cb = (float *)calloc((size_t)(n * pc), sizeof(float));
    float *wf = to_float(w, s->k * s->d * s->dc);
    float *bf = bias != NULL ? to_float(bias, s->k * s->d) : NULL;
    ctr_objective *obj = NULL;
    fill_view(zb, z, s->b, s->t, s->d, zs, zt);
    fill_view(cb, c, s->b, s->t, s->dc, cs, ct);
    r->gz = (float *)malloc((size_t)(n * s->d) * sizeof(float));
    r->gc = (float *)malloc((size_t)(n * s->dc) * sizeof(float));
    r->gw = (float *)malloc((size_t)(s->k * s->d * s->dc) * sizeof(float));
    r->gb = (float *)malloc((size_t)(s->k * s->d) * sizeof(float));
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_CPC, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, s->tau), CTR_OK);
    ck_assert_msg(ctr_objective_cpc(obj, &r->loss, zb, zs, zt, cb, cs, ct, s->b,
                                    s->t, s->d, s->dc, wf, bf, s->k, s->pol,
                                    s->n_neg, NULL, idx, r->gz, r->gc, r->gw,
                                    bf != NULL ? r->gb : NULL, r->acc) == CTR_OK,
                  "%s", ctr_objective_last_error(obj));
    ctr_objective_destroy(obj);
    free(zb), free(cb), free(wf), free(bf);
}

static void our_free(our_run *r)
{
    free(r->gz), free(r->gc), free(r->gw), free(r->gb);
}

static void compare(const cpc_shape *s, const our_run *r, const cpc_out *o,
                    double rtol)
{
    int64_t k;
    ck_assert_msg(fabs(r->loss - o->loss) <= rtol * fabs(o->loss) + 1e-12,
                  "loss %.9g vs %.9g", r->loss, o->loss);
    if (getenv("CTR_TEST_VERBOSE") != NULL)
        fprintf(stderr, "cpc %-9s relative error = %.2e\n", "loss",
                o->loss != 0 ? fabs(r->loss - o->loss) / fabs(o->loss) : fabs(r->loss));
    assert_array_close(r->gz, o->gz, s->b * s->t * s->d, rtol, "grad_z");
    assert_array_close(r->gc, o->gc, s->b * s->t * s->dc, rtol, "grad_c");
    assert_array_close(r->gw, o->gw, s->k * s->d * s->dc, rtol, "grad_w");
    if (s->bias)
        assert_array_close(r->gb, o->gb, s->k * s->d, rtol, "grad_bias");
    for (k = 0; k < s->k; k++)
        ck_assert_double_eq_tol(r->acc[k], o->acc[k], 1e-6); /* golden: float */
}

/* ---- against the double reference ------------------------------------ */

static double *rand_doubles(ctr_rng *g, int64_t n, double scale)
{
    float *f = (float *)malloc((size_t)n * sizeof(float));
    double *x = (double *)malloc((size_t)n * sizeof(double));
    int64_t i;
    ck_assert_int_eq(ctr_rng_normal(g, f, n, 0.0f, (float)scale), CTR_OK);
    for (i = 0; i < n; i++)
        x[i] = (double)f[i];
    free(f);
    return x;
}

/* Indices for SAMPLED: uniform over the other positions. */
static int64_t *rand_indices(ctr_rng *g, const cpc_shape *s)
{
    const int64_t count = s->k * s->b * s->t * (s->n_neg > 0 ? s->n_neg : 1);
    int64_t *idx = (int64_t *)malloc((size_t)count * sizeof(int64_t));
    int64_t k, i, u, j;
    ck_assert_int_eq(ctr_rng_below(g, idx, count, s->b * s->t - 1), CTR_OK);
    for (k = 1; k <= s->k && s->pol == CTR_CPC_NEG_SAMPLED; k++)
        for (i = 0; i < s->b; i++)
            for (u = 0; u < s->t; u++)
                for (j = 0; j < s->n_neg; j++) {
                    int64_t *v = idx + (((k - 1) * s->b + i) * s->t + u) * s->n_neg + j;
                    *v += *v >= i * s->t + u + k;
                }
    return idx;
}

static void check_shape(const cpc_shape *s, uint64_t seed)
{
    ctr_rng *g = NULL;
    double *z, *c, *w, *bias;
    int64_t *idx;
    cpc_out o;
    our_run r;
    int layout;
    ck_assert_int_eq(ctr_rng_create(&g, seed, NULL), CTR_OK);
    z = rand_doubles(g, s->b * s->t * s->d, 1.0);
    c = rand_doubles(g, s->b * s->t * s->dc, 1.0);
    w = rand_doubles(g, s->k * s->d * s->dc, 0.6);
    bias = rand_doubles(g, s->k * s->d, 0.5);
    idx = rand_indices(g, s);
    out_alloc(&o, s);
    reference(s, z, c, w, s->bias ? bias : NULL, idx, &o);
    for (layout = 0; layout < 2; layout++) {
        run_ours(s, z, c, w, s->bias ? bias : NULL,
                 s->pol == CTR_CPC_NEG_SAMPLED ? idx : NULL, layout, &r);
        compare(s, &r, &o, 1e-5);
        our_free(&r);
    }
    out_free(&o);
    free(z), free(c), free(w), free(bias), free(idx);
    ctr_rng_destroy(g);
}

START_TEST(test_reference_batch)
{
    static const cpc_shape shapes[] = {
        {1, 2, 3, 2, 1, CTR_CPC_NEG_BATCH, 0, 1.0, 0},  /* b = 1: no negatives */
        {3, 2, 5, 4, 1, CTR_CPC_NEG_BATCH, 0, 1.0, 1},  /* t = 2 */
        {4, 6, 3, 7, 5, CTR_CPC_NEG_BATCH, 0, 0.5, 1},  /* steps = t - 1 */
        {7, 9, 17, 5, 4, CTR_CPC_NEG_BATCH, 0, 1.0, 0},
        {33, 3, 8, 9, 2, CTR_CPC_NEG_BATCH, 0, 2.0, 1},
    };
    size_t i;
    for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        check_shape(&shapes[i], 100 + i);
}
END_TEST

START_TEST(test_reference_all)
{
    static const cpc_shape shapes[] = {
        {1, 2, 3, 2, 1, CTR_CPC_NEG_ALL, 0, 1.0, 1},
        {2, 3, 5, 3, 2, CTR_CPC_NEG_ALL, 0, 1.0, 0},
        {3, 6, 4, 6, 3, CTR_CPC_NEG_ALL, 0, 0.3, 1},
        {5, 7, 9, 2, 6, CTR_CPC_NEG_ALL, 0, 1.0, 1},
    };
    size_t i;
    for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        check_shape(&shapes[i], 200 + i);
}
END_TEST

START_TEST(test_reference_sampled)
{
    static const cpc_shape shapes[] = {
        {1, 2, 3, 2, 1, CTR_CPC_NEG_SAMPLED, 1, 1.0, 0},
        {1, 5, 4, 3, 4, CTR_CPC_NEG_SAMPLED, 7, 1.0, 1},
        {2, 4, 3, 5, 2, CTR_CPC_NEG_SAMPLED, 3, 0.7, 1},
        {6, 8, 10, 4, 3, CTR_CPC_NEG_SAMPLED, 12, 1.0, 0},
    };
    size_t i;
    for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        check_shape(&shapes[i], 300 + i);
}
END_TEST

/* ---- against PyTorch ------------------------------------------------------ */

static double *golden_doubles(const char *name, long *n)
{
    float *f = golden_read("cpc_golden.txt", name, n);
    double *x = (double *)malloc((size_t)(*n > 0 ? *n : 1) * sizeof(double));
    long i;
    for (i = 0; i < *n; i++)
        x[i] = (double)f[i];
    free(f);
    return x;
}

static void check_golden(const char *name, const cpc_shape *s)
{
    char key[64];
    long n;
    double *z, *c, *w, *bias = NULL, *loss, *acc, *gz, *gc, *gw, *gb = NULL;
    int64_t *idx = NULL;
    our_run r;
    cpc_out o;
    int64_t i;
#define G(var, field) (snprintf(key, sizeof(key), "%s_%s", name, field), var = golden_doubles(key, &n))
    G(z, "z"), G(c, "c"), G(w, "w"), G(loss, "loss"), G(acc, "step_acc");
    G(gz, "grad_z"), G(gc, "grad_c"), G(gw, "grad_w");
    if (s->bias)
        G(bias, "bias"), G(gb, "grad_bias");
    if (s->pol == CTR_CPC_NEG_SAMPLED) {
        double *fi;
        G(fi, "idx");
        idx = (int64_t *)malloc((size_t)n * sizeof(int64_t));
        for (i = 0; i < n; i++)
            idx[i] = (int64_t)fi[i];
        free(fi);
    }
#undef G
    o.loss = loss[0], o.gz = gz, o.gc = gc, o.gw = gw, o.gb = gb, o.acc = acc;
    run_ours(s, z, c, w, bias, idx, 0, &r);
    compare(s, &r, &o, 1e-5);
    our_free(&r);
    free(z), free(c), free(w), free(bias), free(loss), free(acc);
    free(gz), free(gc), free(gw), free(gb), free(idx);
}

START_TEST(test_golden_pytorch)
{
    static const cpc_shape batch = {3, 5, 4, 6, 3, CTR_CPC_NEG_BATCH, 0, 1.0, 1};
    static const cpc_shape sampled = {2, 4, 3, 5, 2, CTR_CPC_NEG_SAMPLED, 3, 1.0, 0};
    static const cpc_shape all = {2, 3, 5, 3, 2, CTR_CPC_NEG_ALL, 0, 1.0, 1};
    check_golden("batch", &batch);
    check_golden("sampled", &sampled);
    check_golden("all", &all);
}
END_TEST

/* ---- sampled negatives from a generator ------------------------------- */

/* The draws are documented: steps 1..K, anchors time-major, n_neg each,
 * uniform over the other b*t - 1 positions. Passing the same draws as
 * indices gives the same bits; they never hit the positive. */
START_TEST(test_sampled_draws_match_documented_order)
{
    enum { BB = 3, TT = 5, DD = 4, DC = 3, KK = 3, NN = 6 };
    float z[BB * TT * DD], c[BB * TT * DC], w[KK * DD * DC], g1[BB * TT * DD], g2[BB * TT * DD];
    int64_t idx[KK * BB * TT * NN], draw[BB * TT * NN];
    ctr_rng *a = NULL, *b = NULL, *init = NULL;
    ctr_objective *obj = NULL;
    double l1, l2;
    int64_t k, r, j;
    ck_assert_int_eq(ctr_rng_create(&init, 5, NULL), CTR_OK);
    ctr_rng_normal(init, z, BB * TT * DD, 0, 1);
    ctr_rng_normal(init, c, BB * TT * DC, 0, 1);
    ctr_rng_normal(init, w, KK * DD * DC, 0, 1);
    ck_assert_int_eq(ctr_rng_create(&a, 77, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_create(&b, 77, NULL), CTR_OK);
    memset(idx, 0, sizeof(idx));
    for (k = 1; k <= KK; k++) {
        const int64_t na = (TT - k) * BB;
        ck_assert_int_eq(ctr_rng_below(b, draw, na * NN, BB * TT - 1), CTR_OK);
        for (r = 0; r < na; r++) {
            const int64_t s = r % BB, u = r / BB, pos = (u + k) * BB + s;
            for (j = 0; j < NN; j++) {
                int64_t row = draw[r * NN + j] + (draw[r * NN + j] >= pos);
                ck_assert_int_ne(row, pos);
                idx[(((k - 1) * BB + s) * TT + u) * NN + j] = (row % BB) * TT + row / BB;
            }
        }
    }
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_CPC, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_cpc(obj, &l1, z, TT * DD, DD, c, TT * DC, DC, BB, TT, DD, DC, w,
                                       NULL, KK, CTR_CPC_NEG_SAMPLED, NN, a, NULL, g1, NULL,
                                       NULL, NULL, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_cpc(obj, &l2, z, TT * DD, DD, c, TT * DC, DC, BB, TT, DD, DC, w,
                                       NULL, KK, CTR_CPC_NEG_SAMPLED, NN, NULL, idx, g2, NULL,
                                       NULL, NULL, NULL), CTR_OK);
    ck_assert(memcmp(&l1, &l2, sizeof(l1)) == 0);
    ck_assert(memcmp(g1, g2, sizeof(g1)) == 0);
    ctr_objective_destroy(obj);
    ctr_rng_destroy(a), ctr_rng_destroy(b), ctr_rng_destroy(init);
}
END_TEST

/* ---- statistics ------------------------------------------------------------ */

START_TEST(test_statistics)
{
    enum { BB = 4, TT = 6, DD = 5, DC = 3, KK = 3 };
    float z[BB * TT * DD], c[BB * TT * DC], w[KK * DD * DC];
    double acc[KK], v, loss, mean = 0;
    ctr_rng *g = NULL;
    ctr_objective *obj = NULL;
    const int32_t pols[3] = {CTR_CPC_NEG_BATCH, CTR_CPC_NEG_SAMPLED, CTR_CPC_NEG_ALL};
    const double chance[3] = {log(BB), log(6), log(BB * TT)};
    int i, k;
    ck_assert_int_eq(ctr_rng_create(&g, 9, NULL), CTR_OK);
    ctr_rng_normal(g, z, BB * TT * DD, 0, 1);
    ctr_rng_normal(g, c, BB * TT * DC, 0, 1);
    ctr_rng_normal(g, w, KK * DD * DC, 0, 1);
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_CPC, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_get_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, &v), CTR_OK);
    ck_assert_double_eq(v, 1.0);
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(ctr_objective_cpc(obj, &loss, z, TT * DD, DD, c, TT * DC, DC, BB, TT,
                                           DD, DC, w, NULL, KK, pols[i], 5, g, NULL, NULL,
                                           NULL, NULL, NULL, acc), CTR_OK);
        for (k = 0, mean = 0; k < KK; k++)
            mean += acc[k] / KK;
        ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_LOSS, &v), CTR_OK);
        ck_assert_double_eq(v, loss);
        ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_ACCURACY, &v), CTR_OK);
        ck_assert_double_eq_tol(v, mean, 1e-12);
        ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_CHANCE_LOSS, &v), CTR_OK);
        ck_assert_double_eq_tol(v, chance[i], 1e-12);
        ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_CALLS, &v), CTR_OK);
        ck_assert_double_eq(v, i + 1);
    }
    ctr_objective_destroy(obj);
    ctr_rng_destroy(g);
}
END_TEST

/* ---- Greedy InfoMax: no gradient across module borders ---------------- */

enum { GB = 4, GT = 8, GF = 6, GH = 5, GC = 4, GK = 3 };

/* A module: an encoder (sequence -> sequence), a GRU context on its
 * output, prediction matrices and their optimizers. */
typedef struct gim_module {
    ctr_encoder *enc, *ctx;
    ctr_optimizer *opt_enc, *opt_ctx, *opt_w;
    float w[GK * GH * GC], gw[GK * GH * GC];
} gim_module;

static void module_init(gim_module *m, int64_t in, uint64_t seed)
{
    const int64_t dims[2] = {GT, in}, cdims[2] = {GT, GH};
    ctr_rng *g = NULL;
    ck_assert_int_eq(ctr_encoder_create(&m->enc, dims, 2, seed, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(m->enc, GH, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(m->enc, CTR_LAYER_TANH), CTR_OK);
    ck_assert_int_eq(ctr_encoder_create(&m->ctx, cdims, 2, seed + 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_gru(m->ctx, GC), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_create_for_encoder(&m->opt_enc, CTR_OPTIMIZER_ADAMW, m->enc, NULL), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_create_for_encoder(&m->opt_ctx, CTR_OPTIMIZER_ADAMW, m->ctx, NULL), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_create(&m->opt_w, CTR_OPTIMIZER_ADAMW, GK * GH * GC, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_create(&g, seed + 2, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(g, m->w, GK * GH * GC, 0.0f, 0.3f), CTR_OK);
    ctr_rng_destroy(g);
}

static void module_free(gim_module *m)
{
    ctr_optimizer_destroy(m->opt_enc), ctr_optimizer_destroy(m->opt_ctx);
    ctr_optimizer_destroy(m->opt_w);
    ctr_encoder_destroy(m->enc), ctr_encoder_destroy(m->ctx);
}

/* One greedy step of a module on x (GB x GT x in): its own CPC loss, its
 * own update; the input gets no gradient. z receives the module's output
 * for the module above (a plain copy: nothing flows back through it). */
static void module_step(gim_module *m, ctr_objective *obj, const float *x, float *z)
{
    float c[GB * GT * GC], gz[GB * GT * GH], gc[GB * GT * GC], gzc[GB * GT * GH];
    int64_t i;
    ck_assert_int_eq(ctr_encoder_zero_grad(m->enc), CTR_OK);
    ck_assert_int_eq(ctr_encoder_zero_grad(m->ctx), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(m->enc, z, x, GB, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(m->ctx, c, z, GB, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_objective_cpc(obj, NULL, z, GT * GH, GH, c, GT * GC, GC, GB, GT, GH,
                                       GC, m->w, NULL, GK, CTR_CPC_NEG_BATCH, 0, NULL, NULL,
                                       gz, gc, m->gw, NULL, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(m->ctx, gzc, gc), CTR_OK);
    for (i = 0; i < GB * GT * GH; i++)
        gz[i] += gzc[i];
    ck_assert_int_eq(ctr_encoder_backward(m->enc, NULL, gz), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_step(m->opt_enc), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_step(m->opt_ctx), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_step_buffer(m->opt_w, m->w, m->gw, GK * GH * GC), CTR_OK);
}

/* Module 1's parameters after `steps` steps, with or without module 2
 * training on its output (one objective handle serves both). */
static void train_gim(int with_second, int steps, float *params1, int64_t n)
{
    gim_module m1, m2;
    ctr_objective *obj = NULL;
    ctr_rng *g = NULL;
    float x[GB * GT * GF], z1[GB * GT * GH], z2[GB * GT * GH];
    int s;
    module_init(&m1, GF, 11);
    module_init(&m2, GH, 21);
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_CPC, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_create(&g, 3, NULL), CTR_OK);
    for (s = 0; s < steps; s++) {
        ck_assert_int_eq(ctr_rng_normal(g, x, GB * GT * GF, 0.0f, 1.0f), CTR_OK);
        module_step(&m1, obj, x, z1);
        if (with_second)
            module_step(&m2, obj, z1, z2);
    }
    ck_assert_int_eq(ctr_encoder_get_params(m1.enc, params1, n), CTR_OK);
    module_free(&m1), module_free(&m2);
    ctr_objective_destroy(obj);
    ctr_rng_destroy(g);
}

START_TEST(test_gim_module_isolation)
{
    float with2[GF * GH + GH], without2[GF * GH + GH];
    train_gim(1, 3, with2, GF * GH + GH);
    train_gim(0, 3, without2, GF * GH + GH);
    ck_assert(memcmp(with2, without2, sizeof(with2)) == 0);
}
END_TEST

Suite *ctr_test_cpc_suite(void);

Suite *ctr_test_cpc_suite(void)
{
    Suite *s = suite_create("cpc");
    TCase *ref = tcase_create("reference");
    TCase *gold = tcase_create("golden");
    TCase *misc = tcase_create("sampling and statistics");
    TCase *gim = tcase_create("greedy infomax");
    tcase_add_test(ref, test_reference_batch);
    tcase_add_test(ref, test_reference_all);
    tcase_add_test(ref, test_reference_sampled);
    tcase_add_test(gold, test_golden_pytorch);
    tcase_add_test(misc, test_sampled_draws_match_documented_order);
    tcase_add_test(misc, test_statistics);
    tcase_add_test(gim, test_gim_module_isolation);
    tcase_set_timeout(ref, 60);
    suite_add_tcase(s, ref);
    suite_add_tcase(s, gold);
    suite_add_tcase(s, misc);
    suite_add_tcase(s, gim);
    return s;
}
