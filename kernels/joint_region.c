/*
 * joint_region.c - the joint kernel: per region, every batch's evidence ->
 * cohort-wide sites with EM allele frequencies, genotypes, QUAL and filters
 * (tsr_callset_t), written as one HDF5 call-set file (the kernel object is
 * in kernels/pipeline/joint_kernel.c).
 * This file holds the options, the driver (tsr_joint_region: the batches'
 * records merged by position, one site at a time) and the call-set output
 * (posterior genotypes, GQ, LowQual); the stages are
 *   joint_pretest.c  the cohort-level pre-test: union sites no ALT of which
 *                    can reach min_alt_count are skipped before the gather
 *   joint_alleles.c  the union of alleles across batches, each batch's
 *                    evidence mapped onto it
 *   joint_em.c       EM allele frequencies, dropped ALTs, QUAL with the
 *                    mutation-spectrum prior
 *   joint_filters.c  StrandBias and ExcHet
 * sharing their types through joint_internal.h.
 *
 * Design. Records of all batches are merged by position: an SNV record and
 * an indel record at one position (in one batch or in different batches)
 * become one multi-allelic site. Alleles are the
 * union of the batches' REF/ALT (indel alleles re-padded to the longest REF;
 * ALTs sorted, so the order does not depend on which batch saw them). A
 * batch's genotype likelihoods are mapped onto the union: an allele the
 * record did not list takes the likelihoods of its <*> allele, except where
 * the record's kind cannot tell it from REF (an SNV record does not see an
 * indel whose anchor base is REF's; an indel record does not see a
 * substitution): there it takes REF's. A batch with both records at the
 * position contributes the sum of the two records' PLs (two independent
 * observation models of the same reads). A batch with a record of one kind
 * only, at a site whose union also has alleles of the other kind, made no
 * candidate of that kind: its reads there showed REF, so each sample gets
 * the block term below with its DP reads, counting the unseen kind's
 * alleles as non-REF. A
 * batch with no record of the site contributes, per sample, the reference-
 * confidence block covering the position: min_dp reads all showing REF with
 * error e (block_error), so L(g) = ((k/2)(1-e) + (1-k/2)e)^min_dp for k REF
 * alleles in g; with no block (or DP 0 at a recorded site) the sample is
 * missing. Allele frequencies are fitted by EM under Hardy-Weinberg over
 * non-missing samples (start uniform; at most max_iter iterations or until
 * no frequency moves more than tol). QUAL is the phred-scaled likelihood
 * ratio of the fitted frequencies against "every sample REF/REF" plus the
 * mutation-spectrum prior of its ALTs (spectrum_prior_phred: +3 phred for a
 * transition, -3 for a transversion at Ti/Tv 2, since sequencing errors are
 * not transition-rich and true SNVs are):
 * QUAL = 10 * (log10 L(f) - log10 L(REF only)) + prior, clamped to [0, max_qual].
 * A union of more than max_alleles alleles (127 at most: genotypes are int8
 * allele indices; a long STR across a large cohort can exceed it) keeps REF
 * and the ALTs with the most reads summed over the cohort, with a warning
 * naming the site (union_prune), rather than failing the run.
 * ALT alleles whose expected count 2*M*f is below min_alt_count are dropped
 * (their genotypes removed from PL, their AD column removed) and the EM is
 * refitted; sites left without ALT or with QUAL < min_site_qual are dropped.
 * Genotypes are the posterior argmax under the fitted prior (ties: lowest
 * genotype index); GQ = phred(1 - max posterior), capped at 99. Missing
 * samples: GT -1/-1, GQ -1, DP -1, AD and PL -1.
 * Ploidy (o->ploidy, o->sex): a haploid sample's likelihood of allele a is
 * its diploid likelihood of a/a (independent reads), so its genotypes are the
 * homozygous ones with prior f[a], it adds one allele to the EM's counts,
 * and its GT is a/-2 (-2: no second allele; ./-2 when missing); a sample of
 * ploidy 0 there (a female on Y) is missing. PL keeps every diploid genotype
 * (the cohort writer prints a haploid sample's homozygous ones).
 * Filters: LowQual (QUAL < min_qual); StrandBias when the phred-scaled
 * two-sided Fisher exact p-value of the 2x2 table REF vs all ALT reads by
 * strand, summed over the called samples (GATK's FS), exceeds max_strand_fs;
 * ExcHet when the phred-scaled excess-heterozygosity p-value (Wigginton exact
 * test, tsr_hwe_exact) of the called genotypes, REF vs any ALT, exceeds
 * max_exchet_phred.
 */
