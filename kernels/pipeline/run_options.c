/*
 * run_options.c - every option of `tessera run` (and `align`, `add`)
 * declared once, in one table: its command-line name and help, the
 * tsr_run_opts_t field it sets, its default, how it is parsed and what the
 * usage error says, whether `tessera align` documents it, and the run.tsv key
 * that keeps it for `tessera add`. The defaults (tsr_run_opts_init), the
 * command layer's parser and --help, and run.tsv's writer and reader all walk
 * this table, so adding an option is one row here plus the field (and the
 * fingerprint, when it changes outputs).
 */
#include "kernels/pipeline/pipeline.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TSR_OPT(field) offsetof(tsr_run_opts_t, field)

/*
 * The table. Recorded options (record != NULL) appear in run.tsv in this order,
 * after the fingerprint, the resolved mode, the reference and the regions,
 * which run_record.c writes itself (they are resolved, not copied).
 */
static const tsr_run_opt_decl_t tsr_run_opt_table[] = {
    {"ref", "FASTA", "reference (indexed with samtools faidx, or indexable)", TSR_RUN_OPT_STR, TSR_OPT(ref), NULL,
     NULL, 0, NULL, NULL, TSR_RUN_OPT_REQUIRED | TSR_RUN_OPT_ALIGN},
    {"samples", "SHEET.tsv",
     "sample sheet: sample, population, fastq1 [fastq2] (FASTQ or unaligned BAM/CRAM; one\n"
     "line per lane) | bam, optional read_group, library, sex (male|female|unknown)",
     TSR_RUN_OPT_STR, TSR_OPT(samples), NULL, NULL, 0, NULL, NULL, TSR_RUN_OPT_REQUIRED | TSR_RUN_OPT_ALIGN},
    {"out", "DIR", "output directory (new, empty, or an earlier run of tessera)", TSR_RUN_OPT_STR, TSR_OPT(outdir),
     NULL, NULL, 0, NULL, NULL, TSR_RUN_OPT_REQUIRED | TSR_RUN_OPT_ALIGN},
    {"regions", "R", "contig, contig:beg-end (1-based), space-separated list, or BED file", TSR_RUN_OPT_STR,
     TSR_OPT(regions), NULL, NULL, 0, NULL, NULL, 0},
    {"mode", "M", "auto|deep|lowpass [auto: lowpass when the median measured depth < 2x]", TSR_RUN_OPT_STR, TSR_OPT(mode),
     "auto", "auto, deep or lowpass", 0, "auto|deep|lowpass", NULL, 0},
    {"threads", "N", "worker threads per rank [0 = one per core of the rank's domain]", TSR_RUN_OPT_INT,
     TSR_OPT(threads), "0", "a number >= 0", 0, NULL, NULL, TSR_RUN_OPT_ALIGN},
    {"mem-per-rank", "SIZE",
     "memory budget per rank, e.g. 4G: sizes low-pass batches, the read pairs an align\n"
     "map task holds (sorted runs spilled beyond) and the deep joint and cohort windows;\n"
     "a budget that cannot fit is refused before any work [unlimited]",
     TSR_RUN_OPT_SIZE, TSR_OPT(mem_per_rank), "0", "a size like 4G", 0, NULL, NULL, TSR_RUN_OPT_ALIGN},
    {"shard-size", "BP", "region length of a work unit [1000000]", TSR_RUN_OPT_SIZE, TSR_OPT(shard_size), "1000000",
     "a length like 1M", 1, NULL, "shard_size", 0},
    {"batch-size", "N", "samples per evidence partition [64]", TSR_RUN_OPT_INT, TSR_OPT(batch_size), "64",
     "a number >= 1", 1, NULL, "batch_size", 0},
    {"joint-window", "SITES", "deep joint: at most this many sites per batch in memory at once\n"
     "(records do not change) [0 = from --mem-per-rank, else about 32 MiB]",
     TSR_RUN_OPT_I64, TSR_OPT(joint_window), "0", "a number of sites >= 0", 0, NULL, NULL, 0},
    /* not in the fingerprint and not recorded: the windows of a region report exactly its sites */
    {"discover-windows", "N",
     "low-pass: site windows per region's discovery, run as separate tasks over the\n"
     "ranks, their call sets read in position order (records do not change)\n"
     "[0 = one per 2.5x10^8 sample-bases, at most 64, none under 1 kb]",
     TSR_RUN_OPT_INT, TSR_OPT(discover_windows), "0", "a number >= 0", 0, NULL, NULL, 0},
    {"min-mapq", "Q", "ignore reads below this mapping quality [20]", TSR_RUN_OPT_INT, TSR_OPT(min_mapq), "20",
     "a number >= 0", 0, NULL, "min_mapq", 0},
    {"min-baseq", "Q", "ignore bases below this base quality [13]", TSR_RUN_OPT_INT, TSR_OPT(min_baseq), "13",
     "a number >= 0", 0, NULL, "min_baseq", 0},
    {"min-qual", "Q", "sites below this QUAL are filtered LowQual [30]", TSR_RUN_OPT_REAL, TSR_OPT(min_qual), "30",
     "a number >= 0", 0, NULL, "min_qual", 0},
    {"min-site-qual", "Q",
     "low-pass: sites below this QUAL are not reported at all [30]; a federated\n"
     "release may lower it (e.g. 0) so `tessera merge` decides on the pooled evidence",
     TSR_RUN_OPT_REAL, TSR_OPT(min_site_qual), "30", "a number >= 0", 0, NULL, NULL, 0},
    {"min-alt-obs", "N",
     "low-pass: a candidate site needs this many non-reference reads in the run's\n"
     "cohort [2]; a federated release uses 1 with --min-site-qual 0",
     TSR_RUN_OPT_INT, TSR_OPT(min_alt_obs), "2", "a number >= 1", 1, NULL, NULL, 0},
    {"align-chunk", "N", "read pairs per align work unit [1000000]", TSR_RUN_OPT_I64, TSR_OPT(align_chunk_pairs),
     "1000000", "a number of read pairs >= 1", 1, NULL, "align_chunk", TSR_RUN_OPT_ALIGN},
    {"aln-format", "F",
     "bam|cram: per-sample alignments DIR/aln/G/S.bam|.cram [" TSR_ALN_FORMAT_DEFAULT "]; CRAM 3.0 is\n"
     "encoded against --ref and needs that FASTA to decode",
     TSR_RUN_OPT_STR, TSR_OPT(aln_format), NULL, "bam or cram", 0, "bam|cram", "aln_format", TSR_RUN_OPT_ALIGN},
    {"grace", "SECONDS", "on SIGTERM/SIGUSR1, wait this long for running tasks [60]", TSR_RUN_OPT_REAL,
     TSR_OPT(grace_seconds), "60", "a number of seconds >= 0", 0, NULL, NULL, TSR_RUN_OPT_ALIGN},
    /* not in the fingerprint and not recorded: how a resume checks outputs changes none of them */
    {"verify-outputs", "HOW",
     "resume: stat = trust a journaled output whose size and mtime (ns) are as\n"
     "recorded, re-read (CRC-32) the others; full = re-read every one\n"
     "(tessera verify always re-reads everything) [stat]",
     TSR_RUN_OPT_STR, TSR_OPT(verify_outputs), "stat", "full or stat", 0, "full|stat", NULL, TSR_RUN_OPT_ALIGN},
    /* not in the fingerprint (the records and the audit head do not change; a resume reads either layout),
       kept in run.tsv so `tessera add` writes its new partitions the same way */
    {"evidence-layout", "L",
     "files = an evidence file per work unit x sample batch (evidence/G/U/bK.h5);\n"
     "packs = each rank appends its evidence to its own container\n"
     "(evidence/sSSSS/rRRRRR.pack: a folder per run session) [packs]",
     TSR_RUN_OPT_STR, TSR_OPT(evidence_layout), "packs", "files or packs", 0, "files|packs", "evidence_layout", 0},
    /* in the fingerprint (it changes DIR/audit_inputs.sha256) and kept in run.tsv for `tessera add` */
    {"hash-inputs", "",
     "audit: SHA-256 of every read file too, into DIR/audit_inputs.sha256 and the\n"
     "head (the sheet, reference and .fai are always hashed) [off]",
     TSR_RUN_OPT_FLAG, TSR_OPT(hash_inputs), NULL, NULL, 0, NULL, "hash_inputs", TSR_RUN_OPT_ALIGN},
    /* not in the fingerprint: a signature changes no output; not recorded (a key path is not the run's) */
    {"sign-key", "KEY",
     "audit: sign the head with this Ed25519 private key (tessera keygen) into\n"
     "DIR/audit.sig; check with tessera verify DIR --pubkey PUB",
     TSR_RUN_OPT_STR, TSR_OPT(sign_key), NULL, NULL, 0, NULL, NULL, TSR_RUN_OPT_ALIGN},
    {"ploidy-bed", "BED",
     "ploidy rules (contig, start, end, sex M|F|U|*, ploidy 0|1|2) replacing the\n"
     "built-in GRCh37/GRCh38 ones (chrX outside the PARs and chrY haploid for\n"
     "males, MT haploid; the sheet's optional sex column) [built-in]",
     TSR_RUN_OPT_STR, TSR_OPT(ploidy_bed), NULL, NULL, 0, NULL, NULL, 0},
    {"targets", "BED",
     "call only inside these target intervals (an exome's or panel's capture\n"
     "BED, padded as you want it called), intersected with --regions;\n"
     "--mode auto then measures depth inside them [the whole --regions]",
     TSR_RUN_OPT_STR, TSR_OPT(targets), NULL, NULL, 0, NULL, NULL, 0},
    /* not in the fingerprint and not recorded: where the index lives changes no output */
    {"index", "FILE",
     "minimap2 index of --ref: reused when it matches the reference (size, CRC-32) and\n"
     "minimap2's version and parameters, built there when missing, refused when it does\n"
     "not match [the --ref path + .mmi when that folder is writable (rebuilt when stale),\n"
     "else DIR/ref.mmi]",
     TSR_RUN_OPT_STR, TSR_OPT(index), NULL, NULL, 0, NULL, NULL, TSR_RUN_OPT_ALIGN},
    /* not in the fingerprint and not recorded: it runs nothing */
    {"plan-only", "",
     "build the plan and task graph (rank 0), check the inputs, print tasks per\n"
     "stage, the files the run would create and the plan's memory; write nothing\n"
     "(--out is not created or touched) and exit 0",
     TSR_RUN_OPT_FLAG, TSR_OPT(plan_only), NULL, NULL, 0, NULL, NULL, TSR_RUN_OPT_ALIGN},
    {"ignore-sm", "",
     "accept an aligned input whose @RG SM is not its sheet sample (or names\n"
     "several samples); without it such a file is refused",
     TSR_RUN_OPT_FLAG, TSR_OPT(ignore_sm), NULL, NULL, 0, NULL, NULL, 0},
};

