/*
 * ntxent.c - the NTXENT kind, NT-Xent (SimCLR): 2B views, each against the
 * 2B-2 others, self similarity masked, mean over both directions.
 *
 * Every similarity is computed once. S = Z Z^T / tau is the upper triangle
 * of a symmetric rank-k product (ssyrk: half of a GEMM's work), and every
 * pass reads S_rc once, for row r directly and for row c through arrays
 * indexed by column. A GEMM's S_rc and S_cr are rounded separately and
 * differ by an ulp, which at large logits (1e5) makes the gradient's
 * exp(S_rc - lse_c) a factor e^(+-0.01) off; here they are one number.
 * The gradient's M = dS + dS^T is symmetric as well: its upper triangle is
 * formed in place of S, and dZ = M Z / tau costs one GEMM's work (ssymm on
 * the diagonal blocks, sgemm on the off-diagonal one).
 *
 * Row r's log-sum-exp is kept as its max m_r (a float that is one of the
 * logits) and the log of a sum, never rounded to float as one number: a
 * logit of 1e5 minus a float log-sum-exp would be off by up to 0.004.
 */
#include <math.h>
#include <string.h>

#include "common/blas.h"
#include "common/kernels.h"
#include "objectives/inbatch.h"

static const int32_t PARAMS[] = {CTR_OBJECTIVE_P_TEMPERATURE,
                                 CTR_OBJECTIVE_P_NORMALIZE,
                                 CTR_OBJECTIVE_P_DECOUPLED, 0};

/* SimCLR's setting: cosine similarity, tau 0.5. */
static void ntxent_defaults(ctr_objective *obj)
{
    obj->temperature = 0.5;
    obj->normalize = 1;
}

/* The workspace's blocks, in the order run carves them: the floats of
 * each, for 2b rows of d (n = 2b). */
enum { ROW_FLOATS = 9, ROW_DOUBLES = 3, BLOCKS = 1 + ROW_FLOATS + ROW_DOUBLES + 2 };

static void block_sizes(int64_t b, int64_t d, int64_t *sz)
{
    const int64_t n = 2 * b;
    int i = 0, k;
    sz[i++] = n * d; /* z: the rows (normalised) */
    for (k = 0; k < ROW_FLOATS; k++)
        sz[i++] = n; /* per row: see nt_work */
    for (k = 0; k < ROW_DOUBLES; k++)
        sz[i++] = 2 * n;
    sz[i++] = 2 * n; /* int64 labels */
    sz[i++] = n * n; /* S, then E, then M (upper triangle) */
}

static int ntxent_workspace(const ctr_objective *obj, size_t *bytes,
                            int64_t b, int64_t d, int64_t k)
{
    int64_t sz[BLOCKS];
    size_t n = 0;
    int rc = CTR_OK, i;
    (void)obj;
    (void)k;
    if (b > INT64_MAX / b / 4 || d > INT64_MAX / b / 2)
        return CTR_E_OVERFLOW;
    block_sizes(b, d, sz);
    for (i = 0; i < BLOCKS && rc == CTR_OK; i++)
        rc = ctr__obj_ws_add(&n, sz[i]);
    if (rc == CTR_OK)
        *bytes = n;
    return rc;
}

static int ntxent_check(ctr_objective *obj, void *args, ctr__obj_dims *dims)
{
    const ctr__pair_args *a = (const ctr__pair_args *)args; /* z1, z2 */
    int rc = ctr__obj_check_sizes(obj, a->b, a->d);
    if (rc == CTR_OK && a->b > 23170) /* (2b)^2 must fit an int for BLAS */
        rc = ctr__fail(&obj->err, CTR_E_INVALID_ARG,
                       "b must be <= 23170 (got %lld)", (long long)a->b);
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, a->a, a->b, a->d, a->lda, "z1");
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, a->p, a->b, a->d, a->ldp, "z2");
    if (rc == CTR_OK)
        rc = ctr__decoupled_check(obj, a->b, a->groups);
    dims->b = a->b;
    dims->d = a->d;
    return rc;
}

