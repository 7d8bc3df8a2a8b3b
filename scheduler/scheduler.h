/*
 * scheduler.h - the task graph, the dynamic master/worker dispatcher and the
 * journal that makes runs resumable.
 *
 * Design. Rank 0 alone holds the task graph, built from the plan (which
 * depends on the inputs and options only, never on the rank count). Rank 0
 * runs a dispatcher thread beside its own worker; every rank runs one worker
 * loop that asks for tasks, receives each task's type, arg, key and outputs
 * in the dispatcher's message (so no worker keeps a graph), executes it
 * through a caller-supplied function, computes the CRC32 of each output and
 * reports back. The dispatcher hands out ready tasks longest (highest cost)
 * first, several per message when workers ask for more, and is the only
 * writer of the journal: an append-only, fsync'ed text file of completed tasks
 * with their outputs' checksums. A rerun verifies journaled outputs and skips
 * them; a journal with a different fingerprint is refused. Tasks of a family
 * (tsr_task_family_t) store no strings: their key and outputs are generated
 * from their arg when needed, so 10 million tasks fit in a few hundred MB.
 *
 * May include: runtime/. Must not include: io/, kernels/.
 */
#ifndef TSR_SCHEDULER_H
#define TSR_SCHEDULER_H

#include "runtime/runtime.h"

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- task graph */

typedef struct tsr_graph tsr_graph_t;
typedef int32_t tsr_task_id_t;

/* Create an empty graph. Not collective. Destroy with tsr_graph_destroy(). */
tsr_status_t tsr_graph_create(tsr_graph_t **g) TSR_RESULT_USED;
void tsr_graph_destroy(tsr_graph_t **g);

/*
 * Add a task. `type` is the caller's task type (e.g. a kernel index; 0..32767), `key`
 * a unique stable name ("call/chr1:1-1000000/b0") that the journal records,
 * `cost` an estimate used to dispatch longest first (kept as a float), `outputs` paths
 * (relative to the run's output directory) the task writes; they are copied.
 * `arg` is an opaque integer for the executor (e.g. an index into the plan).
 * Ids are assigned 0, 1, 2, ... in insertion order.
 */
tsr_status_t tsr_graph_add(tsr_graph_t *g, int type, const char *key, double cost, int64_t arg,
                           const char *const *outputs, int n_outputs, tsr_task_id_t *id) TSR_RESULT_USED;
/*
 * A gate: a dependency hub that does no work, writes nothing and is never journaled, done as soon as every
 * task it depends on is. N tasks that each wait on the same M tasks cost N + M dependencies through a gate,
 * not N x M (every call task of a sample batch waits on the batch's align merges: at 100,000 FASTQ samples
 * and 3,300 units that was 330 million dependencies at rank 0). A gate never reaches a worker, is not listed
 * in tasks.tsv and is not counted in the run's tasks; tsr_graph_type() of a gate is TSR_GRAPH_GATE_TYPE.
 */
#define TSR_GRAPH_GATE_TYPE (-1)
tsr_status_t tsr_graph_add_gate(tsr_graph_t *g, const char *key, tsr_task_id_t *id) TSR_RESULT_USED;
int tsr_graph_is_gate(const tsr_graph_t *g, tsr_task_id_t id);
/* `task` runs only after `dep` succeeded. */
tsr_status_t tsr_graph_add_dep(tsr_graph_t *g, tsr_task_id_t task, tsr_task_id_t dep) TSR_RESULT_USED;
int32_t tsr_graph_size(const tsr_graph_t *g);
/*
 * Size the key index for n_tasks tasks and the dependency list for n_edges dependencies in all, so adding
 * them never rehashes (a rehash regenerates every family task's key) and the list has no doubling slack.
 * Optional (more may still be added). Not collective.
 */
tsr_status_t tsr_graph_reserve(tsr_graph_t *g, int64_t n_tasks, int64_t n_edges) TSR_RESULT_USED;
/*
 * Bytes the graph holds: task slots, dependency list, key index, string records and the arena of keys and
 * output paths (what `tessera run --plan-only` and summary.json report). 0 for NULL. Not collective.
 */
size_t tsr_graph_bytes(const tsr_graph_t *g);
/* Dependencies added (gates' included). 0 for NULL. Not collective. */
int64_t tsr_graph_n_deps(const tsr_graph_t *g);

