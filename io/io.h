/*
 * io.h - everything tessera reads and writes: the sample sheet, the
 * reference, read sources (FASTQ and BAM/CRAM back ends behind one reader
 * interface), the HDF5 evidence partitions, per-region call sets, the cohort
 * outputs (cohort.bcf, cohort.h5) and the synthetic-cohort simulator.
 *
 * Design. The evidence partition is the heart of the data flow: the call
 * kernel turns sample-major alignments into region-major evidence for one
 * (region, sample batch), and the joint kernel reads every batch of a region.
 * Its schema is documented in io/README.md. Every writer here writes to a
 * temporary name and renames on success (never a half-written file under the
 * final name). Every reader returns TSR_ERR_FORMAT with a message naming the
 * file and record on bad input.
 *
 * May include: runtime/, htslib, HDF5, zlib. Must not include: scheduler/, kernels/.
 */
#ifndef TSR_IO_H
#define TSR_IO_H

#include "runtime/runtime.h"

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------- sample sheet */

/*
 * TSR_INPUT_FASTQ: reads to align (FASTQ, or unaligned BAM/CRAM in the
 * fastq1 column), one or more lanes. TSR_INPUT_ALIGNED: an aligned BAM/CRAM.
 */
typedef enum { TSR_INPUT_FASTQ = 1, TSR_INPUT_ALIGNED = 2 } tsr_input_kind_t;

/*
 * One lane of a sample: one sheet line's read files and its read group.
 * fastq1 is FASTQ (plain, gzip, BGZF) or an unaligned BAM/CRAM holding both
 * reads of each pair (then fastq2 is NULL); fastq2 is NULL for single-end.
 */
typedef struct tsr_lane {
    char *fastq1, *fastq2; /* absolute or sheet-relative resolved paths */
    char *read_group;      /* RG ID: the `read_group` column, else SAMPLE (one lane) or SAMPLE.L<n> (1-based) */
    char *library;         /* RG LB: the `library` column, else the sample id */
} tsr_lane_t;

typedef struct tsr_sample {
    char *id;
    char *population;
    char *fastq1, *fastq2; /* lane 0's files (the same strings as lanes[0]; NULL for aligned input) */
    char *bam;             /* aligned BAM/CRAM input (resolved path) */
    tsr_input_kind_t kind;
    int n_lanes;           /* TSR_INPUT_FASTQ: >= 1, in sheet order; TSR_INPUT_ALIGNED: 0 */
    tsr_lane_t *lanes;
} tsr_sample_t;

typedef struct tsr_sheet {
    int n_samples;
    tsr_sample_t *samples; /* in order of first appearance: that order is the cohort's sample order */
    int n_populations;
    char **populations;    /* distinct population names, sorted */
    int *sample_pop;       /* per sample: index into populations */
} tsr_sheet_t;

/*
 * Parse a TSV sample sheet with a header naming columns `sample`,
 * `population` and either `fastq1` [`fastq2`] or `bam` (any order; `#`
 * comments and blank lines skipped), and optionally `read_group` and
 * `library`. Paths are resolved relative to the sheet's directory. A sample
 * with read input may take several lines (its lanes, read in sheet order);
 * they must name the same population, and read groups must differ within a
 * sample. Errors name the file and line: a repeated id with aligned input or
 * another population, missing columns, unreadable input files. Not
 * collective. Destroy with tsr_sheet_destroy().
 */
tsr_status_t tsr_sheet_create_from_file(const char *path, tsr_sheet_t **sheet) TSR_RESULT_USED;
void tsr_sheet_destroy(tsr_sheet_t **sheet);
/*
 * One cohort from several sheets read in order (`tessera add`: the run's
 * sheet, then each added sheet): the samples are their concatenation, ids
 * are unique across all parts (a repeated id names both places; a sample's
 * lanes all sit in one part), and the populations are indexed over the
 * union exactly as for one sheet holding every line. Parts before
 * `check_from` are sealed: their paths are resolved but the files are not
 * opened (they may have moved away). Not collective. Destroy with
 * tsr_sheet_destroy().
 */
tsr_status_t tsr_sheet_create_from_parts(int n_parts, const char *const *paths, int check_from,
                                         tsr_sheet_t **sheet) TSR_RESULT_USED;
/*
 * Write samples [from, to) of `sh` as a sheet that tsr_sheet_create_from_file()
 * reads back to the same samples: columns sample, population, fastq1, fastq2,
 * bam, read_group, library; one line per lane, resolved paths. Written to a
 * temporary name and renamed when complete. Not collective.
 */
tsr_status_t tsr_sheet_write(const tsr_sheet_t *sh, int from, int to, const char *path) TSR_RESULT_USED;

/* -------------------------------------------------------------- reference */

