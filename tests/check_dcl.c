/*
 * check_dcl.c - CTR_OBJECTIVE_P_DECOUPLED (the decoupled contrastive loss,
 * DCL) on NTXENT, INFONCE and NPAIR, and CTR_OBJECTIVE_S_GRAD_TEMPERATURE
 * (d loss / d tau) on the in-batch kinds and INFONCE_SHARED: losses
 * against a naive double-precision reference written here, input
 * gradients against its central finite differences, the temperature's
 * gradient against finite differences in tau; bad inputs, the failing
 * allocator, checkpoints (with files written before the parameter
 * existed), and a learned temperature trained with the optimizer.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32.h"
#include "golden_util.h"
#include "objective_ref.h"
#include "test_util.h"

/* ---- the naive reference ------------------------------------------------------ */

/* One call's operands in double: rows a, p (b x d), and for SHARED the
 * negatives (k x d). */
typedef struct dcl_case {
    int32_t kind;
    int64_t b, d, k;
    double tau;
    int normalize, symmetric, dcl;
    const int64_t *groups, *self_idx; /* self_idx: BANK_SOFTMAX */
    double *a, *p, *neg;
} dcl_case;

/* log sum_j exp(l_j) over the j with use[j]; minus the mean of l over the
 * j with pos[j]. */
static double row_loss(const double *l, const int *use, const int *pos,
                       int64_t n)
{
    double m = -INFINITY, s = 0, ps = 0;
    int64_t j, np = 0;
    for (j = 0; j < n; j++)
        if (use[j] && l[j] > m)
            m = l[j];
    for (j = 0; j < n; j++) {
        if (use[j])
            s += exp(l[j] - m);
        if (pos[j])
            ps += l[j], np++;
    }
    return m + log(s) - ps / (double)np;
}

static double dot_units(const dcl_case *c, const double *x, const double *y)
{
    double u[64], v[64];
    ref_unit(u, x, c->d, c->normalize);
    ref_unit(v, y, c->d, c->normalize);
    return ref_dotd(u, v, c->d) / c->tau;
}

static int same_group(const dcl_case *c, int64_t i, int64_t j)
{
    return c->groups ? c->groups[i % c->b] == c->groups[j % c->b] : 0;
}

/* NT-Xent over the 2b rows [a; p]: the diagonal out, positives the other
 * view (or the other rows of the group), out of the sum for DCL. */
static double ref_ntxent_dcl(const dcl_case *c)
{
    const int64_t b = c->b, n = 2 * b;
    double *l = ref_alloc(n), loss = 0;
    int *use = (int *)calloc((size_t)n, sizeof(int));
    int *pos = (int *)calloc((size_t)n, sizeof(int));
    int64_t r, q;
    for (r = 0; r < n; r++) {
        const double *x = r < b ? c->a + r * c->d : c->p + (r - b) * c->d;
        for (q = 0; q < n; q++) {
            const double *y = q < b ? c->a + q * c->d : c->p + (q - b) * c->d;
            l[q] = dot_units(c, x, y);
            pos[q] = q != r && (c->groups ? same_group(c, r, q)
                                          : q == (r + b) % n);
            use[q] = q != r && !(c->dcl && pos[q]);
        }
        loss += row_loss(l, use, pos, n) / (double)n;
    }
    free(l), free(use), free(pos);
    return loss;
}

/* In-batch InfoNCE: row i of S = U V^T / tau (and column i, symmetric). */
static double ref_infonce_dcl(const dcl_case *c)
{
    const int64_t b = c->b;
    const double w = c->symmetric ? 0.5 : 1.0;
    double *l = ref_alloc(b), loss = 0;
    int *use = (int *)calloc((size_t)b, sizeof(int));
    int *pos = (int *)calloc((size_t)b, sizeof(int));
    int64_t i, j, dir;
    for (dir = 0; dir < 1 + c->symmetric; dir++)
        for (i = 0; i < b; i++) {
            for (j = 0; j < b; j++) {
                const double *x = (dir ? c->p : c->a) + i * c->d;
                const double *y = (dir ? c->a : c->p) + j * c->d;
                l[j] = dot_units(c, x, y);
                pos[j] = c->groups ? same_group(c, i, j) : i == j;
                use[j] = !(c->dcl && pos[j]);
            }
            loss += w * row_loss(l, use, pos, b) / (double)b;
        }
    free(l), free(use), free(pos);
    return loss;
}

