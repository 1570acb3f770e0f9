/* consumer.c - a program built against the *installed* library with
 * `pkg-config --cflags --libs contrastive` (the CI install test). */
#include <contrastive.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    ctr_rng *rng = NULL;
    float x[4];
    int rc;
    if (ctr_version_number() != CTR_VERSION_NUMBER ||
        strcmp(ctr_version_string(), CTR_VERSION_STRING) != 0) {
        fprintf(stderr, "header/library version mismatch\n");
        return 1;
    }
    rc = ctr_rng_create(&rng, 42, NULL);
    if (rc == CTR_OK)
        rc = ctr_rng_uniform(rng, x, 4);
    ctr_rng_destroy(rng);
    if (rc != CTR_OK) {
        fprintf(stderr, "error: %s\n", ctr_strerror(rc));
        return 1;
    }
    printf("consumer (C) linked libcontrastive %s: ok\n", ctr_version_string());
    return 0;
}
