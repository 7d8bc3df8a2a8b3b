/*
 * cmd_info.c - `tessera info`: library versions, the node topology, and where
 * every rank's worker threads really run. Each rank computes its placement,
 * starts its pinned pool, and every pool thread reads back its own binding
 * from the OS (the binding obtained, not the one intended); the lines are
 * gathered to the master so the output is ordered by rank and thread.
 */
#include "kernels/cli/cli.h"
#include "tsr_version.h"

#include <getopt.h>
#include <hdf5.h>
#include <htslib/hts.h>
#include <hwloc.h>
#include <minimap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TSR_INFO_LINE 192

/*
 * minimap2's own build defines MM_VERSION in main.c; distribution headers
 * (Debian's libminimap2-dev 2.24) do not export it, and the library holds no
 * version string. The build may pass TSR_MINIMAP2_VERSION instead.
 */
#if defined(MM_VERSION)
#define TSR_INFO_MINIMAP2 MM_VERSION
#elif defined(TSR_MINIMAP2_VERSION)
#define TSR_INFO_MINIMAP2 TSR_MINIMAP2_VERSION
#else
#define TSR_INFO_MINIMAP2 "linked (minimap.h states no version)"
#endif

typedef struct tsr_info_opts {
    int threads;          /* --threads: per rank; <= 0 = one per core of the rank's domain */
    const char *topology; /* --topology: a synthetic hwloc description instead of this machine */
} tsr_info_opts_t;

/* What the pool threads fill in: each thread's binding as read back from the OS. */
typedef struct tsr_info_readback {
    hwloc_topology_t h; /* the real machine, even when placing on a synthetic topology */
    hwloc_bitmap_t *bound;
    pthread_barrier_t all_threads;
} tsr_info_readback_t;

static void tsr_info_usage(FILE *fp)
{
    fprintf(fp,
            "Usage: [mpirun -n N] tessera info [options]\n\n"
            "Print tessera's and its libraries' versions, the node topology, and the CPUs\n"
            "each rank's worker threads are really bound to (read back from the OS).\n\n"
            "Options:\n"
            "  --threads N          worker threads per rank (default: one per core of the rank's domain)\n"
            "  --topology SYNTH     place on a synthetic hwloc topology instead of this machine,\n"
            "                       e.g. \"package:2 numa:2 core:16 pu:1\" (threads are then not bound)\n"
            "  -h, --help           this help\n");
}

/*
 * One item per pool thread; each waits at a barrier of all threads, so no
 * thread takes two items and every thread reports its own binding once.
 */
static tsr_status_t tsr_info_read_binding(void *arg, int64_t i, int thread)
{
    (void)i;
    tsr_info_readback_t *r = arg;
    int rc = hwloc_get_cpubind(r->h, r->bound[thread], HWLOC_CPUBIND_THREAD);
    int b = pthread_barrier_wait(&r->all_threads);
    if (b != 0 && b != PTHREAD_BARRIER_SERIAL_THREAD)
        return tsr_error_set(TSR_ERR_INTERNAL, "pthread_barrier_wait failed in worker %d", thread);
    if (rc != 0)
        return tsr_error_set(TSR_ERR_HWLOC, "cannot read the CPU binding of worker %d", thread);
    return TSR_OK;
}

/* Start the pool from the placement and have every thread report its real binding. */
static tsr_status_t tsr_info_read_pool(const tsr_topo_t *topo, const tsr_placement_t *pl, hwloc_bitmap_t *bound)
{
    tsr_info_readback_t r = {.bound = bound};
    if (hwloc_topology_init(&r.h) != 0)
        return tsr_error_set(TSR_ERR_HWLOC, "hwloc_topology_init failed");
    tsr_status_t s = TSR_OK;
    if (hwloc_topology_load(r.h) != 0) {
        s = tsr_error_set(TSR_ERR_HWLOC, "hwloc could not load this machine's topology");
        goto out_topo;
    }
    int rc = pthread_barrier_init(&r.all_threads, NULL, (unsigned)pl->n_threads);
    if (rc != 0) {
        s = tsr_error_set(TSR_ERR_INTERNAL, "pthread_barrier_init failed: %s", strerror(rc));
        goto out_topo;
    }
    tsr_pool_t *pool = NULL;
    s = tsr_pool_create(topo, pl, 0, &pool);
    if (s == TSR_OK)
        s = tsr_pool_for(pool, pl->n_threads, tsr_info_read_binding, &r);
    tsr_pool_destroy(&pool);
    pthread_barrier_destroy(&r.all_threads);
out_topo:
    hwloc_topology_destroy(r.h);
    return s;
}

