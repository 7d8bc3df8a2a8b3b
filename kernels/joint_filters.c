/*
 * joint_filters.c - the site filters computed from the called genotypes and
 * the reads: StrandBias (two-sided Fisher exact test of REF vs ALT reads by
 * strand, GATK's FS) and ExcHet (Wigginton exact test of excess
 * heterozygosity, tsr_hwe_exact). LowQual needs only QUAL and is set when the
 * site is emitted (joint_region.c).
 */
#include "io/io.h"
#include "kernels/joint_internal.h"
#include "kernels/kernels.h"
#include "kernels/stats/stats.h"

#include <math.h>
#include <stdlib.h>

/* log of the hypergeometric probability of a 2x2 table with top-left x and the given margins. */
static double hyper_log(int64_t x, int64_t r1, int64_t c1, int64_t nt)
{
    return lgamma((double)r1 + 1) - lgamma((double)x + 1) - lgamma((double)(r1 - x) + 1) + lgamma((double)nt - r1 + 1) -
           lgamma((double)(c1 - x) + 1) - lgamma((double)(nt - r1 - c1 + x) + 1) - lgamma((double)nt + 1) +
           lgamma((double)c1 + 1) + lgamma((double)(nt - c1) + 1);
}

/*
 * Phred-scaled two-sided Fisher exact p-value of the strand table
 * [ref_fwd ref_rev; alt_fwd alt_rev] (GATK's FS): the sum of the
 * probabilities of every table with the same margins no more likely than it.
 */
static double strand_fs(int64_t rf, int64_t rr, int64_t af, int64_t ar)
{
    int64_t r1 = rf + rr, c1 = rf + af, nt = rf + rr + af + ar;
    if (r1 == 0 || c1 == 0 || r1 == nt || c1 == nt)
        return 0;
    double lo = hyper_log(rf, r1, c1, nt), p = 0;
    int64_t xmin = r1 + c1 - nt > 0 ? r1 + c1 - nt : 0, xmax = r1 < c1 ? r1 : c1;
    for (int64_t x = xmin; x <= xmax; x++) {
        double l = hyper_log(x, r1, c1, nt);
        if (l <= lo + 1e-7)
            p += exp(l);
    }
    p = p > 1 ? 1 : p;
    return p <= 0 ? 9999 : -10 * log10(p);
}

/*
 * Filter bits ExcHet and StrandBias of an emitted site (i): excess
 * heterozygosity of the called genotypes, REF against any ALT; strand bias
 * of REF against all ALT reads summed over the called samples.
 */
tsr_status_t tsr_joint_site_filters(tsr_callset_t *cs, const site_work_t *w, int64_t N, const tsr_joint_opts_t *o)
{
    int64_t i = cs->n_sites, nref = 0, nalt = 0, nhet = 0, rf = 0, rr = 0, af = 0, ar = 0;
    int n = w->n;
    for (int64_t j = 0; j < N; j++) {
        const int8_t *gt = cs->gt + (i * N + j) * 2;
        if (w->miss[j] || gt[0] < 0)
            continue;
        int k = (gt[0] == 0) + (gt[1] == 0);
        if (gt[1] >= 0) { /* ExcHet over diploid calls only, as bcftools +fill-tags */
            nref += k;
            nalt += 2 - k;
            nhet += k == 1;
        }
        const int32_t *sb = w->sb + j * n * 2;
        rf += sb[0];
        rr += sb[1];
        for (int a = 1; a < n; a++) {
            af += sb[2 * a];
            ar += sb[2 * a + 1];
        }
    }
    if (strand_fs(rf, rr, af, ar) > o->max_strand_fs)
        cs->filter[i] |= TSR_FILTER_STRANDBIAS;
    if (nref > 0 && nalt > 0) {
        int64_t rare = nref < nalt ? nref : nalt;
        double *probs = malloc((size_t)(rare + 1) * sizeof *probs), p_hwe = 1, p_exc = 1;
        if (!probs)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
        int rc = tsr_hwe_exact(nref, nalt, nhet, probs, &p_hwe, &p_exc);
        free(probs);
        if (rc == 0 && (p_exc <= 0 || -10 * log10(p_exc) > o->max_exchet_phred))
            cs->filter[i] |= TSR_FILTER_EXCHET;
    }
    return TSR_OK;
}
