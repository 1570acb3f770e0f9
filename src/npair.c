/*
 * npair.c - multi-class N-pair loss (Sohn, NIPS 2016): in-batch softmax
 * cross-entropy on the diagonal of S = A P^T / tau, plus the paper's L2
 * regulariser lambda * mean squared norm of the 2b embeddings. With
 * NORMALIZE the cosine variant (pytorch-metric-learning) has no
 * regulariser.
 */
#include "objective_internal.h"
#include "objective_math.h"

/* Adds lambda / (2b) sum |x_i|^2 to *loss and (lambda / b) x to grad. */
static void add_regulariser(double lambda, const float *x, int64_t ld,
                            int64_t b, int64_t d, float *grad, double *loss)
{
    int64_t i;
    double ss = 0.0;
    for (i = 0; i < b; i++) {
        ss += (double)ctr__vdot(x + i * ld, x + i * ld, d);
        if (grad != NULL)
            ctr__vaxpy(grad + i * d, x + i * ld, (float)(lambda / (double)b),
                       d);
    }
    *loss += lambda * ss / (2.0 * (double)b);
}

CTR_API int ctr_objective_npair(ctr_objective *obj, double *loss,
                                const float *a, int64_t lda, const float *p,
                                int64_t ldp, int64_t b, int64_t d,
                                float *grad_a, float *grad_p)
{
    ctr__obj_stats st;
    int rc;
    if (obj == NULL)
        return CTR_E_INVALID_ARG;
    rc = ctr__obj_begin(obj, CTR_OBJECTIVE_NPAIR, "ctr_objective_npair");
    if (rc == CTR_OK)
        rc = ctr__pair_check(obj, a, lda, p, ldp, b, d);
    if (rc == CTR_OK)
        rc = ctr__infonce_run(obj, a, lda, p, ldp, b, d, NULL, grad_a, grad_p,
                              &st);
    if (rc != CTR_OK)
        return rc;
    if (!obj->normalize && obj->npair_lambda > 0.0) {
        add_regulariser(obj->npair_lambda, a, lda, b, d, grad_a, &st.loss);
        add_regulariser(obj->npair_lambda, p, ldp, b, d, grad_p, &st.loss);
    }
    ctr__obj_publish(obj, &st);
    if (loss != NULL)
        *loss = st.loss;
    return CTR_OK;
}
