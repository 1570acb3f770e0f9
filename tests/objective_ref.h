/*
 * objective_ref.h - every objective in double precision, written from its
 * definition (docs/objectives.md) and sharing no code with the library:
 * the loss, and its gradients by hand-derived formulas. The inputs are the
 * float inputs of the call widened to double, so the only difference from
 * the library is float arithmetic.
 *
 * check_objective_numerics.c checks these gradients against central finite
 * differences of the losses at small logits; check_objective_scale.c then
 * checks the library against them at large logits (unnormalised rows of
 * norm 100, tau down to 0.01), where finite differences would be too
 * coarse: a softmax there turns over within a step of 1e-4 of an input.
 * Everything here is static inline, so a file may use part of it.
 */
#ifndef CTR_OBJECTIVE_REF_H
#define CTR_OBJECTIVE_REF_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The operands of one call, contiguous rows of d doubles. */
typedef struct ref_ctx {
    double *a, *p, *neg, *bank;
    int64_t b, d, k, n, kn;
    double tau, lambda;
    int normalize, symmetric;
    const int64_t *groups, *q_ids, *neg_ids, *self_idx, *noise_idx;
    double log_z; /* NCE: fixed normaliser; NAN means exact per anchor */
    int batch_z;  /* NCE: Z = n * mean exp(logit) over this batch instead */
    double jitter; /* 0, or moves every logit (ref_logit) */
} ref_ctx;

static inline double *ref_alloc(int64_t n)
{
    return (double *)calloc((size_t)(n > 0 ? n : 1), sizeof(double));
}

/* A fresh rows x d array of doubles from float rows of leading
 * dimension ld: a call's operands as the reference takes them. */
static inline double *ref_widen(const float *x, int64_t rows, int64_t d,
                                int64_t ld)
{
    double *out = ref_alloc(rows * d);
    int64_t i, j;
    for (i = 0; i < rows; i++)
        for (j = 0; j < d; j++)
            out[i * d + j] = x[i * ld + j];
    return out;
}

/* out = x / max(|x|, 1e-12) (or x itself without normalize), one row. */
static inline void ref_unit(double *out, const double *x, int64_t d,
                            int normalize)
{
    double s = 0;
    int64_t j;
    for (j = 0; j < d; j++)
        s += x[j] * x[j];
    s = sqrt(s);
    if (s < 1e-12)
        s = 1e-12;
    for (j = 0; j < d; j++)
        out[j] = normalize ? x[j] / s : x[j];
}

/* A fresh rows x d array of the rows of x through ref_unit. */
static inline double *ref_units(const double *x, int64_t rows, int64_t d,
                                int normalize)
{
    double *u = ref_alloc(rows * d);
    int64_t i;
    for (i = 0; i < rows; i++)
        ref_unit(u + i * d, x + i * d, d, normalize);
    return u;
}

/* g (the gradient with respect to u = ref_unit(x)) becomes the gradient
 * with respect to x, in place: (g - u (u . g)) / |x|, or g / 1e-12 where
 * the norm was clamped. */
static inline void ref_unit_backward(double *g, const double *x, int64_t d,
                                     int normalize)
{
    double s = 0, dot = 0;
    int64_t j;
    if (!normalize)
        return;
    for (j = 0; j < d; j++)
        s += x[j] * x[j];
    s = sqrt(s);
    if (s < 1e-12) {
        for (j = 0; j < d; j++)
            g[j] /= 1e-12;
        return;
    }
    for (j = 0; j < d; j++)
        dot += x[j] / s * g[j];
    for (j = 0; j < d; j++)
        g[j] = (g[j] - x[j] / s * dot) / s;
}

static inline double ref_dotd(const double *x, const double *y, int64_t d)
{
    double s = 0;
    int64_t j;
    for (j = 0; j < d; j++)
        s += x[j] * y[j];
    return s;
}

/* The logit x . y / tau of pair (i, j). With c->jitter set it is moved by
 * jitter * sum_k |x_k y_k| / tau, up or down by a hash of the pair (the
 * same for (j, i): NT-Xent's S is symmetric) - the size of a float32 dot
 * product's rounding, for measuring how far the rounding of the logits
 * alone moves a result (check_objective_scale.c). */
