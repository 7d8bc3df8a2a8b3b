/*
 * driver.c - the driver of `tessera run`, `align` and `add`: plan on every
 * rank, agree on success, place and start each rank's pinned pool, run the
 * used kernels' collective setups, the task graph through the scheduler with
 * each task handed to its kernel (found by name), their finish stages
 * (cohort.h5, journaled by the scheduler), and write summary.json.
 * Collective on rt->comm.
 */
#include "kernels/stats/stats.h"
#include "kernels/pipeline/pipeline.h"
#include "kernels/pipeline/plan_internal.h"

#include <htslib/khash.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Per task type: its kernel, whether the graph has tasks of it, and the kernel's env and states on this rank. */
/*
 * Per-stage figures (summary.json "stages", tessera inspect): slot k <
 * TSR_TASK_N_TYPES is task type k's tasks (named by its kernel), slot
 * TSR_TASK_N_TYPES + k its kernel's finish stage (named by the stage's
 * journal key, e.g. cohort_h5), the last slot the collective setups (the
 * aligner index). CPU is the rank's process CPU (every thread of it) across
 * each piece of work: a rank runs one task at a time, so nothing else is
 * counted in; the peak RSS is the rank's high-water mark when its last piece
 * of the stage ended (monotonic over the run).
 */
#define TSR_STAGE_SLOTS (2 * TSR_TASK_N_TYPES + 1)
typedef struct tsr_stage_usage {
    int64_t n;      /* tasks (or stage runs) executed on this rank */
    double cpu, wall;
    int64_t rss;
} tsr_stage_usage_t;

typedef struct tsr_exec_ctx {
    const tsr_kernel_t *kernel[TSR_TASK_N_TYPES];
    int used[TSR_TASK_N_TYPES];
    tsr_kernel_env_t env[TSR_TASK_N_TYPES];
    void *state[TSR_TASK_N_TYPES];
    int ready[TSR_TASK_N_TYPES];
    tsr_stage_usage_t use[TSR_STAGE_SLOTS]; /* this rank's figures per stage (below) */
} tsr_exec_ctx_t;

/* Add what one piece of work cost since (cpu0, wall0) to a stage slot. */
static void tsr_stage_usage_add(tsr_stage_usage_t *u, double cpu0, double wall0)
{
    u->n++;
    u->cpu += tsr_cpu_seconds() - cpu0;
    u->wall += tsr_now() - wall0;
    u->rss = tsr_peak_rss();
}

static tsr_status_t tsr_pipeline_exec(void *ctx, const tsr_task_t *task)
{
    tsr_exec_ctx_t *x = ctx;
    const tsr_kernel_t *k = task->type >= 0 && task->type < TSR_TASK_N_TYPES ? x->kernel[task->type] : NULL;
    if (!k)
        return tsr_error_set(TSR_ERR_INTERNAL, "task '%s' has unknown type %d", task->key, task->type);
    if (!x->ready[task->type]) {
        TSR_CALL(k->init(&x->env[task->type], &x->state[task->type]));
        x->ready[task->type] = 1;
    }
    double t0 = tsr_now(), c0 = tsr_cpu_seconds();
    tsr_status_t s = k->process(x->state[task->type], &x->env[task->type], task);
    tsr_log_debug("%s: %s in %.3f s", task->key, tsr_status_str(s), tsr_now() - t0);
    tsr_stage_usage_add(&x->use[task->type], c0, t0);
    return s;
}

/*
 * Refuse to write into a directory that holds something other than a tessera
 * run; then create the journal (with this run's fingerprint) before any other
 * file, so a run killed at start-up (after samples.d or run.tsv, before the
 * scheduler opens the journal) leaves a directory its rerun recognises.
 */
