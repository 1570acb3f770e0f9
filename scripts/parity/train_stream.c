/*
 * train_stream.c - trains the demo's CNN with libcontrastive on a batch
 * stream exported from the PyTorch twin (twin_stream.py export), from the twin's
 * own initial weights, then evaluates as the demo does (weighted kNN on
 * the embeddings and on the backbone, linear probe on the backbone).
 * Identical inputs on both sides: what is left of a gap between the
 * library and PyTorch is the library's.
 *
 *   train_stream PREFIX EPOCHS [FEATURE_DIR] [--own-init]
 *
 * PREFIX.init, .views, .xtr, .xte, .ytr, .yte come from twin_stream.py export;
 * FEATURE_DIR receives emb_train.bin ... bb_test.bin for twin_stream.py eval;
 * --own-init keeps the library's initialisation (seed 1) instead.
 * Prints one JSON line.
 */
#include <contrastive.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B 256
#define PIXELS 784
#define EMB 128
#define FEAT 3136 /* 64 x 7 x 7 */
#define FEAT_LAYER 6
#define N_TRAIN 60000
#define N_TEST 10000
#define CHUNK 500

static void check(int rc, const char *what, ctr_encoder *e)
{
    if (rc != CTR_OK) {
        fprintf(stderr, "train_stream: %s: %s (%s)\n", what, ctr_strerror(rc),
                ctr_encoder_last_error(e));
        exit(1);
    }
}

static void *read_file(const char *prefix, const char *ext, size_t bytes)
{
    char path[1024];
    void *buf = malloc(bytes);
    FILE *f;
    snprintf(path, sizeof(path), "%s.%s", prefix, ext);
    f = fopen(path, "rb");
    if (buf == NULL || f == NULL || fread(buf, 1, bytes, f) != bytes) {
        fprintf(stderr, "train_stream: cannot read %zu bytes of %s\n", bytes, path);
        exit(1);
    }
    fclose(f);
    return buf;
}

static void write_file(const char *dir, const char *name, const float *x, size_t n)
{
    char path[1024];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s.bin", dir, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(x, sizeof(float), n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "train_stream: cannot write %s\n", path);
        exit(1);
    }
}

/* The twin's network: conv 5x5/2 32, BN, ReLU, conv 3x3/2 64, BN, ReLU,
 * flatten, linear 512, BN, ReLU, linear 128, L2 normalisation. */
static ctr_encoder *build(void)
{
    int64_t dims[3] = {1, 28, 28};
    ctr_encoder *e = NULL;
    check(ctr_encoder_create(&e, dims, 3, 1, NULL), "create", e);
    check(ctr_encoder_add_conv2d(e, 32, 5, 2, 2, 1), "conv", e);
    check(ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1), "bn", e);
    check(ctr_encoder_add_activation(e, CTR_LAYER_RELU), "relu", e);
    check(ctr_encoder_add_conv2d(e, 64, 3, 2, 1, 1), "conv", e);
    check(ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1), "bn", e);
    check(ctr_encoder_add_activation(e, CTR_LAYER_RELU), "relu", e);
    check(ctr_encoder_add_flatten(e), "flatten", e);
    check(ctr_encoder_add_linear(e, 512, 1), "linear", e);
    check(ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1), "bn", e);
    check(ctr_encoder_add_activation(e, CTR_LAYER_RELU), "relu", e);
    check(ctr_encoder_add_linear(e, EMB, 1), "linear", e);
    check(ctr_encoder_add_l2norm(e, 1e-12), "l2norm", e);
    return e;
}

/* The twin's schedule: 2 % linear warm-up, then cosine to 0. */
static double lr_at(int64_t step, int64_t total)
{
    int64_t warm = (int64_t)(0.02 * (double)total);
    if (warm < 1)
        warm = 1;
    if (step < warm)
        return 2e-3 * (double)(step + 1) / (double)warm;
    return 2e-3 * 0.5 * (1.0 + cos(M_PI * (double)(step - warm) / (double)(total - warm)));
}

static void train(ctr_encoder *e, const char *prefix, int64_t epochs)
{
    int64_t per_epoch = N_TRAIN / B, total = per_epoch * epochs, s;
    size_t view_floats = 2 * B * PIXELS;
    float *views = malloc(view_floats * sizeof(float));
    float *z = malloc(2 * B * EMB * sizeof(float)), *grad = malloc(2 * B * EMB * sizeof(float));
    ctr_optimizer *opt = NULL;
    ctr_objective *obj = NULL;
    double loss_sum = 0.0;
    char path[1024];
    FILE *f;
    snprintf(path, sizeof(path), "%s.views", prefix);
    f = fopen(path, "rb");
    if (f == NULL || views == NULL || z == NULL || grad == NULL) {
        fprintf(stderr, "train_stream: cannot open %s\n", path);
        exit(1);
    }
    check(ctr_optimizer_create_for_encoder(&opt, CTR_OPTIMIZER_ADAMW, e, NULL), "optimizer", e);
    check(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_WEIGHT_DECAY, 1e-5), "wd", e);
    check(ctr_objective_create(&obj, CTR_OBJECTIVE_NTXENT, NULL), "objective", e);
    check(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, 0.1), "tau", e);
    for (s = 0; s < total; s++) {
        double loss;
        if (fread(views, sizeof(float), view_floats, f) != view_floats) {
            fprintf(stderr, "train_stream: %s ends at step %lld\n", path, (long long)s);
            exit(1);
        }
        check(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_LR, lr_at(s, total)), "lr", e);
        check(ctr_encoder_zero_grad(e), "zero_grad", e);
        check(ctr_encoder_forward(e, z, views, 2 * B, CTR_ENCODER_TRAIN), "forward", e);
        check(ctr_objective_ntxent(obj, &loss, z, EMB, z + B * EMB, EMB, B, EMB, NULL, grad,
                                   grad + B * EMB), "ntxent", e);
        check(ctr_encoder_backward(e, NULL, grad), "backward", e);
        check(ctr_optimizer_step(opt), "step", e);
        loss_sum += loss;
        if ((s + 1) % per_epoch == 0) {
            fprintf(stderr, "epoch %lld: mean loss %.4f\n", (long long)((s + 1) / per_epoch),
                    loss_sum / (double)per_epoch);
            loss_sum = 0.0;
        }
    }
    fclose(f);
    ctr_objective_destroy(obj);
    ctr_optimizer_destroy(opt);
    free(views);
    free(z);
    free(grad);
}

