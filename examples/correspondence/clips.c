/*
 * clips.c - the synthetic videos of the correspondence example (clips.h).
 */
#include "clips.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gen {
    uint64_t s;
} gen;

static uint64_t next(gen *g)
{
    uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(gen *g) { return (double)(next(g) >> 11) * (1.0 / 9007199254740992.0); }

static int64_t below(gen *g, int64_t n) { return (int64_t)(uniform(g) * (double)n); }

/* Approximately normal (sum of four uniforms, scaled to unit variance). */
static double noise(gen *g)
{
    return (uniform(g) + uniform(g) + uniform(g) + uniform(g) - 2.0) * 1.7320508;
}

/* A smooth texture in [lo, hi]: a sum of four random plane waves. */
static void texture(gen *g, float *out, double lo, double hi)
{
    double fx[4], fy[4], ph[4];
    int k, y, x;
    for (k = 0; k < 4; k++) {
        fx[k] = (uniform(g) * 2.0 - 1.0) * 0.9;
        fy[k] = (uniform(g) * 2.0 - 1.0) * 0.9;
        ph[k] = uniform(g) * 6.2831853;
    }
    for (y = 0; y < CLIP_SIDE; y++)
        for (x = 0; x < CLIP_SIDE; x++) {
            double s = 0.0;
            for (k = 0; k < 4; k++)
                s += sin(fx[k] * x + fy[k] * y + ph[k]);
            out[y * CLIP_SIDE + x] = (float)(lo + (hi - lo) * (0.5 + s / 8.0));
        }
}

/* One item: its 14 x 14 picture, colour, start and velocity. */
typedef struct item {
    float pic[CLIP_ITEM_SIDE * CLIP_ITEM_SIDE];
    float ca, cb;
    int64_t x0, y0, vx, vy;
} item;

static void item_init(gen *g, const clip_source *src, item *it)
{
    const float *img = src->images + below(g, src->count) * 784;
    const int64_t span = CLIP_SIDE - CLIP_ITEM_SIDE;
    int y, x;
    for (y = 0; y < CLIP_ITEM_SIDE; y++) /* 2 x 2 average of the 28 x 28 image */
        for (x = 0; x < CLIP_ITEM_SIDE; x++) {
            const float *p = img + (2 * y) * 28 + 2 * x;
            it->pic[y * CLIP_ITEM_SIDE + x] = 0.25f * (p[0] + p[1] + p[28] + p[29]);
        }
    it->ca = (float)uniform(g), it->cb = (float)uniform(g);
    it->x0 = below(g, span + 1), it->y0 = below(g, span + 1);
    do {
        it->vx = below(g, 5) - 2, it->vy = below(g, 5) - 2;
    } while (it->vx == 0 && it->vy == 0);
}

/* Position at frame t moving with v from p0, bouncing in [0, span]. */
static int64_t bounce(int64_t p0, int64_t v, int64_t t)
{
    const int64_t span = CLIP_SIDE - CLIP_ITEM_SIDE, period = 2 * span;
    int64_t p = ((p0 + v * t) % period + period) % period;
    return p <= span ? p : period - p;
}

static void draw_item(const item *it, int k, int64_t t, float *f, uint8_t *mask)
{
    const int64_t x0 = bounce(it->x0, it->vx, t), y0 = bounce(it->y0, it->vy, t);
    int y, x;
    for (y = 0; y < CLIP_ITEM_SIDE; y++)
        for (x = 0; x < CLIP_ITEM_SIDE; x++) {
            const float v = it->pic[y * CLIP_ITEM_SIDE + x];
            const int64_t i = (y0 + y) * CLIP_SIDE + x0 + x;
            if (v < 0.1f)
                continue;
            f[i] = v;
            f[CLIP_PIXELS + i] = it->ca;
            f[2 * CLIP_PIXELS + i] = it->cb;
            mask[i] = (uint8_t)k;
        }
}

void clip_render(const clip_source *src, uint64_t seed, int items, int64_t t0, int64_t n,
                 float *frames, uint8_t *masks)
{
    gen g = {seed};
    float bg[CLIP_CHANNELS * CLIP_PIXELS];
    uint8_t scratch[CLIP_PIXELS];
    item it[CLIP_MAX_ITEMS];
    int64_t t, i;
    int k;
    texture(&g, bg, 0.0, 1.0);
    texture(&g, bg + CLIP_PIXELS, 0.0, 1.0);
    texture(&g, bg + 2 * CLIP_PIXELS, 0.0, 1.0);
    for (k = 0; k < items; k++)
        item_init(&g, src, &it[k]);
    for (t = 0; t < n; t++) {
        float *f = frames + t * CLIP_CHANNELS * CLIP_PIXELS;
        uint8_t *m = masks != NULL ? masks + t * CLIP_PIXELS : scratch;
        gen fg = {seed ^ (0xA5A5A5A5ull * (uint64_t)(t0 + t + 1))};
        memcpy(f, bg, sizeof(bg));
        memset(m, 0, CLIP_PIXELS);
        for (k = 0; k < items; k++)
            draw_item(&it[k], k + 1, t0 + t, f, m);
        for (i = 0; i < CLIP_CHANNELS * CLIP_PIXELS; i++)
            f[i] += (float)(0.03 * noise(&fg));
    }
}

int clip_self_test(const clip_source *src)
{
    enum { T = 6, N = T * CLIP_CHANNELS * CLIP_PIXELS };
    static float a[N], b[N];
    static uint8_t ma[T * CLIP_PIXELS], mb[T * CLIP_PIXELS];
    uint64_t s;
    clip_render(src, 42, 3, 0, T, a, ma);
    clip_render(src, 42, 3, 0, T, b, mb);
    if (memcmp(a, b, sizeof(a)) != 0 || memcmp(ma, mb, sizeof(ma)) != 0) {
        fprintf(stderr, "clips: two renders of one seed differ\n");
        return 1;
    }
    clip_render(src, 42, 3, 3, 3, b, mb);
    if (memcmp(a + 3 * CLIP_CHANNELS * CLIP_PIXELS, b, 3 * CLIP_CHANNELS * CLIP_PIXELS *
               sizeof(float)) != 0 || memcmp(ma + 3 * CLIP_PIXELS, mb, 3 * CLIP_PIXELS) != 0) {
        fprintf(stderr, "clips: frames 3..5 differ from a render from frame 0\n");
        return 1;
    }
    clip_render(src, 43, 3, 0, T, b, mb);
    if (memcmp(a, b, sizeof(a)) == 0) {
        fprintf(stderr, "clips: two seeds give the same clip\n");
        return 1;
    }
    for (s = 1; s <= 5; s++) {
        int k, seen[CLIP_MAX_ITEMS + 1] = {0};
        int64_t i;
        clip_render(src, s, 2, 0, 1, a, ma);
        for (i = 0; i < CLIP_PIXELS; i++)
            seen[ma[i]] = 1;
        for (k = 1; k <= 2; k++)
            if (!seen[k]) {
                fprintf(stderr, "clips: item %d invisible in clip %llu\n", k,
                        (unsigned long long)s);
                return 1;
            }
    }
    return 0;
}
