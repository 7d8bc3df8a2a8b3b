/*
 * test_num_format.c - tsr_num_format_{int,g,fixed} (kernels/stats/num_format.c)
 * against snprintf, byte for byte: edge values (zeros, denormals, 1e-300,
 * powers of ten and their neighbours, exact binary rounding ties such as
 * 2^-10, NaN, infinities, negatives) and millions of random values drawn the
 * ways stats.tsv meets them (float allele frequencies ac / an, log-uniform
 * doubles over the whole range, decimal fractions n / 10^m that sit on or
 * next to decimal ties, raw random bit patterns), each in the formats
 * stats.tsv uses (%g, %.9g, %.6f) and every precision the fast paths serve.
 */
#include "kernels/stats/stats_internal.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t next_u64(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double next_unit(void) { return (double)(next_u64() >> 11) * 0x1.0p-53; }

static long n_checked;

/* One value in one format: ours equals snprintf's text and length. */
static void check_g(double v, int prec)
{
    char want[512], got[TSR_NUM_FORMAT_MAX];
    int wn = snprintf(want, sizeof want, "%.*g", prec, v);
    int gn = tsr_num_format_g(got, v, prec);
    if (gn != wn || strcmp(got, want) != 0)
        fail_msg("%%.%dg of %a: got '%s', snprintf '%s'", prec, v, got, want);
    n_checked++;
}

static void check_fixed(double v, int prec)
{
    char want[512], got[TSR_NUM_FORMAT_MAX];
    int wn = snprintf(want, sizeof want, "%.*f", prec, v);
    if (wn >= TSR_NUM_FORMAT_MAX) /* longer than the documented cut */
        return;
    int gn = tsr_num_format_fixed(got, v, prec);
    if (gn != wn || strcmp(got, want) != 0)
        fail_msg("%%.%df of %a: got '%s', snprintf '%s'", prec, v, got, want);
    n_checked++;
}

/* The formats stats.tsv uses, both signs, plus one other precision of each kind. */
static void check_all(double v)
{
    for (int s = 0; s < 2; s++, v = -v) {
        check_g(v, 6);
        check_g(v, 9);
        check_fixed(v, 6);
        check_g(v, 1 + (int)(next_u64() % 9));
        check_fixed(v, (int)(next_u64() % 10));
    }
}

static void test_edge_values(void **state)
{
    (void)state;
    const double edge[] = {0.0, 5e-324, 2.2250738585072009e-308, DBL_MIN, 1e-300, 1e-290, 1.0000001e-290,
                           9.99999e-291, 1e-5, 1e-4, 0.0001, 0.00010000005, 0.5, 1.0, 1.5, 2.5, 0.125,
                           0.0009765625, 0x1p-20, 0x1p-30, 999999.5, 9999995.0, 9.9999995, 0.99999995,
                           999999.4999, 99999.95, 1e6, 1e9, 123456789.0, 1e15, 1e16, 1e300, DBL_MAX,
                           1.0 / 3.0, 2.0 / 3.0, 0.1, 0.2, 0.3, 0.036, 0.343, -0.037344, 0.520307374,
                           4.9999999999e-7, 5e-7, 5.0000001e-7, 0.0000005, 0.0000015, 1234.5675,
                           0.1234565, 0.01234565, 1e10, 9999999999.9, 99999.99999995};
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++)
        check_all(edge[i]);
    check_all(NAN);
    check_all(INFINITY);
    /* Every power of ten in range, with its neighbours. */
    for (int k = -320; k <= 308; k++) {
        char t[32];
        snprintf(t, sizeof t, "1e%d", k);
        double p = strtod(t, NULL);
        check_all(p);
        check_all(nextafter(p, 0.0));
        check_all(nextafter(p, INFINITY));
        check_all(p * 5.0); /* decimal ties at every digit count */
        check_all(p * 9.5);
        check_all(p * 9.9999995);
    }
    /* Binary fractions: exact decimal ties at many digit counts. */
    for (int k = 1; k <= 60; k++)
        for (int m = 1; m < 64; m += 2)
            check_all(ldexp((double)m, -k));
}

static void test_random_values(void **state)
{
    (void)state;
    for (int i = 0; i < 100000; i++) { /* float allele frequencies, as AF is printed */
        int an = 1 + (int)(next_u64() % 200000), ac = (int)(next_u64() % ((uint64_t)an + 1));
        check_g((double)((float)ac / (float)an), 6);
        check_g((double)ac / an, 9);
        check_fixed(1.0 - (double)ac / an, 6);
    }
    for (int i = 0; i < 100000; i++) /* log-uniform over the whole range */
        check_all(pow(10.0, -330.0 + 650.0 * next_unit()));
    for (int i = 0; i < 80000; i++) { /* decimal fractions on and next to ties */
        double d = (double)(next_u64() % 10000000000ULL) / pow(10.0, (double)(next_u64() % 16));
        check_all(d);
        check_all(nextafter(d, 0.0));
        check_all(nextafter(d, INFINITY));
    }
    for (int i = 0; i < 50000; i++) { /* raw bit patterns: every exponent, NaNs */
        uint64_t u = next_u64();
        double d;
        memcpy(&d, &u, sizeof d);
        check_all(d);
    }
    print_message("%ld values compared with snprintf\n", n_checked);
}

static void test_integers(void **state)
{
    (void)state;
    const int64_t edge[] = {0, 1, -1, 9, 10, -10, 99, 100, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN,
                            INT64_MAX - 1, INT64_MIN + 1, 1000000000000000000LL};
    char want[32], got[TSR_NUM_FORMAT_MAX];
    for (int i = 0; i < (int)(sizeof edge / sizeof *edge) + 1000000; i++) {
        int64_t v = i < (int)(sizeof edge / sizeof *edge) ? edge[i]
                                                           : (int64_t)(next_u64() >> (next_u64() % 64));
        if (i % 2 && v != INT64_MIN)
            v = -v;
        int wn = snprintf(want, sizeof want, "%" PRId64, v);
        int gn = tsr_num_format_int(got, v);
        assert_int_equal(gn, wn);
        assert_string_equal(got, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edge_values),
        cmocka_unit_test(test_random_values),
        cmocka_unit_test(test_integers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