/* Read-only view of one task handed to the executor. */
typedef struct tsr_task {
    tsr_task_id_t id;
    int type;
    int64_t arg;
    const char *key;
    double cost;
    int n_outputs;
    const char *const *outputs; /* relative to the output directory */
    int attempt;                /* 0 first time, 1.. on retry */
    /*
     * The packed outputs (tsr_sched_opts_t.pack_dir) of the tasks this one depends on (through gates too):
     * n_located pairs located[2i] = the output's name (as the graph spells it), located[2i+1] = its location
     * "CONTAINER@OFFSET+LENGTH" (relative to the output directory). Only in a worker's view of a task.
     */
    int n_located;
    const char *const *located;
} tsr_task_t;

/*
 * The location of the packed output `name` among t's dependencies' (tsr_task_t.located), or NULL. The
 * search starts at pair *hint (hint may be NULL: from 0) and leaves *hint after the pair found, so a caller
 * that asks in the order the pairs were sent (a joint task's batches) finds each at once, not in O(batches).
 */
const char *tsr_task_located(const tsr_task_t *t, const char *name, int *hint);

/*
 * Task families: many tasks whose key and outputs are a function of their arg (a call task's (unit, batch),
 * an align task's (sample, step, slot)). The graph stores such a task as its arg, cost and type (16 bytes)
 * and calls `strings` whenever its key or outputs are needed (the journal, the dispatcher's message,
 * tasks.tsv). `strings(ctx, arg, key, outputs)` writes the key into key[TSR_TASK_STR_MAX] and the
 * `n_outputs` paths into outputs[k] (each < TSR_TASK_STR_MAX bytes, NUL-terminated); it must be a pure,
 * thread-safe function of (ctx, arg) (the dispatcher thread calls it while the caller's thread runs tasks)
 * and must return TSR_OK for every arg it was added with. `ctx` must outlive the graph.
 */
#define TSR_TASK_STR_MAX 1024
#define TSR_TASK_FAMILY_OUTPUTS 4
typedef tsr_status_t (*tsr_task_strings_fn)(const void *ctx, int64_t arg, char *key,
                                            char (*outputs)[TSR_TASK_STR_MAX]);
typedef struct tsr_task_family {
    tsr_task_strings_fn strings;
    const void *ctx;
    int n_outputs; /* 0..TSR_TASK_FAMILY_OUTPUTS, the same for every task of the family */
} tsr_task_family_t;
/* Register a family (copied) with the graph; *family is its handle for tsr_graph_add_family. At most 255. */
tsr_status_t tsr_graph_family_add(tsr_graph_t *g, const tsr_task_family_t *f, int *family) TSR_RESULT_USED;
/*
 * Add a task of `family` with this arg: its strings are generated once here and checked as
 * tsr_graph_add checks copied ones (non-empty, no tab or newline, a key not yet in the graph), then dropped.
 */
tsr_status_t tsr_graph_add_family(tsr_graph_t *g, int family, int type, double cost, int64_t arg,
                                  tsr_task_id_t *id) TSR_RESULT_USED;

/* Room for one task's generated strings (about 5 kB: keep one per thread, not one per task). */
typedef struct tsr_task_buf {
    tsr_task_t task;
    char key[TSR_TASK_STR_MAX];
    char out[TSR_TASK_FAMILY_OUTPUTS][TSR_TASK_STR_MAX];
    const char *outp[TSR_TASK_FAMILY_OUTPUTS];
} tsr_task_buf_t;

/*
 * A view of task `id` (NULL when out of range), built in `buf`: its strings stay valid until `buf` is used
 * again or the graph is destroyed. Not collective; safe from several threads with one buf each.
 */
const tsr_task_t *tsr_graph_task(const tsr_graph_t *g, tsr_task_id_t id, tsr_task_buf_t *buf);
/* Task id's type without building its view (id must be in range). Not collective. */
int tsr_graph_type(const tsr_graph_t *g, tsr_task_id_t id);

/*
 * What the dispatcher (rank 0) holds for this graph besides the graph itself: its per-task arrays (state,
 * unfinished dependencies, attempt, ready heap), the dependents' lists and the dependency order (~23 bytes
 * a task with one dependency); with `pack_dir` (tsr_sched_opts_t.pack_dir, NULL: none): plus a location
 * for each task over the id range of the tasks that write a packed output (12 bytes each) and, for the tasks
 * that depend on those, their dependencies as runs of consecutive ids. Builds them once, so a dependency
 * cycle is TSR_ERR_INTERNAL here as in tsr_sched_run. Not collective (`tessera run --plan-only`).
 */
