/*
 * fuzz_input.h - shared by the libFuzzer targets: each target's parser reads
 * files, so the input bytes go to a file in a private temporary directory
 * (one per process, removed at exit) first.
 */
#ifndef TSR_FUZZ_INPUT_H
#define TSR_FUZZ_INPUT_H

#include "runtime/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tsr_fuzz_dir[64];

static void tsr_fuzz_cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tsr_fuzz_dir);
    if (tsr_fuzz_dir[0] && system(cmd) != 0)
        fprintf(stderr, "fuzz: cannot remove %s\n", tsr_fuzz_dir);
}

/* Write `data` to DIR/name (DIR made on the first call) and return the path in buf. */
static const char *tsr_fuzz_file(const char *name, const unsigned char *data, size_t size, char *buf, size_t len)
{
    if (!tsr_fuzz_dir[0]) {
        snprintf(tsr_fuzz_dir, sizeof tsr_fuzz_dir, "/tmp/tsr_fuzz.XXXXXX");
        if (!mkdtemp(tsr_fuzz_dir))
            abort();
        atexit(tsr_fuzz_cleanup);
        tsr_log_configure(TSR_LOG_OFF, -1);
    }
    snprintf(buf, len, "%s/%s", tsr_fuzz_dir, name);
    FILE *fp = fopen(buf, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0)
        abort();
    tsr_error_clear();
    return buf;
}

#endif
