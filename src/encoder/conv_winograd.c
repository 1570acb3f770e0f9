/*
 * conv_winograd.c - Winograd F(2x2, 3x3) for the no-grad forward's 3x3,
 * stride-1 convolutions (Lavin & Gray, "Fast Algorithms for Convolutional
 * Neural Networks", 2016).
 *
 * Each 2x2 block of an output plane is Y = A^T [sum_c (G g G^T) .* (B^T d
 * B)] A, d the 4x4 input tile that covers it (tiles 2 apart, zero padding
 * as the layer's, the last row and column of tiles cut when the output's
 * size is odd) and g the 3x3 filter; the 16 elementwise products summed
 * over channels are 16 GEMMs M_e (O x T) = U_e (O x C) . V_e (C x T) over
 * the T tiles of a chunk of images: 4 multiply-adds per output and input
 * channel instead of im2col's 9. The steps:
 *   U = G g G^T      per call (the weights change between calls): 16 x O x C
 *   V = B^T d B      per chunk: 16 x C x T
 *   M_e = U_e V_e    16 cblas_sgemm
 *   Y = A^T m A + b  scattered to the chunk's output planes
 * The chunk of images keeps V and M near WINO_CHUNK_FLOATS (but at least
 * WINO_MIN_COLUMNS tiles wide). The transforms run in blocks of TB tiles
 * of one channel, split over threads with CTR__PARALLEL_FOR, each block's
 * arithmetic in a fixed order; the OpenMP build also shares the 16 GEMMs
 * among its threads, one GEMM per thread at a time, so that its results
 * do not depend on the thread count (the default build's GEMMs run on
 * BLAS's threads).
 *
 * The sums come in another order than im2col's, so the outputs differ
 * from the training forward's at float rounding level (docs/encoder.md).
 */
#include <string.h>

#include "common/blas.h"
#include "common/core.h"
#include "common/parallel.h"
#include "encoder/conv_winograd.h"

#define WINO_CHUNK_FLOATS ((int64_t)1 << 19)
#define WINO_MIN_COLUMNS 256
#define TB 32 /* tiles (columns of V, M) transformed together: fixed, the loops vectorise */
#define WINO_MIN_CHANNELS 16
#define WINO_MAX_CHANNELS ((int64_t)1 << 16)
#define WINO_MAX_TILES ((int64_t)1 << 24)

typedef struct wino_geom {
    int64_t c, h, w, o, p, oh, ow, th, tw, tiles;
} wino_geom;

static wino_geom geom_of(const ctr__wino_shape *s)
{
    wino_geom g;
    g.c = s->c;
    g.h = s->h;
    g.w = s->w;
    g.o = s->o;
    g.p = s->p;
    g.oh = s->h + 2 * s->p - 2;
    g.ow = s->w + 2 * s->p - 2;
    g.th = (g.oh + 1) / 2;
    g.tw = (g.ow + 1) / 2;
    g.tiles = g.th * g.tw;
    return g;
}

/* Shapes where Winograd is not faster keep im2col: fewer than 16 input
 * or output channels (an RGB or grey stem, a narrow layer: the transforms
 * cost about as much per input and output channel as the products save;
 * measured break-even near 12 to 16 channels, docs/performance.md). */
int ctr__wino_applies(const ctr__wino_shape *s, int64_t k, int64_t stride)
{
    wino_geom g;
    if (k != 3 || stride != 1 || s->c < WINO_MIN_CHANNELS || s->o < WINO_MIN_CHANNELS ||
        s->c > WINO_MAX_CHANNELS || s->o > WINO_MAX_CHANNELS || s->p > WINO_MAX_CHANNELS)
        return 0;
    g = geom_of(s);
    return g.oh >= 1 && g.ow >= 1 && g.tiles <= WINO_MAX_TILES;
}

