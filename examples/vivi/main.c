/*
 * main.c - vivi: VIVI (Tschannen et al. 2020) on synthetic videos of
 * Fashion-MNIST items (video.h), written against the public header only.
 * A small CNN learns from whole videos - frames of a shot are each
 * other's positives (frame level), mean-pooled shots of a video are each
 * other's positives (shot level), vivi_loss.h - and, from the same
 * initial weights, the same video stream and the same number of steps and
 * images per step, with SimCLR's NT-Xent on two augmented views of single
 * frames. No labels in training. Then a linear probe (ctr_probe) on the
 * frozen features of single frames of held-out videos predicts the item's
 * class, beside the same probe on the untrained encoder. Progress on
 * stderr; <out>/curve.csv, <out>/curve.svg, <out>/probe.csv; the last
 * stdout line is
 *   RESULT method=vivi linear_acc=... simclr_frames_linear_acc=... random_linear_acc=...
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
#include "report.h"
#include "video.h"

typedef struct options {
    model_config m;
    video_config v;
    int64_t steps, videos, log_every, train_items, probe_videos, test_videos;
    int skip_simclr; /* ablations: train VIVI only */
    const char *data_dir, *out_dir;
} options;

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: vivi [--self-test] [--steps N] [--videos V] [--shots S] [--frames T]\n"
            "  [--topic-prob P] [--lambda L] [--tau T] [--tau-shot T] [--lr LR] [--proj D]\n"
            "  [--seed S] [--train-items N] [--probe-videos N] [--test-videos N]\n"
            "  [--log-every N] [--skip-simclr 1] [--data DIR] [--out DIR]\n"
            "Each training step sees V videos x S shots x T frames (VIVI) or as many\n"
            "images as two views of V*S*T/2 single frames (SimCLR).\n");
}

static int set_option(options *o, const char *a, const char *v)
{
    if (strcmp(a, "--steps") == 0) o->steps = atoll(v);
    else if (strcmp(a, "--videos") == 0) o->videos = atoll(v);
    else if (strcmp(a, "--shots") == 0) o->v.shots = atoll(v);
    else if (strcmp(a, "--frames") == 0) o->v.frames = atoll(v);
    else if (strcmp(a, "--topic-prob") == 0) o->v.topic_prob = atof(v);
    else if (strcmp(a, "--lambda") == 0) o->m.lambda = atof(v);
    else if (strcmp(a, "--tau") == 0) o->m.tau_frame = atof(v);
    else if (strcmp(a, "--tau-shot") == 0) o->m.tau_shot = atof(v);
    else if (strcmp(a, "--lr") == 0) o->m.lr = atof(v);
    else if (strcmp(a, "--proj") == 0) o->m.proj = atoll(v);
    else if (strcmp(a, "--seed") == 0) o->m.seed = (uint64_t)atoll(v);
    else if (strcmp(a, "--train-items") == 0) o->train_items = atoll(v);
    else if (strcmp(a, "--probe-videos") == 0) o->probe_videos = atoll(v);
    else if (strcmp(a, "--test-videos") == 0) o->test_videos = atoll(v);
    else if (strcmp(a, "--log-every") == 0) o->log_every = atoll(v);
    else if (strcmp(a, "--skip-simclr") == 0) o->skip_simclr = atoi(v) != 0;
    else if (strcmp(a, "--data") == 0) o->data_dir = v;
    else if (strcmp(a, "--out") == 0) o->out_dir = v;
    else return -1;
    return 0;
}

static void defaults(options *o)
{
    memset(o, 0, sizeof(*o));
    o->m.proj = 64, o->m.lr = 1e-3, o->m.tau_frame = 0.2, o->m.tau_shot = 0.2;
    o->m.lambda = 1.0, o->m.seed = 1;
    o->v.shots = 4, o->v.frames = 4, o->v.topic_prob = 0.8;
    o->steps = 800, o->videos = 16, o->log_every = 20, o->train_items = 50000;
    o->probe_videos = 200, o->test_videos = 150;
    o->data_dir = FMNIST_DEFAULT_DIR, o->out_dir = "vivi-out";
}

