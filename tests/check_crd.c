/*
 * check_crd.c - Contrastive Representation Distillation (Tian et al.
 * 2020) as docs/crd.md composes it from public calls: a linear + L2
 * embedding head on the student's and on the teacher's features (two
 * encoders), two memory banks, and NCE both ways (the student's embedding
 * against the teacher bank, the teacher's against the student bank; two
 * CTR_OBJECTIVE_NCE handles, Z fixed), then each bank's momentum update.
 * Checked: two steps against PyTorch goldens in RepDistiller's form
 * (tests/gen_crd.py: losses, Z, gradients w.r.t. both features and both
 * heads, both banks after the updates); the loss and the feature
 * gradients against a float64 reference differentiated by central finite
 * differences on odd shapes; exact resume from checkpoints of the six
 * handles; every allocation failing in turn.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "golden_util.h"
#include "test_util.h"

/* The CRD part of a distillation step: the handles and their buffers. */
typedef struct crd {
    int64_t ds, dt, e, n, b;
    ctr_encoder *es, *et;      /* embedding heads: linear e, L2 norm */
    ctr_objective *ns, *nt;    /* NCE of the student / teacher embedding */
    ctr_bank *bs, *bt;         /* student bank, teacher bank */
    float *zs, *zt, *gzs, *gzt;
} crd;

static int crd_head(ctr_encoder **out, int64_t d_in, int64_t e, uint64_t seed,
                    const ctr_allocator *a)
{
    int rc = ctr_encoder_create(out, &d_in, 1, seed, a);
    if (rc == CTR_OK)
        rc = ctr_encoder_add_linear(*out, e, 1);
    if (rc == CTR_OK)
        rc = ctr_encoder_add_l2norm(*out, 1e-12);
    return rc;
}

static void crd_destroy(crd *m)
{
    ctr_encoder_destroy(m->es), ctr_encoder_destroy(m->et);
    ctr_objective_destroy(m->ns), ctr_objective_destroy(m->nt);
    ctr_bank_destroy(m->bs), ctr_bank_destroy(m->bt);
    free(m->zs), free(m->zt), free(m->gzs), free(m->gzt);
    memset(m, 0, sizeof(*m));
}

/* Creates the six handles (any may fail: then everything is freed). */
static int crd_create(crd *m, int64_t ds, int64_t dt, int64_t e, int64_t n, int64_t b,
                      const ctr_allocator *a)
{
    int rc;
    memset(m, 0, sizeof(*m));
    m->ds = ds, m->dt = dt, m->e = e, m->n = n, m->b = b;
    rc = crd_head(&m->es, ds, e, 1, a);
    if (rc == CTR_OK)
        rc = crd_head(&m->et, dt, e, 2, a);
    if (rc == CTR_OK)
        rc = ctr_objective_create(&m->ns, CTR_OBJECTIVE_NCE, a);
    if (rc == CTR_OK)
        rc = ctr_objective_create(&m->nt, CTR_OBJECTIVE_NCE, a);
    if (rc == CTR_OK)
        rc = ctr_bank_create(&m->bs, n, e, 3, a);
    if (rc == CTR_OK)
        rc = ctr_bank_create(&m->bt, n, e, 4, a);
    m->zs = malloc((size_t)(b * e) * sizeof(float));
    m->zt = malloc((size_t)(b * e) * sizeof(float));
    m->gzs = malloc((size_t)(b * e) * sizeof(float));
    m->gzt = malloc((size_t)(b * e) * sizeof(float));
    if (rc != CTR_OK)
        crd_destroy(m);
    return rc;
}

/* One CRD step on b anchors: losses (student direction, teacher
 * direction), d(beta * (ls + lt)) / d features into dfs, dft (may be NULL)
 * and into the heads' gradients (zeroed first), then both bank updates. */
