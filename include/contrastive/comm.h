/*
 * contrastive/comm.h - a communicator for data-parallel training across
 * processes, built from callbacks the host supplies (its own transport, or
 * MPI through the optional libcontrastive-mpi adapter, contrastive-mpi.h).
 * Included by contrastive.h; do not include it on its own.
 *
 * The core library never links a transport. A ctr_comm is a handle over a
 * ctr_comm_ops table of collective operations (all-reduce sum, all-gather,
 * broadcast on float and int64 buffers, rank and size); on top of it the
 * library offers what data-parallel contrastive training needs with exact
 * gradients: the gradient all-reduce of an encoder (or of any caller
 * buffer), the start-of-training parameter broadcast, and NT-Xent with
 * cross-replica negatives. docs/distributed.md describes the model.
 *
 * Collectives. Every rank of the communicator must make the same sequence
 * of collective calls (library calls that communicate say so), as with
 * MPI. The calls that take shapes (ctr_comm_encoder_*, ctr_comm_ntxent,
 * ctr_comm_average_f32) first exchange a small agreement record: a bad
 * argument on one rank, or shapes that differ across ranks, then give an
 * error on every rank (the same code; the message names the rank) instead
 * of a hang or a corrupt result. A failing callback is returned as
 * CTR_E_COMM on the rank where it failed; whether the other ranks notice
 * depends on the transport (MPI's error handler, a time-out).
 *
 * Thread rule: one thread at a time per handle; the callbacks are called
 * from the thread that calls the library.
 */
#ifndef CONTRASTIVE_COMM_H
#define CONTRASTIVE_COMM_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctr_comm ctr_comm;

/* The host's transport, as callbacks. Every callback returns 0 on success
 * or a nonzero code of the transport's own (an MPI error class, an errno);
 * the library turns a nonzero return into CTR_E_COMM and keeps the code and
 * describe()'s text in the handle's message. `user` is passed to each.
 *
 *   rank(user, &rank), size(user, &size): this process's rank in [0, size)
 *       and the number of ranks (>= 1); asked once, by ctr_comm_create.
 *   allreduce_f32(user, buf, n), allreduce_i64(user, buf, n): in place,
 *       buf[i] <- the sum over ranks of buf[i], i < n. Every rank must get
 *       the same bits (MPI_Allreduce does; a transport that reduces in
 *       another order on each rank makes the replicas drift apart).
 *   allgather_f32(user, send, recv, n), allgather_i64(...): recv (size * n
 *       elements) <- the n elements of every rank's send, in rank order.
 *       send and recv do not overlap.
 *   broadcast_f32(user, buf, n, root), broadcast_i64(...): buf[0..n) <- the
 *       root rank's buf.
 *   describe(user, code): optional (NULL): a static or user-owned string for
 *       a code a callback returned, copied into the handle's message.
 *   release(user): optional (NULL): called once by ctr_comm_destroy, and by
 *       a ctr_comm_create that fails, to free what `user` holds (the MPI
 *       adapter frees its duplicated MPI communicator there).
 *
 * n is >= 1 in every call the library makes (0-element collectives are
 * skipped). Initialise with ctr_comm_ops_init() so that struct_size is
 * right: later versions may add fields at the end (a shorter struct_size
 * leaves them unset). Since 0.1.0. */
typedef struct ctr_comm_ops {
    uint32_t struct_size; /* sizeof(ctr_comm_ops) as the caller knows it */
    uint32_t reserved;    /* must be 0 */
    void *user;
    int (*rank)(void *user, int64_t *rank);
    int (*size)(void *user, int64_t *size);
    int (*allreduce_f32)(void *user, float *buf, int64_t n);
    int (*allreduce_i64)(void *user, int64_t *buf, int64_t n);
    int (*allgather_f32)(void *user, const float *send, float *recv,
                         int64_t n);
    int (*allgather_i64)(void *user, const int64_t *send, int64_t *recv,
                         int64_t n);
    int (*broadcast_f32)(void *user, float *buf, int64_t n, int64_t root);
    int (*broadcast_i64)(void *user, int64_t *buf, int64_t n, int64_t root);
    const char *(*describe)(void *user, int code);
    void (*release)(void *user);
} ctr_comm_ops;