tsr_status_t tsr_sched_master_bytes(const tsr_graph_t *g, const char *pack_dir, size_t *bytes) TSR_RESULT_USED;

/* ---------------------------------------------------------------- journal */

typedef struct tsr_journal tsr_journal_t;

/*
 * Open (or create) the journal at `path` for a run whose inputs and options
 * hash to `fingerprint` (a short printable string; see tsr_fingerprint_*).
 * An existing journal with another fingerprint is refused with TSR_ERR_STATE
 * and a message naming both. A truncated last record (kill -9 mid-write) is
 * dropped; a corrupted record (bad per-line checksum) ends the replay there,
 * with a warning, and the file is cut back to the last good record before
 * new records are appended. Not collective (the master calls it).
 * Close with tsr_journal_close().
 */
tsr_status_t tsr_journal_open(const char *path, const char *fingerprint, tsr_journal_t **j) TSR_RESULT_USED;
void tsr_journal_close(tsr_journal_t **j);
/*
 * One completion record as a replay reads it: its place among the journal's completion records (0, 1, ...
 * in file order), key, outputs, their CRC32s, sizes and mtimes (-1: not recorded) and digests. The pointers
 * are valid during the callback only.
 */
typedef struct tsr_journal_done {
    int64_t i;
    const char *key;
    int n_outputs;
    const char *const *outputs;
    const uint32_t *crc;
    const int64_t *size, *mtime_ns;
    const char *const *digests;
} tsr_journal_done_t;
typedef tsr_status_t (*tsr_journal_done_fn)(void *ctx, const tsr_journal_done_t *d);
/*
 * tsr_journal_open that keeps no record: each completion record goes to fn(ctx, d) as the file is read a
 * line at a time (a national run's journal holds millions of records, gigabytes of text: neither the file
 * nor its records are held; tsr_journal_n_done() is 0). fn sees only records of this fingerprint's journal;
 * an error from fn stops the open with it. tsr_journal_revisit() reads the records again (the dispatcher's
 * second replay pass). Not collective.
 */
tsr_status_t tsr_journal_open_visit(const char *path, const char *fingerprint, tsr_journal_done_fn fn, void *ctx,
                                    tsr_journal_t **j) TSR_RESULT_USED;
tsr_status_t tsr_journal_revisit(const tsr_journal_t *j, tsr_journal_done_fn fn, void *ctx) TSR_RESULT_USED;
/*
 * Open an existing journal only to read its records (`tessera verify`): no
 * write access needed, nothing cut back or appended (appends fail with
 * TSR_ERR_STATE); a shared lock refuses a journal a run is writing. A
 * truncated or corrupted tail ends the replay as in tsr_journal_open().
 * Not collective. Close with tsr_journal_close().
 */
tsr_status_t tsr_journal_open_readonly(const char *path, tsr_journal_t **j) TSR_RESULT_USED;

/*
 * Append + fsync a completion record: task key, its outputs' CRC32s (resume)
 * and digests ("sha256:<hex>" of the bytes, or a stage's "h5sha256:<hex>"
 * content digest; the audit chain). Every record carries the SHA-256 of the
 * line before it.
 */
tsr_status_t tsr_journal_append_done(tsr_journal_t *j, const char *key, int n_outputs,
                                     const char *const *outputs, const uint32_t *crc,
                                     const char *const *digest) TSR_RESULT_USED;
/* Append + fsync the audit head ("sha256:<hex>") of a finished run (tsr_audit_check). */
tsr_status_t tsr_journal_append_head(tsr_journal_t *j, const char *head) TSR_RESULT_USED;
/* Append + fsync a failure record (shown by `tessera inspect` as the last error). */
tsr_status_t tsr_journal_append_error(tsr_journal_t *j, const char *key, tsr_status_t s,
                                      const char *msg) TSR_RESULT_USED;

/* Replayed content: the completion records found when the journal was opened. */
int tsr_journal_n_done(const tsr_journal_t *j);
/* Record i: key, outputs and their CRCs (pointers owned by the journal). */
void tsr_journal_done_at(const tsr_journal_t *j, int i, const char **key, int *n_outputs,
                         const char *const **outputs, const uint32_t **crc);
