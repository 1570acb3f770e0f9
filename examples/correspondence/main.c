/*
 * correspondence - self-supervised video correspondence through the public
 * API (issue 16; docs/frames.md): a small convolutional encoder that keeps
 * the 32 x 32 resolution learns an affinity between consecutive frames of
 * synthetic clips (clips.h) by reconstructing frame t+1's colour channels
 * from frame t's through it (ctr_affinity_reconstruct, CorrFlow/MAST's
 * colourisation proxy; features L2-normalised per position, TimeCycle's
 * form; optional MAST-style dropping of the input's colour channels). Evaluation propagates the first
 * frame's mask through held-out clips (ctr_affinity_propagate, frame to
 * frame, top-k), scored by the mean IoU of the items over the clip,
 * against copying the first mask and against the same propagation on raw
 * pixels. Progress on stderr; <out>/curve.csv, <out>/miou.csv,
 * <out>/miou.svg; last line of stdout:
 *   RESULT method=correspondence miou=... copy_miou=... pixel_affinity_miou=...
 *
 *   correspondence [--budget S] [--max-steps N] [--batch B] [--items K]
 *                  [--clip-length T] [--test-clips N] [--val-clips N]
 *                  [--radius R] [--topk K] [--seed S] [--data DIR]
 *                  [--out DIR] [--self-test]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "contrastive.h"
#include "../demo/fmnist.h"
#include "../cpc-common/cpc_report.h"
#include "clips.h"

#define FEAT 16 /* encoder channels */
#define MAX_T 32

typedef struct options {
    double budget;
    int64_t max_steps, batch, clip_len, test_clips, val_clips, radius, topk;
    double tau, drop;
    int items, self_test;
    uint64_t seed;
    const char *data, *out;
} options;

static void usage(void)
{
    fprintf(stderr, "usage: correspondence [--budget CPU_S (120)] [--max-steps N (0: none)]\n"
            "  [--batch B (16)] [--items K (2)] [--clip-length T (12)] [--test-clips N (60)]\n"
            "  [--val-clips N (20)] [--radius R (4)] [--tau T (0.05)] [--drop-colour P (0)]\n"
            "  [--topk K (5)] [--seed S (1)]\n"
            "  [--data DIR] [--out DIR (correspondence-out)] [--self-test]\n");
}

static int parse(options *o, int argc, char **argv)
{
    int i;
    o->budget = 120.0, o->max_steps = 0, o->batch = 16, o->items = 2, o->clip_len = 12;
    o->test_clips = 60, o->val_clips = 20, o->radius = 4, o->topk = 5, o->seed = 1;
    o->tau = 0.05, o->drop = 0.0;
    o->data = FMNIST_DEFAULT_DIR, o->out = "correspondence-out", o->self_test = 0;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--self-test") == 0) {
            o->self_test = 1;
            continue;
        }
        if (v == NULL) {
            usage();
            return -1;
        }
        i++;
        if (strcmp(a, "--budget") == 0) o->budget = atof(v);
        else if (strcmp(a, "--max-steps") == 0) o->max_steps = atoll(v);
        else if (strcmp(a, "--batch") == 0) o->batch = atoll(v);
        else if (strcmp(a, "--items") == 0) o->items = atoi(v);
        else if (strcmp(a, "--clip-length") == 0) o->clip_len = atoll(v);
        else if (strcmp(a, "--test-clips") == 0) o->test_clips = atoll(v);
        else if (strcmp(a, "--val-clips") == 0) o->val_clips = atoll(v);
        else if (strcmp(a, "--radius") == 0) o->radius = atoll(v);
        else if (strcmp(a, "--tau") == 0) o->tau = atof(v);
        else if (strcmp(a, "--drop-colour") == 0) o->drop = atof(v);
        else if (strcmp(a, "--topk") == 0) o->topk = atoll(v);
        else if (strcmp(a, "--seed") == 0) o->seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--data") == 0) o->data = v;
        else if (strcmp(a, "--out") == 0) o->out = v;
        else {
            usage();
            return -1;
        }
    }
    if (o->batch < 1 || o->items < 1 || o->items > CLIP_MAX_ITEMS || o->clip_len < 2 ||
        o->clip_len > MAX_T || o->test_clips < 1 || o->val_clips < 1 || !(o->tau >= 1e-6 && o->tau <= 1e6) || !(o->drop >= 0.0 && o->drop <= 1.0)) {
        usage();
        return -1;
    }
    return 0;
}

