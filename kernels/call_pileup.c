/*
 * call_pileup.c - the call kernel: per (region, sample batch), pileup of each
 * sample's alignments -> candidate SNV and indel sites, per-sample genotype
 * likelihoods and reference-confidence blocks (tsr_evidence_t), written as
 * one HDF5 evidence partition (the kernel object is in kernels/call_kernel.c).
 *
 * Design (pair-HMM indel realignment is still to come). Each sample's
 * BAM/CRAM (CRAM decoded against opts.ref_path) is read twice over the region.
 * Every read's indel events are first left-aligned against the reference
 * (an event moves one base left while the shifted event is the same
 * sequence, over aligned bases only), so an indel in a homopolymer or a
 * tandem repeat has one anchor however the aligner placed it:
 *   pass 1 counts, per position, the bases of each A/C/G/T (base quality >=
 *     min_baseq) and the reads' indel events (from CIGAR I/D, anchored at the
 *     aligned base before the event). A position is an SNV candidate when some
 *     sample has >= min_alt_reads and >= min_alt_frac of its depth for a
 *     non-reference base; an anchor is an indel candidate when some sample has
 *     >= min_indel_reads (and min_indel_frac of its depth) with the same event.
 *   pass 2 scores every read against the candidate sites it covers and
 *     accumulates diploid genotype likelihoods over "REF,ALT...,<*>":
 *     SNV: P(base | allele) = 1-e if equal else e/3, with
 *       e = max(10^(-BQ/10), 10^(-MAPQ/10)) clamped to [1e-6, 0.75]; the
 *       symbolic <*> stands for any unlisted base.
 *     indel: a read with an aligned base at the anchor whose aligned span
 *       covers the whole REF observes the allele whose event matches exactly
 *       (its only event in the REF span), REF when it has no event there and
 *       <*> otherwise; P(obs | allele) = 1-e if equal else e/(n-1), with
 *       e = max(indel_error, 10^(-MAPQ/10)).
 * Each observation also counts toward its allele's forward or reverse
 * strand total (the read's strand), for the joint kernel's StrandBias filter.
 * An SNV and an indel at one position stay two records here; the joint
 * kernel merges them into one site.
 * Overlapping mates are counted once: when a read's mate starts inside it,
 * the read's end is remembered by name; the later mate does not count
 * positions (or indel anchors) before that end.
 * Reference-confidence blocks: per sample, runs of positions that are not a
 * candidate site of either kind and have depth >= 1, cut where the depth
 * changes band (1-2, 3-5, 6-10, 11-20, 21-50, 51+), with their minimum depth.
 */
#include "io/io.h"
#include "kernels/kernels_internal.h"
#include "kernels/region_reads_internal.h"

#include <htslib/sam.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


void tsr_call_opts_init(tsr_call_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->min_mapq = 20;
    o->min_baseq = 13;
    o->min_alt_reads = 2;
    o->min_alt_frac = 0.2;
    o->min_indel_reads = 2;
    o->min_indel_frac = 0.1;
    o->indel_error = 1e-3;
}

tsr_status_t tsr_call_opts_check(const tsr_call_opts_t *o)
{
    if (o->min_mapq < 0 || o->min_mapq > 255)
        return tsr_error_set(TSR_ERR_USAGE, "--min-mapq must be in [0, 255] (got %d)", o->min_mapq);
    if (o->min_baseq < 0 || o->min_baseq > 93)
        return tsr_error_set(TSR_ERR_USAGE, "--min-baseq must be in [0, 93] (got %d)", o->min_baseq);
    if (o->min_alt_reads < 1 || o->min_indel_reads < 1)
        return tsr_error_set(TSR_ERR_USAGE, "candidate read thresholds must be >= 1");
    if (!(o->min_alt_frac >= 0 && o->min_alt_frac <= 1) || !(o->min_indel_frac >= 0 && o->min_indel_frac <= 1))
        return tsr_error_set(TSR_ERR_USAGE, "candidate fractions must be in [0, 1]");
    if (!(o->indel_error > 0 && o->indel_error < 0.5))
        return tsr_error_set(TSR_ERR_USAGE, "indel error must be in (0, 0.5) (got %g)", o->indel_error);
    return TSR_OK;
}

/* ------------------------------------------------------------ read view */

/* One indel event of a read: at `pos` (the anchor), a deletion of `del` bases or an insertion. */
typedef struct indel_ev {
    int64_t pos;
    int32_t del;
    int32_t ins_len;
    int64_t ins_off; /* into the owner's base pool */
} indel_ev_t;

/* A read as the passes see it: per reference position of its aligned span, base code and quality. */
typedef struct read_view {
    int64_t rstart, rend; /* aligned span [rstart, rend) */
    int64_t skip_before;  /* mate overlap: positions < this are not counted */
    int mapq;
    int is_rev;           /* the read maps to the reverse strand */
    int8_t *base;         /* rend-rstart: 0..3 ACGT, 4 N, -1 deleted or skipped */
    uint8_t *qual;
    size_t cap;
    int n_ev, m_ev;
    indel_ev_t *ev;       /* ins_off into ins */
    char *ins;
    size_t ins_len, ins_cap;
} read_view_t;

static void read_view_free(read_view_t *v)
{
    free(v->base);
    free(v->qual);
    free(v->ev);
    free(v->ins);
    memset(v, 0, sizeof *v);
}