static void features(ctr_encoder *e, const float *x, int64_t n, float *emb, float *feat)
{
    int64_t i;
    for (i = 0; i < n; i += CHUNK) {
        check(ctr_encoder_forward(e, emb + i * EMB, x + i * PIXELS, CHUNK, CTR_ENCODER_EVAL),
              "eval forward", e);
        check(ctr_encoder_layer_output(e, feat + i * FEAT, FEAT_LAYER), "features", e);
    }
}

int main(int argc, char **argv)
{
    const char *prefix, *dump = NULL;
    int64_t n_params, epochs;
    int own_init = 0, i;
    float *x_train, *x_test, *emb_train, *emb_test, *feat_train, *feat_test;
    int64_t *y_train, *y_test;
    double knn_emb, knn_feat, linear;
    ctr_knn *knn = NULL;
    ctr_probe *probe = NULL;
    ctr_encoder *e;
    if (argc < 3) {
        fprintf(stderr, "usage: train_stream PREFIX EPOCHS [FEATURE_DIR] [--own-init]\n");
        return 2;
    }
    prefix = argv[1];
    epochs = atoll(argv[2]);
    for (i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--own-init") == 0)
            own_init = 1;
        else
            dump = argv[i];
    }
    e = build();
    check(ctr_encoder_num_params(e, &n_params), "params", e);
    if (!own_init) {
        float *init = read_file(prefix, "init", (size_t)n_params * sizeof(float));
        check(ctr_encoder_set_params(e, init, n_params), "set_params", e);
        free(init);
    }
    train(e, prefix, epochs);

    x_train = read_file(prefix, "xtr", (size_t)N_TRAIN * PIXELS * sizeof(float));
    x_test = read_file(prefix, "xte", (size_t)N_TEST * PIXELS * sizeof(float));
    y_train = read_file(prefix, "ytr", N_TRAIN * sizeof(int64_t));
    y_test = read_file(prefix, "yte", N_TEST * sizeof(int64_t));
    emb_train = malloc((size_t)N_TRAIN * EMB * sizeof(float));
    emb_test = malloc((size_t)N_TEST * EMB * sizeof(float));
    feat_train = malloc((size_t)N_TRAIN * FEAT * sizeof(float));
    feat_test = malloc((size_t)N_TEST * FEAT * sizeof(float));
    if (!emb_train || !emb_test || !feat_train || !feat_test)
        return 1;
    features(e, x_train, N_TRAIN, emb_train, feat_train);
    features(e, x_test, N_TEST, emb_test, feat_test);
    if (dump != NULL) {
        write_file(dump, "emb_train", emb_train, (size_t)N_TRAIN * EMB);
        write_file(dump, "emb_test", emb_test, (size_t)N_TEST * EMB);
        write_file(dump, "bb_train", feat_train, (size_t)N_TRAIN * FEAT);
        write_file(dump, "bb_test", feat_test, (size_t)N_TEST * FEAT);
    }
    check(ctr_knn_create(&knn, NULL), "knn", e);
    check(ctr_knn_set_i64(knn, CTR_KNN_P_K, 200), "knn k", e);
    check(ctr_knn_accuracy(knn, emb_train, N_TRAIN, EMB, y_train, emb_test, N_TEST, EMB, EMB, 10,
                           y_test, &knn_emb), "knn", e);
    check(ctr_knn_accuracy(knn, feat_train, N_TRAIN, FEAT, y_train, feat_test, N_TEST, FEAT,
                           FEAT, 10, y_test, &knn_feat), "knn", e);
    check(ctr_probe_create(&probe, FEAT, 10, NULL), "probe", e);
    check(ctr_probe_set_f64(probe, CTR_PROBE_P_L2, 1e-4), "probe l2", e);
    check(ctr_probe_fit(probe, feat_train, N_TRAIN, FEAT, y_train), "probe fit", e);
    check(ctr_probe_accuracy(probe, feat_test, N_TEST, FEAT, y_test, &linear), "probe", e);
    printf("{\"knn_embedding\": %.4f, \"knn_backbone\": %.4f, \"linear_backbone\": %.4f}\n",
           knn_emb, knn_feat, linear);
    return 0;
}
