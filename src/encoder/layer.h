/*
 * layer.h - the interface between the encoder handle (encoder*.c: the
 * layer list, buffers, forward and backward driving, checkpoints) and the
 * layer kinds (layer_*.c: shapes, initialisation, forward and backward
 * math), as objectives/kind.h is for the objectives.
 *
 * A layer is plain data (ctr__layer: its kind's table, shapes,
 * hyper-parameters and offsets into the encoder's arrays) plus the const
 * table of functions of its kind, ctr__layer_ops, defined in the kind's
 * file with the kind's ctr_encoder_add_* call and listed in
 * layer_registry.c (which checkpoints are read through). Layers never
 * allocate: the encoder hands them their parameters, gradients,
 * statistics, output buffer and cache for each call.
 *
 * layer.c defines the helpers below; it knows no kind and no handle.
 */
#ifndef CTR_LAYER_H
#define CTR_LAYER_H

#include "common/core.h"
#include "common/prng.h"

#define CTR__LAYER_NI 6 /* integer hyper-parameters per layer */
#define CTR__LAYER_NF 2 /* real hyper-parameters per layer */
#define CTR__LAYER_MAX_TENSORS 4

/* A per-sample shape: ndims 1 (F), 2 (T x F) or 3 (C x H x W); unused
 * dimensions are 1. */
typedef struct ctr__shape {
    int32_t ndims;
    int64_t d[3];
} ctr__shape;

typedef struct ctr__layer_ops ctr__layer_ops;

/* A train-mode batch norm over image planes and its ReLU, read through by
 * the layer after them (ctr__layer_run.bn_in): the value of channel c of a
 * sample of group k is max(((x - mean[c]) * invstd[c]) * scale[c] +
 * shift[c], 0) (the fused forward's expression, the same bits) with the
 * arrays advanced by k * group_stride floats, k = sample / group_samples,
 * x the batch norm's input. */
typedef struct ctr__bn_relu_in {
    const float *mean, *invstd, *scale, *shift;
    int64_t group_stride, group_samples;
} ctr__bn_relu_in;

typedef struct ctr__layer {
    const ctr__layer_ops *ops; /* its kind's table (ops->kind is saved) */
    ctr__shape in, out;
    ctr__shape skip; /* kinds with ops->has_skip: the shape of their source */
    int64_t hi[CTR__LAYER_NI]; /* integer hyper-parameters (saved) */
    double hf[CTR__LAYER_NF];  /* real hyper-parameters (saved) */
    int64_t param_offset, param_count; /* in the flat parameter array */
    int64_t stat_offset, stat_count;   /* in the running-statistics array */
    size_t out_offset, cache_offset;   /* in the workspace (floats) */
    size_t skip_grad_offset;           /* has_skip: dL/d(source), n x skip */
    size_t plane_stats_offset;         /* 0, or plane_stats (ctr__layer_run) of
                                        * its output, 2 x n x channels */
    size_t grad_stats_offset;          /* 0, or grad_stats (ctr__layer_run) of
                                        * its dy, 2 x n x channels */
    /* no-grad forward (encoder_infer.c): the buffer of its output (-1: y),
     * the last layer reading that output, and, for the layer whose index
     * is a buffer's, the last layer reading the buffer's current value */
    int64_t infer_slot, last_reader, slot_busy_until;
} ctr__layer;

