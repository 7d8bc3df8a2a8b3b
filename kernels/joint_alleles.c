/*
 * joint_alleles.c - the union of alleles across batches at one site, and
 * each batch's evidence mapped onto it (the model: kernels/joint_region.c).
 *
 * Design. The union is built first (tsr_joint_site_alleles_union: the
 * longest REF, every batch's ALTs re-padded to it, merged, sorted; beyond
 * max_alleles the best-supported ALTs, union_prune), then every batch's PL,
 * AD and strand counts are re-indexed onto it (tsr_joint_site_gather), an
 * allele a record did not list taking its <*> or its REF likelihoods
 * (allele_map); a batch with no record at the site contributes its
 * reference-confidence block.
 */
#include "io/io.h"
#include "kernels/joint_internal.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

void tsr_joint_strs_free(char **a, int n)
{
    for (int i = 0; a && i < n; i++)
        free(a[i]);
    free(a);
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* ------------------------------------------------------------- union */

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
tsr_status_t tsr_joint_site_alleles_union(tsr_evidence_t *const *bt, int nb, const int64_t *rec, int64_t pos,
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
        tsr_joint_strs_free(ba, bn);
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
        tsr_joint_strs_free(al, n);
        return s;
    }
    qsort(al + 1, (size_t)(n - 1), sizeof *al, str_cmp);
    w->allele = al;
    w->n = n;
    return TSR_OK;
}

/* ------------------------------------------------------ batch evidence */

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
/* Whether block k lies before sample j's block at pos (blocks sorted by (sample, start), a sample's disjoint). */
static inline int block_before(const tsr_evidence_t *ev, int64_t k, int64_t j, int64_t pos)
{
    return ev->block_sample[k] < j || (ev->block_sample[k] == j && ev->block_end[k] <= pos);
}

/*
 * The first block not before (j, pos). hint: where the last search for this sample ended; the sites come in
 * increasing positions, so the answer is usually a few steps on from it (a walk of at most 8 steps, then the
 * binary search over the rest). A stale hint (another window's arrays) only costs the binary search.
 */
static int64_t block_find(const tsr_evidence_t *ev, int64_t j, int64_t pos, int64_t hint)
{
    int64_t lo = 0, hi = ev->n_blocks;
    if (hint >= 0 && hint <= ev->n_blocks && (hint == 0 || block_before(ev, hint - 1, j, pos))) {
        lo = hint;
        for (int step = 0; step < 8; step++) {
            if (lo == hi || !block_before(ev, lo, j, pos))
                return lo;
            lo++;
        }
    }
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (block_before(ev, mid, j, pos))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

tsr_status_t tsr_joint_site_gather(tsr_evidence_t *const *bt, int nb, const int64_t *rec, int64_t pos,
                                   site_work_t *w, const tsr_joint_opts_t *o, int64_t *blk_hint)
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
                tsr_joint_strs_free(al, bn[r]);
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
                int64_t lo = block_find(ev, j, pos, blk_hint ? blk_hint[i] : -1);
                if (blk_hint)
                    blk_hint[i] = lo;
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
