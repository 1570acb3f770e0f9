/*
 * affinity_run.h - the arithmetic of the dense affinity (affinity_run.c)
 * behind the handle of affinity.c: blocks of target rows of frame b
 * against the rows of frame a their windows reach, on NCHW maps read in
 * place through cBLAS leading dimensions.
 */
#ifndef CTR_AFFINITY_RUN_H
#define CTR_AFFINITY_RUN_H

#include <stddef.h>
#include <stdint.h>

/* The handle's parameters as the arithmetic reads them. */
typedef struct ctr__aff_cfg {
    double tau;
    int64_t radius; /* -1: full */
    int32_t loss;   /* CTR_AFFINITY_LOSS_* */
    double beta;
} ctr__aff_cfg;

/* One call's operands; a NULL output is not computed. With target set the
 * loss's gradient drives the backward pass, else grad_out does (NULL with
 * no target: forward only). */
typedef struct ctr__aff_job {
    const float *fa, *fb, *v, *target, *grad_out;
    float *out, *gfa, *gfb, *gv;
    int64_t b, c, h, w, cv, topk;
    double loss; /* out: the reconstruction loss when target is set */
} ctr__aff_job;

/* Floats of workspace a job of these sizes needs (CTR_OK or
 * CTR_E_OVERFLOW). */
int ctr__aff_ws_floats(const ctr__aff_cfg *cfg, int64_t c, int64_t h,
                       int64_t w, int64_t cv, int64_t topk, size_t *floats);

/* Runs a validated job on a workspace of ctr__aff_ws_floats floats. */
void ctr__aff_run(const ctr__aff_cfg *cfg, ctr__aff_job *job, float *ws);

#endif /* CTR_AFFINITY_RUN_H */
