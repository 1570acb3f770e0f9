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
#include "cpc_call.h"
#include "test_util.h"

/* ---- the double-precision reference ----------------------------------- */

typedef struct cpc_shape {
    int64_t b, t, d, dc, k;
    int32_t pol;
    int64_t n_neg;
    double tau;
    int bias;
    double wstd; /* std of the W_k entries; 0: 0.6 */
} cpc_shape;

/* Bounds of the reference's per-anchor arrays. */
enum { REF_MAX_D = 64, REF_MAX_CAND = 512 };

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
    double p[REF_MAX_D], dp[REF_MAX_D], sc[REF_MAX_CAND], mx = -INFINITY,
           sum = 0.0, neg_max = -INFINITY;
    int64_t cand[REF_MAX_CAND], m, j, x, y;
    ck_assert(d <= REF_MAX_D && s->b * s->t <= REF_MAX_CAND &&
              s->n_neg < REF_MAX_CAND);
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

/* max |got - want| <= rtol * max |want| (+ a floor for all-zero arrays);
 * returns max |got - want| / max |want|, the figure docs/ quote. */
static double assert_array_close(const float *got, const double *want,
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
    return scale > 0 ? err / scale : err;
}

static const char *policy_name(int32_t pol)
{
    return pol == CTR_CPC_NEG_BATCH ? "batch"
           : pol == CTR_CPC_NEG_ALL ? "all" : "sampled";
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
    ck_assert_msg(cpc_call(obj, &r->loss, zb, zs, zt, cb, cs, ct, s->b,
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
                    double rtol, const char *tag)
{
    double e[5] = {0, 0, 0, 0, 0}, worst = 0;
    int64_t k;
    int i;
    e[0] = o->loss != 0 ? fabs(r->loss - o->loss) / fabs(o->loss) : fabs(r->loss);
    ck_assert_msg(e[0] <= rtol || fabs(r->loss - o->loss) <= 1e-12,
                  "loss %.9g vs %.9g", r->loss, o->loss);
    e[1] = assert_array_close(r->gz, o->gz, s->b * s->t * s->d, rtol, "grad_z");
    e[2] = assert_array_close(r->gc, o->gc, s->b * s->t * s->dc, rtol, "grad_c");
    e[3] = assert_array_close(r->gw, o->gw, s->k * s->d * s->dc, rtol, "grad_w");
    if (s->bias)
        e[4] = assert_array_close(r->gb, o->gb, s->k * s->d, rtol, "grad_bias");
    for (k = 0; k < s->k; k++)
        ck_assert_double_eq_tol(r->acc[k], o->acc[k], 1e-6); /* golden: float */
    for (i = 0; i < 5; i++)
        worst = e[i] > worst ? e[i] : worst;
    if (getenv("CTR_TEST_VERBOSE") != NULL) /* the figures of docs/ */
        fprintf(stderr, "cpc fidelity %-7s %-11s b=%lld t=%lld d=%lld dc=%lld "
                "K=%lld n=%lld tau=%g: loss %.1e grad_z %.1e grad_c %.1e "
                "grad_w %.1e grad_bias %.1e max %.1e\n", policy_name(s->pol),
                tag, (long long)s->b, (long long)s->t, (long long)s->d,
                (long long)s->dc, (long long)s->k, (long long)s->n_neg, s->tau,
                e[0], e[1], e[2], e[3], e[4], worst);
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

/* Random inputs of a shape (doubles that are floats) and the reference's
 * outputs on them. */
typedef struct cpc_case {
    double *z, *c, *w, *bias; /* bias NULL when the shape has none */
    int64_t *idx;
    cpc_out ref;
} cpc_case;

static void case_make(cpc_case *x, const cpc_shape *s, uint64_t seed)
{
    ctr_rng *g = NULL;
    ck_assert_int_eq(ctr_rng_create(&g, seed, NULL), CTR_OK);
    x->z = rand_doubles(g, s->b * s->t * s->d, 1.0);
    x->c = rand_doubles(g, s->b * s->t * s->dc, 1.0);
    x->w = rand_doubles(g, s->k * s->d * s->dc, s->wstd > 0 ? s->wstd : 0.6);
    x->bias = rand_doubles(g, s->k * s->d, 0.5);
    x->idx = rand_indices(g, s);
    ctr_rng_destroy(g);
    if (!s->bias)
        free(x->bias), x->bias = NULL;
    out_alloc(&x->ref, s);
    reference(s, x->z, x->c, x->w, x->bias, x->idx, &x->ref);
}

static void case_free(cpc_case *x)
{
    out_free(&x->ref);
    free(x->z), free(x->c), free(x->w), free(x->bias), free(x->idx);
}

static void check_shape(const cpc_shape *s, uint64_t seed)
{
    cpc_case x;
    our_run r;
    int layout;
    case_make(&x, s, seed);
    for (layout = 0; layout < 2; layout++) {
        run_ours(s, x.z, x.c, x.w, x.bias,
                 s->pol == CTR_CPC_NEG_SAMPLED ? x.idx : NULL, layout, &r);
        compare(s, &r, &x.ref, 1e-5, layout ? "time-major" : "batch-major");
        our_free(&r);
    }
    case_free(&x);
}

/* Runs fn on every shape of a table, shape i with seed seed0 + i. */
static void each_shape(const cpc_shape *shapes, size_t n,
                       void (*fn)(const cpc_shape *, uint64_t), uint64_t seed0)
{
    size_t i;
    for (i = 0; i < n; i++)
        fn(&shapes[i], seed0 + i);
}
#define EACH_SHAPE(tab, fn, seed0) \
    each_shape(tab, sizeof(tab) / sizeof(tab[0]), fn, seed0)

START_TEST(test_reference_batch)
{
    static const cpc_shape shapes[] = {
        {1, 2, 3, 2, 1, CTR_CPC_NEG_BATCH, 0, 1.0, 0, 0},  /* b = 1: no negatives */
        {3, 2, 5, 4, 1, CTR_CPC_NEG_BATCH, 0, 1.0, 1, 0},  /* t = 2 */
        {4, 6, 3, 7, 5, CTR_CPC_NEG_BATCH, 0, 0.5, 1, 0},  /* steps = t - 1 */
        {7, 9, 17, 5, 4, CTR_CPC_NEG_BATCH, 0, 1.0, 0, 0},
        {33, 3, 8, 9, 2, CTR_CPC_NEG_BATCH, 0, 2.0, 1, 0},
        {16, 20, 64, 40, 12, CTR_CPC_NEG_BATCH, 0, 1.0, 1, 0.1}, /* K = 12 */
    };
    EACH_SHAPE(shapes, check_shape, 100);
}
END_TEST

START_TEST(test_reference_all)
{
    static const cpc_shape shapes[] = {
        {1, 2, 3, 2, 1, CTR_CPC_NEG_ALL, 0, 1.0, 1, 0},
        {2, 3, 5, 3, 2, CTR_CPC_NEG_ALL, 0, 1.0, 0, 0},
        {3, 6, 4, 6, 3, CTR_CPC_NEG_ALL, 0, 0.3, 1, 0},
        {5, 7, 9, 2, 6, CTR_CPC_NEG_ALL, 0, 1.0, 1, 0},
        {4, 12, 64, 48, 6, CTR_CPC_NEG_ALL, 0, 0.5, 1, 0.1},
    };
    EACH_SHAPE(shapes, check_shape, 200);
}
END_TEST

START_TEST(test_reference_sampled)
{
    static const cpc_shape shapes[] = {
        {1, 2, 3, 2, 1, CTR_CPC_NEG_SAMPLED, 1, 1.0, 0, 0},
        {1, 5, 4, 3, 4, CTR_CPC_NEG_SAMPLED, 7, 1.0, 1, 0},
        {2, 4, 3, 5, 2, CTR_CPC_NEG_SAMPLED, 3, 0.7, 1, 0},
        {6, 8, 10, 4, 3, CTR_CPC_NEG_SAMPLED, 12, 1.0, 0, 0},
        {8, 16, 48, 64, 8, CTR_CPC_NEG_SAMPLED, 31, 1.0, 1, 0.1},
    };
    EACH_SHAPE(shapes, check_shape, 300);
}
END_TEST

/* ---- finite differences of the double reference ----------------------- */

/* The reference's loss alone, on the case's (perturbed) inputs. */
static double ref_loss(const cpc_shape *s, const cpc_case *x)
{
    cpc_out o;
    double loss;
    out_alloc(&o, s);
    reference(s, x->z, x->c, x->w, x->bias, x->idx, &o);
    loss = o.loss;
    out_free(&o);
    return loss;
}

/* Central differences of the reference loss in every entry of x (one of
 * the operands, perturbed in place), against the reference's gradient
 * (1e-7) and ours (float, 1e-5), both relative to max |fd|. */
static void check_fd(const cpc_shape *s, const cpc_case *cs, double *x,
                     int64_t n, const double *ref_g, const float *our_g,
                     const char *what)
{
    const double h = 1e-5;
    double *fd = (double *)malloc((size_t)n * sizeof(double));
    double scale = 0.0, e_ref = 0.0, e_our = 0.0;
    int64_t i;
    for (i = 0; i < n; i++) {
        const double x0 = x[i];
        double up, down;
        x[i] = x0 + h;
        up = ref_loss(s, cs);
        x[i] = x0 - h;
        down = ref_loss(s, cs);
        x[i] = x0;
        fd[i] = (up - down) / (2.0 * h);
        scale = fabs(fd[i]) > scale ? fabs(fd[i]) : scale;
    }
    for (i = 0; i < n; i++) {
        e_ref = fmax(e_ref, fabs(ref_g[i] - fd[i]));
        e_our = fmax(e_our, fabs((double)our_g[i] - fd[i]));
    }
    ck_assert_msg(scale > 0, "%s: zero gradient", what);
    ck_assert_msg(e_ref <= 1e-7 * scale, "%s: reference vs finite differences "
                  "%.3g (max |fd| %.3g)", what, e_ref, scale);
    ck_assert_msg(e_our <= 1e-5 * scale, "%s: ours vs finite differences "
                  "%.3g (max |fd| %.3g)", what, e_our, scale);
    if (getenv("CTR_TEST_VERBOSE") != NULL)
        fprintf(stderr, "cpc fd %-7s %-9s reference %.1e ours %.1e\n",
                policy_name(s->pol), what, e_ref / scale, e_our / scale);
    free(fd);
}

static void fd_shape(const cpc_shape *s, uint64_t seed)
{
    cpc_case x;
    our_run r;
    case_make(&x, s, seed);
    run_ours(s, x.z, x.c, x.w, x.bias,
             s->pol == CTR_CPC_NEG_SAMPLED ? x.idx : NULL, 0, &r);
#define FD(arr, n, g, what) \
    check_fd(s, &x, x.arr, n, x.ref.g, r.g, what)
    FD(z, s->b * s->t * s->d, gz, "grad_z");
    FD(c, s->b * s->t * s->dc, gc, "grad_c");
    FD(w, s->k * s->d * s->dc, gw, "grad_w");
    if (s->bias)
        FD(bias, s->k * s->d, gb, "grad_bias");
#undef FD
    our_free(&r);
    case_free(&x);
}

START_TEST(test_finite_differences)
{
    static const cpc_shape shapes[] = {
        {3, 4, 3, 5, 2, CTR_CPC_NEG_BATCH, 0, 0.8, 1, 0},
        {2, 4, 5, 3, 3, CTR_CPC_NEG_ALL, 0, 1.0, 1, 0},
        {3, 5, 4, 3, 2, CTR_CPC_NEG_SAMPLED, 4, 1.0, 1, 0},
    };
    EACH_SHAPE(shapes, fd_shape, 400);
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
    compare(s, &r, &o, 1e-5, "pytorch");
    our_free(&r);
    free(z), free(c), free(w), free(bias), free(loss), free(acc);
    free(gz), free(gc), free(gw), free(gb), free(idx);
}

START_TEST(test_golden_pytorch)
{
    static const cpc_shape batch = {3, 5, 4, 6, 3, CTR_CPC_NEG_BATCH, 0, 1.0, 1, 0};
    static const cpc_shape sampled = {2, 4, 3, 5, 2, CTR_CPC_NEG_SAMPLED, 3, 1.0, 0, 0};
    static const cpc_shape all = {2, 3, 5, 3, 2, CTR_CPC_NEG_ALL, 0, 1.0, 1, 0};
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
    ck_assert_int_eq(cpc_call(obj, &l1, z, TT * DD, DD, c, TT * DC, DC, BB, TT, DD, DC, w,
                                       NULL, KK, CTR_CPC_NEG_SAMPLED, NN, a, NULL, g1, NULL,
                                       NULL, NULL, NULL), CTR_OK);
    ck_assert_int_eq(cpc_call(obj, &l2, z, TT * DD, DD, c, TT * DC, DC, BB, TT, DD, DC, w,
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
        ck_assert_int_eq(cpc_call(obj, &loss, z, TT * DD, DD, c, TT * DC, DC, BB, TT,
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
 * output, prediction matrices and their optimizers; z and gz its output
 * and the gradient its own loss gives it. */
typedef struct gim_module {
    ctr_encoder *enc, *ctx;
    ctr_optimizer *opt_enc, *opt_ctx, *opt_w;
    float w[GK * GH * GC], gw[GK * GH * GC];
    float z[GB * GT * GH], gz[GB * GT * GH];
} gim_module;

/* How module 2 is trained beside module 1 in train_gim. */
enum { GIM_ALONE, GIM_GREEDY, GIM_LEAK };

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

/* The module's own CPC loss on x (GB x GT x in): forward, the critic, the
 * context's backward; leaves the gradient of its output in m->gz and those
 * of the context and of W in their buffers. */
static void module_loss(gim_module *m, ctr_objective *obj, const float *x)
{
    float c[GB * GT * GC], gc[GB * GT * GC], gzc[GB * GT * GH];
    int64_t i;
    ck_assert_int_eq(ctr_encoder_zero_grad(m->enc), CTR_OK);
    ck_assert_int_eq(ctr_encoder_zero_grad(m->ctx), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(m->enc, m->z, x, GB, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(m->ctx, c, m->z, GB, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(cpc_call(obj, NULL, m->z, GT * GH, GH, c, GT * GC, GC, GB, GT,
                                       GH, GC, m->w, NULL, GK, CTR_CPC_NEG_BATCH, 0, NULL,
                                       NULL, m->gz, gc, m->gw, NULL, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(m->ctx, gzc, gc), CTR_OK);
    for (i = 0; i < GB * GT * GH; i++)
        m->gz[i] += gzc[i];
}

static void module_update(gim_module *m)
{
    ck_assert_int_eq(ctr_optimizer_step(m->opt_enc), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_step(m->opt_ctx), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_step_buffer(m->opt_w, m->w, m->gw, GK * GH * GC), CTR_OK);
}

/* One step of the stack on x. Module 2 reads module 1's output as data
 * and runs its loss and backward *before* module 1's backward and update,
 * sharing the objective handle, so that any leak through shared state
 * would show. GIM_LEAK is the control: module 2's input gradient is added
 * to module 1's (end-to-end training), which must change module 1. */
static void stack_step(gim_module *m1, gim_module *m2, ctr_objective *obj,
                       const float *x, int mode)
{
    float dz1[GB * GT * GH];
    int64_t i;
    module_loss(m1, obj, x);
    if (mode != GIM_ALONE) {
        module_loss(m2, obj, m1->z);
        ck_assert_int_eq(ctr_encoder_backward(m2->enc, mode == GIM_LEAK ? dz1 : NULL,
                                              m2->gz), CTR_OK);
        for (i = 0; mode == GIM_LEAK && i < GB * GT * GH; i++)
            m1->gz[i] += dz1[i];
    }
    ck_assert_int_eq(ctr_encoder_backward(m1->enc, NULL, m1->gz), CTR_OK);
    module_update(m1);
    if (mode != GIM_ALONE)
        module_update(m2);
}

/* Module 1's parameters (encoder, context, W) after `steps` steps. */
static float *train_gim(int mode, int steps, int64_t *n)
{
    gim_module m1, m2;
    ctr_objective *obj = NULL;
    ctr_rng *g = NULL;
    float x[GB * GT * GF], *params;
    int64_t ne, nc;
    int s;
    module_init(&m1, GF, 11);
    module_init(&m2, GH, 21);
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_CPC, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_create(&g, 3, NULL), CTR_OK);
    for (s = 0; s < steps; s++) {
        ck_assert_int_eq(ctr_rng_normal(g, x, GB * GT * GF, 0.0f, 1.0f), CTR_OK);
        stack_step(&m1, &m2, obj, x, mode);
    }
    ck_assert_int_eq(ctr_encoder_num_params(m1.enc, &ne), CTR_OK);
    ck_assert_int_eq(ctr_encoder_num_params(m1.ctx, &nc), CTR_OK);
    *n = ne + nc + GK * GH * GC;
    params = (float *)malloc((size_t)*n * sizeof(float));
    ck_assert_int_eq(ctr_encoder_get_params(m1.enc, params, ne), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_params(m1.ctx, params + ne, nc), CTR_OK);
    memcpy(params + ne + nc, m1.w, sizeof(m1.w));
    module_free(&m1), module_free(&m2);
    ctr_objective_destroy(obj);
    ctr_rng_destroy(g);
    return params;
}

/* Module 1's parameters after a step (and after three) are bit-identical
 * with and without module 2's loss; with module 2's gradient let through
 * they differ, so the comparison can see a leak. */
START_TEST(test_gim_module_isolation)
{
    int steps;
    for (steps = 1; steps <= 3; steps += 2) {
        int64_t na, ng, nl;
        float *alone = train_gim(GIM_ALONE, steps, &na);
        float *greedy = train_gim(GIM_GREEDY, steps, &ng);
        float *leak = train_gim(GIM_LEAK, steps, &nl);
        ck_assert_int_eq(na, ng);
        ck_assert_int_eq(na, nl);
        ck_assert(memcmp(alone, greedy, (size_t)na * sizeof(float)) == 0);
        ck_assert(memcmp(alone, leak, (size_t)na * sizeof(float)) != 0);
        free(alone), free(greedy), free(leak);
    }
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
    tcase_add_test(ref, test_finite_differences);
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
