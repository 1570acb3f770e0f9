/*
 * contrastive/bank.h - the memory bank of Instance Discrimination (Wu et
 * al., CVPR 2018), reused by CMC and CRD: one d-float row per training
 * instance, updated by momentum after each step, plus seeded noise
 * sampling (uniform or weighted through an alias table).
 * Included by contrastive.h; do not include it on its own.
 *
 * Semantics (docs/memories.md has the long form):
 *   - Initialisation as the paper: each value uniform in
 *     [-1/sqrt(d/3), 1/sqrt(d/3)), then each row L2-normalised, from the
 *     bank's own generator seeded at creation.
 *   - Momentum update of row y with feature f (usually the normalised
 *     encoder output):  v_y <- normalize(m * v_y + (1 - m) * f),
 *     m = CTR_BANK_P_MOMENTUM (0.5 by default). Rows of one batch are
 *     applied in order, so an index that appears twice is updated twice,
 *     the second time from the result of the first. If m * v + (1 - m) * f
 *     is exactly the zero vector the row keeps its old value.
 *   - Noise sampling draws from the bank's generator: uniform over 0..N-1
 *     with replacement by default, or proportional to host weights through
 *     an alias table (Vose's method: O(1) per draw, O(N) to build). Draws
 *     can exclude each anchor's own index. Same seed and same calls give
 *     the same indices on every platform.
 *   - The NCE normaliser Z is not stored here: the objective that computes
 *     NCE owns it (and saves it). The bank holds rows, momentum, sampling
 *     weights and generator state only.
 *   - Nothing changes as a side effect of reading (rows, gather); updates
 *     happen only through ctr_bank_update / ctr_bank_set_rows.
 *   - Costs: gather, update and sample are O(rows touched x d) and O(draws),
 *     independent of N. The bank holds N x d floats (N x 4 d bytes) and,
 *     when weighted, 8 bytes per row of alias table.
 *
 * Thread rule: one thread at a time per handle.
 */
#ifndef CONTRASTIVE_BANK_H
#define CONTRASTIVE_BANK_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctr_bank ctr_bank;

/* Tunable (ctr_bank_set_f64 / ctr_bank_get_f64 / ctr_bank_param_bounds):
 * the update momentum m in [0, 1], default 0.5. Value pinned. */
#define CTR_BANK_P_MOMENTUM 200

/* Read-only properties for ctr_bank_get_i64. Values are pinned. */
#define CTR_BANK_P_ROWS 201         /* N */
#define CTR_BANK_P_DIM 202          /* d */
#define CTR_BANK_P_WEIGHTED 203     /* 1 with sampling weights, else 0 */
#define CTR_BANK_P_MEMORY_BYTES 204 /* bytes the handle holds */

/* The largest N for which sampling weights can be set (the alias table
 * stores 32-bit indices). Rows alone have no such limit. */
#define CTR_BANK_MAX_WEIGHTED_ROWS 2147483647

/* Creates a bank of n (>= 1) rows of dim (>= 1) floats, initialised as
 * above from `seed`. The N x d rows are allocated here (one block).
 * Errors: CTR_E_INVALID_ARG (out NULL, n or dim < 1, bad allocator),
 * CTR_E_OVERFLOW, CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_bank_create(ctr_bank **out, int64_t n, int64_t dim,
                            uint64_t seed, const ctr_allocator *alloc);

/* Frees the handle. NULL is accepted. Since 0.1.0. */
CTR_API void ctr_bank_destroy(ctr_bank *b);

/* Zero-copy read access: *rows receives the bank's N x d buffer (row i at
 * (*rows)[i * *ld]), usable directly as the training matrix of ctr_knn or
 * as negatives of an objective. n and ld may be NULL. The pointer is fixed
 * for the life of the handle; the contents change with update/set_rows.
 * Errors: CTR_E_INVALID_ARG (b or rows NULL). Since 0.1.0. */
CTR_API int ctr_bank_rows(const ctr_bank *b, const float **rows, int64_t *n,
                          int64_t *ld);

/* Copies rows idx[0..count) into out (row i at out[i * ld], ld >= d).
 * Indices may repeat. Does not allocate.
 * Errors: CTR_E_INVALID_ARG (NULL with count > 0, count < 0, ld < d, an
 * index outside 0..N-1: nothing written). Since 0.1.0. */
CTR_API int ctr_bank_gather(ctr_bank *b, const int64_t *idx, int64_t count,
                            float *out, int64_t ld);

/* Overwrites rows idx[i] with rows[i * ld ..] as given (no normalisation),
 * in order: a repeated index keeps its last row. All indices and values
 * are checked before anything is written.
 * Errors: CTR_E_INVALID_ARG (NULL with count > 0, count < 0, ld < d, index
 * out of range), CTR_E_NUMERIC (NaN/Inf). Bank unchanged on error.
 * Since 0.1.0. */
CTR_API int ctr_bank_set_rows(ctr_bank *b, const int64_t *idx, int64_t count,
                              const float *rows, int64_t ld);

/* Momentum update v_y <- normalize(m v_y + (1 - m) f) for y = idx[i],
 * f = feat[i * ld ..], i = 0..count-1 in order (see above for repeated
 * indices and the zero vector). Norms are computed in double precision.
 * All indices and features are checked before any row is written; does
 * not allocate.
 * Errors: CTR_E_INVALID_ARG (NULL with count > 0, count < 0, ld < d, index
 * out of range), CTR_E_NUMERIC (NaN/Inf feature). Bank unchanged on error.
 * Since 0.1.0. */