/* How ctr_comm_encoder_grads combines the ranks' gradients. */
/* The sum over ranks: each rank's gradient is already its part of the
 * gradient of the global loss (ctr_comm_ntxent's gradients). */
#define CTR_COMM_SUM 1
/* The mean weighted by each rank's `weight` (its number of samples): each
 * rank's gradient is that of its local mean loss, and the weighted mean is
 * the gradient of the mean over the global batch. */
#define CTR_COMM_MEAN 2

/* Sets struct_size and clears every other field.
 * Errors: CTR_E_INVALID_ARG if ops is NULL. Since 0.1.0. */
CTR_API int ctr_comm_ops_init(ctr_comm_ops *ops);

/* sizeof(ctr_comm_ops) in this library, for FFI users. Since 0.1.0. */
CTR_API size_t ctr_comm_ops_struct_size(void);

/* Creates a communicator from ops (copied; `user` and the functions must
 * stay valid until ctr_comm_destroy). Every callback but describe and
 * release must be set. Calls rank() and size() once; not a collective.
 * alloc may be NULL. On failure ops->release is called (if set), so the
 * adapter's state is never leaked.
 * Errors: CTR_E_INVALID_ARG (out or ops NULL, a required callback NULL, a
 * struct_size that does not cover them, reserved != 0, rank not in
 * [0, size), bad allocator), CTR_E_COMM (rank() or size() failed),
 * CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_comm_create(ctr_comm **out, const ctr_comm_ops *ops,
                            const ctr_allocator *alloc);

/* Frees the handle and calls ops->release. NULL is accepted. Since 0.1.0. */
CTR_API void ctr_comm_destroy(ctr_comm *comm);

/* This process's rank and the number of ranks (from create).
 * Errors: CTR_E_INVALID_ARG (NULL). Since 0.1.0. */
CTR_API int ctr_comm_rank(const ctr_comm *comm, int64_t *rank);
CTR_API int ctr_comm_size(const ctr_comm *comm, int64_t *size);

/* The transport's collectives with argument checks and error messages
 * (collective; no agreement record: every rank must pass the same n and
 * root). n == 0 returns CTR_OK without a callback.
 * allreduce: buf[i] <- sum over ranks. allgather: recv (size * n) <- every
 * rank's send in rank order. broadcast: buf <- root's buf.
 * Errors: CTR_E_INVALID_ARG (NULL handle or buffer, n < 0, root not a
 * rank), CTR_E_COMM (the callback failed; buf/recv undefined).
 * Since 0.1.0. */
CTR_API int ctr_comm_allreduce_f32(ctr_comm *comm, float *buf, int64_t n);
CTR_API int ctr_comm_allreduce_i64(ctr_comm *comm, int64_t *buf, int64_t n);
CTR_API int ctr_comm_allgather_f32(ctr_comm *comm, float *recv,
                                   const float *send, int64_t n);
CTR_API int ctr_comm_allgather_i64(ctr_comm *comm, int64_t *recv,
                                   const int64_t *send, int64_t n);
CTR_API int ctr_comm_broadcast_f32(ctr_comm *comm, float *buf, int64_t n,
                                   int64_t root);
CTR_API int ctr_comm_broadcast_i64(ctr_comm *comm, int64_t *buf, int64_t n,
                                   int64_t root);

/* buf[0..n) <- sum_r weight_r buf_r / sum_r weight_r over the ranks: the
 * gradient of the global mean loss when each rank's buf is the gradient of
 * the mean over its weight_r samples (any caller parameter buffer).
 * Collective, with an agreement record (n equal on every rank; weight
 * finite and >= 0, the sum of weights > 0). Never allocates.
 * Errors: CTR_E_INVALID_ARG, CTR_E_SHAPE (n differs across ranks),
 * CTR_E_NUMERIC (NaN/Inf in buf or weight, on any rank), CTR_E_COMM,
 * CTR_E_NOMEM; each is returned on every rank, buf unchanged, except
 * CTR_E_COMM (buf undefined). Since 0.1.0. */
