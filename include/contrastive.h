/*
 * contrastive.h - the public interface of libcontrastive.
 *
 * libcontrastive is an embeddable C library for contrastive self-supervised
 * representation learning. This header is the reference manual: every
 * declaration documents its parameters, ownership, errors and thread rule.
 * It is the only header a user includes; it pulls in the sub-headers under
 * contrastive/ itself.
 *
 * Conventions that hold for every function unless its comment says otherwise
 * (docs/conventions.md explains them at length):
 *   - Functions return int: CTR_OK (0) on success or a negative CTR_E_* code.
 *     Out-parameters come first and are written only on success.
 *   - Objects are opaque handles created by ctr_<object>_create() and freed by
 *     ctr_<object>_destroy(), which accepts NULL.
 *   - Each handle keeps a message describing the outcome of its most recent
 *     call ("" after a success), read with ctr_<object>_last_error(); calls
 *     that take a const handle set it too.
 *   - One handle is changed by one thread at a time; distinct handles are
 *     independent, and any number of threads may make calls that take a
 *     const handle (clone, save, queries) on one handle at once while no
 *     thread changes it (docs/threading.md). The library has no global mutable state, never prints,
 *     aborts or exits, and never changes the BLAS thread count.
 *   - Sizes and indices are int64_t, tensors are float32, row-major.
 *
 * The header compiles as C99, C11 and C++ (checked by the test suite).
 */
#ifndef CONTRASTIVE_H
#define CONTRASTIVE_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* Version: the single source. The Makefile reads these lines for the SONAME */
/* and for contrastive.pc; keep their shape ("#define NAME number").          */
/* ------------------------------------------------------------------------ */
#define CTR_VERSION_MAJOR 0
#define CTR_VERSION_MINOR 1
#define CTR_VERSION_PATCH 0

#define CTR_VERSION_NUMBER \
    (CTR_VERSION_MAJOR * 10000 + CTR_VERSION_MINOR * 100 + CTR_VERSION_PATCH)
#define CTR_STRINGIFY_IMPL_(x) #x
#define CTR_STRINGIFY_(x) CTR_STRINGIFY_IMPL_(x)
#define CTR_VERSION_STRING                                                 \
    CTR_STRINGIFY_(CTR_VERSION_MAJOR) "." CTR_STRINGIFY_(CTR_VERSION_MINOR) \
    "." CTR_STRINGIFY_(CTR_VERSION_PATCH)

/* ------------------------------------------------------------------------ */
/* Export macro                                                             */
/* ------------------------------------------------------------------------ */
#ifndef CTR_API
#  if defined(_WIN32) && defined(CTR_BUILDING_DLL)
#    define CTR_API __declspec(dllexport)
#  elif defined(_WIN32) && defined(CTR_USING_DLL)
#    define CTR_API __declspec(dllimport)
#  elif defined(__GNUC__) && __GNUC__ >= 4
#    define CTR_API __attribute__((visibility("default")))
#  else
#    define CTR_API
#  endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Status codes. The values are pinned forever: a code is never renumbered  */
/* or reused. New codes take the next free negative value.                  */
/* ------------------------------------------------------------------------ */
#define CTR_OK 0
/* An argument is NULL, out of range, or otherwise not acceptable. */
#define CTR_E_INVALID_ARG -1
/* The allocator returned NULL. The object is unchanged. */
#define CTR_E_NOMEM -2
/* A size computed from the arguments does not fit in size_t / int64_t. */
#define CTR_E_OVERFLOW -3
/* An input holds NaN or Inf, or a result would not be finite. */
#define CTR_E_NUMERIC -4
/* The operating system refused a file operation (open, read, write, rename). */
#define CTR_E_IO -5
/* A file or buffer is truncated, fails a checksum, or is malformed. */
#define CTR_E_CORRUPT -6
/* A well-formed file of another format version or another object kind. */
#define CTR_E_INCOMPATIBLE -7
/* The call is not valid in the object's current state (e.g. backward
 * before forward). */
