/*
 * align.c - the align kernel: FASTQ -> DIR/aln/S.cram + .crai (or S.bam + .bai) + .qc.json in
 * fixed read-pair chunks (plan.c lays out the tasks, all of type align):
 *   index  scan the sample's FASTQ once (decompress + split into records, no
 *          mapping) and record where every chunk of --align-chunk pairs starts
 *          (uncompressed offset; BGZF: block offset + offset inside the block)
 *          -> aln/S.chunks.tsv;
 *   map    slot k opens the reads at its first chunk (BGZF: seek to the block;
 *          plain gzip: zlib decompresses up to the offset, nothing is parsed
 *          or mapped), maps its chunks with libminimap2 sr on the pinned pool,
 *          sorts the records in memory (total order, below) and writes a run
 *          aln/S.runs/cK.bam plus one duplicate signature per fragment
 *          (cK.dup, align_dup.c);
 *   merge  decides the duplicates from every signature, k-way merges the runs
 *          (same total order, ties by run) into aln/S.cram + .crai (CRAM 3.0
 *          against --ref) or aln/S.bam + .bai with 0x400 set, and writes the
 *          sample's alignment QC aln/S.qc.json.
 * The primary records of a pair carry MC and MQ (samtools fixmate -m).
 * Mapping a pair depends on nothing else in its batch, and the record order is
 * total, so aln/S.{cram,bam} is the same bytes for any chunk size, rank or thread count.
 */
#include "kernels/align_internal.h"
#include "kernels/kernels.h"

#include <htslib/sam.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TSR_ALIGN_BATCH 8192 /* read pairs mapped per pool round */

typedef struct tsr_align_state {
    const tsr_mm_index_t *index; /* the node-shared index (env->mm_index), taken on the first map task */
    int n_tbuf;
    tsr_mm_tbuf_t **tbuf;
} tsr_align_state_t;

typedef struct tsr_pair_buf {
    int n_seg;
    char *name;
    char *seq[2], *qual[2];
    int len[2];
    tsr_text_t sam;
} tsr_pair_buf_t;

typedef struct tsr_align_batch {
    tsr_align_state_t *st;
    tsr_pair_buf_t *pairs;
} tsr_align_batch_t;

static void tsr_align_destroy(void **sp)
{
    if (!sp || !*sp)
        return;
    tsr_align_state_t *st = *sp;
    for (int i = 0; i < st->n_tbuf; i++)
        tsr_mm_tbuf_destroy(&st->tbuf[i]);
    free(st->tbuf);
    free(st);
    *sp = NULL;
}

static tsr_status_t tsr_align_init(const tsr_kernel_env_t *env, void **sp)
{
    const char *fmt = env->plan->opts.aln_format;
    if (fmt && strcmp(fmt, "bam") && strcmp(fmt, "cram"))
        return tsr_error_set(TSR_ERR_USAGE, "--aln-format must be bam or cram (got '%s')", fmt);
    tsr_align_state_t *st;
    TSR_ALLOC(st, 1);
    *sp = st;
    return TSR_OK;
}

/*
 * The index and thread buffers, on the rank's first map task. The index is
 * the node's shared one, loaded before the task graph (align_index.c, cached
 * as DIR/ref.mmi across runs); the pipeline frees it after the graph.
 */
static tsr_status_t tsr_align_index_load(tsr_align_state_t *st, const tsr_kernel_env_t *env)
{
    if (st->index)
        return TSR_OK;
    if (!env->mm_index)
        return tsr_error_set(TSR_ERR_INTERNAL, "align map task without the minimap2 index: the pipeline loads it "
                                               "before the task graph when the plan has FASTQ samples");
    st->index = env->mm_index;
    int nt = tsr_pool_size(env->pool);
    st->tbuf = calloc((size_t)nt, sizeof *st->tbuf);
    if (!st->tbuf)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    st->n_tbuf = nt;
    for (int i = 0; i < nt; i++)
        TSR_CALL(tsr_mm_tbuf_create(&st->tbuf[i]));
    return TSR_OK;
}

static tsr_status_t tsr_align_map_one(void *ctx, int64_t i, int thread)
{
    tsr_align_batch_t *b = ctx;
    tsr_pair_buf_t *p = &b->pairs[i];
    p->sam.len = 0;
    return tsr_mm_map_pair(b->st->index, b->st->tbuf[thread], p->name, p->n_seg,
                           (const char *const *)p->seq, (const char *const *)p->qual, p->len, &p->sam);
}

static char *tsr_strndup_checked(const char *s, int n)
{
    char *p = malloc((size_t)n + 1);
    if (p) {
        memcpy(p, s, (size_t)n);
        p[n] = '\0';
    }
    return p;
}

/* Records of one sample, grown as batches are parsed. */
typedef struct tsr_bam_vec {
    bam1_t **v;
    size_t n, cap;
} tsr_bam_vec_t;

static int tsr_bam_cmp(const void *a, const void *b)
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

