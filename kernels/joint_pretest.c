/*
 * joint_pretest.c - the cohort-level pre-test of a union site before the
 * gather and the EM (the model: kernels/joint_region.c; the argument:
 * kernels/README.md, "Joint pre-test").
 *
 * Design. Each batch nominates its own candidates, so the union sites of a
 * region grow with the number of batches, and most of them (error alleles
 * one batch's reads suggested) are dropped after the EM with no ALT kept,
 * having cost O(samples x genotypes) in tsr_joint_site_gather and em_fit.
 * The pre-test decides from the batches that have a record at the site
 * (their samples' PLs, mapped onto the union as the gather does: the same
 * code, over those batches only) and from how many samples of the other
 * batches a reference block with DP > 0 covers (counts per DP class at
 * each of the window's union positions, over all batches, less those of
 * the batches with a record there: difference arrays over the positions,
 * two binary searches a block, built once a window), in cost O(the
 * records' samples + batches) a site, not O(cohort).
 * For each ALT a it runs the EM of the collapsed model "a against not-a"
 * under Hardy-Weinberg: a recorded sample j counts with its likelihood
 * ratios H_j = L(best het with a) / L(REF/REF), Q_j = L(a/a) / L(REF/REF)
 * (haploid: Q_j alone); every covered sample of the other batches counts
 * with the gather's block term at its block's DP (classes 1..8, 8 standing
 * for 8 or more: fewer reads make a block sample only more a-like), with
 * the smallest ploidy present in the cohort at the position. The EM map of one
 * frequency is increasing in it, so started at 1/2 (above the real EM's
 * uniform 1/n) each iterate stays above the collapsed model's own EM's; it
 * stops after max_iter iterations or when it moves less than tol, as the
 * real one does. The site is skipped when no ALT reaches an expected count
 * M f >= min_alt_count (M: the recorded samples' alleles plus the covered
 * ones' lower bound): the EM would then drop every ALT and the site with
 * them. At a site with an ALT that passes, the ALTs that fail are left out
 * of the union before the gather (keep[]), which leaves the other
 * genotypes' PLs as they were. The test is not a proof (the collapsed
 * model stands for a multi-allelic fit; kernels/README.md, "Joint
 * pre-test"); with opts->pretest_check every site is genotyped over its
 * whole union and the skipped ones the EM kept are counted.
 */
#include "io/io.h"
#include "kernels/joint_internal.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRETEST_DP_CLASSES 8 /* a covering block's DP, 1..8 (8: 8 or more) */

struct tsr_joint_pretest {
    int nb;
    /* the window's union positions P[0..n_pos) and, per position and DP class, the samples of every
     * batch a block covers there (cov_all); per batch and site, its own samples' (cov_own[b], at the
     * first record of a position) */
    int64_t n_pos, at;
    int64_t *P;
    int32_t (*cov_all)[PRETEST_DP_CLASSES];
    int32_t (**cov_own)[PRETEST_DP_CLASSES];
    int sex_present[3];
    /* scratch over the recorded batches' samples */
    int64_t cap_s;
    double *H, *Q;
    uint8_t *pl_hap;
    tsr_evidence_t **sub;
    int64_t *sub_rec, *sub_base;
};

