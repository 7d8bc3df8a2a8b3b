/*
 * align_qc.c - the align kernel's alignment QC, aln/G/S.qc.json: counts summed
 * over the merged file's records as the merge writes them (after duplicate
 * marking, so duplicates are counted and left out of the depth and insert
 * size), joined with what the map tasks and the duplicate decision counted
 * (read pairs, duplicate pairs and fragments).
 */
#include "kernels/align_internal.h"

#include <htslib/sam.h>
#include <stdlib.h>

void tsr_align_qc_add(tsr_align_qc_t *q, const bam1_t *b)
{
    uint16_t f = b->core.flag;
    if (f & BAM_FSECONDARY)
        return;
    if (!(f & BAM_FUNMAP) && !(f & BAM_FDUP)) {
        const uint32_t *cig = bam_get_cigar(b);
        for (uint32_t i = 0; i < b->core.n_cigar; i++) {
            int op = bam_cigar_op(cig[i]);
            if (op == BAM_CMATCH || op == BAM_CEQUAL || op == BAM_CDIFF)
                q->aligned_bases += bam_cigar_oplen(cig[i]);
        }
    }
    if (f & BAM_FSUPPLEMENTARY) {
        q->supplementary++;
        return;
    }
    q->reads++;
    q->mapped += !(f & BAM_FUNMAP);
    q->paired += (f & BAM_FPAIRED) != 0;
    q->proper += (f & BAM_FPAIRED) && (f & BAM_FPROPER_PAIR) && !(f & BAM_FUNMAP);
    q->dups += (f & BAM_FDUP) != 0;
    if ((f & BAM_FPAIRED) && (f & BAM_FPROPER_PAIR) && (f & BAM_FREAD1) && !(f & BAM_FDUP) && b->core.isize != 0) {
        int64_t t = b->core.isize < 0 ? -b->core.isize : b->core.isize;
        q->isize[t < TSR_ALIGN_ISIZE_CAP ? t : TSR_ALIGN_ISIZE_CAP]++;
    }
}

static int64_t tsr_align_qc_isize_median(const tsr_align_qc_t *q)
{
    int64_t n = 0, seen = 0;
    for (int i = 0; i <= TSR_ALIGN_ISIZE_CAP; i++)
        n += q->isize[i];
    if (n == 0)
        return 0;
    for (int i = 0; i <= TSR_ALIGN_ISIZE_CAP; i++)
        if ((seen += q->isize[i]) > (n - 1) / 2)
            return i;
    return TSR_ALIGN_ISIZE_CAP;
}

double tsr_align_pct(int64_t a, int64_t b)
{
    return b > 0 ? 100.0 * (double)a / (double)b : 0.0;
}

tsr_status_t tsr_align_qc_write(const tsr_align_qc_t *q, const tsr_align_dups_t *d, const char *sample,
                                int64_t per, const char *path)
{
    kstring_t js = KS_INITIALIZE;
    ksprintf(&js,
             "{\"sample\": \"%s\", \"read_pairs\": %lld, \"chunks\": %d, \"pairs_per_chunk\": %lld,\n"
             " \"reads\": %lld, \"mapped\": %lld, \"mapped_pct\": %.3f, \"paired\": %lld,\n"
             " \"properly_paired\": %lld, \"properly_paired_pct\": %.3f, \"duplicates\": %lld,\n"
             " \"duplicate_pct\": %.3f, \"duplicate_pairs\": %lld, \"duplicate_fragments\": %lld,\n"
             " \"supplementary\": %lld, \"aligned_bases\": %lld, \"reference_length\": %lld,\n"
             " \"mean_depth\": %.4f, \"insert_size_median\": %lld}\n",
             sample, (long long)d->read_pairs, (int)((d->read_pairs + per - 1) / per), (long long)per,
             (long long)q->reads,
             (long long)q->mapped, tsr_align_pct(q->mapped, q->reads), (long long)q->paired, (long long)q->proper,
             tsr_align_pct(q->proper, q->paired), (long long)q->dups, tsr_align_pct(q->dups, q->reads),
             (long long)d->dup_pairs, (long long)d->dup_frags, (long long)q->supplementary,
             (long long)q->aligned_bases, (long long)q->ref_len,
             q->ref_len ? (double)q->aligned_bases / (double)q->ref_len : 0.0,
             (long long)tsr_align_qc_isize_median(q));
    tsr_status_t s = tsr_align_write_text(path, js.s, js.l);
    free(js.s);
    return s;
}
