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
 * table's content is unspecified (callers build into a fresh block). The
 * table is ctr__alias_from_masses of the weights' integer masses. */
int ctr__alias_build(uint32_t *table, const double *w, int64_t n,
                     uint64_t *work_u, uint32_t *work_idx, ctr__error *e);

/* One draw in [0, n): two 64-bit outputs of g. */
int64_t ctr__alias_draw(const uint32_t *table, int64_t n, ctr__prng *g);

/* Vose's construction from integer masses u[0..n) summing to n * 2^32
 * (u is consumed); work holds n uint32. */
void ctr__alias_from_masses(uint32_t *table, uint64_t *u, int64_t n,
                            uint32_t *work);

/* The integer mass (out of n * 2^32) each row receives from the table. */
void ctr__alias_masses(const uint32_t *table, int64_t n, uint64_t *u);

/* CTR_OK if a table read from a file is exactly what the construction
 * builds from the masses it implies (so, a table set_weights could have
 * made), with every alias < n; CTR_E_CORRUPT with a message in e
 * otherwise. Scratch: u (n uint64), work (n uint32), rebuilt (2n uint32). */
int ctr__alias_verify(const uint32_t *table, int64_t n, uint64_t *u,
                      uint32_t *work, uint32_t *rebuilt, ctr__error *e);

/* cum[i] = the masses of rows 0..i (cum[n-1] = n * 2^32). */
void ctr__alias_cumulative(const uint32_t *table, int64_t n, uint64_t *cum);

/* Alias draws tried before a draw that excludes a row falls back to the
 * exact search. */
#define CTR__ALIAS_MAX_REJECTS 16

/* One draw in [0, n) that is not `skip` (which must leave some mass):
 * at most CTR__ALIAS_MAX_REJECTS table draws, then one O(log n) search
 * over cum; the distribution is the weights' conditioned on != skip. */
int64_t ctr__alias_draw_except(const uint32_t *table, const uint64_t *cum,
                               int64_t n, int64_t skip, ctr__prng *g);

/* How many distinct indices can be drawn, capped at 2; *sole receives the
 * index when there is exactly one. */
int ctr__alias_support(const uint32_t *table, int64_t n, int64_t *sole);

#endif /* CTR_ALIAS_H */