/* 0: run; 1: done (help, self-test passed); -1: error. */
static int parse(options *o, int argc, char **argv)
{
    int i;
    defaults(o);
    for (i = 1; i < argc; i += 2) {
        if (strcmp(argv[i], "--help") == 0) { usage(); return 1; }
        if (strcmp(argv[i], "--self-test") == 0) {
            const int ok = video_self_test() == 0;
            fprintf(stderr, "vivi: video self-test %s\n", ok ? "passed" : "FAILED");
            return ok ? 1 : -1;
        }
        if (i + 1 >= argc || set_option(o, argv[i], argv[i + 1]) != 0) { usage(); return -1; }
    }
    if (o->steps < 1 || o->videos < 2 || o->v.shots < 2 || o->v.shots % 2 || o->v.shots > 64 ||
        o->v.frames < 2 || o->v.frames % 2 || o->videos * o->v.shots * o->v.frames > 4096 ||
        o->m.proj < 2 || o->m.lambda < 0.0 || o->m.tau_frame <= 0.0 || o->m.tau_shot <= 0.0 ||
        o->train_items < 100 || o->probe_videos < 5 || o->test_videos < 1 ||
        o->log_every < 1 || o->v.topic_prob < 0.0 || o->v.topic_prob > 1.0) {
        fprintf(stderr, "vivi: need steps >= 1, videos >= 2, even shots in [2, 64] and even "
                        "frames >= 2 (at most 4096 frames a step), train items >= 100, "
                        "probe videos >= 5, topic prob in [0, 1]\n");
        return -1;
    }
    return 0;
}

/* The training data: an endless stream of videos from the training items
 * (video index = a counter), and the augmentations' generator. */
typedef struct stream {
    const item_pool *pool;
    video_config v;
    uint64_t seed;
    int64_t next;
    ctr_rng *rng;
    augment_config aug;
    float *video; /* shots x frames x VIDEO_PIXELS */
} stream;

static augment_config vivi_augment(void)
{
    augment_config a = augment_default();
    a.crop_min_scale = 0.6f;
    return a;
}

static int stream_init(stream *s, const item_pool *pool, const options *o)
{
    memset(s, 0, sizeof(*s));
    s->pool = pool, s->v = o->v, s->seed = 1000 + o->m.seed, s->aug = vivi_augment();
    s->video = malloc((size_t)(o->v.shots * o->v.frames * VIDEO_PIXELS) * sizeof(float));
    if (s->video == NULL)
        return CTR_E_NOMEM;
    return ctr_rng_create(&s->rng, 2000 + o->m.seed, NULL);
}

static void stream_free(stream *s)
{
    ctr_rng_destroy(s->rng);
    free(s->video);
}

/* VIVI's batch: `videos` whole videos, every frame augmented once. */
static int fill_vivi(stream *s, int64_t videos, float *x, int64_t *frame_shot,
                     int64_t *shot_video)
{
    const int64_t fpv = s->v.shots * s->v.frames;
    int64_t v, i;
    int rc = CTR_OK;
    for (v = 0; v < videos && rc == CTR_OK; v++) {
        video_render(s->pool, &s->v, s->seed, s->next++, s->video, NULL, NULL);
        for (i = 0; i < fpv && rc == CTR_OK; i++) {
            const int64_t row = v * fpv + i;
            rc = augment_image(s->video + i * VIDEO_PIXELS, x + row * VIDEO_PIXELS, &s->aug,
                               s->rng);
            frame_shot[row] = row / s->v.frames;
        }
        for (i = 0; i < s->v.shots; i++)
            shot_video[v * s->v.shots + i] = v;
    }
    return rc;
}

/* SimCLR's batch: one random frame of each shot of as many videos as it
 * takes for b frames, two augmented views of each (x: view 1, then 2). */
