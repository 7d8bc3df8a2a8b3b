/*
 * dispatch.c - tsr_sched_run: the dispatcher that rank 0 runs in a thread,
 * and the collective wrapper that every rank calls.
 *
 * The dispatcher owns the graph and all run state (task states, the ready
 * heap, worker credits, the journal); a worker sees only the tasks it is
 * sent, each with its type, arg, key and outputs. One loop, never
 * blocking: drain every queued REPORT (MPI_Iprobe), write the journal
 * records they produced with one write + fsync, only then release dependents
 * (so a task is never dispatched before the journal proves its inputs), hand
 * ready tasks to workers with credit, and back off from 0 to 200 us when a
 * pass finds nothing to do. A stop (graph complete, a permanent failure, a
 * signal) sends STOP to every worker and waits for their FINAL reports; the
 * outcome is then broadcast from rank 0 so every rank returns the same
 * status, counts and message.
 */
#include "scheduler/scheduler_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { TSR_T_WAIT = 0, TSR_T_READY, TSR_T_SENT, TSR_T_DONE };

typedef struct tsr_task_loc {
    uint32_t code, page, len;
} tsr_task_loc_t;

/*
 * Where packed outputs come from and who reads them (issue 18), built once from the graph and its CSR:
 * the tasks that write a packed output (producers) lie in [lo, lo + n_loc), and each task that depends on
 * a producer, directly or through a gate that depends on one, finds those dependencies (producers and such
 * gates) as runs of consecutive ids: a joint task's B call tasks are one run, not B edges. Only tasks with
 * such inputs are listed (dep, sorted), so a call task's dependency on its align gate costs nothing here.
 */
typedef struct tsr_located_index {
    int32_t lo, n_loc;       /* the producers' id range: a location each */
    int32_t n_dep;           /* tasks with located inputs */
    int32_t *dep, *dep_off;  /* their ids (ascending); their runs: run[2 * dep_off[i] ...] up to dep_off[i + 1] */
    int32_t *run;            /* pairs: first id, count */
    int64_t n_run;
} tsr_located_index_t;

/* What every rank returns; broadcast from rank 0 as bytes (same build on every rank). */
typedef struct tsr_sched_final {
    int32_t status;
    tsr_sched_result_t res;
    char msg[TSR_ERRMSG_MAX];
} tsr_sched_final_t;

typedef struct tsr_master {
    MPI_Comm comm;
    int size;
    const tsr_graph_t *g;
    const tsr_sched_opts_t *opts;
    int use_journal;
    tsr_journal_t *j;
    tsr_graph_csr_t csr;
    int32_t n;
    /* per task: 11 bytes (scheduler/SCALE.md) */
    uint8_t *state;
    int32_t *left;     /* unfinished dependencies */
    uint16_t *attempt; /* next attempt number (max_retries <= 1000) */
    int32_t *heap;
    int32_t heap_n;
    int32_t *release; /* completed tasks whose journal records are queued, not yet flushed */
    int32_t n_release, cap_release;
    int32_t *credit;
    int32_t *held;    /* per worker: tasks sent and not yet reported */
    uint8_t *final;
    int n_final;
    int32_t **obuf;   /* per worker: its ORDER being sent */
    size_t *obuf_cap; /* words */
    MPI_Request *oreq;
    tsr_task_buf_t *tb; /* the dispatcher thread's view of one task */
    int32_t *rbuf;
    int rbuf_cap;
    int32_t n_done;
    int32_t n_gates, gates_done; /* gates (tsr_graph_add_gate): counted in n and n_done, never shown as tasks */
    int stopping, rr;
    double t0, deadline, last_progress;
    double cost_left, cost_run; /* expected cost (tsr_task_t.cost) of the tasks not done, of those run here */
    /*
     * Packed outputs (opts->pack_dir, pack.c): this run's session, each producer's packed output's location
     * (12 bytes a task of [li.lo, li.lo + li.n_loc): container code, offset in TSR_PACK_ALIGN pages, length;
     * code 0 = none) and, to send a task its inputs' locations, li's runs of the producers it depends on.
     */
    uint32_t session, max_session_seen;
    int packed; /* opts->pack_dir set */
    tsr_task_loc_t *loc;
    tsr_located_index_t li;
    struct tsr_csize *csz; /* container sizes seen while replaying (tsr_master_container_size) */
    tsr_task_buf_t *tb2; /* a dependency's view while m->tb holds the task being ordered */
    char *lbuf;          /* the located pairs of the task being ordered */
    size_t lbuf_cap;
    tsr_sched_final_t out;
} tsr_master_t;

/* Task id's location slot, or NULL when id writes no packed output. */
static tsr_task_loc_t *tsr_master_loc(const tsr_master_t *m, int32_t id)
{
    return m->loc && id >= m->li.lo && id - m->li.lo < m->li.n_loc ? &m->loc[id - m->li.lo] : NULL;
}

/* ------------------------------------------------------------ ready heap */

static int tsr_heap_before(const tsr_master_t *m, int32_t a, int32_t b)
{
    double ca = tsr_graph_cost(m->g, a), cb = tsr_graph_cost(m->g, b);
    if (ca != cb)
        return ca > cb;
    return a < b;
}

static void tsr_heap_push(tsr_master_t *m, int32_t id)
{
    int32_t i = m->heap_n++;
    m->heap[i] = id;
    while (i > 0) {
        int32_t p = (i - 1) / 2;
        if (!tsr_heap_before(m, m->heap[i], m->heap[p]))
            break;
        int32_t t = m->heap[p];
        m->heap[p] = m->heap[i];
        m->heap[i] = t;
        i = p;
    }
    m->state[id] = TSR_T_READY;
}

static int32_t tsr_heap_pop(tsr_master_t *m)
{
    int32_t top = m->heap[0];
    m->heap[0] = m->heap[--m->heap_n];
    int32_t i = 0;
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, best = i;
        if (l < m->heap_n && tsr_heap_before(m, m->heap[l], m->heap[best]))
            best = l;
        if (r < m->heap_n && tsr_heap_before(m, m->heap[r], m->heap[best]))
            best = r;
        if (best == i)
            break;
        int32_t t = m->heap[best];
        m->heap[best] = m->heap[i];
        m->heap[i] = t;
        i = best;
    }
    return top;
}

/* ------------------------------------------------------------ set-up */

/*
 * May a journaled record stand for task t? Same outputs, present, unchanged: with TSR_VERIFY_STAT an
 * output whose size and mtime (ns) still match the record is trusted without reading it (*n_trusted),
 * anything else is re-read and its CRC compared (*n_reread); TSR_VERIFY_FULL re-reads every output.
 */
/*
 * Container sizes by container code, filled while the journal is replayed: a record in a container is
 * trusted on a stat of its container, and 5 M records at national scale live in a few thousand
 * containers, so each container is stat'ed once, not once per record. Open addressing, code 0 = empty
 * (a code's session is >= 1); size -1 = the container is missing.
 */
typedef struct tsr_csize {
    uint32_t *code;
    int64_t *size;
    size_t cap, n;
} tsr_csize_t;

static void tsr_csize_free(tsr_csize_t *c)
{
    if (c) {
        free(c->code);
        free(c->size);
        free(c);
    }
}

static size_t tsr_csize_slot(const tsr_csize_t *c, uint32_t code)
{
    size_t i = ((size_t)code * 0x9E3779B1u) & (c->cap - 1);
    while (c->code[i] && c->code[i] != code)
        i = (i + 1) & (c->cap - 1);
    return i;
}

/* The size of container `cont` (code `code`, relative to outdir): -1 when missing; -2 out of memory. */
static int64_t tsr_master_container_size(const tsr_master_t *m, uint32_t code, const char *cont)
{
    tsr_csize_t *c = m->csz;
    if (!c)
        return -2;
    if (2 * (c->n + 1) > c->cap) {
        tsr_csize_t g = {NULL, NULL, c->cap ? 2 * c->cap : 64, 0};
        g.code = calloc(g.cap, sizeof *g.code);
        g.size = malloc(g.cap * sizeof *g.size);
        if (!g.code || !g.size) {
            free(g.code);
            free(g.size);
            return -2;
        }
        for (size_t k = 0; k < c->cap; k++)
            if (c->code[k]) {
                size_t i = tsr_csize_slot(&g, c->code[k]);
                g.code[i] = c->code[k];
                g.size[i] = c->size[k];
                g.n++;
            }
        free(c->code);
        free(c->size);
        *c = g;
    }
    size_t i = tsr_csize_slot(c, code);
    if (!c->code[i]) {
        char path[4200];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", m->opts->outdir, cont);
        c->code[i] = code;
        c->size[i] = stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
        c->n++;
    }
    return c->size[i];
}

