/*
 * check_cpc_api.c - the CPC critic's contract (contrastive/cpc.h) beyond
 * its numbers: the versioned argument struct (struct_size, defaults), bad
 * inputs (NULL, sizes, strides, steps >= t, policy,
 * indices, NaN/Inf, overflowing scores, wrong kind) with nothing written,
 * the workspace query and the no-allocation rule, every allocation
 * failing in turn, checkpoints of a CPC handle, and ctr_patch_grid.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpc_call.h"
#include "test_util.h"

enum { B = 3, T = 5, D = 4, DC = 3, K = 2, NN = 4 };

typedef struct io {
    float z[B * T * D], c[B * T * DC], w[K * D * DC], bias[K * D];
    float gz[B * T * D], gc[B * T * DC], gw[K * D * DC], gb[K * D];
    int64_t idx[K * B * T * NN];
    double acc[K];
} io;

static void io_init(io *x)
{
    int i;
    for (i = 0; i < B * T * D; i++)
        x->z[i] = (float)sin(0.7 * i + 0.2);
    for (i = 0; i < B * T * DC; i++)
        x->c[i] = (float)cos(1.3 * i);
    for (i = 0; i < K * D * DC; i++)
        x->w[i] = (float)sin(2.1 * i) * 0.5f;
    for (i = 0; i < K * D; i++)
        x->bias[i] = 0.1f * (float)i;
    for (i = 0; i < K * B * T * NN; i++)
        x->idx[i] = (i * 7 + 3) % (B * T);
    for (i = 0; i < B * T * D; i++)
        x->gz[i] = 42.0f;
    memset(x->gc, 0, sizeof(x->gc));
    memset(x->gw, 0, sizeof(x->gw));
    memset(x->gb, 0, sizeof(x->gb));
}

/* The full call on x with a policy; every output requested. */
static int call(ctr_objective *obj, io *x, int32_t pol, ctr_rng *rng,
                const int64_t *idx, double *loss)
{
    return cpc_call(obj, loss, x->z, T * D, D, x->c, T * DC, DC, B, T,
                             D, DC, x->w, x->bias, K, pol, NN, rng, idx, x->gz,
                             x->gc, x->gw, x->gb, x->acc);
}

static ctr_objective *make(void)
{
    ctr_objective *obj = NULL;
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_CPC, NULL), CTR_OK);
    return obj;
}

/* The call fails with `rc` and writes nothing. */
#define EXPECT_FAIL(rc, expr)                                                \
    do {                                                                     \
        io before_;                                                          \
        memcpy(&before_, &x, sizeof(x));                                     \
        ck_assert_int_eq((expr), (rc));                                      \
        ck_assert(memcmp(before_.gz, x.gz, sizeof(x.gz)) == 0);              \
        ck_assert(memcmp(before_.gw, x.gw, sizeof(x.gw)) == 0);              \
        ck_assert(memcmp(before_.acc, x.acc, sizeof(x.acc)) == 0);           \
    } while (0)

