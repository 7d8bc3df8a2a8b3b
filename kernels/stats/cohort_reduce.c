/*
 * cohort_reduce.c - cohort-wide reductions: site classes and Ti/Tv, the
 * site-frequency spectrum per population, the AF histogram, Hudson F_ST per
 * pair of populations and per-sample QC, as order-independent sufficient
 * statistics.
 *
 * Design. An accumulator holds one int64 array; every site adds integers to
 * it, and merging two accumulators (what an MPI_SUM reduction does) adds the
 * arrays. Integer addition is associative, so the totals are the same for
 * any split of the sites and any merge order. The only per-site fractions,
 * Hudson's F_ST numerator and denominator, are rounded to fixed point
 * (TSR_COHORT_FST_SCALE = 2^32 per unit: 2.3e-10 per site, and room for about
 * 2 x 10^9 sites in an int64) before they are added. Ratios, medians and
 * outlier flags are computed once, at the end, from the summed integers.
 * Definitions: io/cohort_schema.md.
 *
 * Speed. Most calls are hom-ref, so a site visits every sample once, to list
 * the others (an 8-byte compare per sample); AN starts from 2 x the group's
 * size and the rest of the site touches only the listed samples. A hom-ref
 * call's per-sample QC counts (called, hom-ref) are not written per site:
 * the accumulator counts the sites added since the last flush and, per
 * sample, those where it was listed, and adds the difference to both counts
 * before anything reads the array (qc_flush).
 */
#include "kernels/stats/stats_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Global counters, then per sample N_Q counters. */
enum { G_SITES, G_SNV, G_INDEL, G_OTHER, G_MULTI, G_NOALT, G_BISNV, G_TI, G_TV, N_G };
enum { Q_CALLED, Q_HOMREF, Q_HET, Q_HOMALT, Q_SINGLE, Q_DPSUM, Q_DPN, Q_TI, Q_TV, N_Q };

struct tsr_cohort_acc {
    int n_samples, n_pops;
    char **ids, **pops;
    int *sample_pop;
    int *pop_n;         /* samples per population */
    int64_t off_af;     /* TSR_COHORT_AF_BINS */
    int64_t *off_sfs;   /* per population: sites, skipped, then 2N+1 bins */
    int64_t off_fst;    /* per pair: sites, num, den */
    int64_t off_qc;     /* per sample: N_Q */
    int64_t n;
    int64_t *c;
    int32_t *ac, *an;   /* scratch: per group (cohort, populations), then one slot that absorbs no-ops */
    int ac_cap;
    int *nz;            /* scratch: the site's samples with a call other than hom-ref */
    int64_t qc_pending; /* sites added since the last qc_flush */
    int64_t *qc_listed; /* per sample: of those, the sites where it was in nz */
};

/*
 * Add the hom-ref calls of the sites since the last flush to the per-sample
 * counts. Every reader of the array calls it first; the counts it completes
 * are the same whenever it runs, so readers of a const accumulator may too.
 */
static void qc_flush(const tsr_cohort_acc_t *cacc)
{
    tsr_cohort_acc_t *acc = (tsr_cohort_acc_t *)cacc; /* logically const: the counts do not change */
    if (acc->qc_pending == 0)
        return;
    for (int j = 0; j < acc->n_samples; j++) {
        int64_t *q = acc->c + acc->off_qc + (int64_t)N_Q * j, homref = acc->qc_pending - acc->qc_listed[j];
        q[Q_CALLED] += homref;
        q[Q_HOMREF] += homref;
        acc->qc_listed[j] = 0;
    }
    acc->qc_pending = 0;
}

void tsr_cohort_acc_destroy(tsr_cohort_acc_t **accp)
{
    if (!accp || !*accp)
        return;
    tsr_cohort_acc_t *a = *accp;
    for (int j = 0; a->ids && j < a->n_samples; j++)
        free(a->ids[j]);
    for (int p = 0; a->pops && p < a->n_pops; p++)
        free(a->pops[p]);
    free(a->ids);
    free(a->pops);
    free(a->sample_pop);
    free(a->pop_n);
    free(a->off_sfs);
    free(a->c);
    free(a->ac);
    free(a->an);
    free(a->nz);
    free(a->qc_listed);
    free(a);
    *accp = NULL;
}

