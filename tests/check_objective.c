/*
 * check_objective.c - the objective handle: kinds and defaults, parameters
 * and bounds, statistics, workspace query and the no-allocation rule, bad
 * inputs for every compute call (NULL, sizes, NaN/Inf, wrong kind), out of
 * memory everywhere, checkpoints; the registry of kinds and the parameters
 * each kind's table says it reads.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objectives/registry.h"
#include "test_util.h"

enum { B = 4, D = 3, K = 6, N = 10, KN = 3 };

/* Inputs for every call, filled with small deterministic values. */
typedef struct inputs {
    float a[B * D], p[B * D], neg[K * D], bank[N * D];
    int64_t groups[B], q_ids[B], neg_ids[K], self_idx[B], noise_idx[B * KN];
    float ga[B * D], gp[B * D], gn[K * D];
} inputs;

static void inputs_init(inputs *in)
{
    int i;
    for (i = 0; i < B * D; i++) {
        in->a[i] = (float)sin(1.0 + i);
        in->p[i] = (float)cos(2.0 * i);
    }
    for (i = 0; i < K * D; i++)
        in->neg[i] = (float)sin(0.3 * i + 0.1);
    for (i = 0; i < N * D; i++)
        in->bank[i] = (float)cos(0.7 * i) * 0.5f;
    for (i = 0; i < B; i++) {
        in->groups[i] = i % 2;
        in->q_ids[i] = i;
        in->self_idx[i] = (i * 3) % N;
    }
    for (i = 0; i < K; i++)
        in->neg_ids[i] = i % 4;
    for (i = 0; i < B * KN; i++)
        in->noise_idx[i] = (i * 7 + 1) % N;
}

static const int32_t KINDS[6] = {
    CTR_OBJECTIVE_INFONCE, CTR_OBJECTIVE_NTXENT, CTR_OBJECTIVE_INFONCE_SHARED,
    CTR_OBJECTIVE_NPAIR,   CTR_OBJECTIVE_NCE,    CTR_OBJECTIVE_BANK_SOFTMAX};

/* The compute call of obj's kind on `in`, with the gradients requested. */
static int compute(ctr_objective *obj, inputs *in, double *loss)
{
    switch (ctr_objective_kind(obj)) {
    case CTR_OBJECTIVE_INFONCE:
        return ctr_objective_infonce(obj, loss, in->a, D, in->p, D, B, D,
                                     in->groups, in->ga, in->gp);
    case CTR_OBJECTIVE_NTXENT:
        return ctr_objective_ntxent(obj, loss, in->a, D, in->p, D, B, D, NULL,
                                    in->ga, in->gp);
    case CTR_OBJECTIVE_INFONCE_SHARED:
        return ctr_objective_infonce_shared(obj, loss, in->a, D, in->p, D, B,
                                            D, in->neg, D, K, in->q_ids,
                                            in->neg_ids, in->ga, in->gp,
                                            in->gn);
    case CTR_OBJECTIVE_NPAIR:
        return ctr_objective_npair(obj, loss, in->a, D, in->p, D, B, D, in->ga,
                                   in->gp);
    case CTR_OBJECTIVE_NCE:
        return ctr_objective_nce(obj, loss, in->a, D, B, D, in->bank, D, N,
                                 in->self_idx, in->noise_idx, KN, in->ga);
    default:
        return ctr_objective_bank_softmax(obj, loss, in->a, D, B, D, in->bank,
                                          D, N, in->self_idx, in->ga);
    }
}

/* ---- lifecycle and parameters --------------------------------------------- */

START_TEST(test_create_and_defaults)
{
    ctr_objective *obj = NULL;
    double v;
    int64_t iv;
    int i;
    for (i = 0; i < 6; i++) {
        ck_assert_int_eq(ctr_objective_create(&obj, KINDS[i], NULL), CTR_OK);
        ck_assert_int_eq(ctr_objective_kind(obj), KINDS[i]);
        ck_assert_int_eq(ctr_objective_get_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE,
                                               &v), CTR_OK);
        ck_assert_double_eq(v, KINDS[i] == CTR_OBJECTIVE_NTXENT  ? 0.5
                               : KINDS[i] == CTR_OBJECTIVE_NPAIR ? 1.0
                                                                 : 0.07);
        ck_assert_int_eq(ctr_objective_get_i64(obj, CTR_OBJECTIVE_P_NORMALIZE,
                                               &iv), CTR_OK);
        ck_assert_int_eq(iv, KINDS[i] == CTR_OBJECTIVE_NTXENT);
        ck_assert_int_eq(ctr_objective_get_i64(obj, CTR_OBJECTIVE_P_TILE, &iv),
                         CTR_OK);
        ck_assert_int_eq(iv, 1024);
        ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_LOSS, &v),
                         CTR_E_STAGE);
        ck_assert_str_eq(ctr_objective_last_error(obj), "no successful call yet");
        ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_CALLS, &v),
                         CTR_OK);
        ck_assert_double_eq(v, 0.0);
        ctr_objective_destroy(obj);
        obj = NULL;
    }
    ck_assert_int_eq(ctr_objective_create(&obj, 0, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_create(&obj, 11, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_create(NULL, CTR_OBJECTIVE_NCE, NULL),
                     CTR_E_INVALID_ARG);
    ck_assert_ptr_null(obj);
    ctr_objective_destroy(NULL);
    ck_assert_int_eq(ctr_objective_kind(NULL), 0);
    ck_assert_ptr_nonnull(ctr_objective_last_error(NULL));
}
END_TEST

START_TEST(test_parameters)
{
    ctr_objective *obj = NULL;
    double v, lo, hi;
    int64_t iv;
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_NCE, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_param_bounds(CTR_OBJECTIVE_P_TEMPERATURE,
                                                &lo, &hi), CTR_OK);
    ck_assert_double_eq(lo, 1e-3);
    ck_assert_double_eq(hi, 1e3);
    ck_assert_int_eq(ctr_objective_param_bounds(999, &lo, &hi),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_param_bounds(CTR_OBJECTIVE_P_TILE, NULL,
                                                &hi), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE,
                                           0.2), CTR_OK);
    /* out of bounds, NaN, unknown: old value stays */
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE,
                                           1e-4), CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(ctr_objective_last_error(obj), "[0.001, 1000]"));
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE,
                                           NAN), CTR_E_NUMERIC);
    ck_assert_int_eq(ctr_objective_set_f64(obj, 12345, 1.0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_get_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE,
                                           &v), CTR_OK);
    ck_assert_double_eq(v, 0.2);
    ck_assert_int_eq(ctr_objective_get_f64(obj, 12345, &v), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_get_f64(obj, CTR_OBJECTIVE_P_TILE, NULL),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_get_i64(obj, CTR_OBJECTIVE_P_TILE, NULL),
                     CTR_E_INVALID_ARG);
    /* integer parameters: integral values only, tile rounded up to 8 */
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_NORMALIZE, 0.5),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NORMALIZE, 2),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_TILE, 9),
                     CTR_OK);
    ck_assert_int_eq(ctr_objective_get_i64(obj, CTR_OBJECTIVE_P_TILE, &iv),
                     CTR_OK);
    ck_assert_int_eq(iv, 16);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_TILE,
                                           INT64_MAX), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NCE_Z_MODE,
                                           CTR_NCE_Z_EXACT), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NCE_Z_MODE, 3),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_NCE_MOMENTUM,
                                           1.0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_NPAIR_LAMBDA,
                                           -1.0), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_set_f64(NULL, CTR_OBJECTIVE_P_TILE, 8),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_stat(obj, 99, &v), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_LOSS, NULL),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_reset(NULL), CTR_E_INVALID_ARG);
    ctr_objective_destroy(obj);
}
END_TEST

