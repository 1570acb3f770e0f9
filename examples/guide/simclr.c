/*
 * simclr.c - SimCLR from a blank file (docs/guide.md): an encoder, NT-Xent
 * on two views of each batch, AdamW; then the kNN accuracy of its features
 * against that of the raw inputs.
 */
#include "toy.h"

#define N_TRAIN 4096
#define N_TEST 1024
#define BATCH 128
#define STEPS 300
#define EMBED 16

int main(void)
{
    float *x = toy_alloc(N_TRAIN + N_TEST, TOY_DIM * sizeof(float));
    float *views = toy_alloc(2 * BATCH, TOY_DIM * sizeof(float));
    float *z = toy_alloc(2 * BATCH, EMBED * sizeof(float));
    float *grad = toy_alloc(2 * BATCH, EMBED * sizeof(float));
    float *feat = toy_alloc(N_TRAIN + N_TEST, EMBED * sizeof(float));
    int64_t labels[N_TRAIN + N_TEST], rows[BATCH], dims[1] = {TOY_DIM}, step;
    ctr_rng *rng;
    ctr_encoder *enc;
    ctr_optimizer *opt;
    ctr_objective *ntxent;
    double loss = 0.0;

    TRY(ctr_rng_create(&rng, 1, NULL));
    toy_points(rng, x, labels, N_TRAIN + N_TEST);

    /* encoder: linear, batch norm, ReLU, linear to the embedding */
    TRY(ctr_encoder_create(&enc, dims, 1, 1, NULL));
    TRY(ctr_encoder_add_linear(enc, 64, 1));
    TRY(ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1));
    TRY(ctr_encoder_add_activation(enc, CTR_LAYER_RELU));
    TRY(ctr_encoder_add_linear(enc, EMBED, 1));
    TRY(ctr_optimizer_create_for_encoder(&opt, CTR_OPTIMIZER_ADAMW, enc, NULL));
    TRY(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_LR, 0.01));
    TRY(ctr_objective_create(&ntxent, CTR_OBJECTIVE_NTXENT, NULL));
    TRY(ctr_objective_set_f64(ntxent, CTR_OBJECTIVE_P_TEMPERATURE, 0.2));

    for (step = 0; step < STEPS; step++) {
        /* two views of BATCH random training points, encoded as one batch */
        TRY(ctr_rng_below(rng, rows, BATCH, N_TRAIN));
        toy_view(rng, views, x, rows, BATCH);
        toy_view(rng, views + BATCH * TOY_DIM, x, rows, BATCH);
        TRY(ctr_encoder_forward(enc, z, views, 2 * BATCH, CTR_ENCODER_TRAIN));
        TRY(ctr_objective_ntxent(ntxent, &loss, z, EMBED, z + BATCH * EMBED, EMBED, BATCH,
                                 EMBED, NULL, grad, grad + BATCH * EMBED));
        TRY(ctr_encoder_zero_grad(enc));
        TRY(ctr_encoder_backward(enc, NULL, grad));
        TRY(ctr_optimizer_step(opt));
    }

    toy_features(enc, feat, x, N_TRAIN + N_TEST);
    printf("RESULT method=simclr loss=%.4f knn_acc=%.4f raw_knn_acc=%.4f\n", loss,
           toy_knn(feat, labels, N_TRAIN, feat + N_TRAIN * EMBED, labels + N_TRAIN, N_TEST, EMBED),
           toy_knn(x, labels, N_TRAIN, x + N_TRAIN * TOY_DIM, labels + N_TRAIN, N_TEST, TOY_DIM));
    ctr_objective_destroy(ntxent);
    ctr_optimizer_destroy(opt);
    ctr_encoder_destroy(enc);
    ctr_rng_destroy(rng);
    free(x), free(views), free(z), free(grad), free(feat);
    return 0;
}