typedef struct tsr_ref tsr_ref_t;

/*
 * Open a FASTA reference through htslib's faidx (building REF.fai if it is
 * missing and the directory is writable). Not collective.
 * Close with tsr_ref_close().
 */
tsr_status_t tsr_ref_open(const char *path, tsr_ref_t **ref) TSR_RESULT_USED;
void tsr_ref_close(tsr_ref_t **ref);
int tsr_ref_n_contigs(const tsr_ref_t *ref);
const char *tsr_ref_contig_name(const tsr_ref_t *ref, int i);
int64_t tsr_ref_contig_length(const tsr_ref_t *ref, int i);
/* Index of a contig by name, -1 if absent. */
int tsr_ref_contig_index(const tsr_ref_t *ref, const char *name);
/*
 * Fetch [start, end) of a contig (0-based), upper-cased, into a new
 * NUL-terminated buffer the caller frees with free(). Thread-safe per handle
 * is NOT guaranteed: use one tsr_ref_t per thread.
 */
tsr_status_t tsr_ref_fetch(tsr_ref_t *ref, const char *contig, int64_t start, int64_t end,
                           char **seq, int64_t *len) TSR_RESULT_USED;

/* ---------------------------------------------------------- read sources */

/* One read (or one end of a pair). Buffers are owned by the reader and valid until its next call. */
typedef struct tsr_read {
    const char *name; /* without /1 /2 suffix */
    const char *seq;  /* ACGTN, in sequencing orientation */
    const char *qual; /* phred+33 */
    int len;
    int lane;         /* the lane it came from: index into tsr_reader_open_lanes()'s lanes (else 0) */
} tsr_read_t;

typedef struct tsr_reader tsr_reader_t;

/*
 * The reader front end over one or more lanes, each read by a back end
 * chosen by content (io/README.md): FASTQ (plain, gzip, BGZF; path2 the
 * mates or NULL) or unaligned BAM/CRAM (path1 only: mates are consecutive
 * records flagged read 1 / read 2, single-end when unpaired).
 * Open a single-end (path2 NULL) or paired source as one lane. Not
 * collective. Close with tsr_reader_close().
 */
tsr_status_t tsr_reader_open(const char *path1, const char *path2, tsr_reader_t **r) TSR_RESULT_USED;
/*
 * Open a sample's lanes (fastq1/fastq2 of each; read_group and library are
 * not used) as one stream read in lane order; tsr_read_t.lane says where each
 * read came from. Every lane must have the same number of segments (all
 * paired or all single-end): TSR_ERR_FORMAT naming the lane's file otherwise.
 * Not collective. Close with tsr_reader_close().
 */
tsr_status_t tsr_reader_open_lanes(int n_lanes, const tsr_lane_t *lanes, tsr_reader_t **r) TSR_RESULT_USED;
/* 2 when the source is paired (r2 is filled by tsr_reader_next), 1 when single-end. */
int tsr_reader_segments(const tsr_reader_t *r);
/*
 * Read the next record (pair), htslib style: returns 1 and fills r1 (and r2 if
 * paired), 0 at the end, or -2 on error with the message (file, record number,
 * what to do) recorded through tsr_error_set(). Mismatched pair names are an error.
 */
int tsr_reader_next(tsr_reader_t *r, tsr_read_t *r1, tsr_read_t *r2);
void tsr_reader_close(tsr_reader_t **r);

/*
 * Where a record starts in one file of a source, so a later reader can start
 * there (fixed read-pair chunks of the align stage). rec and line are the
 * records and lines before it in that file, for messages and CRAM.
 *   FASTQ: uoff is the uncompressed byte offset; for BGZF, coff is the
 *     compressed offset of the block holding it and within the offset inside
 *     that block's data (a BGZF virtual offset), else coff is -1 and a reader
 *     skips to uoff by decompressing (plain gzip) or seeking (plain text).
 *   BAM: coff/within are the BGZF virtual offset (bgzf_tell) of the record,
 *     uoff its uncompressed offset; exact from tell, locate keeps them.
 *   CRAM: uoff = rec (records before it); locate sets coff to the byte offset
 *     of the container holding it and within to the records before it in that
 *     container; with coff -1 a reader skips rec records from the start.
 */
typedef struct tsr_read_pos {
    int64_t uoff, coff, within, rec, line;
} tsr_read_pos_t;

/* A position in a lane stream: the lane, and where in that lane's file(s) (file[1] zeroed for one file). */
typedef struct tsr_stream_pos {
    int64_t lane;
    tsr_read_pos_t file[2];
} tsr_stream_pos_t;

/*
 * The position of the next record of each file of the current lane (pos[1] is
 * zeroed when the lane is one file: single-end FASTQ or BAM/CRAM). Not collective.
 */
