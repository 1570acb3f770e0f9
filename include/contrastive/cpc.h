/*
 * contrastive/cpc.h - predictive coding: the multi-step log-bilinear
 * critic of CPC (van den Oord et al. 2018), CPC v2 (Henaff et al. 2019)
 * and Greedy InfoMax (Lowe et al. 2019), and the patch grid CPC v2 runs
 * its encoder on. Included by contrastive.h; do not include it on its own.
 * docs/objectives.md ("CPC") gives the math, the negative policies and
 * the memory; examples/cpc-speech and examples/cpc-images use it.
 *
 * The critic is an objective kind (CTR_OBJECTIVE_CPC): create it with
 * ctr_objective_create, read its statistics with ctr_objective_stat, save
 * it with ctr_objective_save, as every objective. Its prediction matrices
 * W_k are NOT in the handle: they are a caller-owned float buffer, so the
 * host trains them like any parameter (ctr_optimizer_step_buffer) and
 * saves them with its own state.
 *
 * Thread rule: one thread at a time per objective handle (and per ctr_rng
 * passed in); ctr_patch_grid is thread-safe. The critic uses cBLAS at the
 * host's BLAS thread count.
 */
#ifndef CONTRASTIVE_CPC_H
#define CONTRASTIVE_CPC_H

#ifdef __cplusplus
extern "C" {
#endif

/* The objective kind of the CPC critic (ctr_objective_create), pinned like
 * the kinds of contrastive/objective.h. It reads CTR_OBJECTIVE_P_TEMPERATURE
 * (default 1: the papers' critic has no temperature) and ignores the other
 * parameters. Since 0.1.0. */
#define CTR_OBJECTIVE_CPC 70

/* Negative policies (the `negatives` field of ctr_cpc_args; 0 means
 * CTR_CPC_NEG_BATCH). */
/* The other b - 1 sequences' latents at the positive's time step (the
 * common PyTorch CPC convention). Chance level log(b). */
#define CTR_CPC_NEG_BATCH 1
/* n_neg latents per anchor and step drawn uniformly, with replacement,
 * from all b * t positions except the positive (Greedy InfoMax's audio
 * convention, without its chance of drawing the positive), from `rng`; or
 * the caller's indices. Chance level log(n_neg + 1). */
#define CTR_CPC_NEG_SAMPLED 2
/* Every latent position of the batch: b * t candidates, the positive one
 * of them (CPC v2 on patch grids). Chance level log(b * t). */
#define CTR_CPC_NEG_ALL 3

/* The operands and options of one ctr_objective_cpc call. A versioned
 * struct: fields are only ever appended, and struct_size, the first field,
 * tells the library which of them the caller knows (see
 * ctr_objective_cpc). All zero except struct_size (ctr_cpc_args_init) is
 * the default: contiguous views, CTR_CPC_NEG_BATCH, no bias, no sampled
 * negatives, no gradient or accuracy outputs. Since 0.1.0. */
typedef struct ctr_cpc_args {
    uint32_t struct_size;  /* sizeof(ctr_cpc_args) as the caller knows it */
    int32_t negatives;     /* CTR_CPC_NEG_*; 0: CTR_CPC_NEG_BATCH */
    int64_t b, t, d, dc;   /* sequences, steps each, latent and context dims */
    int64_t steps;         /* K, the prediction steps: 1 <= K <= t - 1 */
    const float *z;        /* latents, b x t x d view */
    int64_t z_seq_stride;  /* floats between sequences; 0: t * d */
    int64_t z_time_stride; /* floats between steps; 0: d */
    const float *c;        /* contexts, b x t x dc view */
    int64_t c_seq_stride;  /* 0: t * dc */
    int64_t c_time_stride; /* 0: dc */
    const float *w;        /* K x d x dc prediction matrices */
    const float *bias;     /* K x d, or NULL: no bias */
    int64_t n_neg;         /* SAMPLED: negatives per anchor and step */
    ctr_rng *rng;          /* SAMPLED: the generator drawn from, or NULL */
    const int64_t *neg_idx; /* SAMPLED: the caller's indices, or NULL */
    float *grad_z;         /* outputs, each NULL: not computed */
    float *grad_c;
    float *grad_w;
    float *grad_bias;
    double *step_acc;      /* K per-step accuracies */
} ctr_cpc_args;

/* The multi-step log-bilinear critic (kind CTR_OBJECTIVE_CPC): loss
 * (may be NULL) receives the loss of the operands and options in *args
 * (ctr_cpc_args: fields named below; initialise it with ctr_cpc_args_init,
 * then set what differs from the defaults).
 *
 * args->struct_size must be a size of ctr_cpc_args this library knows:
 * today only sizeof(ctr_cpc_args) of 0.1.0 (ctr_cpc_args_struct_size());
 * later versions append fields and keep accepting the sizes of earlier
 * versions, leaving the new fields at their defaults. Any other value (0,
 * smaller, between two known sizes, or larger, i.e. from a newer header)
 * is CTR_E_INVALID_ARG with nothing written and the handle's message
 * naming the sizes.
 *
 * Operands (float32; a "view" is read through strides, so slices of larger
 * buffers work; a stride of 0, what ctr_cpc_args_init sets, means the
 * contiguous batch-major layout: seq stride t * row length, time stride
 * the row length):
 *   z    latents, b sequences x t steps x d: z_{s,u} starts at
 *        z + s * z_seq_stride + u * z_time_stride (its d floats contiguous);
 *   c    contexts, b x t x dc the same way (c_seq_stride, c_time_stride);
 *        both strides of each view must be 0 or >= its row length (d, dc), so a
 *        batch-major (b, t) or time-major (t, b) layout both work;
 *   w    the `steps` prediction matrices W_1..W_K (K = steps), K x d x dc,
 *        row-major, contiguous: W_k = w + (k - 1) * d * dc (PyTorch's
 *        nn.Linear(dc, d).weight of each step, stacked);
 *   bias K x d (may be NULL: no bias), b_k = bias + (k - 1) * d.
 * Score of context (s, u), step k, candidate latent v:
 *   f_k(s,u; v) = z_v . (W_k c_{s,u} + b_k) / tau.
 * Anchors of step k are the contexts with u + k < t; the positive of (s, u)
 * is z_{s,u+k}; the candidates are the positive and the negatives of the
 * policy `negatives` (CTR_CPC_NEG_*; 0: BATCH). loss_k = mean over the b * (t - k) anchors of
 * the cross-entropy of the softmax over the candidates (log-sum-exp minus
 * the positive's score); loss = (1/K) sum_k loss_k (positions averaged
 * within a step, then the steps).
 *
 * steps: 1 <= steps <= t - 1 (steps >= t is CTR_E_INVALID_ARG, never
 * clipped silently: to clip, pass steps = min(K, t - 1) and the same w,
 * whose first matrices are used).
 * SAMPLED: n_neg >= 1 negatives per anchor and step (b * t >= 2); neg_idx
 * (may be NULL) gives them: anchor (s, u) of step k reads n_neg indices at
 * neg_idx + (((k - 1) * b + s) * t + u) * n_neg, each a position s' * t + u'
 * in [0, b * t) (one equal to the positive counts as a negative); entries
 * of positions with u + k >= t are not read. With neg_idx NULL they are
 * drawn from rng (not NULL) for step k = 1..K, anchors in time-major order
 * (u, then s), n_neg each: the same generator state gives the same draws.
 * BATCH and ALL ignore n_neg, rng and neg_idx. BATCH works at b = 1 (no
 * negatives: loss 0, zero gradients).
 *
 * Outputs (each may be NULL: not computed; contiguous; must not overlap an
 * input): grad_z (b x t x d), grad_c (b x t x dc), grad_w (K x d x dc),
 * grad_bias (K x d; needs bias), the gradients of `loss`;
 * step_acc (K doubles): per step, the fraction of anchors whose positive
 * scores strictly above every negative (what the CPC paper plots).
 * Statistics (ctr_objective_stat): LOSS; ACCURACY the mean of step_acc;
 * POS_SIM / NEG_SIM the mean positive / negative score times tau;
 * CHANCE_LOSS log(candidates per anchor).
 *
 * Work: per step, one GEMM for the predictions of every anchor, the scores
 * (BATCH: a b x b GEMM per time step; ALL: GEMMs against all b * t
 * latents in row blocks; SAMPLED: vector dot products), and, for the
 * gradients, the same again plus one GEMM each for grad_w and grad_c.
 * Workspace (ctr_objective_cpc_workspace_size): b*t*(3d + 2dc) + K*d*dc
 * floats plus the score block (BATCH b*b; ALL max(b*t, 2^21); SAMPLED
 * 2 b*t*n_neg + n_neg + 1 + d); grown on the first call with given
 * shapes, then reused (later calls with the same or smaller shapes do not
 * allocate).
 * Errors: CTR_E_INVALID_ARG (args NULL, struct_size unknown, NULL operand,
 * size < 1, stride negative or between 1 and the row length - 1,
 * steps out of range, unknown policy, SAMPLED without rng or neg_idx, index
 * out of range, grad_bias without bias, wrong kind), CTR_E_OVERFLOW,
 * CTR_E_NUMERIC (NaN/Inf in an operand, or scores overflowing float:
 * nothing is written; a generator it drew from has advanced),
 * CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_objective_cpc(ctr_objective *obj, const ctr_cpc_args *args,
                              double *loss);

/* Sets a->struct_size to sizeof(ctr_cpc_args) and every other field to 0
 * (the defaults of ctr_objective_cpc). Errors: CTR_E_INVALID_ARG if a is
 * NULL. Thread-safe. Since 0.1.0. */
CTR_API int ctr_cpc_args_init(ctr_cpc_args *a);

/* sizeof(ctr_cpc_args) in this library, for FFI users who build the struct
 * by hand. Thread-safe. Since 0.1.0. */
CTR_API size_t ctr_cpc_args_struct_size(void);

/* Bytes of workspace ctr_objective_cpc needs for these shapes with every
 * gradient requested (fewer outputs need less). (The generic
 * ctr_objective_workspace_size on a CPC handle reads (b, d, k) as b
 * sequences of k steps with d = dc, BATCH negatives and steps = k - 1.)
 * negatives 0 means CTR_CPC_NEG_BATCH, as in ctr_cpc_args.
 * Errors: CTR_E_INVALID_ARG (NULL, wrong kind, sizes or policy as
 * ctr_objective_cpc), CTR_E_OVERFLOW. Since 0.1.0. */
CTR_API int ctr_objective_cpc_workspace_size(const ctr_objective *obj,
                                             size_t *bytes, int64_t b,
                                             int64_t t, int64_t d, int64_t dc,
                                             int64_t steps, int32_t negatives,
                                             int64_t n_neg);

/* Orders of ctr_patch_grid. */
/* Patches of an image by grid rows: (row 0: col 0..gw-1), (row 1: ...). */
#define CTR_PATCH_ROWS 1
/* By grid columns: (col 0: row 0..gh-1), (col 1: ...): each column is a
 * sequence of rows top to bottom, the layout a context that runs down the
 * columns (and ctr_objective_cpc with z_seq_stride = gh * size,
 * z_time_stride = size) reads directly. */
#define CTR_PATCH_COLUMNS 2

/* Cuts n images (channels x height x width each, contiguous, channels
 * first) into overlapping square patches of patch x patch pixels taken
 * every `stride` pixels: a grid of gh x gw patches per image,
 * gh = (height - patch) / stride + 1, gw likewise (trailing pixels that
 * do not fill a patch are left out). out receives n * gh * gw patches,
 * each channels x patch x patch (an image sample for an encoder created
 * with dims {channels, patch, patch}), image by image, each image's
 * patches in `order` (CTR_PATCH_*). out NULL only writes grid_h / grid_w
 * (a size query; images may then be NULL too). grid_h, grid_w may be NULL.
 * E.g. 28 x 28 Fashion-MNIST, patch 8, stride 4: a 6 x 6 grid covering
 * every pixel, 36 patches of 64 pixels per image.
 * No allocation, no check of the values (NaN is copied as is).
 * Errors: CTR_E_INVALID_ARG (images NULL with out, n, channels, height,
 * width, patch or stride < 1, patch > height or width, unknown order),
 * CTR_E_OVERFLOW. Thread-safe. Since 0.1.0. */
CTR_API int ctr_patch_grid(float *out, int64_t *grid_h, int64_t *grid_w,
                           const float *images, int64_t n, int64_t channels,
                           int64_t height, int64_t width, int64_t patch,
                           int64_t stride, int32_t order);

#ifdef __cplusplus
}
#endif

#endif /* CONTRASTIVE_CPC_H */
