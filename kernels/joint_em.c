/*
 * joint_em.c - the fit of one union site: EM allele frequencies under
 * Hardy-Weinberg, ALTs with too small an expected count dropped and the fit
 * redone, QUAL with the mutation-spectrum prior (the model:
 * kernels/joint_region.c).
 *
 * Design. tsr_joint_site_genotype runs one site through the stages: the
 * allele union and the batches' evidence (joint_alleles.c), em_fit,
 * site_subset and em_fit again when ALTs are dropped, QUAL, and
 * tsr_joint_site_emit (joint_region.c) for a site that is kept.
 */
#include "io/io.h"
#include "kernels/joint_internal.h"
#include "kernels/kernels.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * Fit allele frequencies f[n] from per-sample PLs (pl[i*G + g]; miss[i] set
 * for missing samples). Returns log10 L(f). gl (N*G doubles, scratch)
 * receives the genotype likelihoods 10^(-PL/10) once, so the iterations do
 * not call pow() per sample and genotype (the same values: records unchanged).
 */
static double em_fit(const int32_t *pl, const uint8_t *miss, const uint8_t *ploidy, int64_t N, int n,
                     const tsr_joint_opts_t *o, double *f, double *cnt, double *lik, double *gl, const double *pl_lik)
{
    int G = n * (n + 1) / 2;
    for (int64_t i = 0; i < N; i++)
        if (!miss[i])
            for (int g = 0; g < G; g++)
                gl[i * G + g] = tsr_joint_pl_lik(pl_lik, pl[i * G + g]);
    int64_t M = 0; /* called alleles: a haploid sample carries one, with prior f[a] instead of HWE */
    for (int64_t i = 0; i < N; i++)
        M += miss[i] ? 0 : ploidy[i];
    for (int a = 0; a < n; a++)
        f[a] = 1.0 / n;
    if (M == 0)
        return 0;
    for (int it = 0; it < o->max_iter; it++) {
        memset(cnt, 0, (size_t)n * sizeof *cnt);
        for (int64_t i = 0; i < N; i++) {
            if (miss[i])
                continue;
            double sum = 0;
            if (ploidy[i] == 1) {
                for (int a = 0; a < n; a++)
                    sum += lik[a] = gl[i * G + tsr_gt_index(a, a)] * f[a];
                for (int a = 0; sum > 0 && a < n; a++)
                    cnt[a] += lik[a] / sum;
                continue;
            }
            for (int b = 0; b < n; b++)
                for (int a = 0; a <= b; a++) {
                    int g = tsr_gt_index(a, b);
                    lik[g] = gl[i * G + g] * tsr_joint_hwe_prior(f, a, b);
                    sum += lik[g];
                }
            if (!(sum > 0))
                continue;
            for (int b = 0; b < n; b++)
                for (int a = 0; a <= b; a++) {
                    double p = lik[tsr_gt_index(a, b)] / sum;
                    cnt[a] += p;
                    cnt[b] += p;
                }
        }
        double delta = 0;
        for (int a = 0; a < n; a++) {
            double nf = cnt[a] / (double)M;
            if (fabs(nf - f[a]) > delta)
                delta = fabs(nf - f[a]);
            f[a] = nf;
        }
        if (delta < o->tol)
            break;
    }
    double ll = 0;
    for (int64_t i = 0; i < N; i++) {
        if (miss[i])
            continue;
        double sum = 0;
        for (int b = 0; b < n; b++)
            for (int a = 0; a <= b; a++)
                if (ploidy[i] == 2 || a == b)
                    sum += gl[i * G + tsr_gt_index(a, b)] *
                           (ploidy[i] == 2 ? tsr_joint_hwe_prior(f, a, b) : f[a]);
        ll += log10(sum > DBL_MIN ? sum : DBL_MIN);
    }
    return ll;
}

