/*
 * patch_grid.c - ctr_patch_grid (contrastive/cpc.h): overlapping square
 * patches of an image batch, the input CPC v2 runs its encoder on, in
 * grid-row or grid-column order. Stateless, no allocation.
 */
#include <string.h>

#include "common/core.h"

/* Copies the patch at grid (gy, gx) of one image into out. */
static void copy_patch(float *out, const float *img, int64_t channels,
                       int64_t height, int64_t width, int64_t patch,
                       int64_t y0, int64_t x0)
{
    int64_t ch, y;
    for (ch = 0; ch < channels; ch++)
        for (y = 0; y < patch; y++)
            memcpy(out + (ch * patch + y) * patch,
                   img + (ch * height + y0 + y) * width + x0,
                   (size_t)patch * sizeof(float));
}

static int check_args(int64_t n, int64_t channels, int64_t height,
                      int64_t width, int64_t patch, int64_t stride,
                      int32_t order)
{
    size_t bytes;
    if (n < 1 || channels < 1 || height < 1 || width < 1 || patch < 1 ||
        stride < 1 || patch > height || patch > width ||
        (order != CTR_PATCH_ROWS && order != CTR_PATCH_COLUMNS))
        return CTR_E_INVALID_ARG;
    if (ctr__matrix_bytes(&bytes, n, channels, sizeof(float)) != CTR_OK ||
        ctr__matrix_bytes(&bytes, (int64_t)(bytes / sizeof(float)), height,
                          sizeof(float)) != CTR_OK ||
        ctr__matrix_bytes(&bytes, (int64_t)(bytes / sizeof(float)), width,
                          sizeof(float)) != CTR_OK)
        return CTR_E_OVERFLOW;
    return CTR_OK;
}

CTR_API int ctr_patch_grid(float *out, int64_t *grid_h, int64_t *grid_w,
                           const float *images, int64_t n, int64_t channels,
                           int64_t height, int64_t width, int64_t patch,
                           int64_t stride, int32_t order)
{
    int64_t gh, gw, i, gy, gx, size;
    size_t bytes;
    int rc = check_args(n, channels, height, width, patch, stride, order);
    if (rc != CTR_OK)
        return rc;
    gh = (height - patch) / stride + 1;
    gw = (width - patch) / stride + 1;
    size = channels * patch * patch;
    if (ctr__matrix_bytes(&bytes, n * gh, gw * size, sizeof(float)) != CTR_OK)
        return CTR_E_OVERFLOW;
    if (out != NULL && images == NULL)
        return CTR_E_INVALID_ARG;
    for (i = 0; out != NULL && i < n; i++) {
        const float *img = images + i * channels * height * width;
        float *o = out + i * gh * gw * size;
        for (gy = 0; gy < gh; gy++)
            for (gx = 0; gx < gw; gx++) {
                const int64_t at = order == CTR_PATCH_ROWS ? gy * gw + gx
                                                           : gx * gh + gy;
                copy_patch(o + at * size, img, channels, height, width, patch,
                           gy * stride, gx * stride);
            }
    }
    if (grid_h != NULL)
        *grid_h = gh;
    if (grid_w != NULL)
        *grid_w = gw;
    return CTR_OK;
}