#define CTR_E_STAGE -8
/* The request is valid but this build does not support it. */
#define CTR_E_UNSUPPORTED -9
/* Array shapes do not agree with each other or with the object. */
#define CTR_E_SHAPE -10
/* A caller buffer is smaller than the size the call needs. */
#define CTR_E_BUFFER_TOO_SMALL -11
/* Loading a file would allocate more than the caller's load limit
 * (ctr_allocator.max_load_bytes); nothing was allocated. The file may be
 * valid: a larger limit may load it. Since 0.1.0. */
#define CTR_E_LIMIT -12
/* A communicator callback (the host's transport, contrastive/comm.h)
 * reported a failure; the handle's message holds the transport's code.
 * Since 0.1.0. */
#define CTR_E_COMM -13

/* A static, never-NULL English description of a status code. Unknown codes
 * give "unknown error". Thread-safe. Since 0.1.0. */
CTR_API const char *ctr_strerror(int code);

/* ------------------------------------------------------------------------ */
/* Version and build information                                            */
/* ------------------------------------------------------------------------ */

/* The version of the library actually linked, as CTR_VERSION_NUMBER and
 * CTR_VERSION_STRING give the version compiled against. Since 0.1.0. */
CTR_API uint32_t ctr_version_number(void);
CTR_API const char *ctr_version_string(void);

/* Writes a one-line, NUL-terminated description of the build into buf:
 * library version, BLAS backend and its own version/configuration string,
 * the SIMD level the CPU offers and the objectives' vector kernels in use
 * ("avx512f", "avx2+fma" or "portable"), and the threading model. Example:
 *   "libcontrastive 0.1.0; blas=openblas (OpenBLAS 0.3.21 ...); blas_threads=2;
 *    cpu_simd=avx512f; kernels=avx512f; threads=caller+blas"
 * (threads=openmp in the OpenMP build, make OPENMP=1: docs/threading.md).
 * Like snprintf it writes at most cap bytes (truncating, always terminated
 * when cap > 0) and stores in *needed the length of the whole string without
 * the terminator (needed may be NULL). buf may be NULL when cap is 0, to ask
 * for the size. Errors: CTR_E_INVALID_ARG for buf == NULL with cap > 0.
 * Thread-safe. Since 0.1.0. */
CTR_API int ctr_build_info(char *buf, size_t cap, size_t *needed);

/* ------------------------------------------------------------------------ */
/* Constants by name                                                        */
/* ------------------------------------------------------------------------ */

/* Every integer constant of the public headers (CTR_OK and the CTR_E_*
 * codes, kinds such as CTR_LAYER_* and CTR_OBJECTIVE_*, parameters *_P_*,
 * statistics *_S_*, flags and modes) by its name, so that a binding can read
 * them at run time instead of copying the #defines. The table is generated
 * from the headers when the library is built; names are static strings.
 *
 * ctr_constant_value: the value of the constant named exactly `name`
 *   ("CTR_OBJECTIVE_P_TEMPERATURE"). CTR_E_INVALID_ARG, *value unchanged, if
 *   name or value is NULL or no constant has that name.
 * ctr_constant_name: the name of the constant of `group` with that value,
 *   or NULL. A constant's group is its name through "_P_" or "_S_" when it
 *   has one ("CTR_OBJECTIVE_P_", "CTR_KNN_P_"), else through its second word
 *   ("CTR_LAYER_", "CTR_OBJECTIVE_", "CTR_NCE_", "CTR_E_"); CTR_OK belongs
 *   to "CTR_E_" with the codes.
 * ctr_constant_at: the index-th constant in header order, for listing all
 *   of them: index from 0 up; CTR_E_INVALID_ARG, nothing written, when index
 *   is negative or past the last, or name or value is NULL.
 * Thread-safe. Since 0.1.0. */
CTR_API int ctr_constant_value(const char *name, int64_t *value);
CTR_API const char *ctr_constant_name(const char *group, int64_t value);
CTR_API int ctr_constant_at(int64_t index, const char **name, int64_t *value);

/* ------------------------------------------------------------------------ */
/* Allocator                                                                */
/* ------------------------------------------------------------------------ */

