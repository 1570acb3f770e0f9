/*
 * hello.c - the smallest complete libcontrastive program: print the build,
 * draw a few seeded numbers, checkpoint the generator and resume from it.
 * (Stands in for the main demo until the training demo lands.)
 */
#include <contrastive.h>
#include <stdio.h>

static int fail(const char *what, int rc)
{
    fprintf(stderr, "hello: %s: %s\n", what, ctr_strerror(rc));
    return 1;
}

int main(void)
{
    char info[512];
    unsigned char ckpt[256];
    size_t size = 0;
    float a[3], b[3];
    ctr_rng *rng = NULL, *resumed = NULL;
    int rc, i;

    ctr_build_info(info, sizeof(info), NULL);
    printf("%s\n", info);

    if ((rc = ctr_rng_create(&rng, 2026, NULL)) != CTR_OK)
        return fail("create", rc);
    if ((rc = ctr_rng_save_buffer(rng, ckpt, sizeof(ckpt), &size)) != CTR_OK)
        return fail("save", rc);
    if ((rc = ctr_rng_load_buffer(&resumed, ckpt, size, NULL)) != CTR_OK)
        return fail("load", rc);
    ctr_rng_normal(rng, a, 3, 0.0f, 1.0f);
    ctr_rng_normal(resumed, b, 3, 0.0f, 1.0f);
    printf("checkpoint of %zu bytes; draws after resume:", size);
    for (i = 0; i < 3; i++)
        printf(" %+.6f%s", (double)b[i], a[i] == b[i] ? "" : " (MISMATCH)");
    printf("\n");
    ctr_rng_destroy(rng);
    ctr_rng_destroy(resumed);
    return 0;
}
