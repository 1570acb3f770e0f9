/*
 * optimizer.c - the public ctr_optimizer handle: SGD / AdamW / LARS state
 * over a flat parameter array split into tensors ("segments"), tunables,
 * the cosine schedule and checkpoints. The update rules are documented in
 * contrastive/optimizer.h.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "common/kernels.h" /* ctr__vfinite */
#include "common/parallel.h"
#include "common/params.h"
#include "common/persist.h"
#include "encoder/encoder_tensors.h"
#include "common/vec.h"

#define SECTION_HEAD CTR__FOURCC('O', 'P', 'T', 'H')
#define SECTION_STATE CTR__FOURCC('O', 'P', 'T', 'S')
#define N_REAL 8
#define MAX_REAL 1e9
#define BELOW_ONE (1.0 - DBL_EPSILON / 2)

typedef struct segment {
    int64_t offset, count;
    int32_t excluded; /* bias / normalisation tensor */
} segment;

struct ctr_optimizer {
    ctr__alloc alloc;
    ctr__error err;
    int32_t kind;
    ctr_encoder *enc; /* bound encoder or NULL */
    int64_t n;
    segment *segs;
    int64_t n_segs;
    float *state; /* SGD/LARS: momentum buffer (n); AdamW: m then v (2n) */
    int64_t state_floats;
    int64_t buf_init; /* the momentum buffer holds a value */
    int64_t step;
    /* real tunables, in this order (also the checkpoint order) */
    double lr, momentum, dampening, wd, beta1, beta2, eps, trust;
    int64_t nesterov, exclude;
};

/* ---- tunables ------------------------------------------------------------ */

typedef ctr__param tunable; /* common/params.h */

#define GROUP "CTR_OPTIMIZER_P_"

static const tunable TUNABLES[] = {
    {CTR_OPTIMIZER_P_LR, 0, 0.0, MAX_REAL, 0},
    {CTR_OPTIMIZER_P_MOMENTUM, 0, 0.0, BELOW_ONE, 0},
    {CTR_OPTIMIZER_P_DAMPENING, 0, 0.0, 1.0, 0},
    {CTR_OPTIMIZER_P_WEIGHT_DECAY, 0, 0.0, MAX_REAL, 0},
    {CTR_OPTIMIZER_P_BETA1, 0, 0.0, BELOW_ONE, 0},
    {CTR_OPTIMIZER_P_BETA2, 0, 0.0, BELOW_ONE, 0},
    {CTR_OPTIMIZER_P_EPS, 0, DBL_MIN, 1.0, 0},
    {CTR_OPTIMIZER_P_TRUST_COEF, 0, DBL_MIN, MAX_REAL, 0},
    {CTR_OPTIMIZER_P_NESTEROV, 1, 0.0, 1.0, 0},
    {CTR_OPTIMIZER_P_EXCLUDE_BIAS_NORM, 1, 0.0, 1.0, 0},
    {CTR_OPTIMIZER_P_STEP, 1, 0.0, 9.2e18, 1},
};

static const tunable *find_tunable(int32_t param)
{
    size_t i;
    for (i = 0; i < sizeof(TUNABLES) / sizeof(TUNABLES[0]); i++)
        if (TUNABLES[i].id == param)
            return &TUNABLES[i];
    return NULL;
}

static double *real_slot(ctr_optimizer *opt, int32_t param)
{
    switch (param) {
    case CTR_OPTIMIZER_P_LR: return &opt->lr;
    case CTR_OPTIMIZER_P_MOMENTUM: return &opt->momentum;
    case CTR_OPTIMIZER_P_DAMPENING: return &opt->dampening;
    case CTR_OPTIMIZER_P_WEIGHT_DECAY: return &opt->wd;
    case CTR_OPTIMIZER_P_BETA1: return &opt->beta1;
    case CTR_OPTIMIZER_P_BETA2: return &opt->beta2;
    case CTR_OPTIMIZER_P_EPS: return &opt->eps;
    case CTR_OPTIMIZER_P_TRUST_COEF: return &opt->trust;
    default: return NULL;
    }
}

static int64_t *int_slot(ctr_optimizer *opt, int32_t param)
{
    switch (param) {
    case CTR_OPTIMIZER_P_NESTEROV: return &opt->nesterov;
    case CTR_OPTIMIZER_P_EXCLUDE_BIAS_NORM: return &opt->exclude;
    case CTR_OPTIMIZER_P_STEP: return &opt->step;
    default: return NULL;
    }
}

static void set_defaults(ctr_optimizer *opt)
{
    opt->lr = 0.001;
    opt->momentum = opt->kind == CTR_OPTIMIZER_LARS ? 0.9 : 0.0;
    opt->dampening = 0.0;
    opt->wd = opt->kind == CTR_OPTIMIZER_ADAMW ? 0.01 : 0.0;
    opt->beta1 = 0.9;
    opt->beta2 = 0.999;
    opt->eps = 1e-8;
    opt->trust = 0.001;
    opt->nesterov = 0;
    opt->exclude = opt->kind == CTR_OPTIMIZER_LARS;
}