/* InfoNCE against shared negatives: [q.k, q.n_1, ...] / tau, target 0. */
static double ref_shared_loss(const dcl_case *c)
{
    const int64_t n = c->k + 1;
    double *l = ref_alloc(n), loss = 0;
    int *use = (int *)calloc((size_t)n, sizeof(int));
    int *pos = (int *)calloc((size_t)n, sizeof(int));
    int64_t i, j;
    for (i = 0; i < c->b; i++) {
        l[0] = dot_units(c, c->a + i * c->d, c->p + i * c->d);
        use[0] = pos[0] = 1;
        for (j = 0; j < c->k; j++) {
            l[j + 1] = dot_units(c, c->a + i * c->d, c->neg + j * c->d);
            use[j + 1] = 1;
        }
        loss += row_loss(l, use, pos, n) / (double)c->b;
    }
    free(l), free(use), free(pos);
    return loss;
}

/* Full softmax of a_i over the k rows of neg (the bank), target
 * self_idx[i]. */
static double ref_bank_loss(const dcl_case *c)
{
    double *l = ref_alloc(c->k), loss = 0;
    int *use = (int *)calloc((size_t)c->k, sizeof(int));
    int *pos = (int *)calloc((size_t)c->k, sizeof(int));
    int64_t i, j;
    for (i = 0; i < c->b; i++) {
        for (j = 0; j < c->k; j++) {
            l[j] = dot_units(c, c->a + i * c->d, c->neg + j * c->d);
            use[j] = 1;
            pos[j] = j == c->self_idx[i];
        }
        loss += row_loss(l, use, pos, c->k) / (double)c->b;
    }
    free(l), free(use), free(pos);
    return loss;
}

static double ref_loss(const dcl_case *c)
{
    if (c->kind == CTR_OBJECTIVE_BANK_SOFTMAX)
        return ref_bank_loss(c);
    if (c->kind == CTR_OBJECTIVE_NTXENT)
        return ref_ntxent_dcl(c);
    if (c->kind == CTR_OBJECTIVE_INFONCE_SHARED)
        return ref_shared_loss(c);
    return ref_infonce_dcl(c);
}

/* ---- finite differences ---------------------------------------------------------- */

/* got (n floats) against central differences of the reference loss in
 * x[0..n), steps relative to the inputs' scale. */
static void check_fd(const char *what, const float *got, dcl_case *c,
                     double *x, int64_t n)
{
    double *want = ref_alloc(n), top = 0;
    int64_t i;
    for (i = 0; i < n; i++) {
        double keep = x[i], up, down, h = 1e-5 * fmax(fabs(keep), 0.1);
        x[i] = keep + h;
        up = ref_loss(c);
        x[i] = keep - h;
        down = ref_loss(c);
        x[i] = keep;
        want[i] = (up - down) / (2 * h);
        top = fmax(top, fabs(want[i]));
    }
    for (i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= 2e-3 * fabs(want[i]) +
                                                     1e-4 * top + 1e-9,
                      "%s[%lld] = %.8g, finite differences %.8g", what,
                      (long long)i, (double)got[i], want[i]);
    free(want);
}

/* d loss / d tau of the reference, central differences. */
static double fd_tau(dcl_case *c)
{
    const double keep = c->tau, h = 1e-6 * keep;
    double up, down;
    c->tau = keep + h;
    up = ref_loss(c);
    c->tau = keep - h;
    down = ref_loss(c);
    c->tau = keep;
    return (up - down) / (2 * h);
}

/* ---- the library's call ------------------------------------------------------------ */

static ctr_objective *make(const dcl_case *c)
{
    ctr_objective *obj = NULL;
    ck_assert_int_eq(ctr_objective_create(&obj, c->kind, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE,
                                           c->tau), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NORMALIZE,
                                           c->normalize), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_SYMMETRIC,
                                           c->symmetric), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_DECOUPLED,
                                           c->dcl), CTR_OK);
    return obj;
}

/* One call of c's kind on float rows a (ld d + 2), p (ld d), neg. */
static int call(ctr_objective *obj, const dcl_case *c, double *loss,
                const float *a, const float *p, const float *neg, float *ga,
                float *gp)
{
    const int64_t b = c->b, d = c->d;
    switch (c->kind) {
    case CTR_OBJECTIVE_NTXENT:
        return ctr_objective_ntxent(obj, loss, a, d + 2, p, d, b, d,
                                    c->groups, ga, gp);
    case CTR_OBJECTIVE_INFONCE:
        return ctr_objective_infonce(obj, loss, a, d + 2, p, d, b, d,
                                     c->groups, ga, gp);
    case CTR_OBJECTIVE_NPAIR:
        return ctr_objective_npair(obj, loss, a, d + 2, p, d, b, d, ga, gp);
    case CTR_OBJECTIVE_BANK_SOFTMAX:
        return ctr_objective_bank_softmax(obj, loss, a, d + 2, b, d, neg, d,
                                          c->k, c->self_idx, ga);
    default:
        return ctr_objective_infonce_shared(obj, loss, a, d + 2, p, d, b, d,
                                            neg, d, c->k, NULL, NULL, ga, gp,
                                            NULL);
    }
}

