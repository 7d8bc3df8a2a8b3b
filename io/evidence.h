/*
 * io/evidence.h - the evidence partitions, deep (tsr_evidence_t) and low-pass
 * (tsr_lp_evidence_t), and their HDF5 files (io/evidence.c,
 * io/partition_store.c, io/lowpass_store.c; schema in io/partition_schema.md).
 * Part of io's public interface.
 */
#ifndef TSR_IO_EVIDENCE_H
#define TSR_IO_EVIDENCE_H

#include "runtime/runtime.h"
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --------------------------------------------------- evidence partitions */

typedef enum { TSR_SITE_SNV = 0, TSR_SITE_INDEL = 1 } tsr_site_kind_t;

/*
 * Evidence for one (region, sample batch), position-major. Sites are sorted by
 * (pos, kind). Alleles of a site are stored as one comma-separated string
 * "REF,ALT1,...,ALTk,<*>": the last allele is always the symbolic "any other
 * allele", so the joint kernel can map alleles another batch found onto it.
 * Genotype likelihoods are phred-scaled (PL), normalised per sample so the
 * best is 0, in VCF genotype order; G = n*(n+1)/2 for n alleles.
 * Reference-confidence blocks say where a sample was covered without
 * candidate alleles, so that missing is never confused with hom-ref.
 */
typedef struct tsr_evidence {
    char *contig;
    int64_t start, end;     /* the region, 0-based half-open */
    int32_t n_samples;
    char **sample_ids;      /* n_samples, in cohort order */
    int64_t n_sites;
    int64_t *pos;           /* 0-based; the anchor (base before) for indels */
    uint8_t *kind;          /* tsr_site_kind_t */
    int32_t *n_alleles;     /* including REF and <*> */
    int64_t *allele_off;    /* n_sites+1 offsets into allele_blob */
    char *allele_blob;      /* "REF,ALT1,...,<*>" per site, no NUL between sites */
    int64_t *pl_off;        /* n_sites+1 offsets into pl; site i holds n_samples*G_i values */
    int32_t *pl;
    int64_t *ad_off;        /* n_sites+1 offsets into ad; site i holds n_samples*n_alleles_i */
    int32_t *ad;
    int32_t *dp;            /* n_sites*n_samples: reads counted at the site */
    int32_t *strand;        /* 2*ad_off[n_sites]: per AD entry, reads on the forward then reverse strand
                             * (site i's S x A_i x 2 values start at 2*ad_off[i]) */
    int64_t n_blocks;       /* reference-confidence blocks, sorted by (sample, start) */
    int32_t *block_sample;
    int64_t *block_start, *block_end; /* 0-based half-open */
    int32_t *block_min_dp;
} tsr_evidence_t;

/* Allocate an empty evidence set (all arrays NULL, counts 0). Destroy with tsr_evidence_destroy(). */
tsr_status_t tsr_evidence_create(tsr_evidence_t **ev) TSR_RESULT_USED;
void tsr_evidence_destroy(tsr_evidence_t **ev);

/* Write `ev` to an HDF5 partition file (tmp name + rename). Not collective. */
tsr_status_t tsr_partition_write(const char *path, const tsr_evidence_t *ev) TSR_RESULT_USED;
/* Read a partition written by tsr_partition_write. Destroy with tsr_evidence_destroy(). */
tsr_status_t tsr_partition_read(const char *path, tsr_evidence_t **ev) TSR_RESULT_USED;
/*
 * Packed files (issue 18, io/h5_store.h): `path` "FILE#K/N" writes member K of N (in order), "FILE#K"
 * reads member K, with the read and write functions here. *n = the members of FILE (0: a whole, unpacked
 * file). Not collective.
 */
tsr_status_t tsr_partition_members(const char *path, int *n) TSR_RESULT_USED;

/*
 * Evidence containers (--evidence-layout packs, io/partition_schema.md): a finished run's partitions live
 * in RUN/evidence/sSSSS/rRRRRR.pack, listed by name in RUN/evidence/index.tsv ("NAME\tLOCATION"). For
 * readers that walk RUN/evidence/gGGGGG/U/ by name (exports):
 * tsr_evidence_scandir: scandir(dir, list, filter, alphasort) over the real directory merged with the
 * names the run's index puts under it (the containers and the index themselves left out); -1 with errno
 * when neither has anything there. Free each entry and the list, as scandir's.
 * tsr_evidence_resolve: the path a reader opens for `path` (also "PATH#K"): itself when it exists, else its
 * location in the index ("RUN/evidence/sSSSS/rRRRRR.pack@OFFSET+LENGTH[#K]"), else itself. The index is
 * read once per process (a cache by path, size and mtime). Not collective; thread-safe.
 */
struct dirent;
int tsr_evidence_scandir(const char *dir, struct dirent ***list, int (*filter)(const struct dirent *));
void tsr_evidence_resolve(const char *path, char *buf, size_t len);

