/*
 * report.c - CSV and SVG output of the demo (plain stdio, no library).
 */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const palette[10] = {"#1f77b4", "#ff7f0e", "#2ca02c",
                                        "#d62728", "#9467bd", "#8c564b",
                                        "#e377c2", "#7f7f7f", "#bcbd22",
                                        "#17becf"};

int report_write_csv(const char *path, const epoch_metrics *m, int64_t n)
{
    FILE *f = fopen(path, "w");
    int64_t i;
    if (f == NULL)
        return -1;
    fprintf(f, "epoch,steps,train_seconds,loss,pretext_acc,knn_acc,alignment,uniformity\n");
    for (i = 0; i < n; i++)
        fprintf(f, "%lld,%lld,%.3f,%.6f,%.6f,%.6f,%.6f,%.6f\n",
                (long long)m[i].epoch, (long long)m[i].steps, m[i].seconds,
                m[i].loss, m[i].pretext_acc, m[i].knn_acc, m[i].alignment,
                m[i].uniformity);
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- chart ------------------------------------------------------------------ */

#define W 720
#define H 420
#define LEFT 70
#define RIGHT 70
#define TOP 50
#define BOTTOM 60

static double px(double v, double lo, double hi)
{
    return LEFT + (hi > lo ? (v - lo) / (hi - lo) : 0.5) * (W - LEFT - RIGHT);
}

static double py(double v, double lo, double hi)
{
    return H - BOTTOM - (hi > lo ? (v - lo) / (hi - lo) : 0.5) * (H - TOP - BOTTOM);
}

static void series(FILE *f, const epoch_metrics *m, int64_t n, int which,
                   double lo, double hi, const char *color)
{
    int64_t i, first = 1;
    fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='2' points='", color);
    for (i = 0; i < n; i++) {
        double v = which ? m[i].knn_acc : m[i].loss;
        if (isnan(v))
            continue;
        fprintf(f, "%s%.1f,%.1f", first ? "" : " ",
                px((double)m[i].epoch, 0.0, (double)m[n - 1].epoch),
                py(v, lo, hi));
        first = 0;
    }
    fprintf(f, "'/>\n");
}

int report_write_chart(const char *path, const epoch_metrics *m, int64_t n,
                       const char *title)
{
    FILE *f;
    double lmin = INFINITY, lmax = -INFINITY;
    int64_t i;
    int t;
    if (n < 1 || (f = fopen(path, "w")) == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        lmin = fmin(lmin, m[i].loss);
        lmax = fmax(lmax, m[i].loss);
    }
    if (lmax - lmin < 1e-9) {
        lmin -= 0.5;
        lmax += 0.5;
    }
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
               "font-family='sans-serif' font-size='12'>\n", W, H);
    fprintf(f, "<rect width='100%%' height='100%%' fill='white'/>\n");
    fprintf(f, "<text x='%d' y='28' font-size='16'>%s</text>\n", LEFT, title);
    fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#888'/>\n",
            LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM);
    for (t = 0; t <= 4; t++) {
        double lv = lmin + (lmax - lmin) * t / 4.0, av = t / 4.0;
        double y = py(lv, lmin, lmax);
        fprintf(f, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#eee'/>\n",
                LEFT, W - RIGHT, y, y);
        fprintf(f, "<text x='%d' y='%.1f' text-anchor='end' fill='#1f77b4'>%.3f</text>\n",
                LEFT - 6, y + 4, lv);
        fprintf(f, "<text x='%d' y='%.1f' fill='#d62728'>%.2f</text>\n",
                W - RIGHT + 6, py(av, 0.0, 1.0) + 4, av);
    }
    for (i = 0; i < n; i++)
        fprintf(f, "<text x='%.1f' y='%d' text-anchor='middle'>%lld</text>\n",
                px((double)m[i].epoch, 0.0, (double)m[n - 1].epoch),
                H - BOTTOM + 18, (long long)m[i].epoch);
    series(f, m, n, 0, lmin, lmax, "#1f77b4");
    series(f, m, n, 1, 0.0, 1.0, "#d62728");
    fprintf(f, "<text x='%d' y='%d' text-anchor='middle'>epoch</text>\n",
            (W + LEFT - RIGHT) / 2, H - 20);
    fprintf(f, "<text x='%d' y='%d' fill='#1f77b4'>training loss</text>\n", LEFT, TOP - 6);
    fprintf(f, "<text x='%d' y='%d' text-anchor='end' fill='#d62728'>kNN test accuracy</text>\n",
            W - RIGHT, TOP - 6);
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- PCA scatter ------------------------------------------------------------------ */

