/*
 * cpc_call.h - the CPC critic's tests call ctr_objective_cpc through this
 * helper, which takes every field of ctr_cpc_args as an argument (strides
 * and policy passed as they are: 0 means the struct's default) and fills
 * the struct, so that each case reads as one line.
 */
#ifndef CTR_TEST_CPC_CALL_H
#define CTR_TEST_CPC_CALL_H

#include "contrastive.h"

static int cpc_call(ctr_objective *obj, double *loss, const float *z,
                    int64_t zs, int64_t zt, const float *c, int64_t cs,
                    int64_t ct, int64_t b, int64_t t, int64_t d, int64_t dc,
                    const float *w, const float *bias, int64_t steps,
                    int32_t negatives, int64_t n_neg, ctr_rng *rng,
                    const int64_t *neg_idx, float *gz, float *gc, float *gw,
                    float *gb, double *acc)
{
    ctr_cpc_args a;
    ctr_cpc_args_init(&a);
    a.z = z, a.z_seq_stride = zs, a.z_time_stride = zt;
    a.c = c, a.c_seq_stride = cs, a.c_time_stride = ct;
    a.b = b, a.t = t, a.d = d, a.dc = dc, a.w = w, a.bias = bias;
    a.steps = steps, a.negatives = negatives, a.n_neg = n_neg;
    a.rng = rng, a.neg_idx = neg_idx;
    a.grad_z = gz, a.grad_c = gc, a.grad_w = gw, a.grad_bias = gb;
    a.step_acc = acc;
    return ctr_objective_cpc(obj, &a, loss);
}

#endif /* CTR_TEST_CPC_CALL_H */
