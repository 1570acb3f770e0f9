/*
 * dist_inbatch.c - in-batch softmax losses with cross-replica negatives,
 * exactly the single-process loss over the global batch: NT-Xent
 * (SimCLR's TPU objective) and in-batch InfoNCE (CPC, CURL).
 *
 * Rank r owns rows r*b .. r*b+b-1 of each of the two blocks (z1/z2, or
 * anchors/positives). All ranks gather every row (one all-gather of
 * [z1; z2]); for each direction (NT-Xent: the two views against all 2B
 * rows, self masked; InfoNCE: anchors against the B positives, and with
 * SYMMETRIC positives against the B anchors) rank r computes the logits of
 * its b anchors against the keys (S) and from them two gradient terms: its
 * anchors' own (dS K, into its rows of G) and the keys' (dS^T Z_anchors,
 * into the keys' rows of G). One all-reduce of G sums the key terms back
 * to the rows' owners - the part the common bug drops - and carries the
 * loss sum and an overflow flag as two more floats.
 */
#include <math.h>
#include <string.h>

#include "common/blas.h"
#include "common/comm.h"
#include "common/kernels.h"

typedef struct nt_dims {
    int64_t b, d, big_b, n; /* local pairs, columns, global pairs, 2B */
    int64_t rank;
    double tau;
    int normalize, grads;
    int dcl;       /* CTR_OBJECTIVE_P_DECOUPLED: positives out of the softmax */
    int32_t kind;  /* CTR_OBJECTIVE_NTXENT or CTR_OBJECTIVE_INFONCE */
    int n_dirs;    /* directions: 2 (NT-Xent, symmetric InfoNCE) or 1 */
} nt_dims;

/* One direction: this rank's b anchors from global row anchor_first
 * against key_count keys from row key_first; the positive of global row g
 * is key (g + shift) mod key_count; self-similarity masked (NT-Xent). */
typedef struct nt_dir {
    int64_t anchor_first, key_first, key_count, shift;
    int self;
} nt_dir;

static void direction(const nt_dims *dm, int64_t v, nt_dir *dir)
{
    dir->anchor_first = v * dm->big_b + dm->rank * dm->b;
    if (dm->kind == CTR_OBJECTIVE_NTXENT) {
        dir->key_first = 0, dir->key_count = dm->n;
        dir->shift = dm->big_b, dir->self = 1;
    } else { /* A -> P, or P -> A */
        dir->key_first = v == 0 ? dm->big_b : 0, dir->key_count = dm->big_b;
        dir->shift = 0, dir->self = 0;
    }
}

typedef struct nt_bufs {
    float *send; /* 2b x d: [z1; z2] of this rank */
    float *g;    /* 2B x d + 2: the gathered rows, then G, loss, flag */
    float *z;    /* 2B x d: the rows in global order, normalised */
    float *inv;  /* 2B inverse norms */
    float *s;    /* 2b x 2B logits, then dS */
} nt_bufs;

/* Floats of each buffer, in carving order; CTR_E_OVERFLOW if too big. */
static int buffer_floats(const nt_dims *dm, int64_t *sz, size_t *bytes)
{
    int64_t total = 0, nd;
    int rc = ctr__mul_count(&nd, dm->n, dm->d), i;
    if (rc == CTR_OK)
        rc = ctr__mul_count(&sz[0], 2 * dm->b, dm->d);
    if (rc == CTR_OK)
        rc = ctr__add_count(&sz[1], nd, 2);
    sz[2] = nd;
    sz[3] = dm->n;
    if (rc == CTR_OK)
        rc = ctr__mul_count(&sz[4], 2 * dm->b, dm->n);
    for (i = 0; i < 5 && rc == CTR_OK; i++) /* each rounded to 16 floats */
        rc = ctr__add_count(&total, total, (sz[i] + 15) / 16 * 16);
    if (rc == CTR_OK)
        rc = ctr__matrix_bytes(bytes, total, 1, sizeof(float));
    return rc;
}

static void carve(const ctr_comm *c, const nt_dims *dm, nt_bufs *bf)
{
    int64_t sz[5];
    size_t bytes;
    float *p = (float *)c->ws;
    float **dst[5];
    int i;
    dst[0] = &bf->send, dst[1] = &bf->g, dst[2] = &bf->z, dst[3] = &bf->inv;
    dst[4] = &bf->s;
    (void)buffer_floats(dm, sz, &bytes);
    for (i = 0; i < 5; i++) {
        *dst[i] = p;
        p += (sz[i] + 15) / 16 * 16;
    }
}