/* Keep only the alleles with keep[a] (REF always), re-indexing PL (renormalised) and AD. */
static void site_subset(site_work_t *w, int64_t N, const uint8_t *keep)
{
    int n = w->n, G = n * (n + 1) / 2, m = 0;
    int idx[TSR_JOINT_MAX_ALLELES + 1];
    for (int a = 0; a < n; a++)
        if (keep[a])
            idx[m++] = a;
    int Gm = m * (m + 1) / 2;
    for (int64_t i = 0; i < N; i++) {
        int32_t *src = w->pl + i * G, *dst = w->pl + i * Gm; /* in place: dst index <= every src index still to be read */
        int32_t best = INT32_MAX;
        for (int b = 0; b < m; b++)
            for (int a = 0; a <= b; a++) {
                int32_t v = src[tsr_gt_index(idx[a], idx[b])];
                if (v < best)
                    best = v;
            }
        for (int b = 0; b < m; b++)
            for (int a = 0; a <= b; a++)
                dst[tsr_gt_index(a, b)] = src[tsr_gt_index(idx[a], idx[b])] - best;
        int32_t *as = w->ad + i * n, *ad = w->ad + i * m;
        int32_t *ss = w->sb + i * n * 2, *sd = w->sb + i * m * 2;
        for (int a = 0; a < m; a++) {
            ad[a] = as[idx[a]];
            sd[2 * a] = ss[2 * idx[a]];
            sd[2 * a + 1] = ss[2 * idx[a] + 1];
        }
    }
    int k = 0;
    for (int a = 0; a < n; a++) {
        if (keep[a])
            w->allele[k++] = w->allele[a];
        else
            free(w->allele[a]);
    }
    w->n = m;
}

static void site_work_free(site_work_t *w)
{
    tsr_joint_strs_free(w->allele, w->n);
    free(w->pl);
    free(w->ad);
    free(w->sb);
    free(w->dp);
    free(w->miss);
    free(w->ploidy);
    memset(w, 0, sizeof *w);
}

/*
 * The mutation-spectrum prior of a site's ALTs in phred: 10 * log10 of the
 * frequency-weighted mean of w_a, where a substitution ALT has w = 3k/(k+1)
 * for a transition and 3/(2(k+1)) for a transversion (k = Ti/Tv: the
 * prior share of each kind against the uniform 1/3 of the error model;
 * k = 2 gives 2 and 1/2) and any other ALT w = 1. Sequencing errors are
 * not transition-rich, true SNVs are (human Ti/Tv ~2.0-2.1).
 */
static double spectrum_prior_phred(const site_work_t *w, const double *f, double titv)
{
    const char *ref = w->allele[0];
    size_t rl = strlen(ref);
    double num = 0, den = 0;
    for (int a = 1; a < w->n; a++) {
        const char *x = w->allele[a];
        double wa = 1;
        if (strlen(x) == rl && x[0] != ref[0] && strcmp(x + 1, ref + 1) == 0) {
            char r = ref[0], b = x[0];
            int ti = (r == 'A' && b == 'G') || (r == 'G' && b == 'A') || (r == 'C' && b == 'T') || (r == 'T' && b == 'C');
            wa = ti ? 3 * titv / (titv + 1) : 3 / (2 * (titv + 1));
        }
        num += f[a] * wa;
        den += f[a];
    }
    return den > 0 && num > 0 ? 10.0 * log10(num / den) : 0;
}

