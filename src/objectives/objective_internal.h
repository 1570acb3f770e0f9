/*
 * objective_internal.h - the objective handle's layout and the helpers its
 * compute calls share (argument checks, workspace, statistics). Each form
 * of the objective lives in its own file: infonce.c, ntxent.c,
 * infonce_shared.c, npair.c, nce.c; objective.c holds the handle.
 */
#ifndef CTR_OBJECTIVE_INTERNAL_H
#define CTR_OBJECTIVE_INTERNAL_H

#include "common/core.h"

/* Statistics of one call, accumulated then published on success. */
typedef struct ctr__obj_stats {
    double loss;
    double accuracy;
    double pos_sim;
    double neg_sim;
    double chance_loss;
} ctr__obj_stats;

struct ctr_objective {
    ctr__alloc alloc;
    ctr__error err;
    int32_t kind;
    /* parameters */
    double temperature;
    int64_t normalize;
    int64_t symmetric;
    int64_t tile;
    double npair_lambda;
    int64_t nce_z_mode;
    double nce_momentum;
    /* state */
    int has_log_z;
    double log_z;
    int has_stats;
    int64_t calls;
    ctr__obj_stats stats;
    /* workspace, grown on demand, never shrunk */
    void *ws;
    size_t ws_bytes;
};

/* Starts a compute call: clears the error, checks the kind. */
int ctr__obj_begin(ctr_objective *obj, int32_t kind, const char *call);
/* Ensures the workspace holds `bytes` (grows it; CTR_E_NOMEM leaves the
 * old one). */
int ctr__obj_reserve(ctr_objective *obj, size_t bytes);
/* Publishes the statistics of a successful call. */
void ctr__obj_publish(ctr_objective *obj, const ctr__obj_stats *st);

/* Checks a b x d matrix argument: pointer, ld >= d, finite entries.
 * Messages name `what`. */
int ctr__obj_check_matrix(ctr_objective *obj, const float *x, int64_t rows,
                          int64_t cols, int64_t ld, const char *what);
/* Checks b >= 1, d >= 1 and that b*d floats fit. */
int ctr__obj_check_sizes(ctr_objective *obj, int64_t b, int64_t d);

/* A bump allocator over the workspace: 64-byte aligned float blocks. */
typedef struct ctr__carve {
    char *base;
    size_t used;
} ctr__carve;
/* Bytes a carve of n floats takes (rounded up to 64); sizes are checked
 * by the caller through ctr__obj_ws_add. */
float *ctr__carve_floats(ctr__carve *c, size_t n);
/* *total += bytes of n floats rounded to 64; CTR_E_OVERFLOW on overflow. */
int ctr__obj_ws_add(size_t *total, int64_t n_floats);

/* Workspace sizes of each form (b, d, k as in ctr_objective_workspace_size). */
int ctr__infonce_ws(const ctr_objective *obj, size_t *bytes, int64_t b,
                    int64_t d);
int ctr__ntxent_ws(const ctr_objective *obj, size_t *bytes, int64_t b,
                   int64_t d);
int ctr__shared_ws(const ctr_objective *obj, size_t *bytes, int64_t b,
                   int64_t d);
int ctr__nce_ws(const ctr_objective *obj, size_t *bytes, int64_t b,
                int64_t d, int64_t kn);

/* In-batch InfoNCE on already validated inputs, used by INFONCE and NPAIR;
 * the workspace must be reserved (ctr__infonce_ws). reg > 0 adds N-pair's
 * L2 regulariser reg / 2 * sum of |x|^2 over the rows of a and p to the
 * loss (reg = lambda / b) and reg * x to the gradients. */
int ctr__infonce_run(ctr_objective *obj, const float *a, int64_t lda,
                     const float *p, int64_t ldp, int64_t b, int64_t d,
                     const int64_t *groups, double reg, float *grad_a,
                     float *grad_p, ctr__obj_stats *st);

/* Online-softmax pass of query rows over a block of key rows, shared by
 * infonce_shared, bank_softmax and exact-Z NCE. See infonce_shared.c. */
typedef struct ctr__tiled {
    /* inputs */
    const float *qs;       /* b x d queries pre-scaled by 1/tau, contiguous */
    int64_t b, d;
    const float *keys;     /* n x d, ld */
    int64_t n, ld;
    int normalize_keys;    /* scale key j by 1/|k_j| */
    const int64_t *q_ids;  /* b ids, or NULL */
    const int64_t *key_ids; /* n ids, or NULL */
    const int64_t *self_idx; /* b: mask key j == self_idx[i], or NULL */
    int64_t tile;
    /* running state (b each; g is b x d, NULL when no gradient) */
    float *m;       /* running reference, within a slack of the max logit */
    double *sum;    /* sum of exp(logit - m) */
    float *g;       /* sum of exp(logit - m) * key (normalised) */
    float *negmax;  /* max logit of the unmasked keys */
    double *negsum; /* sum of logits of the unmasked keys */
    int64_t *negcnt;
    /* scratch */
    float *s;       /* b x tile */
    float *alpha;   /* b */
    float *colscale; /* tile */
    int64_t *masked_cnt; /* b: masked entries of the tile row */
    /* q_ids as a hash index (when q_ids is set): slot[h] = first query of
     * an id, next[i] = the next query with the same id, or -1 */
    int32_t *slot, *next;
    int64_t slot_mask;
} ctr__tiled;

/* Floats of scratch ctr__tiled_carve takes for b queries (beside the tile
 * buffers): the hash index and the per-row masking counts. */
int64_t ctr__tiled_scratch_floats(int64_t b);
/* Carves that scratch from c and, if t->q_ids is set, builds the index. */
void ctr__tiled_carve(ctr__tiled *t, ctr__carve *c);

/* Runs the forward pass over all key tiles. Returns CTR_E_NUMERIC (with a
 * message) if a key tile holds NaN/Inf. */
int ctr__tiled_forward(ctr_objective *obj, ctr__tiled *t);
/* Second pass: grad_keys (n x d contiguous) = (1/b) sum_i p_ij q_i, with
 * p_ij = exp(logit_ij - lse[i]), through the key normalisation. */
void ctr__tiled_key_grad(ctr__tiled *t, const float *lse, float *grad_keys,
                         float scale);

/* Row-wise softmax cross-entropy over an n x n logits matrix, in place: S
 * becomes dS = scale * (softmax - y), where y spreads 1 evenly over the
 * row's positives: column i for row i, or with groups every column j with
 * groups[j] == groups[i]. Used by INFONCE and NPAIR. */
typedef struct ctr__ce_acc {
    double loss;     /* sum of row losses */
    double correct;  /* rows whose best candidate is a positive */
    double pos_sum, neg_sum; /* sums of logits */
    double pos_cnt, neg_cnt;
} ctr__ce_acc;
void ctr__ce_rows(float *s, int64_t n, const int64_t *groups, float scale,
                  ctr__ce_acc *acc);

/* CTR_E_INVALID_ARG unless idx (non-NULL) holds count indices in [0, n). */
int ctr__obj_check_indices(ctr_objective *obj, const int64_t *idx,
                           int64_t count, int64_t n, const char *what);
/* Argument checks and workspace of the two-matrix in-batch calls. */
int ctr__pair_check(ctr_objective *obj, const float *a, int64_t lda,
                    const float *p, int64_t ldp, int64_t b, int64_t d);

#endif /* CTR_OBJECTIVE_INTERNAL_H */
