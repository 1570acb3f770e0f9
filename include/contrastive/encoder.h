/*
 * contrastive/encoder.h - small networks with exact backward passes.
 * Included by contrastive.h; do not include it on its own.
 *
 * An encoder is built layer by layer from an input shape, then run forward
 * (train or eval mode) and backward. docs/encoder.md is the guide; this
 * header is the reference.
 *
 * Shapes. Every sample has one of three shapes (ndims = 1, 2 or 3):
 *   vector    F         (ndims 1)
 *   sequence  T x F     (ndims 2; time-major, features last)
 *   image     C x H x W (ndims 3; channels first, as PyTorch)
 * A batch of n samples is n contiguous samples, float32, row-major.
 *
 * Parameters. All trainable parameters live in one flat float array, layer
 * by layer in the order the layers were added and, within a layer, in
 * PyTorch's order: linear weight (out x in, row-major) then bias; conv2d
 * weight (out x C x k x k) then bias; conv1d weight (out x F x k) then
 * bias; norm weight (gamma) then bias (beta); GRU weight_ih (3H x F),
 * weight_hh (3H x H), bias_ih (3H), bias_hh (3H). Gradients have the same
 * layout. Batch norm running statistics (mean then variance per layer) are
 * a separate "stats" array that is not trained.
 *
 * Initialisation follows PyTorch's defaults, drawn from the encoder's own
 * seeded generator: linear and convolution weights and biases uniform in
 * +-1/sqrt(fan_in) (Kaiming-uniform with a = sqrt(5)); GRU parameters
 * uniform in +-1/sqrt(hidden); norm gamma 1, beta 0; running mean 0,
 * running variance 1.
 *
 * Memory: the first forward with a batch of n samples allocates the
 * workspace for n; later forward/backward calls with n or fewer samples do
 * not allocate. Adding a layer or changing CTR_ENCODER_P_BN_GROUPS releases
 * the workspace. ctr_encoder_memory() tells the bytes needed for a batch.
 *
 * Thread rule: one thread at a time changes a handle. Different handles are
 * independent. Calls that take a const encoder (clone, save, the queries,
 * and the source of ctr_encoder_copy_params and ctr_encoder_momentum_update)
 * only read it, its message included, so threads may share a source for
 * them while no thread changes it.
 */
#ifndef CONTRASTIVE_ENCODER_H
#define CONTRASTIVE_ENCODER_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctr_encoder ctr_encoder;

/* Layer kinds (ctr_encoder_layer_kind, ctr_encoder_add_activation). */
#define CTR_LAYER_LINEAR 10
#define CTR_LAYER_BATCHNORM 20
#define CTR_LAYER_LAYERNORM 30
#define CTR_LAYER_RELU 40
#define CTR_LAYER_GELU 41 /* exact (erf) form, PyTorch's default */
#define CTR_LAYER_TANH 42
#define CTR_LAYER_L2NORM 50
#define CTR_LAYER_FLATTEN 60
#define CTR_LAYER_CONV2D 70
#define CTR_LAYER_CONV1D 71
#define CTR_LAYER_MAXPOOL2D 80
#define CTR_LAYER_AVGPOOL2D 81
#define CTR_LAYER_GLOBAL_AVGPOOL 82
#define CTR_LAYER_DROPOUT 90
#define CTR_LAYER_GRU 100
#define CTR_LAYER_RESIDUAL 110 /* ctr_encoder_add_residual */

/* Shortcuts of a residual block (ctr_encoder_add_residual). */
#define CTR_SHORTCUT_IDENTITY 1   /* the block's input itself */
#define CTR_SHORTCUT_PROJECTION 2 /* 1x1 convolution (no bias) + batch norm */

/* Layer indices with a meaning of their own (ctr_encoder_shape,
 * ctr_encoder_layer_output, ctr_encoder_add_residual's source). */
#define CTR_ENCODER_INPUT (-1)  /* the encoder's input */
#define CTR_ENCODER_OUTPUT (-2) /* the last layer (the encoder's output) */

/* Forward modes. */
#define CTR_ENCODER_TRAIN 1 /* batch statistics, caches for backward */
#define CTR_ENCODER_EVAL 2  /* running statistics, no backward possible */
/* A flag OR'ed into either mode: keep nothing for backward (inference:
 * MoCo's key encoder as TRAIN | NO_GRAD, features as EVAL | NO_GRAD). */
