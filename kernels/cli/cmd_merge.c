/*
 * cmd_merge.c - `tessera merge --out merged.vcf.gz A.vcf.gz B.vcf.gz ...`:
 * exact cohort-wide statistics from institutions' federated exports
 * (kernels/stats/federated_merge.c). Under mpirun the windows of the genome
 * are shared among the ranks; the outputs do not depend on their number.
 */
#include "kernels/cli/cli.h"
#include "kernels/kernels.h"
#include "kernels/stats/stats.h"
#include "tsr_version.h"

#include <htslib/hts.h>

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void tsr_merge_usage(FILE *fp)
{
    fprintf(fp,
            "Usage: tessera merge --out MERGED.vcf.gz EXPORT.vcf.gz [EXPORT.vcf.gz ...] [options]\n\n"
            "Merges institutions' federated exports (tessera export --aggregate-only --in DIR, each with its\n"
            "EXPORT.vcf.gz.callable.bed.gz beside it) into exact cohort-wide statistics: the union of sites\n"
            "(keyed by contig, POS and REF; ALTs united) with summed per-population genotype counts; an\n"
            "institution without a site counts its callable samples there (its mask) as hom-ref. AC, AN, AF,\n"
            "NS, nhet, nhomalt, F_MISSING, HWE, ExcHet and F are recomputed per population and for the cohort\n"
            "exactly as `tessera stats` computes them on pooled genotypes. Writes MERGED.vcf.gz (+ .csi),\n"
            "MERGED.stats.tsv, MERGED.statistics.json (SFS and Hudson F_ST of the released sites, inputs\n"
            "with their SHA-256s, the membership-inference power) and MERGED.report.html (each institution's\n"
            "samples per population, SFS and F_ST plots). No sample name or per-sample value.\n"
            "Inputs with another reference (contig names, lengths, MD5s), mode or population set, or whose\n"
            "content no longer matches its recorded SHA-256, are refused, naming the file and what differs.\n"
            "Any order of the inputs, and any number of ranks, gives byte-identical outputs.\n"
            "Low-pass exports (of --mode lowpass runs): the per-population log-likelihood curves (LLC_<pop>)\n"
            "are summed, an institution without a site adds its samples' reference reads from its depth mask,\n"
            "and AF / AF_<pop> are the maximum-likelihood frequencies (argmax of the summed curves). QUAL is\n"
            "discovery by the pooled likelihood: the low-pass discovery's phred of the likelihood-ratio test of\n"
            "the summed cohort curve at its maximum against frequency 0 (summed over ALTs); a site below\n"
            "--min-site-qual is not a site. For a federated release run the institutions with a low\n"
            "`tessera run --min-site-qual` (e.g. 0) so the merge sees the weak sites a pooled run would\n"
            "call. --min-ac applies to round(2 N AF). Writes MERGED.vcf.gz, MERGED.stats.tsv and MERGED.statistics.json\n"
            "(no SFS, F_ST or report from curves yet). Low-pass and deep exports are not mixed.\n\n"
            "Options:\n"
            "  --out FILE.vcf.gz            the merged sites (required)\n"
            "  --min-ac K                   release only sites whose merged ALT count is >= K [1]\n"
            "  --max-membership-power P     refuse the release (nothing written) when the power of the\n"
            "                               Sankararaman et al. 2009 membership test exceeds P [no limit]\n"
            "  --membership-alpha A         that test's false-positive rate [0.05]\n"
            "  --drop-to-power              above --max-membership-power, drop released sites instead of\n"
            "                               refusing: the lowest cohort minor-allele frequencies first, ties the\n"
            "                               later site first, until the power is <= P (how many: printed and in\n"
            "                               the header and statistics.json; SFS and F_ST stay those before)\n"
            "  --min-site-qual Q            low-pass: merged sites whose QUAL is below Q are not sites [30,\n"
            "                               the default of `tessera run --mode lowpass`]\n"
            "  --window BP                  bases per parallel task [1000000]\n"
            "  -h, --help                   this help\n\n"
            "Exit codes: 0 written; 1 failed (one error line says why; nothing written); 2 usage.\n");
}

