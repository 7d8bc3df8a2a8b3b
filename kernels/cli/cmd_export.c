/*
 * cmd_export.c - `tessera export --aggregate-only`: the shareable summary of
 * a run (sites and their INFO statistics, no per-sample data), written by
 * io/aggregate_export.c; and `tessera export --gvcf SAMPLE`: one sample's
 * gVCF from the evidence partitions (io/gvcf_export.c). Serial.
 */
#include "io/io.h"
#include "kernels/cli/cli.h"
#include "kernels/kernels.h"
#include "scheduler/scheduler.h"
#include "tsr_version.h"

#include <htslib/hts.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void tsr_export_usage(FILE *fp)
{
    fprintf(fp,
            "Usage: tessera export --aggregate-only (--in DIR | --vcf FILE) --out FILE.vcf.gz|FILE.bcf [options]\n\n"
            "Writes the shareable summary of a cohort: every site with QUAL, FILTER and INFO (AC/AN/AF and\n"
            "the per-population statistics) and no per-sample data at all: no FORMAT fields or lines, no\n"
            "sample columns, no sample names in the header. Sites whose total ALT count (the sum of INFO/AC)\n"
            "is below --min-ac are suppressed. The output and its CSI index (FILE.csi) are written under\n"
            "temporary names and renamed when complete; an existing FILE is replaced whole or left as it was.\n\n"
            "Options:\n"
            "  --aggregate-only     required: the only export today (gVCF and TSV exports arrive with\n"
            "                       their issues)\n"
            "  --in DIR             a tessera output directory: exports DIR/cohort.bcf\n"
            "  --vcf FILE           any joint-called VCF/BCF with INFO/AC (e.g. from tessera stats or\n"
            "                       bcftools +fill-tags)\n"
            "  --out FILE           FILE.vcf.gz (bgzipped VCF) or FILE.bcf\n"
            "  --min-ac K           suppress sites whose summed AC is below K [1: monomorphic sites are\n"
            "                       dropped, singletons kept; data-access rules often ask for more, e.g. 5]\n"
            "  --fields LIST        comma-separated INFO keys to keep [all]; naming a per-sample FORMAT\n"
            "                       field (GT, FORMAT/GT, ...) is refused\n"
            "  --max-membership-power P  refuse the export (nothing written) when the power of the\n"
            "                       membership test of Sankararaman et al. 2009, Phi(sqrt(M/N) - z_(1-alpha))\n"
            "                       for M exported sites and N samples, exceeds P [no limit; always printed\n"
            "                       and written to the header as ##tessera_membership]\n"
            "  --membership-alpha A that test's false-positive rate [0.05]\n"
            "  --drop-to-power      above --max-membership-power, drop sites instead of refusing: the lowest\n"
            "                       minor-allele frequencies (INFO/AF) first, ties the later site first, until\n"
            "                       the power is <= P; how many is printed and in ##tessera_membership\n"
            "  -h, --help           this help\n\n"
            "Federated export (--in DIR of a deep-mode run): the input of `tessera merge`. Each site also\n"
            "carries, per population, its diploid genotype counts (INFO/GTC_<pop>, VCF genotype order), and\n"
            "FILE.callable.bed.gz beside it says per interval how many samples of each population were\n"
            "callable (had a gVCF record: a reference block or a candidate site with reads), so a site\n"
            "another institution reports gets this one's denominator. The header adds the contigs' MD5s,\n"
            "the mode, tessera's version, the populations with their sample counts and both files' SHA-256.\n"
            "No sample name or per-sample value is written. (--vcf FILE: plain export.)\n"
            "Low-pass run (--mode lowpass): instead of genotype counts, per population and ALT the\n"
            "log-likelihood curve of the allele frequency (INFO/LLC_<pop>, 101 points p = sin^2(pi/2 k/100),\n"
            "a sum over the samples' PL that adds across institutions), and FILE.callable.bed.gz is a depth\n"
            "mask: per 500-bp window and population the sample-bases at reference depth 1..8+.\n\n"
            "   or: tessera export --gvcf SAMPLE --out DIR --ref REF.fa [-o FILE.vcf.gz]\n\n"
            "Writes SAMPLE's gVCF from the run DIR's evidence partitions: candidate sites with GT/AD/DP/PL\n"
            "over REF,ALT...,<*>, reference blocks as <*> records with INFO/END and FORMAT/MIN_DP (bcftools'\n"
            "gVCF convention); positions without either were not covered. REF.fa is the run's reference.\n"
            "  -o FILE              the gVCF (bgzipped, + .tbi; + .csi past 2^29 bases) [DIR/gvcf/SAMPLE.g.vcf.gz]\n\n"
            "Exit codes: 0 written; 1 failed (one error line says why; FILE untouched); 2 usage.\n");
}

