/*
 * check_vivi.c - the VIVI example's two-level loss (examples/vivi/
 * vivi_loss.c, composed from ctr_objective_ntxent with groups and a mean
 * pooling step): the loss, its two parts and dL/dF against a float64
 * reference written directly from the definition (SupCon's L_out over all
 * frames grouped by shot, and over mean-pooled shots grouped by video),
 * differentiated by central finite differences; shots of unequal length,
 * videos of unequal shot counts, frames in any order; the reduction to
 * SimCLR's NT-Xent; PyTorch goldens in the SupContrast reference form
 * (tests/gen_vivi.py); bad inputs with nothing written. And the example's
 * synthetic videos (examples/vivi/video.c): a pure function of seed and
 * index.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "golden_util.h"
#include "test_util.h"

#include "../examples/vivi/video.c"
#include "../examples/vivi/vivi_loss.c"

/* ---- float64 reference ------------------------------------------------------- */

typedef struct ref_case {
    int64_t n, d, n_shots, n_videos;
    const int64_t *frame_shot, *shot_video;
    double tau_frame, tau_shot, lambda;
} ref_case;

/* SupCon L_out over the m rows of x (d columns, normalised here): mean over
 * rows r of logsumexp_{c != r} S_rc - mean_{c != r, same label} S_rc. */
static double ref_supcon(const double *x, int64_t m, int64_t d, const int64_t *label, double tau)
{
    double *z = malloc((size_t)(m * d) * sizeof(double)), total = 0.0;
    int64_t r, c, j;
    for (r = 0; r < m; r++) {
        double nrm = 0.0;
        for (j = 0; j < d; j++)
            nrm += x[r * d + j] * x[r * d + j];
        nrm = fmax(sqrt(nrm), 1e-12);
        for (j = 0; j < d; j++)
            z[r * d + j] = x[r * d + j] / nrm;
    }
    for (r = 0; r < m; r++) {
        double mx = -INFINITY, sum = 0.0, pos = 0.0, np = 0.0, s;
        for (c = 0; c < m; c++) {
            if (c == r)
                continue;
            for (j = 0, s = 0.0; j < d; j++)
                s += z[r * d + j] * z[c * d + j];
            mx = fmax(mx, s / tau);
        }
        for (c = 0; c < m; c++) {
            if (c == r)
                continue;
            for (j = 0, s = 0.0; j < d; j++)
                s += z[r * d + j] * z[c * d + j];
            sum += exp(s / tau - mx);
            if (label[c] == label[r])
                pos += s / tau, np += 1.0;
        }
        total += mx + log(sum) - pos / np;
    }
    free(z);
    return total / (double)m;
}

/* L = L_frame + lambda L_shot in double; the parts to *lf, *ls. */
static double ref_loss(const ref_case *p, const double *f, double *lf, double *ls)
{
    const int64_t n = p->n, d = p->d, k = p->n_shots;
    double *pool = calloc((size_t)(k * d), sizeof(double));
    double *cnt = calloc((size_t)k, sizeof(double));
    int64_t i, j;
    for (i = 0; i < n; i++) {
        for (j = 0; j < d; j++)
            pool[p->frame_shot[i] * d + j] += f[i * d + j];
        cnt[p->frame_shot[i]] += 1.0;
    }
    for (i = 0; i < k; i++)
        for (j = 0; j < d; j++)
            pool[i * d + j] /= cnt[i];
    *lf = ref_supcon(f, n, d, p->frame_shot, p->tau_frame);
    *ls = ref_supcon(pool, k, d, p->shot_video, p->tau_shot);
    free(pool), free(cnt);
    return *lf + p->lambda * *ls;
}

