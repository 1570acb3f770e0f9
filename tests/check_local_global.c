/*
 * check_local_global.c - the local-global objective (DIM / AMDIM;
 * contrastive/local_global.h): loss against a float64 reference written
 * here, gradients against finite differences of that reference, for every
 * estimator with and without AMDIM's options and DIM's self mask, odd
 * shapes and three layouts of l; PyTorch goldens of DIM's and AMDIM's
 * reference codes (tests/gen_local_global.py); statistics; chained
 * encoders (the gradient into a feature map); every bad input
 * with nothing written; the workspace query and the no-allocation rule;
 * every allocation failing in turn; checkpoints.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "golden_util.h"
#include "test_util.h"

/* One configuration of the call. */
typedef struct cfg {
    int64_t b, p, d;
    int32_t est, self_mask, scale;
    double clip, pen;
} cfg;

/* ---- the float64 reference -------------------------------------------------- */

static double softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/* Scores u (b x b p) and the penalty term of g (b x d) and l (channels-last
 * b x p x d), both double. */
static double ref_scores(const cfg *c, const double *g, const double *l,
                         double *u)
{
    const int64_t n = c->b * c->p;
    const double alpha = c->scale ? 1.0 / sqrt((double)c->d) : 1.0;
    double pen = 0;
    int64_t i, k, t;
    for (i = 0; i < c->b; i++)
        for (k = 0; k < n; k++) {
            double s = 0;
            for (t = 0; t < c->d; t++)
                s += g[i * c->d + t] * l[k * c->d + t];
            s *= alpha;
            pen += s * s;
            u[i * n + k] = c->clip > 0 ? c->clip * tanh(s / c->clip) : s;
        }
    return c->pen * pen / (double)(c->b * n);
}

static double ref_infonce(const cfg *c, const double *u)
{
    const int64_t n = c->b * c->p;
    double loss = 0;
    int64_t i, q, k;
    for (i = 0; i < c->b; i++)
        for (q = 0; q < c->p; q++) {
            const double pos = u[i * n + i * c->p + q];
            double m = pos, z = 0;
            for (k = 0; k < n; k++)
                if (k / c->p != i && u[i * n + k] > m)
                    m = u[i * n + k];
            if (c->self_mask == CTR_SELFPAIR_DIM && m < -10)
                m = -10;
            z = exp(pos - m);
            for (k = 0; k < n; k++)
                if (k / c->p != i)
                    z += exp(u[i * n + k] - m);
            if (c->self_mask == CTR_SELFPAIR_DIM)
                z += (double)c->p * exp(-10 - m);
            loss += m + log(z) - pos;
        }
    return loss / (double)n;
}

static double ref_jsd_dv(const cfg *c, const double *u)
{
    const int64_t n = c->b * c->p;
    const double npos = (double)n, nneg = (double)(c->b - 1) * (double)n;
    double pos = 0, neg = 0, m = -INFINITY;
    int64_t i, k;
    for (i = 0; i < c->b; i++)
        for (k = 0; k < n; k++)
            if (k / c->p != i && u[i * n + k] > m)
                m = u[i * n + k];
    for (i = 0; i < c->b; i++)
        for (k = 0; k < n; k++) {
            const double x = u[i * n + k];
            if (k / c->p == i)
                pos += c->est == CTR_MI_JSD ? softplus(-x) : -x;
            else
                neg += c->est == CTR_MI_JSD ? softplus(x) : exp(x - m);
        }
    if (c->est == CTR_MI_JSD)
        return pos / npos + neg / nneg;
    return m + log(neg / nneg) + pos / npos;
}

static double ref_loss(const cfg *c, const double *g, const double *l)
{
    double *u = malloc((size_t)(c->b * c->b * c->p) * sizeof(double));
    double pen, loss;
    ck_assert_ptr_nonnull(u);
    pen = ref_scores(c, g, l, u);
    loss = c->est == CTR_MI_INFONCE ? ref_infonce(c, u) : ref_jsd_dv(c, u);
    free(u);
    return loss + pen;
}

