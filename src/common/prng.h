/*
 * prng.h - the generator every object embeds: xoshiro256** (Blackman &
 * Vigna, "Scrambled linear pseudorandom number generators", 2018) seeded by
 * SplitMix64, with a jump of 2^128 steps for splitting. Held by value in
 * the object that draws from it, so drawing never allocates.
 */
#ifndef CTR_PRNG_H
#define CTR_PRNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct ctr__prng {
    uint64_t s[4];
} ctr__prng;

/* Seeds the state from 64 bits through SplitMix64 (never all-zero). */
void ctr__prng_seed(ctr__prng *g, uint64_t seed);
/* The next 64 random bits. */
uint64_t ctr__prng_next(ctr__prng *g);
/* Advances g by 2^128 steps. */
void ctr__prng_jump(ctr__prng *g);
/* *child = g's current state, then g jumps: the two streams are disjoint
 * for 2^128 draws. */
void ctr__prng_split(ctr__prng *g, ctr__prng *child);

/* Uniform in [0, 1): 24 random bits (float) or 53 (double). */
float ctr__prng_uniform_f32(ctr__prng *g);
double ctr__prng_uniform_f64(ctr__prng *g);
/* Uniform integer in [0, bound), bound >= 1, without modulo bias
 * (Lemire's multiply-and-reject method). */
uint64_t ctr__prng_below(ctr__prng *g, uint64_t bound);
/* Standard normal (Marsaglia polar method, in double precision). */
double ctr__prng_normal(ctr__prng *g);

#endif /* CTR_PRNG_H */
