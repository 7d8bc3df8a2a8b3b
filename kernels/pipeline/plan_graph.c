/*
 * plan_graph.c - the plan's task graph (kernels/README.md, work units):
 * align index -> map slots -> merge per FASTQ sample, a call task per region
 * x batch (after the align merges of its samples), a joint task per region
 * (after its call tasks; a large low-pass unit has site-window tasks instead,
 * tsr_plan_lp_windows), in deep mode a cohort part per unit (after its joint
 * task), and the cohort task (after every part; low-pass: every joint and
 * site-window task).
 * Also how many map tasks a FASTQ sample gets, from its files' sizes alone,
 * so every rank and thread count sees the same tasks.
 *
 * Only rank 0 builds the graph (the scheduler sends each task whole to the
 * rank that runs it). The families of many tasks (call: units x batches;
 * align: index, map slots, merge per sample) are task families
 * (tsr_task_family_t): the graph keeps their arg, cost and type, and their
 * keys and output paths are made again from the plan when needed, by
 * tsr_plan_call_strings and tsr_plan_align_strings below. A new family plugs
 * in the same way: a strings function of (plan, arg) that is the only place
 * its key and outputs are spelled, registered once with tsr_graph_family_add,
 * its tasks added with tsr_graph_add_family (scheduler/README.md).
 */
#include "kernels/pipeline/pipeline.h"
#include "kernels/pipeline/plan_internal.h"
#include "kernels/stats/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int64_t tsr_file_size(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 ? (int64_t)st.st_size : 0;
}

/*
 * 1 when the file is gzip but not BGZF (no "BC" extra field in its first
 * member): a map task can enter it mid-stream only by inflating everything
 * before its chunk.
 */
static int tsr_plain_gzip(const char *path)
{
    unsigned char b[18];
    FILE *fp = path ? fopen(path, "rb") : NULL;
    size_t n = fp ? fread(b, 1, sizeof b, fp) : 0;
    if (fp)
        fclose(fp);
    if (n < 2 || b[0] != 0x1f || b[1] != 0x8b)
        return 0;
    return !(n == sizeof b && (b[3] & 4) && b[12] == 'B' && b[13] == 'C');
}

/* Bytes of a read-input sample's files, every lane. */
static double tsr_sample_read_bytes(const tsr_sample_t *smp)
{
    double bytes = 0;
    for (int l = 0; l < smp->n_lanes; l++)
        bytes += (double)(tsr_file_size(smp->lanes[l].fastq1) + tsr_file_size(smp->lanes[l].fastq2));
    return bytes;
}

/*
 * Map tasks per FASTQ sample, from the files' sizes alone (identical on every
 * rank): about one per chunk at TSR_ALIGN_EST_BYTES compressed bytes per read
 * pair (gzip'ed 2 x 150 bp). A wrong estimate costs balance, never results:
 * each slot takes a contiguous share of the chunks the index task finds.
 */
#define TSR_ALIGN_EST_BYTES 160
#define TSR_ALIGN_MAX_SLOTS 100000
/*
 * Map tasks of a sample with a plain-gzip file: map task k inflates k/K of
 * the file before its chunks, K/2 whole-file inflations in all (8 tasks on
 * 100,000 pairs: +12% CPU against BGZF input, kernels/README.md), so K stays
 * small; BGZF, BAM/CRAM and plain text are entered directly and are not capped.
 */
#define TSR_ALIGN_MAX_GZIP_SLOTS 8
tsr_status_t tsr_plan_align_units(tsr_plan_t *plan)
{
    const tsr_sheet_t *sh = plan->sheet;
    plan->align_slots = calloc((size_t)sh->n_samples + 1, sizeof *plan->align_slots);
    if (!plan->align_slots)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    for (int i = 0; i < sh->n_samples; i++) {
        if (sh->samples[i].kind != TSR_INPUT_FASTQ)
            continue;
        const tsr_sample_t *smp = &sh->samples[i];
        double bytes = tsr_sample_read_bytes(smp);
        double k = bytes / ((double)plan->opts.align_chunk_pairs * TSR_ALIGN_EST_BYTES), cap = TSR_ALIGN_MAX_SLOTS;
        /* only a sample big enough for the gzip cap to matter has its files opened (every rank plans) */
        for (int l = 0; k > TSR_ALIGN_MAX_GZIP_SLOTS && l < smp->n_lanes; l++)
            if (tsr_plain_gzip(smp->lanes[l].fastq1) || tsr_plain_gzip(smp->lanes[l].fastq2))
                cap = TSR_ALIGN_MAX_GZIP_SLOTS;
        plan->align_slots[i] = k < 1 ? 1 : k > cap ? (int)cap : (int)(k + 0.999999);
    }
    return TSR_OK;
}

