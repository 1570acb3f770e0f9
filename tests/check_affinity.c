/*
 * check_affinity.c - the dense affinity (contrastive/affinity.h): loss,
 * transport and gradients against a float64 reference in this file
 * (checked itself by central finite differences), PyTorch goldens
 * (tests/gen_affinity.py), top-k propagation, parameters, bad inputs,
 * the workspace and every allocation failing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "golden_util.h"
#include "test_util.h"

/* ---- the float64 reference ------------------------------------------------------ */

typedef struct prob {
    int64_t b, c, h, w, cv, radius, topk;
    double tau;
    int32_t loss;
    double beta;
} prob;

static int64_t fsize(const prob *p) { return p->b * p->c * p->h * p->w; }
static int64_t vsize(const prob *p) { return p->b * p->cv * p->h * p->w; }

static int in_window(const prob *p, int64_t j, int64_t i)
{
    const int64_t dy = j / p->w - i / p->w, dx = j % p->w - i % p->w;
    return p->radius < 0 || (llabs(dy) <= p->radius && llabs(dx) <= p->radius);
}

/* Softmax weights of target j of item n over every reference position
 * (0 outside the window or the top-k) into a (h*w doubles). */
static void ref_weights(const prob *p, const double *fa, const double *fb, int64_t n,
                        int64_t j, double *a)
{
    const int64_t np = p->h * p->w;
    double m = -INFINITY, sum = 0.0;
    int64_t i, ch;
    for (i = 0; i < np; i++) {
        double s = 0.0;
        for (ch = 0; ch < p->c; ch++)
            s += fa[(n * p->c + ch) * np + i] * fb[(n * p->c + ch) * np + j];
        a[i] = in_window(p, j, i) ? s / p->tau : -INFINITY;
    }
    if (p->topk > 0) { /* keep the topk largest, lower index first on a tie */
        double *keep = calloc((size_t)np, sizeof(double));
        int64_t t, kept = 0;
        for (t = 0; t < p->topk && kept < np; t++) {
            int64_t best = -1;
            for (i = 0; i < np; i++)
                if (keep[i] == 0.0 && a[i] > -INFINITY && (best < 0 || a[i] > a[best]))
                    best = i;
            if (best >= 0)
                keep[best] = 1.0, kept++;
        }
        for (i = 0; i < np; i++)
            if (keep[i] == 0.0)
                a[i] = -INFINITY;
        free(keep);
    }
    for (i = 0; i < np; i++)
        m = fmax(m, a[i]);
    for (i = 0; i < np; i++)
        sum += a[i] > -INFINITY ? exp(a[i] - m) : 0.0;
    for (i = 0; i < np; i++)
        a[i] = a[i] > -INFINITY ? exp(a[i] - m) / sum : 0.0;
}

/* The transport into out (vsize doubles). */
static void ref_transport(const prob *p, const double *fa, const double *fb, const double *v,
                          double *out)
{
    const int64_t np = p->h * p->w;
    double *a = malloc((size_t)np * sizeof(double));
    int64_t n, j, i, ch;
    for (n = 0; n < p->b; n++)
        for (j = 0; j < np; j++) {
            ref_weights(p, fa, fb, n, j, a);
            for (ch = 0; ch < p->cv; ch++) {
                double s = 0.0;
                for (i = 0; i < np; i++)
                    s += a[i] * v[(n * p->cv + ch) * np + i];
                out[(n * p->cv + ch) * np + j] = s;
            }
        }
    free(a);
}

/* The scalar the library differentiates: the reconstruction loss against
 * target, or sum(gout * out) when gout is given. */
static double ref_scalar(const prob *p, const double *fa, const double *fb, const double *v,
                         const double *target, const double *gout)
{
    const int64_t nv = vsize(p);
    double *out = malloc((size_t)nv * sizeof(double)), sum = 0.0;
    int64_t i;
    ref_transport(p, fa, fb, v, out);
    for (i = 0; i < nv; i++) {
        const double d = out[i] - (gout != NULL ? 0.0 : target[i]);
        if (gout != NULL)
            sum += gout[i] * out[i];
        else if (p->loss == CTR_AFFINITY_LOSS_MSE)
            sum += d * d / (double)nv;
        else
            sum += (fabs(d) < p->beta ? 0.5 * d * d / p->beta : fabs(d) - 0.5 * p->beta) /
                   (double)nv;
    }
    free(out);
    return sum;
}

