/*
 * test_site_stats.c - the per-site statistics of kernels/stats/site_stats.c.
 *
 * The Hardy-Weinberg exact test is checked against the exact distribution
 * obtained by brute force: every way of placing nalt ALT alleles on the 2N
 * chromosome slots of N diploid samples is enumerated and the heterozygous
 * samples counted, which gives the null distribution as integer counts
 * (no recursion, no floating point until the final division). The site
 * statistics are checked on hand-built genotypes whose counts are worked out
 * in the test, including half-missing and haploid calls, populations and a
 * tri-allelic site (the bcftools "ALT j versus the rest" rule).
 */
#include "kernels/stats/stats.h"
#include "io/io.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Het-count distribution for N samples with nalt ALT alleles, by enumeration. */
static void brute_distribution(int N, int nalt, uint64_t *cnt)
{
    memset(cnt, 0, (size_t)(2 * N + 1) * sizeof *cnt);
    for (uint32_t m = 0; m < (1u << (2 * N)); m++) {
        if (__builtin_popcount(m) != nalt)
            continue;
        int het = 0;
        for (int s = 0; s < N; s++)
            het += ((m >> (2 * s)) & 1) != ((m >> (2 * s + 1)) & 1);
        cnt[het]++;
    }
}

static void expect_close(double got, double want, double rel, const char *what, int N, int nalt, int nhet)
{
    double d = fabs(got - want);
    if (d > rel * fabs(want) + 1e-300) {
        print_error("%s: N=%d nalt=%d nhet=%d: got %.17g, want %.17g\n", what, N, nalt, nhet, got, want);
        fail();
    }
}

static void test_hwe_against_enumeration(void **unused)
{
    (void)unused;
    uint64_t cnt[17];
    double probs[17];
    int n_cases = 0;
    for (int N = 1; N <= 8; N++) {
        for (int nalt = 1; nalt < 2 * N; nalt++) {
            brute_distribution(N, nalt, cnt);
            uint64_t total = 0;
            for (int h = 0; h <= 2 * N; h++)
                total += cnt[h];
            for (int nhet = 0; nhet <= 2 * N; nhet++) {
                double hwe, exc;
                int rc = tsr_hwe_exact(2 * N - nalt, nalt, nhet, probs, &hwe, &exc);
                if (cnt[nhet] == 0) {
                    /* impossible het counts: wrong parity or more hets than rare alleles */
                    int rare = nalt < 2 * N - nalt ? nalt : 2 * N - nalt;
                    if (nhet > rare || ((nhet ^ rare) & 1))
                        assert_int_equal(rc, -1);
                    continue;
                }
                assert_int_equal(rc, 0);
                uint64_t two = 0, upper = 0;
                for (int h = 0; h <= 2 * N; h++) {
                    if (cnt[h] && cnt[h] <= cnt[nhet])
                        two += cnt[h];
                    if (h >= nhet)
                        upper += cnt[h];
                }
                expect_close(hwe, (double)two / (double)total, 1e-12, "HWE", N, nalt, nhet);
                expect_close(exc, (double)upper / (double)total, 1e-12, "ExcHet", N, nalt, nhet);
                n_cases++;
            }
        }
    }
    assert_true(n_cases > 100);
}

/*
 * The recursion written plainly, one walk at a time over every het count (the form site_stats.c had
 * before it stepped both walks together and skipped the impossible parity): its p-values must be
 * bitwise those of tsr_hwe_exact, so stats.tsv stays byte-identical.
 */
static void plain_hwe(int64_t nref, int64_t nalt, int64_t nhet, double *probs, double *p_hwe, double *p_exc)
{
    const int64_t n = nref + nalt, rare = nref < nalt ? nref : nalt, ngt = n / 2;
    for (int64_t h = 0; h <= rare; h++)
        probs[h] = 0.0;
    int64_t mid = (int64_t)((double)rare * (double)(n - rare) / (double)n);
    if ((mid ^ rare) & 1)
        mid++;
    probs[mid] = 1.0;
    double sum = 1.0;
    int64_t hom_r = (rare - mid) / 2, hom_c = ngt - mid - hom_r;
    for (int64_t h = mid; h > 1; h -= 2) {
        probs[h - 2] = probs[h] * h * (h - 1.0) / (4.0 * (hom_r + 1.0) * (hom_c + 1.0));
        sum += probs[h - 2];
        hom_r++;
        hom_c++;
    }
    hom_r = (rare - mid) / 2;
    hom_c = ngt - mid - hom_r;
    for (int64_t h = mid; h <= rare - 2; h += 2) {
        probs[h + 2] = probs[h] * 4.0 * hom_r * hom_c / ((h + 2.0) * (h + 1.0));
        sum += probs[h + 2];
        hom_r--;
        hom_c--;
    }
    for (int64_t h = 0; h <= rare; h++)
        probs[h] /= sum;
    double exc = 0.0, two = 0.0;
    for (int64_t h = nhet; h <= rare; h++)
        exc += probs[h];
    for (int64_t h = 0; h <= rare; h++)
        if (probs[h] <= probs[nhet])
            two += probs[h];
    *p_exc = exc;
    *p_hwe = two > 1.0 ? 1.0 : two;
}

