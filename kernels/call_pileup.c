/*
 * call_pileup.c - the call kernel: per (region, sample batch), pileup of each
 * sample's alignments -> candidate SNV and indel sites, per-sample genotype
 * likelihoods and reference-confidence blocks (tsr_evidence_t), written as
 * one HDF5 evidence partition (the kernel object is in kernels/call_kernel.c).
 *
 * Design. Each sample's BAM/CRAM (CRAM decoded against opts.ref_path) is
 * read twice over the region. Every read's indel events are first
 * left-aligned against the reference (an event moves one base left while
 * the shifted event is the same sequence, over aligned bases only), so an
 * indel in a homopolymer or a tandem repeat has one anchor however the
 * aligner placed it:
 *   pass 1 counts, per position, the bases of each A/C/G/T (base quality >=
 *     min_baseq) and the reads' indel events (from CIGAR I/D, anchored at the
 *     aligned base before the event). A position is an SNV candidate for a
 *     base when some sample has >= min_alt_reads and >= min_alt_frac of its
 *     depth for it, or the batch has >= min_pool_alt_reads of it in sum and
 *     min_pool_alt_frac of its summed depth (low-coverage stretches where no
 *     sample reaches two reads). An event is an indel candidate when some
 *     sample has >= min_indel_reads (and min_indel_frac of its depth) with
 *     it, or the batch has in sum (indel errors are rare enough that one read
 *     in each of two samples is worth genotyping at 4x); a batch-sum
 *     insertion of the same anchor and length as a sample-qualified one is
 *     taken for its sequencing errors and dropped.
 *   pass 2 scores every read against the candidate sites it covers and
 *     accumulates diploid genotype likelihoods over "REF,ALT...,<*>",
 *     log10 P(read | a/b) = log10(P(read | a)/2 + P(read | b)/2):
 *     SNV: P(base | allele) = 1-e if equal else e/3, with
 *       e = max(10^(-BQ/10), 10^(-MAPQ/10)) clamped to [1e-6, 0.75]; the
 *       symbolic <*> stands for any unlisted base.
 *     indel: realignment. Each site has a window of the reference (the
 *       stretch its alleles can slide over plus TSR_CALL_FLANK bases each
 *       side) and one haplotype per allele (the window with the event
 *       applied). A read that covers the anchor and the whole ambiguous
 *       stretch is scored: its bases over the window (from its own query
 *       sequence, so whatever the aligner made of the indel: a gap, or
 *       mismatches near the read's end) against each haplotype with a
 *       banded pair-HMM (phmm_loglik: base-quality emissions, gap open
 *       `gop`, extension 0.1, free start and end on the haplotype). A read
 *       that ends inside a repeat fits every allele alike and adds nothing.
 *       gop is indel_error (Q45) outside repeats and loses 3 phred per extra
 *       repeat unit the events sit in (down to Q20), as slippage does.
 *       <*> is one gap open better than the best listed allele for a read
 *       with an unlisted event in the stretch, one worse otherwise. Allele
 *       likelihoods are capped at the read's MAPQ below the best one.
 *     A read counts toward AD (and the strand totals) of its best allele
 *     when that beats the next by 0.5 log10 units; DP counts every scored
 *     read. Where a read's best haplotype is not the one its CIGAR shows,
 *     its bases over that window are not SNV evidence (the mismatches an
 *     unopened gap leaves must not become SNV calls).
 * Each observation also counts toward its allele's forward or reverse
 * strand total (the read's strand), for the joint kernel's StrandBias filter.
 * Read-backed phase (after pass 2, per sample; phase_apply): a biallelic
 * SNV's het likelihood is re-weighed by how well its reads' bases follow the
 * haplotypes of a confident het SNV of the same sample that the same
 * fragments cover (two matching errors on reads of both haplotypes make no
 * het).
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
    o->min_alt_frac = 0.1;
    o->min_indel_reads = 2;
    o->min_indel_frac = 0.1;
    o->min_pool_alt_reads = 3;
    o->min_pool_alt_frac = 0.05;
    o->indel_error = 3.16e-5; /* Q45 */
    o->phase_weight = 0.9;
}

tsr_status_t tsr_call_opts_check(const tsr_call_opts_t *o)
{
    if (o->min_mapq < 0 || o->min_mapq > 255)
        return tsr_error_set(TSR_ERR_USAGE, "--min-mapq must be in [0, 255] (got %d)", o->min_mapq);
    if (o->min_baseq < 0 || o->min_baseq > 93)
        return tsr_error_set(TSR_ERR_USAGE, "--min-baseq must be in [0, 93] (got %d)", o->min_baseq);
    if (o->min_alt_reads < 1 || o->min_indel_reads < 1 || o->min_pool_alt_reads < 1)
        return tsr_error_set(TSR_ERR_USAGE, "candidate read thresholds must be >= 1");
    if (!(o->min_alt_frac >= 0 && o->min_alt_frac <= 1) || !(o->min_indel_frac >= 0 && o->min_indel_frac <= 1) ||
        !(o->min_pool_alt_frac >= 0 && o->min_pool_alt_frac <= 1))
        return tsr_error_set(TSR_ERR_USAGE, "candidate fractions must be in [0, 1]");
    if (!(o->indel_error > 0 && o->indel_error < 0.5))
        return tsr_error_set(TSR_ERR_USAGE, "indel error must be in (0, 0.5) (got %g)", o->indel_error);
    if (!(o->phase_weight >= 0 && o->phase_weight < 1))
        return tsr_error_set(TSR_ERR_USAGE, "phase weight must be in [0, 1) (got %g)", o->phase_weight);
    return TSR_OK;
}

