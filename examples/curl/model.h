/*
 * model.h - CURL on "catch" frames through the public API: a query
 * encoder (three strided convolutions, a linear layer to D = 50, layer
 * norm and tanh, as CURL's pixel encoder), its EMA key encoder, the
 * bilinear critic's W and their optimizers; one training step on a batch
 * of observation stacks.
 */
#ifndef CURL_MODEL_H
#define CURL_MODEL_H

#include <stdint.h>

#include "contrastive.h"

#define CURL_CROP 56 /* random crops of the 64 x 64 frames */

typedef struct curl_config {
    int64_t batch, dim;
    double lr, ema; /* key encoder: theta_k <- ema theta_k + (1 - ema) theta_q */
    uint64_t seed;
} curl_config;

typedef struct curl_model {
    curl_config cfg;
    ctr_encoder *query, *key;
    ctr_optimizer *opt_q, *opt_w;
    ctr_objective *critic;
    float *w, *grad_w;
    float *xq, *xk, *q, *k, *grad_q; /* batch buffers */
} curl_model;

/* A model with encoders of seed cfg->seed (the key a copy of the query),
 * W = I. Returns 0, or -1 with a message in err. */
int curl_model_init(curl_model *m, const curl_config *cfg, char *err, size_t cap);
void curl_model_free(curl_model *m);

/* An encoder of the same architecture (a random-init baseline). */
int curl_encoder_build(ctr_encoder **out, int64_t dim, uint64_t seed);

/* One CURL step on the batch already in m->xq (anchor crops) and m->xk
 * (positive crops): loss and pretext accuracy out. 0 or a CTR_E_* code. */
int curl_model_step(curl_model *m, double *loss, double *accuracy);

#endif /* CURL_MODEL_H */
