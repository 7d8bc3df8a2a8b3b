/*
 * test_rt_binding_mpi.c - under mpirun at 1 and 2 ranks: every rank computes
 * its placement on the real machine, starts a pool from it, and each pool
 * thread reads back its real binding, which must lie inside the rank's
 * domain_cpus and be its assigned PU. Ranks on one node must not share PUs
 * while the node has a core per rank. Exit 0 only if every rank passed.
 */
#include <hwloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"
#include "mpi_check.h"

typedef struct {
    hwloc_topology_t h;
    hwloc_bitmap_t *bound; /* per thread: the binding read back */
    pthread_barrier_t all_threads;
} readback_t;

/*
 * One item per thread; each item waits at a barrier of all threads, so no
 * thread can take a second item and every pool thread reports exactly once.
 */
static tsr_status_t read_binding(void *arg, int64_t i, int thread)
{
    (void)i;
    readback_t *r = arg;
    int rc = hwloc_get_cpubind(r->h, r->bound[thread], HWLOC_CPUBIND_THREAD);
    int b = pthread_barrier_wait(&r->all_threads);
    if (b != 0 && b != PTHREAD_BARRIER_SERIAL_THREAD)
        return tsr_error_set(TSR_ERR_INTERNAL, "pthread_barrier_wait failed in thread %d", thread);
    if (rc != 0)
        return tsr_error_set(TSR_ERR_HWLOC, "hwloc_get_cpubind failed in thread %d", thread);
    return TSR_OK;
}

int main(int argc, char **argv)
{
    int failures = 0;
    tsr_rt_t *rt = NULL;
    if (tsr_rt_create(&argc, &argv, &rt) != TSR_OK) {
        fprintf(stderr, "tsr_rt_create: %s\n", tsr_error_msg());
        return 1;
    }
    tsr_topo_t *topo = NULL;
    tsr_placement_t pl;
    memset(&pl, 0, sizeof pl);
    tsr_pool_t *pool = NULL;
    readback_t r = {0};
    hwloc_bitmap_t domain = hwloc_bitmap_alloc();

    CHECK(tsr_topo_create(NULL, &topo) == TSR_OK, "%s", tsr_error_msg());
    CHECK(tsr_placement_compute(topo, rt->node_rank, rt->node_size, 0, NULL, &pl) == TSR_OK, "%s",
          tsr_error_msg());
    CHECK(pl.n_threads >= 1, "n_threads %d", pl.n_threads);
    CHECK(hwloc_bitmap_list_sscanf(domain, pl.domain_cpus) == 0 && !hwloc_bitmap_iszero(domain),
          "domain_cpus '%s'", pl.domain_cpus);
    CHECK(tsr_pool_create(topo, &pl, 0, &pool) == TSR_OK, "%s", tsr_error_msg());

    if (!failures) {
        CHECK(hwloc_topology_init(&r.h) == 0 && hwloc_topology_load(r.h) == 0, "hwloc load");
        int n = tsr_pool_size(pool);
        r.bound = calloc((size_t)n, sizeof *r.bound);
        CHECK(r.bound != NULL, "calloc");
        for (int t = 0; r.bound && t < n; t++)
            r.bound[t] = hwloc_bitmap_alloc();
        int barrier_ok = pthread_barrier_init(&r.all_threads, NULL, (unsigned)n) == 0;
        CHECK(barrier_ok, "pthread_barrier_init");
        if (barrier_ok) {
            CHECK(tsr_pool_for(pool, n, read_binding, &r) == TSR_OK, "%s", tsr_error_msg());
            CHECK(pthread_barrier_destroy(&r.all_threads) == 0, "pthread_barrier_destroy");
        }
        for (int t = 0; r.bound && t < n; t++) {
            char got[128];
            hwloc_bitmap_list_snprintf(got, sizeof got, r.bound[t]);
            CHECK(hwloc_bitmap_isincluded(r.bound[t], domain), "rank %d thread %d bound to %s outside %s",
                  rt->rank, t, got, pl.domain_cpus);
            CHECK(hwloc_bitmap_weight(r.bound[t]) == 1 && hwloc_bitmap_first(r.bound[t]) == pl.thread_pu[t],
                  "rank %d thread %d bound to %s, placement says PU %d", rt->rank, t, got, pl.thread_pu[t]);
        }
    }

    /* ranks of one node: disjoint PU sets while there is a core per rank */
    int cores = 0;
    if (topo)
        tsr_topo_counts(topo, NULL, NULL, &cores, NULL);
    char *all = calloc((size_t)rt->node_size, sizeof pl.domain_cpus);
    CHECK(all != NULL, "calloc");
    if (all && MPI_Allgather(pl.domain_cpus, sizeof pl.domain_cpus, MPI_CHAR, all, sizeof pl.domain_cpus,
                             MPI_CHAR, rt->node_comm) == MPI_SUCCESS &&
        rt->node_size <= cores) {
        for (int a = 0; a < rt->node_size; a++)
            for (int b = a + 1; b < rt->node_size; b++) {
                hwloc_bitmap_t x = hwloc_bitmap_alloc(), y = hwloc_bitmap_alloc();
                hwloc_bitmap_list_sscanf(x, all + (size_t)a * sizeof pl.domain_cpus);
                hwloc_bitmap_list_sscanf(y, all + (size_t)b * sizeof pl.domain_cpus);
                CHECK(!hwloc_bitmap_intersects(x, y), "local ranks %d and %d overlap", a, b);
                hwloc_bitmap_free(x);
                hwloc_bitmap_free(y);
            }
    }
    free(all);
    if (rt->rank == 0 || failures)
        fprintf(stderr, "rank %d: domain %d PUs %s, %d threads, launcher binding %s, %d failure(s)\n", rt->rank,
                pl.domain, pl.domain_cpus, pl.n_threads, pl.respected_external ? "kept" : "none", failures);

    tsr_pool_destroy(&pool);
    for (int t = 0; r.bound && t < pl.n_threads; t++)
        hwloc_bitmap_free(r.bound[t]);
    free(r.bound);
    if (r.h)
        hwloc_topology_destroy(r.h);
    hwloc_bitmap_free(domain);
    tsr_placement_free(&pl);
    tsr_topo_destroy(&topo);

    int total = 0;
    if (MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, rt->comm) != MPI_SUCCESS)
        total = 1;
    tsr_rt_destroy(&rt);
    return total == 0 ? 0 : 1;
}