START_TEST(test_bad_arguments)
{
    static io x;
    ctr_objective *obj = make(), *other = NULL;
    double loss = 7.0;
    io_init(&x);
    ck_assert_int_eq(cpc_call(NULL, &loss, x.z, T * D, D, x.c, T * DC, DC, B, T, D,
                                       DC, x.w, NULL, K, CTR_CPC_NEG_BATCH, 0, NULL, NULL,
                                       NULL, NULL, NULL, NULL, NULL), CTR_E_INVALID_ARG);
#define CPC(z_, zs_, zt_, c_, b_, t_, d_, dc_, w_, bias_, k_, pol_, n_, rng_, idx_, gb_) \
    cpc_call(obj, &loss, z_, zs_, zt_, c_, (t_) * (dc_), dc_, b_, t_, d_, dc_, w_, \
                      bias_, k_, pol_, n_, rng_, idx_, x.gz, x.gc, x.gw, gb_, x.acc)
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(NULL, T * D, D, x.c, B, T, D, DC, x.w, NULL, K, CTR_CPC_NEG_BATCH, 0, NULL, NULL, NULL));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(x.z, T * D, D, NULL, B, T, D, DC, x.w, NULL, K, CTR_CPC_NEG_BATCH, 0, NULL, NULL, NULL));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(x.z, T * D, D, x.c, B, T, D, DC, NULL, NULL, K, CTR_CPC_NEG_BATCH, 0, NULL, NULL, NULL));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(x.z, T * D, D, x.c, 0, T, D, DC, x.w, NULL, K, CTR_CPC_NEG_BATCH, 0, NULL, NULL, NULL));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(x.z, T * D, D, x.c, -1, T, D, DC, x.w, NULL, K, CTR_CPC_NEG_BATCH, 0, NULL, NULL, NULL));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(x.z, T * D, D, x.c, B, 1, D, DC, x.w, NULL, 1, CTR_CPC_NEG_BATCH, 0, NULL, NULL, NULL));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(x.z, T * D, 0, x.c, B, T, 0, DC, x.w, NULL, K, CTR_CPC_NEG_BATCH, 0, NULL, NULL, NULL));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(x.z, T * D, D, x.c, B, T, D, DC, x.w, NULL, 0, CTR_CPC_NEG_BATCH, 0, NULL, NULL, NULL));
    /* steps >= t is rejected, never clipped */
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(x.z, T * D, D, x.c, B, T, D, DC, x.w, NULL, T, CTR_CPC_NEG_BATCH, 0, NULL, NULL, NULL));
    ck_assert_ptr_nonnull(strstr(ctr_objective_last_error(obj), "min(K, t - 1)"));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(x.z, T * D, D, x.c, B, T, D, DC, x.w, NULL, K, -1, 0, NULL, NULL, NULL));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(x.z, T * D, D, x.c, B, T, D, DC, x.w, NULL, K, 4, 0, NULL, NULL, NULL));
    /* strides shorter than a row (0 is the contiguous default) */
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(x.z, T * D, -D, x.c, B, T, D, DC, x.w, NULL, K, CTR_CPC_NEG_BATCH, 0, NULL, NULL, NULL));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(x.z, T * D, D - 1, x.c, B, T, D, DC, x.w, NULL, K, CTR_CPC_NEG_BATCH, 0, NULL, NULL, NULL));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(x.z, 1, D, x.c, B, T, D, DC, x.w, NULL, K, CTR_CPC_NEG_BATCH, 0, NULL, NULL, NULL));
    /* sampled: n_neg, generator or indices, index range */
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(x.z, T * D, D, x.c, B, T, D, DC, x.w, NULL, K, CTR_CPC_NEG_SAMPLED, 0, NULL, x.idx, NULL));
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(x.z, T * D, D, x.c, B, T, D, DC, x.w, NULL, K, CTR_CPC_NEG_SAMPLED, NN, NULL, NULL, NULL));
    x.idx[5] = B * T;
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(x.z, T * D, D, x.c, B, T, D, DC, x.w, NULL, K, CTR_CPC_NEG_SAMPLED, NN, NULL, x.idx, NULL));
    x.idx[5] = -1;
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(x.z, T * D, D, x.c, B, T, D, DC, x.w, NULL, K, CTR_CPC_NEG_SAMPLED, NN, NULL, x.idx, NULL));
    x.idx[5] = 0;
    /* grad_bias needs bias */
    EXPECT_FAIL(CTR_E_INVALID_ARG, CPC(x.z, T * D, D, x.c, B, T, D, DC, x.w, NULL, K, CTR_CPC_NEG_BATCH, 0, NULL, NULL, x.gb));
    /* overflowing sizes */
    EXPECT_FAIL(CTR_E_OVERFLOW, CPC(x.z, T * D, D, x.c, INT64_MAX / 2, T, D, DC, x.w, NULL, K, CTR_CPC_NEG_BATCH, 0, NULL, NULL, NULL));
    EXPECT_FAIL(CTR_E_OVERFLOW, CPC(x.z, INT64_MAX / 4, D, x.c, B, T, D, DC, x.w, NULL, K, CTR_CPC_NEG_BATCH, 0, NULL, NULL, NULL));
    EXPECT_FAIL(CTR_E_OVERFLOW, CPC(x.z, T * D, D, x.c, B, T, D, (int64_t)1 << 40, x.w, NULL, K, CTR_CPC_NEG_BATCH, 0, NULL, NULL, NULL));
