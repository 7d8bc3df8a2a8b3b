/*
 * align_internal.h - private to the align kernel: the boundary between the
 * minimap2 translation unit (align_mm2.c) and the htslib one (align.c). Only
 * plain C types cross it: minimap2's and htslib's headers both define
 * kstring_t and khash, so neither side includes the other's.
 */
#ifndef TSR_ALIGN_INTERNAL_H
#define TSR_ALIGN_INTERNAL_H

#include "runtime/runtime.h"

#include <stddef.h>
#include <stdint.h>

typedef struct tsr_mm_index tsr_mm_index_t;
typedef struct tsr_mm_tbuf tsr_mm_tbuf_t;

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

/* Sequences of the index: minimap2's reference ids are positions in this list (same order as the FASTA). */
int tsr_mm_index_n_seq(const tsr_mm_index_t *x);
const char *tsr_mm_index_seq_name(const tsr_mm_index_t *x, int rid);

/* Per-thread mapping scratch. Destroy with tsr_mm_tbuf_destroy(). */
tsr_status_t tsr_mm_tbuf_create(tsr_mm_tbuf_t **t) TSR_RESULT_USED;
void tsr_mm_tbuf_destroy(tsr_mm_tbuf_t **t);

#define TSR_MM_NONE ((size_t)-1)

/*
 * One record of a mapped read or pair, the fields minimap2's SAM writer
 * (mm_write_sam3) prints, in plain C types: no SAM text is made and align.c
 * builds the BAM record from these. Positions are 0-based, -1 when absent;
 * rid/mrid are the index's sequence ids (tsr_mm_index_seq_name), -1 for none.
 * SEQ and QUAL are the read's bases [qs, qe) (a supplementary record is
 * hard-clipped), reverse-complemented (QUAL reversed) when rev. The CIGAR
 * holds BAM operation codes (minimap2's are the same) at cigar[0, n_cigar)
 * of the pair's tsr_mm_recs_t; sa and md are offsets of NUL-terminated
 * strings in its text, or TSR_MM_NONE.
 */
typedef struct tsr_mm_rec {
    int seg;  /* 0: read 1 (or the single read), 1: read 2 */
    int flag; /* SAM FLAG */
    int rid, mapq, mrid;
    int64_t pos, mpos, tlen;
    int qs, qe, rev;
    size_t cigar, n_cigar;
    /*
     * minimap2's tags, present when `mapped`: NM ms AS nn [ts] tp cm s1 [s2] [de|dv] [zd] [SA] [MD].
     * (minimap2's rl, the read's repeat length, is its driver's: mm_map_frag does not report it.)
     */
    int mapped;
    int nm, ms, as, nn, cm, s1, s2, zd;
    char ts, tp;    /* ts 0: absent */
    int has_s2;
    char div_kind;  /* 'e' de:f, 'v' dv:f, 0 neither */
    float div;      /* the value SAM's 4 decimals parse back to */
    size_t sa, md;
} tsr_mm_rec_t;

/* The records of one read or pair; reused across pairs. Free with tsr_mm_recs_free(). */
typedef struct tsr_mm_recs {
    tsr_mm_rec_t *v;
    size_t n, cap;
    uint32_t *cigar;
    size_t n_cigar, cap_cigar;
    char *text;
    size_t n_text, cap_text;
} tsr_mm_recs_t;

void tsr_mm_recs_free(tsr_mm_recs_t *r);

/*
 * Map one read (n_seg 1) or pair (n_seg 2) into `out` (emptied first): per
 * end, its primary and supplementary records, or one unmapped record. The
 * flags, mate fields, TLEN, clipping and tags are minimap2's own SAM
 * writer's. seq[] must be NUL-terminated. Thread-safe for distinct `t`.
 */
tsr_status_t tsr_mm_map_pair(const tsr_mm_index_t *x, tsr_mm_tbuf_t *t, const char *name, int n_seg,
                             const char *const *seq, const int *len, tsr_mm_recs_t *out) TSR_RESULT_USED;

#endif