void tsr_reader_tell(const tsr_reader_t *r, tsr_read_pos_t pos[2]);
/* The position of the next record in the stream (the current lane and tsr_reader_tell()). */
void tsr_reader_tell_stream(const tsr_reader_t *r, tsr_stream_pos_t *pos);
/*
 * Complete n positions of one file, given by tell (ascending): FASTQ fills
 * coff/within from uoff by walking its BGZF block headers (no decompression;
 * coff stays -1 and *is_bgzf is 0 when the file is not BGZF throughout); BAM
 * keeps them (*is_bgzf 1); CRAM fills coff/within from rec by walking its
 * container headers (*is_bgzf 1 when every position was placed).
 */
tsr_status_t tsr_reader_locate(const char *path, int n, tsr_read_pos_t *pos, int *is_bgzf) TSR_RESULT_USED;
/*
 * tsr_reader_locate() for n stream positions (ascending) of a sample's lanes:
 * each file of each lane is walked once. *n_direct counts the positions that
 * start directly at their block or container (the others skip by reading).
 */
tsr_status_t tsr_reader_locate_lanes(int n_lanes, const tsr_lane_t *lanes, int n, tsr_stream_pos_t *pos,
                                     int *n_direct) TSR_RESULT_USED;
/* tsr_reader_open(), then start at pos[0] (and pos[1] when paired). Close with tsr_reader_close(). */
tsr_status_t tsr_reader_open_at(const char *path1, const char *path2, const tsr_read_pos_t pos[2],
                                tsr_reader_t **r) TSR_RESULT_USED;
/* tsr_reader_open_lanes(), then start at `pos` (from tell_stream, located or not). Close with tsr_reader_close(). */
tsr_status_t tsr_reader_open_lanes_at(int n_lanes, const tsr_lane_t *lanes, const tsr_stream_pos_t *pos,
                                      tsr_reader_t **r) TSR_RESULT_USED;

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

/* --------------------------------------------------------------- call sets */

/*
 * Site filters of a call set: bit k of tsr_callset_t.filter set means filter
 * tsr_filter_name(k) applies (0 = PASS). The BCF header, stats.tsv and
 * cohort.h5's filter_id declare them in this order.
 */
typedef enum {
    TSR_FILTER_LOWQUAL = 1 << 0,    /* QUAL below --min-qual */
    TSR_FILTER_EXCHET = 1 << 1,     /* excess heterozygosity (one-sided HWE p-value below the joint threshold) */
    TSR_FILTER_STRANDBIAS = 1 << 2, /* ALT reads on one strand (phred strand-bias score above the threshold) */
    TSR_FILTER_N = 3                /* number of filters (not a bit) */
} tsr_filter_bit_t;
/* "LowQual", "ExcHet", "StrandBias": the name of filter bit k (k < TSR_FILTER_N). */
const char *tsr_filter_name(int k);
/* The VCF header description of filter bit k. */
const char *tsr_filter_description(int k);

/*
 * Joint-genotyped sites of one region over the whole cohort, the joint
 * kernel's output and the cohort writers' input. Alleles: "REF,ALT1,..."
 * (no symbolic allele). Genotypes are diploid, unphased; -1 = missing.
 */
typedef struct tsr_callset {
    char *contig;
    int64_t start, end;
    int32_t n_samples;
    int64_t n_sites;
    int64_t *pos;        /* 0-based VCF POS-1 */
    int32_t *n_alleles;
    int64_t *allele_off; /* n_sites+1 into allele_blob */
    char *allele_blob;
    float *qual;
    uint8_t *filter;     /* 0 = PASS, else bits of tsr_filter_bit_t (LowQual, ExcHet, StrandBias) */
    float *af;           /* EM allele frequencies, per site n_alleles values (offsets: af_off) */
    int64_t *af_off;     /* n_sites+1 */
    int8_t *gt;          /* n_sites*n_samples*2 */
    int32_t *gq, *dp;    /* n_sites*n_samples; -1 = missing */
    int64_t *ad_off;     /* n_sites+1; site i holds n_samples*n_alleles_i */
    int32_t *ad;
    int64_t *pl_off;     /* n_sites+1; site i holds n_samples*G_i */
    int32_t *pl;
    /* Low-pass mode only (NULL / 0 in deep mode): */
    float *ds;           /* n_sites*n_samples: expected ALT dosage (sum over ALTs of posterior x copies) */
    float *gp;           /* genotype posteriors, offsets pl_off (n_samples*G_i per site) */
    int32_t n_pops;      /* populations of pop_af (the sheet's, sorted by name) */
    float *pop_af;       /* EM allele frequencies per population: site i holds n_pops*n_alleles_i values
                            from af_off[i]*n_pops, population-major; NaN where a population has no reads */
} tsr_callset_t;

