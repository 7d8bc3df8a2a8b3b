/*
 * cmd_stats.c - `tessera stats --vcf FILE --out DIR`: per-site and
 * cohort-wide statistics of an existing joint-called VCF/BCF. Option parsing,
 * the final lines and the exit code; the run itself (regions through the
 * scheduler, journaled and resumable) is tsr_stats_run in
 * kernels/pipeline/stats_run.c.
 */
#include "kernels/cli/cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void tsr_stats_usage(FILE *fp)
{
    fprintf(fp,
            "Usage: [mpirun -n N] tessera stats --vcf COHORT.vcf.gz|bcf --out DIR [options]\n\n"
            "Per-site statistics of a joint-called VCF/BCF (bgzipped and indexed), for the whole cohort\n"
            "and each population: AC AN AF NS nhet nhomalt F_MISSING HWE ExcHet F (bcftools +fill-tags\n"
            "definitions). Writes DIR/stats.tsv (identical for any number of ranks) and DIR/summary.json.\n"
            "Cohort-wide statistics (site classes, Ti/Tv, SFS and Hudson Fst per population, per-sample\n"
            "QC with outliers) go into summary.json, DIR/sample_qc.tsv and DIR/report.html.\n\n"
            "Regions of --window bp are tasks of the scheduler, as in `tessera run`: handed to ranks as\n"
            "they free up, each finished one recorded in DIR/journal.tsv (its files in DIR/stats.d/).\n"
            "After a kill, a signal (exit 75) or a failure, rerun the same command: it resumes and\n"
            "computes only what is missing. DIR's journal refuses another VCF, sheet or --window.\n\n"
            "Options:\n"
            "  --vcf FILE           the VCF/BCF (needs a .csi or .tbi index)\n"
            "  --out DIR            output directory\n"
            "  --samples SHEET.tsv  sample -> population (columns 'sample' and 'population'); without it\n"
            "                       every sample is in population 'all'\n"
            "  --window BP          region size of a work unit [1000000]\n"
            "  --grace SECONDS      on SIGTERM/SIGUSR1, wait this long for running tasks [60]\n"
            "  --verify-outputs HOW resume: stat = trust a journaled output whose size and mtime are as\n"
            "                       recorded, re-read the others; full = re-read every one [stat]\n"
            "  --log-level L        off|error|warn|info|debug|trace [warn]\n"
            "  -h, --help           this help\n");
}

int tsr_cmd_stats(int argc, char **argv)
{
    enum { O_VCF = 256, O_OUT, O_SAMPLES, O_WINDOW, O_GRACE, O_LOG, O_VERIFY };
    static const struct option lopts[] = {{"vcf", required_argument, 0, O_VCF},
                                          {"out", required_argument, 0, O_OUT},
                                          {"samples", required_argument, 0, O_SAMPLES},
                                          {"window", required_argument, 0, O_WINDOW},
                                          {"grace", required_argument, 0, O_GRACE},
                                          {"verify-outputs", required_argument, 0, O_VERIFY},
                                          {"log-level", required_argument, 0, O_LOG},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    tsr_stats_opts_t o;
    tsr_stats_opts_init(&o);
    int log_level = TSR_LOG_WARN, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) >= 0) {
        switch (c) {
        case O_VCF: o.vcf = optarg; break;
        case O_OUT: o.outdir = optarg; break;
        case O_SAMPLES: o.samples = optarg; break;
        case O_WINDOW:
            o.window = tsr_parse_size(optarg);
            if (o.window <= 0)
                return tsr_cli_usage_error("stats", "--window takes a length like 1M, not '%s'", optarg);
            break;
        case O_GRACE: { /* parsed as `tessera run` declares it */
            tsr_run_opts_t ro;
            tsr_run_opts_init(&ro);
            if (tsr_run_opt_set(&ro, tsr_run_opt_find("grace"), optarg) != TSR_OK)
                return tsr_cli_usage_error("stats", "%s", tsr_error_msg());
            o.grace_seconds = ro.grace_seconds;
            break;
        }
        case O_VERIFY: {
            tsr_run_opts_t ro;
            tsr_run_opts_init(&ro);
            if (tsr_run_opt_set(&ro, tsr_run_opt_find("verify-outputs"), optarg) != TSR_OK)
                return tsr_cli_usage_error("stats", "%s", tsr_error_msg());
            o.verify_outputs = ro.verify_outputs;
            break;
        }
        case O_LOG:
            log_level = tsr_log_level_parse(optarg);
            if (log_level < 0)
                return tsr_cli_usage_error("stats", "unknown --log-level '%s'", optarg);
            break;
        case 'h': tsr_stats_usage(stdout); return TSR_EXIT_OK;
        default: return tsr_cli_usage_error("stats", "unknown option");
        }
    }
    if (optind < argc)
        return tsr_cli_usage_error("stats", "unexpected argument '%s'", argv[optind]);
    tsr_status_t st = tsr_stats_opts_check(&o);
    if (st != TSR_OK)
        return tsr_cli_usage_error("stats", "%s", tsr_error_msg());
    tsr_cli_provenance_t prov; /* the versions in report.html's facts */
    if (tsr_cli_provenance_fill(&prov, argc, argv) != 0) {
        tsr_cli_provenance_free(&prov);
        return tsr_cli_fail("stats", tsr_error_set(TSR_ERR_NOMEM, "out of memory recording the versions"));
    }
    o.provenance = &prov.pv;

    tsr_signals_install();
    tsr_rt_t *rt = NULL;
    st = tsr_rt_create(&argc, &argv, &rt);
    if (st != TSR_OK) {
        tsr_cli_provenance_free(&prov);
        return tsr_cli_fail("stats", st);
    }
    tsr_log_configure((tsr_log_level_t)log_level, rt->rank);
    tsr_stats_summary_t sum;
    st = tsr_stats_run(rt, &o, &sum);
    int code;
    if (rt->role == TSR_ROLE_MASTER) {
        if (st == TSR_OK) {
            printf("tessera stats: %d tasks (%d from the journal, %d executed, %d retried) on %d rank%s in %.1f s\n",
                   sum.sched.n_tasks, sum.sched.n_skipped, sum.sched.n_executed, sum.sched.n_retried, rt->size,
                   rt->size == 1 ? "" : "s", sum.seconds);
            printf("tessera stats: %" PRId64 " sites, %d samples, %d populations, %d regions on %d ranks in %.2f s "
                   "(%.2f CPU s) -> %s/stats.tsv\n",
                   sum.n_sites, sum.n_samples, sum.n_populations, sum.n_regions, rt->size, sum.seconds,
                   sum.cpu_seconds, o.outdir);
            code = TSR_EXIT_OK;
        } else if (st == TSR_ERR_INTERRUPTED) {
            fprintf(stderr, "tessera stats: interrupted after %d of %d tasks; journal flushed: rerun the same command "
                            "to resume\n",
                    sum.sched.n_skipped + sum.sched.n_executed, sum.sched.n_tasks);
            code = TSR_EXIT_INTERRUPTED;
        } else {
            code = tsr_cli_fail("stats", st);
        }
    } else {
        code = tsr_status_exit_code(st);
    }
    fflush(stdout);
    tsr_rt_destroy(&rt);
    tsr_cli_provenance_free(&prov);
    return code;
}
