/* cmd_inspect.c - `tessera inspect DIR`: what is done, what is left, the last error. */
#include "kernels/cli/cli.h"
#include "scheduler/scheduler.h"

#include <getopt.h>
#include <stdio.h>

int tsr_cmd_inspect(int argc, char **argv)
{
    static const struct option lopts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) >= 0) {
        if (c == 'h') {
            printf("Usage: tessera inspect DIR\n\n"
                   "Prints the state of a run's output directory: tasks done and left per stage\n"
                   "(align, call, joint, cohort), the run fingerprint and the last error recorded in\n"
                   "DIR/journal.tsv, then a line 'done N left M' for scripts.\n"
                   "Reads only; safe while a run is going.\n");
            return TSR_EXIT_OK;
        }
        return tsr_cli_usage_error("inspect", "unknown option");
    }
    if (optind + 1 != argc)
        return tsr_cli_usage_error("inspect", "expected exactly one output directory");
    tsr_status_t s = tsr_inspect_print(argv[optind], stdout);
    return s == TSR_OK ? TSR_EXIT_OK : tsr_cli_fail("inspect", s);
}