/* This rank's lines of the thread table, in *text (malloc'ed, NUL-terminated). */
static tsr_status_t tsr_info_rank_lines(const tsr_rt_t *rt, const tsr_info_opts_t *o, char *topo_desc,
                                        size_t desc_len, char **text)
{
    *text = NULL;
    tsr_topo_t *topo = NULL;
    TSR_CALL(tsr_topo_create(o->topology, &topo));
    tsr_topo_describe(topo, topo_desc, desc_len);

    tsr_placement_t pl;
    tsr_status_t s = tsr_placement_compute(topo, rt->node_rank, rt->node_size, o->threads, NULL, &pl);
    if (s != TSR_OK) {
        tsr_topo_destroy(&topo);
        return s;
    }
    hwloc_bitmap_t *bound = calloc((size_t)pl.n_threads, sizeof *bound);
    char *buf = malloc((size_t)pl.n_threads * TSR_INFO_LINE + 1);
    if (!bound || !buf) {
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory listing %d threads", pl.n_threads);
        goto out;
    }
    for (int t = 0; t < pl.n_threads; t++)
        if (!(bound[t] = hwloc_bitmap_alloc())) {
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory allocating a CPU set");
            goto out;
        }
    s = tsr_info_read_pool(topo, &pl, bound);
    if (s != TSR_OK)
        goto out;

    char host[MPI_MAX_PROCESSOR_NAME] = "?";
    int host_len = 0;
    if (MPI_Get_processor_name(host, &host_len) != MPI_SUCCESS)
        snprintf(host, sizeof host, "?");
    char domain[16];
    if (pl.domain >= 0)
        snprintf(domain, sizeof domain, "%d", pl.domain);
    else
        snprintf(domain, sizeof domain, "-");
    size_t used = 0;
    buf[0] = '\0';
    for (int t = 0; t < pl.n_threads; t++) {
        char got[96];
        if (hwloc_bitmap_list_snprintf(got, sizeof got, bound[t]) >= (int)sizeof got)
            snprintf(got + sizeof got - 4, 4, "...");
        int w = snprintf(buf + used, TSR_INFO_LINE + 1, "%-20.20s %5d %5d %6s %6d %8d  %s%s\n", host, rt->rank,
                         rt->node_rank, domain, t, pl.thread_pu[t], got,
                         t == 0 && pl.respected_external ? "  (launcher binding kept)" : "");
        if (w > 0)
            used += (size_t)(w < TSR_INFO_LINE ? w : TSR_INFO_LINE);
    }
    buf[used] = '\0';
    *text = buf;
    buf = NULL;
out:
    for (int t = 0; bound && t < pl.n_threads; t++)
        hwloc_bitmap_free(bound[t]);
    free(bound);
    free(buf);
    tsr_placement_free(&pl);
    tsr_topo_destroy(&topo);
    return s;
}

/* Gather every rank's lines to the master (rank 0) in rank order; *all is NULL elsewhere. */
static tsr_status_t tsr_info_gather(const tsr_rt_t *rt, const char *text, char **all)
{
    *all = NULL;
    int len = (int)strlen(text);
    int *lens = NULL, *displs = NULL;
    char *out = NULL;
    if (rt->role == TSR_ROLE_MASTER) {
        TSR_ALLOC(lens, rt->size);
        displs = calloc((size_t)rt->size, sizeof *displs);
        if (!displs) {
            free(lens);
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory gathering %d ranks", rt->size);
        }
    }
    tsr_status_t s = TSR_OK;
    int rc = MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, rt->comm);
    if (rc != MPI_SUCCESS) {
        s = tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Gather");
        goto out;
    }
    if (rt->role == TSR_ROLE_MASTER) {
        int64_t total = 0;
        for (int r = 0; r < rt->size; r++) {
            displs[r] = (int)total;
            total += lens[r];
        }
        out = malloc((size_t)total + 1);
        if (!out) {
            /* the other ranks are already in the Gatherv: abort is the only way to release them */
            tsr_error_set(TSR_ERR_NOMEM, "out of memory gathering %lld bytes", (long long)total);
            tsr_rt_abort(rt, TSR_EXIT_FAIL);
        }
        out[total] = '\0';
    }
    rc = MPI_Gatherv(text, len, MPI_CHAR, out, lens, displs, MPI_CHAR, 0, rt->comm);
    if (rc != MPI_SUCCESS) {
        s = tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Gatherv");
        free(out);
        out = NULL;
    }
out:
    free(lens);
    free(displs);
    *all = out;
    return s;
}