#undef CPC
    ck_assert_double_eq(loss, 7.0); /* never written on failure */
    /* the wrong kind */
    ck_assert_int_eq(ctr_objective_create(&other, CTR_OBJECTIVE_INFONCE, NULL), CTR_OK);
    EXPECT_FAIL(CTR_E_INVALID_ARG, call(other, &x, CTR_CPC_NEG_BATCH, NULL, NULL, &loss));
    ck_assert_ptr_nonnull(strstr(ctr_objective_last_error(other), "CPC"));
    ctr_objective_destroy(other);
    /* and it still works */
    ck_assert_int_eq(call(obj, &x, CTR_CPC_NEG_BATCH, NULL, NULL, &loss), CTR_OK);
    ctr_objective_destroy(obj);
}
END_TEST

/* The versioned argument struct: struct_size 0, too small, between known
 * sizes, too large, args NULL give CTR_E_INVALID_ARG with nothing written
 * and a message; zero fields are the documented defaults. */
START_TEST(test_args_struct)
{
    static io x;
    static const uint32_t bad[] = {0, 4, (uint32_t)sizeof(ctr_cpc_args) - 8,
                                   (uint32_t)sizeof(ctr_cpc_args) - 1,
                                   (uint32_t)sizeof(ctr_cpc_args) + 8, UINT32_MAX};
    ctr_objective *obj = make();
    ctr_cpc_args a, z;
    double loss = 7.0, l_explicit, l_default;
    float gz2[B * T * D];
    size_t i;
    io_init(&x);
    ck_assert_int_eq(ctr_cpc_args_init(NULL), CTR_E_INVALID_ARG);
    ck_assert_uint_eq(ctr_cpc_args_struct_size(), sizeof(ctr_cpc_args));
    memset(&z, 0xab, sizeof(z));
    ck_assert_int_eq(ctr_cpc_args_init(&z), CTR_OK);
    ck_assert_uint_eq(z.struct_size, sizeof(ctr_cpc_args));
    ck_assert(z.negatives == 0 && z.z == NULL && z.z_seq_stride == 0 && z.step_acc == NULL);
    ctr_cpc_args_init(&a);
    a.z = x.z, a.c = x.c, a.w = x.w, a.b = B, a.t = T, a.d = D, a.dc = DC, a.steps = K;
    a.grad_z = x.gz, a.grad_w = x.gw, a.step_acc = x.acc;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        a.struct_size = bad[i];
        EXPECT_FAIL(CTR_E_INVALID_ARG, ctr_objective_cpc(obj, &a, &loss));
        ck_assert_ptr_nonnull(strstr(ctr_objective_last_error(obj), "struct_size"));
    }
    EXPECT_FAIL(CTR_E_INVALID_ARG, ctr_objective_cpc(obj, NULL, &loss));
    ck_assert_ptr_nonnull(strstr(ctr_objective_last_error(obj), "args"));
    ck_assert_int_eq(ctr_objective_cpc(NULL, &a, &loss), CTR_E_INVALID_ARG);
    ck_assert_double_eq(loss, 7.0);
    /* zero strides and policy 0: the contiguous layout and BATCH */
    a.struct_size = (uint32_t)sizeof(ctr_cpc_args);
    ck_assert_int_eq(ctr_objective_cpc(obj, &a, &l_default), CTR_OK);
    ck_assert_str_eq(ctr_objective_last_error(obj), "");
    memcpy(gz2, x.gz, sizeof(gz2));
    a.z_seq_stride = T * D, a.z_time_stride = D, a.c_seq_stride = T * DC;
    a.c_time_stride = DC, a.negatives = CTR_CPC_NEG_BATCH;
    ck_assert_int_eq(ctr_objective_cpc(obj, &a, &l_explicit), CTR_OK);
    ck_assert(memcmp(&l_default, &l_explicit, sizeof(double)) == 0);
    ck_assert(memcmp(gz2, x.gz, sizeof(gz2)) == 0);
    ctr_objective_destroy(obj);
}
END_TEST

