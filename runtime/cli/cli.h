/*
 * cli.h - the command layer: the subcommand table and each command's entry
 * point. The only code that includes every module and the only code (with
 * main) that decides exit codes. Nothing includes this header outside runtime/cli/.
 */
#ifndef TSR_CLI_H
#define TSR_CLI_H

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
int tsr_cmd_export(int argc, char **argv);

/*
 * Print the versions of tessera and the libraries it runs with (MPI, HDF5,
 * htslib, hwloc, minimap2), one per line. Safe before MPI_Init.
 */
void tsr_cli_print_versions(FILE *fp);

/* Print "tessera CMD: <message>" for status s (using tsr_error_msg()) and return its exit code. */
int tsr_cli_fail(const char *cmd, tsr_status_t s);
/* Print "tessera CMD: <formatted>" and return TSR_EXIT_USAGE. */
int tsr_cli_usage_error(const char *cmd, const char *fmt, ...) TSR_PRINTF(2, 3);

#endif