static tsr_status_t tsr_outdir_prepare(const char *outdir, const char *fingerprint)
{
    char jpath[4200];
    TSR_CALL(tsr_journal_path(outdir, jpath, sizeof jpath));
    struct stat st;
    if (stat(outdir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return tsr_error_set(TSR_ERR_STATE, "--out '%s' exists and is not a directory", outdir);
        if (access(jpath, F_OK) != 0) {
            DIR *d = opendir(outdir);
            if (!d)
                return tsr_error_set(TSR_ERR_IO, "cannot read directory '%s': %s", outdir, strerror(errno));
            struct dirent *e;
            int n = 0;
            while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                    n++;
            closedir(d);
            if (n > 0)
                return tsr_error_set(TSR_ERR_STATE,
                                     "--out '%s' is not empty and holds no tessera journal; "
                                     "choose a new or empty directory so nothing there is overwritten",
                                     outdir);
        }
    }
    TSR_CALL(tsr_mkdir_p(outdir));
    tsr_journal_t *j = NULL;
    TSR_CALL(tsr_journal_open_visit(jpath, fingerprint, NULL, NULL, &j)); /* refuses another run's; keeps nothing */
    tsr_journal_close(&j);
    return TSR_OK;
}

/*
 * The input checks' threads: thread t checks the aligned samples first + t, first + t + n, ... in order and
 * stops at its first failure. The lowest failing sample over all threads is the one a serial pass would
 * have stopped at (every sample before it was checked and passed), so the error is the same for any count.
 */
#define TSR_CHECK_MAX_THREADS 32
typedef struct tsr_check_job {
    const tsr_plan_t *plan;
    const tsr_ref_t *ref;
    const int *contigs;
    int n_contigs, t, n_threads;
    int failed;                 /* sample index of this thread's first failure, or -1 */
    tsr_status_t s;
    char msg[1024];             /* its error line (the error buffer is per thread) */
} tsr_check_job_t;

static void *tsr_check_thread(void *arg)
{
    tsr_check_job_t *j = arg;
    const tsr_plan_t *plan = j->plan;
    j->failed = -1;
    j->s = TSR_OK;
    for (int i = plan->first_checked + j->t; i < plan->sheet->n_samples; i += j->n_threads) {
        const tsr_sample_t *smp = &plan->sheet->samples[i];
        if (smp->kind != TSR_INPUT_ALIGNED)
            continue;
        tsr_status_t s = tsr_aln_check(smp->bam, smp->id, j->ref, plan->opts.ref, j->contigs, j->n_contigs,
                                       !plan->opts.ignore_sm);
        if (s != TSR_OK) {
            j->s = s;
            j->failed = i;
            snprintf(j->msg, sizeof j->msg, "%s", tsr_error_msg());
            break;
        }
    }
    return NULL;
}

/*
 * Check the aligned inputs against the reference before anything runs (master only): each sample's file
 * opened and its header read, on up to --threads threads (0: one per online core, at most
 * TSR_CHECK_MAX_THREADS), since at 100,000 samples this is rank 0's longest start-up step.
 */
static tsr_status_t tsr_check_inputs(const tsr_plan_t *plan)
{
    int any = 0;
    for (int i = plan->first_checked; i < plan->sheet->n_samples; i++)
        any |= plan->sheet->samples[i].kind == TSR_INPUT_ALIGNED;
    if (!any)
        return TSR_OK;
    tsr_ref_t *ref = NULL;
    TSR_CALL(tsr_ref_open(plan->opts.ref, &ref));
    /* the plan's contigs, each once, in region order */
    int *contigs = malloc(((size_t)plan->n_regions + 1) * sizeof *contigs), n_contigs = 0;
    tsr_status_t s = contigs ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory checking the inputs");
    for (int r = 0; s == TSR_OK && r < plan->n_regions; r++)
        if (n_contigs == 0 || contigs[n_contigs - 1] != plan->regions[r].contig)
            contigs[n_contigs++] = plan->regions[r].contig;
    /* samples of sealed parts (tessera add) were checked by the run that added them, and may have moved */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n_check = plan->sheet->n_samples - plan->first_checked;
    int n_threads = plan->opts.threads > 0 ? plan->opts.threads : cores > 0 ? (int)cores : 1;
    if (n_threads > TSR_CHECK_MAX_THREADS)
        n_threads = TSR_CHECK_MAX_THREADS;
    if (n_threads > n_check / 64 + 1) /* a small cohort is not worth a thread */
        n_threads = n_check / 64 + 1;
    tsr_check_job_t *jobs = s == TSR_OK ? calloc((size_t)n_threads, sizeof *jobs) : NULL;
    pthread_t *tids = s == TSR_OK ? calloc((size_t)n_threads, sizeof *tids) : NULL;
    if (s == TSR_OK && (!jobs || !tids))
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory checking the inputs");
    int started = 0;
    for (int t = 0; s == TSR_OK && t < n_threads; t++) {
        jobs[t] = (tsr_check_job_t){.plan = plan, .ref = ref, .contigs = contigs, .n_contigs = n_contigs, .t = t,
                                    .n_threads = n_threads};
        if (t == 0)
            continue; /* the calling thread is thread 0 */
        if (pthread_create(&tids[t], NULL, tsr_check_thread, &jobs[t]) != 0)
            break; /* fewer threads: those not started are checked below, serially */
        started = t;
    }
    if (s == TSR_OK)
        tsr_check_thread(&jobs[0]);
    for (int t = 1; t <= started; t++)
        pthread_join(tids[t], NULL);
    for (int t = started + 1; s == TSR_OK && t < n_threads; t++)
        tsr_check_thread(&jobs[t]);
    int first = -1;
    for (int t = 0; s == TSR_OK && t < n_threads; t++)
        if (jobs[t].failed >= 0 && (first < 0 || jobs[t].failed < jobs[first].failed))
            first = t;
    if (first >= 0) {
        tsr_error_clear(); /* thread 0's own failure, if any, is set here and would be kept */
        s = tsr_error_set(jobs[first].s, "%s", jobs[first].msg);
    }
    free(jobs);
    free(tids);
    free(contigs);
    tsr_ref_close(&ref);
    return s;
}

static int64_t tsr_count_sites(const char *outdir)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/stats.tsv", outdir);
    FILE *fp = fopen(p, "r");
    if (!fp)
        return -1;
    int64_t n = 0;
    int c, last = '\n';
    while ((c = getc(fp)) != EOF) {
        if (c == '\n')
            n++;
        last = c;
    }
    if (last != '\n')
        n++;
    fclose(fp);
    return n > 0 ? n - 1 : 0;
}

/*
 * One input file's provenance: absolute path, size, modification time (UTC)
 * and, when `crc` is set, the CRC32 of its bytes. A file that cannot be
 * stat'ed is recorded with "error" rather than failing the run at its end.
 */
