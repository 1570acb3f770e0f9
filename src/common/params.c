/*
 * params.c - the parameter rule of every object's typed setters and
 * getters (common/params.h).
 */
#include "common/params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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

/* v in the fewest digits that read back as v: 1e-06, not the
 * 9.9999999999999995e-07 of %.17g; whole numbers in full (1000, not 1e+03). */
typedef struct {
    char s[32];
} shortest;

static shortest show(double v)
{
    shortest out;
    int digits;
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out.s, sizeof(out.s), "%.0f", v);
        return out;
    }
    for (digits = 1; digits < 17; digits++) {
        snprintf(out.s, sizeof(out.s), "%.*g", digits, v);
        if (strtod(out.s, NULL) == v)
            return out;
    }
    snprintf(out.s, sizeof(out.s), "%.17g", v);
    return out;
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
                         "parameter (got %s)", name, show(v).s);
    if (v < p->lo || v > p->hi)
        return ctr__fail(err, CTR_E_INVALID_ARG, "%s must be in [%s, %s] (got %s)",
                         name, show(p->lo).s, show(p->hi).s, show(v).s);
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
                         "and out of its bounds [%s, %s]", name,
                         (long long)v, show(p->lo).s, show(p->hi).s);
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