static double cpu_s(void) { return (double)clock() / CLOCKS_PER_SEC; }

static int check(int rc, const char *what)
{
    if (rc != CTR_OK)
        fprintf(stderr, "correspondence: %s: %s\n", what, ctr_strerror(rc));
    return rc;
}

/* ---- the model ----------------------------------------------------------------- */

/* 3 x 32 x 32 frame -> FEAT x 32 x 32: three 3 x 3 convolutions,
 * stride 1, ReLU between, linear features out. */
static int build_encoder(ctr_encoder **out, uint64_t seed)
{
    const int64_t dims[3] = {CLIP_CHANNELS, CLIP_SIDE, CLIP_SIDE};
    ctr_encoder *e = NULL;
    int rc = ctr_encoder_create(&e, dims, 3, seed, NULL);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(e, 32, 3, 1, 1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(e, 32, 3, 1, 1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(e, FEAT, 3, 1, 1, 1);
    if (rc != CTR_OK)
        ctr_encoder_destroy(e), e = NULL;
    *out = e;
    return rc;
}

typedef struct curve {
    int64_t n, cap;
    cpc_point *p;
} curve;

static void curve_add(curve *c, int64_t step, double secs, double loss)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->p = realloc(c->p, (size_t)c->cap * sizeof(*c->p));
    }
    memset(&c->p[c->n], 0, sizeof(c->p[0]));
    c->p[c->n].step = step, c->p[c->n].seconds = secs, c->p[c->n].loss = loss;
    c->p[c->n].chance = NAN, c->p[c->n].k = 0;
    c->n++;
}

/* One batch of frame pairs (t, t+1) of fresh training clips: x holds the
 * 2B input frames (frames t, then frames t+1), col and tgt the colour
 * channels of frames t and t+1. As MAST drops input channels, a fraction
 * o->drop of the pairs (drawn from the pair's seed) show the encoder the
 * luminance only (colour channels zeroed in both frames). */
static void draw_batch(const clip_source *src, const options *o, uint64_t step, float *x,
                       float *col, float *tgt, float *scratch)
{
    const int64_t b = o->batch, fr = CLIP_CHANNELS * CLIP_PIXELS;
    int64_t i, k;
    for (i = 0; i < b; i++) {
        const uint64_t seed = 1000003ull * (o->seed + 7) + 7919ull * step + (uint64_t)i;
        const int64_t t = (int64_t)(seed % (uint64_t)(o->clip_len - 1));
        float *xa = x + i * fr, *xb = x + (b + i) * fr;
        clip_render(src, seed, o->items, t, 2, scratch, NULL);
        memcpy(xa, scratch, (size_t)fr * sizeof(float));
        memcpy(xb, scratch + fr, (size_t)fr * sizeof(float));
        memcpy(col + i * 2 * CLIP_PIXELS, scratch + CLIP_PIXELS,
               2 * CLIP_PIXELS * sizeof(float));
        memcpy(tgt + i * 2 * CLIP_PIXELS, scratch + fr + CLIP_PIXELS,
               2 * CLIP_PIXELS * sizeof(float));
        if ((double)((seed * 0x9E3779B97F4A7C15ull) >> 11) * (1.0 / 9007199254740992.0) < o->drop)
            for (k = CLIP_PIXELS; k < fr; k++)
                xa[k] = xb[k] = 0.0f;
    }
}

/* Each position's FEAT-vector of n maps (n x FEAT x CLIP_PIXELS) scaled to
 * unit length in place (TimeCycle's normalised features); inv (may be
 * NULL) keeps 1 / norm for the backward pass. */
static void normalize_positions(float *f, int64_t n, float *inv)
{
    int64_t m, i, ch;
    for (m = 0; m < n; m++)
        for (i = 0; i < CLIP_PIXELS; i++) {
            float *p = f + m * FEAT * CLIP_PIXELS + i;
            double n2 = 0.0, r;
            for (ch = 0; ch < FEAT; ch++)
                n2 += (double)p[ch * CLIP_PIXELS] * p[ch * CLIP_PIXELS];
            r = 1.0 / fmax(sqrt(n2), 1e-6);
            for (ch = 0; ch < FEAT; ch++)
                p[ch * CLIP_PIXELS] *= (float)r;
            if (inv != NULL)
                inv[m * CLIP_PIXELS + i] = (float)r;
        }
}

/* Backward of normalize_positions, in place on g: g <- (g - y (y . g)) / norm
 * for the normalised y. */
