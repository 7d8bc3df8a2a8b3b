/*
 * population.c - variant sites, population allele frequencies and
 * genotypes, all from the variants stream.
 *
 * Model:
 *  - Candidate sites form a Poisson process along the contig. Each draws an
 *    ancestral ALT (derived) allele frequency p from the neutral spectrum,
 *    density proportional to 1/p on [1/(2N), 1-1/(2N)] with N = max(10000,
 *    10*samples). Only sites polymorphic in the simulated samples are kept, so
 *    the candidate density theta*ln((1-1/(2N))/(1/(2N))) gives about
 *    theta * a_n * length kept sites (Watterson: a_n = sum_{i<2n} 1/i), and the
 *    sample spectrum falls off as 1/i.
 *  - K populations (samples in contiguous blocks: sample i belongs to
 *    population floor(i*K/n)) draw their frequencies from Balding-Nichols,
 *    Beta(p(1-F)/F, (1-p)(1-F)/F); F = 0 gives every population p.
 *    Genotypes are two independent haplotype draws (HWE within a population).
 *  - indel_fraction of the sites are indels: deletion or insertion with equal
 *    odds, length 1-20 from a geometric distribution (q = 0.45, redrawn above
 *    20); half of the insertions duplicate the following bases (tandem
 *    duplications), the rest are random bases. Indels are left-aligned at
 *    once (the padding base stays in the VCF sense) and every later step uses
 *    the left-aligned form.
 *  - multiallelic_fraction of the kept SNV sites get a second ALT base with
 *    ancestral frequency p2 (density 1/p on [1/(2n'), (1-p1)/2], 2n' = haplotypes
 *    in the sample), population frequencies from Balding-Nichols, and the
 *    haplotypes that do not carry ALT1 carry ALT2 with probability
 *    q2/(1-q1), i.e. the categorical draw from both frequencies; redrawn (up to
 *    20 times) until ALT2 is seen, else the site stays biallelic.
 *  - Spacing rule: each variant covers the whole stretch its allele can slide
 *    along (an indel in a homopolymer covers the homopolymer); stretches of two
 *    kept variants are at least 10 bp apart, so variants never overlap, never
 *    share a repeat, and nearby variants (10-30 bp) still occur. No variant
 *    touches an N (REF, padding base and slide stretch are N-free).
 */
#include "io/simulate/simulate_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SIM_MIN_GAP 10
#define SIM_INDEL_MAX 20

int tsr_sim_sample_pop(int i, int n, int k) { return (int)((int64_t)i * k / n); }

static int sim_has_n(const char *s, int64_t a, int64_t b)
{
    for (int64_t i = a; i < b; i++)
        if (s[i] == 'N')
            return 1;
    return 0;
}

static char sim_transition(char c)
{
    switch (c) {
    case 'A': return 'G';
    case 'G': return 'A';
    case 'C': return 'T';
    default: return 'C';
    }
}

/* The two transversions of c, in a fixed order. */
static void sim_transversions(char c, char tv[2])
{
    if (c == 'A' || c == 'G') {
        tv[0] = 'C';
        tv[1] = 'T';
    } else {
        tv[0] = 'A';
        tv[1] = 'G';
    }
}

/* Frequency from density 1/p on [lo, hi]. */
static double sim_draw_log_uniform(tsr_sim_rng_t *r, double lo, double hi)
{
    return lo * exp(log(hi / lo) * tsr_sim_rng_unif(r));
}

static double sim_balding_nichols(tsr_sim_rng_t *r, double p, double F)
{
    if (F <= 0.0)
        return p;
    double k = (1.0 - F) / F;
    return tsr_sim_rng_beta(r, p * k, (1.0 - p) * k);
}

typedef struct sim_site {
    int64_t pos, lo, hi; /* VCF position (0-based) and the slide stretch [lo, hi] */
    int ref_len, n_alt, is_indel;
    char alt[2][SIM_INDEL_MAX + 2];
} sim_site_t;