/* A generated key or path that filled its buffer was cut: refuse it rather than journal a cut name. */
static tsr_status_t tsr_plan_strings_fit(const char *key, char (*out)[TSR_TASK_STR_MAX], int n_out)
{
    int cut = strlen(key) >= TSR_TASK_STR_MAX - 1;
    for (int k = 0; k < n_out; k++)
        cut |= strlen(out[k]) >= TSR_TASK_STR_MAX - 1;
    if (cut)
        return tsr_error_set(TSR_ERR_USAGE, "task '%.60s...': a name or output path is longer than %d bytes; "
                             "use shorter sample or contig names", key, TSR_TASK_STR_MAX - 2);
    return TSR_OK;
}

/*
 * The call family: arg = unit * n_batches + batch. Key call/UNIT/bBBBBB (part 0) or call/UNIT/pPPPP_bBBBBB,
 * one output, the evidence file (tsr_plan_evidence_path).
 */
static tsr_status_t tsr_plan_call_strings(const void *ctx, int64_t arg, char *key, char (*out)[TSR_TASK_STR_MAX])
{
    const tsr_plan_t *plan = ctx;
    int u = (int)(arg / plan->n_batches), b = (int)(arg % plan->n_batches);
    const tsr_batch_t *bt = &plan->batches[b];
    if (bt->part == 0)
        snprintf(key, TSR_TASK_STR_MAX, "call/%s/b%05d", plan->units[u].name, bt->index);
    else
        snprintf(key, TSR_TASK_STR_MAX, "call/%s/p%04d_b%05d", plan->units[u].name, bt->part, bt->index);
    tsr_plan_evidence_path(plan, u, b, out[0], TSR_TASK_STR_MAX);
    return tsr_plan_strings_fit(key, out, 1);
}

/*
 * The align families, arg = tsr_plan_align_arg(step, sample, slot): index (align/S/index -> the chunk
 * list), map (align/S/cKKKKK -> a run and its duplicate places), merge (align/S -> the alignments, their
 * index, the QC).
 */
static tsr_status_t tsr_plan_align_strings(const void *ctx, int64_t arg, char *key, char (*out)[TSR_TASK_STR_MAX])
{
    const tsr_plan_t *plan = ctx;
    tsr_align_step_t step;
    int i, k, n_out = 1;
    tsr_plan_align_unpack(arg, &step, &i, &k);
    const char *id = plan->sheet->samples[i].id;
    if (step == TSR_ALIGN_STEP_INDEX) {
        snprintf(key, TSR_TASK_STR_MAX, "align/%s/index", id);
        tsr_plan_align_chunks_path(plan, i, out[0], TSR_TASK_STR_MAX);
    } else if (step == TSR_ALIGN_STEP_MAP) {
        snprintf(key, TSR_TASK_STR_MAX, "align/%s/c%05d", id, k);
        tsr_plan_align_run_path(plan, i, k, "bam", out[0], TSR_TASK_STR_MAX);
        tsr_plan_align_run_path(plan, i, k, "dup", out[1], TSR_TASK_STR_MAX);
        n_out = 2;
    } else {
        snprintf(key, TSR_TASK_STR_MAX, "align/%s", id);
        tsr_plan_aln_path(plan, i, out[0], TSR_TASK_STR_MAX);
        size_t l1 = strlen(out[0]);
        const char *ext = l1 > 5 && !strcmp(out[0] + l1 - 5, ".cram") ? ".crai" : ".bai";
        if (l1 + strlen(ext) >= TSR_TASK_STR_MAX - 1)
            return tsr_plan_strings_fit(out[0], out, 0); /* too long for its index's name too */
        memcpy(out[1], out[0], l1);
        memcpy(out[1] + l1, ext, strlen(ext) + 1);
        tsr_plan_align_qc_path(plan, i, out[2], TSR_TASK_STR_MAX);
        n_out = 3;
    }
    return tsr_plan_strings_fit(key, out, n_out);
}

/* The graph's task families, registered once per graph. */
typedef struct tsr_plan_families {
    int call, align_index, align_map, align_merge;
} tsr_plan_families_t;

