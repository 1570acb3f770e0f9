/*
 * main.c - crd: Contrastive Representation Distillation (Tian et al. 2020)
 * on Fashion-MNIST, written against the public header only, like a host
 * application. Trains a supervised teacher (a small CNN, net.h), then the
 * same much smaller student MLP four times under the same budget, seed
 * and batches: cross-entropy only; CE + KD (Hinton, T = 4); CE + KD + CRD
 * (crd_part.h: two embedding heads, two banks, NCE both ways, class-aware
 * negatives); CE + CRD without KD (the paper's "CRD" row). Reports the
 * test accuracy of each. Progress on stderr; <out>/curves.csv, results.csv
 * and report.svg; the last stdout line is
 *   RESULT method=crd teacher_acc=... student_ce_acc=... student_kd_acc=...
 *          student_crd_acc=... student_crd_nokd_acc=...
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../cpc-common/cpc_report.h"
#include "../demo/fmnist.h"
#include "crd_part.h"
#include "net.h"
#include "report.h"

typedef struct options {
    const char *data_dir, *out_dir, *teacher_path;
    int64_t teacher_steps, steps, batch, hidden, nce_k, feat_dim;
    int64_t train_subset, test_subset;
    double lr, gamma, alpha, beta, kd_t;
    uint64_t seed;
} options;

enum { RUN_TEACHER, RUN_CE, RUN_KD, RUN_CRD, RUN_CRD_NOKD };

static double cpu_s(void)
{
    return (double)clock() / CLOCKS_PER_SEC;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: crd [--teacher-steps N] [--steps N] [--batch B] [--hidden H] [--lr LR]\n"
            "  [--nce-k K] [--feat-dim E] [--gamma G] [--alpha A] [--beta B] [--kd-t T]\n"
            "  [--seed S] [--train-subset N] [--test-subset N] [--data DIR] [--out DIR]\n"
            "  [--teacher PREFIX]  (load the teacher from PREFIX.body/.head if they\n"
            "  exist, else train it and save it there)\n");
}

static int parse(options *o, int argc, char **argv)
{
    int i;
    memset(o, 0, sizeof(*o));
    o->data_dir = FMNIST_DEFAULT_DIR, o->out_dir = "crd-out";
    o->teacher_steps = 1500, o->steps = 6000, o->batch = 64, o->hidden = 128;
    o->nce_k = 256, o->feat_dim = 128, o->lr = 1e-3, o->seed = 1;
    o->gamma = 1.0, o->alpha = 1.0, o->beta = 0.8, o->kd_t = 4.0;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) { usage(); return 1; }
        if (v == NULL) { usage(); return -1; }
        i++;
        if (strcmp(a, "--teacher-steps") == 0) o->teacher_steps = atoll(v);
        else if (strcmp(a, "--steps") == 0) o->steps = atoll(v);
        else if (strcmp(a, "--batch") == 0) o->batch = atoll(v);
        else if (strcmp(a, "--hidden") == 0) o->hidden = atoll(v);
        else if (strcmp(a, "--nce-k") == 0) o->nce_k = atoll(v);
        else if (strcmp(a, "--feat-dim") == 0) o->feat_dim = atoll(v);
        else if (strcmp(a, "--lr") == 0) o->lr = atof(v);
        else if (strcmp(a, "--gamma") == 0) o->gamma = atof(v);
        else if (strcmp(a, "--alpha") == 0) o->alpha = atof(v);
        else if (strcmp(a, "--beta") == 0) o->beta = atof(v);
        else if (strcmp(a, "--kd-t") == 0) o->kd_t = atof(v);
        else if (strcmp(a, "--seed") == 0) o->seed = (uint64_t)atoll(v);
        else if (strcmp(a, "--train-subset") == 0) o->train_subset = atoll(v);
        else if (strcmp(a, "--test-subset") == 0) o->test_subset = atoll(v);
        else if (strcmp(a, "--data") == 0) o->data_dir = v;
        else if (strcmp(a, "--out") == 0) o->out_dir = v;
        else if (strcmp(a, "--teacher") == 0) o->teacher_path = v;
        else { usage(); return -1; }
    }
    if (o->batch < 2 || o->hidden < 1 || o->nce_k < 1 || o->feat_dim < 1 || o->steps < 1 ||
        o->teacher_steps < 1 || o->lr <= 0) {
        fprintf(stderr, "crd: need batch >= 2, hidden, nce-k, feat-dim, steps >= 1, lr > 0\n");
        return -1;
    }
    return 0;
}

/* The training data every run draws from: images, labels and, once the
 * teacher is trained, its frozen features and logits. */
