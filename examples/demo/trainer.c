/*
 * trainer.c - SimCLR, MoCo v2 and instance discrimination on a small CNN or an
 * MLP, as a host program writes them with libcontrastive: it owns the data, the
 * augmentations and the loop; the library gives the encoder, optimizer,
 * objective, queue and bank. With a communicator (the distributed demo,
 * docs/distributed.md) each rank trains on its slice of the global batch
 * and the ranks exchange what one process would share; without one, every
 * call is the single-process call.
 */
#include "trainer.h"

#include <contrastive.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"

/* The backbone (its output, layer feat_layer, is what the linear probe
 * sees) is an MLP, [linear, bn, relu] x depth, or a small CNN, two
 * [conv, bn, relu] blocks with stride 2 (5x5 to 32 x 14 x 14, 3x3 to
 * 64 x 7 x 7), flattened: as fast per image as it gets while keeping the
 * spatial layout. The projection head follows: linear-bn-relu-linear and
 * an L2 normalisation; its output is the embedding kNN evaluates. */
#define MOCO_BN_GROUPS 4   /* shuffle-BN emulation: statistics per group */
#define MOCO_QUEUE 4096    /* ~7% of the 60k training images */
#define MOCO_MOMENTUM 0.99
#define NCE_NOISE 1024     /* the paper's 4096 triples the step for no gain in 300 s */
#define EVAL_CHUNK 500

struct trainer {
    demo_options opt;
    int64_t n_train, total_steps, step;
    ctr_comm *comm;          /* NULL: one process */
    int64_t rank, size, lb;  /* this rank, the ranks, its local batch */
    ctr_encoder *enc, *key_enc;
    ctr_optimizer *optim;
    ctr_objective *obj;
    ctr_queue *queue;
    ctr_bank *bank;
    ctr_rng *rng;
    ctr_state *state; /* all of the above, saved in one file */
    augment_config aug;
    double base_lr;
    int64_t feat_layer, feat_dim;
    float *views, *shuffled, *z, *grad, *keys, *chunk_out, *chunk_in;
    int64_t *idx, *noise, *perm;
};

#define FAIL(...) (snprintf(err, cap, __VA_ARGS__), -1)

static int lib_fail(char *err, size_t cap, const char *what, int rc,
                    const char *detail)
{
    snprintf(err, cap, "%s: %s (%s)", what, ctr_strerror(rc), detail);
    return -1;
}

/* ---- construction ------------------------------------------------------------ */

static int add_mlp_backbone(ctr_encoder *e, const demo_options *o)
{
    int rc = CTR_OK, i;
    for (i = 0; i < o->depth && rc == CTR_OK; i++) {
        rc = ctr_encoder_add_linear(e, o->hidden, 1);
        if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1);
        if (rc == CTR_OK) rc = ctr_encoder_add_activation(e, CTR_LAYER_RELU);
    }
    return rc;
}

static int add_cnn_backbone(ctr_encoder *e)
{
    static const int64_t channels[2] = {32, 64}, kernels[2] = {5, 3};
    int rc = CTR_OK, i;
    for (i = 0; i < 2 && rc == CTR_OK; i++) {
        rc = ctr_encoder_add_conv2d(e, channels[i], kernels[i], 2, kernels[i] / 2, 0);
        if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1);
        if (rc == CTR_OK) rc = ctr_encoder_add_activation(e, CTR_LAYER_RELU);
    }
    return rc == CTR_OK ? ctr_encoder_add_flatten(e) : rc;
}

/* ResNet's basic block after the current output: conv3x3-BN-ReLU-conv3x3-BN,
 * plus the block's input (a 1x1 conv + BN projection when the shape
 * changes), ReLU. */
static int add_basic_block(ctr_encoder *e, int64_t out, int64_t stride)
{
    int64_t source, dims[3];
    int32_t nd;
    int rc = ctr_encoder_last_layer(e, &source);
    if (rc == CTR_OK) rc = ctr_encoder_shape(e, dims, &nd, NULL, CTR_ENCODER_OUTPUT);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(e, out, 3, stride, 1, 0);
    if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(e, out, 3, 1, 1, 0);
    if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1);
    if (rc == CTR_OK && (stride != 1 || dims[0] != out))
        rc = ctr_encoder_add_residual(e, source, CTR_SHORTCUT_PROJECTION, stride, 1e-5, 0.1);
    else if (rc == CTR_OK)
        rc = ctr_encoder_add_residual(e, source, CTR_SHORTCUT_IDENTITY, 1, 0.0, 0.0);
    return rc == CTR_OK ? ctr_encoder_add_activation(e, CTR_LAYER_RELU) : rc;
}

