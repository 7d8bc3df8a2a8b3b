/*
 * joint_em.c - the joint kernel: per region, every batch's evidence ->
 * cohort-wide sites with EM allele frequencies, genotypes, QUAL and filters
 * (tsr_callset_t), written as one HDF5 call-set file (the kernel object is
 * in kernels/joint_kernel.c).
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
 * Filters: LowQual (QUAL < min_qual); StrandBias when the phred-scaled
 * two-sided Fisher exact p-value of the 2x2 table REF vs all ALT reads by
 * strand, summed over the called samples (GATK's FS), exceeds max_strand_fs;
 * ExcHet when the phred-scaled excess-heterozygosity p-value (Wigginton exact
 * test, tsr_hwe_exact) of the called genotypes, REF vs any ALT, exceeds
 * max_exchet_phred.
 */
#include "kernels/stats/stats.h"
#include "io/io.h"
#include "kernels/kernels.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TSR_JOINT_MAX_ALLELES 127 /* genotypes are int8 allele indices */

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

/* ------------------------------------------------------------- buffers */

/* The growing output and its capacities. */
typedef struct cs_build {
    tsr_callset_t *cs;
    int64_t c_blob, c_af, c_ad, c_pl;
} cs_build_t;

/* ------------------------------------------------------------ alleles */

/* Split "A,B,C" (len bytes) into NUL-terminated copies; returns count or -1 on out of memory. */
static int split_alleles(const char *s, int64_t len, char ***out)
{
    int n = 1;
    for (int64_t i = 0; i < len; i++)
        n += s[i] == ',';
    char **a = calloc((size_t)n, sizeof *a);
    if (!a)
        return -1;
    int k = 0;
    int64_t b = 0;
    for (int64_t i = 0; i <= len; i++)
        if (i == len || s[i] == ',') {
            a[k] = strndup(s + b, (size_t)(i - b));
            if (!a[k]) {
                for (int j = 0; j < k; j++)
                    free(a[j]);
                free(a);
                return -1;
            }
            k++;
            b = i + 1;
        }
    *out = a;
    return n;
}

