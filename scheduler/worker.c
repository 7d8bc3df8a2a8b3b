/*
 * worker.c - the worker loop every rank runs (rank 0 beside its dispatcher
 * thread): ask for tasks, execute them, checksum their outputs, report.
 * A worker holds no task graph: each task arrives whole in an ORDER (its
 * type, arg, key and outputs) and is freed once reported.
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
    if (e >= 8 + TSR_BACKOFF_LONG_AFTER)
        us = TSR_BACKOFF_LONG_US;
    struct timespec ts = {0, us * 1000L};
    nanosleep(&ts, NULL);
    if (e < 8 + TSR_BACKOFF_LONG_AFTER)
        (*step)++;
}

/* A task in hand, as its ORDER described it: one allocation, the strings after the output list. */
typedef struct tsr_worker_task {
    tsr_task_t task;
    const char *outp[]; /* task.n_outputs pointers, then the key and outputs' bytes */
} tsr_worker_task_t;

typedef struct tsr_worker {
    MPI_Comm comm;
    const tsr_sched_opts_t *opts;
    tsr_exec_fn exec;
    void *ctx;
    tsr_worker_task_t **ring; /* tasks in hand */
    int ring_cap, ring_head, ring_n;
    int32_t *rep; /* report being built */
    size_t rep_len, rep_cap;
    int n_pending; /* completions in rep */
    int asked;     /* tasks asked for and not yet received */
    int window;
    double last_send;
    int rank;
    uint32_t session; /* this run's, from the ORDERs (packed outputs) */
    tsr_pack_t pack;  /* this rank's container, opened at its first packed output */
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

/*
 * Decode the task at words p[0 .. avail) of an ORDER into a new allocation (*out; free()); *used is its
 * length in words. A malformed task is TSR_ERR_INTERNAL.
 */
static tsr_status_t tsr_worker_task_decode(const int32_t *p, size_t avail, tsr_worker_task_t **out, size_t *used)
{
    *out = NULL;
    if (avail < TSR_ORDER_TASK_WORDS || p[6] < 0 || p[6] > 1 << 20 || p[7] < 1 || p[8] < 0 || p[8] > 1 << 24 ||
        (size_t)(p[7] + 3) / 4 > avail - TSR_ORDER_TASK_WORDS)
        return tsr_error_set(TSR_ERR_INTERNAL, "malformed task order (truncated task)");
    int n_outputs = p[6], n_located = p[8];
    size_t bytes = (size_t)p[7];
    const char *src = (const char *)(p + TSR_ORDER_TASK_WORDS);
    int strings = 0;
    for (size_t i = 0; i < bytes; i++)
        strings += src[i] == '\0';
    if (strings != 1 + n_outputs + 2 * n_located || src[bytes - 1] != '\0')
        return tsr_error_set(TSR_ERR_INTERNAL, "malformed task order (task %d: %d strings for %d outputs)", p[0],
                             strings, n_outputs);
    size_t n_ptr = (size_t)n_outputs + 2 * (size_t)n_located;
    tsr_worker_task_t *wt = malloc(sizeof *wt + n_ptr * sizeof(char *) + bytes);
    if (!wt)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory receiving task %d", p[0]);
    char *c = (char *)(wt->outp + n_ptr);
    memcpy(c, src, bytes);
    uint64_t arg = (uint64_t)(uint32_t)p[3] | (uint64_t)(uint32_t)p[4] << 32;
    float cost;
    memcpy(&cost, &p[5], 4);
    wt->task = (tsr_task_t){.id = p[0], .attempt = p[1], .type = p[2], .arg = (int64_t)arg, .cost = cost,
                            .n_outputs = n_outputs, .outputs = wt->outp, .key = c,
                            .n_located = n_located, .located = wt->outp + n_outputs};
    for (size_t k = 0; k < n_ptr; k++) {
        c += strlen(c) + 1;
        wt->outp[k] = c;
    }
    *out = wt;
    *used = TSR_ORDER_TASK_WORDS + (bytes + 3) / 4;
    return TSR_OK;
}

const char *tsr_task_located(const tsr_task_t *t, const char *name, int *hint)
{
    const int n = t->n_located, i0 = hint && *hint > 0 && *hint < n ? *hint : 0;
    for (int k = 0; k < n; k++) {
        const int i = (i0 + k) % n;
        if (!strcmp(t->located[2 * i], name)) {
            if (hint)
                *hint = i + 1;
            return t->located[2 * i + 1];
        }
    }
    return NULL;
}

/*
 * Packed outputs (opts->pack_dir): the executor writes staging files instead (stage[k], relative to outdir),
 * which tsr_worker_run_one appends to this rank's container. *n_packed = how many outputs are packed.
 */
static tsr_status_t tsr_worker_stage(tsr_worker_t *w, const tsr_task_t *t, const char **outp,
                                     char (*stage)[96], int *n_packed)
{
    *n_packed = 0;
    for (int k = 0; k < t->n_outputs; k++) {
        outp[k] = t->outputs[k];
        if (!tsr_output_is_packed(w->opts, t->outputs[k]))
            continue;
        if (w->session == 0 || strlen(w->opts->pack_dir) > 40)
            return tsr_error_set(TSR_ERR_INTERNAL, "task '%s': packed output without a session", t->key);
        snprintf(stage[k], 96, "%s/r%06d.s%04u.k%d.stage", w->opts->pack_dir, w->rank, (unsigned)w->session, k);
        outp[k] = stage[k];
        (*n_packed)++;
    }
    return TSR_OK;
}

/* Run one task and append its completion to the report. */
static tsr_status_t tsr_worker_run_one(tsr_worker_t *w, const tsr_task_t *src)
{
    tsr_task_t t = *src;
    int32_t id = t.id, attempt = t.attempt;
    /* per output: CRC32, SHA-256, size, mtime (TSR_OUTPUT_WORDS words) */
    int32_t words_buf[64 * TSR_OUTPUT_WORDS];
    int32_t *dig = t.n_outputs <= 64 ? words_buf : malloc((size_t)t.n_outputs * TSR_OUTPUT_WORDS * sizeof *dig);
    if (!dig)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory running task '%s'", t.key);
    double t0 = tsr_now();
    tsr_error_clear();
    const char *outp_buf[8];
    char stage_buf[8][96];
    int n_packed = 0;
    tsr_status_t s = TSR_OK;
    if (w->opts->pack_dir && t.n_outputs <= 8) {
        s = tsr_worker_stage(w, src, outp_buf, stage_buf, &n_packed);
        if (n_packed)
            t.outputs = outp_buf;
    } else if (w->opts->pack_dir) {
        for (int k = 0; k < t.n_outputs && s == TSR_OK; k++)
            if (tsr_output_is_packed(w->opts, t.outputs[k]))
                s = tsr_error_set(TSR_ERR_INTERNAL, "task '%s': packed outputs of a task with more than 8 outputs",
                                  t.key);
    }
    if (s == TSR_OK)
        s = w->exec(w->ctx, &t);
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
        tsr_status_t ds;
        if (n_packed && t.outputs[k] != src->outputs[k]) {
            /* staged: append to this rank's container; "size" is the image's length, "mtime" its offset */
            int64_t off = 0, len = 0;
            ds = tsr_pack_append(&w->pack, w->opts->outdir, w->opts->pack_dir,
                                 w->session << TSR_PACK_RANK_BITS | (uint32_t)w->rank, path, &off, &len, &crc, sha);
            fst.size = len;
            fst.mtime_ns = off;
        } else {
            ds = tsr_file_digest_stat(path, &crc, sha, &fst);
        }
        if (ds == TSR_OK) {
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

/* Receive the ORDER waiting from rank 0 (*got = 0 when none) into the worker's growable buffer. */
static tsr_status_t tsr_worker_recv(tsr_worker_t *w, int32_t **buf, size_t *cap, int *len, int *got)
{
    MPI_Status st;
    *got = 0;
    TSR_CALL_MPI(MPI_Iprobe(0, TSR_TAG_ORDER, w->comm, got, &st));
    if (!*got)
        return TSR_OK;
    TSR_CALL_MPI(MPI_Get_count(&st, MPI_INT32_T, len));
    if ((size_t)*len > *cap) {
        int32_t *b = realloc(*buf, (size_t)*len * sizeof *b);
        if (!b)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory receiving a task order of %d words", *len);
        *buf = b;
        *cap = (size_t)*len;
    }
    TSR_CALL_MPI(MPI_Recv(*buf, *len, MPI_INT32_T, 0, TSR_TAG_ORDER, w->comm, MPI_STATUS_IGNORE));
    if (*len < 2 || ((*buf)[0] != TSR_ORDER_STOP && (*buf)[0] != TSR_ORDER_TASKS))
        return tsr_error_set(TSR_ERR_INTERNAL, "malformed task order (%d words)", *len);
    return TSR_OK;
}

/* Queue the tasks of a TASKS order in the ring. */
static tsr_status_t tsr_worker_take(tsr_worker_t *w, const int32_t *order, int len)
{
    int n = order[1];
    size_t at = 3;
    if (len < 3)
        return tsr_error_set(TSR_ERR_INTERNAL, "malformed task order (%d words)", len);
    w->session = (uint32_t)order[2];
    for (int i = 0; i < n; i++) {
        tsr_worker_task_t *wt = NULL;
        size_t used = 0;
        TSR_CALL(tsr_worker_task_decode(order + at, (size_t)len - at, &wt, &used));
        at += used;
        if (w->ring_n == w->ring_cap) { /* never: the dispatcher sends no more than asked for */
            free(wt);
            return tsr_error_set(TSR_ERR_INTERNAL, "the dispatcher sent more tasks than this worker asked for");
        }
        w->ring[(w->ring_head + w->ring_n) % w->ring_cap] = wt;
        w->ring_n++;
    }
    w->asked -= n;
    if (w->asked < 0)
        w->asked = 0;
    return TSR_OK;
}

tsr_status_t tsr_worker_loop(MPI_Comm comm, const tsr_sched_opts_t *opts, tsr_exec_fn exec, void *ctx)
{
    tsr_worker_t w = {.comm = comm, .opts = opts, .exec = exec, .ctx = ctx, .window = 1, .pack = {.fd = -1}};
    TSR_CALL_MPI(MPI_Comm_rank(comm, &w.rank));
    if (w.rank > 999999 && opts->pack_dir) /* rRRRRR: six digits */
        return tsr_error_set(TSR_ERR_USAGE, "packed outputs (evidence containers) name at most 1,000,000 ranks; "
                             "use --evidence-layout files");
    w.ring_cap = 2 * opts->batch + 1;
    w.ring = calloc((size_t)w.ring_cap, sizeof *w.ring);
    w.rep_cap = 256;
    w.rep = malloc(w.rep_cap * sizeof *w.rep);
    size_t order_cap = 256;
    int32_t *order = malloc(order_cap * sizeof *order);
    if (!w.ring || !w.rep || !order) {
        free(w.ring);
        free(w.rep);
        free(order);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory starting a worker");
    }
    tsr_worker_rep_reset(&w);
    tsr_status_t s = TSR_OK;
    int stop = 0, sig_sent = 0, backoff = 0;
    while (s == TSR_OK && !stop) {
        int activity = 0, flag = 0, len = 0;
        s = tsr_worker_recv(&w, &order, &order_cap, &len, &flag);
        if (s != TSR_OK)
            break;
        if (flag) {
            activity = 1;
            if (order[0] == TSR_ORDER_STOP) {
                stop = 1;
                break;
            }
            if ((s = tsr_worker_take(&w, order, len)) != TSR_OK)
                break;
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
            tsr_worker_task_t *wt = w.ring[w.ring_head];
            w.ring[w.ring_head] = NULL;
            w.ring_head = (w.ring_head + 1) % w.ring_cap;
            w.ring_n--;
            s = tsr_worker_run_one(&w, &wt->task);
            free(wt);
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
    for (int i = 0; i < w.ring_cap; i++)
        free(w.ring[i]); /* tasks dropped at STOP */
    free(w.ring);
    free(w.rep);
    free(order);
    tsr_pack_close(&w.pack);
    return s;
}
