/*
 * report.c - CSV and SVG output of examples/crd (report.h).
 */
#include "report.h"

#include <stdio.h>

static const char *const COLORS[REPORT_RUNS] = {"#555555", "#1f77b4", "#ff7f0e", "#2ca02c",
                                                 "#d62728"};

static int write_csv(const char *dir, const report_run *runs, int nruns)
{
    char path[1100];
    FILE *f;
    int r;
    int64_t i;
    snprintf(path, sizeof(path), "%s/curves.csv", dir);
    if ((f = fopen(path, "w")) == NULL)
        return -1;
    fprintf(f, "run,step,loss,crd_loss,train_acc\n");
    for (r = 0; r < nruns; r++)
        for (i = 0; i < runs[r].npoints; i++)
            fprintf(f, "%s,%lld,%.6f,%.6f,%.4f\n", runs[r].name, (long long)runs[r].step[i],
                    runs[r].loss[i], runs[r].crd_loss[i], runs[r].train_acc[i]);
    fclose(f);
    snprintf(path, sizeof(path), "%s/results.csv", dir);
    if ((f = fopen(path, "w")) == NULL)
        return -1;
    fprintf(f, "run,test_acc,params,cpu_seconds\n");
    for (r = 0; r < nruns; r++)
        fprintf(f, "%s,%.4f,%lld,%.1f\n", runs[r].name, runs[r].test_acc,
                (long long)runs[r].params, runs[r].cpu_seconds);
    fclose(f);
    return 0;
}

/* Left panel: one bar per run, axis from just below the lowest accuracy. */
static void bars(FILE *f, const report_run *runs, int nruns)
{
    double lo = 1.0, hi = 0.0, base;
    int r;
    for (r = 0; r < nruns; r++) {
        lo = runs[r].test_acc < lo ? runs[r].test_acc : lo;
        hi = runs[r].test_acc > hi ? runs[r].test_acc : hi;
    }
    base = lo - 0.02 > 0 ? lo - 0.02 : 0.0;
    hi = hi + 0.005 > base + 0.01 ? hi + 0.005 : base + 0.01;
    fprintf(f, "<text x='40' y='45' font-size='12'>test accuracy (axis from %.3f)</text>\n", base);
    for (r = 0; r < nruns; r++) {
        const double h = 260.0 * (runs[r].test_acc - base) / (hi - base);
        const double x = 50.0 + 66.0 * r;
        fprintf(f, "<rect x='%.1f' y='%.1f' width='50' height='%.1f' fill='%s'/>\n", x,
                330.0 - h, h, COLORS[r % REPORT_RUNS]);
        fprintf(f, "<text x='%.1f' y='%.1f' font-size='11'>%.4f</text>\n", x, 325.0 - h,
                runs[r].test_acc);
        fprintf(f, "<text x='%.1f' y='348' font-size='10'>%s</text>\n", x, runs[r].name);
    }
    fprintf(f, "<line x1='45' y1='330' x2='%d' y2='330' stroke='black'/>\n", 50 + 66 * nruns);
}

/* Right panel: training accuracy of the students (runs 1..) over steps. */
static void curves(FILE *f, const report_run *runs, int nruns)
{
    const double x0 = 400, y0 = 330, w = 360, h = 270;
    int64_t last = 1, i;
    int r;
    for (r = 1; r < nruns; r++)
        if (runs[r].npoints > 0 && runs[r].step[runs[r].npoints - 1] > last)
            last = runs[r].step[runs[r].npoints - 1];
    fprintf(f, "<text x='%.0f' y='45' font-size='12'>students: training accuracy (0.5 to 1) "
               "over %lld steps</text>\n", x0, (long long)last);
    fprintf(f, "<rect x='%.0f' y='%.0f' width='%.0f' height='%.0f' fill='none' stroke='black'/>\n",
            x0, y0 - h, w, h);
    for (r = 1; r < nruns; r++) {
        fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='1.5' points='",
                COLORS[r % REPORT_RUNS]);
        for (i = 0; i < runs[r].npoints; i++) {
            double a = runs[r].train_acc[i] < 0.5 ? 0.5 : runs[r].train_acc[i];
            fprintf(f, "%.1f,%.1f ", x0 + w * (double)runs[r].step[i] / (double)last,
                    y0 - h * (a - 0.5) / 0.5);
        }
        fprintf(f, "'/>\n<text x='%.0f' y='%.0f' font-size='10' fill='%s'>%s</text>\n",
                x0 + 10, y0 - h + 15 + 13 * r, COLORS[r % REPORT_RUNS], runs[r].name);
    }
}

int report_write(const char *dir, const report_run *runs, int nruns,
                 const char *title)
{
    char path[1100];
    FILE *f;
    if (write_csv(dir, runs, nruns) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/report.svg", dir);
    if ((f = fopen(path, "w")) == NULL)
        return -1;
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='800' height='370' "
               "font-family='sans-serif'>\n<rect width='800' height='370' fill='white'/>\n");
    fprintf(f, "<text x='20' y='22' font-size='14'>%s</text>\n", title);
    bars(f, runs, nruns);
    curves(f, runs, nruns);
    fprintf(f, "</svg>\n");
    fclose(f);
    return 0;
}
