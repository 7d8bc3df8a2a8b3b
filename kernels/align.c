/*
 * align.c - the align kernel: FASTQ -> DIR/aln/S.cram + .crai (or S.bam + .bai) + .qc.json in
 * fixed read-pair chunks (plan.c lays out the tasks, all of type align):
 *   index  with one map task for the sample (plan.c: up to about one chunk's worth of
 *          compressed FASTQ), nothing: the map task reads the files from their start, and
 *          aln/S.chunks.tsv says so (one chunk, pairs -1). With K > 1 map tasks, scan the
 *          sample's FASTQ once (decompress + split into records, no mapping) and record
 *          where every chunk of --align-chunk pairs starts (uncompressed offset; BGZF:
 *          block offset + offset inside the block) -> aln/S.chunks.tsv;
 *   map    slot k opens the reads at its first chunk (BGZF: seek to the block;
 *          plain gzip: zlib decompresses up to the offset, nothing is parsed
 *          or mapped), maps its chunks with libminimap2 sr on the pinned pool,
 *          builds the BAM records straight from minimap2's hits (align_mm2.c
 *          hands over plain fields, no SAM text), sorts them in memory (total
 *          order, below) and writes a run aln/S.runs/cK.bam plus one duplicate
 *          signature per fragment and its pair count (cK.dup);
 *   merge  decides the duplicates from every signature, k-way merges the runs
 *          (same total order, ties by run) into aln/S.cram + .crai (CRAM 3.0
 *          against --ref) or aln/S.bam + .bai with 0x400 set, and writes the
 *          sample's alignment QC aln/S.qc.json (pairs summed from the .dup files).
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
/*
 * Runs are BAM in stored (level 0) BGZF blocks: the merge reads each once, and
 * deflating them was the largest cost after mapping. Measured on 200,000 pairs
 * (2 x 150 bp, 1 thread): level 1 took about 0.8 s to write and 0.2 s to read
 * back for a 52 MB run; level 0 takes about 0.1 s each way for 141 MB. "wb1"
 * trades that CPU back for disk.
 */
#define TSR_ALIGN_RUN_MODE "wb0"

/*
 * Records live in arenas: blocks of bam1_t structs each followed by its data,
 * freed all at once when the map task ends (no malloc per record, no slack).
 */
typedef struct tsr_arena_block {
    struct tsr_arena_block *next;
    size_t used, cap;
    max_align_t data[];
} tsr_arena_block_t;

#define TSR_ARENA_BLOCK (4u << 20)

static void *tsr_arena_alloc(tsr_arena_block_t **a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (!*a || (*a)->cap - (*a)->used < n) {
        size_t cap = n > TSR_ARENA_BLOCK ? n : TSR_ARENA_BLOCK;
        tsr_arena_block_t *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = *a;
        b->used = 0;
        b->cap = cap;
        *a = b;
    }
    void *p = (char *)(*a)->data + (*a)->used;
    (*a)->used += n;
    return p;
}

static void tsr_arena_free(tsr_arena_block_t **a)
{
    while (*a) {
        tsr_arena_block_t *next = (*a)->next;
        free(*a);
        *a = next;
    }
}

/* Per-thread scratch for mapping a pair and building its records. */
typedef struct tsr_align_scratch {
    tsr_mm_recs_t mm;          /* minimap2's records of the pair */
    bam1_t *b;                 /* a record being built */
    char *seq;                 /* SEQ reverse-complemented */
    char *qual;                /* QUAL as phred values (reversed for the reverse strand) */
    size_t cap;
    kstring_t aux;             /* the record's tags, BAM-encoded */
    kstring_t mc;              /* the mate's CIGAR as text */
    tsr_arena_block_t *arena;  /* the records built, until the map task ends */
} tsr_align_scratch_t;

typedef struct tsr_align_state {
    const tsr_mm_index_t *index; /* the node-shared index (env->mm_index), taken on the first map task */
    int n_tbuf;
    tsr_mm_tbuf_t **tbuf;
    tsr_align_scratch_t *scratch;
} tsr_align_state_t;

/* A growing byte buffer, kept across batches (read names, bases, qualities). */
typedef struct tsr_bytes {
    char *s;
    size_t cap;
} tsr_bytes_t;

typedef struct tsr_pair_buf {
    int n_seg;
    int lane;         /* the sample's lane it came from (its read group and library) */
    tsr_bytes_t name, seq[2], qual[2];
    int len[2];
    bam1_t **bams;    /* the pair's records (in a thread's arena), handed to the sample's by the serial pass */
    size_t n_bams, cap_bams;
    kstring_t dup;    /* the pair's duplicate signature line */
} tsr_pair_buf_t;

