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
 * batches a reference block with DP > 0 covers (counts per batch and DP
 * class, kept by a sweep over the window's block starts and ends), in cost
 * O(the records' samples + batches), not O(cohort).
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
 * them. Sites with an ALT that passes are genotyped as before, over the
 * whole union, so their records do not change. The test is not a proof
 * (the collapsed model stands for a multi-allelic fit); with
 * opts->pretest_check every skipped site is genotyped too and those the EM
 * kept are counted (tests/bench/scale/README.md gives the counts).
 */
#include "io/io.h"
#include "kernels/joint_internal.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRETEST_DP_CLASSES 8 /* a covering block's DP, 1..8 (8: 8 or more) */

/* A block boundary: (position - region start) << 3 | DP class (0-based), sorted as integers; 8 bytes. */
typedef uint64_t blk_edge_t;
#define EDGE(off, cls) ((uint64_t)(off) << 3 | (uint64_t)(cls))
#define EDGE_OFF(e) ((int64_t)((e) >> 3))
#define EDGE_CLS(e) ((int)((e)&7))

struct tsr_joint_pretest {
    int nb;
    int64_t N, start;
    blk_edge_t **bstart, **bend; /* per batch: sorted starts and ends of its blocks with DP > 0 */
    int64_t *n_blk, *at_start, *at_end;
    int64_t (*cov)[PRETEST_DP_CLASSES]; /* per batch: its samples a block of each DP class covers at the site */
    int sex_present[3];
    /* scratch over the recorded batches' samples */
    int64_t cap_s;
    int cap_g;
    double *H, *Q;
    uint8_t *pl_hap;
    tsr_evidence_t **sub;
    int64_t *sub_rec, *sub_base;
};

static int edge_cmp(const void *a, const void *b)
{
    blk_edge_t x = *(const blk_edge_t *)a, y = *(const blk_edge_t *)b;
    return x < y ? -1 : x > y;
}

void tsr_joint_pretest_destroy(tsr_joint_pretest_t **ptp)
{
    if (!ptp || !*ptp)
        return;
    tsr_joint_pretest_t *pt = *ptp;
    for (int b = 0; b < pt->nb; b++) {
        if (pt->bstart)
            free(pt->bstart[b]);
        if (pt->bend)
            free(pt->bend[b]);
    }
    free(pt->bstart);
    free(pt->bend);
    free(pt->n_blk);
    free(pt->at_start);
    free(pt->at_end);
    free(pt->cov);
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
    pt->N = N;
    pt->start = bt[0]->start;
    pt->bstart = calloc((size_t)nb, sizeof *pt->bstart);
    pt->bend = calloc((size_t)nb, sizeof *pt->bend);
    pt->n_blk = calloc((size_t)nb, sizeof *pt->n_blk);
    pt->at_start = calloc((size_t)nb, sizeof *pt->at_start);
    pt->at_end = calloc((size_t)nb, sizeof *pt->at_end);
    pt->sub = calloc((size_t)nb, sizeof *pt->sub);
    pt->sub_rec = calloc(2 * (size_t)nb, sizeof *pt->sub_rec);
    pt->sub_base = calloc((size_t)nb, sizeof *pt->sub_base);
    pt->cov = calloc((size_t)nb, sizeof *pt->cov);
    tsr_status_t s = pt->cov && pt->bstart && pt->bend && pt->n_blk && pt->at_start && pt->at_end && pt->sub && pt->sub_rec &&
                             pt->sub_base
                         ? TSR_OK
                         : tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
    for (int b = 0; b < nb && s == TSR_OK; b++) {
        const tsr_evidence_t *ev = bt[b];
        int64_t k = 0;
        pt->bstart[b] = malloc((size_t)(ev->n_blocks + 1) * sizeof **pt->bstart);
        pt->bend[b] = malloc((size_t)(ev->n_blocks + 1) * sizeof **pt->bend);
        if (!pt->bstart[b] || !pt->bend[b]) {
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
            break;
        }
        for (int64_t i = 0; i < ev->n_blocks; i++)
            if (ev->block_min_dp[i] > 0) {
                int c = ev->block_min_dp[i] < PRETEST_DP_CLASSES ? ev->block_min_dp[i] - 1 : PRETEST_DP_CLASSES - 1;
                /* a block begun before the region (carried over) counts from its start */
                int64_t bs = ev->block_start[i] - pt->start, be = ev->block_end[i] - pt->start;
                pt->bstart[b][k] = EDGE(bs > 0 ? bs : 0, c);
                pt->bend[b][k++] = EDGE(be > 0 ? be : 0, c);
            }
        qsort(pt->bstart[b], (size_t)k, sizeof **pt->bstart, edge_cmp);
        qsort(pt->bend[b], (size_t)k, sizeof **pt->bend, edge_cmp);
        pt->n_blk[b] = k;
    }
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
                                    const tsr_joint_opts_t *o, int *skip)
{
    *skip = 0;
    /* covered samples of the batches without a record here; the recorded batches' samples */
    int nsub = 0;
    int64_t covered = 0, cov[PRETEST_DP_CLASSES] = {0}, L = 0, base = 0;
    for (int b = 0; b < nb; b++) {
        int64_t k = pt->n_blk[b];
        for (; pt->at_start[b] < k && EDGE_OFF(pt->bstart[b][pt->at_start[b]]) <= pos - pt->start; pt->at_start[b]++)
            pt->cov[b][EDGE_CLS(pt->bstart[b][pt->at_start[b]])]++;
        for (; pt->at_end[b] < k && EDGE_OFF(pt->bend[b][pt->at_end[b]]) <= pos - pt->start; pt->at_end[b]++)
            pt->cov[b][EDGE_CLS(pt->bend[b][pt->at_end[b]])]--;
        if (rec[2 * b] >= 0) {
            pt->sub[nsub] = bt[b];
            pt->sub_rec[2 * nsub] = rec[2 * b];
            pt->sub_rec[2 * nsub + 1] = rec[2 * b + 1];
            pt->sub_base[nsub++] = base;
            L += bt[b]->n_samples;
        } else
            for (int c = 0; c < PRETEST_DP_CLASSES; c++) {
                cov[c] += pt->cov[b][c];
                covered += pt->cov[b][c];
            }
        base += bt[b]->n_samples;
    }
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
    int keep = 0;
    for (int a = 1; s == TSR_OK && M > 0 && a < n && !keep; a++) {
        int64_t m = 0;
        for (int64_t j = 0; j < L; j++) {
            if (w.miss[j])
                continue;
            const int32_t *pl = w.pl + j * G;
            int32_t het = INT32_MAX;
            for (int x = 0; x < n; x++)
                if (x != a && pl[tsr_gt_index(x < a ? x : a, x < a ? a : x)] < het)
                    het = pl[tsr_gt_index(x < a ? x : a, x < a ? a : x)];
            pt->H[m] = pow(10.0, -(het - pl[0]) / 10.0);
            pt->Q[m] = pow(10.0, -(pl[tsr_gt_index(a, a)] - pl[0]) / 10.0);
            pt->pl_hap[m] = pt->pl_hap[j];
            m++;
        }
        double f = 0.5;
        for (int it = 0; it < o->max_iter; it++) {
            double c = 0;
            for (int64_t j = 0; j < m; j++)
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
        keep = (double)M * f >= o->min_alt_count;
        /* pl_hap was compacted over non-missing samples: rebuild it for the next ALT */
        for (int t = 0, j = 0; a + 1 < n && !keep && t < nsub; t++)
            for (int64_t q = 0; q < pt->sub[t]->n_samples; q++, j++)
                pt->pl_hap[j] = by_sex[o->sex ? o->sex[pt->sub_base[t] + q] : TSR_SEX_UNKNOWN] == 1;
    }
    *skip = s == TSR_OK && !keep && M > 0;
    tsr_joint_strs_free(w.allele, w.n);
    free(w.pl);
    free(w.ad);
    free(w.sb);
    free(w.dp);
    free(w.miss);
    return s;
}