static inline double ref_logit(const ref_ctx *c, const double *x,
                               const double *y, int64_t d, int64_t i,
                               int64_t j)
{
    double dot = 0, mag = 0;
    uint64_t h;
    int64_t k;
    for (k = 0; k < d; k++) {
        dot += x[k] * y[k];
        mag += fabs(x[k] * y[k]);
    }
    if (c->jitter == 0)
        return dot / c->tau;
    h = (uint64_t)(i < j ? i : j) * 0x9E3779B97F4A7C15u ^
        (uint64_t)(i < j ? j : i) * 0xC2B2AE3D27D4EB4Fu;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9u;
    h ^= h >> 32;
    return (dot + ((h & 1) ? c->jitter : -c->jitter) * mag) / c->tau;
}

/* y += alpha x */
static inline void ref_axpy(double *y, const double *x, double alpha,
                            int64_t d)
{
    int64_t j;
    for (j = 0; j < d; j++)
        y[j] += alpha * x[j];
}

/* One row of a softmax cross-entropy: logits l (use[j] = 0 leaves entry j
 * out), target weights y summing to 1 over the used entries. Returns
 * logsumexp - sum y l; dl[j] = softmax_j - y_j (0 where unused). */
static inline double ref_ce_row(const double *l, const int *use,
                                const double *y, int64_t n, double *dl)
{
    double m = -INFINITY, s = 0, lse, dot = 0;
    int64_t j;
    for (j = 0; j < n; j++)
        if (use[j] && l[j] > m)
            m = l[j];
    for (j = 0; j < n; j++)
        if (use[j])
            s += exp(l[j] - m);
    lse = m + log(s);
    for (j = 0; j < n; j++) {
        dl[j] = use[j] ? exp(l[j] - lse) - y[j] : 0.0;
        if (use[j])
            dot += y[j] * l[j];
    }
    return lse - dot;
}

/* Row i's target weights in a b-wide in-batch row: 1 on column i, or
 * spread over the columns of i's group. */
static inline void ref_targets(double *y, const int64_t *groups, int64_t b,
                               int64_t i)
{
    int64_t j, np = 0;
    for (j = 0; j < b; j++)
        np += groups ? groups[j] == groups[i] : j == i;
    for (j = 0; j < b; j++)
        y[j] = (groups ? groups[j] == groups[i] : j == i) ? 1.0 / np : 0.0;
}

/* ---- in-batch InfoNCE and N-pair ------------------------------------------ */

/* S = U V^T / tau; loss = mean over rows of the cross-entropy of row i
 * (and, symmetric, half of that plus half of the same on S^T). ga, gp
 * (b x d, may be NULL) receive the gradients. With lambda >= 0 and
 * without normalize, N-pair's regulariser lambda / 2b sum |x|^2 is added
 * (pass lambda = 0 for InfoNCE). */
