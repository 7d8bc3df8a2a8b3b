/*
 * joint_kernel.c - the joint kernel object: reads every batch's evidence
 * partition of a region, runs tsr_joint_region() (kernels/joint_em.c) and
 * writes the region's call set. Task arg = region_index.
 */
#include "io/io.h"
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------- kernel object */

typedef struct joint_state {
    tsr_ref_t *ref;
} joint_state_t;

static tsr_status_t joint_init(const tsr_kernel_env_t *env, void **state)
{
    *state = NULL;
    joint_state_t *st;
    TSR_ALLOC(st, 1);
    tsr_status_t s = tsr_ref_open(env->plan->opts.ref, &st->ref);
    if (s != TSR_OK) {
        free(st);
        return s;
    }
    *state = st;
    return TSR_OK;
}

static void joint_destroy(void **state)
{
    if (!state || !*state)
        return;
    joint_state_t *st = *state;
    tsr_ref_close(&st->ref);
    free(st);
    *state = NULL;
}

static tsr_status_t joint_process(void *state, const tsr_kernel_env_t *env, const tsr_task_t *task)
{
    joint_state_t *st = state;
    const tsr_plan_t *plan = env->plan;
    if (task->arg < 0 || task->arg >= plan->n_regions)
        return tsr_error_set(TSR_ERR_INTERNAL, "joint task %s: argument %lld out of range", task->key,
                             (long long)task->arg);
    int r = (int)task->arg;
    const tsr_region_t *reg = &plan->regions[r];
    const char *contig = tsr_ref_contig_name(st->ref, reg->contig);
    if (!contig)
        return tsr_error_set(TSR_ERR_STATE, "joint task %s: region %s is not in the reference %s", task->key,
                             reg->name, plan->opts.ref);
    tsr_evidence_t **ev = calloc((size_t)plan->n_batches + 1, sizeof *ev);
    if (!ev)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint task %s", task->key);
    tsr_status_t s = TSR_OK;
    char rel[4096], full[4096];
    for (int b = 0; b < plan->n_batches && s == TSR_OK; b++) {
        tsr_plan_evidence_path(plan, r, b, rel, sizeof rel);
        s = tsr_plan_path(plan, rel, full, sizeof full);
        if (s == TSR_OK)
            s = tsr_partition_read(full, &ev[b]);
        if (s == TSR_OK && (strcmp(ev[b]->contig, contig) != 0 || ev[b]->start != reg->start ||
                            ev[b]->end != reg->end))
            s = tsr_error_set(TSR_ERR_STATE, "%s: holds %s:%lld-%lld, the plan expects region %s", full,
                              ev[b]->contig, (long long)ev[b]->start + 1, (long long)ev[b]->end, reg->name);
    }
    char *seq = NULL;
    int64_t seq_len = 0;
    if (s == TSR_OK)
        s = tsr_ref_fetch(st->ref, contig, reg->start, reg->end, &seq, &seq_len);
    tsr_joint_opts_t o;
    tsr_joint_opts_init(&o);
    o.min_qual = plan->opts.min_qual;
    tsr_callset_t *cs = NULL;
    if (s == TSR_OK)
        s = tsr_joint_region(ev, plan->n_batches, seq, &o, &cs);
    tsr_plan_joint_path(plan, r, rel, sizeof rel);
    if (s == TSR_OK)
        s = tsr_plan_output_path(plan, rel, full, sizeof full);
    if (s == TSR_OK)
        s = tsr_callset_write(full, cs);
    tsr_callset_destroy(&cs);
    for (int b = 0; b < plan->n_batches; b++)
        tsr_evidence_destroy(&ev[b]);
    free(ev);
    free(seq);
    return s;
}

const tsr_kernel_t tsr_kernel_joint = {
    .name = "joint",
    .version = 3,
    .init = joint_init,
    .process = joint_process,
    .destroy = joint_destroy,
};
