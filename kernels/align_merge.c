/*
 * align_merge.c - the align kernel's merge task: the sample's sorted runs
 * k-way merged (a heap of one cursor per run, the runs' total order, ties by
 * run) into aln/G/S.cram + .crai (CRAM 3.0 against --ref) or aln/G/S.bam + .bai,
 * with 0x400 set on the reads the duplicate decision marks (align_dups.c)
 * and the QC counted on the way (align_qc.c). Every output is written under
 * a temporary name and renamed when all of them are complete; the CRAM's
 * file id is rewritten so its bytes do not depend on where it was written.
 * The fan-in is bounded: with more than `fanin` runs, consecutive groups of
 * at most fanin are merged first into longer runs (stored BGZF, in the runs'
 * folder, deleted when used), pass after pass, so at most fanin files are
 * open at once; the order is total, so the output is the same bytes.
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

/* The open runs of one merge: cursors, and a heap of those that have a record. */
typedef struct tsr_run_merge {
    tsr_run_cursor_t *cur;
    tsr_run_cursor_t **heap;
    int k, n_heap;
} tsr_run_merge_t;

static void tsr_run_merge_close(tsr_run_merge_t *m)
{
    for (int i = 0; m->cur && i < m->k; i++) {
        if (m->cur[i].b)
            bam_destroy1(m->cur[i].b);
        sam_hdr_destroy(m->cur[i].hdr);
        if (m->cur[i].fp)
            sam_close(m->cur[i].fp);
    }
    free(m->cur);
    free(m->heap);
    memset(m, 0, sizeof *m);
}

static tsr_status_t tsr_run_merge_open(tsr_run_merge_t *m, const char *const *paths, int k)
{
    memset(m, 0, sizeof *m);
    m->cur = calloc((size_t)k + 1, sizeof *m->cur);
    m->heap = calloc((size_t)k + 1, sizeof *m->heap);
    if (!m->cur || !m->heap)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory merging alignment runs");
    m->k = k;
    for (int i = 0; i < k; i++) {
        tsr_run_cursor_t *c = &m->cur[i];
        c->id = i;
        if (!(c->fp = sam_open(paths[i], "rb")) || !(c->hdr = sam_hdr_read(c->fp)) || !(c->b = bam_init1()))
            return tsr_error_set(TSR_ERR_IO, "cannot read the alignment run '%s'; rerun to rebuild it", paths[i]);
        int rc = sam_read1(c->fp, c->hdr, c->b);
        if (rc < -1)
            return tsr_error_set(TSR_ERR_FORMAT, "the alignment run '%s' is damaged; delete it and rerun", paths[i]);
        if (rc >= 0)
            m->heap[m->n_heap++] = c;
    }
    for (int i = m->n_heap / 2 - 1; i >= 0; i--)
        tsr_heap_down(m->heap, m->n_heap, i);
    return TSR_OK;
}

/* After the top record was used: read its run's next. */
static tsr_status_t tsr_run_merge_advance(tsr_run_merge_t *m, const char *what)
{
    tsr_run_cursor_t *c = m->heap[0];
    int rc = sam_read1(c->fp, c->hdr, c->b);
    if (rc < -1)
        return tsr_error_set(TSR_ERR_FORMAT, "an alignment run of %s is damaged; delete its runs and rerun", what);
    if (rc < 0)
        m->heap[0] = m->heap[--m->n_heap];
    tsr_heap_down(m->heap, m->n_heap, 0);
    return TSR_OK;
}

/* Merge runs paths[0, k) into the run out_path (stored BGZF, via a temporary name). */
static tsr_status_t tsr_run_merge_into(const char *const *paths, int k, const char *out_path, int threads,
                                       const char *what)
{
    tsr_run_merge_t m;
    tsr_status_t s = tsr_run_merge_open(&m, paths, k);
    char tmp[4096];
    samFile *out = NULL;
    if (s == TSR_OK)
        s = tsr_output_tmpname(out_path, tmp, sizeof tmp);
    if (s == TSR_OK && !(out = sam_open(tmp, "wb0")))
        s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; check the output directory", tmp, strerror(errno));
    if (out && threads > 1)
        hts_set_threads(out, threads);
    if (s == TSR_OK && sam_hdr_write(out, m.cur[0].hdr) < 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; free space (or raise the quota) and rerun", tmp,
                          tsr_write_failure_reason(tmp, errno));
    while (s == TSR_OK && m.n_heap > 0) {
        if (sam_write1(out, m.cur[0].hdr, m.heap[0]->b) < 0) {
            s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; free space (or raise the quota) and rerun", tmp,
                              tsr_write_failure_reason(tmp, errno));
            break;
        }
        s = tsr_run_merge_advance(&m, what);
    }
    if (out && sam_close(out) < 0 && s == TSR_OK)
        s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; free space (or raise the quota) and rerun", tmp,
                          tsr_write_failure_reason(tmp, errno));
    if (s == TSR_OK && rename(tmp, out_path) != 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot rename '%s' into place", tmp);
    if (s != TSR_OK && out)
        unlink(tmp);
    tsr_run_merge_close(&m);
    return s;
}

