/*
 * video.c - the synthetic videos of video.h.
 */
#include "video.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct gen {
    uint64_t s;
} gen;

/* splitmix64 */
static uint64_t next(gen *g)
{
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* uniform in [lo, hi) */
static double uniform(gen *g, double lo, double hi)
{
    return lo + (hi - lo) * (double)(next(g) >> 11) * (1.0 / 9007199254740992.0);
}

static int64_t below(gen *g, int64_t n)
{
    return (int64_t)(next(g) % (uint64_t)n);
}

int item_pool_init(item_pool *p, const float *images, const int64_t *labels, int64_t count)
{
    int64_t fill[VIDEO_CLASSES], i, c;
    memset(p, 0, sizeof(*p));
    p->images = images, p->labels = labels, p->count = count;
    p->by_class = (int64_t *)malloc((size_t)(count > 0 ? count : 1) * sizeof(int64_t));
    if (p->by_class == NULL)
        return -1;
    for (i = 0; i < count; i++) {
        if (labels[i] < 0 || labels[i] >= VIDEO_CLASSES) {
            item_pool_free(p);
            return -1;
        }
        p->start[labels[i] + 1]++;
    }
    for (c = 0; c < VIDEO_CLASSES; c++) {
        if (p->start[c + 1] == 0) {
            item_pool_free(p);
            return -1;
        }
        p->start[c + 1] += p->start[c];
        fill[c] = p->start[c];
    }
    for (i = 0; i < count; i++)
        p->by_class[fill[labels[i]]++] = i;
    return 0;
}

void item_pool_free(item_pool *p)
{
    free(p->by_class);
    memset(p, 0, sizeof(*p));
}

/* One shot's motion: start and end of centre, scale, angle; brightness
 * base, flicker amplitude, frequency and phase; background level. */
typedef struct motion {
    double cx[2], cy[2], scale[2], angle[2];
    double gain, flicker, omega, phase, background;
} motion;

static void draw_motion(gen *g, motion *m)
{
    int e;
    for (e = 0; e < 2; e++) {
        m->scale[e] = uniform(g, 0.6, 1.0);
        m->cx[e] = 13.5 + uniform(g, -5.0, 5.0);
        m->cy[e] = 13.5 + uniform(g, -5.0, 5.0);
        m->angle[e] = uniform(g, -0.35, 0.35);
    }
    m->gain = uniform(g, 0.55, 1.1);
    m->flicker = uniform(g, 0.0, 0.35);
    m->omega = uniform(g, 0.8, 2.5);
    m->phase = uniform(g, 0.0, 6.283185307179586);
    m->background = uniform(g, 0.0, 0.25);
}

/* Bilinear sample of a 28 x 28 item at (x, y), 0 outside. */
static double sample(const float *img, double x, double y)
{
    const int x0 = (int)floor(x), y0 = (int)floor(y);
    const double fx = x - x0, fy = y - y0;
    double v = 0.0;
    int dx, dy;
    for (dy = 0; dy < 2; dy++)
        for (dx = 0; dx < 2; dx++) {
            const int xi = x0 + dx, yi = y0 + dy;
            if (xi >= 0 && xi < VIDEO_SIDE && yi >= 0 && yi < VIDEO_SIDE)
                v += (dx ? fx : 1.0 - fx) * (dy ? fy : 1.0 - fy) * img[yi * VIDEO_SIDE + xi];
        }
    return v;
}

/* Frame t of a shot: the item at the interpolated pose, its brightness
 * flickering (a sine plus a random jolt), over the background. */
static void render_frame(gen *g, const float *img, const motion *m, double a, int64_t t,
                         float *out)
{
    const double s = m->scale[0] + a * (m->scale[1] - m->scale[0]);
    const double th = m->angle[0] + a * (m->angle[1] - m->angle[0]);
    const double cx = m->cx[0] + a * (m->cx[1] - m->cx[0]);
    const double cy = m->cy[0] + a * (m->cy[1] - m->cy[0]);
    const double gain = m->gain * (1.0 + m->flicker * sin(m->omega * (double)t + m->phase)) *
                        uniform(g, 0.85, 1.15);
    const double c = cos(th), sn = sin(th);
    int x, y;
    for (y = 0; y < VIDEO_SIDE; y++)
        for (x = 0; x < VIDEO_SIDE; x++) {
            const double u = ((double)x - cx) / s, v = ((double)y - cy) / s;
            const double val = m->background + gain * sample(img, c * u + sn * v + 13.5,
                                                                -sn * u + c * v + 13.5);
            out[y * VIDEO_SIDE + x] = (float)(val > 1.0 ? 1.0 : val);
        }
}

/* A class-`cls` item not among the video's earlier shots' items. */
static int64_t draw_item(gen *g, const item_pool *p, int64_t cls, const int64_t *used,
                         int64_t n_used)
{
    const int64_t n = p->start[cls + 1] - p->start[cls];
    int64_t item = 0, tries, k, clash = 1;
    for (tries = 0; tries < 8 && clash; tries++) {
        item = p->by_class[p->start[cls] + below(g, n)];
        for (k = 0, clash = 0; k < n_used; k++)
            clash |= used[k] == item;
    }
    return item;
}

void video_render(const item_pool *p, const video_config *cfg, uint64_t seed, int64_t index,
                  float *frames, int64_t *item, int64_t *cls)
{
    gen g = {seed * 0x9e3779b97f4a7c15ULL ^ ((uint64_t)index + 0x632be59bd9b4e019ULL)};
    int64_t used[64], k, t, topic;
    (void)next(&g);
    topic = below(&g, VIDEO_CLASSES);
    for (k = 0; k < cfg->shots; k++) {
        const int64_t c = uniform(&g, 0.0, 1.0) < cfg->topic_prob ? topic
                                                                   : below(&g, VIDEO_CLASSES);
        const int64_t it = draw_item(&g, p, c, used, k < 64 ? k : 64);
        motion m;
        if (k < 64)
            used[k] = it;
        draw_motion(&g, &m);
        for (t = 0; t < cfg->frames; t++)
            render_frame(&g, p->images + it * VIDEO_PIXELS, &m,
                         cfg->frames > 1 ? (double)t / (double)(cfg->frames - 1) : 0.0, t,
                         frames + (k * cfg->frames + t) * VIDEO_PIXELS);
        if (item != NULL)
            item[k] = it;
        if (cls != NULL)
            cls[k] = p->labels[it];
    }
}

/* Renders (seed, index) into out; 0 if every value is in [0, 1]. */
static int render_checked(const item_pool *p, const video_config *cfg, uint64_t seed,
                          int64_t index, float *out, int64_t n)
{
    int64_t i;
    video_render(p, cfg, seed, index, out, NULL, NULL);
    for (i = 0; i < n; i++)
        if (!(out[i] >= 0.0f && out[i] <= 1.0f))
            return -1;
    return 0;
}

int video_self_test(void)
{
    enum { ITEMS = 30 };
    const video_config cfg = {4, 6, 0.8};
    const int64_t n = cfg.shots * cfg.frames * VIDEO_PIXELS;
    float *images = malloc(ITEMS * VIDEO_PIXELS * sizeof(float));
    float *a = malloc((size_t)n * sizeof(float)), *b = malloc((size_t)n * sizeof(float));
    float *c = malloc((size_t)n * sizeof(float)), *d = malloc((size_t)n * sizeof(float));
    int64_t labels[ITEMS], i;
    gen g = {7};
    item_pool p;
    int ok = images && a && b && c && d;
    for (i = 0; ok && i < ITEMS * VIDEO_PIXELS; i++)
        images[i] = (float)uniform(&g, 0.0, 1.0);
    for (i = 0; i < ITEMS; i++)
        labels[i] = i % VIDEO_CLASSES;
    ok = ok && item_pool_init(&p, images, labels, ITEMS) == 0;
    if (ok) {
        ok = render_checked(&p, &cfg, 5, 3, a, n) == 0 && render_checked(&p, &cfg, 5, 3, b, n) == 0 &&
             render_checked(&p, &cfg, 5, 4, c, n) == 0 && render_checked(&p, &cfg, 6, 3, d, n) == 0;
        ok = ok && memcmp(a, b, (size_t)n * sizeof(float)) == 0 &&
             memcmp(a, c, (size_t)n * sizeof(float)) != 0 &&
             memcmp(a, d, (size_t)n * sizeof(float)) != 0;
        item_pool_free(&p);
    }
    free(images), free(a), free(b), free(c), free(d);
    return ok ? 0 : -1;
}
