/*
 * objective.c - the ctr_objective handle: creation for a kind of the
 * registry, parameters, statistics, the workspace query, checkpoints. It
 * knows the kinds only through their tables (kind.h); each kind's compute
 * call lives in the kind's own file.
 */
#include <math.h>
#include <string.h>

#include "common/checkpoint.h"
#include "common/params.h"
#include "common/persist.h"
#include "objectives/kind.h"
#include "objectives/registry.h"

#define OBJ_SECTION CTR__FOURCC('O', 'B', 'J', 'S')

/* ---- parameters ----------------------------------------------------------- */

typedef ctr__param param_info;

#define GROUP "CTR_OBJECTIVE_P_"

static const param_info PARAMS[] = {
    {CTR_OBJECTIVE_P_TEMPERATURE, 0, 1e-3, 1e3, 0},
    {CTR_OBJECTIVE_P_NORMALIZE, 1, 0, 1, 0},
    {CTR_OBJECTIVE_P_SYMMETRIC, 1, 0, 1, 0},
    {CTR_OBJECTIVE_P_TILE, 1, 8, 1048576, 0},
    {CTR_OBJECTIVE_P_NPAIR_LAMBDA, 0, 0, 1e3, 0},
    {CTR_OBJECTIVE_P_NCE_Z_MODE, 1, CTR_NCE_Z_FIXED, CTR_NCE_Z_EXACT, 0},
    {CTR_OBJECTIVE_P_NCE_MOMENTUM, 0, 0, 0.999999, 0},
    {CTR_OBJECTIVE_P_DECOUPLED, 1, 0, 1, 0},
};

static const param_info *find_param(int32_t id)
{
    size_t i;
    for (i = 0; i < sizeof(PARAMS) / sizeof(PARAMS[0]); i++)
        if (PARAMS[i].id == id)
            return &PARAMS[i];
    return NULL;
}

/* The defaults every kind starts from, then the kind's own. */
static void set_defaults(ctr_objective *obj)
{
    obj->temperature = 0.07;
    obj->normalize = 0;
    obj->symmetric = 0;
    obj->tile = 1024;
    obj->npair_lambda = 0.002;
    obj->nce_z_mode = CTR_NCE_Z_FIXED;
    obj->nce_momentum = 0.99;
    obj->decoupled = 0;
    if (obj->kind->defaults != NULL)
        obj->kind->defaults(obj);
}

/* Stores a value already checked against its bounds. */
static void store_param(ctr_objective *obj, int32_t id, double v)
{
    switch (id) {
    case CTR_OBJECTIVE_P_TEMPERATURE: obj->temperature = v; break;
    case CTR_OBJECTIVE_P_NORMALIZE: obj->normalize = (int64_t)v; break;
    case CTR_OBJECTIVE_P_SYMMETRIC: obj->symmetric = (int64_t)v; break;
    case CTR_OBJECTIVE_P_TILE: obj->tile = ((int64_t)v + 7) / 8 * 8; break;
    case CTR_OBJECTIVE_P_NPAIR_LAMBDA: obj->npair_lambda = v; break;
    case CTR_OBJECTIVE_P_NCE_Z_MODE: obj->nce_z_mode = (int64_t)v; break;
    case CTR_OBJECTIVE_P_DECOUPLED: obj->decoupled = (int64_t)v; break;
    default: obj->nce_momentum = v; break;
    }
}

static double read_param(const ctr_objective *obj, int32_t id)
{
    switch (id) {
    case CTR_OBJECTIVE_P_TEMPERATURE: return obj->temperature;
    case CTR_OBJECTIVE_P_NORMALIZE: return (double)obj->normalize;
    case CTR_OBJECTIVE_P_SYMMETRIC: return (double)obj->symmetric;
    case CTR_OBJECTIVE_P_TILE: return (double)obj->tile;
    case CTR_OBJECTIVE_P_NPAIR_LAMBDA: return obj->npair_lambda;
    case CTR_OBJECTIVE_P_NCE_Z_MODE: return (double)obj->nce_z_mode;
    case CTR_OBJECTIVE_P_DECOUPLED: return (double)obj->decoupled;
    default: return obj->nce_momentum;
    }
}

