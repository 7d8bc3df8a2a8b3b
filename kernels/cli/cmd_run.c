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
            "Running the same command again resumes from DIR/journal.tsv.\n\n");
    tsr_run_opts_help(fp, 0);
    fprintf(fp, "  --log-level L         off|error|warn|info|debug|trace [info]\n"
                "  -h, --help            this help\n\n"
                "Exit codes: 0 done; 1 failed (one error line says why); 2 usage;\n"
                "75 interrupted by a signal, journal flushed: rerun the same command to resume.\n\n"
                "A finished run prints 'tessera run: audit sha256:<hex>', the head of its hash\n"
                "chain (also audit_head in summary.json): publish it, and check the directory\n"
                "later with `tessera verify DIR --expect sha256:<hex>`.\n");
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
    /* every option of the table (kernels/pipeline/run_options.c), then --log-level and --help */
    enum { O_TABLE = 256, O_LOG = 1024 };
    struct option lopts[64];
    int n = 0;
    for (int i = 0; i < tsr_run_opt_count() && n < 60; i++)
        lopts[n++] = (struct option){tsr_run_opt_at(i)->name,
                                     tsr_run_opt_at(i)->kind == TSR_RUN_OPT_FLAG ? no_argument : required_argument, 0,
                                     O_TABLE + i};
    lopts[n++] = (struct option){"log-level", required_argument, 0, O_LOG};
    lopts[n++] = (struct option){"help", no_argument, 0, 'h'};
    lopts[n] = (struct option){0, 0, 0, 0};
    tsr_run_opts_t o;
    tsr_run_opts_init(&o);
    o.align_only = align_only;
    int log_level = TSR_LOG_INFO;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) >= 0) {
        if (c >= O_TABLE && c < O_TABLE + tsr_run_opt_count()) {
            if (tsr_run_opt_set(&o, tsr_run_opt_at(c - O_TABLE), optarg ? optarg : "1") != TSR_OK)
                return tsr_cli_usage_error(name, "%s", tsr_error_msg());
            continue;
        }
        switch (c) {
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
        if (s == TSR_OK && o.plan_only) { /* the driver printed the plan */
            code = TSR_EXIT_OK;
        } else if (s == TSR_OK) {
            printf("tessera %s: %d tasks (%d from the journal, %d executed, %d retried) on %d rank%s in %.1f s\n",
                   name, sum.sched.n_tasks, sum.sched.n_skipped, sum.sched.n_executed, sum.sched.n_retried, rt->size,
                   rt->size == 1 ? "" : "s", sum.seconds);
            if (align_only)
                printf("tessera %s: %s/aln/G/S.%s per sample (G = gGGGGG, the sample's place in the sheet / 500), "
                       "QC in summary.json; peak memory %.0f MiB per rank\n", name, o.outdir, o.aln_format ? o.aln_format : TSR_ALN_FORMAT_DEFAULT, (double)sum.peak_rss / (1 << 20));
            else
                printf("tessera %s: %lld sites -> %s/cohort.bcf, cohort.h5, stats.tsv, summary.json; peak memory %.0f "
                       "MiB per rank\n",
                       name, (long long)sum.n_sites, o.outdir, (double)sum.peak_rss / (1 << 20));
            printf("tessera %s: audit %s\n", name, sum.audit_head);
            if (o.mem_per_rank > 0 && sum.peak_rss > o.mem_per_rank) { /* say so: the budget is a promise */
                fflush(stdout); /* after the lines above */
                fprintf(stderr, "tessera %s: warning: peak memory %.0f MiB per rank is over --mem-per-rank %.0f MiB; %s\n",
                        name, (double)sum.peak_rss / (1 << 20), (double)o.mem_per_rank / (1 << 20),
                        sum.lowpass ? "in low-pass mode a discovery task holds every sample's evidence over one shard "
                                      "(about the cohort's total depth over --shard-size): lower --shard-size"
                                    : "the budget model (kernels/pipeline/plan_budget.c) did not hold: lower "
                                      "--batch-size or --shard-size, and please report it");
            }
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