/* ---- layouts ------------------------------------------------------------------ */

enum { LAYOUT_LAST, LAYOUT_FIRST, LAYOUT_PADDED };

/* Strides of a layout and the floats its buffer spans. */
static int64_t layout(const cfg *c, int lay, int64_t st[3])
{
    if (lay == LAYOUT_LAST)
        st[0] = c->p * c->d, st[1] = c->d, st[2] = 1;
    else if (lay == LAYOUT_FIRST)
        st[0] = c->d * c->p, st[1] = 1, st[2] = c->p;
    else
        st[0] = c->p * (c->d + 3) + 2, st[1] = c->d + 3, st[2] = 1;
    return c->b * st[0];
}

static int64_t at(const int64_t st[3], int64_t j, int64_t q, int64_t t)
{
    return j * st[0] + q * st[1] + t * st[2];
}

/* ---- one checked call ----------------------------------------------------------- */

typedef struct run {
    cfg c;
    int lay;
    int64_t st[3], span;
    double *g, *l;          /* double inputs (l channels-last) */
    float *gf, *lf, *gg, *gl;
    double loss;
} run;

static void run_init(run *r, const cfg *c, int lay, double amp, unsigned seed)
{
    int64_t j, q, t, nb = c->b * c->d, nl = c->b * c->p * c->d;
    r->c = *c, r->lay = lay;
    r->span = layout(c, lay, r->st);
    r->g = malloc((size_t)nb * sizeof(double));
    r->l = malloc((size_t)nl * sizeof(double));
    r->gf = malloc((size_t)nb * sizeof(float));
    r->gg = malloc((size_t)nb * sizeof(float));
    r->lf = malloc((size_t)r->span * sizeof(float));
    r->gl = malloc((size_t)r->span * sizeof(float));
    ck_assert(r->g && r->l && r->gf && r->gg && r->lf && r->gl);
    for (j = 0; j < nb; j++)
        r->gf[j] = (float)(amp * sin(0.37 * (double)j + seed)),
        r->g[j] = r->gf[j];
    for (j = 0; j < r->span; j++)
        r->lf[j] = 7.0f, r->gl[j] = -3.0f; /* sentinels outside the view */
    for (j = 0; j < c->b; j++)
        for (q = 0; q < c->p; q++)
            for (t = 0; t < c->d; t++) {
                const int64_t k = (j * c->p + q) * c->d + t;
                float v = (float)(amp * cos(0.53 * (double)k + 0.3 * seed));
                r->lf[at(r->st, j, q, t)] = v;
                r->l[k] = v;
            }
}

static void run_free(run *r)
{
    free(r->g), free(r->l), free(r->gf), free(r->gg), free(r->lf), free(r->gl);
}

static void fill_args(const run *r, ctr_local_global_args *a)
{
    ck_assert_int_eq(ctr_local_global_args_init(a), CTR_OK);
    a->estimator = r->c.est, a->b = r->c.b, a->p = r->c.p, a->d = r->c.d;
    a->g = r->gf, a->ldg = r->c.d, a->l = r->lf;
    a->l_batch_stride = r->st[0], a->l_pos_stride = r->st[1];
    a->l_chan_stride = r->st[2];
    a->self_mask = r->c.self_mask, a->scale_sqrt_d = r->c.scale;
    a->clip = r->c.clip, a->penalty = r->c.pen;
    a->grad_g = r->gg, a->grad_l = r->gl;
}

static int run_call(ctr_objective *obj, run *r)
{
    ctr_local_global_args a;
    fill_args(r, &a);
    return ctr_objective_local_global(obj, &r->loss, &a);
}

static ctr_objective *make(void)
{
    ctr_objective *obj = NULL;
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_LOCAL_GLOBAL,
                                          NULL), CTR_OK);
    return obj;
}