tsr_status_t tsr_cohort_acc_create(int n_samples, const char *const *sample_ids, const int *sample_pop, int n_pops,
                                   const char *const *pop_names, tsr_cohort_acc_t **out)
{
    *out = NULL;
    if (n_samples < 0 || n_pops < 0)
        return tsr_error_set(TSR_ERR_INTERNAL, "cohort accumulator: %d samples, %d populations", n_samples, n_pops);
    tsr_cohort_acc_t *a = calloc(1, sizeof *a);
    if (!a)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory creating the cohort statistics");
    a->n_samples = n_samples;
    a->n_pops = n_pops;
    int ok = (a->ids = calloc((size_t)n_samples + 1, sizeof *a->ids)) &&
             (a->pops = calloc((size_t)n_pops + 1, sizeof *a->pops)) &&
             (a->sample_pop = calloc((size_t)n_samples + 1, sizeof *a->sample_pop)) &&
             (a->pop_n = calloc((size_t)n_pops + 1, sizeof *a->pop_n)) &&
             (a->off_sfs = calloc((size_t)n_pops + 1, sizeof *a->off_sfs)) &&
             (a->nz = calloc((size_t)n_samples + 1, sizeof *a->nz)) &&
             (a->qc_listed = calloc((size_t)n_samples + 1, sizeof *a->qc_listed));
    for (int j = 0; ok && j < n_samples; j++) {
        ok = (a->ids[j] = strdup(sample_ids[j])) != NULL;
        int p = sample_pop ? sample_pop[j] : -1;
        a->sample_pop[j] = p >= 0 && p < n_pops ? p : -1;
        if (a->sample_pop[j] >= 0)
            a->pop_n[p]++;
    }
    for (int p = 0; ok && p < n_pops; p++)
        ok = (a->pops[p] = strdup(pop_names[p])) != NULL;
    if (ok) {
        int64_t n = N_G;
        a->off_af = n;
        n += TSR_COHORT_AF_BINS;
        for (int p = 0; p < n_pops; p++) {
            a->off_sfs[p] = n;
            n += 2 + 2 * (int64_t)a->pop_n[p] + 1;
        }
        a->off_fst = n;
        n += 3 * (int64_t)n_pops * (n_pops - 1) / 2;
        a->off_qc = n;
        n += (int64_t)N_Q * n_samples;
        a->n = n;
        ok = (a->c = calloc((size_t)n, sizeof *a->c)) != NULL;
    }
    if (!ok) {
        tsr_cohort_acc_destroy(&a);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory creating the cohort statistics");
    }
    *out = a;
    return TSR_OK;
}

int64_t *tsr_cohort_acc_counts(tsr_cohort_acc_t *acc)
{
    qc_flush(acc);
    return acc->c;
}
int64_t tsr_cohort_acc_n_counts(const tsr_cohort_acc_t *acc) { return acc->n; }

tsr_status_t tsr_cohort_acc_merge(tsr_cohort_acc_t *dst, const tsr_cohort_acc_t *src)
{
    if (dst->n != src->n || dst->n_samples != src->n_samples || dst->n_pops != src->n_pops)
        return tsr_error_set(TSR_ERR_INTERNAL, "cannot merge cohort statistics of different cohorts");
    for (int j = 0; j < dst->n_samples; j++)
        if (dst->sample_pop[j] != src->sample_pop[j] || strcmp(dst->ids[j], src->ids[j]))
            return tsr_error_set(TSR_ERR_INTERNAL, "cannot merge cohort statistics of different cohorts");
    qc_flush(dst);
    qc_flush(src);
    for (int64_t k = 0; k < dst->n; k++)
        dst->c[k] += src->c[k];
    return TSR_OK;
}

void tsr_cohort_acc_reset(tsr_cohort_acc_t *acc)
{
    memset(acc->c, 0, (size_t)acc->n * sizeof *acc->c);
    memset(acc->qc_listed, 0, (size_t)acc->n_samples * sizeof *acc->qc_listed);
    acc->qc_pending = 0;
}

/* ------------------------------------------------------- the counts file */

#define COUNTS_MAGIC "TSRACC01"
enum { COUNTS_BLOCK = 4096 }; /* counts per read or write: memory does not grow with the file */

/* Little-endian int64 <-> 8 bytes, whatever the host's byte order. */
static void put_le64(unsigned char *b, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(u >> (8 * i));
}

static int64_t get_le64(const unsigned char *b)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)b[i] << (8 * i);
    return (int64_t)u;
}

tsr_status_t tsr_cohort_acc_counts_write(const tsr_cohort_acc_t *acc, FILE *fp, const char *name)
{
    unsigned char buf[8 * COUNTS_BLOCK];
    qc_flush(acc);
    memcpy(buf, COUNTS_MAGIC, 8);
    put_le64(buf + 8, acc->n);
    int ok = fwrite(buf, 1, 16, fp) == 16;
    for (int64_t k = 0; ok && k < acc->n; k += COUNTS_BLOCK) {
        size_t m = (size_t)(acc->n - k < COUNTS_BLOCK ? acc->n - k : COUNTS_BLOCK);
        for (size_t i = 0; i < m; i++)
            put_le64(buf + 8 * i, acc->c[k + (int64_t)i]);
        ok = fwrite(buf, 8, m, fp) == m;
    }
    if (!ok)
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", name, tsr_write_failure_reason(name, errno));
    return TSR_OK;
}

tsr_status_t tsr_cohort_acc_counts_add(tsr_cohort_acc_t *acc, FILE *fp, const char *name)
{
    unsigned char buf[8 * COUNTS_BLOCK];
    if (fread(buf, 1, 16, fp) != 16 || memcmp(buf, COUNTS_MAGIC, 8) != 0)
        return tsr_error_set(TSR_ERR_FORMAT, "'%s' is not a tessera counts file (no '" COUNTS_MAGIC "' header)",
                             name);
    int64_t n = get_le64(buf + 8);
    if (n != acc->n)
        return tsr_error_set(TSR_ERR_FORMAT, "'%s' holds %" PRId64 " counts where this cohort's statistics have %"
                             PRId64 ": it was written for other samples or populations", name, n, acc->n);
    for (int64_t k = 0; k < n; k += COUNTS_BLOCK) {
        size_t m = (size_t)(n - k < COUNTS_BLOCK ? n - k : COUNTS_BLOCK);
        if (fread(buf, 8, m, fp) != m)
            return tsr_error_set(TSR_ERR_FORMAT, "'%s' is truncated: fewer than the %" PRId64 " counts its header "
                                 "announces", name, n);
        for (size_t i = 0; i < m; i++)
            acc->c[k + (int64_t)i] += get_le64(buf + 8 * i);
    }
    if (fgetc(fp) != EOF)
        return tsr_error_set(TSR_ERR_FORMAT, "'%s' has bytes after its %" PRId64 " counts", name, n);
    if (ferror(fp))
        return tsr_error_set(TSR_ERR_IO, "cannot read '%s': %s", name, strerror(errno));
    return TSR_OK;
}