static int tsr_master_record_holds(const tsr_master_t *m, const tsr_task_t *t, int n_out,
                                   const char *const *outs, const uint32_t *crc, const int64_t *size,
                                   const int64_t *mtime_ns, int64_t *n_trusted, int64_t *n_reread,
                                   int64_t *bytes_reread)
{
    if (n_out != t->n_outputs)
        return 0;
    for (int k = 0; k < n_out; k++) {
        char name[TSR_TASK_STR_MAX], cont[TSR_TASK_STR_MAX];
        const char *loc = NULL;
        int64_t off = 0, len = 0;
        uint32_t code = 0;
        tsr_task_loc_t *slot = tsr_master_loc(m, t->id);
        if (slot && tsr_output_packed_split(outs[k], name, sizeof name, &loc)) {
            /* a packed output: trusted while its container holds the range (and, re-read, its CRC matches) */
            if (strcmp(name, t->outputs[k]) != 0 ||
                !tsr_location_parse(loc, cont, sizeof cont, &off, &len) ||
                !tsr_pack_container_code(m->opts->pack_dir, cont, &code) || off % TSR_PACK_ALIGN ||
                len > (int64_t)UINT32_MAX || off / TSR_PACK_ALIGN > (int64_t)UINT32_MAX)
                return 0;
            int full = m->opts->verify == TSR_VERIFY_FULL || (m->opts->verify == TSR_VERIFY_STAT && size[k] < 0);
            const int64_t have = full ? 0 : tsr_master_container_size(m, code, cont);
            if (!full && have < off + len) {
                if (have == -2)
                    tsr_log_info("task '%s': out of memory checking '%s'; running it again", t->key, loc);
                else if (have < 0)
                    tsr_log_info("task '%s': container '%s/%s' is missing; running it again", t->key,
                                 m->opts->outdir, cont);
                else
                    tsr_log_info("task '%s': container '%s/%s' is %lld bytes, shorter than %s; running it again",
                                 t->key, m->opts->outdir, cont, (long long)have, loc);
                return 0;
            }
            if (full && tsr_pack_range_check(m->opts->outdir, loc, 1, crc[k]) != TSR_OK) {
                tsr_log_info("task '%s': %s; running it again", t->key, tsr_error_msg());
                tsr_error_clear();
                return 0;
            }
            if (full) {
                (*n_reread)++;
                *bytes_reread += len;
            } else {
                (*n_trusted)++;
            }
            *slot = (tsr_task_loc_t){code, (uint32_t)(off / TSR_PACK_ALIGN), (uint32_t)len};
            continue;
        }
        if (strcmp(outs[k], t->outputs[k]) != 0)
            return 0;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", m->opts->outdir, outs[k]);
        if (m->opts->verify == TSR_VERIFY_STAT && size[k] >= 0) {
            struct stat st;
            if (stat(path, &st) != 0) {
                tsr_log_info("task '%s': output '%s' is missing; running it again", t->key, path);
                return 0;
            }
            if ((int64_t)st.st_size == size[k] &&
                (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec == mtime_ns[k]) {
                (*n_trusted)++;
                continue;
            }
        }
        if (m->opts->verify != TSR_VERIFY_EXISTS) {
            uint32_t c;
            tsr_file_stat_t fst = {0, 0};
            (*n_reread)++;
            tsr_status_t s = tsr_file_digest_stat(path, &c, NULL, &fst);
            tsr_error_clear();
            *bytes_reread += fst.size;
            if (s != TSR_OK || c != crc[k]) {
                tsr_log_info("task '%s': output '%s' is %s since the journal recorded it; running it again",
                             t->key, path, s != TSR_OK ? "missing" : "changed");
                return 0;
            }
        } else {
            struct stat st;
            if (stat(path, &st) != 0) {
                tsr_log_info("task '%s': output '%s' is missing; running it again", t->key, path);
                return 0;
            }
        }
    }
    return 1;
}

static int tsr_strptr_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Remove the temporary files a killed run left beside the outputs. The
 * journal lock is held, so no other run can be writing them.
 */
static tsr_status_t tsr_master_sweep_tmp(const tsr_master_t *m)
{
    size_t n = 0, cap = 0;
    char **dirs = NULL;
    tsr_status_t s = TSR_OK;
    for (int32_t t = 0; t < m->n && s == TSR_OK; t++) {
        const tsr_task_t *task = tsr_graph_task(m->g, t, m->tb);
        for (int k = 0; k < task->n_outputs + (t == 0 && m->opts->pack_dir) && s == TSR_OK; k++) {
            /* packed outputs are written as staged files in the pack directory only: it is swept once */
            if (k < task->n_outputs && tsr_output_is_packed(m->opts, task->outputs[k]))
                continue;
            char pd[TSR_TASK_STR_MAX + 8];
            if (k == task->n_outputs)
                snprintf(pd, sizeof pd, "%s/x", m->opts->pack_dir);
            const char *o = k < task->n_outputs ? task->outputs[k] : pd, *slash = strrchr(o, '/');
            size_t dl = slash ? (size_t)(slash - o) : 1;
            /* neighbouring tasks mostly share a directory (a unit's call tasks): one entry, not one per task */
            if (n > 0 && strlen(dirs[n - 1]) == dl && !strncmp(dirs[n - 1], slash ? o : ".", dl))
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                char **v = realloc(dirs, cap * sizeof *v);
                if (!v) {
                    s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
                    break;
                }
                dirs = v;
            }
            dirs[n] = slash ? strndup(o, (size_t)(slash - o)) : strdup(".");
            if (!dirs[n])
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
            else
                n++;
        }
    }
    if (s == TSR_OK && n > 0)
        qsort(dirs, n, sizeof *dirs, tsr_strptr_cmp);
    int64_t removed = 0;
    for (size_t i = 0; i < n && s == TSR_OK; i++) {
        if (i > 0 && !strcmp(dirs[i], dirs[i - 1]))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", m->opts->outdir, dirs[i]);
        s = tsr_output_tmp_sweep(path, &removed);
    }
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
    free(dirs);
    if (s == TSR_OK && removed > 0)
        tsr_log_info("removed %lld temporary files left by an interrupted run", (long long)removed);
    return s;
}

/* The replay's two passes over the journal (tsr_journal_open_visit, then tsr_journal_revisit). */
typedef struct tsr_replay {
    tsr_master_t *m;
    int64_t *newest; /* per task: the place of its newest record, -1 none */
    uint8_t *proven, *seen;
    int64_t n_trusted, n_reread, bytes_reread;
} tsr_replay_t;

/* Pass 1: the newest record of each key (a task run again has several; the newest wins). */
static tsr_status_t tsr_replay_newest(void *ctx, const tsr_journal_done_t *d)
{
    tsr_replay_t *r = ctx;
    tsr_task_id_t id = tsr_graph_find_buf(r->m->g, d->key, r->m->tb);
    if (id >= 0)
        r->newest[id] = d->i;
    for (int k = 0; r->m->packed && k < d->n_outputs; k++) {
        char cont[TSR_TASK_STR_MAX];
        const char *loc;
        int64_t off, len;
        uint32_t code;
        if (tsr_output_packed_split(d->outputs[k], NULL, 0, &loc) &&
            tsr_location_parse(loc, cont, sizeof cont, &off, &len) &&
            tsr_pack_container_code(r->m->opts->pack_dir, cont, &code) &&
            code >> TSR_PACK_RANK_BITS > r->m->max_session_seen)
            r->m->max_session_seen = code >> TSR_PACK_RANK_BITS;
    }
    return TSR_OK;
}