/* `export --gvcf SAMPLE --out DIR --ref REF [-o FILE]`. */
static int tsr_export_gvcf(const char *sample, const char *dir, const char *ref, const char *out, int other)
{
    if (other)
        return tsr_cli_usage_error("export", "--gvcf takes --out DIR (the run), --ref and -o, not --aggregate-only, "
                                             "--in or --vcf");
    if (!dir || !ref)
        return tsr_cli_usage_error("export", "--gvcf SAMPLE needs --out DIR (the run directory) and --ref REF.fa");
    char path[4200];
    if (!out) {
        if ((size_t)snprintf(path, sizeof path, "%s/gvcf", dir) >= sizeof path)
            return tsr_cli_usage_error("export", "--out path too long");
        tsr_status_t s = tsr_mkdir_p(path);
        if (s != TSR_OK)
            return tsr_cli_fail("export", s);
        if ((size_t)snprintf(path, sizeof path, "%s/gvcf/%s.g.vcf.gz", dir, sample) >= sizeof path)
            return tsr_cli_usage_error("export", "--out path too long");
        out = path;
    }
    hts_set_log_level(HTS_LOG_OFF);
    tsr_gvcf_opts_t g = {dir, sample, ref, out};
    int64_t parts = 0;
    tsr_status_t s = tsr_gvcf_export(&g, &parts);
    if (s != TSR_OK)
        return s == TSR_ERR_USAGE ? tsr_cli_usage_error("export", "%s", tsr_error_msg()) : tsr_cli_fail("export", s);
    printf("tessera export: gVCF of %s from %" PRId64 " evidence partitions -> %s (+ index)\n", sample, parts, out);
    return TSR_EXIT_OK;
}

/*
 * The source run's audit head, for the export's header: DIR's journal must
 * chain, end with its head and hold a record of every task (no rehash of the
 * whole run: `tessera verify` does that), and the cohort.bcf about to be
 * exported must still have the SHA-256 its newest record gives.
 */
static tsr_status_t tsr_export_source_head(const char *dir, const char *bcf, char head[TSR_DIGEST_MAX])
{
    if (access(bcf, R_OK) != 0) /* the exporter's own message for an input it cannot read */
        return tsr_error_set(TSR_ERR_IO, "cannot open '%s': %s", bcf, strerror(errno));
    tsr_audit_opts_t ao = {0};
    ao.need_head_record = 1;
    tsr_audit_result_t r;
    TSR_CALL(tsr_audit_check(dir, &ao, &r));
    if (r.n_problems)
        return tsr_error_set(TSR_ERR_STATE, "'%s' does not pass its audit (%d problems): run `tessera verify %s` "
                                            "and export only from a directory that passes", dir, r.n_problems, dir);
    char jpath[4200], now[TSR_DIGEST_MAX], want[TSR_DIGEST_MAX] = "";
    TSR_CALL(tsr_journal_path(dir, jpath, sizeof jpath));
    tsr_journal_t *j = NULL;
    TSR_CALL(tsr_journal_open_readonly(jpath, &j));
    for (int i = 0; i < tsr_journal_n_done(j); i++) {
        const char *key;
        int n;
        const char *const *outs;
        const uint32_t *crc;
        tsr_journal_done_at(j, i, &key, &n, &outs, &crc);
        for (int k = 0; k < n; k++)
            if (!strcmp(outs[k], "cohort.bcf"))
                snprintf(want, sizeof want, "%s", tsr_journal_digests_at(j, i)[k]);
    }
    tsr_journal_close(&j);
    TSR_CALL(tsr_file_sha256(bcf, now));
    if (strcmp(now, want) != 0)
        return tsr_error_set(TSR_ERR_STATE, "%s is not the file its run journaled (%s, journal %s): run `tessera "
                                            "verify %s`", bcf, now, want[0] ? want : "none", dir);
    snprintf(head, TSR_DIGEST_MAX, "%s", r.head);
    return TSR_OK;
}

