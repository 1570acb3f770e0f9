/*
 * mpi_equiv.c - data-parallel training over MPI equals one process
 * (make check-mpi: mpirun -np 2 and -np 4). Every rank runs the scenarios
 * of dist_scenario.h through libcontrastive-mpi and also computes the
 * single-process reference itself; rank 0 prints one line per scenario and
 * the exit status is non-zero if any rank saw a difference above 1e-5 or
 * a wrong error. The scenarios include Instance Discrimination with a
 * bank sharded over the ranks (dist_bank.h). Also checked: a shape mismatch on one rank is CTR_E_SHAPE
 * on every rank (no hang), and the adapter's argument checks.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "contrastive-mpi.h"
#include "dist_bank.h"

#define TOL 1e-5

/* Rank 0 prints, every rank counts: returns 1 on a failure anywhere. */
static int report(int rank, const char *name, int bad, double worst)
{
    int any = 0;
    double w = 0.0;
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(&worst, &w, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0)
        printf("mpi_equiv: %-44s %s (worst relative difference %.2e)\n", name,
               any ? "FAIL" : "ok", w);
    return any != 0;
}

static int simclr(ctr_comm *comm, int rank, int64_t b)
{
    scen_result res;
    double worst;
    char name[64];
    int bad;
    scen_simclr(comm, b, 1, 0.5, &res);
    worst = fmax(res.loss_rel, fmax(res.grad_rel, res.param_rel));
    bad = res.rc != CTR_OK || !(worst <= TOL);
    if (res.rc != CTR_OK)
        fprintf(stderr, "rank %d: %s (%s)\n", rank, res.msg, ctr_strerror(res.rc));
    snprintf(name, sizeof(name), "SimCLR, %d steps, b=%lld per rank", SCEN_STEPS,
             (long long)b);
    return report(rank, name, bad, worst);
}

/* SimCLR with synchronised BN: one process has one BN group. */
static int sync_bn(ctr_comm *comm, int rank)
{
    scen_result res;
    double worst;
    int bad;
    scen_simclr_bn(comm, 2, 1, 0.5, 1, &res);
    worst = fmax(res.loss_rel, fmax(res.grad_rel, res.param_rel));
    bad = res.rc != CTR_OK || !(worst <= TOL);
    if (res.rc != CTR_OK)
        fprintf(stderr, "rank %d: %s\n", rank, res.msg);
    return report(rank, "SimCLR + synchronised BN, 20 steps, b=2", bad, worst);
}

/* MoCo with shuffle BN across ranks, 20 steps (dist_scenario.h). */
static int moco(ctr_comm *comm, int rank)
{
    scen_result res;
    double worst;
    int bad;
    scen_moco(comm, 4, &res);
    worst = fmax(res.loss_rel, fmax(res.grad_rel, res.param_rel));
    bad = res.rc != CTR_OK || !(worst <= TOL);
    if (res.rc != CTR_OK)
        fprintf(stderr, "rank %d: %s\n", rank, res.msg);
    return report(rank, "MoCo + shuffle BN, 20 steps, b=4 per rank", bad, worst);
}

/* Instance Discrimination with a sharded bank, 20 steps (dist_bank.h). */
static int bank(ctr_comm *comm, int rank, int32_t kind, int64_t mode,
                const char *name)
{
    bank_cfg c;
    scen_result res;
    double worst;
    int bad;
    c.kind = kind, c.z_mode = mode, c.b = 6;
    scen_bank(comm, &c, &res);
    worst = fmax(res.loss_rel, fmax(res.grad_rel, res.param_rel));
    bad = res.rc != CTR_OK || !(worst <= TOL);
    if (res.rc != CTR_OK)
        fprintf(stderr, "rank %d: %s\n", rank, res.msg);
    return report(rank, name, bad, worst);
}

/* Rank 0 saves at step 10 into a directory it makes, every rank resumes
 * from the files (one machine: a shared file system). */