/* Everything one forward or backward call of a layer touches. */
typedef struct ctr__layer_run {
    int64_t n;       /* samples */
    int train;       /* forward: 1 train, 0 eval */
    int64_t groups;  /* batch norm groups */
    const float *x;  /* input, n x in size */
    float *y;        /* output, n x out size */
    const float *dy; /* backward: dL/dy */
    float *dx;       /* backward: dL/dx, may be NULL (not wanted) */
    const float *w;  /* this layer's parameters */
    float *gw;       /* this layer's gradients (accumulated) */
    float *stat;     /* this layer's running statistics */
    float *cache;    /* this layer's train cache (no-grad: scratch) */
    ctr__prng *rng;  /* the encoder's generator (dropout) */
    int nograd;      /* forward: nothing is kept for backward; cache is
                      * infer_floats of scratch shared by all layers */
    const float *skip; /* has_skip: the output of layer hi[0] (its source) */
    float *dskip;      /* has_skip, backward: receives dL/d(skip) */
    /* synchronised batch norm (ctr_comm_encoder_forward / _backward): the
     * ranks' communicator, or NULL; a failing collective's status goes to
     * *sync_rc (the layer skips its later collectives) */
    ctr_comm *sync;
    int *sync_rc;
    /* A batch norm followed by a ReLU runs as one pass (ops->fuses_relu,
     * encoder_run.c): forward, relu_y (not NULL) receives max(y, 0), the
     * ReLU's output, and in train mode y may be left unwritten (nothing
     * in a step reads it; ops->fused_output recomputes it); backward, dy is the ReLU's dL/dy and the gradient of
     * this layer's output is dy where relu_mask (the ReLU's output) > 0,
     * else 0 (the batch norm finds where from its own output, recomputed
     * from its input, and reads only whether relu_mask is NULL). NULL in
     * both: the layer alone. */
    float *relu_y;
    const float *relu_mask;
    /* A batch norm over image planes, its ReLU and a global average pool
     * after it in a train step (ops->fuses_pool, encoder_run.c): forward,
     * pool_y (not NULL, with relu_y) receives the pool's output, each
     * plane's mean of max(y, 0) summed as ctr__sum does, and neither y nor
     * relu_y is written; backward, dy is NULL and pool_dy (not NULL) is the
     * pool's dL/dy (n x C): the ReLU's gradient over a plane is
     * pool_dy / (H * W) (the pool's expression) where the output is > 0
     * (recomputed; relu_mask, not NULL, is not read). */
    float *pool_y;
    const float *pool_dy;
    /* A layer with ops->makes_plane_stats followed by a train-mode batch
     * norm over image planes (ops->takes_plane_stats, encoder_run.c):
     * forward, the first writes and the second reads, for each sample i and
     * channel c of its output, the plane's sum and the squared deviation of
     * its values from the plane's mean (ctr__sum, ctr__sum_sq_dev), at
     * plane_stats[2 * (i * C + c)] and [+ 1], so that the batch norm needs
     * no pass of its own for its moments. NULL: each layer alone. */
    float *plane_stats;
    /* A linear layer with bias followed by a layer with ops->sums_dx
     * (batch norm, encoder_run.c): backward, the second adds the column
     * sums of its dx (over all rows: the first's bias gradient) to
     * dx_colsum, not NULL, while it writes dx, and the first, given
     * bias_grad_done = 1, skips its own pass over the same dx. NULL and 0:
     * each layer alone. */
    float *dx_colsum;
    int bias_grad_done;
    /* A train-mode batch norm over image planes, its ReLU and a layer with
     * ops->reads_bn_relu after them (encoder_run.c): forward, the batch
     * norm, given skip_output = 1, writes neither its output nor the
     * ReLU's (relu_y is not NULL; ops->fused_output recomputes both), and
     * the next layer gets bn_in (not NULL) with x the batch norm's input,
     * whose values it reads through bn_in instead of the ReLU's output. */
    int skip_output;
    const ctr__bn_relu_in *bn_in;
    /* A batch norm over image planes (ops->plane_dx) after a layer whose
     * ops->takes_bn_dx says yes, in a train step (encoder_run.c): backward, the
     * batch norm, given skip_dx = 1, leaves dx unwritten, and the layer
     * before it gets bn_dx (not NULL) and dy NULL: it makes the planes of
     * its dy as it needs them, bn_dx->l->ops->plane_dx(bn_dx->l, bn_dx->r,
     * ...), the values the batch norm would have written. */
    int skip_dx;
    const struct ctr__bn_dx *bn_dx;
    /* A layer that read its input through a batch norm and its ReLU in
     * the train forward (bn_in): backward, with grad_sums (not NULL) it
     * writes, for each sample i and channel c of its dx, the batch norm's
     * sums over that plane (grad_sums->l->ops->plane_grad_sums) at
     * grad_stats[2 * (i * C + c)] while the plane is in cache, and the
     * batch norm, given the same grad_stats, adds them up instead of its
     * own pass over dx. */
    const struct ctr__bn_dx *grad_sums;
    float *grad_stats;
} ctr__layer_run;