/* Images per chunk of a batch of n: V and M within WINO_CHUNK_FLOATS (2
 * MiB, about a core's L2 cache), but at least WINO_MIN_COLUMNS tiles, so
 * that the GEMMs of small images stay wide (measured: the 64-channel
 * 32 x 32 layers of ResNet-18 like one image per chunk, the 512-channel 4
 * x 4 ones 64; docs/performance.md). */
static int64_t chunk_images(const wino_geom *g, int64_t n)
{
    int64_t chunk = WINO_CHUNK_FLOATS / (16 * (g->c + g->o) * g->tiles);
    int64_t wide = (WINO_MIN_COLUMNS + g->tiles - 1) / g->tiles;
    if (chunk < wide)
        chunk = wide;
    return chunk < n ? chunk : n;
}

int ctr__wino_floats(const ctr__wino_shape *s, int64_t n, size_t *out)
{
    wino_geom g = geom_of(s);
    size_t u, vm;
    if (ctr__matrix_bytes(&u, 16 * g.o, g.c, 1) != CTR_OK ||
        ctr__matrix_bytes(&vm, 16 * (g.c + g.o), chunk_images(&g, n) * g.tiles, 1) != CTR_OK)
        return CTR_E_OVERFLOW;
    return ctr__add_size(out, u, vm);
}

/* ---- filter: U = G g G^T ----------------------------------------------- */

/* G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1] applied to a 3-vector. */
static void g_times(float out[4], float a, float b, float c)
{
    out[0] = a;
    out[1] = 0.5f * (a + b + c);
    out[2] = 0.5f * (a - b + c);
    out[3] = c;
}

/* U[e][oc][c] for every input channel c of output channel oc. */
static void filter_row(float *u, const float *w, int64_t oc, const wino_geom *g)
{
    int64_t c, i, j, plane = g->o * g->c;
    for (c = 0; c < g->c; c++) {
        const float *k = w + (oc * g->c + c) * 9;
        float gg[3][4], col[4];
        for (j = 0; j < 3; j++) /* G g, column by column: gg[j] = G g[:, j] */
            g_times(gg[j], k[j], k[3 + j], k[6 + j]);
        for (i = 0; i < 4; i++) { /* row i of (G g) G^T */
            g_times(col, gg[0][i], gg[1][i], gg[2][i]);
            for (j = 0; j < 4; j++)
                u[(i * 4 + j) * plane + oc * g->c + c] = col[j];
        }
    }
}

static void transform_filter(float *u, const float *w, const wino_geom *g)
{
    int64_t oc;
    CTR__PARALLEL_FOR(16 * g->o * g->c)
    for (oc = 0; oc < g->o; oc++)
        filter_row(u, w, oc, g);
}

/* ---- tiles: column j of a chunk's V and M ------------------------------ */

/* Column j's tile: image i of the chunk, tile row ty, tile column tx. */
typedef struct tile_pos {
    int64_t i, ty, tx;
} tile_pos;

static tile_pos pos_of(int64_t j, const wino_geom *g)
{
    tile_pos q;
    q.i = j / g->tiles;
    q.ty = j % g->tiles / g->tw;
    q.tx = j % g->tw;
    return q;
}

static void next_pos(tile_pos *q, const wino_geom *g)
{
    if (++q->tx < g->tw)
        return;
    q->tx = 0;
    if (++q->ty < g->th)
        return;
    q->ty = 0;
    q->i++;
}

/* Blocks of TB columns in a chunk of ld columns. */
static int64_t blocks_of(int64_t ld)
{
    return (ld + TB - 1) / TB;
}

/* ---- input: V = B^T d B ------------------------------------------------ */

/* The 4x4 input tile of q in plane c (rows 2ty - p.., columns 2tx - p..,
 * 0 outside the image) to d[4k + j][t]. */