/*
 * The same partition a window of sites at a time (io/partition_reader.c), so
 * the joint kernel holds a window of every batch, not every batch's region.
 * The reader keeps the file open and holds the site positions, a buffer of
 * reference-confidence blocks and each sample's last block (the file's blocks
 * must be in (start, sample) order, as the call kernel writes them); head() gives the
 * contig, region, samples, n_sites and every site's position (pos), no site
 * data. next(lo, bound) gives the unread sites with position < bound (their
 * offsets start at 0) and the blocks overlapping [lo, bound); lo must not be
 * past an unread site, and lo never decreases from call to call. Destroy each
 * window with tsr_evidence_destroy(), the reader with close(). Not collective.
 */
typedef struct tsr_partition_reader tsr_partition_reader_t;
tsr_status_t tsr_partition_reader_open(const char *path, tsr_partition_reader_t **r) TSR_RESULT_USED;
const tsr_evidence_t *tsr_partition_reader_head(const tsr_partition_reader_t *r);
int64_t tsr_partition_reader_at(const tsr_partition_reader_t *r); /* the first unread site */
tsr_status_t tsr_partition_reader_next(tsr_partition_reader_t *r, int64_t lo, int64_t bound,
                                       tsr_evidence_t **window) TSR_RESULT_USED;
void tsr_partition_reader_close(tsr_partition_reader_t **r);
/*
 * Allow the reader `bytes` of HDF5 chunk cache (0, the default: none). Each per-site dataset is opened at
 * its first window and kept open; while the allowance lasts it gets a cache of one chunk (the file's
 * chunk, e.g. 64 Ki elements), so reading windows in order decompresses each chunk once instead of once
 * per window. Set it before the first next(). cache() gives the bytes taken. What is read is the same.
 */
void tsr_partition_reader_set_cache(tsr_partition_reader_t *r, int64_t bytes);
int64_t tsr_partition_reader_cache(const tsr_partition_reader_t *r);
/*
 * Reorder ev's reference-confidence blocks: by (start, sample), the order the
 * call kernel writes so that tsr_partition_reader streams them, or back to
 * (sample, start), the order of tsr_evidence_t (tsr_partition_read applies it
 * to what it reads). Errors: TSR_ERR_NOMEM, TSR_ERR_FORMAT (a block's sample
 * out of range).
 */
tsr_status_t tsr_evidence_blocks_by_position(tsr_evidence_t *ev) TSR_RESULT_USED;
tsr_status_t tsr_evidence_blocks_by_sample(tsr_evidence_t *ev) TSR_RESULT_USED;

/* ------------------------------------------- low-pass evidence (issue 6) */

/*
 * Low-pass evidence for one (region, sample batch), position-major; schema in
 * io/lowpass_schema.md. A site is a position (SNV) or an indel anchor (the base
 * before the event) where some sample of the batch has a non-reference
 * observation. Its alleles are "REF,ALT1,..." (no symbolic allele); obs_* list
 * every non-reference observation there (sample within the batch, allele
 * index >= 1, phred quality), sorted by (sample, allele). Reference
 * observations are not listed one by one: the runs give, per sample, the
 * number of passing reads whose base matches the reference at every position
 * (runs of constant depth > 0, sorted by (sample, start)), and ref_qual the
 * sample's mean base quality of those bases. Sites are sorted by (pos, kind).
 */
typedef struct tsr_lp_evidence {
    char *contig;
    int64_t start, end;     /* the region, 0-based half-open */
    int32_t n_samples;
    char **sample_ids;      /* n_samples, in cohort order */
    float *ref_qual;        /* n_samples: mean phred of reference-matching bases (0 when none) */
    int64_t n_sites;
    int64_t *pos;           /* 0-based; the anchor for indels */
    uint8_t *kind;          /* tsr_site_kind_t */
    int32_t *n_alleles;     /* including REF */
    int64_t *allele_off;    /* n_sites+1 offsets into allele_blob */
    char *allele_blob;      /* "REF,ALT1,..." per site, no NUL between sites */
    int64_t *obs_off;       /* n_sites+1 offsets into obs_* */
    int32_t *obs_sample;    /* within the batch */
    uint8_t *obs_allele;    /* 1..n_alleles-1 */
    uint8_t *obs_qual;      /* phred */
    int64_t n_runs;
    int32_t *run_sample;
    int64_t *run_start, *run_end; /* 0-based half-open */
    int32_t *run_depth;
} tsr_lp_evidence_t;

/* Allocate an empty low-pass evidence set. Destroy with tsr_lp_evidence_destroy(). */
tsr_status_t tsr_lp_evidence_create(tsr_lp_evidence_t **ev) TSR_RESULT_USED;
void tsr_lp_evidence_destroy(tsr_lp_evidence_t **ev);
/* Write `ev` to an HDF5 file (tmp name + rename, sealed). Not collective. */
tsr_status_t tsr_lp_partition_write(const char *path, const tsr_lp_evidence_t *ev) TSR_RESULT_USED;
/* Read a file written by tsr_lp_partition_write (checked). Destroy with tsr_lp_evidence_destroy(). */
tsr_status_t tsr_lp_partition_read(const char *path, tsr_lp_evidence_t **ev) TSR_RESULT_USED;

#ifdef __cplusplus
}
#endif
#endif /* TSR_IO_EVIDENCE_H */