static int is_base(char c)
{
    return c == 'A' || c == 'C' || c == 'G' || c == 'T' || c == 'a' || c == 'c' || c == 'g' || c == 't';
}

static int is_symbolic(const char *a) { return a[0] == '<' || a[0] == '*' || strchr(a, '[') || strchr(a, ']'); }

static int is_transition(char r, char a)
{
    int x = r & ~0x20, y = a & ~0x20; /* upper case */
    return (x == 'A' && y == 'G') || (x == 'G' && y == 'A') || (x == 'C' && y == 'T') || (x == 'T' && y == 'C');
}

/* Hudson's per-site numerator and denominator (Bhatia et al. 2013, eq. 10) from allele counts. */
static void hudson_terms(int64_t a1, int64_t n1, int64_t a2, int64_t n2, double *num, double *den)
{
    double p1 = (double)a1 / (double)n1, p2 = (double)a2 / (double)n2;
    double d = p1 - p2;
    *num = d * d - p1 * (1.0 - p1) / (double)(n1 - 1) - p2 * (1.0 - p2) / (double)(n2 - 1);
    *den = p1 * (1.0 - p2) + p2 * (1.0 - p1);
}

tsr_status_t tsr_cohort_acc_add_site(tsr_cohort_acc_t *acc, const char *const *alleles, int n_alleles,
                                     const int32_t *gt, const int32_t *dp)
{
    return tsr_cohort_acc_add_site_af(acc, alleles, n_alleles, gt, dp, NULL);
}

int tsr_gt_list_not_homref(const int32_t *gt, int n_samples, int *nz)
{
    int m = 0;
    for (int j = 0; j < n_samples; j++) { /* both allele indices 0: eight zero bytes; no branch */
        uint64_t pair;
        memcpy(&pair, gt + 2 * j, sizeof pair);
        nz[m] = j;
        m += pair != 0;
    }
    return m;
}

tsr_status_t tsr_cohort_acc_add_site_af(tsr_cohort_acc_t *acc, const char *const *alleles, int n_alleles,
                                        const int32_t *gt, const int32_t *dp, const float *af)
{
    int m = tsr_gt_list_not_homref(gt, acc->n_samples, acc->nz);
    return tsr_cohort_acc_add_site_listed(acc, alleles, n_alleles, gt, dp, af, acc->nz, m);
}

