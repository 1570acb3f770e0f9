/*
 * main.c - cmc: Contrastive Multiview Coding (Tian et al.) on
 * Fashion-MNIST, written against the public header only, like a host
 * application. The two views of an image are its top and bottom halves
 * (docs/cmc.md says why), each with its own encoder and memory bank
 * (model.h); the cross-view NCE (or full softmax) trains both. Then the
 * library's linear probe on the frozen backbone features of both encoders
 * concatenated (as CMC evaluates), of each alone, of a randomly
 * initialised model of the same architecture and seed, and of raw pixels;
 * and the weighted kNN over the two banks. Progress on stderr;
 * <out>/curve.csv, <out>/curve.svg and <out>/results.csv; the last stdout
 * line is
 *   RESULT method=cmc linear_acc=... view1_linear_acc=... view2_linear_acc=... knn_acc=... random_linear_acc=... raw_linear_acc=...
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../cpc-common/cpc_probe.h"
#include "../cpc-common/cpc_report.h"
#include "../demo/augment.h"
#include "../demo/fmnist.h"
#include "model.h"

typedef struct options {
    const char *data_dir, *out_dir;
    cmc_config m;
    int64_t epochs;
    int64_t probe_train;  /* training images the probe is fitted on */
    int64_t test_subset;  /* test images (0: all 10k) */
    double lr, l2;
    int augment;
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
            "usage: cmc [--epochs E] [--train-subset N] [--batch B] [--dim D]\n"
            "  [--noise K] [--softmax] [--z fixed|ema] [--tau T] [--lr LR]\n"
            "  [--no-augment] [--seed S] [--probe-train N] [--test-subset N]\n"
            "  [--probe-l2 L] [--data DIR] [--out DIR]\n");
}

static int parse_value(options *o, const char *a, const char *v)
{
    if (strcmp(a, "--epochs") == 0) o->epochs = atoll(v);
    else if (strcmp(a, "--train-subset") == 0) o->m.n = atoll(v);
    else if (strcmp(a, "--batch") == 0) o->m.batch = atoll(v);
    else if (strcmp(a, "--dim") == 0) o->m.dim = atoll(v);
    else if (strcmp(a, "--noise") == 0) o->m.noise = atoll(v);
    else if (strcmp(a, "--tau") == 0) o->m.tau = atof(v);
    else if (strcmp(a, "--lr") == 0) o->lr = atof(v);
    else if (strcmp(a, "--seed") == 0) o->m.seed = (uint64_t)atoll(v);
    else if (strcmp(a, "--probe-train") == 0) o->probe_train = atoll(v);
    else if (strcmp(a, "--test-subset") == 0) o->test_subset = atoll(v);
    else if (strcmp(a, "--probe-l2") == 0) o->l2 = atof(v);
    else if (strcmp(a, "--data") == 0) o->data_dir = v;
    else if (strcmp(a, "--out") == 0) o->out_dir = v;
    else if (strcmp(a, "--z") == 0 && strcmp(v, "fixed") == 0) o->m.z_mode = CTR_NCE_Z_FIXED;
    else if (strcmp(a, "--z") == 0 && strcmp(v, "ema") == 0) o->m.z_mode = CTR_NCE_Z_EMA;
    else return -1;
    return 0;
}

static int parse(options *o, int argc, char **argv)
{
    int i;
    memset(o, 0, sizeof(*o));
    o->data_dir = FMNIST_DEFAULT_DIR, o->out_dir = "cmc-out";
    o->m.batch = 256, o->m.dim = 128, o->m.noise = 1024, o->m.tau = 0.07;
    o->m.z_mode = CTR_NCE_Z_EMA, o->m.bank_momentum = 0.5;
    o->m.weight_decay = 1e-5, o->m.seed = 1;
    o->epochs = 3, o->lr = 2e-3, o->probe_train = 10000, o->l2 = 1e-3;
    o->augment = 1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--softmax") == 0) { o->m.softmax = 1; continue; }
        if (strcmp(a, "--no-augment") == 0) { o->augment = 0; continue; }
        if (strcmp(a, "--help") == 0) { usage(); return 1; }
        if (v == NULL || parse_value(o, a, v) != 0) { usage(); return -1; }
        i++;
    }
    if (o->m.batch < 2 || o->m.dim < 1 || o->m.noise < 1 || o->epochs < 1 ||
        o->m.tau <= 0 || o->m.n < 0 || o->probe_train < 1) {
        fprintf(stderr, "cmc: need batch >= 2, dim, noise, epochs, probe-train >= 1, tau > 0\n");
        return -1;
    }
    return 0;
}