tsr_status_t tsr_callset_create(tsr_callset_t **cs) TSR_RESULT_USED;
void tsr_callset_destroy(tsr_callset_t **cs);
/* Per-region call-set file (HDF5; tmp + rename). Not collective. */
tsr_status_t tsr_callset_write(const char *path, const tsr_callset_t *cs) TSR_RESULT_USED;
tsr_status_t tsr_callset_read(const char *path, tsr_callset_t **cs) TSR_RESULT_USED;
/*
 * The same file a window of sites at a time, so that neither the kernel that
 * writes a region nor the cohort writers that read it hold the region's whole
 * call set: the memory follows the window, not the cohort. A window is a
 * tsr_callset_t of consecutive sites whose offsets start at 0.
 * tsr_callset_window_sites(N): the sites a window of N samples may hold
 * (about 32 MiB of genotype fields, at least 16); it depends only on N, so
 * outputs do not depend on the layout. The writer appends windows (`lowpass`:
 * the call set carries DS/GP/pop AF for n_pops populations) under a
 * temporary name, renamed by close(.., commit=1); the reader gives windows of
 * at most max_sites sites (0: all), one empty window for an empty call set,
 * then *cs = NULL.
 */
typedef struct tsr_callset_writer tsr_callset_writer_t;
typedef struct tsr_callset_reader tsr_callset_reader_t;
int64_t tsr_callset_window_sites(int32_t n_samples);
tsr_status_t tsr_callset_writer_open(const char *path, const char *contig, int64_t start, int64_t end,
                                     int32_t n_samples, int lowpass, int32_t n_pops,
                                     tsr_callset_writer_t **w) TSR_RESULT_USED;
tsr_status_t tsr_callset_writer_append(tsr_callset_writer_t *w, const tsr_callset_t *window) TSR_RESULT_USED;
tsr_status_t tsr_callset_writer_close(tsr_callset_writer_t **w, int commit);
tsr_status_t tsr_callset_reader_open(const char *path, tsr_callset_reader_t **r) TSR_RESULT_USED;
int64_t tsr_callset_reader_n_sites(const tsr_callset_reader_t *r);
tsr_status_t tsr_callset_reader_next(tsr_callset_reader_t *r, int64_t max_sites, tsr_callset_t **cs) TSR_RESULT_USED;
void tsr_callset_reader_close(tsr_callset_reader_t **r);

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

/* ----------------------------------------------------------- cohort output */

typedef struct tsr_cohort_writer tsr_cohort_writer_t;

/*
 * Open the cohort outputs DIR/cohort.bcf (+ .csi) and DIR/stats.tsv for
 * appending region call sets in genome order. Written to temporary names and
 * renamed by tsr_cohort_writer_close(.., commit=1); commit=0 removes them.
 * Per-population AC/AN/AF are computed from genotypes and the sheet's
 * populations. Not collective (one task writes them). cohort.h5 is written
 * by tsr_cohort_h5_write() below.
 */
tsr_status_t tsr_cohort_writer_open(const char *outdir, const tsr_ref_t *ref, const tsr_sheet_t *sheet,
                                    tsr_cohort_writer_t **w) TSR_RESULT_USED;
tsr_status_t tsr_cohort_writer_add(tsr_cohort_writer_t *w, const tsr_callset_t *cs) TSR_RESULT_USED;
tsr_status_t tsr_cohort_writer_close(tsr_cohort_writer_t **w, int commit) TSR_RESULT_USED;
/* Sites written so far. */
int64_t tsr_cohort_writer_n_sites(const tsr_cohort_writer_t *w);

/* ------------------------------------- cohort.h5, written collectively */

/*
 * Write `path` (DIR/cohort.h5; schema in io/cohort_schema.md) from the
 * per-region call-set files `callsets[0 .. n_regions)`, given in genome
 * order, with parallel HDF5 (MPI-IO driver) over a duplicate of `comm`.
 * Collective on comm: every rank passes the same arguments, reads the call
 * sets of its block of regions, computes their per-site statistics and
 * writes its rows. The file is written under rank 0's temporary name and
 * renamed by rank 0 after the collective close; on failure nothing is left.
 * Every rank returns the same status and message. *n_sites (may be NULL)
 * receives the number of variants. Dataset values do not depend on the
 * number of ranks (the file's bytes may).
 */
tsr_status_t tsr_cohort_h5_write(MPI_Comm comm, const char *path, const tsr_ref_t *ref, const tsr_sheet_t *sheet,
                                 int n_regions, const char *const *callsets, int64_t *n_sites) TSR_RESULT_USED;

/* ---------------------------------------------------- per-site statistics */

