/*
 * align.c - the align kernel (walking skeleton): one task per FASTQ sample.
 * Reads pairs through the io reader, maps them with libminimap2's short-read
 * preset on the rank's pinned pool (align_mm2.c), parses the SAM text into
 * BAM records, sorts them in memory by coordinate and writes
 * DIR/aln/SAMPLE.bam + .bai under temporary names.
 *
 * Skeleton limits that the alignment issue replaces: the index is built per
 * rank (not node-shared), a sample is one task (not fixed read-pair chunks),
 * sorting is in memory, duplicates are not marked.
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
    tsr_mm_index_t *index;
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
    tsr_mm_index_destroy(&st->index);
    free(st);
    *sp = NULL;
}

static tsr_status_t tsr_align_init(const tsr_kernel_env_t *env, void **sp)
{
    tsr_align_state_t *st;
    TSR_ALLOC(st, 1);
    int nt = tsr_pool_size(env->pool);
    double t0 = tsr_now();
    tsr_status_t s = tsr_mm_index_create(env->plan->opts.ref, nt, &st->index);
    if (s != TSR_OK) {
        free(st);
        return s;
    }
    tsr_log_info("minimap2 index of %s built in %.2f s (~%.1f MiB on this rank)", env->plan->opts.ref,
                 tsr_now() - t0, (double)tsr_mm_index_bytes(st->index) / (1 << 20));
    st->tbuf = calloc((size_t)nt, sizeof *st->tbuf);
    if (!st->tbuf) {
        void *v = st;
        tsr_align_destroy(&v);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    }
    st->n_tbuf = nt;
    for (int i = 0; i < nt; i++) {
        s = tsr_mm_tbuf_create(&st->tbuf[i]);
        if (s != TSR_OK) {
            void *v = st;
            tsr_align_destroy(&v);
            return s;
        }
    }
    *sp = st;
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
    return (int)(x->core.flag) - (int)(y->core.flag);
}

static tsr_status_t tsr_align_parse(tsr_pair_buf_t *pairs, int n, sam_hdr_t *hdr, const char *rg,
                                    tsr_bam_vec_t *out, const char *sample)
{
    kstring_t line = KS_INITIALIZE;
    tsr_status_t s = TSR_OK;
    for (int i = 0; i < n && s == TSR_OK; i++) {
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
    }
    free(line.s);
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

static tsr_status_t tsr_align_write(const char *final_path, sam_hdr_t *hdr, tsr_bam_vec_t *recs)
{
    char tmp[4096], tmp_bai[4200], final_bai[4200];
    TSR_CALL(tsr_output_tmpname(final_path, tmp, sizeof tmp));
    snprintf(tmp_bai, sizeof tmp_bai, "%s.bai", tmp);
    snprintf(final_bai, sizeof final_bai, "%s.bai", final_path);
    errno = 0;
    samFile *fp = sam_open(tmp, "wb");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; check the output directory", tmp,
                             errno ? strerror(errno) : "unknown error");
    errno = 0;
    int bad = sam_hdr_write(fp, hdr) < 0;
    for (size_t i = 0; i < recs->n && !bad; i++)
        bad = sam_write1(fp, hdr, recs->v[i]) < 0;
    bad |= sam_close(fp) < 0;
    if (bad) {
        int e = errno;
        unlink(tmp);
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; free space (or raise the quota) and rerun the "
                             "same command to resume", tmp, e ? strerror(e) : "write failed (disk full?)");
    }
    if (sam_index_build(tmp, 0) < 0) {
        unlink(tmp);
        return tsr_error_set(TSR_ERR_IO, "cannot index '%s'", tmp);
    }
    if (rename(tmp_bai, final_bai) != 0 || rename(tmp, final_path) != 0) {
        unlink(tmp);
        unlink(tmp_bai);
        return tsr_error_set(TSR_ERR_IO, "cannot rename '%s' into place", tmp);
    }
    return TSR_OK;
}

static tsr_status_t tsr_align_process(void *state, const tsr_kernel_env_t *env, const tsr_task_t *task)
{
    tsr_align_state_t *st = state;
    const tsr_plan_t *plan = env->plan;
    const tsr_sample_t *smp = &plan->sheet->samples[task->arg];
    char rel[1024], path[4096];
    tsr_plan_aln_path(plan, (int)task->arg, rel, sizeof rel);
    char dir[4096];
    TSR_CALL(tsr_plan_path(plan, rel, path, sizeof path));
    TSR_CALL(tsr_plan_path(plan, "aln", dir, sizeof dir));
    TSR_CALL(tsr_mkdir_p(dir));

    tsr_ref_t *ref = NULL;
    TSR_CALL(tsr_ref_open(plan->opts.ref, &ref));
    sam_hdr_t *hdr = tsr_align_header(plan, ref, smp->id);
    tsr_ref_close(&ref);
    if (!hdr)
        return tsr_error_set(TSR_ERR_INTERNAL, "cannot build the BAM header for sample %s", smp->id);

    tsr_reader_t *rd = NULL;
    tsr_status_t s = tsr_reader_open(smp->fastq1, smp->fastq2, &rd);
    tsr_pair_buf_t *pairs = calloc(TSR_ALIGN_BATCH, sizeof *pairs);
    tsr_bam_vec_t recs = {0};
    if (s == TSR_OK && !pairs)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    int64_t n_pairs = 0;
    while (s == TSR_OK) {
        int n = 0;
        while (n < TSR_ALIGN_BATCH) {
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
                s = tsr_align_parse(pairs, n, hdr, smp->id, &recs, smp->id);
        }
        n_pairs += n;
        tsr_pairs_free(pairs, n);
        if (n < TSR_ALIGN_BATCH)
            break;
    }
    if (pairs) {
        for (int i = 0; i < TSR_ALIGN_BATCH; i++)
            free(pairs[i].sam.s);
        free(pairs);
    }
    tsr_reader_close(&rd);
    if (s == TSR_OK && n_pairs == 0)
        s = tsr_error_set(TSR_ERR_FORMAT,
                          "%s (sample %s) holds no reads; a sample is never dropped silently: fix the file or "
                          "remove the sample from the sheet",
                          smp->fastq1, smp->id);
    if (s == TSR_OK) {
        qsort(recs.v, recs.n, sizeof *recs.v, tsr_bam_cmp);
        s = tsr_align_write(path, hdr, &recs);
        tsr_log_info("sample %s: %lld read pairs, %zu records -> %s", smp->id, (long long)n_pairs, recs.n, rel);
    }
    for (size_t i = 0; i < recs.n; i++)
        bam_destroy1(recs.v[i]);
    free(recs.v);
    sam_hdr_destroy(hdr);
    return s;
}

const tsr_kernel_t tsr_kernel_align = {
    .name = "align",
    .version = 1,
    .init = tsr_align_init,
    .process = tsr_align_process,
    .destroy = tsr_align_destroy,
};