/* ---- this rank's checks ------------------------------------------------------ */

static int check_objective(ctr_comm *c, const ctr_objective *obj, nt_dims *dm)
{
    int64_t norm = 0, sym = 0, dcl = 0;
    if (obj == NULL)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG, "obj is NULL");
    if (ctr_objective_kind(obj) != dm->kind)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                         "obj must be of kind %s",
                         dm->kind == CTR_OBJECTIVE_NTXENT
                             ? "CTR_OBJECTIVE_NTXENT"
                             : "CTR_OBJECTIVE_INFONCE");
    (void)ctr_objective_get_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, &dm->tau);
    (void)ctr_objective_get_i64(obj, CTR_OBJECTIVE_P_NORMALIZE, &norm);
    (void)ctr_objective_get_i64(obj, CTR_OBJECTIVE_P_SYMMETRIC, &sym);
    (void)ctr_objective_get_i64(obj, CTR_OBJECTIVE_P_DECOUPLED, &dcl);
    dm->normalize = norm != 0;
    dm->dcl = dcl != 0;
    dm->n_dirs = dm->kind == CTR_OBJECTIVE_NTXENT || sym != 0 ? 2 : 1;
    return CTR_OK;
}

static int check_sizes(ctr_comm *c, nt_dims *dm, int64_t ld1, int64_t ld2)
{
    if (dm->b < 1 || dm->d < 1)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                         "b and d must be >= 1 (got %lld, %lld)",
                         (long long)dm->b, (long long)dm->d);
    if (ld1 < dm->d || ld2 < dm->d)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                         "ld1 and ld2 must be >= d");
    if (ctr__mul_count(&dm->big_b, dm->b, c->size) != CTR_OK ||
        dm->big_b > (INT32_MAX - 2) / 2 || dm->d > INT32_MAX)
        return ctr__fail(&c->err, CTR_E_OVERFLOW,
                         "the global batch (size x b) is too large for BLAS");
    dm->n = 2 * dm->big_b;
    if (dm->dcl && dm->big_b < 2)
        return ctr__fail(&c->err, CTR_E_INVALID_ARG,
                         "CTR_OBJECTIVE_P_DECOUPLED needs a negative for "
                         "every row: a global batch of >= 2 (got %lld)",
                         (long long)dm->big_b);
    return CTR_OK;
}

static int check_args(ctr_comm *c, const ctr_objective *obj, const double *loss,
                      const float *z1, int64_t ld1, const float *z2,
                      int64_t ld2, const float *g1, const float *g2,
                      nt_dims *dm)
{
    int rc = check_objective(c, obj, dm);
    size_t bytes;
    int64_t sz[5];
    if (rc == CTR_OK && (loss == NULL || z1 == NULL || z2 == NULL))
        rc = ctr__fail(&c->err, CTR_E_INVALID_ARG, "loss, z1 or z2 is NULL");
    if (rc == CTR_OK && (g1 == NULL) != (g2 == NULL))
        rc = ctr__fail(&c->err, CTR_E_INVALID_ARG,
                       "grad_z1 and grad_z2 must both be set or both NULL");
    if (rc == CTR_OK)
        rc = check_sizes(c, dm, ld1, ld2);
    if (rc == CTR_OK)
        rc = ctr__check_finite_matrix(&c->err, z1, dm->b, dm->d, ld1, "z1");
    if (rc == CTR_OK)
        rc = ctr__check_finite_matrix(&c->err, z2, dm->b, dm->d, ld2, "z2");
    if (rc == CTR_OK && buffer_floats(dm, sz, &bytes) != CTR_OK)
        rc = ctr__fail(&c->err, CTR_E_OVERFLOW, "the workspace overflows");
    if (rc == CTR_OK)
        rc = ctr__comm_reserve(c, bytes);
    return rc;
}

/* ---- the math ------------------------------------------------------------------ */

/* The gathered [z1_r; z2_r] blocks into global order, normalised. */
static void arrange(const nt_dims *dm, const float *recv, nt_bufs *bf)
{
    const int64_t b = dm->b, d = dm->d;
    int64_t r, v;
    for (r = 0; r < dm->n / (2 * b); r++)
        for (v = 0; v < 2; v++) {
            const float *src = recv + (2 * r + v) * b * d;
            const int64_t row = v * dm->big_b + r * b;
            if (dm->normalize)
                ctr__normalize_rows(bf->z + row * d, src, b, d, d, 1.0f,
                                    bf->inv + row);
            else
                ctr__copy_scaled(bf->z + row * d, src, b, d, d, 1.0f);
        }
}