START_TEST(test_non_finite_inputs)
{
    static io x;
    float *fields[4];
    int32_t pols[3] = {CTR_CPC_NEG_BATCH, CTR_CPC_NEG_SAMPLED, CTR_CPC_NEG_ALL};
    ctr_objective *obj = make();
    double loss = 0, calls;
    int f, p, v;
    io_init(&x);
    fields[0] = x.z, fields[1] = x.c, fields[2] = x.w, fields[3] = x.bias;
    for (f = 0; f < 4; f++)
        for (v = 0; v < 2; v++)
            for (p = 0; p < 3; p++) {
                float saved = fields[f][3];
                fields[f][3] = v ? INFINITY : NAN;
                EXPECT_FAIL(CTR_E_NUMERIC, call(obj, &x, pols[p], NULL, x.idx, &loss));
                fields[f][3] = saved;
            }
    /* finite inputs whose scores overflow float: CTR_E_NUMERIC, nothing
     * written, no statistics */
    for (f = 0; f < B * T * D; f++)
        x.z[f] *= 1e30f;
    for (f = 0; f < K * D * DC; f++)
        x.w[f] *= 1e10f;
    for (p = 0; p < 3; p++)
        EXPECT_FAIL(CTR_E_NUMERIC, call(obj, &x, pols[p], NULL, x.idx, &loss));
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_CALLS, &calls), CTR_OK);
    ck_assert_double_eq(calls, 0.0);
    ctr_objective_destroy(obj);
}
END_TEST

/* ---- memory ----------------------------------------------------------------- */

START_TEST(test_workspace_and_no_hot_allocation)
{
    static io x;
    int32_t pols[3] = {CTR_CPC_NEG_BATCH, CTR_CPC_NEG_SAMPLED, CTR_CPC_NEG_ALL};
    test_alloc_state st;
    ctr_allocator a;
    ctr_rng *rng = NULL;
    int p;
    io_init(&x);
    test_alloc_setup(&a, &st);
    ck_assert_int_eq(ctr_rng_create(&rng, 1, NULL), CTR_OK);
    for (p = 0; p < 3; p++) {
        ctr_objective *obj = NULL;
        size_t bytes = 0;
        int64_t before;
        double loss;
        ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_CPC, &a), CTR_OK);
        ck_assert_int_eq(ctr_objective_cpc_workspace_size(obj, &bytes, B, T, D, DC, K, pols[p],
                                                          NN), CTR_OK);
        before = st.live_bytes;
        ck_assert_int_eq(call(obj, &x, pols[p], rng, NULL, &loss), CTR_OK);
        /* the call took exactly the bytes the query gave */
        ck_assert_int_eq(st.live_bytes - before, (int64_t)bytes);
        before = st.calls;
        ck_assert_int_eq(call(obj, &x, pols[p], rng, NULL, &loss), CTR_OK);
        ck_assert_int_eq(cpc_call(obj, &loss, x.z, T * D, D, x.c, T * DC, DC, B - 1, T,
                                           D, DC, x.w, NULL, K - 1, pols[p], NN - 1, rng, NULL,
                                           x.gz, NULL, NULL, NULL, NULL), CTR_OK);
        ck_assert_int_eq(st.calls, before); /* smaller or equal shapes: no allocation */
        ctr_objective_destroy(obj);
    }
    ck_assert_int_eq(st.live_blocks, 0);
    ctr_rng_destroy(rng);
}
END_TEST

