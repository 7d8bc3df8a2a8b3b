/*
 * stats.h - the statistics module: per-site statistics (AC/AN/AF, HWE, ExcHet,
 * F per population), cohort-wide reductions (SFS, Ti/Tv, site classes, Hudson
 * F_ST, per-sample QC) that merge by addition, the report, statistics of an
 * existing VCF/BCF (`tessera stats`), and the cohort outputs whose records
 * carry these statistics (cohort.bcf + stats.tsv, cohort.h5).
 *
 * Layer 2: may include runtime/ and io/ (and htslib, HDF5). Included by
 * kernels/pipeline/ and kernels/cli/; never by io/, scheduler/ or runtime/.
 */
#ifndef TSR_STATS_H
#define TSR_STATS_H

#include "runtime/runtime.h"
#include "io/io.h"
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

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
/* The low-pass SFS's discovery power model (tsr_lp_power_fn, below; NULL: none, the default). */
void tsr_cohort_writer_set_lp_power(tsr_cohort_writer_t *w, int (*fn)(int, const double *, const int64_t *,
                                                                       const int64_t *, int, int, double, int,
                                                                       double *));

/*
 * The parallel cohort stage (deep call sets): each part (a group of regions,
 * in genome order) is written by its own task, then one task joins them.
 * tsr_cohort_writer_open_part() writes DIR/TSR_COHORT_PART_DIR/pNNNNN.bcf
 * (a whole BGZF BCF, header included), .tsv (stats.tsv's lines, no header)
 * and .acc (the part's cohort-wide reductions as counts,
 * tsr_cohort_acc_counts_write) on commit; it takes deep call sets only
 * (tsr_cohort_writer_add). tsr_cohort_writer_open_concat() makes DIR's
 * cohort.bcf (+.csi), stats.tsv, statistics.json, sample_qc.tsv and
 * report.html from parts appended in order with
 * tsr_cohort_writer_add_part(): the part's BGZF blocks are copied (its
 * header skipped after the first part, its EOF block dropped; one EOF block
 * ends the file), its lines appended, its counts added (integers: the
 * statistics do not depend on the split). The CSI index is built on the
 * joined file at commit (bcf_index_build3: one read of the records). Close
 * both with tsr_cohort_writer_close(). Not collective.
 * tsr_cohort_part_path() gives part `part`'s file of kind 0 (BCF), 1 (TSV) or
 * 2 (counts) relative to DIR: cohort_parts/gGGGGG/pNNNNN.*, GGGGG = part / 1000.
 */
#define TSR_COHORT_PART_DIR "cohort_parts"
#define TSR_COHORT_PART_FANOUT 1000
tsr_status_t tsr_cohort_writer_open_part(const char *outdir, int part, const tsr_ref_t *ref,
                                         const tsr_sheet_t *sheet, tsr_cohort_writer_t **w) TSR_RESULT_USED;
tsr_status_t tsr_cohort_writer_open_concat(const char *outdir, const tsr_ref_t *ref, const tsr_sheet_t *sheet,
                                           tsr_cohort_writer_t **w) TSR_RESULT_USED;
tsr_status_t tsr_cohort_writer_add_part(tsr_cohort_writer_t *w, int part) TSR_RESULT_USED;
void tsr_cohort_part_path(int part, int kind, char *buf, size_t len);

/* ------------------------------------- cohort.h5, written collectively */

/*
 * Write `path` (DIR/cohort.h5; schema in io/cohort_schema.md) from the
 * per-region call-set files `callsets[0 .. n_regions)`, given in genome
 * order, with parallel HDF5 (MPI-IO driver) over a duplicate of `comm`.
 * Collective on comm: every rank passes the same arguments, reads the call
 * sets of its block of regions, computes their per-site statistics and
 * writes its rows. The file is written under rank 0's temporary name and
 * renamed by rank 0 after the collective close; on failure nothing is left.
 * Every rank returns the same status and message. mem_bytes (<= 0: the
 * default, 64 MiB) bounds the row block written per round and the call-set
 * window read (half each; a chunk-row and 16 sites at least). *n_sites (may
 * be NULL) receives the number of variants. Dataset values do not depend on the
 * number of ranks (the file's bytes may).
 */
