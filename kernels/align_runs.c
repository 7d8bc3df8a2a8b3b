/*
 * align_runs.c - the align kernel's map task: one slot's chunks of read
 * pairs become a run, aln/G/S.runs/cK.bam, sorted in a total order
 * (tsr_align_bam_cmp), and cK.dup, one duplicate signature per fragment and
 * the pairs read. At most hold_pairs pairs' records are held (--mem-per-rank's
 * share, kernels/pipeline/plan_budget.c): beyond it they are sorted and
 * spilled as runs under temporary names and k-way merged into cK.bam at the
 * end (tsr_align_runs_combine), the same bytes as when everything is held. The order is total (down to the record's bytes) so the
 * merge (align_merge.c), which k-way merges the runs in the same order,
 * writes the same bytes for any chunk size, rank or thread count. Also what
 * every align step shares: the sample's header and text outputs written
 * through a temporary name.
 */
#include "kernels/align_internal.h"
#include "io/io.h"

#include <htslib/sam.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Runs are BAM in stored (level 0) BGZF blocks: the merge reads each once, and
 * deflating them was the largest cost after mapping. Measured on 200,000 pairs
 * (2 x 150 bp, 1 thread): level 1 took about 0.8 s to write and 0.2 s to read
 * back for a 52 MB run; level 0 takes about 0.1 s each way for 141 MB. "wb1"
 * trades that CPU back for disk.
 */
#define TSR_ALIGN_RUN_MODE "wb0"

int tsr_align_bam_cmp(const void *a, const void *b)
{
    const bam1_t *x = *(bam1_t *const *)a, *y = *(bam1_t *const *)b;
    uint32_t tx = (uint32_t)x->core.tid, ty = (uint32_t)y->core.tid; /* -1 (unmapped) sorts last */
    if (tx != ty)
        return tx < ty ? -1 : 1;
    if (x->core.pos != y->core.pos)
        return x->core.pos < y->core.pos ? -1 : 1;
    int rx = bam_is_rev(x), ry = bam_is_rev(y);
    if (rx != ry)
        return rx - ry;
    int c = strcmp(bam_get_qname(x), bam_get_qname(y));
    if (c)
        return c;
    if (x->core.flag != y->core.flag)
        return (int)(x->core.flag) - (int)(y->core.flag);
    if (x->l_data != y->l_data)
        return x->l_data < y->l_data ? -1 : 1;
    return memcmp(x->data, y->data, (size_t)x->l_data);
}

struct sam_hdr_t *tsr_align_header_create(const tsr_ref_t *ref, const tsr_sample_t *smp)
{
    kstring_t h = KS_INITIALIZE;
    ksprintf(&h, "@HD\tVN:1.6\tSO:coordinate\n");
    for (int i = 0; i < tsr_ref_n_contigs(ref); i++)
        ksprintf(&h, "@SQ\tSN:%s\tLN:%lld\n", tsr_ref_contig_name(ref, i), (long long)tsr_ref_contig_length(ref, i));
    for (int l = 0; l < smp->n_lanes; l++) /* one read group per lane */
        ksprintf(&h, "@RG\tID:%s\tSM:%s\tLB:%s\tPL:ILLUMINA\n", smp->lanes[l].read_group, smp->id,
                 smp->lanes[l].library);
    ksprintf(&h, "@PG\tID:tessera-align\tPN:tessera\tCL:minimap2 -x sr (libminimap2)\n");
    sam_hdr_t *hdr = sam_hdr_parse(h.l, h.s);
    free(h.s);
    return hdr;
}

/* Write `recs` (sorted) as BAM to final_path via a temporary name. */
static tsr_status_t tsr_align_write(const char *final_path, const char *mode, int threads, sam_hdr_t *hdr,
                                    tsr_align_bam_vec_t *recs)
{
    char tmp[4096];
    TSR_CALL(tsr_output_tmpname(final_path, tmp, sizeof tmp));
    errno = 0;
    samFile *fp = sam_open(tmp, mode);
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; check the output directory", tmp,
                             errno ? strerror(errno) : "unknown error");
    if (threads > 1)
        hts_set_threads(fp, threads);
    errno = 0;
    int bad = sam_hdr_write(fp, hdr) < 0;
    for (size_t i = 0; i < recs->n && !bad; i++)
        bad = sam_write1(fp, hdr, recs->v[i]) < 0;
    bad |= sam_close(fp) < 0;
    if (bad || rename(tmp, final_path) != 0) {
        int e = errno;
        unlink(tmp);
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; free space (or raise the quota) and rerun the "
                             "same command to resume", tmp, tsr_write_failure_reason(tmp, e));
    }
    return TSR_OK;
}

tsr_status_t tsr_align_write_text(const char *final_path, const char *text, size_t len)
{
    char tmp[4096];
    TSR_CALL(tsr_output_tmpname(final_path, tmp, sizeof tmp));
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; check the output directory", tmp, strerror(errno));
    if (len > 0)
        fwrite(text, 1, len, fp); /* a short write sets the error flag tsr_output_commit checks */
    return tsr_output_commit(fp, tmp, final_path);
}