/* ------------------------------------------------------------ read view */

/* One indel event of a read: at `pos` (the anchor), a deletion of `del` bases or an insertion. */
typedef struct indel_ev {
    int64_t pos;
    int32_t del;
    int32_t ins_len;
    int64_t ins_off; /* into the owner's base pool */
    int32_t n;       /* pass 1, per sample: reads showing the event */
    int32_t dp;      /* pass 1, per sample: counted depth at the anchor */
} indel_ev_t;

/* A read as the passes see it: per reference position of its aligned span, base code and quality. */
typedef struct read_view {
    int64_t rstart, rend; /* aligned span [rstart, rend) */
    int64_t skip_before;  /* mate overlap: positions < this are not counted */
    int mapq;
    int is_rev;           /* the read maps to the reverse strand */
    uint64_t frag;        /* hash of the read name: both mates of a fragment share it */
    int8_t *base;         /* rend-rstart: 0..3 ACGT, 4 N, -1 deleted or skipped */
    uint8_t *qual;
    int32_t *qpos;        /* rend-rstart: query index of the base aligned there (deleted: of the next one) */
    size_t cap;
    int8_t *qseq;         /* the query: 0..3 ACGT, 4 N */
    uint8_t *qqual;
    size_t qcap;
    int32_t q_aln_end;    /* query index after the last aligned base (trailing soft clip excluded) */
    int n_ev, m_ev;
    indel_ev_t *ev;       /* ins_off into ins */
    char *ins;
    size_t ins_len, ins_cap;
} read_view_t;

static void read_view_free(read_view_t *v)
{
    free(v->base);
    free(v->qual);
    free(v->qpos);
    free(v->qseq);
    free(v->qqual);
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
        int32_t *np = realloc(v->qpos, c * sizeof *np);
        if (!np)
            return -1;
        v->qpos = np;
        v->cap = c;
    }
    size_t ql = (size_t)b->core.l_qseq;
    if (ql > v->qcap) {
        size_t c = ql * 2;
        int8_t *ns = realloc(v->qseq, c);
        if (!ns)
            return -1;
        v->qseq = ns;
        uint8_t *nq = realloc(v->qqual, c);
        if (!nq)
            return -1;
        v->qqual = nq;
        v->qcap = c;
    }
    v->rstart = b->core.pos;
    v->rend = b->core.pos + span;
    v->mapq = b->core.qual;
    v->is_rev = (b->core.flag & BAM_FREVERSE) != 0;
    v->frag = 1469598103934665603ULL; /* FNV-1a */
    for (const char *n = bam_get_qname(b); *n; n++)
        v->frag = (v->frag ^ (uint8_t)*n) * 1099511628211ULL;
    v->n_ev = 0;
    v->ins_len = 0;
    const uint8_t *seq = bam_get_seq(b), *q = bam_get_qual(b);
    for (size_t i = 0; i < ql; i++) {
        int c = seq_nt16_int[bam_seqi(seq, i)];
        v->qseq[i] = (int8_t)(c > 3 ? 4 : c);
        v->qqual[i] = q[i];
    }
    v->q_aln_end = 0;
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
                v->qpos[r + i] = qi + i;
            }
            r += len;
            qi += len;
            last_aligned = r - 1;
            v->q_aln_end = qi;
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
            for (int i = 0; i < len; i++) {
                v->base[r + i] = -1;
                v->qpos[r + i] = qi;
            }
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
/* Reads of one non-reference base at one position of one sample (pass 1). */
typedef struct alt_count {
    int64_t p;         /* offset in the region */
    int8_t b;
    int32_t n;
} alt_count_t;