/*
 * Passes of at most fanin runs (consecutive groups, so ties keep the runs' order) until at most fanin
 * are left: *paths then lists them (made[] holds the paths this made, deleted by the caller). dir is
 * the runs' folder.
 */
static tsr_status_t tsr_run_merge_passes(char ***paths, int *k, int fanin, const char *dir, const char *prefix,
                                         int threads, const char *what, char ***made, int *n_made, int *passes)
{
    while (*k > fanin) {
        int nk = (*k + fanin - 1) / fanin;
        char **np = calloc((size_t)nk, sizeof *np);
        char **nm = realloc(*made, (size_t)(*n_made + nk) * sizeof *nm);
        if (nm)
            *made = nm;
        if (!np || !nm) {
            free(np);
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory merging alignment runs");
        }
        tsr_status_t s = TSR_OK;
        for (int g = 0; g < nk && s == TSR_OK; g++) {
            int first = g * fanin, n = *k - first < fanin ? *k - first : fanin;
            if (n == 1) { /* a last run alone keeps its place */
                np[g] = (*paths)[first];
                continue;
            }
            size_t l = strlen(dir) + strlen(prefix) + 48;
            if (!(np[g] = malloc(l))) {
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory merging alignment runs");
                break;
            }
            snprintf(np[g], l, "%s/%spass%d.%d.bam", dir, prefix, *passes + 1, g);
            (*made)[(*n_made)++] = np[g];
            s = tsr_run_merge_into((const char *const *)*paths + first, n, np[g], threads, what);
            /* runs an earlier pass made are used up (the map tasks' own runs stay: the journal lists them) */
            for (int i = first; s == TSR_OK && i < first + n; i++)
                for (int j = 0; j < *n_made; j++)
                    if ((*made)[j] == (*paths)[i])
                        unlink((*paths)[i]);
        }
        if (*passes > 0)
            free(*paths);
        *paths = np;
        *k = nk;
        ++*passes;
        if (s != TSR_OK)
            return s;
    }
    return TSR_OK;
}

/* After tsr_run_merge_passes: delete the runs its passes made and free the path lists it replaced. */
static void merge_passes_free(char **made, int n_made, char **paths, const char *const *run_paths)
{
    for (int i = 0; i < n_made; i++) {
        unlink(made[i]);
        free(made[i]);
    }
    free(made);
    if (paths != (char **)run_paths)
        free(paths);
}

tsr_status_t tsr_align_runs_combine(const char *const *run_paths, int k, const char *out_path, int threads, int fanin,
                                    const char *dir, const char *prefix, const char *what, int *passes)
{
    char **paths = (char **)run_paths, **made = NULL;
    int n_paths = k, n_made = 0;
    *passes = 0;
    tsr_status_t s = tsr_run_merge_passes(&paths, &n_paths, fanin < 2 ? 2 : fanin, dir, prefix, threads, what,
                                          &made, &n_made, passes);
    if (s == TSR_OK)
        s = tsr_run_merge_into((const char *const *)paths, n_paths, out_path, threads, what);
    ++*passes;
    merge_passes_free(made, n_made, paths, run_paths);
    return s;
}