/* The training images as the encoders see them at evaluation: plain
 * (standardised) copies of the first n of src. */
static float *plain_images(const float *src, int64_t n, const augment_config *aug)
{
    float *out = (float *)malloc((size_t)(n * FMNIST_PIXELS) * sizeof(float));
    int64_t i;
    for (i = 0; out != NULL && i < n; i++)
        augment_plain(src + i * FMNIST_PIXELS, out + i * FMNIST_PIXELS, aug);
    return out;
}

/* One logged interval of the curve (and stderr). */
static void log_point(cpc_point *p, int64_t step, int64_t epoch, double t0,
                      double loss, double acc, double chance)
{
    p->step = step, p->seconds = now_s() - t0, p->loss = loss;
    p->chance = chance, p->k = 1, p->acc[0] = acc;
    fprintf(stderr, "epoch %lld step %5lld  %6.1fs  loss %.4f (chance 2 x %.4f)  pretext acc %.3f\n",
            (long long)epoch, (long long)step, p->seconds, loss, chance / 2, acc);
}

typedef struct trainer {
    cmc_model *m;
    const options *o;
    const fmnist_split *tr;
    augment_config aug;
    ctr_rng *rng;
    float *imgs;
    int64_t *perm, step, total, log_every, in_int;
    double t0, sum_loss, sum_acc;
} trainer;

/* One step on the batch perm[s*b ..]: augment, train, log. */
static int train_step(trainer *t, int64_t s, int64_t epoch, cpc_point *curve,
                      int64_t *npoints, int64_t cap)
{
    const int64_t b = t->o->m.batch;
    const int64_t *idx = t->perm + s * b;
    double lr, loss, acc, chance;
    char err[256];
    int64_t i;
    for (i = 0; i < b; i++) {
        const float *src = t->tr->images + idx[i] * FMNIST_PIXELS;
        if (t->o->augment)
            augment_image(src, t->imgs + i * FMNIST_PIXELS, &t->aug, t->rng);
        else
            augment_plain(src, t->imgs + i * FMNIST_PIXELS, &t->aug);
    }
    ctr_optimizer_cosine_lr(&lr, t->step, t->total / 50, t->total, t->o->lr, 0.0);
    if (cmc_model_step(t->m, t->imgs, idx, lr, &loss, &acc, err, sizeof(err)) != CTR_OK) {
        fprintf(stderr, "cmc: %s\n", err);
        return -1;
    }
    t->step++, t->in_int++, t->sum_loss += loss, t->sum_acc += acc;
    if ((t->in_int == t->log_every || t->step == t->total) && *npoints < cap) {
        ctr_objective_stat(t->m->obj[0], CTR_OBJECTIVE_S_CHANCE_LOSS, &chance);
        log_point(&curve[(*npoints)++], t->step, epoch, t->t0,
                  t->sum_loss / (double)t->in_int, t->sum_acc / (double)t->in_int,
                  2 * chance);
        t->sum_loss = 0, t->sum_acc = 0, t->in_int = 0;
    }
    return 0;
}

/* Trains o->epochs epochs over the first m->cfg.n training images. */
static int train(cmc_model *m, const options *o, const fmnist_split *tr,
                 cpc_point *curve, int64_t *npoints, int64_t cap)
{
    const int64_t n = m->cfg.n, spe = n / o->m.batch;
    trainer t;
    int64_t e, s;
    int rc = 0;
    memset(&t, 0, sizeof(t));
    t.m = m, t.o = o, t.tr = tr, t.aug = augment_default();
    t.total = spe * o->epochs, t.log_every = t.total < 40 ? 1 : t.total / 40;
    t.imgs = (float *)malloc((size_t)(o->m.batch * FMNIST_PIXELS) * sizeof(float));
    t.perm = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    t.t0 = now_s();
    *npoints = 0;
    if (t.imgs == NULL || t.perm == NULL || ctr_rng_create(&t.rng, o->m.seed + 999, NULL) != CTR_OK)
        rc = -1;
    for (e = 1; e <= o->epochs && rc == 0; e++) {
        ctr_rng_permutation(t.rng, t.perm, n);
        for (s = 0; s < spe && rc == 0; s++)
            rc = train_step(&t, s, e, curve, npoints, cap);
    }
    ctr_rng_destroy(t.rng);
    free(t.imgs), free(t.perm);
    return rc;
}

/* Backbone features of both views side by side (n x 2F), or of one view
 * (n x F, v = 0 or 1). */
