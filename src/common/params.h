/*
 * params.h - the one rule every ctr_<object>_set_f64 / set_i64 / get_f64 /
 * get_i64 follows (docs/conventions.md, "Parameters"): the value decides,
 * not its C type.
 *   - set_f64 of an integer parameter: the value must be integral;
 *   - set_i64 of a real parameter: |value| <= 2^53 (exact as a double);
 *   - NaN or Inf: CTR_E_NUMERIC; out of bounds, unknown or read-only:
 *     CTR_E_INVALID_ARG;
 *   - get_f64 of an integer parameter gives it as a double; get_i64 of a
 *     real parameter is CTR_E_INVALID_ARG (it need not be integral).
 * Messages name the parameter by its constant ("CTR_OPTIMIZER_P_LR").
 */
#ifndef CTR_PARAMS_H
#define CTR_PARAMS_H

#include "common/core.h"

/* A tunable as an object describes it. */
typedef struct ctr__param {
    int32_t id;
    int is_int;   /* 1: an integer parameter */
    double lo, hi;
    int read_only;
} ctr__param;

/* Checks a set_f64 of parameter id, described by p (NULL: unknown), whose
 * constants are named group ("CTR_OPTIMIZER_P_"). CTR_OK, or the code with
 * a message in err. */
int ctr__param_set_f64(ctr__error *err, const char *group, int32_t id,
                       const ctr__param *p, double v);
/* The same for set_i64; on success *as_double holds the value exactly. */
int ctr__param_set_i64(ctr__error *err, const char *group, int32_t id,
                       const ctr__param *p, int64_t v, double *as_double);
/* Checks a get: value not NULL, p known, and for get_i64 (want_int 1) an
 * integer parameter. Gets are calls on a const handle: the outcome goes to
 * the handle's message slot through ctr__const_result. */
int ctr__param_get(const ctr__error *slot, const char *group, int32_t id,
                   const ctr__param *p, const void *value, int want_int);

#endif /* CTR_PARAMS_H */
