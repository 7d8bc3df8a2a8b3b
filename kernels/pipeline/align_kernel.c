/*
 * align_kernel.c - the align kernel: FASTQ -> DIR/aln/G/S.cram + .crai (or S.bam + .bai) + .qc.json in
 * fixed read-pair chunks (plan_graph.c lays out the tasks, all of type align):
 *   index  with one map task for the sample (plan_graph.c: up to about one chunk's worth of
 *          compressed FASTQ), nothing: the map task reads the files from their start, and
 *          aln/G/S.chunks.tsv says so (one chunk, pairs -1). With K > 1 map tasks, scan the
 *          sample's FASTQ once (decompress + split into records, no mapping) and record
 *          where every chunk of --align-chunk pairs starts (uncompressed offset; BGZF:
 *          block offset + offset inside the block) -> aln/G/S.chunks.tsv (align_scan.c);
 *   map    slot k opens the reads at its first chunk (BGZF: seek to the block;
 *          plain gzip: zlib decompresses up to the offset, nothing is parsed
 *          or mapped), maps its chunks with libminimap2 sr on the pinned pool,
 *          builds the BAM records straight from minimap2's hits (align_records.c;
 *          align_mm2.c hands over plain fields, no SAM text), sorts them in memory
 *          (total order) and writes a run aln/G/S.runs/cK.bam plus one duplicate
 *          signature per fragment and its pair count (cK.dup) (align_runs.c);
 *   merge  decides the duplicates from every signature (align_dups.c), k-way merges
 *          the runs (same total order, ties by run) into aln/G/S.cram + .crai (CRAM 3.0
 *          against --ref) or aln/G/S.bam + .bai with 0x400 set (align_merge.c), and
 *          writes the sample's alignment QC aln/G/S.qc.json (pairs summed from the
 *          .dup files; align_qc.c).
 * The primary records of a pair carry MC and MQ (samtools fixmate -m).
 * Mapping a pair depends on nothing else in its batch, and the record order is
 * total, so aln/G/S.{cram,bam} is the same bytes for any chunk size, rank or thread count.
 *
 * This file is the adapter between the kernel contract and those stages: it
 * takes a task's work unit (tsr_plan_work_create: the sample and its lanes,
 * the step and slot, the chunk file, runs and outputs), the run options
 * (--align-chunk, --ref) and the node-shared index (its collective setup),
 * and calls the stages' entry points (kernels/kernels.h) with plain arguments.
 */
#include "kernels/pipeline/pipeline.h"

#include <stdlib.h>
#include <string.h>

/*
 * The merge's memory (issue 17): the duplicate signatures' sorts hold at most
 * TSR_ALIGN_SORT_BYTES (a quarter of --mem-per-rank when given, at least
 * 16 MiB) and spill sorted runs beyond it; no merge opens more than
 * TSR_ALIGN_MERGE_FANIN files. TSR_ALIGN_SORT_BYTES / TSR_ALIGN_MERGE_FANIN in
 * the environment override both (tests force spills and passes on a small
 * cohort with them). Neither changes a byte of the outputs.
 */
#define TSR_ALIGN_SORT_BYTES ((int64_t)256 << 20)
#define TSR_ALIGN_SORT_MIN ((int64_t)16 << 20)
#define TSR_ALIGN_MERGE_FANIN 64

/*
 * Read pairs a map task holds before it spills a sorted run: what --mem-per-rank gives the align map task
 * (tsr_plan_budget: its share over the measured bytes a pair), 0 (the whole slot) without a budget.
 * TSR_ALIGN_MAP_PAIRS in the environment overrides it (tests force spills on a small cohort).
 */
static int64_t tsr_align_hold_pairs(const tsr_plan_t *plan)
{
    int64_t pairs = 0;
    tsr_mem_budget_t b;
    if (plan->opts.mem_per_rank > 0 && tsr_plan_budget(plan, &b) == TSR_OK)
        pairs = b.align_pairs;
    const char *e = getenv("TSR_ALIGN_MAP_PAIRS");
    if (e && atoll(e) > 0)
        pairs = atoll(e);
    return pairs;
}