static void normalize_backward(float *g, const float *y, const float *inv, int64_t n)
{
    int64_t m, i, ch;
    for (m = 0; m < n; m++)
        for (i = 0; i < CLIP_PIXELS; i++) {
            float *pg = g + m * FEAT * CLIP_PIXELS + i;
            const float *py = y + m * FEAT * CLIP_PIXELS + i;
            double dot = 0.0;
            for (ch = 0; ch < FEAT; ch++)
                dot += (double)pg[ch * CLIP_PIXELS] * py[ch * CLIP_PIXELS];
            for (ch = 0; ch < FEAT; ch++)
                pg[ch * CLIP_PIXELS] = (float)((pg[ch * CLIP_PIXELS] - py[ch * CLIP_PIXELS] * dot) *
                                               inv[m * CLIP_PIXELS + i]);
        }
}

static int train(ctr_encoder *enc, const clip_source *src, const options *o, curve *c)
{
    const int64_t b = o->batch, nf = b * FEAT * CLIP_PIXELS;
    float *x = malloc((size_t)(2 * b * CLIP_CHANNELS * CLIP_PIXELS) * sizeof(float));
    float *col = malloc((size_t)(b * 2 * CLIP_PIXELS) * sizeof(float));
    float *tgt = malloc((size_t)(b * 2 * CLIP_PIXELS) * sizeof(float));
    float *y = malloc((size_t)(2 * nf) * sizeof(float));
    float *dy = malloc((size_t)(2 * nf) * sizeof(float));
    float *scratch = malloc(2 * CLIP_CHANNELS * CLIP_PIXELS * sizeof(float));
    float *inv = malloc((size_t)(2 * b * CLIP_PIXELS) * sizeof(float));
    ctr_affinity *aff = NULL;
    ctr_optimizer *opt = NULL;
    double t0 = cpu_s(), sum = 0.0;
    int64_t step, since = 0;
    int rc = check(ctr_affinity_create(&aff, NULL), "affinity");
    if (rc == CTR_OK) rc = ctr_affinity_set_i64(aff, CTR_AFFINITY_P_RADIUS, o->radius);
    if (rc == CTR_OK) rc = ctr_affinity_set_f64(aff, CTR_AFFINITY_P_TEMPERATURE, o->tau);
    if (rc == CTR_OK)
        rc = check(ctr_optimizer_create_for_encoder(&opt, CTR_OPTIMIZER_ADAMW, enc, NULL),
                   "optimizer");
    if (rc == CTR_OK) rc = ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_LR, 1e-3);
    if (rc == CTR_OK) rc = ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_WEIGHT_DECAY, 0.0);
    for (step = 0; rc == CTR_OK; step++) {
        double loss;
        if ((o->max_steps > 0 && step >= o->max_steps) || cpu_s() - t0 >= o->budget)
            break;
        draw_batch(src, o, (uint64_t)step, x, col, tgt, scratch);
        rc = check(ctr_encoder_forward(enc, y, x, 2 * b, CTR_ENCODER_TRAIN), "forward");
        if (rc == CTR_OK)
            normalize_positions(y, 2 * b, inv);
        if (rc == CTR_OK)
            rc = check(ctr_affinity_reconstruct(aff, &loss, NULL, y, y + nf, col, tgt, b, FEAT,
                                                CLIP_SIDE, CLIP_SIDE, 2, dy, dy + nf, NULL),
                       "reconstruct");
        if (rc == CTR_OK)
            normalize_backward(dy, y, inv, 2 * b);
        if (rc == CTR_OK) rc = ctr_encoder_zero_grad(enc);
        if (rc == CTR_OK) rc = check(ctr_encoder_backward(enc, NULL, dy), "backward");
        if (rc == CTR_OK) rc = ctr_optimizer_step(opt);
        if (rc != CTR_OK)
            break;
        sum += loss, since++;
        if ((step + 1) % 25 == 0) {
            curve_add(c, step + 1, cpu_s() - t0, sum / (double)since);
            fprintf(stderr, "step %5lld  cpu %6.1f s  loss %.5f\n", (long long)(step + 1),
                    cpu_s() - t0, sum / (double)since);
            sum = 0.0, since = 0;
        }
    }
    if (rc == CTR_OK && since > 0)
        curve_add(c, step, cpu_s() - t0, sum / (double)since);
    fprintf(stderr, "trained %lld steps in %.1f CPU s\n", (long long)step, cpu_s() - t0);
    ctr_affinity_destroy(aff);
    ctr_optimizer_destroy(opt);
    free(x), free(col), free(tgt), free(y), free(dy), free(scratch), free(inv);
    return rc;
}