/* ------------------------------------------------------------ the map task */

/* The held records, sorted, written as spill run *n_spill (a temporary name beside run_path), then freed. */
static tsr_status_t tsr_align_spill(tsr_align_mapper_t *m, const char *run_path, int threads, sam_hdr_t *hdr,
                                    tsr_align_bam_vec_t *recs, char ***spills, int *n_spill)
{
    char name[4200], tmp[4300];
    snprintf(name, sizeof name, "%s.spill%d", run_path, *n_spill);
    TSR_CALL(tsr_output_tmpname(name, tmp, sizeof tmp));
    char **v = realloc(*spills, (size_t)(*n_spill + 1) * sizeof *v);
    if (!v)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    *spills = v;
    if (!(v[*n_spill] = strdup(tmp)))
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    ++*n_spill;
    if (recs->n > 0)
        qsort(recs->v, recs->n, sizeof *recs->v, tsr_align_bam_cmp);
    tsr_status_t s = tsr_align_write(tmp, TSR_ALIGN_RUN_MODE, threads, hdr, recs);
    recs->n = 0;
    tsr_align_mapper_release(m);
    /* the freed arena blocks go back to the system: glibc serves 4 MiB blocks from the heap once one was
     * freed (its mmap threshold rises), and the heap's holes would otherwise grow the RSS spill after spill */
    malloc_trim(0);
    return s;
}

/*
 * The held records (and the spilled runs, if any) become run_path: written straight when nothing was
 * spilled, renamed when one run holds all, else k-way merged with the fan-in bound.
 */
static tsr_status_t tsr_align_run_finish(tsr_align_mapper_t *m, const char *run_path, int threads, sam_hdr_t *hdr,
                                         tsr_align_bam_vec_t *recs, char ***spills, int *n_spill, int fanin,
                                         const char *what, int *passes)
{
    *passes = 0;
    if (*n_spill == 0) {
        if (recs->n > 0) /* qsort needs a non-NULL array even when empty */
            qsort(recs->v, recs->n, sizeof *recs->v, tsr_align_bam_cmp);
        return tsr_align_write(run_path, TSR_ALIGN_RUN_MODE, threads, hdr, recs);
    }
    if (recs->n > 0)
        TSR_CALL(tsr_align_spill(m, run_path, threads, hdr, recs, spills, n_spill));
    if (*n_spill == 1)
        return rename((*spills)[0], run_path) == 0
                   ? TSR_OK
                   : tsr_error_set(TSR_ERR_IO, "cannot rename '%s' into place: %s", (*spills)[0], strerror(errno));
    char dir[4096], prefix[4200];
    const char *slash = strrchr(run_path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - run_path) : 1, slash ? run_path : ".");
    /* the passes' files carry the spills' temporary prefix: map tasks of one sample share the folder */
    const char *base = strrchr((*spills)[0], '/');
    snprintf(prefix, sizeof prefix, "%s.", base ? base + 1 : (*spills)[0]);
    return tsr_align_runs_combine((const char *const *)*spills, *n_spill, run_path, threads, fanin, dir, prefix,
                                  what, passes);
}

