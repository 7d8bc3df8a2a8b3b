/*
 * joint_kernel.c - the joint kernel object: reads the evidence partitions
 * of a joint task's work unit (every batch of a unit; tsr_plan_work_create)
 * and, for each region of the unit, runs tsr_joint_region_windows()
 * (kernels/joint_region.c) over its members of the batches' partitions a
 * window of sites at a time, appending each window's sites to the region's
 * member of the unit's call set. The window is sized from --mem-per-rank
 * (tsr_plan_budget), so memory is O(window x samples), not O(region x samples).
 * The readers keep their per-site datasets open with a chunk cache of one
 * chunk each (io/partition_reader.c) while an allowance lasts: the window's
 * bytes again under --mem-per-rank (the budget's joint share is a third of
 * what the readers leave, of which the window takes about two: plan_budget.c),
 * TSR_JOINT_CACHE_BYTES without one. About 1.3 MiB a batch of 64 samples over
 * 200 kb at 4x; without the cache, each window decompressed whole chunks of
 * every batch, so the joint's CPU grew with samples squared (issue 17).
 */
#include "io/h5_store.h"
#include "io/io.h"
#include "kernels/pipeline/pipeline.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The readers' chunk caches together without --mem-per-rank (one chunk per dataset needs about 1.3 MiB a
 * batch of 64 samples: this covers about 12,000 samples in one joint task before datasets go uncached). */
#define TSR_JOINT_CACHE_BYTES ((int64_t)256 << 20)
/* Free heap above which a joint task gives it back (as the call kernel does, call_kernel.c). */
#define TSR_JOINT_TRIM_BYTES ((size_t)8 << 20)

/* ---------------------------------------------------------- kernel object */

typedef struct joint_state {
    tsr_ref_t *ref;
    tsr_ploidy_t *ploidy; /* built-in or --ploidy-bed rules */
    int8_t *sex;          /* per sheet sample */
} joint_state_t;

/* The ploidy map of the run's reference and the sheet's sexes. */
static tsr_status_t joint_ploidy_init(joint_state_t *st, const tsr_plan_t *plan)
{
    int n = tsr_ref_n_contigs(st->ref);
    const char **names = calloc((size_t)n + 1, sizeof *names);
    int64_t *lens = calloc((size_t)n + 1, sizeof *lens);
    st->sex = calloc((size_t)plan->sheet->n_samples + 1, sizeof *st->sex);
    tsr_status_t s = names && lens && st->sex ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    for (int i = 0; s == TSR_OK && i < n; i++) {
        names[i] = tsr_ref_contig_name(st->ref, i);
        lens[i] = tsr_ref_contig_length(st->ref, i);
    }
    for (int i = 0; s == TSR_OK && i < plan->sheet->n_samples; i++)
        st->sex[i] = (int8_t)plan->sheet->samples[i].sex;
    if (s == TSR_OK)
        s = tsr_ploidy_create(plan->opts.ploidy_bed, n, names, lens, &st->ploidy);
    free(names);
    free(lens);
    return s;
}

static tsr_status_t joint_init(const tsr_kernel_env_t *env, void **state)
{
    *state = NULL;
    joint_state_t *st;
    TSR_ALLOC(st, 1);
    tsr_status_t s = tsr_ref_open(env->plan->opts.ref, &st->ref);
    if (s == TSR_OK)
        s = joint_ploidy_init(st, env->plan);
    if (s != TSR_OK) {
        tsr_ref_close(&st->ref);
        tsr_ploidy_destroy(&st->ploidy);
        free(st->sex);
        free(st);
        return s;
    }
    *state = st;
    return TSR_OK;
}

static void joint_destroy(void **state)
{
    if (!state || !*state)
        return;
    joint_state_t *st = *state;
    tsr_ref_close(&st->ref);
    tsr_ploidy_destroy(&st->ploidy);
    free(st->sex);
    free(st);
    *state = NULL;
}

