/*
 * cohort_kernel.c - the cohort kernel: concatenate every region's call set in
 * genome order into cohort.bcf (+.csi) and stats.tsv through the io cohort
 * writer, with the cohort-wide statistics (statistics.json,
 * sample_qc.tsv) and report.html. Deep mode runs it in parallel: a part task
 * per unit (after its joint task) writes the unit's BCF blocks, stats lines
 * and reduction counts, and the final task joins the parts in genome order
 * (tsr_cohort_writer_open_concat). Low-pass keeps one task over every region
 * (its likelihood statistics keep per-site values that do not merge from
 * files). The work unit (tsr_plan_work_create) lists the call sets in region
 * order; a part takes its unit's.
 * The report's run facts are this rank's as the cohort task ends (the
 * pipeline's totals are in summary.json, written after it). cohort.h5 is
 * the kernel's finish stage, not its task: every rank writes it
 * collectively after the task graph (kernels/stats/cohort_h5.c), journaled
 * by the scheduler.
 */
#include "io/h5_store.h"
#include "kernels/stats/stats.h"
#include "kernels/pipeline/pipeline.h"
#include "tsr_version.h"

#include <hdf5.h>
#include <htslib/hts.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* Inputs, versions, CPU time and peak memory of this rank, and the date, for report.html. */
static tsr_status_t tsr_cohort_facts(tsr_cohort_writer_t *w, const tsr_kernel_env_t *env)
{
    enum { MAXF = 14 };
    char val[MAXF][512];
    const char *key[MAXF], *value[MAXF];
    int n = 0;
#define TSR_FACT(k, ...) (key[n] = (k), snprintf(val[n], sizeof val[n], __VA_ARGS__), value[n] = val[n], n++)
    const tsr_run_opts_t *o = &env->plan->opts;
    TSR_FACT("command", "tessera run");
    TSR_FACT("reference", "%s", o->ref);
    TSR_FACT("sample sheet", "%s", o->samples);
    TSR_FACT("output", "%s", o->outdir);
    TSR_FACT("ranks", "%d", env->rt->size);
    TSR_FACT("CPU time (rank writing the cohort, so far)", "%.2f s", tsr_cpu_seconds());
    TSR_FACT("peak memory (rank writing the cohort)", "%.1f MiB", (double)tsr_peak_rss() / 1048576.0);
    char date[64];
    tsr_utc_now(date, sizeof date);
    TSR_FACT("written", "%s", date);
    TSR_FACT("tessera", "%s", TSR_VERSION);
    char mpi[MPI_MAX_LIBRARY_VERSION_STRING] = "unknown";
    int mpi_len = 0;
    if (MPI_Get_library_version(mpi, &mpi_len) != MPI_SUCCESS)
        snprintf(mpi, sizeof mpi, "unknown");
    mpi[strcspn(mpi, "\r\n")] = '\0';
    TSR_FACT("MPI", "%s", mpi);
    unsigned h5maj = 0, h5min = 0, h5rel = 0;
    if (H5get_libversion(&h5maj, &h5min, &h5rel) < 0)
        h5maj = h5min = h5rel = 0;
    TSR_FACT("HDF5", "%u.%u.%u", h5maj, h5min, h5rel);
    TSR_FACT("htslib", "%s", hts_version());
#undef TSR_FACT
    tsr_report_facts_t facts = {n, key, value};
    return tsr_cohort_writer_set_facts(w, &facts);
}

/*
 * The rank's state: the reference (its .fai: a line per contig, 3,001 with GRCh38's decoys), opened at the
 * rank's first cohort task and kept for its others (a part task per unit, so a packed reference's parts
 * each parsed it before). One per rank; the run's --ref cannot change under it (the plan checked it).
 */
typedef struct cohort_state {
    tsr_ref_t *ref;
} cohort_state_t;

static tsr_status_t tsr_cohort_init(const tsr_kernel_env_t *env, void **state)
{
    (void)env;
    cohort_state_t *st = calloc(1, sizeof *st);
    *state = st;
    return st ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory starting the cohort kernel");
}

