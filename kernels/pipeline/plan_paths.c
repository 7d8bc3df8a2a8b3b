/*
 * plan_paths.c - where every work unit reads and writes: output paths
 * relative to --out (alignments, align chunks and runs, evidence partitions,
 * joint call sets, sheet parts), the alignment file a call task reads for a
 * sample, and the pack of an align task's arg. Pure functions of the plan:
 * every rank names the same files.
 */
#include "kernels/pipeline/pipeline.h"
#include "kernels/pipeline/plan_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tsr_status_t tsr_plan_path(const tsr_plan_t *plan, const char *rel, char *buf, size_t len)
{
    int n = rel[0] == '/' ? snprintf(buf, len, "%s", rel) : snprintf(buf, len, "%s/%s", plan->opts.outdir, rel);
    if (n < 0 || (size_t)n >= len)
        return tsr_error_set(TSR_ERR_IO, "path too long: %s/%s", plan->opts.outdir, rel);
    return TSR_OK;
}

tsr_status_t tsr_plan_output_path(const tsr_plan_t *plan, const char *rel, char *buf, size_t len)
{
    TSR_CALL(tsr_plan_path(plan, rel, buf, len));
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", buf) >= (int)sizeof dir)
        return tsr_error_set(TSR_ERR_IO, "path too long: %s", buf);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return TSR_OK;
    *slash = '\0';
    return tsr_mkdir_p(dir);
}

/*
 * A FASTQ sample's files sit in aln/gGGGGG/ with GGGGG = its place in the sheet / TSR_SAMPLE_FANOUT, so no
 * directory holds more than about 5 x TSR_SAMPLE_FANOUT entries (alignments, index, QC, chunk list, runs
 * folder) at any cohort size; a sample's place never changes (`tessera add` appends), nor does its group.
 */
void tsr_plan_aln_path(const tsr_plan_t *plan, int sample, char *buf, size_t len)
{
    const char *fmt = plan->opts.aln_format ? plan->opts.aln_format : TSR_ALN_FORMAT_DEFAULT;
    snprintf(buf, len, "aln/g%05d/%s.%s", sample / TSR_SAMPLE_FANOUT, plan->sheet->samples[sample].id,
             strcmp(fmt, "cram") ? "bam" : "cram");
}

/*
 * Two directory levels, so no directory holds more than TSR_UNIT_FANOUT units (or a unit's batches):
 * evidence/gGGGGG/U/bBBBBB.h5 with GGGGG = unit / TSR_UNIT_FANOUT. Part 0 keeps the names of a run
 * without adds; part p >= 1 names its part: .../U/pPPPP_bBBBBB.h5. Fixed-width numbers keep the
 * lexical order of every level the genome order.
 */
void tsr_plan_evidence_path(const tsr_plan_t *plan, int unit, int batch, char *buf, size_t len)
{
    const tsr_batch_t *b = &plan->batches[batch];
    const char *u = plan->units[unit].name;
    int g = unit / TSR_UNIT_FANOUT;
    if (b->part == 0)
        snprintf(buf, len, "evidence/g%05d/%s/b%05d.h5", g, u, b->index);
    else
        snprintf(buf, len, "evidence/g%05d/%s/p%04d_b%05d.h5", g, u, b->part, b->index);
}

void tsr_plan_joint_path(const tsr_plan_t *plan, int unit, char *buf, size_t len)
{
    snprintf(buf, len, "joint/g%05d/%s.h5", unit / TSR_UNIT_FANOUT, plan->units[unit].name);
}

tsr_status_t tsr_plan_sample_alignments(const tsr_plan_t *plan, int sample, char *buf, size_t len)
{
    const tsr_sample_t *s = &plan->sheet->samples[sample];
    char rel[1024], joined[4200], abs[PATH_MAX];
    if (s->kind == TSR_INPUT_ALIGNED) {
        snprintf(joined, sizeof joined, "%s", s->bam);
    } else {
        tsr_plan_aln_path(plan, sample, rel, sizeof rel);
        TSR_CALL(tsr_plan_path(plan, rel, joined, sizeof joined));
    }
    /* Absolute when it can be resolved (the file exists), as the contract promises callers. */
    const char *res = joined[0] != '/' && realpath(joined, abs) ? abs : joined;
    if (snprintf(buf, len, "%s", res) >= (int)len)
        return tsr_error_set(TSR_ERR_IO, "path too long: %s", res);
    return TSR_OK;
}

/* DIR/samples.d/NNNN.tsv (relative to outdir). */
void tsr_plan_part_path(const char *outdir, int part, char *buf, size_t len)
{
    snprintf(buf, len, "%s/samples.d/%04d.tsv", outdir, part);
}

int64_t tsr_plan_align_arg(tsr_align_step_t step, int sample, int slot)
{
    return (int64_t)step << 56 | (int64_t)sample << 24 | (int64_t)slot;
}

void tsr_plan_align_unpack(int64_t arg, tsr_align_step_t *step, int *sample, int *slot)
{
    *step = (tsr_align_step_t)(arg >> 56);
    *sample = (int)((arg >> 24) & 0xffffffff);
    *slot = (int)(arg & 0xffffff);
}

void tsr_plan_align_chunks_path(const tsr_plan_t *plan, int sample, char *buf, size_t len)
{
    snprintf(buf, len, "aln/g%05d/%s.chunks.tsv", sample / TSR_SAMPLE_FANOUT, plan->sheet->samples[sample].id);
}

void tsr_plan_align_run_path(const tsr_plan_t *plan, int sample, int slot, const char *ext, char *buf, size_t len)
{
    snprintf(buf, len, "aln/g%05d/%s.runs/c%05d.%s", sample / TSR_SAMPLE_FANOUT,
             plan->sheet->samples[sample].id, slot, ext);
}

void tsr_plan_align_qc_path(const tsr_plan_t *plan, int sample, char *buf, size_t len)
{
    snprintf(buf, len, "aln/g%05d/%s.qc.json", sample / TSR_SAMPLE_FANOUT, plan->sheet->samples[sample].id);
}