tsr_status_t tsr_align_merge_runs(tsr_pool_t *pool, const tsr_sample_t *smp, const char *ref_path, int k,
                                  const char *const *run_paths, const char *const *dup_paths,
                                  const char *chunks_path, const char *out_path, const char *qc_path,
                                  int64_t sort_bytes, int fanin)
{
    double t0 = tsr_now();
    tsr_status_t s = TSR_OK;
    if (fanin < 2)
        fanin = 2;
    tsr_align_qc_t qc = {0};
    qc.isize = calloc(TSR_ALIGN_ISIZE_CAP + 1, sizeof *qc.isize);
    /* the runs' folder holds the spilled sorts and the merge passes' runs */
    char dir[4096];
    const char *slash = k > 0 ? strrchr(run_paths[0], '/') : NULL;
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - run_paths[0]) : 1, slash ? run_paths[0] : ".");
    if (!qc.isize)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory merging sample %s", smp->id);
    tsr_align_dups_t dups = {0};
    if (s == TSR_OK)
        s = tsr_align_dups_decide(dup_paths, k, dir, (size_t)sort_bytes, fanin, &dups);
    char **paths = (char **)run_paths, **made = NULL;
    int n_paths = k, n_made = 0, passes = 0;
    if (s == TSR_OK)
        s = tsr_run_merge_passes(&paths, &n_paths, fanin, dir, "", tsr_pool_size(pool), smp->id, &made, &n_made,
                                 &passes);
    tsr_run_merge_t m = {0};
    if (s == TSR_OK)
        s = tsr_run_merge_open(&m, (const char *const *)paths, n_paths);

    tsr_ref_t *ref = NULL;
    sam_hdr_t *hdr = NULL;
    int64_t max_len = 0;
    if (s == TSR_OK)
        s = tsr_ref_open(ref_path, &ref);
    if (s == TSR_OK) {
        hdr = tsr_align_header_create(ref, smp);
        for (int c = 0; c < tsr_ref_n_contigs(ref); c++) {
            qc.ref_len += tsr_ref_contig_length(ref, c);
            if (tsr_ref_contig_length(ref, c) > max_len)
                max_len = tsr_ref_contig_length(ref, c);
        }
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
    /* .bai, or CSI when a contig is past the 2^29 bases a .bai bins (io/hts_index.h) */
    const char *idx_ext = cram ? "crai" : tsr_hts_index_ext(TSR_INDEX_BAM, max_len);
    snprintf(tmp_bai, sizeof tmp_bai, "%s.%s", tmp, idx_ext);
    snprintf(final_bai, sizeof final_bai, "%s.%s", out_path, idx_ext);
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
    /*
     * Threads compress BAM's BGZF blocks (the same bytes at any count). Not CRAM: htslib's encoder picks
     * each block's codec from trial statistics that its threads update in whatever order they finish, so
     * a threaded CRAM of the same records differed between runs (seen on 8 x 30x real reads at
     * --threads 2); the encoder is about 2% of the align stage's CPU.
     */
    if (out && !cram && tsr_pool_size(pool) > 1)
        hts_set_threads(out, tsr_pool_size(pool));
    if (s == TSR_OK && sam_hdr_write(out, hdr) < 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; free space (or raise the quota) and rerun", tmp,
                          tsr_write_failure_reason(tmp, errno));
    int64_t n_out = 0;
    while (s == TSR_OK && m.n_heap > 0) {
        bam1_t *b = m.heap[0]->b;
        int dup = tsr_align_dups_is_marked(&dups, b);
        if (dup < 0) {
            s = TSR_ERR_FORMAT;
            break;
        }
        if (dup)
            b->core.flag |= BAM_FDUP;
        tsr_align_qc_add(&qc, b);
        if (sam_write1(out, hdr, b) < 0) {
            s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; free space (or raise the quota) and rerun", tmp,
                              tsr_write_failure_reason(tmp, errno));
            break;
        }
        n_out++;
        s = tsr_run_merge_advance(&m, smp->id);
    }
    if (out && sam_close(out) < 0 && s == TSR_OK)
        s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; free space (or raise the quota) and rerun", tmp,
                          tsr_write_failure_reason(tmp, errno));
    if (s == TSR_OK && cram)
        s = tsr_cram_set_file_id(tmp, out_path);
    if (s == TSR_OK && cram && sam_index_build(tmp, 0) < 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot index '%s'", tmp);
    if (s == TSR_OK && !cram)
        s = tsr_hts_index_build(tmp, TSR_INDEX_BAM, max_len, &idx_ext);
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
        tsr_log_info("sample %s: bounded merge: duplicate signatures %d spilled runs, %d sort merge passes; "
                     "alignment runs %d, %d merge passes (fan-in %d)",
                     smp->id, dups.sort_runs, dups.sort_passes, k, passes + 1, fanin);
    }
    tsr_run_merge_close(&m);
    merge_passes_free(made, n_made, paths, run_paths);
    tsr_align_dups_free(&dups);
    sam_hdr_destroy(hdr);
    free(qc.isize);
    return s;
}
