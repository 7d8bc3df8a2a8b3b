/*
 * num_format.c - the numbers of stats.tsv as printf would write them, without
 * printf: "%" PRId64, "%.Pg" (P <= 9) and "%.Nf" (N <= 9).
 *
 * Design. glibc prints the exact binary value correctly rounded; formatting
 * was a sixth of `tessera stats`' CPU. Here the value is scaled by a power of
 * ten in long double (64-bit mantissa on x86-64: every 10^k with k <= 27 is
 * exact, and each further multiplication or division adds at most 2^-64
 * relative error, so for a scaled value below 10^10 the error stays below
 * 10^-8), rounded to an integer, and its digits laid out as %g / %f would.
 * Whenever the scaled value lies within 10^-7 of a rounding tie (a real tie
 * such as 2^-10 = 0.0009765625 at 6 digits, or one the error could flip),
 * and for NaN, infinities, denormals and values outside the ranges below, the
 * text comes from snprintf itself. So the output equals snprintf's for every
 * input; tests/stats/test_num_format.c checks that on millions of values.
 */
#include "kernels/stats/stats_internal.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Exact in a 64-bit mantissa: 10^27 = 2^27 * 5^27 and 5^27 < 2^64. */
static const long double pow10l_exact[28] = {
    1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,  1e10L, 1e11L, 1e12L, 1e13L,
    1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};

static const uint64_t pow10u[11] = {1,      10,      100,      1000,      10000,     100000,
                                    1000000, 10000000, 100000000, 1000000000, 10000000000};

/* The fast path needs a mantissa of at least 64 bits for the error bound above. */
#define TSR_NUM_FMT_FAST (LDBL_MANT_DIG >= 64)

/* a * 10^k, within (|k| / 27 + 1) roundings of 2^-64 each. */
static long double scale10(long double a, int k)
{
    if (k >= 0) {
        for (; k > 27; k -= 27)
            a *= 1e27L;
        return a * pow10l_exact[k];
    }
    for (k = -k; k > 27; k -= 27)
        a /= 1e27L;
    return a / pow10l_exact[k];
}

/* The nearest integer to x >= 0, or -1 when x is too close to a tie to be sure. */
static int64_t round_sure(long double x)
{
    long double fl = floorl(x), fr = x - fl;
    if (fabsl(fr - 0.5L) < 1e-7L)
        return -1;
    return (int64_t)fl + (fr > 0.5L);
}

/* Write u's `nd` digits (leading zeros included) at b. */
static void put_digits(char *b, uint64_t u, int nd)
{
    for (int i = nd - 1; i >= 0; i--) {
        b[i] = (char)('0' + u % 10);
        u /= 10;
    }
}

int tsr_num_format_int(char *b, int64_t v)
{
    char t[24];
    int n = 0, len = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        t[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        b[len++] = '-';
    while (n)
        b[len++] = t[--n];
    b[len] = '\0';
    return len;
}

static int fallback(char *b, const char *conv, int prec, double v)
{
    int n = snprintf(b, TSR_NUM_FORMAT_MAX, conv, prec, v);
    return n < TSR_NUM_FORMAT_MAX ? n : TSR_NUM_FORMAT_MAX - 1;
}

int tsr_num_format_g(char *b, double v, int prec)
{
    const int P = prec < 1 ? 1 : prec;
    const double a = fabs(v);
    if (!TSR_NUM_FMT_FAST || P > 9 || !(a >= 1e-290 && a < 1e15)) {
        if (a == 0.0 && !signbit(v)) {
            b[0] = '0';
            b[1] = '\0';
            return 1;
        }
        return fallback(b, "%.*g", prec, v);
    }
    /* Decimal exponent: from the binary one, at most one step below the truth. */
    int e2, e;
    frexp(a, &e2);
    e = (int)floor((e2 - 1) * 0.30102999566398);
    long double s = scale10(a, P - 1 - e);
    if (s >= (long double)pow10u[P]) {
        e++;
        s = scale10(a, P - 1 - e);
    } else if (s < (long double)pow10u[P - 1]) {
        e--;
        s = scale10(a, P - 1 - e);
    }
    int64_t r = round_sure(s);
    if (r < 0)
        return fallback(b, "%.*g", prec, v);
    if ((uint64_t)r >= pow10u[P]) { /* 9.99..95 rounded up to the next decade */
        r /= 10;
        e++;
    }
    char d[12];
    put_digits(d, (uint64_t)r, P);
    int nd = P;
    while (nd > 1 && d[nd - 1] == '0')
        nd--;
    int len = 0;
    if (signbit(v))
        b[len++] = '-';
    if (e < -4 || e >= P) { /* style e: d.ddde+XX */
        b[len++] = d[0];
        if (nd > 1) {
            b[len++] = '.';
            memcpy(b + len, d + 1, (size_t)nd - 1);
            len += nd - 1;
        }
        b[len++] = 'e';
        b[len++] = e < 0 ? '-' : '+';
        int x = e < 0 ? -e : e;
        if (x >= 100)
            b[len++] = (char)('0' + x / 100);
        b[len++] = (char)('0' + x / 10 % 10);
        b[len++] = (char)('0' + x % 10);
    } else if (e >= 0) { /* integer digits d[0..e], then the rest without trailing zeros */
        memcpy(b + len, d, (size_t)e + 1);
        len += e + 1;
        if (nd > e + 1) {
            b[len++] = '.';
            memcpy(b + len, d + e + 1, (size_t)(nd - e - 1));
            len += nd - e - 1;
        }
    } else { /* 0.000ddd */
        b[len++] = '0';
        b[len++] = '.';
        for (int z = 0; z < -e - 1; z++)
            b[len++] = '0';
        memcpy(b + len, d, (size_t)nd);
        len += nd;
    }
    b[len] = '\0';
    return len;
}

int tsr_num_format_fixed(char *b, double v, int prec)
{
    const double a = fabs(v);
    /* Scaled below 10^10: integer part below 10^(10 - prec). */
    if (!TSR_NUM_FMT_FAST || prec < 0 || prec > 9 || !(a < (double)pow10u[10 - prec]))
        return fallback(b, "%.*f", prec, v);
    int64_t r = round_sure(scale10(a, prec));
    if (r < 0)
        return fallback(b, "%.*f", prec, v);
    int len = 0;
    if (signbit(v))
        b[len++] = '-';
    uint64_t ip = (uint64_t)r / pow10u[prec], fp = (uint64_t)r % pow10u[prec];
    len += tsr_num_format_int(b + len, (int64_t)ip);
    if (prec > 0) {
        b[len++] = '.';
        put_digits(b + len, fp, prec);
        len += prec;
    }
    b[len] = '\0';
    return len;
}
