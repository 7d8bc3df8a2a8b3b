/*
 * align_internal.h - private to the align kernel. Two boundaries:
 *  - between the minimap2 translation unit (align_mm2.c) and the htslib
 *    stage files (align_scan.c, align_records.c, align_runs.c, align_dups.c,
 *    align_merge.c, align_qc.c). Only plain C types cross it: minimap2's and
 *    htslib's headers both define kstring_t and khash, so neither side
 *    includes the other's, and htslib's types appear below only as
 *    incomplete struct pointers (struct bam1_t, sam_hdr_t, kstring_t);
 *  - between the kernel adapter (align_kernel.c: the plan, the task, the
 *    kernel contract) and the compute stages, which take plain arguments
 *    (paths, the sample, numbers, the index handle) and never see the plan.
 */
#ifndef TSR_ALIGN_INTERNAL_H
#define TSR_ALIGN_INTERNAL_H

#include "io/io.h"
#include "kernels/kernels.h"
#include "runtime/runtime.h"

#include <stddef.h>
#include <stdint.h>

typedef struct tsr_mm_tbuf tsr_mm_tbuf_t;

/* Sequences of the index: minimap2's reference ids are positions in this list (same order as the FASTA). */
int tsr_mm_index_n_seq(const tsr_mm_index_t *x);
const char *tsr_mm_index_seq_name(const tsr_mm_index_t *x, int rid);

/* Per-thread mapping scratch. Destroy with tsr_mm_tbuf_destroy(). */
tsr_status_t tsr_mm_tbuf_create(tsr_mm_tbuf_t **t) TSR_RESULT_USED;
void tsr_mm_tbuf_destroy(tsr_mm_tbuf_t **t);

#define TSR_MM_NONE ((size_t)-1)

/*
 * One record of a mapped read or pair, the fields minimap2's SAM writer
 * (mm_write_sam3) prints, in plain C types: no SAM text is made and align_records.c
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

/* ============================================ the compute stages' entry points (align_kernel.c calls these) */

/* ================================================= between the stage files (htslib side only) */

struct bam1_t;
struct sam_hdr_t;
struct kstring_t;

/* align_scan.c: a chunk file read back. */
typedef struct tsr_align_chunks {
    int64_t pairs_per_chunk, n_pairs; /* n_pairs -1: not counted (one map task reads the whole input) */
    int n, n_seg;          /* n_seg 0: not known (a whole-input chunk file; the reader tells the map task) */
    tsr_stream_pos_t *pos; /* where each chunk starts: the lane, and in its file(s) */
} tsr_align_chunks_t;
/* Read the chunk file at path into *ch; the caller frees ch->pos (NULL on failure). */
tsr_status_t tsr_align_chunks_read(const char *path, tsr_align_chunks_t *ch) TSR_RESULT_USED;

/* align_runs.c: the total record order of runs and of the merged file (qsort over bam1_t pointers). */
int tsr_align_bam_cmp(const void *a, const void *b);
/* align_runs.c: the sample's header (@HD, @SQ of ref, an @RG per lane, @PG); NULL on failure. Free with
 * sam_hdr_destroy(). */
struct sam_hdr_t *tsr_align_header_create(const tsr_ref_t *ref, const tsr_sample_t *smp);
/* align_runs.c: write text[0, len) to final_path via a temporary name. */
tsr_status_t tsr_align_write_text(const char *final_path, const char *text, size_t len) TSR_RESULT_USED;

/* Records of one map task, in read order until sorted. Free v with free() (the records live in the arenas). */
typedef struct tsr_align_bam_vec {
    struct bam1_t **v;
    size_t n, cap;
} tsr_align_bam_vec_t;

/*
 * align_records.c: a batch of up to 8192 read pairs of one map task, read
 * from the stream, mapped, and built into BAM records in the mapper's
 * arenas. rid2tid comes from hdr (minimap2's ids -> the header's tids); rg
 * and lib, per lane of the sample, are its read group id and its library's
 * index (the first lane with that library); both must outlive the batch.
 * Creating takes the index into `m` when it has none yet. Destroy with
 * tsr_align_batch_destroy().
 */
typedef struct tsr_align_batch tsr_align_batch_t;
tsr_status_t tsr_align_batch_create(tsr_align_mapper_t *m, const tsr_mm_index_t *index, int n_threads,
                                    struct sam_hdr_t *hdr, const char *const *rg, const int64_t *lib,
                                    tsr_align_batch_t **bt) TSR_RESULT_USED;
void tsr_align_batch_destroy(tsr_align_batch_t **bt);
/* Read up to a batch of pairs, not more than `room`; *n read (0 at the end). n_seg: the reader's segments. */
tsr_status_t tsr_align_batch_read(tsr_align_batch_t *bt, tsr_reader_t *rd, int n_seg, int64_t room, int *n,
                                  const char *sample) TSR_RESULT_USED;
/* Map the batch's first n pairs on the pool and build their records and duplicate signatures. */
tsr_status_t tsr_align_batch_map(tsr_align_batch_t *bt, tsr_pool_t *pool, int n) TSR_RESULT_USED;
/* Append the first n pairs' records to recs and their signatures to dups, in read order. */
tsr_status_t tsr_align_batch_collect(tsr_align_batch_t *bt, int n, tsr_align_bam_vec_t *recs,
                                     struct kstring_t *dups, const char *sample) TSR_RESULT_USED;
