/*
 * kind.h - the interface between the objective handle (objective.c:
 * creation, parameters, statistics, checkpoints) and the objective kinds
 * (one file each: infonce.c, ntxent.c, infonce_shared.c, npair.c, nce.c,
 * bank_softmax.c), as encoder/layer.h is for the layers.
 *
 * A kind is one const table, ctr__obj_kind, defined in its own file and
 * listed in registry.c. Its public compute call packs the call's operands
 * into the kind's own argument struct and hands it to ctr__obj_call, which
 * runs every compute call the same way: clear the error, check the
 * handle's kind, kind->check the operands, reserve kind->workspace bytes,
 * kind->run, publish the statistics. The handle answers
 * ctr_objective_workspace_size with the same kind->workspace, so the query
 * and the call cannot disagree.
 *
 * The helpers below (argument checks, workspace carving) are what the
 * kinds share; kind.c defines them and knows no kind.
 */
#ifndef CTR_KIND_H
#define CTR_KIND_H

#include "common/core.h"

/* Statistics of one call, accumulated then published on success. */
typedef struct ctr__obj_stats {
    double loss;
    double accuracy;
    double pos_sim;
    double neg_sim;
    double chance_loss;
    double grad_temperature; /* d loss / d tau, when has_grad_temperature */
    int has_grad_temperature;
} ctr__obj_stats;

typedef struct ctr__obj_kind ctr__obj_kind;

struct ctr_objective {
    ctr__alloc alloc;
    ctr__error err;
    const ctr__obj_kind *kind;
    /* parameters: every kind stores (and saves) all of them */
    double temperature;
    int64_t normalize;
    int64_t symmetric;
    int64_t tile;
    double npair_lambda;
    int64_t nce_z_mode;
    double nce_momentum;
    int64_t decoupled;
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

/* The sizes a call's workspace depends on: b anchors of dimension d and
 * k negatives per anchor, as in ctr_objective_workspace_size. */
typedef struct ctr__obj_dims {
    int64_t b, d, k;
} ctr__obj_dims;

struct ctr__obj_kind {
    int32_t id;        /* CTR_OBJECTIVE_* */
    const char *name;  /* "INFONCE": the kind in error messages */
    /* The CTR_OBJECTIVE_P_* parameters the kind reads, 0-terminated. Every
     * handle accepts and saves every parameter (the published contract);
     * a kind ignores those it does not list. */
    const int32_t *params;
    /* Adjusts the common defaults of a new handle (NULL: keeps them). */
    void (*defaults)(ctr_objective *obj);
    /* Validates the operands in `args` (the kind's own struct; it may
     * resolve them further, e.g. a queue into its rows) and gives the
     * sizes its workspace depends on. Records a message on failure. */
    int (*check)(ctr_objective *obj, void *args, ctr__obj_dims *dims);
    /* Bytes of workspace for (b, d, k) with the current parameters; only
     * CTR_OK or CTR_E_OVERFLOW. */
    int (*workspace)(const ctr_objective *obj, size_t *bytes, int64_t b,
                     int64_t d, int64_t k);
    /* Computes on checked operands with the workspace reserved: fills st,
     * writes the gradients, and commits any state of the kind (NCE's Z)
     * only when it succeeds. */
    int (*run)(ctr_objective *obj, const void *args, ctr__obj_stats *st);
};

/* One compute call of `kind` on obj (the public call `call`, for
 * messages): see the top of this file. Returns CTR_E_INVALID_ARG for a
 * NULL obj; on any error the outputs and the handle's state are unchanged
 * except its message. */
int ctr__obj_call(ctr_objective *obj, const ctr__obj_kind *kind,
                  const char *call, void *args, double *loss);

/* ---- argument checks ------------------------------------------------------- */

/* Checks b >= 1, d >= 1 and that b*d floats fit. */
int ctr__obj_check_sizes(ctr_objective *obj, int64_t b, int64_t d);
/* The same checks with the message to err (for const calls). */
int ctr__obj_check_sizes_into(ctr__error *err, int64_t b, int64_t d);
/* Checks a rows x cols matrix argument: pointer, ld >= cols, finite
 * entries. Messages name `what`. */
int ctr__obj_check_matrix(ctr_objective *obj, const float *x, int64_t rows,
                          int64_t cols, int64_t ld, const char *what);
/* Pointer, ld and size checks of n key rows of dimension d (NULL allowed
 * when n == 0); their finiteness is left to the tiled pass. */
int ctr__obj_check_keys(ctr_objective *obj, const float *keys, int64_t n,
                        int64_t d, int64_t ld, const char *what);
/* CTR_E_INVALID_ARG unless idx (non-NULL) holds count indices in [0, n). */
int ctr__obj_check_indices(ctr_objective *obj, const int64_t *idx,
                           int64_t count, int64_t n, const char *what);

/* ---- workspace ---------------------------------------------------------------- */

/* A bump allocator over the workspace: 64-byte aligned float blocks. */
typedef struct ctr__carve {
    char *base;
    size_t used;
} ctr__carve;
/* The next n floats of c (rounded up to 64 bytes); sizes are checked by
 * the kind's workspace function through ctr__obj_ws_add. */
float *ctr__carve_floats(ctr__carve *c, size_t n);
/* *total += bytes of n floats rounded to 64; CTR_E_OVERFLOW on overflow. */
int ctr__obj_ws_add(size_t *total, int64_t n_floats);

/* objective.c: what a training-state file needs of an objective
 * (common/persist.h). */
struct ctr__persist_ops;
extern const struct ctr__persist_ops ctr__objective_persist;

#endif /* CTR_KIND_H */
