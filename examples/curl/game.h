/*
 * game.h - "catch", the small deterministic game the curl example learns
 * from: a 4 x 4 ball falls through a 64 x 64 frame, bouncing off the side
 * walls, and a 12 x 3 paddle at the bottom follows it under a scripted,
 * partly random policy; a ball that reaches the paddle's row respawns at
 * the top with a random position and velocity. Everything is drawn from
 * one seeded generator, so an episode is a pure function of its seed.
 */
#ifndef CURL_GAME_H
#define CURL_GAME_H

#include <stdint.h>

#define GAME_SIZE 64     /* frame side, pixels */
#define GAME_STATE 5     /* ball x, ball y, paddle x, ball vx, ball vy */

/* Plays `steps` frames of the episode of `seed`: frames receives steps
 * frames of GAME_SIZE x GAME_SIZE bytes (0 background, 180 paddle, 255
 * ball), states steps x GAME_STATE floats, the true state shown by each
 * frame (ball and paddle centres in pixels, the ball's velocity in pixels
 * per frame). */
void game_episode(uint64_t seed, int64_t steps, uint8_t *frames, float *states);

/* The observation of frame t >= 2 of an episode: frames t-2, t-1, t as 3
 * channels (x 1/255), cropped to side x side at (top, left):
 * out is 3 x side x side floats. */
void game_stack(const uint8_t *frames, int64_t t, int64_t top, int64_t left,
                int64_t side, float *out);

/* 0 if two plays of the same seed give the same frames and states and
 * another seed gives other frames; else -1. */
int game_self_test(void);

#endif /* CURL_GAME_H */