static int fill_simclr(stream *s, int64_t b, float *x)
{
    int64_t row = 0, k, t;
    int rc = CTR_OK;
    while (row < b && rc == CTR_OK) {
        video_render(s->pool, &s->v, s->seed, s->next++, s->video, NULL, NULL);
        for (k = 0; k < s->v.shots && row < b && rc == CTR_OK; k++, row++) {
            const float *src;
            rc = ctr_rng_below(s->rng, &t, 1, s->v.frames);
            src = s->video + (k * s->v.frames + t) * VIDEO_PIXELS;
            if (rc == CTR_OK) rc = augment_image(src, x + row * VIDEO_PIXELS, &s->aug, s->rng);
            if (rc == CTR_OK)
                rc = augment_image(src, x + (b + row) * VIDEO_PIXELS, &s->aug, s->rng);
        }
    }
    return rc;
}

typedef struct batch {
    float *x;
    int64_t *frame_shot, *shot_video, n;
} batch;

static void log_point(curve *c, int64_t step, double t0, double *sum, int64_t *since)
{
    curve_point pt;
    pt.step = step, pt.cpu_s = cpu_s() - t0;
    pt.loss = sum[0] / (double)*since, pt.frame_loss = sum[1] / (double)*since;
    pt.shot_loss = sum[2] / (double)*since;
    curve_add(c, &pt);
    fprintf(stderr, "%-6s step %5lld  %6.1f CPU s  loss %.4f  frame %.4f  shot %.4f\n",
            c->method, (long long)step, pt.cpu_s, pt.loss, pt.frame_loss, pt.shot_loss);
    sum[0] = sum[1] = sum[2] = 0.0, *since = 0;
}

/* o->steps steps of VIVI (vivi = 1) or SimCLR from the model's state. */
static int train(model *m, const options *o, const item_pool *pool, int vivi, batch *bt,
                 curve *c)
{
    const int64_t shots = o->videos * o->v.shots;
    const double t0 = cpu_s();
    double sum[3] = {0, 0, 0}, l[3] = {0, 0, 0};
    int64_t step, since = 0;
    stream s;
    int rc = stream_init(&s, pool, o);
    for (step = 1; rc == CTR_OK && step <= o->steps; step++) {
        if (vivi) {
            rc = fill_vivi(&s, o->videos, bt->x, bt->frame_shot, bt->shot_video);
            if (rc == CTR_OK)
                rc = model_step_vivi(m, bt->x, bt->n, bt->frame_shot, shots, bt->shot_video,
                                     o->videos, &l[0], &l[1], &l[2]);
        } else {
            rc = fill_simclr(&s, bt->n / 2, bt->x);
            if (rc == CTR_OK) rc = model_step_simclr(m, bt->x, bt->n / 2, &l[0]);
            l[1] = l[0];
        }
        sum[0] += l[0], sum[1] += l[1], sum[2] += l[2], since++;
        if (rc == CTR_OK && (step % o->log_every == 0 || step == o->steps))
            log_point(c, step, t0, sum, &since);
    }
    stream_free(&s);
    return rc;
}

/* Probe rows: every frame of `videos` videos of seed `seed`, as the
 * encoder sees an unaugmented frame, with its item's class. */
typedef struct frames {
    float *x;
    int64_t *y, n;
    int *val; /* probe-training rows used to choose the penalty */
} frames;

static int frames_make(frames *f, const item_pool *pool, const options *o, uint64_t seed,
                       int64_t videos)
{
    const int64_t fpv = o->v.shots * o->v.frames;
    const augment_config aug = vivi_augment();
    float *video = malloc((size_t)(fpv * VIDEO_PIXELS) * sizeof(float));
    int64_t cls[64], v, i;
    f->n = videos * fpv;
    f->x = malloc((size_t)(f->n * VIDEO_PIXELS) * sizeof(float));
    f->y = malloc((size_t)f->n * sizeof(int64_t));
    f->val = malloc((size_t)f->n * sizeof(int));
    if (video == NULL || f->x == NULL || f->y == NULL || f->val == NULL) {
        free(video);
        return -1;
    }
    for (v = 0; v < videos; v++) {
        video_render(pool, &o->v, seed, v, video, NULL, cls);
        for (i = 0; i < fpv; i++) {
            augment_plain(video + i * VIDEO_PIXELS, f->x + (v * fpv + i) * VIDEO_PIXELS, &aug);
            f->y[v * fpv + i] = cls[i / o->v.frames];
            f->val[v * fpv + i] = v >= videos - videos / 5; /* the last fifth of the videos */
        }
    }
    free(video);
    return 0;
}