void tsr_cli_print_versions(FILE *fp)
{
    char mpi[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int mpi_len = 0;
    if (MPI_Get_library_version(mpi, &mpi_len) != MPI_SUCCESS)
        snprintf(mpi, sizeof mpi, "unknown");
    mpi[strcspn(mpi, "\r\n")] = '\0';
    unsigned h5maj = 0, h5min = 0, h5rel = 0;
    if (H5get_libversion(&h5maj, &h5min, &h5rel) < 0)
        h5maj = h5min = h5rel = 0;
    unsigned hw = hwloc_get_api_version();
    fprintf(fp, "tessera   %s\n", TSR_VERSION);
    fprintf(fp, "MPI       %s\n", mpi);
    fprintf(fp, "HDF5      %u.%u.%u\n", h5maj, h5min, h5rel);
    fprintf(fp, "htslib    %s\n", hts_version());
    fprintf(fp, "hwloc     API %u.%u.%u (library), %u.%u.%u (compiled against)\n", (hw >> 16) & 0xff, (hw >> 8) & 0xff,
           hw & 0xff, (HWLOC_API_VERSION >> 16) & 0xff, (HWLOC_API_VERSION >> 8) & 0xff, HWLOC_API_VERSION & 0xff);
    fprintf(fp, "minimap2  %s\n", TSR_INFO_MINIMAP2);
}

static int tsr_info_parse(int argc, char **argv, tsr_info_opts_t *o, int *help)
{
    static const struct option longopts[] = {
        {"threads", required_argument, NULL, 't'},
        {"topology", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    o->threads = 0;
    o->topology = NULL;
    *help = 0;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 't': {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < 1 || v > 4096)
                return tsr_cli_usage_error("info", "--threads wants a whole number from 1 to 4096, not '%s'",
                                           optarg);
            o->threads = (int)v;
            break;
        }
        case 'T':
            o->topology = optarg;
            break;
        case 'h':
            *help = 1;
            return TSR_EXIT_OK;
        default:
            return tsr_cli_usage_error("info", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return tsr_cli_usage_error("info", "unexpected argument '%s'", argv[optind]);
    return TSR_EXIT_OK;
}

int tsr_cmd_info(int argc, char **argv)
{
    tsr_info_opts_t o;
    int help = 0;
    int rc = tsr_info_parse(argc, argv, &o, &help);
    if (rc != TSR_EXIT_OK)
        return rc;
    if (help) {
        tsr_info_usage(stdout);
        return TSR_EXIT_OK;
    }

    tsr_rt_t *rt = NULL;
    tsr_status_t s = tsr_rt_create(&argc, &argv, &rt);
    if (s != TSR_OK)
        return tsr_cli_fail("info", s);
    tsr_log_configure(tsr_log_level(), rt->rank);

    char topo_desc[160] = "";
    char *text = NULL;
    s = tsr_info_rank_lines(rt, &o, topo_desc, sizeof topo_desc, &text);

    /* Every rank learns whether any failed, so none waits in the gather for a rank that quit. */
    int failed = s != TSR_OK, any_failed = 1;
    int mrc = MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, rt->comm);
    if (mrc != MPI_SUCCESS && s == TSR_OK)
        s = tsr_error_mpi(mrc, __FILE__, __LINE__, "MPI_Allreduce");
    if (s != TSR_OK || any_failed) {
        rc = s != TSR_OK ? tsr_cli_fail("info", s) : TSR_EXIT_FAIL;
        free(text);
        tsr_rt_destroy(&rt);
        return rc;
    }

    char *all = NULL;
    s = tsr_info_gather(rt, text, &all);
    free(text);
    if (s == TSR_OK && rt->role == TSR_ROLE_MASTER) {
        int nodes = rt->node_rank == 0, n_nodes = 0;
        if (MPI_Reduce(&nodes, &n_nodes, 1, MPI_INT, MPI_SUM, 0, rt->comm) != MPI_SUCCESS)
            n_nodes = 0;
        tsr_cli_print_versions(stdout);
        printf("topology  %s\n", topo_desc);
        printf("ranks     %d on %d node(s), MPI thread level %d\n\n", rt->size, n_nodes, rt->thread_level);
        printf("%-20s %5s %5s %6s %6s %8s  %s\n", "host", "rank", "local", "domain", "thread", "pu", "bound");
        fputs(all, stdout);
        if (o.topology)
            printf("\n(synthetic topology: placement computed for it, threads left unbound)\n");
        fflush(stdout);
    } else if (s == TSR_OK) {
        int nodes = rt->node_rank == 0;
        if (MPI_Reduce(&nodes, NULL, 1, MPI_INT, MPI_SUM, 0, rt->comm) != MPI_SUCCESS)
            s = tsr_error_set(TSR_ERR_MPI, "MPI_Reduce of the node count failed");
    }
    free(all);
    rc = s != TSR_OK ? tsr_cli_fail("info", s) : TSR_EXIT_OK;
    tsr_rt_destroy(&rt);
    return rc;
}
