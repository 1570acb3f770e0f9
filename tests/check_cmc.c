/*
 * check_cmc.c - Contrastive Multiview Coding (Tian et al.) composed from
 * the public calls, as docs/cmc.md writes it: view 1's embeddings against
 * bank 2 and view 2's against bank 1 (ctr_objective_nce with self_idx and
 * one shared set of noise indices, each direction its own objective and Z;
 * or ctr_objective_bank_softmax), the losses summed, both banks
 * momentum-updated after the step.
 *
 *   - the summed loss and both gradients of several consecutive steps
 *     (Z fixed and EMA; banks updated in between) within 1e-5 relative of
 *     a naive float64 reference with banks of its own, odd shapes and
 *     batch 1 included; the softmax variant the same way;
 *   - the gradients against central finite differences of that
 *     reference (Z held, as the paper's gradient holds it);
 *   - exact resume of the whole two-bank run through one ctr_state (two
 *     encoders, two optimizers, two banks, two objectives with their Z,
 *     the host's generator): save, continue N steps; load into objects
 *     built from other seeds, N steps; every loss and the final state
 *     bit-identical.
 */
#include <stdlib.h>
#include <string.h>

#include "golden_util.h"
#include "test_util.h"

#define SOFTMAX (-1) /* in place of a CTR_NCE_Z_* mode: bank_softmax */

/* ---- the composition under test (docs/cmc.md) ------------------------- */

/* Two banks (index 0 holds view 1's memories, 1 view 2's) and the
 * objective of each direction: obj[0] scores view 1 against bank 2,
 * obj[1] view 2 against bank 1. */
typedef struct cmc {
    ctr_bank *bank[2];
    ctr_objective *obj[2];
} cmc;

static void cmc_destroy(cmc *c)
{
    int v;
    for (v = 0; v < 2; v++) {
        ctr_bank_destroy(c->bank[v]);
        ctr_objective_destroy(c->obj[v]);
    }
    memset(c, 0, sizeof(*c));
}

/* mode: CTR_NCE_Z_FIXED, CTR_NCE_Z_EMA or SOFTMAX. */
static void cmc_create(cmc *c, int64_t n, int64_t d, int mode, double tau,
                       uint64_t seed)
{
    int v;
    memset(c, 0, sizeof(*c));
    for (v = 0; v < 2; v++) {
        ck_assert_int_eq(ctr_bank_create(&c->bank[v], n, d, seed + (uint64_t)v, NULL), CTR_OK);
        ck_assert_int_eq(ctr_objective_create(&c->obj[v], mode == SOFTMAX
                                                  ? CTR_OBJECTIVE_BANK_SOFTMAX
                                                  : CTR_OBJECTIVE_NCE, NULL), CTR_OK);
        ck_assert_int_eq(ctr_objective_set_f64(c->obj[v], CTR_OBJECTIVE_P_TEMPERATURE, tau), CTR_OK);
        if (mode != SOFTMAX) {
            ck_assert_int_eq(ctr_objective_set_i64(c->obj[v], CTR_OBJECTIVE_P_NCE_Z_MODE, mode), CTR_OK);
            ck_assert_int_eq(ctr_objective_set_f64(c->obj[v], CTR_OBJECTIVE_P_NCE_MOMENTUM, 0.9), CTR_OK);
        }
    }
}

/* The cross-view loss of one batch: z[v] (b x d, unit rows) of view v
 * against the other view's bank; noise (b x kn) shared by both
 * directions (unused by the softmax). g[v] receives d loss / d z[v]. */
static int cmc_loss(cmc *c, float *const z[2], int64_t b, int64_t d,
                    const int64_t *idx, const int64_t *noise, int64_t kn,
                    double *loss, float *const g[2])
{
    double part[2];
    int v, rc = CTR_OK;
    for (v = 0; v < 2 && rc == CTR_OK; v++) {
        const float *rows;
        int64_t n, ld;
        rc = ctr_bank_rows(c->bank[1 - v], &rows, &n, &ld);
        if (rc != CTR_OK)
            break;
        if (ctr_objective_kind(c->obj[v]) == CTR_OBJECTIVE_NCE)
            rc = ctr_objective_nce(c->obj[v], &part[v], z[v], d, b, d, rows, ld,
                                   n, idx, noise, kn, g[v]);
        else
            rc = ctr_objective_bank_softmax(c->obj[v], &part[v], z[v], d, b, d,
                                            rows, ld, n, idx, g[v]);
    }
    if (rc == CTR_OK)
        *loss = part[0] + part[1];
    return rc;
}

