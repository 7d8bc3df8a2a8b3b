/*
 * site_stats.c - per-site allele statistics for the cohort and each
 * population: AC/AN/AF, NS, missing rate, het / hom-alt counts, the
 * Hardy-Weinberg exact test, the excess-heterozygosity test and the
 * inbreeding coefficient F.
 *
 * Design. One pass over the genotypes fills integer counts per (group,
 * allele): heterozygous diploid calls carrying the allele, twice the
 * homozygous diploid calls of it, and single called alleles (haploid or
 * half-missing calls, which count towards AC/AN but not the diploid tests).
 * The tests then follow bcftools +fill-tags exactly, so tessera's numbers
 * can be checked against it: per ALT j, nhet_j = het calls carrying j,
 * nalt_j = nhet_j + 2 * hom_j, nref_j = 2 * hom_ref + sum of nhet_k over
 * k != j (a biallelic collapse of "j" versus "everything else" that, as in
 * bcftools, counts a j/k het among the "ref" side through nhet_k). The exact
 * test is the recursion of Wigginton, Cutler & Abecasis (2005): start at the
 * most likely het count, walk down and up with the ratio of neighbouring
 * probabilities, normalise. Everything here is a pure function of the
 * genotypes, so the numbers do not depend on ranks or threads.
 *
 * Speed. The pass over the genotypes is the cost (sites x samples), so for
 * sites with few alleles it only bins each sample's genotype (a, b) into a
 * histogram per population bucket, one increment, no branches; the counts
 * are then built from the histogram's cells, each cell's count applied at
 * once (integer counts, so exactly what the per-sample pass gives). Sites with
 * many alleles (a histogram larger than TSR_STATS_HIST_MAX cells) take the
 * per-sample pass.
 */
#include "kernels/stats/stats_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct tsr_site_stats_scratch {
    int n_samples, n_pops;
    int *sample_pop;
    int cap_alleles;           /* per-allele arrays sized for this many alleles */
    int32_t *cnt_het, *cnt_hom, *cnt_one; /* per group x allele */
    int32_t *n_dip;            /* per group: fully called diploid samples */
    double *probs;             /* exact-test scratch */
    int64_t cap_probs;
    double *lik;               /* low-pass: 3 likelihoods per sample */
    int32_t *depth;            /* low-pass: their read counts */
    int32_t *row_first, *row_cnt; /* low-pass: a group's distinct (PL, DP) rows: first sample, samples */
    int32_t *row_tab;          /* low-pass: hash table of those rows (row_cap slots, -1 empty) */
    size_t row_cap;
    int *bucket;               /* per sample: its population, or n_pops for none */
    int32_t *bucket_n;         /* per bucket: its number of samples */
    int32_t *hist;             /* per bucket x genotype class, TSR_STATS_HIST_MAX cells each */
};

/* Genotype classes of the histogram path: (a + 1) * (n + 1) + (b + 1) for alleles -1..n-1. */
#define TSR_STATS_HIST_MAX 256