static int read_view_push_ev(read_view_t *v, int64_t pos, int32_t del, const uint8_t *seq, int qoff, int ins_len)
{
    if (v->n_ev == v->m_ev) {
        int m = v->m_ev ? 2 * v->m_ev : 8;
        indel_ev_t *e = realloc(v->ev, (size_t)m * sizeof *e);
        if (!e)
            return -1;
        v->ev = e;
        v->m_ev = m;
    }
    if (v->ins_len + (size_t)ins_len > v->ins_cap) {
        size_t c = (v->ins_len + (size_t)ins_len) * 2 + 64;
        char *p = realloc(v->ins, c);
        if (!p)
            return -1;
        v->ins = p;
        v->ins_cap = c;
    }
    indel_ev_t *e = &v->ev[v->n_ev++];
    e->pos = pos;
    e->del = del;
    e->ins_len = ins_len;
    e->ins_off = (int64_t)v->ins_len;
    for (int i = 0; i < ins_len; i++)
        v->ins[v->ins_len++] = seq_nt16_str[bam_seqi(seq, qoff + i)];
    return 0;
}

/* The reference a read view is normalised against: [start, start + len). */
typedef struct ref_span {
    const char *seq;
    int64_t start, len;
} ref_span_t;

/*
 * Left-align the read's indel events within repeats (the anchor moves left
 * while the event is the same sequence one base earlier), so one indel in a
 * homopolymer or tandem repeat gets one anchor whichever way the aligner
 * placed it. An event moves only over aligned bases of the read and never
 * past the previous event or the read's start.
 */
static void read_view_left_align(read_view_t *v, const ref_span_t *ref)
{
    int64_t floor = v->rstart;
    for (int i = 0; i < v->n_ev; i++) {
        indel_ev_t *e = &v->ev[i];
        for (;;) {
            int64_t p = e->pos;
            if (p - 1 < floor || p - ref->start < 1 || p - ref->start >= ref->len ||
                v->base[p - 1 - v->rstart] < 0)
                break;
            char anchor = ref->seq[p - ref->start];
            if (e->del > 0) {
                if (p + e->del - ref->start >= ref->len || ref->seq[p + e->del - ref->start] != anchor)
                    break;
            } else {
                char *ins = v->ins + e->ins_off;
                if (ins[e->ins_len - 1] != anchor)
                    break;
                memmove(ins + 1, ins, (size_t)e->ins_len - 1);
                ins[0] = anchor;
            }
            e->pos = p - 1;
        }
        floor = e->pos + e->del + 1;
    }
}

/* Fill the view from a mapped record; -1 on out of memory. */
static int read_view_fill(read_view_t *v, const bam1_t *b)
{
    const uint32_t *cig = bam_get_cigar(b);
    int nc = (int)b->core.n_cigar;
    int64_t span = bam_cigar2rlen(nc, cig);
    if ((size_t)span > v->cap) {
        size_t c = (size_t)span * 2;
        int8_t *nb = realloc(v->base, c);
        if (!nb)
            return -1;
        v->base = nb;
        uint8_t *nq = realloc(v->qual, c);
        if (!nq)
            return -1;
        v->qual = nq;
        v->cap = c;
    }
    v->rstart = b->core.pos;
    v->rend = b->core.pos + span;
    v->mapq = b->core.qual;
    v->is_rev = (b->core.flag & BAM_FREVERSE) != 0;
    v->n_ev = 0;
    v->ins_len = 0;
    const uint8_t *seq = bam_get_seq(b), *q = bam_get_qual(b);
    int64_t r = 0; /* offset in the span */
    int qi = 0;
    int64_t last_aligned = -1; /* span offset of the last aligned base */
    for (int k = 0; k < nc; k++) {
        int op = bam_cigar_op(cig[k]);
        int len = (int)bam_cigar_oplen(cig[k]);
        switch (op) {
        case BAM_CMATCH:
        case BAM_CEQUAL:
        case BAM_CDIFF:
            for (int i = 0; i < len; i++) {
                int c = seq_nt16_int[bam_seqi(seq, qi + i)];
                v->base[r + i] = (int8_t)(c > 3 ? 4 : c);
                v->qual[r + i] = q[qi + i];
            }
            r += len;
            qi += len;
            last_aligned = r - 1;
            break;
        case BAM_CINS:
            if (last_aligned >= 0 && last_aligned == r - 1 &&
                read_view_push_ev(v, v->rstart + r - 1, 0, seq, qi, len) < 0)
                return -1;
            qi += len;
            break;
        case BAM_CDEL:
        case BAM_CREF_SKIP:
            if (op == BAM_CDEL && last_aligned >= 0 && last_aligned == r - 1 &&
                read_view_push_ev(v, v->rstart + r - 1, len, seq, 0, 0) < 0)
                return -1;
            for (int i = 0; i < len; i++)
                v->base[r + i] = -1;
            r += len;
            break;
        case BAM_CSOFT_CLIP:
            qi += len;
            break;
        default: /* H, P */
            break;
        }
    }
    return 0;
}

/* ------------------------------------------------------- sample walking */

typedef int (*read_fn)(void *ctx, const read_view_t *v);

/*
 * Iterate the usable reads of one sample over contig:[start, end), handing
 * each to fn with its mate-overlap cut; fn returns -1 on out of memory.
 */
