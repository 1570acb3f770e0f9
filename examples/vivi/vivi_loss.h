/*
 * vivi_loss.h - the two-level VIVI loss (Tschannen et al. 2020) composed
 * from the public API, as a host writes it: frame-level NT-Xent with
 * positive groups (the frames of a shot) and shot-level NT-Xent with
 * positive groups (the shots of a video) on mean-pooled shot embeddings,
 * L = L_frame + lambda L_shot, and dL/dF for the frame embeddings with the
 * shot level's gradient carried back through the pooling.
 *
 *   L_frame = mean over frames r of  logsumexp_{c != r} S_rc
 *                                   - mean_{c != r, shot(c) = shot(r)} S_rc
 *   S = F^ F^T / tau_frame (F^: rows L2-normalised), likewise L_shot on
 *   s_k = mean of the frames of shot k, groups = videos, tau_shot.
 *
 * Each level is one ctr_objective_ntxent call with groups: the rows of
 * each group are split into two halves that form the call's two "views"
 * with the same label sequence; with groups NT-Xent's loss is SupCon's
 * L_out over all 2b rows, so the split changes nothing but needs every
 * group to hold an even number (>= 2) of rows. Shots may differ in length
 * and videos in shot count, as long as the counts are even.
 * Memory: the host's malloc (grown on demand, kept between calls).
 */
#ifndef VIVI_LOSS_H
#define VIVI_LOSS_H

#include <stdint.h>

#include "contrastive.h"

typedef struct vivi_loss {
    ctr_objective *frame, *shot; /* NT-Xent handles, one per level */
    double lambda;               /* weight of the shot level */
    int64_t cap_rows, cap_dim;   /* buffer sizes (rows of n, floats of d) */
    float *v1, *v2, *g1, *g2;    /* the two halves and their gradients */
    float *pool, *gpool, *gacc;  /* shot embeddings, their gradient, dL/dF */
    int64_t *idx, *lab, *cnt, *off, *shot_n; /* pairing and counts */
    double frame_loss, shot_loss; /* of the last successful call */
} vivi_loss;

/* Both NT-Xent handles (NORMALIZE 1) with their temperatures; lambda the
 * shot level's weight (>= 0; 0 skips the shot level). 0 or a CTR_E_*. */
int vivi_loss_init(vivi_loss *v, double tau_frame, double tau_shot, double lambda);
void vivi_loss_free(vivi_loss *v);

/* f: n x d frame embeddings (row-major, contiguous); frame_shot[i] in
 * [0, n_shots) the shot of frame i; shot_video[k] in [0, n_videos) the
 * video of shot k. *loss = L_frame + lambda L_shot (the two parts in
 * v->frame_loss, v->shot_loss); grad (n x d, may be NULL) receives dL/df.
 * Errors: CTR_E_INVALID_ARG (NULL operand, n < 2, d < 1, a label out of
 * range, a shot or video with an odd or zero count), CTR_E_NOMEM, and the
 * NT-Xent call's codes (CTR_E_NUMERIC for NaN/Inf input). On error
 * nothing is written to loss or grad. */
int vivi_loss_compute(vivi_loss *v, double *loss, const float *f, int64_t n, int64_t d,
                      const int64_t *frame_shot, int64_t n_shots, const int64_t *shot_video,
                      int64_t n_videos, float *grad);

#endif /* VIVI_LOSS_H */
