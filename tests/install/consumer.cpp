// consumer.cpp - the installed library used from C++ via pkg-config.
#include <contrastive.h>
#include <cstdint>
#include <cstdio>
#include <vector>

int main()
{
    ctr_rng *rng = nullptr;
    std::vector<std::int64_t> perm(10);
    int rc = ctr_rng_create(&rng, 7, nullptr);
    if (rc == CTR_OK)
        rc = ctr_rng_permutation(rng, perm.data(), (std::int64_t)perm.size());
    ctr_rng_destroy(rng);
    if (rc != CTR_OK) {
        std::fprintf(stderr, "error: %s\n", ctr_strerror(rc));
        return 1;
    }
    std::printf("consumer (C++) linked libcontrastive %s: ok\n", ctr_version_string());
    return 0;
}