/* Pass 2: judge each task's newest record against its outputs on disk. */
static tsr_status_t tsr_replay_judge(void *ctx, const tsr_journal_done_t *d)
{
    tsr_replay_t *r = ctx;
    tsr_task_id_t id = tsr_graph_find_buf(r->m->g, d->key, r->m->tb);
    if (id < 0 || r->newest[id] != d->i)
        return TSR_OK;
    r->seen[id] = 1;
    r->proven[id] = (uint8_t)tsr_master_record_holds(r->m, tsr_graph_task(r->m->g, id, r->m->tb), d->n_outputs,
                                                     d->outputs, d->crc, d->size, d->mtime_ns, &r->n_trusted,
                                                     &r->n_reread, &r->bytes_reread);
    return TSR_OK;
}

/*
 * Which tasks the journal proves done. The journal is read twice, a line at a time, and none of it is
 * kept: rank 0 holds 10 bytes a task here (newest record, proven, seen), not the records (at 5 million
 * tasks, gigabytes of text).
 */
static tsr_status_t tsr_master_replay(tsr_master_t *m, int32_t *n_skipped)
{
    char jpath[4200];
    TSR_CALL(tsr_journal_path(m->opts->outdir, jpath, sizeof jpath));
    tsr_replay_t r = {.m = m};
    r.newest = malloc(((size_t)m->n + 1) * sizeof *r.newest);
    r.proven = calloc((size_t)m->n + 1, 1);
    r.seen = calloc((size_t)m->n + 1, 1);
    tsr_status_t s = r.newest && r.proven && r.seen ? TSR_OK
                                                    : tsr_error_set(TSR_ERR_NOMEM, "out of memory replaying the journal");
    for (int32_t t = 0; s == TSR_OK && t < m->n; t++)
        r.newest[t] = -1;
    if (s == TSR_OK)
        s = tsr_journal_open_visit(jpath, m->opts->fingerprint, tsr_replay_newest, &r, &m->j);
    if (s == TSR_OK)
        s = tsr_master_sweep_tmp(m);
    double t0 = tsr_now();
    if (s == TSR_OK)
        s = tsr_journal_revisit(m->j, tsr_replay_judge, &r);
    free(r.newest);
    if (s != TSR_OK) {
        free(r.proven);
        free(r.seen);
        return s;
    }
    uint8_t *proven = r.proven, *seen = r.seen;
    if (r.n_trusted + r.n_reread > 0)
        tsr_log_info("resume: %lld outputs trusted by size+mtime, %lld re-read (%.1f MB, %.3f s)",
                     (long long)r.n_trusted, (long long)r.n_reread, (double)r.bytes_reread / 1e6, tsr_now() - t0);
    /*
     * A task counts as done only if everything it depends on does too (its inputs are unchanged): in
     * dependency order, a task that runs again marks its dependents (seen[] = 2) as running again too.
     */
    *n_skipped = 0;
    for (int32_t k = 0; k < m->n; k++) {
        int32_t t = m->csr.order[k];
        int gate = tsr_graph_is_gate(m->g, t);
        int ok = (proven[t] || gate) && seen[t] != 2; /* a gate is done when all it waits on is */
        if (ok) {
            m->state[t] = TSR_T_DONE;
            if (gate)
                m->gates_done++;
            else
                (*n_skipped)++;
            continue;
        }
        if (proven[t])
            tsr_log_info("task '%s' runs again because a task it depends on runs again",
                         tsr_graph_task(m->g, t, m->tb)->key);
        for (int32_t e = m->csr.out_off[t]; e < m->csr.out_off[t + 1]; e++)
            seen[m->csr.out_idx[e]] = 2;
    }
    free(proven);
    free(seen);
    return TSR_OK;
}

static tsr_status_t tsr_master_write_tasks(const tsr_master_t *m)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/tasks.tsv", m->opts->outdir);
    TSR_CALL(tsr_output_tmpname(path, tmp, sizeof tmp));
    FILE *f = fopen(tmp, "w");
    if (!f)
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    for (int32_t i = 0; i < m->n; i++) {
        if (tsr_graph_is_gate(m->g, i))
            continue;
        const tsr_task_t *t = tsr_graph_task(m->g, i, m->tb);
        fprintf(f, "%d\t%d\t%s\n", t->id, t->type, t->key);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        unlink(tmp);
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return tsr_error_set(TSR_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(e));
    }
    return TSR_OK;
}

static tsr_status_t tsr_master_alloc(tsr_master_t *m)
{
    size_t n = (size_t)m->n + 1;
    m->state = calloc(n, 1);
    m->left = calloc(n, sizeof *m->left);
    m->attempt = calloc(n, sizeof *m->attempt);
    m->heap = calloc(n, sizeof *m->heap);
    m->cap_release = 1024;
    m->release = malloc((size_t)m->cap_release * sizeof *m->release);
    m->credit = calloc((size_t)m->size, sizeof *m->credit);
    m->held = calloc((size_t)m->size, sizeof *m->held);
    m->final = calloc((size_t)m->size, 1);
    m->oreq = calloc((size_t)m->size, sizeof *m->oreq);
    m->obuf = calloc((size_t)m->size, sizeof *m->obuf);
    m->obuf_cap = calloc((size_t)m->size, sizeof *m->obuf_cap);
    m->tb = malloc(sizeof *m->tb);
    m->rbuf_cap = 1024;
    m->rbuf = malloc((size_t)m->rbuf_cap * sizeof *m->rbuf);
    m->packed = m->opts->pack_dir != NULL;
    if (m->packed) {
        m->tb2 = malloc(sizeof *m->tb2);
        if (!m->tb2)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory starting the dispatcher (%d tasks)", m->n);
    }
    if (!m->state || !m->left || !m->attempt || !m->heap || !m->release || !m->credit || !m->held || !m->final ||
        !m->oreq || !m->obuf || !m->obuf_cap || !m->tb || !m->rbuf)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory starting the dispatcher (%d tasks)", m->n);
    for (int r = 0; r < m->size; r++)
        m->oreq[r] = MPI_REQUEST_NULL;
    return TSR_OK;
}

/* Per task: state (1), left (4), attempt (2), heap (4); per dependency: its place in out_idx; per task the CSR's
   out_off and order (4 each). Kept beside tsr_master_alloc and tsr_graph_csr_build so the two stay in step. */
#define TSR_MASTER_TASK_BYTES (1 + sizeof(int32_t) + sizeof(uint16_t) + sizeof(int32_t) + 2 * sizeof(int32_t))

static void tsr_located_index_free(tsr_located_index_t *x)
{
    free(x->dep);
    free(x->dep_off);
    free(x->run);
    memset(x, 0, sizeof *x);
}

static int tsr_path_under(const char *dir, const char *path)
{
    size_t l = strlen(dir);
    return l > 0 && !strncmp(path, dir, l) && path[l] == '/';
}

/*
 * Build x for graph g (its CSR c) and pack_dir. One view of every task (its outputs' names, as tasks.tsv
 * takes them) finds the producers; then, in dependency order, a gate that depends on a producer or on such a
 * gate becomes a source too; two passes over the sources' out-lists count, then fill, each dependent's runs.
 * Transient: a bit a task and 4 bytes a task (a dependent's slot), freed before returning.
 */