tsr_status_t tsr_cohort_acc_add_site_listed(tsr_cohort_acc_t *acc, const char *const *alleles, int n_alleles,
                                            const int32_t *gt, const int32_t *dp, const float *af, const int *nz,
                                            int m)
{
    const int S = acc->n_samples, P = acc->n_pops, n_alt = n_alleles - 1;
    if (n_alleles < 1)
        return tsr_error_set(TSR_ERR_FORMAT, "a site without alleles");
    for (int k = 0; k < m; k++)
        for (int h = 0; h < 2; h++)
            if (gt[2 * nz[k] + h] >= n_alleles)
                return tsr_error_set(TSR_ERR_FORMAT, "sample %s has allele index %d beyond the site's %d alleles",
                                     acc->ids[nz[k]], gt[2 * nz[k] + h], n_alleles);
    int need = (P + 1) * (n_alt > 0 ? n_alt : 1);
    if (need > acc->ac_cap) {
        int32_t *ac = realloc(acc->ac, ((size_t)need + 1) * sizeof *ac);
        if (!ac)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory computing the cohort statistics");
        acc->ac = ac;
        int32_t *an = realloc(acc->an, ((size_t)P + 2) * sizeof *an);
        if (!an)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory computing the cohort statistics");
        acc->an = an;
        acc->ac_cap = need;
    }
    int64_t *c = acc->c;

    /* Site classes. */
    int all_single = 1, indel = 0;
    size_t ref_len = strlen(alleles[0]);
    for (int a = 0; a < n_alleles; a++) {
        all_single &= strlen(alleles[a]) == 1 && is_base(alleles[a][0]);
        if (a > 0 && !is_symbolic(alleles[a]) && strlen(alleles[a]) != ref_len)
            indel = 1;
    }
    c[G_SITES]++;
    int bisnv = 0, ti = 0;
    if (n_alt == 0)
        c[G_NOALT]++;
    else if (all_single) {
        c[G_SNV]++;
        if (n_alt == 1) {
            bisnv = 1;
            ti = is_transition(alleles[0][0], alleles[1][0]);
            c[G_BISNV]++;
            c[ti ? G_TI : G_TV]++;
        }
    } else if (indel)
        c[G_INDEL]++;
    else
        c[G_OTHER]++;
    if (n_alt >= 2)
        c[G_MULTI]++;

    /* AC per ALT and AN per group (0 = cohort, 1 + p = population p); AN is two alleles per sample
       less the listed samples' missing ones. Genotype classes mix at random, so the loop selects
       indices rather than branching; an update that does not apply goes to the sink slot. */
    const int ac_sink = need, an_sink = P + 1;
    int32_t *ac = acc->ac, *an = acc->an;
    memset(ac, 0, ((size_t)need + 1) * sizeof *ac);
    an[0] = 2 * S;
    for (int p = 0; p < P; p++)
        an[1 + p] = 2 * acc->pop_n[p];
    an[an_sink] = 0;
    if (n_alt == 1 && (P == 0 || (P == 1 && acc->pop_n[0] == S))) {
        /* Biallelic, and no population other than the cohort (the usual `tessera stats`): the counts in
           registers, the population's copied from the cohort's. */
        int32_t alt = 0, miss = 0;
        for (int k = 0; k < m; k++) {
            const int32_t x = gt[2 * nz[k]], y = gt[2 * nz[k] + 1];
            alt += (x > 0) + (y > 0);
            miss += (x < 0) + (y < 0);
        }
        ac[0] = alt;
        an[0] -= miss;
        if (P == 1) {
            ac[1] = ac[0];
            an[1] = an[0];
        }
    } else
        for (int k = 0; k < m; k++) {
            const int j = nz[k], p = acc->sample_pop[j];
            for (int h = 0; h < 2; h++) {
                const int32_t v = gt[2 * j + h];
                const int miss = v < 0;
                an[0] -= miss;
                an[p >= 0 ? 1 + p : an_sink] -= miss;
                ac[v > 0 ? v - 1 : ac_sink]++;
                ac[v > 0 && p >= 0 ? (1 + p) * n_alt + v - 1 : ac_sink]++;
            }
        }
    for (int a = 0; a < n_alt && (af ? !isnan(af[a]) : acc->an[0] > 0); a++) {
        int64_t bin = af ? (int64_t)floor((double)af[a] * TSR_COHORT_AF_BINS)
                         : (int64_t)acc->ac[a] * TSR_COHORT_AF_BINS / acc->an[0];
        bin = bin < 0 ? 0 : bin;
        c[acc->off_af + (bin < TSR_COHORT_AF_BINS ? bin : TSR_COHORT_AF_BINS - 1)]++;
    }
    if (bisnv) {
        for (int p = 0; p < P; p++) {
            int64_t *s = c + acc->off_sfs[p];
            if (acc->pop_n[p] > 0 && acc->an[1 + p] == 2 * acc->pop_n[p]) {
                s[0]++;
                s[2 + acc->ac[1 + p]]++;
            } else
                s[1]++;
        }
        int64_t *f = c + acc->off_fst;
        for (int x = 0; x < P; x++)
            for (int y = x + 1; y < P; y++, f += 3) {
                int64_t n1 = acc->an[1 + x], n2 = acc->an[1 + y];
                if (n1 < 2 || n2 < 2)
                    continue;
                double num, den;
                hudson_terms(acc->ac[1 + x], n1, acc->ac[1 + y], n2, &num, &den);
                f[0]++;
                f[1] += llround(num * TSR_COHORT_FST_SCALE);
                f[2] += llround(den * TSR_COHORT_FST_SCALE);
            }
    }

    /* Per sample: the listed ones here, hom-ref calls at the next qc_flush. */
    acc->qc_pending++;
    for (int k = 0; k < m; k++) {
        const int j = nz[k];
        int64_t *q = c + acc->off_qc + (int64_t)N_Q * j;
        const int32_t x = gt[2 * j], y = gt[2 * j + 1];
        acc->qc_listed[j]++;
        /* called: a first allele and a second one or none (haploid); a haploid call is hom */
        const int called = (x >= 0) & ((y >= 0) | (y == -2));
        q[Q_CALLED] += called;
        q[y != -2 && x != y ? Q_HET : x == 0 ? Q_HOMREF : Q_HOMALT] += called;
        q[ti ? Q_TI : Q_TV] += bisnv & ((x == 1) | (y == 1));
    }
    /* Singletons: the one sample carrying an ALT seen once (most sites have none). */
    int any_single = 0;
    for (int a = 0; a < n_alt; a++)
        any_single |= ac[a] == 1;
    for (int k = 0; any_single && k < m; k++) {
        const int32_t x = gt[2 * nz[k]], y = gt[2 * nz[k] + 1];
        c[acc->off_qc + (int64_t)N_Q * nz[k] + Q_SINGLE] += ((x > 0) && ac[x - 1] == 1) + ((y > 0) && ac[y - 1] == 1);
    }
    for (int j = 0; dp && j < S; j++)
        if (dp[j] >= 0) {
            int64_t *q = c + acc->off_qc + (int64_t)N_Q * j;
            q[Q_DPSUM] += dp[j];
            q[Q_DPN]++;
        }
    return TSR_OK;
}

/* ---------------------------------------------------------------- results */

void tsr_cohort_result_destroy(tsr_cohort_result_t **rp)
{
    if (!rp || !*rp)
        return;
    tsr_cohort_result_t *r = *rp;
    for (int p = 0; r->sfs && p < r->n_pops; p++)
        free(r->sfs[p].folded);
    free(r->sfs);
    free(r->fst);
    free(r->samples);
    free(r);
    *rp = NULL;
}

static double ratio(int64_t a, int64_t b) { return b > 0 ? (double)a / (double)b : NAN; }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double metric(const tsr_cohort_sample_t *s, int m)
{
    switch (m) {
    case 0: return s->call_rate;
    case 1: return s->het_hom;
    case 2: return (double)s->singletons;
    case 3: return s->mean_dp;
    default: return s->ti_tv;
    }
}

