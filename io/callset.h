/*
 * io/callset.h - per-region joint call sets and their HDF5 files, whole or a
 * window of sites at a time (io/callset_store.c). Part of io's public interface.
 */
#ifndef TSR_IO_CALLSET_H
#define TSR_IO_CALLSET_H

#include "runtime/runtime.h"
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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
 * tsr_callset_window_sites(N, mem_bytes): the sites a window of N samples
 * may hold in about mem_bytes of genotype fields (<= 0: the default, 32 MiB),
 * at least 16; windows only cut the reads and writes, so outputs do not
 * depend on them. The writer appends windows (`lowpass`:
 * the call set carries DS/GP/pop AF for n_pops populations) under a
 * temporary name, renamed by close(.., commit=1); the reader gives windows of
 * at most max_sites sites (0: all), one empty window for an empty call set,
 * then *cs = NULL.
 */
typedef struct tsr_callset_writer tsr_callset_writer_t;
typedef struct tsr_callset_reader tsr_callset_reader_t;
int64_t tsr_callset_window_sites(int32_t n_samples, int64_t mem_bytes);
tsr_status_t tsr_callset_writer_open(const char *path, const char *contig, int64_t start, int64_t end,
                                     int32_t n_samples, int lowpass, int32_t n_pops,
                                     tsr_callset_writer_t **w) TSR_RESULT_USED;
tsr_status_t tsr_callset_writer_append(tsr_callset_writer_t *w, const tsr_callset_t *window) TSR_RESULT_USED;
tsr_status_t tsr_callset_writer_close(tsr_callset_writer_t **w, int commit);
tsr_status_t tsr_callset_reader_open(const char *path, tsr_callset_reader_t **r) TSR_RESULT_USED;
int64_t tsr_callset_reader_n_sites(const tsr_callset_reader_t *r);
tsr_status_t tsr_callset_reader_next(tsr_callset_reader_t *r, int64_t max_sites, tsr_callset_t **cs) TSR_RESULT_USED;
void tsr_callset_reader_close(tsr_callset_reader_t **r);

#ifdef __cplusplus
}
#endif
#endif /* TSR_IO_CALLSET_H */