/*
 * Per-site statistics of one site for the cohort (group 0) and each
 * population (group 1 + p), with bcftools +fill-tags definitions (details and
 * the multi-allelic rule in io/cohort_schema.md):
 *   an, ns           called alleles; samples with at least one called allele
 *   nhet             samples with a diploid call of two different alleles
 *   nhomalt_any      samples with a diploid call homozygous for some ALT
 *   f_missing        samples without a called allele / samples in the group
 *   inbreeding       F = 1 - observed/expected heterozygous diploid calls (NaN when
 *                    no heterozygosity is expected)
 * and per ALT allele a (index g * (n_alleles - 1) + a):
 *   ac, af           allele count and AC/AN (NaN when AN = 0)
 *   ac_het, ac_hom   the ALT's count in heterozygous / homozygous diploid calls
 *   nhomalt          samples homozygous for the ALT (= ac_hom / 2)
 *   hwe, exchet      Hardy-Weinberg exact test p-value (Wigginton et al. 2005) and
 *                    excess-heterozygosity p-value; 1 when the ALT or the rest is absent
 * Arrays are owned by the object and valid until the next compute or destroy.
 */
typedef struct tsr_site_stats {
    int n_groups;    /* 1 + populations */
    int n_alleles;   /* of the last site computed */
    int32_t *n_samples, *an, *ns, *nhet, *nhomalt_any;
    float *f_missing;
    double *inbreeding;
    int32_t *ac, *ac_het, *ac_hom, *nhomalt;
    float *af;
    double *hwe, *exchet;
    struct tsr_site_stats_scratch *scratch;
} tsr_site_stats_t;

/*
 * Statistics for `n_samples` samples; sample j is in group 0 and, when
 * sample_pop[j] >= 0, in group 1 + sample_pop[j] (sample_pop may be NULL).
 * Not collective. Destroy with tsr_site_stats_destroy().
 */
tsr_status_t tsr_site_stats_create(int n_samples, const int *sample_pop, int n_pops,
                                   tsr_site_stats_t **st) TSR_RESULT_USED;
/*
 * Compute the statistics of one site from diploid genotypes `gt`
 * (n_samples * 2 allele indices; -1 = missing allele, -2 = no second allele,
 * i.e. a haploid call). Returns 0, or -1 - j when sample j has an allele index
 * >= n_alleles (nothing recorded: the caller names the record). Out of memory
 * returns INT32_MIN with the message recorded.
 */
int tsr_site_stats_compute(tsr_site_stats_t *st, const int32_t *gt, int n_alleles);
void tsr_site_stats_destroy(tsr_site_stats_t **st);

/*
 * The Hardy-Weinberg exact test for nref + nalt alleles (an even total, one
 * per chromosome of (nref + nalt) / 2 diploid samples) with nhet
 * heterozygotes: the two-sided p-value (sum of the probabilities of every het
 * count no more likely than the observed one, capped at 1; no mid-p) and the
 * excess-heterozygosity p-value P(het >= nhet). `probs` is scratch of at least
 * min(nref, nalt) + 1 doubles. Returns 0, or -1 when the counts are
 * inconsistent (odd total, parity of nhet and the rarer allele differ, or
 * nhet > the rarer allele's count). Both p-values are 1 when nref or nalt is 0.
 */
int tsr_hwe_exact(int64_t nref, int64_t nalt, int64_t nhet, double *probs, double *p_hwe, double *p_exchet);

/* ------------------------- cohort-wide reductions and report (issue 5) */

/*
 * Cohort-wide sufficient statistics (io/cohort_reduce.c; definitions in
 * io/cohort_schema.md): counts of sites, SNVs, indels and multi-allelic
 * sites, Ti/Tv, the site-frequency spectrum per population (REF taken as
 * the ancestral allele), the cohort AF histogram, Hudson F_ST per pair of
 * populations (Bhatia et al. 2013, ratio of sums) and per-sample QC counts.
 * Every number held is an int64 count (F_ST's per-site numerator and
 * denominator as fixed point, TSR_COHORT_FST_SCALE per unit), so merging two
 * accumulators is element-wise addition of their count arrays: the result is
 * bit-identical for any split of the sites into parts and any merge order,
 * and MPI_SUM over tsr_cohort_acc_counts() is the same merge.
 */
#define TSR_COHORT_FST_SCALE 4294967296.0 /* 2^32 */
#define TSR_COHORT_AF_BINS 20

typedef struct tsr_cohort_acc tsr_cohort_acc_t;

/*
 * An empty accumulator for `n_samples` samples (ids copied); sample j is in
 * population sample_pop[j] (< 0: cohort only; sample_pop may be NULL) of
 * `n_pops` named populations (names copied). Not collective.
 * Destroy with tsr_cohort_acc_destroy().
 */
