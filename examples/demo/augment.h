/*
 * augment.h - seeded augmentations for 1-channel 28×28 images: random
 * resized crop (optionally translated past the border), horizontal flip,
 * input standardisation, Gaussian noise, random erasing. All randomness
 * comes from the caller's ctr_rng.
 */
#ifndef DEMO_AUGMENT_H
#define DEMO_AUGMENT_H

#include <contrastive.h>

/* Fashion-MNIST's training-set pixel mean and standard deviation ([0,1]). */
#define AUGMENT_MEAN 0.2860f
#define AUGMENT_STD 0.3530f

/* How a random-erasing rectangle is drawn and filled. */
#define ERASE_MEAN 0  /* area 2-25 % of the image, aspect 0.3-3.3, filled
                         with the data set's mean (Zhong et al.; torchvision) */
#define ERASE_BLACK 1 /* a 4-12 × 4-12 pixel box filled with black */

typedef struct augment_config {
    float crop_min_scale; /* area fraction of the crop, e.g. 0.3 (1 = off) */
    float max_shift;      /* translation past the crop's placement, in
                             pixels, filled with black (0 = off) */
    float flip_prob;      /* horizontal flip probability, e.g. 0.5 */
    float noise_std;      /* Gaussian pixel noise in [0,1] units (0 = off) */
    float erase_prob;     /* random erasing probability, e.g. 0.2 */
    int erase_style;      /* ERASE_MEAN or ERASE_BLACK */
    int standardize;      /* 1: pixels become (x - mean) / std */
} augment_config;

/* The demo's default recipe. */
augment_config augment_default(void);

/* Writes one augmented view of src (28×28, [0,1]) into dst. Returns the
 * ctr_rng status (CTR_OK). */
int augment_image(const float *src, float *dst, const augment_config *cfg,
                  ctr_rng *rng);

/* Draws from rng exactly what augment_image draws for one view, without
 * making it: a rank of the distributed demo skips the other ranks' views
 * so that its generator stays the one process's. Returns the ctr_rng
 * status (CTR_OK). */
int augment_skip(const augment_config *cfg, ctr_rng *rng);

/* Writes src as the encoder sees an unaugmented image (standardised when
 * cfg->standardize is set). */
void augment_plain(const float *src, float *dst, const augment_config *cfg);

#endif /* DEMO_AUGMENT_H */
