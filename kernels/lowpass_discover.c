/*
 * lowpass_discover.c - low-pass discovery and frequencies of one region over
 * every batch: the union of the batches' sites and alleles, per-sample
 * genotype likelihoods from the observations (reference observations from
 * the coverage runs), EM allele frequencies under Hardy-Weinberg for the
 * cohort and each population, a likelihood-ratio test for polymorphism ->
 * QUAL, and genotype posteriors with the sample's population frequency as
 * prior -> GT, GQ, GP, DS. Everything is summed per sample in cohort order,
 * so the result does not depend on where batches are cut. A pooled pre-test
 * (lp_pretest) first bounds each site's statistic from the samples with ALT
 * observations and the region's coverage counts, so positions that only
 * sequencing errors explain never reach the per-sample EM (issue 18).
 */
#include "io/io.h"
#include "kernels/lowpass_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TSR_LP_MAX_ALTS 40                                          /* ALTs kept per site */
#define TSR_LP_MAX_G ((TSR_LP_MAX_ALTS + 1) * (TSR_LP_MAX_ALTS + 2) / 2) /* genotypes then */

void tsr_lp_gl_add(double *lgl, int n, int a, double qual, double count)
{
    double e = pow(10.0, -qual / 10.0);
    e = e < 1e-5 ? 1e-5 : e > 0.75 ? 0.75 : e;
    double lm = log(1.0 - e), lx = log(e / 3.0), lh = log(0.5 * (1.0 - e) + 0.5 * e / 3.0);
    for (int c = 0; c < n; c++)
        for (int b = 0; b <= c; b++) {
            double l = (a == b && a == c) ? lm : (a == b || a == c) ? lh : lx;
            lgl[tsr_lp_gt_index(b, c)] += count * l;
        }
}

static void lp_prior(int n, const double *f, double *prior)
{
    for (int c = 0; c < n; c++)
        for (int b = 0; b <= c; b++)
            prior[tsr_lp_gt_index(b, c)] = b == c ? f[b] * f[b] : 2.0 * f[b] * f[c];
}

static int lp_row_informative(const double *row, int G)
{
    for (int g = 1; g < G; g++)
        if (row[g] != row[0])
            return 1;
    return 0;
}

int tsr_lp_em(int ns, int n, const double *gl, int max_iter, double tol, double *freq)
{
    return tsr_lp_em_weighted(ns, n, gl, NULL, max_iter, tol, freq);
}

int tsr_lp_em_weighted(int ns, int n, const double *gl, const double *wt, int max_iter, double tol, double *freq)
{
    int G = n * (n + 1) / 2, it = 0;
    double *pr = malloc((size_t)G * sizeof *pr), *cnt = malloc((size_t)n * sizeof *cnt);
    if (!pr || !cnt) {
        free(pr);
        free(cnt);
        return -1;
    }
    for (it = 0; it < max_iter; it++) {
        lp_prior(n, freq, pr);
        memset(cnt, 0, (size_t)n * sizeof *cnt);
        double nd = 0;
        for (int s = 0; s < ns; s++) {
            const double *row = gl + (size_t)s * G;
            if (!lp_row_informative(row, G))
                continue;
            double w = 0, ws = wt ? wt[s] : 1.0;
            for (int g = 0; g < G; g++)
                w += row[g] * pr[g];
            if (!(w > 0))
                continue;
            nd += ws;
            for (int c = 0; c < n; c++)
                for (int b = 0; b <= c; b++) {
                    double p = ws * (row[tsr_lp_gt_index(b, c)] * pr[tsr_lp_gt_index(b, c)] / w);
                    cnt[b] += p;
                    cnt[c] += p;
                }
        }
        if (nd == 0)
            break;
        double delta = 0;
        for (int a = 0; a < n; a++) {
            double f = cnt[a] / (2.0 * nd);
            delta = fabs(f - freq[a]) > delta ? fabs(f - freq[a]) : delta;
            freq[a] = f;
        }
        if (delta < tol) {
            it++;
            break;
        }
    }
    free(pr);
    free(cnt);
    return it;
}

double tsr_lp_loglik(int ns, int n, const double *gl, const double *freq)
{
    return tsr_lp_loglik_weighted(ns, n, gl, NULL, freq);
}

double tsr_lp_loglik_weighted(int ns, int n, const double *gl, const double *wt, const double *freq)
{
    int G = n * (n + 1) / 2;
    double *pr = malloc((size_t)G * sizeof *pr), ll = 0;
    if (!pr)
        return NAN;
    lp_prior(n, freq, pr);
    for (int s = 0; s < ns; s++) {
        const double *row = gl + (size_t)s * G;
        double w = 0;
        for (int g = 0; g < G; g++)
            w += row[g] * pr[g];
        ll += (wt ? wt[s] : 1.0) * log(w);
    }
    free(pr);
    return ll;
}

double tsr_lp_lrt(int ns, int n, const double *gl, const double *freq)
{
    int G = n * (n + 1) / 2;
    double l1 = tsr_lp_loglik(ns, n, gl, freq), l0 = 0;
    for (int s = 0; s < ns; s++)
        l0 += log(gl[(size_t)s * G]);
    double lrt = 2.0 * (l1 - l0);
    return lrt > 0 ? lrt : 0;
}