int tsr_run_opt_count(void)
{
    return (int)(sizeof tsr_run_opt_table / sizeof tsr_run_opt_table[0]);
}

const tsr_run_opt_decl_t *tsr_run_opt_at(int i)
{
    return i >= 0 && i < tsr_run_opt_count() ? &tsr_run_opt_table[i] : NULL;
}

const tsr_run_opt_decl_t *tsr_run_opt_find(const char *name)
{
    for (int i = 0; i < tsr_run_opt_count(); i++)
        if (!strcmp(tsr_run_opt_table[i].name, name))
            return &tsr_run_opt_table[i];
    return NULL;
}

/* Whether `text` is one of the '|'-separated `choices`. */
static int tsr_run_opt_choice(const char *choices, const char *text)
{
    size_t n = strlen(text);
    for (const char *p = choices; *p;) {
        size_t k = strcspn(p, "|");
        if (k == n && !strncmp(p, text, n))
            return 1;
        p += k + (p[k] == '|');
    }
    return 0;
}

tsr_status_t tsr_run_opt_set(tsr_run_opts_t *o, const tsr_run_opt_decl_t *d, const char *text)
{
    char *field = (char *)o + d->offset, *end = NULL;
    int ok = 1;
    switch (d->kind) {
    case TSR_RUN_OPT_STR:
        ok = !d->choices || tsr_run_opt_choice(d->choices, text);
        if (ok)
            *(const char **)field = text;
        break;
    case TSR_RUN_OPT_FLAG:
        *(int *)field = 1;
        break;
    case TSR_RUN_OPT_INT: {
        long v = strtol(text, &end, 10);
        ok = *text && !*end && v >= (long)d->min && v <= 2147483647L;
        if (ok)
            *(int *)field = (int)v;
        break;
    }
    case TSR_RUN_OPT_I64: {
        long long v = strtoll(text, &end, 10);
        ok = *text && !*end && v >= (long long)d->min;
        if (ok)
            *(int64_t *)field = v;
        break;
    }
    case TSR_RUN_OPT_SIZE: {
        int64_t v = tsr_parse_size(text);
        ok = v >= 0 && (double)v >= d->min;
        if (ok)
            *(int64_t *)field = v;
        break;
    }
    case TSR_RUN_OPT_REAL: {
        double v = strtod(text, &end);
        ok = *text && !*end && v >= d->min;
        if (ok)
            *(double *)field = v;
        break;
    }
    }
    if (!ok)
        return tsr_error_set(TSR_ERR_USAGE, "--%s takes %s, not '%s'", d->name, d->expect, text);
    return TSR_OK;
}