/* ---- workspace and allocation ------------------------------------------------ */

START_TEST(test_workspace_query_and_no_hot_allocation)
{
    inputs in;
    test_alloc_state st;
    ctr_allocator a;
    int i;
    inputs_init(&in);
    test_alloc_setup(&a, &st);
    for (i = 0; i < 6; i++) {
        ctr_objective *obj = NULL;
        size_t bytes = 0;
        int64_t before, calls;
        double loss;
        ck_assert_int_eq(ctr_objective_create(&obj, KINDS[i], &a), CTR_OK);
        ck_assert_int_eq(ctr_objective_workspace_size(obj, &bytes, B, D,
                                                      KINDS[i] == CTR_OBJECTIVE_NCE
                                                          ? KN : K),
                         CTR_OK);
        ck_assert_uint_gt(bytes, 0);
        before = st.live_bytes;
        ck_assert_int_eq(compute(obj, &in, &loss), CTR_OK);
        /* the workspace is exactly what the query said */
        ck_assert_int_eq(st.live_bytes - before, (int64_t)bytes);
        calls = st.calls;
        ck_assert_int_eq(compute(obj, &in, &loss), CTR_OK);
        ck_assert_int_eq(compute(obj, &in, &loss), CTR_OK);
        ck_assert_int_eq(st.calls, calls);
        ctr_objective_destroy(obj);
        ck_assert_int_eq(st.live_blocks, 0);
    }
}
END_TEST

START_TEST(test_shared_workspace_is_bounded)
{
    /* the queue-sized case: workspace independent of K, within 16 MiB for
     * b = 256, d = 128 */
    ctr_objective *obj = NULL;
    size_t small, big;
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_INFONCE_SHARED,
                                          NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_workspace_size(obj, &small, 256, 128, 16),
                     CTR_OK);
    ck_assert_int_eq(ctr_objective_workspace_size(obj, &big, 256, 128, 65536),
                     CTR_OK);
    ck_assert_uint_eq(small, big);
    ck_assert_uint_le(big, 16u << 20);
    ck_assert_int_eq(ctr_objective_workspace_size(obj, &big, 0, 128, 1),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_workspace_size(obj, &big, 1, 1, -1),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_workspace_size(obj, NULL, 1, 1, 1),
                     CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_workspace_size(obj, &big, INT64_MAX / 2,
                                                  INT64_MAX / 2, 1),
                     CTR_E_OVERFLOW);
    ctr_objective_destroy(obj);
}
END_TEST

typedef struct oom_ctx {
    int32_t kind;
    inputs in;
} oom_ctx;

static int oom_attempt(const ctr_allocator *a, void *p)
{
    oom_ctx *c = (oom_ctx *)p;
    ctr_objective *obj = NULL;
    double loss;
    int rc = ctr_objective_create(&obj, c->kind, a);
    if (rc != CTR_OK)
        return rc;
    rc = compute(obj, &c->in, &loss);
    if (rc == CTR_E_NOMEM) {
        double v;
        /* a failed call leaves no statistics behind */
        ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_LOSS, &v),
                         CTR_E_STAGE);
    }
    ctr_objective_destroy(obj);
    return rc;
}

START_TEST(test_out_of_memory)
{
    oom_ctx c;
    int i;
    inputs_init(&c.in);
    for (i = 0; i < 6; i++) {
        c.kind = KINDS[i];
        ck_assert_int_eq(test_every_alloc_failure(oom_attempt, &c), 2);
    }
}
END_TEST

/* ---- bad inputs --------------------------------------------------------------- */

static void expect_untouched(const inputs *in)
{
    int i;
    for (i = 0; i < B * D; i++) {
        ck_assert_float_eq(in->ga[i], -7.0f);
        ck_assert_float_eq(in->gp[i], -7.0f);
    }
    for (i = 0; i < K * D; i++)
        ck_assert_float_eq(in->gn[i], -7.0f);
}