#include "io/io.h"
#include "kernels/joint_internal.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void tsr_joint_opts_init(tsr_joint_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->min_qual = 30;
    o->max_iter = 50;
    o->tol = 1e-6;
    o->block_error = 0.01;
    o->min_alt_count = 0.5;
    o->min_site_qual = 1;
    o->max_qual = 9999;
    o->max_strand_fs = 60;
    o->max_exchet_phred = 54.69;
    o->titv = 2.0;
    o->max_alleles = TSR_JOINT_MAX_ALLELES;
}

tsr_status_t tsr_joint_opts_check(const tsr_joint_opts_t *o)
{
    if (o->max_iter < 1 || !(o->tol > 0))
        return tsr_error_set(TSR_ERR_USAGE, "joint: EM iterations must be >= 1 and tolerance > 0");
    if (!(o->block_error > 0 && o->block_error < 0.5))
        return tsr_error_set(TSR_ERR_USAGE, "joint: block error must be in (0, 0.5) (got %g)", o->block_error);
    if (!(o->min_qual >= 0) || !(o->max_qual > 0) || !(o->min_alt_count >= 0) || !(o->min_site_qual >= 0) ||
        !(o->max_strand_fs >= 0) || !(o->max_exchet_phred >= 0) || !(o->titv > 0))
        return tsr_error_set(TSR_ERR_USAGE, "joint: quality and count thresholds must be >= 0");
    if (o->max_alleles < 2 || o->max_alleles > TSR_JOINT_MAX_ALLELES)
        return tsr_error_set(TSR_ERR_USAGE, "joint: alleles per site must be in [2, %d] (got %d)",
                             TSR_JOINT_MAX_ALLELES, o->max_alleles);
    return TSR_OK;
}

/* ------------------------------------------------------------ output */