static void frames_free(frames *f)
{
    free(f->x), free(f->y), free(f->val);
}

/* The probe's test accuracy on frozen features; the chosen penalty in *l2. */
static double probe(model *m, const frames *tr, const frames *te, double *l2)
{
    static const double grid[4] = {1e-5, 1e-4, 1e-3, 1e-2};
    float *ftr = malloc((size_t)(tr->n * MODEL_FEATURES) * sizeof(float));
    float *fte = malloc((size_t)(te->n * MODEL_FEATURES) * sizeof(float));
    double acc = -1.0;
    if (ftr && fte && model_features(m, tr->x, tr->n, ftr) == CTR_OK &&
        model_features(m, te->x, te->n, fte) == CTR_OK)
        acc = cpc_probe_accuracy_select(ftr, tr->y, tr->val, tr->n, fte, te->y, te->n,
                                        MODEL_FEATURES, VIDEO_CLASSES, grid, 4, l2);
    free(ftr), free(fte);
    return acc;
}

typedef struct result {
    const char *method;
    double acc, l2;
} result;

static int write_probe(const char *dir, const result *r, int n)
{
    char path[1100];
    FILE *f;
    int i;
    snprintf(path, sizeof(path), "%s/probe.csv", dir);
    if ((f = fopen(path, "w")) == NULL)
        return -1;
    fprintf(f, "method,l2,linear_acc\n");
    for (i = 0; i < n; i++)
        fprintf(f, "%s,%g,%.6f\n", r[i].method, r[i].l2, r[i].acc);
    return fclose(f);
}

static int write_curves(const char *dir, const curve *c)
{
    char path[1100];
    int rc;
    snprintf(path, sizeof(path), "%s/curve.csv", dir);
    rc = report_curves_csv(path, c, 2);
    snprintf(path, sizeof(path), "%s/curve.svg", dir);
    return rc | report_curves_svg(path, c, 2, "VIVI vs frame-level SimCLR on synthetic videos: "
                                              "training loss");
}

/* Trains a model of the common seed with VIVI or SimCLR and probes it. */
static int run_method(const options *o, const item_pool *pool, int vivi, batch *bt,
                      const frames *tr, const frames *te, curve *c, result *r)
{
    model m;
    int rc = model_init(&m, &o->m);
    if (rc != CTR_OK)
        return rc;
    fprintf(stderr, "vivi: training %s, %lld steps of %lld images\n", c->method,
            (long long)o->steps, (long long)bt->n);
    rc = train(&m, o, pool, vivi, bt, c);
    r->method = c->method;
    if (rc == CTR_OK && (r->acc = probe(&m, tr, te, &r->l2)) < 0.0)
        rc = CTR_E_NOMEM;
    model_free(&m);
    return rc;
}

