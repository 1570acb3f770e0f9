/*
 * video.h - synthetic videos of Fashion-MNIST items, the vivi example's
 * data. A video has `shots` shots of `frames` frames (28 x 28, [0, 1]);
 * each shot shows one item that moves, scales, turns and flickers over
 * its frames on a background of its own. A video has a topic class: each
 * shot's item is of that class with probability topic_prob, else of a
 * uniformly drawn class (a video's shots are related, as the shots of a
 * real video are - the invariance VIVI's shot level learns), and shots
 * show different items. Every choice comes from one splitmix64 generator
 * seeded by (seed, video index): a video is a pure function of them and of
 * the item pool. Labels are kept for evaluation only.
 */
#ifndef VIVI_VIDEO_H
#define VIVI_VIDEO_H

#include <stdint.h>

#define VIDEO_SIDE 28
#define VIDEO_PIXELS (VIDEO_SIDE * VIDEO_SIDE)
#define VIDEO_CLASSES 10

/* The items videos are made of: count images (VIDEO_PIXELS floats in
 * [0, 1] each) with labels in [0, VIDEO_CLASSES), indexed by class. */
typedef struct item_pool {
    const float *images;
    const int64_t *labels;
    int64_t count;
    int64_t *by_class;               /* count indices, grouped by class */
    int64_t start[VIDEO_CLASSES + 1]; /* class c: by_class[start[c] .. start[c+1]) */
} item_pool;

typedef struct video_config {
    int64_t shots, frames; /* per video; per shot */
    double topic_prob;     /* P(a shot's item is of the video's topic class) */
} video_config;

/* Indexes `count` items (the arrays are borrowed). Every class must have
 * at least one item. 0, or -1 (out of memory, an empty class). */
int item_pool_init(item_pool *p, const float *images, const int64_t *labels, int64_t count);
void item_pool_free(item_pool *p);

/* Renders video `index` of `seed`: frames receives shots x frames x
 * VIDEO_PIXELS floats (shot-major), item and cls (may be NULL) the pool
 * index and the class of each shot's item. */
void video_render(const item_pool *p, const video_config *cfg, uint64_t seed, int64_t index,
                  float *frames, int64_t *item, int64_t *cls);

/* 0 if rendering a video twice gives the same bits, another index or
 * seed other frames, and every frame is finite and in [0, 1]; else -1.
 * Uses a made-up pool of random items (no data set needed). */
int video_self_test(void);

#endif /* VIVI_VIDEO_H */
