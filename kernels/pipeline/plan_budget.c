/*
 * plan_budget.c - what --mem-per-rank gives each deep-mode stage, and the
 * refusal of a budget that cannot fit, before any work (tsr_plan_budget).
 *
 * The model (constants measured with tests/bench/scale/run_scale_bench.sh,
 * figures in the README's "Memory" section): a rank's fixed cost (MPI,
 * HDF5, htslib, the reference index, the plan) is TSR_MEM_BASE; stages run
 * one task at a time per rank, so each may use the rest:
 *   call    one (region, batch) task: per sample of the batch per Mb of
 *           region, TSR_MEM_CALL_SAMPLE plus TSR_MEM_CALL_PAIR per sample of
 *           the batch (pileups, candidates, its evidence: the batch pools
 *           its reads into candidate sites, so a larger batch has more sites
 *           a sample; measured peaks 250 samples x 200 kb at 4x, one rank,
 *           --threads 1, over the rank's 40 MiB: batch 16 +13 MiB, 32 +44,
 *           64 +144; the model gives 22, 52, 157). The batch and the shard
 *           are not shrunk to fit: the batch shapes the records (batches of
 *           32 instead of 64 found 3,139 sites instead of 4,616 on that
 *           cohort), so a budget that cannot hold the call task is refused,
 *           naming --batch-size and --shard-size; the call kernel gives its
 *           heap back after each task (malloc_trim), so the later stages
 *           start near the rank's base;
 *   joint   the readers' state (a block buffer and HDF5 state per batch,
 *           TSR_MEM_JOINT_BATCH, and 8 bytes per site position) plus a window
 *           of sites (128 bytes a site and sample, tsr_joint_window_sites):
 *           a third of what the base and the readers leave (the call
 *           stage's heap is given back), at most the default window;
 *   cohort  the writers' fixed state (TSR_MEM_COHORT_FIXED) plus cohort_bytes:
 *           half a call-set window, half a cohort.h5 row block (kernels/stats/
 *           cohort_h5.c); half of what the call task's estimate leaves, at
 *           most the default 64 MiB, at least two 16-site windows.
 *   align   a map task holds three quarters of what the rank's base and TSR_MEM_ALIGN_FIXED leave, in
 *           read pairs at TSR_MEM_ALIGN_PAIR bytes each (peak RSS of one map task, 200,000 pairs of
 *           2 x 150 bp, --threads 1: 212.4 MiB holding all, 92.0 holding 50,000, 57.4 holding 8,192:
 *           842-868 bytes a pair over about 51 MiB of rank, index and buffers); beyond it the task spills
 *           sorted runs and merges them (kernels/align_runs.c). Its least is a mapping batch of
 *           TSR_ALIGN_MIN_PAIRS pairs. The minimap2 index is node-shared and not counted (its size is
 *           logged when it loads: 7 MiB a Mb of reference).
 * Records do not depend on the budget: windows cut between positions only.
 */
#include "kernels/pipeline/pipeline.h"
#include "kernels/kernels.h"

#include <string.h>

#define MIB ((int64_t)1 << 20)
#define TSR_MEM_BASE (40 * MIB)            /* a rank before its first task */
#define TSR_MEM_CALL_SAMPLE (2 * MIB)      /* call: per batch sample per Mb of region ... */
#define TSR_MEM_CALL_PAIR (MIB * 3 / 20)   /* ... plus this per batch sample (0.15 MiB: more candidate sites) */
#define TSR_MEM_CALL_FIXED (8 * MIB)       /* call: per task (its readers, the reference slice) */
#define TSR_MEM_JOINT_BATCH (MIB / 2)      /* joint: per open partition (block buffer, HDF5 state) */
#define TSR_MEM_JOINT_SITE 1               /* joint: per base of region (8 bytes a site position, a site per 8 bp) */
#define TSR_MEM_COHORT_FIXED (16 * MIB)    /* cohort: the BCF/stats and cohort.h5 writers' own state */
#define TSR_MEM_COHORT_MAX (64 * MIB)      /* cohort: window plus row block when the budget allows (the default) */
#define TSR_MEM_ALIGN_FIXED (16 * MIB)     /* align map: a mapping batch's reads, minimap2's thread buffers */
#define TSR_MEM_ALIGN_PAIR 900             /* align map: a held 2 x 150 bp pair's records (RSS, measured 842-868) */
#define TSR_ALIGN_MIN_PAIRS 8192           /* align map: a mapping batch (align_records.c's TSR_ALIGN_BATCH) */
#define TSR_MEM_COHORT_SITE 48             /* cohort: call-set bytes per site and sample (io/callset_store.c) */

static double mib(int64_t b) { return (double)b / (double)MIB; }