static tsr_status_t walk_sample(const char *path, const char *contig, int64_t start, int64_t end,
                                const ref_span_t *ref, const tsr_call_opts_t *o, read_view_t *v, read_fn fn,
                                void *ctx)
{
    tsr_region_reads_t *rr = NULL;
    TSR_CALL(tsr_region_reads_open(path, o->ref_path, contig, start, end, o->min_mapq, &rr));
    tsr_status_t s = TSR_OK;
    bam1_t *b = NULL;
    int64_t skip_before = INT64_MIN;
    int r;
    while ((r = tsr_region_reads_next(rr, &b, &skip_before)) > 0) {
        if (read_view_fill(v, b) < 0) {
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", path);
            break;
        }
        read_view_left_align(v, ref);
        v->skip_before = skip_before;
        if (fn(ctx, v) < 0) {
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", path);
            break;
        }
    }
    if (s == TSR_OK && r < 0)
        s = tsr_region_reads_status(rr);
    tsr_region_reads_close(&rr);
    return s;
}

/* ------------------------------------------------------------------ pass 1 */

/* What pass 1 keeps per sample. */
typedef struct sample_scan {
    uint8_t *altmask;  /* region length: bit b set when base b qualifies as an SNV candidate */
    uint16_t *depth;   /* region length: counted bases (saturating) */
    int n_ev;          /* indel events meeting the thresholds, sorted, distinct */
    indel_ev_t *ev;    /* ins_off into ins */
    char *ins;
} sample_scan_t;

typedef struct pass1_ctx {
    const tsr_call_opts_t *o;
    int64_t start, end, ref_len;
    int32_t *cnt;      /* 4 per position */
    uint16_t *depth;
    read_view_t all;   /* every event seen, as a growing list (base arrays unused) */
} pass1_ctx_t;

static int pass1_read(void *vctx, const read_view_t *v)
{
    pass1_ctx_t *c = vctx;
    int64_t lo = v->rstart > c->start ? v->rstart : c->start;
    int64_t hi = v->rend < c->end ? v->rend : c->end;
    if (lo < v->skip_before)
        lo = v->skip_before;
    for (int64_t p = lo; p < hi; p++) {
        int b = v->base[p - v->rstart];
        if (b >= 0 && b < 4 && v->qual[p - v->rstart] >= c->o->min_baseq) {
            c->cnt[(p - c->start) * 4 + b]++;
            if (c->depth[p - c->start] < UINT16_MAX)
                c->depth[p - c->start]++;
        }
    }
    for (int i = 0; i < v->n_ev; i++) {
        const indel_ev_t *e = &v->ev[i];
        if (e->pos < c->start || e->pos >= c->end || e->pos < v->skip_before ||
            e->pos - c->start + e->del >= c->ref_len)
            continue;
        /* copy the event with its inserted bases into the sample's list */
        if (c->all.n_ev == c->all.m_ev) {
            int m = c->all.m_ev ? 2 * c->all.m_ev : 64;
            indel_ev_t *ne = realloc(c->all.ev, (size_t)m * sizeof *ne);
            if (!ne)
                return -1;
            c->all.ev = ne;
            c->all.m_ev = m;
        }
        if (c->all.ins_len + (size_t)e->ins_len > c->all.ins_cap) {
            size_t cap = (c->all.ins_len + (size_t)e->ins_len) * 2 + 256;
            char *p = realloc(c->all.ins, cap);
            if (!p)
                return -1;
            c->all.ins = p;
            c->all.ins_cap = cap;
        }
        indel_ev_t *d = &c->all.ev[c->all.n_ev++];
        *d = *e;
        d->ins_off = (int64_t)c->all.ins_len;
        if (e->ins_len)
            memcpy(c->all.ins + c->all.ins_len, v->ins + e->ins_off, (size_t)e->ins_len);
        c->all.ins_len += (size_t)e->ins_len;
    }
    return 0;
}

/* Order of indel events: anchor, deletions (by length) before insertions (by length, bases). */
static int ev_cmp(const indel_ev_t *a, const char *ia, const indel_ev_t *b, const char *ib)
{
    if (a->pos != b->pos)
        return a->pos < b->pos ? -1 : 1;
    if ((a->ins_len > 0) != (b->ins_len > 0))
        return a->ins_len > 0 ? 1 : -1;
    if (a->del != b->del)
        return a->del < b->del ? -1 : 1;
    if (a->ins_len != b->ins_len)
        return a->ins_len < b->ins_len ? -1 : 1;
    return a->ins_len ? memcmp(ia + a->ins_off, ib + b->ins_off, (size_t)a->ins_len) : 0;
}

typedef struct ev_sort {
    indel_ev_t *ev;
    const char *ins;
} ev_sort_t;

/* qsort_r comparator over event indices (glibc qsort_r; _GNU_SOURCE). */
static int ev_idx_cmp(const void *pa, const void *pb, void *vctx)
{
    const ev_sort_t *c = vctx;
    return ev_cmp(&c->ev[*(const int *)pa], c->ins, &c->ev[*(const int *)pb], c->ins);
}