/* 5' end of a read on the reference, clips included (Picard's unclipped 5' position), 0-based. */
static int64_t tsr_unclipped5(const bam1_t *b)
{
    const uint32_t *cig = bam_get_cigar(b);
    int n = (int)b->core.n_cigar;
    if (!bam_is_rev(b)) {
        int64_t clip = 0;
        for (int i = 0; i < n && (bam_cigar_op(cig[i]) == BAM_CSOFT_CLIP || bam_cigar_op(cig[i]) == BAM_CHARD_CLIP); i++)
            clip += bam_cigar_oplen(cig[i]);
        return b->core.pos - clip;
    }
    int64_t clip = 0;
    for (int i = n - 1; i >= 0 && (bam_cigar_op(cig[i]) == BAM_CSOFT_CLIP || bam_cigar_op(cig[i]) == BAM_CHARD_CLIP); i--)
        clip += bam_cigar_oplen(cig[i]);
    return bam_endpos(b) - 1 + clip;
}

/* Picard's score: the sum of base qualities >= 15. */
static int64_t tsr_qual_score(const bam1_t *b)
{
    const uint8_t *q = bam_get_qual(b);
    int64_t s = 0;
    for (int i = 0; i < b->core.l_qseq; i++)
        s += q[i] >= 15 ? q[i] : 0;
    return s;
}

/*
 * The duplicate signature of one fragment (its records, primary ones used):
 *   "P tidA posA revA tidB posB revB score name"  both ends mapped (ends ordered)
 *   "F tid pos rev score seg name"               one end mapped (single-end, or mate unmapped)
 * nothing when no end maps. pos is the unclipped 5' end; the library is the
 * sample's (one per sample today), so it is implied by the file.
 */
static int tsr_align_dup_sig(bam1_t **v, size_t n, kstring_t *ks)
{
    const bam1_t *p[2] = {NULL, NULL};
    for (size_t i = 0; i < n; i++) {
        if (v[i]->core.flag & (BAM_FSECONDARY | BAM_FSUPPLEMENTARY))
            continue;
        p[(v[i]->core.flag & BAM_FREAD2) ? 1 : 0] = v[i];
    }
    int m0 = p[0] && !(p[0]->core.flag & BAM_FUNMAP), m1 = p[1] && !(p[1]->core.flag & BAM_FUNMAP);
    int64_t score = (p[0] ? tsr_qual_score(p[0]) : 0) + (p[1] ? tsr_qual_score(p[1]) : 0);
    if (m0 && m1) {
        int64_t e[2][3];
        for (int k = 0; k < 2; k++) {
            e[k][0] = p[k]->core.tid;
            e[k][1] = tsr_unclipped5(p[k]);
            e[k][2] = bam_is_rev(p[k]);
        }
        int sw = e[1][0] < e[0][0] || (e[1][0] == e[0][0] && (e[1][1] < e[0][1] || (e[1][1] == e[0][1] && e[1][2] < e[0][2])));
        const int64_t *a = e[sw], *b = e[!sw];
        return ksprintf(ks, "P\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%s\n", (long long)a[0], (long long)a[1],
                        (long long)a[2], (long long)b[0], (long long)b[1], (long long)b[2], (long long)score,
                        bam_get_qname(p[0])) < 0 ? -1 : 0;
    }
    if (m0 || m1) {
        const bam1_t *b = m0 ? p[0] : p[1];
        return ksprintf(ks, "F\t%d\t%lld\t%d\t%lld\t%d\t%s\n", b->core.tid, (long long)tsr_unclipped5(b),
                        bam_is_rev(b), (long long)tsr_qual_score(b), m0 ? 0 : 1, bam_get_qname(b)) < 0 ? -1 : 0;
    }
    return 0;
}

/*
 * MC (mate CIGAR) and MQ (mate MAPQ) on the primary records of a pair, as
 * `samtools fixmate -m` sets them: both only when the mate is mapped.
 * Secondary and supplementary records are left as minimap2 wrote them.
 */
static int tsr_align_mate_tags(bam1_t **v, size_t n, kstring_t *cig)
{
    bam1_t *p[2] = {NULL, NULL};
    for (size_t i = 0; i < n; i++) {
        if (!(v[i]->core.flag & BAM_FPAIRED) || (v[i]->core.flag & (BAM_FSECONDARY | BAM_FSUPPLEMENTARY)))
            continue;
        p[(v[i]->core.flag & BAM_FREAD2) ? 1 : 0] = v[i];
    }
    if (!p[0] || !p[1])
        return 0;
    for (int k = 0; k < 2; k++) {
        const bam1_t *mate = p[!k];
        if (mate->core.flag & BAM_FUNMAP)
            continue;
        cig->l = 0;
        const uint32_t *c = bam_get_cigar(mate);
        int bad = mate->core.n_cigar == 0;
        for (uint32_t j = 0; j < mate->core.n_cigar && !bad; j++)
            bad = ksprintf(cig, "%u%c", bam_cigar_oplen(c[j]), bam_cigar_opchr(c[j])) < 0;
        if (bad || bam_aux_update_int(p[k], "MQ", mate->core.qual) < 0 ||
            bam_aux_update_str(p[k], "MC", (int)cig->l + 1, cig->s) < 0)
            return -1;
    }
    return 0;
}

