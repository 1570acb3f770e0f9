/*
 * contrastive-mpi.h - the MPI adapter of libcontrastive (libcontrastive-mpi,
 * pkg-config contrastive-mpi): a ctr_comm (contrastive/comm.h) whose
 * collectives are MPI's. Optional: built by `make MPI=1`; the core library
 * never links MPI. Include it after <mpi.h> is reachable (mpicc, or
 * `pkg-config --cflags contrastive-mpi`).
 */
#ifndef CONTRASTIVE_MPI_H
#define CONTRASTIVE_MPI_H

#include <mpi.h>

#include "contrastive.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates in *out a communicator over a duplicate of `comm` (MPI_Comm_dup:
 * the library's messages never mix with the host's), with the error
 * handler MPI_ERRORS_RETURN on the duplicate, so that a failing MPI call is
 * returned as CTR_E_COMM with MPI_Error_string's text in
 * ctr_comm_last_error instead of aborting the job. Collective over comm
 * (MPI_Comm_dup). MPI must be initialised; ctr_comm_destroy frees the
 * duplicate (call it before MPI_Finalize). Counts above INT_MAX are split
 * into several MPI calls (all-reduce, broadcast) or refused (all-gather:
 * MPI_ERR_COUNT). alloc (may be NULL) serves the handle and the adapter's
 * state. Errors: CTR_E_INVALID_ARG (out NULL, MPI not initialised, bad
 * allocator), CTR_E_COMM (MPI_Comm_dup failed), CTR_E_NOMEM. Since 0.1.0. */
CTR_API int ctr_mpi_comm_create(ctr_comm **out, MPI_Comm comm,
                                const ctr_allocator *alloc);

#ifdef __cplusplus
}
#endif

#endif /* CONTRASTIVE_MPI_H */
