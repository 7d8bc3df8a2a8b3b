/*
 * simulate_internal.h - private pieces of the cohort simulator (tsr_simulate).
 *
 * Design. One PRNG (xoshiro256**, seeded through splitmix64) with independent
 * streams derived from (seed, stream id): the reference, the variants and each
 * sample's reads draw from their own stream, so samples can be simulated on
 * any number of threads with byte-identical output. The files split the work:
 *   rng.c        the generator and the distributions built on it
 *   genome.c     the reference (synthetic or a piece of --ref)
 *   population.c variant sites, population frequencies, genotypes
 *   reads.c      haplotypes, paired reads, FASTQ.gz or BAM per sample
 *   output.c     options, ref.fa, truth.vcf.gz, samples.tsv, tsr_simulate()
 * Not included outside io/simulate/.
 */
#ifndef TSR_SIMULATE_INTERNAL_H
#define TSR_SIMULATE_INTERNAL_H

#include "io/io.h"
#include "io/simulate/simulate.h"

#include <stdint.h>

/* ------------------------------------------------------------------ rng */

typedef struct tsr_sim_rng {
    uint64_t s[4];
} tsr_sim_rng_t;

/* Stream ids (the sample streams are TSR_SIM_STREAM_SAMPLE + sample index). */
enum {
    TSR_SIM_STREAM_GENOME = 1,
    TSR_SIM_STREAM_VARIANTS = 2,
    TSR_SIM_STREAM_SAMPLE = 1000
};

/* Seed `r` for stream `stream` of seed `seed`. */
void tsr_sim_rng_seed(tsr_sim_rng_t *r, uint64_t seed, uint64_t stream);
uint64_t tsr_sim_rng_next(tsr_sim_rng_t *r);
/* Uniform in [0, 1) with 53 random bits. */
double tsr_sim_rng_unif(tsr_sim_rng_t *r);
/* Uniform integer in [0, n), n > 0 (unbiased). */
uint64_t tsr_sim_rng_below(tsr_sim_rng_t *r, uint64_t n);
double tsr_sim_rng_normal(tsr_sim_rng_t *r);
/* Gamma(shape, 1); shape > 0. */
double tsr_sim_rng_gamma(tsr_sim_rng_t *r, double shape);
/* Beta(a, b) via two gammas; a, b > 0. Falls back to Bernoulli(a/(a+b)) when both gammas underflow. */
double tsr_sim_rng_beta(tsr_sim_rng_t *r, double a, double b);
/* Number of trials up to and including the first success, success probability q in (0, 1]. */
int64_t tsr_sim_rng_geom(tsr_sim_rng_t *r, double q);

/* ------------------------------------------------------------- genome */

typedef struct tsr_sim_genome {
    char *name; /* contig name */
    char *seq;  /* upper-case ACGTN, NUL-terminated */
    int64_t len;
} tsr_sim_genome_t;

/* Build the reference from the options (synthetic or --ref/--region). Free with tsr_sim_genome_free(). */
tsr_status_t tsr_sim_genome_build(const tsr_sim_opts_t *o, tsr_sim_genome_t *g) TSR_RESULT_USED;
void tsr_sim_genome_free(tsr_sim_genome_t *g);

/* ----------------------------------------------------------- variants */

typedef struct tsr_sim_variant {
    int64_t pos;     /* 0-based position of the first REF base (the padding base for indels) */
    int ref_len;     /* REF allele length */
    int n_alt;       /* 1 or 2 */
    char *alt[2];    /* ALT alleles, NUL-terminated (owned) */
    int is_indel;
    uint8_t *gt;     /* n_samples*2 haplotype alleles (0 = REF, 1.. = ALT) (owned) */
} tsr_sim_variant_t;

typedef struct tsr_sim_varset {
    int n_samples, n_pops;
    int *sample_pop;           /* per sample: population index */
    int64_t n;
    tsr_sim_variant_t *v;      /* sorted by pos, non-overlapping */
} tsr_sim_varset_t;

/* Population of sample i of n in K contiguous blocks. */
int tsr_sim_sample_pop(int i, int n, int k);

/* Draw the variant sites and genotypes. Free with tsr_sim_varset_free(). */
tsr_status_t tsr_sim_varset_build(const tsr_sim_opts_t *o, const tsr_sim_genome_t *g,
                                  tsr_sim_varset_t *vs) TSR_RESULT_USED;
void tsr_sim_varset_free(tsr_sim_varset_t *vs);

/* -------------------------------------------------------------- reads */

/* What one sample's read simulation produced. */
typedef struct tsr_sim_sample_stats {
    int64_t n_pairs;
    int64_t n_bases;
    int64_t n_sub_errors;
} tsr_sim_sample_stats_t;

/* The read error model (per-cycle quality distributions), shared read-only by all samples. */
typedef struct tsr_sim_errmodel tsr_sim_errmodel_t;
/* Build the model for reads of length rl and mean substitution rate `rate`. Destroy with tsr_sim_errmodel_destroy(). */
tsr_status_t tsr_sim_errmodel_create(int rl, double rate, tsr_sim_errmodel_t **m) TSR_RESULT_USED;
void tsr_sim_errmodel_destroy(tsr_sim_errmodel_t **m);

/*
 * Simulate sample `i`'s reads and write them under o->outdir (FASTQ pair or
 * BAM + index, temp names renamed on success). Thread-safe: reads only
 * shared immutable data.
 */
tsr_status_t tsr_sim_sample_reads(const tsr_sim_opts_t *o, const tsr_sim_genome_t *g,
                                  const tsr_sim_varset_t *vs, const tsr_sim_errmodel_t *em, int i,
                                  tsr_sim_sample_stats_t *st) TSR_RESULT_USED;

/* Sample id "S0001"... into buf; width grows with the cohort size (at least 4 digits). */
void tsr_sim_sample_id(int i, int n, char *buf, size_t len);


#endif
