/*
 * call_kernel.c - the call kernel object: decodes a task (region x batch),
 * fetches the region's reference, resolves the batch's alignment files
 * through the plan, runs tsr_call_region() (kernels/call_region.c) and
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

static tsr_status_t call_process(void *state, const tsr_kernel_env_t *env, const tsr_task_t *task)
{
    call_state_t *st = state;
    const tsr_plan_t *plan = env->plan;
    if (plan->n_batches <= 0 || task->arg < 0 || task->arg >= (int64_t)plan->n_regions * plan->n_batches)
        return tsr_error_set(TSR_ERR_INTERNAL, "call task %s: argument %lld out of range", task->key,
                             (long long)task->arg);
    int r = (int)(task->arg / plan->n_batches), bi = (int)(task->arg % plan->n_batches);
    const tsr_region_t *reg = &plan->regions[r];
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

    tsr_batch_inputs_t *in = NULL;
    s = tsr_plan_batch_inputs_create(plan, bi, &in);
    tsr_evidence_t *ev = NULL;
    if (s == TSR_OK)
        s = tsr_call_region(seq, seq_len, contig, reg->start, reg->end, in->n, in->ids,
                            (const char *const *)in->paths, &o, env->pool, &ev);
    char rel[4096], full[4096];
    tsr_plan_evidence_path(plan, r, bi, rel, sizeof rel);
    if (s == TSR_OK)
        s = tsr_plan_output_path(plan, rel, full, sizeof full);
    if (s == TSR_OK)
        s = tsr_partition_write(full, ev);
    tsr_evidence_destroy(&ev);
    tsr_plan_batch_inputs_destroy(&in);
    free(seq);
    return s;
}

const tsr_kernel_t tsr_kernel_call = {
    .name = "call",
    .version = 4,
    .init = call_init,
    .process = call_process,
    .destroy = call_destroy,
};