/* Propose a site at candidate position `c`; returns 0 if it cannot sit there. */
static int sim_site_propose(const tsr_sim_opts_t *o, const tsr_sim_genome_t *g, tsr_sim_rng_t *r, int64_t c,
                            sim_site_t *st)
{
    const char *seq = g->seq;
    int64_t L = g->len;
    memset(st, 0, sizeof *st);
    st->n_alt = 1;
    if (tsr_sim_rng_unif(r) >= o->indel_fraction) {
        char b = seq[c];
        if (b == 'N')
            return 0;
        char tv[2];
        sim_transversions(b, tv);
        double u = tsr_sim_rng_unif(r);
        st->alt[0][0] = u < 2.0 / 3.0 ? sim_transition(b) : tv[u < 5.0 / 6.0 ? 0 : 1];
        st->pos = st->lo = st->hi = c;
        st->ref_len = 1;
        return 1;
    }
    st->is_indel = 1;
    int64_t l;
    do
        l = tsr_sim_rng_geom(r, 0.45);
    while (l > SIM_INDEL_MAX);
    int del = tsr_sim_rng_unif(r) < 0.5;
    int dup = tsr_sim_rng_unif(r) < 0.5;
    if (del) {
        int64_t s = c + 1; /* first deleted base */
        if (s + l + 1 > L || sim_has_n(seq, c, s + l + 1))
            return 0;
        while (s - 1 >= 1 && seq[s - 1] == seq[s + l - 1] && seq[s - 2] != 'N')
            s--;
        int64_t t = s;
        while (t + l < L && seq[t] == seq[t + l])
            t++;
        st->pos = s - 1;
        st->lo = s - 1;
        st->hi = t + l; /* the base after the rightmost deleted stretch */
        st->ref_len = (int)l + 1;
        st->alt[0][0] = seq[s - 1];
        return 1;
    }
    if (c + 1 + l >= L || seq[c] == 'N')
        return 0;
    char ins[SIM_INDEL_MAX + 1];
    if (dup) {
        if (sim_has_n(seq, c + 1, c + 1 + l))
            return 0;
        memcpy(ins, seq + c + 1, (size_t)l);
    } else {
        static const char acgt[4] = {'A', 'C', 'G', 'T'};
        for (int64_t j = 0; j < l; j++)
            ins[j] = acgt[tsr_sim_rng_below(r, 4)];
    }
    int64_t p = c; /* inserted after p */
    while (p >= 1 && seq[p] == ins[l - 1] && seq[p - 1] != 'N') {
        memmove(ins + 1, ins, (size_t)l - 1);
        ins[0] = seq[p];
        p--;
    }
    char rot[SIM_INDEL_MAX + 1];
    memcpy(rot, ins, (size_t)l);
    int64_t q = p;
    while (q + 1 < L && seq[q + 1] == rot[0]) {
        memmove(rot, rot + 1, (size_t)l - 1);
        rot[l - 1] = seq[q + 1];
        q++;
    }
    st->pos = st->lo = p;
    st->hi = q + 1 < L ? q + 1 : L - 1;
    st->ref_len = 1;
    st->alt[0][0] = seq[p];
    memcpy(st->alt[0] + 1, ins, (size_t)l);
    return 1;
}

static tsr_status_t sim_varset_push(tsr_sim_varset_t *vs, int64_t *cap, const sim_site_t *st, const uint8_t *gt)
{
    if (vs->n == *cap) {
        int64_t nc = *cap ? *cap * 2 : 1024;
        tsr_sim_variant_t *nv = realloc(vs->v, (size_t)nc * sizeof *nv);
        if (!nv)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory for %lld variants", (long long)nc);
        vs->v = nv;
        *cap = nc;
    }
    tsr_sim_variant_t *v = &vs->v[vs->n];
    memset(v, 0, sizeof *v);
    v->pos = st->pos;
    v->ref_len = st->ref_len;
    v->n_alt = st->n_alt;
    v->is_indel = st->is_indel;
    size_t ng = (size_t)vs->n_samples * 2;
    v->gt = malloc(ng);
    for (int a = 0; a < st->n_alt; a++)
        v->alt[a] = strdup(st->alt[a]);
    vs->n++; /* counted before the checks so tsr_sim_varset_free releases partial entries */
    if (!v->gt || !v->alt[0] || (st->n_alt > 1 && !v->alt[1]))
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory for variant genotypes");
    memcpy(v->gt, gt, ng);
    return TSR_OK;
}