static int crd_step(crd *m, const float *fs, const float *ft, const int64_t *idx,
                    const int64_t *noise, int64_t k, double beta, double *ls, double *lt,
                    float *dfs, float *dft)
{
    const float *rows_s, *rows_t;
    const int64_t b = m->b, e = m->e;
    int64_t i;
    int rc = ctr_encoder_forward(m->es, m->zs, fs, b, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK)
        rc = ctr_encoder_forward(m->et, m->zt, ft, b, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK)
        rc = ctr_bank_rows(m->bs, &rows_s, NULL, NULL);
    if (rc == CTR_OK)
        rc = ctr_bank_rows(m->bt, &rows_t, NULL, NULL);
    if (rc == CTR_OK)
        rc = ctr_objective_nce(m->ns, ls, m->zs, e, b, e, rows_t, e, m->n, idx, noise, k,
                               m->gzs);
    if (rc == CTR_OK)
        rc = ctr_objective_nce(m->nt, lt, m->zt, e, b, e, rows_s, e, m->n, idx, noise, k,
                               m->gzt);
    for (i = 0; rc == CTR_OK && i < b * e; i++) {
        m->gzs[i] *= (float)beta;
        m->gzt[i] *= (float)beta;
    }
    if (rc == CTR_OK)
        rc = ctr_encoder_zero_grad(m->es);
    if (rc == CTR_OK)
        rc = ctr_encoder_zero_grad(m->et);
    if (rc == CTR_OK)
        rc = ctr_encoder_backward(m->es, dfs, m->gzs);
    if (rc == CTR_OK)
        rc = ctr_encoder_backward(m->et, dft, m->gzt);
    if (rc == CTR_OK)
        rc = ctr_bank_update(m->bs, idx, b, m->zs, e);
    if (rc == CTR_OK)
        rc = ctr_bank_update(m->bt, idx, b, m->zt, e);
    return rc;
}

static int64_t *to_index(const float *v, long n)
{
    int64_t *out = malloc((size_t)n * sizeof(int64_t));
    long i;
    for (i = 0; i < n; i++)
        out[i] = (int64_t)v[i];
    return out;
}

static void set_head(ctr_encoder *enc, const float *w, const float *bias, int64_t e,
                     int64_t d_in)
{
    float *p = malloc((size_t)(e * d_in + e) * sizeof(float));
    int64_t off = -1;
    ck_assert_int_eq(ctr_encoder_tensor_info(enc, NULL, NULL, &off, NULL, NULL, 1), CTR_OK);
    ck_assert_int_eq(off, e * d_in); /* weight (e x d_in), then bias */
    memcpy(p, w, (size_t)(e * d_in) * sizeof(float));
    memcpy(p + e * d_in, bias, (size_t)e * sizeof(float));
    ck_assert_int_eq(ctr_encoder_set_params(enc, p, e * d_in + e), CTR_OK);
    free(p);
}

static void set_bank(ctr_bank *bank, const float *rows, int64_t n, int64_t e)
{
    int64_t *all = malloc((size_t)n * sizeof(int64_t)), i;
    for (i = 0; i < n; i++)
        all[i] = i;
    ck_assert_int_eq(ctr_bank_set_rows(bank, all, n, rows, e), CTR_OK);
    free(all);
}

/* ---- PyTorch goldens ------------------------------------------------------------ */

static float *gread(const char *c, const char *field, long *n)
{
    return golden_read_field("crd_golden.txt", c, field, n);
}

/* got (n entries, n from the golden file) against tag_field. */
static void expect_golden(const char *tag, const char *field, const float *got, double rtol,
                          double atol)
{
    long n, i;
    float *want = gread(tag, field, &n);
    for (i = 0; i < n; i++)
        ck_assert_close(got[i], want[i], rtol, atol);
    free(want);
}

