/*
 * plan_work.c - a task's resolved work unit. The plan alone knows how a task
 * arg encodes its unit (call: region * n_batches + batch; joint: region, and
 * a low-pass site window in the high 32 bits, TSR_JOINT_WINDOW_ARG;
 * cohort: 0, see plan_graph.c) and where each unit's inputs and output live
 * (plan_paths.c); tsr_plan_work_create() decodes the arg once, checks it
 * against the plan, and hands the kernel everything it reads and writes, so
 * the kernel objects (align_kernel.c, call_kernel.c, joint_kernel.c,
 * lowpass_kernel.c, cohort_kernel.c) keep only their computation. Align
 * tasks pack (step, sample, slot) in their arg (tsr_plan_align_arg).
 */
#include "kernels/pipeline/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The kernel running a task type in the plan's mode, as named in a range error (registry.c picks it). */
static const char *tsr_work_kernel_label(const tsr_plan_t *plan, tsr_task_type_t type)
{
    if (type == TSR_TASK_CALL)
        return plan->lowpass ? "lowpass evidence" : "call";
    return plan->lowpass ? "lowpass discovery" : "joint";
}

/* n_inputs input slots and n_samples id slots, zeroed; NULL when out of memory. */
static tsr_work_t *tsr_work_alloc(int n_inputs, int n_samples)
{
    tsr_work_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->n_inputs = n_inputs;
    w->n_samples = n_samples;
    w->inputs = calloc((size_t)n_inputs + 1, sizeof *w->inputs);
    w->input_samples = calloc((size_t)n_inputs + 1, sizeof *w->input_samples);
    w->sample_ids = calloc((size_t)n_samples + 1, sizeof *w->sample_ids);
    if (!w->inputs || !w->input_samples || !w->sample_ids)
        tsr_plan_work_destroy(&w);
    return w;
}

static tsr_status_t tsr_work_set_output(tsr_work_t *w, const char *path)
{
    if (!(w->output = strdup(path)))
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    return TSR_OK;
}

/* outdir/rel into a new string at *dst; mkdir: rel's directory created first (an output). */
static tsr_status_t tsr_work_path(const tsr_plan_t *plan, const char *rel, int mkdir, char **dst)
{
    char full[4096];
    TSR_CALL(mkdir ? tsr_plan_output_path(plan, rel, full, sizeof full) : tsr_plan_path(plan, rel, full, sizeof full));
    if (!(*dst = strdup(full)))
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    return TSR_OK;
}

/*
 * An align task: index -> the chunk file; map -> reads the chunk file, writes its run and signature
 * files; merge -> reads the chunk file, every run, every signature file, writes the sample's
 * alignments and QC.
 */
static tsr_status_t tsr_work_align(const tsr_plan_t *plan, tsr_work_t *w)
{
    char rel[1024];
    int k = w->n_slots;
    tsr_plan_align_chunks_path(plan, w->sample, rel, sizeof rel);
    if (w->step == TSR_ALIGN_STEP_INDEX)
        return tsr_work_path(plan, rel, 1, &w->output);
    TSR_CALL(tsr_work_path(plan, rel, 0, &w->inputs[0]));
    if (w->step == TSR_ALIGN_STEP_MAP) {
        tsr_plan_align_run_path(plan, w->sample, w->slot, "bam", rel, sizeof rel);
        TSR_CALL(tsr_work_path(plan, rel, 1, &w->output));
        tsr_plan_align_run_path(plan, w->sample, w->slot, "dup", rel, sizeof rel);
        return tsr_work_path(plan, rel, 0, &w->output2);
    }
    for (int i = 0; i < 2 * k; i++) {
        tsr_plan_align_run_path(plan, w->sample, i % k, i < k ? "bam" : "dup", rel, sizeof rel);
        TSR_CALL(tsr_work_path(plan, rel, 0, &w->inputs[1 + i]));
    }
    tsr_plan_aln_path(plan, w->sample, rel, sizeof rel);
    TSR_CALL(tsr_work_path(plan, rel, 1, &w->output));
    tsr_plan_align_qc_path(plan, w->sample, rel, sizeof rel);
    return tsr_work_path(plan, rel, 0, &w->output2);
}

