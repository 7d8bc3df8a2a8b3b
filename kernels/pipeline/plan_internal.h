/*
 * plan_internal.h - private to the plan's files (plan.c, plan_regions.c,
 * plan_paths.c, plan_graph.c, run_record.c, driver.c): the planning steps
 * that tsr_plan_create() runs, each defined beside what it shapes, and the
 * path of a sheet part. Nothing outside kernels/ includes it.
 */
#ifndef TSR_PLAN_INTERNAL_H
#define TSR_PLAN_INTERNAL_H

#include "kernels/pipeline/pipeline.h"

/*
 * Fill plan->regions and plan->n_regions: opts.regions (or every contig of ref) merged, then cut on the
 * global grid of opts.shard_size. The array is owned by the plan (freed by tsr_plan_destroy()). Errors
 * name the region or the BED line. Not collective. (plan_regions.c)
 */
tsr_status_t tsr_plan_regions(tsr_plan_t *plan, const tsr_ref_t *ref) TSR_RESULT_USED;

/*
 * Fill plan->units and plan->n_units from plan->regions (tsr_unit_t: consecutive regions while they total
 * at most opts.shard_size bases, at most TSR_UNIT_MAX_REGIONS). Run by tsr_plan_regions(). Owned by the
 * plan. Not collective. (plan_regions.c)
 */
tsr_status_t tsr_plan_units(tsr_plan_t *plan) TSR_RESULT_USED;

/*
 * Fill plan->align_slots: the map tasks of each FASTQ sample, from its files' sizes (0 for aligned inputs).
 * Owned by the plan. Not collective. (plan_graph.c)
 */
tsr_status_t tsr_plan_align_units(tsr_plan_t *plan) TSR_RESULT_USED;

/*
 * Fill plan->fingerprint from the options that shape outputs, the kernel versions, the reference index,
 * part 0 of the sheet and its files' sizes; opts.add_fingerprint when set (tessera add). Run last, once
 * the mode is resolved. Not collective. (run_record.c)
 */
void tsr_plan_fingerprint(tsr_plan_t *plan);

/* outdir/samples.d/NNNN.tsv, the path of sheet part `part` (0 = the run's sheet). Not collective. (plan_paths.c) */
void tsr_plan_part_path(const char *outdir, int part, char *buf, size_t len);

/*
 * Plan once (issue 18): rank 0 builds the plan with touch_inputs = 1 (tsr_plan_create): the sheet's files
 * opened, --mode auto's depth measured, the FASTQ sizes read for the align slots, the RLIMIT_NOFILE cap of
 * low-pass batches, the budget checked, the fingerprint hashed. Every other rank builds it with
 * touch_inputs = 0 (the sheet's text and the reference index only: no input file opened or stat'ed), then
 * adopts what rank 0 resolved: tsr_plan_shared_t and the align slots, broadcast by the driver. Not
 * collective. (plan.c)
 */
typedef struct tsr_plan_shared {
    int n_samples, n_parts; /* checked: every rank read the same sheet */
    int lowpass;            /* the resolved mode */
    int batch_size;         /* low-pass: as lowered to fit --mem-per-rank and rank 0's open-file limit */
    char fingerprint[64];
} tsr_plan_shared_t;
tsr_status_t tsr_plan_create_as(const tsr_run_opts_t *o, int touch_inputs, tsr_plan_t **plan) TSR_RESULT_USED;
void tsr_plan_shared_get(const tsr_plan_t *plan, tsr_plan_shared_t *sh);
/*
 * align_slots: plan->sheet->n_samples entries (rank 0's plan->align_slots), copied; NULL when they are in
 * plan->align_slots already. TSR_ERR_STATE, naming both counts, if the sheets differ.
 */
tsr_status_t tsr_plan_adopt(tsr_plan_t *plan, const tsr_plan_shared_t *sh, const int *align_slots) TSR_RESULT_USED;

/*
 * Bytes the plan holds (its arrays, the sheet's samples and strings as the heap keeps them); *sheet_bytes,
 * when not NULL, the sheet's share. For `tessera run --plan-only`. Not collective. (plan.c)
 */
size_t tsr_plan_bytes(const tsr_plan_t *plan, size_t *sheet_bytes);

#endif /* TSR_PLAN_INTERNAL_H */