/* After the step: each bank takes its own view's embeddings. */
static int cmc_update(cmc *c, float *const z[2], int64_t b, int64_t d,
                      const int64_t *idx)
{
    int rc = ctr_bank_update(c->bank[0], idx, b, z[0], d);
    return rc == CTR_OK ? ctr_bank_update(c->bank[1], idx, b, z[1], d) : rc;
}

/* ---- the float64 reference ----------------------------------------- */

#define SHAPE_MAX_BD (32 * 128) /* the largest b x d of the shapes below */

typedef struct ref {
    double *bank[2]; /* n x d each */
    double z_state[2];
    int has_z[2];
    int64_t n, d;
    int mode;
    double *mag[2]; /* per gradient entry: sum of |terms| (may be NULL) */
    double tau, z_momentum, bank_momentum;
} ref;

/* The reference starts from the library banks' initial rows. */
static void ref_create(ref *r, const cmc *c, int64_t n, int64_t d, int mode,
                       double tau)
{
    int v;
    int64_t i;
    memset(r, 0, sizeof(*r));
    r->n = n, r->d = d, r->mode = mode, r->tau = tau;
    r->z_momentum = 0.9, r->bank_momentum = 0.5;
    for (v = 0; v < 2; v++) {
        const float *rows;
        r->bank[v] = (double *)malloc((size_t)(n * d) * sizeof(double));
        ck_assert_ptr_nonnull(r->bank[v]);
        r->mag[v] = (double *)calloc((size_t)(SHAPE_MAX_BD), sizeof(double));
        ck_assert_ptr_nonnull(r->mag[v]);
        ck_assert_int_eq(ctr_bank_rows(c->bank[v], &rows, NULL, NULL), CTR_OK);
        for (i = 0; i < n * d; i++)
            r->bank[v][i] = rows[i];
    }
}

static void ref_destroy(ref *r)
{
    free(r->bank[0]), free(r->bank[1]);
    free(r->mag[0]), free(r->mag[1]);
}

static double dot_dd(const double *a, const double *b, int64_t d)
{
    double s = 0;
    int64_t j;
    for (j = 0; j < d; j++)
        s += a[j] * b[j];
    return s;
}

/* Wu et al.'s NCE of one direction, written out: logits s = z . v / tau,
 * x = exp(s) / Z, h = x / (x + kn/n), loss = mean_i [-log h(pos) -
 * sum log(1 - h(noise))]. Z: *z_state as the mode says (and set);
 * hold_z 1 uses *z_state as it is (for finite differences). z in double. */
static double ref_nce(const ref *r, const double *z, int64_t b,
                      const double *bank, const int64_t *idx,
                      const int64_t *noise, int64_t kn, double *z_state,
                      int *has_z, int hold_z, double *grad, double *mag)
{
    const int64_t d = r->d, w = kn + 1;
    const double c = (double)kn / (double)r->n;
    double *s = (double *)malloc((size_t)(b * w) * sizeof(double));
    double zb = 0, zz, loss = 0;
    int64_t i, k, j;
    ck_assert_ptr_nonnull(s);
    for (i = 0; i < b; i++)
        for (k = 0; k < w; k++) {
            const int64_t row = k == 0 ? idx[i] : noise[i * kn + k - 1];
            s[i * w + k] = dot_dd(z + i * d, bank + row * d, d) / r->tau;
            zb += exp(s[i * w + k]);
        }
    zb = zb / (double)(b * w) * (double)r->n;
    if (!hold_z) {
        if (r->mode == CTR_NCE_Z_FIXED && !*has_z)
            *z_state = zb;
        else if (r->mode == CTR_NCE_Z_EMA)
            *z_state = *has_z ? r->z_momentum * *z_state + (1 - r->z_momentum) * zb : zb;
        *has_z = 1;
    }
    zz = *z_state;
    if (grad != NULL)
        memset(grad, 0, (size_t)(b * d) * sizeof(double));
    if (mag != NULL)
        memset(mag, 0, (size_t)(b * d) * sizeof(double));
    for (i = 0; i < b; i++)
        for (k = 0; k < w; k++) {
            const int64_t row = k == 0 ? idx[i] : noise[i * kn + k - 1];
            const double x = exp(s[i * w + k]) / zz, h = x / (x + c);
            const double coef = k == 0 ? -(1 - h) : h;
            loss += k == 0 ? -log(h) : -log(1 - h);
            for (j = 0; grad != NULL && j < d; j++)
                grad[i * d + j] += coef * bank[row * d + j] / ((double)b * r->tau);
            for (j = 0; mag != NULL && j < d; j++)
                mag[i * d + j] += fabs(coef * bank[row * d + j]) / ((double)b * r->tau);
        }
    free(s);
    return loss / (double)b;
}

