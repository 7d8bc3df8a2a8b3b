/*
 * lowpass_kernel.c - the low-pass kernel objects (issue 6). In lowpass mode
 * the call task type runs "lowpass_evidence" (one batch's alignment files ->
 * DIR/evidence/G/U/bK.h5, a low-pass partition) and the joint task type runs
 * "lowpass_discover" (every batch of U -> DIR/joint/G/U.h5), each on the work
 * unit tsr_plan_work_create() resolves, one region of the unit after another
 * (a packed unit's files hold a member per region), or one site window of a
 * large unit's region (tsr_plan_lp_windows). See kernels/README.md.
 */
#include "io/io.h"
#include "kernels/pipeline/pipeline.h"
#include "kernels/kernels.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TSR_LP_MIN_PASS_QUAL 60.0 /* the lowest LowQual threshold in low-pass mode */

typedef struct lp_state {
    tsr_ref_t *ref;
    pthread_mutex_t lock; /* the reference handle is not thread-safe */
} lp_state_t;

static tsr_status_t lp_init(const tsr_kernel_env_t *env, void **state)
{
    *state = NULL;
    lp_state_t *st;
    TSR_ALLOC(st, 1);
    tsr_status_t s = tsr_ref_open(env->plan->opts.ref, &st->ref);
    if (s == TSR_OK && pthread_mutex_init(&st->lock, NULL) != 0) {
        tsr_ref_close(&st->ref);
        s = tsr_error_set(TSR_ERR_INTERNAL, "low-pass kernel: pthread_mutex_init failed");
    }
    if (s != TSR_OK) {
        free(st);
        return s;
    }
    *state = st;
    return TSR_OK;
}

static void lp_destroy(void **state)
{
    if (!state || !*state)
        return;
    lp_state_t *st = *state;
    tsr_ref_close(&st->ref);
    pthread_mutex_destroy(&st->lock);
    free(st);
    *state = NULL;
}

static void lp_opts_from_plan(const tsr_plan_t *plan, tsr_lp_opts_t *o)
{
    tsr_lp_opts_init(o);
    o->ref_path = plan->opts.ref;
    o->min_mapq = plan->opts.min_mapq;
    o->min_baseq = plan->opts.min_baseq;
    /* one chi-square test per observed position: ~1e6 per Mb, so the LowQual bar is at least p = 1e-6 */
    o->min_qual = plan->opts.min_qual > TSR_LP_MIN_PASS_QUAL ? plan->opts.min_qual : TSR_LP_MIN_PASS_QUAL;
    /*
     * Below QUAL 30 the sites are almost all pairs of sequencing errors (measured on simulated cohorts: 3,176
     * of 3,212 sites under QUAL 30 were false at 2,000 x 0.1x); each costs ~46 bytes per sample in the
     * region's call set, so by default (--min-site-qual 30) they are not reported (those from 30 to
     * min_qual stay, filtered LowQual). A federated release lowers it so the merge can call them on the
     * pooled evidence (kernels/stats/federated_merge.c), and with --min-alt-obs 1 its single ALT reads too.
     */
    o->min_site_qual = plan->opts.min_site_qual;
    o->min_alt_obs = plan->opts.min_alt_obs;
}

static tsr_status_t lp_evidence_process(void *state, const tsr_kernel_env_t *env, const tsr_task_t *task)
{
    lp_state_t *st = state;
    const tsr_plan_t *plan = env->plan;
    tsr_work_t *w = NULL;
    TSR_CALL(tsr_plan_work_create(plan, task, &w));
    tsr_lp_opts_t o;
    lp_opts_from_plan(plan, &o);
    /* a packed unit: each region into its member, every input opened once for all of them */
    tsr_status_t s = w->n_regs > 1 ? tsr_region_readers_create(w->n_inputs, &o.readers) : TSR_OK;
    for (int k = 0; k < w->n_regs && s == TSR_OK; k++) {
        const tsr_region_t *reg = &w->reg[k];
        const char *contig = NULL;
        char *seq = NULL, out[4200];
        int64_t seq_len = 0;
        s = tsr_region_ref_fetch(st->ref, &st->lock, reg, task->key, plan->opts.ref, &contig, &seq,
                                 &o.ref_before, &seq_len);
        tsr_lp_evidence_t *ev = NULL;
        if (s == TSR_OK)
            s = tsr_lp_evidence_region(seq + o.ref_before, seq_len, contig, reg->start, reg->end, w->n_inputs,
                                       w->sample_ids, (const char *const *)w->inputs, &o, env->pool, &ev);
        tsr_work_member(w, w->output, k, 1, out, sizeof out);
        if (s == TSR_OK)
            s = tsr_lp_partition_write(out, ev);
        tsr_lp_evidence_destroy(&ev);
        free(seq);
    }
    tsr_region_readers_destroy(&o.readers);
    tsr_plan_work_destroy(&w);
    return s;
}

