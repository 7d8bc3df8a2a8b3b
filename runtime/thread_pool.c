/*
 * thread_pool.c - the per-rank pool of pinned worker threads (kt_for spirit).
 *
 * Threads are created once, bind themselves to their placement slot before
 * reporting ready, and then sleep until tsr_pool_for() publishes a job. A job
 * is a range [0, n) handed out one index at a time through an atomic counter,
 * so uneven items balance themselves. The calling thread only waits: all work
 * runs on pinned threads. A job generation number tells sleeping workers that
 * a new job exists; a pending count tells the caller when every worker has
 * drained the range. The first failing item's status and message are copied
 * to the caller's thread, since error messages are thread-local.
 */
#include "runtime/runtime.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tsr_pool_worker {
    struct tsr_pool *pool;
    int index;
    pthread_t tid;
    int started; /* pthread_create succeeded: join it */
} tsr_pool_worker_t;

struct tsr_pool {
    int n;
    tsr_pool_worker_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* workers: a new job or stop */
    pthread_cond_t done; /* caller: ready count or pending reached its target */

    /* start-up, read by workers only while tsr_pool_create waits */
    const tsr_topo_t *topo;
    const tsr_placement_t *pl;
    int n_ready;
    tsr_status_t start_status;
    char start_msg[1024];

    /* the current job */
    uint64_t generation;
    int stop;
    int busy;
    int pending;
    int64_t job_n;
    tsr_pool_fn job_fn;
    void *job_ctx;
    atomic_int_fast64_t next;
    tsr_status_t job_status;
    char job_msg[1024];
};

/* Record the first failure of this job (or start-up) with the worker's message; caller holds no lock. */
static void tsr_pool_record(struct tsr_pool *p, tsr_status_t s, tsr_status_t *slot, char *msg, size_t len)
{
    if (pthread_mutex_lock(&p->mu) != 0)
        return;
    if (*slot == TSR_OK) {
        *slot = s;
        const char *m = tsr_error_msg();
        if (*m)
            snprintf(msg, len, "%s", m);
        else
            snprintf(msg, len, "a worker task failed (%s)", tsr_status_str(s));
    }
    pthread_mutex_unlock(&p->mu);
    tsr_error_clear();
}

static void tsr_pool_run_job(struct tsr_pool *p, int self)
{
    int64_t n = p->job_n;
    tsr_pool_fn fn = p->job_fn;
    void *ctx = p->job_ctx;
    for (;;) {
        int64_t i = atomic_fetch_add(&p->next, 1);
        if (i >= n)
            break;
        tsr_status_t s = fn(ctx, i, self);
        if (s != TSR_OK)
            tsr_pool_record(p, s, &p->job_status, p->job_msg, sizeof p->job_msg);
    }
}

