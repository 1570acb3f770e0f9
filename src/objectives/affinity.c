/*
 * affinity.c - the dense affinity's handle (contrastive/affinity.h):
 * parameters, validation of the public calls and the workspace; the
 * arithmetic is affinity_run.c.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "common/core.h"
#include "common/params.h"
#include "objectives/affinity_run.h"

/* Largest |value| of v, target or grad_out, and largest logit bound. */
#define VALUE_LIMIT 1e15
#define LOGIT_LIMIT 1e30

struct ctr_affinity {
    ctr__alloc alloc;
    ctr__error err;
    ctr__aff_cfg cfg;
    float *ws;
    size_t ws_bytes;
};

CTR_API int ctr_affinity_create(ctr_affinity **out, const ctr_allocator *alloc)
{
    ctr__alloc a;
    ctr__error err;
    ctr_affinity *aff;
    int rc = ctr__create_begin(&a, &err, alloc, out);
    if (rc != CTR_OK)
        return ctr__create_report(alloc, rc, "ctr_affinity_create", &err);
    aff = (ctr_affinity *)ctr__calloc(&a, sizeof(*aff));
    if (aff == NULL)
        return ctr__create_report(alloc, CTR_E_NOMEM, "ctr_affinity_create",
                                  NULL);
    aff->alloc = a;
    aff->cfg.tau = 1.0;
    aff->cfg.radius = -1;
    aff->cfg.loss = CTR_AFFINITY_LOSS_MSE;
    aff->cfg.beta = 1.0;
    *out = aff;
    return ctr__create_report(alloc, CTR_OK, "ctr_affinity_create", NULL);
}

CTR_API void ctr_affinity_destroy(ctr_affinity *aff)
{
    if (aff != NULL) {
        ctr__alloc a = aff->alloc;
        ctr__free(&a, aff->ws, aff->ws_bytes);
        ctr__free(&a, aff, sizeof(*aff));
    }
}

CTR_API const char *ctr_affinity_last_error(const ctr_affinity *aff)
{
    return ctr__error_message(aff == NULL ? NULL : &aff->err);
}

/* ---- parameters ------------------------------------------------------------ */

CTR_API int ctr_affinity_param_bounds(int32_t param, double *lo, double *hi)
{
    double l, h;
    switch (param) {
    case CTR_AFFINITY_P_TEMPERATURE: l = 1e-6; h = 1e6; break;
    case CTR_AFFINITY_P_RADIUS: l = -1; h = 2147483647.0; break;
    case CTR_AFFINITY_P_LOSS:
        l = CTR_AFFINITY_LOSS_MSE;
        h = CTR_AFFINITY_LOSS_HUBER;
        break;
    case CTR_AFFINITY_P_HUBER_BETA: l = 1e-6; h = 1e6; break;
    default: return CTR_E_INVALID_ARG;
    }
    if (lo == NULL || hi == NULL)
        return CTR_E_INVALID_ARG;
    *lo = l;
    *hi = h;
    return CTR_OK;
}

#define GROUP "CTR_AFFINITY_P_"

/* The parameter as common/params.h describes it (*out), or NULL. */
static const ctr__param *describe(int32_t param, ctr__param *out)
{
    out->id = param;
    out->is_int = param != CTR_AFFINITY_P_TEMPERATURE &&
                  param != CTR_AFFINITY_P_HUBER_BETA;
    out->read_only = param == CTR_AFFINITY_P_WORKSPACE_BYTES;
    out->lo = 0.0;
    out->hi = 9.2e18;
    if (out->read_only)
        return out;
    return ctr_affinity_param_bounds(param, &out->lo, &out->hi) == CTR_OK
               ? out
               : NULL;
}

static void store(ctr_affinity *aff, int32_t param, double v)
{
    switch (param) {
    case CTR_AFFINITY_P_TEMPERATURE: aff->cfg.tau = v; break;
    case CTR_AFFINITY_P_RADIUS: aff->cfg.radius = (int64_t)v; break;
    case CTR_AFFINITY_P_LOSS: aff->cfg.loss = (int32_t)v; break;
    default: aff->cfg.beta = v; break;
    }
}