static tsr_status_t tsr_plan_families_add(const tsr_plan_t *plan, tsr_graph_t *g, tsr_plan_families_t *f)
{
    tsr_task_family_t call = {.strings = tsr_plan_call_strings, .ctx = plan, .n_outputs = 1};
    tsr_task_family_t align = {.strings = tsr_plan_align_strings, .ctx = plan, .n_outputs = 1};
    TSR_CALL(tsr_graph_family_add(g, &call, &f->call));
    TSR_CALL(tsr_graph_family_add(g, &align, &f->align_index));
    align.n_outputs = 2;
    TSR_CALL(tsr_graph_family_add(g, &align, &f->align_map));
    align.n_outputs = 3;
    TSR_CALL(tsr_graph_family_add(g, &align, &f->align_merge));
    return TSR_OK;
}

/* index -> map slots -> merge for one FASTQ sample; *merge_id is what call tasks wait for. */
static tsr_status_t tsr_plan_graph_align(const tsr_plan_t *plan, const tsr_plan_families_t *f, tsr_graph_t *g,
                                         int i, tsr_task_id_t *merge_id)
{
    const tsr_sample_t *smp = &plan->sheet->samples[i];
    double bytes = tsr_sample_read_bytes(smp);
    int k_slots = plan->align_slots[i];
    tsr_task_id_t index_id;
    TSR_CALL(tsr_graph_add_family(g, f->align_index, TSR_TASK_ALIGN, bytes * 0.05,
                                  tsr_plan_align_arg(TSR_ALIGN_STEP_INDEX, i, 0), &index_id));
    TSR_CALL(tsr_graph_add_family(g, f->align_merge, TSR_TASK_ALIGN, bytes * 0.1,
                                  tsr_plan_align_arg(TSR_ALIGN_STEP_MERGE, i, 0), merge_id));
    for (int k = 0; k < k_slots; k++) {
        tsr_task_id_t map_id;
        TSR_CALL(tsr_graph_add_family(g, f->align_map, TSR_TASK_ALIGN, bytes / k_slots,
                                      tsr_plan_align_arg(TSR_ALIGN_STEP_MAP, i, k), &map_id));
        TSR_CALL(tsr_graph_add_dep(g, map_id, index_id));
        TSR_CALL(tsr_graph_add_dep(g, *merge_id, map_id));
    }
    return TSR_OK;
}

/*
 * Discovery windows of a low-pass unit: one per TSR_LP_WINDOW_COST sample-bases (about 1.5 CPU s of
 * discovery at 0.1x, kernels/README.md), at most TSR_LP_MAX_WINDOWS and none shorter than
 * TSR_LP_MIN_WINDOW_BP; --discover-windows N sets the count. From the plan alone, so every rank and
 * thread count sees the same tasks.
 */
#define TSR_LP_WINDOW_COST 2.5e8
#define TSR_LP_MAX_WINDOWS 64
#define TSR_LP_MIN_WINDOW_BP 1000
int tsr_plan_lp_windows(const tsr_plan_t *plan, int unit)
{
    const tsr_unit_t *un = &plan->units[unit];
    if (!plan->lowpass || un->n != 1)
        return 1;
    const tsr_region_t *reg = &plan->regions[un->first];
    int64_t len = reg->end - reg->start;
    double w = plan->opts.discover_windows > 0 ? plan->opts.discover_windows
                                               : (double)len * plan->sheet->n_samples / TSR_LP_WINDOW_COST;
    if (w > TSR_LP_MAX_WINDOWS)
        w = TSR_LP_MAX_WINDOWS;
    if (w > (double)len / TSR_LP_MIN_WINDOW_BP)
        w = (double)len / TSR_LP_MIN_WINDOW_BP;
    return w < 2 ? 1 : (int)w;
}

void tsr_plan_joint_window_path(const tsr_plan_t *plan, int unit, int w, char *buf, size_t len)
{
    snprintf(buf, len, "joint/g%05d/%s/w%04d.h5", unit / TSR_UNIT_FANOUT, plan->units[unit].name, w);
}

