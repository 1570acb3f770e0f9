/*
 * header_compile.c - compiled with -std=c99 and -std=c11, -Wall -Wextra
 * -Wpedantic -Werror, to prove the public header is clean C. The function
 * is called from check_header.c so the object is really linked.
 */
#include "contrastive.h"

int HEADER_TEST_NAME(void);

int HEADER_TEST_NAME(void)
{
    ctr_allocator a;
    ctr_rng *rng = NULL;
    if (ctr_allocator_init(&a) != CTR_OK)
        return -1;
    if (ctr_rng_create(&rng, 1, &a) != CTR_OK)
        return -1;
    ctr_rng_destroy(rng);
    return CTR_VERSION_NUMBER;
}
