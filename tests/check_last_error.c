/*
 * check_last_error.c - the handle's message after every call of the API
 * (issue 13, item 5; docs/errors.md). After a call that takes a handle,
 * ctr_<object>_last_error(handle) is "" if the call succeeded and names the
 * problem if it failed, for const and non-const calls alike.
 *
 * Every successful call below is made right after a failing call on the
 * same handle (EXPECT_OK_CLEARS), so a message left stale would show; every
 * object also has failing calls whose message is checked (EXPECT_FAIL_SAYS).
 * A second sweep (EXPECT_FAIL_SETS) makes each of these functions that can
 * fail on a valid handle fail right after a successful call: the message
 * must then be there, and be more than the code's ctr_strerror text.
 * scripts/check-last-error.sh (make check) fails when an exported function
 * that takes a handle is not named in this file.
 */
#include <stdlib.h>
#include <string.h>

#include "comm_fake.h"
#include "test_util.h"

#define B 4 /* batch */
#define D 8 /* feature dimension */
#define NIN 6 /* encoder input features */

static int64_t sink_i64;
static double sink_f64;
static float sink_f32[64];
static unsigned char sink_buf[4096];
static size_t sink_size;

/* fail (a call on h that must fail and leave a message), then call, which
 * must succeed and leave "". */
