/*
 * scheduler_internal.h - private to scheduler/ (and its tests and benchmark):
 * the graph's lookup helpers, the journal's batched append, the wire format
 * of dispatcher <-> worker messages, and the run entry point that can switch
 * the journal off (benchmark only).
 */
#ifndef TSR_SCHEDULER_INTERNAL_H
#define TSR_SCHEDULER_INTERNAL_H

#include "scheduler/scheduler.h"

#include <stdint.h>

/* ------------------------------------------------------------- task graph */

/* Id of the task with this key, or -1 (also when out of memory); _buf generates family keys into buf. */
tsr_task_id_t tsr_graph_find(const tsr_graph_t *g, const char *key);
tsr_task_id_t tsr_graph_find_buf(const tsr_graph_t *g, const char *key, tsr_task_buf_t *buf);
/* A task's cost without building its view (id in range). */
double tsr_graph_cost(const tsr_graph_t *g, tsr_task_id_t id);

/*
 * What the dispatcher needs of the dependencies, built once per run: the
 * tasks that depend on task t are out_idx[out_off[t] .. out_off[t+1]),
 * duplicates removed (the graph keeps the (task, dep) pairs themselves).
 * Freed with tsr_graph_csr_free().
 */
typedef struct tsr_graph_csr {
    int32_t n;
    int64_t n_edges;            /* distinct dependencies */
    int32_t *out_off, *out_idx; /* task -> tasks that depend on it */
    int32_t *order;             /* every task once, dependencies before dependents */
} tsr_graph_csr_t;

/*
 * Build the CSR and check the graph is acyclic (Kahn's algorithm); a cycle is
 * TSR_ERR_INTERNAL with a message naming one task on it. Not collective, and
 * deterministic: every rank reaches the same verdict on the same graph.
 */
tsr_status_t tsr_graph_csr_build(const tsr_graph_t *g, tsr_graph_csr_t *csr) TSR_RESULT_USED;
void tsr_graph_csr_free(tsr_graph_csr_t *csr);

/* 1 if s contains a tab, newline or carriage return (forbidden in keys, paths, fingerprints). */
int tsr_has_separator(const char *s);

/* ---------------------------------------------------------------- journal */

/*
 * Buffer a record without writing it; tsr_journal_flush() writes every
 * buffered record with one write(2) and one fsync(2). The public append_*
 * functions are queue + flush.
 */
tsr_status_t tsr_journal_queue_done(tsr_journal_t *j, const char *key, int n_outputs,
                                    const char *const *outputs, const uint32_t *crc,
                                    const char *const *digest) TSR_RESULT_USED;
/*
 * Check a line's own checksum and split it (in place) into its fields, the
 * checksum excluded; -1 when the checksum or layout is wrong.
 */
int tsr_journal_split(char *line, size_t n, char **f, int maxf);
/* Is a split record (D, E or H, ending with its link) well formed? */
int tsr_journal_rec_valid(char **f, int nf);
tsr_status_t tsr_journal_queue_error(tsr_journal_t *j, const char *key, tsr_status_t s,
                                     const char *msg) TSR_RESULT_USED;
tsr_status_t tsr_journal_flush(tsr_journal_t *j) TSR_RESULT_USED;

#define TSR_JOURNAL_MAGIC "TSRJ"
#define TSR_JOURNAL_VERSION 3     /* 2: SHA-256 digests and the hash chain; 3: + each output's size and mtime */
#define TSR_JOURNAL_VERSION_MIN 2 /* the oldest format still read (and appended to in its own format) */
/* Is the header's version text one this tessera reads? */
int tsr_journal_version_readable(const char *v);

/* An output's size and mtime (ns since the epoch) when it was checksummed. */
typedef struct tsr_file_stat {
    int64_t size, mtime_ns;
} tsr_file_stat_t;
/* tsr_file_digest, plus the fstat of the file read (after reading it) into *fst (NULL: none). */
tsr_status_t tsr_file_digest_stat(const char *path, uint32_t *crc, unsigned char sha[32],
                                  tsr_file_stat_t *fst) TSR_RESULT_USED;