/* The non-parametric softmax over all n rows, written out. */
static double ref_softmax(const ref *r, const double *z, int64_t b,
                          const double *bank, const int64_t *idx, double *grad,
                          double *mag)
{
    const int64_t n = r->n, d = r->d;
    double *s = (double *)malloc((size_t)n * sizeof(double)), loss = 0;
    int64_t i, k, j;
    ck_assert_ptr_nonnull(s);
    if (grad != NULL)
        memset(grad, 0, (size_t)(b * d) * sizeof(double));
    if (mag != NULL)
        memset(mag, 0, (size_t)(b * d) * sizeof(double));
    for (i = 0; i < b; i++) {
        double m = -INFINITY, sum = 0;
        for (k = 0; k < n; k++) {
            s[k] = dot_dd(z + i * d, bank + k * d, d) / r->tau;
            m = s[k] > m ? s[k] : m;
        }
        for (k = 0; k < n; k++)
            sum += exp(s[k] - m);
        loss += m + log(sum) - s[idx[i]];
        for (k = 0; grad != NULL && k < n; k++) {
            const double coef = exp(s[k] - m) / sum - (k == idx[i]);
            for (j = 0; j < d; j++)
                grad[i * d + j] += coef * bank[k * d + j] / ((double)b * r->tau);
            /* p and the one-hot are two terms: (p - 1) cancels */
            for (j = 0; mag != NULL && j < d; j++)
                mag[i * d + j] += (coef + 2.0 * (k == idx[i])) *
                                  fabs(bank[k * d + j]) / ((double)b * r->tau);
        }
    }
    free(s);
    return loss / (double)b;
}

/* Both directions: view v's z against the other view's bank. */
static double ref_loss(ref *r, double *const z[2], int64_t b,
                       const int64_t *idx, const int64_t *noise, int64_t kn,
                       int hold_z, double *const g[2])
{
    double loss = 0;
    int v;
    for (v = 0; v < 2; v++)
        loss += r->mode == SOFTMAX
                    ? ref_softmax(r, z[v], b, r->bank[1 - v], idx, g[v],
                                  g[v] != NULL ? r->mag[v] : NULL)
                    : ref_nce(r, z[v], b, r->bank[1 - v], idx, noise, kn,
                              &r->z_state[v], &r->has_z[v], hold_z, g[v],
                              g[v] != NULL ? r->mag[v] : NULL);
    return loss;
}

/* v_y <- normalize(m v_y + (1 - m) f), in batch order. */
static void ref_update(ref *r, double *const z[2], int64_t b, const int64_t *idx)
{
    const int64_t d = r->d;
    const double m = r->bank_momentum;
    int v;
    int64_t i, j;
    for (v = 0; v < 2; v++)
        for (i = 0; i < b; i++) {
            double *row = r->bank[v] + idx[i] * d, norm;
            for (j = 0; j < d; j++)
                row[j] = m * row[j] + (1 - m) * z[v][i * d + j];
            norm = sqrt(dot_dd(row, row, d));
            for (j = 0; j < d; j++)
                row[j] /= norm;
        }
}

/* ---- helpers -------------------------------------------------------- */

/* b unit rows of d floats from the generator. */
static void unit_rows(ctr_rng *g, float *z, int64_t b, int64_t d)
{
    int64_t i, j;
    ck_assert_int_eq(ctr_rng_normal(g, z, b * d, 0.0f, 1.0f), CTR_OK);
    for (i = 0; i < b; i++) {
        double s = 0;
        for (j = 0; j < d; j++)
            s += (double)z[i * d + j] * z[i * d + j];
        for (j = 0; j < d; j++)
            z[i * d + j] = (float)(z[i * d + j] / sqrt(s));
    }
}

static void to_double(double *out, const float *in, int64_t n)
{
    int64_t i;
    for (i = 0; i < n; i++)
        out[i] = in[i];
}

/* Every entry of got within rtol of want relative to the largest |want|
 * (entries near zero are differences of larger terms), plus a few float32
 * roundings (2e-7, ~3 ulp) of the entry's own terms, mag[i] = sum of the
 * |terms| the entry adds up: a softmax gradient (p - 1) v_self + ... with
 * p near 1 cancels, and float32 (the library's as PyTorch's) carries
 * p's rounding into it. mag NULL: the first part only. */
