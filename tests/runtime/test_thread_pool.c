/*
 * test_thread_pool.c - tsr_pool_for: same results at 1 and 4 threads, every
 * index exactly once, the first error (status and message) reaches the caller,
 * pools built from placements (synthetic: unbound; real: bound).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"

#define N_ITEMS 1000000

typedef struct {
    int n_threads;
    uint64_t *partial; /* per-thread sums: the per-thread scratch pattern */
    atomic_uchar *visits;
    atomic_int bad_thread;
} sum_ctx_t;

static uint64_t item_value(int64_t i) { return ((uint64_t)i * 2654435761u) % 1000003u; }

static tsr_status_t sum_item(void *arg, int64_t i, int thread)
{
    sum_ctx_t *c = arg;
    if (thread < 0 || thread >= c->n_threads)
        atomic_store(&c->bad_thread, 1);
    else
        c->partial[thread] += item_value(i);
    atomic_fetch_add(&c->visits[i], 1);
    return TSR_OK;
}

static uint64_t pool_sum(tsr_pool_t *pool)
{
    sum_ctx_t c = {.n_threads = tsr_pool_size(pool)};
    c.partial = calloc((size_t)c.n_threads, sizeof *c.partial);
    c.visits = calloc(N_ITEMS, sizeof *c.visits);
    assert_non_null(c.partial);
    assert_non_null(c.visits);
    atomic_init(&c.bad_thread, 0);
    assert_int_equal(tsr_pool_for(pool, N_ITEMS, sum_item, &c), TSR_OK);
    assert_int_equal(atomic_load(&c.bad_thread), 0);
    for (int64_t i = 0; i < N_ITEMS; i++)
        if (atomic_load(&c.visits[i]) != 1)
            fail_msg("index %lld visited %d times", (long long)i, (int)atomic_load(&c.visits[i]));
    uint64_t total = 0;
    for (int t = 0; t < c.n_threads; t++)
        total += c.partial[t];
    free(c.partial);
    free(c.visits);
    return total;
}

static void test_sum_one_and_four_threads(void **state)
{
    (void)state;
    uint64_t serial = 0;
    for (int64_t i = 0; i < N_ITEMS; i++)
        serial += item_value(i);

    tsr_pool_t *p1 = NULL, *p4 = NULL;
    assert_int_equal(tsr_pool_create(NULL, NULL, 1, &p1), TSR_OK);
    assert_int_equal(tsr_pool_create(NULL, NULL, 4, &p4), TSR_OK);
    assert_int_equal(tsr_pool_size(p1), 1);
    assert_int_equal(tsr_pool_size(p4), 4);
    uint64_t s1 = pool_sum(p1);
    uint64_t s4 = pool_sum(p4);
    assert_true(s1 == serial);
    assert_true(s4 == serial);
    /* a pool runs many jobs */
    assert_true(pool_sum(p4) == serial);
    assert_int_equal(tsr_pool_for(p4, 0, sum_item, NULL), TSR_OK);
    tsr_pool_destroy(&p1);
    tsr_pool_destroy(&p4);
    assert_null(p1);
    assert_null(p4);
    tsr_pool_destroy(&p4);
    tsr_pool_destroy(NULL);
}

typedef struct {
    atomic_int ran;
} err_ctx_t;

static tsr_status_t failing_item(void *arg, int64_t i, int thread)
{
    (void)thread;
    err_ctx_t *c = arg;
    atomic_fetch_add(&c->ran, 1);
    if (i == 10)
        return tsr_error_set(TSR_ERR_IO, "item %lld could not be read", (long long)i);
    if (i == 20)
        return tsr_error_set(TSR_ERR_FORMAT, "item %lld is malformed", (long long)i);
    if (i == 30)
        return TSR_ERR_TRANSIENT; /* no message set: the pool names the status */
    return TSR_OK;
}