typedef struct tsr_align_batch {
    tsr_align_state_t *st;
    tsr_pair_buf_t *pairs;
    const int *rid2tid; /* minimap2's reference ids -> the header's */
    const char *const *rg; /* per lane of the sample: its read group id */
    const int64_t *lib;    /* per lane: its library's index (the first lane with that library) */
} tsr_align_batch_t;

static void tsr_align_destroy(void **sp)
{
    if (!sp || !*sp)
        return;
    tsr_align_state_t *st = *sp;
    for (int i = 0; i < st->n_tbuf; i++) {
        tsr_mm_tbuf_destroy(&st->tbuf[i]);
        if (st->scratch) {
            tsr_align_scratch_t *sc = &st->scratch[i];
            tsr_mm_recs_free(&sc->mm);
            if (sc->b)
                bam_destroy1(sc->b);
            free(sc->seq);
            free(sc->qual);
            free(sc->aux.s);
            free(sc->mc.s);
            tsr_arena_free(&sc->arena);
        }
    }
    free(st->tbuf);
    free(st->scratch);
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
    st->scratch = calloc((size_t)nt, sizeof *st->scratch);
    if (!st->tbuf || !st->scratch)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    st->n_tbuf = nt;
    for (int i = 0; i < nt; i++) {
        TSR_CALL(tsr_mm_tbuf_create(&st->tbuf[i]));
        if (!(st->scratch[i].b = bam_init1()))
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    }
    return TSR_OK;
}

/* Copy s[0, n) into b as a NUL-terminated string; -1 out of memory. */
static int tsr_bytes_set(tsr_bytes_t *b, const char *s, size_t n)
{
    if (n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p)
            return -1;
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s, s, n);
    b->s[n] = '\0';
    return 0;
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

/* "K\tf0\t...\tname\n" (printf is the slow part of a signature); -1 out of memory. */
static int tsr_dup_line(kstring_t *ks, char kind, const int64_t *f, int n, const char *name)
{
    int bad = kputc(kind, ks) < 0;
    for (int i = 0; i < n; i++)
        bad |= kputc('\t', ks) < 0 || kputll((long long)f[i], ks) < 0;
    bad |= kputc('\t', ks) < 0 || kputs(name, ks) < 0 || kputc('\n', ks) < 0;
    return bad ? -1 : 0;
}

/*
 * The duplicate signature of one fragment (its records, primary ones used):
 *   "P tidA posA revA tidB posB revB score name"  both ends mapped (ends ordered)
 *   "F tid pos rev score seg name"               one end mapped (single-end, or mate unmapped)
 * nothing when no end maps. pos is the unclipped 5' end. Duplicates are
 * found within a library (Picard's rule): the tid fields carry the library's
 * index in the sample times 2^32 plus the contig, so ends of two libraries
 * never compare equal.
 */
static int tsr_align_dup_sig(bam1_t **v, size_t n, int64_t lib, kstring_t *ks)
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
            e[k][0] = lib * ((int64_t)1 << 32) + p[k]->core.tid;
            e[k][1] = tsr_unclipped5(p[k]);
            e[k][2] = bam_is_rev(p[k]);
        }
        int sw = e[1][0] < e[0][0] || (e[1][0] == e[0][0] && (e[1][1] < e[0][1] || (e[1][1] == e[0][1] && e[1][2] < e[0][2])));
        const int64_t *a = e[sw], *b = e[!sw];
        const int64_t f[7] = {a[0], a[1], a[2], b[0], b[1], b[2], score};
        return tsr_dup_line(ks, 'P', f, 7, bam_get_qname(p[0]));
    }
    if (m0 || m1) {
        const bam1_t *b = m0 ? p[0] : p[1];
        const int64_t f[5] = {lib * ((int64_t)1 << 32) + b->core.tid, tsr_unclipped5(b), bam_is_rev(b), tsr_qual_score(b), m0 ? 0 : 1};
        return tsr_dup_line(ks, 'F', f, 5, bam_get_qname(b));
    }
    return 0;
}

/* ----------------------------------------------- records from minimap2 */

/*
 * BAM-encoded tags (SAM spec 4.2.4), integers in the smallest type, as htslib's
 * SAM parser picks it. -1 out of memory.
 */