static void check_case(const ref_case *p, unsigned seed)
{
    const int64_t n = p->n, d = p->d;
    float *f = malloc((size_t)(n * d) * sizeof(float));
    float *g = malloc((size_t)(n * d) * sizeof(float));
    double *x = malloc((size_t)(n * d) * sizeof(double));
    double loss, want, lf, ls, err = 0.0, scale = 0.0;
    int64_t i;
    vivi_loss v;
    ctr_rng *rng = NULL;
    ck_assert_int_eq(ctr_rng_create(&rng, seed, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(rng, f, n * d, 0.0f, 1.0f), CTR_OK);
    ck_assert_int_eq(vivi_loss_init(&v, p->tau_frame, p->tau_shot, p->lambda), CTR_OK);
    ck_assert_int_eq(vivi_loss_compute(&v, &loss, f, n, d, p->frame_shot, p->n_shots,
                                       p->shot_video, p->n_videos, g), CTR_OK);
    for (i = 0; i < n * d; i++)
        x[i] = f[i];
    want = ref_loss(p, x, &lf, &ls);
    ck_assert_close(loss, want, 1e-5, 0.0);
    ck_assert_close(v.frame_loss, lf, 1e-5, 0.0);
    ck_assert_close(v.shot_loss, ls, 1e-5, 0.0);
    for (i = 0; i < n * d; i++) {
        const double h = 1e-6, saved = x[i];
        double up, down, fd, a, b;
        x[i] = saved + h;
        up = ref_loss(p, x, &a, &b);
        x[i] = saved - h;
        down = ref_loss(p, x, &a, &b);
        x[i] = saved;
        fd = (up - down) / (2.0 * h);
        err = fmax(err, fabs(g[i] - fd));
        scale = fmax(scale, fabs(fd));
    }
    ck_assert_double_gt(scale, 0.0);
    ck_assert_double_le(err / scale, 1e-5);
    vivi_loss_free(&v);
    ctr_rng_destroy(rng);
    free(f), free(g), free(x);
}

START_TEST(test_equal_shots)
{
    /* 3 videos x 2 shots x 4 frames, frames in video/shot order */
    int64_t fs[24], sv[6], i;
    ref_case p = {24, 7, 6, 3, fs, sv, 0.2, 0.5, 0.7};
    for (i = 0; i < 24; i++)
        fs[i] = i / 4;
    for (i = 0; i < 6; i++)
        sv[i] = i / 2;
    check_case(&p, 11);
}
END_TEST

START_TEST(test_unequal_shots_any_order)
{
    /* shots of 2, 4, 6, 2, 2, 4 frames; videos of 2 and 4 shots; the
     * frames' order shuffled (labels need not be sorted) */
    static const int64_t len[6] = {2, 4, 6, 2, 2, 4};
    static const int64_t sv[6] = {1, 0, 1, 1, 0, 1};
    int64_t fs[20], i, k, t, n = 0;
    ref_case p = {20, 5, 6, 2, fs, sv, 0.1, 0.3, 2.0};
    for (k = 0; k < 6; k++)
        for (t = 0; t < len[k]; t++)
            fs[n++] = k;
    for (i = n - 1; i > 0; i--) { /* a fixed shuffle */
        const int64_t j = (i * 7 + 3) % (i + 1), tmp = fs[i];
        fs[i] = fs[j], fs[j] = tmp;
    }
    check_case(&p, 12);
    p.lambda = 0.0; /* frame level only */
    check_case(&p, 13);
}
END_TEST

START_TEST(test_smallest_case)
{
    /* one video of two shots of two frames, d = 2 */
    static const int64_t fs[4] = {0, 1, 1, 0}, sv[2] = {0, 0};
    ref_case p = {4, 2, 2, 1, fs, sv, 1.0, 1.0, 1.0};
    check_case(&p, 14);
}
END_TEST

/* Shots of two frames, lambda 0: the frame level is SimCLR's NT-Xent on
 * the pairs (the two frames of a shot as its two views). */
START_TEST(test_reduces_to_ntxent)
{
    enum { B = 6, D = 4 };
    float f[2 * B * D], g[2 * B * D], z1[B * D], z2[B * D], g1[B * D], g2[B * D];
    int64_t fs[2 * B], sv[B], i;
    double loss, want;
    vivi_loss v;
    ctr_objective *obj = NULL;
    ctr_rng *rng = NULL;
    ck_assert_int_eq(ctr_rng_create(&rng, 15, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_normal(rng, f, 2 * B * D, 0.0f, 1.0f), CTR_OK);
    for (i = 0; i < 2 * B; i++)
        fs[i] = i / 2;
    for (i = 0; i < B; i++) {
        sv[i] = i / 2;
        memcpy(z1 + i * D, f + 2 * i * D, D * sizeof(float));
        memcpy(z2 + i * D, f + (2 * i + 1) * D, D * sizeof(float));
    }
    ck_assert_int_eq(vivi_loss_init(&v, 0.5, 0.5, 0.0), CTR_OK);
    ck_assert_int_eq(vivi_loss_compute(&v, &loss, f, 2 * B, D, fs, B, sv, B / 2, g), CTR_OK);
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_NTXENT, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, 0.5), CTR_OK);
    ck_assert_int_eq(ctr_objective_ntxent(obj, &want, z1, D, z2, D, B, D, NULL, g1, g2), CTR_OK);
    ck_assert_close(loss, want, 1e-6, 0.0);
    for (i = 0; i < B * D; i++) {
        ck_assert_close(g[(i / D) * 2 * D + i % D], g1[i], 1e-5, 1e-7);
        ck_assert_close(g[(i / D) * 2 * D + D + i % D], g2[i], 1e-5, 1e-7);
    }
    ctr_objective_destroy(obj);
    vivi_loss_free(&v);
    ctr_rng_destroy(rng);
}
END_TEST