CTR_API int ctr_comm_average_f32(ctr_comm *comm, float *buf, int64_t n,
                                 double weight);

/* The message of the handle's most recent call ("" if it succeeded), valid until
 * its next call or destroy. NULL gives a static text. Since 0.1.0. */
CTR_API const char *ctr_comm_last_error(const ctr_comm *comm);

/* ---- data-parallel training ------------------------------------------------ */

/* Combines the encoder's parameter gradients over the ranks, before the
 * optimizer step: op CTR_COMM_SUM (weight ignored) or CTR_COMM_MEAN
 * (weighted by weight, the rank's number of samples; see the constants).
 * Every rank then holds the same gradient, so identical optimizers keep the
 * replicas identical. Collective, with an agreement record: the ranks'
 * encoders must have the same number of parameters. Reduces the gradient
 * array in place; never allocates.
 * Errors: CTR_E_INVALID_ARG (NULL, bad op or weight), CTR_E_SHAPE
 * (parameter counts differ), CTR_E_NUMERIC (a NaN/Inf gradient on some
 * rank), CTR_E_COMM, CTR_E_NOMEM - on every rank, gradients unchanged
 * (undefined after CTR_E_COMM). Messages go to the comm. Since 0.1.0. */
CTR_API int ctr_comm_encoder_grads(ctr_comm *comm, ctr_encoder *enc,
                                   int32_t op, double weight);

/* Copies the root rank's parameters and BatchNorm running statistics into
 * every rank's encoder (the start of training, so that the replicas begin
 * equal). Collective, with an agreement record (same parameter and
 * statistics counts). Errors: as ctr_comm_encoder_grads, and
 * CTR_E_INVALID_ARG for a root that is not a rank. Since 0.1.0. */
CTR_API int ctr_comm_encoder_broadcast(ctr_comm *comm, ctr_encoder *enc,
                                       int64_t root);

/* Synchronised BatchNorm (SyncBN): a train-mode forward of the encoder on
 * this rank's n samples (as ctr_encoder_forward with CTR_ENCODER_TRAIN)
 * in which every batch-norm layer normalises with the statistics of the
 * global batch - the per-channel sums and then the squared deviations
 * all-reduced over the ranks (two all-reduces of C floats per layer) - so
 * R ranks with n samples each compute exactly what one process computes
 * with the R n samples in one BN group; the running statistics move the
 * same way on every rank. ctr_comm_encoder_backward is its backward: the
 * per-channel sums of dy and dy * xhat are all-reduced (one all-reduce of
 * 2 C floats per layer) for the input gradient, while the BN parameters'
 * own gradients stay local sums, combined with the rest by
 * ctr_comm_encoder_grads. A synchronised forward must be followed by this
 * backward (ctr_encoder_backward refuses it, and the other way round:
 * CTR_E_STAGE). The encoder needs CTR_ENCODER_P_BN_GROUPS = 1; encoders
 * without batch norm run as ctr_encoder_forward / _backward (no
 * collective beyond the agreement). Collective, with an agreement record
 * (n, the parameter, statistics and layer counts, and for the backward
 * whether dx is requested, equal on every rank); the encoder's own
 * checks run first, so a bad argument on one rank is its error on every
 * rank. Messages: the encoder's (ctr_encoder_last_error), the agreement's
 * in the comm. Never allocates beyond the encoder's workspace.
 * Errors: CTR_E_INVALID_ARG (NULL, bad n, BN groups != 1), CTR_E_SHAPE,
 * CTR_E_NUMERIC, CTR_E_STAGE, CTR_E_OVERFLOW, CTR_E_NOMEM - on every rank,
 * nothing written; CTR_E_COMM (a collective failed: on that rank, outputs
 * undefined, running statistics restored by the forward). Since 0.1.0. */
