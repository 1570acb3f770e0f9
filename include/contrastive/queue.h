/*
 * contrastive/queue.h - the momentum queue of MoCo: a ring buffer of K keys
 * of d floats each, with optional per-slot instance ids.
 * Included by contrastive.h; do not include it on its own.
 *
 * Semantics (docs/memories.md has the long form):
 *   - Enqueue writes a batch of n keys at the write position, wrapping
 *     around the end of the buffer; the oldest keys are overwritten. Any
 *     n in 0..K is accepted (there is no K % n rule). A batch larger than
 *     K is CTR_E_SHAPE unless the queue was created with
 *     CTR_QUEUE_KEEP_NEWEST, in which case the result is exactly that of
 *     enqueueing the n rows one at a time: only the newest K survive.
 *   - The valid keys are always slots 0..count-1 of one contiguous K x d
 *     buffer (row stride d): while the queue fills, rows are written from
 *     slot 0 upward; once full, all K slots are valid. Their order is not
 *     the age order (InfoNCE does not need it): when full, the oldest key
 *     is at the write position.
 *   - Initial content: empty (count 0, only the filled part counts) or,
 *     with CTR_QUEUE_INIT_RANDOM, K random unit vectors drawn from the
 *     queue's own generator seeded at creation (MoCo's initialisation);
 *     the random keys carry the id CTR_QUEUE_NO_ID.
 *   - MoCo's order: compute the loss of step t against the queue, then
 *     enqueue step t's keys. The queue never changes as a side effect of
 *     reading it.
 *
 * Thread rule: one thread at a time per handle (the read accessors too:
 * they may set the last-error message).
 */
#ifndef CONTRASTIVE_QUEUE_H
#define CONTRASTIVE_QUEUE_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctr_queue ctr_queue;

/* Creation flags (bitwise OR; 0 = empty queue, no ids, oversized batches
 * rejected). Values are pinned. */
/* Store an int64 instance id per slot (enqueue then requires ids). */
#define CTR_QUEUE_IDS 0x1
/* Start full of K random unit vectors (MoCo) instead of empty. */
#define CTR_QUEUE_INIT_RANDOM 0x2
/* Accept batches larger than K, keeping their newest K rows. */
#define CTR_QUEUE_KEEP_NEWEST 0x4

/* The id of a slot whose key did not come from an instance (the random
 * initial keys). Objectives that mask same-instance keys never match it
 * against a real instance when hosts use ids >= 0. */
#define CTR_QUEUE_NO_ID (-1)

/* Read-only properties for ctr_queue_get_i64. Values are pinned. */
#define CTR_QUEUE_P_CAPACITY 100     /* K */
#define CTR_QUEUE_P_DIM 101          /* d */
#define CTR_QUEUE_P_COUNT 102        /* valid rows: min(K, filled) or K */
#define CTR_QUEUE_P_WRITE_POS 103    /* slot the next key goes to */
#define CTR_QUEUE_P_TOTAL 104        /* keys enqueued since creation */
#define CTR_QUEUE_P_FLAGS 105        /* the creation flags */
#define CTR_QUEUE_P_MEMORY_BYTES 106 /* bytes the handle holds */

/* Creates a queue of `capacity` (K >= 1) keys of `dim` (d >= 1) floats.
 * `flags` is a combination of CTR_QUEUE_* flags; `seed` seeds the queue's
 * generator (used for CTR_QUEUE_INIT_RANDOM). The queue allocates its
 * K x d keys (and K ids) here; nothing is allocated afterwards.
 * Errors: CTR_E_INVALID_ARG (out NULL, capacity or dim < 1, unknown flag,
 * bad allocator), CTR_E_OVERFLOW (K x d bytes do not fit), CTR_E_NOMEM.
 * Since 0.1.0. */
CTR_API int ctr_queue_create(ctr_queue **out, int64_t capacity, int64_t dim,
                             int32_t flags, uint64_t seed,
                             const ctr_allocator *alloc);

/* Frees the handle. NULL is accepted. Since 0.1.0. */
CTR_API void ctr_queue_destroy(ctr_queue *q);

/* Enqueues n keys: row i of the batch is keys[i * ld .. i * ld + d).
 * ids (n entries) is required if the queue has ids and must be NULL if it
 * has none. n may be 0 (keys may then be NULL). All n x d values are
 * checked before anything is written. Does not allocate.
 * Errors: CTR_E_INVALID_ARG (q or keys NULL, n < 0, ld < d, ids given or
 * missing contrary to CTR_QUEUE_IDS), CTR_E_SHAPE (n > K without
 * CTR_QUEUE_KEEP_NEWEST), CTR_E_NUMERIC (a key is NaN or Inf).
 * On any error the queue is unchanged. Since 0.1.0. */
