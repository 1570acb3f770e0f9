/*
 * cpc_probe.h - the linear-probe protocol both CPC examples report: the
 * library's ctr_probe (multinomial logistic regression, L-BFGS, features
 * standardised) fitted on frozen training features, accuracy on held-out
 * features.
 */
#ifndef CPC_PROBE_H
#define CPC_PROBE_H

#include <stdint.h>

/* Fits on n_train rows of train (dim floats each) with labels ytrain,
 * returns the accuracy on n_test rows of test, or -1 on failure (message
 * on stderr). l2 is the probe's penalty (CTR_PROBE_P_L2). */
double cpc_probe_accuracy(const float *train, const int64_t *ytrain,
                          int64_t n_train, const float *test,
                          const int64_t *ytest, int64_t n_test, int64_t dim,
                          int64_t classes, double l2);

/* The same with the penalty chosen among grid[0..ngrid) by the accuracy on
 * the training rows with val[i] = 1 of a probe fitted on the others (the
 * first best wins), then refitted on every training row. *chosen receives
 * the penalty (may be NULL). Returns the test accuracy or -1. */
double cpc_probe_accuracy_select(const float *train, const int64_t *ytrain,
                                 const int *val, int64_t n_train,
                                 const float *test, const int64_t *ytest,
                                 int64_t n_test, int64_t dim, int64_t classes,
                                 const double *grid, int ngrid,
                                 double *chosen);

/* The features of a model: n images (pixels at images) to out, n x dim
 * floats; 0 on success. */
typedef int (*cpc_features_fn)(void *model, const float *images, int64_t n,
                               float *out);

/* cpc_probe_accuracy on the dim-float features `features` computes for the
 * first n_train training images and the first n_test test images.
 * Returns the accuracy or -1. */
double cpc_probe_model(cpc_features_fn features, void *model, int64_t dim,
                       const float *train_images, const int64_t *ytrain,
                       int64_t n_train, const float *test_images,
                       const int64_t *ytest, int64_t n_test, int64_t classes,
                       double l2);

#endif /* CPC_PROBE_H */
