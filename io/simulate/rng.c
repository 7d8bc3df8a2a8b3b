/*
 * rng.c - the simulator's PRNG: xoshiro256** (Blackman & Vigna),
 * state filled by splitmix64 from (seed, stream), and the distributions the
 * simulator needs. Written from the published algorithm descriptions.
 */
#include "io/simulate/simulate_internal.h"

#include <math.h>

static uint64_t sim_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void tsr_sim_rng_seed(tsr_sim_rng_t *r, uint64_t seed, uint64_t stream)
{
    /* Mix the stream id through splitmix first so nearby streams are unrelated. */
    uint64_t x = stream * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL;
    uint64_t key = sim_splitmix64(&x) ^ seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = sim_splitmix64(&key);
}

static inline uint64_t sim_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t tsr_sim_rng_next(tsr_sim_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t out = sim_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = sim_rotl(s[3], 45);
    return out;
}

double tsr_sim_rng_unif(tsr_sim_rng_t *r) { return (double)(tsr_sim_rng_next(r) >> 11) * 0x1.0p-53; }

uint64_t tsr_sim_rng_below(tsr_sim_rng_t *r, uint64_t n)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = tsr_sim_rng_next(r);
    while (x >= lim);
    return x % n;
}

double tsr_sim_rng_normal(tsr_sim_rng_t *r)
{
    /* Box-Muller; one of the pair is discarded to keep the stream stateless. */
    double u1 = 1.0 - tsr_sim_rng_unif(r);
    double u2 = tsr_sim_rng_unif(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double tsr_sim_rng_gamma(tsr_sim_rng_t *r, double shape)
{
    /* Marsaglia & Tsang (2000); shape < 1 through the U^(1/a) boost. */
    if (shape < 1.0) {
        double g = tsr_sim_rng_gamma(r, shape + 1.0);
        double u = 1.0 - tsr_sim_rng_unif(r);
        return g * exp(log(u) / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = tsr_sim_rng_normal(r), v = 1.0 + c * x;
        if (v <= 0.0)
            continue;
        v = v * v * v;
        double u = 1.0 - tsr_sim_rng_unif(r);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
            return d * v;
    }
}

double tsr_sim_rng_beta(tsr_sim_rng_t *r, double a, double b)
{
    double x = tsr_sim_rng_gamma(r, a), y = tsr_sim_rng_gamma(r, b);
    if (!(x + y > 0.0) || !isfinite(x + y))
        return tsr_sim_rng_unif(r) < a / (a + b) ? 1.0 : 0.0;
    return x / (x + y);
}

int64_t tsr_sim_rng_geom(tsr_sim_rng_t *r, double q)
{
    if (q >= 1.0)
        return 1;
    double u = 1.0 - tsr_sim_rng_unif(r);
    return 1 + (int64_t)floor(log(u) / log1p(-q));
}
