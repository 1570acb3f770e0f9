/*
 * tiled.h - the online softmax of b queries over n key rows, visited in
 * tiles of TILE rows: INFONCE_SHARED and BANK_SOFTMAX (through
 * tiled_infonce.h) and NCE with exact Z run their logits through it.
 */
#ifndef CTR_TILED_H
#define CTR_TILED_H

#include "objectives/kind.h"

/* One pass of query rows over a block of key rows: inputs, running state
 * and scratch. The caller fills the inputs and carves the state. */
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
    /* optional capture of chosen logits, as the tiles compute them (NCE's
     * gathered rows, so that Z and the numerators share one value): per
     * query capture_per keys (key row << 32 | slot), grouped by tile in
     * ascending order (ctr__tiled_sort_keys); the logit of query i and
     * that row is stored at capture_out[i * capture_per + slot] */
    const uint64_t *capture_keys;
    int64_t capture_per;
    float *capture_out;
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
    int64_t *cursor; /* b: the next capture key of each query */
} ctr__tiled;

/* Floats of scratch ctr__tiled_carve takes for b queries (beside the tile
 * buffers): the hash index and the per-row masking counts. */
int64_t ctr__tiled_scratch_floats(int64_t b);
/* Carves that scratch from c and, if t->q_ids is set, builds the index. */
void ctr__tiled_carve(ctr__tiled *t, ctr__carve *c);

/* Orders cnt capture keys (row << 32 | slot) stably by the tile of their
 * row, row / tile for rows below n; tmp: cnt keys, hist: 2048 int64 of
 * scratch. A radix sort on the tile number, 11 bits a pass. */
void ctr__tiled_sort_keys(uint64_t *keys, uint64_t *tmp, int64_t cnt,
                          int64_t tile, int64_t n, int64_t *hist);

/* Runs the forward pass over all key tiles. Returns CTR_E_NUMERIC (with a
 * message in obj) if a key tile holds NaN/Inf. */
int ctr__tiled_forward(ctr_objective *obj, ctr__tiled *t);
/* Second pass, after ctr__tiled_forward: grad_keys (n x d contiguous) =
 * scale sum_i p_ij q_i through the key normalisation, with p_ij =
 * exp(logit_ij - m_i) / sum_i from the forward pass's state: the
 * log-sum-exp m_i + log sum_i is never rounded to one float (at logits of
 * 1e5 that alone would move p_ij by up to 0.4%). qw: b x d scratch (the
 * queries divided by their sums). */
void ctr__tiled_key_grad(ctr__tiled *t, float *qw, float *grad_keys,
                         float scale);

#endif /* CTR_TILED_H */