static inline double ref_inbatch(const ref_ctx *c, double lambda, double *ga,
                                 double *gp)
{
    const int64_t b = c->b, d = c->d;
    double *u = ref_units(c->a, b, d, c->normalize);
    double *v = ref_units(c->p, b, d, c->normalize);
    double *s = ref_alloc(b * b), *ds = ref_alloc(b * b);
    double *l = ref_alloc(b), *y = ref_alloc(b), *dl = ref_alloc(b);
    int *use = (int *)malloc((size_t)b * sizeof(int));
    const double w = c->symmetric ? 0.5 : 1.0;
    double loss = 0, ss = 0;
    int64_t i, j;
    for (i = 0; i < b; i++) {
        use[i] = 1;
        for (j = 0; j < b; j++)
            s[i * b + j] = ref_logit(c, u + i * d, v + j * d, d, i, j);
    }
    for (i = 0; i < b; i++) { /* anchors a_i over the rows of S */
        ref_targets(y, c->groups, b, i);
        loss += w * ref_ce_row(s + i * b, use, y, b, dl) / b;
        for (j = 0; j < b; j++)
            ds[i * b + j] += w * dl[j] / b;
    }
    for (j = 0; c->symmetric && j < b; j++) { /* anchors p_j, columns */
        for (i = 0; i < b; i++)
            l[i] = s[i * b + j];
        ref_targets(y, c->groups, b, j);
        loss += w * ref_ce_row(l, use, y, b, dl) / b;
        for (i = 0; i < b; i++)
            ds[i * b + j] += w * dl[i] / b;
    }
    if (ga != NULL)
        memset(ga, 0, (size_t)(b * d) * sizeof(double));
    if (gp != NULL)
        memset(gp, 0, (size_t)(b * d) * sizeof(double));
    for (i = 0; i < b; i++)
        for (j = 0; j < b; j++) {
            if (ga != NULL)
                ref_axpy(ga + i * d, v + j * d, ds[i * b + j] / c->tau, d);
            if (gp != NULL)
                ref_axpy(gp + j * d, u + i * d, ds[i * b + j] / c->tau, d);
        }
    for (i = 0; i < b; i++) {
        if (ga != NULL)
            ref_unit_backward(ga + i * d, c->a + i * d, d, c->normalize);
        if (gp != NULL)
            ref_unit_backward(gp + i * d, c->p + i * d, d, c->normalize);
    }
    if (lambda > 0 && !c->normalize) {
        for (i = 0; i < b * d; i++) {
            ss += c->a[i] * c->a[i] + c->p[i] * c->p[i];
            if (ga != NULL)
                ga[i] += lambda / b * c->a[i];
            if (gp != NULL)
                gp[i] += lambda / b * c->p[i];
        }
        loss += lambda * ss / (2.0 * b);
    }
    free(u), free(v), free(s), free(ds), free(l), free(y), free(dl);
    free(use);
    return loss;
}

/* ---- NT-Xent ------------------------------------------------------------------- */

/* Z = [a; p] (2b rows), S = U U^T / tau without the diagonal; row r's
 * positive is (r + b) mod 2b, or with groups every other row of its
 * group; loss = mean over the 2b rows. */
static inline double ref_ntxent_full(const ref_ctx *c, double *ga, double *gp)
{
    const int64_t b = c->b, d = c->d, n = 2 * b;
    double *u = ref_alloc(n * d), *ds = ref_alloc(n * n), *gu;
    double *l = ref_alloc(n), *y = ref_alloc(n);
    int *use = (int *)malloc((size_t)n * sizeof(int));
    double loss = 0;
    int64_t r, q, np;
    for (r = 0; r < n; r++)
        ref_unit(u + r * d, r < b ? c->a + r * d : c->p + (r - b) * d, d,
                 c->normalize);
    for (r = 0; r < n; r++) {
        for (q = 0, np = 0; q < n; q++) {
            int is_pos = c->groups ? q != r && c->groups[q % b] ==
                                                   c->groups[r % b]
                                   : q == (r + b) % n;
            l[q] = ref_logit(c, u + r * d, u + q * d, d, r, q);
            use[q] = q != r;
            y[q] = is_pos;
            np += is_pos;
        }
        for (q = 0; q < n; q++)
            y[q] /= (double)np;
        loss += ref_ce_row(l, use, y, n, ds + r * n) / n;
    }
    gu = ref_alloc(n * d);
    for (r = 0; r < n; r++)
        for (q = 0; q < n; q++)
            ref_axpy(gu + r * d, u + q * d,
                     (ds[r * n + q] + ds[q * n + r]) / (n * c->tau), d);
    for (r = 0; r < n; r++) {
        const double *x = r < b ? c->a + r * d : c->p + (r - b) * d;
        double *g = r < b ? ga : gp;
        if (g == NULL)
            continue;
        g += (r % b) * d;
        memcpy(g, gu + r * d, (size_t)d * sizeof(double));
        ref_unit_backward(g, x, d, c->normalize);
    }
    free(u), free(ds), free(gu), free(l), free(y), free(use);
    return loss;
}