/* Central finite difference of ref_scalar in x[i]. */
static double ref_fd(const prob *p, double *fa, double *fb, double *v, const double *target,
                     const double *gout, double *x, int64_t i)
{
    const double keep = x[i], h = 1e-6 * fmax(1.0, fabs(keep));
    double up, down;
    x[i] = keep + h;
    up = ref_scalar(p, fa, fb, v, target, gout);
    x[i] = keep - h;
    down = ref_scalar(p, fa, fb, v, target, gout);
    x[i] = keep;
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

/* max |got - fd| over x's n entries relative to the largest |fd|. */
static double grad_error(const prob *p, double *fa, double *fb, double *v,
                         const double *target, const double *gout, double *x, int64_t n,
                         const float *got)
{
    double err = 0.0, scale = 0.0;
    int64_t i;
    for (i = 0; i < n; i++) {
        const double fd = ref_fd(p, fa, fb, v, target, gout, x, i);
        err = fmax(err, fabs(got[i] - fd));
        scale = fmax(scale, fabs(fd));
    }
    return scale > 0.0 ? err / scale : err; /* radius 0: gradients exactly 0 */
}

static ctr_affinity *make(const prob *p, const ctr_allocator *a)
{
    ctr_affinity *aff = NULL;
    ck_assert_int_eq(ctr_affinity_create(&aff, a), CTR_OK);
    ck_assert_int_eq(ctr_affinity_set_f64(aff, CTR_AFFINITY_P_TEMPERATURE, p->tau), CTR_OK);
    ck_assert_int_eq(ctr_affinity_set_i64(aff, CTR_AFFINITY_P_RADIUS, p->radius), CTR_OK);
    ck_assert_int_eq(ctr_affinity_set_i64(aff, CTR_AFFINITY_P_LOSS, p->loss), CTR_OK);
    ck_assert_int_eq(ctr_affinity_set_f64(aff, CTR_AFFINITY_P_HUBER_BETA, p->beta), CTR_OK);
    return aff;
}

static float *randn(ctr_rng *g, int64_t n, float scale)
{
    float *x = malloc((size_t)n * sizeof(float));
    ck_assert_int_eq(ctr_rng_normal(g, x, n, 0.0f, scale), CTR_OK);
    return x;
}

/* reconstruct, and transport + backward with a random grad_out, against
 * the reference and its finite differences. */
static void check_against_reference(const prob *p, unsigned seed, float fscale)
{
    const int64_t nf = fsize(p), nv = vsize(p);
    ctr_rng *g = NULL;
    float *fa, *fb, *v, *target, *gout, *out, *gfa, *gfb, *gv;
    double *dfa, *dfb, *dv, *dt, *dg, *dout, loss;
    ctr_affinity *aff = make(p, NULL);
    int64_t i;
    ck_assert_int_eq(ctr_rng_create(&g, seed, NULL), CTR_OK);
    fa = randn(g, nf, fscale), fb = randn(g, nf, fscale), v = randn(g, nv, 1.0f);
    target = randn(g, nv, 1.0f), gout = randn(g, nv, 1.0f);
    out = malloc((size_t)nv * sizeof(float));
    gfa = malloc((size_t)nf * sizeof(float)), gfb = malloc((size_t)nf * sizeof(float));
    gv = malloc((size_t)nv * sizeof(float));
    dfa = to_double(fa, nf), dfb = to_double(fb, nf), dv = to_double(v, nv);
    dt = to_double(target, nv), dg = to_double(gout, nv);
    dout = malloc((size_t)nv * sizeof(double));
    ref_transport(p, dfa, dfb, dv, dout);
    /* the reconstruction loss */
    ck_assert_int_eq(ctr_affinity_reconstruct(aff, &loss, out, fa, fb, v, target, p->b, p->c,
                                              p->h, p->w, p->cv, gfa, gfb, gv), CTR_OK);
    ck_assert_close(loss, ref_scalar(p, dfa, dfb, dv, dt, NULL), 1e-5, 0.0);
    for (i = 0; i < nv; i++)
        ck_assert_close(out[i], dout[i], 1e-5, 1e-6);
    ck_assert_double_le(grad_error(p, dfa, dfb, dv, dt, NULL, dfa, nf, gfa), 1e-5);
    ck_assert_double_le(grad_error(p, dfa, dfb, dv, dt, NULL, dfb, nf, gfb), 1e-5);
    ck_assert_double_le(grad_error(p, dfa, dfb, dv, dt, NULL, dv, nv, gv), 1e-5);
    /* transport, then backward from grad_out */
    memset(out, 0, (size_t)nv * sizeof(float));
    ck_assert_int_eq(ctr_affinity_transport(aff, out, fa, fb, v, p->b, p->c, p->h, p->w,
                                            p->cv), CTR_OK);
    for (i = 0; i < nv; i++)
        ck_assert_close(out[i], dout[i], 1e-5, 1e-6);
    ck_assert_int_eq(ctr_affinity_backward(aff, gfa, gfb, gv, gout, fa, fb, v, p->b, p->c,
                                           p->h, p->w, p->cv), CTR_OK);
    ck_assert_double_le(grad_error(p, dfa, dfb, dv, NULL, dg, dfa, nf, gfa), 1e-5);
    ck_assert_double_le(grad_error(p, dfa, dfb, dv, NULL, dg, dfb, nf, gfb), 1e-5);
    ck_assert_double_le(grad_error(p, dfa, dfb, dv, NULL, dg, dv, nv, gv), 1e-5);
    free(fa), free(fb), free(v), free(target), free(gout), free(out);
    free(gfa), free(gfb), free(gv), free(dfa), free(dfb), free(dv), free(dt), free(dg);
    free(dout);
    ctr_rng_destroy(g);
    ctr_affinity_destroy(aff);
}

START_TEST(test_reference_and_finite_differences)
{
    /* b, c, h, w, cv, radius, topk, tau, loss, beta */
    const prob full = {2, 3, 5, 7, 2, -1, 0, 1.0, CTR_AFFINITY_LOSS_MSE, 1.0};
    const prob win1 = {2, 4, 7, 5, 3, 1, 0, 0.7, CTR_AFFINITY_LOSS_HUBER, 0.5};
    const prob win2 = {1, 3, 9, 11, 2, 2, 0, 1.0, CTR_AFFINITY_LOSS_MSE, 1.0};
    const prob wide = {2, 2, 3, 5, 2, 10, 0, 1.0, CTR_AFFINITY_LOSS_HUBER, 1.0};
    const prob sharp = {1, 3, 5, 5, 2, 1, 0, 0.05, CTR_AFFINITY_LOSS_MSE, 1.0};
    const prob tall = {1, 2, 70, 1, 1, 3, 0, 1.0, CTR_AFFINITY_LOSS_MSE, 1.0};
    const prob r0 = {1, 2, 3, 4, 2, 0, 0, 1.0, CTR_AFFINITY_LOSS_MSE, 1.0};
    check_against_reference(&full, 1, 1.0f);
    check_against_reference(&win1, 2, 1.0f);
    check_against_reference(&win2, 3, 1.0f);
    check_against_reference(&wide, 4, 1.0f);
    check_against_reference(&sharp, 5, 0.5f);
    check_against_reference(&tall, 6, 1.0f);
    check_against_reference(&r0, 7, 1.0f);
}
END_TEST

/* ---- PyTorch goldens ---------------------------------------------------------- */

static void golden_case(const char *c, const prob *p)
{
    long nf, nv, n;
    float *fa, *fb, *v, *target, *want_out, *want_loss, *want_gfa, *want_gfb, *want_gv;
    float *out, *gfa, *gfb, *gv;
    double loss;
    ctr_affinity *aff = make(p, NULL);
    long i;
#define READ(var, field, cnt) \
    (var = golden_read_field("affinity_golden.txt", c, field, cnt))
    READ(fa, "fa", &nf);
    READ(fb, "fb", &n);
    READ(v, "v", &nv);
    READ(target, "target", &n);
    READ(want_out, "out", &n);
    READ(want_loss, "loss", &n);
    READ(want_gfa, "grad_fa", &n);
    READ(want_gfb, "grad_fb", &n);
    READ(want_gv, "grad_v", &n);
#undef READ
    ck_assert_int_eq(nf, fsize(p));
    ck_assert_int_eq(nv, vsize(p));
    out = calloc((size_t)nv, sizeof(float)), gv = calloc((size_t)nv, sizeof(float));
    gfa = calloc((size_t)nf, sizeof(float)), gfb = calloc((size_t)nf, sizeof(float));
    ck_assert_int_eq(ctr_affinity_reconstruct(aff, &loss, out, fa, fb, v, target, p->b, p->c,
                                              p->h, p->w, p->cv, gfa, gfb, gv), CTR_OK);
    ck_assert_close(loss, want_loss[0], 1e-5, 1e-7);
    for (i = 0; i < nv; i++) {
        ck_assert_close(out[i], want_out[i], 1e-5, 1e-6);
        ck_assert_close(gv[i], want_gv[i], 1e-5, 1e-7);
    }
    for (i = 0; i < nf; i++) {
        ck_assert_close(gfa[i], want_gfa[i], 1e-5, 1e-7);
        ck_assert_close(gfb[i], want_gfb[i], 1e-5, 1e-7);
    }
    free(fa), free(fb), free(v), free(target), free(want_out), free(want_loss);
    free(want_gfa), free(want_gfb), free(want_gv), free(out), free(gfa), free(gfb), free(gv);
    ctr_affinity_destroy(aff);
}

START_TEST(test_pytorch_golden)
{
    const prob full = {2, 4, 5, 3, 3, -1, 0, 1.0, CTR_AFFINITY_LOSS_MSE, 1.0};
    const prob window = {2, 5, 7, 6, 2, 2, 0, 0.5, CTR_AFFINITY_LOSS_HUBER, 0.7};
    golden_case("full", &full);
    golden_case("window", &window);
}
END_TEST

/* ---- propagation ---------------------------------------------------------------- */

static void check_propagate(const prob *p, const float *fa, const float *fb, const float *v)
{
    const int64_t nf = fsize(p), nv = vsize(p);
    float *out = malloc((size_t)nv * sizeof(float));
    double *dfa = to_double(fa, nf), *dfb = to_double(fb, nf), *dv = to_double(v, nv);
    double *dout = malloc((size_t)nv * sizeof(double));
    ctr_affinity *aff = make(p, NULL);
    int64_t i;
    ck_assert_int_eq(ctr_affinity_propagate(aff, out, fa, fb, v, p->b, p->c, p->h, p->w, p->cv,
                                            p->topk), CTR_OK);
    ref_transport(p, dfa, dfb, dv, dout);
    for (i = 0; i < nv; i++)
        ck_assert_close(out[i], dout[i], 1e-5, 1e-6);
    free(out), free(dfa), free(dfb), free(dv), free(dout);
    ctr_affinity_destroy(aff);
}

START_TEST(test_propagate_topk)
{
    prob p = {2, 3, 6, 5, 4, 2, 3, 0.5, CTR_AFFINITY_LOSS_MSE, 1.0};
    const int64_t nf = fsize(&p), nv = vsize(&p);
    ctr_rng *g = NULL;
    float *fa, *fb, *v, *ones;
    int64_t i;
    ck_assert_int_eq(ctr_rng_create(&g, 11, NULL), CTR_OK);
    fa = randn(g, nf, 1.0f), fb = randn(g, nf, 1.0f), v = randn(g, nv, 1.0f);
    check_propagate(&p, fa, fb, v);
    p.topk = 1;
    check_propagate(&p, fa, fb, v);
    p.topk = 1000; /* more than the window: all */
    check_propagate(&p, fa, fb, v);
    p.radius = -1, p.topk = 7;
    check_propagate(&p, fa, fb, v);
    /* ties: equal features, the lower positions win */
    ones = malloc((size_t)nf * sizeof(float));
    for (i = 0; i < nf; i++)
        ones[i] = 1.0f;
    p.radius = 1, p.topk = 2;
    check_propagate(&p, ones, ones, v);
    p.topk = 0;
    check_propagate(&p, ones, ones, v);
    free(fa), free(fb), free(v), free(ones);
    ctr_rng_destroy(g);
}
END_TEST

/* One-hot labels through a perfect match (fb = fa, sharp) come back. */
START_TEST(test_propagate_identity)
{
    enum { H = 6, W = 7, N = H * W, C = N };
    static float f[C * N], lab[2 * N], out[2 * N];
    ctr_affinity *aff = NULL;
    int64_t i;
    for (i = 0; i < N; i++) {
        f[i * N + i] = 1.0f; /* position i has the one-hot feature e_i */
        lab[(i % 3 == 0) * N + i] = 1.0f;
    }
    ck_assert_int_eq(ctr_affinity_create(&aff, NULL), CTR_OK);
    ck_assert_int_eq(ctr_affinity_set_f64(aff, CTR_AFFINITY_P_TEMPERATURE, 0.01), CTR_OK);
    ck_assert_int_eq(ctr_affinity_set_i64(aff, CTR_AFFINITY_P_RADIUS, 2), CTR_OK);
    ck_assert_int_eq(ctr_affinity_propagate(aff, out, f, f, lab, 1, C, H, W, 2, 1), CTR_OK);
    for (i = 0; i < 2 * N; i++)
        ck_assert_float_eq(out[i], lab[i]);
    ck_assert_int_eq(ctr_affinity_propagate(aff, out, f, f, lab, 1, C, H, W, 2, 0), CTR_OK);
    for (i = 0; i < 2 * N; i++)
        ck_assert_close(out[i], lab[i], 0.0, 1e-6);
    ctr_affinity_destroy(aff);
}
END_TEST

/* ---- parameters and arguments ------------------------------------------------------ */

START_TEST(test_parameters)
{
    ctr_affinity *aff = NULL;
    double v, lo, hi;
    int64_t i;
    ck_assert_int_eq(ctr_affinity_create(&aff, NULL), CTR_OK);
    ck_assert_int_eq(ctr_affinity_get_f64(aff, CTR_AFFINITY_P_TEMPERATURE, &v), CTR_OK);
    ck_assert_double_eq(v, 1.0);
    ck_assert_int_eq(ctr_affinity_get_i64(aff, CTR_AFFINITY_P_RADIUS, &i), CTR_OK);
    ck_assert_int_eq(i, -1);
    ck_assert_int_eq(ctr_affinity_get_i64(aff, CTR_AFFINITY_P_LOSS, &i), CTR_OK);
    ck_assert_int_eq(i, CTR_AFFINITY_LOSS_MSE);
    ck_assert_int_eq(ctr_affinity_get_f64(aff, CTR_AFFINITY_P_HUBER_BETA, &v), CTR_OK);
    ck_assert_double_eq(v, 1.0);
    ck_assert_int_eq(ctr_affinity_get_i64(aff, CTR_AFFINITY_P_WORKSPACE_BYTES, &i), CTR_OK);
    ck_assert_int_eq(i, 0);
    ck_assert_int_eq(ctr_affinity_param_bounds(CTR_AFFINITY_P_RADIUS, &lo, &hi), CTR_OK);
    ck_assert_double_eq(lo, -1.0);
    ck_assert_int_eq(ctr_affinity_set_i64(aff, CTR_AFFINITY_P_RADIUS, -2), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_set_i64(aff, CTR_AFFINITY_P_LOSS, 3), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_set_f64(aff, CTR_AFFINITY_P_TEMPERATURE, 0.0),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_set_f64(aff, CTR_AFFINITY_P_TEMPERATURE, NAN), CTR_E_NUMERIC);
    ck_assert_int_eq(ctr_affinity_set_f64(aff, CTR_AFFINITY_P_RADIUS, 1.5), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_set_i64(aff, CTR_AFFINITY_P_WORKSPACE_BYTES, 1),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_set_i64(aff, 449, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_get_i64(aff, CTR_AFFINITY_P_TEMPERATURE, &i),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_param_bounds(CTR_AFFINITY_P_WORKSPACE_BYTES, &lo, &hi),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_set_f64(aff, CTR_AFFINITY_P_RADIUS, 4.0), CTR_OK);
    ck_assert_int_eq(ctr_affinity_get_f64(aff, CTR_AFFINITY_P_RADIUS, &v), CTR_OK);
    ck_assert_double_eq(v, 4.0);
    ck_assert_int_eq(ctr_affinity_set_i64(NULL, CTR_AFFINITY_P_RADIUS, 1), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_get_f64(NULL, CTR_AFFINITY_P_RADIUS, &v), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_create(NULL, NULL), CTR_E_INVALID_ARG);
    ctr_affinity_destroy(NULL);
    ck_assert_str_ne(ctr_affinity_last_error(NULL), "");
    ctr_affinity_destroy(aff);
}
END_TEST

enum { B = 2, C = 3, H = 4, W = 5, CV = 2, NF = B * C * H * W, NV = B * CV * H * W };

typedef struct io {
    float fa[NF], fb[NF], v[NV], t[NV], go[NV], out[NV], gfa[NF], gfb[NF], gv[NV];
} io;

static void io_init(io *x)
{
    int64_t i;
    for (i = 0; i < NF; i++)
        x->fa[i] = sinf((float)i), x->fb[i] = cosf((float)i * 0.7f);
    for (i = 0; i < NV; i++)
        x->v[i] = (float)(i % 5) * 0.2f, x->t[i] = 0.5f, x->go[i] = 0.1f;
    for (i = 0; i < NV; i++)
        x->out[i] = x->gv[i] = 7.0f;
    for (i = 0; i < NF; i++)
        x->gfa[i] = x->gfb[i] = 7.0f;
}

/* Nothing written: every output still holds 7. */
static void assert_untouched(const io *x, double loss)
{
    int64_t i;
    ck_assert_double_eq(loss, 7.0);
    for (i = 0; i < NV; i++)
        ck_assert(x->out[i] == 7.0f && x->gv[i] == 7.0f);
    for (i = 0; i < NF; i++)
        ck_assert(x->gfa[i] == 7.0f && x->gfb[i] == 7.0f);
}

static int recon(ctr_affinity *aff, io *x, double *loss, int64_t b, int64_t c, int64_t h,
                 int64_t w, int64_t cv)
{
    return ctr_affinity_reconstruct(aff, loss, x->out, x->fa, x->fb, x->v, x->t, b, c, h, w, cv,
                                    x->gfa, x->gfb, x->gv);
}

START_TEST(test_bad_arguments)
{
    static io x;
    ctr_affinity *aff = NULL;
    double loss = 7.0;
    size_t bytes;
    io_init(&x);
    ck_assert_int_eq(ctr_affinity_create(&aff, NULL), CTR_OK);
    ck_assert_int_eq(ctr_affinity_set_i64(aff, CTR_AFFINITY_P_RADIUS, 1), CTR_OK);
    ck_assert_int_eq(ctr_affinity_reconstruct(NULL, &loss, x.out, x.fa, x.fb, x.v, x.t, B, C, H,
                                              W, CV, x.gfa, x.gfb, x.gv), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_reconstruct(aff, NULL, x.out, x.fa, x.fb, x.v, x.t, B, C, H,
                                              W, CV, x.gfa, x.gfb, x.gv), CTR_E_INVALID_ARG);
    ck_assert_str_ne(ctr_affinity_last_error(aff), "");
    ck_assert_int_eq(ctr_affinity_reconstruct(aff, &loss, x.out, NULL, x.fb, x.v, x.t, B, C, H,
                                              W, CV, x.gfa, x.gfb, x.gv), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_reconstruct(aff, &loss, x.out, x.fa, NULL, x.v, x.t, B, C, H,
                                              W, CV, x.gfa, x.gfb, x.gv), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_reconstruct(aff, &loss, x.out, x.fa, x.fb, NULL, x.t, B, C, H,
                                              W, CV, x.gfa, x.gfb, x.gv), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_reconstruct(aff, &loss, x.out, x.fa, x.fb, x.v, NULL, B, C, H,
                                              W, CV, x.gfa, x.gfb, x.gv), CTR_E_INVALID_ARG);
    ck_assert_int_eq(recon(aff, &x, &loss, 0, C, H, W, CV), CTR_E_INVALID_ARG);
    ck_assert_int_eq(recon(aff, &x, &loss, B, 0, H, W, CV), CTR_E_INVALID_ARG);
    ck_assert_int_eq(recon(aff, &x, &loss, B, C, -1, W, CV), CTR_E_INVALID_ARG);
    ck_assert_int_eq(recon(aff, &x, &loss, B, C, H, 0, CV), CTR_E_INVALID_ARG);
    ck_assert_int_eq(recon(aff, &x, &loss, B, C, H, W, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(recon(aff, &x, &loss, B, 1 << 20, 1 << 11, 1, CV), CTR_E_INVALID_ARG);
    ck_assert_int_eq(recon(aff, &x, &loss, INT64_MAX, C, H, W, CV), CTR_E_OVERFLOW);
    ck_assert_int_eq(ctr_affinity_transport(aff, NULL, x.fa, x.fb, x.v, B, C, H, W, CV),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_backward(aff, x.gfa, x.gfb, x.gv, NULL, x.fa, x.fb, x.v, B, C,
                                           H, W, CV), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_propagate(aff, x.out, x.fa, x.fb, x.v, B, C, H, W, CV, -1),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_workspace_size(aff, B, C, H, W, CV, -1, &bytes),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_workspace_size(aff, B, C, H, W, CV, 0, NULL),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_affinity_workspace_size(NULL, B, C, H, W, CV, 0, &bytes),
                     CTR_E_INVALID_ARG);
    assert_untouched(&x, loss);
    ctr_affinity_destroy(aff);
}
END_TEST

START_TEST(test_non_finite_inputs)
{
    static io x;
    ctr_affinity *aff = NULL;
    double loss = 7.0;
    float *targets[5];
    const float bad[3] = {NAN, INFINITY, 2e15f};
    int i, k;
    io_init(&x);
    targets[0] = x.fa, targets[1] = x.fb, targets[2] = x.v, targets[3] = x.t, targets[4] = x.go;
    ck_assert_int_eq(ctr_affinity_create(&aff, NULL), CTR_OK);
    for (i = 0; i < 5; i++)
        for (k = 0; k < 3; k++) {
            const float keep = targets[i][3];
            int rc;
            if (k == 2 && i < 2)
                continue; /* large features: the logit bound below */
            targets[i][3] = bad[k];
            rc = i == 4 ? ctr_affinity_backward(aff, x.gfa, x.gfb, x.gv, x.go, x.fa, x.fb, x.v,
                                                B, C, H, W, CV)
                        : recon(aff, &x, &loss, B, C, H, W, CV);
            ck_assert_int_eq(rc, CTR_E_NUMERIC);
            ck_assert_str_ne(ctr_affinity_last_error(aff), "");
            targets[i][3] = keep;
        }
    x.fa[0] = 1e15f, x.fb[0] = 1e15f; /* 3 * 1e30 / tau: logits could overflow */
    ck_assert_int_eq(recon(aff, &x, &loss, B, C, H, W, CV), CTR_E_NUMERIC);
    assert_untouched(&x, loss);
    ctr_affinity_destroy(aff);
}
END_TEST

/* NULL gradients are skipped, the others equal those of a full call. */
START_TEST(test_partial_outputs)
{
    static io x, y;
    ctr_affinity *aff = NULL;
    double l1, l2;
    int64_t i;
    io_init(&x);
    io_init(&y);
    ck_assert_int_eq(ctr_affinity_create(&aff, NULL), CTR_OK);
    ck_assert_int_eq(ctr_affinity_set_i64(aff, CTR_AFFINITY_P_RADIUS, 1), CTR_OK);
    ck_assert_int_eq(recon(aff, &x, &l1, B, C, H, W, CV), CTR_OK);
    ck_assert_int_eq(ctr_affinity_reconstruct(aff, &l2, NULL, y.fa, y.fb, y.v, y.t, B, C, H, W,
                                              CV, NULL, y.gfb, NULL), CTR_OK);
    ck_assert(memcmp(&l1, &l2, sizeof(l1)) == 0);
    for (i = 0; i < NF; i++)
        ck_assert(y.gfb[i] == x.gfb[i] && y.gfa[i] == 7.0f);
    ck_assert_int_eq(ctr_affinity_reconstruct(aff, &l2, NULL, y.fa, y.fb, y.v, y.t, B, C, H, W,
                                              CV, NULL, NULL, y.gv), CTR_OK);
    for (i = 0; i < NV; i++)
        ck_assert(y.gv[i] == x.gv[i] && y.out[i] == 7.0f);
    ctr_affinity_destroy(aff);
}
END_TEST

/* ---- memory ---------------------------------------------------------------- */

START_TEST(test_workspace_and_no_hot_allocation)
{
    static io x;
    test_alloc_state st;
    ctr_allocator a;
    ctr_affinity *aff = NULL;
    size_t bytes, bytes2;
    int64_t held, calls;
    double loss;
    io_init(&x);
    test_alloc_setup(&a, &st);
    ck_assert_int_eq(ctr_affinity_create(&aff, &a), CTR_OK);
    ck_assert_int_eq(ctr_affinity_set_i64(aff, CTR_AFFINITY_P_RADIUS, 1), CTR_OK);
    ck_assert_int_eq(ctr_affinity_workspace_size(aff, B, C, H, W, CV, 0, &bytes), CTR_OK);
    ck_assert_int_eq(recon(aff, &x, &loss, B, C, H, W, CV), CTR_OK);
    ck_assert_int_eq(ctr_affinity_get_i64(aff, CTR_AFFINITY_P_WORKSPACE_BYTES, &held), CTR_OK);
    ck_assert_int_eq((int64_t)bytes, held);
    calls = st.calls;
    ck_assert_int_eq(recon(aff, &x, &loss, B, C, H, W, CV), CTR_OK);
    ck_assert_int_eq(ctr_affinity_backward(aff, x.gfa, x.gfb, x.gv, x.go, x.fa, x.fb, x.v, B, C,
                                           H, W, CV), CTR_OK);
    ck_assert_int_eq(ctr_affinity_transport(aff, x.out, x.fa, x.fb, x.v, B, C, H, W, CV),
                     CTR_OK);
    ck_assert_int_eq(st.calls, calls);
    ck_assert_int_eq(ctr_affinity_workspace_size(aff, B, C, H, W, CV, 4, &bytes2), CTR_OK);
    ck_assert_uint_eq(bytes2, bytes + 4 * sizeof(float));
    ctr_affinity_destroy(aff);
    ck_assert_int_eq(st.live_blocks, 0);
}
END_TEST

static int oom_attempt(const ctr_allocator *a, void *p)
{
    io *x = (io *)p;
    ctr_affinity *aff = NULL;
    double loss;
    int rc = ctr_affinity_create(&aff, a);
    if (rc == CTR_OK)
        rc = ctr_affinity_set_i64(aff, CTR_AFFINITY_P_RADIUS, 2);
    if (rc == CTR_OK)
        rc = recon(aff, x, &loss, B, C, H, W, CV);
    if (rc == CTR_OK)
        rc = ctr_affinity_propagate(aff, x->out, x->fa, x->fb, x->v, B, C, H, W, CV, 3);
    ctr_affinity_destroy(aff);
    return rc;
}

START_TEST(test_out_of_memory)
{
    static io x;
    io_init(&x);
    ck_assert_int_ge(test_every_alloc_failure(oom_attempt, &x), 3);
}
END_TEST

Suite *ctr_test_affinity_suite(void);

Suite *ctr_test_affinity_suite(void)
{
    Suite *s = suite_create("affinity");
    TCase *num = tcase_create("numerics");
    TCase *args = tcase_create("arguments");
    TCase *mem = tcase_create("memory");
    tcase_set_timeout(num, 120);
    tcase_add_test(num, test_reference_and_finite_differences);
    tcase_add_test(num, test_pytorch_golden);
    tcase_add_test(num, test_propagate_topk);
    tcase_add_test(num, test_propagate_identity);
    tcase_add_test(args, test_parameters);
    tcase_add_test(args, test_bad_arguments);
    tcase_add_test(args, test_non_finite_inputs);
    tcase_add_test(args, test_partial_outputs);
    tcase_add_test(mem, test_workspace_and_no_hot_allocation);
    tcase_add_test(mem, test_out_of_memory);
    suite_add_tcase(s, num);
    suite_add_tcase(s, args);
    suite_add_tcase(s, mem);
    return s;
}
