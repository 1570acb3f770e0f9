/*
 * options.c - command-line parsing for contrastive-demo.
 */
#include "options.h"

#include <contrastive.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "fmnist.h"

static const char usage[] =
    "usage: contrastive-demo [options]\n"
    "Self-supervised training on Fashion-MNIST with libcontrastive, then\n"
    "evaluation by weighted kNN (k=200, sigma=0.07, cosine) on the embeddings and\n"
    "a linear probe on the frozen backbone features. Labels are used only for\n"
    "evaluation.\n"
    "\n"
    "  --method simclr|moco|instdisc  objective and memory (default simclr)\n"
    "  --encoder cnn|mlp|resnet       backbone: two conv layers, one wide hidden\n"
    "                                 layer, or a small ResNet (3x3 stem, three\n"
    "                                 basic blocks of 16, 32/2, 64/2 channels)\n"
    "                                 (default cnn)\n"
    "  --epochs N                     epochs; the learning-rate schedule spans them\n"
    "                                 (default: what fits the default budget; CNN 10\n"
    "                                 SimCLR, 12 MoCo, 12 instance discrimination,\n"
    "                                 on the library's OpenMP build 14, 15, 15;\n"
    "                                 MLP 18, 19, 15; ResNet 4, 5, 5)\n"
    "  --batch N                      images per step (default 256)\n"
    "  --time-budget SECONDS          stop training after this long (default 300)\n"
    "  --seed N                       seed of every random choice (default 1)\n"
    "  --threads N                    BLAS threads (default: BLAS's own setting;\n"
    "                                 contrastive-demo-mpi: 1 per rank)\n"
    "  --out DIR                      report and checkpoint directory (default demo-out)\n"
    "  --resume                       continue from the checkpoint in --out\n"
    "  --decoupled 0|1                SimCLR: 1 the decoupled contrastive loss (DCL,\n"
    "                                 the positive out of the softmax denominator),\n"
    "                                 0 plain NT-Xent (default 1)\n"
    "  --stop-after N                 train at most N epochs in this run, then\n"
    "                                 evaluate (simulates an interruption)\n"
    "  --data DIR                     Fashion-MNIST .gz files (default " FMNIST_DEFAULT_DIR ")\n"
    "  --train-subset N               train on the first N images (default all)\n"
    "  --test-subset N                evaluate on the first N test images (default all)\n"
    "  --lr X                         base learning rate of AdamW (default 0.002)\n"
    "  --weight-decay X               AdamW's weight decay (default 1e-5)\n"
    "  --temperature X                softmax temperature (default 0.1 SimCLR, 0.2 MoCo,\n"
    "                                 0.1 instance discrimination)\n"
    "  --hidden N                     MLP backbone width (default 2048)\n"
    "  --depth N                      hidden layers of the MLP backbone (default 1)\n"
    "  --head N                       hidden width of the projection head (default 512)\n"
    "  --proj-dim N                   embedding size (default 128)\n"
    "  --crop-min X                   smallest random-crop area fraction (default\n"
    "                                 1.0 CNN: aspect ratio only; 0.6 MLP)\n"
    "  --noise X                      Gaussian pixel noise std (default 0.03)\n"
    "  --erase X                      random erasing probability (default 0.2)\n"
    "  --erase-style mean|black       erased box: 2-25 % of the image, any aspect,\n"
    "                                 filled with the mean (default), or a 4-12 px\n"
    "                                 box filled with black\n"
    "  --shift X                      translate views up to X pixels past the crop,\n"
    "                                 filling with black (default 0)\n"
    "  --standardize 0|1              feed (pixel - mean) / std (default 1)\n"
    "  --label-seed N                 permute training labels first (a test that\n"
    "                                 training never reads them)\n"
    "  --step-log FILE                write every step's loss and pretext accuracy\n"
    "                                 to FILE (\"step loss acc\" lines; compares runs)\n"
    "  --help                         this text\n"
    "\n"
    "The last line on stdout is machine-readable:\n"
    "  RESULT method=<m> encoder=<e> epochs=<n> train_seconds=<s> knn_acc=<a> linear_acc=<a>\n";