static tsr_status_t joint_process(void *state, const tsr_kernel_env_t *env, const tsr_task_t *task)
{
    joint_state_t *st = state;
    const tsr_plan_t *plan = env->plan;
    tsr_work_t *w = NULL;
    TSR_CALL(tsr_plan_work_create(plan, task, &w));
    tsr_status_t s = TSR_OK;
    tsr_partition_reader_t **rd = calloc((size_t)w->n_inputs + 1, sizeof *rd);
    if (!rd)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint task %s", task->key);
    tsr_joint_opts_t o;
    tsr_joint_opts_init(&o);
    o.min_qual = plan->opts.min_qual;
    o.ploidy = st->ploidy;
    o.sex = st->sex;
    const char *chk = getenv("TSR_JOINT_PRETEST_CHECK"); /* bench knob: genotype the skipped sites too */
    o.pretest_check = chk && strcmp(chk, "1") == 0;
    /* a window of sites at a time, sized from the budget (tsr_plan_budget): memory follows the window */
    tsr_mem_budget_t bud;
    if (s == TSR_OK)
        s = tsr_plan_budget(plan, &bud);
    /* a packed unit: one region after another, each from and into its members of the unit's files */
    for (int k = 0; k < w->n_regs && s == TSR_OK; k++) {
        const tsr_region_t *reg = &w->reg[k];
        const char *contig = tsr_ref_contig_name(st->ref, reg->contig);
        char path[4200];
        int n_cohort = 0; /* the batches' samples must be the sheet's, in order, for the sexes to line up */
        int64_t n_samples = 0;
        if (!contig)
            s = tsr_error_set(TSR_ERR_STATE, "joint task %s: region %s is not in the reference %s", task->key,
                              reg->name, plan->opts.ref);
        /* every batch's member listed empty in its file's member table: nothing to read, an empty call set */
        int skip = s == TSR_OK && w->n_inputs > 0;
        for (int b = 0; b < w->n_inputs && skip; b++) {
            tsr_work_member(w, w->inputs[b], k, 0, path, sizeof path);
            skip = tsr_h5_member_empty(path);
        }
        if (skip)
            n_samples = w->n_samples;
        for (int b = 0; b < w->n_inputs && s == TSR_OK && !skip; b++) {
            tsr_work_member(w, w->inputs[b], k, 0, path, sizeof path);
            s = tsr_partition_reader_open(path, &rd[b]);
            const tsr_evidence_t *h = s == TSR_OK ? tsr_partition_reader_head(rd[b]) : NULL;
            if (h && (strcmp(h->contig, contig) != 0 || h->start != reg->start || h->end != reg->end))
                s = tsr_error_set(TSR_ERR_STATE, "%s: holds %s:%lld-%lld, the plan expects region %s", path,
                                  h->contig, (long long)h->start + 1, (long long)h->end, reg->name);
            if (h)
                n_samples += h->n_samples;
            for (int j = 0; s == TSR_OK && h && j < h->n_samples; j++, n_cohort++)
                if (n_cohort >= plan->sheet->n_samples || strcmp(h->sample_ids[j], plan->sheet->samples[n_cohort].id))
                    s = tsr_error_set(TSR_ERR_STATE, "%s: sample %d is '%s', the sheet's is '%s'", path, j,
                                      h->sample_ids[j],
                                      n_cohort < plan->sheet->n_samples ? plan->sheet->samples[n_cohort].id : "(none)");
        }
        char *seq = NULL;
        int64_t seq_len = 0, n_sites = 0;
        for (int b = 0; b < w->n_inputs && s == TSR_OK && !skip; b++)
            n_sites += tsr_partition_reader_head(rd[b])->n_sites;
        /* the reference is read at sites only: a region without any (a decoy's) needs none */
        if (s == TSR_OK && n_sites > 0)
            s = tsr_ref_fetch(st->ref, contig, reg->start, reg->end, &seq, &seq_len);
        tsr_callset_writer_t *out = NULL;
        tsr_work_member(w, w->output, k, 1, path, sizeof path);
        if (s == TSR_OK)
            s = tsr_callset_writer_open(path, contig, reg->start, reg->end, (int32_t)n_samples, 0, 0, &out);
        int64_t window = tsr_joint_window_sites(n_samples, bud.joint_bytes);
        if (plan->opts.joint_window > 0 && plan->opts.joint_window < window)
            window = plan->opts.joint_window;
        /* each reader's share of the chunk-cache allowance (what is read does not depend on it) */
        int64_t cache = (bud.joint_bytes > 0 ? bud.joint_bytes : TSR_JOINT_CACHE_BYTES) / (w->n_inputs > 0 ? w->n_inputs : 1);
        for (int b = 0; b < w->n_inputs && s == TSR_OK && !skip; b++)
            tsr_partition_reader_set_cache(rd[b], cache);
        if (s == TSR_OK && !skip)
            s = tsr_joint_region_windows(rd, w->n_inputs, seq, &o, window, out);
        int64_t cached = 0;
        for (int b = 0; b < w->n_inputs && rd[b]; b++)
            cached += tsr_partition_reader_cache(rd[b]);
        if (s == TSR_OK && !skip)
            tsr_log_debug("joint task %s, region %s: windows of %lld sites, readers' chunk caches %.1f MiB (of %.1f "
                          "allowed)", task->key, reg->name, (long long)window, (double)cached / 1048576.0,
                          (double)cache * w->n_inputs / 1048576.0);
        tsr_status_t c = out ? tsr_callset_writer_close(&out, s == TSR_OK) : TSR_OK;
        if (s == TSR_OK)
            s = c;
        for (int b = 0; b < w->n_inputs; b++)
            tsr_partition_reader_close(&rd[b]);
        free(seq);
    }
    free(rd);
    tsr_plan_work_destroy(&w);
    /* the chunk caches' and windows' memory is freed, but HDF5 keeps freed blocks on its free lists and glibc
       keeps the heap mapped: give both back, so the cohort tasks on this rank start near its base (measured,
       1,000 samples: without it the cohort.h5 stage peaked 23 MiB higher, on top of the joint's caches) */
    H5garbage_collect();
    if (mallinfo2().fordblks >= TSR_JOINT_TRIM_BYTES)
        malloc_trim(0);
    return s;
}

const tsr_kernel_t tsr_kernel_joint = {
    .name = "joint",
    .version = 8, /* 8: both of 7's changes; 7 (pre-test branch): the pre-test skips union sites no ALT of which can reach min_alt_count (joint_pretest.c); 7 (decoy branch): packed call sets' member table, regions whose evidence members are all listed empty not read; 6: empty members (call-set format 2); 5: windowed (evidence read and call set written a window of sites at a time); haploid calls; packed units */
    .init = joint_init,
    .process = joint_process,
    .destroy = joint_destroy,
};