static int resume(ctr_comm *comm, int rank)
{
    char dir[256] = "/tmp/ctr-mpi-equiv-XXXXXX", enc[300], opt[300];
    scen_result res;
    int bad;
    if (rank == 0 && mkdtemp(dir) == NULL)
        dir[0] = '\0';
    MPI_Bcast(dir, (int)sizeof(dir), MPI_CHAR, 0, MPI_COMM_WORLD);
    snprintf(enc, sizeof(enc), "%s/enc.ckpt", dir);
    snprintf(opt, sizeof(opt), "%s/opt.ckpt", dir);
    scen_simclr_resume(comm, 2, enc, opt, &res);
    bad = res.rc != CTR_OK || !(fmax(res.loss_rel, res.param_rel) <= TOL);
    if (res.rc != CTR_OK)
        fprintf(stderr, "rank %d: %s\n", rank, res.msg);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0 && dir[0] != '\0') {
        remove(enc);
        remove(opt);
        rmdir(dir);
    }
    return report(rank, "checkpoint at step 10 by rank 0, resumed",
                  bad, fmax(res.loss_rel, res.param_rel));
}

/* Rank 1 passes one pair fewer: every rank must return CTR_E_SHAPE. */
static int mismatch(ctr_comm *comm, int rank)
{
    ctr_objective *obj = NULL;
    float z[4 * SCEN_OUT], g[4 * SCEN_OUT];
    double loss = 0.0;
    int64_t i;
    int rc;
    for (i = 0; i < 4 * SCEN_OUT; i++)
        z[i] = scen_input(1, 0, i, (int64_t)rank);
    ctr_objective_create(&obj, CTR_OBJECTIVE_NTXENT, NULL);
    rc = ctr_comm_ntxent(comm, obj, &loss, z, SCEN_OUT, z + 2 * SCEN_OUT,
                         SCEN_OUT, rank == 1 ? 1 : 2, SCEN_OUT, g,
                         g + 2 * SCEN_OUT);
    ctr_objective_destroy(obj);
    if (rc != CTR_E_SHAPE)
        fprintf(stderr, "rank %d: got %d (%s)\n", rank, rc, ctr_comm_last_error(comm));
    return report(rank, "shape mismatch: CTR_E_SHAPE on every rank",
                  rc != CTR_E_SHAPE, 0.0);
}

/* MoCo's key gather: every rank's queue equals one fed the global keys. */
static int queue_gather(ctr_comm *comm, int rank, int size)
{
    enum { K = 10, D = 4, N = 2 };
    ctr_queue *q = NULL, *ref = NULL;
    float keys[64 * D];
    int64_t ids[64], step, i, j;
    const float *qk, *rk;
    const int64_t *qi, *ri;
    int bad = 0;
    ctr_queue_create(&q, K, D, CTR_QUEUE_IDS, 1, NULL);
    ctr_queue_create(&ref, K, D, CTR_QUEUE_IDS, 1, NULL);
    for (step = 0; step < 3; step++) {
        for (i = 0; i < (int64_t)size * N; i++) {
            for (j = 0; j < D; j++)
                keys[i * D + j] = scen_input(step, 2, i, j);
            ids[i] = 100 * step + i;
        }
        bad |= ctr_queue_enqueue(ref, keys, (int64_t)size * N, D, ids) != CTR_OK;
        bad |= ctr_comm_queue_enqueue(comm, q, keys + rank * N * D, N, D,
                                      ids + rank * N) != CTR_OK;
    }
    ctr_queue_keys(q, &qk, NULL, NULL);
    ctr_queue_keys(ref, &rk, NULL, NULL);
    ctr_queue_ids(q, &qi, NULL);
    ctr_queue_ids(ref, &ri, NULL);
    bad |= memcmp(qk, rk, sizeof(float) * K * D) != 0;
    bad |= memcmp(qi, ri, sizeof(int64_t) * K) != 0;
    ctr_queue_destroy(q);
    ctr_queue_destroy(ref);
    return report(rank, "MoCo key gather: queues bit-identical", bad, 0.0);
}

/* Shuffle BN: shuffle the key inputs, encode with per-rank BN, unshuffle;
 * equal to one process with BN groups = ranks on the permuted batch. */