tsr_status_t tsr_cohort_acc_create(int n_samples, const char *const *sample_ids, const int *sample_pop,
                                   int n_pops, const char *const *pop_names, tsr_cohort_acc_t **acc) TSR_RESULT_USED;
/*
 * Add one site: `alleles` (REF first, n_alleles >= 1 strings), diploid
 * genotypes `gt` (n_samples * 2 allele indices; -1 missing, -2 no second
 * allele, i.e. haploid) and read depths `dp` (n_samples, < 0 missing; NULL
 * when the input has none). TSR_ERR_FORMAT if an allele index is >= n_alleles
 * (nothing is added).
 */
tsr_status_t tsr_cohort_acc_add_site(tsr_cohort_acc_t *acc, const char *const *alleles, int n_alleles,
                                     const int32_t *gt, const int32_t *dp) TSR_RESULT_USED;
/* dst += src; TSR_ERR_INTERNAL when their samples or populations differ. */
tsr_status_t tsr_cohort_acc_merge(tsr_cohort_acc_t *dst, const tsr_cohort_acc_t *src) TSR_RESULT_USED;
/* The accumulator's count array (what merge adds) and its length; owned by acc. */
int64_t *tsr_cohort_acc_counts(tsr_cohort_acc_t *acc);
int64_t tsr_cohort_acc_n_counts(const tsr_cohort_acc_t *acc);
void tsr_cohort_acc_destroy(tsr_cohort_acc_t **acc);

/* Per-sample QC metrics that can flag an outlier (bits of tsr_cohort_sample_t.outlier). */
enum {
    TSR_QC_CALL_RATE = 1 << 0,
    TSR_QC_HET_HOM = 1 << 1,
    TSR_QC_SINGLETONS = 1 << 2,
    TSR_QC_MEAN_DP = 1 << 3,
    TSR_QC_TI_TV = 1 << 4,
    TSR_QC_N_METRICS = 5
};

typedef struct tsr_cohort_sample {
    int64_t called, nhomref, nhet, nhomalt, singletons, dp_sum, dp_n, ti, tv;
    double call_rate, het_hom, mean_dp, ti_tv; /* NaN where undefined */
    unsigned outlier;                          /* TSR_QC_* bits */
} tsr_cohort_sample_t;

typedef struct tsr_cohort_sfs {
    int n_chrom;           /* 2 x samples of the population */
    int64_t sites, skipped; /* biallelic SNVs fully called in the population; those not */
    int64_t *unfolded;     /* n_chrom + 1: sites by ALT (derived) allele count */
    int64_t *folded;       /* n_chrom / 2 + 1: by minor allele count */
} tsr_cohort_sfs_t;

typedef struct tsr_cohort_fst {
    int pop_a, pop_b;      /* a < b */
    int64_t sites;         /* biallelic SNVs with AN >= 2 in both */
    int64_t num_fixed, den_fixed; /* sums of the per-site terms x TSR_COHORT_FST_SCALE */
    double fst;            /* num / den; NaN when den is 0 */
} tsr_cohort_fst_t;

/*
 * The final statistics, computed from an accumulator's integers (the same
 * counts give the same bytes). Names are borrowed from the accumulator,
 * which must outlive the result. Destroy with tsr_cohort_result_destroy().
 */
typedef struct tsr_cohort_result {
    int n_samples, n_pops;
    const char *const *sample_ids, *const *pop_names;
    const int *sample_pop;
    int64_t sites, snv_sites, indel_sites, other_sites, multiallelic_sites, no_alt_sites;
    int64_t biallelic_snvs, transitions, transversions;
    double ti_tv;                             /* NaN when there is no transversion */
    int64_t af_hist[TSR_COHORT_AF_BINS];      /* ALT alleles by cohort AF, bins of 1/20; AF = 1 in the last */
    tsr_cohort_sfs_t *sfs;                    /* n_pops */
    int n_pairs;
    tsr_cohort_fst_t *fst;                    /* n_pops * (n_pops - 1) / 2, (0,1), (0,2), ... */
    tsr_cohort_sample_t *samples;             /* n_samples */
    double qc_median[TSR_QC_N_METRICS], qc_mad[TSR_QC_N_METRICS];
    double qc_scale[TSR_QC_N_METRICS];        /* MAD, or mean |x - median| where the MAD is 0 */
    int n_outliers;                           /* samples with any flag */
} tsr_cohort_result_t;