typedef struct ctr__bn_dx {
    const ctr__layer *l;
    const ctr__layer_run *r; /* the batch norm's backward call */
} ctr__bn_dx;

typedef struct ctr__tensor_desc {
    int32_t role; /* CTR_TENSOR_* */
    int32_t ndims;
    int64_t dims[4];
    int64_t count;
} ctr__tensor_desc;

struct ctr__layer_ops {
    int32_t kind; /* CTR_LAYER_* */
    /* 1: the layer also reads the output of an earlier layer, its source,
     * whose index is hi[0] (-1: the encoder's input; at least one layer
     * between them); l->skip is its shape, r->skip its values, and
     * backward writes dL/d(source) to r->dskip, which the encoder adds to
     * the gradient flowing into the source. */
    int has_skip;
    /* 1: forward and backward take relu_y and relu_mask (ctr__layer_run);
     * 1: and pool_y, pool_dy (image planes). */
    int fuses_relu, fuses_pool;
    /* 1: backward takes dx_colsum (ctr__layer_run). */
    int sums_dx;
    /* 1: the output is the input's values in the same order (flatten): the
     * encoder's workspace may give the layer its input's buffer as its
     * output and skip its forward and backward (encoder_run.c). */
    int is_view;
    /* 1: a train forward can write plane_stats of its output (ctr__layer_run);
     * 1: a train forward can read them instead of computing its moments. */
    int makes_plane_stats, takes_plane_stats;
    /* 1: a train forward can take bn_in (ctr__layer_run) for its input. */
    int reads_bn_relu;
    /* Validates the hyper-parameters against l->in and fills l->out,
     * l->param_count and l->stat_count. CTR_E_INVALID_ARG / CTR_E_SHAPE /
     * CTR_E_OVERFLOW with a message. */
    int (*configure)(ctr__layer *l, ctr__error *err);
    /* PyTorch's default initialisation (may be NULL: nothing to draw). */
    void (*init)(const ctr__layer *l, float *w, float *stat, ctr__prng *g);
    /* Floats of train cache for n samples in `groups` groups (NULL: 0). */
    int (*cache_floats)(const ctr__layer *l, int64_t n, int64_t groups,
                        size_t *out);
    /* Floats of scratch a no-grad forward needs for n samples (NULL:
     * cache_floats). */
    int (*infer_floats)(const ctr__layer *l, int64_t n, int64_t groups,
                        size_t *out);
    /* Fills desc[0..k) and returns k <= CTR__LAYER_MAX_TENSORS (NULL: 0). */
    int (*tensors)(const ctr__layer *l, ctr__tensor_desc *desc);
    /* Checks a forward's batch (NULL: always fine). */
    int (*check_batch)(const ctr__layer *l, int64_t n, int64_t groups, int train,
                       ctr__error *err);
    void (*forward)(const ctr__layer *l, const ctr__layer_run *r);
    void (*backward)(const ctr__layer *l, const ctr__layer_run *r);
    /* fuses_relu kinds: the layer's output of the last train forward that
     * ran fused (relu_y not NULL), which may have left r->y unwritten, to
     * out (n x out size), recomputed from r->x and the cache as that
     * forward computed it (the same bits); r as for that forward. relu 1:
     * the ReLU's output instead (after a forward with pool_y). */
    void (*fused_output)(const ctr__layer *l, const ctr__layer_run *r, float *out, int relu);
    /* fuses_relu kinds over image planes: *in for the layer after the
     * ReLU after the last train forward (ctr__bn_relu_in); r as for that
     * forward. NULL: not offered. */
    void (*relu_input)(const ctr__layer *l, const ctr__layer_run *r, ctr__bn_relu_in *in);
    /* Image planes, after a backward with skip_dx: the planes of dx of
     * sample i and channels [c, c + count) that the backward would have
     * written, to out + k * ld for channel c + k; r as for that backward.
     * NULL: not offered. */
    void (*plane_dx)(const ctr__layer *l, const ctr__layer_run *r, float *out, int64_t ld,
                     int64_t i, int64_t c, int64_t count);
    /* 1 when a backward of l can take bn_dx (ctr__layer_run) for its dy.
     * NULL: never. */
    int (*takes_bn_dx)(const ctr__layer *l);
    /* Image planes with a fused ReLU, before a backward given grad_stats:
     * out[0], out[1] = the sums that backward takes over plane c of sample
     * i of its dy, the plane's values dy; r as for that backward (its
     * relu_mask not NULL). NULL: not offered. */
    void (*plane_grad_sums)(const ctr__layer *l, const ctr__layer_run *r, const float *dy,
                            int64_t i, int64_t c, float *out);
};

