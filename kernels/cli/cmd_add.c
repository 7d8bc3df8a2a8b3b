/* cmd_add.c - `tessera add`: new samples into an existing low-pass run (the N+1 problem). */
#include "kernels/pipeline/pipeline.h"
#include "kernels/cli/cli.h"

#include <htslib/hts.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void tsr_add_usage(FILE *fp)
{
    fprintf(fp,
            "Usage: mpirun -n N tessera add --out DIR --samples NEW.tsv [options]\n\n"
            "Adds the samples of NEW.tsv to the low-pass run in DIR (made by `tessera run`) without reading\n"
            "the earlier samples' BAM/CRAM files again: evidence is written for the new samples only, then\n"
            "discovery, allele frequencies, genotype posteriors and the cohort outputs (cohort.bcf, cohort.h5,\n"
            "stats.tsv) are recomputed over everyone. The result equals a `tessera run` from scratch on the\n"
            "union of the sheets, in order.\n\n"
            "How: DIR/run.tsv records the run's options and fingerprint; DIR/samples.d/0000.tsv is the run's\n"
            "sheet and each add becomes the next part (0001.tsv, 0002.tsv, ...; absolute paths). The cohort's\n"
            "samples are the parts in order. Sample batches are cut within each part, so earlier evidence\n"
            "partitions (and their journal records) never move; the new part's evidence tasks are named\n"
            "call/REGION/pPPPP_bBBBBB. The add continues the same DIR/journal.tsv: running the same add again\n"
            "resumes it, and a later `tessera run` with the original command sees the whole cohort.\n\n"
            "Required:\n"
            "  --out DIR              a low-pass run directory (deep-mode runs are refused)\n"
            "  --samples NEW.tsv      the new samples: sample, population, bam (ids new to the cohort)\n"
            "Options:\n"
            "  --threads N            worker threads per rank [0 = one per core of the rank's domain]\n"
            "  --mem-per-rank SIZE    memory budget per rank, e.g. 4G; sizes the new part's batches [unlimited]\n"
            "  --log-level L          off|error|warn|info|debug|trace [info]\n"
            "  -h, --help             this help\n\n"
            "The reference, regions, shard and batch size, qualities and mode are the run's own (DIR/run.tsv).\n"
            "Exit codes: 0 done; 1 failed (one error line says why); 2 usage;\n"
            "75 interrupted by a signal, journal flushed: rerun the same command to resume.\n");
}

int tsr_cmd_add(int argc, char **argv)
{
    enum { O_SAMPLES = 256, O_OUT, O_THREADS, O_MEM, O_LOG };
    static const struct option lopts[] = {
        {"samples", required_argument, 0, O_SAMPLES}, {"out", required_argument, 0, O_OUT},
        {"threads", required_argument, 0, O_THREADS}, {"mem-per-rank", required_argument, 0, O_MEM},
        {"log-level", required_argument, 0, O_LOG},   {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *outdir = NULL, *samples = NULL;
    int log_level = TSR_LOG_INFO, c;
    tsr_run_opts_t ro; /* --threads and --mem-per-rank parse as `tessera run` declares them */
    tsr_run_opts_init(&ro);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) >= 0) {
        switch (c) {
        case O_SAMPLES: samples = optarg; break;
        case O_OUT: outdir = optarg; break;
        case O_THREADS:
        case O_MEM:
            if (tsr_run_opt_set(&ro, tsr_run_opt_find(c == O_THREADS ? "threads" : "mem-per-rank"), optarg) != TSR_OK)
                return tsr_cli_usage_error("add", "%s", tsr_error_msg());
            break;
        case O_LOG:
            log_level = tsr_log_level_parse(optarg);
            if (log_level < 0)
                return tsr_cli_usage_error("add", "--log-level takes off|error|warn|info|debug|trace");
            break;
        case 'h': tsr_add_usage(stdout); return TSR_EXIT_OK;
        default: return tsr_cli_usage_error("add", "unknown option");
        }
    }
    if (optind < argc)
        return tsr_cli_usage_error("add", "unexpected argument '%s'", argv[optind]);
    if (!outdir)
        return tsr_cli_usage_error("add", "--out DIR is required (the run to add samples to)");
    if (!samples)
        return tsr_cli_usage_error("add", "--samples NEW.tsv is required");
    tsr_cli_provenance_t prov;
    if (tsr_cli_provenance_fill(&prov, argc, argv) != 0) {
        tsr_cli_provenance_free(&prov);
        return tsr_cli_fail("add", tsr_error_set(TSR_ERR_NOMEM, "out of memory recording the command line"));
    }

    mode_t mask = umask(0);
    umask(mask | 027);
    hts_set_log_level(log_level >= TSR_LOG_DEBUG ? HTS_LOG_WARNING : HTS_LOG_OFF);
    tsr_signals_install();
    tsr_rt_t *rt = NULL;
    tsr_status_t s = tsr_rt_create(&argc, &argv, &rt);
    if (s != TSR_OK) {
        tsr_cli_provenance_free(&prov);
        return tsr_cli_fail("add", s);
    }
    tsr_log_configure((tsr_log_level_t)log_level, rt->size > 1 ? rt->rank : -1);
    tsr_run_summary_t sum;
    s = tsr_pipeline_add(rt, outdir, samples, ro.threads, ro.mem_per_rank, &prov.pv, &sum);
    int code;
    if (rt->role == TSR_ROLE_MASTER) {
        if (s == TSR_OK) {
            printf("tessera add: %d tasks (%d from the journal, %d executed) on %d rank%s in %.1f s\n"
                   "tessera add: %lld sites -> %s/cohort.bcf, cohort.h5, stats.tsv, summary.json\n",
                   sum.sched.n_tasks, sum.sched.n_skipped, sum.sched.n_executed, rt->size, rt->size == 1 ? "" : "s",
                   sum.seconds, (long long)sum.n_sites, outdir);
            printf("tessera add: audit %s\n", sum.audit_head);
            code = TSR_EXIT_OK;
        } else if (s == TSR_ERR_INTERRUPTED) {
            fprintf(stderr, "tessera add: interrupted; journal flushed: rerun the same command to resume\n");
            code = TSR_EXIT_INTERRUPTED;
        } else {
            code = tsr_cli_fail("add", s);
        }
    } else {
        code = tsr_status_exit_code(s);
    }
    fflush(stdout);
    tsr_rt_destroy(&rt);
    tsr_cli_provenance_free(&prov);
    return code;
}
