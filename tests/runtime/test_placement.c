/*
 * test_placement.c - placement policy on synthetic topologies. Every expected
 * domain is read from an independent hwloc topology loaded from the same
 * synthetic description, never written out by hand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <hwloc.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"

#define TOPO_4NUMA "pack:2 numa:2 core:16 pu:1"

/* An hwloc topology for checking, built independently of tsr_topo_t. */
static hwloc_topology_t ref_topology(const char *synthetic)
{
    hwloc_topology_t h;
    assert_int_equal(hwloc_topology_init(&h), 0);
    assert_int_equal(hwloc_topology_set_synthetic(h, synthetic), 0);
    assert_int_equal(hwloc_topology_load(h), 0);
    return h;
}

static hwloc_bitmap_t parse_list(const char *list)
{
    hwloc_bitmap_t b = hwloc_bitmap_alloc();
    assert_non_null(b);
    assert_int_equal(hwloc_bitmap_list_sscanf(b, list), 0);
    return b;
}

/* The set of PUs the placement's threads are pinned to; checks one thread per distinct core. */
static hwloc_bitmap_t thread_pus(const tsr_placement_t *pl, int expect_distinct_cores)
{
    hwloc_bitmap_t b = hwloc_bitmap_alloc();
    for (int t = 0; t < pl->n_threads; t++) {
        assert_true(pl->thread_pu[t] >= 0);
        if (expect_distinct_cores)
            assert_false(hwloc_bitmap_isset(b, (unsigned)pl->thread_pu[t]));
        hwloc_bitmap_set(b, (unsigned)pl->thread_pu[t]);
    }
    if (expect_distinct_cores)
        for (int a = 0; a < pl->n_threads; a++)
            for (int c = a + 1; c < pl->n_threads; c++)
                assert_int_not_equal(pl->thread_core[a], pl->thread_core[c]);
    return b;
}

/*
 * Place `local_size` ranks on `synthetic` and check: each rank's threads lie
 * in its domain_cpus, which lies in domain object `domain_type` number
 * rank % n_domains; ranks never overlap; together they cover the machine
 * when there are at least as many ranks as domains.
 */
static void check_ranks(const char *synthetic, hwloc_obj_type_t domain_type, int local_size, int expect_threads)
{
    tsr_topo_t *topo = NULL;
    assert_int_equal(tsr_topo_create(synthetic, &topo), TSR_OK);
    hwloc_topology_t ref = ref_topology(synthetic);
    int n_domains = hwloc_get_nbobjs_by_type(ref, domain_type);
    assert_true(n_domains > 0);

    hwloc_bitmap_t used = hwloc_bitmap_alloc();
    for (int r = 0; r < local_size; r++) {
        tsr_placement_t pl;
        assert_int_equal(tsr_placement_compute(topo, r, local_size, 0, NULL, &pl), TSR_OK);
        assert_int_equal(pl.respected_external, 0);
        assert_int_equal(pl.domain, r % n_domains);
        assert_int_equal(pl.n_threads, expect_threads);
        hwloc_obj_t dom = hwloc_get_obj_by_type(ref, domain_type, (unsigned)pl.domain);
        hwloc_bitmap_t cpus = parse_list(pl.domain_cpus);
        hwloc_bitmap_t pus = thread_pus(&pl, 1);
        assert_true(hwloc_bitmap_isincluded(pus, cpus));
        assert_true(hwloc_bitmap_isincluded(cpus, dom->cpuset));
        /* every thread on the first PU of its own core */
        for (int t = 0; t < pl.n_threads; t++) {
            hwloc_obj_t core = hwloc_get_obj_by_type(ref, HWLOC_OBJ_CORE, (unsigned)pl.thread_core[t]);
            assert_non_null(core);
            assert_int_equal(hwloc_bitmap_first(core->cpuset), pl.thread_pu[t]);
        }
        assert_false(hwloc_bitmap_intersects(used, cpus));
        hwloc_bitmap_or(used, used, cpus);
        hwloc_bitmap_free(pus);
        hwloc_bitmap_free(cpus);
        tsr_placement_free(&pl);
        assert_null(pl.thread_pu);
    }
    if (local_size >= n_domains)
        assert_true(hwloc_bitmap_isequal(used, hwloc_topology_get_topology_cpuset(ref)));
    hwloc_bitmap_free(used);
    hwloc_topology_destroy(ref);
    tsr_topo_destroy(&topo);
    assert_null(topo);
}

static void test_four_ranks_one_numa_each(void **state)
{
    (void)state;
    check_ranks(TOPO_4NUMA, HWLOC_OBJ_NUMANODE, 4, 16);
}

static void test_two_ranks_fewer_than_domains(void **state)
{
    (void)state;
    check_ranks(TOPO_4NUMA, HWLOC_OBJ_NUMANODE, 2, 16);
}