/* Append call sets inputs[first, first + n) to w, a window of sites at a time. */
static tsr_status_t tsr_cohort_add_inputs(tsr_cohort_writer_t *w, const tsr_work_t *wk, int first, int n,
                                          int64_t window)
{
    tsr_status_t s = TSR_OK;
    for (int r = first; r < first + n && s == TSR_OK; r++) {
        if (tsr_h5_member_empty(wk->inputs[r])) /* listed empty in its file's member table: no sites */
            continue;
        tsr_callset_reader_t *rd = NULL;
        s = tsr_callset_reader_open(wk->inputs[r], &rd);
        /* a window of sites at a time: memory follows the window, not the region x cohort */
        int64_t n_windows = 0;
        while (s == TSR_OK) {
            tsr_callset_t *cs = NULL;
            s = tsr_callset_reader_next(rd, window, &cs);
            if (s == TSR_OK && cs)
                s = tsr_cohort_writer_add(w, cs);
            int more = cs != NULL;
            n_windows += more;
            tsr_callset_destroy(&cs);
            if (!more)
                break;
        }
        if (s == TSR_OK)
            tsr_log_debug("cohort: %s in %lld call-set windows of at most %lld sites", wk->inputs[r],
                          (long long)n_windows, (long long)window);
        tsr_callset_reader_close(&rd);
    }
    return s;
}

/*
 * A cohort task: a unit's part (arg >= 0: its regions' call sets -> DIR/cohort_parts/G/pU.*), the final task
 * (TSR_COHORT_ARG_FINAL: the parts in unit order, which is genome order -> the cohort outputs), or the whole
 * genome in one pass (TSR_COHORT_ARG_WHOLE, low-pass).
 */
static tsr_status_t tsr_cohort_process(void *state, const tsr_kernel_env_t *env, const tsr_task_t *task)
{
    cohort_state_t *st = state;
    const tsr_plan_t *plan = env->plan;
    if (task->arg >= plan->n_units || task->arg < TSR_COHORT_ARG_WHOLE)
        return tsr_error_set(TSR_ERR_INTERNAL, "cohort task %s: argument %lld out of range", task->key,
                             (long long)task->arg);
    const double t0 = tsr_now(), cpu0 = tsr_cpu_seconds(); /* the task's wall and CPU, logged (a rank runs one task) */
    tsr_work_t *wk = NULL;
    TSR_CALL(tsr_plan_work_create(plan, task, &wk));
    tsr_status_t s = st->ref ? TSR_OK : tsr_ref_open(plan->opts.ref, &st->ref);
    tsr_ref_t *ref = st->ref;
    tsr_cohort_writer_t *w = NULL;
    tsr_mem_budget_t bud = {0}; /* --mem-per-rank's cohort share sizes the window (none: the default) */
    if (s == TSR_OK)
        s = tsr_plan_budget(plan, &bud);
    const int64_t window = tsr_callset_window_sites(wk->n_samples, bud.cohort_bytes / 2);
    if (s == TSR_OK && task->arg >= 0) {
        const tsr_unit_t *un = &plan->units[task->arg];
        s = tsr_cohort_writer_open_part(wk->output, (int)task->arg, ref, wk->sheet, &w);
        if (s == TSR_OK)
            s = tsr_cohort_add_inputs(w, wk, un->first, un->n, window);
    } else if (s == TSR_OK && task->arg == TSR_COHORT_ARG_FINAL) {
        s = tsr_cohort_writer_open_concat(wk->output, ref, wk->sheet, &w);
        for (int u = 0; u < plan->n_units && s == TSR_OK; u++)
            s = tsr_cohort_writer_add_part(w, u);
    } else if (s == TSR_OK) {
        s = tsr_cohort_writer_open(wk->output, ref, wk->sheet, &w);
        if (s == TSR_OK)
            s = tsr_cohort_add_inputs(w, wk, 0, wk->n_inputs, window);
    }
    tsr_cohort_writer_set_lp_power(w, tsr_lp_power); /* the low-pass SFS counts every variant by discovery's power */
    if (w && s == TSR_OK && task->arg < 0)
        s = tsr_cohort_facts(w, env);
    if (w) {
        int64_t n = tsr_cohort_writer_n_sites(w);
        tsr_status_t c = tsr_cohort_writer_close(&w, s == TSR_OK);
        if (s == TSR_OK)
            s = c;
        if (s == TSR_OK && task->arg < 0)
            tsr_log_info("cohort outputs written: %lld sites%s in %.3f s wall, %.3f CPU s", (long long)n,
                         task->arg == TSR_COHORT_ARG_FINAL ? " (joined from the parts)" : "", tsr_now() - t0,
                         tsr_cpu_seconds() - cpu0);
        else if (s == TSR_OK)
            tsr_log_info("%s: %lld sites in %.3f s wall, %.3f CPU s", task->key, (long long)n, tsr_now() - t0,
                         tsr_cpu_seconds() - cpu0);
    }
    tsr_plan_work_destroy(&wk);
    return s;
}

