/*
 * call_pileup.c - the read side of the call kernel (model at the top of
 * kernels/call_region.c): each usable read of a sample as a read view (its
 * aligned bases and qualities by reference position, its query, its indel
 * events left-aligned in repeats), the walk over one sample's reads of a
 * region, and pass 1, which piles the reads up into per-sample base counts,
 * depth and indel events for candidate discovery (kernels/call_candidates.c).
 * Pass 2 walks the same reads again (kernels/call_likelihood.c).
 */
#include "io/io.h"
#include "kernels/call_internal.h"
#include "kernels/kernels.h"
#include "kernels/region_reads_internal.h"

#include <htslib/sam.h>

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ read view */

void tsr_call_read_view_free(read_view_t *v)
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

/*
 * Left-align the read's indel events within repeats (the anchor moves left
 * while the event is the same sequence one base earlier), so one indel in a
 * homopolymer or tandem repeat gets one anchor whichever way the aligner
 * placed it. An event moves only over aligned bases of the read and never
 * past the previous event or the read's start; it may move before the
 * region's start over the `before` reference bases the caller has there
 * (an event that lands before the start belongs to the previous region,
 * which anchors it the same way, and pass 1 drops it here).
 */
static void read_view_left_align(read_view_t *v, const ref_span_t *ref, int64_t before)
{
    int64_t floor = v->rstart;
    for (int i = 0; i < v->n_ev; i++) {
        indel_ev_t *e = &v->ev[i];
        for (;;) {
            int64_t p = e->pos;
            if (p - 1 < floor || p - ref->start < 1 - before || p - ref->start >= ref->len ||
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
    v->q_len = (int32_t)ql;
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

tsr_status_t tsr_call_walk_sample(const char *path, const char *contig, int64_t start, int64_t end,
                                  const ref_span_t *ref, const tsr_call_opts_t *o, read_view_t *v, read_fn fn,
                                  void *ctx)
{
    tsr_region_reads_t *rr = NULL;
    TSR_CALL(tsr_region_reads_open(path, o->ref_path, contig, start, end, o->min_mapq, o->readers, &rr));
    tsr_status_t s = TSR_OK;
    bam1_t *b = NULL;
    int64_t skip_before = INT64_MIN;
    int r;
    while ((r = tsr_region_reads_next(rr, &b, &skip_before)) > 0) {
        if (read_view_fill(v, b) < 0) {
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", path);
            break;
        }
        read_view_left_align(v, ref, o->ref_before);
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

typedef struct pass1_ctx {
    const tsr_call_opts_t *o;
    int64_t start, end, ref_len;
    int32_t *cnt;      /* 4 per position; made at the first read (a region without reads costs no pass over it) */
    int64_t seen_lo, seen_hi; /* the span of positions some read counted at: the only ones the caller scans */
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
    if (lo < hi && !c->cnt && !(c->cnt = calloc((size_t)(c->end - c->start) * 4, sizeof *c->cnt)))
        return -1;
    if (lo < hi && lo < c->seen_lo)
        c->seen_lo = lo;
    if (lo < hi && hi > c->seen_hi)
        c->seen_hi = hi;
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

int tsr_call_ev_cmp(const indel_ev_t *a, const char *ia, const indel_ev_t *b, const char *ib)
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

int tsr_call_ev_idx_cmp(const void *pa, const void *pb, void *vctx)
{
    const ev_sort_t *c = vctx;
    return tsr_call_ev_cmp(&c->ev[*(const int *)pa], c->ins, &c->ev[*(const int *)pb], c->ins);
}

tsr_status_t tsr_call_sample_scan_run(const char *path, const char *contig, int64_t start, int64_t end,
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
    c.seen_lo = end;
    c.seen_hi = start;
    out->depth = calloc((size_t)(L ? L : 1), sizeof *out->depth);
    out->altmask = calloc((size_t)(L ? L : 1), 1);
    c.depth = out->depth;
    read_view_t v;
    memset(&v, 0, sizeof v);
    tsr_status_t s = TSR_OK;
    if (!out->depth || !out->altmask)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory scanning %s", path);
    ref_span_t rs = {ref_seq, start, ref_len};
    if (s == TSR_OK)
        s = tsr_call_walk_sample(path, contig, start, end, &rs, o, &v, pass1_read, &c);
    tsr_call_read_view_free(&v);
    int64_t m_alt = 0;
    for (int64_t p = c.seen_lo - start; s == TSR_OK && p < c.seen_hi - start; p++) {
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
        qsort_r(idx, (size_t)c.all.n_ev, sizeof *idx, tsr_call_ev_idx_cmp, &sc);
        out->ev = malloc(((size_t)c.all.n_ev + 1) * sizeof *out->ev);
        if (!out->ev)
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory scanning %s", path);
        for (int i = 0; s == TSR_OK && i < c.all.n_ev;) {
            int j = i + 1;
            while (j < c.all.n_ev && tsr_call_ev_cmp(&c.all.ev[idx[i]], c.all.ins, &c.all.ev[idx[j]], c.all.ins) == 0)
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
    tsr_call_read_view_free(&c.all);
    return s;
}

void tsr_call_sample_scan_free(sample_scan_t *sc)
{
    free(sc->altmask);
    free(sc->alt);
    free(sc->depth);
    free(sc->ev);
    free(sc->ins);
    memset(sc, 0, sizeof *sc);
}
