/*
 * headers_check.c - every public header compiles on its own, twice included,
 * under -Wc++-compat -pedantic (the build fails otherwise).
 */
#include "runtime/runtime.h"
#include "runtime/runtime.h"
#include "scheduler/scheduler.h"
#include "scheduler/scheduler.h"
#include "io/io.h"
#include "io/io.h"
#include "kernels/kernels.h"
#include "kernels/kernels.h"

int tsr_headers_check(void);
int tsr_headers_check(void) { return TSR_OK; }