static void gather_tile(float d[16][TB], int64_t t, const float *x, int64_t c, tile_pos q,
                        const wino_geom *g)
{
    const float *plane = x + (q.i * g->c + c) * g->h * g->w;
    int64_t r0 = 2 * q.ty - g->p, c0 = 2 * q.tx - g->p, k, j;
    if (r0 >= 0 && c0 >= 0 && r0 + 4 <= g->h && c0 + 4 <= g->w) {
        for (k = 0; k < 4; k++)
            for (j = 0; j < 4; j++)
                d[4 * k + j][t] = plane[(r0 + k) * g->w + c0 + j];
        return;
    }
    for (k = 0; k < 4; k++)
        for (j = 0; j < 4; j++) {
            int64_t r = r0 + k, col = c0 + j;
            d[4 * k + j][t] =
                r >= 0 && r < g->h && col >= 0 && col < g->w ? plane[r * g->w + col] : 0.0f;
        }
}

/* v = B^T d B for TB tiles, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
static void input_transform(float v[16][TB], float d[16][TB])
{
    float h[16][TB]; /* d B, row by row */
    int64_t k, q, t;
    for (k = 0; k < 4; k++)
        for (t = 0; t < TB; t++) {
            h[4 * k][t] = d[4 * k][t] - d[4 * k + 2][t];
            h[4 * k + 1][t] = d[4 * k + 1][t] + d[4 * k + 2][t];
            h[4 * k + 2][t] = d[4 * k + 2][t] - d[4 * k + 1][t];
            h[4 * k + 3][t] = d[4 * k + 1][t] - d[4 * k + 3][t];
        }
    for (q = 0; q < 4; q++) /* B^T (d B) */
        for (t = 0; t < TB; t++) {
            v[q][t] = h[q][t] - h[8 + q][t];
            v[4 + q][t] = h[4 + q][t] + h[8 + q][t];
            v[8 + q][t] = h[8 + q][t] - h[4 + q][t];
            v[12 + q][t] = h[4 + q][t] - h[12 + q][t];
        }
}

/* Columns [j0, j0 + TB) of row c of V (16 x C x ld) from x, the chunk's
 * images. */
static void input_block(float *v, int64_t ld, const float *x, int64_t c, int64_t j0,
                        const wino_geom *g)
{
    float d[16][TB], out[16][TB];
    int64_t t, e, nt = ld - j0 < TB ? ld - j0 : TB;
    tile_pos q = pos_of(j0, g);
    if (nt < TB)
        memset(d, 0, sizeof(d));
    for (t = 0; t < nt; t++, next_pos(&q, g))
        gather_tile(d, t, x, c, q, g);
    input_transform(out, d);
    for (e = 0; e < 16; e++)
        memcpy(v + (e * g->c + c) * ld + j0, out[e], (size_t)nt * sizeof(float));
}

/* V (16 x C x nb tiles) of images [0, nb) of x. */
static void transform_input(float *v, const float *x, int64_t nb, const wino_geom *g)
{
    int64_t u, ld = nb * g->tiles, blocks = blocks_of(ld);
    CTR__PARALLEL_FOR(16 * g->c * ld)
    for (u = 0; u < g->c * blocks; u++)
        input_block(v, ld, x, u / blocks, u % blocks * TB, g);
}

/* ---- output: Y = A^T m A + b ------------------------------------------- */

/* The 2x2 outputs y[2r + s][t] of TB tiles from their 16 products m[e][t],
 * A^T = [1 1 1 0; 0 1 -1 -1]. */
static void output_transform(float y[4][TB], float m[16][TB], float bias)
{
    float z[8][TB]; /* m A, row by row */
    int64_t i, t;
    for (i = 0; i < 4; i++)
        for (t = 0; t < TB; t++) {
            z[2 * i][t] = m[4 * i][t] + m[4 * i + 1][t] + m[4 * i + 2][t];
            z[2 * i + 1][t] = m[4 * i + 1][t] - m[4 * i + 2][t] - m[4 * i + 3][t];
        }
    for (t = 0; t < TB; t++) { /* A^T (m A) */
        y[0][t] = z[0][t] + z[2][t] + z[4][t] + bias;
        y[1][t] = z[1][t] + z[3][t] + z[5][t] + bias;
        y[2][t] = z[2][t] - z[4][t] - z[6][t] + bias;
        y[3][t] = z[3][t] - z[5][t] - z[7][t] + bias;
    }
}

