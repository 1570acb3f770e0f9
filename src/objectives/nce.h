/*
 * nce.h - the parts of the NCE kind (nce.c) that the NCE over a sharded
 * bank (src/dist/dist_nce.c) shares, so that both compute the same
 * numbers from the same logits.
 */
#ifndef CTR_NCE_H
#define CTR_NCE_H

#include "objectives/kind.h"

/* The log normaliser a batch of count logits l (pre-scaled by 1/tau) uses
 * with a bank of n rows in obj's FIXED or EMA mode: the kept Z (FIXED,
 * once set), else log(n mean exp(l)), mixed with the kept one (EMA). */
double ctr__nce_log_z(const ctr_objective *obj, const float *l,
                      int64_t count, int64_t n);

/* Commits a successful call's log normaliser to obj (FIXED: once). */
void ctr__nce_commit(ctr_objective *obj, double state);

/* The sum of the loss terms of b anchors (l: b x (kn+1) logits, the own
 * row's first; lz: each anchor's log Z; bank of n rows); the logits become
 * d loss_i / d logit. */
double ctr__nce_terms(float *l, int64_t b, int64_t kn, int64_t n,
                      const double *lz);

#endif /* CTR_NCE_H */
