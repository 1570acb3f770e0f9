/*
 * threads.c - the thread rules of docs/threading.md under ThreadSanitizer
 * (make check-tsan builds the library and this program with
 * -fsanitize=thread):
 *   - threads on distinct handles at once: training steps (encoder
 *     forward and backward, NT-Xent, optimizer), queue and bank updates,
 *     saves to files and buffers, loads;
 *   - the calls that take a const handle, on one handle shared by every
 *     thread at once: clone, save, save_buffer and the queries of a shared
 *     encoder, optimizer, objective, queue and bank, including calls that
 *     fail: they write nothing but the handle's message slot, which is
 *     guarded for exactly this (src/common/error.c).
 * Any race is TSan's report and a non-zero exit; a wrong result is a
 * message and exit 1. Ends with "N passed, 0 failed".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "contrastive.h"

#define THREADS 4
#define ROUNDS 3
#define B 8
#define D 16

typedef struct shared {
    const ctr_encoder *enc;
    const ctr_optimizer *opt;
    const ctr_objective *obj;
    const ctr_queue *queue;
    const ctr_bank *bank;
    const char *dir;
} shared;

typedef struct job {
    int id;
    const shared *sh;
    int failed;
} job;

#define CHECK(j, cond)                                                         \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "thread %d: %s:%d: %s\n", (j)->id, __FILE__, __LINE__, #cond); \
            (j)->failed++;                                                     \
        }                                                                      \
    } while (0)

/* ---- distinct handles ----------------------------------------------------- */

static void train_own(job *j)
{
    const int64_t dims[1] = {D};
    ctr_encoder *e = NULL, *back = NULL;
    ctr_optimizer *o = NULL;
    ctr_objective *obj = NULL;
    ctr_queue *q = NULL, *qb = NULL;
    ctr_bank *bk = NULL;
    float x1[B * D], x2[B * D], z1[B * 8], z2[B * 8], g1[B * 8], g2[B * 8];
    int64_t idx[B], noise[B * 3];
    char path[512];
    size_t size = 0;
    void *buf;
    double loss;
    int i, r;
    for (i = 0; i < B * D; i++) {
        x1[i] = (float)((i * 7 + j->id) % 11) / 11.0f - 0.5f;
        x2[i] = (float)((i * 5 + j->id) % 13) / 13.0f - 0.5f;
    }
    for (i = 0; i < B; i++)
        idx[i] = i;
    CHECK(j, ctr_encoder_create(&e, dims, 1, (uint64_t)j->id, NULL) == CTR_OK);
    CHECK(j, ctr_encoder_add_linear(e, 12, 1) == CTR_OK);
    CHECK(j, ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1) == CTR_OK);
    CHECK(j, ctr_encoder_add_activation(e, CTR_LAYER_RELU) == CTR_OK);
    CHECK(j, ctr_encoder_add_linear(e, 8, 1) == CTR_OK);
    CHECK(j, ctr_optimizer_create_for_encoder(&o, CTR_OPTIMIZER_ADAMW, e, NULL) == CTR_OK);
    CHECK(j, ctr_objective_create(&obj, CTR_OBJECTIVE_NTXENT, NULL) == CTR_OK);
    CHECK(j, ctr_queue_create(&q, 32, 8, CTR_QUEUE_IDS, 3, NULL) == CTR_OK);
    CHECK(j, ctr_bank_create(&bk, 64, 8, 4, NULL) == CTR_OK);
    if (j->failed)
        goto done;
    for (r = 0; r < ROUNDS; r++) {
        CHECK(j, ctr_encoder_zero_grad(e) == CTR_OK);
        CHECK(j, ctr_encoder_forward(e, z1, x1, B, CTR_ENCODER_TRAIN) == CTR_OK);
        CHECK(j, ctr_encoder_forward(e, z2, x2, B, CTR_ENCODER_EVAL) == CTR_OK);
        CHECK(j, ctr_objective_ntxent(obj, &loss, z1, 8, z2, 8, B, 8, NULL, g1, g2) == CTR_OK);
        CHECK(j, ctr_encoder_forward(e, z1, x1, B, CTR_ENCODER_TRAIN) == CTR_OK);
        CHECK(j, ctr_encoder_backward(e, NULL, g1) == CTR_OK);
        CHECK(j, ctr_optimizer_step(o) == CTR_OK);
        CHECK(j, ctr_queue_enqueue(q, z2, B, 8, idx) == CTR_OK);
        CHECK(j, ctr_bank_update(bk, idx, B, z2, 8) == CTR_OK);
        CHECK(j, ctr_bank_sample(bk, noise, B, 3, idx) == CTR_OK);
    }
    /* saves and loads of its own handles */
    snprintf(path, sizeof(path), "%s/own-%d.enc", j->sh->dir, j->id);
    CHECK(j, ctr_encoder_save(e, path) == CTR_OK);
    CHECK(j, ctr_encoder_load(&back, path, NULL) == CTR_OK);
    snprintf(path, sizeof(path), "%s/own-%d.opt", j->sh->dir, j->id);
    CHECK(j, ctr_optimizer_save(o, path) == CTR_OK);
    snprintf(path, sizeof(path), "%s/own-%d.bank", j->sh->dir, j->id);
    CHECK(j, ctr_bank_save(bk, path) == CTR_OK);
    CHECK(j, ctr_queue_save_buffer(q, NULL, 0, &size) == CTR_OK);
    buf = malloc(size);
    CHECK(j, buf != NULL && ctr_queue_save_buffer(q, buf, size, &size) == CTR_OK);
    CHECK(j, buf != NULL && ctr_queue_load_buffer(&qb, buf, size, NULL) == CTR_OK);
    free(buf);
