/*
 * test_lowpass_hwe.c - calibration of the low-pass HWE test
 * (tsr_lp_hwe_test, kernels/stats/lowpass_stats.c) where only a handful of
 * samples have two reads (issue 16): populations of 667 samples at 0.1x
 * (read counts Poisson(0.1), 0.2% substitution errors), genotypes drawn
 * under HWE, so the fraction of sites with p < 0.01 must lie in the issue's
 * band [0.005, 0.02]; one sample with two reads that show both alleles at
 * p = 0.5, the likeliest outcome there, is no evidence against HWE; and a
 * population whose reads all show the REF, with or without a sample of flat
 * likelihoods, has nothing to test (p = 1; it gave p ~ 1e-8: over a third of
 * the sites below 0.01 at 2,000 x 0.1x were such).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kernels/stats/stats.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lp_test_rng.h"

/* Likelihoods (0, 1, 2 ALT copies) of `reads` reads of a genotype with g ALT copies, error e. */
static void read_lik(int g, int reads, double e, double *l)
{
    l[0] = l[1] = l[2] = 1;
    for (int r = 0; r < reads; r++) {
        int alt = urand() < g / 2.0;
        if (urand() < e)
            alt = !alt;
        l[0] *= alt ? e / 3 : 1 - e;
        l[1] *= 0.5 * (1 - e) + 0.5 * e / 3;
        l[2] *= alt ? 1 - e : e / 3;
    }
}

/* Sites under HWE at 0.1x: the fraction with p < 0.01 lies in [0.005, 0.02]. */
static void test_hwe_null_at_0_1x(void **state)
{
    (void)state;
    enum { N = 667, SITES = 4000 };
    static double lik[3 * N];
    static int32_t depth[N];
    int below = 0, tested = 0;
    for (int s = 0; s < SITES; s++) {
        double p = 0.05 + 0.45 * urand(); /* common variants: where the test has something to work with */
        int m = 0;
        for (int j = 0; j < N; j++) {
            int d = poisson(0.1);
            if (d == 0)
                continue;
            int g = (urand() < p) + (urand() < p);
            read_lik(g, d, 0.002, lik + 3 * m);
            depth[m++] = d;
        }
        tsr_lp_hwe_t h;
        tsr_lp_hwe_test(lik, depth, m, p, &h);
        tested++;
        below += h.p_hwe < 0.01;
    }
    double frac = (double)below / tested;
    print_message("HWE p < 0.01 under HWE at 0.1x: %d of %d sites (%.4f)\n", below, tested, frac);
    assert_true(frac >= 0.005 && frac <= 0.02);
}

/* A population whose reads all show the REF (the ALT is elsewhere in the cohort): nothing to test. */
static void test_hwe_monomorphic_reads(void **state)
{
    (void)state;
    enum { N = 70 };
    double lik[3 * N];
    int32_t depth[N];
    for (int j = 0; j < N; j++) {
        depth[j] = j < 4 ? 2 : 1; /* four samples with two REF reads, as at 0.1x */
        read_lik(0, depth[j], 0.0, lik + 3 * j);
    }
    tsr_lp_hwe_t h;
    tsr_lp_hwe_test(lik, depth, N, 6e-8, &h);
    print_message("REF-only reads: HWE p %.4g\n", h.p_hwe);
    assert_true(h.p_hwe == 1.0 && h.p_exchet == 1.0);
    /* one sample's reads show neither allele (flat likelihoods, PL 0,0,0 with a depth): still nothing to test */
    lik[3 * (N - 1)] = lik[3 * (N - 1) + 1] = lik[3 * (N - 1) + 2] = 1.0;
    depth[N - 1] = 1;
    tsr_lp_hwe_test(lik, depth, N, 6e-8, &h);
    print_message("REF-only reads and one flat sample: HWE p %.4g\n", h.p_hwe);
    assert_true(h.p_hwe == 1.0 && h.p_exchet == 1.0);
}

/* One sample with both alleles in two reads, 60 with one read, p = 0.5: nothing against HWE. */
static void test_hwe_one_het_read_pair(void **state)
{
    (void)state;
    double lik[3 * 61];
    int32_t depth[61];
    const double e = 0.002;
    for (int j = 0; j < 60; j++) { /* half REF, half ALT single reads */
        int alt = j % 2;
        lik[3 * j] = alt ? e / 3 : 1 - e;
        lik[3 * j + 1] = 0.5 * (1 - e) + 0.5 * e / 3;
        lik[3 * j + 2] = alt ? 1 - e : e / 3;
        depth[j] = 1;
    }
    double *l = lik + 3 * 60; /* one REF and one ALT read */
    l[0] = (1 - e) * e / 3;
    l[1] = (0.5 * (1 - e) + 0.5 * e / 3) * (0.5 * (1 - e) + 0.5 * e / 3);
    l[2] = e / 3 * (1 - e);
    depth[60] = 2;
    tsr_lp_hwe_t h;
    tsr_lp_hwe_test(lik, depth, 61, 0.5, &h);
    print_message("one heterozygous read pair at p = 0.5: HWE p %.4g, ExcHet p %.4g\n", h.p_hwe, h.p_exchet);
    assert_true(h.p_hwe > 0.1);
    assert_true(h.p_exchet > 0.05);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hwe_null_at_0_1x),
        cmocka_unit_test(test_hwe_one_het_read_pair),
        cmocka_unit_test(test_hwe_monomorphic_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
