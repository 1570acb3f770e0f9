/*
 * conv_winograd.h - the no-grad forward's 3x3, stride-1 convolutions as
 * Winograd F(2x2, 3x3) (conv_winograd.c), for layer_conv.c.
 */
#ifndef CTR_CONV_WINOGRAD_H
#define CTR_CONV_WINOGRAD_H

#include <stddef.h>
#include <stdint.h>

/* A 3x3, stride-1 convolution of n images C x H x W (zero padding p on
 * every side) to O x OH x OW, OH = H + 2p - 2, OW = W + 2p - 2. */
typedef struct ctr__wino_shape {
    int64_t c, h, w, o, p;
} ctr__wino_shape;

/* 1 when the no-grad forward runs a convolution of this shape (kernel k,
 * stride s) as Winograd, 0 when it keeps im2col: the rule is in
 * conv_winograd.c and docs/encoder.md. */
int ctr__wino_applies(const ctr__wino_shape *s, int64_t k, int64_t stride);

/* Floats of scratch ctr__wino_forward needs for n images (the filter's
 * transform and one chunk's transformed tiles and products);
 * CTR_E_OVERFLOW if they do not fit. */
int ctr__wino_floats(const ctr__wino_shape *s, int64_t n, size_t *out);

/* y (n x O x OH x OW) = the convolution of x (n x C x H x W) with w
 * (O x C x 3 x 3, PyTorch's layout) plus bias (O floats, or NULL), using
 * scratch (ctr__wino_floats(s, n) floats). */
void ctr__wino_forward(float *y, const float *x, const float *w, const float *bias, int64_t n,
                       const ctr__wino_shape *s, float *scratch);

#endif /* CTR_CONV_WINOGRAD_H */
