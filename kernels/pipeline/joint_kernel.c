/*
 * joint_kernel.c - the joint kernel object: reads the evidence partitions
 * of a joint task's work unit (every batch of a region; tsr_plan_work_create),
 * runs tsr_joint_region() (kernels/joint_region.c) and writes the region's call
 * set to the unit's output.
 */
#include "io/io.h"
#include "kernels/pipeline/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------- kernel object */

typedef struct joint_state {
    tsr_ref_t *ref;
    tsr_ploidy_t *ploidy; /* built-in or --ploidy-bed rules */
    int8_t *sex;          /* per sheet sample */
} joint_state_t;

/* The ploidy map of the run's reference and the sheet's sexes. */
static tsr_status_t joint_ploidy_init(joint_state_t *st, const tsr_plan_t *plan)
{
    int n = tsr_ref_n_contigs(st->ref);
    const char **names = calloc((size_t)n + 1, sizeof *names);
    int64_t *lens = calloc((size_t)n + 1, sizeof *lens);
    st->sex = calloc((size_t)plan->sheet->n_samples + 1, sizeof *st->sex);
    tsr_status_t s = names && lens && st->sex ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    for (int i = 0; s == TSR_OK && i < n; i++) {
        names[i] = tsr_ref_contig_name(st->ref, i);
        lens[i] = tsr_ref_contig_length(st->ref, i);
    }
    for (int i = 0; s == TSR_OK && i < plan->sheet->n_samples; i++)
        st->sex[i] = (int8_t)plan->sheet->samples[i].sex;
    if (s == TSR_OK)
        s = tsr_ploidy_create(plan->opts.ploidy_bed, n, names, lens, &st->ploidy);
    free(names);
    free(lens);
    return s;
}

static tsr_status_t joint_init(const tsr_kernel_env_t *env, void **state)
{
    *state = NULL;
    joint_state_t *st;
    TSR_ALLOC(st, 1);
    tsr_status_t s = tsr_ref_open(env->plan->opts.ref, &st->ref);
    if (s == TSR_OK)
        s = joint_ploidy_init(st, env->plan);
    if (s != TSR_OK) {
        tsr_ref_close(&st->ref);
        tsr_ploidy_destroy(&st->ploidy);
        free(st->sex);
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
    tsr_ploidy_destroy(&st->ploidy);
    free(st->sex);
    free(st);
    *state = NULL;
}

static tsr_status_t joint_process(void *state, const tsr_kernel_env_t *env, const tsr_task_t *task)
{
    joint_state_t *st = state;
    const tsr_plan_t *plan = env->plan;
    tsr_work_t *w = NULL;
    TSR_CALL(tsr_plan_work_create(plan, task, &w));
    const tsr_region_t *reg = w->reg;
    const char *contig = tsr_ref_contig_name(st->ref, reg->contig);
    tsr_evidence_t **ev = NULL;
    tsr_status_t s = TSR_OK;
    int n_cohort = 0; /* the batches' samples must be the sheet's, in order, for the sexes to line up */
    if (!contig)
        s = tsr_error_set(TSR_ERR_STATE, "joint task %s: region %s is not in the reference %s", task->key,
                          reg->name, plan->opts.ref);
    if (s == TSR_OK && !(ev = calloc((size_t)w->n_inputs + 1, sizeof *ev)))
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint task %s", task->key);
    for (int b = 0; b < w->n_inputs && s == TSR_OK; b++) {
        s = tsr_partition_read(w->inputs[b], &ev[b]);
        if (s == TSR_OK && (strcmp(ev[b]->contig, contig) != 0 || ev[b]->start != reg->start ||
                            ev[b]->end != reg->end))
            s = tsr_error_set(TSR_ERR_STATE, "%s: holds %s:%lld-%lld, the plan expects region %s", w->inputs[b],
                              ev[b]->contig, (long long)ev[b]->start + 1, (long long)ev[b]->end, reg->name);
        for (int j = 0; s == TSR_OK && j < ev[b]->n_samples; j++, n_cohort++)
            if (n_cohort >= plan->sheet->n_samples || strcmp(ev[b]->sample_ids[j], plan->sheet->samples[n_cohort].id))
                s = tsr_error_set(TSR_ERR_STATE, "%s: sample %d is '%s', the sheet's is '%s'", w->inputs[b], j,
                                  ev[b]->sample_ids[j],
                                  n_cohort < plan->sheet->n_samples ? plan->sheet->samples[n_cohort].id : "(none)");
    }
    char *seq = NULL;
    int64_t seq_len = 0;
    if (s == TSR_OK)
        s = tsr_ref_fetch(st->ref, contig, reg->start, reg->end, &seq, &seq_len);
    tsr_joint_opts_t o;
    tsr_joint_opts_init(&o);
    o.min_qual = plan->opts.min_qual;
    o.ploidy = st->ploidy;
    o.sex = st->sex;
    tsr_callset_t *cs = NULL;
    if (s == TSR_OK)
        s = tsr_joint_region(ev, w->n_inputs, seq, &o, &cs);
    if (s == TSR_OK)
        s = tsr_callset_write(w->output, cs);
    tsr_callset_destroy(&cs);
    for (int b = 0; ev && b < w->n_inputs; b++)
        tsr_evidence_destroy(&ev[b]);
    free(ev);
    free(seq);
    tsr_plan_work_destroy(&w);
    return s;
}

const tsr_kernel_t tsr_kernel_joint = {
    .name = "joint",
    .version = 4, /* 4: haploid calls (ploidy) */
    .init = joint_init,
    .process = joint_process,
    .destroy = joint_destroy,
};