double tsr_lp_qual(double lrt, double max_qual)
{
    if (!(lrt > 0))
        return 0;
    double x = sqrt(lrt / 2.0), p = erfc(x), q;
    if (p > 1e-300)
        q = -10.0 * log10(p);
    else /* erfc(x) ~ exp(-x^2) / (x sqrt(pi)) */
        q = 10.0 * (x * x + log(x * sqrt(M_PI))) / log(10.0);
    return q < max_qual ? q : max_qual;
}

/* ------------------------------------------------------------ the region */

/* One observation of a union site: sample (cohort index), allele (union), quality, count. */
typedef struct lp_uobs {
    int32_t sample;
    int16_t allele;
    float qual;
    int32_t count;
} lp_uobs_t;

typedef struct lp_out {
    tsr_callset_t *cs;
    int64_t cap_site, cap_allele, cap_af, cap_pop, cap_ad, cap_pl, cap_gp;
    int64_t n_af, n_ad, n_pl, n_blob;
} lp_out_t;

typedef struct lp_ctx {
    tsr_lp_evidence_t *const *bt;
    int n_batches, N, n_pops;
    const int *sample_pop;
    const tsr_lp_opts_t *o;
    int *base;        /* per batch: cohort index of its first sample */
    int64_t *site_at; /* per batch: next site */
    int64_t *run_at;  /* per cohort sample: next run (index in its batch) */
    int64_t *run_end_of; /* per cohort sample: one past its last run */
    lp_uobs_t *obs;
    int64_t n_obs, cap_obs;
    double *rows;     /* n_act * G: the likelihood rows of the samples with data at the site */
    int32_t *dp;
    int *slot;        /* per cohort sample: its row in `rows`, or -1 when it has no data at the site */
    int *act;         /* the samples with data at the site, in cohort order (n_act) */
    int n_act;
    char **alts;
    int n_alts;
    int32_t *cover;   /* per region position: the cohort's samples with reference depth > 0 there */
    double *wt;       /* pre-test: the weight of each row (N + 1) */
    float q_cover[2]; /* pre-test: the lowest reference quality of a covered sample, per site kind */
    int64_t n_tested, n_skipped;
} lp_ctx_t;

