/*
 * audit_run.c - the pipeline's part of the audit chain (scheduler/audit.c
 * owns the chain and the head): the input manifest, cohort.h5's content
 * digest, and sealing and signing a finished run.
 *
 * Inputs. DIR/audit_inputs.sha256 lists "<sha256>  <absolute path>" (the
 * format `sha256sum -c` reads) for the sample sheet, the reference and its
 * .fai, and with --hash-inputs every read file of the sheet, in sheet order.
 * It is journaled under the key "audit_inputs" like an output, so it is in
 * the chain and in the head. A rerun (resume, requeue, `tessera add`)
 * hashes them again: a file listed before whose digest changed stops the run
 * (the outputs already made came from the old bytes); new lines (a sheet
 * part added) rewrite the manifest and journal it again.
 */
#include "kernels/pipeline/pipeline.h"
#include "io/h5_store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tsr_status_t tsr_pipeline_h5_digest(const char *path, char digest[TSR_DIGEST_MAX])
{
    unsigned char sha[32];
    char hex[TSR_SHA256_HEX + 1];
    TSR_CALL(tsr_h5_content_sha256(path, sha));
    tsr_sha256_hex(sha, hex);
    snprintf(digest, TSR_DIGEST_MAX, "h5sha256:%s", hex);
    return TSR_OK;
}

tsr_status_t tsr_pipeline_audit_content(void *ctx, const char *path, const char *recorded,
                                        char digest[TSR_DIGEST_MAX])
{
    (void)ctx;
    if (strncmp(recorded, "h5sha256:", 9) == 0)
        return tsr_pipeline_h5_digest(path, digest);
    return tsr_error_set(TSR_ERR_FORMAT, "unknown digest kind in '%s'", recorded);
}

/* Whether `text` holds `line` (with its newline) as a whole line. */
static int tsr_audit_has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && p[n - 1] == '\n')
            return 1;
    return 0;
}

/* Append "<hex>  <absolute path>\n" for one input file, unless `kept` (NULL: none) already lists it. */
static tsr_status_t tsr_audit_input_line(FILE *fp, const char *path, const char *kept)
{
    char abs[PATH_MAX], dig[TSR_DIGEST_MAX];
    if (!realpath(path, abs))
        return tsr_error_set(TSR_ERR_IO, "cannot resolve input '%s': %s", path, strerror(errno));
    if (strchr(abs, '\n'))
        return tsr_error_set(TSR_ERR_USAGE, "input path '%s' contains a newline", abs);
    TSR_CALL(tsr_file_sha256(abs, dig));
    char line[PATH_MAX + 80];
    snprintf(line, sizeof line, "%s  %s\n", dig + 7, abs);
    if (!kept || !tsr_audit_has_line(kept, line))
        fputs(line, fp);
    return TSR_OK;
}

/*
 * The manifest's text (malloc'ed) for this plan. `tessera add` keeps the
 * earlier manifest (`before`) and hashes the new sheet part's read files only:
 * the earlier parts' files were hashed by the runs that added them and may
 * have moved away since (plan->first_checked).
 */
static tsr_status_t tsr_audit_inputs_text(const tsr_plan_t *plan, const char *before, char **text, size_t *len)
{
    FILE *fp = open_memstream(text, len);
    if (!fp)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory hashing the inputs");
    const int add = plan->opts.add_fingerprint != NULL;
    const char *kept = add ? before : NULL;
    if (kept)
        fputs(kept, fp);
    char fai[4200];
    snprintf(fai, sizeof fai, "%s.fai", plan->opts.ref);
    tsr_status_t s = tsr_audit_input_line(fp, plan->opts.samples, kept);
    if (s == TSR_OK)
        s = tsr_audit_input_line(fp, plan->opts.ref, kept);
    if (s == TSR_OK)
        s = tsr_audit_input_line(fp, fai, kept);
    for (int i = add ? plan->first_checked : 0; s == TSR_OK && plan->opts.hash_inputs && i < plan->sheet->n_samples;
         i++) {
        const tsr_sample_t *smp = &plan->sheet->samples[i];
        for (int l = 0; s == TSR_OK && l < smp->n_lanes; l++) {
            s = tsr_audit_input_line(fp, smp->lanes[l].fastq1, kept);
            if (s == TSR_OK && smp->lanes[l].fastq2)
                s = tsr_audit_input_line(fp, smp->lanes[l].fastq2, kept);
        }
        if (s == TSR_OK && smp->bam)
            s = tsr_audit_input_line(fp, smp->bam, kept);
    }
    if (fclose(fp) != 0 && s == TSR_OK)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory hashing the inputs");
    return s;
}

/* A path listed in both manifests with another digest: the first such line of `now`, or NULL. */
static const char *tsr_audit_inputs_changed(const char *before, const char *now, char *path, size_t plen)
{
    for (const char *l = now; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] == '\n')) {
        size_t n = strcspn(l, "\n");
        if (n < TSR_SHA256_HEX + 3)
            continue;
        const char *p = l + TSR_SHA256_HEX + 2;
        size_t pn = n - TSR_SHA256_HEX - 2;
        for (const char *b = before; *b; b += strcspn(b, "\n") + (b[strcspn(b, "\n")] == '\n')) {
            size_t bn = strcspn(b, "\n");
            if (bn == n && !strncmp(b + TSR_SHA256_HEX + 2, p, pn) && strncmp(b, l, TSR_SHA256_HEX) != 0) {
                snprintf(path, plen, "%.*s", (int)pn, p);
                return b;
            }
        }
    }
    return NULL;
}

/* Whether the newest record of the inputs' audit has this digest (tsr_journal_open_visit's callback). */
typedef struct tsr_audit_inputs_seen {
    const char *digest;
    int have;
} tsr_audit_inputs_seen_t;

