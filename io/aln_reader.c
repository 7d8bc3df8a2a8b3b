/*
 * aln_reader.c - aligned BAM/CRAM input behind one interface (io/aln.h):
 * open a sample's file, header, index and CRAM reference once, then iterate
 * region queries. The pipeline's kernels never open alignments with htslib
 * themselves; the index-only depth estimate that --mode auto uses lives here
 * too.
 */
#include "io/aln.h"

#include <errno.h>
#include <htslib/sam.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tsr_aln_reader {
    char *path;
    samFile *fp;
    sam_hdr_t *h;
    hts_idx_t *idx;
    hts_itr_t *itr;
    char contig[256];      /* the current query, for messages */
    int64_t start, end;
};

tsr_status_t tsr_aln_reader_open(const char *path, const char *ref_path, tsr_aln_reader_t **out)
{
    *out = NULL;
    if (access(path, R_OK) != 0)
        return tsr_error_set(TSR_ERR_IO, "%s: cannot read alignments: %s", path, strerror(errno));
    tsr_aln_reader_t *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", path);
    }
    tsr_status_t s = TSR_OK;
    if (!(r->fp = sam_open(path, "r")))
        s = tsr_error_set(TSR_ERR_IO, "%s: cannot open alignments", path);
    else if (ref_path && hts_set_fai_filename(r->fp, ref_path) != 0)
        s = tsr_error_set(TSR_ERR_IO, "%s: cannot use the reference %s to decode it", path, ref_path);
    else if (!(r->h = sam_hdr_read(r->fp)))
        s = tsr_error_set(TSR_ERR_FORMAT, "%s: cannot read the header", path);
    else if (!(r->idx = sam_index_load(r->fp, path)))
        s = tsr_error_set(TSR_ERR_IO, "%s: no index (.bai/.csi/.crai); run `samtools index %s`", path, path);
    if (s != TSR_OK) {
        tsr_aln_reader_close(&r);
        return s;
    }
    *out = r;
    return TSR_OK;
}

tsr_status_t tsr_aln_reader_query(tsr_aln_reader_t *r, const char *contig, int64_t start, int64_t end)
{
    hts_itr_destroy(r->itr);
    r->itr = NULL;
    snprintf(r->contig, sizeof r->contig, "%s", contig);
    r->start = start;
    r->end = end;
    int tid = sam_hdr_name2tid(r->h, contig);
    if (tid < 0)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: contig %s is not in the header (another reference?)", r->path,
                             contig);
    if (!(r->itr = sam_itr_queryi(r->idx, tid, start, end)))
        return tsr_error_set(TSR_ERR_FORMAT, "%s: cannot query %s:%lld-%lld", r->path, contig, (long long)start + 1,
                             (long long)end);
    return TSR_OK;
}

int tsr_aln_reader_none(const tsr_aln_reader_t *r)
{
    return !r->itr || r->itr->finished;
}

int tsr_aln_reader_next(tsr_aln_reader_t *r, struct bam1_t *b)
{
    if (!r->itr)
        return 0;
    int rc = sam_itr_next(r->fp, r->itr, b);
    if (rc >= 0)
        return 1;
    if (rc < -1) {
        tsr_error_set(TSR_ERR_FORMAT, "%s: corrupt or truncated record in %s:%lld-%lld", r->path, r->contig,
                      (long long)r->start + 1, (long long)r->end);
        return -2;
    }
    return 0;
}

void tsr_aln_reader_close(tsr_aln_reader_t **rp)
{
    if (!rp || !*rp)
        return;
    tsr_aln_reader_t *r = *rp;
    hts_itr_destroy(r->itr);
    if (r->idx)
        hts_idx_destroy(r->idx);
    if (r->h)
        sam_hdr_destroy(r->h);
    if (r->fp)
        sam_close(r->fp);
    free(r->path);
    free(r);
    *rp = NULL;
}

/* tsr_aln_sampled_depth (io/aln.h): one index query per window. */
double tsr_aln_sampled_depth(const char *path, const char *ref_path, int n_win, const char *const *contig,
                             const int64_t *start, int64_t win_len)
{
    samFile *fp = sam_open(path, "r");
    if (!fp)
        return -1;
    if (ref_path && hts_get_format(fp)->format == cram)
        hts_set_fai_filename(fp, ref_path);
    sam_hdr_t *h = sam_hdr_read(fp);
    hts_idx_t *idx = h ? sam_index_load(fp, path) : NULL;
    bam1_t *b = bam_init1();
    double sum = 0, sum2 = 0;
    int ok = h && idx && b;
    for (int w = 0; ok && w < n_win; w++) {
        int tid = sam_hdr_name2tid(h, contig[w]);
        if (tid < 0)
            continue;
        hts_itr_t *it = sam_itr_queryi(idx, tid, start[w], start[w] + win_len);
        if (!it)
            continue;
        double bases = 0;
        int r;
        while ((r = sam_itr_next(fp, it, b)) >= 0) {
            if (b->core.flag & (BAM_FUNMAP | BAM_FSECONDARY | BAM_FSUPPLEMENTARY | BAM_FDUP | BAM_FQCFAIL))
                continue;
            int64_t lo = b->core.pos > start[w] ? b->core.pos : start[w];
            int64_t e = bam_endpos(b), hi = e < start[w] + win_len ? e : start[w] + win_len;
            if (hi > lo)
                bases += (double)(hi - lo);
        }
        hts_itr_destroy(it);
        if (r < -1) {
            ok = 0;
            break;
        }
        double d = bases / (double)win_len;
        sum += d;
        sum2 += d * d;
    }
    bam_destroy1(b);
    if (idx)
        hts_idx_destroy(idx);
    if (h)
        sam_hdr_destroy(h);
    sam_close(fp);
    if (!ok)
        return -1;
    return sum > 0 ? sum2 / sum : 0;
}