static double median_of(double *v, int n)
{
    if (n > 0) /* qsort needs a non-NULL array even when empty */
        qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/*
 * Median and MAD of each metric over the samples where it is defined; flag
 * |x - median| > 4 x scale, scale = the MAD, or where the MAD is 0 (more
 * than half the samples share one value, e.g. a call rate of 1) the mean
 * absolute deviation from the median, so that one deviant sample among
 * identical ones is still flagged. The scale has a floor per metric, so that
 * a cohort of near-identical samples does not flag differences nobody would
 * act on: 0.005 for the call rate (a flag needs 2 points of call rate), 1 for
 * the singleton count, 2.5% of the median for the ratios and the depth (a
 * flag needs 10% off the median).
 */
static tsr_status_t flag_outliers(tsr_cohort_result_t *r)
{
    double *v = malloc(((size_t)r->n_samples + 1) * sizeof *v);
    if (!v)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory computing the sample QC");
    for (int m = 0; m < TSR_QC_N_METRICS; m++) {
        int n = 0;
        for (int j = 0; j < r->n_samples; j++)
            if (!isnan(metric(&r->samples[j], m)))
                v[n++] = metric(&r->samples[j], m);
        r->qc_median[m] = r->qc_mad[m] = r->qc_scale[m] = NAN;
        if (n == 0)
            continue;
        double med = median_of(v, n);
        for (int k = 0; k < n; k++)
            v[k] = fabs(v[k] - med);
        double sum = 0;
        for (int k = 0; k < n; k++)
            sum += v[k];
        double mad = median_of(v, n), scale = mad > 0 ? mad : sum / n;
        double floor = (1u << m) == TSR_QC_CALL_RATE    ? 0.005
                       : (1u << m) == TSR_QC_SINGLETONS ? 1.0
                                                        : 0.025 * fabs(med);
        if (scale < floor)
            scale = floor;
        r->qc_median[m] = med;
        r->qc_mad[m] = mad;
        r->qc_scale[m] = scale;
        for (int j = 0; j < r->n_samples && scale > 0; j++) {
            double x = metric(&r->samples[j], m);
            if (!isnan(x) && fabs(x - med) > 4.0 * scale)
                r->samples[j].outlier |= 1u << m;
        }
    }
    free(v);
    for (int j = 0; j < r->n_samples; j++)
        r->n_outliers += r->samples[j].outlier != 0;
    return TSR_OK;
}

tsr_status_t tsr_cohort_acc_result(const tsr_cohort_acc_t *acc, tsr_cohort_result_t **out)
{
    *out = NULL;
    qc_flush(acc);
    const int64_t *c = acc->c;
    tsr_cohort_result_t *r = calloc(1, sizeof *r);
    if (!r)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory computing the cohort statistics");
    r->n_samples = acc->n_samples;
    r->n_pops = acc->n_pops;
    r->sample_ids = (const char *const *)acc->ids;
    r->pop_names = (const char *const *)acc->pops;
    r->sample_pop = acc->sample_pop;
    r->sites = c[G_SITES];
    r->snv_sites = c[G_SNV];
    r->indel_sites = c[G_INDEL];
    r->other_sites = c[G_OTHER];
    r->multiallelic_sites = c[G_MULTI];
    r->no_alt_sites = c[G_NOALT];
    r->biallelic_snvs = c[G_BISNV];
    r->transitions = c[G_TI];
    r->transversions = c[G_TV];
    r->ti_tv = ratio(c[G_TI], c[G_TV]);
    memcpy(r->af_hist, c + acc->off_af, sizeof r->af_hist);
    r->n_pairs = acc->n_pops * (acc->n_pops - 1) / 2;
    int ok = (r->sfs = calloc((size_t)acc->n_pops + 1, sizeof *r->sfs)) &&
             (r->fst = calloc((size_t)r->n_pairs + 1, sizeof *r->fst)) &&
             (r->samples = calloc((size_t)acc->n_samples + 1, sizeof *r->samples));
    for (int p = 0; ok && p < acc->n_pops; p++) {
        tsr_cohort_sfs_t *s = &r->sfs[p];
        const int64_t *src = c + acc->off_sfs[p];
        s->n_chrom = 2 * acc->pop_n[p];
        s->sites = src[0];
        s->skipped = src[1];
        s->unfolded = (int64_t *)(src + 2);
        if (!(s->folded = calloc((size_t)s->n_chrom / 2 + 1, sizeof *s->folded))) {
            ok = 0;
            break;
        }
        for (int k = 0; k <= s->n_chrom; k++)
            s->folded[k <= s->n_chrom - k ? k : s->n_chrom - k] += s->unfolded[k];
    }
    const int64_t *f = c + acc->off_fst;
    for (int x = 0, k = 0; ok && x < acc->n_pops; x++)
        for (int y = x + 1; y < acc->n_pops; y++, k++, f += 3)
            r->fst[k] = (tsr_cohort_fst_t){x, y, f[0], f[1], f[2], f[2] != 0 ? (double)f[1] / (double)f[2] : NAN};
    for (int j = 0; ok && j < acc->n_samples; j++) {
        const int64_t *q = c + acc->off_qc + (int64_t)N_Q * j;
        tsr_cohort_sample_t *s = &r->samples[j];
        *s = (tsr_cohort_sample_t){q[Q_CALLED], q[Q_HOMREF], q[Q_HET], q[Q_HOMALT], q[Q_SINGLE], q[Q_DPSUM],
                                   q[Q_DPN], q[Q_TI], q[Q_TV], ratio(q[Q_CALLED], c[G_SITES]),
                                   ratio(q[Q_HET], q[Q_HOMALT]), ratio(q[Q_DPSUM], q[Q_DPN]),
                                   ratio(q[Q_TI], q[Q_TV]), 0};
    }
    tsr_status_t st = ok ? flag_outliers(r)
                         : tsr_error_set(TSR_ERR_NOMEM, "out of memory computing the cohort statistics");
    if (st != TSR_OK) {
        tsr_cohort_result_destroy(&r);
        return st;
    }
    *out = r;
    return TSR_OK;
}

const char *tsr_cohort_qc_metric_name(unsigned bit)
{
    switch (bit) {
    case TSR_QC_CALL_RATE: return "call_rate";
    case TSR_QC_HET_HOM: return "het_hom_ratio";
    case TSR_QC_SINGLETONS: return "singletons";
    case TSR_QC_MEAN_DP: return "mean_dp";
    case TSR_QC_TI_TV: return "ti_tv";
    default: return "?";
    }
}

/* ------------------------------------------------------------------ JSON */

static void json_num(FILE *fp, double x)
{
    if (isnan(x) || isinf(x))
        fputs("null", fp);
    else
        fprintf(fp, "%.9g", x);
}

/* The k-th object of a JSON list of population pairs, opened up to its "pop2" value. */
static void json_pair_open(FILE *fp, const char *in, int k, const tsr_cohort_result_t *r, int pop_a, int pop_b)
{
    fprintf(fp, "%s\n%s    {\"pop1\": ", k ? "," : "", in);
    tsr_json_write_str(fp, r->pop_names[pop_a]);
    fputs(", \"pop2\": ", fp);
    tsr_json_write_str(fp, r->pop_names[pop_b]);
}

static void json_array(FILE *fp, const int64_t *v, int64_t n)
{
    fputc('[', fp);
    for (int64_t k = 0; k < n; k++)
        fprintf(fp, "%s%" PRId64, k ? ", " : "", v[k]);
    fputc(']', fp);
}

static void json_darray(FILE *fp, const double *v, int64_t n)
{
    fputc('[', fp);
    for (int64_t k = 0; k < n; k++) {
        fputs(k ? ", " : "", fp);
        fprintf(fp, "%.6g", v[k]);
    }
    fputc(']', fp);
}

/*
 * Low-pass: the likelihood SFS and F_ST under the keys deep mode uses for the
 * hard-call ones ("sfs", "fst_hudson"), which then move to "*_hard_calls".
 * Ends inside the object, like the af_histogram it follows.
 */
static void write_json_lowpass(const tsr_cohort_result_t *r, FILE *fp, const char *in)
{
    const tsr_lp_result_t *lp = r->lp;
    int one_pop = 0; /* the spectrum of the one population with the fitted prior (pop_sfs_one) */
    for (int p = 0; p < lp->n_pops; p++)
        one_pop |= !isnan(lp->sfs[p].prior_exponent);
    fprintf(fp, "},\n%s  \"statistics_from\": \"genotype likelihoods (low-pass mode); *_hard_calls from GT\","
                "\n%s  \"sfs\": {\"method\": \"%s\"", in, in,
            lp->n_pops > 0 && lp->sfs[0].power_model && one_pop
                ? "every biallelic SNV of the population (one population: its ALT count is the cohort's), found or "
                  "not: each reported biallelic SNV without LowQual counts its posterior over the ALT count k under "
                  "the prior k^-prior_exponent (the exponent fitted by the reported sites' truncated likelihood; 1 is "
                  "the neutral spectrum's shape), plus the variants discovery missed, M x prior(k) x (1 - P(reported | "
                  "k)), M = reported sites / sum_k prior(k) P(reported | k), P from the run's discovery rule on "
                  "synthetic pileups of its depths and read qualities; below ~8 copies at 0.1-1x the reads do not "
                  "identify the spectrum's shape, which there is the prior's; expected site counts"
            : lp->n_pops > 0 && lp->sfs[0].power_model
                ? "every biallelic SNV of the population, found or not: each reported biallelic SNV without LowQual "
                  "(sfs_discovered's posterior over the population's ALT count) weighted by 1 / P(reported | its "
                  "cohort ALT count), the power from the run's discovery rule on synthetic pileups of its depths and "
                  "read qualities, the count from its ALT observations (truncated EM); expected site counts"
                : "per-site sample allele frequency likelihoods (realSFS) of the biallelic SNVs without LowQual "
                  "(conditional on discovery), each site's posterior summed: the prior beta-binomial around the "
                  "other populations' EM frequency (Balding-Nichols, F = Hudson F_ST x P / (P - 1)), else the "
                  "population's maximum-likelihood SFS by EM; expected site counts");
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            fprintf(fp, "\n%s  },\n%s  \"sfs_discovered\": {\"method\": \"per-site sample allele frequency "
                        "likelihoods (realSFS) of the biallelic SNVs without LowQual (conditional on discovery), each "
                        "site's posterior summed: the prior beta-binomial around the other populations' EM frequency "
                        "(Balding-Nichols, F = Hudson F_ST x P / (P - 1)), else the population's maximum-likelihood "
                        "SFS by EM; expected site counts\"", in, in);
        for (int p = 0; p < lp->n_pops; p++) {
            const tsr_lp_sfs_t *s = &lp->sfs[p];
            const double *u = pass ? s->discovered : s->unfolded;
            fprintf(fp, ",\n%s    ", in);
            tsr_json_write_str(fp, r->pop_names[p]);
            double tot = 0;
            for (int k = 0; k <= s->n_chrom; k++)
                tot += u[k];
            fprintf(fp, ": {\"chromosomes\": %d, \"sites\": %" PRId64 ", \"sites_in_em\": %d, \"em_iterations\": %d,"
                        "\n%s      \"unfolded\": ", s->n_chrom, pass || !s->power_model ? s->sites : (int64_t)llround(tot),
                    s->sampled, s->iterations, in);
            json_darray(fp, u, s->n_chrom + 1);
            if (!pass && !isnan(s->prior_exponent)) {
                fprintf(fp, ",\n%s      \"prior_exponent\": ", in);
                json_num(fp, s->prior_exponent);
            }
            if (!pass) {
                fprintf(fp, ",\n%s      \"folded\": ", in);
                json_darray(fp, s->folded, s->n_chrom / 2 + 1);
            }
            fputc('}', fp);
        }
    }
    fprintf(fp, "\n%s  },\n%s  \"fst_hudson\": {\"method\": \"Hudson (Bhatia et al. 2013) from the 2D SFS of each "
                "pair (sfs_2d): posterior expectations of the per-site numerator and denominator, ratio of sums over "
                "the SFS's site sample\", \"pairs\": [", in, in);
    for (int k = 0; k < lp->n_pairs; k++) {
        const tsr_lp_sfs2d_t *d = &lp->sfs2d[k];
        json_pair_open(fp, in, k, r, d->pop_a, d->pop_b);
        fprintf(fp, ", \"sites\": %d, \"fst\": ", d->sites_in_em);
        json_num(fp, d->fst);
        fputc('}', fp);
    }
    fprintf(fp, "%s%s  ]},\n%s  \"fst_hudson_em_af\": {\"method\": \"Hudson (Bhatia et al. 2013), ratio of sums over "
                "every biallelic SNV, EM allele frequencies, n = effective chromosomes from the Fisher information\", "
                "\"fixed_point_scale\": 4294967296, \"pairs\": [", lp->n_pairs ? "\n" : "", lp->n_pairs ? in : "", in);
    for (int k = 0; k < lp->n_pairs; k++) {
        const tsr_cohort_fst_t *f = &lp->fst[k];
        json_pair_open(fp, in, k, r, f->pop_a, f->pop_b);
        fprintf(fp, ", \"sites\": %" PRId64 ", \"numerator_fixed\": %" PRId64 ", \"denominator_fixed\": %" PRId64
                    ", \"fst\": ", f->sites, f->num_fixed, f->den_fixed);
        json_num(fp, f->fst);
        fputc('}', fp);
    }
    fprintf(fp, "%s%s  ]},\n%s  \"sfs_2d\": {\"method\": \"2D SFS per pair by EM over the per-site SAF of the "
                "SFS's site sample, on bins of allele counts (bins_pop1/bins_pop2: each bin's first count); "
                "expected site counts, rows pop1; fst: Hudson F_ST from it (posterior expectations of the per-site "
                "terms, ratio of sums)\", \"pairs\": [", lp->n_pairs ? "\n" : "", lp->n_pairs ? in : "", in);
    for (int k = 0; k < lp->n_pairs; k++) {
        const tsr_lp_sfs2d_t *d = &lp->sfs2d[k];
        json_pair_open(fp, in, k, r, d->pop_a, d->pop_b);
        fprintf(fp, ", \"sites_in_em\": %d, \"em_iterations\": %d, \"fst\": ", d->sites_in_em, d->iterations);
        json_num(fp, d->fst);
        if (d->sfs) {
            int64_t ba[TSR_LP_SFS2D_BINS + 1], bb[TSR_LP_SFS2D_BINS + 1];
            for (int i = 0; i < d->n_a; i++)
                ba[i] = d->first_a[i];
            for (int j = 0; j < d->n_b; j++)
                bb[j] = d->first_b[j];
            fprintf(fp, ",\n%s      \"bins_pop1\": ", in);
            json_array(fp, ba, d->n_a);
            fprintf(fp, ",\n%s      \"bins_pop2\": ", in);
            json_array(fp, bb, d->n_b);
            fprintf(fp, ",\n%s      \"sfs\": [", in);
            for (int i = 0; i < d->n_a; i++) {
                fprintf(fp, "%s\n%s        ", i ? "," : "", in);
                json_darray(fp, d->sfs + (size_t)i * d->n_b, d->n_b);
            }
            fprintf(fp, "]");
        }
        fputc('}', fp);
    }
    fprintf(fp, "%s%s  ]", lp->n_pairs ? "\n" : "", lp->n_pairs ? in : "");
}