static void test_hwe_bitwise_plain(void **unused)
{
    (void)unused;
    static double probs[4001], ref[4001];
    for (int64_t N = 1; N <= 2000; N += N < 60 ? 1 : 37)
        for (int64_t nalt = 1; nalt < 2 * N; nalt += nalt < 40 ? 1 : 1 + nalt / 7) {
            const int64_t nref = 2 * N - nalt, rare = nref < nalt ? nref : nalt;
            for (int64_t nhet = rare & 1; nhet <= rare; nhet += nhet < 20 ? 2 : 2 + 2 * (nhet / 9)) {
                double h1, e1, h2, e2;
                assert_int_equal(tsr_hwe_exact(nref, nalt, nhet, probs, &h1, &e1), 0);
                plain_hwe(nref, nalt, nhet, ref, &h2, &e2);
                assert_memory_equal(&h1, &h2, sizeof h1);
                assert_memory_equal(&e1, &e2, sizeof e1);
            }
        }
}

static void test_hwe_edges(void **unused)
{
    (void)unused;
    double probs[64], hwe, exc;
    assert_int_equal(tsr_hwe_exact(10, 0, 0, probs, &hwe, &exc), 0);
    assert_true(hwe == 1.0 && exc == 1.0);
    assert_int_equal(tsr_hwe_exact(9, 2, 1, probs, &hwe, &exc), -1); /* odd total */
    assert_int_equal(tsr_hwe_exact(10, 2, 3, probs, &hwe, &exc), -1); /* more hets than rare alleles */
    /* A large, strongly deficient site: 1000 samples, 500 ALT alleles, no hets. */
    double big[1001];
    assert_int_equal(tsr_hwe_exact(1500, 500, 0, big, &hwe, &exc), 0);
    assert_true(hwe > 0.0 && hwe < 1e-100);
    assert_true(fabs(exc - 1.0) < 1e-12);
}

#define GT(a, b) (a), (b)
enum { M = -1, H = -2 };

static void test_site_counts(void **unused)
{
    (void)unused;
    /* 8 samples, populations 0,1,0,1,0,1,0,-1 (the last is only in the cohort). */
    const int pop[8] = {0, 1, 0, 1, 0, 1, 0, -1};
    tsr_site_stats_t *st = NULL;
    assert_int_equal(tsr_site_stats_create(8, pop, 2, &st), TSR_OK);
    assert_int_equal(st->n_groups, 3);
    const int32_t gt[16] = {GT(0, 0), GT(0, 1), GT(1, 1), GT(M, M), GT(0, 1), GT(1, M), GT(0, H), GT(1, 0)};
    assert_int_equal(tsr_site_stats_compute(st, gt, 2), 0);
    /* cohort: called alleles 2+2+2+0+2+1+1+2 = 12; ALT: 0+1+2+1+1+0+1 = 6 */
    assert_int_equal(st->an[0], 12);
    assert_int_equal(st->ac[0], 6);
    assert_true(fabsf(st->af[0] - 0.5f) < 1e-7f);
    assert_int_equal(st->ns[0], 7);
    assert_int_equal(st->nhet[0], 3);
    assert_int_equal(st->nhomalt[0], 1);
    assert_int_equal(st->ac_het[0], 3);
    assert_int_equal(st->ac_hom[0], 2);
    assert_true(fabsf(st->f_missing[0] - 1.0f / 8.0f) < 1e-7f);
    /* Diploid calls: 0/0 0/1 1/1 0/1 1/0: 5 samples, ALT 5 of 10, expected hets 5*(1-0.25-0.25)=2.5, F = 1-3/2.5 */
    assert_true(fabs(st->inbreeding[0] - (1.0 - 3.0 / 2.5)) < 1e-12);
    /* HWE from the diploid calls only: nref 5, nalt 5, nhet 3 */
    double probs[16], hwe, exc;
    assert_int_equal(tsr_hwe_exact(5, 5, 3, probs, &hwe, &exc), 0);
    assert_true(st->hwe[0] == hwe && st->exchet[0] == exc);
    /* population 0: samples 0,2,4,6 -> 0/0 1/1 0/1 0/. : AN 7, AC 3, NS 4 */
    assert_int_equal(st->an[1], 7);
    assert_int_equal(st->ac[1], 3);
    assert_int_equal(st->ns[1], 4);
    assert_int_equal(st->nhet[1], 1);
    assert_true(st->f_missing[1] == 0.0f);
    /* population 1: samples 1,3,5 -> 0/1 ./. 1/. : AN 3, AC 2, NS 2, missing 1/3 */
    assert_int_equal(st->an[2], 3);
    assert_int_equal(st->ac[2], 2);
    assert_int_equal(st->ns[2], 2);
    assert_true(fabsf(st->f_missing[2] - 1.0f / 3.0f) < 1e-7f);
    /* one diploid het: ALT versus REF is 1 vs 1, no het expected beyond 1 -> F = 1 - 1/0.5 */
    assert_true(fabs(st->inbreeding[2] - (1.0 - 1.0 / 0.5)) < 1e-12);

    /* An allele index beyond the site's alleles names the sample. */
    const int32_t bad[16] = {GT(0, 0), GT(0, 0), GT(0, 2), GT(0, 0), GT(0, 0), GT(0, 0), GT(0, 0), GT(0, 0)};
    assert_int_equal(tsr_site_stats_compute(st, bad, 2), -1 - 2);
    tsr_site_stats_destroy(&st);
    assert_null(st);
    tsr_site_stats_destroy(&st);
}

