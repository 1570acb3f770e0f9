/*
 * prng.c - xoshiro256** with SplitMix64 seeding, written from the
 * published description of both generators.
 */
#include "common/prng.h"

#include <math.h>

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ctr__prng_seed(ctr__prng *g, uint64_t seed)
{
    int i;
    for (i = 0; i < 4; i++)
        g->s[i] = splitmix64(&seed);
    /* SplitMix64 is a bijection of a counter, so four consecutive outputs
     * are never all zero; the state is valid for any seed. */
}

uint64_t ctr__prng_next(ctr__prng *g)
{
    uint64_t *s = g->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

void ctr__prng_jump(ctr__prng *g)
{
    /* The jump polynomial for 2^128 steps, from the generator's paper. */
    static const uint64_t jump[4] = {0x180EC6D33CFD0ABAull,
                                     0xD5A61266F0C9392Cull,
                                     0xA9582618E03FC9AAull,
                                     0x39ABDC4529B1661Cull};
    uint64_t acc[4] = {0, 0, 0, 0};
    int i, b, k;
    for (i = 0; i < 4; i++) {
        for (b = 0; b < 64; b++) {
            if (jump[i] & (1ull << b)) {
                for (k = 0; k < 4; k++)
                    acc[k] ^= g->s[k];
            }
            ctr__prng_next(g);
        }
    }
    for (k = 0; k < 4; k++)
        g->s[k] = acc[k];
}

void ctr__prng_split(ctr__prng *g, ctr__prng *child)
{
    *child = *g;
    ctr__prng_jump(g);
}

float ctr__prng_uniform_f32(ctr__prng *g)
{
    return (float)(ctr__prng_next(g) >> 40) * (1.0f / 16777216.0f);
}

double ctr__prng_uniform_f64(ctr__prng *g)
{
    return (double)(ctr__prng_next(g) >> 11) * (1.0 / 9007199254740992.0);
}

/* The high and low 64 bits of a * b, portably. */
static void mul_64x64(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo)
{
    const uint64_t a_lo = a & 0xFFFFFFFFu, a_hi = a >> 32;
    const uint64_t b_lo = b & 0xFFFFFFFFu, b_hi = b >> 32;
    const uint64_t ll = a_lo * b_lo, lh = a_lo * b_hi;
    const uint64_t hl = a_hi * b_lo, hh = a_hi * b_hi;
    const uint64_t mid = (ll >> 32) + (lh & 0xFFFFFFFFu) + (hl & 0xFFFFFFFFu);
    *lo = (mid << 32) | (ll & 0xFFFFFFFFu);
    *hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}

uint64_t ctr__prng_below(ctr__prng *g, uint64_t bound)
{
    uint64_t hi, lo;
    mul_64x64(ctr__prng_next(g), bound, &hi, &lo);
    if (lo < bound) {
        /* Lemire's rejection: each round fails with chance threshold /
         * 2^64 < 1/2; after CTR__MAX_REJECTS the last draw stands. */
        const uint64_t threshold = (0 - bound) % bound;
        int round;
        for (round = 0; lo < threshold && round < CTR__MAX_REJECTS; round++)
            mul_64x64(ctr__prng_next(g), bound, &hi, &lo);
    }
    return hi;
}

double ctr__prng_normal(ctr__prng *g)
{
    double u, v, s;
    int round = 0;
    /* Marsaglia's polar method rejects a round with chance 1 - pi/4 < 1/2;
     * after CTR__MAX_REJECTS rounds the draw is 0. */
    do {
        if (round++ == CTR__MAX_REJECTS)
            return 0.0;
        u = 2.0 * ctr__prng_uniform_f64(g) - 1.0;
        v = 2.0 * ctr__prng_uniform_f64(g) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    /* The polar method yields two normals; keeping one makes the stream's
     * position depend only on the number of calls, which keeps resumed
     * runs simple. */
    return u * sqrt(-2.0 * log(s) / s);
}