static tsr_status_t tsr_located_index_build(const tsr_graph_t *g, const tsr_graph_csr_t *c, const char *pack_dir,
                                            tsr_located_index_t *x)
{
    memset(x, 0, sizeof *x);
    int32_t n = tsr_graph_size(g), hi = -1;
    x->lo = n;
    uint8_t *src = calloc((size_t)n / 8 + 1, 1);
    int32_t *slot = malloc(((size_t)n + 1) * sizeof *slot);
    tsr_task_buf_t *tb = malloc(sizeof *tb);
    int32_t *last = NULL, *nrun = NULL;
    tsr_status_t s =
        src && slot && tb ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory indexing the packed outputs");
    for (int32_t t = 0; t < n && s == TSR_OK; t++) {
        slot[t] = -1;
        if (tsr_graph_is_gate(g, t))
            continue;
        const tsr_task_t *v = tsr_graph_task(g, t, tb);
        for (int k = 0; v && k < v->n_outputs; k++)
            if (tsr_path_under(pack_dir, v->outputs[k])) {
                src[t / 8] |= (uint8_t)(1u << (t % 8));
                x->lo = t < x->lo ? t : x->lo;
                hi = t;
                break;
            }
    }
    x->n_loc = hi >= x->lo ? hi - x->lo + 1 : 0;
    if (x->n_loc == 0)
        x->lo = 0;
    for (int32_t i = 0; i < n && s == TSR_OK && x->n_loc; i++) {
        int32_t d = c->order[i];
        if (!(src[d / 8] >> (d % 8) & 1))
            continue;
        for (int32_t e = c->out_off[d]; e < c->out_off[d + 1]; e++)
            if (tsr_graph_is_gate(g, c->out_idx[e]))
                src[c->out_idx[e] / 8] |= (uint8_t)(1u << (c->out_idx[e] % 8));
    }
    /* pass 1: each dependent's slot (first seen) and its number of runs */
    int32_t cap = 0;
    for (int32_t d = 0; d < n && s == TSR_OK && x->n_loc; d++) {
        if (!(src[d / 8] >> (d % 8) & 1))
            continue;
        for (int32_t e = c->out_off[d]; e < c->out_off[d + 1] && s == TSR_OK; e++) {
            int32_t t = c->out_idx[e];
            if (slot[t] < 0) {
                if (x->n_dep == cap) {
                    cap = cap ? 2 * cap : 1024;
                    int32_t *a = realloc(last, (size_t)cap * sizeof *a);
                    int32_t *b = a ? realloc(nrun, (size_t)cap * sizeof *b) : NULL;
                    if (a)
                        last = a;
                    if (b)
                        nrun = b;
                    if (!a || !b) {
                        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory indexing the packed outputs");
                        break;
                    }
                }
                slot[t] = x->n_dep++;
                last[slot[t]] = -2;
                nrun[slot[t]] = 0;
            }
            if (last[slot[t]] != d - 1)
                nrun[slot[t]]++;
            last[slot[t]] = d;
        }
    }
    /* the dependents in id order, their runs' offsets */
    if (s == TSR_OK && x->n_dep) {
        x->dep = malloc((size_t)x->n_dep * sizeof *x->dep);
        x->dep_off = malloc(((size_t)x->n_dep + 1) * sizeof *x->dep_off);
        if (!x->dep || !x->dep_off)
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory indexing the packed outputs");
    }
    if (s == TSR_OK && x->n_dep) {
        int32_t k = 0;
        x->dep_off[0] = 0;
        for (int32_t t = 0; t < n; t++)
            if (slot[t] >= 0) {
                x->dep[k] = t;
                x->dep_off[k + 1] = x->dep_off[k] + nrun[slot[t]];
                slot[t] = k++;
            }
        x->n_run = x->dep_off[x->n_dep];
        x->run = malloc((size_t)x->n_run * 2 * sizeof *x->run);
        if (!x->run)
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory indexing the packed outputs");
    }
    /* pass 2: fill the runs, each dependent's in ascending order of its dependencies */
    if (s == TSR_OK && x->n_dep) {
        int32_t *pos = malloc((size_t)x->n_dep * sizeof *pos);
        if (!pos)
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory indexing the packed outputs");
        /* slot[t] is now t's place in dep; its runs start at dep_off[slot[t]] */
        for (int32_t k = 0; pos && k < x->n_dep; k++)
            pos[k] = x->dep_off[k];
        for (int32_t d = 0; pos && d < n; d++) {
            if (!(src[d / 8] >> (d % 8) & 1))
                continue;
            for (int32_t e = c->out_off[d]; e < c->out_off[d + 1]; e++) {
                int32_t k = slot[c->out_idx[e]];
                int32_t *r = pos[k] > x->dep_off[k] ? &x->run[2 * (pos[k] - 1)] : NULL;
                if (r && r[0] + r[1] == d) {
                    r[1]++;
                } else {
                    x->run[2 * pos[k]] = d;
                    x->run[2 * pos[k] + 1] = 1;
                    pos[k]++;
                }
            }
        }
        free(pos);
    }
    free(src);
    free(slot);
    free(tb);
    free(last);
    free(nrun);
    if (s != TSR_OK)
        tsr_located_index_free(x);
    return s;
}

static size_t tsr_located_index_bytes(const tsr_located_index_t *x)
{
    return (size_t)x->n_loc * sizeof(tsr_task_loc_t) + (size_t)x->n_dep * 2 * sizeof(int32_t) + sizeof(int32_t) +
           (size_t)x->n_run * 2 * sizeof(int32_t);
}

tsr_status_t tsr_sched_master_bytes(const tsr_graph_t *g, const char *pack_dir, size_t *bytes)
{
    *bytes = 0;
    tsr_graph_csr_t c;
    TSR_CALL(tsr_graph_csr_build(g, &c));
    size_t n = (size_t)tsr_graph_size(g) + 1, edges = (size_t)c.n_edges;
    size_t b = n * TSR_MASTER_TASK_BYTES + edges * sizeof(int32_t);
    /* packed outputs: the producers' locations and the located inputs' runs (tsr_master_setup) */
    if (pack_dir) {
        tsr_located_index_t x;
        tsr_status_t s = tsr_located_index_build(g, &c, pack_dir, &x);
        if (s != TSR_OK) {
            tsr_graph_csr_free(&c);
            return s;
        }
        b += tsr_located_index_bytes(&x);
        tsr_located_index_free(&x);
    }
    tsr_graph_csr_free(&c);
    *bytes = b;
    return TSR_OK;
}

static void tsr_master_free(tsr_master_t *m)
{
    tsr_journal_close(&m->j);
    tsr_graph_csr_free(&m->csr);
    for (int r = 0; m->obuf && r < m->size; r++)
        free(m->obuf[r]);
    free(m->obuf);
    free(m->obuf_cap);
    free(m->tb);
    free(m->oreq);
    free(m->state);
    free(m->left);
    free(m->attempt);
    free(m->heap);
    free(m->release);
    free(m->credit);
    free(m->held);
    free(m->final);
    free(m->rbuf);
    free(m->loc);
    tsr_csize_free(m->csz);
    tsr_located_index_free(&m->li);
    free(m->tb2);
    free(m->lbuf);
}

/* ------------------------------------------------------------ the loop */

/* Worker r's ORDER buffer with room for `words`, once its previous ORDER has left (the buffer is free). */
static tsr_status_t tsr_master_obuf(tsr_master_t *m, int r, size_t words)
{
    if (m->oreq[r] != MPI_REQUEST_NULL)
        TSR_CALL_MPI(MPI_Wait(&m->oreq[r], MPI_STATUS_IGNORE));
    if (words <= m->obuf_cap[r])
        return TSR_OK;
    size_t cap = m->obuf_cap[r] ? m->obuf_cap[r] : 256;
    while (cap < words)
        cap *= 2;
    int32_t *b = realloc(m->obuf[r], cap * sizeof *b);
    if (!b)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory building a task order of %zu words", words);
    m->obuf[r] = b;
    m->obuf_cap[r] = cap;
    return TSR_OK;
}

static tsr_status_t tsr_master_send(tsr_master_t *m, int r, size_t len)
{
    if (len > INT32_MAX)
        return tsr_error_set(TSR_ERR_INTERNAL, "a task order of %zu words is too long", len);
    TSR_CALL_MPI(MPI_Isend(m->obuf[r], (int)len, MPI_INT32_T, r, TSR_TAG_ORDER, m->comm, &m->oreq[r]));
    return TSR_OK;
}

/*
 * Append task id (attempt `attempt`) to worker r's ORDER at word *len: TSR_ORDER_TASK_WORDS words (id,
 * attempt, type, arg as two words, cost as a float's bits, n_outputs, bytes) then the key and the outputs,
 * each NUL-terminated, packed in words (scheduler_internal.h).
 */
