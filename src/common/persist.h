/*
 * persist.h - the save / save_buffer / load / load_buffer plumbing every
 * stateful object shares: argument checks, error messages, choosing the
 * checkpoint sink or source, and finishing it. An object supplies only how
 * it writes its sections and how it builds itself from a reader.
 */
#ifndef CTR_PERSIST_H
#define CTR_PERSIST_H

#include "common/checkpoint.h"

/* Writes the object's sections (the writer's errors are sticky). */
typedef void (*ctr__persist_write_fn)(ctr__ckw *w, const void *obj);

/* Reads every section of an opened checkpoint, including
 * ctr__ckr_finish, and on success stores a new object, made with allocator
 * a, through `out` (the public call's typed out-pointer, e.g. ctr_queue **).
 * ctx is the public call's extra argument (e.g. an encoder to bind to), or
 * NULL. On failure nothing is stored and nothing is leaked. */
typedef int (*ctr__persist_read_fn)(ctr__ckr *r, void *out,
                                    const ctr__alloc *a, void *ctx);

/* What a training-state file (ctr_state, state/state.c) needs of a kind
 * of object besides its writer and reader. */
typedef struct ctr__persist_ops {
    uint32_t kind;      /* CTR__CKPT_KIND_*: the entry's kind in the file */
    const char *what;   /* "encoder", for messages */
    ctr__persist_write_fn write;
    ctr__persist_read_fn read;
    /* the handle's own allocator: an object is reloaded with it, so that
     * the handle and its arrays have one allocator after an exchange */
    const ctr__alloc *(*alloc_of)(const void *h);
    /* the read's ctx for a reload into h (the optimizer's bound encoder),
     * or NULL; may be NULL */
    void *(*ctx_of)(const void *h);
    /* CTR_OK if `loaded` may replace the content of `h` (an encoder: the
     * same architecture, as others may be bound to it); else an error
     * with a message in err. May be NULL (any content fits). */
    int (*fits)(const void *h, const void *loaded, ctr__error *err);
    /* swaps the whole content of two handles of the same allocator (no
     * handle points into itself); cannot fail */
    void (*exchange)(void *a, void *b);
    void (*destroy)(void *h);
} ctr__persist_ops;

/* The kinds, each defined beside its object. */
extern const ctr__persist_ops ctr__rng_persist;

/* ctr_<object>_save: atomic write of obj to path. Clears err first. */
int ctr__persist_save(const void *obj, ctr__persist_write_fn write,
                      uint32_t kind, const char *path, const ctr__alloc *alloc,
                      ctr__error *err);

/* ctr_<object>_save_buffer: *size_out always receives the size needed;
 * buf NULL with cap 0 is a size query. Clears err first. */
int ctr__persist_save_buffer(const void *obj, ctr__persist_write_fn write,
                             uint32_t kind, void *buf, size_t cap,
                             size_t *size_out, ctr__error *err);

/* The same for a const handle (docs/threading.md): the message goes to a
 * local record, then to the handle's slot through ctr__const_result. */
int ctr__persist_save_const(const void *obj, ctr__persist_write_fn write,
                            uint32_t kind, const char *path,
                            const ctr__alloc *alloc, const ctr__error *slot);
int ctr__persist_save_buffer_const(const void *obj, ctr__persist_write_fn write,
                                   uint32_t kind, void *buf, size_t cap,
                                   size_t *size_out, const ctr__error *slot);

/* ctr_<object>_load / _load_buffer: validate the arguments and the
 * caller's allocator, open the source, run `read`. */
int ctr__persist_load(void *out, ctr__persist_read_fn read, void *ctx,
                      uint32_t kind, const char *path,
                      const ctr_allocator *alloc);
int ctr__persist_load_buffer(void *out, ctr__persist_read_fn read, void *ctx,
                             uint32_t kind, const void *buf, size_t len,
                             const ctr_allocator *alloc);

#endif /* CTR_PERSIST_H */