CTR_API int ctr_optimizer_param_bounds(int32_t param, double *lo, double *hi)
{
    const tunable *t = find_tunable(param);
    if (t == NULL || lo == NULL || hi == NULL)
        return CTR_E_INVALID_ARG;
    *lo = t->lo;
    *hi = t->hi;
    return CTR_OK;
}

/* Stores a value the rule of common/params.h accepted. */
static void store_tunable(ctr_optimizer *opt, const tunable *t, double v)
{
    if (t->is_int)
        *int_slot(opt, t->id) = (int64_t)v;
    else
        *real_slot(opt, t->id) = v;
}

CTR_API int ctr_optimizer_set_f64(ctr_optimizer *opt, int32_t param, double value)
{
    const tunable *t = find_tunable(param);
    int rc;
    if (opt == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&opt->err);
    rc = ctr__param_set_f64(&opt->err, GROUP, param, t, value);
    if (rc == CTR_OK)
        store_tunable(opt, t, value);
    return rc;
}

CTR_API int ctr_optimizer_set_i64(ctr_optimizer *opt, int32_t param, int64_t value)
{
    const tunable *t = find_tunable(param);
    double v;
    int rc;
    if (opt == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&opt->err);
    rc = ctr__param_set_i64(&opt->err, GROUP, param, t, value, &v);
    if (rc == CTR_OK)
        store_tunable(opt, t, v);
    return rc;
}