/* Validates (id, v) against the table (common/params.h); records a
 * message on failure. */
static int check_param(ctr__error *err, int32_t id, double v)
{
    return ctr__param_set_f64(err, GROUP, id, find_param(id), v);
}

/* ---- lifecycle -------------------------------------------------------------- */

static int objective_new(ctr_objective **out, const ctr__obj_kind *kind,
                         const ctr__alloc *a)
{
    ctr_objective *obj = (ctr_objective *)ctr__calloc(a, sizeof(*obj));
    if (obj == NULL)
        return CTR_E_NOMEM;
    obj->alloc = *a;
    obj->kind = kind;
    set_defaults(obj);
    *out = obj;
    return CTR_OK;
}

CTR_API int ctr_objective_create(ctr_objective **out, int32_t kind,
                                 const ctr_allocator *alloc)
{
    const ctr__obj_kind *k = ctr__obj_kind_find(kind);
    ctr__alloc a;
    ctr__error err;
    int rc = ctr__create_begin(&a, &err, alloc, out);
    if (rc == CTR_OK && k == NULL)
        rc = ctr__fail(&err, CTR_E_INVALID_ARG, "kind %ld is no "
                       "CTR_OBJECTIVE_* kind", (long)kind);
    if (rc == CTR_OK)
        rc = objective_new(out, k, &a);
    return ctr__create_report(alloc, rc, "ctr_objective_create", &err);
}

CTR_API void ctr_objective_destroy(ctr_objective *obj)
{
    if (obj != NULL) {
        ctr__alloc a = obj->alloc;
        ctr__free(&a, obj->ws, obj->ws_bytes);
        ctr__free(&a, obj, sizeof(*obj));
    }
}

CTR_API int32_t ctr_objective_kind(const ctr_objective *obj)
{
    if (obj == NULL)
        return 0;
    ctr__const_result(&obj->err, CTR_OK, NULL);
    return obj->kind->id;
}

CTR_API int ctr_objective_set_f64(ctr_objective *obj, int32_t param,
                                  double value)
{
    int rc;
    if (obj == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&obj->err);
    rc = check_param(&obj->err, param, value);
    if (rc == CTR_OK)
        store_param(obj, param, value);
    return rc;
}

CTR_API int ctr_objective_set_i64(ctr_objective *obj, int32_t param,
                                  int64_t value)
{
    double v;
    int rc;
    if (obj == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&obj->err);
    rc = ctr__param_set_i64(&obj->err, GROUP, param, find_param(param), value,
                            &v);
    if (rc == CTR_OK)
        store_param(obj, param, v);
    return rc;
}

