/*
 * lowpass_power.c - the discovery power model of the low-pass SFS (issue 16): P(a biallelic SNV with K ALT
 * copies in the cohort is reported without LowQual), by this directory's discovery rule (lowpass_discover.c:
 * tsr_lp_gl_add, tsr_lp_em, tsr_lp_lrt, tsr_lp_qual) on synthetic pileups of the run's depths and read
 * qualities. The statistics (kernels/stats/lowpass_stats.c, a layer below) receive it through
 * tsr_cohort_writer_set_lp_power() (no global state); how it is used there is described at "discovery power model".
 */
#include "kernels/lowpass_internal.h"
#include "kernels/stats/stats.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LP_QH 256 /* PL bins used at most */
#define LP_POWER_REPS 256   /* synthetic pileups per ALT count */
#define LP_REF_ROWS 64      /* REF-only rows of up to this many reads are pooled by (reads, quality bin) */
#define LP_POWER_FULL 0.999 /* the grid stops after two counts at or above this power (then 1) */

typedef struct {
    uint64_t s;
} lp_rng_t;

static double rng_unif(lp_rng_t *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    uint64_t x = r->s; /* splitmix64 */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

/*
 * Poisson(l) by Knuth's product of uniforms, in pieces of at most 16 (exp(-l) stays far from underflow).
 * el is exp(-l) when l <= 16 (the caller computes it once per sample, not once per draw), else unused.
 */
static int rng_poisson(lp_rng_t *r, double l, double el)
{
    int k = 0;
    while (l > 0) {
        double piece = l > 16 ? 16 : l, L = piece == l ? el : exp(-piece), p = rng_unif(r);
        while (p > L) {
            k++;
            p *= rng_unif(r);
        }
        l -= piece;
    }
    return k;
}

/* A PL bin drawn from a histogram (cum: cumulative counts of n bins, total cum[n - 1] > 0). */
static int rng_hist(lp_rng_t *r, const int64_t *cum, int n)
{
    double u = rng_unif(r) * (double)cum[n - 1];
    int k = 0;
    while (k < n - 1 && (double)cum[k] <= u)
        k++;
    return k;
}

/* The phred quality of one read whose other homozygote's PL is pl: e / 3 / (1 - e) = 10^(-pl/10). */
static double pl_read_qual(int pl)
{
    double r = pow(10.0, -pl / 10.0), e = 3.0 * r / (1.0 + 3.0 * r);
    return -10.0 * log10(e);
}

int tsr_lp_power(int N, const double *lam, const int64_t *qh_ref, const int64_t *qh_alt, int n_qh, int min_alt_obs,
                 double min_qual, int K_max, double *pw)
{
    int64_t cr[LP_QH], ca[LP_QH];
    const int nq = n_qh < LP_QH ? n_qh : LP_QH;
    if (nq < 1 || N < 1 || K_max < 1)
        return 1;
    for (int k = 0; k < nq; k++) {
        cr[k] = qh_ref[k] + (k ? cr[k - 1] : 0);
        ca[k] = qh_alt[k] + (k ? ca[k - 1] : 0);
    }
    if (cr[nq - 1] < 1 || ca[nq - 1] < 1)
        return 1;
    tsr_lp_opts_t o;
    tsr_lp_opts_init(&o);
    double qual_of[LP_QH], err_of[LP_QH];
    for (int k = 0; k < nq; k++) {
        qual_of[k] = pl_read_qual(k);
        err_of[k] = pow(10.0, -qual_of[k] / 10.0);
    }
    int *chrom = malloc(2 * (size_t)N * sizeof *chrom), *gk = malloc((size_t)N * sizeof *gk);
    double *rows = malloc(3 * (size_t)N * sizeof *rows);
    /* exp(-lam) once per sample: the draws below are N x reps x grid counts */
    double *el = malloc((size_t)N * sizeof *el);
    /*
     * The EM and the LRT run over distinct rows with weights (the same sums, in another order): at 0.1-1x
     * nearly every covered sample shows 1-3 REF reads, so a pileup of 20,000 samples has a few dozen rows.
     */
    double *wt = malloc((size_t)N * sizeof *wt);
    const size_t n_slots = ((size_t)LP_REF_ROWS + 1) * (size_t)nq;
    int *slot = malloc(n_slots * sizeof *slot), *touched = malloc(n_slots * sizeof *touched);
    for (size_t k = 0; slot && k < n_slots; k++)
        slot[k] = -1;
    for (int j = 0; el && j < N; j++)
        el[j] = lam[j] <= 16 ? exp(-lam[j]) : 0;
    int *gridk = malloc(((size_t)K_max + 2) * sizeof *gridk);
    double *gridp = malloc(((size_t)K_max + 2) * sizeof *gridp);
    int ok = chrom && gk && rows && gridk && gridp && el && wt && slot && touched;
    int ng = 0, full = 0;
    for (int K = 1; ok && K <= K_max; K = K < 8 ? K + 1 : K + (K + 3) / 4) {
        lp_rng_t r = {0x5eed16ULL * (uint64_t)K};
        for (int c = 0; c < 2 * N; c++)
            chrom[c] = c;
        int hits = 0;
        for (int rep = 0; rep < LP_POWER_REPS; rep++) {
            memset(gk, 0, (size_t)N * sizeof *gk);
            for (int c = 0; c < K && c < 2 * N; c++) { /* partial Fisher-Yates: K distinct chromosomes */
                int t = c + (int)(rng_unif(&r) * (2 * N - c));
                int x = chrom[c];
                chrom[c] = chrom[t];
                chrom[t] = x;
                gk[chrom[c] / 2]++;
            }
            int m = 0, n_cov = 0, alt_obs = 0, n_touched = 0;
            double n_ref = 0, n_alt = 0;
            for (int j = 0; j < N; j++) {
                int d = rng_poisson(&r, lam[j], el[j]);
                if (d == 0)
                    continue;
                n_cov++;
                const int br = rng_hist(&r, cr, nq);
                double *row = rows + 3 * (size_t)m, qr = qual_of[br], er = err_of[br];
                row[0] = row[1] = row[2] = 0;
                int refs = 0;
                for (int t = 0; t < d; t++) {
                    int alt = rng_unif(&r) < gk[j] / 2.0;
                    const int ba = alt ? rng_hist(&r, ca, nq) : -1;
                    double q = alt ? qual_of[ba] : qr, e = alt ? err_of[ba] : er;
                    if (rng_unif(&r) < e / 3.0)
                        alt = !alt; /* a sequencing error to the other allele */
                    if (alt) {
                        tsr_lp_gl_add(row, 2, 1, q, 1.0);
                        alt_obs++;
                    } else {
                        refs++;
                    }
                }
                n_ref += refs;
                n_alt += d - refs;
                /* a REF-only sample's row is a function of (reads, quality bin): one weighted row for all */
                int *sl = refs == d && d <= LP_REF_ROWS ? &slot[(size_t)d * nq + br] : NULL;
                if (sl && *sl >= 0) {
                    wt[*sl] += 1.0;
                    continue;
                }
                if (refs)
                    tsr_lp_gl_add(row, 2, 0, qr, refs);
                double mx = row[0] > row[1] ? row[0] : row[1];
                mx = row[2] > mx ? row[2] : mx;
                for (int g = 0; g < 3; g++)
                    row[g] = exp(row[g] - mx);
                if (sl) {
                    *sl = m;
                    touched[n_touched++] = (int)(sl - slot);
                }
                wt[m++] = 1.0;
            }
            for (int k = 0; k < n_touched; k++)
                slot[touched[k]] = -1;
            if (alt_obs < min_alt_obs || alt_obs == 0)
                continue;
            double f[2] = {(0.5 + n_ref) / (1.0 + n_ref + n_alt), (0.5 + n_alt) / (1.0 + n_ref + n_alt)};
            tsr_lp_em_weighted(m, 2, rows, wt, o.max_iter, o.tol, f);
            if (2.0 * n_cov * f[1] < o.min_alt_count)
                continue;
            double l0 = 0; /* tsr_lp_lrt over the weighted rows */
            for (int k = 0; k < m; k++)
                l0 += wt[k] * log(rows[3 * (size_t)k]);
            double lrt = 2.0 * (tsr_lp_loglik_weighted(m, 2, rows, wt, f) - l0);
            hits += tsr_lp_qual(lrt > 0 ? lrt : 0, o.max_qual) >= min_qual;
        }
        gridk[ng] = K;
        gridp[ng++] = (double)hits / LP_POWER_REPS;
        full = gridp[ng - 1] >= LP_POWER_FULL ? full + 1 : 0;
        if (full >= 2)
            break;
    }
    for (int K = 0, g = 0; ok && K <= K_max; K++) { /* linear between the grid's counts; 1 past a full power */
        while (g + 1 < ng && gridk[g + 1] <= K)
            g++;
        double p = K < gridk[0] ? gridp[0]
                   : g + 1 < ng ? gridp[g] + (gridp[g + 1] - gridp[g]) * (K - gridk[g]) / (gridk[g + 1] - gridk[g])
                   : full >= 2  ? 1.0
                                : gridp[ng - 1];
        pw[K] = p > 1.0 / LP_POWER_REPS ? p : 1.0 / LP_POWER_REPS; /* unseen in the pileups: at most 1 / reps */
    }
    free(chrom);
    free(gk);
    free(rows);
    free(el);
    free(wt);
    free(slot);
    free(touched);
    free(gridk);
    free(gridp);
    return ok ? 0 : -1;
}