typedef struct sample_scan {
    uint8_t *altmask;  /* region length: bit b set when base b qualifies as an SNV candidate */
    int64_t n_alt;     /* every non-reference base seen, by position */
    alt_count_t *alt;
    uint16_t *depth;   /* region length: counted bases (saturating) */
    int n_ev;          /* indel events seen, sorted, distinct, with their read counts and depth */
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
    int64_t m_alt = 0;
    for (int64_t p = 0; s == TSR_OK && p < L; p++) {
        int rb = seq_nt16_int[seq_nt16_table[(unsigned char)ref_seq[p]]];
        int dp = out->depth[p];
        for (int b = 0; b < 4 && rb < 4; b++) {
            int n = c.cnt[p * 4 + b];
            if (b == rb || n == 0)
                continue;
            if (n >= o->min_alt_reads && n >= o->min_alt_frac * dp)
                out->altmask[p] |= (uint8_t)(1u << b);
            if (out->n_alt == m_alt) {
                m_alt = m_alt ? 2 * m_alt : 1024;
                alt_count_t *a = realloc(out->alt, (size_t)m_alt * sizeof *a);
                if (!a) {
                    s = tsr_error_set(TSR_ERR_NOMEM, "out of memory scanning %s", path);
                    break;
                }
                out->alt = a;
            }
            out->alt[out->n_alt++] = (alt_count_t){p, (int8_t)b, n};
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
            indel_ev_t *d = &out->ev[out->n_ev++];
            *d = c.all.ev[idx[i]];
            d->n = j - i;
            d->dp = out->depth[d->pos - start];
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
    free(sc->alt);
    free(sc->depth);
    free(sc->ev);
    free(sc->ins);
    memset(sc, 0, sizeof *sc);
}

/* ------------------------------------------------------- candidate sites */

/* One haplotype of an indel site's window: bases at hap_seq[off, off + len); net = inserted - deleted bases. */
typedef struct cand_hap {
    int64_t off;
    int32_t len, net;
} cand_hap_t;

typedef struct cand_site {
    int64_t pos;
    uint8_t kind;
    int n_alt;            /* listed ALT alleles */
    int8_t ref_base;      /* SNV: 0..3 */
    int8_t alt_base[3];   /* SNV */
    int32_t ref_span;     /* indel: bases of REF after the anchor (longest deletion) */
    int64_t ev_first;     /* indel: its ALTs are events [ev_first, ev_first + n_alt) */
    int64_t ws, we;       /* indel: the realignment window [ws, we) on the reference */
    int64_t core_end;     /* indel: reads must overlap [pos, core_end) to be scored */
    int64_t hap_first;    /* indel: haplotypes [hap_first, hap_first + n_alt + 1), REF first */
    double gop;           /* indel: gap-open probability of the pair-HMM at this site */
} cand_site_t;

typedef struct cand_set {
    int64_t n, m;
    cand_site_t *site;
    int64_t n_ev;
    indel_ev_t *ev;       /* ins_off into ins */
    char *ins;
    int64_t n_hap, m_hap, n_hap_seq, m_hap_seq;
    cand_hap_t *hap;
    int8_t *hap_seq;
    int max_alleles;      /* the most alleles (REF, ALTs, <*>) of any site */
} cand_set_t;

static void cand_set_free(cand_set_t *cs)
{
    free(cs->site);
    free(cs->ev);
    free(cs->ins);
    free(cs->hap);
    free(cs->hap_seq);
    memset(cs, 0, sizeof *cs);
}

static int cand_push(cand_set_t *cs, const cand_site_t *s)
{
    if (tsr_array_grow((void **)&cs->site, &cs->m, cs->n + 1, sizeof *cs->site) < 0)
        return -1;
    cs->site[cs->n++] = *s;
    if (s->n_alt + 2 > cs->max_alleles)
        cs->max_alleles = s->n_alt + 2;
    return 0;
}

static int8_t base_code(char c)
{
    int b = seq_nt16_int[seq_nt16_table[(unsigned char)c]];
    return (int8_t)(b > 3 ? 4 : b);
}

/*
 * Where an event's allele stops being ambiguous: the event slides right
 * while the shifted sequence is the same (a deletion while ref[p+1+k] ==
 * ref[p+1+del+k], an insertion while ref[p+1+k] repeats the inserted bases).
 * Returns the slide length k; the affected reference is [pos+1, pos+1+del+k).
 */
static int64_t ev_slide(const indel_ev_t *e, const char *ins, const ref_span_t *ref)
{
    int64_t p = e->pos - ref->start, k = 0;
    if (e->del > 0) {
        while (p + 1 + e->del + k < ref->len && ref->seq[p + 1 + k] == ref->seq[p + 1 + e->del + k])
            k++;
    } else {
        while (p + 1 + k < ref->len && ref->seq[p + 1 + k] == ins[e->ins_off + k % e->ins_len])
            k++;
    }
    return k;
}

/* Append the window's haplotype with event e (NULL: REF) to the site's haplotypes. */
static int hap_push(cand_set_t *cs, const cand_site_t *s, const indel_ev_t *e, const ref_span_t *ref)
{
    int64_t need = s->we - s->ws + (e ? e->ins_len : 0);
    if (cs->n_hap == cs->m_hap) {
        int64_t m = cs->m_hap ? 2 * cs->m_hap : 64;
        cand_hap_t *p = realloc(cs->hap, (size_t)m * sizeof *p);
        if (!p)
            return -1;
        cs->hap = p;
        cs->m_hap = m;
    }
    if (cs->n_hap_seq + need > cs->m_hap_seq) {
        int64_t m = (cs->n_hap_seq + need) * 2 + 1024;
        int8_t *p = realloc(cs->hap_seq, (size_t)m);
        if (!p)
            return -1;
        cs->hap_seq = p;
        cs->m_hap_seq = m;
    }
    cand_hap_t *h = &cs->hap[cs->n_hap++];
    h->off = cs->n_hap_seq;
    int8_t *o = cs->hap_seq + h->off;
    int64_t n = 0;
    for (int64_t x = s->ws; x < s->we; x++) {
        if (e && x > s->pos && x <= s->pos + e->del)
            continue;
        o[n++] = base_code(ref->seq[x - ref->start]);
        if (e && x == s->pos)
            for (int i = 0; i < e->ins_len; i++)
                o[n++] = base_code(cs->ins[e->ins_off + i]);
    }
    h->len = (int32_t)n;
    h->net = e ? e->ins_len - e->del : 0;
    cs->n_hap_seq += n;
    return 0;
}

#define TSR_CALL_FLANK 12           /* reference bases on each side of an indel's ambiguous stretch */
#define TSR_CALL_GOP_PER_UNIT 3.0   /* gap-open phred lost per extra repeat unit at the site */
#define TSR_CALL_GOP_MIN_Q 20.0     /* ... down to this */

/*
 * The realignment window and haplotypes of an indel site: [pos + 1 - flank,
 * end of the longest ambiguous stretch + flank), clipped to the reference;
 * the gap-open penalty falls with the number of repeat units the events
 * sit in (slide + length) / length, since polymerase slippage grows with them.
 */
static int indel_site_prepare(cand_set_t *cs, cand_site_t *s, const ref_span_t *ref, const tsr_call_opts_t *o)
{
    int64_t core_end = s->pos + 1;
    int64_t units = 1;
    for (int k = 0; k < s->n_alt; k++) {
        const indel_ev_t *e = &cs->ev[s->ev_first + k];
        int64_t len = e->del > 0 ? e->del : e->ins_len, slide = ev_slide(e, cs->ins, ref);
        int64_t end = s->pos + 1 + e->del + slide;
        if (end > core_end)
            core_end = end;
        if ((slide + len) / len > units)
            units = (slide + len) / len;
    }
    int64_t lim = ref->start + ref->len;
    s->core_end = core_end < lim ? core_end : lim;
    s->ws = s->pos + 1 - TSR_CALL_FLANK > ref->start ? s->pos + 1 - TSR_CALL_FLANK : ref->start;
    s->we = core_end + TSR_CALL_FLANK < lim ? core_end + TSR_CALL_FLANK : lim;
    double q = -10.0 * log10(o->indel_error) - TSR_CALL_GOP_PER_UNIT * (double)(units - 1);
    if (q < TSR_CALL_GOP_MIN_Q)
        q = TSR_CALL_GOP_MIN_Q;
    s->gop = pow(10.0, -q / 10.0);
    s->hap_first = cs->n_hap;
    if (hap_push(cs, s, NULL, ref) < 0)
        return -1;
    for (int k = 0; k < s->n_alt; k++)
        if (hap_push(cs, s, &cs->ev[s->ev_first + k], ref) < 0)
            return -1;
    return 0;
}

/*
 * Union of the samples' candidates into sites sorted by (pos, kind). An
 * indel event is a candidate when one sample shows it in >= min_indel_reads
 * reads (and min_indel_frac of its depth there), or when the batch does in
 * sum (and min_indel_frac of the summed depth of the samples showing it):
 * indel errors are rare enough that two reads of one event in two samples
 * are worth genotyping, which low-coverage cohorts need.
 */
static tsr_status_t candidates_build(const sample_scan_t *sc, int n_samples, const ref_span_t *ref, int64_t end,
                                     const tsr_call_opts_t *o, cand_set_t *cs)
{
    int64_t start = ref->start, L = end - start;
    const char *ref_seq = ref->seq;
    memset(cs, 0, sizeof *cs);
    /* all samples' events, with their bases in one pool */
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
    /* distinct events: 2 = one sample qualifies, 1 = the batch does in sum, 0 = neither */
    uint8_t *grade = malloc((size_t)ne + 1);
    if (!grade) {
        free(ev);
        free(idx);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory collecting candidate sites");
    }
    int64_t nd = 0;
    for (int64_t i = 0; i < ne;) {
        int64_t j = i;
        int64_t sum_n = 0, sum_dp = 0;
        int one = 0;
        for (; j < ne && ev_cmp(&ev[idx[i]], cs->ins, &ev[idx[j]], cs->ins) == 0; j++) {
            const indel_ev_t *e = &ev[idx[j]];
            one |= e->n >= o->min_indel_reads && e->n >= o->min_indel_frac * (e->dp > e->n ? e->dp : e->n);
            sum_n += e->n;
            sum_dp += e->dp > e->n ? e->dp : e->n;
        }
        idx[nd] = idx[i];
        grade[nd++] = one ? 2 : (sum_n >= o->min_indel_reads && sum_n >= o->min_indel_frac * (double)sum_dp);
        i = j;
    }
    /*
     * A batch-sum insertion is not taken next to a sample-qualified insertion
     * of the same anchor and length: reads that differ from it only in the
     * inserted bases are far likelier its sequencing errors than a second
     * allele seen once per sample.
     */
    for (int64_t i = 0; i < nd; i++) {
        const indel_ev_t *e = &ev[idx[i]];
        int keep = grade[i] == 2;
        if (grade[i] == 1) { /* the events of one anchor are contiguous */
            keep = 1;
            int64_t k = i;
            while (k > 0 && ev[idx[k - 1]].pos == e->pos)
                k--;
            for (; k < nd && ev[idx[k]].pos == e->pos && keep; k++)
                keep = !(grade[k] == 2 && e->ins_len > 0 && ev[idx[k]].ins_len == e->ins_len);
        }
        if (keep)
            cs->ev[cs->n_ev++] = *e;
    }
    free(grade);
    free(ev);
    free(idx);

    /* batch sums of each non-reference base and of the depth */
    int32_t *pool_alt = calloc((size_t)(L ? L : 1) * 4, sizeof *pool_alt);
    int32_t *pool_dp = calloc((size_t)(L ? L : 1), sizeof *pool_dp);
    if (!pool_alt || !pool_dp) {
        free(pool_alt);
        free(pool_dp);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory collecting candidate sites");
    }
    for (int i = 0; i < n_samples; i++) {
        for (int64_t k = 0; k < sc[i].n_alt; k++)
            pool_alt[sc[i].alt[k].p * 4 + sc[i].alt[k].b] += sc[i].alt[k].n;
        for (int64_t p = 0; p < L; p++)
            pool_dp[p] += sc[i].depth[p];
    }
    int64_t e = 0;
    tsr_status_t st = TSR_OK;
    for (int64_t p = 0; p < L && st == TSR_OK; p++) {
        uint8_t mask = 0;
        for (int i = 0; i < n_samples; i++)
            mask |= sc[i].altmask[p];
        for (int b = 0; b < 4; b++)
            if (pool_alt[p * 4 + b] >= o->min_pool_alt_reads && pool_alt[p * 4 + b] >= o->min_pool_alt_frac * pool_dp[p])
                mask |= (uint8_t)(1u << b);
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
                st = tsr_error_set(TSR_ERR_NOMEM, "out of memory collecting candidate sites");
        }
        if (st == TSR_OK && e < cs->n_ev && cs->ev[e].pos == start + p) {
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
            if (indel_site_prepare(cs, &s, ref, o) < 0 || cand_push(cs, &s) < 0)
                st = tsr_error_set(TSR_ERR_NOMEM, "out of memory collecting candidate sites");
        }
    }
    free(pool_alt);
    free(pool_dp);
    return st;
}

/* ------------------------------------------------------------- pair-HMM */

/* Scratch rows of the banded pair-HMM (two rows of M, I, D). */
typedef struct phmm_buf {
    double *row;
    int cap;
} phmm_buf_t;

#define TSR_PHMM_GAP_EXT 0.1 /* gap extension probability */

/*
 * log10 P(read | hap) under a pair-HMM with match, insertion and deletion
 * states: the whole read aligned to any stretch of the haplotype (free
 * start and end, weight 1 each), base-quality emissions (1-e on a match,
 * e/3 on a mismatch, 1/4 for an inserted base), gap open `gop`, extension
 * TSR_PHMM_GAP_EXT. Only cells with diagonal j - i in [dlo, dhi] are
 * computed (the band around the read's placement; callers give every
 * haplotype of a site the same band width, so the start weights weigh
 * alike). Rows are rescaled to stay clear of underflow. Writes the log10
 * likelihood to *out; returns 0, or -1 on out of memory.
 */
static int phmm_loglik(const int8_t *rd, const uint8_t *q, int n, const int8_t *hap, int m, int dlo, int dhi,
                       double gop, phmm_buf_t *b, double *out)
{
    int W = dhi - dlo + 1;
    if (6 * (W + 2) > b->cap) {
        int c = 6 * (W + 2) * 2;
        double *r = realloc(b->row, (size_t)c * sizeof *r);
        if (!r)
            return -1;
        b->row = r;
        b->cap = c;
    }
    double *Mp = b->row, *Ip = Mp + W + 2, *Dp = Ip + W + 2, *Mc = Dp + W + 2, *Ic = Mc + W + 2, *Dc = Ic + W + 2;
    const double mm = 1 - 2 * gop, gm = 1 - TSR_PHMM_GAP_EXT, ge = TSR_PHMM_GAP_EXT;
    /* row 0: the read may start after any haplotype base j in [0, m) */
    for (int k = 0; k < W + 2; k++) {
        int j = dlo + k;
        Mp[k] = (k < W && j >= 0 && j < m) ? 1.0 : 0.0;
        Ip[k] = Dp[k] = 0;
    }
    double lsc = 0;
    for (int i = 1; i <= n; i++) {
        double e = pow(10.0, -q[i - 1] / 10.0);
        e = e < 1e-5 ? 1e-5 : (e > 0.75 ? 0.75 : e);
        int8_t rb = rd[i - 1];
        double mx = 0;
        for (int k = 0; k < W; k++) {
            int j = i + dlo + k; /* hap base j (1-based) */
            if (j < 1 || j > m) {
                Mc[k] = Ic[k] = Dc[k] = 0;
                continue;
            }
            int8_t hb = hap[j - 1];
            double em = (rb > 3 || hb > 3) ? 0.25 : (rb == hb ? 1 - e : e / 3);
            Mc[k] = em * (mm * Mp[k] + gm * (Ip[k] + Dp[k]));
            Ic[k] = 0.25 * (gop * Mp[k + 1] + ge * Ip[k + 1]);
            Dc[k] = k > 0 ? gop * Mc[k - 1] + ge * Dc[k - 1] : 0;
            double v = Mc[k] > Ic[k] ? Mc[k] : Ic[k];
            if (Dc[k] > v)
                v = Dc[k];
            if (v > mx)
                mx = v;
        }
        Mc[W] = Ic[W] = Dc[W] = Mc[W + 1] = Ic[W + 1] = Dc[W + 1] = 0;
        if (mx > 0 && mx < 1e-100) {
            for (int k = 0; k < W; k++) {
                Mc[k] *= 1e100;
                Ic[k] *= 1e100;
                Dc[k] *= 1e100;
            }
            lsc += 100;
        }
        double *t;
        t = Mp, Mp = Mc, Mc = t;
        t = Ip, Ip = Ic, Ic = t;
        t = Dp, Dp = Dc, Dc = t;
    }
    double sum = 0;
    for (int k = 0; k < W; k++)
        sum += Mp[k] + Ip[k];
    *out = sum > 0 ? log10(sum) - lsc : -1000.0;
    return 0;
}

/* ------------------------------------------------------------------ pass 2 */

/* One base of a fragment at a biallelic SNV site (pass 2), for read-backed phase. */
typedef struct phase_obs {
    uint64_t frag;
    int64_t si;
    double e;      /* the base's error probability */
    int8_t allele; /* 0 REF, 1 ALT */
} phase_obs_t;

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
    double *ll;           /* per-allele log10 likelihoods of the current read (max_alleles) */
    phmm_buf_t hmm;
    int64_t *skip;        /* the current read's windows [skip[2k], skip[2k+1]) that are not SNV evidence */
    int n_skip, m_skip;
    int is_rev;           /* strand of the current read */
    phase_obs_t *obs;     /* read-backed phase: the sample's REF/ALT bases at biallelic SNV sites */
    int64_t n_obs, m_obs;
} pass2_ctx_t;