static double stat_of(const ctr_objective *obj, int32_t s)
{
    double v = NAN;
    ck_assert_int_eq(ctr_objective_stat(obj, s, &v), CTR_OK);
    return v;
}

/* The calls that do not compute the gradient the temperature's derives
 * from leave the statistic unset (CTR_E_STAGE). */
static void check_no_temperature_gradient(ctr_objective *obj,
                                          const dcl_case *c, const float *a,
                                          const float *p, const float *neg,
                                          float *ga, float *gp)
{
    double v;
    ck_assert_int_eq(call(obj, c, NULL, a, p, neg, NULL, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_GRAD_TEMPERATURE,
                                        &v), CTR_E_STAGE);
    if (c->kind == CTR_OBJECTIVE_NTXENT) { /* needs both views */
        ck_assert_int_eq(call(obj, c, NULL, a, p, neg, ga, NULL), CTR_OK);
        ck_assert_int_eq(ctr_objective_stat(
                             obj, CTR_OBJECTIVE_S_GRAD_TEMPERATURE, &v),
                         CTR_E_STAGE);
    }
    if (c->kind == CTR_OBJECTIVE_INFONCE_SHARED) { /* needs grad_q */
        ck_assert_int_eq(call(obj, c, NULL, a, p, neg, NULL, gp), CTR_OK);
        ck_assert_int_eq(ctr_objective_stat(
                             obj, CTR_OBJECTIVE_S_GRAD_TEMPERATURE, &v),
                         CTR_E_STAGE);
    }
}

/* The library against the reference: loss, both gradients, and
 * d loss / d tau; scale sets the inputs' size (the fast, uniform or
 * two-exp paths of NT-Xent). */
static void run_case(dcl_case *c, double scale)
{
    const int64_t b = c->b, d = c->d;
    float *a = test_randn(31 + (uint64_t)b, b, d + 2, scale);
    float *p = test_randn(47 + (uint64_t)d, b, d, scale);
    float *neg = test_randn(53, c->k > 0 ? c->k : 1, d, scale);
    float *ga = (float *)malloc((size_t)(b * d) * sizeof(float));
    float *gp = (float *)malloc((size_t)(b * d) * sizeof(float));
    ctr_objective *obj = make(c);
    double loss = NAN, want, gt;
    int rc;
    c->a = ref_widen(a, b, d, d + 2);
    c->p = ref_widen(p, b, d, d);
    c->neg = ref_widen(neg, c->k > 0 ? c->k : 1, d, d);
    rc = call(obj, c, &loss, a, p, neg, ga, gp);
    ck_assert_msg(rc == CTR_OK, "%s", ctr_objective_last_error(obj));
    want = ref_loss(c);
    ck_assert_close(loss, want, 1e-5, 1e-5);
    check_fd("grad a", ga, c, c->a, b * d);
    if (c->kind != CTR_OBJECTIVE_BANK_SOFTMAX)
        check_fd("grad p", gp, c, c->p, b * d);
    gt = fd_tau(c);
    ck_assert_close(stat_of(obj, CTR_OBJECTIVE_S_GRAD_TEMPERATURE), gt,
                    1e-4, 1e-5 * fmax(1.0, fabs(loss) / c->tau));
    if (c->kind == CTR_OBJECTIVE_INFONCE || c->kind == CTR_OBJECTIVE_NPAIR) {
        /* either gradient gives it */
        ck_assert_int_eq(call(obj, c, NULL, a, p, neg, NULL, gp), CTR_OK);
        ck_assert_close(stat_of(obj, CTR_OBJECTIVE_S_GRAD_TEMPERATURE), gt,
                        1e-4, 1e-5 * fmax(1.0, fabs(loss) / c->tau));
    }
    check_no_temperature_gradient(obj, c, a, p, neg, ga, gp);
    ctr_objective_destroy(obj);
    free(a), free(p), free(neg), free(ga), free(gp);
    free(c->a), free(c->p), free(c->neg);
}

static dcl_case make_case(int32_t kind, int64_t b, int64_t d, double tau,
                          int normalize, int dcl)
{
    dcl_case c;
    memset(&c, 0, sizeof(c));
    c.kind = kind, c.b = b, c.d = d, c.tau = tau;
    c.normalize = normalize, c.dcl = dcl;
    return c;
}