static void poison_outputs(inputs *in)
{
    int i;
    for (i = 0; i < B * D; i++)
        in->ga[i] = in->gp[i] = -7.0f;
    for (i = 0; i < K * D; i++)
        in->gn[i] = -7.0f;
}

/* Every float input of every kind set to NaN and to Inf in turn, at its
 * last element (the tiled calls see it in their last tile). */
START_TEST(test_non_finite_inputs)
{
    inputs in;
    float *targets[4];
    int i, t, v;
    const float bad[2] = {NAN, INFINITY};
    inputs_init(&in);
    targets[0] = &in.a[B * D - 1];
    targets[1] = &in.p[B * D - 1];
    targets[2] = &in.neg[K * D - 1];
    targets[3] = &in.bank[N * D - 1];
    for (i = 0; i < 6; i++) {
        ctr_objective *obj = NULL;
        double loss = 42.0, z;
        ck_assert_int_eq(ctr_objective_create(&obj, KINDS[i], NULL), CTR_OK);
        for (t = 0; t < 4; t++) {
            int used = t < 2 || (t == 2 && KINDS[i] == CTR_OBJECTIVE_INFONCE_SHARED) ||
                       (t == 3 && (KINDS[i] == CTR_OBJECTIVE_NCE ||
                                   KINDS[i] == CTR_OBJECTIVE_BANK_SOFTMAX));
            if (t == 1 && (KINDS[i] == CTR_OBJECTIVE_NCE ||
                           KINDS[i] == CTR_OBJECTIVE_BANK_SOFTMAX))
                used = 0;
            if (!used)
                continue;
            for (v = 0; v < 2; v++) {
                float keep = *targets[t];
                *targets[t] = bad[v];
                poison_outputs(&in);
                ck_assert_int_eq(compute(obj, &in, &loss), CTR_E_NUMERIC);
                ck_assert_str_ne(ctr_objective_last_error(obj), "");
                expect_untouched(&in);
                ck_assert_double_eq(loss, 42.0);
                *targets[t] = keep;
            }
        }
        ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_LOSS, &z),
                         CTR_E_STAGE);
        ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_NCE_Z, &z),
                         CTR_E_STAGE);
        ck_assert_int_eq(compute(obj, &in, &loss), CTR_OK);
        ck_assert(isfinite(loss));
        ctr_objective_destroy(obj);
    }
}
END_TEST

START_TEST(test_overflowing_logits)
{
    /* unnormalised inputs whose dot products overflow float */
    inputs in;
    ctr_objective *obj = NULL;
    double loss = 42.0;
    int i;
    inputs_init(&in);
    for (i = 0; i < B * D; i++)
        in.a[i] = in.p[i] = 3e18f;
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_INFONCE, NULL),
                     CTR_OK);
    poison_outputs(&in);
    ck_assert_int_eq(compute(obj, &in, &loss), CTR_E_NUMERIC);
    expect_untouched(&in);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NORMALIZE, 1),
                     CTR_OK);
    ck_assert_int_eq(compute(obj, &in, &loss), CTR_OK);
    ck_assert_close(loss, log((double)B), 1e-6, 1e-6);
    ctr_objective_destroy(obj);
    /* the in-batch and shared kinds, unnormalised: logits of +inf, and
     * positives of -inf */
    {
        static const int32_t kinds[4] = {CTR_OBJECTIVE_NTXENT, CTR_OBJECTIVE_NPAIR,
                                         CTR_OBJECTIVE_INFONCE_SHARED,
                                         CTR_OBJECTIVE_INFONCE};
        int k, sign;
        for (i = 0; i < K * D; i++)
            in.neg[i] = 1.5e19f;
        for (k = 0; k < 8; k++) {
            sign = k < 4 ? 1 : -1;
            for (i = 0; i < B * D; i++) {
                in.a[i] = 1.5e19f;
                in.p[i] = 1.5e19f * (float)sign;
            }
            ck_assert_int_eq(ctr_objective_create(&obj, kinds[k % 4], NULL), CTR_OK);
            ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NORMALIZE, 0),
                             CTR_OK);
            poison_outputs(&in);
            loss = 42.0;
            if (sign < 0) /* finite negatives: only the positive overflows */
                for (i = 0; i < K * D; i++)
                    in.neg[i] = 1.0f;
            ck_assert_int_eq(compute(obj, &in, &loss), CTR_E_NUMERIC);
            expect_untouched(&in);
            ck_assert_double_eq(loss, 42.0);
            ctr_objective_destroy(obj);
        }
    }
}
END_TEST

