/*
 * align_internal.h - private to the align kernel: the boundary between the
 * minimap2 translation unit (align_mm2.c) and the htslib one (align.c).
 */
#ifndef TSR_ALIGN_INTERNAL_H
#define TSR_ALIGN_INTERNAL_H

#include "runtime/runtime.h"

#include <stddef.h>

typedef struct tsr_mm_index tsr_mm_index_t;
typedef struct tsr_mm_tbuf tsr_mm_tbuf_t;

/* Growing text buffer of SAM lines ("...\n...\n"). Free s with free(). */
typedef struct tsr_text {
    char *s;
    size_t len, cap;
} tsr_text_t;

/*
 * The short-read ("sr") minimap2 index of a FASTA, loaded once per node into
 * memory the node's ranks share. Collective on rt->comm. With `cache` (e.g.
 * DIR/ref.mmi) rank 0 alone checks CACHE.key against the FASTA (size, mtime,
 * minimap2 version, k/w) and, when the cache is missing or stale, builds the
 * index and dumps it there (temporary names + rename) while the other ranks
 * wait. Then node rank 0 of every node reads the cache (or builds from the
 * FASTA when there is no cache or it could not be written) and copies every
 * array that mapping reads into one MPI_Win_allocate_shared window on
 * rt->node_comm; each rank of the node maps through its own small header
 * whose pointers lead into that window. Logs one info line per node. Every
 * rank returns the same status. Destroy with tsr_mm_index_destroy().
 */
tsr_status_t tsr_mm_index_create(const tsr_rt_t *rt, const char *ref_fasta, const char *cache, int n_threads,
                                 tsr_mm_index_t **x) TSR_RESULT_USED;
/* Free this rank's view and the node's window. Collective on the rt->node_comm it was created on. Accepts NULL. */
void tsr_mm_index_destroy(tsr_mm_index_t **x);
/* Bytes of the node's shared window (the whole index, held once per node); 0 for NULL. */
size_t tsr_mm_index_bytes(const tsr_mm_index_t *x);

/*
 * The pipeline's index hook: when the plan has FASTQ samples, the node-shared
 * index of plan->opts.ref cached as DIR/ref.mmi (tsr_mm_index_create with
 * n_threads for building), else *x = NULL. Collective on rt->comm. Run it
 * before the task graph and tsr_mm_index_destroy() it after the graph, on
 * every rank; the align kernel maps with it (tsr_kernel_env_t.mm_index).
 */
struct tsr_plan;
tsr_status_t tsr_align_index_create(const tsr_rt_t *rt, const struct tsr_plan *plan, int n_threads,
                                    tsr_mm_index_t **x) TSR_RESULT_USED;

/* Per-thread mapping scratch. Destroy with tsr_mm_tbuf_destroy(). */
tsr_status_t tsr_mm_tbuf_create(tsr_mm_tbuf_t **t) TSR_RESULT_USED;
void tsr_mm_tbuf_destroy(tsr_mm_tbuf_t **t);

/*
 * Map one read (n_seg 1) or pair (n_seg 2) and append its SAM lines (primary
 * and supplementary; unmapped ends as unmapped records) to `out`.
 * Thread-safe for distinct `t`.
 */
tsr_status_t tsr_mm_map_pair(const tsr_mm_index_t *x, tsr_mm_tbuf_t *t, const char *name, int n_seg,
                             const char *const *seq, const char *const *qual, const int *len,
                             tsr_text_t *out) TSR_RESULT_USED;

#endif