START_TEST(test_ntxent_dcl_against_reference)
{
    static const int64_t groups[6] = {0, 1, 0, 2, 1, 2};
    int dcl;
    for (dcl = 0; dcl < 2; dcl++) {
        /* normalised at tau >= 0.025: one shift for every row */
        dcl_case c = make_case(CTR_OBJECTIVE_NTXENT, 5, 4, 0.5, 1, dcl);
        run_case(&c, 1.0);
        c = make_case(CTR_OBJECTIVE_NTXENT, 2, 3, 0.1, 1, dcl);
        run_case(&c, 1.0);
        /* unnormalised: row maxima, one exp per pair */
        c = make_case(CTR_OBJECTIVE_NTXENT, 6, 5, 0.7, 0, dcl);
        run_case(&c, 0.6);
        /* a spread of row maxima > 100: two exps per pair */
        c = make_case(CTR_OBJECTIVE_NTXENT, 4, 3, 0.02, 0, dcl);
        run_case(&c, 0.8);
        /* normalised at tau 0.01: row maxima */
        c = make_case(CTR_OBJECTIVE_NTXENT, 3, 4, 0.01, 1, dcl);
        run_case(&c, 1.0);
        /* groups (positives the other rows of the group) */
        c = make_case(CTR_OBJECTIVE_NTXENT, 6, 4, 0.3, 1, dcl);
        c.groups = groups;
        run_case(&c, 1.0);
        c = make_case(CTR_OBJECTIVE_NTXENT, 6, 4, 0.5, 0, dcl);
        c.groups = groups;
        run_case(&c, 0.5);
    }
}
END_TEST

START_TEST(test_infonce_dcl_against_reference)
{
    static const int64_t groups[7] = {3, 1, 3, 2, 1, 3, 0};
    int dcl, norm, sym;
    for (dcl = 0; dcl < 2; dcl++)
        for (norm = 0; norm < 2; norm++)
            for (sym = 0; sym < 2; sym++) {
                dcl_case c = make_case(CTR_OBJECTIVE_INFONCE, 7, 5, 0.4, norm,
                                       dcl);
                c.symmetric = sym;
                run_case(&c, 0.6);
                c.groups = groups;
                run_case(&c, 0.6);
                c = make_case(CTR_OBJECTIVE_NPAIR, 5, 3, 0.3, 1, dcl);
                c.symmetric = sym;
                run_case(&c, 1.0);
            }
}
END_TEST

START_TEST(test_shared_temperature_gradient)
{
    dcl_case c = make_case(CTR_OBJECTIVE_INFONCE_SHARED, 5, 4, 0.2, 1, 0);
    c.k = 9;
    run_case(&c, 1.0);
    c = make_case(CTR_OBJECTIVE_INFONCE_SHARED, 3, 6, 0.5, 0, 0);
    c.k = 20;
    run_case(&c, 0.5);
    {
        static const int64_t self[4] = {3, 0, 7, 3};
        c = make_case(CTR_OBJECTIVE_BANK_SOFTMAX, 4, 5, 0.1, 1, 0);
        c.k = 11;
        c.self_idx = self;
        run_case(&c, 1.0);
    }
}
END_TEST

/* ---- PyTorch golden values (tests/gen_dcl.py) --------------------------------- */

static float *gold(const char *prefix, const char *name, long *count)
{
    char key[96];
    long n = 0;
    snprintf(key, sizeof(key), "%s_%s", prefix, name);
    return golden_read("dcl_golden.txt", key, count != NULL ? count : &n);
}

static double gold1(const char *prefix, const char *name)
{
    float *v = gold(prefix, name, NULL);
    double x = v[0];
    free(v);
    return x;
}

/* got (n floats) against the golden array, to float precision. */
static void expect_gold(const float *got, const char *prefix,
                        const char *name)
{
    long n, i;
    float *want = gold(prefix, name, &n);
    double top = 0;
    for (i = 0; i < n; i++)
        top = fmax(top, fabs(want[i]));
    for (i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= 1e-5 * top + 1e-5 * fabs(want[i]),
                      "%s_%s[%ld] = %.8g, PyTorch %.8g", prefix, name, i,
                      (double)got[i], (double)want[i]);
    free(want);
}

/* One golden in-batch case: NTXENT (z1, z2) or INFONCE (a, p). */
static void run_golden(const char *prefix, int32_t kind, double tau, int dcl,
                       int symmetric, double *tau_grad)
{
    const int nt = kind == CTR_OBJECTIVE_NTXENT;
    const int64_t b = (int64_t)gold1(prefix, "b"), d = (int64_t)gold1(prefix, "d");
    float *x = gold(prefix, nt ? "z1" : "a", NULL);
    float *y = gold(prefix, nt ? "z2" : "p", NULL);
    float *gx = (float *)malloc((size_t)(b * d) * sizeof(float));
    float *gy = (float *)malloc((size_t)(b * d) * sizeof(float));
    dcl_case c = make_case(kind, b, d, tau, 1, dcl);
    ctr_objective *obj;
    double loss = NAN;
    c.symmetric = symmetric;
    obj = make(&c);
    ck_assert_int_eq(nt ? ctr_objective_ntxent(obj, &loss, x, d, y, d, b, d,
                                               NULL, gx, gy)
                        : ctr_objective_infonce(obj, &loss, x, d, y, d, b, d,
                                                NULL, gx, gy),
                     CTR_OK);
    ck_assert_close(loss, gold1(prefix, "loss"), 1e-5, 1e-6);
    expect_gold(gx, prefix, nt ? "grad_z1" : "grad_a");
    expect_gold(gy, prefix, nt ? "grad_z2" : "grad_p");
    *tau_grad = stat_of(obj, CTR_OBJECTIVE_S_GRAD_TEMPERATURE);
    ctr_objective_destroy(obj);
    free(x), free(y), free(gx), free(gy);
}