/* Append the genotyped site to the call set. */
tsr_status_t tsr_joint_site_emit(cs_build_t *bld, const site_work_t *w, int64_t N, int64_t pos, const double *f,
                                 double qual, const tsr_joint_opts_t *o, double *post)
{
    tsr_callset_t *cs = bld->cs;
    int n = w->n, G = n * (n + 1) / 2;
    int64_t i = cs->n_sites, blob = 0;
    for (int a = 0; a < n; a++)
        blob += (int64_t)strlen(w->allele[a]) + (a > 0);
    int64_t blob0 = i ? cs->allele_off[i] : 0, af0 = i ? cs->af_off[i] : 0, ad0 = i ? cs->ad_off[i] : 0,
            pl0 = i ? cs->pl_off[i] : 0;
    /* per-site and per-call arrays were sized for every candidate site up front */
    if (tsr_array_grow((void **)&cs->allele_blob, &bld->c_blob, blob0 + blob, 1) < 0 ||
        tsr_array_grow((void **)&cs->af, &bld->c_af, af0 + n, sizeof *cs->af) < 0 ||
        tsr_array_grow((void **)&cs->ad, &bld->c_ad, ad0 + N * n, sizeof *cs->ad) < 0 ||
        tsr_array_grow((void **)&cs->pl, &bld->c_pl, pl0 + N * G, sizeof *cs->pl) < 0)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
    if (i == 0)
        cs->allele_off[0] = cs->af_off[0] = cs->ad_off[0] = cs->pl_off[0] = 0;
    cs->pos[i] = pos;
    cs->n_alleles[i] = n;
    char *p = cs->allele_blob + blob0;
    for (int a = 0; a < n; a++) {
        if (a)
            *p++ = ',';
        size_t l = strlen(w->allele[a]);
        memcpy(p, w->allele[a], l);
        p += l;
    }
    cs->allele_off[i + 1] = blob0 + blob;
    cs->qual[i] = (float)qual;
    cs->filter[i] = qual < o->min_qual ? TSR_FILTER_LOWQUAL : 0;
    for (int a = 0; a < n; a++)
        cs->af[af0 + a] = (float)f[a];
    cs->af_off[i + 1] = af0 + n;
    cs->ad_off[i + 1] = ad0 + N * n;
    cs->pl_off[i + 1] = pl0 + N * G;
    for (int64_t j = 0; j < N; j++) {
        int8_t *gt = cs->gt + (i * N + j) * 2;
        if (w->miss[j]) {
            gt[0] = -1;
            gt[1] = w->ploidy && w->ploidy[j] < 2 ? -2 : -1; /* -2: no second allele (haploid, or ploidy 0) */
            cs->gq[i * N + j] = -1;
            cs->dp[i * N + j] = -1;
            for (int a = 0; a < n; a++)
                cs->ad[ad0 + j * n + a] = -1;
            for (int g = 0; g < G; g++)
                cs->pl[pl0 + j * G + g] = -1;
            continue;
        }
        double sum = 0;
        int ba = 0, bb = 0;
        double best = -1;
        /* a haploid sample's genotypes are the homozygous ones, with prior f[a] (its PL keeps every genotype) */
        int hap = w->ploidy && w->ploidy[j] == 1;
        for (int y = 0; y < n; y++)
            for (int x = 0; x <= y; x++) {
                int g = tsr_gt_index(x, y);
                post[g] = hap && x != y ? 0 : tsr_joint_pl_lik(bld->pl_lik, w->pl[j * G + g]) * (hap ? f[x] : tsr_joint_hwe_prior(f, x, y));
                sum += post[g];
            }
        for (int y = 0; y < n; y++)
            for (int x = 0; x <= y; x++) {
                int g = tsr_gt_index(x, y);
                double pg = sum > 0 ? post[g] / sum : 0;
                if (pg > best) {
                    best = pg;
                    ba = x;
                    bb = y;
                }
            }
        double err = 1 - best;
        int gq = err <= 0 ? 99 : (int)lround(-10 * log10(err));
        gt[0] = (int8_t)ba;
        gt[1] = hap ? -2 : (int8_t)bb;
        cs->gq[i * N + j] = gq > 99 ? 99 : (gq < 0 ? 0 : gq);
        cs->dp[i * N + j] = w->dp[j];
        memcpy(cs->ad + ad0 + j * n, w->ad + j * n, (size_t)n * sizeof(int32_t));
        memcpy(cs->pl + pl0 + j * G, w->pl + j * G, (size_t)G * sizeof(int32_t));
    }
    TSR_CALL(tsr_joint_site_filters(cs, w, N, o));
    cs->n_sites = i + 1;
    return TSR_OK;
}

/* ------------------------------------------------------------ driver */

