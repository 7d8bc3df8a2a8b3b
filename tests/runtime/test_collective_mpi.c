/*
 * test_collective_mpi.c - under mpirun at 1, 2 and 3 ranks: the runtime's
 * collective helpers (runtime/collective.c). tsr_comm_agree gives every rank
 * the lowest failing rank's status and message and leaves success alone;
 * tsr_comm_max_i64, tsr_comm_gather_i64 and tsr_comm_usage combine one value
 * per rank; a node-shared window shows node rank 0's stores to every rank of
 * the node. Each rank counts its failures; the result is agreed, so mpirun
 * exits non-zero when any rank failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"
#include "mpi_check.h"

static int failures;

int main(int argc, char **argv)
{
    tsr_rt_t *rt = NULL;
    if (tsr_rt_create(&argc, &argv, &rt) != TSR_OK) {
        fprintf(stderr, "FAIL: tsr_rt_create: %s\n", tsr_error_msg());
        return 1;
    }
    const int rank = rt->rank, size = rt->size;

    /* everyone fine: TSR_OK everywhere, no message invented */
    tsr_error_clear();
    CHECK(tsr_comm_agree(rt->comm, TSR_OK) == TSR_OK, "rank %d", rank);

    /* the ranks from `size / 2` on fail with their own messages: the lowest of them wins everywhere */
    int first = size / 2;
    tsr_status_t mine = TSR_OK;
    if (rank >= first)
        mine = tsr_error_set(rank == first ? TSR_ERR_IO : TSR_ERR_FORMAT, "rank %d failed reading file%d", rank,
                             rank);
    tsr_status_t got = tsr_comm_agree(rt->comm, mine);
    char want[64];
    snprintf(want, sizeof want, "rank %d failed reading file%d", first, first);
    CHECK(got == TSR_ERR_IO, "rank %d got status %d, want the lowest failing rank's TSR_ERR_IO", rank, (int)got);
    CHECK(strcmp(tsr_error_msg(), want) == 0, "rank %d got message '%s', want '%s'", rank, tsr_error_msg(), want);

    /* max and gather of one value per rank */
    int64_t v[2] = {rank, -rank};
    CHECK(tsr_comm_max_i64(rt->comm, v, 2) == TSR_OK, "max");
    CHECK(v[0] == size - 1 && v[1] == 0, "rank %d: max gave %lld %lld", rank, (long long)v[0], (long long)v[1]);
    int64_t *all = NULL;
    CHECK(tsr_comm_gather_i64(rt->comm, 0, 100 + rank, &all) == TSR_OK, "gather");
    if (rank == 0) {
        CHECK(all != NULL, "the root got no array");
        for (int r = 0; all && r < size; r++)
            CHECK(all[r] == 100 + r, "gathered[%d] = %lld", r, (long long)all[r]);
    } else {
        CHECK(all == NULL, "rank %d got an array it does not own", rank);
    }
    free(all);
    double cpu = 0;
    int64_t rss = 0, my_rss = tsr_peak_rss(); /* a peak only grows: the maximum taken after it is at least it */
    CHECK(tsr_comm_usage(rt->comm, &cpu, &rss) == TSR_OK, "usage");
    CHECK(cpu > 0 && rss >= my_rss, "rank %d: usage cpu %.3f rss %lld < own %lld", rank, cpu, (long long)rss,
          (long long)my_rss);

    /* the node-shared window: node rank 0 writes, every rank of the node reads the same bytes */
    const size_t n = 1 << 20;
    tsr_node_shared_t *w = NULL;
    CHECK(tsr_node_shared_create(rt->node_comm, n, &w) == TSR_OK, "create: %s", tsr_error_msg());
    char *base = tsr_node_shared_base(w);
    CHECK(base != NULL, "rank %d has no window", rank);
    if (base && rt->node_rank == 0)
        for (size_t i = 0; i < n; i++)
            base[i] = (char)(i * 7 + 3);
    CHECK(tsr_node_shared_publish(w) == TSR_OK, "publish");
    size_t bad = 0;
    for (size_t i = 0; base && i < n; i++)
        bad += base[i] != (char)(i * 7 + 3);
    CHECK(bad == 0, "rank %d (node rank %d) sees %zu wrong bytes of the leader's %zu", rank, rt->node_rank, bad, n);
    tsr_node_shared_destroy(&w);
    CHECK(w == NULL, "destroy leaves the handle set");
    tsr_node_shared_destroy(&w); /* accepts NULL */

    tsr_error_clear();
    tsr_status_t all_ok = tsr_comm_agree(rt->comm, failures ? tsr_error_set(TSR_ERR_INTERNAL, "rank %d: %d failures",
                                                                             rank, failures)
                                                            : TSR_OK);
    if (rank == 0)
        printf("%s: %d ranks\n", all_ok == TSR_OK ? "ok" : tsr_error_msg(), size);
    tsr_rt_destroy(&rt);
    return all_ok == TSR_OK ? 0 : 1;
}