#define CTR_ENCODER_NO_GRAD 16

/* Roles of parameter tensors (ctr_encoder_tensor_info). */
#define CTR_TENSOR_WEIGHT 1      /* linear weight: adapted and decayed */
#define CTR_TENSOR_BIAS 2        /* linear bias */
#define CTR_TENSOR_NORM_WEIGHT 3 /* batch/layer norm gamma */
#define CTR_TENSOR_NORM_BIAS 4   /* batch/layer norm beta */

/* Tunables (ctr_encoder_set_i64 / get_i64 / param_bounds). */
/* Batch norm statistics are computed in G equal, contiguous groups of the
 * batch (the batch size must be a multiple of G): G = 1 is ordinary batch
 * norm; G > 1 emulates MoCo's shuffle BN on one process. The running
 * statistics move towards the mean over groups of each group's mean and
 * unbiased variance. Default 1. Saved with the encoder. */
#define CTR_ENCODER_P_BN_GROUPS 10

/* Creates an empty encoder (no layers: forward copies its input) for
 * samples of shape dims[0..ndims), ndims in 1..3 (see Shapes above), each
 * dimension >= 1. seed drives every random choice (initialisation).
 * alloc may be NULL (system allocator).
 * Errors: CTR_E_INVALID_ARG (out or dims NULL, ndims or a dimension out
 * of range, bad allocator), CTR_E_OVERFLOW, CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_encoder_create(ctr_encoder **out, const int64_t *dims,
                               int32_t ndims, uint64_t seed,
                               const ctr_allocator *alloc);

/* Frees the encoder. NULL is accepted. Since 0.1.0. */
CTR_API void ctr_encoder_destroy(ctr_encoder *enc);

/* ---- building ------------------------------------------------------------ */
/* Each add appends one layer to the current output shape. On error the
 * encoder is unchanged. Common errors: CTR_E_INVALID_ARG (NULL handle,
 * bad hyper-parameter), CTR_E_SHAPE (the layer cannot take the current
 * shape), CTR_E_OVERFLOW, CTR_E_NOMEM. */

/* Linear layer y = x W^T + b on the last dimension (vector F -> out;
 * sequence T x F -> T x out, the same weights at every step). bias is 0
 * or 1. Images must be flattened first (CTR_E_SHAPE). Since 0.1.0. */
CTR_API int ctr_encoder_add_linear(ctr_encoder *enc, int64_t out_features,
                                   int32_t bias);

/* Batch normalisation per channel: the features of a vector (BatchNorm1d),
 * the channels of an image over H x W (BatchNorm2d), the features of a
 * sequence over all time steps. Train mode normalises with the batch's
 * biased variance and updates running_stat = (1 - momentum) *
 * running_stat + momentum * batch_stat (unbiased variance), as PyTorch;
 * eval mode uses the running statistics. eps > 0, momentum in [0, 1],
 * affine 0 or 1 (gamma/beta parameters). Since 0.1.0. */
CTR_API int ctr_encoder_add_batchnorm(ctr_encoder *enc, double eps,
                                      double momentum, int32_t affine);

/* Layer normalisation over the last dimension (vector, sequence) or over
 * the whole C x H x W sample (image), biased variance, eps inside the
 * square root; affine 0 or 1 adds elementwise gamma and beta of the
 * normalised size. eps > 0. Since 0.1.0. */
CTR_API int ctr_encoder_add_layernorm(ctr_encoder *enc, double eps,
                                      int32_t affine);

/* Elementwise activation: kind is CTR_LAYER_RELU, CTR_LAYER_GELU or
 * CTR_LAYER_TANH (CTR_E_INVALID_ARG otherwise). Since 0.1.0. */
CTR_API int ctr_encoder_add_activation(ctr_encoder *enc, int32_t kind);

/* L2 normalisation y = x / max(||x||, eps) over the last dimension
 * (vector, sequence) or the whole sample (image), as
 * torch.nn.functional.normalize. eps > 0 (PyTorch uses 1e-12).
 * Since 0.1.0. */