/* Central difference of the reference in x[k]. */
static double fd(const run *r, double *x, int64_t k)
{
    const double h = 1e-6 * (fabs(x[k]) > 1 ? fabs(x[k]) : 1.0), keep = x[k];
    double up, down;
    x[k] = keep + h;
    up = ref_loss(&r->c, r->g, r->l);
    x[k] = keep - h;
    down = ref_loss(&r->c, r->g, r->l);
    x[k] = keep;
    return (up - down) / (2 * h);
}

static double max_abs(const float *x, int64_t n)
{
    double m = 0;
    int64_t i;
    for (i = 0; i < n; i++)
        m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

/* Loss within 1e-5 relative of the reference; every gradient entry within
 * 1e-5 of the finite difference relative to the largest entry (and
 * entries of grad_l's buffer outside the view untouched). */
static void check_against_reference(const cfg *c, int lay, double amp)
{
    ctr_objective *obj = make();
    run r;
    int64_t j, q, t, nb = c->b * c->d;
    double want, scale;
    run_init(&r, c, lay, amp, 1);
    ck_assert_int_eq(run_call(obj, &r), CTR_OK);
    want = ref_loss(c, r.g, r.l);
    ck_assert_close(r.loss, want, 1e-5, 1e-6);
    scale = max_abs(r.gg, nb) + 1e-3;
    for (j = 0; j < nb; j++)
        ck_assert_close(r.gg[j], fd(&r, r.g, j), 0, 1e-5 * scale);
    for (j = 0; j < r.span; j++)
        if (r.gl[j] == -3.0f && r.lf[j] != 7.0f)
            ck_abort_msg("grad_l[%lld] not written", (long long)j);
    scale = 0;
    for (j = 0; j < c->b; j++)
        for (q = 0; q < c->p; q++)
            for (t = 0; t < c->d; t++)
                scale = fmax(scale, fabs(r.gl[at(r.st, j, q, t)]));
    scale += 1e-3;
    for (j = 0; j < c->b; j++)
        for (q = 0; q < c->p; q++)
            for (t = 0; t < c->d; t++)
                ck_assert_close(r.gl[at(r.st, j, q, t)],
                                fd(&r, r.l, (j * c->p + q) * c->d + t), 0,
                                1e-5 * scale);
    for (j = 0; j < r.span; j++)
        if (r.lf[j] == 7.0f)
            ck_assert_float_eq(r.gl[j], -3.0f);
    run_free(&r);
    ctr_objective_destroy(obj);
}

/* ---- numerics ------------------------------------------------------------------- */

static const int32_t ESTS[3] = {CTR_MI_INFONCE, CTR_MI_JSD, CTR_MI_DV};

START_TEST(test_estimators_match_reference)
{
    /* every estimator, plain and with each AMDIM option, three layouts */
    const cfg shapes[3] = {{3, 5, 7, 0, 0, 0, 0, 0}, {2, 1, 1, 0, 0, 0, 0, 0},
                           {4, 3, 16, 0, 0, 0, 0, 0}};
    int e, s, lay, opt;
    for (e = 0; e < 3; e++)
        for (s = 0; s < 3; s++)
            for (opt = 0; opt < 4; opt++) {
                cfg c = shapes[s];
                c.est = ESTS[e];
                c.scale = opt == 1 || opt == 3;
                c.clip = opt >= 2 ? 1.5 : 0;
                c.pen = opt == 3 ? 0.05 : 0;
                for (lay = 0; lay < 3; lay++)
                    check_against_reference(&c, lay, 1.2);
            }
}
END_TEST

START_TEST(test_infonce_self_mask_and_b1)
{
    cfg c = {3, 4, 5, CTR_MI_INFONCE, CTR_SELFPAIR_DIM, 0, 0, 0};
    int lay;
    for (lay = 0; lay < 3; lay++) {
        check_against_reference(&c, lay, 1.0);
        c.scale = 1, c.clip = 20, c.pen = 0.05;
        check_against_reference(&c, lay, 4.0); /* scores reach the clip */
        c.scale = 0, c.clip = 0, c.pen = 0;
    }
    c.b = 1; /* no negatives: excluded gives 0, DIM's mask does not */
    check_against_reference(&c, LAYOUT_FIRST, 1.0);
    c.self_mask = CTR_SELFPAIR_EXCLUDE;
    check_against_reference(&c, LAYOUT_LAST, 1.0);
}
END_TEST

START_TEST(test_statistics)
{
    cfg c = {3, 2, 4, CTR_MI_INFONCE, 0, 0, 0, 0};
    ctr_objective *obj = make();
    run r;
    double v, pos = 0, neg = 0, correct = 0;
    int64_t i, j, q, q2, t;
    int e;
    run_init(&r, &c, LAYOUT_FIRST, 1.0, 2);
    for (e = 0; e < 3; e++) {
        r.c.est = ESTS[e];
        ck_assert_int_eq(run_call(obj, &r), CTR_OK);
        ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_CHANCE_LOSS, &v), CTR_OK);
        ck_assert_double_eq_tol(v, e == 0 ? log(5.0) : e == 1 ? 2 * log(2.0) : 0.0, 1e-12);
        ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_LOSS, &v), CTR_OK);
        ck_assert_double_eq(v, r.loss);
    }
    for (i = 0; i < c.b; i++)
        for (q = 0; q < c.p; q++) {
            double own = 0, best = -INFINITY;
            for (j = 0; j < c.b; j++)
                for (q2 = 0; q2 < c.p; q2++) {
                    double s = 0;
                    for (t = 0; t < c.d; t++)
                        s += r.g[i * c.d + t] * r.l[(j * c.p + q2) * c.d + t];
                    if (j == i && q2 == q)
                        own = s, pos += s;
                    else if (j != i) {
                        best = fmax(best, s);
                        neg += s / c.p; /* each negative counted p times */
                    }
                }
            correct += own > best;
        }
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_POS_SIM, &v), CTR_OK);
    ck_assert_double_eq_tol(v, pos / 6.0, 1e-5);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_NEG_SIM, &v), CTR_OK);
    ck_assert_double_eq_tol(v, neg / 12.0, 1e-5);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_ACCURACY, &v), CTR_OK);
    ck_assert_double_eq_tol(v, correct / 6.0, 1e-12);
    run_free(&r);
    ctr_objective_destroy(obj);
}
END_TEST

