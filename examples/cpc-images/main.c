/*
 * main.c - cpc-images: CPC v2 (or, with --gim, Greedy InfoMax) on
 * Fashion-MNIST patch grids, written against the public header only, like
 * a host application. Trains for a time budget, then fits the library's
 * linear probe on pooled patch features of training images and reports its
 * accuracy on the test images, beside the same probe on raw pixels and on
 * a randomly initialised encoder of the same shape. Progress on stderr;
 * <out>/curve.csv and <out>/curve.svg; the last stdout line is
 *   RESULT method=cpc-v2|gim linear_acc=... random_linear_acc=... raw_linear_acc=...
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../cpc-common/cpc_probe.h"
#include "../cpc-common/cpc_report.h"
#include "../demo/fmnist.h"
#include "model.h"

typedef struct options {
    const char *data_dir, *out_dir;
    model_config m;
    double budget;          /* training seconds */
    int64_t max_steps;      /* 0: until the budget */
    int64_t train_subset;   /* images sampled for CPC training (0: all) */
    int64_t probe_train;    /* training images the probe is fitted on */
    int64_t test_subset;    /* test images (0: all 10k) */
    double l2;
} options;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: cpc-images [--gim] [--time-budget S] [--max-steps N] [--batch B]\n"
            "  [--dim D] [--steps K] [--lr LR] [--seed S] [--train-subset N]\n"
            "  [--probe-train N] [--test-subset N] [--probe-l2 L] [--data DIR] [--out DIR]\n");
}

static int parse(options *o, int argc, char **argv)
{
    int i;
    memset(o, 0, sizeof(*o));
    o->data_dir = FMNIST_DEFAULT_DIR, o->out_dir = NULL;
    o->m.batch = 32, o->m.dim = 64, o->m.steps = 3, o->m.lr = 2e-3, o->m.seed = 1;
    o->budget = 100.0, o->probe_train = 10000, o->l2 = 1e-3;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--gim") == 0) { o->m.gim = 1; continue; }
        if (strcmp(a, "--help") == 0) { usage(); return 1; }
        if (v == NULL) { usage(); return -1; }
        i++;
        if (strcmp(a, "--time-budget") == 0) o->budget = atof(v);
        else if (strcmp(a, "--max-steps") == 0) o->max_steps = atoll(v);
        else if (strcmp(a, "--batch") == 0) o->m.batch = atoll(v);
        else if (strcmp(a, "--dim") == 0) o->m.dim = atoll(v);
        else if (strcmp(a, "--steps") == 0) o->m.steps = atoll(v);
        else if (strcmp(a, "--lr") == 0) o->m.lr = atof(v);
        else if (strcmp(a, "--seed") == 0) o->m.seed = (uint64_t)atoll(v);
        else if (strcmp(a, "--train-subset") == 0) o->train_subset = atoll(v);
        else if (strcmp(a, "--probe-train") == 0) o->probe_train = atoll(v);
        else if (strcmp(a, "--test-subset") == 0) o->test_subset = atoll(v);
        else if (strcmp(a, "--probe-l2") == 0) o->l2 = atof(v);
        else if (strcmp(a, "--data") == 0) o->data_dir = v;
        else if (strcmp(a, "--out") == 0) o->out_dir = v;
        else { usage(); return -1; }
    }
    if (o->out_dir == NULL)
        o->out_dir = o->m.gim ? "cpc-images-out/gim" : "cpc-images-out/cpc-v2";
    if (o->m.batch < 2 || o->m.dim < 1 || o->m.steps < 1 || o->m.steps > 5) {
        fprintf(stderr, "cpc-images: need batch >= 2, dim >= 1, steps in [1, 5]\n");
        return -1;
    }
    return 0;
}

/* 1 when the training loop is about to end (log the last interval). */
static int stop_next(const options *o, int64_t step, double t0)
{
    return o->max_steps > 0 ? step >= o->max_steps : now_s() - t0 >= o->budget;
}

/* Trains until the budget; fills the curve. Returns the steps or -1. */
static int64_t train(model *m, const options *o, const fmnist_split *tr,
                     cpc_point *curve, int64_t *npoints, int64_t cap)
{
    const int64_t b = o->m.batch, pool = o->train_subset > 0 && o->train_subset < tr->count
                                              ? o->train_subset : tr->count;
    float *imgs = (float *)malloc((size_t)(b * FMNIST_PIXELS) * sizeof(float));
    int64_t *pick = (int64_t *)malloc((size_t)b * sizeof(int64_t));
    double t0 = now_s(), acc[8], sum_loss = 0, sum_acc[8] = {0}, loss = 0;
    int64_t step = 0, in_int = 0, i, k, log_every = 25;
    ctr_rng *g = NULL;
    char err[256];
    ctr_rng_create(&g, o->m.seed + 999, NULL);
    *npoints = 0;
    while (!stop_next(o, step, t0)) {
        ctr_rng_below(g, pick, b, pool);
        for (i = 0; i < b; i++)
            memcpy(imgs + i * FMNIST_PIXELS, tr->images + pick[i] * FMNIST_PIXELS,
                   FMNIST_PIXELS * sizeof(float));
        if (model_step(m, imgs, &loss, acc, err, sizeof(err)) != CTR_OK) {
            fprintf(stderr, "cpc-images: %s\n", err);
            step = -1;
            break;
        }
        step++, in_int++;
        sum_loss += loss;
        for (k = 0; k < o->m.steps; k++)
            sum_acc[k] += acc[k];
        if ((in_int == log_every || stop_next(o, step, t0)) && in_int > 0 && *npoints < cap) {
            cpc_point *p = &curve[(*npoints)++];
            p->step = step, p->seconds = now_s() - t0, p->loss = sum_loss / in_int;
            p->chance = cpc_head_chance(&m->head2), p->k = o->m.steps;
            for (k = 0; k < o->m.steps; k++)
                p->acc[k] = sum_acc[k] / in_int, sum_acc[k] = 0;
            fprintf(stderr, "step %5lld  %6.1fs  loss %.4f (chance %.4f)  acc k=1 %.3f  k=%lld %.3f\n",
                    (long long)step, p->seconds, p->loss, p->chance, p->acc[0],
                    (long long)o->m.steps, p->acc[o->m.steps - 1]);
            sum_loss = 0, in_int = 0;
        }
    }
    ctr_rng_destroy(g);
    free(imgs), free(pick);
    return step;
}

