/*
 * fbank.h - the initial filters of cpc-speech's learnable log-energy front
 * end (--compress logpow, senc.h): the first conv layer's 2P filters of
 * `taps` taps, filter f (f < P) the real part and filter P + f the
 * imaginary part of one complex band-pass, so that h_f^2 + h_{P+f}^2 is
 * that band's energy around the frame, as one bin of a short-time Fourier
 * transform. Kinds: random (the library's own initialisation, left as it
 * is), mel (Hann-windowed complex sinusoids at P centre frequencies evenly
 * spaced on the mel scale from 60 Hz to 7.8 kHz, the window of each as
 * long as makes its main lobe span the gap to its neighbours, at most
 * `taps`), linear (the same with centres evenly spaced in Hz, as the
 * pooled spectrogram baseline's 64 bands of 125 Hz). Each filter has unit
 * L2 norm, so that unit-variance white noise gives each band an energy of
 * 2 (1 per part).
 */
#ifndef CPC_SPEECH_FBANK_H
#define CPC_SPEECH_FBANK_H

#include <stdint.h>

#include <contrastive.h>

enum { FBANK_RANDOM, FBANK_MEL, FBANK_LINEAR };

/* Sets the weights of enc's first layer (a conv1d of 2 * pairs filters of
 * `taps` taps over one input channel, no bias) to the filters of `kind` for
 * audio sampled at rate Hz; FBANK_RANDOM leaves them alone. Returns a CTR
 * status. */
int fbank_init(ctr_encoder *enc, int64_t pairs, int64_t taps, int kind, double rate);

#endif /* CPC_SPEECH_FBANK_H */