/* One call's state, carved from the workspace. Row r's part of the upper
 * triangle is s + r n + r + 1 (columns r + 1 .. n - 1); the per-row arrays
 * at the same offset are its columns' values. */
typedef struct nt_work {
    int64_t b, d, n;
    int dcl;               /* DECOUPLED: positives out of the row sums */
    const int64_t *labels; /* n labels, or NULL without groups */
    float scale;           /* 1 / n: the mean over rows */
    float *z, *inv, *s;
    float *m;      /* max of row r over c != r (its negatives for DCL) */
    float *negmax; /* max over its negatives */
    float *posmax; /* max over its positives (groups) */
    float *np;     /* its number of positives */
    float *half;   /* m / 2 (fast path) */
    float *f;      /* fast: exp(half - max half); slow: unused */
    float *g;      /* fast: 1 / (sum of E_rc f_c); slow: log of its sum */
    float *colf;   /* column sums in float, flushed into cold */
    double *cold;  /* column sums */
    double *lse;   /* log-sum-exp of row r */
    double *pos;   /* its positive logit, or the sum of its positives */
} nt_work;

static void carve(ctr_objective *obj, nt_work *w, int64_t b, int64_t d)
{
    ctr__carve c = {(char *)obj->ws, 0};
    int64_t sz[BLOCKS];
    float **rows[ROW_FLOATS];
    double **dbl[ROW_DOUBLES];
    int i = 0, k;
    block_sizes(b, d, sz);
    rows[0] = &w->inv, rows[1] = &w->m, rows[2] = &w->negmax;
    rows[3] = &w->posmax, rows[4] = &w->np, rows[5] = &w->half;
    rows[6] = &w->f, rows[7] = &w->g, rows[8] = &w->colf;
    dbl[0] = &w->cold, dbl[1] = &w->lse, dbl[2] = &w->pos;
    w->z = ctr__carve_floats(&c, (size_t)sz[i++]);
    for (k = 0; k < ROW_FLOATS; k++)
        *rows[k] = ctr__carve_floats(&c, (size_t)sz[i++]);
    for (k = 0; k < ROW_DOUBLES; k++)
        *dbl[k] = (double *)(void *)ctr__carve_floats(&c, (size_t)sz[i++]);
    w->labels = (const int64_t *)(void *)ctr__carve_floats(&c, (size_t)sz[i++]);
    w->s = ctr__carve_floats(&c, (size_t)sz[i++]);
}

/* ---- pass 1: maxima, positives, raw sums ------------------------------------- */

/* Row r's shift m_r: the max over the entries of its row sum, all c != r,
 * or only its negatives for DCL. */
static float row_shift(const nt_work *w, int64_t r)
{
    if (w->dcl || w->negmax[r] > w->posmax[r])
        return w->negmax[r];
    return w->posmax[r];
}

/* Without groups: one positive per row. */
static void set_maxima(nt_work *w)
{
    int64_t r;
    for (r = 0; r < w->n; r++) {
        w->np[r] = 1.0f;
        w->posmax[r] = (float)w->pos[r];
        w->m[r] = row_shift(w, r);
    }
}

/* Without groups row r's one positive is (r + b) mod n: for r < b it lies
 * in row r's own part, at column r + b, which is also row r + b's
 * positive. It is set to -inf while the row is scanned, so the maxima and
 * the raw sum are those of the negatives; for DCL it stays -inf, so that
 * the exp passes give it 0 and it drops out of both rows' sums. Returns
 * the sum of the negatives' logits over ordered pairs. */