/* ---- PyTorch goldens ------------------------------------------------------------ */

static void golden_case(const char *name, int32_t est, int32_t mask,
                        int amdim, int64_t b, int64_t d, int64_t p)
{
    char key[64];
    long n;
    float *g, *l, *want_loss, *want_gg, *want_gl, *gg, *gl;
    ctr_local_global_args a;
    ctr_objective *obj = make();
    double loss, scale;
    int64_t i;
#define GOLD(field) (snprintf(key, sizeof(key), "%s_%s", name, field), \
                     golden_read("local_global_golden.txt", key, &n))
    g = GOLD("g");
    ck_assert_int_eq(n, b * d);
    l = GOLD("l");
    ck_assert_int_eq(n, b * d * p);
    want_loss = GOLD("loss");
    want_gg = GOLD("grad_g");
    want_gl = GOLD("grad_l");
#undef GOLD
    gg = calloc((size_t)(b * d), sizeof(float));
    gl = calloc((size_t)(b * d * p), sizeof(float));
    ck_assert(gg && gl);
    ctr_local_global_args_init(&a);
    a.estimator = est, a.self_mask = mask, a.b = b, a.p = p, a.d = d;
    a.g = g, a.ldg = d, a.l = l; /* DIM's layout: b x d x p */
    a.l_batch_stride = d * p, a.l_pos_stride = 1, a.l_chan_stride = p;
    if (amdim)
        a.scale_sqrt_d = 1, a.clip = 20, a.penalty = 0.05;
    a.grad_g = gg, a.grad_l = gl;
    ck_assert_int_eq(ctr_objective_local_global(obj, &loss, &a), CTR_OK);
    ck_assert_close(loss, want_loss[0], 1e-5, 1e-6);
    scale = max_abs(want_gg, b * d) + max_abs(want_gl, b * d * p);
    for (i = 0; i < b * d; i++)
        ck_assert_close(gg[i], want_gg[i], 1e-4, 1e-5 * scale);
    for (i = 0; i < b * d * p; i++)
        ck_assert_close(gl[i], want_gl[i], 1e-4, 1e-5 * scale);
    free(g), free(l), free(want_loss), free(want_gg), free(want_gl);
    free(gg), free(gl);
    ctr_objective_destroy(obj);
}

