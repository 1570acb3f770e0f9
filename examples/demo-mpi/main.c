/*
 * main.c - contrastive-demo-mpi: the demo (examples/demo/) trained
 * data-parallel over MPI. Run it as `mpirun -np R contrastive-demo-mpi
 * [the demo's options]`: every rank trains on --batch / R images of each
 * global batch, the ranks exchange what one process would share
 * (docs/distributed.md), rank 0 evaluates, writes the report and prints
 * the RESULT line. The global batch, its augmentations and the losses are
 * those of `contrastive-demo` with the same options. Links
 * libcontrastive-mpi; the plain demo never links MPI.
 * With CONTRASTIVE_DEMO_MPI_TIMES=1 in the environment each rank prints on
 * stderr, at the end, the seconds it spent in MPI's collectives (the
 * MPI_* below wrap PMPI_*: waiting for the other ranks included) - the
 * communication share of the training steps (docs/distributed.md).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include <contrastive-mpi.h>

#include "../demo/demo.h"

/* Seconds in collectives and their number, this process (one thread). */
static double mpi_seconds;
static long long mpi_calls;

int MPI_Allreduce(const void *s, void *r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c)
{
    double t0 = PMPI_Wtime();
    int rc = PMPI_Allreduce(s, r, n, t, op, c);
    mpi_seconds += PMPI_Wtime() - t0, mpi_calls++;
    return rc;
}

int MPI_Allgather(const void *s, int sn, MPI_Datatype st, void *r, int rn,
                  MPI_Datatype rt, MPI_Comm c)
{
    double t0 = PMPI_Wtime();
    int rc = PMPI_Allgather(s, sn, st, r, rn, rt, c);
    mpi_seconds += PMPI_Wtime() - t0, mpi_calls++;
    return rc;
}

int MPI_Bcast(void *buf, int n, MPI_Datatype t, int root, MPI_Comm c)
{
    double t0 = PMPI_Wtime();
    int rc = PMPI_Bcast(buf, n, t, root, c);
    mpi_seconds += PMPI_Wtime() - t0, mpi_calls++;
    return rc;
}

int main(int argc, char **argv)
{
    ctr_comm *comm = NULL;
    int rank = 0, rc;
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS)
        return 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    /* rank 0 alone speaks on stdout (the report and RESULT line) */
    if (rank != 0 && freopen("/dev/null", "w", stdout) == NULL)
        rc = 1;
    else if ((rc = ctr_mpi_comm_create(&comm, MPI_COMM_WORLD, NULL)) != CTR_OK)
        fprintf(stderr, "contrastive-demo-mpi: rank %d: %s\n", rank, ctr_strerror(rc));
    else
        rc = demo_run(argc, argv, comm);
    ctr_comm_destroy(comm);
    if (rc == 0 && getenv("CONTRASTIVE_DEMO_MPI_TIMES") != NULL)
        fprintf(stderr, "contrastive-demo-mpi: rank %d: %.3f s in %lld MPI collectives\n",
                rank, mpi_seconds, mpi_calls);
    /* a failure ends the job rather than leave a rank waiting in a
     * collective; bad options (2) are refused alike on every rank */
    if (rc != 0 && rc != 2)
        MPI_Abort(MPI_COMM_WORLD, rc);
    MPI_Finalize();
    return rc;
}
