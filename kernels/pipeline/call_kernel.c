/*
 * call_kernel.c - the call kernel object: takes a call task's work unit
 * (unit x batch: the batch's alignment files, the evidence partition to
 * write; tsr_plan_work_create) and, for each region of the unit, fetches its
 * reference, runs tsr_call_region() (kernels/call_region.c) and writes the
 * region's member of the partition, its reference blocks in (start, sample)
 * order so the joint kernel streams them.
 */
#include "io/io.h"
#include "kernels/pipeline/pipeline.h"

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>


/* ---------------------------------------------------------- kernel object */

/*
 * The alignment readers (file, header, index, CRAM reference) are kept in the kernel's state, across the
 * rank's call tasks: a rank runs a batch's units one after another, and with many small contigs (a
 * GRCh38-style reference packs about 250 decoys a unit) reopening them per task made the CRAM header's
 * 3,000 @SQ lines the call stage's largest cost. Bounded by count: at most a batch's readers (what a task
 * holds at once anyway, TSR_MEM_CALL_FIXED's share of --mem-per-rank) and at most a quarter of the
 * process's open-file limit; the least recently used idle reader is closed for a new file. A kept reader
 * is reused only while its file's inode, size and mtime are the ones it was opened on (region_reads.c).
 */
#define TSR_CALL_KEEP_MAX 1024
/* The heap is given back after a task that leaves at least this much of it free. */
#define TSR_CALL_TRIM_BYTES ((size_t)16 << 20)

typedef struct call_state {
    tsr_ref_t *ref;
    pthread_mutex_t lock; /* the reference handle is not thread-safe */
    tsr_region_readers_t *readers;
} call_state_t;

/* How many readers the state keeps: a batch's, within a quarter of the open-file limit (2 files a CRAM). */
static int call_keep_readers(const tsr_plan_t *plan)
{
    int n = plan->opts.batch_size > 0 ? plan->opts.batch_size : 1;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (rlim_t)n * 8 > rl.rlim_cur)
        n = (int)(rl.rlim_cur / 8);
    return n < 1 ? 1 : n > TSR_CALL_KEEP_MAX ? TSR_CALL_KEEP_MAX : n;
}

static tsr_status_t call_init(const tsr_kernel_env_t *env, void **state)
{
    *state = NULL;
    call_state_t *st;
    TSR_ALLOC(st, 1);
    tsr_status_t s = tsr_ref_open(env->plan->opts.ref, &st->ref);
    if (s == TSR_OK)
        s = tsr_region_readers_create(call_keep_readers(env->plan), &st->readers);
    if (s != TSR_OK) {
        tsr_ref_close(&st->ref);
        free(st);
        return s;
    }
    if (pthread_mutex_init(&st->lock, NULL) != 0) {
        tsr_region_readers_destroy(&st->readers);
        tsr_ref_close(&st->ref);
        free(st);
        return tsr_error_set(TSR_ERR_INTERNAL, "call kernel: pthread_mutex_init failed");
    }
    *state = st;
    return TSR_OK;
}

static void call_destroy(void **state)
{
    if (!state || !*state)
        return;
    call_state_t *st = *state;
    tsr_region_readers_destroy(&st->readers);
    tsr_ref_close(&st->ref);
    pthread_mutex_destroy(&st->lock);
    free(st);
    *state = NULL;
}

static tsr_status_t call_process(void *state, const tsr_kernel_env_t *env, const tsr_task_t *task)
{
    call_state_t *st = state;
    const tsr_plan_t *plan = env->plan;
    tsr_work_t *w = NULL;
    TSR_CALL(tsr_plan_work_create(plan, task, &w));
    tsr_call_opts_t o;
    tsr_call_opts_init(&o);
    o.min_mapq = plan->opts.min_mapq;
    o.min_baseq = plan->opts.min_baseq;
    if (o.min_gl_baseq > o.min_baseq)
        o.min_gl_baseq = o.min_baseq;
    o.ref_path = plan->opts.ref;

    /* a packed unit: one region after another, each into its member of the unit's partition; every
       input (file, index, CRAM reference) is opened once for the rank's tasks (the state's readers), and
       both passes of every region reuse it (issue 17: it was opened twice per region) */
    o.readers = st->readers;
    tsr_region_readers_recheck(o.readers);
    tsr_status_t s = TSR_OK;
    for (int k = 0; k < w->n_regs && s == TSR_OK; k++) {
        const tsr_region_t *reg = &w->reg[k];
        const char *contig = NULL;
        char *seq = NULL, out[4200];
        int64_t seq_len = 0;
        /* the reference is compared with reads only: a region no read reaches (a decoy contig nothing
           aligned to, by the indexes) is called against Ns instead of fetched */
        int any = 1;
        contig = tsr_ref_contig_name(st->ref, reg->contig);
        if (contig)
            s = tsr_region_reads_any(w->n_inputs, (const char *const *)w->inputs, o.ref_path, contig, reg->start,
                                     reg->end, o.readers, &any);
        if (s == TSR_OK && any) {
            s = tsr_region_ref_fetch(st->ref, &st->lock, reg, task->key, plan->opts.ref, &contig, &seq,
                                     &o.ref_before, &seq_len);
        } else if (s == TSR_OK) {
            o.ref_before = 0;
            seq_len = reg->end - reg->start;
            if (!(seq = malloc((size_t)seq_len + 1)))
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in call task %s", task->key);
            else
                memset(seq, 'N', (size_t)seq_len), seq[seq_len] = '\0';
        }
        tsr_evidence_t *ev = NULL;
        if (s == TSR_OK)
            s = tsr_call_region(seq + o.ref_before, seq_len, contig, reg->start, reg->end, w->n_inputs,
                                w->sample_ids, (const char *const *)w->inputs, &o, env->pool, &ev);
        /* blocks by position, so the joint kernel streams them a window at a time (io/partition_reader.c) */
        if (s == TSR_OK)
            s = tsr_evidence_blocks_by_position(ev);
        tsr_work_member(w, w->output, k, 1, out, sizeof out);
        if (s == TSR_OK)
            s = tsr_partition_write(out, ev);
        tsr_evidence_destroy(&ev);
        free(seq);
    }
    tsr_plan_work_destroy(&w);
    /* the task's pileups and evidence are freed but glibc keeps the heap mapped: give it back, so the joint and
       cohort tasks on this rank start near its base, as --mem-per-rank's budget assumes (plan_budget.c); a
       small task leaves little to give back, and trimming after each of a decoy reference's many small units
       cost more than their calling (the madvise, then the next task's page faults) */
    if (mallinfo2().fordblks >= TSR_CALL_TRIM_BYTES)
        malloc_trim(0);
    return s;
}

const tsr_kernel_t tsr_kernel_call = {
    .name = "call",
    .version = 10, /* 10: writes where its task's output says (a staging file with --evidence-layout packs); 9: packed files' member table; 8: empty members (evidence format 3); 7: reference blocks by position (streamed by the joint kernel); packed units */
    .init = call_init,
    .process = call_process,
    .destroy = call_destroy,
};
