/*
 * bands.h - the two-band front-end of cpc-speech (--front split|stack): a
 * linear-phase FIR split of 16 kHz audio, at 4 kHz by default (--split-hz).
 * The low band is a windowed-sinc low-pass (BANDS_TAPS taps, Blackman
 * window, cut-off `cut` x fs), the high band its complement (the input minus the low band, delayed
 * to match), so low + high gives the input back. docs/results.md ("the voice
 * gap, third pass") has why: the pooled spectrogram's voice cue is above
 * 4 kHz, where 2 % of the energy is.
 */
#ifndef CPC_SPEECH_BANDS_H
#define CPC_SPEECH_BANDS_H

#include <stdint.h>

#define BANDS_TAPS 101

/* low[i], high[i] for i in [0, n): the two bands of x (n samples, zero
 * outside) split at cut (a fraction of the sampling rate, in (0, 0.5)),
 * each scaled by its gain (the high band's is typically larger:
 * see bands_high_gain). Either output may be NULL. */
void bands_split(const float *x, int64_t n, double cut, float *low,
                 float *high, double low_gain, double high_gain);

/* 1 / RMS of the high band over `count` signals (xs[i], ns[i] samples):
 * the fixed gain that brings it to unit RMS on average, the same for every
 * utterance (so that its level relative to the low band stays a cue).
 * scratch: max ns[i] floats. Returns 1 when the band is silent. */
double bands_high_gain(const float *const *xs, const int64_t *ns,
                       int64_t count, double cut, float *scratch);

#endif /* CPC_SPEECH_BANDS_H */