CTR_API int ctr_comm_encoder_forward(ctr_comm *comm, ctr_encoder *enc,
                                     float *y, const float *x, int64_t n);
CTR_API int ctr_comm_encoder_backward(ctr_comm *comm, ctr_encoder *enc,
                                      float *dx, const float *dy);

/* NT-Xent (SimCLR) over the global batch with cross-replica negatives:
 * rank r holds b pairs z1, z2 (b x d, ld1, ld2 >= d), rows r*b .. r*b+b-1
 * of the global views Z1, Z2 (B = size * b pairs, rank order). The loss is
 * exactly ctr_objective_ntxent's on (Z1, Z2): each of the 2B views against
 * the 2B - 2 others, self-similarity masked, mean over the 2B anchors; obj
 * (kind CTR_OBJECTIVE_NTXENT) gives the temperature, the normalisation
 * and the decoupled loss (CTR_OBJECTIVE_P_TEMPERATURE, _NORMALIZE,
 * _DECOUPLED: needs B >= 2) and is not changed (no statistics; no groups). *loss is the global loss, the same
 * on every rank. grad_z1, grad_z2 (b x d, dense, or both NULL for the loss
 * only) get d loss / d (this rank's rows): the rank's anchors' own terms
 * plus the terms of every other rank's anchors in which these rows are
 * negatives or positives (all-reduced back to the owner, as SimCLR's
 * cross-replica loss; dropping them is the common bug). Sum the encoder
 * gradients with CTR_COMM_SUM afterwards.
 * Each rank computes its 2b anchors against the 2B rows: 2b x 2B logits,
 * 1/size of the single-process work. Communication: an all-gather of
 * 2 b d floats per rank and an all-reduce of 2 B d + 1 floats.
 * Workspace (the comm's, grown on first use, then reused): 2b d + 4B d +
 * 4 b B + 2B floats. Collective, with an agreement record (b, d, the temperature
 * and the normalisation equal on every rank).
 * Errors: CTR_E_INVALID_ARG (NULL, b or d < 1, ld < d, obj not NTXENT,
 * only one gradient), CTR_E_SHAPE (b, d or the objective's parameters
 * differ across ranks), CTR_E_NUMERIC (NaN/Inf input on some rank, or
 * logits overflowing), CTR_E_OVERFLOW, CTR_E_COMM, CTR_E_NOMEM - on every
 * rank, nothing written (CTR_E_COMM: outputs undefined). Since 0.1.0. */
CTR_API int ctr_comm_ntxent(ctr_comm *comm, const ctr_objective *obj,
                            double *loss, const float *z1, int64_t ld1,
                            const float *z2, int64_t ld2, int64_t b,
                            int64_t d, float *grad_z1, float *grad_z2);

/* In-batch InfoNCE (CPC, CURL; kind CTR_OBJECTIVE_INFONCE) over the global
 * batch with cross-replica negatives: rank r holds b anchors a and
 * positives p (b x d, lda, ldp >= d), rows r*b .. r*b+b-1 of the global A
 * and P (B = size * b, rank order). The loss is exactly
 * ctr_objective_infonce's on (A, P) without groups: each anchor against
 * the B positives (its own the target), mean over the B anchors, and with
 * CTR_OBJECTIVE_P_SYMMETRIC the mean with the P -> A direction; obj gives
 * the temperature, normalisation, symmetry and the decoupled loss and is
 * not changed.
 * grad_a, grad_p (b x d, dense, or both NULL) get d loss / d (this rank's
 * rows), including the terms of other ranks' anchors (all-reduced back, as
 * ctr_comm_ntxent). Sum the encoder gradients with CTR_COMM_SUM.
 * Communication, workspace, agreement and errors as ctr_comm_ntxent
 * (CTR_E_INVALID_ARG if obj is not INFONCE). Since 0.1.0. */
