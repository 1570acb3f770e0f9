/*
 * cpc.c - Contrastive Predictive Coding from a blank file (docs/guide.md):
 * an encoder maps each frame of a sequence to a latent z_t, a GRU
 * summarises the latents so far into a context c_t, and the CPC critic
 * scores z_{t+k} against W_k c_t for k = 1..STEPS_AHEAD, the other
 * sequences' latents serving as negatives. The prediction matrices are the
 * host's own buffer, trained by a buffer optimizer. Then the kNN accuracy
 * of the contexts, averaged over time, before and after training. (Raw
 * sequences are not the baseline here: their kNN sees every step at once.)
 */
#include "toy.h"

#include <string.h>

#define N_TRAIN 2048
#define N_TEST 512
#define BATCH 64
#define ITERS 300
#define LATENT 16
#define CONTEXT 32
#define STEPS_AHEAD 4
#define SEQ (TOY_STEPS * TOY_FRAME)
#define W_SIZE (STEPS_AHEAD * LATENT * CONTEXT)

/* The contexts of n sequences, averaged over time, into feat (n x CONTEXT). */
static void context_features(ctr_encoder *genc, ctr_encoder *gar, const float *x, int64_t n,
                             float *feat)
{
    float *zs = toy_alloc(n, TOY_STEPS * LATENT * sizeof(float));
    float *cs = toy_alloc(n, TOY_STEPS * CONTEXT * sizeof(float));
    int64_t i, t;
    toy_features(genc, zs, x, n);
    toy_features(gar, cs, zs, n);
    for (i = 0; i < n * CONTEXT; i++)
        for (feat[i] = 0.0f, t = 0; t < TOY_STEPS; t++)
            feat[i] += cs[((i / CONTEXT) * TOY_STEPS + t) * CONTEXT + i % CONTEXT] / TOY_STEPS;
    free(zs), free(cs);
}

int main(void)
{
    float *x = toy_alloc(N_TRAIN + N_TEST, SEQ * sizeof(float));
    float *batch = toy_alloc(BATCH, SEQ * sizeof(float));
    float *z = toy_alloc(BATCH * TOY_STEPS, LATENT * sizeof(float));
    float *c = toy_alloc(BATCH * TOY_STEPS, CONTEXT * sizeof(float));
    float *grad_z = toy_alloc(BATCH * TOY_STEPS, LATENT * sizeof(float));
    float *grad_zc = toy_alloc(BATCH * TOY_STEPS, LATENT * sizeof(float));
    float *grad_c = toy_alloc(BATCH * TOY_STEPS, CONTEXT * sizeof(float));
    float *w = toy_alloc(W_SIZE, sizeof(float)), *grad_w = toy_alloc(W_SIZE, sizeof(float));
    float *feat = toy_alloc(N_TRAIN + N_TEST, CONTEXT * sizeof(float));
    double random_acc;
    int64_t labels[N_TRAIN + N_TEST], rows[BATCH], i, it;
    int64_t frames[2] = {TOY_STEPS, TOY_FRAME}, latents[2] = {TOY_STEPS, LATENT};
    ctr_rng *rng;
    ctr_encoder *genc, *gar;
    ctr_optimizer *opt_enc, *opt_ar, *opt_w;
    ctr_objective *critic;
    ctr_cpc_args args;
    double loss = 0.0;

    TRY(ctr_rng_create(&rng, 1, NULL));
    toy_sequences(rng, x, labels, N_TRAIN + N_TEST);
    TRY(ctr_rng_normal(rng, w, W_SIZE, 0.0f, 0.05f));

    /* frame encoder (the same weights at every step) and the GRU context */
    TRY(ctr_encoder_create(&genc, frames, 2, 1, NULL));
    TRY(ctr_encoder_add_linear(genc, 64, 1));
    TRY(ctr_encoder_add_activation(genc, CTR_LAYER_RELU));
    TRY(ctr_encoder_add_linear(genc, LATENT, 1));
    TRY(ctr_encoder_create(&gar, latents, 2, 2, NULL));
    TRY(ctr_encoder_add_gru(gar, CONTEXT));
    TRY(ctr_optimizer_create_for_encoder(&opt_enc, CTR_OPTIMIZER_ADAMW, genc, NULL));
    TRY(ctr_optimizer_create_for_encoder(&opt_ar, CTR_OPTIMIZER_ADAMW, gar, NULL));
    TRY(ctr_optimizer_create(&opt_w, CTR_OPTIMIZER_ADAMW, W_SIZE, NULL));
    TRY(ctr_objective_create(&critic, CTR_OBJECTIVE_CPC, NULL));
    TRY(ctr_cpc_args_init(&args));
    args.b = BATCH, args.t = TOY_STEPS, args.d = LATENT, args.dc = CONTEXT;
    args.steps = STEPS_AHEAD, args.z = z, args.c = c, args.w = w;
    args.grad_z = grad_z, args.grad_c = grad_c, args.grad_w = grad_w;

    context_features(genc, gar, x, N_TRAIN + N_TEST, feat); /* the untrained baseline */
    random_acc = toy_knn(feat, labels, N_TRAIN, feat + N_TRAIN * CONTEXT, labels + N_TRAIN, N_TEST,
                         CONTEXT);
    for (it = 0; it < ITERS; it++) {
        TRY(ctr_rng_below(rng, rows, BATCH, N_TRAIN));
        for (i = 0; i < BATCH; i++)
            memcpy(batch + i * SEQ, x + rows[i] * SEQ, SEQ * sizeof(float));
        TRY(ctr_encoder_forward(genc, z, batch, BATCH, CTR_ENCODER_TRAIN));
        TRY(ctr_encoder_forward(gar, c, z, BATCH, CTR_ENCODER_TRAIN));
        TRY(ctr_objective_cpc(critic, &args, &loss));
        /* z's gradient: the critic's own plus what flows back through the GRU */
        TRY(ctr_encoder_zero_grad(gar));
        TRY(ctr_encoder_backward(gar, grad_zc, grad_c));
        for (i = 0; i < BATCH * TOY_STEPS * LATENT; i++)
            grad_z[i] += grad_zc[i];
        TRY(ctr_encoder_zero_grad(genc));
        TRY(ctr_encoder_backward(genc, NULL, grad_z));
        TRY(ctr_optimizer_step(opt_enc));
        TRY(ctr_optimizer_step(opt_ar));
        TRY(ctr_optimizer_step_buffer(opt_w, w, grad_w, W_SIZE));
    }

    context_features(genc, gar, x, N_TRAIN + N_TEST, feat);
    printf("RESULT method=cpc loss=%.4f knn_acc=%.4f random_knn_acc=%.4f\n", loss,
           toy_knn(feat, labels, N_TRAIN, feat + N_TRAIN * CONTEXT, labels + N_TRAIN, N_TEST,
                   CONTEXT),
           random_acc);
    ctr_objective_destroy(critic);
    ctr_optimizer_destroy(opt_w), ctr_optimizer_destroy(opt_ar), ctr_optimizer_destroy(opt_enc);
    ctr_encoder_destroy(gar), ctr_encoder_destroy(genc);
    ctr_rng_destroy(rng);
    free(x), free(batch), free(z), free(c), free(grad_z), free(grad_zc), free(grad_c);
    free(w), free(grad_w), free(feat);
    return 0;
}
