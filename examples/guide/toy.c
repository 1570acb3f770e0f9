/*
 * toy.c - the guide's data and evaluation (toy.h).
 */
#include "toy.h"

#include <math.h>

void *toy_alloc(size_t count, size_t size)
{
    void *p = calloc(count, size);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(EXIT_FAILURE);
    }
    return p;
}

/* The class centres: the same for every program (their own seed). */
static void toy_centres(float centres[TOY_CLASSES][TOY_SIGNAL])
{
    ctr_rng *rng;
    TRY(ctr_rng_create(&rng, 12345, NULL));
    TRY(ctr_rng_normal(rng, &centres[0][0], TOY_CLASSES * TOY_SIGNAL, 0.0f, 1.0f));
    ctr_rng_destroy(rng);
}

/* n points (n x TOY_DIM) and their labels. */
void toy_points(ctr_rng *rng, float *x, int64_t *labels, int64_t n)
{
    float centres[TOY_CLASSES][TOY_SIGNAL];
    int64_t i, j;
    toy_centres(centres);
    TRY(ctr_rng_below(rng, labels, n, TOY_CLASSES));
    TRY(ctr_rng_normal(rng, x, n * TOY_DIM, 0.0f, 1.0f));
    for (i = 0; i < n; i++)
        for (j = 0; j < TOY_DIM; j++)
            x[i * TOY_DIM + j] *= j < TOY_SIGNAL ? 0.5f : 2.0f;
    for (i = 0; i < n; i++)
        for (j = 0; j < TOY_SIGNAL; j++)
            x[i * TOY_DIM + j] += centres[labels[i]][j];
}

/* The points rows[0..n) of x, augmented, into view (n x TOY_DIM). */
void toy_view(ctr_rng *rng, float *view, const float *x, const int64_t *rows, int64_t n)
{
    int64_t i, j;
    TRY(ctr_rng_normal(rng, view, n * TOY_DIM, 0.0f, 1.0f));
    for (i = 0; i < n; i++)
        for (j = 0; j < TOY_DIM; j++)
            view[i * TOY_DIM + j] = j < TOY_SIGNAL
                                        ? x[rows[i] * TOY_DIM + j] + 0.1f * view[i * TOY_DIM + j]
                                        : 2.0f * view[i * TOY_DIM + j];
}

/* n sequences (n x TOY_STEPS x TOY_FRAME) and their labels. */
void toy_sequences(ctr_rng *rng, float *x, int64_t *labels, int64_t n)
{
    float proj[4 * TOY_FRAME], draw[4];
    ctr_rng *fixed;
    int64_t i, t, j;
    TRY(ctr_rng_create(&fixed, 54321, NULL));
    TRY(ctr_rng_normal(fixed, proj, 4 * TOY_FRAME, 0.0f, 1.0f));
    ctr_rng_destroy(fixed);
    TRY(ctr_rng_below(rng, labels, n, TOY_CLASSES));
    TRY(ctr_rng_normal(rng, x, n * TOY_STEPS * TOY_FRAME, 0.0f, 0.5f));
    for (i = 0; i < n; i++) {
        /* two rotations: speeds from the class, phases and sizes random */
        double speed1 = 0.3 + 0.25 * (double)(labels[i] % 5), speed2 = 0.5 + 0.6 * (double)(labels[i] / 5);
        TRY(ctr_rng_uniform(rng, draw, 4));
        for (t = 0; t < TOY_STEPS; t++) {
            double a1 = 6.2831853 * draw[0] + speed1 * (double)t;
            double a2 = 6.2831853 * draw[1] + speed2 * (double)t;
            double s1 = 0.5 + draw[2], s2 = 0.5 + draw[3];
            for (j = 0; j < TOY_FRAME; j++)
                x[(i * TOY_STEPS + t) * TOY_FRAME + j] += (float)(
                    s1 * (cos(a1) * proj[j] + sin(a1) * proj[TOY_FRAME + j]) +
                    s2 * (cos(a2) * proj[2 * TOY_FRAME + j] + sin(a2) * proj[3 * TOY_FRAME + j]));
        }
    }
}

/* Weighted kNN accuracy (k 20) of test features against train features. */
double toy_knn(const float *train, const int64_t *train_labels, int64_t n_train,
                      const float *test, const int64_t *test_labels, int64_t n_test, int64_t dim)
{
    ctr_knn *knn;
    double acc;
    TRY(ctr_knn_create(&knn, NULL));
    TRY(ctr_knn_set_i64(knn, CTR_KNN_P_K, 20));
    TRY(ctr_knn_accuracy(knn, train, n_train, dim, train_labels, test, n_test, dim, dim,
                         TOY_CLASSES, test_labels, &acc));
    ctr_knn_destroy(knn);
    return acc;
}

/* Encodes n inputs with enc in evaluation mode into feat. */
void toy_features(ctr_encoder *enc, float *feat, const float *x, int64_t n)
{
    TRY(ctr_encoder_forward(enc, feat, x, n, CTR_ENCODER_EVAL | CTR_ENCODER_NO_GRAD));
}