/* A zeroed layer of the kind `ops`, for its hyper-parameters to be set. */
ctr__layer ctr__layer_template(const ctr__layer_ops *ops);
/* Configures l (ops, hi, hf set) as the layer after prev[0..count) on an
 * encoder whose input shape is `input`: input (and skip) shape, output
 * shape, parameter and statistics counts, given the encoder's totals so
 * far. Allocates nothing. Records a message in err (may be NULL). */
int ctr__layer_configure(ctr__layer *l, const ctr__layer *prev, int64_t count,
                         const ctr__shape *input, int64_t n_params,
                         int64_t n_stats, ctr__error *err);
/* The cache floats of a forward for n samples: the train cache, or with
 * nograd the scratch (infer_floats, else cache_floats). */
int ctr__layer_cache_floats(const ctr__layer *l, int64_t n, int64_t groups,
                            int nograd, size_t *out);

/* ---- shape helpers ------------------------------------------------------ */

/* Largest accepted dimension (and batch norm group count): far above any
 * real network, low enough that products of a few stay in int64. */
#define CTR__SHAPE_MAX_DIM ((int64_t)1 << 31)

/* CTR_OK for 1..3 dimensions, each in [1, CTR__SHAPE_MAX_DIM], whose
 * product fits; CTR_E_INVALID_ARG or CTR_E_OVERFLOW otherwise. */
int ctr__shape_check(const ctr__shape *s);

/* Elements of one sample (the shape's dimensions are checked at creation
 * so that this fits in int64_t). */
int64_t ctr__shape_size(const ctr__shape *s);
/* View of a sample as rows x row_len for "last dimension" operations:
 * vector 1 x F, sequence T x F, image 1 x (C*H*W). */
void ctr__shape_rows(const ctr__shape *s, int64_t *rows, int64_t *row_len);
/* View of a sample as outer x channels x inner for per-channel operations:
 * vector 1 x F x 1, sequence T x F x 1, image 1 x C x (H*W). */
void ctr__shape_channels(const ctr__shape *s, int64_t *outer,
                         int64_t *channels, int64_t *inner);
/* Uniform in [-bound, bound) from g (double precision, rounded once). */
float ctr__uniform_sym(ctr__prng *g, double bound);
/* Output length of a window of `kernel` sliding with `stride` over `len`
 * values padded by `pad` on both sides; 0 if the window does not fit. */
int64_t ctr__window_count(int64_t len, int64_t kernel, int64_t stride, int64_t pad);

/* Every one of `rows` rows of y (rows x cols) set to b (a bias before a
 * GEMM that adds to it). */
void ctr__fill_rows(float *y, const float *b, int64_t rows, int64_t cols);

/* acc[j] += the sum over the rows of d[i][j] (a bias gradient): each block
 * of columns summed by one thread, rows in order, so the same bits at any
 * thread count and as a serial loop. */
void ctr__add_rows(float *acc, const float *d, int64_t rows, int64_t cols);

#endif /* CTR_LAYER_H */
