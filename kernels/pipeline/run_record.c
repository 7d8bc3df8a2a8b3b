/*
 * run_record.c - what identifies a run: the fingerprint that guards its
 * journal (a hash of everything that shapes the outputs, so a rerun with
 * other inputs or options is refused instead of mixing results), the run
 * record that `tessera add` reads back (DIR/run.tsv, DIR/samples.d/0000.tsv),
 * and the next sheet part an add writes (kernels/README.md, N+1).
 */
#include "kernels/pipeline/pipeline.h"
#include "kernels/pipeline/plan_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static uint32_t tsr_crc_file_or_zero(const char *path, uint32_t crc)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return crc;
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
        crc = (uint32_t)crc32(crc, buf, (uInt)n);
    fclose(fp);
    return crc;
}

static uint32_t tsr_crc_str(uint32_t crc, const char *s)
{
    return (uint32_t)crc32(crc, (const unsigned char *)s, (uInt)strlen(s) + 1);
}

void tsr_plan_fingerprint(tsr_plan_t *plan)
{
    const tsr_run_opts_t *o = &plan->opts;
    if (o->add_fingerprint) { /* tessera add: the run's own, since the earlier parts' files may be gone */
        snprintf(plan->fingerprint, sizeof plan->fingerprint, "%s", o->add_fingerprint);
        return;
    }
    char buf[512], fai[4200];
    /* Two independent CRCs make a 64-bit fingerprint. */
    uint32_t a = (uint32_t)crc32(0L, Z_NULL, 0), b = 0x9e3779b9u;
    snprintf(buf, sizeof buf, "tessera-run-1 shard=%lld batch=%d mapq=%d baseq=%d qual=%g mode=%s k=%d.%d.%d.%d",
             (long long)o->shard_size, o->batch_size, o->min_mapq, o->min_baseq, o->min_qual, o->mode,
             tsr_kernel_align.version, tsr_kernel_call.version, tsr_kernel_joint.version, tsr_kernel_cohort.version);
    a = tsr_crc_str(a, buf);
    a = tsr_crc_str(a, o->regions ? o->regions : "");
    snprintf(buf, sizeof buf, "align-chunk=%lld lowpass=%d lpk=%d.%d", (long long)o->align_chunk_pairs, plan->lowpass,
             tsr_kernel_lowpass_evidence.version, tsr_kernel_lowpass_discover.version);
    a = tsr_crc_str(a, buf);
    /* --min-site-qual, --min-alt-obs: only when not the defaults, so earlier runs keep their fingerprint */
    const tsr_run_opt_decl_t *msq = tsr_run_opt_find("min-site-qual"), *mao = tsr_run_opt_find("min-alt-obs");
    if (plan->lowpass && msq && mao &&
        (o->min_site_qual != strtod(msq->dflt, NULL) || o->min_alt_obs != atoi(mao->dflt))) {
        snprintf(buf, sizeof buf, "min-site-qual=%.17g min-alt-obs=%d", o->min_site_qual, o->min_alt_obs);
        a = tsr_crc_str(a, buf);
    }
    /* --hash-inputs changes DIR/audit_inputs.sha256 (an output in the head); --sign-key changes no output */
    snprintf(buf, sizeof buf, "hash-inputs=%d", o->hash_inputs);
    a = tsr_crc_str(a, buf);
    a = tsr_crc_str(a, o->ploidy_bed ? o->ploidy_bed : "ploidy-bed=");
    if (o->ploidy_bed)
        a = tsr_crc_file_or_zero(o->ploidy_bed, a);
    a = tsr_crc_str(a, o->targets ? o->targets : "targets=");
    if (o->targets)
        a = tsr_crc_file_or_zero(o->targets, a);
    snprintf(fai, sizeof fai, "%s.fai", o->ref);
    a = tsr_crc_file_or_zero(fai, a);
    a = tsr_crc_file_or_zero(o->samples, a);
    /* the run's own sheet only: parts added later (tessera add) grow the cohort under the same journal */
    for (int i = 0; i < plan->part_first[1]; i++) {
        const tsr_sample_t *s = &plan->sheet->samples[i];
        /* k: lane 0's files 0 and 1 and the aligned input 2 (a one-lane sheet's numbering), lane L's 2L+1, 2L+2 */
        for (int l = 0; l < (s->n_lanes > 1 ? s->n_lanes : 1); l++) {
            const char *paths[3] = {l < s->n_lanes ? s->lanes[l].fastq1 : NULL,
                                    l < s->n_lanes ? s->lanes[l].fastq2 : NULL, l == 0 ? s->bam : NULL};
            for (int k = 0; k < 3; k++) {
                struct stat st;
                if (paths[k] && stat(paths[k], &st) == 0) {
                    snprintf(buf, sizeof buf, "%d:%d:%lld", i, l == 0 ? k : 2 * l + 1 + k, (long long)st.st_size);
                    b = tsr_crc_str(b, buf);
                }
            }
        }
    }
    snprintf(plan->fingerprint, sizeof plan->fingerprint, "%08x%08x", a, b);
}