static void test_multiallelic(void **unused)
{
    (void)unused;
    tsr_site_stats_t *st = NULL;
    assert_int_equal(tsr_site_stats_create(7, NULL, 0, &st), TSR_OK);
    const int32_t gt[14] = {GT(0, 0), GT(0, 1), GT(0, 2), GT(1, 2), GT(2, 2), GT(1, 1), GT(0, 0)};
    assert_int_equal(tsr_site_stats_compute(st, gt, 3), 0);
    assert_int_equal(st->n_alleles, 3);
    /* per-allele het counts: het0 = 2 (0/1, 0/2), het1 = 2 (0/1, 1/2), het2 = 2 (0/2, 1/2); hom0 = 4, hom1 = 2, hom2 = 2 */
    assert_int_equal(st->ac[0], 4);
    assert_int_equal(st->ac[1], 4);
    assert_int_equal(st->ac_het[0], 2);
    assert_int_equal(st->ac_het[1], 2);
    assert_int_equal(st->nhomalt[0], 1);
    assert_int_equal(st->nhomalt[1], 1);
    assert_int_equal(st->nhomalt_any[0], 2);
    assert_int_equal(st->nhet[0], 3);
    /* ALT j versus the rest: nref_j = 2*hom0 + sum_{k != j} het_k = 4 + 4 = 8, nalt_j = 2 + 2 = 4, nhet_j = 2 */
    double probs[16], hwe, exc;
    assert_int_equal(tsr_hwe_exact(8, 4, 2, probs, &hwe, &exc), 0);
    assert_true(st->hwe[0] == hwe && st->exchet[0] == exc);
    assert_true(st->hwe[1] == hwe && st->exchet[1] == exc);
    /* F: 7 diploid samples, allele counts 6, 4, 4 of 14: expected 7 - (36+16+16)/28, observed 3 */
    assert_true(fabs(st->inbreeding[0] - (1.0 - 3.0 / (7.0 - 68.0 / 28.0))) < 1e-12);
    /* A monomorphic site: HWE and ExcHet are 1, F undefined. */
    const int32_t mono[14] = {GT(0, 0), GT(0, 0), GT(0, 0), GT(0, 0), GT(0, 0), GT(0, 0), GT(0, 0)};
    assert_int_equal(tsr_site_stats_compute(st, mono, 2), 0);
    assert_true(st->hwe[0] == 1.0 && st->exchet[0] == 1.0 && isnan(st->inbreeding[0]));
    tsr_site_stats_destroy(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hwe_against_enumeration),
        cmocka_unit_test(test_hwe_bitwise_plain),
        cmocka_unit_test(test_hwe_edges),
        cmocka_unit_test(test_site_counts),
        cmocka_unit_test(test_multiallelic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
