/*
 * runtime_internal.h - private to runtime/: the topology handle shared by
 * topology.c (discovery) and placement.c (policy and binding). Nothing
 * outside the runtime/ sources includes this header.
 */
#ifndef TSR_RUNTIME_INTERNAL_H
#define TSR_RUNTIME_INTERNAL_H

#include "runtime/runtime.h"

#include <hwloc.h>

/*
 * The placement domains are the NUMA nodes that own PUs (memory-only nodes
 * such as HBM/CXL, and nodes whose cpuset repeats an earlier one, are
 * skipped), or the packages when there are more packages than such NUMA
 * nodes (hwloc 2 always reports at least one NUMA node, so a machine where
 * the OS reports no NUMA shows one node spanning every package), or the whole
 * machine when neither exists.
 */
struct tsr_topo {
    hwloc_topology_t h;
    int synthetic;        /* loaded from a synthetic description: never bind */
    int n_domains;
    hwloc_obj_t *domains; /* n_domains objects, in logical order */
    const char *domain_kind; /* "NUMA domain", "package" or "machine" */
};

#endif
