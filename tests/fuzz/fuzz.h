/*
 * fuzz.h - the fuzz targets of libcontrastive's loaders (tests/fuzz/README.md).
 *
 * One target per loader: rng, queue, bank, encoder, optimizer, objective,
 * state (ctr_state_load into the fixed set of ctr_fuzz_state_build).
 * A target takes one input and:
 *   1. loads it from a buffer as it is, through a counting allocator whose
 *      load limit is CTR_FUZZ_LOAD_LIMIT;
 *   2. repairs its CRCs (tests/fuzz/ckpt_repair.h) so that a mutation
 *      reaches the loader's own validation, and loads that from a buffer
 *      and from a path;
 *   3. uses each object loaded once (a draw, an enqueue, a sample, a
 *      forward and backward, a step, a loss), saves it, loads the save
 *      back and saves again: the two saves must be identical.
 * Any load must return one of its documented codes, allocate no more than
 * the limit allows, and leave no block behind. A broken promise is
 * reported on stderr and returned as nonzero (the libFuzzer entry aborts;
 * the Check suite fails).
 *
 * The same code runs under libFuzzer (fuzz_main.c, clang), replays the seed
 * corpus and tests/fuzz/regress/ in `make check` (tests/check_fuzz.c), and
 * writes the seed corpora (make_seeds.c).
 */
#ifndef CTR_FUZZ_H
#define CTR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "contrastive.h"

/* The load limit the targets set, and what a load may take beyond it (the
 * handles' fixed-size structs, which no loader counts). */
#define CTR_FUZZ_LOAD_LIMIT ((uint64_t)64 << 20)
#define CTR_FUZZ_SLACK ((uint64_t)64 << 10)

typedef int (*ctr_fuzz_fn)(const uint8_t *data, size_t size);

typedef struct ctr_fuzz_target {
    const char *name; /* rng, queue, bank, encoder, optimizer, objective */
    ctr_fuzz_fn run;
} ctr_fuzz_target;

/* The targets, ending with {NULL, NULL}. */
extern const ctr_fuzz_target ctr_fuzz_targets[];
const ctr_fuzz_target *ctr_fuzz_find(const char *name);

/* Seeds: valid files of the target's kind made through the public API
 * (several shapes and options each); emit is called once per file. */
typedef void (*ctr_fuzz_emit_fn)(void *ctx, const uint8_t *data, size_t size);
int ctr_fuzz_seeds(const char *target, ctr_fuzz_emit_fn emit, void *ctx);

/* The state target's set of objects (targets.c): a generator "rng", a
 * queue "queue" (6 x 3, ids), an encoder "encoder" (4 -> linear 3) and an
 * AdamW optimizer "optimizer" bound to it, named in st; made with a. */
typedef struct ctr_fuzz_state {
    ctr_state *st;
    ctr_rng *rng;
    ctr_queue *queue;
    ctr_encoder *enc;
    ctr_optimizer *opt;
} ctr_fuzz_state;
int ctr_fuzz_state_build(ctr_fuzz_state **out, const ctr_allocator *a);
void ctr_fuzz_state_free(ctr_fuzz_state *s);

#endif /* CTR_FUZZ_H */
