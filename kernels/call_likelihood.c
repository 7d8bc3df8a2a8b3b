/*
 * call_likelihood.c - pass 2 of the call kernel (model at the top of
 * kernels/call_region.c): every read of a sample is scored against the
 * candidate sites it covers. Indel sites realign the read's bases over the
 * site's window against each allele's haplotype with a banded pair-HMM;
 * SNV sites use the per-base model, except in a window where the read's
 * best haplotype is not the one its CIGAR shows. Each read adds
 * log10(P(r|a)/2 + P(r|b)/2) to the diploid genotype likelihoods and counts
 * toward AD, strand and DP.
 */
#include "io/io.h"
#include "kernels/call_internal.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- pair-HMM */

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

static double clamp_err(double e) { return e < 1e-6 ? 1e-6 : (e > 0.75 ? 0.75 : e); }

/* Least log10 likelihood gap between a read's best allele and the next for the read to count in AD. */
#define TSR_CALL_AD_MIN_LOG10 0.5

/*
 * Add one read to a site: ll[a] = log10 P(read | allele a) for the n
 * alleles; its genotype likelihoods log10(P(r|a)/2 + P(r|b)/2) go into GL,
 * the read counts toward DP, and, when `count` is set, toward the AD (and
 * strand) of its best allele when that one beats the next by
 * TSR_CALL_AD_MIN_LOG10. A base below --min-baseq (but not below
 * min_gl_baseq) adds to GL and DP only: its quality says how little it
 * weighs, and a sample whose only read there is such a base still gets the
 * genotype its likelihoods give rather than none.
 */
static void add_read_lik(pass2_ctx_t *c, int64_t si, int n, const double *ll, int count)
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
    if (count && top - second >= TSR_CALL_AD_MIN_LOG10) {
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
 * otherwise. Differences are capped at the read's MAPQ. A read that ends
 * (or starts) inside the window brings its soft-clipped bases there too: an
 * aligner often clips, or writes as mismatches, the bases after an indel
 * near a read's end, and the haplotypes place them. *full is 1 when the read
 * covers the anchor and the whole core (its likelihoods are genotype
 * evidence whatever they say), 0 when it only overlaps the window. Returns
 * 0 when the read does not overlap the window, 1 when scored, -1 on out of
 * memory.
 */
static int indel_read_lik(pass2_ctx_t *c, const cand_site_t *s, const read_view_t *v, int *own_allele, int *full)
{
    const cand_set_t *cs = c->cs;
    if (v->rend <= s->ws || v->rstart >= s->we || s->pos < v->skip_before)
        return 0;
    *full = v->rstart <= s->pos && v->rend >= s->core_end;
    /* a partial read tells the alleles apart only if it (soft clips included) reaches into the core */
    if (!*full && (v->rend + (v->q_len - v->q_aln_end) <= s->pos + 1 || v->rstart - v->qpos[0] >= s->core_end))
        return 0;
    int64_t lo = v->rstart > s->ws ? v->rstart : s->ws, hi = v->rend < s->we ? v->rend : s->we;
    int qa = v->qpos[lo - v->rstart], qb = hi == v->rend ? v->q_aln_end : v->qpos[hi - v->rstart];
    int clip_lo = 0;
    if (lo == v->rstart && lo > s->ws) { /* leading soft clip: up to the window's start */
        clip_lo = qa < lo - s->ws ? qa : (int)(lo - s->ws);
        qa -= clip_lo;
    }
    if (hi == v->rend && hi < s->we) { /* trailing soft clip: up to the window's end */
        int64_t room = s->we - hi, tail = v->q_len - qb;
        qb += (int)(tail < room ? tail : room);
    }
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
        j0 -= clip_lo;
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

int tsr_call_pass2_read(void *vctx, const read_view_t *v)
{
    pass2_ctx_t *c = vctx;
    const cand_set_t *cs = c->cs;
    /* first site whose window may reach the read: at or after rstart - max_reach (SNVs: at or after rstart) */
    int64_t lo = 0, hi = cs->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cs->site[mid].pos < v->rstart - cs->max_reach)
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
        int own = 0, full = 0, r = indel_read_lik(c, s, v, &own, &full);
        if (r < 0)
            return -1;
        if (r == 0)
            continue;
        int n = s->n_alt + 2, best = 0;
        for (int a = 1; a < n; a++)
            if (c->ll[a] > c->ll[best])
                best = a;
        double second = -INFINITY;
        for (int a = 0; a < n; a++)
            if (a != best && c->ll[a] > second)
                second = c->ll[a];
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
        /* a read that only overlaps the window is evidence where it tells the alleles apart */
        if (full || c->ll[best] - second >= TSR_CALL_AD_MIN_LOG10)
            add_read_lik(c, si, n, c->ll, 1);
    }
    for (int64_t si = lo; si < cs->n && cs->site[si].pos < v->rend; si++) {
        const cand_site_t *s = &cs->site[si];
        if (s->kind != TSR_SITE_SNV || s->pos < v->skip_before || s->pos < v->rstart)
            continue;
        int misplaced = 0;
        for (int k = 0; k < c->n_skip && !misplaced; k++)
            misplaced = s->pos >= c->skip[2 * k] && s->pos < c->skip[2 * k + 1];
        if (misplaced)
            continue;
        int na = s->n_alt + 2;
        int b = v->base[s->pos - v->rstart];
        int q = v->qual[s->pos - v->rstart];
        if (b < 0 || b > 3 || q < c->o->min_gl_baseq)
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
        add_read_lik(c, si, na, c->ll, q >= c->o->min_baseq);
        if (s->n_alt == 1 && obs <= 1 && c->o->phase_weight > 0) {
            if (tsr_array_grow((void **)&c->obs, &c->m_obs, c->n_obs + 1, sizeof *c->obs) < 0)
                return -1;
            c->obs[c->n_obs++] = (phase_obs_t){v->frag, si, e, (int8_t)obs};
        }
    }
    return 0;
}