CTR_API int ctr_optimizer_get_f64(const ctr_optimizer *opt, int32_t param, double *value)
{
    ctr_optimizer *o = (ctr_optimizer *)opt;
    const tunable *t = find_tunable(param);
    int rc;
    if (opt == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__param_get(&opt->err, GROUP, param, t, value, 0);
    if (rc == CTR_OK)
        *value = t->is_int ? (double)*int_slot(o, param) : *real_slot(o, param);
    return rc;
}

CTR_API int ctr_optimizer_get_i64(const ctr_optimizer *opt, int32_t param, int64_t *value)
{
    ctr_optimizer *o = (ctr_optimizer *)opt;
    const tunable *t = find_tunable(param);
    int rc;
    if (opt == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__param_get(&opt->err, GROUP, param, t, value, 1);
    if (rc == CTR_OK)
        *value = *int_slot(o, param);
    return rc;
}

/* ---- lifecycle ----------------------------------------------------------- */

static int64_t state_floats_for(int32_t kind, int64_t n)
{
    return kind == CTR_OPTIMIZER_ADAMW ? 2 * n : n;
}

static void free_segments(ctr_optimizer *opt)
{
    ctr__free(&opt->alloc, opt->segs, (size_t)opt->n_segs * sizeof(segment));
    opt->segs = NULL;
    opt->n_segs = 0;
}

CTR_API void ctr_optimizer_destroy(ctr_optimizer *opt)
{
    ctr__alloc a;
    if (opt == NULL)
        return;
    a = opt->alloc;
    free_segments(opt);
    ctr__free(&a, opt->state, (size_t)opt->state_floats * sizeof(float));
    ctr__free(&a, opt, sizeof(*opt));
}

/* A new optimizer with zero state and one segment over all n floats. */
static int optimizer_new(ctr_optimizer **out, int32_t kind, int64_t n, const ctr__alloc *a,
                         ctr__error *err)
{
    ctr_optimizer *opt;
    size_t bytes;
    if (kind != CTR_OPTIMIZER_SGD && kind != CTR_OPTIMIZER_ADAMW && kind != CTR_OPTIMIZER_LARS)
        return ctr__fail(err, CTR_E_INVALID_ARG, "kind %ld is no CTR_OPTIMIZER_* kind",
                         (long)kind);
    if (n < 1)
        return ctr__fail(err, CTR_E_INVALID_ARG, "n_params must be >= 1 (got %lld)",
                         (long long)n);
    if (ctr__matrix_bytes(&bytes, state_floats_for(kind, 1), n, sizeof(float)) != CTR_OK)
        return ctr__fail(err, CTR_E_OVERFLOW, "n_params %lld: the state's bytes overflow",
                         (long long)n);
    opt = (ctr_optimizer *)ctr__calloc(a, sizeof(*opt));
    if (opt == NULL)
        return CTR_E_NOMEM;
    opt->alloc = *a;
    opt->kind = kind;
    opt->n = n;
    opt->state_floats = state_floats_for(kind, n);
    opt->state = (float *)ctr__calloc(a, bytes);
    opt->segs = (segment *)ctr__calloc(a, sizeof(segment));
    opt->n_segs = 1;
    if (opt->state == NULL || opt->segs == NULL) {
        ctr_optimizer_destroy(opt);
        return CTR_E_NOMEM;
    }
    opt->segs[0].count = n;
    set_defaults(opt);
    *out = opt;
    return CTR_OK;
}

CTR_API int ctr_optimizer_create(ctr_optimizer **out, int32_t kind, int64_t n_params,
                                 const ctr_allocator *alloc)
{
    ctr__alloc a;
    ctr__error err;
    int rc = ctr__create_begin(&a, &err, alloc, out);
    if (rc == CTR_OK)
        rc = optimizer_new(out, kind, n_params, &a, &err);
    return ctr__create_report(alloc, rc, "ctr_optimizer_create", &err);
}

/* Replaces the segments by the encoder's tensors. */
static int bind_encoder(ctr_optimizer *opt, ctr_encoder *enc)
{
    int64_t i, count = ctr__encoder_tensor_count(enc);
    segment *segs = (segment *)ctr__malloc(&opt->alloc, (size_t)count * sizeof(segment));
    if (segs == NULL)
        return CTR_E_NOMEM;
    for (i = 0; i < count; i++) {
        int32_t role;
        ctr__encoder_tensor(enc, i, &segs[i].offset, &segs[i].count, &role);
        segs[i].excluded = role != CTR_TENSOR_WEIGHT;
    }
    free_segments(opt);
    opt->segs = segs;
    opt->n_segs = count;
    opt->enc = enc;
    return CTR_OK;
}

static int64_t encoder_param_count(ctr_encoder *enc)
{
    float *p, *g;
    int64_t n;
    ctr__encoder_arrays(enc, &p, &g, &n);
    return n;
}

CTR_API int ctr_optimizer_create_for_encoder(ctr_optimizer **out, int32_t kind,
                                             ctr_encoder *enc,
                                             const ctr_allocator *alloc)
{
    ctr__alloc a;
    ctr__error err;
    ctr_optimizer *opt = NULL;
    int rc = CTR_OK;
    if (ctr__alloc_init(&a, alloc) != CTR_OK)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&err);
    if (out == NULL || enc == NULL)
        rc = ctr__fail(&err, CTR_E_INVALID_ARG, "%s is NULL",
                       out == NULL ? "out" : "enc");
    else if (encoder_param_count(enc) < 1)
        rc = ctr__fail(&err, CTR_E_SHAPE, "enc has no parameters");
    if (rc == CTR_OK)
        rc = optimizer_new(&opt, kind, encoder_param_count(enc), &a, &err);
    if (rc == CTR_OK && (rc = bind_encoder(opt, enc)) != CTR_OK)
        ctr_optimizer_destroy(opt);
    if (rc == CTR_OK)
        *out = opt;
    return ctr__create_report(alloc, rc, "ctr_optimizer_create_for_encoder", &err);
}

CTR_API int ctr_optimizer_set_segments(ctr_optimizer *opt, const int64_t *sizes,
                                       const int32_t *excluded, int64_t count)
{
    segment *segs;
    int64_t i, total = 0;
    if (opt == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&opt->err);
    if (sizes == NULL || excluded == NULL || count < 1)
        return ctr__fail(&opt->err, CTR_E_INVALID_ARG, "need sizes, excluded and count >= 1");
    if (opt->enc != NULL)
        return ctr__fail(&opt->err, CTR_E_INVALID_ARG,
                         "a bound optimizer takes its tensors from the encoder");
    for (i = 0; i < count; i++) {
        if (sizes[i] < 1 || (excluded[i] != 0 && excluded[i] != 1))
            return ctr__fail(&opt->err, CTR_E_INVALID_ARG, "segment %lld: bad size or flag",
                             (long long)i);
        if (sizes[i] > opt->n - total)
            return ctr__fail(&opt->err, CTR_E_SHAPE, "segments exceed %lld floats",
                             (long long)opt->n);
        total += sizes[i];
    }
    if (total != opt->n)
        return ctr__fail(&opt->err, CTR_E_SHAPE, "segments cover %lld of %lld floats",
                         (long long)total, (long long)opt->n);
    segs = (segment *)ctr__malloc(&opt->alloc, (size_t)count * sizeof(segment));
    if (segs == NULL)
        return ctr__fail(&opt->err, CTR_E_NOMEM, "cannot allocate %lld segments",
                         (long long)count);
    for (i = 0, total = 0; i < count; i++) {
        segs[i].offset = total;
        segs[i].count = sizes[i];
        segs[i].excluded = excluded[i];
        total += sizes[i];
    }
    free_segments(opt);
    opt->segs = segs;
    opt->n_segs = count;
    return CTR_OK;
}

CTR_API int ctr_optimizer_reset(ctr_optimizer *opt)
{
    if (opt == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&opt->err);
    memset(opt->state, 0, (size_t)opt->state_floats * sizeof(float));
    opt->buf_init = 0;
    opt->step = 0;
    return CTR_OK;
}

/* ---- the update rules ---------------------------------------------------- */

static int decays(const ctr_optimizer *opt, const segment *s)
{
    return !(opt->exclude && s->excluded);
}

/* The SGD constants of one step for one segment. */
typedef struct sgd_coef {
    float lr, mu, wd, keep, nest;
    int first, nesterov;
} sgd_coef;

/* SGD on floats [0, n) of a segment: branch-free loops per case (and
 * restrict pointers: parameters, gradients and state never overlap) so
 * that -O2 vectorises them. */
static void sgd_block(float *restrict p, const float *restrict g, float *restrict buf,
                      const sgd_coef *c, int64_t n)
{
    const float lr = c->lr, mu = c->mu, wd = c->wd, keep = c->keep, nest = c->nest;
    int64_t i;
    if (mu == 0.0f) {
        CTR__VEC_FOR(i, n, p[i] = p[i] - lr * (g[i] + wd * p[i]));
    } else if (c->first) {
        CTR__VEC_FOR(i, n, buf[i] = g[i] + wd * p[i];
                     p[i] = p[i] - lr * (buf[i] + nest * buf[i]));
    } else if (c->nesterov) {
        CTR__VEC_FOR(i, n, float d = g[i] + wd * p[i]; buf[i] = buf[i] * mu + keep * d;
                     p[i] = p[i] - lr * (d + mu * buf[i]));
    } else {
        CTR__VEC_FOR(i, n, buf[i] = buf[i] * mu + keep * (g[i] + wd * p[i]);
                     p[i] = p[i] - lr * buf[i]);
    }
}

/* SGD on floats [at, at + n) of segment s. */
static void sgd_range(const ctr_optimizer *opt, const segment *s, float *p, const float *g,
                      int64_t at, int64_t n)
{
    sgd_coef c;
    c.lr = (float)opt->lr;
    c.mu = (float)opt->momentum;
    c.wd = decays(opt, s) ? (float)opt->wd : 0.0f;
    c.keep = (float)(1.0 - opt->dampening);
    c.nest = opt->nesterov ? c.mu : 0.0f;
    c.first = !opt->buf_init;
    c.nesterov = opt->nesterov != 0;
    sgd_block(p + s->offset + at, g + s->offset + at, opt->state + s->offset + at, &c, n);
}

/* The AdamW constants of one step for one segment. */
typedef struct adamw_coef {
    float b1, b2, one_b1, one_b2, decay, step_size, bc2_sqrt, eps;
} adamw_coef;

/* AdamW on floats [0, n) of a segment (decoupled decay, then the moments
 * and the update), in one pass that gcc -O2 vectorises: the coefficients
 * in locals, and this file built with -fno-math-errno (Makefile) so that
 * sqrtf is the sqrtps instruction (v >= 0, and the same correctly rounded
 * result as the scalar sqrtss). */
static void adamw_block(float *restrict p, const float *restrict g, float *restrict m,
                        float *restrict v, const adamw_coef *c, int64_t n)
{
    const float decay = c->decay, b1 = c->b1, b2 = c->b2, one_b1 = c->one_b1;
    const float one_b2 = c->one_b2, step = c->step_size, bc2 = c->bc2_sqrt, eps = c->eps;
    int64_t i;
    CTR__VEC_FOR(i, n, float pd = p[i] * decay; float mi = m[i] * b1 + one_b1 * g[i];
                 float vi = v[i] * b2 + one_b2 * g[i] * g[i]; m[i] = mi; v[i] = vi;
                 p[i] = pd - step * (mi / (sqrtf(vi) / bc2 + eps)));
}

/* AdamW on floats [at, at + n) of segment s. */
static void adamw_range(const ctr_optimizer *opt, const segment *s, float *p, const float *g,
                        int64_t at, int64_t n)
{
    double t = (double)opt->step;
    int64_t o = s->offset + at;
    adamw_coef c;
    c.b1 = (float)opt->beta1;
    c.b2 = (float)opt->beta2;
    c.decay = decays(opt, s) ? (float)(1.0 - opt->lr * opt->wd) : 1.0f;
    c.step_size = (float)(opt->lr / (1.0 - pow(opt->beta1, t)));
    c.bc2_sqrt = (float)sqrt(1.0 - pow(opt->beta2, t));
    c.eps = (float)opt->eps;
    c.one_b1 = (float)(1.0 - opt->beta1);
    c.one_b2 = (float)(1.0 - opt->beta2);
    adamw_block(p + o, g + o, opt->state + o, opt->state + opt->n + o, &c, n);
}

/* The first segment that ends after float `at` (segments cover [0, n) in
 * order). */
static int64_t segment_at(const ctr_optimizer *opt, int64_t at)
{
    int64_t lo = 0, hi = opt->n_segs - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (opt->segs[mid].offset + opt->segs[mid].count > at)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* SGD or AdamW over the whole array: blocks of CTR__PARALLEL_BLOCK floats
 * over the threads of the caller's region (CTR__FOR, parallel.h), each
 * block cut at the segments' borders. Elementwise, so the same bits at
 * any thread count and as segment by segment. */
static void elementwise_blocks(const ctr_optimizer *opt, float *p, const float *g)
{
    int64_t b, nblocks = ctr__par_block_count(opt->n);
    CTR__FOR
    for (b = 0; b < nblocks; b++) {
        int64_t lo = b * CTR__PARALLEL_BLOCK, hi = lo + ctr__par_block_len(b, opt->n);
        int64_t i;
        for (i = segment_at(opt, lo); i < opt->n_segs && opt->segs[i].offset < hi; i++) {
            const segment *s = &opt->segs[i];
            int64_t a = lo > s->offset ? lo - s->offset : 0;
            int64_t e = hi < s->offset + s->count ? hi - s->offset : s->count;
            if (opt->kind == CTR_OPTIMIZER_SGD)
                sgd_range(opt, s, p, g, a, e - a);
            else
                adamw_range(opt, s, p, g, a, e - a);
        }
    }
}

/* The finite check of the gradient and (when it passes) the elementwise
 * step in one parallel region: the blocks' checks, a barrier, the
 * update. 1 when every gradient was finite (the step was taken), 0 when
 * nothing was written. opt->step is the step's number already. */
static int checked_elementwise_step(const ctr_optimizer *opt, float *p, const float *g)
{
    int64_t nblocks = ctr__par_block_count(opt->n);
    int bad = 0;
    CTR__PARALLEL_REGION(5 * opt->n)
    {
        int64_t b;
#if defined(CTR_OPENMP)
#pragma omp for schedule(static) reduction(|| : bad)
#endif
        for (b = 0; b < nblocks; b++)
            bad = bad || !ctr__vfinite(g + b * CTR__PARALLEL_BLOCK, ctr__par_block_len(b, opt->n));
        if (!bad) /* the reduction's result, after its barrier */
            elementwise_blocks(opt, p, g);
    }
    return !bad;
}

static void lars_segment(ctr_optimizer *opt, const segment *s, float *restrict p,
                         const float *restrict g)
{
    int adapt = decays(opt, s);
    float wd = adapt ? (float)opt->wd : 0.0f, mu = (float)opt->momentum;
    float *restrict v = opt->state + s->offset, scaled;
    double trust = 1.0;
    int64_t i;
    if (adapt) {
        double wn = 0.0, gn = 0.0;
        for (i = 0; i < s->count; i++) {
            float d = g[i] + wd * p[i];
            wn += (double)p[i] * p[i];
            gn += (double)d * d;
        }
        if (wn > 0.0 && gn > 0.0)
            trust = opt->trust * sqrt(wn) / sqrt(gn);
    }
    scaled = (float)(opt->lr * trust);
    if (opt->nesterov) {
        CTR__VEC_FOR(i, s->count, float d = g[i] + wd * p[i]; v[i] = mu * v[i] + scaled * d;
                     p[i] -= mu * v[i] + scaled * d);
    } else {
        CTR__VEC_FOR(i, s->count, v[i] = mu * v[i] + scaled * (g[i] + wd * p[i]);
                     p[i] -= v[i]);
    }
}

static int check_combination(ctr_optimizer *opt)
{
    if (opt->kind == CTR_OPTIMIZER_SGD && opt->nesterov &&
        (opt->momentum <= 0.0 || opt->dampening != 0.0))
        return ctr__fail(&opt->err, CTR_E_INVALID_ARG,
                         "Nesterov momentum needs momentum > 0 and dampening 0");
    return CTR_OK;
}

/* The step on parameters p with gradients g (checked finite here; the
 * caller checked p where it must): LARS, or the elementwise rules with
 * the check in their parallel region (checked_elementwise_step). On a
 * gradient that is not finite, nothing is written and the check's
 * message (the first bad value, "what") is set. */
static int apply_step(ctr_optimizer *opt, float *p, const float *g, const char *what)
{
    int64_t i;
    int rc;
    opt->step++;
    if (opt->kind == CTR_OPTIMIZER_LARS) {
        if ((rc = ctr__par_check_finite(&opt->err, g, (size_t)opt->n, what)) != CTR_OK) {
            opt->step--;
            return rc;
        }
        for (i = 0; i < opt->n_segs; i++)
            lars_segment(opt, &opt->segs[i], p + opt->segs[i].offset, g + opt->segs[i].offset);
    } else if (!checked_elementwise_step(opt, p, g)) {
        opt->step--;
        return ctr__check_finite(&opt->err, g, (size_t)opt->n, what);
    }
    if (opt->momentum != 0.0)
        opt->buf_init = 1;
    return CTR_OK;
}

CTR_API int ctr_optimizer_step(ctr_optimizer *opt)
{
    float *p, *g;
    int64_t n;
    int rc;
    if (opt == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&opt->err);
    if (opt->enc == NULL)
        return ctr__fail(&opt->err, CTR_E_STAGE,
                         "not bound to an encoder: use ctr_optimizer_step_buffer");
    ctr__encoder_arrays(opt->enc, &p, &g, &n);
    if (n != opt->n)
        return ctr__fail(&opt->err, CTR_E_SHAPE,
                         "the encoder now has %lld parameters, the optimizer %lld",
                         (long long)n, (long long)opt->n);
    if ((rc = check_combination(opt)) != CTR_OK)
        return rc;
    return apply_step(opt, p, g, "gradient");
}

CTR_API int ctr_optimizer_step_buffer(ctr_optimizer *opt, float *params,
                                      const float *grads, int64_t n)
{
    int rc;
    if (opt == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&opt->err);
    if ((rc = ctr__check_ptr(&opt->err, params, "params")) != CTR_OK ||
        (rc = ctr__check_ptr(&opt->err, grads, "grads")) != CTR_OK)
        return rc;
    if (n != opt->n)
        return ctr__fail(&opt->err, CTR_E_SHAPE, "n must be %lld (got %lld)",
                         (long long)opt->n, (long long)n);
    if ((rc = check_combination(opt)) != CTR_OK ||
        (rc = ctr__par_check_finite(&opt->err, params, (size_t)n, "params")) != CTR_OK)
        return rc;
    return apply_step(opt, params, grads, "grads");
}

/* ---- schedule ------------------------------------------------------------ */

CTR_API int ctr_optimizer_cosine_lr(double *lr, int64_t step, int64_t warmup_steps,
                                    int64_t total_steps, double base_lr, double final_lr)
{
    const double pi = 3.14159265358979323846;
    double t;
    if (lr == NULL || step < 0 || warmup_steps < 0 || total_steps <= warmup_steps ||
        !(base_lr >= 0.0) || !(final_lr >= 0.0) || !isfinite(base_lr) || !isfinite(final_lr))
        return CTR_E_INVALID_ARG;
    if (step < warmup_steps) {
        *lr = base_lr * (double)(step + 1) / (double)warmup_steps;
        return CTR_OK;
    }
    t = (double)(step - warmup_steps) / (double)(total_steps - warmup_steps);
    if (t > 1.0)
        t = 1.0;
    *lr = final_lr + (base_lr - final_lr) * 0.5 * (1.0 + cos(pi * t));
    return CTR_OK;
}

/* ---- checkpoints --------------------------------------------------------- */

static void write_optimizer(ctr__ckw *w, const void *obj)
{
    const ctr_optimizer *opt = (const ctr_optimizer *)obj;
    const double reals[N_REAL] = {opt->lr, opt->momentum, opt->dampening, opt->wd,
                                  opt->beta1, opt->beta2, opt->eps, opt->trust};
    int64_t i;
    int k;
    ctr__ckw_begin_section(w, SECTION_HEAD);
    ctr__ckw_put_u32(w, (uint32_t)opt->kind);
    ctr__ckw_put_i64(w, opt->n);
    ctr__ckw_put_i64(w, opt->step);
    ctr__ckw_put_i64(w, opt->buf_init);
    for (k = 0; k < N_REAL; k++)
        ctr__ckw_put_f64(w, reals[k]);
    ctr__ckw_put_i64(w, opt->nesterov);
    ctr__ckw_put_i64(w, opt->exclude);
    ctr__ckw_put_i64(w, opt->n_segs);
    for (i = 0; i < opt->n_segs; i++) {
        ctr__ckw_put_i64(w, opt->segs[i].count);
        ctr__ckw_put_i64(w, opt->segs[i].excluded);
    }
    ctr__ckw_end_section(w);
    ctr__ckw_begin_section(w, SECTION_STATE);
    ctr__ckw_put_i64(w, opt->state_floats);
    ctr__ckw_put_f32_array(w, opt->state, (size_t)opt->state_floats);
    ctr__ckw_end_section(w);
}

CTR_API int ctr_optimizer_save(const ctr_optimizer *opt, const char *path)
{
    if (opt == NULL)
        return CTR_E_INVALID_ARG;
    return ctr__persist_save_const(opt, write_optimizer, CTR__CKPT_KIND_OPTIMIZER, path,
                                   &opt->alloc, &opt->err);
}

CTR_API int ctr_optimizer_save_buffer(const ctr_optimizer *opt, void *buf, size_t cap,
                                      size_t *size_out)
{
    if (opt == NULL)
        return CTR_E_INVALID_ARG;
    return ctr__persist_save_buffer_const(opt, write_optimizer,
                                          CTR__CKPT_KIND_OPTIMIZER, buf, cap, size_out,
                                          &opt->err);
}

/* Applies the saved tunables through the setters' bounds. */
static int restore_tunables(ctr_optimizer *opt, const double *reals, int64_t nesterov,
                            int64_t exclude)
{
    static const int32_t order[N_REAL] = {
        CTR_OPTIMIZER_P_LR,    CTR_OPTIMIZER_P_MOMENTUM, CTR_OPTIMIZER_P_DAMPENING,
        CTR_OPTIMIZER_P_WEIGHT_DECAY, CTR_OPTIMIZER_P_BETA1, CTR_OPTIMIZER_P_BETA2,
        CTR_OPTIMIZER_P_EPS,   CTR_OPTIMIZER_P_TRUST_COEF};
    int k;
    for (k = 0; k < N_REAL; k++)
        if (ctr_optimizer_set_f64(opt, order[k], reals[k]) != CTR_OK)
            return CTR_E_CORRUPT;
    if (ctr_optimizer_set_i64(opt, CTR_OPTIMIZER_P_NESTEROV, nesterov) != CTR_OK ||
        ctr_optimizer_set_i64(opt, CTR_OPTIMIZER_P_EXCLUDE_BIAS_NORM, exclude) != CTR_OK)
        return CTR_E_CORRUPT;
    return CTR_OK;
}

/* The head section, read before anything is allocated for the state. */
typedef struct saved_head {
    int32_t kind;
    int64_t n, step, buf_init, nesterov, exclude, n_segs;
    double reals[N_REAL];
    int64_t *sizes; /* n_segs sizes then n_segs flags (as int32) */
    size_t bytes;
} saved_head;

/* Everything an optimizer of h's shape allocates while it loads (the
 * handle, its state, the segment table twice: read, then set), taken from
 * the load limit before anything is allocated. */
static int reserve_optimizer(ctr__ckr *r, const saved_head *h)
{
    size_t state, segs, total;
    if (ctr__matrix_bytes(&state, state_floats_for(CTR_OPTIMIZER_SGD, h->n),
                          h->kind == CTR_OPTIMIZER_ADAMW ? 2 : 1,
                          sizeof(float)) != CTR_OK ||
        ctr__matrix_bytes(&segs, h->n_segs, 1,
                          sizeof(segment) + sizeof(int64_t) + sizeof(int32_t)) != CTR_OK ||
        ctr__add_size(&total, state, segs) != CTR_OK ||
        ctr__add_size(&total, total, sizeof(ctr_optimizer)) != CTR_OK)
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                             "optimizer: %lld parameters in %lld segments "
                             "overflow", (long long)h->n, (long long)h->n_segs);
    return ctr__ckr_reserve(r, total, "optimizer: %lld parameters in %lld segments",
                            (long long)h->n, (long long)h->n_segs);
}

static int read_head(ctr__ckr *r, saved_head *h, const ctr__alloc *a)
{
    int32_t *flags;
    int64_t i;
    size_t seg_bytes;
    int k, rc = ctr__ckr_begin_section(r, SECTION_HEAD, NULL);
    if (rc != CTR_OK)
        return rc;
    h->kind = (int32_t)ctr__ckr_get_u32(r);
    h->n = ctr__ckr_get_i64(r);
    h->step = ctr__ckr_get_i64(r);
    h->buf_init = ctr__ckr_get_i64(r);
    for (k = 0; k < N_REAL; k++)
        h->reals[k] = ctr__ckr_get_f64(r);
    h->nesterov = ctr__ckr_get_i64(r);
    h->exclude = ctr__ckr_get_i64(r);
    h->n_segs = ctr__ckr_get_i64(r);
    if (r->status != CTR_OK)
        return r->status;
    if (h->n < 1 || h->step < 0 || (h->buf_init != 0 && h->buf_init != 1) ||
        h->n_segs < 1 || h->n_segs > h->n)
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                             "optimizer: %lld parameters, %lld segments, step "
                             "%lld or buffer flag %lld out of range",
                             (long long)h->n, (long long)h->n_segs,
                             (long long)h->step, (long long)h->buf_init);
    /* Each segment is two i64 in the file: the table must be there. */
    if (ctr__matrix_bytes(&seg_bytes, h->n_segs, 2, sizeof(int64_t)) != CTR_OK ||
        (uint64_t)seg_bytes != ctr__ckr_remaining(r))
        return ctr__ckr_fail(r, CTR_E_CORRUPT,
                             "optimizer: %lld segments do not fill the %llu "
                             "bytes left of section 'OPTH'", (long long)h->n_segs,
                             (unsigned long long)ctr__ckr_remaining(r));
    if (reserve_optimizer(r, h) != CTR_OK)
        return r->status;
    h->bytes = (size_t)h->n_segs * (sizeof(int64_t) + sizeof(int32_t));
    h->sizes = (int64_t *)ctr__malloc(a, h->bytes);
    if (h->sizes == NULL)
        return CTR_E_NOMEM;
    flags = (int32_t *)(h->sizes + h->n_segs);
    for (i = 0; i < h->n_segs; i++) {
        int64_t f;
        h->sizes[i] = ctr__ckr_get_i64(r);
        f = ctr__ckr_get_i64(r);
        flags[i] = f == 0 || f == 1 ? (int32_t)f : -1;
    }
    return ctr__ckr_end_section(r);
}