static tsr_status_t tsr_audit_inputs_rec(void *ctx, const tsr_journal_done_t *d)
{
    tsr_audit_inputs_seen_t *a = ctx;
    if (!strcmp(d->key, TSR_AUDIT_INPUTS_KEY))
        a->have = d->n_outputs == 1 && !strcmp(d->digests[0], a->digest);
    return TSR_OK;
}

tsr_status_t tsr_pipeline_audit_inputs(const tsr_plan_t *plan)
{
    double t0 = tsr_now();
    char *text = NULL, *before = NULL;
    size_t len = 0, blen = 0;
    int missing = 0;
    char path[4200], jpath[4200], changed[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", plan->opts.outdir, TSR_AUDIT_INPUTS_FILE);
    tsr_status_t s = tsr_file_read_all(path, &before, &blen, &missing);
    if (s == TSR_OK)
        s = tsr_audit_inputs_text(plan, before, &text, &len);
    const char *old = s == TSR_OK && before ? tsr_audit_inputs_changed(before, text, changed, sizeof changed) : NULL;
    if (old)
        s = tsr_error_set(TSR_ERR_STATE,
                          "input '%s' changed since this run began (sha256 %.*s then, now different; see %s): "
                          "outputs made from the old bytes would be mixed with new ones; use a new --out directory",
                          changed, TSR_SHA256_HEX, old, path);
    char digest[TSR_DIGEST_MAX];
    if (s == TSR_OK)
        s = tsr_sha256_bytes(text, len, digest + 7);
    if (s == TSR_OK)
        memcpy(digest, "sha256:", 7);
    /* Journaled already with these bytes? (a crash between the rename and the record leaves none) */
    tsr_journal_t *j = NULL;
    if (s == TSR_OK)
        s = tsr_journal_path(plan->opts.outdir, jpath, sizeof jpath);
    tsr_audit_inputs_seen_t seen = {digest, 0};
    if (s == TSR_OK)
        s = tsr_journal_open_visit(jpath, plan->fingerprint, tsr_audit_inputs_rec, &seen, &j);
    int have = seen.have;
    int same = before && blen == len && !memcmp(before, text, len);
    if (s == TSR_OK && !(have && same)) {
        char tmp[4300];
        FILE *fp = NULL;
        s = tsr_output_tmpname(path, tmp, sizeof tmp);
        if (s == TSR_OK && !(fp = fopen(tmp, "w")))
            s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
        if (s == TSR_OK) {
            fwrite(text, 1, len, fp);
            s = tsr_output_commit(fp, tmp, path);
        }
        uint32_t crc = 0;
        if (s == TSR_OK)
            s = tsr_file_crc32(path, &crc);
        const char *outs[1] = {TSR_AUDIT_INPUTS_FILE}, *digs[1] = {digest};
        if (s == TSR_OK)
            s = tsr_journal_append_done(j, TSR_AUDIT_INPUTS_KEY, 1, outs, &crc, digs);
    }
    tsr_journal_close(&j);
    if (s == TSR_OK)
        tsr_log_info("inputs hashed (SHA-256%s) in %.2f s: %s", plan->opts.hash_inputs ? ", every read file" : "",
                     tsr_now() - t0, path);
    free(text);
    free(before);
    return s;
}

tsr_status_t tsr_pipeline_audit_seal(const tsr_plan_t *plan, char head[TSR_DIGEST_MAX])
{
    TSR_CALL(tsr_audit_seal(plan->opts.outdir, plan->fingerprint, head));
    if (plan->opts.sign_key) {
        char sig[4200];
        snprintf(sig, sizeof sig, "%s/%s", plan->opts.outdir, TSR_AUDIT_SIG_FILE);
        TSR_CALL(tsr_audit_sign(plan->opts.sign_key, head, sig));
    }
    return TSR_OK;
}

tsr_status_t tsr_pipeline_audit_inputs_check(const char *outdir, tsr_audit_problem_fn problem, void *ctx,
                                             int *n_inputs, int *n_problems)
{
    char path[4200], *text = NULL, line[PATH_MAX + 512];
    size_t len = 0;
    int missing = 0;
    *n_inputs = *n_problems = 0;
    snprintf(path, sizeof path, "%s/%s", outdir, TSR_AUDIT_INPUTS_FILE);
    TSR_CALL(tsr_file_read_all(path, &text, &len, &missing));
    if (missing) {
        snprintf(line, sizeof line, "%s is missing: the inputs cannot be checked", path);
        problem(ctx, line);
        (*n_problems)++;
        return TSR_OK;
    }
    for (char *l = text, *nl; *l; l = nl ? nl + 1 : l + strlen(l)) {
        nl = strchr(l, '\n');
        if (nl)
            *nl = '\0';
        if (strlen(l) < TSR_SHA256_HEX + 3) {
            snprintf(line, sizeof line, "%s: malformed line '%.80s'", path, l);
            problem(ctx, line);
            (*n_problems)++;
            continue;
        }
        const char *file = l + TSR_SHA256_HEX + 2;
        char dig[TSR_DIGEST_MAX];
        (*n_inputs)++;
        if (tsr_file_sha256(file, dig) != TSR_OK) {
            snprintf(line, sizeof line, "input %s: %s", file, tsr_error_msg());
            tsr_error_clear();
        } else if (strncmp(dig + 7, l, TSR_SHA256_HEX) != 0) {
            snprintf(line, sizeof line, "input %s changed since the run hashed it (now sha256:%s, recorded sha256:%.64s)",
                     file, dig + 7, l);
        } else {
            continue;
        }
        problem(ctx, line);
        (*n_problems)++;
    }
    free(text);
    return TSR_OK;
}
