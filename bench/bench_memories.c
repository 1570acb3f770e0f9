/*
 * bench_memories.c - benchmarks of the momentum queue, the memory bank and
 * weighted kNN, in the format of the bench driver:
 *
 *   bench_memories --threads T [--cases a,b] [--reps N]
 *
 * prints one JSON object per case and line:
 *   {"case":"...","threads":T,"ours_ms":x,"floor_ms":y,"ours_extra_mib":z}
 *
 *   queue_enqueue  K=65536, d=128, B=256: one enqueue (ms per call)
 *   bank_update    N=60000, d=128, B=256, m=0.5: one momentum update
 *   knn_fmnist     60000 train x 10000 test x 128, k=200, 10 classes,
 *                  random features: one full classification
 *
 * ours_ms is the median of N timed repetitions after one warm-up.
 * floor_ms: for knn the bare cblas_sgemm calls of the same blocking (the
 * GEMM the math needs); the queue and bank cases need no GEMM, so their
 * floor is memcpy of the rows the call must move, at the same places in
 * a buffer as large as the state (queue: B rows into a K x d ring; bank:
 * B scattered rows read and written in an N x d matrix).
 * ours_extra_mib: the peak bytes the library allocated during the case
 * beyond the object's persistent state (queue keys, bank rows), measured
 * with a counting allocator: the workspace.
 *
 * Build: cc -O2 -Iinclude bench/bench_memories.c lib/libcontrastive.a
 *        $(pkg-config --libs openblas) -lm -lpthread
 */
#include <math.h>

#include <cblas.h>

#include "bench_util.h"

static void fill_normal(float *x, size_t n, uint64_t seed)
{
    ctr_rng *rng = NULL;
    if (ctr_rng_create(&rng, seed, NULL) != CTR_OK ||
        ctr_rng_normal(rng, x, (int64_t)n, 0.0f, 1.0f) != CTR_OK) {
        fprintf(stderr, "rng failed\n");
        exit(1);
    }
    ctr_rng_destroy(rng);
}

static void check(int rc, const char *what)
{
    if (rc != CTR_OK) {
        fprintf(stderr, "%s failed: %s\n", what, ctr_strerror(rc));
        exit(1);
    }
}

static void report(const char *name, int threads, double ours, double floor,
                   double extra_mib)
{
    printf("{\"case\":\"%s\",\"threads\":%d,\"ours_ms\":%.6g,"
           "\"floor_ms\":%.6g,\"ours_extra_mib\":%.4g}\n",
           name, threads, ours, floor, extra_mib);
    fflush(stdout);
}

/* The floor of the copy-bound cases: the same rows moved by memcpy into
 * (and, for the bank, out of) a buffer as large as the object's state, at
 * the same positions. */
typedef struct copy_ctx {
    float *big;        /* rows x d */
    const float *src;  /* b x d */
    float *tmp;        /* d */
    int64_t rows, b, d, pos, step;
    int gather;        /* bank: read the row first, scattered indices */
} copy_ctx;

static void copy_step(void *ctx)
{
    copy_ctx *c = (copy_ctx *)ctx;
    const size_t row = (size_t)c->d * sizeof(float);
    int64_t i;
    if (!c->gather) {
        memcpy(c->big + c->pos * c->d, c->src, row * (size_t)c->b);
        c->pos = (c->pos + c->b) % c->rows;
        return;
    }
    for (i = 0; i < c->b; i++) {
        int64_t r = (c->step * c->b + i * 7919) % c->rows;
        memcpy(c->tmp, c->big + r * c->d, row);
        memcpy(c->big + r * c->d, c->src + i * c->d, row);
    }
    c->step++;
}

static void copy_setup(copy_ctx *c, int64_t rows, int64_t b, int64_t d,
                       const float *src, int gather)
{
    c->big = (float *)calloc((size_t)(rows * d), sizeof(float));
    c->tmp = (float *)malloc((size_t)d * sizeof(float));
    c->src = src;
    c->rows = rows;
    c->b = b;
    c->d = d;
    c->pos = 0;
    c->step = 0;
    c->gather = gather;
}

