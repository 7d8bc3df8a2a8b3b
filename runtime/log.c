/* log.c - the one logger: level filter, rank and function prefix, one write per line. */
#include "runtime/runtime.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Process-wide by nature (like hts_log): set once by the command layer. */
static tsr_log_level_t tsr_log_lvl = TSR_LOG_WARN;
static int tsr_log_rank = -1;

void tsr_log_configure(tsr_log_level_t level, int rank)
{
    tsr_log_lvl = level;
    tsr_log_rank = rank;
}

tsr_log_level_t tsr_log_level(void) { return tsr_log_lvl; }

int tsr_log_level_parse(const char *s)
{
    static const char *names[] = {"off", "error", "warn", "info", "debug", "trace"};
    for (int i = 0; i < 6; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void tsr_log_write(tsr_log_level_t level, const char *func, const char *fmt, ...)
{
    static const char *tags[] = {"OFF", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"};
    if (level > tsr_log_lvl || level == TSR_LOG_OFF)
        return;
    char line[2048];
    int n;
    if (tsr_log_rank >= 0)
        n = snprintf(line, sizeof line, "[tessera r%d %s %s] ", tsr_log_rank, tags[level], func);
    else
        n = snprintf(line, sizeof line, "[tessera %s %s] ", tags[level], func);
    if (n < 0 || n >= (int)sizeof line)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += m;
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