typedef struct pool {
    const float *images;
    const int64_t *labels;
    int64_t n;
    float *t_feat, *t_logits;
} pool;

/* One batch: images and labels of b random pool indices. */
typedef struct batch {
    int64_t *idx, *y;
    float *images, *t_feat, *t_logits;
} batch;

static int batch_fill(batch *bt, ctr_rng *g, const pool *p, int64_t b)
{
    int64_t i;
    int rc = ctr_rng_below(g, bt->idx, b, p->n);
    for (i = 0; rc == CTR_OK && i < b; i++) {
        const int64_t k = bt->idx[i];
        bt->y[i] = p->labels[k];
        memcpy(bt->images + i * FMNIST_PIXELS, p->images + k * FMNIST_PIXELS,
               FMNIST_PIXELS * sizeof(float));
        if (p->t_feat != NULL) {
            memcpy(bt->t_feat + i * TEACHER_FEAT, p->t_feat + k * TEACHER_FEAT,
                   TEACHER_FEAT * sizeof(float));
            memcpy(bt->t_logits + i * NET_CLASSES, p->t_logits + k * NET_CLASSES,
                   NET_CLASSES * sizeof(float));
        }
    }
    return rc;
}

/* Per-interval means, logged to stderr and the run's curve. */
typedef struct meter {
    double loss, crd, acc;
    int64_t count, every;
} meter;

static void meter_add(meter *m, report_run *r, int64_t step, int64_t last,
                      double loss, double crd, double acc)
{
    m->loss += loss, m->crd += crd, m->acc += acc, m->count++;
    if (m->count < m->every && step != last)
        return;
    if (r->npoints < REPORT_POINTS) {
        r->step[r->npoints] = step, r->loss[r->npoints] = m->loss / m->count;
        r->crd_loss[r->npoints] = m->crd / m->count;
        r->train_acc[r->npoints++] = m->acc / m->count;
    }
    fprintf(stderr, "%-8s step %5lld  loss %.4f  nce %.4f  train acc %.3f\n", r->name,
            (long long)step, m->loss / m->count, m->crd / m->count, m->acc / m->count);
    m->loss = m->crd = m->acc = 0, m->count = 0;
}

/* Trains n for `steps` steps of the run's loss: gamma CE + alpha KD (+ the
 * CRD term when c is not NULL). The batches come from a generator seeded
 * with seed, so every student sees the same images in the same order. */
static int train(net *n, crd_part *c, ctr_objective *kd, const pool *p,
                 const options *o, int64_t steps, double gamma, double alpha,
                 report_run *r)
{
    const int64_t b = o->batch;
    batch bt;
    meter m = {0, 0, 0, 0, steps < 40 ? 1 : steps / 40};
    float *dlogits = (float *)malloc((size_t)(b * NET_CLASSES) * sizeof(float));
    ctr_rng *g = NULL;
    char err[256] = "";
    int64_t step;
    int rc = ctr_rng_create(&g, o->seed + 999, NULL);
    bt.idx = (int64_t *)malloc((size_t)b * sizeof(int64_t));
    bt.y = (int64_t *)malloc((size_t)b * sizeof(int64_t));
    bt.images = (float *)malloc((size_t)(b * FMNIST_PIXELS) * sizeof(float));
    bt.t_feat = (float *)malloc((size_t)(b * TEACHER_FEAT) * sizeof(float));
    bt.t_logits = (float *)malloc((size_t)(b * NET_CLASSES) * sizeof(float));
    for (step = 1; rc == CTR_OK && step <= steps; step++) {
        double loss = 0, ls = 0, lt = 0, acc = 0;
        rc = batch_fill(&bt, g, p, b);
        if (rc == CTR_OK) rc = net_forward(n, bt.images, b);
        if (rc == CTR_OK)
            rc = ctr_objective_distill(kd, &loss, n->logits, NET_CLASSES, bt.t_logits,
                                       NET_CLASSES, bt.y, b, NET_CLASSES, gamma, alpha,
                                       dlogits);
        if (rc == CTR_OK) rc = ctr_objective_stat(kd, CTR_OBJECTIVE_S_ACCURACY, &acc);
        if (rc == CTR_OK && c != NULL)
            rc = crd_part_step(c, n->f, bt.t_feat, bt.idx, &ls, &lt, err, sizeof(err));
        if (rc == CTR_OK) rc = net_backward_step(n, dlogits, c != NULL ? c->dfs : NULL);
        if (rc == CTR_OK)
            meter_add(&m, r, step, steps, loss + o->beta * (ls + lt), ls + lt, acc);
    }
    if (rc != CTR_OK)
        fprintf(stderr, "crd: %s training: %s %s\n", r->name, ctr_strerror(rc), err);
    ctr_rng_destroy(g);
    free(dlogits), free(bt.idx), free(bt.y), free(bt.images), free(bt.t_feat);
    free(bt.t_logits);
    return rc;
}

