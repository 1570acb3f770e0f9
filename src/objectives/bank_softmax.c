/*
 * bank_softmax.c - the BANK_SOFTMAX kind: full-softmax instance
 * discrimination over a memory bank (Wu et al.'s non-NCE path), each
 * anchor's own bank row its positive and every other row a negative. The
 * math is tiled_infonce.c's, with the anchor's row as the positive.
 */
#include <math.h>
#include <string.h>

#include "objectives/tiled_infonce.h"

static const int32_t PARAMS[] = {CTR_OBJECTIVE_P_TEMPERATURE,
                                 CTR_OBJECTIVE_P_NORMALIZE,
                                 CTR_OBJECTIVE_P_TILE, 0};

static int bank_check(ctr_objective *obj, void *args, ctr__obj_dims *dims)
{
    const ctr__shared_args *a = (const ctr__shared_args *)args;
    int rc = ctr__obj_check_sizes(obj, a->b, a->d);
    if (rc == CTR_OK)
        rc = ctr__obj_check_matrix(obj, a->q, a->b, a->d, a->ldq, "z");
    if (rc == CTR_OK)
        rc = ctr__check_positive(&obj->err, a->kneg, "n");
    if (rc == CTR_OK)
        rc = ctr__obj_check_keys(obj, a->neg, a->kneg, a->d, a->ldn, "bank");
    if (rc == CTR_OK)
        rc = ctr__obj_check_indices(obj, a->self_idx, a->b, a->kneg,
                                    "self_idx");
    dims->b = a->b;
    dims->d = a->d;
    dims->k = a->kneg;
    return rc;
}

static int bank_run(ctr_objective *obj, const void *args, ctr__obj_stats *st)
{
    const ctr__shared_args *a = (const ctr__shared_args *)args;
    int rc = ctr__shared_run(obj, a, st);
    if (rc == CTR_OK) /* the n rows hold the positive too */
        st->chance_loss = log((double)a->kneg);
    return rc;
}

/* Listed in registry.c. */
const ctr__obj_kind ctr__obj_bank_softmax = {
    .id = CTR_OBJECTIVE_BANK_SOFTMAX,
    .name = "BANK_SOFTMAX",
    .params = PARAMS,
    .check = bank_check,
    .workspace = ctr__shared_workspace,
    .run = bank_run,
};

CTR_API int ctr_objective_bank_softmax(ctr_objective *obj, double *loss,
                                       const float *z, int64_t ldz, int64_t b,
                                       int64_t d, const float *bank,
                                       int64_t ldb, int64_t n,
                                       const int64_t *self_idx, float *grad_z)
{
    ctr__shared_args a;
    memset(&a, 0, sizeof(a));
    a.q = z, a.ldq = ldz, a.b = b, a.d = d;
    a.neg = bank, a.ldn = ldb, a.kneg = n;
    a.k_rows = self_idx, a.self_idx = self_idx, a.grad_q = grad_z;
    return ctr__obj_call(obj, &ctr__obj_bank_softmax,
                         "ctr_objective_bank_softmax", &a, loss);
}