static tsr_status_t sample_scan_run(const char *path, const char *contig, int64_t start, int64_t end,
                                    int64_t ref_len, const char *ref_seq, const tsr_call_opts_t *o,
                                    sample_scan_t *out)
{
    int64_t L = end - start;
    pass1_ctx_t c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.start = start;
    c.end = end;
    c.ref_len = ref_len;
    c.cnt = calloc((size_t)(L ? L : 1) * 4, sizeof *c.cnt);
    out->depth = calloc((size_t)(L ? L : 1), sizeof *out->depth);
    out->altmask = calloc((size_t)(L ? L : 1), 1);
    c.depth = out->depth;
    read_view_t v;
    memset(&v, 0, sizeof v);
    tsr_status_t s = TSR_OK;
    if (!c.cnt || !out->depth || !out->altmask)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory scanning %s", path);
    ref_span_t rs = {ref_seq, start, ref_len};
    if (s == TSR_OK)
        s = walk_sample(path, contig, start, end, &rs, o, &v, pass1_read, &c);
    read_view_free(&v);
    for (int64_t p = 0; s == TSR_OK && p < L; p++) {
        int rb = seq_nt16_int[seq_nt16_table[(unsigned char)ref_seq[p]]];
        int dp = out->depth[p];
        for (int b = 0; b < 4 && rb < 4; b++) {
            int n = c.cnt[p * 4 + b];
            if (b != rb && n >= o->min_alt_reads && n >= o->min_alt_frac * dp)
                out->altmask[p] |= (uint8_t)(1u << b);
        }
    }
    free(c.cnt);
    /* distinct events meeting the thresholds */
    int *idx = s == TSR_OK ? malloc(((size_t)c.all.n_ev + 1) * sizeof *idx) : NULL;
    if (s == TSR_OK && !idx)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory scanning %s", path);
    if (s == TSR_OK) {
        for (int i = 0; i < c.all.n_ev; i++)
            idx[i] = i;
        ev_sort_t sc = {c.all.ev, c.all.ins};
        qsort_r(idx, (size_t)c.all.n_ev, sizeof *idx, ev_idx_cmp, &sc);
        out->ev = malloc(((size_t)c.all.n_ev + 1) * sizeof *out->ev);
        if (!out->ev)
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory scanning %s", path);
        for (int i = 0; s == TSR_OK && i < c.all.n_ev;) {
            int j = i + 1;
            while (j < c.all.n_ev && ev_cmp(&c.all.ev[idx[i]], c.all.ins, &c.all.ev[idx[j]], c.all.ins) == 0)
                j++;
            const indel_ev_t *e = &c.all.ev[idx[i]];
            int dp = out->depth[e->pos - start];
            if (j - i >= o->min_indel_reads && j - i >= o->min_indel_frac * (dp > j - i ? dp : j - i))
                out->ev[out->n_ev++] = *e;
            i = j;
        }
    }
    free(idx);
    if (s == TSR_OK) {
        out->ins = c.all.ins; /* offsets still point into the full pool */
        c.all.ins = NULL;
    }
    read_view_free(&c.all);
    return s;
}

static void sample_scan_free(sample_scan_t *sc)
{
    free(sc->altmask);
    free(sc->depth);
    free(sc->ev);
    free(sc->ins);
    memset(sc, 0, sizeof *sc);
}

/* ------------------------------------------------------- candidate sites */

typedef struct cand_site {
    int64_t pos;
    uint8_t kind;
    int n_alt;            /* listed ALT alleles */
    int8_t ref_base;      /* SNV: 0..3 */
    int8_t alt_base[3];   /* SNV */
    int32_t ref_span;     /* indel: bases of REF after the anchor (longest deletion) */
    int64_t ev_first;     /* indel: its ALTs are events [ev_first, ev_first + n_alt) */
} cand_site_t;

typedef struct cand_set {
    int64_t n, m;
    cand_site_t *site;
    int64_t n_ev;
    indel_ev_t *ev;       /* ins_off into ins */
    char *ins;
} cand_set_t;

static void cand_set_free(cand_set_t *cs)
{
    free(cs->site);
    free(cs->ev);
    free(cs->ins);
    memset(cs, 0, sizeof *cs);
}

static int cand_push(cand_set_t *cs, const cand_site_t *s)
{
    if (cs->n == cs->m) {
        int64_t m = cs->m ? 2 * cs->m : 64;
        cand_site_t *p = realloc(cs->site, (size_t)m * sizeof *p);
        if (!p)
            return -1;
        cs->site = p;
        cs->m = m;
    }
    cs->site[cs->n++] = *s;
    return 0;
}

