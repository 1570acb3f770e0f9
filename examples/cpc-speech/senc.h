/*
 * senc.h - the waveform encoder of cpc-speech: strided 1-D conv layers
 * with ReLU, either one library encoder, or (--compress log, the
 * compressive front end) two: the first conv layer alone, then in host
 * code y = log(1 + |h|) of its output (with the gradient,
 * dy/dh = sign(h) / (1 + |h|)), then the other layers. The log compresses
 * the first layer's filter outputs as a log spectrogram compresses band
 * energies, so that a quiet band (the 4-8 kHz voice cue) is not swamped
 * by the loud low band in the layers above. Or (--compress logpow, the
 * learnable log-energy front end, the SincNet / LEAF idea) the first layer
 * 2P filters without bias or ReLU, paired as the real and imaginary parts
 * of P band-passes (fbank.h has their initialisations), and in host code
 * y_f = log(eps + h_f^2 + h_{P+f}^2), P log band energies per frame as a
 * log spectrogram has, with the gradient dy_f/dh_f = 2 h_f / (eps + h_f^2
 * + h_{P+f}^2) (the same for h_{P+f}); then the other layers.
 */
#ifndef CPC_SPEECH_SENC_H
#define CPC_SPEECH_SENC_H

#include <stdint.h>

#include <contrastive.h>

enum { SENC_PLAIN, SENC_LOG, SENC_LOGPOW };
#define SENC_EPS 1e-4f /* of SENC_LOGPOW's log */

typedef struct senc {
    ctr_encoder *a, *b;     /* b NULL: a is the whole encoder */
    ctr_optimizer *oa, *ob;
    int compress;           /* SENC_* */
    int64_t hsize, cap, n;  /* floats of a's output per window; windows; of the last forward */
    int64_t pairs;          /* SENC_LOGPOW: P; a's output is frames x 2P */
    float *h, *y, *gy, *gh; /* cap x hsize: a's output, its compression, dL/dy, dL/dh */
} senc;

/* The layers' shape: layers conv layers of `channels` output channels,
 * kernel k[l], stride s[l], padding p[l], over a window of `window`
 * samples x in_ch channels. */
typedef struct senc_shape {
    int64_t window, in_ch, channels, layers;
    const int64_t *k, *s, *p;
    int64_t pairs; /* SENC_LOGPOW: the first layer's 2 x pairs filters */
    int fb_init;   /* SENC_LOGPOW: their initialisation (FBANK_*) */
    double rate;   /* SENC_LOGPOW: the sampling rate (Hz) */
} senc_shape;

/* Creates the encoder (compress SENC_PLAIN, SENC_LOG: log(1 + |h|) after
 * the first layer, SENC_LOGPOW: log energies of its filter pairs)
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
