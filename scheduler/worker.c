/*
 * worker.c - the worker loop every rank runs (rank 0 beside its dispatcher
 * thread): ask for tasks, execute them, checksum their outputs, report.
 *
 * A worker keeps a window of tasks in hand (queued or asked for) so it does
 * not wait a round trip between short tasks: the window starts at 1, doubles
 * up to 2*batch while tasks finish in under TSR_FAST_TASK_S and drops back to
 * 1 after a long task, so coarse tasks are never hoarded while other workers
 * idle. Completions ride on the next request; they are sent at once when the
 * worker is about to run dry or when the last report is older than
 * TSR_REPORT_MAX_AGE_S, so dependents are released promptly.
 */
#include "scheduler/scheduler_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>

#define TSR_FAST_TASK_S 0.002
#define TSR_REPORT_MAX_AGE_S 0.005

void tsr_backoff_sleep(int *step)
{
    /* A few yields first: even the shortest nanosleep costs ~50 us of timer slack. */
    if (*step < TSR_BACKOFF_SPINS) {
        sched_yield();
        (*step)++;
        return;
    }
    int e = *step - TSR_BACKOFF_SPINS;
    long us = e >= 8 ? TSR_BACKOFF_MAX_US : (1L << e);
    if (us > TSR_BACKOFF_MAX_US)
        us = TSR_BACKOFF_MAX_US;
    struct timespec ts = {0, us * 1000L};
    nanosleep(&ts, NULL);
    if (e < 8)
        (*step)++;
}

typedef struct tsr_worker {
    MPI_Comm comm;
    const tsr_graph_t *g;
    const tsr_sched_opts_t *opts;
    tsr_exec_fn exec;
    void *ctx;
    int32_t *ring; /* (id, attempt) pairs of tasks in hand */
    int ring_cap, ring_head, ring_n;
    int32_t *rep; /* report being built */
    size_t rep_len, rep_cap;
    int n_pending; /* completions in rep */
    int asked;     /* tasks asked for and not yet received */
    int window;
    double last_send;
} tsr_worker_t;

static tsr_status_t tsr_worker_rep_reserve(tsr_worker_t *w, size_t extra)
{
    if (w->rep_len + extra <= w->rep_cap)
        return TSR_OK;
    size_t cap = w->rep_cap * 2;
    while (cap < w->rep_len + extra)
        cap *= 2;
    int32_t *r = realloc(w->rep, cap * sizeof *r);
    if (!r)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory building a task report");
    w->rep = r;
    w->rep_cap = cap;
    return TSR_OK;
}

static void tsr_worker_rep_reset(tsr_worker_t *w)
{
    memset(w->rep, 0, TSR_REPORT_HEADER * sizeof *w->rep);
    w->rep_len = TSR_REPORT_HEADER;
    w->n_pending = 0;
}

static tsr_status_t tsr_worker_send(tsr_worker_t *w, int want, int flags, int sig)
{
    w->rep[0] = want;
    w->rep[1] = flags;
    w->rep[2] = sig;
    w->rep[3] = w->n_pending;
    TSR_CALL_MPI(MPI_Send(w->rep, (int)w->rep_len, MPI_INT32_T, 0, TSR_TAG_REPORT, w->comm));
    w->asked += want;
    w->last_send = tsr_now();
    tsr_worker_rep_reset(w);
    return TSR_OK;
}

/* Run one task and append its completion to the report. */
static tsr_status_t tsr_worker_run_one(tsr_worker_t *w, int32_t id, int32_t attempt)
{
    const tsr_task_t *src = tsr_graph_task(w->g, id);
    if (!src)
        return tsr_error_set(TSR_ERR_INTERNAL, "dispatcher sent task id %d, the graph has %d tasks", id,
                             tsr_graph_size(w->g));
    tsr_task_t t = *src;
    t.attempt = attempt;
    /* per output: CRC32, SHA-256, size, mtime (TSR_OUTPUT_WORDS words) */
    int32_t words_buf[64 * TSR_OUTPUT_WORDS];
    int32_t *dig = t.n_outputs <= 64 ? words_buf : malloc((size_t)t.n_outputs * TSR_OUTPUT_WORDS * sizeof *dig);
    if (!dig)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory running task '%s'", t.key);
    double t0 = tsr_now();
    tsr_error_clear();
    tsr_status_t s = w->exec(w->ctx, &t);
    char msg[TSR_ERRMSG_MAX];
    if (s != TSR_OK)
        snprintf(msg, sizeof msg, "%s", *tsr_error_msg() ? tsr_error_msg() : tsr_status_str(s));
    for (int k = 0; s == TSR_OK && k < t.n_outputs; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", w->opts->outdir, t.outputs[k]);
        tsr_error_clear();
        uint32_t crc = 0;
        unsigned char sha[32];
        tsr_file_stat_t fst;
        if (tsr_file_digest_stat(path, &crc, sha, &fst) == TSR_OK) {
            memcpy(dig + k * TSR_OUTPUT_WORDS, &crc, 4);
            memcpy(dig + k * TSR_OUTPUT_WORDS + 1, sha, 32);
            memcpy(dig + k * TSR_OUTPUT_WORDS + 9, &fst.size, 8);
            memcpy(dig + k * TSR_OUTPUT_WORDS + 11, &fst.mtime_ns, 8);
        } else {
            s = TSR_ERR_IO;
            snprintf(msg, sizeof msg, "task '%s' succeeded but its output is unreadable: %s", t.key,
                     tsr_error_msg());
        }
    }
    tsr_error_clear();
    double dt = tsr_now() - t0;
    if (dt < TSR_FAST_TASK_S)
        w->window = w->window * 2 > 2 * w->opts->batch ? 2 * w->opts->batch : w->window * 2;
    else
        w->window = 1;
    size_t len = s == TSR_OK ? 0 : strlen(msg);
    size_t words = s == TSR_OK ? (size_t)t.n_outputs * TSR_OUTPUT_WORDS : 1 + (len + 3) / 4;
    tsr_status_t rs = tsr_worker_rep_reserve(w, 3 + words);
    if (rs == TSR_OK) {
        int32_t *p = w->rep + w->rep_len;
        p[0] = id;
        p[1] = (int32_t)s;
        p[2] = attempt;
        if (s == TSR_OK) {
            memcpy(p + 3, dig, words * sizeof *dig);
        } else {
            memset(p + 3, 0, words * sizeof *p);
            p[3] = (int32_t)len;
            memcpy(p + 4, msg, len);
        }
        w->rep_len += 3 + words;
        w->n_pending++;
    }
    if (dig != words_buf)
        free(dig);
    return rs;
}