CTR_API int ctr_encoder_add_l2norm(ctr_encoder *enc, double eps);

/* Reshapes a sequence or image into a vector of all its elements (no-op
 * on a vector shape is CTR_E_SHAPE). Since 0.1.0. */
CTR_API int ctr_encoder_add_flatten(ctr_encoder *enc);

/* 2-D convolution of an image C x H x W -> out_channels x H' x W' with a
 * square kernel, one stride and zero padding for both axes (H' = (H + 2p -
 * k) / s + 1); weight out x C x k x k, as torch.nn.Conv2d; bias 0 or 1.
 * kernel, stride in [1, 4096], padding in [0, 4096]. Since 0.1.0. */
CTR_API int ctr_encoder_add_conv2d(ctr_encoder *enc, int64_t out_channels,
                                   int64_t kernel, int64_t stride,
                                   int64_t padding, int32_t bias);

/* 1-D convolution over the time axis of a sequence T x F (F input
 * channels) -> T' x out_channels (time-major, ready for a GRU); weight
 * out x F x k, as torch.nn.Conv1d applied to the transposed (F x T)
 * sequence. Same argument rules as conv2d. Since 0.1.0. */
CTR_API int ctr_encoder_add_conv1d(ctr_encoder *enc, int64_t out_channels,
                                   int64_t kernel, int64_t stride,
                                   int64_t padding, int32_t bias);

/* Max (kind CTR_LAYER_MAXPOOL2D) or average (CTR_LAYER_AVGPOOL2D) pooling
 * of an image over square windows, floor mode; padding in [0, kernel/2]
 * (ignored by max, counted as zeros by average: count_include_pad=True).
 * Since 0.1.0. */
CTR_API int ctr_encoder_add_pool2d(ctr_encoder *enc, int32_t kind,
                                   int64_t kernel, int64_t stride,
                                   int64_t padding);

/* Global average pooling: image C x H x W -> vector of C. Since 0.1.0. */
CTR_API int ctr_encoder_add_global_avgpool(ctr_encoder *enc);

/* Dropout with probability p in [0, 1): in train mode each element is
 * zeroed with probability p and the others scaled by 1/(1-p), drawing from
 * the encoder's seeded generator; eval mode passes the input through.
 * Since 0.1.0. */
CTR_API int ctr_encoder_add_dropout(ctr_encoder *enc, double p);

/* A one-layer GRU over a sequence T x F returning every hidden state,
 * T x hidden, starting from h = 0 (torch.nn.GRU, batch_first, its gate
 * order r|z|n and parameter order weight_ih, weight_hh, bias_ih, bias_hh;
 * all initialised uniform in +-1/sqrt(hidden)). Since 0.1.0. */
CTR_API int ctr_encoder_add_gru(ctr_encoder *enc, int64_t hidden);

/* Closes a residual block: y = branch + shortcut(source), where the
 * branch is every layer added after layer `source` (at least one) and
 * source is a layer index or CTR_ENCODER_INPUT (take it from
 * ctr_encoder_last_layer before adding the branch). ResNet's basic block
 * is: source; conv2d 3x3 (stride s, no bias), batchnorm, ReLU, conv2d 3x3,
 * batchnorm; add_residual; ReLU (see docs/encoder.md). shortcut:
 *   CTR_SHORTCUT_IDENTITY    the source itself: its shape must be the
 *                            branch's; stride must be 1, eps and momentum
 *                            are ignored;
 *   CTR_SHORTCUT_PROJECTION  images only: a 1x1 convolution of the source
 *                            to the branch's channels with `stride` (in
 *                            [1, 4096]; its output must have the branch's
 *                            shape) and no bias, then batch norm with
 *                            gamma and beta (eps > 0, momentum in [0, 1],
 *                            as ctr_encoder_add_batchnorm), as
 *                            torchvision's downsample.
 * Blocks nest and may share a source. Parameters (projection): the
 * convolution's weight (O x C x 1 x 1), gamma, beta; running statistics:
 * mean, variance; the batch norm follows CTR_ENCODER_P_BN_GROUPS.
 * The layer's kind is CTR_LAYER_RESIDUAL; its output is the sum (add the
 * ReLU after it). Errors: CTR_E_INVALID_ARG (source not a layer before the
 * last, unknown shortcut, bad stride, eps or momentum), CTR_E_SHAPE
 * (shapes do not match), CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_encoder_add_residual(ctr_encoder *enc, int64_t source,
                                     int32_t shortcut, int64_t stride,
                                     double eps, double momentum);

/* ---- running ----------------------------------------------------------- */