START_TEST(test_golden_pytorch)
{
    double g;
    run_golden("dcl_ntxent", CTR_OBJECTIVE_NTXENT, gold1("dcl_ntxent", "tau"),
               1, 0, &g);
    ck_assert_close(g, gold1("dcl_ntxent", "tau_grad"), 1e-5, 1e-6);
    run_golden("dcl_infonce", CTR_OBJECTIVE_INFONCE,
               gold1("dcl_infonce", "tau"), 1, 1, &g);
    ck_assert_close(g, gold1("dcl_infonce", "tau_grad"), 1e-5, 1e-6);
    run_golden("ntxent_tau", CTR_OBJECTIVE_NTXENT, gold1("ntxent_tau", "tau"),
               0, 0, &g);
    ck_assert_close(g, gold1("ntxent_tau", "tau_grad"), 1e-5, 1e-6);
    {
        /* CLIP learns t = log(1 / tau): d loss / d t = -tau d loss / d tau */
        const double t = gold1("clip_tau", "logit_scale"), tau = exp(-t);
        run_golden("clip_tau", CTR_OBJECTIVE_INFONCE, tau, 0, 1, &g);
        ck_assert_close(-tau * g, gold1("clip_tau", "logit_scale_grad"), 1e-5,
                        1e-6);
    }
}
END_TEST

START_TEST(test_golden_moco_temperature)
{
    const char *m = "moco_tau";
    const int64_t b = (int64_t)gold1(m, "b"), d = (int64_t)gold1(m, "d");
    const int64_t k = (int64_t)gold1(m, "k");
    float *q = gold(m, "q", NULL), *key = gold(m, "key", NULL);
    float *queue = gold(m, "queue", NULL);
    float *gq = (float *)malloc((size_t)(b * d) * sizeof(float));
    dcl_case c = make_case(CTR_OBJECTIVE_INFONCE_SHARED, b, d,
                           gold1(m, "tau"), 1, 0);
    ctr_objective *obj = make(&c);
    double loss = NAN;
    ck_assert_int_eq(ctr_objective_infonce_shared(obj, &loss, q, d, key, d, b,
                                                  d, queue, d, k, NULL, NULL,
                                                  gq, NULL, NULL), CTR_OK);
    ck_assert_close(loss, gold1(m, "loss"), 1e-5, 1e-6);
    expect_gold(gq, m, "grad_q");
    ck_assert_close(stat_of(obj, CTR_OBJECTIVE_S_GRAD_TEMPERATURE),
                    gold1(m, "tau_grad"), 1e-5, 1e-6);
    ctr_objective_destroy(obj);
    free(q), free(key), free(queue), free(gq);
}
END_TEST

/* ---- bad inputs ----------------------------------------------------------------------- */

START_TEST(test_parameter_rules)
{
    ctr_objective *obj = NULL;
    double lo, hi, v;
    int64_t i;
    int32_t kinds[] = {CTR_OBJECTIVE_NTXENT, CTR_OBJECTIVE_INFONCE,
                       CTR_OBJECTIVE_NPAIR, CTR_OBJECTIVE_NCE};
    size_t k;
    ck_assert_int_eq(ctr_objective_param_bounds(CTR_OBJECTIVE_P_DECOUPLED, &lo,
                                                &hi), CTR_OK);
    ck_assert(lo == 0.0 && hi == 1.0);
    for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        ck_assert_int_eq(ctr_objective_create(&obj, kinds[k], NULL), CTR_OK);
        ck_assert_int_eq(ctr_objective_get_i64(obj, CTR_OBJECTIVE_P_DECOUPLED,
                                               &i), CTR_OK);
        ck_assert_int_eq(i, 0);
        ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_DECOUPLED,
                                               2), CTR_E_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(ctr_objective_last_error(obj),
                                     "DECOUPLED"));
        ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_DECOUPLED,
                                               0.5), CTR_E_INVALID_ARG);
        ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_DECOUPLED,
                                               NAN), CTR_E_NUMERIC);
        ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_DECOUPLED,
                                               1.0), CTR_OK);
        ck_assert_int_eq(ctr_objective_get_f64(obj, CTR_OBJECTIVE_P_DECOUPLED,
                                               &v), CTR_OK);
        ck_assert(v == 1.0);
        /* the statistic: unknown id 10, none before a call */
        ck_assert_int_eq(ctr_objective_stat(obj, 10, &v), CTR_E_INVALID_ARG);
        ck_assert_int_eq(ctr_objective_stat(
                             obj, CTR_OBJECTIVE_S_GRAD_TEMPERATURE, &v),
                         CTR_E_STAGE);
        ctr_objective_destroy(obj);
    }
}
END_TEST