/* Append "NAME\0LOCATION\0" to m->lbuf at *at. */
static tsr_status_t tsr_master_lbuf_put(tsr_master_t *m, size_t *at, const char *name, const char *loc)
{
    size_t need = *at + strlen(name) + strlen(loc) + 2;
    if (need > m->lbuf_cap) {
        size_t cap = m->lbuf_cap ? m->lbuf_cap : 4096;
        while (cap < need)
            cap *= 2;
        char *b = realloc(m->lbuf, cap);
        if (!b)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory building a task order");
        m->lbuf = b;
        m->lbuf_cap = cap;
    }
    size_t l = strlen(name) + 1;
    memcpy(m->lbuf + *at, name, l);
    memcpy(m->lbuf + *at + l, loc, strlen(loc) + 1);
    *at = need;
    return TSR_OK;
}

/* The packed outputs of the tasks id depends on (through gates) into m->lbuf: *n pairs, *at bytes. */
static tsr_status_t tsr_master_located(tsr_master_t *m, int32_t id, int depth, size_t *at, int *n)
{
    int32_t a = 0, b = m->li.n_dep;
    while (a < b) { /* id's place among the tasks with located inputs */
        int32_t mid = a + (b - a) / 2;
        if (m->li.dep[mid] < id)
            a = mid + 1;
        else
            b = mid;
    }
    if (a == m->li.n_dep || m->li.dep[a] != id)
        return TSR_OK;
    for (int64_t e = 2 * (int64_t)m->li.dep_off[a]; e < 2 * (int64_t)m->li.dep_off[a + 1]; e += 2)
    for (int32_t d = m->li.run[e]; d < m->li.run[e] + m->li.run[e + 1]; d++) {
        if (tsr_graph_is_gate(m->g, d)) {
            if (depth < 4)
                TSR_CALL(tsr_master_located(m, d, depth + 1, at, n));
            continue;
        }
        const tsr_task_loc_t *l = tsr_master_loc(m, d);
        if (!l || !l->code)
            continue;
        const tsr_task_t *dt = tsr_graph_task(m->g, d, m->tb2);
        for (int k = 0; k < dt->n_outputs; k++) {
            if (!tsr_output_is_packed(m->opts, dt->outputs[k]))
                continue;
            char cont[TSR_TASK_STR_MAX], loc[TSR_TASK_STR_MAX + 48];
            tsr_pack_container_name(m->opts->pack_dir, l->code, cont, sizeof cont);
            snprintf(loc, sizeof loc, "%s@%lld+%lld", cont, (long long)l->page * TSR_PACK_ALIGN, (long long)l->len);
            TSR_CALL(tsr_master_lbuf_put(m, at, dt->outputs[k], loc));
            (*n)++;
            break; /* one packed output a task (tsr_master_completion) */
        }
    }
    return TSR_OK;
}

static tsr_status_t tsr_master_order_task(tsr_master_t *m, int r, size_t *len, int32_t id, int32_t attempt)
{
    size_t lbytes = 0;
    int n_located = 0;
    if (m->packed)
        TSR_CALL(tsr_master_located(m, id, 0, &lbytes, &n_located));
    const tsr_task_t *t = tsr_graph_task(m->g, id, m->tb);
    size_t bytes = strlen(t->key) + 1 + lbytes;
    for (int k = 0; k < t->n_outputs; k++)
        bytes += strlen(t->outputs[k]) + 1;
    size_t words = TSR_ORDER_TASK_WORDS + (bytes + 3) / 4;
    if (*len + words > m->obuf_cap[r]) {
        /* grow without waiting: this buffer is being filled, not sent */
        size_t cap = m->obuf_cap[r] * 2;
        while (cap < *len + words)
            cap *= 2;
        int32_t *b = realloc(m->obuf[r], cap * sizeof *b);
        if (!b)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory building a task order");
        m->obuf[r] = b;
        m->obuf_cap[r] = cap;
    }
    int32_t *p = m->obuf[r] + *len;
    uint64_t arg = (uint64_t)t->arg;
    float cost = (float)t->cost;
    p[0] = id;
    p[1] = attempt;
    p[2] = t->type;
    p[3] = (int32_t)(uint32_t)(arg & 0xffffffffu);
    p[4] = (int32_t)(uint32_t)(arg >> 32);
    memcpy(&p[5], &cost, 4);
    p[6] = t->n_outputs;
    p[7] = (int32_t)bytes;
    p[8] = n_located;
    p[words - 1] = 0; /* the padding after the strings */
    char *c = (char *)(p + TSR_ORDER_TASK_WORDS);
    size_t l = strlen(t->key) + 1;
    memcpy(c, t->key, l);
    c += l;
    for (int k = 0; k < t->n_outputs; k++) {
        l = strlen(t->outputs[k]) + 1;
        memcpy(c, t->outputs[k], l);
        c += l;
    }
    if (lbytes)
        memcpy(c, m->lbuf, lbytes);
    *len += words;
    return TSR_OK;
}

/* Enter the stopping state (first reason wins) and tell every worker. */
static tsr_status_t tsr_master_stop(tsr_master_t *m, tsr_status_t s, const char *msg)
{
    if (m->stopping)
        return TSR_OK;
    m->stopping = 1;
    m->out.status = (int32_t)s;
    snprintf(m->out.msg, sizeof m->out.msg, "%s", msg);
    if (s == TSR_ERR_INTERRUPTED) {
        m->out.res.interrupted = 1;
        m->deadline = tsr_now() + m->opts->grace_seconds;
        tsr_log_warn("%s; waiting up to %.0f s for running tasks", msg, m->opts->grace_seconds);
    } else if (s != TSR_OK) {
        tsr_log_debug("stopping: %s", msg);
    }
    for (int r = 0; r < m->size; r++) {
        TSR_CALL(tsr_master_obuf(m, r, 2));
        m->obuf[r][0] = TSR_ORDER_STOP;
        m->obuf[r][1] = (int32_t)s;
        TSR_CALL(tsr_master_send(m, r, 2));
    }
    return TSR_OK;
}

