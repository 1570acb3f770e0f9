/*
 * data.h - sets of "catch" episodes (game.h) and the observations the
 * example draws from them.
 */
#ifndef CURL_DATA_H
#define CURL_DATA_H

#include <stdint.h>

#include "game.h"

typedef struct episodes {
    int64_t count, steps;
    uint8_t *frames; /* count x steps x 64 x 64 */
    float *states;   /* count x steps x GAME_STATE */
} episodes;

/* Plays episodes first_seed .. first_seed + count - 1. 0 or -1 (memory). */
int episodes_make(episodes *e, uint64_t first_seed, int64_t count, int64_t steps);
void episodes_free(episodes *e);

/* Observations per episode (frames 2 .. steps - 1) and in all. */
int64_t episodes_samples(const episodes *e);

/* Sample i (0 .. episodes_samples - 1): its crop at (top, left) into out
 * (3 x side x side) and, if state is not NULL, its true state. */
void episodes_sample(const episodes *e, int64_t i, int64_t top, int64_t left, int64_t side,
                     float *out, float *state);

#endif /* CURL_DATA_H */