/* ---- shared negatives and the bank softmax ------------------------------------ */

/* Query i: logits [u_i . k_i, u_i . n_1, ..., u_i . n_k] / tau (negatives
 * with neg_ids[j] == q_ids[i] left out), target the first. */
static inline double ref_shared_full(const ref_ctx *c, double *gq, double *gk,
                                     double *gn)
{
    const int64_t b = c->b, d = c->d, k = c->k;
    double *u = ref_units(c->a, b, d, c->normalize);
    double *kp = ref_units(c->p, b, d, c->normalize);
    double *nn = ref_units(c->neg, k, d, c->normalize);
    double *l = ref_alloc(k + 1), *y = ref_alloc(k + 1), *dl = ref_alloc(k + 1);
    int *use = (int *)malloc((size_t)(k + 1) * sizeof(int));
    double loss = 0;
    int64_t i, j;
    if (gq != NULL)
        memset(gq, 0, (size_t)(b * d) * sizeof(double));
    if (gk != NULL)
        memset(gk, 0, (size_t)(b * d) * sizeof(double));
    if (gn != NULL)
        memset(gn, 0, (size_t)(k * d) * sizeof(double));
    y[0] = 1.0;
    for (i = 0; i < b; i++) {
        l[0] = ref_logit(c, u + i * d, kp + i * d, d, i, -1);
        use[0] = 1;
        for (j = 0; j < k; j++) {
            l[j + 1] = ref_logit(c, u + i * d, nn + j * d, d, i, b + j);
            use[j + 1] = !(c->q_ids && c->neg_ids[j] == c->q_ids[i]);
        }
        loss += ref_ce_row(l, use, y, k + 1, dl) / b;
        if (gq != NULL) {
            ref_axpy(gq + i * d, kp + i * d, dl[0] / (b * c->tau), d);
            for (j = 0; j < k; j++)
                ref_axpy(gq + i * d, nn + j * d, dl[j + 1] / (b * c->tau), d);
        }
        if (gk != NULL)
            ref_axpy(gk + i * d, u + i * d, dl[0] / (b * c->tau), d);
        for (j = 0; gn != NULL && j < k; j++)
            ref_axpy(gn + j * d, u + i * d, dl[j + 1] / (b * c->tau), d);
    }
    for (i = 0; i < b; i++) {
        if (gq != NULL)
            ref_unit_backward(gq + i * d, c->a + i * d, d, c->normalize);
        if (gk != NULL)
            ref_unit_backward(gk + i * d, c->p + i * d, d, c->normalize);
    }
    for (j = 0; gn != NULL && j < k; j++)
        ref_unit_backward(gn + j * d, c->neg + j * d, d, c->normalize);
    free(u), free(kp), free(nn), free(l), free(y), free(dl), free(use);
    return loss;
}

/* Full softmax of u_i over the n bank rows, target self_idx[i]. */
static inline double ref_bank_softmax_full(const ref_ctx *c, double *gz)
{
    const int64_t b = c->b, d = c->d, n = c->n;
    double *u = ref_units(c->a, b, d, c->normalize);
    double *w = ref_units(c->bank, n, d, c->normalize);
    double *l = ref_alloc(n), *y = ref_alloc(n), *dl = ref_alloc(n);
    int *use = (int *)malloc((size_t)n * sizeof(int));
    double loss = 0;
    int64_t i, j;
    for (i = 0; i < b; i++) {
        for (j = 0; j < n; j++) {
            l[j] = ref_logit(c, u + i * d, w + j * d, d, i, j);
            use[j] = 1;
            y[j] = j == c->self_idx[i];
        }
        loss += ref_ce_row(l, use, y, n, dl) / b;
        if (gz == NULL)
            continue;
        memset(gz + i * d, 0, (size_t)d * sizeof(double));
        for (j = 0; j < n; j++)
            ref_axpy(gz + i * d, w + j * d, dl[j] / (b * c->tau), d);
        ref_unit_backward(gz + i * d, c->a + i * d, d, c->normalize);
    }
    free(u), free(w), free(l), free(y), free(dl), free(use);
    return loss;
}