/* Union of the samples' candidates into sites sorted by (pos, kind). */
static tsr_status_t candidates_build(const sample_scan_t *sc, int n_samples, const char *ref_seq, int64_t start,
                                     int64_t end, cand_set_t *cs)
{
    int64_t L = end - start;
    memset(cs, 0, sizeof *cs);
    /* all samples' qualifying events, with their bases in one pool */
    int64_t n_all = 0, ins_all = 0;
    for (int i = 0; i < n_samples; i++) {
        n_all += sc[i].n_ev;
        for (int k = 0; k < sc[i].n_ev; k++)
            ins_all += sc[i].ev[k].ins_len;
    }
    indel_ev_t *ev = malloc((size_t)(n_all + 1) * sizeof *ev);
    int *idx = malloc((size_t)(n_all + 1) * sizeof *idx);
    cs->ins = malloc((size_t)ins_all + 1);
    cs->ev = malloc((size_t)(n_all + 1) * sizeof *cs->ev);
    if (!ev || !idx || !cs->ins || !cs->ev) {
        free(ev);
        free(idx);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory collecting candidate sites");
    }
    int64_t ne = 0, pool = 0;
    for (int i = 0; i < n_samples; i++)
        for (int k = 0; k < sc[i].n_ev; k++) {
            ev[ne] = sc[i].ev[k];
            if (ev[ne].ins_len)
                memcpy(cs->ins + pool, sc[i].ins + sc[i].ev[k].ins_off, (size_t)ev[ne].ins_len);
            ev[ne].ins_off = pool;
            pool += ev[ne].ins_len;
            idx[ne] = (int)ne;
            ne++;
        }
    ev_sort_t sctx = {ev, cs->ins};
    qsort_r(idx, (size_t)ne, sizeof *idx, ev_idx_cmp, &sctx);
    for (int64_t i = 0; i < ne; i++)
        if (cs->n_ev == 0 || ev_cmp(&cs->ev[cs->n_ev - 1], cs->ins, &ev[idx[i]], cs->ins) != 0)
            cs->ev[cs->n_ev++] = ev[idx[i]];
    free(ev);
    free(idx);

    int64_t e = 0;
    for (int64_t p = 0; p < L; p++) {
        uint8_t mask = 0;
        for (int i = 0; i < n_samples; i++)
            mask |= sc[i].altmask[p];
        if (mask) {
            cand_site_t s;
            memset(&s, 0, sizeof s);
            s.pos = start + p;
            s.kind = TSR_SITE_SNV;
            s.ref_base = (int8_t)seq_nt16_int[seq_nt16_table[(unsigned char)ref_seq[p]]];
            for (int b = 0; b < 4; b++)
                if (mask & (1u << b))
                    s.alt_base[s.n_alt++] = (int8_t)b;
            if (cand_push(cs, &s) < 0)
                return tsr_error_set(TSR_ERR_NOMEM, "out of memory collecting candidate sites");
        }
        if (e < cs->n_ev && cs->ev[e].pos == start + p) {
            cand_site_t s;
            memset(&s, 0, sizeof s);
            s.pos = start + p;
            s.kind = TSR_SITE_INDEL;
            s.ev_first = e;
            while (e < cs->n_ev && cs->ev[e].pos == start + p) {
                if (cs->ev[e].del > s.ref_span)
                    s.ref_span = cs->ev[e].del;
                s.n_alt++;
                e++;
            }
            if (cand_push(cs, &s) < 0)
                return tsr_error_set(TSR_ERR_NOMEM, "out of memory collecting candidate sites");
        }
    }
    return TSR_OK;
}

/* ------------------------------------------------------------------ pass 2 */

/* Pass 2 output of one sample: log10 likelihoods, AD and DP per site. */
typedef struct sample_calls {
    double *gl;  /* at gl_off[site] */
    int32_t *ad; /* at ad_off[site] */
    int32_t *sb; /* at 2*ad_off[site]: forward, reverse reads per allele */
    int32_t *dp;
} sample_calls_t;

typedef struct pass2_ctx {
    const tsr_call_opts_t *o;
    const cand_set_t *cs;
    const int64_t *gl_off, *ad_off;
    sample_calls_t *out;
    double p[8];          /* per-allele probabilities of the current observation */
    int is_rev;           /* strand of the current read */
} pass2_ctx_t;

static double clamp_err(double e) { return e < 1e-6 ? 1e-6 : (e > 0.75 ? 0.75 : e); }

static void add_obs(pass2_ctx_t *c, int64_t si, int n_alleles, int obs, const double *p)
{
    double *gl = c->out->gl + c->gl_off[si];
    for (int b = 0; b < n_alleles; b++)
        for (int a = 0; a <= b; a++)
            gl[tsr_gt_index(a, b)] += log10(0.5 * p[a] + 0.5 * p[b]);
    c->out->ad[c->ad_off[si] + obs]++;
    c->out->sb[2 * (c->ad_off[si] + obs) + c->is_rev]++;
    c->out->dp[si]++;
}

/* The allele a read shows at an indel site: index in REF,ALT...,<*>, or -1 if the read does not tell. */
static int indel_obs(const cand_set_t *cs, const cand_site_t *s, const read_view_t *v)
{
    int64_t last = s->pos + s->ref_span;
    if (s->pos < v->rstart || last >= v->rend || v->base[s->pos - v->rstart] < 0)
        return -1;
    int n_in = 0, hit = -1;
    for (int i = 0; i < v->n_ev; i++) {
        const indel_ev_t *e = &v->ev[i];
        if (e->pos < s->pos || e->pos > last)
            continue;
        n_in++;
        if (e->pos != s->pos)
            continue;
        for (int k = 0; k < s->n_alt; k++) {
            const indel_ev_t *a = &cs->ev[s->ev_first + k];
            if (a->del == e->del && a->ins_len == e->ins_len &&
                (e->ins_len == 0 || memcmp(cs->ins + a->ins_off, v->ins + e->ins_off, (size_t)e->ins_len) == 0))
                hit = k + 1;
        }
    }
    if (n_in == 0)
        return 0;
    if (n_in == 1 && hit > 0)
        return hit;
    return s->n_alt + 1;
}

