/*
 * contrastive/rng.h - a seeded, splittable random number generator.
 * Included by contrastive.h; do not include it on its own.
 *
 * The generator is xoshiro256** (Blackman & Vigna) seeded through
 * SplitMix64. The same seed gives the same stream on every platform:
 * integer and uniform draws are bit-identical everywhere; normal draws use
 * the Marsaglia polar method and are bit-identical wherever the C library's
 * log() and sqrt() are correctly rounded (glibc, musl).
 *
 * Objects that make random choices (queues, banks, encoders) hold their own
 * generator; this handle is for hosts that want the same reproducibility
 * for their own augmentations and shuffles.
 *
 * Thread rule: one thread at a time per handle.
 */
#ifndef CONTRASTIVE_RNG_H
#define CONTRASTIVE_RNG_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctr_rng ctr_rng;

/* Creates a generator from a 64-bit seed. alloc may be NULL (system
 * allocator). On success *out owns the new handle.
 * Errors: CTR_E_INVALID_ARG (out NULL, bad allocator), CTR_E_NOMEM.
 * Since 0.1.0. */
CTR_API int ctr_rng_create(ctr_rng **out, uint64_t seed,
                           const ctr_allocator *alloc);

/* Frees the handle. NULL is accepted. Since 0.1.0. */
CTR_API void ctr_rng_destroy(ctr_rng *rng);

/* Creates in *child an independent generator: the child continues at the
 * parent's position advanced by 2^128 draws and the parent moves on by one
 * such jump as well, so a parent can be split again and the streams never
 * overlap in practice. The child uses the parent's allocator.
 * Errors: CTR_E_INVALID_ARG, CTR_E_NOMEM (parent unchanged). Since 0.1.0. */
CTR_API int ctr_rng_split(ctr_rng *parent, ctr_rng **child);

/* Fills out[0..n) with floats uniform in [0, 1) (24 random bits each).
 * n may be 0. Errors: CTR_E_INVALID_ARG (NULL, n < 0). Since 0.1.0. */
CTR_API int ctr_rng_uniform(ctr_rng *rng, float *out, int64_t n);

/* Fills out[0..n) with normal draws of the given mean and standard
 * deviation (std >= 0, both finite).
 * Errors: CTR_E_INVALID_ARG (NULL, n < 0, std < 0), CTR_E_NUMERIC (mean or
 * std not finite). Since 0.1.0. */
CTR_API int ctr_rng_normal(ctr_rng *rng, float *out, int64_t n, float mean,
                           float std);

/* Fills out[0..n) with integers uniform in [0, bound), without modulo bias.
 * Errors: CTR_E_INVALID_ARG (NULL, n < 0, bound < 1). Since 0.1.0. */
CTR_API int ctr_rng_below(ctr_rng *rng, int64_t *out, int64_t n,
                          int64_t bound);

/* Writes a random permutation of 0..n-1 into out (Fisher-Yates).
 * Errors: CTR_E_INVALID_ARG (NULL, n < 0). Since 0.1.0. */
CTR_API int ctr_rng_permutation(ctr_rng *rng, int64_t *out, int64_t n);

/* Saves the generator's exact position to a checkpoint file at path
 * (written to a temporary file beside it, flushed, then renamed over path,
 * so path is never left half-written; a killed save leaves no temporary
 * the next save does not remove). A new file gets 0666 & ~umask, a replaced
 * one keeps its mode (docs/file-format.md). Every object's save does the
 * same. Writes nothing to rng; after CTR_E_IO errno holds the system's
 * reason. Errors: CTR_E_INVALID_ARG, CTR_E_IO. Since 0.1.0. */
CTR_API int ctr_rng_save(const ctr_rng *rng, const char *path);

/* Saves into a caller buffer. *size_out receives the size the checkpoint
 * needs, always. With buf NULL and cap 0 this is a size query and returns
 * CTR_OK. Errors: CTR_E_INVALID_ARG, CTR_E_BUFFER_TOO_SMALL (nothing
 * written past cap). Since 0.1.0. */
CTR_API int ctr_rng_save_buffer(const ctr_rng *rng, void *buf, size_t cap,
                                size_t *size_out);

/* Creates a generator from a checkpoint written by ctr_rng_save /
 * ctr_rng_save_buffer; it continues exactly where the saved one was.
 * Every length and checksum is validated before anything is used.
 * What the load may allocate is bounded by alloc->max_load_bytes, checked
 * before anything is allocated (CTR_E_LIMIT), and a failure's reason goes
 * to alloc->message (contrastive.h, ctr_allocator; docs/security.md).
 * Errors: CTR_E_INVALID_ARG, CTR_E_IO, CTR_E_CORRUPT (truncated, checksum,
 * malformed), CTR_E_INCOMPATIBLE (other format version or object kind),
 * CTR_E_LIMIT, CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_rng_load(ctr_rng **out, const char *path,
                         const ctr_allocator *alloc);
CTR_API int ctr_rng_load_buffer(ctr_rng **out, const void *buf, size_t len,
                                const ctr_allocator *alloc);

/* The message of the handle's most recent call ("" if it succeeded). The string is
 * owned by the handle and valid until its next call or destroy. NULL gives a
 * static "invalid handle" message. Since 0.1.0. */
CTR_API const char *ctr_rng_last_error(const ctr_rng *rng);

#ifdef __cplusplus
}
#endif

#endif /* CONTRASTIVE_RNG_H */