int tsr_hwe_exact(int64_t nref, int64_t nalt, int64_t nhet, double *probs, double *p_hwe, double *p_exchet)
{
    int64_t n = nref + nalt;
    if (nref < 0 || nalt < 0 || nhet < 0 || (n & 1))
        return -1;
    if (nref == 0 || nalt == 0) {
        *p_hwe = *p_exchet = 1.0;
        return nhet == 0 ? 0 : -1;
    }
    const int64_t rare = nref < nalt ? nref : nalt, ngt = n / 2;
    if (nhet > rare || ((rare ^ nhet) & 1))
        return -1;
    /* Only het counts of rare's parity are possible: the loops below visit those alone (the others'
       zeros would add nothing to either sum). */
    const int64_t h0 = rare & 1;
    /* The most likely het count is near rare * common / n; keep its parity. */
    int64_t mid = (int64_t)((double)rare * (double)(n - rare) / (double)n);
    if ((mid ^ rare) & 1)
        mid++;
    probs[mid] = 1.0;
    /* The walks down and up from mid are independent chains of a multiplication and a division per
       step: stepped together, one's latency hides the other's. The sum then adds the terms in the
       order of walking down, then up, as a walk at a time would. */
    const int64_t hom_r0 = (rare - mid) / 2, hom_c0 = ngt - mid - hom_r0;
    int64_t hd = mid, rd = hom_r0, cd = hom_c0, hu = mid, ru = hom_r0, cu = hom_c0;
#define TSR_HWE_DOWN()                                                                                           \
    do {                                                                                                       \
        probs[hd - 2] = probs[hd] * hd * (hd - 1.0) / (4.0 * (rd + 1.0) * (cd + 1.0));                         \
        hd -= 2;                                                                                               \
        rd++;                                                                                                  \
        cd++;                                                                                                  \
    } while (0)
#define TSR_HWE_UP()                                                                                             \
    do {                                                                                                       \
        probs[hu + 2] = probs[hu] * 4.0 * ru * cu / ((hu + 2.0) * (hu + 1.0));                                 \
        hu += 2;                                                                                               \
        ru--;                                                                                                  \
        cu--;                                                                                                  \
    } while (0)
    while (hd > 1 && hu <= rare - 2) {
        TSR_HWE_DOWN();
        TSR_HWE_UP();
    }
    while (hd > 1)
        TSR_HWE_DOWN();
    while (hu <= rare - 2)
        TSR_HWE_UP();
#undef TSR_HWE_DOWN
#undef TSR_HWE_UP
    double sum = 1.0;
    for (int64_t h = mid - 2; h >= 0; h -= 2)
        sum += probs[h];
    for (int64_t h = mid + 2; h <= rare; h += 2)
        sum += probs[h];
    for (int64_t h = h0; h <= rare; h += 2)
        probs[h] /= sum;
    double exc = 0.0;
    for (int64_t h = nhet; h <= rare; h += 2)
        exc += probs[h];
    double two = 0.0;
    for (int64_t h = h0; h <= rare; h += 2)
        if (probs[h] <= probs[nhet])
            two += probs[h];
    *p_exchet = exc;
    *p_hwe = two > 1.0 ? 1.0 : two;
    return 0;
}

static void stats_free(tsr_site_stats_t *st)
{
    if (st->scratch) {
        free(st->scratch->sample_pop);
        free(st->scratch->cnt_het);
        free(st->scratch->cnt_hom);
        free(st->scratch->cnt_one);
        free(st->scratch->n_dip);
        free(st->scratch->probs);
        free(st->scratch->lik);
        free(st->scratch->depth);
        free(st->scratch->row_first);
        free(st->scratch->row_cnt);
        free(st->scratch->row_tab);
        free(st->scratch->bucket);
        free(st->scratch->bucket_n);
        free(st->scratch->hist);
        free(st->scratch);
    }
    free(st->n_samples);
    free(st->an);
    free(st->ns);
    free(st->nhet);
    free(st->nhomalt_any);
    free(st->f_missing);
    free(st->inbreeding);
    free(st->ac);
    free(st->ac_het);
    free(st->ac_hom);
    free(st->nhomalt);
    free(st->af);
    free(st->hwe);
    free(st->exchet);
    free(st);
}

void tsr_site_stats_destroy(tsr_site_stats_t **stp)
{
    if (!stp || !*stp)
        return;
    stats_free(*stp);
    *stp = NULL;
}

