/*
 * augment.c - the augmentations, written for 28×28 single-channel images.
 */
#include "augment.h"

#include <math.h>
#include <string.h>

#include "fmnist.h"

#define SIDE FMNIST_SIDE

augment_config augment_default(void)
{
    augment_config c;
    c.crop_min_scale = 0.35f;
    c.max_shift = 2.0f;
    c.flip_prob = 0.5f;
    c.noise_std = 0.03f;
    c.erase_prob = 0.2f;
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
 * (log-uniform), placed uniformly, then shifted by up to max_shift. */
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

static void erase_patch(float *img, const float *u)
{
    int ew = 4 + (int)(u[0] * 9.0f), eh = 4 + (int)(u[1] * 9.0f);
    int ex = (int)(u[2] * (float)(SIDE - ew)), ey = (int)(u[3] * (float)(SIDE - eh));
    int x, y;
    for (y = ey; y < ey + eh; y++)
        for (x = ex; x < ex + ew; x++)
            img[y * SIDE + x] = 0.0f;
}

int augment_image(const float *src, float *dst, const augment_config *cfg,
                  ctr_rng *rng)
{
    float u[12], x0, y0, w, h;
    int x, y, flip, rc;
    if ((rc = ctr_rng_uniform(rng, u, 12)) != CTR_OK)
        return rc;
    crop_box(cfg, u, &x0, &y0, &w, &h);
    flip = u[6] < cfg->flip_prob;
    for (y = 0; y < SIDE; y++) {
        for (x = 0; x < SIDE; x++) {
            int xs = flip ? SIDE - 1 - x : x;
            float sx = x0 + ((float)xs + 0.5f) * w / SIDE - 0.5f;
            float sy = y0 + ((float)y + 0.5f) * h / SIDE - 0.5f;
            dst[y * SIDE + x] = sample(src, sx, sy);
        }
    }
    if (u[7] < cfg->erase_prob)
        erase_patch(dst, u + 8);
    if (cfg->noise_std > 0.0f) {
        float noise[SIDE * SIDE];
        int i;
        if ((rc = ctr_rng_normal(rng, noise, SIDE * SIDE, 0.0f, cfg->noise_std)) != CTR_OK)
            return rc;
        for (i = 0; i < SIDE * SIDE; i++)
            dst[i] += noise[i];
    }
    return CTR_OK;
}