static int shuffle_bn(ctr_comm *comm, int rank, int size)
{
    enum { B = 4 };
    const int64_t big = (int64_t)size * B;
    float *x = calloc((size_t)big * SCEN_IN, sizeof(float));
    float *xs = calloc((size_t)big * SCEN_IN, sizeof(float));
    float *ks = calloc((size_t)big * SCEN_OUT, sizeof(float));
    float *k = calloc((size_t)big * SCEN_OUT, sizeof(float));
    float mine[B * SCEN_OUT], mine_s[B * SCEN_OUT], xl[B * SCEN_IN];
    int64_t *perm = calloc((size_t)big, sizeof(int64_t)), *p2 = calloc((size_t)big, sizeof(int64_t)), i;
    ctr_encoder *ref = NULL, *e = NULL;
    ctr_rng *rng = NULL, *rng0 = NULL;
    double worst;
    int bad = 0;
    for (i = 0; i < big * SCEN_IN; i++)
        x[i] = scen_input(11, 0, i / SCEN_IN, i % SCEN_IN);
    ctr_rng_create(&rng, 77, NULL);
    ctr_rng_create(&rng0, 77, NULL);
    ctr_rng_permutation(rng, perm, big);
    for (i = 0; i < big; i++)
        memcpy(xs + i * SCEN_IN, x + perm[i] * SCEN_IN, SCEN_IN * sizeof(float));
    bad |= scen_encoder(&ref, 9, size) != CTR_OK || scen_encoder(&e, 9, 1) != CTR_OK;
    bad |= ctr_encoder_forward(ref, ks, xs, big, CTR_ENCODER_TRAIN) != CTR_OK;
    for (i = 0; i < big; i++)
        memcpy(k + perm[i] * SCEN_OUT, ks + i * SCEN_OUT, SCEN_OUT * sizeof(float));
    bad |= ctr_comm_shuffle_rows(comm, rank == 0 ? rng0 : NULL, p2, xl,
                                 x + (int64_t)rank * B * SCEN_IN, B, SCEN_IN) != CTR_OK;
    bad |= ctr_encoder_forward(e, mine_s, xl, B, CTR_ENCODER_TRAIN) != CTR_OK;
    bad |= ctr_comm_unshuffle_rows(comm, p2, mine, mine_s, B, SCEN_OUT) != CTR_OK;
    worst = scen_rel(mine, k + (int64_t)rank * B * SCEN_OUT, B * SCEN_OUT);
    bad |= !(worst <= TOL);
    ctr_encoder_destroy(ref);
    ctr_encoder_destroy(e);
    ctr_rng_destroy(rng);
    ctr_rng_destroy(rng0);
    free(x), free(xs), free(ks), free(k), free(perm), free(p2);
    return report(rank, "shuffle BN: keys equal one process's", bad, worst);
}

static int adapter_args(int rank)
{
    ctr_comm *c = NULL;
    int bad = ctr_mpi_comm_create(NULL, MPI_COMM_WORLD, NULL) != CTR_E_INVALID_ARG ||
              ctr_mpi_comm_create(&c, MPI_COMM_NULL, NULL) != CTR_E_INVALID_ARG;
    return report(rank, "adapter argument checks", bad, 0.0);
}

int main(int argc, char **argv)
{
    ctr_comm *comm = NULL;
    int rank = 0, size = 0, fails = 0, rc;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    rc = ctr_mpi_comm_create(&comm, MPI_COMM_WORLD, NULL);
    if (rc != CTR_OK) {
        fprintf(stderr, "rank %d: ctr_mpi_comm_create: %s\n", rank, ctr_strerror(rc));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (rank == 0)
        printf("mpi_equiv: %d ranks\n", size);
    fails += simclr(comm, rank, 4);
    fails += simclr(comm, rank, 2);
    fails += resume(comm, rank);
    fails += moco(comm, rank);
    fails += sync_bn(comm, rank);
    fails += bank(comm, rank, CTR_OBJECTIVE_NCE, CTR_NCE_Z_FIXED,
                  "sharded bank: NCE (Z fixed), 20 steps, b=6");
    fails += bank(comm, rank, CTR_OBJECTIVE_NCE, CTR_NCE_Z_EMA,
                  "sharded bank: NCE (Z EMA), 20 steps, b=6");
    fails += bank(comm, rank, CTR_OBJECTIVE_BANK_SOFTMAX, 0,
                  "sharded bank: full softmax, 20 steps, b=6");
    if (size > 1)
        fails += mismatch(comm, rank);
    fails += queue_gather(comm, rank, size);
    fails += shuffle_bn(comm, rank, size);
    fails += adapter_args(rank);
    ctr_comm_destroy(comm);
    MPI_Finalize();
    return fails == 0 ? 0 : 1;
}