/*
 * A call task: the batch's alignment files and ids; the unit's evidence partition, its directory created.
 * The partition is written where the task's output says: with evidence containers (--evidence-layout packs)
 * the scheduler renamed it to this rank's staging file, which it appends to the rank's container.
 */
static tsr_status_t tsr_work_call(const tsr_plan_t *plan, const tsr_task_t *task, int r, int bi, tsr_work_t *w)
{
    const tsr_batch_t *b = &plan->batches[bi];
    for (int i = 0; i < b->n; i++) {
        char path[4096];
        TSR_CALL(tsr_plan_sample_alignments(plan, b->first + i, path, sizeof path));
        w->sample_ids[i] = plan->sheet->samples[b->first + i].id;
        w->input_samples[i] = 1;
        if (!(w->inputs[i] = strdup(path)))
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory listing the inputs of batch %d", bi);
    }
    char rel[4096], full[4096];
    if (task->n_outputs == 1 && task->outputs)
        snprintf(rel, sizeof rel, "%s", task->outputs[0]);
    else
        tsr_plan_evidence_path(plan, r, bi, rel, sizeof rel);
    TSR_CALL(tsr_plan_output_path(plan, rel, full, sizeof full));
    return tsr_work_set_output(w, full);
}

/*
 * A joint task: the unit's partition of every batch; the unit's call set, its directory created. A low-pass
 * site window: the same inputs, its window's call set. A partition in an evidence container is named by the
 * location the scheduler sent with the task (tsr_task_located: "CONTAINER@OFFSET+LENGTH", which the HDF5
 * readers open in place, io/h5_window.c); one without is read at its own path.
 */
static tsr_status_t tsr_work_joint(const tsr_plan_t *plan, const tsr_task_t *task, int r, tsr_work_t *w)
{
    char rel[4096], full[4096];
    if (w->window >= 0) {
        const tsr_region_t *reg = w->reg;
        const int64_t len = reg->end - reg->start;
        w->win_start = reg->start + len * w->window / w->n_windows;
        w->win_end = reg->start + len * (w->window + 1) / w->n_windows;
    }
    int hint = 0; /* the partitions' locations come in batch order */
    for (int b = 0; b < plan->n_batches; b++) {
        tsr_plan_evidence_path(plan, r, b, rel, sizeof rel);
        const char *loc = tsr_task_located(task, rel, &hint);
        TSR_CALL(tsr_plan_path(plan, loc ? loc : rel, full, sizeof full));
        w->input_samples[b] = plan->batches[b].n;
        if (!(w->inputs[b] = strdup(full)))
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    }
    if (w->window >= 0)
        tsr_plan_joint_window_path(plan, r, w->window, rel, sizeof rel);
    else
        tsr_plan_joint_path(plan, r, rel, sizeof rel);
    TSR_CALL(tsr_plan_output_path(plan, rel, full, sizeof full));
    return tsr_work_set_output(w, full);
}

/*
 * The cohort task: every region's call set, in region order (a packed unit's member per region, "U.h5#k";
 * a low-pass unit split into site windows: each window's call set, in window order, tsr_plan_lp_windows);
 * its outputs go into the run's directory.
 */