/* A small ResNet for 28 x 28: 3x3 stem of 16 channels with stride 2
 * (14 x 14), basic blocks of 16, 32 (stride 2: 7 x 7) and 64 (stride 2:
 * 4 x 4) channels, global average pooling: 64 features. */
static int add_resnet_backbone(ctr_encoder *e)
{
    int rc = ctr_encoder_add_conv2d(e, 16, 3, 2, 1, 0);
    if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = add_basic_block(e, 16, 1);
    if (rc == CTR_OK) rc = add_basic_block(e, 32, 2);
    if (rc == CTR_OK) rc = add_basic_block(e, 64, 2);
    return rc == CTR_OK ? ctr_encoder_add_global_avgpool(e) : rc;
}

static int build_encoder(trainer *t, uint64_t seed)
{
    const demo_options *o = &t->opt;
    const int cnn = strcmp(o->encoder, "cnn") == 0, resnet = strcmp(o->encoder, "resnet") == 0;
    int64_t dims[3] = {1, FMNIST_SIDE, FMNIST_SIDE}, pixels[1] = {FMNIST_PIXELS};
    int32_t ndims;
    ctr_encoder *e = NULL;
    int rc = cnn || resnet ? ctr_encoder_create(&e, dims, 3, seed, NULL)
                           : ctr_encoder_create(&e, pixels, 1, seed, NULL);
    if (rc == CTR_OK)
        rc = cnn ? add_cnn_backbone(e) : resnet ? add_resnet_backbone(e) : add_mlp_backbone(e, o);
    if (rc == CTR_OK) rc = ctr_encoder_last_layer(e, &t->feat_layer); /* the features */
    if (rc == CTR_OK) rc = ctr_encoder_shape(e, dims, &ndims, &t->feat_dim, t->feat_layer);
    if (rc == CTR_OK) rc = ctr_encoder_add_linear(e, o->head, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_linear(e, o->proj_dim, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_l2norm(e, 1e-12);
    if (rc != CTR_OK) {
        ctr_encoder_destroy(e);
        return rc;
    }
    t->enc = e;
    return CTR_OK;
}

static double default_temperature(int method)
{
    return method == METHOD_MOCO ? 0.2 : 0.1;
}

static int create_objective(trainer *t, char *err, size_t cap)
{
    static const int32_t kinds[] = {CTR_OBJECTIVE_NTXENT, CTR_OBJECTIVE_INFONCE_SHARED,
                                    CTR_OBJECTIVE_NCE};
    double tau = t->opt.temperature > 0 ? t->opt.temperature
                                        : default_temperature(t->opt.method);
    int rc = ctr_objective_create(&t->obj, kinds[t->opt.method], NULL);
    if (rc == CTR_OK)
        rc = ctr_objective_set_f64(t->obj, CTR_OBJECTIVE_P_TEMPERATURE, tau);
    if (rc == CTR_OK && t->opt.method == METHOD_SIMCLR)
        rc = ctr_objective_set_i64(t->obj, CTR_OBJECTIVE_P_DECOUPLED, t->opt.decoupled);
    if (rc == CTR_OK && t->opt.method == METHOD_INSTDISC)
        rc = ctr_objective_set_i64(t->obj, CTR_OBJECTIVE_P_NCE_Z_MODE, CTR_NCE_Z_EMA);
    if (rc != CTR_OK)
        return lib_fail(err, cap, "objective", rc, ctr_objective_last_error(t->obj));
    return 0;
}

/* MoCo's BN groups on this rank: the one process's MOCO_BN_GROUPS groups
 * of the global batch are the ranks' local groups when the ranks divide
 * them (then R ranks equal one process); otherwise each rank is a group. */
static int64_t moco_local_groups(const trainer *t)
{
    return MOCO_BN_GROUPS % t->size == 0 ? MOCO_BN_GROUPS / t->size : 1;
}

static int create_memories(trainer *t, char *err, size_t cap)
{
    int rc = CTR_OK;
    if (t->opt.method == METHOD_MOCO) {
        rc = ctr_encoder_clone(&t->key_enc, t->enc);
        if (rc == CTR_OK)
            rc = ctr_queue_create(&t->queue, MOCO_QUEUE, t->opt.proj_dim,
                                  CTR_QUEUE_INIT_RANDOM, t->opt.seed + 2, NULL);
        if (rc == CTR_OK)
            rc = ctr_encoder_set_i64(t->enc, CTR_ENCODER_P_BN_GROUPS, moco_local_groups(t));
        if (rc == CTR_OK)
            rc = ctr_encoder_set_i64(t->key_enc, CTR_ENCODER_P_BN_GROUPS, moco_local_groups(t));
    } else if (t->opt.method == METHOD_INSTDISC && t->comm != NULL) {
        rc = ctr_comm_bank_create(t->comm, &t->bank, t->n_train, t->opt.proj_dim,
                                  t->opt.seed + 3, NULL);
    } else if (t->opt.method == METHOD_INSTDISC) {
        rc = ctr_bank_create(&t->bank, t->n_train, t->opt.proj_dim, t->opt.seed + 3, NULL);
    }
    if (rc != CTR_OK)
        return lib_fail(err, cap, "memory", rc, "creating the key encoder, queue or bank");
    return 0;
}

static int create_optimizer(trainer *t, char *err, size_t cap)
{
    int rc = ctr_optimizer_create_for_encoder(&t->optim, CTR_OPTIMIZER_ADAMW, t->enc, NULL);
    t->base_lr = t->opt.lr > 0 ? t->opt.lr : 2e-3;
    if (rc == CTR_OK)
        rc = ctr_optimizer_set_f64(t->optim, CTR_OPTIMIZER_P_WEIGHT_DECAY, t->opt.weight_decay);
    if (rc != CTR_OK)
        return lib_fail(err, cap, "optimizer", rc, ctr_optimizer_last_error(t->optim));
    return 0;
}

static int allocate_buffers(trainer *t, char *err, size_t cap)
{
    size_t b = (size_t)t->opt.batch, p = (size_t)t->opt.proj_dim;
    t->views = malloc(2 * b * FMNIST_PIXELS * sizeof(float));
    t->z = malloc(2 * b * p * sizeof(float));
    t->grad = malloc(2 * b * p * sizeof(float));
    t->keys = malloc(b * p * sizeof(float));
    t->chunk_out = malloc(EVAL_CHUNK * p * sizeof(float));
    t->chunk_in = malloc(EVAL_CHUNK * FMNIST_PIXELS * sizeof(float));
    t->idx = malloc(b * sizeof(int64_t));
    t->noise = malloc(b * NCE_NOISE * sizeof(int64_t));
    t->perm = malloc(b * sizeof(int64_t));
    t->shuffled = malloc(b * FMNIST_PIXELS * sizeof(float));
    if (!t->views || !t->z || !t->grad || !t->keys || !t->chunk_out || !t->chunk_in || !t->idx ||
        !t->noise || !t->perm || !t->shuffled)
        return FAIL("out of memory for the training buffers");
    return 0;
}

/* The run's whole state is one file, written atomically and read all or
 * nothing (ctr_state); the steps taken are the optimizer's step count. */
#define STATE_FILE "state.ckpt"

static int create_state(trainer *t, char *err, size_t cap)
{
    int rc = ctr_state_create(&t->state, NULL);
    if (rc == CTR_OK) rc = ctr_state_add_encoder(t->state, "encoder", t->enc);
    if (rc == CTR_OK) rc = ctr_state_add_optimizer(t->state, "optimizer", t->optim);
    if (rc == CTR_OK) rc = ctr_state_add_objective(t->state, "objective", t->obj);
    if (rc == CTR_OK) rc = ctr_state_add_rng(t->state, "rng", t->rng);
    if (rc == CTR_OK && t->key_enc != NULL)
        rc = ctr_state_add_encoder(t->state, "key_encoder", t->key_enc);
    if (rc == CTR_OK && t->queue != NULL)
        rc = ctr_state_add_queue(t->state, "queue", t->queue);
    if (rc == CTR_OK && t->bank != NULL)
        rc = ctr_state_add_bank(t->state, "bank", t->bank);
    if (rc != CTR_OK)
        return lib_fail(err, cap, "state", rc, ctr_state_last_error(t->state));
    return 0;
}

/* The ranks and this rank's share of the batch (one process: 0, 1, batch). */
static int set_ranks(trainer *t, ctr_comm *comm, char *err, size_t cap)
{
    t->comm = comm, t->rank = 0, t->size = 1, t->lb = t->opt.batch;
    if (comm == NULL)
        return 0;
    if (ctr_comm_rank(comm, &t->rank) != CTR_OK || ctr_comm_size(comm, &t->size) != CTR_OK)
        return FAIL("communicator: %s", ctr_comm_last_error(comm));
    if (t->opt.batch % t->size != 0)
        return FAIL("--batch %lld is not a multiple of the %lld ranks",
                    (long long)t->opt.batch, (long long)t->size);
    t->lb = t->opt.batch / t->size;
    if (t->opt.method == METHOD_MOCO && t->lb % moco_local_groups(t) != 0)
        return FAIL("MoCo: the %lld images of a rank do not split into %lld BN groups",
                    (long long)t->lb, (long long)moco_local_groups(t));
    return 0;
}

int trainer_create(trainer **out, const demo_options *opt, ctr_comm *comm,
                   int64_t n_train, int64_t total_steps, char *err, size_t cap)
{
    trainer *t = calloc(1, sizeof(*t));
    int rc;
    if (t == NULL)
        return FAIL("out of memory");
    t->opt = *opt;
    if (set_ranks(t, comm, err, cap) != 0) {
        free(t);
        return -1;
    }
    t->n_train = n_train;
    t->total_steps = total_steps;
    t->aug = augment_default();
    t->aug.crop_min_scale = (float)opt->crop_min;
    t->aug.noise_std = (float)opt->noise_std;
    t->aug.erase_prob = (float)opt->erase_prob;
    t->aug.max_shift = (float)opt->max_shift;
    t->aug.erase_style = opt->erase_style;
    t->aug.standardize = opt->standardize;
    if ((rc = build_encoder(t, opt->seed)) != CTR_OK) {
        trainer_destroy(t);
        return lib_fail(err, cap, "encoder", rc, "building the network");
    }
    if ((rc = ctr_rng_create(&t->rng, opt->seed + 1, NULL)) != CTR_OK ||
        create_objective(t, err, cap) != 0 || create_memories(t, err, cap) != 0 ||
        create_optimizer(t, err, cap) != 0 || allocate_buffers(t, err, cap) != 0 ||
        create_state(t, err, cap) != 0) {
        if (rc != CTR_OK)
            snprintf(err, cap, "rng: %s", ctr_strerror(rc));
        trainer_destroy(t);
        return -1;
    }
    *out = t;
    return 0;
}

void trainer_destroy(trainer *t)
{
    if (t == NULL)
        return;
    ctr_state_destroy(t->state);
    ctr_optimizer_destroy(t->optim);
    ctr_encoder_destroy(t->enc);
    ctr_encoder_destroy(t->key_enc);
    ctr_objective_destroy(t->obj);
    ctr_queue_destroy(t->queue);
    ctr_bank_destroy(t->bank);
    ctr_rng_destroy(t->rng);
    free(t->views);
    free(t->z);
    free(t->grad);
    free(t->keys);
    free(t->chunk_out);
    free(t->chunk_in);
    free(t->idx);
    free(t->noise);
    free(t->perm);
    free(t->shuffled);
    free(t);
}

int trainer_shuffle(trainer *t, int64_t *order, int64_t n)
{
    return ctr_rng_permutation(t->rng, order, n) == CTR_OK ? 0 : -1;
}

/* ---- one step per method ------------------------------------------------------------ */

/* Writes `views` augmented copies of each image order[0..b) into
 * t->views: view v of image i at row v*b + i. A rank of a distributed run
 * makes the views of its images order[first..first+lb) only (row v*lb +
 * i - first) and skips the others' draws: every rank's generator follows
 * the one process's, so the global batch and its augmentations are the
 * one process's whatever the number of ranks. */
static int make_views(trainer *t, const fmnist_split *train, const int64_t *order,
                      int views)
{
    int64_t b = t->opt.batch, first = t->rank * t->lb, i;
    int v;
    for (v = 0; v < views; v++)
        for (i = 0; i < b; i++) {
            int own = i >= first && i < first + t->lb;
            if ((own ? augment_image(train->images + order[i] * FMNIST_PIXELS,
                                     t->views + (v * t->lb + i - first) * FMNIST_PIXELS,
                                     &t->aug, t->rng)
                     : augment_skip(&t->aug, t->rng)) != CTR_OK)
                return -1;
        }
    return 0;
}

static int simclr_step(trainer *t, double *loss)
{
    int64_t b = t->opt.batch, p = t->opt.proj_dim;
    int rc = ctr_encoder_forward(t->enc, t->z, t->views, 2 * b, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK)
        rc = ctr_objective_ntxent(t->obj, loss, t->z, p, t->z + b * p, p, b, p,
                                  NULL, t->grad, t->grad + b * p);
    if (rc == CTR_OK)
        rc = ctr_encoder_backward(t->enc, NULL, t->grad);
    return rc;
}

/* Keys from the momentum encoder with shuffled BN groups: the key batch is
 * permuted before the forward and put back in order after it, so a query
 * and its key never share batch statistics. */
static int moco_keys(trainer *t)
{
    int64_t b = t->opt.batch, p = t->opt.proj_dim, i;
    const float *view2 = t->views + b * FMNIST_PIXELS;
    float *out = t->z + b * p; /* scratch: the second half of z */
    int rc = ctr_rng_permutation(t->rng, t->perm, b);
    for (i = 0; rc == CTR_OK && i < b; i++)
        memcpy(t->shuffled + i * FMNIST_PIXELS, view2 + t->perm[i] * FMNIST_PIXELS,
               FMNIST_PIXELS * sizeof(float));
    if (rc == CTR_OK)
        rc = ctr_encoder_forward(t->key_enc, out, t->shuffled, b,
                                 CTR_ENCODER_TRAIN | CTR_ENCODER_NO_GRAD);
    for (i = 0; rc == CTR_OK && i < b; i++)
        memcpy(t->keys + t->perm[i] * p, out + i * p, (size_t)p * sizeof(float));
    return rc;
}

/* The b queries' forward, their InfoNCE against the keys and the queue,
 * and the backward. */
static int moco_queries(trainer *t, int64_t b, double *loss)
{
    int64_t p = t->opt.proj_dim;
    int rc = ctr_encoder_forward(t->enc, t->z, t->views, b, CTR_ENCODER_TRAIN);
    if (rc == CTR_OK)
        rc = ctr_objective_infonce_queue(t->obj, loss, t->z, p, t->keys, p, b,
                                         p, t->queue, NULL, t->grad, NULL);
    if (rc == CTR_OK) rc = ctr_encoder_backward(t->enc, NULL, t->grad);
    return rc;
}

static int moco_step(trainer *t, double *loss)
{
    int64_t b = t->opt.batch, p = t->opt.proj_dim;
    int rc = ctr_encoder_momentum_update(t->key_enc, t->enc, MOCO_MOMENTUM, 0);
    if (rc == CTR_OK) rc = moco_keys(t);
    if (rc == CTR_OK) rc = moco_queries(t, b, loss);
    if (rc == CTR_OK) rc = ctr_queue_enqueue(t->queue, t->keys, b, p, NULL);
    return rc;
}

static int instdisc_step(trainer *t, const int64_t *order, double *loss)
{
    int64_t b = t->opt.batch, p = t->opt.proj_dim, n, ld;
    const float *rows;
    int rc = ctr_encoder_forward(t->enc, t->z, t->views, b, CTR_ENCODER_TRAIN);
    memcpy(t->idx, order, (size_t)b * sizeof(int64_t));
    if (rc == CTR_OK) rc = ctr_bank_sample(t->bank, t->noise, b, NCE_NOISE, t->idx);
    if (rc == CTR_OK) rc = ctr_bank_rows(t->bank, &rows, &n, &ld);
    if (rc == CTR_OK)
        rc = ctr_objective_nce(t->obj, loss, t->z, p, b, p, rows, ld, n, t->idx,
                               t->noise, NCE_NOISE, t->grad);
    if (rc == CTR_OK) rc = ctr_encoder_backward(t->enc, NULL, t->grad);
    if (rc == CTR_OK) rc = ctr_bank_update(t->bank, t->idx, b, t->z, p);
    return rc;
}

/* ---- the same steps across ranks ------------------------------------------------------ */

/* SimCLR on lb pairs per rank: synchronised BN (the one process's BN sees
 * the 2B views in one group), NT-Xent with cross-replica negatives (the
 * global loss; each rank gets d loss / d its rows), gradients summed. */
static int simclr_step_dist(trainer *t, double *loss)
{
    int64_t b = t->lb, p = t->opt.proj_dim;
    int rc = ctr_comm_encoder_forward(t->comm, t->enc, t->z, t->views, 2 * b);
    if (rc == CTR_OK)
        rc = ctr_comm_ntxent(t->comm, t->obj, loss, t->z, p, t->z + b * p, p, b, p,
                             t->grad, t->grad + b * p);
    if (rc == CTR_OK) rc = ctr_comm_encoder_backward(t->comm, t->enc, NULL, t->grad);
    if (rc == CTR_OK) rc = ctr_comm_encoder_grads(t->comm, t->enc, CTR_COMM_SUM, 0.0);
    return rc;
}

/* MoCo's shuffle BN across ranks: rank 0 draws the permutation of the B
 * key inputs that the one process draws (the other ranks draw it too and
 * drop it, so that every generator stays the one process's), each rank
 * encodes its slice of the permuted batch and gets its keys back in
 * order. */
static int moco_keys_dist(trainer *t)
{
    int64_t b = t->lb, p = t->opt.proj_dim;
    float *out = t->z + b * p;
    int rc = t->rank == 0 ? CTR_OK : ctr_rng_permutation(t->rng, t->perm, t->opt.batch);
    if (rc == CTR_OK)
        rc = ctr_comm_shuffle_rows(t->comm, t->rank == 0 ? t->rng : NULL, t->perm,
                                   t->shuffled, t->views + b * FMNIST_PIXELS, b,
                                   FMNIST_PIXELS);
    if (rc == CTR_OK)
        rc = ctr_encoder_forward(t->key_enc, out, t->shuffled, b,
                                 CTR_ENCODER_TRAIN | CTR_ENCODER_NO_GRAD);
    if (rc == CTR_OK) rc = ctr_comm_unshuffle_rows(t->comm, t->perm, t->keys, out, b, p);
    return rc;
}

/* MoCo: local queries against the shared queue (the queues are the same
 * on every rank), gradients averaged, the B keys gathered and enqueued
 * everywhere; *loss is the mean of the ranks' (equal-sized) means. */
static int moco_step_dist(trainer *t, double *loss, double *acc)
{
    int64_t b = t->lb, p = t->opt.proj_dim;
    float sums[2];
    int rc = ctr_encoder_momentum_update(t->key_enc, t->enc, MOCO_MOMENTUM, 0);
    if (rc == CTR_OK) rc = moco_keys_dist(t);
    if (rc == CTR_OK) rc = moco_queries(t, b, loss);
    if (rc == CTR_OK) rc = ctr_objective_stat(t->obj, CTR_OBJECTIVE_S_ACCURACY, acc);
    sums[0] = (float)*loss, sums[1] = (float)*acc;
    if (rc == CTR_OK) rc = ctr_comm_average_f32(t->comm, sums, 2, 1.0);
    if (rc == CTR_OK) rc = ctr_comm_encoder_grads(t->comm, t->enc, CTR_COMM_MEAN, (double)b);
    if (rc == CTR_OK) rc = ctr_comm_queue_enqueue(t->comm, t->queue, t->keys, b, p, NULL);
    *loss = sums[0], *acc = sums[1];
    return rc;
}

/* Instance discrimination over the sharded bank: synchronised BN, the
 * noise drawn over the whole bank, NCE from partial logits, gradients
 * summed, each bank row updated by its owner. */
static int instdisc_step_dist(trainer *t, const int64_t *order, double *loss)
{
    int64_t b = t->lb, p = t->opt.proj_dim;
    int rc = ctr_comm_encoder_forward(t->comm, t->enc, t->z, t->views, b);
    memcpy(t->idx, order + t->rank * b, (size_t)b * sizeof(int64_t));
    if (rc == CTR_OK)
        rc = ctr_comm_bank_sample(t->comm, t->bank, t->n_train, t->noise, b, NCE_NOISE, t->idx);
    if (rc == CTR_OK)
        rc = ctr_comm_nce(t->comm, t->obj, loss, t->z, p, b, p, t->bank, t->n_train, t->idx,
                          t->noise, NCE_NOISE, t->grad);
    if (rc == CTR_OK) rc = ctr_comm_encoder_backward(t->comm, t->enc, NULL, t->grad);
    if (rc == CTR_OK) rc = ctr_comm_encoder_grads(t->comm, t->enc, CTR_COMM_SUM, 0.0);
    if (rc == CTR_OK)
        rc = ctr_comm_bank_update(t->comm, t->bank, t->n_train, t->idx, b, t->z, p);
    return rc;
}

/* One method's step across ranks; *acc is NAN where the distributed
 * objective keeps no statistics (NT-Xent, NCE). */
static int method_step_dist(trainer *t, const int64_t *order, double *loss, double *acc)
{
    *acc = NAN;
    if (t->opt.method == METHOD_SIMCLR)
        return simclr_step_dist(t, loss);
    if (t->opt.method == METHOD_MOCO)
        return moco_step_dist(t, loss, acc);
    return instdisc_step_dist(t, order, loss);
}

static int method_step(trainer *t, const int64_t *order, double *loss, double *acc)
{
    int rc;
    if (t->comm != NULL)
        return method_step_dist(t, order, loss, acc);
    if (t->opt.method == METHOD_SIMCLR)
        rc = simclr_step(t, loss);
    else if (t->opt.method == METHOD_MOCO)
        rc = moco_step(t, loss);
    else
        rc = instdisc_step(t, order, loss);
    if (rc == CTR_OK && ctr_objective_stat(t->obj, CTR_OBJECTIVE_S_ACCURACY, acc) != CTR_OK)
        *acc = NAN;
    return rc;
}

int trainer_step(trainer *t, const fmnist_split *train, const int64_t *order,
                 step_stats *stats, char *err, size_t cap)
{
    double lr, loss = 0.0, acc = NAN;
    int rc;
    if (make_views(t, train, order, t->opt.method == METHOD_INSTDISC ? 1 : 2) != 0)
        return FAIL("augmentation failed");
    rc = ctr_optimizer_cosine_lr(&lr, t->step, t->total_steps / 50, t->total_steps,
                                 t->base_lr, 0.0);
    if (rc == CTR_OK) rc = ctr_optimizer_set_f64(t->optim, CTR_OPTIMIZER_P_LR, lr);
    if (rc == CTR_OK) rc = ctr_encoder_zero_grad(t->enc);
    if (rc == CTR_OK) rc = method_step(t, order, &loss, &acc);
    if (rc == CTR_OK) rc = ctr_optimizer_step(t->optim);
    if (rc != CTR_OK)
        return FAIL("step %lld: %s (%s; %s%s%s)", (long long)t->step, ctr_strerror(rc),
                    ctr_encoder_last_error(t->enc), ctr_objective_last_error(t->obj),
                    t->comm != NULL ? "; " : "",
                    t->comm != NULL ? ctr_comm_last_error(t->comm) : "");
    stats->loss = loss;
    stats->pretext_acc = acc;
    t->step++;
    return 0;
}

/* ---- evaluation ------------------------------------------------------------------------ */

int64_t trainer_feature_dim(const trainer *t) { return t->feat_dim; }
int64_t trainer_embedding_dim(const trainer *t) { return t->opt.proj_dim; }
int64_t trainer_steps_done(const trainer *t) { return t->step; }

int trainer_features(trainer *t, const float *images, int64_t n, float *feat,
                     float *emb, char *err, size_t cap)
{
    int64_t i0, p = t->opt.proj_dim;
    for (i0 = 0; i0 < n; i0 += EVAL_CHUNK) {
        int64_t m = n - i0 < EVAL_CHUNK ? n - i0 : EVAL_CHUNK, i;
        float *out = emb != NULL ? emb + i0 * p : t->chunk_out;
        int rc;
        for (i = 0; i < m; i++)
            augment_plain(images + (i0 + i) * FMNIST_PIXELS, t->chunk_in + i * FMNIST_PIXELS,
                          &t->aug);
        rc = ctr_encoder_forward(t->enc, out, t->chunk_in, m, CTR_ENCODER_EVAL);
        if (rc == CTR_OK && feat != NULL)
            rc = ctr_encoder_layer_output(t->enc, feat + i0 * t->feat_dim, t->feat_layer);
        if (rc != CTR_OK)
            return lib_fail(err, cap, "features", rc, ctr_encoder_last_error(t->enc));
    }
    return 0;
}

int trainer_embeddings(trainer *t, const float *images, int64_t n, float *emb,
                       int augmented, char *err, size_t cap)
{
    /* Evaluation draws from its own generator, so the training stream is
     * the same whether or not (and how often) the run is evaluated. */
    float *view = malloc(FMNIST_PIXELS * sizeof(float) * EVAL_CHUNK);
    ctr_rng *rng = NULL;
    int64_t i0, i;
    if (view == NULL || ctr_rng_create(&rng, t->opt.seed + 7, NULL) != CTR_OK) {
        free(view);
        return FAIL("out of memory");
    }
    for (i0 = 0; i0 < n; i0 += EVAL_CHUNK) {
        int64_t m = n - i0 < EVAL_CHUNK ? n - i0 : EVAL_CHUNK;
        int rc = CTR_OK;
        for (i = 0; i < m; i++) {
            const float *src = images + (i0 + i) * FMNIST_PIXELS;
            if (augmented)
                rc = augment_image(src, view + i * FMNIST_PIXELS, &t->aug, rng);
            else
                augment_plain(src, view + i * FMNIST_PIXELS, &t->aug);
        }
        if (rc == CTR_OK)
            rc = ctr_encoder_forward(t->enc, emb + i0 * t->opt.proj_dim, view, m,
                                     CTR_ENCODER_EVAL | CTR_ENCODER_NO_GRAD);
        if (rc != CTR_OK) {
            free(view);
            ctr_rng_destroy(rng);
            return lib_fail(err, cap, "embeddings", rc, ctr_encoder_last_error(t->enc));
        }
    }
    free(view);
    ctr_rng_destroy(rng);
    return 0;
}

/* ---- checkpoints ------------------------------------------------------------------------ */

/* Several ranks: one file per rank, state.<rank>of<size>.ckpt (a rank's
 * bank shard and MoCo's key encoder statistics are its own). */
static const char *state_path(const trainer *t, char *buf, size_t cap, const char *dir)
{
    if (t->size > 1)
        snprintf(buf, cap, "%s/state.%lldof%lld.ckpt", dir, (long long)t->rank,
                 (long long)t->size);
    else
        snprintf(buf, cap, "%s/%s", dir, STATE_FILE);
    return buf;
}

int trainer_save(const trainer *t, const char *dir, char *err, size_t cap)
{
    char path[4096];
    int rc = ctr_state_save(t->state, state_path(t, path, sizeof(path), dir));
    if (rc != CTR_OK)
        return lib_fail(err, cap, "saving the checkpoint", rc,
                        ctr_state_last_error(t->state));
    return 0;
}

int trainer_load(trainer *t, const char *dir, char *err, size_t cap)
{
    char path[4096];
    int64_t step = 0;
    int rc = ctr_state_load(t->state, state_path(t, path, sizeof(path), dir));
    if (rc == CTR_OK)
        rc = ctr_optimizer_get_i64(t->optim, CTR_OPTIMIZER_P_STEP, &step);
    if (rc != CTR_OK)
        return lib_fail(err, cap, "loading the checkpoint", rc,
                        ctr_state_last_error(t->state));
    t->step = step;
    return 0;
}


/* ---- across ranks ------------------------------------------------------------------------ */

/* One encoder's running statistics averaged over the ranks: each rank's
 * move towards its own groups' statistics, and the moves are linear, so
 * the mean is the one process's statistics. A failure on one rank (out
 * of memory: a NULL buffer) is an error on every rank. */
static int average_stats(ctr_comm *comm, ctr_encoder *enc)
{
    int64_t n = 0;
    float *buf;
    int rc = ctr_encoder_num_stats(enc, &n);
    if (rc != CTR_OK || n == 0)
        return rc;
    buf = malloc((size_t)n * sizeof(float));
    if (buf != NULL) rc = ctr_encoder_get_stats(enc, buf, n);
    if (rc == CTR_OK) rc = ctr_comm_average_f32(comm, buf, n, 1.0);
    if (rc == CTR_OK) rc = ctr_encoder_set_stats(enc, buf, n);
    free(buf);
    return rc;
}

int trainer_sync(trainer *t, char *err, size_t cap)
{
    int rc = CTR_OK;
    if (t->comm == NULL || t->opt.method != METHOD_MOCO)
        return 0;
    rc = average_stats(t->comm, t->enc);
    if (rc == CTR_OK) rc = average_stats(t->comm, t->key_enc);
    if (rc != CTR_OK)
        return lib_fail(err, cap, "averaging the BN statistics", rc, ctr_comm_last_error(t->comm));
    return 0;
}
