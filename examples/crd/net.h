/*
 * net.h - the networks of examples/crd, on the public API only. Each
 * network is a backbone (image -> penultimate features f) and a linear
 * classifier (f -> 10 logits), two chained encoders, so that CRD's
 * gradient can enter at f (docs/crd.md):
 *
 *   teacher: conv 3x3 (16) BN ReLU maxpool 2, conv 3x3 (32) BN ReLU
 *            maxpool 2, flatten, linear 128, BN, ReLU   -> f_t (128)
 *   student: flatten 784, linear H, ReLU                -> f_s (H)
 *
 * The teacher has about 207k parameters; the default student (H = 128)
 * about 102k, half of them, and a twelfth of the teacher's multiply-adds.
 */
#ifndef CRD_NET_H
#define CRD_NET_H

#include <stddef.h>
#include <stdint.h>

#include "contrastive.h"

#define NET_CLASSES 10
#define TEACHER_FEAT 128

typedef struct net {
    ctr_encoder *body, *head;     /* backbone, classifier */
    ctr_optimizer *obody, *ohead; /* AdamW, NULL when not trained */
    int64_t feat, batch;
    float *f, *logits, *df, *df2; /* batch buffers */
} net;

/* Builds the teacher (student 0) or a student of `hidden` features, with
 * AdamW (lr, no weight decay) when lr > 0. 0 or a CTR_E_* code, err set. */
int net_create(net *n, int student, int64_t hidden, int64_t batch,
               uint64_t seed, double lr, char *err, size_t cap);
void net_destroy(net *n);

/* Train-mode forward of b <= batch images into n->f and n->logits. */
int net_forward(net *n, const float *images, int64_t b);

/* Backward from the logits' gradient dlogits plus, when dfeat is not
 * NULL, a gradient at the features; then one optimizer step of both. */
int net_backward_step(net *n, const float *dlogits, const float *dfeat);

/* Eval-mode features (count x feat, may be NULL) and logits (count x 10,
 * may be NULL) of count images, in batches. */
int net_eval(net *n, const float *images, int64_t count, float *feat,
             float *logits);

/* Test accuracy: the fraction of count images whose top logit is their
 * label; -1 on failure. */
double net_accuracy(net *n, const float *images, const int64_t *labels,
                    int64_t count);

/* Saves the backbone and the classifier to <prefix>.body, <prefix>.head;
 * net_load replaces them with those files' (optimizers untouched). */
int net_save(const net *n, const char *prefix);
int net_load(net *n, const char *prefix);

/* Parameter count of backbone + classifier. */
int64_t net_params(const net *n);

#endif /* CRD_NET_H */
