/*
 * seeds.c - the seed corpora of the fuzz targets (fuzz.h), made through the
 * public API: small valid files of every kind, in the shapes and options
 * that reach the loaders' branches (ids, weights, each layer kind, each
 * optimizer and objective kind).
 */
#include <stdlib.h>
#include <string.h>

#include "contrastive.h"
#include "fuzz/fuzz.h"

typedef int (*save_fn)(const void *obj, void *buf, size_t cap, size_t *size);

/* Emits the save of obj (NULL: a creation failed, nothing to emit). */
static void emit_save(const void *obj, save_fn save, ctr_fuzz_emit_fn emit, void *ctx)
{
    size_t size = 0;
    uint8_t *buf;
    if (obj == NULL)
        return;
    (void)save(obj, NULL, 0, &size);
    buf = (uint8_t *)malloc(size);
    if (buf != NULL && save(obj, buf, size, &size) == CTR_OK)
        emit(ctx, buf, size);
    free(buf);
}

#define SAVER(T)                                                          \
    static int T##_save(const void *obj, void *buf, size_t cap, size_t *size) \
    {                                                                     \
        return ctr_##T##_save_buffer((const ctr_##T *)obj, buf, cap, size); \
    }
SAVER(rng)
SAVER(queue)
SAVER(bank)
SAVER(encoder)
SAVER(optimizer)
SAVER(objective)

static void rng_seeds(ctr_fuzz_emit_fn emit, void *ctx)
{
    ctr_rng *r = NULL;
    float u[3];
    if (ctr_rng_create(&r, 7, NULL) == CTR_OK) {
        emit_save(r, rng_save, emit, ctx);
        (void)ctr_rng_uniform(r, u, 3);
        emit_save(r, rng_save, emit, ctx);
    }
    ctr_rng_destroy(r);
}

static void queue_seeds(ctr_fuzz_emit_fn emit, void *ctx)
{
    static const int32_t flags[] = {0, CTR_QUEUE_IDS, CTR_QUEUE_INIT_RANDOM,
                                    CTR_QUEUE_IDS | CTR_QUEUE_KEEP_NEWEST};
    const float keys[5 * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1, .6f, .8f, 0, 0, .6f, .8f};
    const int64_t ids[5] = {1, 2, 3, 4, 5};
    size_t i;
    for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        ctr_queue *q = NULL;
        if (ctr_queue_create(&q, 4, 3, flags[i], 11, NULL) != CTR_OK)
            continue;
        emit_save(q, queue_save, emit, ctx);
        (void)ctr_queue_enqueue(q, keys, 3, 3, (flags[i] & CTR_QUEUE_IDS) ? ids : NULL);
        emit_save(q, queue_save, emit, ctx);
        (void)ctr_queue_enqueue(q, keys, 2, 3, (flags[i] & CTR_QUEUE_IDS) ? ids : NULL);
        emit_save(q, queue_save, emit, ctx); /* wrapped around */
        ctr_queue_destroy(q);
    }
}

static void bank_seeds(ctr_fuzz_emit_fn emit, void *ctx)
{
    const double w[5] = {1.0, 0.0, 3.0, 0.5, 1e-9};
    ctr_bank *b = NULL;
    if (ctr_bank_create(&b, 5, 4, 3, NULL) == CTR_OK) {
        emit_save(b, bank_save, emit, ctx);
        (void)ctr_bank_set_f64(b, CTR_BANK_P_MOMENTUM, 0.9);
        (void)ctr_bank_set_weights(b, w, 5);
        emit_save(b, bank_save, emit, ctx);
    }
    ctr_bank_destroy(b);
    b = NULL;
    if (ctr_bank_create(&b, 1, 2, 3, NULL) == CTR_OK)
        emit_save(b, bank_save, emit, ctx);
    ctr_bank_destroy(b);
}

static void encoder_seeds(ctr_fuzz_emit_fn emit, void *ctx)
{
    const int64_t vec[1] = {6}, img[3] = {2, 6, 6}, seq[2] = {5, 3};
    ctr_encoder *e = NULL;
    if (ctr_encoder_create(&e, vec, 1, 1, NULL) == CTR_OK) {
        (void)ctr_encoder_add_linear(e, 5, 1);
        (void)ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1);
        (void)ctr_encoder_add_activation(e, CTR_LAYER_RELU);
        (void)ctr_encoder_add_dropout(e, 0.25);
        (void)ctr_encoder_add_linear(e, 3, 0);
        (void)ctr_encoder_add_layernorm(e, 1e-5, 1);
        (void)ctr_encoder_add_activation(e, CTR_LAYER_GELU);
        (void)ctr_encoder_add_l2norm(e, 1e-12);
        (void)ctr_encoder_set_i64(e, CTR_ENCODER_P_BN_GROUPS, 2);
        emit_save(e, encoder_save, emit, ctx);
    }
    ctr_encoder_destroy(e);
    e = NULL;
    if (ctr_encoder_create(&e, img, 3, 2, NULL) == CTR_OK) {
        (void)ctr_encoder_add_conv2d(e, 3, 3, 1, 1, 1);
        (void)ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 0);
        (void)ctr_encoder_add_pool2d(e, CTR_LAYER_MAXPOOL2D, 2, 2, 0);
        (void)ctr_encoder_add_pool2d(e, CTR_LAYER_AVGPOOL2D, 3, 1, 1);
        (void)ctr_encoder_add_activation(e, CTR_LAYER_TANH);
        (void)ctr_encoder_add_global_avgpool(e);
        (void)ctr_encoder_add_linear(e, 2, 1);
        emit_save(e, encoder_save, emit, ctx);
    }
    ctr_encoder_destroy(e);
    e = NULL;
    if (ctr_encoder_create(&e, seq, 2, 3, NULL) == CTR_OK) {
        (void)ctr_encoder_add_conv1d(e, 4, 2, 1, 1, 1);
        (void)ctr_encoder_add_gru(e, 3);
        (void)ctr_encoder_add_flatten(e);
        emit_save(e, encoder_save, emit, ctx);
    }
    ctr_encoder_destroy(e);
}