CTR_API int ctr_comm_infonce(ctr_comm *comm, const ctr_objective *obj,
                             double *loss, const float *a, int64_t lda,
                             const float *p, int64_t ldp, int64_t b,
                             int64_t d, float *grad_a, float *grad_p);

/* MoCo's key gather: every rank's n keys (n x d, leading dimension ld >= d,
 * d the queue's dim) and ids (n, exactly when the queue has CTR_QUEUE_IDS)
 * are all-gathered in rank order and the size * n keys enqueued on every
 * rank's queue (ctr_queue_enqueue), so the queues stay bit-identical: the
 * same as one process enqueueing the global batch. Collective, with an
 * agreement record: n and the queue's dim, capacity, flags, write
 * position and total must be equal on every rank (queues that diverged are
 * CTR_E_SHAPE). Communication: size * n * d floats (+ ids) received.
 * Workspace (the comm's): (size + 1) n d floats + (size + 1) n int64.
 * Errors: CTR_E_INVALID_ARG, CTR_E_SHAPE (mismatch, or size * n > K
 * without CTR_QUEUE_KEEP_NEWEST), CTR_E_NUMERIC (NaN/Inf key on some rank),
 * CTR_E_OVERFLOW, CTR_E_COMM, CTR_E_NOMEM - on every rank, queues
 * unchanged (CTR_E_COMM: as the transport left them, not enqueued on the
 * failing rank). Since 0.1.0. */
CTR_API int ctr_comm_queue_enqueue(ctr_comm *comm, ctr_queue *q,
                                   const float *keys, int64_t n, int64_t ld,
                                   const int64_t *ids);

/* MoCo's shuffle BN across ranks (the reference's batch_shuffle_ddp and
 * batch_unshuffle_ddp). ctr_comm_shuffle_rows: every rank's b rows of in
 * (b x cols, dense: the key encoder's inputs) are gathered in rank order
 * into the global batch X (B = size * b rows); rank 0 draws a permutation
 * of 0..B-1 with ctr_rng_permutation(rng) (rng is read on rank 0 only and
 * may be NULL elsewhere) and broadcasts it into every rank's perm (B
 * int64); out (b x cols) <- rows perm[r b + i] of X. Encode out (BN then
 * normalises over a mix of every rank's samples, so a query and its key
 * never share statistics), then ctr_comm_unshuffle_rows with the same perm
 * puts the encoded rows (in, b x cols) back: out row i <- the encoded row
 * of global sample r b + i. One process does the same with
 * CTR_ENCODER_P_BN_GROUPS = size on X permuted by perm. Collective, with
 * an agreement record (b, cols). Communication: an all-gather of B cols
 * floats each (and B int64 broadcast). Workspace (the comm's): B (cols+1)
 * floats. Errors: CTR_E_INVALID_ARG (NULL, b or cols < 1, rank 0 without
 * rng, perm not a permutation of 0..B-1 in the unshuffle), CTR_E_NUMERIC
 * (NaN/Inf in in), CTR_E_OVERFLOW, CTR_E_COMM, CTR_E_NOMEM - on every rank
 * (CTR_E_COMM: outputs undefined). Since 0.1.0. */
CTR_API int ctr_comm_shuffle_rows(ctr_comm *comm, ctr_rng *rng, int64_t *perm,
                                  float *out, const float *in, int64_t b,
                                  int64_t cols);
CTR_API int ctr_comm_unshuffle_rows(ctr_comm *comm, const int64_t *perm,
                                    float *out, const float *in, int64_t b,
                                    int64_t cols);

/* ---- a memory bank sharded over the ranks ------------------------------------ */

/* Instance Discrimination / CMC / CRD with a bank of n rows (too big for
 * one process, or just split): rank r holds the contiguous rows
 * [first, first + count) that ctr_comm_bank_range gives (the first n mod
 * size ranks one row more), as an ordinary ctr_bank of count rows (its row
 * i is global row first + i). The calls below take the global n and
 * global row indices; every rank passes its own shard. They equal one
 * process with the whole bank: the same rows, the same noise draws, the
 * same losses and gradients (docs/distributed.md: partial logits - the
 * bank never moves, each owner computes the logits of its rows). A shard
 * saves and loads as any bank (one file per rank). */

