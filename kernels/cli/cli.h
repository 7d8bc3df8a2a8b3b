/*
 * cli.h - the command layer: the subcommand table and each command's entry
 * point. The only code that includes every module and the only code (with
 * main) that decides exit codes. Nothing includes this header outside kernels/cli/.
 */
#ifndef TSR_CLI_H
#define TSR_CLI_H

#include "kernels/pipeline/pipeline.h"
#include "runtime/runtime.h"

#include <stdio.h>

/*
 * Each command: parse its own options (getopt_long, argv[0] is the command
 * name), print its --help to stdout and return 0 on --help, and return a
 * process exit code (TSR_EXIT_*). Errors: one line on stderr via
 * tsr_cli_fail() naming what failed and what to do.
 */
int tsr_cmd_run(int argc, char **argv);
int tsr_cmd_align(int argc, char **argv);
int tsr_cmd_add(int argc, char **argv);
int tsr_cmd_simulate(int argc, char **argv);
int tsr_cmd_info(int argc, char **argv);
int tsr_cmd_inspect(int argc, char **argv);
int tsr_cmd_stats(int argc, char **argv);
int tsr_cmd_verify(int argc, char **argv);
int tsr_cmd_keygen(int argc, char **argv);
int tsr_cmd_export(int argc, char **argv);
int tsr_cmd_merge(int argc, char **argv);

/*
 * Print the versions of tessera and the libraries it runs with (MPI, HDF5,
 * htslib, hwloc, minimap2), one per line. Safe before MPI_Init.
 */
void tsr_cli_print_versions(FILE *fp);

/*
 * The body of `tessera run` and `tessera align` (align_only = 1): parse the
 * run options (every one, so both commands take the same plan options and
 * align's journal is reused by run), run the pipeline, print the summary
 * lines, return the exit code. `usage` prints the command's --help.
 */
int tsr_cli_pipeline(int argc, char **argv, const char *name, int align_only, void (*usage)(FILE *fp));

#define TSR_CLI_MAX_VERSIONS 16
/* What summary.json records about how a command was run (tsr_run_provenance_t); strings owned here. */
typedef struct tsr_cli_provenance {
    tsr_run_provenance_t pv;
    char *command_line;
    char *versions_text;
    const char *name[TSR_CLI_MAX_VERSIONS], *value[TSR_CLI_MAX_VERSIONS];
} tsr_cli_provenance_t;
/*
 * Fill b: the command line as run (the program as invoked, then argv,
 * shell-quoted where needed) and the versions tsr_cli_print_versions()
 * prints, split into name/value. Returns 0, or -1 out of memory (b must still
 * be freed with tsr_cli_provenance_free()).
 */
int tsr_cli_provenance_fill(tsr_cli_provenance_t *b, int argc, char **argv);
void tsr_cli_provenance_free(tsr_cli_provenance_t *b);

/* Print "tessera CMD: <message>" for status s (using tsr_error_msg()) and return its exit code. */
int tsr_cli_fail(const char *cmd, tsr_status_t s);
/* Print "tessera CMD: <formatted>" and return TSR_EXIT_USAGE. */
int tsr_cli_usage_error(const char *cmd, const char *fmt, ...) TSR_PRINTF(2, 3);

#endif
