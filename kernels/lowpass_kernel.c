/*
 * lowpass_kernel.c - the low-pass kernel objects (issue 6). In lowpass mode
 * the call task type runs "lowpass_evidence" (task arg = region * n_batches +
 * batch: one batch's alignment files -> DIR/evidence/R/bK.h5, a low-pass
 * partition) and the joint task type runs "lowpass_discover" (task arg =
 * region: every batch of R -> DIR/joint/R.h5). See kernels/README.md.
 */
#include "io/io.h"
#include "kernels/kernels.h"
#include "kernels/lowpass_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TSR_LP_MIN_PASS_QUAL 60.0 /* the lowest LowQual threshold in low-pass mode */
#define TSR_LP_MIN_SITE_QUAL 30.0 /* sites below are not reported at all in low-pass mode */
#define TSR_LP_REF_PAD 1000 /* reference beyond the region, for deletions anchored near its end */

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
     * region's call set, so they are not reported (those from 30 to min_qual stay, filtered LowQual).
     */
    o->min_site_qual = TSR_LP_MIN_SITE_QUAL;
}

static tsr_status_t lp_evidence_process(void *state, const tsr_kernel_env_t *env, const tsr_task_t *task)
{
    lp_state_t *st = state;
    const tsr_plan_t *plan = env->plan;
    if (plan->n_batches <= 0 || task->arg < 0 || task->arg >= (int64_t)plan->n_regions * plan->n_batches)
        return tsr_error_set(TSR_ERR_INTERNAL, "lowpass evidence task %s: argument %lld out of range", task->key,
                             (long long)task->arg);
    int r = (int)(task->arg / plan->n_batches), bi = (int)(task->arg % plan->n_batches);
    const tsr_region_t *reg = &plan->regions[r];
    tsr_lp_opts_t o;
    lp_opts_from_plan(plan, &o);
    const char *contig = tsr_ref_contig_name(st->ref, reg->contig);
    int64_t clen = tsr_ref_contig_length(st->ref, reg->contig);
    int64_t fetch_end = reg->end + TSR_LP_REF_PAD < clen ? reg->end + TSR_LP_REF_PAD : clen;
    if (!contig || fetch_end < reg->end)
        return tsr_error_set(TSR_ERR_STATE, "task %s: region %s is not in the reference %s", task->key, reg->name,
                             plan->opts.ref);
    char *seq = NULL;
    int64_t seq_len = 0;
    pthread_mutex_lock(&st->lock);
    tsr_status_t s = tsr_ref_fetch(st->ref, contig, reg->start, fetch_end, &seq, &seq_len);
    pthread_mutex_unlock(&st->lock);
    TSR_CALL(s);
    tsr_batch_inputs_t *in = NULL;
    s = tsr_plan_batch_inputs_create(plan, bi, &in);
    tsr_lp_evidence_t *ev = NULL;
    if (s == TSR_OK)
        s = tsr_lp_evidence_region(seq, seq_len, contig, reg->start, reg->end, in->n, in->ids,
                                   (const char *const *)in->paths, &o, env->pool, &ev);
    char rel[4096], full[4096];
    tsr_plan_evidence_path(plan, r, bi, rel, sizeof rel);
    if (s == TSR_OK)
        s = tsr_plan_output_path(plan, rel, full, sizeof full);
    if (s == TSR_OK)
        s = tsr_lp_partition_write(full, ev);
    tsr_lp_evidence_destroy(&ev);
    tsr_plan_batch_inputs_destroy(&in);
    free(seq);
    return s;
}

static tsr_status_t lp_sink(void *ctx, const tsr_callset_t *window)
{
    return tsr_callset_writer_append(ctx, window);
}

static tsr_status_t lp_discover_process(void *state, const tsr_kernel_env_t *env, const tsr_task_t *task)
{
    lp_state_t *st = state;
    const tsr_plan_t *plan = env->plan;
    if (task->arg < 0 || task->arg >= plan->n_regions)
        return tsr_error_set(TSR_ERR_INTERNAL, "lowpass discovery task %s: argument %lld out of range", task->key,
                             (long long)task->arg);
    int r = (int)task->arg;
    const tsr_region_t *reg = &plan->regions[r];
    const char *contig = tsr_ref_contig_name(st->ref, reg->contig);
    if (!contig)
        return tsr_error_set(TSR_ERR_STATE, "task %s: region %s is not in the reference %s", task->key, reg->name,
                             plan->opts.ref);
    tsr_lp_evidence_t **ev = calloc((size_t)plan->n_batches + 1, sizeof *ev);
    if (!ev)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory in task %s", task->key);
    tsr_status_t s = TSR_OK;
    char rel[4096], full[4096];
    for (int b = 0; b < plan->n_batches && s == TSR_OK; b++) {
        tsr_plan_evidence_path(plan, r, b, rel, sizeof rel);
        s = tsr_plan_path(plan, rel, full, sizeof full);
        if (s == TSR_OK)
            s = tsr_lp_partition_read(full, &ev[b]);
        if (s == TSR_OK && (strcmp(ev[b]->contig, contig) != 0 || ev[b]->start != reg->start ||
                            ev[b]->end != reg->end || ev[b]->n_samples != plan->batches[b].n))
            s = tsr_error_set(TSR_ERR_STATE, "%s: holds %s:%lld-%lld for %d samples, the plan expects region %s",
                              full, ev[b]->contig, (long long)ev[b]->start + 1, (long long)ev[b]->end,
                              ev[b]->n_samples, reg->name);
    }
    tsr_lp_opts_t o;
    lp_opts_from_plan(plan, &o);
    tsr_plan_joint_path(plan, r, rel, sizeof rel);
    if (s == TSR_OK)
        s = tsr_plan_output_path(plan, rel, full, sizeof full);
    /* the call set goes to the file a window at a time (memory flat in the cohort size) */
    tsr_callset_writer_t *w = NULL;
    const int32_t N = plan->sheet->n_samples;
    if (s == TSR_OK)
        s = tsr_callset_writer_open(full, contig, reg->start, reg->end, N, 1, plan->sheet->n_populations, &w);
    if (s == TSR_OK)
        s = tsr_lp_discover_region(ev, plan->n_batches, plan->sheet->sample_pop, plan->sheet->n_populations, &o,
                                   tsr_callset_window_sites(N), lp_sink, w);
    tsr_status_t c = tsr_callset_writer_close(&w, s == TSR_OK);
    if (s == TSR_OK)
        s = c;
    for (int b = 0; b < plan->n_batches; b++)
        tsr_lp_evidence_destroy(&ev[b]);
    free(ev);
    return s;
}

const tsr_kernel_t tsr_kernel_lowpass_evidence = {
    .name = "lowpass_evidence",
    .version = 1,
    .init = lp_init,
    .process = lp_evidence_process,
    .destroy = lp_destroy,
};

const tsr_kernel_t tsr_kernel_lowpass_discover = {
    .name = "lowpass_discover",
    .version = 3,
    .init = lp_init,
    .process = lp_discover_process,
    .destroy = lp_destroy,
};
