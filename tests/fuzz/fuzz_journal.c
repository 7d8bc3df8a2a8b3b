/* fuzz_journal.c - libFuzzer target: the journal reader (scan, then open for resume, which may cut it back). */
#include "fuzz_input.h"
#include "scheduler/scheduler.h"

static void tsr_fuzz_visit(void *ctx, const char *key)
{
    *(size_t *)ctx += strlen(key);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char path[128], fp[256] = "", err[512];
    int n = 0;
    size_t keys = 0;
    tsr_fuzz_file("journal.tsv", data, size, path, sizeof path);
    if (tsr_journal_scan(path, fp, sizeof fp, &n, err, sizeof err, tsr_fuzz_visit, &keys) != TSR_OK || !fp[0])
        return 0;
    tsr_journal_t *j = NULL;
    if (tsr_journal_open(path, fp, &j) == TSR_OK) {
        for (int i = 0; i < tsr_journal_n_done(j); i++) {
            const char *key;
            int no;
            const char *const *outs;
            const uint32_t *crc;
            tsr_journal_done_at(j, i, &key, &no, &outs, &crc);
            for (int k = 0; k < no; k++)
                keys += strlen(outs[k]) + crc[k] % 2;
        }
        tsr_journal_close(&j);
    }
    return 0;
}
