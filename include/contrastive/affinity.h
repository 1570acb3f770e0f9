/*
 * contrastive/affinity.h - the dense affinity of self-supervised video
 * correspondence (TimeCycle, CorrFlow, MAST): a softmax over the
 * positions of one frame's feature map for each position of another
 * frame's, values (pixels, colours, one-hot labels) transported through
 * it, a reconstruction loss through the transport (the colourisation
 * proxy) and label propagation at evaluation.
 * Included by contrastive.h; do not include it on its own.
 * docs/frames.md gives the math; examples/correspondence uses it.
 *
 * Layout. Every map is dense NCHW float32: b maps of c (or cv) channels
 * of h x w positions, element (n, ch, y, x) at
 * ((n * c + ch) * h + y) * w + x (strides c*h*w, h*w, w, 1), exactly as a
 * PyTorch contiguous tensor or a libcontrastive encoder's conv output.
 * Views with other strides are not accepted; copy them first. Frame a is
 * the reference (its features fa, its values v), frame b the target (fb):
 * for each target position j of frame b and each reference position i of
 * frame a (i in the window of j),
 *
 *   S_ji = fb_j . fa_i / tau        A_ji = exp S_ji / sum_i' exp S_ji'
 *   out_j = sum_i A_ji v_i
 *
 * where fa_i, fb_j are the c-vectors at a position. The window of
 * j = (y, x) is every i = (y', x') with |y' - y| <= r and |x' - x| <= r
 * inside the map (positions outside the map are left out, not
 * zero-padded: see docs/frames.md); r = CTR_AFFINITY_P_RADIUS, and r = -1
 * (the default) is the full affinity, every position of frame a.
 *
 * The handle holds the parameters and a workspace, nothing learned: it has
 * no checkpoint. Work: per batch item, blocks of target rows against the
 * reference rows their windows reach, three cBLAS GEMMs forward and up to
 * five backward (docs/frames.md); memory O(block x window rows), never
 * (h w)^2 per item unless the affinity is full.
 *
 * Thread rule: one thread at a time per handle; different handles are
 * independent. GEMMs run at the host's BLAS thread count; results are
 * deterministic for a given thread count.
 */
#ifndef CONTRASTIVE_AFFINITY_H
#define CONTRASTIVE_AFFINITY_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctr_affinity ctr_affinity;

/* Reconstruction losses (CTR_AFFINITY_P_LOSS). Values are pinned. */
#define CTR_AFFINITY_LOSS_MSE 1   /* mean of (out - target)^2 */
#define CTR_AFFINITY_LOSS_HUBER 2 /* mean smooth-L1 with CTR_AFFINITY_P_HUBER_BETA */

/* Parameters. Values are pinned. */
#define CTR_AFFINITY_P_TEMPERATURE 400 /* f64, tau, default 1, 1e-6..1e6 */
#define CTR_AFFINITY_P_RADIUS 401      /* i64, window radius r, default -1 (full), -1..2^31-1 */
#define CTR_AFFINITY_P_LOSS 402        /* i64, CTR_AFFINITY_LOSS_*, default MSE */
#define CTR_AFFINITY_P_HUBER_BETA 403  /* f64, smooth-L1 beta, default 1, 1e-6..1e6 */
/* Read-only: bytes of workspace the handle holds now. */
#define CTR_AFFINITY_P_WORKSPACE_BYTES 404

/* Creates an affinity with the defaults above (full, tau 1, MSE).
 * Nothing else is allocated until the first call.
 * Errors: CTR_E_INVALID_ARG (out NULL, bad allocator), CTR_E_NOMEM.
 * Since 0.1.0. */
CTR_API int ctr_affinity_create(ctr_affinity **out,
                                const ctr_allocator *alloc);

/* Frees the handle and its workspace. NULL is accepted. Since 0.1.0. */
CTR_API void ctr_affinity_destroy(ctr_affinity *aff);

/* Parameters: RADIUS and LOSS are integers (and WORKSPACE_BYTES,
 * read-only), TEMPERATURE and HUBER_BETA real. As for every object (the
 * parameter rule of docs/conventions.md): set_f64 sets an integer
 * parameter to an integral value, set_i64 a real one to |value| <= 2^53,
 * get_f64 reads any parameter, get_i64 only integer ones. Out-of-bounds or
 * non-integral values are CTR_E_INVALID_ARG and keep the old value; NaN or
 * Inf is CTR_E_NUMERIC. param_bounds gives the inclusive range of any
 * settable parameter and needs no handle.
 * Errors: CTR_E_INVALID_ARG (NULL, unknown or read-only parameter, get_i64
 * of a real one). Since 0.1.0. */
CTR_API int ctr_affinity_set_i64(ctr_affinity *aff, int32_t param,
                                 int64_t value);
CTR_API int ctr_affinity_get_i64(const ctr_affinity *aff, int32_t param,
                                 int64_t *value);
CTR_API int ctr_affinity_set_f64(ctr_affinity *aff, int32_t param,
                                 double value);
CTR_API int ctr_affinity_get_f64(const ctr_affinity *aff, int32_t param,
                                 double *value);
CTR_API int ctr_affinity_param_bounds(int32_t param, double *lo, double *hi);