static tsr_status_t tsr_align_parse(tsr_pair_buf_t *pairs, int n, sam_hdr_t *hdr, const char *rg,
                                    tsr_bam_vec_t *out, kstring_t *dups, const char *sample)
{
    kstring_t line = KS_INITIALIZE, cig = KS_INITIALIZE;
    tsr_status_t s = TSR_OK;
    for (int i = 0; i < n && s == TSR_OK; i++) {
        size_t first = out->n;
        char *p = pairs[i].sam.s, *end = p + pairs[i].sam.len;
        while (p < end && s == TSR_OK) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
            line.l = 0;
            kputsn(p, l, &line);
            p += l + 1;
            if (out->n == out->cap) {
                size_t cap = out->cap ? out->cap * 2 : 4096;
                bam1_t **v = realloc(out->v, cap * sizeof *v);
                if (!v) {
                    s = tsr_error_set(TSR_ERR_NOMEM, "out of memory holding alignments of sample %s", sample);
                    break;
                }
                out->v = v;
                out->cap = cap;
            }
            bam1_t *b = bam_init1();
            if (!b) {
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory holding alignments of sample %s", sample);
                break;
            }
            if (sam_parse1(&line, hdr, b) < 0 || bam_aux_append(b, "RG", 'Z', (int)strlen(rg) + 1,
                                                                 (const uint8_t *)rg) < 0) {
                bam_destroy1(b);
                s = tsr_error_set(TSR_ERR_INTERNAL, "could not convert minimap2's record for read '%s' of sample %s",
                                  pairs[i].name, sample);
                break;
            }
            out->v[out->n++] = b;
        }
        if (s == TSR_OK && tsr_align_mate_tags(out->v + first, out->n - first, &cig) < 0)
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory adding MC/MQ to read '%s' of sample %s", pairs[i].name,
                              sample);
        if (s == TSR_OK && tsr_align_dup_sig(out->v + first, out->n - first, dups) < 0)
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory holding alignments of sample %s", sample);
    }
    free(line.s);
    free(cig.s);
    return s;
}

static sam_hdr_t *tsr_align_header(const tsr_plan_t *plan, tsr_ref_t *ref, const char *sample)
{
    kstring_t h = KS_INITIALIZE;
    ksprintf(&h, "@HD\tVN:1.6\tSO:coordinate\n");
    for (int i = 0; i < tsr_ref_n_contigs(ref); i++)
        ksprintf(&h, "@SQ\tSN:%s\tLN:%lld\n", tsr_ref_contig_name(ref, i), (long long)tsr_ref_contig_length(ref, i));
    ksprintf(&h, "@RG\tID:%s\tSM:%s\tLB:%s\tPL:ILLUMINA\n", sample, sample, sample);
    ksprintf(&h, "@PG\tID:tessera-align\tPN:tessera\tCL:minimap2 -x sr (libminimap2)\n");
    (void)plan;
    sam_hdr_t *hdr = sam_hdr_parse(h.l, h.s);
    free(h.s);
    return hdr;
}

static void tsr_pairs_free(tsr_pair_buf_t *pairs, int n)
{
    for (int i = 0; i < n; i++) {
        free(pairs[i].name);
        for (int k = 0; k < 2; k++) {
            free(pairs[i].seq[k]);
            free(pairs[i].qual[k]);
            pairs[i].seq[k] = pairs[i].qual[k] = NULL;
        }
        pairs[i].name = NULL;
    }
}

/* Write `recs` (sorted) as BAM to final_path via a temporary name; with index, build .bai beside it. */
static tsr_status_t tsr_align_write(const char *final_path, const char *mode, int threads, sam_hdr_t *hdr,
                                    tsr_bam_vec_t *recs)
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

static tsr_status_t tsr_write_text(const char *final_path, const char *text, size_t len)
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

/* ------------------------------------------------------------ index step */

typedef struct tsr_chunks {
    int64_t pairs_per_chunk, n_pairs;
    int n, n_seg;
    tsr_read_pos_t (*pos)[2];
} tsr_chunks_t;

