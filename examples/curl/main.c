/*
 * main.c - curl: CURL (Srinivas et al. 2020) on frames of "catch", a small
 * deterministic game (game.h), written against the public header only,
 * like a game studio's host application. The query encoder sees one
 * random 56 x 56 crop of a stack of three 64 x 64 frames, the EMA key
 * encoder another crop of the same stack, and the bilinear critic
 * (ctr_objective_bilinear) tells the pairs of a batch apart. No state
 * labels are used in training. Then the regression probe (ctr_ridge) maps
 * frozen features of training episodes to the true state (ball x, y,
 * paddle x, ball vx, vy) and is scored by R² on held-out episodes, beside
 * the same probe on a randomly initialised encoder and on pooled raw
 * pixels. Progress on stderr; <out>/curve.csv, <out>/curve.svg,
 * <out>/r2.csv; the last stdout line is
 *   RESULT method=curl r2=... random_r2=... raw_r2=...
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../cpc-common/cpc_report.h"
#include "data.h"
#include "eval.h"
#include "model.h"

typedef struct options {
    curl_config m;
    double budget;         /* training CPU seconds */
    int64_t max_steps;     /* 0: until the budget */
    int64_t train_eps, probe_eps, test_eps, ep_steps;
    const char *out_dir;
} options;

static const char *const TARGETS[GAME_STATE] = {"ball_x", "ball_y", "paddle_x", "ball_vx",
                                                "ball_vy"};

/* CPU seconds of the process (every thread). */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: curl [--self-test] [--time-budget CPU_S] [--max-steps N] [--batch B]\n"
            "  [--dim D] [--lr LR] [--ema M] [--seed S] [--train-episodes N]\n"
            "  [--probe-episodes N] [--test-episodes N] [--episode-steps T] [--out DIR]\n");
}

static int set_option(options *o, const char *a, const char *v)
{
    if (strcmp(a, "--time-budget") == 0) o->budget = atof(v);
    else if (strcmp(a, "--max-steps") == 0) o->max_steps = atoll(v);
    else if (strcmp(a, "--batch") == 0) o->m.batch = atoll(v);
    else if (strcmp(a, "--dim") == 0) o->m.dim = atoll(v);
    else if (strcmp(a, "--lr") == 0) o->m.lr = atof(v);
    else if (strcmp(a, "--ema") == 0) o->m.ema = atof(v);
    else if (strcmp(a, "--seed") == 0) o->m.seed = (uint64_t)atoll(v);
    else if (strcmp(a, "--train-episodes") == 0) o->train_eps = atoll(v);
    else if (strcmp(a, "--probe-episodes") == 0) o->probe_eps = atoll(v);
    else if (strcmp(a, "--test-episodes") == 0) o->test_eps = atoll(v);
    else if (strcmp(a, "--episode-steps") == 0) o->ep_steps = atoll(v);
    else if (strcmp(a, "--out") == 0) o->out_dir = v;
    else return -1;
    return 0;
}

/* 0: run; 1: done (help, self-test passed); -1: error. */
static int parse(options *o, int argc, char **argv)
{
    int i;
    memset(o, 0, sizeof(*o));
    o->m.batch = 128, o->m.dim = 50, o->m.lr = 1e-3, o->m.ema = 0.95, o->m.seed = 1;
    o->budget = 150.0, o->train_eps = 40, o->probe_eps = 20, o->test_eps = 20;
    o->ep_steps = 100, o->out_dir = "curl-out";
    for (i = 1; i < argc; i += 2) {
        if (strcmp(argv[i], "--help") == 0) { usage(); return 1; }
        if (strcmp(argv[i], "--self-test") == 0) {
            int ok = game_self_test() == 0;
            fprintf(stderr, "curl: game self-test %s\n", ok ? "passed" : "FAILED");
            return ok ? 1 : -1;
        }
        if (i + 1 >= argc || set_option(o, argv[i], argv[i + 1]) != 0) { usage(); return -1; }
    }
    if (o->m.batch < 2 || o->m.batch > 1024 || o->m.dim < 1 || o->train_eps < 1 || o->probe_eps < 2 ||
        o->probe_eps > o->train_eps || o->test_eps < 1 || o->ep_steps < 8 ||
        o->m.ema < 0.0 || o->m.ema > 1.0) {
        fprintf(stderr, "curl: need batch in [2, 1024], probe episodes in [2, train episodes], "
                        "episode steps >= 8, ema in [0, 1]\n");
        return -1;
    }
    return 0;
}