/* A DCL call whose rows lack negatives: CTR_E_INVALID_ARG, the gradients
 * and the statistics untouched. */
static void expect_no_negatives(int32_t kind, int64_t b,
                                const int64_t *groups)
{
    enum { D = 3 };
    float x[4 * D], gx[4 * D], gy[4 * D];
    dcl_case c = make_case(kind, b, D, 0.5, 1, 1);
    ctr_objective *obj = make(&c);
    double loss = -7.0, calls = -1;
    int64_t i;
    int rc;
    for (i = 0; i < 4 * D; i++)
        x[i] = (float)(i % 5) - 2.0f, gx[i] = gy[i] = 42.0f;
    rc = kind == CTR_OBJECTIVE_NTXENT
             ? ctr_objective_ntxent(obj, &loss, x, D, x + D, D, b, D, groups,
                                    gx, gy)
             : ctr_objective_infonce(obj, &loss, x, D, x + D, D, b, D, groups,
                                     gx, gy);
    ck_assert_int_eq(rc, CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(ctr_objective_last_error(obj), "negative"));
    ck_assert(loss == -7.0);
    for (i = 0; i < 4 * D; i++)
        ck_assert(gx[i] == 42.0f && gy[i] == 42.0f);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_CALLS, &calls),
                     CTR_OK);
    ck_assert(calls == 0.0);
    /* without DCL the same call is fine */
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_DECOUPLED, 0),
                     CTR_OK);
    rc = kind == CTR_OBJECTIVE_NTXENT
             ? ctr_objective_ntxent(obj, &loss, x, D, x + D, D, b, D, groups,
                                    gx, gy)
             : ctr_objective_infonce(obj, &loss, x, D, x + D, D, b, D, groups,
                                     gx, gy);
    ck_assert_int_eq(rc, CTR_OK);
    ctr_objective_destroy(obj);
}

START_TEST(test_rows_without_negatives)
{
    static const int64_t same[3] = {4, 4, 4};
    expect_no_negatives(CTR_OBJECTIVE_NTXENT, 1, NULL);
    expect_no_negatives(CTR_OBJECTIVE_NTXENT, 3, same);
    expect_no_negatives(CTR_OBJECTIVE_INFONCE, 1, NULL);
    expect_no_negatives(CTR_OBJECTIVE_INFONCE, 3, same);
    expect_no_negatives(CTR_OBJECTIVE_INFONCE, 1, same);
}
END_TEST

START_TEST(test_non_finite_input)
{
    enum { B = 3, D = 2 };
    float x[B * D] = {1, 2, 3, 4, 5, 6}, g[B * D];
    dcl_case c = make_case(CTR_OBJECTIVE_NTXENT, B, D, 0.5, 1, 1);
    ctr_objective *obj = make(&c);
    double loss = 0, v;
    x[3] = NAN;
    ck_assert_int_eq(ctr_objective_ntxent(obj, &loss, x, D, x, D, B, D, NULL,
                                          g, g), CTR_E_NUMERIC);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_GRAD_TEMPERATURE,
                                        &v), CTR_E_STAGE);
    ctr_objective_destroy(obj);
}
END_TEST

/* ---- the failing allocator -------------------------------------------------------- */

static int dcl_attempt(const ctr_allocator *al, void *ctx)
{
    enum { B = 6, D = 5 };
    float x[2 * B * D], g1[B * D], g2[B * D];
    ctr_objective *obj = NULL, *back = NULL;
    unsigned char buf[512];
    size_t size = 0;
    double v;
    int rc, i;
    (void)ctx;
    for (i = 0; i < 2 * B * D; i++)
        x[i] = (float)((i * 7) % 11) - 5.0f;
    rc = ctr_objective_create(&obj, CTR_OBJECTIVE_NTXENT, al);
    if (rc != CTR_OK)
        return rc;
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_DECOUPLED, 1),
                     CTR_OK);
    rc = ctr_objective_ntxent(obj, NULL, x, D, x + B * D, D, B, D, NULL, g1, g2);
    if (rc == CTR_OK)
        rc = ctr_objective_save_buffer(obj, buf, sizeof(buf), &size);
    if (rc == CTR_OK)
        rc = ctr_objective_load_buffer(&back, buf, size, al);
    if (rc == CTR_OK)
        rc = ctr_objective_stat(back, CTR_OBJECTIVE_S_GRAD_TEMPERATURE, &v);
    ctr_objective_destroy(back);
    ctr_objective_destroy(obj);
    return rc;
}

