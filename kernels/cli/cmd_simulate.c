/*
 * cmd_simulate.c - `tessera simulate`: write a deterministic synthetic cohort
 * (reference, truth VCF, reads or BAMs, sample sheet). No MPI.
 */
#include "io/simulate/simulate.h"
#include "io/io.h"
#include "kernels/cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void tsr_simulate_usage(FILE *fp)
{
    fprintf(fp,
            "Usage: tessera simulate --out DIR [options]\n\n"
            "Write a deterministic synthetic cohort: DIR/ref.fa (+.fai), DIR/truth.vcf.gz (+.tbi),\n"
            "DIR/samples.tsv and per sample DIR/reads/S0001_{1,2}.fastq.gz (or DIR/bam/S0001.bam + .bai).\n\n"
            "Options:\n"
            "  --out DIR                   output directory (required)\n"
            "  --samples N                 samples [16]\n"
            "  --coverage X                mean read depth per sample [20]\n"
            "  --seed S                    random seed; same seed and options give identical bytes [1]\n"
            "  --length BP                 synthetic reference length [200000]\n"
            "  --ref FASTA                 take the reference from FASTA instead ...\n"
            "  --region CHR:BEG-END        ... this piece of it (contig written as CHR_BEG_END)\n"
            "  --populations K             populations pop1..popK, samples in contiguous blocks [1]\n"
            "  --fst F                     Balding-Nichols F_ST between populations [0]\n"
            "  --bam                       write coordinate-sorted BAMs at the true positions, not FASTQ\n"
            "  --read-length N             [150]\n"
            "  --fragment-mean N           [350]\n"
            "  --fragment-sd N             [50]\n"
            "  --theta T                   Watterson theta per bp [0.001]\n"
            "  --indel-fraction F          fraction of variant sites that are indels [0.12]\n"
            "  --multiallelic-fraction F   fraction of SNV sites with a second ALT [0.02]\n"
            "  --error-rate E              mean substitution error per base [0.002]\n"
            "  --threads N                 samples simulated in parallel [1]\n"
            "  --force                     overwrite a cohort already in DIR\n"
            "  --help                      this text\n");
}

static int tsr_simulate_parse_num(const char *opt, const char *arg, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || !end || end == arg || *end || !(v >= lo && v <= hi))
        return tsr_cli_usage_error("simulate", "--%s expects a number in [%g, %g], got '%s'", opt, lo, hi, arg);
    *out = v;
    return 0;
}

static int tsr_simulate_parse_int(const char *opt, const char *arg, long long lo, long long hi, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (errno || !end || end == arg || *end || v < lo || v > hi)
        return tsr_cli_usage_error("simulate", "--%s expects an integer in [%lld, %lld], got '%s'", opt, lo, hi,
                                   arg);
    *out = v;
    return 0;
}

