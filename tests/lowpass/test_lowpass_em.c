/*
 * test_lowpass_em.c - the low-pass model against hand and independent
 * computations: genotype likelihoods of one read, the EM frequency of 10
 * samples with known reads against a direct maximisation of the likelihood
 * over a fine grid (no EM), the likelihood-ratio statistic against that
 * likelihood computed here, QUAL against chi-square quantiles, and the weighted
 * EM of the pooled pre-test against the same rows repeated.
 */
#include "kernels/lowpass_internal.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* One read of allele a (0 ref, 1 alt) at error e, for genotype with k ALT copies: written out by hand. */
static double hand_read(int a, int k, double e)
{
    double pr = a == 0 ? 1 - e : e / 3, pa = a == 1 ? 1 - e : e / 3;
    return k == 0 ? pr : k == 2 ? pa : 0.5 * pr + 0.5 * pa;
}

static void test_gl_one_read(void **unused)
{
    (void)unused;
    double lgl[3] = {0, 0, 0};
    tsr_lp_gl_add(lgl, 2, 1, 20.0, 1.0); /* one ALT read at Q20: e = 0.01 */
    assert_true(fabs(exp(lgl[0]) - 0.01 / 3) < 1e-12);
    assert_true(fabs(exp(lgl[1]) - (0.5 * 0.99 + 0.5 * 0.01 / 3)) < 1e-12);
    assert_true(fabs(exp(lgl[2]) - 0.99) < 1e-12);
    double l3[3] = {0, 0, 0};
    tsr_lp_gl_add(l3, 2, 0, 30.0, 3.0); /* three REF reads at Q30 */
    assert_true(fabs(l3[0] - 3 * log(1 - 1e-3)) < 1e-12);
    assert_true(fabs(l3[2] - 3 * log(1e-3 / 3)) < 1e-12);
}

/* The 10 samples: (ref reads, alt reads), all at Q20. */
static const int reads[10][2] = {{1, 0}, {0, 1}, {2, 0}, {1, 1}, {0, 0}, {3, 0}, {0, 2}, {1, 0}, {2, 1}, {1, 0}};

static double hand_loglik(double p, double e)
{
    double ll = 0;
    for (int s = 0; s < 10; s++) {
        double l = 0, pri[3] = {(1 - p) * (1 - p), 2 * p * (1 - p), p * p};
        for (int k = 0; k < 3; k++)
            l += pri[k] * pow(hand_read(0, k, e), reads[s][0]) * pow(hand_read(1, k, e), reads[s][1]);
        ll += log(l);
    }
    return ll;
}

static void test_em_and_lrt_ten_samples(void **unused)
{
    (void)unused;
    double gl[30];
    for (int s = 0; s < 10; s++) {
        double lgl[3] = {0, 0, 0};
        tsr_lp_gl_add(lgl, 2, 0, 20.0, reads[s][0]);
        tsr_lp_gl_add(lgl, 2, 1, 20.0, reads[s][1]);
        for (int g = 0; g < 3; g++)
            gl[s * 3 + g] = exp(lgl[g]);
    }
    double f[2] = {0.5, 0.5};
    int it = tsr_lp_em(10, 2, gl, 1000, 1e-12, f);
    assert_true(it > 0);
    /* independent: maximise the likelihood over a grid, then refine by golden section */
    double e = 0.01, best = 0, bl = -INFINITY;
    for (int i = 0; i <= 100000; i++) {
        double p = i / 100000.0, l = hand_loglik(p, e);
        if (l > bl) {
            bl = l;
            best = p;
        }
    }
    assert_true(fabs(f[1] - best) < 2e-4);
    assert_true(fabs(f[0] + f[1] - 1) < 1e-12);
    /* the sample with no reads (sample 4) must not pull the estimate: the same answer without it */
    double gl9[27], f9[2] = {0.5, 0.5};
    memcpy(gl9, gl, 12 * sizeof *gl);
    memcpy(gl9 + 12, gl + 15, 15 * sizeof *gl);
    tsr_lp_em(9, 2, gl9, 1000, 1e-12, f9);
    assert_true(fabs(f9[1] - f[1]) < 1e-9);
    /* LRT: 2 (ln L(p_hat) - ln L(0)), with ln L computed here */
    double lrt = tsr_lp_lrt(10, 2, gl, f);
    double want = 2 * (hand_loglik(f[1], e) - hand_loglik(0, e));
    assert_true(fabs(lrt - want) < 1e-6 * (1 + want));
    assert_true(want > 10); /* 5 ALT reads at Q20 are strong evidence */
}

