/*
 * hts_index.c - index a written BAM or bgzipped VCF with .bai/.tbi, or with CSI when a contig is longer
 * than those can bin (see hts_index.h).
 */
#include "io/hts_index.h"

#include <htslib/sam.h>
#include <htslib/tbx.h>

#define TSR_CSI_MIN_SHIFT 14

const char *tsr_hts_index_ext(tsr_index_kind_t kind, int64_t max_contig_len)
{
    if (max_contig_len > TSR_CLASSIC_INDEX_MAX)
        return "csi";
    return kind == TSR_INDEX_BAM ? "bai" : "tbi";
}

tsr_status_t tsr_hts_index_build(const char *path, tsr_index_kind_t kind, int64_t max_contig_len,
                                 const char **ext)
{
    *ext = tsr_hts_index_ext(kind, max_contig_len);
    int min_shift = max_contig_len > TSR_CLASSIC_INDEX_MAX ? TSR_CSI_MIN_SHIFT : 0;
    int rc = kind == TSR_INDEX_BAM ? sam_index_build(path, min_shift) : tbx_index_build(path, min_shift, &tbx_conf_vcf);
    if (rc != 0)
        return tsr_error_set(TSR_ERR_FORMAT, "cannot index '%s' as %s (records out of order, or the file is "
                             "damaged?); delete it and rerun", path, *ext);
    return TSR_OK;
}
