/*
 * align_kernel.c - the align kernel: FASTQ -> DIR/aln/S.cram + .crai (or S.bam + .bai) + .qc.json in
 * fixed read-pair chunks (plan.c lays out the tasks, all of type align):
 *   index  with one map task for the sample (plan.c: up to about one chunk's worth of
 *          compressed FASTQ), nothing: the map task reads the files from their start, and
 *          aln/S.chunks.tsv says so (one chunk, pairs -1). With K > 1 map tasks, scan the
 *          sample's FASTQ once (decompress + split into records, no mapping) and record
 *          where every chunk of --align-chunk pairs starts (uncompressed offset; BGZF:
 *          block offset + offset inside the block) -> aln/S.chunks.tsv (align_scan.c);
 *   map    slot k opens the reads at its first chunk (BGZF: seek to the block;
 *          plain gzip: zlib decompresses up to the offset, nothing is parsed
 *          or mapped), maps its chunks with libminimap2 sr on the pinned pool,
 *          builds the BAM records straight from minimap2's hits (align_records.c;
 *          align_mm2.c hands over plain fields, no SAM text), sorts them in memory
 *          (total order) and writes a run aln/S.runs/cK.bam plus one duplicate
 *          signature per fragment and its pair count (cK.dup) (align_runs.c);
 *   merge  decides the duplicates from every signature (align_dups.c), k-way merges
 *          the runs (same total order, ties by run) into aln/S.cram + .crai (CRAM 3.0
 *          against --ref) or aln/S.bam + .bai with 0x400 set (align_merge.c), and
 *          writes the sample's alignment QC aln/S.qc.json (pairs summed from the
 *          .dup files; align_qc.c).
 * The primary records of a pair carry MC and MQ (samtools fixmate -m).
 * Mapping a pair depends on nothing else in its batch, and the record order is
 * total, so aln/S.{cram,bam} is the same bytes for any chunk size, rank or thread count.
 *
 * This file is the adapter between the kernel contract and those stages: it
 * alone reads the plan and the task, resolves every path and parameter
 * (lanes, chunk file, runs, outputs, --align-chunk, --ref, the node-shared
 * index) and calls the stages' entry points (align_internal.h) with plain
 * arguments.
 */
#include "kernels/pipeline/pipeline.h"

#include <stdlib.h>
#include <string.h>

#define TSR_ALIGN_PATH_MAX 4096

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

/* Index step: aln/S.chunks.tsv, found by scanning the input only when the sample has K > 1 map tasks. */
static tsr_status_t tsr_align_index(const tsr_kernel_env_t *env, int sample)
{
    const tsr_plan_t *plan = env->plan;
    const tsr_sample_t *smp = &plan->sheet->samples[sample];
    int64_t per = plan->opts.align_chunk_pairs;
    char rel[1024], path[TSR_ALIGN_PATH_MAX], dir[TSR_ALIGN_PATH_MAX];
    tsr_plan_align_chunks_path(plan, sample, rel, sizeof rel);
    TSR_CALL(tsr_plan_path(plan, rel, path, sizeof path));
    TSR_CALL(tsr_plan_path(plan, "aln", dir, sizeof dir));
    TSR_CALL(tsr_mkdir_p(dir));
    if (plan->align_slots[sample] == 1)
        return tsr_align_chunks_write_whole(smp, per, path, rel);
    return tsr_align_chunks_scan(smp, per, path, rel);
}

