/*
 * io/export.h - exports other tools read: the aggregate-only VCF/BCF
 * (io/aggregate_export.c) and one sample's gVCF (io/gvcf_export.c).
 * Part of io's public interface.
 */
#ifndef TSR_IO_EXPORT_H
#define TSR_IO_EXPORT_H

#include "runtime/runtime.h"
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------- aggregate-only export (io/aggregate_export.c) */

/* Options of `tessera export --aggregate-only`. */
typedef struct tsr_export_opts {
    const char *in;      /* a joint-called VCF/BCF (e.g. DIR/cohort.bcf) */
    const char *out;     /* FILE.vcf.gz or FILE.bcf; its CSI index is FILE.vcf.gz.csi / FILE.bcf.csi */
    int64_t min_ac;      /* --min-ac K: sites whose summed INFO/AC is below K are left out (default 1) */
    const char *fields;  /* --fields: comma-separated INFO keys to keep; NULL = every INFO key */
    /* the source run's audit head ("sha256:<hex>", `tessera verify`), written as ##tessera_source_audit; NULL = none */
    const char *source_head;
    /*
     * Federated export (the input of `tessera merge`), when sheet != NULL: per population the diploid
     * genotype counts of every site (INFO/GTC_<pop>), the callable mask beside the output
     * (tsr_export_mask_path), reference MD5s, mode, populations and version in the header.
     */
    const struct tsr_sheet *sheet; /* the run's samples and populations */
    const char *run_dir;           /* the run directory: DIR/evidence gives the callable mask */
    const char *ref;               /* the run's reference FASTA: the contigs' MD5s */
    const char *mode;              /* the run's mode ("deep") */
    const char *version;           /* tessera's version */
    double alpha;                  /* the membership test's false-positive rate [0.05] */
    double max_power;              /* --max-membership-power P: refuse an export above it (0: no limit) */
    /* --drop-to-power: above max_power, drop the lowest-MAF sites (INFO/AF; ties: the later site first) until
     * the power is <= max_power, instead of refusing */
    int drop_to_power;
    /*
     * Low-pass federated export (mode "lowpass"): ln L(freq) = sum over rows of ln sum_g gl[g] P_HWE(g | freq),
     * the low-pass kernel's tsr_lp_loglik, handed in by the command layer because io/ sits below kernels/.
     * Each site then carries INFO/LLC_<pop>, the population's log-likelihood curve of each ALT's frequency
     * on the grid tsr_lp_curve_freq (instead of GTC_<pop>), and no callable mask is written.
     */
    double (*loglik)(int n_rows, int n_alleles, const double *gl, const double *freq);
} tsr_export_opts_t;

