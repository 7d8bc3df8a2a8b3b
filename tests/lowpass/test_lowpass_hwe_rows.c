/*
 * test_lowpass_hwe_rows.c - the low-pass HWE test over a histogram of
 * likelihood rows (tsr_lp_hwe_test_rows, kernels/stats/lowpass_stats.c;
 * issue 18): at 0.1x a site's 20,000 samples take a few dozen distinct
 * quantised rows, and the EMs over (row, count) give the per-sample test's
 * values (to the EM's tolerance: a row's terms are multiplied by its count
 * instead of added count times). Checked here: tsr_lp_hwe_test collapses
 * its rows exactly as documented (bitwise equal to the rows and counts this
 * test builds, first-appearance order); with every row distinct it is
 * bitwise the per-sample computation; the collapsed values agree with the
 * per-sample ones on sites under HWE and with a heterozygote deficit.
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

enum { N = 20000 };

#include "lp_test_rng.h"

/*
 * N samples at `cov` x, ALT frequency p, inbreeding f, error 0.5%: likelihoods from integer PL (as the call
 * sets store them, normalised to the best genotype), so rows repeat. Returns the number of distinct rows
 * (bitwise likelihoods and depth) and fills the histogram in first-appearance order.
 */
static int simulate(double cov, double p, double f, double *lik, int32_t *dp, double *hl, int32_t *hd, int32_t *hc)
{
    int n = 0;
    for (int j = 0; j < N; j++) {
        double u = urand(), g0 = (1 - p) * (1 - p) + f * p * (1 - p), g2 = p * p + f * p * (1 - p);
        int g = u < g0 ? 0 : u < g0 + (1 - g0 - g2) ? 1 : 2, d = poisson(cov);
        double ll[3] = {0, 0, 0}, e = 0.005;
        for (int r = 0; r < d; r++) {
            int alt = urand() < g / 2.0;
            if (urand() < e)
                alt = !alt;
            ll[0] += log10(alt ? e / 3 : 1 - e);
            ll[1] += log10(0.5 * (1 - e) + 0.5 * e / 3);
            ll[2] += log10(alt ? 1 - e : e / 3);
        }
        double mx = fmax(ll[0], fmax(ll[1], ll[2]));
        for (int k = 0; k < 3; k++)
            lik[3 * j + k] = tsr_lp_pl_to_lik((int32_t)lround(-10 * (ll[k] - mx)));
        dp[j] = d;
        int r = 0;
        while (r < n && !(hd[r] == d && memcmp(hl + 3 * r, lik + 3 * j, 3 * sizeof *lik) == 0))
            r++;
        if (r == n) {
            memcpy(hl + 3 * n, lik + 3 * j, 3 * sizeof *lik);
            hd[n] = d;
            hc[n++] = 0;
        }
        hc[r]++;
    }
    return n;
}

static void same_bits(const tsr_lp_hwe_t *a, const tsr_lp_hwe_t *b)
{
    assert_memory_equal(a->g, b->g, sizeof a->g);
    assert_memory_equal(&a->p, &b->p, sizeof a->p);
    assert_memory_equal(&a->lrt, &b->lrt, sizeof a->lrt);
    assert_memory_equal(&a->p_hwe, &b->p_hwe, sizeof a->p_hwe);
    assert_memory_equal(&a->p_exchet, &b->p_exchet, sizeof a->p_exchet);
    assert_int_equal(a->n, b->n);
}

/* Collapsed and per-sample values agree; tsr_lp_hwe_test is exactly the histogram this test builds. */
static void test_rows_match_samples(void **unused)
{
    (void)unused;
    double *lik = malloc(3 * N * sizeof *lik), *hl = malloc(3 * N * sizeof *hl);
    int32_t *dp = malloc(N * sizeof *dp), *hd = malloc(N * sizeof *hd), *hc = malloc(N * sizeof *hc);
    assert_non_null(lik && hl && dp && hd && hc);
    const double cov[] = {0.1, 0.1, 0.5, 1.0}, p[] = {0.02, 0.3, 0.1, 0.45}, f[] = {0, 0.5, 0, 0.5};
    int deficit_found = 0;
    for (int c = 0; c < 4; c++) {
        int n = simulate(cov[c], p[c], f[c], lik, dp, hl, hd, hc);
        assert_true(n < 200); /* quantised rows repeat: a few dozen, not 20,000 */
        tsr_lp_hwe_t a, b, h;
        assert_int_equal(tsr_lp_hwe_test(lik, dp, N, p[c], &a), 0);
        assert_int_equal(tsr_lp_hwe_test_rows(hl, hd, hc, n, p[c], &h), 0);
        same_bits(&a, &h);
        assert_int_equal(tsr_lp_hwe_test_rows(lik, dp, NULL, N, p[c], &b), 0); /* per sample */
        assert_int_equal(a.n, N);
        assert_int_equal(b.n, N);
        for (int k = 0; k < 3; k++)
            assert_true(fabs(a.g[k] - b.g[k]) < 1e-6);
        assert_true(fabs(a.F - b.F) < 1e-5);
        assert_true(fabs(a.p_hwe - b.p_hwe) < 1e-4 * fmax(b.p_hwe, 1e-12) + 1e-300);
        assert_true(fabs(a.p_exchet - b.p_exchet) < 1e-4 * fmax(b.p_exchet, 1e-12) + 1e-300);
        deficit_found |= f[c] > 0.3 && a.p_hwe < 1e-6 && b.p_hwe < 1e-6;
    }
    assert_true(deficit_found); /* the comparison covered a site the test rejects, not only p ~ 1 */
    free(lik);
    free(hl);
    free(dp);
    free(hd);
    free(hc);
}

/* Rows that are all distinct: tsr_lp_hwe_test is bitwise the per-sample computation (every count 1). */
static void test_distinct_rows_bitwise(void **unused)
{
    (void)unused;
    enum { M = 500 };
    double lik[3 * M];
    int32_t dp[M];
    for (int j = 0; j < M; j++) {
        for (int k = 0; k < 3; k++)
            lik[3 * j + k] = 0.05 + urand();
        dp[j] = 1 + j % 3;
    }
    tsr_lp_hwe_t a, b;
    assert_int_equal(tsr_lp_hwe_test(lik, dp, M, 0.4, &a), 0);
    assert_int_equal(tsr_lp_hwe_test_rows(lik, dp, NULL, M, 0.4, &b), 0);
    same_bits(&a, &b);
    assert_true(isfinite(a.F));
}

int main(void)
{
    lp_rng = 0x2545F4914F6CDD1DULL; /* this test's own sequence */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_match_samples),
        cmocka_unit_test(test_distinct_rows_bitwise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