tsr_status_t tsr_site_stats_create(int n_samples, const int *sample_pop, int n_pops, tsr_site_stats_t **out)
{
    *out = NULL;
    if (n_samples < 0 || n_pops < 0)
        return tsr_error_set(TSR_ERR_INTERNAL, "site statistics for %d samples in %d populations", n_samples, n_pops);
    tsr_site_stats_t *st = calloc(1, sizeof *st);
    if (!st || !(st->scratch = calloc(1, sizeof *st->scratch))) {
        free(st);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory creating site statistics");
    }
    struct tsr_site_stats_scratch *sc = st->scratch;
    const size_t G = (size_t)n_pops + 1;
    st->n_groups = (int)G;
    sc->n_samples = n_samples;
    sc->n_pops = n_pops;
    sc->sample_pop = malloc(((size_t)n_samples + 1) * sizeof *sc->sample_pop);
    st->n_samples = calloc(G, sizeof *st->n_samples);
    st->an = malloc(G * sizeof *st->an);
    st->ns = malloc(G * sizeof *st->ns);
    st->nhet = malloc(G * sizeof *st->nhet);
    st->nhomalt_any = malloc(G * sizeof *st->nhomalt_any);
    st->f_missing = malloc(G * sizeof *st->f_missing);
    st->inbreeding = malloc(G * sizeof *st->inbreeding);
    sc->n_dip = malloc(G * sizeof *sc->n_dip);
    sc->bucket = malloc(((size_t)n_samples + 1) * sizeof *sc->bucket);
    sc->hist = malloc(G * TSR_STATS_HIST_MAX * sizeof *sc->hist);
    sc->bucket_n = calloc(G, sizeof *sc->bucket_n);
    if (!sc->bucket_n || !sc->bucket || !sc->hist || !sc->sample_pop || !st->n_samples || !st->an || !st->ns ||
        !st->nhet || !st->nhomalt_any ||
        !st->f_missing || !st->inbreeding || !sc->n_dip) {
        stats_free(st);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory creating site statistics");
    }
    for (int j = 0; j < n_samples; j++) {
        int p = sample_pop ? sample_pop[j] : -1;
        if (p >= n_pops) {
            stats_free(st);
            return tsr_error_set(TSR_ERR_INTERNAL, "sample %d is in population %d of %d", j, p, n_pops);
        }
        sc->sample_pop[j] = p;
        sc->bucket[j] = p >= 0 ? p : n_pops;
        sc->bucket_n[sc->bucket[j]]++;
        st->n_samples[0]++;
        if (p >= 0)
            st->n_samples[1 + p]++;
    }
    *out = st;
    return TSR_OK;
}

static int grow(void **p, size_t n, size_t elem)
{
    void *q = realloc(*p, n * elem);
    if (!q)
        return -1;
    *p = q;
    return 0;
}

static int reserve_alleles(tsr_site_stats_t *st, int n_alleles)
{
    struct tsr_site_stats_scratch *sc = st->scratch;
    if (n_alleles <= sc->cap_alleles)
        return 0;
    const size_t G = (size_t)st->n_groups, A = (size_t)n_alleles;
    int e = grow((void **)&sc->cnt_het, G * A, sizeof(int32_t)) | grow((void **)&sc->cnt_hom, G * A, sizeof(int32_t)) |
            grow((void **)&sc->cnt_one, G * A, sizeof(int32_t)) | grow((void **)&st->ac, G * A, sizeof(int32_t)) |
            grow((void **)&st->ac_het, G * A, sizeof(int32_t)) | grow((void **)&st->ac_hom, G * A, sizeof(int32_t)) |
            grow((void **)&st->nhomalt, G * A, sizeof(int32_t)) | grow((void **)&st->af, G * A, sizeof(float)) |
            grow((void **)&st->hwe, G * A, sizeof(double)) | grow((void **)&st->exchet, G * A, sizeof(double));
    if (e)
        return -1;
    sc->cap_alleles = n_alleles;
    return 0;
}

/* Count `m` samples of genotype (a, b) (-1 = no allele) in group g. */
static void count_sample(tsr_site_stats_t *st, int g, int a, int b, int n, int32_t m)
{
    struct tsr_site_stats_scratch *sc = st->scratch;
    int32_t *het = sc->cnt_het + (size_t)g * n, *hom = sc->cnt_hom + (size_t)g * n, *one = sc->cnt_one + (size_t)g * n;
    int na = (a >= 0) + (b >= 0);
    if (na == 0)
        return;
    st->ns[g] += m;
    if (na == 1) {
        one[a >= 0 ? a : b] += m;
        st->an[g] += m;
        return;
    }
    st->an[g] += 2 * m;
    sc->n_dip[g] += m;
    if (a != b) {
        het[a] += m;
        het[b] += m;
        st->nhet[g] += m;
    } else {
        hom[a] += 2 * m;
        st->nhomalt_any[g] += a > 0 ? m : 0;
    }
}

/* The per-sample pass: any number of alleles. */
static int count_generic(tsr_site_stats_t *st, const int32_t *gt, int n)
{
    struct tsr_site_stats_scratch *sc = st->scratch;
    for (int j = 0; j < sc->n_samples; j++) {
        int a = gt[2 * j], b = gt[2 * j + 1];
        if (a >= n || b >= n)
            return -1 - j;
        a = a < 0 ? -1 : a;
        b = b < 0 ? -1 : b;
        count_sample(st, 0, a, b, n, 1);
        if (sc->sample_pop[j] >= 0)
            count_sample(st, 1 + sc->sample_pop[j], a, b, n, 1);
    }
    return 0;
}