static int run(const options *o, const item_pool *train_pool, const frames *tr,
               const frames *te, curve *c, result *r)
{
    batch bt;
    model m;
    int rc;
    bt.n = o->videos * o->v.shots * o->v.frames;
    bt.x = malloc((size_t)(bt.n * VIDEO_PIXELS) * sizeof(float));
    bt.frame_shot = malloc((size_t)bt.n * sizeof(int64_t));
    bt.shot_video = malloc((size_t)bt.n * sizeof(int64_t));
    rc = bt.x && bt.frame_shot && bt.shot_video ? CTR_OK : CTR_E_NOMEM;
    if (rc == CTR_OK) rc = run_method(o, train_pool, 1, &bt, tr, te, &c[0], &r[0]);
    r[1].method = "simclr", r[1].acc = -1.0, r[1].l2 = 0.0;
    if (rc == CTR_OK && !o->skip_simclr)
        rc = run_method(o, train_pool, 0, &bt, tr, te, &c[1], &r[1]);
    if (rc == CTR_OK) rc = model_init(&m, &o->m); /* the same initial weights, untrained */
    if (rc == CTR_OK) {
        r[2].method = "random";
        if ((r[2].acc = probe(&m, tr, te, &r[2].l2)) < 0.0)
            rc = CTR_E_NOMEM;
        model_free(&m);
    }
    free(bt.x), free(bt.frame_shot), free(bt.shot_video);
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    fmnist_split train = {0, NULL, NULL}, test = {0, NULL, NULL};
    item_pool tpool, ppool, epool;
    frames tr = {NULL, NULL, 0, NULL}, te = {NULL, NULL, 0, NULL};
    curve c[2] = {{"vivi", NULL, 0, 0}, {"simclr", NULL, 0, 0}};
    result r[3];
    char err[512];
    const double t0 = cpu_s();
    int rc = parse(&o, argc, argv), i;
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (fmnist_load(&train, o.data_dir, "train", err, sizeof(err)) != 0 ||
        fmnist_load(&test, o.data_dir, "t10k", err, sizeof(err)) != 0) {
        fprintf(stderr, "vivi: %s\n", err);
        return 1;
    }
    if (o.train_items > train.count - 5000)
        o.train_items = train.count - 5000;
    /* training videos from the first train_items training images, the
     * probe's training videos from the last 5000, its test videos from
     * the test set */
    if (cpc_make_dirs(o.out_dir) != 0 ||
        item_pool_init(&tpool, train.images, train.labels, o.train_items) != 0 ||
        item_pool_init(&ppool, train.images + (train.count - 5000) * VIDEO_PIXELS,
                       train.labels + train.count - 5000, 5000) != 0 ||
        item_pool_init(&epool, test.images, test.labels, test.count) != 0 ||
        frames_make(&tr, &ppool, &o, 3000 + o.m.seed, o.probe_videos) != 0 ||
        frames_make(&te, &epool, &o, 4000 + o.m.seed, o.test_videos) != 0) {
        fprintf(stderr, "vivi: out of memory, or cannot create %s\n", o.out_dir);
        return 1;
    }
    fprintf(stderr, "vivi: videos of %lld shots x %lld frames (topic prob %.2f), %lld videos "
                    "a step, lambda %g, tau %g / %g; probe on %lld / %lld frames\n",
            (long long)o.v.shots, (long long)o.v.frames, o.v.topic_prob, (long long)o.videos,
            o.m.lambda, o.m.tau_frame, o.m.tau_shot, (long long)tr.n, (long long)te.n);
    rc = run(&o, &tpool, &tr, &te, c, r);
    if (rc != CTR_OK) {
        fprintf(stderr, "vivi: %s\n", ctr_strerror(rc));
        return 1;
    }
    if (write_curves(o.out_dir, c) != 0 || write_probe(o.out_dir, r, 3) != 0)
        fprintf(stderr, "vivi: cannot write the report under %s\n", o.out_dir);
    for (i = 0; i < 3; i++)
        fprintf(stderr, "vivi: %-6s linear probe %.4f (l2 %g)\n", r[i].method, r[i].acc,
                r[i].l2);
    fprintf(stderr, "vivi: %.1f CPU s in all\n", cpu_s() - t0);
    if (o.skip_simclr)
        printf("RESULT method=vivi linear_acc=%.4f simclr_frames_linear_acc=skipped "
               "random_linear_acc=%.4f\n", r[0].acc, r[2].acc);
    else
        printf("RESULT method=vivi linear_acc=%.4f simclr_frames_linear_acc=%.4f "
               "random_linear_acc=%.4f\n", r[0].acc, r[1].acc, r[2].acc);
    curve_free(&c[0]), curve_free(&c[1]);
    frames_free(&tr), frames_free(&te);
    item_pool_free(&tpool), item_pool_free(&ppool), item_pool_free(&epool);
    fmnist_free(&train), fmnist_free(&test);
    return 0;
}