static void tsr_align_merge_limits(const tsr_plan_t *plan, int64_t *sort_bytes, int *fanin)
{
    *sort_bytes = TSR_ALIGN_SORT_BYTES;
    if (plan->opts.mem_per_rank > 0) {
        *sort_bytes = plan->opts.mem_per_rank / 4;
        if (*sort_bytes < TSR_ALIGN_SORT_MIN)
            *sort_bytes = TSR_ALIGN_SORT_MIN;
    }
    *fanin = TSR_ALIGN_MERGE_FANIN;
    const char *e = getenv("TSR_ALIGN_SORT_BYTES");
    if (e && atoll(e) > 0)
        *sort_bytes = atoll(e);
    e = getenv("TSR_ALIGN_MERGE_FANIN");
    if (e && atoi(e) >= 2)
        *fanin = atoi(e);
}

static void tsr_align_destroy(void **sp)
{
    if (!sp || !*sp)
        return;
    tsr_align_mapper_t *m = *sp;
    tsr_align_mapper_destroy(&m);
    *sp = NULL;
}

static tsr_status_t tsr_align_init(const tsr_kernel_env_t *env, void **sp)
{
    const char *fmt = env->plan->opts.aln_format;
    if (fmt && strcmp(fmt, "bam") && strcmp(fmt, "cram"))
        return tsr_error_set(TSR_ERR_USAGE, "--aln-format must be bam or cram (got '%s')", fmt);
    tsr_align_mapper_t *m = NULL;
    TSR_CALL(tsr_align_mapper_create(&m));
    *sp = m;
    return TSR_OK;
}

/* One align task from its work unit (tsr_plan_work_create): index, map or merge of one sample. */
static tsr_status_t tsr_align_process(void *state, const tsr_kernel_env_t *env, const tsr_task_t *task)
{
    const tsr_plan_t *plan = env->plan;
    tsr_work_t *w = NULL;
    TSR_CALL(tsr_plan_work_create(plan, task, &w));
    int64_t per = plan->opts.align_chunk_pairs;
    tsr_status_t s;
    switch (w->step) {
    case TSR_ALIGN_STEP_INDEX: /* the input is scanned only when the sample has K > 1 map tasks */
        s = w->n_slots == 1 ? tsr_align_chunks_write_whole(w->smp, per, w->output, w->output)
                            : tsr_align_chunks_scan(w->smp, per, w->output, w->output);
        break;
    case TSR_ALIGN_STEP_MAP: {
        int64_t sort_bytes;
        int fanin;
        tsr_align_merge_limits(plan, &sort_bytes, &fanin);
        s = tsr_align_map_slot(state, (const tsr_mm_index_t *)env->shared, env->pool, w->smp, plan->opts.ref,
                               w->inputs[0], w->slot, w->n_slots, w->output, w->output2, tsr_align_hold_pairs(plan),
                               fanin);
        break;
    }
    default: { /* merge: inputs are the chunk file, the K runs, the K signature files */
        int64_t sort_bytes;
        int fanin;
        tsr_align_merge_limits(plan, &sort_bytes, &fanin);
        s = tsr_align_merge_runs(env->pool, w->smp, plan->opts.ref, w->n_slots, (const char *const *)w->inputs + 1,
                                 (const char *const *)w->inputs + 1 + w->n_slots, w->inputs[0], w->output,
                                 w->output2, sort_bytes, fanin);
        break;
    }
    }
    tsr_plan_work_destroy(&w);
    return s;
}

/* Collective setup: the node-shared minimap2 index when the plan has FASTQ samples (align_index.c). */
static tsr_status_t tsr_align_setup(const tsr_kernel_env_t *env, void **shared)
{
    tsr_mm_index_t *x = NULL;
    tsr_status_t s = tsr_align_index_create(env->rt, env->plan, tsr_pool_size(env->pool), &x);
    *shared = x;
    return s;
}

/* Collective on the node: every rank is past its last task. */
static void tsr_align_teardown(void **shared)
{
    tsr_mm_index_t *x = *shared;
    tsr_mm_index_destroy(&x);
    *shared = NULL;
}

static size_t tsr_align_shared_bytes(const void *shared)
{
    return tsr_mm_index_bytes(shared);
}

const tsr_kernel_t tsr_kernel_align = {
    .name = "align",
    .version = 6, /* 6: .dup lines carry the marked records' places (bounded merge); outputs unchanged */
    .setup = tsr_align_setup,
    .teardown = tsr_align_teardown,
    .shared_bytes = tsr_align_shared_bytes,
    .init = tsr_align_init,
    .process = tsr_align_process,
    .destroy = tsr_align_destroy,
};