static double scan_plain(nt_work *w)
{
    const int64_t n = w->n, b = w->b;
    double raw_total = 0.0;
    int64_t r;
    for (r = 0; r < n; r++)
        w->negmax[r] = -INFINITY;
    for (r = 0; r < n; r++) {
        float *row = w->s + r * n, keep = 0.0f, raw, rm;
        if (r < b) {
            keep = row[r + b];
            row[r + b] = -INFINITY;
        }
        rm = ctr__vmax_col(row + r + 1, n - r - 1, w->negmax + r + 1, &raw);
        w->negmax[r] = rm > w->negmax[r] ? rm : w->negmax[r];
        raw_total += raw;
        if (r < b) {
            row[r + b] = w->dcl ? -INFINITY : keep;
            w->pos[r] = w->pos[r + b] = keep;
        }
    }
    set_maxima(w);
    return 2.0 * raw_total;
}

static void note_max(float *mx, int64_t i, float v)
{
    mx[i] = v > mx[i] ? v : mx[i];
}

/* With groups every c != r of r's group is a positive (SupCon's L_out):
 * one scalar pass over the upper triangle compares the labels (and sets
 * the positives to -inf for DCL). */
static double scan_groups(nt_work *w)
{
    const int64_t n = w->n;
    double total = 0.0, pos_total = 0.0;
    int64_t r, c;
    for (r = 0; r < n; r++) {
        w->negmax[r] = w->posmax[r] = -INFINITY;
        w->pos[r] = 0.0;
        w->np[r] = 0.0f;
    }
    for (r = 0; r < n; r++) {
        float *row = w->s + r * n;
        for (c = r + 1; c < n; c++) {
            const float v = row[c];
            total += v;
            if (w->labels[c] == w->labels[r]) {
                row[c] = w->dcl ? -INFINITY : v;
                w->pos[r] += v, w->pos[c] += v;
                w->np[r] += 1.0f, w->np[c] += 1.0f;
                note_max(w->posmax, r, v), note_max(w->posmax, c, v);
            } else {
                note_max(w->negmax, r, v), note_max(w->negmax, c, v);
            }
        }
    }
    for (r = 0; r < n; r++) {
        w->m[r] = row_shift(w, r);
        pos_total += w->pos[r];
    }
    return 2.0 * total - pos_total;
}

/* ---- pass 2: the row sums of the softmax ---------------------------------------- */

/* Float column sums are added into doubles every FLUSH rows, so that no
 * float sum runs over more than FLUSH terms. */
#define FLUSH 64

static double column_sum(nt_work *w, int64_t r)
{
    int64_t c;
    double total = w->cold[r] + (double)w->colf[r];
    if ((r + 1) % FLUSH == 0) {
        for (c = r + 1; c < w->n; c++) {
            w->cold[c] += (double)w->colf[c];
            w->colf[c] = 0.0f;
        }
    }
    return total;
}

/* Largest spread of the row maxima for the one-exp path: the column
 * factors f >= e^-50 stay normal floats, and a term the exp flushes
 * (below e^-87) weighs less than e^-37 in its row. */
#define SPREAD_MAX 100.0f

/* One exp per pair. With a_r = m_r / 2, E_rc = exp(S_rc - a_r - a_c) <= 1
 * is symmetric (S_rc <= min(m_r, m_c)), and exp(S_rc - m_r) =
 * E_rc f_c / f_r with f = exp(a - max a). Row r's sum is sum_c E_rc f_c
 * (its part of the triangle plus its column) over f_r; E replaces S. */
static void exp_fast(nt_work *w)
{
    const int64_t n = w->n;
    float amax = -INFINITY;
    int64_t r;
    for (r = 0; r < n; r++) {
        w->half[r] = 0.5f * w->m[r];
        amax = w->half[r] > amax ? w->half[r] : amax;
    }
    for (r = 0; r < n; r++)
        w->f[r] = (float)exp((double)w->half[r] - (double)amax);
    for (r = 0; r < n; r++) {
        float *part = w->s + r * n + r + 1;
        double rs = ctr__vexp_sym(part, n - r - 1, w->m[r], w->half[r],
                                  w->f[r], w->half + r + 1, w->f + r + 1,
                                  w->colf + r + 1);
        double total = rs + column_sum(w, r);
        w->g[r] = (float)(1.0 / total);
        w->lse[r] = (double)w->m[r] + log(total / (double)w->f[r]);
    }
}

