/*
 * cmd_inspect.c - `tessera inspect DIR`: the per-stage figures of the last
 * completed run (summary.json's "stages"), then what is done, what is left,
 * the last error.
 */
#include "kernels/cli/cli.h"
#include "scheduler/scheduler.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The "stages" of DIR/summary.json as a table (one object per line there, as
 * driver.c writes them); nothing when the run has not completed yet.
 */
static void print_stage_figures(const char *dir, FILE *out)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return;
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, fp) >= 0) {
        char name[64];
        long long tasks, rss;
        double cpu, wall;
        const char *p = strstr(line, "{\"stage\": \"");
        if (!p || sscanf(p, "{\"stage\": \"%63[^\"]\", \"tasks\": %lld, \"cpu_seconds\": %lf, \"wall_seconds\": %lf, "
                            "\"peak_rss_bytes_max_rank\": %lld", name, &tasks, &cpu, &wall, &rss) != 5)
            continue;
        if (n++ == 0)
            fprintf(out, "figures of the last completed run (summary.json; CPU and wall summed over ranks):\n"
                         "  %-18s %7s %10s %10s %14s\n", "stage", "tasks", "CPU s", "wall s", "peak RSS MiB");
        fprintf(out, "  %-18s %7lld %10.2f %10.2f %14.1f\n", name, tasks, cpu, wall, (double)rss / (1 << 20));
    }
    free(line);
    fclose(fp);
}

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
                   "DIR/journal.tsv, then a line 'done N left M' for scripts. Before them, when the\n"
                   "run has completed: CPU seconds, wall seconds and peak memory per stage (setup,\n"
                   "align, call, joint, cohort, cohort_h5, low-pass stages) from DIR/summary.json.\n"
                   "Reads only; safe while a run is going.\n");
            return TSR_EXIT_OK;
        }
        return tsr_cli_usage_error("inspect", "unknown option");
    }
    if (optind + 1 != argc)
        return tsr_cli_usage_error("inspect", "expected exactly one output directory");
    print_stage_figures(argv[optind], stdout);
    tsr_status_t s = tsr_inspect_print(argv[optind], stdout);
    return s == TSR_OK ? TSR_EXIT_OK : tsr_cli_fail("inspect", s);
}