static void tsr_json_file(FILE *fp, const char *path, int crc, const char *indent)
{
    char abs[PATH_MAX];
    const char *shown = realpath(path, abs) ? abs : path;
    fprintf(fp, "{\"path\": ");
    tsr_json_write_str(fp, shown);
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(fp, ", \"error\": ");
        tsr_json_write_str(fp, strerror(errno));
        fprintf(fp, "}");
        return;
    }
    char when[32] = "";
    struct tm tm;
    if (gmtime_r(&st.st_mtime, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(fp, ", \"size\": %lld, \"mtime_utc\": \"%s\"", (long long)st.st_size, when);
    if (crc) {
        uint32_t c = 0;
        if (tsr_file_crc32(path, &c) == TSR_OK) {
            fprintf(fp, ",\n%s \"crc32\": \"%08x\"", indent, c);
        } else {
            fprintf(fp, ",\n%s \"crc32_error\": ", indent);
            tsr_json_write_str(fp, tsr_error_msg());
            tsr_error_clear();
        }
    }
    fprintf(fp, "}");
}

/* summary.json's "provenance" object: command line, versions, inputs. */
static void tsr_json_provenance(FILE *fp, const tsr_plan_t *plan)
{
    const tsr_run_provenance_t *pv = plan->opts.provenance;
    fprintf(fp, "  \"provenance\": {\n    \"command_line\": ");
    tsr_json_write_str(fp, pv ? pv->command_line : NULL);
    fprintf(fp, ",\n    \"versions\": {");
    for (int i = 0; pv && i < pv->n_versions; i++) {
        fprintf(fp, "%s\n      ", i ? "," : "");
        tsr_json_write_str(fp, pv->version_name[i]);
        fprintf(fp, ": ");
        tsr_json_write_str(fp, pv->version_value[i]);
    }
    fprintf(fp, "%s},\n", pv && pv->n_versions ? "\n    " : "");
    fprintf(fp, "    \"inputs\": {\n"
                "      \"checksums\": \"crc32 (zlib) of the whole sample sheet, reference and reference index; "
                "size and mtime only for each sample's reads (a checksum of every FASTQ/BAM would read the "
                "cohort a second time)\",\n      \"sample_sheet\": ");
    tsr_json_file(fp, plan->opts.samples, 1, "       ");
    fprintf(fp, ",\n      \"reference\": ");
    tsr_json_file(fp, plan->opts.ref, 1, "       ");
    char fai[4200];
    snprintf(fai, sizeof fai, "%s.fai", plan->opts.ref);
    fprintf(fp, ",\n      \"reference_index\": ");
    tsr_json_file(fp, fai, 1, "       ");
    fprintf(fp, ",\n      \"samples\": [");
    for (int i = 0; i < plan->sheet->n_samples; i++) {
        const tsr_sample_t *smp = &plan->sheet->samples[i];
        fprintf(fp, "%s\n        {\"sample\": ", i ? "," : "");
        tsr_json_write_str(fp, smp->id);
        fprintf(fp, ", \"population\": ");
        tsr_json_write_str(fp, smp->population);
        fprintf(fp, ", \"files\": [");
        int n = 0;
        for (int k = 0; k < 2 * smp->n_lanes + 1; k++) { /* every lane's files, then an aligned input */
            const char *path = k == 2 * smp->n_lanes ? smp->bam
                               : k % 2                ? smp->lanes[k / 2].fastq2
                                                      : smp->lanes[k / 2].fastq1;
            if (path) {
                fprintf(fp, "%s\n          ", n++ ? "," : "");
                tsr_json_file(fp, path, 0, "");
            }
        }
        fprintf(fp, "]}");
    }
    fprintf(fp, "\n      ]\n    }\n  }");
}

/*
 * Copy the JSON value in `path` (written by another stage) into the summary,
 * trailing newlines trimmed. *found = 0 and nothing written when it is absent.
 */
static tsr_status_t tsr_json_embed(FILE *fp, const char *path, const char *prefix, int *found)
{
    *found = 0;
    char *text = NULL;
    size_t len = 0;
    int missing = 0;
    TSR_CALL(tsr_file_read_all(path, &text, &len, &missing));
    if (missing)
        return TSR_OK;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
        len--;
    fprintf(fp, "%s%.*s", prefix, (int)len, text);
    *found = 1;
    free(text);
    return TSR_OK;
}

/*
 * The cohort task's DIR/statistics.json as "statistics", and each FASTQ
 * sample's alignment QC (aln/G/S.qc.json) under "alignment_qc".
 */
static tsr_status_t tsr_json_stage_outputs(FILE *fp, const tsr_plan_t *plan)
{
    char path[4200], rel[1024];
    int found = 0, any = 0;
    snprintf(path, sizeof path, "%s/statistics.json", plan->opts.outdir);
    TSR_CALL(tsr_json_embed(fp, path, ",\n  \"statistics\": ", &found));
    for (int i = 0; i < plan->sheet->n_samples; i++) {
        if (plan->sheet->samples[i].kind != TSR_INPUT_FASTQ)
            continue;
        tsr_plan_align_qc_path(plan, i, rel, sizeof rel);
        TSR_CALL(tsr_plan_path(plan, rel, path, sizeof path));
        char prefix[512];
        snprintf(prefix, sizeof prefix, "%s\n    ", any ? "," : ",\n  \"alignment_qc\": {");
        fputs(prefix, fp);
        tsr_json_write_str(fp, plan->sheet->samples[i].id);
        TSR_CALL(tsr_json_embed(fp, path, ": ", &found));
        if (!found)
            fputs(": null", fp);
        any = 1;
    }
    if (any)
        fputs("\n  }", fp);
    return TSR_OK;
}

/*
 * DIR/summary.json (master only; tmp + rename): counts, timings, CPU seconds
 * summed over ranks, peak memory by rank, provenance.
 */
/*
 * summary.json's "stages": one object per stage that ran on some rank, on
 * one line each (tessera inspect reads them): tasks, CPU and wall seconds
 * summed over ranks, the peak RSS of the highest rank, and each by rank.
 * `all` is the master's gather: per rank, per slot, {n, cpu us, wall us, rss}.
 */
static void tsr_json_stages(FILE *fp, int n_ranks, const char *const *names, const int64_t *all)
{
    fprintf(fp, "  \"stages\": [");
    int first = 1;
    for (int k = 0; k < TSR_STAGE_SLOTS; k++) {
        int64_t n = 0, rss = 0;
        double cpu = 0, wall = 0;
        for (int r = 0; r < n_ranks; r++) {
            const int64_t *u = all + ((size_t)r * TSR_STAGE_SLOTS + k) * 4;
            n += u[0];
            cpu += u[1] / 1e6;
            wall += u[2] / 1e6;
            rss = u[3] > rss ? u[3] : rss;
        }
        if (n == 0 || !names[k])
            continue;
        fprintf(fp, "%s\n    {\"stage\": ", first ? "" : ",");
        tsr_json_write_str(fp, names[k]);
        fprintf(fp, ", \"tasks\": %lld, \"cpu_seconds\": %.3f, \"wall_seconds\": %.3f, \"peak_rss_bytes_max_rank\": %lld",
                (long long)n, cpu, wall, (long long)rss);
        static const char *const by[] = {"tasks_by_rank", "cpu_seconds_by_rank", "wall_seconds_by_rank",
                                         "peak_rss_bytes_by_rank"};
        for (int f = 0; f < 4; f++) {
            fprintf(fp, ", \"%s\": [", by[f]);
            for (int r = 0; r < n_ranks; r++) {
                int64_t v = all[((size_t)r * TSR_STAGE_SLOTS + k) * 4 + f];
                if (f == 1 || f == 2)
                    fprintf(fp, "%s%.3f", r ? ", " : "", v / 1e6);
                else
                    fprintf(fp, "%s%lld", r ? ", " : "", (long long)v);
            }
            fputc(']', fp);
        }
        fputc('}', fp);
        first = 0;
    }
    fprintf(fp, "%s],\n", first ? "" : "\n  ");
}

static tsr_status_t tsr_write_summary(const tsr_plan_t *plan, const tsr_rt_t *rt, int threads,
                                      const tsr_run_summary_t *sum, double cpu_total, const int64_t *rss_by_rank,
                                      const int64_t *graph_by_rank, const char *const *stage_names,
                                      const int64_t *stage_all)
{
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/summary.json", plan->opts.outdir);
    TSR_CALL(tsr_output_tmpname(path, tmp, sizeof tmp));
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    /* The maximum of the gathered figures, so the two fields always agree. */
    int64_t rss_max = 0;
    for (int r = 0; r < rt->size; r++)
        rss_max = rss_by_rank[r] > rss_max ? rss_by_rank[r] : rss_max;
    fprintf(fp,
            "{\n  \"tessera_summary_version\": 2,\n  \"samples\": %d,\n  \"populations\": %d,\n"
            "  \"regions\": %d,\n  \"batches\": %d,\n  \"sites\": %lld,\n  \"tasks\": %d,\n"
            "  \"tasks_skipped_from_journal\": %d,\n  \"tasks_executed\": %d,\n  \"tasks_retried\": %d,\n"
            "  \"ranks\": %d,\n  \"threads_per_rank\": %d,\n  \"seconds\": %.3f,\n  \"wall_seconds\": %.3f,\n"
            "  \"cpu_seconds\": %.3f,\n  \"peak_rss_bytes_max_rank\": %lld,\n  \"peak_rss_bytes_by_rank\": [",
            plan->sheet->n_samples, plan->sheet->n_populations, plan->n_regions, plan->n_batches,
            (long long)sum->n_sites, sum->sched.n_tasks, sum->sched.n_skipped, sum->sched.n_executed,
            sum->sched.n_retried, rt->size, threads, sum->seconds, sum->seconds, cpu_total, (long long)rss_max);
    for (int r = 0; r < rt->size; r++)
        fprintf(fp, "%s%lld", r ? ", " : "", (long long)rss_by_rank[r]);
    /* rank 0 alone holds the task graph (scheduler/README.md): the others' 0 is what tests check */
    fprintf(fp, "],\n  \"task_graph_bytes_by_rank\": [");
    for (int r = 0; r < rt->size; r++)
        fprintf(fp, "%s%lld", r ? ", " : "", (long long)graph_by_rank[r]);
    fprintf(fp, "],\n  \"index_bytes_per_node\": %lld,\n  \"fingerprint\": ", (long long)sum->index_bytes_per_node);
    tsr_json_write_str(fp, plan->fingerprint);
    fprintf(fp, ",\n  \"audit_head\": ");
    tsr_json_write_str(fp, sum->audit_head);
    fprintf(fp, ",\n");
    if (stage_all)
        tsr_json_stages(fp, rt->size, stage_names, stage_all);
    tsr_json_provenance(fp, plan);
    tsr_status_t s = tsr_json_stage_outputs(fp, plan);
    fprintf(fp, "\n}\n");
    if (s != TSR_OK) {
        fclose(fp);
        unlink(tmp);
        return s;
    }
    return tsr_output_commit(fp, tmp, path);
}


/*
 * Each used kernel's collective finish stage, in task-type order, journaled by
 * the scheduler (tsr_sched_stage_run). A stop signal caught before a stage
 * starts stops the run there (exit 75). Collective on rt->comm.
 */
static tsr_status_t tsr_pipeline_finish(const tsr_rt_t *rt, const tsr_plan_t *plan, tsr_exec_ctx_t *x,
                                        tsr_run_summary_t *sum)
{
    tsr_status_t s = TSR_OK;
    for (int k = 0; k < TSR_TASK_N_TYPES && s == TSR_OK; k++) {
        const tsr_stage_t *fs = x->used[k] ? x->kernel[k]->finish : NULL;
        if (!fs)
            continue;
        tsr_stage_t st = *fs;
        st.ctx = &x->env[k];
        st.verify_full = tsr_verify_outputs_mode(plan->opts.verify_outputs) == TSR_VERIFY_FULL;
        int skipped = 0;
        double t0 = tsr_now(), c0 = tsr_cpu_seconds();
        s = tsr_sched_stage_run(rt->comm, plan->opts.outdir, plan->fingerprint, &st, &skipped);
        if (!skipped)
            tsr_stage_usage_add(&x->use[TSR_TASK_N_TYPES + k], c0, t0);
        if (s == TSR_ERR_INTERRUPTED)
            sum->sched.interrupted = 1;
    }
    return s;
}

/*
 * Each used kernel's collective setup, in task-type order (the align
 * kernel's node-shared index). Collective on rt->comm; on failure the
 * kernels already set up are torn down.
 */
static tsr_status_t tsr_pipeline_setup(const tsr_rt_t *rt, tsr_exec_ctx_t *x, tsr_run_summary_t *sum)
{
    tsr_status_t s = TSR_OK;
    for (int k = 0; k < TSR_TASK_N_TYPES && s == TSR_OK; k++) {
        if (!x->used[k] || !x->kernel[k]->setup)
            continue;
        double t0 = tsr_now(), c0 = tsr_cpu_seconds();
        s = tsr_comm_agree(rt->comm, x->kernel[k]->setup(&x->env[k], &x->env[k].shared));
        tsr_stage_usage_add(&x->use[TSR_STAGE_SLOTS - 1], c0, t0);
        if (s == TSR_OK && x->kernel[k]->shared_bytes)
            sum->index_bytes_per_node += (int64_t)x->kernel[k]->shared_bytes(x->env[k].shared);
    }
    return s;
}

/* Free every rank's kernel states, then the setups (collective on rt->comm: every rank is past its last task). */
static void tsr_pipeline_teardown(tsr_exec_ctx_t *x)
{
    for (int k = 0; k < TSR_TASK_N_TYPES; k++)
        if (x->ready[k])
            x->kernel[k]->destroy(&x->state[k]);
    for (int k = 0; k < TSR_TASK_N_TYPES; k++)
        if (x->used[k] && x->kernel[k]->teardown)
            x->kernel[k]->teardown(&x->env[k].shared);
}

/* output directory -> files the graph puts there (--plan-only's file census) */
KHASH_MAP_INIT_STR(tsr_plan_dirs, int64_t)

/*
 * --plan-only's census of the graph's outputs: files per top-level folder of DIR (top-level files under
 * "."), distinct directories, and the most files any one directory gets; with `packed`, the evidence
 * partitions (evidence/...) are counted apart: they go into per-rank containers. Printed on stdout.
 */
static tsr_status_t tsr_plan_files_print(const tsr_graph_t *g, int packed)
{
    int64_t n_packed = 0; /* evidence partitions appended to containers (--evidence-layout packs) */
    enum { N_TOP = 16 };
    char top[N_TOP][32];
    int64_t top_n[N_TOP] = {0}, other = 0, n_files = 0, most = 0;
    int n_top = 0;
    khash_t(tsr_plan_dirs) *dirs = kh_init(tsr_plan_dirs);
    if (!dirs)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory counting the plan's files");
    tsr_task_buf_t *buf = malloc(sizeof *buf);
    tsr_status_t s = buf ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory counting the plan's files");
    const char *most_dir = "";
    for (tsr_task_id_t id = 0; s == TSR_OK && id < tsr_graph_size(g); id++) {
        const tsr_task_t *t = tsr_graph_task(g, id, buf);
        for (int k = 0; s == TSR_OK && k < t->n_outputs; k++) {
            const char *o = t->outputs[k], *slash = strchr(o, '/'), *last = strrchr(o, '/');
            if (packed && !strncmp(o, "evidence/", 9)) {
                n_packed++;
                continue;
            }
            char name[32];
            snprintf(name, sizeof name, "%.*s", slash ? (int)(slash - o) : 1, slash ? o : ".");
            int j = 0;
            while (j < n_top && strcmp(top[j], name))
                j++;
            if (j == n_top && n_top < N_TOP)
                snprintf(top[n_top++], sizeof top[0], "%s", name);
            if (j < n_top)
                top_n[j]++;
            else
                other++;
            n_files++;
            char dir[4096];
            snprintf(dir, sizeof dir, "%.*s", last ? (int)(last - o) : 1, last ? o : ".");
            khiter_t it = kh_get(tsr_plan_dirs, dirs, dir);
            if (it == kh_end(dirs)) {
                char *key = strdup(dir);
                int ret = -1;
                if (key)
                    it = kh_put(tsr_plan_dirs, dirs, key, &ret);
                if (ret < 0) {
                    free(key);
                    s = tsr_error_set(TSR_ERR_NOMEM, "out of memory counting the plan's files");
                    break;
                }
                kh_val(dirs, it) = 0;
            }
            if (++kh_val(dirs, it) > most) {
                most = kh_val(dirs, it);
                most_dir = kh_key(dirs, it);
            }
        }
    }
    if (s == TSR_OK) {
        printf("tessera plan: files the tasks write: %lld in %d directories (the fullest, %s/, gets %lld):",
               (long long)n_files, (int)kh_size(dirs), most_dir, (long long)most);
        for (int j = 0; j < n_top; j++)
            printf("%s %s %lld", j ? "," : "", top[j], (long long)top_n[j]);
        if (other)
            printf(", other %lld", (long long)other);
        if (packed)
            printf("\ntessera plan: and %lld evidence partitions appended to containers, evidence/sSSSS/rRRRRR.pack "
                   "(one per rank, a folder per run session) + evidence/index.tsv", (long long)n_packed);
        printf("\ntessera plan: plus the run's own: journal.tsv, tasks.tsv, run.tsv, samples.d/0000.tsv, "
               "audit_inputs.sha256, summary.json%s\n", tsr_graph_size(g) && !strcmp(tsr_graph_task(g,
               tsr_graph_size(g) - 1, buf)->key, "cohort") ? ", cohort.h5" : "");
    }
    for (khiter_t it = kh_begin(dirs); it != kh_end(dirs); ++it)
        if (kh_exist(dirs, it))
            free((char *)kh_key(dirs, it));
    kh_destroy(tsr_plan_dirs, dirs);
    free(buf);
    return s;
}

/*
 * `tessera run --plan-only` on rank 0: the plan, the input checks and the task graph, each timed (wall and
 * CPU), then tasks per stage, the files the graph's tasks write, and the memory of the plan, of the graph
 * and of the dispatcher's structures (tsr_sched_master_bytes), with the peak RSS. Writes nothing.
 */
static tsr_status_t tsr_pipeline_plan_report(const tsr_run_opts_t *o)
{
    double t0 = tsr_now(), c0 = tsr_cpu_seconds();
    tsr_plan_t *plan = NULL;
    tsr_graph_t *g = NULL;
    TSR_CALL(tsr_plan_create(o, &plan));
    double t1 = tsr_now(), c1 = tsr_cpu_seconds();
    int64_t rss_plan = tsr_peak_rss();
    tsr_status_t s = tsr_check_inputs(plan);
    double t2 = tsr_now(), c2 = tsr_cpu_seconds();
    if (s == TSR_OK)
        s = tsr_plan_graph(plan, &g);
    double t3 = tsr_now(), c3 = tsr_cpu_seconds();
    size_t master = 0;
    if (s == TSR_OK)
        s = tsr_sched_master_bytes(g, o->evidence_layout && !strcmp(o->evidence_layout, "files") ? NULL : "evidence",
                                   &master);
    if (s == TSR_OK) {
        int64_t n_type[TSR_TASK_N_TYPES] = {0}, n_gates = 0;
        for (tsr_task_id_t id = 0; id < tsr_graph_size(g); id++) {
            if (tsr_graph_is_gate(g, id))
                n_gates++;
            else
                n_type[tsr_graph_type(g, id)]++;
        }
        int n_aligned = 0;
        for (int i = 0; i < plan->sheet->n_samples; i++)
            n_aligned += plan->sheet->samples[i].kind == TSR_INPUT_ALIGNED;
        printf("tessera plan: %d samples (%d aligned, %d FASTQ) in %d batches of <= %d; %d regions in %d units of "
               "<= %lld bp; %s mode%s; fingerprint %s\n",
               plan->sheet->n_samples, n_aligned, plan->sheet->n_samples - n_aligned, plan->n_batches,
               plan->opts.batch_size, plan->n_regions, plan->n_units, (long long)o->shard_size,
               plan->lowpass ? "lowpass" : "deep", !strcmp(o->mode, "auto") ? " (auto)" : "", plan->fingerprint);
        static const char *const type_name[TSR_TASK_N_TYPES] = {"align", "call", "joint", "cohort"};
        printf("tessera plan: %lld tasks:", (long long)(tsr_graph_size(g) - n_gates));
        for (int k = 0; k < TSR_TASK_N_TYPES; k++)
            printf("%s %s %lld (%s)", k ? "," : "", type_name[k], (long long)n_type[k],
                   plan->kernel[k] ? plan->kernel[k] : "-");
        printf("; %lld dependencies through %lld gates\n", (long long)tsr_graph_n_deps(g), (long long)n_gates);
        s = tsr_plan_files_print(g, !(o->evidence_layout && !strcmp(o->evidence_layout, "files")));
    }
    if (s == TSR_OK) {
        size_t sheet_bytes = 0, plan_bytes = tsr_plan_bytes(plan, &sheet_bytes), graph_bytes = tsr_graph_bytes(g);
        /* the graph and the dispatcher's structures are rank 0's alone; other ranks hold the plan only */
        int32_t n_tasks = tsr_graph_size(g);
        printf("tessera plan: memory: plan %.2f MiB (sheet %.2f MiB), task graph %.2f MiB, dispatcher %.2f MiB; "
               "peak RSS %.1f MiB after the plan, %.1f MiB in all; task graph + dispatcher %.1f bytes a task, "
               "at rank 0 only\n",
               plan_bytes / 1048576.0, sheet_bytes / 1048576.0, graph_bytes / 1048576.0, master / 1048576.0,
               rss_plan / 1048576.0, tsr_peak_rss() / 1048576.0,
               n_tasks ? (double)(graph_bytes + master) / n_tasks : 0.0);
        printf("tessera plan: time: plan %.2f s (%.2f CPU s), input checks %.2f s (%.2f CPU s), task graph %.2f s "
               "(%.2f CPU s)\n",
               t1 - t0, c1 - c0, t2 - t1, c2 - c1, t3 - t2, c3 - c2);
        printf("tessera plan: nothing written; %s %s\n", o->outdir,
               access(o->outdir, F_OK) == 0 ? "left as it was" : "not created");
    }
    tsr_graph_destroy(&g);
    tsr_plan_destroy(&plan);
    return s;
}

/*
 * Plan once (issue 18): rank 0 plans with the inputs (tsr_plan_create: every sample's file opened, --mode
 * auto's depths measured, FASTQ sizes, the fingerprint); the other ranks read only the sheet's text and the
 * reference index (tsr_plan_create_as without inputs) and adopt what rank 0 resolved, broadcast as one
 * small struct and the align slots (one int per sample). So start-up costs O(samples) metadata operations
 * in all, not O(ranks x samples), and every rank runs rank 0's mode, batch size and fingerprint even where
 * its own limits differ. Collective on rt->comm; every rank returns the same status.
 */
static tsr_status_t tsr_plan_create_once(const tsr_rt_t *rt, const tsr_run_opts_t *o, tsr_plan_t **out)
{
    *out = NULL;
    int master = rt->role == TSR_ROLE_MASTER;
    tsr_plan_t *plan = NULL;
    tsr_status_t s = tsr_comm_agree(rt->comm, master ? tsr_plan_create(o, &plan) : TSR_OK);
    if (s == TSR_OK && !master)
        s = tsr_plan_create_as(o, 0, &plan);
    s = tsr_comm_agree(rt->comm, s);
    tsr_plan_shared_t sh;
    if (s == TSR_OK) {
        if (master)
            tsr_plan_shared_get(plan, &sh);
        int rc = MPI_Bcast(&sh, (int)sizeof sh, MPI_BYTE, 0, rt->comm);
        if (rc != MPI_SUCCESS)
            s = tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Bcast of the plan");
        else if (!master && (sh.n_samples != plan->sheet->n_samples || sh.n_parts != plan->n_parts))
            s = tsr_plan_adopt(plan, &sh, NULL); /* names both counts */
        s = tsr_comm_agree(rt->comm, s);
    }
    if (s == TSR_OK) {
        int rc = MPI_Bcast(plan->align_slots, sh.n_samples, MPI_INT, 0, rt->comm);
        if (rc != MPI_SUCCESS)
            s = tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Bcast of the align slots");
        else if (!master)
            s = tsr_plan_adopt(plan, &sh, NULL);
        s = tsr_comm_agree(rt->comm, s);
    }
    if (s != TSR_OK) {
        tsr_plan_destroy(&plan);
        return s;
    }
    *out = plan;
    return TSR_OK;
}

tsr_status_t tsr_pipeline_run(const tsr_rt_t *rt, const tsr_run_opts_t *o, tsr_run_summary_t *sum)
{
    if (o->plan_only) {
        memset(sum, 0, sizeof *sum);
        return tsr_comm_agree(rt->comm, rt->role == TSR_ROLE_MASTER ? tsr_pipeline_plan_report(o) : TSR_OK);
    }
    double t0 = tsr_now();
    memset(sum, 0, sizeof *sum);
    tsr_plan_t *plan = NULL;
    tsr_status_t s = tsr_plan_create_once(rt, o, &plan);
    if (s != TSR_OK)
        return s;
    if (rt->role == TSR_ROLE_MASTER)
        s = tsr_check_inputs(plan);
    if (s == TSR_OK && rt->role == TSR_ROLE_MASTER)
        s = tsr_outdir_prepare(o->outdir, plan->fingerprint);
    if (s == TSR_OK && rt->role == TSR_ROLE_MASTER && !o->add_fingerprint)
        s = tsr_plan_record_write(plan);
    /* the audit chain starts with the inputs (kernels/pipeline/audit_run.c) */
    if (s == TSR_OK && rt->role == TSR_ROLE_MASTER)
        s = tsr_pipeline_audit_inputs(plan);
    s = tsr_comm_agree(rt->comm, s);
    if (s != TSR_OK) {
        tsr_plan_destroy(&plan);
        return s;
    }
    if (rt->role == TSR_ROLE_MASTER && plan->median_depth >= 0)
        tsr_log_info("mode auto: median depth %.2fx over %d sampled samples (%.2fx-%.2fx; read-weighted, %d windows "
                     "of 1 kb over the regions) -> %s mode (lowpass below 2x)",
                     plan->median_depth, plan->auto_samples, plan->auto_min, plan->auto_max, 256,
                     plan->lowpass ? "lowpass" : "deep");
    if (rt->role == TSR_ROLE_MASTER)
        tsr_log_info("plan: %d samples in %d batches, %d regions of <= %lld bp, %s mode%s, fingerprint %s",
                     plan->sheet->n_samples, plan->n_batches, plan->n_regions, (long long)o->shard_size,
                     plan->lowpass ? "lowpass" : "deep", !strcmp(o->mode, "auto") ? " (auto)" : "",
                     plan->fingerprint);
    if (rt->role == TSR_ROLE_MASTER)
        tsr_log_info("ploidy: %s%s", plan->lowpass ? "none: low-pass mode calls every sample diploid" : plan->ploidy,
                     plan->lowpass ? (o->ploidy_bed ? " (--ploidy-bed and the sex column are not used)" : "")
                                   : " (sheet column sex; unknown sex is diploid on X)");

    tsr_topo_t *topo = NULL;
    tsr_placement_t pl;
    memset(&pl, 0, sizeof pl);
    tsr_pool_t *pool = NULL;
    tsr_graph_t *g = NULL;
    const char *stage_names[TSR_STAGE_SLOTS] = {0};
    int64_t *stage_all = NULL; /* the master's gather of every rank's stage figures */
    s = tsr_topo_create(NULL, &topo);
    if (s == TSR_OK)
        s = tsr_placement_compute(topo, rt->node_rank, rt->node_size, o->threads, NULL, &pl);
    if (s == TSR_OK)
        s = tsr_pool_create(topo, &pl, pl.n_threads, &pool);
    /*
     * Rank 0 alone builds the task graph (issue 18: ~60 bytes a task, 300 MB at 5 million): the scheduler
     * sends each task whole to the rank that runs it. The others learn which task types occur (their
     * kernels' collective setups and finish stages), one int per type.
     */
    int used[TSR_TASK_N_TYPES] = {0};
    if (s == TSR_OK && rt->role == TSR_ROLE_MASTER)
        s = tsr_plan_graph(plan, &g);
    for (tsr_task_id_t id = 0; s == TSR_OK && id < tsr_graph_size(g); id++)
        if (!tsr_graph_is_gate(g, id))
            used[tsr_graph_type(g, id)] = 1;
    s = tsr_comm_agree(rt->comm, s);
    if (s == TSR_OK) {
        int rc = MPI_Bcast(used, TSR_TASK_N_TYPES, MPI_INT, 0, rt->comm);
        if (rc != MPI_SUCCESS)
            s = tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Bcast of the task types");
        s = tsr_comm_agree(rt->comm, s);
    }
    if (s == TSR_OK) {
        tsr_log_debug("rank %d: %d threads on PUs %s; task graph %zu bytes", rt->rank, pl.n_threads, pl.domain_cpus,
                      tsr_graph_bytes(g));
        tsr_exec_ctx_t x;
        memset(&x, 0, sizeof x);
        for (int k = 0; k < TSR_TASK_N_TYPES && s == TSR_OK; k++) {
            x.kernel[k] = tsr_kernel_for_plan(plan, (tsr_task_type_t)k);
            if (!x.kernel[k])
                s = tsr_error_set(TSR_ERR_INTERNAL, "no kernel named '%s' for task type %d",
                                  plan->kernel[k] ? plan->kernel[k] : "(none)", k);
            x.env[k].plan = plan;
            x.env[k].pool = pool;
            x.env[k].rt = rt;
        }
        for (int k = 0; k < TSR_TASK_N_TYPES; k++)
            x.used[k] = used[k];
        if (s == TSR_OK)
            s = tsr_pipeline_setup(rt, &x, sum);
        tsr_sched_opts_t so;
        tsr_sched_opts_init(&so);
        so.outdir = o->outdir;
        so.fingerprint = plan->fingerprint;
        so.grace_seconds = o->grace_seconds;
        so.verify = tsr_verify_outputs_mode(o->verify_outputs);
        so.pack_dir = o->evidence_layout && !strcmp(o->evidence_layout, "files") ? NULL : "evidence";
        /* it names the output directory, the rank count and the time: in the chain, not in the head */
        static const char *const run_specific[] = {"report.html", NULL};
        so.run_specific = run_specific;
        if (s == TSR_OK)
            s = tsr_sched_run(rt->comm, g, &so, tsr_pipeline_exec, &x, &sum->sched);
        tsr_pipeline_teardown(&x);
        /* each used kernel's finish stage (cohort.h5); `tessera align` has no cohort task, so none */
        if (s == TSR_OK)
            s = tsr_pipeline_finish(rt, plan, &x, sum);
        /* every record is in: the head over them in key order (the same at any rank count, after any resume) */
        if (s == TSR_OK && rt->role == TSR_ROLE_MASTER)
            s = tsr_pipeline_audit_seal(plan, sum->audit_head);
        if (s != TSR_ERR_INTERRUPTED)
            s = tsr_comm_agree(rt->comm, s);
        /* per-stage figures, gathered at the master for summary.json */
        for (int k = 0; k < TSR_TASK_N_TYPES; k++) {
            stage_names[k] = x.used[k] ? x.kernel[k]->name : NULL;
            stage_names[TSR_TASK_N_TYPES + k] = x.used[k] && x.kernel[k]->finish ? x.kernel[k]->finish->key : NULL;
        }
        stage_names[TSR_STAGE_SLOTS - 1] = "setup";
        if (s == TSR_OK) {
            int64_t mine[TSR_STAGE_SLOTS * 4];
            for (int k = 0; k < TSR_STAGE_SLOTS; k++) {
                mine[4 * k] = x.use[k].n;
                mine[4 * k + 1] = llround(x.use[k].cpu * 1e6);
                mine[4 * k + 2] = llround(x.use[k].wall * 1e6);
                mine[4 * k + 3] = x.use[k].rss;
            }
            if (rt->role == TSR_ROLE_MASTER &&
                !(stage_all = malloc((size_t)rt->size * sizeof mine)))
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory gathering the stage figures");
            s = tsr_comm_agree(rt->comm, s);
            int rc = s == TSR_OK ? MPI_Gather(mine, TSR_STAGE_SLOTS * 4, MPI_INT64_T, stage_all,
                                              TSR_STAGE_SLOTS * 4, MPI_INT64_T, 0, rt->comm)
                                 : MPI_SUCCESS;
            if (rc != MPI_SUCCESS)
                s = tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Gather of the stage figures");
        }
    }
    double cpu_total = 0.0;
    tsr_status_t us = tsr_comm_usage(rt->comm, &cpu_total, &sum->peak_rss);
    if (s == TSR_OK)
        s = us;
    sum->seconds = tsr_now() - t0;
    sum->lowpass = plan && plan->lowpass;
    if (s == TSR_OK) {
        sum->n_sites = o->align_only ? 0 : tsr_count_sites(o->outdir);
        int64_t *rss_by_rank = NULL;   /* peak RSS by rank, at the master (summary.json) */
        int64_t *graph_by_rank = NULL; /* task graph bytes by rank: 0 except at rank 0 */
        s = tsr_comm_gather_i64(rt->comm, 0, tsr_peak_rss(), &rss_by_rank);
        if (s == TSR_OK)
            s = tsr_comm_gather_i64(rt->comm, 0, (int64_t)tsr_graph_bytes(g), &graph_by_rank);
        if (s == TSR_OK && rt->role == TSR_ROLE_MASTER)
            s = tsr_write_summary(plan, rt, pl.n_threads, sum, cpu_total, rss_by_rank, graph_by_rank, stage_names,
                                  stage_all);
        free(rss_by_rank);
        free(graph_by_rank);
        s = tsr_comm_agree(rt->comm, s);
    }
    free(stage_all);
    tsr_graph_destroy(&g);
    tsr_pool_destroy(&pool);
    tsr_placement_free(&pl);
    tsr_topo_destroy(&topo);
    tsr_plan_destroy(&plan);
    return s;
}

tsr_status_t tsr_pipeline_add(const tsr_rt_t *rt, const char *outdir, const char *new_sheet, int threads,
                              int64_t mem_per_rank, const tsr_run_provenance_t *provenance,
                              tsr_run_summary_t *sum)
{
    memset(sum, 0, sizeof *sum);
    tsr_run_record_t *rec = calloc(1, sizeof *rec);
    tsr_status_t s = rec ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    if (s == TSR_OK)
        s = tsr_run_record_read(outdir, rec);
    if (s == TSR_OK && !rec->lowpass)
        s = tsr_error_set(TSR_ERR_USAGE, "'%s' is a deep-mode run: tessera add supports low-pass runs only; "
                          "rerun `tessera run` on the union sheet instead", outdir);
    int part = 0;
    if (s == TSR_OK && rt->role == TSR_ROLE_MASTER) {
        s = tsr_plan_part_add(outdir, new_sheet, &part);
        if (s == TSR_OK)
            tsr_log_info("%s: sheet part %04d of %s", new_sheet, part, outdir);
    }
    s = tsr_comm_agree(rt->comm, s);
    if (s == TSR_OK) {
        rec->opts.threads = threads;
        rec->opts.mem_per_rank = mem_per_rank;
        rec->opts.provenance = provenance;
        s = tsr_pipeline_run(rt, &rec->opts, sum);
    }
    free(rec);
    return s;
}