static void golden_step(crd *m, const char *tag, int64_t k)
{
    long n, nb, nf;
    float *fs = gread(tag, "f_s", &nf), *ft = gread(tag, "f_t", &n);
    float *idxf = gread(tag, "idx", &nb), *noisef = gread(tag, "noise", &n);
    int64_t *idx = to_index(idxf, nb), *noise = to_index(noisef, nb * k);
    float *dfs = malloc((size_t)(m->b * m->ds) * sizeof(float));
    float *dft = malloc((size_t)(m->b * m->dt) * sizeof(float));
    float *gs = malloc((size_t)(m->e * m->ds + m->e) * sizeof(float));
    float *gt = malloc((size_t)(m->e * m->dt + m->e) * sizeof(float));
    float *want;
    const float *rows;
    double ls, lt;
    ck_assert_int_eq(crd_step(m, fs, ft, idx, noise, k, 1.0, &ls, &lt, dfs, dft), CTR_OK);
    want = gread(tag, "loss_s", &n);
    ck_assert_close(ls, want[0], 1e-5, 0.0);
    free(want);
    want = gread(tag, "loss_t", &n);
    ck_assert_close(lt, want[0], 1e-5, 0.0);
    free(want);
    /* gradients: relative 1e-5, or 1e-5 absolute for entries near 0 */
    expect_golden(tag, "grad_f_s", dfs, 1e-5, 1e-5);
    expect_golden(tag, "grad_f_t", dft, 1e-5, 1e-5);
    ck_assert_int_eq(ctr_encoder_get_grads(m->es, gs, m->e * m->ds + m->e), CTR_OK);
    ck_assert_int_eq(ctr_encoder_get_grads(m->et, gt, m->e * m->dt + m->e), CTR_OK);
    expect_golden(tag, "grad_w_s", gs, 1e-5, 3e-5);
    expect_golden(tag, "grad_b_s", gs + m->e * m->ds, 1e-5, 3e-5);
    expect_golden(tag, "grad_w_t", gt, 1e-5, 3e-5);
    expect_golden(tag, "grad_b_t", gt + m->e * m->dt, 1e-5, 3e-5);
    ck_assert_int_eq(ctr_bank_rows(m->bs, &rows, NULL, NULL), CTR_OK);
    expect_golden(tag, "bank_s", rows, 1e-5, 1e-6);
    ck_assert_int_eq(ctr_bank_rows(m->bt, &rows, NULL, NULL), CTR_OK);
    expect_golden(tag, "bank_t", rows, 1e-5, 1e-6);
    free(fs), free(ft), free(idxf), free(noisef), free(idx), free(noise);
    free(dfs), free(dft), free(gs), free(gt);
}

START_TEST(test_pytorch_golden_two_steps)
{
    long n, nw;
    float *ws = gread("crd", "w_s", &nw), *bs = gread("crd", "b_s", &n);
    float *wt = gread("crd", "w_t", &n), *bt = gread("crd", "b_t", &n);
    float *banks = gread("crd", "bank_s", &n), *bankt = gread("crd", "bank_t", &n);
    float *z = gread("crd", "z", &n);
    const int64_t b = 6, ds = 7, dt = 9, e = 5, nd = 20, k = 4;
    double v;
    crd m;
    ck_assert_int_eq(crd_create(&m, ds, dt, e, nd, b, NULL), CTR_OK);
    set_head(m.es, ws, bs, e, ds);
    set_head(m.et, wt, bt, e, dt);
    set_bank(m.bs, banks, nd, e);
    set_bank(m.bt, bankt, nd, e);
    golden_step(&m, "crd1", k);
    ck_assert_int_eq(ctr_objective_stat(m.ns, CTR_OBJECTIVE_S_NCE_Z, &v), CTR_OK);
    ck_assert_close(v, z[0], 1e-5, 0.0);
    ck_assert_int_eq(ctr_objective_stat(m.nt, CTR_OBJECTIVE_S_NCE_Z, &v), CTR_OK);
    ck_assert_close(v, z[1], 1e-5, 0.0);
    golden_step(&m, "crd2", k); /* Z of step 1, the updated banks */
    ck_assert_int_eq(ctr_objective_stat(m.ns, CTR_OBJECTIVE_S_NCE_Z, &v), CTR_OK);
    ck_assert_close(v, z[0], 1e-5, 0.0);
    crd_destroy(&m);
    free(ws), free(bs), free(wt), free(bt), free(banks), free(bankt), free(z);
}
END_TEST

/* ---- float64 reference ------------------------------------------------------- */

/* The problem in double: features, heads, banks, indices and Z. */
typedef struct ref {
    int64_t b, ds, dt, e, n, k;
    double tau, beta;
    double *fs, *ft, *ws, *bs, *wt, *bt, *bank_s, *bank_t;
    const int64_t *idx, *noise;
    double log_z[2]; /* set from the first batch when has_z is 0 */
    int has_z;
} ref;

/* L2-normalised x W^T + bias of one row. */
static void ref_embed(double *z, const double *x, const double *w, const double *bias,
                      int64_t d_in, int64_t e)
{
    double nrm = 0.0;
    int64_t r, c;
    for (r = 0; r < e; r++) {
        z[r] = bias[r];
        for (c = 0; c < d_in; c++)
            z[r] += w[r * d_in + c] * x[c];
        nrm += z[r] * z[r];
    }
    for (r = 0; r < e; r++)
        z[r] /= sqrt(nrm);
}

