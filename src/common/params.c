/*
 * params.c - the parameter rule of every object's typed setters and
 * getters (common/params.h).
 */
#include "common/params.h"

#include <math.h>
#include <stdio.h>

#define EXACT_INT ((int64_t)1 << 53) /* integers a double holds exactly */

/* "CTR_OPTIMIZER_P_LR", or "parameter <id>" when no constant has it. */
static const char *param_name(char *buf, size_t cap, const char *group,
                              int32_t id)
{
    const char *name = ctr_constant_name(group, id);
    if (name != NULL)
        return name;
    snprintf(buf, cap, "parameter %ld (no %s* constant)", (long)id, group);
    return buf;
}

static int check_known(ctr__error *err, const char *name, const ctr__param *p,
                       int setting)
{
    if (p == NULL)
        return ctr__fail(err, CTR_E_INVALID_ARG, "unknown %s", name);
    if (setting && p->read_only)
        return ctr__fail(err, CTR_E_INVALID_ARG, "%s is read-only", name);
    return CTR_OK;
}

int ctr__param_set_f64(ctr__error *err, const char *group, int32_t id,
                       const ctr__param *p, double v)
{
    char buf[96];
    const char *name = param_name(buf, sizeof(buf), group, id);
    int rc = check_known(err, name, p, 1);
    if (rc != CTR_OK)
        return rc;
    if (!isfinite(v))
        return ctr__fail(err, CTR_E_NUMERIC, "%s: value %g is not finite",
                         name, v);
    if (p->is_int && v != floor(v))
        return ctr__fail(err, CTR_E_INVALID_ARG, "%s is an integer "
                         "parameter (got %.17g)", name, v);
    if (v < p->lo || v > p->hi)
        return ctr__fail(err, CTR_E_INVALID_ARG, "%s must be in [%.17g, "
                         "%.17g] (got %.17g)", name, p->lo, p->hi, v);
    return CTR_OK;
}

int ctr__param_set_i64(ctr__error *err, const char *group, int32_t id,
                       const ctr__param *p, int64_t v, double *as_double)
{
    char buf[96];
    const char *name = param_name(buf, sizeof(buf), group, id);
    int rc = check_known(err, name, p, 1);
    if (rc != CTR_OK)
        return rc;
    if (v > EXACT_INT || v < -EXACT_INT)
        return ctr__fail(err, CTR_E_INVALID_ARG, "%s: %lld is beyond 2^53 "
                         "and out of its bounds [%.17g, %.17g]", name,
                         (long long)v, p->lo, p->hi);
    rc = ctr__param_set_f64(err, group, id, p, (double)v);
    if (rc == CTR_OK)
        *as_double = (double)v;
    return rc;
}

static int check_get(ctr__error *err, const char *group, int32_t id,
                     const ctr__param *p, const void *value, int want_int)
{
    char buf[96];
    const char *name = param_name(buf, sizeof(buf), group, id);
    int rc = check_known(err, name, p, 0);
    if (rc != CTR_OK)
        return rc;
    if (value == NULL)
        return ctr__fail(err, CTR_E_INVALID_ARG, "value is NULL");
    if (want_int && !p->is_int)
        return ctr__fail(err, CTR_E_INVALID_ARG, "%s is a real parameter: "
                         "read it with get_f64", name);
    return CTR_OK;
}

int ctr__param_get(const ctr__error *slot, const char *group, int32_t id,
                   const ctr__param *p, const void *value, int want_int)
{
    ctr__error e = CTR__ERROR_INIT;
    return ctr__const_result(slot, check_get(&e, group, id, p, value, want_int), &e);
}
