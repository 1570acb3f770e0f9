/*
 * cpc_report.h - what the CPC examples write to their output directory: a
 * CSV of the training curve (one row per logged interval) and an SVG chart
 * of the loss and the pretext accuracy of the first, middle and last
 * prediction step. Plain stdio; no library calls.
 */
#ifndef CPC_REPORT_H
#define CPC_REPORT_H

#include <stdint.h>

#define CPC_REPORT_MAX_STEPS 32

typedef struct cpc_point {
    int64_t step;       /* training steps so far */
    double seconds;     /* training time so far */
    double loss;        /* mean loss over the interval */
    double chance;      /* chance-level loss */
    int64_t k;          /* prediction steps */
    double acc[CPC_REPORT_MAX_STEPS]; /* mean accuracy of each step */
} cpc_point;

/* CSV: step,train_seconds,loss,chance_loss,acc_k1..acc_kK. 0 on success. */
int cpc_report_csv(const char *path, const cpc_point *p, int64_t n);

/* SVG line chart over training steps: loss (left axis) and the accuracy of
 * steps 1, K/2 and K (right axis). 0 on success. */
int cpc_report_chart(const char *path, const cpc_point *p, int64_t n,
                     const char *title);

/* mkdir -p of the output directory (relative or absolute). 0 on success. */
int cpc_make_dirs(const char *path);

#endif /* CPC_REPORT_H */