static double clamp_err(double e) { return e < 1e-6 ? 1e-6 : (e > 0.75 ? 0.75 : e); }

/* Least log10 likelihood gap between a read's best allele and the next for the read to count in AD. */
#define TSR_CALL_AD_MIN_LOG10 0.5

/*
 * Add one read to a site: ll[a] = log10 P(read | allele a) for the n
 * alleles; its genotype likelihoods log10(P(r|a)/2 + P(r|b)/2) go into GL,
 * and the read counts toward the AD (and strand) of its best allele when
 * that one beats the next by TSR_CALL_AD_MIN_LOG10.
 */
static void add_read_lik(pass2_ctx_t *c, int64_t si, int n, const double *ll)
{
    double *gl = c->out->gl + c->gl_off[si];
    double top = ll[0];
    int best = 0;
    for (int a = 1; a < n; a++)
        if (ll[a] > top) {
            top = ll[a];
            best = a;
        }
    double second = -INFINITY;
    for (int a = 0; a < n; a++)
        if (a != best && ll[a] > second)
            second = ll[a];
    for (int b = 0; b < n; b++)
        for (int a = 0; a <= b; a++)
            gl[tsr_gt_index(a, b)] += top + log10(0.5 * pow(10.0, ll[a] - top) + 0.5 * pow(10.0, ll[b] - top));
    if (top - second >= TSR_CALL_AD_MIN_LOG10) {
        c->out->ad[c->ad_off[si] + best]++;
        c->out->sb[2 * (c->ad_off[si] + best) + c->is_rev]++;
    }
    c->out->dp[si]++;
}

