/*
 * stats_run.c - `tessera stats --vcf F --out DIR` through the scheduler, like
 * `tessera run`: regions dispatched dynamically, each finished task journaled
 * in DIR/journal.tsv, and a rerun of the same command resumes.
 *
 * Design. Every rank opens the VCF/BCF (tsr_vcf_stats_open: the windows of
 * --window bp depend on the file and --window only) and builds the same
 * graph. A region task takes a run of consecutive windows: P regions, P the
 * smallest of the window count, TSR_STATS_MAX_TASKS and what keeps the
 * summed count files under TSR_STATS_COUNTS_BUDGET bytes (a count array grows
 * with the samples), so files and disk stay bounded at any genome length,
 * window and cohort size:
 *   region/NNNNNNNN   region r -> DIR/stats.d/NNNNNNNN.tsv (its stats.tsv
 *                     lines) and .counts (its cohort-wide counts, the
 *                     accumulator's int64 array as a file)
 *   stats/merge       after every region -> DIR/stats.tsv (the header, then
 *                     the regions' lines in region order), the counts summed
 *                     into stats.d/all.counts, DIR/sample_qc.tsv
 * Both are streamed one region at a time: the merge never holds stats.tsv or
 * more than two count arrays. The regions' lines in order are exactly the
 * lines one pass over the file writes, and the counts merge by integer
 * addition, so stats.tsv, sample_qc.tsv and the statistics do not depend on
 * the rank count or on which rank ran which region.
 *
 * summary.json and report.html are not tasks: they carry facts of the
 * invocation (wall and CPU time over every rank, peak memory, tasks taken
 * from the journal) that exist only once the graph is done on every rank, so
 * the master writes them after the graph, from stats.d/all.counts, on every
 * complete run (a resumed one included).
 */
#include "kernels/stats/stats.h"
#include "kernels/pipeline/pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* Task types (tasks.tsv's second column). */
enum { TSR_STATS_TASK_REGION = 0, TSR_STATS_TASK_MERGE = 1 };

#define TSR_STATS_DIR "stats.d"
#define TSR_STATS_MERGE_KEY "stats/merge"
#define TSR_STATS_ALL_COUNTS TSR_STATS_DIR "/all.counts"
/* Raise when the outputs for the same input change: it enters the fingerprint. */
#define TSR_STATS_RUN_VERSION 1
/* At most this many region tasks (files in stats.d/: twice as many). */
#define TSR_STATS_MAX_TASKS 4096
/* The region tasks' count files together stay under this (at least 16 tasks whatever the cohort). */
#define TSR_STATS_COUNTS_BUDGET ((int64_t)1 << 30)

/* How many region tasks cut the n_windows windows (see the file comment); depends on the inputs only. */
static int tsr_stats_n_tasks(int n_windows, int64_t n_counts)
{
    int64_t by_bytes = TSR_STATS_COUNTS_BUDGET / ((n_counts > 0 ? n_counts : 1) * (int64_t)sizeof(int64_t));
    int64_t p = by_bytes < 16 ? 16 : by_bytes;
    if (p > TSR_STATS_MAX_TASKS)
        p = TSR_STATS_MAX_TASKS;
    return n_windows < p ? n_windows : (int)p;
}

/* Region task r of n covers windows [*w0, *w1) of n_windows. */
static void tsr_stats_task_windows(int r, int n, int n_windows, int *w0, int *w1)
{
    *w0 = (int)((int64_t)r * n_windows / n);
    *w1 = (int)((int64_t)(r + 1) * n_windows / n);
}

void tsr_stats_opts_init(tsr_stats_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->window = 1000000;
    o->grace_seconds = 60.0;
}

tsr_status_t tsr_stats_opts_check(const tsr_stats_opts_t *o)
{
    if (!o->vcf || !o->vcf[0] || !o->outdir || !o->outdir[0])
        return tsr_error_set(TSR_ERR_USAGE, "--vcf and --out are required");
    if (o->window <= 0)
        return tsr_error_set(TSR_ERR_USAGE, "--window must be positive, not %" PRId64, o->window);
    if (o->grace_seconds < 0)
        return tsr_error_set(TSR_ERR_USAGE, "--grace must be >= 0 seconds, not %g", o->grace_seconds);
    return TSR_OK;
}