/* Runs the network on n samples x (n x input size floats) and writes the
 * n x output size result to y. mode is CTR_ENCODER_TRAIN (batch
 * statistics, running statistics updated, activations cached for backward;
 * the input is copied, so x may change afterwards) or CTR_ENCODER_EVAL
 * (running statistics, no cache), either optionally OR'ed with
 * CTR_ENCODER_NO_GRAD: the same results to float rounding, not bit for
 * bit (its 3x3, stride-1 convolutions run as Winograd F(2x2, 3x3): see
 * docs/encoder.md; TRAIN | NO_GRAD still uses and updates the batch
 * statistics and draws dropout masks) but nothing kept
 * for backward or ctr_encoder_layer_output, in a workspace of its own of a
 * few reused activation buffers (ctr_encoder_workspace_size); after it,
 * backward and layer_output are CTR_E_STAGE until the next forward
 * without the flag. x and y must not overlap.
 * Errors: CTR_E_INVALID_ARG (NULL, n < 1, bad mode), CTR_E_NUMERIC (x holds
 * NaN/Inf, or the output or the running statistics overflowed on the way
 * (huge weights); nothing written to y, running statistics and generator
 * unchanged, no backward possible), CTR_E_SHAPE
 * (batch norm in train mode needs n a multiple of the group count and more
 * than one value per channel and group), CTR_E_OVERFLOW, CTR_E_NOMEM (first
 * call with this batch size). Since 0.1.0. */
CTR_API int ctr_encoder_forward(ctr_encoder *enc, float *y, const float *x,
                                int64_t n, int32_t mode);

/* Back-propagates dy = dL/dy (n x output size, n of the last forward)
 * through the last forward, which must be TRAIN without NO_GRAD:
 * parameter gradients are ADDED to the gradient array (call
 * ctr_encoder_zero_grad between steps) and, if dx is not NULL, dL/dx
 * (n x input size) is written to dx. Calling it again adds the same
 * gradients again.
 * Errors: CTR_E_INVALID_ARG (NULL enc or dy), CTR_E_STAGE (no forward yet,
 * or the last forward was in eval mode or no-grad), CTR_E_NUMERIC (dy
 * holds NaN/Inf; nothing changed). Never allocates. Since 0.1.0. */
CTR_API int ctr_encoder_backward(ctr_encoder *enc, float *dx,
                                 const float *dy);

/* Sets every parameter gradient to zero. Errors: CTR_E_INVALID_ARG.
 * Since 0.1.0. */
CTR_API int ctr_encoder_zero_grad(ctr_encoder *enc);

/* Copies the output of layer `layer` (0-based or CTR_ENCODER_OUTPUT) of
 * the last forward (either mode, without CTR_ENCODER_NO_GRAD) into out:
 * n x that layer's output size floats, n of the last forward. Use it to
 * read backbone features under a projection head.
 * Errors: CTR_E_INVALID_ARG (NULL, layer out of range), CTR_E_STAGE (no
 * forward yet, or the last one was no-grad). Since 0.1.0. */
CTR_API int ctr_encoder_layer_output(ctr_encoder *enc, float *out,
                                     int64_t layer);

/* ---- shapes and parameters ---------------------------------------------- */

/* Number of layers added so far. Errors: CTR_E_INVALID_ARG. Since 0.1.0. */
CTR_API int ctr_encoder_num_layers(const ctr_encoder *enc, int64_t *out);

/* The index of the most recently added layer (num_layers - 1;
 * CTR_ENCODER_INPUT without layers): read it after an add call to name
 * that layer later (layer_output, shape, add_residual's source).
 * Errors: CTR_E_INVALID_ARG (NULL). Since 0.1.0. */
CTR_API int ctr_encoder_last_layer(const ctr_encoder *enc, int64_t *layer);