void tsr_run_opts_init(tsr_run_opts_t *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 0; i < tsr_run_opt_count(); i++)
        if (tsr_run_opt_table[i].dflt && tsr_run_opt_set(o, &tsr_run_opt_table[i], tsr_run_opt_table[i].dflt) != TSR_OK)
            tsr_error_clear(); /* a default that does not parse is caught by the options test */
}

void tsr_run_opts_help(FILE *fp, unsigned flags)
{
    for (int req = 1; req >= 0; req--) {
        fprintf(fp, req ? "Required:\n" : "Options:\n");
        for (int i = 0; i < tsr_run_opt_count(); i++) {
            const tsr_run_opt_decl_t *d = &tsr_run_opt_table[i];
            if (!(d->flags & TSR_RUN_OPT_REQUIRED) != !req || (flags && !(d->flags & flags)))
                continue;
            char lhs[64];
            snprintf(lhs, sizeof lhs, "--%s%s%s", d->name, d->metavar[0] ? " " : "", d->metavar);
            fprintf(fp, "  %-21s ", lhs);
            for (const char *p = d->help; *p;) {
                size_t k = strcspn(p, "\n");
                fprintf(fp, "%.*s\n", (int)k, p);
                p += k;
                if (*p == '\n' && *++p)
                    fprintf(fp, "  %-21s ", "");
            }
        }
    }
}