tsr_status_t tsr_cohort_h5_write(MPI_Comm comm, const char *path, const tsr_ref_t *ref, const tsr_sheet_t *sheet,
                                 int n_regions, const char *const *callsets, int64_t mem_bytes,
                                 int64_t *n_sites) TSR_RESULT_USED;

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
 * Cohort-wide sufficient statistics (kernels/stats/cohort_reduce.c; definitions in
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
/*
 * The same with the published ALT frequencies `af` (n_alleles - 1 values;
 * low-pass: the EM estimates) binned in the AF histogram instead of AC/AN of
 * the genotypes; af NULL is tsr_cohort_acc_add_site().
 */
tsr_status_t tsr_cohort_acc_add_site_af(tsr_cohort_acc_t *acc, const char *const *alleles, int n_alleles,
                                        const int32_t *gt, const int32_t *dp, const float *af) TSR_RESULT_USED;
/* dst += src; TSR_ERR_INTERNAL when their samples or populations differ. */
tsr_status_t tsr_cohort_acc_merge(tsr_cohort_acc_t *dst, const tsr_cohort_acc_t *src) TSR_RESULT_USED;
/* The accumulator's count array (what merge adds) and its length; owned by acc. */
int64_t *tsr_cohort_acc_counts(tsr_cohort_acc_t *acc);
int64_t tsr_cohort_acc_n_counts(const tsr_cohort_acc_t *acc);
/* Zero every count: the accumulator is empty again (samples and populations kept). */
void tsr_cohort_acc_reset(tsr_cohort_acc_t *acc);
/*
 * The count array as a file, so that parts computed apart merge later:
 * "TSRACC01" (8 bytes), the number of counts (int64), then the counts (int64),
 * every int64 little-endian. tsr_cohort_acc_counts_write() writes acc's to fp;
 * tsr_cohort_acc_counts_add() reads one from fp and adds it to acc (the
 * merge), a block at a time, so memory does not grow with the file. A wrong
 * header, another number of counts, a short or a long file is
 * TSR_ERR_FORMAT naming `name` (acc may then hold part of the file: discard
 * it). The caller opens and closes fp. Not collective.
 */
tsr_status_t tsr_cohort_acc_counts_write(const tsr_cohort_acc_t *acc, FILE *fp, const char *name) TSR_RESULT_USED;
tsr_status_t tsr_cohort_acc_counts_add(tsr_cohort_acc_t *acc, FILE *fp, const char *name) TSR_RESULT_USED;
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
    const struct tsr_lp_result *lp;           /* low-pass: the likelihood statistics published instead of
                                                 the hard-call SFS and F_ST (NULL in deep mode; borrowed) */
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
 * population, AF histogram, per-sample QC scatter with outliers (left out
 * when res->samples is NULL, as for a federated merge), F_ST heat map, and
 * the run facts (`facts` may be NULL). Not collective.
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

/* ---------------------------- statistics from genotype likelihoods (low-pass) */

/*
 * Low-pass mode publishes statistics computed from the genotype likelihoods
 * (kernels/stats/lowpass_stats.c; definitions in io/cohort_schema.md), not
 * from hard genotype calls, which at 0.1-1x are mostly the prior.
 *
 * tsr_lp_hwe_test: `m` samples' likelihoods of 0, 1 and 2 ALT copies
 * (lik[3 j + k], any positive scale per sample) and their read counts
 * (`depth`, NULL or entries <= 0: inferred from the likelihoods). Genotype
 * frequencies g by EM without the HWE constraint, the likelihood-ratio
 * statistic against the HWE fit (allele frequency by EM from p_start), and
 * the HWE p-value of the score test of F = 0, its null distribution given
 * the read counts by a saddlepoint approximation (lowpass_stats.c says why not
 * the LRT's chi-square; samples with flat likelihoods left out; p-values 1
 * where every sample's reads show one allele only); the one-sided
 * excess-heterozygosity p-value of the
 * same test, and the inbreeding coefficient F = 1 - g1 / (2 p (1 - p)),
 * p = g1 / 2 + g2 (NaN, with p-values 1, when the site is monomorphic in the
 * fit). Returns 0 (-1 out of memory).
 */
typedef struct tsr_lp_hwe {
    double g[3];        /* genotype frequencies, 0/1/2 ALT copies */
    double p;           /* ALT frequency g1 / 2 + g2 */
    double lrt;         /* 2 (ll unconstrained - ll HWE), >= 0 */
    double p_hwe, p_exchet, F; /* score-test p-values (two-sided; heterozygote excess) */
    int n;              /* samples */
} tsr_lp_hwe_t;
int tsr_lp_hwe_test(const double *lik, const int32_t *depth, int m, double p_start, tsr_lp_hwe_t *out);
/*
 * tsr_lp_hwe_test_rows: the same test over a histogram of likelihood rows: row j (lik[3 j + k], depth[j])
 * stands for count[j] samples (count NULL: 1 each; out->n = the counts summed). Every EM iteration and the
 * score test cost O(rows), not O(samples): at 0.1-1x a site's samples take a few dozen distinct rows
 * (0-2 reads, quantised PL). Values are those of tsr_lp_hwe_test over the samples to the last digits (a
 * row's terms are multiplied by its count instead of added count times); with every count 1 they are
 * bitwise the same. tsr_lp_hwe_test itself collapses its rows (bitwise equal likelihoods and read count,
 * in first-appearance order) and calls this; it returns -1 (out: no test) when out of memory. Returns 0.
 */
int tsr_lp_hwe_test_rows(const double *lik, const int32_t *depth, const int32_t *count, int n_rows, double p_start,
                         tsr_lp_hwe_t *out);
/* 10^(-PL/10): the likelihood of a phred-scaled PL (< 0 counts as 0). */
double tsr_lp_pl_to_lik(int32_t pl);

/*
 * Sample-allele-frequency likelihoods of one site in one population: L(k) =
 * P(reads | k ALT copies among the 2 n_ind chromosomes), k = lo .. lo+len-1,
 * scaled to a maximum of 1; outside the band L(k) < 1e-12 of the maximum.
 * `lik` holds the m (<= n_ind) samples with reads (3 values each, as above);
 * the other n_ind - m samples carry no information. len = 0: no sample has
 * reads (L flat). The object holds scratch reused between sites; zero it
 * before first use, free with tsr_lp_saf_destroy(). Returns 0, -1 on out of
 * memory or invalid input.
 */
typedef struct tsr_lp_saf {
    int lo, len;
    double *v;                  /* v[0 .. len) */
    double *tmp, *lf;           /* scratch, log factorials */
    int cap;
} tsr_lp_saf_t;
int tsr_lp_saf_compute(tsr_lp_saf_t *s, const double *lik, int m, int n_ind);
void tsr_lp_saf_destroy(tsr_lp_saf_t *s);

/*
 * The maximum-likelihood SFS (n_chrom + 1 probabilities) of n_sites sites
 * given their SAF bands (lo, len, v; len 0 = flat) by EM from a uniform start,
 * until the L1 change is below tol or max_iter iterations. Returns the
 * iterations run, -1 on out of memory.
 */
int tsr_lp_sfs_em(int n_sites, const int *lo, const int *len, const float *const *v, int n_chrom, int max_iter,
                  double tol, double *sfs);

/* 64-bit hash of a site, the key of the SFS's bottom-k site sample. */
uint64_t tsr_lp_site_hash(const char *contig, int64_t pos, const char *alleles);

#define TSR_LP_SFS_SITES 8192    /* sites per population kept for the SFS EM (bottom-k by hash) */
#define TSR_LP_SFS_MAX_ITER 100 /* realSFS defaults: 100 iterations, tolerance 1e-6 */

/*
 * Accumulator of the cohort-wide likelihood statistics: per population the
 * biallelic SNV count and a bottom-k sample (k = max_sites, 0: the default
 * TSR_LP_SFS_SITES) of their SAF bands; per pair of populations Hudson F_ST's
 * numerator and denominator from EM frequencies (fixed point,
 * TSR_COHORT_FST_SCALE); per sample the sites with reads and the summed
 * posterior probability of a heterozygous genotype. Merging is exact and
 * order-independent (sums, and the union of two bottom-k samples). Not
 * collective. Destroy with tsr_lp_acc_destroy().
 */
typedef struct tsr_lp_acc tsr_lp_acc_t;
tsr_status_t tsr_lp_acc_create(int n_samples, const int *sample_pop, int n_pops, int max_sites,
                               tsr_lp_acc_t **acc) TSR_RESULT_USED;
/* Add site i of a low-pass call set (`alleles` "REF,ALT,..."; bisnv: a biallelic SNV). */
tsr_status_t tsr_lp_acc_add_site(tsr_lp_acc_t *acc, const tsr_callset_t *cs, int64_t i, const char *alleles,
                                 int bisnv) TSR_RESULT_USED;
/* dst += src (src's sample order may be changed). */
tsr_status_t tsr_lp_acc_merge(tsr_lp_acc_t *dst, tsr_lp_acc_t *src) TSR_RESULT_USED;
void tsr_lp_acc_destroy(tsr_lp_acc_t **acc);

/*
 * The discovery power model of the published low-pass SFS: pw[0..K_max] = P(a biallelic SNV with K ALT
 * copies among the cohort's 2 n_samples chromosomes is reported without LowQual), from each sample's mean
 * depth lam[], histograms of one-read PLs (qh_ref / qh_alt[PL], n_qh bins: the PL of the other homozygote
 * of a sample with one REF / ALT read), the fewest ALT observations of a record and the LowQual bar.
 * Returns 0; 1 when an input is empty (no model); -1 on out of memory. The model is discovery's
 * (tsr_lp_power, kernels/kernels.h), a layer above: the pipeline hands it to the cohort writer; unset
 * (NULL), the published spectrum is the reported sites' (tsr_lp_sfs_t.power_model 0).
 */
typedef int (*tsr_lp_power_fn)(int n_samples, const double *lam, const int64_t *qh_ref, const int64_t *qh_alt,
                               int n_qh, int min_alt_obs, double min_qual, int K_max, double *pw);
/* The accumulator's power model (NULL, the default: none); tsr_cohort_writer_set_lp_power sets the writer's. */
void tsr_lp_acc_set_power(tsr_lp_acc_t *acc, tsr_lp_power_fn fn);

typedef struct tsr_lp_sfs {
    int n_chrom;          /* 2 x samples of the population */
    int64_t sites;        /* biallelic SNVs */
    int sampled;          /* of them in the EM (all when <= TSR_LP_SFS_SITES) */
    int iterations;
    double *unfolded;     /* n_chrom + 1: expected sites by ALT allele count: every variant when power_model,
                             else the reported ones */
    double *folded;       /* n_chrom / 2 + 1 */
    double *discovered;   /* n_chrom + 1: the reported biallelic SNVs without LowQual (conditional on discovery) */
    int power_model;      /* unfolded is corrected by the discovery power model */
    double prior_exponent; /* one population: the sites' prior over k is k^-prior_exponent (fitted); else NaN */
} tsr_lp_sfs_t;

/*
 * The 2D SFS of a pair of populations (a < b) by EM over the sites of the
 * SFS sample, on bins of allele counts (one count a bin up to
 * TSR_LP_SFS2D_BINS - 1 chromosomes; beyond, {0}, runs of counts, {2n}:
 * bin i of a holds counts first_a[i] .. first_a[i+1]-1), and Hudson F_ST
 * from it (realSFS fst's approach with Hudson's estimator): per site the
 * posterior over the cells, the expected per-site numerator and denominator
 * with the sample allele frequencies of all 2n chromosomes; ratio of sums.
 */
#define TSR_LP_SFS2D_BINS 52
typedef struct tsr_lp_sfs2d {
    int pop_a, pop_b;
    int n_a, n_b;                 /* bins */
    int *first_a, *first_b;       /* n_a + 1, n_b + 1 */
    double *sfs;                  /* n_a x n_b expected site counts, row-major (a) */
    int sites_in_em, iterations;
    double num, den, fst;         /* sums over the sites in the EM; fst = num / den */
} tsr_lp_sfs2d_t;

typedef struct tsr_lp_result {
    int n_pops, n_pairs, n_samples;
    tsr_lp_sfs_t *sfs;            /* n_pops */
    tsr_lp_sfs2d_t *sfs2d;        /* n_pairs, (0,1), (0,2), ... */
    tsr_cohort_fst_t *fst;        /* n_pairs: Hudson from EM frequencies (sums over every site) */
    int64_t *het_sites;           /* per sample: sites with reads */
    double *het_rate;             /* per sample: mean posterior P(het) over them (NaN without) */
    double *het_em;               /* per sample: heterozygous genotype frequency by EM over its biallelic SNVs
                                     with reads (single-sample SFS; NaN without) */
} tsr_lp_result_t;
/* The SFS by EM, F_ST and heterozygosity. Not collective. Destroy with tsr_lp_result_destroy(). */
tsr_status_t tsr_lp_acc_result(tsr_lp_acc_t *acc, tsr_lp_result_t **res) TSR_RESULT_USED;
void tsr_lp_result_destroy(tsr_lp_result_t **res);

/*
 * Replace the statistics of site i of a low-pass call set in `st` (computed
 * by tsr_site_stats_compute from its genotypes, which are missing exactly
 * where a sample has no reads) by likelihood-based ones: AF = the EM
 * frequency (cohort, population), AN = 2 x samples with reads (unchanged),
 * AC = round(AF x AN), HWE / ExcHet / F by tsr_lp_hwe_test per ALT (ALT
 * versus the other alleles), AC_Het, nhomalt (AC_Hom = 2 nhomalt), nhet and
 * nhomalt_any from the EM genotype frequencies x NS, rounded. Returns 0, or
 * INT32_MIN on out of memory with the message recorded.
 */
int tsr_site_stats_lowpass(tsr_site_stats_t *st, const tsr_callset_t *cs, int64_t i);

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
/*
 * Region r (0 <= r < n_regions): its contig's name (owned by vs) and its
 * 0-based half-open window [*start, *end); a contig without a length in the
 * header is one region with a very large *end.
 */
const char *tsr_vcf_stats_region(const tsr_vcf_stats_t *vs, int r, int64_t *start, int64_t *end);
/*
 * An empty cohort-wide accumulator for the file's samples and populations
 * (what tsr_vcf_stats_write_region() adds to). Destroy with tsr_cohort_acc_destroy().
 */
tsr_status_t tsr_vcf_stats_acc_create(const tsr_vcf_stats_t *vs, tsr_cohort_acc_t **acc) TSR_RESULT_USED;
/* Write the stats.tsv header line (the cohort's stats.tsv columns) to `fp`. */
tsr_status_t tsr_vcf_stats_write_header(tsr_vcf_stats_t *vs, FILE *fp) TSR_RESULT_USED;
/*
 * Write the stats.tsv lines of region `r` (records whose POS lies in the
 * window, in file order) to `fp`, add each site to `acc` (from
 * tsr_vcf_stats_acc_create(); NULL: none) and the number of sites to *n_sites.
 * Every record is in exactly one region, so the regions' lines in order are
 * the file's stats.tsv and the sum of their accumulators is the file's.
 */
tsr_status_t tsr_vcf_stats_write_region(tsr_vcf_stats_t *vs, int r, FILE *fp, tsr_cohort_acc_t *acc,
                                        int64_t *n_sites) TSR_RESULT_USED;
void tsr_vcf_stats_close(tsr_vcf_stats_t **vs);

/* ------------------------- federated merge (kernels/stats/federated_merge.c) */

/* Options of `tessera merge`. */
typedef struct tsr_merge_opts {
    int n_inputs;
    const char *const *inputs; /* federated exports (tessera export --aggregate-only --in DIR) */
    const char *out;           /* FILE.vcf.gz (+ .csi); beside it FILE.stats.tsv and FILE.statistics.json */
    int64_t min_ac;            /* --min-ac K: merged sites whose total ALT count is below K are not released [1] */
    int64_t window;            /* bp per parallel task [1,000,000] */
    double alpha;              /* the membership test's false-positive rate [0.05] */
    double max_power;          /* --max-membership-power P: refuse a release above it (0: no limit) */
    int drop_to_power;         /* --drop-to-power: above P drop the lowest-MAF sites (tsr_membership_drop) instead */
    const char *version;       /* tessera's, for the header */
    /*
     * Low-pass inputs: ln L(freq) with row s counted weight[s] times, the low-pass kernel's
     * tsr_lp_loglik_weighted (handed in by the command layer: kernels/ sits above this module); it turns an
     * input's depth mask into the evidence of a site that input did not report.
     */
    double (*loglik_weighted)(int n_rows, int n_alleles, const double *gl, const double *weight, const double *freq);
    /*
     * Low-pass inputs: --min-site-qual Q [30, the default of `tessera run --mode lowpass`]. The merged QUAL of
     * a site is the low-pass discovery's QUAL (`qual`, the kernel's tsr_lp_qual, handed in like
     * loglik_weighted) of the likelihood-ratio statistic of the summed cohort curve, 2 (max_p l(p) - l(0)),
     * summed over the site's ALTs; a site below Q is not a site (as a pooled run would not report it).
     * qual NULL: no QUAL is written and Q is not applied.
     */
    double min_site_qual;
    double (*qual)(double lrt, double max_qual);
} tsr_merge_opts_t;

typedef struct tsr_merge_summary {
    int n_inputs, n_samples, n_regions;
    int64_t n_sites, n_suppressed, n_dropped;
    int64_t n_below_qual; /* low-pass: merged sites below --min-site-qual (not sites; not counted in n_suppressed) */
    double membership_power;
    char stats_tsv[4300], statistics_json[4300];
} tsr_merge_summary_t;

void tsr_merge_opts_init(tsr_merge_opts_t *o);
/* TSR_ERR_USAGE with a message for a missing output or input, or an option out of range. */
tsr_status_t tsr_merge_opts_check(const tsr_merge_opts_t *o) TSR_RESULT_USED;
/*
 * Merge federated exports into exact cohort-wide statistics (design and
 * definitions in federated_merge.c and the README's "Federated
 * statistics"): the union of sites keyed by (contig, POS, REF) with summed
 * per-population genotype counts, an input without a site contributing its
 * callable samples (its mask) as hom-ref; AC/AN/AF/NS/nhet/nhomalt/HWE/
 * ExcHet/F per population and cohort by the functions `tessera stats` uses;
 * SFS and Hudson F_ST of the released sites; provenance of every input.
 * Inputs must share reference (contig names, lengths, MD5s), mode and
 * populations, and match their recorded SHA-256s; each refusal names the
 * file and what differs. Inputs are sorted by content hash first, so any
 * order gives the same bytes, and so does any number of ranks. Collective on
 * comm (every rank passes the same options; every rank returns the same status).
 */
tsr_status_t tsr_merge_run(MPI_Comm comm, const tsr_merge_opts_t *o, tsr_merge_summary_t *sum) TSR_RESULT_USED;

#ifdef __cplusplus
}
#endif
#endif /* TSR_STATS_H */