START_TEST(test_failing_allocator)
{
    ck_assert_int_gt(test_every_alloc_failure(dcl_attempt, NULL), 1);
}
END_TEST

/* ---- checkpoints ------------------------------------------------------------------ */

/* The bytes of obj's checkpoint; *len its size. */
static unsigned char *saved(const ctr_objective *obj, size_t *len)
{
    unsigned char *buf;
    ck_assert_int_eq(ctr_objective_save_buffer(obj, NULL, 0, len), CTR_OK);
    buf = (unsigned char *)malloc(*len);
    ck_assert_int_eq(ctr_objective_save_buffer(obj, buf, *len, len), CTR_OK);
    return buf;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    int i;
    for (i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* The file with the OBJS section's payload resized to keep its first
 * `keep` bytes followed by `extra` (n bytes): the section's length and
 * CRC are rewritten (docs/file-format.md: header 24 bytes, then tag,
 * reserved, u64 length, payload, crc). *len is updated. */
static unsigned char *with_payload(const unsigned char *file, size_t *len,
                                   size_t keep, const unsigned char *extra,
                                   size_t n)
{
    const size_t old = (size_t)file[32] | (size_t)file[33] << 8 |
                       (size_t)file[34] << 16; /* a few hundred bytes */
    const size_t rest = *len - (40 + old + 4);
    unsigned char *out = (unsigned char *)malloc(*len + n);
    size_t i, payload = keep + n;
    memcpy(out, file, 40 + keep);
    if (n > 0)
        memcpy(out + 40 + keep, extra, n);
    for (i = 0; i < 8; i++)
        out[32 + i] = (unsigned char)((uint64_t)payload >> (8 * i));
    put_u32(out + 40 + payload, ctr__crc32(0, out + 24, 16 + payload));
    memcpy(out + 40 + payload + 4, file + 40 + old + 4, rest);
    *len = 40 + payload + 4 + rest;
    return out;
}

START_TEST(test_checkpoint)
{
    enum { B = 4, D = 3, NEW_FIELDS = 8 + 4 + 8 };
    float x[2 * B * D], g1[B * D], g2[B * D];
    dcl_case c = make_case(CTR_OBJECTIVE_NTXENT, B, D, 0.25, 1, 1);
    ctr_objective *obj = make(&c), *back = NULL;
    unsigned char *file, *old, bad[NEW_FIELDS];
    size_t len, old_len, payload;
    int64_t i64 = -1;
    double v = 0;
    int i;
    for (i = 0; i < 2 * B * D; i++)
        x[i] = (float)((i * 5) % 7) - 3.0f;
    ck_assert_int_eq(ctr_objective_ntxent(obj, NULL, x, D, x + B * D, D, B, D,
                                          NULL, g1, g2), CTR_OK);
    file = saved(obj, &len);
    ck_assert_int_eq(ctr_objective_load_buffer(&back, file, len, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_get_i64(back, CTR_OBJECTIVE_P_DECOUPLED,
                                           &i64), CTR_OK);
    ck_assert_int_eq(i64, 1);
    ck_assert(stat_of(back, CTR_OBJECTIVE_S_GRAD_TEMPERATURE) ==
              stat_of(obj, CTR_OBJECTIVE_S_GRAD_TEMPERATURE));
    ctr_objective_destroy(back);
    /* a file written before DECOUPLED existed: the payload without the
     * new fields loads with DECOUPLED 0 and no temperature gradient */
    payload = (size_t)file[32] | (size_t)file[33] << 8;
    old_len = len;
    old = with_payload(file, &old_len, payload - NEW_FIELDS, NULL, 0);
    ck_assert_uint_eq(old_len, len - NEW_FIELDS);
    ck_assert_int_eq(ctr_objective_load_buffer(&back, old, old_len, NULL),
                     CTR_OK);
    ck_assert_int_eq(ctr_objective_get_i64(back, CTR_OBJECTIVE_P_DECOUPLED,
                                           &i64), CTR_OK);
    ck_assert_int_eq(i64, 0);
    ck_assert_int_eq(ctr_objective_stat(back, CTR_OBJECTIVE_S_LOSS, &v), CTR_OK);
    ck_assert_int_eq(ctr_objective_stat(back, CTR_OBJECTIVE_S_GRAD_TEMPERATURE,
                                        &v), CTR_E_STAGE);
    ctr_objective_destroy(back);
    back = NULL;
    free(old);
    /* new fields out of range or cut short: corrupt, nothing created */
    memcpy(bad, file + 40 + payload - NEW_FIELDS, NEW_FIELDS);
    bad[0] = 2; /* DECOUPLED 2 */
    old_len = len;
    old = with_payload(file, &old_len, payload - NEW_FIELDS, bad, NEW_FIELDS);
    ck_assert_int_eq(ctr_objective_load_buffer(&back, old, old_len, NULL),
                     CTR_E_CORRUPT);
    free(old);
    bad[0] = 1;
    bad[8] = 3; /* has_grad_temperature 3 */
    old_len = len;
    old = with_payload(file, &old_len, payload - NEW_FIELDS, bad, NEW_FIELDS);
    ck_assert_int_eq(ctr_objective_load_buffer(&back, old, old_len, NULL),
                     CTR_E_CORRUPT);
    free(old);
    old_len = len;
    old = with_payload(file, &old_len, payload - NEW_FIELDS, bad, 8);
    ck_assert_int_eq(ctr_objective_load_buffer(&back, old, old_len, NULL),
                     CTR_E_CORRUPT);
    ck_assert_ptr_null(back);
    free(old);
    free(file);
    ctr_objective_destroy(obj);
}
END_TEST

/* ---- a learned temperature -------------------------------------------------------- */

/* Fixed embeddings, only t = log tau trained by AdamW from
 * d loss / d t = tau * S_GRAD_TEMPERATURE: t reaches the minimum of the
 * reference loss over tau (found by a scan), where the gradient is 0. */
START_TEST(test_learned_temperature)
{
    enum { B = 8, D = 4 };
    float *z1 = test_randn(71, B, D, 1.0), *z2 = test_randn(72, B, D, 0.6);
    float g1[B * D], g2[B * D], t = (float)log(0.5), gt;
    dcl_case c = make_case(CTR_OBJECTIVE_NTXENT, B, D, 0.5, 1, 0);
    ctr_objective *obj = make(&c);
    ctr_optimizer *opt = NULL;
    double best = INFINITY, best_tau = 0, tau;
    int i;
    for (i = 0; i < B * D; i++)
        z2[i] += z1[i]; /* positives: a noisy copy */
    c.a = ref_widen(z1, B, D, D), c.p = ref_widen(z2, B, D, D);
    for (tau = 0.01; tau < 2.0; tau *= 1.001) {
        c.tau = tau;
        if (ref_loss(&c) < best)
            best = ref_loss(&c), best_tau = tau;
    }
    ck_assert(best_tau > 0.02 && best_tau < 1.5); /* an interior minimum */
    ck_assert_int_eq(ctr_optimizer_create(&opt, CTR_OPTIMIZER_ADAMW, 1, NULL),
                     CTR_OK);
    ck_assert_int_eq(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_LR, 0.05),
                     CTR_OK);
    ck_assert_int_eq(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_WEIGHT_DECAY,
                                           0.0), CTR_OK);
    for (i = 0; i < 400; i++) {
        tau = exp((double)t);
        ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE,
                                               tau), CTR_OK);
        ck_assert_int_eq(ctr_objective_ntxent(obj, NULL, z1, D, z2, D, B, D,
                                              NULL, g1, g2), CTR_OK);
        gt = (float)(tau * stat_of(obj, CTR_OBJECTIVE_S_GRAD_TEMPERATURE));
        ck_assert_int_eq(ctr_optimizer_step_buffer(opt, &t, &gt, 1), CTR_OK);
    }
    ck_assert_close(exp((double)t), best_tau, 0.01, 0);
    ck_assert_close(fabs((double)gt), 0.0, 0, 1e-3);
    ctr_optimizer_destroy(opt);
    ctr_objective_destroy(obj);
    free(z1), free(z2), free(c.a), free(c.p);
}
END_TEST

Suite *ctr_test_dcl_suite(void);

Suite *ctr_test_dcl_suite(void)
{
    Suite *s = suite_create("dcl");
    TCase *ref = tcase_create("reference");
    TCase *api = tcase_create("api");
    tcase_add_test(ref, test_ntxent_dcl_against_reference);
    tcase_add_test(ref, test_infonce_dcl_against_reference);
    tcase_add_test(ref, test_shared_temperature_gradient);
    tcase_add_test(ref, test_golden_pytorch);
    tcase_add_test(ref, test_golden_moco_temperature);
    tcase_add_test(api, test_parameter_rules);
    tcase_add_test(api, test_rows_without_negatives);
    tcase_add_test(api, test_non_finite_input);
    tcase_add_test(api, test_failing_allocator);
    tcase_add_test(api, test_checkpoint);
    tcase_add_test(api, test_learned_temperature);
    suite_add_tcase(s, ref);
    suite_add_tcase(s, api);
    return s;
}