static double read(const ctr_affinity *aff, int32_t param)
{
    switch (param) {
    case CTR_AFFINITY_P_TEMPERATURE: return aff->cfg.tau;
    case CTR_AFFINITY_P_RADIUS: return (double)aff->cfg.radius;
    case CTR_AFFINITY_P_LOSS: return aff->cfg.loss;
    case CTR_AFFINITY_P_HUBER_BETA: return aff->cfg.beta;
    default: return (double)aff->ws_bytes;
    }
}

CTR_API int ctr_affinity_set_i64(ctr_affinity *aff, int32_t param,
                                 int64_t value)
{
    ctr__param d;
    const ctr__param *dp = describe(param, &d);
    double v;
    int rc;
    if (aff == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&aff->err);
    rc = ctr__param_set_i64(&aff->err, GROUP, param, dp, value, &v);
    if (rc == CTR_OK)
        store(aff, param, v);
    return rc;
}

CTR_API int ctr_affinity_set_f64(ctr_affinity *aff, int32_t param,
                                 double value)
{
    ctr__param d;
    const ctr__param *dp = describe(param, &d);
    int rc;
    if (aff == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&aff->err);
    rc = ctr__param_set_f64(&aff->err, GROUP, param, dp, value);
    if (rc == CTR_OK)
        store(aff, param, value);
    return rc;
}