static void test_eight_ranks_split_domains(void **state)
{
    (void)state;
    check_ranks(TOPO_4NUMA, HWLOC_OBJ_NUMANODE, 8, 8);
}

static void test_no_numa_falls_back_to_packages(void **state)
{
    (void)state;
    /* two PUs per core: threads take the first PU of each core, domain_cpus keeps both */
    check_ranks("pack:2 core:8 pu:2", HWLOC_OBJ_PACKAGE, 2, 8);
    check_ranks("pack:2 core:8 pu:2", HWLOC_OBJ_PACKAGE, 4, 4);
}

static void test_one_rank_four_threads(void **state)
{
    (void)state;
    tsr_topo_t *topo = NULL;
    assert_int_equal(tsr_topo_create(TOPO_4NUMA, &topo), TSR_OK);
    hwloc_topology_t ref = ref_topology(TOPO_4NUMA);
    tsr_placement_t pl;
    assert_int_equal(tsr_placement_compute(topo, 0, 1, 4, NULL, &pl), TSR_OK);
    assert_int_equal(pl.domain, 0);
    assert_int_equal(pl.n_threads, 4);
    hwloc_bitmap_t pus = thread_pus(&pl, 1);
    hwloc_obj_t numa0 = hwloc_get_obj_by_type(ref, HWLOC_OBJ_NUMANODE, 0);
    assert_true(hwloc_bitmap_isincluded(pus, numa0->cpuset));
    hwloc_bitmap_free(pus);
    tsr_placement_free(&pl);
    hwloc_topology_destroy(ref);
    tsr_topo_destroy(&topo);
}

static void test_more_threads_than_cores_wrap(void **state)
{
    (void)state;
    tsr_topo_t *topo = NULL;
    assert_int_equal(tsr_topo_create("pack:1 core:3 pu:1", &topo), TSR_OK);
    tsr_placement_t pl;
    assert_int_equal(tsr_placement_compute(topo, 0, 1, 7, NULL, &pl), TSR_OK);
    assert_int_equal(pl.n_threads, 7);
    for (int t = 0; t < 7; t++)
        assert_int_equal(pl.thread_pu[t], pl.thread_pu[t % 3]);
    hwloc_bitmap_t first3 = hwloc_bitmap_alloc();
    for (int t = 0; t < 3; t++)
        hwloc_bitmap_set(first3, (unsigned)pl.thread_pu[t]);
    assert_int_equal(hwloc_bitmap_weight(first3), 3);
    hwloc_bitmap_free(first3);
    tsr_placement_free(&pl);
    tsr_topo_destroy(&topo);
}

static void test_more_ranks_than_cores_round_robin(void **state)
{
    (void)state;
    tsr_topo_t *topo = NULL;
    assert_int_equal(tsr_topo_create("pack:1 core:2 pu:1", &topo), TSR_OK);
    int per_pu[2] = {0, 0};
    for (int r = 0; r < 5; r++) {
        tsr_placement_t pl;
        assert_int_equal(tsr_placement_compute(topo, r, 5, 0, NULL, &pl), TSR_OK);
        assert_int_equal(pl.n_threads, 1);
        assert_true(pl.thread_pu[0] == 0 || pl.thread_pu[0] == 1);
        per_pu[pl.thread_pu[0]]++;
        tsr_placement_free(&pl);
    }
    /* every core used, loads differ by at most one rank */
    assert_true(per_pu[0] >= 2 && per_pu[1] >= 2);
    tsr_topo_destroy(&topo);
}