/* Record i's output digests, in the order of its outputs (owned by the journal). */
const char *const *tsr_journal_digests_at(const tsr_journal_t *j, int i);
/* The last error record's text ("" if none). */
const char *tsr_journal_last_error(const tsr_journal_t *j);

/*
 * Read a journal without opening it for writing (for `tessera inspect`):
 * prints nothing, fills counts. Keys of completed tasks are returned through
 * the callback. Not collective.
 */
typedef void (*tsr_journal_visit_fn)(void *ctx, const char *key);
tsr_status_t tsr_journal_scan(const char *path, char *fingerprint, size_t fp_len, int *n_done,
                              char *last_error, size_t err_len, tsr_journal_visit_fn visit,
                              void *ctx) TSR_RESULT_USED;

/* The journal's file name inside an output directory; every module reaches it through tsr_journal_path(). */
#define TSR_JOURNAL_FILE "journal.tsv"
/* outdir/journal.tsv into buf; TSR_ERR_INTERNAL if it does not fit. Not collective. */
tsr_status_t tsr_journal_path(const char *outdir, char *buf, size_t len) TSR_RESULT_USED;

/* CRC32 (zlib) of a whole file; TSR_ERR_IO if unreadable. */
tsr_status_t tsr_file_crc32(const char *path, uint32_t *crc) TSR_RESULT_USED;

/* SHA-256 (OpenSSL libcrypto) as 64 lower-case hex digits; a digest as "sha256:<hex>". */
#define TSR_SHA256_HEX 64
#define TSR_DIGEST_MAX 80
void tsr_sha256_hex(const unsigned char sha[32], char *hex);
tsr_status_t tsr_sha256_bytes(const void *p, size_t n, char hex[TSR_SHA256_HEX + 1]) TSR_RESULT_USED;
/* One read of a file for its CRC32 and its SHA-256 (either may be NULL); TSR_ERR_IO if unreadable. */
tsr_status_t tsr_file_digest(const char *path, uint32_t *crc, unsigned char sha[32]) TSR_RESULT_USED;
/* "sha256:<hex>" of a whole file into digest. */
tsr_status_t tsr_file_sha256(const char *path, char digest[TSR_DIGEST_MAX]) TSR_RESULT_USED;
/* Whether d is "sha256:<64 hex>", "runsha256:<64 hex>" (a run-specific output) or "h5sha256:<64 hex>". */
int tsr_digest_valid(const char *d);

/*
 * Packed outputs' names (a location "CONTAINER@OFFSET+LENGTH" is parsed by tsr_location_parse, runtime.h).
 * tsr_output_packed_split: 1 when a journaled output is
 * "NAME LOCATION", with NAME copied into name (may be NULL) and *location pointing into `journaled`.
 * tsr_pack_range_digest: CRC32 and SHA-256 (either NULL) of a location's bytes, the container taken
 * relative to outdir; TSR_ERR_IO when missing or short. Not collective.
 */
#define TSR_PACK_INDEX_FILE "index.tsv" /* PACK_DIR/index.tsv: a finished run's "NAME\tLOCATION" lines */
int tsr_output_packed_split(const char *journaled, char *name, size_t cap, const char **location);
tsr_status_t tsr_pack_range_digest(const char *outdir, const char *location, uint32_t *crc,
                                   unsigned char sha[32]) TSR_RESULT_USED;

/* ------------------------------------------------------------------ audit */

/*
 * The audit of an output directory (scheduler/audit.c): walks journal.tsv
 * line by line (checksums and the hash chain), takes the newest valid
 * completion record of every task in tasks.tsv and of every stage, and
 * computes the run's head: the SHA-256 of a canonical manifest (the
 * fingerprint, then each key in byte order with its outputs and digests),
 * so it does not depend on the order tasks finished in, the rank count or
 * resumes. With `rehash`, every output's digest is recomputed (content
 * digests through `content`). Each problem is one line to `problem`.
 */
typedef void (*tsr_audit_problem_fn)(void *ctx, const char *line);
/* Recompute the digest of `path` of the kind `recorded` names ("h5sha256:"); TSR_ERR_* when it cannot. */
typedef tsr_status_t (*tsr_audit_content_fn)(void *ctx, const char *path, const char *recorded,
                                             char digest[TSR_DIGEST_MAX]);