static int pass2_read(void *vctx, const read_view_t *v)
{
    pass2_ctx_t *c = vctx;
    const cand_set_t *cs = c->cs;
    /* first site at or after the read's start */
    int64_t lo = 0, hi = cs->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cs->site[mid].pos < v->rstart)
            lo = mid + 1;
        else
            hi = mid;
    }
    double e_mapq = pow(10.0, -v->mapq / 10.0);
    c->is_rev = v->is_rev;
    for (int64_t si = lo; si < cs->n && cs->site[si].pos < v->rend; si++) {
        const cand_site_t *s = &cs->site[si];
        if (s->pos < v->skip_before)
            continue;
        int na = s->n_alt + 2;
        if (s->kind == TSR_SITE_SNV) {
            int b = v->base[s->pos - v->rstart];
            int q = v->qual[s->pos - v->rstart];
            if (b < 0 || b > 3 || q < c->o->min_baseq)
                continue;
            double e = pow(10.0, -q / 10.0);
            e = clamp_err(e > e_mapq ? e : e_mapq);
            int obs = na - 1;
            c->p[0] = b == s->ref_base ? 1 - e : e / 3;
            if (b == s->ref_base)
                obs = 0;
            for (int k = 0; k < s->n_alt; k++) {
                c->p[k + 1] = b == s->alt_base[k] ? 1 - e : e / 3;
                if (b == s->alt_base[k])
                    obs = k + 1;
            }
            c->p[na - 1] = obs == na - 1 ? 1 - e : e / 3;
            add_obs(c, si, na, obs, c->p);
        } else {
            int obs = indel_obs(cs, s, v);
            if (obs < 0)
                continue;
            double e = clamp_err(c->o->indel_error > e_mapq ? c->o->indel_error : e_mapq);
            for (int a = 0; a < na; a++)
                c->p[a] = a == obs ? 1 - e : e / (na - 1);
            add_obs(c, si, na, obs, c->p);
        }
    }
    return 0;
}

/* --------------------------------------------------------------- driver */

typedef struct call_job {
    const char *ref_seq;
    int64_t ref_len;
    const char *contig;
    int64_t start, end;
    const char *const *paths;
    const tsr_call_opts_t *o;
    sample_scan_t *scan;
    const cand_set_t *cs;
    const int64_t *gl_off, *ad_off;
    sample_calls_t *calls;
    tsr_status_t *status;
    char (*msg)[512];
} call_job_t;

static void job_fail(call_job_t *j, int64_t i, tsr_status_t s)
{
    j->status[i] = s;
    snprintf(j->msg[i], sizeof j->msg[i], "%s", tsr_error_msg());
}

static tsr_status_t job_pass1(void *vctx, int64_t i, int thread)
{
    (void)thread;
    call_job_t *j = vctx;
    tsr_error_clear();
    tsr_status_t s = sample_scan_run(j->paths[i], j->contig, j->start, j->end, j->ref_len, j->ref_seq, j->o,
                                     &j->scan[i]);
    if (s != TSR_OK)
        job_fail(j, i, s);
    return s;
}

static tsr_status_t job_pass2(void *vctx, int64_t i, int thread)
{
    (void)thread;
    call_job_t *j = vctx;
    tsr_error_clear();
    pass2_ctx_t c;
    memset(&c, 0, sizeof c);
    c.o = j->o;
    c.cs = j->cs;
    c.gl_off = j->gl_off;
    c.ad_off = j->ad_off;
    c.out = &j->calls[i];
    read_view_t v;
    memset(&v, 0, sizeof v);
    tsr_status_t s = TSR_OK;
    ref_span_t rs = {j->ref_seq, j->start, j->ref_len};
    if (j->cs->n > 0)
        s = walk_sample(j->paths[i], j->contig, j->start, j->end, &rs, j->o, &v, pass2_read, &c);
    read_view_free(&v);
    if (s != TSR_OK)
        job_fail(j, i, s);
    return s;
}

/* Run fn over the samples on the pool (or here), then re-raise the first failing sample's message. */
static tsr_status_t run_samples(tsr_pool_t *pool, call_job_t *j, int n, tsr_pool_fn fn)
{
    tsr_status_t s = TSR_OK;
    if (pool) {
        s = tsr_pool_for(pool, n, fn, j);
    } else {
        for (int i = 0; i < n && s == TSR_OK; i++)
            s = fn(j, i, 0);
    }
    if (s == TSR_OK)
        return TSR_OK;
    for (int i = 0; i < n; i++)
        if (j->status[i] != TSR_OK) {
            tsr_error_clear();
            return tsr_error_set(j->status[i], "%s", j->msg[i]);
        }
    return s;
}

static int depth_band(int d)
{
    return d <= 2 ? 0 : d <= 5 ? 1 : d <= 10 ? 2 : d <= 20 ? 3 : d <= 50 ? 4 : 5;
}