/* ---- NCE --------------------------------------------------------------------- */

static inline double ref_softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static inline double ref_sigmoid(double x)
{
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

/* log Z of the first call with a fixed Z (or an EMA): n times the mean of
 * exp(logit) over the batch's b (kn + 1) gathered rows. */
static inline double ref_nce_batch_log_z(const ref_ctx *c)
{
    const int64_t w = c->kn + 1, d = c->d;
    double *l = ref_alloc(c->b * w), *u = ref_alloc(d), m = -INFINITY, s = 0;
    int64_t i, k;
    for (i = 0; i < c->b; i++) {
        ref_unit(u, c->a + i * d, d, c->normalize);
        for (k = 0; k < w; k++) {
            int64_t r = k == 0 ? c->self_idx[i] : c->noise_idx[i * c->kn + k - 1];
            l[i * w + k] = ref_logit(c, u, c->bank + r * d, d, i, r);
            m = l[i * w + k] > m ? l[i * w + k] : m;
        }
    }
    for (i = 0; i < c->b * w; i++)
        s += exp(l[i] - m);
    free(l), free(u);
    return log((double)c->n) + m + log(s / (double)(c->b * w));
}

/* NCE: bank rows as given (the memory bank stores unit rows), only z
 * normalised with the option. lx = v . z / tau - log Z; the anchor's own
 * row adds softplus(log c - lx), each noise row softplus(lx - log c),
 * c = kn / n. Z is a constant (log_z, or with batch_z the batch's own),
 * or, with log_z NAN, exact per anchor (and then part of the gradient). */
static inline double ref_nce_full(const ref_ctx *c, double *gz)
{
    const int64_t b = c->b, d = c->d, n = c->n;
    const double log_c = log((double)c->kn / (double)n);
    double *u = ref_alloc(d), *l = ref_alloc(n), *mean = ref_alloc(d);
    const double batch = c->batch_z ? ref_nce_batch_log_z(c) : 0.0;
    double total = 0;
    int64_t i, k, j;
    for (i = 0; i < b; i++) {
        double lz = c->batch_z ? batch : c->log_z, csum = 0, m = -INFINITY;
        double s = 0;
        double *g = gz != NULL ? gz + i * d : NULL;
        ref_unit(u, c->a + i * d, d, c->normalize);
        memset(mean, 0, (size_t)d * sizeof(double));
        if (isnan(lz) && !c->batch_z) {
            for (j = 0; j < n; j++) {
                l[j] = ref_logit(c, u, c->bank + j * d, d, i, j);
                m = l[j] > m ? l[j] : m;
            }
            for (j = 0; j < n; j++)
                s += exp(l[j] - m);
            lz = m + log(s);
            for (j = 0; j < n; j++)
                ref_axpy(mean, c->bank + j * d, exp(l[j] - lz), d);
        }
        if (g != NULL)
            memset(g, 0, (size_t)d * sizeof(double));
        for (k = 0; k <= c->kn; k++) {
            int64_t r = k == 0 ? c->self_idx[i]
                               : c->noise_idx[i * c->kn + k - 1];
            double lx = ref_logit(c, u, c->bank + r * d, d, i, r) - lz, coef;
            if (k == 0) {
                total += ref_softplus(log_c - lx);
                coef = -ref_sigmoid(log_c - lx);
            } else {
                total += ref_softplus(lx - log_c);
                coef = ref_sigmoid(lx - log_c);
            }
            csum += coef;
            if (g != NULL)
                ref_axpy(g, c->bank + r * d, coef / (b * c->tau), d);
        }
        if (g != NULL) {
            if (isnan(c->log_z) && !c->batch_z)
                ref_axpy(g, mean, -csum / (b * c->tau), d);
            ref_unit_backward(g, c->a + i * d, d, c->normalize);
        }
    }
    free(u), free(l), free(mean);
    return total / b;
}

#endif /* CTR_OBJECTIVE_REF_H */
