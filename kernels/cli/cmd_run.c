/* cmd_run.c - `tessera run`: the whole pipeline under mpirun/srun. */
#include "kernels/pipeline/pipeline.h"
#include "kernels/cli/cli.h"

#include <htslib/hts.h>

#include <errno.h>
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
            "  --samples SHEET.tsv    sample sheet: sample, population, fastq1 [fastq2] (FASTQ or unaligned BAM/CRAM; one\n"
            "                         line per lane) | bam, optional read_group, library\n"
            "  --out DIR              output directory (new, empty, or an earlier run of this command)\n"
            "Options:\n"
            "  --regions R            contig, contig:beg-end (1-based), space-separated list, or BED file\n"
            "  --mode M               auto|deep|lowpass [auto: lowpass when the median depth < 2x]\n"
            "  --threads N            worker threads per rank [0 = one per core of the rank's domain]\n"
            "  --mem-per-rank SIZE    memory budget per rank, e.g. 4G; lowpass sizes batches by it [unlimited]\n"
            "  --shard-size BP        region length of a work unit [1000000]\n"
            "  --batch-size N         samples per evidence partition [64]\n"
            "  --align-chunk N        read pairs per align work unit [1000000]\n"
            "  --aln-format F         bam|cram: per-sample alignments DIR/aln/S.bam|.cram [" TSR_ALN_FORMAT_DEFAULT "]\n"
            "  --min-mapq Q           ignore reads below this mapping quality [20]\n"
            "  --min-baseq Q          ignore bases below this base quality [13]\n"
            "  --min-qual Q           sites below this QUAL are filtered LowQual [30]\n"
            "  --grace SECONDS        on SIGTERM/SIGUSR1, wait this long for running tasks [60]\n"
            "  --log-level L          off|error|warn|info|debug|trace [info]\n"
            "  -h, --help             this help\n\n"
            "Exit codes: 0 done; 1 failed (one error line says why); 2 usage;\n"
            "75 interrupted by a signal, journal flushed: rerun the same command to resume.\n");
}

