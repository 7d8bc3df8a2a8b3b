/*
 * genome.c - the simulated reference.
 *
 * Synthetic (--length): one contig `sim1` built in three layers, all from
 * the genome stream:
 *   1. background: segments of geometric length (mean 3 kb), each with its own
 *      GC fraction drawn uniformly in [0.30, 0.60], bases i.i.d. given it;
 *   2. interspersed repeats: four families (consensus 300, 600, 1000, 2000 bp)
 *      copied at random places and orientations until ~8% of the contig is
 *      covered; each copy is a random 3' piece of its family (5'-truncated like
 *      retrotransposon copies) with 2-6% substitution divergence;
 *   3. tandem repeats: one per ~1.5 kb, 30% homopolymers of 8-25 bp, the rest
 *      STRs of period 2-6 and 12-60 bp, with 1% copy errors.
 * From a FASTA (--ref [--region chr:beg-end]): the region is extracted
 * upper-cased (non-ACGT becomes N) as its own contig named `chr_beg_end`
 * (1-based inclusive numbers, as given); without --region the first contig
 * is used whole under its own name. Ns are kept; no variant is placed on them.
 */
#include "io/simulate/simulate_internal.h"

#include <htslib/faidx.h>

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char sim_acgt[4] = {'A', 'C', 'G', 'T'};

static char sim_base_gc(tsr_sim_rng_t *r, double gc)
{
    uint64_t x = tsr_sim_rng_next(r);
    double u = (double)(x >> 11) * 0x1.0p-53;
    int hi = (int)(x & 1); /* the low bit picks within the pair, the high bits decide GC */
    if (u < gc)
        return hi ? 'G' : 'C';
    return hi ? 'T' : 'A';
}

static char sim_mutate(tsr_sim_rng_t *r, char c)
{
    char b;
    do
        b = sim_acgt[tsr_sim_rng_below(r, 4)];
    while (b == c);
    return b;
}

static tsr_status_t sim_genome_synthetic(const tsr_sim_opts_t *o, tsr_sim_genome_t *g)
{
    tsr_sim_rng_t rng;
    tsr_sim_rng_seed(&rng, o->seed, TSR_SIM_STREAM_GENOME);
    int64_t L = o->length;
    g->name = strdup("sim1");
    g->seq = malloc((size_t)L + 1);
    if (!g->name || !g->seq)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory for a %lld bp reference", (long long)L);
    g->len = L;
    g->seq[L] = '\0';

    for (int64_t pos = 0; pos < L;) {
        int64_t seg = tsr_sim_rng_geom(&rng, 1.0 / 3000.0);
        double gc = 0.30 + 0.30 * tsr_sim_rng_unif(&rng);
        for (int64_t j = 0; j < seg && pos < L; j++, pos++)
            g->seq[pos] = sim_base_gc(&rng, gc);
    }

    enum { N_FAM = 4 };
    static const int fam_len[N_FAM] = {300, 600, 1000, 2000};
    char *fam[N_FAM] = {NULL};
    tsr_status_t s = TSR_OK;
    for (int f = 0; f < N_FAM; f++) {
        fam[f] = malloc((size_t)fam_len[f]);
        if (!fam[f]) {
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory for repeat families");
            goto out;
        }
        for (int j = 0; j < fam_len[f]; j++)
            fam[f][j] = sim_base_gc(&rng, 0.45);
    }
    for (int64_t covered = 0; covered < L * 8 / 100;) {
        int f = (int)tsr_sim_rng_below(&rng, N_FAM);
        int piece = 100 + (int)tsr_sim_rng_below(&rng, (uint64_t)fam_len[f] - 99);
        if (piece >= L)
            break;
        int64_t at = (int64_t)tsr_sim_rng_below(&rng, (uint64_t)(L - piece));
        int rev = tsr_sim_rng_unif(&rng) < 0.5;
        double div = 0.02 + 0.04 * tsr_sim_rng_unif(&rng);
        const char *src = fam[f] + fam_len[f] - piece;
        for (int j = 0; j < piece; j++) {
            char c = rev ? tsr_base_complement(src[piece - 1 - j]) : src[j];
            if (tsr_sim_rng_unif(&rng) < div)
                c = sim_mutate(&rng, c);
            g->seq[at + j] = c;
        }
        covered += piece;
    }

    int64_t n_tr = L / 1500;
    for (int64_t t = 0; t < n_tr; t++) {
        int period, total;
        if (tsr_sim_rng_unif(&rng) < 0.30) {
            period = 1;
            total = 8 + (int)tsr_sim_rng_below(&rng, 18);
        } else {
            period = 2 + (int)tsr_sim_rng_below(&rng, 5);
            total = 12 + (int)tsr_sim_rng_below(&rng, 49);
        }
        if (total >= L)
            continue;
        int64_t at = (int64_t)tsr_sim_rng_below(&rng, (uint64_t)(L - total));
        char unit[6];
        for (int j = 0; j < period; j++)
            unit[j] = sim_acgt[tsr_sim_rng_below(&rng, 4)];
        for (int j = 0; j < total; j++) {
            char c = unit[j % period];
            if (tsr_sim_rng_unif(&rng) < 0.01)
                c = sim_mutate(&rng, c);
            g->seq[at + j] = c;
        }
    }
out:
    for (int f = 0; f < N_FAM; f++)
        free(fam[f]);
    return s;
}