/* Normalised rows at tau >= 2 / UNIFORM_SPREAD: every logit lies in
 * [-1/tau, 1/tau] (up to rounding), so one shift m = 1/tau serves every
 * row and column (a = m / 2, f = 1 in exp_fast's terms) and no term is
 * flushed; the maxima, raw sums and exps of the triangle then come from
 * one pass instead of two. */
#define UNIFORM_SPREAD 80.0

static int uniform_shift(const ctr_objective *obj)
{
    return obj->normalize && 2.0 / obj->temperature <= UNIFORM_SPREAD;
}

/* Row r < b's positive (column r + b) is -inf during the row's pass, so
 * that the maxima and the raw sum are the negatives'; its exp is added
 * afterwards to the row's sum and its column's (0 for DCL). */
static double add_positive(nt_work *w, int64_t r, float keep, float m)
{
    const float e = w->dcl ? 0.0f : (float)exp((double)(keep - m));
    w->s[r * w->n + r + w->b] = e;
    w->colf[r + w->b] += e;
    w->pos[r] = w->pos[r + w->b] = keep;
    return (double)e;
}

static double exp_uniform(nt_work *w, float m)
{
    const int64_t n = w->n, b = w->b;
    double raw_total = 0.0;
    int64_t r;
    for (r = 0; r < n; r++) {
        w->negmax[r] = -INFINITY;
        w->f[r] = 1.0f;
    }
    for (r = 0; r < n; r++) {
        float *row = w->s + r * n, keep = 0.0f;
        ctr__online_row o;
        double rs, total;
        if (r < b) {
            keep = row[r + b];
            row[r + b] = -INFINITY;
        }
        rs = ctr__vexp_scan(row + r + 1, n - r - 1, m, w->colf + r + 1,
                            w->negmax + r + 1, &o);
        w->negmax[r] = o.max > w->negmax[r] ? o.max : w->negmax[r];
        raw_total += o.raw;
        if (r < b)
            rs += add_positive(w, r, keep, m);
        total = rs + column_sum(w, r);
        w->g[r] = (float)(1.0 / total);
        w->lse[r] = (double)m + log(total);
    }
    set_maxima(w);
    return 2.0 * raw_total;
}

/* M_rc = scale (P_rc + P_cr) = scale E_rc (f_c g_r + f_r g_c), g = 1/sum. */
static void grad_fast(nt_work *w)
{
    const int64_t n = w->n;
    int64_t r;
    for (r = 0; r < n; r++) {
        float *row = w->s + r * n;
        row[r] = 0.0f;
        ctr__vmul_mix(row + r + 1, w->f + r + 1, w->g + r + 1,
                      w->scale * w->g[r], w->scale * w->f[r], n - r - 1);
    }
}

/* Any spread: both exponentials of each pair, from the one S_rc. */
static void exp_slow(nt_work *w)
{
    const int64_t n = w->n;
    int64_t r;
    for (r = 0; r < n; r++) {
        const float *part = w->s + r * n + r + 1;
        double rs = ctr__vexp_rowcol(part, n - r - 1, w->m[r], w->m + r + 1,
                                     w->colf + r + 1);
        double total = rs + column_sum(w, r);
        w->g[r] = (float)log(total);
        w->lse[r] = (double)w->m[r] + log(total);
    }
}

static void grad_slow(nt_work *w)
{
    const int64_t n = w->n;
    int64_t r;
    for (r = 0; r < n; r++) {
        float *row = w->s + r * n;
        row[r] = 0.0f;
        ctr__vexp_pair(row + r + 1, n - r - 1, w->m[r], w->g[r],
                       w->m + r + 1, w->g + r + 1, w->scale);
    }
}

/* M_rc -= scale (Y_rc + Y_cr): 2 scale / np for a positive pair (both rows
 * of a group have the same count). */