static void assert_grad_close(const float *got, const double *want,
                              const double *mag, int64_t n, double rtol,
                              const char *what)
{
    double scale = 0;
    int64_t i;
    for (i = 0; i < n; i++)
        scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
    for (i = 0; i < n; i++)
        ck_assert_msg(fabs((double)got[i] - want[i]) <=
                          rtol * scale + (mag != NULL ? 2e-7 * mag[i] : 0) + 1e-12,
                      "%s[%lld] = %.9g, reference %.9g (scale %.3g, terms %.3g)",
                      what, (long long)i, (double)got[i], want[i], scale,
                      mag != NULL ? mag[i] : 0.0);
}

typedef struct shape {
    int64_t b, d, n, kn;
    double tau;
} shape;

static const shape SHAPES[] = {
    {1, 3, 2, 1, 0.07},      /* batch 1, two rows, one noise row */
    {5, 7, 23, 6, 0.1},      /* odd everything */
    {13, 33, 101, 17, 0.07},
    {32, 128, 300, 64, 0.05},
};

/* Buffers of one batch: the library's floats and the reference's
 * doubles. */
typedef struct batch {
    float *z[2], *g[2];
    double *zd[2], *gd[2];
    int64_t *idx, *noise;
} batch;

static void batch_alloc(batch *t, const shape *s)
{
    int v;
    for (v = 0; v < 2; v++) {
        t->z[v] = (float *)malloc((size_t)(s->b * s->d) * sizeof(float));
        t->g[v] = (float *)malloc((size_t)(s->b * s->d) * sizeof(float));
        t->zd[v] = (double *)malloc((size_t)(s->b * s->d) * sizeof(double));
        t->gd[v] = (double *)malloc((size_t)(s->b * s->d) * sizeof(double));
        ck_assert(t->z[v] && t->g[v] && t->zd[v] && t->gd[v]);
    }
    t->idx = (int64_t *)malloc((size_t)s->b * sizeof(int64_t));
    t->noise = (int64_t *)malloc((size_t)(s->b * s->kn) * sizeof(int64_t));
    ck_assert(t->idx && t->noise);
}

static void batch_free(batch *t)
{
    int v;
    for (v = 0; v < 2; v++)
        free(t->z[v]), free(t->g[v]), free(t->zd[v]), free(t->gd[v]);
    free(t->idx), free(t->noise);
}

/* A new batch: embeddings, instance indices (b distinct when b <= n, as a
 * data loader's), noise from bank 1's sampler shared by both directions
 * (CMC draws one set), own index not excluded (as CMC's sampler). */
static void batch_draw(batch *t, const shape *s, ctr_rng *g, cmc *c)
{
    int64_t *perm = (int64_t *)malloc((size_t)s->n * sizeof(int64_t));
    int v;
    ck_assert_ptr_nonnull(perm);
    ck_assert_int_eq(ctr_rng_permutation(g, perm, s->n), CTR_OK);
    memcpy(t->idx, perm, (size_t)s->b * sizeof(int64_t));
    free(perm);
    ck_assert_int_eq(ctr_bank_sample(c->bank[0], t->noise, s->b, s->kn, NULL), CTR_OK);
    for (v = 0; v < 2; v++) {
        unit_rows(g, t->z[v], s->b, s->d);
        to_double(t->zd[v], t->z[v], s->b * s->d);
    }
}

/* Four consecutive steps of shape s in mode: loss and gradients of the
 * library's composition against the reference's, banks updated (each by
 * its own side) after every step; then the banks themselves. */