/* ------------------------------------------------ the run record (tessera add) */

/* Whole small file into a malloc'ed string (*len bytes); NULL when missing or unreadable. */
static char *tsr_plan_slurp(const char *path, size_t *len)
{
    char *text = NULL;
    int missing = 0;
    if (tsr_file_read_all(path, &text, len, &missing) != TSR_OK)
        return NULL;
    return text;
}

tsr_status_t tsr_plan_record_write(const tsr_plan_t *plan)
{
    const tsr_run_opts_t *o = &plan->opts;
    char path[4200], dir[4200], tmp[4300], abs_ref[PATH_MAX], abs_reg[PATH_MAX];
    snprintf(path, sizeof path, "%s/run.tsv", o->outdir);
    if (access(path, F_OK) == 0)
        return TSR_OK;
    snprintf(dir, sizeof dir, "%s/samples.d", o->outdir);
    TSR_CALL(tsr_mkdir_p(dir));
    tsr_plan_part_path(o->outdir, 0, dir, sizeof dir);
    TSR_CALL(tsr_sheet_write(plan->sheet, 0, plan->part_first[1], dir));
    struct stat st;
    const char *regions = o->regions ? o->regions : "";
    if (o->regions && stat(o->regions, &st) == 0 && S_ISREG(st.st_mode) && realpath(o->regions, abs_reg))
        regions = abs_reg;
    TSR_CALL(tsr_output_tmpname(path, tmp, sizeof tmp));
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    /* resolved values first (the mode, absolute paths), then every recorded option (run_options.c) */
    fprintf(fp, "fingerprint\t%s\nmode\t%s\nref\t%s\nregions\t%s\n", plan->fingerprint,
            plan->lowpass ? "lowpass" : "deep", realpath(o->ref, abs_ref) ? abs_ref : o->ref, regions);
    tsr_status_t s = tsr_run_opts_record_write(fp, o);
    /* low-pass thresholds of a federated release, for `tessera add`; absent (older runs, defaults): defaults */
    const tsr_run_opt_decl_t *msq = tsr_run_opt_find("min-site-qual"), *mao = tsr_run_opt_find("min-alt-obs");
    if (s == TSR_OK && plan->lowpass && msq && mao &&
        (o->min_site_qual != strtod(msq->dflt, NULL) || o->min_alt_obs != atoi(mao->dflt)))
        fprintf(fp, "lp_min_site_qual\t%.17g\nlp_min_alt_obs\t%d\n", o->min_site_qual, o->min_alt_obs);
    if (s != TSR_OK) {
        fclose(fp);
        unlink(tmp);
        return s;
    }
    return tsr_output_commit(fp, tmp, path);
}

tsr_status_t tsr_run_record_read(const char *outdir, tsr_run_record_t *rec)
{
    memset(rec, 0, sizeof *rec);
    char path[4200];
    snprintf(path, sizeof path, "%s/run.tsv", outdir);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return tsr_error_set(TSR_ERR_STATE, "'%s' is not a tessera run directory (no %s: %s); run `tessera run "
                             "--out %s` first", outdir, path, strerror(errno), outdir);
    tsr_run_opts_init(&rec->opts);
    char line[8400];
    int seen = 0, lineno = 0, n_text = 0;
    tsr_status_t s = TSR_OK;
    while (s == TSR_OK && fgets(line, sizeof line, fp)) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        char *v = strchr(line, '\t');
        if (!v) {
            s = tsr_error_set(TSR_ERR_FORMAT, "%s line %d: expected 'key<TAB>value'", path, lineno);
            break;
        }
        *v++ = '\0';
        seen++;
        if (!strcmp(line, "fingerprint"))
            snprintf(rec->fingerprint, sizeof rec->fingerprint, "%s", v);
        else if (!strcmp(line, "mode"))
            rec->lowpass = !strcmp(v, "lowpass");
        else if (!strcmp(line, "ref"))
            snprintf(rec->ref, sizeof rec->ref, "%s", v);
        else if (!strcmp(line, "regions"))
            snprintf(rec->regions, sizeof rec->regions, "%s", v);
        else if (!strcmp(line, "lp_min_site_qual")) {
            rec->opts.min_site_qual = strtod(v, NULL);
            seen--; /* the optional keys are not counted */
        } else if (!strcmp(line, "lp_min_alt_obs")) {
            rec->opts.min_alt_obs = atoi(v);
            seen--;
        } else if (tsr_run_opts_record_read(&rec->opts, line, v, rec->text[n_text], sizeof rec->text[n_text])) {
            n_text += rec->text[n_text][0] != '\0' && n_text + 1 < (int)(sizeof rec->text / sizeof rec->text[0]);
        } else {
            seen--;
        }
    }
    fclose(fp);
    const int want = 4 + tsr_run_opts_record_count(); /* fingerprint, mode, ref, regions + the options */
    if (s == TSR_OK && (seen < want || !rec->fingerprint[0]))
        s = tsr_error_set(TSR_ERR_FORMAT, "%s: incomplete run record (%d of %d keys)", path, seen, want);
    if (s != TSR_OK)
        return s;
    snprintf(rec->outdir, sizeof rec->outdir, "%s", outdir);
    tsr_plan_part_path(outdir, 0, rec->samples, sizeof rec->samples);
    rec->opts.ref = rec->ref;
    rec->opts.regions = rec->regions[0] ? rec->regions : NULL;
    rec->opts.samples = rec->samples;
    rec->opts.outdir = rec->outdir;
    rec->opts.mode = rec->lowpass ? "lowpass" : "deep";
    rec->opts.add_fingerprint = rec->fingerprint;
    return TSR_OK;
}