done:
    ctr_encoder_destroy(back);
    ctr_queue_destroy(qb);
    ctr_encoder_destroy(e);
    ctr_optimizer_destroy(o);
    ctr_objective_destroy(obj);
    ctr_queue_destroy(q);
    ctr_bank_destroy(bk);
}

/* ---- const calls on shared handles ---------------------------------------- */

static void read_shared(job *j)
{
    const shared *sh = j->sh;
    ctr_encoder *copy = NULL;
    float params[4096], keys[64 * 8];
    int64_t n = 0, dims[4], count = 0, iv = 0, layer;
    int32_t nd, role;
    size_t bytes = 0, size = 0;
    const float *view;
    double v;
    char path[512];
    void *buf;
    /* the encoder: clone, queries, save */
    CHECK(j, ctr_encoder_clone(&copy, sh->enc) == CTR_OK);
    ctr_encoder_destroy(copy);
    CHECK(j, ctr_encoder_clone(NULL, sh->enc) == CTR_E_INVALID_ARG);
    CHECK(j, ctr_encoder_num_params(sh->enc, &n) == CTR_OK && n <= 4096);
    CHECK(j, ctr_encoder_get_params(sh->enc, params, n) == CTR_OK);
    CHECK(j, ctr_encoder_get_params(sh->enc, params, n + 1) == CTR_E_SHAPE);
    CHECK(j, ctr_encoder_memory(sh->enc, &bytes, 16) == CTR_OK);
    CHECK(j, ctr_encoder_memory(sh->enc, &bytes, INT64_MAX) == CTR_E_OVERFLOW);
    CHECK(j, ctr_encoder_workspace_size(sh->enc, &bytes, 16,
                                        CTR_ENCODER_EVAL | CTR_ENCODER_NO_GRAD) == CTR_OK);
    CHECK(j, ctr_encoder_workspace_size(sh->enc, &bytes, 16, CTR_ENCODER_TRAIN) == CTR_OK);
    CHECK(j, ctr_encoder_workspace_size(sh->enc, &bytes, 0, CTR_ENCODER_TRAIN) ==
                 CTR_E_INVALID_ARG);
    CHECK(j, ctr_encoder_shape(sh->enc, dims, &nd, &n, -1) == CTR_OK);
    CHECK(j, ctr_encoder_tensor_info(sh->enc, &layer, &role, &n, dims, &nd, 0) == CTR_OK);
    CHECK(j, ctr_encoder_get_i64(sh->enc, CTR_ENCODER_P_BN_GROUPS, &iv) == CTR_OK);
    CHECK(j, ctr_encoder_get_i64(sh->enc, 99999, &iv) == CTR_E_INVALID_ARG);
    CHECK(j, ctr_encoder_save_buffer(sh->enc, NULL, 0, &size) == CTR_OK);
    buf = malloc(size);
    CHECK(j, buf != NULL && ctr_encoder_save_buffer(sh->enc, buf, size, &size) == CTR_OK);
    free(buf);
    snprintf(path, sizeof(path), "%s/shared-%d.enc", sh->dir, j->id);
    CHECK(j, ctr_encoder_save(sh->enc, path) == CTR_OK);
    CHECK(j, ctr_encoder_save(sh->enc, "/nonexistent-dir/x") == CTR_E_IO);
    /* the optimizer, the objective */
    CHECK(j, ctr_optimizer_get_f64(sh->opt, CTR_OPTIMIZER_P_LR, &v) == CTR_OK);
    CHECK(j, ctr_optimizer_get_i64(sh->opt, CTR_OPTIMIZER_P_STEP, &iv) == CTR_OK);
    CHECK(j, ctr_optimizer_get_f64(sh->opt, 12345, &v) == CTR_E_INVALID_ARG);
    snprintf(path, sizeof(path), "%s/shared-%d.opt", sh->dir, j->id);
    CHECK(j, ctr_optimizer_save(sh->opt, path) == CTR_OK);
    CHECK(j, ctr_objective_get_f64(sh->obj, CTR_OBJECTIVE_P_TEMPERATURE, &v) == CTR_OK);
    CHECK(j, ctr_objective_stat(sh->obj, CTR_OBJECTIVE_S_LOSS, &v) == CTR_OK);
    CHECK(j, ctr_objective_workspace_size(sh->obj, &bytes, B, 8, 0) == CTR_OK);
    CHECK(j, ctr_objective_kind(sh->obj) == CTR_OBJECTIVE_NTXENT);
    CHECK(j, ctr_objective_save_buffer(sh->obj, NULL, 0, &size) == CTR_OK);
    /* the queue and the bank */
    CHECK(j, ctr_queue_keys(sh->queue, &view, &count, NULL) == CTR_OK);
    CHECK(j, ctr_queue_copy(sh->queue, keys, 8, NULL, 64, &count) == CTR_OK);
    CHECK(j, ctr_queue_copy(sh->queue, keys, 8, NULL, 0, &count) == CTR_E_BUFFER_TOO_SMALL);
    CHECK(j, ctr_queue_get_i64(sh->queue, CTR_QUEUE_P_COUNT, &iv) == CTR_OK);
    snprintf(path, sizeof(path), "%s/shared-%d.queue", sh->dir, j->id);
    CHECK(j, ctr_queue_save(sh->queue, path) == CTR_OK);
    CHECK(j, ctr_bank_rows(sh->bank, &view, &n, NULL) == CTR_OK);
    CHECK(j, ctr_bank_get_i64(sh->bank, CTR_BANK_P_ROWS, &iv) == CTR_OK);
    CHECK(j, ctr_bank_get_f64(sh->bank, CTR_BANK_P_MOMENTUM, &v) == CTR_OK);
    CHECK(j, ctr_bank_save_buffer(sh->bank, NULL, 0, &size) == CTR_OK);
    /* loads of what another thread may be saving: whole or absent */
    {
        ctr_encoder *e = NULL;
        int rc;
        snprintf(path, sizeof(path), "%s/shared-%d.enc", sh->dir, (j->id + 1) % THREADS);
        rc = ctr_encoder_load(&e, path, NULL);
        CHECK(j, rc == CTR_OK || rc == CTR_E_IO);
        ctr_encoder_destroy(e);
    }
}

