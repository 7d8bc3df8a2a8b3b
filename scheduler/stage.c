/*
 * stage.c - journaled collective stages: work every rank runs together after
 * (or outside) the task graph, resumable like a task. The scheduler owns the
 * rule that makes both resumable, so a stage is proven done the way a task
 * is: its newest record lists exactly its outputs, every output's CRC32
 * still matches, and no record of a task it reads was journaled after it (a
 * re-made input makes its dependents run again).
 */
#include "scheduler/scheduler_internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

tsr_status_t tsr_journal_path(const char *outdir, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s", outdir, TSR_JOURNAL_FILE);
    if (n < 0 || (size_t)n >= len)
        return tsr_error_set(TSR_ERR_INTERNAL, "output directory path too long: '%s'", outdir);
    return TSR_OK;
}

/* What the journal says of a stage, gathered as its records are read (tsr_journal_open_visit). */
typedef struct tsr_stage_scan {
    const tsr_stage_t *st;
    int64_t at, input; /* places of the stage's newest matching record and of the newest input record */
    uint32_t *crc;     /* that record's CRCs, sizes and mtimes (st->n_outputs each) */
    int64_t *size, *mtime_ns;
} tsr_stage_scan_t;

static tsr_status_t tsr_stage_scan_rec(void *ctx, const tsr_journal_done_t *d)
{
    tsr_stage_scan_t *sc = ctx;
    const tsr_stage_t *st = sc->st;
    if (strcmp(d->key, st->key) == 0) {
        int same = d->n_outputs == st->n_outputs;
        for (int k = 0; same && k < d->n_outputs; k++)
            same = strcmp(d->outputs[k], st->outputs[k]) == 0;
        if (same) {
            sc->at = d->i;
            for (int k = 0; k < st->n_outputs; k++) {
                sc->crc[k] = d->crc[k];
                sc->size[k] = d->size[k];
                sc->mtime_ns[k] = d->mtime_ns[k];
            }
        }
        return TSR_OK;
    }
    for (int p = 0; p < st->n_input_prefixes; p++)
        if (strncmp(d->key, st->input_prefixes[p], strlen(st->input_prefixes[p])) == 0)
            sc->input = d->i;
    return TSR_OK;
}

/* Whether the scanned journal proves the stage done (see the file comment). Master only. */
static int tsr_stage_proven(const tsr_stage_scan_t *sc, const char *outdir, const tsr_stage_t *st)
{
    if (sc->at < 0 || sc->input > sc->at)
        return 0;
    const uint32_t *want = sc->crc;
    const int64_t *size = sc->size, *mtime_ns = sc->mtime_ns;
    for (int k = 0; k < st->n_outputs; k++) {
        char path[4200];
        uint32_t have = 0;
        snprintf(path, sizeof path, "%s/%s", outdir, st->outputs[k]);
        struct stat sb;
        if (!st->verify_full && size[k] >= 0 && stat(path, &sb) == 0 && (int64_t)sb.st_size == size[k] &&
            (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec == mtime_ns[k])
            continue; /* unchanged since it was checksummed: trusted without re-reading it */
        if (tsr_file_crc32(path, &have) != TSR_OK) {
            tsr_error_clear();
            return 0;
        }
        if (have != want[k])
            return 0;
    }
    return 1;
}

tsr_status_t tsr_sched_stage_run(MPI_Comm comm, const char *outdir, const char *fingerprint, const tsr_stage_t *st,
                                 int *skipped)
{
    *skipped = 0;
    int rank = 0;
    TSR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    const int master = rank == 0;
    char jpath[4200];
    TSR_CALL(tsr_journal_path(outdir, jpath, sizeof jpath));
    tsr_journal_t *j = NULL;
    int64_t flags[2] = {0, tsr_signals_pending() != 0}; /* proven done (master's word), a stop signal (any rank) */
    tsr_status_t s = TSR_OK;
    if (master) {
        size_t n = (size_t)st->n_outputs + 1;
        tsr_stage_scan_t sc = {.st = st, .at = -1, .input = -1, .crc = calloc(n, sizeof *sc.crc),
                               .size = calloc(n, sizeof *sc.size), .mtime_ns = calloc(n, sizeof *sc.mtime_ns)};
        s = sc.crc && sc.size && sc.mtime_ns ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory");
        if (s == TSR_OK)
            s = tsr_journal_open_visit(jpath, fingerprint, tsr_stage_scan_rec, &sc, &j);
        if (s == TSR_OK)
            flags[0] = tsr_stage_proven(&sc, outdir, st);
        free(sc.crc);
        free(sc.size);
        free(sc.mtime_ns);
    }
    s = tsr_comm_agree(comm, s);
    if (s == TSR_OK)
        s = tsr_comm_max_i64(comm, flags, 2);
    if (s == TSR_OK && flags[0]) {
        if (master)
            tsr_log_info("%s: proven done by the journal, skipped", st->key);
        tsr_journal_close(&j);
        *skipped = 1;
        return TSR_OK;
    }
    if (s == TSR_OK && flags[1])
        s = tsr_error_set(TSR_ERR_INTERRUPTED, "interrupted before %s/%s was written; rerun the same command to resume",
                          outdir, st->n_outputs > 0 ? st->outputs[0] : st->key);
    if (s == TSR_OK)
        s = tsr_comm_agree(comm, st->run(st->ctx, comm));
    if (s == TSR_OK) {
        tsr_status_t mine = TSR_OK;
        if (master) {
            uint32_t *crc = calloc((size_t)st->n_outputs + 1, sizeof *crc);
            tsr_file_stat_t *fst = calloc((size_t)st->n_outputs + 1, sizeof *fst);
            char(*digs)[TSR_DIGEST_MAX] = calloc((size_t)st->n_outputs + 1, sizeof *digs);
            const char **dptr = calloc((size_t)st->n_outputs + 1, sizeof *dptr);
            if (!crc || !digs || !dptr || !fst)
                mine = tsr_error_set(TSR_ERR_NOMEM, "out of memory journaling stage %s", st->key);
            for (int k = 0; mine == TSR_OK && k < st->n_outputs; k++) {
                char path[4200];
                unsigned char sha[32];
                char hex[TSR_SHA256_HEX + 1];
                snprintf(path, sizeof path, "%s/%s", outdir, st->outputs[k]);
                mine = tsr_file_digest_stat(path, &crc[k], sha, &fst[k]);
                /* bytes that depend on the rank count: the content digest goes into the chain */
                if (mine == TSR_OK && st->digest) {
                    mine = st->digest(path, digs[k]);
                } else if (mine == TSR_OK) {
                    tsr_sha256_hex(sha, hex);
                    snprintf(digs[k], TSR_DIGEST_MAX, "sha256:%s", hex);
                }
                dptr[k] = digs[k];
            }
            if (mine == TSR_OK)
                mine = tsr_journal_queue_done_stat(j, st->key, st->n_outputs, st->outputs, crc, dptr, fst);
            if (mine == TSR_OK)
                mine = tsr_journal_flush(j);
            free(fst);
            free(digs);
            free(dptr);
            free(crc);
        }
        s = tsr_comm_agree(comm, mine);
    }
    tsr_journal_close(&j);
    return s;
}
