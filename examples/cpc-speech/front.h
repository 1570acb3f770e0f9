/*
 * front.h - what the encoders of cpc-speech read (--front): the waveform
 * (full, one model), its two bands each to its own CPC model (split:
 * multi-band CPC, a low-band and a high-band encoder + context + critic,
 * features concatenated), or the waveform and its high band as a
 * two-channel input to one encoder (stack), or three bands, split at
 * cut / 2 and cut (split3: 0-2, 2-4, 4-8 kHz by default), each to its own
 * model. bands.h has the filters.
 */
#ifndef CPC_SPEECH_FRONT_H
#define CPC_SPEECH_FRONT_H

#include <stdint.h>

#include "corpus.h"

enum { FRONT_FULL, FRONT_SPLIT, FRONT_STACK, FRONT_SPLIT3 };
#define FRONT_MAX_MODELS 3

typedef struct front {
    int kind;
    int64_t models;  /* CPC models: 2 for split, 3 for split3, else 1 */
    int64_t in_ch;   /* input channels of each encoder: 2 for stack */
    double cut;      /* the split, a fraction of the sampling rate */
    double gain;     /* of the high band: 1 / its RMS over the training set */
    double gain_mid; /* split3: of the middle band, the same way */
    float *tmp;      /* one window */
} front;

/* Sets f up for kind, split at cut (a fraction of the sampling rate),
 * over the training utterances idx[0..n) of c (the high band's gain);
 * window: samples per window. Returns 0, or -1
 * when out of memory. */
int front_init(front *f, int kind, double cut, const corpus *c,
               const int64_t *idx, int64_t n, int64_t window);
void front_free(front *f);

/* The inputs of the f->models encoders for cnt windows win (cnt x window):
 * x[m] gets cnt x window x f->in_ch floats. */
void front_apply(const front *f, const float *win, int64_t cnt,
                 int64_t window, float *const *x);

#endif /* CPC_SPEECH_FRONT_H */
