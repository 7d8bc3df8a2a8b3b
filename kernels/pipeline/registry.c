/*
 * registry.c - every kernel by name. The plan names the kernel of each task
 * type (plan->kernel[], set from the mode), and the driver finds it here:
 * one table, no per-mode tables.
 */
#include "kernels/pipeline/pipeline.h"

#include <string.h>

static const tsr_kernel_t *const tsr_kernels[] = {
    &tsr_kernel_align, &tsr_kernel_call,   &tsr_kernel_joint, &tsr_kernel_cohort, &tsr_kernel_lowpass_evidence,
    &tsr_kernel_lowpass_discover,
};

const tsr_kernel_t *tsr_kernel_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof tsr_kernels / sizeof tsr_kernels[0]; i++)
        if (!strcmp(tsr_kernels[i]->name, name))
            return tsr_kernels[i];
    return NULL;
}

const tsr_kernel_t *tsr_kernel_for_plan(const tsr_plan_t *plan, tsr_task_type_t type)
{
    if (!plan || (int)type < 0 || type >= TSR_TASK_N_TYPES)
        return NULL;
    return tsr_kernel_find(plan->kernel[type]);
}
