/*
 * local_global.h - the local-global kind (CTR_OBJECTIVE_LOCAL_GLOBAL,
 * contrastive/local_global.h): its checked operands and the driver.
 * local_global.c is the kind (checks, workspace plan, table, public
 * calls), local_global_run.c the math (scores, estimators, gradients).
 */
#ifndef CTR_LOCAL_GLOBAL_H
#define CTR_LOCAL_GLOBAL_H

#include "objectives/kind.h"

/* A call's operands: the caller's struct, checked, plus the plan. */
typedef struct ctr__lg_args {
    ctr_local_global_args in;
    int direct;      /* l read in place as a (b p) x d matrix, ld ldl */
    int64_t ldl;
    int keep_s;      /* clip or penalty: the scaled scores are kept */
    size_t ws_bytes; /* the exact workspace, computed by the check */
} ctr__lg_args;

/* Bytes of workspace for b, p, d (CTR_E_OVERFLOW if they do not fit):
 * the score block, its copy when keep_s, and the packed l and grad_l
 * when pack / pack_grad. */
int ctr__lg_workspace(size_t *bytes, int64_t b, int64_t p, int64_t d,
                      int keep_s, int pack, int pack_grad);

/* Loss, statistics and outputs of a checked call (workspace reserved). */
int ctr__lg_run(ctr_objective *obj, const ctr__lg_args *a,
                ctr__obj_stats *st);

#endif /* CTR_LOCAL_GLOBAL_H */