static void *worker(void *arg)
{
    job *j = (job *)arg;
    int r;
    for (r = 0; r < ROUNDS; r++) {
        read_shared(j);
        train_own(j);
    }
    return NULL;
}

int main(void)
{
    const int64_t dims[1] = {D};
    ctr_encoder *enc = NULL;
    ctr_optimizer *opt = NULL;
    ctr_objective *obj = NULL;
    ctr_queue *q = NULL;
    ctr_bank *bank = NULL;
    float z[B * 8], g[B * 8];
    double loss;
    char dir[] = "/tmp/ctr-tsan-XXXXXX", msg[256];
    pthread_t t[THREADS];
    job jobs[THREADS];
    shared sh;
    int64_t iv = 0;
    int i, failed = 0;
    if (mkdtemp(dir) == NULL)
        return 1;
    for (i = 0; i < B * 8; i++)
        z[i] = (float)((i * 3) % 7) - 3.0f;
    if (ctr_encoder_create(&enc, dims, 1, 1, NULL) != CTR_OK ||
        ctr_encoder_add_linear(enc, 8, 1) != CTR_OK ||
        ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1) != CTR_OK ||
        ctr_optimizer_create_for_encoder(&opt, CTR_OPTIMIZER_SGD, enc, NULL) != CTR_OK ||
        ctr_objective_create(&obj, CTR_OBJECTIVE_NTXENT, NULL) != CTR_OK ||
        ctr_objective_ntxent(obj, &loss, z, 8, z + 8, 8, B - 1, 8, NULL, g, NULL) != CTR_OK ||
        ctr_queue_create(&q, 64, 8, 0, 2, NULL) != CTR_OK ||
        ctr_queue_enqueue(q, z, B, 8, NULL) != CTR_OK ||
        ctr_bank_create(&bank, 32, 8, 3, NULL) != CTR_OK) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    /* the threads' const calls fail and succeed on the shared handles at
     * once: each records its outcome in the handle's message slot */
    (void)ctr_encoder_set_i64(enc, 99999, 1);
    sh.enc = enc;
    sh.opt = opt;
    sh.obj = obj;
    sh.queue = q;
    sh.bank = bank;
    sh.dir = dir;
    for (i = 0; i < THREADS; i++) {
        jobs[i].id = i;
        jobs[i].sh = &sh;
        jobs[i].failed = 0;
        if (pthread_create(&t[i], NULL, worker, &jobs[i]) != 0)
            return 1;
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        failed += jobs[i].failed;
    }
    /* afterwards the slot answers this thread's own calls again */
    if (ctr_encoder_get_params(enc, z, 1) != CTR_E_SHAPE ||
        snprintf(msg, sizeof(msg), "%s", ctr_encoder_last_error(enc)) < 1 ||
        ctr_encoder_num_layers(enc, &iv) != CTR_OK ||
        strcmp(ctr_encoder_last_error(enc), "") != 0) {
        fprintf(stderr, "the shared encoder's message slot is wrong after the threads\n");
        failed++;
    }
    ctr_encoder_destroy(enc);
    ctr_optimizer_destroy(opt);
    ctr_objective_destroy(obj);
    ctr_queue_destroy(q);
    ctr_bank_destroy(bank);
    {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            failed++;
    }
    printf("threads: %d threads x %d rounds\n", THREADS, ROUNDS);
    printf("%d passed, %d failed\n", failed == 0 ? THREADS : 0, failed);
    return failed == 0 ? 0 : 1;
}
