/*
 * crd_part.h - the CRD term of examples/crd, composed from public calls as
 * docs/crd.md describes: an embedding head (linear to e, L2 norm) on the
 * student's and on the teacher's features, a student bank and a teacher
 * bank of one row per training image, NCE of the student embedding
 * against the teacher bank and of the teacher embedding against the
 * student bank (Z fixed from the first batch), the banks' momentum
 * updates (0.5), and class-aware noise: each anchor's k noise indices are
 * drawn from the training images of the other classes (RepDistiller's
 * "exact" mode).
 */
#ifndef CRD_PART_H
#define CRD_PART_H

#include <stddef.h>
#include <stdint.h>

#include "contrastive.h"

typedef struct crd_part {
    int64_t ds, dt, e, n, b, k;
    double beta;
    ctr_encoder *es, *et;        /* embedding heads */
    ctr_optimizer *oes, *oet;
    ctr_objective *ns, *nt;      /* NCE: student / teacher embedding */
    ctr_bank *bs, *bt;           /* student bank, teacher bank */
    ctr_rng *rng;                /* noise draws */
    const int64_t *labels;       /* n training labels (not owned) */
    int64_t *order;              /* training indices grouped by class */
    int64_t start[16], count[16];
    int64_t *noise;              /* b x k */
    float *zs, *zt, *gzs, *gzt;
    float *dfs;                  /* d(beta CRD) / d student features */
} crd_part;

/* n training images with labels in [0, classes), classes <= 16; student
 * features ds, teacher features dt; b anchors, k noise rows, embedding e;
 * the heads trained by AdamW at lr. 0 or a CTR_E_* code with err set. */
int crd_part_create(crd_part *p, int64_t ds, int64_t dt, int64_t n,
                    const int64_t *labels, int64_t classes, int64_t b,
                    int64_t k, int64_t e, double beta, double lr,
                    uint64_t seed, char *err, size_t cap);
void crd_part_destroy(crd_part *p);

/* Draws class-aware noise for anchors idx (b training indices) into
 * p->noise: for anchor i, k indices of images whose label differs from
 * labels[idx[i]]. */
int crd_part_sample(crd_part *p, const int64_t *idx);

/* One CRD step on the b anchors idx with student features fs (b x ds,
 * train mode: the gradient goes to p->dfs, scaled by beta) and teacher
 * features ft (b x dt, frozen): both NCE losses (unscaled) in *ls, *lt;
 * steps both heads, then updates both banks. */
int crd_part_step(crd_part *p, const float *fs, const float *ft,
                  const int64_t *idx, double *ls, double *lt, char *err,
                  size_t cap);

#endif /* CRD_PART_H */
