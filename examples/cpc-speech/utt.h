/*
 * utt.h - the utterance-level contrastive term of cpc-speech (--utt-weight):
 * a training batch holds pairs of windows, 2i and 2i + 1 the two halves of
 * one two-second stream of speech (one "sentence": one voice, random words
 * and settings); each window's contexts are mean-pooled over its frames,
 * optionally projected by a small linear layer, and NT-Xent (the library's
 * CTR_OBJECTIVE_NTXENT, cosine similarity at temperature tau) pulls the two
 * halves of a sentence together against the other sentences of the batch.
 * Its gradient, times the weight, is added to the CPC critic's dL/dc
 * before the context's backward (cpc_head's `extra` hook). No labels: what
 * is constant over a sentence (here its voice) is what the term rewards.
 */
#ifndef CPC_SPEECH_UTT_H
#define CPC_SPEECH_UTT_H

#include <stddef.h>
#include <stdint.h>

#include <contrastive.h>

typedef struct utt_term {
    double weight, loss, acc; /* loss and pretext accuracy of the last step */
    int64_t t, h, proj, cap;  /* frames, context dim, projection dim (0: none), windows */
    ctr_objective *obj;
    ctr_encoder *lin;         /* h -> proj, or NULL */
    ctr_optimizer *opt;
    float *pool, *gx;         /* cap x h: pooled contexts, their gradient */
    float *y, *gy, *g2;       /* cap x d (d = proj, or h): projected, its
                               * gradient by window, by view */
} utt_term;

/* A term of the given weight over cap windows of t frames of h-dim
 * contexts, NT-Xent at temperature tau, projection to proj dims (0: none;
 * AdamW at lr). Returns a CTR status, a message in err on failure. */
int utt_create(utt_term *u, double weight, double tau, int64_t t, int64_t h,
               int64_t proj, int64_t cap, double lr, uint64_t seed,
               char *err, size_t errcap);
void utt_destroy(utt_term *u);

/* The hook of cpc_head (user: a utt_term): adds weight * dL_utt/dc to gc
 * for the contexts c of n windows (n even; pairs 2i, 2i + 1), steps the
 * projection. */
int utt_hook(void *user, const float *c, float *gc, int64_t n);

#endif /* CPC_SPEECH_UTT_H */