/* ---- PyTorch goldens ------------------------------------------------------------ */

static int64_t *to_labels(const float *x, long n)
{
    int64_t *out = malloc((size_t)n * sizeof(int64_t));
    long i;
    for (i = 0; i < n; i++)
        out[i] = (int64_t)lroundf(x[i]);
    return out;
}

static int64_t count_labels(const int64_t *x, long n)
{
    int64_t m = 0;
    long i;
    for (i = 0; i < n; i++)
        m = x[i] + 1 > m ? x[i] + 1 : m;
    return m;
}

static void golden_case(const char *c)
{
    long nf, nfs, nsv, n1;
    float *f, *fs_f, *sv_f, *par, *want_loss, *want_lf, *want_ls, *want_g, *g;
    int64_t *fs, *sv, d, i;
    double loss;
    vivi_loss v;
#define READ(var, field, cnt) \
    (var = golden_read_field("vivi_golden.txt", c, field, cnt))
    READ(f, "f", &nf);
    READ(fs_f, "frame_shot", &nfs);
    READ(sv_f, "shot_video", &nsv);
    READ(par, "params", &n1);
    READ(want_loss, "loss", &n1);
    READ(want_lf, "frame_loss", &n1);
    READ(want_ls, "shot_loss", &n1);
    READ(want_g, "grad", &n1);
#undef READ
    fs = to_labels(fs_f, nfs), sv = to_labels(sv_f, nsv);
    d = nf / nfs;
    g = calloc((size_t)nf, sizeof(float));
    ck_assert_int_eq(vivi_loss_init(&v, par[0], par[1], par[2]), CTR_OK);
    ck_assert_int_eq(vivi_loss_compute(&v, &loss, f, nfs, d, fs, nsv, sv, count_labels(sv, nsv),
                                       g), CTR_OK);
    ck_assert_close(loss, want_loss[0], 1e-5, 1e-7);
    ck_assert_close(v.frame_loss, want_lf[0], 1e-5, 1e-7);
    ck_assert_close(v.shot_loss, want_ls[0], 1e-5, 1e-7);
    for (i = 0; i < nf; i++)
        ck_assert_close(g[i], want_g[i], 1e-5, 1e-6);
    vivi_loss_free(&v);
    free(f), free(fs_f), free(sv_f), free(par), free(want_loss), free(want_lf), free(want_ls);
    free(want_g), free(g), free(fs), free(sv);
}

START_TEST(test_pytorch_golden)
{
    golden_case("even");
    golden_case("uneven");
}
END_TEST

/* ---- bad inputs ---------------------------------------------------------------- */

enum { N = 8, DIM = 3 };

static int call(vivi_loss *v, const float *f, int64_t n, const int64_t *fs, int64_t ns,
                const int64_t *sv, int64_t nv, double *loss, float *g)
{
    return vivi_loss_compute(v, loss, f, n, DIM, fs, ns, sv, nv, g);
}

static void assert_untouched(double loss, const float *g)
{
    int i;
    ck_assert(loss == -7.0);
    for (i = 0; i < N * DIM; i++)
        ck_assert(g[i] == -7.0f);
}

