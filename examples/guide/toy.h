/*
 * toy.h - the data and the evaluation shared by the guide's programs
 * (docs/guide.md): a stand-in for the host's data loader, small enough to
 * train in a second.
 *
 * Points: TOY_DIM features. The first TOY_SIGNAL carry the class (one of
 * TOY_CLASSES centres, plus the instance's own offset); the other
 * TOY_DIM - TOY_SIGNAL are large nuisance noise. A "view" of a point keeps
 * its signal (with a little jitter) and redraws the nuisance, as an
 * augmentation keeps an image's object and changes its crop and colour.
 * Raw points are dominated by the nuisance; an encoder that learns what two
 * views share learns the signal, which the kNN accuracy shows.
 *
 * Sequences (the CPC program): TOY_STEPS frames of TOY_FRAME features, a
 * rotating phase whose speed is the class, seen through a fixed random
 * projection, plus noise.
 *
 * TRY(call) ends the program with the library's message when a call fails:
 * a real host would recover or report instead.
 */
#ifndef GUIDE_TOY_H
#define GUIDE_TOY_H

#include <contrastive.h>
#include <stdio.h>
#include <stdlib.h>

#define TOY_DIM 32
#define TOY_SIGNAL 8
#define TOY_CLASSES 10
#define TOY_STEPS 16
#define TOY_FRAME 8

#define TRY(call)                                                                                  \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != CTR_OK) {                                                                       \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, ctr_strerror(rc_));      \
            exit(EXIT_FAILURE);                                                                    \
        }                                                                                          \
    } while (0)

/* calloc that ends the program when memory runs out. */
void *toy_alloc(size_t count, size_t size);
/* n points (n x TOY_DIM) and their labels. */
void toy_points(ctr_rng *rng, float *x, int64_t *labels, int64_t n);
/* The points rows[0..n) of x, augmented, into view (n x TOY_DIM). */
void toy_view(ctr_rng *rng, float *view, const float *x, const int64_t *rows, int64_t n);
/* n sequences (n x TOY_STEPS x TOY_FRAME) and their labels. */
void toy_sequences(ctr_rng *rng, float *x, int64_t *labels, int64_t n);
/* Weighted kNN accuracy (k 20) of test features against train features. */
double toy_knn(const float *train, const int64_t *train_labels, int64_t n_train,
               const float *test, const int64_t *test_labels, int64_t n_test, int64_t dim);
/* Encodes n inputs with enc in evaluation mode into feat. */
void toy_features(ctr_encoder *enc, float *feat, const float *x, int64_t n);

#endif