START_TEST(test_workspace_query)
{
    ctr_objective *obj = make(), *other = NULL;
    size_t small = 0, big = 0, generic = 0;
    ck_assert_int_eq(ctr_objective_cpc_workspace_size(obj, &small, 4, 16, 8, 8, 3,
                                                      CTR_CPC_NEG_BATCH, 0), CTR_OK);
    ck_assert_int_eq(ctr_objective_cpc_workspace_size(obj, &big, 4, 16, 8, 8, 3,
                                                      CTR_CPC_NEG_ALL, 0), CTR_OK);
    ck_assert_uint_gt(small, 0);
    ck_assert_uint_gt(big, small);
    /* the generic query: b sequences of k steps, d = dc, batch, t - 1 steps */
    ck_assert_int_eq(ctr_objective_workspace_size(obj, &generic, 4, 8, 16), CTR_OK);
    ck_assert_int_eq(ctr_objective_cpc_workspace_size(obj, &small, 4, 16, 8, 8, 15,
                                                      CTR_CPC_NEG_BATCH, 0), CTR_OK);
    ck_assert_uint_eq(generic, small);
    ck_assert_int_eq(ctr_objective_cpc_workspace_size(NULL, &small, 4, 16, 8, 8, 3, 1, 0),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_cpc_workspace_size(obj, NULL, 4, 16, 8, 8, 3, 1, 0),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_cpc_workspace_size(obj, &small, 4, 16, 8, 8, 16, 1, 0),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_cpc_workspace_size(obj, &small, 4, 16, 8, 8, 3,
                                                      CTR_CPC_NEG_SAMPLED, 0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_cpc_workspace_size(obj, &small, INT64_MAX / 8, 16, 8, 8,
                                                      3, 1, 0), CTR_E_OVERFLOW);
    ck_assert_int_eq(ctr_objective_create(&other, CTR_OBJECTIVE_NPAIR, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_cpc_workspace_size(other, &small, 4, 16, 8, 8, 3, 1, 0),
                     CTR_E_INVALID_ARG);
    ctr_objective_destroy(other);
    ctr_objective_destroy(obj);
}
END_TEST

typedef struct oom_ctx {
    io x;
    int32_t pol;
} oom_ctx;

static int oom_attempt(const ctr_allocator *a, void *p)
{
    oom_ctx *c = (oom_ctx *)p;
    ctr_objective *obj = NULL;
    double loss;
    int rc = ctr_objective_create(&obj, CTR_OBJECTIVE_CPC, a);
    if (rc == CTR_OK)
        rc = call(obj, &c->x, c->pol, NULL, c->x.idx, &loss);
    ctr_objective_destroy(obj);
    return rc;
}

START_TEST(test_out_of_memory)
{
    static oom_ctx c;
    int32_t pols[3] = {CTR_CPC_NEG_BATCH, CTR_CPC_NEG_SAMPLED, CTR_CPC_NEG_ALL};
    int p;
    io_init(&c.x);
    for (p = 0; p < 3; p++) {
        c.pol = pols[p];
        ck_assert_int_ge(test_every_alloc_failure(oom_attempt, &c), 2);
    }
}
END_TEST

/* ---- checkpoints -------------------------------------------------------------- */

START_TEST(test_checkpoint_round_trip)
{
    static io x;
    unsigned char buf[4096];
    size_t size = 0;
    ctr_objective *obj = make(), *back = NULL;
    double loss, v1, v2;
    io_init(&x);
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, 0.5), CTR_OK);
    ck_assert_int_eq(call(obj, &x, CTR_CPC_NEG_ALL, NULL, NULL, &loss), CTR_OK);
    ck_assert_int_eq(ctr_objective_save_buffer(obj, buf, sizeof(buf), &size), CTR_OK);
    ck_assert_int_eq(ctr_objective_load_buffer(&back, buf, size, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_kind(back), CTR_OBJECTIVE_CPC);
    ck_assert_int_eq(ctr_objective_get_f64(back, CTR_OBJECTIVE_P_TEMPERATURE, &v1), CTR_OK);
    ck_assert_double_eq(v1, 0.5);
    ck_assert_int_eq(ctr_objective_stat(back, CTR_OBJECTIVE_S_LOSS, &v2), CTR_OK);
    ck_assert_double_eq(v2, loss);
    ck_assert_int_eq(call(back, &x, CTR_CPC_NEG_ALL, NULL, NULL, &v1), CTR_OK);
    ck_assert(memcmp(&v1, &loss, sizeof(loss)) == 0);
    ctr_objective_destroy(obj);
    ctr_objective_destroy(back);
}
END_TEST

/* ---- patch grid --------------------------------------------------------------- */

START_TEST(test_patch_grid)
{
    enum { N = 2, C = 2, H = 7, W = 9, P = 3, S = 2 };
    static float img[N * C * H * W], rows[N * 12 * C * P * P], cols[N * 12 * C * P * P];
    int64_t gh = 0, gw = 0, i, ch, gy, gx, y, xx;
    for (i = 0; i < N * C * H * W; i++)
        img[i] = (float)i;
    ck_assert_int_eq(ctr_patch_grid(NULL, &gh, &gw, NULL, N, C, H, W, P, S, CTR_PATCH_ROWS),
                     CTR_OK);
    ck_assert_int_eq(gh, 3); /* (7 - 3) / 2 + 1 */
    ck_assert_int_eq(gw, 4); /* (9 - 3) / 2 + 1, the last column unused */
    ck_assert_int_eq(ctr_patch_grid(rows, NULL, NULL, img, N, C, H, W, P, S, CTR_PATCH_ROWS), CTR_OK);
    ck_assert_int_eq(ctr_patch_grid(cols, NULL, NULL, img, N, C, H, W, P, S, CTR_PATCH_COLUMNS), CTR_OK);
    for (i = 0; i < N; i++)
        for (gy = 0; gy < 3; gy++)
            for (gx = 0; gx < 4; gx++)
                for (ch = 0; ch < C; ch++)
                    for (y = 0; y < P; y++)
                        for (xx = 0; xx < P; xx++) {
                            const float want = img[((i * C + ch) * H + gy * S + y) * W + gx * S + xx];
                            const int64_t in = (ch * P + y) * P + xx;
                            ck_assert_float_eq(rows[((i * 12) + gy * 4 + gx) * C * P * P + in], want);
                            ck_assert_float_eq(cols[((i * 12) + gx * 3 + gy) * C * P * P + in], want);
                        }
    /* the 28 x 28, 8 / 4 grid of the docs */
    ck_assert_int_eq(ctr_patch_grid(NULL, &gh, &gw, NULL, 1, 1, 28, 28, 8, 4, CTR_PATCH_COLUMNS), CTR_OK);
    ck_assert(gh == 6 && gw == 6);
    ck_assert_int_eq(ctr_patch_grid(rows, NULL, NULL, NULL, N, C, H, W, P, S, CTR_PATCH_ROWS), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_patch_grid(NULL, &gh, &gw, NULL, 0, C, H, W, P, S, CTR_PATCH_ROWS), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_patch_grid(NULL, &gh, &gw, NULL, N, C, H, W, 8, S, CTR_PATCH_ROWS), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_patch_grid(NULL, &gh, &gw, NULL, N, C, H, W, P, 0, CTR_PATCH_ROWS), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_patch_grid(NULL, &gh, &gw, NULL, N, C, H, W, P, S, 3), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_patch_grid(NULL, &gh, &gw, NULL, INT64_MAX / 2, C, H, W, P, S, CTR_PATCH_ROWS),
                     CTR_E_OVERFLOW);
}
END_TEST

Suite *ctr_test_cpc_api_suite(void);

Suite *ctr_test_cpc_api_suite(void)
{
    Suite *s = suite_create("cpc_api");
    TCase *args = tcase_create("arguments");
    TCase *mem = tcase_create("memory");
    TCase *misc = tcase_create("checkpoint and patch grid");
    tcase_add_test(args, test_bad_arguments);
    tcase_add_test(args, test_non_finite_inputs);
    tcase_add_test(args, test_args_struct);
    tcase_add_test(mem, test_workspace_and_no_hot_allocation);
    tcase_add_test(mem, test_workspace_query);
    tcase_add_test(mem, test_out_of_memory);
    tcase_add_test(misc, test_checkpoint_round_trip);
    tcase_add_test(misc, test_patch_grid);
    suite_add_tcase(s, args);
    suite_add_tcase(s, mem);
    suite_add_tcase(s, misc);
    return s;
}