const char *method_name(int method)
{
    static const char *const names[] = {"simclr", "moco", "instdisc"};
    return names[method];
}

static int parse_int(const char *flag, const char *text, int64_t lo, int64_t *out)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < lo) {
        fprintf(stderr, "contrastive-demo: %s needs an integer >= %lld (got '%s')\n",
                flag, (long long)lo, text);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_real(const char *flag, const char *text, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (*text == '\0' || *end != '\0' || !(v >= 0.0)) {
        fprintf(stderr, "contrastive-demo: %s needs a number >= 0 (got '%s')\n",
                flag, text);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_method(const char *text, int *out)
{
    int m;
    for (m = METHOD_SIMCLR; m <= METHOD_INSTDISC; m++) {
        if (strcmp(text, method_name(m)) == 0) {
            *out = m;
            return 0;
        }
    }
    fprintf(stderr, "contrastive-demo: --method must be simclr, moco or instdisc\n");
    return -1;
}

static int parse_erase_style(const char *text, int *out)
{
    if (strcmp(text, "mean") == 0 || strcmp(text, "black") == 0) {
        *out = strcmp(text, "mean") == 0 ? ERASE_MEAN : ERASE_BLACK;
        return 0;
    }
    fprintf(stderr, "contrastive-demo: --erase-style must be mean or black\n");
    return -1;
}

static void set_defaults(demo_options *o)
{
    memset(o, 0, sizeof(*o));
    o->method = METHOD_SIMCLR;
    o->encoder = "cnn";
    o->epochs = 0; /* per method and encoder, once both are known */
    o->batch = 256;
    o->seed = 1;
    o->time_budget = 300.0;
    o->out_dir = "demo-out";
    o->data_dir = FMNIST_DEFAULT_DIR;
    o->hidden = 2048;
    o->depth = 1;
    o->head = 512;
    o->proj_dim = 128;
    o->crop_min = -1.0; /* per encoder, once the encoder is known */
    o->noise_std = 0.03;
    o->erase_prob = 0.2;
    o->weight_decay = 1e-5;
    o->erase_style = ERASE_MEAN;
    o->max_shift = 0.0;
    o->standardize = 1;
    o->decoupled = 1;
}

/* A 0|1 flag's value into *out; -1 after an error message. */
static int parse_bit(const char *flag, const char *v, int *out)
{
    int64_t n;
    if (parse_int(flag, v, 0, &n) != 0)
        return -1;
    if (n > 1) {
        fprintf(stderr, "contrastive-demo: %s must be 0 or 1\n", flag);
        return -1;
    }
    *out = (int)n;
    return 0;
}

/* One "--flag value" pair; returns 0, or -1 on a bad value or flag. */
static int parse_pair(demo_options *o, const char *flag, const char *v)
{
    int64_t n;
    if (strcmp(flag, "--method") == 0)
        return parse_method(v, &o->method);
    if (strcmp(flag, "--encoder") == 0) {
        o->encoder = v;
        return strcmp(v, "mlp") == 0 || strcmp(v, "cnn") == 0 || strcmp(v, "resnet") == 0
                   ? 0
                   : (fprintf(stderr, "contrastive-demo: --encoder must be mlp, cnn or resnet\n"),
                      -1);
    }
    if (strcmp(flag, "--out") == 0) { o->out_dir = v; return 0; }
    if (strcmp(flag, "--data") == 0) { o->data_dir = v; return 0; }
    if (strcmp(flag, "--step-log") == 0) { o->step_log = v; return 0; }
    if (strcmp(flag, "--time-budget") == 0) return parse_real(flag, v, &o->time_budget);
    if (strcmp(flag, "--lr") == 0) return parse_real(flag, v, &o->lr);
    if (strcmp(flag, "--weight-decay") == 0) return parse_real(flag, v, &o->weight_decay);
    if (strcmp(flag, "--temperature") == 0) return parse_real(flag, v, &o->temperature);
    if (strcmp(flag, "--crop-min") == 0) return parse_real(flag, v, &o->crop_min);
    if (strcmp(flag, "--noise") == 0) return parse_real(flag, v, &o->noise_std);
    if (strcmp(flag, "--erase") == 0) return parse_real(flag, v, &o->erase_prob);
    if (strcmp(flag, "--shift") == 0) return parse_real(flag, v, &o->max_shift);
    if (strcmp(flag, "--erase-style") == 0) return parse_erase_style(v, &o->erase_style);
    if (strcmp(flag, "--standardize") == 0) return parse_bit(flag, v, &o->standardize);
    if (strcmp(flag, "--decoupled") == 0) return parse_bit(flag, v, &o->decoupled);
    if (strcmp(flag, "--epochs") == 0) return parse_int(flag, v, 1, &o->epochs);
    if (strcmp(flag, "--batch") == 0) return parse_int(flag, v, 2, &o->batch);
    if (strcmp(flag, "--train-subset") == 0) return parse_int(flag, v, 0, &o->train_subset);
    if (strcmp(flag, "--test-subset") == 0) return parse_int(flag, v, 0, &o->test_subset);
    if (strcmp(flag, "--stop-after") == 0) return parse_int(flag, v, 1, &o->stop_after);
    if (strcmp(flag, "--hidden") == 0) return parse_int(flag, v, 8, &o->hidden);
    if (strcmp(flag, "--head") == 0) return parse_int(flag, v, 2, &o->head);
    if (strcmp(flag, "--depth") == 0) return parse_int(flag, v, 1, &o->depth);
    if (strcmp(flag, "--proj-dim") == 0) return parse_int(flag, v, 2, &o->proj_dim);
    if (strcmp(flag, "--seed") == 0) {
        if (parse_int(flag, v, 0, &n) != 0) return -1;
        o->seed = (uint64_t)n;
        return 0;
    }
    if (strcmp(flag, "--label-seed") == 0) {
        if (parse_int(flag, v, 0, &n) != 0) return -1;
        o->label_seed = (uint64_t)n;
        return 0;
    }
    if (strcmp(flag, "--threads") == 0) {
        if (parse_int(flag, v, 1, &n) != 0) return -1;
        o->threads = (int)n;
        return 0;
    }
    fprintf(stderr, "contrastive-demo: unknown option %s (see --help)\n", flag);
    return -1;
}

/* Whether the library linked is its OpenMP build (ctr_build_info), whose
 * CNN step at 2 threads takes 0.72 of the default build's (issue 17,
 * docs/performance.md): more epochs fit the same budget. */
static int openmp_build(void)
{
    char info[1024];
    return ctr_build_info(info, sizeof(info), NULL) == CTR_OK &&
           strstr(info, "; threads=openmp") != NULL;
}

/* Epochs that fit the default 300 s budget on a 2-core machine (the cosine
 * schedule must finish inside it) and the crop that suits the backbone:
 * the CNN learns most from uncropped views, the MLP from mild crops. */
static void apply_encoder_defaults(demo_options *o)
{
    static const int64_t mlp_epochs[] = {18, 19, 15}; /* simclr, moco, instdisc */
    static const int64_t cnn_default_build[] = {10, 12, 12};
    static const int64_t cnn_openmp_build[] = {14, 15, 15};
    static const int64_t resnet_epochs[] = {4, 5, 5};
    const int cnn = strcmp(o->encoder, "cnn") == 0, resnet = strcmp(o->encoder, "resnet") == 0;
    const int64_t *cnn_epochs = openmp_build() ? cnn_openmp_build : cnn_default_build;
    if (o->epochs == 0)
        o->epochs = cnn ? cnn_epochs[o->method]
                        : resnet ? resnet_epochs[o->method] : mlp_epochs[o->method];
    if (o->crop_min < 0.0)
        o->crop_min = cnn || resnet ? 1.0 : 0.6;
}

int options_parse(demo_options *o, int argc, char **argv)
{
    int i;
    set_defaults(o);
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 1;
        }
        if (strcmp(argv[i], "--resume") == 0) {
            o->resume = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "contrastive-demo: %s needs a value (see --help)\n", argv[i]);
            return -1;
        }
        if (parse_pair(o, argv[i], argv[i + 1]) != 0)
            return -1;
        i++;
    }
    apply_encoder_defaults(o);
    return 0;
}