/* Free every record built with m (the map task has written its run). */
void tsr_align_mapper_release(tsr_align_mapper_t *m);

/*
 * align_dups.c: append the duplicate signature line of one fragment (its n
 * records, primary ones used; lib is its library's index in the sample) to
 * ks; nothing when no end maps. -1 out of memory.
 */
int tsr_align_dup_sig(struct bam1_t **v, size_t n, int64_t lib, struct kstring_t *ks);

/*
 * align_xsort.c: an external sort of variable-length records (at most 4 GiB each). Records are held in
 * memory up to cap bytes, then spilled as sorted runs to files DIR/TAG.N.tmp; tsr_align_xsort_finish
 * merges them in passes of at most fanin runs until one merge of at most fanin runs is left, which
 * tsr_align_xsort_next reads. Records handed to cmp (and by next) start 8-byte aligned. Equal records
 * keep their push order. Destroy with tsr_align_xsort_destroy() (deletes the run files). Not thread-safe.
 */
typedef struct tsr_align_xsort tsr_align_xsort_t;
tsr_status_t tsr_align_xsort_create(const char *dir, const char *tag, size_t cap, int fanin,
                                    int (*cmp)(const void *, const void *), tsr_align_xsort_t **x) TSR_RESULT_USED;
tsr_status_t tsr_align_xsort_push(tsr_align_xsort_t *x, const void *rec, size_t len) TSR_RESULT_USED;
/* No more pushes: sort, or merge the spilled runs down to at most fanin. */
tsr_status_t tsr_align_xsort_finish(tsr_align_xsort_t *x) TSR_RESULT_USED;
/* The next record in order (valid until the next call): 1, 0 at the end, < 0 a damaged run (error set). */
int tsr_align_xsort_next(tsr_align_xsort_t *x, const void **rec, size_t *len);
/* Runs spilled to disk, and merge passes (the final merge included; 0 when nothing spilled). */
int tsr_align_xsort_runs(const tsr_align_xsort_t *x);
int tsr_align_xsort_passes(const tsr_align_xsort_t *x);
void tsr_align_xsort_destroy(tsr_align_xsort_t **x);

/*
 * align_dups.c: the duplicates of a sample, decided from every map task's signatures through external
 * sorts bounded by sort_bytes each (files under dir), then read back as a stream of marks in the
 * records' order, which the merge consults record by record.
 */
typedef struct tsr_align_dups {
    tsr_align_xsort_t *marks; /* (tid, pos, strand, name, end) of every record to mark, in record order */
    int has_peek, win_valid, win_mask;
    char *peek, *win;         /* copies of the next mark and of the last matched key */
    size_t cap_peek, cap_win;
    int64_t dup_pairs, dup_frags;
    int64_t read_pairs;       /* the map tasks' counts (each .dup file's #pairs line), summed */
    int sort_runs, sort_passes; /* spilled runs and merge passes of the three sorts, summed */
} tsr_align_dups_t;
/* Read the n_paths .dup files and decide (Picard's rules, per library). Free with tsr_align_dups_free(). */
tsr_status_t tsr_align_dups_decide(const char *const *paths, int n_paths, const char *dir, size_t sort_bytes,
                                   int fanin, tsr_align_dups_t *d) TSR_RESULT_USED;
void tsr_align_dups_free(tsr_align_dups_t *d);
/* Whether record b is a duplicate. Ask for every record in the merged (tsr_align_bam_cmp) order: 1 yes,
 * 0 no, < 0 a damaged sort run (error set). */
int tsr_align_dups_is_marked(tsr_align_dups_t *d, const struct bam1_t *b);

/*
 * align_merge.c: k-way merge the sorted runs paths[0, k) (tsr_align_bam_cmp, ties by run) into the run
 * out_path (stored BGZF, via a temporary name), in passes of at most fanin runs when there are more: the
 * passes' files are dir/<prefix>passP.G.bam, deleted when used; paths[] themselves are left alone. *passes:
 * merge passes, the last included. The output is the same bytes for any fan-in. Not collective.
 */
tsr_status_t tsr_align_runs_combine(const char *const *paths, int k, const char *out_path, int threads, int fanin,
                                    const char *dir, const char *prefix, const char *what,
                                    int *passes) TSR_RESULT_USED;

/* align_qc.c: the alignment QC of a merged file, summed record by record. */
#define TSR_ALIGN_ISIZE_CAP 100000
typedef struct tsr_align_qc {
    int64_t reads, mapped, paired, proper, dups, supplementary, aligned_bases, ref_len;
    int64_t *isize; /* histogram [0, TSR_ALIGN_ISIZE_CAP] of |TLEN| of read 1 of proper, non-duplicate pairs */
} tsr_align_qc_t;
void tsr_align_qc_add(tsr_align_qc_t *q, const struct bam1_t *b);
/* 100 a / b, 0 when b is 0. */
double tsr_align_pct(int64_t a, int64_t b);
/* Write the sample's QC JSON to path (via a temporary name). */
tsr_status_t tsr_align_qc_write(const tsr_align_qc_t *q, const tsr_align_dups_t *d, const char *sample,
                                int64_t pairs_per_chunk, const char *path) TSR_RESULT_USED;

#endif