/* The histogram pass: (n + 1)^2 <= TSR_STATS_HIST_MAX; only the `m` samples `nz` when nz is not NULL. */
static int count_hist(tsr_site_stats_t *st, const int32_t *gt, int n, const int *nz, int m)
{
    struct tsr_site_stats_scratch *sc = st->scratch;
    const int K = n + 1, C = K * K, B = sc->n_pops + 1;
    int32_t *hist = sc->hist;
    const int *bucket = sc->bucket;
    memset(hist, 0, (size_t)B * (size_t)C * sizeof *hist);
    if (nz) { /* hom-ref cells from the bucket sizes; the listed samples move out of them */
        for (int p = 0; p < B; p++)
            hist[p * C + K + 1] = sc->bucket_n[p];
        for (int k = 0; k < m; k++) {
            const int j = nz[k];
            int32_t a = gt[2 * j], b = gt[2 * j + 1];
            if (a >= n || b >= n)
                return -1 - j;
            a |= a >> 31;
            b |= b >> 31;
            hist[bucket[j] * C + K + 1]--;
            hist[bucket[j] * C + (a + 1) * K + b + 1]++;
        }
    } else
        for (int j = 0; j < sc->n_samples; j++) {
            int32_t a = gt[2 * j], b = gt[2 * j + 1];
            if (a >= n || b >= n)
                return -1 - j;
            a |= a >> 31; /* any negative value -> -1 */
            b |= b >> 31;
            hist[bucket[j] * C + (a + 1) * K + b + 1]++;
        }
    for (int p = 0; p < B; p++) {
        const int32_t *h = hist + (size_t)p * C;
        for (int c = 0; c < C; c++) {
            if (!h[c])
                continue;
            int a = c / K - 1, b = c % K - 1;
            count_sample(st, 0, a, b, n, h[c]);
            if (p < sc->n_pops)
                count_sample(st, 1 + p, a, b, n, h[c]);
        }
    }
    return 0;
}

static void finish_group(tsr_site_stats_t *st, int g, int n)
{
    struct tsr_site_stats_scratch *sc = st->scratch;
    const int32_t *het = sc->cnt_het + (size_t)g * n, *hom = sc->cnt_hom + (size_t)g * n,
                  *one = sc->cnt_one + (size_t)g * n;
    const size_t o = (size_t)g * (size_t)(n - 1);
    st->f_missing[g] = st->n_samples[g] ? (float)(st->n_samples[g] - st->ns[g]) / (float)st->n_samples[g] : NAN;
    int64_t nref_tot = hom[0];
    for (int k = 0; k < n; k++)
        nref_tot += het[k];
    for (int a = 1; a < n; a++) {
        st->ac[o + a - 1] = het[a] + hom[a] + one[a];
        st->ac_het[o + a - 1] = het[a];
        st->ac_hom[o + a - 1] = hom[a];
        st->nhomalt[o + a - 1] = hom[a] / 2;
        st->af[o + a - 1] = st->an[g] ? (float)st->ac[o + a - 1] / (float)st->an[g] : NAN;
        int64_t nref = nref_tot - het[a], nalt = (int64_t)het[a] + hom[a];
        double *h = &st->hwe[o + a - 1], *x = &st->exchet[o + a - 1];
        /* The counts are consistent by construction, so the test cannot refuse them. */
        if (nref <= 0 || nalt <= 0 || tsr_hwe_exact(nref, nalt, het[a], sc->probs, h, x) != 0)
            *h = *x = 1.0;
    }
    /* F over fully called diploid samples: expected hets n * (1 - sum p_k^2). */
    const double nd = sc->n_dip[g];
    double sum_sq = 0.0;
    for (int k = 0; k < n; k++) {
        double c = (double)het[k] + (double)hom[k];
        sum_sq += c * c;
    }
    double expected = nd > 0 ? nd - sum_sq / (4.0 * nd) : 0.0;
    st->inbreeding[g] = expected > 0 ? 1.0 - (double)st->nhet[g] / expected : NAN;
}