/*
 * Score one read at an indel site: the read's bases over the window against
 * each haplotype (REF, ALTs) with the pair-HMM; <*> (any other indel allele)
 * is one gap open better than the best listed allele when the read has an
 * event in the window that matches none of them, one gap open worse
 * otherwise. Differences are capped at the read's MAPQ. Returns 0 when the
 * read does not overlap the site's core, 1 when scored, -1 on out of memory.
 */
static int indel_read_lik(pass2_ctx_t *c, const cand_site_t *s, const read_view_t *v, int *own_allele)
{
    const cand_set_t *cs = c->cs;
    if (v->rstart > s->pos || v->rend < s->core_end || s->pos < v->skip_before)
        return 0;
    int64_t lo = v->rstart > s->ws ? v->rstart : s->ws, hi = v->rend < s->we ? v->rend : s->we;
    int qa = v->qpos[lo - v->rstart], qb = hi == v->rend ? v->q_aln_end : v->qpos[hi - v->rstart];
    if (qb <= qa)
        return 0;
    int own = 0, unlisted = 0, carried = 0;
    for (int i = 0; i < v->n_ev; i++) {
        const indel_ev_t *e = &v->ev[i];
        if (e->pos < lo - 1 || e->pos >= hi)
            continue;
        own += e->del + e->ins_len;
        if (e->pos < s->pos || e->pos >= s->core_end)
            continue;
        int hit = 0;
        for (int k = 0; k < s->n_alt && !hit; k++) {
            const indel_ev_t *a = &cs->ev[s->ev_first + k];
            hit = a->pos == e->pos && a->del == e->del && a->ins_len == e->ins_len &&
                  (e->ins_len == 0 || memcmp(cs->ins + a->ins_off, v->ins + e->ins_off, (size_t)e->ins_len) == 0);
            if (hit)
                carried = carried ? -1 : k + 1;
        }
        unlisted |= !hit;
    }
    int n = s->n_alt + 2, max_net = 0;
    *own_allele = unlisted || carried < 0 ? n - 1 : carried;
    for (int a = 1; a < n - 1; a++) {
        int net = cs->hap[s->hap_first + a].net;
        if ((net < 0 ? -net : net) > max_net)
            max_net = net < 0 ? -net : net;
    }
    int band = 4 + own + max_net;
    double *ll = c->ll;
    for (int a = 0; a < n - 1; a++) {
        const cand_hap_t *h = &cs->hap[s->hap_first + a];
        /* hap index (0-based) where the read's first base should sit */
        int64_t x = lo, j0;
        if (x <= s->pos)
            j0 = x - s->ws;
        else if (a > 0 && x <= s->pos + cs->ev[s->ev_first + a - 1].del)
            j0 = s->pos + 1 - s->ws + cs->ev[s->ev_first + a - 1].ins_len;
        else
            j0 = x - s->ws + h->net;
        if (phmm_loglik(v->qseq + qa, v->qqual + qa, qb - qa, cs->hap_seq + h->off, h->len, (int)j0 - band,
                        (int)j0 + band, s->gop, &c->hmm, &ll[a]) < 0)
            return -1;
    }
    double top = ll[0];
    for (int a = 1; a < n - 1; a++)
        if (ll[a] > top)
            top = ll[a];
    double g = -log10(s->gop);
    ll[n - 1] = unlisted ? top + g : top - g;
    if (ll[n - 1] > top)
        top = ll[n - 1];
    double cap = v->mapq / 10.0;
    for (int a = 0; a < n; a++)
        if (ll[a] < top - cap)
            ll[a] = top - cap;
    return 1;
}