CTR_API int ctr_affinity_get_i64(const ctr_affinity *aff, int32_t param,
                                 int64_t *value)
{
    ctr__param d;
    int rc;
    if (aff == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__param_get(&aff->err, GROUP, param, describe(param, &d),
                        value, 1);
    if (rc == CTR_OK)
        *value = (int64_t)read(aff, param);
    return rc;
}

CTR_API int ctr_affinity_get_f64(const ctr_affinity *aff, int32_t param,
                                 double *value)
{
    ctr__param d;
    int rc;
    if (aff == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__param_get(&aff->err, GROUP, param, describe(param, &d),
                        value, 0);
    if (rc == CTR_OK)
        *value = read(aff, param);
    return rc;
}

/* ---- validation and workspace ---------------------------------------------- */

/* The sizes: each >= 1, maps addressable and h*w, c*h*w, cv*h*w within
 * BLAS's int. err may be NULL. */
static int check_sizes(ctr__error *err, const ctr__aff_job *j)
{
    int64_t n, fc, vc, total;
    if (j->b < 1 || j->c < 1 || j->h < 1 || j->w < 1 || j->cv < 1)
        return ctr__fail(err, CTR_E_INVALID_ARG,
                         "sizes must be >= 1 (b %lld, c %lld, h %lld, w "
                         "%lld, cv %lld)", (long long)j->b, (long long)j->c,
                         (long long)j->h, (long long)j->w, (long long)j->cv);
    if (j->topk < 0)
        return ctr__fail(err, CTR_E_INVALID_ARG, "topk must be >= 0");
    if (ctr__mul_count(&n, j->h, j->w) != CTR_OK ||
        ctr__mul_count(&fc, n, j->c) != CTR_OK ||
        ctr__mul_count(&vc, n, j->cv) != CTR_OK || fc > INT32_MAX ||
        vc > INT32_MAX)
        return ctr__fail(err, CTR_E_INVALID_ARG,
                         "c*h*w and cv*h*w must be <= 2^31 - 1");
    if (ctr__mul_count(&total, fc > vc ? fc : vc, j->b) != CTR_OK ||
        (uint64_t)total > SIZE_MAX / sizeof(float))
        return ctr__fail(err, CTR_E_OVERFLOW, "maps too large");
    return CTR_OK;
}

CTR_API int ctr_affinity_workspace_size(const ctr_affinity *aff, int64_t b,
                                        int64_t c, int64_t h, int64_t w,
                                        int64_t cv, int64_t topk,
                                        size_t *bytes)
{
    ctr__error e = CTR__ERROR_INIT;
    ctr__aff_job j;
    size_t floats;
    int rc;
    memset(&j, 0, sizeof(j));
    j.b = b, j.c = c, j.h = h, j.w = w, j.cv = cv, j.topk = topk;
    if (aff == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__check_ptr(&e, bytes, "bytes");
    if (rc == CTR_OK)
        rc = check_sizes(&e, &j);
    if (rc == CTR_OK && ctr__aff_ws_floats(&aff->cfg, c, h, w, cv, topk, &floats) != CTR_OK)
        rc = ctr__fail(&e, CTR_E_OVERFLOW, "workspace size overflows");
    if (rc == CTR_OK)
        *bytes = floats * sizeof(float);
    return ctr__const_result(&aff->err, rc, &e);
}

/* Largest |x[i]| of n floats into *m; CTR_E_NUMERIC naming `what` at the
 * first NaN/Inf. */
static int max_abs(ctr__error *err, const float *x, int64_t n, float *m,
                   const char *what)
{
    float best = 0.0f;
    int64_t i;
    for (i = 0; i < n; i++) {
        const float a = fabsf(x[i]);
        if (!(a <= FLT_MAX))
            return ctr__fail(err, CTR_E_NUMERIC, "%s[%lld] is %s", what,
                             (long long)i, isnan(x[i]) ? "NaN" : "Inf");
        best = a > best ? a : best;
    }
    *m = best;
    return CTR_OK;
}

/* A values operand (v, target or grad_out): finite, |x| <= VALUE_LIMIT. */
static int check_values(ctr__error *err, const float *x, int64_t n,
                        const char *what)
{
    float m = 0.0f;
    int rc = x == NULL ? CTR_OK : max_abs(err, x, n, &m, what);
    if (rc == CTR_OK && m > VALUE_LIMIT)
        rc = ctr__fail(err, CTR_E_NUMERIC,
                       "%s has |value| %g above 1e15", what, (double)m);
    return rc;
}

static int check_numbers(ctr_affinity *aff, const ctr__aff_job *j)
{
    const int64_t nf = j->b * j->c * j->h * j->w, nv = j->b * j->cv * j->h * j->w;
    float ma = 0.0f, mb = 0.0f;
    int rc = max_abs(&aff->err, j->fa, nf, &ma, "fa");
    if (rc == CTR_OK)
        rc = max_abs(&aff->err, j->fb, nf, &mb, "fb");
    if (rc == CTR_OK &&
        (double)j->c * ma * mb / aff->cfg.tau > LOGIT_LIMIT)
        rc = ctr__fail(&aff->err, CTR_E_NUMERIC,
                       "c * max|fa| * max|fb| / tau above 1e30: logits "
                       "could overflow");
    if (rc == CTR_OK)
        rc = check_values(&aff->err, j->v, nv, "values");
    if (rc == CTR_OK)
        rc = check_values(&aff->err, j->target, nv, "target");
    if (rc == CTR_OK)
        rc = check_values(&aff->err, j->grad_out, nv, "grad_out");
    return rc;
}

static int ensure_ws(ctr_affinity *aff, const ctr__aff_job *j)
{
    size_t floats, bytes;
    float *ws;
    int rc = ctr__aff_ws_floats(&aff->cfg, j->c, j->h, j->w, j->cv, j->topk,
                                &floats);
    if (rc != CTR_OK)
        return ctr__fail(&aff->err, rc, "workspace size overflows");
    bytes = floats * sizeof(float);
    if (bytes <= aff->ws_bytes)
        return CTR_OK;
    ws = (float *)ctr__malloc(&aff->alloc, bytes);
    if (ws == NULL)
        return ctr__fail(&aff->err, CTR_E_NOMEM,
                         "cannot allocate %zu bytes of workspace", bytes);
    ctr__free(&aff->alloc, aff->ws, aff->ws_bytes);
    aff->ws = ws;
    aff->ws_bytes = bytes;
    return CTR_OK;
}

/* The operands a call needs, by name; checked for NULL in this order. */
static int check_ptrs(ctr__error *err, const ctr__aff_job *j, int need_out,
                      int need_grad_out, int need_target)
{
    const void *p[6];
    const char *names[6] = {"fa", "fb", "values", "out", "grad_out",
                            "target"};
    int i;
    p[0] = j->fa, p[1] = j->fb, p[2] = j->v;
    p[3] = need_out ? (const void *)j->out : (const void *)j->fa;
    p[4] = need_grad_out ? (const void *)j->grad_out : (const void *)j->fa;
    p[5] = need_target ? (const void *)j->target : (const void *)j->fa;
    for (i = 0; i < 6; i++)
        if (p[i] == NULL)
            return ctr__fail(err, CTR_E_INVALID_ARG, "%s is NULL", names[i]);
    return CTR_OK;
}

/* Every public compute call: validate, size the workspace, run. */
static int affinity_call(ctr_affinity *aff, ctr__aff_job *j, int need_out,
                         int need_grad_out, int need_target)
{
    int rc;
    if (aff == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&aff->err);
    rc = check_ptrs(&aff->err, j, need_out, need_grad_out, need_target);
    if (rc == CTR_OK)
        rc = check_sizes(&aff->err, j);
    if (rc == CTR_OK)
        rc = check_numbers(aff, j);
    if (rc == CTR_OK)
        rc = ensure_ws(aff, j);
    if (rc == CTR_OK)
        ctr__aff_run(&aff->cfg, j, aff->ws);
    return rc;
}

static void job_init(ctr__aff_job *j, const float *fa, const float *fb,
                     const float *v, int64_t b, int64_t c, int64_t h,
                     int64_t w, int64_t cv)
{
    memset(j, 0, sizeof(*j));
    j->fa = fa, j->fb = fb, j->v = v;
    j->b = b, j->c = c, j->h = h, j->w = w, j->cv = cv;
}

CTR_API int ctr_affinity_transport(ctr_affinity *aff, float *out,
                                   const float *fa, const float *fb,
                                   const float *v, int64_t b, int64_t c,
                                   int64_t h, int64_t w, int64_t cv)
{
    ctr__aff_job j;
    job_init(&j, fa, fb, v, b, c, h, w, cv);
    j.out = out;
    return affinity_call(aff, &j, 1, 0, 0);
}

CTR_API int ctr_affinity_propagate(ctr_affinity *aff, float *out,
                                   const float *fa, const float *fb,
                                   const float *labels, int64_t b, int64_t c,
                                   int64_t h, int64_t w, int64_t cv,
                                   int64_t topk)
{
    ctr__aff_job j;
    job_init(&j, fa, fb, labels, b, c, h, w, cv);
    j.out = out;
    j.topk = topk;
    return affinity_call(aff, &j, 1, 0, 0);
}

CTR_API int ctr_affinity_backward(ctr_affinity *aff, float *grad_fa,
                                  float *grad_fb, float *grad_v,
                                  const float *grad_out, const float *fa,
                                  const float *fb, const float *v, int64_t b,
                                  int64_t c, int64_t h, int64_t w,
                                  int64_t cv)
{
    ctr__aff_job j;
    job_init(&j, fa, fb, v, b, c, h, w, cv);
    j.grad_out = grad_out;
    j.gfa = grad_fa, j.gfb = grad_fb, j.gv = grad_v;
    return affinity_call(aff, &j, 0, 1, 0);
}

CTR_API int ctr_affinity_reconstruct(ctr_affinity *aff, double *loss,
                                     float *out, const float *fa,
                                     const float *fb, const float *v,
                                     const float *target, int64_t b,
                                     int64_t c, int64_t h, int64_t w,
                                     int64_t cv, float *grad_fa,
                                     float *grad_fb, float *grad_v)
{
    ctr__aff_job j;
    int rc;
    job_init(&j, fa, fb, v, b, c, h, w, cv);
    j.out = out, j.target = target;
    j.gfa = grad_fa, j.gfb = grad_fb, j.gv = grad_v;
    if (aff != NULL && loss == NULL) {
        ctr__error_clear(&aff->err);
        return ctr__fail(&aff->err, CTR_E_INVALID_ARG, "loss is NULL");
    }
    rc = affinity_call(aff, &j, 0, 0, 1);
    if (rc == CTR_OK)
        *loss = j.loss;
    return rc;
}
