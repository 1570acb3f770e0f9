/*
 * cpc_probe.c - the linear probe of the CPC examples (cpc_probe.h).
 */
#include "cpc_probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <contrastive.h>

double cpc_probe_accuracy(const float *train, const int64_t *ytrain,
                          int64_t n_train, const float *test,
                          const int64_t *ytest, int64_t n_test, int64_t dim,
                          int64_t classes, double l2)
{
    ctr_probe *p = NULL;
    double acc = -1.0;
    int rc = ctr_probe_create(&p, dim, classes, NULL);
    if (rc == CTR_OK) rc = ctr_probe_set_f64(p, CTR_PROBE_P_L2, l2);
    if (rc == CTR_OK) rc = ctr_probe_set_i64(p, CTR_PROBE_P_MAX_ITER, 500);
    if (rc == CTR_OK) rc = ctr_probe_fit(p, train, n_train, dim, ytrain);
    if (rc == CTR_OK)
        rc = ctr_probe_accuracy(p, test, n_test, dim, ytest, &acc);
    if (rc != CTR_OK) {
        fprintf(stderr, "probe: %s (%s)\n", ctr_strerror(rc),
                ctr_probe_last_error(p));
        acc = -1.0;
    }
    ctr_probe_destroy(p);
    return acc;
}

/* Rows of x (dim floats) and labels whose val flag equals `which`. */
static int64_t take_rows(const float *x, const int64_t *y, const int *val,
                         int64_t n, int64_t dim, int which, float *xo,
                         int64_t *yo)
{
    int64_t i, m = 0;
    for (i = 0; i < n; i++)
        if ((val[i] != 0) == which) {
            memcpy(xo + m * dim, x + i * dim, (size_t)dim * sizeof(float));
            yo[m++] = y[i];
        }
    return m;
}

double cpc_probe_accuracy_select(const float *train, const int64_t *ytrain,
                                 const int *val, int64_t n_train,
                                 const float *test, const int64_t *ytest,
                                 int64_t n_test, int64_t dim, int64_t classes,
                                 const double *grid, int ngrid,
                                 double *chosen)
{
    float *xf = (float *)malloc((size_t)(n_train * dim) * sizeof(float));
    float *xv = (float *)malloc((size_t)(n_train * dim) * sizeof(float));
    int64_t *yf = (int64_t *)malloc((size_t)n_train * sizeof(int64_t));
    int64_t *yv = (int64_t *)malloc((size_t)n_train * sizeof(int64_t));
    double best = -1.0, l2 = grid[0];
    int i;
    if (xf != NULL && xv != NULL && yf != NULL && yv != NULL) {
        const int64_t nf = take_rows(train, ytrain, val, n_train, dim, 0, xf, yf);
        const int64_t nv = take_rows(train, ytrain, val, n_train, dim, 1, xv, yv);
        for (i = 0; i < ngrid && nf > 0 && nv > 0; i++) {
            const double acc = cpc_probe_accuracy(xf, yf, nf, xv, yv, nv, dim,
                                                  classes, grid[i]);
            if (acc > best)
                best = acc, l2 = grid[i];
        }
    }
    free(xf), free(xv), free(yf), free(yv);
    if (chosen != NULL)
        *chosen = l2;
    return cpc_probe_accuracy(train, ytrain, n_train, test, ytest, n_test,
                              dim, classes, l2);
}

double cpc_probe_model(cpc_features_fn features, void *model, int64_t dim,
                       const float *train_images, const int64_t *ytrain,
                       int64_t n_train, const float *test_images,
                       const int64_t *ytest, int64_t n_test, int64_t classes,
                       double l2)
{
    float *ftr = (float *)malloc((size_t)(n_train * dim) * sizeof(float));
    float *fte = (float *)malloc((size_t)(n_test * dim) * sizeof(float));
    double acc = -1;
    if (ftr && fte && features(model, train_images, n_train, ftr) == 0 &&
        features(model, test_images, n_test, fte) == 0)
        acc = cpc_probe_accuracy(ftr, ytrain, n_train, fte, ytest, n_test,
                                 dim, classes, l2);
    free(ftr), free(fte);
    return acc;
}
