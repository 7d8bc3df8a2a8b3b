/*
 * cmd_verify.c - `tessera verify DIR`: recompute the CRC32 of every output the
 * journal records as finished and name each file that changed or is missing.
 *
 * The journal is read with the scheduler's own reader (tsr_journal_scan for the
 * fingerprint, tsr_journal_open_readonly for the records), so verify and resume
 * agree on what counts as done: for a key journaled more than once only its
 * newest record counts. Verify writes nothing and needs only read access; its
 * shared lock makes a directory a run is writing into be refused rather than
 * reported as damaged.
 */
#include "kernels/cli/cli.h"
#include "scheduler/scheduler.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct tsr_verify_rec {
    const char *key;
    int index;
} tsr_verify_rec_t;

/* Key ascending, then newest record first. */
static int tsr_verify_rec_cmp(const void *a, const void *b)
{
    const tsr_verify_rec_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return y->index - x->index;
}

static void tsr_verify_usage(FILE *fp)
{
    fprintf(fp, "Usage: tessera verify DIR\n\n"
                "Recomputes the CRC32 of every output that DIR/journal.tsv records as finished\n"
                "(alignments, evidence partitions, joint call sets, cohort.bcf, cohort.h5, stats.tsv)\n"
                "and compares it with the journal. Prints one line per file that changed or is\n"
                "missing, then 'verify: N files of M tasks checked, K bad'.\n"
                "Not run under mpirun; refused while a run holds DIR.\n\n"
                "Exit codes: 0 every file matches; 1 a file changed or is missing, or DIR has no\n"
                "readable journal; 2 usage.\n");
}

/* Check one journal record's outputs; returns the number of bad files. */
static int tsr_verify_outputs(const char *dir, const char *key, int n, const char *const *outputs,
                              const uint32_t *crc)
{
    int bad = 0;
    for (int k = 0; k < n; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, outputs[k]);
        if (access(path, F_OK) != 0) {
            fprintf(stderr, "tessera verify: %s is missing (output of task '%s'); rerun the same "
                            "`tessera run` command to make it again\n", path, key);
            bad++;
            continue;
        }
        uint32_t now = 0;
        if (tsr_file_crc32(path, &now) != TSR_OK) {
            fprintf(stderr, "tessera verify: %s\n", tsr_error_msg());
            tsr_error_clear();
            bad++;
        } else if (now != crc[k]) {
            fprintf(stderr, "tessera verify: %s changed after task '%s' wrote it (CRC32 %08x, journal %08x); "
                            "rerun the same `tessera run` command to make it again\n",
                    path, key, now, crc[k]);
            bad++;
        }
    }
    return bad;
}

int tsr_cmd_verify(int argc, char **argv)
{
    static const struct option lopts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) >= 0) {
        if (c == 'h') {
            tsr_verify_usage(stdout);
            return TSR_EXIT_OK;
        }
        return tsr_cli_usage_error("verify", "unknown option");
    }
    if (optind + 1 != argc)
        return tsr_cli_usage_error("verify", "expected exactly one output directory");
    const char *dir = argv[optind];
    char jpath[4200], fp[256] = "";
    int n_done = 0;
    tsr_status_t s = tsr_journal_path(dir, jpath, sizeof jpath);
    if (s == TSR_OK)
        s = tsr_journal_scan(jpath, fp, sizeof fp, &n_done, NULL, 0, NULL, NULL);
    if (s != TSR_OK)
        return tsr_cli_fail("verify", s);
    if (!fp[0]) {
        fprintf(stderr, "tessera verify: %s has no header: nothing was journaled in %s\n", jpath, dir);
        return TSR_EXIT_FAIL;
    }
    tsr_journal_t *j = NULL;
    s = tsr_journal_open_readonly(jpath, &j);
    if (s != TSR_OK)
        return tsr_cli_fail("verify", s);
    int n = tsr_journal_n_done(j);
    tsr_verify_rec_t *recs = calloc(n ? (size_t)n : 1u, sizeof *recs);
    if (!recs) {
        tsr_journal_close(&j);
        fprintf(stderr, "tessera verify: out of memory for %d journal records\n", n);
        return TSR_EXIT_FAIL;
    }
    for (int i = 0; i < n; i++) {
        const char *const *outputs;
        const uint32_t *crc;
        int no;
        tsr_journal_done_at(j, i, &recs[i].key, &no, &outputs, &crc);
        recs[i].index = i;
    }
    if (n > 0) /* qsort needs a non-NULL array even when empty */
        qsort(recs, (size_t)n, sizeof *recs, tsr_verify_rec_cmp);
    int files = 0, tasks = 0, bad = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && strcmp(recs[i].key, recs[i - 1].key) == 0)
            continue; /* an older record of a task that ran again */
        const char *key;
        const char *const *outputs;
        const uint32_t *crc;
        int no;
        tsr_journal_done_at(j, recs[i].index, &key, &no, &outputs, &crc);
        bad += tsr_verify_outputs(dir, key, no, outputs, crc);
        files += no;
        tasks++;
    }
    free(recs);
    tsr_journal_close(&j);
    printf("verify: %d files of %d tasks checked, %d bad\n", files, tasks, bad);
    return bad ? TSR_EXIT_FAIL : TSR_EXIT_OK;
}