/* ---- evaluation ------------------------------------------------------------------ */

/* Features of the T frames of a clip for one method: the encoder's (eval
 * mode) or raw pixels, each channel p as (cos(pi p / 2), sin(pi p / 2)),
 * so that a dot product is a similarity of intensities (sum over channels
 * of cos(pi (p_a - p_b) / 2)). Returns the channel count. */
static int64_t features(ctr_encoder *enc, const float *frames, int64_t t_len, float *f)
{
    int64_t t, ch, i;
    if (enc == NULL) {
        for (t = 0; t < t_len; t++)
            for (ch = 0; ch < CLIP_CHANNELS; ch++)
                for (i = 0; i < CLIP_PIXELS; i++) {
                    const float p = frames[(t * CLIP_CHANNELS + ch) * CLIP_PIXELS + i];
                    f[((t * 2 * CLIP_CHANNELS) + 2 * ch) * CLIP_PIXELS + i] =
                        cosf(1.5707963f * p);
                    f[((t * 2 * CLIP_CHANNELS) + 2 * ch + 1) * CLIP_PIXELS + i] =
                        sinf(1.5707963f * p);
                }
        return 2 * CLIP_CHANNELS;
    }
    if (check(ctr_encoder_forward(enc, f, frames, t_len, CTR_ENCODER_EVAL | CTR_ENCODER_NO_GRAD),
              "eval forward") != CTR_OK)
        return -1;
    normalize_positions(f, t_len, NULL);
    return FEAT;
}

/* IoU of item k between a predicted and a true mask (1 if both empty). */
static double iou(const uint8_t *pred, const uint8_t *truth, int k)
{
    int64_t i, inter = 0, uni = 0;
    for (i = 0; i < CLIP_PIXELS; i++) {
        inter += pred[i] == k && truth[i] == k;
        uni += pred[i] == k || truth[i] == k;
    }
    return uni == 0 ? 1.0 : (double)inter / (double)uni;
}

typedef struct evalbuf {
    float *frames, *f, *lab, *prop;
    uint8_t *masks, *pred;
} evalbuf;

/* Mean IoU per frame (per_frame[t] += item mean, t >= 1) of one clip,
 * propagating frame to frame with features f (cf channels) or copying
 * (f NULL). Returns the clip's mean over frames 1..T-1. */
static double clip_miou(ctr_affinity *aff, const options *o, const evalbuf *e, int64_t cf,
                        const float *f, double *per_frame)
{
    const int64_t t_len = o->clip_len, cl = o->items + 1;
    double total = 0.0;
    int64_t t, i, k;
    memcpy(e->pred, e->masks, CLIP_PIXELS);
    for (t = 1; t < t_len; t++) {
        const uint8_t *truth = e->masks + t * CLIP_PIXELS;
        double m = 0.0;
        if (f != NULL) {
            for (k = 0; k < cl; k++)
                for (i = 0; i < CLIP_PIXELS; i++)
                    e->lab[k * CLIP_PIXELS + i] = e->pred[i] == k ? 1.0f : 0.0f;
            if (check(ctr_affinity_propagate(aff, e->prop, f + (t - 1) * cf * CLIP_PIXELS,
                                             f + t * cf * CLIP_PIXELS, e->lab, 1, cf,
                                             CLIP_SIDE, CLIP_SIDE, cl, o->topk),
                      "propagate") != CTR_OK)
                return NAN;
            for (i = 0; i < CLIP_PIXELS; i++) {
                int best = 0;
                for (k = 1; k < cl; k++)
                    if (e->prop[k * CLIP_PIXELS + i] > e->prop[best * CLIP_PIXELS + i])
                        best = (int)k;
                e->pred[i] = (uint8_t)best;
            }
        }
        for (k = 1; k < cl; k++)
            m += iou(e->pred, truth, (int)k) / (double)(cl - 1);
        per_frame[t] += m;
        total += m;
    }
    return total / (double)(t_len - 1);
}

/* Mean IoU over n clips (seeds base + i) of a method: enc (learned), NULL
 * with pixels = 1 (raw pixels) or 0 (copy the first mask). */
