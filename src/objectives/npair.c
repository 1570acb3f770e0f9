/*
 * npair.c - the NPAIR kind: multi-class N-pair loss (Sohn, NIPS 2016),
 * in-batch softmax cross-entropy on the diagonal of S = A P^T / tau plus
 * the paper's L2 regulariser lambda * mean squared norm of the 2b
 * embeddings. With NORMALIZE the cosine variant (pytorch-metric-learning)
 * has no regulariser. The math is inbatch.c's.
 */
#include "objectives/inbatch.h"

static const int32_t PARAMS[] = {
    CTR_OBJECTIVE_P_TEMPERATURE, CTR_OBJECTIVE_P_NORMALIZE,
    CTR_OBJECTIVE_P_SYMMETRIC, CTR_OBJECTIVE_P_NPAIR_LAMBDA,
    CTR_OBJECTIVE_P_DECOUPLED, 0};

/* The paper's raw dot products: tau 1. */
static void npair_defaults(ctr_objective *obj)
{
    obj->temperature = 1.0;
}

static int npair_run(ctr_objective *obj, const void *args, ctr__obj_stats *st)
{
    const ctr__pair_args *a = (const ctr__pair_args *)args;
    /* the regulariser's gradient lambda / b * x rides on the GEMMs */
    double reg = obj->normalize ? 0.0 : obj->npair_lambda / (double)a->b;
    return ctr__pair_run(obj, a, reg, st);
}

/* Listed in registry.c. */
const ctr__obj_kind ctr__obj_npair = {
    .id = CTR_OBJECTIVE_NPAIR,
    .name = "NPAIR",
    .params = PARAMS,
    .defaults = npair_defaults,
    .check = ctr__pair_check,
    .workspace = ctr__pair_workspace,
    .run = npair_run,
};

CTR_API int ctr_objective_npair(ctr_objective *obj, double *loss,
                                const float *a, int64_t lda, const float *p,
                                int64_t ldp, int64_t b, int64_t d,
                                float *grad_a, float *grad_p)
{
    ctr__pair_args args = {a, p, lda, ldp, b, d, NULL, grad_a, grad_p};
    return ctr__obj_call(obj, &ctr__obj_npair, "ctr_objective_npair", &args,
                         loss);
}