/* This thread's CPU seconds (debug timings of discovery tasks). */
static double lp_cpu_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static tsr_status_t lp_sink(void *ctx, const tsr_callset_t *window)
{
    return tsr_callset_writer_append(ctx, window);
}

/* One region of a discovery task's unit: member k of every batch's partition -> member k of the call set. */
static tsr_status_t lp_discover_member(lp_state_t *st, const tsr_plan_t *plan, const tsr_task_t *task,
                                       const tsr_work_t *w, int k)
{
    const tsr_region_t *reg = &w->reg[k];
    const char *contig = tsr_ref_contig_name(st->ref, reg->contig);
    tsr_lp_evidence_t **ev = NULL;
    tsr_status_t s = TSR_OK;
    char path[4200];
    if (!contig)
        s = tsr_error_set(TSR_ERR_STATE, "task %s: region %s is not in the reference %s", task->key, reg->name,
                          plan->opts.ref);
    const double t0 = lp_cpu_now();
    if (s == TSR_OK && !(ev = calloc((size_t)w->n_inputs + 1, sizeof *ev)))
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in task %s", task->key);
    for (int b = 0; b < w->n_inputs && s == TSR_OK; b++) {
        tsr_work_member(w, w->inputs[b], k, 0, path, sizeof path);
        s = tsr_lp_partition_read(path, &ev[b]);
        if (s == TSR_OK && (strcmp(ev[b]->contig, contig) != 0 || ev[b]->start != reg->start ||
                            ev[b]->end != reg->end || ev[b]->n_samples != w->input_samples[b]))
            s = tsr_error_set(TSR_ERR_STATE, "%s: holds %s:%lld-%lld for %d samples, the plan expects region %s",
                              path, ev[b]->contig, (long long)ev[b]->start + 1, (long long)ev[b]->end,
                              ev[b]->n_samples, reg->name);
    }
    const double t1 = lp_cpu_now();
    tsr_lp_opts_t o;
    lp_opts_from_plan(plan, &o);
    o.win_start = w->win_start; /* a site-window task: its window's sites (0, 0: the whole region) */
    o.win_end = w->win_end;
    /* the call set goes to the file a window at a time (memory flat in the cohort size) */
    tsr_callset_writer_t *cw = NULL;
    const tsr_sheet_t *sh = w->sheet;
    const int32_t N = w->n_samples;
    tsr_work_member(w, w->output, k, 1, path, sizeof path);
    if (s == TSR_OK)
        s = tsr_callset_writer_open(path, contig, reg->start, reg->end, N, 1, sh->n_populations, &cw);
    if (s == TSR_OK)
        s = tsr_lp_discover_region(ev, w->n_inputs, sh->sample_pop, sh->n_populations, &o,
                                   tsr_callset_window_sites(N, 0), lp_sink, cw);
    tsr_status_t c = tsr_callset_writer_close(&cw, s == TSR_OK);
    if (s == TSR_OK)
        s = c;
    if (s == TSR_OK) /* what a site window costs beyond its share of the region (kernels/README.md) */
        tsr_log_debug("%s: %d partitions read in %.3f CPU s, sites discovered and written in %.3f CPU s", task->key,
                      w->n_inputs, t1 - t0, lp_cpu_now() - t1);
    for (int b = 0; ev && b < w->n_inputs; b++)
        tsr_lp_evidence_destroy(&ev[b]);
    free(ev);
    return s;
}

static tsr_status_t lp_discover_process(void *state, const tsr_kernel_env_t *env, const tsr_task_t *task)
{
    tsr_work_t *w = NULL;
    TSR_CALL(tsr_plan_work_create(env->plan, task, &w));
    tsr_status_t s = TSR_OK;
    for (int k = 0; w->window < 0 && k < w->n_regs && s == TSR_OK; k++) /* packed: one region after another */
        s = lp_discover_member(state, env->plan, task, w, k);
    if (w->window >= 0) /* a site window of a one-region unit */
        s = lp_discover_member(state, env->plan, task, w, 0);
    tsr_plan_work_destroy(&w);
    return s;
}

const tsr_kernel_t tsr_kernel_lowpass_evidence = {
    .name = "lowpass_evidence",
    .version = 5, /* 5: writes where its task's output says (a staging file with --evidence-layout packs); 4: packed files in the 1.10 formats, small members' datasets compact */
    .init = lp_init,
    .process = lp_evidence_process,
    .destroy = lp_destroy,
};

const tsr_kernel_t tsr_kernel_lowpass_discover = {
    .name = "lowpass_discover",
    .version = 6, /* 6: a large unit's discovery split into site-window tasks (joint/U/wWWWW, own call sets) */
    .init = lp_init,
    .process = lp_discover_process,
    .destroy = lp_destroy,
};