/* Two random crops of each of batch random training observations. */
static int fill_batch(curl_model *m, const episodes *train, ctr_rng *rng)
{
    const int64_t b = m->cfg.batch, in = 3 * CURL_CROP * CURL_CROP;
    const int64_t span = GAME_SIZE - CURL_CROP + 1;
    int64_t idx[1024], off[4 * 1024], i;
    int rc = ctr_rng_below(rng, idx, b, episodes_samples(train));
    if (rc == CTR_OK)
        rc = ctr_rng_below(rng, off, 4 * b, span);
    for (i = 0; rc == CTR_OK && i < b; i++) {
        episodes_sample(train, idx[i], off[4 * i], off[4 * i + 1], CURL_CROP, m->xq + i * in,
                        NULL);
        episodes_sample(train, idx[i], off[4 * i + 2], off[4 * i + 3], CURL_CROP,
                        m->xk + i * in, NULL);
    }
    return rc;
}

typedef struct curve {
    cpc_point *p;
    int64_t n, cap;
} curve;

static void curve_add(curve *c, int64_t step, double secs, double loss, double acc,
                      double chance)
{
    cpc_point *pt;
    if (c->n == c->cap) {
        cpc_point *grown = realloc(c->p, (size_t)(2 * c->cap + 16) * sizeof(*grown));
        if (grown == NULL)
            return;
        c->p = grown, c->cap = 2 * c->cap + 16;
    }
    pt = &c->p[c->n++];
    memset(pt, 0, sizeof(*pt));
    pt->step = step, pt->seconds = secs, pt->loss = loss, pt->chance = chance;
    pt->k = 1, pt->acc[0] = acc;
}

/* Trains until the CPU budget or max_steps; logs every 20 steps. */
static int train(curl_model *m, const options *o, const episodes *tr, curve *c)
{
    const double t0 = cpu_s();
    double loss, acc, sum_l = 0.0, sum_a = 0.0;
    int64_t step = 0, since = 0;
    ctr_rng *rng = NULL;
    int rc = ctr_rng_create(&rng, o->m.seed + 1000, NULL);
    while (rc == CTR_OK && (o->max_steps > 0 ? step < o->max_steps : cpu_s() - t0 < o->budget)) {
        rc = fill_batch(m, tr, rng);
        if (rc == CTR_OK)
            rc = curl_model_step(m, &loss, &acc);
        step++, since++, sum_l += loss, sum_a += acc;
        if (rc == CTR_OK && (step % 20 == 0 || step == o->max_steps)) {
            curve_add(c, step, cpu_s() - t0, sum_l / since, sum_a / since,
                      log((double)o->m.batch));
            fprintf(stderr, "step %5lld  %6.1f CPU s  loss %.4f (chance %.4f)  acc %.3f\n",
                    (long long)step, cpu_s() - t0, sum_l / since, log((double)o->m.batch),
                    sum_a / since);
            sum_l = sum_a = 0.0, since = 0;
        }
    }
    ctr_rng_destroy(rng);
    return rc;
}

/* The probe's result for one kind of feature. */
typedef struct probe_result {
    const char *method;
    double r2[GAME_STATE], mean, l2;
} probe_result;

/* Features of the probe's training and test episodes by `enc` (NULL: raw
 * pixels), then the probe. */
static int evaluate(probe_result *res, ctr_encoder *enc, int64_t dim, const episodes *ptr,
                    const episodes *te)
{
    const int64_t ntr = episodes_samples(ptr), nte = episodes_samples(te);
    float *xtr = malloc((size_t)(ntr * dim) * sizeof(float));
    float *xte = malloc((size_t)(nte * dim) * sizeof(float));
    float *ytr = malloc((size_t)(ntr * GAME_STATE) * sizeof(float));
    float *yte = malloc((size_t)(nte * GAME_STATE) * sizeof(float));
    int rc = xtr && xte && ytr && yte ? CTR_OK : CTR_E_NOMEM;
    if (rc == CTR_OK && enc != NULL) {
        rc = features_encoder(enc, dim, ptr, xtr);
        if (rc == CTR_OK)
            rc = features_encoder(enc, dim, te, xte);
    } else if (rc == CTR_OK) {
        features_raw(ptr, xtr);
        features_raw(te, xte);
    }
    if (rc == CTR_OK) {
        states_of(ptr, ytr);
        states_of(te, yte);
        rc = probe_r2(xtr, ytr, ntr, xte, yte, nte, dim, res->r2, &res->mean, &res->l2);
    }
    free(xtr), free(xte), free(ytr), free(yte);
    return rc;
}