static void test_monomorphic_has_no_evidence(void **unused)
{
    (void)unused;
    double gl[30];
    for (int s = 0; s < 10; s++) {
        double lgl[3] = {0, 0, 0};
        tsr_lp_gl_add(lgl, 2, 0, 30.0, 2.0);
        for (int g = 0; g < 3; g++)
            gl[s * 3 + g] = exp(lgl[g]);
    }
    double f[2] = {0.5, 0.5};
    tsr_lp_em(10, 2, gl, 1000, 1e-12, f);
    assert_true(f[1] < 1e-3);
    assert_true(tsr_lp_lrt(10, 2, gl, f) < 1e-3);
}

/* A row of weight w is w identical samples: the pre-test's weighted EM against the EM over the rows repeated. */
static void test_weighted_em_is_repeated_rows(void **unused)
{
    (void)unused;
    /* 3 distinct samples over REF, A, B: one ALT-A read; one REF + one ALT-B read; one REF read */
    double rows[3 * 6], rep[8 * 6], wt[3] = {1, 2, 5};
    const int obs[3][2] = {{1, -1}, {0, 2}, {0, -1}};
    for (int k = 0; k < 3; k++) {
        double l[6] = {0, 0, 0, 0, 0, 0};
        for (int j = 0; j < 2; j++)
            if (obs[k][j] >= 0)
                tsr_lp_gl_add(l, 3, obs[k][j], 20.0, 1.0);
        for (int g = 0; g < 6; g++)
            rows[k * 6 + g] = exp(l[g]);
    }
    int m = 0;
    for (int k = 0; k < 3; k++)
        for (int r = 0; r < (int)wt[k]; r++, m++)
            memcpy(rep + m * 6, rows + k * 6, sizeof(double) * 6);
    double fw[3] = {0.8, 0.1, 0.1}, fr[3] = {0.8, 0.1, 0.1};
    tsr_lp_em_weighted(3, 3, rows, wt, 1000, 1e-12, fw);
    tsr_lp_em(m, 3, rep, 1000, 1e-12, fr);
    for (int a = 0; a < 3; a++)
        assert_true(fabs(fw[a] - fr[a]) < 1e-9);
    assert_true(fw[1] > 0.01 && fw[2] > 0.01); /* both ALTs carry weight: the case is not trivial */
    assert_true(fabs(tsr_lp_loglik_weighted(3, 3, rows, wt, fw) - tsr_lp_loglik(m, 3, rep, fr)) < 1e-9);
    /* NULL weights are weight 1 */
    double f1[3] = {0.8, 0.1, 0.1}, f2[3] = {0.8, 0.1, 0.1};
    tsr_lp_em_weighted(3, 3, rows, NULL, 1000, 1e-12, f1);
    tsr_lp_em(3, 3, rows, 1000, 1e-12, f2);
    for (int a = 0; a < 3; a++)
        assert_true(f1[a] == f2[a]);
}

static void test_qual_chi2(void **unused)
{
    (void)unused;
    /* chi-square(1) upper quantiles: 3.841459 -> p 0.05, 10.827566 -> p 0.001 */
    assert_true(fabs(tsr_lp_qual(3.841459, 9999) - 13.0103) < 1e-3);
    assert_true(fabs(tsr_lp_qual(10.827566, 9999) - 30.0) < 1e-3);
    assert_true(tsr_lp_qual(0, 9999) == 0);
    assert_true(tsr_lp_qual(1e6, 9999) == 9999);
    /* continuity where erfc underflows: the asymptotic branch stays monotone */
    assert_true(tsr_lp_qual(1500, 1e9) > tsr_lp_qual(1300, 1e9));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gl_one_read),
        cmocka_unit_test(test_em_and_lrt_ten_samples),
        cmocka_unit_test(test_monomorphic_has_no_evidence),
        cmocka_unit_test(test_weighted_em_is_repeated_rows),
        cmocka_unit_test(test_qual_chi2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
