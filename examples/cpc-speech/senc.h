/*
 * senc.h - the waveform encoder of cpc-speech: strided 1-D conv layers
 * with ReLU, either one library encoder, or (--compress log, the
 * compressive front end) two: the first conv layer alone, then in host
 * code y = log(1 + |h|) of its output (with the gradient,
 * dy/dh = sign(h) / (1 + |h|)), then the other layers. The log compresses
 * the first layer's filter outputs as a log spectrogram compresses band
 * energies, so that a quiet band (the 4-8 kHz voice cue) is not swamped
 * by the loud low band in the layers above.
 */
#ifndef CPC_SPEECH_SENC_H
#define CPC_SPEECH_SENC_H

#include <stdint.h>

#include <contrastive.h>

typedef struct senc {
    ctr_encoder *a, *b;     /* b NULL: a is the whole encoder */
    ctr_optimizer *oa, *ob;
    int64_t hsize, cap, n;  /* floats of a's output per window; windows; of the last forward */
    float *h, *y, *gy;      /* cap x hsize: a's output, log(1 + |h|), dL/dy */
} senc;

/* The layers' shape: layers conv layers of `channels` output channels,
 * kernel k[l], stride s[l], padding p[l], over a window of `window`
 * samples x in_ch channels. */
typedef struct senc_shape {
    int64_t window, in_ch, channels, layers;
    const int64_t *k, *s, *p;
} senc_shape;

/* Creates the encoder (compress 0: plain, 1: log after the first layer)
 * for at most cap windows, AdamW at lr. Returns a CTR status. */
int senc_create(senc *e, const senc_shape *sh, int compress, int64_t cap,
                double lr, uint64_t seed);
void senc_destroy(senc *e);

/* As ctr_encoder_forward / zero_grad + backward (dx not computed) /
 * optimizer step on the whole encoder. */
int senc_forward(senc *e, float *z, const float *x, int64_t n, int32_t mode);
int senc_backward(senc *e, const float *gz);
int senc_zero_grad(senc *e);
int senc_step(senc *e);

/* The last error message of the encoder that failed (or of a). */
const char *senc_last_error(const senc *e);

#endif /* CPC_SPEECH_SENC_H */