/* Builds the optimizer described by h (tunables through the setters'
 * checks; segments from the file or from enc). */
static int build_from_head(ctr_optimizer **out, const saved_head *h, ctr_encoder *enc,
                           const ctr__alloc *a)
{
    ctr_optimizer *opt = NULL;
    int rc = optimizer_new(&opt, h->kind, h->n, a, NULL);
    if (rc == CTR_E_INVALID_ARG || rc == CTR_E_OVERFLOW)
        rc = CTR_E_CORRUPT;
    if (rc == CTR_OK)
        rc = restore_tunables(opt, h->reals, h->nesterov, h->exclude);
    if (rc == CTR_OK) {
        rc = ctr_optimizer_set_segments(opt, h->sizes, (const int32_t *)(h->sizes + h->n_segs),
                                        h->n_segs);
        if (rc != CTR_OK && rc != CTR_E_NOMEM)
            rc = CTR_E_CORRUPT;
    }
    if (rc == CTR_OK && enc != NULL)
        rc = bind_encoder(opt, enc);
    if (rc != CTR_OK) {
        ctr_optimizer_destroy(opt);
        return rc;
    }
    opt->step = h->step;
    opt->buf_init = h->buf_init;
    *out = opt;
    return CTR_OK;
}

static int read_optimizer(ctr__ckr *r, void *out_ptr, const ctr__alloc *a, void *ctx)
{
    ctr_optimizer **out = (ctr_optimizer **)out_ptr;
    ctr_encoder *enc = (ctr_encoder *)ctx;
    ctr_optimizer *opt = NULL;
    saved_head h;
    int64_t count = 0;
    int rc;
    memset(&h, 0, sizeof(h));
    rc = read_head(r, &h, a);
    if (rc == CTR_OK)
        rc = ctr__ckr_begin_section(r, SECTION_STATE, NULL);
    if (rc == CTR_OK) {
        size_t bytes;
        count = ctr__ckr_get_i64(r);
        if (r->status != CTR_OK ||
            ctr__matrix_bytes(&bytes, h.n, h.kind == CTR_OPTIMIZER_ADAMW ? 2 : 1,
                              sizeof(float)) != CTR_OK ||
            count != (int64_t)(bytes / sizeof(float)) ||
            ctr__ckr_remaining(r) != (uint64_t)bytes)
            rc = ctr__ckr_fail(r, CTR_E_CORRUPT,
                               "optimizer: section 'OPTS' declares %lld floats "
                               "and holds %llu bytes for %lld parameters",
                               (long long)count,
                               (unsigned long long)ctr__ckr_remaining(r),
                               (long long)h.n);
    }
    if (rc == CTR_OK && enc != NULL && encoder_param_count(enc) != h.n)
        rc = CTR_E_SHAPE;
    if (rc == CTR_OK)
        rc = build_from_head(&opt, &h, enc, a);
    ctr__free(a, h.sizes, h.bytes);
    if (rc == CTR_OK) {
        ctr__ckr_get_f32_array(r, opt->state, (size_t)opt->state_floats);
        rc = ctr__ckr_end_section(r);
    }
    if (rc == CTR_OK &&
        ctr__check_finite(NULL, opt->state, (size_t)opt->state_floats, "") != CTR_OK)
        rc = CTR_E_CORRUPT;
    if (rc == CTR_OK)
        rc = ctr__ckr_finish(r);
    if (rc != CTR_OK) {
        ctr_optimizer_destroy(opt);
        return rc;
    }
    *out = opt;
    return CTR_OK;
}

