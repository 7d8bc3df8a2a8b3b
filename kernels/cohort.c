/*
 * cohort.c - the cohort kernel: concatenate every region's call set in
 * genome order into cohort.bcf (+.csi), cohort.h5 and stats.tsv through the
 * io cohort writer. One task, run after every joint task.
 */
#include "kernels/kernels.h"

#include <stdio.h>

static tsr_status_t tsr_cohort_init(const tsr_kernel_env_t *env, void **state)
{
    (void)env;
    *state = NULL;
    return TSR_OK;
}

static tsr_status_t tsr_cohort_process(void *state, const tsr_kernel_env_t *env, const tsr_task_t *task)
{
    (void)state;
    (void)task;
    const tsr_plan_t *plan = env->plan;
    tsr_ref_t *ref = NULL;
    TSR_CALL(tsr_ref_open(plan->opts.ref, &ref));
    tsr_cohort_writer_t *w = NULL;
    tsr_status_t s = tsr_cohort_writer_open(plan->opts.outdir, ref, plan->sheet, &w);
    for (int r = 0; r < plan->n_regions && s == TSR_OK; r++) {
        char rel[1024], path[4096];
        tsr_plan_joint_path(plan, r, rel, sizeof rel);
        tsr_callset_t *cs = NULL;
        s = tsr_plan_path(plan, rel, path, sizeof path);
        if (s == TSR_OK)
            s = tsr_callset_read(path, &cs);
        if (s == TSR_OK)
            s = tsr_cohort_writer_add(w, cs);
        tsr_callset_destroy(&cs);
    }
    if (w) {
        int64_t n = tsr_cohort_writer_n_sites(w);
        tsr_status_t c = tsr_cohort_writer_close(&w, s == TSR_OK);
        if (s == TSR_OK)
            s = c;
        if (s == TSR_OK)
            tsr_log_info("cohort outputs written: %lld sites", (long long)n);
    }
    tsr_ref_close(&ref);
    return s;
}

static void tsr_cohort_destroy(void **state)
{
    if (state)
        *state = NULL;
}

const tsr_kernel_t tsr_kernel_cohort = {
    .name = "cohort",
    .version = 3,
    .init = tsr_cohort_init,
    .process = tsr_cohort_process,
    .destroy = tsr_cohort_destroy,
};