/* The teacher: trained with CE (labels), then frozen; its eval-mode
 * features and logits of the whole pool are kept for the students. */
static int teacher_run(pool *p, const options *o, const fmnist_split *te, int64_t n_te,
                       ctr_objective *kd, report_run *r)
{
    net t;
    char err[256];
    double c0 = cpu_s();
    int rc = net_create(&t, 0, 0, o->batch, o->seed, o->lr, err, sizeof(err));
    if (rc != CTR_OK) {
        fprintf(stderr, "crd: %s\n", err);
        return rc;
    }
    r->params = net_params(&t);
    if (o->teacher_path != NULL && net_load(&t, o->teacher_path) == CTR_OK) {
        fprintf(stderr, "crd: teacher CNN (%lld parameters) loaded from %s.body/.head\n",
                (long long)r->params, o->teacher_path);
    } else {
        fprintf(stderr, "crd: teacher CNN (%lld parameters), %lld steps of batch %lld\n",
                (long long)r->params, (long long)o->teacher_steps, (long long)o->batch);
        rc = train(&t, NULL, kd, p, o, o->teacher_steps, 1.0, 0.0, r);
        if (rc == CTR_OK && o->teacher_path != NULL && net_save(&t, o->teacher_path) != CTR_OK)
            fprintf(stderr, "crd: cannot save the teacher to %s\n", o->teacher_path);
    }
    p->t_feat = (float *)malloc((size_t)(p->n * TEACHER_FEAT) * sizeof(float));
    p->t_logits = (float *)malloc((size_t)(p->n * NET_CLASSES) * sizeof(float));
    if (rc == CTR_OK && (p->t_feat == NULL || p->t_logits == NULL))
        rc = CTR_E_NOMEM;
    if (rc == CTR_OK)
        rc = net_eval(&t, p->images, p->n, p->t_feat, p->t_logits);
    if (rc == CTR_OK)
        r->test_acc = net_accuracy(&t, te->images, te->labels, n_te);
    r->cpu_seconds = cpu_s() - c0;
    fprintf(stderr, "crd: teacher test accuracy %.4f (%.1f CPU s)\n", r->test_acc,
            r->cpu_seconds);
    net_destroy(&t);
    return rc;
}

/* One student run: CE alone (weight 1), gamma CE + alpha KD, or gamma CE +
 * alpha KD + beta CRD. */
static int student_run(const pool *p, const options *o, const fmnist_split *te, int64_t n_te,
                       ctr_objective *kd, int kind, report_run *r)
{
    net s;
    crd_part c;
    char err[256];
    const int crd = kind == RUN_CRD || kind == RUN_CRD_NOKD;
    const double alpha = kind == RUN_CE || kind == RUN_CRD_NOKD ? 0.0 : o->alpha;
    double c0 = cpu_s();
    int rc = net_create(&s, 1, o->hidden, o->batch, o->seed + 100, o->lr, err, sizeof(err));
    if (rc == CTR_OK && crd)
        rc = crd_part_create(&c, o->hidden, TEACHER_FEAT, p->n, p->labels, NET_CLASSES,
                             o->batch, o->nce_k, o->feat_dim, o->beta, o->lr, o->seed,
                             err, sizeof(err));
    if (rc != CTR_OK) {
        fprintf(stderr, "crd: %s\n", err);
        net_destroy(&s);
        return rc;
    }
    r->params = net_params(&s);
    rc = train(&s, crd ? &c : NULL, kd, p, o, o->steps, kind == RUN_CE ? 1.0 : o->gamma,
               alpha, r);
    if (rc == CTR_OK)
        r->test_acc = net_accuracy(&s, te->images, te->labels, n_te);
    r->cpu_seconds = cpu_s() - c0;
    fprintf(stderr, "crd: student %s test accuracy %.4f (%.1f CPU s)\n", r->name,
            r->test_acc, r->cpu_seconds);
    if (crd)
        crd_part_destroy(&c);
    net_destroy(&s);
    return rc;
}