START_TEST(test_bad_arguments_infonce_family)
{
    inputs in;
    ctr_objective *inb = NULL, *nt = NULL, *np = NULL;
    double loss;
    inputs_init(&in);
    ck_assert_int_eq(ctr_objective_create(&inb, CTR_OBJECTIVE_INFONCE, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_create(&nt, CTR_OBJECTIVE_NTXENT, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_create(&np, CTR_OBJECTIVE_NPAIR, NULL), CTR_OK);
    poison_outputs(&in);
    ck_assert_int_eq(ctr_objective_infonce(NULL, &loss, in.a, D, in.p, D, B, D, NULL, in.ga, in.gp), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce(inb, &loss, NULL, D, in.p, D, B, D, NULL, in.ga, in.gp), CTR_E_INVALID_ARG);
    ck_assert_str_eq(ctr_objective_last_error(inb), "a is NULL");
    ck_assert_int_eq(ctr_objective_infonce(inb, &loss, in.a, D, NULL, D, B, D, NULL, in.ga, in.gp), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce(inb, &loss, in.a, D, in.p, D, 0, D, NULL, in.ga, in.gp), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce(inb, &loss, in.a, D, in.p, D, B, 0, NULL, in.ga, in.gp), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce(inb, &loss, in.a, D, in.p, D, -1, D, NULL, in.ga, in.gp), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce(inb, &loss, in.a, D - 1, in.p, D, B, D, NULL, in.ga, in.gp), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce(inb, &loss, in.a, D, in.p, D, INT64_MAX / 4, INT64_MAX / 4, NULL, in.ga, in.gp), CTR_E_OVERFLOW);
    ck_assert_int_eq(ctr_objective_infonce(inb, &loss, in.a, D, in.p, D, 50000, D, NULL, in.ga, in.gp), CTR_E_INVALID_ARG);
    /* wrong kind */
    ck_assert_int_eq(ctr_objective_ntxent(inb, &loss, in.a, D, in.p, D, B, D, NULL, in.ga, in.gp), CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(ctr_objective_last_error(inb), "NTXENT"));
    ck_assert_int_eq(ctr_objective_ntxent(NULL, &loss, in.a, D, in.p, D, B, D, NULL, in.ga, in.gp), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_ntxent(nt, &loss, NULL, D, in.p, D, B, D, NULL, in.ga, in.gp), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_ntxent(nt, &loss, in.a, D, NULL, D, B, D, NULL, in.ga, in.gp), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_ntxent(nt, &loss, in.a, D, in.p, 1, B, D, NULL, in.ga, in.gp), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_ntxent(nt, &loss, in.a, D, in.p, D, 0, D, NULL, in.ga, in.gp), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_ntxent(nt, &loss, in.a, D, in.p, D, 30000, D, NULL, in.ga, in.gp), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_npair(NULL, &loss, in.a, D, in.p, D, B, D, in.ga, in.gp), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_npair(np, &loss, NULL, D, in.p, D, B, D, in.ga, in.gp), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_npair(np, &loss, in.a, D, NULL, D, B, D, in.ga, in.gp), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_npair(np, &loss, in.a, D, in.p, D, B, -3, in.ga, in.gp), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_npair(inb, &loss, in.a, D, in.p, D, B, D, in.ga, in.gp), CTR_E_INVALID_ARG);
    expect_untouched(&in);
    /* NULL loss and NULL gradients are fine */
    ck_assert_int_eq(ctr_objective_infonce(inb, NULL, in.a, D, in.p, D, B, D, NULL, NULL, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_ntxent(nt, NULL, in.a, D, in.p, D, B, D, NULL, NULL, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_npair(np, NULL, in.a, D, in.p, D, B, D, NULL, NULL), CTR_OK);
    ctr_objective_destroy(inb);
    ctr_objective_destroy(nt);
    ctr_objective_destroy(np);
}
END_TEST

START_TEST(test_bad_arguments_shared_and_bank)
{
    inputs in;
    ctr_objective *sh = NULL, *nce = NULL, *bs = NULL;
    int64_t bad_idx[B * KN];
    double loss;
    inputs_init(&in);
    memcpy(bad_idx, in.noise_idx, sizeof(bad_idx));
    bad_idx[B * KN - 1] = N;
    ck_assert_int_eq(ctr_objective_create(&sh, CTR_OBJECTIVE_INFONCE_SHARED, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_create(&nce, CTR_OBJECTIVE_NCE, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_create(&bs, CTR_OBJECTIVE_BANK_SOFTMAX, NULL), CTR_OK);
    poison_outputs(&in);
    ck_assert_int_eq(ctr_objective_infonce_shared(NULL, &loss, in.a, D, in.p, D, B, D, in.neg, D, K, NULL, NULL, in.ga, in.gp, in.gn), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce_shared(sh, &loss, NULL, D, in.p, D, B, D, in.neg, D, K, NULL, NULL, in.ga, in.gp, in.gn), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce_shared(sh, &loss, in.a, D, NULL, D, B, D, in.neg, D, K, NULL, NULL, in.ga, in.gp, in.gn), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce_shared(sh, &loss, in.a, D, in.p, D, B, D, NULL, D, K, NULL, NULL, in.ga, in.gp, in.gn), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce_shared(sh, &loss, in.a, D, in.p, D, B, D, in.neg, 2, K, NULL, NULL, in.ga, in.gp, in.gn), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce_shared(sh, &loss, in.a, D, in.p, D, B, D, in.neg, D, -1, NULL, NULL, in.ga, in.gp, in.gn), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce_shared(sh, &loss, in.a, D, in.p, D, B, D, in.neg, D, K, in.q_ids, NULL, in.ga, in.gp, in.gn), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce_shared(sh, &loss, in.a, D, in.p, D, B, D, in.neg, D, K, NULL, in.neg_ids, in.ga, in.gp, in.gn), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce_shared(sh, &loss, in.a, D, in.p, D, 0, D, in.neg, D, K, NULL, NULL, in.ga, in.gp, in.gn), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce_shared(sh, &loss, in.a, D, in.p, D, B, D, in.neg, INT64_MAX / 2, K, NULL, NULL, in.ga, in.gp, in.gn), CTR_E_OVERFLOW);
    ck_assert_int_eq(ctr_objective_nce(NULL, &loss, in.a, D, B, D, in.bank, D, N, in.self_idx, in.noise_idx, KN, in.ga), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_nce(nce, &loss, NULL, D, B, D, in.bank, D, N, in.self_idx, in.noise_idx, KN, in.ga), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_nce(nce, &loss, in.a, D, B, D, NULL, D, N, in.self_idx, in.noise_idx, KN, in.ga), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_nce(nce, &loss, in.a, D, B, D, in.bank, D, N, NULL, in.noise_idx, KN, in.ga), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_nce(nce, &loss, in.a, D, B, D, in.bank, D, N, in.self_idx, NULL, KN, in.ga), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_nce(nce, &loss, in.a, D, B, D, in.bank, D, N, in.self_idx, bad_idx, KN, in.ga), CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(ctr_objective_last_error(nce), "noise_idx[11] = 10"));
    ck_assert_int_eq(ctr_objective_nce(nce, &loss, in.a, D, B, D, in.bank, D, N, in.self_idx, in.noise_idx, 0, in.ga), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_nce(nce, &loss, in.a, D, B, D, in.bank, D, 0, in.self_idx, in.noise_idx, KN, in.ga), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_nce(nce, &loss, in.a, D, B, D, in.bank, D, N, in.self_idx, in.noise_idx, INT64_MAX / 2, in.ga), CTR_E_OVERFLOW);
    ck_assert_int_eq(ctr_objective_bank_softmax(NULL, &loss, in.a, D, B, D, in.bank, D, N, in.self_idx, in.ga), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_bank_softmax(bs, &loss, NULL, D, B, D, in.bank, D, N, in.self_idx, in.ga), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_bank_softmax(bs, &loss, in.a, D, B, D, NULL, D, N, in.self_idx, in.ga), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_bank_softmax(bs, &loss, in.a, D, B, D, in.bank, D, N, NULL, in.ga), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_bank_softmax(bs, &loss, in.a, D, B, D, in.bank, D, 3, in.self_idx, in.ga), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_bank_softmax(nce, &loss, in.a, D, B, D, in.bank, D, N, in.self_idx, in.ga), CTR_E_INVALID_ARG);
    expect_untouched(&in);
    ctr_objective_destroy(sh);
    ctr_objective_destroy(nce);
    ctr_objective_destroy(bs);
}
END_TEST


/* ---- wiring with the momentum queue --------------------------------------- */

/* MoCo's loss for query i in double: positive k_i, negatives the queue
 * rows whose id differs from the query's. */
static double moco_reference(const float *q, const float *k, const float *keys,
                             const int64_t *key_ids, int64_t count,
                             const int64_t *q_ids, int64_t b, int64_t d,
                             double tau)
{
    double total = 0;
    int64_t i, j, c;
    for (i = 0; i < b; i++) {
        double pos = 0, m, s = 0;
        for (c = 0; c < d; c++)
            pos += (double)q[i * d + c] * k[i * d + c];
        pos /= tau;
        m = pos;
        s = 1.0;
        for (j = 0; j < count; j++) {
            double l = 0;
            if (key_ids[j] == q_ids[i])
                continue;
            for (c = 0; c < d; c++)
                l += (double)q[i * d + c] * keys[j * d + c];
            l /= tau;
            if (l > m) {
                s = s * exp(m - l) + 1.0;
                m = l;
            } else {
                s += exp(l - m);
            }
        }
        total += m + log(s) - pos;
    }
    return total / (double)b;
}

START_TEST(test_moco_queue_wiring)
{
    enum { CAP = 12, DIM = 4, NB = 5 };
    ctr_queue *queue = NULL;
    ctr_objective *obj = NULL;
    float q[NB * DIM], k[NB * DIM], gq[NB * DIM], gq_q[NB * DIM];
    int64_t ids[NB];
    double loss_q;
    int step, i;
    ck_assert_int_eq(ctr_queue_create(&queue, CAP, DIM, CTR_QUEUE_IDS, 3, NULL),
                     CTR_OK);
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_INFONCE_SHARED,
                                          NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, 0.2),
                     CTR_OK);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_TILE, 8), CTR_OK);
    /* steps with 0, 5, 10 and 12 (wrapped) keys in the queue; instance ids
     * repeat every 7 so queued copies of a query's own instance occur */
    for (step = 0; step < 4; step++) {
        const float *keys;
        const int64_t *key_ids;
        int64_t count, ld;
        double loss;
        for (i = 0; i < NB * DIM; i++) {
            q[i] = (float)sin(0.37 * (i + 1) + step);
            k[i] = (float)cos(0.23 * (i + 2) * (step + 1));
        }
        for (i = 0; i < NB; i++)
            ids[i] = (step * NB + i) % 7;
        ck_assert_int_eq(ctr_queue_keys(queue, &keys, &count, &ld), CTR_OK);
        ck_assert_int_eq(ctr_queue_ids(queue, &key_ids, NULL), CTR_OK);
        ck_assert_int_eq(ld, DIM);
        /* the loss of step t uses the queue before step t's keys */
        ck_assert_int_eq(ctr_objective_infonce_shared(obj, &loss, q, DIM, k, DIM, NB,
                                                      DIM, keys, ld, count, ids,
                                                      key_ids, gq, NULL, NULL),
                         CTR_OK);
        ck_assert_close(loss, moco_reference(q, k, keys, key_ids, count, ids, NB,
                                             DIM, 0.2), 1e-5, 1e-6);
        /* the queue call is the same computation, to the bit */
        ck_assert_int_eq(ctr_objective_infonce_queue(obj, &loss_q, q, DIM, k,
                                                     DIM, NB, DIM, queue, ids,
                                                     gq_q, NULL),
                         CTR_OK);
        ck_assert(loss_q == loss);
        ck_assert(memcmp(gq, gq_q, sizeof(gq)) == 0);
        ck_assert_int_eq(ctr_queue_enqueue(queue, k, NB, DIM, ids), CTR_OK);
    }
    ctr_objective_destroy(obj);
    ctr_queue_destroy(queue);
}
END_TEST

/* ctr_objective_infonce_queue's own errors; each leaves the outputs and
 * the statistics as they were. */
START_TEST(test_queue_call_bad_arguments)
{
    enum { DIM = 4, NB = 3 };
    ctr_queue *with_ids = NULL, *no_ids = NULL, *wide = NULL;
    ctr_objective *obj = NULL, *nce = NULL;
    float q[NB * DIM], k[NB * DIM], gq[NB * DIM], gk[NB * DIM];
    int64_t ids[NB] = {1, 2, 3};
    double loss = 42.0, calls;
    int i;
    for (i = 0; i < NB * DIM; i++) {
        q[i] = (float)sin(0.3 * i);
        k[i] = (float)cos(0.7 * i);
        gq[i] = gk[i] = 7.0f;
    }
    ck_assert_int_eq(ctr_queue_create(&with_ids, 8, DIM, CTR_QUEUE_IDS, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_queue_create(&no_ids, 8, DIM, 0, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_queue_create(&wide, 8, DIM + 1, 0, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_INFONCE_SHARED, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_create(&nce, CTR_OBJECTIVE_NCE, NULL), CTR_OK);
    /* an empty queue: loss 0, like kneg = 0 */
    ck_assert_int_eq(ctr_objective_infonce_queue(obj, &loss, q, DIM, k, DIM, NB, DIM, no_ids, NULL, NULL, NULL), CTR_OK);
    ck_assert(loss == 0.0);
    ck_assert_int_eq(ctr_queue_enqueue(no_ids, k, NB, DIM, NULL), CTR_OK);
    ck_assert_int_eq(ctr_queue_enqueue(with_ids, k, NB, DIM, ids), CTR_OK);
    loss = 42.0;
    ck_assert_int_eq(ctr_objective_infonce_queue(NULL, &loss, q, DIM, k, DIM, NB, DIM, no_ids, NULL, gq, gk), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce_queue(obj, &loss, q, DIM, k, DIM, NB, DIM, NULL, NULL, gq, gk), CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(ctr_objective_last_error(obj), "queue is NULL"));
    ck_assert_int_eq(ctr_objective_infonce_queue(obj, &loss, q, DIM, k, DIM, NB, DIM, wide, NULL, gq, gk), CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(ctr_objective_last_error(obj), "dimension 5"));
    ck_assert_int_eq(ctr_objective_infonce_queue(obj, &loss, q, DIM, k, DIM, NB, DIM, no_ids, ids, gq, gk), CTR_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(ctr_objective_last_error(obj), "no ids"));
    ck_assert_int_eq(ctr_objective_infonce_queue(obj, &loss, NULL, DIM, k, DIM, NB, DIM, no_ids, NULL, gq, gk), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce_queue(obj, &loss, q, DIM, NULL, DIM, NB, DIM, no_ids, NULL, gq, gk), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce_queue(obj, &loss, q, DIM, k, DIM, 0, DIM, no_ids, NULL, gq, gk), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_infonce_queue(nce, &loss, q, DIM, k, DIM, NB, DIM, no_ids, NULL, gq, gk), CTR_E_INVALID_ARG);
    q[5] = NAN;
    ck_assert_int_eq(ctr_objective_infonce_queue(obj, &loss, q, DIM, k, DIM, NB, DIM, with_ids, ids, gq, gk), CTR_E_NUMERIC);
    q[5] = 0.5f;
    ck_assert(loss == 42.0);
    for (i = 0; i < NB * DIM; i++)
        ck_assert(gq[i] == 7.0f && gk[i] == 7.0f);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_CALLS, &calls), CTR_OK);
    ck_assert(calls == 1.0); /* only the empty-queue call counted */
    /* and it works once the arguments are right, masking included */
    ck_assert_int_eq(ctr_objective_infonce_queue(obj, &loss, q, DIM, k, DIM, NB, DIM, with_ids, ids, gq, gk), CTR_OK);
    ck_assert(isfinite(loss) && loss > 0.0);
    ctr_objective_destroy(obj);
    ctr_objective_destroy(nce);
    ctr_queue_destroy(with_ids);
    ctr_queue_destroy(no_ids);
    ctr_queue_destroy(wide);
}
END_TEST


/* Wu et al.'s step through the memory bank: noise drawn by the bank, NCE
 * on its rows (zero-copy), then the bank update; the objective's Z is set
 * by the first step and kept. */
START_TEST(test_nce_bank_wiring)
{
    enum { NROWS = 40, DIM = 6, NB = 4, NOISE = 9 };
    ctr_bank *bank = NULL;
    ctr_objective *obj = NULL;
    float z[NB * DIM], gz[NB * DIM];
    int64_t self_idx[NB], noise[NB * NOISE];
    double z_first = 0, z_now;
    int step, i;
    ck_assert_int_eq(ctr_bank_create(&bank, NROWS, DIM, 11, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_NCE, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_i64(obj, CTR_OBJECTIVE_P_NORMALIZE, 1),
                     CTR_OK);
    for (step = 0; step < 3; step++) {
        const float *rows;
        int64_t n, ld;
        double loss;
        for (i = 0; i < NB * DIM; i++)
            z[i] = (float)sin(0.41 * (i + 1) + step);
        for (i = 0; i < NB; i++)
            self_idx[i] = (step * NB + i * 3) % NROWS;
        ck_assert_int_eq(ctr_bank_sample(bank, noise, NB, NOISE, self_idx), CTR_OK);
        ck_assert_int_eq(ctr_bank_rows(bank, &rows, &n, &ld), CTR_OK);
        ck_assert_int_eq(ctr_objective_nce(obj, &loss, z, DIM, NB, DIM, rows, ld, n,
                                           self_idx, noise, NOISE, gz), CTR_OK);
        ck_assert(isfinite(loss) && loss > 0);
        ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_NCE_Z, &z_now),
                         CTR_OK);
        if (step == 0)
            z_first = z_now;
        ck_assert_double_eq(z_now, z_first);
        /* the bank's rows are unit vectors: feed it the normalised z */
        for (i = 0; i < NB; i++) {
            double s = 0;
            int c;
            for (c = 0; c < DIM; c++)
                s += (double)z[i * DIM + c] * z[i * DIM + c];
            for (c = 0; c < DIM; c++)
                z[i * DIM + c] = (float)(z[i * DIM + c] / sqrt(s));
        }
        ck_assert_int_eq(ctr_bank_update(bank, self_idx, NB, z, DIM), CTR_OK);
    }
    ctr_objective_destroy(obj);
    ctr_bank_destroy(bank);
}
END_TEST

/* ---- checkpoints ----------------------------------------------------------------- */

START_TEST(test_checkpoint_round_trip)
{
    inputs in;
    ctr_objective *obj = NULL, *back = NULL;
    unsigned char buf[1024];
    char path[256];
    size_t size = 0, need = 0;
    double loss, z1, z2, l2;
    inputs_init(&in);
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_NCE, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_set_f64(obj, CTR_OBJECTIVE_P_TEMPERATURE, 0.2), CTR_OK);
    ck_assert_int_eq(compute(obj, &in, &loss), CTR_OK);
    ck_assert_int_eq(ctr_objective_stat(obj, CTR_OBJECTIVE_S_NCE_Z, &z1), CTR_OK);
    ck_assert_int_eq(ctr_objective_save_buffer(obj, NULL, 0, &need), CTR_OK);
    ck_assert_int_eq(ctr_objective_save_buffer(obj, buf, 10, &size), CTR_E_BUFFER_TOO_SMALL);
    ck_assert_int_eq(ctr_objective_save_buffer(obj, buf, sizeof(buf), &size), CTR_OK);
    ck_assert_uint_eq(size, need);
    ck_assert_int_eq(ctr_objective_load_buffer(&back, buf, size, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_kind(back), CTR_OBJECTIVE_NCE);
    ck_assert_int_eq(ctr_objective_stat(back, CTR_OBJECTIVE_S_NCE_Z, &z2), CTR_OK);
    ck_assert_double_eq(z1, z2);
    ck_assert_int_eq(ctr_objective_stat(back, CTR_OBJECTIVE_S_LOSS, &l2), CTR_OK);
    ck_assert_double_eq(l2, loss);
    /* the restored objective continues with the same Z: same loss */
    ck_assert_int_eq(compute(back, &in, &l2), CTR_OK);
    ck_assert_int_eq(compute(obj, &in, &loss), CTR_OK);
    ck_assert_double_eq(l2, loss);
    ctr_objective_destroy(back);
    back = NULL;
    /* path */
    test_temp_path(path, sizeof(path), "objective.ckpt");
    ck_assert_int_eq(ctr_objective_save(obj, path), CTR_OK);
    ck_assert_int_eq(ctr_objective_load(&back, path, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_stat(back, CTR_OBJECTIVE_S_NCE_Z, &z2), CTR_OK);
    ck_assert_double_eq(z1, z2);
    ctr_objective_destroy(back);
    back = NULL;
    remove(path);
    /* corruption: every byte flipped in turn fails cleanly */
    {
        size_t i;
        for (i = 0; i < size; i++) {
            int rc;
            buf[i] ^= 0x5a;
            rc = ctr_objective_load_buffer(&back, buf, size, NULL);
            ck_assert_msg(rc == CTR_E_CORRUPT || rc == CTR_E_INCOMPATIBLE,
                          "byte %zu: %d", i, rc);
            ck_assert_ptr_null(back);
            buf[i] ^= 0x5a;
        }
        ck_assert_int_eq(ctr_objective_load_buffer(&back, buf, size - 1, NULL), CTR_E_CORRUPT);
    }
    /* another object's checkpoint */
    {
        ctr_rng *rng = NULL;
        ck_assert_int_eq(ctr_rng_create(&rng, 1, NULL), CTR_OK);
        ck_assert_int_eq(ctr_rng_save_buffer(rng, buf, sizeof(buf), &size), CTR_OK);
        ck_assert_int_eq(ctr_objective_load_buffer(&back, buf, size, NULL), CTR_E_INCOMPATIBLE);
        ctr_rng_destroy(rng);
    }
    ck_assert_int_eq(ctr_objective_save(obj, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_save_buffer(obj, NULL, 5, &size), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_save_buffer(obj, buf, sizeof(buf), NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_load(&back, "/nonexistent/dir/x", NULL), CTR_E_IO);
    ck_assert_int_eq(ctr_objective_load(NULL, path, NULL), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_load_buffer(&back, NULL, 3, NULL), CTR_E_INVALID_ARG);
    ctr_objective_destroy(obj);
}
END_TEST

typedef struct load_ctx {
    unsigned char buf[1024];
    size_t size;
} load_ctx;

static int load_attempt(const ctr_allocator *a, void *p)
{
    load_ctx *c = (load_ctx *)p;
    ctr_objective *obj = NULL;
    int rc = ctr_objective_load_buffer(&obj, c->buf, c->size, a);
    ctr_objective_destroy(obj);
    return rc;
}

START_TEST(test_load_out_of_memory)
{
    load_ctx c;
    ctr_objective *obj = NULL;
    ck_assert_int_eq(ctr_objective_create(&obj, CTR_OBJECTIVE_NTXENT, NULL), CTR_OK);
    ck_assert_int_eq(ctr_objective_save_buffer(obj, c.buf, sizeof(c.buf), &c.size), CTR_OK);
    ctr_objective_destroy(obj);
    ck_assert_int_ge(test_every_alloc_failure(load_attempt, &c), 1);
}
END_TEST

/* ---- kinds: the registry and the parameters each kind reads -------------- */

START_TEST(test_registry)
{
    const ctr__obj_kind *k;
    double lo, hi;
    size_t i, j;
    for (i = 0; (k = ctr__obj_kind_at(i)) != NULL; i++) {
        ck_assert_ptr_eq(ctr__obj_kind_find(k->id), k); /* one table per id */
        ck_assert(k->name != NULL && k->name[0] != '\0');
        ck_assert(k->check != NULL && k->workspace != NULL && k->run != NULL);
        for (j = 0; k->params[j] != 0; j++)
            ck_assert_int_eq(ctr_objective_param_bounds(k->params[j], &lo, &hi),
                             CTR_OK);
    }
    for (i = 0; i < sizeof(KINDS) / sizeof(KINDS[0]); i++)
        ck_assert_ptr_nonnull(ctr__obj_kind_find(KINDS[i]));
    ck_assert_ptr_null(ctr__obj_kind_find(0));
}
END_TEST

/* Every parameter with two valid values: one differs from any default. */
static const struct {
    int32_t id;
    double v[2];
} PARAM_VALUES[] = {
    {CTR_OBJECTIVE_P_TEMPERATURE, {0.3, 0.6}},
    {CTR_OBJECTIVE_P_NORMALIZE, {0, 1}},
    {CTR_OBJECTIVE_P_SYMMETRIC, {0, 1}},
    {CTR_OBJECTIVE_P_TILE, {8, 16}},
    {CTR_OBJECTIVE_P_NPAIR_LAMBDA, {0.5, 1.0}},
    {CTR_OBJECTIVE_P_NCE_Z_MODE, {CTR_NCE_Z_EMA, CTR_NCE_Z_EXACT}},
    {CTR_OBJECTIVE_P_NCE_MOMENTUM, {0.5, 0.9}},
};

static int kind_reads(const ctr__obj_kind *k, int32_t param)
{
    size_t j;
    for (j = 0; k->params[j] != 0; j++)
        if (k->params[j] == param)
            return 1;
    return 0;
}

/* Loss and gradient of a fresh objective of `kind`, with `param` set to a
 * value other than its default (param 0: all defaults). */
static void run_with(int32_t kind, size_t param, inputs *in, double *loss)
{
    ctr_objective *obj = NULL;
    double v;
    ck_assert_int_eq(ctr_objective_create(&obj, kind, NULL), CTR_OK);
    if (param > 0) {
        int32_t id = PARAM_VALUES[param - 1].id;
        ck_assert_int_eq(ctr_objective_get_f64(obj, id, &v), CTR_OK);
        v = v != PARAM_VALUES[param - 1].v[0] ? PARAM_VALUES[param - 1].v[0]
                                              : PARAM_VALUES[param - 1].v[1];
        ck_assert_int_eq(ctr_objective_set_f64(obj, id, v), CTR_OK);
    }
    memset(in->ga, 0, sizeof(in->ga));
    ck_assert_int_eq(compute(obj, in, loss), CTR_OK);
    ctr_objective_destroy(obj);
}

/* Every handle accepts every parameter; a kind ignores those its table
 * does not list (the header's "other kinds ignore it"). */
START_TEST(test_unread_parameters_are_ignored)
{
    static inputs in;
    float ga[B * D];
    double base, loss;
    size_t i, p;
    inputs_init(&in);
    for (i = 0; i < sizeof(KINDS) / sizeof(KINDS[0]); i++) {
        const ctr__obj_kind *k = ctr__obj_kind_find(KINDS[i]);
        run_with(KINDS[i], 0, &in, &base);
        memcpy(ga, in.ga, sizeof(ga));
        for (p = 1; p <= sizeof(PARAM_VALUES) / sizeof(PARAM_VALUES[0]); p++) {
            if (kind_reads(k, PARAM_VALUES[p - 1].id))
                continue;
            run_with(KINDS[i], p, &in, &loss);
            ck_assert_msg(memcmp(&loss, &base, sizeof(loss)) == 0 &&
                              memcmp(ga, in.ga, sizeof(ga)) == 0,
                          "%s: parameter %d changed the result", k->name,
                          (int)PARAM_VALUES[p - 1].id);
        }
    }
}
END_TEST

Suite *ctr_test_objective_suite(void);

Suite *ctr_test_objective_suite(void)
{
    Suite *s = suite_create("objective");
    TCase *life = tcase_create("lifecycle");
    TCase *mem = tcase_create("memory");
    TCase *args = tcase_create("arguments");
    TCase *ckpt = tcase_create("checkpoint");
    TCase *kinds = tcase_create("kinds");
    tcase_add_test(life, test_create_and_defaults);
    tcase_add_test(life, test_parameters);
    tcase_add_test(mem, test_workspace_query_and_no_hot_allocation);
    tcase_add_test(mem, test_shared_workspace_is_bounded);
    tcase_add_test(mem, test_out_of_memory);
    tcase_add_test(args, test_non_finite_inputs);
    tcase_add_test(args, test_overflowing_logits);
    tcase_add_test(args, test_bad_arguments_infonce_family);
    tcase_add_test(args, test_bad_arguments_shared_and_bank);
    tcase_add_test(args, test_moco_queue_wiring);
    tcase_add_test(args, test_queue_call_bad_arguments);
    tcase_add_test(args, test_nce_bank_wiring);
    tcase_add_test(ckpt, test_checkpoint_round_trip);
    tcase_add_test(ckpt, test_load_out_of_memory);
    tcase_add_test(kinds, test_registry);
    tcase_add_test(kinds, test_unread_parameters_are_ignored);
    suite_add_tcase(s, life);
    suite_add_tcase(s, mem);
    suite_add_tcase(s, args);
    suite_add_tcase(s, ckpt);
    suite_add_tcase(s, kinds);
    return s;
}
