/*
 * collective.c - the collective helpers every module shares: all ranks agree
 * on one outcome, abort when a rank cannot report, and the node-shared
 * window that large read-only data (the aligner index) lives in once per node.
 */
#include "runtime/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tsr_status_t tsr_comm_agree(MPI_Comm comm, tsr_status_t mine)
{
    int rank = 0, size = 1;
    TSR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    TSR_CALL_MPI(MPI_Comm_size(comm, &size));
    int fail = mine != TSR_OK ? rank : size, first = size;
    TSR_CALL_MPI(MPI_Allreduce(&fail, &first, 1, MPI_INT, MPI_MIN, comm));
    if (first == size)
        return TSR_OK;
    struct {
        int status;
        char msg[1000];
    } m;
    memset(&m, 0, sizeof m);
    m.status = (int)mine;
    snprintf(m.msg, sizeof m.msg, "%s", *tsr_error_msg() ? tsr_error_msg() : tsr_status_str(mine));
    TSR_CALL_MPI(MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, first, comm));
    if (rank != first) {
        tsr_error_clear();
        tsr_error_set((tsr_status_t)m.status, "%s", m.msg);
    }
    return (tsr_status_t)m.status;
}

void tsr_comm_abort(MPI_Comm comm, int code)
{
    MPI_Abort(comm, code);
}

tsr_status_t tsr_comm_max_i64(MPI_Comm comm, int64_t *v, int n)
{
    TSR_CALL_MPI(MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_INT64_T, MPI_MAX, comm));
    return TSR_OK;
}

tsr_status_t tsr_comm_usage(MPI_Comm comm, double *cpu_sum, int64_t *rss_max)
{
    double cpu = tsr_cpu_seconds();
    int64_t rss = tsr_peak_rss();
    TSR_CALL_MPI(MPI_Allreduce(&cpu, cpu_sum, 1, MPI_DOUBLE, MPI_SUM, comm));
    TSR_CALL_MPI(MPI_Allreduce(&rss, rss_max, 1, MPI_INT64_T, MPI_MAX, comm));
    return TSR_OK;
}

tsr_status_t tsr_comm_gather_i64(MPI_Comm comm, int root, int64_t mine, int64_t **all)
{
    *all = NULL;
    int rank = 0, size = 1;
    TSR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    TSR_CALL_MPI(MPI_Comm_size(comm, &size));
    int64_t *buf = NULL;
    tsr_status_t s = TSR_OK;
    if (rank == root && !(buf = calloc((size_t)size, sizeof *buf)))
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory gathering a value from %d ranks", size);
    s = tsr_comm_agree(comm, s);
    if (s == TSR_OK) {
        int rc = MPI_Gather(&mine, 1, MPI_INT64_T, buf, 1, MPI_INT64_T, root, comm);
        if (rc != MPI_SUCCESS)
            s = tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Gather");
    }
    if (s != TSR_OK) {
        free(buf);
        return s;
    }
    *all = buf;
    return TSR_OK;
}

/* ------------------------------------------------------ node-shared window */

struct tsr_node_shared {
    MPI_Win win;
    MPI_Comm node_comm; /* borrowed: the caller's node communicator */
    char *base;
    size_t bytes;
};

tsr_status_t tsr_node_shared_create(MPI_Comm node_comm, size_t bytes, tsr_node_shared_t **out)
{
    *out = NULL;
    int node_rank = 0;
    TSR_CALL_MPI(MPI_Comm_rank(node_comm, &node_rank));
    tsr_node_shared_t *w = calloc(1, sizeof *w);
    if (!w)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory creating a node-shared window");
    w->win = MPI_WIN_NULL;
    w->node_comm = node_comm;
    char *base = NULL;
    MPI_Aint size = node_rank == 0 ? (MPI_Aint)bytes : 0;
    int rc = MPI_Win_allocate_shared(size, 1, MPI_INFO_NULL, node_comm, &base, &w->win);
    int disp = 1;
    if (rc == MPI_SUCCESS)
        rc = MPI_Win_set_errhandler(w->win, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS)
        rc = MPI_Win_shared_query(w->win, 0, &size, &disp, &base);
    if (rc == MPI_SUCCESS)
        rc = MPI_Win_lock_all(MPI_MODE_NOCHECK, w->win);
    if (rc != MPI_SUCCESS) {
        tsr_status_t s = tsr_error_mpi(rc, __FILE__, __LINE__, "creating a node-shared window");
        if (w->win != MPI_WIN_NULL)
            MPI_Win_free(&w->win);
        free(w);
        return s;
    }
    w->base = base;
    w->bytes = bytes;
    *out = w;
    return TSR_OK;
}

char *tsr_node_shared_base(const tsr_node_shared_t *w)
{
    return w ? w->base : NULL;
}

tsr_status_t tsr_node_shared_publish(tsr_node_shared_t *w)
{
    /* the leader's stores are visible to the node after sync + barrier + sync */
    TSR_CALL_MPI(MPI_Win_sync(w->win));
    TSR_CALL_MPI(MPI_Barrier(w->node_comm));
    TSR_CALL_MPI(MPI_Win_sync(w->win));
    return TSR_OK;
}

void tsr_node_shared_destroy(tsr_node_shared_t **wp)
{
    if (!wp || !*wp)
        return;
    tsr_node_shared_t *w = *wp;
    if (w->win != MPI_WIN_NULL) {
        /* the window's memory goes only when every rank of the node is done with it */
        int rc = MPI_Win_unlock_all(w->win);
        if (rc == MPI_SUCCESS)
            rc = MPI_Win_free(&w->win);
        if (rc != MPI_SUCCESS) {
            char msg[MPI_MAX_ERROR_STRING] = "";
            int len = 0;
            MPI_Error_string(rc, msg, &len);
            tsr_log_warn("freeing a node-shared window failed: %s", msg);
        }
    }
    free(w);
    *wp = NULL;
}