static tsr_status_t tsr_align_index(const tsr_kernel_env_t *env, int sample)
{
    const tsr_plan_t *plan = env->plan;
    const tsr_sample_t *smp = &plan->sheet->samples[sample];
    int64_t per = plan->opts.align_chunk_pairs;
    char rel[1024], path[4096], dir[4096];
    tsr_plan_align_chunks_path(plan, sample, rel, sizeof rel);
    TSR_CALL(tsr_plan_path(plan, rel, path, sizeof path));
    TSR_CALL(tsr_plan_path(plan, "aln", dir, sizeof dir));
    TSR_CALL(tsr_mkdir_p(dir));
    double t0 = tsr_now();
    tsr_reader_t *rd = NULL;
    TSR_CALL(tsr_reader_open(smp->fastq1, smp->fastq2, &rd));
    tsr_chunks_t ch = {per, 0, 0, smp->fastq2 ? 2 : 1, NULL};
    int cap = 0;
    tsr_status_t s = TSR_OK;
    for (;;) {
        tsr_read_pos_t here[2];
        if (ch.n_pairs % per == 0)
            tsr_reader_tell(rd, here);
        tsr_read_t r1, r2;
        int rc = tsr_reader_next(rd, &r1, &r2);
        if (rc == 0)
            break;
        if (rc < 0) {
            s = TSR_ERR_FORMAT;
            break;
        }
        if (ch.n_pairs % per == 0) {
            if (ch.n == cap) {
                cap = cap ? cap * 2 : 64;
                void *v = realloc(ch.pos, (size_t)cap * sizeof *ch.pos);
                if (!v) {
                    s = tsr_error_set(TSR_ERR_NOMEM, "out of memory indexing %s", smp->fastq1);
                    break;
                }
                ch.pos = v;
            }
            memcpy(ch.pos[ch.n++], here, sizeof here);
        }
        ch.n_pairs++;
    }
    tsr_reader_close(&rd);
    if (s == TSR_OK && ch.n_pairs == 0)
        s = tsr_error_set(TSR_ERR_FORMAT,
                          "%s (sample %s) holds no reads; a sample is never dropped silently: fix the file or "
                          "remove the sample from the sheet",
                          smp->fastq1, smp->id);
    int bgzf[2] = {0, 0};
    tsr_read_pos_t *col = s == TSR_OK ? calloc((size_t)ch.n, sizeof *col) : NULL;
    if (s == TSR_OK && !col)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory indexing %s", smp->fastq1);
    for (int k = 0; k < ch.n_seg && s == TSR_OK; k++) {
        for (int j = 0; j < ch.n; j++)
            col[j] = ch.pos[j][k];
        s = tsr_reader_locate(k ? smp->fastq2 : smp->fastq1, ch.n, col, &bgzf[k]);
        for (int j = 0; j < ch.n; j++)
            ch.pos[j][k] = col[j];
    }
    free(col);
    kstring_t ks = KS_INITIALIZE;
    if (s == TSR_OK) {
        ksprintf(&ks, "#tessera-chunks\t1\tpairs_per_chunk\t%lld\tchunks\t%d\tpairs\t%lld\tsegments\t%d\n",
                 (long long)per, ch.n, (long long)ch.n_pairs, ch.n_seg);
        for (int j = 0; j < ch.n; j++)
            for (int k = 0; k < 2; k++) {
                const tsr_read_pos_t *p = &ch.pos[j][k];
                ksprintf(&ks, "%lld\t%lld\t%lld\t%lld\t%lld%c", (long long)p->uoff, (long long)p->coff,
                         (long long)p->within, (long long)p->rec, (long long)p->line, k ? '\n' : '\t');
            }
        s = tsr_write_text(path, ks.s, ks.l);
        tsr_log_info("sample %s: %lld read pairs in %d chunks of %lld (%s) indexed in %.2f s -> %s", smp->id,
                     (long long)ch.n_pairs, ch.n, (long long)per,
                     bgzf[0] ? "BGZF: chunks start at their block" : "not BGZF: chunks skip by decompressing",
                     tsr_now() - t0, rel);
    }
    free(ks.s);
    free(ch.pos);
    return s;
}

