/*
 * comm.h - the communicator handle (public ctr_comm, contrastive/comm.h):
 * the host's collective callbacks with error reporting, the agreement
 * record that turns a bad argument or a shape mismatch on one rank into an
 * error on every rank, and a growable workspace for the distributed calls
 * (src/dist/).
 */
#ifndef CTR_COMM_H
#define CTR_COMM_H

#include "common/core.h"

/* Values an agreement record carries besides the status. */
#define CTR__AGREE_MAX 8

struct ctr_comm {
    ctr__alloc alloc;
    ctr__error err;
    ctr_comm_ops ops;
    int64_t rank, size;
    int64_t *agreed; /* size x (1 + CTR__AGREE_MAX): the last records */
    void *ws;        /* workspace of the distributed calls */
    size_t ws_bytes;
};

/* CTR_OK for a callback's 0, else CTR_E_COMM with the message naming
 * `what`, the transport's code and its description. */
int ctr__comm_status(ctr_comm *c, int code, const char *what);

/* The callbacks with the handle's message on failure (CTR_E_COMM naming
 * `what`, the transport's code and its description). n >= 1. */
int ctr__comm_allreduce_f32(ctr_comm *c, float *buf, int64_t n,
                            const char *what);
int ctr__comm_allgather_f32(ctr_comm *c, const float *send, float *recv,
                            int64_t n, const char *what);
int ctr__comm_broadcast_f32(ctr_comm *c, float *buf, int64_t n, int64_t root,
                            const char *what);

/* The agreement record: every rank contributes its status (CTR_OK or the
 * error its own checks found, with its message already set) and nvals
 * values (nvals <= CTR__AGREE_MAX), of which the first n_equal must be
 * equal on every rank (their names in names[]). Returns CTR_OK, this
 * rank's status, the first failing rank's status ("rank k: <error>"), or
 * CTR_E_SHAPE ("<name> is x on rank k but y on rank 0"), the same code on
 * every rank; or CTR_E_COMM if the exchange itself failed. Afterwards
 * agreed[r * (1 + CTR__AGREE_MAX) + 1 + i] is rank r's value i. */
int ctr__comm_agree(ctr_comm *c, int status, const int64_t *vals, int nvals,
                    int n_equal, const char *const *names);

/* Rank r's value i of the last agreement record. */
int64_t ctr__comm_agreed(const ctr_comm *c, int64_t r, int i);

/* Grows the workspace to at least bytes (CTR_E_NOMEM with a message,
 * workspace kept). */
int ctr__comm_reserve(ctr_comm *c, size_t bytes);

/* A double's bits as an int64 (for agreement records) and back. */
int64_t ctr__comm_f64_bits(double v);
double ctr__comm_bits_f64(int64_t v);

#endif /* CTR_COMM_H */