tsr_status_t tsr_worker_loop(MPI_Comm comm, const tsr_graph_t *g, const tsr_sched_opts_t *opts, tsr_exec_fn exec,
                             void *ctx)
{
    tsr_worker_t w = {.comm = comm, .g = g, .opts = opts, .exec = exec, .ctx = ctx, .window = 1};
    int order_len = 2 + 2 * opts->batch;
    w.ring_cap = 2 * opts->batch + 1;
    w.ring = malloc((size_t)w.ring_cap * 2 * sizeof *w.ring);
    w.rep_cap = 256;
    w.rep = malloc(w.rep_cap * sizeof *w.rep);
    int32_t *order = malloc((size_t)order_len * sizeof *order);
    if (!w.ring || !w.rep || !order) {
        free(w.ring);
        free(w.rep);
        free(order);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory starting a worker");
    }
    tsr_worker_rep_reset(&w);
    MPI_Request req = MPI_REQUEST_NULL;
    tsr_status_t s = TSR_OK;
    int stop = 0, sig_sent = 0, backoff = 0;
    int rc = MPI_Irecv(order, order_len, MPI_INT32_T, 0, TSR_TAG_ORDER, comm, &req);
    if (rc != MPI_SUCCESS)
        s = tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Irecv");
    while (s == TSR_OK && !stop) {
        int activity = 0, flag = 0;
        rc = MPI_Test(&req, &flag, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            s = tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Test");
            break;
        }
        if (flag) {
            activity = 1;
            if (order[0] == TSR_ORDER_STOP) {
                stop = 1;
                break;
            }
            int n = order[1];
            for (int i = 0; i < n && w.ring_n < w.ring_cap; i++) {
                int slot = (w.ring_head + w.ring_n) % w.ring_cap;
                w.ring[2 * slot] = order[2 + 2 * i];
                w.ring[2 * slot + 1] = order[3 + 2 * i];
                w.ring_n++;
            }
            w.asked -= n;
            if (w.asked < 0)
                w.asked = 0;
            rc = MPI_Irecv(order, order_len, MPI_INT32_T, 0, TSR_TAG_ORDER, comm, &req);
            if (rc != MPI_SUCCESS) {
                s = tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Irecv");
                break;
            }
        }
        int sig = tsr_signals_pending();
        if (sig) {
            /* Start nothing new; tell the dispatcher once and wait for STOP. */
            if (!sig_sent) {
                s = tsr_worker_send(&w, 0, TSR_REPORT_SIGNAL, sig);
                sig_sent = 1;
                activity = 1;
            }
        } else if (w.ring_n > 0) {
            int32_t id = w.ring[2 * w.ring_head], attempt = w.ring[2 * w.ring_head + 1];
            w.ring_head = (w.ring_head + 1) % w.ring_cap;
            w.ring_n--;
            s = tsr_worker_run_one(&w, id, attempt);
            activity = 1;
        }
        if (s != TSR_OK || sig)
            goto idle;
        int held = w.ring_n + w.asked;
        int want = held <= w.window / 2 ? w.window - held : 0;
        if (want > 0 || (w.n_pending > 0 && (w.ring_n == 0 || tsr_now() - w.last_send > TSR_REPORT_MAX_AGE_S))) {
            s = tsr_worker_send(&w, want > 0 ? want : 0, 0, 0);
            activity = 1;
        }
    idle:
        if (activity)
            backoff = 0;
        else
            tsr_backoff_sleep(&backoff);
    }
    if (s == TSR_OK && stop)
        s = tsr_worker_send(&w, 0, TSR_REPORT_FINAL | (tsr_signals_pending() ? TSR_REPORT_SIGNAL : 0),
                            tsr_signals_pending());
    if (req != MPI_REQUEST_NULL) {
        MPI_Cancel(&req);
        MPI_Wait(&req, MPI_STATUS_IGNORE);
    }
    free(w.ring);
    free(w.rep);
    free(order);
    return s;
}