/* ---- queue_enqueue ---- */

typedef struct queue_ctx {
    ctr_queue *q;
    const float *keys;
    int64_t b, d;
} queue_ctx;

static void queue_step(void *ctx)
{
    queue_ctx *c = (queue_ctx *)ctx;
    check(ctr_queue_enqueue(c->q, c->keys, c->b, c->d, NULL), "enqueue");
}

static void bench_queue(int threads, int reps)
{
    enum { K = 65536, D = 128, B = 256 };
    float *keys = (float *)malloc(sizeof(float) * B * D);
    ctr_allocator a;
    counter c;
    queue_ctx qc;
    copy_ctx cc;
    int64_t state;
    double ours, floor;
    fill_normal(keys, (size_t)B * D, 1);
    counting_allocator(&a, &c);
    check(ctr_queue_create(&qc.q, K, D, CTR_QUEUE_INIT_RANDOM, 1, &a), "queue");
    check(ctr_queue_get_i64(qc.q, CTR_QUEUE_P_MEMORY_BYTES, &state), "get");
    qc.keys = keys;
    qc.b = B;
    qc.d = D;
    ours = median_ms(queue_step, &qc, reps, 1000);
    copy_setup(&cc, K, B, D, keys, 0);
    floor = median_ms(copy_step, &cc, reps, 1000);
    free(cc.big);
    free(cc.tmp);
    report("queue_enqueue", threads, ours, floor,
           ((double)c.peak - (double)state) / 1048576.0);
    ctr_queue_destroy(qc.q);
    free(keys);
}

/* ---- bank_update ---- */

typedef struct bank_ctx {
    ctr_bank *bank;
    const float *feat;
    int64_t *idx;
    int64_t b, d, n, step;
} bank_ctx;

static void bank_step(void *ctx)
{
    bank_ctx *c = (bank_ctx *)ctx;
    int64_t i;
    /* a fresh batch of indices each call, as a data loader gives */
    for (i = 0; i < c->b; i++)
        c->idx[i] = (c->step * c->b + i * 7919) % c->n;
    c->step++;
    check(ctr_bank_update(c->bank, c->idx, c->b, c->feat, c->d), "update");
}

static void bench_bank(int threads, int reps)
{
    enum { N = 60000, D = 128, B = 256 };
    float *feat = (float *)malloc(sizeof(float) * B * D);
    int64_t idx[B], state;
    ctr_allocator a;
    counter c;
    bank_ctx bc;
    copy_ctx cc;
    double ours, floor;
    fill_normal(feat, (size_t)B * D, 2);
    counting_allocator(&a, &c);
    check(ctr_bank_create(&bc.bank, N, D, 1, &a), "bank");
    check(ctr_bank_get_i64(bc.bank, CTR_BANK_P_MEMORY_BYTES, &state), "get");
    bc.feat = feat;
    bc.idx = idx;
    bc.b = B;
    bc.d = D;
    bc.n = N;
    bc.step = 0;
    ours = median_ms(bank_step, &bc, reps, 200);
    copy_setup(&cc, N, B, D, feat, 1);
    floor = median_ms(copy_step, &cc, reps, 200);
    free(cc.big);
    free(cc.tmp);
    report("bank_update", threads, ours, floor,
           ((double)c.peak - (double)state) / 1048576.0);
    ctr_bank_destroy(bc.bank);
    free(feat);
}

/* ---- knn_fmnist ---- */

enum { KNN_TRAIN = 60000, KNN_TEST = 10000, KNN_D = 128, KNN_C = 10 };

typedef struct knn_ctx {
    ctr_knn *knn;
    const float *train, *test;
    const int64_t *labels;
    int64_t *pred;
    float *sims;
    int64_t block, tile;
} knn_ctx;