static void check_steps(const shape *s, int mode)
{
    cmc c;
    ref r;
    batch t;
    ctr_rng *g;
    int step, v;
    int64_t i;
    cmc_create(&c, s->n, s->d, mode, s->tau, 11);
    ref_create(&r, &c, s->n, s->d, mode, s->tau);
    batch_alloc(&t, s);
    ck_assert_int_eq(ctr_rng_create(&g, 5 + (uint64_t)s->b, NULL), CTR_OK);
    for (step = 0; step < 4; step++) {
        double loss = 0, want;
        batch_draw(&t, s, g, &c);
        ck_assert_int_eq(cmc_loss(&c, t.z, s->b, s->d, t.idx, t.noise, s->kn, &loss, t.g), CTR_OK);
        want = ref_loss(&r, t.zd, s->b, t.idx, t.noise, s->kn, 0, t.gd);
        ck_assert_close(loss, want, 1e-5, 0.0);
        for (v = 0; v < 2; v++)
            assert_grad_close(t.g[v], t.gd[v], r.mag[v], s->b * s->d, 1e-5,
                              v ? "grad z2" : "grad z1");
        for (v = 0; mode != SOFTMAX && v < 2; v++) {
            double z;
            ck_assert_int_eq(ctr_objective_stat(c.obj[v], CTR_OBJECTIVE_S_NCE_Z, &z), CTR_OK);
            ck_assert_close(z, r.z_state[v], 1e-5, 0.0);
        }
        ck_assert_int_eq(cmc_update(&c, t.z, s->b, s->d, t.idx), CTR_OK);
        ref_update(&r, t.zd, s->b, t.idx);
    }
    for (v = 0; v < 2; v++) {
        const float *rows;
        ck_assert_int_eq(ctr_bank_rows(c.bank[v], &rows, NULL, NULL), CTR_OK);
        for (i = 0; i < s->n * s->d; i++)
            ck_assert_close(rows[i], r.bank[v][i], 0.0, 1e-6);
    }
    ctr_rng_destroy(g);
    batch_free(&t);
    ref_destroy(&r);
    cmc_destroy(&c);
}

START_TEST(test_cross_view_nce_matches_reference)
{
    size_t i;
    for (i = 0; i < sizeof(SHAPES) / sizeof(SHAPES[0]); i++) {
        check_steps(&SHAPES[i], CTR_NCE_Z_FIXED);
        check_steps(&SHAPES[i], CTR_NCE_Z_EMA);
    }
}
END_TEST

START_TEST(test_cross_view_softmax_matches_reference)
{
    size_t i;
    for (i = 0; i < sizeof(SHAPES) / sizeof(SHAPES[0]); i++)
        check_steps(&SHAPES[i], SOFTMAX);
}
END_TEST

/* Central differences of the reference's summed loss in every entry of
 * both views' z (Z held where the library holds it) against the library's
 * gradient, at the second step (Z set by the first). */
static void check_finite_differences(const shape *s, int mode)
{
    cmc c;
    ref r;
    batch t;
    ctr_rng *g;
    double loss;
    int v;
    int64_t i;
    cmc_create(&c, s->n, s->d, mode, s->tau, 3);
    ref_create(&r, &c, s->n, s->d, mode, s->tau);
    batch_alloc(&t, s);
    ck_assert_int_eq(ctr_rng_create(&g, 17, NULL), CTR_OK);
    batch_draw(&t, s, g, &c); /* first step: sets Z */
    ck_assert_int_eq(cmc_loss(&c, t.z, s->b, s->d, t.idx, t.noise, s->kn, &loss, t.g), CTR_OK);
    ref_loss(&r, t.zd, s->b, t.idx, t.noise, s->kn, 0, t.gd);
    ck_assert_int_eq(cmc_update(&c, t.z, s->b, s->d, t.idx), CTR_OK);
    ref_update(&r, t.zd, s->b, t.idx);
    batch_draw(&t, s, g, &c);
    ck_assert_int_eq(cmc_loss(&c, t.z, s->b, s->d, t.idx, t.noise, s->kn, &loss, t.g), CTR_OK);
    ref_loss(&r, t.zd, s->b, t.idx, t.noise, s->kn, 0, t.gd); /* advances Z */
    for (v = 0; v < 2; v++) {
        double *fd = t.gd[v], *z = t.zd[v];
        double *none[2] = {NULL, NULL};
        for (i = 0; i < s->b * s->d; i++) {
            const double h = 1e-5, z0 = z[i];
            double up, down;
            z[i] = z0 + h;
            up = ref_loss(&r, t.zd, s->b, t.idx, t.noise, s->kn, 1, none);
            z[i] = z0 - h;
            down = ref_loss(&r, t.zd, s->b, t.idx, t.noise, s->kn, 1, none);
            z[i] = z0;
            fd[i] = (up - down) / (2 * h);
        }
        assert_grad_close(t.g[v], fd, r.mag[v], s->b * s->d, 1e-5, v ? "fd z2" : "fd z1");
    }
    ctr_rng_destroy(g);
    batch_free(&t);
    ref_destroy(&r);
    cmc_destroy(&c);
}

START_TEST(test_gradients_match_finite_differences)
{
    size_t i;
    for (i = 0; i < 3; i++) {
        check_finite_differences(&SHAPES[i], CTR_NCE_Z_FIXED);
        check_finite_differences(&SHAPES[i], CTR_NCE_Z_EMA);
        check_finite_differences(&SHAPES[i], SOFTMAX);
    }
}
END_TEST