/* Append the allele strings of a site ("REF,ALT...,<*>") to the blob. */
static void site_alleles(const cand_set_t *cs, const cand_site_t *s, const char *ref, char *out, int64_t *len)
{
    int64_t n = 0;
    if (s->kind == TSR_SITE_SNV) {
        out[n++] = "ACGT"[s->ref_base];
        for (int k = 0; k < s->n_alt; k++) {
            out[n++] = ',';
            out[n++] = "ACGT"[s->alt_base[k]];
        }
    } else {
        memcpy(out + n, ref, (size_t)s->ref_span + 1);
        n += s->ref_span + 1;
        for (int k = 0; k < s->n_alt; k++) {
            const indel_ev_t *e = &cs->ev[s->ev_first + k];
            out[n++] = ',';
            out[n++] = ref[0];
            if (e->ins_len)
                memcpy(out + n, cs->ins + e->ins_off, (size_t)e->ins_len);
            n += e->ins_len;
            int64_t tail = s->ref_span - e->del; /* reference bases after the event */
            memcpy(out + n, ref + 1 + e->del, (size_t)tail);
            n += tail;
        }
    }
    memcpy(out + n, ",<*>", 4);
    *len = n + 4;
}

static int64_t site_allele_bytes(const cand_set_t *cs, const cand_site_t *s)
{
    if (s->kind == TSR_SITE_SNV)
        return 2 * s->n_alt + 1 + 4;
    int64_t n = s->ref_span + 1 + 4;
    for (int k = 0; k < s->n_alt; k++) {
        const indel_ev_t *e = &cs->ev[s->ev_first + k];
        n += 2 + e->ins_len + (s->ref_span - e->del);
    }
    return n;
}

static tsr_status_t evidence_fill(tsr_evidence_t *ev, const cand_set_t *cs, const sample_scan_t *scan,
                                  const sample_calls_t *calls, const int64_t *gl_off, const int64_t *ad_off,
                                  const char *ref_seq)
{
    int64_t n = cs->n, ns = ev->n_samples, L = ev->end - ev->start;
    int64_t blob = 0;
    for (int64_t i = 0; i < n; i++)
        blob += site_allele_bytes(cs, &cs->site[i]);
    ev->n_sites = n;
    TSR_ALLOC(ev->pos, n);
    TSR_ALLOC(ev->kind, n);
    TSR_ALLOC(ev->n_alleles, n);
    TSR_ALLOC(ev->allele_off, n + 1);
    TSR_ALLOC(ev->allele_blob, blob);
    TSR_ALLOC(ev->pl_off, n + 1);
    int64_t n_pl = gl_off[n] * ns, n_ad = ad_off[n] * ns, n_dp = n * ns;
    TSR_ALLOC(ev->pl, n_pl);
    TSR_ALLOC(ev->ad_off, n + 1);
    TSR_ALLOC(ev->ad, n_ad);
    TSR_ALLOC(ev->dp, n_dp);
    TSR_ALLOC(ev->strand, n_ad + n_ad);
    for (int64_t i = 0; i < n; i++) {
        const cand_site_t *s = &cs->site[i];
        int na = s->n_alt + 2, G = na * (na + 1) / 2;
        int64_t len = 0;
        ev->pos[i] = s->pos;
        ev->kind[i] = s->kind;
        ev->n_alleles[i] = na;
        site_alleles(cs, s, ref_seq + (s->pos - ev->start), ev->allele_blob + ev->allele_off[i], &len);
        ev->allele_off[i + 1] = ev->allele_off[i] + len;
        ev->pl_off[i + 1] = ev->pl_off[i] + (int64_t)G * ns;
        ev->ad_off[i + 1] = ev->ad_off[i] + (int64_t)na * ns;
        for (int64_t j = 0; j < ns; j++) {
            const double *gl = calls[j].gl + gl_off[i];
            double best = gl[0];
            for (int g = 1; g < G; g++)
                if (gl[g] > best)
                    best = gl[g];
            for (int g = 0; g < G; g++)
                ev->pl[ev->pl_off[i] + j * G + g] = (int32_t)lround(-10.0 * (gl[g] - best));
            memcpy(ev->ad + ev->ad_off[i] + j * na, calls[j].ad + ad_off[i], (size_t)na * sizeof(int32_t));
            memcpy(ev->strand + 2 * (ev->ad_off[i] + j * na), calls[j].sb + 2 * ad_off[i],
                   (size_t)na * 2 * sizeof(int32_t));
            ev->dp[i * ns + j] = calls[j].dp[i];
        }
    }
    /* reference-confidence blocks */
    uint8_t *at_site = calloc((size_t)(L ? L : 1), 1);
    if (!at_site)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory building reference blocks");
    for (int64_t i = 0; i < n; i++)
        at_site[cs->site[i].pos - ev->start] = 1;
    int64_t nb = 0, mb = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            mb = nb;
            nb = 0;
            ev->block_sample = malloc((size_t)(mb ? mb : 1) * sizeof(int32_t));
            ev->block_start = malloc((size_t)(mb ? mb : 1) * sizeof(int64_t));
            ev->block_end = malloc((size_t)(mb ? mb : 1) * sizeof(int64_t));
            ev->block_min_dp = malloc((size_t)(mb ? mb : 1) * sizeof(int32_t));
            if (!ev->block_sample || !ev->block_start || !ev->block_end || !ev->block_min_dp) {
                free(at_site);
                return tsr_error_set(TSR_ERR_NOMEM, "out of memory building reference blocks");
            }
        }
        for (int64_t j = 0; j < ns; j++) {
            const uint16_t *d = scan[j].depth;
            int64_t p = 0;
            while (p < L) {
                if (at_site[p] || d[p] == 0) {
                    p++;
                    continue;
                }
                int band = depth_band(d[p]), mn = d[p];
                int64_t q = p + 1;
                while (q < L && !at_site[q] && d[q] > 0 && depth_band(d[q]) == band) {
                    if (d[q] < mn)
                        mn = d[q];
                    q++;
                }
                if (pass == 1) {
                    ev->block_sample[nb] = (int32_t)j;
                    ev->block_start[nb] = ev->start + p;
                    ev->block_end[nb] = ev->start + q;
                    ev->block_min_dp[nb] = mn;
                }
                nb++;
                p = q;
            }
        }
    }
    ev->n_blocks = nb;
    free(at_site);
    return TSR_OK;
}