static int write_r2(const char *dir, const probe_result *res, int n)
{
    char path[1100];
    FILE *f;
    int i, t;
    snprintf(path, sizeof(path), "%s/r2.csv", dir);
    f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "method,l2,mean_r2");
    for (t = 0; t < GAME_STATE; t++)
        fprintf(f, ",%s", TARGETS[t]);
    fprintf(f, "\n");
    for (i = 0; i < n; i++) {
        fprintf(f, "%s,%g,%.6f", res[i].method, res[i].l2, res[i].mean);
        for (t = 0; t < GAME_STATE; t++)
            fprintf(f, ",%.6f", res[i].r2[t]);
        fprintf(f, "\n");
    }
    return fclose(f);
}

static int write_curve(const char *dir, const curve *c)
{
    char path[1100];
    int rc;
    snprintf(path, sizeof(path), "%s/curve.csv", dir);
    rc = cpc_report_csv(path, c->p, c->n);
    snprintf(path, sizeof(path), "%s/curve.svg", dir);
    return rc | cpc_report_chart(path, c->p, c->n, "CURL on catch: bilinear critic loss and accuracy");
}

/* Trains, then probes the three kinds of features into res[0..2]. */
static int run(const options *o, const episodes *tr, const episodes *ptr, const episodes *te,
               probe_result *res, curve *c)
{
    curl_model m;
    ctr_encoder *random = NULL;
    char err[256];
    int rc;
    if (curl_model_init(&m, &o->m, err, sizeof(err)) != 0) {
        fprintf(stderr, "curl: %s\n", err);
        return CTR_E_NOMEM;
    }
    rc = train(&m, o, tr, c);
    fprintf(stderr, "curl: probing on %lld training / %lld held-out observations\n",
            (long long)episodes_samples(ptr), (long long)episodes_samples(te));
    res[0].method = "curl", res[1].method = "random", res[2].method = "raw";
    if (rc == CTR_OK)
        rc = evaluate(&res[0], m.query, o->m.dim, ptr, te);
    if (rc == CTR_OK)
        rc = curl_encoder_build(&random, o->m.dim, o->m.seed + 7);
    if (rc == CTR_OK)
        rc = evaluate(&res[1], random, o->m.dim, ptr, te);
    if (rc == CTR_OK)
        rc = evaluate(&res[2], NULL, RAW_DIM, ptr, te);
    ctr_encoder_destroy(random);
    curl_model_free(&m);
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    episodes tr, ptr, te;
    probe_result res[3];
    curve c = {NULL, 0, 0};
    const uint64_t base = 1;
    double t0 = cpu_s();
    int rc = parse(&o, argc, argv), i;
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (cpc_make_dirs(o.out_dir) != 0) {
        fprintf(stderr, "curl: cannot create %s\n", o.out_dir);
        return 1;
    }
    memset(&tr, 0, sizeof(tr)), memset(&ptr, 0, sizeof(ptr)), memset(&te, 0, sizeof(te));
    /* episodes by seed: training (the probe's are its first ones), held-out */
    if (episodes_make(&tr, base + 1000 * o.m.seed, o.train_eps, o.ep_steps) != 0 ||
        episodes_make(&ptr, base + 1000 * o.m.seed, o.probe_eps, o.ep_steps) != 0 ||
        episodes_make(&te, base + 1000 * o.m.seed + 500, o.test_eps, o.ep_steps) != 0) {
        fprintf(stderr, "curl: out of memory\n");
        return 1;
    }
    fprintf(stderr, "curl: %lld training episodes of %lld frames, batch %lld, D = %lld, "
                    "budget %.0f CPU s\n", (long long)o.train_eps, (long long)o.ep_steps,
            (long long)o.m.batch, (long long)o.m.dim, o.budget);
    rc = run(&o, &tr, &ptr, &te, res, &c);
    if (rc != CTR_OK) {
        fprintf(stderr, "curl: %s\n", ctr_strerror(rc));
        return 1;
    }
    if (write_curve(o.out_dir, &c) != 0 || write_r2(o.out_dir, res, 3) != 0)
        fprintf(stderr, "curl: cannot write the report under %s\n", o.out_dir);
    for (i = 0; i < 3; i++)
        fprintf(stderr, "curl: %-6s mean R2 %.4f (l2 %g): ball x %.3f y %.3f paddle x %.3f "
                        "vx %.3f vy %.3f\n", res[i].method, res[i].mean, res[i].l2,
                res[i].r2[0], res[i].r2[1], res[i].r2[2], res[i].r2[3], res[i].r2[4]);
    fprintf(stderr, "curl: %.1f CPU s in all\n", cpu_s() - t0);
    printf("RESULT method=curl r2=%.4f random_r2=%.4f raw_r2=%.4f\n", res[0].mean, res[1].mean,
           res[2].mean);
    episodes_free(&tr), episodes_free(&ptr), episodes_free(&te);
    free(c.p);
    return 0;
}
