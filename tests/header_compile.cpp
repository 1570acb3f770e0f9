// header_compile.cpp - the public header compiled as C++11 with -Wall
// -Wextra -Wpedantic -Werror; called from check_header.c.
#include "contrastive.h"

extern "C" int ctr_header_test_cxx(void);

extern "C" int ctr_header_test_cxx(void)
{
    ctr_allocator a;
    ctr_rng *rng = nullptr;
    if (ctr_allocator_init(&a) != CTR_OK)
        return -1;
    if (ctr_rng_create(&rng, 1, &a) != CTR_OK)
        return -1;
    float x = 0.0f;
    int rc = ctr_rng_uniform(rng, &x, 1);
    ctr_rng_destroy(rng);
    return rc == CTR_OK ? CTR_VERSION_NUMBER : -1;
}