tsr_status_t tsr_run_opts_record_write(FILE *fp, const tsr_run_opts_t *o)
{
    for (int i = 0; i < tsr_run_opt_count(); i++) {
        const tsr_run_opt_decl_t *d = &tsr_run_opt_table[i];
        if (!d->record)
            continue;
        const char *field = (const char *)o + d->offset;
        switch (d->kind) {
        case TSR_RUN_OPT_STR: {
            const char *v = *(const char *const *)field;
            fprintf(fp, "%s\t%s\n", d->record, v ? v : "");
            break;
        }
        case TSR_RUN_OPT_INT:
        case TSR_RUN_OPT_FLAG: fprintf(fp, "%s\t%d\n", d->record, *(const int *)field); break;
        case TSR_RUN_OPT_I64:
        case TSR_RUN_OPT_SIZE: fprintf(fp, "%s\t%lld\n", d->record, (long long)*(const int64_t *)field); break;
        case TSR_RUN_OPT_REAL: fprintf(fp, "%s\t%.17g\n", d->record, *(const double *)field); break;
        }
    }
    return TSR_OK;
}

int tsr_run_opts_record_count(void)
{
    int n = 0;
    for (int i = 0; i < tsr_run_opt_count(); i++)
        n += tsr_run_opt_table[i].record != NULL;
    return n;
}

int tsr_run_opts_record_read(tsr_run_opts_t *o, const char *key, const char *value, char *buf, size_t len)
{
    for (int i = 0; i < tsr_run_opt_count(); i++) {
        const tsr_run_opt_decl_t *d = &tsr_run_opt_table[i];
        if (!d->record || strcmp(d->record, key))
            continue;
        char *field = (char *)o + d->offset;
        switch (d->kind) {
        case TSR_RUN_OPT_STR:
            snprintf(buf, len, "%s", value);
            *(const char **)field = buf[0] ? buf : NULL;
            break;
        case TSR_RUN_OPT_INT:
        case TSR_RUN_OPT_FLAG: *(int *)field = atoi(value); break;
        case TSR_RUN_OPT_I64:
        case TSR_RUN_OPT_SIZE: *(int64_t *)field = strtoll(value, NULL, 10); break;
        case TSR_RUN_OPT_REAL: *(double *)field = strtod(value, NULL); break;
        }
        return 1;
    }
    return 0;
}

int tsr_verify_outputs_mode(const char *text)
{
    return text && !strcmp(text, "full") ? TSR_VERIFY_FULL : TSR_VERIFY_STAT;
}