static void optimizer_seeds(ctr_fuzz_emit_fn emit, void *ctx)
{
    static const int32_t kinds[] = {CTR_OPTIMIZER_SGD, CTR_OPTIMIZER_ADAMW, CTR_OPTIMIZER_LARS};
    const int64_t sizes[3] = {4, 2, 2};
    const int32_t excluded[3] = {0, 1, 0};
    float p[8], g[8];
    size_t i;
    int k;
    for (k = 0; k < 8; k++) {
        p[k] = 0.1f * (float)k;
        g[k] = 0.05f * (float)(k - 3);
    }
    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        ctr_optimizer *o = NULL;
        if (ctr_optimizer_create(&o, kinds[i], 8, NULL) != CTR_OK)
            continue;
        emit_save(o, optimizer_save, emit, ctx);
        (void)ctr_optimizer_set_segments(o, sizes, excluded, 3);
        (void)ctr_optimizer_set_f64(o, CTR_OPTIMIZER_P_MOMENTUM, 0.9);
        (void)ctr_optimizer_set_i64(o, CTR_OPTIMIZER_P_NESTEROV, 1);
        (void)ctr_optimizer_step_buffer(o, p, g, 8);
        emit_save(o, optimizer_save, emit, ctx);
        ctr_optimizer_destroy(o);
    }
}

static void objective_seeds(ctr_fuzz_emit_fn emit, void *ctx)
{
    static const int32_t kinds[] = {CTR_OBJECTIVE_INFONCE,        CTR_OBJECTIVE_NTXENT,
                                    CTR_OBJECTIVE_INFONCE_SHARED, CTR_OBJECTIVE_NPAIR,
                                    CTR_OBJECTIVE_NCE,            CTR_OBJECTIVE_BANK_SOFTMAX};
    const float a[6] = {1, 0, 0, 1, .6f, .8f}, bank[8] = {1, 0, 0, 1, .6f, .8f, .8f, .6f};
    const int64_t self[3] = {0, 1, 2}, noise[6] = {3, 1, 3, 0, 1, 0};
    size_t i;
    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        ctr_objective *o = NULL;
        double loss;
        if (ctr_objective_create(&o, kinds[i], NULL) != CTR_OK)
            continue;
        emit_save(o, objective_save, emit, ctx);
        if (kinds[i] == CTR_OBJECTIVE_NCE) {
            (void)ctr_objective_nce(o, &loss, a, 2, 3, 2, bank, 2, 4, self, noise, 2, NULL);
            emit_save(o, objective_save, emit, ctx);
        } else if (kinds[i] == CTR_OBJECTIVE_INFONCE) {
            (void)ctr_objective_set_i64(o, CTR_OBJECTIVE_P_SYMMETRIC, 1);
            (void)ctr_objective_infonce(o, &loss, a, 2, bank, 2, 3, 2, NULL, NULL, NULL);
            emit_save(o, objective_save, emit, ctx);
        }
        ctr_objective_destroy(o);
    }
}

static int state_save(const void *obj, void *buf, size_t cap, size_t *size)
{
    return ctr_state_save_buffer(((const ctr_fuzz_state *)obj)->st, buf, cap, size);
}

/* The state target's set, as built and after a step of each object. */
static void state_seeds(ctr_fuzz_emit_fn emit, void *ctx)
{
    ctr_fuzz_state *s = NULL;
    const float x[2 * 4] = {1, 2, 3, 4, -1, 0, 1, 2}, keys[3] = {.6f, .8f, 0};
    const int64_t id = 9;
    float y[2 * 3], u[2];
    if (ctr_fuzz_state_build(&s, NULL) != CTR_OK)
        return;
    emit_save(s, state_save, emit, ctx);
    (void)ctr_rng_uniform(s->rng, u, 2);
    (void)ctr_queue_enqueue(s->queue, keys, 1, 3, &id);
    if (ctr_encoder_forward(s->enc, y, x, 2, CTR_ENCODER_TRAIN) == CTR_OK &&
        ctr_encoder_backward(s->enc, NULL, y) == CTR_OK)
        (void)ctr_optimizer_step(s->opt);
    emit_save(s, state_save, emit, ctx);
    ctr_fuzz_state_free(s);
}

int ctr_fuzz_seeds(const char *target, ctr_fuzz_emit_fn emit, void *ctx)
{
    static const struct {
        const char *name;
        void (*make)(ctr_fuzz_emit_fn, void *);
    } makers[] = {{"rng", rng_seeds},         {"queue", queue_seeds},
                  {"bank", bank_seeds},       {"encoder", encoder_seeds},
                  {"optimizer", optimizer_seeds}, {"objective", objective_seeds},
                  {"state", state_seeds}};
    size_t i;
    for (i = 0; i < sizeof(makers) / sizeof(makers[0]); i++) {
        if (strcmp(makers[i].name, target) == 0) {
            makers[i].make(emit, ctx);
            return 0;
        }
    }
    return -1;
}