static int compute(tsr_site_stats_t *st, const int32_t *gt, int n_alleles, int per_sample, const int *nz, int m);

/*
 * A population whose counts equal the cohort's (one population holding every
 * sample, as `tessera stats` without --populations has): copy the cohort's
 * finished statistics, which finish_group would compute again from the same
 * integers. Returns 1 when copied.
 */
static int same_as_cohort(tsr_site_stats_t *st, int g, int n)
{
    struct tsr_site_stats_scratch *sc = st->scratch;
    const size_t A = (size_t)n, gA = (size_t)g * A, na = (size_t)(n - 1), o = (size_t)g * na;
    if (st->n_samples[g] != st->n_samples[0] || st->an[g] != st->an[0] || st->ns[g] != st->ns[0] ||
        st->nhet[g] != st->nhet[0] || st->nhomalt_any[g] != st->nhomalt_any[0] || sc->n_dip[g] != sc->n_dip[0] ||
        memcmp(sc->cnt_het + gA, sc->cnt_het, A * sizeof *sc->cnt_het) ||
        memcmp(sc->cnt_hom + gA, sc->cnt_hom, A * sizeof *sc->cnt_hom) ||
        memcmp(sc->cnt_one + gA, sc->cnt_one, A * sizeof *sc->cnt_one))
        return 0;
    st->f_missing[g] = st->f_missing[0];
    st->inbreeding[g] = st->inbreeding[0];
    memcpy(st->ac + o, st->ac, na * sizeof *st->ac);
    memcpy(st->ac_het + o, st->ac_het, na * sizeof *st->ac_het);
    memcpy(st->ac_hom + o, st->ac_hom, na * sizeof *st->ac_hom);
    memcpy(st->nhomalt + o, st->nhomalt, na * sizeof *st->nhomalt);
    memcpy(st->af + o, st->af, na * sizeof *st->af);
    memcpy(st->hwe + o, st->hwe, na * sizeof *st->hwe);
    memcpy(st->exchet + o, st->exchet, na * sizeof *st->exchet);
    return 1;
}

int tsr_site_stats_compute(tsr_site_stats_t *st, const int32_t *gt, int n_alleles)
{
    return compute(st, gt, n_alleles, 0, NULL, 0);
}

int tsr_site_stats_compute_path(tsr_site_stats_t *st, const int32_t *gt, int n_alleles, int per_sample)
{
    return compute(st, gt, n_alleles, per_sample, NULL, 0);
}

int tsr_site_stats_compute_listed(tsr_site_stats_t *st, const int32_t *gt, int n_alleles, const int *nz, int m)
{
    return compute(st, gt, n_alleles, 0, nz, m);
}

static int compute(tsr_site_stats_t *st, const int32_t *gt, int n_alleles, int per_sample, const int *nz, int m)
{
    struct tsr_site_stats_scratch *sc = st->scratch;
    const int n = n_alleles < 1 ? 1 : n_alleles, G = st->n_groups;
    int oom = reserve_alleles(st, n) != 0;
    if (!oom && (int64_t)2 * sc->n_samples + 1 > sc->cap_probs) {
        double *p = realloc(sc->probs, ((size_t)2 * (size_t)sc->n_samples + 1) * sizeof *p);
        oom = !p;
        if (p) {
            sc->probs = p;
            sc->cap_probs = (int64_t)2 * sc->n_samples + 1;
        }
    }
    if (oom) {
        tsr_error_set(TSR_ERR_NOMEM, "out of memory computing site statistics");
        return INT32_MIN;
    }
    st->n_alleles = n;
    const size_t GA = (size_t)G * (size_t)n;
    memset(sc->cnt_het, 0, GA * sizeof *sc->cnt_het);
    memset(sc->cnt_hom, 0, GA * sizeof *sc->cnt_hom);
    memset(sc->cnt_one, 0, GA * sizeof *sc->cnt_one);
    for (int g = 0; g < G; g++)
        st->an[g] = st->ns[g] = st->nhet[g] = st->nhomalt_any[g] = sc->n_dip[g] = 0;
    int rc = !per_sample && (n + 1) * (n + 1) <= TSR_STATS_HIST_MAX ? count_hist(st, gt, n, nz, m)
                                                                     : count_generic(st, gt, n);
    if (rc != 0)
        return rc;
    for (int g = 0; g < G; g++)
        if (g == 0 || !same_as_cohort(st, g, n))
            finish_group(st, g, n);
    return 0;
}

