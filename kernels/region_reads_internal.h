/*
 * region_reads_internal.h - private to kernels/: the usable reads of one
 * sample's BAM/CRAM over a region, with mate overlaps resolved, shared by the
 * deep caller (call_pileup.c) and the low-pass evidence kernel
 * (lowpass_evidence.c) so both count exactly the same reads.
 */
#ifndef TSR_REGION_READS_INTERNAL_H
#define TSR_REGION_READS_INTERNAL_H

#include "kernels/kernels.h"
#include "runtime/runtime.h"

#include <htslib/sam.h>
#include <stdint.h>

typedef struct tsr_region_reads tsr_region_reads_t;
/* tsr_region_readers_t (readers kept across a unit's regions) is declared in kernels/kernels.h. */

/*
 * Open `path` (indexed BAM or CRAM; `ref_path`, may be NULL, decodes CRAM)
 * over contig:[start, end), 0-based half-open. Errors name the file and say
 * what to do (no index, contig not in the header, ...). Not collective.
 * keep (may be NULL): take the file's reader from there when it holds one, and
 * give it back at close. Close with tsr_region_reads_close().
 */
tsr_status_t tsr_region_reads_open(const char *path, const char *ref_path, const char *contig, int64_t start,
                                   int64_t end, int min_mapq, tsr_region_readers_t *keep,
                                   tsr_region_reads_t **rr) TSR_RESULT_USED;
/*
 * The next usable read: mapped, primary, not QC-fail, not a duplicate,
 * MAPQ >= min_mapq, with a CIGAR. Returns 1 with *b (owned by rr, valid
 * until the next call) and *skip_before: reference positions before it were
 * already counted from its mate (the mate's end when the mates overlap and
 * the mate came first, else INT64_MIN). Returns 0 at the end, -2 on error
 * (message recorded through tsr_error_set(), naming the file).
 */
int tsr_region_reads_next(tsr_region_reads_t *rr, bam1_t **b, int64_t *skip_before);
/* The status of the error that made tsr_region_reads_next() return -2 (TSR_OK before any). */
tsr_status_t tsr_region_reads_status(const tsr_region_reads_t *rr);
void tsr_region_reads_close(tsr_region_reads_t **rr);

#endif /* TSR_REGION_READS_INTERNAL_H */
