/*
 * game.c - the "catch" game of game.h.
 */
#include "game.h"

#include <stdlib.h>
#include <string.h>

#define BALL 4
#define PADDLE_W 12
#define PADDLE_H 3
#define PADDLE_Y (GAME_SIZE - PADDLE_H - 1)

typedef struct game {
    uint64_t rng;
    int bx, by, vx, vy, px;
} game;

/* splitmix64 */
static uint64_t next(game *g)
{
    uint64_t z = (g->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* uniform in [0, n) */
static int below(game *g, int n)
{
    return (int)(next(g) % (uint64_t)n);
}

static void respawn(game *g)
{
    static const int vxs[4] = {-2, -1, 1, 2};
    g->bx = below(g, GAME_SIZE - BALL + 1);
    g->by = 0;
    g->vx = vxs[below(g, 4)];
    g->vy = 1 + below(g, 2);
}

static void advance(game *g)
{
    int target = g->bx + BALL / 2 - PADDLE_W / 2, move;
    if (g->bx + g->vx < 0 || g->bx + g->vx > GAME_SIZE - BALL)
        g->vx = -g->vx;
    g->bx += g->vx;
    g->by += g->vy;
    if (g->by + BALL > PADDLE_Y)
        respawn(g);
    /* the policy: towards the ball 3 times in 4, else a random move */
    if (below(g, 4) != 0)
        move = target > g->px ? 3 : target < g->px ? -3 : 0;
    else
        move = 3 * (below(g, 3) - 1);
    g->px += move;
    g->px = g->px < 0 ? 0 : g->px > GAME_SIZE - PADDLE_W ? GAME_SIZE - PADDLE_W : g->px;
}

static void draw(const game *g, uint8_t *f, float *state)
{
    int y, x;
    memset(f, 0, GAME_SIZE * GAME_SIZE);
    for (y = PADDLE_Y; y < PADDLE_Y + PADDLE_H; y++)
        for (x = g->px; x < g->px + PADDLE_W; x++)
            f[y * GAME_SIZE + x] = 180;
    for (y = g->by; y < g->by + BALL; y++)
        for (x = g->bx; x < g->bx + BALL; x++)
            f[y * GAME_SIZE + x] = 255;
    state[0] = (float)g->bx + 0.5f * BALL;
    state[1] = (float)g->by + 0.5f * BALL;
    state[2] = (float)g->px + 0.5f * PADDLE_W;
    state[3] = (float)g->vx;
    state[4] = (float)g->vy;
}

void game_episode(uint64_t seed, int64_t steps, uint8_t *frames, float *states)
{
    game g;
    int64_t t;
    memset(&g, 0, sizeof(g));
    g.rng = seed * 0x2545f4914f6cdd1dULL + 1;
    respawn(&g);
    g.by = below(&g, PADDLE_Y - BALL);
    g.px = below(&g, GAME_SIZE - PADDLE_W + 1);
    for (t = 0; t < steps; t++) {
        if (t > 0)
            advance(&g);
        draw(&g, frames + t * GAME_SIZE * GAME_SIZE, states + t * GAME_STATE);
    }
}

void game_stack(const uint8_t *frames, int64_t t, int64_t top, int64_t left,
                int64_t side, float *out)
{
    int64_t c, y, x;
    for (c = 0; c < 3; c++) {
        const uint8_t *f = frames + (t - 2 + c) * GAME_SIZE * GAME_SIZE;
        for (y = 0; y < side; y++)
            for (x = 0; x < side; x++)
                out[(c * side + y) * side + x] =
                    (float)f[(top + y) * GAME_SIZE + left + x] * (1.0f / 255.0f);
    }
}

int game_self_test(void)
{
    enum { T = 300 };
    static uint8_t a[T * GAME_SIZE * GAME_SIZE], b[T * GAME_SIZE * GAME_SIZE];
    static float sa[T * GAME_STATE], sb[T * GAME_STATE];
    game_episode(7, T, a, sa);
    game_episode(7, T, b, sb);
    if (memcmp(a, b, sizeof(a)) != 0 || memcmp(sa, sb, sizeof(sa)) != 0)
        return -1;
    game_episode(8, T, b, sb);
    return memcmp(a, b, sizeof(a)) != 0 ? 0 : -1;
}