/*
 * tsr_journal_queue_done, with each output's stat (`fst`, n_outputs entries; NULL: none) recorded beside
 * its CRC ("<crc>:<size>:<mtime_ns>") when the journal's format is 3 or later.
 */
tsr_status_t tsr_journal_queue_done_stat(tsr_journal_t *j, const char *key, int n_outputs,
                                         const char *const *outputs, const uint32_t *crc,
                                         const char *const *digest, const tsr_file_stat_t *fst) TSR_RESULT_USED;
/* Record i's outputs' recorded sizes and mtimes (ns), -1 where not recorded (owned by the journal). */
void tsr_journal_stats_at(const tsr_journal_t *j, int i, const int64_t **size, const int64_t **mtime_ns);

/* ------------------------------------------------------ message protocol */

/*
 * All messages are arrays of int32 on the scheduler's private duplicate of
 * the caller's communicator. Rank 0's dispatcher thread receives REPORT from
 * every rank (its own worker included) and sends ORDER; each worker receives
 * ORDER from rank 0 only. Distinct tags keep the two directions apart on
 * rank 0, where both threads share the communicator.
 *
 * REPORT (worker -> dispatcher):
 *   [0] want     more tasks the worker asks for (added to its credit)
 *   [1] flags    TSR_REPORT_SIGNAL: this rank caught a stop signal;
 *                TSR_REPORT_FINAL: last message of this worker (after STOP)
 *   [2] signal   the signal number when flagged
 *   [3] n        completions that follow, each:
 *        id, status, attempt,
 *        status == OK:  per output of the task, its CRC32 (bits as int32),
 *                       its SHA-256 (32 bytes in 8 words), its size and its
 *                       mtime in ns (int64 each, 2 words): TSR_OUTPUT_WORDS
 *        status != OK:  len, then ceil(len/4) words of message text
 *
 * ORDER (dispatcher -> worker; variable length, received after a probe):
 *   TASKS: [TSR_ORDER_TASKS, n, session] then n tasks, each
 *          id, attempt, type, arg (low 32 bits), arg (high 32 bits),
 *          cost (a float's bits), n_outputs, bytes, n_located
 *                                                       (TSR_ORDER_TASK_WORDS)
 *          then `bytes` bytes in ceil(bytes/4) words: the key, the
 *          n_outputs output paths, then n_located (name, location) pairs of
 *          its dependencies' packed outputs, each NUL-terminated, zero
 *          padding. `session` names this run's containers (pack.c).
 *          A packed output's completion carries its length as the size
 *          and its offset in the sender's container as the mtime.
 *   STOP:  [TSR_ORDER_STOP, status]  finish the running task, report, leave
 *
 * A worker therefore needs no graph: everything the executor sees of a task
 * (tsr_task_t) travels in its ORDER, ~100-200 bytes for a pipeline task.
 *
 * Flow control: the dispatcher keeps a credit per worker (sum of `want`
 * minus tasks sent) and sends at most `batch` tasks per ORDER. A worker
 * keeps a window of tasks in hand that starts at 1 and doubles up to
 * 2*batch while tasks are short (so zero-work tasks never wait on a round
 * trip), and falls back to 1 when a task takes long (so coarse tasks are not
 * hoarded by one worker while others idle).
 */
enum { TSR_OUTPUT_WORDS = 13, TSR_ORDER_TASK_WORDS = 9 };

enum {
    TSR_TAG_REPORT = 7101,
    TSR_TAG_ORDER = 7102
};

enum {
    TSR_REPORT_SIGNAL = 1,
    TSR_REPORT_FINAL = 2
};

enum {
    TSR_ORDER_TASKS = 1,
    TSR_ORDER_STOP = 2
};

#define TSR_REPORT_HEADER 4
#define TSR_ERRMSG_MAX 1024