static double evaluate(ctr_encoder *enc, int pixels, double tau, const clip_source *src,
                       const options *o, uint64_t base, int64_t n, double *per_frame)
{
    const int64_t t_len = o->clip_len;
    evalbuf e;
    ctr_affinity *aff = NULL;
    double sum = 0.0;
    int64_t c;
    e.frames = malloc((size_t)(t_len * CLIP_CHANNELS * CLIP_PIXELS) * sizeof(float));
    e.f = malloc((size_t)(t_len * FEAT * CLIP_PIXELS) * sizeof(float));
    e.lab = malloc((size_t)((CLIP_MAX_ITEMS + 1) * CLIP_PIXELS) * sizeof(float));
    e.prop = malloc((size_t)((CLIP_MAX_ITEMS + 1) * CLIP_PIXELS) * sizeof(float));
    e.masks = malloc((size_t)(t_len * CLIP_PIXELS));
    e.pred = malloc(CLIP_PIXELS);
    memset(per_frame, 0, MAX_T * sizeof(double));
    if (ctr_affinity_create(&aff, NULL) != CTR_OK ||
        ctr_affinity_set_i64(aff, CTR_AFFINITY_P_RADIUS, o->radius) != CTR_OK ||
        ctr_affinity_set_f64(aff, CTR_AFFINITY_P_TEMPERATURE, tau) != CTR_OK)
        sum = NAN;
    for (c = 0; c < n && !isnan(sum); c++) {
        int64_t cf = 0;
        clip_render(src, base + (uint64_t)c, o->items, 0, t_len, e.frames, e.masks);
        if (enc != NULL || pixels)
            cf = features(enc, e.frames, t_len, e.f);
        sum += cf < 0 ? NAN : clip_miou(aff, o, &e, cf, enc != NULL || pixels ? e.f : NULL,
                                        per_frame);
    }
    for (c = 1; c < t_len; c++)
        per_frame[c] /= (double)n;
    ctr_affinity_destroy(aff);
    free(e.frames), free(e.f), free(e.lab), free(e.prop), free(e.masks);
    free(e.pred);
    return sum / (double)n;
}

/* The temperature of a method's affinity of best validation mIoU (clips
 * of the training items, other seeds than training and test use). */
static double pick_tau(ctr_encoder *enc, int pixels, const clip_source *src, const options *o,
                       const char *name)
{
    static const double taus[4] = {0.02, 0.05, 0.2, 1.0};
    double best = -1.0, tau = 1.0, scratch[MAX_T];
    int i;
    for (i = 0; i < 4; i++) {
        const double m = evaluate(enc, pixels, taus[i], src, o, 900000, o->val_clips, scratch);
        fprintf(stderr, "%s affinity tau %.2f: validation mIoU %.4f\n", name, taus[i], m);
        if (m > best)
            best = m, tau = taus[i];
    }
    return tau;
}

/* ---- reports ---------------------------------------------------------------------- */

