/*
 * call_kernel.c - the call kernel object: decodes a task (region x batch),
 * fetches the region's reference, resolves the batch's alignment files
 * through the plan, runs tsr_call_region() (kernels/call_pileup.c) and
 * writes the evidence partition. Task arg = region_index * n_batches + batch_index.
 */
#include "io/io.h"
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TSR_CALL_REF_PAD 1000 /* reference fetched beyond the region for deletions near its end */

/* ---------------------------------------------------------- kernel object */

typedef struct call_state {
    tsr_ref_t *ref;
    pthread_mutex_t lock; /* the reference handle is not thread-safe */
} call_state_t;

static tsr_status_t call_init(const tsr_kernel_env_t *env, void **state)
{
    *state = NULL;
    call_state_t *st;
    TSR_ALLOC(st, 1);
    tsr_status_t s = tsr_ref_open(env->plan->opts.ref, &st->ref);
    if (s != TSR_OK) {
        free(st);
        return s;
    }
    if (pthread_mutex_init(&st->lock, NULL) != 0) {
        tsr_ref_close(&st->ref);
        free(st);
        return tsr_error_set(TSR_ERR_INTERNAL, "call kernel: pthread_mutex_init failed");
    }
    *state = st;
    return TSR_OK;
}

static void call_destroy(void **state)
{
    if (!state || !*state)
        return;
    call_state_t *st = *state;
    tsr_ref_close(&st->ref);
    pthread_mutex_destroy(&st->lock);
    free(st);
    *state = NULL;
}

static tsr_status_t mkdir_parent(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return TSR_OK;
    *slash = '\0';
    return tsr_mkdir_p(dir);
}

static tsr_status_t call_process(void *state, const tsr_kernel_env_t *env, const tsr_task_t *task)
{
    call_state_t *st = state;
    const tsr_plan_t *plan = env->plan;
    if (plan->n_batches <= 0 || task->arg < 0 || task->arg >= (int64_t)plan->n_regions * plan->n_batches)
        return tsr_error_set(TSR_ERR_INTERNAL, "call task %s: argument %lld out of range", task->key,
                             (long long)task->arg);
    int r = (int)(task->arg / plan->n_batches), bi = (int)(task->arg % plan->n_batches);
    const tsr_region_t *reg = &plan->regions[r];
    const tsr_batch_t *batch = &plan->batches[bi];
    tsr_call_opts_t o;
    tsr_call_opts_init(&o);
    o.min_mapq = plan->opts.min_mapq;
    o.min_baseq = plan->opts.min_baseq;
    o.ref_path = plan->opts.ref;

    const char *contig = tsr_ref_contig_name(st->ref, reg->contig);
    int64_t clen = tsr_ref_contig_length(st->ref, reg->contig);
    int64_t fetch_end = reg->end + TSR_CALL_REF_PAD < clen ? reg->end + TSR_CALL_REF_PAD : clen;
    if (!contig || fetch_end < reg->end)
        return tsr_error_set(TSR_ERR_STATE, "call task %s: region %s is not in the reference %s", task->key,
                             reg->name, plan->opts.ref);
    char *seq = NULL;
    int64_t seq_len = 0;
    pthread_mutex_lock(&st->lock);
    tsr_status_t s = tsr_ref_fetch(st->ref, contig, reg->start, fetch_end, &seq, &seq_len);
    pthread_mutex_unlock(&st->lock);
    TSR_CALL(s);

    char **paths = calloc((size_t)batch->n + 1, sizeof *paths);
    const char **ids = calloc((size_t)batch->n + 1, sizeof *ids);
    if (!paths || !ids)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in call task %s", task->key);
    for (int i = 0; s == TSR_OK && i < batch->n; i++) {
        int sample = batch->first + i;
        char rel[4096];
        /* the plan resolves it already (aligned input, or outdir/aln/S.bam) */
        s = tsr_plan_sample_alignments(plan, sample, rel, sizeof rel);
        ids[i] = plan->sheet->samples[sample].id;
        if (s == TSR_OK && !(paths[i] = strdup(rel)))
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in call task %s", task->key);
    }
    tsr_evidence_t *ev = NULL;
    if (s == TSR_OK)
        s = tsr_call_region(seq, seq_len, contig, reg->start, reg->end, batch->n, ids,
                            (const char *const *)paths, &o, env->pool, &ev);
    char rel[4096], full[4096];
    if (s == TSR_OK) {
        tsr_plan_evidence_path(plan, r, bi, rel, sizeof rel);
        s = tsr_plan_path(plan, rel, full, sizeof full);
    }
    if (s == TSR_OK)
        s = mkdir_parent(full);
    if (s == TSR_OK)
        s = tsr_partition_write(full, ev);
    tsr_evidence_destroy(&ev);
    for (int i = 0; paths && i < batch->n; i++)
        free(paths[i]);
    free(paths);
    free(ids);
    free(seq);
    return s;
}

const tsr_kernel_t tsr_kernel_call = {
    .name = "call",
    .version = 2,
    .init = call_init,
    .process = call_process,
    .destroy = call_destroy,
};
