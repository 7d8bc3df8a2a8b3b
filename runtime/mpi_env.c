/*
 * mpi_env.c - MPI start-up: thread level, private communicators, roles.
 * The only file that names MPI_COMM_WORLD.
 */
#include "runtime/runtime.h"

#include <stdlib.h>

tsr_status_t tsr_rt_create(int *argc, char ***argv, tsr_rt_t **out)
{
    *out = NULL;
    int initialized = 0;
    MPI_Initialized(&initialized);
    int provided = MPI_THREAD_SINGLE;
    if (!initialized && MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
        return tsr_error_set(TSR_ERR_MPI, "MPI_Init_thread failed; start tessera with mpirun/srun or as a plain process");
    if (initialized)
        MPI_Query_thread(&provided);
    if (provided < MPI_THREAD_MULTIPLE)
        return tsr_error_set(TSR_ERR_MPI,
                             "the MPI library provides thread level %d, tessera needs MPI_THREAD_MULTIPLE (%d); "
                             "use an Open MPI built with thread support (Debian's is)",
                             provided, MPI_THREAD_MULTIPLE);
    tsr_rt_t *rt;
    TSR_ALLOC(rt, 1);
    rt->thread_level = provided;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &rt->comm);
    if (rc != MPI_SUCCESS) {
        free(rt);
        return tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Comm_dup");
    }
    MPI_Comm_set_errhandler(rt->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(rt->comm, &rt->rank);
    MPI_Comm_size(rt->comm, &rt->size);
    rc = MPI_Comm_split_type(rt->comm, MPI_COMM_TYPE_SHARED, rt->rank, MPI_INFO_NULL, &rt->node_comm);
    if (rc != MPI_SUCCESS) {
        MPI_Comm_free(&rt->comm);
        free(rt);
        return tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Comm_split_type");
    }
    MPI_Comm_set_errhandler(rt->node_comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(rt->node_comm, &rt->node_rank);
    MPI_Comm_size(rt->node_comm, &rt->node_size);
    /* The one place roles are decided. */
    rt->role = rt->rank == 0 ? TSR_ROLE_MASTER : TSR_ROLE_WORKER;
    *out = rt;
    return TSR_OK;
}

void tsr_rt_destroy(tsr_rt_t **rtp)
{
    if (!rtp || !*rtp)
        return;
    tsr_rt_t *rt = *rtp;
    MPI_Comm_free(&rt->node_comm);
    MPI_Comm_free(&rt->comm);
    free(rt);
    *rtp = NULL;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized)
        MPI_Finalize();
}

void tsr_rt_abort(const tsr_rt_t *rt, int code)
{
    tsr_comm_abort(rt ? rt->comm : MPI_COMM_WORLD, code);
}
