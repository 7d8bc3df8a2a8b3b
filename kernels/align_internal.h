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
 * The short-read ("sr") minimap2 index of a FASTA. With `cache` (e.g.
 * DIR/ref.mmi) an index dumped there is loaded when CACHE.key matches the
 * FASTA (size, mtime, minimap2 version, k/w), else the index is built and
 * dumped there (temporary names + rename, so ranks may race). Destroy with
 * tsr_mm_index_destroy().
 */
tsr_status_t tsr_mm_index_create(const char *ref_fasta, const char *cache, int n_threads,
                                 tsr_mm_index_t **x) TSR_RESULT_USED;
void tsr_mm_index_destroy(tsr_mm_index_t **x);
/* Memory held by the index (the size of its dump when cached, else an estimate), for the report. */
size_t tsr_mm_index_bytes(const tsr_mm_index_t *x);
/* 1 when the index was loaded from the cache. */
int tsr_mm_index_from_cache(const tsr_mm_index_t *x);

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
