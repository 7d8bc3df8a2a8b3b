/*
 * simulate.h - `tessera simulate`: a deterministic synthetic cohort (reference,
 * populations, truth VCF, reads as FASTQ.gz or BAM) for the demo, tests and
 * benchmarks. Design in io/simulate/simulate_internal.h.
 *
 * Layer 2: includes runtime/ and, for writing its files, io/ and htslib.
 * Included only by kernels/cli/ and tests.
 */
#ifndef TSR_SIMULATE_H
#define TSR_SIMULATE_H

#include "runtime/runtime.h"
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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

#ifdef __cplusplus
}
#endif
#endif /* TSR_SIMULATE_H */