tsr_status_t tsr_plan_graph(const tsr_plan_t *plan, tsr_graph_t **out)
{
    *out = NULL;
    tsr_graph_t *g = NULL;
    TSR_CALL(tsr_graph_create(&g));
    const tsr_sheet_t *sh = plan->sheet;
    tsr_task_id_t *align_id = calloc((size_t)sh->n_samples, sizeof *align_id);
    tsr_task_id_t *joint_id = calloc((size_t)plan->n_units + 1, sizeof *joint_id);
    tsr_status_t s = (align_id && joint_id) ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    char key[1024], o1[1024];
    tsr_task_id_t *win_ids = NULL; /* low-pass site-window tasks, every unit's (the cohort task waits for them) */
    int n_wins = 0, cap_wins = 0;
    tsr_plan_families_t fam;
    if (s == TSR_OK)
        s = tsr_plan_families_add(plan, g, &fam);
    /*
     * The tasks and dependencies to come, so the key index never rehashes (which would make every family
     * key again) and the dependency list is not doubled past its size (at 5 million tasks, 30 MB).
     */
    int64_t n_tasks = 1, n_edges = 0, n_fastq = 0;
    for (int i = 0; i < sh->n_samples; i++)
        if (sh->samples[i].kind == TSR_INPUT_FASTQ) {
            n_tasks += 2 + plan->align_slots[i];
            n_edges += 2 * plan->align_slots[i];
            n_fastq++;
        }
    int64_t n_gated = 0; /* batches with a FASTQ sample: one gate each */
    for (int b = 0; b < plan->n_batches; b++)
        for (int k = 0; k < plan->batches[b].n; k++)
            if (sh->samples[plan->batches[b].first + k].kind == TSR_INPUT_FASTQ) {
                n_gated++;
                break;
            }
    if (!plan->opts.align_only) {
        n_tasks += (int64_t)plan->n_units * (plan->n_batches + 2) + n_gated;
        /* gate -> its batch's align merges, call -> its batch's gate, joint -> its calls, part -> joint,
           cohort -> parts */
        n_edges += n_fastq + (int64_t)plan->n_units * (n_gated + plan->n_batches + 2);
        for (int u = 0; plan->lowpass && u < plan->n_units; u++) { /* site windows replace a joint task */
            int64_t w = tsr_plan_lp_windows(plan, u);
            if (w > 1) { /* and a gate: windows -> gate -> the unit's calls */
                n_tasks += w;
                n_edges += 2 * w;
            }
        }
    }
    if (s == TSR_OK)
        s = tsr_graph_reserve(g, n_tasks, n_edges);
    for (int i = 0; i < sh->n_samples && s == TSR_OK; i++) {
        align_id[i] = -1;
        if (sh->samples[i].kind != TSR_INPUT_FASTQ)
            continue;
        s = tsr_plan_graph_align(plan, &fam, g, i, &align_id[i]);
    }
    if (plan->opts.align_only) { /* tessera align: the align tasks alone, same keys and outputs as in a full run */
        free(align_id);
        free(joint_id);
        if (s != TSR_OK)
            tsr_graph_destroy(&g);
        *out = g;
        return s;
    }
    /*
     * A gate per batch with FASTQ samples: a call task waits on its batch's gate, which waits on the batch's
     * align merges (units x samples dependencies otherwise: 330 million at 100,000 samples x 3,300 units).
     */
    tsr_task_id_t *gate_id = calloc((size_t)plan->n_batches + 1, sizeof *gate_id);
    if (!gate_id && s == TSR_OK)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    for (int b = 0; b < plan->n_batches && s == TSR_OK; b++) {
        gate_id[b] = -1;
        for (int k = 0; k < plan->batches[b].n && s == TSR_OK; k++) {
            int smp = plan->batches[b].first + k;
            if (align_id[smp] < 0)
                continue;
            if (gate_id[b] < 0) {
                snprintf(key, sizeof key, "gate/aligned/b%06d", b);
                s = tsr_graph_add_gate(g, key, &gate_id[b]);
            }
            if (s == TSR_OK)
                s = tsr_graph_add_dep(g, gate_id[b], align_id[smp]);
        }
    }
    for (int u = 0; u < plan->n_units && s == TSR_OK; u++) {
        const tsr_unit_t *un = &plan->units[u];
        int64_t bases = 0;
        for (int k = 0; k < un->n; k++)
            bases += plan->regions[un->first + k].end - plan->regions[un->first + k].start;
        tsr_task_id_t *call_id = calloc((size_t)plan->n_batches, sizeof *call_id);
        if (!call_id) {
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
            break;
        }
        for (int b = 0; b < plan->n_batches && s == TSR_OK; b++) {
            double cost = (double)bases * plan->batches[b].n * 1e-3;
            s = tsr_graph_add_family(g, fam.call, TSR_TASK_CALL, cost, (int64_t)u * plan->n_batches + b, &call_id[b]);
            if (s == TSR_OK && gate_id[b] >= 0)
                s = tsr_graph_add_dep(g, call_id[b], gate_id[b]);
        }
        /* low-pass, a large unit: site-window tasks instead of one joint task, the cohort task reads their
           call sets in window order (plan_work.c); joint_id[u] = -1 */
        const int n_win = tsr_plan_lp_windows(plan, u);
        joint_id[u] = -1;
        if (s == TSR_OK && n_win == 1) {
            snprintf(key, sizeof key, "joint/%s", un->name);
            tsr_plan_joint_path(plan, u, o1, sizeof o1);
            const char *outs[1] = {o1};
            double cost = (double)bases * sh->n_samples * 1e-4;
            s = tsr_graph_add(g, TSR_TASK_JOINT, key, cost, u, outs, 1, &joint_id[u]);
        }
        for (int b = 0; n_win == 1 && b < plan->n_batches && s == TSR_OK; b++)
            s = tsr_graph_add_dep(g, joint_id[u], call_id[b]);
        if (n_win > 1 && n_wins + n_win > cap_wins) {
            tsr_task_id_t *nw = realloc(win_ids, (size_t)(2 * (n_wins + n_win)) * sizeof *nw);
            if (!nw)
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
            else
                win_ids = nw, cap_wins = 2 * (n_wins + n_win);
        }
        /* the windows wait on a gate that waits on the unit's calls: batches + windows dependencies */
        tsr_task_id_t calls_done = -1;
        if (n_win > 1 && s == TSR_OK) {
            snprintf(key, sizeof key, "gate/called/%s", un->name);
            s = tsr_graph_add_gate(g, key, &calls_done);
        }
        for (int b = 0; n_win > 1 && b < plan->n_batches && s == TSR_OK; b++)
            s = tsr_graph_add_dep(g, calls_done, call_id[b]);
        for (int k = 0; n_win > 1 && k < n_win && s == TSR_OK; k++) {
            tsr_task_id_t *wid = &win_ids[n_wins++];
            snprintf(key, sizeof key, "joint/%s/w%04d", un->name, k);
            tsr_plan_joint_window_path(plan, u, k, o1, sizeof o1);
            const char *outs[1] = {o1};
            s = tsr_graph_add(g, TSR_TASK_JOINT, key, (double)bases * sh->n_samples * 1e-4 / n_win,
                              TSR_JOINT_WINDOW_ARG(u, k), outs, 1, wid);
            if (s == TSR_OK)
                s = tsr_graph_add_dep(g, *wid, calls_done);
        }
        free(call_id);
    }
    if (s == TSR_OK) {
        /* deep: a cohort part per unit (after its joint task), joined by the final task; low-pass: one task
           (its likelihood statistics do not merge from files) */
        tsr_task_id_t *pid = calloc((size_t)plan->n_units + 1, sizeof *pid);
        if (!pid)
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
        for (int u = 0; u < plan->n_units && s == TSR_OK; u++) {
            pid[u] = joint_id[u];
            if (plan->lowpass)
                continue;
            char p[3][64];
            const char *pouts[3] = {p[0], p[1], p[2]};
            for (int k = 0; k < 3; k++)
                tsr_cohort_part_path(u, k, p[k], sizeof p[k]);
            int64_t bases = 0;
            for (int k = 0; k < plan->units[u].n; k++)
                bases += plan->regions[plan->units[u].first + k].end - plan->regions[plan->units[u].first + k].start;
            snprintf(key, sizeof key, "cohort/p%05d", u);
            s = tsr_graph_add(g, TSR_TASK_COHORT, key, (double)bases * sh->n_samples * 1e-5, u, pouts, 3, &pid[u]);
            if (s == TSR_OK)
                s = tsr_graph_add_dep(g, pid[u], joint_id[u]);
        }
        const char *outs[6] = {"cohort.bcf", "cohort.bcf.csi", "stats.tsv", "statistics.json", "sample_qc.tsv",
                               "report.html"};
        tsr_task_id_t cid;
        if (s == TSR_OK)
            s = tsr_graph_add(g, TSR_TASK_COHORT, "cohort", 1.0,
                              plan->lowpass ? TSR_COHORT_ARG_WHOLE : TSR_COHORT_ARG_FINAL, outs, 6, &cid);
        for (int u = 0; u < plan->n_units && s == TSR_OK; u++)
            if (pid[u] >= 0)
                s = tsr_graph_add_dep(g, cid, pid[u]);
        for (int k = 0; k < n_wins && s == TSR_OK; k++)
            s = tsr_graph_add_dep(g, cid, win_ids[k]);
        free(pid);
    }
    free(align_id);
    free(joint_id);
    free(gate_id);
    free(win_ids);
    if (s != TSR_OK) {
        tsr_graph_destroy(&g);
        return s;
    }
    *out = g;
    return TSR_OK;
}
