/*
 * kernels.h - the compute kernels: align (minimap2 + htslib), deep call and
 * joint genotyping, low-pass evidence and discovery. Pure computations over
 * plain arguments (paths, samples, a region's reference, a thread pool):
 * no plan, no task graph, no scheduler, so each is callable and testable on
 * its own. kernels/pipeline/ cuts the cohort into tasks and calls them.
 *
 * Layer 3: may include runtime/, io/, kernels/stats/ (and minimap2, htslib).
 * Included by kernels/pipeline/ and kernels/cli/.
 */
#ifndef TSR_KERNELS_H
#define TSR_KERNELS_H

#include "io/io.h"
#include "runtime/runtime.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------- call and joint (deep) */

typedef struct tsr_region_readers tsr_region_readers_t;

/*
 * Up to n open alignment readers, each kept (by path) between tsr_region_reads_close() and the next
 * tsr_region_reads_open() of the same file, so a task that walks many regions (a packed work unit), or a
 * rank's tasks over the same batch, read each input's header and index once. When all n are in use by
 * other files, the least recently used idle reader is closed. A kept reader serves only the file it was
 * opened on: its inode, size and mtime are compared with the path's at its first use after
 * tsr_region_readers_recheck(). Thread-safe: one reader serves one region walk at a time.
 * Not collective. Destroy with tsr_region_readers_destroy() (closes the readers; accepts NULL).
 */
tsr_status_t tsr_region_readers_create(int n, tsr_region_readers_t **rs) TSR_RESULT_USED;
/* Compare each kept reader's file again at its next use (call at a task's start; accepts NULL). */
void tsr_region_readers_recheck(tsr_region_readers_t *rs);
/*
 * *any = 0 when the indexes of the n alignment files show no record over contig:[start, end) (a contig no
 * read was aligned to), else 1 (some may be there). Opens each file as tsr_call_region() does (through
 * `keep`, may be NULL; ref_path decodes CRAM); errors are the ones that call would give. Not collective.
 */
tsr_status_t tsr_region_reads_any(int n, const char *const *paths, const char *ref_path, const char *contig,
                                  int64_t start, int64_t end, tsr_region_readers_t *keep, int *any) TSR_RESULT_USED;
void tsr_region_readers_destroy(tsr_region_readers_t **rs);

/*
 * Options of the call computation (kernels/call_region.c). Defaults from
 * tsr_call_opts_init(); tsr_call_opts_check() names the first bad field.
 */