/* One direction: embeddings z (b x e) against `bank`; Z from this batch
 * when the reference has none yet. */
static double ref_nce(ref *p, const double *z, const double *bank, int dir)
{
    const int64_t w = p->k + 1;
    const double log_c = log((double)p->k / (double)p->n);
    double *l = malloc((size_t)(p->b * w) * sizeof(double)), loss = 0.0, s = 0.0;
    int64_t i, j, c;
    for (i = 0; i < p->b; i++)
        for (j = 0; j < w; j++) {
            const int64_t row = j == 0 ? p->idx[i] : p->noise[i * p->k + j - 1];
            double dot = 0.0;
            for (c = 0; c < p->e; c++)
                dot += z[i * p->e + c] * bank[row * p->e + c];
            l[i * w + j] = dot / p->tau;
            s += exp(l[i * w + j]);
        }
    if (!p->has_z)
        p->log_z[dir] = log(s / (double)(p->b * w) * (double)p->n);
    for (i = 0; i < p->b; i++)
        for (j = 0; j < w; j++) {
            const double lx = l[i * w + j] - p->log_z[dir];
            /* -log h = log(1 + c / x); -log(1 - h) = log(1 + x / c) */
            loss += j == 0 ? log1p(exp(log_c - lx)) : log1p(exp(lx - log_c));
        }
    free(l);
    return loss / (double)p->b;
}

/* beta * (student direction + teacher direction). */
static double ref_loss(ref *p)
{
    double *zs = malloc((size_t)(p->b * p->e) * sizeof(double));
    double *zt = malloc((size_t)(p->b * p->e) * sizeof(double));
    double loss;
    int64_t i;
    for (i = 0; i < p->b; i++) {
        ref_embed(zs + i * p->e, p->fs + i * p->ds, p->ws, p->bs, p->ds, p->e);
        ref_embed(zt + i * p->e, p->ft + i * p->dt, p->wt, p->bt, p->dt, p->e);
    }
    loss = ref_nce(p, zs, p->bank_t, 0) + ref_nce(p, zt, p->bank_s, 1);
    p->has_z = 1;
    free(zs), free(zt);
    return p->beta * loss;
}

/* max |got - fd| / max |fd| over the n entries of x. */
static double fd_error(ref *p, double *x, const float *got, int64_t n)
{
    double err = 0.0, scale = 0.0;
    int64_t i;
    for (i = 0; i < n; i++) {
        const double h = 1e-6, saved = x[i];
        double up, down, fd;
        x[i] = saved + h;
        up = ref_loss(p);
        x[i] = saved - h;
        down = ref_loss(p);
        x[i] = saved;
        fd = (up - down) / (2.0 * h);
        err = fmax(err, fabs(got[i] - fd));
        scale = fmax(scale, fabs(fd));
    }
    return err / scale;
}

static double *randn_d(ctr_rng *g, float *f, int64_t n, float scale)
{
    double *d = malloc((size_t)n * sizeof(double));
    int64_t i;
    ck_assert_int_eq(ctr_rng_normal(g, f, n, 0.0f, scale), CTR_OK);
    for (i = 0; i < n; i++)
        d[i] = f[i];
    return d;
}

static double *params_d(ctr_encoder *enc, float *buf, int64_t n)
{
    double *d = malloc((size_t)n * sizeof(double));
    int64_t i;
    ck_assert_int_eq(ctr_encoder_get_params(enc, buf, n), CTR_OK);
    for (i = 0; i < n; i++)
        d[i] = buf[i];
    return d;
}

static double *bank_d(ctr_bank *bank, int64_t count)
{
    const float *rows;
    double *d = malloc((size_t)count * sizeof(double));
    int64_t i;
    ck_assert_int_eq(ctr_bank_rows(bank, &rows, NULL, NULL), CTR_OK);
    for (i = 0; i < count; i++)
        d[i] = rows[i];
    return d;
}