/* Append `arg` to `out` quoted for a POSIX shell when it holds anything but safe characters. */
static void tsr_run_quote(FILE *out, const char *arg)
{
    int plain = arg[0] != '\0';
    for (const char *p = arg; *p && plain; p++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=@%+,-", *p) != NULL;
    if (plain) {
        fputs(arg, out);
        return;
    }
    putc('\'', out);
    for (const char *p = arg; *p; p++)
        if (*p == '\'')
            fputs("'\\''", out);
        else
            putc(*p, out);
    putc('\'', out);
}

int tsr_cli_provenance_fill(tsr_cli_provenance_t *b, int argc, char **argv)
{
    memset(b, 0, sizeof *b);
    size_t len = 0;
    FILE *fp = open_memstream(&b->command_line, &len);
    if (!fp)
        return -1;
    tsr_run_quote(fp, program_invocation_name);
    for (int i = 0; i < argc; i++) {
        putc(' ', fp);
        tsr_run_quote(fp, argv[i]);
    }
    if (fclose(fp) != 0)
        return -1;
    fp = open_memstream(&b->versions_text, &len);
    if (!fp)
        return -1;
    tsr_cli_print_versions(fp);
    if (fclose(fp) != 0)
        return -1;
    char *save = NULL;
    for (char *line = strtok_r(b->versions_text, "\n", &save); line && b->pv.n_versions < TSR_CLI_MAX_VERSIONS;
         line = strtok_r(NULL, "\n", &save)) {
        size_t n = strcspn(line, " ");
        if (!line[n])
            continue;
        line[n] = '\0';
        char *value = line + n + 1;
        value += strspn(value, " ");
        b->name[b->pv.n_versions] = line;
        b->value[b->pv.n_versions++] = value;
    }
    b->pv.command_line = b->command_line;
    b->pv.version_name = b->name;
    b->pv.version_value = b->value;
    return 0;
}

void tsr_cli_provenance_free(tsr_cli_provenance_t *b)
{
    free(b->command_line);
    free(b->versions_text);
    memset(b, 0, sizeof *b);
}

int tsr_cli_pipeline(int argc, char **argv, const char *name, int align_only, void (*usage)(FILE *fp))
{
    enum { O_REF = 256, O_SAMPLES, O_OUT, O_REGIONS, O_MODE, O_THREADS, O_MEM, O_SHARD, O_BATCH,
           O_MAPQ, O_BASEQ, O_QUAL, O_GRACE, O_LOG, O_CHUNK, O_ALN_FORMAT };
    static const struct option lopts[] = {
        {"ref", required_argument, 0, O_REF},         {"samples", required_argument, 0, O_SAMPLES},
        {"out", required_argument, 0, O_OUT},         {"regions", required_argument, 0, O_REGIONS},
        {"mode", required_argument, 0, O_MODE},       {"threads", required_argument, 0, O_THREADS},
        {"mem-per-rank", required_argument, 0, O_MEM}, {"shard-size", required_argument, 0, O_SHARD},
        {"batch-size", required_argument, 0, O_BATCH}, {"min-mapq", required_argument, 0, O_MAPQ},
        {"min-baseq", required_argument, 0, O_BASEQ}, {"min-qual", required_argument, 0, O_QUAL},
        {"grace", required_argument, 0, O_GRACE},     {"log-level", required_argument, 0, O_LOG},
        {"align-chunk", required_argument, 0, O_CHUNK}, {"help", no_argument, 0, 'h'},
        {"aln-format", required_argument, 0, O_ALN_FORMAT},
        {0, 0, 0, 0}};
    tsr_run_opts_t o;
    tsr_run_opts_init(&o);
    o.align_only = align_only;
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
                return tsr_cli_usage_error(name, "--threads takes a number >= 0, not '%s'", optarg);
            break;
        case O_MEM:
            o.mem_per_rank = tsr_parse_size(optarg);
            if (o.mem_per_rank < 0)
                return tsr_cli_usage_error(name, "--mem-per-rank takes a size like 4G, not '%s'", optarg);
            break;
        case O_SHARD:
            o.shard_size = tsr_parse_size(optarg);
            if (o.shard_size <= 0)
                return tsr_cli_usage_error(name, "--shard-size takes a length like 1M, not '%s'", optarg);
            break;
        case O_BATCH:
            o.batch_size = (int)strtol(optarg, &end, 10);
            if (*end || o.batch_size < 1)
                return tsr_cli_usage_error(name, "--batch-size takes a number >= 1, not '%s'", optarg);
            break;
        case O_ALN_FORMAT:
            if (strcmp(optarg, "bam") && strcmp(optarg, "cram"))
                return tsr_cli_usage_error(name, "--aln-format takes bam or cram, not '%s'", optarg);
            o.aln_format = optarg;
            break;
        case O_CHUNK:
            o.align_chunk_pairs = strtoll(optarg, &end, 10);
            if (*end || o.align_chunk_pairs < 1)
                return tsr_cli_usage_error(name, "--align-chunk takes a number of read pairs >= 1, not '%s'", optarg);
            break;
        case O_MAPQ: o.min_mapq = atoi(optarg); break;
        case O_BASEQ: o.min_baseq = atoi(optarg); break;
        case O_QUAL: o.min_qual = atof(optarg); break;
        case O_GRACE: o.grace_seconds = atof(optarg); break;
        case O_LOG:
            log_level = tsr_log_level_parse(optarg);
            if (log_level < 0)
                return tsr_cli_usage_error(name, "--log-level takes off|error|warn|info|debug|trace");
            break;
        case 'h': usage(stdout); return TSR_EXIT_OK;
        default: return tsr_cli_usage_error(name, "unknown option");
        }
    }
    if (optind < argc)
        return tsr_cli_usage_error(name, "unexpected argument '%s'", argv[optind]);
    tsr_status_t s = tsr_run_opts_check(&o);
    if (s != TSR_OK)
        return tsr_cli_usage_error(name, "%s", tsr_error_msg());
    tsr_cli_provenance_t prov;
    if (tsr_cli_provenance_fill(&prov, argc, argv) != 0) {
        tsr_cli_provenance_free(&prov);
        return tsr_cli_fail(name, tsr_error_set(TSR_ERR_NOMEM, "out of memory recording the command line"));
    }
    o.provenance = &prov.pv;

    /* Genomic data stays private: outputs readable by owner and group at most; a stricter umask is kept. */
    mode_t mask = umask(0);
    umask(mask | 027);
    /* tessera's own error line names the file and what to do; htslib's [E::...] lines only below debug. */
    hts_set_log_level(log_level >= TSR_LOG_DEBUG ? HTS_LOG_WARNING : HTS_LOG_OFF);
    tsr_signals_install();
    tsr_rt_t *rt = NULL;
    s = tsr_rt_create(&argc, &argv, &rt);
    if (s != TSR_OK) {
        tsr_cli_provenance_free(&prov);
        return tsr_cli_fail(name, s);
    }
    tsr_log_configure((tsr_log_level_t)log_level, rt->size > 1 ? rt->rank : -1);
    tsr_run_summary_t sum;
    s = tsr_pipeline_run(rt, &o, &sum);
    int code;
    if (rt->role == TSR_ROLE_MASTER) {
        if (s == TSR_OK) {
            printf("tessera %s: %d tasks (%d from the journal, %d executed, %d retried) on %d rank%s in %.1f s\n",
                   name, sum.sched.n_tasks, sum.sched.n_skipped, sum.sched.n_executed, sum.sched.n_retried, rt->size,
                   rt->size == 1 ? "" : "s", sum.seconds);
            if (align_only)
                printf("tessera %s: %s/aln/S.%s per sample, QC in summary.json; peak memory %.0f MiB per rank\n", name,
                       o.outdir, o.aln_format ? o.aln_format : TSR_ALN_FORMAT_DEFAULT, (double)sum.peak_rss / (1 << 20));
            else
                printf("tessera %s: %lld sites -> %s/cohort.bcf, cohort.h5, stats.tsv, summary.json; peak memory %.0f "
                       "MiB per rank\n",
                       name, (long long)sum.n_sites, o.outdir, (double)sum.peak_rss / (1 << 20));
            code = TSR_EXIT_OK;
        } else if (s == TSR_ERR_INTERRUPTED) {
            fprintf(stderr, "tessera %s: interrupted after %d of %d tasks; journal flushed: rerun the same command to resume\n",
                    name, sum.sched.n_skipped + sum.sched.n_executed, sum.sched.n_tasks);
            code = TSR_EXIT_INTERRUPTED;
        } else {
            code = tsr_cli_fail(name, s);
        }
    } else {
        code = tsr_status_exit_code(s);
    }
    fflush(stdout);
    tsr_rt_destroy(&rt);
    tsr_cli_provenance_free(&prov);
    return code;
}

int tsr_cmd_run(int argc, char **argv)
{
    return tsr_cli_pipeline(argc, argv, "run", 0, tsr_run_usage);
}