static int write_miou(const char *dir, const options *o, double pf[3][MAX_T],
                      const double miou[3], const double tau[3])
{
    static const char *names[3] = {"correspondence", "copy", "pixel_affinity"};
    static const char *colours[3] = {"#1f77b4", "#7f7f7f", "#d62728"};
    char path[1024];
    FILE *f;
    int64_t t;
    int m;
    snprintf(path, sizeof(path), "%s/miou.csv", dir);
    if ((f = fopen(path, "w")) == NULL)
        return -1;
    fprintf(f, "method,tau,miou");
    for (t = 1; t < o->clip_len; t++)
        fprintf(f, ",frame%lld", (long long)t);
    fprintf(f, "\n");
    for (m = 0; m < 3; m++) {
        fprintf(f, "%s,%g,%.6f", names[m], tau[m], miou[m]);
        for (t = 1; t < o->clip_len; t++)
            fprintf(f, ",%.6f", pf[m][t]);
        fprintf(f, "\n");
    }
    fclose(f);
    snprintf(path, sizeof(path), "%s/miou.svg", dir);
    if ((f = fopen(path, "w")) == NULL)
        return -1;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"400\">\n"
            "<rect width=\"640\" height=\"400\" fill=\"white\"/>\n"
            "<text x=\"320\" y=\"24\" text-anchor=\"middle\" font-family=\"sans-serif\" "
            "font-size=\"15\">Mask propagation: mean IoU per frame (held-out clips)</text>\n"
            "<line x1=\"60\" y1=\"360\" x2=\"600\" y2=\"360\" stroke=\"black\"/>\n"
            "<line x1=\"60\" y1=\"40\" x2=\"60\" y2=\"360\" stroke=\"black\"/>\n");
    for (t = 0; t <= 4; t++)
        fprintf(f, "<text x=\"52\" y=\"%lld\" text-anchor=\"end\" font-family=\"sans-serif\" "
                "font-size=\"11\">%.2f</text>\n", (long long)(364 - 80 * t), 0.25 * (double)t);
    for (m = 0; m < 3; m++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                colours[m]);
        for (t = 1; t < o->clip_len; t++)
            fprintf(f, "%.1f,%.1f ", 60.0 + 540.0 * (double)(t - 1) /
                    (double)(o->clip_len > 2 ? o->clip_len - 2 : 1), 360.0 - 320.0 * pf[m][t]);
        fprintf(f, "\"/>\n<text x=\"420\" y=\"%d\" fill=\"%s\" font-family=\"sans-serif\" "
                "font-size=\"12\">%s %.3f</text>\n", 60 + 18 * m, colours[m], names[m],
                miou[m]);
    }
    fprintf(f, "<text x=\"330\" y=\"390\" text-anchor=\"middle\" font-family=\"sans-serif\" "
            "font-size=\"12\">frame (1 .. %lld)</text>\n</svg>\n", (long long)(o->clip_len - 1));
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    fmnist_split train_set, test_set;
    clip_source src_train, src_test;
    ctr_encoder *enc = NULL;
    curve c = {0, 0, NULL};
    char err[256], path[1024];
    double pf[3][MAX_T], miou[3], tau[3] = {1.0, 0.0, 0.0};
    int rc;
    if (parse(&o, argc, argv) != 0)
        return 2;
    if (fmnist_load(&train_set, o.data, "train", err, sizeof(err)) != 0 ||
        fmnist_load(&test_set, o.data, "t10k", err, sizeof(err)) != 0) {
        fprintf(stderr, "correspondence: %s\n", err);
        return 1;
    }
    src_train.images = train_set.images, src_train.count = train_set.count;
    src_test.images = test_set.images, src_test.count = test_set.count;
    if (o.self_test) {
        rc = clip_self_test(&src_train);
        fprintf(stderr, "correspondence: clip generator self-test %s\n", rc ? "FAILED" : "ok");
        fmnist_free(&train_set), fmnist_free(&test_set);
        return rc;
    }
    if (cpc_make_dirs(o.out) != 0) {
        fprintf(stderr, "correspondence: cannot create %s\n", o.out);
        return 1;
    }
    rc = check(build_encoder(&enc, o.seed), "encoder");
    if (rc == CTR_OK)
        rc = train(enc, &src_train, &o, &c);
    if (rc == CTR_OK) {
        /* each affinity's temperature, chosen on validation clips */
        tau[0] = pick_tau(enc, 0, &src_train, &o, "learned");
        tau[2] = pick_tau(NULL, 1, &src_train, &o, "pixel");
        miou[0] = evaluate(enc, 0, tau[0], &src_test, &o, 500000, o.test_clips, pf[0]);
        miou[1] = evaluate(NULL, 0, 1.0, &src_test, &o, 500000, o.test_clips, pf[1]);
        miou[2] = evaluate(NULL, 1, tau[2], &src_test, &o, 500000, o.test_clips, pf[2]);
        fprintf(stderr, "test mIoU: correspondence %.4f  copy %.4f  pixel affinity %.4f\n",
                miou[0], miou[1], miou[2]);
        snprintf(path, sizeof(path), "%s/curve.csv", o.out);
        if (cpc_report_csv(path, c.p, c.n) != 0 || write_miou(o.out, &o, pf, miou, tau) != 0) {
            fprintf(stderr, "correspondence: cannot write the report under %s\n", o.out);
            rc = -1;
        }
        snprintf(path, sizeof(path), "%s/curve.svg", o.out);
        if (rc == CTR_OK && cpc_report_chart(path, c.p, c.n,
                                             "Correspondence: reconstruction loss") != 0)
            rc = -1;
    }
    if (rc == CTR_OK)
        printf("RESULT method=correspondence miou=%.4f copy_miou=%.4f pixel_affinity_miou=%.4f\n",
               miou[0], miou[1], miou[2]);
    free(c.p);
    ctr_encoder_destroy(enc);
    fmnist_free(&train_set), fmnist_free(&test_set);
    return rc == CTR_OK ? 0 : 1;
}