/* Rank `rank`'s rows of an n-row bank: first and count (n / size, plus one
 * for the first n mod size ranks). Not a collective.
 * Errors: CTR_E_INVALID_ARG (NULL, n < size, rank not a rank).
 * Since 0.1.0. */
CTR_API int ctr_comm_bank_range(const ctr_comm *comm, int64_t n, int64_t rank,
                                int64_t *first, int64_t *count);

/* Creates this rank's shard of the bank ctr_bank_create(n, dim, seed)
 * would make: its rows are exactly that bank's rows [first, first +
 * count), and its generator is in that bank's state after the init, so
 * ctr_comm_bank_sample draws what ctr_bank_sample on the whole bank draws.
 * Replays the whole init's draws (O(n dim) generator steps on every rank,
 * as the one process would), allocates count x dim floats. Collective,
 * with an agreement record (n, dim, seed equal; an allocation failure on
 * one rank fails every rank, their shards freed). The shard uses alloc.
 * Errors: CTR_E_INVALID_ARG (NULL, n < size, dim < 1), CTR_E_SHAPE
 * (n, dim or seed differ across ranks), CTR_E_OVERFLOW, CTR_E_NOMEM,
 * CTR_E_COMM - on every rank, *out unchanged. Since 0.1.0. */
CTR_API int ctr_comm_bank_create(ctr_comm *comm, ctr_bank **out, int64_t n,
                                 int64_t dim, uint64_t seed,
                                 const ctr_allocator *alloc);

/* Noise draws over the whole n-row bank: every rank draws the global
 * (size b) x k block from its shard's generator (uniform over 0..n-1 with
 * replacement; with exclude, global anchor a's draws never equal its
 * exclude entry - every rank's b entries are all-gathered), exactly what
 * ctr_bank_sample(whole bank, ., size b, k, global exclude) draws, and
 * keeps its own b x k rows (anchors r b .. r b + b - 1) in out. The shards'
 * generators advance identically, so they stay equal. Weighted sampling is
 * not available on a shard (draw the indices yourself, the same on every
 * rank). Collective, with an agreement record (n, b, k, the use of
 * exclude, and the generators' states equal: a shard that drew on its own
 * is CTR_E_SHAPE everywhere). Workspace (the comm's): (size + 1) b int64.
 * Errors: CTR_E_INVALID_ARG (NULL, b or k < 1, a shard that is not this
 * rank's rows, sampling weights set, an exclude entry outside 0..n-1),
 * CTR_E_SHAPE, CTR_E_OVERFLOW, CTR_E_NOMEM, CTR_E_COMM - on every rank,
 * nothing drawn. Since 0.1.0. */
CTR_API int ctr_comm_bank_sample(ctr_comm *comm, ctr_bank *shard, int64_t n,
                                 int64_t *out, int64_t b, int64_t k,
                                 const int64_t *exclude);

/* The momentum update of the whole bank (ctr_bank_update semantics) with
 * every rank's b rows: the global row indices idx (b) and features feat
 * (b x dim, ld >= dim) of every rank are all-gathered in rank order, and
 * each owner applies, in that order, the updates of the rows it holds - a
 * row updated twice in the global batch sees the same sequence as in one
 * process (bit-identical rows). Collective, with an agreement record (n,
 * b, the banks' dim and momentum). Communication: size b (dim + 1) values
 * received. Workspace (the comm's): (2 size + 1) b (dim + 1) values.
 * Errors: CTR_E_INVALID_ARG (NULL, b < 1, ld < dim, an index outside
 * 0..n-1, a shard that is not this rank's rows), CTR_E_NUMERIC (NaN/Inf
 * feature on any rank), CTR_E_SHAPE, CTR_E_OVERFLOW, CTR_E_NOMEM,
 * CTR_E_COMM - on every rank, banks unchanged (CTR_E_COMM: not updated on
 * the failing rank). Since 0.1.0. */