CTR_API int ctr_objective_get_f64(const ctr_objective *obj, int32_t param,
                                  double *value)
{
    int rc;
    if (obj == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__param_get(&obj->err, GROUP, param, find_param(param), value, 0);
    if (rc == CTR_OK)
        *value = read_param(obj, param);
    return rc;
}

CTR_API int ctr_objective_get_i64(const ctr_objective *obj, int32_t param,
                                  int64_t *value)
{
    int rc;
    if (obj == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__param_get(&obj->err, GROUP, param, find_param(param), value, 1);
    if (rc == CTR_OK)
        *value = (int64_t)read_param(obj, param);
    return rc;
}

CTR_API int ctr_objective_param_bounds(int32_t param, double *lo, double *hi)
{
    const param_info *p = find_param(param);
    if (p == NULL || lo == NULL || hi == NULL)
        return CTR_E_INVALID_ARG;
    *lo = p->lo;
    *hi = p->hi;
    return CTR_OK;
}

static int read_stat(const ctr_objective *obj, ctr__error *err, int32_t stat,
                     double *value)
{
    double v;
    if (value == NULL)
        return ctr__fail(err, CTR_E_INVALID_ARG, "value is NULL");
    if (stat < CTR_OBJECTIVE_S_LOSS || stat > CTR_OBJECTIVE_S_GRAD_TEMPERATURE)
        return ctr__fail(err, CTR_E_INVALID_ARG, "unknown statistic %d",
                         (int)stat);
    if (stat == CTR_OBJECTIVE_S_CALLS) {
        *value = (double)obj->calls;
        return CTR_OK;
    }
    if (stat == CTR_OBJECTIVE_S_NCE_Z || stat == CTR_OBJECTIVE_S_NCE_LOG_Z) {
        if (!obj->has_log_z)
            return ctr__fail(err, CTR_E_STAGE, "Z is not estimated yet");
        *value = stat == CTR_OBJECTIVE_S_NCE_Z ? exp(obj->log_z) : obj->log_z;
        return CTR_OK;
    }
    if (!obj->has_stats)
        return ctr__fail(err, CTR_E_STAGE, "no successful call yet");
    if (stat == CTR_OBJECTIVE_S_GRAD_TEMPERATURE) {
        if (!obj->stats.has_grad_temperature)
            return ctr__fail(err, CTR_E_STAGE, "the last call gave no "
                             "temperature gradient (see "
                             "CTR_OBJECTIVE_S_GRAD_TEMPERATURE)");
        *value = obj->stats.grad_temperature;
        return CTR_OK;
    }
    switch (stat) {
    case CTR_OBJECTIVE_S_LOSS: v = obj->stats.loss; break;
    case CTR_OBJECTIVE_S_ACCURACY: v = obj->stats.accuracy; break;
    case CTR_OBJECTIVE_S_POS_SIM: v = obj->stats.pos_sim; break;
    case CTR_OBJECTIVE_S_NEG_SIM: v = obj->stats.neg_sim; break;
    default: v = obj->stats.chance_loss; break;
    }
    *value = v;
    return CTR_OK;
}

CTR_API int ctr_objective_stat(const ctr_objective *obj, int32_t stat,
                               double *value)
{
    ctr__error e = CTR__ERROR_INIT;
    if (obj == NULL)
        return CTR_E_INVALID_ARG;
    return ctr__const_result(&obj->err, read_stat(obj, &e, stat, value), &e);
}

static int workspace_bytes(const ctr_objective *obj, ctr__error *err, size_t *bytes,
                           int64_t b, int64_t d, int64_t k)
{
    size_t n = 0;
    int rc;
    if (bytes == NULL)
        return ctr__fail(err, CTR_E_INVALID_ARG, "bytes is NULL");
    rc = ctr__obj_check_sizes_into(err, b, d);
    if (rc == CTR_OK && k < 0)
        rc = ctr__fail(err, CTR_E_INVALID_ARG, "k must be >= 0 (got %lld)",
                       (long long)k);
    if (rc != CTR_OK)
        return rc;
    if (obj->kind->workspace(obj, &n, b, d, k) != CTR_OK)
        return ctr__fail(err, CTR_E_OVERFLOW, "workspace size overflows");
    *bytes = n;
    return CTR_OK;
}

CTR_API int ctr_objective_workspace_size(const ctr_objective *obj,
                                         size_t *bytes, int64_t b, int64_t d,
                                         int64_t k)
{
    ctr__error e = CTR__ERROR_INIT;
    if (obj == NULL)
        return CTR_E_INVALID_ARG;
    return ctr__const_result(&obj->err, workspace_bytes(obj, &e, bytes, b, d, k), &e);
}

CTR_API int ctr_objective_reset(ctr_objective *obj)
{
    if (obj == NULL)
        return CTR_E_INVALID_ARG;
    ctr__error_clear(&obj->err);
    obj->has_log_z = 0;
    obj->log_z = 0.0;
    obj->has_stats = 0;
    obj->calls = 0;
    memset(&obj->stats, 0, sizeof(obj->stats));
    return CTR_OK;
}

CTR_API const char *ctr_objective_last_error(const ctr_objective *obj)
{
    return ctr__error_message(obj == NULL ? NULL : &obj->err);
}

/* ---- checkpoints -------------------------------------------------------------- */

static void write_state(ctr__ckw *w, const void *p)
{
    const ctr_objective *obj = (const ctr_objective *)p;
    ctr__ckw_begin_section(w, OBJ_SECTION);
    ctr__ckw_put_u32(w, (uint32_t)obj->kind->id);
    ctr__ckw_put_f64(w, obj->temperature);
    ctr__ckw_put_i64(w, obj->normalize);
    ctr__ckw_put_i64(w, obj->symmetric);
    ctr__ckw_put_i64(w, obj->tile);
    ctr__ckw_put_f64(w, obj->npair_lambda);
    ctr__ckw_put_i64(w, obj->nce_z_mode);
    ctr__ckw_put_f64(w, obj->nce_momentum);
    ctr__ckw_put_u32(w, (uint32_t)obj->has_log_z);
    ctr__ckw_put_f64(w, obj->log_z);
    ctr__ckw_put_u32(w, (uint32_t)obj->has_stats);
    ctr__ckw_put_i64(w, obj->calls);
    ctr__ckw_put_f64(w, obj->stats.loss);
    ctr__ckw_put_f64(w, obj->stats.accuracy);
    ctr__ckw_put_f64(w, obj->stats.pos_sim);
    ctr__ckw_put_f64(w, obj->stats.neg_sim);
    ctr__ckw_put_f64(w, obj->stats.chance_loss);
    /* added in 0.x (DCL): files without these fields load with defaults */
    ctr__ckw_put_i64(w, obj->decoupled);
    ctr__ckw_put_u32(w, (uint32_t)obj->stats.has_grad_temperature);
    ctr__ckw_put_f64(w, obj->stats.grad_temperature);
    ctr__ckw_end_section(w);
}

CTR_API int ctr_objective_save(const ctr_objective *obj, const char *path)
{
    if (obj == NULL)
        return CTR_E_INVALID_ARG;
    return ctr__persist_save_const(obj, write_state, CTR__CKPT_KIND_OBJECTIVE, path,
                                   &obj->alloc, &obj->err);
}

CTR_API int ctr_objective_save_buffer(const ctr_objective *obj, void *buf,
                                      size_t cap, size_t *size_out)
{
    if (obj == NULL)
        return CTR_E_INVALID_ARG;
    return ctr__persist_save_buffer_const(obj, write_state, CTR__CKPT_KIND_OBJECTIVE,
                                          buf, cap, size_out, &obj->err);
}

/* Reads every field into *o (a stack copy), validating as it goes. */
static int read_fields(ctr__ckr *r, ctr_objective *o)
{
    static const int32_t ids[] = {
        CTR_OBJECTIVE_P_TEMPERATURE, CTR_OBJECTIVE_P_NORMALIZE,
        CTR_OBJECTIVE_P_SYMMETRIC,   CTR_OBJECTIVE_P_TILE,
        CTR_OBJECTIVE_P_NPAIR_LAMBDA, CTR_OBJECTIVE_P_NCE_Z_MODE,
        CTR_OBJECTIVE_P_NCE_MOMENTUM, CTR_OBJECTIVE_P_DECOUPLED};
    double v[8] = {0};
    int rc = ctr__ckr_begin_section(r, OBJ_SECTION, NULL);
    size_t i;
    if (rc != CTR_OK)
        return rc;
    o->kind = ctr__obj_kind_find((int32_t)ctr__ckr_get_u32(r));
    v[0] = ctr__ckr_get_f64(r);
    v[1] = (double)ctr__ckr_get_i64(r);
    v[2] = (double)ctr__ckr_get_i64(r);
    v[3] = (double)ctr__ckr_get_i64(r);
    v[4] = ctr__ckr_get_f64(r);
    v[5] = (double)ctr__ckr_get_i64(r);
    v[6] = ctr__ckr_get_f64(r);
    o->has_log_z = (int)ctr__ckr_get_u32(r);
    o->log_z = ctr__ckr_get_f64(r);
    o->has_stats = (int)ctr__ckr_get_u32(r);
    o->calls = ctr__ckr_get_i64(r);
    o->stats.loss = ctr__ckr_get_f64(r);
    o->stats.accuracy = ctr__ckr_get_f64(r);
    o->stats.pos_sim = ctr__ckr_get_f64(r);
    o->stats.neg_sim = ctr__ckr_get_f64(r);
    o->stats.chance_loss = ctr__ckr_get_f64(r);
    if (ctr__ckr_remaining(r) > 0) { /* absent in files before DCL */
        v[7] = (double)ctr__ckr_get_i64(r);
        o->stats.has_grad_temperature = (int)ctr__ckr_get_u32(r);
        o->stats.grad_temperature = ctr__ckr_get_f64(r);
    }
    rc = ctr__ckr_end_section(r);
    if (rc == CTR_OK)
        rc = ctr__ckr_finish(r);
    if (rc != CTR_OK)
        return rc;
    if (o->kind == NULL || (o->has_log_z & ~1) || (o->has_stats & ~1) ||
        o->calls < 0 || !isfinite(o->log_z) ||
        (o->stats.has_grad_temperature & ~1) ||
        !isfinite(o->stats.grad_temperature))
        return CTR_E_CORRUPT;
    for (i = 0; i < 8; i++) {
        if (check_param(NULL, ids[i], v[i]) != CTR_OK)
            return CTR_E_CORRUPT;
        store_param(o, ids[i], v[i]);
    }
    return CTR_OK;
}

static int read_objective(ctr__ckr *r, void *out_ptr, const ctr__alloc *a,
                          void *ctx)
{
    ctr_objective tmp, *obj;
    int rc;
    (void)ctx;
    memset(&tmp, 0, sizeof(tmp));
    rc = read_fields(r, &tmp);
    if (rc == CTR_OK)
        rc = objective_new(&obj, tmp.kind, a);
    if (rc != CTR_OK)
        return rc;
    tmp.alloc = obj->alloc;
    *obj = tmp;
    *(ctr_objective **)out_ptr = obj;
    return CTR_OK;
}

CTR_API int ctr_objective_load(ctr_objective **out, const char *path,
                               const ctr_allocator *alloc)
{
    return ctr__persist_load(out, read_objective, NULL,
                             CTR__CKPT_KIND_OBJECTIVE, path, alloc);
}

CTR_API int ctr_objective_load_buffer(ctr_objective **out, const void *buf,
                                      size_t len, const ctr_allocator *alloc)
{
    return ctr__persist_load_buffer(out, read_objective, NULL,
                                    CTR__CKPT_KIND_OBJECTIVE, buf, len,
                                    alloc);
}

/* ---- in a training-state file (state/state.c) ----------------------------- */

static const ctr__alloc *objective_alloc_of(const void *h)
{
    return &((const ctr_objective *)h)->alloc;
}

static int objective_fits(const void *h, const void *loaded, ctr__error *err)
{
    const ctr_objective *a = (const ctr_objective *)h;
    const ctr_objective *b = (const ctr_objective *)loaded;
    if (a->kind == b->kind)
        return CTR_OK;
    return ctr__fail(err, CTR_E_INCOMPATIBLE, "it is an objective of kind "
                     "%s, the handle's kind is %s", b->kind->name,
                     a->kind->name);
}

static void objective_exchange(void *a, void *b)
{
    ctr_objective t = *(ctr_objective *)a;
    *(ctr_objective *)a = *(ctr_objective *)b;
    *(ctr_objective *)b = t;
}

static void objective_destroy(void *h)
{
    ctr_objective_destroy((ctr_objective *)h);
}

const ctr__persist_ops ctr__objective_persist = {
    CTR__CKPT_KIND_OBJECTIVE, "objective", write_state, read_objective,
    objective_alloc_of, NULL, objective_fits, objective_exchange,
    objective_destroy};
