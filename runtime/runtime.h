/*
 * runtime.h - tessera's runtime: status codes and error propagation, the
 * logger, MPI start-up and communicators, hwloc topology and placement, the
 * pinned per-rank thread pool, and signal handling.
 *
 * Design: the runtime is the bottom layer. It may include MPI, hwloc, pthreads
 * and libc, never scheduler/, io/ or kernels/. Only this module touches
 * MPI_COMM_WORLD: everything else works on the private duplicate held by a
 * tsr_rt_t. Errors travel as tsr_status_t return values; the human-readable
 * line for the user is recorded with tsr_error_set() by the code that knows
 * the file and record, and printed once by the command layer.
 */
#ifndef TSR_RUNTIME_H
#define TSR_RUNTIME_H

#include <mpi.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TSR_RESULT_USED __attribute__((warn_unused_result))
#define TSR_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* ---------------------------------------------------------------- status */

/* One status enum for the whole code base. */
typedef enum {
    TSR_OK = 0,
    TSR_ERR_USAGE,       /* bad command line */
    TSR_ERR_IO,          /* a file could not be read or written */
    TSR_ERR_FORMAT,      /* an input file is malformed */
    TSR_ERR_MPI,         /* an MPI call failed */
    TSR_ERR_NOMEM,       /* allocation failed */
    TSR_ERR_HWLOC,       /* topology discovery or binding failed */
    TSR_ERR_HDF5,        /* an HDF5 call failed */
    TSR_ERR_STATE,       /* output directory or journal does not match */
    TSR_ERR_TRANSIENT,   /* worth retrying (e.g. EAGAIN, a busy file system) */
    TSR_ERR_INTERRUPTED, /* stopped by a signal; resumable */
    TSR_ERR_INTERNAL     /* a bug in tessera */
} tsr_status_t;

/* Process exit codes (documented in README.md). */
enum {
    TSR_EXIT_OK = 0,
    TSR_EXIT_FAIL = 1,        /* bad input or a failed stage; see the error line */
    TSR_EXIT_USAGE = 2,       /* bad command line */
    TSR_EXIT_INTERRUPTED = 75 /* stopped by SIGTERM/SIGUSR1/SIGINT; rerun to resume (EX_TEMPFAIL) */
};

/* Short name of a status ("io error", ...). Not collective. */
const char *tsr_status_str(tsr_status_t s);

/* Map a status to the process exit code above. */
int tsr_status_exit_code(tsr_status_t s);

/*
 * Record the user-facing message for the error being returned (what failed,
 * which file/record, what to do) and return `s` so callers can write
 * `return tsr_error_set(TSR_ERR_IO, "...")`. The message is thread-local (like
 * errno); the first message set since tsr_error_clear() wins, so the innermost
 * code, which knows the file and line, decides what the user reads.
 */
tsr_status_t tsr_error_set(tsr_status_t s, const char *fmt, ...) TSR_PRINTF(2, 3);
/* The recorded message of this thread, or "" if none. */
const char *tsr_error_msg(void);
void tsr_error_clear(void);

/* Propagate a failing status, logging file and line at debug level. */
#define TSR_CALL(expr)                                                        \
    do {                                                                      \
        tsr_status_t tsr_call_s_ = (expr);                                    \
        if (tsr_call_s_ != TSR_OK) {                                          \
            tsr_log_trace_error(__FILE__, __LINE__, __func__, tsr_call_s_);   \
            return tsr_call_s_;                                               \
        }                                                                     \
    } while (0)