/* ------------------------------------------------------------ fingerprint */

/*
 * The VCF by absolute path, size and modification time (reading a cohort VCF
 * whole for a checksum would cost as much as the run), the --samples file by
 * its bytes, --window and TSR_STATS_RUN_VERSION: two CRC32s, 16 hex digits.
 */
static tsr_status_t tsr_stats_fingerprint(const tsr_stats_opts_t *o, char *fp, size_t len)
{
    struct stat st;
    if (stat(o->vcf, &st) != 0)
        return tsr_error_set(TSR_ERR_IO, "cannot open '%s': %s", o->vcf, strerror(errno));
    char abs[PATH_MAX], buf[PATH_MAX + 256];
    snprintf(buf, sizeof buf, "tessera-stats-%d window=%" PRId64 " vcf=%s size=%lld mtime=%lld.%09ld",
             TSR_STATS_RUN_VERSION, o->window, realpath(o->vcf, abs) ? abs : o->vcf, (long long)st.st_size,
             (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
    uint32_t a = (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const unsigned char *)buf, (uInt)strlen(buf));
    uint32_t crc = 0;
    if (o->samples) {
        TSR_CALL(tsr_file_crc32(o->samples, &crc));
        snprintf(buf, sizeof buf, "samples=%08x", crc);
    } else {
        snprintf(buf, sizeof buf, "samples=none");
    }
    uint32_t b = (uint32_t)crc32(0x9e3779b9u, (const unsigned char *)buf, (uInt)strlen(buf));
    snprintf(fp, len, "%08x%08x", a, b);
    return TSR_OK;
}

/* ------------------------------------------------------------------ tasks */

typedef struct tsr_stats_ctx {
    const tsr_stats_opts_t *o;
    tsr_vcf_stats_t *vs;   /* this rank's handle on the VCF */
    tsr_cohort_acc_t *acc; /* this rank's scratch: one region's counts */
    int n_tasks;           /* region tasks (tsr_stats_n_tasks) */
} tsr_stats_ctx_t;

/* stats.d/NNNNNNNN.EXT: region r's output, relative to the output directory. */
static void tsr_stats_region_rel(int r, const char *ext, char *buf, size_t len)
{
    snprintf(buf, len, TSR_STATS_DIR "/%08d.%s", r, ext);
}

/* outdir/rel into buf. */
static tsr_status_t tsr_stats_path(const char *outdir, const char *rel, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s", outdir, rel);
    if (n < 0 || (size_t)n >= len)
        return tsr_error_set(TSR_ERR_INTERNAL, "the path '%s/%s' is too long", outdir, rel);
    return TSR_OK;
}

/* Open outdir/rel's temporary name for writing: *fp, with its final and temporary paths. */
static tsr_status_t tsr_stats_create(const char *outdir, const char *rel, char *path, size_t plen, char *tmp,
                                     size_t tlen, FILE **fp)
{
    TSR_CALL(tsr_stats_path(outdir, rel, path, plen));
    TSR_CALL(tsr_output_tmpname(path, tmp, tlen));
    if (!(*fp = fopen(tmp, "w")))
        return tsr_error_set(TSR_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    return TSR_OK;
}

/* Commit fp (tmp -> path) when s is TSR_OK; otherwise close and remove it. Returns the first failure. */
static tsr_status_t tsr_stats_finish(tsr_status_t s, FILE *fp, const char *tmp, const char *path)
{
    if (s == TSR_OK)
        return tsr_output_commit(fp, tmp, path);
    fclose(fp);
    unlink(tmp);
    return s;
}

/* One region task: its windows' lines -> stats.d/NNNNNNNN.tsv, their counts -> stats.d/NNNNNNNN.counts. */
static tsr_status_t tsr_stats_region_task(tsr_stats_ctx_t *x, int r)
{
    char rel[64], path[4200], tmp[4300];
    FILE *fp = NULL;
    int64_t n_sites = 0;
    int w0, w1;
    tsr_stats_task_windows(r, x->n_tasks, tsr_vcf_stats_n_regions(x->vs), &w0, &w1);
    tsr_cohort_acc_reset(x->acc);
    tsr_stats_region_rel(r, "tsv", rel, sizeof rel);
    TSR_CALL(tsr_stats_create(x->o->outdir, rel, path, sizeof path, tmp, sizeof tmp, &fp));
    tsr_status_t s = TSR_OK;
    for (int w = w0; s == TSR_OK && w < w1; w++)
        s = tsr_vcf_stats_write_region(x->vs, w, fp, x->acc, &n_sites);
    TSR_CALL(tsr_stats_finish(s, fp, tmp, path));
    tsr_stats_region_rel(r, "counts", rel, sizeof rel);
    TSR_CALL(tsr_stats_create(x->o->outdir, rel, path, sizeof path, tmp, sizeof tmp, &fp));
    return tsr_stats_finish(tsr_cohort_acc_counts_write(x->acc, fp, path), fp, tmp, path);
}

/* Append the whole file `path` to fo (written to `dst`). */
static tsr_status_t tsr_stats_append(const char *path, FILE *fo, const char *dst)
{
    FILE *fi = fopen(path, "r");
    if (!fi)
        return tsr_error_set(TSR_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    char buf[1 << 16];
    size_t n;
    tsr_status_t s = TSR_OK;
    while (s == TSR_OK && (n = fread(buf, 1, sizeof buf, fi)) > 0)
        if (fwrite(buf, 1, n, fo) != n)
            s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", dst, tsr_write_failure_reason(dst, errno));
    if (s == TSR_OK && ferror(fi))
        s = tsr_error_set(TSR_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    fclose(fi);
    return s;
}

/* Add the counts file `path` to acc. */
static tsr_status_t tsr_stats_add_counts(tsr_cohort_acc_t *acc, const char *path)
{
    FILE *fi = fopen(path, "rb");
    if (!fi)
        return tsr_error_set(TSR_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    tsr_status_t s = tsr_cohort_acc_counts_add(acc, fi, path);
    fclose(fi);
    return s;
}

/*
 * The merge task: stats.tsv (header + every region's lines, region order),
 * every region's counts summed into stats.d/all.counts, sample_qc.tsv.
 */
static tsr_status_t tsr_stats_merge_task(tsr_stats_ctx_t *x)
{
    const char *out = x->o->outdir;
    char rel[64], path[4200], tmp[4300], in[4200];
    tsr_cohort_acc_t *sum = NULL;
    tsr_cohort_result_t *res = NULL;
    FILE *fo = NULL;
    TSR_CALL(tsr_vcf_stats_acc_create(x->vs, &sum));
    tsr_status_t s = tsr_stats_create(out, "stats.tsv", path, sizeof path, tmp, sizeof tmp, &fo);
    if (s == TSR_OK) {
        s = tsr_vcf_stats_write_header(x->vs, fo);
        for (int r = 0; s == TSR_OK && r < x->n_tasks; r++) {
            tsr_stats_region_rel(r, "tsv", rel, sizeof rel);
            s = tsr_stats_path(out, rel, in, sizeof in);
            if (s == TSR_OK)
                s = tsr_stats_append(in, fo, tmp);
            tsr_stats_region_rel(r, "counts", rel, sizeof rel);
            if (s == TSR_OK)
                s = tsr_stats_path(out, rel, in, sizeof in);
            if (s == TSR_OK)
                s = tsr_stats_add_counts(sum, in);
        }
        s = tsr_stats_finish(s, fo, tmp, path);
    }
    if (s == TSR_OK)
        s = tsr_stats_create(out, TSR_STATS_ALL_COUNTS, path, sizeof path, tmp, sizeof tmp, &fo);
    if (s == TSR_OK)
        s = tsr_stats_finish(tsr_cohort_acc_counts_write(sum, fo, path), fo, tmp, path);
    if (s == TSR_OK)
        s = tsr_cohort_acc_result(sum, &res);
    if (s == TSR_OK)
        s = tsr_stats_path(out, "sample_qc.tsv", path, sizeof path);
    if (s == TSR_OK)
        s = tsr_cohort_result_write_sample_qc(res, path);
    tsr_cohort_result_destroy(&res);
    tsr_cohort_acc_destroy(&sum);
    return s;
}

static tsr_status_t tsr_stats_exec(void *ctx, const tsr_task_t *task)
{
    tsr_stats_ctx_t *x = ctx;
    double t0 = tsr_now();
    tsr_status_t s;
    if (task->type == TSR_STATS_TASK_REGION && task->arg >= 0 && task->arg < x->n_tasks)
        s = tsr_stats_region_task(x, (int)task->arg);
    else if (task->type == TSR_STATS_TASK_MERGE)
        s = tsr_stats_merge_task(x);
    else
        s = tsr_error_set(TSR_ERR_INTERNAL, "task '%s' has unknown type %d or arg %" PRId64, task->key, task->type,
                          task->arg);
    tsr_log_debug("%s: %s in %.3f s", task->key, tsr_status_str(s), tsr_now() - t0);
    return s;
}

/* n region tasks, then the merge after all of them. Same graph on every rank. */
static tsr_status_t tsr_stats_graph(const tsr_vcf_stats_t *vs, int n, tsr_graph_t **gp)
{
    tsr_graph_t *g = NULL;
    TSR_CALL(tsr_graph_create(&g));
    int n_windows = tsr_vcf_stats_n_regions(vs);
    char key[64], tsv[64], counts[64];
    const char *outs[3] = {tsv, counts, NULL};
    tsr_status_t s = TSR_OK;
    for (int r = 0; s == TSR_OK && r < n; r++) {
        int w0, w1;
        double cost = 0.0;
        tsr_stats_task_windows(r, n, n_windows, &w0, &w1);
        for (int w = w0; w < w1; w++) {
            int64_t start, end;
            tsr_vcf_stats_region(vs, w, &start, &end);
            cost += (double)(end - start);
        }
        snprintf(key, sizeof key, "region/%08d", r);
        tsr_stats_region_rel(r, "tsv", tsv, sizeof tsv);
        tsr_stats_region_rel(r, "counts", counts, sizeof counts);
        tsr_task_id_t id;
        s = tsr_graph_add(g, TSR_STATS_TASK_REGION, key, cost, r, outs, 2, &id);
    }
    static const char *const merge_outs[] = {"stats.tsv", TSR_STATS_ALL_COUNTS, "sample_qc.tsv"};
    tsr_task_id_t merge = -1;
    if (s == TSR_OK)
        s = tsr_graph_add(g, TSR_STATS_TASK_MERGE, TSR_STATS_MERGE_KEY, 0.0, n, merge_outs, 3, &merge);
    for (int r = 0; s == TSR_OK && r < n; r++)
        s = tsr_graph_add_dep(g, merge, r); /* region r is task r: ids follow insertion order */
    if (s != TSR_OK) {
        tsr_graph_destroy(&g);
        return s;
    }
    *gp = g;
    return TSR_OK;
}

/* ------------------------------------------------- after the graph (master) */

/* DIR/summary.json: the run's counts, tasks and times, then the "statistics" object (last). */
static tsr_status_t tsr_stats_write_summary(const tsr_rt_t *rt, const tsr_stats_opts_t *o,
                                            const tsr_stats_summary_t *sum, const char *fingerprint,
                                            const tsr_cohort_result_t *res)
{
    char path[4200], tmp[4300];
    FILE *f = NULL;
    TSR_CALL(tsr_stats_create(o->outdir, "summary.json", path, sizeof path, tmp, sizeof tmp, &f));
    fprintf(f, "{\n  \"command\": \"stats\",\n  \"vcf\": ");
    tsr_json_write_str(f, o->vcf);
    fprintf(f, ",\n  \"samples\": %d,\n  \"populations\": %d,\n  \"regions\": %d,\n  \"sites\": %" PRId64 ",\n"
               "  \"ranks\": %d,\n  \"seconds\": %.3f,\n  \"cpu_seconds\": %.3f,\n  \"tasks\": %d,\n"
               "  \"tasks_skipped_from_journal\": %d,\n  \"tasks_executed\": %d,\n  \"tasks_retried\": %d,\n"
               "  \"fingerprint\": \"%s\",\n  \"statistics\": ",
            sum->n_samples, sum->n_populations, sum->n_regions, sum->n_sites, rt->size, sum->seconds,
            sum->cpu_seconds, sum->sched.n_tasks, sum->sched.n_skipped, sum->sched.n_executed, sum->sched.n_retried,
            fingerprint);
    tsr_status_t s = tsr_cohort_result_write_json(res, f, "  ");
    fprintf(f, "\n}\n");
    return tsr_stats_finish(s, f, tmp, path);
}

/* DIR/report.html with the run's facts: inputs, ranks, tasks, time, CPU, peak memory, date, versions. */
static tsr_status_t tsr_stats_write_report(const tsr_rt_t *rt, const tsr_stats_opts_t *o,
                                           const tsr_stats_summary_t *sum, const tsr_cohort_result_t *res)
{
    enum { MAXF = 32 };
    char val[MAXF][512];
    const char *key[MAXF], *value[MAXF];
    int n = 0;
#define TSR_FACT(k, ...) (key[n] = (k), snprintf(val[n], sizeof val[n], __VA_ARGS__), value[n] = val[n], n++)
    TSR_FACT("command", "tessera stats");
    TSR_FACT("VCF/BCF", "%s", o->vcf);
    TSR_FACT("sample sheet", "%s", o->samples ? o->samples : "(none: every sample in population 'all')");
    TSR_FACT("ranks", "%d", rt->size);
    TSR_FACT("window", "%" PRId64 " bp", o->window);
    TSR_FACT("tasks", "%d (%d from the journal, %d executed)", sum->sched.n_tasks, sum->sched.n_skipped,
             sum->sched.n_executed);
    TSR_FACT("wall time", "%.2f s", sum->seconds);
    TSR_FACT("CPU time (all ranks)", "%.2f s", sum->cpu_seconds);
    TSR_FACT("peak memory (largest rank)", "%.1f MiB", (double)sum->peak_rss / 1048576.0);
    char date[64];
    tsr_utc_now(date, sizeof date);
    TSR_FACT("written", "%s", date);
    const tsr_run_provenance_t *pv = o->provenance;
    for (int i = 0; pv && i < pv->n_versions && n < MAXF; i++)
        TSR_FACT(pv->version_name[i], "%s", pv->version_value[i]);
#undef TSR_FACT
    char path[4200];
    TSR_CALL(tsr_stats_path(o->outdir, "report.html", path, sizeof path));
    tsr_report_facts_t facts = {n, key, value};
    return tsr_report_write(path, res, "tessera stats report", &facts);
}

/* The master, after a complete graph: the summed counts -> summary.json and report.html; *n_sites. */
static tsr_status_t tsr_stats_write_run_files(const tsr_rt_t *rt, const tsr_stats_opts_t *o, tsr_vcf_stats_t *vs,
                                              const char *fingerprint, tsr_stats_summary_t *sum)
{
    char path[4200];
    tsr_cohort_acc_t *acc = NULL;
    tsr_cohort_result_t *res = NULL;
    TSR_CALL(tsr_stats_path(o->outdir, TSR_STATS_ALL_COUNTS, path, sizeof path));
    TSR_CALL(tsr_vcf_stats_acc_create(vs, &acc));
    tsr_status_t s = tsr_stats_add_counts(acc, path);
    if (s == TSR_OK)
        s = tsr_cohort_acc_result(acc, &res);
    if (s == TSR_OK) {
        sum->n_sites = res->sites;
        s = tsr_stats_write_summary(rt, o, sum, fingerprint, res);
    }
    if (s == TSR_OK)
        s = tsr_stats_write_report(rt, o, sum, res);
    tsr_cohort_result_destroy(&res);
    tsr_cohort_acc_destroy(&acc);
    return s;
}

/* ------------------------------------------------------------------- run */

/*
 * The master, before the graph: DIR, its journal opened once with this run's
 * fingerprint (so a directory of another run or input is refused before
 * anything is written in it), then DIR/stats.d.
 */
static tsr_status_t tsr_stats_outdir_prepare(const char *outdir, const char *fingerprint)
{
    char path[4200];
    tsr_journal_t *j = NULL;
    TSR_CALL(tsr_mkdir_p(outdir));
    TSR_CALL(tsr_journal_path(outdir, path, sizeof path));
    TSR_CALL(tsr_journal_open_visit(path, fingerprint, NULL, NULL, &j));
    tsr_journal_close(&j);
    TSR_CALL(tsr_stats_path(outdir, TSR_STATS_DIR, path, sizeof path));
    return tsr_mkdir_p(path);
}

tsr_status_t tsr_stats_run(const tsr_rt_t *rt, const tsr_stats_opts_t *o, tsr_stats_summary_t *sum)
{
    double t0 = tsr_now();
    memset(sum, 0, sizeof *sum);
    int master = rt->role == TSR_ROLE_MASTER;
    char fingerprint[64] = "";
    tsr_vcf_stats_t *vs = NULL;
    tsr_graph_t *g = NULL;
    tsr_cohort_acc_t *acc = NULL;
    tsr_status_t s = tsr_stats_opts_check(o);
    if (s == TSR_OK)
        s = tsr_stats_fingerprint(o, fingerprint, sizeof fingerprint);
    if (s == TSR_OK)
        s = tsr_vcf_stats_open(o->vcf, o->samples, o->window, &vs);
    if (s == TSR_OK)
        s = tsr_vcf_stats_acc_create(vs, &acc);
    int n_tasks = 0;
    if (s == TSR_OK) {
        n_tasks = tsr_stats_n_tasks(tsr_vcf_stats_n_regions(vs), tsr_cohort_acc_n_counts(acc));
        s = tsr_stats_graph(vs, n_tasks, &g);
    }
    if (s == TSR_OK && master)
        s = tsr_stats_outdir_prepare(o->outdir, fingerprint);
    s = tsr_comm_agree(rt->comm, s);
    if (s == TSR_OK) {
        sum->n_samples = tsr_vcf_stats_n_samples(vs);
        sum->n_populations = tsr_vcf_stats_n_populations(vs);
        sum->n_regions = tsr_vcf_stats_n_regions(vs);
        if (master)
            tsr_log_info("stats: %d samples, %d populations, %d windows of <= %" PRId64 " bp in %d tasks, "
                         "fingerprint %s", sum->n_samples, sum->n_populations, sum->n_regions, o->window, n_tasks,
                         fingerprint);
        tsr_sched_opts_t so;
        tsr_sched_opts_init(&so);
        so.outdir = o->outdir;
        so.fingerprint = fingerprint;
        so.grace_seconds = o->grace_seconds;
        so.verify = tsr_verify_outputs_mode(o->verify_outputs);
        tsr_stats_ctx_t x = {o, vs, acc, n_tasks};
        s = tsr_sched_run(rt->comm, g, &so, tsr_stats_exec, &x, &sum->sched);
    }
    /* Every rank's CPU time summed and peak memory maximised, on every rank (collective). */
    tsr_status_t us = tsr_comm_usage(rt->comm, &sum->cpu_seconds, &sum->peak_rss);
    if (s == TSR_OK)
        s = us;
    sum->seconds = tsr_now() - t0;
    if (s == TSR_OK) {
        if (master)
            s = tsr_stats_write_run_files(rt, o, vs, fingerprint, sum);
        /* the audit head over the journal (scheduler/audit.c), so `tessera verify` checks this directory too */
        char head[TSR_DIGEST_MAX];
        if (s == TSR_OK && master && (s = tsr_audit_seal(o->outdir, fingerprint, head)) == TSR_OK)
            tsr_log_info("audit %s", head);
        s = tsr_comm_agree(rt->comm, s);
    }
    if (s == TSR_OK) { /* the master's figures (rank 0: tsr_rt_t's master), so every rank reports the same */
        int rc = MPI_Bcast(&sum->n_sites, 1, MPI_INT64_T, 0, rt->comm);
        if (rc == MPI_SUCCESS)
            rc = MPI_Bcast(&sum->seconds, 1, MPI_DOUBLE, 0, rt->comm);
        if (rc != MPI_SUCCESS)
            s = tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Bcast of the site count and time");
    }
    tsr_cohort_acc_destroy(&acc);
    tsr_graph_destroy(&g);
    tsr_vcf_stats_close(&vs);
    return s;
}