#define EXPECT_OK_CLEARS(last_error, h, fail, call)                                                \
    do {                                                                                           \
        int f_ = (fail), r_;                                                                       \
        ck_assert_msg(f_ != CTR_OK, "%s did not fail", #fail);                                     \
        ck_assert_msg(last_error(h)[0] != '\0', "%s failed without a message", #fail);             \
        r_ = (call);                                                                               \
        ck_assert_msg(r_ == CTR_OK, "%s returned %d (%s)", #call, r_, last_error(h));              \
        ck_assert_msg(last_error(h)[0] == '\0', "%s succeeded and left \"%s\"", #call,             \
                      last_error(h));                                                              \
    } while (0)

/* call must return code and leave a message containing text ("" for any
 * non-empty message). */
#define EXPECT_FAIL_SAYS(last_error, h, code, text, call)                                          \
    do {                                                                                           \
        int r_ = (call);                                                                           \
        const char *m_;                                                                            \
        ck_assert_msg(r_ == (code), "%s returned %d, expected %d", #call, r_, (int)(code));        \
        m_ = last_error(h);                                                                        \
        ck_assert_msg(m_[0] != '\0' && strcmp(m_, ctr_strerror(r_)) != 0,                          \
                      "%s failed without a message of its own (\"%s\")", #call, m_);               \
        ck_assert_msg(strstr(m_, (text)) != NULL, "%s said \"%s\", expected \"%s\" in it", #call,  \
                      m_, (text));                                                                 \
    } while (0)

/* ok (a call on h that must succeed and leave ""), then fail, which must
 * fail and leave a message of its own. */
#define EXPECT_FAIL_SETS(last_error, h, ok, fail)                                                  \
    do {                                                                                           \
        int o_ = (ok), f_;                                                                         \
        ck_assert_msg(o_ == CTR_OK && last_error(h)[0] == '\0', "%s: %d \"%s\"", #ok, o_,          \
                      last_error(h));                                                              \
        f_ = (fail);                                                                               \
        ck_assert_msg(f_ != CTR_OK, "%s did not fail", #fail);                                     \
        ck_assert_msg(last_error(h)[0] != '\0', "%s failed (%d) without a message", #fail, f_);    \
        ck_assert_msg(strcmp(last_error(h), ctr_strerror(f_)) != 0,                                \
                      "%s failed with only the code's text \"%s\"", #fail, last_error(h));         \
    } while (0)
/* The per-object forms: the failing call is a get of an unknown parameter
 * (a const call) or another cheap bad call that changes nothing. */
#define ENC_OK(h, call)                                                                            \
    EXPECT_OK_CLEARS(ctr_encoder_last_error, h, ctr_encoder_get_i64(h, 9999, &sink_i64), call)
#define ENC_FAIL(h, code, text, call) EXPECT_FAIL_SAYS(ctr_encoder_last_error, h, code, text, call)
#define OPT_OK(h, call)                                                                            \
    EXPECT_OK_CLEARS(ctr_optimizer_last_error, h, ctr_optimizer_get_f64(h, 9999, &sink_f64), call)
#define OPT_FAIL(h, code, text, call)                                                              \
    EXPECT_FAIL_SAYS(ctr_optimizer_last_error, h, code, text, call)
#define OBJ_OK(h, call)                                                                            \
    EXPECT_OK_CLEARS(ctr_objective_last_error, h, ctr_objective_get_f64(h, 9999, &sink_f64), call)
#define OBJ_FAIL(h, code, text, call)                                                              \
    EXPECT_FAIL_SAYS(ctr_objective_last_error, h, code, text, call)
#define QUEUE_OK(h, call)                                                                          \
    EXPECT_OK_CLEARS(ctr_queue_last_error, h, ctr_queue_get_i64(h, 9999, &sink_i64), call)
#define QUEUE_FAIL(h, code, text, call) EXPECT_FAIL_SAYS(ctr_queue_last_error, h, code, text, call)
#define BANK_OK(h, call)                                                                           \
    EXPECT_OK_CLEARS(ctr_bank_last_error, h, ctr_bank_get_f64(h, 9999, &sink_f64), call)
#define BANK_FAIL(h, code, text, call) EXPECT_FAIL_SAYS(ctr_bank_last_error, h, code, text, call)
#define RNG_OK(h, call)                                                                            \
    EXPECT_OK_CLEARS(ctr_rng_last_error, h, ctr_rng_uniform(h, NULL, 1), call)
#define RNG_FAIL(h, code, text, call) EXPECT_FAIL_SAYS(ctr_rng_last_error, h, code, text, call)
#define KNN_OK(h, call)                                                                            \
    EXPECT_OK_CLEARS(ctr_knn_last_error, h, ctr_knn_get_f64(h, 9999, &sink_f64), call)
#define KNN_FAIL(h, code, text, call) EXPECT_FAIL_SAYS(ctr_knn_last_error, h, code, text, call)
#define PROBE_OK(h, call)                                                                          \
    EXPECT_OK_CLEARS(ctr_probe_last_error, h, ctr_probe_get_f64(h, 9999, &sink_f64), call)
#define PROBE_FAIL(h, code, text, call) EXPECT_FAIL_SAYS(ctr_probe_last_error, h, code, text, call)
#define RIDGE_OK(h, call)                                                                          \
    EXPECT_OK_CLEARS(ctr_ridge_last_error, h, ctr_ridge_predict(h, NULL, 1, D, NULL), call)
#define RIDGE_FAIL(h, code, text, call) EXPECT_FAIL_SAYS(ctr_ridge_last_error, h, code, text, call)
#define STATE_OK(h, call)                                                                          \
    EXPECT_OK_CLEARS(ctr_state_last_error, h, ctr_state_add_rng(h, NULL, NULL), call)
#define STATE_FAIL(h, code, text, call) EXPECT_FAIL_SAYS(ctr_state_last_error, h, code, text, call)
#define AFF_OK(h, call)                                                                            \
    EXPECT_OK_CLEARS(ctr_affinity_last_error, h, ctr_affinity_get_f64(h, 9999, &sink_f64), call)
#define AFF_FAIL(h, code, text, call)                                                              \
    EXPECT_FAIL_SAYS(ctr_affinity_last_error, h, code, text, call)
#define COMM_OK(h, call)                                                                           \
    EXPECT_OK_CLEARS(ctr_comm_last_error, h, ctr_comm_rank(h, NULL), call)
#define COMM_FAIL(h, code, text, call) EXPECT_FAIL_SAYS(ctr_comm_last_error, h, code, text, call)

/* The forms of the second sweep: the successful call before each failing
 * one is a cheap query (or, for a state, a save to a static buffer). */
#define ENC_SETS(h, call)                                                                          \
    EXPECT_FAIL_SETS(ctr_encoder_last_error, h, ctr_encoder_num_layers(h, &sink_i64), call)
#define OPT_SETS(h, call)                                                                          \
    EXPECT_FAIL_SETS(ctr_optimizer_last_error, h,                                                  \
                     ctr_optimizer_get_i64(h, CTR_OPTIMIZER_P_STEP, &sink_i64), call)
#define OBJ_SETS(h, call)                                                                          \
    EXPECT_FAIL_SETS(ctr_objective_last_error, h,                                                  \
                     ctr_objective_stat(h, CTR_OBJECTIVE_S_CALLS, &sink_f64), call)
#define QUEUE_SETS(h, call)                                                                        \
    EXPECT_FAIL_SETS(ctr_queue_last_error, h,                                                      \
                     ctr_queue_get_i64(h, CTR_QUEUE_P_DIM, &sink_i64), call)
#define BANK_SETS(h, call)                                                                         \
    EXPECT_FAIL_SETS(ctr_bank_last_error, h, ctr_bank_get_i64(h, CTR_BANK_P_DIM, &sink_i64), call)
#define RNG_SETS(h, call) EXPECT_FAIL_SETS(ctr_rng_last_error, h, ctr_rng_uniform(h, NULL, 0), call)
#define KNN_SETS(h, call)                                                                          \
    EXPECT_FAIL_SETS(ctr_knn_last_error, h, ctr_knn_get_i64(h, CTR_KNN_P_K, &sink_i64), call)
#define PROBE_SETS(h, call)                                                                        \
    EXPECT_FAIL_SETS(ctr_probe_last_error, h, ctr_probe_get_f64(h, CTR_PROBE_P_L2, &sink_f64),     \
                     call)
#define RIDGE_SETS(h, call)                                                                        \
    EXPECT_FAIL_SETS(ctr_ridge_last_error, h, ctr_ridge_get_weights(h, sink_f32, sink_f32 + 32),   \
                     call)
#define STATE_SETS(h, call)                                                                        \
    EXPECT_FAIL_SETS(ctr_state_last_error, h,                                                      \
                     ctr_state_save_buffer(h, sink_buf, sizeof(sink_buf), &sink_size), call)
#define AFF_SETS(h, call)                                                                          \
    EXPECT_FAIL_SETS(ctr_affinity_last_error, h,                                                   \
                     ctr_affinity_get_f64(h, CTR_AFFINITY_P_TEMPERATURE, &sink_f64), call)
#define COMM_SETS(h, call)                                                                         \
    EXPECT_FAIL_SETS(ctr_comm_last_error, h, ctr_comm_size(h, &sink_i64), call)

/* n floats 0.1 * sin(seed + i): small, varied, deterministic. */
static float *values(int64_t n, int seed)
{
    float *v = malloc((size_t)n * sizeof(float));
    int64_t i;
    ck_assert_ptr_nonnull(v);
    for (i = 0; i < n; i++)
        v[i] = 0.5f * (float)sin((double)(seed * 7 + i) * 0.37);
    return v;
}

/* A buffer large enough for every save_buffer below. */
#define SAVE_CAP ((size_t)1 << 20)

/* The two saves of handle h through the object's OK / FAIL forms: a path in
 * a missing folder fails naming it, a 1-byte buffer is too small, and a
 * fresh file and a large buffer then succeed and clear the message. */
#define SAVES_CLEAR(OK, FAIL, h, save, save_buffer)                                                \
    do {                                                                                           \
        void *buf_ = malloc(SAVE_CAP);                                                             \
        size_t size_ = 0;                                                                          \
        test_dir dir_;                                                                             \
        test_dir_setup(&dir_, "lasterr", "saved.ctr");                                             \
        FAIL(h, CTR_E_IO, "/no/such/dir", save(h, "/no/such/dir/saved.ctr"));                      \
        OK(h, save(h, dir_.path));                                                                 \
        FAIL(h, CTR_E_BUFFER_TOO_SMALL, "", save_buffer(h, buf_, 1, &size_));                      \
        OK(h, save_buffer(h, buf_, SAVE_CAP, &size_));                                             \
        test_dir_teardown(&dir_);                                                                  \
        free(buf_);                                                                                \
    } while (0)

/* ---- encoder -------------------------------------------------------------- */

START_TEST(test_encoder_build)
{
    int64_t vec[1] = {NIN}, img[3] = {2, 6, 6}, seq[2] = {5, 3}, src = 0;
    ctr_encoder *v = NULL, *im = NULL, *sq = NULL;
    ck_assert_int_eq(ctr_encoder_create(&v, vec, 1, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_create(&im, img, 3, 2, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_create(&sq, seq, 2, 3, NULL), CTR_OK);
    ck_assert_str_eq(ctr_encoder_last_error(v), "");

    ENC_FAIL(v, CTR_E_INVALID_ARG, "out_features", ctr_encoder_add_linear(v, 0, 1));
    ENC_OK(v, ctr_encoder_add_linear(v, D, 1));
    ENC_FAIL(v, CTR_E_INVALID_ARG, "eps", ctr_encoder_add_batchnorm(v, -1.0, 0.1, 1));
    ENC_OK(v, ctr_encoder_add_batchnorm(v, 1e-5, 0.1, 1));
    ENC_FAIL(v, CTR_E_INVALID_ARG, "kind", ctr_encoder_add_activation(v, 9999));
    ENC_OK(v, ctr_encoder_add_activation(v, CTR_LAYER_RELU));
    ENC_OK(v, ctr_encoder_last_layer(v, &src));
    ENC_OK(v, ctr_encoder_add_linear(v, D, 0));
    ENC_OK(v, ctr_encoder_add_layernorm(v, 1e-5, 1));
    ENC_FAIL(v, CTR_E_INVALID_ARG, "shortcut",
             ctr_encoder_add_residual(v, src, 9999, 1, 0.0, 0.0));
    ENC_OK(v, ctr_encoder_add_residual(v, src, CTR_SHORTCUT_IDENTITY, 1, 0.0, 0.0));
    ENC_FAIL(v, CTR_E_INVALID_ARG, "p", ctr_encoder_add_dropout(v, 1.5));
    ENC_OK(v, ctr_encoder_add_dropout(v, 0.1));
    ENC_OK(v, ctr_encoder_add_l2norm(v, 1e-12));

    ENC_OK(im, ctr_encoder_add_conv2d(im, 3, 3, 1, 1, 1));
    ENC_OK(im, ctr_encoder_add_pool2d(im, CTR_LAYER_MAXPOOL2D, 2, 2, 0));
    ENC_OK(im, ctr_encoder_add_global_avgpool(im));
    ENC_FAIL(im, CTR_E_SHAPE, "", ctr_encoder_add_gru(im, 4));
    ENC_FAIL(im, CTR_E_SHAPE, "flatten", ctr_encoder_add_flatten(im));
    ENC_OK(sq, ctr_encoder_add_conv1d(sq, 4, 3, 1, 1, 1));
    ENC_OK(sq, ctr_encoder_add_gru(sq, 4));
    ENC_OK(sq, ctr_encoder_add_flatten(sq));
    ctr_encoder_destroy(v);
    ctr_encoder_destroy(im);
    ctr_encoder_destroy(sq);
}
END_TEST

/* A small vector encoder: linear, batch norm, ReLU, linear. */
static ctr_encoder *small_encoder(uint64_t seed)
{
    int64_t vec[1] = {NIN};
    ctr_encoder *e = NULL;
    ck_assert_int_eq(ctr_encoder_create(&e, vec, 1, seed, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(e, D, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_activation(e, CTR_LAYER_RELU), CTR_OK);
    ck_assert_int_eq(ctr_encoder_add_linear(e, D, 1), CTR_OK);
    return e;
}

START_TEST(test_encoder_run)
{
    ctr_encoder *e = small_encoder(4), *k = NULL;
    float *x = values(B * NIN, 1), *dy = values(B * D, 2), y[B * D], dx[B * NIN], out[B * D];
    float *params, *stats;
    int64_t n_params = 0, n_stats = 0, n = 0, layer = 0, dims[4], off = 0;
    int32_t kind = 0, nd = 0, role = 0;
    size_t bytes = 0;
    ENC_FAIL(e, CTR_E_INVALID_ARG, "n", ctr_encoder_forward(e, y, x, 0, CTR_ENCODER_TRAIN));
    ENC_OK(e, ctr_encoder_forward(e, y, x, B, CTR_ENCODER_TRAIN));
    ENC_OK(e, ctr_encoder_backward(e, dx, dy));
    ENC_FAIL(e, CTR_E_INVALID_ARG, "layer", ctr_encoder_layer_output(e, out, 99));
    ENC_OK(e, ctr_encoder_layer_output(e, out, 0));
    ENC_OK(e, ctr_encoder_zero_grad(e));
    /* the accessors of issue 13's item 5 */
    ENC_FAIL(e, CTR_E_INVALID_ARG, "out", ctr_encoder_num_layers(e, NULL));
    ENC_OK(e, ctr_encoder_num_layers(e, &n));
    ENC_OK(e, ctr_encoder_last_layer(e, &layer));
    ENC_FAIL(e, CTR_E_INVALID_ARG, "layer", ctr_encoder_layer_kind(e, &kind, 99));
    ENC_OK(e, ctr_encoder_layer_kind(e, &kind, 1));
    ENC_FAIL(e, CTR_E_INVALID_ARG, "layer", ctr_encoder_shape(e, dims, &nd, &n, 99));
    ENC_OK(e, ctr_encoder_shape(e, dims, &nd, &n, CTR_ENCODER_OUTPUT));
    ENC_OK(e, ctr_encoder_num_params(e, &n_params));
    ENC_OK(e, ctr_encoder_num_tensors(e, &n));
    ENC_FAIL(e, CTR_E_INVALID_ARG, "tensor",
             ctr_encoder_tensor_info(e, &layer, &role, &off, dims, &nd, 999));
    ENC_OK(e, ctr_encoder_tensor_info(e, &layer, &role, &off, dims, &nd, 0));
    params = malloc((size_t)n_params * sizeof(float));
    ENC_FAIL(e, CTR_E_SHAPE, "out: expected", ctr_encoder_get_params(e, params, n_params + 1));
    ENC_OK(e, ctr_encoder_get_params(e, params, n_params));
    ENC_FAIL(e, CTR_E_SHAPE, "expected", ctr_encoder_set_params(e, params, n_params - 1));
    ENC_OK(e, ctr_encoder_set_params(e, params, n_params));
    ENC_OK(e, ctr_encoder_get_grads(e, params, n_params));
    ENC_OK(e, ctr_encoder_num_stats(e, &n_stats));
    stats = malloc((size_t)n_stats * sizeof(float));
    ENC_OK(e, ctr_encoder_get_stats(e, stats, n_stats));
    ENC_OK(e, ctr_encoder_set_stats(e, stats, n_stats));
    ENC_FAIL(e, CTR_E_INVALID_ARG, "", ctr_encoder_set_i64(e, 9999, 1));
    ENC_OK(e, ctr_encoder_set_i64(e, CTR_ENCODER_P_BN_GROUPS, 1));
    ENC_OK(e, ctr_encoder_get_i64(e, CTR_ENCODER_P_BN_GROUPS, &n));
    ENC_OK(e, ctr_encoder_memory(e, &bytes, B));
    ENC_OK(e, ctr_encoder_workspace_size(e, &bytes, B, CTR_ENCODER_TRAIN));
    ENC_FAIL(e, CTR_E_INVALID_ARG, "out", ctr_encoder_clone(NULL, e));
    ENC_OK(e, ctr_encoder_clone(&k, e));
    ck_assert_str_eq(ctr_encoder_last_error(k), "");
    ENC_FAIL(k, CTR_E_INVALID_ARG, "m", ctr_encoder_momentum_update(k, e, 2.0, 1));
    ENC_OK(k, ctr_encoder_momentum_update(k, e, 0.9, 1));
    ENC_OK(k, ctr_encoder_copy_params(k, e, 1));
    free(params);
    free(stats);
    free(x);
    free(dy);
    ctr_encoder_destroy(k);
    ctr_encoder_destroy(e);
}
END_TEST

START_TEST(test_encoder_save)
{
    ctr_encoder *e = small_encoder(5);
    SAVES_CLEAR(ENC_OK, ENC_FAIL, e, ctr_encoder_save, ctr_encoder_save_buffer);
    ctr_encoder_destroy(e);
}
END_TEST

/* ---- optimizer ------------------------------------------------------------ */

START_TEST(test_optimizer)
{
    ctr_encoder *e = small_encoder(6);
    ctr_optimizer *o = NULL, *bo = NULL;
    float *x = values(B * NIN, 3), *dy = values(B * D, 4), y[B * D], dx[B * NIN];
    float *p = values(10, 5), *g = values(10, 6);
    int64_t sizes[2] = {6, 4}, step = 0;
    int32_t excluded[2] = {0, 1};
    double lr = 0.0;
    ck_assert_int_eq(ctr_optimizer_create_for_encoder(&o, CTR_OPTIMIZER_SGD, e, NULL), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_create(&bo, CTR_OPTIMIZER_ADAMW, 10, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_forward(e, y, x, B, CTR_ENCODER_TRAIN), CTR_OK);
    ck_assert_int_eq(ctr_encoder_backward(e, dx, dy), CTR_OK);

    OPT_FAIL(o, CTR_E_INVALID_ARG, "", ctr_optimizer_set_f64(o, CTR_OPTIMIZER_P_LR, -1.0));
    OPT_OK(o, ctr_optimizer_set_f64(o, CTR_OPTIMIZER_P_LR, 0.1));
    OPT_OK(o, ctr_optimizer_get_f64(o, CTR_OPTIMIZER_P_LR, &lr));
    OPT_FAIL(o, CTR_E_INVALID_ARG, "", ctr_optimizer_set_i64(o, CTR_OPTIMIZER_P_NESTEROV, 5));
    OPT_OK(o, ctr_optimizer_set_i64(o, CTR_OPTIMIZER_P_NESTEROV, 0));
    OPT_OK(o, ctr_optimizer_get_i64(o, CTR_OPTIMIZER_P_STEP, &step));
    OPT_FAIL(bo, CTR_E_STAGE, "", ctr_optimizer_step(bo));
    OPT_OK(o, ctr_optimizer_step(o));
    OPT_OK(o, ctr_optimizer_reset(o));
    OPT_FAIL(bo, CTR_E_INVALID_ARG, "", ctr_optimizer_set_segments(bo, sizes, excluded, 0));
    OPT_OK(bo, ctr_optimizer_set_segments(bo, sizes, excluded, 2));
    OPT_FAIL(bo, CTR_E_SHAPE, "n", ctr_optimizer_step_buffer(bo, p, g, 9));
    OPT_OK(bo, ctr_optimizer_step_buffer(bo, p, g, 10));

    SAVES_CLEAR(OPT_OK, OPT_FAIL, o, ctr_optimizer_save, ctr_optimizer_save_buffer);
    free(x);
    free(dy);
    free(p);
    free(g);
    ctr_optimizer_destroy(o);
    ctr_optimizer_destroy(bo);
    ctr_encoder_destroy(e);
}
END_TEST

/* ---- objective ------------------------------------------------------------ */

static ctr_objective *objective(int32_t kind)
{
    ctr_objective *o = NULL;
    ck_assert_int_eq(ctr_objective_create(&o, kind, NULL), CTR_OK);
    return o;
}

START_TEST(test_objective_params)
{
    ctr_objective *o = objective(CTR_OBJECTIVE_INFONCE);
    size_t bytes = 0;
    double v = 0.0;
    int64_t i = 0;
    OBJ_FAIL(o, CTR_E_INVALID_ARG, "CTR_OBJECTIVE_P_TEMPERATURE must be in",
             ctr_objective_set_f64(o, CTR_OBJECTIVE_P_TEMPERATURE, -1.0));
    OBJ_OK(o, ctr_objective_set_f64(o, CTR_OBJECTIVE_P_TEMPERATURE, 0.2));
    OBJ_OK(o, ctr_objective_get_f64(o, CTR_OBJECTIVE_P_TEMPERATURE, &v));
    OBJ_FAIL(o, CTR_E_INVALID_ARG, "CTR_OBJECTIVE_P_NORMALIZE",
             ctr_objective_set_i64(o, CTR_OBJECTIVE_P_NORMALIZE, 7));
    OBJ_OK(o, ctr_objective_set_i64(o, CTR_OBJECTIVE_P_NORMALIZE, 1));
    OBJ_OK(o, ctr_objective_get_i64(o, CTR_OBJECTIVE_P_NORMALIZE, &i));
    OBJ_FAIL(o, CTR_E_INVALID_ARG, "", ctr_objective_stat(o, 9999, &v));
    OBJ_OK(o, ctr_objective_stat(o, CTR_OBJECTIVE_S_CALLS, &v));
    OBJ_FAIL(o, CTR_E_INVALID_ARG, "b", ctr_objective_workspace_size(o, &bytes, 0, D, 0));
    OBJ_OK(o, ctr_objective_workspace_size(o, &bytes, B, D, 0));
    OBJ_OK(o, ctr_objective_reset(o));
    /* ctr_objective_kind answers with the kind itself */
    ck_assert_int_eq(ctr_objective_get_f64(o, 9999, &v), CTR_E_INVALID_ARG);
    ck_assert_int_eq(ctr_objective_kind(o), CTR_OBJECTIVE_INFONCE);
    ck_assert_str_eq(ctr_objective_last_error(o), "");

    SAVES_CLEAR(OBJ_OK, OBJ_FAIL, o, ctr_objective_save, ctr_objective_save_buffer);
    ctr_objective_destroy(o);
}
END_TEST

START_TEST(test_objective_losses)
{
    ctr_objective *inf = objective(CTR_OBJECTIVE_INFONCE), *nt = objective(CTR_OBJECTIVE_NTXENT);
    ctr_objective *sh = objective(CTR_OBJECTIVE_INFONCE_SHARED);
    ctr_objective *np = objective(CTR_OBJECTIVE_NPAIR), *nce = objective(CTR_OBJECTIVE_NCE);
    ctr_objective *bs = objective(CTR_OBJECTIVE_BANK_SOFTMAX);
    ctr_queue *q = NULL;
    float *a = values(B * D, 7), *p = values(B * D, 8), *neg = values(16 * D, 9);
    float ga[B * D], gp[B * D], gn[16 * D];
    int64_t self_idx[B] = {0, 3, 5, 9}, noise_idx[B * 2] = {1, 2, 4, 6, 7, 8, 10, 11};
    double loss = 0.0;
    ck_assert_int_eq(ctr_queue_create(&q, 16, D, CTR_QUEUE_INIT_RANDOM, 1, NULL), CTR_OK);

    OBJ_FAIL(inf, CTR_E_INVALID_ARG, "leading dimension of a (1) is < 8",
             ctr_objective_infonce(inf, &loss, a, 1, p, D, B, D, NULL, ga, gp));
    OBJ_OK(inf, ctr_objective_infonce(inf, &loss, a, D, p, D, B, D, NULL, ga, gp));
    OBJ_FAIL(inf, CTR_E_INVALID_ARG,
             "needs an objective of kind INFONCE_SHARED (this one is INFONCE)",
             ctr_objective_infonce_queue(inf, &loss, a, D, p, D, B, D, q, NULL, ga, gp));
    OBJ_OK(sh, ctr_objective_infonce_queue(sh, &loss, a, D, p, D, B, D, q, NULL, ga, gp));
    OBJ_OK(nt, ctr_objective_ntxent(nt, &loss, a, D, p, D, B, D, NULL, ga, gp));
    OBJ_OK(sh, ctr_objective_infonce_shared(sh, &loss, a, D, p, D, B, D, neg, D, 16, NULL, NULL,
                                            ga, gp, gn));
    OBJ_OK(np, ctr_objective_npair(np, &loss, a, D, p, D, B, D, ga, gp));
    OBJ_OK(nce, ctr_objective_nce(nce, &loss, a, D, B, D, neg, D, 16, self_idx, noise_idx, 2,
                                  ga));
    OBJ_OK(bs, ctr_objective_bank_softmax(bs, &loss, a, D, B, D, neg, D, 16, self_idx, ga));
    /* a call of another kind's loss */
    OBJ_FAIL(nt, CTR_E_INVALID_ARG, "", ctr_objective_npair(nt, &loss, a, D, p, D, B, D, ga, gp));
    free(a);
    free(p);
    free(neg);
    ctr_queue_destroy(q);
    ctr_objective_destroy(inf);
    ctr_objective_destroy(nt);
    ctr_objective_destroy(sh);
    ctr_objective_destroy(np);
    ctr_objective_destroy(nce);
    ctr_objective_destroy(bs);
}
END_TEST

START_TEST(test_objective_extensions)
{
    enum { T = 5, DC = 3, K = 2, P = 4 };
    ctr_objective *cpc = objective(CTR_OBJECTIVE_CPC), *lg = objective(CTR_OBJECTIVE_LOCAL_GLOBAL);
    ctr_objective *bil = objective(CTR_OBJECTIVE_BILINEAR), *dis = objective(CTR_OBJECTIVE_DISTILL);
    float *z = values(B * T * D, 10), *c = values(B * T * DC, 11), *w = values(K * D * DC, 12);
    float *g = values(B * D, 13), *l = values(B * P * D, 14), *wb = values(D * D, 15);
    float gq[B * D], gk[B * D], gw[D * D];
    int64_t labels[B] = {0, 1, 2, 1};
    ctr_cpc_args ca;
    ctr_local_global_args la;
    size_t bytes = 0;
    double loss = 0.0;
    ck_assert_int_eq(ctr_cpc_args_init(&ca), CTR_OK);
    ca.z = z, ca.c = c, ca.w = w, ca.b = B, ca.t = T, ca.d = D, ca.dc = DC, ca.steps = K;
    OBJ_FAIL(cpc, CTR_E_INVALID_ARG, "steps",
             ctr_objective_cpc_workspace_size(cpc, &bytes, B, T, D, DC, T, 0, 0));
    OBJ_OK(cpc, ctr_objective_cpc_workspace_size(cpc, &bytes, B, T, D, DC, K, 0, 0));
    ca.steps = T;
    OBJ_FAIL(cpc, CTR_E_INVALID_ARG, "steps", ctr_objective_cpc(cpc, &ca, &loss));
    ca.steps = K;
    OBJ_OK(cpc, ctr_objective_cpc(cpc, &ca, &loss));

    ck_assert_int_eq(ctr_local_global_args_init(&la), CTR_OK);
    la.b = B, la.p = P, la.d = D, la.g = g, la.ldg = D, la.l = l;
    la.l_batch_stride = P * D, la.l_pos_stride = D, la.l_chan_stride = 1;
    la.estimator = 9999;
    OBJ_FAIL(lg, CTR_E_INVALID_ARG, "estimator", ctr_objective_local_global(lg, &loss, &la));
    la.estimator = CTR_MI_INFONCE;
    OBJ_OK(lg, ctr_objective_local_global(lg, &loss, &la));

    OBJ_FAIL(bil, CTR_E_INVALID_ARG, "w",
             ctr_objective_bilinear(bil, &loss, g, D, g, D, B, D, NULL, gq, gk, gw));
    OBJ_OK(bil, ctr_objective_bilinear(bil, &loss, g, D, z, D, B, D, wb, gq, gk, gw));
    OBJ_FAIL(dis, CTR_E_INVALID_ARG, "labels",
             ctr_objective_distill(dis, &loss, g, 3, z, 3, NULL, B, 3, 1.0, 0.0, gq));
    OBJ_OK(dis, ctr_objective_distill(dis, &loss, g, 3, z, 3, labels, B, 3, 1.0, 1.0, gq));
    free(z);
    free(c);
    free(w);
    free(g);
    free(l);
    free(wb);
    ctr_objective_destroy(cpc);
    ctr_objective_destroy(lg);
    ctr_objective_destroy(bil);
    ctr_objective_destroy(dis);
}
END_TEST

/* ---- queue ---------------------------------------------------------------- */

START_TEST(test_queue)
{
    ctr_queue *q = NULL;
    float *k = values(B * D, 16), copy[16 * D];
    const float *keys = NULL;
    const int64_t *ids = NULL;
    int64_t kid[B] = {1, 2, 3, 4}, idcopy[16], count = 0, ld = 0;
    ck_assert_int_eq(ctr_queue_create(&q, 16, D, CTR_QUEUE_IDS, 1, NULL), CTR_OK);
    QUEUE_FAIL(q, CTR_E_INVALID_ARG, "ld", ctr_queue_enqueue(q, k, B, 1, kid));
    QUEUE_OK(q, ctr_queue_enqueue(q, k, B, D, kid));
    QUEUE_FAIL(q, CTR_E_INVALID_ARG, "keys", ctr_queue_keys(q, NULL, &count, &ld));
    QUEUE_OK(q, ctr_queue_keys(q, &keys, &count, &ld));
    QUEUE_OK(q, ctr_queue_ids(q, &ids, &count));
    QUEUE_FAIL(q, CTR_E_INVALID_ARG, "ld", ctr_queue_copy(q, copy, 1, idcopy, 16, &count));
    QUEUE_OK(q, ctr_queue_copy(q, copy, D, idcopy, 16, &count));
    QUEUE_OK(q, ctr_queue_get_i64(q, CTR_QUEUE_P_COUNT, &count));
    SAVES_CLEAR(QUEUE_OK, QUEUE_FAIL, q, ctr_queue_save, ctr_queue_save_buffer);
    free(k);
    ctr_queue_destroy(q);
}
END_TEST

/* ---- bank ----------------------------------------------------------------- */

START_TEST(test_bank)
{
    ctr_bank *b = NULL;
    float *f = values(B * D, 17), out[B * D];
    const float *rows = NULL;
    int64_t idx[B] = {0, 2, 4, 6}, samples[B * 3], n = 0, ld = 0;
    double weights[16], v = 0.0;
    int i;
    for (i = 0; i < 16; i++)
        weights[i] = 1.0 + i;
    ck_assert_int_eq(ctr_bank_create(&b, 16, D, 1, NULL), CTR_OK);
    BANK_FAIL(b, CTR_E_INVALID_ARG, "rows", ctr_bank_rows(b, NULL, &n, &ld));
    BANK_OK(b, ctr_bank_rows(b, &rows, &n, &ld));
    BANK_FAIL(b, CTR_E_INVALID_ARG, "ld", ctr_bank_gather(b, idx, B, out, 1));
    BANK_OK(b, ctr_bank_gather(b, idx, B, out, D));
    BANK_OK(b, ctr_bank_set_rows(b, idx, B, f, D));
    BANK_OK(b, ctr_bank_update(b, idx, B, f, D));
    BANK_FAIL(b, CTR_E_INVALID_ARG, "n", ctr_bank_set_weights(b, weights, 15));
    BANK_OK(b, ctr_bank_set_weights(b, weights, 16));
    BANK_OK(b, ctr_bank_sample(b, samples, B, 3, idx));
    BANK_FAIL(b, CTR_E_INVALID_ARG, "CTR_BANK_P_MOMENTUM must be in [0, 1] (got 2)",
              ctr_bank_set_f64(b, CTR_BANK_P_MOMENTUM, 2.0));
    BANK_OK(b, ctr_bank_set_f64(b, CTR_BANK_P_MOMENTUM, 0.5));
    BANK_OK(b, ctr_bank_get_f64(b, CTR_BANK_P_MOMENTUM, &v));
    BANK_OK(b, ctr_bank_get_i64(b, CTR_BANK_P_ROWS, &n));
    SAVES_CLEAR(BANK_OK, BANK_FAIL, b, ctr_bank_save, ctr_bank_save_buffer);
    free(f);
    ctr_bank_destroy(b);
}
END_TEST

/* ---- rng ------------------------------------------------------------------ */

START_TEST(test_rng)
{
    ctr_rng *r = NULL, *child = NULL;
    float u[8];
    int64_t perm[8];
    ck_assert_int_eq(ctr_rng_create(&r, 1, NULL), CTR_OK);
    RNG_FAIL(r, CTR_E_INVALID_ARG, "child", ctr_rng_split(r, NULL));
    RNG_OK(r, ctr_rng_split(r, &child));
    ck_assert_str_eq(ctr_rng_last_error(child), "");
    RNG_FAIL(r, CTR_E_INVALID_ARG, "n", ctr_rng_uniform(r, u, -1));
    RNG_OK(r, ctr_rng_uniform(r, u, 8));
    RNG_FAIL(r, CTR_E_INVALID_ARG, "std", ctr_rng_normal(r, u, 8, 0.0f, -1.0f));
    RNG_OK(r, ctr_rng_normal(r, u, 8, 0.0f, 1.0f));
    RNG_FAIL(r, CTR_E_INVALID_ARG, "bound", ctr_rng_below(r, perm, 8, 0));
    RNG_OK(r, ctr_rng_below(r, perm, 8, 5));
    RNG_OK(r, ctr_rng_permutation(r, perm, 8));
    SAVES_CLEAR(RNG_OK, RNG_FAIL, r, ctr_rng_save, ctr_rng_save_buffer);
    ctr_rng_destroy(child);
    ctr_rng_destroy(r);
}
END_TEST

/* ---- knn ------------------------------------------------------------------ */

#define NTR 12 /* training rows of the evaluators */

START_TEST(test_knn)
{
    ctr_knn *k = NULL;
    float *tr = values(NTR * D, 18), *te = values(B * D, 19), scores[B * 3];
    int64_t tr_lab[NTR], te_lab[B] = {0, 1, 2, 0}, pred[B], v = 0;
    double f = 0.0, acc = 0.0;
    size_t bytes = 0;
    int i;
    for (i = 0; i < NTR; i++)
        tr_lab[i] = i % 3;
    ck_assert_int_eq(ctr_knn_create(&k, NULL), CTR_OK);
    KNN_FAIL(k, CTR_E_INVALID_ARG, "CTR_KNN_P_K", ctr_knn_set_i64(k, CTR_KNN_P_K, 0));
    KNN_OK(k, ctr_knn_set_i64(k, CTR_KNN_P_K, 3));
    KNN_OK(k, ctr_knn_get_i64(k, CTR_KNN_P_K, &v));
    KNN_FAIL(k, CTR_E_INVALID_ARG, "CTR_KNN_P_SIGMA", ctr_knn_set_f64(k, CTR_KNN_P_SIGMA, -1.0));
    KNN_OK(k, ctr_knn_set_f64(k, CTR_KNN_P_SIGMA, 0.1));
    KNN_OK(k, ctr_knn_get_f64(k, CTR_KNN_P_SIGMA, &f));
    KNN_OK(k, ctr_knn_workspace_size(k, NTR, B, D, 3, &bytes));
    KNN_FAIL(k, CTR_E_INVALID_ARG, "",
             ctr_knn_classify(k, tr, NTR, 1, tr_lab, te, B, D, D, 3, pred, scores));
    KNN_OK(k, ctr_knn_classify(k, tr, NTR, D, tr_lab, te, B, D, D, 3, pred, scores));
    KNN_OK(k, ctr_knn_accuracy(k, tr, NTR, D, tr_lab, te, B, D, D, 3, te_lab, &acc));
    free(tr);
    free(te);
    ctr_knn_destroy(k);
}
END_TEST

/* ---- probe ---------------------------------------------------------------- */

START_TEST(test_probe)
{
    ctr_probe *p = NULL;
    float *x = values(NTR * D, 20), probs[NTR * 3], w[3 * D], bias[3];
    int64_t lab[NTR], pred[NTR], it = 0, v = 0;
    int32_t conv = 0;
    double f = 0.0, acc = 0.0, loss = 0.0;
    int i;
    for (i = 0; i < NTR; i++)
        lab[i] = i % 3;
    ck_assert_int_eq(ctr_probe_create(&p, D, 3, NULL), CTR_OK);
    PROBE_FAIL(p, CTR_E_STAGE, "not fitted", ctr_probe_fit_info(p, &loss, &it, &conv));
    PROBE_FAIL(p, CTR_E_INVALID_ARG, "CTR_PROBE_P_L2", ctr_probe_set_f64(p, CTR_PROBE_P_L2, -1.0));
    PROBE_OK(p, ctr_probe_set_f64(p, CTR_PROBE_P_L2, 1e-3));
    PROBE_OK(p, ctr_probe_get_f64(p, CTR_PROBE_P_L2, &f));
    PROBE_OK(p, ctr_probe_set_i64(p, CTR_PROBE_P_MAX_ITER, 20));
    PROBE_OK(p, ctr_probe_get_i64(p, CTR_PROBE_P_MAX_ITER, &v));
    PROBE_FAIL(p, CTR_E_INVALID_ARG, "", ctr_probe_fit(p, x, NTR, 1, lab));
    PROBE_OK(p, ctr_probe_fit(p, x, NTR, D, lab));
    PROBE_OK(p, ctr_probe_predict(p, x, NTR, D, pred, probs));
    PROBE_OK(p, ctr_probe_accuracy(p, x, NTR, D, lab, &acc));
    PROBE_OK(p, ctr_probe_fit_info(p, &loss, &it, &conv));
    PROBE_OK(p, ctr_probe_get_weights(p, w, bias));
    free(x);
    ctr_probe_destroy(p);
}
END_TEST

/* ---- ridge ---------------------------------------------------------------- */

START_TEST(test_ridge)
{
    ctr_ridge *r = NULL;
    float *x = values(NTR * D, 21), *y = values(NTR * 2, 22), pred[NTR * 2], w[2 * D], bias[2];
    double r2[2], mean_r2 = 0.0;
    ck_assert_int_eq(ctr_ridge_create(&r, D, 2, NULL), CTR_OK);
    RIDGE_FAIL(r, CTR_E_STAGE, "", ctr_ridge_get_weights(r, w, bias));
    RIDGE_FAIL(r, CTR_E_INVALID_ARG, "l2", ctr_ridge_fit(r, x, NTR, D, y, 2, -1.0, 1));
    RIDGE_OK(r, ctr_ridge_fit(r, x, NTR, D, y, 2, 1e-2, 1));
    RIDGE_OK(r, ctr_ridge_predict(r, x, NTR, D, pred));
    RIDGE_OK(r, ctr_ridge_r2(r, x, NTR, D, y, 2, r2, &mean_r2));
    RIDGE_OK(r, ctr_ridge_get_weights(r, w, bias));
    free(x);
    free(y);
    ctr_ridge_destroy(r);
}
END_TEST

/* ---- state ---------------------------------------------------------------- */

/* The loads of a state: a missing file and a cut buffer fail, the file and
 * the buffer it saved load. */
static void state_loads(ctr_state *st)
{
    void *buf = malloc(SAVE_CAP);
    size_t size = 0;
    test_dir dir;
    test_dir_setup(&dir, "lasterr_state", "st.ctr");
    ck_assert_int_eq(ctr_state_save(st, dir.path), CTR_OK);
    STATE_FAIL(st, CTR_E_IO, "/no/such/dir", ctr_state_load(st, "/no/such/dir/st.ctr"));
    STATE_OK(st, ctr_state_load(st, dir.path));
    ck_assert_int_eq(ctr_state_save_buffer(st, buf, SAVE_CAP, &size), CTR_OK);
    STATE_FAIL(st, CTR_E_CORRUPT, "", ctr_state_load_buffer(st, buf, size / 2));
    STATE_OK(st, ctr_state_load_buffer(st, buf, size));
    test_dir_teardown(&dir);
    free(buf);
}

START_TEST(test_state)
{
    ctr_state *st = NULL;
    ctr_encoder *e = small_encoder(7);
    ctr_optimizer *o = NULL;
    ctr_objective *obj = objective(CTR_OBJECTIVE_NTXENT);
    ctr_queue *q = NULL;
    ctr_bank *b = NULL;
    ctr_rng *r = NULL;
    ck_assert_int_eq(ctr_optimizer_create_for_encoder(&o, CTR_OPTIMIZER_SGD, e, NULL), CTR_OK);
    ck_assert_int_eq(ctr_queue_create(&q, 16, D, 0, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_create(&b, 16, D, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_create(&r, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_state_create(&st, NULL), CTR_OK);
    STATE_OK(st, ctr_state_add_encoder(st, "encoder", e));
    STATE_FAIL(st, CTR_E_INVALID_ARG, "encoder", ctr_state_add_optimizer(st, "encoder", o));
    STATE_OK(st, ctr_state_add_optimizer(st, "optimizer", o));
    STATE_OK(st, ctr_state_add_objective(st, "objective", obj));
    STATE_OK(st, ctr_state_add_queue(st, "queue", q));
    STATE_OK(st, ctr_state_add_bank(st, "bank", b));
    STATE_OK(st, ctr_state_add_rng(st, "rng", r));
    /* ctr_state_count answers with the count itself */
    ck_assert_int_ne(ctr_state_add_rng(st, NULL, NULL), CTR_OK);
    ck_assert_int_eq(ctr_state_count(st), 6);
    ck_assert_str_eq(ctr_state_last_error(st), "");

    SAVES_CLEAR(STATE_OK, STATE_FAIL, st, ctr_state_save, ctr_state_save_buffer);
    state_loads(st);
    ctr_state_destroy(st);
    ctr_rng_destroy(r);
    ctr_bank_destroy(b);
    ctr_queue_destroy(q);
    ctr_objective_destroy(obj);
    ctr_optimizer_destroy(o);
    ctr_encoder_destroy(e);
}
END_TEST

/* ---- affinity ------------------------------------------------------------- */

START_TEST(test_affinity)
{
    enum { AB = 1, AC = 2, AH = 3, AW = 3, ACV = 2, AN = AB * AC * AH * AW };
    ctr_affinity *a = NULL;
    float *fa = values(AN, 23), *fb = values(AN, 24), *v = values(AN, 25), *go = values(AN, 26);
    float out[AN], gfa[AN], gfb[AN], gv[AN];
    int64_t i = 0;
    double f = 0.0, loss = 0.0;
    size_t bytes = 0;
    ck_assert_int_eq(ctr_affinity_create(&a, NULL), CTR_OK);
    AFF_FAIL(a, CTR_E_INVALID_ARG, "CTR_AFFINITY_P_RADIUS",
             ctr_affinity_set_i64(a, CTR_AFFINITY_P_RADIUS, -5));
    AFF_OK(a, ctr_affinity_set_i64(a, CTR_AFFINITY_P_RADIUS, 1));
    AFF_OK(a, ctr_affinity_get_i64(a, CTR_AFFINITY_P_RADIUS, &i));
    AFF_OK(a, ctr_affinity_set_f64(a, CTR_AFFINITY_P_TEMPERATURE, 0.5));
    AFF_OK(a, ctr_affinity_get_f64(a, CTR_AFFINITY_P_TEMPERATURE, &f));
    AFF_FAIL(a, CTR_E_INVALID_ARG, "",
             ctr_affinity_workspace_size(a, 0, AC, AH, AW, ACV, 0, &bytes));
    AFF_OK(a, ctr_affinity_workspace_size(a, AB, AC, AH, AW, ACV, 0, &bytes));
    AFF_OK(a, ctr_affinity_transport(a, out, fa, fb, v, AB, AC, AH, AW, ACV));
    AFF_OK(a, ctr_affinity_backward(a, gfa, gfb, gv, go, fa, fb, v, AB, AC, AH, AW, ACV));
    AFF_OK(a, ctr_affinity_reconstruct(a, &loss, out, fa, fb, v, go, AB, AC, AH, AW, ACV, gfa,
                                       gfb, gv));
    AFF_FAIL(a, CTR_E_INVALID_ARG, "topk",
             ctr_affinity_propagate(a, out, fa, fb, v, AB, AC, AH, AW, ACV, -1));
    AFF_OK(a, ctr_affinity_propagate(a, out, fa, fb, v, AB, AC, AH, AW, ACV, 1));
    free(fa);
    free(fb);
    free(v);
    free(go);
    ctr_affinity_destroy(a);
}
END_TEST

/* ---- comm ----------------------------------------------------------------- */

/* One rank of the fake transport (tests/comm_fake.h) on this thread. */
typedef struct one_rank {
    fake_world w;
    fake_rank fr;
    ctr_comm *comm;
} one_rank;

static void one_rank_open(one_rank *o)
{
    ctr_comm_ops ops;
    memset(o, 0, sizeof(*o));
    o->w.size = 1;
    o->w.fail_rank = -1;
    o->w.alloc_rank = -1;
    pthread_barrier_init(&o->w.bar, NULL, 1);
    pthread_mutex_init(&o->w.mu, NULL);
    o->fr.w = &o->w;
    fake_ops(&ops, &o->fr);
    ck_assert_int_eq(ctr_comm_create(&o->comm, &ops, NULL), CTR_OK);
}

static void one_rank_close(one_rank *o)
{
    ctr_comm_destroy(o->comm);
    pthread_barrier_destroy(&o->w.bar);
    pthread_mutex_destroy(&o->w.mu);
}

START_TEST(test_comm_collectives)
{
    one_rank o;
    ctr_comm *c;
    float f[D];
    int64_t i[D], recv_i[D], rank = 0, size = 0;
    float recv_f[D];
    int j;
    one_rank_open(&o);
    c = o.comm;
    for (j = 0; j < D; j++)
        f[j] = (float)j, i[j] = j;
    ck_assert_str_eq(ctr_comm_last_error(c), "");
    COMM_OK(c, ctr_comm_rank(c, &rank));
    COMM_OK(c, ctr_comm_size(c, &size));
    COMM_FAIL(c, CTR_E_INVALID_ARG, "", ctr_comm_allreduce_f32(c, f, -1));
    COMM_OK(c, ctr_comm_allreduce_f32(c, f, D));
    /* the transport's own failure: its describe text */
    o.w.fail_rank = 0, o.w.fail_call = o.fr.calls;
    COMM_FAIL(c, CTR_E_COMM, "fake transport failure", ctr_comm_allreduce_i64(c, i, D));
    o.w.fail_rank = -1;
    COMM_OK(c, ctr_comm_allreduce_i64(c, i, D));
    COMM_OK(c, ctr_comm_allgather_f32(c, recv_f, f, D));
    COMM_OK(c, ctr_comm_allgather_i64(c, recv_i, i, D));
    COMM_FAIL(c, CTR_E_INVALID_ARG, "root", ctr_comm_broadcast_f32(c, f, D, 5));
    COMM_OK(c, ctr_comm_broadcast_f32(c, f, D, 0));
    COMM_OK(c, ctr_comm_broadcast_i64(c, i, D, 0));
    COMM_OK(c, ctr_comm_average_f32(c, f, D, 2.0));
    one_rank_close(&o);
}
END_TEST

START_TEST(test_comm_training)
{
    one_rank o;
    ctr_comm *c;
    ctr_encoder *e = small_encoder(8);
    ctr_objective *nt = objective(CTR_OBJECTIVE_NTXENT), *inf = objective(CTR_OBJECTIVE_INFONCE);
    ctr_queue *q = NULL;
    ctr_rng *r = NULL;
    float *x = values(B * NIN, 27), *dy = values(B * D, 28), *z1 = values(B * D, 29);
    float *z2 = values(B * D, 30), y[B * D], dx[B * NIN], g1[B * D], g2[B * D];
    float xs[B * NIN], xu[B * NIN];
    int64_t perm[B], ids[B] = {1, 2, 3, 4};
    double loss = 0.0;
    one_rank_open(&o);
    c = o.comm;
    ck_assert_int_eq(ctr_queue_create(&q, 16, D, CTR_QUEUE_IDS, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_create(&r, 1, NULL), CTR_OK);
    COMM_FAIL(c, CTR_E_INVALID_ARG, "", ctr_comm_encoder_broadcast(c, e, 3));
    COMM_OK(c, ctr_comm_encoder_broadcast(c, e, 0));
    COMM_OK(c, ctr_comm_encoder_forward(c, e, y, x, B));
    COMM_OK(c, ctr_comm_encoder_backward(c, e, dx, dy));
    COMM_FAIL(c, CTR_E_INVALID_ARG, "", ctr_comm_encoder_grads(c, e, 9999, 1.0));
    COMM_OK(c, ctr_comm_encoder_grads(c, e, CTR_COMM_MEAN, 1.0));
    COMM_OK(c, ctr_comm_ntxent(c, nt, &loss, z1, D, z2, D, B, D, g1, g2));
    COMM_OK(c, ctr_comm_infonce(c, inf, &loss, z1, D, z2, D, B, D, g1, g2));
    COMM_FAIL(c, CTR_E_INVALID_ARG, "", ctr_comm_queue_enqueue(c, q, z1, B, 1, ids));
    COMM_OK(c, ctr_comm_queue_enqueue(c, q, z1, B, D, ids));
    COMM_OK(c, ctr_comm_shuffle_rows(c, r, perm, xs, x, B, NIN));
    COMM_OK(c, ctr_comm_unshuffle_rows(c, perm, xu, xs, B, NIN));
    one_rank_close(&o);
    free(x);
    free(dy);
    free(z1);
    free(z2);
    ctr_rng_destroy(r);
    ctr_queue_destroy(q);
    ctr_objective_destroy(nt);
    ctr_objective_destroy(inf);
    ctr_encoder_destroy(e);
}
END_TEST

START_TEST(test_comm_bank)
{
    one_rank o;
    ctr_comm *c;
    ctr_bank *shard = NULL;
    ctr_objective *nce = objective(CTR_OBJECTIVE_NCE), *bs = objective(CTR_OBJECTIVE_BANK_SOFTMAX);
    float *z = values(B * D, 31), gz[B * D];
    int64_t first = 0, count = 0, self_idx[B] = {0, 3, 5, 9}, samples[B * 2];
    double loss = 0.0;
    one_rank_open(&o);
    c = o.comm;
    COMM_FAIL(c, CTR_E_INVALID_ARG, "", ctr_comm_bank_range(c, 16, 4, &first, &count));
    COMM_OK(c, ctr_comm_bank_range(c, 16, 0, &first, &count));
    COMM_FAIL(c, CTR_E_INVALID_ARG, "", ctr_comm_bank_create(c, NULL, 16, D, 1, NULL));
    COMM_OK(c, ctr_comm_bank_create(c, &shard, 16, D, 1, NULL));
    COMM_OK(c, ctr_comm_bank_sample(c, shard, 16, samples, B, 2, self_idx));
    COMM_OK(c, ctr_comm_bank_update(c, shard, 16, self_idx, B, z, D));
    COMM_OK(c, ctr_comm_nce(c, nce, &loss, z, D, B, D, shard, 16, self_idx, samples, 2, gz));
    COMM_OK(c, ctr_comm_bank_softmax(c, bs, &loss, z, D, B, D, shard, 16, self_idx, gz));
    one_rank_close(&o);
    free(z);
    ctr_bank_destroy(shard);
    ctr_objective_destroy(nce);
    ctr_objective_destroy(bs);
}
END_TEST

/* ---- every failing call leaves a message ---------------------------------- */

START_TEST(test_encoder_failures)
{
    ctr_encoder *e = small_encoder(9), *other = NULL, *k = NULL;
    float *x = values(B * NIN, 32), y[B * D];
    int64_t vec[1] = {NIN}, n = 0, dims[4];
    int32_t nd = 0, kind = 0;
    ck_assert_int_eq(ctr_encoder_create(&other, vec, 1, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_encoder_clone(&k, e), CTR_OK);
    ENC_SETS(e, ctr_encoder_backward(e, NULL, y));
    ENC_SETS(e, ctr_encoder_layer_output(e, y, 0));
    ENC_SETS(e, ctr_encoder_add_l2norm(e, -1.0));
    ENC_SETS(e, ctr_encoder_add_layernorm(e, -1.0, 1));
    ENC_SETS(e, ctr_encoder_add_conv2d(e, 3, 3, 1, 1, 1));
    ENC_SETS(e, ctr_encoder_add_conv1d(e, 3, 3, 1, 1, 1));
    ENC_SETS(e, ctr_encoder_add_pool2d(e, CTR_LAYER_MAXPOOL2D, 2, 2, 0));
    ENC_SETS(e, ctr_encoder_add_global_avgpool(e));
    ENC_SETS(e, ctr_encoder_add_flatten(e));
    ENC_SETS(e, ctr_encoder_add_gru(e, 4));
    ENC_SETS(e, ctr_encoder_add_residual(e, 99, CTR_SHORTCUT_IDENTITY, 1, 0.0, 0.0));
    ENC_SETS(e, ctr_encoder_forward(e, NULL, x, B, CTR_ENCODER_TRAIN));
    ENC_SETS(e, ctr_encoder_forward(e, y, x, B, 9999));
    ENC_SETS(e, ctr_encoder_last_layer(e, NULL));
    ENC_SETS(e, ctr_encoder_layer_kind(e, NULL, 0));
    ENC_SETS(e, ctr_encoder_layer_kind(e, &kind, CTR_ENCODER_INPUT));
    ENC_SETS(e, ctr_encoder_shape(e, NULL, &nd, &n, 0));
    ENC_SETS(e, ctr_encoder_num_params(e, NULL));
    ENC_SETS(e, ctr_encoder_num_tensors(e, NULL));
    ENC_SETS(e, ctr_encoder_tensor_info(e, NULL, NULL, NULL, dims, &nd, -1));
    ENC_SETS(e, ctr_encoder_get_grads(e, NULL, 1));
    ENC_SETS(e, ctr_encoder_num_stats(e, NULL));
    ENC_SETS(e, ctr_encoder_get_stats(e, NULL, 1));
    ENC_SETS(e, ctr_encoder_set_stats(e, NULL, 1));
    ENC_SETS(e, ctr_encoder_set_i64(e, CTR_ENCODER_P_BN_GROUPS, -3));
    ENC_SETS(e, ctr_encoder_memory(e, NULL, B));
    ENC_SETS(e, ctr_encoder_workspace_size(e, NULL, B, CTR_ENCODER_TRAIN));
    ENC_SETS(e, ctr_encoder_save_buffer(e, NULL, 0, NULL));
    ENC_SETS(k, ctr_encoder_copy_params(k, other, 1));
    ENC_SETS(k, ctr_encoder_momentum_update(k, other, 0.5, 1));
    ENC_SETS(e, ctr_encoder_save(e, NULL));
    free(x);
    ctr_encoder_destroy(other);
    ctr_encoder_destroy(k);
    ctr_encoder_destroy(e);
}
END_TEST

START_TEST(test_optimizer_failures)
{
    ctr_encoder *e = small_encoder(10);
    ctr_optimizer *o = NULL, *bo = NULL;
    ck_assert_int_eq(ctr_optimizer_create_for_encoder(&o, CTR_OPTIMIZER_LARS, e, NULL), CTR_OK);
    ck_assert_int_eq(ctr_optimizer_create(&bo, CTR_OPTIMIZER_SGD, 10, NULL), CTR_OK);
    OPT_SETS(o, ctr_optimizer_set_segments(o, NULL, NULL, 1));
    OPT_SETS(o, ctr_optimizer_step_buffer(o, NULL, NULL, 10));
    OPT_SETS(bo, ctr_optimizer_step_buffer(bo, NULL, NULL, 10));
    OPT_SETS(o, ctr_optimizer_set_f64(o, 9999, 1.0));
    OPT_SETS(o, ctr_optimizer_get_f64(o, CTR_OPTIMIZER_P_LR, NULL));
    OPT_SETS(o, ctr_optimizer_set_i64(o, 9999, 1));
    OPT_SETS(o, ctr_optimizer_get_i64(o, CTR_OPTIMIZER_P_LR, &sink_i64));
    OPT_SETS(o, ctr_optimizer_save(o, NULL));
    OPT_SETS(o, ctr_optimizer_save_buffer(o, NULL, 0, NULL));
    OPT_SETS(bo, ctr_optimizer_step(bo));
    ctr_optimizer_destroy(o);
    ctr_optimizer_destroy(bo);
    ctr_encoder_destroy(e);
}
END_TEST

START_TEST(test_objective_failures)
{
    ctr_objective *inf = objective(CTR_OBJECTIVE_INFONCE), *cpc = objective(CTR_OBJECTIVE_CPC);
    float *a = values(B * D, 33), g[B * D];
    int64_t idx[B] = {0, 1, 2, 3};
    double loss = 0.0;
    size_t bytes = 0;
    OBJ_SETS(inf, ctr_objective_set_f64(inf, 9999, 1.0));
    OBJ_SETS(inf, ctr_objective_set_i64(inf, 9999, 1));
    OBJ_SETS(inf, ctr_objective_get_i64(inf, CTR_OBJECTIVE_P_TEMPERATURE, &sink_i64));
    OBJ_SETS(inf, ctr_objective_stat(inf, CTR_OBJECTIVE_S_LOSS, NULL));
    OBJ_SETS(inf, ctr_objective_workspace_size(inf, NULL, B, D, 0));
    OBJ_SETS(inf, ctr_objective_infonce(inf, &loss, NULL, D, a, D, B, D, NULL, g, g));
    OBJ_SETS(inf, ctr_objective_ntxent(inf, &loss, a, D, a, D, B, D, NULL, g, NULL));
    OBJ_SETS(inf, ctr_objective_infonce_shared(inf, &loss, a, D, a, D, B, D, a, D, B, NULL,
                                               NULL, NULL, NULL, NULL));
    OBJ_SETS(inf, ctr_objective_infonce_queue(inf, &loss, a, D, a, D, B, D, NULL, NULL, g, g));
    OBJ_SETS(inf, ctr_objective_nce(inf, &loss, a, D, B, D, a, D, B, idx, idx, 1, g));
    OBJ_SETS(inf, ctr_objective_bank_softmax(inf, &loss, a, D, B, D, a, D, B, idx, g));
    OBJ_SETS(inf, ctr_objective_bilinear(inf, &loss, a, D, a, D, B, D, a, NULL, NULL, NULL));
    OBJ_SETS(inf, ctr_objective_distill(inf, &loss, a, D, a, D, idx, B, D, 1.0, 1.0, NULL));
    OBJ_SETS(inf, ctr_objective_local_global(inf, &loss, NULL));
    OBJ_SETS(inf, ctr_objective_cpc(inf, NULL, &loss));
    OBJ_SETS(inf, ctr_objective_cpc_workspace_size(inf, &bytes, B, 5, D, 3, 2, 0, 0));
    OBJ_SETS(cpc, ctr_objective_cpc_workspace_size(cpc, NULL, B, 5, D, 3, 2, 0, 0));
    OBJ_SETS(inf, ctr_objective_save(inf, NULL));
    OBJ_SETS(inf, ctr_objective_save_buffer(inf, NULL, 0, NULL));
    OBJ_SETS(inf, ctr_objective_get_f64(inf, CTR_OBJECTIVE_P_TEMPERATURE, NULL));
    free(a);
    ctr_objective_destroy(inf);
    ctr_objective_destroy(cpc);
}
END_TEST

START_TEST(test_memories_failures)
{
    ctr_queue *q = NULL;
    ctr_bank *b = NULL;
    ctr_rng *r = NULL;
    int64_t idx[2] = {0, 99}, out[4], count = 0;
    float f[2 * D] = {0};
    ck_assert_int_eq(ctr_queue_create(&q, 16, D, 0, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_bank_create(&b, 16, D, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_rng_create(&r, 1, NULL), CTR_OK);
    QUEUE_SETS(q, ctr_queue_enqueue(q, NULL, 1, D, NULL));
    QUEUE_SETS(q, ctr_queue_ids(q, NULL, &count));
    QUEUE_SETS(q, ctr_queue_copy(q, NULL, D, NULL, 16, NULL));
    QUEUE_SETS(q, ctr_queue_get_i64(q, 9999, &count));
    QUEUE_SETS(q, ctr_queue_save(q, NULL));
    QUEUE_SETS(q, ctr_queue_save_buffer(q, NULL, 0, NULL));
    BANK_SETS(b, ctr_bank_gather(b, idx, 2, f, D));
    BANK_SETS(b, ctr_bank_set_rows(b, idx, 2, f, D));
    BANK_SETS(b, ctr_bank_update(b, idx, 2, f, D));
    BANK_SETS(b, ctr_bank_set_weights(b, NULL, 16));
    BANK_SETS(b, ctr_bank_sample(b, out, 2, 2, idx));
    BANK_SETS(b, ctr_bank_set_f64(b, 9999, 0.5));
    BANK_SETS(b, ctr_bank_get_f64(b, CTR_BANK_P_MOMENTUM, NULL));
    BANK_SETS(b, ctr_bank_get_i64(b, CTR_BANK_P_MOMENTUM, &count));
    BANK_SETS(b, ctr_bank_save(b, NULL));
    BANK_SETS(b, ctr_bank_save_buffer(b, NULL, 0, NULL));
    RNG_SETS(r, ctr_rng_normal(r, NULL, 4, 0.0f, 1.0f));
    RNG_SETS(r, ctr_rng_below(r, NULL, 4, 3));
    RNG_SETS(r, ctr_rng_permutation(r, NULL, 4));
    RNG_SETS(r, ctr_rng_save(r, NULL));
    RNG_SETS(r, ctr_rng_save_buffer(r, NULL, 0, NULL));
    ctr_queue_destroy(q);
    ctr_bank_destroy(b);
    ctr_rng_destroy(r);
}
END_TEST

START_TEST(test_eval_failures)
{
    ctr_knn *k = NULL;
    ctr_probe *p = NULL;
    ctr_ridge *rd = NULL;
    float *x = values(NTR * D, 34), w[3 * D], bias[3];
    int64_t lab[NTR] = {0}, pred[NTR];
    double acc = 0.0, r2[2];
    int32_t conv = 0;
    ck_assert_int_eq(ctr_knn_create(&k, NULL), CTR_OK);
    ck_assert_int_eq(ctr_probe_create(&p, D, 3, NULL), CTR_OK);
    ck_assert_int_eq(ctr_ridge_create(&rd, D, 2, NULL), CTR_OK);
    KNN_SETS(k, ctr_knn_set_f64(k, 9999, 1.0));
    KNN_SETS(k, ctr_knn_get_f64(k, CTR_KNN_P_SIGMA, NULL));
    KNN_SETS(k, ctr_knn_set_i64(k, 9999, 1));
    KNN_SETS(k, ctr_knn_get_i64(k, CTR_KNN_P_SIGMA, &sink_i64));
    KNN_SETS(k, ctr_knn_workspace_size(k, NTR, B, D, 3, NULL));
    KNN_SETS(k, ctr_knn_classify(k, x, NTR, D, NULL, x, B, D, D, 3, pred, NULL));
    KNN_SETS(k, ctr_knn_accuracy(k, x, NTR, D, lab, x, B, D, D, 3, NULL, &acc));
    PROBE_SETS(p, ctr_probe_set_i64(p, CTR_PROBE_P_MAX_ITER, -1));
    PROBE_SETS(p, ctr_probe_get_i64(p, CTR_PROBE_P_L2, &sink_i64));
    PROBE_SETS(p, ctr_probe_fit(p, x, NTR, D, NULL));
    PROBE_SETS(p, ctr_probe_predict(p, x, NTR, D, pred, NULL));
    PROBE_SETS(p, ctr_probe_accuracy(p, x, NTR, D, lab, &acc));
    PROBE_SETS(p, ctr_probe_get_weights(p, w, bias));
    PROBE_SETS(p, ctr_probe_fit_info(p, NULL, NULL, &conv));
    ck_assert_int_eq(ctr_ridge_fit(rd, x, NTR, D, x, D, 1.0, 1), CTR_OK);
    RIDGE_SETS(rd, ctr_ridge_fit(rd, x, NTR, D, NULL, 2, 1.0, 1));
    RIDGE_SETS(rd, ctr_ridge_predict(rd, NULL, NTR, D, w));
    RIDGE_SETS(rd, ctr_ridge_r2(rd, x, NTR, D, x, 1, r2, &acc));
    free(x);
    ctr_knn_destroy(k);
    ctr_probe_destroy(p);
    ctr_ridge_destroy(rd);
}
END_TEST

START_TEST(test_state_affinity_failures)
{
    ctr_state *st = NULL;
    ctr_affinity *a = NULL;
    ctr_rng *r = NULL;
    float f[16] = {0};
    double loss = 0.0;
    ck_assert_int_eq(ctr_rng_create(&r, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_state_create(&st, NULL), CTR_OK);
    ck_assert_int_eq(ctr_affinity_create(&a, NULL), CTR_OK);
    ck_assert_int_eq(ctr_state_add_rng(st, "r", r), CTR_OK);
    STATE_SETS(st, ctr_state_add_encoder(st, "e", NULL));
    STATE_SETS(st, ctr_state_add_optimizer(st, "o", NULL));
    STATE_SETS(st, ctr_state_add_objective(st, "j", NULL));
    STATE_SETS(st, ctr_state_add_queue(st, "q", NULL));
    STATE_SETS(st, ctr_state_add_bank(st, "b", NULL));
    STATE_SETS(st, ctr_state_add_rng(st, "r", r));
    STATE_SETS(st, ctr_state_save(st, NULL));
    STATE_SETS(st, ctr_state_save_buffer(st, NULL, 0, NULL));
    STATE_SETS(st, ctr_state_load(st, NULL));
    STATE_SETS(st, ctr_state_load_buffer(st, NULL, 0));
    AFF_SETS(a, ctr_affinity_set_i64(a, 9999, 1));
    AFF_SETS(a, ctr_affinity_get_i64(a, CTR_AFFINITY_P_TEMPERATURE, &sink_i64));
    AFF_SETS(a, ctr_affinity_set_f64(a, CTR_AFFINITY_P_TEMPERATURE, -1.0));
    AFF_SETS(a, ctr_affinity_workspace_size(a, 1, 1, 2, 2, 1, 0, NULL));
    AFF_SETS(a, ctr_affinity_transport(a, NULL, f, f, f, 1, 1, 2, 2, 1));
    AFF_SETS(a, ctr_affinity_backward(a, f, f, f, NULL, f, f, f, 1, 1, 2, 2, 1));
    AFF_SETS(a, ctr_affinity_reconstruct(a, &loss, NULL, f, f, f, NULL, 1, 1, 2, 2, 1, NULL,
                                         NULL, NULL));
    AFF_SETS(a, ctr_affinity_propagate(a, NULL, f, f, f, 1, 1, 2, 2, 1, 1));
    ctr_state_destroy(st);
    ctr_affinity_destroy(a);
    ctr_rng_destroy(r);
}
END_TEST

START_TEST(test_comm_failures)
{
    one_rank o;
    ctr_comm *c;
    ctr_encoder *e = small_encoder(11);
    ctr_objective *inf = objective(CTR_OBJECTIVE_INFONCE);
    ctr_queue *q = NULL;
    ctr_bank *shard = NULL;
    float f[B * D] = {0};
    int64_t i[B] = {0, 1, 2, 3}, first = 0;
    double loss = 0.0;
    one_rank_open(&o);
    c = o.comm;
    ck_assert_int_eq(ctr_queue_create(&q, 16, D, 0, 1, NULL), CTR_OK);
    ck_assert_int_eq(ctr_comm_bank_create(c, &shard, 16, D, 1, NULL), CTR_OK);
    COMM_SETS(c, ctr_comm_rank(c, NULL));
    COMM_SETS(c, ctr_comm_size(c, NULL));
    COMM_SETS(c, ctr_comm_allreduce_f32(c, NULL, 4));
    COMM_SETS(c, ctr_comm_allreduce_i64(c, NULL, 4));
    COMM_SETS(c, ctr_comm_allgather_f32(c, NULL, f, 4));
    COMM_SETS(c, ctr_comm_allgather_i64(c, NULL, i, 4));
    COMM_SETS(c, ctr_comm_broadcast_f32(c, NULL, 4, 0));
    COMM_SETS(c, ctr_comm_broadcast_i64(c, i, 4, -1));
    COMM_SETS(c, ctr_comm_average_f32(c, f, 4, -1.0));
    COMM_SETS(c, ctr_comm_encoder_grads(c, NULL, CTR_COMM_SUM, 1.0));
    COMM_SETS(c, ctr_comm_encoder_broadcast(c, NULL, 0));
    COMM_SETS(c, ctr_comm_encoder_forward(c, e, NULL, f, B));
    COMM_SETS(c, ctr_comm_encoder_backward(c, e, NULL, f));
    COMM_SETS(c, ctr_comm_ntxent(c, inf, &loss, f, D, f, D, B, D, NULL, NULL));
    COMM_SETS(c, ctr_comm_infonce(c, NULL, &loss, f, D, f, D, B, D, NULL, NULL));
    COMM_SETS(c, ctr_comm_queue_enqueue(c, q, NULL, B, D, NULL));
    COMM_SETS(c, ctr_comm_shuffle_rows(c, NULL, i, f, f, B, 1));
    COMM_SETS(c, ctr_comm_unshuffle_rows(c, NULL, f, f, B, 1));
    COMM_SETS(c, ctr_comm_bank_range(c, 16, 0, NULL, &first));
    COMM_SETS(c, ctr_comm_bank_create(c, &shard, 0, D, 1, NULL));
    COMM_SETS(c, ctr_comm_bank_sample(c, NULL, 16, i, B, 1, NULL));
    COMM_SETS(c, ctr_comm_bank_update(c, shard, 16, NULL, B, f, D));
    COMM_FAIL(c, CTR_E_INVALID_ARG, "obj must be an objective of kind CTR_OBJECTIVE_NCE",
              ctr_comm_nce(c, inf, &loss, f, D, B, D, shard, 16, i, i, 1, NULL));
    COMM_FAIL(c, CTR_E_INVALID_ARG, "obj must be an objective of kind CTR_OBJECTIVE_BANK_SOFTMAX",
              ctr_comm_bank_softmax(c, inf, &loss, f, D, B, D, shard, 16, i, NULL));
    one_rank_close(&o);
    ctr_bank_destroy(shard);
    ctr_queue_destroy(q);
    ctr_objective_destroy(inf);
    ctr_encoder_destroy(e);
}
END_TEST

/* ---- NULL handles --------------------------------------------------------- */

START_TEST(test_null_handles)
{
    const char *texts[12];
    int i;
    texts[0] = ctr_affinity_last_error(NULL);
    texts[1] = ctr_bank_last_error(NULL);
    texts[2] = ctr_comm_last_error(NULL);
    texts[3] = ctr_encoder_last_error(NULL);
    texts[4] = ctr_knn_last_error(NULL);
    texts[5] = ctr_objective_last_error(NULL);
    texts[6] = ctr_optimizer_last_error(NULL);
    texts[7] = ctr_probe_last_error(NULL);
    texts[8] = ctr_queue_last_error(NULL);
    texts[9] = ctr_ridge_last_error(NULL);
    texts[10] = ctr_rng_last_error(NULL);
    texts[11] = ctr_state_last_error(NULL);
    for (i = 0; i < 12; i++)
        ck_assert_str_eq(texts[i], "invalid handle (NULL)");
}
END_TEST

Suite *ctr_test_last_error_suite(void);

Suite *ctr_test_last_error_suite(void)
{
    Suite *s = suite_create("last_error");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_encoder_build);
    tcase_add_test(tc, test_encoder_run);
    tcase_add_test(tc, test_encoder_save);
    tcase_add_test(tc, test_optimizer);
    tcase_add_test(tc, test_objective_params);
    tcase_add_test(tc, test_objective_losses);
    tcase_add_test(tc, test_objective_extensions);
    tcase_add_test(tc, test_queue);
    tcase_add_test(tc, test_bank);
    tcase_add_test(tc, test_rng);
    suite_add_tcase(s, tc);
    tc = tcase_create("eval_state_comm");
    tcase_add_test(tc, test_knn);
    tcase_add_test(tc, test_probe);
    tcase_add_test(tc, test_ridge);
    tcase_add_test(tc, test_state);
    tcase_add_test(tc, test_affinity);
    tcase_add_test(tc, test_comm_collectives);
    tcase_add_test(tc, test_comm_training);
    tcase_add_test(tc, test_comm_bank);
    tcase_add_test(tc, test_null_handles);
    suite_add_tcase(s, tc);
    tc = tcase_create("failures");
    tcase_add_test(tc, test_encoder_failures);
    tcase_add_test(tc, test_optimizer_failures);
    tcase_add_test(tc, test_objective_failures);
    tcase_add_test(tc, test_memories_failures);
    tcase_add_test(tc, test_eval_failures);
    tcase_add_test(tc, test_state_affinity_failures);
    tcase_add_test(tc, test_comm_failures);
    suite_add_tcase(s, tc);
    return s;
}