typedef struct tsr_call_opts {
    int min_mapq;           /* reads below are skipped (default 20) */
    int min_baseq;          /* bases below are not counted toward candidates and depth (default 13) */
    int min_gl_baseq;       /* bases below add nothing to genotype likelihoods (default 3) */
    int64_t ref_before;     /* reference bases readable before ref_seq (ref_seq[-ref_before..-1]): indels
                               left-align across the region's start over them, as in the previous region (0) */
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
    /*
     * Open alignment readers kept between the regions of a packed work unit (kernels/region_reads.c:
     * tsr_region_readers_create), so each input's header and index are read once per task, not once per
     * region (GRCh38's 3,000 @SQ lines made that the cost of a decoy-packed unit). NULL: open per region.
     */
    tsr_region_readers_t *readers;
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

/* Options of the joint computation (kernels/joint_region.c). */
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
    const tsr_ploidy_t *ploidy; /* per-site ploidy by sex (NULL: everyone diploid); not owned */
    const int8_t *sex;      /* per cohort sample, tsr_sex_t (NULL: all unknown); not owned */
    int pretest_check;      /* 1: genotype every site the pre-test would skip too and count those the EM keeps
                             * (records as without the pre-test; TSR_JOINT_PRETEST_CHECK=1, a bench knob) */
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

/*
 * The same computation a window of sites at a time, in bounded memory: the
 * batches are read through their partition readers (io/evidence.h), at most
 * `window` sites of each batch at once, and the sites are appended to `out`
 * (opened by the caller for the batches' samples) at most `window` at a time;
 * memory is O(window x samples), whatever the region's length. The sites and
 * their bytes are those of tsr_joint_region for any window. Not collective.
 */
tsr_status_t tsr_joint_region_windows(tsr_partition_reader_t *const *readers, int n_batches, const char *ref_seq,
                                      const tsr_joint_opts_t *o, int64_t window,
                                      tsr_callset_writer_t *out) TSR_RESULT_USED;
/* The smallest window tsr_joint_region_windows takes (smaller ones are raised to it). */
#define TSR_JOINT_MIN_WINDOW 2
/* The joint window's default memory aim when no budget is given (tsr_joint_window_sites). */
#define TSR_JOINT_WINDOW_BYTES ((int64_t)32 << 20)
/*
 * Sites per joint window for n_samples within mem_bytes (0: TSR_JOINT_WINDOW_BYTES), at 128 bytes a site and
 * sample (evidence plus call set; see tsr_joint_window_sites in kernels/joint_region.c); at least
 * TSR_JOINT_MIN_WINDOW.
 */
int64_t tsr_joint_window_sites(int64_t n_samples, int64_t mem_bytes);

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

/* ------------------------------------------------------------------ low-pass */

/* Options of the low-pass computations. Defaults from tsr_lp_opts_init(). */
typedef struct tsr_lp_opts {
    const char *ref_path;   /* the reference, to decode CRAM inputs (NULL: BAM only) */
    tsr_region_readers_t *readers; /* as in tsr_call_opts_t: readers kept across a unit's regions */
    int min_mapq;           /* reads below are skipped (default 20) */
    int min_baseq;          /* bases below are not observed (default 13) */
    int indel_qual;         /* phred of an indel observation, capped by MAPQ (default 30) */
    double max_ref_qual;    /* the per-sample reference quality is capped here (default 40) */
    int min_alt_obs;        /* a site needs this many non-reference observations in the cohort (default 2) */
    double min_alt_count;   /* an ALT whose EM expected count (2 N_data f) is below is dropped (default 0.5) */
    int max_iter;           /* EM iterations at most (default 100) */
    double tol;             /* EM stops when no frequency moves more than this (default 1e-7) */
    double min_site_qual;   /* sites below this QUAL are not reported (default 10) */
    double min_qual;        /* sites below this QUAL are filtered LowQual (default 30) */
    double max_qual;        /* QUAL cap (default 9999) */
    int64_t ref_before;     /* reference bases readable before ref_seq, for left-aligning indels across the
                               region's start as the previous region does (default 0) */
    int pretest;            /* discovery skips the per-sample EM at sites whose pooled upper bound on the
                               likelihood ratio cannot reach min_site_qual (default 1; 0: the full test
                               everywhere, same calls, for tests) */
    int64_t win_start, win_end; /* discovery reports only the sites with win_start <= pos < win_end (0-based);
                               every per-region input (the coverage counts, the lowest reference quality) is
                               still the whole region's, so the windows of a region together report exactly
                               the region's sites (default 0, 0; win_end <= 0: no end) */
} tsr_lp_opts_t;

void tsr_lp_opts_init(tsr_lp_opts_t *o);

/*
 * The low-pass SFS's discovery power (lowpass_power.c; a tsr_lp_power_fn of kernels/stats/stats.h, which the
 * pipeline hands to the statistics): pw[0..K_max] = P(a biallelic SNV with K ALT copies among the cohort's
 * 2 n_samples chromosomes is reported without LowQual), by discovery's EM and QUAL (tsr_lp_opts_init's
 * max_iter, tol, min_alt_count, max_qual) on 256 seeded synthetic pileups per K (deterministic): sample j's
 * depth Poisson(lam[j]); read qualities from histograms of one-read PLs (qh_ref / qh_alt[PL], n_qh bins: the
 * PL of the other homozygote of a sample with one REF / ALT read); reported with at least min_alt_obs ALT
 * observations and QUAL >= min_qual. Counts on a grid (1..8, then +25%) until the power is >= 0.999 twice,
 * linear between, 1 past; at least 1/256. Returns 0; 1 when an input is empty (no model); -1 on out of memory.
 */
int tsr_lp_power(int n_samples, const double *lam, const int64_t *qh_ref, const int64_t *qh_alt, int n_qh,
                 int min_alt_obs, double min_qual, int K_max, double *pw);

/*
 * Low-pass evidence of one region for one batch: each sample's indexed
 * BAM/CRAM over contig:[start, end) (read filters as the deep caller: MAPQ,
 * base quality, unmapped/secondary/supplementary/QC-fail/duplicate records,
 * overlapping mates counted once). ref_seq covers [start, start + ref_len)
 * with ref_len >= end - start. Samples run on `pool` when non-NULL. Not
 * collective. *out is destroyed with tsr_lp_evidence_destroy().
 */
tsr_status_t tsr_lp_evidence_region(const char *ref_seq, int64_t ref_len, const char *contig, int64_t start,
                                    int64_t end, int n_samples, const char *const *sample_ids,
                                    const char *const *aln_paths, const tsr_lp_opts_t *o, tsr_pool_t *pool,
                                    tsr_lp_evidence_t **out) TSR_RESULT_USED;

/*
 * Discovery and frequencies of one region over all its batches (in batch
 * order; the cohort is the batches' samples concatenated): union of sites
 * and alleles, genotype likelihoods, EM frequencies for the cohort and per
 * population (sample_pop[j] in [0, n_pops)), LRT -> QUAL, posteriors with
 * the sample's population frequency as prior -> GT (missing without reads),
 * GQ, GP, DS, PL, AD, DP. The sites go to `sink` in windows of window_sites
 * (the last may be shorter; none when the region has no site), each a
 * low-pass call set whose offsets start at 0, valid during the call only:
 * the region's call set is never held whole. Deterministic. Not collective.
 */
typedef tsr_status_t (*tsr_lp_sink_t)(void *ctx, const tsr_callset_t *window);
tsr_status_t tsr_lp_discover_region(tsr_lp_evidence_t *const *batches, int n_batches, const int *sample_pop,
                                    int n_pops, const tsr_lp_opts_t *o, int64_t window_sites, tsr_lp_sink_t sink,
                                    void *ctx) TSR_RESULT_USED;
/*
 * The low-pass kernel's likelihood of allele frequencies (kernels/lowpass_discover.c; also declared in
 * lowpass_internal.h): ln L(freq) = sum over rows s of weight[s] ln sum_g gl[s][g] P_HWE(g | freq), gl
 * holding n_rows rows of n_alleles (n_alleles + 1) / 2 genotype likelihoods in VCF order; weight NULL
 * counts each row once. Public for the federated export and merge (low-pass likelihood curves). Not
 * collective.
 */
double tsr_lp_loglik(int n_samples, int n_alleles, const double *gl, const double *freq);
double tsr_lp_loglik_weighted(int n_rows, int n_alleles, const double *gl, const double *weight, const double *freq);
/*
 * The low-pass discovery's QUAL of a likelihood-ratio statistic lrt = 2 (ln L(freq) - ln L(REF only)):
 * -10 log10 P(chi2_1 > lrt), capped at max_qual (also declared in lowpass_internal.h). Public for the
 * federated merge, whose merged QUAL must be on the same scale. Not collective.
 */
double tsr_lp_qual(double lrt, double max_qual);

/* --------------------------------------------------------------------- align */

typedef struct tsr_mm_index tsr_mm_index_t;

/*
 * The short-read ("sr") minimap2 index of a FASTA, loaded once per node into
 * memory the node's ranks share. Collective on rt->comm (`cache` the same on
 * every rank). With `cache` (e.g. REF.mmi or DIR/ref.mmi) rank 0 alone checks
 * CACHE.key against the FASTA (size, CRC-32, minimap2 version, k/w) under a
 * lock on CACHE.lock and, when the cache is missing or stale, builds the
 * index and dumps it there (temporary names + rename) while the other ranks
 * wait; with `strict` a stale cache is refused (TSR_ERR_USAGE) rather than
 * rebuilt. Logs "index: reused CACHE" or "index: built CACHE". Rank 0 then
 * checks CACHE.win, the window's bytes laid out once (written from CACHE when
 * missing or stale, under the same lock and key): when it is current every
 * rank maps it read-only (the node's ranks share its pages through the page
 * cache; nothing is read or copied up front) and no window is made. Else node rank
 * 0 of every node reads the cache (or builds from the FASTA when there is no
 * cache or it could not be written) and copies every array that mapping reads
 * into one MPI_Win_allocate_shared window on rt->node_comm; each rank of the
 * node maps through its own small header whose pointers lead into that
 * window. Logs one info line per node. Every rank returns the same status.
 * Destroy with tsr_mm_index_destroy().
 */
tsr_status_t tsr_mm_index_create(const tsr_rt_t *rt, const char *ref_fasta, const char *cache, int strict,
                                 int n_threads, tsr_mm_index_t **x) TSR_RESULT_USED;
/* Free this rank's view and the node's window. Collective on the rt->node_comm it was created on. Accepts NULL. */
void tsr_mm_index_destroy(tsr_mm_index_t **x);
/* Bytes of the node's shared window (the whole index, held once per node); 0 for NULL. */
size_t tsr_mm_index_bytes(const tsr_mm_index_t *x);

/*
 * Per-rank mapping state: a view of the node-shared index, one minimap2
 * buffer and one record scratch per pool thread, and the arenas the records
 * of a map task live in. Created empty (the kernel's init); filled by the
 * first map task that has reads to map. Destroy with tsr_align_mapper_destroy().
 */
typedef struct tsr_align_mapper tsr_align_mapper_t;
tsr_status_t tsr_align_mapper_create(tsr_align_mapper_t **m) TSR_RESULT_USED;
/* Accepts NULL; sets *m to NULL. Does not free the index (the pipeline owns it). */
void tsr_align_mapper_destroy(tsr_align_mapper_t **m);

/*
 * Index step, one map task for the sample: write the chunk file `path` that
 * sends that task to the files' start (one chunk at offset 0, pairs -1:
 * the map task counts them and refuses an empty input). The input is not
 * read. `label` names the file in the log line. Not collective.
 */
tsr_status_t tsr_align_chunks_write_whole(const tsr_sample_t *smp, int64_t pairs_per_chunk, const char *path,
                                          const char *label) TSR_RESULT_USED;
/*
 * Index step, K > 1 map tasks: read the sample's lanes once (decompress and
 * split into records, no mapping) and write `path` (via a temporary name):
 * where every chunk of pairs_per_chunk pairs starts, located in the files
 * (BGZF block or CRAM container when possible). Refuses a sample with no
 * reads. `label` names the file in the log line. Not collective.
 */
tsr_status_t tsr_align_chunks_scan(const tsr_sample_t *smp, int64_t pairs_per_chunk, const char *path,
                                   const char *label) TSR_RESULT_USED;

/*
 * Map step, slot `slot` of n_slots: map the chunks [slot*C/n_slots,
 * (slot+1)*C/n_slots) of the C in chunks_path with `index` on `pool`, sort
 * the records (tsr_align_bam_cmp) and write run_path (BAM, stored BGZF
 * blocks) and dup_path (one duplicate signature per fragment, then the
 * pairs read), each via a temporary name; run_path's directory must exist.
 * The header is the reference's contigs (ref_path and its .fai) and a read
 * group per lane of smp. `m` takes the index on the first slot with reads
 * (index NULL is then an error); the slot's records are freed before it
 * returns. Memory is bounded by hold_pairs (> 0): at most that many read
 * pairs' records are held; beyond it they are sorted and spilled as runs
 * beside run_path (temporary names), k-way merged into run_path at the end
 * with at most fanin files open (tsr_align_runs_combine) and deleted;
 * hold_pairs <= 0 holds the whole slot. run_path is the same bytes either
 * way. The signatures are written to dup_path's temporary file as they come.
 * Not collective.
 */
tsr_status_t tsr_align_map_slot(tsr_align_mapper_t *m, const tsr_mm_index_t *index, tsr_pool_t *pool,
                                const tsr_sample_t *smp, const char *ref_path, const char *chunks_path, int slot,
                                int n_slots, const char *run_path, const char *dup_path, int64_t hold_pairs,
                                int fanin) TSR_RESULT_USED;

/*
 * Merge step: decide the duplicates from the n_runs dup_paths, k-way merge
 * the n_runs run_paths (ties by run) into out_path with 0x400 set (CRAM 3.0
 * against ref_path when out_path ends in ".cram", else BAM) and its index
 * (.crai / .bai beside it), and write the sample's QC JSON to qc_path
 * (pairs_per_chunk from chunks_path). Memory is bounded: the duplicate
 * signatures are sorted in at most sort_bytes (spilled as sorted runs in the
 * runs' folder beyond it) and no merge opens more than fanin (>= 2) files,
 * merging in passes when there are more runs; the output does not depend on
 * either. Every file is written under a temporary name and renamed when
 * complete; the passes' files are deleted. Not collective.
 */
tsr_status_t tsr_align_merge_runs(tsr_pool_t *pool, const tsr_sample_t *smp, const char *ref_path, int n_runs,
                                  const char *const *run_paths, const char *const *dup_paths,
                                  const char *chunks_path, const char *out_path, const char *qc_path,
                                  int64_t sort_bytes, int fanin) TSR_RESULT_USED;

#ifdef __cplusplus
}
#endif
#endif /* TSR_KERNELS_H */