static int i64_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The first index of p[0..n) not below x (p sorted). */
static int64_t lower_bound(const int64_t *p, int64_t n, int64_t x)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (p[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Add every block of ev with DP > 0 to cov, a difference array (n + 1 rows) over positions p[0..n). */
static void add_blocks(const tsr_evidence_t *ev, const int64_t *p, int64_t n, int32_t (*cov)[PRETEST_DP_CLASSES])
{
    for (int64_t i = 0; i < ev->n_blocks; i++) {
        if (ev->block_min_dp[i] <= 0)
            continue;
        int c = ev->block_min_dp[i] < PRETEST_DP_CLASSES ? ev->block_min_dp[i] - 1 : PRETEST_DP_CLASSES - 1;
        int64_t lo = lower_bound(p, n, ev->block_start[i]), hi = lower_bound(p, n, ev->block_end[i]);
        if (lo < hi) {
            cov[lo][c]++;
            cov[hi][c]--;
        }
    }
}

/* The difference array summed up: cov[i][c] = the samples a block of class c covers at p[i]. */
static void prefix_sum(int32_t (*cov)[PRETEST_DP_CLASSES], int64_t n)
{
    for (int64_t i = 1; i < n; i++)
        for (int c = 0; c < PRETEST_DP_CLASSES; c++)
            cov[i][c] += cov[i - 1][c];
}

void tsr_joint_pretest_destroy(tsr_joint_pretest_t **ptp)
{
    if (!ptp || !*ptp)
        return;
    tsr_joint_pretest_t *pt = *ptp;
    for (int b = 0; pt->cov_own && b < pt->nb; b++)
        free(pt->cov_own[b]);
    free(pt->cov_own);
    free(pt->cov_all);
    free(pt->P);
    free(pt->H);
    free(pt->Q);
    free(pt->pl_hap);
    free(pt->sub);
    free(pt->sub_rec);
    free(pt->sub_base);
    free(pt);
    *ptp = NULL;
}

tsr_status_t tsr_joint_pretest_create(tsr_evidence_t *const *bt, int nb, int64_t N, const tsr_joint_opts_t *o,
                                      tsr_joint_pretest_t **ptp)
{
    *ptp = NULL;
    tsr_joint_pretest_t *pt = calloc(1, sizeof *pt);
    if (!pt)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
    pt->nb = nb;
    int64_t total = 0;
    for (int b = 0; b < nb; b++)
        total += bt[b]->n_sites;
    pt->P = malloc((size_t)(total + 1) * sizeof *pt->P);
    pt->cov_own = calloc((size_t)nb, sizeof *pt->cov_own);
    pt->sub = calloc((size_t)nb, sizeof *pt->sub);
    pt->sub_rec = calloc(2 * (size_t)nb, sizeof *pt->sub_rec);
    pt->sub_base = calloc((size_t)nb, sizeof *pt->sub_base);
    tsr_status_t s = pt->P && pt->cov_own && pt->sub && pt->sub_rec && pt->sub_base
                         ? TSR_OK
                         : tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
    if (s == TSR_OK) {
        int64_t k = 0;
        for (int b = 0; b < nb; b++)
            for (int64_t i = 0; i < bt[b]->n_sites; i++)
                pt->P[k++] = bt[b]->pos[i];
        qsort(pt->P, (size_t)k, sizeof *pt->P, i64_cmp);
        int64_t u = 0;
        for (int64_t i = 0; i < k; i++)
            if (u == 0 || pt->P[i] != pt->P[u - 1])
                pt->P[u++] = pt->P[i];
        pt->n_pos = u;
        if (!(pt->cov_all = calloc((size_t)u + 1, sizeof *pt->cov_all)))
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
    }
    for (int b = 0; b < nb && s == TSR_OK; b++) {
        const tsr_evidence_t *ev = bt[b];
        if (!(pt->cov_own[b] = calloc((size_t)ev->n_sites + 1, sizeof **pt->cov_own))) {
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
            break;
        }
        add_blocks(ev, pt->P, pt->n_pos, pt->cov_all);
        add_blocks(ev, ev->pos, ev->n_sites, pt->cov_own[b]);
        prefix_sum(pt->cov_own[b], ev->n_sites);
    }
    if (s == TSR_OK)
        prefix_sum(pt->cov_all, pt->n_pos);
    for (int64_t i = 0; i < N; i++)
        pt->sex_present[o->sex ? o->sex[i] : TSR_SEX_UNKNOWN] = 1;
    if (s != TSR_OK) {
        tsr_joint_pretest_destroy(&pt);
        return s;
    }
    *ptp = pt;
    return TSR_OK;
}

/* Expected count of a under the collapsed model at frequency f: diploid ratios H, Q (hap: Q, one allele). */
static inline double collapsed_count(double f, double H, double Q, int hap)
{
    if (hap) {
        double num = f * Q, den = (1 - f) + num;
        return den > 0 ? num / den : 0;
    }
    double het = 2 * f * (1 - f) * H, hom = f * f * Q, den = (1 - f) * (1 - f) + het + hom;
    return den > 0 ? (het + 2 * hom) / den : 0;
}

tsr_status_t tsr_joint_site_pretest(tsr_joint_pretest_t *pt, tsr_evidence_t *const *bt, int nb,
                                    const int64_t *rec, int64_t pos, const char *ref_seq,
                                    const tsr_joint_opts_t *o, uint8_t *keep, int *skip)
{
    *skip = 0;
    memset(keep, 1, TSR_JOINT_MAX_ALLELES + 1);
    /* covered samples of the batches without a record here; the recorded batches' samples */
    int nsub = 0;
    int64_t covered = 0, cov[PRETEST_DP_CLASSES], L = 0, base = 0;
    while (pt->at < pt->n_pos && pt->P[pt->at] < pos)
        pt->at++;
    for (int c = 0; c < PRETEST_DP_CLASSES; c++)
        cov[c] = pt->at < pt->n_pos && pt->P[pt->at] == pos ? pt->cov_all[pt->at][c] : 0;
    for (int b = 0; b < nb; b++) {
        if (rec[2 * b] >= 0) {
            pt->sub[nsub] = bt[b];
            pt->sub_rec[2 * nsub] = rec[2 * b];
            pt->sub_rec[2 * nsub + 1] = rec[2 * b + 1];
            pt->sub_base[nsub++] = base;
            L += bt[b]->n_samples;
            /* its samples count through its records, not as covered ones */
            for (int c = 0; c < PRETEST_DP_CLASSES; c++)
                cov[c] -= pt->cov_own[b][rec[2 * b]][c];
        }
        base += bt[b]->n_samples;
    }
    for (int c = 0; c < PRETEST_DP_CLASSES; c++)
        covered += cov[c];
    site_work_t w;
    memset(&w, 0, sizeof w);
    TSR_CALL(tsr_joint_site_alleles_union(bt, nb, rec, pos, ref_seq, bt[0]->start, o->max_alleles, &w));
    int n = w.n, G = n * (n + 1) / 2;
    tsr_status_t s = TSR_OK;
    if (n < 2) {
        tsr_joint_strs_free(w.allele, w.n);
        return TSR_OK;
    }
    w.pl = malloc((size_t)(L * G + 1) * sizeof *w.pl);
    w.ad = malloc((size_t)(L * n + 1) * sizeof *w.ad);
    w.sb = malloc((size_t)(L * n * 2 + 1) * sizeof *w.sb);
    w.dp = malloc((size_t)(L + 1) * sizeof *w.dp);
    w.miss = calloc((size_t)(L + 1), 1);
    if (L + 1 > pt->cap_s) {
        free(pt->H);
        free(pt->Q);
        free(pt->pl_hap);
        pt->cap_s = L + 1;
        pt->H = malloc((size_t)pt->cap_s * sizeof *pt->H);
        pt->Q = malloc((size_t)pt->cap_s * sizeof *pt->Q);
        pt->pl_hap = malloc((size_t)pt->cap_s);
        if (!pt->H || !pt->Q || !pt->pl_hap)
            pt->cap_s = 0;
    }
    if (!w.pl || !w.ad || !w.sb || !w.dp || !w.miss || !pt->cap_s)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
    if (s == TSR_OK)
        s = tsr_joint_site_gather(pt->sub, nsub, pt->sub_rec, pos, &w, o, NULL);
    int by_sex[3], pmin = 2;
    for (int x = 0; x < 3; x++) {
        by_sex[x] = tsr_ploidy_at(o->ploidy, bt[0]->contig, pos, x);
        if (pt->sex_present[x] && by_sex[x] < pmin)
            pmin = by_sex[x];
    }
    /* the recorded samples: ploidy, alleles counted */
    int64_t M = covered * pmin;
    for (int t = 0, j = 0; s == TSR_OK && t < nsub; t++)
        for (int64_t q = 0; q < pt->sub[t]->n_samples; q++, j++) {
            int p = by_sex[o->sex ? o->sex[pt->sub_base[t] + q] : TSR_SEX_UNKNOWN];
            if (p == 0)
                w.miss[j] = 1;
            pt->pl_hap[j] = p == 1;
            M += w.miss[j] ? 0 : p;
        }
    /* a covered sample of another batch at its most a-like for its DP class (the class's least DP): the
       gather's block term */
    double e = o->block_error, l2 = log10(1 - e), Ho[PRETEST_DP_CLASSES], Qo[PRETEST_DP_CLASSES];
    for (int c = 0; c < PRETEST_DP_CLASSES; c++) {
        Ho[c] = pow(10.0, -lround(-10.0 * (c + 1) * (log10(0.5 * (1 - e) + 0.5 * e) - l2)) / 10.0);
        Qo[c] = pow(10.0, -lround(-10.0 * (c + 1) * (log10(e) - l2)) / 10.0);
    }
    int any = 0;
    for (int a = 1; s == TSR_OK && M > 0 && a < n; a++) {
        for (int64_t j = 0; j < L; j++) {
            const int32_t *pl = w.pl + j * G;
            int32_t het = INT32_MAX;
            for (int x = 0; x < n; x++)
                if (x != a && pl[tsr_gt_index(x < a ? x : a, x < a ? a : x)] < het)
                    het = pl[tsr_gt_index(x < a ? x : a, x < a ? a : x)];
            /* a missing sample counts nothing */
            pt->H[j] = w.miss[j] ? 0 : pow(10.0, -(het - pl[0]) / 10.0);
            pt->Q[j] = w.miss[j] ? 0 : pow(10.0, -(pl[tsr_gt_index(a, a)] - pl[0]) / 10.0);
        }
        double f = 0.5;
        for (int it = 0; it < o->max_iter; it++) {
            double c = 0;
            for (int64_t j = 0; j < L; j++)
                c += collapsed_count(f, pt->H[j], pt->Q[j], pt->pl_hap[j]);
            for (int k = 0; pmin > 0 && k < PRETEST_DP_CLASSES; k++)
                if (cov[k])
                    c += (double)cov[k] * collapsed_count(f, Ho[k], Qo[k], pmin == 1);
            double nf = c / (double)M;
            double d = fabs(nf - f);
            f = nf;
            if (d < o->tol)
                break;
        }
        keep[a] = (double)M * f >= o->min_alt_count;
        any |= keep[a];
    }
    if (s != TSR_OK || M == 0)
        memset(keep, 1, (size_t)n);
    *skip = s == TSR_OK && !any && M > 0;
    tsr_joint_strs_free(w.allele, w.n);
    free(w.pl);
    free(w.ad);
    free(w.sb);
    free(w.dp);
    free(w.miss);
    return s;
}