/* The first global row of this rank's rows of block v. */
static int64_t own_row(const nt_dims *dm, int64_t v)
{
    return v * dm->big_b + dm->rank * dm->b;
}

/* An anchor's loss over its logits s (n keys; self < 0: none masked), and
 * with grads its dS in place: (softmax - onehot(pos)) * scale, 0 at self.
 * With DECOUPLED (DCL) the positive is out of the softmax too: the loss is
 * lse(negatives) - s[pos] and dS[pos] = -scale. *bad on overflow. */
static double row_loss(float *s, int64_t n, int64_t self, int64_t pos,
                       const nt_dims *dm, int *bad)
{
    const float scale = 1.0f / (float)(dm->n_dirs * dm->big_b);
    const float pos_logit = s[pos];
    float m = -INFINITY;
    double sum = 0.0, lse, loss;
    int64_t c;
    if (self >= 0)
        s[self] = -INFINITY;
    if (dm->dcl)
        s[pos] = -INFINITY;
    for (c = 0; c < n; c++)
        m = s[c] > m ? s[c] : m;
    for (c = 0; c < n; c++)
        sum += exp((double)s[c] - (double)m);
    lse = (double)m + log(sum);
    loss = lse - (double)pos_logit;
    if (!isfinite(m) || !isfinite(loss)) {
        *bad = 1;
        return 0.0;
    }
    if (!dm->grads)
        return loss;
    for (c = 0; c < n; c++)
        s[c] = (float)exp((double)s[c] - lse) * scale;
    if (self >= 0)
        s[self] = 0.0f;
    s[pos] -= scale;
    return loss;
}

/* Direction v's logits, its anchors' losses and dS; returns the loss sum. */
static double view_losses(const nt_dims *dm, nt_bufs *bf, int64_t v, int *bad)
{
    const int64_t b = dm->b, d = dm->d;
    nt_dir dir;
    float *s = bf->s + v * b * dm->n;
    double total = 0.0;
    int64_t i;
    direction(dm, v, &dir);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b,
                (int)dir.key_count, (int)d, (float)(1.0 / dm->tau),
                bf->z + dir.anchor_first * d, (int)d,
                bf->z + dir.key_first * d, (int)d, 0.0f, s,
                (int)dir.key_count);
    for (i = 0; i < b; i++) {
        const int64_t g = dir.anchor_first + i;
        total += row_loss(s + i * dir.key_count, dir.key_count,
                          dir.self ? g - dir.key_first : -1,
                          (g + dir.shift) % dir.key_count, dm, bad);
    }
    return total;
}

/* G[keys] += dS_v^T A_v / tau (the keys' term) and G[anchors] += dS_v K /
 * tau (the anchors' own term). */
static void view_grads(const nt_dims *dm, nt_bufs *bf, int64_t v)
{
    const int b = (int)dm->b, d = (int)dm->d;
    const float inv_tau = (float)(1.0 / dm->tau);
    const float *s = bf->s + v * dm->b * dm->n;
    nt_dir dir;
    int kn;
    direction(dm, v, &dir);
    kn = (int)dir.key_count;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kn, d, b, inv_tau, s,
                kn, bf->z + dir.anchor_first * d, d, 1.0f,
                bf->g + dir.key_first * d, d);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, d, kn, inv_tau,
                s, kn, bf->z + dir.key_first * d, d, 1.0f,
                bf->g + dir.anchor_first * d, d);
}

/* This rank's loss sum and flag at the end of G; G's rows with grads. */
static void local_terms(const nt_dims *dm, nt_bufs *bf, float *tail)
{
    int bad = 0, v;
    double total = 0.0;
    for (v = 0; v < dm->n_dirs; v++)
        total += view_losses(dm, bf, v, &bad);
    if (dm->grads && !bad) {
        memset(bf->g, 0, (size_t)(dm->n * dm->d) * sizeof(float));
        for (v = 0; v < dm->n_dirs; v++)
            view_grads(dm, bf, v);
    }
    tail[0] = (float)total;
    tail[1] = (float)bad;
}

/* This rank's rows of the summed G through the normalisation into out. */
static void own_grads(const nt_dims *dm, nt_bufs *bf, int64_t v, float *out)
{
    const int64_t first = own_row(dm, v), d = dm->d;
    float *g = bf->g + first * d;
    if (dm->normalize)
        ctr__normalize_backward(g, bf->z + first * d, d, 1.0f,
                                bf->inv + first, dm->b, d);
    memcpy(out, g, (size_t)(dm->b * d) * sizeof(float));
}

