/*
 * encoder.h - the ctr_encoder handle as its own files see it: its layout
 * and the pieces they share. The handle is split by concern:
 *   encoder.c             lifecycle, shapes, parameter arrays, tunables
 *   encoder_build.c       appending layers (the kinds' add calls)
 *   encoder_run.c         workspace, forward, backward
 *   encoder_copy.c        clone, parameter copy, momentum (EMA) update
 *   encoder_tensors.c     the parameter tensors (for the optimizer)
 *   encoder_checkpoint.c  save and load
 * No other object includes this header.
 */
#ifndef CTR_ENCODER_H
#define CTR_ENCODER_H

#include "encoder/layer.h"

#define CTR__ENCODER_MAX_LAYERS 65536

enum { CTR__STAGE_NONE = 0, CTR__STAGE_NOGRAD = 3 };

struct ctr_encoder {
    ctr__alloc alloc;
    ctr__error err;
    ctr__prng gen;
    ctr__shape input;
    int64_t bn_groups;
    ctr__layer *layers;
    int64_t n_layers, cap_layers;
    float *params, *grads, *stats;
    int64_t n_params, n_stats;
    /* workspace for up to work_batch samples */
    float *work;
    size_t work_floats;
    int64_t work_batch;
    size_t in_copy_offset, grad_offset[2];
    size_t stats_copy_offset; /* the statistics before a train forward */
    int stage;     /* CTR__STAGE_NONE, CTR_ENCODER_TRAIN, CTR_ENCODER_EVAL or
                    * CTR__STAGE_NOGRAD */
    int64_t batch; /* samples of the last forward */
    int synced;    /* the last train forward synchronised batch norm */
    /* the no-grad forward's workspace (encoder_infer.c) for up to
     * infer_batch samples: infer_slots buffers of slot_floats, then the
     * layers' shared scratch */
    float *infer_work;
    size_t infer_floats, slot_floats, scratch_offset;
    int64_t infer_batch, infer_slots; /* planned when a layer is added */
};

/* encoder.c: an encoder without layers for a checked input shape. */
int ctr__encoder_new(ctr_encoder **out, const ctr__shape *input,
                     uint64_t seed, const ctr__alloc *a);
/* encoder.c: frees the workspace (the next forward plans it again). */
void ctr__encoder_release_workspace(ctr_encoder *enc);
/* encoder_infer.c: the forward of ctr_encoder_forward with
 * CTR_ENCODER_NO_GRAD (arguments checked, batch accepted by every layer):
 * each layer's output goes to one of a few reused buffers (held while a
 * later layer still reads it), the last layer's to y; nothing is kept. */
int ctr__encoder_forward_nograd(ctr_encoder *enc, float *y, const float *x,
                                int64_t n, int train);
/* encoder_infer.c: bytes of the no-grad workspace for n samples. */
int ctr__encoder_nograd_bytes(const ctr_encoder *enc, int64_t n, size_t *bytes);
/* encoder_infer.c: the no-grad forward's buffer plan, after a layer is
 * added. */
void ctr__encoder_plan_slots(ctr_encoder *enc);

/* encoder_run.c: ctr_comm_encoder_forward / _backward (train mode, batch
 * norm statistics and backward sums summed over the ranks of comm, after
 * an agreement record of n and the encoders' shapes; messages go to the
 * encoder and, for the agreement, to comm). */
int ctr__encoder_forward_synced(ctr_encoder *enc, float *y, const float *x,
                                int64_t n, ctr_comm *comm);
int ctr__encoder_backward_synced(ctr_encoder *enc, float *dx, const float *dy,
                                 ctr_comm *comm);

/* encoder.c: running variances (the second half of each layer's block of
 * statistics) must be >= 0. */
int ctr__encoder_check_stats(const ctr_encoder *enc, const float *s,
                             ctr__error *err);
/* The shape of the last layer's output (the input's without layers). */
const ctr__shape *ctr__encoder_output_shape(const ctr_encoder *enc);

/* encoder.c: layer, with CTR_ENCODER_OUTPUT resolved to the last layer's
 * index (-1, the input, without layers); other values unchanged. */
int64_t ctr__encoder_layer_index(const ctr_encoder *enc, int64_t layer);

/* encoder_copy.c: 1 if a and b have the same input shape and layers
 * (kinds, hyper-parameters, shapes), else 0. */
int ctr__encoder_same_architecture(const ctr_encoder *a, const ctr_encoder *b);

/* What a training-state file needs of an encoder (encoder_checkpoint.c)
 * and of an optimizer (optimizer.c); common/persist.h. */
struct ctr__persist_ops;
extern const struct ctr__persist_ops ctr__encoder_persist;
extern const struct ctr__persist_ops ctr__optimizer_persist;

#endif /* CTR_ENCODER_H */