/* Size bld's call set for `cap` sites of N samples (n_sites 0). */
static tsr_status_t joint_callset_alloc(tsr_callset_t *cs, int64_t cap, int64_t N)
{
    cs->n_samples = (int32_t)N;
    cs->pos = calloc((size_t)cap + 1, sizeof *cs->pos);
    cs->n_alleles = calloc((size_t)cap + 1, sizeof *cs->n_alleles);
    cs->allele_off = calloc((size_t)cap + 1, sizeof *cs->allele_off);
    cs->qual = calloc((size_t)cap + 1, sizeof *cs->qual);
    cs->filter = calloc((size_t)cap + 1, sizeof *cs->filter);
    cs->af_off = calloc((size_t)cap + 1, sizeof *cs->af_off);
    cs->ad_off = calloc((size_t)cap + 1, sizeof *cs->ad_off);
    cs->pl_off = calloc((size_t)cap + 1, sizeof *cs->pl_off);
    cs->gt = calloc((size_t)(cap * N * 2 + 1), sizeof *cs->gt);
    cs->gq = calloc((size_t)(cap * N + 1), sizeof *cs->gq);
    cs->dp = calloc((size_t)(cap * N + 1), sizeof *cs->dp);
    if (!cs->pos || !cs->n_alleles || !cs->allele_off || !cs->qual || !cs->filter || !cs->af_off || !cs->ad_off ||
        !cs->pl_off || !cs->gt || !cs->gq || !cs->dp)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping (%lld sites x %lld samples)",
                             (long long)cap, (long long)N);
    return TSR_OK;
}

/*
 * Merge the batches' records by position and genotype each site into bld's
 * call set. With a writer, the call set is appended to it and emptied
 * whenever it holds `cap` sites (its arrays are sized for cap); without one,
 * cap must cover every site.
 */
static tsr_status_t joint_merge(tsr_evidence_t *const *batches, int n_batches, const char *ref_seq, int64_t N,
                                const tsr_joint_opts_t *o, cs_build_t *bld, int64_t cap, tsr_callset_writer_t *wr)
{
    int64_t *cur = calloc((size_t)n_batches, sizeof *cur), *rec = calloc(2 * (size_t)n_batches, sizeof *rec);
    tsr_joint_pretest_t *pt = NULL;
    tsr_status_t s = TSR_OK;
    if (!cur || !rec)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
    if (s == TSR_OK)
        s = tsr_joint_pretest_create(batches, n_batches, N, o, &pt);
    while (s == TSR_OK) {
        int64_t pos = INT64_MAX;
        for (int b = 0; b < n_batches; b++) {
            const tsr_evidence_t *ev = batches[b];
            if (cur[b] < ev->n_sites && ev->pos[cur[b]] < pos)
                pos = ev->pos[cur[b]];
        }
        if (pos == INT64_MAX)
            break;
        for (int b = 0; b < n_batches && s == TSR_OK; b++) {
            const tsr_evidence_t *ev = batches[b];
            rec[2 * b] = rec[2 * b + 1] = -1;
            for (int r = 0; cur[b] < ev->n_sites && ev->pos[cur[b]] == pos; r++) {
                if (r == 2 || (r == 1 && ev->kind[cur[b]] == ev->kind[rec[2 * b]])) {
                    s = tsr_error_set(TSR_ERR_FORMAT, "joint %s:%lld: batch %d has two records of one kind there",
                                      ev->contig, (long long)pos + 1, b);
                    break;
                }
                rec[2 * b + r] = cur[b]++;
            }
        }
        if (s != TSR_OK)
            break;
        /* the pre-test (joint_pretest.c): a site no ALT of which can reach min_alt_count is not gathered */
        int skip = 0;
        uint8_t keep[TSR_JOINT_MAX_ALLELES + 1];
        bld->n_union++;
        s = tsr_joint_site_pretest(pt, batches, n_batches, rec, pos, ref_seq, o, keep, &skip);
        bld->n_skipped += skip;
        if (s != TSR_OK || (skip && !o->pretest_check))
            continue;
        int64_t before = bld->cs->n_sites;
        /* check mode: every site over its whole union, as without the pre-test */
        s = tsr_joint_site_genotype(bld, batches, n_batches, rec, pos, ref_seq, N, o, o->pretest_check ? NULL : keep);
        bld->n_kept += bld->cs->n_sites > before;
        if (skip && bld->cs->n_sites > before) {
            bld->n_missed++;
            tsr_log_debug("joint %s:%lld: skipped by the pre-test, kept by the EM (QUAL %.2f)", batches[0]->contig,
                          (long long)pos + 1, (double)bld->cs->qual[bld->cs->n_sites - 1]);
        }
        if (s == TSR_OK && wr && bld->cs->n_sites == cap) {
            s = tsr_callset_writer_append(wr, bld->cs);
            bld->cs->n_sites = 0;
        }
    }
    tsr_joint_pretest_destroy(&pt);
    free(cur);
    free(rec);
    return s;
}