/* Not collective. Destroy with tsr_cohort_result_destroy(). */
tsr_status_t tsr_cohort_acc_result(const tsr_cohort_acc_t *acc, tsr_cohort_result_t **res) TSR_RESULT_USED;
void tsr_cohort_result_destroy(tsr_cohort_result_t **res);
/* The name of a TSR_QC_* bit ("call_rate", "het_hom_ratio", ...). */
const char *tsr_cohort_qc_metric_name(unsigned bit);
/* The "statistics" JSON object (no trailing newline), each line after the first prefixed by `indent`. */
tsr_status_t tsr_cohort_result_write_json(const tsr_cohort_result_t *res, FILE *fp, const char *indent) TSR_RESULT_USED;
/* DIR/sample_qc.tsv-style table at `path` (tmp + rename). */
tsr_status_t tsr_cohort_result_write_sample_qc(const tsr_cohort_result_t *res, const char *path) TSR_RESULT_USED;

/* Run facts for the report's table: n (key, value) rows, shown in order. */
typedef struct tsr_report_facts {
    int n;
    const char *const *key, *const *value;
} tsr_report_facts_t;

/*
 * report.html at `path` (tmp + rename): one self-contained HTML page, inline
 * CSS and SVG only (no script, no network): counts and Ti/Tv, SFS per
 * population, AF histogram, per-sample QC scatter with outliers, F_ST heat
 * map, and the run facts (`facts` may be NULL). Not collective.
 */
tsr_status_t tsr_report_write(const char *path, const tsr_cohort_result_t *res, const char *title,
                              const tsr_report_facts_t *facts) TSR_RESULT_USED;

/*
 * The cohort writer keeps an accumulator of every site it writes; on
 * close(commit=1) it also writes DIR/statistics.json (the "statistics"
 * object), DIR/sample_qc.tsv and DIR/report.html. Facts for the report are
 * copied; call before close. Not collective.
 */
tsr_status_t tsr_cohort_writer_set_facts(tsr_cohort_writer_t *w, const tsr_report_facts_t *facts) TSR_RESULT_USED;

/*
 * `tessera stats`: the accumulator that tsr_vcf_stats_write_region() adds
 * every site it writes to (owned by vs; valid until close).
 */
struct tsr_vcf_stats;
tsr_cohort_acc_t *tsr_vcf_stats_acc(struct tsr_vcf_stats *vs);

/* ------------------------------------------ statistics of an existing VCF */

typedef struct tsr_vcf_stats tsr_vcf_stats_t;

/*
 * Open a joint-called VCF/BCF (bgzipped, with a .csi or .tbi index) for
 * `tessera stats`. `pops` (may be NULL) is a TSV with a header naming a
 * `sample` and a `population` column (other columns are ignored, paths are
 * not checked); VCF samples absent from it count in the cohort only. Without
 * it every sample is in population "all". The region plan is the contigs of
 * the header cut into windows of `window` bp: it depends only on the file, so
 * every rank builds the same one. Not collective. Close with tsr_vcf_stats_close().
 */
tsr_status_t tsr_vcf_stats_open(const char *vcf, const char *pops, int64_t window,
                                tsr_vcf_stats_t **vs) TSR_RESULT_USED;
int tsr_vcf_stats_n_regions(const tsr_vcf_stats_t *vs);
int tsr_vcf_stats_n_samples(const tsr_vcf_stats_t *vs);
int tsr_vcf_stats_n_populations(const tsr_vcf_stats_t *vs);
/* Write the stats.tsv header line (the cohort's stats.tsv columns) to `fp`. */
tsr_status_t tsr_vcf_stats_write_header(tsr_vcf_stats_t *vs, FILE *fp) TSR_RESULT_USED;
/*
 * Write the stats.tsv lines of region `r` (records whose POS lies in the
 * window, in file order) to `fp`; adds the number of sites to *n_sites.
 */
tsr_status_t tsr_vcf_stats_write_region(tsr_vcf_stats_t *vs, int r, FILE *fp, int64_t *n_sites) TSR_RESULT_USED;
void tsr_vcf_stats_close(tsr_vcf_stats_t **vs);

/* ---------------------------------------------------------------- simulate */

typedef struct tsr_sim_opts {
    const char *outdir;
    int n_samples;       /* --samples */
    double coverage;     /* --coverage, mean read depth per sample */
    uint64_t seed;       /* --seed */
    int64_t length;      /* --length: synthetic reference length (bp) */
    const char *ref;     /* --ref: use this FASTA instead of a synthetic one */
    const char *region;  /* --region: with --ref, the piece to use ("chrX:1000000-3000000") */
    int populations;     /* --populations K */
    double fst;          /* --fst F (Balding-Nichols) */
    int bam;             /* --bam: write coordinate-sorted BAMs instead of FASTQ.gz */
    int read_length;     /* --read-length (default 150) */
    int fragment_mean;   /* --fragment-mean (default 350) */
    int fragment_sd;     /* --fragment-sd (default 50) */
    double theta;        /* --theta: SNV+indel site density per bp (Watterson theta, default 0.001) */
    double indel_fraction;      /* --indel-fraction of variant sites that are indels (default 0.12) */
    double multiallelic_fraction; /* --multiallelic-fraction of SNV sites with a second ALT (default 0.02) */
    double error_rate;   /* --error-rate: mean substitution error per base (default 0.002) */
    int threads;
} tsr_sim_opts_t;

