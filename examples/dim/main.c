/*
 * main.c - dim: Deep InfoMax (global-local; with --amdim AMDIM's score
 * options) on Fashion-MNIST, written against the public header only, like
 * a host application. Trains three chained encoders (model.h) with the
 * library's local-global objective, then fits the library's linear probe
 * on the global features of training images and reports its accuracy on
 * the test images, beside the same probe on raw pixels and on a randomly
 * initialised model of the same architecture. Progress on stderr;
 * <out>/curve.csv and <out>/curve.svg; the last stdout line is
 *   RESULT method=dim estimator=infonce|jsd|dv linear_acc=... random_linear_acc=... raw_linear_acc=...
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../cpc-common/cpc_probe.h"
#include "../cpc-common/cpc_report.h"
#include "../demo/fmnist.h"
#include "model.h"

typedef struct options {
    const char *data_dir, *out_dir, *est_name;
    model_config m;
    int64_t steps;          /* training steps */
    int64_t train_subset;   /* images sampled for training (0: all) */
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

static double cpu_s(void)
{
    return (double)clock() / CLOCKS_PER_SEC;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: dim [--estimator infonce|jsd|dv] [--amdim] [--steps N] [--batch B]\n"
            "  [--dim D] [--lr LR] [--seed S] [--train-subset N] [--probe-train N]\n"
            "  [--test-subset N] [--probe-l2 L] [--data DIR] [--out DIR]\n");
}

static int set_estimator(options *o, const char *v)
{
    o->est_name = v;
    if (strcmp(v, "infonce") == 0) o->m.estimator = CTR_MI_INFONCE;
    else if (strcmp(v, "jsd") == 0) o->m.estimator = CTR_MI_JSD;
    else if (strcmp(v, "dv") == 0) o->m.estimator = CTR_MI_DV;
    else return -1;
    return 0;
}

static int parse(options *o, int argc, char **argv)
{
    int i;
    memset(o, 0, sizeof(*o));
    o->data_dir = FMNIST_DEFAULT_DIR, o->out_dir = "dim-out";
    o->m.batch = 64, o->m.dim = 64, o->m.lr = 1e-3, o->m.seed = 1;
    o->steps = 1000, o->probe_train = 10000, o->l2 = 1e-3;
    set_estimator(o, "infonce");
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--amdim") == 0) { o->m.amdim = 1; continue; }
        if (strcmp(a, "--help") == 0) { usage(); return 1; }
        if (v == NULL) { usage(); return -1; }
        i++;
        if (strcmp(a, "--estimator") == 0) { if (set_estimator(o, v)) { usage(); return -1; } }
        else if (strcmp(a, "--steps") == 0) o->steps = atoll(v);
        else if (strcmp(a, "--batch") == 0) o->m.batch = atoll(v);
        else if (strcmp(a, "--dim") == 0) o->m.dim = atoll(v);
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
    if (o->m.batch < 2 || o->m.dim < 1 || o->steps < 1) {
        fprintf(stderr, "dim: need batch >= 2, dim >= 1, steps >= 1\n");
        return -1;
    }
    return 0;
}

/* Logs one interval of the curve (and stderr). */
static void log_point(cpc_point *p, int64_t step, double t0, double loss,
                      double acc, double chance)
{
    p->step = step, p->seconds = now_s() - t0, p->loss = loss;
    p->chance = chance, p->k = 1, p->acc[0] = acc;
    fprintf(stderr, "step %5lld  %6.1fs  loss %.4f (chance %.4f)  pretext acc %.3f\n",
            (long long)step, p->seconds, loss, chance, acc);
}

/* Trains o->steps steps; fills the curve. Returns 0 or -1. */
static int train(model *m, const options *o, const fmnist_split *tr,
                 cpc_point *curve, int64_t *npoints, int64_t cap)
{
    const int64_t b = o->m.batch, pool = o->train_subset > 0 && o->train_subset < tr->count
                                              ? o->train_subset : tr->count;
    const int64_t log_every = o->steps < 40 ? 1 : o->steps / 40;
    float *imgs = (float *)malloc((size_t)(b * FMNIST_PIXELS) * sizeof(float));
    int64_t *pick = (int64_t *)malloc((size_t)b * sizeof(int64_t));
    double t0 = now_s(), loss = 0, acc = 0, sum_loss = 0, sum_acc = 0, chance = 0;
    int64_t step, in_int = 0, i;
    ctr_rng *g = NULL;
    char err[256];
    int rc = 0;
    ctr_rng_create(&g, o->m.seed + 999, NULL);
    *npoints = 0;
    for (step = 1; step <= o->steps && rc == 0; step++) {
        ctr_rng_below(g, pick, b, pool);
        for (i = 0; i < b; i++)
            memcpy(imgs + i * FMNIST_PIXELS, tr->images + pick[i] * FMNIST_PIXELS,
                   FMNIST_PIXELS * sizeof(float));
        if (model_step(m, imgs, &loss, &acc, err, sizeof(err)) != CTR_OK) {
            fprintf(stderr, "dim: %s\n", err);
            rc = -1;
            break;
        }
        sum_loss += loss, sum_acc += acc, in_int++;
        if ((in_int == log_every || step == o->steps) && *npoints < cap) {
            ctr_objective_stat(m->obj, CTR_OBJECTIVE_S_CHANCE_LOSS, &chance);
            log_point(&curve[(*npoints)++], step, t0, sum_loss / in_int,
                      sum_acc / in_int, chance);
            sum_loss = 0, sum_acc = 0, in_int = 0;
        }
    }
    ctr_rng_destroy(g);
    free(imgs), free(pick);
    return rc;
}