/* The kind (CTR_LAYER_*) of layer `layer` (or CTR_ENCODER_OUTPUT).
 * Errors: CTR_E_INVALID_ARG (NULL, out of range). Since 0.1.0. */
CTR_API int ctr_encoder_layer_kind(const ctr_encoder *enc, int32_t *kind,
                                   int64_t layer);

/* The per-sample shape after layer `layer` (CTR_ENCODER_INPUT = -1: the
 * input shape; CTR_ENCODER_OUTPUT: the last layer's, the output shape):
 * dims[0..3) receives the dimensions (unused ones set to 1), *ndims their
 * count; *size (may be NULL) their product.
 * Errors: CTR_E_INVALID_ARG (NULL, out of range). Since 0.1.0. */
CTR_API int ctr_encoder_shape(const ctr_encoder *enc, int64_t *dims,
                              int32_t *ndims, int64_t *size, int64_t layer);

/* Number of floats in the flat parameter (and gradient) array.
 * Errors: CTR_E_INVALID_ARG. Since 0.1.0. */
CTR_API int ctr_encoder_num_params(const ctr_encoder *enc, int64_t *out);

/* Number of parameter tensors (a linear layer with bias has two).
 * Errors: CTR_E_INVALID_ARG. Since 0.1.0. */
CTR_API int ctr_encoder_num_tensors(const ctr_encoder *enc, int64_t *out);

/* Describes parameter tensor `tensor`: the layer it belongs to, its role
 * (CTR_TENSOR_*), its offset in the flat array, its dimensions (dims[0..4),
 * unused ones 1; a linear weight is out x in) and their count. Any out
 * pointer may be NULL. Errors: CTR_E_INVALID_ARG (NULL enc, out of range).
 * Since 0.1.0. */
CTR_API int ctr_encoder_tensor_info(const ctr_encoder *enc, int64_t *layer,
                                    int32_t *role, int64_t *offset,
                                    int64_t *dims, int32_t *ndims,
                                    int64_t tensor);

/* Copies all parameters (get) or all gradients (get_grads) into out, n
 * floats, n == ctr_encoder_num_params(). set_params copies n floats in.
 * Errors: CTR_E_INVALID_ARG (NULL), CTR_E_SHAPE (n differs), CTR_E_NUMERIC
 * (set: NaN/Inf, nothing changed). Since 0.1.0. */
CTR_API int ctr_encoder_get_params(const ctr_encoder *enc, float *out,
                                   int64_t n);
CTR_API int ctr_encoder_set_params(ctr_encoder *enc, const float *in,
                                   int64_t n);
CTR_API int ctr_encoder_get_grads(const ctr_encoder *enc, float *out,
                                  int64_t n);

/* The batch norm running statistics: per batch norm layer, in layer order,
 * the running mean then the running variance of each channel. Same rules
 * as the parameter calls; set also requires every variance >= 0.
 * Since 0.1.0. */
CTR_API int ctr_encoder_num_stats(const ctr_encoder *enc, int64_t *out);
CTR_API int ctr_encoder_get_stats(const ctr_encoder *enc, float *out,
                                  int64_t n);
CTR_API int ctr_encoder_set_stats(ctr_encoder *enc, const float *in,
                                  int64_t n);

/* Tunables: param is CTR_ENCODER_P_*. An unknown param or a value outside
 * the bounds is CTR_E_INVALID_ARG (old value kept). param_bounds writes the
 * inclusive range. Since 0.1.0. */
CTR_API int ctr_encoder_set_i64(ctr_encoder *enc, int32_t param,
                                int64_t value);
CTR_API int ctr_encoder_get_i64(const ctr_encoder *enc, int32_t param,
                                int64_t *value);
CTR_API int ctr_encoder_param_bounds(int32_t param, double *lo, double *hi);

/* Bytes the encoder needs for a batch of `batch` samples: parameters,
 * gradients, statistics and the forward/backward workspace (the no-grad
 * workspace, if a CTR_ENCODER_NO_GRAD forward ran, comes on top: see
 * ctr_encoder_workspace_size). Writes nothing to enc (no message: the code
 * says it). Errors: CTR_E_INVALID_ARG (enc or bytes NULL, batch < 1),
 * CTR_E_OVERFLOW (the bytes for batch samples do not fit in size_t; *bytes
 * untouched). Since 0.1.0. */