static void knn_step(void *ctx)
{
    knn_ctx *c = (knn_ctx *)ctx;
    check(ctr_knn_classify(c->knn, c->train, KNN_TRAIN, KNN_D, c->labels,
                           c->test, KNN_TEST, KNN_D, KNN_D, KNN_C, c->pred,
                           NULL), "knn");
}

/* The GEMMs alone, with the library's blocking. */
static void gemm_step(void *ctx)
{
    knn_ctx *c = (knn_ctx *)ctx;
    int64_t i0, j0;
    for (i0 = 0; i0 < KNN_TEST; i0 += c->block) {
        int64_t b = KNN_TEST - i0 < c->block ? KNN_TEST - i0 : c->block;
        for (j0 = 0; j0 < KNN_TRAIN; j0 += c->tile) {
            int64_t t = KNN_TRAIN - j0 < c->tile ? KNN_TRAIN - j0 : c->tile;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b,
                        (int)t, KNN_D, 1.0f, c->test + i0 * KNN_D, KNN_D,
                        c->train + j0 * KNN_D, KNN_D, 0.0f, c->sims, (int)t);
        }
    }
}

static void bench_knn(int threads, int reps)
{
    float *train = (float *)malloc(sizeof(float) * KNN_TRAIN * KNN_D);
    float *test = (float *)malloc(sizeof(float) * KNN_TEST * KNN_D);
    int64_t *labels = (int64_t *)malloc(sizeof(int64_t) * KNN_TRAIN);
    int64_t *pred = (int64_t *)malloc(sizeof(int64_t) * KNN_TEST);
    ctr_allocator a;
    counter c;
    knn_ctx kc;
    double ours, floor;
    int64_t i;
    fill_normal(train, (size_t)KNN_TRAIN * KNN_D, 3);
    fill_normal(test, (size_t)KNN_TEST * KNN_D, 4);
    for (i = 0; i < KNN_TRAIN; i++)
        labels[i] = (i * 7) % KNN_C;
    counting_allocator(&a, &c);
    check(ctr_knn_create(&kc.knn, &a), "knn");
    check(ctr_knn_get_i64(kc.knn, CTR_KNN_P_BLOCK_ROWS, &kc.block), "get");
    check(ctr_knn_get_i64(kc.knn, CTR_KNN_P_TILE_ROWS, &kc.tile), "get");
    kc.train = train;
    kc.test = test;
    kc.labels = labels;
    kc.pred = pred;
    kc.sims = (float *)malloc(sizeof(float) * (size_t)(kc.block * kc.tile));
    ours = median_ms(knn_step, &kc, reps, 1);
    floor = median_ms(gemm_step, &kc, reps, 1);
    report("knn_fmnist", threads, ours, floor, peak_mib(&c));
    ctr_knn_destroy(kc.knn);
    free(kc.sims);
    free(train);
    free(test);
    free(labels);
    free(pred);
}

/* ---- driver ---- */

static int wanted(const char *cases, const char *name)
{
    size_t n = strlen(name);
    const char *p = cases;
    if (cases == NULL)
        return 1;
    while ((p = strstr(p, name)) != NULL) {
        if ((p == cases || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return 1;
        p += n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 1, reps = 5, i;
    const char *cases = NULL;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--cases") == 0 && i + 1 < argc)
            cases = argv[++i];
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: %s --threads T [--cases a,b] [--reps N]\n",
                    argv[0]);
            return 2;
        }
    }
    if (threads < 1 || reps < 1) {
        fprintf(stderr, "threads and reps must be >= 1\n");
        return 2;
    }
    set_blas_threads(threads);
    if (wanted(cases, "queue_enqueue"))
        bench_queue(threads, reps);
    if (wanted(cases, "bank_update"))
        bench_bank(threads, reps);
    if (wanted(cases, "knn_fmnist"))
        bench_knn(threads, reps);
    return 0;
}