CTR_API int ctr_optimizer_load(ctr_optimizer **out, const char *path, ctr_encoder *enc,
                               const ctr_allocator *alloc)
{
    return ctr__persist_load(out, read_optimizer, enc, CTR__CKPT_KIND_OPTIMIZER,
                             path, alloc);
}

CTR_API int ctr_optimizer_load_buffer(ctr_optimizer **out, const void *buf,
                                      size_t len, ctr_encoder *enc,
                                      const ctr_allocator *alloc)
{
    return ctr__persist_load_buffer(out, read_optimizer, enc,
                                    CTR__CKPT_KIND_OPTIMIZER, buf, len, alloc);
}

CTR_API const char *ctr_optimizer_last_error(const ctr_optimizer *opt)
{
    return ctr__error_message(opt == NULL ? NULL : &opt->err);
}

/* ---- in a training-state file (state/state.c) ----------------------------- */

static const ctr__alloc *optimizer_alloc_of(const void *h)
{
    return &((const ctr_optimizer *)h)->alloc;
}

/* The reload is bound to the handle's encoder (whose architecture a
 * state load keeps), so the exchanged content stays bound to it. */
static void *optimizer_ctx_of(const void *h)
{
    return ((const ctr_optimizer *)h)->enc;
}

static int optimizer_fits(const void *h, const void *loaded, ctr__error *err)
{
    const ctr_optimizer *a = (const ctr_optimizer *)h;
    const ctr_optimizer *b = (const ctr_optimizer *)loaded;
    if (a->kind != b->kind)
        return ctr__fail(err, CTR_E_INCOMPATIBLE, "it is an optimizer of "
                         "kind %ld, the handle's kind is %ld", (long)b->kind,
                         (long)a->kind);
    if (a->n != b->n)
        return ctr__fail(err, CTR_E_SHAPE, "it holds state for %lld "
                         "parameters, the handle for %lld", (long long)b->n,
                         (long long)a->n);
    return CTR_OK;
}

static void optimizer_exchange(void *a, void *b)
{
    ctr_optimizer t = *(ctr_optimizer *)a;
    *(ctr_optimizer *)a = *(ctr_optimizer *)b;
    *(ctr_optimizer *)b = t;
}

static void optimizer_destroy(void *h)
{
    ctr_optimizer_destroy((ctr_optimizer *)h);
}

const ctr__persist_ops ctr__optimizer_persist = {
    CTR__CKPT_KIND_OPTIMIZER, "optimizer", write_optimizer, read_optimizer,
    optimizer_alloc_of, optimizer_ctx_of, optimizer_fits, optimizer_exchange,
    optimizer_destroy};