static void check_against_reference(int64_t b, int64_t ds, int64_t dt, int64_t e, int64_t n,
                                     int64_t k, double beta, unsigned seed)
{
    float *fs = malloc((size_t)(b * ds) * sizeof(float));
    float *ft = malloc((size_t)(b * dt) * sizeof(float));
    float *dfs = malloc((size_t)(b * ds) * sizeof(float));
    float *dft = malloc((size_t)(b * dt) * sizeof(float));
    float *ps = malloc((size_t)(e * ds + e) * sizeof(float));
    float *pt = malloc((size_t)(e * dt + e) * sizeof(float));
    int64_t *idx = malloc((size_t)b * sizeof(int64_t));
    int64_t *noise = malloc((size_t)(b * k) * sizeof(int64_t));
    double ls, lt, *pds, *pdt;
    ctr_rng *g = NULL;
    crd m;
    ref p;
    memset(&p, 0, sizeof(p));
    ck_assert_int_eq(ctr_rng_create(&g, seed, NULL), CTR_OK);
    ck_assert_int_eq(crd_create(&m, ds, dt, e, n, b, NULL), CTR_OK);
    p.b = b, p.ds = ds, p.dt = dt, p.e = e, p.n = n, p.k = k, p.tau = 0.07, p.beta = beta;
    p.fs = randn_d(g, fs, b * ds, 1.0f);
    p.ft = randn_d(g, ft, b * dt, 1.0f);
    int64_t *perm = malloc((size_t)n * sizeof(int64_t));
    ck_assert_int_eq(ctr_rng_permutation(g, perm, n), CTR_OK); /* distinct anchors */
    memcpy(idx, perm, (size_t)b * sizeof(int64_t));
    free(perm);
    ck_assert_int_eq(ctr_rng_below(g, noise, b * k, n), CTR_OK);
    p.idx = idx, p.noise = noise;
    pds = params_d(m.es, ps, e * ds + e);
    pdt = params_d(m.et, pt, e * dt + e);
    p.ws = pds, p.bs = pds + e * ds, p.wt = pdt, p.bt = pdt + e * dt;
    p.bank_s = bank_d(m.bs, n * e);
    p.bank_t = bank_d(m.bt, n * e);
    ck_assert_int_eq(crd_step(&m, fs, ft, idx, noise, k, beta, &ls, &lt, dfs, dft), CTR_OK);
    ck_assert_close(beta * (ls + lt), ref_loss(&p), 1e-5, 0.0);
    ck_assert_double_le(fd_error(&p, p.fs, dfs, b * ds), 1e-5);
    ck_assert_double_le(fd_error(&p, p.ft, dft, b * dt), 1e-5);
    ck_assert_int_eq(ctr_encoder_get_grads(m.es, ps, e * ds + e), CTR_OK);
    ck_assert_double_le(fd_error(&p, pds, ps, e * ds + e), 1e-5);
    ck_assert_int_eq(ctr_encoder_get_grads(m.et, pt, e * dt + e), CTR_OK);
    ck_assert_double_le(fd_error(&p, pdt, pt, e * dt + e), 1e-5);
    crd_destroy(&m);
    ctr_rng_destroy(g);
    free(fs), free(ft), free(dfs), free(dft), free(ps), free(pt), free(idx), free(noise);
    free(p.fs), free(p.ft), free(pds), free(pdt), free(p.bank_s), free(p.bank_t);
}

START_TEST(test_reference_and_finite_differences)
{
    check_against_reference(5, 3, 11, 7, 13, 6, 0.8, 11);
    check_against_reference(1, 1, 2, 2, 2, 1, 1.0, 12);
    check_against_reference(9, 17, 4, 16, 40, 33, 0.8, 13);
}
END_TEST

/* ---- resume and memory ---------------------------------------------------------- */

enum { B = 4, DS = 3, DT = 5, E = 4, N = 10, K = 3 };

typedef struct io {
    float fs[B * DS], ft[B * DT];
    int64_t idx[2][B], noise[2][B * K];
} io;

static void io_init(io *x)
{
    int i, s;
    for (i = 0; i < B * DS; i++)
        x->fs[i] = (float)sin(0.7 * i + 0.2);
    for (i = 0; i < B * DT; i++)
        x->ft[i] = (float)cos(1.1 * i);
    for (s = 0; s < 2; s++) {
        for (i = 0; i < B; i++)
            x->idx[s][i] = (3 * i + s) % N;
        for (i = 0; i < B * K; i++)
            x->noise[s][i] = (7 * i + 5 * s + 1) % N;
    }
}