static tsr_status_t sim_genome_from_fasta(const tsr_sim_opts_t *o, tsr_sim_genome_t *g)
{
    faidx_t *fai = fai_load(o->ref);
    if (!fai)
        return tsr_error_set(TSR_ERR_IO, "cannot open reference '%s' (needs a readable FASTA with a .fai or a "
                             "writable directory to build one)", o->ref);
    tsr_status_t s = TSR_OK;
    char *contig = NULL;
    hts_pos_t beg = 0, end = -1; /* 0-based inclusive for faidx */
    char name[512];
    if (!o->region || !*o->region) {
        if (faidx_nseq(fai) < 1) {
            s = tsr_error_set(TSR_ERR_FORMAT, "reference '%s' has no sequences", o->ref);
            goto out;
        }
        contig = strdup(faidx_iseq(fai, 0));
        if (!contig) {
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
            goto out;
        }
        end = faidx_seq_len(fai, contig) - 1;
        snprintf(name, sizeof name, "%s", contig);
    } else if (faidx_has_seq(fai, o->region)) {
        contig = strdup(o->region);
        if (!contig) {
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
            goto out;
        }
        end = faidx_seq_len(fai, contig) - 1;
        snprintf(name, sizeof name, "%s", contig);
    } else {
        const char *colon = strrchr(o->region, ':');
        char *e1 = NULL, *e2 = NULL;
        long long b = 0, e = 0;
        if (colon) {
            errno = 0;
            b = strtoll(colon + 1, &e1, 10);
            if (e1 && *e1 == '-')
                e = strtoll(e1 + 1, &e2, 10);
        }
        if (!colon || !e1 || *e1 != '-' || !e2 || *e2 || errno || b < 1 || e < b) {
            s = tsr_error_set(TSR_ERR_USAGE, "--region '%s' is not CONTIG or CONTIG:BEG-END (1-based, BEG <= END)",
                              o->region);
            goto out;
        }
        contig = strndup(o->region, (size_t)(colon - o->region));
        if (!contig) {
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
            goto out;
        }
        if (!faidx_has_seq(fai, contig)) {
            s = tsr_error_set(TSR_ERR_USAGE, "--region '%s': contig '%s' is not in '%s'", o->region, contig, o->ref);
            goto out;
        }
        hts_pos_t clen = faidx_seq_len(fai, contig);
        if (b > clen) {
            s = tsr_error_set(TSR_ERR_USAGE, "--region '%s' starts beyond the end of %s (%lld bp)", o->region,
                              contig, (long long)clen);
            goto out;
        }
        if (e > clen)
            e = clen;
        beg = b - 1;
        end = e - 1;
        snprintf(name, sizeof name, "%s_%lld_%lld", contig, b, e);
    }
    hts_pos_t len = 0;
    g->seq = faidx_fetch_seq64(fai, contig, beg, end, &len);
    if (!g->seq || len <= 0) {
        s = tsr_error_set(TSR_ERR_IO, "cannot fetch %s:%lld-%lld from '%s'", contig, (long long)beg + 1,
                          (long long)end + 1, o->ref);
        goto out;
    }
    for (hts_pos_t i = 0; i < len; i++) {
        char c = (char)toupper((unsigned char)g->seq[i]);
        g->seq[i] = (c == 'A' || c == 'C' || c == 'G' || c == 'T') ? c : 'N';
    }
    g->len = len;
    g->name = strdup(name);
    if (!g->name)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
out:
    free(contig);
    fai_destroy(fai);
    return s;
}

tsr_status_t tsr_sim_genome_build(const tsr_sim_opts_t *o, tsr_sim_genome_t *g)
{
    memset(g, 0, sizeof *g);
    tsr_status_t s = (o->ref && *o->ref) ? sim_genome_from_fasta(o, g) : sim_genome_synthetic(o, g);
    if (s != TSR_OK)
        tsr_sim_genome_free(g);
    return s;
}

void tsr_sim_genome_free(tsr_sim_genome_t *g)
{
    if (!g)
        return;
    free(g->name);
    free(g->seq);
    memset(g, 0, sizeof *g);
}
