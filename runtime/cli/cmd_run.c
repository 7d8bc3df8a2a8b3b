/* cmd_run.c - `tessera run`: the whole pipeline under mpirun/srun. */
#include "kernels/kernels.h"
#include "runtime/cli/cli.h"

#include <htslib/hts.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void tsr_run_usage(FILE *fp)
{
    fprintf(fp,
            "Usage: mpirun -n N tessera run --ref REF.fa --samples SHEET.tsv --out DIR [options]\n\n"
            "Runs the whole pipeline: align (FASTQ samples) -> call per (region, sample batch) ->\n"
            "joint genotyping per region -> cohort.bcf, cohort.h5, stats.tsv, summary.json in DIR.\n"
            "Running the same command again resumes from DIR/journal.tsv.\n\n"
            "Required:\n"
            "  --ref FASTA            reference (indexed with samtools faidx, or indexable)\n"
            "  --samples SHEET.tsv    sample sheet: sample, population, fastq1 [fastq2] | bam\n"
            "  --out DIR              output directory (new, empty, or an earlier run of this command)\n"
            "Options:\n"
            "  --regions R            contig, contig:beg-end (1-based), space-separated list, or BED file\n"
            "  --mode M               auto|deep|lowpass [auto; lowpass arrives with its issue]\n"
            "  --threads N            worker threads per rank [0 = one per core of the rank's domain]\n"
            "  --mem-per-rank SIZE    memory budget per rank, e.g. 4G [unlimited]\n"
            "  --shard-size BP        region length of a work unit [1000000]\n"
            "  --batch-size N         samples per evidence partition [64]\n"
            "  --min-mapq Q           ignore reads below this mapping quality [20]\n"
            "  --min-baseq Q          ignore bases below this base quality [13]\n"
            "  --min-qual Q           sites below this QUAL are filtered LowQual [30]\n"
            "  --grace SECONDS        on SIGTERM/SIGUSR1, wait this long for running tasks [60]\n"
            "  --log-level L          off|error|warn|info|debug|trace [info]\n"
            "  -h, --help             this help\n\n"
            "Exit codes: 0 done; 1 failed (one error line says why); 2 usage;\n"
            "75 interrupted by a signal, journal flushed: rerun the same command to resume.\n");
}