static const char *const tsv_cols[] = {"AC", "AN", "AF", "NS", "nhet", "nhomalt", "F_MISSING", "HWE", "ExcHet", "F"};

int tsr_site_stats_tsv_header(tsr_str_t *s, int n_pops, char *const *pops)
{
    int e = 0;
    for (int g = 0; g <= n_pops; g++)
        for (size_t c = 0; c < sizeof tsv_cols / sizeof *tsv_cols; c++) {
            e |= tsr_str_putn(s, "\t", 1) | tsr_str_putn(s, tsv_cols[c], strlen(tsv_cols[c]));
            if (g > 0)
                e |= tsr_str_putn(s, "_", 1) | tsr_str_putn(s, pops[g - 1], strlen(pops[g - 1]));
        }
    return e ? -1 : 0;
}

static int put_int(tsr_str_t *s, int64_t v)
{
    char b[TSR_NUM_FORMAT_MAX];
    return tsr_str_putn(s, b, (size_t)tsr_num_format_int(b, v));
}

/* How a real column is printed: printf's %g, %.9g or %.6f (num_format.c writes the same text). */
enum real_fmt { FMT_G, FMT_G9, FMT_F6 };

/* A real number as `fmt`, or "." for NaN. */
static int put_real(tsr_str_t *s, enum real_fmt fmt, double v)
{
    if (isnan(v))
        return tsr_str_putn(s, ".", 1);
    char b[TSR_NUM_FORMAT_MAX];
    int n = fmt == FMT_F6 ? tsr_num_format_fixed(b, v, 6) : tsr_num_format_g(b, v, fmt == FMT_G9 ? 9 : 6);
    return tsr_str_putn(s, b, (size_t)n);
}

/* One per-ALT column of integers: "v1,v2,..." or "." without ALT. */
static int put_alts_int(tsr_str_t *s, int n_alt, const int32_t *iv)
{
    int e = tsr_str_putn(s, "\t", 1);
    if (n_alt == 0)
        return e | tsr_str_putn(s, ".", 1);
    for (int a = 0; a < n_alt; a++)
        e |= (a ? tsr_str_putn(s, ",", 1) : 0) | put_int(s, iv[a]);
    return e;
}

/* One per-ALT column of reals (float `fv`, else double `dv`) printed as `fmt`. */
static int put_alts_real(tsr_str_t *s, int n_alt, enum real_fmt fmt, const float *fv, const double *dv)
{
    int e = tsr_str_putn(s, "\t", 1);
    if (n_alt == 0)
        return e | tsr_str_putn(s, ".", 1);
    for (int a = 0; a < n_alt; a++)
        e |= (a ? tsr_str_putn(s, ",", 1) : 0) | put_real(s, fmt, fv ? fv[a] : dv[a]);
    return e;
}

/* Whether group g prints exactly what group 0 prints: every printed value bitwise equal. */
static int prints_as_cohort(const tsr_site_stats_t *st, int g, int na)
{
    const size_t o = (size_t)g * (size_t)na, n = (size_t)na;
#define SAME1(f) (memcmp(&st->f[g], &st->f[0], sizeof *st->f) == 0)
#define SAMEN(f) (memcmp(st->f + o, st->f, n * sizeof *st->f) == 0)
    return SAME1(an) && SAME1(ns) && SAME1(nhet) && SAME1(f_missing) && SAME1(inbreeding) && SAMEN(ac) &&
           SAMEN(af) && SAMEN(nhomalt) && SAMEN(hwe) && SAMEN(exchet);
#undef SAME1
#undef SAMEN
}