/* Top eigenvector of the symmetric d×d matrix c by power iteration,
 * orthogonal to `against` (NULL for the first). */
static void power_iteration(const double *c, int64_t d, double *v,
                            const double *against)
{
    double *w = (double *)malloc((size_t)d * sizeof(double));
    int64_t i, j;
    int it;
    for (i = 0; i < d; i++)
        v[i] = 1.0 / sqrt((double)d) + 1e-3 * (double)(i % 7);
    for (it = 0; it < 200 && w != NULL; it++) {
        double norm = 0.0;
        if (against != NULL) {
            double p = 0.0;
            for (i = 0; i < d; i++)
                p += v[i] * against[i];
            for (i = 0; i < d; i++)
                v[i] -= p * against[i];
        }
        for (i = 0; i < d; i++) {
            w[i] = 0.0;
            for (j = 0; j < d; j++)
                w[i] += c[i * d + j] * v[j];
        }
        for (i = 0; i < d; i++)
            norm += w[i] * w[i];
        norm = sqrt(norm);
        if (norm == 0.0)
            break;
        for (i = 0; i < d; i++)
            v[i] = w[i] / norm;
    }
    free(w);
}

/* Mean and (unnormalised) covariance of the rows. */
static void covariance(const float *x, int64_t n, int64_t d, double *mean,
                      double *cov)
{
    int64_t r, i, j;
    memset(mean, 0, (size_t)d * sizeof(double));
    memset(cov, 0, (size_t)(d * d) * sizeof(double));
    for (r = 0; r < n; r++)
        for (i = 0; i < d; i++)
            mean[i] += x[r * d + i] / (double)n;
    for (r = 0; r < n; r++)
        for (i = 0; i < d; i++)
            for (j = 0; j < d; j++)
                cov[i * d + j] += (x[r * d + i] - mean[i]) * (x[r * d + j] - mean[j]);
}

int report_write_pca(const char *path, const float *x, int64_t n, int64_t d,
                     const int64_t *labels, const char *const *names,
                     int classes, const char *title)
{
    double *mean = (double *)malloc((size_t)d * sizeof(double));
    double *cov = (double *)malloc((size_t)(d * d) * sizeof(double));
    double *pc1 = (double *)malloc((size_t)d * sizeof(double));
    double *pc2 = (double *)malloc((size_t)d * sizeof(double));
    double *xy = (double *)malloc((size_t)n * 2 * sizeof(double));
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    FILE *f = NULL;
    int64_t r, i;
    int rc = -1, k;
    if (!mean || !cov || !pc1 || !pc2 || !xy || n < 2)
        goto done;
    covariance(x, n, d, mean, cov);
    power_iteration(cov, d, pc1, NULL);
    power_iteration(cov, d, pc2, pc1);
    for (r = 0; r < n; r++) {
        for (k = 0; k < 2; k++) {
            const double *pc = k ? pc2 : pc1;
            double s = 0.0;
            for (i = 0; i < d; i++)
                s += (x[r * d + i] - mean[i]) * pc[i];
            xy[2 * r + k] = s;
            lo[k] = fmin(lo[k], s);
            hi[k] = fmax(hi[k], s);
        }
    }
    if ((f = fopen(path, "w")) == NULL)
        goto done;
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='760' height='600' "
               "font-family='sans-serif' font-size='12'>\n"
               "<rect width='100%%' height='100%%' fill='white'/>\n"
               "<text x='20' y='28' font-size='16'>%s</text>\n", title);
    for (r = 0; r < n; r++)
        fprintf(f, "<circle cx='%.1f' cy='%.1f' r='1.6' fill='%s' fill-opacity='0.6'/>\n",
                20 + 560 * (xy[2 * r] - lo[0]) / (hi[0] - lo[0] + 1e-12),
                50 + 530 * (hi[1] - xy[2 * r + 1]) / (hi[1] - lo[1] + 1e-12),
                palette[labels[r] % 10]);
    for (k = 0; k < classes; k++)
        fprintf(f, "<rect x='600' y='%d' width='12' height='12' fill='%s'/>"
                   "<text x='618' y='%d'>%s</text>\n",
                60 + 22 * k, palette[k % 10], 71 + 22 * k, names[k]);
    fprintf(f, "</svg>\n");
    rc = fclose(f) == 0 ? 0 : -1;
done:
    free(mean);
    free(cov);
    free(pc1);
    free(pc2);
    free(xy);
    return rc;
}