START_TEST(test_pytorch_goldens)
{
    golden_case("infonce", CTR_MI_INFONCE, CTR_SELFPAIR_DIM, 0, 5, 7, 9);
    golden_case("jsd", CTR_MI_JSD, 0, 0, 4, 6, 5);
    golden_case("dv", CTR_MI_DV, 0, 0, 4, 6, 5);
    golden_case("amdim", CTR_MI_INFONCE, CTR_SELFPAIR_EXCLUDE, 1, 6, 16, 7);
}
END_TEST

/* ---- bad inputs ----------------------------------------------------------------- */

enum { BB = 3, BP = 4, BD = 5 };

typedef struct bad_io {
    float g[BB * BD], l[BB * BP * BD], gg[BB * BD], gl[BB * BP * BD];
} bad_io;

static void bad_init(bad_io *x, ctr_local_global_args *a)
{
    int i;
    for (i = 0; i < BB * BD; i++)
        x->g[i] = (float)sin(i), x->gg[i] = 42.0f;
    for (i = 0; i < BB * BP * BD; i++)
        x->l[i] = (float)cos(i), x->gl[i] = 42.0f;
    ctr_local_global_args_init(a);
    a->b = BB, a->p = BP, a->d = BD, a->g = x->g, a->ldg = BD, a->l = x->l;
    a->l_batch_stride = BP * BD, a->l_pos_stride = BD, a->l_chan_stride = 1;
    a->grad_g = x->gg, a->grad_l = x->gl;
}

static void expect_fail(int rc, ctr_objective *obj,
                        const ctr_local_global_args *a, const bad_io *x)
{
    double loss = 99.0;
    int i;
    ck_assert_int_eq(ctr_objective_local_global(obj, &loss, a), rc);
    ck_assert_double_eq(loss, 99.0);
    for (i = 0; i < BB * BD; i++)
        ck_assert_float_eq(x->gg[i], 42.0f);
    for (i = 0; i < BB * BP * BD; i++)
        ck_assert_float_eq(x->gl[i], 42.0f);
    ck_assert_str_ne(ctr_objective_last_error(obj), "");
}