tsr_status_t tsr_joint_region(tsr_evidence_t *const *batches, int n_batches, const char *ref_seq,
                              const tsr_joint_opts_t *o, tsr_callset_t **out)
{
    *out = NULL;
    TSR_CALL(tsr_joint_opts_check(o));
    if (n_batches < 1)
        return tsr_error_set(TSR_ERR_INTERNAL, "joint: no batches");
    const tsr_evidence_t *b0 = batches[0];
    int64_t N = 0, U = 0;
    for (int b = 0; b < n_batches; b++) {
        const tsr_evidence_t *ev = batches[b];
        if (strcmp(ev->contig, b0->contig) != 0 || ev->start != b0->start || ev->end != b0->end)
            return tsr_error_set(TSR_ERR_STATE, "joint: batch %d covers %s:%lld-%lld, batch 0 %s:%lld-%lld", b,
                                 ev->contig, (long long)ev->start + 1, (long long)ev->end, b0->contig,
                                 (long long)b0->start + 1, (long long)b0->end);
        N += ev->n_samples;
        U += ev->n_sites;
    }
    tsr_callset_t *cs = NULL;
    TSR_CALL(tsr_callset_create(&cs));
    cs_build_t bld;
    memset(&bld, 0, sizeof bld);
    bld.cs = cs;
    cs->start = b0->start;
    cs->end = b0->end;
    tsr_status_t s = (cs->contig = strdup(b0->contig)) ? TSR_OK
                                                       : tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
    if (s == TSR_OK)
        s = joint_callset_alloc(cs, U, N);
    if (s == TSR_OK)
        s = joint_merge(batches, n_batches, ref_seq, N, o, &bld, U, NULL);
    free(bld.blk_hint);
    free(bld.pl_lik);
    if (s != TSR_OK) {
        tsr_callset_destroy(&cs);
        return s;
    }
    *out = cs;
    return TSR_OK;
}

int64_t tsr_joint_window_sites(int64_t n_samples, int64_t mem_bytes)
{
    /* per site and sample: the batches' evidence (PL 3 genotypes of REF,ALT,<*> doubled to 6, AD 3, strand 6,
     * DP: 64 bytes at 3 alleles) plus the call set's (GT 2, GQ 4, DP 4, AD 8, PL 12: 30 bytes), with slack
     * for multi-allelic sites: 128 bytes */
    int64_t per = 128 * (n_samples > 0 ? n_samples : 1);
    int64_t w = (mem_bytes > 0 ? mem_bytes : TSR_JOINT_WINDOW_BYTES) / per;
    return w < TSR_JOINT_MIN_WINDOW ? TSR_JOINT_MIN_WINDOW : w;
}

