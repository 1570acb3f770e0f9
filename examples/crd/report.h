/*
 * report.h - what examples/crd writes to its output directory: the
 * training curves of every run (curves.csv), the test accuracies
 * (results.csv) and one SVG (report.svg): the test accuracies as bars and
 * the students' training accuracy over the steps. Plain stdio.
 */
#ifndef CRD_REPORT_H
#define CRD_REPORT_H

#include <stdint.h>

#define REPORT_RUNS 5 /* teacher, student CE, CE + KD, CE + KD + CRD, CE + CRD */
#define REPORT_POINTS 64

typedef struct report_run {
    const char *name;
    int64_t npoints;
    int64_t step[REPORT_POINTS];
    double loss[REPORT_POINTS];     /* the run's total loss */
    double crd_loss[REPORT_POINTS]; /* NCE, both directions (CRD run) */
    double train_acc[REPORT_POINTS];
    double test_acc, cpu_seconds;
    int64_t params;
} report_run;

/* Writes curves.csv, results.csv and report.svg into dir. 0 on success. */
int report_write(const char *dir, const report_run *runs, int nruns,
                 const char *title);

#endif /* CRD_REPORT_H */