CTR_API int ctr_queue_enqueue(ctr_queue *q, const float *keys, int64_t n,
                              int64_t ld, const int64_t *ids);

/* Zero-copy read access to the valid keys: *keys receives the queue's own
 * buffer (slots 0..*count-1, row i at (*keys)[i * *ld]), *count the number
 * of valid rows, *ld the row stride (= d). Any out pointer except keys may
 * be NULL. The pointer stays the same for the life of the handle (so it
 * can be handed to an objective once); the contents change with each
 * enqueue. With count 0 the pointer is still valid (no row may be read).
 * Errors: CTR_E_INVALID_ARG (q or keys NULL). Since 0.1.0. */
CTR_API int ctr_queue_keys(const ctr_queue *q, const float **keys,
                           int64_t *count, int64_t *ld);

/* Zero-copy read access to the ids of the valid rows (same slots as
 * ctr_queue_keys). *ids is NULL for a queue without ids. count may be NULL.
 * Errors: CTR_E_INVALID_ARG (q or ids NULL). Since 0.1.0. */
CTR_API int ctr_queue_ids(const ctr_queue *q, const int64_t **ids,
                          int64_t *count);

/* Copies the valid rows, in slot order, into keys (row i at keys[i * ld],
 * ld >= d) and, if ids is not NULL, their ids (CTR_QUEUE_NO_ID for every
 * row of a queue without ids). max_rows is the room in the caller's
 * buffers; *count receives the number of valid rows, always.
 * Errors: CTR_E_INVALID_ARG (NULL q/count, keys NULL with rows to copy,
 * ld < d, max_rows < 0), CTR_E_BUFFER_TOO_SMALL (max_rows < count; nothing
 * copied). Since 0.1.0. */
CTR_API int ctr_queue_copy(const ctr_queue *q, float *keys, int64_t ld,
                           int64_t *ids, int64_t max_rows, int64_t *count);

/* Reads a CTR_QUEUE_P_* property into *value.
 * Errors: CTR_E_INVALID_ARG (NULL, unknown property). Since 0.1.0. */
CTR_API int ctr_queue_get_i64(const ctr_queue *q, int32_t param,
                              int64_t *value);

/* Saves the whole state (shape, flags, valid keys and ids, write position,
 * count, total and generator state) so that a loaded queue continues
 * exactly as this one would. Path saves are atomic (temporary file,
 * flush, rename). Errors: CTR_E_INVALID_ARG, CTR_E_IO. Since 0.1.0. */
CTR_API int ctr_queue_save(const ctr_queue *q, const char *path);

/* Saves into a caller buffer; *size_out receives the size needed, always.
 * buf NULL with cap 0 is a size query. Errors: CTR_E_INVALID_ARG,
 * CTR_E_BUFFER_TOO_SMALL (nothing written past cap). Since 0.1.0. */
CTR_API int ctr_queue_save_buffer(const ctr_queue *q, void *buf, size_t cap,
                                  size_t *size_out);

/* Creates a queue from a checkpoint of ctr_queue_save*. Every length,
 * checksum and field is validated (shapes, position and count consistent
 * with the total, keys finite) before it is used.
 * What the load may allocate is bounded by alloc->max_load_bytes, checked
 * before anything is allocated (CTR_E_LIMIT), and a failure's reason goes
 * to alloc->message (contrastive.h, ctr_allocator; docs/security.md).
 * Errors: CTR_E_INVALID_ARG, CTR_E_IO, CTR_E_CORRUPT, CTR_E_INCOMPATIBLE,
 * CTR_E_OVERFLOW, CTR_E_LIMIT, CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_queue_load(ctr_queue **out, const char *path,
                           const ctr_allocator *alloc);
CTR_API int ctr_queue_load_buffer(ctr_queue **out, const void *buf,
                                  size_t len, const ctr_allocator *alloc);

/* The message of the handle's most recent call ("" if it succeeded); owned by the
 * handle, valid until its next call. NULL gives a static text.
 * Since 0.1.0. */
CTR_API const char *ctr_queue_last_error(const ctr_queue *q);

#ifdef __cplusplus
}
#endif

#endif /* CONTRASTIVE_QUEUE_H */
