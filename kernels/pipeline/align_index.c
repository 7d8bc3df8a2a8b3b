/*
 * align_index.c - the pipeline's hook for the node-shared minimap2 index:
 * decides from the plan whether the run aligns at all and where the index
 * file lives, then hands over to align_mm2.c, which owns the file (checked
 * against the reference and minimap2's parameters, built to a temporary name
 * and renamed) and the shared window. Like `bwa index`, the default keeps
 * the index beside the reference (REF.mmi) so that every run on that
 * reference reuses it; where that folder is not writable it is DIR/ref.mmi
 * as before. Rank 0 decides and broadcasts the path, so every rank reads the
 * same file. Loading before the task graph, collectively, is what lets one
 * rank per node load the index for every rank of the node (the scheduler
 * hands tasks to ranks one by one; no collective can run inside a task).
 */
#include "kernels/pipeline/pipeline.h"

#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

tsr_status_t tsr_align_index_create(const tsr_rt_t *rt, const tsr_plan_t *plan, int n_threads, tsr_mm_index_t **x)
{
    *x = NULL;
    int fastq = 0;
    for (int i = 0; i < plan->sheet->n_samples; i++)
        fastq |= plan->sheet->samples[i].kind == TSR_INPUT_FASTQ;
    if (!fastq)
        return TSR_OK;
    char cache[4096];
    int strict = plan->opts.index != NULL;
    tsr_status_t s = TSR_OK;
    if (rt->rank == 0) {
        if (strict) {
            if ((size_t)snprintf(cache, sizeof cache, "%s", plan->opts.index) >= sizeof cache)
                s = tsr_error_set(TSR_ERR_USAGE, "--index: the path is longer than %zu bytes", sizeof cache - 1);
        } else {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s", plan->opts.ref);
            int beside = (size_t)snprintf(cache, sizeof cache, "%s.mmi", plan->opts.ref) < sizeof cache &&
                         access(dirname(dir), W_OK) == 0;
            if (!beside)
                s = tsr_plan_path(plan, "ref.mmi", cache, sizeof cache);
        }
    }
    s = tsr_comm_agree(rt->comm, s);
    if (s != TSR_OK)
        return s;
    int rc = MPI_Bcast(cache, (int)sizeof cache, MPI_CHAR, 0, rt->comm);
    if (rc != MPI_SUCCESS)
        return tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Bcast of the index path");
    return tsr_mm_index_create(rt, plan->opts.ref, cache, strict, n_threads, x);
}