tsr_status_t tsr_cohort_result_write_json(const tsr_cohort_result_t *r, FILE *fp, const char *in)
{
    fprintf(fp, "{\n%s  \"ancestral_allele\": \"REF\",\n", in);
    fprintf(fp, "%s  \"sites\": %" PRId64 ",\n%s  \"snv_sites\": %" PRId64 ",\n%s  \"indel_sites\": %" PRId64
                ",\n%s  \"other_sites\": %" PRId64 ",\n%s  \"multiallelic_sites\": %" PRId64
                ",\n%s  \"no_alt_sites\": %" PRId64 ",\n%s  \"biallelic_snvs\": %" PRId64
                ",\n%s  \"transitions\": %" PRId64 ",\n%s  \"transversions\": %" PRId64 ",\n%s  \"ti_tv\": ",
            in, r->sites, in, r->snv_sites, in, r->indel_sites, in, r->other_sites, in, r->multiallelic_sites, in,
            r->no_alt_sites, in, r->biallelic_snvs, in, r->transitions, in, r->transversions, in);
    json_num(fp, r->ti_tv);
    fprintf(fp, ",\n%s  \"af_histogram\": {\"bin_width\": 0.05, \"alt_alleles\": ", in);
    json_array(fp, r->af_hist, TSR_COHORT_AF_BINS);
    if (r->lp)
        write_json_lowpass(r, fp, in);
    fprintf(fp, "},\n%s  \"%s\": {", in, r->lp ? "sfs_hard_calls" : "sfs");
    for (int p = 0; p < r->n_pops; p++) {
        const tsr_cohort_sfs_t *s = &r->sfs[p];
        fprintf(fp, "%s\n%s    ", p ? "," : "", in);
        tsr_json_write_str(fp, r->pop_names[p]);
        fprintf(fp, ": {\"chromosomes\": %d, \"sites\": %" PRId64 ", \"sites_not_fully_called\": %" PRId64
                    ",\n%s      \"unfolded\": ",
                s->n_chrom, s->sites, s->skipped, in);
        json_array(fp, s->unfolded, s->n_chrom + 1);
        fprintf(fp, ",\n%s      \"folded\": ", in);
        json_array(fp, s->folded, s->n_chrom / 2 + 1);
        fputc('}', fp);
    }
    fprintf(fp, "%s%s  },\n%s  \"%s\": {\"fixed_point_scale\": 4294967296, \"pairs\": [", r->n_pops ? "\n" : "",
            r->n_pops ? in : "", in, r->lp ? "fst_hudson_hard_calls" : "fst_hudson");
    for (int k = 0; k < r->n_pairs; k++) {
        const tsr_cohort_fst_t *f = &r->fst[k];
        json_pair_open(fp, in, k, r, f->pop_a, f->pop_b);
        fprintf(fp, ", \"sites\": %" PRId64 ", \"numerator_fixed\": %" PRId64 ", \"denominator_fixed\": %" PRId64
                    ", \"fst\": ",
                f->sites, f->num_fixed, f->den_fixed);
        json_num(fp, f->fst);
        fputc('}', fp);
    }
    fprintf(fp, "%s%s  ]},\n%s  \"sample_qc\": {\"samples\": %d, \"outliers\": %d, \"file\": \"sample_qc.tsv\", "
                "\"rule\": \"|x - median| > 4 scale; scale = MAD, or the mean absolute deviation where the MAD is 0\", \"metrics\": {",
            r->n_pairs ? "\n" : "", r->n_pairs ? in : "", in, r->n_samples, r->n_outliers);
    for (int m = 0; m < TSR_QC_N_METRICS; m++) {
        fprintf(fp, "%s\n%s    \"%s\": {\"median\": ", m ? "," : "", in, tsr_cohort_qc_metric_name(1u << m));
        json_num(fp, r->qc_median[m]);
        fputs(", \"mad\": ", fp);
        json_num(fp, r->qc_mad[m]);
        fputs(", \"scale\": ", fp);
        json_num(fp, r->qc_scale[m]);
        int n = 0;
        for (int j = 0; j < r->n_samples; j++)
            n += (r->samples[j].outlier >> m) & 1;
        fprintf(fp, ", \"outliers\": %d}", n);
    }
    fprintf(fp, "\n%s  }}\n%s}", in, in);
    return ferror(fp) ? tsr_error_set(TSR_ERR_IO, "cannot write the cohort statistics: %s", strerror(errno))
                      : TSR_OK;
}

