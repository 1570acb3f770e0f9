/*
 * trainer.h - one self-supervised method (SimCLR, MoCo v2 or Wu et al.'s
 * instance discrimination) built from libcontrastive's public objects: the
 * way a host application would write its own training loop.
 */
#ifndef DEMO_TRAINER_H
#define DEMO_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include <contrastive.h>

#include "fmnist.h"
#include "options.h"

typedef struct trainer trainer;

typedef struct step_stats {
    double loss;
    double pretext_acc;
} step_stats;

/* Creates the networks, optimizer, objective and memories for
 * opt->method, for n_train training images and `total_steps` steps (the
 * learning-rate schedule). comm NULL: one process; otherwise this rank of
 * a data-parallel run (collective: every rank calls it), which trains on
 * its opt->batch / size images of each global batch. Returns 0, or -1 with
 * a message in err. */
int trainer_create(trainer **out, const demo_options *opt, ctr_comm *comm,
                   int64_t n_train, int64_t total_steps, char *err, size_t cap);
void trainer_destroy(trainer *t);

/* Draws the next epoch's order of training images. */
int trainer_shuffle(trainer *t, int64_t *order, int64_t n);

/* One training step on the images order[0..batch) of `train`. */
int trainer_step(trainer *t, const fmnist_split *train, const int64_t *order,
                 step_stats *stats, char *err, size_t cap);

/* One eval-mode pass over n images: backbone features into feat (n × dim)
 * and embeddings into emb (n × embedding dim); either may be NULL. */
int64_t trainer_feature_dim(const trainer *t);
int trainer_features(trainer *t, const float *images, int64_t n, float *feat,
                     float *emb, char *err, size_t cap);

/* Embeddings (eval mode, output of the projection head, unit length) of
 * the two views used for alignment: the plain image and one augmentation. */
int64_t trainer_embedding_dim(const trainer *t);
int trainer_embeddings(trainer *t, const float *images, int64_t n, float *emb,
                       int augmented, char *err, size_t cap);

/* Checkpoint of everything the run needs to continue exactly. */
int trainer_save(const trainer *t, const char *dir, char *err, size_t cap);
int trainer_load(trainer *t, const char *dir, char *err, size_t cap);
int64_t trainer_steps_done(const trainer *t);

/* Across ranks (collective; nothing to do without a communicator or
 * where the ranks' encoders are already equal): MoCo's BN running
 * statistics averaged over the ranks, so that every rank holds the one
 * process's, before evaluating or saving. */
int trainer_sync(trainer *t, char *err, size_t cap);

#endif /* DEMO_TRAINER_H */