typedef struct tsr_audit_opts {
    int rehash;                    /* recompute every output's digest */
    int need_head_record;          /* the journal must end with an H record equal to the head */
    tsr_audit_content_fn content;  /* for digests other than "sha256:" (NULL: reported as a problem) */
    void *content_ctx;
    tsr_audit_problem_fn problem;  /* NULL: problems are only counted */
    void *problem_ctx;
} tsr_audit_opts_t;
typedef struct tsr_audit_result {
    char head[TSR_DIGEST_MAX];     /* "sha256:<hex>" */
    char fingerprint[256];
    int n_tasks, n_files, n_problems;
    int sealed;                    /* the journal ends with an H record equal to head */
} tsr_audit_result_t;
/* Not collective; takes a shared lock on the journal (refused while a run writes it). */
tsr_status_t tsr_audit_check(const char *outdir, const tsr_audit_opts_t *o, tsr_audit_result_t *r) TSR_RESULT_USED;
/*
 * The master's end of a finished run: compute the head from the journal and
 * append it as an H record unless the journal already ends with it.
 * Not collective (master only, while no scheduler holds the journal).
 */
tsr_status_t tsr_audit_seal(const char *outdir, const char *fingerprint, char head[TSR_DIGEST_MAX]) TSR_RESULT_USED;

/*
 * Ed25519 (OpenSSL) signatures of a head (scheduler/audit_sign.c). keygen
 * writes a new PEM key pair (the private key 0600; existing files are never
 * overwritten); sign writes sig_path (audit.sig) for `head`; sig_check
 * returns TSR_OK only when sig_path signs exactly `head` under pub_path's key.
 * Not collective.
 */
tsr_status_t tsr_audit_keygen(const char *key_path, const char *pub_path) TSR_RESULT_USED;
tsr_status_t tsr_audit_sign(const char *key_path, const char *head, const char *sig_path) TSR_RESULT_USED;
tsr_status_t tsr_audit_sig_check(const char *pub_path, const char *head, const char *sig_path) TSR_RESULT_USED;
#define TSR_AUDIT_SIG_FILE "audit.sig"
#define TSR_AUDIT_INPUTS_FILE "audit_inputs.sha256"
#define TSR_AUDIT_INPUTS_KEY "audit_inputs"

/* --------------------------------------------------------------- dispatch */

/*
 * Execute one task on this rank. `outdir` is the run's output directory; the
 * function must write each output to a temporary name and rename it into
 * place when complete (tsr_output_tmpname in runtime.h). Return TSR_OK,
 * TSR_ERR_TRANSIENT (retried), or another status (the run stops with the
 * message recorded via tsr_error_set).
 */
typedef tsr_status_t (*tsr_exec_fn)(void *ctx, const tsr_task_t *task);

/*
 * How a resume checks a journaled output before trusting it (`--verify-outputs`). `tessera verify`
 * always re-reads every output (its SHA-256), whatever this says.
 */
typedef enum tsr_verify {
    TSR_VERIFY_EXISTS = 0, /* present is enough (benchmarks, tests) */
    TSR_VERIFY_STAT = 1,   /* size and mtime (ns) as journaled: trusted unread; else re-read, CRC32 compared */
    TSR_VERIFY_FULL = 2,   /* every output re-read, its CRC32 compared */
} tsr_verify_t;

typedef struct tsr_sched_opts {
    const char *outdir;      /* output directory (journal lives at outdir/journal.tsv) */
    const char *fingerprint; /* refuse a journal of another run */
    int max_retries;         /* per task, for TSR_ERR_TRANSIENT (default 2) */
    double grace_seconds;    /* after a stop signal, wait this long for running tasks (default 60) */
    int batch;               /* max tasks handed out per message (default 4) */
    int progress;            /* log progress lines at info level every N seconds (0 = off; default 10) */
    int verify;              /* how a resume checks journaled outputs: tsr_verify_t (default TSR_VERIFY_STAT) */
    /*
     * Output paths that describe the run rather than the data (report.html: the output directory, the
     * rank count, the time): journaled as "runsha256:<hex>", so verify checks their bytes, but left out
     * of the audit head, which must be the same at any rank count. NULL-terminated; NULL = none.
     */
    const char *const *run_specific;
    /*
     * Packed outputs (scheduler/pack.c, issue 18): a task output under this directory (relative to outdir,
     * e.g. "evidence"; NULL = none) is not kept as its own file. The executor sees it renamed to a staging
     * file (PACK_DIR/rRRRRR.sSSSS.kK.stage) and writes that as any output; the worker appends the staged
     * bytes to its container PACK_DIR/sSSSS/rRRRRR.pack (this run's session, its rank) at a 4 KiB-aligned
     * offset, fsyncs and removes the staged file; the journal records the output as "NAME LOCATION" with
     * LOCATION = "CONTAINER@OFFSET+LENGTH" (tsr_output_packed_split), and the tasks that depend on it are
     * sent its location (tsr_task_located). A resume trusts a record while the container holds its range.
     */
    const char *pack_dir;
} tsr_sched_opts_t;