static void *tsr_pool_main(void *arg)
{
    tsr_pool_worker_t *w = arg;
    struct tsr_pool *p = w->pool;
    tsr_error_clear();
    tsr_status_t s = TSR_OK;
    if (p->pl) {
        s = tsr_placement_bind_thread(p->topo, p->pl, w->index % p->pl->n_threads);
        if (s != TSR_OK)
            tsr_pool_record(p, s, &p->start_status, p->start_msg, sizeof p->start_msg);
    }
    if (pthread_mutex_lock(&p->mu) != 0)
        return NULL;
    p->n_ready++;
    pthread_cond_broadcast(&p->done);
    uint64_t seen = p->generation;
    for (;;) {
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->stop)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        tsr_pool_run_job(p, w->index);
        if (pthread_mutex_lock(&p->mu) != 0)
            return NULL;
        if (--p->pending == 0)
            pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Stop and join the started workers, then free everything. */
static void tsr_pool_teardown(struct tsr_pool *p)
{
    if (pthread_mutex_lock(&p->mu) == 0) {
        p->stop = 1;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    for (int i = 0; i < p->n; i++) {
        if (!p->workers[i].started)
            continue;
        int rc = pthread_join(p->workers[i].tid, NULL);
        if (rc != 0)
            tsr_log_error("pthread_join of worker %d failed: %s", i, strerror(rc));
    }
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}

tsr_status_t tsr_pool_create(const tsr_topo_t *topo, const tsr_placement_t *pl, int n_threads, tsr_pool_t **out)
{
    *out = NULL;
    if (pl && (!topo || pl->n_threads < 1))
        return tsr_error_set(TSR_ERR_INTERNAL, "thread pool placement needs a topology and at least one thread");
    int n = n_threads > 0 ? n_threads : pl ? pl->n_threads : 0;
    if (n < 1)
        return tsr_error_set(TSR_ERR_USAGE, "a thread pool needs at least one thread (got %d)", n_threads);

    struct tsr_pool *p;
    TSR_ALLOC(p, 1);
    p->workers = calloc((size_t)n, sizeof *p->workers);
    if (!p->workers) {
        free(p);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory creating %d worker threads", n);
    }
    int rc = pthread_mutex_init(&p->mu, NULL);
    if (rc == 0) {
        rc = pthread_cond_init(&p->wake, NULL);
        if (rc == 0) {
            rc = pthread_cond_init(&p->done, NULL);
            if (rc != 0)
                pthread_cond_destroy(&p->wake);
        }
        if (rc != 0)
            pthread_mutex_destroy(&p->mu);
    }
    if (rc != 0) {
        free(p->workers);
        free(p);
        return tsr_error_set(TSR_ERR_NOMEM, "cannot initialise thread pool locks: %s", strerror(rc));
    }
    p->n = n;
    p->topo = topo;
    p->pl = pl;

    tsr_status_t s = TSR_OK;
    int n_started = 0;
    for (int i = 0; i < n; i++) {
        p->workers[i].pool = p;
        p->workers[i].index = i;
        rc = pthread_create(&p->workers[i].tid, NULL, tsr_pool_main, &p->workers[i]);
        if (rc != 0) {
            s = tsr_error_set(TSR_ERR_TRANSIENT,
                              "cannot start worker thread %d of %d: %s; lower --threads or raise the process limit",
                              i, n, strerror(rc));
            break;
        }
        p->workers[i].started = 1;
        n_started++;
    }
    rc = pthread_mutex_lock(&p->mu);
    if (rc == 0) {
        while (p->n_ready < n_started && rc == 0)
            rc = pthread_cond_wait(&p->done, &p->mu);
        if (rc != 0 && s == TSR_OK)
            s = tsr_error_set(TSR_ERR_INTERNAL, "waiting for the worker threads failed: %s", strerror(rc));
        if (s == TSR_OK && p->start_status != TSR_OK)
            s = tsr_error_set(p->start_status, "%s", p->start_msg);
        p->topo = NULL;
        p->pl = NULL;
        pthread_mutex_unlock(&p->mu);
    } else if (s == TSR_OK) {
        s = tsr_error_set(TSR_ERR_INTERNAL, "thread pool lock failed: %s", strerror(rc));
    }
    if (s != TSR_OK) {
        tsr_pool_teardown(p);
        return s;
    }
    tsr_log_debug("thread pool of %d worker(s) started%s", n, pl ? " and bound" : "");
    *out = p;
    return TSR_OK;
}

void tsr_pool_destroy(tsr_pool_t **pp)
{
    if (!pp || !*pp)
        return;
    tsr_pool_teardown(*pp);
    *pp = NULL;
}

int tsr_pool_size(const tsr_pool_t *p) { return p ? p->n : 0; }

tsr_status_t tsr_pool_for(tsr_pool_t *p, int64_t n, tsr_pool_fn fn, void *ctx)
{
    if (!p || !fn || n < 0)
        return tsr_error_set(TSR_ERR_INTERNAL, "tsr_pool_for called with an invalid pool, function or count");
    if (n == 0)
        return TSR_OK;
    int rc = pthread_mutex_lock(&p->mu);
    if (rc != 0)
        return tsr_error_set(TSR_ERR_INTERNAL, "thread pool lock failed: %s", strerror(rc));
    if (p->busy) {
        pthread_mutex_unlock(&p->mu);
        return tsr_error_set(TSR_ERR_INTERNAL, "tsr_pool_for called while the pool is running a job "
                                               "(from a pool task or a second thread)");
    }
    p->busy = 1;
    p->job_n = n;
    p->job_fn = fn;
    p->job_ctx = ctx;
    p->job_status = TSR_OK;
    p->job_msg[0] = '\0';
    atomic_store(&p->next, 0);
    p->pending = p->n;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    while (p->pending > 0 && rc == 0)
        rc = pthread_cond_wait(&p->done, &p->mu);
    if (rc != 0) { /* the pool stays busy: its workers may still be running this job */
        pthread_mutex_unlock(&p->mu);
        return tsr_error_set(TSR_ERR_INTERNAL, "waiting for the worker threads failed: %s", strerror(rc));
    }
    tsr_status_t s = p->job_status;
    char msg[sizeof p->job_msg];
    memcpy(msg, p->job_msg, sizeof msg);
    p->busy = 0;
    p->job_fn = NULL;
    p->job_ctx = NULL;
    pthread_mutex_unlock(&p->mu);
    if (s != TSR_OK)
        return tsr_error_set(s, "%s", msg);
    return TSR_OK;
}