typedef struct step_out {
    double ls, lt;
    float dfs[B * DS], dft[B * DT], rows_s[N * E], rows_t[N * E];
} step_out;

static void run_step(crd *m, const io *x, int s, step_out *o)
{
    const float *r;
    ck_assert_int_eq(crd_step(m, x->fs, x->ft, x->idx[s], x->noise[s], K, 0.8, &o->ls, &o->lt,
                              o->dfs, o->dft), CTR_OK);
    ck_assert_int_eq(ctr_bank_rows(m->bs, &r, NULL, NULL), CTR_OK);
    memcpy(o->rows_s, r, sizeof(o->rows_s));
    ck_assert_int_eq(ctr_bank_rows(m->bt, &r, NULL, NULL), CTR_OK);
    memcpy(o->rows_t, r, sizeof(o->rows_t));
}

#define SAVE_LOAD(type, src, dst)                                                       \
    do {                                                                                \
        size_t size_ = 0;                                                               \
        void *buf_;                                                                     \
        ctr_##type##_save_buffer(src, NULL, 0, &size_); /* the size query */      \
        buf_ = malloc(size_);                                                           \
        ck_assert_int_eq(ctr_##type##_save_buffer(src, buf_, size_, &size_), CTR_OK);   \
        ck_assert_int_eq(ctr_##type##_load_buffer(&(dst), buf_, size_, NULL), CTR_OK);  \
        free(buf_);                                                                     \
    } while (0)

/* A step, checkpoints of the six handles, then the next step on the
 * original and on the reloaded handles: the same bits. */
START_TEST(test_exact_resume)
{
    static io x;
    static step_out first, a, b;
    crd m, r;
    io_init(&x);
    ck_assert_int_eq(crd_create(&m, DS, DT, E, N, B, NULL), CTR_OK);
    ck_assert_int_eq(crd_create(&r, DS, DT, E, N, B, NULL), CTR_OK);
    run_step(&m, &x, 0, &first);
    ctr_encoder_destroy(r.es), ctr_encoder_destroy(r.et);
    ctr_objective_destroy(r.ns), ctr_objective_destroy(r.nt);
    ctr_bank_destroy(r.bs), ctr_bank_destroy(r.bt);
    SAVE_LOAD(encoder, m.es, r.es);
    SAVE_LOAD(encoder, m.et, r.et);
    SAVE_LOAD(objective, m.ns, r.ns);
    SAVE_LOAD(objective, m.nt, r.nt);
    SAVE_LOAD(bank, m.bs, r.bs);
    SAVE_LOAD(bank, m.bt, r.bt);
    run_step(&m, &x, 1, &a);
    run_step(&r, &x, 1, &b);
    ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
    /* the first step changed both banks and fixed Z: step 2 differs */
    ck_assert(memcmp(first.rows_s, a.rows_s, sizeof(a.rows_s)) != 0);
    crd_destroy(&m);
    crd_destroy(&r);
}
END_TEST

static int oom_attempt(const ctr_allocator *al, void *ctx)
{
    const io *x = (const io *)ctx;
    step_out o;
    crd m;
    int rc = crd_create(&m, DS, DT, E, N, B, al);
    if (rc != CTR_OK)
        return rc;
    rc = crd_step(&m, x->fs, x->ft, x->idx[0], x->noise[0], K, 0.8, &o.ls, &o.lt, o.dfs,
                  o.dft);
    crd_destroy(&m);
    return rc;
}

START_TEST(test_out_of_memory)
{
    static io x;
    io_init(&x);
    ck_assert_int_ge(test_every_alloc_failure(oom_attempt, &x), 6);
}
END_TEST

Suite *ctr_test_crd_suite(void);

Suite *ctr_test_crd_suite(void)
{
    Suite *s = suite_create("crd");
    TCase *num = tcase_create("numerics");
    TCase *state = tcase_create("state");
    tcase_set_timeout(num, 60);
    tcase_add_test(num, test_pytorch_golden_two_steps);
    tcase_add_test(num, test_reference_and_finite_differences);
    tcase_add_test(state, test_exact_resume);
    tcase_add_test(state, test_out_of_memory);
    suite_add_tcase(s, num);
    suite_add_tcase(s, state);
    return s;
}
