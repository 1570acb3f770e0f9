/*
 * alias.h - Walker's alias table built by Vose's method, in exact integer
 * arithmetic: O(n) to build, O(1) per draw, and the same table and draws on
 * every platform.
 *
 * The table holds two uint32 per column c: table[2c] is the threshold
 * (out of 2^32) under which a draw landing on column c keeps c, and
 * table[2c + 1] is the alias taken otherwise. A column that keeps all its
 * mass has threshold 0 and alias c.
 */
#ifndef CTR_ALIAS_H
#define CTR_ALIAS_H

#include <stdint.h>

#include "common/core.h"
#include "common/prng.h"

/* Builds the table (2n uint32) of n (1..2^31-1) columns for weights
 * w[0..n): finite, >= 0, with a positive finite sum (checked here, with
 * messages into e). work_u (n uint64) and work_idx (n uint32) are scratch
 * space. Returns CTR_OK, CTR_E_INVALID_ARG or CTR_E_NUMERIC; on failure the
 * table's content is unspecified (callers build into a fresh block). */
int ctr__alias_build(uint32_t *table, const double *w, int64_t n,
                     uint64_t *work_u, uint32_t *work_idx, ctr__error *e);

/* One draw in [0, n): two 64-bit outputs of g. */
int64_t ctr__alias_draw(const uint32_t *table, int64_t n, ctr__prng *g);

/* CTR_OK if every alias is < n (a loaded table is safe to draw from). */
int ctr__alias_check(const uint32_t *table, int64_t n);

/* How many distinct indices can be drawn, capped at 2; *sole receives the
 * index when there is exactly one. */
int ctr__alias_support(const uint32_t *table, int64_t n, int64_t *sole);

#endif /* CTR_ALIAS_H */