static tsr_status_t tsr_chunks_read(const char *path, tsr_chunks_t *ch)
{
    memset(ch, 0, sizeof *ch);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot read '%s': %s; rerun to rebuild it", path, strerror(errno));
    long long per, pairs;
    int n, seg;
    tsr_status_t s = TSR_OK;
    if (fscanf(fp, "#tessera-chunks\t1\tpairs_per_chunk\t%lld\tchunks\t%d\tpairs\t%lld\tsegments\t%d", &per, &n,
               &pairs, &seg) != 4 || n < 1 || per < 1) {
        s = tsr_error_set(TSR_ERR_FORMAT, "'%s' is not a tessera chunk index; delete it and rerun", path);
    } else if (!(ch->pos = calloc((size_t)n, sizeof *ch->pos))) {
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    }
    ch->pairs_per_chunk = s == TSR_OK ? per : 0;
    ch->n_pairs = s == TSR_OK ? pairs : 0;
    ch->n = s == TSR_OK ? n : 0;
    ch->n_seg = s == TSR_OK ? seg : 0;
    for (int j = 0; j < ch->n && s == TSR_OK; j++)
        for (int k = 0; k < 2 && s == TSR_OK; k++) {
            long long v[5];
            tsr_read_pos_t *p = &ch->pos[j][k];
            if (fscanf(fp, "%lld %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4]) != 5)
                s = tsr_error_set(TSR_ERR_FORMAT, "'%s' is cut short at chunk %d; delete it and rerun", path, j);
            *p = (tsr_read_pos_t){v[0], v[1], v[2], v[3], v[4]};
        }
    fclose(fp);
    if (s != TSR_OK) {
        free(ch->pos);
        ch->pos = NULL;
    }
    return s;
}

/* -------------------------------------------------------------- map step */

static tsr_status_t tsr_align_map(tsr_align_state_t *st, const tsr_kernel_env_t *env, int sample, int slot)
{
    const tsr_plan_t *plan = env->plan;
    const tsr_sample_t *smp = &plan->sheet->samples[sample];
    char rel[1024], path[4096], bam_path[4096], dup_path[4096];
    tsr_plan_align_chunks_path(plan, sample, rel, sizeof rel);
    TSR_CALL(tsr_plan_path(plan, rel, path, sizeof path));
    tsr_plan_align_run_path(plan, sample, slot, "bam", rel, sizeof rel);
    TSR_CALL(tsr_plan_path(plan, rel, bam_path, sizeof bam_path));
    tsr_plan_align_run_path(plan, sample, slot, "dup", rel, sizeof rel);
    TSR_CALL(tsr_plan_path(plan, rel, dup_path, sizeof dup_path));
    char *slash = strrchr(bam_path, '/');
    *slash = '\0';
    TSR_CALL(tsr_mkdir_p(bam_path));
    *slash = '/';

    tsr_chunks_t ch;
    TSR_CALL(tsr_chunks_read(path, &ch));
    int64_t k_slots = plan->align_slots[sample];
    int64_t c0 = slot * (int64_t)ch.n / k_slots, c1 = (slot + 1) * (int64_t)ch.n / k_slots;
    int64_t want = c1 == ch.n ? INT64_MAX : (c1 - c0) * ch.pairs_per_chunk;

    tsr_ref_t *ref = NULL;
    tsr_status_t s = tsr_ref_open(plan->opts.ref, &ref);
    sam_hdr_t *hdr = s == TSR_OK ? tsr_align_header(plan, ref, smp->id) : NULL;
    tsr_ref_close(&ref);
    if (s == TSR_OK && !hdr)
        s = tsr_error_set(TSR_ERR_INTERNAL, "cannot build the BAM header for sample %s", smp->id);
    tsr_reader_t *rd = NULL;
    if (s == TSR_OK && c0 < c1)
        s = tsr_align_index_load(st, env);
    if (s == TSR_OK && c0 < c1)
        s = tsr_reader_open_at(smp->fastq1, smp->fastq2, ch.pos[c0], &rd);
    tsr_pair_buf_t *pairs = s == TSR_OK && c0 < c1 ? calloc(TSR_ALIGN_BATCH, sizeof *pairs) : NULL;
    tsr_bam_vec_t recs = {0};
    kstring_t dups = KS_INITIALIZE;
    if (s == TSR_OK && c0 < c1 && !pairs)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    double t0 = tsr_now();
    int64_t n_pairs = 0;
    while (s == TSR_OK && rd && n_pairs < want) {
        int n = 0;
        while (n < TSR_ALIGN_BATCH && n_pairs + n < want) {
            tsr_read_t r1, r2;
            int rc = tsr_reader_next(rd, &r1, &r2);
            if (rc == 0)
                break;
            if (rc < 0) {
                s = TSR_ERR_FORMAT;
                break;
            }
            tsr_pair_buf_t *p = &pairs[n];
            p->n_seg = smp->fastq2 ? 2 : 1;
            p->name = tsr_strndup_checked(r1.name, (int)strlen(r1.name));
            p->seq[0] = tsr_strndup_checked(r1.seq, r1.len);
            p->qual[0] = tsr_strndup_checked(r1.qual, r1.len);
            p->len[0] = r1.len;
            int ok = p->name && p->seq[0] && p->qual[0];
            if (p->n_seg == 2) {
                p->seq[1] = tsr_strndup_checked(r2.seq, r2.len);
                p->qual[1] = tsr_strndup_checked(r2.qual, r2.len);
                p->len[1] = r2.len;
                ok = ok && p->seq[1] && p->qual[1];
            }
            n++;
            if (!ok) {
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading sample %s", smp->id);
                break;
            }
        }
        if (s == TSR_OK && n > 0) {
            tsr_align_batch_t b = {st, pairs};
            s = tsr_pool_for(env->pool, n, tsr_align_map_one, &b);
            if (s == TSR_OK)
                s = tsr_align_parse(pairs, n, hdr, smp->id, &recs, &dups, smp->id);
        }
        n_pairs += n;
        tsr_pairs_free(pairs, n);
        if (n == 0)
            break;
    }
    if (pairs) {
        for (int i = 0; i < TSR_ALIGN_BATCH; i++)
            free(pairs[i].sam.s);
        free(pairs);
    }
    tsr_reader_close(&rd);
    if (s == TSR_OK) {
        if (recs.n > 0) /* qsort needs a non-NULL array even when empty */
            qsort(recs.v, recs.n, sizeof *recs.v, tsr_bam_cmp);
        /* a run is read once by the merge: fast compression */
        s = tsr_align_write(bam_path, "wb1", tsr_pool_size(env->pool), hdr, &recs);
    }
    if (s == TSR_OK)
        s = tsr_write_text(dup_path, dups.s ? dups.s : "", dups.l);
    if (s == TSR_OK)
        tsr_log_info("sample %s slot %d: chunks [%lld, %lld), %lld read pairs, %zu records in %.2f s", smp->id, slot,
                     (long long)c0, (long long)c1, (long long)n_pairs, recs.n, tsr_now() - t0);
    for (size_t i = 0; i < recs.n; i++)
        bam_destroy1(recs.v[i]);
    free(recs.v);
    free(dups.s);
    free(ch.pos);
    sam_hdr_destroy(hdr);
    return s;
}

/* ------------------------------------------------------------ merge step */

/* One signature line of a .dup file; for pair ends (marker) only tid/pos/rev/name matter. */
typedef struct tsr_dup_ent {
    int64_t a[3], b[3], score;
    int pair, seg;
    const char *name;
} tsr_dup_ent_t;

typedef struct tsr_dup_mark {
    const char *name;
    int mask; /* bit 0: read 1 (or single-end), bit 1: read 2 */
} tsr_dup_mark_t;

static int tsr_i64cmp(const int64_t *x, const int64_t *y, int n)
{
    for (int i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

/* pairs: signature, then best first (score desc, name asc) */
static int tsr_dup_pair_cmp(const void *p, const void *q)
{
    const tsr_dup_ent_t *x = p, *y = q;
    int c = tsr_i64cmp(x->a, y->a, 3);
    if (!c)
        c = tsr_i64cmp(x->b, y->b, 3);
    if (!c && x->score != y->score)
        c = x->score > y->score ? -1 : 1;
    return c ? c : strcmp(x->name, y->name);
}

/* fragment ends: position, then pair ends first, then best first */
static int tsr_dup_frag_cmp(const void *p, const void *q)
{
    const tsr_dup_ent_t *x = p, *y = q;
    int c = tsr_i64cmp(x->a, y->a, 3);
    if (!c && x->pair != y->pair)
        c = x->pair ? -1 : 1;
    if (!c && x->score != y->score)
        c = x->score > y->score ? -1 : 1;
    return c ? c : strcmp(x->name, y->name);
}

static int tsr_dup_mark_cmp(const void *p, const void *q)
{
    return strcmp(((const tsr_dup_mark_t *)p)->name, ((const tsr_dup_mark_t *)q)->name);
}

typedef struct tsr_dups {
    char **text; /* the .dup files, names point into them */
    int n_text;
    tsr_dup_mark_t *mark;
    size_t n_mark;
    int64_t dup_pairs, dup_frags;
} tsr_dups_t;

static void tsr_dups_free(tsr_dups_t *d)
{
    for (int i = 0; i < d->n_text; i++)
        free(d->text[i]);
    free(d->text);
    free(d->mark);
    memset(d, 0, sizeof *d);
}

static tsr_status_t tsr_read_whole(const char *path, char **out)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot read '%s': %s; rerun to rebuild it", path, strerror(errno));
    kstring_t ks = KS_INITIALIZE;
    char buf[65536];
    size_t n;
    int bad = 0;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
        bad |= kputsn(buf, n, &ks) < 0;
    bad |= ferror(fp);
    fclose(fp);
    if (bad || kputsn("", 0, &ks) < 0) {
        free(ks.s);
        return tsr_error_set(TSR_ERR_IO, "cannot read '%s'", path);
    }
    *out = ks.s;
    return TSR_OK;
}

/*
 * Picard MarkDuplicates rules, library = the sample's: pairs with both ends
 * mapped are duplicates of each other when both ends' unclipped 5' positions
 * and strands agree; the pair with the highest sum of base qualities >= 15
 * stays (ties: smallest read name). A mapped read whose mate is unmapped (or
 * a single-end read) is a duplicate when a pair has an end at the same 5'
 * position and strand, else of the other such reads there (best stays). The
 * unmapped mate is not marked, as in Picard; reads with no end mapped never are.
 */
static tsr_status_t tsr_dups_decide(char **paths, int n_paths, tsr_dups_t *d)
{
    memset(d, 0, sizeof *d);
    tsr_dup_ent_t *pv = NULL, *fv = NULL;
    size_t np = 0, nf = 0, cp = 0, cf = 0;
    tsr_status_t s = TSR_OK;
    if (!(d->text = calloc((size_t)n_paths + 1, sizeof *d->text)))
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    d->n_text = n_paths;
    for (int i = 0; i < n_paths && s == TSR_OK; i++) {
        s = tsr_read_whole(paths[i], &d->text[i]);
        for (char *save = NULL, *l = s == TSR_OK ? strtok_r(d->text[i], "\n", &save) : NULL; l && s == TSR_OK;
             l = strtok_r(NULL, "\n", &save)) {
            tsr_dup_ent_t e;
            memset(&e, 0, sizeof e);
            long long v[8];
            int off = 0;
            if (l[0] == 'P' && sscanf(l, "P\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%n", &v[0], &v[1], &v[2], &v[3],
                                      &v[4], &v[5], &v[6], &off) == 7 && off > 0) {
                e = (tsr_dup_ent_t){{v[0], v[1], v[2]}, {v[3], v[4], v[5]}, v[6], 1, 0, l + off};
            } else if (l[0] == 'F' && sscanf(l, "F\t%lld\t%lld\t%lld\t%lld\t%lld\t%n", &v[0], &v[1], &v[2], &v[3],
                                             &v[4], &off) == 5 && off > 0) {
                e = (tsr_dup_ent_t){{v[0], v[1], v[2]}, {0, 0, 0}, v[3], 0, (int)v[4], l + off};
            } else {
                s = tsr_error_set(TSR_ERR_FORMAT, "'%s' holds a damaged line; delete it and rerun", paths[i]);
                break;
            }
            /* every pair also enters the fragment list once per end, as a marker */
            for (int k = 0; k < (e.pair ? 3 : 1) && s == TSR_OK; k++) {
                int to_pairs = e.pair && k == 0;
                size_t *n = to_pairs ? &np : &nf, *c = to_pairs ? &cp : &cf;
                tsr_dup_ent_t **vv = to_pairs ? &pv : &fv;
                if (*n == *c) {
                    size_t nc = *c ? *c * 2 : 1024;
                    void *nv = realloc(*vv, nc * sizeof **vv);
                    if (!nv) {
                        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory marking duplicates");
                        break;
                    }
                    *vv = nv;
                    *c = nc;
                }
                tsr_dup_ent_t x = e;
                if (k == 2)
                    memcpy(x.a, e.b, sizeof x.a);
                (*vv)[(*n)++] = x;
            }
        }
    }
    size_t cm = np + nf + 1;
    if (s == TSR_OK && !(d->mark = malloc(cm * sizeof *d->mark)))
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory marking duplicates");
    if (s == TSR_OK) {
        if (np > 0) /* qsort needs a non-NULL array even when empty */
            qsort(pv, np, sizeof *pv, tsr_dup_pair_cmp);
        for (size_t i = 1; i < np; i++)
            if (!tsr_i64cmp(pv[i].a, pv[i - 1].a, 3) && !tsr_i64cmp(pv[i].b, pv[i - 1].b, 3)) {
                d->mark[d->n_mark++] = (tsr_dup_mark_t){pv[i].name, 3};
                d->dup_pairs++;
            }
        if (nf > 0) /* qsort needs a non-NULL array even when empty */
            qsort(fv, nf, sizeof *fv, tsr_dup_frag_cmp);
        for (size_t i = 0, g = 0; i < nf; i++) {
            if (i == 0 || tsr_i64cmp(fv[i].a, fv[i - 1].a, 3))
                g = i; /* first of its position: a pair end, or the best fragment */
            if (fv[i].pair || (i == g && !fv[g].pair))
                continue;
            d->mark[d->n_mark++] = (tsr_dup_mark_t){fv[i].name, 1 << fv[i].seg};
            d->dup_frags++;
        }
        if (d->n_mark > 0) /* qsort needs a non-NULL array even when empty */
            qsort(d->mark, d->n_mark, sizeof *d->mark, tsr_dup_mark_cmp);
    }
    free(pv);
    free(fv);
    if (s != TSR_OK)
        tsr_dups_free(d);
    return s;
}

static int tsr_dups_is_marked(const tsr_dups_t *d, const bam1_t *b)
{
    tsr_dup_mark_t key = {bam_get_qname(b), 0};
    const tsr_dup_mark_t *m = bsearch(&key, d->mark, d->n_mark, sizeof *d->mark, tsr_dup_mark_cmp);
    if (!m)
        return 0;
    /* a name marked twice (never in practice) keeps both masks: scan its neighbours */
    int mask = 0;
    for (const tsr_dup_mark_t *x = m; x >= d->mark && !strcmp(x->name, key.name); x--)
        mask |= x->mask;
    for (const tsr_dup_mark_t *x = m + 1; x < d->mark + d->n_mark && !strcmp(x->name, key.name); x++)
        mask |= x->mask;
    return (mask & ((b->core.flag & BAM_FREAD2) ? 2 : 1)) != 0;
}

#define TSR_ISIZE_CAP 100000

typedef struct tsr_aln_qc {
    int64_t reads, mapped, paired, proper, dups, supplementary, aligned_bases, ref_len;
    int64_t *isize; /* histogram [0, TSR_ISIZE_CAP] of |TLEN| of read 1 of proper, non-duplicate pairs */
} tsr_aln_qc_t;

static void tsr_aln_qc_add(tsr_aln_qc_t *q, const bam1_t *b)
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
        q->isize[t < TSR_ISIZE_CAP ? t : TSR_ISIZE_CAP]++;
    }
}

static int64_t tsr_aln_qc_isize_median(const tsr_aln_qc_t *q)
{
    int64_t n = 0, seen = 0;
    for (int i = 0; i <= TSR_ISIZE_CAP; i++)
        n += q->isize[i];
    if (n == 0)
        return 0;
    for (int i = 0; i <= TSR_ISIZE_CAP; i++)
        if ((seen += q->isize[i]) > (n - 1) / 2)
            return i;
    return TSR_ISIZE_CAP;
}

static double tsr_pct(int64_t a, int64_t b)
{
    return b > 0 ? 100.0 * (double)a / (double)b : 0.0;
}

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
    int c = tsr_bam_cmp(&x->b, &y->b);
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

static tsr_status_t tsr_align_merge(const tsr_kernel_env_t *env, int sample)
{
    const tsr_plan_t *plan = env->plan;
    const tsr_sample_t *smp = &plan->sheet->samples[sample];
    int k = plan->align_slots[sample];
    char rel[1024], out_path[4096], qc_path[4096], chunks_path[4096];
    tsr_plan_aln_path(plan, sample, rel, sizeof rel);
    TSR_CALL(tsr_plan_path(plan, rel, out_path, sizeof out_path));
    tsr_plan_align_qc_path(plan, sample, rel, sizeof rel);
    TSR_CALL(tsr_plan_path(plan, rel, qc_path, sizeof qc_path));
    tsr_plan_align_chunks_path(plan, sample, rel, sizeof rel);
    TSR_CALL(tsr_plan_path(plan, rel, chunks_path, sizeof chunks_path));
    double t0 = tsr_now();
    tsr_status_t s = TSR_OK;
    char **dup_paths = calloc((size_t)k, sizeof *dup_paths);
    tsr_run_cursor_t *cur = calloc((size_t)k, sizeof *cur);
    tsr_run_cursor_t **heap = calloc((size_t)k, sizeof *heap);
    tsr_aln_qc_t qc = {0};
    qc.isize = calloc(TSR_ISIZE_CAP + 1, sizeof *qc.isize);
    if (!dup_paths || !cur || !heap || !qc.isize)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory merging sample %s", smp->id);
    for (int i = 0; i < k && s == TSR_OK; i++) {
        tsr_plan_align_run_path(plan, sample, i, "dup", rel, sizeof rel);
        if (!(dup_paths[i] = malloc(4096)))
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
        else
            s = tsr_plan_path(plan, rel, dup_paths[i], 4096);
    }
    tsr_dups_t dups = {0};
    if (s == TSR_OK)
        s = tsr_dups_decide(dup_paths, k, &dups);
    int n_heap = 0;
    for (int i = 0; i < k && s == TSR_OK; i++) {
        char run_path[4096];
        tsr_plan_align_run_path(plan, sample, i, "bam", rel, sizeof rel);
        s = tsr_plan_path(plan, rel, run_path, sizeof run_path);
        cur[i].id = i;
        if (s == TSR_OK && (!(cur[i].fp = sam_open(run_path, "rb")) || !(cur[i].hdr = sam_hdr_read(cur[i].fp)) ||
                            !(cur[i].b = bam_init1())))
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
        s = tsr_ref_open(plan->opts.ref, &ref);
    if (s == TSR_OK) {
        hdr = tsr_align_header(plan, ref, smp->id);
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
    /* CRAM 3.0 against the run's reference (its .fai beside it): the file needs that FASTA to decode. */
    if (s == TSR_OK && cram &&
        (hts_set_opt(out, CRAM_OPT_VERSION, "3.0") != 0 || hts_set_fai_filename(out, plan->opts.ref) != 0))
        s = tsr_error_set(TSR_ERR_IO, "cannot write CRAM '%s' against reference '%s' (is '%s.fai' readable?)", tmp,
                          plan->opts.ref, plan->opts.ref);
    if (out && tsr_pool_size(env->pool) > 1)
        hts_set_threads(out, tsr_pool_size(env->pool));
    if (s == TSR_OK && sam_hdr_write(out, hdr) < 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; free space (or raise the quota) and rerun", tmp,
                          tsr_write_failure_reason(tmp, errno));
    int64_t n_out = 0;
    while (s == TSR_OK && n_heap > 0) {
        tsr_run_cursor_t *c = heap[0];
        if (tsr_dups_is_marked(&dups, c->b))
            c->b->core.flag |= BAM_FDUP;
        tsr_aln_qc_add(&qc, c->b);
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
        tsr_chunks_t ch;
        s = tsr_chunks_read(chunks_path, &ch);
        free(ch.pos);
        kstring_t js = KS_INITIALIZE;
        ksprintf(&js,
                 "{\"sample\": \"%s\", \"read_pairs\": %lld, \"chunks\": %d, \"pairs_per_chunk\": %lld,\n"
                 " \"reads\": %lld, \"mapped\": %lld, \"mapped_pct\": %.3f, \"paired\": %lld,\n"
                 " \"properly_paired\": %lld, \"properly_paired_pct\": %.3f, \"duplicates\": %lld,\n"
                 " \"duplicate_pct\": %.3f, \"duplicate_pairs\": %lld, \"duplicate_fragments\": %lld,\n"
                 " \"supplementary\": %lld, \"aligned_bases\": %lld, \"reference_length\": %lld,\n"
                 " \"mean_depth\": %.4f, \"insert_size_median\": %lld}\n",
                 smp->id, (long long)ch.n_pairs, ch.n, (long long)ch.pairs_per_chunk, (long long)qc.reads,
                 (long long)qc.mapped, tsr_pct(qc.mapped, qc.reads), (long long)qc.paired, (long long)qc.proper,
                 tsr_pct(qc.proper, qc.paired), (long long)qc.dups, tsr_pct(qc.dups, qc.reads),
                 (long long)dups.dup_pairs, (long long)dups.dup_frags, (long long)qc.supplementary,
                 (long long)qc.aligned_bases, (long long)qc.ref_len,
                 qc.ref_len ? (double)qc.aligned_bases / (double)qc.ref_len : 0.0,
                 (long long)tsr_aln_qc_isize_median(&qc));
        if (s == TSR_OK)
            s = tsr_write_text(qc_path, js.s, js.l);
        free(js.s);
    }
    if (s == TSR_OK && (rename(tmp_bai, final_bai) != 0 || rename(tmp, out_path) != 0))
        s = tsr_error_set(TSR_ERR_IO, "cannot rename '%s' into place", tmp);
    if (s != TSR_OK) {
        unlink(tmp);
        unlink(tmp_bai);
    } else {
        tsr_log_info("sample %s: %d runs merged, %lld records, %lld duplicate reads (%.2f%%) in %.2f s -> %s", smp->id,
                     k, (long long)n_out, (long long)qc.dups, tsr_pct(qc.dups, qc.reads), tsr_now() - t0, out_path);
    }
    for (int i = 0; cur && i < k; i++) {
        if (cur[i].b)
            bam_destroy1(cur[i].b);
        sam_hdr_destroy(cur[i].hdr);
        if (cur[i].fp)
            sam_close(cur[i].fp);
        if (dup_paths)
            free(dup_paths[i]);
    }
    tsr_dups_free(&dups);
    sam_hdr_destroy(hdr);
    free(qc.isize);
    free(cur);
    free(heap);
    free(dup_paths);
    return s;
}

static tsr_status_t tsr_align_process(void *state, const tsr_kernel_env_t *env, const tsr_task_t *task)
{
    tsr_align_step_t step;
    int sample, slot;
    tsr_plan_align_unpack(task->arg, &step, &sample, &slot);
    if (sample < 0 || sample >= env->plan->sheet->n_samples)
        return tsr_error_set(TSR_ERR_INTERNAL, "align task '%s' names no sample", task->key);
    switch (step) {
    case TSR_ALIGN_STEP_INDEX:
        return tsr_align_index(env, sample);
    case TSR_ALIGN_STEP_MAP:
        return tsr_align_map(state, env, sample, slot);
    case TSR_ALIGN_STEP_MERGE:
        return tsr_align_merge(env, sample);
    }
    return tsr_error_set(TSR_ERR_INTERNAL, "align task '%s' has an unknown step", task->key);
}

const tsr_kernel_t tsr_kernel_align = {
    .name = "align",
    .version = 3,
    .init = tsr_align_init,
    .process = tsr_align_process,
    .destroy = tsr_align_destroy,
};