static int tsr_aux_int(kstring_t *a, const char *tag, int64_t v)
{
    uint8_t x[7] = {(uint8_t)tag[0], (uint8_t)tag[1], 0, 0, 0, 0, 0};
    int n;
    uint32_t u = (uint32_t)v;
    if (v < 0)
        x[2] = v >= INT8_MIN ? 'c' : v >= INT16_MIN ? 's' : 'i', n = v >= INT8_MIN ? 1 : v >= INT16_MIN ? 2 : 4;
    else
        x[2] = v <= UINT8_MAX ? 'C' : v <= UINT16_MAX ? 'S' : 'I', n = v <= UINT8_MAX ? 1 : v <= UINT16_MAX ? 2 : 4;
    for (int i = 0; i < n; i++)
        x[3 + i] = (uint8_t)(u >> (8 * i));
    return kputsn((const char *)x, (size_t)(3 + n), a) < 0 ? -1 : 0;
}

static int tsr_aux_char(kstring_t *a, const char *tag, char c)
{
    const char x[4] = {tag[0], tag[1], 'A', c};
    return kputsn(x, 4, a) < 0 ? -1 : 0;
}

static int tsr_aux_float(kstring_t *a, const char *tag, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    const char x[7] = {tag[0], tag[1], 'f', (char)(u & 0xff), (char)(u >> 8 & 0xff), (char)(u >> 16 & 0xff),
                       (char)(u >> 24)};
    return kputsn(x, 7, a) < 0 ? -1 : 0;
}

static int tsr_aux_str(kstring_t *a, const char *tag, const char *s)
{
    const char x[3] = {tag[0], tag[1], 'Z'};
    return kputsn(x, 3, a) < 0 || kputsn(s, strlen(s) + 1, a) < 0 ? -1 : 0; /* the NUL included */
}

/* CIGAR as SAM text (for MC); -1 out of memory. */
static int tsr_cigar_text(const uint32_t *cig, size_t n, kstring_t *ks)
{
    int bad = 0;
    ks->l = 0;
    for (size_t i = 0; i < n; i++)
        bad |= kputuw(bam_cigar_oplen(cig[i]), ks) < 0 || kputc(bam_cigar_opchr(cig[i]), ks) < 0;
    return bad ? -1 : 0;
}

/*
 * Record e of sc->mm (pair p) as a BAM record in b: minimap2's tags in its
 * order, then RG, then (primary records of a pair whose mate is mapped) MQ
 * and MC as `samtools fixmate -m` sets them. The same bytes sam_parse1 made
 * of minimap2's SAM line, less its rl tag. `mate` is the other end's primary
 * record (NULL single-end). -1 out of memory or a name over 254 characters.
 */
static int tsr_align_build1(const tsr_align_batch_t *bt, const tsr_pair_buf_t *p, const tsr_mm_rec_t *e,
                            const tsr_mm_rec_t *mate, tsr_align_scratch_t *sc, bam1_t *b)
{
    const tsr_mm_recs_t *mm = &sc->mm;
    size_t l_seq = (size_t)(e->qe - e->qs);
    if (l_seq + 1 > sc->cap) {
        size_t cap = sc->cap ? sc->cap : 512;
        while (cap < l_seq + 1)
            cap *= 2;
        char *s1 = realloc(sc->seq, cap);
        if (!s1)
            return -1;
        sc->seq = s1;
        char *q1 = realloc(sc->qual, cap);
        if (!q1)
            return -1;
        sc->qual = q1;
        sc->cap = cap;
    }
    const char *seq = p->seq[e->seg].s + e->qs, *qual = p->qual[e->seg].s + e->qs;
    if (e->rev) {
        for (size_t i = 0; i < l_seq; i++) {
            sc->seq[i] = tsr_base_complement(seq[l_seq - 1 - i]);
            sc->qual[i] = (char)(qual[l_seq - 1 - i] - 33);
        }
        seq = sc->seq;
    } else {
        for (size_t i = 0; i < l_seq; i++)
            sc->qual[i] = (char)(qual[i] - 33);
    }
    kstring_t *a = &sc->aux;
    a->l = 0;
    int bad = 0;
    if (e->mapped) {
        bad |= tsr_aux_int(a, "NM", e->nm) | tsr_aux_int(a, "ms", e->ms) | tsr_aux_int(a, "AS", e->as) |
               tsr_aux_int(a, "nn", e->nn);
        if (e->ts)
            bad |= tsr_aux_char(a, "ts", e->ts);
        bad |= tsr_aux_char(a, "tp", e->tp) | tsr_aux_int(a, "cm", e->cm) | tsr_aux_int(a, "s1", e->s1);
        if (e->has_s2)
            bad |= tsr_aux_int(a, "s2", e->s2);
        if (e->div_kind)
            bad |= tsr_aux_float(a, e->div_kind == 'e' ? "de" : "dv", e->div);
        if (e->zd)
            bad |= tsr_aux_int(a, "zd", e->zd);
        if (e->sa != TSR_MM_NONE)
            bad |= tsr_aux_str(a, "SA", mm->text + e->sa);
        if (e->md != TSR_MM_NONE)
            bad |= tsr_aux_str(a, "MD", mm->text + e->md);
    }
    bad |= tsr_aux_str(a, "RG", bt->rg[p->lane]);
    if (mate && !(e->flag & (BAM_FSECONDARY | BAM_FSUPPLEMENTARY)) && !(mate->flag & BAM_FUNMAP)) {
        if (mate->n_cigar == 0 || tsr_cigar_text(mm->cigar + mate->cigar, mate->n_cigar, &sc->mc) < 0)
            return -1;
        bad |= tsr_aux_int(a, "MQ", mate->mapq) | tsr_aux_str(a, "MC", sc->mc.s);
    }
    if (bad)
        return -1;
    int tid = e->rid >= 0 ? bt->rid2tid[e->rid] : -1, mtid = e->mrid >= 0 ? bt->rid2tid[e->mrid] : -1;
    if (bam_set1(b, strlen(p->name.s), p->name.s, (uint16_t)e->flag, tid, e->pos, (uint8_t)e->mapq,
                 e->n_cigar, mm->cigar + e->cigar, mtid, e->mpos, e->tlen, l_seq, seq, sc->qual, a->l) < 0)
        return -1;
    memcpy(b->data + b->l_data, a->s, a->l);
    b->l_data += (int)a->l;
    return 0;
}

