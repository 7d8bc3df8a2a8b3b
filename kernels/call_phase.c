/*
 * call_phase.c - read-backed phase of the call kernel, per sample after
 * pass 2 (the model below and in kernels/README.md): the het likelihood of
 * a biallelic SNV is re-weighed by how well its fragments' bases follow the
 * haplotypes of a confident het SNV of the same sample.
 */
#include "io/io.h"
#include "kernels/call_internal.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
int tsr_call_phase_apply(pass2_ctx_t *c)
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