START_TEST(test_bad_inputs)
{
    float f[N * DIM], g[N * DIM];
    const int64_t fs[N] = {0, 0, 1, 1, 2, 2, 3, 3}, sv[4] = {0, 0, 1, 1};
    const int64_t odd_shot[N] = {0, 0, 0, 1, 2, 2, 3, 3}, bad_label[N] = {0, 0, 1, 1, 2, 2, 3, 4};
    const int64_t odd_video[4] = {0, 0, 0, 1}, neg[N] = {0, 0, 1, 1, 2, 2, 3, -1};
    double loss = -7.0;
    vivi_loss v;
    int i;
    for (i = 0; i < N * DIM; i++)
        f[i] = (float)(i % 5) - 2.0f, g[i] = -7.0f;
    ck_assert_int_eq(vivi_loss_init(&v, 0.2, 0.2, 1.0), CTR_OK);
    ck_assert_int_eq(call(&v, NULL, N, fs, 4, sv, 2, &loss, g), CTR_E_INVALID_ARG);
    ck_assert_int_eq(call(&v, f, N, NULL, 4, sv, 2, &loss, g), CTR_E_INVALID_ARG);
    ck_assert_int_eq(call(&v, f, N, fs, 4, NULL, 2, &loss, g), CTR_E_INVALID_ARG);
    ck_assert_int_eq(call(&v, f, N, fs, 4, sv, 2, NULL, g), CTR_E_INVALID_ARG);
    ck_assert_int_eq(call(&v, f, 1, fs, 4, sv, 2, &loss, g), CTR_E_INVALID_ARG);
    ck_assert_int_eq(call(&v, f, N, odd_shot, 4, sv, 2, &loss, g), CTR_E_INVALID_ARG);
    ck_assert_int_eq(call(&v, f, N, bad_label, 4, sv, 2, &loss, g), CTR_E_INVALID_ARG);
    ck_assert_int_eq(call(&v, f, N, neg, 4, sv, 2, &loss, g), CTR_E_INVALID_ARG);
    ck_assert_int_eq(call(&v, f, N, fs, 4, odd_video, 2, &loss, g), CTR_E_INVALID_ARG);
    ck_assert_int_eq(call(&v, f, N, fs, 5, sv, 2, &loss, g), CTR_E_INVALID_ARG); /* empty shot */
    ck_assert_int_eq(call(&v, f, N, fs, 4, sv, 3, &loss, g), CTR_E_INVALID_ARG); /* empty video */
    ck_assert_int_eq(vivi_loss_compute(&v, &loss, f, N, 0, fs, 4, sv, 2, g), CTR_E_INVALID_ARG);
    assert_untouched(loss, g);
    f[5] = NAN;
    ck_assert_int_eq(call(&v, f, N, fs, 4, sv, 2, &loss, g), CTR_E_NUMERIC);
    f[5] = INFINITY;
    ck_assert_int_eq(call(&v, f, N, fs, 4, sv, 2, &loss, g), CTR_E_NUMERIC);
    assert_untouched(loss, g);
    f[5] = 1.0f;
    ck_assert_int_eq(call(&v, f, N, fs, 4, sv, 2, &loss, g), CTR_OK);
    ck_assert(isfinite(loss));
    ck_assert(vivi_loss_compute(&v, &loss, f, N, DIM, fs, 4, sv, 2, NULL) == CTR_OK);
    vivi_loss_free(&v);
    ck_assert_int_eq(vivi_loss_init(&v, 0.2, 0.2, -1.0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(vivi_loss_init(&v, -0.2, 0.2, 1.0), CTR_E_INVALID_ARG);
    vivi_loss_free(&v);
}
END_TEST

/* ---- the synthetic videos --------------------------------------------------------- */

START_TEST(test_videos_deterministic)
{
    enum { ITEMS = 20 };
    const video_config cfg = {2, 4, 1.0};
    const int64_t n = cfg.shots * cfg.frames * VIDEO_PIXELS;
    float *images = malloc(ITEMS * VIDEO_PIXELS * sizeof(float));
    float *a = malloc((size_t)n * sizeof(float)), *b = malloc((size_t)n * sizeof(float));
    int64_t labels[ITEMS], item_a[2], item_b[2], cls[2], i;
    item_pool p;
    ck_assert_int_eq(video_self_test(), 0);
    for (i = 0; i < ITEMS * VIDEO_PIXELS; i++)
        images[i] = (float)(i % 97) / 96.0f;
    for (i = 0; i < ITEMS; i++)
        labels[i] = i % VIDEO_CLASSES;
    ck_assert_int_eq(item_pool_init(&p, images, labels, ITEMS), 0);
    video_render(&p, &cfg, 9, 2, a, item_a, cls);
    video_render(&p, &cfg, 9, 2, b, item_b, NULL);
    ck_assert(memcmp(a, b, (size_t)n * sizeof(float)) == 0);
    /* topic probability 1: both shots of the video's class, different items */
    ck_assert_int_eq(cls[0], cls[1]);
    ck_assert_int_ne(item_a[0], item_a[1]);
    ck_assert_int_eq(item_a[0], item_b[0]);
    item_pool_free(&p);
    labels[3] = VIDEO_CLASSES; /* a label out of range, then a missing class */
    ck_assert_int_eq(item_pool_init(&p, images, labels, ITEMS), -1);
    ck_assert_int_eq(item_pool_init(&p, images, labels, 3), -1);
    free(images), free(a), free(b);
}
END_TEST

Suite *ctr_test_vivi_suite(void);

Suite *ctr_test_vivi_suite(void)
{
    Suite *s = suite_create("vivi");
    TCase *num = tcase_create("numerics");
    TCase *args = tcase_create("arguments");
    tcase_add_test(num, test_equal_shots);
    tcase_add_test(num, test_unequal_shots_any_order);
    tcase_add_test(num, test_smallest_case);
    tcase_add_test(num, test_reduces_to_ntxent);
    tcase_add_test(num, test_pytorch_golden);
    tcase_add_test(args, test_bad_inputs);
    tcase_add_test(num, test_videos_deterministic);
    suite_add_tcase(s, num);
    suite_add_tcase(s, args);
    return s;
}