/* A copy of b in the arena (struct and data together); NULL out of memory. */
static bam1_t *tsr_arena_bam(tsr_arena_block_t **a, const bam1_t *b)
{
    bam1_t *r = tsr_arena_alloc(a, sizeof *r + (size_t)b->l_data);
    if (!r)
        return NULL;
    *r = *b;
    r->data = (uint8_t *)(r + 1);
    memcpy(r->data, b->data, (size_t)b->l_data);
    r->m_data = (uint32_t)b->l_data;
    bam_set_mempolicy(r, BAM_USER_OWNS_STRUCT | BAM_USER_OWNS_DATA);
    return r;
}

/* The pair's BAM records (p->bams) and duplicate signature (p->dup) from its minimap2 records (sc->mm). */
static tsr_status_t tsr_align_build(const tsr_align_batch_t *bt, tsr_pair_buf_t *p, tsr_align_scratch_t *sc)
{
    const tsr_mm_recs_t *mm = &sc->mm;
    const tsr_mm_rec_t *pri[2] = {NULL, NULL};
    for (size_t i = 0; i < mm->n; i++)
        if (!(mm->v[i].flag & (BAM_FSECONDARY | BAM_FSUPPLEMENTARY)))
            pri[mm->v[i].seg] = &mm->v[i];
    if (p->cap_bams < mm->n) {
        bam1_t **v = realloc(p->bams, mm->n * sizeof *v);
        if (!v)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory holding the alignments of read '%s'", p->name.s);
        p->bams = v;
        p->cap_bams = mm->n;
    }
    p->n_bams = 0;
    for (size_t i = 0; i < mm->n; i++) {
        const tsr_mm_rec_t *e = &mm->v[i];
        const tsr_mm_rec_t *mate = p->n_seg == 2 ? pri[!e->seg] : NULL;
        bam1_t *b = tsr_align_build1(bt, p, e, mate, sc, sc->b) < 0 ? NULL : tsr_arena_bam(&sc->arena, sc->b);
        if (!b)
            return tsr_error_set(TSR_ERR_INTERNAL, "could not build the BAM record of read '%s' (out of memory, or "
                                 "a read name longer than 254 characters)", p->name.s);
        p->bams[p->n_bams++] = b;
    }
    p->dup.l = 0;
    if (tsr_align_dup_sig(p->bams, p->n_bams, bt->lib[p->lane], &p->dup) < 0)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory holding the alignments of read '%s'", p->name.s);
    return TSR_OK;
}

