/* registry.c - kernels by name and by task type. */
#include "kernels/kernels.h"

#include <string.h>

static const tsr_kernel_t *const tsr_kernels[TSR_TASK_N_TYPES] = {
    [TSR_TASK_ALIGN] = &tsr_kernel_align,
    [TSR_TASK_CALL] = &tsr_kernel_call,
    [TSR_TASK_JOINT] = &tsr_kernel_joint,
    [TSR_TASK_COHORT] = &tsr_kernel_cohort,
};

const tsr_kernel_t *tsr_kernel_find(const char *name)
{
    for (int i = 0; i < TSR_TASK_N_TYPES; i++)
        if (!strcmp(tsr_kernels[i]->name, name))
            return tsr_kernels[i];
    return NULL;
}

const tsr_kernel_t *tsr_kernel_for_task(tsr_task_type_t type)
{
    return (int)type >= 0 && type < TSR_TASK_N_TYPES ? tsr_kernels[type] : NULL;
}