static tsr_status_t tsr_work_cohort(const tsr_plan_t *plan, tsr_work_t *w)
{
    for (int u = 0, r = 0; u < plan->n_units; u++) {
        const int n_win = tsr_plan_lp_windows(plan, u);
        for (int k = 0; n_win > 1 && k < n_win; k++, r++) { /* a split unit: its windows' call sets, in order */
            char rel[1024], path[4200];
            tsr_plan_joint_window_path(plan, u, k, rel, sizeof rel);
            TSR_CALL(tsr_plan_path(plan, rel, path, sizeof path));
            w->input_samples[r] = plan->sheet->n_samples;
            if (!(w->inputs[r] = strdup(path)))
                return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
        }
        for (int k = 0; n_win == 1 && k < plan->units[u].n; k++, r++) {
            char rel[1024], path[4200];
            tsr_plan_joint_path(plan, u, rel, sizeof rel);
            if (plan->units[u].n > 1)
                snprintf(rel + strlen(rel), sizeof rel - strlen(rel), "#%d", k);
            TSR_CALL(tsr_plan_path(plan, rel, path, sizeof path));
            w->input_samples[r] = plan->sheet->n_samples;
            if (!(w->inputs[r] = strdup(path)))
                return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
        }
    }
    return tsr_work_set_output(w, plan->opts.outdir);
}

tsr_status_t tsr_plan_work_create(const tsr_plan_t *plan, const tsr_task_t *task, tsr_work_t **out)
{
    *out = NULL;
    tsr_task_type_t type = (tsr_task_type_t)task->type;
    int r = -1, u = -1, bi = -1, n_inputs = 0, n_samples = plan->sheet->n_samples;
    tsr_align_step_t step = TSR_ALIGN_STEP_INDEX;
    int sample = -1, slot = 0, window = -1, n_windows = 1;
    if (type == TSR_TASK_ALIGN) {
        tsr_plan_align_unpack(task->arg, &step, &sample, &slot);
        if (sample < 0 || sample >= plan->sheet->n_samples || plan->align_slots[sample] < 1 ||
            (step != TSR_ALIGN_STEP_INDEX && step != TSR_ALIGN_STEP_MAP && step != TSR_ALIGN_STEP_MERGE) ||
            (step == TSR_ALIGN_STEP_MAP && (slot < 0 || slot >= plan->align_slots[sample])))
            return tsr_error_set(TSR_ERR_INTERNAL, "align task '%s' names no sample, step or slot of the plan",
                                 task->key);
        n_inputs = step == TSR_ALIGN_STEP_INDEX ? 0 : step == TSR_ALIGN_STEP_MAP ? 1 : 1 + 2 * plan->align_slots[sample];
        n_samples = 1;
    } else if (type == TSR_TASK_CALL) {
        if (plan->n_batches <= 0 || task->arg < 0 || task->arg >= (int64_t)plan->n_units * plan->n_batches)
            return tsr_error_set(TSR_ERR_INTERNAL, "%s task %s: argument %lld out of range",
                                 tsr_work_kernel_label(plan, type), task->key, (long long)task->arg);
        u = (int)(task->arg / plan->n_batches);
        bi = (int)(task->arg % plan->n_batches);
        n_inputs = n_samples = plan->batches[bi].n;
    } else if (type == TSR_TASK_JOINT) {
        int64_t unit = task->arg & 0xffffffff, wk = (task->arg >> 32) - 1;
        if (task->arg < 0 || unit >= plan->n_units ||
            (wk >= 0 && wk >= tsr_plan_lp_windows(plan, (int)unit)))
            return tsr_error_set(TSR_ERR_INTERNAL, "%s task %s: argument %lld out of range",
                                 tsr_work_kernel_label(plan, type), task->key, (long long)task->arg);
        u = (int)unit;
        window = (int)wk;
        n_windows = tsr_plan_lp_windows(plan, u);
        if ((window < 0) != (n_windows == 1))
            return tsr_error_set(TSR_ERR_INTERNAL, "%s task %s: unit %d has %d site windows, the task names window %d",
                                 tsr_work_kernel_label(plan, type), task->key, u, n_windows, window);
        n_inputs = plan->n_batches;
    } else if (type == TSR_TASK_COHORT) {
        for (int k = 0; k < plan->n_units; k++) {
            const int n_win = tsr_plan_lp_windows(plan, k);
            n_inputs += n_win > 1 ? n_win : plan->units[k].n;
        }
    } else {
        return tsr_error_set(TSR_ERR_INTERNAL, "task %s: type %d has no resolved work unit", task->key, task->type);
    }
    if (u >= 0)
        r = plan->units[u].first;
    tsr_work_t *w = tsr_work_alloc(n_inputs, n_samples);
    if (!w)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory resolving task %s", task->key);
    w->type = type;
    w->region = r;
    w->reg = r >= 0 ? &plan->regions[r] : NULL;
    w->unit = u;
    w->n_regs = u >= 0 ? plan->units[u].n : 0;
    w->window = window;
    w->n_windows = n_windows;
    w->batch = bi;
    w->bt = bi >= 0 ? &plan->batches[bi] : NULL;
    w->sheet = plan->sheet;
    w->sample = sample;
    tsr_status_t s;
    if (type == TSR_TASK_ALIGN) {
        w->step = step;
        w->slot = slot;
        w->n_slots = plan->align_slots[sample];
        w->smp = &plan->sheet->samples[sample];
        w->sample_ids[0] = w->smp->id;
        w->input_samples[0] = 1;
        s = tsr_work_align(plan, w);
    } else if (type == TSR_TASK_CALL) {
        s = tsr_work_call(plan, task, u, bi, w);
    } else {
        for (int i = 0; i < n_samples; i++)
            w->sample_ids[i] = plan->sheet->samples[i].id;
        s = type == TSR_TASK_JOINT ? tsr_work_joint(plan, task, u, w) : tsr_work_cohort(plan, w);
    }
    if (s != TSR_OK) {
        tsr_plan_work_destroy(&w);
        return s;
    }
    *out = w;
    return TSR_OK;
}