typedef struct tsr_export_summary {
    int64_t n_in;        /* records read */
    int64_t n_written;   /* records written */
    int64_t n_suppressed; /* records below min_ac */
    int64_t n_dropped;    /* records dropped by --drop-to-power */
    char content_sha256[72]; /* "sha256:<hex>" of the data lines as VCF text (also in the header) */
    /* federated export: the callable mask's SHA-256 (of its uncompressed text) and its intervals */
    char mask_sha256[72];
    int64_t n_mask_intervals;
    /* the release's membership-inference power (tsr_membership_power) for its sites and samples */
    int64_t n_samples;
    double membership_power;
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
 * existing o->out is replaced whole or left untouched. The header carries
 * the source run's head (o->source_head) and the file's own content hash:
 * ##tessera_content_sha256=sha256:<hex>, the SHA-256 of its data lines as VCF
 * text (what `bcftools view -H FILE | sha256sum` prints), computed by a
 * first pass over the input before the header is written. Not collective.
 */
tsr_status_t tsr_export_aggregate_write(const tsr_export_opts_t *o, tsr_export_summary_t *sum) TSR_RESULT_USED;

/*
 * Power of the likelihood-ratio membership test (Sankararaman et al. 2009,
 * Nat Genet 41:965) against a release of n_sites independent sites' allele
 * frequencies from n_samples individuals, at false-positive rate alpha, in
 * its normal approximation with a large reference panel:
 * Phi(sqrt(M/N) - z_(1-alpha)). Not collective.
 */
double tsr_membership_power(int64_t n_sites, int64_t n_samples, double alpha);
/*
 * The most sites, at most n_sites, whose release keeps tsr_membership_power <= max_power; -1 when even
 * none does (max_power below alpha). Not collective.
 */
int64_t tsr_membership_max_sites(int64_t n_sites, int64_t n_samples, double alpha, double max_power);
/*
 * Which of n sites --drop-to-power drops to keep `keep` of them: the lowest minor-allele frequencies
 * maf[i] first, ties the later site (higher i) first. drop[i] = 1 for a dropped site. Returns 0, -1 when
 * out of memory. Not collective.
 */
int tsr_membership_drop(int64_t n, const double *maf, int64_t keep, uint8_t *drop);

/*
 * The low-pass federated export's frequency grid: TSR_LP_CURVE_K points p_k = sin^2(pi/2 * k / (K - 1)),
 * uniform in the arcsine scale where a frequency estimate's standard error is nearly constant, so the grid
 * is densest near 0 and 1 where rare alleles sit. Not collective.
 */
#define TSR_LP_CURVE_K 101
double tsr_lp_curve_freq(int k);
/*
 * The maximum-likelihood frequency of a log-likelihood curve l[0 .. TSR_LP_CURVE_K) on that grid: the best
 * grid point refined by the parabola through it and its two neighbours (in the arcsine scale), kept within
 * one grid step. Not collective.
 */
double tsr_lp_curve_argmax(const double *l);

/* The callable mask of a federated export at `out`: "<out>.callable.bed.gz". TSR_ERR_USAGE if too long. */
tsr_status_t tsr_export_mask_path(const char *out, char *buf, size_t len) TSR_RESULT_USED;
/*
 * Write the callable mask of the run `run_dir` (io/callable_mask.c: its
 * definition and format) to `path` (the caller renames it into place): per
 * interval the number of callable samples of each of sheet's populations.
 * sha receives "sha256:<hex>" of the uncompressed text, *n_intervals the
 * intervals written. Not collective.
 */
tsr_status_t tsr_callable_mask_write(const char *run_dir, const struct tsr_sheet *sheet, const char *path,
                                     char sha[72], int64_t *n_intervals) TSR_RESULT_USED;

/*
 * The low-pass federated export's depth mask (at tsr_export_mask_path too): per window of
 * TSR_LP_DEPTH_WINDOW bases of each evidence region (from the region's start, the last one shorter) and
 * per population, the number of (sample, base) pairs of the window covered by exactly k reference-matching
 * reads, k = 1 .. TSR_LP_DEPTH_BINS (the last bin: k or more). Header "#CHROM START END" then one column
 * per (population, k) named "pop:k"; windows without coverage have no line. What `tessera merge` turns into
 * the evidence of a site this institution did not report: sum_k (count_k / window length) samples with k
 * reference reads. *ref_qual receives the mean of the samples' mean reference base quality (the quality
 * the low-pass kernel gives reference observations), other outputs as tsr_callable_mask_write. Not
 * collective.
 */
#define TSR_LP_DEPTH_WINDOW 500
#define TSR_LP_DEPTH_BINS 8
tsr_status_t tsr_depth_mask_write(const char *run_dir, const struct tsr_sheet *sheet, const char *path,
                                  char sha[72], int64_t *n_intervals, double *ref_qual) TSR_RESULT_USED;

/* ------------------------------------------ gVCF export (io/gvcf_export.c) */

/* Options of `tessera export --gvcf SAMPLE`. */
typedef struct tsr_gvcf_opts {
    const char *dir;    /* a tessera output directory with evidence partitions */
    const char *sample; /* the sample to export */
    const char *ref;    /* the run's reference FASTA (REF bases of the reference blocks) */
    const char *out;    /* FILE.vcf.gz; its index is FILE.vcf.gz.tbi (.csi past 2^29 bases, io/hts_index.h) */
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
#endif /* TSR_IO_EXPORT_H */