tsr_status_t tsr_plan_budget(const tsr_plan_t *plan, tsr_mem_budget_t *b)
{
    memset(b, 0, sizeof *b);
    const tsr_run_opts_t *o = &plan->opts;
    if (o->mem_per_rank <= 0 || plan->lowpass)
        return TSR_OK; /* low-pass sizes its batches itself (tsr_plan_lowpass_batches) */
    const int64_t n = plan->sheet ? plan->sheet->n_samples : 0;
    int64_t longest = 1;
    for (int r = 0; r < plan->n_regions; r++)
        if (plan->regions[r].end - plan->regions[r].start > longest)
            longest = plan->regions[r].end - plan->regions[r].start;
    double mb = (double)longest / 1e6;
    b->total = o->mem_per_rank;
    b->base = TSR_MEM_BASE;
    b->call_need = TSR_MEM_CALL_FIXED + (int64_t)((double)(TSR_MEM_CALL_SAMPLE + TSR_MEM_CALL_PAIR * o->batch_size) *
                                                  mb * o->batch_size);
    /* the readers (a site position per base at most) and a window of TSR_JOINT_MIN_WINDOW sites */
    int64_t reader = (int64_t)plan->n_batches * (TSR_MEM_JOINT_BATCH + TSR_MEM_JOINT_SITE * longest);
    int64_t joint_min = reader + 2 * TSR_JOINT_MIN_WINDOW * 128 * (n > 0 ? n : 1) * (int64_t)plan->n_batches;
    const char *stage = "call";
    int64_t need = b->call_need;
    if (joint_min > need)
        stage = "joint", need = joint_min;
    int fastq = 0;
    for (int i = 0; plan->sheet && i < plan->sheet->n_samples; i++)
        fastq |= plan->sheet->samples[i].kind == TSR_INPUT_FASTQ;
    const int64_t align_min = TSR_MEM_ALIGN_FIXED + TSR_ALIGN_MIN_PAIRS * TSR_MEM_ALIGN_PAIR * 4 / 3;
    if (fastq && align_min > need)
        stage = "align", need = align_min;
    const int64_t cohort_min = 2 * 16 * TSR_MEM_COHORT_SITE * (n > 0 ? n : 1);
    if (TSR_MEM_COHORT_FIXED + cohort_min > need)
        stage = "cohort", need = TSR_MEM_COHORT_FIXED + cohort_min;
    if (b->base + need > b->total && !strcmp(stage, "align"))
        return tsr_error_set(TSR_ERR_USAGE,
                             "--mem-per-rank %.0fM cannot fit the align stage: a map task needs about %.0f MiB (a "
                             "mapping batch of %d read pairs at about %d bytes each, and its buffers) plus the "
                             "rank's %.0f MiB; give at least --mem-per-rank %.0fM",
                             mib(b->total), mib(need), TSR_ALIGN_MIN_PAIRS, TSR_MEM_ALIGN_PAIR, mib(b->base),
                             mib(b->base + need) + 1);
    if (b->base + need > b->total)
        return tsr_error_set(TSR_ERR_USAGE,
                             "--mem-per-rank %.0fM cannot fit the %s stage: %lld samples (--batch-size %d, regions "
                             "up to %lld bp) need about %.0f MiB there plus the rank's %.0f MiB; give at least "
                             "--mem-per-rank %.0fM%s",
                             mib(b->total), stage, (long long)n, o->batch_size, (long long)longest, mib(need),
                             mib(b->base), mib(b->base + need) + 1,
                             !strcmp(stage, "call") ? " or a smaller --batch-size or --shard-size" : "");
    /* the align map task holds what the rank's base and its fixed buffers leave, in read pairs; the rest of
     * its slot is spilled as sorted runs (kernels/align_runs.c) */
    if (fastq)
        b->align_pairs = (b->total - b->base - TSR_MEM_ALIGN_FIXED) / 4 * 3 / TSR_MEM_ALIGN_PAIR;
    /* a third of what the rank's base and the readers leave: the call kernel gives its heap back after each
     * task (malloc_trim; measured, 1,000 samples: the joint task runs at 55 MiB after a call stage at 178),
     * and evidence plus call set take about twice the estimate; never more than the default window */
    b->joint_bytes = (b->total - b->base - reader) / 3;
    if (b->joint_bytes < 0)
        b->joint_bytes = 1; /* the smallest window: tsr_joint_window_sites raises it to TSR_JOINT_MIN_WINDOW */
    if (b->joint_bytes > TSR_JOINT_WINDOW_BYTES)
        b->joint_bytes = TSR_JOINT_WINDOW_BYTES;
    b->joint_window = tsr_joint_window_sites(n, b->joint_bytes);
    /* the cohort keeps the call task's share out (cautious: a small window costs the cohort stage little) */
    b->cohort_bytes = (b->total - b->base - b->call_need - TSR_MEM_COHORT_FIXED) / 2;
    if (b->cohort_bytes < cohort_min)
        b->cohort_bytes = cohort_min;
    if (b->cohort_bytes > TSR_MEM_COHORT_MAX)
        b->cohort_bytes = TSR_MEM_COHORT_MAX;
    return TSR_OK;
}
