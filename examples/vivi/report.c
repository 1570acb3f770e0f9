/*
 * report.c - the CSV and SVG files of report.h.
 */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void curve_add(curve *c, const curve_point *pt)
{
    if (c->n == c->cap) {
        curve_point *grown = realloc(c->p, (size_t)(2 * c->cap + 16) * sizeof(*grown));
        if (grown == NULL)
            return;
        c->p = grown, c->cap = 2 * c->cap + 16;
    }
    c->p[c->n++] = *pt;
}

void curve_free(curve *c)
{
    free(c->p);
    c->p = NULL, c->n = c->cap = 0;
}

int report_curves_csv(const char *path, const curve *c, int n)
{
    FILE *f = fopen(path, "w");
    int i;
    int64_t j;
    if (f == NULL)
        return -1;
    fprintf(f, "method,step,train_cpu_s,loss,frame_loss,shot_loss\n");
    for (i = 0; i < n; i++)
        for (j = 0; j < c[i].n; j++) {
            const curve_point *p = &c[i].p[j];
            fprintf(f, "%s,%lld,%.2f,%.6f,%.6f,%.6f\n", c[i].method, (long long)p->step,
                    p->cpu_s, p->loss, p->frame_loss, p->shot_loss);
        }
    return fclose(f);
}

#define W 720
#define H 400
#define L 60
#define R 20
#define T 40
#define B 40

typedef struct axes {
    double xmax, ymax;
} axes;

static double field(const curve_point *p, int which)
{
    return which == 0 ? p->loss : which == 1 ? p->frame_loss : p->shot_loss;
}

static void polyline(FILE *f, const curve *c, int which, const axes *a, const char *color)
{
    int64_t j;
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", color);
    for (j = 0; j < c->n; j++)
        fprintf(f, "%.1f,%.1f ", L + (W - L - R) * (double)c->p[j].step / a->xmax,
                H - B - (H - T - B) * field(&c->p[j], which) / a->ymax);
    fprintf(f, "\"/>\n");
}

static void frame(FILE *f, const axes *a, const char *title)
{
    int k;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"20\" font-size=\"14\">%s</text>\n", L, title);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", L, H - B,
            W - R, H - B);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", L, T, L,
            H - B);
    for (k = 0; k <= 4; k++) {
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", L - 4,
                H - B - (H - T - B) * k / 4.0 + 4, a->ymax * k / 4.0);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n",
                L + (W - L - R) * k / 4.0, H - B + 16, a->xmax * k / 4.0);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">training step</text>\n",
            (L + W - R) / 2, H - 6);
}

int report_curves_svg(const char *path, const curve *c, int n, const char *title)
{
    static const char *const colors[3][3] = {{"#1f77b4", "#6baed6", "#9ecae1"},
                                              {"#d62728", "#fc9272", "#fcbba1"},
                                              {"#2ca02c", "#74c476", "#a1d99b"}};
    static const char *const parts[3] = {"loss", "frame level", "shot level"};
    axes a = {1.0, 1e-9};
    FILE *f = fopen(path, "w");
    int i, which, line = 0;
    int64_t j;
    if (f == NULL)
        return -1;
    for (i = 0; i < n; i++)
        for (j = 0; j < c[i].n; j++) {
            a.xmax = c[i].p[j].step > a.xmax ? (double)c[i].p[j].step : a.xmax;
            for (which = 0; which < 3; which++)
                a.ymax = field(&c[i].p[j], which) > a.ymax ? field(&c[i].p[j], which) : a.ymax;
        }
    frame(f, &a, title);
    for (i = 0; i < n && i < 3; i++)
        for (which = 0; which < 3; which++) {
            if (which > 0 && (c[i].n == 0 || c[i].p[0].shot_loss == 0.0))
                continue;
            polyline(f, &c[i], which, &a, colors[i][which]);
            fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"%s\">%s %s</text>\n", W - R - 200,
                    T + 14 * ++line, colors[i][which], c[i].method, parts[which]);
        }
    fprintf(f, "</svg>\n");
    return fclose(f);
}