static void tsr_cohort_destroy(void **state)
{
    if (!state || !*state)
        return;
    cohort_state_t *st = *state;
    tsr_ref_close(&st->ref);
    free(st);
    *state = NULL;
}

/*
 * The finish stage, collective on comm: every rank writes its block of cohort.h5's rows. Its inputs are
 * the cohort task's (every region's call set, in region order), so it takes the same work unit.
 */
static tsr_status_t tsr_cohort_h5_run(void *ctx, MPI_Comm comm)
{
    const tsr_kernel_env_t *env = ctx;
    const tsr_plan_t *plan = env->plan;
    tsr_task_t task;
    memset(&task, 0, sizeof task);
    task.type = TSR_TASK_COHORT;
    task.key = "cohort_h5";
    tsr_work_t *wk = NULL;
    tsr_ref_t *ref = NULL;
    tsr_mem_budget_t bud;
    tsr_status_t mine = tsr_plan_work_create(plan, &task, &wk);
    if (mine == TSR_OK)
        mine = tsr_plan_budget(plan, &bud);
    if (mine == TSR_OK)
        mine = tsr_ref_open(plan->opts.ref, &ref);
    tsr_status_t s = tsr_comm_agree(comm, mine);
    if (s == TSR_OK) {
        char h5[4200];
        snprintf(h5, sizeof h5, "%s/cohort.h5", wk->output);
        double t0 = tsr_now();
        int64_t n_sites = 0;
        s = tsr_cohort_h5_write(comm, h5, ref, wk->sheet, wk->n_inputs, (const char *const *)wk->inputs,
                                bud.cohort_bytes, &n_sites);
        if (s == TSR_OK && env->rt->role == TSR_ROLE_MASTER)
            tsr_log_info("%s: %lld sites written collectively in %.2f s", h5, (long long)n_sites, tsr_now() - t0);
    }
    tsr_ref_close(&ref);
    tsr_plan_work_destroy(&wk);
    return s;
}

static const char *const tsr_cohort_h5_outputs[] = {"cohort.h5"};
/* a joint task re-made after cohort.h5 was journaled makes it run again (the scheduler's rule for tasks) */
static const char *const tsr_cohort_h5_inputs[] = {"joint/"};
static const tsr_stage_t tsr_cohort_h5_stage = {
    .key = "cohort_h5",
    .n_outputs = 1,
    .outputs = tsr_cohort_h5_outputs,
    .n_input_prefixes = 1,
    .input_prefixes = tsr_cohort_h5_inputs,
    .run = tsr_cohort_h5_run,
    /* written collectively: its bytes follow the rank count, its content does not (audit_run.c) */
    .digest = tsr_pipeline_h5_digest,
};

const tsr_kernel_t tsr_kernel_cohort = {
    .name = "cohort",
    .version = 13, /* 13: a one-population low-pass sfs: expected counts under the fitted k^-alpha prior (prior_exponent); 12: the low-pass sfs over every variant (each reported site weighted by 1 / its discovery power), the reported sites' spectrum as sfs_discovered; 11: the low-pass 1D SFS (statistics.json sfs) over the reported biallelic SNVs without LowQual, each site's posterior with the other populations' frequency as prior; 10: low-pass HWE/ExcHet/F EMs over distinct (PL, DP) rows with counts (sums reordered: last digits move), low-pass cohort.bcf at BGZF level 1; 9: deep runs write a part per unit, joined by the final task (BGZF blocks differ); 8: low-pass HWE/ExcHet: flat samples left out, p = 1 where reads show one allele; 7: HWE/ExcHet of low-pass runs by a score test; haploid GT and PL (ploidy) */
    .init = tsr_cohort_init,
    .process = tsr_cohort_process,
    .destroy = tsr_cohort_destroy,
    .finish = &tsr_cohort_h5_stage,
};