static int features(void *m, const float *images, int64_t n, float *out)
{
    return model_features((model *)m, images, n, out);
}

/* Probe accuracy of a model's global features (fit on the first n_tr
 * training images, tested on n_te test images). */
static double probe_model(model *m, const fmnist_split *tr, int64_t n_tr,
                          const fmnist_split *te, int64_t n_te, double l2)
{
    return cpc_probe_model(features, m, m->cfg.dim, tr->images, tr->labels,
                           n_tr, te->images, te->labels, n_te,
                           FMNIST_CLASSES, l2);
}

/* Writes the curve's CSV and SVG. */
static void report(const options *o, const cpc_point *curve, int64_t npoints)
{
    char path[1100], title[128];
    snprintf(path, sizeof(path), "%s/curve.csv", o->out_dir);
    cpc_report_csv(path, curve, npoints);
    snprintf(path, sizeof(path), "%s/curve.svg", o->out_dir);
    snprintf(title, sizeof(title), "%s (%s) on Fashion-MNIST",
             o->m.amdim ? "AMDIM-style DIM" : "DIM", o->est_name);
    cpc_report_chart(path, curve, npoints, title);
}

int main(int argc, char **argv)
{
    options o;
    fmnist_split tr, te;
    model m, rnd;
    static cpc_point curve[64];
    int64_t npoints = 0, n_tr, n_te;
    double acc, rnd_acc, raw_acc, t0, c0;
    char err[256];
    int rc = parse(&o, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (fmnist_load(&tr, o.data_dir, "train", err, sizeof(err)) != 0 ||
        fmnist_load(&te, o.data_dir, "t10k", err, sizeof(err)) != 0) {
        fprintf(stderr, "dim: %s\n", err);
        return 1;
    }
    n_tr = o.probe_train < tr.count ? o.probe_train : tr.count;
    n_te = o.test_subset > 0 && o.test_subset < te.count ? o.test_subset : te.count;
    if (cpc_make_dirs(o.out_dir) != 0) {
        fprintf(stderr, "dim: cannot create %s\n", o.out_dir);
        return 1;
    }
    if (model_create(&m, &o.m, 1, err, sizeof(err)) != CTR_OK) {
        fprintf(stderr, "dim: %s\n", err);
        return 1;
    }
    fprintf(stderr, "dim: %s estimator%s, global dim %lld against %d positions, batch %lld, %lld steps\n",
            o.est_name, o.m.amdim ? " with AMDIM's scaling, clip and penalty" : "",
            (long long)o.m.dim, MAP_P, (long long)o.m.batch, (long long)o.steps);
    t0 = now_s(), c0 = cpu_s();
    if (train(&m, &o, &tr, curve, &npoints, 64) != 0)
        return 1;
    fprintf(stderr, "dim: trained in %.1fs (%.1f CPU s); probing on %lld train / %lld test images\n",
            now_s() - t0, cpu_s() - c0, (long long)n_tr, (long long)n_te);
    report(&o, curve, npoints);
    acc = probe_model(&m, &tr, n_tr, &te, n_te, o.l2);
    fprintf(stderr, "dim: trained encoder: %.4f\n", acc);
    if (model_create(&rnd, &o.m, 0, err, sizeof(err)) != CTR_OK) {
        fprintf(stderr, "dim: %s\n", err);
        return 1;
    }
    rnd_acc = probe_model(&rnd, &tr, n_tr, &te, n_te, o.l2);
    fprintf(stderr, "dim: random encoder: %.4f\n", rnd_acc);
    raw_acc = cpc_probe_accuracy(tr.images, tr.labels, n_tr, te.images, te.labels,
                                 n_te, FMNIST_PIXELS, FMNIST_CLASSES, o.l2);
    fprintf(stderr, "dim: raw pixels: %.4f (%.1fs, %.1f CPU s in all)\n", raw_acc,
            now_s() - t0, cpu_s() - c0);
    printf("RESULT method=dim estimator=%s linear_acc=%.4f random_linear_acc=%.4f raw_linear_acc=%.4f\n",
           o.est_name, acc, rnd_acc, raw_acc);
    model_destroy(&m), model_destroy(&rnd);
    fmnist_free(&tr), fmnist_free(&te);
    return acc < 0 || rnd_acc < 0 || raw_acc < 0;
}
