/*
 * npair.c - multi-class N-pair loss (Sohn, NIPS 2016): in-batch softmax
 * cross-entropy on the diagonal of S = A P^T / tau, plus the paper's L2
 * regulariser lambda * mean squared norm of the 2b embeddings. With
 * NORMALIZE the cosine variant (pytorch-metric-learning) has no
 * regulariser.
 */
#include "objectives/objective_internal.h"

CTR_API int ctr_objective_npair(ctr_objective *obj, double *loss,
                                const float *a, int64_t lda, const float *p,
                                int64_t ldp, int64_t b, int64_t d,
                                float *grad_a, float *grad_p)
{
    ctr__obj_stats st;
    double reg;
    int rc;
    if (obj == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__obj_begin(obj, CTR_OBJECTIVE_NPAIR, "ctr_objective_npair");
    if (rc == CTR_OK)
        rc = ctr__pair_check(obj, a, lda, p, ldp, b, d);
    /* the regulariser's gradient lambda / b * x rides on the GEMMs */
    reg = obj->normalize ? 0.0 : obj->npair_lambda / (double)(b > 0 ? b : 1);
    if (rc == CTR_OK)
        rc = ctr__infonce_run(obj, a, lda, p, ldp, b, d, NULL, reg, grad_a,
                              grad_p, &st);
    if (rc != CTR_OK)
        return rc;
    ctr__obj_publish(obj, &st);
    if (loss != NULL)
        *loss = st.loss;
    return CTR_OK;
}
