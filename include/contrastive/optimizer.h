/*
 * contrastive/optimizer.h - SGD (momentum, Nesterov, weight decay), AdamW
 * and LARS, bound to an encoder or applied to any flat parameter buffer.
 * Included by contrastive.h; do not include it on its own.
 *
 * The update rules are PyTorch's (torch.optim.SGD, torch.optim.AdamW, 1.13)
 * and, for LARS, SimCLR's (classic momentum; weight decay added to the
 * gradient before the trust ratio):
 *
 *   SGD    g = grad + wd*p                  (wd on excluded tensors only
 *                                            when EXCLUDE_BIAS_NORM is 0)
 *          b = g at the first step, else b = mu*b + (1 - dampening)*g
 *          g = nesterov ? g + mu*b : b      (no momentum: g as is)
 *          p = p - lr*g
 *   AdamW  t += 1; p = p*(1 - lr*wd)
 *          m = b1*m + (1-b1)*grad; v = b2*v + (1-b2)*grad^2
 *          p = p - lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 *   LARS   per tensor: g = grad + wd*p; trust = eta*||p||/||g|| (1 if a norm
 *          is 0); v = mu*v + lr*trust*g; p = p - (nesterov ? mu*v +
 *          lr*trust*g : v). Excluded tensors (biases, norm parameters) get
 *          neither decay nor adaptation (trust 1), as SimCLR.
 *
 * "Tensors": an optimizer bound to an encoder takes them from the encoder
 * (linear weights adapted/decayed; biases and norm gamma/beta excluded).
 * A buffer optimizer treats its buffer as one adapted tensor unless
 * ctr_optimizer_set_segments describes it.
 *
 * The learning rate may be changed before any step (CTR_OPTIMIZER_P_LR);
 * ctr_optimizer_cosine_lr computes the usual schedule.
 *
 * Memory: the state (momentum buffers, Adam moments) is allocated at
 * creation; steps never allocate.
 * Thread rule: one thread at a time per handle; a bound optimizer also
 * writes its encoder's parameters, so the two are used by one thread.
 */
#ifndef CONTRASTIVE_OPTIMIZER_H
#define CONTRASTIVE_OPTIMIZER_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctr_optimizer ctr_optimizer;

/* Optimizer kinds. */
#define CTR_OPTIMIZER_SGD 1
#define CTR_OPTIMIZER_ADAMW 2
#define CTR_OPTIMIZER_LARS 3

/* Tunables: f64 unless marked i64. Defaults in brackets. */
#define CTR_OPTIMIZER_P_LR 10           /* learning rate >= 0 [0.001] */
#define CTR_OPTIMIZER_P_MOMENTUM 20     /* SGD/LARS mu in [0, 1) [0; LARS 0.9] */
#define CTR_OPTIMIZER_P_DAMPENING 30    /* SGD in [0, 1] [0] */
#define CTR_OPTIMIZER_P_WEIGHT_DECAY 40 /* >= 0 [0; AdamW 0.01] */
#define CTR_OPTIMIZER_P_NESTEROV 50     /* i64 0/1 [0]; SGD needs mu > 0 and
                                           dampening 0 (checked at step) */
#define CTR_OPTIMIZER_P_BETA1 60        /* AdamW in [0, 1) [0.9] */
#define CTR_OPTIMIZER_P_BETA2 70        /* AdamW in [0, 1) [0.999] */
#define CTR_OPTIMIZER_P_EPS 80          /* AdamW > 0 [1e-8] */
#define CTR_OPTIMIZER_P_TRUST_COEF 90   /* LARS eta > 0 [0.001] */
#define CTR_OPTIMIZER_P_EXCLUDE_BIAS_NORM 100 /* i64 0/1: excluded tensors
                                           get no weight decay (and, LARS,
                                           no adaptation) [0; LARS 1] */
#define CTR_OPTIMIZER_P_STEP 110        /* i64, read-only: steps taken */

/* Creates an optimizer of the given kind for a flat buffer of n_params
 * floats (n_params >= 1), used with ctr_optimizer_step_buffer.
 * Errors: CTR_E_INVALID_ARG (out NULL, unknown kind, n_params < 1, bad
 * allocator), CTR_E_OVERFLOW, CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_optimizer_create(ctr_optimizer **out, int32_t kind,
                                 int64_t n_params, const ctr_allocator *alloc);

/* Creates an optimizer bound to enc: ctr_optimizer_step updates enc's
 * parameters from enc's gradients. enc is not owned and must outlive the
 * optimizer; its parameter count must not change (add no layers after).
 * Errors: as ctr_optimizer_create; CTR_E_SHAPE if enc has no parameters.
 * Since 0.1.0. */
CTR_API int ctr_optimizer_create_for_encoder(ctr_optimizer **out,
                                             int32_t kind, ctr_encoder *enc,
                                             const ctr_allocator *alloc);

/* Frees the optimizer (not its encoder). NULL is accepted. Since 0.1.0. */
CTR_API void ctr_optimizer_destroy(ctr_optimizer *opt);