tsr_status_t tsr_sim_varset_build(const tsr_sim_opts_t *o, const tsr_sim_genome_t *g, tsr_sim_varset_t *vs)
{
    memset(vs, 0, sizeof *vs);
    int n = o->n_samples, K = o->populations;
    vs->n_samples = n;
    vs->n_pops = K;
    vs->sample_pop = calloc((size_t)n, sizeof *vs->sample_pop);
    uint8_t *gt = malloc((size_t)n * 2);
    double *q1 = calloc((size_t)K, sizeof *q1), *q2 = calloc((size_t)K, sizeof *q2);
    tsr_status_t s = TSR_OK;
    if (!vs->sample_pop || !gt || !q1 || !q2) {
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory for %d samples", n);
        goto out;
    }
    for (int i = 0; i < n; i++)
        vs->sample_pop[i] = tsr_sim_sample_pop(i, n, K);

    tsr_sim_rng_t rng;
    tsr_sim_rng_seed(&rng, o->seed, TSR_SIM_STREAM_VARIANTS);
    double nbig = 10.0 * n > 10000.0 ? 10.0 * n : 10000.0;
    double lo = 1.0 / (2.0 * nbig), hi = 1.0 - lo;
    double rate = o->theta * log(hi / lo);
    if (rate > 0.5)
        rate = 0.5;
    double nchrom = 2.0 * n;
    int64_t cap = 0, prev_hi = -SIM_MIN_GAP - 1;
    for (int64_t c = 0;;) {
        c += tsr_sim_rng_geom(&rng, rate);
        if (c >= g->len - 1)
            break;
        sim_site_t st;
        if (!sim_site_propose(o, g, &rng, c, &st) || st.lo < prev_hi + SIM_MIN_GAP)
            continue;
        double p = sim_draw_log_uniform(&rng, lo, hi);
        for (int k = 0; k < K; k++)
            q1[k] = sim_balding_nichols(&rng, p, o->fst);
        int64_t c1 = 0;
        for (int i = 0; i < n; i++)
            for (int h = 0; h < 2; h++) {
                uint8_t a = tsr_sim_rng_unif(&rng) < q1[vs->sample_pop[i]];
                gt[2 * i + h] = a;
                c1 += a;
            }
        if (c1 == 0 || c1 == 2 * (int64_t)n)
            continue; /* monomorphic in the sample (all REF or all ALT): not a variant of this cohort */
        if (!st.is_indel && tsr_sim_rng_unif(&rng) < o->multiallelic_fraction) {
            double top = (1.0 - p) / 2.0, bot = 1.0 / (2.0 * nchrom);
            if (top > bot) {
                double p2 = sim_draw_log_uniform(&rng, bot, top);
                for (int k = 0; k < K; k++) {
                    q2[k] = sim_balding_nichols(&rng, p2, o->fst);
                    if (q1[k] + q2[k] > 1.0)
                        q2[k] = 1.0 - q1[k];
                }
                for (int tries = 0; tries < 20 && st.n_alt == 1; tries++) {
                    int64_t c2 = 0;
                    for (int i = 0; i < n; i++) {
                        int k = vs->sample_pop[i];
                        double cond = q1[k] < 1.0 ? q2[k] / (1.0 - q1[k]) : 0.0;
                        for (int h = 0; h < 2; h++) {
                            int j = 2 * i + h;
                            if (gt[j] == 1)
                                continue;
                            gt[j] = tsr_sim_rng_unif(&rng) < cond ? 2 : 0;
                            c2 += gt[j] == 2;
                        }
                    }
                    if (c2 > 0) {
                        char tv[2], b = g->seq[st.pos], a1 = st.alt[0][0];
                        sim_transversions(b, tv);
                        /* the second ALT: one of the two bases that are neither REF nor ALT1 */
                        char others[2];
                        int m = 0;
                        const char cand[3] = {sim_transition(b), tv[0], tv[1]};
                        for (int x = 0; x < 3; x++)
                            if (cand[x] != a1)
                                others[m++] = cand[x];
                        st.alt[1][0] = others[tsr_sim_rng_below(&rng, 2)];
                        st.n_alt = 2;
                    }
                }
                if (st.n_alt == 1)
                    for (int j = 0; j < 2 * n; j++)
                        gt[j] = gt[j] == 1;
            }
        }
        s = sim_varset_push(vs, &cap, &st, gt);
        if (s != TSR_OK)
            goto out;
        prev_hi = st.hi;
    }
out:
    free(gt);
    free(q1);
    free(q2);
    if (s != TSR_OK)
        tsr_sim_varset_free(vs);
    return s;
}

void tsr_sim_varset_free(tsr_sim_varset_t *vs)
{
    if (!vs)
        return;
    for (int64_t i = 0; i < vs->n; i++) {
        free(vs->v[i].gt);
        free(vs->v[i].alt[0]);
        free(vs->v[i].alt[1]);
    }
    free(vs->v);
    free(vs->sample_pop);
    memset(vs, 0, sizeof *vs);
}
