/*
 * hts_index.h - the index beside a written BAM or bgzipped VCF (io/hts_index.c).
 *
 * The classic indexes, .bai and .tbi, bin only the first 2^29 bases (536,870,912) of a contig. Every file
 * tessera writes is indexed with them while each contig fits, so other tools find the index they expect;
 * once a contig in the file's header is longer, the index is CSI (min_shift 14, as samtools and bcftools
 * write it), which holds positions up to 2^31 - 1 (the BCF/VCF limit the planner already enforces).
 */
#ifndef TSR_IO_HTS_INDEX_H
#define TSR_IO_HTS_INDEX_H

#include "runtime/runtime.h"

#include <stddef.h>
#include <stdint.h>

/* Longest contig a .bai or .tbi can index: 2^29 bases. */
#define TSR_CLASSIC_INDEX_MAX ((int64_t)1 << 29)

/* The kinds of file tsr_hts_index_build indexes. */
typedef enum { TSR_INDEX_BAM, TSR_INDEX_VCF_GZ } tsr_index_kind_t;

/*
 * The index extension for a file of `kind` whose longest contig is `max_contig_len` bases: "bai" or
 * "tbi" while it fits, else "csi".
 */
const char *tsr_hts_index_ext(tsr_index_kind_t kind, int64_t max_contig_len);

/*
 * Build the index of `path` (a closed BAM or bgzipped VCF, sorted) as path.EXT with EXT from
 * tsr_hts_index_ext; the extension used is returned in `*ext`. One error line on failure.
 */
tsr_status_t tsr_hts_index_build(const char *path, tsr_index_kind_t kind, int64_t max_contig_len,
                                 const char **ext) TSR_RESULT_USED;

#endif /* TSR_IO_HTS_INDEX_H */