int tsr_site_stats_tsv_values(tsr_str_t *s, const tsr_site_stats_t *st)
{
    const int na = st->n_alleles - 1;
    int e = 0;
    size_t cohort_start = s->l, cohort_end = s->l;
    for (int g = 0; g < st->n_groups; g++) {
        const size_t o = (size_t)g * (size_t)na;
        if (g > 0 && prints_as_cohort(st, g, na)) { /* a population equal to the cohort: its text again */
            size_t len = cohort_end - cohort_start;
            if (tsr_str_reserve(s, len) != 0) /* first: the copy's source must not move under it */
                return -1;
            e |= tsr_str_putn(s, s->s + cohort_start, len);
            continue;
        }
        e |= put_alts_int(s, na, st->ac + o);
        e |= tsr_str_putn(s, "\t", 1) | put_int(s, st->an[g]);
        e |= put_alts_real(s, na, FMT_G, st->af + o, NULL);
        e |= tsr_str_putn(s, "\t", 1) | put_int(s, st->ns[g]);
        e |= tsr_str_putn(s, "\t", 1) | put_int(s, st->nhet[g]);
        e |= put_alts_int(s, na, st->nhomalt + o);
        e |= tsr_str_putn(s, "\t", 1) | put_real(s, FMT_G, st->f_missing[g]);
        e |= put_alts_real(s, na, FMT_G9, NULL, st->hwe + o);
        e |= put_alts_real(s, na, FMT_G9, NULL, st->exchet + o);
        e |= tsr_str_putn(s, "\t", 1) | put_real(s, FMT_F6, st->inbreeding[g]);
        if (g == 0)
            cohort_end = s->l;
    }
    return e ? -1 : 0;
}

/* ------------------------------------------------ low-pass: from likelihoods */

/*
 * Likelihoods of 0, 1, 2 copies of ALT a for sample j from its PL over n
 * alleles: each class sums the genotypes with that many copies of a, weighted
 * by their HWE prior from the frequencies f of the other alleles (exact for
 * a biallelic site, where each class is one genotype).
 */
static void collapse_alt(const int32_t *pl, int n, int a, const double *f, double *out)
{
    double w[3] = {0, 0, 0};
    out[0] = out[1] = out[2] = 0;
    for (int c = 0; c < n; c++)
        for (int b = 0; b <= c; b++) {
            int k = (b == a) + (c == a);
            double fb = f[b] > 1e-6 ? f[b] : 1e-6, fc = f[c] > 1e-6 ? f[c] : 1e-6;
            double pr = k == 2 ? 1.0 : k == 1 ? (b == a ? fc : fb) : (b == c ? fb * fc : 2 * fb * fc);
            out[k] += pr * tsr_lp_pl_to_lik(pl[c * (c + 1) / 2 + b]);
            w[k] += pr;
        }
    for (int k = 0; k < 3; k++)
        out[k] = w[k] > 0 ? out[k] / w[k] : 0;
}

/*
 * Group g's samples with likelihoods (PL present) as distinct rows of (PL, DP), in the order of their first
 * sample: sc->row_first[r] is that sample, sc->row_cnt[r] how many samples share the row. At 0.1-1x most
 * samples have 0-2 reads and quantised PL, so a site of 20,000 samples has a few dozen rows, and the HWE
 * EMs and score test run over the rows (tsr_lp_hwe_test_rows). Returns the number of rows.
 */
static int lowpass_rows(struct tsr_site_stats_scratch *sc, const int32_t *pl, int G, const int32_t *dp, int g)
{
    const int S = sc->n_samples;
    const size_t mask = sc->row_cap - 1;
    memset(sc->row_tab, 0xff, sc->row_cap * sizeof *sc->row_tab);
    int n = 0;
    for (int j = 0; j < S; j++) {
        const int32_t *row = pl + (size_t)j * G, d = dp ? dp[j] : 0;
        if (row[0] < 0 || (g > 0 && sc->sample_pop[j] != g - 1))
            continue;
        uint64_t h = (uint32_t)d * 0x9e3779b97f4a7c15ULL;
        for (int k = 0; k < G; k++) {
            h = (h ^ (uint32_t)row[k]) * 0xbf58476d1ce4e5b9ULL;
            h ^= h >> 31;
        }
        size_t b = (size_t)h & mask;
        for (; sc->row_tab[b] >= 0; b = (b + 1) & mask) {
            const int f = sc->row_first[sc->row_tab[b]];
            if ((dp ? dp[f] : 0) == d && memcmp(pl + (size_t)f * G, row, (size_t)G * sizeof *row) == 0)
                break;
        }
        if (sc->row_tab[b] < 0) {
            sc->row_tab[b] = n;
            sc->row_first[n] = j;
            sc->row_cnt[n++] = 0;
        }
        sc->row_cnt[sc->row_tab[b]]++;
    }
    return n;
}