tsr_status_t tsr_joint_region_windows(tsr_partition_reader_t *const *rd, int n_batches, const char *ref_seq,
                                      const tsr_joint_opts_t *o, int64_t window, tsr_callset_writer_t *out)
{
    TSR_CALL(tsr_joint_opts_check(o));
    if (n_batches < 1)
        return tsr_error_set(TSR_ERR_INTERNAL, "joint: no batches");
    if (window < TSR_JOINT_MIN_WINDOW)
        window = TSR_JOINT_MIN_WINDOW;
    const tsr_evidence_t *b0 = tsr_partition_reader_head(rd[0]);
    int64_t N = 0;
    for (int b = 0; b < n_batches; b++) {
        const tsr_evidence_t *ev = tsr_partition_reader_head(rd[b]);
        if (strcmp(ev->contig, b0->contig) != 0 || ev->start != b0->start || ev->end != b0->end)
            return tsr_error_set(TSR_ERR_STATE, "joint: batch %d covers %s:%lld-%lld, batch 0 %s:%lld-%lld", b,
                                 ev->contig, (long long)ev->start + 1, (long long)ev->end, b0->contig,
                                 (long long)b0->start + 1, (long long)b0->end);
        N += ev->n_samples;
    }
    tsr_callset_t *cs = NULL;
    TSR_CALL(tsr_callset_create(&cs));
    cs_build_t bld;
    memset(&bld, 0, sizeof bld);
    bld.cs = cs;
    /* the call set holds at most a window of sites, and never more than the batches' records: a region
       without any (a decoy's, packed by the hundred, issue 18) allocates nothing per sample */
    int64_t cap = 0;
    for (int b = 0; b < n_batches && cap < window; b++)
        cap += tsr_partition_reader_head(rd[b])->n_sites;
    if (cap > window)
        cap = window;
    tsr_status_t s = joint_callset_alloc(cs, cap, N);
    tsr_evidence_t **ev = calloc((size_t)n_batches, sizeof *ev);
    int64_t n_windows = 0;
    if (s == TSR_OK && !ev)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
    while (s == TSR_OK) {
        /* A window ends before the position of the window-th unread site of any batch, so no batch gives more
         * than `window` sites (at most two records share a position, so every window holds some) and no
         * position is split between windows. */
        int64_t lo = INT64_MAX, bound = INT64_MAX;
        for (int b = 0; b < n_batches; b++) {
            const tsr_evidence_t *h = tsr_partition_reader_head(rd[b]);
            int64_t at = tsr_partition_reader_at(rd[b]);
            if (at < h->n_sites && h->pos[at] < lo)
                lo = h->pos[at];
            if (at + window < h->n_sites && h->pos[at + window] < bound)
                bound = h->pos[at + window];
        }
        if (lo == INT64_MAX)
            break;
        n_windows++;
        for (int b = 0; b < n_batches && s == TSR_OK; b++)
            s = tsr_partition_reader_next(rd[b], lo, bound, &ev[b]);
        if (s == TSR_OK)
            s = joint_merge(ev, n_batches, ref_seq, N, o, &bld, cap, out);
        for (int b = 0; b < n_batches; b++)
            tsr_evidence_destroy(&ev[b]);
    }
    if (s == TSR_OK && cs->n_sites > 0)
        s = tsr_callset_writer_append(out, cs);
    if (s == TSR_OK)
        tsr_log_debug("joint %s:%lld-%lld: %lld samples in %lld windows of at most %lld sites per batch", b0->contig,
                      (long long)b0->start + 1, (long long)b0->end, (long long)N, (long long)n_windows,
                      (long long)window);
    if (s == TSR_OK)
        tsr_log_info("joint %s:%lld-%lld: %lld union sites, %lld skipped by the pre-test, %lld kept (%lld ALTs left out "
                     "of the others' unions)",
                     b0->contig, (long long)b0->start + 1, (long long)b0->end, (long long)bld.n_union,
                     (long long)bld.n_skipped, (long long)bld.n_kept, (long long)bld.n_pruned);
    if (s == TSR_OK && o->pretest_check)
        tsr_log_info("joint %s:%lld-%lld: pre-test check: the EM kept %lld of the %lld skipped sites", b0->contig,
                     (long long)b0->start + 1, (long long)b0->end, (long long)bld.n_missed, (long long)bld.n_skipped);
    free(ev);
    free(bld.blk_hint);
    free(bld.pl_lik);
    tsr_callset_destroy(&cs);
    return s;
}