/* A caller-supplied allocator. Every create function takes an optional
 * const ctr_allocator *; NULL means the C library's aligned allocation.
 * The object copies the struct, so it need not outlive the call, but `user`
 * and the functions must stay valid until the object is destroyed.
 *
 *   alloc(user, size, alignment): return size bytes aligned to `alignment`
 *       (a power of two, at most 4096; the library asks for 64) or NULL.
 *       size is never 0.
 *   free(user, ptr, size): release a block from alloc; size is the size
 *       that was asked for. ptr is never NULL.
 *
 * Both functions must be set, or both NULL (system allocator). Initialise
 * with ctr_allocator_init() so that struct_size is right: fields may be added
 * at the end in later versions, and struct_size tells the library which of
 * them the caller knows (a struct_size that ends after `free` leaves the
 * three load fields below at their defaults).
 *
 * The last three fields matter to the load calls only (ctr_<object>_load,
 * ctr_<object>_load_buffer), and only during the call:
 *
 *   max_load_bytes: the most memory one load may allocate (the object with
 *       its arrays, and the buffers loading needs on the way), checked from
 *       the sizes the file declares before anything is allocated; a file that
 *       would need more fails with CTR_E_LIMIT. 0 (what ctr_allocator_init
 *       sets) means CTR_LOAD_DEFAULT_MAX_BYTES; UINT64_MAX means no limit.
 *   message, message_cap: NULL / 0, or a caller buffer of message_cap bytes
 *       that a failing load fills with a NUL-terminated English message
 *       naming what was wrong (the field and its size, the section, the
 *       path and the system's reason), truncated to fit. A load has no
 *       handle to keep its message, so this is where it goes; a successful
 *       load writes "". The create calls (ctr_<object>_create) use it the
 *       same way: "<call>: <what was wrong>" (the argument by its name, or
 *       "out of memory"), "" on success.
 *
 * Since 0.1.0. */
typedef struct ctr_allocator {
    uint32_t struct_size; /* sizeof(ctr_allocator) as the caller knows it */
    uint32_t reserved;    /* must be 0 */
    void *user;
    void *(*alloc)(void *user, size_t size, size_t alignment);
    void (*free)(void *user, void *ptr, size_t size);
    uint64_t max_load_bytes; /* 0: CTR_LOAD_DEFAULT_MAX_BYTES */
    char *message;           /* NULL, or where a failing load's message goes */
    size_t message_cap;      /* bytes at message */
} ctr_allocator;

/* The load limit when max_load_bytes is 0 or the allocator is NULL: 4 GiB.
 * A file that legitimately holds more (a memory bank of 8 million rows of
 * 128 floats) needs a larger max_load_bytes. Since 0.1.0. */
#define CTR_LOAD_DEFAULT_MAX_BYTES ((uint64_t)1 << 32)

/* Sets struct_size and clears every other field (system allocator).
 * Errors: CTR_E_INVALID_ARG if a is NULL. Since 0.1.0. */
CTR_API int ctr_allocator_init(ctr_allocator *a);

/* sizeof(ctr_allocator) in this library, for FFI users who build the struct
 * by hand. Since 0.1.0. */
CTR_API size_t ctr_allocator_struct_size(void);

/* CTR_LOAD_DEFAULT_MAX_BYTES, for FFI users who cannot read macros.
 * Thread-safe. Since 0.1.0. */
CTR_API uint64_t ctr_load_default_max_bytes(void);

#ifdef __cplusplus
}
#endif

#include "contrastive/rng.h"
#include "contrastive/probe.h"
#include "contrastive/ridge.h"
#include "contrastive/queue.h"
#include "contrastive/bank.h"
#include "contrastive/knn.h"
#include "contrastive/encoder.h"
#include "contrastive/optimizer.h"
#include "contrastive/objective.h"
#include "contrastive/cpc.h"
#include "contrastive/bilinear.h"
#include "contrastive/affinity.h"
#include "contrastive/state.h"
#include "contrastive/local_global.h"
#include "contrastive/distill.h"
#include "contrastive/comm.h"

#endif /* CONTRASTIVE_H */
