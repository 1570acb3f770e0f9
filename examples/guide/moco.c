/*
 * moco.c - MoCo from a blank file (docs/guide.md): a query encoder trained
 * by InfoNCE against a momentum key encoder's keys and a queue of earlier
 * keys; then the kNN accuracy of its features against the raw inputs'.
 */
#include "toy.h"

#define N_TRAIN 4096
#define N_TEST 1024
#define BATCH 128
#define STEPS 300
#define EMBED 16
#define QUEUE 1024

int main(void)
{
    float *x = toy_alloc(N_TRAIN + N_TEST, TOY_DIM * sizeof(float));
    float *views = toy_alloc(2 * BATCH, TOY_DIM * sizeof(float));
    float *q = toy_alloc(BATCH, EMBED * sizeof(float));
    float *k = toy_alloc(BATCH, EMBED * sizeof(float));
    float *grad = toy_alloc(BATCH, EMBED * sizeof(float));
    float *feat = toy_alloc(N_TRAIN + N_TEST, EMBED * sizeof(float));
    int64_t labels[N_TRAIN + N_TEST], rows[BATCH], dims[1] = {TOY_DIM}, step;
    ctr_rng *rng;
    ctr_encoder *query, *key;
    ctr_optimizer *opt;
    ctr_objective *infonce;
    ctr_queue *queue;
    double loss = 0.0;

    TRY(ctr_rng_create(&rng, 1, NULL));
    toy_points(rng, x, labels, N_TRAIN + N_TEST);

    /* query encoder with unit-length outputs; the key encoder starts as its copy */
    TRY(ctr_encoder_create(&query, dims, 1, 1, NULL));
    TRY(ctr_encoder_add_linear(query, 64, 1));
    TRY(ctr_encoder_add_batchnorm(query, 1e-5, 0.1, 1));
    TRY(ctr_encoder_add_activation(query, CTR_LAYER_RELU));
    TRY(ctr_encoder_add_linear(query, EMBED, 1));
    TRY(ctr_encoder_add_l2norm(query, 1e-12));
    TRY(ctr_encoder_clone(&key, query));
    TRY(ctr_optimizer_create_for_encoder(&opt, CTR_OPTIMIZER_ADAMW, query, NULL));
    TRY(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_LR, 0.01));
    TRY(ctr_objective_create(&infonce, CTR_OBJECTIVE_INFONCE_SHARED, NULL));
    TRY(ctr_objective_set_f64(infonce, CTR_OBJECTIVE_P_TEMPERATURE, 0.2));
    TRY(ctr_queue_create(&queue, QUEUE, EMBED, CTR_QUEUE_INIT_RANDOM, 1, NULL));

    for (step = 0; step < STEPS; step++) {
        TRY(ctr_rng_below(rng, rows, BATCH, N_TRAIN));
        toy_view(rng, views, x, rows, BATCH);
        toy_view(rng, views + BATCH * TOY_DIM, x, rows, BATCH);
        /* keys: no gradient, nothing kept for backward */
        TRY(ctr_encoder_momentum_update(key, query, 0.99, 0));
        TRY(ctr_encoder_forward(key, k, views + BATCH * TOY_DIM, BATCH,
                                CTR_ENCODER_TRAIN | CTR_ENCODER_NO_GRAD));
        TRY(ctr_encoder_forward(query, q, views, BATCH, CTR_ENCODER_TRAIN));
        TRY(ctr_objective_infonce_queue(infonce, &loss, q, EMBED, k, EMBED, BATCH, EMBED, queue,
                                        NULL, grad, NULL));
        TRY(ctr_encoder_zero_grad(query));
        TRY(ctr_encoder_backward(query, NULL, grad));
        TRY(ctr_optimizer_step(opt));
        TRY(ctr_queue_enqueue(queue, k, BATCH, EMBED, NULL));
    }

    toy_features(query, feat, x, N_TRAIN + N_TEST);
    printf("RESULT method=moco loss=%.4f knn_acc=%.4f raw_knn_acc=%.4f\n", loss,
           toy_knn(feat, labels, N_TRAIN, feat + N_TRAIN * EMBED, labels + N_TRAIN, N_TEST, EMBED),
           toy_knn(x, labels, N_TRAIN, x + N_TRAIN * TOY_DIM, labels + N_TRAIN, N_TEST, TOY_DIM));
    ctr_queue_destroy(queue);
    ctr_objective_destroy(infonce);
    ctr_optimizer_destroy(opt);
    ctr_encoder_destroy(key);
    ctr_encoder_destroy(query);
    ctr_rng_destroy(rng);
    free(x), free(views), free(q), free(k), free(grad), free(feat);
    return 0;
}