static int features(void *m, const float *images, int64_t n, float *out)
{
    return model_features((model *)m, images, n, out);
}

/* Probe accuracy of a model's pooled features (fit on the first n_tr
 * training images, tested on n_te test images). */
static double probe_model(model *m, const fmnist_split *tr, int64_t n_tr,
                          const fmnist_split *te, int64_t n_te, double l2)
{
    return cpc_probe_model(features, m, model_feature_dim(m), tr->images,
                           tr->labels, n_tr, te->images, te->labels, n_te,
                           FMNIST_CLASSES, l2);
}

int main(int argc, char **argv)
{
    options o;
    fmnist_split tr, te;
    model m, rnd;
    cpc_point curve[4096];
    int64_t npoints = 0, steps, n_tr, n_te;
    double acc, rnd_acc, raw_acc, t0;
    char err[256], path[1100];
    int rc = parse(&o, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (fmnist_load(&tr, o.data_dir, "train", err, sizeof(err)) != 0 ||
        fmnist_load(&te, o.data_dir, "t10k", err, sizeof(err)) != 0) {
        fprintf(stderr, "cpc-images: %s\n", err);
        return 1;
    }
    n_tr = o.probe_train < tr.count ? o.probe_train : tr.count;
    n_te = o.test_subset > 0 && o.test_subset < te.count ? o.test_subset : te.count;
    if (cpc_make_dirs(o.out_dir) != 0) {
        fprintf(stderr, "cpc-images: cannot create %s\n", o.out_dir);
        return 1;
    }
    if (model_create(&m, &o.m, 1, err, sizeof(err)) != CTR_OK) {
        fprintf(stderr, "cpc-images: %s\n", err);
        return 1;
    }
    fprintf(stderr, "cpc-images: %s, %lldx%lld grid of %dx%d patches (stride %d), K=%lld, batch %lld images, budget %.0fs\n",
            o.m.gim ? "Greedy InfoMax (2 modules)" : "CPC v2", (long long)m.gh,
            (long long)m.gw, GRID_PATCH, GRID_PATCH, GRID_STRIDE,
            (long long)o.m.steps, (long long)o.m.batch, o.budget);
    t0 = now_s();
    steps = train(&m, &o, &tr, curve, &npoints, 4096);
    if (steps < 0)
        return 1;
    fprintf(stderr, "cpc-images: %lld steps in %.1fs; probing on %lld train / %lld test images\n",
            (long long)steps, now_s() - t0, (long long)n_tr, (long long)n_te);
    snprintf(path, sizeof(path), "%s/curve.csv", o.out_dir);
    cpc_report_csv(path, curve, npoints);
    snprintf(path, sizeof(path), "%s/curve.svg", o.out_dir);
    cpc_report_chart(path, curve, npoints, o.m.gim ? "Greedy InfoMax on Fashion-MNIST patches"
                                                   : "CPC v2 on Fashion-MNIST patches");
    acc = probe_model(&m, &tr, n_tr, &te, n_te, o.l2);
    fprintf(stderr, "cpc-images: trained encoder: %.4f\n", acc);
    if (model_create(&rnd, &o.m, 0, err, sizeof(err)) != CTR_OK) {
        fprintf(stderr, "cpc-images: %s\n", err);
        return 1;
    }
    rnd_acc = probe_model(&rnd, &tr, n_tr, &te, n_te, o.l2);
    fprintf(stderr, "cpc-images: random encoder: %.4f\n", rnd_acc);
    raw_acc = cpc_probe_accuracy(tr.images, tr.labels, n_tr, te.images, te.labels,
                                 n_te, FMNIST_PIXELS, FMNIST_CLASSES, o.l2);
    fprintf(stderr, "cpc-images: raw pixels: %.4f (%.1fs in all)\n", raw_acc, now_s() - t0);
    printf("RESULT method=%s linear_acc=%.4f random_linear_acc=%.4f raw_linear_acc=%.4f\n",
           o.m.gim ? "gim" : "cpc-v2", acc, rnd_acc, raw_acc);
    model_destroy(&m), model_destroy(&rnd);
    fmnist_free(&tr), fmnist_free(&te);
    return acc < 0 || rnd_acc < 0 || raw_acc < 0;
}
