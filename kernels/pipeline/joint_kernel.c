/*
 * joint_kernel.c - the joint kernel object: reads the evidence partitions
 * of a joint task's work unit (every batch of a unit; tsr_plan_work_create)
 * and, for each region of the unit, runs tsr_joint_region()
 * (kernels/joint_region.c) and writes the region's call set to its member of
 * the unit's output.
 */
#include "io/io.h"
#include "kernels/pipeline/pipeline.h"

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
    tsr_work_t *w = NULL;
    TSR_CALL(tsr_plan_work_create(plan, task, &w));
    tsr_status_t s = TSR_OK;
    tsr_evidence_t **ev = calloc((size_t)w->n_inputs + 1, sizeof *ev);
    if (!ev)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint task %s", task->key);
    /* a packed unit: one region after another, each from and into its members of the unit's files */
    for (int k = 0; k < w->n_regs && s == TSR_OK; k++) {
        const tsr_region_t *reg = &w->reg[k];
        const char *contig = tsr_ref_contig_name(st->ref, reg->contig);
        char path[4200];
        if (!contig)
            s = tsr_error_set(TSR_ERR_STATE, "joint task %s: region %s is not in the reference %s", task->key,
                              reg->name, plan->opts.ref);
        for (int b = 0; b < w->n_inputs && s == TSR_OK; b++) {
            tsr_work_member(w, w->inputs[b], k, 0, path, sizeof path);
            s = tsr_partition_read(path, &ev[b]);
            if (s == TSR_OK && (strcmp(ev[b]->contig, contig) != 0 || ev[b]->start != reg->start ||
                                ev[b]->end != reg->end))
                s = tsr_error_set(TSR_ERR_STATE, "%s: holds %s:%lld-%lld, the plan expects region %s", path,
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
            s = tsr_joint_region(ev, w->n_inputs, seq, &o, &cs);
        tsr_work_member(w, w->output, k, 1, path, sizeof path);
        if (s == TSR_OK)
            s = tsr_callset_write(path, cs);
        tsr_callset_destroy(&cs);
        for (int b = 0; b < w->n_inputs; b++)
            tsr_evidence_destroy(&ev[b]);
        free(seq);
    }
    free(ev);
    tsr_plan_work_destroy(&w);
    return s;
}

const tsr_kernel_t tsr_kernel_joint = {
    .name = "joint",
    .version = 4,
    .init = joint_init,
    .process = joint_process,
    .destroy = joint_destroy,
};