/* ---- PyTorch goldens (tests/gen_cmc.py: CMC's NCEAverage + NCECriterion,
 * and the full softmax, from CMC's unnormalised initial memories) ------ */

typedef struct golden_case {
    const char *name;
    int mode;
    int64_t n, d, kn, steps;
    double tau;
} golden_case;

static int64_t *golden_indices(const char *name, long *count)
{
    float *v = golden_read("cmc_golden.txt", name, count);
    int64_t *out = (int64_t *)malloc((size_t)*count * sizeof(int64_t));
    long i;
    ck_assert_ptr_nonnull(out);
    for (i = 0; i < *count; i++)
        out[i] = (int64_t)v[i];
    free(v);
    return out;
}

static float *golden_array(const char *c, const char *what, long want)
{
    long count;
    float *v = golden_read_field("cmc_golden.txt", c, what, &count);
    ck_assert_int_eq(count, want);
    return v;
}

static void golden_to_double(double *out, const float *in, long n)
{
    long i;
    for (i = 0; i < n; i++)
        out[i] = in[i];
}

/* One golden step: the library's summed loss and gradients against
 * PyTorch's, then the bank updates. */
static void golden_step(cmc *c, const golden_case *g, int64_t s)
{
    char name[64];
    long b, cnt;
    int64_t *idx, *noise = NULL;
    float *z[2], *grad[2], *want_loss, *want_g[2];
    double loss, gd[2][64];
    int v;
    snprintf(name, sizeof(name), "%s_s%lld_idx", g->name, (long long)s);
    idx = golden_indices(name, &b);
    if (g->mode != SOFTMAX) {
        snprintf(name, sizeof(name), "%s_s%lld_noise", g->name, (long long)s);
        noise = golden_indices(name, &cnt);
        ck_assert_int_eq(cnt, b * g->kn);
    }
    for (v = 0; v < 2; v++) {
        char what[32];
        snprintf(what, sizeof(what), "s%lld_z%d", (long long)s, v + 1);
        z[v] = golden_array(g->name, what, b * g->d);
        snprintf(what, sizeof(what), "s%lld_g%d", (long long)s, v + 1);
        want_g[v] = golden_array(g->name, what, b * g->d);
        grad[v] = (float *)malloc((size_t)(b * g->d) * sizeof(float));
        ck_assert_ptr_nonnull(grad[v]);
        ck_assert_int_le(b * g->d, 64);
        golden_to_double(gd[v], want_g[v], b * g->d);
    }
    snprintf(name, sizeof(name), "s%lld_loss", (long long)s);
    want_loss = golden_array(g->name, name, 1);
    ck_assert_int_eq(cmc_loss(c, z, b, g->d, idx, noise, g->kn, &loss, grad), CTR_OK);
    ck_assert_close(loss, want_loss[0], 1e-5, 0.0);
    for (v = 0; v < 2; v++)
        assert_grad_close(grad[v], gd[v], NULL, b * g->d, 1e-5, v ? "golden g2" : "golden g1");
    ck_assert_int_eq(cmc_update(c, z, b, g->d, idx), CTR_OK);
    for (v = 0; v < 2; v++)
        free(z[v]), free(grad[v]), free(want_g[v]);
    free(want_loss), free(idx), free(noise);
}

static void check_golden(const golden_case *g)
{
    const int64_t nd = g->n * g->d;
    int64_t *all = (int64_t *)malloc((size_t)g->n * sizeof(int64_t)), i, s;
    float *bank;
    cmc c;
    int v;
    ck_assert_ptr_nonnull(all);
    for (i = 0; i < g->n; i++)
        all[i] = i;
    cmc_create(&c, g->n, g->d, g->mode == SOFTMAX ? SOFTMAX : CTR_NCE_Z_FIXED, g->tau, 1);
    for (v = 0; v < 2; v++) { /* CMC's initial memories, as they are */
        bank = golden_array(g->name, v ? "init_bank2" : "init_bank1", nd);
        ck_assert_int_eq(ctr_bank_set_rows(c.bank[v], all, g->n, bank, g->d), CTR_OK);
        free(bank);
    }
    for (s = 0; s < g->steps; s++)
        golden_step(&c, g, s);
    if (g->mode != SOFTMAX) {
        float *z = golden_array(g->name, "z", 2);
        for (v = 0; v < 2; v++) {
            double got;
            ck_assert_int_eq(ctr_objective_stat(c.obj[v], CTR_OBJECTIVE_S_NCE_Z, &got), CTR_OK);
            ck_assert_close(got, z[v], 1e-5, 0.0);
        }
        free(z);
    }
    for (v = 0; v < 2; v++) {
        const float *rows;
        bank = golden_array(g->name, v ? "bank2" : "bank1", nd);
        ck_assert_int_eq(ctr_bank_rows(c.bank[v], &rows, NULL, NULL), CTR_OK);
        for (i = 0; i < nd; i++)
            ck_assert_close(rows[i], bank[i], 0.0, 1e-6);
        free(bank);
    }
    cmc_destroy(&c);
    free(all);
}

