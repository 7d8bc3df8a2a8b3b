/*
 * call_candidates.c - candidate discovery of the call kernel (model at the
 * top of kernels/call_region.c): the union of the batch's pass-1 scans into
 * SNV and indel sites, per sample or pooled over the batch, and for each
 * indel site the realignment window, one haplotype per allele and the
 * repeat-dependent gap-open penalty that pass 2's pair-HMM scores reads
 * against (kernels/call_likelihood.c).
 */
#include "io/io.h"
#include "kernels/call_internal.h"
#include "kernels/kernels.h"

#include <htslib/sam.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------- candidate sites */

void tsr_call_cand_set_free(cand_set_t *cs)
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
    if (s->we - s->pos > cs->max_reach)
        cs->max_reach = s->we - s->pos;
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
tsr_status_t tsr_call_candidates_build(const sample_scan_t *sc, int n_samples, const ref_span_t *ref, int64_t end,
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
    qsort_r(idx, (size_t)ne, sizeof *idx, tsr_call_ev_idx_cmp, &sctx);
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
        for (; j < ne && tsr_call_ev_cmp(&ev[idx[i]], cs->ins, &ev[idx[j]], cs->ins) == 0; j++) {
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
