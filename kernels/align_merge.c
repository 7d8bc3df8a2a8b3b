/*
 * align_merge.c - the align kernel's merge task: the sample's sorted runs
 * k-way merged (a heap of one cursor per run, the runs' total order, ties by
 * run) into aln/S.cram + .crai (CRAM 3.0 against --ref) or aln/S.bam + .bai,
 * with 0x400 set on the reads the duplicate decision marks (align_dups.c)
 * and the QC counted on the way (align_qc.c). Every output is written under
 * a temporary name and renamed when all of them are complete; the CRAM's
 * file id is rewritten so its bytes do not depend on where it was written.
 */
#include "kernels/align_internal.h"
#include "io/io.h"

#include <htslib/sam.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * htslib fills a CRAM's 20-byte file id (bytes 6-25, after "CRAM" and the version) with the start of
 * the path it writes, here a temporary name holding the directory and a process id. Put the final
 * file's base name there instead, so the bytes do not depend on where or by which process it was written.
 */
static tsr_status_t tsr_cram_set_file_id(const char *tmp, const char *final_path)
{
    char id[20];
    const char *slash = strrchr(final_path, '/');
    const char *name = slash ? slash + 1 : final_path;
    size_t n = strlen(name);
    memset(id, 0, sizeof id);
    memcpy(id, name, n < sizeof id ? n : sizeof id);
    FILE *fp = fopen(tmp, "r+b");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot reopen '%s': %s", tmp, strerror(errno));
    int bad = fseek(fp, 6, SEEK_SET) != 0 || fwrite(id, 1, sizeof id, fp) != sizeof id;
    bad |= fclose(fp) != 0;
    if (bad)
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; free space (or raise the quota) and rerun", tmp,
                             tsr_write_failure_reason(tmp, errno));
    return TSR_OK;
}

/* One cursor of the k-way merge. */
typedef struct tsr_run_cursor {
    samFile *fp;
    sam_hdr_t *hdr;
    bam1_t *b;
    int id;
} tsr_run_cursor_t;

static int tsr_cursor_less(const tsr_run_cursor_t *x, const tsr_run_cursor_t *y)
{
    int c = tsr_align_bam_cmp(&x->b, &y->b);
    return c ? c < 0 : x->id < y->id;
}

static void tsr_heap_down(tsr_run_cursor_t **h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && tsr_cursor_less(h[l], h[m]))
            m = l;
        if (r < n && tsr_cursor_less(h[r], h[m]))
            m = r;
        if (m == i)
            return;
        tsr_run_cursor_t *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