/* Check an MPI return code (our communicators use MPI_ERRORS_RETURN). */
#define TSR_CALL_MPI(expr)                                                    \
    do {                                                                      \
        int tsr_mpi_rc_ = (expr);                                             \
        if (tsr_mpi_rc_ != MPI_SUCCESS)                                       \
            return tsr_error_mpi(tsr_mpi_rc_, __FILE__, __LINE__, #expr);     \
    } while (0)

/* Allocation that records TSR_ERR_NOMEM and returns from the caller. */
#define TSR_ALLOC(ptr, n)                                                     \
    do {                                                                      \
        (ptr) = calloc((n) ? (size_t)(n) : 1u, sizeof(*(ptr)));               \
        if (!(ptr))                                                           \
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory (%s:%d)",      \
                                 __FILE__, __LINE__);                         \
    } while (0)

tsr_status_t tsr_error_mpi(int mpi_rc, const char *file, int line, const char *expr);
void tsr_log_trace_error(const char *file, int line, const char *func, tsr_status_t s);

/* ---------------------------------------------------------------- logger */

typedef enum {
    TSR_LOG_OFF = 0,
    TSR_LOG_ERROR,
    TSR_LOG_WARN,
    TSR_LOG_INFO,
    TSR_LOG_DEBUG,
    TSR_LOG_TRACE
} tsr_log_level_t;

/*
 * Configure the process-wide logger: level and the rank printed in every
 * line's prefix ("[tessera r3 WARN func] ..."); rank < 0 prints no rank.
 * Lines go to stderr, one write(2) per line, so ranks do not interleave within a line.
 */
void tsr_log_configure(tsr_log_level_t level, int rank);
tsr_log_level_t tsr_log_level(void);
/* Parse "off|error|warn|info|debug|trace"; returns -1 if unknown. */
int tsr_log_level_parse(const char *s);
void tsr_log_write(tsr_log_level_t level, const char *func, const char *fmt, ...) TSR_PRINTF(3, 4);

#define tsr_log_error(...) tsr_log_write(TSR_LOG_ERROR, __func__, __VA_ARGS__)
#define tsr_log_warn(...) tsr_log_write(TSR_LOG_WARN, __func__, __VA_ARGS__)
#define tsr_log_info(...) tsr_log_write(TSR_LOG_INFO, __func__, __VA_ARGS__)
#define tsr_log_debug(...) tsr_log_write(TSR_LOG_DEBUG, __func__, __VA_ARGS__)
#define tsr_log_trace(...) tsr_log_write(TSR_LOG_TRACE, __func__, __VA_ARGS__)

/* ------------------------------------------------------------ MPI runtime */

typedef enum {
    TSR_ROLE_MASTER = 1, /* rank 0: runs the dispatcher thread and a worker */
    TSR_ROLE_WORKER = 2  /* every other rank: a worker */
} tsr_role_t;

/* The process's MPI context. Fields are read-only for callers. */
typedef struct tsr_rt {
    MPI_Comm comm;      /* private duplicate of MPI_COMM_WORLD, MPI_ERRORS_RETURN */
    MPI_Comm node_comm; /* ranks on this node (MPI_COMM_TYPE_SHARED) */
    int rank, size;
    int node_rank, node_size;
    tsr_role_t role;
    int thread_level; /* provided by MPI_Init_thread */
} tsr_rt_t;

/*
 * Initialise MPI with MPI_THREAD_MULTIPLE (the master's dispatcher thread
 * talks MPI beside the worker), fail with a clear error when the library
 * provides less, duplicate the world communicator, split the node
 * communicator and decide each rank's role. Collective on MPI_COMM_WORLD.
 * Destroy with tsr_rt_destroy().
 */
tsr_status_t tsr_rt_create(int *argc, char ***argv, tsr_rt_t **rt) TSR_RESULT_USED;
/* Free communicators and finalize MPI. Collective. Accepts NULL; sets *rt = NULL. */
void tsr_rt_destroy(tsr_rt_t **rt);
/* Abort every rank with the given exit code (used only when a rank cannot report); tsr_comm_abort on rt->comm. */
void tsr_rt_abort(const tsr_rt_t *rt, int code);

/* ------------------------------------------------------------ collectives */

/*
 * Make every rank of `comm` return the same status and message: the lowest
 * failing rank's (its tsr_error_msg(), or its status name when it set none).
 * The one "all ranks agree" routine; call it wherever ranks must leave a
 * phase together. Collective on comm.
 */
tsr_status_t tsr_comm_agree(MPI_Comm comm, tsr_status_t mine) TSR_RESULT_USED;
/* Abort every rank of `comm` with exit code `code`: only when a rank can no longer report. */
void tsr_comm_abort(MPI_Comm comm, int code);
/* In-place element-wise maximum of v[0..n) over `comm`. Collective on comm. */
tsr_status_t tsr_comm_max_i64(MPI_Comm comm, int64_t *v, int n) TSR_RESULT_USED;

/*
 * What a run cost, on every rank of `comm`: the ranks' CPU seconds so far
 * (tsr_cpu_seconds) summed and their peak RSS (tsr_peak_rss) maximised.
 * Collective on comm.
 */
tsr_status_t tsr_comm_usage(MPI_Comm comm, double *cpu_sum, int64_t *rss_max) TSR_RESULT_USED;
/*
 * Gather one value per rank at `root`: *all is malloc'ed there (size ranks,
 * rank order; free() it), NULL elsewhere. Collective on comm.
 */
tsr_status_t tsr_comm_gather_i64(MPI_Comm comm, int root, int64_t mine, int64_t **all) TSR_RESULT_USED;

/*
 * A node-shared window (MPI_Win_allocate_shared): node rank 0 of `node_comm`
 * owns `bytes` that every rank of the node maps at tsr_node_shared_base().
 * Use: create (collective on node_comm), node rank 0 fills the memory,
 * tsr_node_shared_publish() (collective: after it every rank sees the
 * leader's stores), then read only. Large read-only data such as the aligner
 * index is held once per node this way. `bytes` matters on node rank 0 only.
 * Destroy with tsr_node_shared_destroy() (collective on node_comm; the
 * memory goes when every rank of the node has destroyed its handle).
 */
typedef struct tsr_node_shared tsr_node_shared_t;
tsr_status_t tsr_node_shared_create(MPI_Comm node_comm, size_t bytes, tsr_node_shared_t **w) TSR_RESULT_USED;
char *tsr_node_shared_base(const tsr_node_shared_t *w);
tsr_status_t tsr_node_shared_publish(tsr_node_shared_t *w) TSR_RESULT_USED;
void tsr_node_shared_destroy(tsr_node_shared_t **w);

/* ------------------------------------------------ topology and placement */

typedef struct tsr_topo tsr_topo_t;

/*
 * Discover this machine's topology with hwloc, or load a synthetic one when
 * `synthetic` is non-NULL (hwloc_topology_set_synthetic syntax, e.g.
 * "pack:2 numa:2 core:16 pu:1"), which is how tests check placement.
 * Not collective. Destroy with tsr_topo_destroy().
 */
tsr_status_t tsr_topo_create(const char *synthetic, tsr_topo_t **topo) TSR_RESULT_USED;
void tsr_topo_destroy(tsr_topo_t **topo);
/* Counts of packages, NUMA domains, cores and PUs. */
void tsr_topo_counts(const tsr_topo_t *topo, int *packages, int *numa, int *cores, int *pus);
/* One-line description, e.g. "1 package, 1 NUMA domain, 2 cores, 2 PUs". */
void tsr_topo_describe(const tsr_topo_t *topo, char *buf, size_t len);

/* Where one rank's worker threads run. */
typedef struct tsr_placement {
    int domain;        /* index of the NUMA domain (or package) the rank is placed in, -1 if unbound */
    int n_threads;     /* worker threads */
    int *thread_pu;    /* per thread: OS index of the PU it is bound to, or -1 */
    int *thread_core;  /* per thread: logical index of its core, or -1 */
    char domain_cpus[256]; /* list string ("0-15") of the rank's allowed PUs */
    int respected_external; /* 1 if an mpirun/srun binding was found and kept */
    int n_cores;            /* cores (or PUs where hwloc shows no cores) the threads are spread over */
} tsr_placement_t;

/*
 * Decide the placement of local rank `local_rank` of `local_size` on this node:
 * by default one rank per NUMA domain (or package when hwloc reports no
 * NUMA), ranks beyond the domain count sharing domains round-robin, and
 * worker threads pinned one per core of the rank's domain. If the process is
 * already bound to a subset of the machine (mpirun --bind-to, srun
 * --cpu-bind), that subset is kept and threads are pinned within it.
 * `n_threads` <= 0 means "one per core of the domain". `external_cpuset` is
 * the binding found at start-up as an hwloc list string, or NULL to ask the
 * OS. More threads than the rank's cores share cores round-robin (n_cores <
 * n_threads); local rank 0 then logs a warning naming the binding and the
 * launcher options that give the rank more cores. Not collective. Free with
 * tsr_placement_free().
 */
tsr_status_t tsr_placement_compute(const tsr_topo_t *topo, int local_rank, int local_size,
                                   int n_threads, const char *external_cpuset,
                                   tsr_placement_t *pl) TSR_RESULT_USED;
void tsr_placement_free(tsr_placement_t *pl);
/* Bind the calling thread to thread slot `thread` of the placement (no-op if -1). */
tsr_status_t tsr_placement_bind_thread(const tsr_topo_t *topo, const tsr_placement_t *pl,
                                       int thread) TSR_RESULT_USED;

/* ------------------------------------------------------------ thread pool */

typedef struct tsr_pool tsr_pool_t;

/*
 * Start a pool of pl->n_threads worker threads bound per the placement
 * (pl and topo may be NULL: n_threads unbound threads). Not collective.
 * Destroy with tsr_pool_destroy().
 */
tsr_status_t tsr_pool_create(const tsr_topo_t *topo, const tsr_placement_t *pl, int n_threads,
                             tsr_pool_t **pool) TSR_RESULT_USED;
void tsr_pool_destroy(tsr_pool_t **pool);
int tsr_pool_size(const tsr_pool_t *pool);

/*
 * Run fn(ctx, i, thread) for i in [0, n) on the pool's threads and wait.
 * `thread` in [0, size) identifies the worker, for per-thread scratch.
 * Returns the first non-OK status any call returned (the others still run).
 */
typedef tsr_status_t (*tsr_pool_fn)(void *ctx, int64_t i, int thread);
tsr_status_t tsr_pool_for(tsr_pool_t *pool, int64_t n, tsr_pool_fn fn, void *ctx) TSR_RESULT_USED;

/* ---------------------------------------------------------------- signals */

/*
 * Install handlers for SIGTERM, SIGINT and SIGUSR1 that only record the
 * signal (async-signal-safe). Call once from main before threads start.
 */
void tsr_signals_install(void);
/* The first stop signal received so far, or 0. */
int tsr_signals_pending(void);
/* For tests: forget a received signal. */
void tsr_signals_reset(void);

/* ---------------------------------------------------------------- misc */

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double tsr_now(void);
/*
 * Write s as a JSON string literal: quotes and backslashes escaped, \n and \t
 * by name, other control characters as \u00XX; bytes >= 0x80 pass as UTF-8.
 * NULL writes "".
 */
void tsr_json_write_str(FILE *fp, const char *s);
/* The current time as "YYYY-MM-DD HH:MM:SS UTC" into buf ("unknown" if the clock cannot be read). */
void tsr_utc_now(char *buf, size_t len);
/* User + system CPU seconds of this process so far, every thread included (getrusage). */
double tsr_cpu_seconds(void);
/* Peak resident set size of this process in bytes (getrusage). */
int64_t tsr_peak_rss(void);
/* Parse a size like "4G", "512M", "100k", "2000" into bytes; -1 on error. */
int64_t tsr_parse_size(const char *s);
/*
 * A location "CONTAINER@OFFSET+LENGTH" (a file image stored at a byte range of a container: evidence
 * containers, issue 18): 1 and the parts (CONTAINER copied into container, cap bytes, when container is not
 * NULL; OFFSET >= 0, LENGTH > 0), 0 when `loc` is no location. The scheduler journals and sends locations,
 * io's window driver opens them.
 */
int tsr_location_parse(const char *loc, char *container, size_t cap, int64_t *off, int64_t *len);
/*
 * Make room for `need` elements of `esz` bytes in the growable array *p of
 * capacity *cap (both updated; capacity doubles from 64). 0, or -1 when out
 * of memory (*p and *cap unchanged).
 */
int tsr_array_grow(void **p, int64_t *cap, int64_t need, size_t esz) TSR_RESULT_USED;
/* mkdir -p; TSR_ERR_IO with a message naming the path on failure. */
tsr_status_t tsr_mkdir_p(const char *path) TSR_RESULT_USED;
/*
 * Read a whole file into a new NUL-terminated buffer (*data, *len bytes
 * before the NUL; free() it). A file that does not exist is not an error:
 * *missing = 1, *data = NULL. Errors name the file. Not collective.
 */
tsr_status_t tsr_file_read_all(const char *path, char **data, size_t *len, int *missing) TSR_RESULT_USED;

/*
 * The complement of a nucleotide letter: A<->T, C<->G, the IUPAC ambiguity
 * codes to theirs, case kept; 'N' for anything else. One table for every
 * reverse complement (reads mapped, records written, unaligned input, the
 * simulator).
 */
extern const char tsr_complement_table[256];
static inline char tsr_base_complement(char c)
{
    char r = tsr_complement_table[(unsigned char)c];
    return r ? r : 'N';
}

/*
 * Build "dir/.tmp.<name>.<pid>" for an output "dir/name": every writer
 * writes there and renames to the final name when complete, so a file under
 * its final name is always whole. TSR_ERR_INTERNAL if it does not fit.
 */
tsr_status_t tsr_output_tmpname(const char *final_path, char *tmp, size_t len) TSR_RESULT_USED;
/*
 * Remove the ".tmp.*" files left in `dir` by a killed run, adding their
 * count to *n_removed. Only safe while holding the output directory's
 * journal lock (no other run can be writing). A missing dir is not an error.
 */
tsr_status_t tsr_output_tmp_sweep(const char *dir, int64_t *n_removed) TSR_RESULT_USED;
/*
 * Finish a file written through `fp` under `tmp`: close it and rename it to
 * `path` if every write succeeded, otherwise remove it and return TSR_ERR_IO
 * naming `path`. Always closes fp.
 */
tsr_status_t tsr_output_commit(FILE *fp, const char *tmp, const char *path) TSR_RESULT_USED;
/*
 * Why a write to `path` failed, for the user: "No space left on device" when
 * the file system of `path` has under 1 MiB free (checked first: libraries
 * that write from their own threads lose errno), else strerror(err), else
 * "write failed". Returns a static string.
 */
const char *tsr_write_failure_reason(const char *path, int err);

/* ------------------------------------------------------- strings and paths */

/* A growable byte string, kept NUL-terminated by tsr_str_putn(). */
typedef struct tsr_str {
    size_t l, m;
    char *s;
} tsr_str_t;

/* Make room for `n` more bytes plus a NUL; 0 on success, -1 on out of memory. */
static inline int tsr_str_reserve(tsr_str_t *s, size_t n)
{
    if (s->l + n + 1 <= s->m)
        return 0;
    size_t m = s->m ? s->m : 64;
    while (m < s->l + n + 1)
        m *= 2;
    char *p = (char *)realloc(s->s, m);
    if (!p)
        return -1;
    s->s = p;
    s->m = m;
    return 0;
}

/* Append `n` bytes and keep the string NUL-terminated; 0 or -1 (out of memory). */
static inline int tsr_str_putn(tsr_str_t *s, const char *p, size_t n)
{
    if (tsr_str_reserve(s, n) != 0)
        return -1;
    memcpy(s->s + s->l, p, n);
    s->l += n;
    s->s[s->l] = '\0';
    return 0;
}

static inline void tsr_str_free(tsr_str_t *s)
{
    free(s->s);
    s->s = NULL;
    s->l = s->m = 0;
}

/* malloc'ed "dir/name"; NULL on out of memory. */
static inline char *tsr_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = (char *)malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    if (a > 0 && dir[a - 1] == '/')
        a--;
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

#ifdef __cplusplus
}
#endif
#endif /* TSR_RUNTIME_H */
