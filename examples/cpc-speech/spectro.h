/*
 * spectro.h - the hand-made baseline of cpc-speech: log band energies of a
 * short-time spectrum (25 ms Hann windows every 10 ms, 512-point FFT, the
 * 0-8 kHz range in SPECTRO_BANDS equal bands), averaged over the frames of
 * an utterance (and optionally their standard deviation).
 */
#ifndef CPC_SPEECH_SPECTRO_H
#define CPC_SPEECH_SPECTRO_H

#include <stdint.h>

#define SPECTRO_BANDS 64

/* out[0..SPECTRO_BANDS) = the mean over frames of log(band energy + 1e-6)
 * of n samples at 16 kHz (n >= 400); with with_std != 0 also
 * out[SPECTRO_BANDS..2 SPECTRO_BANDS) = their standard deviation over the
 * frames (the pooling the probe gets for every feature set). */
void spectro_pooled(const float *x, int64_t n, int with_std, float *out);

#endif /* CPC_SPEECH_SPECTRO_H */