int tsr_cmd_simulate(int argc, char **argv)
{
    enum {
        OPT_OUT = 256, OPT_SAMPLES, OPT_COVERAGE, OPT_SEED, OPT_LENGTH, OPT_REF, OPT_REGION, OPT_POPS, OPT_FST,
        OPT_BAM, OPT_RL, OPT_FMEAN, OPT_FSD, OPT_THETA, OPT_INDEL, OPT_MULTI, OPT_ERR, OPT_THREADS, OPT_FORCE,
        OPT_HELP
    };
    static const struct option longopts[] = {
        {"out", required_argument, NULL, OPT_OUT},
        {"samples", required_argument, NULL, OPT_SAMPLES},
        {"coverage", required_argument, NULL, OPT_COVERAGE},
        {"seed", required_argument, NULL, OPT_SEED},
        {"length", required_argument, NULL, OPT_LENGTH},
        {"ref", required_argument, NULL, OPT_REF},
        {"region", required_argument, NULL, OPT_REGION},
        {"populations", required_argument, NULL, OPT_POPS},
        {"fst", required_argument, NULL, OPT_FST},
        {"bam", no_argument, NULL, OPT_BAM},
        {"read-length", required_argument, NULL, OPT_RL},
        {"fragment-mean", required_argument, NULL, OPT_FMEAN},
        {"fragment-sd", required_argument, NULL, OPT_FSD},
        {"theta", required_argument, NULL, OPT_THETA},
        {"indel-fraction", required_argument, NULL, OPT_INDEL},
        {"multiallelic-fraction", required_argument, NULL, OPT_MULTI},
        {"error-rate", required_argument, NULL, OPT_ERR},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"force", no_argument, NULL, OPT_FORCE},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    tsr_sim_opts_t o;
    tsr_sim_opts_init(&o);
    int force = 0, c;
    long long iv = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case OPT_OUT: o.outdir = optarg; break;
        case OPT_SAMPLES:
            if (!(rc = tsr_simulate_parse_int("samples", optarg, 1, 1000000, &iv)))
                o.n_samples = (int)iv;
            break;
        case OPT_COVERAGE: rc = tsr_simulate_parse_num("coverage", optarg, 1e-9, 1000, &o.coverage); break;
        case OPT_SEED:
            if (!(rc = tsr_simulate_parse_int("seed", optarg, 0, INT64_MAX, &iv)))
                o.seed = (uint64_t)iv;
            break;
        case OPT_LENGTH:
            if (!(rc = tsr_simulate_parse_int("length", optarg, 1000, 1000000000, &iv)))
                o.length = iv;
            break;
        case OPT_REF: o.ref = optarg; break;
        case OPT_REGION: o.region = optarg; break;
        case OPT_POPS:
            if (!(rc = tsr_simulate_parse_int("populations", optarg, 1, 1000000, &iv)))
                o.populations = (int)iv;
            break;
        case OPT_FST: rc = tsr_simulate_parse_num("fst", optarg, 0, 0.999999, &o.fst); break;
        case OPT_BAM: o.bam = 1; break;
        case OPT_RL:
            if (!(rc = tsr_simulate_parse_int("read-length", optarg, 30, 1000, &iv)))
                o.read_length = (int)iv;
            break;
        case OPT_FMEAN:
            if (!(rc = tsr_simulate_parse_int("fragment-mean", optarg, 1, 100000, &iv)))
                o.fragment_mean = (int)iv;
            break;
        case OPT_FSD:
            if (!(rc = tsr_simulate_parse_int("fragment-sd", optarg, 0, 100000, &iv)))
                o.fragment_sd = (int)iv;
            break;
        case OPT_THETA: rc = tsr_simulate_parse_num("theta", optarg, 1e-12, 0.05, &o.theta); break;
        case OPT_INDEL: rc = tsr_simulate_parse_num("indel-fraction", optarg, 0, 1, &o.indel_fraction); break;
        case OPT_MULTI:
            rc = tsr_simulate_parse_num("multiallelic-fraction", optarg, 0, 1, &o.multiallelic_fraction);
            break;
        case OPT_ERR: rc = tsr_simulate_parse_num("error-rate", optarg, 1e-4, 0.2, &o.error_rate); break;
        case OPT_THREADS:
            if (!(rc = tsr_simulate_parse_int("threads", optarg, 1, 4096, &iv)))
                o.threads = (int)iv;
            break;
        case OPT_FORCE: force = 1; break;
        case OPT_HELP: tsr_simulate_usage(stdout); return TSR_EXIT_OK;
        default:
            return tsr_cli_usage_error("simulate", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc)
            return rc;
    }
    if (optind < argc)
        return tsr_cli_usage_error("simulate", "unexpected argument '%s'", argv[optind]);
    if (!o.outdir)
        return tsr_cli_usage_error("simulate", "--out DIR is required");
    tsr_error_clear();
    tsr_status_t s = tsr_sim_opts_check(&o);
    if (s != TSR_OK)
        return tsr_cli_usage_error("simulate", "%s", tsr_error_msg());

    char sheet[4096];
    struct stat st;
    snprintf(sheet, sizeof sheet, "%s/samples.tsv", o.outdir);
    if (!force && stat(sheet, &st) == 0) {
        tsr_error_set(TSR_ERR_STATE, "'%s' already holds a simulated cohort (%s); choose another --out or add --force",
                      o.outdir, sheet);
        return tsr_cli_fail("simulate", TSR_ERR_STATE);
    }

    tsr_sim_summary_t sum;
    s = tsr_simulate(&o, &sum);
    if (s != TSR_OK)
        return tsr_cli_fail("simulate", s);
    printf("simulated %d samples over %lld bp (%s)\n", o.n_samples, (long long)sum.ref_length,
           o.ref ? o.ref : "synthetic");
    printf("variants: %lld (SNV %lld, indel %lld, multi-allelic %lld)\n", (long long)sum.n_variants,
           (long long)sum.n_snv, (long long)sum.n_indel, (long long)sum.n_multiallelic);
    printf("read pairs: %lld; realised coverage %.2fx; substitution error rate %.5f\n",
           (long long)sum.n_read_pairs, sum.realised_coverage, sum.realised_error_rate);
    printf("reference: %s/ref.fa\ntruth: %s/truth.vcf.gz\nsample sheet: %s\n%s: %s/%s/\n", o.outdir, o.outdir, sheet,
           o.bam ? "alignments" : "reads", o.outdir, o.bam ? "bam" : "reads");
    return TSR_EXIT_OK;
}