static int pass2_read(void *vctx, const read_view_t *v)
{
    pass2_ctx_t *c = vctx;
    const cand_set_t *cs = c->cs;
    /* first site at or after the read's start (an indel site needs the read to cover its anchor) */
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
    /*
     * Indel sites first: where the read's best haplotype is not the one its
     * CIGAR shows (an indel near its end written as mismatches, or a
     * spurious gap), its bases over that window are misplaced, so they are
     * no SNV evidence.
     */
    c->n_skip = 0;
    for (int64_t si = lo; si < cs->n && cs->site[si].pos < v->rend; si++) {
        const cand_site_t *s = &cs->site[si];
        if (s->kind != TSR_SITE_INDEL || s->pos < v->skip_before)
            continue;
        int own = 0, r = indel_read_lik(c, s, v, &own);
        if (r < 0)
            return -1;
        if (r == 0)
            continue;
        int n = s->n_alt + 2, best = 0;
        for (int a = 1; a < n; a++)
            if (c->ll[a] > c->ll[best])
                best = a;
        if (best != own && c->ll[best] - c->ll[own] >= TSR_CALL_AD_MIN_LOG10) {
            if (c->n_skip == c->m_skip) {
                int m = c->m_skip ? 2 * c->m_skip : 8;
                int64_t *p = realloc(c->skip, (size_t)m * 2 * sizeof *p);
                if (!p)
                    return -1;
                c->skip = p;
                c->m_skip = m;
            }
            c->skip[2 * c->n_skip] = s->ws;
            c->skip[2 * c->n_skip + 1] = s->we;
            c->n_skip++;
        }
        add_read_lik(c, si, n, c->ll);
    }
    for (int64_t si = lo; si < cs->n && cs->site[si].pos < v->rend; si++) {
        const cand_site_t *s = &cs->site[si];
        if (s->kind != TSR_SITE_SNV || s->pos < v->skip_before)
            continue;
        int misplaced = 0;
        for (int k = 0; k < c->n_skip && !misplaced; k++)
            misplaced = s->pos >= c->skip[2 * k] && s->pos < c->skip[2 * k + 1];
        if (misplaced)
            continue;
        int na = s->n_alt + 2;
        int b = v->base[s->pos - v->rstart];
        int q = v->qual[s->pos - v->rstart];
        if (b < 0 || b > 3 || q < c->o->min_baseq)
            continue;
        double e = pow(10.0, -q / 10.0);
        e = clamp_err(e > e_mapq ? e : e_mapq);
        int obs = na - 1;
        if (b == s->ref_base)
            obs = 0;
        for (int k = 0; k < s->n_alt; k++)
            if (b == s->alt_base[k])
                obs = k + 1;
        double l_hit = log10(1 - e), l_miss = log10(e / 3);
        for (int a = 0; a < na; a++)
            c->ll[a] = a == obs ? l_hit : l_miss;
        add_read_lik(c, si, na, c->ll);
        if (s->n_alt == 1 && obs <= 1 && c->o->phase_weight > 0) {
            if (tsr_array_grow((void **)&c->obs, &c->m_obs, c->n_obs + 1, sizeof *c->obs) < 0)
                return -1;
            c->obs[c->n_obs++] = (phase_obs_t){v->frag, si, e, (int8_t)obs};
        }
    }
    return 0;
}

