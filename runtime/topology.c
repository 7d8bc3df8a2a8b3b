/*
 * topology.c - hwloc discovery (real or synthetic) and the list of placement
 * domains that placement.c distributes ranks over.
 */
#include "runtime/runtime_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A NUMA node is a placement domain if it owns PUs not already owned by an earlier node. */
static int tsr_topo_numa_is_domain(hwloc_obj_t node, hwloc_obj_t *seen, int n_seen)
{
    if (!node->cpuset || hwloc_bitmap_iszero(node->cpuset))
        return 0;
    for (int i = 0; i < n_seen; i++)
        if (hwloc_bitmap_isequal(seen[i]->cpuset, node->cpuset))
            return 0;
    return 1;
}

static tsr_status_t tsr_topo_find_domains(tsr_topo_t *t)
{
    int n_numa = hwloc_get_nbobjs_by_type(t->h, HWLOC_OBJ_NUMANODE);
    int n_pack = hwloc_get_nbobjs_by_type(t->h, HWLOC_OBJ_PACKAGE);
    int cap = (n_numa > n_pack ? n_numa : n_pack) + 1;
    TSR_ALLOC(t->domains, cap);

    int n = 0;
    for (int i = 0; i < n_numa; i++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(t->h, HWLOC_OBJ_NUMANODE, (unsigned)i);
        if (o && tsr_topo_numa_is_domain(o, t->domains, n))
            t->domains[n++] = o;
    }
    t->domain_kind = "NUMA domain";
    if (n_pack > n) {
        n = 0;
        for (int i = 0; i < n_pack; i++) {
            hwloc_obj_t o = hwloc_get_obj_by_type(t->h, HWLOC_OBJ_PACKAGE, (unsigned)i);
            if (o && o->cpuset && !hwloc_bitmap_iszero(o->cpuset))
                t->domains[n++] = o;
        }
        t->domain_kind = "package";
    }
    if (n == 0) {
        t->domains[n++] = hwloc_get_root_obj(t->h);
        t->domain_kind = "machine";
    }
    t->n_domains = n;
    return TSR_OK;
}

tsr_status_t tsr_topo_create(const char *synthetic, tsr_topo_t **out)
{
    *out = NULL;
    tsr_topo_t *t;
    TSR_ALLOC(t, 1);
    if (hwloc_topology_init(&t->h) != 0) {
        free(t);
        return tsr_error_set(TSR_ERR_HWLOC, "hwloc_topology_init failed: %s", strerror(errno));
    }
    tsr_status_t s = TSR_OK;
    if (synthetic) {
        t->synthetic = 1;
        if (hwloc_topology_set_synthetic(t->h, synthetic) != 0) {
            s = tsr_error_set(TSR_ERR_USAGE,
                              "invalid synthetic topology '%s'; write levels with their arity, "
                              "e.g. \"package:2 numa:2 core:16 pu:1\"",
                              synthetic);
            goto fail;
        }
    }
    if (hwloc_topology_load(t->h) != 0) {
        s = tsr_error_set(TSR_ERR_HWLOC, "hwloc could not discover the machine topology: %s", strerror(errno));
        goto fail;
    }
    s = tsr_topo_find_domains(t);
    if (s != TSR_OK)
        goto fail;
    tsr_log_debug("%s topology: %d placement domain(s) of kind %s", t->synthetic ? "synthetic" : "machine",
                  t->n_domains, t->domain_kind);
    *out = t;
    return TSR_OK;
fail:
    hwloc_topology_destroy(t->h);
    free(t->domains);
    free(t);
    return s;
}

void tsr_topo_destroy(tsr_topo_t **tp)
{
    if (!tp || !*tp)
        return;
    tsr_topo_t *t = *tp;
    hwloc_topology_destroy(t->h);
    free(t->domains);
    free(t);
    *tp = NULL;
}

void tsr_topo_counts(const tsr_topo_t *t, int *packages, int *numa, int *cores, int *pus)
{
    if (packages)
        *packages = hwloc_get_nbobjs_by_type(t->h, HWLOC_OBJ_PACKAGE);
    if (numa)
        *numa = hwloc_get_nbobjs_by_type(t->h, HWLOC_OBJ_NUMANODE);
    if (cores)
        *cores = hwloc_get_nbobjs_by_type(t->h, HWLOC_OBJ_CORE);
    if (pus)
        *pus = hwloc_get_nbobjs_by_type(t->h, HWLOC_OBJ_PU);
}

void tsr_topo_describe(const tsr_topo_t *t, char *buf, size_t len)
{
    int p, n, c, u;
    tsr_topo_counts(t, &p, &n, &c, &u);
    snprintf(buf, len, "%d package%s, %d NUMA domain%s, %d core%s, %d PU%s%s", p, p == 1 ? "" : "s", n,
             n == 1 ? "" : "s", c, c == 1 ? "" : "s", u, u == 1 ? "" : "s",
             t->synthetic ? " (synthetic)" : "");
}
