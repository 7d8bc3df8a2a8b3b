/* registry.c - kernels by name, by task type, and by task type in the plan's mode. */
#include "kernels/pipeline/pipeline.h"

#include <string.h>

static const tsr_kernel_t *const tsr_kernels[TSR_TASK_N_TYPES] = {
    [TSR_TASK_ALIGN] = &tsr_kernel_align,
    [TSR_TASK_CALL] = &tsr_kernel_call,
    [TSR_TASK_JOINT] = &tsr_kernel_joint,
    [TSR_TASK_COHORT] = &tsr_kernel_cohort,
};

/* Low-pass mode: the call and joint task types run the low-pass kernels. */
static const tsr_kernel_t *const tsr_kernels_lowpass[TSR_TASK_N_TYPES] = {
    [TSR_TASK_ALIGN] = &tsr_kernel_align,
    [TSR_TASK_CALL] = &tsr_kernel_lowpass_evidence,
    [TSR_TASK_JOINT] = &tsr_kernel_lowpass_discover,
    [TSR_TASK_COHORT] = &tsr_kernel_cohort,
};

const tsr_kernel_t *tsr_kernel_find(const char *name)
{
    for (int i = 0; i < TSR_TASK_N_TYPES; i++) {
        if (!strcmp(tsr_kernels[i]->name, name))
            return tsr_kernels[i];
        if (!strcmp(tsr_kernels_lowpass[i]->name, name))
            return tsr_kernels_lowpass[i];
    }
    return NULL;
}

const tsr_kernel_t *tsr_kernel_for_task(tsr_task_type_t type)
{
    return (int)type >= 0 && type < TSR_TASK_N_TYPES ? tsr_kernels[type] : NULL;
}

const tsr_kernel_t *tsr_kernel_for_plan(const tsr_plan_t *plan, tsr_task_type_t type)
{
    if ((int)type < 0 || type >= TSR_TASK_N_TYPES)
        return NULL;
    return plan && plan->lowpass ? tsr_kernels_lowpass[type] : tsr_kernels[type];
}