static float *features(cmc_model *m, const float *images, int64_t n, int which)
{
    const int64_t f = m->feat_dim, w = which < 0 ? 2 * f : f;
    float *out = (float *)malloc((size_t)(n * w) * sizeof(float));
    int v, rc = out != NULL ? CTR_OK : CTR_E_NOMEM;
    for (v = 0; v < 2 && rc == CTR_OK; v++)
        if (which < 0 || which == v)
            rc = cmc_model_outputs(m, v, 0, images, n, out + (which < 0 ? v * f : 0), w);
    if (rc != CTR_OK) {
        fprintf(stderr, "cmc: features: %s\n", ctr_strerror(rc));
        free(out);
        return NULL;
    }
    return out;
}

typedef struct eval_set {
    const float *tr_img, *te_img;
    const int64_t *ytr, *yte;
    int64_t n_tr, n_te;
    double l2;
} eval_set;

/* Linear probe on the features `which` (-1: both views) of model m. */
static double probe(cmc_model *m, const eval_set *s, int which)
{
    const int64_t w = which < 0 ? 2 * m->feat_dim : m->feat_dim;
    float *ftr = features(m, s->tr_img, s->n_tr, which);
    float *fte = features(m, s->te_img, s->n_te, which);
    double acc = -1;
    if (ftr != NULL && fte != NULL)
        acc = cpc_probe_accuracy(ftr, s->ytr, s->n_tr, fte, s->yte, s->n_te, w,
                                 FMNIST_CLASSES, s->l2);
    free(ftr), free(fte);
    return acc;
}

/* Weighted kNN (k 200, sigma 0.07, cosine) of the test images' two
 * embeddings side by side against the two banks' rows side by side: the
 * banks are the training set (Wu et al.'s protocol). */
static double knn(cmc_model *m, const eval_set *s, const int64_t *ylabels)
{
    const int64_t d = m->cfg.dim, n = m->cfg.n;
    float *train = (float *)malloc((size_t)(n * 2 * d) * sizeof(float));
    float *test = (float *)malloc((size_t)(s->n_te * 2 * d) * sizeof(float));
    ctr_knn *k = NULL;
    double acc = -1;
    int64_t i;
    int v, rc = train && test ? ctr_knn_create(&k, NULL) : CTR_E_NOMEM;
    for (v = 0; v < 2 && rc == CTR_OK; v++) {
        const float *rows;
        int64_t ld;
        rc = ctr_bank_rows(m->bank[v], &rows, NULL, &ld);
        for (i = 0; rc == CTR_OK && i < n; i++)
            memcpy(train + i * 2 * d + v * d, rows + i * ld, (size_t)d * sizeof(float));
        if (rc == CTR_OK)
            rc = cmc_model_outputs(m, v, 1, s->te_img, s->n_te, test + v * d, 2 * d);
    }
    if (rc == CTR_OK)
        rc = ctr_knn_accuracy(k, train, n, 2 * d, ylabels, test, s->n_te, 2 * d,
                              2 * d, FMNIST_CLASSES, s->yte, &acc);
    if (rc != CTR_OK)
        fprintf(stderr, "cmc: kNN: %s\n", ctr_strerror(rc)), acc = -1;
    ctr_knn_destroy(k);
    free(train), free(test);
    return acc;
}

/* curve.csv, curve.svg and results.csv under the output directory. */
static void report(const options *o, const cpc_point *curve, int64_t npoints,
                   const double acc[6])
{
    static const char *const names[6] = {"both_views_linear", "view1_top_linear",
                                         "view2_bottom_linear", "knn_banks",
                                         "random_encoder_linear", "raw_pixels_linear"};
    char path[1100], title[128];
    FILE *f;
    int i;
    snprintf(path, sizeof(path), "%s/curve.csv", o->out_dir);
    cpc_report_csv(path, curve, npoints);
    snprintf(path, sizeof(path), "%s/curve.svg", o->out_dir);
    snprintf(title, sizeof(title), "CMC (top / bottom halves, %s) on Fashion-MNIST",
             o->m.softmax ? "softmax" : "NCE");
    cpc_report_chart(path, curve, npoints, title);
    snprintf(path, sizeof(path), "%s/results.csv", o->out_dir);
    if ((f = fopen(path, "w")) == NULL)
        return;
    fprintf(f, "evaluation,accuracy\n");
    for (i = 0; i < 6; i++)
        fprintf(f, "%s,%.4f\n", names[i], acc[i]);
    fclose(f);
}

