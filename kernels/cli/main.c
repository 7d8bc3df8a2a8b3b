/*
 * main.c - the `tessera` entry point and subcommand table. Commands parse
 * their own options and return an exit code; only this layer exits.
 */
#include "kernels/cli/cli.h"
#include "tsr_version.h"

#include <stdio.h>
#include <string.h>

typedef struct tsr_cmd {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
} tsr_cmd_t;

static const tsr_cmd_t tsr_cmds[] = {
    {"run", tsr_cmd_run, "the whole pipeline: reads -> cohort.bcf, cohort.h5, stats (resumable)"},
    {"add", tsr_cmd_add, "new samples into an existing low-pass run (N+1): only their BAMs are read"},
    {"align", tsr_cmd_align, "the align stage alone: FASTQ -> per-sample sorted BAM/CRAM + QC (resumable)"},
    {"simulate", tsr_cmd_simulate, "write a synthetic cohort with its truth set (demo, tests, acceptance)"},
    {"stats", tsr_cmd_stats, "per-site statistics (AC/AN/AF, HWE, ExcHet, F per population) of a VCF/BCF"},
    {"inspect", tsr_cmd_inspect, "what is done and what is left in an output directory, and the last error"},
    {"verify", tsr_cmd_verify, "audit DIR: the journal's hash chain, every output's and input's SHA-256, the head (--expect)"},
    {"keygen", tsr_cmd_keygen, "make an Ed25519 key pair to sign audit heads (tessera run --sign-key)"},
    {"export", tsr_cmd_export, "the shareable aggregate-only summary: sites and INFO statistics, no per-sample data"},
    {"merge", tsr_cmd_merge, "exact cohort-wide statistics from institutions' federated exports (no per-sample data)"},
    {"info", tsr_cmd_info, "versions, topology and each rank's and thread's binding"},
};
#define TSR_N_CMDS (sizeof tsr_cmds / sizeof tsr_cmds[0])

static void tsr_usage(FILE *fp)
{
    fprintf(fp,
            "tessera %s - population sequencing data to cohort allele statistics, under MPI\n\n"
            "Usage: tessera <command> [options]      (under mpirun/srun for run and info)\n\n"
            "Commands:\n",
            TSR_VERSION);
    for (size_t i = 0; i < TSR_N_CMDS; i++)
        fprintf(fp, "  %-10s %s\n", tsr_cmds[i].name, tsr_cmds[i].summary);
    fprintf(fp, "\n'tessera <command> --help' describes a command's options.\n"
                "Exit codes: 0 success, 1 failure (see the error line), 2 usage error,\n"
                "75 interrupted by SIGTERM/SIGUSR1/SIGINT: rerun the same command to resume.\n");
}

int tsr_cli_fail(const char *cmd, tsr_status_t s)
{
    const char *msg = tsr_error_msg();
    if (msg[0])
        fprintf(stderr, "tessera %s: %s\n", cmd, msg);
    else
        fprintf(stderr, "tessera %s: %s\n", cmd, tsr_status_str(s));
    return tsr_status_exit_code(s);
}

int tsr_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "tessera %s: %s (see 'tessera %s --help')\n", cmd, buf, cmd);
    return TSR_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        tsr_usage(stderr);
        return TSR_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        tsr_usage(stdout);
        return TSR_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        tsr_cli_print_versions(stdout);
        return TSR_EXIT_OK;
    }
    for (size_t i = 0; i < TSR_N_CMDS; i++)
        if (!strcmp(argv[1], tsr_cmds[i].name))
            return tsr_cmds[i].main(argc - 1, argv + 1);
    fprintf(stderr, "tessera: unknown command '%s' (see 'tessera --help')\n", argv[1]);
    return TSR_EXIT_USAGE;
}