tsr_status_t tsr_call_region(const char *ref_seq, int64_t ref_len, const char *contig, int64_t start,
                             int64_t end, int n_samples, const char *const *sample_ids,
                             const char *const *aln_paths, const tsr_call_opts_t *o, tsr_pool_t *pool,
                             tsr_evidence_t **out)
{
    *out = NULL;
    TSR_CALL(tsr_call_opts_check(o));
    if (end < start || ref_len < end - start || n_samples < 0)
        return tsr_error_set(TSR_ERR_INTERNAL, "call %s:%lld-%lld: bad region or reference length", contig,
                             (long long)start + 1, (long long)end);
    tsr_evidence_t *ev = NULL;
    TSR_CALL(tsr_evidence_create(&ev));
    call_job_t j;
    memset(&j, 0, sizeof j);
    cand_set_t cs;
    memset(&cs, 0, sizeof cs);
    int64_t *gl_off = NULL, *ad_off = NULL;
    tsr_status_t s = TSR_OK;
    ev->contig = strdup(contig);
    ev->start = start;
    ev->end = end;
    ev->sample_ids = calloc((size_t)(n_samples ? n_samples : 1), sizeof(char *));
    j.scan = calloc((size_t)(n_samples ? n_samples : 1), sizeof *j.scan);
    j.calls = calloc((size_t)(n_samples ? n_samples : 1), sizeof *j.calls);
    j.status = calloc((size_t)(n_samples ? n_samples : 1), sizeof *j.status);
    j.msg = calloc((size_t)(n_samples ? n_samples : 1), sizeof *j.msg);
    if (!ev->contig || !ev->sample_ids || !j.scan || !j.calls || !j.status || !j.msg)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory calling %s", contig);
    if (s == TSR_OK) {
        ev->n_samples = n_samples;
        for (int i = 0; i < n_samples && s == TSR_OK; i++)
            if (!(ev->sample_ids[i] = strdup(sample_ids[i])))
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory calling %s", contig);
    }
    j.ref_seq = ref_seq;
    j.ref_len = ref_len;
    j.contig = contig;
    j.start = start;
    j.end = end;
    j.paths = aln_paths;
    j.o = o;
    j.cs = &cs;
    if (s == TSR_OK)
        s = run_samples(pool, &j, n_samples, job_pass1);
    if (s == TSR_OK)
        s = candidates_build(j.scan, n_samples, ref_seq, start, end, &cs);
    if (s == TSR_OK) {
        gl_off = calloc((size_t)cs.n + 1, sizeof *gl_off);
        ad_off = calloc((size_t)cs.n + 1, sizeof *ad_off);
        if (!gl_off || !ad_off)
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory calling %s", contig);
        for (int64_t i = 0; s == TSR_OK && i < cs.n; i++) {
            int na = cs.site[i].n_alt + 2;
            gl_off[i + 1] = gl_off[i] + na * (na + 1) / 2;
            ad_off[i + 1] = ad_off[i] + na;
        }
        for (int i = 0; s == TSR_OK && i < n_samples; i++) {
            j.calls[i].gl = calloc((size_t)gl_off[cs.n] + 1, sizeof(double));
            j.calls[i].ad = calloc((size_t)ad_off[cs.n] + 1, sizeof(int32_t));
            j.calls[i].sb = calloc(2 * (size_t)ad_off[cs.n] + 1, sizeof(int32_t));
            j.calls[i].dp = calloc((size_t)cs.n + 1, sizeof(int32_t));
            if (!j.calls[i].gl || !j.calls[i].ad || !j.calls[i].sb || !j.calls[i].dp)
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory calling %s", contig);
        }
        j.gl_off = gl_off;
        j.ad_off = ad_off;
    }
    if (s == TSR_OK)
        s = run_samples(pool, &j, n_samples, job_pass2);
    if (s == TSR_OK)
        s = evidence_fill(ev, &cs, j.scan, j.calls, gl_off, ad_off, ref_seq);
    for (int i = 0; i < n_samples; i++) {
        if (j.scan)
            sample_scan_free(&j.scan[i]);
        if (j.calls) {
            free(j.calls[i].gl);
            free(j.calls[i].ad);
            free(j.calls[i].sb);
            free(j.calls[i].dp);
        }
    }
    free(j.scan);
    free(j.calls);
    free(j.status);
    free(j.msg);
    free(gl_off);
    free(ad_off);
    cand_set_free(&cs);
    if (s != TSR_OK) {
        tsr_evidence_destroy(&ev);
        return s;
    }
    *out = ev;
    return TSR_OK;
}
