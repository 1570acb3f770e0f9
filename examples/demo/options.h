/*
 * options.h - the demo's command line.
 */
#ifndef DEMO_OPTIONS_H
#define DEMO_OPTIONS_H

#include <stdint.h>

#define METHOD_SIMCLR 0
#define METHOD_MOCO 1
#define METHOD_INSTDISC 2

typedef struct demo_options {
    int method;            /* METHOD_* */
    const char *encoder;   /* "cnn", "mlp" or "resnet" */
    int64_t epochs;
    int64_t batch;
    uint64_t seed;
    int threads;           /* BLAS threads, 0 = leave as is */
    double time_budget;    /* seconds of training, 0 = no limit */
    const char *out_dir;
    const char *data_dir;
    const char *step_log;  /* NULL, or a file for every step's loss */
    int resume;
    int64_t stop_after;    /* train at most this many epochs in this run
                              (0 = no limit): an interruption, for resume */
    int64_t train_subset;  /* use the first N training images (0 = all) */
    int64_t test_subset;   /* evaluate on the first N test images (0 = all) */
    uint64_t label_seed;   /* 0: labels as given; else permute the training
                              labels (proves training never reads them) */
    double lr;             /* 0 = the method's default */
    double weight_decay;   /* AdamW's decoupled weight decay */
    double temperature;    /* 0 = the method's default */
    int64_t hidden;        /* MLP backbone width */
    int64_t depth;         /* hidden layers of the MLP backbone */
    int64_t head;          /* hidden width of the projection head */
    int64_t proj_dim;      /* projection / embedding size */
    double crop_min;       /* smallest crop area fraction (< 0: the encoder's) */
    double noise_std;      /* Gaussian pixel noise */
    double erase_prob;     /* random erasing probability */
    int erase_style;       /* ERASE_MEAN or ERASE_BLACK (augment.h) */
    double max_shift;      /* translation past the crop, pixels */
    int standardize;       /* 1: standardise the input pixels */
    int decoupled;         /* 1: decoupled contrastive loss (SimCLR) */
} demo_options;

/* Parses argv into *o (defaults first). Returns 0 to run, 1 when --help
 * was printed, -1 after printing an error. */
int options_parse(demo_options *o, int argc, char **argv);
const char *method_name(int method);

#endif /* DEMO_OPTIONS_H */
