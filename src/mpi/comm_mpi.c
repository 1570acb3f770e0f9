/*
 * comm_mpi.c - libcontrastive-mpi: ctr_comm_ops over an MPI communicator.
 * Uses only the public API of the core (contrastive.h) and MPI.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "contrastive-mpi.h"

/* Elements per MPI call: counts are int. */
#define CHUNK ((int64_t)1 << 30)

typedef struct mpi_state {
    MPI_Comm comm;
    ctr_allocator alloc; /* struct_size 0: malloc */
    char text[MPI_MAX_ERROR_STRING + 1];
} mpi_state;

static int st_rank(void *user, int64_t *rank)
{
    int r = 0, rc = MPI_Comm_rank(((mpi_state *)user)->comm, &r);
    *rank = r;
    return rc;
}

static int st_size(void *user, int64_t *size)
{
    int s = 0, rc = MPI_Comm_size(((mpi_state *)user)->comm, &s);
    *size = s;
    return rc;
}

static int allreduce(void *user, void *buf, int64_t n, MPI_Datatype t,
                     size_t elem)
{
    mpi_state *st = (mpi_state *)user;
    int64_t off;
    for (off = 0; off < n; off += CHUNK) {
        int64_t k = n - off < CHUNK ? n - off : CHUNK;
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)off * elem,
                               (int)k, t, MPI_SUM, st->comm);
        if (rc != MPI_SUCCESS)
            return rc;
    }
    return MPI_SUCCESS;
}

static int allreduce_f32(void *user, float *buf, int64_t n)
{
    return allreduce(user, buf, n, MPI_FLOAT, sizeof(float));
}

static int allreduce_i64(void *user, int64_t *buf, int64_t n)
{
    return allreduce(user, buf, n, MPI_INT64_T, sizeof(int64_t));
}

static int allgather_f32(void *user, const float *send, float *recv,
                         int64_t n)
{
    if (n > INT_MAX)
        return MPI_ERR_COUNT;
    return MPI_Allgather(send, (int)n, MPI_FLOAT, recv, (int)n, MPI_FLOAT,
                         ((mpi_state *)user)->comm);
}

static int allgather_i64(void *user, const int64_t *send, int64_t *recv,
                         int64_t n)
{
    if (n > INT_MAX)
        return MPI_ERR_COUNT;
    return MPI_Allgather(send, (int)n, MPI_INT64_T, recv, (int)n,
                         MPI_INT64_T, ((mpi_state *)user)->comm);
}

static int broadcast(void *user, void *buf, int64_t n, int64_t root,
                     MPI_Datatype t, size_t elem)
{
    mpi_state *st = (mpi_state *)user;
    int64_t off;
    for (off = 0; off < n; off += CHUNK) {
        int64_t k = n - off < CHUNK ? n - off : CHUNK;
        int rc = MPI_Bcast((char *)buf + (size_t)off * elem, (int)k, t,
                           (int)root, st->comm);
        if (rc != MPI_SUCCESS)
            return rc;
    }
    return MPI_SUCCESS;
}

static int broadcast_f32(void *user, float *buf, int64_t n, int64_t root)
{
    return broadcast(user, buf, n, root, MPI_FLOAT, sizeof(float));
}

static int broadcast_i64(void *user, int64_t *buf, int64_t n, int64_t root)
{
    return broadcast(user, buf, n, root, MPI_INT64_T, sizeof(int64_t));
}

static const char *describe(void *user, int code)
{
    mpi_state *st = (mpi_state *)user;
    int len = 0;
    if (MPI_Error_string(code, st->text, &len) != MPI_SUCCESS)
        return "unknown MPI error";
    st->text[len < 0 ? 0 : len] = '\0';
    return st->text;
}

static void state_free(mpi_state *st)
{
    if (st->alloc.struct_size != 0)
        st->alloc.free(st->alloc.user, st, sizeof(*st));
    else
        free(st);
}

static void release(void *user)
{
    mpi_state *st = (mpi_state *)user;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && st->comm != MPI_COMM_NULL)
        MPI_Comm_free(&st->comm);
    state_free(st);
}

static mpi_state *state_new(const ctr_allocator *alloc)
{
    mpi_state *st;
    if (alloc != NULL && alloc->alloc != NULL)
        st = (mpi_state *)alloc->alloc(alloc->user, sizeof(*st), 64);
    else
        st = (mpi_state *)malloc(sizeof(*st));
    if (st == NULL)
        return NULL;
    memset(st, 0, sizeof(*st));
    st->comm = MPI_COMM_NULL;
    if (alloc != NULL && alloc->alloc != NULL)
        st->alloc = *alloc;
    return st;
}

static void fill_ops(ctr_comm_ops *ops, mpi_state *st)
{
    ctr_comm_ops_init(ops);
    ops->user = st;
    ops->rank = st_rank;
    ops->size = st_size;
    ops->allreduce_f32 = allreduce_f32;
    ops->allreduce_i64 = allreduce_i64;
    ops->allgather_f32 = allgather_f32;
    ops->allgather_i64 = allgather_i64;
    ops->broadcast_f32 = broadcast_f32;
    ops->broadcast_i64 = broadcast_i64;
    ops->describe = describe;
    ops->release = release;
}

CTR_API int ctr_mpi_comm_create(ctr_comm **out, MPI_Comm comm,
                                const ctr_allocator *alloc)
{
    ctr_comm_ops ops;
    mpi_state *st;
    int initialized = 0;
    if (out == NULL || MPI_Initialized(&initialized) != MPI_SUCCESS ||
        !initialized || comm == MPI_COMM_NULL)
        return CTR_E_INVALID_ARG;
    if (alloc != NULL && (alloc->alloc == NULL) != (alloc->free == NULL))
        return CTR_E_INVALID_ARG;
    st = state_new(alloc);
    if (st == NULL)
        return CTR_E_NOMEM;
    if (MPI_Comm_dup(comm, &st->comm) != MPI_SUCCESS) {
        state_free(st);
        return CTR_E_COMM;
    }
    MPI_Comm_set_errhandler(st->comm, MPI_ERRORS_RETURN);
    fill_ops(&ops, st);
    return ctr_comm_create(out, &ops, alloc); /* releases st on failure */
}