tsr_status_t tsr_align_map_slot(tsr_align_mapper_t *m, const tsr_mm_index_t *index, tsr_pool_t *pool,
                                const tsr_sample_t *smp, const char *ref_path, const char *chunks_path, int slot,
                                int n_slots, const char *bam_path, const char *dup_path, int64_t hold_pairs,
                                int fanin)
{
    tsr_align_chunks_t ch;
    TSR_CALL(tsr_align_chunks_read(chunks_path, &ch));
    int64_t k_slots = n_slots;
    int64_t c0 = slot * (int64_t)ch.n / k_slots, c1 = (slot + 1) * (int64_t)ch.n / k_slots;
    int64_t want = c1 == ch.n ? INT64_MAX : (c1 - c0) * ch.pairs_per_chunk;
    int n_seg = 0;
    const char **rg = calloc((size_t)smp->n_lanes + 1, sizeof *rg);
    int64_t *lib = calloc((size_t)smp->n_lanes + 1, sizeof *lib);
    for (int l = 0; rg && lib && l < smp->n_lanes; l++) {
        rg[l] = smp->lanes[l].read_group;
        lib[l] = l;
        for (int k = 0; k < l; k++)
            if (!strcmp(smp->lanes[k].library, smp->lanes[l].library)) {
                lib[l] = lib[k];
                break;
            }
    }

    tsr_ref_t *ref = NULL;
    tsr_status_t s = rg && lib ? tsr_ref_open(ref_path, &ref) : tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    sam_hdr_t *hdr = s == TSR_OK ? tsr_align_header_create(ref, smp) : NULL;
    tsr_ref_close(&ref);
    if (s == TSR_OK && !hdr)
        s = tsr_error_set(TSR_ERR_INTERNAL, "cannot build the BAM header for sample %s", smp->id);
    /* the signatures go to the .dup file's temporary name batch by batch (they are not held) */
    char dup_tmp[4096];
    FILE *dfp = NULL;
    if (s == TSR_OK)
        s = tsr_output_tmpname(dup_path, dup_tmp, sizeof dup_tmp);
    if (s == TSR_OK && !(dfp = fopen(dup_tmp, "w")))
        s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; check the output directory", dup_tmp, strerror(errno));
    tsr_align_batch_t *bt = NULL;
    tsr_reader_t *rd = NULL;
    if (s == TSR_OK && c0 < c1)
        s = tsr_align_batch_create(m, index, tsr_pool_size(pool), hdr, rg, lib, &bt);
    /* the first chunk starts at the files' start (and with one map task the index did not read them) */
    if (s == TSR_OK && c0 < c1)
        s = c0 == 0 ? tsr_reader_open_lanes(smp->n_lanes, smp->lanes, &rd)
                    : tsr_reader_open_lanes_at(smp->n_lanes, smp->lanes, &ch.pos[c0], &rd);
    if (rd)
        n_seg = tsr_reader_segments(rd);
    tsr_align_bam_vec_t recs = {0};
    kstring_t dups = KS_INITIALIZE;
    double t0 = tsr_now();
    int64_t n_pairs = 0, held = 0, n_recs = 0;
    char **spills = NULL;
    int n_spill = 0, passes = 0;
    while (s == TSR_OK && rd && n_pairs < want) {
        int n = 0;
        int64_t room = want - n_pairs;
        if (hold_pairs > 0 && hold_pairs - held < room)
            room = hold_pairs - held;
        s = tsr_align_batch_read(bt, rd, n_seg, room, &n, smp->id);
        if (s != TSR_OK || n == 0)
            break;
        s = tsr_align_batch_map(bt, pool, n);
        /* hand the records over in read order; the signatures too */
        if (s == TSR_OK) {
            size_t before = recs.n;
            s = tsr_align_batch_collect(bt, n, &recs, &dups, smp->id);
            n_recs += (int64_t)(recs.n - before);
        }
        if (s == TSR_OK && dups.l > 0 && fwrite(dups.s, 1, dups.l, dfp) != dups.l)
            s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; free space (or raise the quota) and rerun the "
                              "same command to resume", dup_tmp, tsr_write_failure_reason(dup_tmp, errno));
        dups.l = 0;
        n_pairs += n;
        held += n;
        if (s == TSR_OK && hold_pairs > 0 && held >= hold_pairs) {
            s = tsr_align_spill(m, bam_path, tsr_pool_size(pool), hdr, &recs, &spills, &n_spill);
            held = 0;
        }
    }
    tsr_align_batch_destroy(&bt);
    tsr_reader_close(&rd);
    if (s == TSR_OK && ch.n_pairs < 0 && n_pairs == 0)
        s = tsr_error_set(TSR_ERR_FORMAT,
                          "%s (sample %s) holds no reads; a sample is never dropped silently: fix the file or "
                          "remove the sample from the sheet",
                          smp->fastq1, smp->id);
    if (s == TSR_OK)
        s = tsr_align_run_finish(m, bam_path, tsr_pool_size(pool), hdr, &recs, &spills, &n_spill, fanin, smp->id,
                                 &passes);
    /* the .dup file ends with the pairs this task read: the merge sums them for the QC */
    if (dfp) {
        if (s == TSR_OK && fprintf(dfp, "#pairs\t%lld\n", (long long)n_pairs) < 0)
            s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", dup_tmp, tsr_write_failure_reason(dup_tmp, errno));
        if (s == TSR_OK)
            s = tsr_output_commit(dfp, dup_tmp, dup_path);
        else {
            fclose(dfp);
            unlink(dup_tmp);
        }
    }
    if (s == TSR_OK)
        tsr_log_info("sample %s slot %d: chunks [%lld, %lld), %lld read pairs, %lld records in %.2f s; %d spilled "
                     "runs of at most %lld pairs, %d merge passes; rank peak RSS %.1f MiB",
                     smp->id, slot, (long long)c0, (long long)c1, (long long)n_pairs, (long long)n_recs,
                     tsr_now() - t0, n_spill, (long long)hold_pairs, passes, (double)tsr_peak_rss() / 1048576.0);
    for (int i = 0; i < n_spill; i++) {
        unlink(spills[i]); /* gone already when renamed into place */
        free(spills[i]);
    }
    free(spills);
    free(recs.v);
    tsr_align_mapper_release(m); /* every record of this task */
    free(dups.s);
    free(ch.pos);
    free(rg);
    free(lib);
    sam_hdr_destroy(hdr);
    return s;
}