/* acc[0..5]: both views, view 1, view 2, kNN, random model, raw pixels. */
static int evaluate(const options *o, const fmnist_split *tr,
                    const fmnist_split *te, cmc_model *m, double acc[6])
{
    const augment_config aug = augment_default();
    const int64_t n_tr = o->probe_train < tr->count ? o->probe_train : tr->count;
    const int64_t n_te = o->test_subset > 0 && o->test_subset < te->count ? o->test_subset : te->count;
    float *ptr = plain_images(tr->images, n_tr, &aug), *pte = plain_images(te->images, n_te, &aug);
    eval_set s = {ptr, pte, tr->labels, te->labels, n_tr, n_te, o->l2};
    cmc_model rnd;
    char err[256];
    int i;
    if (ptr == NULL || pte == NULL)
        return -1;
    fprintf(stderr, "cmc: probing on %lld train / %lld test images\n", (long long)n_tr,
            (long long)n_te);
    for (i = 0; i < 3; i++) {
        acc[i] = probe(m, &s, i - 1);
        fprintf(stderr, "cmc: %s: %.4f\n", i == 0 ? "both views" : i == 1 ? "view 1 (top)" : "view 2 (bottom)", acc[i]);
    }
    acc[3] = knn(m, &s, tr->labels);
    fprintf(stderr, "cmc: kNN over the banks: %.4f\n", acc[3]);
    if (cmc_model_create(&rnd, &o->m, 0, err, sizeof(err)) != CTR_OK) {
        fprintf(stderr, "cmc: %s\n", err);
        acc[4] = -1;
    } else {
        acc[4] = probe(&rnd, &s, -1);
    }
    cmc_model_destroy(&rnd);
    fprintf(stderr, "cmc: random encoders, both views: %.4f\n", acc[4]);
    acc[5] = cpc_probe_accuracy(tr->images, tr->labels, n_tr, te->images, te->labels,
                                n_te, FMNIST_PIXELS, FMNIST_CLASSES, o->l2);
    fprintf(stderr, "cmc: raw pixels: %.4f\n", acc[5]);
    free(ptr), free(pte);
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    fmnist_split tr, te;
    cmc_model m;
    static cpc_point curve[64];
    int64_t npoints = 0;
    double acc[6], t0, c0;
    char err[256];
    int i, rc = parse(&o, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (fmnist_load(&tr, o.data_dir, "train", err, sizeof(err)) != 0 ||
        fmnist_load(&te, o.data_dir, "t10k", err, sizeof(err)) != 0) {
        fprintf(stderr, "cmc: %s\n", err);
        return 1;
    }
    if (o.m.n == 0 || o.m.n > tr.count)
        o.m.n = tr.count;
    if (o.m.n < o.m.batch || (!o.m.softmax && o.m.n < 2)) {
        fprintf(stderr, "cmc: need at least one batch of training images\n");
        return 2;
    }
    if (cpc_make_dirs(o.out_dir) != 0) {
        fprintf(stderr, "cmc: cannot create %s\n", o.out_dir);
        return 1;
    }
    if (cmc_model_create(&m, &o.m, 1, err, sizeof(err)) != CTR_OK) {
        fprintf(stderr, "cmc: %s\n", err);
        return 1;
    }
    fprintf(stderr, "cmc: views top / bottom half, %s%s, tau %g, dim %lld, batch %lld, %lld epochs over %lld images\n",
            o.m.softmax ? "full softmax over the bank" : "NCE",
            o.m.softmax ? "" : o.m.z_mode == CTR_NCE_Z_FIXED ? " (Z fixed)" : " (Z by EMA)",
            o.m.tau, (long long)o.m.dim, (long long)o.m.batch, (long long)o.epochs,
            (long long)o.m.n);
    t0 = now_s(), c0 = cpu_s();
    if (train(&m, &o, &tr, curve, &npoints, 64) != 0)
        return 1;
    fprintf(stderr, "cmc: trained in %.1fs (%.1f CPU s)\n", now_s() - t0, cpu_s() - c0);
    if (evaluate(&o, &tr, &te, &m, acc) != 0)
        return 1;
    fprintf(stderr, "cmc: %.1fs, %.1f CPU s in all\n", now_s() - t0, cpu_s() - c0);
    report(&o, curve, npoints, acc);
    printf("RESULT method=cmc linear_acc=%.4f view1_linear_acc=%.4f view2_linear_acc=%.4f knn_acc=%.4f random_linear_acc=%.4f raw_linear_acc=%.4f\n",
           acc[0], acc[1], acc[2], acc[3], acc[4], acc[5]);
    cmc_model_destroy(&m);
    fmnist_free(&tr), fmnist_free(&te);
    for (i = 0; i < 6; i++)
        if (acc[i] < 0)
            return 1;
    return 0;
}
