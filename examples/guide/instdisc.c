/*
 * instdisc.c - Instance Discrimination from a blank file (docs/guide.md):
 * every training point is its own class; a memory bank holds one feature per
 * point, NCE contrasts each point with noise rows drawn from the bank, and
 * the bank follows the encoder by momentum. Then the kNN accuracy of the
 * features against the raw inputs'.
 */
#include "toy.h"

#define N_TRAIN 4096
#define N_TEST 1024
#define BATCH 128
#define STEPS 600
#define EMBED 16
#define NOISE 256

int main(void)
{
    float *x = toy_alloc(N_TRAIN + N_TEST, TOY_DIM * sizeof(float));
    float *view = toy_alloc(BATCH, TOY_DIM * sizeof(float));
    float *z = toy_alloc(BATCH, EMBED * sizeof(float));
    float *grad = toy_alloc(BATCH, EMBED * sizeof(float));
    float *feat = toy_alloc(N_TRAIN + N_TEST, EMBED * sizeof(float));
    int64_t *noise = toy_alloc(BATCH * NOISE, sizeof(int64_t));
    int64_t labels[N_TRAIN + N_TEST], rows[BATCH], dims[1] = {TOY_DIM}, step, ld;
    const float *memory;
    ctr_rng *rng;
    ctr_encoder *enc;
    ctr_optimizer *opt;
    ctr_objective *nce;
    ctr_bank *bank;
    double loss = 0.0;

    TRY(ctr_rng_create(&rng, 1, NULL));
    toy_points(rng, x, labels, N_TRAIN + N_TEST);

    TRY(ctr_encoder_create(&enc, dims, 1, 1, NULL));
    TRY(ctr_encoder_add_linear(enc, 64, 1));
    TRY(ctr_encoder_add_batchnorm(enc, 1e-5, 0.1, 1));
    TRY(ctr_encoder_add_activation(enc, CTR_LAYER_RELU));
    TRY(ctr_encoder_add_linear(enc, EMBED, 1));
    TRY(ctr_encoder_add_l2norm(enc, 1e-12));
    TRY(ctr_optimizer_create_for_encoder(&opt, CTR_OPTIMIZER_ADAMW, enc, NULL));
    TRY(ctr_optimizer_set_f64(opt, CTR_OPTIMIZER_P_LR, 0.01));
    TRY(ctr_objective_create(&nce, CTR_OBJECTIVE_NCE, NULL));
    TRY(ctr_objective_set_f64(nce, CTR_OBJECTIVE_P_TEMPERATURE, 0.1));
    /* one unit-length row per training point, momentum 0.5 */
    TRY(ctr_bank_create(&bank, N_TRAIN, EMBED, 1, NULL));
    TRY(ctr_bank_rows(bank, &memory, NULL, &ld));

    for (step = 0; step < STEPS; step++) {
        TRY(ctr_rng_below(rng, rows, BATCH, N_TRAIN));
        toy_view(rng, view, x, rows, BATCH);
        TRY(ctr_encoder_forward(enc, z, view, BATCH, CTR_ENCODER_TRAIN));
        /* each point's own row is its positive; NOISE other rows its noise */
        TRY(ctr_bank_sample(bank, noise, BATCH, NOISE, rows));
        TRY(ctr_objective_nce(nce, &loss, z, EMBED, BATCH, EMBED, memory, ld, N_TRAIN, rows,
                              noise, NOISE, grad));
        TRY(ctr_encoder_zero_grad(enc));
        TRY(ctr_encoder_backward(enc, NULL, grad));
        TRY(ctr_optimizer_step(opt));
        TRY(ctr_bank_update(bank, rows, BATCH, z, EMBED));
    }

    toy_features(enc, feat, x, N_TRAIN + N_TEST);
    printf("RESULT method=instdisc loss=%.4f knn_acc=%.4f raw_knn_acc=%.4f\n", loss,
           toy_knn(feat, labels, N_TRAIN, feat + N_TRAIN * EMBED, labels + N_TRAIN, N_TEST, EMBED),
           toy_knn(x, labels, N_TRAIN, x + N_TRAIN * TOY_DIM, labels + N_TRAIN, N_TEST, TOY_DIM));
    ctr_bank_destroy(bank);
    ctr_objective_destroy(nce);
    ctr_optimizer_destroy(opt);
    ctr_encoder_destroy(enc);
    ctr_rng_destroy(rng);
    free(x), free(view), free(z), free(grad), free(feat), free(noise);
    return 0;
}