/* Genotype one union site; appends it to the call set unless it is dropped. */
tsr_status_t tsr_joint_site_genotype(cs_build_t *bld, tsr_evidence_t *const *bt, int nb, const int64_t *rec,
                                     int64_t pos, const char *ref_seq, int64_t N, const tsr_joint_opts_t *o,
                                     const uint8_t *keep_union)
{
    site_work_t w;
    memset(&w, 0, sizeof w);
    TSR_CALL(tsr_joint_site_alleles_union(bt, nb, rec, pos, ref_seq, bt[0]->start, o->max_alleles, &w));
    /* the ALTs the pre-test found cannot reach min_alt_count are left out before the gather: the PLs of
       the others' genotypes, their AD and strand counts do not depend on them (kernels/README.md) */
    if (keep_union) {
        int m = 1;
        for (int a = 1; a < w.n; a++) {
            if (keep_union[a])
                w.allele[m++] = w.allele[a];
            else
                free(w.allele[a]);
        }
        bld->n_pruned += w.n - m;
        w.n = m;
    }
    int n = w.n, G = n * (n + 1) / 2;
    tsr_status_t s = TSR_OK;
    double *f = calloc((size_t)n, sizeof *f), *cnt = calloc((size_t)n, sizeof *cnt);
    double *lik = calloc((size_t)G, sizeof *lik), *gl = malloc((size_t)(N * G + 1) * sizeof *gl);
    uint8_t keep[TSR_JOINT_MAX_ALLELES + 1];
    w.pl = calloc((size_t)(N * G + 1), sizeof *w.pl);
    w.ad = calloc((size_t)(N * n + 1), sizeof *w.ad);
    w.sb = calloc((size_t)(N * n * 2 + 1), sizeof *w.sb);
    w.dp = calloc((size_t)(N + 1), sizeof *w.dp);
    w.miss = calloc((size_t)(N + 1), 1);
    w.ploidy = malloc((size_t)(N + 1));
    if (!bld->blk_hint)
        bld->blk_hint = calloc((size_t)N + 1, sizeof *bld->blk_hint);
    if (!bld->pl_lik && (bld->pl_lik = malloc(TSR_JOINT_PL_TABLE * sizeof *bld->pl_lik)))
        for (int k = 0; k < TSR_JOINT_PL_TABLE; k++)
            bld->pl_lik[k] = pow(10.0, -k / 10.0);
    if (!f || !cnt || !lik || !gl || !bld->blk_hint || !w.pl || !w.ad || !w.sb || !w.dp || !w.miss || !w.ploidy)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
    if (s == TSR_OK && n >= 2)
        s = tsr_joint_site_gather(bt, nb, rec, pos, &w, o, bld->blk_hint);
    int by_sex[3];
    for (int x = 0; x < 3; x++)
        by_sex[x] = tsr_ploidy_at(o->ploidy, bt[0]->contig, pos, x);
    int64_t M = 0; /* called alleles */
    for (int64_t i = 0; s == TSR_OK && i < N; i++) {
        w.ploidy[i] = (uint8_t)by_sex[o->sex ? o->sex[i] : TSR_SEX_UNKNOWN];
        w.miss[i] |= w.ploidy[i] == 0;
        M += w.miss[i] ? 0 : w.ploidy[i];
    }
    if (s == TSR_OK && n >= 2 && M > 0) {
        double ll1 = em_fit(w.pl, w.miss, w.ploidy, N, n, o, f, cnt, lik, gl, bld->pl_lik);
        int kept = 1;
        keep[0] = 1;
        for (int a = 1; a < n; a++) {
            keep[a] = (double)M * f[a] >= o->min_alt_count;
            kept += keep[a];
        }
        if (kept > 1 && kept < n) {
            site_subset(&w, N, keep);
            ll1 = em_fit(w.pl, w.miss, w.ploidy, N, w.n, o, f, cnt, lik, gl, bld->pl_lik);
        }
        if (kept > 1) {
            int Gk = w.n * (w.n + 1) / 2;
            double ll0 = 0;
            for (int64_t i = 0; i < N; i++)
                if (!w.miss[i])
                    ll0 -= w.pl[i * Gk] / 10.0;
            double qual = 10.0 * (ll1 - ll0) + spectrum_prior_phred(&w, f, o->titv);
            qual = qual < 0 ? 0 : (qual > o->max_qual ? o->max_qual : qual);
            if (qual >= o->min_site_qual)
                s = tsr_joint_site_emit(bld, &w, N, pos, f, qual, o, lik);
        }
    }
    free(f);
    free(cnt);
    free(lik);
    free(gl);
    site_work_free(&w);
    return s;
}
