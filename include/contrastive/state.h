/*
 * contrastive/state.h - a training run's state in one file: a named set of
 * objects (encoders, optimizers, objectives, queues, banks, generators)
 * saved together and restored together. Included by contrastive.h; do not
 * include it on its own.
 *
 * A run builds its objects as usual, names them in a ctr_state, and then
 * saves the set into one checkpoint file (docs/file-format.md, "Training
 * state"), atomically as every save: the file on disk is the old one or the
 * whole new one. Resuming builds the same objects (same architecture,
 * shapes and kinds), names them in the same way and loads: every object's
 * content is replaced by the saved one, or, on any error, nothing changes.
 *
 *   ctr_state *st;
 *   ctr_state_create(&st, NULL);
 *   ctr_state_add_encoder(st, "query", query);
 *   ctr_state_add_encoder(st, "key", key);
 *   ctr_state_add_optimizer(st, "optimizer", opt);
 *   ctr_state_add_queue(st, "queue", queue);
 *   ctr_state_add_rng(st, "rng", rng);
 *   if (resuming) rc = ctr_state_load(st, "run.ctr");
 *   ...  rc = ctr_state_save(st, "run.ctr");  (each epoch)
 *   ctr_state_destroy(st);
 *
 * The state holds pointers to the objects, not copies: they must outlive
 * it (or its last save/load), and it never destroys them.
 *
 * Thread rule: one thread at a time per handle. A save reads the named
 * objects (no other thread may change them meanwhile); a load writes them
 * (no other thread may use them meanwhile).
 */
#ifndef CONTRASTIVE_STATE_H
#define CONTRASTIVE_STATE_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctr_state ctr_state;

/* The longest name an object may have in a state, in bytes. Since 0.1.0. */
#define CTR_STATE_NAME_MAX 63

/* Creates an empty set. alloc may be NULL (system allocator); it serves the
 * set's own memory, and its load fields (max_load_bytes, message,
 * message_cap) apply to this set's loads as to any load: the limit covers
 * the whole file, all objects together, and a failing ctr_state_load also
 * writes its message there. On success *out owns the new handle.
 * Errors: CTR_E_INVALID_ARG (out NULL, bad allocator), CTR_E_NOMEM.
 * Since 0.1.0. */
CTR_API int ctr_state_create(ctr_state **out, const ctr_allocator *alloc);

/* Frees the set; the objects named in it are not touched. NULL is
 * accepted. Since 0.1.0. */
CTR_API void ctr_state_destroy(ctr_state *st);

/* Names an object in the set. `name` is 1 to CTR_STATE_NAME_MAX bytes of
 * letters, digits, '_', '-' and '.', unique in the set, and is copied; the
 * object is not (it must stay alive while the set saves or loads it), and
 * one object may be named once only.
 *
 * An optimizer is restored bound to the encoder it is bound to now; when
 * that encoder is in the set too, its architecture does not change on a
 * load (below), so the binding stays valid.
 *
 * Errors: CTR_E_INVALID_ARG (st, name or the object NULL; a name empty,
 * too long, with another character, or already in the set; the object
 * already in the set), CTR_E_NOMEM (the set unchanged). Since 0.1.0. */
CTR_API int ctr_state_add_encoder(ctr_state *st, const char *name,
                                  ctr_encoder *enc);
CTR_API int ctr_state_add_optimizer(ctr_state *st, const char *name,
                                    ctr_optimizer *opt);
CTR_API int ctr_state_add_objective(ctr_state *st, const char *name,
                                    ctr_objective *obj);
CTR_API int ctr_state_add_queue(ctr_state *st, const char *name,
                                ctr_queue *q);
CTR_API int ctr_state_add_bank(ctr_state *st, const char *name, ctr_bank *b);
CTR_API int ctr_state_add_rng(ctr_state *st, const char *name, ctr_rng *rng);

/* The number of objects named in the set (0 for NULL). Since 0.1.0. */
CTR_API int64_t ctr_state_count(const ctr_state *st);

/* Saves every object of the set, in the order they were added, into one
 * checkpoint file at path: each object as the sections of its own save,
 * after a section with its kind and name. The file is replaced atomically
 * (a temporary file beside it, synced, renamed over it): after a failure,
 * including a crash, the old file is intact. The objects are not changed.
 * Errors: CTR_E_INVALID_ARG (st or path NULL), CTR_E_IO (the message
 * names the path and the system's reason), CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_state_save(ctr_state *st, const char *path);

/* As ctr_state_save into a caller buffer; *size_out receives the size
 * needed, always. buf NULL with cap 0 is a size query.
 * Errors: CTR_E_INVALID_ARG, CTR_E_BUFFER_TOO_SMALL. Since 0.1.0. */
CTR_API int ctr_state_save_buffer(ctr_state *st, void *buf, size_t cap,
                                  size_t *size_out);

/* Restores every object of the set from a file of ctr_state_save. The file
 * must hold exactly the set's names, each with an object of the same kind
 * (encoder, queue, ...), and each object must fit its handle: an encoder of
 * the same architecture (input shape, layers, their hyper-parameters and
 * shapes), an optimizer and an objective of the same kind (an optimizer for
 * the same number of parameters), a queue of the same capacity, dimension
 * and flags, a bank of the same rows and dimension. Every object is first
 * read, validated as its own load validates it, into a new object made with
 * the handle's allocator; only when all of them are read does each handle
 * take its new content (which cannot fail). So the load is all or nothing:
 * on any error no object has changed.
 *
 * After a successful load the handles keep their addresses (bindings to
 * them stay valid), but pointers into their arrays taken before
 * (ctr_queue_keys, ctr_bank_rows) are invalid, as are the objects' cached
 * forward passes and workspaces (the next call plans them again).
 *
 * Errors: CTR_E_INVALID_ARG (st or path NULL), CTR_E_IO (with the path and
 * the system's reason), CTR_E_CORRUPT (truncated, a CRC or a field wrong, a
 * name held twice), CTR_E_INCOMPATIBLE (not a state file, a newer format, a
 * name missing from the file or from the set, an object of another kind or
 * an objective or optimizer of another kind), CTR_E_SHAPE (an object that
 * does not fit its handle), CTR_E_LIMIT, CTR_E_NOMEM. The message (from
 * ctr_state_last_error, and in the allocator's message buffer if it has
 * one) names the object and what was wrong. Since 0.1.0. */
CTR_API int ctr_state_load(ctr_state *st, const char *path);

/* As ctr_state_load from a caller buffer of len bytes. Since 0.1.0. */
CTR_API int ctr_state_load_buffer(ctr_state *st, const void *buf, size_t len);

/* The message of the handle's most recent call ("" if it succeeded); owned by the
 * handle and valid until its next call or destroy. NULL gives a static
 * "invalid handle" message. Since 0.1.0. */
CTR_API const char *ctr_state_last_error(const ctr_state *st);

#ifdef __cplusplus
}
#endif

#endif /* CONTRASTIVE_STATE_H */