int tsr_cmd_export(int argc, char **argv)
{
    enum { O_AGG = 256, O_IN, O_VCF, O_OUT, O_MINAC, O_FIELDS, O_GVCF, O_REF, O_POWER, O_ALPHA, O_DROP };
    static const struct option lopts[] = {{"aggregate-only", no_argument, 0, O_AGG},
                                          {"in", required_argument, 0, O_IN},
                                          {"vcf", required_argument, 0, O_VCF},
                                          {"out", required_argument, 0, O_OUT},
                                          {"min-ac", required_argument, 0, O_MINAC},
                                          {"fields", required_argument, 0, O_FIELDS},
                                          {"gvcf", required_argument, 0, O_GVCF},
                                          {"ref", required_argument, 0, O_REF},
                                          {"max-membership-power", required_argument, 0, O_POWER},
                                          {"membership-alpha", required_argument, 0, O_ALPHA},
                                          {"drop-to-power", no_argument, 0, O_DROP},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    tsr_export_opts_t o;
    tsr_export_opts_init(&o);
    const char *indir = NULL, *vcf = NULL, *gvcf = NULL, *ref = NULL, *gvcf_out = NULL;
    int aggregate = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "ho:", lopts, NULL)) >= 0) {
        char *end = NULL;
        switch (c) {
        case O_AGG: aggregate = 1; break;
        case O_IN: indir = optarg; break;
        case O_VCF: vcf = optarg; break;
        case O_OUT: o.out = optarg; break;
        case O_MINAC:
            o.min_ac = strtoll(optarg, &end, 10);
            if (!*optarg || *end || o.min_ac < 0)
                return tsr_cli_usage_error("export", "--min-ac takes a whole number >= 0, not '%s'", optarg);
            break;
        case O_FIELDS: o.fields = optarg; break;
        case O_POWER:
            o.max_power = strtod(optarg, &end);
            if (!*optarg || *end || !(o.max_power > 0 && o.max_power <= 1))
                return tsr_cli_usage_error("export", "--max-membership-power takes a number in (0, 1], not '%s'",
                                           optarg);
            break;
        case O_ALPHA:
            o.alpha = strtod(optarg, &end);
            if (!*optarg || *end || !(o.alpha > 0 && o.alpha < 1))
                return tsr_cli_usage_error("export", "--membership-alpha takes a number in (0, 1), not '%s'", optarg);
            break;
        case O_DROP: o.drop_to_power = 1; break;
        case O_GVCF: gvcf = optarg; break;
        case O_REF: ref = optarg; break;
        case 'o': gvcf_out = optarg; break;
        case 'h': tsr_export_usage(stdout); return TSR_EXIT_OK;
        default: return tsr_cli_usage_error("export", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return tsr_cli_usage_error("export", "unexpected argument '%s'", argv[optind]);
    if (gvcf)
        return tsr_export_gvcf(gvcf, o.out, ref, gvcf_out, aggregate || indir || vcf);
    if (!aggregate)
        return tsr_cli_usage_error("export", "only --aggregate-only exists today (sites and INFO, no per-sample "
                                             "data); gVCF and TSV exports arrive with their issues");
    if ((indir != NULL) == (vcf != NULL))
        return tsr_cli_usage_error("export", "give exactly one input: --in DIR (its cohort.bcf) or --vcf FILE");
    char inpath[4200];
    if (indir) {
        if ((size_t)snprintf(inpath, sizeof inpath, "%s/cohort.bcf", indir) >= sizeof inpath)
            return tsr_cli_usage_error("export", "--in path too long");
        o.in = inpath;
    } else {
        o.in = vcf;
    }
    tsr_status_t s = tsr_export_opts_check(&o);
    if (s != TSR_OK)
        return tsr_cli_usage_error("export", "%s", tsr_error_msg());
    if (o.drop_to_power && !(o.max_power > 0))
        return tsr_cli_usage_error("export", "--drop-to-power needs --max-membership-power P (the power to drop to)");

    char head[TSR_DIGEST_MAX] = "";
    if (indir) {
        s = tsr_export_source_head(indir, inpath, head);
        if (s != TSR_OK)
            return tsr_cli_fail("export", s);
        o.source_head = head;
    }
    tsr_sheet_t *sheet = NULL;
    tsr_run_record_t *rec = NULL;
    if (indir) { /* a deep run: the federated export (the run's sheet, reference and evidence) */
        if (!(rec = calloc(1, sizeof *rec)))
            return tsr_cli_fail("export", tsr_error_set(TSR_ERR_NOMEM, "out of memory"));
        s = tsr_run_record_read(indir, rec);
        if (s == TSR_OK) {
            const char *part = rec->opts.samples;
            s = tsr_sheet_create_from_parts(1, &part, 1, &sheet);
            o.sheet = sheet;
            o.run_dir = indir;
            o.ref = rec->ref;
            o.mode = rec->lowpass ? "lowpass" : "deep";
            o.version = TSR_VERSION;
            o.loglik = tsr_lp_loglik;
        }
        if (s != TSR_OK) {
            free(rec);
            return tsr_cli_fail("export", s);
        }
    }
    hts_set_log_level(HTS_LOG_OFF);
    tsr_export_summary_t sum;
    s = tsr_export_aggregate_write(&o, &sum);
    tsr_sheet_destroy(&sheet);
    free(rec);
    if (s != TSR_OK)
        return tsr_cli_fail("export", s);
    printf("tessera export: %" PRId64 " of %" PRId64 " sites -> %s (+ .csi), %" PRId64
           " suppressed (summed AC < %" PRId64 "); no per-sample data\n",
           sum.n_written, sum.n_in, o.out, sum.n_suppressed, o.min_ac);
    printf("tessera export: content %s%s%s\n", sum.content_sha256, head[0] ? ", source run audit " : "", head);
    printf("tessera export: membership-inference power %.4f (Sankararaman et al. 2009: %" PRId64 " sites, %" PRId64
           " samples, alpha %g)\n", sum.membership_power, sum.n_written, sum.n_samples, o.alpha);
    if (o.drop_to_power)
        printf("tessera export: --drop-to-power: %" PRId64 " sites dropped (lowest MAF first) to keep the power <= %g\n",
               sum.n_dropped, o.max_power);
    if (o.loglik && o.mode && !strcmp(o.mode, "lowpass"))
        printf("tessera export: federated (low-pass): per-population log-likelihood curves of each ALT's frequency "
               "(INFO/LLC_<pop>, %d grid points)\n", TSR_LP_CURVE_K);
    if (sum.mask_sha256[0])
        printf("tessera export: federated: per-population genotype counts; callable mask %s.callable.bed.gz "
               "(%" PRId64 " intervals, %s)\n", o.out, sum.n_mask_intervals, sum.mask_sha256);
    return TSR_EXIT_OK;
}