static void free_strs(char **a, int n)
{
    for (int i = 0; a && i < n; i++)
        free(a[i]);
    free(a);
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* ----------------------------------------------------------------- EM */

/* Genotype prior under HWE for genotype index g = (a, b). */
static double hwe_prior(const double *f, int a, int b) { return a == b ? f[a] * f[a] : 2 * f[a] * f[b]; }

/*
 * Fit allele frequencies f[n] from per-sample PLs (pl[i*G + g]; miss[i] set
 * for missing samples). Returns log10 L(f).
 */
static double em_fit(const int32_t *pl, const uint8_t *miss, int64_t N, int n, const tsr_joint_opts_t *o,
                     double *f, double *cnt, double *lik)
{
    int G = n * (n + 1) / 2;
    int64_t M = 0;
    for (int64_t i = 0; i < N; i++)
        M += !miss[i];
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
            for (int b = 0; b < n; b++)
                for (int a = 0; a <= b; a++) {
                    int g = tsr_gt_index(a, b);
                    lik[g] = pow(10.0, -pl[i * G + g] / 10.0) * hwe_prior(f, a, b);
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
            double nf = cnt[a] / (2.0 * (double)M);
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
                sum += pow(10.0, -pl[i * G + tsr_gt_index(a, b)] / 10.0) * hwe_prior(f, a, b);
        ll += log10(sum > DBL_MIN ? sum : DBL_MIN);
    }
    return ll;
}

/* Per-site scratch over the cohort. */
typedef struct site_work {
    int n;          /* alleles */
    int32_t *pl;    /* N*G */
    int32_t *ad;    /* N*n */
    int32_t *sb;    /* N*n*2: forward, reverse reads per allele */
    int32_t *dp;    /* N */
    uint8_t *miss;  /* N */
    char **allele;  /* n */
} site_work_t;

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

/*
 * Where union allele u stands in one batch record (alleles al[0..bn-1], the
 * last <*>): the ALT the record lists, else REF when the record's kind cannot
 * tell u from REF (an SNV record does not see an indel whose anchor base is
 * REF's; an indel record does not see a substitution), else <*>. *listed
 * says whether the record lists u itself.
 */
static int allele_map(char *const *al, int bn, int kind, const char *u, const char *ref, int *listed)
{
    size_t bref = strlen(al[0]), rl = strlen(ref), ul = strlen(u);
    *listed = 0;
    if (strcmp(u, ref) == 0) {
        *listed = 1;
        return 0;
    }
    for (int k = 1; k < bn - 1; k++) {
        size_t l = strlen(al[k]);
        if (l + rl - bref == ul && memcmp(al[k], u, l) == 0 && strcmp(u + l, ref + bref) == 0) {
            *listed = 1;
            return k;
        }
    }
    if (kind == TSR_SITE_SNV ? u[0] == ref[0] : ul == rl)
        return 0;
    return bn - 1;
}

/* Cohort PL (flat 0 for missing), AD, strand counts and DP of one union site from every batch. */
static tsr_status_t site_gather(tsr_evidence_t *const *bt, int nb, const int64_t *rec, int64_t pos,
                                site_work_t *w, const tsr_joint_opts_t *o)
{
    int n = w->n, G = n * (n + 1) / 2;
    int64_t base = 0;
    int map[2][TSR_JOINT_MAX_ALLELES + 1], listed[2][TSR_JOINT_MAX_ALLELES + 1];
    const char *ref = w->allele[0];
    size_t rl = strlen(ref);
    /* per union allele: 1 when it is a substitution (REF's length, another first base), 2 an indel */
    uint8_t akind[TSR_JOINT_MAX_ALLELES + 1];
    int union_kinds = 0;
    for (int u = 1; u < n; u++) {
        akind[u] = strlen(w->allele[u]) == rl && strcmp(w->allele[u] + 1, ref + 1) == 0 ? 1 : 2;
        union_kinds |= akind[u];
    }
    akind[0] = 0;
    double e = o->block_error, l_k[3]; /* log10 per-read likelihood with k REF-like alleles */
    for (int k = 0; k < 3; k++)
        l_k[k] = log10(k / 2.0 * (1 - e) + (1 - k / 2.0) * e);
    for (int b = 0; b < nb; b++) {
        const tsr_evidence_t *ev = bt[b];
        int64_t ns = ev->n_samples;
        if (rec[2 * b] >= 0) {
            int nr = rec[2 * b + 1] >= 0 ? 2 : 1, bn[2] = {0, 0};
            /* the kinds of union allele this batch has no record for: its reads showed REF there */
            int unseen = union_kinds;
            for (int r = 0; r < nr; r++)
                unseen &= ~(ev->kind[rec[2 * b + r]] == TSR_SITE_SNV ? 1 : 2);
            for (int r = 0; r < nr; r++) {
                int64_t si = rec[2 * b + r];
                char **al = NULL;
                bn[r] = split_alleles(ev->allele_blob + ev->allele_off[si],
                                      ev->allele_off[si + 1] - ev->allele_off[si], &al);
                if (bn[r] < 0)
                    return tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
                for (int u = 0; u < n; u++)
                    map[r][u] = allele_map(al, bn[r], ev->kind[si], w->allele[u], ref, &listed[r][u]);
                free_strs(al, bn[r]);
            }
            for (int64_t j = 0; j < ns; j++) {
                int64_t i = base + j;
                w->dp[i] = 0;
                for (int g = 0; g < G; g++)
                    w->pl[i * G + g] = 0;
                for (int u = 0; u < n; u++) {
                    w->ad[i * n + u] = 0;
                    w->sb[(i * n + u) * 2] = w->sb[(i * n + u) * 2 + 1] = 0;
                }
                for (int r = 0; r < nr; r++) {
                    int64_t si = rec[2 * b + r];
                    int32_t d = ev->dp[si * ns + j];
                    if (d <= 0)
                        continue;
                    int bG = bn[r] * (bn[r] + 1) / 2;
                    const int32_t *bpl = ev->pl + ev->pl_off[si] + j * bG;
                    const int32_t *bad = ev->ad + ev->ad_off[si] + j * bn[r];
                    const int32_t *bsb = ev->strand ? ev->strand + 2 * (ev->ad_off[si] + j * bn[r]) : NULL;
                    if (d > w->dp[i])
                        w->dp[i] = d;
                    for (int y = 0; y < n; y++)
                        for (int x = 0; x <= y; x++)
                            w->pl[i * G + tsr_gt_index(x, y)] += bpl[tsr_gt_index(map[r][x], map[r][y])];
                    for (int u = 0; u < n; u++) {
                        if (!listed[r][u] || (u == 0 && bad[0] < w->ad[i * n]))
                            continue;
                        int k = map[r][u];
                        w->ad[i * n + u] = bad[k];
                        if (bsb) {
                            w->sb[(i * n + u) * 2] = bsb[2 * k];
                            w->sb[(i * n + u) * 2 + 1] = bsb[2 * k + 1];
                        }
                    }
                }
                w->miss[i] = w->dp[i] <= 0;
                if (unseen && !w->miss[i])
                    for (int y = 0; y < n; y++)
                        for (int x = 0; x <= y; x++) {
                            int k = !(akind[x] & unseen) + !(akind[y] & unseen);
                            w->pl[i * G + tsr_gt_index(x, y)] += (int32_t)lround(-10.0 * w->dp[i] * (l_k[k] - l_k[2]));
                        }
                int32_t best = INT32_MAX;
                for (int g = 0; g < G; g++)
                    if (w->pl[i * G + g] < best)
                        best = w->pl[i * G + g];
                for (int g = 0; g < G; g++)
                    w->pl[i * G + g] -= best;
            }
        } else {
            for (int64_t j = 0; j < ns; j++) {
                int64_t i = base + j;
                /* block of sample j covering pos: blocks are sorted by (sample, start) */
                int64_t lo = 0, hi = ev->n_blocks;
                while (lo < hi) {
                    int64_t mid = lo + (hi - lo) / 2;
                    if (ev->block_sample[mid] < j || (ev->block_sample[mid] == j && ev->block_end[mid] <= pos))
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                int covered = lo < ev->n_blocks && ev->block_sample[lo] == j && ev->block_start[lo] <= pos;
                int32_t d = covered ? ev->block_min_dp[lo] : 0;
                w->miss[i] = d <= 0;
                w->dp[i] = d;
                for (int y = 0; y < n; y++)
                    for (int x = 0; x <= y; x++) {
                        int k = (x == 0) + (y == 0);
                        double v = w->miss[i] ? 0 : -10.0 * d * (l_k[k] - l_k[2]);
                        w->pl[i * G + tsr_gt_index(x, y)] = (int32_t)lround(v);
                    }
                for (int u = 0; u < n; u++) {
                    w->ad[i * n + u] = u == 0 ? d : 0;
                    w->sb[(i * n + u) * 2] = w->sb[(i * n + u) * 2 + 1] = 0;
                }
            }
        }
        base += ns;
    }
    return TSR_OK;
}

/* An ALT of the union and the reads that showed it, summed over the cohort. */
typedef struct alt_support {
    char *allele;
    int64_t reads;
} alt_support_t;

static int alt_support_cmp(const void *pa, const void *pb)
{
    const alt_support_t *a = pa, *b = pb;
    if (a->reads != b->reads)
        return a->reads > b->reads ? -1 : 1;
    return strcmp(a->allele, b->allele);
}

/*
 * Keep the max_alleles - 1 ALTs of al[1, *n) with the most reads (reads[u]:
 * AD summed over the cohort; ties: allele order) and free the rest, so a site
 * with more alleles than genotypes can index (a long STR across a large
 * cohort) is genotyped over its best-supported ones instead of failing the
 * run. A sample whose allele was dropped fits the kept ones less well, as in
 * a batch that did not list an allele.
 */
static tsr_status_t union_prune(const char *contig, int64_t pos, char **al, const int64_t *reads, int *n,
                                int max_alleles)
{
    alt_support_t *sup = calloc((size_t)*n, sizeof *sup);
    if (!sup)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
    for (int u = 1; u < *n; u++)
        sup[u - 1] = (alt_support_t){al[u], reads[u]};
    qsort(sup, (size_t)(*n - 1), sizeof *sup, alt_support_cmp);
    tsr_log_warn("joint %s:%lld: %d alleles; genotyped over REF and the %d ALTs with the most reads (the %d "
                 "others dropped, none with more than %lld reads)",
                 contig, (long long)pos + 1, *n, max_alleles - 1, *n - max_alleles,
                 (long long)sup[max_alleles - 1].reads);
    for (int u = 0; u < *n - 1; u++) {
        if (u < max_alleles - 1)
            al[u + 1] = sup[u].allele;
        else
            free(sup[u].allele);
    }
    *n = max_alleles;
    free(sup);
    return TSR_OK;
}

/*
 * Union alleles of a site: REF = the longest batch REF, ALTs re-padded, distinct and sorted (at most
 * max_alleles in all: union_prune).
 */
static tsr_status_t site_alleles_union(tsr_evidence_t *const *bt, int nb, const int64_t *rec, int64_t pos,
                                       const char *ref_seq, int64_t start, int max_alleles, site_work_t *w)
{
    char *ref = NULL;
    for (int b = 0; b < 2 * nb; b++) {
        if (rec[b] < 0)
            continue;
        const tsr_evidence_t *ev = bt[b / 2];
        const char *s = ev->allele_blob + ev->allele_off[rec[b]];
        const char *comma = memchr(s, ',', (size_t)(ev->allele_off[rec[b] + 1] - ev->allele_off[rec[b]]));
        size_t l = comma ? (size_t)(comma - s) : 0;
        if (!ref || l > strlen(ref)) {
            free(ref);
            if (!(ref = strndup(s, l)))
                return tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
        }
    }
    int cap = 8, n = 1;
    char **al = calloc((size_t)cap, sizeof *al);
    int64_t *reads = calloc((size_t)cap, sizeof *reads); /* per union allele: AD summed over the cohort */
    if (!al || !reads) {
        free(ref);
        free(al);
        free(reads);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
    }
    al[0] = ref;
    size_t rl = strlen(ref);
    tsr_status_t s = TSR_OK;
    for (int b = 0; b < 2 * nb && s == TSR_OK; b++) {
        if (rec[b] < 0)
            continue;
        const tsr_evidence_t *ev = bt[b / 2];
        char **ba = NULL;
        int bn = split_alleles(ev->allele_blob + ev->allele_off[rec[b]],
                               ev->allele_off[rec[b] + 1] - ev->allele_off[rec[b]], &ba);
        if (bn < 0) {
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
            break;
        }
        size_t bl = strlen(ba[0]);
        if (bl > rl || memcmp(ba[0], ref, bl) != 0)
            s = tsr_error_set(TSR_ERR_FORMAT, "joint %s:%lld: batch %d has REF %s, another batch %s", bt[0]->contig,
                              (long long)pos + 1, b / 2, ba[0], ref);
        for (int k = 1; k < bn - 1 && s == TSR_OK; k++) {
            size_t l = strlen(ba[k]);
            char *p = malloc(l + rl - bl + 1);
            if (!p) {
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
                break;
            }
            memcpy(p, ba[k], l);
            memcpy(p + l, ref + bl, rl - bl + 1);
            int64_t r = 0;
            for (int64_t j = 0; j < ev->n_samples; j++)
                r += ev->ad[ev->ad_off[rec[b]] + j * bn + k];
            int dup = 0;
            for (int u = 1; u < n && !dup; u++)
                if (strcmp(al[u], p) == 0) {
                    reads[u] += r;
                    dup = 1;
                }
            if (dup) {
                free(p);
                continue;
            }
            if (n == cap) {
                char **q = realloc(al, (size_t)cap * 2 * sizeof *q);
                int64_t *qr = q ? realloc(reads, (size_t)cap * 2 * sizeof *qr) : NULL;
                if (q)
                    al = q;
                if (!qr) {
                    free(p);
                    s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
                    break;
                }
                reads = qr;
                cap *= 2;
            }
            reads[n] = r;
            al[n++] = p;
        }
        free_strs(ba, bn);
    }
    if (s == TSR_OK && ref_seq) {
        size_t avail = strlen(ref_seq);
        for (size_t k = 0; k < rl && (size_t)(pos - start) + k < avail; k++)
            if (ref[k] != ref_seq[pos - start + (int64_t)k]) {
                s = tsr_error_set(TSR_ERR_FORMAT,
                                  "joint %s:%lld: REF %s does not match the reference (evidence from another "
                                  "reference?)",
                                  bt[0]->contig, (long long)pos + 1, ref);
                break;
            }
    }
    if (s == TSR_OK && n > max_alleles)
        s = union_prune(bt[0]->contig, pos, al, reads, &n, max_alleles);
    free(reads);
    if (s != TSR_OK) {
        free_strs(al, n);
        return s;
    }
    qsort(al + 1, (size_t)(n - 1), sizeof *al, str_cmp);
    w->allele = al;
    w->n = n;
    return TSR_OK;
}

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
static tsr_status_t site_filters(tsr_callset_t *cs, const site_work_t *w, int64_t N, const tsr_joint_opts_t *o)
{
    int64_t i = cs->n_sites, nref = 0, nalt = 0, nhet = 0, rf = 0, rr = 0, af = 0, ar = 0;
    int n = w->n;
    for (int64_t j = 0; j < N; j++) {
        const int8_t *gt = cs->gt + (i * N + j) * 2;
        if (w->miss[j] || gt[0] < 0)
            continue;
        int k = (gt[0] == 0) + (gt[1] == 0);
        nref += k;
        nalt += 2 - k;
        nhet += k == 1;
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

/* Append the genotyped site to the call set. */
static tsr_status_t site_emit(cs_build_t *bld, const site_work_t *w, int64_t N, int64_t pos, const double *f,
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
            gt[0] = gt[1] = -1;
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
        for (int y = 0; y < n; y++)
            for (int x = 0; x <= y; x++) {
                int g = tsr_gt_index(x, y);
                post[g] = pow(10.0, -w->pl[j * G + g] / 10.0) * hwe_prior(f, x, y);
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
        gt[1] = (int8_t)bb;
        cs->gq[i * N + j] = gq > 99 ? 99 : (gq < 0 ? 0 : gq);
        cs->dp[i * N + j] = w->dp[j];
        memcpy(cs->ad + ad0 + j * n, w->ad + j * n, (size_t)n * sizeof(int32_t));
        memcpy(cs->pl + pl0 + j * G, w->pl + j * G, (size_t)G * sizeof(int32_t));
    }
    TSR_CALL(site_filters(cs, w, N, o));
    cs->n_sites = i + 1;
    return TSR_OK;
}

static void site_work_free(site_work_t *w)
{
    free_strs(w->allele, w->n);
    free(w->pl);
    free(w->ad);
    free(w->sb);
    free(w->dp);
    free(w->miss);
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
static tsr_status_t site_genotype(cs_build_t *bld, tsr_evidence_t *const *bt, int nb, const int64_t *rec,
                                  int64_t pos, const char *ref_seq, int64_t N, const tsr_joint_opts_t *o)
{
    site_work_t w;
    memset(&w, 0, sizeof w);
    TSR_CALL(site_alleles_union(bt, nb, rec, pos, ref_seq, bt[0]->start, o->max_alleles, &w));
    int n = w.n, G = n * (n + 1) / 2;
    tsr_status_t s = TSR_OK;
    double *f = calloc((size_t)n, sizeof *f), *cnt = calloc((size_t)n, sizeof *cnt);
    double *lik = calloc((size_t)G, sizeof *lik);
    uint8_t keep[TSR_JOINT_MAX_ALLELES + 1];
    w.pl = calloc((size_t)(N * G + 1), sizeof *w.pl);
    w.ad = calloc((size_t)(N * n + 1), sizeof *w.ad);
    w.sb = calloc((size_t)(N * n * 2 + 1), sizeof *w.sb);
    w.dp = calloc((size_t)(N + 1), sizeof *w.dp);
    w.miss = calloc((size_t)(N + 1), 1);
    if (!f || !cnt || !lik || !w.pl || !w.ad || !w.sb || !w.dp || !w.miss)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
    if (s == TSR_OK && n >= 2)
        s = site_gather(bt, nb, rec, pos, &w, o);
    int64_t M = 0;
    for (int64_t i = 0; s == TSR_OK && i < N; i++)
        M += !w.miss[i];
    if (s == TSR_OK && n >= 2 && M > 0) {
        double ll1 = em_fit(w.pl, w.miss, N, n, o, f, cnt, lik);
        int kept = 1;
        keep[0] = 1;
        for (int a = 1; a < n; a++) {
            keep[a] = 2.0 * (double)M * f[a] >= o->min_alt_count;
            kept += keep[a];
        }
        if (kept > 1 && kept < n) {
            site_subset(&w, N, keep);
            ll1 = em_fit(w.pl, w.miss, N, w.n, o, f, cnt, lik);
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
                s = site_emit(bld, &w, N, pos, f, qual, o, lik);
        }
    }
    free(f);
    free(cnt);
    free(lik);
    site_work_free(&w);
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
    cs->contig = strdup(b0->contig);
    cs->start = b0->start;
    cs->end = b0->end;
    cs->n_samples = (int32_t)N;
    cs->pos = calloc((size_t)U + 1, sizeof *cs->pos);
    cs->n_alleles = calloc((size_t)U + 1, sizeof *cs->n_alleles);
    cs->allele_off = calloc((size_t)U + 1, sizeof *cs->allele_off);
    cs->qual = calloc((size_t)U + 1, sizeof *cs->qual);
    cs->filter = calloc((size_t)U + 1, sizeof *cs->filter);
    cs->af_off = calloc((size_t)U + 1, sizeof *cs->af_off);
    cs->ad_off = calloc((size_t)U + 1, sizeof *cs->ad_off);
    cs->pl_off = calloc((size_t)U + 1, sizeof *cs->pl_off);
    cs->gt = calloc((size_t)(U * N * 2 + 1), sizeof *cs->gt);
    cs->gq = calloc((size_t)(U * N + 1), sizeof *cs->gq);
    cs->dp = calloc((size_t)(U * N + 1), sizeof *cs->dp);
    int64_t *cur = calloc((size_t)n_batches, sizeof *cur), *rec = calloc(2 * (size_t)n_batches, sizeof *rec);
    tsr_status_t s = TSR_OK;
    if (!cs->contig || !cs->pos || !cs->n_alleles || !cs->allele_off || !cs->qual || !cs->filter || !cs->af_off ||
        !cs->ad_off || !cs->pl_off || !cs->gt || !cs->gq || !cs->dp || !cur || !rec)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory in joint genotyping");
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
        s = site_genotype(&bld, batches, n_batches, rec, pos, ref_seq, N, o);
    }
    free(cur);
    free(rec);
    if (s != TSR_OK) {
        tsr_callset_destroy(&cs);
        return s;
    }
    *out = cs;
    return TSR_OK;
}