/* ------------------------------------------------------ read-backed phase */

/*
 * Read-backed phase (per sample, after pass 2). A fragment that carries a
 * base at a biallelic SNV site x and at a site y where the sample is
 * confidently heterozygous (an anchor) tells which haplotype its x base came
 * from. If x is heterozygous, the fragments' x alleles follow y's haplotypes
 * (cis: ALT with ALT, or trans); if x is homozygous they carry no such
 * pattern, and pass 2's per-read model, which treats every read as an
 * independent draw from the genotype, is exact. So only the het likelihood
 * of x changes, by the factor
 *   F = w * (L_cis / 2 + L_trans / 2) / L_ind + (1 - w),
 *   L_cis   = prod_f (P(x_f | ALT) P(y_f | ALT) + P(x_f | REF) P(y_f | REF)) / 2,
 *   L_trans = the same with y's alleles swapped,
 *   L_ind   = prod_f (P(x_f | ALT) + P(x_f | REF)) / 2 * (P(y_f | ALT) + P(y_f | REF)) / 2,
 * over the fragments f with a REF or ALT base at both sites; w (phase_weight)
 * is the belief that the anchor's het call is real, so one wrong anchor costs
 * at most log10(1 - w). Two matching sequencing errors on reads of both
 * haplotypes lose the het support they had; a true singleton whose ALT reads
 * share a haplotype gains up to a factor 2 per fragment. Each x uses the one
 * anchor with the most shared fragments (ties: the first), anchors are judged
 * on pass 2's likelihoods (het at least TSR_PHASE_ANCHOR_LOG10 above every
 * other genotype), and phase does not feed back into them.
 */
#define TSR_PHASE_ANCHOR_LOG10 1.0

/* A fragment's bases at x (a target site) and y (an anchor). */
typedef struct phase_pair {
    int64_t x, y;
    uint64_t frag;
    double px_alt, px_ref, py_alt, py_ref; /* P(observed base | allele) */
} phase_pair_t;

static int cmp_u64(uint64_t a, uint64_t b) { return a < b ? -1 : a > b; }
static int cmp_i64(int64_t a, int64_t b) { return a < b ? -1 : a > b; }
static int cmp_dbl(double a, double b) { return a < b ? -1 : a > b; }

