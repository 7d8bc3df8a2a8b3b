/*
 * lp_test_rng.h - the low-pass tests' reproducible random numbers: xorshift64 uniforms and Poisson read
 * counts (Knuth's product method; the means here are below 10). Each test seeds lp_rng itself.
 */
#ifndef TSR_LP_TEST_RNG_H
#define TSR_LP_TEST_RNG_H

#include <math.h>
#include <stdint.h>

static uint64_t lp_rng = 0x9E3779B97F4A7C15ULL;

static inline double urand(void)
{
    lp_rng ^= lp_rng << 13;
    lp_rng ^= lp_rng >> 7;
    lp_rng ^= lp_rng << 17;
    return (double)(lp_rng >> 11) / 9007199254740992.0;
}

static inline int poisson(double mean)
{
    double L = exp(-mean), p = 1;
    int k = 0;
    do {
        k++;
        p *= urand();
    } while (p > L);
    return k - 1;
}

#endif
