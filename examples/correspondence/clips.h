/*
 * clips.h - the synthetic videos of the correspondence example: one to
 * CLIP_MAX_ITEMS Fashion-MNIST items (halved to 14 x 14) moving with
 * constant velocities, bouncing off the borders, over a static textured
 * background, on CLIP_SIDE x CLIP_SIDE frames of three channels: a
 * luminance L (the item's pixels over a smooth random texture) and two
 * colour channels (a colour per item over two other textures, independent
 * of L), each with a little noise per frame. The true mask of every frame
 * is known (0 background, k for item k; a later item covers an earlier
 * one). Everything is drawn from one splitmix64 generator seeded by the
 * clip's seed: a clip is a pure function of (seed, items, length).
 */
#ifndef CORR_CLIPS_H
#define CORR_CLIPS_H

#include <stdint.h>

#define CLIP_SIDE 32
#define CLIP_PIXELS (CLIP_SIDE * CLIP_SIDE)
#define CLIP_CHANNELS 3 /* L, colour a, colour b */
#define CLIP_MAX_ITEMS 3
#define CLIP_ITEM_SIDE 14

/* The images items come from: count x 28 x 28 floats in [0, 1]. */
typedef struct clip_source {
    const float *images;
    int64_t count;
} clip_source;

/* Renders frames t0 .. t0 + n - 1 of the clip of `seed` with `items`
 * items (1..CLIP_MAX_ITEMS): frames receives n x CLIP_CHANNELS x
 * CLIP_PIXELS floats, masks (may be NULL) n x CLIP_PIXELS labels. */
void clip_render(const clip_source *src, uint64_t seed, int items, int64_t t0,
                 int64_t n, float *frames, uint8_t *masks);

/* 0 if two renders of a seed agree bit for bit, a render of frames 3..5
 * equals those frames of a render from 0, two seeds differ, and every
 * item is visible in frame 0 of a few clips; else 1 (with a message on
 * stderr). */
int clip_self_test(const clip_source *src);

#endif /* CORR_CLIPS_H */
