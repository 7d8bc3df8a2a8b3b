/* status.c - status names, exit codes and the thread-local error message. */
#include "runtime/runtime.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char tsr_err_buf[1024];
static _Thread_local int tsr_err_set_flag;

const char *tsr_status_str(tsr_status_t s)
{
    switch (s) {
    case TSR_OK: return "ok";
    case TSR_ERR_USAGE: return "usage error";
    case TSR_ERR_IO: return "I/O error";
    case TSR_ERR_FORMAT: return "format error";
    case TSR_ERR_MPI: return "MPI error";
    case TSR_ERR_NOMEM: return "out of memory";
    case TSR_ERR_HWLOC: return "topology error";
    case TSR_ERR_HDF5: return "HDF5 error";
    case TSR_ERR_STATE: return "state error";
    case TSR_ERR_TRANSIENT: return "transient error";
    case TSR_ERR_INTERRUPTED: return "interrupted";
    case TSR_ERR_INTERNAL: return "internal error";
    }
    return "unknown error";
}

int tsr_status_exit_code(tsr_status_t s)
{
    switch (s) {
    case TSR_OK: return TSR_EXIT_OK;
    case TSR_ERR_USAGE: return TSR_EXIT_USAGE;
    case TSR_ERR_INTERRUPTED: return TSR_EXIT_INTERRUPTED;
    default: return TSR_EXIT_FAIL;
    }
}

tsr_status_t tsr_error_set(tsr_status_t s, const char *fmt, ...)
{
    if (!tsr_err_set_flag) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(tsr_err_buf, sizeof tsr_err_buf, fmt, ap);
        va_end(ap);
        tsr_err_set_flag = 1;
    }
    tsr_log_debug("%s: %s", tsr_status_str(s), tsr_err_buf);
    return s;
}

const char *tsr_error_msg(void) { return tsr_err_set_flag ? tsr_err_buf : ""; }

void tsr_error_clear(void)
{
    tsr_err_set_flag = 0;
    tsr_err_buf[0] = '\0';
}

tsr_status_t tsr_error_mpi(int mpi_rc, const char *file, int line, const char *expr)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(mpi_rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "code %d", mpi_rc);
    return tsr_error_set(TSR_ERR_MPI, "MPI call failed: %s (%s at %s:%d); check the MPI launcher and network",
                         msg, expr, file, line);
}

void tsr_log_trace_error(const char *file, int line, const char *func, tsr_status_t s)
{
    if (tsr_log_level() >= TSR_LOG_DEBUG)
        tsr_log_write(TSR_LOG_DEBUG, func, "%s propagated at %s:%d", tsr_status_str(s), file, line);
}
