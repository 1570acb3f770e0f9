/*
 * cpc_probe.c - the linear probe of the CPC examples (cpc_probe.h).
 */
#include "cpc_probe.h"

#include <stdio.h>

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
