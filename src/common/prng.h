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

/* Every rejection loop of the library gives up after this many rounds and
 * takes a fixed way out, so that no input and no generator state can make
 * a call spin. Each loop's rejection chance per round is at most 1/2 (its
 * comment says), so the way out is taken with probability below 2^-64. */
#define CTR__MAX_REJECTS 64
/* Standard normal (Marsaglia polar method, in double precision). */
double ctr__prng_normal(ctr__prng *g);

#endif /* CTR_PRNG_H */
