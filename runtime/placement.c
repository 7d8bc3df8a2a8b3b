/*
 * placement.c - where a rank's worker threads run.
 *
 * Policy (see runtime/README.md for the table):
 *  - a binding applied by the launcher (mpirun --bind-to, srun --cpu-bind) is
 *    kept: threads are pinned one per core inside it;
 *  - otherwise local rank r goes to domain r % D (D = placement domains of the
 *    node, see runtime_internal.h); the k ranks that share a domain split its
 *    cores into k disjoint contiguous blocks, so no two ranks are pinned to the
 *    same core while there are enough cores (beyond that, one core each,
 *    round-robin);
 *  - threads are pinned one per core of the rank's share (the first PU of
 *    each core); more threads than cores wrap around.
 * A "core" is a Core object, or a PU on machines where hwloc reports no cores.
 */
#include "runtime/runtime_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The cores (or PUs) that intersect `set`, in logical order. */
static tsr_status_t tsr_placement_units(const tsr_topo_t *t, hwloc_const_cpuset_t set, hwloc_obj_t **out, int *n_out)
{
    hwloc_obj_type_t type = hwloc_get_nbobjs_by_type(t->h, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    int total = hwloc_get_nbobjs_by_type(t->h, type);
    hwloc_obj_t *u;
    TSR_ALLOC(u, total);
    int n = 0;
    for (hwloc_obj_t o = hwloc_get_next_obj_by_type(t->h, type, NULL); o && n < total;
         o = hwloc_get_next_obj_by_type(t->h, type, o))
        if (o->cpuset && hwloc_bitmap_intersects(o->cpuset, set))
            u[n++] = o;
    *out = u;
    *n_out = n;
    return TSR_OK;
}

/* Write `set` as a list string; a list too long for the field ends in "..." (informational only). */
static void tsr_placement_list_string(hwloc_const_cpuset_t set, char *buf, size_t len)
{
    int w = hwloc_bitmap_list_snprintf(buf, len, set);
    if (w >= 0 && (size_t)w < len)
        return;
    char *comma = strrchr(buf, ',');
    size_t keep = comma ? (size_t)(comma - buf) : 0;
    if (keep + 4 > len)
        keep = len - 4;
    memcpy(buf + keep, "...", 4);
    tsr_log_debug("CPU list truncated to '%s'", buf);
}

/*
 * The launcher's binding, if any: the given list string, or the process's
 * current binding on a real topology. Sets *ext to NULL when the binding covers
 * the whole machine (nothing to respect).
 */
static tsr_status_t tsr_placement_external(const tsr_topo_t *t, const char *external_cpuset, hwloc_bitmap_t *ext)
{
    *ext = NULL;
    if (!external_cpuset && t->synthetic)
        return TSR_OK;
    hwloc_const_cpuset_t machine = hwloc_topology_get_topology_cpuset(t->h);
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (!set)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory allocating a CPU set");
    if (external_cpuset) {
        if (hwloc_bitmap_list_sscanf(set, external_cpuset) != 0) {
            hwloc_bitmap_free(set);
            return tsr_error_set(TSR_ERR_USAGE, "cannot parse CPU list '%s' (expected e.g. \"0-3,8\")",
                                 external_cpuset);
        }
    } else if (hwloc_get_cpubind(t->h, set, HWLOC_CPUBIND_PROCESS) != 0) {
        tsr_log_debug("cannot read the process binding (%s); placing as if unbound", strerror(errno));
        hwloc_bitmap_free(set);
        return TSR_OK;
    }
    hwloc_bitmap_and(set, set, machine);
    if (hwloc_bitmap_iszero(set)) {
        hwloc_bitmap_free(set);
        return tsr_error_set(TSR_ERR_HWLOC, "the CPU binding '%s' names no PU of this machine; check --cpu-bind/--bind-to",
                             external_cpuset ? external_cpuset : "(process binding)");
    }
    if (hwloc_bitmap_isincluded(machine, set)) {
        hwloc_bitmap_free(set);
        return TSR_OK;
    }
    *ext = set;
    return TSR_OK;
}

tsr_status_t tsr_placement_compute(const tsr_topo_t *t, int local_rank, int local_size, int n_threads,
                                   const char *external_cpuset, tsr_placement_t *pl)
{
    memset(pl, 0, sizeof *pl);
    pl->domain = -1;
    if (!t || local_size < 1 || local_rank < 0 || local_rank >= local_size)
        return tsr_error_set(TSR_ERR_INTERNAL, "placement of local rank %d of %d is undefined", local_rank,
                             local_size);

    hwloc_bitmap_t ext = NULL;
    TSR_CALL(tsr_placement_external(t, external_cpuset, &ext));

    tsr_status_t s = TSR_OK;
    hwloc_obj_t *units = NULL;
    int n_units = 0, lo = 0, hi = 0;
    hwloc_const_cpuset_t scope; /* the PUs this rank may use */
    hwloc_bitmap_t share = hwloc_bitmap_alloc();
    if (!share) {
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory allocating a CPU set");
        goto done;
    }

    if (ext) {
        pl->respected_external = 1;
        for (int d = 0; d < t->n_domains; d++)
            if (hwloc_bitmap_isincluded(ext, t->domains[d]->cpuset)) {
                pl->domain = d;
                break;
            }
        scope = ext;
        s = tsr_placement_units(t, scope, &units, &n_units);
        if (s != TSR_OK)
            goto done;
        lo = 0;
        hi = n_units;
        hwloc_bitmap_copy(share, ext);
    } else {
        int nd = t->n_domains;
        int d = local_rank % nd;
        int sharers = (local_size - d + nd - 1) / nd; /* local ranks r with r % nd == d */
        int j = local_rank / nd;
        if (local_size < nd && local_rank == 0)
            tsr_log_info("%d local rank(s) for %d %ss: %d %s(s) stay idle; start %d ranks per node to use them",
                         local_size, nd, t->domain_kind, nd - local_size, t->domain_kind, nd);
        pl->domain = d;
        scope = t->domains[d]->cpuset;
        s = tsr_placement_units(t, scope, &units, &n_units);
        if (s != TSR_OK)
            goto done;
        if (sharers <= n_units) {
            lo = (int)((int64_t)j * n_units / sharers);
            hi = (int)((int64_t)(j + 1) * n_units / sharers);
        } else if (n_units > 0) { /* more sharers than cores: one core each, round-robin */
            lo = j % n_units;
            hi = lo + 1;
        }
        for (int u = lo; u < hi; u++)
            hwloc_bitmap_or(share, share, units[u]->cpuset);
        hwloc_bitmap_and(share, share, scope);
    }
    if (hi <= lo) {
        s = tsr_error_set(TSR_ERR_HWLOC, "no core to place local rank %d on", local_rank);
        goto done;
    }

    int nt = n_threads > 0 ? n_threads : hi - lo;
    pl->thread_pu = calloc((size_t)nt, sizeof *pl->thread_pu);
    pl->thread_core = calloc((size_t)nt, sizeof *pl->thread_core);
    if (!pl->thread_pu || !pl->thread_core) {
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory placing %d threads", nt);
        goto done;
    }
    pl->n_threads = nt;
    pl->n_cores = hi - lo;
    for (int i = 0; i < nt; i++) {
        hwloc_obj_t u = units[lo + i % (hi - lo)];
        hwloc_bitmap_t pus = hwloc_bitmap_alloc();
        if (!pus) {
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory allocating a CPU set");
            goto done;
        }
        hwloc_bitmap_and(pus, u->cpuset, scope);
        pl->thread_pu[i] = hwloc_bitmap_first(pus);
        pl->thread_core[i] = u->type == HWLOC_OBJ_CORE ? (int)u->logical_index : -1;
        hwloc_bitmap_free(pus);
    }
    tsr_placement_list_string(share, pl->domain_cpus, sizeof pl->domain_cpus);
    if (nt > hi - lo && local_rank == 0)
        tsr_log_warn("%d threads asked for, but this rank may use %d core(s) (PUs %s%s): threads will share cores; %s",
                     nt, hi - lo, pl->domain_cpus, pl->respected_external ? ", bound by the launcher" : "",
                     pl->respected_external
                         ? "give the launcher more cores per rank (mpirun --bind-to none or --map-by numa, "
                           "srun --cpus-per-task) or lower --threads"
                         : "start fewer ranks per node or lower --threads");
    tsr_log_debug("local rank %d/%d: %s %d, PUs %s, %d thread(s)%s", local_rank, local_size, t->domain_kind,
                  pl->domain, pl->domain_cpus, nt, pl->respected_external ? " (launcher binding kept)" : "");

done:
    free(units);
    hwloc_bitmap_free(share);
    hwloc_bitmap_free(ext);
    if (s != TSR_OK)
        tsr_placement_free(pl);
    return s;
}

void tsr_placement_free(tsr_placement_t *pl)
{
    if (!pl)
        return;
    free(pl->thread_pu);
    free(pl->thread_core);
    memset(pl, 0, sizeof *pl);
    pl->domain = -1;
}

tsr_status_t tsr_placement_bind_thread(const tsr_topo_t *t, const tsr_placement_t *pl, int thread)
{
    if (!t || !pl || thread < 0 || thread >= pl->n_threads)
        return tsr_error_set(TSR_ERR_INTERNAL, "thread slot %d is outside the placement (%d threads)", thread,
                             pl ? pl->n_threads : 0);
    int pu = pl->thread_pu[thread];
    if (pu < 0)
        return TSR_OK;
    if (t->synthetic) {
        /* A synthetic topology describes some other machine: its PUs are not ours to bind to. */
        tsr_log_debug("synthetic topology: thread %d not bound (would be PU %d)", thread, pu);
        return TSR_OK;
    }
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (!set)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory allocating a CPU set");
    hwloc_bitmap_only(set, (unsigned)pu);
    if (hwloc_set_cpubind(t->h, set, HWLOC_CPUBIND_THREAD) != 0) {
        int e = errno;
        hwloc_bitmap_free(set);
        if (e == ENOSYS) {
            tsr_log_debug("thread binding is not supported here; thread %d runs unbound", thread);
            return TSR_OK;
        }
        return tsr_error_set(TSR_ERR_HWLOC,
                             "cannot bind worker thread %d to PU %d: %s; check the CPUs the job was given "
                             "(srun --cpu-bind, mpirun --bind-to) or lower --threads",
                             thread, pu, strerror(e));
    }
    /* Memory near the thread is an optimisation: never fail for it. */
    if (hwloc_set_membind(t->h, set, HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_THREAD) != 0) {
        int e = errno;
        if (e == ENOSYS || e == EXDEV || e == EPERM)
            tsr_log_debug("memory binding near PU %d not applied: %s", pu, strerror(e));
        else
            tsr_log_warn("memory binding near PU %d failed: %s; continuing unbound", pu, strerror(e));
    }
    hwloc_bitmap_free(set);
    return TSR_OK;
}
