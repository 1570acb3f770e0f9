/*
 * cpc_head.h - the part of a CPC model the two examples share, written on
 * the public API only: an autoregressive context (a one-layer GRU encoder
 * over sequences of latents), the CPC critic (a CTR_OBJECTIVE_CPC
 * objective) and its prediction matrices W_1..W_K with their biases in one
 * host buffer, each trained by its own optimizer. The latents come from
 * the example's own encoder, which gets dL/dz back.
 */
#ifndef CPC_HEAD_H
#define CPC_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include <contrastive.h>

typedef struct cpc_head {
    int64_t t, d, c, k, cap;   /* steps per sequence, dims, K, batch cap */
    int32_t negatives;
    int64_t n_neg;
    ctr_encoder *ctx;          /* t x d -> t x c, GRU */
    ctr_objective *obj;
    ctr_optimizer *opt_ctx, *opt_w;
    ctr_rng *rng;              /* sampled negatives */
    const int64_t *neg_idx;    /* SAMPLED: the host's indices, or NULL (rng) */
    float *w, *gw;             /* K*d*c weights then K*d biases */
    float *cbuf, *gc, *gz_ctx; /* cap x t x c, cap x t x c, cap x t x d */
    /* Optional (NULL after create): a host term on the contexts, called
     * by cpc_head_step after the critic and before the context's backward
     * with the step's contexts c and the critic's dL/dc (n x t x c each),
     * to which it adds its own gradient; returns a CTR status. */
    int (*extra)(void *user, const float *c, float *gc, int64_t n);
    void *extra_user;
} cpc_head;

/* Creates a head for sequences of t latents of dimension d, a GRU context
 * of dimension c, k prediction steps, the negative policy (n_neg for
 * SAMPLED), at most cap sequences per call, AdamW at learning rate lr.
 * W_k and b_k start as nn.Linear(c, d) does. Returns a CTR status; on
 * failure writes a message into err. */
int cpc_head_create(cpc_head *h, int64_t t, int64_t d, int64_t c, int64_t k,
                    int32_t negatives, int64_t n_neg, int64_t cap, double lr,
                    uint64_t seed, char *err, size_t errcap);
void cpc_head_destroy(cpc_head *h);

/* One training step on n sequences z (n x t x d, contiguous): context
 * forward, the critic's loss and gradients, context backward, updates of
 * the context and of W. gz (n x t x d) receives dL/dz through both the
 * critic and the context. loss and acc (k values) may be NULL. */
int cpc_head_step(cpc_head *h, const float *z, float *gz, int64_t n,
                  double *loss, double *acc, char *err, size_t errcap);

/* The context c (n x t x c) of n sequences, eval mode. */
int cpc_head_context(cpc_head *h, const float *z, float *c, int64_t n);

/* The chance-level loss of the last step. */
double cpc_head_chance(const cpc_head *h);

#endif /* CPC_HEAD_H */