/* Map step: slot `slot` of the sample's map tasks -> aln/S.runs/cK.bam and cK.dup. */
static tsr_status_t tsr_align_map(tsr_align_mapper_t *m, const tsr_kernel_env_t *env, int sample, int slot)
{
    const tsr_plan_t *plan = env->plan;
    char rel[1024], path[TSR_ALIGN_PATH_MAX], bam_path[TSR_ALIGN_PATH_MAX], dup_path[TSR_ALIGN_PATH_MAX];
    tsr_plan_align_chunks_path(plan, sample, rel, sizeof rel);
    TSR_CALL(tsr_plan_path(plan, rel, path, sizeof path));
    tsr_plan_align_run_path(plan, sample, slot, "bam", rel, sizeof rel);
    TSR_CALL(tsr_plan_path(plan, rel, bam_path, sizeof bam_path));
    tsr_plan_align_run_path(plan, sample, slot, "dup", rel, sizeof rel);
    TSR_CALL(tsr_plan_path(plan, rel, dup_path, sizeof dup_path));
    char *slash = strrchr(bam_path, '/');
    *slash = '\0';
    TSR_CALL(tsr_mkdir_p(bam_path));
    *slash = '/';
    return tsr_align_map_slot(m, (const tsr_mm_index_t *)env->shared, env->pool, &plan->sheet->samples[sample], plan->opts.ref, path,
                              slot, plan->align_slots[sample], bam_path, dup_path);
}

/* Merge step: every run and signature file of the sample -> aln/S.{cram,bam} + index + aln/S.qc.json. */
static tsr_status_t tsr_align_merge(const tsr_kernel_env_t *env, int sample)
{
    const tsr_plan_t *plan = env->plan;
    const tsr_sample_t *smp = &plan->sheet->samples[sample];
    int k = plan->align_slots[sample];
    char rel[1024], out_path[TSR_ALIGN_PATH_MAX], qc_path[TSR_ALIGN_PATH_MAX], chunks_path[TSR_ALIGN_PATH_MAX];
    tsr_plan_aln_path(plan, sample, rel, sizeof rel);
    TSR_CALL(tsr_plan_path(plan, rel, out_path, sizeof out_path));
    tsr_plan_align_qc_path(plan, sample, rel, sizeof rel);
    TSR_CALL(tsr_plan_path(plan, rel, qc_path, sizeof qc_path));
    tsr_plan_align_chunks_path(plan, sample, rel, sizeof rel);
    TSR_CALL(tsr_plan_path(plan, rel, chunks_path, sizeof chunks_path));
    /* runs [0, k) then signature files [k, 2k), in one block */
    char *buf = malloc((size_t)k * 2 * TSR_ALIGN_PATH_MAX);
    const char **paths = calloc((size_t)k * 2 + 1, sizeof *paths);
    tsr_status_t s = TSR_OK;
    if (!buf || !paths)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory merging sample %s", smp->id);
    for (int i = 0; i < 2 * k && s == TSR_OK; i++) {
        char *p = buf + (size_t)i * TSR_ALIGN_PATH_MAX;
        tsr_plan_align_run_path(plan, sample, i % k, i < k ? "bam" : "dup", rel, sizeof rel);
        s = tsr_plan_path(plan, rel, p, TSR_ALIGN_PATH_MAX);
        paths[i] = p;
    }
    if (s == TSR_OK)
        s = tsr_align_merge_runs(env->pool, smp, plan->opts.ref, k, paths, paths + k, chunks_path, out_path,
                                 qc_path);
    free(paths);
    free(buf);
    return s;
}

static tsr_status_t tsr_align_process(void *state, const tsr_kernel_env_t *env, const tsr_task_t *task)
{
    tsr_align_step_t step;
    int sample, slot;
    tsr_plan_align_unpack(task->arg, &step, &sample, &slot);
    if (sample < 0 || sample >= env->plan->sheet->n_samples)
        return tsr_error_set(TSR_ERR_INTERNAL, "align task '%s' names no sample", task->key);
    switch (step) {
    case TSR_ALIGN_STEP_INDEX:
        return tsr_align_index(env, sample);
    case TSR_ALIGN_STEP_MAP:
        return tsr_align_map(state, env, sample, slot);
    case TSR_ALIGN_STEP_MERGE:
        return tsr_align_merge(env, sample);
    }
    return tsr_error_set(TSR_ERR_INTERNAL, "align task '%s' has an unknown step", task->key);
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
    .version = 5,
    .setup = tsr_align_setup,
    .teardown = tsr_align_teardown,
    .shared_bytes = tsr_align_shared_bytes,
    .init = tsr_align_init,
    .process = tsr_align_process,
    .destroy = tsr_align_destroy,
};
