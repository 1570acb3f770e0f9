/*
 * cpc_report.c - CSV and SVG output of the CPC examples.
 */
#define _POSIX_C_SOURCE 200809L
#include "cpc_report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int cpc_make_dirs(const char *path)
{
    char buf[1024];
    size_t i, n = strlen(path);
    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++)
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            buf[i] = c;
        }
    return 0;
}

int cpc_report_csv(const char *path, const cpc_point *p, int64_t n)
{
    FILE *f = fopen(path, "w");
    int64_t i, k;
    if (f == NULL)
        return -1;
    fprintf(f, "step,train_seconds,loss,chance_loss");
    for (k = 0; n > 0 && k < p[0].k; k++)
        fprintf(f, ",acc_k%lld", (long long)(k + 1));
    fprintf(f, "\n");
    for (i = 0; i < n; i++) {
        fprintf(f, "%lld,%.3f,%.6f,%.6f", (long long)p[i].step, p[i].seconds,
                p[i].loss, p[i].chance);
        for (k = 0; k < p[i].k; k++)
            fprintf(f, ",%.6f", p[i].acc[k]);
        fprintf(f, "\n");
    }
    return fclose(f) == 0 ? 0 : -1;
}

#define W 720
#define H 420
#define LEFT 70
#define RIGHT 70
#define TOP 50
#define BOTTOM 60

static double px(double v, double hi)
{
    return LEFT + (hi > 0 ? v / hi : 0.5) * (W - LEFT - RIGHT);
}

static double py(double v, double lo, double hi)
{
    return H - BOTTOM - (hi > lo ? (v - lo) / (hi - lo) : 0.5) * (H - TOP - BOTTOM);
}

/* which < 0: the loss; otherwise the accuracy of step `which`. */
static void series(FILE *f, const cpc_point *p, int64_t n, int64_t which,
                   double lo, double hi, const char *color)
{
    int64_t i;
    fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='2' points='", color);
    for (i = 0; i < n; i++)
        fprintf(f, "%s%.1f,%.1f", i ? " " : "",
                px((double)p[i].step, (double)p[n - 1].step),
                py(which < 0 ? p[i].loss : p[i].acc[which], lo, hi));
    fprintf(f, "'/>\n");
}

static void axes(FILE *f, double lmin, double lmax, const cpc_point *p,
                 int64_t n, const char *title)
{
    int t;
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
               "font-family='sans-serif' font-size='12'>\n", W, H);
    fprintf(f, "<rect width='100%%' height='100%%' fill='white'/>\n");
    fprintf(f, "<text x='%d' y='25' font-size='15'>%s</text>\n", LEFT, title);
    fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' "
               "stroke='#444'/>\n", LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM);
    for (t = 0; t <= 4; t++) {
        double y = TOP + t * (H - TOP - BOTTOM) / 4.0;
        fprintf(f, "<text x='%d' y='%.1f' text-anchor='end'>%.3f</text>\n",
                LEFT - 6, y + 4, lmax - t * (lmax - lmin) / 4);
        fprintf(f, "<text x='%d' y='%.1f'>%.2f</text>\n", W - RIGHT + 6, y + 4,
                1.0 - t / 4.0);
    }
    fprintf(f, "<text x='%d' y='%d' text-anchor='middle'>training step (last "
               "%lld)</text>\n", (W + LEFT - RIGHT) / 2, H - 20,
            (long long)p[n - 1].step);
}

int cpc_report_chart(const char *path, const cpc_point *p, int64_t n,
                     const char *title)
{
    static const char *const colors[3] = {"#2ca02c", "#ff7f0e", "#d62728"};
    double lmin = INFINITY, lmax = -INFINITY;
    int64_t i, which[3];
    int s;
    FILE *f;
    if (n < 1 || (f = fopen(path, "w")) == NULL)
        return -1;
    for (i = 0; i < n; i++)
        lmin = fmin(lmin, p[i].loss), lmax = fmax(lmax, fmax(p[i].loss, p[i].chance));
    lmin = fmax(0.0, lmin - 0.05 * (lmax - lmin + 1e-9));
    axes(f, lmin, lmax, p, n, title);
    which[0] = 0, which[1] = (p[0].k - 1) / 2, which[2] = p[0].k - 1;
    series(f, p, n, -1, lmin, lmax, "#1f77b4");
    for (s = 0; s < 3; s++)
        series(f, p, n, which[s], 0.0, 1.0, colors[s]);
    fprintf(f, "<text x='%d' y='%d' fill='#1f77b4'>loss (left)</text>\n", LEFT + 10, TOP + 16);
    for (s = 0; s < 3; s++)
        fprintf(f, "<text x='%d' y='%d' fill='%s'>accuracy, step k=%lld (right)</text>\n",
                LEFT + 10, TOP + 32 + 16 * s, colors[s], (long long)(which[s] + 1));
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}
