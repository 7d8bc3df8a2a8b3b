/*
 * align_index.c - the pipeline's hook for the node-shared minimap2 index:
 * decides from the plan whether the run aligns at all and where the index
 * cache lives (DIR/ref.mmi), then hands over to align_mm2.c, which owns the
 * cache and the shared window. Loading before the task graph, collectively,
 * is what lets one rank per node load the index for every rank of the node
 * (the scheduler hands tasks to ranks one by one; no collective can run
 * inside a task).
 */
#include "kernels/pipeline/pipeline.h"

tsr_status_t tsr_align_index_create(const tsr_rt_t *rt, const tsr_plan_t *plan, int n_threads, tsr_mm_index_t **x)
{
    *x = NULL;
    int fastq = 0;
    for (int i = 0; i < plan->sheet->n_samples; i++)
        fastq |= plan->sheet->samples[i].kind == TSR_INPUT_FASTQ;
    if (!fastq)
        return TSR_OK;
    char cache[4096];
    /* the same plan on every rank: a path that does not fit fails on all of them */
    TSR_CALL(tsr_plan_path(plan, "ref.mmi", cache, sizeof cache));
    return tsr_mm_index_create(rt, plan->opts.ref, cache, n_threads, x);
}
