/*
 * bench_dispatch.c - how many tasks per second the dispatcher moves.
 *
 *   mpirun -n K bench_dispatch [--tasks N] [--batch B] [--journal on|off] [--out DIR]
 *
 * Runs N independent zero-work tasks (no outputs, the executor returns at
 * once) through tsr_sched_run on K ranks. Every rank is a worker, rank 0
 * included (its worker runs beside the dispatcher thread), so K ranks = K
 * workers + 1 dispatcher thread. Rank 0 prints one line:
 *   ranks K journal on|off batch B tasks N seconds S tasks_per_s R us_per_task U
 * where us_per_task = seconds / tasks * 1e6 is the dispatcher's cost per
 * task (wall time, all workers together). With the journal on, every
 * completion is written and fsync'ed (several per write when they arrive
 * together). Without --out a temporary directory is used and removed.
 */
#include "scheduler/scheduler_internal.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tsr_status_t zero_work(void *ctx, const tsr_task_t *t)
{
    (void)ctx;
    (void)t;
    return TSR_OK;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int main(int argc, char **argv)
{
    tsr_rt_t *rt = NULL;
    if (tsr_rt_create(&argc, &argv, &rt) != TSR_OK) {
        fprintf(stderr, "bench_dispatch: %s\n", tsr_error_msg());
        return 1;
    }
    tsr_log_configure(TSR_LOG_WARN, rt->rank);
    int n = 200000, batch = 4, journal = 1;
    const char *out = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--tasks") == 0)
            n = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--batch") == 0)
            batch = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--journal") == 0)
            journal = strcmp(argv[i + 1], "off") != 0;
        else if (strcmp(argv[i], "--out") == 0)
            out = argv[i + 1];
    }
    char tmpdir[64] = "";
    if (!out) {
        if (rt->rank == 0) {
            snprintf(tmpdir, sizeof tmpdir, "/tmp/tsr_bench_XXXXXX");
            if (!mkdtemp(tmpdir))
                tmpdir[0] = '\0';
        }
        MPI_Bcast(tmpdir, sizeof tmpdir, MPI_CHAR, 0, rt->comm);
        if (!tmpdir[0]) {
            fprintf(stderr, "bench_dispatch: cannot create a temporary directory\n");
            tsr_rt_destroy(&rt);
            return 1;
        }
        out = tmpdir;
    }
    tsr_graph_t *g = NULL; /* rank 0's alone: workers get each task in the dispatcher's message */
    tsr_status_t s = rt->rank == 0 ? tsr_graph_create(&g) : TSR_OK;
    for (int i = 0; s == TSR_OK && g && i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "z%d", i);
        s = tsr_graph_add(g, 0, key, 1.0, i, NULL, 0, NULL);
    }
    tsr_sched_opts_t o;
    tsr_sched_opts_init(&o);
    o.outdir = out;
    o.fingerprint = "bench-dispatch";
    o.batch = batch;
    o.progress = 0;
    tsr_sched_result_t res = {0};
    if (s == TSR_OK)
        s = tsr_sched_run_journal(rt->comm, g, &o, journal, zero_work, NULL, &res);
    if (rt->rank == 0) {
        if (s != TSR_OK)
            fprintf(stderr, "bench_dispatch: %s\n", tsr_error_msg());
        else
            printf("ranks %d journal %s batch %d tasks %d seconds %.3f tasks_per_s %.0f us_per_task %.2f\n", rt->size,
                   journal ? "on" : "off", batch, res.n_executed, res.seconds, res.n_executed / res.seconds,
                   res.seconds / res.n_executed * 1e6);
        if (tmpdir[0])
            nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    tsr_graph_destroy(&g);
    tsr_rt_destroy(&rt);
    return s == TSR_OK ? 0 : 1;
}