tsr_status_t tsr_plan_part_add(const char *outdir, const char *new_sheet, int *part)
{
    *part = 0;
    int n = 1;
    char p[4200];
    for (;; n++) {
        tsr_plan_part_path(outdir, n, p, sizeof p);
        if (access(p, F_OK) != 0)
            break;
    }
    /* the new sheet alone: its files must be readable, its ids unique among themselves */
    tsr_sheet_t *one = NULL;
    TSR_CALL(tsr_sheet_create_from_file(new_sheet, &one));
    char tmpl[] = "/tmp/tsr-part-XXXXXX";
    int fd = mkstemp(tmpl);
    tsr_status_t s = fd >= 0 ? TSR_OK : tsr_error_set(TSR_ERR_IO, "cannot create a temporary file: %s",
                                                     strerror(errno));
    if (fd >= 0)
        close(fd);
    if (s == TSR_OK)
        s = tsr_sheet_write(one, 0, one->n_samples, tmpl);
    tsr_sheet_destroy(&one);
    size_t la = 0, lb = 0;
    char *mine = s == TSR_OK ? tsr_plan_slurp(tmpl, &la) : NULL;
    if (s == TSR_OK && !mine)
        s = tsr_error_set(TSR_ERR_IO, "cannot read back '%s'", tmpl);
    if (s == TSR_OK && n > 1) { /* the same sheet as the newest part: an interrupted add, resumed */
        tsr_plan_part_path(outdir, n - 1, p, sizeof p);
        char *last = tsr_plan_slurp(p, &lb);
        int same = last && la == lb && memcmp(mine, last, la) == 0;
        free(last);
        if (same) {
            *part = n - 1;
            free(mine);
            unlink(tmpl);
            return TSR_OK;
        }
    }
    /* ids must be new to the cohort: read every part (earlier ones sealed) with the new one last */
    char **paths = s == TSR_OK ? calloc((size_t)n + 1, sizeof *paths) : NULL;
    if (s == TSR_OK && !paths)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    for (int k = 0; s == TSR_OK && k < n; k++) {
        tsr_plan_part_path(outdir, k, p, sizeof p);
        if (!(paths[k] = strdup(p)))
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    }
    if (s == TSR_OK && !(paths[n] = strdup(new_sheet)))
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    tsr_sheet_t *all = NULL;
    if (s == TSR_OK)
        s = tsr_sheet_create_from_parts(n + 1, (const char *const *)paths, n + 1, &all);
    tsr_sheet_destroy(&all);
    for (int k = 0; paths && k <= n; k++)
        free(paths[k]);
    free(paths);
    if (s == TSR_OK) {
        tsr_plan_part_path(outdir, n, p, sizeof p);
        char tmp[4300];
        s = tsr_output_tmpname(p, tmp, sizeof tmp);
        FILE *fp = s == TSR_OK ? fopen(tmp, "w") : NULL;
        if (s == TSR_OK && !fp)
            s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
        if (fp) {
            fwrite(mine, 1, la, fp);
            s = tsr_output_commit(fp, tmp, p);
        }
    }
    free(mine);
    unlink(tmpl);
    if (s == TSR_OK)
        *part = n;
    return s;
}
