/*
 * cmd_align.c - `tessera align`: the align stage alone (FASTQ -> per-sample
 * sorted BAM/CRAM + index + QC) under mpirun/srun. It runs the align tasks of
 * the same plan `tessera run` builds, through the same journal: the tasks keep
 * their keys and outputs, so `tessera run` on the same --out afterwards skips
 * them and goes on with calling.
 */
#include "kernels/kernels.h"
#include "runtime/cli/cli.h"

#include <htslib/hts.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void tsr_align_usage(FILE *fp)
{
    fprintf(fp,
            "Usage: mpirun -n N tessera align --ref REF.fa --samples SHEET.tsv --out DIR [options]\n\n"
            "Runs the align stage alone: each FASTQ sample is mapped with libminimap2 (sr) in fixed\n"
            "read-pair chunks, duplicates are marked, and DIR/aln/S.bam + .bai (or S.cram + .crai) and\n"
            "DIR/aln/S.qc.json are written; summary.json lists every sample's alignment QC. Samples given\n"
            "as BAM/CRAM are already aligned and are skipped. Running the same command again resumes\n"
            "from DIR/journal.tsv; a later 'tessera run' with the same --ref, --samples, --out,\n"
            "--align-chunk and --aln-format reuses the alignments and goes on with calling.\n\n"
            "Required:\n"
            "  --ref FASTA            reference (indexed with samtools faidx, or indexable)\n"
            "  --samples SHEET.tsv    sample sheet: sample, population, fastq1 [fastq2] | bam\n"
            "  --out DIR              output directory (new, empty, or an earlier run of tessera)\n"
            "Options:\n"
            "  --threads N            worker threads per rank [0 = one per core of the rank's domain]\n"
            "  --align-chunk N        read pairs per align work unit [1000000]\n"
            "  --aln-format F         bam|cram: per-sample output format [%s]; CRAM 3.0 is encoded\n"
            "                         against --ref and needs that FASTA to decode\n"
            "  --grace SECONDS        on SIGTERM/SIGUSR1, wait this long for running tasks [60]\n"
            "  --log-level L          off|error|warn|info|debug|trace [info]\n"
            "  -h, --help             this help\n\n"
            "Exit codes: 0 done; 1 failed (one error line says why); 2 usage;\n"
            "75 interrupted by a signal, journal flushed: rerun the same command to resume.\n",
            TSR_ALN_FORMAT_DEFAULT);
}

int tsr_cmd_align(int argc, char **argv)
{
    enum { O_REF = 256, O_SAMPLES, O_OUT, O_THREADS, O_CHUNK, O_FORMAT, O_GRACE, O_LOG };
    static const struct option lopts[] = {
        {"ref", required_argument, 0, O_REF},           {"samples", required_argument, 0, O_SAMPLES},
        {"out", required_argument, 0, O_OUT},           {"threads", required_argument, 0, O_THREADS},
        {"align-chunk", required_argument, 0, O_CHUNK}, {"aln-format", required_argument, 0, O_FORMAT},
        {"grace", required_argument, 0, O_GRACE},       {"log-level", required_argument, 0, O_LOG},
        {"help", no_argument, 0, 'h'},                  {0, 0, 0, 0}};
    tsr_run_opts_t o;
    tsr_run_opts_init(&o);
    o.align_only = 1;
    int log_level = TSR_LOG_INFO;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) >= 0) {
        char *end = NULL;
        switch (c) {
        case O_REF: o.ref = optarg; break;
        case O_SAMPLES: o.samples = optarg; break;
        case O_OUT: o.outdir = optarg; break;
        case O_THREADS:
            o.threads = (int)strtol(optarg, &end, 10);
            if (*end || o.threads < 0)
                return tsr_cli_usage_error("align", "--threads takes a number >= 0, not '%s'", optarg);
            break;
        case O_CHUNK:
            o.align_chunk_pairs = strtoll(optarg, &end, 10);
            if (*end || o.align_chunk_pairs < 1)
                return tsr_cli_usage_error("align", "--align-chunk takes a number of read pairs >= 1, not '%s'",
                                           optarg);
            break;
        case O_FORMAT:
            if (strcmp(optarg, "bam") && strcmp(optarg, "cram"))
                return tsr_cli_usage_error("align", "--aln-format takes bam or cram, not '%s'", optarg);
            o.aln_format = optarg;
            break;
        case O_GRACE:
            o.grace_seconds = strtod(optarg, &end);
            if (*end || o.grace_seconds < 0)
                return tsr_cli_usage_error("align", "--grace takes a number of seconds >= 0, not '%s'", optarg);
            break;
        case O_LOG:
            log_level = tsr_log_level_parse(optarg);
            if (log_level < 0)
                return tsr_cli_usage_error("align", "--log-level takes off|error|warn|info|debug|trace");
            break;
        case 'h': tsr_align_usage(stdout); return TSR_EXIT_OK;
        default: return tsr_cli_usage_error("align", "unknown option");
        }
    }
    if (optind < argc)
        return tsr_cli_usage_error("align", "unexpected argument '%s'", argv[optind]);
    tsr_status_t s = tsr_run_opts_check(&o);
    if (s != TSR_OK)
        return tsr_cli_usage_error("align", "%s", tsr_error_msg());

    /* Genomic data stays private: outputs readable by owner and group at most; a stricter umask is kept. */
    mode_t mask = umask(0);
    umask(mask | 027);
    hts_set_log_level(log_level >= TSR_LOG_DEBUG ? HTS_LOG_WARNING : HTS_LOG_OFF);
    tsr_signals_install();
    tsr_rt_t *rt = NULL;
    s = tsr_rt_create(&argc, &argv, &rt);
    if (s != TSR_OK)
        return tsr_cli_fail("align", s);
    tsr_log_configure((tsr_log_level_t)log_level, rt->size > 1 ? rt->rank : -1);
    tsr_run_summary_t sum;
    s = tsr_pipeline_run(rt, &o, &sum);
    int code;
    if (rt->role == TSR_ROLE_MASTER) {
        if (s == TSR_OK) {
            printf("tessera align: %d tasks (%d from the journal, %d executed, %d retried) on %d rank%s in %.1f s\n"
                   "tessera align: %s/aln/S.%s per sample, QC in summary.json; peak memory %.0f MiB per rank\n",
                   sum.sched.n_tasks, sum.sched.n_skipped, sum.sched.n_executed, sum.sched.n_retried, rt->size,
                   rt->size == 1 ? "" : "s", sum.seconds, o.outdir, o.aln_format ? o.aln_format : TSR_ALN_FORMAT_DEFAULT,
                   (double)sum.peak_rss / (1 << 20));
            code = TSR_EXIT_OK;
        } else if (s == TSR_ERR_INTERRUPTED) {
            fprintf(stderr,
                    "tessera align: interrupted after %d of %d tasks; journal flushed: rerun the same command to "
                    "resume\n",
                    sum.sched.n_skipped + sum.sched.n_executed, sum.sched.n_tasks);
            code = TSR_EXIT_INTERRUPTED;
        } else {
            code = tsr_cli_fail("align", s);
        }
    } else {
        code = tsr_status_exit_code(s);
    }
    fflush(stdout);
    tsr_rt_destroy(&rt);
    return code;
}
