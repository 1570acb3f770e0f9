/*
 * infonce.c - the INFONCE kind: InfoNCE with in-batch negatives (CPC /
 * CURL form, optional symmetric loss and group labels). The math is the
 * in-batch cross-entropy of inbatch.c.
 */
#include "objectives/inbatch.h"

static const int32_t PARAMS[] = {CTR_OBJECTIVE_P_TEMPERATURE,
                                 CTR_OBJECTIVE_P_NORMALIZE,
                                 CTR_OBJECTIVE_P_SYMMETRIC,
                                 CTR_OBJECTIVE_P_DECOUPLED, 0};

static int infonce_run(ctr_objective *obj, const void *args,
                       ctr__obj_stats *st)
{
    return ctr__pair_run(obj, (const ctr__pair_args *)args, 0.0, st);
}

/* Listed in registry.c. */
const ctr__obj_kind ctr__obj_infonce = {
    .id = CTR_OBJECTIVE_INFONCE,
    .name = "INFONCE",
    .params = PARAMS,
    .check = ctr__pair_check,
    .workspace = ctr__pair_workspace,
    .run = infonce_run,
};

CTR_API int ctr_objective_infonce(ctr_objective *obj, double *loss,
                                  const float *a, int64_t lda, const float *p,
                                  int64_t ldp, int64_t b, int64_t d,
                                  const int64_t *groups, float *grad_a,
                                  float *grad_p)
{
    ctr__pair_args args = {a, p, lda, ldp, b, d, groups, grad_a, grad_p};
    return ctr__obj_call(obj, &ctr__obj_infonce, "ctr_objective_infonce",
                         &args, loss);
}