int tsr_cmd_merge(int argc, char **argv)
{
    enum { O_OUT = 256, O_MINAC, O_POWER, O_ALPHA, O_WINDOW, O_DROP, O_MINSQ };
    static const struct option lopts[] = {{"out", required_argument, 0, O_OUT},
                                          {"min-ac", required_argument, 0, O_MINAC},
                                          {"max-membership-power", required_argument, 0, O_POWER},
                                          {"membership-alpha", required_argument, 0, O_ALPHA},
                                          {"window", required_argument, 0, O_WINDOW},
                                          {"drop-to-power", no_argument, 0, O_DROP},
                                          {"min-site-qual", required_argument, 0, O_MINSQ},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    tsr_merge_opts_t o;
    tsr_merge_opts_init(&o);
    o.version = TSR_VERSION;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) >= 0) {
        char *end = NULL;
        switch (c) {
        case O_OUT: o.out = optarg; break;
        case O_MINAC:
            o.min_ac = strtoll(optarg, &end, 10);
            if (!*optarg || *end || o.min_ac < 0)
                return tsr_cli_usage_error("merge", "--min-ac takes a whole number >= 0, not '%s'", optarg);
            break;
        case O_POWER:
            o.max_power = strtod(optarg, &end);
            if (!*optarg || *end || !(o.max_power > 0 && o.max_power <= 1))
                return tsr_cli_usage_error("merge", "--max-membership-power takes a number in (0, 1], not '%s'",
                                           optarg);
            break;
        case O_ALPHA:
            o.alpha = strtod(optarg, &end);
            if (!*optarg || *end || !(o.alpha > 0 && o.alpha < 1))
                return tsr_cli_usage_error("merge", "--membership-alpha takes a number in (0, 1), not '%s'", optarg);
            break;
        case O_WINDOW:
            o.window = tsr_parse_size(optarg);
            if (o.window < 1000)
                return tsr_cli_usage_error("merge", "--window takes a length >= 1000 like 1M, not '%s'", optarg);
            break;
        case O_DROP: o.drop_to_power = 1; break;
        case O_MINSQ:
            o.min_site_qual = strtod(optarg, &end);
            if (!*optarg || *end || !(o.min_site_qual >= 0))
                return tsr_cli_usage_error("merge", "--min-site-qual takes a number >= 0, not '%s'", optarg);
            break;
        case 'h': tsr_merge_usage(stdout); return TSR_EXIT_OK;
        default: return tsr_cli_usage_error("merge", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    o.loglik_weighted = tsr_lp_loglik_weighted;
    o.qual = tsr_lp_qual;
    o.n_inputs = argc - optind;
    o.inputs = (const char *const *)(argv + optind);
    tsr_status_t s = tsr_merge_opts_check(&o);
    if (s != TSR_OK)
        return tsr_cli_usage_error("merge", "%s", tsr_error_msg());
    if (o.drop_to_power && !(o.max_power > 0))
        return tsr_cli_usage_error("merge", "--drop-to-power needs --max-membership-power P (the power to drop to)");
    hts_set_log_level(HTS_LOG_OFF);
    tsr_rt_t *rt = NULL;
    s = tsr_rt_create(&argc, &argv, &rt);
    if (s != TSR_OK)
        return tsr_cli_fail("merge", s);
    tsr_merge_summary_t sum;
    s = tsr_merge_run(rt->comm, &o, &sum);
    int code = TSR_EXIT_OK;
    if (rt->role == TSR_ROLE_MASTER) {
        if (s == TSR_OK) {
            printf("tessera merge: %d inputs, %d samples -> %" PRId64 " sites in %s (+ .csi), %" PRId64
                   " suppressed (merged AC < %" PRId64 "); %d windows on %d rank%s\n",
                   sum.n_inputs, sum.n_samples, sum.n_sites, o.out, sum.n_suppressed, o.min_ac, sum.n_regions,
                   rt->size, rt->size == 1 ? "" : "s");
            printf("tessera merge: membership-inference power %.4f (Sankararaman et al. 2009, %" PRId64
                   " sites, %d samples, alpha %g); statistics in %s, %s and the report\n",
                   sum.membership_power, sum.n_sites, sum.n_samples, o.alpha, sum.stats_tsv, sum.statistics_json);
            if (sum.n_below_qual)
                printf("tessera merge: %" PRId64 " merged sites below --min-site-qual %g are not sites\n",
                       sum.n_below_qual, o.min_site_qual);
            if (o.drop_to_power)
                printf("tessera merge: --drop-to-power: %" PRId64 " sites dropped (lowest MAF first) to keep the "
                       "power <= %g\n", sum.n_dropped, o.max_power);
        } else {
            code = tsr_cli_fail("merge", s);
        }
    } else {
        code = tsr_status_exit_code(s);
    }
    fflush(stdout);
    tsr_rt_destroy(&rt);
    return code;
}