static void test_first_error_returned(void **state)
{
    (void)state;
    tsr_pool_t *pool = NULL;
    err_ctx_t c;

    /* one thread runs the items in order: index 10 fails first */
    assert_int_equal(tsr_pool_create(NULL, NULL, 1, &pool), TSR_OK);
    atomic_init(&c.ran, 0);
    tsr_error_clear();
    assert_int_equal(tsr_pool_for(pool, 100, failing_item, &c), TSR_ERR_IO);
    assert_string_equal(tsr_error_msg(), "item 10 could not be read");
    assert_int_equal(atomic_load(&c.ran), 100); /* the others still run */
    tsr_error_clear();
    /* the next job starts clean on the worker too */
    atomic_init(&c.ran, 0);
    assert_int_equal(tsr_pool_for(pool, 25, failing_item, &c), TSR_ERR_IO);
    assert_string_equal(tsr_error_msg(), "item 10 could not be read");
    tsr_error_clear();
    assert_int_equal(tsr_pool_for(pool, 10, failing_item, &c), TSR_OK);
    tsr_pool_destroy(&pool);

    /* four threads: one of the failures, with its own message */
    assert_int_equal(tsr_pool_create(NULL, NULL, 4, &pool), TSR_OK);
    atomic_init(&c.ran, 0);
    tsr_status_t s = tsr_pool_for(pool, 1000, failing_item, &c);
    assert_true(s == TSR_ERR_IO || s == TSR_ERR_FORMAT || s == TSR_ERR_TRANSIENT);
    if (s == TSR_ERR_IO)
        assert_string_equal(tsr_error_msg(), "item 10 could not be read");
    else if (s == TSR_ERR_FORMAT)
        assert_string_equal(tsr_error_msg(), "item 20 is malformed");
    else
        assert_non_null(strstr(tsr_error_msg(), tsr_status_str(TSR_ERR_TRANSIENT)));
    assert_int_equal(atomic_load(&c.ran), 1000);
    tsr_error_clear();
    tsr_pool_destroy(&pool);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    tsr_pool_t *pool = (tsr_pool_t *)&pool;
    assert_int_equal(tsr_pool_create(NULL, NULL, 0, &pool), TSR_ERR_USAGE);
    assert_null(pool);
    tsr_error_clear();
    assert_int_equal(tsr_pool_create(NULL, NULL, 2, &pool), TSR_OK);
    assert_int_equal(tsr_pool_for(pool, -1, failing_item, NULL), TSR_ERR_INTERNAL);
    assert_int_equal(tsr_pool_for(pool, 5, NULL, NULL), TSR_ERR_INTERNAL);
    tsr_error_clear();
    tsr_pool_destroy(&pool);
}

static void test_pool_from_placements(void **state)
{
    (void)state;
    /* synthetic: as many threads as the placement says, nothing bound */
    tsr_topo_t *topo = NULL;
    tsr_placement_t pl;
    assert_int_equal(tsr_topo_create("pack:2 numa:2 core:16 pu:1", &topo), TSR_OK);
    assert_int_equal(tsr_placement_compute(topo, 0, 8, 0, NULL, &pl), TSR_OK);
    tsr_pool_t *pool = NULL;
    assert_int_equal(tsr_pool_create(topo, &pl, 0, &pool), TSR_OK);
    assert_int_equal(tsr_pool_size(pool), pl.n_threads);
    assert_true(pool_sum(pool) > 0);
    tsr_pool_destroy(&pool);
    tsr_placement_free(&pl);
    tsr_topo_destroy(&topo);

    /* real machine: threads bound to their cores (the binding is checked in the MPI test) */
    assert_int_equal(tsr_topo_create(NULL, &topo), TSR_OK);
    assert_int_equal(tsr_placement_compute(topo, 0, 1, 3, NULL, &pl), TSR_OK);
    assert_int_equal(tsr_pool_create(topo, &pl, 0, &pool), TSR_OK);
    assert_int_equal(tsr_pool_size(pool), 3);
    uint64_t serial = 0;
    for (int64_t i = 0; i < N_ITEMS; i++)
        serial += item_value(i);
    assert_true(pool_sum(pool) == serial);
    tsr_pool_destroy(&pool);
    tsr_placement_free(&pl);
    tsr_topo_destroy(&topo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sum_one_and_four_threads),
        cmocka_unit_test(test_first_error_returned),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_pool_from_placements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