/* Tile q's 2x2 outputs y[.][t] into plane oc (those inside it). */
static void scatter_tile(float *out, float y[4][TB], int64_t t, int64_t oc, tile_pos q,
                         const wino_geom *g)
{
    float *plane = out + (q.i * g->o + oc) * g->oh * g->ow;
    int64_t r0 = 2 * q.ty, c0 = 2 * q.tx, r, s;
    for (r = 0; r < 2 && r0 + r < g->oh; r++)
        for (s = 0; s < 2 && c0 + s < g->ow; s++)
            plane[(r0 + r) * g->ow + c0 + s] = y[2 * r + s][t];
}

/* Output channel oc of columns [j0, j0 + TB) of M (16 x O x ld) into the
 * chunk's output planes. */
static void output_block(float *out, const float *m, int64_t ld, const float *bias, int64_t oc,
                         int64_t j0, const wino_geom *g)
{
    float prod[16][TB], y[4][TB];
    int64_t t, e, nt = ld - j0 < TB ? ld - j0 : TB;
    tile_pos q = pos_of(j0, g);
    if (nt < TB)
        memset(prod, 0, sizeof(prod));
    for (e = 0; e < 16; e++)
        memcpy(prod[e], m + (e * g->o + oc) * ld + j0, (size_t)nt * sizeof(float));
    output_transform(y, prod, bias != NULL ? bias[oc] : 0.0f);
    for (t = 0; t < nt; t++, next_pos(&q, g))
        scatter_tile(out, y, t, oc, q, g);
}

/* The output planes of images [0, nb) from M (16 x O x nb tiles). */
static void transform_output(float *y, const float *m, const float *bias, int64_t nb,
                             const wino_geom *g)
{
    int64_t u, ld = nb * g->tiles, blocks = blocks_of(ld);
    CTR__PARALLEL_FOR(16 * g->o * ld)
    for (u = 0; u < g->o * blocks; u++)
        output_block(y, m, ld, bias, u / blocks, u % blocks * TB, g);
}

/* ---- the convolution ---------------------------------------------------- */

/* M_e = U_e V_e for the 16 e. The OpenMP build shares the 16 GEMMs out
 * among its threads, each GEMM on one thread (BLAS called inside a
 * parallel region runs on its calling thread): one parallel region per
 * chunk rather than 16 small threaded GEMMs, whose barriers cost more than
 * they split on a busy machine (measured, docs/performance.md). The default
 * build runs them one after the other, each on BLAS's threads. */
static void products(float *m, const float *u, const float *v, int64_t ld, const wino_geom *g)
{
    int64_t e;
    CTR__PARALLEL_FOR(16 * g->o * ld)
    for (e = 0; e < 16; e++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g->o, (int)ld, (int)g->c,
                    1.0f, u + e * g->o * g->c, (int)g->c, v + e * g->c * ld, (int)ld, 0.0f,
                    m + e * g->o * ld, (int)ld);
}

void ctr__wino_forward(float *y, const float *x, const float *w, const float *bias, int64_t n,
                       const ctr__wino_shape *s, float *scratch)
{
    wino_geom g = geom_of(s);
    int64_t chunk = chunk_images(&g, n), s0;
    float *u = scratch, *v = u + 16 * g.o * g.c, *m = v + 16 * g.c * chunk * g.tiles;
    transform_filter(u, w, &g);
    for (s0 = 0; s0 < n; s0 += chunk) {
        int64_t nb = n - s0 < chunk ? n - s0 : chunk, ld = nb * g.tiles;
        transform_input(v, x + s0 * g.c * g.h * g.w, nb, &g);
        products(m, u, v, ld, &g);
        transform_output(y + s0 * g.o * g.oh * g.ow, m, bias, nb, &g);
    }
}
