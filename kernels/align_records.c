/*
 * align_records.c - the align kernel's BAM records, built straight from
 * minimap2's hits. A map task reads its pairs in batches; each batch is
 * mapped on the rank's pool, one pair per job, every thread with its own
 * minimap2 buffer and scratch, so a pair depends on nothing else in its
 * batch. align_mm2.c hands over plain fields (no SAM text is made or
 * parsed); here they become the bytes sam_parse1 would have made of
 * minimap2's SAM line, plus RG and the MC/MQ mate tags, and each pair's
 * duplicate signature comes with its records (align_dups.c). Records live
 * in per-thread arenas until the map task has written its run
 * (align_runs.c), then go all at once.
 */
#include "kernels/align_internal.h"
#include "io/io.h"

#include <htslib/sam.h>
#include <stdlib.h>
#include <string.h>

#define TSR_ALIGN_BATCH 8192 /* read pairs mapped per pool round */

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

struct tsr_align_mapper {
    const tsr_mm_index_t *index; /* the node-shared index, taken on the first map task */
    int n_tbuf;
    tsr_mm_tbuf_t **tbuf;
    tsr_align_scratch_t *scratch;
};

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

struct tsr_align_batch {
    tsr_align_mapper_t *st;
    tsr_pair_buf_t *pairs; /* TSR_ALIGN_BATCH of them */
    int *rid2tid;          /* minimap2's reference ids -> the header's */
    const char *const *rg; /* per lane of the sample: its read group id */
    const int64_t *lib;    /* per lane: its library's index (the first lane with that library) */
};

tsr_status_t tsr_align_mapper_create(tsr_align_mapper_t **m)
{
    tsr_align_mapper_t *st;
    TSR_ALLOC(st, 1);
    *m = st;
    return TSR_OK;
}

void tsr_align_mapper_destroy(tsr_align_mapper_t **m)
{
    if (!m || !*m)
        return;
    tsr_align_mapper_t *st = *m;
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
    *m = NULL;
}

void tsr_align_mapper_release(tsr_align_mapper_t *m)
{
    for (int i = 0; i < m->n_tbuf; i++)
        tsr_arena_free(&m->scratch[i].arena);
}

/*
 * The index and thread buffers, on the rank's first map task. The index is
 * the node's shared one, loaded before the task graph (align_index.c, cached
 * as DIR/ref.mmi across runs); the pipeline frees it after the graph.
 */
static tsr_status_t tsr_align_mapper_load(tsr_align_mapper_t *st, const tsr_mm_index_t *index, int nt)
{
    if (st->index)
        return TSR_OK;
    if (!index)
        return tsr_error_set(TSR_ERR_INTERNAL, "align map task without the minimap2 index: the pipeline loads it "
                                               "before the task graph when the plan has FASTQ samples");
    st->index = index;
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


/* ----------------------------------------------------------------- batches */

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

tsr_status_t tsr_align_batch_create(tsr_align_mapper_t *m, const tsr_mm_index_t *index, int n_threads,
                                    sam_hdr_t *hdr, const char *const *rg, const int64_t *lib,
                                    tsr_align_batch_t **out)
{
    *out = NULL;
    TSR_CALL(tsr_align_mapper_load(m, index, n_threads));
    int *rid2tid = NULL;
    TSR_CALL(tsr_align_rid2tid(m->index, hdr, &rid2tid));
    tsr_align_batch_t *bt = calloc(1, sizeof *bt);
    tsr_pair_buf_t *pairs = calloc(TSR_ALIGN_BATCH, sizeof *pairs);
    if (!bt || !pairs) {
        free(bt);
        free(pairs);
        free(rid2tid);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    }
    *bt = (tsr_align_batch_t){m, pairs, rid2tid, rg, lib};
    *out = bt;
    return TSR_OK;
}

void tsr_align_batch_destroy(tsr_align_batch_t **bt)
{
    if (!bt || !*bt)
        return;
    tsr_pairs_free((*bt)->pairs, TSR_ALIGN_BATCH);
    free((*bt)->rid2tid);
    free(*bt);
    *bt = NULL;
}

tsr_status_t tsr_align_batch_read(tsr_align_batch_t *bt, tsr_reader_t *rd, int n_seg, int64_t room, int *n,
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
        tsr_pair_buf_t *p = &bt->pairs[*n];
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

tsr_status_t tsr_align_batch_map(tsr_align_batch_t *bt, tsr_pool_t *pool, int n)
{
    return tsr_pool_for(pool, n, tsr_align_map_one, bt);
}

tsr_status_t tsr_align_batch_collect(tsr_align_batch_t *bt, int n, tsr_align_bam_vec_t *recs, kstring_t *dups,
                                     const char *sample)
{
    for (int i = 0; i < n; i++) {
        tsr_pair_buf_t *p = &bt->pairs[i];
        if (recs->n + p->n_bams > recs->cap) {
            size_t cap = recs->cap ? recs->cap : 4096;
            while (cap < recs->n + p->n_bams)
                cap *= 2;
            bam1_t **v = realloc(recs->v, cap * sizeof *v);
            if (!v)
                return tsr_error_set(TSR_ERR_NOMEM, "out of memory holding alignments of sample %s", sample);
            recs->v = v;
            recs->cap = cap;
        }
        memcpy(recs->v + recs->n, p->bams, p->n_bams * sizeof *p->bams);
        recs->n += p->n_bams;
        p->n_bams = 0;
        if (kputsn(p->dup.s ? p->dup.s : "", p->dup.l, dups) < 0)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory holding alignments of sample %s", sample);
    }
    return TSR_OK;
}