CTR_API int ctr_encoder_memory(const ctr_encoder *enc, size_t *bytes,
                               int64_t batch);

/* Bytes of the workspace a forward in `mode` allocates for `batch`
 * samples: TRAIN and EVAL share the training workspace (every layer's
 * output and cache, the gradient buffers); with CTR_ENCODER_NO_GRAD the
 * no-grad workspace (a few reused activation buffers and the layers'
 * scratch). Writes nothing to enc (no message: the code says it), so
 * threads may call it on a shared handle like the other const calls.
 * Errors: CTR_E_INVALID_ARG (NULL, batch < 1, bad mode), CTR_E_OVERFLOW.
 * Since 0.1.0. */
CTR_API int ctr_encoder_workspace_size(const ctr_encoder *enc, size_t *bytes,
                                       int64_t batch, int32_t mode);

/* ---- copies and momentum (EMA) encoders --------------------------------- */

/* Creates in *out a deep copy of src: architecture, parameters, running
 * statistics, tunables and generator state (gradients zero, no cached
 * forward). Uses src's allocator. Writes nothing to src (its message
 * included): threads may clone one source at once.
 * Errors: CTR_E_INVALID_ARG, CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_encoder_clone(ctr_encoder **out, const ctr_encoder *src);

/* Copies src's parameters into dst (and its running statistics if
 * copy_stats is 1). The architectures must be identical (CTR_E_SHAPE).
 * Since 0.1.0. */
CTR_API int ctr_encoder_copy_params(ctr_encoder *dst, const ctr_encoder *src,
                                    int32_t copy_stats);

/* The momentum ("EMA") update of a key encoder:
 *   theta_dst <- m * theta_dst + (1 - m) * theta_src
 * over the parameters only; with copy_stats 1 the running statistics are
 * copied from src (MoCo leaves them alone: pass 0). m in [0, 1].
 * Errors: CTR_E_INVALID_ARG (NULL, m out of range or NaN), CTR_E_SHAPE
 * (architectures differ). Since 0.1.0. */
CTR_API int ctr_encoder_momentum_update(ctr_encoder *dst,
                                        const ctr_encoder *src, double m,
                                        int32_t copy_stats);

/* ---- checkpoints ------------------------------------------------------- */

/* Saves the architecture, tunables, parameters, running statistics and
 * generator state (not gradients or caches) to path (atomically: temporary
 * file, flush, rename) or into a caller buffer (*size_out always receives
 * the size needed; buf NULL with cap 0 is a size query). A loaded encoder
 * computes bit-identical outputs.
 * Errors: CTR_E_INVALID_ARG, CTR_E_IO, CTR_E_BUFFER_TOO_SMALL.
 * Since 0.1.0. */
CTR_API int ctr_encoder_save(const ctr_encoder *enc, const char *path);
CTR_API int ctr_encoder_save_buffer(const ctr_encoder *enc, void *buf,
                                    size_t cap, size_t *size_out);

/* Creates an encoder from a checkpoint. Every section is validated (sizes,
 * checksums, every layer's hyper-parameters as the add calls would) before
 * What the load may allocate is bounded by alloc->max_load_bytes, checked
 * before anything is allocated (CTR_E_LIMIT), and a failure's reason goes
 * to alloc->message (contrastive.h, ctr_allocator; docs/security.md).
 * it is used. Errors: CTR_E_INVALID_ARG, CTR_E_IO, CTR_E_CORRUPT,
 * CTR_E_INCOMPATIBLE, CTR_E_LIMIT, CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_encoder_load(ctr_encoder **out, const char *path,
                             const ctr_allocator *alloc);
CTR_API int ctr_encoder_load_buffer(ctr_encoder **out, const void *buf,
                                    size_t len, const ctr_allocator *alloc);

/* The message of the handle's most recent call ("" if it succeeded); owned by the
 * handle, valid until its next call. NULL gives a static text.
 * Since 0.1.0. */
CTR_API const char *ctr_encoder_last_error(const ctr_encoder *enc);

#ifdef __cplusplus
}
#endif

#endif /* CONTRASTIVE_ENCODER_H */
