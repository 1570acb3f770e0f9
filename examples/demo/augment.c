/*
 * augment.c - the augmentations, written for 28×28 single-channel images.
 */
#include "augment.h"

#include <math.h>
#include <string.h>

#include "fmnist.h"

#define SIDE FMNIST_SIDE
#define DRAWS 12 /* uniform draws per view: crop 6, flip 1, erase 5 */

augment_config augment_default(void)
{
    augment_config c;
    c.crop_min_scale = 1.0f;
    c.max_shift = 0.0f;
    c.flip_prob = 0.5f;
    c.noise_std = 0.03f;
    c.erase_prob = 0.2f;
    c.erase_style = ERASE_MEAN;
    c.standardize = 1;
    return c;
}

/* Bilinear sample of src at (x, y) in pixel coordinates, 0 outside. */
static float sample(const float *src, float x, float y)
{
    int x0 = (int)floorf(x), y0 = (int)floorf(y), dx, dy;
    float fx = x - (float)x0, fy = y - (float)y0, v = 0.0f;
    for (dy = 0; dy < 2; dy++) {
        for (dx = 0; dx < 2; dx++) {
            int xi = x0 + dx, yi = y0 + dy;
            float w = (dx ? fx : 1.0f - fx) * (dy ? fy : 1.0f - fy);
            if (xi >= 0 && xi < SIDE && yi >= 0 && yi < SIDE)
                v += w * src[yi * SIDE + xi];
        }
    }
    return v;
}

/* Crop box: area fraction in [min_scale, 1], aspect ratio in [3/4, 4/3]
 * (log-uniform), placed uniformly inside the image, then shifted by up to
 * max_shift. */
static void crop_box(const augment_config *cfg, const float *u, float *x0,
                     float *y0, float *w, float *h)
{
    float area = cfg->crop_min_scale + (1.0f - cfg->crop_min_scale) * u[0];
    float ratio = expf(logf(0.75f) + (logf(4.0f / 3.0f) - logf(0.75f)) * u[1]);
    *w = fminf((float)SIDE, sqrtf(area * ratio) * SIDE);
    *h = fminf((float)SIDE, sqrtf(area / ratio) * SIDE);
    *x0 = (SIDE - *w) * u[2] + cfg->max_shift * (2.0f * u[3] - 1.0f);
    *y0 = (SIDE - *h) * u[4] + cfg->max_shift * (2.0f * u[5] - 1.0f);
}

static void crop(const float *src, float *dst, const augment_config *cfg, const float *u)
{
    float x0, y0, w, h;
    int x, y, flip = u[6] < cfg->flip_prob;
    crop_box(cfg, u, &x0, &y0, &w, &h);
    for (y = 0; y < SIDE; y++) {
        for (x = 0; x < SIDE; x++) {
            int xs = flip ? SIDE - 1 - x : x;
            float sx = x0 + ((float)xs + 0.5f) * w / SIDE - 0.5f;
            float sy = y0 + ((float)y + 0.5f) * h / SIDE - 0.5f;
            dst[y * SIDE + x] = sample(src, sx, sy);
        }
    }
}

static void fill_box(float *img, int x0, int y0, int w, int h, float value)
{
    int x, y;
    for (y = y0; y < y0 + h; y++)
        for (x = x0; x < x0 + w; x++)
            img[y * SIDE + x] = value;
}

static int clamp_side(float v)
{
    return v < 1.0f ? 1 : v > (float)SIDE ? SIDE : (int)v;
}

/* u[0..4): shape and place a rectangle as the configured style does. */
static void erase(float *img, const augment_config *cfg, const float *u)
{
    float mean = cfg->standardize ? 0.0f : AUGMENT_MEAN;
    float black = cfg->standardize ? -AUGMENT_MEAN / AUGMENT_STD : 0.0f;
    if (cfg->erase_style == ERASE_BLACK) {
        int w = 4 + (int)(u[0] * 9.0f), h = 4 + (int)(u[1] * 9.0f);
        fill_box(img, (int)(u[2] * (float)(SIDE - w)), (int)(u[3] * (float)(SIDE - h)),
                 w, h, black);
    } else {
        float area = (0.02f + 0.23f * u[0]) * (float)(SIDE * SIDE);
        float ratio = expf(logf(0.3f) + (logf(3.3f) - logf(0.3f)) * u[1]);
        int h = clamp_side(roundf(sqrtf(area * ratio)));
        int w = clamp_side(roundf(sqrtf(area / ratio)));
        fill_box(img, (int)(u[3] * (float)(SIDE + 1 - w)), (int)(u[2] * (float)(SIDE + 1 - h)),
                 w, h, mean);
    }
}

static void standardize(float *img)
{
    int i;
    for (i = 0; i < SIDE * SIDE; i++)
        img[i] = (img[i] - AUGMENT_MEAN) / AUGMENT_STD;
}

int augment_image(const float *src, float *dst, const augment_config *cfg,
                  ctr_rng *rng)
{
    float u[DRAWS];
    int rc;
    if ((rc = ctr_rng_uniform(rng, u, DRAWS)) != CTR_OK)
        return rc;
    crop(src, dst, cfg, u);
    if (cfg->standardize)
        standardize(dst);
    if (cfg->noise_std > 0.0f) {
        float noise[SIDE * SIDE];
        float std = cfg->standardize ? cfg->noise_std / AUGMENT_STD : cfg->noise_std;
        int i;
        if ((rc = ctr_rng_normal(rng, noise, SIDE * SIDE, 0.0f, std)) != CTR_OK)
            return rc;
        for (i = 0; i < SIDE * SIDE; i++)
            dst[i] += noise[i];
    }
    if (u[7] < cfg->erase_prob)
        erase(dst, cfg, u + 8);
    return CTR_OK;
}

int augment_skip(const augment_config *cfg, ctr_rng *rng)
{
    float u[DRAWS], noise[SIDE * SIDE];
    int rc = ctr_rng_uniform(rng, u, DRAWS);
    if (rc == CTR_OK && cfg->noise_std > 0.0f)
        rc = ctr_rng_normal(rng, noise, SIDE * SIDE, 0.0f,
                            cfg->standardize ? cfg->noise_std / AUGMENT_STD : cfg->noise_std);
    return rc;
}

void augment_plain(const float *src, float *dst, const augment_config *cfg)
{
    memcpy(dst, src, SIDE * SIDE * sizeof(float));
    if (cfg->standardize)
        standardize(dst);
}