int main(int argc, char **argv)
{
    static report_run runs[REPORT_RUNS];
    const char *names[REPORT_RUNS] = {"teacher", "ce", "kd", "crd", "crd_nokd"};
    options o;
    fmnist_split tr, te;
    pool p;
    ctr_objective *kd = NULL;
    char err[256], title[200];
    int64_t n_te;
    int rc = parse(&o, argc, argv), k;
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (fmnist_load(&tr, o.data_dir, "train", err, sizeof(err)) != 0 ||
        fmnist_load(&te, o.data_dir, "t10k", err, sizeof(err)) != 0) {
        fprintf(stderr, "crd: %s\n", err);
        return 1;
    }
    memset(&p, 0, sizeof(p));
    p.images = tr.images, p.labels = tr.labels;
    p.n = o.train_subset > 0 && o.train_subset < tr.count ? o.train_subset : tr.count;
    n_te = o.test_subset > 0 && o.test_subset < te.count ? o.test_subset : te.count;
    if (cpc_make_dirs(o.out_dir) != 0) {
        fprintf(stderr, "crd: cannot create %s\n", o.out_dir);
        return 1;
    }
    if (ctr_objective_create(&kd, CTR_OBJECTIVE_DISTILL, NULL) != CTR_OK ||
        ctr_objective_set_f64(kd, CTR_OBJECTIVE_P_TEMPERATURE, o.kd_t) != CTR_OK) {
        fprintf(stderr, "crd: cannot create the CE + KD objective\n");
        return 1;
    }
    for (k = 0; k < REPORT_RUNS; k++)
        runs[k].name = names[k];
    rc = teacher_run(&p, &o, &te, n_te, kd, &runs[RUN_TEACHER]);
    fprintf(stderr, "crd: students MLP 784-%lld-10, %lld steps each; KD T %.1f, gamma %.2f "
                    "alpha %.2f; CRD beta %.2f, K %lld from other classes, embedding %lld, "
                    "bank %lld rows\n",
            (long long)o.hidden, (long long)o.steps, o.kd_t, o.gamma, o.alpha, o.beta,
            (long long)o.nce_k, (long long)o.feat_dim, (long long)p.n);
    for (k = RUN_CE; rc == CTR_OK && k <= RUN_CRD_NOKD; k++)
        rc = student_run(&p, &o, &te, n_te, kd, k, &runs[k]);
    if (rc == CTR_OK) {
        snprintf(title, sizeof(title), "CRD on Fashion-MNIST: CNN teacher, MLP 784-%lld-10 "
                 "students, seed %llu", (long long)o.hidden, (unsigned long long)o.seed);
        if (report_write(o.out_dir, runs, REPORT_RUNS, title) != 0)
            fprintf(stderr, "crd: cannot write the report into %s\n", o.out_dir);
        printf("RESULT method=crd teacher_acc=%.4f student_ce_acc=%.4f student_kd_acc=%.4f "
               "student_crd_acc=%.4f student_crd_nokd_acc=%.4f\n", runs[RUN_TEACHER].test_acc,
               runs[RUN_CE].test_acc, runs[RUN_KD].test_acc, runs[RUN_CRD].test_acc,
               runs[RUN_CRD_NOKD].test_acc);
    }
    ctr_objective_destroy(kd);
    free(p.t_feat), free(p.t_logits);
    fmnist_free(&tr), fmnist_free(&te);
    return rc == CTR_OK ? 0 : 1;
}
