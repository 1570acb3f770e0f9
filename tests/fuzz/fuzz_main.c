/*
 * fuzz_main.c - the libFuzzer entry of one target, chosen at compile time:
 * clang -fsanitize=fuzzer -DCTR_FUZZ_TARGET='"queue"' (make fuzz builds
 * build-fuzz/fuzz_<target> this way).
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz/fuzz.h"

#ifndef CTR_FUZZ_TARGET
#error "define CTR_FUZZ_TARGET as the target's name, e.g. \"queue\""
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ctr_fuzz_target *target; /* found once per process */
    if (target == NULL && (target = ctr_fuzz_find(CTR_FUZZ_TARGET)) == NULL) {
        fprintf(stderr, "fuzz: no target %s\n", CTR_FUZZ_TARGET);
        abort();
    }
    if (target->run(data, size) != 0)
        abort(); /* a broken promise, reported on stderr */
    return 0;
}
