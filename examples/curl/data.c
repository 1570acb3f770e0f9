/*
 * data.c - episode sets of data.h.
 */
#include "data.h"

#include <stdlib.h>
#include <string.h>

int episodes_make(episodes *e, uint64_t first_seed, int64_t count, int64_t steps)
{
    int64_t i;
    const int64_t frame = GAME_SIZE * GAME_SIZE;
    e->count = count, e->steps = steps;
    e->frames = (uint8_t *)malloc((size_t)(count * steps * frame));
    e->states = (float *)malloc((size_t)(count * steps * GAME_STATE) * sizeof(float));
    if (e->frames == NULL || e->states == NULL) {
        episodes_free(e);
        return -1;
    }
    for (i = 0; i < count; i++)
        game_episode(first_seed + (uint64_t)i, steps, e->frames + i * steps * frame,
                     e->states + i * steps * GAME_STATE);
    return 0;
}

void episodes_free(episodes *e)
{
    free(e->frames);
    free(e->states);
    e->frames = NULL;
    e->states = NULL;
}

int64_t episodes_samples(const episodes *e)
{
    return e->count * (e->steps - 2);
}

void episodes_sample(const episodes *e, int64_t i, int64_t top, int64_t left, int64_t side,
                     float *out, float *state)
{
    const int64_t per = e->steps - 2, ep = i / per, t = i % per + 2;
    const uint8_t *frames = e->frames + ep * e->steps * GAME_SIZE * GAME_SIZE;
    game_stack(frames, t, top, left, side, out);
    if (state != NULL)
        memcpy(state, e->states + (ep * e->steps + t) * GAME_STATE,
               GAME_STATE * sizeof(float));
}