START_TEST(test_pytorch_goldens)
{
    /* the shapes of tests/gen_cmc.py */
    static const golden_case cases[] = {
        {"nce", CTR_NCE_Z_FIXED, 20, 7, 9, 2, 0.07},
        {"softmax", SOFTMAX, 19, 5, 0, 2, 0.1},
    };
    check_golden(&cases[0]);
    check_golden(&cases[1]);
}
END_TEST

/* ---- exact resume of the two-bank run -------------------------------- */

#define R_N 37   /* instances */
#define R_H 4    /* image rows: view 1 the top two, view 2 the bottom two */
#define R_W 5
#define R_HALF (R_H / 2 * R_W)
#define R_D 4    /* embedding */
#define R_B 6
#define R_K 5

typedef struct run {
    ctr_encoder *enc[2];
    ctr_optimizer *opt[2];
    cmc c;
    ctr_rng *rng;
    ctr_state *st;
} run;

static void run_create(run *r, uint64_t seed)
{
    static const char *const names[2][4] = {
        {"encoder.view1", "optimizer.view1", "bank.view1", "objective.view1"},
        {"encoder.view2", "optimizer.view2", "bank.view2", "objective.view2"}};
    const int64_t dims[2] = {R_H / 2, R_W};
    int v;
    memset(r, 0, sizeof(*r));
    cmc_create(&r->c, R_N, R_D, CTR_NCE_Z_EMA, 0.1, seed);
    /* direction 1 keeps the paper's fixed Z, direction 2 an EMA */
    ck_assert_int_eq(ctr_objective_set_i64(r->c.obj[0], CTR_OBJECTIVE_P_NCE_Z_MODE, CTR_NCE_Z_FIXED), CTR_OK);
    ck_assert_int_eq(ctr_state_create(&r->st, NULL), CTR_OK);
    for (v = 0; v < 2; v++) {
        ctr_encoder *e;
        ck_assert_int_eq(ctr_encoder_create(&r->enc[v], dims, 2, seed + 10 + (uint64_t)v, NULL), CTR_OK);
        e = r->enc[v];
        ck_assert_int_eq(ctr_encoder_add_flatten(e), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_linear(e, 8, 1), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_activation(e, CTR_LAYER_RELU), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_linear(e, R_D, 1), CTR_OK);
        ck_assert_int_eq(ctr_encoder_add_l2norm(e, 1e-12), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_create_for_encoder(&r->opt[v], CTR_OPTIMIZER_ADAMW, e, NULL), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_set_f64(r->opt[v], CTR_OPTIMIZER_P_LR, 0.01), CTR_OK);
        ck_assert_int_eq(ctr_state_add_encoder(r->st, names[v][0], e), CTR_OK);
        ck_assert_int_eq(ctr_state_add_optimizer(r->st, names[v][1], r->opt[v]), CTR_OK);
        ck_assert_int_eq(ctr_state_add_bank(r->st, names[v][2], r->c.bank[v]), CTR_OK);
        ck_assert_int_eq(ctr_state_add_objective(r->st, names[v][3], r->c.obj[v]), CTR_OK);
    }
    ck_assert_int_eq(ctr_rng_create(&r->rng, seed + 20, NULL), CTR_OK);
    ck_assert_int_eq(ctr_state_add_rng(r->st, "rng.batches", r->rng), CTR_OK);
}

static void run_destroy(run *r)
{
    int v;
    ctr_state_destroy(r->st);
    for (v = 0; v < 2; v++) {
        ctr_optimizer_destroy(r->opt[v]);
        ctr_encoder_destroy(r->enc[v]);
    }
    ctr_rng_destroy(r->rng);
    cmc_destroy(&r->c);
}

/* One CMC step on images (R_N x R_H x R_W): batch, views, both encoders,
 * the cross-view loss, backward, optimizer steps, bank updates. */