int tsr_site_stats_lowpass(tsr_site_stats_t *st, const tsr_callset_t *cs, int64_t i)
{
    struct tsr_site_stats_scratch *sc = st->scratch;
    const int n = cs->n_alleles[i], G = n * (n + 1) / 2, S = sc->n_samples;
    if (!sc->row_tab) {
        sc->row_cap = 16;
        while (sc->row_cap < 2 * ((size_t)S + 1))
            sc->row_cap *= 2;
        sc->row_tab = malloc(sc->row_cap * sizeof *sc->row_tab);
    }
    if ((!sc->lik && !(sc->lik = malloc(3 * ((size_t)S + 1) * sizeof *sc->lik))) ||
        (!sc->depth && !(sc->depth = malloc(((size_t)S + 1) * sizeof *sc->depth))) ||
        (!sc->row_first && !(sc->row_first = malloc(((size_t)S + 1) * sizeof *sc->row_first))) ||
        (!sc->row_cnt && !(sc->row_cnt = malloc(((size_t)S + 1) * sizeof *sc->row_cnt))) || !sc->row_tab) {
        tsr_error_set(TSR_ERR_NOMEM, "out of memory computing the low-pass statistics");
        return INT32_MIN;
    }
    const int32_t *pl = cs->pl + cs->pl_off[i];
    const int32_t *dp = cs->dp ? cs->dp + i * S : NULL;
    for (int g = 0; g < st->n_groups; g++) {
        const float *fv = g == 0 ? cs->af + cs->af_off[i]
                          : cs->pop_af && g - 1 < cs->n_pops ? cs->pop_af + cs->af_off[i] * cs->n_pops +
                                                                 (int64_t)(g - 1) * n
                                                             : NULL;
        double f[256];
        for (int a = 0; a < n && a < 256; a++)
            f[a] = fv && !isnan(fv[a]) ? fv[a] : NAN;
        const size_t o = (size_t)g * (size_t)(n - 1);
        int32_t nhet = 0, nhomalt_any = 0, n_rows = -1;
        for (int a = 1; a < n; a++) {
            const size_t x = o + a - 1;
            st->af[x] = st->an[g] > 0 && !isnan(f[a]) ? (float)f[a] : NAN;
            st->ac[x] = isnan(st->af[x]) ? 0 : (int32_t)lround(f[a] * st->an[g]);
            if (n_rows < 0 && !isnan(f[a])) /* the rows do not depend on the ALT: found once per group */
                n_rows = lowpass_rows(sc, pl, G, dp, g);
            const int rows = isnan(f[a]) ? 0 : n_rows;
            for (int r = 0; r < rows; r++) {
                collapse_alt(pl + (size_t)sc->row_first[r] * G, n, a, f, sc->lik + 3 * r);
                sc->depth[r] = dp ? dp[sc->row_first[r]] : 0;
            }
            tsr_lp_hwe_t h;
            tsr_lp_hwe_test_rows(sc->lik, sc->depth, sc->row_cnt, rows, isnan(f[a]) ? 0.5 : f[a], &h);
            const int m = h.n;
            st->hwe[x] = h.p_hwe;
            st->exchet[x] = h.p_exchet;
            if (a == 1)
                st->inbreeding[g] = h.F;
            if (m > 0) {
                st->ac_het[x] = (int32_t)lround(h.g[1] * m);
                st->nhomalt[x] = (int32_t)lround(h.g[2] * m);
            } else
                st->ac_het[x] = st->nhomalt[x] = 0;
            st->ac_hom[x] = 2 * st->nhomalt[x];
            nhet += st->ac_het[x];
            nhomalt_any += st->nhomalt[x];
        }
        if (n == 1)
            st->inbreeding[g] = NAN;
        st->nhet[g] = nhet < st->ns[g] ? nhet : st->ns[g];
        st->nhomalt_any[g] = nhomalt_any < st->ns[g] ? nhomalt_any : st->ns[g];
    }
    return 0;
}
