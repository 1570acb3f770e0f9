/*
 * eval_features.c - evaluate features written by the PyTorch twin's --dump
 * with the library's evaluators at the demo's settings: kNN (k = 200, the
 * library's default σ) on the embedding and on the backbone, and the linear
 * probe (λ = 3e-3, 300 L-BFGS iterations) on the backbone. Prints one JSON
 * line, the twin's keys.
 *
 *   eval_features DIR     (DIR holds {emb,bb}_{train,test}.bin, y_{train,test}.bin)
 */
#include <contrastive.h>

#include <stdio.h>
#include <stdlib.h>

#define N_TRAIN 60000
#define N_TEST 10000
#define EMB_DIM 128
#define BACKBONE_DIM 3136
#define CLASSES 10
#define KNN_K 200
#define PROBE_L2 3e-3 /* the demo's (examples/demo/main.c) */
#define PROBE_ITERATIONS 300

/* The whole file DIR/NAME, which must hold exactly `bytes`; NULL on error. */
static void *read_array(const char *dir, const char *name, size_t bytes)
{
    char path[1024];
    FILE *f;
    void *buf;
    long size;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return NULL;
    }
    buf = malloc(bytes);
    size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    rewind(f);
    if (buf == NULL || size != (long)bytes || fread(buf, 1, bytes, f) != bytes) {
        fprintf(stderr, "%s: expected %zu bytes\n", path, bytes);
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static int knn_accuracy(const float *train, const int64_t *y_train, const float *test,
                        const int64_t *y_test, int64_t dim, double *accuracy)
{
    ctr_knn *knn = NULL;
    int rc = ctr_knn_create(&knn, NULL);
    if (rc == CTR_OK) rc = ctr_knn_set_i64(knn, CTR_KNN_P_K, KNN_K);
    if (rc == CTR_OK)
        rc = ctr_knn_accuracy(knn, train, N_TRAIN, dim, y_train, test, N_TEST, dim, dim,
                              CLASSES, y_test, accuracy);
    ctr_knn_destroy(knn);
    return rc;
}

static int probe_accuracy(const float *train, const int64_t *y_train, const float *test,
                          const int64_t *y_test, double *accuracy)
{
    ctr_probe *probe = NULL;
    int rc = ctr_probe_create(&probe, BACKBONE_DIM, CLASSES, NULL);
    if (rc == CTR_OK) rc = ctr_probe_set_f64(probe, CTR_PROBE_P_L2, PROBE_L2);
    if (rc == CTR_OK) rc = ctr_probe_set_i64(probe, CTR_PROBE_P_MAX_ITER, PROBE_ITERATIONS);
    if (rc == CTR_OK) rc = ctr_probe_fit(probe, train, N_TRAIN, BACKBONE_DIM, y_train);
    if (rc == CTR_OK)
        rc = ctr_probe_accuracy(probe, test, N_TEST, BACKBONE_DIM, y_test, accuracy);
    ctr_probe_destroy(probe);
    return rc;
}

int main(int argc, char **argv)
{
    const char *dir = argc == 2 ? argv[1] : NULL;
    int64_t *y_train, *y_test;
    float *emb_train, *emb_test, *bb_train, *bb_test;
    double knn_emb = 0.0, knn_bb = 0.0, linear = 0.0;
    int rc = CTR_E_IO;
    if (dir == NULL) {
        fprintf(stderr, "usage: eval_features DIR\n");
        return 2;
    }
    y_train = read_array(dir, "y_train.bin", N_TRAIN * sizeof(int64_t));
    y_test = read_array(dir, "y_test.bin", N_TEST * sizeof(int64_t));
    emb_train = read_array(dir, "emb_train.bin", (size_t)N_TRAIN * EMB_DIM * sizeof(float));
    emb_test = read_array(dir, "emb_test.bin", (size_t)N_TEST * EMB_DIM * sizeof(float));
    bb_train = read_array(dir, "bb_train.bin", (size_t)N_TRAIN * BACKBONE_DIM * sizeof(float));
    bb_test = read_array(dir, "bb_test.bin", (size_t)N_TEST * BACKBONE_DIM * sizeof(float));
    if (y_train && y_test && emb_train && emb_test && bb_train && bb_test) {
        rc = knn_accuracy(emb_train, y_train, emb_test, y_test, EMB_DIM, &knn_emb);
        if (rc == CTR_OK)
            rc = knn_accuracy(bb_train, y_train, bb_test, y_test, BACKBONE_DIM, &knn_bb);
        if (rc == CTR_OK) rc = probe_accuracy(bb_train, y_train, bb_test, y_test, &linear);
    }
    if (rc == CTR_OK)
        printf("{\"knn_embedding\": %.4f, \"knn_backbone\": %.4f, \"linear_backbone\": %.4f}\n",
               knn_emb, knn_bb, linear);
    else
        fprintf(stderr, "eval_features: %s\n", ctr_strerror(rc));
    free(y_train);
    free(y_test);
    free(emb_train);
    free(emb_test);
    free(bb_train);
    free(bb_test);
    return rc == CTR_OK ? 0 : 1;
}