/* tsr_aln_check (io/aln.h): the file is read for its header only. */
/*
 * The samples the header's read groups name (@RG SM): the sheet's sample
 * must be the only one. A file without @RG lines says nothing and passes.
 */
static tsr_status_t aln_check_sm(sam_hdr_t *h, const char *path, const char *sample)
{
    int n_rg = sam_hdr_count_lines(h, "RG");
    const char *first_other = NULL, *first_rg = NULL;
    char other[256] = "", rgid[256] = "";
    int n_other = 0, n_mine = 0;
    for (int i = 0; i < n_rg; i++) {
        kstring_t sm = KS_INITIALIZE, id = KS_INITIALIZE;
        if (sam_hdr_find_tag_pos(h, "RG", i, "SM", &sm) == 0) {
            if (strcmp(sm.s, sample) == 0) {
                n_mine++;
            } else if (n_other++ == 0) {
                snprintf(other, sizeof other, "%s", sm.s);
                if (sam_hdr_find_tag_pos(h, "RG", i, "ID", &id) == 0)
                    snprintf(rgid, sizeof rgid, "%s", id.s);
                first_other = other;
                first_rg = rgid;
            }
        }
        ks_free(&sm);
        ks_free(&id);
    }
    if (!first_other)
        return TSR_OK;
    if (n_mine > 0)
        return tsr_error_set(TSR_ERR_FORMAT,
                             "%s (sample %s): the header's read groups name several samples (%s, read group '%s', "
                             "besides %s); split the file per sample (samtools split), or pass --ignore-sm to call "
                             "every read as %s",
                             path, sample, first_other, first_rg, sample, sample);
    return tsr_error_set(TSR_ERR_FORMAT,
                         "%s (sample %s): read group '%s' says SM '%s', not '%s'; check that the sheet's line "
                         "points at this sample's file (two people swapped?), or pass --ignore-sm if the file is "
                         "right and only its header names the sample otherwise",
                         path, sample, first_rg, first_other, sample);
}

tsr_status_t tsr_aln_check(const char *path, const char *sample, const tsr_ref_t *ref, const char *ref_path,
                            const int *contigs, int n_contigs, int check_sm)
{
    samFile *fp = sam_open(path, "r");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "%s (sample %s): cannot open as BAM/CRAM: %s; check the file", path,
                             sample, strerror(errno));
    sam_hdr_t *h = sam_hdr_read(fp);
    tsr_status_t s = TSR_OK;
    if (!h)
        s = tsr_error_set(TSR_ERR_FORMAT, "%s (sample %s): no readable BAM/CRAM header; the file is damaged or not "
                          "BAM/CRAM", path, sample);
    if (s == TSR_OK && hts_get_format(fp)->format == cram) {
        for (int t = 0; t < sam_hdr_nref(h) && s == TSR_OK; t++) {
            kstring_t ur = KS_INITIALIZE;
            if (sam_hdr_find_tag_pos(h, "SQ", t, "UR", &ur) == 0) {
                const char *p = ur.s;
                if (!strncmp(p, "file://", 7))
                    p += 7;
                if (strstr(p, "://") == NULL && access(p, R_OK) != 0)
                    s = tsr_error_set(TSR_ERR_IO,
                                      "%s (sample %s): CRAM contig '%s' was encoded against reference '%s', which "
                                      "cannot be read here; put that FASTA back or convert the CRAM to BAM "
                                      "(samtools view -b -T REF)",
                                      path, sample, sam_hdr_tid2name(h, t), p);
            } else {
                s = tsr_error_set(TSR_ERR_IO,
                                  "%s (sample %s): CRAM header names no reference file (@SQ UR) for contig '%s'; "
                                  "convert the CRAM to BAM (samtools view -b -T REF)",
                                  path, sample, sam_hdr_tid2name(h, t));
            }
            ks_free(&ur);
        }
    }
    if (s == TSR_OK && check_sm)
        s = aln_check_sm(h, path, sample);
    for (int k = 0; k < n_contigs && s == TSR_OK; k++) {
        int c = contigs[k];
        const char *name = tsr_ref_contig_name(ref, c);
        /* same place in the header first: a lookup by name parses the header's text (3,000+ @SQ lines) */
        const char *same = c < sam_hdr_nref(h) ? sam_hdr_tid2name(h, c) : NULL;
        int tid = same && !strcmp(same, name) ? c : sam_hdr_name2tid(h, name);
        if (tid < 0)
            s = tsr_error_set(TSR_ERR_FORMAT,
                              "%s (sample %s): contig '%s' of reference '%s' is not in the BAM/CRAM header; the file "
                              "was aligned to another reference: realign it to --ref",
                              path, sample, name, ref_path);
        else if ((int64_t)sam_hdr_tid2len(h, tid) != tsr_ref_contig_length(ref, c))
            s = tsr_error_set(TSR_ERR_FORMAT,
                              "%s (sample %s): contig '%s' is %lld bp in the BAM/CRAM header but %lld bp in reference "
                              "'%s'; the file was aligned to another reference: realign it to --ref",
                              path, sample, name, (long long)sam_hdr_tid2len(h, tid),
                              (long long)tsr_ref_contig_length(ref, c), ref_path);
    }
    sam_hdr_destroy(h);
    sam_close(fp);
    return s;
}