void tsr_work_member(const tsr_work_t *w, const char *path, int k, int write, char *buf, size_t len)
{
    if (w->n_regs <= 1)
        snprintf(buf, len, "%s", path);
    else if (write)
        snprintf(buf, len, "%s#%d/%d", path, k, w->n_regs);
    else
        snprintf(buf, len, "%s#%d", path, k);
}

void tsr_plan_work_destroy(tsr_work_t **wp)
{
    if (!wp || !*wp)
        return;
    tsr_work_t *w = *wp;
    for (int i = 0; w->inputs && i < w->n_inputs; i++)
        free(w->inputs[i]);
    free(w->inputs);
    free(w->input_samples);
    free(w->sample_ids);
    free(w->output);
    free(w->output2);
    free(w);
    *wp = NULL;
}

tsr_status_t tsr_region_ref_fetch(tsr_ref_t *ref, pthread_mutex_t *lock, const tsr_region_t *reg,
                                  const char *task_key, const char *ref_path, const char **contig, char **seq,
                                  int64_t *before, int64_t *len)
{
    *seq = NULL;
    *before = *len = 0;
    *contig = tsr_ref_contig_name(ref, reg->contig);
    int64_t clen = tsr_ref_contig_length(ref, reg->contig);
    int64_t fetch_end = reg->end + TSR_REGION_REF_PAD < clen ? reg->end + TSR_REGION_REF_PAD : clen;
    int64_t fetch_start = reg->start > TSR_REGION_REF_PAD ? reg->start - TSR_REGION_REF_PAD : 0;
    if (!*contig || fetch_end < reg->end)
        return tsr_error_set(TSR_ERR_STATE, "task %s: region %s is not in the reference %s", task_key, reg->name,
                             ref_path);
    int64_t n = 0;
    pthread_mutex_lock(lock);
    tsr_status_t s = tsr_ref_fetch(ref, *contig, fetch_start, fetch_end, seq, &n);
    pthread_mutex_unlock(lock);
    TSR_CALL(s);
    *before = reg->start - fetch_start;
    if (n < *before + (reg->end - reg->start)) {
        free(*seq);
        *seq = NULL;
        return tsr_error_set(TSR_ERR_STATE, "task %s: the reference %s is shorter than region %s", task_key,
                             ref_path, reg->name);
    }
    *len = n - *before;
    return TSR_OK;
}