/* Describes a buffer optimizer's buffer as `count` consecutive tensors of
 * sizes[i] floats (summing to n_params); excluded[i] = 1 marks a bias or
 * normalisation tensor. Replaces the default single adapted tensor.
 * Errors: CTR_E_INVALID_ARG (NULL, count < 1, size < 1, flag not 0/1, the
 * optimizer is bound to an encoder), CTR_E_SHAPE (sizes do not sum to
 * n_params), CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_optimizer_set_segments(ctr_optimizer *opt,
                                       const int64_t *sizes,
                                       const int32_t *excluded,
                                       int64_t count);

/* One step on the bound encoder's parameters and gradients (gradients are
 * not cleared). Errors: CTR_E_INVALID_ARG (NULL, invalid tunable
 * combination), CTR_E_STAGE (not bound to an encoder), CTR_E_SHAPE (the
 * encoder's parameter count changed), CTR_E_NUMERIC (a gradient is NaN or
 * Inf: nothing changed). Since 0.1.0. */
CTR_API int ctr_optimizer_step(ctr_optimizer *opt);

/* One step on a caller's buffer: params (n floats, updated in place) from
 * grads (n floats). n must equal the optimizer's n_params.
 * Errors: CTR_E_INVALID_ARG, CTR_E_SHAPE, CTR_E_NUMERIC (NaN/Inf in params
 * or grads: nothing changed). Since 0.1.0. */
CTR_API int ctr_optimizer_step_buffer(ctr_optimizer *opt, float *params,
                                      const float *grads, int64_t n);

/* Clears the state (momentum buffers, moments, step count); tunables are
 * kept. Errors: CTR_E_INVALID_ARG. Since 0.1.0. */
CTR_API int ctr_optimizer_reset(ctr_optimizer *opt);

/* Tunables (CTR_OPTIMIZER_P_*), under the parameter rule of
 * docs/conventions.md: set_f64 sets an integer parameter to an integral
 * value, set_i64 a real one to |value| <= 2^53; get_f64 reads any
 * parameter, get_i64 only integer ones. An unknown or read-only
 * (CTR_OPTIMIZER_P_STEP) parameter, a value out of bounds or not integral
 * is CTR_E_INVALID_ARG and keeps the old value; NaN or Inf is
 * CTR_E_NUMERIC.
 * param_bounds gives the inclusive range (an open upper end of [0, 1) is
 * reported as the largest double below 1). Since 0.1.0. */
CTR_API int ctr_optimizer_set_f64(ctr_optimizer *opt, int32_t param,
                                  double value);
CTR_API int ctr_optimizer_get_f64(const ctr_optimizer *opt, int32_t param,
                                  double *value);
CTR_API int ctr_optimizer_set_i64(ctr_optimizer *opt, int32_t param,
                                  int64_t value);
CTR_API int ctr_optimizer_get_i64(const ctr_optimizer *opt, int32_t param,
                                  int64_t *value);
CTR_API int ctr_optimizer_param_bounds(int32_t param, double *lo,
                                       double *hi);

/* The learning rate of step `step` (0-based) of a run of total_steps with
 * linear warm-up then cosine decay:
 *   step < warmup:  base_lr * (step + 1) / warmup_steps
 *   otherwise:      final_lr + (base_lr - final_lr) * (1 + cos(pi * t)) / 2,
 *                   t = (step - warmup) / (total - warmup), clamped to 1.
 * A pure function. Errors: CTR_E_INVALID_ARG (lr NULL, step < 0,
 * warmup_steps < 0, total_steps <= warmup_steps, a rate negative or not
 * finite). Thread-safe. Since 0.1.0. */
CTR_API int ctr_optimizer_cosine_lr(double *lr, int64_t step,
                                    int64_t warmup_steps, int64_t total_steps,
                                    double base_lr, double final_lr);

/* Saves kind, tunables, segments, step count and state to path (atomic) or
 * a caller buffer (*size_out always receives the size needed; buf NULL with
 * cap 0 is a size query). Errors: CTR_E_INVALID_ARG, CTR_E_IO,
 * CTR_E_BUFFER_TOO_SMALL. Since 0.1.0. */
CTR_API int ctr_optimizer_save(const ctr_optimizer *opt, const char *path);
CTR_API int ctr_optimizer_save_buffer(const ctr_optimizer *opt, void *buf,
                                      size_t cap, size_t *size_out);

/* Creates an optimizer from a checkpoint; with enc not NULL it is bound to
 * enc (whose parameter count must match: CTR_E_SHAPE), otherwise it is a
 * buffer optimizer with the saved segments. A resumed optimizer makes
 * What the load may allocate is bounded by alloc->max_load_bytes, checked
 * before anything is allocated (CTR_E_LIMIT), and a failure's reason goes
 * to alloc->message (contrastive.h, ctr_allocator; docs/security.md).
 * bit-identical steps. Errors: CTR_E_INVALID_ARG, CTR_E_IO, CTR_E_CORRUPT,
 * CTR_E_INCOMPATIBLE, CTR_E_SHAPE, CTR_E_LIMIT, CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_optimizer_load(ctr_optimizer **out, const char *path,
                               ctr_encoder *enc, const ctr_allocator *alloc);
CTR_API int ctr_optimizer_load_buffer(ctr_optimizer **out, const void *buf,
                                      size_t len, ctr_encoder *enc,
                                      const ctr_allocator *alloc);

/* The message of the handle's most recent call ("" if it succeeded).
 * Since 0.1.0. */
CTR_API const char *ctr_optimizer_last_error(const ctr_optimizer *opt);

#ifdef __cplusplus
}
#endif

#endif /* CONTRASTIVE_OPTIMIZER_H */