/* The workspace bytes a call on maps of these sizes needs under the
 * current parameters, topk as given to ctr_affinity_propagate (0 for the
 * other calls). The handle keeps the largest workspace it has needed;
 * calls that fit do not allocate.
 * Errors: CTR_E_INVALID_ARG (NULL, a size < 1, topk < 0),
 * CTR_E_OVERFLOW. Since 0.1.0. */
CTR_API int ctr_affinity_workspace_size(const ctr_affinity *aff, int64_t b,
                                        int64_t c, int64_t h, int64_t w,
                                        int64_t cv, int64_t topk,
                                        size_t *bytes);

/* Transport: out_j = sum_i A_ji v_i for every target position j of each
 * of the b frame pairs. fa, fb: b x c x h x w features of the reference
 * and target frames; v: b x cv x h x w values on the reference frame;
 * out: b x cv x h x w (written). Layout in the header's comment.
 * Every input is validated before anything is written.
 * Errors: CTR_E_INVALID_ARG (NULL pointer, a size < 1, c * h * w or
 * h * w above 2^31 - 1), CTR_E_NUMERIC (NaN/Inf in an input; |v| above
 * 1e15; c x max|fa| x max|fb| / tau above 1e30, where logits could
 * overflow float), CTR_E_OVERFLOW, CTR_E_NOMEM (outputs untouched).
 * Since 0.1.0. */
CTR_API int ctr_affinity_transport(ctr_affinity *aff, float *out,
                                   const float *fa, const float *fb,
                                   const float *v, int64_t b, int64_t c,
                                   int64_t h, int64_t w, int64_t cv);

/* The backward pass of ctr_affinity_transport: given grad_out = dL/d out
 * (b x cv x h x w) for the transport of v by the affinity of fa and fb
 * (the same inputs as the forward call; the affinity is recomputed, the
 * handle keeps nothing between calls), writes dL/d fa, dL/d fb
 * (b x c x h x w) and dL/d v (b x cv x h x w). Each of grad_fa, grad_fb,
 * grad_v may be NULL (not computed; with grad_fa and grad_fb both NULL
 * the softmax backward is skipped); they are overwritten, not
 * accumulated.
 * Errors: as ctr_affinity_transport (|grad_out| above 1e15 is
 * CTR_E_NUMERIC). Since 0.1.0. */
CTR_API int ctr_affinity_backward(ctr_affinity *aff, float *grad_fa,
                                  float *grad_fb, float *grad_v,
                                  const float *grad_out, const float *fa,
                                  const float *fb, const float *v, int64_t b,
                                  int64_t c, int64_t h, int64_t w,
                                  int64_t cv);

/* The reconstruction loss (colourisation proxy) in one call: transports v
 * from frame a to frame b as ctr_affinity_transport and compares it with
 * target (b x cv x h x w, frame b's values):
 *   MSE:   loss = mean over all b*cv*h*w elements of (out - target)^2
 *   HUBER: loss = mean of d^2 / (2 beta) where |d| < beta, |d| - beta / 2
 *          elsewhere, d = out - target (PyTorch's smooth_l1_loss, MAST's
 *          loss), beta = CTR_AFFINITY_P_HUBER_BETA.
 * *loss receives it (double); out (may be NULL) the transported values;
 * grad_fa, grad_fb, grad_v (each may be NULL) the gradients of the loss,
 * overwritten. Forward and backward share each block's affinity, so this
 * costs less than transport + backward.
 * Errors: as ctr_affinity_transport (|target| above 1e15 is
 * CTR_E_NUMERIC; loss NULL is CTR_E_INVALID_ARG). Since 0.1.0. */
CTR_API int ctr_affinity_reconstruct(ctr_affinity *aff, double *loss,
                                     float *out, const float *fa,
                                     const float *fb, const float *v,
                                     const float *target, int64_t b,
                                     int64_t c, int64_t h, int64_t w,
                                     int64_t cv, float *grad_fa,
                                     float *grad_fb, float *grad_v);

/* Label propagation (evaluation): as ctr_affinity_transport with labels
 * (b x cv x h x w, e.g. one-hot or soft masks of frame a) as the values,
 * but with topk >= 1 each target position keeps only its topk highest
 * logits in the window (ties broken towards the lower position index)
 * and the softmax runs over those (MAST's and CorrFlow's evaluation);
 * topk = 0 or topk >= the window keeps all. No gradient.
 * Errors: as ctr_affinity_transport (topk < 0 is CTR_E_INVALID_ARG).
 * Since 0.1.0. */
CTR_API int ctr_affinity_propagate(ctr_affinity *aff, float *out,
                                   const float *fa, const float *fb,
                                   const float *labels, int64_t b, int64_t c,
                                   int64_t h, int64_t w, int64_t cv,
                                   int64_t topk);

/* The message of the handle's most recent call ("" if it succeeded); owned by the
 * handle, valid until its next call. NULL gives a static text.
 * Since 0.1.0. */
CTR_API const char *ctr_affinity_last_error(const ctr_affinity *aff);

#ifdef __cplusplus
}
#endif

#endif /* CONTRASTIVE_AFFINITY_H */
