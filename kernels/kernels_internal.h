/*
 * kernels_internal.h - private to kernels/: the pure computations behind the
 * kernel objects, callable (and unit-testable) without MPI, a plan or a
 * scheduler. Nothing outside kernels/ (and tests/kernels/) may include it.
 */
#ifndef TSR_KERNELS_INTERNAL_H
#define TSR_KERNELS_INTERNAL_H

#include "io/io.h"
#include "runtime/runtime.h"

#include <stdint.h>

/* ================================================== call + joint (begin) */

/*
 * Options of the call computation (kernels/call_region.c). Defaults from
 * tsr_call_opts_init(); tsr_call_opts_check() names the first bad field.
 */
typedef struct tsr_call_opts {
    int min_mapq;           /* reads below are skipped (default 20) */
    int min_baseq;          /* bases below are not counted (default 13) */
    int min_alt_reads;      /* SNV candidate: reads of one alt base in one sample (default 2) */
    double min_alt_frac;    /* ... and this fraction of that sample's depth (default 0.1) */
    int min_pool_alt_reads; /* or: reads of one alt base summed over the batch (default 3) */
    double min_pool_alt_frac; /* ... and this fraction of the batch's summed depth (default 0.05) */
    int min_indel_reads;    /* indel candidate: reads with the same event in one sample, or summed over the
                             * batch (default 2) */
    double min_indel_frac;  /* ... and this fraction of the sample's (summed) depth at the anchor (default 0.1) */
    double indel_error;     /* pair-HMM gap-open probability outside repeats (default 3.16e-5, Q45; lower in repeats) */
    double phase_weight;    /* read-backed phase: weight that an anchor het is real (default 0.9; 0 turns it off) */
    const char *ref_path;   /* FASTA (with .fai) that CRAM input decodes against; NULL: the CRAM's own M5/UR */
} tsr_call_opts_t;

void tsr_call_opts_init(tsr_call_opts_t *o);
tsr_status_t tsr_call_opts_check(const tsr_call_opts_t *o) TSR_RESULT_USED;

/*
 * Call one region of one sample batch: pileup of each sample's
 * coordinate-sorted, indexed BAM/CRAM over contig:[start, end), candidate
 * SNV and indel sites, per-sample genotype likelihoods (PL), AD, DP and
 * reference-confidence blocks (see kernels/README.md for the model).
 *   ref_seq/ref_len: upper-case reference of [start, start + ref_len), with
 *     ref_len >= end - start; bases beyond `end` let deletions anchored near
 *     the end carry their full REF (deletions reaching past ref_len are ignored).
 *   sample_ids/aln_paths: n_samples each; ids are copied into the result.
 *   pool: runs the samples in parallel when non-NULL (NULL: this thread).
 * Errors name the alignment file. Not collective. *out is destroyed with
 * tsr_evidence_destroy().
 */
tsr_status_t tsr_call_region(const char *ref_seq, int64_t ref_len, const char *contig, int64_t start,
                             int64_t end, int n_samples, const char *const *sample_ids,
                             const char *const *aln_paths, const tsr_call_opts_t *o, tsr_pool_t *pool,
                             tsr_evidence_t **out) TSR_RESULT_USED;

/* Options of the joint computation (kernels/joint_em.c). */
typedef struct tsr_joint_opts {
    double min_qual;        /* QUAL below sets filter bit 0 LowQual (default 30) */
    int max_iter;           /* EM iterations at most (default 50) */
    double tol;             /* EM stops when no frequency moves more than this (default 1e-6) */
    double block_error;     /* per-read error of a reference-confidence block (default 0.01) */
    double min_alt_count;   /* an ALT allele whose expected count is below is dropped (default 0.5) */
    double min_site_qual;   /* a site whose QUAL is below is dropped (default 1) */
    double max_qual;        /* QUAL is capped here (default 9999) */
    double max_strand_fs;   /* StrandBias (filter bit 2) when the phred-scaled two-sided Fisher exact p-value
                             * of REF vs ALT reads by strand, summed over the cohort, is above (default 60,
                             * GATK's FS hard filter) */
    double max_exchet_phred; /* ExcHet (filter bit 1) when the phred-scaled excess-heterozygosity p-value of
                             * the called genotypes (REF vs any ALT) is above (default 54.69, GATK ExcessHet) */
    double titv;            /* Ti/Tv ratio of the SNV spectrum prior added to QUAL (default 2.0; 0.5 = uniform,
                             * no effect) */
    int max_alleles;        /* alleles (REF included) a site is genotyped over; beyond, the ALTs with the
                             * fewest reads are dropped with a warning (default and most 127: int8 GT) */
} tsr_joint_opts_t;

void tsr_joint_opts_init(tsr_joint_opts_t *o);
tsr_status_t tsr_joint_opts_check(const tsr_joint_opts_t *o) TSR_RESULT_USED;

/*
 * Joint-genotype one region over all its batches (in batch order; the
 * cohort's samples are the batches' samples concatenated). Records of one
 * position (an SNV and an indel record, in one batch or across batches) are
 * merged into one site with the union of their alleles. Batches must
 * share contig, start and end. ref_seq (NUL-terminated, the reference from
 * `start`, may be NULL) is used to verify that every site's REF agrees with
 * the reference. Deterministic for a given input. Not collective. *out is
 * destroyed with tsr_callset_destroy().
 */
tsr_status_t tsr_joint_region(tsr_evidence_t *const *batches, int n_batches, const char *ref_seq,
                              const tsr_joint_opts_t *o, tsr_callset_t **out) TSR_RESULT_USED;

/* Index of diploid genotype a/b (any order) in VCF order: b*(b+1)/2 + a for a <= b. */
static inline int tsr_gt_index(int a, int b)
{
    if (a > b) {
        int t = a;
        a = b;
        b = t;
    }
    return b * (b + 1) / 2 + a;
}

/* ==================================================== call + joint (end) */

#endif /* TSR_KERNELS_INTERNAL_H */