/* Full orders (name-hash collisions included), so the sums below run in one order. */
static int phase_obs_cmp(const void *pa, const void *pb)
{
    const phase_obs_t *a = pa, *b = pb;
    int r = cmp_u64(a->frag, b->frag);
    if (!r)
        r = cmp_i64(a->si, b->si);
    if (!r)
        r = a->allele - b->allele;
    return r ? r : cmp_dbl(a->e, b->e);
}

static int phase_pair_cmp(const void *pa, const void *pb)
{
    const phase_pair_t *a = pa, *b = pb;
    int r = cmp_i64(a->x, b->x);
    if (!r)
        r = cmp_i64(a->y, b->y);
    if (!r)
        r = cmp_u64(a->frag, b->frag);
    if (!r)
        r = cmp_dbl(a->px_alt, b->px_alt);
    return r ? r : cmp_dbl(a->py_alt, b->py_alt);
}

/* log10(10^a + 10^b) */
static double log10_add(double a, double b)
{
    double hi = a > b ? a : b, lo = a > b ? b : a;
    return hi + log10(1 + pow(10.0, lo - hi));
}

/* The het factor of x from pairs [p, p + n) sharing one anchor. */
static double phase_het_log10(const phase_pair_t *p, int64_t n, double w)
{
    double lc = 0, lt = 0, li = 0;
    for (int64_t k = 0; k < n; k++) {
        lc += log10(0.5 * (p[k].px_alt * p[k].py_alt + p[k].px_ref * p[k].py_ref));
        lt += log10(0.5 * (p[k].px_alt * p[k].py_ref + p[k].px_ref * p[k].py_alt));
        li += log10(0.25 * (p[k].px_alt + p[k].px_ref) * (p[k].py_alt + p[k].py_ref));
    }
    double f = log10_add(lc, lt) + log10(0.5) - li;
    return log10_add(log10(w) + f, log10(1 - w));
}

/* Apply read-backed phase to one sample's het likelihoods (c->obs, c->out); -1 on out of memory. */
static int phase_apply(pass2_ctx_t *c)
{
    const cand_set_t *cs = c->cs;
    if (c->n_obs < 2)
        return 0;
    int g_het = tsr_gt_index(0, 1);
    uint8_t *anchor = calloc((size_t)cs->n, 1);
    if (!anchor)
        return -1;
    for (int64_t si = 0; si < cs->n; si++) {
        const cand_site_t *s = &cs->site[si];
        if (s->kind != TSR_SITE_SNV || s->n_alt != 1)
            continue;
        const double *gl = c->out->gl + c->gl_off[si];
        int ok = 1;
        for (int g = 0; g < 6 && ok; g++) /* REF, ALT, <*>: 6 genotypes */
            ok = g == g_het || gl[g_het] - gl[g] >= TSR_PHASE_ANCHOR_LOG10;
        anchor[si] = (uint8_t)ok;
    }
    qsort(c->obs, (size_t)c->n_obs, sizeof *c->obs, phase_obs_cmp);
    phase_pair_t *pair = NULL;
    int64_t n_pair = 0, m_pair = 0;
    int rc = 0;
    for (int64_t a = 0, b; a < c->n_obs && rc == 0; a = b) {
        for (b = a + 1; b < c->n_obs && c->obs[b].frag == c->obs[a].frag; b++)
            ;
        for (int64_t i = a; i < b && rc == 0; i++)
            for (int64_t k = a; k < b; k++) {
                const phase_obs_t *x = &c->obs[i], *y = &c->obs[k];
                if (!anchor[y->si] || y->si == x->si)
                    continue;
                if (tsr_array_grow((void **)&pair, &m_pair, n_pair + 1, sizeof *pair) < 0) {
                    rc = -1;
                    break;
                }
                double hx = 1 - x->e, mx = x->e / 3, hy = 1 - y->e, my = y->e / 3;
                pair[n_pair++] = (phase_pair_t){x->si, y->si, x->frag, x->allele ? hx : mx, x->allele ? mx : hx,
                                                y->allele ? hy : my, y->allele ? my : hy};
            }
    }
    if (rc == 0 && n_pair > 0) {
        qsort(pair, (size_t)n_pair, sizeof *pair, phase_pair_cmp);
        for (int64_t a = 0, b; a < n_pair; a = b) {
            for (b = a + 1; b < n_pair && pair[b].x == pair[a].x; b++)
                ;
            int64_t best = a, best_n = 0;
            for (int64_t u = a, v; u < b; u = v) {
                for (v = u + 1; v < b && pair[v].y == pair[u].y; v++)
                    ;
                if (v - u > best_n) {
                    best = u;
                    best_n = v - u;
                }
            }
            c->out->gl[c->gl_off[pair[a].x] + g_het] += phase_het_log10(pair + best, best_n, c->o->phase_weight);
        }
    }
    free(pair);
    free(anchor);
    return rc;
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
    c.ll = malloc((size_t)(j->cs->max_alleles + 1) * sizeof *c.ll);
    if (!c.ll)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory calling %s", j->paths[i]);
    if (s == TSR_OK && j->cs->n > 0)
        s = walk_sample(j->paths[i], j->contig, j->start, j->end, &rs, j->o, &v, pass2_read, &c);
    if (s == TSR_OK && phase_apply(&c) < 0)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory phasing the reads of %s", j->paths[i]);
    free(c.obs);
    read_view_free(&v);
    free(c.ll);
    free(c.hmm.row);
    free(c.skip);
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
    {
        ref_span_t rs = {ref_seq, start, ref_len};
        if (s == TSR_OK)
            s = candidates_build(j.scan, n_samples, &rs, end, o, &cs);
    }
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