static tsr_status_t tsr_align_map_one(void *ctx, int64_t i, int thread)
{
    tsr_align_batch_t *bt = ctx;
    tsr_pair_buf_t *p = &bt->pairs[i];
    tsr_align_scratch_t *sc = &bt->st->scratch[thread];
    const char *seq[2] = {p->seq[0].s, p->seq[1].s};
    TSR_CALL(tsr_mm_map_pair(bt->st->index, bt->st->tbuf[thread], p->name.s, p->n_seg, seq, p->len, &sc->mm));
    return tsr_align_build(bt, p, sc);
}

static sam_hdr_t *tsr_align_header(const tsr_plan_t *plan, tsr_ref_t *ref, const tsr_sample_t *smp)
{
    kstring_t h = KS_INITIALIZE;
    ksprintf(&h, "@HD\tVN:1.6\tSO:coordinate\n");
    for (int i = 0; i < tsr_ref_n_contigs(ref); i++)
        ksprintf(&h, "@SQ\tSN:%s\tLN:%lld\n", tsr_ref_contig_name(ref, i), (long long)tsr_ref_contig_length(ref, i));
    for (int l = 0; l < smp->n_lanes; l++) /* one read group per lane */
        ksprintf(&h, "@RG\tID:%s\tSM:%s\tLB:%s\tPL:ILLUMINA\n", smp->lanes[l].read_group, smp->id,
                 smp->lanes[l].library);
    ksprintf(&h, "@PG\tID:tessera-align\tPN:tessera\tCL:minimap2 -x sr (libminimap2)\n");
    (void)plan;
    sam_hdr_t *hdr = sam_hdr_parse(h.l, h.s);
    free(h.s);
    return hdr;
}

/* Free the batch's buffers (the records stay in the arenas). */
static void tsr_pairs_free(tsr_pair_buf_t *pairs, int n)
{
    for (int i = 0; pairs && i < n; i++) {
        tsr_pair_buf_t *p = &pairs[i];
        free(p->name.s);
        for (int k = 0; k < 2; k++) {
            free(p->seq[k].s);
            free(p->qual[k].s);
        }
        free(p->bams);
        free(p->dup.s);
    }
    free(pairs);
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
    int n, n_seg;          /* n_seg 0: not known (a whole-input chunk file; the reader tells the map task) */
    tsr_stream_pos_t *pos; /* where each chunk starts: the lane, and in its file(s) */
} tsr_chunks_t;

/*
 * The chunks file when the sample has one map task: it takes every chunk
 * from the files' start, so there is nothing to find and the FASTQ is not
 * read here. One chunk at offset 0, pairs -1 (unknown): the map task counts
 * them and refuses an empty file.
 */
