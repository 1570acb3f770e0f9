/*
 * dist_bank.h - the row ownership of a memory bank sharded over the ranks
 * of a communicator (dist_bank.c), shared by the distributed bank calls:
 * rank r holds the contiguous rows first(r) .. first(r) + count(r) - 1,
 * the first N mod R ranks one row more than the others.
 */
#ifndef CTR_DIST_BANK_H
#define CTR_DIST_BANK_H

#include "common/comm.h"

/* Rank r's first row and row count of an n-row bank (n >= size). */
void ctr__shard_range(const ctr_comm *c, int64_t n, int64_t r, int64_t *first,
                      int64_t *count);

/* This rank's status for a call on its shard of an n-row bank of
 * dimension d: the shard exists, holds exactly this rank's rows, and d
 * matches (d < 0: not checked). Message in the comm. */
int ctr__shard_check(ctr_comm *c, const ctr_bank *shard, int64_t n,
                     int64_t d);

/* CTR_E_INVALID_ARG (message naming what) unless each of count indices is
 * in [0, n); idx may be NULL only when count is 0. */
int ctr__shard_check_indices(ctr_comm *c, const int64_t *idx, int64_t count,
                             int64_t n, const char *what);

/* All-gathers count int64 of every rank (send copied to the first count
 * slots of work) into recv (size x count); work and recv do not overlap. */
int ctr__shard_gather_i64(ctr_comm *c, const int64_t *send, int64_t *work,
                          int64_t *recv, int64_t count, const char *what);

#endif /* CTR_DIST_BANK_H */