tsr_status_t tsr_align_merge_runs(tsr_pool_t *pool, const tsr_sample_t *smp, const char *ref_path, int k,
                                  const char *const *run_paths, const char *const *dup_paths,
                                  const char *chunks_path, const char *out_path, const char *qc_path)
{
    double t0 = tsr_now();
    tsr_status_t s = TSR_OK;
    tsr_run_cursor_t *cur = calloc((size_t)k, sizeof *cur);
    tsr_run_cursor_t **heap = calloc((size_t)k, sizeof *heap);
    tsr_align_qc_t qc = {0};
    qc.isize = calloc(TSR_ALIGN_ISIZE_CAP + 1, sizeof *qc.isize);
    if (!cur || !heap || !qc.isize)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory merging sample %s", smp->id);
    tsr_align_dups_t dups = {0};
    if (s == TSR_OK)
        s = tsr_align_dups_decide(dup_paths, k, &dups);
    int n_heap = 0;
    for (int i = 0; i < k && s == TSR_OK; i++) {
        const char *run_path = run_paths[i];
        cur[i].id = i;
        if (!(cur[i].fp = sam_open(run_path, "rb")) || !(cur[i].hdr = sam_hdr_read(cur[i].fp)) ||
            !(cur[i].b = bam_init1()))
            s = tsr_error_set(TSR_ERR_IO, "cannot read the alignment run '%s'; rerun to rebuild it", run_path);
        int rc = s == TSR_OK ? sam_read1(cur[i].fp, cur[i].hdr, cur[i].b) : -1;
        if (rc < -1)
            s = tsr_error_set(TSR_ERR_FORMAT, "the alignment run '%s' is damaged; delete it and rerun", run_path);
        if (rc >= 0)
            heap[n_heap++] = &cur[i];
    }
    for (int i = n_heap / 2 - 1; i >= 0; i--)
        tsr_heap_down(heap, n_heap, i);

    tsr_ref_t *ref = NULL;
    sam_hdr_t *hdr = NULL;
    if (s == TSR_OK)
        s = tsr_ref_open(ref_path, &ref);
    if (s == TSR_OK) {
        hdr = tsr_align_header_create(ref, smp);
        for (int c = 0; c < tsr_ref_n_contigs(ref); c++)
            qc.ref_len += tsr_ref_contig_length(ref, c);
        if (!hdr)
            s = tsr_error_set(TSR_ERR_INTERNAL, "cannot build the BAM header for sample %s", smp->id);
    }
    tsr_ref_close(&ref);
    char tmp[4096], tmp_bai[4200], final_bai[4200];
    samFile *out = NULL;
    if (s == TSR_OK)
        s = tsr_output_tmpname(out_path, tmp, sizeof tmp);
    size_t lo = strlen(out_path);
    int cram = lo > 5 && !strcmp(out_path + lo - 5, ".cram");
    snprintf(tmp_bai, sizeof tmp_bai, "%s.%s", tmp, cram ? "crai" : "bai");
    snprintf(final_bai, sizeof final_bai, "%s.%s", out_path, cram ? "crai" : "bai");
    if (s == TSR_OK && !(out = sam_open(tmp, cram ? "wc" : "wb")))
        s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; check the output directory", tmp, strerror(errno));
    /*
     * CRAM 3.0 against the run's reference (its .fai beside it): the file needs that FASTA to decode.
     * Compression level 1 (htslib's default is 5): on 400,000 simulated 2 x 150 bp records, about a
     * quarter less CPU for the encoder and a 0.4% larger file.
     */
    if (s == TSR_OK && cram &&
        (hts_set_opt(out, CRAM_OPT_VERSION, "3.0") != 0 || hts_set_opt(out, HTS_OPT_COMPRESSION_LEVEL, 1) != 0 ||
         hts_set_fai_filename(out, ref_path) != 0))
        s = tsr_error_set(TSR_ERR_IO, "cannot write CRAM '%s' against reference '%s' (is '%s.fai' readable?)", tmp,
                          ref_path, ref_path);
    if (out && tsr_pool_size(pool) > 1)
        hts_set_threads(out, tsr_pool_size(pool));
    if (s == TSR_OK && sam_hdr_write(out, hdr) < 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; free space (or raise the quota) and rerun", tmp,
                          tsr_write_failure_reason(tmp, errno));
    int64_t n_out = 0;
    while (s == TSR_OK && n_heap > 0) {
        tsr_run_cursor_t *c = heap[0];
        if (tsr_align_dups_is_marked(&dups, c->b))
            c->b->core.flag |= BAM_FDUP;
        tsr_align_qc_add(&qc, c->b);
        if (sam_write1(out, hdr, c->b) < 0) {
            s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; free space (or raise the quota) and rerun", tmp,
                              tsr_write_failure_reason(tmp, errno));
            break;
        }
        n_out++;
        int rc = sam_read1(c->fp, c->hdr, c->b);
        if (rc < -1)
            s = tsr_error_set(TSR_ERR_FORMAT, "an alignment run of sample %s is damaged; delete %s.runs and rerun",
                              smp->id, out_path);
        if (rc < 0)
            heap[0] = heap[--n_heap];
        tsr_heap_down(heap, n_heap, 0);
    }
    if (out && sam_close(out) < 0 && s == TSR_OK)
        s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; free space (or raise the quota) and rerun", tmp,
                          tsr_write_failure_reason(tmp, errno));
    if (s == TSR_OK && cram)
        s = tsr_cram_set_file_id(tmp, out_path);
    if (s == TSR_OK && sam_index_build(tmp, 0) < 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot index '%s'", tmp);
    if (s == TSR_OK) {
        tsr_align_chunks_t ch;
        s = tsr_align_chunks_read(chunks_path, &ch);
        free(ch.pos);
        if (s == TSR_OK)
            s = tsr_align_qc_write(&qc, &dups, smp->id, ch.pairs_per_chunk, qc_path);
    }
    if (s == TSR_OK && (rename(tmp_bai, final_bai) != 0 || rename(tmp, out_path) != 0))
        s = tsr_error_set(TSR_ERR_IO, "cannot rename '%s' into place", tmp);
    if (s != TSR_OK) {
        unlink(tmp);
        unlink(tmp_bai);
    } else {
        tsr_log_info("sample %s: %d runs merged, %lld records, %lld duplicate reads (%.2f%%) in %.2f s -> %s", smp->id,
                     k, (long long)n_out, (long long)qc.dups, tsr_align_pct(qc.dups, qc.reads), tsr_now() - t0,
                     out_path);
    }
    for (int i = 0; cur && i < k; i++) {
        if (cur[i].b)
            bam_destroy1(cur[i].b);
        sam_hdr_destroy(cur[i].hdr);
        if (cur[i].fp)
            sam_close(cur[i].fp);
    }
    tsr_align_dups_free(&dups);
    sam_hdr_destroy(hdr);
    free(qc.isize);
    free(cur);
    free(heap);
    return s;
}