static int lp_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reference depth of cohort sample s at pos (its batch's runs, cursor moves forward). */
static int32_t lp_ref_depth(lp_ctx_t *c, int b, int s, int64_t pos)
{
    const tsr_lp_evidence_t *e = c->bt[b];
    int64_t r = c->run_at[s];
    while (r < c->run_end_of[s] && e->run_end[r] <= pos)
        r++;
    c->run_at[s] = r;
    return r < c->run_end_of[s] && e->run_start[r] <= pos ? e->run_depth[r] : 0;
}

static int lp_push_uobs(lp_ctx_t *c, int32_t sample, int allele, float qual, int32_t count)
{
    if (tsr_array_grow((void **)&c->obs, &c->cap_obs, c->n_obs + 1, sizeof *c->obs) < 0)
        return -1;
    c->obs[c->n_obs++] = (lp_uobs_t){sample, (int16_t)allele, qual, count};
    return 0;
}

/*
 * Rows of likelihoods over alleles kept (keep[a] = new index or -1), one per
 * sample with data, scaled so the best is 1. A sample without data has a flat
 * row: it changes neither the EM nor the likelihood ratio, so it gets none,
 * and the work per site follows the samples covering it, not the cohort.
 */
static void lp_rows(lp_ctx_t *c, int n, const int *keep)
{
    int G = n * (n + 1) / 2;
    memset(c->rows, 0, (size_t)c->n_act * G * sizeof *c->rows);
    for (int64_t k = 0; k < c->n_obs; k++) {
        const lp_uobs_t *u = &c->obs[k];
        if (keep[u->allele] >= 0)
            tsr_lp_gl_add(c->rows + (size_t)c->slot[u->sample] * G, n, keep[u->allele], u->qual, u->count);
    }
    for (int k = 0; k < c->n_act; k++) {
        double *row = c->rows + (size_t)k * G, mx = row[0];
        for (int g = 1; g < G; g++)
            mx = row[g] > mx ? row[g] : mx;
        for (int g = 0; g < G; g++)
            row[g] = exp(row[g] - mx);
    }
}

/* EM over the samples of population p (-1 = cohort), starting from `start`; NaN when none has reads. */
static void lp_em_group(lp_ctx_t *c, int n, int p, const double *start, double *f, double *scratch)
{
    int G = n * (n + 1) / 2, m = 0;
    for (int k = 0; k < c->n_act; k++)
        if (p < 0 || c->sample_pop[c->act[k]] == p)
            memcpy(scratch + (size_t)m++ * G, c->rows + (size_t)k * G, (size_t)G * sizeof *scratch);
    memcpy(f, start, (size_t)n * sizeof *f);
    if (m == 0) {
        for (int a = 0; a < n; a++)
            f[a] = NAN;
        return;
    }
    tsr_lp_em(m, n, scratch, c->o->max_iter, c->o->tol, f);
}

/* Emit one site: frequencies, QUAL, posteriors. Returns -1 on out of memory, 0 otherwise. */
static int lp_emit(lp_ctx_t *c, lp_out_t *out, int64_t pos, const char *ref, char **alts, int n, double qual,
                   const double *f, const double *popf)
{
    tsr_callset_t *cs = out->cs;
    int N = c->N, G = n * (n + 1) / 2;
    int64_t i = cs->n_sites;
    size_t blob = strlen(ref);
    for (int a = 1; a < n; a++)
        blob += 1 + strlen(alts[a - 1]);
    if (tsr_array_grow((void **)&cs->allele_blob, &out->cap_allele, out->n_blob + (int64_t)blob, 1) < 0)
        return -1;
    if (i + 2 > out->cap_site) {
        int64_t c2 = out->cap_site ? out->cap_site * 2 : 256;
        void *p[14];
        p[0] = realloc(cs->pos, (size_t)c2 * sizeof *cs->pos);
        if (p[0]) cs->pos = p[0];
        p[1] = realloc(cs->n_alleles, (size_t)c2 * sizeof *cs->n_alleles);
        if (p[1]) cs->n_alleles = p[1];
        p[2] = realloc(cs->allele_off, (size_t)(c2 + 1) * sizeof *cs->allele_off);
        if (p[2]) cs->allele_off = p[2];
        p[3] = realloc(cs->qual, (size_t)c2 * sizeof *cs->qual);
        if (p[3]) cs->qual = p[3];
        p[4] = realloc(cs->filter, (size_t)c2);
        if (p[4]) cs->filter = p[4];
        p[5] = realloc(cs->af_off, (size_t)(c2 + 1) * sizeof *cs->af_off);
        if (p[5]) cs->af_off = p[5];
        p[6] = realloc(cs->gt, (size_t)c2 * N * 2);
        if (p[6]) cs->gt = p[6];
        p[7] = realloc(cs->gq, (size_t)c2 * N * sizeof *cs->gq);
        if (p[7]) cs->gq = p[7];
        p[8] = realloc(cs->dp, (size_t)c2 * N * sizeof *cs->dp);
        if (p[8]) cs->dp = p[8];
        p[9] = realloc(cs->ds, (size_t)c2 * N * sizeof *cs->ds);
        if (p[9]) cs->ds = p[9];
        p[10] = realloc(cs->ad_off, (size_t)(c2 + 1) * sizeof *cs->ad_off);
        if (p[10]) cs->ad_off = p[10];
        p[11] = realloc(cs->pl_off, (size_t)(c2 + 1) * sizeof *cs->pl_off);
        if (p[11]) cs->pl_off = p[11];
        for (int k = 0; k < 12; k++)
            if (!p[k])
                return -1;
        out->cap_site = c2;
    }
    int npp = c->n_pops ? c->n_pops : 1;
    if (tsr_array_grow((void **)&cs->af, &out->cap_af, out->n_af + n, sizeof *cs->af) < 0 ||
        tsr_array_grow((void **)&cs->pop_af, &out->cap_pop, (out->n_af + n) * npp, sizeof *cs->pop_af) < 0 ||
        tsr_array_grow((void **)&cs->ad, &out->cap_ad, out->n_ad + (int64_t)N * n, sizeof *cs->ad) < 0 ||
        tsr_array_grow((void **)&cs->pl, &out->cap_pl, out->n_pl + (int64_t)N * G, sizeof *cs->pl) < 0 ||
        tsr_array_grow((void **)&cs->gp, &out->cap_gp, out->n_pl + (int64_t)N * G, sizeof *cs->gp) < 0)
        return -1;
    if (i == 0)
        cs->allele_off[0] = cs->af_off[0] = cs->ad_off[0] = cs->pl_off[0] = 0;
    char *bp = cs->allele_blob + out->n_blob;
    memcpy(bp, ref, strlen(ref));
    bp += strlen(ref);
    for (int a = 1; a < n; a++) {
        *bp++ = ',';
        memcpy(bp, alts[a - 1], strlen(alts[a - 1]));
        bp += strlen(alts[a - 1]);
    }
    out->n_blob += (int64_t)blob;
    cs->pos[i] = pos;
    cs->n_alleles[i] = n;
    cs->allele_off[i + 1] = out->n_blob;
    cs->qual[i] = (float)qual;
    cs->filter[i] = qual < c->o->min_qual ? TSR_FILTER_LOWQUAL : 0;
    for (int a = 0; a < n; a++) {
        cs->af[out->n_af + a] = (float)f[a];
        for (int p = 0; p < c->n_pops; p++)
            cs->pop_af[(out->n_af) * c->n_pops + (int64_t)p * n + a] = (float)popf[(size_t)p * n + a];
    }
    out->n_af += n;
    cs->af_off[i + 1] = out->n_af;
    double pr[TSR_LP_MAX_G], post[TSR_LP_MAX_G];
    int32_t *ad = cs->ad + out->n_ad;
    memset(ad, 0, (size_t)N * n * sizeof *ad);
    for (int64_t k = 0; k < c->n_obs; k++)
        if (c->obs[k].allele < n)
            ad[(size_t)c->obs[k].sample * n + c->obs[k].allele] += c->obs[k].count;
    for (int s = 0; s < N; s++) {
        const double *fp = f;
        int p = c->sample_pop ? c->sample_pop[s] : -1;
        if (p >= 0 && p < c->n_pops && !isnan(popf[(size_t)p * n]))
            fp = popf + (size_t)p * n;
        lp_prior(n, fp, pr);
        const int has_data = c->slot[s] >= 0;
        const double *row = has_data ? c->rows + (size_t)c->slot[s] * G : NULL;
        double w = 0, best = -1, ds = 0;
        int bg = 0;
        for (int g = 0; g < G; g++) {
            post[g] = (has_data ? row[g] : 1.0) * pr[g];
            w += post[g];
        }
        for (int b2 = 0; b2 < n; b2++)
            for (int a = 0; a <= b2; a++) {
                int g = tsr_lp_gt_index(a, b2);
                post[g] = w > 0 ? post[g] / w : 0;
                ds += post[g] * ((a != 0) + (b2 != 0));
                if (post[g] > best) {
                    best = post[g];
                    bg = g;
                }
                cs->gp[out->n_pl + (size_t)s * G + g] = (float)post[g];
                cs->pl[out->n_pl + (size_t)s * G + g] =
                    has_data ? (int32_t)lround(-10.0 * log10(row[g] > 1e-300 ? row[g] : 1e-300)) : -1;
            }
        cs->ds[(size_t)i * N + s] = (float)ds;
        cs->dp[(size_t)i * N + s] = c->dp[s];
        int8_t *gt = cs->gt + ((size_t)i * N + s) * 2;
        if (has_data) {
            int b2 = 0;
            while ((b2 + 1) * (b2 + 2) / 2 <= bg)
                b2++;
            gt[0] = (int8_t)(bg - b2 * (b2 + 1) / 2);
            gt[1] = (int8_t)b2;
            double q = best < 1 ? -10.0 * log10(1.0 - best) : 99;
            cs->gq[(size_t)i * N + s] = q > 99 ? 99 : (int32_t)q;
        } else {
            gt[0] = gt[1] = -1;
            cs->gq[(size_t)i * N + s] = -1;
        }
    }
    out->n_ad += (int64_t)N * n;
    cs->ad_off[i + 1] = out->n_ad;
    out->n_pl += (int64_t)N * G;
    cs->pl_off[i + 1] = out->n_pl;
    cs->n_sites++;
    return 0;
}

/*
 * mp[1..] = the union index (1..na) of each ALT of batch site e[i], extended to the union's REF refs (ref_len
 * bases); na + 1 ("other") for an ALT the union does not keep.
 */
static void lp_allele_map(const tsr_lp_evidence_t *e, int64_t i, const char *refs, int64_t ref_len,
                          char *const *alts, int na, int *mp)
{
    const char *p = e->allele_blob + e->allele_off[i], *end = e->allele_blob + e->allele_off[i + 1];
    int64_t l = (int64_t)strcspn(p, ",");
    p += l;
    int ai = 1;
    char tmp[8192];
    while (p < end && ai < 256) {
        p++;
        const char *q = p;
        while (q < end && *q != ',')
            q++;
        size_t al = (size_t)(q - p), extra = (size_t)(ref_len - l);
        mp[ai] = na + 1; /* "other" */
        if (al + extra < sizeof tmp) {
            memcpy(tmp, p, al);
            memcpy(tmp + al, refs + l, extra);
            tmp[al + extra] = '\0';
            for (int k = 0; k < na; k++)
                if (!strcmp(tmp, alts[k]))
                    mp[ai] = k + 1;
        }
        ai++;
        p = q;
    }
}

/*
 * The pooled pre-test (issue 18): can the site's likelihood-ratio statistic reach min_site_qual at all? The
 * full test needs every covered sample's row and an EM over all of them; at low coverage and large cohorts
 * sequencing errors put ALT observations at nearly every position, so it would run almost everywhere. Per
 * sample, the likelihood ratio against REF only is sum_g P(g | f) L_s(g) / L_s(RR). For a sample without ALT
 * observations it depends on f only through f_REF, and it is largest with a single reference read of the
 * lowest reference quality in the cohort (each further reference read multiplies the het and hom-ALT terms by
 * less than 1). So the exact rows of the samples with ALT observations, plus one row of one such read weighted
 * by the number of the other covered samples (from the region's coverage counts, no pass over the cohort),
 * give a likelihood ratio at least the full one at every f, and its maximum bounds the full test's statistic
 * (the final model, with fewer ALTs, is a face of this one). Where that bound is below min_site_qual the site
 * cannot be reported and the per-sample EM is skipped. The threshold is the reporting bar itself, no constant
 * is tuned. The maximum is found by EM from two starts (read fractions; one carrier per ALT read) and, at
 * biallelic sites, also over a grid of f_ALT (an EM can stop at a local maximum).
 */
static tsr_status_t lp_pretest(lp_ctx_t *c, int64_t pos, int kind, const char *refs, int64_t ref_len,
                               char *const *alts, int na, int *pass)
{
    const tsr_lp_opts_t *o = c->o;
    const int n = 1 + na, G = n * (n + 1) / 2;
    int32_t n_cov = 0;
    c->n_obs = 0;
    c->n_act = 0;
    for (int b = 0; b < c->n_batches; b++) {
        const tsr_lp_evidence_t *e = c->bt[b];
        int64_t i = c->site_at[b];
        if (i >= e->n_sites || e->pos[i] != pos || e->kind[i] != kind)
            continue;
        int mp[256];
        lp_allele_map(e, i, refs, ref_len, alts, na, mp);
        for (int64_t k = e->obs_off[i]; k < e->obs_off[i + 1];) {
            int32_t j = e->obs_sample[k], cs = c->base[b] + j;
            int64_t k0 = k;
            for (; k < e->obs_off[i + 1] && e->obs_sample[k] == j; k++)
                if (lp_push_uobs(c, cs, mp[e->obs_allele[k]], e->obs_qual[k], 1) < 0)
                    return tsr_error_set(TSR_ERR_NOMEM, "out of memory at a low-pass site");
            int32_t nalt = (int32_t)(k - k0), d = lp_ref_depth(c, b, cs, pos);
            n_cov += d > 0;
            if (kind == TSR_SITE_INDEL)
                d = d > nalt ? d - nalt : 0;
            double rq = kind == TSR_SITE_INDEL ? o->indel_qual : e->ref_qual[j];
            if (rq > o->max_ref_qual)
                rq = o->max_ref_qual;
            if (d > 0 && lp_push_uobs(c, cs, 0, (float)rq, d) < 0)
                return tsr_error_set(TSR_ERR_NOMEM, "out of memory at a low-pass site");
            c->slot[cs] = c->n_act;
            c->act[c->n_act++] = cs;
        }
    }
    int64_t at = pos - c->bt[0]->start;
    int32_t n_other = at >= 0 && at < c->bt[0]->end - c->bt[0]->start ? c->cover[at] - n_cov : -1;
    if (n_other < 0) { /* not from this region's runs: no bound, the full test decides */
        *pass = 1;
        return TSR_OK;
    }
    int keep[257];
    for (int a = 0; a <= n; a++)
        keep[a] = a < n ? a : -1;
    lp_rows(c, n, keep);
    int m = c->n_act;
    for (int k = 0; k < m; k++)
        c->wt[k] = 1.0;
    if (n_other > 0) {
        double *row = c->rows + (size_t)m * G, mx;
        memset(row, 0, (size_t)G * sizeof *row);
        tsr_lp_gl_add(row, n, 0, c->q_cover[kind == TSR_SITE_INDEL], 1.0);
        mx = row[0];
        for (int g = 1; g < G; g++)
            mx = row[g] > mx ? row[g] : mx;
        for (int g = 0; g < G; g++)
            row[g] = exp(row[g] - mx);
        c->wt[m++] = n_other;
    }
    double f[256], cnt[256], l0 = 0, best = 0, tot = 0;
    for (int a = 0; a < n; a++)
        cnt[a] = 0;
    for (int64_t k = 0; k < c->n_obs; k++)
        if (c->obs[k].allele < n)
            cnt[c->obs[k].allele] += c->obs[k].count;
    cnt[0] += n_other;
    for (int k = 0; k < m; k++)
        l0 += c->wt[k] * log(c->rows[(size_t)k * G]);
    for (int start = 0; start < 2; start++) {
        tot = 0;
        if (start == 0) {
            for (int a = 0; a < n; a++)
                tot += (f[a] = 0.5 + cnt[a]);
            for (int a = 0; a < n; a++)
                f[a] /= tot;
        } else {
            double samples = (double)c->n_act + n_other;
            for (int a = 1; a < n; a++)
                tot += (f[a] = cnt[a] / (2.0 * samples));
            if (!(tot < 1))
                continue;
            f[0] = 1 - tot;
        }
        tsr_lp_em_weighted(m, n, c->rows, c->wt, o->max_iter, o->tol, f);
        double lrt = 2.0 * (tsr_lp_loglik_weighted(m, n, c->rows, c->wt, f) - l0);
        best = lrt > best ? lrt : best;
    }
    if (n == 2) /* biallelic, the common case: also a grid over f_ALT from 1e-6 to 1, against a local EM maximum */
        for (int k = 0; k <= 24; k++) {
            f[1] = pow(10.0, -6.0 + k / 4.0);
            f[0] = 1.0 - f[1];
            double lrt = 2.0 * (tsr_lp_loglik_weighted(m, n, c->rows, c->wt, f) - l0);
            best = lrt > best ? lrt : best;
        }
    *pass = tsr_lp_qual(best, o->max_qual) >= o->min_site_qual;
    c->n_tested++;
    c->n_skipped += !*pass;
    return TSR_OK;
}

/*
 * The pre-test's inputs over the whole region, once: how many samples have reference depth > 0 at each
 * position (a difference array over every batch's runs) and the lowest reference quality of a sample with
 * any such run (capped as lp_site caps it; indels use the fixed indel quality).
 */
static void lp_cover(lp_ctx_t *c, int64_t len)
{
    const tsr_lp_opts_t *o = c->o;
    double qmin = o->max_ref_qual;
    for (int b = 0; b < c->n_batches; b++) {
        const tsr_lp_evidence_t *e = c->bt[b];
        for (int64_t r = 0; r < e->n_runs; r++) {
            if (e->run_depth[r] <= 0)
                continue;
            int64_t a = e->run_start[r] - e->start, z = e->run_end[r] - e->start;
            a = a < 0 ? 0 : a;
            z = z > len ? len : z;
            if (a >= z)
                continue;
            c->cover[a]++;
            c->cover[z]--;
            if (e->ref_qual[e->run_sample[r]] < qmin)
                qmin = e->ref_qual[e->run_sample[r]];
        }
    }
    for (int64_t k = 1; k <= len; k++)
        c->cover[k] += c->cover[k - 1];
    double qi = o->indel_qual < o->max_ref_qual ? o->indel_qual : o->max_ref_qual;
    c->q_cover[0] = (float)qmin;
    c->q_cover[1] = (float)qi;
}

/* Everything about one union site (pos, kind) present in some batches. */
static tsr_status_t lp_site(lp_ctx_t *c, lp_out_t *out, int64_t pos, int kind, double *scratch)
{
    const tsr_lp_opts_t *o = c->o;
    /* the longest REF among the batches, then every ALT extended to it */
    const char *ref = NULL;
    int64_t ref_len = 0, alt_obs = 0;
    for (int b = 0; b < c->n_batches; b++) {
        const tsr_lp_evidence_t *e = c->bt[b];
        int64_t i = c->site_at[b];
        if (i >= e->n_sites || e->pos[i] != pos || e->kind[i] != kind)
            continue;
        int64_t l = (int64_t)strcspn(e->allele_blob + e->allele_off[i], ",");
        if (l > ref_len) {
            ref_len = l;
            ref = e->allele_blob + e->allele_off[i];
        }
        alt_obs += e->obs_off[i + 1] - e->obs_off[i];
    }
    if (alt_obs < o->min_alt_obs || ref_len <= 0)
        return TSR_OK;
    char refs[4096];
    if (ref_len >= (int64_t)sizeof refs)
        return TSR_OK;
    memcpy(refs, ref, (size_t)ref_len);
    refs[ref_len] = '\0';
    /* union of ALT strings, sorted: independent of the batch layout */
    c->n_alts = 0;
    int n_max = 0;
    for (int b = 0; b < c->n_batches; b++) {
        const tsr_lp_evidence_t *e = c->bt[b];
        int64_t i = c->site_at[b];
        if (i < e->n_sites && e->pos[i] == pos && e->kind[i] == kind)
            n_max += e->n_alleles[i] - 1;
    }
    char **alts = calloc((size_t)n_max + 1, sizeof *alts);
    tsr_status_t s = alts ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory at a low-pass site");
    int na = 0;
    for (int b = 0; b < c->n_batches && s == TSR_OK; b++) {
        const tsr_lp_evidence_t *e = c->bt[b];
        int64_t i = c->site_at[b];
        if (i >= e->n_sites || e->pos[i] != pos || e->kind[i] != kind)
            continue;
        const char *p = e->allele_blob + e->allele_off[i], *end = e->allele_blob + e->allele_off[i + 1];
        int64_t l = (int64_t)strcspn(p, ",");
        if (l > (int64_t)(end - p))
            l = end - p;
        p += l;
        while (p < end && s == TSR_OK) {
            p++;
            const char *q = p;
            while (q < end && *q != ',')
                q++;
            size_t al = (size_t)(q - p), extra = (size_t)(ref_len - l);
            char *a = malloc(al + extra + 1);
            if (!a) {
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory at a low-pass site");
                break;
            }
            memcpy(a, p, al);
            memcpy(a + al, refs + l, extra);
            a[al + extra] = '\0';
            alts[na++] = a;
            p = q;
        }
    }
    if (s == TSR_OK && na > 1) {
        qsort(alts, (size_t)na, sizeof *alts, lp_str_cmp);
        int m = 1;
        for (int k = 1; k < na; k++) {
            if (strcmp(alts[k], alts[m - 1]) == 0)
                free(alts[k]);
            else
                alts[m++] = alts[k];
        }
        for (int k = m; k < na; k++)
            alts[k] = NULL;
        na = m;
    }
    if (na > TSR_LP_MAX_ALTS)
        na = TSR_LP_MAX_ALTS; /* the rest become "other" observations */
    int n = 1 + na, skip = 0;
    if (s == TSR_OK && na > 0 && o->pretest) {
        int pass = 1;
        s = lp_pretest(c, pos, kind, refs, ref_len, alts, na, &pass);
        skip = !pass;
    }
    /* observations in cohort order: per batch, its listed ones, then reference depth */
    c->n_obs = 0;
    c->n_act = 0;
    memset(c->dp, 0, (size_t)c->N * sizeof *c->dp);
    for (int b = 0; b < c->n_batches && s == TSR_OK && !skip; b++) {
        const tsr_lp_evidence_t *e = c->bt[b];
        int64_t i = c->site_at[b];
        int here = i < e->n_sites && e->pos[i] == pos && e->kind[i] == kind;
        int mp[256];
        int64_t ko = here ? e->obs_off[i] : 0, kend = here ? e->obs_off[i + 1] : 0;
        if (here)
            lp_allele_map(e, i, refs, ref_len, alts, na, mp);
        for (int j = 0; j < e->n_samples && s == TSR_OK; j++) {
            int cs = c->base[b] + j;
            int32_t nalt = 0;
            int64_t k0 = ko;
            while (ko < kend && e->obs_sample[ko] == j) {
                if (lp_push_uobs(c, cs, mp[e->obs_allele[ko]], e->obs_qual[ko], 1) < 0)
                    s = tsr_error_set(TSR_ERR_NOMEM, "out of memory at a low-pass site");
                ko++;
            }
            nalt = (int32_t)(ko - k0);
            int32_t d = lp_ref_depth(c, b, cs, pos);
            if (kind == TSR_SITE_INDEL)
                d = d > nalt ? d - nalt : 0;
            double rq = kind == TSR_SITE_INDEL ? o->indel_qual : e->ref_qual[j];
            if (rq > o->max_ref_qual)
                rq = o->max_ref_qual;
            if (d > 0 && s == TSR_OK && lp_push_uobs(c, cs, 0, (float)rq, d) < 0)
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory at a low-pass site");
            c->dp[cs] = d + nalt;
            c->slot[cs] = d + nalt > 0 ? c->n_act : -1;
            if (d + nalt > 0)
                c->act[c->n_act++] = cs;
        }
    }
    double f[256], f0[256], *popf = NULL;
    int keep[257];
    if (s == TSR_OK && na > 0 && !skip) {
        /* start from the observed allele fractions */
        double tot = 0;
        for (int a = 0; a < n; a++)
            f[a] = 0.5;
        for (int64_t k = 0; k < c->n_obs; k++)
            if (c->obs[k].allele < n)
                f[c->obs[k].allele] += c->obs[k].count;
        for (int a = 0; a < n; a++)
            tot += f[a];
        for (int a = 0; a < n; a++)
            f[a] /= tot;
        for (int a = 0; a <= n; a++)
            keep[a] = a < n ? a : -1;
        lp_rows(c, n, keep);
        tsr_lp_em(c->n_act, n, c->rows, o->max_iter, o->tol, f);
        int64_t nd = c->n_act;
        /*
         * Multi-allelic: each ALT must pass its own test, the likelihood ratio
         * of the fit with it against the EM fit without it (f_a = 0 stays 0).
         */
        double alt_qual[256];
        for (int a = 1; a < n; a++)
            alt_qual[a] = o->max_qual;
        if (n > 2) {
            double l1 = tsr_lp_loglik(c->n_act, n, c->rows, f), g[256];
            for (int a = 1; a < n; a++) {
                double t = 0;
                for (int k = 0; k < n; k++)
                    t += (g[k] = k == a ? 0 : f[k]);
                for (int k = 0; k < n; k++)
                    g[k] = t > 0 ? g[k] / t : (k == 0);
                tsr_lp_em(c->n_act, n, c->rows, o->max_iter, o->tol, g);
                alt_qual[a] = tsr_lp_qual(2.0 * (l1 - tsr_lp_loglik(c->n_act, n, c->rows, g)), o->max_qual);
            }
        }
        /* drop ALTs with too small an expected count or their own QUAL below the PASS bar, then estimate again */
        int m = 1;
        for (int a = 1; a < n; a++) {
            if (2.0 * (double)nd * f[a] >= o->min_alt_count && alt_qual[a] >= o->min_qual) {
                keep[a] = m;
                f0[m] = f[a];
                alts[m - 1] = alts[a - 1];
                m++;
            } else {
                keep[a] = -1;
                free(alts[a - 1]);
            }
        }
        for (int k = m - 1; k < na; k++)
            alts[k] = NULL;
        if (m > 1) {
            if (m < n) {
                for (int64_t k = 0; k < c->n_obs; k++)
                    c->obs[k].allele = (int16_t)(keep[c->obs[k].allele] >= 0 ? keep[c->obs[k].allele] : m);
                for (int a = 0; a <= m; a++)
                    keep[a] = a < m ? a : -1;
                double t = 0;
                for (int a = 1; a < m; a++)
                    t += f0[a];
                f0[0] = t < 1 ? 1 - t : 0.5;
                memcpy(f, f0, (size_t)m * sizeof *f);
                n = m;
                lp_rows(c, n, keep);
                tsr_lp_em(c->n_act, n, c->rows, o->max_iter, o->tol, f);
            }
            double qual = tsr_lp_qual(tsr_lp_lrt(c->n_act, n, c->rows, f), o->max_qual);
            if (qual >= o->min_site_qual) {
                popf = malloc((size_t)(c->n_pops + 1) * n * sizeof *popf);
                if (!popf)
                    s = tsr_error_set(TSR_ERR_NOMEM, "out of memory at a low-pass site");
                for (int p = 0; p < c->n_pops && s == TSR_OK; p++)
                    lp_em_group(c, n, p, f, popf + (size_t)p * n, scratch);
                if (s == TSR_OK && lp_emit(c, out, pos, refs, alts, n, qual, f, popf) < 0)
                    s = tsr_error_set(TSR_ERR_NOMEM, "out of memory writing low-pass calls");
            }
        }
    }
    free(popf);
    for (int k = 0; alts && k < n_max; k++)
        free(alts[k]);
    free(alts);
    return s;
}

/* Hand the window's sites to the sink and empty the window (its buffers stay for the next one). */
static tsr_status_t lp_flush(lp_out_t *lo, tsr_lp_sink_t sink, void *ctx)
{
    if (lo->cs->n_sites == 0)
        return TSR_OK;
    tsr_status_t s = sink(ctx, lo->cs);
    lo->cs->n_sites = 0;
    lo->n_af = lo->n_ad = lo->n_pl = lo->n_blob = 0;
    return s;
}

tsr_status_t tsr_lp_discover_region(tsr_lp_evidence_t *const *bt, int n_batches, const int *sample_pop, int n_pops,
                                    const tsr_lp_opts_t *o, int64_t window_sites, tsr_lp_sink_t sink, void *ctx)
{
    return tsr_lp_discover_region_counted(bt, n_batches, sample_pop, n_pops, o, window_sites, sink, ctx, NULL);
}

tsr_status_t tsr_lp_discover_region_counted(tsr_lp_evidence_t *const *bt, int n_batches, const int *sample_pop,
                                            int n_pops, const tsr_lp_opts_t *o, int64_t window_sites,
                                            tsr_lp_sink_t sink, void *ctx, int64_t *pretest_counts)
{
    if (n_batches < 1)
        return tsr_error_set(TSR_ERR_INTERNAL, "low-pass discovery needs at least one batch");
    lp_ctx_t c;
    memset(&c, 0, sizeof c);
    c.bt = bt;
    c.n_batches = n_batches;
    c.n_pops = n_pops;
    c.sample_pop = sample_pop;
    c.o = o;
    for (int b = 0; b < n_batches; b++) {
        if (strcmp(bt[b]->contig, bt[0]->contig) || bt[b]->start != bt[0]->start || bt[b]->end != bt[0]->end)
            return tsr_error_set(TSR_ERR_STATE, "low-pass batches of one region disagree on the region");
        c.N += bt[b]->n_samples;
    }
    c.base = calloc((size_t)n_batches + 1, sizeof *c.base);
    c.site_at = calloc((size_t)n_batches + 1, sizeof *c.site_at);
    c.run_at = calloc((size_t)c.N + 1, sizeof *c.run_at);
    c.run_end_of = calloc((size_t)c.N + 1, sizeof *c.run_end_of);
    c.dp = calloc((size_t)c.N + 1, sizeof *c.dp);
    c.slot = malloc(((size_t)c.N + 1) * sizeof *c.slot);
    c.act = malloc(((size_t)c.N + 1) * sizeof *c.act);
    c.wt = malloc(((size_t)c.N + 1) * sizeof *c.wt);
    const int64_t len = bt[0]->end - bt[0]->start;
    c.cover = calloc((size_t)(len > 0 ? len : 0) + 1, sizeof *c.cover);
    tsr_callset_t *cs = NULL;
    tsr_status_t s = (c.base && c.site_at && c.run_at && c.run_end_of && c.dp && c.slot && c.act && c.wt && c.cover)
                         ? tsr_callset_create(&cs)
                         : tsr_error_set(TSR_ERR_NOMEM, "out of memory for %d samples", c.N);
    for (int b = 0, at = 0; b < n_batches && s == TSR_OK; b++) {
        c.base[b] = at;
        const tsr_lp_evidence_t *e = bt[b];
        int64_t r = 0;
        for (int j = 0; j < e->n_samples; j++) {
            c.run_at[at + j] = r;
            while (r < e->n_runs && e->run_sample[r] == j)
                r++;
            c.run_end_of[at + j] = r;
        }
        at += e->n_samples;
    }
    lp_cover(&c, len);
    lp_out_t lo;
    memset(&lo, 0, sizeof lo);
    lo.cs = cs;
    double *scratch = NULL;
    int64_t cap_rows = 0;
    if (s == TSR_OK) {
        cs->n_pops = n_pops;
        if (!(cs->contig = strdup(bt[0]->contig)))
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
        cs->start = bt[0]->start;
        cs->end = bt[0]->end;
        cs->n_samples = c.N;
    }
    /* a site window: each batch's first site at or after win_start (sites are sorted by position) */
    for (int b = 0; b < n_batches && o->win_start > 0; b++) {
        int64_t lo = 0, hi = bt[b]->n_sites;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (bt[b]->pos[mid] < o->win_start)
                lo = mid + 1;
            else
                hi = mid;
        }
        c.site_at[b] = lo;
    }
    while (s == TSR_OK) {
        /* the smallest (pos, kind) over the batches */
        int64_t pos = INT64_MAX;
        int kind = 2;
        for (int b = 0; b < n_batches; b++) {
            int64_t i = c.site_at[b];
            if (i < bt[b]->n_sites && (bt[b]->pos[i] < pos || (bt[b]->pos[i] == pos && bt[b]->kind[i] < kind))) {
                pos = bt[b]->pos[i];
                kind = bt[b]->kind[i];
            }
        }
        if (pos == INT64_MAX || (o->win_end > 0 && pos >= o->win_end))
            break;
        int n_max = 1;
        for (int b = 0; b < n_batches; b++) {
            int64_t i = c.site_at[b];
            if (i < bt[b]->n_sites && bt[b]->pos[i] == pos && bt[b]->kind[i] == kind)
                n_max += bt[b]->n_alleles[i] - 1;
        }
        if (n_max > 255)
            n_max = 255;
        int64_t G = (int64_t)n_max * (n_max + 1) / 2;
        if (G * c.N > cap_rows) {
            free(c.rows);
            free(scratch);
            cap_rows = G * c.N;
            c.rows = malloc((size_t)cap_rows * sizeof *c.rows);
            scratch = malloc((size_t)cap_rows * sizeof *scratch);
            if (!c.rows || !scratch) {
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory for the likelihoods of %d samples", c.N);
                break;
            }
        }
        s = lp_site(&c, &lo, pos, kind, scratch);
        if (s == TSR_OK && cs->n_sites >= window_sites)
            s = lp_flush(&lo, sink, ctx);
        for (int b = 0; b < n_batches; b++) {
            int64_t i = c.site_at[b];
            if (i < bt[b]->n_sites && bt[b]->pos[i] == pos && bt[b]->kind[i] == kind)
                c.site_at[b]++;
        }
    }
    if (s == TSR_OK)
        s = lp_flush(&lo, sink, ctx);
    free(c.base);
    free(c.site_at);
    free(c.run_at);
    free(c.run_end_of);
    free(c.dp);
    if (s == TSR_OK && o->pretest)
        tsr_log_debug("%s:%lld-%lld: %lld of %lld sites cannot reach QUAL %g (pooled pre-test), no per-sample EM",
                      bt[0]->contig, (long long)bt[0]->start + 1, (long long)bt[0]->end, (long long)c.n_skipped,
                      (long long)c.n_tested, o->min_site_qual);
    if (pretest_counts) {
        pretest_counts[0] = c.n_tested;
        pretest_counts[1] = c.n_skipped;
    }
    free(c.slot);
    free(c.act);
    free(c.wt);
    free(c.cover);
    free(c.obs);
    free(c.rows);
    free(scratch);
    tsr_callset_destroy(&cs);
    return s;
}