static void subtract_targets(nt_work *w)
{
    const int64_t n = w->n;
    int64_t r, c;
    if (w->labels == NULL) {
        for (r = 0; r < w->b; r++)
            w->s[r * n + r + w->b] -= 2.0f * w->scale;
        return;
    }
    for (r = 0; r < n; r++)
        for (c = r + 1; c < n; c++)
            if (w->labels[c] == w->labels[r])
                w->s[r * n + c] -= 2.0f * w->scale / w->np[r];
}

/* ---- the call ---------------------------------------------------------------------- */

static void prepare(ctr_objective *obj, const ctr__pair_args *a, nt_work *w)
{
    const int64_t b = a->b, d = a->d;
    int64_t i;
    carve(obj, w, b, d);
    w->b = b, w->d = d, w->n = 2 * b;
    w->dcl = obj->decoupled != 0;
    w->scale = 1.0f / (float)w->n;
    if (obj->normalize) {
        ctr__normalize_rows(w->z, a->a, b, d, a->lda, 1.0f, w->inv);
        ctr__normalize_rows(w->z + b * d, a->p, b, d, a->ldp, 1.0f,
                            w->inv + b);
    } else {
        ctr__copy_scaled(w->z, a->a, b, d, a->lda, 1.0f);
        ctr__copy_scaled(w->z + b * d, a->p, b, d, a->ldp, 1.0f);
    }
    if (a->groups != NULL) {
        int64_t *labels = (int64_t *)(void *)w->labels;
        for (i = 0; i < w->n; i++)
            labels[i] = a->groups[i % b];
    } else {
        w->labels = NULL;
    }
    memset(w->colf, 0, (size_t)w->n * sizeof(float));
    memset(w->cold, 0, (size_t)w->n * sizeof(double));
}

/* One view's rows of dZ = M Z / tau, straight into grad, then through the
 * normalisation. With M = [M11 M12; M12^T M22] (upper triangles of the
 * diagonal blocks, M12 whole): view 1 is M11 Z1 + M12 Z2, view 2
 * M12^T Z1 + M22 Z2 - two half-size ssymm and two sgemm, the work of one
 * sgemm, without a copy of M's lower half. Returns <M Z / tau, Z> over
 * the view's rows: summed over both views, sum_rc M_rc S_rc, twice
 * sum_rc dloss/dS_rc S_rc (the temperature's gradient). */
static double view_grad(const ctr_objective *obj, const nt_work *w, int v,
                      float *grad)
{
    const int b = (int)w->b, d = (int)w->d, n = (int)w->n;
    const float inv_tau = (float)(1.0 / obj->temperature);
    const float *m12 = w->s + b, *diag = w->s + (size_t)v * (size_t)b * (n + 1);
    const float *zv = w->z + (size_t)v * (size_t)b * d;
    const float *zo = w->z + (size_t)(1 - v) * (size_t)b * d;
    double gs;
    ctr__ssymm_upper(b, d, inv_tau, diag, n, zv, d, grad, d);
    cblas_sgemm(CblasRowMajor, v == 0 ? CblasNoTrans : CblasTrans,
                CblasNoTrans, b, d, b, inv_tau, m12, n, zo, d, 1.0f, grad, d);
    gs = ctr__rows_dot(grad, d, zv, d, b, d);
    if (obj->normalize)
        ctr__normalize_backward(grad, zv, d, 1.0f, w->inv + v * b, b, d);
    return gs;
}

/* The softmax's row sums (and the maxima, the statistics' sums): one
 * pass with a common shift, or the maxima first and then one of the two
 * exp passes. Returns the negatives' raw sum; *fast says whether the
 * gradient takes the one-exp form. CTR_E_NUMERIC in *rc on overflow. */