/* ------------------------------------------------------------ sample_qc */

static void tsv_num(FILE *fp, double x, const char *fmt)
{
    fputc('\t', fp);
    if (isnan(x))
        fputc('.', fp);
    else
        fprintf(fp, fmt, x);
}

tsr_status_t tsr_cohort_result_write_sample_qc(const tsr_cohort_result_t *r, const char *path)
{
    char tmp[4200];
    TSR_CALL(tsr_output_tmpname(path, tmp, sizeof tmp));
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    fputs("sample\tpopulation\tsites\tcalled\tcall_rate\tnhomref\tnhet\tnhomalt\thet_hom_ratio\tsingletons\t"
          "mean_dp\tti\ttv\tti_tv\toutlier", fp);
    fputs(r->lp ? "\tsites_with_reads\theterozygosity_gl\thet_posterior_mean\n" : "\n", fp);
    for (int j = 0; j < r->n_samples; j++) {
        const tsr_cohort_sample_t *s = &r->samples[j];
        fprintf(fp, "%s\t%s\t%" PRId64 "\t%" PRId64, r->sample_ids[j],
                r->sample_pop[j] >= 0 ? r->pop_names[r->sample_pop[j]] : ".", r->sites, s->called);
        tsv_num(fp, s->call_rate, "%.6f");
        fprintf(fp, "\t%" PRId64 "\t%" PRId64 "\t%" PRId64, s->nhomref, s->nhet, s->nhomalt);
        tsv_num(fp, s->het_hom, "%.6f");
        fprintf(fp, "\t%" PRId64, s->singletons);
        tsv_num(fp, s->mean_dp, "%.3f");
        fprintf(fp, "\t%" PRId64 "\t%" PRId64, s->ti, s->tv);
        tsv_num(fp, s->ti_tv, "%.6f");
        fputc('\t', fp);
        if (!s->outlier)
            fputc('.', fp);
        for (int m = 0, first = 1; m < TSR_QC_N_METRICS; m++)
            if (s->outlier & (1u << m)) {
                fprintf(fp, "%s%s", first ? "" : ",", tsr_cohort_qc_metric_name(1u << m));
                first = 0;
            }
        if (r->lp) {
            fprintf(fp, "\t%" PRId64, r->lp->het_sites[j]);
            tsv_num(fp, r->lp->het_em[j], "%.6f");
            tsv_num(fp, r->lp->het_rate[j], "%.6f");
        }
        fputc('\n', fp);
    }
    return tsr_output_commit(fp, tmp, path);
}