void tsr_sched_opts_init(tsr_sched_opts_t *o);
tsr_status_t tsr_sched_opts_check(const tsr_sched_opts_t *o) TSR_RESULT_USED;

/* Outcome of a run, the same on every rank after tsr_sched_run returns. */
typedef struct tsr_sched_result {
    int32_t n_tasks;     /* tasks in the graph */
    int32_t n_skipped;   /* proven done by the journal */
    int32_t n_executed;  /* executed in this run (all ranks) */
    int32_t n_retried;   /* transient failures retried */
    int32_t n_failed;    /* permanently failed */
    int interrupted;     /* stopped by a signal before all tasks completed */
    double seconds;
} tsr_sched_result_t;

/*
 * Run the graph to completion over `comm`. Collective on comm: rank 0 passes
 * the graph; every other rank may pass NULL (a graph passed there is not
 * read: workers receive each task in the dispatcher's message). Rank 0
 * dispatches (in a thread) and works; other ranks work. Returns TSR_OK when
 * every task is done (journaled or executed), TSR_ERR_INTERRUPTED after a stop
 * signal (journal flushed; rerun resumes), or the failing task's status (a
 * dependency cycle: TSR_ERR_INTERNAL) with the same error message on every
 * rank. Also writes outdir/tasks.tsv (every task's key and type) so
 * `tessera inspect` can tell what is left.
 */
tsr_status_t tsr_sched_run(MPI_Comm comm, const tsr_graph_t *g, const tsr_sched_opts_t *opts,
                           tsr_exec_fn exec, void *ctx, tsr_sched_result_t *res) TSR_RESULT_USED;

/* ------------------------------------------------ journaled collective stages */

/*
 * A collective stage: work every rank runs together (parallel HDF5, a
 * reduction), outside the task graph but resumable like a task. `run` is
 * collective on the communicator it is given and writes `outputs` (relative
 * to the output directory) under temporary names, renaming them when
 * complete. A stage is proven done when its newest journal record lists
 * exactly `outputs`, their CRC32s still match, and no task whose key starts
 * with one of `input_prefixes` was journaled after it.
 */
typedef struct tsr_stage {
    const char *key;                    /* journal key; never a task key (e.g. "cohort_h5") */
    int n_outputs;
    const char *const *outputs;
    int n_input_prefixes;
    const char *const *input_prefixes;  /* e.g. {"joint/"}: a re-made input makes the stage run again */
    tsr_status_t (*run)(void *ctx, MPI_Comm comm);
    void *ctx;
    /*
     * Outputs whose bytes depend on the rank count (parallel HDF5 allocates
     * chunks in arrival order): their content digest ("h5sha256:<hex>") goes
     * into the audit chain instead of the bytes' SHA-256. NULL: the bytes'.
     */
    tsr_status_t (*digest)(const char *path, char digest[TSR_DIGEST_MAX]);
    int verify_full; /* 1: on resume re-read the outputs (TSR_VERIFY_FULL); 0: trust a matching size+mtime */
} tsr_stage_t;

/*
 * Run `st` unless the journal in outdir proves it done (*skipped = 1). The
 * master (rank 0 of comm) reads the journal and journals the stage with its
 * outputs' CRC32s and digests (`digest` or SHA-256) after `run` succeeds on every rank. A stop signal pending
 * on any rank before it starts gives TSR_ERR_INTERRUPTED (rerun resumes).
 * Collective on comm; every rank returns the same status and message.
 */
tsr_status_t tsr_sched_stage_run(MPI_Comm comm, const char *outdir, const char *fingerprint, const tsr_stage_t *st,
                                 int *skipped) TSR_RESULT_USED;

/* Print the state of an output directory (done / left per task type, last error). */
tsr_status_t tsr_inspect_print(const char *outdir, FILE *out) TSR_RESULT_USED;

#ifdef __cplusplus
}
#endif
#endif /* TSR_SCHEDULER_H */