CTR_API int ctr_bank_update(ctr_bank *b, const int64_t *idx, int64_t count,
                            const float *feat, int64_t ld);

/* Sets the noise distribution: index i is drawn with probability
 * weights[i] / sum(weights). n must equal N (<= CTR_BANK_MAX_WEIGHTED_ROWS).
 * Weights must be finite and >= 0 with a positive finite sum. Builds the
 * alias table (allocates 8 bytes per row for the table and 12 per row of
 * temporary work space, freed before returning). The table quantises each
 * column's split to 1/2^32, so a weight below about 2^-32 / N of the total
 * may round to zero (never drawn). weights NULL with n 0 returns to
 * uniform sampling and frees the table.
 * Errors: CTR_E_INVALID_ARG (NULL, n != N, negative weight, zero sum),
 * CTR_E_NUMERIC (NaN/Inf weight or sum), CTR_E_OVERFLOW, CTR_E_NOMEM.
 * Bank unchanged on error. Since 0.1.0. */
CTR_API int ctr_bank_set_weights(ctr_bank *b, const double *weights,
                                 int64_t n);

/* Draws k noise indices for each of n_anchors anchors into out (n_anchors
 * x k, row-major), with replacement, uniform or from the weights. If
 * exclude is not NULL it holds one index per anchor, and anchor a's draws
 * never equal exclude[a] (uniform: drawn from the other N - 1 indices
 * directly; weighted: redrawn until different, so an excluded index that
 * holds almost all the weight makes this slow). Does not allocate.
 * Errors: CTR_E_INVALID_ARG (out NULL with draws to make, n_anchors or k
 * < 0, an exclude index out of range, exclusion that leaves nothing to
 * draw (N == 1, or only the excluded index has weight); nothing written,
 * generator unchanged), CTR_E_OVERFLOW (n_anchors x k). Since 0.1.0. */
CTR_API int ctr_bank_sample(ctr_bank *b, int64_t *out, int64_t n_anchors,
                            int64_t k, const int64_t *exclude);

/* Tunables: CTR_BANK_P_MOMENTUM. set_f64 rejects values out of bounds
 * (CTR_E_INVALID_ARG, old value kept) and non-finite values
 * (CTR_E_NUMERIC); the read-only properties below are CTR_E_INVALID_ARG
 * to set and read as doubles through get_f64 (the parameter rule of
 * docs/conventions.md). param_bounds needs no handle.
 * Errors: CTR_E_INVALID_ARG (NULL, unknown parameter). Since 0.1.0. */
CTR_API int ctr_bank_set_f64(ctr_bank *b, int32_t param, double value);
CTR_API int ctr_bank_get_f64(const ctr_bank *b, int32_t param, double *value);
CTR_API int ctr_bank_param_bounds(int32_t param, double *lo, double *hi);

/* Reads a CTR_BANK_P_ROWS/DIM/WEIGHTED/MEMORY_BYTES property.
 * Errors: CTR_E_INVALID_ARG (NULL, unknown property, the real
 * CTR_BANK_P_MOMENTUM). Since 0.1.0. */
CTR_API int ctr_bank_get_i64(const ctr_bank *b, int32_t param,
                             int64_t *value);

/* Saves rows, momentum, alias table and generator state, so that a loaded
 * bank continues exactly. Rows are written in sections of at most 4 MiB,
 * so loading from a path needs little memory beyond the bank itself.
 * Errors: CTR_E_INVALID_ARG, CTR_E_IO. Since 0.1.0. */
CTR_API int ctr_bank_save(const ctr_bank *b, const char *path);

/* Saves into a caller buffer; *size_out receives the size needed, always.
 * buf NULL with cap 0 is a size query. Errors: CTR_E_INVALID_ARG,
 * CTR_E_BUFFER_TOO_SMALL. Since 0.1.0. */
CTR_API int ctr_bank_save_buffer(const ctr_bank *b, void *buf, size_t cap,
                                 size_t *size_out);

/* Creates a bank from a checkpoint of ctr_bank_save*. The declared shape is
 * checked against the bytes really present before the rows are allocated;
 * every checksum, the alias table's indices and the finiteness of the
 * rows are validated.
 * What the load may allocate is bounded by alloc->max_load_bytes, checked
 * before anything is allocated (CTR_E_LIMIT), and a failure's reason goes
 * to alloc->message (contrastive.h, ctr_allocator; docs/security.md).
 * Errors: CTR_E_INVALID_ARG, CTR_E_IO, CTR_E_CORRUPT, CTR_E_INCOMPATIBLE,
 * CTR_E_LIMIT, CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_bank_load(ctr_bank **out, const char *path,
                          const ctr_allocator *alloc);
CTR_API int ctr_bank_load_buffer(ctr_bank **out, const void *buf, size_t len,
                                 const ctr_allocator *alloc);

/* The message of the handle's most recent call ("" if it succeeded); owned by the
 * handle, valid until its next call. NULL gives a static text.
 * Since 0.1.0. */
CTR_API const char *ctr_bank_last_error(const ctr_bank *b);

#ifdef __cplusplus
}
#endif

#endif /* CONTRASTIVE_BANK_H */