void tsr_sim_opts_init(tsr_sim_opts_t *o);
tsr_status_t tsr_sim_opts_check(const tsr_sim_opts_t *o) TSR_RESULT_USED;

/* What the simulator produced (for printing and tests). */
typedef struct tsr_sim_summary {
    int64_t ref_length;
    int64_t n_variants, n_snv, n_indel, n_multiallelic;
    int64_t n_read_pairs;     /* over all samples */
    double realised_coverage; /* mean over samples */
    double realised_error_rate; /* substitution errors per simulated base */
} tsr_sim_summary_t;

/*
 * Write a deterministic synthetic cohort: DIR/ref.fa (+.fai), DIR/samples.tsv,
 * DIR/truth.vcf.gz (+.tbi), and per sample DIR/reads/S_1.fastq.gz +
 * S_2.fastq.gz, or DIR/bam/S.bam (+.bai) with --bam. Identical bytes for
 * the same options and seed. Not collective.
 */
tsr_status_t tsr_simulate(const tsr_sim_opts_t *o, tsr_sim_summary_t *sum) TSR_RESULT_USED;

/* ------------------------- aggregate-only export (io/aggregate_export.c) */

/* Options of `tessera export --aggregate-only`. */
typedef struct tsr_export_opts {
    const char *in;      /* a joint-called VCF/BCF (e.g. DIR/cohort.bcf) */
    const char *out;     /* FILE.vcf.gz or FILE.bcf; its CSI index is FILE.vcf.gz.csi / FILE.bcf.csi */
    int64_t min_ac;      /* --min-ac K: sites whose summed INFO/AC is below K are left out (default 1) */
    const char *fields;  /* --fields: comma-separated INFO keys to keep; NULL = every INFO key */
} tsr_export_opts_t;

typedef struct tsr_export_summary {
    int64_t n_in;        /* records read */
    int64_t n_written;   /* records written */
    int64_t n_suppressed; /* records below min_ac */
} tsr_export_summary_t;

void tsr_export_opts_init(tsr_export_opts_t *o);
/* TSR_ERR_USAGE with a message for a missing input/output, an output not ending in .vcf.gz/.bcf, min_ac < 0. */
tsr_status_t tsr_export_opts_check(const tsr_export_opts_t *o) TSR_RESULT_USED;
/*
 * Write the aggregate-only summary of o->in to o->out: every site with its
 * QUAL, FILTER and INFO, no per-sample data at all (no FORMAT lines or
 * fields, no sample columns, no ##SAMPLE/##PEDIGREE lines; genotypes are
 * never unpacked). Sites whose summed INFO/AC is below o->min_ac are
 * suppressed; with min_ac > 0 an input without INFO/AC, or a record without
 * it, is TSR_ERR_FORMAT naming the record. A `fields` entry naming a FORMAT
 * key is refused (TSR_ERR_USAGE) before anything is written. The file and
 * its index are written under temporary names and renamed when complete: an
 * existing o->out is replaced whole or left untouched. Not collective.
 */
tsr_status_t tsr_export_aggregate_write(const tsr_export_opts_t *o, tsr_export_summary_t *sum) TSR_RESULT_USED;

/* ------------------------------------------ gVCF export (io/gvcf_export.c) */

/* Options of `tessera export --gvcf SAMPLE`. */
typedef struct tsr_gvcf_opts {
    const char *dir;    /* a tessera output directory with evidence partitions */
    const char *sample; /* the sample to export */
    const char *ref;    /* the run's reference FASTA (REF bases of the reference blocks) */
    const char *out;    /* FILE.vcf.gz; its tabix index is FILE.vcf.gz.tbi */
} tsr_gvcf_opts_t;

/*
 * Write one sample's gVCF from DIR/evidence (convention in io/gvcf_export.c:
 * bcftools' `<*>` allele with INFO/END and FORMAT/MIN_DP blocks; uncovered
 * positions have no record). The file and its index are written under
 * temporary names and renamed when complete. *n_parts counts the partitions
 * read. Errors name the file; an unknown sample is TSR_ERR_USAGE. Not collective.
 */
tsr_status_t tsr_gvcf_export(const tsr_gvcf_opts_t *o, int64_t *n_parts) TSR_RESULT_USED;

#ifdef __cplusplus
}
#endif
#endif /* TSR_IO_H */