/*
 * Idle back-off of the polling loops: TSR_BACKOFF_SPINS sched_yield() calls,
 * then sleeps of 1, 2, 4 ... up to TSR_BACKOFF_MAX_US microseconds, and after
 * TSR_BACKOFF_LONG_AFTER sleeps at that cap (about 0.2 s without a message:
 * the tasks in flight are long) sleeps of TSR_BACKOFF_LONG_US. A report is
 * then seen up to 2 ms late, against tasks of 0.2 s or more, and an idle
 * dispatcher wakes 500 times a second instead of 5,000 (at one rank its
 * polling was ~5% of a core during a long run's call stage). The caller
 * keeps the step (0 after any activity).
 */
#define TSR_BACKOFF_SPINS 64
#define TSR_BACKOFF_MAX_US 200
#define TSR_BACKOFF_LONG_AFTER 1000
#define TSR_BACKOFF_LONG_US 2000

void tsr_backoff_sleep(int *step);

/* ------------------------------------------------------------- dispatch */

/* A worker's side of a run (worker.c); returns when told to stop. */
tsr_status_t tsr_worker_loop(MPI_Comm comm, const tsr_sched_opts_t *opts, tsr_exec_fn exec,
                             void *ctx) TSR_RESULT_USED;

/*
 * tsr_sched_run with the journal switched on or off. `journal` = 0 keeps
 * nothing on disk except tasks.tsv (dispatch benchmark only; a run without a
 * journal cannot resume).
 */
tsr_status_t tsr_sched_run_journal(MPI_Comm comm, const tsr_graph_t *g, const tsr_sched_opts_t *opts,
                                   int journal, tsr_exec_fn exec, void *ctx,
                                   tsr_sched_result_t *res) TSR_RESULT_USED;

/* ------------------------------------------------------- packed outputs (pack.c) */

#define TSR_PACK_ALIGN 4096      /* every image starts at a multiple of this in its container */
#define TSR_PACK_RANK_BITS 20    /* a container's code: session << TSR_PACK_RANK_BITS | rank */
#define TSR_PACK_RANK_MASK ((1u << TSR_PACK_RANK_BITS) - 1)

/* A worker's container for this session, created at its first append (fd -1 until then). */
typedef struct tsr_pack {
    int fd;
    int64_t end;
    char path[4200];
} tsr_pack_t;

/* Is `output` (relative to outdir) under opts->pack_dir? */
int tsr_output_is_packed(const tsr_sched_opts_t *o, const char *output);
/* PACK_DIR/sSSSS/rRRRRR.pack of a container code; and back (0 when `container` is no such name). */
void tsr_pack_container_name(const char *pack_dir, uint32_t code, char *buf, size_t len);
int tsr_pack_container_code(const char *pack_dir, const char *container, uint32_t *code);
/*
 * Append the file `src` to p's container (created on first use as outdir/pack_dir/rRRRRR.sSSSS.pack from
 * `code`, O_EXCL) at the next TSR_PACK_ALIGN offset, fsync, remove `src`; *off, *len, *crc and sha describe
 * the bytes appended. Not collective.
 */
tsr_status_t tsr_pack_append(tsr_pack_t *p, const char *outdir, const char *pack_dir, uint32_t code,
                             const char *src, int64_t *off, int64_t *len, uint32_t *crc,
                             unsigned char sha[32]) TSR_RESULT_USED;
void tsr_pack_close(tsr_pack_t *p);
/*
 * A location's container is there and holds its range (full: and the range's CRC32 is want_crc).
 * TSR_ERR_IO with a message saying what is wrong otherwise.
 */
tsr_status_t tsr_pack_range_check(const char *outdir, const char *location, int full,
                                  uint32_t want_crc) TSR_RESULT_USED;
/*
 * This run's session: one more than `floor` and than any session of a container or staged file in
 * outdir/pack_dir; staged files a killed run left there are removed. Master only, before dispatching.
 */
tsr_status_t tsr_pack_next_session(const char *outdir, const char *pack_dir, uint32_t floor,
                                   uint32_t *session) TSR_RESULT_USED;

#endif /* TSR_SCHEDULER_INTERNAL_H */