START_TEST(test_bad_inputs)
{
    static bad_io x;
    ctr_local_global_args a;
    ctr_objective *obj = make(), *other = NULL;
    double v;
#define BAD(rc, mutation) \
    do { bad_init(&x, &a); mutation; expect_fail(rc, obj, &a, &x); } while (0)
    BAD(CTR_E_INVALID_ARG, a.g = NULL);
    BAD(CTR_E_INVALID_ARG, a.l = NULL);
    BAD(CTR_E_INVALID_ARG, a.struct_size = 8);
    BAD(CTR_E_INVALID_ARG, a.struct_size = (uint32_t)sizeof(a) + 8);
    BAD(CTR_E_INVALID_ARG, a.b = 0);
    BAD(CTR_E_INVALID_ARG, a.p = 0);
    BAD(CTR_E_INVALID_ARG, a.d = -1);
    BAD(CTR_E_INVALID_ARG, a.ldg = BD - 1);
    BAD(CTR_E_INVALID_ARG, a.l_chan_stride = 0);
    BAD(CTR_E_INVALID_ARG, a.l_pos_stride = -BD);
    BAD(CTR_E_INVALID_ARG, a.l_pos_stride = 2); /* positions overlap */
    BAD(CTR_E_INVALID_ARG, a.l_batch_stride = BD); /* images overlap */
    BAD(CTR_E_INVALID_ARG, a.estimator = 0);
    BAD(CTR_E_INVALID_ARG, a.estimator = 4);
    BAD(CTR_E_INVALID_ARG, (a.estimator = CTR_MI_JSD, a.b = 1));
    BAD(CTR_E_INVALID_ARG, (a.estimator = CTR_MI_DV, a.b = 1));
    BAD(CTR_E_INVALID_ARG, a.self_mask = 2);
    BAD(CTR_E_INVALID_ARG, a.scale_sqrt_d = 2);
    BAD(CTR_E_INVALID_ARG, a.clip = -1);
    BAD(CTR_E_INVALID_ARG, a.clip = NAN);
    BAD(CTR_E_INVALID_ARG, a.penalty = 2e6);
    BAD(CTR_E_INVALID_ARG, a.penalty = NAN);
    BAD(CTR_E_OVERFLOW, (a.b = INT64_MAX / 2, a.p = 4));
    BAD(CTR_E_OVERFLOW, a.l_batch_stride = INT64_MAX / 2);
    BAD(CTR_E_NUMERIC, x.g[7] = NAN);
    BAD(CTR_E_NUMERIC, x.l[BB * BP * BD - 1] = INFINITY);
    BAD(CTR_E_NUMERIC, (a.l_chan_stride = BP, a.l_pos_stride = 1,
                        x.l[3] = NAN));
    BAD(CTR_E_NUMERIC, (x.g[0] = 1e30f, x.l[0] = 1e30f)); /* scores overflow */
#undef BAD
    bad_init(&x, &a);
    ck_assert_int_eq(ctr_objective_local_global(obj, NULL, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_local_global(NULL, NULL, &a), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_local_global_args_init(NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_LOSS, &v), CTR_E_STAGE);
    ck_assert_int_eq(ctr_objective_create(&other, CTR_OBJECTIVE_INFONCE, NULL), CTR_OK);
    expect_fail(CTR_E_INVALID_ARG, other, &a, &x);
    ctr_objective_destroy(other);
    /* gradients optional; the loss alone is the same */
    a.grad_g = NULL, a.grad_l = NULL;
    ck_assert_int_eq(ctr_objective_local_global(obj, &v, &a), CTR_OK);
    ck_assert_float_eq(x.gg[0], 42.0f);
    ctr_objective_destroy(obj);
}
END_TEST

/* ---- workspace, allocation, checkpoints ------------------------------------------- */

START_TEST(test_workspace_and_no_allocation)
{
    cfg c = {4, 6, 8, CTR_MI_INFONCE, 0, 1, 20, 0.05};
    ctr_allocator al;
    test_alloc_state st;
    ctr_objective *obj = NULL;
    size_t bytes;
    int64_t before, calls;
    run r;
    test_alloc_setup(&al, &st);
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_LOCAL_GLOBAL, &al), CTR_OK);
    ck_assert_int_eq(ctr_objective_workspace_size(obj, &bytes, c.b, c.d, c.p), CTR_OK);
    run_init(&r, &c, LAYOUT_FIRST, 1.0, 3);
    before = st.live_bytes;
    ck_assert_int_eq(run_call(obj, &r), CTR_OK);
    ck_assert_int_le(st.live_bytes - before, (int64_t)bytes);
    calls = st.calls;
    ck_assert_int_eq(run_call(obj, &r), CTR_OK);
    r.c.est = CTR_MI_DV;
    ck_assert_int_eq(run_call(obj, &r), CTR_OK);
    ck_assert_int_eq(st.calls, calls);
    ck_assert_int_eq(ctr_objective_workspace_size(obj, &bytes, INT64_MAX / 4, 8, 4),
                     CTR_E_OVERFLOW);
    run_free(&r);
    ctr_objective_destroy(obj);
    ck_assert_int_eq(st.live_blocks, 0);
}
END_TEST

static int oom_attempt(const ctr_allocator *a, void *ctx)
{
    run *r = (run *)ctx;
    ctr_objective *obj = NULL;
    int rc = ctr_objective_create(&obj, CTR_OBJECTIVE_LOCAL_GLOBAL, a);
    if (rc == CTR_OK)
        rc = run_call(obj, r);
    ctr_objective_destroy(obj);
    return rc;
}