static double run_step(run *r, const float *images)
{
    float x[2][R_B * R_HALF], z[2][R_B * R_D], g[2][R_B * R_D];
    float *zp[2] = {z[0], z[1]}, *gp[2] = {g[0], g[1]};
    int64_t idx[R_B], noise[R_B * R_K], i;
    double loss = 0;
    int v;
    ck_assert_int_eq(ctr_rng_below(r->rng, idx, R_B, R_N), CTR_OK);
    ck_assert_int_eq(ctr_bank_sample(r->c.bank[0], noise, R_B, R_K, NULL), CTR_OK);
    for (i = 0; i < R_B; i++)
        for (v = 0; v < 2; v++)
            memcpy(x[v] + i * R_HALF, images + idx[i] * R_H * R_W + v * R_HALF,
                   R_HALF * sizeof(float));
    for (v = 0; v < 2; v++)
        ck_assert_int_eq(ctr_encoder_forward(r->enc[v], z[v], x[v], R_B, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(cmc_loss(&r->c, zp, R_B, R_D, idx, noise, R_K, &loss, gp), CTR_OK);
    for (v = 0; v < 2; v++) {
        ck_assert_int_eq(ctr_encoder_zero_grad(r->enc[v]), CTR_OK);
        ck_assert_int_eq(ctr_encoder_backward(r->enc[v], NULL, g[v]), CTR_OK);
        ck_assert_int_eq(ctr_optimizer_step(r->opt[v]), CTR_OK);
    }
    ck_assert_int_eq(cmc_update(&r->c, zp, R_B, R_D, idx), CTR_OK);
    return loss;
}

static unsigned char *state_bytes(run *r, size_t *size)
{
    unsigned char *buf;
    ck_assert_int_eq(ctr_state_save_buffer(r->st, NULL, 0, size), CTR_OK);
    buf = (unsigned char *)malloc(*size);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(ctr_state_save_buffer(r->st, buf, *size, size), CTR_OK);
    return buf;
}

START_TEST(test_two_bank_state_resumes_exactly)
{
    enum { FIRST = 3, MORE = 5 };
    float images[R_N * R_H * R_W];
    double losses[MORE];
    unsigned char *saved, *end_a, *end_b;
    size_t n_saved, n_a, n_b;
    ctr_rng *g;
    run a, b;
    int i;
    ck_assert_int_eq(ctr_rng_create(&g, 99, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_uniform(g, images, R_N * R_H * R_W), CTR_OK);
    ctr_rng_destroy(g);
    run_create(&a, 1);
    for (i = 0; i < FIRST; i++)
        run_step(&a, images);
    saved = state_bytes(&a, &n_saved);
    for (i = 0; i < MORE; i++)
        losses[i] = run_step(&a, images);
    end_a = state_bytes(&a, &n_a);
    /* other seeds everywhere: what matches must come from the file */
    run_create(&b, 1000);
    ck_assert_int_eq(ctr_state_load_buffer(b.st, saved, n_saved), CTR_OK);
    for (i = 0; i < MORE; i++) {
        double loss = run_step(&b, images);
        ck_assert_msg(memcmp(&loss, &losses[i], sizeof(loss)) == 0,
                      "step %d after resume: loss %.17g, continued %.17g", i,
                      loss, losses[i]);
    }
    end_b = state_bytes(&b, &n_b);
    ck_assert_uint_eq(n_a, n_b);
    ck_assert_msg(memcmp(end_a, end_b, n_a) == 0, "states differ after the resumed steps");
    /* and the state really moved on after the save */
    ck_assert(n_saved != n_a || memcmp(saved, end_a, n_a) != 0);
    free(saved), free(end_a), free(end_b);
    run_destroy(&a), run_destroy(&b);
}
END_TEST

Suite *ctr_test_cmc_suite(void);
Suite *ctr_test_cmc_suite(void)
{
    Suite *s = suite_create("cmc");
    TCase *num = tcase_create("cmc_numerics");
    TCase *res = tcase_create("cmc_resume");
    tcase_set_timeout(num, 120);
    tcase_add_test(num, test_cross_view_nce_matches_reference);
    tcase_add_test(num, test_cross_view_softmax_matches_reference);
    tcase_add_test(num, test_gradients_match_finite_differences);
    tcase_add_test(num, test_pytorch_goldens);
    tcase_add_test(res, test_two_bank_state_resumes_exactly);
    suite_add_tcase(s, num);
    suite_add_tcase(s, res);
    return s;
}
