/*
 * report.h - what the demo writes to its output directory: the per-epoch
 * metrics CSV, an SVG chart of loss and kNN accuracy, and an SVG scatter of
 * a 2-D PCA projection of test embeddings coloured by class.
 */
#ifndef DEMO_REPORT_H
#define DEMO_REPORT_H

#include <stdint.h>

typedef struct epoch_metrics {
    int64_t epoch;
    int64_t steps;
    double seconds;     /* training time so far */
    double loss;        /* mean training loss over the epoch */
    double pretext_acc; /* mean pretext top-1 accuracy over the epoch */
    double knn_acc;     /* test accuracy of weighted kNN, NaN if not run */
    double alignment;
    double uniformity;
} epoch_metrics;

/* Writes the CSV (header + one row per epoch). 0 on success. */
int report_write_csv(const char *path, const epoch_metrics *m, int64_t n);

/* Writes an SVG line chart: loss (left axis) and kNN accuracy (right
 * axis) per epoch. 0 on success. */
int report_write_chart(const char *path, const epoch_metrics *m, int64_t n,
                       const char *title);

/* Projects n rows of x (n × d) on their top two principal components and
 * writes an SVG scatter coloured by label with a legend of class names.
 * 0 on success, -1 on I/O or memory failure. */
int report_write_pca(const char *path, const float *x, int64_t n, int64_t d,
                     const int64_t *labels, const char *const *names,
                     int classes, const char *title);

#endif /* DEMO_REPORT_H */