/* Gather, compute, all-reduce; writes the outputs only on success. */
static int run(ctr_comm *c, const nt_dims *dm, const float *z1, int64_t ld1,
               const float *z2, int64_t ld2, double *loss, float *g1,
               float *g2)
{
    const char *what = dm->kind == CTR_OBJECTIVE_NTXENT ? "ctr_comm_ntxent"
                                                        : "ctr_comm_infonce";
    const int64_t nd = dm->n * dm->d;
    nt_bufs bf;
    float tail[2];
    int rc;
    carve(c, dm, &bf);
    ctr__copy_scaled(bf.send, z1, dm->b, dm->d, ld1, 1.0f);
    ctr__copy_scaled(bf.send + dm->b * dm->d, z2, dm->b, dm->d, ld2, 1.0f);
    rc = ctr__comm_allgather_f32(c, bf.send, bf.g, 2 * dm->b * dm->d, what);
    if (rc != CTR_OK)
        return rc;
    arrange(dm, bf.g, &bf);
    local_terms(dm, &bf, tail);
    bf.g[nd] = tail[0], bf.g[nd + 1] = tail[1];
    rc = dm->grads ? ctr__comm_allreduce_f32(c, bf.g, nd + 2, what)
                   : ctr__comm_allreduce_f32(c, bf.g + nd, 2, what);
    if (rc != CTR_OK)
        return rc;
    if (bf.g[nd + 1] != 0.0f || !isfinite(bf.g[nd]))
        return ctr__fail(&c->err, CTR_E_NUMERIC,
                         "logits overflow float on some rank (inputs too "
                         "large for tau)");
    *loss = (double)bf.g[nd] / (double)(dm->n_dirs * dm->big_b);
    if (dm->grads) {
        own_grads(dm, &bf, 0, g1);
        own_grads(dm, &bf, 1, g2);
    }
    return CTR_OK;
}

/* The public calls' common body. */
static int inbatch(ctr_comm *comm, int32_t kind, const ctr_objective *obj,
                   double *loss, const float *z1, int64_t ld1,
                   const float *z2, int64_t ld2, int64_t b, int64_t d,
                   float *grad_z1, float *grad_z2)
{
    static const char *const names[] = {
        "b", "d", "the temperature (bits)", "normalize",
        "gradients requested", "the number of directions (symmetric)",
        "decoupled"};
    nt_dims dm;
    int64_t vals[7] = {0, 0, 0, 0, 0, 0, 0};
    int rc;
    if (comm == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&comm->err);
    memset(&dm, 0, sizeof(dm));
    dm.b = b, dm.d = d, dm.rank = comm->rank, dm.kind = kind;
    dm.grads = grad_z1 != NULL;
    rc = check_args(comm, obj, loss, z1, ld1, z2, ld2, grad_z1, grad_z2, &dm);
    if (rc == CTR_OK) {
        vals[0] = b, vals[1] = d, vals[2] = ctr__comm_f64_bits(dm.tau);
        vals[3] = dm.normalize, vals[4] = dm.grads, vals[5] = dm.n_dirs;
        vals[6] = dm.dcl;
    }
    rc = ctr__comm_agree(comm, rc, vals, 7, 7, names);
    if (rc != CTR_OK)
        return rc;
    return run(comm, &dm, z1, ld1, z2, ld2, loss, grad_z1, grad_z2);
}

CTR_API int ctr_comm_ntxent(ctr_comm *comm, const ctr_objective *obj,
                            double *loss, const float *z1, int64_t ld1,
                            const float *z2, int64_t ld2, int64_t b,
                            int64_t d, float *grad_z1, float *grad_z2)
{
    return inbatch(comm, CTR_OBJECTIVE_NTXENT, obj, loss, z1, ld1, z2, ld2,
                   b, d, grad_z1, grad_z2);
}

CTR_API int ctr_comm_infonce(ctr_comm *comm, const ctr_objective *obj,
                             double *loss, const float *a, int64_t lda,
                             const float *p, int64_t ldp, int64_t b,
                             int64_t d, float *grad_a, float *grad_p)
{
    return inbatch(comm, CTR_OBJECTIVE_INFONCE, obj, loss, a, lda, p, ldp, b,
                   d, grad_a, grad_p);
}