/* A journal write failed: stop with its message and journal nothing more. */
static tsr_status_t tsr_master_journal_failed(tsr_master_t *m)
{
    char msg[TSR_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", tsr_error_msg());
    tsr_error_clear();
    m->use_journal = 0;
    tsr_journal_close(&m->j);
    return tsr_master_stop(m, TSR_ERR_IO, msg);
}

/* Queue task id as done (its dependents are released by the next tsr_master_commit). */
static tsr_status_t tsr_master_release(tsr_master_t *m, int32_t id)
{
    if (m->n_release == m->cap_release) {
        int32_t *v = realloc(m->release, (size_t)m->cap_release * 2 * sizeof *v);
        if (!v)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory releasing task %d", id);
        m->release = v;
        m->cap_release *= 2;
    }
    m->release[m->n_release++] = id;
    return TSR_OK;
}

/*
 * Task id may run now: a task goes to the ready heap, a gate is done at once (appended to the release list
 * that tsr_master_commit is walking or will walk, so what waits on it is released in the same pass).
 */
static tsr_status_t tsr_master_ready(tsr_master_t *m, int32_t id)
{
    if (!tsr_graph_is_gate(m->g, id)) {
        tsr_heap_push(m, id);
        return TSR_OK;
    }
    m->state[id] = TSR_T_SENT;
    m->gates_done++;
    return tsr_master_release(m, id);
}

static tsr_status_t tsr_master_completion(tsr_master_t *m, int src, const int32_t *p, const int32_t *end,
                                          const int32_t **next)
{
    if (end - p < 3)
        return tsr_error_set(TSR_ERR_INTERNAL, "malformed task report (truncated completion)");
    int32_t id = p[0], st = p[1], att = p[2];
    const tsr_task_t *t = tsr_graph_task(m->g, id, m->tb);
    if (!t || m->state[id] != TSR_T_SENT)
        return tsr_error_set(TSR_ERR_INTERNAL, "task report names task %d, which was not handed out", id);
    p += 3;
    if (st == TSR_OK) {
        if ((long)(end - p) < (long)t->n_outputs * TSR_OUTPUT_WORDS)
            return tsr_error_set(TSR_ERR_INTERNAL, "malformed task report (missing checksums)");
        uint32_t crc[64];
        tsr_file_stat_t fst_buf[64];
        char dig_buf[64][TSR_DIGEST_MAX];
        const char *dptr_buf[64];
        int many = t->n_outputs > 64;
        uint32_t *crcs = many ? malloc((size_t)t->n_outputs * sizeof *crcs) : crc;
        tsr_file_stat_t *fst = many ? malloc((size_t)t->n_outputs * sizeof *fst) : fst_buf;
        char(*digs)[TSR_DIGEST_MAX] = many ? malloc((size_t)t->n_outputs * sizeof *digs) : dig_buf;
        const char **dptr = many ? malloc((size_t)t->n_outputs * sizeof *dptr) : dptr_buf;
        tsr_status_t s = TSR_OK;
        if (!crcs || !digs || !dptr || !fst)
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory recording task '%s'", t->key);
        for (int k = 0; s == TSR_OK && k < t->n_outputs; k++) {
            const int32_t *w = p + k * TSR_OUTPUT_WORDS;
            char hex[TSR_SHA256_HEX + 1];
            memcpy(&crcs[k], w, 4);
            memcpy(&fst[k].size, w + 9, 8);
            memcpy(&fst[k].mtime_ns, w + 11, 8);
            tsr_sha256_hex((const unsigned char *)(w + 1), hex);
            int run_specific = 0;
            for (const char *const *r = m->opts->run_specific; r && *r && !run_specific; r++)
                run_specific = !strcmp(*r, t->outputs[k]);
            snprintf(digs[k], TSR_DIGEST_MAX, "%ssha256:%s", run_specific ? "run" : "", hex);
            dptr[k] = digs[k];
        }
        *next = p + t->n_outputs * TSR_OUTPUT_WORDS;
        /* packed outputs: the sender's container, the offset and length it reported; journaled as "NAME LOCATION" */
        const char *jout_buf[8];
        char jout_str[2][2 * TSR_TASK_STR_MAX + 64];
        const char *const *jout = t->outputs;
        int n_packed = 0;
        for (int k = 0; s == TSR_OK && m->packed && k < t->n_outputs; k++) {
            if (!tsr_output_is_packed(m->opts, t->outputs[k])) {
                if (k < 8)
                    jout_buf[k] = t->outputs[k];
                continue;
            }
            int64_t off = fst[k].mtime_ns, len = fst[k].size;
            tsr_task_loc_t *slot = tsr_master_loc(m, id);
            if (!slot || ++n_packed > 1 || t->n_outputs > 8 || off < 0 || off % TSR_PACK_ALIGN || len <= 0 ||
                len > (int64_t)UINT32_MAX || off / TSR_PACK_ALIGN > (int64_t)UINT32_MAX) {
                s = tsr_error_set(TSR_ERR_INTERNAL, "task '%s': a packed output the dispatcher cannot record", t->key);
                break;
            }
            uint32_t code = m->session << TSR_PACK_RANK_BITS | (uint32_t)src;
            *slot = (tsr_task_loc_t){code, (uint32_t)(off / TSR_PACK_ALIGN), (uint32_t)len};
            char cont[TSR_TASK_STR_MAX];
            tsr_pack_container_name(m->opts->pack_dir, code, cont, sizeof cont);
            snprintf(jout_str[0], sizeof jout_str[0], "%s %s@%lld+%lld", t->outputs[k], cont, (long long)off,
                     (long long)len);
            jout_buf[k] = jout_str[0];
            fst[k].mtime_ns = 0;
            jout = jout_buf;
        }
        if (s == TSR_OK && m->j &&
            tsr_journal_queue_done_stat(m->j, t->key, t->n_outputs, jout, crcs, dptr, fst) != TSR_OK)
            s = tsr_master_journal_failed(m);
        if (many) {
            free(crcs);
            free(fst);
            free(digs);
            free(dptr);
        }
        m->out.res.n_executed++;
        tsr_status_t r = tsr_master_release(m, id);
        return s != TSR_OK ? s : r;
    }
    if (end - p < 1 || p[0] < 0 || end - p < 1 + (p[0] + 3) / 4)
        return tsr_error_set(TSR_ERR_INTERNAL, "malformed task report (error text)");
    char msg[TSR_ERRMSG_MAX];
    int len = p[0] < (int32_t)sizeof msg - 1 ? p[0] : (int)sizeof msg - 1;
    memcpy(msg, p + 1, (size_t)len);
    msg[len] = '\0';
    *next = p + 1 + (p[0] + 3) / 4;
    m->state[id] = TSR_T_WAIT;
    if (st == TSR_ERR_TRANSIENT && att < m->opts->max_retries && !m->stopping) {
        m->out.res.n_retried++;
        m->attempt[id] = (uint16_t)(att + 1);
        tsr_log_info("task '%s' attempt %d failed (%s); retrying", t->key, att + 1, msg);
        tsr_heap_push(m, id);
        return TSR_OK;
    }
    m->out.res.n_failed++;
    char full[TSR_ERRMSG_MAX + 320];
    if (st == TSR_ERR_TRANSIENT)
        snprintf(full, sizeof full, "%s (task '%s' failed %d times)", msg, t->key, att + 1);
    else
        snprintf(full, sizeof full, "%s", msg);
    if (m->j &&
        (tsr_journal_queue_error(m->j, t->key, (tsr_status_t)st, full) != TSR_OK || tsr_journal_flush(m->j) != TSR_OK))
        TSR_CALL(tsr_master_journal_failed(m));
    return tsr_master_stop(m, (tsr_status_t)st, full);
}

static tsr_status_t tsr_master_report(tsr_master_t *m, int src, const int32_t *msg, int len)
{
    if (len < TSR_REPORT_HEADER)
        return tsr_error_set(TSR_ERR_INTERNAL, "malformed task report from rank %d", src);
    if (!m->stopping)
        m->credit[src] += msg[0];
    if ((msg[1] & TSR_REPORT_SIGNAL) && !m->stopping) {
        char text[256];
        snprintf(text, sizeof text, "stopped by signal %d (caught on rank %d); rerun the same command to resume",
                 msg[2], src);
        TSR_CALL(tsr_master_stop(m, TSR_ERR_INTERRUPTED, text));
    }
    const int32_t *p = msg + TSR_REPORT_HEADER, *end = msg + len;
    m->held[src] = m->held[src] > msg[3] ? m->held[src] - msg[3] : 0;
    for (int i = 0; i < msg[3]; i++) {
        const int32_t *next = end;
        TSR_CALL(tsr_master_completion(m, src, p, end, &next));
        p = next;
    }
    if (msg[1] & TSR_REPORT_FINAL) {
        if (!m->final[src])
            m->n_final++;
        m->final[src] = 1;
        m->credit[src] = 0;
    }
    return TSR_OK;
}

/* Journal what arrived, then release dependents of the tasks now proven done. */
static tsr_status_t tsr_master_commit(tsr_master_t *m)
{
    if (m->j && tsr_journal_flush(m->j) != TSR_OK)
        TSR_CALL(tsr_master_journal_failed(m));
    for (int32_t i = 0; i < m->n_release; i++) {
        int32_t t = m->release[i];
        m->state[t] = TSR_T_DONE;
        m->n_done++;
        m->cost_left -= tsr_graph_cost(m->g, t);
        m->cost_run += tsr_graph_cost(m->g, t);
        for (int32_t e = m->csr.out_off[t]; e < m->csr.out_off[t + 1]; e++) {
            int32_t d = m->csr.out_idx[e];
            if (--m->left[d] == 0 && m->state[d] == TSR_T_WAIT)
                TSR_CALL(tsr_master_ready(m, d));
        }
    }
    m->n_release = 0;
    return TSR_OK;
}

/*
 * Hand ready tasks to workers with credit. When there are no more ready tasks
 * than idle workers (nothing held), they go one each to idle workers only: a
 * busy worker's window must not queue a coarse task (say the map task that a
 * millisecond index task just released) that an idle worker would start now.
 * An idle worker always asks, so a held-back task waits a round trip at most.
 */
static tsr_status_t tsr_master_dispatch(tsr_master_t *m, int *activity)
{
    int batch = m->opts->batch, idle = 0;
    for (int r = 0; r < m->size; r++)
        idle += !m->final[r] && m->held[r] == 0;
    const int scarce = m->heap_n <= idle;
    for (int k = 0; k < m->size && m->heap_n > 0; k++) {
        int r = (m->rr + k) % m->size;
        if (m->credit[r] <= 0 || m->final[r] || (scarce && m->held[r] > 0))
            continue;
        if (m->oreq[r] != MPI_REQUEST_NULL) {
            int done = 0;
            TSR_CALL_MPI(MPI_Test(&m->oreq[r], &done, MPI_STATUS_IGNORE));
            if (!done)
                continue;
        }
        int n = 0;
        size_t len = 3;
        TSR_CALL(tsr_master_obuf(m, r, 3 + TSR_ORDER_TASK_WORDS + 64));
        while (n < (scarce ? 1 : batch) && n < m->credit[r] && m->heap_n > 0) {
            int32_t id = tsr_heap_pop(m);
            m->state[id] = TSR_T_SENT;
            TSR_CALL(tsr_master_order_task(m, r, &len, id, m->attempt[id]));
            n++;
        }
        m->obuf[r][0] = TSR_ORDER_TASKS;
        m->obuf[r][1] = n;
        m->obuf[r][2] = (int32_t)m->session;
        m->credit[r] -= n;
        m->held[r] += n;
        TSR_CALL(tsr_master_send(m, r, len));
        *activity = 1;
    }
    m->rr = (m->rr + 1) % m->size;
    return TSR_OK;
}

static void tsr_master_progress(tsr_master_t *m)
{
    double now = tsr_now();
    if (m->opts->progress <= 0 || now - m->last_progress < m->opts->progress)
        return;
    m->last_progress = now;
    /*
     * The ETA weighs each task by its expected cost (tsr_task_t.cost), not by one: a run of many small tasks
     * and one large one (a region's discovery over the whole cohort) would otherwise read "ETA 0 s" while the
     * large one still runs. Costs are relative; the rate is cost done here per second.
     */
    double el = now - m->t0, rate = el > 0 ? m->out.res.n_executed / el : 0;
    double crate = el > 0 ? m->cost_run / el : 0, left = m->cost_left > 0 ? m->cost_left : 0;
    double pct = m->cost_run + left > 0 ? 100.0 * m->cost_run / (m->cost_run + left) : 100.0;
    if (crate > 0)
        tsr_log_info("%d/%d tasks done (%.0f%% of the expected cost), %.1f tasks/s, ETA %.0f s",
                     m->n_done - m->gates_done, m->n - m->n_gates, pct, rate, left / crate);
    else
        tsr_log_info("%d/%d tasks done, 0 tasks/s, ETA unknown", m->n_done - m->gates_done, m->n - m->n_gates);
}

static tsr_status_t tsr_master_loop(tsr_master_t *m)
{
    int backoff = 0;
    while (m->n_final < m->size) {
        int activity = 0;
        int sig = tsr_signals_pending();
        if (sig && !m->stopping) {
            char text[256];
            snprintf(text, sizeof text, "stopped by signal %d; rerun the same command to resume", sig);
            TSR_CALL(tsr_master_stop(m, TSR_ERR_INTERRUPTED, text));
        }
        for (;;) {
            int flag = 0;
            MPI_Status st;
            TSR_CALL_MPI(MPI_Iprobe(MPI_ANY_SOURCE, TSR_TAG_REPORT, m->comm, &flag, &st));
            if (!flag)
                break;
            int count = 0;
            TSR_CALL_MPI(MPI_Get_count(&st, MPI_INT32_T, &count));
            if (count > m->rbuf_cap) {
                int32_t *b = realloc(m->rbuf, (size_t)count * sizeof *b);
                if (!b)
                    return tsr_error_set(TSR_ERR_NOMEM, "out of memory receiving a task report");
                m->rbuf = b;
                m->rbuf_cap = count;
            }
            TSR_CALL_MPI(MPI_Recv(m->rbuf, count, MPI_INT32_T, st.MPI_SOURCE, TSR_TAG_REPORT, m->comm,
                                  MPI_STATUS_IGNORE));
            TSR_CALL(tsr_master_report(m, st.MPI_SOURCE, m->rbuf, count));
            activity = 1;
        }
        if (activity)
            TSR_CALL(tsr_master_commit(m));
        if (m->stopping && m->out.res.interrupted && m->j && tsr_now() > m->deadline) {
            tsr_log_warn("grace period of %.0f s is over with %d of %d ranks still busy; their tasks will run "
                         "again on resume",
                         m->opts->grace_seconds, m->size - m->n_final, m->size);
            m->use_journal = 0;
            tsr_journal_close(&m->j);
        }
        if (!m->stopping && m->n_done == m->n)
            TSR_CALL(tsr_master_stop(m, TSR_OK, ""));
        if (!m->stopping)
            TSR_CALL(tsr_master_dispatch(m, &activity));
        tsr_master_progress(m);
        if (activity)
            backoff = 0;
        else
            tsr_backoff_sleep(&backoff);
    }
    for (int r = 0; r < m->size; r++)
        if (m->oreq[r] != MPI_REQUEST_NULL)
            TSR_CALL_MPI(MPI_Wait(&m->oreq[r], MPI_STATUS_IGNORE));
    return TSR_OK;
}

static tsr_status_t tsr_master_setup(tsr_master_t *m)
{
    TSR_CALL(tsr_master_alloc(m));
    if (!m->g)
        return tsr_error_set(TSR_ERR_INTERNAL, "tsr_sched_run needs the task graph on rank 0");
    /* rank 0 alone holds the graph, so the cycle check is here; its verdict reaches every rank in STOP */
    TSR_CALL(tsr_graph_csr_build(m->g, &m->csr));
    TSR_CALL(tsr_mkdir_p(m->opts->outdir));
    if (m->packed) { /* the producers, their locations, the located inputs' runs */
        TSR_CALL(tsr_located_index_build(m->g, &m->csr, m->opts->pack_dir, &m->li));
        m->loc = m->li.n_loc ? calloc((size_t)m->li.n_loc, sizeof *m->loc) : NULL;
        m->csz = calloc(1, sizeof *m->csz);
        if ((m->li.n_loc && !m->loc) || !m->csz)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory starting the dispatcher (%d tasks)", m->n);
    }
    int32_t skipped = 0;
    if (m->use_journal)
        TSR_CALL(tsr_master_replay(m, &skipped));
    tsr_csize_free(m->csz); /* the replay's; the run appends to containers of its own session */
    m->csz = NULL;
    if (m->packed)
        TSR_CALL(tsr_pack_next_session(m->opts->outdir, m->opts->pack_dir, m->max_session_seen, &m->session));
    m->out.res.n_skipped = skipped;
    m->n_done = skipped + m->gates_done;
    TSR_CALL(tsr_master_write_tasks(m));
    /* only replay walks the dependency order: its 4 bytes per task are given back before the run */
    free(m->csr.order);
    m->csr.order = NULL;
    for (int32_t t = 0; t < m->n; t++) {
        if (m->state[t] == TSR_T_DONE)
            continue;
        m->cost_left += tsr_graph_cost(m->g, t);
        for (int32_t e = m->csr.out_off[t]; e < m->csr.out_off[t + 1]; e++)
            m->left[m->csr.out_idx[e]]++;
    }
    for (int32_t t = 0; t < m->n; t++)
        if (m->state[t] != TSR_T_DONE && m->left[t] == 0)
            TSR_CALL(tsr_master_ready(m, t));
    TSR_CALL(tsr_master_commit(m)); /* gates that waited on nothing left to run */
    if (skipped)
        tsr_log_info("journal proves %d of %d tasks done; %d to run", skipped, m->n - m->n_gates,
                     m->n - m->n_gates - skipped);
    return TSR_OK;
}

/*
 * A finished run's packed outputs, PACK_DIR/index.tsv: "NAME\tLOCATION" per task with one, in task order,
 * for readers that walk the outputs by name after the run (gVCF and aggregate exports, io/partition_reader.c).
 * Derived from the journal's records (a resume rewrites it), so it is neither journaled nor audited.
 */
static tsr_status_t tsr_master_write_pack_index(tsr_master_t *m)
{
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/%s/%s", m->opts->outdir, m->opts->pack_dir, TSR_PACK_INDEX_FILE);
    TSR_CALL(tsr_output_tmpname(path, tmp, sizeof tmp));
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", m->opts->outdir, m->opts->pack_dir);
    TSR_CALL(tsr_mkdir_p(dir));
    FILE *f = fopen(tmp, "w");
    if (!f)
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    for (int32_t t = m->li.lo; t < m->li.lo + m->li.n_loc; t++) {
        const tsr_task_loc_t *l = tsr_master_loc(m, t);
        if (!l->code)
            continue;
        const tsr_task_t *task = tsr_graph_task(m->g, t, m->tb);
        for (int k = 0; k < task->n_outputs; k++)
            if (tsr_output_is_packed(m->opts, task->outputs[k])) {
                char cont[TSR_TASK_STR_MAX];
                tsr_pack_container_name(m->opts->pack_dir, l->code, cont, sizeof cont);
                fprintf(f, "%s\t%s@%lld+%lld\n", task->outputs[k], cont, (long long)l->page * TSR_PACK_ALIGN,
                        (long long)l->len);
                break;
            }
    }
    return tsr_output_commit(f, tmp, path);
}

static void *tsr_master_main(void *arg)
{
    tsr_master_t *m = arg;
    tsr_error_clear();
    tsr_status_t s = tsr_master_setup(m);
    if (s != TSR_OK) {
        char msg[TSR_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", *tsr_error_msg() ? tsr_error_msg() : tsr_status_str(s));
        tsr_error_clear();
        s = m->obuf && m->obuf_cap && m->oreq ? tsr_master_stop(m, s, msg) : s;
    }
    if (s == TSR_OK || m->stopping)
        s = tsr_master_loop(m);
    if (s != TSR_OK) {
        /* The dispatcher itself broke (MPI, memory, a malformed message): workers would wait forever. */
        tsr_log_error("dispatcher failed: %s; aborting the run", *tsr_error_msg() ? tsr_error_msg() : tsr_status_str(s));
        tsr_comm_abort(m->comm, tsr_status_exit_code(s));
    }
    if (m->j && tsr_journal_flush(m->j) != TSR_OK && m->out.status == TSR_OK) {
        m->out.status = TSR_ERR_IO;
        snprintf(m->out.msg, sizeof m->out.msg, "%s", tsr_error_msg());
    }
    int32_t n_loc = 0; /* a run with no packed output (tessera align) writes no index */
    for (int32_t t = 0; m->loc && t < m->li.n_loc && !n_loc; t++)
        n_loc += m->loc[t].code != 0;
    if (m->out.status == TSR_OK && n_loc && m->n_done == m->n && tsr_master_write_pack_index(m) != TSR_OK) {
        m->out.status = TSR_ERR_IO;
        snprintf(m->out.msg, sizeof m->out.msg, "%s", tsr_error_msg());
    }
    m->out.res.n_tasks = m->n - m->n_gates;
    m->out.res.seconds = tsr_now() - m->t0;
    return NULL;
}

/* ------------------------------------------------------------ public */

void tsr_sched_opts_init(tsr_sched_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->max_retries = 2;
    o->grace_seconds = 60;
    o->batch = 4;
    o->progress = 10;
    o->verify = TSR_VERIFY_STAT;
}

tsr_status_t tsr_sched_opts_check(const tsr_sched_opts_t *o)
{
    if (!o->outdir || !*o->outdir)
        return tsr_error_set(TSR_ERR_USAGE, "the scheduler needs an output directory (--out)");
    if (!o->fingerprint || !*o->fingerprint || tsr_has_separator(o->fingerprint) || strlen(o->fingerprint) > 200)
        return tsr_error_set(TSR_ERR_INTERNAL, "run fingerprint is empty, longer than 200 characters or has a tab");
    if (o->max_retries < 0 || o->max_retries > 1000)
        return tsr_error_set(TSR_ERR_USAGE, "--max-retries must be in 0..1000 (got %d)", o->max_retries);
    if (!(o->grace_seconds >= 0))
        return tsr_error_set(TSR_ERR_USAGE, "--grace-seconds must be >= 0 (got %g)", o->grace_seconds);
    if (o->batch < 1 || o->batch > 4096)
        return tsr_error_set(TSR_ERR_USAGE, "--batch must be in 1..4096 (got %d)", o->batch);
    if (o->progress < 0)
        return tsr_error_set(TSR_ERR_USAGE, "--progress must be >= 0 seconds (got %d)", o->progress);
    if (o->verify != TSR_VERIFY_EXISTS && o->verify != TSR_VERIFY_STAT && o->verify != TSR_VERIFY_FULL)
        return tsr_error_set(TSR_ERR_USAGE, "--verify-outputs must be full or stat (got %d)", o->verify);
    return TSR_OK;
}

static tsr_status_t tsr_sched_run_on(MPI_Comm comm, const tsr_graph_t *g, const tsr_sched_opts_t *opts,
                                     int journal, tsr_exec_fn exec, void *ctx, tsr_sched_result_t *res)
{
    int rank, size;
    TSR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    TSR_CALL_MPI(MPI_Comm_size(comm, &size));
    /* Every rank has the same options, so every rank reaches the same verdict here without talking. */
    TSR_CALL(tsr_sched_opts_check(opts));
    if (!exec)
        return tsr_error_set(TSR_ERR_INTERNAL, "tsr_sched_run needs an executor function");

    tsr_master_t *m = NULL;
    pthread_t thread;
    int started = 0;
    tsr_status_t s = TSR_OK;
    if (rank == 0) {
        m = calloc(1, sizeof *m);
        if (!m)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory starting the dispatcher");
        m->comm = comm;
        m->size = size;
        m->g = g;
        m->n = tsr_graph_size(g); /* 0 without a graph: the set-up then stops every rank with its error */
        for (int32_t t = 0; t < m->n; t++)
            m->n_gates += tsr_graph_is_gate(g, t);
        m->opts = opts;
        m->use_journal = journal;
        m->t0 = m->last_progress = tsr_now();
        int rc = pthread_create(&thread, NULL, tsr_master_main, m);
        if (rc != 0)
            s = tsr_error_set(TSR_ERR_INTERNAL, "cannot start the dispatcher thread: %s", strerror(rc));
        else
            started = 1;
    }
    if (s == TSR_OK)
        s = tsr_worker_loop(comm, opts, exec, ctx);
    if (s != TSR_OK) {
        /* This rank can no longer take part; the others would wait forever. */
        tsr_log_error("worker failed: %s; aborting the run", tsr_error_msg());
        tsr_comm_abort(comm, tsr_status_exit_code(s));
        return s;
    }
    tsr_sched_final_t fin;
    memset(&fin, 0, sizeof fin);
    if (rank == 0) {
        if (started)
            pthread_join(thread, NULL);
        fin = m->out;
        tsr_master_free(m);
        free(m);
    }
    TSR_CALL_MPI(MPI_Bcast(&fin, (int)sizeof fin, MPI_BYTE, 0, comm));
    fin.msg[sizeof fin.msg - 1] = '\0';
    if (res)
        *res = fin.res;
    tsr_error_clear();
    if (fin.status != TSR_OK)
        return tsr_error_set((tsr_status_t)fin.status, "%s", fin.msg);
    return TSR_OK;
}

tsr_status_t tsr_sched_run_journal(MPI_Comm comm, const tsr_graph_t *g, const tsr_sched_opts_t *opts, int journal,
                                   tsr_exec_fn exec, void *ctx, tsr_sched_result_t *res)
{
    if (res)
        memset(res, 0, sizeof *res);
    MPI_Comm dup;
    TSR_CALL_MPI(MPI_Comm_dup(comm, &dup));
    tsr_status_t s;
    int rc = MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
    if (rc != MPI_SUCCESS)
        s = tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Comm_set_errhandler");
    else
        s = tsr_sched_run_on(dup, g, opts, journal, exec, ctx, res);
    MPI_Comm_free(&dup);
    return s;
}

tsr_status_t tsr_sched_run(MPI_Comm comm, const tsr_graph_t *g, const tsr_sched_opts_t *opts, tsr_exec_fn exec,
                           void *ctx, tsr_sched_result_t *res)
{
    return tsr_sched_run_journal(comm, g, opts, 1, exec, ctx, res);
}
