/*
 * plan_budget.c - what --mem-per-rank gives each deep-mode stage, and the
 * refusal of a budget that cannot fit, before any work (tsr_plan_budget).
 *
 * The model (constants measured with tests/bench/scale/run_scale_bench.sh,
 * figures in the README's "Memory" section): a rank's fixed cost (MPI,
 * HDF5, htslib, the reference index, the plan) is TSR_MEM_BASE; stages run
 * one task at a time per rank, so each may use the rest:
 *   call    one (region, batch) task: TSR_MEM_CALL_SAMPLE per sample of the
 *           batch per Mb of shard (pileups, candidates, its evidence), fixed
 *           by --batch-size and --shard-size; the budget does not change
 *           them (the batches shape the records), it refuses what cannot fit;
 *   joint   the readers' state (positions, reference blocks and HDF5 state
 *           per batch: TSR_MEM_JOINT_BATCH per batch, TSR_MEM_JOINT_SAMPLE
 *           per sample and Mb) plus a window of sites (128 bytes a site and
 *           sample, tsr_joint_window_sites): half of what is left;
 *   cohort  call-set windows and the writers' buffers: fixed (about 32 MiB of
 *           call set and a 64 MiB cohort.h5 row block at most).
 * Records do not depend on the budget: windows cut between positions only.
 */
#include "kernels/pipeline/pipeline.h"
#include "kernels/kernels.h"

#include <string.h>

#define MIB ((int64_t)1 << 20)
#define TSR_MEM_BASE (48 * MIB)           /* a rank before its first task */
#define TSR_MEM_CALL_SAMPLE (2 * MIB)     /* call: per batch sample per Mb of shard */
#define TSR_MEM_CALL_FIXED (16 * MIB)     /* call: per task */
#define TSR_MEM_JOINT_BATCH (2 * MIB)     /* joint: per open partition */
#define TSR_MEM_JOINT_SAMPLE (64 * 1024)  /* joint: positions and blocks, per sample per Mb */
#define TSR_MEM_COHORT (96 * MIB)         /* cohort: windows and writer buffers */

static double mib(int64_t b) { return (double)b / (double)MIB; }

tsr_status_t tsr_plan_budget(const tsr_plan_t *plan, tsr_mem_budget_t *b)
{
    memset(b, 0, sizeof *b);
    const tsr_run_opts_t *o = &plan->opts;
    if (o->mem_per_rank <= 0 || plan->lowpass)
        return TSR_OK; /* low-pass sizes its batches itself (tsr_plan_lowpass_batches) */
    const int64_t n = plan->sheet ? plan->sheet->n_samples : 0;
    double mb = (double)o->shard_size / 1e6;
    if (mb < 0.001)
        mb = 0.001;
    b->total = o->mem_per_rank;
    b->base = TSR_MEM_BASE;
    b->call_need = TSR_MEM_CALL_FIXED + (int64_t)((double)TSR_MEM_CALL_SAMPLE * mb * o->batch_size);
    int64_t reader = (int64_t)plan->n_batches * TSR_MEM_JOINT_BATCH + (int64_t)((double)TSR_MEM_JOINT_SAMPLE * mb * n);
    int64_t joint_min = reader + 2 * 8 * tsr_joint_window_sites(n, 1) * 128 * (n > 0 ? n : 1);
    if (b->base + b->call_need > b->total)
        return tsr_error_set(TSR_ERR_USAGE,
                             "--mem-per-rank %.0f MiB cannot fit the call stage: one task of --batch-size %d over "
                             "--shard-size %lld needs about %.0f MiB with the rank's %.0f MiB; give at least "
                             "--mem-per-rank %.0fM or a smaller --batch-size or --shard-size",
                             mib(b->total), o->batch_size, (long long)o->shard_size, mib(b->call_need), mib(b->base),
                             mib(b->base + b->call_need) + 1);
    if (b->base + joint_min > b->total)
        return tsr_error_set(TSR_ERR_USAGE,
                             "--mem-per-rank %.0f MiB cannot fit the joint stage: %lld samples in %d batches need "
                             "at least %.0f MiB with the rank's %.0f MiB; give at least --mem-per-rank %.0fM",
                             mib(b->total), (long long)n, plan->n_batches, mib(joint_min), mib(b->base),
                             mib(b->base + joint_min) + 1);
    if (b->base + TSR_MEM_COHORT > b->total)
        return tsr_error_set(TSR_ERR_USAGE,
                             "--mem-per-rank %.0f MiB cannot fit the cohort stage: it needs about %.0f MiB with "
                             "the rank's %.0f MiB; give at least --mem-per-rank %.0fM",
                             mib(b->total), mib(TSR_MEM_COHORT), mib(b->base), mib(b->base + TSR_MEM_COHORT) + 1);
    b->joint_bytes = (b->total - b->base - reader) / 2;
    b->joint_window = tsr_joint_window_sites(n, b->joint_bytes);
    b->cohort_bytes = TSR_MEM_COHORT;
    return TSR_OK;
}