static double row_sums(const ctr_objective *obj, nt_work *w, int *fast,
                       int *rc)
{
    float lo = INFINITY, hi = -INFINITY;
    double neg_sum;
    int64_t r;
    *fast = 1;
    *rc = CTR_OK;
    if (w->labels == NULL && uniform_shift(obj))
        return exp_uniform(w, (float)(1.0 / obj->temperature));
    neg_sum = w->labels != NULL ? scan_groups(w) : scan_plain(w);
    for (r = 0; r < w->n; r++) {
        lo = w->m[r] < lo ? w->m[r] : lo;
        hi = w->m[r] > hi ? w->m[r] : hi;
    }
    /* finite inputs give non-finite logits only by overflow */
    if (!isfinite(lo) || !isfinite(hi)) {
        *rc = CTR_E_NUMERIC;
        return 0.0;
    }
    *fast = hi - lo <= SPREAD_MAX;
    if (*fast)
        exp_fast(w);
    else
        exp_slow(w);
    return neg_sum;
}

static int ntxent_run(ctr_objective *obj, const void *args,
                      ctr__obj_stats *st)
{
    const ctr__pair_args *a = (const ctr__pair_args *)args;
    const float inv_tau = (float)(1.0 / obj->temperature);
    double neg_sum, loss = 0.0, correct = 0.0, pos_sum = 0.0, pos_cnt = 0.0;
    double gs = 0.0;
    nt_work w;
    int64_t r, n;
    int fast, rc;
    prepare(obj, a, &w);
    n = w.n;
    ctr__ssyrk_upper((int)n, (int)w.d, inv_tau, w.z, (int)w.d, w.s, (int)n);
    neg_sum = row_sums(obj, &w, &fast, &rc);
    for (r = 0; r < n && rc == CTR_OK; r++) {
        loss += w.lse[r] - w.pos[r] / (double)w.np[r];
        correct += w.posmax[r] > w.negmax[r];
        pos_sum += w.pos[r];
        pos_cnt += (double)w.np[r];
    }
    if (rc != CTR_OK || !isfinite(loss))
        return ctr__fail(&obj->err, CTR_E_NUMERIC,
                         "logits overflow float (inputs too large for tau)");
    if (a->grad_a != NULL || a->grad_p != NULL) {
        if (fast)
            grad_fast(&w);
        else
            grad_slow(&w);
        subtract_targets(&w);
        if (a->grad_a != NULL)
            gs = view_grad(obj, &w, 0, a->grad_a);
        if (a->grad_p != NULL)
            gs += view_grad(obj, &w, 1, a->grad_p);
    }
    /* d loss / d tau = -(1 / tau) sum_rc dloss/dS_rc S_rc: both views */
    st->has_grad_temperature = a->grad_a != NULL && a->grad_p != NULL;
    st->grad_temperature = -0.5 * gs / obj->temperature;
    st->loss = loss / (double)n;
    st->accuracy = correct / (double)n;
    st->pos_sim = pos_sum / pos_cnt * obj->temperature;
    st->neg_sim = (double)n * (double)(n - 1) > pos_cnt
                      ? neg_sum / ((double)n * (double)(n - 1) - pos_cnt) *
                            obj->temperature
                      : 0.0;
    st->chance_loss = log((double)(w.dcl ? n - 2 : n - 1));
    return CTR_OK;
}

/* Listed in registry.c. */
const ctr__obj_kind ctr__obj_ntxent = {
    .id = CTR_OBJECTIVE_NTXENT,
    .name = "NTXENT",
    .params = PARAMS,
    .defaults = ntxent_defaults,
    .check = ntxent_check,
    .workspace = ntxent_workspace,
    .run = ntxent_run,
};

CTR_API int ctr_objective_ntxent(ctr_objective *obj, double *loss,
                                 const float *z1, int64_t ld1,
                                 const float *z2, int64_t ld2, int64_t b,
                                 int64_t d, const int64_t *groups,
                                 float *grad_z1, float *grad_z2)
{
    ctr__pair_args args = {z1, z2, ld1, ld2, b, d, groups, grad_z1, grad_z2};
    return ctr__obj_call(obj, &ctr__obj_ntxent, "ctr_objective_ntxent",
                         &args, loss);
}