int tsr_cmd_run(int argc, char **argv)
{
    enum { O_REF = 256, O_SAMPLES, O_OUT, O_REGIONS, O_MODE, O_THREADS, O_MEM, O_SHARD, O_BATCH,
           O_MAPQ, O_BASEQ, O_QUAL, O_GRACE, O_LOG };
    static const struct option lopts[] = {
        {"ref", required_argument, 0, O_REF},         {"samples", required_argument, 0, O_SAMPLES},
        {"out", required_argument, 0, O_OUT},         {"regions", required_argument, 0, O_REGIONS},
        {"mode", required_argument, 0, O_MODE},       {"threads", required_argument, 0, O_THREADS},
        {"mem-per-rank", required_argument, 0, O_MEM}, {"shard-size", required_argument, 0, O_SHARD},
        {"batch-size", required_argument, 0, O_BATCH}, {"min-mapq", required_argument, 0, O_MAPQ},
        {"min-baseq", required_argument, 0, O_BASEQ}, {"min-qual", required_argument, 0, O_QUAL},
        {"grace", required_argument, 0, O_GRACE},     {"log-level", required_argument, 0, O_LOG},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
    tsr_run_opts_t o;
    tsr_run_opts_init(&o);
    int log_level = TSR_LOG_INFO;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) >= 0) {
        char *end = NULL;
        switch (c) {
        case O_REF: o.ref = optarg; break;
        case O_SAMPLES: o.samples = optarg; break;
        case O_OUT: o.outdir = optarg; break;
        case O_REGIONS: o.regions = optarg; break;
        case O_MODE: o.mode = optarg; break;
        case O_THREADS:
            o.threads = (int)strtol(optarg, &end, 10);
            if (*end || o.threads < 0)
                return tsr_cli_usage_error("run", "--threads takes a number >= 0, not '%s'", optarg);
            break;
        case O_MEM:
            o.mem_per_rank = tsr_parse_size(optarg);
            if (o.mem_per_rank < 0)
                return tsr_cli_usage_error("run", "--mem-per-rank takes a size like 4G, not '%s'", optarg);
            break;
        case O_SHARD:
            o.shard_size = tsr_parse_size(optarg);
            if (o.shard_size <= 0)
                return tsr_cli_usage_error("run", "--shard-size takes a length like 1M, not '%s'", optarg);
            break;
        case O_BATCH:
            o.batch_size = (int)strtol(optarg, &end, 10);
            if (*end || o.batch_size < 1)
                return tsr_cli_usage_error("run", "--batch-size takes a number >= 1, not '%s'", optarg);
            break;
        case O_MAPQ: o.min_mapq = atoi(optarg); break;
        case O_BASEQ: o.min_baseq = atoi(optarg); break;
        case O_QUAL: o.min_qual = atof(optarg); break;
        case O_GRACE: o.grace_seconds = atof(optarg); break;
        case O_LOG:
            log_level = tsr_log_level_parse(optarg);
            if (log_level < 0)
                return tsr_cli_usage_error("run", "--log-level takes off|error|warn|info|debug|trace");
            break;
        case 'h': tsr_run_usage(stdout); return TSR_EXIT_OK;
        default: return tsr_cli_usage_error("run", "unknown option");
        }
    }
    if (optind < argc)
        return tsr_cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
    tsr_status_t s = tsr_run_opts_check(&o);
    if (s != TSR_OK)
        return tsr_cli_usage_error("run", "%s", tsr_error_msg());

    /* Genomic data stays private: outputs readable by owner and group at most; a stricter umask is kept. */
    mode_t mask = umask(0);
    umask(mask | 027);
    /* tessera's own error line names the file and what to do; htslib's [E::...] lines only below debug. */
    hts_set_log_level(log_level >= TSR_LOG_DEBUG ? HTS_LOG_WARNING : HTS_LOG_OFF);
    tsr_signals_install();
    tsr_rt_t *rt = NULL;
    s = tsr_rt_create(&argc, &argv, &rt);
    if (s != TSR_OK)
        return tsr_cli_fail("run", s);
    tsr_log_configure((tsr_log_level_t)log_level, rt->size > 1 ? rt->rank : -1);
    tsr_run_summary_t sum;
    s = tsr_pipeline_run(rt, &o, &sum);
    int code;
    if (rt->role == TSR_ROLE_MASTER) {
        if (s == TSR_OK) {
            printf("tessera run: %d tasks (%d from the journal, %d executed, %d retried) on %d rank%s in %.1f s\n"
                   "tessera run: %lld sites -> %s/cohort.bcf, cohort.h5, stats.tsv, summary.json; peak memory %.0f MiB per rank\n",
                   sum.sched.n_tasks, sum.sched.n_skipped, sum.sched.n_executed, sum.sched.n_retried, rt->size,
                   rt->size == 1 ? "" : "s", sum.seconds, (long long)sum.n_sites, o.outdir,
                   (double)sum.peak_rss / (1 << 20));
            code = TSR_EXIT_OK;
        } else if (s == TSR_ERR_INTERRUPTED) {
            fprintf(stderr, "tessera run: interrupted after %d of %d tasks; journal flushed: rerun the same command to resume\n",
                    sum.sched.n_skipped + sum.sched.n_executed, sum.sched.n_tasks);
            code = TSR_EXIT_INTERRUPTED;
        } else {
            code = tsr_cli_fail("run", s);
        }
    } else {
        code = tsr_status_exit_code(s);
    }
    fflush(stdout);
    tsr_rt_destroy(&rt);
    return code;
}