START_TEST(test_every_allocation_fails)
{
    cfg c = {3, 4, 5, CTR_MI_JSD, 0, 1, 20, 0.05};
    run r;
    run_init(&r, &c, LAYOUT_FIRST, 1.0, 4);
    ck_assert_int_ge(test_every_alloc_failure(oom_attempt, &r), 2);
    run_free(&r);
}
END_TEST

START_TEST(test_checkpoint_round_trip)
{
    cfg c = {3, 4, 5, CTR_MI_INFONCE, 0, 0, 0, 0};
    unsigned char buf[4096];
    size_t size = 0;
    ctr_objective *obj = make(), *back = NULL;
    double first, v;
    run r;
    run_init(&r, &c, LAYOUT_LAST, 1.0, 5);
    ck_assert_int_eq(run_call(obj, &r), CTR_OK);
    first = r.loss;
    ck_assert_int_eq(ctr_objective_save_buffer(obj, buf, sizeof(buf), &size), CTR_OK);
    ck_assert_int_eq(ctr_objective_load_buffer(&back, buf, size, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_kind(back), CTR_OBJECTIVE_LOCAL_GLOBAL);
    ck_assert_int_eq(ctr_objective_stat(back, CTR_OBJECTIVE_S_LOSS, &v), CTR_OK);
    ck_assert_double_eq(v, first);
    ck_assert_int_eq(run_call(back, &r), CTR_OK);
    ck_assert(memcmp(&r.loss, &first, sizeof(first)) == 0);
    /* the kind reads no handle parameter */
    ck_assert_int_eq(ctr_objective_set_f64(back, CTR_OBJECTIVE_P_TEMPERATURE, 0.5), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_i64(back, CTR_OBJECTIVE_P_NORMALIZE, 1), CTR_OK);
    ck_assert_int_eq(run_call(back, &r), CTR_OK);
    ck_assert(memcmp(&r.loss, &first, sizeof(first)) == 0);
    run_free(&r);
    ctr_objective_destroy(obj);
    ctr_objective_destroy(back);
}
END_TEST

/* ---- training through a feature map: chained encoders ------------------------ */

/* A (conv, ReLU) then B (flatten, linear) on their own handles give the
 * forward output and every gradient of one encoder holding both, with the
 * same parameters: backward of B hands dL/d(map) to A (the chain of
 * docs/local-global.md), and the local term's gradient is added there. */
START_TEST(test_chained_encoders_equal_one)
{
    enum { N = 3, C = 2, S = 5, F = 4, O = 6 };
    const int64_t dims[3] = {C, S, S}, mdims[3] = {F, S, S};
    ctr_encoder *ab = NULL, *a = NULL, *b = NULL;
    float x[N * C * S * S], y1[N * O], y2[N * O], dy[N * O];
    float map[N * F * S * S], dmap[N * F * S * S], dloc[N * F * S * S];
    float pab[1024], pa[1024], pb[1024], gab[1024], ga[1024], gb[1024];
    float dx1[N * C * S * S], dx2[N * C * S * S];
    int64_t na, nb, nab, i;
    for (i = 0; i < N * C * S * S; i++)
        x[i] = (float)sin(0.3 * (double)i);
    for (i = 0; i < N * O; i++)
        dy[i] = (float)cos(0.7 * (double)i);
    for (i = 0; i < N * F * S * S; i++)
        dloc[i] = 0.01f * (float)sin(1.1 * (double)i);
    ck_assert_int_eq(ctr_encoder_create(&ab, dims, 3, 7, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_conv2d(ab, F, 3, 1, 1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(ab, CTR_LAYER_RELU), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_flatten(ab), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(ab, O, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_create(&a, dims, 3, 8, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_conv2d(a, F, 3, 1, 1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(a, CTR_LAYER_RELU), CTR_OK);
    ck_assert_int_eq(ctr_encoder_create(&b, mdims, 3, 9, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_flatten(b), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(b, O, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_num_params(ab, &nab), CTR_OK);
    ck_assert_int_eq(ctr_encoder_num_params(a, &na), CTR_OK);
    ck_assert_int_eq(ctr_encoder_num_params(b, &nb), CTR_OK);
    ck_assert_int_eq(nab, na + nb);
    ck_assert_int_le(nab, 1024);
    ck_assert_int_eq(ctr_encoder_get_params(ab, pab, nab), CTR_OK);
    memcpy(pa, pab, (size_t)na * sizeof(float));
    memcpy(pb, pab + na, (size_t)nb * sizeof(float));
    ck_assert_int_eq(ctr_encoder_set_params(a, pa, na), CTR_OK);
    ck_assert_int_eq(ctr_encoder_set_params(b, pb, nb), CTR_OK);
    /* one encoder: dL/d(map) = through the head + the local term */
    ck_assert_int_eq(ctr_encoder_forward(ab, y1, x, N, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_zero_grad(ab), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(ab, dx1, dy), CTR_OK);
    /* the chain, without the local term first */
    ck_assert_int_eq(ctr_encoder_forward(a, map, x, N, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(b, y2, map, N, CTR_ENCODER_TRAIN), CTR_OK);
    for (i = 0; i < N * O; i++)
        ck_assert_float_eq_tol(y2[i], y1[i], 1e-6f);
    ck_assert_int_eq(ctr_encoder_zero_grad(a), CTR_OK);
    ck_assert_int_eq(ctr_encoder_zero_grad(b), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(b, dmap, dy), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(a, dx2, dmap), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(ab, gab, nab), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(a, ga, na), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(b, gb, nb), CTR_OK);
    for (i = 0; i < na; i++)
        ck_assert_float_eq_tol(ga[i], gab[i], 1e-5f);
    for (i = 0; i < nb; i++)
        ck_assert_float_eq_tol(gb[i], gab[na + i], 1e-5f);
    for (i = 0; i < N * C * S * S; i++)
        ck_assert_float_eq_tol(dx2[i], dx1[i], 1e-5f);
    /* the local term enters at the map: A's gradient is linear in dmap */
    ck_assert_int_eq(ctr_encoder_zero_grad(a), CTR_OK);
    for (i = 0; i < N * F * S * S; i++)
        dmap[i] = dloc[i];
    ck_assert_int_eq(ctr_encoder_backward(a, dx2, dmap), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(b, dmap, dy), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(a, NULL, dmap), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(a, pa, na), CTR_OK);
    ck_assert_int_eq(ctr_encoder_zero_grad(a), CTR_OK);
    for (i = 0; i < N * F * S * S; i++)
        dmap[i] += dloc[i];
    ck_assert_int_eq(ctr_encoder_backward(a, NULL, dmap), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(a, ga, na), CTR_OK);
    for (i = 0; i < na; i++)
        ck_assert_float_eq_tol(ga[i], pa[i], 1e-5f);
    ctr_encoder_destroy(ab), ctr_encoder_destroy(a), ctr_encoder_destroy(b);
}
END_TEST

Suite *ctr_test_local_global_suite(void);
Suite *ctr_test_local_global_suite(void)
{
    Suite *s = suite_create("local_global");
    TCase *num = tcase_create("numerics"), *api = tcase_create("api");
    tcase_set_timeout(num, 120);
    tcase_add_test(num, test_estimators_match_reference);
    tcase_add_test(num, test_infonce_self_mask_and_b1);
    tcase_add_test(num, test_statistics);
    tcase_add_test(num, test_pytorch_goldens);
    tcase_add_test(num, test_chained_encoders_equal_one);
    tcase_add_test(api, test_bad_inputs);
    tcase_add_test(api, test_workspace_and_no_allocation);
    tcase_add_test(api, test_every_allocation_fails);
    tcase_add_test(api, test_checkpoint_round_trip);
    suite_add_tcase(s, num);
    suite_add_tcase(s, api);
    return s;
}
