/*
 * The discovery power model of the low-pass SFS (issue 16; tsr_lp_power in
 * kernels/lowpass_power.c). With reads of quality 60 (errors ~1e-6) and
 * no QUAL bar, a site is reported exactly when its reads show the ALT at least
 * min_alt_obs times; each ALT copy's reads are Poisson(depth / 2), so the ALT
 * observations of K copies are Poisson(K x depth / 2) and the power is
 * P(Poisson(K x depth / 2) >= min_alt_obs): a known answer. A QUAL bar can only
 * remove sites from the same (seeded) pileups; the table is deterministic; no
 * read quality histogram means no model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

enum { N = 100, K_MAX = 2 * N, QH = 100 };

static double lam[N];
static int64_t qh[QH];

static void setup_inputs(double depth)
{
    for (int j = 0; j < N; j++)
        lam[j] = depth;
    memset(qh, 0, sizeof qh);
    qh[60] = 1000;
}

static void power_is_poisson_tail(void **state)
{
    (void)state;
    setup_inputs(0.5);
    double pw[K_MAX + 1];
    assert_int_equal(tsr_lp_power(N, lam, qh, qh, QH, 2, 0.0, K_MAX, pw), 0);
    const int ks[] = {1, 2, 3, 4, 6, 8, 10, 13, 17};
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++) {
        double mu = ks[i] * 0.5 / 2.0, p = 1.0 - exp(-mu) * (1.0 + mu);
        double sd = sqrt(p * (1.0 - p) / 256.0); /* 256 pileups per count */
        assert_true(fabs(pw[ks[i]] - p) <= 4.0 * sd + 1.0 / 256.0);
    }
    /* the power rises with the copies and reaches 1 */
    assert_true(pw[1] < 0.05 && pw[17] > 0.85 && pw[K_MAX] == 1.0);
    /* twice the depth: P(Poisson(K) >= 2) */
    setup_inputs(1.0);
    assert_int_equal(tsr_lp_power(N, lam, qh, qh, QH, 2, 0.0, K_MAX, pw), 0);
    double p4 = 1.0 - exp(-2.0) * 3.0;
    assert_true(fabs(pw[4] - p4) <= 4.0 * sqrt(p4 * (1 - p4) / 256.0) + 1.0 / 256.0);
    /* deep: 40x, one copy shows Poisson(20) ALT reads, P(< 2) ~ 4e-8 */
    setup_inputs(40.0);
    assert_int_equal(tsr_lp_power(N, lam, qh, qh, QH, 2, 0.0, K_MAX, pw), 0);
    assert_true(pw[1] == 1.0 && pw[K_MAX] == 1.0);
}

static void qual_bar_only_removes_sites(void **state)
{
    (void)state;
    setup_inputs(0.5);
    int64_t low[QH]; /* ALT reads of PL 20 (error 3%): two of them no longer reach QUAL 60 */
    memset(low, 0, sizeof low);
    low[20] = 1000;
    double p0[K_MAX + 1], p60[K_MAX + 1], again[K_MAX + 1];
    assert_int_equal(tsr_lp_power(N, lam, qh, low, QH, 2, 0.0, K_MAX, p0), 0);
    assert_int_equal(tsr_lp_power(N, lam, qh, low, QH, 2, 60.0, K_MAX, p60), 0);
    int lower = 0;
    for (int k = 1; k <= 17; k++) {
        assert_true(p60[k] <= p0[k]);
        lower += p60[k] < p0[k];
    }
    assert_true(lower > 0);
    assert_int_equal(tsr_lp_power(N, lam, qh, low, QH, 2, 60.0, K_MAX, again), 0);
    assert_memory_equal(p60, again, sizeof again);
}

static void no_reads_no_model(void **state)
{
    (void)state;
    setup_inputs(0.5);
    int64_t none[QH];
    memset(none, 0, sizeof none);
    double pw[K_MAX + 1];
    assert_int_equal(tsr_lp_power(N, lam, none, qh, QH, 2, 0.0, K_MAX, pw), 1);
    assert_int_equal(tsr_lp_power(N, lam, qh, none, QH, 2, 0.0, K_MAX, pw), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(power_is_poisson_tail),
        cmocka_unit_test(qual_bar_only_removes_sites),
        cmocka_unit_test(no_reads_no_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
