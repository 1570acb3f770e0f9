/*
 * bank_shard.h - what a bank sharded over ranks (src/dist/dist_bank.c)
 * needs of a bank (bank.c): its rows made as a slice of a bigger bank's,
 * and draws over the whole bank from its generator.
 */
#ifndef CTR_BANK_SHARD_H
#define CTR_BANK_SHARD_H

#include "common/core.h"

/* Reseeds b's generator with seed and makes b's n rows rows first ..
 * first + n - 1 of the bank ctr_bank_create(n_total, dim, seed) makes,
 * replaying the draws of the rows it does not hold, so that the generator
 * ends in that bank's state (O(n_total dim) draws). */
void ctr__bank_init_shard(ctr_bank *b, uint64_t seed, int64_t n_total,
                          int64_t first);

/* One uniform draw in [0, n) from b's generator that is not skip (skip <
 * 0: any); ctr_bank_sample's uniform draw with N = n (n >= 2 when skip >=
 * 0). */
int64_t ctr__bank_draw_uniform(ctr_bank *b, int64_t n, int64_t skip);

/* 63 bits summarising the generator's state (equal states, equal values;
 * for the agreement record of a sharded draw). */
int64_t ctr__bank_gen_fingerprint(const ctr_bank *b);

#endif /* CTR_BANK_SHARD_H */
