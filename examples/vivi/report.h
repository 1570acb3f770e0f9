/*
 * report.h - what the vivi example writes under its output directory: the
 * training curves (CSV and an SVG chart) and the probe's accuracies (CSV).
 * Plain stdio; no library calls.
 */
#ifndef VIVI_REPORT_H
#define VIVI_REPORT_H

#include <stdint.h>

typedef struct curve_point {
    int64_t step;
    double cpu_s, loss, frame_loss, shot_loss; /* means over the interval */
} curve_point;

typedef struct curve {
    const char *method;
    curve_point *p;
    int64_t n, cap;
} curve;

/* Appends a point (silently dropped when out of memory). */
void curve_add(curve *c, const curve_point *pt);
void curve_free(curve *c);

/* CSV: method,step,train_cpu_s,loss,frame_loss,shot_loss over the curves. */
int report_curves_csv(const char *path, const curve *c, int n);

/* SVG line chart over steps of every curve's loss, and VIVI's two parts
 * (frame, shot) when a curve has them; title and a legend. */
int report_curves_svg(const char *path, const curve *c, int n, const char *title);

#endif /* VIVI_REPORT_H */