static tsr_status_t tsr_align_index_whole(const tsr_sample_t *smp, int64_t per, const char *path, const char *rel)
{
    char text[512];
    int n = snprintf(text, sizeof text,
                     "#tessera-chunks\t2\tpairs_per_chunk\t%lld\tchunks\t1\tpairs\t-1\tsegments\t0\n"
                     "0\t0\t-1\t0\t0\t0\t0\t-1\t0\t0\t0\n",
                     (long long)per);
    TSR_CALL(tsr_write_text(path, text, (size_t)n));
    tsr_log_info("sample %s: one map task reads the whole input from its start; not scanned -> %s", smp->id, rel);
    return TSR_OK;
}

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
    if (plan->align_slots[sample] == 1)
        return tsr_align_index_whole(smp, per, path, rel);
    double t0 = tsr_now();
    tsr_reader_t *rd = NULL;
    TSR_CALL(tsr_reader_open_lanes(smp->n_lanes, smp->lanes, &rd));
    tsr_chunks_t ch = {per, 0, 0, tsr_reader_segments(rd), NULL};
    int cap = 0;
    tsr_status_t s = TSR_OK;
    for (;;) {
        tsr_stream_pos_t here;
        if (ch.n_pairs % per == 0)
            tsr_reader_tell_stream(rd, &here);
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
            ch.pos[ch.n++] = here;
        }
        ch.n_pairs++;
    }
    tsr_reader_close(&rd);
    if (s == TSR_OK && ch.n_pairs == 0)
        s = tsr_error_set(TSR_ERR_FORMAT,
                          "%s (sample %s) holds no reads; a sample is never dropped silently: fix the file or "
                          "remove the sample from the sheet",
                          smp->fastq1, smp->id);
    int n_direct = 0;
    if (s == TSR_OK)
        s = tsr_reader_locate_lanes(smp->n_lanes, smp->lanes, ch.n, ch.pos, &n_direct);
    kstring_t ks = KS_INITIALIZE;
    if (s == TSR_OK) {
        ksprintf(&ks, "#tessera-chunks\t2\tpairs_per_chunk\t%lld\tchunks\t%d\tpairs\t%lld\tsegments\t%d\n",
                 (long long)per, ch.n, (long long)ch.n_pairs, ch.n_seg);
        for (int j = 0; j < ch.n; j++) {
            ksprintf(&ks, "%lld", (long long)ch.pos[j].lane);
            for (int k = 0; k < 2; k++) {
                const tsr_read_pos_t *p = &ch.pos[j].file[k];
                ksprintf(&ks, "\t%lld\t%lld\t%lld\t%lld\t%lld", (long long)p->uoff, (long long)p->coff,
                         (long long)p->within, (long long)p->rec, (long long)p->line);
            }
            kputc('\n', &ks);
        }
        s = tsr_write_text(path, ks.s, ks.l);
        tsr_log_info("sample %s: %lld read pairs in %d chunks of %lld (%s) indexed in %.2f s -> %s", smp->id,
                     (long long)ch.n_pairs, ch.n, (long long)per,
                     n_direct == ch.n ? "each starts at its block or container"
                                      : "some skip by decompressing (plain gzip or text)",
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
    if (fscanf(fp, "#tessera-chunks\t2\tpairs_per_chunk\t%lld\tchunks\t%d\tpairs\t%lld\tsegments\t%d", &per, &n,
               &pairs, &seg) != 4 || n < 1 || per < 1) {
        s = tsr_error_set(TSR_ERR_FORMAT, "'%s' is not a tessera chunk index; delete it and rerun", path);
    } else if (!(ch->pos = calloc((size_t)n, sizeof *ch->pos))) {
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    }
    ch->pairs_per_chunk = s == TSR_OK ? per : 0;
    ch->n_pairs = s == TSR_OK ? pairs : 0;
    ch->n = s == TSR_OK ? n : 0;
    ch->n_seg = s == TSR_OK ? seg : 0;
    for (int j = 0; j < ch->n && s == TSR_OK; j++) {
        long long lane;
        if (fscanf(fp, "%lld", &lane) != 1 || lane < 0)
            s = tsr_error_set(TSR_ERR_FORMAT, "'%s' is cut short at chunk %d; delete it and rerun", path, j);
        ch->pos[j].lane = lane;
        for (int k = 0; k < 2 && s == TSR_OK; k++) {
            long long v[5];
            tsr_read_pos_t *p = &ch->pos[j].file[k];
            if (fscanf(fp, "%lld %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4]) != 5)
                s = tsr_error_set(TSR_ERR_FORMAT, "'%s' is cut short at chunk %d; delete it and rerun", path, j);
            *p = (tsr_read_pos_t){v[0], v[1], v[2], v[3], v[4]};
        }
    }
    fclose(fp);
    if (s != TSR_OK) {
        free(ch->pos);
        ch->pos = NULL;
    }
    return s;
}

/* -------------------------------------------------------------- map step */

/* minimap2's reference ids -> the header's tids (the same FASTA: normally the identity). Free with free(). */
static tsr_status_t tsr_align_rid2tid(const tsr_mm_index_t *x, sam_hdr_t *hdr, int **out)
{
    int n = tsr_mm_index_n_seq(x);
    int *m = malloc(((size_t)n + 1) * sizeof *m);
    if (!m)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        if ((m[i] = sam_hdr_name2tid(hdr, tsr_mm_index_seq_name(x, i))) < 0) {
            free(m);
            return tsr_error_set(TSR_ERR_INTERNAL, "the minimap2 index has sequence '%s', which the reference's "
                                 ".fai lacks; delete DIR/ref.mmi and the .fai and rerun", tsr_mm_index_seq_name(x, i));
        }
    *out = m;
    return TSR_OK;
}

/* Read up to TSR_ALIGN_BATCH pairs (not past `want` in all) into pairs[]; *n read. */
static tsr_status_t tsr_align_read_batch(tsr_reader_t *rd, int n_seg, tsr_pair_buf_t *pairs, int64_t room, int *n,
                                         const char *sample)
{
    *n = 0;
    while (*n < TSR_ALIGN_BATCH && *n < room) {
        tsr_read_t r[2];
        int rc = tsr_reader_next(rd, &r[0], &r[1]);
        if (rc == 0)
            return TSR_OK;
        if (rc < 0)
            return TSR_ERR_FORMAT; /* the reader set the message */
        tsr_pair_buf_t *p = &pairs[*n];
        p->n_seg = n_seg;
        p->lane = r[0].lane;
        int bad = tsr_bytes_set(&p->name, r[0].name, strlen(r[0].name)) < 0;
        for (int k = 0; k < n_seg; k++) {
            p->len[k] = r[k].len;
            bad |= tsr_bytes_set(&p->seq[k], r[k].seq, (size_t)r[k].len) < 0;
            bad |= tsr_bytes_set(&p->qual[k], r[k].qual, (size_t)r[k].len) < 0;
        }
        if (bad)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading sample %s", sample);
        (*n)++;
    }
    return TSR_OK;
}

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
    int n_seg = 0;
    const char **rg = calloc((size_t)smp->n_lanes + 1, sizeof *rg);
    int64_t *lib = calloc((size_t)smp->n_lanes + 1, sizeof *lib);
    for (int l = 0; rg && lib && l < smp->n_lanes; l++) {
        rg[l] = smp->lanes[l].read_group;
        lib[l] = l;
        for (int m = 0; m < l; m++)
            if (!strcmp(smp->lanes[m].library, smp->lanes[l].library)) {
                lib[l] = lib[m];
                break;
            }
    }

    tsr_ref_t *ref = NULL;
    tsr_status_t s = rg && lib ? tsr_ref_open(plan->opts.ref, &ref) : tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    sam_hdr_t *hdr = s == TSR_OK ? tsr_align_header(plan, ref, smp) : NULL;
    tsr_ref_close(&ref);
    if (s == TSR_OK && !hdr)
        s = tsr_error_set(TSR_ERR_INTERNAL, "cannot build the BAM header for sample %s", smp->id);
    tsr_reader_t *rd = NULL;
    int *rid2tid = NULL;
    if (s == TSR_OK && c0 < c1)
        s = tsr_align_index_load(st, env);
    if (s == TSR_OK && c0 < c1)
        s = tsr_align_rid2tid(st->index, hdr, &rid2tid);
    /* the first chunk starts at the files' start (and with one map task the index did not read them) */
    if (s == TSR_OK && c0 < c1)
        s = c0 == 0 ? tsr_reader_open_lanes(smp->n_lanes, smp->lanes, &rd)
                    : tsr_reader_open_lanes_at(smp->n_lanes, smp->lanes, &ch.pos[c0], &rd);
    if (rd)
        n_seg = tsr_reader_segments(rd);
    tsr_pair_buf_t *pairs = s == TSR_OK && c0 < c1 ? calloc(TSR_ALIGN_BATCH, sizeof *pairs) : NULL;
    tsr_bam_vec_t recs = {0};
    kstring_t dups = KS_INITIALIZE;
    if (s == TSR_OK && c0 < c1 && !pairs)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    double t0 = tsr_now();
    int64_t n_pairs = 0;
    while (s == TSR_OK && rd && n_pairs < want) {
        int n = 0;
        s = tsr_align_read_batch(rd, n_seg, pairs, want - n_pairs, &n, smp->id);
        if (s != TSR_OK || n == 0)
            break;
        tsr_align_batch_t bt = {st, pairs, rid2tid, rg, lib};
        s = tsr_pool_for(env->pool, n, tsr_align_map_one, &bt);
        /* hand the records over in read order; the signatures too */
        for (int i = 0; i < n && s == TSR_OK; i++) {
            tsr_pair_buf_t *p = &pairs[i];
            if (recs.n + p->n_bams > recs.cap) {
                size_t cap = recs.cap ? recs.cap : 4096;
                while (cap < recs.n + p->n_bams)
                    cap *= 2;
                bam1_t **v = realloc(recs.v, cap * sizeof *v);
                if (!v) {
                    s = tsr_error_set(TSR_ERR_NOMEM, "out of memory holding alignments of sample %s", smp->id);
                    break;
                }
                recs.v = v;
                recs.cap = cap;
            }
            memcpy(recs.v + recs.n, p->bams, p->n_bams * sizeof *p->bams);
            recs.n += p->n_bams;
            p->n_bams = 0;
            if (kputsn(p->dup.s ? p->dup.s : "", p->dup.l, &dups) < 0)
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory holding alignments of sample %s", smp->id);
        }
        n_pairs += n;
    }
    tsr_pairs_free(pairs, TSR_ALIGN_BATCH);
    tsr_reader_close(&rd);
    free(rid2tid);
    if (s == TSR_OK && ch.n_pairs < 0 && n_pairs == 0)
        s = tsr_error_set(TSR_ERR_FORMAT,
                          "%s (sample %s) holds no reads; a sample is never dropped silently: fix the file or "
                          "remove the sample from the sheet",
                          smp->fastq1, smp->id);
    if (s == TSR_OK) {
        if (recs.n > 0) /* qsort needs a non-NULL array even when empty */
            qsort(recs.v, recs.n, sizeof *recs.v, tsr_bam_cmp);
        s = tsr_align_write(bam_path, TSR_ALIGN_RUN_MODE, tsr_pool_size(env->pool), hdr, &recs);
    }
    /* the .dup file ends with the pairs this task read: the merge sums them for the QC */
    if (s == TSR_OK && ksprintf(&dups, "#pairs\t%lld\n", (long long)n_pairs) < 0)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    if (s == TSR_OK)
        s = tsr_write_text(dup_path, dups.s, dups.l);
    if (s == TSR_OK)
        tsr_log_info("sample %s slot %d: chunks [%lld, %lld), %lld read pairs, %zu records in %.2f s", smp->id, slot,
                     (long long)c0, (long long)c1, (long long)n_pairs, recs.n, tsr_now() - t0);
    free(recs.v);
    for (int i = 0; i < st->n_tbuf; i++) /* every record of this task */
        tsr_arena_free(&st->scratch[i].arena);
    free(dups.s);
    free(ch.pos);
    free(rg);
    free(lib);
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
    int64_t read_pairs; /* the map tasks' counts (each .dup file's #pairs line), summed */
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

/* The n integers of a signature line (after its kind letter); the name after them, or NULL when damaged. */
static const char *tsr_dup_fields(const char *l, int64_t *v, int n)
{
    const char *p = l + 1;
    for (int i = 0; i < n; i++) {
        if (*p++ != '\t')
            return NULL;
        char *end;
        errno = 0;
        v[i] = strtoll(p, &end, 10);
        if (end == p || errno)
            return NULL;
        p = end;
    }
    return *p == '\t' && p[1] ? p + 1 : NULL;
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
        int counted = 0;
        for (char *save = NULL, *l = s == TSR_OK ? strtok_r(d->text[i], "\n", &save) : NULL; l && s == TSR_OK;
             l = strtok_r(NULL, "\n", &save)) {
            long long pairs;
            if (l[0] == '#') {
                if (sscanf(l, "#pairs\t%lld", &pairs) != 1 || pairs < 0 || counted++)
                    s = tsr_error_set(TSR_ERR_FORMAT, "'%s' holds a damaged line; delete it and rerun", paths[i]);
                d->read_pairs += pairs;
                continue;
            }
            tsr_dup_ent_t e;
            memset(&e, 0, sizeof e);
            int64_t v[7];
            const char *name = NULL;
            if (l[0] == 'P' && (name = tsr_dup_fields(l, v, 7))) {
                e = (tsr_dup_ent_t){{v[0], v[1], v[2]}, {v[3], v[4], v[5]}, v[6], 1, 0, name};
            } else if (l[0] == 'F' && (name = tsr_dup_fields(l, v, 5))) {
                e = (tsr_dup_ent_t){{v[0], v[1], v[2]}, {0, 0, 0}, v[3], 0, (int)v[4], name};
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
        if (s == TSR_OK && !counted)
            s = tsr_error_set(TSR_ERR_FORMAT, "'%s' is cut short (no #pairs line); delete it and rerun", paths[i]);
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
        hdr = tsr_align_header(plan, ref, smp);
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
         hts_set_fai_filename(out, plan->opts.ref) != 0))
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
        int64_t per = s == TSR_OK ? ch.pairs_per_chunk : 1;
        kstring_t js = KS_INITIALIZE;
        ksprintf(&js,
                 "{\"sample\": \"%s\", \"read_pairs\": %lld, \"chunks\": %d, \"pairs_per_chunk\": %lld,\n"
                 " \"reads\": %lld, \"mapped\": %lld, \"mapped_pct\": %.3f, \"paired\": %lld,\n"
                 " \"properly_paired\": %lld, \"properly_paired_pct\": %.3f, \"duplicates\": %lld,\n"
                 " \"duplicate_pct\": %.3f, \"duplicate_pairs\": %lld, \"duplicate_fragments\": %lld,\n"
                 " \"supplementary\": %lld, \"aligned_bases\": %lld, \"reference_length\": %lld,\n"
                 " \"mean_depth\": %.4f, \"insert_size_median\": %lld}\n",
                 smp->id, (long long)dups.read_pairs, (int)((dups.read_pairs + per - 1) / per), (long long)per,
                 (long long)qc.reads,
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
    .version = 5,
    .init = tsr_align_init,
    .process = tsr_align_process,
    .destroy = tsr_align_destroy,
};
