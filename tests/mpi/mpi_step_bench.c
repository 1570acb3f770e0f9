/*
 * mpi_step_bench.c - images/s of a data-parallel SimCLR step and the share
 * of it spent in MPI (make bench-mpi). The encoder is the demo's "cnn"
 * (conv 5x5/32 s2 - BN - ReLU - conv 3x3/64 s2 - BN - ReLU - linear 512 -
 * BN - ReLU - linear 128 - L2 norm) on 28 x 28 inputs, global batch B
 * pairs split over the ranks; one step = forward of both views, the
 * cross-replica NT-Xent, backward, the gradient all-reduce, SGD.
 * Communication time is measured through the MPI profiling interface
 * (these MPI_* definitions wrap PMPI_*). Not a correctness test.
 *
 *   mpirun -np R mpi_step_bench [B] [steps]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "contrastive-mpi.h"

static double comm_seconds;

int MPI_Allreduce(const void *s, void *r, int n, MPI_Datatype t, MPI_Op op,
                  MPI_Comm c)
{
    double t0 = PMPI_Wtime();
    int rc = PMPI_Allreduce(s, r, n, t, op, c);
    comm_seconds += PMPI_Wtime() - t0;
    return rc;
}

int MPI_Allgather(const void *s, int sn, MPI_Datatype st, void *r, int rn,
                  MPI_Datatype rt, MPI_Comm c)
{
    double t0 = PMPI_Wtime();
    int rc = PMPI_Allgather(s, sn, st, r, rn, rt, c);
    comm_seconds += PMPI_Wtime() - t0;
    return rc;
}

static int build(ctr_encoder **out)
{
    const int64_t dims[3] = {1, 28, 28};
    ctr_encoder *e = NULL;
    int rc = ctr_encoder_create(&e, dims, 3, 1, NULL);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(e, 32, 5, 2, 2, 0);
    if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_conv2d(e, 64, 3, 2, 1, 0);
    if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_flatten(e);
    if (rc == CTR_OK) rc = ctr_encoder_add_linear(e, 512, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_batchnorm(e, 1e-5, 0.1, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_activation(e, CTR_LAYER_RELU);
    if (rc == CTR_OK) rc = ctr_encoder_add_linear(e, 128, 1);
    if (rc == CTR_OK) rc = ctr_encoder_add_l2norm(e, 1e-12);
    *out = e;
    return rc;
}

static double cpu_seconds(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec +
           (double)u.ru_stime.tv_sec + 1e-6 * (double)u.ru_stime.tv_usec;
}

int main(int argc, char **argv)
{
    const int64_t d = 128;
    int rank = 0, size = 1, i, steps, rc = CTR_OK;
    int64_t big, b, k;
    ctr_comm *comm = NULL;
    ctr_encoder *enc = NULL;
    ctr_optimizer *opt = NULL;
    ctr_objective *obj = NULL;
    ctr_rng *rng = NULL;
    float *x, *y, *dy;
    double loss = 0.0, t0 = 0.0, cpu0 = 0.0, wall, cpu, comm_t, sum[3];
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    big = argc > 1 ? atoll(argv[1]) : 256;
    steps = argc > 2 ? atoi(argv[2]) : 10;
    b = big / size;
    x = (float *)malloc((size_t)(2 * b * 784) * sizeof(float));
    y = (float *)malloc((size_t)(2 * b * d) * sizeof(float));
    dy = (float *)malloc((size_t)(2 * b * d) * sizeof(float));
    if (ctr_mpi_comm_create(&comm, MPI_COMM_WORLD, NULL) != CTR_OK || build(&enc) != CTR_OK ||
        ctr_optimizer_create_for_encoder(&opt, CTR_OPTIMIZER_SGD, enc, NULL) != CTR_OK ||
        ctr_objective_create(&obj, CTR_OBJECTIVE_NTXENT, NULL) != CTR_OK ||
        ctr_rng_create(&rng, 7 + (uint64_t)rank, NULL) != CTR_OK)
        MPI_Abort(MPI_COMM_WORLD, 1);
    ctr_rng_uniform(rng, x, 2 * b * 784);
    ctr_comm_encoder_broadcast(comm, enc, 0);
    for (i = -2; i < steps && rc == CTR_OK; i++) { /* two warm-up steps */
        if (i == 0) {
            MPI_Barrier(MPI_COMM_WORLD);
            t0 = MPI_Wtime(), cpu0 = cpu_seconds(), comm_seconds = 0.0;
        }
        rc = ctr_encoder_forward(enc, y, x, 2 * b, CTR_ENCODER_TRAIN);
        if (rc == CTR_OK)
            rc = ctr_comm_ntxent(comm, obj, &loss, y, d, y + b * d, d, b, d, dy, dy + b * d);
        if (rc == CTR_OK) rc = ctr_encoder_zero_grad(enc);
        if (rc == CTR_OK) rc = ctr_encoder_backward(enc, NULL, dy);
        if (rc == CTR_OK) rc = ctr_comm_encoder_grads(comm, enc, CTR_COMM_SUM, 0.0);
        if (rc == CTR_OK) rc = ctr_optimizer_step(opt);
    }
    wall = MPI_Wtime() - t0, cpu = cpu_seconds() - cpu0, comm_t = comm_seconds;
    sum[0] = wall, sum[1] = cpu, sum[2] = comm_t;
    MPI_Allreduce(MPI_IN_PLACE, sum, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    ctr_encoder_num_params(enc, &k);
    if (rank == 0)
        printf("RESULT mpi_step ranks=%d B=%lld params=%lld steps=%d rc=%d "
               "images_per_s=%.1f step_ms=%.1f comm_share=%.3f cpu_s_per_step=%.3f\n",
               size, (long long)big, (long long)k, steps, rc,
               2.0 * (double)(b * size) * steps / (sum[0] / size),
               1e3 * sum[0] / size / steps, sum[2] / sum[0], sum[1] / steps);
    free(x), free(y), free(dy);
    ctr_rng_destroy(rng);
    ctr_objective_destroy(obj);
    ctr_optimizer_destroy(opt);
    ctr_encoder_destroy(enc);
    ctr_comm_destroy(comm);
    MPI_Finalize();
    return rc == CTR_OK ? 0 : 1;
}
