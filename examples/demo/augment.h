/*
 * augment.h - seeded augmentations for 1-channel 28×28 images: random
 * resized crop (with small translations), horizontal flip, Gaussian noise,
 * random erasing. All randomness comes from the caller's ctr_rng.
 */
#ifndef DEMO_AUGMENT_H
#define DEMO_AUGMENT_H

#include <contrastive.h>

typedef struct augment_config {
    float crop_min_scale; /* area fraction of the crop, e.g. 0.3 (1 = off) */
    float max_shift;      /* extra translation in pixels, e.g. 2 */
    float flip_prob;      /* horizontal flip probability, e.g. 0.5 */
    float noise_std;      /* Gaussian pixel noise, e.g. 0.05 (0 = off) */
    float erase_prob;     /* random erasing probability, e.g. 0.25 */
} augment_config;

/* The demo's default recipe. */
augment_config augment_default(void);

/* Writes one augmented view of src (28×28, [0,1]) into dst. Returns the
 * ctr_rng status (CTR_OK). */
int augment_image(const float *src, float *dst, const augment_config *cfg,
                  ctr_rng *rng);

#endif /* DEMO_AUGMENT_H */