static void test_external_binding_respected(void **state)
{
    (void)state;
    tsr_topo_t *topo = NULL;
    assert_int_equal(tsr_topo_create(TOPO_4NUMA, &topo), TSR_OK);
    hwloc_topology_t ref = ref_topology(TOPO_4NUMA);
    hwloc_bitmap_t ext = parse_list("4-7");

    tsr_placement_t pl;
    /* the rank numbers would choose domain 3 by default: the binding wins */
    assert_int_equal(tsr_placement_compute(topo, 3, 4, 0, "4-7", &pl), TSR_OK);
    assert_int_equal(pl.respected_external, 1);
    assert_int_equal(pl.n_threads, 4);
    assert_int_equal(pl.n_cores, 4);
    hwloc_bitmap_t pus = thread_pus(&pl, 1);
    assert_true(hwloc_bitmap_isequal(pus, ext));
    hwloc_bitmap_t cpus = parse_list(pl.domain_cpus);
    assert_true(hwloc_bitmap_isequal(cpus, ext));
    hwloc_obj_t dom = hwloc_get_obj_by_type(ref, HWLOC_OBJ_NUMANODE, (unsigned)pl.domain);
    assert_non_null(dom);
    assert_true(hwloc_bitmap_isincluded(ext, dom->cpuset));
    hwloc_bitmap_free(cpus);
    hwloc_bitmap_free(pus);
    tsr_placement_free(&pl);

    /* more threads than bound cores wrap inside the binding (and say so: n_cores < n_threads) */
    assert_int_equal(tsr_placement_compute(topo, 0, 1, 10, "4-7", &pl), TSR_OK);
    assert_int_equal(pl.n_threads, 10);
    assert_int_equal(pl.n_cores, 4);
    pus = thread_pus(&pl, 0);
    assert_true(hwloc_bitmap_isequal(pus, ext));
    hwloc_bitmap_free(pus);
    tsr_placement_free(&pl);

    /* a binding across two NUMA domains has no single domain */
    assert_int_equal(tsr_placement_compute(topo, 0, 1, 0, "14-17", &pl), TSR_OK);
    assert_int_equal(pl.respected_external, 1);
    assert_int_equal(pl.domain, -1);
    assert_int_equal(pl.n_threads, 4);
    tsr_placement_free(&pl);

    /* a "binding" to the whole machine is no binding: default policy */
    char all[64];
    hwloc_bitmap_list_snprintf(all, sizeof all, hwloc_topology_get_topology_cpuset(ref));
    assert_int_equal(tsr_placement_compute(topo, 1, 4, 0, all, &pl), TSR_OK);
    assert_int_equal(pl.respected_external, 0);
    assert_int_equal(pl.domain, 1);
    tsr_placement_free(&pl);

    /* malformed or foreign bindings are errors with a message */
    tsr_error_clear();
    assert_int_equal(tsr_placement_compute(topo, 0, 1, 0, "four-seven", &pl), TSR_ERR_USAGE);
    assert_non_null(strstr(tsr_error_msg(), "four-seven"));
    assert_null(pl.thread_pu);
    tsr_error_clear();
    assert_int_equal(tsr_placement_compute(topo, 0, 1, 0, "500-501", &pl), TSR_ERR_HWLOC);
    tsr_error_clear();
    assert_int_equal(tsr_placement_compute(topo, 2, 2, 0, NULL, &pl), TSR_ERR_INTERNAL);
    tsr_error_clear();

    hwloc_bitmap_free(ext);
    hwloc_topology_destroy(ref);
    tsr_topo_destroy(&topo);
}

static void test_topology_counts_and_errors(void **state)
{
    (void)state;
    tsr_topo_t *topo = NULL;
    assert_int_equal(tsr_topo_create(TOPO_4NUMA, &topo), TSR_OK);
    int p, n, c, u;
    tsr_topo_counts(topo, &p, &n, &c, &u);
    assert_int_equal(p, 2);
    assert_int_equal(n, 4);
    assert_int_equal(c, 64);
    assert_int_equal(u, 64);
    char buf[128];
    tsr_topo_describe(topo, buf, sizeof buf);
    assert_string_equal(buf, "2 packages, 4 NUMA domains, 64 cores, 64 PUs (synthetic)");

    /* binding on a synthetic topology is skipped, not attempted */
    tsr_placement_t pl;
    assert_int_equal(tsr_placement_compute(topo, 0, 1, 2, NULL, &pl), TSR_OK);
    assert_int_equal(tsr_placement_bind_thread(topo, &pl, 1), TSR_OK);
    assert_int_equal(tsr_placement_bind_thread(topo, &pl, 2), TSR_ERR_INTERNAL);
    tsr_error_clear();
    tsr_placement_free(&pl);
    tsr_topo_destroy(&topo);
    tsr_topo_destroy(&topo);
    tsr_topo_destroy(NULL);

    assert_int_equal(tsr_topo_create("pack:2 bogus:3", &topo), TSR_ERR_USAGE);
    assert_null(topo);
    assert_non_null(strstr(tsr_error_msg(), "bogus"));
    tsr_error_clear();

    /* the real machine loads and has at least one core */
    assert_int_equal(tsr_topo_create(NULL, &topo), TSR_OK);
    tsr_topo_counts(topo, &p, &n, &c, &u);
    assert_true(p >= 1 && c >= 1 && u >= c);
    tsr_topo_describe(topo, buf, sizeof buf);
    assert_null(strstr(buf, "synthetic"));
    tsr_topo_destroy(&topo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_four_ranks_one_numa_each),
        cmocka_unit_test(test_two_ranks_fewer_than_domains),
        cmocka_unit_test(test_eight_ranks_split_domains),
        cmocka_unit_test(test_no_numa_falls_back_to_packages),
        cmocka_unit_test(test_one_rank_four_threads),
        cmocka_unit_test(test_more_threads_than_cores_wrap),
        cmocka_unit_test(test_more_ranks_than_cores_round_robin),
        cmocka_unit_test(test_external_binding_respected),
        cmocka_unit_test(test_topology_counts_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