CTR_API int ctr_comm_bank_update(ctr_comm *comm, ctr_bank *shard, int64_t n,
                                 const int64_t *idx, int64_t b,
                                 const float *feat, int64_t ld);

/* NCE against the sharded bank (kind CTR_OBJECTIVE_NCE, Z mode FIXED or
 * EMA): rank r holds b anchors z (b x d, ldz >= d; rows r b .. of the
 * global batch, B = size b), their own rows self_idx (b, global) and noise
 * rows noise_idx (b x kn, global; e.g. from ctr_comm_bank_sample). The
 * loss is exactly ctr_objective_nce's on the global batch and the whole
 * bank (n rows), the same on every rank, and Z is estimated from the
 * global batch (FIXED: the first call's, then kept; EMA) and committed to
 * obj on every rank - keep the ranks' objectives equal (checked).
 * grad_z (b x d, dense, or NULL) gets d loss / d (this rank's z): sum the
 * encoder gradients with CTR_COMM_SUM. obj's statistics are not updated.
 * Every rank gathers the B anchors and B (kn + 1) indices and computes the
 * logits of the entries it owns; communication per rank: an all-gather of
 * b (d + kn + 1) values, an all-reduce of B (kn + 1) floats and (with the
 * gradient) one of B d floats. Workspace (the comm's): about B (kn + 1)
 * (4 + 8 + 8 / size) + 16 B d bytes.
 * Errors: CTR_E_INVALID_ARG (NULL, b, d or kn < 1, ld < d, obj not NCE or
 * in EXACT mode, an index outside 0..n-1, a shard that is not this rank's
 * rows), CTR_E_SHAPE (b, d, n, kn, gradients requested or the objectives'
 * parameters and Z differ across ranks; d not the bank's dim),
 * CTR_E_NUMERIC (NaN/Inf z on some rank, overflowing logits),
 * CTR_E_OVERFLOW, CTR_E_NOMEM, CTR_E_COMM - on every rank, nothing
 * written, Z unchanged (CTR_E_COMM: outputs undefined). Since 0.1.0. */
CTR_API int ctr_comm_nce(ctr_comm *comm, ctr_objective *obj, double *loss,
                         const float *z, int64_t ldz, int64_t b, int64_t d,
                         const ctr_bank *shard, int64_t n,
                         const int64_t *self_idx, const int64_t *noise_idx,
                         int64_t kn, float *grad_z);

/* Full-softmax instance discrimination over the sharded bank (kind
 * CTR_OBJECTIVE_BANK_SOFTMAX): exactly ctr_objective_bank_softmax on the
 * global batch (B = size b anchors z, own rows self_idx) and the whole
 * n-row bank; *loss the same on every rank; grad_z (b x d, or NULL) is
 * d loss / d (this rank's z) - sum with CTR_COMM_SUM. Each rank runs the
 * tiled online softmax of all B anchors over its own rows (B x count x d
 * multiply-adds: the single-process work split by the ranks); the ranks
 * exchange per anchor a partial log-sum-exp (an all-gather of 3 B values
 * per rank) and, with the gradient, all-reduce B x d floats. The bank
 * never moves. obj gives temperature, normalisation and tile, and only
 * its message changes. Workspace (the comm's): about 4 B (5 d + tile +
 * 6 size + 20) bytes.
 * Errors: as ctr_comm_nce (CTR_E_INVALID_ARG if obj is not BANK_SOFTMAX;
 * CTR_E_NUMERIC also for NaN/Inf in a shard). Since 0.1.0. */
CTR_API int ctr_comm_bank_softmax(ctr_comm *comm, ctr_objective *obj,
                                  double *loss, const float *z, int64_t ldz,
                                  int64_t b, int64_t d, const ctr_bank *shard,
                                  int64_t n, const int64_t *self_idx,
                                  float *grad_z);

#ifdef __cplusplus
}
#endif

#endif /* CONTRASTIVE_COMM_H */
